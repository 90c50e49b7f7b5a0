//! Proves the harness: real servers per major, Cloud-SQL-like permissions,
//! password auth, cleanup, and the docker/kubectl shims.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::shims::{install_shims, read_shim_log, ShimEnv};
use testkit::{client_bin_dir, PgServer, CLIENT_MAJORS, SERVER_MAJORS};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn port_refuses(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_err()
}

fn check_shared_server(major: u32) {
    let pg = PgServer::shared(major);
    assert_eq!(pg.major(), major);
    assert!(
        pg.version().starts_with(&format!("{major}.")),
        "version {} for major {major}",
        pg.version()
    );
    let num: u32 = pg
        .psql("postgres", "SHOW server_version_num;")
        .trim()
        .parse()
        .expect("server_version_num");
    assert_eq!(num / 10000, major);
    assert_eq!(pg.host(), "127.0.0.1");
    assert_eq!(pg.superuser(), "postgres");
    assert_eq!(
        pg.url("postgres", "postgres"),
        format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port())
    );
    // The same server is handed out again.
    assert!(std::ptr::eq(pg, PgServer::shared(major)));
    assert_eq!(
        pg.psql("postgres", "SHOW password_encryption;").trim(),
        "scram-sha-256"
    );
    assert_eq!(pg.psql("postgres", "SHOW fsync;").trim(), "off");
}

#[test]
fn shared_server_11() {
    check_shared_server(11);
}

#[test]
fn shared_server_12() {
    check_shared_server(12);
}

#[test]
fn shared_server_14() {
    check_shared_server(14);
}

#[test]
fn shared_server_16() {
    check_shared_server(16);
}

#[test]
fn all_installed_server_majors_are_tested() {
    assert_eq!(SERVER_MAJORS, &[11, 12, 14, 16]);
}

fn check_cloudsql(major: u32) {
    let pg = PgServer::shared(major);
    let name = pg.unique_name("csql");
    let db = pg.create_cloudsql_database(&name);
    assert_eq!(db.dbname, name);
    assert_eq!(db.port, pg.port());
    assert!(!db.url().contains(&db.password), "url leaks the password");
    assert_eq!(
        db.url(),
        format!("postgres://{}@127.0.0.1:{}/{}", db.user, pg.port(), name)
    );
    assert!(
        !format!("{db:?}").contains(&db.password),
        "Debug leaks the password"
    );

    assert_eq!(
        db.psql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user;")
            .trim(),
        "f"
    );
    assert_eq!(db.psql("SELECT current_user;").trim(), db.user);
    assert_eq!(
        db.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database();")
            .trim(),
        db.user
    );
    assert_eq!(
        db.psql("SELECT rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user;")
            .trim(),
        "t|t"
    );
    assert_eq!(
        db.psql("SELECT pg_has_role(current_user, 'cloudsqlsuperuser', 'MEMBER');")
            .trim(),
        "t"
    );
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT rolcanlogin, rolcreatedb, rolcreaterole, rolsuper FROM pg_roles \
             WHERE rolname = 'cloudsqlsuperuser';"
        )
        .trim(),
        "f|t|t|f"
    );
    db.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);");
    assert_eq!(db.psql("SELECT count(*) FROM t;").trim(), "2");

    let citext = db.try_psql("CREATE EXTENSION citext;");
    if major >= 13 {
        assert!(citext.status.success(), "citext: {}", stderr(&citext));
        assert_eq!(db.psql("SELECT 'A'::citext = 'a'::citext;").trim(), "t");
    } else {
        assert!(
            !citext.status.success(),
            "citext must need a superuser on PG {major}"
        );
        assert!(
            stderr(&citext).contains("permission denied"),
            "{}",
            stderr(&citext)
        );
    }
    let pss = db.try_psql("CREATE EXTENSION pg_stat_statements;");
    assert!(!pss.status.success(), "pg_stat_statements must need a superuser");
    assert!(stderr(&pss).contains("permission denied"), "{}", stderr(&pss));

    // Wrong and missing passwords are refused (scram, not trust).
    let wrong = db.with_password("not-the-password").try_psql("SELECT 1;");
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("password authentication failed"),
        "{}",
        stderr(&wrong)
    );
    let none = Command::new(testkit::psql_path(16))
        .args(["-X", "-w", "-h", "127.0.0.1", "-p"])
        .arg(pg.port().to_string())
        .args(["-U", &db.user, "-d", &db.dbname, "-c", "SELECT 1"])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .output()
        .expect("psql");
    assert!(!none.status.success(), "login without a password must fail");

    // The stored verifier is SCRAM.
    assert_eq!(
        pg.psql(
            "postgres",
            &format!(
                "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = '{}';",
                db.user
            )
        )
        .trim(),
        "SCRAM-SHA-256"
    );
}

