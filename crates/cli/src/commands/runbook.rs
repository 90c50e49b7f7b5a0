//! `runbook [--config=…] [-dir=…|-bucket=…] [--markdown]`: this migration's
//! checklist — what is done, what is next, who runs it, the exact commands.

use std::path::PathBuf;

use anyhow::Context;
use migrate::Journal;

use crate::{exit, Globals};

/// Flags of `runbook`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Reads the journal that `migrate` keeps: with --config from its snapshot folder (merged with the \
bucket's copy), or from -dir, or from the bucket's migration-journal.json (the operator's view of the customer's steps). \
Without a journal, --config prints the whole runbook with nothing done."
)]
pub struct RunbookCmd {
    /// The migration's config file (default: ./migration.yaml when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A snapshot folder holding migration-journal.json.
    #[arg(long, conflicts_with = "bucket")]
    pub dir: Option<PathBuf>,
    /// A bucket holding migration-journal.json: NAME, gs://NAME[/PREFIX] or file:///PATH.
    #[arg(long)]
    pub bucket: Option<String>,
    /// A service-account key JSON file for -bucket.
    #[arg(long, requires = "bucket")]
    pub credentials: Option<PathBuf>,
    /// Markdown (a task list with code blocks) instead of text.
    #[arg(long)]
    pub markdown: bool,
}

/// Runs `runbook`.
pub fn run(cmd: RunbookCmd, g: &Globals) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (config_path, cfg) = match super::optional_migration_config(
        cmd.config.as_deref(),
        cmd.dir.is_some() || cmd.bucket.is_some(),
    ) {
        Ok(Some((p, c))) => (Some(p), Some(c)),
        Ok(None) => (None, None),
        Err(code) => return Ok(code),
    };
    let found: Option<(Journal, String)> = if let Some(d) = &cmd.dir {
        Journal::load(d)?.map(|j| (j, d.join(migrate::JOURNAL_FILE).display().to_string()))
    } else if let Some(b) = &cmd.bucket {
        rt.block_on(migrate::journal_from_bucket(b, cmd.credentials.as_deref()))?
    } else if let Some(c) = &cfg {
        rt.block_on(migrate::current_journal(c))?
    } else {
        let d = PathBuf::from("src-snapshot");
        Journal::load(&d)?.map(|j| (j, d.join(migrate::JOURNAL_FILE).display().to_string()))
    };
    rt.shutdown_background();
    if found.is_none() && cfg.is_none() {
        let where_ = match (&cmd.dir, &cmd.bucket) {
            (Some(d), _) => d.display().to_string(),
            (_, Some(b)) => b.clone(),
            _ => "src-snapshot/".into(),
        };
        anyhow::bail!(
            "no migration journal in {where_} and no config; pass --config=migration.yaml (or -dir / -bucket where `migrate` ran)"
        );
    }
    let (journal, location) = match found {
        Some((j, l)) => (Some(j), Some(l)),
        None => (None, None),
    };
    let abs = config_path
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or(p.clone()));
    let rb = migrate::runbook::runbook(journal.as_ref(), location, cfg.as_ref(), abs.as_deref());
    let text = if g.json {
        serde_json::to_string_pretty(&rb)? + "\n"
    } else if cmd.markdown {
        migrate::runbook::markdown(&rb)
    } else {
        migrate::runbook::text(&rb)
    };
    // A reader that stops early (`| head`) ends it quietly (main maps a broken pipe to 0).
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    Ok(exit::OK)
}
