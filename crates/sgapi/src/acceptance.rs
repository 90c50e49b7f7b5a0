//! The acceptance `test`: the new instance against a summary (src-cli's
//! exact-equality part, plus our counts with deltas), then health checks.
//! Gathering ([`fetch_health`]) and judging ([`evaluate`]) are separate so
//! the rules are tested without a server.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Client;
use crate::error::ApiError;
use crate::ops;
use crate::summary::{next_cursor, take_summary, PageInfo, Summary, SummaryOptions};
use crate::time::parse_rfc3339;
use crate::version::{ProductVersion, Version};

/// How bad a finding is. `Critical` fails the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Look at it, but the migration is not wrong because of it.
    Warning,
    /// Something was lost or is broken.
    Critical,
}

impl Severity {
    /// `info`, `warning`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One result of the test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check: `external-services`, `auth-providers`, `counts`,
    /// `site-config-keys`, `version`, `site-alerts`, `config-validation`,
    /// `external-service-sync`, `permission-sync-jobs`, `oob-migrations`.
    pub check: String,
    /// How bad.
    pub severity: Severity,
    /// What was found, naming the thing.
    pub message: String,
}

impl Finding {
    fn new(check: &str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            check: check.to_string(),
            severity,
            message: message.into(),
        }
    }
}

/// One count before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountDelta {
    /// `Repositories`, `Users`, …
    pub name: String,
    /// In the summary.
    pub expected: Option<u64>,
    /// On the instance now.
    pub actual: Option<u64>,
    /// `actual - expected` when both are known.
    pub delta: Option<i64>,
}

/// What the test found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestReport {
    /// The instance tested.
    pub endpoint: String,
    /// The health-check window in seconds (`-since`).
    pub since_seconds: u64,
    /// Every count compared (empty for a src-cli summary, which has none).
    pub counts: Vec<CountDelta>,
    /// Every finding, most severe first.
    pub findings: Vec<Finding>,
    /// `pass` or `fail`.
    pub verdict: String,
    /// The instance's summary now (what was compared).
    pub current: Summary,
}

impl TestReport {
    /// No critical finding.
    pub fn passed(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Critical)
    }
}

/// Options of the test.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Health-check window (src-cli's `-since`, default 1 h).
    pub since: Duration,
    /// The version the new instance must run (`major.minor`; patch ignored).
    pub expected_version: Option<String>,
    /// Summary options for the "after" summary.
    pub summary: SummaryOptions,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            since: Duration::from_secs(3600),
            expected_version: None,
            summary: SummaryOptions::default(),
        }
    }
}

/// A site alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// `ERROR`, `WARNING` or `INFO`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The message (Markdown).
    pub message: String,
}

/// An external service's sync state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSync {
    /// GraphQL ID.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Display name.
    pub display_name: String,
    /// Error of the most recent completed sync.
    pub last_sync_error: Option<String>,
    /// State of the most recent sync job, when the server reports jobs.
    pub last_job_state: Option<String>,
    /// When it finished.
    pub last_job_finished_at: Option<String>,
}

/// A permission sync job that errored or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionJob {
    /// GraphQL ID.
    pub id: String,
    /// `ERRORED` or `FAILED`.
    pub state: String,
    /// The failure message.
    pub failure_message: Option<String>,
    /// `user alice` / `repository github.com/a/b`.
    pub subject: String,
    /// When it finished (or was queued, if it never finished).
    pub at: Option<String>,
}

/// An out-of-band migration with errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OobMigration {
    /// GraphQL ID.
    pub id: String,
    /// Team and component.
    pub component: String,
    /// Description.
    pub description: String,
    /// Progress in [0, 1].
    pub progress: f64,
    /// (message, created) of each recorded error.
    pub errors: Vec<(String, String)>,
}

impl Eq for OobMigration {}

/// Health facts of the instance, as gathered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `site.alerts`.
    pub alerts: Vec<Alert>,
    /// `site.configuration.validationMessages`.
    pub validation_messages: Vec<String>,
    /// Each external service's sync state.
    pub services: Vec<ServiceSync>,
    /// Whether the server reported sync jobs (`ExternalService.syncJobs`).
    pub sync_jobs_known: bool,
    /// Errored or failed permission sync jobs (all of them; the window is
    /// applied by [`evaluate`]).
    pub permission_jobs: Vec<PermissionJob>,
    /// Out-of-band migrations that have errors.
    pub oob_migrations: Vec<OobMigration>,
    /// `site.productVersion`.
    pub product_version: Option<String>,
    /// Checks this server could not answer, with why.
    pub unsupported: Vec<(String, String)>,
}

