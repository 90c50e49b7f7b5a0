//! `report [--config=…] [-dir=…] [--out=DIR]`: the migration report on
//! demand (report.html, report.md, report.json).

use std::path::PathBuf;

use anyhow::Context;
use migrate::Journal;

use crate::{exit, Globals};

/// Flags of `report`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Built from the journal, the manifest and the steps' records in the snapshot folder: timeline with \
durations, per database and per table rows and sizes (snapshot vs target) with the compare verdict, dump, upload and \
import throughput, what the sanitizer left out and why, the acceptance test. report.html is one self-contained page \
(no network). `migrate` writes the same report when it ends."
)]
pub struct ReportCmd {
    /// The migration's config file (default: ./migration.yaml when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The snapshot folder (default: the config's snapshot_dir, else src-snapshot).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where to write the report files (default: the snapshot folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `report`.
pub fn run(cmd: ReportCmd, g: &Globals) -> anyhow::Result<u8> {
    let (_, cfg) = match super::optional_migration_config(cmd.config.as_deref(), cmd.dir.is_some()) {
        Ok(Some((p, c))) => (Some(p), Some(c)),
        Ok(None) => (None, None),
        Err(code) => return Ok(code),
    };
    let dir = cmd
        .dir
        .clone()
        .or_else(|| cfg.as_ref().map(|c| c.snapshot_dir.clone()))
        .unwrap_or_else(|| PathBuf::from("src-snapshot"));
    let journal = match &cfg {
        Some(c) if cmd.dir.is_none() => {
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let j = rt.block_on(migrate::current_journal(c))?.map(|(j, _)| j);
            rt.shutdown_background();
            j
        }
        _ => Journal::load(&dir)?,
    };
    let journal = journal.with_context(|| {
        format!(
            "no migration journal in {}; run `src-snapshot migrate` first (or pass -dir where it ran)",
            dir.display()
        )
    })?;
    let out = cmd.out.clone().unwrap_or_else(|| dir.clone());
    let report = migrate::report::build(&journal, &dir);
    let files = migrate::report::save(&report, &out)?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(exit::OK);
    }
    println!("{}", report.summary);
    println!("report: {}", files.html.display());
    println!("        {}", files.markdown.display());
    println!("        {}", files.json.display());
    Ok(exit::OK)
}
