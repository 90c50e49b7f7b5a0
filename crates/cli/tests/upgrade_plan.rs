//! `upgrade-plan` on the saved pg_dump 16 dumps (Sourcegraph 5.1.0, five
//! applied frontend migrations), on copies made dirty (a failed frontend
//! migration, an unfinished codeintel one) read from a folder, a `file://`
//! bucket and a gzip bucket, and on live PG 16 databases with a `versions`
//! row and a dirty `migration_logs` that is then repaired.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{cmd, run_ok};
use testkit::PgServer;

/// The saved pg_dump 16 dumps as a snapshot folder.
fn saved_snapshot(dir: &Path) {
    common::saved_snapshot("pgdump16", dir);
}

const TRAILER: &str = "--\n-- PostgreSQL database dump complete";
const LAST_FRONTEND_ROW: &str = "5\t2\tschema_migrations\t1686580819\tt\t2023-06-14 09:59:00.7+00\t2023-06-14 09:59:01.02+00\tt\t\\N\tf\n";
const LOG_COLUMNS: &str = "(\"id\", \"migration_logs_schema_version\", \"schema\", \"version\", \"up\", \"started_at\", \"finished_at\", \"success\", \"error_message\", \"backfilled\")";

/// The saved dumps with `frontend_rows` appended to the frontend's
/// `migration_logs` block and a `migration_logs` table holding
/// `codeintel_rows` added to the codeintel dump.
fn edited_snapshot(dir: &Path, frontend_rows: &str, codeintel_rows: &str) {
    saved_snapshot(dir);
    let fe = dir.join("pgsql.sql");
    let text = std::fs::read_to_string(&fe).expect("read");
    assert_eq!(
        text.matches(LAST_FRONTEND_ROW).count(),
        1,
        "the fixture's last migration_logs row"
    );
    let text = text.replace(LAST_FRONTEND_ROW, &format!("{LAST_FRONTEND_ROW}{frontend_rows}"));
    std::fs::write(&fe, text).expect("write");

    let ci = dir.join("codeintel.sql");
    let text = std::fs::read_to_string(&ci).expect("read");
    let cut = text.find(TRAILER).expect("trailer");
    let block = format!(
        "CREATE TABLE \"public\".\"migration_logs\" (\n    \"id\" integer NOT NULL,\n    \"migration_logs_schema_version\" integer NOT NULL,\n    \
         \"schema\" \"text\" NOT NULL,\n    \"version\" integer NOT NULL,\n    \"up\" boolean NOT NULL,\n    \
         \"started_at\" timestamp with time zone NOT NULL,\n    \"finished_at\" timestamp with time zone,\n    \"success\" boolean,\n    \
         \"error_message\" \"text\",\n    \"backfilled\" boolean DEFAULT false NOT NULL\n);\n\n\
         COPY \"public\".\"migration_logs\" {LOG_COLUMNS} FROM stdin;\n\
         1\t2\tcodeintel_schema_migrations\t1000000000\tt\t2023-06-14 09:59:00+00\t2023-06-14 09:59:01+00\tt\t\\N\tf\n\
         {codeintel_rows}\\.\n\n\n"
    );
    std::fs::write(&ci, format!("{}{block}{}", &text[..cut], &text[cut..])).expect("write");
}

/// A failed frontend migration (its error has a tab in it) and an unfinished codeintel one.
const FE_FAILED: &str = "6\t2\tschema_migrations\t1690000000\tt\t2023-06-15 10:00:00+00\t2023-06-15 10:00:01+00\tf\tERROR: relation \"x\" already exists\\tat line 1\tf\n";
const CI_PENDING: &str =
    "2\t2\tcodeintel_schema_migrations\t1000000001\tt\t2023-06-15 10:00:00+00\t\\N\t\\N\t\\N\tf\n";
/// Their repairs: later successful attempts (an earlier start time in another zone orders right).
const FE_REPAIRED: &str =
    "7\t2\tschema_migrations\t1690000000\tt\t2023-06-15 12:30:00+02\t2023-06-15 12:30:01+02\tt\t\\N\tf\n";
