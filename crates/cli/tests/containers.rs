//! `databases docker|kubectl --run` stream pg_dump out of the container (here
//! the testkit shims, which run the command locally in a scrubbed
//! environment) and produce the same snapshot as pg_dump mode.

mod common;

use common::{cmd, run_ok, source};
use snapshot::Manifest;

fn run_mode(mode: &str) {
    let src = source(14);
    let tmp = tempfile::tempdir().expect("tmp");
    let shims = testkit::shims::install_shims(&tmp.path().join("bin"), &testkit::client_bin_dir(16));
    shims.set_container_env(&[("PGHOST", "127.0.0.1")]);
    let mut y = String::new();
    for (role, db, container) in [
        ("pgsql", "sg_frontend", "pgsql"),
        ("codeintel", "sg_codeintel", "codeintel-db"),
        ("codeinsights", "sg_codeinsights", "codeinsights-db"),
    ] {
        let target = if mode == "kubectl" {
            format!("statefulset/{container}")
        } else {
            container.to_string()
        };
        y.push_str(&format!(
            "{role}:\n  target: {target}\n  port: {}\n  dbname: {db}\n  username: {}\n  password: \"{}\"\n",
            src.server.port(),
            src.user,
            src.password
        ));
    }
    let targets = tmp.path().join("t.yaml");
    std::fs::write(&targets, y).expect("write");
    let dir = tmp.path().join("snap");
    run_ok(
        cmd()
            .args(["databases", mode, "--run", "--no-progress"])
            .arg(format!("--targets={}", targets.display()))
            .arg(format!("--dir={}", dir.display()))
            .env("PATH", shims.path_var()),
    );
    let m = Manifest::load(&dir).expect("manifest");
    assert_eq!(m.files.len(), 3);
    let calls = shims.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    for c in &calls {
        assert_eq!(c.program, mode);
        assert!(
            c.command.first().is_some_and(|p| p == "pg_dump" || p == "sh"),
            "{c:?}"
        );
        assert!(
            !c.argv().iter().any(|a| a.contains(&src.password)),
            "password in argv: {c:?}"
        );
    }
    // Same content as a pg_dump-mode snapshot of the same databases.
    let dir2 = tmp.path().join("snap2");
    let y2 = std::fs::read_to_string(&targets)
        .expect("read")
        .replace("target: statefulset/", "target: ")
        .replace("target: pgsql", "target: 127.0.0.1");
    let y2 = y2
        .replace("target: codeintel-db", "target: 127.0.0.1")
        .replace("target: codeinsights-db", "target: 127.0.0.1");
    std::fs::write(&targets, y2).expect("write");
    run_ok(
        cmd()
            .args(["databases", "pg_dump", "--run", "--no-progress"])
            .arg(format!("--targets={}", targets.display()))
            .arg(format!("--dir={}", dir2.display()))
            .arg(format!("--pg-dump={}", testkit::pg_dump_path(16).display())),
    );
    let m2 = Manifest::load(&dir2).expect("manifest");
    for (a, b) in m.files.iter().zip(&m2.files) {
        let key = |f: &snapshot::FileEntry| {
            f.tables
                .iter()
                .map(|t| (t.table.clone(), t.rows, t.hash.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(a), key(b), "{mode}: {} differs from pg_dump mode", a.role);
    }
}

#[test]
fn docker_mode() {
    run_mode("docker");
}

#[test]
fn kubectl_mode() {
    run_mode("kubectl");
}

#[test]
fn printed_commands_match_src_cli_presets() {
    let out = run_ok(cmd().args(["databases", "docker", "-dir=snap"]));
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("docker exec -i -e PGPASSWORD pgsql pg_dump --clean --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers --username=sg --dbname=sg > snap/pgsql.sql"), "{text}");
    assert!(
        text.contains("codeinsights-db") && text.contains("--username=postgres"),
        "{text}"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for (i, _) in line.match_indices("PGPASSWORD=") {
            assert!(
                line[i..].starts_with("PGPASSWORD=\"$"),
                "a password was printed: {line}"
            );
        }
    }
    assert!(text.lines().any(|l| l == "mkdir -p snap"), "{text}");
    let out = run_ok(cmd().args(["databases", "kubectl", "--targets", "k8s"]));
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("kubectl exec -i statefulset/pgsql --"), "{text}");
}
