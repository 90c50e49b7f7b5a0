//! `reset`, `import` and `compare` against real servers: snapshots of PG 11,
//! 12, 14 and 16 sources (Sourcegraph schemas, seeds, tricky data) dumped by
//! pg_dump 14–18, and the saved pg_dump 12 dumps, loaded from a folder, a
//! `file://` bucket and the GCS emulator into PG 16 as a Cloud-SQL-like
//! non-superuser; `compare` says equal, and names a table altered afterwards.
//! `kill -9` at seeded points, then a rerun: always equal, never duplicated.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{cmd, run_ok, saved_snapshot, source};
use testkit::{CloudSqlDb, PgServer};

/// A Cloud-SQL-like user on the PG 16 target, and unique names for the three databases.
struct Target {
    server: &'static PgServer,
    db: CloudSqlDb,
    names: [String; 3],
}

impl Target {
    fn new(prefix: &str) -> Target {
        Target::on(PgServer::shared(16), prefix)
    }

    fn on(server: &'static PgServer, prefix: &str) -> Target {
        let base = server.unique_name(prefix);
        let db = server.create_cloudsql_database(&base);
        Target {
            server,
            names: [format!("{base}_fe"), format!("{base}_ci"), format!("{base}_cn")],
            db,
        }
    }

    fn databases_flag(&self) -> String {
        format!(
            "--databases=pgsql={},codeintel={},codeinsights={}",
            self.names[0], self.names[1], self.names[2]
        )
    }

    fn url(&self) -> String {
        format!(
            "--target-url=postgres://{}@{}:{}/{}",
            self.db.user, self.db.host, self.db.port, self.db.dbname
        )
    }

    /// A command with the target's URL, databases and password (in the environment).
    fn cmd(&self, sub: &str) -> Command {
        let mut c = cmd();
        c.arg(sub)
            .arg(self.url())
            .arg(self.databases_flag())
            .arg("--no-progress");
        c.env("PGPASSWORD", &self.db.password);
        c
    }

    fn superuser_psql(&self, i: usize, sql: &str) -> String {
        self.server.psql(&self.names[i], sql)
    }
}

/// `databases --run` of a source into `dir` with pg_dump `pg_dump_major`.
fn snapshot(source_major: u32, pg_dump_major: u32, dir: &Path) {
    let src = source(source_major);
    let targets = src.targets_yaml(dir.parent().expect("parent"));
    run_ok(
        cmd()
            .args(["databases", "pg_dump", "--run", "--no-progress"])
            .arg(format!("-targets={}", targets.display()))
            .arg(format!("-dir={}", dir.display()))
            .arg(format!(
                "--pg-dump={}",
                testkit::pg_dump_path(pg_dump_major).display()
            )),
    );
}

/// A snapshot of generated Sourcegraph-shaped data: the real schemas loaded
/// on the PG 16 source, `frontend_bytes` of datagen rows in the frontend (a
/// tenth of that in the other two), dumped with pg_dump 16.
fn generated_source_snapshot(tmp: &Path, dir: &Path, frontend_bytes: u64) {
    let src = source(16);
    let server = src.server;
    let base = server.unique_name("gen");
    let mut yaml = String::new();
    for (role, db, kind, size) in [
        ("pgsql", "frontend", datagen::Db::Frontend, frontend_bytes),
        (
            "codeintel",
            "codeintel",
            datagen::Db::Codeintel,
            frontend_bytes / 10,
        ),
        (
            "codeinsights",
            "codeinsights",
            datagen::Db::Codeinsights,
            frontend_bytes / 10,
        ),
    ] {
        let name = format!("{base}_{db}");
        server.create_database(&name);
        server.psql_file(&name, &common::schema_for(16, db));
        let data = tmp.join(format!("{db}-data.sql"));
        let mut f = std::fs::File::create(&data).expect("data file");
        datagen::generate(
            &datagen::GenOptions {
                db: kind,
                size_bytes: size,
                seed: 11,
            },
            &mut f,
        )
        .expect("generate");
        server.psql_file(&name, &data);
        yaml.push_str(&format!(
            "{role}:\n  target: 127.0.0.1\n  port: {}\n  dbname: {name}\n  username: {}\n  password: \"{}\"\n",
            server.port(),
            src.user,
            src.password
        ));
    }
    let targets = tmp.join("gen-targets.yaml");
    std::fs::write(&targets, yaml).expect("targets");
    run_ok(
        cmd()
            .args(["databases", "pg_dump", "--run", "--no-progress"])
            .arg(format!("-targets={}", targets.display()))
            .arg(format!("-dir={}", dir.display()))
            .arg(format!("--pg-dump={}", testkit::pg_dump_path(16).display())),
    );
}

