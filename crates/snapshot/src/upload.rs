//! `upload`: ship the snapshot's files to a bucket, resumably.
//!
//! Each object is sent as a resumable upload in chunks. After every chunk the
//! server acknowledges, the state (session, acknowledged offset and the
//! CRC32C of the acknowledged prefix) is saved next to the snapshot in
//! `DIR/.upload-state/`. A rerun — after `kill -9`, a reboot or a network cut —
//! asks the server how much it has, regenerates that prefix locally (the
//! stream is deterministic), checks it against the saved CRC32C, and sends
//! only the rest. A local file that changed is detected and its upload
//! restarts; an expired session restarts cleanly. The manifest is uploaded
//! last, so a bucket with a manifest holds a complete snapshot.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bucket::{ChunkOutcome, Final, ObjectMeta, Store, UploadOptions, UploadSession, UploadStatus};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use sha2::Sha256;

use crate::error::SnapshotError;
use crate::fsutil::{crc32c_base64, write_atomic_private};
use crate::manifest::{now_rfc3339, Manifest, UploadRecord, MANIFEST_FILE};
use crate::stream::{ObjectStream, Transform};

/// Chunk size of resumable uploads: a multiple of 256 KiB (GCS's rule).
/// 8 MiB: Google's recommended minimum for throughput, and memory stays
/// about two chunks per file being sent.
pub const DEFAULT_CHUNK: usize = 8 << 20;
const STATE_DIR: &str = ".upload-state";

/// One file to upload.
#[derive(Debug, Clone)]
pub struct UploadItem {
    /// Role in the manifest (pgsql, codeintel, codeinsights) or None for other files (summary.json).
    pub role: Option<String>,
    /// The local file.
    pub path: PathBuf,
    /// Object name, relative to the bucket prefix.
    pub object: String,
    /// How the file becomes the object.
    pub transform: Transform,
    /// Size and SHA-256 the manifest records for the file (checked while reading).
    pub expected: Option<(u64, String)>,
}

impl UploadItem {
    /// A dump of `role` at `path`, sent through `transform`; the object is
    /// named after the file (`.gz` added when gzipped).
    pub fn dump(role: &str, path: PathBuf, transform: Transform) -> UploadItem {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        UploadItem {
            role: Some(role.to_string()),
            object: if transform.gzip.is_some() {
                format!("{name}.gz")
            } else {
                name
            },
            path,
            transform,
            expected: None,
        }
    }
}

/// What `upload` does.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    /// The snapshot folder.
    pub dir: PathBuf,
    /// The files.
    pub items: Vec<UploadItem>,
    /// Replace objects that exist (otherwise they are never overwritten).
    pub overwrite: bool,
    /// Files uploaded at once.
    pub jobs: usize,
    /// Bytes per chunk (a multiple of 256 KiB).
    pub chunk_size: usize,
}

/// Progress events.
#[derive(Debug, Clone)]
pub enum UploadEvent {
    /// A file started; `resumed_at` is the offset the server already had.
    Started {
        /// Object name.
        object: String,
        /// Bytes of the local file.
        input_size: u64,
        /// Where the upload resumed (0 for a fresh one).
        resumed_at: u64,
    },
    /// Progress: local bytes read and bytes the server acknowledged.
    Progress {
        /// Object name.
        object: String,
        /// Bytes of the local file processed.
        input_done: u64,
        /// Bytes acknowledged by the server.
        sent: u64,
    },
    /// A file was already in the bucket and unchanged.
    Skipped {
        /// Object name.
        object: String,
    },
    /// A file finished.
    Done {
        /// Object name.
        object: String,
    },
    /// A note for the user (a restart and why).
    Note {
        /// Object name.
        object: String,
        /// What happened.
        message: String,
    },
}

/// Receives [`UploadEvent`]s (from several tasks).
pub type UploadProgress = Arc<dyn Fn(UploadEvent) + Send + Sync>;

/// Saved state of one unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct UploadState {
    object: String,
    location: String,
    session: UploadSession,
    source_size: u64,
    source_mtime_ns: u128,
    transform: Transform,
    acked: u64,
    acked_crc32c: u32,
    started_at: String,
    updated_at: String,
}

