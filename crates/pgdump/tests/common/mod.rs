//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;

use pgdump::{DumpCommand, DumpError, Password, Target, Targets, TargetsSource};
use testkit::{CloudSqlDb, PgServer};

/// The shared server of `major`, with the `cloudsqlsuperuser` role created
/// once up front: testkit's `create_cloudsql_database` creates it on first
/// use with a check-then-create that races when tests run in parallel.
pub fn server(major: u32) -> &'static PgServer {
    static READY: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
    let server = PgServer::shared(major);
    let mut ready = READY.lock().unwrap_or_else(|p| p.into_inner());
    if !ready.contains(&major) {
        server.psql(
            "postgres",
            "DO $$ BEGIN CREATE ROLE cloudsqlsuperuser NOLOGIN CREATEDB CREATEROLE; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;",
        );
        ready.push(major);
    }
    server
}

/// A Cloud-SQL-like database with one small table (and optionally ~3 MB more,
/// so pg_dump blocks on a full stdout pipe until the test reads).
pub fn seeded_db(server: &PgServer, prefix: &str, big: bool) -> CloudSqlDb {
    let name = server.unique_name(prefix);
    let db = server.create_cloudsql_database(&name);
    let mut sql = String::from(
        "CREATE TABLE repo (id integer PRIMARY KEY, name text NOT NULL);\n\
         INSERT INTO repo VALUES (1, 'github.com/sourcegraph/sourcegraph'), (2, 'it''s \"quoted\"');\n",
    );
    if big {
        sql.push_str(
            "CREATE TABLE blob (id integer, data text);\n\
             INSERT INTO blob SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, 3000) g;\n",
        );
    }
    db.psql(&sql);
    db
}

/// A target reaching `db` over TCP (pg_dump mode).
pub fn tcp_target(db: &CloudSqlDb) -> Target {
    Target {
        target: db.host.clone(),
        dbname: db.dbname.clone(),
        username: db.user.clone(),
        password: Some(Password::new(db.password.clone()).expect("password")),
        port: Some(db.port),
    }
}

/// A target for docker/kubectl modes: the shim's "container" finds the
/// server through PGHOST/PGPORT, so only the name, user and password matter.
pub fn container_target(name: &str, db: &CloudSqlDb) -> Target {
    Target {
        target: name.to_string(),
        dbname: db.dbname.clone(),
        username: db.user.clone(),
        password: Some(Password::new(db.password.clone()).expect("password")),
        port: None,
    }
}

/// All three roles from one target.
pub fn same_targets(t: Target) -> Targets {
    Targets {
        pgsql: t.clone(),
        codeintel: t.clone(),
        codeinsights: t,
        source: TargetsSource::Custom,
    }
}

/// Three targets.
pub fn targets(pgsql: Target, codeintel: Target, codeinsights: Target) -> Targets {
    Targets {
        pgsql,
        codeintel,
        codeinsights,
        source: TargetsSource::Custom,
    }
}

/// Spawn, read stdout to the end, finish.
pub fn dump(cmd: &DumpCommand) -> (Vec<u8>, Result<(), DumpError>) {
    let mut running = match cmd.spawn() {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut out = Vec::new();
    running.stdout.read_to_end(&mut out).expect("read pg_dump stdout");
    (out, running.finish())
}

/// A dump without the random `\restrict` key lines, for comparing two runs.
pub fn without_restrict(dump: &[u8]) -> String {
    String::from_utf8_lossy(dump)
        .lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Assert a dump is complete and holds the seeded table.
pub fn assert_complete_dump(dump: &[u8], what: &str) {
    let text = String::from_utf8_lossy(dump);
    assert!(
        text.contains("PostgreSQL database dump complete"),
        "{what}: incomplete dump:\n{text}"
    );
    assert!(
        text.contains("CREATE TABLE \"public\".\"repo\""),
        "{what}: no quoted CREATE TABLE (--quote-all-identifiers?)"
    );
    assert!(
        text.contains("DROP TABLE IF EXISTS \"public\".\"repo\""),
        "{what}: no --clean --if-exists DROP"
    );
    assert!(
        text.contains("github.com/sourcegraph/sourcegraph"),
        "{what}: data missing"
    );
    assert!(!text.contains("OWNER TO"), "{what}: --no-owner not applied");
}

#[allow(unused_imports)] // not every test binary looks at the process list
pub use testkit::processes_with_in_cmdline;

/// The NUL-separated fields of a /proc file of `pid`.
pub fn proc_fields(pid: u32, file: &str) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/{file}"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|f| !f.is_empty())
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Wait until `pid` runs pg_dump (after docker/kubectl shims exec into it).
pub fn wait_for_pg_dump(pid: u32) -> Vec<String> {
    for _ in 0..400 {
        let argv = proc_fields(pid, "cmdline");
        if argv.first().is_some_and(|a| a.ends_with("pg_dump")) {
            return argv;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!(
        "process {pid} never became pg_dump: {:?}",
        proc_fields(pid, "cmdline")
    );
}

/// A PATH of the given folders, then /usr/bin and /bin.
pub fn path_of(dirs: &[&Path]) -> std::ffi::OsString {
    let mut all: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    all.push("/usr/local/bin".into());
    all.push("/usr/bin".into());
    all.push("/bin".into());
    std::env::join_paths(all).expect("PATH")
}