fn output(c: &mut Command) -> Output {
    c.output().expect("run src-snapshot")
}

fn assert_compare_equal(t: &Target, source_flag: &str, envs: &[(&str, &str)], ctx: &str) {
    let mut c = t.cmd("compare");
    c.arg(source_flag).arg("--json");
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = output(&mut c);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{ctx}: compare printed no JSON: {}",
            testkit::describe_output(&out)
        )
    });
    assert_eq!(report["equal"], true, "{ctx}: {report:#}");
    assert_eq!(out.status.code(), Some(0), "{ctx}");
    let dbs = report["databases"].as_array().expect("databases");
    assert_eq!(dbs.len(), 3, "{ctx}");
    for d in dbs {
        assert!(!d["tables"].as_array().expect("tables").is_empty(), "{ctx}: {d}");
        assert!(
            !d["objects"].as_array().expect("objects").is_empty(),
            "{ctx}: objects were compared"
        );
    }
}

fn import_ok(t: &Target, source_flag: &str, envs: &[(&str, &str)], ctx: &str) -> serde_json::Value {
    let mut c = t.cmd("import");
    c.arg(source_flag).args(["--json", "--jobs=3"]);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = output(&mut c);
    assert!(
        out.status.success(),
        "{ctx}: import failed: {}",
        testkit::describe_output(&out)
    );
    serde_json::from_slice(&out.stdout).expect("import JSON")
}