/// The result of one object's upload.
#[derive(Debug, Clone)]
pub struct UploadResult {
    /// The item.
    pub item: UploadItem,
    /// What the manifest records.
    pub record: UploadRecord,
    /// Whether it was already there.
    pub skipped: bool,
    /// Offset it resumed from.
    pub resumed_at: u64,
}

fn mtime_ns(path: &Path) -> Result<(u64, u128), SnapshotError> {
    let meta = std::fs::metadata(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok((meta.len(), mtime))
}

fn state_path(dir: &Path, object: &str) -> PathBuf {
    dir.join(STATE_DIR)
        .join(format!("{}.json", object.replace('/', "%2F")))
}

fn load_state(dir: &Path, object: &str) -> Option<UploadState> {
    let text = std::fs::read(state_path(dir, object)).ok()?;
    serde_json::from_slice(&text).ok()
}

fn save_state(dir: &Path, state: &UploadState) -> Result<(), SnapshotError> {
    let path = state_path(dir, &state.object);
    if let Some(parent) = path.parent() {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|source| SnapshotError::StateFile {
                path: parent.to_path_buf(),
                source,
            })?;
    }
    let text = serde_json::to_vec_pretty(state).map_err(|e| SnapshotError::Manifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    write_atomic_private(&path, &text).map_err(|e| match e {
        SnapshotError::Io { path, source } => SnapshotError::StateFile { path, source },
        e => e,
    })
}

fn clear_state(dir: &Path, object: &str) {
    let _ = std::fs::remove_file(state_path(dir, object));
}

/// Uploads every item (several at once), then the manifest.
///
/// # Errors
/// The first failure of each file, all listed; files that succeeded are
/// recorded in the manifest, which is only uploaded when all succeeded.
pub async fn upload(
    store: Arc<Store>,
    plan: &UploadPlan,
    progress: UploadProgress,
) -> Result<Vec<UploadResult>, SnapshotError> {
    let manifest = Manifest::load(&plan.dir)?;
    let semaphore = Arc::new(tokio::sync::Semaphore::new(plan.jobs.max(1)));
    let shared = Arc::new(tokio::sync::Mutex::new(manifest.clone()));
    let mut tasks = Vec::new();
    for mut item in plan.items.clone() {
        if let Some(f) = item.role.as_ref().and_then(|r| manifest.file(r)) {
            item.expected = Some((f.size, f.sha256.clone()));
            let actual = std::fs::metadata(&item.path).map(|m| m.len()).unwrap_or(0);
            if actual != f.size {
                return Err(SnapshotError::ChangedFile {
                    path: item.path.clone(),
                    detail: format!("{actual} bytes now, {} in the manifest", f.size),
                });
            }
        }
        let store = store.clone();
        let progress = progress.clone();
        let sem = semaphore.clone();
        let dir = plan.dir.clone();
        let prior = item
            .role
            .as_ref()
            .and_then(|r| manifest.file(r))
            .and_then(|f| f.upload.clone())
            .filter(|u| u.object == item.object);
        let (overwrite, chunk) = (plan.overwrite, plan.chunk_size);
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = upload_one(&store, &dir, item, prior, overwrite, chunk, progress).await?;
            // Record each object as soon as it is complete, so an interruption
            // later never loses it.
            let mut m = shared.lock().await;
            m.set_upload(r.item.role.as_deref(), r.record.clone());
            m.save(&dir)?;
            Ok::<_, SnapshotError>(r)
        }));
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(SnapshotError::Task(e.to_string())),
        }
    }
    SnapshotError::check_all(errors)?;
    upload_manifest(&store, &plan.dir).await?;
    Ok(results)
}

