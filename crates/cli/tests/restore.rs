//! `restore` (src-cli parity): loads a snapshot made by `databases --run`
//! into local databases with psql, and the result equals the source.

mod common;

use common::{cmd, rt, run_ok, source, SOURCE_DBS};
use snapshot::{diff_tables, fingerprint_database, Manifest};
use testkit::PgServer;

#[test]
fn restore_round_trip() {
    let src = source(14);
    let target = PgServer::shared(16);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    let targets = src.targets_yaml(tmp.path());
    run_ok(
        cmd()
            .args(["databases", "pg_dump", "--run", "--no-progress"])
            .arg(format!("--targets={}", targets.display()))
            .arg(format!("-dir={}", dir.display()))
            .arg(format!("--pg-dump={}", testkit::pg_dump_path(16).display())),
    );
    let manifest = Manifest::load(&dir).expect("manifest");

    // Restore into fresh databases on PG 16 as its superuser (the dumps are unsanitized).
    let pw = format!("restore-{}", testkit::random_hex(6));
    target.psql(
        "postgres",
        &format!("DROP ROLE IF EXISTS restorer; CREATE ROLE restorer LOGIN SUPERUSER PASSWORD '{pw}';"),
    );
    let mut y = String::new();
    let mut names = Vec::new();
    for (role, db) in SOURCE_DBS {
        let name = target.unique_name(&format!("r_{db}"));
        target.create_database(&name);
        y.push_str(&format!(
            "{role}:\n  target: 127.0.0.1\n  port: {}\n  dbname: {name}\n  username: restorer\n",
            target.port()
        ));
        names.push((role, name));
    }
    let t = tmp.path().join("restore.yaml");
    std::fs::write(&t, y).expect("write");
    // Printed form first: no password, the files named.
    let out = run_ok(
        cmd()
            .args(["restore", "pg_dump"])
            .arg(format!("--targets={}", t.display()))
            .arg(format!("-dir={}", dir.display())),
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(
        text.contains("psql") && text.contains("pgsql.sql") && !text.contains(&pw),
        "{text}"
    );
    // Then run, the password from the environment only.
    run_ok(
        cmd()
            .args(["restore", "pg_dump", "--run", "--psql"])
            .arg(testkit::psql_path(16))
            .arg(format!("--targets={}", t.display()))
            .arg(format!("-dir={}", dir.display()))
            .env("PGSQL_PASSWORD", &pw)
            .env("CODEINTEL_PASSWORD", &pw)
            .env("CODEINSIGHTS_PASSWORD", &pw),
    );
    let rt = rt();
    for (role, name) in names {
        let conn = pgload::ConnSpec::from_url(&target.url("restorer", "postgres"))
            .expect("url")
            .with_password(pw.clone());
        let expected = &manifest.file(role).expect("entry").tables;
        let got = rt
            .block_on(fingerprint_database(&conn, &name, Some(expected)))
            .expect("fingerprint");
        assert_eq!(diff_tables(expected, &got), vec![], "{role}");
    }
}