#[test]
fn imports_a_folder_and_compare_names_an_altered_table() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    snapshot(12, 16, &dir);
    let t = Target::new("imp_dir");
    let flag = format!("-dir={}", dir.display());
    let report = import_ok(&t, &flag, &[], "PG 12 / pg_dump 16 from a folder");
    let fe = &report["databases"][0];
    assert_eq!(fe["role"], "pgsql");
    assert!(fe["tables"].as_array().expect("tables").len() > 100);
    // The non-superuser cannot create pg_stat_statements: left out and listed.
    let removed = serde_json::to_string(&fe["removed"]).expect("json");
    assert!(removed.contains("pg_stat_statements"), "{removed}");
    assert_compare_equal(&t, &flag, &[], "folder");

    // The journal is gone; the tables belong to the importing user.
    let owner = t.superuser_psql(
        0,
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
    );
    assert_eq!(owner.trim(), t.db.user);
    let journal = t.superuser_psql(
        0,
        "SELECT count(*) FROM pg_namespace WHERE nspname = 'src_snapshot_import'",
    );
    assert_eq!(journal.trim(), "0");

    // Importing again into the loaded databases is refused, nothing touched.
    let out = output(t.cmd("import").arg(&flag));
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reset"), "{err}");

    // One changed value: compare fails and names the table and the row.
    t.superuser_psql(
        0,
        "UPDATE public.repo SET name = name || '-altered' WHERE id = (SELECT min(id) FROM public.repo)",
    );
    let out = output(t.cmd("compare").arg(&flag));
    assert_eq!(out.status.code(), Some(1), "{}", testkit::describe_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("table public.repo differs"), "{text}");
    assert!(text.contains("-altered"), "the differing row is shown: {text}");
    assert!(text.contains("DIFFERENT"), "{text}");

    // A changed sequence is a difference too.
    t.superuser_psql(
        1,
        "SELECT setval(c.oid::regclass, 999999) FROM pg_class c WHERE relkind = 'S' LIMIT 1",
    );
    let out = output(t.cmd("compare").arg(&flag).arg("--json"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ci = &v["databases"][1];
    assert!(
        ci["sequences"]
            .as_array()
            .expect("seqs")
            .iter()
            .any(|s| s["equal"] == false),
        "{ci:#}"
    );
}

/// Uploads `dir` to a `file://` bucket under `tmp`; returns the -bucket flag.
fn upload_to_folder_bucket(dir: &Path, tmp: &Path, extra: &[&str]) -> String {
    let bucket = tmp.join("bucket");
    std::fs::create_dir_all(&bucket).expect("mkdir bucket");
    let url = format!("file://{}", bucket.display());
    run_ok(
        cmd()
            .args(["upload", "--no-progress"])
            .arg(format!("-bucket={url}"))
            .arg(format!("-dir={}", dir.display()))
            .args(extra),
    );
    format!("-bucket={url}")
}

fn cross_version_case(source_major: u32, pg_dump_major: u32, via: &str) {
    let ctx = format!("PG {source_major} / pg_dump {pg_dump_major} via {via}");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    snapshot(source_major, pg_dump_major, &dir);
    let emulator;
    let mut envs: Vec<(&str, &str)> = Vec::new();
    let flag = match via {
        "dir" => format!("-dir={}", dir.display()),
        "bucket" => upload_to_folder_bucket(&dir, tmp.path(), &["-filter-sql=false"]),
        "bucket-gzip" => upload_to_folder_bucket(&dir, tmp.path(), &["--gzip"]),
        "gcs-emulator" => {
            emulator = testkit::fake_gcs_server::FakeGcsServer::start();
            emulator.create_bucket("snapshots");
            envs.push(("STORAGE_EMULATOR_HOST", emulator.host()));
            run_ok(
                cmd()
                    .args(["upload", "--no-progress", "--gzip", "-bucket=gs://snapshots/acme"])
                    .arg(format!("-dir={}", dir.display()))
                    .env("STORAGE_EMULATOR_HOST", emulator.host()),
            );
            "-bucket=gs://snapshots/acme".to_string()
        }
        _ => unreachable!("{via}"),
    };
    let t = Target::new("imp_x");
    import_ok(&t, &flag, &envs, &ctx);
    assert_compare_equal(&t, &flag, &envs, &ctx);
}

/// Every pg_dump 14–18 that can dump the source (pg_dump ≥ the server),
/// each snapshot reaching the target a different way (folder, plain and gzip
/// `file://` buckets, the GCS emulator).
fn all_pg_dumps(source_major: u32) {
    let ways = ["bucket", "bucket-gzip", "dir", "gcs-emulator", "bucket-gzip"];
    for (i, pg_dump) in (source_major.max(14)..=18).enumerate() {
        cross_version_case(
            source_major,
            pg_dump,
            ways[(i + source_major as usize) % ways.len()],
        );
    }
}

#[test]
fn pg11_source_every_pg_dump() {
    all_pg_dumps(11);
}

#[test]
fn pg12_source_every_pg_dump() {
    all_pg_dumps(12);
}

#[test]
fn pg14_source_every_pg_dump() {
    all_pg_dumps(14);
}

#[test]
fn pg16_source_every_pg_dump() {
    // pg_dump 16–18 only: three ways, including the emulator.
    all_pg_dumps(16);
}

#[test]
fn saved_pg_dump_12_dumps_from_a_folder_and_a_bucket() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot("pgdump12", &dir);
    let t = Target::new("imp_s12");
    let flag = format!("-dir={}", dir.display());
    import_ok(&t, &flag, &[], "saved pg_dump 12, folder");
    assert_compare_equal(&t, &flag, &[], "saved pg_dump 12, folder");
    let bucket = upload_to_folder_bucket(&dir, tmp.path(), &[]);
    let t = Target::new("imp_s12b");
    import_ok(&t, &bucket, &[], "saved pg_dump 12, bucket");
    assert_compare_equal(&t, &bucket, &[], "saved pg_dump 12, bucket");
}

#[test]
fn a_damaged_object_is_refused_before_loading() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot("pgdump16", &dir);
    let flag = upload_to_folder_bucket(&dir, tmp.path(), &[]);
    // Flip one byte of the uploaded codeintel object.
    let obj = tmp.path().join("bucket/codeintel.sql");
    let mut bytes = std::fs::read(&obj).expect("object");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&obj, bytes).expect("write");
    let t = Target::new("imp_bad");
    let out = output(t.cmd("import").arg(&flag));
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("codeintel.sql") && err.contains("does not match the manifest"),
        "{err}"
    );
    // Nothing was created: the check comes first.
    let dbs = PgServer::shared(16).psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{}%'",
            &t.names[0][..t.names[0].len() - 3]
        ),
    );
    assert_eq!(dbs.trim(), "1", "only the user's own database exists");
}