/// Uploads `dir/manifest.json`, replacing the bucket's: called last, so a
/// bucket with a manifest holds a complete snapshot.
///
/// # Errors
/// The manifest cannot be read or sent.
pub async fn upload_manifest(store: &Store, dir: &Path) -> Result<(), SnapshotError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read(&path).map_err(|source| SnapshotError::Io {
        path: path.clone(),
        source,
    })?;
    store
        .put_small(
            MANIFEST_FILE,
            text.into(),
            &UploadOptions {
                overwrite: true,
                content_type: "application/json".into(),
            },
        )
        .await
        .map_err(|e| SnapshotError::bucket(MANIFEST_FILE, e))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn upload_one(
    store: &Store,
    dir: &Path,
    item: UploadItem,
    prior: Option<UploadRecord>,
    overwrite: bool,
    chunk_size: usize,
    progress: UploadProgress,
) -> Result<UploadResult, SnapshotError> {
    let (size, mtime) = mtime_ns(&item.path)?;
    let location = store.describe();
    let obj = item.object.clone();

    // Already uploaded from this very file with this transform?
    if let Some(rec) = &prior {
        if rec.source_size == size
            && rec.source_mtime_ns == mtime
            && rec.transform == item.transform
            && rec.location == location
        {
            match store.stat(&obj).await {
                Ok(Some(meta)) if meta.size == rec.size && meta.crc32c == rec.crc32c => {
                    progress(UploadEvent::Skipped { object: obj });
                    return Ok(UploadResult {
                        item,
                        record: rec.clone(),
                        skipped: true,
                        resumed_at: rec.size,
                    });
                }
                // A write-only account cannot look: the recorded server response stands.
                Err(bucket::BucketError::PermissionDenied { .. }) => {
                    progress(UploadEvent::Skipped { object: obj });
                    return Ok(UploadResult {
                        item,
                        record: rec.clone(),
                        skipped: true,
                        resumed_at: rec.size,
                    });
                }
                _ => {}
            }
        }
    }

    // Resume a saved session when it is for this file, unchanged.
    let mut state = None;
    if let Some(s) = load_state(dir, &obj) {
        let same = s.location == location
            && s.transform == item.transform
            && s.source_size == size
            && s.source_mtime_ns == mtime;
        if !same {
            progress(UploadEvent::Note {
                object: obj.clone(),
                message:
                    "the local file or upload options changed since the interrupted upload; starting it again"
                        .into(),
            });
            let _ = store.cancel_upload(&s.session).await;
            clear_state(dir, &obj);
        } else {
            state = Some(s);
        }
    }
    let mut resume_from = 0u64;
    let mut finished = false;
    if let Some(s) = &state {
        match store
            .upload_status(&s.session)
            .await
            .map_err(|e| SnapshotError::bucket(&obj, e))?
        {
            UploadStatus::Active { committed } => resume_from = committed,
            UploadStatus::Expired => {
                progress(UploadEvent::Note {
                    object: obj.clone(),
                    message: "the upload session expired (sessions last a week); starting this file again"
                        .into(),
                });
                clear_state(dir, &obj);
                state = None;
            }
            // Completed, but the answer was lost (a crash right then): compare, send nothing.
            UploadStatus::Finished(_) => finished = true,
        }
    }
    let mut state = match state {
        Some(s) => s,
        None => {
            let begun = store
                .begin_upload(
                    &obj,
                    &UploadOptions {
                        overwrite,
                        content_type: content_type(&item),
                    },
                )
                .await;
            let session = match begun {
                Ok(s) => s,
                Err(e @ bucket::BucketError::AlreadyExists { .. }) => {
                    // Finished by an earlier run that stopped before recording it?
                    return match adopt_existing(store, &item, size, mtime, &location).await? {
                        Some(record) => {
                            progress(UploadEvent::Skipped { object: obj });
                            Ok(UploadResult {
                                item,
                                resumed_at: record.size,
                                record,
                                skipped: true,
                            })
                        }
                        None => Err(SnapshotError::bucket(&obj, e)),
                    };
                }
                Err(e) => return Err(SnapshotError::bucket(&obj, e)),
            };
            let s = UploadState {
                object: obj.clone(),
                location: location.clone(),
                session,
                source_size: size,
                source_mtime_ns: mtime,
                transform: item.transform.clone(),
                acked: 0,
                acked_crc32c: 0,
                started_at: now_rfc3339(),
                updated_at: now_rfc3339(),
            };
            save_state(dir, &s)?;
            s
        }
    };
    progress(UploadEvent::Started {
        object: obj.clone(),
        input_size: size,
        resumed_at: resume_from,
    });

    let stream = ObjectStream::open(&item.path, &item.transform)?;
    let outcome = send(
        store,
        dir,
        stream,
        &item,
        &mut state,
        resume_from,
        finished,
        chunk_size,
        &progress,
    )
    .await;
    let (meta, digests, report) = match outcome {
        Ok(v) => v,
        Err(SendError::Restart(reason)) => {
            progress(UploadEvent::Note {
                object: obj.clone(),
                message: format!("{reason}; starting this file again"),
            });
            let _ = store.cancel_upload(&state.session).await;
            clear_state(dir, &obj);
            return Box::pin(upload_one(
                store, dir, item, None, overwrite, chunk_size, progress,
            ))
            .await;
        }
        Err(SendError::Fatal(e)) => return Err(e),
    };
    clear_state(dir, &obj);
    progress(UploadEvent::Done { object: obj.clone() });
    let record = record_for(&item, &meta, digests.sha256, &report, (size, mtime), &location);
    Ok(UploadResult {
        item,
        record,
        skipped: false,
        resumed_at: resume_from,
    })
}

