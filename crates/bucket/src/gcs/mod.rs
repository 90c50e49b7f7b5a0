//! The GCS backend: JSON API resumable and multipart uploads, stat, list and
//! media reads, with retries, timeouts and service-account auth.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, Url};
use serde_json::Value;

use crate::error::retryable_status;
use crate::redact::redact;
use crate::retry::{parse_retry_after, RetryState};
use crate::util::{check_object_name, crc32c_base64, crc32c_from_base64, enc, rfc3339, CHUNK_ALIGN};
use crate::{
    check_chunk, check_final, BucketError, ByteStream, ChunkOutcome, Final, ObjectMeta, RetryPolicy,
    StoreOptions, UploadOptions, UploadSession, UploadStatus,
};

mod auth;

use auth::{Authenticator, ServiceAccount};

const BACKEND: &str = "gcs";
const GCS_BASE: &str = "https://storage.googleapis.com";

/// A GCS bucket (or an emulator's), with an object-name prefix.
#[derive(Clone)]
pub struct GcsStore {
    client: Client,
    base: String,
    bucket: String,
    prefix: String,
    auth: Option<Arc<Authenticator>>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for GcsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsStore")
            .field("base", &self.base)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field(
                "auth",
                &self.auth.as_ref().map(|a| a.account.client_email.as_str()),
            )
            .finish_non_exhaustive()
    }
}

/// One HTTP reply with its body read.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

/// The result of one attempt.
enum Attempt {
    /// A reply that is not worth retrying (success or a permanent error).
    Reply(Reply),
    /// A transient failure; wait and try again (within the budget).
    Retry {
        err: BucketError,
        after: Option<Duration>,
    },
}

/// What a request was for (picks the 403 hint).
#[derive(Clone, Copy)]
enum Access {
    Write,
    Read,
}

