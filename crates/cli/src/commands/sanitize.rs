//! `sanitize [--profile=cloudsql|none] [--target-version=16] IN [OUT]`.

use std::path::PathBuf;

use dumpscript::ScanOptions;
use snapshot::{sanitize, Output};

use super::SanitizeFlags;
use crate::render::{Progress, Table};
use crate::{exit, Globals};

/// Flags of `sanitize`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "IN and OUT default to stdin and stdout ('-' also means them). OUT is written under a temporary name \
and renamed when complete; it may not be IN. The report of every change goes to stderr (with --json: JSON, to stdout when OUT is a file)."
)]
pub struct SanitizeCmd {
    /// The dump to read (default: stdin).
    pub input: Option<PathBuf>,
    /// The file to write (default: stdout).
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub flags: SanitizeFlags,
    /// Also fingerprint the tables and include them in the JSON report.
    #[arg(long)]
    pub fingerprint: bool,
}

/// Runs `sanitize`.
pub fn run(cmd: SanitizeCmd, g: &Globals) -> anyhow::Result<u8> {
    let input = cmd.input.filter(|p| p.as_os_str() != "-");
    let output = cmd.output.filter(|p| p.as_os_str() != "-");
    let opts = ScanOptions {
        sanitize: Some(cmd.flags.options()),
        fingerprint: cmd.fingerprint,
        lenient: false,
    };
    let total = input
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len());
    let progress = Progress::new(g.progress && output.is_some());
    let task = progress.task("sanitize", total);
    let mut stdout = std::io::stdout().lock();
    let out = match &output {
        Some(p) => Output::File(p),
        None => Output::Stream(&mut stdout),
    };
    let result = sanitize(input.as_deref(), out, &opts, &mut |n| task.set(n));
    task.finish();
    let report = result?;
    drop(stdout);
    if g.json {
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "step": "sanitize",
            "input": input,
            "output": output,
            "profile": cmd.flags.profile.name(),
            "target_major": cmd.flags.target_version,
            "bytes_in": report.bytes_in,
            "bytes_out": report.bytes_out,
            "lines": report.lines,
            "changes": report.changes,
            "tables": report.tables,
        }))?;
        if output.is_some() {
            println!("{json}");
        } else {
            eprintln!("{json}");
        }
        return Ok(exit::OK);
    }
    let mut t = Table::new(&[">line", "rule", "statement", "reason"]);
    for c in &report.changes {
        let stmt: String = if c.statement.chars().count() > 60 {
            c.statement.chars().take(59).chain(['…']).collect()
        } else {
            c.statement.clone()
        };
        t.row(vec![c.line.to_string(), c.rule.clone(), stmt, c.reason.clone()]);
    }
    let name = input
        .as_ref()
        .map_or("<stdin>".to_string(), |p| p.display().to_string());
    if report.changes.is_empty() {
        eprintln!(
            "{name}: nothing to change for profile {} (PostgreSQL {})",
            cmd.flags.profile.name(),
            cmd.flags.target_version
        );
    } else {
        eprint!("{}", t.render());
        eprintln!(
            "{name}: {} statement(s) commented out for profile {} (PostgreSQL {}); COPY data and function bodies untouched",
            report.changes.len(),
            cmd.flags.profile.name(),
            cmd.flags.target_version
        );
    }
    Ok(exit::OK)
}
