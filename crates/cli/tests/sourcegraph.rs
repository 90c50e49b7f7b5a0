//! `summary`, `test`, `notice` and `preflight` run as the real binary
//! against the Sourcegraph API emulator (`sgemu`), which answers from real
//! Sourcegraph databases on a real Postgres and validates every operation
//! against Sourcegraph's schema.

mod common;

use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use testkit::PgServer;

const ADMIN_TOKEN: &str = "sgp_admin_0123456789abcdef";
const USER_TOKEN: &str = "sgp_user_fedcba9876543210";

/// Rows added to the seed so pagination, counts and auth providers have
/// something to show (3 external services, 3 users: pages of 2).
const EXTRA_SQL: &str = r#"
INSERT INTO users (id, username, created_at, updated_at) VALUES (3, 'carol', '2023-05-03 10:00:00+00', '2023-05-03 10:00:00+00');
SELECT setval('users_id_seq', 3, true);
INSERT INTO external_services (id, kind, display_name, config, created_at, updated_at, encryption_key_id) VALUES
  (2, 'GITLAB', 'GitLab', '{"url": "https://gitlab.com", "token": "REDACTED-GL"}', '2023-05-02 10:00:00+00', '2023-05-02 10:00:00+00', ''),
  (3, 'BITBUCKETSERVER', 'Bitbucket', '{"url": "https://bb.example.com", "token": "REDACTED-BB"}', '2023-05-03 10:00:00+00', '2023-05-03 10:00:00+00', '');
SELECT setval('external_services_id_seq', 3, true);
INSERT INTO saved_searches (id, description, query, notify_owner, notify_slack, user_id, org_id) VALUES
  (1, 'todo', 'TODO', false, false, 1, NULL),
  (2, 'acme fixmes', 'FIXME', false, false, NULL, 1);
SELECT setval('saved_searches_id_seq', 2, true);
UPDATE critical_and_site_config SET contents = E'{\n  "externalURL": "https://sourcegraph.example.com",\n  "auth.providers": [\n    {"type": "builtin"},\n    {"type": "github", "url": "https://github.com/", "clientID": "cid", "clientSecret": "top-secret-client-value", "displayName": "GitHub"}\n  ]\n}' WHERE id = 1;
INSERT INTO external_service_sync_jobs (state, external_service_id, started_at, finished_at, queued_at)
  SELECT 'completed', id, now() - interval '2 minutes', now() - interval '1 minute', now() - interval '3 minutes' FROM external_services;
"#;

fn server() -> &'static PgServer {
    PgServer::shared(16)
}

/// Template databases (frontend, codeinsights), built once per process and
/// never connected to afterwards, so `CREATE DATABASE … TEMPLATE` works.
fn templates() -> &'static (String, String) {
    static T: OnceLock<(String, String)> = OnceLock::new();
    T.get_or_init(|| {
        let s = server();
        let td = testkit::testdata_dir();
        let fe = s.unique_name("sgapi_tpl_frontend");
        s.create_database(&fe);
        s.psql_file(&fe, &td.join("sourcegraph/frontend.sql"));
        s.psql_file(&fe, &td.join("dumps/seed-frontend.sql"));
        s.psql(&fe, EXTRA_SQL);
        let ci = s.unique_name("sgapi_tpl_codeinsights");
        s.create_database(&ci);
        s.psql_file(&ci, &td.join("sourcegraph/codeinsights.sql"));
        s.psql_file(&ci, &td.join("dumps/seed-codeinsights.sql"));
        (fe, ci)
    })
}

/// A copy of `template` (what `createdb -T` does), as a migrated target is
/// a copy of the source.
fn copy_db(template: &str) -> String {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let name = server().unique_name("sgapi");
    server().psql(
        "postgres",
        &format!(
            "CREATE DATABASE {} TEMPLATE {};",
            testkit::quote_ident(&name),
            testkit::quote_ident(template)
        ),
    );
    name
}

fn conn(db: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={} dbname={db}",
        server().port(),
        server().superuser()
    )
}

/// One emulated instance over its own databases.
struct Instance {
    frontend: String,
    insights: String,
    emu: Option<sgemu::Emulator>,
}

impl Instance {
    /// A fresh instance from the templates.
    fn new(rt: &tokio::runtime::Runtime) -> Instance {
        let (fe, ci) = templates();
        let (frontend, insights) = (copy_db(fe), copy_db(ci));
        Instance::over(rt, frontend, insights)
    }

