//! `fingerprint FILE`: each table's rows and content hash.

use std::path::PathBuf;

use dumpscript::ScanOptions;
use snapshot::scan_file;

use crate::render::{bytes, Progress, Table};
use crate::{exit, Globals};

/// Flags of `fingerprint`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The hash is order-independent and the same for the same rows on any server version; \
see the fingerprint definition in docs/FINGERPRINT.md."
)]
pub struct FingerprintCmd {
    /// The dump file.
    pub file: PathBuf,
}

/// Runs `fingerprint`.
pub fn run(cmd: FingerprintCmd, g: &Globals) -> anyhow::Result<u8> {
    let opts = ScanOptions {
        fingerprint: true,
        ..ScanOptions::default()
    };
    let total = std::fs::metadata(&cmd.file).ok().map(|m| m.len());
    let progress = Progress::new(g.progress && !g.json);
    let task = progress.task("fingerprint", total);
    let result = scan_file(&cmd.file, &opts, &mut |n| task.set(n));
    task.finish();
    let report = result?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "step": "fingerprint",
                "file": cmd.file,
                "fingerprint_version": dumpscript::FINGERPRINT_VERSION,
                "dumped_from": report.dumped_from,
                "dumped_by": report.dumped_by,
                "sourcegraph": report.sourcegraph,
                "bytes": report.bytes_in,
                "tables": report.tables,
            }))?
        );
        return Ok(exit::OK);
    }
    let mut t = Table::new(&["table", ">rows", ">bytes", "hash"]);
    for tb in &report.tables {
        t.row(vec![
            tb.table.clone(),
            tb.rows.to_string(),
            bytes(tb.bytes),
            tb.hash.clone(),
        ]);
    }
    print!("{}", t.render());
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    println!(
        "{} tables, {rows} rows, {}",
        report.tables.len(),
        bytes(report.bytes_in)
    );
    Ok(exit::OK)
}
