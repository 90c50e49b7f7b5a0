//! An in-process, fault-injecting fake of the Google Cloud Storage JSON API,
//! stricter than fake-gcs-server, for testing resumable uploads, checksums,
//! auth and retries (REFERENCE.md §3).
//!
//! [`GcsFake::start`] binds `127.0.0.1:0` and serves plain HTTP/1.1 from its
//! own thread and tokio runtime, so sync and async tests can use it; it stops
//! when dropped. Point clients at it with `STORAGE_EMULATOR_HOST=`[`GcsFake::host`].
//!
//! # Implemented like real GCS
//! - Resumable uploads: `POST /upload/storage/v1/b/B/o?uploadType=resumable&name=N`
//!   (name may also come from the JSON metadata body; `contentType`, `crc32c`,
//!   `md5Hash` in that body and `X-Upload-Content-Type` / `X-Upload-Content-Length`
//!   headers are honoured) answers 200 with a `Location` session URI
//!   (`...&upload_id=ID`) and `X-GUploader-UploadID`; 404 for a missing bucket.
//! - Session `PUT`s: `Content-Range: bytes a-b/*` (length must equal the body and
//!   be a multiple of 256 KiB, else 400) answers 308 with `Range: bytes=0-N`
//!   (no `Range` when nothing is persisted); `bytes a-b/TOTAL` is the final chunk
//!   (`b` must be `TOTAL-1`); `bytes */*` is a status query; `bytes */TOTAL`
//!   finalizes when all `TOTAL` bytes are present (else 308); no `Content-Range`
//!   is a one-shot upload of the whole object. Bytes before the committed offset
//!   are ignored (resends are idempotent); a chunk starting beyond it is a 400.
//!   Query values are form-decoded as by Google's front ends, so a `+` in a
//!   name must be sent as `%2B`.
//! - Finalize verifies `x-goog-hash: crc32c=…[,md5=…]` (and metadata
//!   `crc32c`/`md5Hash` from initiation) over the whole object: a mismatch is a
//!   400 with GCS's wording, no object is created and the session is discarded
//!   (410 afterwards). A declared `X-Upload-Content-Length` must match.
//!   `ifGenerationMatch` (0 = must not exist) is checked at initiation and again
//!   at finalize (412). Success: 200 with object metadata JSON (`size` as a
//!   string, base64 `crc32c` and `md5Hash`, `generation`, ...). Later requests to
//!   a finished session answer the same 200.
//! - `DELETE <session>` cancels: 499, then 410 for the session.
//! - `GET /storage/v1/b/B/o/NAME` (metadata), `GET …?alt=media` and
//!   `GET /download/storage/v1/b/B/o/NAME?alt=media` (bytes, with `x-goog-hash`,
//!   `x-goog-generation`, single `Range: bytes=` requests → 206/416),
//!   `?generation=G`, `DELETE` of objects (204). Object names must be
//!   percent-encoded in paths: a raw `/` in the name is a 404.
//! - Listing `GET /storage/v1/b/B/o?prefix=&pageToken=&maxResults=`, sorted by
//!   name, page size 2 by default ([`GcsFake::set_page_size`]) to force
//!   pagination; an empty page has no `items` key, as in GCS.
//! - `POST /upload/storage/v1/b/B/o?uploadType=media&name=N` (simple upload)
//!   with `ifGenerationMatch` and `x-goog-hash`; `POST /storage/v1/b` and
//!   `GET /storage/v1/b/B` (buckets).
//! - `POST /token`: the OAuth2 JWT-bearer grant. The RS256 assertion must be
//!   signed by a key registered with [`GcsFake::register_service_account`], with
//!   `aud` = [`GcsFake::token_uri`], `iat`/`exp` sane (≤ 1 h), and a `scope`;
//!   errors are 400 `{"error":"invalid_grant",...}`. With
//!   [`GcsFake::require_auth`], every storage request except session `PUT`/`DELETE`
//!   (the session URI is the capability, as in GCS) needs `Authorization: Bearer`
//!   with an unexpired issued token (401 otherwise); a read-only scope cannot write.
//! - Permissions per caller ([`Access`]): a write-only account (objectCreator)
//!   gets 403 on reads and lists and on overwriting an existing object.
//!
//! # Not implemented
//! Multipart uploads, `delimiter`/`prefixes` listing (400), object versioning
//! and other preconditions (`ifGenerationNotMatch`, `ifMetagenerationMatch`),
//! metadata patch/compose/copy/rewrite, ACLs and IAM endpoints, HTTPS, HTTP/2,
//! XML API, signed URLs, session expiry by time (use [`GcsFake::expire_session`]
//! or [`FaultAction::ExpireSession`]), server-side rounding of committed bytes
//! on its own (only through [`FaultAction::CutBody`]).
//!
//! # Faults
//! [`GcsFake::inject`] queues [`Fault`]s; each matches a [`RequestKind`] (and
//! optionally an object name) and fires on the next N / the n-th / every
//! matching request. The first injected fault that fires wins. See
//! [`FaultAction`] for status storms, cut connections with partial persistence,
//! partial commits, drops after persisting, expired sessions, corrupt storage, wrong reported
//! checksums, slow links and stalls. [`GcsFake::requests`] records every request
//! with the fault that hit it.

