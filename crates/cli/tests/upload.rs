//! `upload` and `verify` against the local-folder backend and a strict GCS
//! fake (testkit::gcs_fake): round trips, resume after `kill -9` at seeded
//! points, faults, and bad input. Every case ends verified, or with a clear
//! error and no wrong object accepted.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{cmd, fixture_snapshot, generated_snapshot, run_ok};
use testkit::gcs_fake::{Fault, FaultAction, GcsFake, RequestKind};

/// The bytes an object must hold: the local dump sanitized for PG 16 (before any gzip).
fn expected_object(dir: &Path, file: &str) -> Vec<u8> {
    run_ok(
        cmd()
            .args(["sanitize", "--target-version=16"])
            .arg(dir.join(file))
            .arg("-"),
    )
    .stdout
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn upload_cmd(dir: &Path, bucket: &str) -> std::process::Command {
    let mut c = cmd();
    c.args(["upload", "--no-progress"])
        .arg(format!("-bucket={bucket}"))
        .arg(format!("-dir={}", dir.display()));
    c
}

fn verify_out(dir: &Path, bucket: &str, fake: Option<&GcsFake>) -> Output {
    let mut c = cmd();
    c.args(["verify"])
        .arg(format!("-bucket={bucket}"))
        .arg(format!("-dir={}", dir.display()));
    if let Some(f) = fake {
        c.env("STORAGE_EMULATOR_HOST", f.host());
    }
    c.output().expect("run verify")
}

#[test]
fn file_backend_round_trip_resume_skip_and_corruption() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    let bucket_dir = tmp.path().join("bucket");
    std::fs::create_dir(&bucket_dir).expect("mkdir");
    fixture_snapshot(&dir);
    let url = format!("file://{}", bucket_dir.display());
    run_ok(upload_cmd(&dir, &url).arg("--gzip"));
    for file in ["pgsql.sql", "codeintel.sql", "codeinsights.sql"] {
        let got = std::fs::read(bucket_dir.join(format!("{file}.gz"))).expect("object");
        assert_eq!(
            gunzip(&got),
            expected_object(&dir, file),
            "{file}: object is not the sanitized dump"
        );
    }
    assert!(bucket_dir.join("manifest.json").exists());
    let out = verify_out(&dir, &url, None);
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("169/169"));
    // A second run sends nothing.
    let out = run_ok(upload_cmd(&dir, &url).arg("--gzip"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("already uploaded")
            .count(),
        3
    );
    // A flipped byte is found.
    let obj = bucket_dir.join("codeintel.sql.gz");
    let mut b = std::fs::read(&obj).expect("read");
    b[1000] ^= 0x10;
    std::fs::write(&obj, b).expect("write");
    let out = verify_out(&dir, &url, None);
    assert_eq!(out.status.code(), Some(1), "{}", testkit::describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("crc32c"),
        "{}",
        testkit::describe_output(&out)
    );
}

fn fake_with_bucket() -> GcsFake {
    let fake = GcsFake::start();
    fake.create_bucket("snap");
    fake
}

