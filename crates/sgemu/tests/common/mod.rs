//! Shared test setup: Sourcegraph-shaped databases on the shared PostgreSQL 16 server, an
//! emulator over them, and a small GraphQL client.

#![allow(dead_code)]

use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};
use sgemu::{Emulator, EmulatorConfig};
use testkit::PgServer;

pub const ADMIN_TOKEN: &str = "sgp_admin_0123456789";
pub const USER_TOKEN: &str = "sgp_user_0123456789";

/// The rows every test database starts with. Ids matter to the tests.
pub const FRONTEND_FIXTURE: &str = r#"
INSERT INTO users (id, username, display_name, site_admin, passwd) VALUES
  (1, 'admin', 'Admin', true, 'x'), (2, 'alice', 'Alice', false, NULL), (3, 'bob', NULL, false, NULL),
  (4, 'gone', NULL, false, NULL), (5, 'carol', NULL, false, NULL);
UPDATE users SET deleted_at = now() WHERE id = 4;
INSERT INTO orgs (id, name, display_name) VALUES (1, 'acme', 'ACME'), (2, 'umbrella', NULL), (3, 'defunct', NULL);
UPDATE orgs SET deleted_at = now() WHERE id = 3;
INSERT INTO org_members (org_id, user_id) VALUES (1, 2);
INSERT INTO external_services (id, kind, display_name, config) VALUES
  (1, 'GITHUB', 'GitHub.com', '{"url": "https://github.com", "token": "ghp_secret"}'),
  (2, 'GITLAB', 'GitLab', '{"url": "https://gitlab.com", "token": "glpat_secret"}'),
  (3, 'BITBUCKETSERVER', 'Bitbucket', '{"url": "https://bb.example.com"}'),
  (4, 'GITHUB', 'Deleted', '{"url": "https://github.com"}'),
  (5, 'GERRIT', 'Gerrit', '{"url": "https://gerrit.example.com"}'),
  (6, 'PERFORCE', 'Perforce', '{"p4.port": "ssl:p4:1666"}'),
  (7, 'OTHER', 'Alice''s', '{"url": "https://git.example.com"}');
UPDATE external_services SET deleted_at = now() WHERE id = 4;
UPDATE external_services SET namespace_user_id = 2 WHERE id = 7;
INSERT INTO repo (id, name, private) VALUES
  (1, 'github.com/acme/api', false), (2, 'github.com/acme/web', true), (3, 'gitlab.com/x/y', false),
  (4, 'github.com/acme/old', false), (5, 'github.com/acme/blocked', false);
UPDATE repo SET deleted_at = now() WHERE id = 4;
UPDATE repo SET blocked = '{"reason": "legal"}' WHERE id = 5;
INSERT INTO external_service_repos (external_service_id, repo_id, clone_url) VALUES
  (1, 1, 'https://github.com/acme/api'), (1, 2, 'https://github.com/acme/web'), (2, 3, 'https://gitlab.com/x/y');
INSERT INTO external_service_sync_jobs (external_service_id, state, queued_at, started_at, finished_at, failure_message) VALUES
  (1, 'completed', now() - interval '2 hours', now() - interval '2 hours', now() - interval '2 hours', NULL),
  (2, 'completed', now() - interval '3 hours', now() - interval '3 hours', now() - interval '3 hours', NULL),
  (2, 'errored', now() - interval '10 minutes', now() - interval '10 minutes', now() - interval '9 minutes', 'gitlab: 401 Unauthorized');
INSERT INTO permission_sync_jobs (state, reason, user_id, finished_at, failure_message) VALUES
  ('errored', 'REASON_USER_OUTDATED_PERMS', 2, now() - interval '5 minutes', 'github: rate limited'),
  ('errored', 'REASON_USER_OUTDATED_PERMS', 4, now(), 'user is deleted');