/// Sends one object made by `stream` (a pg_dump in progress) as a fresh
/// resumable upload. The stream cannot be replayed, so this cannot resume
/// across processes: a failure cancels the session and is returned for the
/// caller to start over.
///
/// # Errors
/// The bucket or the stream failed ([`SnapshotError::Interrupted`] when the
/// object must be started again).
pub async fn upload_stream(
    store: &Store,
    dir: &Path,
    item: &UploadItem,
    stream: ObjectStream,
    overwrite: bool,
    chunk_size: usize,
    progress: &UploadProgress,
) -> Result<(UploadRecord, crate::stream::SourceReport), SnapshotError> {
    let obj = item.object.clone();
    let location = store.describe();
    let session = store
        .begin_upload(
            &obj,
            &UploadOptions {
                overwrite,
                content_type: content_type(item),
            },
        )
        .await
        .map_err(|e| SnapshotError::bucket(&obj, e))?;
    let mut state = UploadState {
        object: obj.clone(),
        location: location.clone(),
        session,
        source_size: 0,
        source_mtime_ns: 0,
        transform: item.transform.clone(),
        acked: 0,
        acked_crc32c: 0,
        started_at: now_rfc3339(),
        updated_at: now_rfc3339(),
    };
    progress(UploadEvent::Started {
        object: obj.clone(),
        input_size: 0,
        resumed_at: 0,
    });
    let sent = send(
        store, dir, stream, item, &mut state, 0, false, chunk_size, progress,
    )
    .await;
    clear_state(dir, &obj);
    match sent {
        Ok((meta, digests, report)) => {
            progress(UploadEvent::Done { object: obj });
            let record = record_for(
                item,
                &meta,
                digests.sha256,
                &report,
                (report.input_bytes, 0),
                &location,
            );
            Ok((record, report))
        }
        Err(e) => {
            let _ = store.cancel_upload(&state.session).await;
            Err(match e {
                SendError::Restart(reason) => SnapshotError::Interrupted { object: obj, reason },
                SendError::Fatal(e) => e,
            })
        }
    }
}

/// An object that exists although no record says we uploaded it: adopt it
/// when its size and CRC32C equal the local stream's (an earlier run
/// finished it and was stopped before writing it down), else None.
async fn adopt_existing(
    store: &Store,
    item: &UploadItem,
    source_size: u64,
    source_mtime_ns: u128,
    location: &str,
) -> Result<Option<UploadRecord>, SnapshotError> {
    let meta = match store.stat(&item.object).await {
        Ok(Some(m)) => m,
        Ok(None) | Err(_) => return Ok(None),
    };
    let mut stream = ObjectStream::open(&item.path, &item.transform)?;
    let (mut sha, mut crc, mut size) = (Sha256::new(), 0u32, 0u64);
    // (A changed file cannot match the object's checksum, so no separate check here.)
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stream.read_some(&mut buf);
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        size += n as u64;
    }
    let report = stream.finish()?;
    if meta.size != size || meta.crc32c != crc32c_base64(crc) {
        return Ok(None);
    }
    let d = digests(sha);
    Ok(Some(record_for(
        item,
        &meta,
        d.sha256,
        &report,
        (source_size, source_mtime_ns),
        location,
    )))
}