#[test]
fn gcs_round_trip_plain_and_unfiltered_objects_equal_local_files() {
    let fake = fake_with_bucket();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    fixture_snapshot(&dir);
    run_ok(
        upload_cmd(&dir, "gs://snap/customer-1")
            .arg("-filter-sql=false")
            .env("STORAGE_EMULATOR_HOST", fake.host()),
    );
    for file in ["pgsql.sql", "codeintel.sql", "codeinsights.sql"] {
        let got = fake
            .object("snap", &format!("customer-1/{file}"))
            .expect("object");
        assert_eq!(got, std::fs::read(dir.join(file)).expect("local"), "{file}");
    }
    // The manifest went last.
    let reqs = fake.requests();
    let last_write = reqs.iter().rev().find(|r| r.method != "GET").expect("requests");
    assert!(
        last_write.path.contains("manifest.json"),
        "last write was {}",
        last_write.path
    );
    let out = verify_out(&dir, "gs://snap/customer-1", Some(&fake));
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    // Without its record, an object equal to the local file is recognised, not resent.
    let strip_records = || {
        let m = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
        let mut v: serde_json::Value = serde_json::from_str(&m).expect("json");
        for f in v["files"].as_array_mut().expect("files") {
            f.as_object_mut().expect("obj").remove("upload");
        }
        std::fs::write(dir.join("manifest.json"), v.to_string()).expect("write");
    };
    strip_records();
    let puts_before = fake.requests().iter().filter(|r| r.method == "PUT").count();
    let out = run_ok(
        upload_cmd(&dir, "gs://snap/customer-1")
            .arg("-filter-sql=false")
            .env("STORAGE_EMULATOR_HOST", fake.host()),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("already uploaded")
            .count(),
        3
    );
    assert_eq!(
        fake.requests().iter().filter(|r| r.method == "PUT").count(),
        puts_before
    );
    // A dump that changed after the snapshot was taken is refused.
    std::fs::copy(
        testkit::testdata_dir().join("dumps/pgdump18/codeintel.sql"),
        dir.join("codeintel.sql"),
    )
    .expect("copy");
    let out = upload_cmd(&dir, "gs://snap/customer-1")
        .arg("-filter-sql=false")
        .env("STORAGE_EMULATOR_HOST", fake.host())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("changed since the snapshot"),
        "{}",
        testkit::describe_output(&out)
    );
    // A new snapshot of it is never written over the existing object without --overwrite.
    std::fs::remove_file(dir.join("manifest.json")).expect("rm manifest");
    let out = upload_cmd(&dir, "gs://snap/customer-1")
        .arg("-filter-sql=false")
        .env("STORAGE_EMULATOR_HOST", fake.host())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--overwrite"),
        "{}",
        testkit::describe_output(&out)
    );
    run_ok(
        upload_cmd(&dir, "gs://snap/customer-1")
            .args(["-filter-sql=false", "--overwrite"])
            .env("STORAGE_EMULATOR_HOST", fake.host()),
    );
    assert_eq!(
        fake.object("snap", "customer-1/codeintel.sql").expect("object"),
        std::fs::read(dir.join("codeintel.sql")).expect("local")
    );
}

#[test]
fn real_emulator_round_trip_with_gzip() {
    let emu = testkit::fake_gcs_server::FakeGcsServer::start();
    emu.create_bucket("snapshots");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    fixture_snapshot(&dir);
    std::fs::write(
        dir.join("summary.json"),
        "{\"ExternalServices\":{\"TotalCount\":0,\"Nodes\":[]}}",
    )
    .expect("summary");
    let out = run_ok(
        upload_cmd(&dir, "gs://snapshots/acme")
            .args(["--gzip", "--json"])
            .env("STORAGE_EMULATOR_HOST", emu.host()),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["objects"].as_array().map(Vec::len), Some(4), "{v}");
    let out = verify_out(&dir, "gs://snapshots/acme", None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "without the emulator variable the real GCS is not reachable here"
    );
    let mut c = cmd();
    c.args(["verify", "--json", "-bucket=gs://snapshots/acme"])
        .env("STORAGE_EMULATOR_HOST", emu.host());
    let out = c.output().expect("verify");
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["mode"], "read-back");
    assert_eq!(v["objects"].as_array().map(Vec::len), Some(4), "{v}");
}

#[test]
fn service_account_credentials_end_to_end() {
    let fake = fake_with_bucket();
    fake.require_auth(true);
    let tmp = tempfile::tempdir().expect("tmp");
    let key = tmp.path().join("writer.json");
    std::fs::write(
        &key,
        fake.test_service_account("writer@proj.iam.gserviceaccount.com"),
    )
    .expect("key");
    let dir = tmp.path().join("snap");
    fixture_snapshot(&dir);
    let out = run_ok(
        upload_cmd(&dir, "gs://snap")
            .arg(format!("-credentials={}", key.display()))
            .env("STORAGE_EMULATOR_HOST", fake.host()),
    );
    assert!(fake.issued_tokens() >= 1);
    // Neither the token nor the key reaches output, the manifest or the state.
    let key_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key).expect("read")).expect("json");
    let pem = key_json["private_key"].as_str().expect("private_key").to_string();
    let key_line = pem
        .lines()
        .find(|l| l.len() > 40 && !l.contains("BEGIN"))
        .expect("a base64 line of the key");
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
    for text in [
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        manifest,
    ] {
        assert!(!text.contains("Bearer"), "{text}");
        assert!(!text.contains("upload_id="), "a session URI leaked: {text}");
        assert!(!text.contains(key_line), "key line {key_line:?} found");
    }
    // Without credentials the fake refuses (401) and the error says what to do.
    let d2 = tmp.path().join("snap2");
    fixture_snapshot(&d2);
    let out = upload_cmd(&d2, "gs://snap")
        .env("STORAGE_EMULATOR_HOST", fake.host())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
}