INSERT INTO permission_sync_jobs (state, reason, repository_id, finished_at, failure_message, code_host_states) VALUES
  ('failed', 'REASON_MANUAL_REPO_SYNC', 1, now() - interval '1 minute', 'repo perms failed',
   ARRAY['{"provider_id": "https://github.com/", "provider_type": "github", "status": "ERROR", "message": "boom"}'::json]);
INSERT INTO permission_sync_jobs (state, reason, user_id, finished_at)
  SELECT 'completed', 'REASON_USER_NO_PERMS', 3, now() - (g || ' minutes')::interval FROM generate_series(1, 150) g;
INSERT INTO out_of_band_migrations (id, team, component, description, created, non_destructive,
    introduced_version_major, introduced_version_minor, deprecated_version_major, deprecated_version_minor, progress) VALUES
  (1, 'search', 'repo', 'backfill something', now(), true, 3, 26, 5, 2, 1.0),
  (2, 'code-intel', 'lsif_uploads', 'migrate something', now(), true, 4, 3, NULL, NULL, 0.5);
INSERT INTO out_of_band_migrations_errors (migration_id, message) VALUES (2, 'relation "foo" does not exist');
INSERT INTO versions (service, version, first_version) VALUES ('frontend', '5.1.0', '5.0.0');
INSERT INTO critical_and_site_config (type, contents) VALUES ('site', '{
  // Site configuration.
  "externalURL": "https://sourcegraph.example.com",
  "auth.providers": [
    {"type": "builtin", "allowSignup": false},
    {"type": "github", "url": "https://github.com", "clientID": "cid", "clientSecret": "shh", "displayName": "GitHub"},
  ],
}');
INSERT INTO saved_searches (description, query, notify_owner, notify_slack, user_id) VALUES
  ('a', 'repo:a', false, false, 2), ('b', 'repo:b', false, false, 2);
INSERT INTO saved_searches (description, query, notify_owner, notify_slack, org_id) VALUES ('c', 'repo:c', false, false, 1);
INSERT INTO lsif_uploads (commit, repository_id, indexer, num_parts, uploaded_parts, state) VALUES
  (repeat('a', 40), 1, 'scip-go', 1, '{}', 'completed'), (repeat('b', 40), 1, 'scip-go', 1, '{}', 'errored'),
  (repeat('c', 40), 1, 'scip-go', 1, '{}', 'deleted'), (repeat('d', 40), 3, 'scip-typescript', 1, '{}', 'queued');
"#;

/// The global settings row the fixture starts with (JSONC with a comment and one notice).
pub const GLOBAL_SETTINGS: &str = "{\n  // Global settings.\n  \"search.defaultPatternType\": \"literal\",\n  \"notices\": [\n    {\n      \"message\": \"Welcome\",\n      \"location\": \"home\"\n    }\n  ]\n}\n";

pub const INSIGHTS_FIXTURE: &str = r#"
INSERT INTO insight_series (id, series_id, query, generation_method) VALUES
  (1, 's-1', 'TODO', 'search'), (2, 's-2', 'FIXME', 'search'), (3, 's-3', 'gone', 'search');
UPDATE insight_series SET deleted_at = now() WHERE id = 3;
INSERT INTO insight_view (id, unique_id, title) VALUES (1, 'view-a', 'A'), (2, 'view-b', 'B'), (3, 'view-c', 'C'), (4, 'view-d', 'D');
INSERT INTO insight_view_series (insight_view_id, insight_series_id) VALUES (1, 1), (2, 1), (2, 2), (3, 2), (4, 3);
"#;

pub fn server() -> &'static PgServer {
    PgServer::shared(16)
}

