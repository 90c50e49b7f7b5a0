//! What each step does: its preconditions, the one library call behind it
//! (the same one its own command makes), and what it records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bucket::Store;
use futures_util::future::join_all;
use futures_util::StreamExt as _;
use pgdump::{DbRole, Mode, Target, Targets};
use serde_json::{json, Value};
use sgapi::preflight::{self as pf, Check, Status as CheckStatus};
use snapshot::import::ImportSource;

use crate::config::MigrationConfig;
use crate::error::FailureKind;
use crate::journal::{Journal, Status};
use crate::records::{self, *};
use crate::step::StepId;

/// A step that ended well (or had nothing to do).
pub(crate) struct Outcome {
    pub message: String,
    pub figures: BTreeMap<String, Value>,
    pub skipped: bool,
}

impl Outcome {
    fn done(message: impl Into<String>, figures: BTreeMap<String, Value>) -> Outcome {
        Outcome {
            message: message.into(),
            figures,
            skipped: false,
        }
    }

    fn skipped(message: impl Into<String>) -> Outcome {
        Outcome {
            message: message.into(),
            figures: BTreeMap::new(),
            skipped: true,
        }
    }
}

/// A step that failed.
pub(crate) struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub hint: Option<String>,
    pub figures: BTreeMap<String, Value>,
}

impl Failure {
    fn check(message: impl Into<String>, hint: impl Into<Option<String>>) -> Failure {
        Failure {
            kind: FailureKind::Check,
            message: message.into(),
            hint: hint.into(),
            figures: BTreeMap::new(),
        }
    }

    fn error(message: impl Into<String>, hint: impl Into<Option<String>>) -> Failure {
        Failure {
            kind: FailureKind::Error,
            message: message.into(),
            hint: hint.into(),
            figures: BTreeMap::new(),
        }
    }

    fn with(mut self, figures: BTreeMap<String, Value>) -> Failure {
        self.figures = figures;
        self
    }
}

/// The message of an error and its causes, on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = c.source();
    }
    out
}

fn err<E: std::error::Error + 'static>(e: E) -> Failure {
    Failure::error(chain(&e), None)
}

fn rec_err(e: crate::error::MigrateError) -> Failure {
    Failure::error(e.to_string(), None)
}

/// The fix for an API error (the CLI gives the same ones).
fn api_hint(e: &sgapi::ApiError) -> Option<String> {
    use sgapi::ApiError as A;
    Some(
        match e {
            A::MissingToken => "set the variable named by token_env (default SRC_ACCESS_TOKEN) to a site admin's token, or point token_file at a file holding it",
            A::Unauthorized { .. } => "the token is not valid on this instance: create a new one as a site admin",
            A::NotSiteAdmin { .. } => "use an access token that belongs to a site admin",
            A::Transport { .. } => "check the endpoint and that this machine can reach it (proxy headers go in SRC_HEADER_<NAME>)",
            A::SettingsEditsDisabled => "global settings come from a file (GLOBAL_SETTINGS_FILE): edit the notice there by hand and add the step to skip_steps",
            A::SettingsRace { .. } => "someone keeps editing global settings; resume in a moment",
            _ => return None,
        }
        .to_string(),
    )
}

fn api_err(e: sgapi::ApiError) -> Failure {
    let hint = api_hint(&e);
    Failure::error(chain(&e), hint)
}

fn fig(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Human-readable bytes.
pub use snapshot::human_bytes as bytes;

/// What steps share: the config, the journal, the bucket once opened.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a MigrationConfig,
    pub journal: Journal,
    pub store: Option<Arc<Store>>,
    pub notes: Arc<Mutex<Vec<String>>>,
    pub progress: Option<crate::run::ProgressFn>,
}

impl Ctx<'_> {
    fn dir(&self) -> &Path {
        &self.cfg.snapshot_dir
    }

    /// The bucket, opened on first use.
    pub async fn store(&mut self) -> Result<Arc<Store>, Failure> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        let loc = self.cfg.bucket.as_deref().ok_or_else(|| {
            Failure::error(
                "the config has no bucket",
                Some("add `bucket: gs://NAME[/PREFIX]` (or file:///PATH) to the config".to_string()),
            )
        })?;
        let s = open_store(self.cfg, loc).await.map_err(|e| {
            Failure::error(
                format!("opening {loc}: {}", chain(&e)),
                Some(
                    "check the bucket name, that it exists (a file:// folder must exist), and the credentials file".to_string(),
                ),
            )
        })?;
        let s = Arc::new(s);
        self.store = Some(s.clone());
        Ok(s)
    }

    fn note(&self, msg: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.push(msg);
        }
    }
}

/// Opens the configured bucket (credentials from the config, else the environment).
pub(crate) async fn open_store(cfg: &MigrationConfig, loc: &str) -> Result<Store, bucket::BucketError> {
    let location = bucket::Location::parse(loc)?;
    let mut opts = bucket::StoreOptions::from_env();
    if let Some(c) = &cfg.credentials {
        opts.credentials = Some(c.clone());
    }
    Store::open(&location, &opts).await
}

fn need_done(j: &Journal, step: StepId, before: StepId) -> Result<(), (String, String)> {
    let r = j.get(before);
    if r.status.is_done() {
        return Ok(());
    }
    Err((
        format!(
            "{before} has not succeeded yet (it is {}); {step} needs it",
            r.status.as_str()
        ),
        format!("run the migration from {before}: `migrate --resume` (or `--from-step={before}`)"),
    ))
}

