//! Hostile names and data, generated (proptest): identifiers and text made of
//! quotes, backslashes, semicolons, newlines, tabs, `\.`, `$$`, SQL keywords
//! and non-ASCII, loaded into a real PG 16 source, dumped by pg_dump, imported
//! by `import` as a non-superuser and proven equal by `compare`. A line-based
//! sanitizer or a naive splitter would break on these.

mod common;

use std::path::Path;

use common::{cmd, run_ok, source};
use proptest::prelude::*;
use testkit::PgServer;

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// COPY text format escaping.
fn copy_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\\.".to_string()),
        Just("\n\\.\n".to_string()),
        Just(";".to_string()),
        Just("$$".to_string()),
        Just("$x$".to_string()),
        Just("\n".to_string()),
        Just("\t".to_string()),
        Just("\r\n".to_string()),
        Just("-- ".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("COPY public.t FROM stdin;".to_string()),
        Just("\nCREATE EXTENSION pg_stat_statements;\n".to_string()),
        Just("\\connect other".to_string()),
        Just("é中🚀".to_string()),
        "[a-zA-Z0-9 ]{0,8}",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn hostile_ident() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\"".to_string()),
        Just(";".to_string()),
        Just(" ".to_string()),
        Just("$".to_string()),
        Just(".".to_string()),
        Just("-- x".to_string()),
        Just("COPY".to_string()),
        Just("é".to_string()),
        "[a-z]{1,6}",
    ];
    // Postgres truncates identifiers at 63 bytes; stay under.
    proptest::collection::vec(piece, 1..6)
        .prop_map(|v| v.concat())
        .prop_filter("short enough", |s| s.len() < 50)
}

fn round_trip(table: &str, column: &str, rows: &[Option<String>], case: usize) {
    let src = source(16);
    let server = src.server;
    let db = server.unique_name("hostile");
    server.create_database(&db);
    let tmp = tempfile::tempdir().expect("tmp");
    let mut sql = format!(
        "CREATE TABLE public.{t} (id int PRIMARY KEY, {c} text);\nCREATE INDEX ON public.{t} ({c});\nCOPY public.{t} (id, {c}) FROM stdin;\n",
        t = quote_ident(table),
        c = quote_ident(column)
    );
    for (i, r) in rows.iter().enumerate() {
        let v = r.as_deref().map_or("\\N".to_string(), copy_escape);
        sql.push_str(&format!("{i}\t{v}\n"));
    }
    sql.push_str("\\.\n");
    let file = tmp.path().join("data.sql");
    std::fs::write(&file, sql).expect("write");
    server.psql_file(&db, &file);
    let yaml = tmp.path().join("targets.yaml");
    // All three roles must be named; only pgsql is dumped (--only).
    let entry = format!(
        "  target: 127.0.0.1\n  port: {}\n  dbname: {db}\n  username: {}\n  password: \"{}\"\n",
        server.port(),
        src.user,
        src.password
    );
    std::fs::write(
        &yaml,
        format!("pgsql:\n{entry}codeintel:\n{entry}codeinsights:\n{entry}"),
    )
    .expect("yaml");
    let dir = tmp.path().join("snap");
    run_ok(
        cmd()
            .args(["databases", "pg_dump", "--run", "--no-progress", "--only=pgsql"])
            .arg(format!("-targets={}", yaml.display()))
            .arg(format!("-dir={}", dir.display()))
            .arg(format!("--pg-dump={}", testkit::pg_dump_path(16).display())),
    );
    let target = PgServer::shared(16);
    let name = target.unique_name(&format!("hostile_t{case}"));
    let owner = target.create_cloudsql_database(&name);
    let load = |sub: &str, dir: &Path| {
        let mut c = cmd();
        c.arg(sub)
            .arg(format!("-dir={}", dir.display()))
            .arg(format!(
                "--target-url=postgres://{}@{}:{}/{}",
                owner.user, owner.host, owner.port, owner.dbname
            ))
            .arg(format!("--databases=pgsql={name}_fe"))
            .arg("--no-progress")
            .env("PGPASSWORD", &owner.password);
        c.output().expect("run")
    };
    let out = load("import", &dir);
    assert!(
        out.status.success(),
        "table {table:?} column {column:?}: {}",
        testkit::describe_output(&out)
    );
    let out = load("compare", &dir);
    assert!(
        out.status.success(),
        "table {table:?} column {column:?}: {}",
        testkit::describe_output(&out)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::chaos(8), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_names_and_data_round_trip(
        table in hostile_ident(),
        column in hostile_ident(),
        rows in proptest::collection::vec(proptest::option::weighted(0.9, hostile_text()), 0..20),
    ) {
        prop_assume!(table.to_lowercase() != column.to_lowercase() && column != "id");
        static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        round_trip(&table, &column, &rows, case);
    }
}