    /// An instance over existing databases.
    fn over(rt: &tokio::runtime::Runtime, frontend: String, insights: String) -> Instance {
        let emu = rt
            .block_on(sgemu::Emulator::start(sgemu::EmulatorConfig {
                frontend: conn(&frontend),
                codeintel: None,
                codeinsights: Some(conn(&insights)),
                schema_dir: testkit::testdata_dir().join("sourcegraph/graphql"),
                tokens: vec![(ADMIN_TOKEN.into(), true), (USER_TOKEN.into(), false)],
                listen: "127.0.0.1:0".parse().expect("address"),
            }))
            .expect("start the emulator");
        Instance {
            frontend,
            insights,
            emu: Some(emu),
        }
    }

    fn emu(&self) -> &sgemu::Emulator {
        self.emu.as_ref().expect("running")
    }

    fn endpoint(&self) -> String {
        self.emu().endpoint()
    }

    fn sql(&self, sql: &str) -> String {
        server().psql(&self.frontend, sql)
    }

    /// The binary with SRC_ENDPOINT and the admin token in the environment.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = common::cmd();
        c.env("SRC_ENDPOINT", self.endpoint())
            .env("SRC_ACCESS_TOKEN", ADMIN_TOKEN)
            .args(args);
        c
    }

    /// Every operation received so far validated against the schema.
    fn assert_all_valid(&self) {
        let got = self.emu().received();
        assert!(!got.is_empty(), "nothing was sent");
        let bad: Vec<_> = got.iter().filter(|o| !o.valid).collect();
        assert!(bad.is_empty(), "operations that do not validate: {bad:#?}");
    }

    /// Names of the operations received, in order.
    fn received_names(&self) -> Vec<String> {
        self.emu()
            .received()
            .iter()
            .map(|o| o.name.clone().unwrap_or_default())
            .collect()
    }

    fn close(mut self, rt: &tokio::runtime::Runtime) {
        if let Some(e) = self.emu.take() {
            rt.block_on(e.shutdown());
        }
        server().drop_database(&self.frontend);
        server().drop_database(&self.insights);
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs, checks the exit code and that no secret was printed; returns (stdout, stderr).
fn expect_code(mut c: impl BorrowMut<Command>, code: i32) -> (String, String) {
    let c = c.borrow_mut();
    let out: Output = c.output().expect("spawn src-snapshot");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "{c:?}\n{}",
        testkit::describe_output(&out)
    );
    for secret in [ADMIN_TOKEN, USER_TOKEN, "top-secret-client-value", "REDACTED-GL"] {
        assert!(
            !o.contains(secret) && !e.contains(secret),
            "a secret was printed by {c:?}:\n{o}\n{e}"
        );
    }
    (o, e)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
}

fn without_time(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("GeneratedAt");
    }
    v
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(testkit::unique_name(name));
    std::fs::create_dir_all(&d).expect("tmp");
    d
}

