//! Bad input gets one clear error naming the file, line or field, exit code
//! 2, and no half-written output under the final name.

mod common;

use std::path::Path;
use std::process::Output;

use common::{cmd, source};
use testkit::PgServer;

fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2:\n{}",
        testkit::describe_output(out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Only the given names are in `dir` (no temporary files left behind).
fn only_files(dir: &Path, names: &[&str]) {
    let mut got: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    got.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "files in {}", dir.display());
}

fn fixture() -> Vec<u8> {
    std::fs::read(testkit::testdata_dir().join("dumps/pgdump17/frontend.sql")).expect("fixture")
}

#[test]
fn sanitize_refuses_what_is_not_a_complete_dump() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    let dump = fixture();
    let text = String::from_utf8(dump.clone()).expect("utf8");
    let copy_at = text.find("COPY \"public\".\"repo\"").expect("repo copy");
    let in_copy = copy_at + text[copy_at..].find('\n').expect("nl") + 40;
    let dollar_at = text.find("AS $$").expect("a function body") + 10;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("plain.sql", b"SELECT 1;\n".to_vec(), "not a plain pg_dump script"),
        ("custom.dump", b"PGDMP\x01\x0e\x00\x04".to_vec(), "custom-format"),
        (
            "in-copy.sql",
            dump[..in_copy].to_vec(),
            "COPY block of public.repo",
        ),
        ("in-dollar.sql", dump[..dollar_at].to_vec(), "dollar-quoted"),
        (
            "no-trailer.sql",
            text.as_bytes()[..text
                .find("-- PostgreSQL database dump complete")
                .expect("trailer")]
                .to_vec(),
            "truncated",
        ),
        (
            "bad-utf8.sql",
            [
                &dump[..copy_at],
                b"CREATE TABLE \"x\xff\" (a int);\n",
                &dump[copy_at..],
            ]
            .concat(),
            "UTF-8",
        ),
    ];
    for (name, bytes, needle) in cases {
        let input = d.join(name);
        std::fs::write(&input, &bytes).expect("write");
        let out_dir = d.join(format!("out-{name}"));
        std::fs::create_dir(&out_dir).expect("mkdir");
        let out = cmd()
            .arg("sanitize")
            .arg(&input)
            .arg(out_dir.join("clean.sql"))
            .output()
            .expect("run");
        let err = fails(&out);
        assert!(err.contains(name), "{name}: error does not name the file: {err}");
        assert!(err.contains(needle), "{name}: expected {needle:?} in: {err}");
        assert!(err.contains("hint:"), "{name}: no hint: {err}");
        only_files(&out_dir, &[]);
    }
    // The line is named.
    let out = cmd()
        .arg("fingerprint")
        .arg(d.join("in-copy.sql"))
        .output()
        .expect("run");
    let err = fails(&out);
    let line = text[..copy_at].matches('\n').count() + 1;
    assert!(err.contains(&format!("line {line}")), "{err}");
}

#[test]
fn sanitize_never_writes_over_its_input() {
    let tmp = tempfile::tempdir().expect("tmp");
    let f = tmp.path().join("x.sql");
    std::fs::write(&f, fixture()).expect("write");
    let out = cmd().arg("sanitize").arg(&f).arg(&f).output().expect("run");
    let err = fails(&out);
    assert!(err.contains("refusing to overwrite the input"), "{err}");
    assert_eq!(std::fs::read(&f).expect("read"), fixture());
}

fn targets_file(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("targets.yaml");
    std::fs::write(&p, body).expect("write");
    p
}

#[test]
fn targets_yaml_errors_name_the_field() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cases = [
        ("pgsql:\n  target: h\n  dbname: sg\n  username: sg\n  pasword: x\ncodeintel: {target: h, dbname: sg, username: sg}\ncodeinsights: {target: h, dbname: p, username: p}\n", "pasword", "line 5"),
        ("pgsql:\n  target: h\n  username: sg\ncodeintel: {target: h, dbname: sg, username: sg}\ncodeinsights: {target: h, dbname: p, username: p}\n", "dbname", "line"),
        ("pgsql: {target: h, dbname: sg, username: \"--help\"}\ncodeintel: {target: h, dbname: sg, username: sg}\ncodeinsights: {target: h, dbname: p, username: p}\n", "username", "line 1"),
    ];
    for (body, field, line) in cases {
        let t = targets_file(tmp.path(), body);
        let dir = tmp.path().join("snap");
        let out = cmd()
            .args(["databases", "pg_dump", "--run"])
            .arg(format!("--targets={}", t.display()))
            .arg(format!("-dir={}", dir.display()))
            .output()
            .expect("run");
        let err = fails(&out);
        assert!(
            err.contains("targets.yaml") && err.contains(field) && err.contains(line),
            "{err}"
        );
        assert!(!dir.join("pgsql.sql").exists());
    }
}

