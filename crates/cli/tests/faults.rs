//! Faults nobody asked about (issue 8): the tool killed mid-dump, the disk
//! filling under the snapshot folder, the spool or the upload state, object
//! downloads failing (status storms, connections cut mid-body). Each
//! case ends complete and verified after a rerun, or with one clear error and
//! nothing under a final name.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{cmd, run_ok, source};
use testkit::fault_proxy::FaultProxy;
use testkit::gcs_fake::{Fault, FaultAction, GcsFake, RequestKind};

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

/// `import` or `compare` of `source` (`-dir=…` or `-bucket=…`) into `db`,
/// with the target's password in the environment.
fn load_cmd(sub: &str, source: &str, db: &testkit::CloudSqlDb, port: u16, base: &str) -> Command {
    let mut c = cmd();
    c.arg(sub)
        .arg(source)
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
    let dir_flag = format!("-dir={}", dir.display());
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
        let child = load_cmd("import", &dir_flag, &db, proxy.port(), &base)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // The fault lands once this run has sent some of its schema (not by
        // the clock: a loaded machine may not have connected yet).
        let sent_before = proxy.forwarded();
        let started = std::time::Instant::now();
        let mid_run = |bytes: u64| {
            while proxy.forwarded() < sent_before + bytes && started.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        match runs {
            // Cut every open connection mid-run.
            1 | 3 => {
                mid_run(if runs == 1 { 150_000 } else { 300_000 });
                proxy.cut_all();
            }
            // A stall shorter than any timeout: the run just takes longer.
            2 => {
                mid_run(40_000);
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
    let out = load_cmd("compare", &dir_flag, &db, server.port(), &base)
        .output()
        .expect("compare");
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    eprintln!("network faults: {failures} runs cut, {runs} runs in all");
}

/// Uploads the pg_dump 17 fixtures to a `file://` bucket under `tmp`; returns the bucket URL.
fn fixture_in_folder_bucket(tmp: &Path) -> String {
    let dir = tmp.join("snap");
    common::fixture_snapshot(&dir);
    let bucket = tmp.join("bucket");
    std::fs::create_dir_all(&bucket).expect("mkdir");
    let url = format!("file://{}", bucket.display());
    run_ok(
        cmd()
            .args(["upload", "--no-progress"])
            .arg(format!("-bucket={url}"))
            .arg(format!("-dir={}", dir.display())),
    );
    url
}

/// `import` or `compare` of a bucket into `db`.
fn bucket_cmd(sub: &str, bucket: &str, db: &testkit::CloudSqlDb, port: u16, base: &str) -> Command {
    load_cmd(sub, &format!("-bucket={bucket}"), db, port, base)
}

/// Runs `c` with a deadline: a hang is a failure, not a stuck suite.
fn output_within(c: &mut Command, limit: Duration, what: &str) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "{what}: still running after {limit:?}: {}",
                testkit::describe_output(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn a_full_disk_under_the_import_spool_is_one_clear_error_then_the_rerun_is_equal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bucket = fixture_in_folder_bucket(tmp.path());
    let (db, base) = cloudsql_target("fault_spool");
    let port = testkit::PgServer::shared(16).port();
    let spool = tmp.path().join("spool");
    let mut import = bucket_cmd("import", &bucket, &db, port, &base);
    import.arg(format!("--spool-dir={}", spool.display()));
    // 512 bytes per file (`ulimit -f` counts 512-byte blocks in sh): the
    // small tables spool and load, the frontend's bigger ones cannot be written.
    let out = output_within(
        &mut with_file_limit(&import, 1),
        Duration::from_secs(120),
        "import on a full spool",
    );
    let err = fails_clearly(&out, "import on a full spool");
    assert_eq!(err.matches("error: ").count(), 1, "one error: {err}");
    assert!(
        err.contains(&spool.join("pgsql-").display().to_string()) && err.contains(".copy"),
        "the error names the frontend's spool file: {err}"
    );
    assert!(
        err.contains("File too large") || err.contains("No space") || err.contains("os error 27"),
        "{err}"
    );
    eprintln!("full spool: {}", err.trim_end());
    // Room again: the same command finishes and the target equals the snapshot.
    let out = output_within(
        import.arg("--json"),
        Duration::from_secs(120),
        "import after the spool fault",
    );
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("import JSON");
    for d in report["databases"].as_array().expect("databases") {
        eprintln!(
            "rerun after the full spool: {} resumed={}",
            d["role"], d["resumed"]
        );
    }
    let out = bucket_cmd("compare", &bucket, &db, port, &base)
        .output()
        .expect("compare");
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    let left: Vec<_> = std::fs::read_dir(&spool)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "spool files are removed: {left:?}");
}

/// Every request of `kind` the fake answered `status` (None: dropped without an answer).
fn answered(fake: &GcsFake, kind: RequestKind, status: Option<u16>) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.kind == kind && r.status == status)
        .count()
}