#[test]
fn summary_on_source_equals_summary_on_migrated_target_and_test_passes() {
    let rt = rt();
    let (fe, ci) = templates();
    let src = Instance::new(&rt);
    // The "migrated target": database copies of the source, served by a second emulator.
    let (tfe, tci) = (copy_db(fe), copy_db(ci));
    let dst = Instance::over(&rt, tfe, tci);
    let dir = tmp("sgapi-summary");
    let (a, b) = (dir.join("source"), dir.join("target"));

    // Pages of 2 force pagination (3 external services, 3 users).
    let (out, _) = expect_code(
        src.cmd(&["summary", &format!("-dir={}", a.display()), "--page-size=2"]),
        0,
    );
    assert!(out.contains("external services"), "{out}");
    expect_code(
        dst.cmd(&["summary", &format!("-dir={}", b.display()), "--page-size=2"]),
        0,
    );
    let (sa, sb) = (
        read_json(&a.join("summary.json")),
        read_json(&b.join("summary.json")),
    );
    assert_eq!(
        without_time(sa.clone()),
        without_time(sb),
        "source and target summaries differ"
    );

    // What it holds: src-cli's keys, every page, and ours.
    let es = &sa["ExternalServices"];
    assert_eq!(es["TotalCount"], 3);
    let kinds: Vec<&str> = es["Nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["Kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["BITBUCKETSERVER", "GITLAB", "GITHUB"],
        "newest first, all pages"
    );
    assert!(es["Nodes"][0]["ID"].as_str().is_some_and(|s| !s.is_empty()));
    let ap = &sa["Site"]["AuthProviders"];
    assert_eq!(ap["TotalCount"], 2);
    let types: Vec<&str> = ap["Nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["ServiceType"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(types, ["builtin", "github"]);
    assert_eq!(sa["ProductVersion"], "5.1.0");
    let c = &sa["Counts"];
    assert_eq!(
        (
            c["Repositories"].as_u64(),
            c["Users"].as_u64(),
            c["Organizations"].as_u64()
        ),
        (Some(3), Some(3), Some(1))
    );
    assert_eq!(c["CodeIntelUploads"], 1);
    assert_eq!(c["SavedSearches"], 2);
    assert!(c["InsightSeries"].is_u64(), "{c}");
    assert_eq!(
        sa["SiteConfigKeys"],
        serde_json::json!(["auth.providers", "externalURL"])
    );
    let raw = std::fs::read_to_string(a.join("summary.json")).expect("read");
    assert!(
        raw.starts_with("{\n\t\"ExternalServices\": {\n\t\t\"TotalCount\": 3,"),
        "src-cli's layout:\n{raw}"
    );

    // Pagination really happened: a second page was asked for with a cursor.
    let pages: Vec<_> = src
        .emu()
        .received()
        .into_iter()
        .filter(|o| o.name.as_deref() == Some("ExternalServicesPage"))
        .collect();
    assert_eq!(pages.len(), 2, "{pages:#?}");
    assert!(
        pages[1].variables["after"].is_string(),
        "{:?}",
        pages[1].variables
    );
    let names = src.received_names();
    assert!(
        names.iter().filter(|n| *n == "UsersPage").count() >= 2,
        "{names:?}"
    );

    // The acceptance test on the target against the source's summary passes.
    let (out, _) = expect_code(
        dst.cmd(&[
            "test",
            &format!("-snapshot-summary={}", a.join("summary.json").display()),
        ]),
        0,
    );
    assert!(out.contains("PASS"), "{out}");
    assert!(out.contains("Repositories"), "counts table: {out}");

    // A summary.json in src-cli's own format (only its keys, Go's layout) is read too.
    let src_cli = {
        let strip = |n: &Value, keys: &[&str]| -> Value {
            let mut m = serde_json::Map::new();
            for k in keys {
                m.insert(k.to_string(), n[k].clone());
            }
            Value::Object(m)
        };
        let nodes: Vec<Value> = es["Nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| strip(n, &["Kind", "ID"]))
            .collect();
        let pnodes: Vec<Value> = ap["Nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| strip(n, &["ServiceType", "ServiceID"]))
            .collect();
        let go = format!(
            "{{\n\t\"ExternalServices\": {{\n\t\t\"TotalCount\": 3,\n\t\t\"Nodes\": {}\n\t}},\n\t\"Site\": {{\n\t\t\"AuthProviders\": {{\n\t\t\t\"TotalCount\": 2,\n\t\t\t\"Nodes\": {}\n\t\t}}\n\t}}\n}}\n",
            serde_json::to_string(&nodes).expect("json"),
            serde_json::to_string(&pnodes).expect("json")
        );
        let p = dir.join("src-cli-summary.json");
        std::fs::write(&p, go).expect("write");
        p
    };
    let (out, _) = expect_code(
        dst.cmd(&[
            "test",
            &format!("-snapshot-summary={}", src_cli.display()),
            "--json",
        ]),
        0,
    );
    let rep: Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(rep["verdict"], "pass");
    assert_eq!(
        rep["counts"],
        serde_json::json!([]),
        "src-cli's file has no counts to compare"
    );

    src.assert_all_valid();
    dst.assert_all_valid();
    src.close(&rt);
    dst.close(&rt);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_exits_1_naming_each_problem() {
    let rt = rt();
    let inst = Instance::new(&rt);
    let dir = tmp("sgapi-test");
    expect_code(inst.cmd(&["summary", &format!("-dir={}", dir.display())]), 0);
    let summary = dir.join("summary.json");
    let arg = format!("-snapshot-summary={}", summary.display());
    let sv = read_json(&summary);
    let gitlab_id = sv["ExternalServices"]["Nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["Kind"] == "GITLAB")
        .and_then(|n| n["ID"].as_str())
        .expect("GitLab in the summary")
        .to_string();
    expect_code(inst.cmd(&["test", &arg]), 0);

    // A changed external service: one deleted.
    inst.sql("UPDATE external_services SET deleted_at = now() WHERE id = 2;");
    let (out, _) = expect_code(inst.cmd(&["test", &arg]), 1);
    assert!(
        out.contains("external service GITLAB") && out.contains(&gitlab_id) && out.contains("is missing"),
        "{out}"
    );
    assert!(out.contains("FAIL"), "{out}");
    inst.sql("UPDATE external_services SET deleted_at = NULL WHERE id = 2;");
    // ... and one whose kind changed.
    inst.sql("UPDATE external_services SET kind = 'GERRIT' WHERE id = 2;");
    let (out, _) = expect_code(inst.cmd(&["test", &arg]), 1);
    assert!(
        out.contains("changed kind: GITLAB in the summary, GERRIT now"),
        "{out}"
    );
    inst.sql("UPDATE external_services SET kind = 'GITLAB' WHERE id = 2;");
    expect_code(inst.cmd(&["test", &arg]), 0);

    // A missing auth provider: the site config loses github.
    inst.sql(
        "INSERT INTO critical_and_site_config (id, type, contents) VALUES (2, 'site', \
         E'{\\n  \"externalURL\": \"https://sourcegraph.example.com\",\\n  \"auth.providers\": [{\"type\": \"builtin\"}]\\n}');",
    );
    let (out, _) = expect_code(inst.cmd(&["test", &arg]), 1);
    assert!(
        out.contains("auth provider github https://github.com/ is missing"),
        "{out}"
    );
    inst.sql("DELETE FROM critical_and_site_config WHERE id = 2;");

    // An errored permission sync job in the window (and a failed one outside it).
    inst.sql(
        "INSERT INTO permission_sync_jobs (id, state, reason, failure_message, queued_at, finished_at, user_id, repository_id) VALUES \
         (1, 'errored', 'REASON_USER_OUTDATED_PERMS', 'github: rate limit exceeded', now() - interval '5 minutes', now() - interval '1 minute', 1, NULL), \
         (2, 'failed', 'REASON_MANUAL_REPO_SYNC', 'old failure', now() - interval '3 hours', now() - interval '3 hours', NULL, 1);",
    );
    let (out, _) = expect_code(inst.cmd(&["test", &arg, "-since=1h"]), 1);
    assert!(
        out.contains("permission sync job") && out.contains("ERRORED") && out.contains("rate limit exceeded"),
        "{out}"
    );
    assert!(out.contains("user alice"), "{out}");
    assert!(!out.contains("old failure"), "outside -since: {out}");
    // A wider window also catches the old FAILED one.
    let (out, _) = expect_code(inst.cmd(&["test", &arg, "-since=4h"]), 1);
    assert!(out.contains("old failure") && out.contains("FAILED"), "{out}");
    inst.sql("DELETE FROM permission_sync_jobs;");

    // A site alert.
    inst.emu().set_site_alerts(vec![sgemu::SiteAlert {
        type_: "ERROR".into(),
        message: "Sourcegraph is running low on disk space".into(),
    }]);
    let (out, _) = expect_code(inst.cmd(&["test", &arg, "--json"]), 1);
    let rep: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(rep["verdict"], "fail");
    assert!(
        rep["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["check"] == "site-alerts"
                && f["severity"] == "critical"
                && f["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("low on disk space"))),
        "{rep:#}"
    );
    inst.emu().set_site_alerts(vec![]);

    // Config validation messages warn; the expected version is enforced.
    inst.emu()
        .set_config_validation_messages(vec!["auth.providers: deprecated field".into()]);
    let (out, _) = expect_code(inst.cmd(&["test", &arg, "--expected-version=5.2"]), 1);
    assert!(
        out.contains("warning") && out.contains("deprecated field"),
        "{out}"
    );
    assert!(out.contains("runs 5.1.0, expected 5.2"), "{out}");
    expect_code(inst.cmd(&["test", &arg, "--expected-version=5.1"]), 0);

    // A file that is not a summary: could not run.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"hello\": 1}").expect("write");
    let (_, err) = expect_code(
        inst.cmd(&["test", &format!("-snapshot-summary={}", bad.display())]),
        2,
    );
    assert!(
        err.contains("is not a summary.json") && err.contains("hint:"),
        "{err}"
    );

    inst.assert_all_valid();
    inst.close(&rt);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Global settings (id, bytes), exactly.
fn global_settings(inst: &Instance) -> (i64, String) {
    let row = inst.sql(
        "SELECT id || ' ' || encode(convert_to(contents, 'UTF8'), 'hex') FROM settings \
         WHERE user_id IS NULL AND org_id IS NULL ORDER BY id DESC LIMIT 1;",
    );
    let (id, hex) = row.trim().split_once(' ').expect("a settings row");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    (id.parse().expect("id"), String::from_utf8(bytes).expect("utf-8"))
}

#[test]
fn notice_add_remove_round_trips_settings_byte_for_byte() {
    let rt = rt();
    let inst = Instance::new(&rt);
    let message = "Migration in progress (test)";
    let msg = format!("--message={message}");

    // 1. Settings without notices (the seed's, with a comment).
    let (id0, original) = global_settings(&inst);
    assert!(original.contains("// Global settings"));
    let (out, _) = expect_code(inst.cmd(&["notice", "add", &msg]), 0);
    assert!(out.contains("notice added"), "{out}");
    let (id1, added) = global_settings(&inst);
    assert!(id1 > id0 && added.contains(message), "{added}");
    let (_, local) = sgapi::notice::plan_removal(&added, message)
        .expect("plan")
        .expect("found");
    assert_eq!(
        local, original,
        "everything but the notice is unchanged:\n{added}"
    );
    // Idempotent: nothing new is written.
    let (out, _) = expect_code(inst.cmd(&["notice", "add", &msg]), 0);
    assert!(out.contains("already up"), "{out}");
    assert_eq!(global_settings(&inst).0, id1);
    expect_code(inst.cmd(&["notice", "status", &msg]), 0);
    let (out, _) = expect_code(inst.cmd(&["notice", "remove", &msg]), 0);
    assert!(out.contains("notice removed"), "{out}");
    assert_eq!(global_settings(&inst).1, original, "byte for byte after remove");
    let (out, _) = expect_code(inst.cmd(&["notice", "remove", &msg]), 0);
    assert!(out.contains("nothing changed"), "{out}");
    expect_code(inst.cmd(&["notice", "status", &msg]), 1);

    // 2. Settings with other notices and comments everywhere.
    let with_others = "// Global settings, edited by hand.\n{\n  \"search.defaultPatternType\": \"literal\",\n  /* Legal asked for this one. */\n  \"notices\": [\n    {\"message\": \"Maintenance on Sunday\", \"location\": \"home\", \"dismissible\": true}, // keep\n    {\n      \"message\": \"Another notice\",\n      \"location\": \"top\"\n    }\n  ],\n  \"motd\": [\"hello ☃\"], // trailing\n}\n";
    inst.sql(&format!(
        "INSERT INTO settings (org_id, user_id, author_user_id, contents) VALUES (NULL, NULL, 1, {});",
        testkit::quote_literal(with_others)
    ));
    assert_eq!(global_settings(&inst).1, with_others);
    // The default message this time.
    expect_code(inst.cmd(&["notice", "add"]), 0);
    let (_, added) = global_settings(&inst);
    assert_eq!(
        sgapi::notice::find_notices(&added, sgapi::DEFAULT_MESSAGE).expect("find"),
        [2]
    );
    assert_eq!(
        sgapi::notice::find_notices(&added, "Maintenance on Sunday").expect("find"),
        [0]
    );
    let (_, local) = sgapi::notice::plan_removal(&added, sgapi::DEFAULT_MESSAGE)
        .expect("plan")
        .expect("found");
    assert_eq!(local, with_others, "added:\n{added}");
    expect_code(inst.cmd(&["notice", "remove"]), 0);
    assert_eq!(
        global_settings(&inst).1,
        with_others,
        "byte for byte, other notices and comments kept"
    );

    // 3. Settings that come from a file cannot be edited: a clear error, nothing written.
    inst.emu().set_allow_site_settings_edits(false);
    let before = global_settings(&inst);
    let (_, err) = expect_code(inst.cmd(&["notice", "add"]), 2);
    assert!(
        err.contains("allowSiteSettingsEdits is false") && err.contains("GLOBAL_SETTINGS_FILE"),
        "{err}"
    );
    assert_eq!(global_settings(&inst), before);
    inst.emu().set_allow_site_settings_edits(true);

    inst.assert_all_valid();
    assert!(inst.received_names().iter().any(|n| n == "EditSettings"));
    inst.close(&rt);
}

#[test]
fn preflight_checks_the_api_and_the_databases() {
    let rt = rt();
    let inst = Instance::new(&rt);
    let dir = tmp("sgapi-preflight");
    let s = server();
    let mut y = String::new();
    for (role, db) in [
        ("pgsql", inst.frontend.as_str()),
        ("codeintel", "postgres"),
        ("codeinsights", inst.insights.as_str()),
    ] {
        y.push_str(&format!(
            "{role}:\n  target: 127.0.0.1\n  port: {}\n  dbname: {db}\n  username: {}\n",
            s.port(),
            s.superuser()
        ));
    }
    let targets = dir.join("targets.yaml");
    std::fs::write(&targets, y).expect("targets");
    let pg_dump = testkit::pg_dump_path(16);
    let args = [
        "preflight".to_string(),
        format!("--targets={}", targets.display()),
        format!("--pg-dump={}", pg_dump.display()),
        format!("-dir={}", dir.join("snap").display()),
        "--json".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let checks = |out: &str| -> Vec<(String, String)> {
        let v: Value = serde_json::from_str(out).expect("json");
        v["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["status"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    // The notice is not up yet: that check fails, everything else passes.
    let (out, _) = expect_code(inst.cmd(&args), 1);
    let got = checks(&out);
    let status = |name: &str| {
        got.iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    assert_eq!(status("site admin token"), "pass", "{out}");
    assert_eq!(status("Sourcegraph version"), "pass", "{out}");
    assert_eq!(status("encryption keys"), "pass", "{out}");
    assert_eq!(status("encrypted rows"), "pass", "{out}");
    assert_eq!(status("site notice"), "fail", "{out}");
    for db in ["pgsql", "codeintel", "codeinsights"] {
        assert_eq!(status(&format!("postgres {db}")), "pass", "{out}");
        assert_eq!(status(&format!("pg_dump for {db}")), "pass", "{out}");
    }
    assert!(
        matches!(status("free disk space").as_str(), "pass" | "warn"),
        "{out}"
    );

    expect_code(inst.cmd(&["notice", "add"]), 0);
    let (out, _) = expect_code(inst.cmd(&args), 0);
    assert!(checks(&out).iter().all(|(_, s)| s != "fail"), "{out}");

    // An encrypted row and a non-admin token fail, each with a fix.
    inst.sql("UPDATE external_services SET encryption_key_id = 'cloudkms://k' WHERE id = 1;");
    let mut c = inst.cmd(&args[..args.len() - 1]);
    c.env("SRC_ACCESS_TOKEN", USER_TOKEN);
    let (out, _) = expect_code(&mut c, 1);
    assert!(out.contains("site admin token") && out.contains("fail"), "{out}");
    assert!(out.contains("public.external_services (1)"), "{out}");
    assert!(out.contains("fix (encrypted rows)"), "{out}");

    inst.assert_all_valid();
    inst.close(&rt);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn api_errors_are_clear_and_never_show_the_token() {
    let rt = rt();
    let inst = Instance::new(&rt);
    let dir = tmp("sgapi-errors");
    let d = format!("-dir={}", dir.display());

    let mut c = common::cmd();
    c.args(["summary", &d]);
    let (_, err) = expect_code(&mut c, 2);
    assert!(
        err.contains("SRC_ENDPOINT is not set") && err.contains("hint:"),
        "{err}"
    );

    let mut c = common::cmd();
    c.env("SRC_ENDPOINT", inst.endpoint()).args(["summary", &d]);
    let (_, err) = expect_code(&mut c, 2);
    assert!(err.contains("SRC_ACCESS_TOKEN is not set"), "{err}");

    let mut c = inst.cmd(&["summary", &d]);
    c.env("SRC_ACCESS_TOKEN", "sgp_wrong_token_value");
    let (_, err) = expect_code(&mut c, 2);
    assert!(
        err.contains("HTTP 401") && err.contains("token is not valid"),
        "{err}"
    );
    assert!(!err.contains("sgp_wrong_token_value"), "{err}");

    let mut c = inst.cmd(&["summary", &d]);
    c.env("SRC_ACCESS_TOKEN", USER_TOKEN);
    let (_, err) = expect_code(&mut c, 2);
    assert!(err.contains("not a site admin's"), "{err}");
    assert!(!dir.join("summary.json").exists(), "nothing written on failure");

    // -token-file and -endpoint instead of the environment.
    let tf = dir.join("token");
    std::fs::write(&tf, format!("{ADMIN_TOKEN}\n")).expect("token file");
    let mut c = common::cmd();
    c.args([
        "summary",
        &d,
        &format!("-endpoint={}", inst.endpoint()),
        &format!("-token-file={}", tf.display()),
    ]);
    expect_code(&mut c, 0);
    assert!(dir.join("summary.json").exists());

    inst.assert_all_valid();
    inst.close(&rt);
    let _ = std::fs::remove_dir_all(&dir);
}