/// Kills the uploader with SIGKILL at seeded points, then lets it finish:
/// the objects are byte-identical to the local stream and sent about once.
#[test]
fn kill_9_at_20_seeded_points_then_resume() {
    let fake = fake_with_bucket();
    // A slow link so the kills land mid-upload.
    fake.inject(
        Fault::new(
            RequestKind::ChunkPut,
            FaultAction::Throttle {
                bytes_per_sec: 1 << 20,
            },
        )
        .always(),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    generated_snapshot(&dir, 6 << 20);
    // Take the manifest first (upload builds it for a folder without one and
    // saves it before reaching the bucket): the kills below then land in the upload.
    let out = upload_cmd(&dir, "gs://no-such-bucket")
        .env("STORAGE_EMULATOR_HOST", fake.host())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
    assert!(dir.join("manifest.json").exists());
    let mut rng = 0x5eed_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut kills = 0;
    for _ in 0..common::chaos(20) {
        let mut child = upload_cmd(&dir, "gs://snap")
            .arg("--chunk-size=262144")
            .arg("--gzip")
            .arg("--gzip-level=1")
            .env("STORAGE_EMULATOR_HOST", fake.host())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(20 + next() % 250));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill -9");
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(kills >= 10, "only {kills} of 20 runs were killed mid-upload");
    // The runs resumed sessions rather than starting over.
    let reqs = fake.requests();
    let initiated = reqs.iter().filter(|r| r.kind == RequestKind::Initiate).count();
    let resumed = reqs.iter().filter(|r| r.kind == RequestKind::StatusQuery).count();
    eprintln!("{kills} kills, {initiated} sessions started, {resumed} status queries");
    assert!(
        resumed >= 5,
        "only {resumed} status queries: the kills did not interrupt uploads"
    );
    // (A kill between starting a session and saving it orphans that session:
    // how many depends on timing, so the bound is on bytes sent, below.)
    // The saved sessions are capabilities: only the owner may read them.
    for e in std::fs::read_dir(dir.join(".upload-state"))
        .expect("state dir")
        .flatten()
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = e.metadata().expect("meta").permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "{} is readable by others ({mode:o})",
            e.path().display()
        );
    }
    run_ok(
        upload_cmd(&dir, "gs://snap")
            .args(["--chunk-size=262144", "--gzip", "--gzip-level=1"])
            .env("STORAGE_EMULATOR_HOST", fake.host()),
    );
    for file in ["pgsql.sql", "codeintel.sql", "codeinsights.sql"] {
        let got = fake.object("snap", &format!("{file}.gz")).expect("object");
        assert_eq!(gunzip(&got), expected_object(&dir, file), "{file}");
    }
    let out = verify_out(&dir, "gs://snap", Some(&fake));
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    // Resumes re-send little: at most one chunk per interruption per file beyond the object sizes.
    let sent: u64 = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.body_len)
        .sum();
    let total: u64 = fake
        .objects("snap")
        .iter()
        .filter(|(n, _)| n.ends_with(".gz"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert!(
        sent <= total + (kills as u64 + 3) * 3 * (256 << 10),
        "sent {sent} bytes for {total} bytes of objects after {kills} kills"
    );
}

#[test]
fn faults_end_verified_or_with_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    fixture_snapshot(&dir);
    let small_chunks = |c: &mut std::process::Command, f: &GcsFake| {
        c.arg("--chunk-size=262144")
            .env("STORAGE_EMULATOR_HOST", f.host());
    };

    // A storm of 503s and 429s, a connection cut mid-chunk, a dropped answer: all retried.
    let fake = fake_with_bucket();
    fake.inject(Fault::status(RequestKind::ChunkPut, 503).times(3));
    fake.inject(Fault::status(RequestKind::Initiate, 429).retry_after(1).times(2));
    fake.inject(
        Fault::new(
            RequestKind::ChunkPut,
            FaultAction::CutBody {
                after: 100_000,
                persist: testkit::gcs_fake::Persist::All,
            },
        )
        .nth(2),
    );
    fake.inject(Fault::new(RequestKind::Finalize, FaultAction::DropAfterProcessing).times(1));
    let mut c = upload_cmd(&dir, "gs://snap/a");
    small_chunks(&mut c, &fake);
    run_ok(&mut c);
    let out = verify_out(&dir, "gs://snap/a", Some(&fake));
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    for file in ["pgsql.sql", "codeintel.sql", "codeinsights.sql"] {
        assert_eq!(
            fake.object("snap", &format!("a/{file}")).expect("object"),
            expected_object(&dir, file),
            "{file}"
        );
    }

    // A session that expired while the uploader was down restarts that file cleanly.
    let d2 = tmp.path().join("snap2");
    generated_snapshot(&d2, 3 << 20);
    let fake = fake_with_bucket();
    fake.inject(
        Fault::new(
            RequestKind::ChunkPut,
            FaultAction::Throttle {
                bytes_per_sec: 1 << 20,
            },
        )
        .always(),
    );
    let mut c = upload_cmd(&d2, "gs://snap");
    small_chunks(&mut c, &fake);
    let mut child = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !fake.requests().iter().any(|r| r.method == "PUT") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("kill");
    let _ = child.wait();
    fake.clear_faults();
    assert!(
        !fake.sessions().is_empty(),
        "the first run should have left a session behind"
    );
    fake.expire_all_sessions();
    let mut c = upload_cmd(&d2, "gs://snap");
    small_chunks(&mut c, &fake);
    let out = run_ok(&mut c);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expired"),
        "{}",
        testkit::describe_output(&out)
    );
    assert_eq!(
        fake.object("snap", "pgsql.sql").expect("object"),
        expected_object(&d2, "pgsql.sql")
    );

    // A server whose answer carries a wrong checksum is not believed: the
    // object is checked again, and either proven right or the upload fails.
    let d3 = tmp.path().join("snap3");
    fixture_snapshot(&d3);
    let fake = fake_with_bucket();
    fake.inject(Fault::new(RequestKind::Finalize, FaultAction::WrongCrc32cInResponse).always());
    let mut c = upload_cmd(&d3, "gs://snap");
    small_chunks(&mut c, &fake);
    let out = c.output().expect("run");
    match out.status.code() {
        Some(0) => {
            for file in ["pgsql.sql", "codeintel.sql", "codeinsights.sql"] {
                assert_eq!(
                    fake.object("snap", file).expect("object"),
                    expected_object(&d3, file),
                    "{file}"
                );
            }
        }
        Some(2) => {
            let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
            assert!(
                err.contains("checksum") || err.contains("crc32c"),
                "{}",
                testkit::describe_output(&out)
            );
            assert!(
                fake.object("snap", "manifest.json").is_none(),
                "a manifest was uploaded after a failed object"
            );
        }
        _ => panic!("{}", testkit::describe_output(&out)),
    }

    // Bit rot in the bucket after upload: verify reads it back and says so.
    let d4 = tmp.path().join("snap4");
    fixture_snapshot(&d4);
    let fake = fake_with_bucket();
    let mut c = upload_cmd(&d4, "gs://snap");
    small_chunks(&mut c, &fake);
    run_ok(&mut c);
    assert!(fake.corrupt_object("snap", "codeinsights.sql", 5000));
    let out = verify_out(&d4, "gs://snap", Some(&fake));
    assert_eq!(out.status.code(), Some(1), "{}", testkit::describe_output(&out));

    // Write-only credentials (the customer's): verify falls back to the upload records.
    fake.set_write_only(true);
    assert!(fake.corrupt_object("snap", "codeinsights.sql", 5000)); // undo
    let out = verify_out(&d4, "gs://snap", Some(&fake));
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("as recorded at upload"),
        "{}",
        testkit::describe_output(&out)
    );
}