impl GcsStore {
    /// Opens `gs://bucket/prefix`: loads the credentials (required unless an
    /// emulator is used) and builds the HTTP client. No request is made.
    pub fn open(bucket: &str, prefix: &str, opts: &StoreOptions) -> Result<GcsStore, BucketError> {
        let base = match opts
            .emulator_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            Some(h) if h.contains("://") => h.trim_end_matches('/').to_string(),
            Some(h) => format!("http://{}", h.trim_end_matches('/')),
            None => GCS_BASE.to_string(),
        };
        if Url::parse(&base).is_err() {
            return Err(BucketError::BadLocation {
                input: base,
                message: "the emulator host is not host:port or a URL".into(),
            });
        }
        let auth = match &opts.credentials {
            Some(path) => Some(Authenticator::new(ServiceAccount::load(path)?)),
            None if opts.emulator_host.is_some() => None,
            None => {
                return Err(BucketError::Credentials {
                    path: PathBuf::from("(none given)"),
                    message: format!("gs://{bucket} needs credentials"),
                    hint: "pass -credentials=KEY.json (a service-account key) or set GOOGLE_APPLICATION_CREDENTIALS; \
                           set STORAGE_EMULATOR_HOST to use an emulator"
                        .into(),
                });
            }
        };
        let client = Client::builder()
            .user_agent(opts.user_agent.clone())
            // 308 is GCS's "resume incomplete", not a redirect; and auth must not follow redirects.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(opts.request_timeout.min(Duration::from_secs(30)))
            .read_timeout(opts.request_timeout)
            .build()
            .map_err(|e| transport_error(&format!("gs://{bucket}"), e, 0, &[]))?;
        Ok(GcsStore {
            client,
            base,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            auth,
            timeout: opts.request_timeout,
            retry: opts.retry.clone(),
        })
    }

    /// `gs://bucket/prefix`.
    pub fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("gs://{}", self.bucket)
        } else {
            format!("gs://{}/{}", self.bucket, self.prefix)
        }
    }

    /// Full object name in the bucket.
    fn full_name(&self, name: &str) -> Result<String, BucketError> {
        check_object_name(name).map_err(|message| BucketError::BadName {
            name: name.into(),
            message,
        })?;
        Ok(if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        })
    }

    /// `gs://bucket/prefix/name`, for errors.
    fn label(&self, name: &str) -> String {
        format!("{}/{name}", self.describe())
    }

    /// Name relative to the prefix, from a full object name.
    fn relative<'a>(&self, full: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            full
        } else {
            full.strip_prefix(self.prefix.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or(full)
        }
    }

    fn object_url(&self, full: &str) -> String {
        format!("{}/storage/v1/b/{}/o/{}", self.base, enc(&self.bucket), enc(full))
    }

    /// One attempt: sends the request (with a bearer token when `with_auth`),
    /// reads the whole reply, and sorts transient failures from answers.
    async fn attempt(
        &self,
        rs: &mut RetryState,
        label: &str,
        secrets: &[&str],
        with_auth: bool,
        build: &(dyn Fn() -> RequestBuilder + Sync),
    ) -> Result<Attempt, BucketError> {
        rs.attempts += 1;
        let mut req = build().timeout(self.timeout);
        let mut token = String::new();
        if with_auth {
            if let Some(a) = &self.auth {
                token = a.token(&self.client, &self.retry, self.timeout).await?;
                req = req.bearer_auth(&token);
            }
        }
        let mut all_secrets: Vec<&str> = secrets.to_vec();
        all_secrets.push(&token);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::Retry {
                    err: transport_error(label, e, rs.attempts, &all_secrets),
                    after: None,
                })
            }
        };
        let status = resp.status().as_u16();
        rs.last_status = Some(status);
        let headers = resp.headers().clone();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Ok(Attempt::Retry {
                    err: transport_error(label, e, rs.attempts, &all_secrets),
                    after: None,
                })
            }
        };
        if retryable_status(status) {
            let after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let message = server_message(&body, &all_secrets);
            let err = BucketError::Http {
                status,
                object: label.into(),
                message,
                attempts: rs.attempts,
            };
            return Ok(Attempt::Retry { err, after });
        }
        if status == 401 && with_auth && !rs.refreshed_auth {
            if let Some(a) = &self.auth {
                // A revoked or early-expired token: fetch a fresh one once.
                rs.refreshed_auth = true;
                a.invalidate().await;
                let err = self.reply_error(
                    &Reply {
                        status,
                        headers,
                        body,
                    },
                    label,
                    Access::Read,
                    rs.attempts,
                    &all_secrets,
                );
                return Ok(Attempt::Retry {
                    err,
                    after: Some(Duration::ZERO),
                });
            }
        }
        Ok(Attempt::Reply(Reply {
            status,
            headers,
            body,
        }))
    }

    /// Attempts until a non-transient reply or the retry budget is spent.
    async fn exchange(
        &self,
        rs: &mut RetryState,
        label: &str,
        secrets: &[&str],
        with_auth: bool,
        build: &(dyn Fn() -> RequestBuilder + Sync),
    ) -> Result<Reply, BucketError> {
        loop {
            match self.attempt(rs, label, secrets, with_auth, build).await? {
                Attempt::Reply(r) => return Ok(r),
                Attempt::Retry { err, after } => rs.wait(after, err).await?,
            }
        }
    }

    /// The error for a reply that is not a success (401, 403, 412 and others;
    /// callers handle 404/410 first where they mean something specific).
    fn reply_error(
        &self,
        r: &Reply,
        label: &str,
        access: Access,
        attempts: u32,
        secrets: &[&str],
    ) -> BucketError {
        let message = server_message(&r.body, secrets);
        let who = self.auth.as_ref().map(|a| a.account.client_email.clone());
        match r.status {
            401 => BucketError::Auth {
                status: 401,
                message,
                hint: match &who {
                    Some(email) => {
                        format!("the access token for {email} was refused; check that the key is still valid")
                    }
                    None => "this endpoint needs credentials: pass -credentials=KEY.json".into(),
                },
            },
            403 => {
                let who = who.unwrap_or_else(|| "the caller".into());
                let hint = match access {
                    Access::Write => format!(
                        "grant {who} roles/storage.objectCreator on gs://{} (roles/storage.objectUser to also replace objects with --overwrite)",
                        self.bucket
                    ),
                    Access::Read => format!(
                        "grant {who} roles/storage.objectViewer on gs://{} to stat, list and read (uploads need only roles/storage.objectCreator)",
                        self.bucket
                    ),
                };
                BucketError::PermissionDenied {
                    bucket: self.bucket.clone(),
                    object: label.into(),
                    hint,
                }
            }
            412 => BucketError::AlreadyExists { object: label.into() },
            status => BucketError::Http {
                status,
                object: label.into(),
                message,
                attempts,
            },
        }
    }

    /// Parses a session handle; returns its URL and whether it may carry our token (same origin only).
    fn session_url(&self, s: &UploadSession) -> Result<(Url, bool), BucketError> {
        let label = self.label(&s.name);
        let invalid = |message: &str| BucketError::InvalidSession {
            object: label.clone(),
            message: message.into(),
        };
        if s.backend != BACKEND {
            return Err(invalid(&format!(
                "it belongs to the {:?} backend, not gs://",
                s.backend
            )));
        }
        self.full_name(&s.name)?;
        let url = Url::parse(&s.handle).map_err(|_| invalid("its session URI is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("its session URI is not http(s)"));
        }
        let same_origin = Url::parse(&self.base).is_ok_and(|b| b.origin() == url.origin());
        Ok((url, same_origin))
    }

    /// Starts a resumable upload (`ifGenerationMatch=0` unless overwriting).
    pub async fn begin_upload(&self, name: &str, opts: &UploadOptions) -> Result<UploadSession, BucketError> {
        let full = self.full_name(name)?;
        let label = self.label(name);
        let mut url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=resumable&name={}",
            self.base,
            enc(&self.bucket),
            enc(&full)
        );
        if !opts.overwrite {
            url.push_str("&ifGenerationMatch=0");
        }
        let body = serde_json::json!({ "name": full, "contentType": opts.content_type }).to_string();
        let build = || {
            self.client
                .post(&url)
                .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                .header("X-Upload-Content-Type", &opts.content_type)
                .body(body.clone())
        };
        let mut rs = RetryState::new(&self.retry);
        let r = self.exchange(&mut rs, &label, &[], true, &build).await?;
        match r.status {
            200 | 201 => {}
            404 => {
                return Err(BucketError::NoSuchBucket {
                    bucket: self.bucket.clone(),
                })
            }
            _ => return Err(self.reply_error(&r, &label, Access::Write, rs.attempts, &[])),
        }
        let handle = r
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if Url::parse(&handle).is_err() {
            return Err(BucketError::Http {
                status: r.status,
                object: label,
                message: "the server started no upload session (no usable Location header)".into(),
                attempts: rs.attempts,
            });
        }
        Ok(UploadSession {
            name: name.to_string(),
            backend: BACKEND.into(),
            handle,
            created_at: rfc3339(std::time::SystemTime::now()),
        })
    }

    fn status_request(&self, url: &Url) -> RequestBuilder {
        self.client
            .put(url.clone())
            .header(CONTENT_RANGE, "bytes */*")
            .header(CONTENT_LENGTH, "0")
            .body(Bytes::new())
    }

    /// Asks the server how much of the upload it holds.
    pub async fn upload_status(&self, s: &UploadSession) -> Result<UploadStatus, BucketError> {
        let (url, auth) = self.session_url(s)?;
        let label = self.label(&s.name);
        let mut rs = RetryState::new(&self.retry);
        let r = self
            .exchange(&mut rs, &label, &[&s.handle], auth, &|| self.status_request(&url))
            .await?;
        match r.status {
            308 => Ok(UploadStatus::Active {
                committed: committed(&r.headers, &label, rs.attempts)?,
            }),
            200 | 201 => Ok(UploadStatus::Finished(self.parse_meta(
                &r.body,
                &label,
                rs.attempts,
            )?)),
            404 | 410 => Ok(UploadStatus::Expired),
            _ => Err(self.reply_error(&r, &label, Access::Write, rs.attempts, &[&s.handle])),
        }
    }

    /// Sends one chunk; on a transient failure asks for the status and resends the rest.
    pub async fn put_chunk(
        &self,
        s: &UploadSession,
        offset: u64,
        data: Bytes,
        last: Option<Final>,
    ) -> Result<ChunkOutcome, BucketError> {
        let label = self.label(&s.name);
        let len = data.len() as u64;
        check_chunk(&label, offset, len, last.as_ref())?;
        let (url, auth) = self.session_url(s)?;
        let secrets = [s.handle.as_str()];
        let end = offset + len;
        let hash = last.map(|f| format!("crc32c={}", crc32c_base64(f.crc32c)));
        let mut rs = RetryState::new(&self.retry);
        let mut from = offset;
        // Set after a transient failure: the server may hold part of the chunk.
        let mut need_status = false;
        loop {
            if std::mem::take(&mut need_status) {
                let r = match self
                    .attempt(&mut rs, &label, &secrets, auth, &|| self.status_request(&url))
                    .await?
                {
                    Attempt::Reply(r) => r,
                    Attempt::Retry { err, after } => {
                        rs.wait(after, err).await?;
                        need_status = true;
                        continue;
                    }
                };
                match r.status {
                    308 => {
                        let have = committed(&r.headers, &label, rs.attempts)?;
                        let aligned = last.is_some() || have % CHUNK_ALIGN == 0;
                        if (last.is_none() && have >= end) || have < offset || have > end || !aligned {
                            // Nothing left to send here, or a state only the caller can sort out.
                            return Ok(ChunkOutcome::Committed(have));
                        }
                        from = have;
                    }
                    200 | 201 => return self.finished(&r, &label, last.as_ref(), rs.attempts),
                    404 | 410 => return Err(BucketError::SessionExpired { object: label }),
                    _ => return Err(self.reply_error(&r, &label, Access::Write, rs.attempts, &secrets)),
                }
            }
            let skip = usize::try_from(from - offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let chunk = data.slice(skip..);
            let range = match last {
                Some(f) if chunk.is_empty() => format!("bytes */{}", f.total_size),
                Some(f) => format!("bytes {from}-{}/{}", end - 1, f.total_size),
                None => format!("bytes {from}-{}/*", end - 1),
            };
            let build = || {
                let mut rb = self
                    .client
                    .put(url.clone())
                    .header(CONTENT_RANGE, &range)
                    .header(CONTENT_LENGTH, chunk.len().to_string())
                    .body(chunk.clone());
                if let Some(h) = &hash {
                    rb = rb.header("x-goog-hash", h);
                }
                rb
            };
            let r = match self.attempt(&mut rs, &label, &secrets, auth, &build).await? {
                Attempt::Reply(r) => r,
                Attempt::Retry { err, after } => {
                    rs.wait(after, err).await?;
                    // The server may have stored part of the chunk: ask before resending.
                    need_status = true;
                    continue;
                }
            };
            return match r.status {
                308 => Ok(ChunkOutcome::Committed(committed(
                    &r.headers,
                    &label,
                    rs.attempts,
                )?)),
                200 | 201 => self.finished(&r, &label, last.as_ref(), rs.attempts),
                404 | 410 => Err(BucketError::SessionExpired { object: label }),
                400 if last.is_some() && mentions_checksum(&r.body) => Err(BucketError::ChecksumMismatch {
                    object: label,
                    expected: last.map(|f| crc32c_base64(f.crc32c)).unwrap_or_default(),
                    actual: format!(
                        "a different value (the server refused: {})",
                        server_message(&r.body, &secrets)
                    ),
                }),
                _ => Err(self.reply_error(&r, &label, Access::Write, rs.attempts, &secrets)),
            };
        }
    }

    /// A 200/201 for an upload: the object's metadata, checked against `last`.
    fn finished(
        &self,
        r: &Reply,
        label: &str,
        last: Option<&Final>,
        attempts: u32,
    ) -> Result<ChunkOutcome, BucketError> {
        let Some(fin) = last else {
            return Err(BucketError::Http {
                status: r.status,
                object: label.into(),
                message: "the server finished the upload before its last chunk was sent".into(),
                attempts,
            });
        };
        let meta = self.parse_meta(&r.body, label, attempts)?;
        check_final(label, &meta, fin)?;
        Ok(ChunkOutcome::Finished(meta))
    }

    /// Cancels the session (DELETE); a gone session counts as cancelled.
    pub async fn cancel_upload(&self, s: &UploadSession) -> Result<(), BucketError> {
        let (url, auth) = self.session_url(s)?;
        let label = self.label(&s.name);
        let mut rs = RetryState::new(&self.retry);
        let build = || self.client.delete(url.clone()).header(CONTENT_LENGTH, "0");
        let r = self.exchange(&mut rs, &label, &[&s.handle], auth, &build).await?;
        match r.status {
            200..=299 | 404 | 410 | 499 => Ok(()),
            _ => Err(self.reply_error(&r, &label, Access::Write, rs.attempts, &[&s.handle])),
        }
    }

    /// The object's metadata, or `None` on 404.
    pub async fn stat(&self, name: &str) -> Result<Option<ObjectMeta>, BucketError> {
        let full = self.full_name(name)?;
        let label = self.label(name);
        let url = self.object_url(&full);
        let mut rs = RetryState::new(&self.retry);
        let r = self
            .exchange(&mut rs, &label, &[], true, &|| self.client.get(&url))
            .await?;
        match r.status {
            200 => Ok(Some(self.parse_meta(&r.body, &label, rs.attempts)?)),
            404 => Ok(None),
            _ => Err(self.reply_error(&r, &label, Access::Read, rs.attempts, &[])),
        }
    }

    /// Streams the object (`alt=media`), checking `Content-Length` and the `x-goog-hash` CRC32C at the end.
    pub async fn read(&self, name: &str) -> Result<ByteStream, BucketError> {
        let full = self.full_name(name)?;
        let label = self.label(name);
        let url = format!("{}?alt=media", self.object_url(&full));
        let resp = self.get_media(&url, &label, None).await?;
        let headers = resp.headers();
        let transcoded = headers.get(reqwest::header::CONTENT_ENCODING).is_some()
            || headers
                .get("x-goog-stored-content-encoding")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v != "identity");
        let expect_crc = if transcoded {
            None
        } else {
            goog_hash_crc32c(headers)
        };
        let expect_len = if transcoded { None } else { resp.content_length() };
        // A transcoded body has no byte offsets to continue from.
        let resume = (!transcoded).then(|| Resume {
            store: self.clone(),
            url,
            generation: goog_generation(headers).map(str::to_string),
            left: READ_RESUMES,
        });
        let state = ReadCheck {
            inner: resp.bytes_stream().boxed(),
            label,
            crc: 0,
            len: 0,
            expect_crc,
            expect_len,
            done: false,
            resume,
        };
        let stream = futures_util::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            loop {
                match st.inner.next().await {
                    Some(Ok(b)) => {
                        st.crc = crc32c::crc32c_append(st.crc, &b);
                        st.len += b.len() as u64;
                        return Some((Ok(b), st));
                    }
                    Some(Err(_)) if st.expect_len == Some(st.len) => {
                        // Broken after the last byte: nothing left to fetch.
                        st.done = true;
                        let err = st.final_check()?;
                        return Some((Err(err), st));
                    }
                    Some(Err(e)) => {
                        let err = transport_error(&st.label, e, 1, &[]);
                        // The connection broke mid-body: continue from the
                        // bytes received (the CRC32C still covers them all).
                        if let Some(r) = st.resume.as_mut().filter(|r| r.left > 0) {
                            r.left -= 1;
                            tracing::warn!("{err}; continuing the read from byte {}", st.len);
                            let from = Some((st.len, r.generation.as_deref()));
                            match r.store.get_media(&r.url, &st.label, from).await {
                                Ok(resp) => {
                                    st.inner = resp.bytes_stream().boxed();
                                    continue;
                                }
                                Err(e) => {
                                    st.done = true;
                                    return Some((Err(e), st));
                                }
                            }
                        }
                        st.done = true;
                        return Some((Err(err), st));
                    }
                    None => {
                        st.done = true;
                        let err = st.final_check()?;
                        return Some((Err(err), st));
                    }
                }
            }
        });
        Ok(Box::pin(stream))
    }

    /// `GET` of an object's bytes, retried; from `from` = (offset, generation)
    /// on with a `Range` request (206, the same generation) to continue a read
    /// whose connection broke.
    async fn get_media(
        &self,
        url: &str,
        label: &str,
        from: Option<(u64, Option<&str>)>,
    ) -> Result<reqwest::Response, BucketError> {
        let label = label.to_string();
        let mut rs = RetryState::new(&self.retry);
        let resp = loop {
            rs.attempts += 1;
            // No whole-request timeout: the body may be large; the client's read timeout bounds stalls.
            let mut req = self.client.get(url);
            if let Some((offset, _)) = from {
                req = req.header(reqwest::header::RANGE, format!("bytes={offset}-"));
            }
            let mut token = String::new();
            if let Some(a) = &self.auth {
                token = a.token(&self.client, &self.retry, self.timeout).await?;
                req = req.bearer_auth(&token);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    rs.wait(None, transport_error(&label, e, rs.attempts, &[&token]))
                        .await?;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            rs.last_status = Some(status);
            if status == 200 && from.is_none() || status == 206 && from.is_some() {
                break resp;
            }
            let headers = resp.headers().clone();
            let body = resp.bytes().await.unwrap_or_default();
            if retryable_status(status) {
                let after = headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let message = server_message(&body, &[&token]);
                rs.wait(
                    after,
                    BucketError::Http {
                        status,
                        object: label.clone(),
                        message,
                        attempts: rs.attempts,
                    },
                )
                .await?;
                continue;
            }
            if status == 401 && self.auth.is_some() && !rs.refreshed_auth {
                rs.refreshed_auth = true;
                if let Some(a) = &self.auth {
                    a.invalidate().await;
                }
                continue;
            }
            if status == 404 {
                return Err(BucketError::NotFound { object: label });
            }
            let r = Reply {
                status,
                headers,
                body,
            };
            return Err(self.reply_error(&r, &label, Access::Read, rs.attempts, &[&token]));
        };
        if let Some((_, Some(expected))) = from {
            let now = goog_generation(resp.headers()).unwrap_or_default();
            if now != expected {
                return Err(BucketError::Changed {
                    object: label,
                    expected: expected.to_string(),
                    actual: now.to_string(),
                });
            }
        }
        Ok(resp)
    }

    /// All objects under the prefix (follows `nextPageToken`), sorted by name.
    pub async fn list(&self) -> Result<Vec<ObjectMeta>, BucketError> {
        let label = self.describe();
        let list_prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/storage/v1/b/{}/o?maxResults=1000&prefix={}",
                self.base,
                enc(&self.bucket),
                enc(&list_prefix)
            );
            if let Some(p) = &page {
                url.push_str("&pageToken=");
                url.push_str(&enc(p));
            }
            let mut rs = RetryState::new(&self.retry);
            let r = self
                .exchange(&mut rs, &label, &[], true, &|| self.client.get(&url))
                .await?;
            match r.status {
                200 => {}
                404 => {
                    return Err(BucketError::NoSuchBucket {
                        bucket: self.bucket.clone(),
                    })
                }
                _ => return Err(self.reply_error(&r, &label, Access::Read, rs.attempts, &[])),
            }
            let v: Value =
                serde_json::from_slice(&r.body).map_err(|_| bad_reply(&label, r.status, rs.attempts))?;
            for item in v.get("items").and_then(Value::as_array).into_iter().flatten() {
                let meta = self.meta_from_json(item, &label, rs.attempts)?;
                // Folder placeholders ("prefix/") have no name of their own.
                if !meta.name.is_empty() && !meta.name.ends_with('/') {
                    out.push(meta);
                }
            }
            match v
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                Some(t) => page = Some(t.to_string()),
                None => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One simple (`uploadType=media`) request with `x-goog-hash: crc32c=…`;
    /// the reply's size and CRC32C are checked too.
    pub async fn put_small(
        &self,
        name: &str,
        data: Bytes,
        opts: &UploadOptions,
    ) -> Result<ObjectMeta, BucketError> {
        let full = self.full_name(name)?;
        let label = self.label(name);
        let fin = Final {
            total_size: data.len() as u64,
            crc32c: crc32c::crc32c(&data),
        };
        let crc = crc32c_base64(fin.crc32c);
        let mut url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.base,
            enc(&self.bucket),
            enc(&full)
        );
        if !opts.overwrite {
            url.push_str("&ifGenerationMatch=0");
        }
        let hash = format!("crc32c={crc}");
        let build = || {
            self.client
                .post(&url)
                .header(CONTENT_TYPE, &opts.content_type)
                .header(CONTENT_LENGTH, data.len().to_string())
                .header("x-goog-hash", &hash)
                .body(data.clone())
        };
        let mut rs = RetryState::new(&self.retry);
        let r = self.exchange(&mut rs, &label, &[], true, &build).await?;
        match r.status {
            200 | 201 => {
                let meta = self.parse_meta(&r.body, &label, rs.attempts)?;
                check_final(&label, &meta, &fin)?;
                Ok(meta)
            }
            404 => Err(BucketError::NoSuchBucket {
                bucket: self.bucket.clone(),
            }),
            412 if rs.attempts > 1 => {
                // An earlier attempt may have written it before its reply was lost.
                match self.stat(name).await {
                    Ok(Some(m)) if check_final(&label, &m, &fin).is_ok() => Ok(m),
                    // Write-only credentials cannot look: report the precondition as it came.
                    _ => Err(BucketError::AlreadyExists { object: label }),
                }
            }
            400 if mentions_checksum(&r.body) => Err(BucketError::ChecksumMismatch {
                object: label,
                expected: crc,
                actual: format!(
                    "a different value (the server refused: {})",
                    server_message(&r.body, &[])
                ),
            }),
            _ => Err(self.reply_error(&r, &label, Access::Write, rs.attempts, &[])),
        }
    }

    fn parse_meta(&self, body: &[u8], label: &str, attempts: u32) -> Result<ObjectMeta, BucketError> {
        let v: Value = serde_json::from_slice(body).map_err(|_| bad_reply(label, 200, attempts))?;
        self.meta_from_json(&v, label, attempts)
    }

    /// Object resource JSON → metadata (name made relative to the prefix).
    fn meta_from_json(&self, v: &Value, label: &str, attempts: u32) -> Result<ObjectMeta, BucketError> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let full = s("name").ok_or_else(|| bad_reply(label, 200, attempts))?;
        let size = match v.get("size") {
            Some(Value::String(x)) => x.parse().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        }
        .ok_or_else(|| bad_reply(label, 200, attempts))?;
        Ok(ObjectMeta {
            name: self.relative(&full).to_string(),
            size,
            crc32c: s("crc32c").unwrap_or_default(),
            md5: s("md5Hash"),
            generation: match v.get("generation") {
                Some(Value::String(g)) => Some(g.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            },
            updated: s("updated"),
        })
    }
}

