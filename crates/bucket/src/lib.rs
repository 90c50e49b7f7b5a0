//! Object storage for src-snapshot: one API, two backends.
//!
//! - **GCS** (`gs://bucket/prefix`): JSON API resumable uploads, simple
//!   multipart uploads, stat, list and media reads; service-account JWT auth;
//!   `STORAGE_EMULATOR_HOST` (or [`StoreOptions::emulator_host`]) for emulators.
//! - **File** (`file:///path`): a local folder with the same semantics
//!   (partial files that are renamed into place only when complete).
//!
//! This crate performs single protocol steps and keeps them honest: it sends
//! and checks CRC32C, compares the final size and checksum, retries transient
//! failures with exponential backoff and full jitter (honouring `Retry-After`),
//! bounds each request by a timeout, and never puts tokens, keys or session
//! URIs in errors or logs. Chunking, persisting [`UploadSession`]s and resuming
//! are the caller's job (crate `snapshot`).
//!
//! Object names are relative to the location's prefix everywhere, including in
//! [`ObjectMeta::name`].
#![deny(missing_docs)]

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Serialize};

mod error;
mod file;
mod gcs;
mod location;
pub mod redact;
mod retry;
mod util;

pub use error::BucketError;
pub use file::FileStore;
pub use gcs::GcsStore;
pub use location::Location;
pub use retry::RetryPolicy;
pub use util::{crc32c_base64, crc32c_from_base64, rfc3339, CHUNK_ALIGN};

/// A stream of an object's bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BucketError>> + Send>>;

/// Environment variable naming a GCS emulator (`host:port` or a URL).
pub const EMULATOR_ENV: &str = "STORAGE_EMULATOR_HOST";
/// Environment variable naming a service-account key file (Google's convention).
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// How to reach and authenticate to a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Service-account key JSON file (GCS). Not needed with an emulator or `file://`.
    pub credentials: Option<PathBuf>,
    /// Timeout of one request (default 120 s); for reads, the longest pause between received bytes.
    pub request_timeout: Duration,
    /// Retry budget per operation.
    pub retry: RetryPolicy,
    /// `User-Agent` header.
    pub user_agent: String,
    /// GCS emulator (`host:port`, or a URL with scheme): requests go there instead
    /// of `https://storage.googleapis.com`, without auth unless credentials are given.
    pub emulator_host: Option<String>,
}

impl Default for StoreOptions {
    /// Defaults without reading the environment (no emulator, no credentials).
    fn default() -> Self {
        StoreOptions {
            credentials: None,
            request_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            user_agent: format!("src-snapshot/{}", env!("CARGO_PKG_VERSION")),
            emulator_host: None,
        }
    }
}

impl StoreOptions {
    /// Defaults plus `STORAGE_EMULATOR_HOST` and `GOOGLE_APPLICATION_CREDENTIALS` when set and non-empty.
    pub fn from_env() -> StoreOptions {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        StoreOptions {
            emulator_host: var(EMULATOR_ENV),
            credentials: var(CREDENTIALS_ENV).map(PathBuf::from),
            ..StoreOptions::default()
        }
    }
}

/// How to write one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// Replace an existing object; when false the final write fails with
    /// [`BucketError::AlreadyExists`] if the object exists (GCS: `ifGenerationMatch=0`).
    pub overwrite: bool,
    /// The object's content type.
    pub content_type: String,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            overwrite: false,
            content_type: "application/octet-stream".into(),
        }
    }
}

/// A resumable upload in progress. Serializable so the uploader can persist it
/// and resume after a crash or reboot.
///
/// GCS: `handle` is the session URI, a capability (anyone holding it can write
/// the object): keep it only in the local state file. It is never printed in
/// errors, logs or `Debug` output. File: the path of the partial file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// Object name, relative to the prefix.
    pub name: String,
    /// `"gcs"` or `"file"`.
    pub backend: String,
    /// Session URI (GCS) or partial-file path (file).
    pub handle: String,
    /// When the session was started (RFC 3339 UTC); GCS sessions last a week.
    pub created_at: String,
}

impl std::fmt::Debug for UploadSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadSession")
            .field("name", &self.name)
            .field("backend", &self.backend)
            .field("handle", &redact::REDACTED)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What the server holds of a resumable upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStatus {
    /// Still open; `committed` bytes from the start are persisted.
    Active {
        /// Bytes persisted.
        committed: u64,
    },
    /// Finished; the object exists.
    Finished(ObjectMeta),
    /// The session is gone (expired, cancelled or never existed): start again.
    Expired,
}

/// Marks the last chunk of an upload with what the whole object must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Final {
    /// Size of the whole object.
    pub total_size: u64,
    /// CRC32C (Castagnoli) of the whole object.
    pub crc32c: u32,
}

/// Result of sending one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// The upload is open and the server holds this many bytes (may be less
    /// than the chunk's end: resend from there).
    Committed(u64),
    /// The last chunk was accepted and the object's size and CRC32C were checked.
    Finished(ObjectMeta),
}

/// An object's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Name relative to the location's prefix.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC32C, base64 of the big-endian bytes (GCS form).
    pub crc32c: String,
    /// MD5, base64 (absent for GCS composite objects).
    pub md5: Option<String>,
    /// GCS generation.
    pub generation: Option<String>,
    /// Last update time (RFC 3339).
    pub updated: Option<String>,
}