const CI_REPAIRED: &str = "3\t2\tcodeintel_schema_migrations\t1000000001\tt\t2023-06-15 10:05:00+00\t2023-06-15 10:05:01+00\tt\t\\N\tf\n";

fn upgrade_plan(args: &[&str]) -> Output {
    cmd()
        .arg("upgrade-plan")
        .args(args)
        .output()
        .expect("spawn src-snapshot")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", testkit::describe_output(out)))
}

fn dir_flag(dir: &Path) -> String {
    format!("-dir={}", dir.display())
}

#[test]
fn saved_dumps_standard_and_multi_version_upgrades() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot(&dir);
    let d = dir_flag(&dir);

    // One minor forward: migrator up.
    let out = upgrade_plan(&[&d, "--to=5.2"]);
    assert_eq!(code(&out), 0, "{}", testkit::describe_output(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("Sourcegraph 5.1.0 (from the manifest of "),
        "{text}"
    );
    assert!(text.contains("first installed as 3.20.0"), "{text}");
    assert!(text.trim_end().ends_with("migrator up"), "{text}");

    // Two minors forward, build-number patch: migrator upgrade, and the compose form.
    let out = upgrade_plan(&[&d, "-to=v5.3.12303", "--compose"]);
    assert_eq!(code(&out), 0, "{}", testkit::describe_output(&out));
    let text = stdout(&out);
    assert!(
        text.contains("\nmigrator upgrade --from=5.1 --to=5.3\n"),
        "{text}"
    );
    assert!(
        text.contains("docker run --rm --name migrator_5.3.12303 --network='docker-compose_sourcegraph'"),
        "{text}"
    );
    assert!(
        text.contains("sourcegraph/migrator:5.3.12303 upgrade --from=5.1 --to=5.3"),
        "{text}"
    );
    assert!(text.contains("-e PGPASSWORD -e PGDATABASE='pgsql'"), "{text}");

    let out = upgrade_plan(&[&d, "--to=6.0.0", "--json", "--compose", "--network=sg_net"]);
    assert_eq!(code(&out), 0, "{}", testkit::describe_output(&out));
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["from"]["version"], "5.1.0");
    assert_eq!(v["from"]["read_from"], "manifest");
    assert_eq!(v["command"], "migrator upgrade --from=5.1 --to=6.0");
    assert_eq!(
        v["args"],
        serde_json::json!(["upgrade", "--from=5.1", "--to=6.0"])
    );
    assert_eq!(v["plan"]["steps"], 11, "5.1 → 5.11 is ten steps, then 6.0");
    assert!(v["compose"]
        .as_str()
        .expect("compose")
        .contains("--network='sg_net'"));
    let dbs = v["databases"].as_array().expect("databases");
    assert_eq!(dbs.len(), 3);
    assert_eq!(dbs[0]["role"], "pgsql");
    assert_eq!(dbs[0]["status"], "clean");
    assert_eq!(dbs[0]["rows"], 5);
    assert_eq!(dbs[0]["applied"], 5);
    assert_eq!(dbs[0]["latest_applied"], 1_686_580_819i64);
    for db in &dbs[1..] {
        assert_eq!(db["status"], "absent", "{db}");
    }
}

