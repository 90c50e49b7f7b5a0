//! Shared integration-test harness: real PostgreSQL servers (run as a
//! non-root user), Cloud-SQL-like non-superuser databases, and `docker` /
//! `kubectl` command shims.
//!
//! Binaries come from the cache that `scripts/install-deps` fills; nothing is
//! skipped when they are missing, the harness panics with a hint instead.
//!
//! Environment: `SRC_SNAPSHOT_PG_ROOT` (binary cache, see [`cache_root`]),
//! `SRC_SNAPSHOT_PG_USER` (account that runs servers when the tests run as
//! root, default `srcsnap-pg`), `SRC_SNAPSHOT_TESTKIT_DIR` (where clusters
//! live, default `$TMPDIR/src-snapshot-testkit-<uid>`; initdb templates are
//! cached there per server version).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod fake_gcs_server;
pub mod fault_proxy;
pub mod gcs_fake;
mod procs;
mod server;
pub mod shims;

pub use procs::{process_cmdlines, processes_with_in_cmdline};
pub use server::{CloudSqlDb, PgServer};

/// A name unique within this test process: `<prefix>_<pid>_<counter>`.
pub fn unique_name(prefix: &str) -> String {
    server::unique_name(prefix)
}

/// Server majors that `scripts/install-deps` installs.
pub const SERVER_MAJORS: &[u32] = &[11, 12, 14, 16];
/// Client majors (pg_dump, psql, pg_restore) that `scripts/install-deps` installs.
pub const CLIENT_MAJORS: &[u32] = &[14, 15, 16, 17, 18];
/// Client major used for the harness's own psql calls.
pub const HARNESS_CLIENT_MAJOR: u32 = 16;

/// Root of installed PG binaries: `$SRC_SNAPSHOT_PG_ROOT`, else
/// `/var/cache/src-snapshot` as root, else `${XDG_CACHE_HOME:-$HOME/.cache}/src-snapshot`.
pub fn cache_root() -> PathBuf {
    if let Some(v) = non_empty_env("SRC_SNAPSHOT_PG_ROOT") {
        return PathBuf::from(v);
    }
    if is_root() {
        return PathBuf::from("/var/cache/src-snapshot");
    }
    let base = match non_empty_env("XDG_CACHE_HOME") {
        Some(x) => PathBuf::from(x),
        None => match non_empty_env("HOME") {
            Some(h) => PathBuf::from(h).join(".cache"),
            None => panic!("testkit: neither SRC_SNAPSHOT_PG_ROOT, XDG_CACHE_HOME nor HOME is set"),
        },
    };
    base.join("src-snapshot")
}

/// `bin` directory of the PostgreSQL `major` server (initdb, pg_ctl, postgres).
///
/// Panics with an install hint when the binaries are missing.
pub fn server_bin_dir(major: u32) -> PathBuf {
    let dir = cache_root().join("pg").join(major.to_string()).join("bin");
    for exe in ["initdb", "pg_ctl", "postgres"] {
        if !dir.join(exe).is_file() {
            panic!(
                "testkit: PostgreSQL {major} server binary {} is missing; run scripts/install-deps \
                 (cache root {}; set SRC_SNAPSHOT_PG_ROOT to use another one)",
                dir.join(exe).display(),
                cache_root().display()
            );
        }
    }
    dir
}

/// `bin` directory of the PostgreSQL `major` client tools (pg_dump, psql, pg_restore).
///
/// Panics with an install hint when the binaries are missing.
pub fn client_bin_dir(major: u32) -> PathBuf {
    let dir = cache_root().join("pgclient").join(major.to_string()).join("bin");
    for exe in ["pg_dump", "psql"] {
        if !dir.join(exe).is_file() {
            panic!(
                "testkit: PostgreSQL {major} client binary {} is missing; run scripts/install-deps \
                 (cache root {}; set SRC_SNAPSHOT_PG_ROOT to use another one)",
                dir.join(exe).display(),
                cache_root().display()
            );
        }
    }
    dir
}

/// Path of `pg_dump` from client `major`.
pub fn pg_dump_path(major: u32) -> PathBuf {
    client_bin_dir(major).join("pg_dump")
}

/// Path of `psql` from client `major`.
pub fn psql_path(major: u32) -> PathBuf {
    client_bin_dir(major).join("psql")
}

/// Path of `pg_restore` from client `major`.
pub fn pg_restore_path(major: u32) -> PathBuf {
    client_bin_dir(major).join("pg_restore")
}

/// Root of the Cargo workspace.
pub fn workspace_root() -> PathBuf {
    // crates/testkit -> workspace root
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("testkit: cannot find workspace root above CARGO_MANIFEST_DIR"))
}

/// `<workspace>/testdata`.
pub fn testdata_dir() -> PathBuf {
    workspace_root().join("testdata")
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    effective_uid() == 0
}

/// Effective uid of this process (from /proc, so no unsafe libc call is needed).
pub fn effective_uid() -> u32 {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            if let Some(rest) = line.strip_prefix("Uid:") {
                // Fields: real, effective, saved, filesystem.
                if let Some(euid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                    return euid;
                }
            }
        }
    }
    let out = Command::new("id")
        .arg("-u")
        .output()
        .unwrap_or_else(|e| panic!("testkit: cannot determine uid (no /proc, `id -u` failed: {e})"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("testkit: cannot parse `id -u` output"))
}

/// The account that runs PostgreSQL servers when the tests run as root
/// (`$SRC_SNAPSHOT_PG_USER`, default `srcsnap-pg`).
pub fn pg_user() -> String {
    non_empty_env("SRC_SNAPSHOT_PG_USER").unwrap_or_else(|| "srcsnap-pg".to_string())
}

/// Last `lines` lines of a text file (for panic messages); a note if unreadable.
pub fn file_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Render a finished process's status and output for a panic message.
pub fn describe_output(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

/// Double-quote an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Single-quote an SQL string literal (standard_conforming_strings on).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `n` random bytes as lowercase hex, from the kernel's CSPRNG.
pub fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .unwrap_or_else(|e| panic!("testkit: cannot read /dev/urandom: {e}"));
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether process `pid` exists and is not a zombie (PID 1 may never reap
/// detached postmasters, so `/proc/<pid>` alone is not enough).
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| !matches!(state, "Z" | "X" | "x")),
        Err(_) => false,
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Percent-encode a URL userinfo/path component (RFC 3986 unreserved kept).
fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Quote a string for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(url_component("a b@c"), "a%20b%40c");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn random_hex_is_random() {
        let a = random_hex(16);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex(16));
    }

    #[test]
    fn workspace_root_has_testdata() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(testdata_dir().is_dir());
    }
}