/// What must hold before `step` runs, checked without changing anything.
/// Static ones (config fields) first, then the journal.
pub(crate) fn precondition(step: StepId, cfg: &MigrationConfig, j: &Journal) -> Result<(), (String, String)> {
    let need = |field: &str, what: &str| -> Result<(), (String, String)> {
        Err((
            format!("the config has no {field}"),
            format!("add {field} ({what}) to the config, or add {step} to skip_steps"),
        ))
    };
    match step {
        StepId::Preflight | StepId::NoticeAdd | StepId::Summary if cfg.source.instance.is_none() => {
            if step == StepId::NoticeAdd && !cfg.notice.enabled {
                return Ok(());
            }
            need(
                "source.instance",
                "endpoint and token_env or token_file of the customer's Sourcegraph",
            )
        }
        StepId::Test | StepId::NoticeRemove if cfg.target.instance.is_none() => {
            if step == StepId::NoticeRemove && !cfg.notice.enabled {
                return Ok(());
            }
            need(
                "target.instance",
                "endpoint and token_env or token_file of the managed Sourcegraph",
            )
        }
        StepId::Upload | StepId::VerifyUpload | StepId::VerifyBucket | StepId::Import | StepId::Compare
            if cfg.bucket.is_none() =>
        {
            need("bucket", "gs://NAME[/PREFIX] or file:///PATH")
        }
        StepId::Reset | StepId::Import | StepId::Compare | StepId::UpgradePlan
            if cfg.target.url.is_none() =>
        {
            need(
                "target.url",
                "postgres://USER@HOST:PORT/postgres, no password in it",
            )
        }
        StepId::Databases => {
            if cfg.source.dump_mode() == Mode::PgDump && !program_exists(&cfg.source.pg_dump) {
                return Err((
                    format!("pg_dump program {:?} is not found", cfg.source.pg_dump),
                    "install the PostgreSQL client tools (pg_dump as new as the servers) or set source.pg_dump to its path".into(),
                ));
            }
            Ok(())
        }
        StepId::Upload => {
            let missing: Vec<&str> = DbRole::all()
                .into_iter()
                .filter(|r| dump_path(&cfg.snapshot_dir, *r).is_none())
                .map(|r| r.file_name())
                .collect();
            if !missing.is_empty() {
                return Err((
                    format!("{} has no {}", cfg.snapshot_dir.display(), missing.join(", ")),
                    "run the databases step first (`migrate --resume` or `--from-step=databases`)".into(),
                ));
            }
            Ok(())
        }
        StepId::VerifyUpload => need_done(j, step, StepId::Upload),
        StepId::Reset => {
            if cfg.skips(StepId::VerifyBucket) {
                return Ok(());
            }
            need_done(j, step, StepId::VerifyBucket)
        }
        StepId::Import => need_done(j, step, StepId::Reset),
        StepId::Compare => need_done(j, step, StepId::Import),
        StepId::UpgradePlan => need_done(j, step, StepId::Compare),
        StepId::Migrator => need_done(j, step, StepId::UpgradePlan),
        StepId::Test => need_done(j, step, StepId::Compare),
        StepId::NoticeRemove => need_done(j, step, StepId::Test),
        _ => Ok(()),
    }
}

fn program_exists(p: &str) -> bool {
    if p.contains('/') {
        return Path::new(p).is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(p).is_file()))
        .unwrap_or(false)
}

fn dump_path(dir: &Path, role: DbRole) -> Option<PathBuf> {
    let p = dir.join(role.file_name());
    if p.exists() {
        return Some(p);
    }
    role.legacy_file_name()
        .map(|l| dir.join(l))
        .filter(|p| p.exists())
}

/// Runs one step.
pub(crate) async fn run(step: StepId, ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    match step {
        StepId::Preflight => preflight(ctx).await,
        StepId::NoticeAdd => notice(ctx, true).await,
        StepId::Databases => databases(ctx).await,
        StepId::Summary => summary(ctx).await,
        StepId::Upload => upload(ctx).await,
        StepId::VerifyUpload | StepId::VerifyBucket => verify(ctx, step).await,
        StepId::Reset => reset(ctx).await,
        StepId::Import => import(ctx).await,
        StepId::Compare => compare(ctx).await,
        StepId::UpgradePlan => upgrade_plan(ctx).await,
        StepId::Migrator => migrator(ctx).await,
        StepId::Test => test(ctx).await,
        StepId::NoticeRemove => notice(ctx, false).await,
    }
}

// ---- customer ---------------------------------------------------------------

async fn preflight(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    let cfg = ctx.cfg;
    let inst = cfg
        .source
        .instance
        .as_ref()
        .ok_or_else(|| Failure::error("no source.instance", None))?;
    let mut checks = match inst.client() {
        Ok(c) => pf::api_checks(&c, &cfg.notice.message).await,
        Err(e) => vec![pf::api_unavailable(&e)],
    };
    // The notice goes up in the next step, so its absence is no failure yet.
    let notice_next = cfg.notice.enabled && !cfg.skips(StepId::NoticeAdd);
    for c in checks.iter_mut().filter(|c| c.name == "site notice") {
        if c.status == CheckStatus::Fail && notice_next && !c.detail.contains("error") {
            c.status = CheckStatus::Skip;
            c.detail = "not up yet; the notice-add step puts it up next".into();
            c.fix = None;
        }
    }
    let targets = cfg.source_targets().map_err(rec_err)?;
    checks.extend(
        database_checks(
            &targets,
            cfg.source.dump_mode(),
            &cfg.source.pg_dump,
            &cfg.snapshot_dir,
        )
        .await,
    );
    let rec = PreflightRecord {
        checks: checks
            .iter()
            .map(|c| CheckRecord {
                name: c.name.clone(),
                status: c.status.as_str().into(),
                detail: c.detail.clone(),
                fix: c.fix.clone(),
            })
            .collect(),
    };
    records::save(ctx.dir(), StepId::Preflight, &rec).map_err(rec_err)?;
    let count = |s: CheckStatus| checks.iter().filter(|c| c.status == s).count();
    let figures = fig(&[
        ("checks", json!(checks.len())),
        ("passed", json!(count(CheckStatus::Pass))),
        ("warnings", json!(count(CheckStatus::Warn))),
        ("failed", json!(count(CheckStatus::Fail))),
        ("skipped", json!(count(CheckStatus::Skip))),
        // In the journal too, so the operator's report shows the customer's checks.
        ("results", json!(rec.checks)),
    ]);
    let failed: Vec<&Check> = checks.iter().filter(|c| c.status == CheckStatus::Fail).collect();
    if !failed.is_empty() {
        let what: Vec<String> = failed
            .iter()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        let fixes: Vec<String> = failed
            .iter()
            .filter_map(|c| c.fix.as_ref().map(|f| format!("{}: {f}", c.name)))
            .collect();
        return Err(Failure::check(
            format!(
                "{} of {} checks failed: {}",
                failed.len(),
                checks.len(),
                what.join("; ")
            ),
            (!fixes.is_empty()).then(|| fixes.join("; ")),
        )
        .with(figures));
    }
    Ok(Outcome::done(
        format!(
            "{} checks passed, {} warnings, {} skipped",
            count(CheckStatus::Pass),
            count(CheckStatus::Warn),
            count(CheckStatus::Skip)
        ),
        figures,
    ))
}