#[test]
fn refusals_exit_2_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot(&dir);
    let d = dir_flag(&dir);
    for (args, message) in [
        (vec!["--to=5.0.3"], "5.1 → 5.0 is a downgrade"),
        (vec!["--to=4.5.0"], "5.1 → 4.5 is a downgrade"),
        (
            vec!["--to=latest"],
            "target version: \"latest\" is not a Sourcegraph version",
        ),
        (vec!["--to=5.3.0.1"], "\"5.3.0.1\" is not a Sourcegraph version"),
        (
            vec!["--to=5.12.0"],
            "target version 5.12.0 is not a known Sourcegraph release",
        ),
        (vec!["--to=0.0.0+dev"], "target version 0.0.0+dev is a dev build"),
        (
            vec!["--from=0.0.0+dev", "--to=5.3"],
            "source version 0.0.0+dev is a dev build",
        ),
        (
            vec!["--from=3.19.4", "--to=5.3"],
            "source version 3.19 is older than 3.20",
        ),
    ] {
        let mut all = vec![d.as_str()];
        all.extend(args.iter().copied());
        let out = upgrade_plan(&all);
        assert_eq!(code(&out), 2, "{args:?}: {}", testkit::describe_output(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("\nhint: "), "{args:?}: {}", stderr(&out));
        assert!(
            !stdout(&out).contains("\nmigrator "),
            "{args:?}: no command printed"
        );
        all.push("--json");
        let v = json(&upgrade_plan(&all));
        assert_eq!(v["ok"], false, "{args:?}");
        assert!(
            v["problems"][0]["message"]
                .as_str()
                .expect("message")
                .contains(message),
            "{args:?}: {v}"
        );
    }
    // --from overrides the recorded version.
    let out = upgrade_plan(&[&d, "--from=5.2.0", "--to=5.3", "--json"]);
    assert_eq!(code(&out), 0, "{}", testkit::describe_output(&out));
    let v = json(&out);
    assert_eq!(
        (v["command"].as_str(), v["from"]["read_from"].as_str()),
        (Some("migrator up"), Some("--from"))
    );
    // A snapshot and a database at once is refused.
    let out = upgrade_plan(&[&d, "--target-url=postgres://x@127.0.0.1:1/", "--to=5.3"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not both"), "{}", stderr(&out));
    // No snapshot at all.
    let out = upgrade_plan(&["--to=5.3"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("-bucket=… or -dir=…"), "{}", stderr(&out));
}

/// Uploads `dir` to a `file://` bucket `name` under `tmp`; returns the -bucket flag.
fn upload(dir: &Path, tmp: &Path, name: &str, extra: &[&str]) -> String {
    let bucket: PathBuf = tmp.join(name);
    std::fs::create_dir_all(&bucket).expect("mkdir bucket");
    let url = format!("file://{}", bucket.display());
    run_ok(
        cmd()
            .args(["upload", "--no-progress"])
            .arg(format!("-bucket={url}"))
            .arg(dir_flag(dir))
            .args(extra),
    );
    format!("-bucket={url}")
}

#[test]
fn dirty_dumps_from_a_folder_and_buckets_then_repaired() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("dirty");
    edited_snapshot(&dir, FE_FAILED, CI_PENDING);
    let folder = dir_flag(&dir);
    let plain = upload(&dir, tmp.path(), "bucket", &[]);
    let gzip = upload(&dir, tmp.path(), "bucket-gz", &["--gzip"]);
    let object = std::fs::read(tmp.path().join("bucket-gz/codeintel.sql.gz")).expect("object");
    assert_eq!(
        object[..2],
        [0x1f, 0x8b],
        "the gzip bucket holds compressed objects"
    );

    let mut seen = Vec::new();
    for source in [&folder, &plain, &gzip] {
        let out = upgrade_plan(&[source, "--to=5.3"]);
        assert_eq!(code(&out), 2, "{source}: {}", testkit::describe_output(&out));
        let err = stderr(&out);
        assert!(
            err.contains("error: the frontend database is dirty: migration_logs (schema schema_migrations) records failed migrations 1690000000"),
            "{source}: {err}"
        );
        assert!(
            err.contains("`migrator add-log -db=frontend -version=1690000000`"),
            "{source}: {err}"
        );
        assert!(
            err.contains("error: the codeintel database is dirty: migration_logs (schema codeintel_schema_migrations) records unfinished migrations 1000000001"),
            "{source}: {err}"
        );
        assert!(
            err.contains("`migrator add-log -db=codeintel -version=1000000001`"),
            "{source}: {err}"
        );
        let text = stdout(&out);
        assert!(
            text.contains(
                "pgsql: migration 1690000000 (up) failed: ERROR: relation \"x\" already exists\tat line 1"
            ),
            "{source}: {text}"
        );
        assert!(
            text.contains("codeintel: migration 1000000001 (up) never finished"),
            "{source}: {text}"
        );
        assert!(
            text.contains("after the repair: migrator upgrade --from=5.1 --to=5.3"),
            "{source}: {text}"
        );

        let v = json(&upgrade_plan(&[source, "--to=5.3", "--json"]));
        assert_eq!(v["ok"], false);
        let kinds: Vec<&str> = v["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .map(|p| p["kind"].as_str().expect("kind"))
            .collect();
        assert_eq!(kinds, ["dirty", "dirty"], "{source}");
        let dbs = &v["databases"];
        assert_eq!(dbs[0]["dirty"][0]["kind"], "failed");
        assert_eq!(dbs[1]["dirty"][0]["kind"], "pending");
        assert_eq!(dbs[1]["rows"], 2);
        assert_eq!(dbs[2]["status"], "absent");
        // Every source reads the same state.
        let mut states = dbs.clone();
        for db in states.as_array_mut().expect("array") {
            db.as_object_mut().expect("object").remove("location");
        }
        seen.push(states);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");

    // Repaired: later successful attempts of both migrations.
    let fixed = tmp.path().join("fixed");
    edited_snapshot(
        &fixed,
        &format!("{FE_FAILED}{FE_REPAIRED}"),
        &format!("{CI_PENDING}{CI_REPAIRED}"),
    );
    let out = upgrade_plan(&[&dir_flag(&fixed), "--to=5.3"]);
    assert_eq!(code(&out), 0, "{}", testkit::describe_output(&out));
    assert!(stdout(&out)
        .trim_end()
        .ends_with("migrator upgrade --from=5.1 --to=5.3"));
    let v = json(&upgrade_plan(&[&dir_flag(&fixed), "--to=5.3", "--json"]));
    assert_eq!(v["databases"][0]["applied"], 6);
    assert_eq!(v["databases"][0]["latest_applied"], 1_690_000_000i64);
    assert_eq!(v["databases"][1]["status"], "clean");
}

/// Three databases on the shared PG 16 server, dropped at the end.
struct LiveDbs {
    server: &'static PgServer,
    names: [String; 3],
}

impl LiveDbs {
    fn new() -> LiveDbs {
        let server = PgServer::shared(16);
        let base = server.unique_name("upl");
        let names = [format!("{base}_fe"), format!("{base}_ci"), format!("{base}_cn")];
        for n in &names {
            server.create_database(n);
        }
        LiveDbs { server, names }
    }

    fn args(&self) -> Vec<String> {
        vec![
            format!(
                "--target-url={}",
                self.server.url(self.server.superuser(), "postgres")
            ),
            format!(
                "--databases=pgsql={},codeintel={},codeinsights={}",
                self.names[0], self.names[1], self.names[2]
            ),
        ]
    }

    fn run(&self, extra: &[&str]) -> Output {
        let mut args = self.args();
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        upgrade_plan(&refs)
    }
}

impl Drop for LiveDbs {
    fn drop(&mut self) {
        for n in &self.names {
            self.server.drop_database(n);
        }
    }
}

const MIGRATION_LOGS_DDL: &str = "CREATE TABLE migration_logs (id serial PRIMARY KEY, migration_logs_schema_version integer NOT NULL, \
    schema text NOT NULL, version integer NOT NULL, up bool NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz, \
    success boolean, error_message text, backfilled boolean NOT NULL DEFAULT false);";

#[test]
fn live_databases_versions_row_and_dirty_migration_logs() {
    let dbs = LiveDbs::new();
    let s = dbs.server;
    // No versions table yet: nothing to plan from.
    let out = dbs.run(&["--to=5.3"]);
    assert_eq!(code(&out), 2, "{}", testkit::describe_output(&out));
    assert!(
        stderr(&out).contains("records no Sourcegraph version"),
        "{}",
        stderr(&out)
    );

    s.psql(
        &dbs.names[0],
        &format!(
            "CREATE TABLE versions (service text PRIMARY KEY, version text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), \
             first_version text NOT NULL, auto_upgrade boolean NOT NULL DEFAULT false);\n\
             INSERT INTO versions (service, version, first_version) VALUES ('frontend', '5.2.6', '4.1.0');\n\
             {MIGRATION_LOGS_DDL}\n\
             INSERT INTO migration_logs (migration_logs_schema_version, schema, version, up, started_at, finished_at, success, error_message) VALUES\n\
             (2, 'schema_migrations', 1000, true, '2024-01-01 10:00+00', '2024-01-01 10:01+00', true, NULL),\n\
             (2, 'schema_migrations', 1001, true, '2024-01-02 10:00+00', '2024-01-02 10:01+00', true, NULL),\n\
             (2, 'schema_migrations', 1001, true, '2024-01-03 10:00+00', '2024-01-03 10:01+00', false, 'ERROR: deadlock detected');"
        ),
    );
    s.psql(
        &dbs.names[1],
        &format!(
            "{MIGRATION_LOGS_DDL}\n\
             INSERT INTO migration_logs (migration_logs_schema_version, schema, version, up, started_at, finished_at, success) VALUES\n\
             (2, 'codeintel_schema_migrations', 2000, true, '2024-01-01 10:00+00', '2024-01-01 10:01+00', true);"
        ),
    );

    let out = dbs.run(&["--to=5.3.9104"]);
    assert_eq!(code(&out), 2, "{}", testkit::describe_output(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: the frontend database is dirty: migration_logs (schema schema_migrations) records failed migrations 1001"),
        "{err}"
    );
    assert!(
        err.contains("`migrator add-log -db=frontend -version=1001`"),
        "{err}"
    );
    assert!(!err.contains("codeintel database is dirty"), "{err}");
    let text = stdout(&out);
    assert!(
        text.starts_with("Sourcegraph 5.2.6 (from the versions table at 127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("first installed as 4.1.0"), "{text}");
    assert!(
        text.contains("pgsql: migration 1001 (up) failed: ERROR: deadlock detected"),
        "{text}"
    );
    assert!(text.contains("after the repair: migrator up"), "{text}");

    let v = json(&dbs.run(&["--to=5.3.9104", "--json"]));
    assert_eq!(v["from"]["read_from"], "database");
    assert_eq!(v["from"]["version"], "5.2.6");
    assert_eq!(v["databases"][0]["status"], "dirty");
    assert_eq!(v["databases"][0]["applied"], 1);
    assert_eq!(v["databases"][1]["status"], "clean");
    assert_eq!(v["databases"][2]["status"], "absent");

    // The repair recorded (as `migrator add-log` would): a later successful row.
    s.psql(
        &dbs.names[0],
        "INSERT INTO migration_logs (migration_logs_schema_version, schema, version, up, started_at, finished_at, success) \
         VALUES (2, 'schema_migrations', 1001, true, '2024-01-04 10:00+00', '2024-01-04 10:00+00', true);",
    );
    let out = dbs.run(&["--to=5.3.9104", "--compose"]);
    assert_eq!(code(&out), 0, "{}", testkit::describe_output(&out));
    let text = stdout(&out);
    assert!(text.contains("\nmigrator up\n"), "{text}");
    assert!(
        text.contains(&format!(
            "-e PGUSER='postgres' -e PGPASSWORD -e PGDATABASE='{}'",
            dbs.names[0]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("-e CODEINSIGHTS_PGDATABASE='{}'", dbs.names[2])),
        "{text}"
    );
    assert!(text.contains("sourcegraph/migrator:5.3.9104 up"), "{text}");
    assert!(text.contains("docker-compose up migrator"), "{text}");

    // Further than one step, and a downgrade.
    let out = dbs.run(&["--to=6.1"]);
    assert_eq!(code(&out), 0, "{}", testkit::describe_output(&out));
    assert!(stdout(&out)
        .trim_end()
        .ends_with("migrator upgrade --from=5.2 --to=6.1"));
    let out = dbs.run(&["--to=5.1.0"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("5.2 → 5.1 is a downgrade"),
        "{}",
        stderr(&out)
    );
}