fn yaml_for(server: &PgServer, user: &str, password: &str) -> String {
    let mut y = String::new();
    for (role, db) in [
        ("pgsql", "sg_frontend"),
        ("codeintel", "sg_codeintel"),
        ("codeinsights", "sg_codeinsights"),
    ] {
        y.push_str(&format!(
            "{role}:\n  target: 127.0.0.1\n  port: {}\n  dbname: {db}\n  username: {user}\n  password: \"{password}\"\n",
            server.port()
        ));
    }
    y
}

fn run_dump(tmp: &Path, yaml: &str, pg_dump: &str) -> (Output, std::path::PathBuf) {
    let t = targets_file(tmp, yaml);
    let dir = tmp.join("snap");
    let out = cmd()
        .args(["databases", "pg_dump", "--run", "--no-progress"])
        .arg(format!("--targets={}", t.display()))
        .arg(format!("-dir={}", dir.display()))
        .arg(format!("--pg-dump={pg_dump}"))
        .output()
        .expect("run");
    (out, dir)
}

#[test]
fn dump_failures_are_specific_and_leave_nothing_behind() {
    let src = source(16);
    let pg_dump16 = testkit::pg_dump_path(16).display().to_string();
    let tmp = tempfile::tempdir().expect("tmp");

    // Wrong password: named, and the password itself never printed.
    let (out, dir) = run_dump(
        tmp.path(),
        &yaml_for(src.server, &src.user, "wrong-pw-7f3a"),
        &pg_dump16,
    );
    let err = fails(&out);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains("wrong-pw-7f3a"), "password leaked: {err}");
    only_files(&dir, &[]);

    // Unreachable server.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let y = yaml_for(src.server, &src.user, &src.password).replace(
        &format!("port: {}", src.server.port()),
        &format!("port: {closed}"),
    );
    let (out, dir) = run_dump(tmp.path(), &y, &pg_dump16);
    let err = fails(&out);
    assert!(err.contains("cannot connect") || err.contains("connect"), "{err}");
    only_files(&dir, &[]);

    // pg_dump missing.
    let (out, dir) = run_dump(
        tmp.path(),
        &yaml_for(src.server, &src.user, &src.password),
        "/nonexistent/pg_dump",
    );
    let err = fails(&out);
    assert!(err.contains("not found"), "{err}");
    only_files(&dir, &[]);

    // pg_dump older than the server.
    let (out, dir) = run_dump(
        tmp.path(),
        &yaml_for(src.server, &src.user, &src.password),
        &testkit::pg_dump_path(14).display().to_string(),
    );
    let err = fails(&out);
    assert!(
        err.contains("version mismatch") || err.contains("cannot dump"),
        "{err}"
    );
    only_files(&dir, &[]);
}

#[test]
fn a_pg_dump_that_stops_early_never_yields_a_complete_file() {
    let src = source(12);
    let tmp = tempfile::tempdir().expect("tmp");
    let dump = testkit::testdata_dir().join("dumps/pgdump16/frontend.sql");
    // Exits 0 after half the output (a broken pipe, a killed container…).
    let fake = tmp.path().join("pg_dump_half");
    let size = std::fs::metadata(&dump).expect("size").len();
    std::fs::write(
        &fake,
        format!("#!/bin/sh\nhead -c {} '{}'\nexit 0\n", size / 2, dump.display()),
    )
    .expect("write");
    // Fails after the whole output.
    let failing = tmp.path().join("pg_dump_fail");
    std::fs::write(&failing, format!("#!/bin/sh\ncat '{}'\necho 'pg_dump: error: query failed: server closed the connection' >&2\nexit 1\n", dump.display())).expect("write");
    for f in [&fake, &failing] {
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(f).expect("meta").permissions(),
            0o755,
        );
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    }
    let (out, dir) = run_dump(
        tmp.path(),
        &yaml_for(src.server, &src.user, &src.password),
        &fake.display().to_string(),
    );
    let err = fails(&out);
    assert!(err.contains("truncated"), "{err}");
    assert!(
        !dir.join("pgsql.sql").exists(),
        "a truncated dump was kept under its final name"
    );
    let (out, dir) = run_dump(
        tmp.path(),
        &yaml_for(src.server, &src.user, &src.password),
        &failing.display().to_string(),
    );
    let err = fails(&out);
    assert!(err.contains("server closed the connection"), "{err}");
    assert!(!dir.join("pgsql.sql").exists());
    assert!(std::fs::read_dir(&dir)
        .map(|d| d
            .filter_map(|e| e.ok())
            .all(|e| !e.file_name().to_string_lossy().contains("partial")))
        .unwrap_or(true));
}