/// An open store: a GCS bucket or a local folder.
#[derive(Debug)]
pub enum Store {
    /// Google Cloud Storage (or an emulator).
    Gcs(GcsStore),
    /// A local folder.
    File(FileStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Gcs($s) => $e,
            Store::File($s) => $e,
        }
    };
}

impl Store {
    /// Opens a store: reads and checks the credentials (GCS) or that the root folder exists (file).
    /// Makes no network request.
    pub async fn open(loc: &Location, opts: &StoreOptions) -> Result<Store, BucketError> {
        match loc {
            Location::Gcs { bucket, prefix } => Ok(Store::Gcs(GcsStore::open(bucket, prefix, opts)?)),
            Location::File { root } => Ok(Store::File(FileStore::open(root, "").await?)),
        }
    }

    /// `gs://bucket/prefix` or `file:///path`, without secrets.
    pub fn describe(&self) -> String {
        dispatch!(self, s => s.describe())
    }

    /// Starts a resumable upload of `name` (relative to the prefix). With
    /// `overwrite=false` the final write fails if the object exists.
    pub async fn begin_upload(&self, name: &str, opts: &UploadOptions) -> Result<UploadSession, BucketError> {
        dispatch!(self, st => st.begin_upload(name, opts).await)
    }

    /// How many bytes the server has persisted (GCS: empty PUT with `Content-Range: bytes */*`).
    pub async fn upload_status(&self, s: &UploadSession) -> Result<UploadStatus, BucketError> {
        dispatch!(self, st => st.upload_status(s).await)
    }

    /// Sends bytes `[offset, offset + data.len())`. Non-final chunks must be a
    /// non-empty multiple of [`CHUNK_ALIGN`]; `last` marks the final chunk and
    /// carries the whole object's size and CRC32C, which are checked against
    /// what the server stored. Transient failures are retried within the
    /// [`RetryPolicy`]; each retry first asks the server what it has and resends
    /// only the rest. 404/410 give [`BucketError::SessionExpired`].
    pub async fn put_chunk(
        &self,
        s: &UploadSession,
        offset: u64,
        data: Bytes,
        last: Option<Final>,
    ) -> Result<ChunkOutcome, BucketError> {
        dispatch!(self, st => st.put_chunk(s, offset, data, last).await)
    }

    /// Abandons an upload (best effort; GCS: DELETE on the session URI).
    pub async fn cancel_upload(&self, s: &UploadSession) -> Result<(), BucketError> {
        dispatch!(self, st => st.cancel_upload(s).await)
    }

    /// An object's metadata, or `None` if it does not exist.
    pub async fn stat(&self, name: &str) -> Result<Option<ObjectMeta>, BucketError> {
        dispatch!(self, st => st.stat(name).await)
    }

    /// Streams an object's bytes; [`BucketError::NotFound`] if it does not exist.
    /// GCS: the stream ends with an error if the bytes do not match the
    /// server's `x-goog-hash` CRC32C or `Content-Length`.
    pub async fn read(&self, name: &str) -> Result<ByteStream, BucketError> {
        dispatch!(self, st => st.read(name).await)
    }

    /// All objects under the prefix, sorted by name (follows pagination).
    pub async fn list(&self) -> Result<Vec<ObjectMeta>, BucketError> {
        dispatch!(self, st => st.list().await)
    }

    /// Uploads a small object in one request, with the same overwrite rule and CRC32C check.
    pub async fn put_small(
        &self,
        name: &str,
        data: Bytes,
        opts: &UploadOptions,
    ) -> Result<ObjectMeta, BucketError> {
        dispatch!(self, st => st.put_small(name, data, opts).await)
    }
}

/// Checks a finished object's size and CRC32C against what the caller declared.
pub(crate) fn check_final(object: &str, meta: &ObjectMeta, fin: &Final) -> Result<(), BucketError> {
    if meta.size != fin.total_size {
        return Err(BucketError::SizeMismatch {
            object: object.into(),
            expected: fin.total_size,
            actual: meta.size,
        });
    }
    let expected = crc32c_base64(fin.crc32c);
    if crc32c_from_base64(&meta.crc32c) != Some(fin.crc32c) {
        let actual = if meta.crc32c.is_empty() {
            "no crc32c".to_string()
        } else {
            meta.crc32c.clone()
        };
        return Err(BucketError::ChecksumMismatch {
            object: object.into(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// Checks a non-final or final chunk against the alignment rules.
pub(crate) fn check_chunk(
    object: &str,
    offset: u64,
    len: u64,
    last: Option<&Final>,
) -> Result<(), BucketError> {
    let bad = |message: String| BucketError::ChunkAlignment {
        object: object.into(),
        offset,
        len,
        message,
    };
    match last {
        None if len == 0 => Err(bad("a non-final chunk must not be empty".into())),
        None if len % CHUNK_ALIGN != 0 => Err(bad(format!(
            "a non-final chunk must be a multiple of {CHUNK_ALIGN} bytes (256 KiB)"
        ))),
        Some(f) if offset.checked_add(len) != Some(f.total_size) => Err(bad(format!(
            "the final chunk must end at the declared total size {}",
            f.total_size
        ))),
        _ => Ok(()),
    }
}