#[test]
fn cloudsql_11() {
    check_cloudsql(11);
}

#[test]
fn cloudsql_12() {
    check_cloudsql(12);
}

#[test]
fn cloudsql_14() {
    check_cloudsql(14);
}

#[test]
fn cloudsql_16() {
    check_cloudsql(16);
}

#[test]
fn cloudsql_psql_file_with_each_client() {
    let pg = PgServer::shared(16);
    let db = pg.create_cloudsql_database(&pg.unique_name("csqlfile"));
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.sql");
    std::fs::write(
        &good,
        "CREATE TABLE IF NOT EXISTS f (x text);\nINSERT INTO f VALUES ('a');\n",
    )
    .expect("write");
    for major in CLIENT_MAJORS {
        let out = db.psql_file(*major, &good);
        assert!(out.status.success(), "client {major}: {}", stderr(&out));
    }
    assert_eq!(
        db.psql("SELECT count(*) FROM f;").trim(),
        CLIENT_MAJORS.len().to_string()
    );
    let bad = dir.path().join("bad.sql");
    std::fs::write(
        &bad,
        "SELECT * FROM missing_table;\nCREATE TABLE after_error (x int);\n",
    )
    .expect("write");
    let out = db.psql_file(16, &bad);
    assert!(
        !out.status.success(),
        "ON_ERROR_STOP must stop at the first error"
    );
    assert!(stderr(&out).contains("missing_table"));
    assert_eq!(
        db.psql("SELECT count(*) FROM pg_class WHERE relname = 'after_error';")
            .trim(),
        "0"
    );
}