/// Compares the summary taken before with the one taken now.
pub fn compare(before: &Summary, now: &Summary) -> (Vec<Finding>, Vec<CountDelta>) {
    let mut f = Vec::new();
    compare_services(before, now, &mut f);
    compare_providers(before, now, &mut f);
    let mut deltas = Vec::new();
    if let (Some(b), Some(n)) = (&before.counts, &now.counts) {
        for ((name, e), (_, a)) in b.entries().into_iter().zip(n.entries()) {
            let delta = match (e, a) {
                (Some(e), Some(a)) => Some(a as i64 - e as i64),
                _ => None,
            };
            match (e, a, delta) {
                (Some(e), Some(a), Some(d)) if d < 0 => f.push(Finding::new(
                    "counts",
                    Severity::Critical,
                    format!("{name}: {a} now, {e} in the summary ({d})"),
                )),
                (Some(e), Some(a), Some(d)) if d > 0 => f.push(Finding::new(
                    "counts",
                    Severity::Warning,
                    format!("{name}: {a} now, {e} in the summary (+{d}: added since the summary?)"),
                )),
                (Some(e), None, _) => f.push(Finding::new(
                    "counts",
                    Severity::Warning,
                    format!("{name}: {e} in the summary, not countable on this instance"),
                )),
                _ => {}
            }
            deltas.push(CountDelta {
                name: name.to_string(),
                expected: e,
                actual: a,
                delta,
            });
        }
    }
    if let (Some(b), Some(n)) = (&before.site_config_keys, &now.site_config_keys) {
        let now_keys: BTreeSet<&String> = n.iter().collect();
        let before_keys: BTreeSet<&String> = b.iter().collect();
        for k in before_keys.difference(&now_keys) {
            f.push(Finding::new(
                "site-config-keys",
                Severity::Warning,
                format!("site configuration key {k:?} was set in the summary and is not set now"),
            ));
        }
        for k in now_keys.difference(&before_keys) {
            f.push(Finding::new(
                "site-config-keys",
                Severity::Info,
                format!("site configuration key {k:?} is new"),
            ));
        }
    }
    if let (Some(b), Some(n)) = (&before.product_version, &now.product_version) {
        if let (Some(bv), Some(nv)) = (
            ProductVersion::parse(b).release(),
            ProductVersion::parse(n).release(),
        ) {
            if (nv.major, nv.minor) < (bv.major, bv.minor) {
                f.push(Finding::new(
                    "version",
                    Severity::Critical,
                    format!("the instance runs {n}, older than {b} in the summary: the data may not match this version"),
                ));
            }
        }
    }
    (f, deltas)
}

fn service_label(s: &crate::summary::ExternalService) -> String {
    match &s.display_name {
        Some(n) => format!("{} {:?} ({})", s.kind, n, s.id),
        None => format!("{} ({})", s.kind, s.id),
    }
}

