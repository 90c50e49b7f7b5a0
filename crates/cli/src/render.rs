//! Rendering for people: tables, progress, errors with hints.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Prints an error chain and the hint that fits it.
pub fn error(e: &anyhow::Error) {
    let top = e.to_string();
    eprintln!("error: {top}");
    let mut shown = top;
    for cause in e.chain().skip(1) {
        // Messages that already quote their cause would repeat it.
        let text = cause.to_string();
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
            shown.push_str(&text);
        }
    }
    if let Some(h) = hint(e) {
        eprintln!("hint: {h}");
    }
}

/// A hint for errors whose fix is a flag or step the user controls.
fn hint(e: &anyhow::Error) -> Option<String> {
    for cause in e.chain() {
        if let Some(snapshot::SnapshotError::Scan { error, .. }) =
            cause.downcast_ref::<snapshot::SnapshotError>()
        {
            return scan_hint(error);
        }
        if let Some(s) = cause.downcast_ref::<dumpscript::ScanError>() {
            return scan_hint(s);
        }
        match cause.downcast_ref::<snapshot::SnapshotError>() {
            Some(snapshot::SnapshotError::Sql(_)) => {
                return Some(
                    "fix the cause on the target (or the dump), then run the same import again: it keeps what finished and continues"
                        .into(),
                )
            }
            Some(snapshot::SnapshotError::Mismatch { .. }) => {
                return Some(
                    "the snapshot was damaged or replaced after its manifest was written; upload it again (or take a new one) and verify it before importing"
                        .into(),
                )
            }
            _ => {}
        }
    }
    None
}

fn scan_hint(e: &dumpscript::ScanError) -> Option<String> {
    use dumpscript::ScanError as E;
    Some(match e {
        E::CustomFormat => "dump with pg_dump --format=plain (src-snapshot databases prints the right command)".into(),
        E::NotAPgDump { .. } => "pass a plain-format dump written by pg_dump (src-snapshot databases makes one)".into(),
        E::Lex(dumpscript::LexError::InvalidUtf8 { .. }) => {
            "dump with pg_dump --encoding=UTF8: the target databases are UTF-8".into()
        }
        E::Rejected { .. } => "this statement cannot be loaded safely; remove it from a copy of the dump or re-dump with pg_dump".into(),
        e if e.is_truncation() => {
            "the file is incomplete (pg_dump stopped, the disk filled or a copy was cut); dump again with src-snapshot databases --run".into()
        }
        _ => return None,
    })
}

/// Fixed-width table on stdout.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl Table {
    /// A table with these column headers; names starting with `>` are right-aligned.
    pub fn new(cols: &[&str]) -> Table {
        Table {
            header: cols
                .iter()
                .map(|c| c.trim_start_matches('>').to_string())
                .collect(),
            right: cols.iter().map(|c| c.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }
    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    /// The rendered table.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut w = vec![0; n];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |r: &Vec<String>, out: &mut String| {
            let cells: Vec<String> = (0..n)
                .map(|i| {
                    let c = r.get(i).map(String::as_str).unwrap_or("");
                    if self.right[i] {
                        format!("{c:>width$}", width = w[i])
                    } else {
                        format!("{c:<width$}", width = w[i])
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        };
        line(&self.header, &mut out);
        let sep: Vec<String> = w.iter().map(|x| "-".repeat(*x)).collect();
        out.push_str(&sep.join("  "));
        out.push('\n');
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }
}

/// Human-readable bytes.
pub use snapshot::human_bytes as bytes;

/// Progress on stderr: bars on a terminal, a log line every 10 s otherwise,
/// nothing when disabled.
pub struct Progress {
    multi: Option<MultiProgress>,
    enabled: bool,
}

/// One task's progress.
pub struct Task {
    bar: Option<ProgressBar>,
    name: String,
    last_log: std::sync::Mutex<Instant>,
    /// Phase and time of the last message logged without a terminal.
    last_message: std::sync::Mutex<(String, Instant)>,
    start: Instant,
    total: Option<u64>,
    enabled: bool,
}

impl Progress {
    /// A renderer; `enabled` false hides everything.
    pub fn new(enabled: bool) -> Progress {
        let tty = std::io::stderr().is_terminal();
        Progress {
            multi: (enabled && tty).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            enabled,
        }
    }

    /// A task counting bytes, with a known total when given.
    pub fn task(&self, name: &str, total: Option<u64>) -> Task {
        let bar = self.multi.as_ref().map(|m| {
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(
                    ProgressStyle::with_template(
                        "{prefix:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{prefix:>14} {spinner} {bytes} {bytes_per_sec} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            m.add(bar)
        });
        Task {
            bar,
            name: name.to_string(),
            last_log: std::sync::Mutex::new(Instant::now()),
            last_message: std::sync::Mutex::new((String::new(), Instant::now())),
            start: Instant::now(),
            total,
            enabled: self.enabled,
        }
    }
}

impl Task {
    /// Sets the position (bytes done).
    pub fn set(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            return;
        }
        if !self.enabled {
            return;
        }
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        if last.elapsed() >= Duration::from_secs(10) {
            *last = Instant::now();
            let secs = self.start.elapsed().as_secs_f64().max(0.001);
            let rate = done as f64 / secs;
            let total = self
                .total
                .map(|t| format!(" of {}", bytes(t)))
                .unwrap_or_default();
            eprintln!("{}: {}{total} ({}/s)", self.name, bytes(done), bytes(rate as u64));
        }
    }
    /// The total, if known.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Changes the total (a plan that grew).
    pub fn set_total(&mut self, total: Option<u64>) {
        if let (Some(b), Some(t)) = (&self.bar, total) {
            b.set_length(t);
        }
        self.total = total;
    }

    /// Adds to the position.
    pub fn add(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Says what the task does now (shown after the bar; logged without a terminal).
    /// Without a terminal a line is logged when the part before the first
    /// ` · ` (the phase) changes, or every 10 s, not on every change.
    pub fn message(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None if self.enabled => {
                let head = msg.split(" · ").next().unwrap_or(msg);
                let Ok(mut last) = self.last_message.lock() else {
                    return;
                };
                if last.0 != head || last.1.elapsed() >= Duration::from_secs(10) {
                    *last = (head.to_string(), Instant::now());
                    eprintln!("{}: {msg}", self.name);
                }
            }
            None => {}
        }
    }

    /// Finishes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
