//! `reset --target-url=URL [--databases=…] --yes [--force]`: drop and recreate the target databases.

use anyhow::Context;
use snapshot::reset::{reset, ResetOptions};

use super::TargetDbFlags;
use crate::render::{bytes, Table};
use crate::{exit, Globals};

/// Flags of `reset`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Shows what each database holds first. Without --yes nothing is dropped. A database with other \
sessions, or one that is neither empty nor a Sourcegraph database, is refused unless --force (which also ends the \
sessions).\nExit 1 when refused."
)]
pub struct ResetCmd {
    #[command(flatten)]
    pub target: TargetDbFlags,
    /// Really drop and recreate.
    #[arg(long)]
    pub yes: bool,
    /// Also drop databases that do not look like Sourcegraph's, ending their sessions.
    #[arg(long)]
    pub force: bool,
}

/// Runs `reset`.
pub fn run(cmd: ResetCmd, g: &Globals) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let target = cmd.target.conn()?;
    let databases = cmd.target.targets()?.into_iter().map(|(_, name)| name).collect();
    let opts = ResetOptions {
        databases,
        yes: cmd.yes,
        force: cmd.force,
    };
    let report = rt
        .block_on(reset(&target, &opts))
        .with_context(|| format!("resetting databases on {}", target.describe("…")))?;
    let code = if report.refused.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    };
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    let mut t = Table::new(&[
        "database",
        "before",
        ">tables",
        ">rows (est.)",
        ">size",
        ">sessions",
        "now",
    ]);
    for d in &report.databases {
        let b = &d.before;
        t.row(vec![
            b.name.clone(),
            if !b.exists {
                "absent".into()
            } else if b.is_empty() {
                "empty".into()
            } else if b.looks_like_sourcegraph {
                "Sourcegraph".into()
            } else {
                "other data".into()
            },
            b.tables.to_string(),
            b.rows_estimate.to_string(),
            bytes(b.size_bytes),
            b.other_sessions.to_string(),
            if d.recreated {
                format!(
                    "recreated, empty{}",
                    if d.sessions_ended > 0 {
                        format!(" ({} sessions ended)", d.sessions_ended)
                    } else {
                        String::new()
                    }
                )
            } else {
                "unchanged".into()
            },
        ]);
    }
    print!("{}", t.render());
    for r in &report.refused {
        println!("refused: {}: {}", r.database, r.reason);
    }
    if report.refused.is_empty() {
        println!("reset: every database is empty and owned by {}", target.user());
    } else {
        println!("nothing was dropped");
    }
    Ok(code)
}