/// `postgres://USER@HOST:PORT/DB` for pgload; the password never goes in it.
fn conn_url(t: &Target) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    let port = t.port.map(|p| format!(":{p}")).unwrap_or_default();
    let host = if t.target.is_empty() {
        "localhost"
    } else {
        &t.target
    };
    format!(
        "postgres://{}@{}{port}/{}",
        enc(&t.username),
        enc(host),
        enc(&t.dbname)
    )
}

struct DbFacts {
    major: u32,
    version: String,
    size: u64,
    encrypted: Option<Vec<(String, i64)>>,
}

async fn db_facts(role: DbRole, t: &Target) -> Result<DbFacts, String> {
    let mut spec = pgload::ConnSpec::from_url(&conn_url(t)).map_err(|e| e.to_string())?;
    if let Some(p) = &t.password {
        spec = spec.with_password(p.expose());
    }
    let client = spec.connect(&t.dbname).await.map_err(|e| e.to_string())?;
    let info = pgload::server_info(&client).await.map_err(|e| e.to_string())?;
    let size: i64 = client
        .query_one(pf::DATABASE_SIZE_SQL, &[])
        .await
        .map_err(|e| format!("reading the database size: {e}"))?
        .get(0);
    let encrypted = if role == DbRole::Pgsql {
        let rows = client
            .query(pf::ENCRYPTED_ROWS_SQL, &[])
            .await
            .map_err(|e| format!("looking for encrypted rows: {e}"))?;
        Some(
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .collect(),
        )
    } else {
        None
    };
    Ok(DbFacts {
        major: info.major,
        version: info.version,
        size: size.max(0) as u64,
        encrypted,
    })
}

