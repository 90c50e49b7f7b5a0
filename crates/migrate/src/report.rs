//! The migration report: a model built from the journal, the manifest and
//! the steps' records, and three renderings of it — `report.json` for
//! machines, `report.md` and a self-contained `report.html` (inline CSS, no
//! script, no network) for people.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::MigrationConfig;
use crate::error::MigrateError;
use crate::journal::{Journal, Status};
use crate::records::{self, *};
use crate::step::StepId;
use crate::steps::bytes as human;

/// Current schema version of `report.json`.
pub const REPORT_VERSION: u32 = 1;

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Schema version ([`REPORT_VERSION`]).
    pub report_version: u32,
    /// The migration's name.
    pub name: String,
    /// When the report was made.
    pub generated_at: String,
    /// The tool that made it.
    pub tool: String,
    /// `complete`, `in progress` or `failed`.
    pub status: String,
    /// One sentence on where the migration stands.
    pub summary: String,
    /// The step that failed last, if the migration stopped on one.
    pub failed_step: Option<String>,
    /// The first step left to do.
    pub next_step: Option<String>,
    /// `equal`, `different`, or None before `compare` ran.
    pub compare_verdict: Option<String>,
    /// The Sourcegraph version and the upgrade plan.
    pub sourcegraph: Option<SourcegraphInfo>,
    /// Every step in order.
    pub timeline: Vec<TimelineRow>,
    /// Attempts that failed or were cut short before the last one.
    pub interruptions: Vec<Interruption>,
    /// Per database, with per-table rows.
    pub databases: Vec<DatabaseRow>,
    /// Dump, upload and import throughput.
    pub transfer: Transfer,
    /// Statements left out for the target, with the reason.
    pub sanitizer: Vec<SanitizerRow>,
    /// The acceptance test.
    pub acceptance: Option<Acceptance>,
    /// The preflight checks.
    pub preflight: Vec<CheckRecord>,
}

/// The Sourcegraph version the snapshot holds, and the plan to the managed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcegraphInfo {
    /// The snapshot's version.
    pub version: String,
    /// The version first installed.
    pub first_version: Option<String>,
    /// The managed instance's version, when planned.
    pub upgrade_to: Option<String>,
    /// The migrator command, when planned.
    pub migrator_command: Option<String>,
    /// The migrator image.
    pub migrator_image: Option<String>,
}

/// One step in the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRow {
    /// The step.
    pub step: String,
    /// customer or operator.
    pub party: String,
    /// What it does.
    pub title: String,
    /// pending, running, succeeded, failed, skipped.
    pub status: String,
    /// Start of the last attempt.
    pub started_at: Option<String>,
    /// End of the last attempt.
    pub finished_at: Option<String>,
    /// Duration of the last attempt.
    pub seconds: Option<f64>,
    /// Attempts.
    pub attempts: u32,
    /// The outcome line or the error.
    pub message: Option<String>,
}

/// An attempt before the last one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    /// The step.
    pub step: String,
    /// When it started.
    pub started_at: String,
    /// How it ended.
    pub outcome: String,
    /// Why.
    pub message: Option<String>,
}

/// One database, source vs target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRow {
    /// pgsql, codeintel or codeinsights.
    pub role: String,
    /// The target database.
    pub database: String,
    /// The dump file.
    pub dump_file: String,
    /// Its size.
    pub dump_bytes: u64,
    /// The object in the bucket.
    pub object: Option<String>,
    /// Its size.
    pub object_bytes: Option<u64>,
    /// The source server's version.
    pub server_version: Option<String>,
    /// The pg_dump that dumped it.
    pub pg_dump_version: Option<String>,
    /// Tables in the snapshot.
    pub tables: usize,
    /// Rows in the snapshot.
    pub source_rows: u64,
    /// Rows on the target (after compare).
    pub target_rows: Option<u64>,
    /// COPY bytes in the snapshot.
    pub source_bytes: u64,
    /// Table sizes on the target (heap and TOAST).
    pub target_bytes: Option<u64>,
    /// `equal`, `DIFFERENT` or `not compared`.
    pub verdict: String,
    /// Schema objects by kind.
    pub objects: Vec<KindRow>,
    /// Sequences equal / sequences.
    pub sequences: Option<(usize, usize)>,
    /// Every table.
    pub table_rows: Vec<TableRow>,
}

/// A schema-object kind, source vs target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindRow {
    /// TABLE, INDEX, …
    pub kind: String,
    /// In the snapshot.
    pub source: String,
    /// On the target.
    pub target: String,
    /// `equal`, `DIFFERENT`, or `not counted: …`.
    pub verdict: String,
}