#[test]
fn changed_table_data_is_refused_and_not_committed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot("pgdump17", &dir);
    let flag = format!("-dir={}", dir.display());
    // The manifest is written first, then one value changes (same size).
    run_ok(
        cmd()
            .args(["fingerprint", "--json"])
            .arg(dir.join("codeinsights.sql")),
    );
    let t = Target::new("imp_tamper");
    let out = output(t.cmd("compare").arg(&flag));
    assert_ne!(out.status.code(), Some(0), "nothing is loaded yet");
    let path = dir.join("codeinsights.sql");
    let text = std::fs::read_to_string(&path).expect("dump");
    assert!(
        dir.join("manifest.json").exists(),
        "compare wrote the manifest of the folder"
    );
    let changed = text.replacen("2023-05-01 00:00:00+00\t40.5", "2023-05-01 00:00:00+00\t41.5", 1);
    assert_ne!(changed, text);
    std::fs::write(&path, changed).expect("write");
    let out = output(t.cmd("import").arg(&flag));
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
    // Caught by the file's checksum or by the table's fingerprint, whichever comes first.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("codeinsights.sql") && err.contains("does not match the manifest")
            || err.contains("public.series_points") && err.contains("manifest says"),
        "{err}"
    );
    // The changed table was not committed: nothing half-loaded stays.
    let rows = t.superuser_psql(2, "SELECT count(*) FROM public.series_points");
    assert_eq!(rows.trim(), "0");

    // The file intact but the manifest's fingerprint of one table wrong: the
    // file's checksum passes, the table's check refuses it before commit.
    std::fs::write(&path, &text).expect("restore");
    let manifest_path = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest")).expect("json");
    for f in m["files"].as_array_mut().expect("files") {
        for tb in f["tables"].as_array_mut().expect("tables") {
            if tb["table"] == "public.series_points" {
                tb["hash"] = serde_json::json!("0123456789abcdef0123456789abcdef");
            }
        }
    }
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).expect("json")).expect("write");
    let t = Target::new("imp_tamper2");
    let out = output(t.cmd("import").arg(&flag));
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("public.series_points") && err.contains("manifest says"),
        "{err}"
    );
    let rows = t.superuser_psql(2, "SELECT count(*) FROM public.series_points");
    assert_eq!(rows.trim(), "0");
}

#[test]
fn a_tiny_spool_budget_still_loads_from_a_bucket() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot("pgdump18", &dir);
    let flag = upload_to_folder_bucket(&dir, tmp.path(), &["--gzip"]);
    let t = Target::new("imp_spool");
    let spool = tmp.path().join("spool");
    let out = output(
        t.cmd("import")
            .arg(&flag)
            .args(["--jobs=1", "--spool-limit-gib=0"])
            .arg(format!("--spool-dir={}", spool.display())),
    );
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    assert_compare_equal(&t, &flag, &[], "tiny spool budget");
    let left: Vec<_> = std::fs::read_dir(&spool)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "spool files are removed: {left:?}");
}

#[test]
fn a_failing_statement_is_named_and_the_rerun_continues() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot("pgdump17", &dir);
    let flag = format!("-dir={}", dir.display());
    let t = Target::new("imp_fail");
    // Something in the way (not a table, so the database counts as empty): a
    // sequence with an index's name makes the dump's DROP INDEX fail.
    run_ok(t.cmd("reset").arg("--yes"));
    let server = PgServer::shared(16);
    server.psql(
        &t.names[1],
        "CREATE SEQUENCE public.codeintel_scip_metadata_upload_id",
    );
    let out = output(t.cmd("import").arg(&flag));
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("codeintel.sql line "),
        "the file and line are named: {err}"
    );
    assert!(
        err.contains("DROP INDEX IF EXISTS \"public\".\"codeintel_scip_metadata_upload_id\""),
        "{err}"
    );
    assert!(err.contains("is not an index"), "the server's message: {err}");
    assert!(err.contains("hint: fix the cause"), "{err}");
    // Nothing half-done is reported as done: no table of codeintel exists.
    let n = server.psql(
        &t.names[1],
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    );
    assert_eq!(n.trim(), "0");
    // Remove the cause; the rerun continues what the other databases finished.
    server.psql(
        &t.names[1],
        "DROP SEQUENCE public.codeintel_scip_metadata_upload_id",
    );
    import_ok(&t, &flag, &[], "rerun after the fix");
    assert_compare_equal(&t, &flag, &[], "rerun after the fix");
}