async fn pg_dump_version(program: &str) -> Result<(u32, String), String> {
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .output()
        .await
        .map_err(|e| format!("running {program} --version: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = sgapi::version::parse_pg_major(&text)
        .ok_or_else(|| format!("unexpected `{program} --version` output {text:?}"))?;
    let version = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_default()
        .to_string();
    Ok((major, version))
}

async fn free_space(dir: &Path) -> Option<u64> {
    let mut p = dir.to_path_buf();
    while !p.exists() {
        p = match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
    }
    let out = tokio::process::Command::new("df")
        .arg("-Pk")
        .arg(&p)
        .output()
        .await
        .ok()?;
    pf::parse_df_available(&String::from_utf8_lossy(&out.stdout))
}

/// The database side of preflight (the `preflight` command's checks):
/// reachability and version of each server, pg_dump's version, encrypted
/// rows, free space. In docker and kubectl mode the servers are inside
/// containers and these are skipped with the command to check by hand.
pub async fn database_checks(targets: &Targets, mode: Mode, pg_dump: &str, dir: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    if mode != Mode::PgDump {
        for role in DbRole::all() {
            let t = targets.get(role);
            let exec = if mode == Mode::Docker {
                format!("docker exec {}", t.target)
            } else {
                format!("kubectl exec {} --", t.target)
            };
            out.push(Check::new(
                format!("postgres {role}"),
                CheckStatus::Skip,
                format!(
                    "{role} {} is reached through {mode}; not checked from here",
                    t.target
                ),
                Some(format!(
                    "check by hand: `{exec} psql -U {} -d {} -c 'SHOW server_version'`",
                    t.username, t.dbname
                )),
            ));
        }
        return out;
    }
    let dump = pg_dump_version(pg_dump).await;
    let facts = join_all(DbRole::all().map(|r| async move { (r, db_facts(r, targets.get(r)).await) })).await;
    let (mut total, mut all_sized) = (0u64, true);
    for (role, facts) in facts {
        let name = role.to_string();
        out.push(pf::postgres_check(
            &name,
            facts
                .as_ref()
                .map(|f| (f.major, f.version.clone()))
                .map_err(Clone::clone),
        ));
        out.push(pf::pg_dump_check(
            &name,
            dump.clone(),
            facts.as_ref().ok().map(|f| f.major),
        ));
        match &facts {
            Ok(f) => {
                total += f.size;
                if let Some(rows) = &f.encrypted {
                    out.push(pf::encrypted_rows_check(rows));
                }
            }
            Err(_) => all_sized = false,
        }
    }
    let mut disk = pf::disk_check(&dir.display().to_string(), free_space(dir).await, total);
    if !all_sized && disk.status == CheckStatus::Pass {
        disk.status = CheckStatus::Warn;
        disk.detail.push_str(" (sizes of unreachable databases unknown)");
    }
    out.push(disk);
    out
}

async fn notice(ctx: &mut Ctx<'_>, add: bool) -> Result<Outcome, Failure> {
    let cfg = ctx.cfg;
    if !cfg.notice.enabled {
        return Ok(Outcome::skipped("notice.enabled is false in the config"));
    }
    let inst = if add {
        &cfg.source.instance
    } else {
        &cfg.target.instance
    };
    let inst = inst
        .as_ref()
        .ok_or_else(|| Failure::error("no instance configured", None))?;
    let client = inst.client().map_err(api_err)?;
    let out = if add {
        sgapi::add_notice(&client, &cfg.notice.message).await
    } else {
        sgapi::remove_notice(&client, &cfg.notice.message).await
    }
    .map_err(api_err)?;
    if out.changed && !out.rest_unchanged {
        ctx.note(format!(
            "{}: the server changed global settings beyond the notice (probably reformatted them); look them over",
            client.endpoint()
        ));
    }
    let figures = fig(&[("changed", json!(out.changed)), ("count", json!(out.count))]);
    let msg = match (add, out.changed) {
        (true, true) => format!("notice added on {}", client.endpoint()),
        (true, false) => format!("notice already up on {}", client.endpoint()),
        (false, true) => format!("notice removed from {}", client.endpoint()),
        (false, false) => format!("no notice on {}; nothing to remove", client.endpoint()),
    };
    Ok(Outcome::done(msg, figures))
}

async fn databases(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    let cfg = ctx.cfg;
    let targets = cfg.source_targets().map_err(rec_err)?;
    let opts = snapshot::DumpOptions {
        mode: cfg.source.dump_mode(),
        targets,
        dir: cfg.snapshot_dir.clone(),
        pg_dump: cfg.source.pg_dump.clone(),
        preview: dumpscript::SanitizeOptions::cloudsql(cfg.target.major),
        only: Vec::new(),
    };
    let progress = ctx.progress.clone();
    let manifest = tokio::task::spawn_blocking(move || {
        let done: Mutex<[u64; 3]> = Mutex::new([0; 3]);
        let report = |role: DbRole, n: u64| {
            let (Some(p), Ok(mut d)) = (&progress, done.lock()) else {
                return;
            };
            let i = DbRole::all().iter().position(|r| *r == role).unwrap_or(0);
            d[i] = n;
            p(StepId::Databases, d.iter().sum(), None);
        };
        snapshot::dump_databases(&opts, &report)
    })
    .await
    .map_err(|e| Failure::error(format!("internal error: {e}"), None))?
    .map_err(|e| {
        Failure::error(
            chain(&e),
            Some("fix the cause (the error names the database); every dump is taken again".into()),
        )
    })?;
    let mut per = serde_json::Map::new();
    let (mut size, mut tables, mut rows) = (0u64, 0usize, 0u64);
    for f in &manifest.files {
        let r: u64 = f.tables.iter().map(|t| t.rows).sum();
        per.insert(
            f.role.clone(),
            json!({"file": f.name, "bytes": f.size, "tables": f.tables.len(), "rows": r,
                   "server_version": f.source.server_version, "pg_dump_version": f.source.pg_dump_version}),
        );
        size += f.size;
        tables += f.tables.len();
        rows += r;
    }
    let version = manifest.sourcegraph.as_ref().map(|s| s.version.clone());
    let figures = fig(&[
        ("bytes", json!(size)),
        ("tables", json!(tables)),
        ("rows", json!(rows)),
        ("sourcegraph_version", json!(version)),
        ("databases", Value::Object(per)),
    ]);
    Ok(Outcome::done(
        format!(
            "{} dumps, {tables} tables, {rows} rows, {}{}",
            manifest.files.len(),
            bytes(size),
            version.map(|v| format!("; Sourcegraph {v}")).unwrap_or_default()
        ),
        figures,
    ))
}

async fn summary(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    let cfg = ctx.cfg;
    let inst = cfg
        .source
        .instance
        .as_ref()
        .ok_or_else(|| Failure::error("no source.instance", None))?;
    let client = inst.client().map_err(api_err)?;
    let s = sgapi::take_summary(&client, &sgapi::SummaryOptions::default())
        .await
        .map_err(api_err)?;
    std::fs::create_dir_all(ctx.dir()).map_err(err)?;
    let path = ctx.dir().join(sgapi::SUMMARY_FILE);
    snapshot::fsutil::write_atomic(&path, s.to_json().as_bytes()).map_err(err)?;
    let mut figures = fig(&[
        ("external_services", json!(s.external_services.total_count)),
        ("auth_providers", json!(s.site.auth_providers.total_count)),
        ("product_version", json!(s.product_version)),
    ]);
    if let Some(c) = &s.counts {
        for (name, v) in c.entries() {
            figures.insert(name.to_string(), json!(v));
        }
    }
    Ok(Outcome::done(
        format!(
            "{} external services, {} auth providers{}; wrote {}",
            s.external_services.total_count,
            s.site.auth_providers.total_count,
            s.product_version
                .as_ref()
                .map(|v| format!(", Sourcegraph {v}"))
                .unwrap_or_default(),
            path.display()
        ),
        figures,
    ))
}

async fn upload(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    use snapshot::stream::Transform;
    use snapshot::upload::{UploadEvent, UploadItem, UploadPlan, DEFAULT_CHUNK};
    let cfg = ctx.cfg;
    snapshot::ensure_manifest(ctx.dir()).map_err(err)?;
    let store = ctx.store().await?;
    let sanitize = Some(dumpscript::SanitizeOptions::cloudsql(cfg.target.major));
    let gzip = cfg.gzip.then_some(cfg.gzip_level);
    let mut items = Vec::new();
    for role in DbRole::all() {
        let Some(path) = dump_path(ctx.dir(), role) else {
            continue;
        };
        items.push(UploadItem::dump(
            role.yaml_key(),
            path,
            Transform {
                sanitize: sanitize.clone(),
                gzip,
            },
        ));
    }
    let summary = ctx.dir().join(sgapi::SUMMARY_FILE);
    if summary.exists() {
        items.push(UploadItem {
            role: None,
            object: sgapi::SUMMARY_FILE.into(),
            path: summary,
            transform: Transform {
                sanitize: None,
                gzip: None,
            },
            expected: None,
        });
    } else {
        ctx.note(
            "no summary.json in the snapshot folder: the acceptance test will have nothing to compare with"
                .into(),
        );
    }
    let plan = UploadPlan {
        dir: cfg.snapshot_dir.clone(),
        items,
        overwrite: false,
        jobs: cfg.jobs,
        chunk_size: DEFAULT_CHUNK,
    };
    let notes = ctx.notes.clone();
    let total: u64 = plan
        .items
        .iter()
        .map(|i| std::fs::metadata(&i.path).map(|m| m.len()).unwrap_or(0))
        .sum();
    let progress = ctx.progress.clone();
    let done: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let on_event = Arc::new(move |ev: UploadEvent| match ev {
        UploadEvent::Note { object, message } => {
            if let Ok(mut n) = notes.lock() {
                n.push(format!("{object}: {message}"));
            }
        }
        UploadEvent::Progress {
            object, input_done, ..
        } => {
            if let (Some(p), Ok(mut d)) = (&progress, done.lock()) {
                d.insert(object, input_done);
                p(StepId::Upload, d.values().sum(), Some(total));
            }
        }
        _ => {}
    }) as snapshot::upload::UploadProgress;
    let started = Instant::now();
    let results = snapshot::upload::upload(store.clone(), &plan, on_event)
        .await
        .map_err(|e| {
            Failure::error(
                format!("uploading to {}: {}", store.describe(), chain(&e)),
                Some("fix the cause; finished objects are kept and an interrupted one continues where the server stopped".into()),
            )
        })?;
    let seconds = started.elapsed().as_secs_f64();
    let mut sent = 0u64;
    let mut objects = Vec::new();
    for r in &results {
        if !r.skipped {
            sent += r.record.size.saturating_sub(r.resumed_at);
        }
        objects.push(ObjectRecord {
            object: r.record.object.clone(),
            size: r.record.size,
            source_size: r.record.source_size,
            sanitizer: r.record.sanitizer.clone(),
            changes: r.record.changes,
            skipped: r.skipped,
            resumed_at: r.resumed_at,
        });
    }
    let total: u64 = objects.iter().map(|o| o.size).sum();
    let changes: usize = objects.iter().map(|o| o.changes).sum();
    let rec = UploadRecordSet {
        location: store.describe(),
        bytes_sent: sent,
        seconds,
        objects,
    };
    records::save(ctx.dir(), StepId::Upload, &rec).map_err(rec_err)?;
    let figures = fig(&[
        ("objects", json!(rec.objects.len())),
        ("bytes", json!(total)),
        ("bytes_sent", json!(sent)),
        ("seconds", json!(seconds)),
        (
            "bytes_per_second",
            json!((sent as f64 / seconds.max(0.001)) as u64),
        ),
        ("sanitizer_changes", json!(changes)),
        ("location", json!(store.describe())),
    ]);
    Ok(Outcome::done(
        format!(
            "{} objects ({}) in {}, {} sent at {}/s; manifest.json last",
            rec.objects.len(),
            bytes(total),
            store.describe(),
            bytes(sent),
            bytes((sent as f64 / seconds.max(0.001)) as u64)
        ),
        figures,
    ))
}

async fn verify(ctx: &mut Ctx<'_>, step: StepId) -> Result<Outcome, Failure> {
    let store = ctx.store().await?;
    let dir = ctx.dir().to_path_buf();
    let local = dir
        .join(snapshot::MANIFEST_FILE)
        .exists()
        .then_some(dir.as_path());
    let report = snapshot::verify::verify(&store, local).await.map_err(|e| {
        Failure::error(
            format!("verifying {}: {}", store.describe(), chain(&e)),
            Some("check the bucket and the credentials; an unfinished upload has no manifest.json in the bucket: finish it first".into()),
        )
    })?;
    let mode = match report.mode {
        snapshot::verify::VerifyMode::ReadBack => "read-back",
        snapshot::verify::VerifyMode::Recorded => "recorded",
    };
    let rec = VerifyRecord {
        mode: mode.into(),
        location: report.location.clone(),
        ok: report.is_ok(),
        objects: report
            .objects
            .iter()
            .map(|o| VerifiedObject {
                object: o.object.clone(),
                role: o.role.clone(),
                size: o.size,
                tables_ok: o.tables_ok,
                problems: o.problems.clone(),
            })
            .collect(),
        problems: report.problems.clone(),
    };
    records::save(&dir, step, &rec).map_err(rec_err)?;
    if step == StepId::VerifyBucket && report.manifest_in_bucket {
        // The operator has no snapshot folder: keep the bucket's manifest for the report.
        if let Ok(m) = ImportSource::Bucket(store.clone()).manifest().await {
            records::save_as(&dir.join(RECORDS_DIR).join(BUCKET_MANIFEST), &m).map_err(rec_err)?;
        }
    }
    let tables: (usize, usize) = rec
        .objects
        .iter()
        .filter_map(|o| o.tables_ok)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let figures = fig(&[
        ("mode", json!(mode)),
        ("objects", json!(rec.objects.len())),
        ("tables_ok", json!(tables.0)),
        ("tables", json!(tables.1)),
        ("ok", json!(rec.ok)),
    ]);
    if !rec.ok {
        let mut problems: Vec<String> = rec.problems.clone();
        for o in &rec.objects {
            problems.extend(o.problems.iter().map(|p| format!("{}: {p}", o.object)));
        }
        return Err(Failure::check(
            format!("{} differs from the manifest: {}", rec.location, problems.join("; ")),
            Some("the customer uploads the damaged or missing objects again (remove them from the bucket, then `migrate --from-step=upload`)".into()),
        )
        .with(figures));
    }
    let how = if mode == "recorded" {
        "as recorded at upload (these credentials cannot read the bucket; the operator verifies with read access)"
    } else {
        "read back byte for byte"
    };
    Ok(Outcome::done(
        format!(
            "{}: {} objects, {}/{} tables' fingerprints match, {how}",
            rec.location,
            rec.objects.len(),
            tables.0,
            tables.1
        ),
        figures,
    ))
}

// ---- operator ---------------------------------------------------------------

fn target(ctx: &Ctx<'_>) -> Result<pgload::ConnSpec, Failure> {
    ctx.cfg.target_conn().map_err(rec_err)
}

async fn reset(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    let conn = target(ctx)?;
    let opts = snapshot::reset::ResetOptions {
        databases: ctx
            .cfg
            .target
            .databases
            .roles()
            .into_iter()
            .map(|(_, n)| n)
            .collect(),
        yes: true,
        force: ctx.cfg.target.reset_force,
    };
    let report = snapshot::reset::reset(&conn, &opts).await.map_err(|e| {
        Failure::error(
            format!("resetting databases on {}: {}", conn.describe("…"), chain(&e)),
            Some("check target.url, the password and that the server is up".into()),
        )
    })?;
    let mut per = serde_json::Map::new();
    for d in &report.databases {
        let b = &d.before;
        let state = if !b.exists {
            "absent"
        } else if b.is_empty() {
            "empty"
        } else if b.looks_like_sourcegraph {
            "Sourcegraph"
        } else {
            "other data"
        };
        per.insert(
            b.name.clone(),
            json!({"before": state, "tables": b.tables, "recreated": d.recreated, "sessions_ended": d.sessions_ended}),
        );
    }
    let figures = fig(&[("databases", Value::Object(per))]);
    if !report.refused.is_empty() {
        let why: Vec<String> = report
            .refused
            .iter()
            .map(|r| format!("{}: {}", r.database, r.reason))
            .collect();
        return Err(Failure::check(
            format!("refused, nothing was dropped: {}", why.join("; ")),
            Some("if these databases hold nothing you need, set target.reset_force: true (it also ends their sessions)".into()),
        )
        .with(figures));
    }
    Ok(Outcome::done(
        format!(
            "{} databases empty and owned by {}",
            report.databases.len(),
            conn.user()
        ),
        figures,
    ))
}

async fn import(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    let conn = target(ctx)?;
    let store = ctx.store().await?;
    let source = ImportSource::Bucket(store.clone());
    let cfg = ctx.cfg;
    let opts = snapshot::import::ImportOptions {
        databases: cfg.target.databases.roles(),
        jobs: cfg.jobs,
        spool_dir: cfg.target.spool_dir.clone().unwrap_or_else(std::env::temp_dir),
        spool_limit: 16 << 30,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let progress = ctx.progress.clone();
    let shown = tokio::spawn(async move {
        use snapshot::import::ImportEvent as E;
        let (mut done, mut total) = (0u64, 0u64);
        while let Some(ev) = rx.recv().await {
            match ev {
                E::Planned { bytes, .. } => total += bytes,
                E::Progress { bytes, .. }
                | E::TableDone {
                    bytes, resumed: true, ..
                } => done += bytes,
                _ => continue,
            }
            if let Some(p) = &progress {
                p(StepId::Import, done, Some(total));
            }
        }
    });
    let result = snapshot::import::import(&source, &conn, &opts, tx).await;
    shown.abort();
    let report = result.map_err(|e| {
        let hint = match &e {
            snapshot::SnapshotError::Sql(_) => {
                "fix the cause on the target (or the dump); what committed is kept and the import continues"
            }
            snapshot::SnapshotError::TargetNotEmpty { .. } => {
                "something wrote to the target after reset (is the managed instance frozen?): remove it, or stop the writer and rerun from reset (`--from-step=reset`)"
            }
            snapshot::SnapshotError::Mismatch { .. } => {
                "the bucket no longer matches its manifest: upload again and verify"
            }
            _ => "fix the cause (unreachable target, bucket, credentials); the import continues where it stopped",
        };
        Failure::error(
            format!("importing {} into {}: {}", source.describe(), conn.describe("…"), chain(&e)),
            Some(hint.into()),
        )
    })?;
    let rec = ImportRecord {
        server_version: report.server_version.clone(),
        user: report.user.clone(),
        seconds: report.seconds,
        data_bytes: report.data_bytes,
        data_seconds: report.data_seconds,
        databases: report
            .databases
            .iter()
            .map(|d| ImportedDatabase {
                role: d.role.clone(),
                database: d.database.clone(),
                source: d.source.clone(),
                tables: d.tables.len(),
                rows: d.tables.iter().map(|t| t.rows).sum(),
                bytes: d.tables.iter().map(|t| t.bytes).sum(),
                removed: d.removed.clone(),
                resumed: d.resumed,
            })
            .collect(),
    };
    records::save(ctx.dir(), StepId::Import, &rec).map_err(rec_err)?;
    let tables: usize = rec.databases.iter().map(|d| d.tables).sum();
    let rows: u64 = rec.databases.iter().map(|d| d.rows).sum();
    let copy_bytes: u64 = rec.databases.iter().map(|d| d.bytes).sum();
    let removed: usize = rec.databases.iter().map(|d| d.removed.len()).sum();
    let rate = (report.data_bytes as f64 / report.data_seconds.max(0.001)) as u64;
    let figures = fig(&[
        ("tables", json!(tables)),
        ("rows", json!(rows)),
        ("bytes", json!(copy_bytes)),
        ("data_bytes", json!(report.data_bytes)),
        ("data_seconds", json!(report.data_seconds)),
        ("bytes_per_second", json!(rate)),
        ("removed_statements", json!(removed)),
        ("server_version", json!(report.server_version)),
        ("resumed", json!(rec.databases.iter().any(|d| d.resumed))),
    ]);
    Ok(Outcome::done(
        format!(
            "{tables} tables, {rows} rows into PostgreSQL {} as {}; every table matched its fingerprint; {removed} statements left out{}",
            report.server_version,
            report.user,
            if rec.databases.iter().any(|d| d.resumed) {
                " (continued an interrupted import)"
            } else {
                ""
            }
        ),
        figures,
    ))
}

/// Each table's size on the target: heap and TOAST, without the free-space
/// and visibility maps (which vacuum grows at its own pace).
async fn table_sizes(conn: &pgload::ConnSpec, db: &str) -> Result<BTreeMap<String, u64>, pgload::PgError> {
    let client = conn.connect(db).await?;
    let rows = client
        .query(
            "SELECT n.nspname::text || '.' || c.relname::text, \
                    (pg_relation_size(c.oid) + COALESCE(pg_relation_size(NULLIF(c.reltoastrelid, 0)), 0))::bigint \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%'",
            &[],
        )
        .await
        .map_err(|e| pgload::PgError::query(format!("reading table sizes of {db}"), e))?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
        .collect())
}

async fn compare(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    let conn = target(ctx)?;
    let store = ctx.store().await?;
    let source = ImportSource::Bucket(store);
    let roles = ctx.cfg.target.databases.roles();
    let report = snapshot::compare::compare(&source, &conn, &roles, ctx.cfg.jobs)
        .await
        .map_err(|e| {
            Failure::error(
                format!(
                    "comparing {} with {}: {}",
                    conn.describe("…"),
                    source.describe(),
                    chain(&e)
                ),
                Some("check that the target is reachable".into()),
            )
        })?;
    let mut databases = Vec::new();
    for d in &report.databases {
        let sizes = table_sizes(&conn, &d.database).await.unwrap_or_default();
        let value = |v: &snapshot::compare::ValueComparison| ComparedValue {
            name: v.name.clone(),
            expected: v.expected.clone(),
            actual: v.actual.clone(),
            equal: v.equal,
            note: v.note.clone(),
        };
        databases.push(ComparedDatabase {
            role: d.role.clone(),
            database: d.database.clone(),
            equal: d.is_equal(),
            tables: d
                .tables
                .iter()
                .map(|t| ComparedTable {
                    table: t.table.clone(),
                    expected_rows: t.expected_rows,
                    actual_rows: t.actual_rows,
                    equal: t.equal,
                    target_bytes: sizes.get(&t.table).copied(),
                })
                .collect(),
            objects: d.objects.iter().map(value).collect(),
            sequences: (d.sequences.iter().filter(|s| s.equal).count(), d.sequences.len()),
            extensions: d.extensions.iter().map(value).collect(),
        });
    }
    let rec = CompareRecord {
        equal: report.equal,
        seconds: report.seconds,
        databases,
    };
    records::save(ctx.dir(), StepId::Compare, &rec).map_err(rec_err)?;
    let tables: usize = rec.databases.iter().map(|d| d.tables.len()).sum();
    let equal_tables: usize = rec
        .databases
        .iter()
        .map(|d| d.tables.iter().filter(|t| t.equal).count())
        .sum();
    let rows: u64 = rec
        .databases
        .iter()
        .flat_map(|d| &d.tables)
        .map(|t| t.actual_rows.unwrap_or(0))
        .sum();
    let figures = fig(&[
        ("equal", json!(rec.equal)),
        ("tables", json!(tables)),
        ("tables_equal", json!(equal_tables)),
        ("rows", json!(rows)),
    ]);
    if !rec.equal {
        let mut diffs = Vec::new();
        for d in &rec.databases {
            for t in d.tables.iter().filter(|t| !t.equal) {
                diffs.push(match t.actual_rows {
                    None => format!("{}: table {} is missing", d.database, t.table),
                    Some(r) => format!(
                        "{}: table {} differs ({} rows in the snapshot, {r} on the target)",
                        d.database, t.table, t.expected_rows
                    ),
                });
            }
            for v in d
                .objects
                .iter()
                .chain(&d.extensions)
                .filter(|v| !v.equal && v.note.is_none())
            {
                diffs.push(format!(
                    "{}: {}: {} in the snapshot, {} on the target",
                    d.database, v.name, v.expected, v.actual
                ));
            }
            if d.sequences.0 != d.sequences.1 {
                diffs.push(format!(
                    "{}: {} of {} sequences differ",
                    d.database,
                    d.sequences.1 - d.sequences.0,
                    d.sequences.1
                ));
            }
        }
        return Err(Failure::check(
            format!("the target differs from the snapshot: {}", diffs.join("; ")),
            Some("find out what changed the target (`src-snapshot compare` shows each difference); undo it, or reset and import again (`--from-step=reset`)".into()),
        )
        .with(figures));
    }
    Ok(Outcome::done(
        format!(
            "equal: {equal_tables}/{tables} tables, {rows} rows, schema objects, sequences and extensions"
        ),
        figures,
    ))
}

async fn upgrade_plan(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    use sgapi::upgrade::{docker_run, Assessment, ComposeOptions, MigrationLogEntry, Schema, SchemaState};
    let cfg = ctx.cfg;
    let Some(to) = cfg.migrator.to.clone() else {
        return Ok(Outcome::skipped(
            "no migrator.to in the config: the managed version is not known, nothing to plan",
        ));
    };
    let conn = target(ctx)?;
    let roles = cfg.target.databases.roles();
    let state = snapshot::upgrade::live_state(&conn, &roles).await.map_err(|e| {
        Failure::error(
            format!(
                "reading the migration state of {}: {}",
                conn.describe("…"),
                chain(&e)
            ),
            Some("check that the target is reachable".into()),
        )
    })?;
    let schema_of = |r: DbRole| match r {
        DbRole::Pgsql => Schema::Frontend,
        DbRole::Codeintel => Schema::Codeintel,
        DbRole::Codeinsights => Schema::Codeinsights,
    };
    let from = state
        .sourcegraph
        .as_ref()
        .map(|v| v.version.clone())
        .ok_or_else(|| {
            Failure::error(
                format!("{} has no frontend row in its versions table", conn.describe(&cfg.target.databases.pgsql)),
                Some("the imported frontend database should hold Sourcegraph's versions table; check the snapshot".to_string()),
            )
        })?;
    let schemas: Vec<SchemaState> = state
        .databases
        .iter()
        .map(|d| {
            let rows: Option<Vec<MigrationLogEntry>> = d.rows.as_ref().map(|rows| {
                rows.iter()
                    .map(|r| MigrationLogEntry {
                        id: r.id,
                        schema: r.schema.clone(),
                        version: r.version,
                        up: r.up,
                        started_at_micros: r.started_at_micros,
                        success: r.success,
                        error_message: r.error_message.clone(),
                    })
                    .collect()
            });
            SchemaState::from_logs(schema_of(d.role), rows.as_deref())
        })
        .collect();
    let a = Assessment::new(&from, &to, schemas);
    let compose = a.plan.as_ref().and_then(|p| {
        docker_run(
            p,
            &ComposeOptions {
                network: cfg.migrator.network.clone(),
                databases: roles.iter().map(|(r, n)| (schema_of(*r), n.clone())).collect(),
                user: Some(conn.user().to_string()),
            },
        )
    });
    let rec = UpgradeRecord {
        from: from.clone(),
        to: to.clone(),
        ok: a.ok(),
        args: a.plan.as_ref().map(|p| p.command.args()),
        command: a.plan.as_ref().map(|p| p.command.command_line()),
        image: a.plan.as_ref().and_then(|p| p.image.clone()),
        compose,
        notes: a.plan.as_ref().map(|p| p.notes.clone()).unwrap_or_default(),
        problems: a
            .problems
            .iter()
            .map(|p| PlanProblem {
                message: p.message.clone(),
                hint: p.hint.clone(),
            })
            .collect(),
    };
    records::save(ctx.dir(), StepId::UpgradePlan, &rec).map_err(rec_err)?;
    let figures = fig(&[
        ("from", json!(from)),
        ("to", json!(to)),
        ("command", json!(rec.command)),
        ("image", json!(rec.image)),
        ("ok", json!(rec.ok)),
    ]);
    if !rec.ok {
        let msgs: Vec<&str> = rec.problems.iter().map(|p| p.message.as_str()).collect();
        let hints: Vec<&str> = rec.problems.iter().map(|p| p.hint.as_str()).collect();
        return Err(Failure::check(
            format!("cannot plan Sourcegraph {from} → {to}: {}", msgs.join("; ")),
            Some(hints.join("; ")),
        )
        .with(figures));
    }
    Ok(Outcome::done(
        format!(
            "Sourcegraph {from} → {to}: {}",
            rec.command.clone().unwrap_or_default()
        ),
        figures,
    ))
}

async fn migrator(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    let cfg = ctx.cfg;
    if ctx.journal.get(StepId::UpgradePlan).status == Status::Skipped {
        return Ok(Outcome::skipped("no upgrade plan (migrator.to is not set)"));
    }
    let plan: UpgradeRecord = records::load(ctx.dir(), StepId::UpgradePlan).ok_or_else(|| {
        Failure::error(
            "the upgrade plan's record is missing from the snapshot folder",
            Some("run the upgrade-plan step again: `migrate --from-step=upgrade-plan`".to_string()),
        )
    })?;
    let argv = crate::commands::migrator_argv(cfg, &plan)
        .ok_or_else(|| Failure::error("the upgrade plan has no migrator command", None))?;
    let line = argv
        .iter()
        .map(|a| pgdump::shell::quote(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if !cfg.migrator.run {
        return Ok(Outcome::skipped(format!(
            "not run (migrator.run is false): run it by hand: {line}"
        )));
    }
    let out = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Failure::error(
                format!("running {}: {e}", argv[0]),
                Some("check migrator.command in the config (the program must be installed here)".to_string()),
            )
        })?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let tail: String = {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    let rec = MigratorRecord {
        argv: argv.clone(),
        status: out.status.code(),
        output_tail: tail.clone(),
    };
    records::save(ctx.dir(), StepId::Migrator, &rec).map_err(rec_err)?;
    let figures = fig(&[
        ("command", json!(line)),
        ("exit_status", json!(out.status.code())),
    ]);
    if !out.status.success() {
        return Err(Failure::error(
            format!("{line} exited with {}: {}", out.status, tail.lines().last().unwrap_or("")),
            Some("read the migrator's output (migration/migrator.json); a dirty database needs `migrator add-log` after a repair".into()),
        )
        .with(figures));
    }
    Ok(Outcome::done(format!("{line}: done"), figures))
}

async fn test(ctx: &mut Ctx<'_>) -> Result<Outcome, Failure> {
    let cfg = ctx.cfg;
    let path = ctx.dir().join(sgapi::SUMMARY_FILE);
    if !path.exists() {
        // The operator takes the customer's summary from the bucket, as the runbook says.
        let store = ctx.store().await.map_err(|f| {
            Failure::error(
                format!(
                    "no {} and no bucket to fetch it from: {}",
                    path.display(),
                    f.message
                ),
                f.hint,
            )
        })?;
        let bytes = read_object(&store, sgapi::SUMMARY_FILE).await.map_err(|e| {
            Failure::error(
                format!("fetching summary.json from {}: {}", store.describe(), chain(&e)),
                Some("the customer's upload includes summary.json when the summary step ran; run it and upload again".into()),
            )
        })?;
        std::fs::create_dir_all(ctx.dir()).map_err(err)?;
        snapshot::fsutil::write_atomic(&path, &bytes).map_err(err)?;
    }
    let before = sgapi::Summary::read(&path).map_err(api_err)?;
    let inst = cfg
        .target
        .instance
        .as_ref()
        .ok_or_else(|| Failure::error("no target.instance", None))?;
    let client = inst.client().map_err(api_err)?;
    let since =
        sgapi::time::parse_go_duration(&cfg.test.since).map_err(|e| Failure::error(e.to_string(), None))?;
    let expected_version = if ctx.journal.get(StepId::Migrator).status == Status::Succeeded {
        records::load::<UpgradeRecord>(ctx.dir(), StepId::UpgradePlan).map(|p| crate::commands::minor(&p.to))
    } else {
        None
    };
    let opts = sgapi::TestOptions {
        since,
        expected_version,
        ..sgapi::TestOptions::default()
    };
    let rep = sgapi::run_test(&client, &before, &opts).await.map_err(api_err)?;
    records::save(ctx.dir(), StepId::Test, &rep).map_err(rec_err)?;
    let count = |s: sgapi::Severity| rep.findings.iter().filter(|f| f.severity == s).count();
    let figures = fig(&[
        ("passed", json!(rep.passed())),
        ("critical", json!(count(sgapi::Severity::Critical))),
        ("warnings", json!(count(sgapi::Severity::Warning))),
        (
            "external_services",
            json!(rep.current.external_services.total_count),
        ),
        (
            "auth_providers",
            json!(rep.current.site.auth_providers.total_count),
        ),
    ]);
    if !rep.passed() {
        let crit: Vec<String> = rep
            .findings
            .iter()
            .filter(|f| f.severity == sgapi::Severity::Critical)
            .map(|f| format!("{}: {}", f.check, f.message))
            .collect();
        return Err(Failure::check(
            format!("{} does not match the summary: {}", rep.endpoint, crit.join("; ")),
            Some("look into each finding on the managed instance (`src-snapshot test` shows them all) and fix it".into()),
        )
        .with(figures));
    }
    Ok(Outcome::done(
        format!(
            "PASS: {} matches the summary ({} external services, {} auth providers); {} warnings",
            rep.endpoint,
            rep.current.external_services.total_count,
            rep.current.site.auth_providers.total_count,
            count(sgapi::Severity::Warning)
        ),
        figures,
    ))
}

async fn read_object(store: &Store, name: &str) -> Result<Vec<u8>, bucket::BucketError> {
    let mut s = store.read(name).await?;
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Reads the bucket's copy of the journal, if any.
pub(crate) async fn read_bucket_journal(store: &Store) -> Result<Option<Vec<u8>>, bucket::BucketError> {
    match read_object(store, crate::journal::JOURNAL_FILE).await {
        Ok(b) => Ok(Some(b)),
        Err(bucket::BucketError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_url_encodes_and_omits_the_password() {
        let t = Target {
            target: "/var/run/postgresql".into(),
            dbname: "sg".into(),
            username: "s g".into(),
            password: Some(pgdump::Password::new("secret").expect("password")),
            port: Some(5433),
        };
        let u = conn_url(&t);
        assert_eq!(u, "postgres://s%20g@%2Fvar%2Frun%2Fpostgresql:5433/sg");
        assert!(!u.contains("secret"));
    }
}
