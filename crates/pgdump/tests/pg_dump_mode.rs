//! pg_dump mode against real servers: success, and each typed failure.

mod common;

use std::net::TcpListener;
use std::path::Path;

use common::*;
use pgdump::{dump_commands, DbRole, DumpError, Mode, Password};
use testkit::pg_dump_path;

fn pg_dump(major: u32) -> String {
    pg_dump_path(major).to_string_lossy().into_owned()
}

#[test]
fn dumps_three_databases_from_pg12_with_pg_dump_16() {
    let server = server(12);
    let a = seeded_db(server, "pd_a", false);
    let b = seeded_db(server, "pd_b", false);
    let c = seeded_db(server, "pd_c", false);
    let t = targets(tcp_target(&a), tcp_target(&b), tcp_target(&c));
    let cmds = dump_commands(Mode::PgDump, &t, Path::new("src-snapshot"), &pg_dump(16)).expect("build");
    assert_eq!(cmds.iter().map(|(r, _)| *r).collect::<Vec<_>>(), DbRole::all());
    for ((role, cmd), db) in cmds.iter().zip([&a, &b, &c]) {
        assert_eq!(cmd.output(), Path::new("src-snapshot").join(role.file_name()));
        assert_eq!(
            cmd.args(),
            [
                "--clean".to_string(),
                "--format=plain".into(),
                "--if-exists".into(),
                "--no-acl".into(),
                "--no-owner".into(),
                "--quote-all-identifiers".into(),
                format!("--username={}", db.user),
                format!("--dbname={}", db.dbname),
                "--host=127.0.0.1".into(),
                format!("--port={}", db.port),
            ]
        );
        let (out, result) = dump(cmd);
        result.unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_complete_dump(&out, role.yaml_key());
    }
}

#[test]
fn password_reaches_pg_dump_only_by_environment() {
    let server = server(12);
    let db = seeded_db(server, "pd_env", true);
    let t = same_targets(tcp_target(&db));
    let cmds = dump_commands(Mode::PgDump, &t, Path::new("out"), &pg_dump(16)).expect("build");
    let cmd = &cmds[0].1;
    assert!(!cmd.argv().iter().any(|a| a.contains(&db.password)));
    assert!(!cmd.display().contains(&db.password));

    let mut running = cmd.spawn().expect("spawn");
    // ~3 MB of data: pg_dump blocks on the full pipe until we read, so it
    // is alive while we look at it.
    let argv = wait_for_pg_dump(running.pid());
    assert!(!argv.iter().any(|a| a.contains(&db.password)), "{argv:?}");
    let env = proc_fields(running.pid(), "environ");
    assert!(
        env.contains(&format!("PGPASSWORD={}", db.password)),
        "password not in the child's environment"
    );
    assert_eq!(
        processes_with_in_cmdline(&db.password),
        Vec::<(u32, String)>::new()
    );
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut running, &mut out).expect("read");
    running.finish().expect("finish");
    assert!(out.len() > 3_000_000, "{} bytes", out.len());
    assert_complete_dump(&out, "big");
}

#[test]
fn wrong_password_is_authentication_failed() {
    let server = server(12);
    let db = seeded_db(server, "pd_auth", false);
    let mut target = tcp_target(&db);
    target.password = Some(Password::new("wrong-password-123").expect("password"));
    let cmds = dump_commands(
        Mode::PgDump,
        &same_targets(target),
        Path::new("out"),
        &pg_dump(16),
    )
    .expect("build");
    let (out, result) = dump(&cmds[1].1);
    assert!(out.is_empty());
    match result {
        Err(DumpError::AuthenticationFailed {
            role,
            user,
            dbname,
            detail,
        }) => {
            assert_eq!(role, DbRole::Codeintel);
            assert_eq!(user, db.user);
            assert_eq!(dbname, db.dbname);
            assert!(detail.contains("password authentication failed"), "{detail}");
            assert!(!detail.contains("wrong-password-123"));
        }
        other => panic!("expected AuthenticationFailed, got {other:?}"),
    }
}