fn compare_services(before: &Summary, now: &Summary, f: &mut Vec<Finding>) {
    let (b, n) = (&before.external_services, &now.external_services);
    let check = "external-services";
    let now_by_id: HashMap<&str, &crate::summary::ExternalService> =
        n.nodes.iter().map(|s| (s.id.as_str(), s)).collect();
    let before_by_id: HashMap<&str, &crate::summary::ExternalService> =
        b.nodes.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut named = false;
    for s in &b.nodes {
        match now_by_id.get(s.id.as_str()) {
            None => {
                named = true;
                f.push(Finding::new(
                    check,
                    Severity::Critical,
                    format!("external service {} is missing", service_label(s)),
                ));
            }
            Some(cur) if cur.kind != s.kind => {
                named = true;
                f.push(Finding::new(
                    check,
                    Severity::Critical,
                    format!(
                        "external service {} changed kind: {} in the summary, {} now",
                        s.id, s.kind, cur.kind
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    for s in &n.nodes {
        if !before_by_id.contains_key(s.id.as_str()) {
            named = true;
            f.push(Finding::new(
                check,
                Severity::Critical,
                format!("external service {} is not in the summary", service_label(s)),
            ));
        }
    }
    if !named {
        let ids =
            |x: &crate::summary::ExternalServices| x.nodes.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        if ids(b) != ids(n) {
            f.push(Finding::new(
                check,
                Severity::Critical,
                "external services are listed in a different order than in the summary",
            ));
        }
    }
    if b.total_count != n.total_count {
        f.push(Finding::new(
            check,
            Severity::Critical,
            format!(
                "external services: totalCount {} now, {} in the summary",
                n.total_count, b.total_count
            ),
        ));
    }
}

fn provider_label(p: &crate::summary::AuthProvider) -> String {
    if p.service_id.is_empty() {
        p.service_type.clone()
    } else {
        format!("{} {}", p.service_type, p.service_id)
    }
}

fn compare_providers(before: &Summary, now: &Summary, f: &mut Vec<Finding>) {
    let (b, n) = (&before.site.auth_providers, &now.site.auth_providers);
    let check = "auth-providers";
    let key = |p: &crate::summary::AuthProvider| (p.service_type.clone(), p.service_id.clone());
    let now_keys: Vec<_> = n.nodes.iter().map(key).collect();
    let before_keys: Vec<_> = b.nodes.iter().map(key).collect();
    let mut named = false;
    for p in &b.nodes {
        if !now_keys.contains(&key(p)) {
            named = true;
            f.push(Finding::new(
                check,
                Severity::Critical,
                format!("auth provider {} is missing", provider_label(p)),
            ));
        }
    }
    for p in &n.nodes {
        if !before_keys.contains(&key(p)) {
            named = true;
            f.push(Finding::new(
                check,
                Severity::Critical,
                format!("auth provider {} is not in the summary", provider_label(p)),
            ));
        }
    }
    if !named && before_keys != now_keys {
        f.push(Finding::new(
            check,
            Severity::Critical,
            "auth providers are listed in a different order (or repeated differently) than in the summary",
        ));
    }
    if b.total_count != n.total_count {
        f.push(Finding::new(
            check,
            Severity::Critical,
            format!(
                "auth providers: totalCount {} now, {} in the summary",
                n.total_count, b.total_count
            ),
        ));
    }
}

fn within(at: Option<&str>, since: Duration, now: SystemTime) -> bool {
    let Some(t) = at.and_then(parse_rfc3339) else {
        return false;
    };
    match now.checked_sub(since) {
        Some(start) => t >= start,
        None => true,
    }
}

/// Judges health facts: alerts, config validation, external service sync,
/// permission sync jobs and out-of-band migration errors in the window,
/// and the version against `expected_version`.
pub fn evaluate(h: &Health, opts: &TestOptions, now: SystemTime) -> Vec<Finding> {
    let mut f = Vec::new();
    for a in &h.alerts {
        // src-cli fails on any alert; informational ones ("update available")
        // say nothing about the migration.
        let sev = if a.kind.eq_ignore_ascii_case("INFO") {
            Severity::Info
        } else {
            Severity::Critical
        };
        f.push(Finding::new(
            "site-alerts",
            sev,
            format!("site alert ({}): {}", a.kind, a.message),
        ));
    }
    for m in &h.validation_messages {
        f.push(Finding::new(
            "config-validation",
            Severity::Warning,
            format!("site configuration: {m}"),
        ));
    }
    for s in &h.services {
        let label = format!("{} {:?} ({})", s.kind, s.display_name, s.id);
        if let Some(e) = s.last_sync_error.as_deref().filter(|e| !e.is_empty()) {
            f.push(Finding::new(
                "external-service-sync",
                Severity::Critical,
                format!("external service {label}: last sync failed: {e}"),
            ));
        } else if matches!(s.last_job_state.as_deref(), Some("ERRORED" | "FAILED")) {
            f.push(Finding::new(
                "external-service-sync",
                Severity::Critical,
                format!(
                    "external service {label}: last sync job {}",
                    s.last_job_state.as_deref().unwrap_or_default()
                ),
            ));
        }
        if h.sync_jobs_known && !within(s.last_job_finished_at.as_deref(), opts.since, now) {
            f.push(Finding::new(
                "external-service-sync",
                Severity::Info,
                format!(
                    "external service {label}: no sync finished in the last {}",
                    humantime::format_duration(opts.since)
                ),
            ));
        }
    }
    let failed: Vec<&PermissionJob> = h
        .permission_jobs
        .iter()
        .filter(|j| {
            matches!(j.state.as_str(), "ERRORED" | "FAILED") && within(j.at.as_deref(), opts.since, now)
        })
        .collect();
    const SHOWN: usize = 10;
    for j in failed.iter().take(SHOWN) {
        f.push(Finding::new(
            "permission-sync-jobs",
            Severity::Critical,
            format!(
                "permission sync job {} for {} {} at {}: {}",
                j.id,
                j.subject,
                j.state,
                j.at.as_deref().unwrap_or("?"),
                j.failure_message.as_deref().unwrap_or("(no message)")
            ),
        ));
    }
    if failed.len() > SHOWN {
        f.push(Finding::new(
            "permission-sync-jobs",
            Severity::Critical,
            format!(
                "{} more permission sync jobs errored or failed in the window",
                failed.len() - SHOWN
            ),
        ));
    }
    for m in &h.oob_migrations {
        let recent = m
            .errors
            .iter()
            .filter(|(_, at)| within(Some(at), opts.since, now))
            .count();
        let last = m.errors.first().map(|(msg, _)| msg.as_str()).unwrap_or_default();
        let (sev, when) = if recent > 0 {
            (Severity::Critical, format!("{recent} in the window"))
        } else {
            (Severity::Warning, "none in the window".to_string())
        };
        f.push(Finding::new(
            "oob-migrations",
            sev,
            format!(
                "out-of-band migration {} ({}, {:.0}% done) has {} errors ({when}); latest: {last}",
                m.id,
                m.component,
                m.progress * 100.0,
                m.errors.len()
            ),
        ));
    }
    if let Some(expected) = &opts.expected_version {
        match (&h.product_version, crate::version::parse_release(expected)) {
            (_, None) => f.push(Finding::new(
                "version",
                Severity::Critical,
                format!("expected version {expected:?} is not a version"),
            )),
            (None, Some(_)) => f.push(Finding::new(
                "version",
                Severity::Warning,
                "the instance did not report its version",
            )),
            (Some(actual), Some(want)) => match ProductVersion::parse(actual) {
                ProductVersion::Release(v) if same_minor(v, want) => f.push(Finding::new(
                    "version",
                    Severity::Info,
                    format!("runs {actual} as expected"),
                )),
                ProductVersion::Release(_) => f.push(Finding::new(
                    "version",
                    Severity::Critical,
                    format!("the instance runs {actual}, expected {expected}"),
                )),
                ProductVersion::Dev(_) => f.push(Finding::new(
                    "version",
                    Severity::Warning,
                    format!("the instance runs a dev build {actual:?}, expected {expected}"),
                )),
            },
        }
    }
    for (check, why) in &h.unsupported {
        f.push(Finding::new(
            check,
            Severity::Warning,
            format!("not checked: {why}"),
        ));
    }
    f
}

fn same_minor(a: Version, b: Version) -> bool {
    a.major == b.major && a.minor == b.minor
}

/// Records a part this server lacks instead of failing the whole test.
fn degrade<T>(h: &mut Health, check: &str, r: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e @ ApiError::Unsupported { .. }) => {
            h.unsupported.push((check.to_string(), e.to_string()));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Gathers the health facts; each part the server does not support (an
/// older Sourcegraph) is skipped and noted rather than failing the rest.
///
/// # Errors
/// As [`Client::execute`] for anything but unknown fields.
pub async fn fetch_health(client: &Client) -> Result<Health, ApiError> {
    let mut h = Health::default();
    if let Some(d) = degrade(
        &mut h,
        "site-alerts",
        client
            .execute::<HealthData>(&ops::INSTANCE_HEALTH, json!({}))
            .await,
    )? {
        h.alerts = d.site.alerts;
        h.validation_messages = d.site.configuration.validation_messages;
    }
    match external_service_health(client, &ops::EXTERNAL_SERVICES_HEALTH_PAGE).await {
        Ok(s) => {
            h.services = s;
            h.sync_jobs_known = true;
        }
        Err(ApiError::Unsupported { .. }) => {
            let r = external_service_health(client, &ops::EXTERNAL_SERVICES_SYNC_ERRORS_PAGE).await;
            if let Some(s) = degrade(&mut h, "external-service-sync", r)? {
                h.services = s;
            }
        }
        Err(e) => return Err(e),
    }
    let mut jobs = Vec::new();
    let mut supported = true;
    for state in ["ERRORED", "FAILED"] {
        match permission_jobs(client, state).await {
            Ok(j) => jobs.extend(j),
            Err(e @ ApiError::Unsupported { .. }) => {
                h.unsupported.push(("permission-sync-jobs".into(), e.to_string()));
                supported = false;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    if supported {
        h.permission_jobs = jobs;
    }
    if let Some(m) = degrade(&mut h, "oob-migrations", oob_migrations(client).await)? {
        h.oob_migrations = m;
    }
    h.product_version = degrade(&mut h, "version", crate::summary::product_version(client).await)?;
    Ok(h)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthConfig {
    validation_messages: Vec<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthSite {
    alerts: Vec<Alert>,
    configuration: HealthConfig,
}
#[derive(Deserialize)]
struct HealthData {
    site: HealthSite,
}

async fn external_service_health(client: &Client, op: &ops::Operation) -> Result<Vec<ServiceSync>, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Job {
        state: String,
        finished_at: Option<String>,
    }
    #[derive(Deserialize)]
    struct Jobs {
        nodes: Vec<Job>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Node {
        id: String,
        kind: String,
        display_name: String,
        last_sync_error: Option<String>,
        sync_jobs: Option<Jobs>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Conn {
        page_info: PageInfo,
        nodes: Vec<Node>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct D {
        external_services: Conn,
    }
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d: D = client
            .execute(op, json!({ "first": client.page_size(), "after": after }))
            .await?;
        for n in d.external_services.nodes {
            let job = n.sync_jobs.and_then(|j| j.nodes.into_iter().next());
            out.push(ServiceSync {
                id: n.id,
                kind: n.kind,
                display_name: n.display_name,
                last_sync_error: n.last_sync_error,
                last_job_state: job.as_ref().map(|j| j.state.clone()),
                last_job_finished_at: job.and_then(|j| j.finished_at),
            });
        }
        match next_cursor(op, &d.external_services.page_info, &after)? {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    Ok(out)
}

/// Most permission sync jobs read; the API lists newest first, so a
/// longer history than this is older than any sensible `-since`.
const MAX_PERMISSION_JOBS: usize = 10_000;

async fn permission_jobs(client: &Client, state: &str) -> Result<Vec<PermissionJob>, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Subject {
        #[serde(rename = "__typename")]
        typename: String,
        username: Option<String>,
        name: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Job {
        id: String,
        state: String,
        failure_message: Option<String>,
        queued_at: Option<String>,
        finished_at: Option<String>,
        subject: Option<Subject>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Conn {
        page_info: PageInfo,
        nodes: Vec<Job>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct D {
        permissions_sync_jobs: Conn,
    }
    let op = ops::PERMISSION_SYNC_JOBS;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d: D = client
            .execute(
                &op,
                json!({ "first": client.page_size(), "after": after, "state": state }),
            )
            .await?;
        for j in d.permissions_sync_jobs.nodes {
            let subject = match j.subject {
                Some(s) if s.typename == "User" => format!("user {}", s.username.unwrap_or_default()),
                Some(s) if s.typename == "Repository" => format!("repository {}", s.name.unwrap_or_default()),
                Some(s) => s.typename,
                None => "?".into(),
            };
            out.push(PermissionJob {
                id: j.id,
                state: j.state,
                failure_message: j.failure_message,
                subject,
                at: j.finished_at.or(j.queued_at),
            });
        }
        if out.len() >= MAX_PERMISSION_JOBS {
            break;
        }
        match next_cursor(&op, &d.permissions_sync_jobs.page_info, &after)? {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    Ok(out)
}

async fn oob_migrations(client: &Client) -> Result<Vec<OobMigration>, ApiError> {
    #[derive(Deserialize)]
    struct E {
        message: String,
        created: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct M {
        id: String,
        team: String,
        component: String,
        description: String,
        progress: f64,
        errors: Vec<E>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct D {
        out_of_band_migrations: Vec<M>,
    }
    let d: D = client.execute(&ops::OUT_OF_BAND_MIGRATIONS, json!({})).await?;
    Ok(d.out_of_band_migrations
        .into_iter()
        .filter(|m| !m.errors.is_empty())
        .map(|m| OobMigration {
            id: m.id,
            component: format!("{}/{}", m.team, m.component),
            description: m.description,
            progress: m.progress,
            errors: m.errors.into_iter().map(|e| (e.message, e.created)).collect(),
        })
        .collect())
}

/// Runs the whole test: a summary now, compared with `before`, then the
/// health checks. Findings are sorted most severe first.
///
/// # Errors
/// What [`take_summary`] and [`fetch_health`] return (the test could not run).
pub async fn run_test(client: &Client, before: &Summary, opts: &TestOptions) -> Result<TestReport, ApiError> {
    let current = take_summary(client, &opts.summary).await?;
    let (mut findings, counts) = compare(before, &current);
    let health = fetch_health(client).await?;
    findings.extend(evaluate(&health, opts, SystemTime::now()));
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut report = TestReport {
        endpoint: client.endpoint().to_string(),
        since_seconds: opts.since.as_secs(),
        counts,
        findings,
        verdict: String::new(),
        current,
    };
    report.verdict = if report.passed() { "pass" } else { "fail" }.into();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{AuthProvider, AuthProviders, Counts, ExternalService, ExternalServices, Site};

    fn summary(services: &[(&str, &str)], providers: &[(&str, &str)]) -> Summary {
        Summary {
            external_services: ExternalServices {
                total_count: services.len() as i64,
                nodes: services
                    .iter()
                    .map(|(k, id)| ExternalService {
                        kind: k.to_string(),
                        id: id.to_string(),
                        display_name: None,
                    })
                    .collect(),
            },
            site: Site {
                auth_providers: AuthProviders {
                    total_count: providers.len() as i64,
                    nodes: providers
                        .iter()
                        .map(|(t, id)| AuthProvider {
                            service_type: t.to_string(),
                            service_id: id.to_string(),
                            display_name: None,
                        })
                        .collect(),
                },
            },
            product_version: None,
            counts: None,
            site_config_keys: None,
            notes: vec![],
            generated_by: None,
            generated_at: None,
        }
    }

    fn critical(f: &[Finding]) -> Vec<&str> {
        f.iter()
            .filter(|x| x.severity == Severity::Critical)
            .map(|x| x.message.as_str())
            .collect()
    }

    #[test]
    fn identical_summaries_pass() {
        let s = summary(
            &[("GITHUB", "a"), ("GITLAB", "b")],
            &[("builtin", ""), ("github", "https://github.com/")],
        );
        let (f, d) = compare(&s, &s.clone());
        assert!(f.is_empty(), "{f:?}");
        assert!(d.is_empty());
    }

    #[test]
    fn names_missing_added_changed_and_reordered_services() {
        let before = summary(&[("GITHUB", "a"), ("GITLAB", "b")], &[]);
        let (f, _) = compare(&before, &summary(&[("GITHUB", "a")], &[]));
        assert_eq!(
            critical(&f),
            [
                "external service GITLAB (b) is missing",
                "external services: totalCount 1 now, 2 in the summary"
            ]
        );
        let (f, _) = compare(
            &before,
            &summary(&[("GITHUB", "a"), ("BITBUCKETSERVER", "b")], &[]),
        );
        assert_eq!(
            critical(&f),
            ["external service b changed kind: GITLAB in the summary, BITBUCKETSERVER now"]
        );
        let (f, _) = compare(&before, &summary(&[("GITLAB", "b"), ("GITHUB", "a")], &[]));
        assert_eq!(
            critical(&f),
            ["external services are listed in a different order than in the summary"]
        );
        let (f, _) = compare(
            &before,
            &summary(&[("GITHUB", "a"), ("GITLAB", "b"), ("GERRIT", "c")], &[]),
        );
        assert!(
            critical(&f)[0].contains("GERRIT (c) is not in the summary"),
            "{f:?}"
        );
    }

    #[test]
    fn names_missing_auth_providers() {
        let before = summary(&[], &[("builtin", ""), ("saml", "https://idp/")]);
        let (f, _) = compare(&before, &summary(&[], &[("builtin", "")]));
        assert_eq!(
            critical(&f),
            [
                "auth provider saml https://idp/ is missing",
                "auth providers: totalCount 1 now, 2 in the summary"
            ]
        );
    }

    #[test]
    fn counts_have_deltas_and_a_src_cli_summary_compares_without_them() {
        let mut before = summary(&[], &[]);
        let mut now = before.clone();
        before.counts = Some(Counts {
            repositories: Some(10),
            users: Some(5),
            organizations: Some(1),
            code_intel_uploads: Some(3),
            insight_series: Some(2),
            saved_searches: Some(1),
        });
        now.counts = Some(Counts {
            repositories: Some(9),
            users: Some(6),
            organizations: Some(1),
            code_intel_uploads: None,
            insight_series: Some(2),
            saved_searches: Some(1),
        });
        let (f, d) = compare(&before, &now);
        assert_eq!(critical(&f), ["Repositories: 9 now, 10 in the summary (-1)"]);
        assert!(f
            .iter()
            .any(|x| x.severity == Severity::Warning && x.message.starts_with("Users: 6 now, 5")));
        assert!(f.iter().any(|x| x
            .message
            .starts_with("CodeIntelUploads: 3 in the summary, not countable")));
        assert_eq!(
            d[0],
            CountDelta {
                name: "Repositories".into(),
                expected: Some(10),
                actual: Some(9),
                delta: Some(-1)
            }
        );
        // src-cli's file has no counts: nothing to compare, no findings.
        let src_cli = summary(&[], &[]);
        let (f, d) = compare(&src_cli, &now);
        assert!(f.is_empty() && d.is_empty());
    }

    fn ts(ago: u64, now: SystemTime) -> String {
        crate::time::format_rfc3339(now - Duration::from_secs(ago))
    }

    #[test]
    fn health_rules() {
        let now = SystemTime::now();
        let h = Health {
            alerts: vec![
                Alert {
                    kind: "ERROR".into(),
                    message: "disk full".into(),
                },
                Alert {
                    kind: "INFO".into(),
                    message: "update available".into(),
                },
            ],
            validation_messages: vec!["auth.providers: deprecated".into()],
            services: vec![
                ServiceSync {
                    id: "es1".into(),
                    kind: "GITHUB".into(),
                    display_name: "GitHub".into(),
                    last_sync_error: Some("401 bad credentials".into()),
                    last_job_state: Some("ERRORED".into()),
                    last_job_finished_at: Some(ts(60, now)),
                },
                ServiceSync {
                    id: "es2".into(),
                    kind: "GITLAB".into(),
                    display_name: "GitLab".into(),
                    last_sync_error: None,
                    last_job_state: Some("COMPLETED".into()),
                    last_job_finished_at: Some(ts(7200, now)),
                },
            ],
            sync_jobs_known: true,
            permission_jobs: vec![
                PermissionJob {
                    id: "p1".into(),
                    state: "ERRORED".into(),
                    failure_message: Some("rate limited".into()),
                    subject: "user alice".into(),
                    at: Some(ts(10, now)),
                },
                PermissionJob {
                    id: "p2".into(),
                    state: "FAILED".into(),
                    failure_message: None,
                    subject: "repository r".into(),
                    at: Some(ts(99_999, now)),
                },
            ],
            oob_migrations: vec![OobMigration {
                id: "m1".into(),
                component: "codeintel/lsif_data".into(),
                description: "d".into(),
                progress: 0.5,
                errors: vec![("boom".into(), ts(30, now))],
            }],
            product_version: Some("5.1.2".into()),
            unsupported: vec![],
        };
        let opts = TestOptions {
            expected_version: Some("5.2".into()),
            ..TestOptions::default()
        };
        let f = evaluate(&h, &opts, now);
        let c = critical(&f);
        assert!(c.iter().any(|m| m.contains("disk full")), "{c:?}");
        assert!(!c.iter().any(|m| m.contains("update available")));
        assert!(c
            .iter()
            .any(|m| m.contains("GitHub") && m.contains("401 bad credentials")));
        assert!(c
            .iter()
            .any(|m| m.contains("p1") && m.contains("user alice") && m.contains("ERRORED")));
        assert!(!c.iter().any(|m| m.contains("p2")), "outside the window: {c:?}");
        assert!(c.iter().any(|m| m.contains("out-of-band migration m1")));
        assert!(c.iter().any(|m| m.contains("runs 5.1.2, expected 5.2")));
        assert!(f
            .iter()
            .any(|x| x.severity == Severity::Warning && x.message.contains("deprecated")));
        assert!(f.iter().any(|x| x.severity == Severity::Info
            && x.message.contains("GitLab")
            && x.message.contains("no sync finished")));
        let ok = Health {
            product_version: Some("v5.2.1234".into()),
            ..Health::default()
        };
        assert!(critical(&evaluate(&ok, &opts, now)).is_empty());
    }
}