#[test]
fn create_database_replaces_existing() {
    let pg = PgServer::shared(14);
    let name = pg.unique_name("db");
    pg.create_database(&name);
    pg.psql(&name, "CREATE TABLE keep_me (x int);");
    assert_eq!(
        pg.psql(&name, "SELECT count(*) FROM pg_class WHERE relname = 'keep_me';")
            .trim(),
        "1"
    );
    pg.create_database(&name);
    assert_eq!(
        pg.psql(&name, "SELECT count(*) FROM pg_class WHERE relname = 'keep_me';")
            .trim(),
        "0"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.sql");
    std::fs::write(
        &file,
        "CREATE TABLE from_file (x int);\nINSERT INTO from_file VALUES (7);\n",
    )
    .expect("write");
    pg.psql_file(&name, &file);
    assert_eq!(pg.psql(&name, "SELECT x FROM from_file;").trim(), "7");
}

#[test]
fn superuser_psql_panics_with_stderr() {
    let pg = PgServer::shared(16);
    let err = std::panic::catch_unwind(|| pg.psql("postgres", "SELECT * FROM no_such_table;"))
        .expect_err("must panic");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("no_such_table"), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn unique_names_are_unique() {
    let pg = PgServer::shared(16);
    let a = pg.unique_name("x");
    let b = pg.unique_name("x");
    assert_ne!(a, b);
    assert!(a.starts_with(&format!("x_{}_", std::process::id())));
}

#[test]
fn started_server_is_gone_after_drop() {
    let (dir, port, pid) = {
        let pg = PgServer::start(16);
        assert_eq!(pg.major(), 16);
        assert_ne!(pg.port(), PgServer::shared(16).port());
        pg.create_database("scratch");
        pg.psql("scratch", "CREATE TABLE t (x int);");
        let pid = pg.postmaster_pid().expect("postmaster.pid");
        assert!(testkit::process_running(pid));
        assert!(!port_refuses(pg.port()));
        (pg.server_dir().to_path_buf(), pg.port(), pid)
    };
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
    assert!(
        !testkit::process_running(pid),
        "postmaster {pid} still running after drop"
    );
    assert!(port_refuses(port), "port {port} still accepts connections");
}

#[test]
fn parallel_starts_get_distinct_servers() {
    let handles: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(|| PgServer::start(12)))
        .collect();
    let servers: Vec<PgServer> = handles.into_iter().map(|h| h.join().expect("start")).collect();
    let mut ports: Vec<u16> = servers.iter().map(PgServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3);
    for s in &servers {
        assert_eq!(s.psql("postgres", "SELECT 42;").trim(), "42");
    }
}

/// Child-process half of `shared_server_is_cleaned_up_after_process_exit`.
#[test]
#[ignore = "helper: run in a child process by shared_server_is_cleaned_up_after_process_exit"]
fn child_holds_shared_server() {
    let pg = PgServer::shared(16);
    println!(
        "SERVER {} {} {}",
        pg.port(),
        pg.postmaster_pid().expect("pid"),
        pg.server_dir().display()
    );
    std::io::stdout().flush().expect("flush");
    if std::env::var("TESTKIT_CHILD_MODE").as_deref() == Ok("hang") {
        std::thread::sleep(Duration::from_secs(600));
    }
}

fn run_child(mode: &str) -> (std::process::Child, u16, u32, PathBuf) {
    let mut child = Command::new(std::env::current_exe().expect("current_exe"))
        .args([
            "--ignored",
            "--exact",
            "child_holds_shared_server",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TESTKIT_CHILD_MODE", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child test");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in lines.by_ref() {
        let line = line.expect("read child");
        // libtest prints "test NAME ... " on the same line first.
        if let Some((_, rest)) = line.split_once("SERVER ") {
            let mut parts = rest.splitn(3, ' ');
            let port = parts.next().and_then(|p| p.parse().ok()).expect("port");
            let pid = parts.next().and_then(|p| p.parse().ok()).expect("pid");
            let dir = PathBuf::from(parts.next().expect("dir"));
            // Keep draining so the child never fails writing its test summary.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, port, pid, dir);
        }
    }
    let status = child.wait().expect("wait child");
    panic!("child test printed no SERVER line ({status})");
}

#[test]
fn shared_server_is_cleaned_up_after_process_exit() {
    for mode in ["exit", "hang"] {
        let (mut child, port, pid, dir) = run_child(mode);
        assert!(dir.exists());
        if mode == "hang" {
            // SIGKILL: no destructors, no atexit; only the watchdog can clean up.
            child.kill().expect("kill child");
        }
        let status = child.wait().expect("wait child");
        if mode == "exit" {
            assert!(status.success(), "child test failed: {status}");
        }
        wait_until(
            &format!("cleanup of {} ({mode})", dir.display()),
            Duration::from_secs(60),
            || !dir.exists() && !testkit::process_running(pid),
        );
        assert!(port_refuses(port));
    }
}

// ---- shims ----

fn shims(pg_major: u32) -> (tempfile::TempDir, ShimEnv) {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = install_shims(&dir.path().join("bin"), &client_bin_dir(pg_major));
    (dir, env)
}

fn run_shim(shim: &ShimEnv, prog: &str, args: &[&str], envs: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .env("PATH", shim.path_var())
        .env_remove("PGPASSWORD")
        .env_remove("SHIM_FAIL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn shim");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(data.as_bytes());
    });
    let out = child.wait_with_output().expect("wait shim");
    writer.join().expect("writer");
    out
}

#[test]
fn docker_shim_runs_the_chosen_pg_dump_and_logs_argv() {
    for major in [14, 16, 18] {
        let (_tmp, shim) = shims(major);
        let out = run_shim(
            &shim,
            "docker",
            &["exec", "-i", "-e", "PGPASSWORD", "pgsql", "pg_dump", "--version"],
            &[],
            "",
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let expected = Command::new(testkit::pg_dump_path(major))
            .arg("--version")
            .output()
            .expect("pg_dump --version");
        assert_eq!(stdout(&out), stdout(&expected));
        assert!(stdout(&out).starts_with(&format!("pg_dump (PostgreSQL) {major}.")));

        let argvs = read_shim_log(&shim.log);
        assert_eq!(
            argvs,
            vec![vec![
                "docker",
                "exec",
                "-i",
                "-e",
                "PGPASSWORD",
                "pgsql",
                "pg_dump",
                "--version"
            ]]
        );
        let calls = shim.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].program, "docker");
        assert_eq!(calls[0].target, "pgsql");
        assert_eq!(calls[0].command, vec!["pg_dump", "--version"]);
    }
}