mod auth;
mod fault;
mod http;
mod route;
mod server;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

pub use auth::{
    sign_jwt_with_test_key, test_private_key_pem, test_service_account_json, TEST_PUBLIC_KEY_PEM,
};
pub use fault::{Fault, FaultAction, Persist, RequestKind, Select};
pub use store::GRANULARITY;

use server::Shared;
use store::State;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read, list, create, overwrite, delete (objectAdmin).
    ReadWrite,
    /// Create new objects only: no reads, lists, overwrites or deletes (objectCreator).
    WriteOnly,
    /// Read and list only (objectViewer).
    ReadOnly,
    /// Nothing.
    NoAccess,
}

/// Life-cycle state of an upload session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Accepting chunks.
    Active,
    /// The object was created.
    Finalized,
    /// Cancelled with `DELETE`.
    Cancelled,
    /// Expired by the test or a fault.
    Expired,
    /// Finalize failed (checksum, size, precondition or permission); data discarded.
    Failed,
}

/// An upload session as the fake sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The `upload_id` query parameter of the session URI.
    pub upload_id: String,
    /// Bucket.
    pub bucket: String,
    /// Object name.
    pub name: String,
    /// Bytes persisted (the final size once finalized).
    pub committed: u64,
    /// Resent bytes that were already committed and so ignored.
    pub ignored_overlap: u64,
    /// State.
    pub state: SessionState,
    /// Who initiated it (client_email, or `anonymous caller`).
    pub principal: String,
}

/// A stored object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Object name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Generation.
    pub generation: u64,
    /// Recorded crc32c, base64 of the big-endian value (stays as uploaded after corruption).
    pub crc32c: String,
    /// Recorded MD5, base64.
    pub md5: String,
    /// Content type.
    pub content_type: String,
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Arrival order (shared counter with sessions).
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path and query as sent (session ids included).
    pub path: String,
    /// Classification.
    pub kind: RequestKind,
    /// Session id for session requests.
    pub upload_id: Option<String>,
    /// Object the request concerns, when known before the body is read.
    pub object: Option<String>,
    /// All headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes the fake read (less than sent when cut).
    pub body_len: u64,
    /// Status answered; `None` when the connection was dropped without a response.
    pub status: Option<u16>,
    /// The fault that fired on this request.
    pub fault: Option<FaultAction>,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The running fake. Stops (and drops all state) on `Drop`.
