//! Faults nobody asked about (issue 8): the tool killed mid-dump, the disk
//! filling under the snapshot folder, the spool or the upload state. Each
//! case ends complete and verified after a rerun, or with one clear error and
//! nothing under a final name.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{cmd, run_ok, source};

fn dump_cmd(tmp: &Path, dir: &Path) -> Command {
    let targets = source(16).targets_yaml(tmp);
    let mut c = cmd();
    c.args(["databases", "pg_dump", "--run", "--no-progress"])
        .arg(format!("-targets={}", targets.display()))
        .arg(format!("-dir={}", dir.display()))
        .arg(format!("--pg-dump={}", testkit::pg_dump_path(16).display()));
    c
}

/// The same command under `ulimit -f KIB` (writes beyond it fail with EFBIG,
/// as on a full disk; SIGXFSZ is ignored so the write error is what is seen).
fn with_file_limit(c: &Command, kib: u64) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$@\""))
        .arg("sh")
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn killed_mid_dump_leaves_no_final_file_and_the_rerun_completes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    let mut seed: u64 = 0x00c0_ffee;
    for i in 0..5 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(20 + (seed >> 33) % 400);
        let mut child = dump_cmd(tmp.path(), &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().expect("wait");
        // Whatever the point, a dump under its final name is a complete one.
        for name in listing(&dir) {
            if name.ends_with(".sql") {
                let out = cmd()
                    .args(["fingerprint", "--json"])
                    .arg(dir.join(&name))
                    .output()
                    .expect("run");
                assert!(
                    out.status.success(),
                    "kill {i} ({status}): {name} is incomplete: {}",
                    testkit::describe_output(&out)
                );
            }
        }
    }
    run_ok(&mut dump_cmd(tmp.path(), &dir));
    let names = listing(&dir);
    for f in ["codeinsights.sql", "codeintel.sql", "manifest.json", "pgsql.sql"] {
        assert!(names.contains(&f.to_string()), "{names:?}");
    }
    assert!(
        names
            .iter()
            .all(|n| !n.contains(".partial") && !n.starts_with('.')),
        "no temporary files are left: {names:?}"
    );
}

fn fails_clearly(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: {}",
        testkit::describe_output(out)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.starts_with("error: "), "{what}: {err}");
    err
}

#[test]
fn a_full_disk_under_the_snapshot_folder_is_one_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    // 64 KiB: the first dump's first blocks fit, the rest does not.
    let out = with_file_limit(&dump_cmd(tmp.path(), &dir), 64)
        .output()
        .expect("run");
    let err = fails_clearly(&out, "dump on a full disk");
    assert!(
        err.contains("File too large") || err.contains("No space") || err.contains("os error 27"),
        "{err}"
    );
    for name in listing(&dir) {
        assert!(
            !name.ends_with(".sql"),
            "no dump under a final name: {:?}",
            listing(&dir)
        );
    }
    // Room again: the same command completes.
    run_ok(&mut dump_cmd(tmp.path(), &dir));
}

#[test]
fn a_full_disk_for_the_upload_state_is_one_clear_error_then_resumes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    common::fixture_snapshot(&dir);
    let bucket = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket).expect("mkdir");
    let mut up = cmd();
    up.args(["upload", "--no-progress"])
        .arg(format!("-bucket=file://{}", bucket.display()))
        .arg(format!("-dir={}", dir.display()));
    // No room for even the manifest or a state file.
    let out = with_file_limit(&up, 0).output().expect("run");
    fails_clearly(&out, "upload with no room for its state");
    run_ok(&mut up);
    let out = cmd()
        .arg("verify")
        .arg(format!("-bucket=file://{}", bucket.display()))
        .arg(format!("-dir={}", dir.display()))
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
}

/// A Cloud-SQL-like user on the shared PG 16 target.
fn cloudsql_target(prefix: &str) -> (testkit::CloudSqlDb, String) {
    let server = testkit::PgServer::shared(16);
    let name = server.unique_name(prefix);
    let db = server.create_cloudsql_database(&name);
    (db, name)
}

fn load_cmd(sub: &str, dir: &Path, db: &testkit::CloudSqlDb, port: u16, base: &str) -> Command {
    let mut c = cmd();
    c.arg(sub)
        .arg(format!("-dir={}", dir.display()))
        .arg(format!(
            "--target-url=postgres://{}@127.0.0.1:{port}/{}",
            db.user, db.dbname
        ))
        .arg(format!(
            "--databases=pgsql={base}_fe,codeintel={base}_ci,codeinsights={base}_cn"
        ))
        .arg("--no-progress")
        .env("PGPASSWORD", &db.password);
    c
}

#[test]
fn connections_cut_stalled_and_throttled_mid_import_end_equal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    common::fixture_snapshot(&dir);
    let (db, base) = cloudsql_target("fault_net");
    let server = testkit::PgServer::shared(16);
    let proxy = testkit::fault_proxy::FaultProxy::start(
        format!("127.0.0.1:{}", server.port()).parse().expect("addr"),
    );
    // A slow link: every connection capped, and every open connection cut
    // a moment into each run, until a run gets through.
    // 128 KB/s per direction: the schema alone takes seconds, so the first
    // cut (at 1.5 s) lands in a running import whatever the machine's speed.
    proxy.set_rate(128 * 1024);
    let mut failures = 0;
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 15, "the import never got through");
        let child = load_cmd("import", &dir, &db, proxy.port(), &base)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        match runs {
            // Cut every open connection mid-run.
            1 | 3 => {
                std::thread::sleep(Duration::from_millis(if runs == 1 { 1500 } else { 3000 }));
                proxy.cut_all();
            }
            // A stall shorter than any timeout: the run just takes longer.
            2 => {
                std::thread::sleep(Duration::from_millis(300));
                proxy.stall();
                std::thread::sleep(Duration::from_secs(2));
                proxy.resume();
            }
            _ => {}
        }
        let out = child.wait_with_output().expect("wait");
        if out.status.success() {
            break;
        }
        failures += 1;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with("error: importing"), "one clear error: {err}");
    }
    assert!(failures >= 1, "at least one cut hit a running import");
    // Compared directly, not through the proxy.
    let out = load_cmd("compare", &dir, &db, server.port(), &base)
        .output()
        .expect("compare");
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    eprintln!("network faults: {failures} runs cut, {runs} runs in all");
}
