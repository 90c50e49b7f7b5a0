//! docker and kubectl modes through testkit's shims, which record argv and
//! run the exec'd command against a real server the way the real tools
//! would (a clean "container" environment; docker's `-e VAR` copies VAR).

mod common;

use std::path::Path;

use common::*;
use pgdump::{dump_commands, DbRole, DumpError, Mode, Password, KUBECTL_PASSWORD_SCRIPT};
use testkit::shims::{install_shims, ShimEnv};
use testkit::{client_bin_dir, CloudSqlDb, PgServer};

/// Shims whose "containers" reach `server` on TCP.
fn shims(server: &PgServer, dir: &Path) -> ShimEnv {
    let env = install_shims(&dir.join("shims"), &client_bin_dir(16));
    env.set_container_env(&[("PGHOST", server.host()), ("PGPORT", &server.port().to_string())]);
    env
}

fn three_dbs(server: &PgServer, prefix: &str) -> [CloudSqlDb; 3] {
    [
        seeded_db(server, &format!("{prefix}_a"), false),
        seeded_db(server, &format!("{prefix}_b"), false),
        seeded_db(server, &format!("{prefix}_c"), false),
    ]
}

fn pg_dump_args(db: &CloudSqlDb) -> Vec<String> {
    vec![
        "pg_dump".into(),
        "--clean".into(),
        "--format=plain".into(),
        "--if-exists".into(),
        "--no-acl".into(),
        "--no-owner".into(),
        "--quote-all-identifiers".into(),
        format!("--username={}", db.user),
        format!("--dbname={}", db.dbname),
    ]
}

#[test]
fn docker_mode_dumps_through_docker_exec() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = shims(server, dir.path());
    let [a, b, c] = three_dbs(server, "dk");
    let t = targets(
        container_target("pgsql", &a),
        container_target("codeintel-db", &b),
        container_target("codeinsights-db", &c),
    );
    let mut cmds = dump_commands(Mode::Docker, &t, Path::new("src-snapshot"), "pg_dump").expect("build");
    for (role, cmd) in &mut cmds {
        cmd.env("PATH", shim.path_var());
        let (out, result) = dump(cmd);
        result.unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_complete_dump(&out, role.yaml_key());
    }
    let calls = shim.calls();
    assert_eq!(calls.len(), 3);
    for (call, (container, db)) in
        calls
            .iter()
            .zip([("pgsql", &a), ("codeintel-db", &b), ("codeinsights-db", &c)])
    {
        assert_eq!(call.program, "docker");
        assert_eq!(call.target, container);
        let mut want: Vec<String> = ["exec", "-i", "-e", "PGPASSWORD", container]
            .iter()
            .map(|s| s.to_string())
            .collect();
        want.extend(pg_dump_args(db));
        assert_eq!(call.args, want);
        assert_eq!(call.command, pg_dump_args(db));
        assert!(!call.args.iter().any(|a| a.contains(&db.password)));
    }
}

#[test]
fn kubectl_mode_sends_the_password_on_stdin() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = shims(server, dir.path());
    let [a, b, c] = three_dbs(server, "kc");
    let t = targets(
        container_target("statefulset/pgsql", &a),
        container_target("statefulset/codeintel-db", &b),
        container_target("statefulset/codeinsights-db", &c),
    );
    let mut cmds = dump_commands(Mode::Kubectl, &t, Path::new("src-snapshot"), "pg_dump").expect("build");
    for (role, cmd) in &mut cmds {
        cmd.env("PATH", shim.path_var());
        // A PGPASSWORD in our own environment must not be what logs in.
        cmd.env("PGPASSWORD", "not-this-one");
        let (out, result) = dump(cmd);
        result.unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_complete_dump(&out, role.yaml_key());
    }
    let calls = shim.calls();
    assert_eq!(calls.len(), 3);
    for (call, db) in calls.iter().zip([&a, &b, &c]) {
        assert_eq!(call.program, "kubectl");
        let mut want_cmd: Vec<String> = ["sh", "-c", KUBECTL_PASSWORD_SCRIPT, "sh"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        want_cmd.extend(pg_dump_args(db));
        assert_eq!(call.command, want_cmd);
        assert_eq!(&call.args[..4], ["exec", "-i", call.target.as_str(), "--"]);
        assert!(!call.args.iter().any(|a| a.contains(&db.password)));
    }
}

#[test]
fn kubectl_password_stays_out_of_every_argv() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = shims(server, dir.path());
    let db = seeded_db(server, "kc_big", true);
    let mut cmds = dump_commands(
        Mode::Kubectl,
        &same_targets(container_target("pod/pgsql-0", &db)),
        Path::new("o"),
        "pg_dump",
    )
    .expect("build");
    let cmd = &mut cmds[0].1;
    cmd.env("PATH", shim.path_var());
    let mut running = cmd.spawn().expect("spawn");
    // The shim execs into `sh -c SCRIPT`, which execs into pg_dump: same pid.
    let argv = wait_for_pg_dump(running.pid());
    assert_eq!(argv, pg_dump_args(&db));
    let env = proc_fields(running.pid(), "environ");
    assert!(
        env.contains(&format!("PGPASSWORD={}", db.password)),
        "the script did not export the password"
    );
    assert_eq!(
        processes_with_in_cmdline(&db.password),
        Vec::<(u32, String)>::new()
    );
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut running, &mut out).expect("read");
    running.finish().expect("finish");
    assert_complete_dump(&out, "big");
}