pub struct GcsFake {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GcsFake {
    /// Starts a fake on `127.0.0.1:<free port>` with no buckets, auth off, full access.
    pub fn start() -> GcsFake {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("gcs_fake: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("gcs_fake: non-blocking listener");
        let addr = listener.local_addr().expect("gcs_fake: local address");
        let shared = Arc::new(Shared::new(State::new(format!("http://{addr}"))));
        let (stop, stopped) = oneshot::channel();
        let server_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("gcs-fake-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("gcs_fake: tokio runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("gcs_fake: tokio listener");
                    server::serve(listener, server_shared, stopped).await;
                });
                // Dropping the runtime cancels connections still in flight (stalls included).
            })
            .expect("gcs_fake: spawn server thread");
        GcsFake {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`, the value for `STORAGE_EMULATOR_HOST`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/token`, the `token_uri` (and JWT `aud`) for service-account keys.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// Creates a bucket (no-op if it exists).
    pub fn create_bucket(&self, name: &str) {
        self.shared.lock().create_bucket(name);
    }

    /// Stores an object directly (creating the bucket if needed), with a new generation.
    pub fn put_object(&self, bucket: &str, name: &str, bytes: impl Into<Vec<u8>>) {
        self.shared.lock().put_object(bucket, name, bytes.into());
    }

    /// An object's bytes.
    pub fn object(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        self.shared.lock().object(bucket, name)
    }

    /// An object's metadata.
    pub fn object_info(&self, bucket: &str, name: &str) -> Option<ObjectInfo> {
        self.shared.lock().object_info(bucket, name)
    }

    /// All objects of a bucket, sorted by name.
    pub fn objects(&self, bucket: &str) -> Vec<(String, Vec<u8>)> {
        self.shared.lock().objects(bucket)
    }

    /// Deletes an object directly; whether it existed.
    pub fn delete_object(&self, bucket: &str, name: &str) -> bool {
        self.shared.lock().delete_object(bucket, name)
    }

    /// Flips every bit of the stored byte at `offset` (clamped), keeping the recorded
    /// checksums, as bit rot would; whether the object exists and is non-empty.
    pub fn corrupt_object(&self, bucket: &str, name: &str, offset: u64) -> bool {
        self.shared.lock().flip_byte(bucket, name, offset)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Every upload session ever initiated, oldest first.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.lock().sessions()
    }

    /// Expires an active session: later requests to it get 404 (as GCS answers for expired
    /// sessions). Whether it was active.
    pub fn expire_session(&self, upload_id: &str) -> bool {
        self.shared.lock().expire_session(upload_id, 404)
    }

    /// Expires every active session (404 afterwards).
    pub fn expire_all_sessions(&self) {
        self.shared.lock().expire_all_sessions(404);
    }

    /// Queues a fault.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Drops all queued faults.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Queued faults that can still fire.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.pending()
    }

    /// Largest list page (default 2, to force pagination; GCS uses 1000).
    pub fn set_page_size(&self, n: usize) {
        self.shared.lock().config.page_size = n.max(1);
    }

    /// Non-final chunk granularity (default 256 KiB, as GCS); also the unit of [`Persist::RoundDown`].
    pub fn set_chunk_granularity(&self, bytes: u64) {
        self.shared.lock().config.granularity = bytes.max(1);
    }

    /// Requires `Authorization: Bearer <issued token>` on storage requests (default off).
    pub fn require_auth(&self, on: bool) {
        self.shared.lock().config.require_auth = on;
    }

    /// Registers a service account's public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`
    /// PEM). Panics on a malformed key.
    pub fn register_service_account(&self, client_email: &str, public_key_pem: &str) {
        let der = auth::parse_public_key_pem(public_key_pem)
            .unwrap_or_else(|e| panic!("gcs_fake: bad public key for {client_email}: {e}"));
        self.shared.lock().register_account(client_email, der);
    }

    /// Registers `client_email` with the built-in test key and returns its service-account JSON
    /// key file text (`token_uri` = [`Self::token_uri`]).
    pub fn test_service_account(&self, client_email: &str) -> String {
        self.shared
            .lock()
            .register_account(client_email, auth::test_public_key_pkcs1());
        test_service_account_json(client_email, &self.token_uri())
    }

    /// `expires_in` of issued tokens (default 3599 s); a token expires that long after issue.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.lock().config.token_lifetime = lifetime;
    }

    /// Expires every token issued so far (later requests with them get 401).
    pub fn expire_tokens(&self) {
        self.shared.lock().expire_tokens();
    }

    /// How many tokens the token endpoint has issued.
    pub fn issued_tokens(&self) -> usize {
        self.shared.lock().issued_tokens()
    }

    /// Access of callers without an explicit grant, anonymous ones included (default ReadWrite).
    pub fn set_default_access(&self, access: Access) {
        self.shared.lock().config.default_access = access;
    }

    /// Access of one service account (by client_email), overriding the default.
    pub fn set_account_access(&self, client_email: &str, access: Access) {
        self.shared
            .lock()
            .config
            .account_access
            .insert(client_email.to_string(), access);
    }

    /// Makes every caller write-only (`true`) or read-write again (`false`), as a customer's
    /// objectCreator service account: reads and lists → 403.
    pub fn set_write_only(&self, on: bool) {
        self.set_default_access(if on { Access::WriteOnly } else { Access::ReadWrite });
    }

    /// Makes one account read-only: uploads and deletes → 403.
    pub fn deny_writes_for(&self, client_email: &str) {
        self.set_account_access(client_email, Access::ReadOnly);
    }
}

impl Drop for GcsFake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for GcsFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsFake")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
