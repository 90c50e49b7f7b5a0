//! psql restores (src-cli's `snapshot restore`) against real servers, in all
//! three modes, plus the typed failures.

mod common;

use std::path::Path;

use common::*;
use pgdump::{dump_commands, restore_commands, DbRole, DumpError, Mode, Password, Targets};
use testkit::shims::install_shims;
use testkit::{client_bin_dir, pg_dump_path, psql_path, CloudSqlDb, PgServer};

/// Dump three seeded databases of `server` into `dir` with pg_dump 16.
fn make_dumps(server: &PgServer, dir: &Path, prefix: &str) -> [CloudSqlDb; 3] {
    let dbs = [
        seeded_db(server, &format!("{prefix}_sa"), false),
        seeded_db(server, &format!("{prefix}_sb"), false),
        seeded_db(server, &format!("{prefix}_sc"), false),
    ];
    // Tell the three apart after the restore.
    for (db, role) in dbs.iter().zip(DbRole::all()) {
        db.psql(&format!("INSERT INTO repo VALUES (3, '{role}');"));
    }
    let t = targets(tcp_target(&dbs[0]), tcp_target(&dbs[1]), tcp_target(&dbs[2]));
    let cmds =
        dump_commands(Mode::PgDump, &t, dir, &pg_dump_path(16).to_string_lossy()).expect("build dumps");
    for (role, c) in &cmds {
        c.run_to_file().unwrap_or_else(|e| panic!("dump {role}: {e}"));
    }
    dbs
}

fn fresh(server: &PgServer, prefix: &str) -> [CloudSqlDb; 3] {
    [
        server.create_cloudsql_database(&server.unique_name(&format!("{prefix}_ta"))),
        server.create_cloudsql_database(&server.unique_name(&format!("{prefix}_tb"))),
        server.create_cloudsql_database(&server.unique_name(&format!("{prefix}_tc"))),
    ]
}

fn assert_restored(dbs: &[CloudSqlDb; 3]) {
    for (db, role) in dbs.iter().zip(DbRole::all()) {
        assert_eq!(
            db.psql("SELECT string_agg(name, ',' ORDER BY id) FROM repo;")
                .trim(),
            format!("github.com/sourcegraph/sourcegraph,it's \"quoted\",{role}"),
            "{role}"
        );
    }
}

#[test]
fn restores_in_pg_dump_mode() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let snap = dir.path().join("src-snapshot");
    make_dumps(server, &snap, "rp");
    let dst = fresh(server, "rp");
    let t = targets(tcp_target(&dst[0]), tcp_target(&dst[1]), tcp_target(&dst[2]));
    let cmds = restore_commands(Mode::PgDump, &t, &snap, &psql_path(16).to_string_lossy()).expect("build");
    for (role, c) in &cmds {
        assert_eq!(c.input(), snap.join(role.file_name()));
        assert!(c.args().last().is_some_and(|a| a.starts_with("--file=")));
        c.run().unwrap_or_else(|e| panic!("restore {role}: {e}"));
    }
    assert_restored(&dst);
    // --clean --if-exists dumps restore again over themselves.
    cmds[0].1.run().expect("second restore");
    assert_restored(&dst);
}

#[test]
fn restores_through_docker_and_kubectl() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let snap = dir.path().join("src-snapshot");
    make_dumps(server, &snap, "rc");
    let shim = install_shims(&dir.path().join("shims"), &client_bin_dir(16));
    shim.set_container_env(&[("PGHOST", server.host()), ("PGPORT", &server.port().to_string())]);
    for mode in [Mode::Docker, Mode::Kubectl] {
        shim.clear_log();
        let dst = fresh(server, if mode == Mode::Docker { "rd" } else { "rk" });
        let t = targets(
            container_target("pgsql", &dst[0]),
            container_target("codeintel-db", &dst[1]),
            container_target("codeinsights-db", &dst[2]),
        );
        let mut cmds = restore_commands(mode, &t, &snap, "psql").expect("build");
        for (role, c) in &mut cmds {
            c.env("PATH", shim.path_var());
            c.run().unwrap_or_else(|e| panic!("{mode} restore {role}: {e}"));
        }
        assert_restored(&dst);
        for (call, db) in shim.calls().iter().zip(&dst) {
            assert!(call.command.contains(&format!("--dbname={}", db.dbname)));
            assert!(call.command.contains(&"--set=ON_ERROR_STOP=1".to_string()));
            assert!(
                !call.args.iter().any(|a| a.contains(&db.password)),
                "{mode}: password in argv"
            );
        }
    }
}

