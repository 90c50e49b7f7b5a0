//! `preflight [--targets=…] [-dir=…]`: the runbook's requirements, each
//! with pass/fail and a fix.

use std::path::PathBuf;

use anyhow::Context;
use pgdump::{Mode, Targets};
use sgapi::preflight::{self as pf, Status};

use super::summary::ApiFlags;
use crate::render::Table;
use crate::{exit, Globals};

/// Flags of `preflight`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Checks: the token is a site admin's, Sourcegraph ≥ 3.20, no encryption keys (site config and encrypted rows), \
the notice is up, every database reachable on Postgres ≥ 11, pg_dump new enough for each server, free space in -dir for the \
databases. In docker/kubectl mode the databases are inside containers: their checks are skipped (pg_dump runs there and \
matches the server).\nExit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 preflight could not run."
)]
pub struct PreflightCmd {
    #[command(flatten)]
    pub api: ApiFlags,
    /// A preset (local, docker, k8s) or a targets YAML file.
    #[arg(long, default_value = "local")]
    pub targets: String,
    /// How the dumps will run: pg_dump, docker or kubectl. Default: from the preset (docker → docker, k8s → kubectl), else pg_dump.
    #[arg(long)]
    pub mode: Option<Mode>,
    /// The snapshot folder (for the free-space check).
    #[arg(long, default_value = "src-snapshot")]
    pub dir: PathBuf,
    /// The pg_dump program that will run (pg_dump mode).
    #[arg(long, default_value = "pg_dump")]
    pub pg_dump: String,
    /// The notice text to look for.
    #[arg(long, default_value = sgapi::DEFAULT_MESSAGE, hide_default_value = true)]
    pub message: String,
}

/// Runs `preflight`.
pub fn run(cmd: PreflightCmd, g: &Globals) -> anyhow::Result<u8> {
    let mut targets =
        Targets::resolve(&cmd.targets).with_context(|| format!("reading targets {:?}", cmd.targets))?;
    targets
        .apply_password_env()
        .context("reading database passwords from the environment")?;
    let mode = cmd.mode.unwrap_or(match cmd.targets.as_str() {
        "docker" => Mode::Docker,
        "k8s" => Mode::Kubectl,
        _ => Mode::PgDump,
    });
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut checks = match cmd.api.client() {
        Ok(client) => rt.block_on(pf::api_checks(&client, &cmd.message)),
        Err(e) => vec![pf::api_unavailable(&e)],
    };
    // The database side is shared with `migrate`'s preflight step.
    checks.extend(rt.block_on(migrate::database_checks(&targets, mode, &cmd.pg_dump, &cmd.dir)));
    let code = if pf::all_passed(&checks) {
        exit::OK
    } else {
        exit::FAILED
    };
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "passed": code == exit::OK, "checks": checks })
            )?
        );
        return Ok(code);
    }
    let mut t = Table::new(&["check", "result", "detail"]);
    for c in &checks {
        t.row(vec![
            c.name.clone(),
            c.status.as_str().to_string(),
            c.detail.clone(),
        ]);
    }
    print!("{}", t.render());
    for c in checks.iter().filter(|c| c.status != Status::Pass) {
        if let Some(fix) = &c.fix {
            println!("fix ({}): {fix}", c.name);
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed == 0 {
        println!("preflight passed");
    } else {
        println!("preflight failed: {failed} checks");
    }
    Ok(code)
}
