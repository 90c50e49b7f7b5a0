//! The file:// backend: resumable uploads, resume from a persisted session,
//! idempotent resends, checksum and overwrite rules, and that partial data is
//! never visible under an object's name.

mod common;

use std::path::Path;

use bucket::{
    crc32c_base64, BucketError, ChunkOutcome, Final, Location, Store, StoreOptions, UploadOptions,
    UploadStatus,
};
use bytes::Bytes;
use common::{data, persist_and_reload, read_all, K256};

async fn open(root: &Path) -> Store {
    let loc = Location::parse(&format!("file://{}", root.display())).expect("parse file location");
    Store::open(&loc, &StoreOptions::default())
        .await
        .expect("open file store")
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

fn partial_files(root: &Path) -> Vec<String> {
    match std::fs::read_dir(root.join(".src-snapshot-partial")) {
        Ok(rd) => rd
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".part"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn slice(d: &[u8], a: usize, b: usize) -> Bytes {
    Bytes::copy_from_slice(&d[a..b])
}

#[tokio::test]
async fn resumable_round_trip_in_three_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    assert_eq!(store.describe(), format!("file://{}", dir.path().display()));
    let d = data(2 * K256 + 100_000, 1);
    let s = store
        .begin_upload("db/frontend.sql", &opts(false))
        .await
        .expect("begin");
    assert_eq!(s.backend, "file");
    assert_eq!(partial_files(dir.path()).len(), 1);

    let r = store
        .put_chunk(&s, 0, slice(&d, 0, K256), None)
        .await
        .expect("chunk 1");
    assert_eq!(r, ChunkOutcome::Committed(K256 as u64));
    let r = store
        .put_chunk(&s, K256 as u64, slice(&d, K256, 2 * K256), None)
        .await
        .expect("chunk 2");
    assert_eq!(r, ChunkOutcome::Committed(2 * K256 as u64));
    let r = store
        .put_chunk(&s, 2 * K256 as u64, slice(&d, 2 * K256, d.len()), Some(fin(&d)))
        .await
        .expect("last");
    let ChunkOutcome::Finished(meta) = r else {
        panic!("expected Finished, got {r:?}")
    };
    assert_eq!(meta.name, "db/frontend.sql");
    assert_eq!(meta.size, d.len() as u64);
    assert_eq!(meta.crc32c, crc32c_base64(crc32c::crc32c(&d)));
    assert!(meta.md5.is_some());

    assert_eq!(
        std::fs::read(dir.path().join("db/frontend.sql")).expect("object file"),
        d
    );
    assert!(partial_files(dir.path()).is_empty(), "partial file left behind");
    assert_eq!(
        store.stat("db/frontend.sql").await.expect("stat"),
        Some(meta.clone())
    );
    assert_eq!(read_all(&store, "db/frontend.sql").await, d);
    assert_eq!(store.list().await.expect("list"), vec![meta.clone()]);
    // A lost reply to the last chunk: status and a resend both report the finished object.
    assert_eq!(
        store.upload_status(&s).await.expect("status"),
        UploadStatus::Finished(meta.clone())
    );
    let again = store
        .put_chunk(&s, 2 * K256 as u64, slice(&d, 2 * K256, d.len()), Some(fin(&d)))
        .await;
    assert_eq!(again.expect("resend last"), ChunkOutcome::Finished(meta));
}

#[tokio::test]
async fn resume_from_status_after_dropping_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(3 * K256 + 7, 2);
    let saved = {
        let store = open(dir.path()).await;
        let s = store
            .begin_upload("codeintel.sql", &opts(false))
            .await
            .expect("begin");
        store
            .put_chunk(&s, 0, slice(&d, 0, 2 * K256), None)
            .await
            .expect("chunk");
        serde_json::to_string(&s).expect("persist session")
        // store and session dropped here, as in a crash
    };
    let store = open(dir.path()).await;
    let s: bucket::UploadSession = serde_json::from_str(&saved).expect("reload session");
    let committed = match store.upload_status(&s).await.expect("status") {
        UploadStatus::Active { committed } => committed,
        other => panic!("expected Active, got {other:?}"),
    };
    assert_eq!(committed, 2 * K256 as u64);
    let r = store
        .put_chunk(
            &s,
            committed,
            slice(&d, committed as usize, d.len()),
            Some(fin(&d)),
        )
        .await;
    assert!(matches!(r, Ok(ChunkOutcome::Finished(_))), "{r:?}");
    assert_eq!(read_all(&store, "codeintel.sql").await, d);
}

#[tokio::test]
async fn overlapping_resends_are_idempotent_and_gaps_report_the_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let d = data(4 * K256 + 1, 3);
    let s = persist_and_reload(&store.begin_upload("x.sql", &opts(false)).await.expect("begin"));
    store
        .put_chunk(&s, 0, slice(&d, 0, 2 * K256), None)
        .await
        .expect("0..2");
    // Resend overlapping bytes 1..3: the file must not grow by the overlap.
    let r = store
        .put_chunk(&s, K256 as u64, slice(&d, K256, 3 * K256), None)
        .await
        .expect("1..3");
    assert_eq!(r, ChunkOutcome::Committed(3 * K256 as u64));
    assert_eq!(
        store.upload_status(&s).await.expect("status"),
        UploadStatus::Active {
            committed: 3 * K256 as u64
        }
    );
    // A chunk beyond what is stored: nothing written, the caller learns where to resume.
    let r = store
        .put_chunk(&s, 4 * K256 as u64, slice(&d, 4 * K256, d.len()), Some(fin(&d)))
        .await
        .expect("gap");
    assert_eq!(r, ChunkOutcome::Committed(3 * K256 as u64));
    let r = store
        .put_chunk(&s, 3 * K256 as u64, slice(&d, 3 * K256, d.len()), Some(fin(&d)))
        .await
        .expect("last");
    assert!(
        matches!(r, ChunkOutcome::Finished(ref m) if m.size == d.len() as u64),
        "{r:?}"
    );
    assert_eq!(read_all(&store, "x.sql").await, d);
}