#[test]
fn kill_9_at_20_seeded_points_then_rerun_is_equal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    generated_source_snapshot(tmp.path(), &dir, 40 << 20);
    let flag = format!("-dir={}", dir.display());
    let t = Target::new("imp_kill");
    let mut seed: u64 = 0x5eed_1234;
    let mut kills = 0;
    let mut completed_early = 0;
    let mut runs = 0;
    let mut progress = Vec::new();
    let points = common::chaos(20);
    while kills < points {
        runs += 1;
        assert!(runs < 3 * points, "the import keeps finishing before the kill");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(100 + seed % 2500);
        let mut child = t
            .cmd("import")
            .arg(&flag)
            .arg("--jobs=2")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(tmp.path().join("import.err")).expect("stderr file"))
            .spawn()
            .expect("spawn import");
        std::thread::sleep(delay);
        match child.try_wait().expect("try_wait") {
            Some(status) => {
                assert!(
                    status.success(),
                    "run {runs} failed on its own: {status}: {}",
                    std::fs::read_to_string(tmp.path().join("import.err")).unwrap_or_default()
                );
                completed_early += 1;
                // Done before the kill: start over so the next kill lands mid-import.
                run_ok(t.cmd("reset").arg("--yes"));
            }
            None => {
                child.kill().expect("kill -9");
                child.wait().expect("wait");
                kills += 1;
                // Where it was: finished units in the frontend's journal.
                let units = PgServer::shared(16)
                    .try_psql(&t.names[0], "SELECT count(*) FROM src_snapshot_import.journal");
                progress.push(String::from_utf8_lossy(&units.stdout).trim().to_string());
            }
        }
    }
    let report = import_ok(&t, &flag, &[], "after the kills");
    let resumed = report["databases"]
        .as_array()
        .expect("dbs")
        .iter()
        .any(|d| d["resumed"] == true);
    // A kill before the first commit leaves nothing to continue (the rerun
    // starts afresh); after one, the rerun must continue.
    let units_at_last_kill: u64 = progress.last().and_then(|u| u.parse().ok()).unwrap_or(0);
    assert!(
        resumed || completed_early > 0 || units_at_last_kill == 0,
        "the last run continued an interrupted import: {report:#}"
    );
    assert_compare_equal(&t, &flag, &[], "after the kills");
    eprintln!(
        "kill -9 test: {kills} kills, {completed_early} runs finished before their kill; frontend journal units at each kill: {}",
        progress.join(" ")
    );
}