#[test]
fn bad_input_is_one_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    fixture_snapshot(&dir);
    let fake = fake_with_bucket();
    let run = |c: &mut std::process::Command| -> String {
        let out = c.output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{}", testkit::describe_output(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // No such bucket.
    let err = run(upload_cmd(&dir, "gs://nope").env("STORAGE_EMULATOR_HOST", fake.host()));
    assert!(err.contains("nope"), "{err}");
    // Missing and malformed credentials (no emulator: the real endpoint is never reached).
    let err = run(upload_cmd(&dir, "gs://snap").arg(format!(
        "-credentials={}",
        tmp.path().join("missing.json").display()
    )));
    assert!(err.contains("missing.json"), "{err}");
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nnot a key\"}",
    )
    .expect("write");
    let err = run(upload_cmd(&dir, "gs://snap").arg(format!("-credentials={}", bad.display())));
    assert!(err.contains("bad.json") && !err.contains("not a key"), "{err}");
    // Permission denied.
    fake.inject(Fault::status(RequestKind::Initiate, 403).always());
    let err = run(upload_cmd(&dir, "gs://snap").env("STORAGE_EMULATOR_HOST", fake.host()));
    assert!(err.to_lowercase().contains("permission"), "{err}");
    fake.clear_faults();
    // A folder without the dumps.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let err = run(upload_cmd(&empty, "gs://snap").env("STORAGE_EMULATOR_HOST", fake.host()));
    assert!(err.contains("databases") && err.contains("pgsql.sql"), "{err}");
    // The state cannot be saved (a file where the state folder goes: like a full or read-only disk).
    std::fs::write(dir.join(".upload-state"), "x").expect("write");
    let err = run(upload_cmd(&dir, "gs://snap").env("STORAGE_EMULATOR_HOST", fake.host()));
    assert!(err.contains(".upload-state"), "{err}");
    assert!(
        fake.object("snap", "pgsql.sql").is_none(),
        "an object was completed although its state could not be saved"
    );
}

