//! The objects the emulator resolves and their fields, loaded from the database at query time.
//!
//! One [`Obj`] per GraphQL object; [`V`] says which type it is and holds its row. A field this
//! module does not model is a field error naming it, never a silent null.

use std::sync::Arc;

use apollo_compiler::resolvers::{AsyncObjectValue, AsyncResolvedValue, FieldError, ResolveInfo};
use apollo_compiler::response::{JsonMap, JsonValue};
use futures_util::future::BoxFuture;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::db::ts;
use crate::ids;
use crate::request::Ctx;
use crate::settings;

/// What a resolver returns.
pub(crate) type Res<'a> = Result<AsyncResolvedValue<'a>, FieldError>;

pub(crate) fn ferr(message: impl Into<String>) -> FieldError {
    FieldError {
        message: message.into(),
    }
}

/// Sourcegraph's error for admin-only fields.
pub(crate) const MUST_BE_SITE_ADMIN: &str = "must be site admin";

/// Go's zero time, what Sourcegraph prints for a NULL non-null DateTime.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn leaf<'a>(v: impl Into<JsonValue>) -> Res<'a> {
    Ok(AsyncResolvedValue::leaf(v))
}

fn opt_leaf<'a, T: Into<JsonValue>>(v: Option<T>) -> Res<'a> {
    Ok(match v {
        Some(v) => AsyncResolvedValue::leaf(v),
        None => AsyncResolvedValue::null(),
    })
}

fn null<'a>() -> Res<'a> {
    Ok(AsyncResolvedValue::null())
}

/// A GraphQL object: its type and data, plus the request it belongs to.
pub(crate) struct Obj {
    pub ctx: Arc<Ctx>,
    pub v: V,
}

/// A user row (or the emulator's stand-in viewer when the database has no matching user).
#[derive(Clone, Debug)]
pub(crate) struct UserRow {
    pub id: i32,
    pub username: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub site_admin: bool,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub builtin_auth: bool,
    pub tos_accepted: bool,
    pub searchable: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct OrgRow {
    pub id: i32,
    pub name: String,
    pub display_name: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug)]
pub(crate) struct RepoRow {
    pub id: i32,
    pub name: String,
    pub uri: Option<String>,
    pub description: Option<String>,
    pub private: bool,
    pub fork: Option<bool>,
    pub archived: bool,
    pub stars: i32,
    pub created_at: String,
}

