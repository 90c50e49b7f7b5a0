//! The fake's state (buckets, objects, upload sessions, accounts, tokens) and
//! the JSON API semantics, as synchronous handlers over a locked `State`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::auth;
use super::fault::{FaultQueue, Persist};
use super::http::{Head, Response};
use super::route::{query_param, split_target, ContentRange, Route};
use super::{Access, ObjectInfo, RecordedRequest, SessionInfo, SessionState};

/// GCS chunk granularity: non-final chunks must be a multiple of 256 KiB.
pub const GRANULARITY: u64 = 256 * 1024;

/// Path-segment encoding as Google's client libraries do it (RFC 3986 unreserved kept).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

pub(crate) fn encode_query(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct Object {
    data: Vec<u8>,
    generation: u64,
    content_type: String,
    crc32c: u32,
    md5: [u8; 16],
    created: SystemTime,
}

struct Session {
    seq: u64,
    id: String,
    bucket: String,
    name: String,
    content_type: String,
    data: Vec<u8>,
    committed: u64,
    ignored_overlap: u64,
    declared_len: Option<u64>,
    if_generation_match: Option<u64>,
    expected_crc32c: Option<u32>,
    expected_md5: Option<[u8; 16]>,
    /// Access of the caller that initiated the session (overwrites need delete permission).
    access: Access,
    principal: String,
    state: SessionState,
    /// Status answered once the session is expired.
    gone_status: u16,
    /// Object metadata once finalized (answered to later requests).
    result: Option<Value>,
}

struct Token {
    email: String,
    scope: String,
    expires: Instant,
}

/// Knobs the test can turn.
pub(crate) struct Config {
    pub(crate) page_size: usize,
    pub(crate) granularity: u64,
    pub(crate) require_auth: bool,
    pub(crate) token_lifetime: Duration,
    pub(crate) default_access: Access,
    pub(crate) account_access: HashMap<String, Access>,
}

/// What handling a request produced: the response and the object it created, if any.
pub(crate) struct Outcome {
    pub(crate) resp: Response,
    pub(crate) created: Option<(String, String)>,
}

impl From<Response> for Outcome {
    fn from(resp: Response) -> Outcome {
        Outcome { resp, created: None }
    }
}

/// Everything the fake knows.
pub(crate) struct State {
    pub(crate) base_url: String,
    pub(crate) config: Config,
    pub(crate) faults: FaultQueue,
    pub(crate) requests: Vec<RecordedRequest>,
    buckets: BTreeMap<String, BTreeMap<String, Object>>,
    sessions: HashMap<String, Session>,
    accounts: HashMap<String, Vec<u8>>,
    tokens: HashMap<String, Token>,
    next_generation: u64,
    next_seq: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Create,
    /// Delete or overwrite; also bucket administration.
    Delete,
}

impl Access {
    fn allows(self, need: Need) -> bool {
        match self {
            Access::ReadWrite => true,
            Access::WriteOnly => need == Need::Create,
            Access::ReadOnly => need == Need::Read,
            Access::NoAccess => false,
        }
    }
}

/// Who is calling, after authentication.
struct Caller {
    name: String,
    access: Access,
}

/// A GCS-shaped JSON error.
pub(crate) fn error(status: u16, message: &str) -> Response {
    let reason = match status {
        400 => "invalid",
        401 => "required",
        403 => "forbidden",
        404 => "notFound",
        409 => "conflict",
        412 => "conditionNotMet",
        416 => "requestedRangeNotSatisfiable",
        429 => "rateLimitExceeded",
        500 | 503 => "backendError",
        _ => "error",
    };
    Response::json(
        status,
        &json!({"error": {"code": status, "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}]}}),
    )
}

fn b64_crc(crc: u32) -> String {
    STANDARD.encode(crc.to_be_bytes())
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// 16 random bytes as hex, for upload ids and access tokens.
pub(crate) fn random_hex() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("gcs_fake: system randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 3339 UTC with milliseconds, as GCS formats timestamps.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `x-goog-hash: crc32c=<b64>,md5=<b64>` (possibly repeated headers).
fn parse_goog_hash(head: &Head) -> Result<(Option<u32>, Option<[u8; 16]>), String> {
    let mut crc = None;
    let mut md5 = None;
    for item in head.header_list("x-goog-hash") {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("malformed x-goog-hash entry {item:?}"));
        };
        match k.trim() {
            "crc32c" => crc = Some(decode_crc(v.trim())?),
            "md5" => md5 = Some(decode_md5(v.trim())?),
            _ => {}
        }
    }
    Ok((crc, md5))
}

fn decode_crc(v: &str) -> Result<u32, String> {
    let raw = STANDARD
        .decode(v)
        .map_err(|_| format!("crc32c {v:?} is not base64"))?;
    let b: [u8; 4] = raw
        .try_into()
        .map_err(|_| format!("crc32c {v:?} is not 4 bytes"))?;
    Ok(u32::from_be_bytes(b))
}

fn decode_md5(v: &str) -> Result<[u8; 16], String> {
    let raw = STANDARD
        .decode(v)
        .map_err(|_| format!("md5 {v:?} is not base64"))?;
    raw.try_into().map_err(|_| format!("md5 {v:?} is not 16 bytes"))
}

/// Checks a computed crc32c/md5 against what the client claimed; GCS's wording.
fn verify_hashes(data: &[u8], crc: Option<u32>, md5: Option<[u8; 16]>) -> Result<(u32, [u8; 16]), String> {
    let actual_crc = crc32c::crc32c(data);
    let actual_md5 = md5_of(data);
    if let Some(want) = crc {
        if want != actual_crc {
            return Err(format!(
                "Provided CRC32C \"{}\" doesn't match calculated CRC32C \"{}\".",
                b64_crc(want),
                b64_crc(actual_crc)
            ));
        }
    }
    if let Some(want) = md5 {
        if want != actual_md5 {
            return Err(format!(
                "Provided MD5 hash \"{}\" doesn't match calculated MD5 hash \"{}\".",
                STANDARD.encode(want),
                STANDARD.encode(actual_md5)
            ));
        }
    }
    Ok((actual_crc, actual_md5))
}

fn parse_generation_match(query: &[(String, String)]) -> Result<Option<u64>, Response> {
    match query_param(query, "ifGenerationMatch") {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| error(400, &format!("Invalid value for ifGenerationMatch: {v:?}"))),
    }
}

fn precondition_failed() -> Response {
    error(
        412,
        "At least one of the pre-conditions you specified did not hold.",
    )
}

fn resume_incomplete(id: &str, committed: u64) -> Response {
    let resp = Response::new(308).header("X-GUploader-UploadID", id);
    if committed > 0 {
        resp.header("Range", format!("bytes=0-{}", committed - 1))
    } else {
        resp
    }
}

fn object_json(base_url: &str, bucket: &str, name: &str, o: &Object) -> Value {
    let enc = encode_segment(name);
    let b = encode_segment(bucket);
    let time = rfc3339(o.created);
    json!({
        "kind": "storage#object",
        "id": format!("{bucket}/{name}/{}", o.generation),
        "selfLink": format!("{base_url}/storage/v1/b/{b}/o/{enc}"),
        "mediaLink": format!("{base_url}/download/storage/v1/b/{b}/o/{enc}?generation={}&alt=media", o.generation),
        "name": name,
        "bucket": bucket,
        "generation": o.generation.to_string(),
        "metageneration": "1",
        "contentType": o.content_type,
        "storageClass": "STANDARD",
        "size": o.data.len().to_string(),
        "md5Hash": STANDARD.encode(o.md5),
        "crc32c": b64_crc(o.crc32c),
        "etag": STANDARD.encode(o.generation.to_be_bytes()),
        "timeCreated": time,
        "updated": time,
        "timeStorageClassUpdated": time,
    })
}

fn next_generation(counter: &mut u64) -> u64 {
    *counter = (*counter + 1).max(now_micros());
    *counter
}

/// Stores an object; returns its metadata JSON.
#[allow(clippy::too_many_arguments)]
fn store_object(
    buckets: &mut BTreeMap<String, BTreeMap<String, Object>>,
    generation: &mut u64,
    base_url: &str,
    bucket: &str,
    name: &str,
    data: Vec<u8>,
    content_type: String,
    sums: (u32, [u8; 16]),
) -> Value {
    let o = Object {
        data,
        generation: next_generation(generation),
        content_type,
        crc32c: sums.0,
        md5: sums.1,
        created: SystemTime::now(),
    };
    let meta = object_json(base_url, bucket, name, &o);
    buckets
        .entry(bucket.to_string())
        .or_default()
        .insert(name.to_string(), o);
    meta
}

fn bucket_json(name: &str) -> Value {
    json!({"kind": "storage#bucket", "id": name, "name": name, "location": "US",
           "storageClass": "STANDARD", "metageneration": "1"})
}

/// Bucket names as GCS accepts them (simplified: no dotted-name length rules).
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

impl State {
    pub(crate) fn new(base_url: String) -> State {
        State {
            base_url,
            config: Config {
                page_size: 2,
                granularity: GRANULARITY,
                require_auth: false,
                token_lifetime: Duration::from_secs(3599),
                default_access: Access::ReadWrite,
                account_access: HashMap::new(),
            },
            faults: FaultQueue::default(),
            requests: Vec::new(),
            buckets: BTreeMap::new(),
            sessions: HashMap::new(),
            accounts: HashMap::new(),
            tokens: HashMap::new(),
            next_generation: 0,
            next_seq: 0,
        }
    }

    // ----- direct access for tests -----

    pub(crate) fn create_bucket(&mut self, name: &str) {
        self.buckets.entry(name.to_string()).or_default();
    }

    pub(crate) fn put_object(&mut self, bucket: &str, name: &str, data: Vec<u8>) {
        let sums = (crc32c::crc32c(&data), md5_of(&data));
        store_object(
            &mut self.buckets,
            &mut self.next_generation,
            &self.base_url,
            bucket,
            name,
            data,
            "application/octet-stream".into(),
            sums,
        );
    }

    pub(crate) fn object(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        self.buckets.get(bucket)?.get(name).map(|o| o.data.clone())
    }

    pub(crate) fn object_info(&self, bucket: &str, name: &str) -> Option<ObjectInfo> {
        let o = self.buckets.get(bucket)?.get(name)?;
        Some(ObjectInfo {
            name: name.to_string(),
            size: o.data.len() as u64,
            generation: o.generation,
            crc32c: b64_crc(o.crc32c),
            md5: STANDARD.encode(o.md5),
            content_type: o.content_type.clone(),
        })
    }

    pub(crate) fn objects(&self, bucket: &str) -> Vec<(String, Vec<u8>)> {
        self.buckets
            .get(bucket)
            .map(|b| b.iter().map(|(n, o)| (n.clone(), o.data.clone())).collect())
            .unwrap_or_default()
    }

    pub(crate) fn delete_object(&mut self, bucket: &str, name: &str) -> bool {
        self.buckets
            .get_mut(bucket)
            .and_then(|b| b.remove(name))
            .is_some()
    }

    /// Flips every bit of one stored byte, keeping the recorded checksums.
    pub(crate) fn flip_byte(&mut self, bucket: &str, name: &str, offset: u64) -> bool {
        let Some(o) = self.buckets.get_mut(bucket).and_then(|b| b.get_mut(name)) else {
            return false;
        };
        if o.data.is_empty() {
            return false;
        }
        let i = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(o.data.len() - 1);
        o.data[i] ^= 0xff;
        true
    }

    pub(crate) fn sessions(&self) -> Vec<SessionInfo> {
        let mut v: Vec<&Session> = self.sessions.values().collect();
        v.sort_by_key(|s| s.seq);
        v.into_iter()
            .map(|s| SessionInfo {
                upload_id: s.id.clone(),
                bucket: s.bucket.clone(),
                name: s.name.clone(),
                committed: s.committed,
                ignored_overlap: s.ignored_overlap,
                state: s.state,
                principal: s.principal.clone(),
            })
            .collect()
    }

    /// Marks a session expired; later requests to it get `status`.
    pub(crate) fn expire_session(&mut self, id: &str, status: u16) -> bool {
        match self.sessions.get_mut(id) {
            Some(s) if s.state == SessionState::Active => {
                s.state = SessionState::Expired;
                s.gone_status = status;
                s.data = Vec::new();
                true
            }
            _ => false,
        }
    }

    pub(crate) fn expire_all_sessions(&mut self, status: u16) {
        let ids: Vec<String> = self.sessions.keys().cloned().collect();
        for id in ids {
            self.expire_session(&id, status);
        }
    }

    pub(crate) fn register_account(&mut self, email: &str, pkcs1_der: Vec<u8>) {
        self.accounts.insert(email.to_string(), pkcs1_der);
    }

    pub(crate) fn expire_tokens(&mut self) {
        let now = Instant::now();
        for t in self.tokens.values_mut() {
            t.expires = now;
        }
    }

    pub(crate) fn issued_tokens(&self) -> usize {
        self.tokens.len()
    }

    // ----- request bookkeeping -----

    /// The object a request concerns, for fault filters and the request log.
    pub(crate) fn request_object(&self, head: &Head, route: &Route) -> Option<String> {
        match route {
            Route::Stat { object, .. }
            | Route::Download { object, .. }
            | Route::DeleteObject { object, .. } => Some(object.clone()),
            Route::SessionPut { upload_id, .. } | Route::SessionDelete { upload_id, .. } => {
                self.sessions.get(upload_id).map(|s| s.name.clone())
            }
            Route::Initiate { .. } | Route::SimpleUpload { .. } => {
                query_param(&split_target(&head.target).1, "name").map(str::to_string)
            }
            _ => None,
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Persists a cut-off body prefix of a session data PUT (nothing is finalized).
    pub(crate) fn persist_partial(&mut self, route: &Route, prefix: &[u8], persist: Persist) {
        let Route::SessionPut {
            upload_id,
            range: Ok(range),
            ..
        } = route
        else {
            return;
        };
        let Some(s) = self.sessions.get_mut(upload_id) else {
            return;
        };
        if s.state != SessionState::Active {
            return;
        }
        let start = match range {
            Some(ContentRange::Data { start, .. }) => *start,
            None => 0,
            Some(ContentRange::Query { .. }) => return,
        };
        let committed = s.committed;
        if start > committed {
            return;
        }
        let end = start + prefix.len() as u64;
        let target = match persist {
            Persist::All => end,
            Persist::RoundDown => end / self.config.granularity * self.config.granularity,
            Persist::Nothing => committed,
        };
        if target > committed {
            let from = usize::try_from(committed - start).unwrap_or(usize::MAX);
            let to = usize::try_from(target - start).unwrap_or(usize::MAX);
            s.data.extend_from_slice(&prefix[from..to]);
            s.committed = target;
        }
    }

    /// Commits a prefix of a session data PUT and answers 308; `None` if the request is not a
    /// data PUT to an active session.
    pub(crate) fn partial_commit(&mut self, route: &Route, prefix: &[u8]) -> Option<Response> {
        let Route::SessionPut {
            upload_id,
            range: Ok(range),
            ..
        } = route
        else {
            return None;
        };
        if matches!(range, Some(ContentRange::Query { .. })) {
            return None;
        }
        let active = self
            .sessions
            .get(upload_id)
            .is_some_and(|s| s.state == SessionState::Active);
        if !active {
            return None;
        }
        self.persist_partial(route, prefix, Persist::All);
        let committed = self.sessions.get(upload_id).map_or(0, |s| s.committed);
        Some(resume_incomplete(upload_id, committed))
    }

    // ----- the JSON API -----

    /// Handles one request whose body has been read in full.
    pub(crate) fn handle(&mut self, head: &Head, route: &Route, body: &[u8]) -> Outcome {
        let (_, query) = split_target(&head.target);
        let result = match route {
            Route::Reject { status, message } => Ok(error(*status, message).into()),
            Route::Token => Ok(self.token(body).into()),
            Route::CreateBucket => self.create_bucket_req(head, body).map(Outcome::from),
            Route::GetBucket { bucket } => self.get_bucket(head, bucket).map(Outcome::from),
            Route::Initiate { bucket } => self.initiate(head, &query, bucket, body).map(Outcome::from),
            Route::SimpleUpload { bucket } => self.simple_upload(head, &query, bucket, body),
            Route::SessionPut {
                bucket,
                upload_id,
                range,
            } => match range {
                Err(msg) => Ok(error(400, msg).into()),
                Ok(range) => self.session_put(head, bucket, upload_id, *range, body),
            },
            Route::SessionDelete { bucket, upload_id } => Ok(self.cancel(bucket, upload_id).into()),
            Route::Stat { bucket, object } => self.stat(head, &query, bucket, object).map(Outcome::from),
            Route::Download { bucket, object } => {
                self.download(head, &query, bucket, object).map(Outcome::from)
            }
            Route::DeleteObject { bucket, object } => {
                self.delete_object_req(head, bucket, object).map(Outcome::from)
            }
            Route::List { bucket } => self.list(head, &query, bucket).map(Outcome::from),
        };
        result.unwrap_or_else(Outcome::from)
    }

    fn authorize(
        &self,
        head: &Head,
        need: Need,
        permission: &str,
        resource: &str,
    ) -> Result<Caller, Response> {
        let (name, scope) = if self.config.require_auth {
            let Some(token) = head
                .header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
            else {
                return Err(error(
                    401,
                    &format!(
                        "Anonymous caller does not have {permission} access to the Google Cloud Storage {resource}."
                    ),
                )
                .header("WWW-Authenticate", "Bearer realm=\"https://accounts.google.com/\""));
            };
            match self.tokens.get(token.trim()) {
                Some(t) if t.expires > Instant::now() => (t.email.clone(), Some(t.scope.as_str())),
                _ => {
                    return Err(error(401, "Invalid Credentials").header(
                        "WWW-Authenticate",
                        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
                    ))
                }
            }
        } else {
            ("anonymous caller".to_string(), None)
        };
        if let Some(scope) = scope {
            if !auth::scope_allows(scope, need != Need::Read) {
                return Err(error(403, "Request had insufficient authentication scopes."));
            }
        }
        let access = self
            .config
            .account_access
            .get(&name)
            .copied()
            .unwrap_or(self.config.default_access);
        if !access.allows(need) {
            return Err(error(
                403,
                &format!(
                    "{name} does not have {permission} access to the Google Cloud Storage {resource}. \
                     Permission '{permission}' denied on resource (or it may not exist)."
                ),
            ));
        }
        Ok(Caller { name, access })
    }

    fn need_bucket(&self, bucket: &str) -> Result<(), Response> {
        if self.buckets.contains_key(bucket) {
            Ok(())
        } else {
            Err(error(404, "The specified bucket does not exist."))
        }
    }

    fn current_generation(&self, bucket: &str, name: &str) -> u64 {
        self.buckets
            .get(bucket)
            .and_then(|b| b.get(name))
            .map_or(0, |o| o.generation)
    }

    fn token(&mut self, body: &[u8]) -> Response {
        let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let oauth_error = |error: &str, description: &str| {
            Response::json(400, &json!({"error": error, "error_description": description}))
        };
        if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
            return oauth_error("unsupported_grant_type", "Invalid grant_type");
        }
        let Some(assertion) = field("assertion") else {
            return oauth_error("invalid_request", "Missing required parameter: assertion");
        };
        let audience = format!("{}/token", self.base_url);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let claims =
            match auth::verify_assertion(assertion, |e| self.accounts.get(e).cloned(), &audience, now) {
                Ok(c) => c,
                Err(description) => return oauth_error("invalid_grant", &description),
            };
        let token = format!("ya29.fake-{}", random_hex());
        let lifetime = self.config.token_lifetime;
        self.tokens.insert(
            token.clone(),
            Token {
                email: claims.iss,
                scope: claims.scope,
                expires: Instant::now() + lifetime,
            },
        );
        Response::json(
            200,
            &json!({"access_token": token, "expires_in": lifetime.as_secs(), "token_type": "Bearer"}),
        )
    }

    fn create_bucket_req(&mut self, head: &Head, body: &[u8]) -> Result<Response, Response> {
        self.authorize(head, Need::Delete, "storage.buckets.create", "project")?;
        let meta: Value = serde_json::from_slice(body).map_err(|_| error(400, "Invalid JSON payload"))?;
        let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
        if !valid_bucket_name(name) {
            return Err(error(400, &format!("Invalid bucket name: {name:?}")));
        }
        if self.buckets.contains_key(name) {
            return Err(error(
                409,
                "Your previous request to create the named bucket succeeded and you already own it.",
            ));
        }
        self.create_bucket(name);
        Ok(Response::json(200, &bucket_json(name)))
    }

    fn get_bucket(&self, head: &Head, bucket: &str) -> Result<Response, Response> {
        self.authorize(head, Need::Read, "storage.buckets.get", "bucket")?;
        self.need_bucket(bucket)?;
        Ok(Response::json(200, &bucket_json(bucket)))
    }

    fn initiate(
        &mut self,
        head: &Head,
        query: &[(String, String)],
        bucket: &str,
        body: &[u8],
    ) -> Result<Response, Response> {
        let caller = self.authorize(head, Need::Create, "storage.objects.create", "object")?;
        self.need_bucket(bucket)?;
        let meta: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body).map_err(|_| error(400, "Invalid JSON payload in upload metadata"))?
        };
        let name = query_param(query, "name")
            .or_else(|| meta.get("name").and_then(Value::as_str))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| error(400, "Required parameter: name"))?
            .to_string();
        let if_generation_match = parse_generation_match(query)?;
        if let Some(want) = if_generation_match {
            if self.current_generation(bucket, &name) != want {
                return Err(precondition_failed());
            }
        }
        let content_type = meta
            .get("contentType")
            .and_then(Value::as_str)
            .or_else(|| head.header("x-upload-content-type"))
            .unwrap_or("application/octet-stream")
            .to_string();
        let declared_len = match head.header("x-upload-content-length") {
            None => None,
            Some(v) => Some(
                v.parse()
                    .map_err(|_| error(400, "Invalid X-Upload-Content-Length"))?,
            ),
        };
        let meta_str = |k: &str| meta.get(k).and_then(Value::as_str);
        let expected_crc32c = meta_str("crc32c")
            .map(decode_crc)
            .transpose()
            .map_err(|e| error(400, &e))?;
        let expected_md5 = meta_str("md5Hash")
            .map(decode_md5)
            .transpose()
            .map_err(|e| error(400, &e))?;
        let id = format!("ADPycd{}", random_hex());
        let seq = self.next_seq();
        self.sessions.insert(
            id.clone(),
            Session {
                seq,
                id: id.clone(),
                bucket: bucket.to_string(),
                name: name.clone(),
                content_type,
                data: Vec::new(),
                committed: 0,
                ignored_overlap: 0,
                declared_len,
                if_generation_match,
                expected_crc32c,
                expected_md5,
                access: caller.access,
                principal: caller.name,
                state: SessionState::Active,
                gone_status: 404,
                result: None,
            },
        );
        let location = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=resumable&name={}&upload_id={id}",
            self.base_url,
            encode_segment(bucket),
            encode_query(&name)
        );
        Ok(Response::new(200)
            .header("Location", location)
            .header("X-GUploader-UploadID", id))
    }

    fn session_put(
        &mut self,
        head: &Head,
        bucket: &str,
        id: &str,
        range: Option<ContentRange>,
        body: &[u8],
    ) -> Result<Outcome, Response> {
        let granularity = self.config.granularity;
        let Some(s) = self.sessions.get_mut(id).filter(|s| s.bucket == bucket) else {
            return Err(error(404, "No such upload session."));
        };
        match s.state {
            SessionState::Active => {}
            SessionState::Finalized => {
                return Ok(Response::json(200, s.result.as_ref().unwrap_or(&Value::Null)).into())
            }
            SessionState::Expired => return Err(error(s.gone_status, "The upload session has expired.")),
            SessionState::Cancelled => return Err(error(410, "The upload session was cancelled.")),
            SessionState::Failed => return Err(error(410, "The upload session failed and was discarded.")),
        }
        // No Content-Range: the whole object in this one request.
        let range = range.unwrap_or(if body.is_empty() {
            ContentRange::Query { total: Some(0) }
        } else {
            ContentRange::Data {
                start: 0,
                end: body.len() as u64 - 1,
                total: Some(body.len() as u64),
            }
        });
        let committed = s.committed;
        match range {
            ContentRange::Query { total } => {
                if !body.is_empty() {
                    return Err(error(
                        400,
                        "A status query (Content-Range: bytes */...) must have an empty body.",
                    ));
                }
                match total {
                    Some(t) if t == committed => {}
                    Some(t) if t < committed => {
                        return Err(error(
                            400,
                            &format!(
                                "Total size {t} is smaller than the {committed} byte(s) already uploaded."
                            ),
                        ))
                    }
                    _ => return Ok(resume_incomplete(id, committed).into()),
                }
            }
            ContentRange::Data { start, end, total } => {
                let len = end - start + 1;
                if body.len() as u64 != len {
                    return Err(error(
                        400,
                        &format!(
                            "Content-Range covers {len} byte(s) but the body has {} byte(s).",
                            body.len()
                        ),
                    ));
                }
                match total {
                    Some(t) if end + 1 != t => {
                        return Err(error(
                            400,
                            &format!("Content-Range end {end} does not match the total size {t}."),
                        ))
                    }
                    None if len % granularity != 0 => {
                        return Err(error(
                            400,
                            &format!(
                                "Invalid request. The chunk size {len} is not a multiple of {granularity} \
                                 bytes; only the final chunk may be smaller."
                            ),
                        ))
                    }
                    _ => {}
                }
                if start > committed {
                    return Err(error(
                        400,
                        &format!(
                            "Invalid request. According to the Content-Range header, the upload offset is \
                             {start} byte(s), which exceeds already uploaded size of {committed} byte(s)."
                        ),
                    ));
                }
                if let Some(declared) = s.declared_len {
                    if end + 1 > declared {
                        return Err(error(
                            400,
                            &format!(
                                "Upload is larger than the declared X-Upload-Content-Length {declared}."
                            ),
                        ));
                    }
                }
                // Bytes before the committed offset were already persisted: GCS ignores them.
                let skip = committed - start;
                s.ignored_overlap += skip.min(len);
                if skip < len {
                    s.data
                        .extend_from_slice(&body[usize::try_from(skip).unwrap_or(usize::MAX)..]);
                    s.committed = end + 1;
                }
                if total.is_none() {
                    return Ok(resume_incomplete(id, s.committed).into());
                }
            }
        }
        self.finalize(head, id)
    }

    /// Completes an active session whose bytes are all present.
    fn finalize(&mut self, head: &Head, id: &str) -> Result<Outcome, Response> {
        let (header_crc, header_md5) = parse_goog_hash(head).map_err(|e| error(400, &e))?;
        let Some(s) = self.sessions.get_mut(id) else {
            return Err(error(404, "No such upload session."));
        };
        let fail = |s: &mut Session, resp: Response| {
            s.state = SessionState::Failed;
            s.data = Vec::new();
            Err(resp)
        };
        if let Some(declared) = s.declared_len {
            if declared != s.committed {
                let msg = format!(
                    "Upload has {} byte(s), X-Upload-Content-Length said {declared}.",
                    s.committed
                );
                return fail(s, error(400, &msg));
            }
        }
        let sums = match verify_hashes(&s.data, header_crc, header_md5)
            .and_then(|_| verify_hashes(&s.data, s.expected_crc32c, s.expected_md5))
        {
            Ok(sums) => sums,
            Err(msg) => return fail(s, error(400, &msg)),
        };
        let current = self
            .buckets
            .get(&s.bucket)
            .and_then(|b| b.get(&s.name))
            .map(|o| o.generation);
        if let Some(want) = s.if_generation_match {
            if current.unwrap_or(0) != want {
                return fail(s, precondition_failed());
            }
        }
        if current.is_some() && !s.access.allows(Need::Delete) {
            let msg = format!(
                "{} does not have storage.objects.delete access to the Google Cloud Storage object. \
                 Permission 'storage.objects.delete' denied on resource (or it may not exist).",
                s.principal
            );
            return fail(s, error(403, &msg));
        }
        if !self.buckets.contains_key(&s.bucket) {
            return fail(s, error(404, "The specified bucket does not exist."));
        }
        let meta = store_object(
            &mut self.buckets,
            &mut self.next_generation,
            &self.base_url,
            &s.bucket,
            &s.name,
            std::mem::take(&mut s.data),
            s.content_type.clone(),
            sums,
        );
        s.state = SessionState::Finalized;
        s.result = Some(meta.clone());
        Ok(Outcome {
            resp: Response::json(200, &meta),
            created: Some((s.bucket.clone(), s.name.clone())),
        })
    }

    fn cancel(&mut self, bucket: &str, id: &str) -> Response {
        let Some(s) = self.sessions.get_mut(id).filter(|s| s.bucket == bucket) else {
            return error(404, "No such upload session.");
        };
        match s.state {
            SessionState::Active | SessionState::Cancelled => {
                s.state = SessionState::Cancelled;
                s.data = Vec::new();
                Response::new(499)
            }
            SessionState::Finalized => Response::json(200, s.result.as_ref().unwrap_or(&Value::Null)),
            SessionState::Expired => error(s.gone_status, "The upload session has expired."),
            SessionState::Failed => error(410, "The upload session failed and was discarded."),
        }
    }

    fn simple_upload(
        &mut self,
        head: &Head,
        query: &[(String, String)],
        bucket: &str,
        body: &[u8],
    ) -> Result<Outcome, Response> {
        let caller = self.authorize(head, Need::Create, "storage.objects.create", "object")?;
        self.need_bucket(bucket)?;
        let name = query_param(query, "name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| error(400, "Required parameter: name"))?;
        let (crc, md5) = parse_goog_hash(head).map_err(|e| error(400, &e))?;
        let sums = verify_hashes(body, crc, md5).map_err(|e| error(400, &e))?;
        let current = self.current_generation(bucket, name);
        if let Some(want) = parse_generation_match(query)? {
            if current != want {
                return Err(precondition_failed());
            }
        }
        if current != 0 && !caller.access.allows(Need::Delete) {
            return Err(error(
                403,
                &format!(
                    "{} does not have storage.objects.delete access to the Google Cloud Storage object.",
                    caller.name
                ),
            ));
        }
        let content_type = head
            .header("content-type")
            .unwrap_or("application/octet-stream")
            .to_string();
        let meta = store_object(
            &mut self.buckets,
            &mut self.next_generation,
            &self.base_url,
            bucket,
            name,
            body.to_vec(),
            content_type,
            sums,
        );
        Ok(Outcome {
            resp: Response::json(200, &meta),
            created: Some((bucket.to_string(), name.to_string())),
        })
    }

    fn lookup(&self, query: &[(String, String)], bucket: &str, name: &str) -> Result<&Object, Response> {
        self.need_bucket(bucket)?;
        let o = self
            .buckets
            .get(bucket)
            .and_then(|b| b.get(name))
            .ok_or_else(|| error(404, &format!("No such object: {bucket}/{name}")))?;
        if let Some(g) = query_param(query, "generation") {
            if g != o.generation.to_string() {
                return Err(error(404, &format!("No such object: {bucket}/{name}#{g}")));
            }
        }
        Ok(o)
    }

    fn stat(
        &self,
        head: &Head,
        query: &[(String, String)],
        bucket: &str,
        name: &str,
    ) -> Result<Response, Response> {
        self.authorize(head, Need::Read, "storage.objects.get", "object")?;
        let o = self.lookup(query, bucket, name)?;
        Ok(Response::json(200, &object_json(&self.base_url, bucket, name, o)))
    }

    fn download(
        &self,
        head: &Head,
        query: &[(String, String)],
        bucket: &str,
        name: &str,
    ) -> Result<Response, Response> {
        self.authorize(head, Need::Read, "storage.objects.get", "object")?;
        let o = self.lookup(query, bucket, name)?;
        let size = o.data.len() as u64;
        let mut resp = Response::new(200);
        let (from, to) = match head.header("range") {
            Some(r) => match parse_download_range(r, size) {
                Some((a, b)) => {
                    resp.status = 206;
                    resp = resp.header("Content-Range", format!("bytes {a}-{b}/{size}"));
                    (a, b + 1)
                }
                None => {
                    return Err(error(416, "The requested range cannot be satisfied.")
                        .header("Content-Range", format!("bytes */{size}")))
                }
            },
            None => (0, size),
        };
        resp.body = o.data[from as usize..to as usize].to_vec();
        Ok(resp
            .header("Content-Type", o.content_type.clone())
            .header("x-goog-hash", format!("crc32c={}", b64_crc(o.crc32c)))
            .header("x-goog-hash", format!("md5={}", STANDARD.encode(o.md5)))
            .header("x-goog-generation", o.generation.to_string())
            .header("x-goog-metageneration", "1")
            .header("x-goog-stored-content-length", size.to_string())
            .header("Accept-Ranges", "bytes"))
    }

    fn delete_object_req(&mut self, head: &Head, bucket: &str, name: &str) -> Result<Response, Response> {
        self.authorize(head, Need::Delete, "storage.objects.delete", "object")?;
        self.need_bucket(bucket)?;
        if self.delete_object(bucket, name) {
            Ok(Response::new(204))
        } else {
            Err(error(404, &format!("No such object: {bucket}/{name}")))
        }
    }

    fn list(&self, head: &Head, query: &[(String, String)], bucket: &str) -> Result<Response, Response> {
        self.authorize(head, Need::Read, "storage.objects.list", "bucket")?;
        self.need_bucket(bucket)?;
        if query_param(query, "delimiter").is_some() {
            return Err(error(400, "delimiter is not implemented by the fake"));
        }
        let prefix = query_param(query, "prefix").unwrap_or("");
        let after = match query_param(query, "pageToken") {
            None => None,
            Some(t) => Some(
                URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| error(400, "Invalid pageToken"))?,
            ),
        };
        let max = match query_param(query, "maxResults") {
            None => usize::MAX,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| error(400, "Invalid maxResults"))?,
        };
        let page = max.min(self.config.page_size.max(1));
        let objects = &self.buckets[bucket];
        let mut matching = objects
            .iter()
            .filter(|(n, _)| n.starts_with(prefix) && after.as_ref().is_none_or(|a| n.as_str() > a.as_str()));
        let items: Vec<Value> = matching
            .by_ref()
            .take(page)
            .map(|(n, o)| object_json(&self.base_url, bucket, n, o))
            .collect();
        let mut out = json!({"kind": "storage#objects"});
        if matching.next().is_some() {
            if let Some(last) = items.last().and_then(|v| v["name"].as_str()) {
                out["nextPageToken"] = json!(URL_SAFE_NO_PAD.encode(last));
            }
        }
        // Like GCS, an empty page has no "items" at all.
        if !items.is_empty() {
            out["items"] = Value::Array(items);
        }
        Ok(Response::json(200, &out))
    }
}

/// `Range: bytes=a-b | a- | -n` against an object of `size` bytes; inclusive bounds.
fn parse_download_range(v: &str, size: u64) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    if size == 0 {
        return None;
    }
    let (from, to) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size - 1)),
    };
    (from <= to && from < size).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123); // 2024-02-29T23:59:59.123Z
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.123Z");
    }

    #[test]
    fn download_ranges() {
        assert_eq!(parse_download_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_download_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_download_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_download_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_download_range("bytes=100-", 100), None);
        assert_eq!(parse_download_range("bytes=0-0", 0), None);
    }

    #[test]
    fn hashes_in_gcs_form() {
        // Known value: crc32c("hello world") = 0xc99465aa.
        assert_eq!(b64_crc(crc32c::crc32c(b"hello world")), "yZRlqg==");
        assert_eq!(STANDARD.encode(md5_of(b"")), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn bucket_names() {
        assert!(valid_bucket_name("my-bucket_1.x"));
        assert!(!valid_bucket_name("ab"));
        assert!(!valid_bucket_name("Upper"));
        assert!(!valid_bucket_name("-x-y"));
    }
}