#[test]
fn gcs_download_faults_during_import_are_retried_or_continued_and_end_equal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    common::fixture_snapshot(&dir);
    let fake = GcsFake::start();
    fake.create_bucket("snap");
    let bucket = "gs://snap/faults";
    run_ok(
        cmd()
            .args(["upload", "--no-progress"])
            .arg(format!("-bucket={bucket}"))
            .arg(format!("-dir={}", dir.display()))
            .env("STORAGE_EMULATOR_HOST", fake.host()),
    );
    let port = testkit::PgServer::shared(16).port();
    let compare_equal = |db: &testkit::CloudSqlDb, base: &str, ctx: &str| {
        let out = bucket_cmd("compare", bucket, db, port, base)
            .env("STORAGE_EMULATOR_HOST", fake.host())
            .output()
            .expect("compare");
        assert!(out.status.success(), "{ctx}: {}", testkit::describe_output(&out));
    };

    // A storm of 503s and 429s (with Retry-After), then a download dropped
    // without an answer: each retried, and one run ends equal.
    fake.clear_requests();
    fake.inject(Fault::status(RequestKind::Download, 503).times(3));
    fake.inject(Fault::status(RequestKind::Download, 429).retry_after(1).times(2));
    fake.inject(Fault::new(RequestKind::Download, FaultAction::DropAfterProcessing).times(1));
    let (db, base) = cloudsql_target("fault_gcs_storm");
    let out = output_within(
        bucket_cmd("import", bucket, &db, port, &base).env("STORAGE_EMULATOR_HOST", fake.host()),
        Duration::from_secs(120),
        "import through a storm",
    );
    assert!(out.status.success(), "storm: {}", testkit::describe_output(&out));
    assert_eq!(fake.pending_faults(), 0, "every fault fired");
    assert_eq!(answered(&fake, RequestKind::Download, Some(503)), 3);
    assert_eq!(answered(&fake, RequestKind::Download, Some(429)), 2);
    assert_eq!(answered(&fake, RequestKind::Download, None), 1);
    compare_equal(&db, &base, "after the storm");

    // A connection cut mid-body: downloads through a throttled proxy, cut
    // while the frontend dump is streaming.
    let proxy = FaultProxy::start(fake.host().parse().expect("addr"));
    proxy.set_rate(32 * 1024);
    let (db, base) = cloudsql_target("fault_gcs_cut");
    fake.clear_requests();
    let mut import = bucket_cmd("import", bucket, &db, port, &base);
    import
        .env("STORAGE_EMULATOR_HOST", proxy.addr().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = import.spawn().expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let streaming = || {
        fake.requests().iter().any(|r| {
            r.kind == RequestKind::Download
                && r.status == Some(200)
                && r.object.as_deref().is_some_and(|o| o.ends_with("pgsql.sql"))
        })
    };
    while !streaming() {
        assert!(
            std::time::Instant::now() < deadline,
            "pgsql.sql was never downloaded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The object is 600 KB: at 32 KB/s most of it is still to come.
    std::thread::sleep(Duration::from_millis(500));
    let cut = proxy.cut_all();
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    // The broken read continues from the bytes received (a Range request for
    // the rest, the CRC32C over all of it): the same run finishes.
    assert!(out.status.success(), "cut {cut} connections: {err}");
    assert!(err.contains("continuing the read from byte"), "{err}");
    let ranged = fake
        .requests()
        .iter()
        .filter(|r| r.kind == RequestKind::Download && r.status == Some(206))
        .count();
    assert!(ranged >= 1, "no ranged download after the cut: {err}");
    eprintln!("mid-body cut ({cut} connections): {ranged} read(s) continued");
    compare_equal(&db, &base, "after the cut");
}