/// `databases --run -bucket=…`: no local copy of the dumps; a failed stream
/// restarts that dump, says so, and the bucket still verifies.
#[test]
fn dump_streams_straight_to_the_bucket() {
    let src = common::source(14);
    let fake = fake_with_bucket();
    // One chunk refused: the stream cannot be resumed, so that dump starts again.
    fake.inject(Fault::status(RequestKind::Finalize, 403).times(1));
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("snap");
    let targets = src.targets_yaml(tmp.path());
    let out = run_ok(
        cmd()
            .args([
                "databases",
                "pg_dump",
                "--run",
                "--no-progress",
                "--gzip",
                "-bucket=gs://snap/stream",
            ])
            .arg(format!("--targets={}", targets.display()))
            .arg(format!("-dir={}", dir.display()))
            .arg(format!("--pg-dump={}", testkit::pg_dump_path(16).display()))
            .env("STORAGE_EMULATOR_HOST", fake.host()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("starts again"), "{}", testkit::describe_output(&out));
    let files: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !files.iter().any(|f| f.ends_with(".sql")),
        "a local dump was kept: {files:?}"
    );
    assert!(
        !String::from_utf8_lossy(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .contains(&src.password)
    );
    for obj in [
        "stream/pgsql.sql.gz",
        "stream/codeintel.sql.gz",
        "stream/codeinsights.sql.gz",
        "stream/manifest.json",
    ] {
        assert!(fake.object("snap", obj).is_some(), "{obj} missing");
    }
    let mut c = cmd();
    c.args(["verify", "-bucket=gs://snap/stream"])
        .env("STORAGE_EMULATOR_HOST", fake.host());
    let out = c.output().expect("verify");
    assert!(out.status.success(), "{}", testkit::describe_output(&out));
}