#[test]
fn docker_shim_env_and_stdin_semantics() {
    let (_tmp, shim) = shims(16);
    let show =
        "printf '%s|%s|%s' \"${PGPASSWORD-unset}\" \"${FOO-unset}\" \"${SECRET_ONLY_ON_CLIENT-unset}\"";
    // Without -e nothing from the client leaks in.
    let out = run_shim(
        &shim,
        "docker",
        &["exec", "c1", "sh", "-c", show],
        &[("PGPASSWORD", "pw1"), ("SECRET_ONLY_ON_CLIENT", "x")],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "unset|unset|unset");
    // -e VAR copies from the client, -e VAR=v and --env=VAR=v set.
    let out = run_shim(
        &shim,
        "docker",
        &[
            "exec",
            "-e",
            "PGPASSWORD",
            "--env=FOO=bar",
            "-u",
            "postgres",
            "c1",
            "sh",
            "-c",
            show,
        ],
        &[("PGPASSWORD", "pw1"), ("SECRET_ONLY_ON_CLIENT", "x")],
        "",
    );
    assert_eq!(stdout(&out), "pw1|bar|unset");
    // Container env file applies; -e overrides it.
    shim.set_container_env(&[("FOO", "from-container"), ("PGPASSWORD", "ctr")]);
    let out = run_shim(&shim, "docker", &["exec", "c1", "sh", "-c", show], &[], "");
    assert_eq!(stdout(&out), "ctr|from-container|unset");
    let out = run_shim(
        &shim,
        "docker",
        &["exec", "-e", "FOO=cli", "c1", "sh", "-c", show],
        &[],
        "",
    );
    assert_eq!(stdout(&out), "ctr|cli|unset");
    shim.set_container_env(&[]);

    // stdin reaches the command only with -i.
    let out = run_shim(&shim, "docker", &["exec", "-i", "c1", "cat"], &[], "streamed\n");
    assert_eq!(stdout(&out), "streamed\n");
    let out = run_shim(&shim, "docker", &["exec", "c1", "cat"], &[], "streamed\n");
    assert_eq!(stdout(&out), "");
    // Exit status passes through.
    let out = run_shim(&shim, "docker", &["exec", "c1", "sh", "-c", "exit 7"], &[], "");
    assert_eq!(out.status.code(), Some(7));

    let calls = shim.calls();
    assert_eq!(calls.len(), 7);
    assert!(calls.iter().all(|c| c.target == "c1"));
    assert_eq!(calls[1].command, vec!["sh", "-c", show]);
}