/// The manifest's record of a finished object.
fn record_for(
    item: &UploadItem,
    meta: &ObjectMeta,
    sha256: String,
    report: &crate::stream::SourceReport,
    (source_size, source_mtime_ns): (u64, u128),
    location: &str,
) -> UploadRecord {
    let sanitize = item.transform.sanitize.as_ref();
    UploadRecord {
        object: item.object.clone(),
        location: location.to_string(),
        size: meta.size,
        crc32c: meta.crc32c.clone(),
        md5: meta.md5.clone().unwrap_or_default(),
        sha256,
        generation: meta.generation.clone(),
        gzip: item.transform.gzip,
        sanitizer: sanitize.map(|s| s.profile.name().to_string()),
        target_major: sanitize.map(|s| s.target_major),
        uncompressed_size: report.uncompressed_bytes,
        changes: report.scan.as_ref().map_or(0, |s| s.changes.len()),
        source_size,
        source_mtime_ns,
        transform: item.transform.clone(),
        uploaded_at: now_rfc3339(),
    }
}

fn content_type(item: &UploadItem) -> String {
    if item.transform.gzip.is_some() {
        "application/gzip".into()
    } else if item.object.ends_with(".json") {
        "application/json".into()
    } else {
        "application/sql".into()
    }
}

enum SendError {
    /// Start the file over (local bytes changed, the server's object differs).
    Restart(String),
    Fatal(SnapshotError),
}

struct Digests {
    sha256: String,
}

