//! Hostile targets files: values never execute and never become options,
//! whether the commands are run by this crate or printed and pasted into a
//! shell.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use pgdump::{display_header, dump_commands, DbRole, DumpError, Mode, Targets, TargetsError};
use testkit::client_bin_dir;
use testkit::shims::install_shims;

/// A targets file whose every value tries to run `touch MARK` or pass an option.
fn hostile_yaml(mark: &Path) -> String {
    let m = mark.display();
    format!(
        r#"# Each value tries to run `touch {m}` or to smuggle in an option.
pgsql:
  target: "pgsql; touch {m} #"
  dbname: "$(touch {m})"
  username: "`touch {m}`"
  password: "'; touch {m}; echo '$(touch {m})"
codeintel:
  target: "x' ; touch {m} ; '"
  dbname: "--help"
  username: '"; touch {m}; "'
  password: "a\"b`c`$d"
codeinsights:
  target: "a && touch {m}"
  dbname: "db | touch {m}"
  username: "u > {m}"
  password: "--version"
"#
    )
}

fn expected_values(mark: &Path) -> [(String, String, String); 3] {
    let m = mark.display();
    [
        (
            format!("pgsql; touch {m} #"),
            format!("$(touch {m})"),
            format!("`touch {m}`"),
        ),
        (
            format!("x' ; touch {m} ; '"),
            "--help".to_string(),
            format!("\"; touch {m}; \""),
        ),
        (
            format!("a && touch {m}"),
            format!("db | touch {m}"),
            format!("u > {m}"),
        ),
    ]
}

#[test]
fn hostile_values_stay_single_arguments_in_every_mode() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let mark = dir.path().join("MARK");
    let file = dir.path().join("targets.yaml");
    std::fs::write(&file, hostile_yaml(&mark)).expect("write yaml");
    let targets = Targets::from_yaml_file(&file).expect("hostile but valid file");
    let shim = install_shims(&dir.path().join("shims"), &client_bin_dir(16));
    shim.set_container_env(&[("PGHOST", server.host()), ("PGPORT", &server.port().to_string())]);
    let want = expected_values(&mark);

    for mode in [Mode::PgDump, Mode::Docker, Mode::Kubectl] {
        shim.clear_log();
        let mut cmds = dump_commands(mode, &targets, Path::new("src-snapshot"), "pg_dump").expect("build");
        for (role, cmd) in &mut cmds {
            cmd.env("PATH", path_of(&[&shim.path_dir, &client_bin_dir(16)]));
            cmd.env("PGCONNECT_TIMEOUT", "5");
            let (target, dbname, username) = &want[*role as usize];
            let args = cmd.args();
            assert!(
                args.contains(&format!("--dbname={dbname}")),
                "{mode} {role}: {args:?}"
            );
            assert!(
                args.contains(&format!("--username={username}")),
                "{mode} {role}: {args:?}"
            );
            match mode {
                Mode::PgDump => assert!(args.contains(&format!("--host={target}"))),
                _ => assert!(args.contains(target)),
            }
            let (out, result) = dump(cmd);
            assert!(out.is_empty());
            let err = result.expect_err("hostile targets cannot succeed");
            // Typed, not a generic failure: pg_dump saw the values as values.
            match (mode, *role) {
                (Mode::PgDump, _) => assert!(
                    matches!(err, DumpError::ConnectionFailed { .. }),
                    "{mode} {role}: {err:?}"
                ),
                _ => assert!(
                    matches!(err, DumpError::AuthenticationFailed { .. }),
                    "{mode} {role}: {err:?}"
                ),
            }
            let text = err.to_string();
            for pw in ["'; touch", "a\"b`c`$d", "--version"] {
                assert!(!text.contains(pw), "password in error: {text}");
            }
        }
        assert!(!mark.exists(), "{mode}: a value was executed");
        if mode != Mode::PgDump {
            let calls = shim.calls();
            assert_eq!(calls.len(), 3, "{mode}");
            for (call, (target, dbname, username)) in calls.iter().zip(&want) {
                assert_eq!(&call.target, target);
                assert!(call.command.contains(&format!("--dbname={dbname}")));
                assert!(call.command.contains(&format!("--username={username}")));
                assert!(!call
                    .args
                    .iter()
                    .any(|a| a.contains("touch") && a.contains("PGPASSWORD")));
            }
        }
    }
}

