//! `summary.json`: src-cli's keys and shape (capitalized, as Go's
//! `encoding/json` writes a struct without tags), plus extra top-level keys
//! src-cli's reader ignores.

use std::collections::BTreeSet;
use std::path::Path;

use futures_util::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Client;
use crate::error::ApiError;
use crate::ops;

/// The file name src-cli and src-snapshot use inside the snapshot folder.
pub const SUMMARY_FILE: &str = "summary.json";

/// An instance summary. The first two fields are src-cli's `snapshotSummary`
/// exactly; the rest are ours (absent in src-cli's files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// External services (code host connections), in the server's order.
    #[serde(rename = "ExternalServices", alias = "externalServices")]
    pub external_services: ExternalServices,
    /// Site facts (auth providers).
    #[serde(rename = "Site", alias = "site")]
    pub site: Site,
    /// `site.productVersion`.
    #[serde(rename = "ProductVersion", default, skip_serializing_if = "Option::is_none")]
    pub product_version: Option<String>,
    /// Counts of what else the instance holds.
    #[serde(rename = "Counts", default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// Top-level keys of the site configuration (never their values), sorted.
    #[serde(rename = "SiteConfigKeys", default, skip_serializing_if = "Option::is_none")]
    pub site_config_keys: Option<Vec<String>>,
    /// What could not be recorded and why (e.g. a field this server lacks).
    #[serde(rename = "Notes", default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `src-snapshot <version>`.
    #[serde(rename = "GeneratedBy", default, skip_serializing_if = "Option::is_none")]
    pub generated_by: Option<String>,
    /// When it was taken (RFC 3339, UTC).
    #[serde(rename = "GeneratedAt", default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<String>,
}

/// src-cli's `ExternalServices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalServices {
    /// `totalCount` as the server reported it.
    #[serde(rename = "TotalCount", alias = "totalCount")]
    pub total_count: i64,
    /// Every external service, in the server's order.
    #[serde(
        rename = "Nodes",
        alias = "nodes",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub nodes: Vec<ExternalService>,
}

/// One external service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalService {
    /// The kind (`GITHUB`, `GITLAB`, …).
    #[serde(rename = "Kind", alias = "kind")]
    pub kind: String,
    /// The GraphQL ID.
    #[serde(rename = "ID", alias = "id")]
    pub id: String,
    /// The display name (ours; not compared, only shown).
    #[serde(
        rename = "DisplayName",
        alias = "displayName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
}

/// Go encodes an empty (nil) slice as `null`.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// src-cli's `Site`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// Auth providers.
    #[serde(rename = "AuthProviders", alias = "authProviders")]
    pub auth_providers: AuthProviders,
}

/// src-cli's `AuthProviders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthProviders {
    /// `totalCount`.
    #[serde(rename = "TotalCount", alias = "totalCount")]
    pub total_count: i64,
    /// Every provider, in the server's order.
    #[serde(
        rename = "Nodes",
        alias = "nodes",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub nodes: Vec<AuthProvider>,
}

/// One auth provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthProvider {
    /// `builtin`, `github`, `saml`, `openidconnect`, …
    #[serde(rename = "ServiceType", alias = "serviceType")]
    pub service_type: String,
    /// The provider's service ID (e.g. `https://github.com/`).
    #[serde(rename = "ServiceID", alias = "serviceID")]
    pub service_id: String,
    /// The display name (ours; not compared, only shown).
    #[serde(
        rename = "DisplayName",
        alias = "displayName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
}

/// Counts; `None` where this server could not tell (see `Notes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Repositories.
    #[serde(rename = "Repositories")]
    pub repositories: Option<u64>,
    /// Users.
    #[serde(rename = "Users")]
    pub users: Option<u64>,
    /// Organizations.
    #[serde(rename = "Organizations")]
    pub organizations: Option<u64>,
    /// Precise code-intel uploads (not deleted).
    #[serde(rename = "CodeIntelUploads")]
    pub code_intel_uploads: Option<u64>,
    /// Distinct code insight data series.
    #[serde(rename = "InsightSeries")]
    pub insight_series: Option<u64>,
    /// Saved searches over every user and organization.
    #[serde(rename = "SavedSearches")]
    pub saved_searches: Option<u64>,
}

