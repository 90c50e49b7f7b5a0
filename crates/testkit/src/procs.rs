//! The machine's process list, for tests that look for secrets in argv.

/// Every process's command line (NUL separators as spaces), read from /proc.
pub fn process_cmdlines() -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            found.push((pid, String::from_utf8_lossy(&bytes).replace('\0', " ")));
        }
    }
    found
}

/// Processes whose command line contains `needle`.
pub fn processes_with_in_cmdline(needle: &str) -> Vec<(u32, String)> {
    process_cmdlines()
        .into_iter()
        .filter(|(_, c)| c.contains(needle))
        .collect()
}