#[test]
fn failed_statement_names_the_line_and_rolls_back() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let dst = fresh(server, "rf");
    for (role, mode) in [(DbRole::Pgsql, Mode::PgDump), (DbRole::Codeintel, Mode::Kubectl)] {
        std::fs::write(
            dir.path().join(role.file_name()),
            "CREATE TABLE kept (id int);\n\
             INSERT INTO kept VALUES (1);\n\
             CREATE EXTENSION pg_stat_statements;\n\
             CREATE TABLE after (id int);\n",
        )
        .expect("write");
        let shim = install_shims(&dir.path().join("shims"), &client_bin_dir(16));
        shim.set_container_env(&[("PGHOST", server.host()), ("PGPORT", &server.port().to_string())]);
        let t = targets(
            tcp_target(&dst[0]),
            container_target("codeintel-db", &dst[1]),
            tcp_target(&dst[2]),
        );
        let mut cmds =
            restore_commands(mode, &t, dir.path(), &psql_path(16).to_string_lossy()).expect("build");
        let cmd = &mut cmds[role as usize].1;
        cmd.env("PATH", shim.path_var());
        match cmd.run() {
            Err(DumpError::StatementFailed {
                role: r,
                line,
                message,
            }) => {
                assert_eq!(r, role);
                assert_eq!(line, Some(3), "{message}");
                assert!(
                    message.contains("pg_stat_statements") || message.contains("permission denied"),
                    "{message}"
                );
            }
            other => panic!("{mode}: expected StatementFailed, got {other:?}"),
        }
        // --single-transaction: the statements before the error are gone too.
        let db = &dst[role as usize];
        assert_eq!(
            db.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'kept';")
                .trim(),
            "0"
        );
    }
}

#[test]
fn restore_failures_are_typed() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let dst = fresh(server, "rt");
    std::fs::write(dir.path().join("pgsql.sql"), "SELECT 1;\n").expect("write");

    let mut bad = tcp_target(&dst[0]);
    bad.password = Some(Password::new("wrong").expect("password"));
    let cmds = restore_commands(
        Mode::PgDump,
        &same_targets(bad),
        dir.path(),
        &psql_path(16).to_string_lossy(),
    )
    .expect("build");
    assert!(matches!(
        cmds[0].1.run(),
        Err(DumpError::AuthenticationFailed { .. })
    ));
    // codeintel.sql does not exist.
    assert!(matches!(cmds[1].1.run(), Err(DumpError::Io { .. })));

    let cmds = restore_commands(
        Mode::PgDump,
        &same_targets(tcp_target(&dst[0])),
        dir.path(),
        "/nonexistent/psql",
    )
    .expect("build");
    assert!(
        matches!(cmds[0].1.run(), Err(DumpError::ProgramNotFound { program, .. }) if program == "/nonexistent/psql")
    );
}

#[test]
fn printed_restore_commands_run_in_a_shell() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("work");
    make_dumps(server, &work.join("src-snapshot"), "rs");
    let shim = install_shims(&dir.path().join("shims"), &client_bin_dir(16));
    shim.set_container_env(&[("PGHOST", server.host()), ("PGPORT", &server.port().to_string())]);
    for mode in [Mode::PgDump, Mode::Docker, Mode::Kubectl] {
        let dst = fresh(server, "rsh");
        let t: Targets = match mode {
            Mode::PgDump => targets(tcp_target(&dst[0]), tcp_target(&dst[1]), tcp_target(&dst[2])),
            _ => targets(
                container_target("pgsql", &dst[0]),
                container_target("codeintel-db", &dst[1]),
                container_target("codeinsights-db", &dst[2]),
            ),
        };
        let cmds = restore_commands(mode, &t, Path::new("src-snapshot"), "psql").expect("build");
        let script: Vec<String> = cmds.iter().map(|(_, c)| c.display()).collect();
        let script = format!("set -e\n{}\n", script.join("\n"));
        let mut sh = std::process::Command::new("sh");
        sh.arg("-c")
            .arg(&script)
            .current_dir(&work)
            .env("PATH", path_of(&[&shim.path_dir, &client_bin_dir(16)]));
        for (role, db) in DbRole::all().into_iter().zip(&dst) {
            sh.env(role.password_env(), &db.password);
        }
        let out = sh.output().expect("sh");
        assert!(
            out.status.success(),
            "{mode}: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_restored(&dst);
    }
}
