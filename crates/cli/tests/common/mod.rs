//! Shared helpers for the CLI's integration tests: run the real binary in a
//! sealed environment, and build Sourcegraph-shaped source databases.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use testkit::PgServer;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_src-snapshot"))
}

/// A command for the binary with `PG*` and `SRC_*` variables removed.
pub fn cmd() -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("PG") || k.starts_with("SRC_") || k.ends_with("_PASSWORD") {
            c.env_remove(&k);
        }
    }
    c.env("NO_COLOR", "1");
    c
}

/// Runs and returns the output, panicking with everything on an unexpected status.
pub fn run_ok(c: &mut Command) -> Output {
    let out = c.output().expect("spawn src-snapshot");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}",
        c,
        testkit::describe_output(&out)
    );
    out
}

/// The three source database names.
pub const SOURCE_DBS: [(&str, &str); 3] = [
    ("pgsql", "frontend"),
    ("codeintel", "codeintel"),
    ("codeinsights", "codeinsights"),
];

/// A source server of `major` with the Sourcegraph schemas, seeds and the
/// tricky data in databases `sg_frontend`, `sg_codeintel`,
/// `sg_codeinsights`, and a password-protected superuser `sgsrc`.
pub struct Source {
    pub server: &'static PgServer,
    pub user: String,
    pub password: String,
}

pub fn source(major: u32) -> &'static Source {
    static SOURCES: OnceLock<std::sync::Mutex<Vec<(u32, &'static Source)>>> = OnceLock::new();
    let lock = SOURCES.get_or_init(Default::default);
    let mut list = lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = list.iter().find(|(m, _)| *m == major) {
        return s;
    }
    let server = PgServer::shared(major);
    let td = testkit::testdata_dir();
    for (_, db) in SOURCE_DBS {
        let name = format!("sg_{db}");
        server.create_database(&name);
        server.psql_file(&name, &schema_for(major, db));
        server.psql_file(&name, &td.join(format!("dumps/seed-{db}.sql")));
        server.psql_file(&name, &td.join("tricky/tricky.sql"));
    }
    let password = format!("src-pw-{}", testkit::random_hex(8));
    server.psql(
        "postgres",
        &format!("DROP ROLE IF EXISTS sgsrc; CREATE ROLE sgsrc LOGIN SUPERUSER PASSWORD '{password}';"),
    );
    let s: &'static Source = Box::leak(Box::new(Source {
        server,
        user: "sgsrc".into(),
        password,
    }));
    list.push((major, s));
    s
}

/// The Sourcegraph schema of `db`, made loadable on `major`: PostgreSQL 11
/// has no generated columns (Sourcegraph added its only one, in the
/// frontend's `notebooks`, when it required PG 12), so there it is a plain column.
pub fn schema_for(major: u32, db: &str) -> PathBuf {
    let path = testkit::testdata_dir().join(format!("sourcegraph/{db}.sql"));
    if major >= 12 {
        return path;
    }
    let text = std::fs::read_to_string(&path).expect("schema");
    let clause = " GENERATED ALWAYS AS (jsonb_to_tsvector('english'::regconfig, blocks, '[\"string\"]'::jsonb)) STORED";
    let patched = text.replace(clause, "");
    assert!(
        !patched.contains("GENERATED ALWAYS AS"),
        "another generated column to handle for PG 11"
    );
    let out = std::env::temp_dir().join(format!(
        "src-snapshot-schema-pg{major}-{db}-{}.sql",
        std::process::id()
    ));
    std::fs::write(&out, patched).expect("write schema");
    out
}

impl Source {
    /// A targets YAML for this source (with the password in it).
    pub fn targets_yaml(&self, dir: &Path) -> PathBuf {
        let mut y = String::new();
        for (role, db) in SOURCE_DBS {
            y.push_str(&format!(
                "{role}:\n  target: 127.0.0.1\n  port: {}\n  dbname: sg_{db}\n  username: {}\n  password: \"{}\"\n",
                self.server.port(),
                self.user,
                self.password
            ));
        }
        let p = dir.join("targets.yaml");
        std::fs::write(&p, y).expect("write targets");
        p
    }
}

/// A tokio runtime for library calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A snapshot folder from the saved pg_dump 17 fixtures (manifest built by upload).
pub fn fixture_snapshot(dir: &Path) {
    saved_snapshot("pgdump17", dir);
}

/// A snapshot folder from the saved dumps in `testdata/dumps/VERSION/` (no manifest yet).
pub fn saved_snapshot(version: &str, dir: &Path) {
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

/// A bigger snapshot: a real dump's schema plus `size` bytes of generated data in pgsql.sql.
pub fn generated_snapshot(dir: &Path, size: u64) {
    fixture_snapshot(dir);
    let head = std::fs::read_to_string(testkit::testdata_dir().join("dumps/pgdump17/frontend.sql"))
        .expect("fixture");
    let cut = head
        .find("--\n-- PostgreSQL database dump complete")
        .expect("trailer");
    let tail = &head[cut..];
    let mut out = std::fs::File::create(dir.join("pgsql.sql")).expect("create");
    use std::io::Write;
    out.write_all(&head.as_bytes()[..cut]).expect("write");
    datagen::generate(
        &datagen::GenOptions {
            db: datagen::Db::Frontend,
            size_bytes: size,
            seed: 7,
        },
        &mut out,
    )
    .expect("generate");
    out.write_all(tail.as_bytes()).expect("write");
}

/// `n` scaled by `SRC_SNAPSHOT_CHAOS_SCALE` (default 1): how many generated
/// cases and kill points the fault tests use (`scripts/chaos --long` sets 10).
pub fn chaos(n: u32) -> u32 {
    let scale = std::env::var("SRC_SNAPSHOT_CHAOS_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(1);
    n.saturating_mul(scale)
}