#[tokio::test]
async fn crc_mismatch_on_finalize_deletes_the_partial() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let d = data(K256 + 10, 4);
    let s = store.begin_upload("bad.sql", &opts(false)).await.expect("begin");
    store
        .put_chunk(&s, 0, slice(&d, 0, K256), None)
        .await
        .expect("chunk");
    let wrong = Final {
        total_size: d.len() as u64,
        crc32c: crc32c::crc32c(&d) ^ 1,
    };
    let err = store
        .put_chunk(&s, K256 as u64, slice(&d, K256, d.len()), Some(wrong))
        .await
        .expect_err("mismatch");
    match &err {
        BucketError::ChecksumMismatch {
            object,
            expected,
            actual,
        } => {
            assert!(object.ends_with("/bad.sql"), "{object}");
            assert_eq!(expected, &crc32c_base64(wrong.crc32c));
            assert_eq!(actual, &crc32c_base64(crc32c::crc32c(&d)));
        }
        other => panic!("expected ChecksumMismatch, got {other}"),
    }
    assert!(!err.is_retryable());
    assert!(partial_files(dir.path()).is_empty(), "partial not deleted");
    assert!(!dir.path().join("bad.sql").exists());
    assert_eq!(store.stat("bad.sql").await.expect("stat"), None);
    assert_eq!(
        store.upload_status(&s).await.expect("status"),
        UploadStatus::Expired
    );
    let err = store
        .put_chunk(&s, 0, slice(&d, 0, K256), None)
        .await
        .expect_err("session gone");
    assert!(matches!(err, BucketError::SessionExpired { .. }), "{err}");
}

#[tokio::test]
async fn existing_objects_are_kept_unless_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let old = Bytes::from_static(b"old manifest");
    store
        .put_small("manifest.json", old.clone(), &opts(false))
        .await
        .expect("first put");

    // Refused at the start...
    let err = store
        .begin_upload("manifest.json", &opts(false))
        .await
        .expect_err("exists");
    assert!(matches!(err, BucketError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("--overwrite"), "{err}");
    let err = store
        .put_small("manifest.json", Bytes::from_static(b"new"), &opts(false))
        .await
        .expect_err("exists");
    assert!(matches!(err, BucketError::AlreadyExists { .. }), "{err}");

    // ...and at the end, when the object appeared during the upload.
    let d = data(1000, 5);
    let s = store.begin_upload("late.sql", &opts(false)).await.expect("begin");
    store
        .put_small("late.sql", old.clone(), &opts(true))
        .await
        .expect("someone else writes it");
    let err = store
        .put_chunk(&s, 0, Bytes::from(d.clone()), Some(fin(&d)))
        .await
        .expect_err("appeared meanwhile");
    assert!(matches!(err, BucketError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        read_all(&store, "late.sql").await,
        old.to_vec(),
        "existing object changed"
    );
    assert!(partial_files(dir.path()).is_empty());

    // With overwrite the object is replaced, also through a resumed session.
    let s = persist_and_reload(
        &store
            .begin_upload("late.sql", &opts(true))
            .await
            .expect("begin overwrite"),
    );
    let r = store
        .put_chunk(&s, 0, Bytes::from(d.clone()), Some(fin(&d)))
        .await
        .expect("overwrite");
    assert!(matches!(r, ChunkOutcome::Finished(_)));
    assert_eq!(read_all(&store, "late.sql").await, d);
    let meta = store
        .put_small("manifest.json", Bytes::from_static(b"new"), &opts(true))
        .await
        .expect("replace");
    assert_eq!(meta.size, 3);
    assert_eq!(read_all(&store, "manifest.json").await, b"new");
}

#[tokio::test]
async fn partial_data_is_never_visible_under_the_final_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let d = data(2 * K256 + 5, 6);
    let s = store
        .begin_upload("big/pgsql.sql", &opts(false))
        .await
        .expect("begin");
    store
        .put_chunk(&s, 0, slice(&d, 0, 2 * K256), None)
        .await
        .expect("chunk");
    assert!(!dir.path().join("big/pgsql.sql").exists());
    assert_eq!(store.stat("big/pgsql.sql").await.expect("stat"), None);
    let err = store
        .read("big/pgsql.sql")
        .await
        .err()
        .expect("read of a missing object");
    assert!(matches!(err, BucketError::NotFound { .. }), "{err}");
    assert!(
        store.list().await.expect("list").is_empty(),
        "list shows the partial upload"
    );
    // Cancel removes the partial data.
    store.cancel_upload(&s).await.expect("cancel");
    assert!(partial_files(dir.path()).is_empty());
    assert_eq!(
        store.upload_status(&s).await.expect("status"),
        UploadStatus::Expired
    );
}