#[derive(Clone, Debug)]
pub(crate) struct ExtSvcRow {
    pub id: i64,
    pub kind: String,
    pub display_name: String,
    pub config: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_sync_at: Option<String>,
    pub next_sync_at: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct SyncJobRow {
    pub id: i32,
    pub state: String,
    pub queued_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub failure_message: Option<String>,
    pub counts: [i32; 6],
}

#[derive(Clone, Debug)]
pub(crate) struct PermJobRow {
    pub id: i32,
    pub state: Option<String>,
    pub reason: String,
    pub failure_message: Option<String>,
    pub queued_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub process_after: Option<String>,
    pub ran_for_ms: i32,
    pub num_resets: i32,
    pub num_failures: i32,
    pub last_heartbeat_at: Option<String>,
    pub worker_hostname: String,
    pub cancel: bool,
    pub triggered_by_user_id: Option<i32>,
    pub priority: i32,
    pub invalidate_caches: bool,
    pub cancellation_reason: Option<String>,
    pub no_perms: bool,
    pub permissions: [i32; 3],
    pub code_host_states: Vec<serde_json::Value>,
    pub partial_success: bool,
    pub subject: Box<V>,
}

#[derive(Clone, Debug)]
pub(crate) struct OobRow {
    pub id: i32,
    pub team: String,
    pub component: String,
    pub description: String,
    pub introduced: String,
    pub deprecated: Option<String>,
    pub progress: f64,
    pub created: String,
    pub last_updated: Option<String>,
    pub non_destructive: bool,
    pub apply_reverse: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct SavedSearchRow {
    pub id: i32,
    pub description: String,
    pub query: String,
    pub notify_owner: bool,
    pub notify_slack: bool,
    pub user_id: Option<i32>,
    pub org_id: Option<i32>,
    pub slack_webhook_url: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct SeriesRow {
    pub series_id: String,
    pub query: String,
    pub generated_from_capture_groups: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct InsightViewRow {
    pub unique_id: String,
    pub is_frozen: bool,
    pub series: Vec<SeriesRow>,
}

#[derive(Clone, Debug)]
pub(crate) struct UploadRow {
    pub id: i32,
    pub state: String,
    pub commit: String,
    pub root: String,
    pub indexer: String,
    pub uploaded_at: String,
    pub failure_message: Option<String>,
}

/// Whose settings: the site (global settings), a user or an organization.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Subject {
    Site,
    User(i32),
    Org(i32),
}

impl Subject {
    /// SQL condition selecting this subject's rows of `settings`.
    pub fn sql_filter(&self) -> String {
        match self {
            Subject::Site => "user_id IS NULL AND org_id IS NULL".to_string(),
            Subject::User(id) => format!("user_id = {id} AND org_id IS NULL"),
            Subject::Org(id) => format!("org_id = {id} AND user_id IS NULL"),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SettingsRow {
    pub id: i32,
    pub contents: String,
    pub created_at: String,
    pub author_user_id: Option<i32>,
    pub subject: Subject,
}

#[derive(Clone, Debug)]
pub(crate) struct AuthProvider {
    pub service_type: String,
    pub service_id: String,
    pub client_id: String,
    pub display_name: String,
    pub is_builtin: bool,
}

/// Which type an [`Obj`] is, with its data.
#[derive(Clone, Debug)]
pub(crate) enum V {
    Query,
    Mutation,
    Site,
    SiteConfiguration { id: i32, contents: String },
    Alert { type_: String, message: String },
    AuthProvider(AuthProvider),
    Settings(SettingsRow),
    User(UserRow),
    Org(OrgRow),
    Repository(RepoRow),
    ExternalService(ExtSvcRow),
    ExternalServiceSyncJob(SyncJobRow),
    PermissionsSyncJob(PermJobRow),
    PermissionsSyncJobReasonWithGroup { reason: String },
    CodeHostState(serde_json::Value),
    OutOfBandMigration(OobRow),
    OutOfBandMigrationError { message: String, created: String },
    SavedSearch(SavedSearchRow),
    InsightView(InsightViewRow),
    SearchInsightDataSeriesDefinition(SeriesRow),
    PreciseIndex(UploadRow),
    SettingsMutation { subject: Subject, last_id: Option<i32> },
    UpdateSettingsPayload,
    Conn(Arc<Conn>),
    PageInfo(PageInfo),
}

#[derive(Clone, Debug)]
pub(crate) struct PageInfo {
    /// `PageInfo` or `ConnectionPageInfo`, as the schema says for the connection.
    pub type_name: String,
    pub has_next: bool,
    pub end_cursor: Option<String>,
    pub has_prev: bool,
    pub start_cursor: Option<String>,
}

impl V {
    fn type_name(&self) -> &str {
        match self {
            V::Query => "Query",
            V::Mutation => "Mutation",
            V::Site => "Site",
            V::SiteConfiguration { .. } => "SiteConfiguration",
            V::Alert { .. } => "Alert",
            V::AuthProvider(_) => "AuthProvider",
            V::Settings(_) => "Settings",
            V::User(_) => "User",
            V::Org(_) => "Org",
            V::Repository(_) => "Repository",
            V::ExternalService(_) => "ExternalService",
            V::ExternalServiceSyncJob(_) => "ExternalServiceSyncJob",
            V::PermissionsSyncJob(_) => "PermissionsSyncJob",
            V::PermissionsSyncJobReasonWithGroup { .. } => "PermissionsSyncJobReasonWithGroup",
            V::CodeHostState(_) => "CodeHostState",
            V::OutOfBandMigration(_) => "OutOfBandMigration",
            V::OutOfBandMigrationError { .. } => "OutOfBandMigrationError",
            V::SavedSearch(_) => "SavedSearch",
            V::InsightView(_) => "InsightView",
            V::SearchInsightDataSeriesDefinition(_) => "SearchInsightDataSeriesDefinition",
            V::PreciseIndex(_) => "PreciseIndex",
            V::SettingsMutation { .. } => "SettingsMutation",
            V::UpdateSettingsPayload => "UpdateSettingsPayload",
            V::Conn(c) => c.spec.type_name(),
            V::PageInfo(p) => &p.type_name,
        }
    }
}

impl AsyncObjectValue for Obj {
    fn type_name(&self) -> &str {
        self.v.type_name()
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> BoxFuture<'a, Result<AsyncResolvedValue<'a>, FieldError>> {
        Box::pin(async move { self.resolve(info).await })
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments

pub(crate) fn arg<'a>(info: &'a ResolveInfo<'_>, name: &str) -> Option<&'a JsonValue> {
    info.arguments().get(name).filter(|v| !v.is_null())
}

fn arg_str(info: &ResolveInfo<'_>, name: &str) -> Option<String> {
    arg(info, name).and_then(JsonValue::as_str).map(str::to_string)
}

fn arg_bool(info: &ResolveInfo<'_>, name: &str) -> Option<bool> {
    arg(info, name).and_then(JsonValue::as_bool)
}

fn arg_strs(info: &ResolveInfo<'_>, name: &str) -> Option<Vec<String>> {
    arg(info, name)
        .and_then(JsonValue::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
}

/// Refuse arguments this emulator does not implement, rather than ignore them.
fn refuse_args(info: &ResolveInfo<'_>, names: &[&str]) -> Result<(), FieldError> {
    for n in names {
        if arg(info, n).is_some() {
            return Err(ferr(format!(
                "sg-api-emulator does not emulate the argument {n:?} of {} (this is an emulator, not Sourcegraph)",
                info.field_name()
            )));
        }
    }
    Ok(())
}

/// The JSON object of an input argument.
pub(crate) fn arg_obj<'a>(info: &'a ResolveInfo<'_>, name: &str) -> Option<&'a JsonMap> {
    arg(info, name).and_then(JsonValue::as_object)
}

// ---------------------------------------------------------------------------------------------
// Connections

/// How a connection limits page sizes.
#[derive(Clone, Copy, Debug)]
enum Paging {
    /// Sourcegraph's older `ConnectionArgs`: no `first` = everything; no cap.
    Legacy,
    /// Sourcegraph's `ConnectionResolver`: `first` required, capped at `max`.
    Resolver { max: usize },
}

/// What a connection lists; the page is loaded when `nodes` or `pageInfo` is asked for.
#[derive(Clone, Debug)]
pub(crate) enum Spec {
    ExternalServices {
        limit: Option<usize>,
        after: Option<i64>,
    },
    SyncJobs {
        service: i64,
        limit: Option<usize>,
    },
    Users {
        limit: Option<usize>,
        after: Option<i32>,
        query: Option<String>,
    },
    Orgs {
        limit: Option<usize>,
        query: Option<String>,
    },
    Repos {
        limit: usize,
        after: Option<String>,
        query: Option<String>,
        names: Option<Vec<String>>,
        service: Option<i64>,
        descending: bool,
    },
    PermJobs {
        limit: usize,
        after: Option<i32>,
        state: Option<String>,
        reason_group: Option<String>,
        user: Option<i32>,
        repo: Option<i32>,
        partial: Option<bool>,
    },
    SavedSearches {
        limit: usize,
        after: Option<i32>,
        namespace: Subject,
    },
    PreciseIndexes {
        limit: Option<usize>,
        offset: i64,
        states: Option<Vec<String>>,
        repo: Option<i32>,
    },
    InsightViews {
        limit: Option<usize>,
        after: Option<String>,
        id: Option<String>,
        exclude: Vec<String>,
        frozen: Option<bool>,
    },
    AuthProviders(Vec<AuthProvider>),
}

impl Spec {
    fn type_name(&self) -> &'static str {
        match self {
            Spec::ExternalServices { .. } => "ExternalServiceConnection",
            Spec::SyncJobs { .. } => "ExternalServiceSyncJobConnection",
            Spec::Users { .. } => "UserConnection",
            Spec::Orgs { .. } => "OrgConnection",
            Spec::Repos { .. } => "NewRepositoryConnection",
            Spec::PermJobs { .. } => "PermissionsSyncJobsConnection",
            Spec::SavedSearches { .. } => "SavedSearchesConnection",
            Spec::PreciseIndexes { .. } => "PreciseIndexConnection",
            Spec::InsightViews { .. } => "InsightViewConnection",
            Spec::AuthProviders(_) => "AuthProviderConnection",
        }
    }
}

/// A connection: what it lists and, once loaded, its page.
#[derive(Debug)]
pub(crate) struct Conn {
    spec: Spec,
    page: tokio::sync::OnceCell<Page>,
}

#[derive(Clone, Debug, Default)]
struct Page {
    nodes: Vec<V>,
    has_next: bool,
    end_cursor: Option<String>,
    has_prev: bool,
    start_cursor: Option<String>,
}

/// Page size for a request: `first` as the connection's rules and the emulator's cap allow.
fn page_limit(ctx: &Ctx, info: &ResolveInfo<'_>, paging: Paging) -> Result<Option<usize>, FieldError> {
    let cap = ctx.max_page_size();
    let first = match arg(info, "first") {
        Some(v) => {
            let n = v.as_i64().ok_or_else(|| ferr("first must be an integer"))?;
            if n < 0 {
                return Err(ferr(format!("first must be non-negative, got {n}")));
            }
            Some(usize::try_from(n).unwrap_or(usize::MAX))
        }
        None => None,
    };
    Ok(match paging {
        Paging::Legacy => match (first, cap) {
            (Some(n), Some(c)) => Some(n.min(c)),
            (Some(n), None) => Some(n),
            (None, c) => c,
        },
        Paging::Resolver { max } => {
            let Some(n) = first else {
                return Err(ferr(
                    "you must provide a `first` or `last` value to properly paginate",
                ));
            };
            Some(n.min(cap.unwrap_or(max)))
        }
    })
}

fn sql_limit(limit: Option<usize>) -> Option<i64> {
    limit.map(|n| i64::try_from(n.saturating_add(1)).unwrap_or(i64::MAX))
}

/// Trim a `limit + 1` fetch to `limit` rows; whether there was more.
fn trim<T>(rows: &mut Vec<T>, limit: Option<usize>) -> bool {
    match limit {
        Some(n) if rows.len() > n => {
            rows.truncate(n);
            true
        }
        _ => false,
    }
}

fn db_err(e: tokio_postgres::Error) -> FieldError {
    // Includes the server's message (e.g. a missing table on an older schema); never a password.
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    ferr(format!("sg-api-emulator: database query failed: {detail}"))
}

fn get_opt_str(row: &Row, i: usize) -> Option<String> {
    row.get::<_, Option<String>>(i)
}

// ---------------------------------------------------------------------------------------------
// Loading rows

pub(crate) const USER_COLS: &str = "id, username::text, display_name, avatar_url, site_admin, \
     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
     to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
     passwd IS NOT NULL, tos_accepted, searchable";

pub(crate) fn user_row(r: &Row) -> UserRow {
    UserRow {
        id: r.get(0),
        username: r.get(1),
        display_name: r.get(2),
        avatar_url: r.get(3),
        site_admin: r.get(4),
        created_at: r.get(5),
        updated_at: r.get(6),
        builtin_auth: r.get(7),
        tos_accepted: r.get(8),
        searchable: r.get(9),
    }
}

fn org_cols() -> String {
    format!("id, name::text, display_name, {}", ts("created_at"))
}

fn org_row(r: &Row) -> OrgRow {
    OrgRow {
        id: r.get(0),
        name: r.get(1),
        display_name: r.get(2),
        created_at: r.get(3),
    }
}

fn repo_cols() -> String {
    format!(
        "id, name::text, uri::text, description, private, fork, archived, stars, {}",
        ts("created_at")
    )
}

fn repo_row(r: &Row) -> RepoRow {
    RepoRow {
        id: r.get(0),
        name: r.get(1),
        uri: r.get(2),
        description: r.get(3),
        private: r.get(4),
        fork: r.get(5),
        archived: r.get(6),
        stars: r.get(7),
        created_at: r.get(8),
    }
}

impl Ctx {
    pub(crate) async fn user_by_id(&self, id: i32) -> Result<Option<UserRow>, FieldError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1 AND deleted_at IS NULL");
        let row = self.db()?.query_opt(&sql, &[&id]).await.map_err(db_err)?;
        Ok(row.as_ref().map(user_row))
    }

    async fn org_by_id(&self, id: i32) -> Result<Option<OrgRow>, FieldError> {
        let sql = format!(
            "SELECT {} FROM orgs WHERE id = $1 AND deleted_at IS NULL",
            org_cols()
        );
        let row = self.db()?.query_opt(&sql, &[&id]).await.map_err(db_err)?;
        Ok(row.as_ref().map(org_row))
    }

    async fn repo_by_id(&self, id: i32) -> Result<Option<RepoRow>, FieldError> {
        let sql = format!(
            "SELECT {} FROM repo WHERE id = $1 AND deleted_at IS NULL",
            repo_cols()
        );
        let row = self.db()?.query_opt(&sql, &[&id]).await.map_err(db_err)?;
        Ok(row.as_ref().map(repo_row))
    }

    pub(crate) async fn latest_settings(&self, subject: &Subject) -> Result<Option<SettingsRow>, FieldError> {
        let sql = format!(
            "SELECT id, contents, {}, author_user_id FROM settings WHERE {} ORDER BY id DESC LIMIT 1",
            ts("created_at"),
            subject.sql_filter()
        );
        let row = self.db()?.query_opt(&sql, &[]).await.map_err(db_err)?;
        Ok(row.map(|r| SettingsRow {
            id: r.get(0),
            contents: r.get(1),
            created_at: r.get(2),
            author_user_id: r.get(3),
            subject: subject.clone(),
        }))
    }

    /// The latest site configuration row (`critical_and_site_config`, type `site`).
    async fn site_config(&self) -> Result<(i32, String), FieldError> {
        let row = self
            .db()?
            .query_opt(
                "SELECT id, contents FROM critical_and_site_config WHERE type = 'site' ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| (r.get(0), r.get(1))).unwrap_or((0, "{}".to_string())))
    }

    fn require_admin(&self) -> Result<(), FieldError> {
        if self.admin {
            Ok(())
        } else {
            Err(ferr(MUST_BE_SITE_ADMIN))
        }
    }

    /// The subject an ID names (Site, User or Org), checked to exist.
    pub(crate) async fn subject_by_id(&self, id: &str) -> Result<Subject, FieldError> {
        let (kind, spec) = ids::unmarshal(id).ok_or_else(|| ferr(format!("invalid graphql ID {id:?}")))?;
        let num = || spec.as_i64().and_then(|n| i32::try_from(n).ok());
        match (kind.as_str(), num()) {
            ("Site", _) => Ok(Subject::Site),
            ("User", Some(n)) => match self.user_by_id(n).await? {
                Some(_) => Ok(Subject::User(n)),
                None => Err(ferr(format!("user {n} not found"))),
            },
            ("Org", Some(n)) => match self.org_by_id(n).await? {
                Some(_) => Ok(Subject::Org(n)),
                None => Err(ferr(format!("organization {n} not found"))),
            },
            _ => Err(ferr(format!(
                "invalid settings subject ID {id:?} (expected a Site, User or Org ID)"
            ))),
        }
    }
}

/// Map `auth.providers` of the site configuration to the API's AuthProvider list.
fn auth_providers(site_config: &str) -> Result<Vec<AuthProvider>, FieldError> {
    let cfg = crate::jsonc::parse_value(site_config)
        .map_err(|e| ferr(format!("the site configuration is not valid JSONC: {e}")))?
        .unwrap_or(serde_json::Value::Null);
    let providers = cfg
        .get("auth.providers")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    let s = |p: &serde_json::Value, k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let url_id = |p: &serde_json::Value, default: &str| {
        let u = p
            .get("url")
            .and_then(|v| v.as_str())
            .unwrap_or(default)
            .trim()
            .to_string();
        if u.is_empty() || u.ends_with('/') {
            u
        } else {
            format!("{u}/")
        }
    };
    Ok(providers
        .iter()
        .map(|p| {
            let ty = s(p, "type");
            let (service_id, default_name) = match ty.as_str() {
                "builtin" => (String::new(), "Builtin username-password authentication"),
                "github" => (url_id(p, "https://github.com/"), "GitHub"),
                "gitlab" => (url_id(p, "https://gitlab.com/"), "GitLab"),
                "bitbucketCloud" => (url_id(p, "https://bitbucket.org/"), "Bitbucket Cloud"),
                "azureDevOps" => (url_id(p, "https://dev.azure.com/"), "Azure DevOps"),
                "gerrit" => (url_id(p, ""), "Gerrit"),
                "openidconnect" => (s(p, "issuer"), "OpenID Connect"),
                "saml" => {
                    let id = [
                        s(p, "configID"),
                        s(p, "identityProviderMetadataURL"),
                        s(p, "serviceProviderIssuer"),
                    ]
                    .into_iter()
                    .find(|x| !x.is_empty())
                    .unwrap_or_default();
                    (id, "SAML")
                }
                "http-header" => (String::new(), "HTTP header"),
                _ => (String::new(), ""),
            };
            let display = p
                .get("displayName")
                .and_then(|v| v.as_str())
                .unwrap_or(default_name)
                .to_string();
            AuthProvider {
                service_type: ty.clone(),
                service_id,
                client_id: s(p, "clientID"),
                display_name: display,
                is_builtin: ty == "builtin",
            }
        })
        .collect())
}

/// Secret-looking keys whose string values Sourcegraph shows as "REDACTED" in `config`.
const SECRET_KEYS: &[&str] = &[
    "token",
    "password",
    "accessToken",
    "privateKey",
    "clientSecret",
    "webhookSecret",
    "secret",
    "gitSSHCredential",
    "credentials",
];

fn redact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) && x.is_string() {
                    *x = serde_json::Value::String("REDACTED".to_string());
                } else {
                    redact(x);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Sourcegraph's grouping of permission sync reasons.
fn reason_group(reason: &str) -> &'static str {
    match reason {
        "REASON_USER_OUTDATED_PERMS"
        | "REASON_USER_NO_PERMS"
        | "REASON_REPO_OUTDATED_PERMS"
        | "REASON_REPO_NO_PERMS" => "SCHEDULE",
        "REASON_MANUAL_REPO_SYNC" | "REASON_MANUAL_USER_SYNC" => "MANUAL",
        r if r.starts_with("REASON_GITHUB_") => "WEBHOOK",
        "REASON_USER_EMAIL_REMOVED"
        | "REASON_USER_EMAIL_VERIFIED"
        | "REASON_USER_ADDED_TO_ORG"
        | "REASON_USER_REMOVED_FROM_ORG"
        | "REASON_USER_ACCEPTED_ORG_INVITE"
        | "REASON_REPO_UPDATED_FROM_CODE_HOST"
        | "REASON_EXTERNAL_ACCOUNT_ADDED"
        | "REASON_EXTERNAL_ACCOUNT_DELETED" => "SOURCEGRAPH",
        _ => "UNKNOWN",
    }
}

fn reasons_in_group(group: &str) -> Vec<String> {
    const ALL: &[&str] = &[
        "REASON_USER_OUTDATED_PERMS",
        "REASON_USER_NO_PERMS",
        "REASON_REPO_OUTDATED_PERMS",
        "REASON_REPO_NO_PERMS",
        "REASON_REPO_UPDATED_FROM_CODE_HOST",
        "REASON_USER_EMAIL_REMOVED",
        "REASON_USER_EMAIL_VERIFIED",
        "REASON_USER_ADDED_TO_ORG",
        "REASON_USER_REMOVED_FROM_ORG",
        "REASON_USER_ACCEPTED_ORG_INVITE",
        "REASON_GITHUB_USER_EVENT",
        "REASON_GITHUB_USER_ADDED_EVENT",
        "REASON_GITHUB_USER_REMOVED_EVENT",
        "REASON_GITHUB_USER_MEMBERSHIP_ADDED_EVENT",
        "REASON_GITHUB_USER_MEMBERSHIP_REMOVED_EVENT",
        "REASON_GITHUB_TEAM_ADDED_TO_REPO_EVENT",
        "REASON_GITHUB_TEAM_REMOVED_FROM_REPO_EVENT",
        "REASON_GITHUB_ORG_MEMBER_ADDED_EVENT",
        "REASON_GITHUB_ORG_MEMBER_REMOVED_EVENT",
        "REASON_GITHUB_REPO_EVENT",
        "REASON_GITHUB_REPO_MADE_PRIVATE_EVENT",
        "REASON_MANUAL_REPO_SYNC",
        "REASON_MANUAL_USER_SYNC",
        "REASON_EXTERNAL_ACCOUNT_ADDED",
        "REASON_EXTERNAL_ACCOUNT_DELETED",
    ];
    ALL.iter()
        .filter(|r| reason_group(r) == group)
        .map(|r| r.to_string())
        .collect()
}

/// PreciseIndexState values → `lsif_uploads.state` values.
fn upload_states(state: &str) -> Result<&'static [&'static str], FieldError> {
    Ok(match state {
        "UPLOADING_INDEX" => &["uploading"],
        "QUEUED_FOR_PROCESSING" => &["queued"],
        "PROCESSING" => &["processing"],
        "PROCESSING_ERRORED" => &["errored", "failed"],
        "COMPLETED" => &["completed"],
        "DELETING" => &["deleting"],
        "DELETED" => &["deleted"],
        other => {
            return Err(ferr(format!(
                "sg-api-emulator emulates upload states only, not the auto-indexing state {other}"
            )))
        }
    })
}

fn upload_state_name(db: &str) -> &'static str {
    match db {
        "uploading" => "UPLOADING_INDEX",
        "queued" => "QUEUED_FOR_PROCESSING",
        "processing" => "PROCESSING",
        "errored" | "failed" => "PROCESSING_ERRORED",
        "completed" => "COMPLETED",
        "deleting" => "DELETING",
        _ => "DELETED",
    }
}

/// Where `INSERT`/`WHERE` parameters go: a numbered parameter list built alongside the SQL.
struct Params {
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Params {
    fn new() -> Params {
        Params { values: Vec::new() }
    }

    fn add(&mut self, v: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(v));
        format!("${}", self.values.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

impl Conn {
    fn new_value(spec: Spec) -> V {
        V::Conn(Arc::new(Conn {
            spec,
            page: tokio::sync::OnceCell::new(),
        }))
    }

    async fn page(&self, ctx: &Ctx) -> Result<&Page, FieldError> {
        self.page.get_or_try_init(|| self.load(ctx)).await
    }

    async fn load(&self, ctx: &Ctx) -> Result<Page, FieldError> {
        let db = ctx.db()?;
        match &self.spec {
            Spec::AuthProviders(list) => Ok(Page {
                nodes: list.iter().cloned().map(V::AuthProvider).collect(),
                ..Page::default()
            }),
            Spec::ExternalServices { limit, after } => {
                let sql = format!(
                    "SELECT id, kind, display_name, config, {}, {}, {}, {} FROM external_services \
                     WHERE deleted_at IS NULL AND namespace_user_id IS NULL AND namespace_org_id IS NULL \
                     AND ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
                    ts("created_at"),
                    ts("updated_at"),
                    ts("last_sync_at"),
                    ts("next_sync_at")
                );
                let mut rows = db
                    .query(&sql, &[after, &sql_limit(*limit)])
                    .await
                    .map_err(db_err)?;
                let has_next = trim(&mut rows, *limit);
                let nodes: Vec<ExtSvcRow> = rows
                    .iter()
                    .map(|r| ExtSvcRow {
                        id: r.get(0),
                        kind: r.get(1),
                        display_name: r.get(2),
                        config: r.get(3),
                        created_at: r.get(4),
                        updated_at: r.get(5),
                        last_sync_at: get_opt_str(r, 6),
                        next_sync_at: get_opt_str(r, 7),
                    })
                    .collect();
                // Like Sourcegraph's legacy PageInfo: a cursor only when there is a next page.
                let end_cursor = if has_next {
                    nodes.last().map(|n| ids::marshal_int("ExternalService", n.id))
                } else {
                    None
                };
                Ok(Page {
                    nodes: nodes.into_iter().map(V::ExternalService).collect(),
                    has_next,
                    end_cursor,
                    ..Page::default()
                })
            }
            Spec::SyncJobs { service, limit } => {
                let sql = format!(
                    "SELECT id, state, {}, {}, {}, failure_message, repos_synced, repo_sync_errors, \
                     repos_added, repos_deleted, repos_modified, repos_unmodified \
                     FROM external_service_sync_jobs WHERE external_service_id = $1 ORDER BY id DESC LIMIT $2",
                    ts("queued_at"),
                    ts("started_at"),
                    ts("finished_at")
                );
                let mut rows = db
                    .query(&sql, &[service, &sql_limit(*limit)])
                    .await
                    .map_err(db_err)?;
                let has_next = trim(&mut rows, *limit);
                let nodes = rows
                    .iter()
                    .map(|r| {
                        V::ExternalServiceSyncJob(SyncJobRow {
                            id: r.get(0),
                            state: r.get(1),
                            queued_at: get_opt_str(r, 2),
                            started_at: get_opt_str(r, 3),
                            finished_at: get_opt_str(r, 4),
                            failure_message: get_opt_str(r, 5),
                            counts: [r.get(6), r.get(7), r.get(8), r.get(9), r.get(10), r.get(11)],
                        })
                    })
                    .collect();
                Ok(Page {
                    nodes,
                    has_next,
                    ..Page::default()
                })
            }
            Spec::Users { limit, after, query } => {
                let mut p = Params::new();
                let mut sql = format!("SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL");
                if let Some(a) = after {
                    sql += &format!(" AND id > {}", p.add(*a));
                }
                if let Some(q) = query {
                    let q = p.add(format!("%{q}%"));
                    sql += &format!(" AND (username ILIKE {q} OR display_name ILIKE {q})");
                }
                sql += &format!(" ORDER BY id LIMIT {}", p.add(sql_limit(*limit)));
                let mut rows = db.query(&sql, &p.refs()).await.map_err(db_err)?;
                let has_next = trim(&mut rows, *limit);
                let nodes: Vec<UserRow> = rows.iter().map(user_row).collect();
                let end_cursor = if has_next {
                    nodes.last().map(|u| ids::marshal_int("User", u.id.into()))
                } else {
                    None
                };
                Ok(Page {
                    nodes: nodes.into_iter().map(V::User).collect(),
                    has_next,
                    end_cursor,
                    ..Page::default()
                })
            }
            Spec::Orgs { limit, query } => {
                let mut p = Params::new();
                let mut sql = format!("SELECT {} FROM orgs WHERE deleted_at IS NULL", org_cols());
                if let Some(q) = query {
                    let q = p.add(format!("%{q}%"));
                    sql += &format!(" AND (name ILIKE {q} OR display_name ILIKE {q})");
                }
                sql += &format!(" ORDER BY id LIMIT {}", p.add(limit.map(|n| n as i64)));
                let rows = db.query(&sql, &p.refs()).await.map_err(db_err)?;
                Ok(Page {
                    nodes: rows.iter().map(|r| V::Org(org_row(r))).collect(),
                    ..Page::default()
                })
            }
            Spec::Repos {
                limit,
                after,
                query,
                names,
                service,
                descending,
            } => {
                let mut p = Params::new();
                let mut sql = format!(
                    "SELECT {} FROM repo WHERE deleted_at IS NULL AND blocked IS NULL",
                    repo_cols()
                );
                if let Some(q) = query {
                    sql += &format!(" AND name ILIKE {}", p.add(format!("%{q}%")));
                }
                if let Some(n) = names {
                    sql += &format!(" AND name::text = ANY({})", p.add(n.clone()));
                }
                if let Some(s) = service {
                    sql += &format!(
                        " AND id IN (SELECT repo_id FROM external_service_repos WHERE external_service_id = {})",
                        p.add(*s)
                    );
                }
                let (cmp, dir) = if *descending { ("<", "DESC") } else { (">", "ASC") };
                if let Some(a) = after {
                    sql += &format!(" AND name::text {cmp} {}", p.add(a.clone()));
                }
                sql += &format!(
                    " ORDER BY name::text {dir} LIMIT {}",
                    p.add(sql_limit(Some(*limit)))
                );
                let mut rows = db.query(&sql, &p.refs()).await.map_err(db_err)?;
                let has_next = trim(&mut rows, Some(*limit));
                let nodes: Vec<RepoRow> = rows.iter().map(repo_row).collect();
                let cursor = |r: &RepoRow| ids::marshal_str("RepositoryCursor", &r.name);
                Ok(Page {
                    end_cursor: nodes.last().map(cursor),
                    start_cursor: nodes.first().map(cursor),
                    has_prev: after.is_some() && !nodes.is_empty(),
                    has_next,
                    nodes: nodes.into_iter().map(V::Repository).collect(),
                })
            }
            Spec::PermJobs { limit, after, .. } => {
                let mut p = Params::new();
                let mut sql = format!(
                    "SELECT id, state, reason, failure_message, {}, {}, {}, {}, \
                     COALESCE((extract(epoch FROM finished_at - started_at) * 1000)::int, 0), \
                     num_resets, num_failures, {}, worker_hostname, cancel, repository_id, user_id, \
                     triggered_by_user_id, priority, invalidate_caches, cancellation_reason, no_perms, \
                     permissions_added, permissions_removed, permissions_found, \
                     COALESCE(array_to_json(code_host_states)::text, '[]'), COALESCE(is_partial_success, false) \
                     FROM permission_sync_jobs WHERE {}",
                    ts("queued_at"),
                    ts("started_at"),
                    ts("finished_at"),
                    ts("process_after"),
                    ts("last_heartbeat_at"),
                    self.perm_filter(&mut p)
                );
                if let Some(a) = after {
                    sql += &format!(" AND id < {}", p.add(*a));
                }
                sql += &format!(" ORDER BY id DESC LIMIT {}", p.add(sql_limit(Some(*limit))));
                let mut rows = db.query(&sql, &p.refs()).await.map_err(db_err)?;
                let has_next = trim(&mut rows, Some(*limit));
                let mut nodes = Vec::new();
                for r in &rows {
                    let repo_id: Option<i32> = r.get(14);
                    let user_id: Option<i32> = r.get(15);
                    // Like Sourcegraph: a job whose user or repository is gone is left out.
                    let subject = match (user_id, repo_id) {
                        (Some(u), _) => ctx.user_by_id(u).await?.map(V::User),
                        (None, Some(rp)) => ctx.repo_by_id(rp).await?.map(V::Repository),
                        (None, None) => None,
                    };
                    let Some(subject) = subject else { continue };
                    let states: Vec<serde_json::Value> =
                        serde_json::from_str(&r.get::<_, String>(24)).unwrap_or_default();
                    nodes.push(PermJobRow {
                        id: r.get(0),
                        state: r.get(1),
                        reason: r.get(2),
                        failure_message: r.get(3),
                        queued_at: r.get(4),
                        started_at: r.get(5),
                        finished_at: r.get(6),
                        process_after: r.get(7),
                        ran_for_ms: r.get(8),
                        num_resets: r.get(9),
                        num_failures: r.get(10),
                        last_heartbeat_at: r.get(11),
                        worker_hostname: r.get(12),
                        cancel: r.get(13),
                        triggered_by_user_id: r.get(16),
                        priority: r.get(17),
                        invalidate_caches: r.get(18),
                        cancellation_reason: r.get(19),
                        no_perms: r.get(20),
                        permissions: [r.get(21), r.get(22), r.get(23)],
                        code_host_states: states,
                        partial_success: r.get(25),
                        subject: Box::new(subject),
                    });
                }
                let cursor = |j: &PermJobRow| ids::marshal_int("PermissionsSyncJob", j.id.into());
                Ok(Page {
                    end_cursor: nodes.last().map(cursor),
                    start_cursor: nodes.first().map(cursor),
                    has_prev: after.is_some() && !nodes.is_empty(),
                    has_next,
                    nodes: nodes.into_iter().map(V::PermissionsSyncJob).collect(),
                })
            }
            Spec::SavedSearches {
                limit,
                after,
                namespace,
            } => {
                let mut p = Params::new();
                let mut sql = format!(
                    "SELECT id, description, query, notify_owner, notify_slack, user_id, org_id, slack_webhook_url \
                     FROM saved_searches WHERE {}",
                    saved_search_filter(namespace)
                );
                if let Some(a) = after {
                    sql += &format!(" AND id < {}", p.add(*a));
                }
                sql += &format!(" ORDER BY id DESC LIMIT {}", p.add(sql_limit(Some(*limit))));
                let mut rows = db.query(&sql, &p.refs()).await.map_err(db_err)?;
                let has_next = trim(&mut rows, Some(*limit));
                let nodes: Vec<SavedSearchRow> = rows
                    .iter()
                    .map(|r| SavedSearchRow {
                        id: r.get(0),
                        description: r.get(1),
                        query: r.get(2),
                        notify_owner: r.get(3),
                        notify_slack: r.get(4),
                        user_id: r.get(5),
                        org_id: r.get(6),
                        slack_webhook_url: r.get(7),
                    })
                    .collect();
                let cursor = |s: &SavedSearchRow| ids::marshal_int("SavedSearch", s.id.into());
                Ok(Page {
                    end_cursor: nodes.last().map(cursor),
                    start_cursor: nodes.first().map(cursor),
                    has_prev: after.is_some() && !nodes.is_empty(),
                    has_next,
                    nodes: nodes.into_iter().map(V::SavedSearch).collect(),
                })
            }
            Spec::PreciseIndexes { limit, offset, .. } => {
                let mut p = Params::new();
                let filter = self.upload_filter(&mut p)?;
                let sql = format!(
                    "SELECT id, state, commit, root, indexer, {}, failure_message FROM lsif_uploads WHERE {filter} \
                     ORDER BY uploaded_at DESC, id DESC LIMIT {} OFFSET {}",
                    ts("uploaded_at"),
                    p.add(sql_limit(*limit)),
                    p.add(*offset)
                );
                let mut rows = db.query(&sql, &p.refs()).await.map_err(db_err)?;
                let has_next = trim(&mut rows, *limit);
                let nodes: Vec<V> = rows
                    .iter()
                    .map(|r| {
                        V::PreciseIndex(UploadRow {
                            id: r.get(0),
                            state: r.get(1),
                            commit: r.get(2),
                            root: r.get(3),
                            indexer: r.get(4),
                            uploaded_at: r.get(5),
                            failure_message: r.get(6),
                        })
                    })
                    .collect();
                // Sourcegraph's precise index cursor is an offset.
                let end_cursor = if has_next {
                    Some((offset + nodes.len() as i64).to_string())
                } else {
                    None
                };
                Ok(Page {
                    nodes,
                    has_next,
                    end_cursor,
                    ..Page::default()
                })
            }
            Spec::InsightViews {
                limit,
                after,
                id,
                exclude,
                frozen,
            } => {
                let Some(insights) = ctx.insights().await? else {
                    // No codeinsights database configured: no insights.
                    return Ok(Page::default());
                };
                let mut p = Params::new();
                let mut sql = String::from(
                    "SELECT iv.id, iv.unique_id, iv.is_frozen FROM insight_view iv WHERE EXISTS \
                     (SELECT 1 FROM insight_view_series ivs JOIN insight_series s ON s.id = ivs.insight_series_id \
                      WHERE ivs.insight_view_id = iv.id AND s.deleted_at IS NULL)",
                );
                if let Some(a) = after {
                    sql += &format!(" AND iv.unique_id > {}", p.add(a.clone()));
                }
                if let Some(i) = id {
                    sql += &format!(" AND iv.unique_id = {}", p.add(i.clone()));
                }
                if !exclude.is_empty() {
                    sql += &format!(" AND NOT (iv.unique_id = ANY({}))", p.add(exclude.clone()));
                }
                if let Some(f) = frozen {
                    sql += &format!(" AND iv.is_frozen = {}", p.add(*f));
                }
                sql += &format!(" ORDER BY iv.unique_id LIMIT {}", p.add(sql_limit(*limit)));
                let mut rows = insights.query(&sql, &p.refs()).await.map_err(db_err)?;
                let has_next = trim(&mut rows, *limit);
                let mut nodes = Vec::new();
                for r in &rows {
                    let view_id: i32 = r.get(0);
                    let series = insights
                        .query(
                            "SELECT s.series_id, s.query, s.generated_from_capture_groups \
                             FROM insight_view_series ivs JOIN insight_series s ON s.id = ivs.insight_series_id \
                             WHERE ivs.insight_view_id = $1 AND s.deleted_at IS NULL ORDER BY s.id",
                            &[&view_id],
                        )
                        .await
                        .map_err(db_err)?;
                    nodes.push(InsightViewRow {
                        unique_id: r.get(1),
                        is_frozen: r.get(2),
                        series: series
                            .iter()
                            .map(|s| SeriesRow {
                                series_id: s.get(0),
                                query: s.get(1),
                                generated_from_capture_groups: s.get(2),
                            })
                            .collect(),
                    });
                }
                let end_cursor = if has_next {
                    nodes.last().map(|v| v.unique_id.clone())
                } else {
                    None
                };
                Ok(Page {
                    nodes: nodes.into_iter().map(V::InsightView).collect(),
                    has_next,
                    end_cursor,
                    ..Page::default()
                })
            }
        }
    }

    /// `WHERE` conditions of the permission sync job filters.
    fn perm_filter(&self, p: &mut Params) -> String {
        let Spec::PermJobs {
            state,
            reason_group,
            user,
            repo,
            partial,
            ..
        } = &self.spec
        else {
            return "true".to_string();
        };
        let mut conds = vec!["true".to_string()];
        if let Some(s) = state {
            conds.push(format!("lower(state) = lower({})", p.add(s.clone())));
        }
        if let Some(g) = reason_group {
            conds.push(format!("reason = ANY({})", p.add(reasons_in_group(g))));
        }
        if let Some(u) = user {
            conds.push(format!("user_id = {}", p.add(*u)));
        }
        if let Some(r) = repo {
            conds.push(format!("repository_id = {}", p.add(*r)));
        }
        if let Some(b) = partial {
            conds.push(format!("COALESCE(is_partial_success, false) = {}", p.add(*b)));
        }
        conds.join(" AND ")
    }

    fn upload_filter(&self, p: &mut Params) -> Result<String, FieldError> {
        let Spec::PreciseIndexes { states, repo, .. } = &self.spec else {
            return Ok("true".to_string());
        };
        let mut conds = vec!["true".to_string()];
        match states {
            Some(states) => {
                let mut db_states: Vec<String> = Vec::new();
                for s in states {
                    db_states.extend(upload_states(s)?.iter().map(|x| x.to_string()));
                }
                conds.push(format!("state = ANY({})", p.add(db_states)));
            }
            None => conds.push("state <> 'deleted'".to_string()),
        }
        if let Some(r) = repo {
            conds.push(format!("repository_id = {}", p.add(*r)));
        }
        Ok(conds.join(" AND "))
    }

    async fn total(&self, ctx: &Ctx) -> Result<i64, FieldError> {
        let db = ctx.db()?;
        let count = |sql: String, p: Params| async move {
            let row = db.query_one(&sql, &p.refs()).await.map_err(db_err)?;
            Ok::<i64, FieldError>(row.get(0))
        };
        match &self.spec {
            Spec::AuthProviders(list) => Ok(list.len() as i64),
            // Like Sourcegraph: the total ignores the cursor.
            Spec::ExternalServices { .. } => {
                count(
                    "SELECT count(*) FROM external_services WHERE deleted_at IS NULL \
                     AND namespace_user_id IS NULL AND namespace_org_id IS NULL"
                        .to_string(),
                    Params::new(),
                )
                .await
            }
            Spec::SyncJobs { service, .. } => {
                let mut p = Params::new();
                let sql = format!(
                    "SELECT count(*) FROM external_service_sync_jobs WHERE external_service_id = {}",
                    p.add(*service)
                );
                count(sql, p).await
            }
            Spec::Users { query, .. } => {
                let mut p = Params::new();
                let mut sql = "SELECT count(*) FROM users WHERE deleted_at IS NULL".to_string();
                if let Some(q) = query {
                    let q = p.add(format!("%{q}%"));
                    sql += &format!(" AND (username ILIKE {q} OR display_name ILIKE {q})");
                }
                count(sql, p).await
            }
            Spec::Orgs { query, .. } => {
                let mut p = Params::new();
                let mut sql = "SELECT count(*) FROM orgs WHERE deleted_at IS NULL".to_string();
                if let Some(q) = query {
                    let q = p.add(format!("%{q}%"));
                    sql += &format!(" AND (name ILIKE {q} OR display_name ILIKE {q})");
                }
                count(sql, p).await
            }
            Spec::Repos {
                query,
                names,
                service,
                ..
            } => {
                let mut p = Params::new();
                let mut sql =
                    "SELECT count(*) FROM repo WHERE deleted_at IS NULL AND blocked IS NULL".to_string();
                if let Some(q) = query {
                    sql += &format!(" AND name ILIKE {}", p.add(format!("%{q}%")));
                }
                if let Some(n) = names {
                    sql += &format!(" AND name::text = ANY({})", p.add(n.clone()));
                }
                if let Some(s) = service {
                    sql += &format!(
                        " AND id IN (SELECT repo_id FROM external_service_repos WHERE external_service_id = {})",
                        p.add(*s)
                    );
                }
                count(sql, p).await
            }
            Spec::PermJobs { .. } => {
                let mut p = Params::new();
                let sql = format!(
                    "SELECT count(*) FROM permission_sync_jobs WHERE {}",
                    self.perm_filter(&mut p)
                );
                count(sql, p).await
            }
            Spec::SavedSearches { namespace, .. } => {
                count(
                    format!(
                        "SELECT count(*) FROM saved_searches WHERE {}",
                        saved_search_filter(namespace)
                    ),
                    Params::new(),
                )
                .await
            }
            Spec::PreciseIndexes { .. } => {
                let mut p = Params::new();
                let sql = format!(
                    "SELECT count(*) FROM lsif_uploads WHERE {}",
                    self.upload_filter(&mut p)?
                );
                count(sql, p).await
            }
            Spec::InsightViews { .. } => {
                let Some(insights) = ctx.insights().await? else {
                    return Ok(0);
                };
                let row = insights
                    .query_one(
                        "SELECT count(*) FROM insight_view iv WHERE EXISTS \
                         (SELECT 1 FROM insight_view_series ivs JOIN insight_series s ON s.id = ivs.insight_series_id \
                          WHERE ivs.insight_view_id = iv.id AND s.deleted_at IS NULL)",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                Ok(row.get(0))
            }
        }
    }
}

fn saved_search_filter(ns: &Subject) -> String {
    match ns {
        Subject::User(id) => format!("user_id = {id}"),
        Subject::Org(id) => format!("org_id = {id}"),
        Subject::Site => "false".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Field resolution

impl Obj {
    fn obj<'a>(&self, v: V) -> AsyncResolvedValue<'a> {
        AsyncResolvedValue::object(Obj {
            ctx: self.ctx.clone(),
            v,
        })
    }

    fn ok_obj<'a>(&self, v: V) -> Res<'a> {
        Ok(self.obj(v))
    }

    fn list<'a>(&self, items: impl IntoIterator<Item = V>) -> Res<'a> {
        let objs: Vec<AsyncResolvedValue<'a>> = items.into_iter().map(|v| self.obj(v)).collect();
        Ok(AsyncResolvedValue::list(objs))
    }

    fn not_emulated(&self, info: &ResolveInfo<'_>) -> FieldError {
        ferr(format!(
            "sg-api-emulator does not emulate the field {}.{} (this is an emulator, not Sourcegraph)",
            self.v.type_name(),
            info.field_name()
        ))
    }

    async fn resolve<'a>(&self, info: &ResolveInfo<'_>) -> Res<'a> {
        let ctx = &self.ctx;
        let f = info.field_name();
        match &self.v {
            V::Query => self.query_field(info).await,
            V::Mutation => match f {
                "settingsMutation" | "configurationMutation" => {
                    let input = arg_obj(info, "input").ok_or_else(|| ferr("input is required"))?;
                    let subject_id = input.get("subject").and_then(JsonValue::as_str).unwrap_or("");
                    let subject = ctx.subject_by_id(subject_id).await?;
                    let last_id = input
                        .get("lastID")
                        .and_then(JsonValue::as_i64)
                        .and_then(|n| i32::try_from(n).ok());
                    settings::check_can_administer(ctx, &subject).await?;
                    self.ok_obj(V::SettingsMutation { subject, last_id })
                }
                _ => Err(self.not_emulated(info)),
            },
            V::SettingsMutation { subject, last_id } => match f {
                "editSettings" => {
                    let edit = arg_obj(info, "edit").ok_or_else(|| ferr("edit is required"))?;
                    settings::edit_settings(ctx, subject, *last_id, edit).await?;
                    self.ok_obj(V::UpdateSettingsPayload)
                }
                "overwriteSettings" => {
                    let contents = arg_str(info, "contents").ok_or_else(|| ferr("contents is required"))?;
                    settings::overwrite_settings(ctx, subject, *last_id, &contents).await?;
                    self.ok_obj(V::UpdateSettingsPayload)
                }
                _ => Err(self.not_emulated(info)),
            },
            // Sourcegraph's UpdateSettingsPayload.empty is always null.
            V::UpdateSettingsPayload if f == "empty" => null(),
            V::Site => self.site_field(info).await,
            V::SiteConfiguration { id, contents } => match f {
                "id" => leaf(*id),
                "effectiveContents" => leaf(contents.as_str()),
                "validationMessages" => {
                    let msgs = ctx.shared.state().config_validation_messages;
                    Ok(AsyncResolvedValue::list(
                        msgs.into_iter().map(AsyncResolvedValue::leaf).collect::<Vec<_>>(),
                    ))
                }
                _ => Err(self.not_emulated(info)),
            },
            V::Alert { type_, message } => match f {
                "type" => leaf(type_.as_str()),
                "message" => leaf(message.as_str()),
                "isDismissibleWithKey" => null(),
                _ => Err(self.not_emulated(info)),
            },
            V::AuthProvider(p) => match f {
                "serviceType" => leaf(p.service_type.as_str()),
                "serviceID" => leaf(p.service_id.as_str()),
                "clientID" => leaf(p.client_id.as_str()),
                "displayName" => leaf(p.display_name.as_str()),
                "isBuiltin" => leaf(p.is_builtin),
                "authenticationURL" => null(),
                _ => Err(self.not_emulated(info)),
            },
            V::Settings(s) => match f {
                "id" => leaf(s.id),
                "contents" => leaf(s.contents.as_str()),
                "createdAt" => leaf(s.created_at.as_str()),
                "author" => match s.author_user_id {
                    Some(id) => Ok(match ctx.user_by_id(id).await? {
                        Some(u) => self.obj(V::User(u)),
                        None => AsyncResolvedValue::null(),
                    }),
                    None => null(),
                },
                "subject" => match &s.subject {
                    Subject::Site => self.ok_obj(V::Site),
                    Subject::User(id) => match ctx.user_by_id(*id).await? {
                        Some(u) => self.ok_obj(V::User(u)),
                        None => Err(ferr(format!("user {id} not found"))),
                    },
                    Subject::Org(id) => match ctx.org_by_id(*id).await? {
                        Some(o) => self.ok_obj(V::Org(o)),
                        None => Err(ferr(format!("organization {id} not found"))),
                    },
                },
                _ => Err(self.not_emulated(info)),
            },
            V::User(u) => self.user_field(info, u).await,
            V::Org(o) => match f {
                "id" => leaf(ids::marshal_int("Org", o.id.into())),
                "name" | "namespaceName" => leaf(o.name.as_str()),
                "displayName" => opt_leaf(o.display_name.clone()),
                "createdAt" => leaf(o.created_at.as_str()),
                "url" => leaf(format!("/organizations/{}", o.name)),
                "settingsURL" => leaf(format!("/organizations/{}/settings", o.name)),
                "viewerCanAdminister" => leaf(ctx.admin),
                "latestSettings" => {
                    let s = ctx.latest_settings(&Subject::Org(o.id)).await?;
                    Ok(match s {
                        Some(s) => self.obj(V::Settings(s)),
                        None => AsyncResolvedValue::null(),
                    })
                }
                _ => Err(self.not_emulated(info)),
            },
            V::Repository(r) => match f {
                "id" => leaf(ids::marshal_int("Repository", r.id.into())),
                "name" => leaf(r.name.as_str()),
                "uri" => leaf(r.uri.clone().unwrap_or_else(|| r.name.clone())),
                "url" => leaf(format!("/{}", r.name)),
                "description" => leaf(r.description.clone().unwrap_or_default()),
                "isPrivate" => leaf(r.private),
                "isFork" => leaf(r.fork.unwrap_or(false)),
                "isArchived" => leaf(r.archived),
                "stars" => leaf(r.stars),
                "createdAt" => leaf(r.created_at.as_str()),
                _ => Err(self.not_emulated(info)),
            },
            V::ExternalService(s) => self.external_service_field(info, s).await,
            V::ExternalServiceSyncJob(j) => match f {
                "id" => leaf(ids::marshal_int("ExternalServiceSyncJob", j.id.into())),
                "state" => leaf(j.state.to_uppercase()),
                "queuedAt" => leaf(j.queued_at.clone().unwrap_or_else(|| ZERO_TIME.to_string())),
                "startedAt" => opt_leaf(j.started_at.clone()),
                "finishedAt" => opt_leaf(j.finished_at.clone()),
                "failureMessage" => opt_leaf(j.failure_message.clone()),
                "reposSynced" => leaf(j.counts[0]),
                "repoSyncErrors" => leaf(j.counts[1]),
                "reposAdded" => leaf(j.counts[2]),
                "reposDeleted" => leaf(j.counts[3]),
                "reposModified" => leaf(j.counts[4]),
                "reposUnmodified" => leaf(j.counts[5]),
                _ => Err(self.not_emulated(info)),
            },
            V::PermissionsSyncJob(j) => self.perm_job_field(info, j).await,
            V::PermissionsSyncJobReasonWithGroup { reason } => match f {
                "group" => leaf(reason_group(reason)),
                "reason" => opt_leaf(if reason.is_empty() {
                    None
                } else {
                    Some(reason.clone())
                }),
                _ => Err(self.not_emulated(info)),
            },
            V::CodeHostState(v) => {
                let key = match f {
                    "providerID" => "provider_id",
                    "providerType" => "provider_type",
                    "status" => "status",
                    "message" => "message",
                    _ => return Err(self.not_emulated(info)),
                };
                leaf(v.get(key).and_then(|x| x.as_str()).unwrap_or("").to_string())
            }
            V::OutOfBandMigration(m) => match f {
                "id" => leaf(ids::marshal_int("OutOfBandMigration", m.id.into())),
                "team" => leaf(m.team.as_str()),
                "component" => leaf(m.component.as_str()),
                "description" => leaf(m.description.as_str()),
                "introduced" => leaf(m.introduced.as_str()),
                "deprecated" => opt_leaf(m.deprecated.clone()),
                "progress" => leaf(m.progress),
                "created" => leaf(m.created.as_str()),
                "lastUpdated" => opt_leaf(m.last_updated.clone()),
                "nonDestructive" => leaf(m.non_destructive),
                "applyReverse" => leaf(m.apply_reverse),
                "errors" => {
                    let rows = ctx
                        .db()?
                        .query(
                            &format!(
                                "SELECT message, {} FROM out_of_band_migrations_errors WHERE migration_id = $1 \
                                 ORDER BY created DESC, id DESC",
                                ts("created")
                            ),
                            &[&m.id],
                        )
                        .await
                        .map_err(db_err)?;
                    self.list(rows.iter().map(|r| V::OutOfBandMigrationError {
                        message: r.get(0),
                        created: r.get(1),
                    }))
                }
                _ => Err(self.not_emulated(info)),
            },
            V::OutOfBandMigrationError { message, created } => match f {
                "message" => leaf(message.as_str()),
                "created" => leaf(created.as_str()),
                _ => Err(self.not_emulated(info)),
            },
            V::SavedSearch(s) => match f {
                "id" => leaf(ids::marshal_int("SavedSearch", s.id.into())),
                "description" => leaf(s.description.as_str()),
                "query" => leaf(s.query.as_str()),
                "notify" => leaf(s.notify_owner),
                "notifySlack" => leaf(s.notify_slack),
                "slackWebhookURL" => opt_leaf(s.slack_webhook_url.clone()),
                "namespace" => {
                    let ns = match (s.user_id, s.org_id) {
                        (Some(u), _) => ctx.user_by_id(u).await?.map(V::User),
                        (None, Some(o)) => ctx.org_by_id(o).await?.map(V::Org),
                        (None, None) => None,
                    };
                    match ns {
                        Some(v) => self.ok_obj(v),
                        None => Err(ferr(format!(
                            "the namespace of saved search {} was not found",
                            s.id
                        ))),
                    }
                }
                _ => Err(self.not_emulated(info)),
            },
            V::InsightView(v) => match f {
                "id" => leaf(ids::marshal_str("insight_view", &v.unique_id)),
                "isFrozen" => leaf(v.is_frozen),
                "seriesCount" => leaf(v.series.len() as i64),
                "dataSeriesDefinitions" => {
                    self.list(v.series.iter().cloned().map(V::SearchInsightDataSeriesDefinition))
                }
                _ => Err(self.not_emulated(info)),
            },
            V::SearchInsightDataSeriesDefinition(s) => match f {
                "seriesId" => leaf(s.series_id.as_str()),
                "query" => leaf(s.query.as_str()),
                "generatedFromCaptureGroups" => leaf(s.generated_from_capture_groups),
                _ => Err(self.not_emulated(info)),
            },
            V::PreciseIndex(u) => match f {
                "id" => leaf(ids::marshal_str("PreciseIndex", &format!("U:{}", u.id))),
                "state" => leaf(upload_state_name(&u.state)),
                "inputCommit" => leaf(u.commit.as_str()),
                "inputRoot" => leaf(u.root.as_str()),
                "inputIndexer" => leaf(u.indexer.as_str()),
                "uploadedAt" => leaf(u.uploaded_at.as_str()),
                "failure" => opt_leaf(u.failure_message.clone()),
                _ => Err(self.not_emulated(info)),
            },
            V::Conn(c) => match f {
                "nodes" => {
                    let page = c.page(ctx).await?;
                    self.list(page.nodes.iter().cloned())
                }
                "totalCount" => leaf(c.total(ctx).await?),
                "pageInfo" => {
                    let page = c.page(ctx).await?;
                    let type_name = info.field_definition().ty.inner_named_type().to_string();
                    self.ok_obj(V::PageInfo(PageInfo {
                        type_name,
                        has_next: page.has_next,
                        end_cursor: page.end_cursor.clone(),
                        has_prev: page.has_prev,
                        start_cursor: page.start_cursor.clone(),
                    }))
                }
                _ => Err(self.not_emulated(info)),
            },
            V::PageInfo(p) => match f {
                "hasNextPage" => leaf(p.has_next),
                "endCursor" => opt_leaf(p.end_cursor.clone()),
                "hasPreviousPage" => leaf(p.has_prev),
                "startCursor" => opt_leaf(p.start_cursor.clone()),
                _ => Err(self.not_emulated(info)),
            },
            _ => Err(self.not_emulated(info)),
        }
    }

    async fn query_field<'a>(&self, info: &ResolveInfo<'_>) -> Res<'a> {
        let ctx = &self.ctx;
        match info.field_name() {
            "site" => self.ok_obj(V::Site),
            "currentUser" => {
                let viewer = ctx.viewer().await?;
                self.ok_obj(V::User(viewer))
            }
            "externalServices" => {
                refuse_args(info, &["namespace"])?;
                ctx.require_admin()?;
                let after = match arg_str(info, "after") {
                    Some(a) => Some(ids::unmarshal_int("ExternalService", &a).map_err(ferr)?),
                    None => None,
                };
                let limit = page_limit(ctx, info, Paging::Legacy)?;
                self.ok_obj(Conn::new_value(Spec::ExternalServices { limit, after }))
            }
            "users" => {
                refuse_args(info, &["activePeriod", "inactiveSince"])?;
                ctx.require_admin()?;
                let after = match arg_str(info, "after") {
                    Some(a) => Some(user_id_of(&a)?),
                    None => None,
                };
                let limit = page_limit(ctx, info, Paging::Legacy)?;
                self.ok_obj(Conn::new_value(Spec::Users {
                    limit,
                    after,
                    query: arg_str(info, "query"),
                }))
            }
            "organizations" => {
                ctx.require_admin()?;
                let limit = page_limit(ctx, info, Paging::Legacy)?;
                self.ok_obj(Conn::new_value(Spec::Orgs {
                    limit,
                    query: arg_str(info, "query"),
                }))
            }
            "repositories" => {
                refuse_args(info, &["last", "before", "cloneStatus"])?;
                for (name, default) in [
                    ("cloned", true),
                    ("notCloned", true),
                    ("indexed", true),
                    ("notIndexed", true),
                    ("failedFetch", false),
                    ("corrupted", false),
                ] {
                    if arg_bool(info, name).unwrap_or(default) != default {
                        return Err(ferr(format!(
                            "sg-api-emulator does not emulate the argument {name:?} of repositories (it has no gitserver or zoekt state)"
                        )));
                    }
                }
                if arg_str(info, "orderBy").is_some_and(|o| o != "REPOSITORY_NAME") {
                    return Err(ferr(
                        "sg-api-emulator emulates repositories ordered by REPOSITORY_NAME only",
                    ));
                }
                let limit = page_limit(ctx, info, Paging::Resolver { max: 1000 })?.unwrap_or(0);
                let after = match arg_str(info, "after") {
                    Some(a) => Some(ids::unmarshal_str("RepositoryCursor", &a).map_err(ferr)?),
                    None => None,
                };
                let service = match arg_str(info, "externalService") {
                    Some(s) => Some(ids::unmarshal_int("ExternalService", &s).map_err(ferr)?),
                    None => None,
                };
                self.ok_obj(Conn::new_value(Spec::Repos {
                    limit,
                    after,
                    query: arg_str(info, "query"),
                    names: arg_strs(info, "names"),
                    service,
                    descending: arg_bool(info, "descending").unwrap_or(false),
                }))
            }
            "permissionsSyncJobs" => {
                refuse_args(info, &["last", "before", "searchType", "query"])?;
                let user = match arg_str(info, "userID") {
                    Some(u) => Some(user_id_of(&u)?),
                    None => None,
                };
                let repo = match arg_str(info, "repoID") {
                    Some(r) => Some(to_i32(ids::unmarshal_int("Repository", &r).map_err(ferr)?)?),
                    None => None,
                };
                if user.is_some() && repo.is_some() {
                    return Err(ferr("please provide either userID or repoID, but not both."));
                }
                match user {
                    Some(u) if !ctx.admin => {
                        if ctx.viewer().await?.id != u {
                            return Err(ferr("must be authenticated as the authorized user or site admin"));
                        }
                    }
                    Some(_) => {}
                    None => ctx.require_admin()?,
                }
                let limit = page_limit(ctx, info, Paging::Resolver { max: 100 })?.unwrap_or(0);
                let after = match arg_str(info, "after") {
                    Some(a) => Some(to_i32(
                        ids::unmarshal_int("PermissionsSyncJob", &a).map_err(ferr)?,
                    )?),
                    None => None,
                };
                self.ok_obj(Conn::new_value(Spec::PermJobs {
                    limit,
                    after,
                    state: arg_str(info, "state"),
                    reason_group: arg_str(info, "reasonGroup"),
                    user,
                    repo,
                    partial: arg_bool(info, "partial"),
                }))
            }
            "outOfBandMigrations" => {
                ctx.require_admin()?;
                let sql = format!(
                    "SELECT id, team, component, description, introduced_version_major, introduced_version_minor, \
                     deprecated_version_major, deprecated_version_minor, progress, {}, {}, non_destructive, apply_reverse \
                     FROM out_of_band_migrations ORDER BY id",
                    ts("created"),
                    ts("last_updated")
                );
                let rows = ctx.db()?.query(&sql, &[]).await.map_err(db_err)?;
                self.list(rows.iter().map(|r| {
                    let dep_major: Option<i32> = r.get(6);
                    let dep_minor: Option<i32> = r.get(7);
                    V::OutOfBandMigration(OobRow {
                        id: r.get(0),
                        team: r.get(1),
                        component: r.get(2),
                        description: r.get(3),
                        introduced: format!("{}.{}", r.get::<_, i32>(4), r.get::<_, i32>(5)),
                        deprecated: dep_major.map(|m| format!("{m}.{}", dep_minor.unwrap_or(0))),
                        progress: r.get(8),
                        created: r.get(9),
                        last_updated: r.get(10),
                        non_destructive: r.get(11),
                        apply_reverse: r.get(12),
                    })
                }))
            }
            "savedSearches" => {
                refuse_args(info, &["last", "before"])?;
                let ns_id = arg_str(info, "namespace").ok_or_else(|| ferr("namespace is required"))?;
                let namespace = match ctx.subject_by_id(&ns_id).await? {
                    Subject::Site => return Err(ferr(format!("invalid namespace ID {ns_id:?}"))),
                    s => s,
                };
                if !ctx.admin {
                    let viewer = ctx.viewer().await?;
                    if namespace != Subject::User(viewer.id) {
                        return Err(ferr("must be authenticated as the authorized user or site admin"));
                    }
                }
                let limit = page_limit(ctx, info, Paging::Resolver { max: 100 })?.unwrap_or(0);
                let after = match arg_str(info, "after") {
                    Some(a) => Some(to_i32(ids::unmarshal_int("SavedSearch", &a).map_err(ferr)?)?),
                    None => None,
                };
                self.ok_obj(Conn::new_value(Spec::SavedSearches {
                    limit,
                    after,
                    namespace,
                }))
            }
            "preciseIndexes" => {
                refuse_args(info, &["query", "indexerKey", "dependencyOf", "dependentOf"])?;
                if arg_bool(info, "includeDeleted") == Some(true) {
                    return Err(ferr(
                        "sg-api-emulator does not emulate includeDeleted (no upload audit logs)",
                    ));
                }
                let repo = match arg_str(info, "repo") {
                    Some(r) => Some(to_i32(ids::unmarshal_int("Repository", &r).map_err(ferr)?)?),
                    None => {
                        ctx.require_admin()?;
                        None
                    }
                };
                let offset = match arg_str(info, "after") {
                    Some(a) => a
                        .parse::<i64>()
                        .map_err(|_| ferr(format!("invalid cursor {a:?}")))?,
                    None => 0,
                };
                let states = arg_strs(info, "states");
                if let Some(s) = &states {
                    for st in s {
                        upload_states(st)?;
                    }
                }
                let limit = page_limit(ctx, info, Paging::Legacy)?;
                self.ok_obj(Conn::new_value(Spec::PreciseIndexes {
                    limit,
                    offset,
                    states,
                    repo,
                }))
            }
            "insightViews" => {
                refuse_args(info, &["find"])?;
                let unique = |id: String| ids::unmarshal_str("insight_view", &id).map_err(ferr);
                let after = arg_str(info, "after");
                let id = arg_str(info, "id").map(unique).transpose()?;
                let exclude = arg_strs(info, "excludeIds")
                    .unwrap_or_default()
                    .into_iter()
                    .map(unique)
                    .collect::<Result<Vec<_>, _>>()?;
                let limit = page_limit(ctx, info, Paging::Legacy)?;
                self.ok_obj(Conn::new_value(Spec::InsightViews {
                    limit,
                    after,
                    id,
                    exclude,
                    frozen: arg_bool(info, "isFrozen"),
                }))
            }
            "node" => {
                let id = arg_str(info, "id").unwrap_or_default();
                Ok(match self.node_by_id(&id).await? {
                    Some(v) => self.obj(v),
                    None => AsyncResolvedValue::null(),
                })
            }
            "settingsSubject" => {
                let id = arg_str(info, "id").unwrap_or_default();
                match ctx.subject_by_id(&id).await? {
                    Subject::Site => self.ok_obj(V::Site),
                    Subject::User(u) => match ctx.user_by_id(u).await? {
                        Some(u) => self.ok_obj(V::User(u)),
                        None => null(),
                    },
                    Subject::Org(o) => match ctx.org_by_id(o).await? {
                        Some(o) => self.ok_obj(V::Org(o)),
                        None => null(),
                    },
                }
            }
            _ => Err(self.not_emulated(info)),
        }
    }

    async fn node_by_id(&self, id: &str) -> Result<Option<V>, FieldError> {
        let ctx = &self.ctx;
        let Some((kind, spec)) = ids::unmarshal(id) else {
            return Err(ferr(format!("invalid graphql ID {id:?}")));
        };
        let n = spec.as_i64();
        let n32 = n.and_then(|x| i32::try_from(x).ok());
        Ok(match (kind.as_str(), n, n32) {
            ("User", _, Some(i)) => ctx.user_by_id(i).await?.map(V::User),
            ("Org", _, Some(i)) => {
                ctx.require_admin()?;
                ctx.org_by_id(i).await?.map(V::Org)
            }
            ("Repository", _, Some(i)) => ctx.repo_by_id(i).await?.map(V::Repository),
            ("ExternalService", Some(i), _) => {
                ctx.require_admin()?;
                let sql = format!(
                    "SELECT id, kind, display_name, config, {}, {}, {}, {} FROM external_services \
                     WHERE id = $1 AND deleted_at IS NULL",
                    ts("created_at"),
                    ts("updated_at"),
                    ts("last_sync_at"),
                    ts("next_sync_at")
                );
                let row = ctx.db()?.query_opt(&sql, &[&i]).await.map_err(db_err)?;
                row.map(|r| {
                    V::ExternalService(ExtSvcRow {
                        id: r.get(0),
                        kind: r.get(1),
                        display_name: r.get(2),
                        config: r.get(3),
                        created_at: r.get(4),
                        updated_at: r.get(5),
                        last_sync_at: get_opt_str(&r, 6),
                        next_sync_at: get_opt_str(&r, 7),
                    })
                })
            }
            _ => {
                return Err(ferr(format!(
                    "sg-api-emulator does not emulate node lookups of kind {kind:?} (this is an emulator, not Sourcegraph)"
                )))
            }
        })
    }

    async fn site_field<'a>(&self, info: &ResolveInfo<'_>) -> Res<'a> {
        let ctx = &self.ctx;
        match info.field_name() {
            "id" => leaf(ids::site_id()),
            "siteID" => {
                let row = ctx
                    .db()?
                    .query_opt("SELECT site_id::text FROM global_state LIMIT 1", &[])
                    .await
                    .map_err(db_err)?;
                leaf(row.map(|r| r.get::<_, String>(0)).unwrap_or_default())
            }
            "configuration" => {
                // The site configuration holds secrets: Sourcegraph shows it to site admins only.
                ctx.require_admin()?;
                let (id, contents) = ctx.site_config().await?;
                self.ok_obj(V::SiteConfiguration { id, contents })
            }
            "latestSettings" => Ok(match ctx.latest_settings(&Subject::Site).await? {
                Some(s) => self.obj(V::Settings(s)),
                None => AsyncResolvedValue::null(),
            }),
            "settingsURL" => leaf("/site-admin/global-settings"),
            "canReloadSite" | "viewerCanAdminister" => leaf(ctx.admin),
            "authProviders" => {
                let (_, contents) = ctx.site_config().await?;
                self.ok_obj(Conn::new_value(Spec::AuthProviders(auth_providers(&contents)?)))
            }
            "productVersion" | "buildVersion" => {
                let row = ctx
                    .db()?
                    .query_opt("SELECT version FROM versions WHERE service = 'frontend'", &[])
                    .await
                    .map_err(db_err)?;
                match row {
                    Some(r) => leaf(r.get::<_, String>(0)),
                    None => Err(ferr(
                        "sg-api-emulator: the versions table has no row for service 'frontend'",
                    )),
                }
            }
            "alerts" => {
                let alerts = ctx.shared.state().site_alerts;
                self.list(alerts.into_iter().map(|a| V::Alert {
                    type_: a.type_,
                    message: a.message,
                }))
            }
            "allowSiteSettingsEdits" => leaf(ctx.shared.state().allow_site_settings_edits),
            "externalServicesFromFile" | "allowEditExternalServicesWithFile" => leaf(false),
            "needsRepositoryConfiguration" => {
                ctx.require_admin()?;
                let row = ctx
                    .db()?
                    .query_one(
                        "SELECT count(*) FROM external_services WHERE deleted_at IS NULL \
                         AND namespace_user_id IS NULL AND namespace_org_id IS NULL",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                leaf(row.get::<_, i64>(0) == 0)
            }
            _ => Err(self.not_emulated(info)),
        }
    }

    async fn user_field<'a>(&self, info: &ResolveInfo<'_>, u: &UserRow) -> Res<'a> {
        let ctx = &self.ctx;
        match info.field_name() {
            "id" => leaf(ids::marshal_int("User", u.id.into())),
            "databaseID" => leaf(u.id),
            "username" | "namespaceName" => leaf(u.username.as_str()),
            "displayName" => opt_leaf(u.display_name.clone()),
            "avatarURL" => opt_leaf(u.avatar_url.clone()),
            "url" => leaf(format!("/users/{}", u.username)),
            "settingsURL" => leaf(format!("/users/{}/settings", u.username)),
            "createdAt" => leaf(u.created_at.as_str()),
            "updatedAt" => opt_leaf(u.updated_at.clone()),
            "siteAdmin" => leaf(u.site_admin),
            "builtinAuth" => leaf(u.builtin_auth),
            "tosAccepted" => leaf(u.tos_accepted),
            "searchable" => leaf(u.searchable),
            "viewerCanAdminister" => leaf(ctx.admin || ctx.viewer().await?.id == u.id),
            "latestSettings" => Ok(match ctx.latest_settings(&Subject::User(u.id)).await? {
                Some(s) => self.obj(V::Settings(s)),
                None => AsyncResolvedValue::null(),
            }),
            _ => Err(self.not_emulated(info)),
        }
    }

    async fn external_service_field<'a>(&self, info: &ResolveInfo<'_>, s: &ExtSvcRow) -> Res<'a> {
        let ctx = &self.ctx;
        match info.field_name() {
            "id" => leaf(ids::marshal_int("ExternalService", s.id)),
            "kind" => leaf(s.kind.as_str()),
            "displayName" => leaf(s.display_name.as_str()),
            "config" => {
                let mut v = crate::jsonc::parse_value(&s.config)
                    .map_err(|e| {
                        ferr(format!(
                            "the configuration of external service {} is not valid JSONC: {e}",
                            s.id
                        ))
                    })?
                    .unwrap_or(serde_json::Value::Null);
                redact(&mut v);
                leaf(serde_json::to_string_pretty(&v).unwrap_or_default())
            }
            "createdAt" => leaf(s.created_at.as_str()),
            "updatedAt" => leaf(s.updated_at.as_str()),
            "lastSyncAt" => opt_leaf(s.last_sync_at.clone()),
            "nextSyncAt" => opt_leaf(s.next_sync_at.clone()),
            "webhookURL" | "warning" => null(),
            "repoCount" => {
                let row = ctx
                    .db()?
                    .query_one(
                        "SELECT count(*) FROM external_service_repos esr JOIN repo r ON r.id = esr.repo_id \
                         WHERE esr.external_service_id = $1 AND r.deleted_at IS NULL",
                        &[&s.id],
                    )
                    .await
                    .map_err(db_err)?;
                leaf(row.get::<_, i64>(0))
            }
            "lastSyncError" => {
                // Sourcegraph: the failure message of the latest finished sync job.
                let row = ctx
                    .db()?
                    .query_opt(
                        "SELECT failure_message FROM external_service_sync_jobs WHERE external_service_id = $1 \
                         AND state IN ('completed', 'errored', 'failed') ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT 1",
                        &[&s.id],
                    )
                    .await
                    .map_err(db_err)?;
                opt_leaf(row.and_then(|r| r.get::<_, Option<String>>(0)))
            }
            "syncJobs" => {
                let limit = page_limit(ctx, info, Paging::Legacy)?;
                self.ok_obj(Conn::new_value(Spec::SyncJobs { service: s.id, limit }))
            }
            "hasConnectionCheck" => leaf(false),
            _ => Err(self.not_emulated(info)),
        }
    }

    async fn perm_job_field<'a>(&self, info: &ResolveInfo<'_>, j: &PermJobRow) -> Res<'a> {
        let ctx = &self.ctx;
        let time = |t: &Option<String>| opt_leaf(t.clone());
        match info.field_name() {
            "id" => leaf(ids::marshal_int("PermissionsSyncJob", j.id.into())),
            "state" => leaf(
                j.state
                    .clone()
                    .unwrap_or_else(|| "queued".to_string())
                    .to_uppercase(),
            ),
            "failureMessage" => opt_leaf(j.failure_message.clone()),
            "reason" => self.ok_obj(V::PermissionsSyncJobReasonWithGroup {
                reason: j.reason.clone(),
            }),
            "cancellationReason" => opt_leaf(j.cancellation_reason.clone()),
            "triggeredByUser" => match j.triggered_by_user_id {
                Some(id) if id > 0 => Ok(match ctx.user_by_id(id).await? {
                    Some(u) => self.obj(V::User(u)),
                    None => AsyncResolvedValue::null(),
                }),
                _ => null(),
            },
            "queuedAt" => leaf(j.queued_at.clone().unwrap_or_else(|| ZERO_TIME.to_string())),
            "startedAt" => time(&j.started_at),
            "finishedAt" => time(&j.finished_at),
            "processAfter" => time(&j.process_after),
            "lastHeartbeatAt" => time(&j.last_heartbeat_at),
            "ranForMs" => leaf(j.ran_for_ms),
            "numResets" => leaf(j.num_resets),
            "numFailures" => leaf(j.num_failures),
            "workerHostname" => leaf(j.worker_hostname.as_str()),
            "cancel" => leaf(j.cancel),
            "subject" => self.ok_obj((*j.subject).clone()),
            "priority" => leaf(match j.priority {
                p if p >= 10 => "HIGH",
                p if p >= 5 => "MEDIUM",
                _ => "LOW",
            }),
            "noPerms" => leaf(j.no_perms),
            "invalidateCaches" => leaf(j.invalidate_caches),
            "permissionsAdded" => leaf(j.permissions[0]),
            "permissionsRemoved" => leaf(j.permissions[1]),
            "permissionsFound" => leaf(j.permissions[2]),
            "codeHostStates" => self.list(j.code_host_states.iter().cloned().map(V::CodeHostState)),
            "partialSuccess" => leaf(j.partial_success),
            "placeInQueue" => null(),
            _ => Err(self.not_emulated(info)),
        }
    }
}

fn to_i32(n: i64) -> Result<i32, FieldError> {
    i32::try_from(n).map_err(|_| ferr(format!("ID {n} is out of range")))
}

fn user_id_of(id: &str) -> Result<i32, FieldError> {
    to_i32(ids::unmarshal_int("User", id).map_err(ferr)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_providers_from_site_config() {
        let cfg = r#"{
          // comment
          "auth.providers": [
            {"type": "builtin", "allowSignup": true},
            {"type": "github", "url": "https://ghe.example.com", "clientID": "abc", "clientSecret": "s", "displayName": "GHE"},
            {"type": "gitlab", "clientID": "x", "clientSecret": "y"},
            {"type": "openidconnect", "issuer": "https://issuer.example.com", "clientID": "o", "clientSecret": "p"},
          ],
        }"#;
        let ps = auth_providers(cfg).map_err(|e| e.message).expect("test input");
        let got: Vec<(&str, &str, &str)> = ps
            .iter()
            .map(|p| {
                (
                    p.service_type.as_str(),
                    p.service_id.as_str(),
                    p.display_name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("builtin", "", "Builtin username-password authentication"),
                ("github", "https://ghe.example.com/", "GHE"),
                ("gitlab", "https://gitlab.com/", "GitLab"),
                ("openidconnect", "https://issuer.example.com", "OpenID Connect"),
            ]
        );
        assert!(auth_providers("{}")
            .map_err(|e| e.message)
            .expect("test input")
            .is_empty());
        assert!(auth_providers("{").is_err());
    }

    #[test]
    fn redacts_secrets() {
        let mut v =
            serde_json::json!({"url": "https://github.com", "token": "ghp_x", "nested": [{"password": "p"}]});
        redact(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"url": "https://github.com", "token": "REDACTED", "nested": [{"password": "REDACTED"}]})
        );
    }

    #[test]
    fn reason_groups() {
        assert_eq!(reason_group("REASON_MANUAL_USER_SYNC"), "MANUAL");
        assert_eq!(reason_group("REASON_GITHUB_REPO_EVENT"), "WEBHOOK");
        assert_eq!(reason_group("REASON_USER_NO_PERMS"), "SCHEDULE");
        assert!(reasons_in_group("SOURCEGRAPH").contains(&"REASON_USER_EMAIL_VERIFIED".to_string()));
    }
}