#[test]
fn shims_fail_on_request_and_reject_unsupported_calls() {
    let (_tmp, shim) = shims(16);
    let out = run_shim(
        &shim,
        "docker",
        &["exec", "-i", "pgsql", "pg_dump", "--version"],
        &[("SHIM_FAIL", "1")],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("simulated failure"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");

    shim.set_fail(Some("Error: No such container: pgsql"));
    let out = run_shim(
        &shim,
        "kubectl",
        &["exec", "-i", "statefulset/pgsql", "--", "pg_dump", "--version"],
        &[],
        "",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("No such container: pgsql"));
    shim.set_fail(None);

    let out = run_shim(&shim, "docker", &["ps"], &[], "");
    assert_eq!(out.status.code(), Some(125));
    let out = run_shim(&shim, "kubectl", &["exec", "pod", "pg_dump"], &[], "");
    assert_eq!(
        out.status.code(),
        Some(125),
        "command without -- must be rejected"
    );
    assert!(stderr(&out).contains("--"));
    let out = run_shim(&shim, "docker", &["exec", "-e"], &[], "");
    assert_eq!(out.status.code(), Some(125));

    let calls = shim.calls();
    assert_eq!(calls.len(), 5, "every call is logged, even failed ones");
    assert_eq!(calls[0].target, "pgsql");
    assert_eq!(calls[1].target, "statefulset/pgsql");
    assert_eq!(calls[2].argv(), vec!["docker", "ps"]);
    assert!(calls[2].command.is_empty());
    shim.clear_log();
    assert!(shim.calls().is_empty());
}

#[test]
fn kubectl_shim_parses_flags_and_runs_command() {
    let (_tmp, shim) = shims(17);
    let out = run_shim(
        &shim,
        "kubectl",
        &[
            "-n",
            "sourcegraph",
            "exec",
            "-i",
            "--container=pgsql",
            "-c",
            "pgsql",
            "statefulset/pgsql",
            "--",
            "bash",
            "-c",
            "pg_dump --version; echo \"pw=${PGPASSWORD-unset}\"",
        ],
        &[("PGPASSWORD", "client-side")],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("pg_dump (PostgreSQL) 17."), "{text}");
    // kubectl never forwards the client's environment.
    assert!(text.contains("pw=unset"), "{text}");
    let calls = shim.calls();
    assert_eq!(calls[0].program, "kubectl");
    assert_eq!(calls[0].target, "statefulset/pgsql");
    assert_eq!(calls[0].command[0], "bash");
    assert_eq!(calls[0].args[0], "-n");
}

#[test]
fn shims_stream_real_dumps_with_password_via_env_or_stdin() {
    let pg = PgServer::shared(16);
    let db = pg.create_cloudsql_database(&pg.unique_name("shimdump"));
    db.psql("CREATE TABLE shim_marker (v text); INSERT INTO shim_marker VALUES ('hello-shim');");
    let (_tmp, shim) = shims(16);
    let port = pg.port().to_string();

    // docker: password forwarded with -e PGPASSWORD (name only in argv).
    let out = run_shim(
        &shim,
        "docker",
        &[
            "exec",
            "-i",
            "-e",
            "PGPASSWORD",
            "pgsql",
            "pg_dump",
            "--host=127.0.0.1",
            "--port",
            &port,
            "--username",
            &db.user,
            "--dbname",
            &db.dbname,
        ],
        &[("PGPASSWORD", &db.password)],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("hello-shim"));
    assert!(stdout(&out).contains("CREATE TABLE public.shim_marker"));

    // docker without -e PGPASSWORD: the container has no password, like the real thing.
    let out = run_shim(
        &shim,
        "docker",
        &[
            "exec",
            "-i",
            "pgsql",
            "pg_dump",
            "-w",
            "--host=127.0.0.1",
            "--port",
            &port,
            "--username",
            &db.user,
            "--dbname",
            &db.dbname,
        ],
        &[("PGPASSWORD", &db.password)],
        "",
    );
    assert!(!out.status.success(), "password must not leak into the container");

    // kubectl: password fed on stdin.
    let script = "IFS= read -r PGPASSWORD; export PGPASSWORD; exec pg_dump \"$@\"";
    let out = run_shim(
        &shim,
        "kubectl",
        &[
            "exec",
            "-i",
            "statefulset/pgsql",
            "--",
            "bash",
            "-c",
            script,
            "pg_dump",
            "--host=127.0.0.1",
            "--port",
            &port,
            "--username",
            &db.user,
            "--dbname",
            &db.dbname,
        ],
        &[],
        &format!("{}\n", db.password),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("hello-shim"));

    // Container env supplies host and port, as inside a real database container.
    shim.set_container_env(&[("PGHOST", "127.0.0.1"), ("PGPORT", &port)]);
    let out = run_shim(
        &shim,
        "docker",
        &[
            "exec",
            "-e",
            "PGPASSWORD",
            "pgsql",
            "pg_dump",
            "-U",
            &db.user,
            "-d",
            &db.dbname,
        ],
        &[("PGPASSWORD", &db.password)],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("hello-shim"));

    // The password never reached any argv.
    for argv in shim.argvs() {
        assert!(argv.iter().all(|a| !a.contains(&db.password)), "{argv:?}");
    }
}
