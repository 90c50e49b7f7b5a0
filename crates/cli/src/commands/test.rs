//! `test -snapshot-summary=FILE [-since=1h] [--json]`: the acceptance test.

use std::path::PathBuf;

use anyhow::Context;
use sgapi::{Severity, Summary, TestOptions};

use super::summary::{report, ApiFlags};
use crate::render::Table;
use crate::{exit, Globals};

/// Flags of `test`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Compares the instance with the summary: external services and auth providers must be equal (order and IDs, \
as src-cli requires), counts are shown with deltas. Then health checks: site alerts, site-config validation, external \
service sync errors, permission sync jobs ERRORED or FAILED within -since, out-of-band migration errors, the version.\n\
Exit codes: 0 pass, 1 a critical finding, 2 the test could not run."
)]
pub struct TestCmd {
    #[command(flatten)]
    pub api: ApiFlags,
    /// The summary.json taken before the migration (by src-snapshot or src-cli).
    #[arg(long)]
    pub snapshot_summary: PathBuf,
    /// Health-check window, as a Go duration (1h, 30m, 1h30m).
    #[arg(long, default_value = "1h", value_parser = parse_since)]
    pub since: std::time::Duration,
    /// The version the instance must run now (major.minor, e.g. 5.3).
    #[arg(long)]
    pub expected_version: Option<String>,
}

fn parse_since(s: &str) -> Result<std::time::Duration, String> {
    sgapi::time::parse_go_duration(s).map_err(|e| e.to_string())
}

/// Runs `test`.
pub fn run(cmd: TestCmd, g: &Globals) -> anyhow::Result<u8> {
    let before = match Summary::read(&cmd.snapshot_summary) {
        Ok(s) => s,
        Err(e) => return Ok(report(e, "reading the summary")),
    };
    let client = match cmd.api.client() {
        Ok(c) => c,
        Err(e) => return Ok(report(e, "connecting to Sourcegraph")),
    };
    let opts = TestOptions {
        since: cmd.since,
        expected_version: cmd.expected_version.clone(),
        ..TestOptions::default()
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let rep = match rt.block_on(sgapi::run_test(&client, &before, &opts)) {
        Ok(r) => r,
        Err(e) => return Ok(report(e, &format!("testing {}", client.endpoint()))),
    };
    let code = if rep.passed() { exit::OK } else { exit::FAILED };
    if g.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(code);
    }
    if !before.has_extras() {
        println!(
            "{} is in src-cli's format: external services and auth providers are compared, counts are not",
            cmd.snapshot_summary.display()
        );
    }
    if !rep.counts.is_empty() {
        let mut t = Table::new(&["count", ">summary", ">now", ">delta"]);
        let n = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
        for c in &rep.counts {
            t.row(vec![
                c.name.clone(),
                n(c.expected),
                n(c.actual),
                c.delta.map_or_else(
                    String::new,
                    |d| if d > 0 { format!("+{d}") } else { d.to_string() },
                ),
            ]);
        }
        print!("{}", t.render());
        println!();
    }
    let mut t = Table::new(&["severity", "check", "finding"]);
    for f in &rep.findings {
        t.row(vec![
            f.severity.as_str().to_string(),
            f.check.clone(),
            f.message.clone(),
        ]);
    }
    if !rep.findings.is_empty() {
        print!("{}", t.render());
    }
    let crit = rep
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .count();
    let warn = rep
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let es = rep.current.external_services.total_count;
    let ap = rep.current.site.auth_providers.total_count;
    if rep.passed() {
        println!(
            "PASS: {} matches the summary ({es} external services, {ap} auth providers); {warn} warnings",
            rep.endpoint
        );
    } else {
        println!("FAIL: {crit} critical, {warn} warnings on {}", rep.endpoint);
    }
    Ok(code)
}
