//! The GCS backend against testkit's strict, fault-injecting fake: status
//! queries after cut connections, expired sessions, throttling storms,
//! checksum rejection, permissions, preconditions, the service-account token
//! flow, timeouts and redaction.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bucket::{
    crc32c_base64, BucketError, ChunkOutcome, Final, Location, Store, StoreOptions, UploadOptions,
    UploadSession, UploadStatus,
};
use bytes::Bytes;
use common::{collect_result, data, emulator_opts, fast_retry, persist_and_reload, read_all, K256};
use testkit::gcs_fake::{Fault, FaultAction, GcsFake, Persist, RequestKind};

const BUCKET: &str = "snap";

fn fake() -> GcsFake {
    let f = GcsFake::start();
    f.create_bucket(BUCKET);
    f
}

async fn open_with(_f: &GcsFake, opts: StoreOptions) -> Store {
    let loc = Location::parse(&format!("gs://{BUCKET}/p")).expect("parse location");
    Store::open(&loc, &opts).await.expect("open store")
}

async fn open(f: &GcsFake) -> Store {
    open_with(f, emulator_opts(&f.host())).await
}

fn fin(d: &[u8]) -> Final {
    Final {
        total_size: d.len() as u64,
        crc32c: crc32c::crc32c(d),
    }
}

fn opts(overwrite: bool) -> UploadOptions {
    UploadOptions {
        overwrite,
        content_type: "application/sql".into(),
    }
}

fn slice(d: &[u8], a: usize, b: usize) -> Bytes {
    Bytes::copy_from_slice(&d[a..b])
}

fn kinds(f: &GcsFake) -> Vec<(RequestKind, Option<u16>)> {
    f.requests().iter().map(|r| (r.kind, r.status)).collect()
}

fn upload_id(f: &GcsFake) -> String {
    f.sessions().last().expect("a session").upload_id.clone()
}

/// Asserts that no rendering of `err` contains any of `secrets`.
fn assert_no_secrets(err: &BucketError, secrets: &[&str]) {
    for text in [err.to_string(), format!("{err:?}")] {
        for s in secrets {
            assert!(!text.contains(s), "secret {s:?} leaked in: {text}");
        }
    }
}

#[tokio::test]
async fn a_cut_chunk_is_resumed_from_a_status_query() {
    let f = fake();
    let store = open(&f).await;
    let d = data(3 * K256 + 100, 21);
    let s = store.begin_upload("cut.sql", &opts(false)).await.expect("begin");
    // The connection drops after K256 + 1000 bytes; the server keeps whole 256 KiB units.
    f.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::CutBody {
            after: K256 as u64 + 1000,
            persist: Persist::RoundDown,
        },
    ));
    let r = store
        .put_chunk(&s, 0, slice(&d, 0, 2 * K256), None)
        .await
        .expect("chunk survives the cut");
    assert_eq!(r, ChunkOutcome::Committed(2 * K256 as u64));
    let seen = kinds(&f);
    assert_eq!(
        seen[1..],
        [
            (RequestKind::ChunkPut, None),
            (RequestKind::StatusQuery, Some(308)),
            (RequestKind::ChunkPut, Some(308)),
        ],
        "{seen:?}"
    );
    // Only the missing half was resent.
    let resent = &f.requests()[3];
    assert_eq!(
        resent.header("content-range"),
        Some(format!("bytes {}-{}/*", K256, 2 * K256 - 1).as_str())
    );
    assert_eq!(f.sessions()[0].ignored_overlap, 0);

    let r = store
        .put_chunk(&s, 2 * K256 as u64, slice(&d, 2 * K256, d.len()), Some(fin(&d)))
        .await
        .expect("last");
    assert!(
        matches!(r, ChunkOutcome::Finished(ref m) if m.size == d.len() as u64),
        "{r:?}"
    );
    assert_eq!(f.object(BUCKET, "p/cut.sql").expect("object"), d);
}