impl Counts {
    /// (name, value) of each count, in a fixed order.
    pub fn entries(&self) -> [(&'static str, Option<u64>); 6] {
        [
            ("Repositories", self.repositories),
            ("Users", self.users),
            ("Organizations", self.organizations),
            ("CodeIntelUploads", self.code_intel_uploads),
            ("InsightSeries", self.insight_series),
            ("SavedSearches", self.saved_searches),
        ]
    }
}

impl Summary {
    /// The JSON text src-cli writes: tab-indented, newline-terminated.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Serializing plain structs of strings and numbers cannot fail.
        if self.serialize(&mut ser).is_err() {
            return String::new();
        }
        let mut s = String::from_utf8(out).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a summary written by src-cli or src-snapshot.
    ///
    /// # Errors
    /// [`ApiError::ReadSummary`] or [`ApiError::ParseSummary`].
    pub fn read(path: &Path) -> Result<Summary, ApiError> {
        let text = std::fs::read_to_string(path).map_err(|source| ApiError::ReadSummary {
            path: path.to_path_buf(),
            source,
        })?;
        Summary::parse(&text).map_err(|message| ApiError::ParseSummary {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses summary JSON text.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<Summary, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Whether this summary has the extra keys only src-snapshot writes.
    pub fn has_extras(&self) -> bool {
        self.counts.is_some() || self.product_version.is_some()
    }
}

/// How to take a summary.
#[derive(Debug, Clone)]
pub struct SummaryOptions {
    /// Saved searches are counted per namespace (user or organization); with
    /// more namespaces than this they are not counted (a note says so).
    pub max_namespaces: usize,
    /// Parallel requests for per-namespace counts.
    pub concurrency: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            max_namespaces: 20_000,
            concurrency: 8,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EsPage {
    external_services: EsConn,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EsConn {
    total_count: i64,
    page_info: PageInfo,
    nodes: Vec<EsNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EsNode {
    id: String,
    kind: String,
    display_name: Option<String>,
}

/// Cursor loop guard: a server that keeps saying "more" with the same
/// cursor would otherwise loop for ever.
pub(crate) fn next_cursor(
    op: &ops::Operation,
    page: &PageInfo,
    prev: &Option<String>,
) -> Result<Option<String>, ApiError> {
    if !page.has_next_page {
        return Ok(None);
    }
    match &page.end_cursor {
        Some(c) if Some(c) != prev.as_ref() => Ok(Some(c.clone())),
        _ => Err(ApiError::Decode {
            operation: op.name.to_string(),
            message: "hasNextPage is true but endCursor is missing or did not advance".into(),
        }),
    }
}

/// Every external service, following `pageInfo` to the end.
///
/// # Errors
/// As [`Client::execute`].
pub async fn external_services(client: &Client) -> Result<ExternalServices, ApiError> {
    let op = ops::EXTERNAL_SERVICES_PAGE;
    let mut after: Option<String> = None;
    let mut nodes = Vec::new();
    let mut total = None;
    loop {
        let page: EsPage = client
            .execute(&op, json!({ "first": client.page_size(), "after": after }))
            .await?;
        let conn = page.external_services;
        total.get_or_insert(conn.total_count);
        nodes.extend(conn.nodes.into_iter().map(|n| ExternalService {
            kind: n.kind,
            id: n.id,
            display_name: n.display_name,
        }));
        match next_cursor(&op, &conn.page_info, &after)? {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    Ok(ExternalServices {
        total_count: total.unwrap_or(0),
        nodes,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApData {
    site: ApSite,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApSite {
    auth_providers: ApConn,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApConn {
    total_count: i64,
    nodes: Vec<ApNode>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApNode {
    service_type: String,
    #[serde(rename = "serviceID")]
    service_id: String,
    display_name: Option<String>,
}

/// Every auth provider.
///
/// # Errors
/// As [`Client::execute`].
pub async fn auth_providers(client: &Client) -> Result<AuthProviders, ApiError> {
    let d: ApData = client.execute(&ops::AUTH_PROVIDERS, json!({})).await?;
    Ok(AuthProviders {
        total_count: d.site.auth_providers.total_count,
        nodes: d
            .site
            .auth_providers
            .nodes
            .into_iter()
            .map(|n| AuthProvider {
                service_type: n.service_type,
                service_id: n.service_id,
                display_name: n.display_name,
            })
            .collect(),
    })
}

/// The user the token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentUser {
    /// The username.
    pub username: String,
    /// Whether they are a site admin.
    pub site_admin: bool,
}

/// Who the token belongs to (`None` when the server sees no user).
///
/// # Errors
/// As [`Client::execute`].
pub async fn current_user(client: &Client) -> Result<Option<CurrentUser>, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct D {
        current_user: Option<CurrentUser>,
    }
    let d: D = client.execute(&ops::CURRENT_USER, json!({})).await?;
    Ok(d.current_user)
}

/// Fails unless the token is a site admin's.
///
/// # Errors
/// [`ApiError::NotSiteAdmin`], or as [`Client::execute`].
pub async fn require_site_admin(client: &Client) -> Result<CurrentUser, ApiError> {
    match current_user(client).await? {
        Some(u) if u.site_admin => Ok(u),
        _ => Err(ApiError::NotSiteAdmin {
            endpoint: client.endpoint().to_string(),
            operation: ops::CURRENT_USER.name.to_string(),
        }),
    }
}

/// `site.productVersion`.
///
/// # Errors
/// As [`Client::execute`].
pub async fn product_version(client: &Client) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct S {
        product_version: String,
    }
    #[derive(Deserialize)]
    struct D {
        site: S,
    }
    let d: D = client.execute(&ops::SITE_VERSION, json!({})).await?;
    Ok(d.site.product_version)
}

/// The site configuration's JSONC text. Callers keep keys only.
///
/// # Errors
/// As [`Client::execute`].
pub(crate) async fn site_configuration(client: &Client) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct C {
        effective_contents: String,
    }
    #[derive(Deserialize)]
    struct S {
        configuration: C,
    }
    #[derive(Deserialize)]
    struct D {
        site: S,
    }
    let d: D = client.execute(&ops::SITE_CONFIGURATION, json!({})).await?;
    Ok(d.site.configuration.effective_contents)
}

/// Top-level keys of the site configuration, sorted (values are dropped
/// here and never leave this function).
///
/// # Errors
/// As [`Client::execute`], or [`ApiError::Settings`] for unparsable JSONC.
pub async fn site_config_keys(client: &Client) -> Result<Vec<String>, ApiError> {
    let text = site_configuration(client).await?;
    Ok(top_level_keys(&text)?)
}

pub(crate) fn top_level_keys(text: &str) -> Result<Vec<String>, crate::jsonc::JsoncError> {
    let root = crate::jsonc::parse(text)?;
    let keys: BTreeSet<String> = root
        .as_ref()
        .and_then(|r| r.members())
        .map(|m| m.iter().map(|m| m.key.clone()).collect())
        .unwrap_or_default();
    Ok(keys.into_iter().collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountsData {
    repositories: Total,
    users: Total,
    organizations: Total,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Total {
    total_count: Option<i64>,
}

fn to_u64(n: Option<i64>) -> Option<u64> {
    n.and_then(|n| u64::try_from(n).ok())
}

/// A count that may be missing on this server: unknown fields and GraphQL
/// errors (e.g. code insights disabled) become a note; auth and transport
/// errors still fail the summary.
fn optional<T>(what: &str, r: Result<T, ApiError>, notes: &mut Vec<String>) -> Result<Option<T>, ApiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e @ (ApiError::Unsupported { .. } | ApiError::GraphQl { .. })) => {
            notes.push(format!("{what}: not recorded: {e}"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn code_intel_uploads(client: &Client) -> Result<Option<u64>, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct D {
        precise_indexes: Total,
    }
    let d: D = client.execute(&ops::CODE_INTEL_UPLOADS_COUNT, json!({})).await?;
    Ok(to_u64(d.precise_indexes.total_count))
}

async fn insight_series(client: &Client) -> Result<u64, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Def {
        series_id: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct View {
        #[serde(default)]
        data_series_definitions: Vec<Def>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Conn {
        page_info: PageInfo,
        nodes: Vec<Option<View>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct D {
        insight_views: Conn,
    }
    let op = ops::INSIGHT_SERIES_PAGE;
    let mut ids = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let d: D = client
            .execute(&op, json!({ "first": client.page_size(), "after": after }))
            .await?;
        for v in d.insight_views.nodes.into_iter().flatten() {
            ids.extend(v.data_series_definitions.into_iter().filter_map(|d| d.series_id));
        }
        match next_cursor(&op, &d.insight_views.page_info, &after)? {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    Ok(ids.len() as u64)
}

/// Every user and organization id (the namespaces saved searches live in).
async fn namespaces(client: &Client, org_count: u64, limit: usize) -> Result<Option<Vec<String>>, ApiError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct UConn {
        total_count: i64,
        page_info: PageInfo,
        nodes: Vec<Id>,
    }
    #[derive(Deserialize)]
    struct U {
        users: UConn,
    }
    #[derive(Deserialize)]
    struct OConn {
        nodes: Vec<Id>,
    }
    #[derive(Deserialize)]
    struct O {
        organizations: OConn,
    }
    let op = ops::USERS_PAGE;
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d: U = client
            .execute(&op, json!({ "first": client.page_size(), "after": after }))
            .await?;
        if d.users.total_count as u64 + org_count > limit as u64 {
            return Ok(None);
        }
        ids.extend(d.users.nodes.into_iter().map(|n| n.id));
        match next_cursor(&op, &d.users.page_info, &after)? {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    if org_count > 0 {
        // OrgConnection has no cursor: ask for all of them at once.
        let first = i64::try_from(org_count).unwrap_or(i64::MAX);
        let d: O = client
            .execute(&ops::ORGANIZATIONS, json!({ "first": first }))
            .await?;
        ids.extend(d.organizations.nodes.into_iter().map(|n| n.id));
    }
    Ok(Some(ids))
}

async fn saved_searches(
    client: &Client,
    org_count: u64,
    opts: &SummaryOptions,
) -> Result<Option<u64>, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct D {
        saved_searches: Total,
    }
    let Some(ids) = namespaces(client, org_count, opts.max_namespaces).await? else {
        return Ok(None);
    };
    let counts: Vec<i64> = stream::iter(ids)
        .map(|ns| async move {
            let d: D = client
                .execute(&ops::SAVED_SEARCHES_COUNT, json!({ "namespace": ns }))
                .await?;
            Ok::<i64, ApiError>(d.saved_searches.total_count.unwrap_or(0))
        })
        .buffer_unordered(opts.concurrency.max(1))
        .try_collect()
        .await?;
    Ok(Some(counts.into_iter().map(|c| c.max(0) as u64).sum()))
}

/// Takes a summary of the instance: src-cli's part (external services and
/// auth providers, every page) plus version, counts and site-config keys.
/// Parts this server cannot answer are left out with a note.
///
/// # Errors
/// [`ApiError::NotSiteAdmin`] when the token is not a site admin's, and what
/// [`Client::execute`] returns for the required parts.
pub async fn take_summary(client: &Client, opts: &SummaryOptions) -> Result<Summary, ApiError> {
    require_site_admin(client).await?;
    let external_services = external_services(client).await?;
    let auth_providers = auth_providers(client).await?;
    let mut notes = Vec::new();
    let product_version = optional("ProductVersion", product_version(client).await, &mut notes)?;

    let base: Option<CountsData> = optional(
        "Counts",
        client.execute(&ops::SUMMARY_COUNTS, json!({})).await,
        &mut notes,
    )?;
    let mut counts = Counts::default();
    if let Some(b) = &base {
        counts.repositories = to_u64(b.repositories.total_count);
        counts.users = to_u64(b.users.total_count);
        counts.organizations = to_u64(b.organizations.total_count);
    }
    counts.code_intel_uploads =
        optional("CodeIntelUploads", code_intel_uploads(client).await, &mut notes)?.flatten();
    counts.insight_series = optional("InsightSeries", insight_series(client).await, &mut notes)?;
    counts.saved_searches = match counts.organizations {
        Some(orgs) => {
            let r = optional(
                "SavedSearches",
                saved_searches(client, orgs, opts).await,
                &mut notes,
            )?
            .flatten();
            if r.is_none() && !notes.iter().any(|n| n.starts_with("SavedSearches")) {
                notes.push(format!(
                    "SavedSearches: not recorded: more than {} users and organizations to ask one by one",
                    opts.max_namespaces
                ));
            }
            r
        }
        None => None,
    };
    let site_config_keys = match site_config_keys(client).await {
        Ok(k) => Some(k),
        Err(e @ (ApiError::Unsupported { .. } | ApiError::GraphQl { .. } | ApiError::Settings(_))) => {
            notes.push(format!("SiteConfigKeys: not recorded: {e}"));
            None
        }
        Err(e) => return Err(e),
    };
    Ok(Summary {
        external_services,
        site: Site { auth_providers },
        product_version,
        counts: Some(counts),
        site_config_keys,
        notes,
        generated_by: Some(concat!("src-snapshot ", env!("CARGO_PKG_VERSION")).to_string()),
        generated_at: Some(crate::time::format_rfc3339(std::time::SystemTime::now())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What src-cli writes (Go's encoder, tab indent).
    const SRC_CLI: &str = "{\n\t\"ExternalServices\": {\n\t\t\"TotalCount\": 2,\n\t\t\"Nodes\": [\n\t\t\t{\n\t\t\t\t\"Kind\": \"GITHUB\",\n\t\t\t\t\"ID\": \"RXh0ZXJuYWxTZXJ2aWNlOjI=\"\n\t\t\t},\n\t\t\t{\n\t\t\t\t\"Kind\": \"GITLAB\",\n\t\t\t\t\"ID\": \"RXh0ZXJuYWxTZXJ2aWNlOjE=\"\n\t\t\t}\n\t\t]\n\t},\n\t\"Site\": {\n\t\t\"AuthProviders\": {\n\t\t\t\"TotalCount\": 1,\n\t\t\t\"Nodes\": [\n\t\t\t\t{\n\t\t\t\t\t\"ServiceType\": \"builtin\",\n\t\t\t\t\t\"ServiceID\": \"\"\n\t\t\t\t}\n\t\t\t]\n\t\t}\n\t}\n}\n";

    #[test]
    fn reads_src_cli_files_and_writes_them_back_identically() {
        let s = Summary::parse(SRC_CLI).expect("parse");
        assert_eq!(s.external_services.total_count, 2);
        assert_eq!(s.external_services.nodes[1].id, "RXh0ZXJuYWxTZXJ2aWNlOjE=");
        assert_eq!(s.site.auth_providers.nodes[0].service_type, "builtin");
        assert!(!s.has_extras());
        // Without extras our writer produces src-cli's bytes exactly.
        assert_eq!(s.to_json(), SRC_CLI);
    }

    #[test]
    fn exact_field_names_for_a_go_reader() {
        let s = Summary {
            external_services: ExternalServices {
                total_count: 1,
                nodes: vec![ExternalService {
                    kind: "GITHUB".into(),
                    id: "RXh0ZXJuYWxTZXJ2aWNlOjE=".into(),
                    display_name: Some("GitHub".into()),
                }],
            },
            site: Site {
                auth_providers: AuthProviders {
                    total_count: 1,
                    nodes: vec![AuthProvider {
                        service_type: "github".into(),
                        service_id: "https://github.com/".into(),
                        display_name: None,
                    }],
                },
            },
            product_version: Some("5.1.0".into()),
            counts: Some(Counts {
                repositories: Some(3),
                users: Some(2),
                organizations: Some(1),
                code_intel_uploads: Some(0),
                insight_series: None,
                saved_searches: Some(4),
            }),
            site_config_keys: Some(vec!["auth.providers".into(), "externalURL".into()]),
            notes: vec![],
            generated_by: Some("src-snapshot 0.1.0".into()),
            generated_at: Some("2026-01-01T00:00:00Z".into()),
        };
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).expect("json");
        // Go's encoding/json matches these names (it also accepts other cases,
        // but src-cli writes exactly these).
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut top = keys(&v);
        top.sort();
        assert_eq!(
            top,
            [
                "Counts",
                "ExternalServices",
                "GeneratedAt",
                "GeneratedBy",
                "ProductVersion",
                "Site",
                "SiteConfigKeys"
            ]
        );
        let mut es = keys(&v["ExternalServices"]);
        es.sort();
        assert_eq!(es, ["Nodes", "TotalCount"]);
        let mut node = keys(&v["ExternalServices"]["Nodes"][0]);
        node.sort();
        assert_eq!(node, ["DisplayName", "ID", "Kind"]);
        assert_eq!(v["ExternalServices"]["TotalCount"], 1);
        assert_eq!(v["ExternalServices"]["Nodes"][0]["Kind"], "GITHUB");
        assert_eq!(
            v["ExternalServices"]["Nodes"][0]["ID"],
            "RXh0ZXJuYWxTZXJ2aWNlOjE="
        );
        assert_eq!(v["Site"]["AuthProviders"]["TotalCount"], 1);
        assert_eq!(v["Site"]["AuthProviders"]["Nodes"][0]["ServiceType"], "github");
        assert_eq!(
            v["Site"]["AuthProviders"]["Nodes"][0]["ServiceID"],
            "https://github.com/"
        );
        assert_eq!(v["Counts"]["InsightSeries"], serde_json::Value::Null);
        assert_eq!(v["Counts"]["SavedSearches"], 4);
        // Round trip.
        assert_eq!(Summary::parse(&s.to_json()).expect("parse"), s);
    }

    #[test]
    fn site_config_keys_never_values() {
        let keys = top_level_keys("{\n // c\n \"externalURL\": \"https://x\",\n \"auth.providers\": [{\"type\": \"builtin\"}],\n \"encryption.keys\": {\"secret\": \"s3cr3t\"},\n}")
            .expect("keys");
        assert_eq!(keys, ["auth.providers", "encryption.keys", "externalURL"]);
        assert!(!format!("{keys:?}").contains("s3cr3t"));
    }

    #[test]
    fn rejects_what_is_not_a_summary() {
        assert!(Summary::parse("{}").is_err());
        assert!(Summary::parse("[1]").is_err());
        let empty = Summary::parse("{\"ExternalServices\": {\"TotalCount\": 0, \"Nodes\": null}, \"Site\": {\"AuthProviders\": {\"TotalCount\": 0}}}")
            .expect("Go's nil slices");
        assert!(empty.external_services.nodes.is_empty());
    }
}