/// One table, source vs target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRow {
    /// Schema-qualified name.
    pub table: String,
    /// Rows in the snapshot.
    pub source_rows: u64,
    /// COPY bytes in the snapshot.
    pub source_bytes: u64,
    /// Rows on the target.
    pub target_rows: Option<u64>,
    /// Size on the target.
    pub target_bytes: Option<u64>,
    /// `equal`, `DIFFERENT`, `missing` or `not compared`.
    pub verdict: String,
}

/// A transfer's volume and speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Bytes moved.
    pub bytes: u64,
    /// Seconds it took.
    pub seconds: f64,
    /// Bytes per second.
    pub bytes_per_second: u64,
    /// Bytes an earlier, interrupted attempt moved (not in `bytes` or the speed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub earlier_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Throughput of the data-moving steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Transfer {
    /// pg_dump into the snapshot folder.
    pub dump: Option<Rate>,
    /// The snapshot into the bucket (bytes sent by the last attempt).
    pub upload: Option<Rate>,
    /// Table data into the target (the data phase).
    pub import: Option<Rate>,
}

/// A statement the sanitizer left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanitizerRow {
    /// The database.
    pub database: String,
    /// `upload` (commented out in the uploaded object), `import` (left out on
    /// the target) or `preview` (what upload would comment out).
    pub stage: String,
    /// Line in the dump.
    pub line: u64,
    /// The rule.
    pub rule: String,
    /// The statement's beginning.
    pub statement: String,
    /// Why.
    pub reason: String,
}

/// The acceptance test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    /// `pass` or `fail`.
    pub verdict: String,
    /// The instance tested.
    pub endpoint: String,
    /// Counts before and after.
    pub counts: Vec<sgapi::CountDelta>,
    /// Findings, most severe first.
    pub findings: Vec<sgapi::Finding>,
}

/// Where the report files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.json`.
    pub json: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
}

fn manifest(dir: &Path) -> Option<snapshot::Manifest> {
    snapshot::Manifest::load(dir)
        .ok()
        .or_else(|| records::load_from(&dir.join(RECORDS_DIR).join(BUCKET_MANIFEST)))
}

fn rate(bytes: u64, seconds: f64) -> Rate {
    Rate {
        bytes,
        seconds,
        bytes_per_second: (bytes as f64 / seconds.max(0.001)) as u64,
        earlier_bytes: 0,
    }
}

/// What an earlier attempt moved, in words ("" when nothing).
fn earlier_text(r: &Rate) -> String {
    if r.earlier_bytes == 0 {
        String::new()
    } else {
        format!(
            "; plus {} by an earlier, interrupted attempt",
            human(r.earlier_bytes)
        )
    }
}