#[test]
fn old_pg_dump_against_newer_server_is_version_mismatch() {
    let server = server(16);
    let db = seeded_db(server, "pd_ver", false);
    let cmds = dump_commands(
        Mode::PgDump,
        &same_targets(tcp_target(&db)),
        Path::new("out"),
        &pg_dump(14),
    )
    .expect("build");
    let (_, result) = dump(&cmds[0].1);
    match result {
        Err(e @ DumpError::ServerVersionMismatch { .. }) => {
            let DumpError::ServerVersionMismatch {
                server: ref s,
                ref pg_dump,
                ref hint,
                ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!(s, &server.version());
            assert!(pg_dump.starts_with("14."), "{pg_dump}");
            assert!(hint.contains("pg_dump 16 or newer"), "{hint}");
            assert!(e
                .to_string()
                .starts_with(&format!("pgsql: pg_dump {pg_dump} cannot dump a {s} server")));
        }
        other => panic!("expected ServerVersionMismatch, got {other:?}"),
    }
}

#[test]
fn missing_program_is_program_not_found() {
    let t = pgdump::Targets::preset("local").expect("preset");
    let cmds = dump_commands(Mode::PgDump, &t, Path::new("out"), "/nonexistent/bin/pg_dump").expect("build");
    match cmds[0].1.spawn() {
        Err(DumpError::ProgramNotFound { program, hint }) => {
            assert_eq!(program, "/nonexistent/bin/pg_dump");
            assert!(hint.contains("PostgreSQL client tools"), "{hint}");
        }
        other => panic!("expected ProgramNotFound, got {other:?}"),
    }
}

#[test]
fn closed_port_is_connection_failed() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut t = pgdump::Targets::preset("local").expect("preset");
    for role in DbRole::all() {
        let target = t.get_mut(role);
        target.target = "127.0.0.1".into();
        target.port = Some(port);
    }
    let cmds = dump_commands(Mode::PgDump, &t, Path::new("out"), &pg_dump(16)).expect("build");
    match dump(&cmds[2].1).1 {
        Err(DumpError::ConnectionFailed {
            role,
            host,
            port: p,
            detail,
        }) => {
            assert_eq!(
                (role, host.as_str(), p),
                (DbRole::Codeinsights, "127.0.0.1", Some(port))
            );
            assert!(detail.contains("Connection refused"), "{detail}");
        }
        other => panic!("expected ConnectionFailed, got {other:?}"),
    }
    let mut t2 = t.clone();
    t2.pgsql.target = "no-such-host.invalid".into();
    let cmds = dump_commands(Mode::PgDump, &t2, Path::new("out"), &pg_dump(16)).expect("build");
    assert!(
        matches!(dump(&cmds[0].1).1, Err(DumpError::ConnectionFailed { .. })),
        "unresolvable host"
    );
}

#[test]
fn missing_database_is_database_not_found() {
    let server = server(12);
    let db = seeded_db(server, "pd_nodb", false);
    let mut target = tcp_target(&db);
    target.dbname = format!("{}_absent", db.dbname);
    let cmds = dump_commands(
        Mode::PgDump,
        &same_targets(target),
        Path::new("out"),
        &pg_dump(16),
    )
    .expect("build");
    assert!(matches!(
        dump(&cmds[0].1).1,
        Err(DumpError::DatabaseNotFound { dbname, .. }) if dbname.ends_with("_absent")
    ));
}

#[test]
fn run_to_file_is_complete_or_absent() {
    let server = server(12);
    let db = seeded_db(server, "pd_file", false);
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("src-snapshot");
    let cmds = dump_commands(
        Mode::PgDump,
        &same_targets(tcp_target(&db)),
        &out_dir,
        &pg_dump(16),
    )
    .expect("build");
    let n = cmds[0].1.run_to_file().expect("dump");
    let written = std::fs::read(out_dir.join("pgsql.sql")).expect("read dump");
    assert_eq!(n, written.len() as u64);
    assert_complete_dump(&written, "file");

    let mut bad = tcp_target(&db);
    bad.password = Some(Password::new("nope").expect("password"));
    let cmds = dump_commands(Mode::PgDump, &same_targets(bad), &out_dir, &pg_dump(16)).expect("build");
    assert!(matches!(
        cmds[1].1.run_to_file(),
        Err(DumpError::AuthenticationFailed { .. })
    ));
    let mut names: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["pgsql.sql"], "a failed dump left files behind");
}

#[test]
fn killed_dump_reports_the_signal() {
    let server = server(12);
    let db = seeded_db(server, "pd_kill", true);
    let cmds = dump_commands(
        Mode::PgDump,
        &same_targets(tcp_target(&db)),
        Path::new("out"),
        &pg_dump(16),
    )
    .expect("build");
    let mut running = cmds[0].1.spawn().expect("spawn");
    wait_for_pg_dump(running.pid());
    running.kill();
    match running.finish() {
        Err(DumpError::Failed { status, program, .. }) => {
            assert_eq!(status, pgdump::ExitInfo::Signal(9));
            assert!(program.ends_with("pg_dump"));
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn unreadable_table_is_permission_denied() {
    let server = server(12);
    let db = seeded_db(server, "pd_perm", false);
    // A table the (non-superuser) owner of the database cannot read.
    server.psql(
        &db.dbname,
        "CREATE TABLE secret_stuff (id int); REVOKE ALL ON secret_stuff FROM PUBLIC;",
    );
    let cmds = dump_commands(
        Mode::PgDump,
        &same_targets(tcp_target(&db)),
        Path::new("out"),
        &pg_dump(16),
    )
    .expect("build");
    match dump(&cmds[0].1).1 {
        Err(e @ DumpError::PermissionDenied { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("permission denied for table secret_stuff"),
                "{text}"
            );
            assert!(text.contains(&db.user), "{text}");
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}