/// Streams the object from the start. Bytes the server already has are
/// only hashed (and the saved prefix checked), the rest is sent in chunks;
/// after each acknowledgement the state is saved. `finished` means the
/// server completed the object before we saw its answer: then nothing is
/// sent and the object is compared with the stream.
#[allow(clippy::too_many_arguments)]
async fn send(
    store: &Store,
    dir: &Path,
    stream: ObjectStream,
    item: &UploadItem,
    state: &mut UploadState,
    resume_from: u64,
    finished: bool,
    chunk_size: usize,
    progress: &UploadProgress,
) -> Result<(ObjectMeta, Digests, crate::stream::SourceReport), SendError> {
    let obj = item.object.clone();
    let fatal = |e: SnapshotError| SendError::Fatal(e);
    let mut stream = stream;
    let (mut sha, mut crc) = (Sha256::new(), 0u32);
    let mut server_at = if finished { u64::MAX } else { resume_from };
    // Bytes read but not yet acknowledged: [win_start, win_start + win.len()).
    let mut win: Vec<u8> = Vec::with_capacity(chunk_size + (1 << 20));
    let mut win_start = 0u64;
    let mut crc_at_win_start = 0u32;
    let mut ended = false;
    let mut read_buf = vec![0u8; 1 << 20];
    let input_done = stream.progress.clone();
    let mut report: Option<crate::stream::SourceReport> = None;

    loop {
        // 1. Read until a chunk is ready or the stream ends.
        while !ended && win.len() < chunk_size {
            let n = stream.read_some(&mut read_buf);
            if n == 0 {
                ended = true;
                let r = stream.finish().map_err(fatal)?;
                if let Some((_, sha)) = &item.expected {
                    if *sha != r.input_sha256 {
                        return Err(SendError::Fatal(SnapshotError::ChangedFile {
                            path: item.path.clone(),
                            detail: "its SHA-256 differs from the manifest's".into(),
                        }));
                    }
                }
                report = Some(r);
                break;
            }
            let fresh = &read_buf[..n];
            sha.update(fresh);
            crc = crc32c::crc32c_append(crc, fresh);
            win.extend_from_slice(fresh);
        }
        let total_read = win_start + win.len() as u64;

        // 2. Drop what the server has, checking the saved prefix on the way.
        let have = server_at.min(total_read);
        if have > win_start {
            let drop = (have - win_start) as usize;
            if state.acked >= win_start && state.acked <= have {
                let at = crc32c::crc32c_append(crc_at_win_start, &win[..(state.acked - win_start) as usize]);
                if at != state.acked_crc32c {
                    return Err(SendError::Restart(
                        "the local bytes differ from those already uploaded".into(),
                    ));
                }
            }
            crc_at_win_start = crc32c::crc32c_append(crc_at_win_start, &win[..drop]);
            win.drain(..drop);
            win_start = have;
        }
        if finished {
            if !ended {
                continue;
            }
            let meta = store
                .stat(&obj)
                .await
                .map_err(|e| fatal(SnapshotError::bucket(&obj, e)))?;
            return match meta {
                Some(m) if m.size == total_read && m.crc32c == crc32c_base64(crc) => {
                    Ok((m, digests(sha), report.take().unwrap_or_default()))
                }
                _ => Err(SendError::Restart(
                    "the object completed earlier does not match the local stream".into(),
                )),
            };
        }
        if server_at > total_read {
            if ended {
                return Err(SendError::Restart(
                    "the server holds more bytes than the local stream has".into(),
                ));
            }
            progress(UploadEvent::Progress {
                object: obj.clone(),
                input_done: input_done.load(Ordering::Relaxed),
                sent: total_read,
            });
            continue;
        }

        if !ended && win.len() < chunk_size {
            // The server kept part of the window: read on before sending.
            continue;
        }
        // 3. Send a chunk: 256 KiB-aligned unless it is the last.
        let last = ended.then_some(Final {
            total_size: total_read,
            crc32c: crc,
        });
        let len = if last.is_some() {
            win.len()
        } else {
            (win.len() / (256 << 10)) * (256 << 10)
        };
        // Hand the window's buffer to the request without copying it; what
        // the server does not take comes back as the next window.
        let mut rest = win.split_off(len);
        // Exactly one chunk's room: growth by doubling would hold twice that.
        rest.reserve_exact((chunk_size + (1 << 20)).saturating_sub(rest.len()));
        let data = bytes::Bytes::from(std::mem::replace(&mut win, rest));
        match store
            .put_chunk(&state.session, win_start, data.clone(), last)
            .await
        {
            Ok(ChunkOutcome::Finished(meta)) => {
                return Ok((meta, digests(sha), report.take().unwrap_or_default()));
            }
            Ok(ChunkOutcome::Committed(n)) => {
                if n < win_start || n > win_start + len as u64 {
                    return Err(SendError::Restart(format!(
                        "the server reported {n} bytes stored while {win_start}..{} were being sent",
                        win_start + len as u64
                    )));
                }
                let taken = (n - win_start) as usize;
                crc_at_win_start = crc32c::crc32c_append(crc_at_win_start, &data[..taken]);
                if taken < data.len() {
                    let mut back = Vec::with_capacity(chunk_size + (1 << 20) + win.len());
                    back.extend_from_slice(&data[taken..]);
                    back.extend_from_slice(&win);
                    win = back;
                }
                win_start = n;
                server_at = n;
                state.acked = n;
                state.acked_crc32c = crc_at_win_start;
                state.updated_at = now_rfc3339();
                save_state(dir, state).map_err(fatal)?;
                progress(UploadEvent::Progress {
                    object: obj.clone(),
                    input_done: input_done.load(Ordering::Relaxed),
                    sent: n,
                });
            }
            Err(bucket::BucketError::SessionExpired { .. }) => {
                return Err(SendError::Restart("the upload session expired".into()));
            }
            Err(e) => return Err(SendError::Fatal(SnapshotError::bucket(&obj, e))),
        }
    }
}

/// MD5 is left to the server (GCS and the file backend report it): computing
/// it here too would cost more CPU than the sanitizer.
fn digests(sha: Sha256) -> Digests {
    Digests {
        sha256: sha.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    }
}