#[test]
fn reset_guards() {
    let t = Target::new("imp_reset");
    let server = PgServer::shared(16);
    // Without --yes: shows, refuses, exit 1.
    let out = output(&mut t.cmd("reset"));
    assert_eq!(out.status.code(), Some(1), "{}", testkit::describe_output(&out));
    // Absent databases are created, owned by the user.
    run_ok(t.cmd("reset").arg("--yes"));
    for n in &t.names {
        let owner = server.psql(
            "postgres",
            &format!("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{n}'"),
        );
        assert_eq!(owner.trim(), t.db.user, "{n}");
    }
    // A database with unrelated data is refused, and left alone.
    server.psql(
        &t.names[2],
        "CREATE TABLE payroll (id int); INSERT INTO payroll VALUES (1)",
    );
    let out = output(t.cmd("reset").arg("--yes"));
    assert_eq!(out.status.code(), Some(1), "{}", testkit::describe_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("does not look like a Sourcegraph database") && text.contains("public.payroll"),
        "{text}"
    );
    assert_eq!(
        server.psql(&t.names[2], "SELECT count(*) FROM payroll").trim(),
        "1"
    );
    // A Sourcegraph database with a session open is refused unless --force.
    server.psql(&t.names[2], "DROP TABLE payroll; CREATE TABLE repo (id int)");
    let mut holder = Command::new(testkit::psql_path(16))
        .args([
            "-X",
            "-q",
            "-h",
            server.host(),
            "-p",
            &server.port().to_string(),
            "-U",
            server.superuser(),
            "-d",
            &t.names[2],
            "-c",
            "SELECT pg_sleep(30)",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    // Wait until its session is really there (psql may take a while to connect under load).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server
        .psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep%'",
                t.names[2]
            ),
        )
        .trim()
        == "0"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the holding session never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = output(t.cmd("reset").arg("--yes"));
    assert_eq!(out.status.code(), Some(1), "{}", testkit::describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("other session"),
        "{}",
        testkit::describe_output(&out)
    );
    let out = output(t.cmd("reset").args(["--yes", "--force"]));
    let _ = holder.kill();
    let _ = holder.wait();
    // The superuser's session cannot be ended by a non-superuser: a clear error, not a hang.
    if out.status.success() {
        assert_eq!(
            server
                .psql(
                    &t.names[2],
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                )
                .trim(),
            "0"
        );
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&t.names[2]), "{err}");
    }
    // A password in the URL is refused (it would sit in argv and shell history).
    let out = output(cmd().args(["reset", "--yes"]).arg(format!(
        "--target-url=postgres://u:secret@127.0.0.1:{}/postgres",
        server.port()
    )));
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("secret"));
}

#[test]
fn via_gcloud_prints_and_runs_cloud_sqls_importer_one_at_a_time() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot("pgdump16", &dir);
    let emu = testkit::fake_gcs_server::FakeGcsServer::start();
    emu.create_bucket("snaps");
    let host = emu.host();
    run_ok(
        cmd()
            .args(["upload", "--no-progress", "--gzip", "-bucket=gs://snaps/x"])
            .arg(format!("-dir={}", dir.display()))
            .env("STORAGE_EMULATOR_HOST", host),
    );
    let out = run_ok(
        cmd()
            .args([
                "import",
                "--via=gcloud",
                "-bucket=gs://snaps/x",
                "--instance=sg-managed",
                "--project=acme",
            ])
            .env("STORAGE_EMULATOR_HOST", host),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for (db, obj) in [
        ("pgsql", "pgsql.sql.gz"),
        ("codeintel-db", "codeintel.sql.gz"),
        ("codeinsights-db", "codeinsights.sql.gz"),
    ] {
        assert!(
            text.contains(&format!(
                "gcloud --project=acme sql import sql sg-managed gs://snaps/x/{obj} --database={db}"
            )),
            "{text}"
        );
    }
    assert_eq!(text.matches("sql operations wait").count(), 3, "{text}");
    // --run with a recording gcloud on PATH: import, wait, import, wait…
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let log = tmp.path().join("gcloud.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$*\" in *' import sql '*) echo op-$$ ;; esac\n",
        log.display()
    );
    let shim = bin.join("gcloud");
    std::fs::write(&shim, script).expect("shim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    run_ok(
        cmd()
            .args([
                "import",
                "--via=gcloud",
                "--run",
                "-bucket=gs://snaps/x",
                "--instance=sg-managed",
            ])
            .env("STORAGE_EMULATOR_HOST", host)
            .env("PATH", path),
    );
    let calls = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 6, "{calls}");
    for (i, db) in ["pgsql", "codeintel-db", "codeinsights-db"].iter().enumerate() {
        assert!(
            lines[2 * i].contains(&format!("--database={db}")) && lines[2 * i].contains("--async"),
            "{calls}"
        );
        assert!(lines[2 * i + 1].starts_with("sql operations wait op-"), "{calls}");
    }
    // An object uploaded without the sanitizer is refused for gcloud.
    run_ok(
        cmd()
            .args([
                "upload",
                "--no-progress",
                "-filter-sql=false",
                "-bucket=gs://snaps/raw",
            ])
            .arg(format!("-dir={}", dir.display()))
            .env("STORAGE_EMULATOR_HOST", host),
    );
    let out = output(
        cmd()
            .args(["import", "--via=gcloud", "-bucket=gs://snaps/raw", "--instance=i"])
            .env("STORAGE_EMULATOR_HOST", host),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without the cloudsql sanitizer"));
}