#[test]
fn docker_password_stays_out_of_every_argv() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = shims(server, dir.path());
    let db = seeded_db(server, "dk_big", true);
    let mut cmds = dump_commands(
        Mode::Docker,
        &same_targets(container_target("pgsql", &db)),
        Path::new("o"),
        "pg_dump",
    )
    .expect("build");
    let cmd = &mut cmds[0].1;
    cmd.env("PATH", shim.path_var());
    let mut running = cmd.spawn().expect("spawn");
    let argv = wait_for_pg_dump(running.pid());
    assert_eq!(argv, pg_dump_args(&db));
    assert_eq!(
        processes_with_in_cmdline(&db.password),
        Vec::<(u32, String)>::new()
    );
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut running, &mut out).expect("read");
    running.finish().expect("finish");
    assert_complete_dump(&out, "big");
}

#[test]
fn no_password_means_none_is_sent() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = shims(server, dir.path());
    let db = seeded_db(server, "nopw", false);
    let mut target = container_target("pgsql", &db);
    target.password = None;
    for mode in [Mode::Docker, Mode::Kubectl] {
        shim.clear_log();
        let mut cmds =
            dump_commands(mode, &same_targets(target.clone()), Path::new("o"), "pg_dump").expect("build");
        let cmd = &mut cmds[0].1;
        cmd.env("PATH", shim.path_var());
        // Even with PGPASSWORD in our environment, nothing forwards it.
        cmd.env("PGPASSWORD", db.password.clone());
        let (_, result) = dump(cmd);
        match result {
            Err(DumpError::AuthenticationFailed { detail, .. }) => {
                assert!(detail.contains("no password supplied"), "{mode}: {detail}")
            }
            other => panic!("{mode}: expected AuthenticationFailed, got {other:?}"),
        }
        let calls = shim.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].command,
            pg_dump_args(&db),
            "{mode}: no wrapper without a password"
        );
        assert!(!calls[0].args.iter().any(|a| a == "-e"));
    }
}

#[test]
fn container_failures_are_typed() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = shims(server, dir.path());
    let db = seeded_db(server, "cfail", false);

    // pg_dump missing inside the container.
    let mut cmds = dump_commands(
        Mode::Docker,
        &same_targets(container_target("pgsql", &db)),
        Path::new("o"),
        "pg_dump_absent",
    )
    .expect("build");
    cmds[0].1.env("PATH", shim.path_var());
    match dump(&cmds[0].1).1 {
        Err(DumpError::ProgramNotFound { program, hint }) => {
            assert_eq!(program, "pg_dump_absent");
            assert!(hint.contains("in pgsql"), "{hint}");
        }
        other => panic!("expected ProgramNotFound, got {other:?}"),
    }

    // docker cannot reach the container.
    shim.set_fail(Some("Error response from daemon: No such container: pgsql"));
    let mut cmds = dump_commands(
        Mode::Docker,
        &same_targets(container_target("pgsql", &db)),
        Path::new("o"),
        "pg_dump",
    )
    .expect("build");
    cmds[0].1.env("PATH", shim.path_var());
    match dump(&cmds[0].1).1 {
        Err(DumpError::TargetUnavailable {
            program,
            target,
            detail,
            ..
        }) => {
            assert_eq!((program.as_str(), target.as_str()), ("docker", "pgsql"));
            assert!(detail.contains("No such container"), "{detail}");
        }
        other => panic!("expected TargetUnavailable, got {other:?}"),
    }
    shim.set_fail(None);

    // docker itself missing.
    let mut cmds = dump_commands(
        Mode::Docker,
        &same_targets(container_target("pgsql", &db)),
        Path::new("o"),
        "pg_dump",
    )
    .expect("build");
    cmds[0].1.env("PATH", dir.path().join("empty"));
    assert!(matches!(
        cmds[0].1.spawn(),
        Err(DumpError::ProgramNotFound { program, .. }) if program == "docker"
    ));

    // Wrong password through kubectl.
    let mut bad = container_target("statefulset/pgsql", &db);
    bad.password = Some(Password::new("wrong").expect("password"));
    let mut cmds =
        dump_commands(Mode::Kubectl, &same_targets(bad), Path::new("o"), "pg_dump").expect("build");
    cmds[2].1.env("PATH", shim.path_var());
    assert!(matches!(
        dump(&cmds[2].1).1,
        Err(DumpError::AuthenticationFailed {
            role: DbRole::Codeinsights,
            ..
        })
    ));
}