#[tokio::test]
async fn status_after_a_cut_without_retries_and_an_unaligned_commit() {
    let f = fake();
    let mut o = emulator_opts(&f.host());
    o.retry = fast_retry(1);
    let store = open_with(&f, o).await;
    let d = data(3 * K256 + 5, 22);
    let s = store.begin_upload("cut.sql", &opts(false)).await.expect("begin");
    f.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::CutBody {
            after: K256 as u64 + 10,
            persist: Persist::RoundDown,
        },
    ));
    let err = store
        .put_chunk(&s, 0, slice(&d, 0, 2 * K256), None)
        .await
        .expect_err("one attempt only");
    assert!(err.is_retryable() && err.attempts() == Some(1), "{err:?}");
    // The uploader persisted the session; a new process asks what the server has.
    let s = persist_and_reload(&s);
    let store = open(&f).await;
    assert_eq!(
        store.upload_status(&s).await.expect("status"),
        UploadStatus::Active {
            committed: K256 as u64
        }
    );

    // A server that keeps every byte received: the chunk cannot be finished with an aligned
    // resend, so the caller gets the odd offset and resends from there.
    f.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::CutBody {
            after: 1000,
            persist: Persist::All,
        },
    ));
    let r = store
        .put_chunk(&s, K256 as u64, slice(&d, K256, 3 * K256), None)
        .await
        .expect("put");
    assert_eq!(r, ChunkOutcome::Committed(K256 as u64 + 1000));
    let at = K256 + 1000;
    let r = store
        .put_chunk(&s, at as u64, slice(&d, at, at + K256), None)
        .await
        .expect("aligned-length resend");
    assert_eq!(r, ChunkOutcome::Committed((at + K256) as u64));
    let r = store
        .put_chunk(
            &s,
            (at + K256) as u64,
            slice(&d, at + K256, d.len()),
            Some(fin(&d)),
        )
        .await;
    assert!(matches!(r, Ok(ChunkOutcome::Finished(_))), "{r:?}");
    assert_eq!(f.object(BUCKET, "p/cut.sql").expect("object"), d);
}

#[tokio::test]
async fn expired_sessions_are_reported() {
    let f = fake();
    let store = open(&f).await;
    let d = data(2 * K256, 23);
    let s = store.begin_upload("e.sql", &opts(false)).await.expect("begin");
    store
        .put_chunk(&s, 0, slice(&d, 0, K256), None)
        .await
        .expect("chunk");
    assert!(f.expire_session(&upload_id(&f)));
    let err = store
        .put_chunk(&s, K256 as u64, slice(&d, K256, 2 * K256), None)
        .await
        .expect_err("404");
    assert!(
        matches!(err, BucketError::SessionExpired { ref object } if object == "gs://snap/p/e.sql"),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        store.upload_status(&s).await.expect("status"),
        UploadStatus::Expired
    );

    let s = store
        .begin_upload("e.sql", &opts(false))
        .await
        .expect("begin again");
    f.inject(Fault::new(
        RequestKind::Finalize,
        FaultAction::ExpireSession { status: 410 },
    ));
    let err = store
        .put_chunk(&s, 0, Bytes::from(d.clone()), Some(fin(&d)))
        .await
        .expect_err("410");
    assert!(matches!(err, BucketError::SessionExpired { .. }), "{err}");
    assert_eq!(
        store.upload_status(&s).await.expect("status"),
        UploadStatus::Expired
    );
    assert_no_secrets(&err, &[&upload_id(&f), &s.handle]);
    // Cancelling a gone session is fine.
    store.cancel_upload(&s).await.expect("cancel gone session");
}