/// Builds the report of the migration whose snapshot folder is `dir`.
pub fn build(journal: &Journal, dir: &Path) -> Report {
    let order: Vec<StepId> = {
        let side = crate::run::side_of(journal);
        StepId::for_side(side)
    };
    let timeline: Vec<TimelineRow> = order
        .iter()
        .map(|s| {
            let r = journal.get(*s);
            TimelineRow {
                step: s.name().into(),
                party: s.party().as_str().into(),
                title: s.title().into(),
                status: r.status.as_str().into(),
                started_at: r.started_at.clone(),
                finished_at: r.finished_at.clone(),
                seconds: r.seconds,
                attempts: r.attempts,
                message: r.error.clone().or_else(|| r.message.clone()),
            }
        })
        .collect();
    let interruptions = order
        .iter()
        .flat_map(|s| {
            journal
                .get(*s)
                .history
                .iter()
                .filter(|a| a.outcome == Status::Failed)
                .map(|a| Interruption {
                    step: s.name().into(),
                    started_at: a.started_at.clone(),
                    outcome: a.outcome.as_str().into(),
                    message: a.message.clone(),
                })
        })
        .collect();
    let failed_step = order
        .iter()
        .find(|s| journal.get(**s).status == Status::Failed)
        .map(|s| s.name().to_string());
    let next = order.iter().find(|s| !journal.get(**s).status.is_done());
    let status = match (&failed_step, next) {
        (Some(_), _) => "failed",
        (None, Some(_)) => "in progress",
        (None, None) => "complete",
    };

    let m = manifest(dir);
    let compare: Option<CompareRecord> = records::load(dir, StepId::Compare);
    let import: Option<ImportRecord> = records::load(dir, StepId::Import);
    let test: Option<sgapi::TestReport> = records::load(dir, StepId::Test);
    let plan: Option<UpgradeRecord> = records::load(dir, StepId::UpgradePlan);
    let preflight: Option<PreflightRecord> = records::load(dir, StepId::Preflight);
    let names: BTreeMap<String, String> = journal
        .configs
        .values()
        .next()
        .map(|c| {
            c.target
                .databases
                .roles()
                .into_iter()
                .map(|(r, n)| (r.yaml_key().to_string(), n))
                .collect()
        })
        .unwrap_or_default();

    let mut databases = Vec::new();
    if let Some(m) = &m {
        for f in &m.files {
            let cmp = compare
                .as_ref()
                .and_then(|c| c.databases.iter().find(|d| d.role == f.role));
            let table_rows: Vec<TableRow> = f
                .tables
                .iter()
                .map(|t| {
                    let c = cmp.and_then(|d| d.tables.iter().find(|x| x.table == t.table));
                    TableRow {
                        table: t.table.clone(),
                        source_rows: t.rows,
                        source_bytes: t.bytes,
                        target_rows: c.and_then(|c| c.actual_rows),
                        target_bytes: c.and_then(|c| c.target_bytes),
                        verdict: match c {
                            None => "not compared".into(),
                            Some(c) if c.equal => "equal".into(),
                            Some(c) if c.actual_rows.is_none() => "missing".into(),
                            Some(_) => "DIFFERENT".into(),
                        },
                    }
                })
                .collect();
            let target_rows = cmp.map(|d| d.tables.iter().map(|t| t.actual_rows.unwrap_or(0)).sum());
            let target_bytes = cmp.map(|d| d.tables.iter().map(|t| t.target_bytes.unwrap_or(0)).sum());
            databases.push(DatabaseRow {
                role: f.role.clone(),
                database: cmp
                    .map(|d| d.database.clone())
                    .or_else(|| names.get(&f.role).cloned())
                    .unwrap_or_default(),
                dump_file: f.name.clone(),
                dump_bytes: f.size,
                object: f.upload.as_ref().map(|u| u.object.clone()),
                object_bytes: f.upload.as_ref().map(|u| u.size),
                server_version: f.source.server_version.clone(),
                pg_dump_version: f.source.pg_dump_version.clone(),
                tables: f.tables.len(),
                source_rows: f.tables.iter().map(|t| t.rows).sum(),
                target_rows,
                source_bytes: f.tables.iter().map(|t| t.bytes).sum(),
                target_bytes,
                verdict: match cmp {
                    None => "not compared".into(),
                    Some(d) if d.equal => "equal".into(),
                    Some(_) => "DIFFERENT".into(),
                },
                objects: cmp
                    .map(|d| {
                        d.objects
                            .iter()
                            .chain(&d.extensions)
                            .map(|v| KindRow {
                                kind: v.name.clone(),
                                source: v.expected.clone(),
                                target: v.actual.clone(),
                                verdict: match (&v.note, v.equal) {
                                    (_, true) => "equal".into(),
                                    (Some(n), false) => format!("not counted: {n}"),
                                    (None, false) => "DIFFERENT".into(),
                                },
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                sequences: cmp.map(|d| d.sequences),
                table_rows,
            });
        }
    }

    // What the upload's sanitizer commented out (the manifest lists it, made
    // with the same options), then what the import left out for this target.
    let mut sanitizer = Vec::new();
    if let Some(m) = &m {
        for f in &m.files {
            let uploaded = f.upload.as_ref().filter(|u| u.sanitizer.is_some());
            let stage = match (uploaded, &f.sanitizer) {
                (Some(u), Some(s)) if u.target_major == Some(s.target_major) => "upload",
                (Some(_), _) => continue,
                (None, _) if import.is_some() => continue,
                (None, _) => "preview",
            };
            for c in f.sanitizer.iter().flat_map(|s| &s.changes) {
                sanitizer.push(SanitizerRow {
                    database: names.get(&f.role).cloned().unwrap_or_else(|| f.role.clone()),
                    stage: stage.into(),
                    line: c.line,
                    rule: c.rule.clone(),
                    statement: c.statement.clone(),
                    reason: c.reason.clone(),
                });
            }
        }
    }
    if let Some(i) = &import {
        for d in &i.databases {
            for c in &d.removed {
                sanitizer.push(SanitizerRow {
                    database: d.database.clone(),
                    stage: "import".into(),
                    line: c.line,
                    rule: c.rule.clone(),
                    statement: c.statement.clone(),
                    reason: c.reason.clone(),
                });
            }
        }
    }

    let fnum = |s: StepId, k: &str| journal.get(s).figures.get(k).and_then(|v| v.as_f64());
    let transfer = Transfer {
        dump: (journal.get(StepId::Databases).status == Status::Succeeded)
            .then(|| {
                let b = fnum(StepId::Databases, "bytes")? as u64;
                Some(rate(b, journal.get(StepId::Databases).seconds.unwrap_or(0.0)))
            })
            .flatten(),
        upload: (journal.get(StepId::Upload).status == Status::Succeeded)
            .then(|| {
                let b = fnum(StepId::Upload, "bytes_sent")? as u64;
                Some(rate(b, fnum(StepId::Upload, "seconds")?))
            })
            .flatten(),
        // A resumed import loads only what an interrupted one left.
        import: import.as_ref().map(|i| Rate {
            earlier_bytes: i
                .databases
                .iter()
                .map(|d| d.bytes)
                .sum::<u64>()
                .saturating_sub(i.data_bytes),
            ..rate(i.data_bytes, i.data_seconds)
        }),
    };

    let sourcegraph = m
        .as_ref()
        .and_then(|m| m.sourcegraph.as_ref())
        .map(|v| SourcegraphInfo {
            version: v.version.clone(),
            first_version: v.first_version.clone(),
            upgrade_to: plan.as_ref().map(|p| p.to.clone()),
            migrator_command: plan.as_ref().and_then(|p| p.command.clone()),
            migrator_image: plan.as_ref().and_then(|p| p.image.clone()),
        });
    let compare_verdict = compare
        .as_ref()
        .map(|c| if c.equal { "equal" } else { "different" }.to_string());
    let acceptance = test.map(|t| Acceptance {
        verdict: if t.passed() { "pass" } else { "fail" }.into(),
        endpoint: t.endpoint.clone(),
        counts: t.counts.clone(),
        findings: t.findings.clone(),
    });
    let (done, total) = (
        order.iter().filter(|s| journal.get(**s).status.is_done()).count(),
        order.len(),
    );
    let summary = match status {
        "complete" => format!(
            "Complete: {done} of {total} steps done{}{}.",
            match compare_verdict.as_deref() {
                Some("equal") => "; the target equals the snapshot, table by table",
                Some(_) => "; the target DIFFERS from the snapshot",
                None => "",
            },
            match acceptance.as_ref().map(|a| a.verdict.as_str()) {
                Some("pass") => "; the acceptance test passed",
                Some(_) => "; the acceptance test FAILED",
                None => "",
            }
        ),
        "failed" => format!(
            "Stopped: {} failed ({done} of {total} steps done); fix the cause and resume.",
            failed_step.as_deref().unwrap_or("a step")
        ),
        _ => format!(
            "In progress: {done} of {total} steps done; next: {}.",
            next.map(|s| s.name()).unwrap_or("nothing")
        ),
    };
    Report {
        report_version: REPORT_VERSION,
        name: journal.name.clone(),
        generated_at: crate::journal::now(),
        tool: format!("src-snapshot {}", env!("CARGO_PKG_VERSION")),
        status: status.into(),
        summary,
        failed_step,
        next_step: next.map(|s| s.name().to_string()),
        compare_verdict,
        sourcegraph,
        timeline,
        interruptions,
        databases,
        transfer,
        sanitizer,
        acceptance,
        preflight: preflight.map(|p| p.checks).unwrap_or_else(|| {
            // The operator has no customer folder: the journal carries the checks.
            journal
                .get(StepId::Preflight)
                .figures
                .get("results")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default()
        }),
    }
}

/// Writes `report.md`, `report.json` and `report.html` into `out` (default:
/// the snapshot folder).
///
/// # Errors
/// A file cannot be written.
pub fn write(
    cfg: &MigrationConfig,
    journal: &Journal,
    out: Option<&Path>,
) -> Result<ReportFiles, MigrateError> {
    write_from(journal, &cfg.snapshot_dir, out.unwrap_or(&cfg.snapshot_dir))
}

/// [`write`] for a snapshot folder `dir` without a config.
///
/// # Errors
/// A file cannot be written.
pub fn write_from(journal: &Journal, dir: &Path, out: &Path) -> Result<ReportFiles, MigrateError> {
    save(&build(journal, dir), out)
}

/// Writes a built report's three files into `out`.
///
/// # Errors
/// A file cannot be written.
pub fn save(report: &Report, out: &Path) -> Result<ReportFiles, MigrateError> {
    std::fs::create_dir_all(out).map_err(|source| MigrateError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let files = ReportFiles {
        markdown: out.join("report.md"),
        json: out.join("report.json"),
        html: out.join("report.html"),
    };
    let put = |p: &Path, text: String| {
        snapshot::fsutil::write_atomic(p, text.as_bytes()).map_err(|e| match e {
            snapshot::SnapshotError::Io { path, source } => MigrateError::Io { path, source },
            other => MigrateError::Internal(other.to_string()),
        })
    };
    let mut json = serde_json::to_string_pretty(report).map_err(|e| MigrateError::Internal(e.to_string()))?;
    json.push('\n');
    put(&files.json, json)?;
    put(&files.markdown, markdown(report))?;
    put(&files.html, html(report))?;
    Ok(files)
}

fn secs(s: Option<f64>) -> String {
    match s {
        None => String::new(),
        Some(s) if s < 60.0 => format!("{s:.1} s"),
        Some(s) => format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64),
    }
}

fn opt_num(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn opt_bytes(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), human)
}

fn rate_text(r: &Option<Rate>) -> String {
    match r {
        None => "-".into(),
        Some(r) => format!(
            "{} in {} ({}/s){}",
            human(r.bytes),
            secs(Some(r.seconds)),
            human(r.bytes_per_second),
            earlier_text(r)
        ),
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    o.push_str(&format!("# Migration report: {}\n\n", r.name));
    o.push_str(&format!("**{}** — {}\n\n", r.status.to_uppercase(), r.summary));
    o.push_str(&format!("Generated {} by {}.\n\n", r.generated_at, r.tool));
    if let Some(sg) = &r.sourcegraph {
        o.push_str(&format!("Sourcegraph {}", sg.version));
        if let Some(f) = &sg.first_version {
            o.push_str(&format!(" (first installed {f})"));
        }
        if let (Some(to), Some(cmd)) = (&sg.upgrade_to, &sg.migrator_command) {
            o.push_str(&format!(" → {to}: `{cmd}`"));
        }
        o.push_str("\n\n");
    }
    o.push_str("## Timeline\n\n| step | who | status | started | duration | attempts | outcome |\n|---|---|---|---|---:|---:|---|\n");
    for t in &r.timeline {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            t.step,
            t.party,
            t.status,
            t.started_at.as_deref().unwrap_or(""),
            secs(t.seconds),
            t.attempts,
            md_cell(t.message.as_deref().unwrap_or(""))
        ));
    }
    if !r.interruptions.is_empty() {
        o.push_str("\nEarlier attempts that failed:\n\n");
        for i in &r.interruptions {
            o.push_str(&format!(
                "- {} at {}: {}\n",
                i.step,
                i.started_at,
                i.message.as_deref().unwrap_or(&i.outcome)
            ));
        }
    }
    o.push_str(&format!(
        "\n## Databases — compare verdict: {}\n\n| database | target | tables | rows source | rows target | data source | size target | verdict |\n|---|---|---:|---:|---:|---:|---:|---|\n",
        r.compare_verdict.as_deref().unwrap_or("not compared")
    ));
    for d in &r.databases {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            d.role,
            md_cell(&d.database),
            d.tables,
            d.source_rows,
            opt_num(d.target_rows),
            human(d.source_bytes),
            opt_bytes(d.target_bytes),
            d.verdict
        ));
    }
    for d in &r.databases {
        o.push_str(&format!(
            "\n### {} ({} → {})\n\nDump {} ({}), server {}, pg_dump {}{}.\n\n",
            d.role,
            d.dump_file,
            md_cell(&d.database),
            d.dump_file,
            human(d.dump_bytes),
            d.server_version.as_deref().unwrap_or("?"),
            d.pg_dump_version.as_deref().unwrap_or("?"),
            d.sequences
                .map(|(e, t)| format!("; sequences {e}/{t} equal"))
                .unwrap_or_default()
        ));
        if !d.objects.is_empty() {
            o.push_str("| schema objects | source | target | verdict |\n|---|---:|---:|---|\n");
            for k in &d.objects {
                o.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    k.kind,
                    k.source,
                    k.target,
                    md_cell(&k.verdict)
                ));
            }
            o.push('\n');
        }
        o.push_str("| table | rows source | rows target | data source | size target | verdict |\n|---|---:|---:|---:|---:|---|\n");
        for t in &d.table_rows {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                md_cell(&t.table),
                t.source_rows,
                opt_num(t.target_rows),
                human(t.source_bytes),
                opt_bytes(t.target_bytes),
                t.verdict
            ));
        }
    }
    o.push_str(&format!(
        "\n## Throughput\n\n| transfer | volume and speed |\n|---|---|\n| dump | {} |\n| upload | {} |\n| import (table data) | {} |\n",
        rate_text(&r.transfer.dump),
        rate_text(&r.transfer.upload),
        rate_text(&r.transfer.import)
    ));
    o.push_str("\n## What the sanitizer changed\n\n");
    if r.sanitizer.is_empty() {
        o.push_str("Nothing.\n");
    } else {
        o.push_str("| database | stage | line | rule | statement | reason |\n|---|---|---:|---|---|---|\n");
        for s in &r.sanitizer {
            o.push_str(&format!(
                "| {} | {} | {} | {} | `{}` | {} |\n",
                md_cell(&s.database),
                s.stage,
                s.line,
                s.rule,
                md_cell(&s.statement).replace('`', "'"),
                md_cell(&s.reason)
            ));
        }
    }
    o.push_str("\n## Acceptance test\n\n");
    match &r.acceptance {
        None => o.push_str("Not run yet.\n"),
        Some(a) => {
            o.push_str(&format!("**{}** on {}\n\n", a.verdict.to_uppercase(), a.endpoint));
            if !a.counts.is_empty() {
                o.push_str("| count | summary | now |\n|---|---:|---:|\n");
                for c in &a.counts {
                    o.push_str(&format!(
                        "| {} | {} | {} |\n",
                        c.name,
                        opt_num(c.expected),
                        opt_num(c.actual)
                    ));
                }
                o.push('\n');
            }
            for f in &a.findings {
                o.push_str(&format!(
                    "- {} ({}): {}\n",
                    f.severity.as_str(),
                    f.check,
                    f.message
                ));
            }
        }
    }
    if !r.preflight.is_empty() {
        o.push_str("\n## Preflight\n\n| check | result | detail |\n|---|---|---|\n");
        for c in &r.preflight {
            o.push_str(&format!(
                "| {} | {} | {} |\n",
                md_cell(&c.name),
                c.status,
                md_cell(&c.detail)
            ));
        }
    }
    o
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn badge(v: &str) -> String {
    let class = match v {
        "equal" | "succeeded" | "pass" | "complete" | "passed" => "ok",
        "skipped" | "pending" | "not compared" | "in progress" | "warn" | "warning" | "skip" | "info" => {
            "muted"
        }
        "running" => "warn",
        _ => "bad",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(v))
}

