//! `compare (-bucket=…|-dir=…) --target-url=URL [--databases=…] [--jobs=N] [--json]`.

use anyhow::Context;
use snapshot::compare::compare;

use super::{SnapshotSourceFlags, TargetDbFlags};
use crate::render::Table;
use crate::{exit, Globals};

/// Flags of `compare`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Each table's row count and content hash are computed on the target with the manifest's \
definition; schema objects, sequence values and extensions are compared too.\nExit 1 on any difference."
)]
pub struct CompareCmd {
    #[command(flatten)]
    pub source: SnapshotSourceFlags,
    #[command(flatten)]
    pub target: TargetDbFlags,
    /// Connections reading tables at once (per database).
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

/// Runs `compare`.
pub fn run(cmd: CompareCmd, g: &Globals) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let target = cmd.target.conn()?;
    let roles = cmd.target.targets()?;
    let source = rt.block_on(cmd.source.open())?;
    let report = rt
        .block_on(compare(&source, &target, &roles, cmd.jobs))
        .with_context(|| format!("comparing {} with {}", target.describe("…"), source.describe()))?;
    let code = if report.equal { exit::OK } else { exit::FAILED };
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    let mut t = Table::new(&[
        "database",
        ">tables",
        ">equal",
        ">rows snapshot",
        ">rows target",
        "objects",
        "sequences",
        "verdict",
    ]);
    for d in &report.databases {
        let equal = d.tables.iter().filter(|t| t.equal).count();
        let objects = if d.objects.is_empty() {
            "not recorded".to_string()
        } else {
            format!(
                "{}/{} kinds equal",
                d.objects.iter().filter(|o| o.equal).count(),
                d.objects.len()
            )
        };
        t.row(vec![
            d.database.clone(),
            d.tables.len().to_string(),
            equal.to_string(),
            d.tables.iter().map(|t| t.expected_rows).sum::<u64>().to_string(),
            d.tables
                .iter()
                .map(|t| t.actual_rows.unwrap_or(0))
                .sum::<u64>()
                .to_string(),
            objects,
            format!(
                "{}/{}",
                d.sequences.iter().filter(|s| s.equal).count(),
                d.sequences.len()
            ),
            if d.is_equal() {
                "equal".into()
            } else {
                "DIFFERENT".into()
            },
        ]);
    }
    print!("{}", t.render());
    for d in &report.databases {
        for tc in d.tables.iter().filter(|t| !t.equal) {
            match tc.actual_rows {
                None => println!("{}: table {} is missing on the target", d.database, tc.table),
                Some(rows) => println!(
                    "{}: table {} differs: {} rows in the snapshot, {rows} on the target{}",
                    d.database,
                    tc.table,
                    tc.expected_rows,
                    if rows == tc.expected_rows {
                        " (same count, different content)"
                    } else {
                        ""
                    }
                ),
            }
            for r in &tc.only_in_snapshot {
                println!("    only in the snapshot: {}", r.replace('\t', " | "));
            }
            for r in &tc.only_on_target {
                println!("    only on the target:   {}", r.replace('\t', " | "));
            }
        }
        for v in d
            .objects
            .iter()
            .chain(&d.sequences)
            .chain(&d.extensions)
            .filter(|v| !v.equal)
        {
            match &v.note {
                Some(n) => println!(
                    "{}: {}: {} in the snapshot, {} on the target (not counted: {n})",
                    d.database, v.name, v.expected, v.actual
                ),
                None => println!(
                    "{}: {}: {} in the snapshot, {} on the target",
                    d.database, v.name, v.expected, v.actual
                ),
            }
        }
    }
    if report.equal {
        println!(
            "equal: the target holds exactly the snapshot ({:.1} s)",
            report.seconds
        );
    } else {
        println!("DIFFERENT: the target does not match the snapshot");
    }
    Ok(code)
}