#[tokio::test]
async fn throttling_and_server_error_storms_are_retried() {
    let f = fake();
    let store = open(&f).await;
    let d = data(K256 + 77, 24);
    f.inject(Fault::status(RequestKind::Initiate, 429).retry_after(1));
    let started = Instant::now();
    let s = store
        .begin_upload("storm.sql", &opts(false))
        .await
        .expect("begin after 429");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After: 1 not honoured ({waited:?})"
    );

    f.inject(Fault::status(RequestKind::ChunkPut, 503).times(3));
    let r = store
        .put_chunk(&s, 0, slice(&d, 0, K256), None)
        .await
        .expect("chunk after a 503 storm");
    assert_eq!(r, ChunkOutcome::Committed(K256 as u64));
    f.inject(Fault::status(RequestKind::Finalize, 500).times(2));
    f.inject(Fault::status(RequestKind::StatusQuery, 502));
    let r = store
        .put_chunk(&s, K256 as u64, slice(&d, K256, d.len()), Some(fin(&d)))
        .await
        .expect("last");
    assert!(matches!(r, ChunkOutcome::Finished(_)), "{r:?}");
    assert_eq!(f.object(BUCKET, "p/storm.sql").expect("object"), d);
    let seen = kinds(&f);
    let count = |k: RequestKind| seen.iter().filter(|(x, _)| *x == k).count();
    assert_eq!(count(RequestKind::Initiate), 2, "{seen:?}");
    assert_eq!(count(RequestKind::ChunkPut), 4, "{seen:?}");
    assert_eq!(count(RequestKind::Finalize), 3, "{seen:?}");
    // Every retry of a chunk asked for the status first (3 + 2, one of them answered 502 and repeated).
    assert_eq!(count(RequestKind::StatusQuery), 6, "{seen:?}");

    // A storm longer than the budget: the error says how often it tried and the last status.
    let mut o = emulator_opts(&f.host());
    o.retry = fast_retry(4);
    let store = open_with(&f, o).await;
    f.clear_requests();
    f.inject(Fault::status(RequestKind::Stat, 503).always());
    let err = store
        .stat("storm.sql")
        .await
        .expect_err("storm outlasts the budget");
    assert!(
        matches!(
            err,
            BucketError::Http {
                status: 503,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTTP 503 after 4 attempt(s)"), "{err}");
    assert_eq!(f.requests().len(), 4);
    f.clear_faults();
}

#[tokio::test]
async fn checksum_mismatches_are_rejected() {
    let f = fake();
    let store = open(&f).await;
    let d = data(K256 + 3, 25);
    // The server checks x-goog-hash and refuses.
    let s = store.begin_upload("bad.sql", &opts(false)).await.expect("begin");
    store
        .put_chunk(&s, 0, slice(&d, 0, K256), None)
        .await
        .expect("chunk");
    let wrong = Final {
        total_size: d.len() as u64,
        crc32c: crc32c::crc32c(&d) ^ 0x10,
    };
    let err = store
        .put_chunk(&s, K256 as u64, slice(&d, K256, d.len()), Some(wrong))
        .await
        .expect_err("refused");
    match &err {
        BucketError::ChecksumMismatch { expected, actual, .. } => {
            assert_eq!(expected, &crc32c_base64(wrong.crc32c));
            assert!(actual.contains("doesn't match"), "{actual}");
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    let fin_req = f
        .requests()
        .into_iter()
        .find(|r| r.kind == RequestKind::Finalize)
        .expect("finalize request");
    assert_eq!(
        fin_req.header("x-goog-hash"),
        Some(format!("crc32c={}", crc32c_base64(wrong.crc32c)).as_str())
    );
    assert!(f.object(BUCKET, "p/bad.sql").is_none());

    // The server accepts but reports another CRC: the client's own check catches it.
    let s = store.begin_upload("bad.sql", &opts(false)).await.expect("begin");
    f.inject(Fault::new(
        RequestKind::Finalize,
        FaultAction::WrongCrc32cInResponse,
    ));
    let err = store
        .put_chunk(&s, 0, Bytes::from(d.clone()), Some(fin(&d)))
        .await
        .expect_err("client check");
    assert!(matches!(err, BucketError::ChecksumMismatch { .. }), "{err:?}");
    f.inject(Fault::new(
        RequestKind::SimpleUpload,
        FaultAction::WrongCrc32cInResponse,
    ));
    let err = store
        .put_small("m.json", Bytes::from_static(b"{}"), &opts(false))
        .await
        .expect_err("client check");
    assert!(matches!(err, BucketError::ChecksumMismatch { .. }), "{err:?}");

    // Bit rot after upload: the read stream fails at its end.
    store
        .put_small("rot.sql", Bytes::from(d.clone()), &opts(false))
        .await
        .expect("put");
    assert!(f.corrupt_object(BUCKET, "p/rot.sql", 1234));
    let err = collect_result(store.read("rot.sql").await.expect("read"))
        .await
        .expect_err("corrupt");
    assert!(matches!(err, BucketError::ChecksumMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn permission_denied_names_the_role() {
    let f = fake();
    let store = open(&f).await;
    f.set_write_only(true);
    // objectCreator can upload...
    let meta = store
        .put_small("w.json", Bytes::from_static(b"{}"), &opts(false))
        .await
        .expect("write-only upload");
    assert_eq!(meta.size, 2);
    // ...but not read, list or replace.
    for err in [
        store.stat("w.json").await.expect_err("stat"),
        store.read("w.json").await.err().expect("read"),
        store.list().await.expect_err("list"),
    ] {
        match &err {
            BucketError::PermissionDenied { bucket, hint, .. } => {
                assert_eq!(bucket, BUCKET);
                assert!(hint.contains("roles/storage.objectViewer"), "{hint}");
            }
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
    }
    let err = store
        .put_small("w.json", Bytes::from_static(b"[]"), &opts(true))
        .await
        .expect_err("replace");
    assert!(
        matches!(err, BucketError::PermissionDenied { ref hint, .. } if hint.contains("roles/storage.objectUser") && hint.contains("--overwrite")),
        "{err:?}"
    );
    f.set_write_only(false);
    f.inject(Fault::status(RequestKind::Initiate, 403));
    let err = store.begin_upload("x.sql", &opts(false)).await.expect_err("403");
    assert!(
        matches!(err, BucketError::PermissionDenied { ref hint, .. } if hint.contains("roles/storage.objectCreator")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn existing_objects_give_already_exists() {
    let f = fake();
    let store = open(&f).await;
    f.put_object(BUCKET, "p/x.sql", b"old".to_vec());
    let err = store
        .begin_upload("x.sql", &opts(false))
        .await
        .expect_err("412 at initiation");
    assert!(
        matches!(err, BucketError::AlreadyExists { ref object } if object == "gs://snap/p/x.sql"),
        "{err:?}"
    );
    assert!(err.to_string().contains("--overwrite"), "{err}");
    let init = f
        .requests()
        .into_iter()
        .find(|r| r.kind == RequestKind::Initiate)
        .expect("initiate");
    assert!(init.path.contains("ifGenerationMatch=0"), "{}", init.path);
    let err = store
        .put_small("x.sql", Bytes::from_static(b"new"), &opts(false))
        .await
        .expect_err("412 simple");
    assert!(matches!(err, BucketError::AlreadyExists { .. }), "{err:?}");

    // The object appears while the upload runs: 412 at finalize.
    let d = data(1000, 26);
    let s = store.begin_upload("late.sql", &opts(false)).await.expect("begin");
    f.put_object(BUCKET, "p/late.sql", b"someone else".to_vec());
    let err = store
        .put_chunk(&s, 0, Bytes::from(d.clone()), Some(fin(&d)))
        .await
        .expect_err("412 at finalize");
    assert!(matches!(err, BucketError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(f.object(BUCKET, "p/late.sql").expect("kept"), b"someone else");

    // With overwrite there is no precondition.
    let s = store
        .begin_upload("x.sql", &opts(true))
        .await
        .expect("begin overwrite");
    let r = store
        .put_chunk(&s, 0, Bytes::from(d.clone()), Some(fin(&d)))
        .await
        .expect("overwrite");
    assert!(matches!(r, ChunkOutcome::Finished(_)));
    assert_eq!(f.object(BUCKET, "p/x.sql").expect("replaced"), d);
    let last_init = f
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.kind == RequestKind::Initiate)
        .expect("initiate");
    assert!(
        !last_init.path.contains("ifGenerationMatch"),
        "{}",
        last_init.path
    );
}

#[tokio::test]
async fn lost_replies_and_empty_final_chunks() {
    let f = fake();
    let store = open(&f).await;
    let d = data(2 * K256, 27);
    let s = store.begin_upload("lost.sql", &opts(false)).await.expect("begin");
    store
        .put_chunk(&s, 0, slice(&d, 0, 2 * K256), None)
        .await
        .expect("chunks");
    // All bytes sent; the last chunk is empty (Content-Range: bytes */TOTAL) and its reply is lost.
    f.inject(Fault::new(
        RequestKind::StatusQuery,
        FaultAction::DropAfterProcessing,
    ));
    let r = store
        .put_chunk(&s, 2 * K256 as u64, Bytes::new(), Some(fin(&d)))
        .await
        .expect("finished anyway");
    let ChunkOutcome::Finished(meta) = r else {
        panic!("expected Finished, got {r:?}")
    };
    assert_eq!(meta.size, d.len() as u64);
    let fin_req = f
        .requests()
        .into_iter()
        .find(|r| r.status.is_none())
        .expect("the dropped request");
    assert_eq!(
        fin_req.header("content-range"),
        Some(format!("bytes */{}", d.len()).as_str())
    );
    assert_eq!(
        store.upload_status(&s).await.expect("status"),
        UploadStatus::Finished(meta)
    );
    assert_eq!(read_all(&store, "lost.sql").await, d);

    // A lost reply to a simple upload with ifGenerationMatch=0: the retry's 412 is our own write.
    f.inject(Fault::new(
        RequestKind::SimpleUpload,
        FaultAction::DropAfterProcessing,
    ));
    let meta = store
        .put_small("m.json", Bytes::from_static(b"{\"a\":1}"), &opts(false))
        .await
        .expect("put_small");
    assert_eq!(meta.size, 7);
}

#[tokio::test]
async fn list_follows_pages_and_strips_the_prefix() {
    let f = fake();
    let store = open(&f).await;
    for n in ["p/e", "p/a/b", "p/c", "p/d", "p/b", "q/x", "px"] {
        f.put_object(BUCKET, n, n.as_bytes().to_vec());
    }
    f.set_page_size(2);
    let metas = store.list().await.expect("list");
    let names: Vec<&str> = metas.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["a/b", "b", "c", "d", "e"]);
    assert_eq!(metas[0].crc32c, crc32c_base64(crc32c::crc32c(b"p/a/b")));
    let lists = f
        .requests()
        .iter()
        .filter(|r| r.kind == RequestKind::List)
        .count();
    assert_eq!(lists, 3, "pagination");
}

#[tokio::test]
async fn stalled_requests_time_out_and_are_retried() {
    let f = fake();
    f.put_object(BUCKET, "p/s", b"x".to_vec());
    let mut o = emulator_opts(&f.host());
    o.request_timeout = Duration::from_millis(500);
    o.retry = fast_retry(2);
    let store = open_with(&f, o).await;
    f.inject(Fault::new(
        RequestKind::Stat,
        FaultAction::Stall {
            duration: Duration::from_secs(3),
            process: false,
        },
    ));
    let started = Instant::now();
    let m = store.stat("s").await.expect("second attempt").expect("exists");
    assert_eq!(m.size, 1);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(2500),
        "{took:?}"
    );

    f.inject(
        Fault::new(
            RequestKind::Stat,
            FaultAction::Stall {
                duration: Duration::from_secs(3),
                process: false,
            },
        )
        .always(),
    );
    let err = store.stat("s").await.expect_err("always stalls");
    assert!(matches!(err, BucketError::Timeout { attempts: 2, .. }), "{err:?}");
    f.clear_faults();
}

// ---- credentials -------------------------------------------------------------------------------

/// Generates an RSA key with openssl into `dir`: (PKCS#8 private PEM, SPKI public PEM).
fn openssl_key(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key_s = key.to_str().expect("utf-8 path");
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key_s,
    ]);
    run(&[
        "pkey",
        "-in",
        key_s,
        "-pubout",
        "-out",
        public.to_str().expect("utf-8 path"),
    ]);
    (
        std::fs::read_to_string(&key).expect("read private key"),
        std::fs::read_to_string(&public).expect("read public key"),
    )
}

fn write_key_file(dir: &Path, email: &str, private_pem: &str, token_uri: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{email}.json"));
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": private_pem,
        "client_email": email,
        "token_uri": token_uri,
    });
    std::fs::write(&path, json.to_string()).expect("write key file");
    path
}

fn pem_body_line(pem: &str) -> String {
    pem.lines().nth(1).expect("a PEM body line").to_string()
}

#[tokio::test]
async fn service_account_tokens_are_fetched_cached_and_refreshed() {
    let f = fake();
    f.require_auth(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let email = "uploader@proj.iam.gserviceaccount.com";
    let (private_pem, public_pem) = openssl_key(dir.path(), "sa");
    f.register_service_account(email, &public_pem);
    let key_file = write_key_file(dir.path(), email, &private_pem, &f.token_uri());

    let mut o = emulator_opts(&f.host());
    o.credentials = Some(key_file.clone());
    let store = open_with(&f, o.clone()).await;
    let d = data(K256 + 10, 28);
    let s = store.begin_upload("auth.sql", &opts(false)).await.expect("begin");
    store
        .put_chunk(&s, 0, slice(&d, 0, K256), None)
        .await
        .expect("chunk");
    store
        .put_chunk(&s, K256 as u64, slice(&d, K256, d.len()), Some(fin(&d)))
        .await
        .expect("last");
    store
        .put_small("m.json", Bytes::from_static(b"{}"), &opts(false))
        .await
        .expect("put_small");
    assert_eq!(read_all(&store, "auth.sql").await, d);
    assert_eq!(store.list().await.expect("list").len(), 2);
    assert_eq!(f.issued_tokens(), 1, "the token is cached");
    let token_req = f
        .requests()
        .into_iter()
        .find(|r| r.kind == RequestKind::Token)
        .expect("token request");
    assert!(token_req.header("authorization").is_none());
    for r in f
        .requests()
        .iter()
        .filter(|r| !matches!(r.kind, RequestKind::Token))
    {
        let auth = r.header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with("Bearer ya29.fake-"),
            "{:?} without a token",
            r.kind
        );
    }
    let debug = format!("{store:?}");
    assert!(
        debug.contains(email) && !debug.contains("ya29") && !debug.contains(&pem_body_line(&private_pem)),
        "{debug}"
    );

    // Revoked tokens: one 401, a fresh token, success.
    f.expire_tokens();
    assert!(store
        .stat("auth.sql")
        .await
        .expect("stat after refresh")
        .is_some());
    assert_eq!(f.issued_tokens(), 2);
    // Tokens that live less than the 5-minute refresh margin are fetched anew for each request.
    f.set_token_lifetime(Duration::from_secs(200));
    f.expire_tokens();
    let store = open_with(&f, o).await;
    store.stat("auth.sql").await.expect("stat");
    store.stat("auth.sql").await.expect("stat");
    assert_eq!(f.issued_tokens(), 4);
}

#[tokio::test]
async fn refused_credentials_and_missing_auth() {
    let f = fake();
    f.require_auth(true);
    let dir = tempfile::tempdir().expect("tempdir");
    // A key the server does not know (PKCS#1 form, to cover that parser too).
    let (private_pem, _) = openssl_key(dir.path(), "stranger");
    let pkcs1 = dir.path().join("stranger.rsa.pem");
    let out = Command::new("openssl")
        .args([
            "rsa",
            "-in",
            dir.path().join("stranger.pem").to_str().expect("path"),
            "-traditional",
            "-out",
        ])
        .arg(&pkcs1)
        .output()
        .expect("openssl rsa");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pkcs1_pem = std::fs::read_to_string(&pkcs1).expect("read pkcs1");
    assert!(pkcs1_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    for pem in [&private_pem, &pkcs1_pem] {
        let key_file = write_key_file(
            dir.path(),
            "stranger@proj.iam.gserviceaccount.com",
            pem,
            &f.token_uri(),
        );
        let mut o = emulator_opts(&f.host());
        o.credentials = Some(key_file);
        let store = open_with(&f, o).await;
        let err = store.stat("x").await.expect_err("unknown key");
        match &err {
            BucketError::Auth {
                status,
                message,
                hint,
            } => {
                assert_eq!(*status, 400);
                assert!(message.contains("invalid_grant"), "{message}");
                assert!(hint.contains("stranger@proj.iam.gserviceaccount.com"), "{hint}");
            }
            other => panic!("expected Auth, got {other:?}"),
        }
        assert_no_secrets(&err, &[&pem_body_line(pem), "eyJ"]);
    }

    // No credentials at all against a server that wants them.
    let store = open(&f).await;
    let err = store.stat("x").await.expect_err("anonymous");
    assert!(
        matches!(err, BucketError::Auth { status: 401, ref hint, .. } if hint.contains("-credentials")),
        "{err:?}"
    );
}

#[tokio::test]
async fn credentials_file_errors_never_echo_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pem, _) = openssl_key(dir.path(), "k");
    let secret_line = pem_body_line(&pem);
    let good = serde_json::json!({
        "type": "service_account", "client_email": "a@b.iam.gserviceaccount.com",
        "private_key": pem, "token_uri": "https://oauth2.googleapis.com/token",
    });
    let with = |k: &str, v: serde_json::Value| {
        let mut j = good.clone();
        j[k] = v;
        j.to_string()
    };
    let without = |k: &str| {
        let mut j = good.clone();
        j.as_object_mut().expect("object").remove(k);
        j.to_string()
    };
    let mangled = pem.replace(&secret_line, &secret_line.chars().rev().collect::<String>());
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "cannot read"),
        ("not-json", Some(format!("private_key: {pem}")), "not JSON"),
        (
            "a-string",
            Some(serde_json::Value::String(pem.clone()).to_string()),
            "not a JSON object",
        ),
        (
            "no-email",
            Some(without("client_email")),
            "\"client_email\" is missing",
        ),
        (
            "no-key",
            Some(without("private_key")),
            "\"private_key\" is missing",
        ),
        (
            "user-creds",
            Some(with("type", "authorized_user".into())),
            "authorized_user",
        ),
        ("key-number", Some(with("private_key", 5.into())), "not a string"),
        (
            "bad-pem",
            Some(with("private_key", "-----BEGIN PRIVATE KEY-----\nabc\n".into())),
            "no PEM block",
        ),
        (
            "bad-key",
            Some(with("private_key", mangled.clone().into())),
            "not a usable RSA key",
        ),
        (
            "http-token-uri",
            Some(with("token_uri", "http://example.com/token".into())),
            "https",
        ),
    ];
    for (name, content, expect) in cases {
        let path = dir.path().join(format!("{name}.json"));
        if let Some(c) = &content {
            std::fs::write(&path, c).expect("write");
        }
        let o = StoreOptions {
            credentials: Some(path.clone()),
            ..StoreOptions::default()
        };
        let err = Store::open(&Location::parse("gs://b12").expect("parse"), &o)
            .await
            .expect_err(name);
        match &err {
            BucketError::Credentials {
                path: p,
                message,
                hint,
            } => {
                assert_eq!(p, &path);
                assert!(message.contains(expect), "{name}: {message}");
                assert!(!hint.is_empty());
            }
            other => panic!("{name}: expected Credentials, got {other:?}"),
        }
        assert_no_secrets(&err, &[&secret_line, &secret_line[..20], "PRIVATE KEY-----\n"]);
    }
    // Real GCS without any credentials is refused up front.
    let err = Store::open(
        &Location::parse("gs://b12").expect("parse"),
        &StoreOptions::default(),
    )
    .await
    .expect_err("no credentials");
    assert!(matches!(err, BucketError::Credentials { .. }), "{err}");
}

#[tokio::test]
async fn session_uris_never_appear_in_errors() {
    let f = fake();
    let mut o = emulator_opts(&f.host());
    o.retry = fast_retry(2);
    let store = open_with(&f, o).await;
    let s: UploadSession = store.begin_upload("r.sql", &opts(false)).await.expect("begin");
    let id = upload_id(&f);
    assert!(s.handle.contains(&id));
    assert!(
        !format!("{s:?}").contains(&id),
        "Debug of the session shows its URI"
    );
    f.inject(Fault::status(RequestKind::ChunkPut, 500).always());
    f.inject(Fault::status(RequestKind::StatusQuery, 500).always());
    let err = store
        .put_chunk(&s, 0, Bytes::from(vec![7u8; K256]), None)
        .await
        .expect_err("storm");
    assert!(
        matches!(
            err,
            BucketError::Http {
                status: 500,
                attempts: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_no_secrets(&err, &[&id, &s.handle]);
    f.clear_faults();
    // A cut connection's transport error, too.
    let mut o = emulator_opts(&f.host());
    o.retry = fast_retry(1);
    let store = open_with(&f, o).await;
    f.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::CutBody {
            after: 10,
            persist: Persist::Nothing,
        },
    ));
    let err = store
        .put_chunk(&s, 0, Bytes::from(vec![7u8; K256]), None)
        .await
        .expect_err("cut");
    assert!(matches!(err, BucketError::Transport { .. }), "{err:?}");
    assert_no_secrets(&err, &[&id, &s.handle]);
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn retry_logs_hide_tokens_keys_and_session_uris() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The process-wide subscriber (no other test of this binary sets one): a
    // thread-scoped one lost events to callsites that other tests, running
    // at the same time without a subscriber, registered first. Other tests'
    // lines land in the buffer too; only this test's secrets are looked for.
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");

    let f = fake();
    f.require_auth(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let email = "logger@proj.iam.gserviceaccount.com";
    let (private_pem, public_pem) = openssl_key(dir.path(), "log");
    f.register_service_account(email, &public_pem);
    let mut o = emulator_opts(&f.host());
    o.credentials = Some(write_key_file(dir.path(), email, &private_pem, &f.token_uri()));
    o.retry = fast_retry(3);
    let store = open_with(&f, o).await;
    let s = store.begin_upload("l.sql", &opts(false)).await.expect("begin");
    f.inject(Fault::status(RequestKind::ChunkPut, 503).always());
    f.inject(Fault::status(RequestKind::Token, 500));
    f.expire_tokens();
    let err = store
        .put_chunk(&s, 0, Bytes::from(vec![1u8; K256]), None)
        .await
        .expect_err("storm");
    assert!(err.is_retryable(), "{err:?}");
    f.clear_faults();

    let text = String::from_utf8(logs.0.lock().expect("log buffer").clone()).expect("utf-8 logs");
    assert!(text.contains("retrying"), "no retry was logged:\n{text}");
    let mut secrets = vec![upload_id(&f), s.handle.clone(), pem_body_line(&private_pem)];
    for r in f.requests() {
        if let Some(tok) = r.header("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
            secrets.push(tok.to_string());
        }
    }
    assert!(secrets.len() > 3, "no tokens were sent");
    for sec in &secrets {
        assert!(!text.contains(sec.as_str()), "secret {sec:?} in logs:\n{text}");
    }
}