#[tokio::test]
async fn list_stat_and_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let names = ["b.sql", "a/z.sql.gz", "a/b/c.json", "manifest.json"];
    for (i, n) in names.iter().enumerate() {
        store
            .put_small(n, Bytes::from(data(1000 + i, i as u64)), &opts(false))
            .await
            .expect("put");
    }
    // An empty object through the resumable path.
    let s = store.begin_upload("empty", &opts(false)).await.expect("begin");
    let r = store
        .put_chunk(
            &s,
            0,
            Bytes::new(),
            Some(Final {
                total_size: 0,
                crc32c: 0,
            }),
        )
        .await
        .expect("empty");
    assert!(
        matches!(r, ChunkOutcome::Finished(ref m) if m.size == 0 && m.crc32c == "AAAAAA=="),
        "{r:?}"
    );

    let listed = store.list().await.expect("list");
    let listed_names: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        listed_names,
        ["a/b/c.json", "a/z.sql.gz", "b.sql", "empty", "manifest.json"]
    );
    for m in &listed {
        let bytes = read_all(&store, &m.name).await;
        assert_eq!(m.size, bytes.len() as u64);
        assert_eq!(m.crc32c, crc32c_base64(crc32c::crc32c(&bytes)), "{}", m.name);
        assert_eq!(store.stat(&m.name).await.expect("stat").as_ref(), Some(m));
    }
    assert_eq!(store.stat("nope").await.expect("stat missing"), None);
    assert_eq!(store.stat("a").await.expect("stat a folder"), None);
    let err = store.read("nope").await.err().expect("read missing");
    assert!(
        matches!(err, BucketError::NotFound { ref object } if object.ends_with("/nope")),
        "{err}"
    );

    // The checksum cache follows changes made behind the store's back (size or mtime differ).
    std::fs::write(dir.path().join("b.sql"), b"changed").expect("rewrite");
    let m = store.stat("b.sql").await.expect("stat").expect("exists");
    assert_eq!(
        (m.size, m.crc32c.as_str()),
        (7, crc32c_base64(crc32c::crc32c(b"changed")).as_str())
    );
}

#[tokio::test]
async fn rule_breaking_calls_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let s = store.begin_upload("r.sql", &opts(false)).await.expect("begin");
    for (off, len, last) in [
        (0u64, 1000usize, None),
        (0, 0, None),
        (
            0,
            K256,
            Some(Final {
                total_size: (K256 + 1) as u64,
                crc32c: 0,
            }),
        ),
    ] {
        let err = store
            .put_chunk(&s, off, Bytes::from(vec![0u8; len]), last)
            .await
            .expect_err("bad chunk");
        assert!(matches!(err, BucketError::ChunkAlignment { .. }), "{err}");
    }
    for bad in ["", "../escape", "a//b", "/abs", ".src-snapshot-partial/x"] {
        let err = store.begin_upload(bad, &opts(false)).await.expect_err(bad);
        assert!(matches!(err, BucketError::BadName { .. }), "{bad}: {err}");
        assert!(store.stat(bad).await.is_err(), "{bad}");
    }
    // Sessions from elsewhere or tampered with.
    let mut other = s.clone();
    other.backend = "gcs".into();
    let err = store.upload_status(&other).await.expect_err("wrong backend");
    assert!(matches!(err, BucketError::InvalidSession { .. }), "{err}");
    let mut other = s.clone();
    other.handle = "/etc/passwd".into();
    let err = store
        .put_chunk(&other, 0, Bytes::from_static(b"x"), Some(fin(b"x")))
        .await
        .expect_err("outside");
    assert!(matches!(err, BucketError::InvalidSession { .. }), "{err}");

    let missing = dir.path().join("missing");
    let loc = Location::parse(&format!("file://{}", missing.display())).expect("parse");
    let err = Store::open(&loc, &StoreOptions::default())
        .await
        .expect_err("no root");
    assert!(matches!(err, BucketError::NoSuchBucket { .. }), "{err}");
    assert!(err.to_string().contains("hint"), "{err}");
}