#[test]
fn the_target_restarting_mid_import_then_a_rerun_is_equal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    generated_source_snapshot(tmp.path(), &dir, 30 << 20);
    let flag = format!("-dir={}", dir.display());
    // A server of its own: restarting it must not disturb other tests.
    let server: &'static PgServer = Box::leak(Box::new(PgServer::start(16)));
    let t = Target::on(server, "imp_restart");
    let child = t
        .cmd("import")
        .arg(&flag)
        .arg("--jobs=2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn import");
    // Restart once some tables are in, before the end.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = server.try_psql(&t.names[0], "SELECT count(*) FROM src_snapshot_import.journal");
        let done: u64 = String::from_utf8_lossy(&n.stdout).trim().parse().unwrap_or(0);
        if done >= 20 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server.restart();
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        eprintln!("the import finished before the restart took effect");
    } else {
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("error: importing"), "a clear error: {err}");
    }
    let report = import_ok(&t, &flag, &[], "after the restart");
    assert!(
        out.status.success()
            || report["databases"]
                .as_array()
                .expect("dbs")
                .iter()
                .any(|d| d["resumed"] == true),
        "{report:#}"
    );
    assert_compare_equal(&t, &flag, &[], "after the restart");
}

#[test]
fn the_password_reaches_no_output_even_with_debug_logs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    saved_snapshot("pgdump16", &dir);
    let flag = format!("-dir={}", dir.display());
    let t = Target::new("imp_secret");
    let pw = t.db.password.clone();
    let mut outputs = Vec::new();
    outputs.push(output(t.cmd("reset").args(["--yes", "-vv"])));
    outputs.push(output(t.cmd("import").arg(&flag).args(["-vv", "--json"])));
    outputs.push(output(t.cmd("compare").arg(&flag).args(["-vv", "--json"])));
    // A wrong password: the error says so without either password.
    let wrong = format!("{pw}-wrong");
    outputs.push(output(t.cmd("compare").arg(&flag).env("PGPASSWORD", &wrong)));
    let last = outputs.last().expect("output");
    assert_eq!(last.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&last.stderr).contains("password"),
        "{}",
        testkit::describe_output(last)
    );
    for out in &outputs {
        let text = testkit::describe_output(out);
        assert!(!text.contains(&pw), "the password was printed: {text}");
    }
    // Nor anything the tool wrote.
    for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
        let bytes = std::fs::read(entry.path()).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&pw),
            "{} holds the password",
            entry.path().display()
        );
    }
}

/// A table whose rows come in two COPY blocks (a hand-joined dump; the bench
/// generator made one): both blocks load, and `compare` reads the table once
/// (it read it once per block and reported twice the rows).
#[test]
fn a_table_split_over_two_copy_blocks_loads_and_compares_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    common::fixture_snapshot(&dir);
    let path = dir.join("pgsql.sql");
    let text = std::fs::read_to_string(&path).expect("dump");
    let head = text.find("\nCOPY \"public\".\"repo\" (").expect("repo's COPY") + 1;
    let header_end = head + text[head..].find('\n').expect("header line") + 1;
    let end = header_end + text[header_end..].find("\n\\.\n").expect("end of block") + 1;
    let rows: Vec<&str> = text[header_end..end].lines().collect();
    assert!(rows.len() >= 2, "repo has {} rows in the fixture", rows.len());
    let header = &text[head..header_end];
    let split = format!("{header}{}\n\\.\n\n{header}{}\n", rows[0], rows[1..].join("\n"));
    std::fs::write(&path, format!("{}{split}{}", &text[..head], &text[end..])).expect("write");

    let t = Target::new("imp_blocks");
    let flag = format!("-dir={}", dir.display());
    import_ok(&t, &flag, &[], "two blocks");
    let count = t.superuser_psql(0, "SELECT count(*) FROM public.repo");
    assert_eq!(count.trim(), rows.len().to_string(), "every row once");
    assert_compare_equal(&t, &flag, &[], "two blocks");
}