/// A template database per schema file, loaded once per test process (as superuser: extensions).
fn template(file: &str) -> String {
    static TEMPLATES: OnceLock<Mutex<Vec<(String, String)>>> = OnceLock::new();
    let mut done = TEMPLATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((_, name)) = done.iter().find(|(f, _)| f == file) {
        return name.clone();
    }
    let name = server().unique_name(&format!("sgemu_tpl_{}", file.trim_end_matches(".sql")));
    server().create_database(&name);
    server().psql_file(&name, &testkit::testdata_dir().join("sourcegraph").join(file));
    done.push((file.to_string(), name.clone()));
    name
}

/// A fresh database copied from the `file` schema's template, with `fixture` run in it.
pub fn fresh_db(file: &str, fixture: &str) -> String {
    let tpl = template(file);
    let name = server().unique_name("sgemu");
    static CLONE: Mutex<()> = Mutex::new(());
    {
        // One copy at a time: CREATE DATABASE … TEMPLATE needs the template to itself.
        let _g = CLONE.lock().unwrap_or_else(|p| p.into_inner());
        server().psql(
            "postgres",
            &format!(
                "CREATE DATABASE {} TEMPLATE {};",
                testkit::quote_ident(&name),
                testkit::quote_ident(&tpl)
            ),
        );
    }
    server().psql(&name, fixture);
    name
}

/// A fresh frontend database with the fixture and the global settings row.
pub fn frontend_db() -> String {
    let db = fresh_db("frontend.sql", FRONTEND_FIXTURE);
    server().psql(
        &db,
        &format!(
            "INSERT INTO settings (contents, author_user_id) VALUES ({}, 1);",
            testkit::quote_literal(GLOBAL_SETTINGS)
        ),
    );
    db
}

pub fn insights_db() -> String {
    fresh_db("codeinsights.sql", INSIGHTS_FIXTURE)
}

pub fn conn(db: &str) -> String {
    format!(
        "host={} port={} user={} dbname={}",
        server().host(),
        server().port(),
        server().superuser(),
        db
    )
}

pub fn schema_dir() -> std::path::PathBuf {
    testkit::testdata_dir().join("sourcegraph").join("graphql")
}

pub async fn start(frontend: &str, insights: Option<&str>) -> Emulator {
    Emulator::start(EmulatorConfig {
        frontend: conn(frontend),
        codeintel: None,
        codeinsights: insights.map(conn),
        schema_dir: schema_dir(),
        tokens: vec![(ADMIN_TOKEN.to_string(), true), (USER_TOKEN.to_string(), false)],
        listen: "127.0.0.1:0".parse().expect("listen address"),
    })
    .await
    .unwrap_or_else(|e| panic!("emulator did not start: {e}"))
}

/// POST a GraphQL request with an optional `Authorization` header value; status and body.
pub async fn post(
    emu: &Emulator,
    authorization: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut req = client
        .post(format!("{}/.api/graphql", emu.endpoint()))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = resp.status().as_u16();
    (
        status,
        resp.text()
            .await
            .unwrap_or_else(|e| panic!("reading body failed: {e}")),
    )
}

/// POST as `token`; the parsed GraphQL response (HTTP 200 asserted).
pub async fn gql(emu: &Emulator, token: &str, query: &str, variables: Value) -> Value {
    let (status, body) = post(emu, Some(&format!("token {token}")), query, variables).await;
    assert_eq!(status, 200, "HTTP {status}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Like [`gql`], asserting the response has data and no errors; returns `data`.
pub async fn data(emu: &Emulator, token: &str, query: &str, variables: Value) -> Value {
    let v = gql(emu, token, query, variables).await;
    assert!(v.get("errors").is_none(), "unexpected errors: {v}");
    v["data"].clone()
}

/// The text of an operation file of the sgapi crate.
pub fn operation(name: &str) -> String {
    let path = testkit::workspace_root()
        .join("crates/sgapi/operations")
        .join(format!("{name}.graphql"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Base64url of `Kind:key`, as Sourcegraph marshals IDs.
pub fn gid(kind: &str, key: i64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(format!("{kind}:{key}"))
}

/// Messages of a response's errors.
pub fn error_messages(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}
