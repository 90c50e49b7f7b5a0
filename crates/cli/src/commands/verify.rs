//! `verify -bucket=… [-credentials=FILE] [-dir=…]`: the bucket against the manifest.

use std::path::PathBuf;

use anyhow::Context;
use snapshot::verify::{verify, VerifyMode};

use super::BucketFlags;
use crate::render::{bytes, Table};
use crate::{exit, Globals};

/// Flags of `verify`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "With read access every object is read back and checked (size, CRC32C, MD5, SHA-256, every table's \
fingerprint). With write-only credentials the check uses what the server answered at upload (the local manifest in -dir).\n\
Exit 1 when anything differs."
)]
pub struct VerifyCmd {
    #[command(flatten)]
    pub bucket: BucketFlags,
    /// The local snapshot folder (for write-only credentials, or a bucket without its manifest).
    #[arg(long, default_value = "src-snapshot")]
    pub dir: PathBuf,
}

/// Runs `verify`.
pub fn run(cmd: VerifyCmd, g: &Globals) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let store = rt.block_on(cmd.bucket.open())?;
    let dir = cmd.dir.exists().then_some(cmd.dir.as_path());
    let report = rt
        .block_on(verify(&store, dir))
        .with_context(|| format!("verifying {}", store.describe()))?;
    let code = if report.is_ok() { exit::OK } else { exit::FAILED };
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    let mut t = Table::new(&["object", ">size", "crc32c", ">tables", "verdict"]);
    for o in &report.objects {
        t.row(vec![
            o.object.clone(),
            o.size.map(bytes).unwrap_or_default(),
            o.crc32c.clone().unwrap_or_default(),
            o.tables_ok
                .map(|(ok, all)| format!("{ok}/{all}"))
                .unwrap_or_default(),
            if o.problems.is_empty() {
                match report.mode {
                    VerifyMode::ReadBack => "ok".into(),
                    VerifyMode::Recorded => "ok (as recorded at upload)".into(),
                }
            } else {
                o.problems.join("; ")
            },
        ]);
    }
    print!("{}", t.render());
    for p in &report.problems {
        println!("problem: {p}");
    }
    match (report.is_ok(), report.mode) {
        (true, VerifyMode::ReadBack) => println!("verified: {} holds the complete snapshot, read back byte for byte", report.location),
        (true, VerifyMode::Recorded) => println!(
            "verified from the upload records: these credentials cannot read {}; the operator should run verify with read access",
            report.location
        ),
        (false, _) => println!("NOT verified: {} differs from the manifest", report.location),
    }
    Ok(code)
}