const CSS: &str = r#"
:root{--fg:#1d2330;--muted:#5e6778;--line:#d9dee7;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700;--bg:#ffffff;--soft:#f5f7fa}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#1d2330;color:#fff;padding:24px 32px}
header h1{margin:0 0 6px;font-size:22px}
header p{margin:0;color:#c9d1e0}
main{padding:8px 32px 40px;max-width:1280px}
h2{font-size:17px;margin:28px 0 10px;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 8px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fafbfc}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--soft);padding:1px 4px;border-radius:3px}
td.nw,#timeline code{white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.warn{background:var(--warn)}.badge.muted{background:#8a93a3}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:18px 0}
.card{flex:1 1 180px;border:1px solid var(--line);border-radius:6px;padding:10px 14px;background:var(--soft)}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:700;margin-top:2px}
.bar{height:10px;background:#3b6fd8;border-radius:2px;min-width:2px}
.barcell{width:22%}
details{margin:8px 0}
summary{cursor:pointer;font-weight:600}
.muted{color:var(--muted)}
footer{color:var(--muted);font-size:12px;padding:0 32px 24px}
"#;

/// The report as one self-contained HTML page (inline CSS, no script, no network).
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    o.push_str(&format!(
        "<title>Migration report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&r.name)
    ));
    o.push_str(&format!(
        "<header><h1>Migration report: {}</h1><p>{} {}</p></header>\n<main>\n",
        esc(&r.name),
        badge(&r.status),
        esc(&r.summary)
    ));
    let tables: usize = r.databases.iter().map(|d| d.tables).sum();
    let equal: usize = r
        .databases
        .iter()
        .map(|d| d.table_rows.iter().filter(|t| t.verdict == "equal").count())
        .sum();
    let rows: u64 = r.databases.iter().map(|d| d.source_rows).sum();
    o.push_str("<section class=\"cards\" id=\"verdicts\">\n");
    let card = |k: &str, v: String| {
        format!(
            "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{v}</div></div>\n",
            esc(k)
        )
    };
    o.push_str(&card(
        "compare",
        badge(r.compare_verdict.as_deref().unwrap_or("not compared")),
    ));
    o.push_str(&card("tables equal", format!("{equal} / {tables}")));
    o.push_str(&card("rows in the snapshot", rows.to_string()));
    o.push_str(&card(
        "acceptance test",
        badge(
            r.acceptance
                .as_ref()
                .map(|a| a.verdict.as_str())
                .unwrap_or("not run"),
        ),
    ));
    if let Some(sg) = &r.sourcegraph {
        let to = sg
            .upgrade_to
            .as_ref()
            .map(|t| format!(" → {}", esc(t)))
            .unwrap_or_default();
        o.push_str(&card("Sourcegraph", format!("{}{to}", esc(&sg.version))));
    }
    o.push_str("</section>\n");

    // Timeline, with each duration drawn against the longest.
    let longest = r
        .timeline
        .iter()
        .filter_map(|t| t.seconds)
        .fold(0.0f64, f64::max)
        .max(0.001);
    o.push_str("<h2>Timeline</h2>\n<table id=\"timeline\">\n<thead><tr><th>step</th><th>who</th><th>status</th><th>started</th><th class=\"n\">duration</th><th class=\"barcell\"></th><th class=\"n\">attempts</th><th>outcome</th></tr></thead>\n<tbody>\n");
    for t in &r.timeline {
        let width = t
            .seconds
            .map(|s| (s / longest * 100.0).clamp(1.0, 100.0))
            .unwrap_or(0.0);
        o.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"nw\">{}</td><td class=\"n\">{}</td><td class=\"barcell\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
            esc(&t.step),
            esc(&t.party),
            badge(&t.status),
            esc(&t.started_at.as_deref().unwrap_or("").replace('T', " ")),
            esc(&secs(t.seconds)),
            if t.seconds.is_some() {
                format!("<div class=\"bar\" style=\"width:{width:.1}%\"></div>")
            } else {
                String::new()
            },
            t.attempts,
            esc(t.message.as_deref().unwrap_or(""))
        ));
    }
    o.push_str("</tbody>\n</table>\n");
    if !r.interruptions.is_empty() {
        o.push_str("<p class=\"muted\">Earlier attempts that failed:</p>\n<ul id=\"interruptions\">\n");
        for i in &r.interruptions {
            o.push_str(&format!(
                "<li><code>{}</code> at {}: {}</li>\n",
                esc(&i.step),
                esc(&i.started_at),
                esc(i.message.as_deref().unwrap_or(&i.outcome))
            ));
        }
        o.push_str("</ul>\n");
    }

    o.push_str(&format!(
        "<h2>Databases — compare verdict {}</h2>\n<table id=\"databases\">\n<thead><tr><th>database</th><th>target</th><th class=\"n\">tables</th><th class=\"n\">rows source</th><th class=\"n\">rows target</th><th class=\"n\">data source</th><th class=\"n\">size target</th><th>verdict</th></tr></thead>\n<tbody>\n",
        badge(r.compare_verdict.as_deref().unwrap_or("not compared"))
    ));
    for d in &r.databases {
        o.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
            esc(&d.role),
            esc(&d.database),
            d.tables,
            d.source_rows,
            opt_num(d.target_rows),
            human(d.source_bytes),
            opt_bytes(d.target_bytes),
            badge(&d.verdict)
        ));
    }
    o.push_str("</tbody>\n</table>\n");
    for d in &r.databases {
        o.push_str(&format!(
            "<h3>{} <span class=\"muted\">{} ({}) → {}; server {}, pg_dump {}{}</span></h3>\n",
            esc(&d.role),
            esc(&d.dump_file),
            human(d.dump_bytes),
            esc(&d.database),
            esc(d.server_version.as_deref().unwrap_or("?")),
            esc(d.pg_dump_version.as_deref().unwrap_or("?")),
            d.sequences
                .map(|(e, t)| format!("; sequences {e}/{t} equal"))
                .unwrap_or_default()
        ));
        if !d.objects.is_empty() {
            o.push_str(&format!(
                "<table class=\"objects\" id=\"objects-{}\">\n<thead><tr><th>schema objects</th><th class=\"n\">source</th><th class=\"n\">target</th><th>verdict</th></tr></thead>\n<tbody>\n",
                esc(&d.role)
            ));
            for k in &d.objects {
                o.push_str(&format!(
                    "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                    esc(&k.kind),
                    esc(&k.source),
                    esc(&k.target),
                    if k.verdict.starts_with("not counted") {
                        format!(
                            "{} <span class=\"muted\">{}</span>",
                            badge("skipped"),
                            esc(&k.verdict)
                        )
                    } else {
                        badge(&k.verdict)
                    }
                ));
            }
            o.push_str("</tbody>\n</table>\n");
        }
        let differing = d.table_rows.iter().filter(|t| t.verdict != "equal").count();
        o.push_str(&format!(
            "<details{}><summary>{} tables ({} not equal)</summary>\n<table class=\"tables\" id=\"tables-{}\">\n<thead><tr><th>table</th><th class=\"n\">rows source</th><th class=\"n\">rows target</th><th class=\"n\">data source</th><th class=\"n\">size target</th><th>verdict</th></tr></thead>\n<tbody>\n",
            if differing > 0 || d.table_rows.len() <= 60 { " open" } else { "" },
            d.table_rows.len(),
            differing,
            esc(&d.role)
        ));
        for t in &d.table_rows {
            o.push_str(&format!(
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                esc(&t.table),
                t.source_rows,
                opt_num(t.target_rows),
                human(t.source_bytes),
                opt_bytes(t.target_bytes),
                badge(&t.verdict)
            ));
        }
        o.push_str("</tbody>\n</table>\n</details>\n");
    }

    o.push_str("<h2>Throughput</h2>\n<table id=\"transfer\">\n<thead><tr><th>transfer</th><th class=\"n\">bytes</th><th class=\"n\">time</th><th class=\"n\">speed</th></tr></thead>\n<tbody>\n");
    for (name, rt) in [
        ("dump (pg_dump → snapshot folder)", &r.transfer.dump),
        ("upload (snapshot → bucket)", &r.transfer.upload),
        ("import (table data → target)", &r.transfer.import),
    ] {
        match rt {
            Some(x) => o.push_str(&format!(
                "<tr><td>{}</td><td class=\"n\">{}{}</td><td class=\"n\">{}</td><td class=\"n\">{}/s</td></tr>\n",
                esc(name),
                human(x.bytes),
                esc(&earlier_text(x)),
                esc(&secs(Some(x.seconds))),
                human(x.bytes_per_second)
            )),
            None => o.push_str(&format!(
                "<tr><td>{}</td><td class=\"n\">-</td><td class=\"n\">-</td><td class=\"n\">-</td></tr>\n",
                esc(name)
            )),
        }
    }
    o.push_str("</tbody>\n</table>\n");

    o.push_str("<h2>What the sanitizer changed</h2>\n");
    if r.sanitizer.is_empty() {
        o.push_str("<p>Nothing.</p>\n");
    } else {
        o.push_str("<table id=\"sanitizer\">\n<thead><tr><th>database</th><th>stage</th><th class=\"n\">line</th><th>rule</th><th>statement</th><th>reason</th></tr></thead>\n<tbody>\n");
        for s in &r.sanitizer {
            o.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
                esc(&s.database),
                esc(&s.stage),
                s.line,
                esc(&s.rule),
                esc(&s.statement),
                esc(&s.reason)
            ));
        }
        o.push_str("</tbody>\n</table>\n");
    }

    o.push_str("<h2>Acceptance test</h2>\n");
    match &r.acceptance {
        None => o.push_str("<p class=\"muted\">Not run yet.</p>\n"),
        Some(a) => {
            o.push_str(&format!(
                "<p>{} on <code>{}</code></p>\n",
                badge(&a.verdict),
                esc(&a.endpoint)
            ));
            if !a.counts.is_empty() {
                o.push_str("<table id=\"acceptance\">\n<thead><tr><th>count</th><th class=\"n\">summary</th><th class=\"n\">now</th><th class=\"n\">delta</th></tr></thead>\n<tbody>\n");
                for c in &a.counts {
                    o.push_str(&format!(
                        "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                        esc(&c.name),
                        opt_num(c.expected),
                        opt_num(c.actual),
                        c.delta.map_or_else(String::new, |d| if d > 0 { format!("+{d}") } else { d.to_string() })
                    ));
                }
                o.push_str("</tbody>\n</table>\n");
            }
            if !a.findings.is_empty() {
                o.push_str("<table id=\"findings\">\n<thead><tr><th>severity</th><th>check</th><th>finding</th></tr></thead>\n<tbody>\n");
                for f in &a.findings {
                    o.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        badge(f.severity.as_str()),
                        esc(&f.check),
                        esc(&f.message)
                    ));
                }
                o.push_str("</tbody>\n</table>\n");
            }
        }
    }
    if !r.preflight.is_empty() {
        o.push_str("<h2>Preflight</h2>\n<table id=\"preflight\">\n<thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead>\n<tbody>\n");
        for c in &r.preflight {
            o.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&c.name),
                badge(&c.status),
                esc(&c.detail)
            ));
        }
        o.push_str("</tbody>\n</table>\n");
    }
    o.push_str(&format!(
        "</main>\n<footer>Generated {} by {}. This page is self-contained: it loads nothing from the network.</footer>\n</body>\n</html>\n",
        esc(&r.generated_at),
        esc(&r.tool)
    ));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_and_loads_nothing() {
        let mut j = Journal::new("acme <&> \"co\"");
        j.start(StepId::Preflight);
        j.finish(
            StepId::Preflight,
            Status::Failed,
            1.0,
            "<script>alert(1)</script>".into(),
            BTreeMap::new(),
        );
        let tmp = tempfile::tempdir().expect("tmp");
        let r = build(&j, tmp.path());
        assert_eq!(r.status, "failed");
        assert_eq!(r.failed_step.as_deref(), Some("preflight"));
        let h = html(&r);
        assert!(!h.contains("<script"), "{h}");
        assert!(h.contains("&lt;script&gt;"));
        assert!(h.contains("acme &lt;&amp;&gt; &quot;co&quot;"));
        for bad in ["http://", "https://", "<link", "<img", "@import", "url("] {
            assert!(!h.contains(bad), "{bad} in the page");
        }
        let md = markdown(&r);
        assert!(md.contains("| preflight | customer | failed |"), "{md}");
    }
}