/// State of a checked media download.
struct ReadCheck {
    inner: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    label: String,
    crc: u32,
    len: u64,
    expect_crc: Option<u32>,
    expect_len: Option<u64>,
    done: bool,
    resume: Option<Resume>,
}

/// How many times one read continues after its connection broke mid-body.
const READ_RESUMES: u32 = 10;

/// What continuing a broken read needs.
struct Resume {
    store: GcsStore,
    url: String,
    generation: Option<String>,
    left: u32,
}

impl ReadCheck {
    /// `None` when the received bytes match the headers, else the error to yield.
    fn final_check(&self) -> Option<BucketError> {
        if let Some(n) = self.expect_len {
            if n != self.len {
                return Some(BucketError::SizeMismatch {
                    object: self.label.clone(),
                    expected: n,
                    actual: self.len,
                });
            }
        }
        match self.expect_crc {
            Some(c) if c != self.crc => Some(BucketError::ChecksumMismatch {
                object: self.label.clone(),
                expected: crc32c_base64(c),
                actual: format!("{} in the bytes received", crc32c_base64(self.crc)),
            }),
            _ => None,
        }
    }
}

/// The object generation a media response is of.
fn goog_generation(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-goog-generation").and_then(|v| v.to_str().ok())
}

/// The CRC32C in `x-goog-hash` (`crc32c=…,md5=…`, possibly in several header lines).
fn goog_hash_crc32c(headers: &HeaderMap) -> Option<u32> {
    headers
        .get_all("x-goog-hash")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| part.trim().strip_prefix("crc32c=").and_then(crc32c_from_base64))
}