#[test]
fn printed_hostile_commands_are_inert_in_a_shell() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let mark = dir.path().join("MARK");
    let file = dir.path().join("targets.yaml");
    std::fs::write(&file, hostile_yaml(&mark)).expect("write yaml");
    let targets = Targets::from_yaml_file(&file).expect("parse");
    let shim = install_shims(&dir.path().join("shims"), &client_bin_dir(16));
    shim.set_container_env(&[("PGHOST", server.host()), ("PGPORT", &server.port().to_string())]);
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("src-snapshot")).expect("mkdir");

    for mode in [Mode::PgDump, Mode::Docker, Mode::Kubectl] {
        shim.clear_log();
        let cmds = dump_commands(mode, &targets, Path::new("src-snapshot"), "pg_dump").expect("build");
        let mut script = display_header(&targets).expect("header");
        assert!(
            !script.contains("touch"),
            "a password leaked into the header: {script}"
        );
        for (_, c) in &cmds {
            script.push('\n');
            script.push_str(&c.display());
        }
        script.push('\n');
        for shell in ["sh", "bash"] {
            let mut cmd = Command::new(shell);
            cmd.arg("-c")
                .arg(&script)
                .current_dir(&work)
                .env("PATH", path_of(&[&shim.path_dir, &client_bin_dir(16)]))
                .env("PGCONNECT_TIMEOUT", "5");
            for role in DbRole::all() {
                let pw = targets.get(role).password.as_ref().expect("password").expose();
                cmd.env(role.password_env(), pw);
            }
            let out = cmd.output().expect("run shell");
            assert!(
                !mark.exists(),
                "{mode} via {shell}: a printed value was executed:\n{script}"
            );
            // Each line reached pg_dump (which then failed to log in or connect).
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("pg_dump: error:"), "{mode} via {shell}: {stderr}");
            assert!(
                !stderr.contains("command not found") && !stderr.contains("not found:"),
                "{stderr}"
            );
        }
        if mode != Mode::PgDump {
            let calls = shim.calls();
            assert_eq!(calls.len(), 6, "{mode}: 3 commands × 2 shells");
            let want = expected_values(&mark);
            for (i, call) in calls.iter().enumerate() {
                let (target, dbname, username) = &want[i % 3];
                assert_eq!(&call.target, target);
                assert!(
                    call.command.contains(&format!("--dbname={dbname}")),
                    "{:?}",
                    call.command
                );
                assert!(
                    call.command.contains(&format!("--username={username}")),
                    "{:?}",
                    call.command
                );
            }
        }
    }
}

#[test]
fn values_that_would_change_meaning_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = "pgsql:\n  target: pgsql\n  dbname: sg\n  username: sg\ncodeintel:\n  target: codeintel-db\n  dbname: sg\n  username: sg\ncodeinsights:\n  target: codeinsights-db\n  dbname: postgres\n  username: postgres\n";
    let cases = [
        (
            "target: codeintel-db",
            "target: --privileged",
            6,
            "codeintel.target",
            "starts with '-'",
        ),
        (
            "target: codeintel-db",
            "target: \"-e\"",
            6,
            "codeintel.target",
            "starts with '-'",
        ),
        (
            "username: postgres",
            "username: --no-password",
            12,
            "codeinsights.username",
            "starts with '-'",
        ),
        (
            "dbname: sg\n  username: sg\ncodeintel",
            "dbname: \"sg\\n--help\"\n  username: sg\ncodeintel",
            3,
            "pgsql.dbname",
            "control character",
        ),
        (
            "dbname: postgres",
            "dbname: \"host=evil.example sslmode=disable\"",
            11,
            "codeinsights.dbname",
            "connection string",
        ),
        (
            "dbname: postgres",
            "dbname: postgresql://evil.example/x",
            11,
            "codeinsights.dbname",
            "URI",
        ),
        (
            "username: postgres",
            "username: \"post\\0gres\"",
            12,
            "codeinsights.username",
            "control character",
        ),
    ];
    for (from, to, line, key, why) in cases {
        let text = base.replacen(from, to, 1);
        assert_ne!(text, base);
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, &text).expect("write");
        let err = Targets::from_yaml_file(&file).expect_err(to);
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "invalid targets file {} at line {line}, column ",
                file.display()
            )),
            "{msg}"
        );
        assert!(msg.contains(key) && msg.contains(why), "{msg}");
        assert!(matches!(err, TargetsError::Parse { line: Some(l), .. } if l == line));
    }
}
