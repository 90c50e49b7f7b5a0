//! `reset`, `import` and `compare` against real servers: snapshots of PG 11,
//! 12, 14 and 16 sources (Sourcegraph schemas, seeds, tricky data) dumped by
//! pg_dump 14–18, and the saved pg_dump 12 dumps, loaded from a folder, a
//! `file://` bucket and the GCS emulator into PG 16 as a Cloud-SQL-like
//! non-superuser; `compare` says equal, and names a table altered afterwards.
//! `kill -9` at seeded points, then a rerun: always equal, never duplicated.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{cmd, run_ok, source};
use testkit::{CloudSqlDb, PgServer};

/// A Cloud-SQL-like user on the PG 16 target, and unique names for the three databases.
struct Target {
    db: CloudSqlDb,
    names: [String; 3],
}

impl Target {
    fn new(prefix: &str) -> Target {
        let server = PgServer::shared(16);
        let base = server.unique_name(prefix);
        let db = server.create_cloudsql_database(&base);
        Target {
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
        PgServer::shared(16).psql(&self.names[i], sql)
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

fn saved_snapshot(version: &str, dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for (db, file) in [
        ("frontend", "pgsql.sql"),
        ("codeintel", "codeintel.sql"),
        ("codeinsights", "codeinsights.sql"),
    ] {
        std::fs::copy(
            testkit::testdata_dir().join(format!("dumps/{version}/{db}.sql")),
            dir.join(file),
        )
        .expect("copy");
    }
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