/// Bytes the server holds, from a 308's `Range: bytes=0-N` (none: 0).
fn committed(headers: &HeaderMap, label: &str, attempts: u32) -> Result<u64, BucketError> {
    let Some(v) = headers.get(RANGE) else { return Ok(0) };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().strip_prefix("bytes=0-"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map(|n| n + 1)
        .ok_or_else(|| BucketError::Http {
            status: 308,
            object: label.into(),
            message: "the server's Range header is not bytes=0-N".into(),
            attempts,
        })
}

/// Does an error body say the checksum did not match?
fn mentions_checksum(body: &[u8]) -> bool {
    let t = String::from_utf8_lossy(body).to_ascii_lowercase();
    t.contains("crc32c") || t.contains("checksum") || t.contains("hash")
}

/// The `error.message` of a JSON error body, else the body text; redacted.
fn server_message(body: &[u8], secrets: &[&str]) -> String {
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    redact(if text.is_empty() { "(no message)" } else { &text }, secrets)
}

fn bad_reply(label: &str, status: u16, attempts: u32) -> BucketError {
    BucketError::Http {
        status,
        object: label.into(),
        message: "the server's reply is not the expected JSON object resource".into(),
        attempts,
    }
}

/// A transport failure as an error without URLs or secrets.
pub(crate) fn transport_error(
    label: &str,
    e: reqwest::Error,
    attempts: u32,
    secrets: &[&str],
) -> BucketError {
    if e.is_timeout() {
        return BucketError::Timeout {
            object: label.into(),
            attempts,
            last_status: None,
        };
    }
    let e = e.without_url();
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    BucketError::Transport {
        object: label.into(),
        message: redact(&message, secrets),
        attempts,
        last_status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn range_and_hash_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(committed(&h, "o", 1).expect("no range"), 0);
        h.insert(RANGE, HeaderValue::from_static("bytes=0-262143"));
        assert_eq!(committed(&h, "o", 1).expect("range"), 262_144);
        h.insert(RANGE, HeaderValue::from_static("bytes=5-9"));
        assert!(committed(&h, "o", 1).is_err());
        h.append("x-goog-hash", HeaderValue::from_static("md5=abc="));
        h.append("x-goog-hash", HeaderValue::from_static("crc32c=4waSgw=="));
        assert_eq!(goog_hash_crc32c(&h), Some(0xE306_9283));
    }

    #[test]
    fn server_messages_are_redacted() {
        let body = br#"{"error":{"code":400,"message":"bad upload_id=SECRET123 for Bearer ya29.abc"}}"#;
        let m = server_message(body, &[]);
        assert!(!m.contains("SECRET123") && !m.contains("ya29"), "{m}");
    }
}
