//! Proves the GCS fake before other crates rely on it: every protocol rule and
//! every fault kind, spoken over raw HTTP/1.1 (so each byte is under control)
//! and through reqwest (the client `crates/bucket` uses).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde_json::{json, Value};
use testkit::gcs_fake::{
    sign_jwt_with_test_key, Access, Fault, FaultAction, GcsFake, Persist, RequestKind, SessionState,
    TEST_PUBLIC_KEY_PEM,
};

const K256: usize = 256 * 1024;
const BUCKET: &str = "bkt";
const EMAIL: &str = "uploader@proj.iam.gserviceaccount.com";
const RW_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";

// ---------- helpers ----------

/// Deterministic pseudo-random bytes.
fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

fn crc_b64(d: &[u8]) -> String {
    STANDARD.encode(crc32c::crc32c(d).to_be_bytes())
}

fn md5_b64(d: &[u8]) -> String {
    STANDARD.encode(Md5::digest(d))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Committed bytes of a 308 answer.
    fn committed(&self) -> u64 {
        assert_eq!(
            self.status,
            308,
            "expected 308, got {} {}",
            self.status,
            self.text()
        );
        match self.header("range") {
            None => 0,
            Some(r) => {
                let end = r
                    .strip_prefix("bytes=0-")
                    .unwrap_or_else(|| panic!("bad Range {r:?}"));
                end.parse::<u64>().expect("Range end is a number") + 1
            }
        }
    }
}

/// Parses one complete response from `raw`; returns it and the bytes after it.
fn parse_response(raw: &[u8]) -> Option<(Resp, &[u8])> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")?
        .1
        .parse()
        .ok()?;
    let rest = &raw[end + 4..];
    if rest.len() < len {
        return None;
    }
    Some((
        Resp {
            status,
            headers,
            body: rest[..len].to_vec(),
        },
        &rest[len..],
    ))
}

fn request_bytes(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if close {
        req.push_str("Connection: close\r\n");
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    out
}

/// One request on a fresh connection; `None` if the server hung up (or went quiet past
/// `timeout`) without a complete response.
fn try_send(
    fake: &GcsFake,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Option<Resp> {
    let mut s = TcpStream::connect(fake.host()).expect("connect to fake");
    s.set_read_timeout(Some(timeout)).expect("set read timeout");
    // A write error means the server closed early; the read below tells what it said.
    let _ = s.write_all(&request_bytes(&fake.host(), method, path, headers, body, true));
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw).map(|(r, _)| r)
}

fn send(fake: &GcsFake, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_send(fake, method, path, headers, body, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no response to {method} {path}"))
}

fn stored(fake: &GcsFake, name: &str) -> Vec<u8> {
    fake.object(BUCKET, name)
        .unwrap_or_else(|| panic!("object {name} is not stored"))
}

fn last_session(fake: &GcsFake) -> testkit::gcs_fake::SessionInfo {
    fake.sessions().pop().expect("a session")
}

fn fake() -> GcsFake {
    let f = GcsFake::start();
    f.create_bucket(BUCKET);
    f
}

fn initiate_path(name: &str, extra: &str) -> String {
    format!(
        "/upload/storage/v1/b/{BUCKET}/o?uploadType=resumable&name={}{extra}",
        enc(name)
    )
}

/// Starts a resumable upload; returns the session path (Location minus the base URL).
fn start_upload(fake: &GcsFake, name: &str) -> String {
    let r = send(fake, "POST", &initiate_path(name, ""), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    session_path(fake, &r)
}

fn session_path(fake: &GcsFake, r: &Resp) -> String {
    let loc = r.header("location").expect("Location header");
    loc.strip_prefix(&fake.base_url())
        .unwrap_or_else(|| panic!("Location {loc} not on the fake"))
        .to_string()
}

fn put(fake: &GcsFake, session: &str, range: &str, body: &[u8], extra: &[(&str, &str)]) -> Resp {
    let mut headers = vec![("Content-Range", range)];
    headers.extend_from_slice(extra);
    send(fake, "PUT", session, &headers, body)
}

fn status_query(fake: &GcsFake, session: &str) -> Resp {
    put(fake, session, "bytes */*", b"", &[])
}

fn chunk_range(start: usize, len: usize, total: Option<usize>) -> String {
    let total = total.map_or("*".to_string(), |t| t.to_string());
    format!("bytes {start}-{}/{total}", start + len - 1)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn assertion(fake: &GcsFake, iss: &str, scope: &str) -> String {
    let now = now_secs();
    sign_jwt_with_test_key(&json!({
        "iss": iss, "scope": scope, "aud": fake.token_uri(), "iat": now, "exp": now + 3600,
    }))
}

fn token_request(fake: &GcsFake, grant_type: &str, assertion: &str) -> Resp {
    let body = format!("grant_type={}&assertion={}", enc(grant_type), enc(assertion));
    send(
        fake,
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A bearer token for `email` (registered with the test key).
fn token_for(fake: &GcsFake, email: &str, scope: &str) -> String {
    fake.test_service_account(email);
    let r = token_request(fake, JWT_GRANT, &assertion(fake, email, scope));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"]
        .as_str()
        .expect("JSON string")
        .to_string()
}

// ---------- resumable protocol ----------

#[test]
fn resumable_upload_in_chunks_with_status_queries() {
    let fake = fake();
    let body = data(2 * K256 + 1000, 1);
    let init = send(
        &fake,
        "POST",
        &initiate_path("dir/db.sql", ""),
        &[("Content-Type", "application/json")],
        br#"{"contentType":"application/sql"}"#,
    );
    assert_eq!(init.status, 200, "{}", init.text());
    let loc = init.header("location").expect("Location header");
    assert!(
        loc.starts_with(&format!("http://{}/upload/storage/v1/b/{BUCKET}/o?", fake.host())),
        "{loc}"
    );
    assert!(
        loc.contains("uploadType=resumable") && loc.contains("name=dir%2Fdb.sql"),
        "{loc}"
    );
    let id = init
        .header("x-guploader-uploadid")
        .expect("X-GUploader-UploadID")
        .to_string();
    assert!(loc.ends_with(&format!("upload_id={id}")), "{loc}");
    let s = session_path(&fake, &init);

    // Nothing persisted yet: 308 without Range.
    let q = status_query(&fake, &s);
    assert_eq!((q.committed(), q.header("range")), (0, None));

    let r = put(&fake, &s, &chunk_range(0, K256, None), &body[..K256], &[]);
    assert_eq!(r.header("range"), Some("bytes=0-262143"));
    assert_eq!(r.committed(), K256 as u64);
    assert_eq!(status_query(&fake, &s).committed(), K256 as u64);
    let r = put(
        &fake,
        &s,
        &chunk_range(K256, K256, None),
        &body[K256..2 * K256],
        &[],
    );
    assert_eq!(r.committed(), 2 * K256 as u64);
    assert_eq!(fake.sessions()[0].committed, 2 * K256 as u64);
    assert_eq!(fake.sessions()[0].state, SessionState::Active);

    let hash = format!("crc32c={},md5={}", crc_b64(&body), md5_b64(&body));
    let last = &body[2 * K256..];
    let r = put(
        &fake,
        &s,
        &chunk_range(2 * K256, last.len(), Some(body.len())),
        last,
        &[("x-goog-hash", &hash)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let meta = r.json();
    assert_eq!(meta["kind"], "storage#object");
    assert_eq!(meta["name"], "dir/db.sql");
    assert_eq!(meta["bucket"], BUCKET);
    assert_eq!(meta["size"], body.len().to_string());
    assert_eq!(meta["crc32c"], crc_b64(&body));
    assert_eq!(meta["md5Hash"], md5_b64(&body));
    assert_eq!(meta["contentType"], "application/sql");
    let generation: u64 = meta["generation"]
        .as_str()
        .expect("JSON string")
        .parse()
        .expect("a number");
    assert!(generation > 0);
    assert_eq!(stored(&fake, "dir/db.sql"), body);

    // A finished session answers status queries (and resends) with the object.
    let again = status_query(&fake, &s);
    assert_eq!((again.status, again.json()), (200, meta.clone()));
    let resend = put(&fake, &s, &chunk_range(0, K256, None), &body[..K256], &[]);
    assert_eq!((resend.status, resend.json()), (200, meta));
    let info = &fake.sessions()[0];
    assert_eq!(
        (info.state, info.committed, info.upload_id.as_str()),
        (SessionState::Finalized, body.len() as u64, id.as_str())
    );

    // The request log classifies each request.
    let kinds: Vec<RequestKind> = fake.requests().iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RequestKind::Initiate,
            RequestKind::StatusQuery,
            RequestKind::ChunkPut,
            RequestKind::StatusQuery,
            RequestKind::ChunkPut,
            RequestKind::Finalize,
            RequestKind::StatusQuery,
            RequestKind::ChunkPut,
        ]
    );
    let fin = &fake.requests()[5];
    assert_eq!(
        (fin.status, fin.body_len, fin.upload_id.as_deref()),
        (Some(200), 1000, Some(id.as_str()))
    );
    assert_eq!(fin.header("X-Goog-Hash"), Some(hash.as_str()));
    assert_eq!(fin.object.as_deref(), Some("dir/db.sql"));
}

#[test]
fn initiation_rules() {
    let fake = fake();
    // Missing bucket, missing name, bad JSON.
    let r = send(
        &fake,
        "POST",
        "/upload/storage/v1/b/nope/o?uploadType=resumable&name=a",
        &[],
        b"",
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], 404);
    let r = send(
        &fake,
        "POST",
        &format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=resumable"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400);
    let r = send(
        &fake,
        "POST",
        &format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=resumable"),
        &[],
        b"{",
    );
    assert_eq!(r.status, 400);
    let r = send(
        &fake,
        "POST",
        &format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=multipart&name=a"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400);
    // The name may come from the metadata body.
    let r = send(
        &fake,
        "POST",
        &format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=resumable"),
        &[("X-Upload-Content-Type", "text/plain")],
        br#"{"name":"from-body"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let s = session_path(&fake, &r);
    let r = put(&fake, &s, "bytes 0-1/2", b"hi", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["name"].clone(), r.json()["contentType"].clone()),
        (json!("from-body"), json!("text/plain"))
    );
    // Query values are form-decoded: '+' is a space, "%2B" a plus.
    for (query_name, stored_name) in [("a+b", "a b"), ("a%2Bb", "a+b")] {
        let path = format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={query_name}");
        assert_eq!(send(&fake, "POST", &path, &[], b"x").json()["name"], stored_name);
    }
    // Unknown session ids and a session used under another bucket are 404.
    let r = put(
        &fake,
        &format!("/upload/storage/v1/b/{BUCKET}/o?upload_id=nope"),
        "bytes */*",
        b"",
        &[],
    );
    assert_eq!(r.status, 404);
    fake.create_bucket("other");
    let s = start_upload(&fake, "x");
    let r = put(
        &fake,
        &s.replace(&format!("/b/{BUCKET}/"), "/b/other/"),
        "bytes */*",
        b"",
        &[],
    );
    assert_eq!(r.status, 404);
}

#[test]
fn chunk_shape_rules() {
    let fake = fake();
    let body = data(3 * K256, 2);
    let s = start_upload(&fake, "obj");
    // Non-final chunk not a multiple of 256 KiB.
    let r = put(&fake, &s, &chunk_range(0, K256 - 1, None), &body[..K256 - 1], &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("multiple of 262144"), "{}", r.text());
    // Content-Range length differs from the body.
    let r = put(&fake, &s, &chunk_range(0, K256, None), &body[..K256 - 5], &[]);
    assert_eq!(r.status, 400);
    // Final chunk whose end is not TOTAL-1.
    let r = put(
        &fake,
        &s,
        &format!("bytes 0-{}/{}", K256 - 1, 2 * K256),
        &body[..K256],
        &[],
    );
    assert_eq!(r.status, 400);
    // Malformed Content-Range.
    let r = put(&fake, &s, "bytes 0-x/*", &body[..K256], &[]);
    assert_eq!(r.status, 400);
    // A status query with a body.
    let r = put(&fake, &s, "bytes */*", b"abc", &[]);
    assert_eq!(r.status, 400);
    // None of it persisted anything.
    assert_eq!(status_query(&fake, &s).committed(), 0);
    // A chunk starting beyond the committed offset is rejected, not stored.
    let r = put(
        &fake,
        &s,
        &chunk_range(K256, K256, None),
        &body[K256..2 * K256],
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("exceeds already uploaded size of 0"),
        "{}",
        r.text()
    );
    assert_eq!(status_query(&fake, &s).committed(), 0);
    // The session is still usable.
    assert_eq!(
        put(&fake, &s, &chunk_range(0, K256, None), &body[..K256], &[]).committed(),
        K256 as u64
    );
    // The granularity is configurable (for small tests), and applies at once.
    fake.set_chunk_granularity(1024);
    let r = put(
        &fake,
        &s,
        &chunk_range(K256, 1024, None),
        &body[K256..K256 + 1024],
        &[],
    );
    assert_eq!(r.committed(), (K256 + 1024) as u64);
}

#[test]
fn overlapping_resends_are_ignored_not_appended() {
    let fake = fake();
    let body = data(3 * K256 + 7, 3);
    let s = start_upload(&fake, "o");
    assert_eq!(
        put(&fake, &s, &chunk_range(0, K256, None), &body[..K256], &[]).committed(),
        K256 as u64
    );
    // Resend [0, 512K): the first 256 KiB are already there.
    let r = put(&fake, &s, &chunk_range(0, 2 * K256, None), &body[..2 * K256], &[]);
    assert_eq!(r.committed(), 2 * K256 as u64);
    // Resend of bytes entirely committed: nothing changes.
    let r = put(
        &fake,
        &s,
        &chunk_range(K256, K256, None),
        &body[K256..2 * K256],
        &[],
    );
    assert_eq!(r.committed(), 2 * K256 as u64);
    // Final chunk overlapping the committed range.
    let from = K256;
    let r = put(
        &fake,
        &s,
        &chunk_range(from, body.len() - from, Some(body.len())),
        &body[from..],
        &[("x-goog-hash", &format!("crc32c={}", crc_b64(&body)))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(stored(&fake, "o"), body);
    assert_eq!(fake.sessions()[0].ignored_overlap, 3 * K256 as u64);
}

#[test]
fn status_query_with_total_finalizes_only_when_complete() {
    let fake = fake();
    let body = data(2 * K256, 4);
    let s = start_upload(&fake, "o");
    put(&fake, &s, &chunk_range(0, K256, None), &body[..K256], &[]);
    let total = format!("bytes */{}", body.len());
    assert_eq!(put(&fake, &s, &total, b"", &[]).committed(), K256 as u64);
    assert_eq!(put(&fake, &s, "bytes */100", b"", &[]).status, 400);
    put(&fake, &s, &chunk_range(K256, K256, None), &body[K256..], &[]);
    assert!(
        fake.object(BUCKET, "o").is_none(),
        "non-final chunk must not finalize"
    );
    let r = put(
        &fake,
        &s,
        &total,
        b"",
        &[("x-goog-hash", &format!("crc32c={}", crc_b64(&body)))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["size"], body.len().to_string());
    assert_eq!(stored(&fake, "o"), body);

    // Empty object: bytes */0 right away.
    let s = start_upload(&fake, "empty");
    let r = put(
        &fake,
        &s,
        "bytes */0",
        b"",
        &[("x-goog-hash", &format!("crc32c={}", crc_b64(b"")))],
    );
    assert_eq!((r.status, r.json()["size"].clone()), (200, json!("0")));
    assert_eq!(stored(&fake, "empty"), b"");
}

#[test]
fn one_shot_put_without_content_range() {
    let fake = fake();
    let s = start_upload(&fake, "whole");
    let r = send(&fake, "PUT", &s, &[], b"all at once");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(stored(&fake, "whole"), b"all at once");
    assert_eq!(
        fake.requests().last().expect("a recorded request").kind,
        RequestKind::Finalize
    );
}

#[test]
fn checksum_mismatch_rejects_final_and_creates_nothing() {
    let fake = fake();
    let body = data(K256 + 10, 5);
    let wrong = crc_b64(b"something else");
    for (header, needle) in [
        (format!("crc32c={wrong}"), "CRC32C"),
        (format!("crc32c={},md5={}", crc_b64(&body), md5_b64(b"x")), "MD5"),
    ] {
        let s = start_upload(&fake, "o");
        put(&fake, &s, &chunk_range(0, K256, None), &body[..K256], &[]);
        let r = put(
            &fake,
            &s,
            &chunk_range(K256, 10, Some(body.len())),
            &body[K256..],
            &[("x-goog-hash", &header)],
        );
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(
            r.text().contains(needle) && r.text().contains("doesn't match"),
            "{}",
            r.text()
        );
        assert!(fake.object(BUCKET, "o").is_none());
        // The session is discarded.
        assert_eq!(last_session(&fake).state, SessionState::Failed);
        assert_eq!(status_query(&fake, &s).status, 410);
    }
    // Malformed x-goog-hash: 400, but the session survives.
    let s = start_upload(&fake, "o");
    let r = put(&fake, &s, "bytes 0-2/3", b"abc", &[("x-goog-hash", "crc32c=!!")]);
    assert_eq!(r.status, 400);
    assert_eq!(status_query(&fake, &s).committed(), 3);
    // Checksums from the initiation metadata are checked too.
    let r = send(
        &fake,
        "POST",
        &initiate_path("meta", ""),
        &[("Content-Type", "application/json")],
        json!({"crc32c": crc_b64(b"other")}).to_string().as_bytes(),
    );
    let s = session_path(&fake, &r);
    assert_eq!(put(&fake, &s, "bytes 0-2/3", b"abc", &[]).status, 400);
    assert!(fake.object(BUCKET, "meta").is_none());
    // Declared X-Upload-Content-Length must match.
    let r = send(
        &fake,
        "POST",
        &initiate_path("sized", ""),
        &[("X-Upload-Content-Length", "5")],
        b"",
    );
    let s = session_path(&fake, &r);
    assert_eq!(put(&fake, &s, "bytes 0-2/3", b"abc", &[]).status, 400);
}

#[test]
fn if_generation_match_zero_refuses_overwrites() {
    let fake = fake();
    fake.put_object(BUCKET, "exists", b"old".to_vec());
    let r = send(
        &fake,
        "POST",
        &initiate_path("exists", "&ifGenerationMatch=0"),
        &[],
        b"",
    );
    assert_eq!(r.status, 412, "{}", r.text());
    // Checked again at finalize: the object appeared after initiation.
    let r = send(
        &fake,
        "POST",
        &initiate_path("later", "&ifGenerationMatch=0"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    let s = session_path(&fake, &r);
    fake.put_object(BUCKET, "later", b"racer".to_vec());
    let r = put(&fake, &s, "bytes 0-2/3", b"new", &[]);
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(stored(&fake, "later"), b"racer");
    // Without the precondition an overwrite makes a new generation.
    let g1 = fake
        .object_info(BUCKET, "exists")
        .expect("object info")
        .generation;
    let s = start_upload(&fake, "exists");
    let r = put(&fake, &s, "bytes 0-2/3", b"new", &[]);
    assert_eq!(r.status, 200);
    let g2: u64 = r.json()["generation"]
        .as_str()
        .expect("JSON string")
        .parse()
        .expect("a number");
    assert!(g2 > g1);
    // A matching non-zero generation is accepted.
    let r = send(
        &fake,
        "POST",
        &initiate_path("exists", &format!("&ifGenerationMatch={g2}")),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    // Simple uploads honour it too.
    let path = format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name=exists&ifGenerationMatch=0");
    assert_eq!(send(&fake, "POST", &path, &[], b"x").status, 412);
    assert_eq!(stored(&fake, "exists"), b"new");
}

#[test]
fn cancel_with_delete() {
    let fake = fake();
    let s = start_upload(&fake, "o");
    put(&fake, &s, &chunk_range(0, K256, None), &data(K256, 6), &[]);
    let r = send(&fake, "DELETE", &s, &[], b"");
    assert_eq!(r.status, 499);
    assert_eq!(fake.sessions()[0].state, SessionState::Cancelled);
    assert_eq!(status_query(&fake, &s).status, 410);
    assert_eq!(
        fake.requests().last().expect("a recorded request").kind,
        RequestKind::StatusQuery
    );
    assert!(fake.object(BUCKET, "o").is_none());
}

#[test]
fn simple_upload_checks_hashes() {
    let fake = fake();
    let path = |n: &str| format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={}", enc(n));
    let body = br#"{"manifest":true}"#;
    let r = send(
        &fake,
        "POST",
        &path("manifest.json"),
        &[
            ("Content-Type", "application/json"),
            ("x-goog-hash", &format!("crc32c={}", crc_b64(body))),
        ],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["contentType"], "application/json");
    assert_eq!(r.json()["md5Hash"], md5_b64(body));
    let r = send(
        &fake,
        "POST",
        &path("bad.json"),
        &[("x-goog-hash", &format!("crc32c={}", crc_b64(b"x")))],
        body,
    );
    assert_eq!(r.status, 400);
    assert!(fake.object(BUCKET, "bad.json").is_none());
    let r = send(
        &fake,
        "POST",
        "/upload/storage/v1/b/nope/o?uploadType=media&name=a",
        &[],
        body,
    );
    assert_eq!(r.status, 404);
}

#[test]
fn metadata_downloads_and_ranges() {
    let fake = fake();
    let body = data(1000, 7);
    fake.put_object(BUCKET, "a dir/x+y.sql", body.clone());
    let name = "a%20dir%2Fx%2By.sql";
    let r = send(
        &fake,
        "GET",
        &format!("/storage/v1/b/{BUCKET}/o/{name}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let meta = r.json();
    assert_eq!(
        (meta["name"].clone(), meta["size"].clone()),
        (json!("a dir/x+y.sql"), json!("1000"))
    );
    assert_eq!(meta["crc32c"], crc_b64(&body));
    let generation = meta["generation"].as_str().expect("JSON string").to_string();

    for path in [
        format!("/storage/v1/b/{BUCKET}/o/{name}?alt=media"),
        format!("/download/storage/v1/b/{BUCKET}/o/{name}?alt=media"),
        format!("/download/storage/v1/b/{BUCKET}/o/{name}?generation={generation}&alt=media"),
    ] {
        let r = send(&fake, "GET", &path, &[], b"");
        assert_eq!((r.status, &r.body), (200, &body), "{path}");
        let hashes = r.headers_named("x-goog-hash");
        assert!(
            hashes.contains(&format!("crc32c={}", crc_b64(&body)).as_str()),
            "{hashes:?}"
        );
        assert!(
            hashes.contains(&format!("md5={}", md5_b64(&body)).as_str()),
            "{hashes:?}"
        );
        assert_eq!(r.header("x-goog-generation"), Some(generation.as_str()));
    }
    let media = format!("/storage/v1/b/{BUCKET}/o/{name}?alt=media");
    let r = send(&fake, "GET", &media, &[("Range", "bytes=10-19")], b"");
    assert_eq!(
        (r.status, r.header("content-range")),
        (206, Some("bytes 10-19/1000"))
    );
    assert_eq!(r.body, &body[10..20]);
    assert_eq!(
        send(&fake, "GET", &media, &[("Range", "bytes=5000-")], b"").status,
        416
    );

    // A raw '/' in the name, a missing object, bucket or generation: 404.
    let raw = send(
        &fake,
        "GET",
        &format!("/storage/v1/b/{BUCKET}/o/a%20dir/x%2By.sql"),
        &[],
        b"",
    );
    assert_eq!(raw.status, 404);
    assert_eq!(
        send(
            &fake,
            "GET",
            &format!("/storage/v1/b/{BUCKET}/o/missing"),
            &[],
            b""
        )
        .status,
        404
    );
    assert_eq!(send(&fake, "GET", "/storage/v1/b/nope/o/x", &[], b"").status, 404);
    let old = format!("/storage/v1/b/{BUCKET}/o/{name}?generation=1");
    assert_eq!(send(&fake, "GET", &old, &[], b"").status, 404);

    // Object delete.
    let del = format!("/storage/v1/b/{BUCKET}/o/{name}");
    assert_eq!(send(&fake, "DELETE", &del, &[], b"").status, 204);
    assert_eq!(send(&fake, "DELETE", &del, &[], b"").status, 404);
    assert!(fake.objects(BUCKET).is_empty());
}

#[test]
fn listing_paginates() {
    let fake = fake();
    for n in ["snap/a", "snap/b", "snap/c", "snap/d", "snap/e", "zzz"] {
        fake.put_object(BUCKET, n, n.as_bytes().to_vec());
    }
    let list = |query: &str| {
        send(
            &fake,
            "GET",
            &format!("/storage/v1/b/{BUCKET}/o?{query}"),
            &[],
            b"",
        )
        .json()
    };
    let mut names = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let q = match &token {
            None => "prefix=snap%2F".to_string(),
            Some(t) => format!("prefix=snap%2F&pageToken={}", enc(t)),
        };
        let page = list(&q);
        pages += 1;
        assert_eq!(page["kind"], "storage#objects");
        for item in page["items"].as_array().expect("JSON array") {
            assert_eq!(
                item["size"],
                item["name"].as_str().expect("JSON string").len().to_string()
            );
            names.push(item["name"].as_str().expect("JSON string").to_string());
        }
        match page["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(names, ["snap/a", "snap/b", "snap/c", "snap/d", "snap/e"]);
    assert_eq!(pages, 3);
    assert_eq!(
        list("maxResults=1")["items"]
            .as_array()
            .expect("JSON array")
            .len(),
        1
    );
    fake.set_page_size(1000);
    assert_eq!(list("")["items"].as_array().expect("JSON array").len(), 6);
    assert!(list("")["nextPageToken"].is_null());
    // An empty listing has no "items" key at all.
    let empty = list("prefix=nothing");
    assert!(empty.get("items").is_none(), "{empty}");
    let r = send(
        &fake,
        "GET",
        &format!("/storage/v1/b/{BUCKET}/o?delimiter=%2F"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400);
    assert_eq!(send(&fake, "GET", "/storage/v1/b/nope/o", &[], b"").status, 404);
}

#[test]
fn bucket_endpoints() {
    let fake = GcsFake::start();
    let r = send(
        &fake,
        "POST",
        "/storage/v1/b?project=p",
        &[],
        br#"{"name":"new-bucket"}"#,
    );
    assert_eq!((r.status, r.json()["name"].clone()), (200, json!("new-bucket")));
    assert_eq!(
        send(
            &fake,
            "POST",
            "/storage/v1/b?project=p",
            &[],
            br#"{"name":"new-bucket"}"#
        )
        .status,
        409
    );
    assert_eq!(
        send(&fake, "POST", "/storage/v1/b?project=p", &[], br#"{"name":"X"}"#).status,
        400
    );
    assert_eq!(
        send(&fake, "GET", "/storage/v1/b/new-bucket", &[], b"").status,
        200
    );
    assert_eq!(send(&fake, "GET", "/storage/v1/b/other", &[], b"").status, 404);
}

#[test]
fn keep_alive_chunked_bodies_and_expect_continue() {
    let fake = fake();
    let body = data(K256 + 3, 8);
    let s = start_upload(&fake, "o");
    let mut conn = TcpStream::connect(fake.host()).expect("connect to fake");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("socket I/O with the fake");
    // Chunk 1 with chunked transfer encoding and Expect: 100-continue.
    let head = format!(
        "PUT {s} HTTP/1.1\r\nHost: {}\r\nContent-Range: bytes 0-{}/*\r\nTransfer-Encoding: chunked\r\n\
         Expect: 100-continue\r\n\r\n",
        fake.host(),
        K256 - 1
    );
    conn.write_all(head.as_bytes()).expect("socket I/O with the fake");
    let mut cont = [0u8; 25];
    conn.read_exact(&mut cont).expect("socket I/O with the fake");
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    for piece in body[..K256].chunks(100_000) {
        conn.write_all(format!("{:x};ext=1\r\n", piece.len()).as_bytes())
            .expect("socket I/O with the fake");
        conn.write_all(piece).expect("socket I/O with the fake");
        conn.write_all(b"\r\n").expect("socket I/O with the fake");
    }
    conn.write_all(b"0\r\n\r\n").expect("socket I/O with the fake");
    // Then the final chunk on the same connection, with a plain Content-Length.
    let range = chunk_range(K256, 3, Some(body.len()));
    conn.write_all(&request_bytes(
        &fake.host(),
        "PUT",
        &s,
        &[("Content-Range", &range)],
        &body[K256..],
        true,
    ))
    .expect("socket I/O with the fake");
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).expect("socket I/O with the fake");
    let (first, rest) = parse_response(&raw).expect("first response");
    assert_eq!(first.committed(), K256 as u64);
    let (second, rest) = parse_response(rest).expect("second response");
    assert_eq!(second.status, 200, "{}", second.text());
    assert!(rest.is_empty());
    assert_eq!(stored(&fake, "o"), body);
}

#[test]
fn reqwest_drives_a_resumable_upload() {
    let fake = fake();
    let body = data(2 * K256 + 5, 9);
    let client = reqwest::blocking::Client::new();
    let base = fake.base_url();
    let init = client
        .post(format!(
            "{base}{}",
            initiate_path("via-reqwest", "&ifGenerationMatch=0")
        ))
        .json(&json!({"name": "via-reqwest", "contentType": "application/octet-stream"}))
        .send()
        .expect("reqwest request");
    assert_eq!(init.status(), 200);
    let session = init.headers()["location"]
        .to_str()
        .expect("ASCII header")
        .to_string();
    let mut offset = 0;
    while offset < 2 * K256 {
        let r = client
            .put(&session)
            .header("Content-Range", chunk_range(offset, K256, None))
            .body(body[offset..offset + K256].to_vec())
            .send()
            .expect("reqwest request");
        // 308 without Location: reqwest hands it back instead of following it.
        assert_eq!(r.status().as_u16(), 308);
        assert_eq!(
            r.headers()["range"],
            format!("bytes=0-{}", offset + K256 - 1).as_str()
        );
        offset += K256;
    }
    // Final chunk as a streamed (chunked) body.
    let tail = body[offset..].to_vec();
    let r = client
        .put(&session)
        .header("Content-Range", chunk_range(offset, tail.len(), Some(body.len())))
        .header("x-goog-hash", format!("crc32c={}", crc_b64(&body)))
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(tail)))
        .send()
        .expect("reqwest request");
    assert_eq!(r.status(), 200);
    let meta: Value = r.json().expect("JSON metadata");
    assert_eq!(meta["size"], body.len().to_string());
    let got = client
        .get(format!("{base}/storage/v1/b/{BUCKET}/o/via-reqwest?alt=media"))
        .send()
        .expect("reqwest request")
        .bytes()
        .expect("reqwest body");
    assert_eq!(&got[..], &body[..]);
    // The client reused connections: far fewer connections than requests is not observable
    // here, but every request was answered.
    assert!(fake.requests().iter().all(|r| r.status.is_some()));
}

// ---------- auth ----------

#[test]
fn token_endpoint_verifies_assertions() {
    let fake = GcsFake::start();
    let key_json: Value = serde_json::from_str(&fake.test_service_account(EMAIL)).expect("key JSON");
    assert_eq!(key_json["type"], "service_account");
    assert_eq!(key_json["client_email"], EMAIL);
    assert_eq!(key_json["token_uri"], fake.token_uri());
    assert!(key_json["private_key"]
        .as_str()
        .expect("private_key is a string")
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));

    let r = token_request(&fake, JWT_GRANT, &assertion(&fake, EMAIL, RW_SCOPE));
    assert_eq!(r.status, 200, "{}", r.text());
    let tok = r.json();
    assert!(tok["access_token"].as_str().expect("JSON string").len() > 20);
    assert_eq!(
        (tok["expires_in"].clone(), tok["token_type"].clone()),
        (json!(3599), json!("Bearer"))
    );
    assert_eq!(fake.issued_tokens(), 1);

    let now = now_secs();
    let claims = |iss: &str, aud: &str, iat: i64, exp: i64| {
        sign_jwt_with_test_key(&json!({"iss": iss, "scope": RW_SCOPE, "aud": aud, "iat": iat, "exp": exp}))
    };
    let aud = fake.token_uri();
    let good = claims(EMAIL, &aud, now, now + 3600);
    let mut tampered = good.clone();
    let last = tampered.pop().expect("non-empty JWT");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for (assertion, why) in [
        (
            claims("stranger@x.iam.gserviceaccount.com", &aud, now, now + 3600),
            "unknown account",
        ),
        (
            claims(EMAIL, "https://oauth2.googleapis.com/token", now, now + 3600),
            "wrong audience",
        ),
        (claims(EMAIL, &aud, now - 7200, now - 3600), "expired"),
        (claims(EMAIL, &aud, now, now + 7200), "longer than an hour"),
        (tampered, "bad signature"),
        ("not.a.jwt".to_string(), "garbage"),
    ] {
        let r = token_request(&fake, JWT_GRANT, &assertion);
        assert_eq!(r.status, 400, "{why}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_grant", "{why}");
    }
    let r = token_request(&fake, "client_credentials", &good);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    assert_eq!(fake.issued_tokens(), 1);

    // A key registered from its public PEM works the same.
    fake.register_service_account("second@proj.iam.gserviceaccount.com", TEST_PUBLIC_KEY_PEM);
    let r = token_request(
        &fake,
        JWT_GRANT,
        &assertion(&fake, "second@proj.iam.gserviceaccount.com", RW_SCOPE),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn require_auth_checks_bearer_tokens() {
    let fake = fake();
    fake.put_object(BUCKET, "o", b"x".to_vec());
    fake.require_auth(true);
    let stat = format!("/storage/v1/b/{BUCKET}/o/o");
    let r = send(&fake, "GET", &stat, &[], b"");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    assert_eq!(
        send(
            &fake,
            "GET",
            &stat,
            &[("Authorization", "Bearer ya29.made-up")],
            b""
        )
        .status,
        401
    );

    let token = token_for(&fake, EMAIL, RW_SCOPE);
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    assert_eq!(send(&fake, "GET", &stat, &auth, b"").status, 200);
    // Initiation needs the token; the session URI itself is the capability.
    assert_eq!(
        send(&fake, "POST", &initiate_path("up", ""), &[], b"").status,
        401
    );
    let r = send(&fake, "POST", &initiate_path("up", ""), &auth, b"");
    assert_eq!(r.status, 200);
    let s = session_path(&fake, &r);
    assert_eq!(put(&fake, &s, "bytes 0-2/3", b"abc", &[]).status, 200);
    assert_eq!(fake.sessions()[0].principal, EMAIL);

    fake.expire_tokens();
    assert_eq!(send(&fake, "GET", &stat, &auth, b"").status, 401);

    // Short-lived tokens expire on their own.
    fake.set_token_lifetime(Duration::from_secs(1));
    let short = token_for(&fake, EMAIL, RW_SCOPE);
    let bearer = format!("Bearer {short}");
    assert_eq!(
        send(&fake, "GET", &stat, &[("Authorization", &bearer)], b"").status,
        200
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        send(&fake, "GET", &stat, &[("Authorization", &bearer)], b"").status,
        401
    );

    // A read-only scope cannot write.
    fake.set_token_lifetime(Duration::from_secs(3599));
    let ro = token_for(
        &fake,
        EMAIL,
        "https://www.googleapis.com/auth/devstorage.read_only",
    );
    let bearer = format!("Bearer {ro}");
    assert_eq!(
        send(&fake, "GET", &stat, &[("Authorization", &bearer)], b"").status,
        200
    );
    assert_eq!(
        send(
            &fake,
            "POST",
            &initiate_path("up2", ""),
            &[("Authorization", &bearer)],
            b""
        )
        .status,
        403
    );
    // The token endpoint itself needs no bearer token.
    assert_eq!(
        token_request(&fake, JWT_GRANT, &assertion(&fake, EMAIL, RW_SCOPE)).status,
        200
    );
}

#[test]
fn write_only_and_read_only_accounts() {
    let fake = fake();
    fake.put_object(BUCKET, "existing", b"old".to_vec());
    fake.set_write_only(true);
    // New objects can be created, and the upload response still carries the metadata.
    let s = start_upload(&fake, "new");
    let r = put(&fake, &s, "bytes 0-2/3", b"abc", &[]);
    assert_eq!(
        (r.status, r.json()["crc32c"].clone()),
        (200, json!(crc_b64(b"abc")))
    );
    // Reads, lists and deletes are forbidden.
    for (method, path) in [
        ("GET", format!("/storage/v1/b/{BUCKET}/o/new")),
        ("GET", format!("/storage/v1/b/{BUCKET}/o/new?alt=media")),
        ("GET", format!("/storage/v1/b/{BUCKET}/o")),
        ("DELETE", format!("/storage/v1/b/{BUCKET}/o/new")),
    ] {
        let r = send(&fake, method, &path, &[], b"");
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        assert!(
            r.text().contains("does not have storage.objects."),
            "{}",
            r.text()
        );
    }
    // Overwriting needs delete permission: refused at finalize, the old object stays.
    let s = start_upload(&fake, "existing");
    let r = put(&fake, &s, "bytes 0-2/3", b"new", &[]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(stored(&fake, "existing"), b"old");
    let media = format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name=existing");
    assert_eq!(send(&fake, "POST", &media, &[], b"x").status, 403);
    fake.set_write_only(false);
    assert_eq!(
        send(&fake, "GET", &format!("/storage/v1/b/{BUCKET}/o/new"), &[], b"").status,
        200
    );

    // Per-account grants with auth on.
    fake.require_auth(true);
    let reader = token_for(&fake, EMAIL, RW_SCOPE);
    fake.deny_writes_for(EMAIL);
    let bearer = format!("Bearer {reader}");
    let auth = [("Authorization", bearer.as_str())];
    assert_eq!(
        send(&fake, "POST", &initiate_path("n2", ""), &auth, b"").status,
        403
    );
    assert_eq!(
        send(&fake, "GET", &format!("/storage/v1/b/{BUCKET}/o/new"), &auth, b"").status,
        200
    );
    fake.set_account_access(EMAIL, Access::NoAccess);
    assert_eq!(
        send(&fake, "GET", &format!("/storage/v1/b/{BUCKET}/o/new"), &auth, b"").status,
        403
    );
}

// ---------- faults ----------

#[test]
fn status_storms_with_retry_after() {
    let fake = fake();
    let body = data(K256, 10);
    fake.inject(Fault::status(RequestKind::Initiate, 429).retry_after(7));
    let r = send(&fake, "POST", &initiate_path("o", ""), &[], b"");
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    assert!(
        fake.sessions().is_empty(),
        "a faulted initiation creates no session"
    );
    let s = start_upload(&fake, "o");

    fake.inject(Fault::status(RequestKind::ChunkPut, 503).retry_after(2).times(3));
    assert_eq!(fake.pending_faults(), 1);
    for _ in 0..3 {
        let r = put(&fake, &s, &chunk_range(0, K256, None), &body, &[]);
        assert_eq!((r.status, r.header("retry-after")), (503, Some("2")));
        // Status queries are not chunk PUTs: the storm does not hit them, nothing was persisted.
        assert_eq!(status_query(&fake, &s).committed(), 0);
    }
    assert_eq!(fake.pending_faults(), 0);
    assert_eq!(
        put(&fake, &s, &chunk_range(0, K256, None), &body, &[]).committed(),
        K256 as u64
    );
    let faulted: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.fault.is_some())
        .collect();
    assert_eq!(faulted.len(), 4);
    assert!(faulted
        .iter()
        .skip(1)
        .all(|r| r.status == Some(503) && r.body_len == K256 as u64));

    // nth and per-object selection, 500 and 408 on other kinds.
    fake.put_object(BUCKET, "a", b"a".to_vec());
    fake.put_object(BUCKET, "b", b"b".to_vec());
    fake.inject(Fault::status(RequestKind::Get, 500).nth(2).for_object("b"));
    fake.inject(Fault::status(RequestKind::StatusQuery, 408));
    let get = |n: &str| {
        send(
            &fake,
            "GET",
            &format!("/storage/v1/b/{BUCKET}/o/{n}?alt=media"),
            &[],
            b"",
        )
        .status
    };
    assert_eq!(
        [get("b"), get("a"), get("a"), get("b"), get("b")],
        [200, 200, 200, 500, 200]
    );
    assert_eq!(status_query(&fake, &s).status, 408);
    assert_eq!(status_query(&fake, &s).committed(), K256 as u64);

    // Always, until cleared.
    fake.inject(Fault::status(RequestKind::Any, 503).always());
    assert_eq!(get("a"), 503);
    assert_eq!(status_query(&fake, &s).status, 503);
    fake.clear_faults();
    assert_eq!(get("a"), 200);
}

#[test]
fn error_after_persisting_the_chunk() {
    let fake = fake();
    let body = data(K256, 11);
    let s = start_upload(&fake, "o");
    fake.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::StatusAfterProcessing { status: 503 },
    ));
    assert_eq!(
        put(&fake, &s, &chunk_range(0, K256, None), &body, &[]).status,
        503
    );
    // The bytes made it anyway: the client must ask before resending.
    assert_eq!(status_query(&fake, &s).committed(), K256 as u64);
}

#[test]
fn partial_commit_answers_308_with_the_shorter_range() {
    let fake = fake();
    let body = data(2 * K256 + 9, 18);
    let s = start_upload(&fake, "o");
    fake.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::PartialCommit { keep: K256 as u64 },
    ));
    let r = put(&fake, &s, &chunk_range(0, 2 * K256, None), &body[..2 * K256], &[]);
    assert_eq!(r.committed(), K256 as u64);
    // On the final chunk nothing is finalized until every byte is in.
    fake.inject(Fault::new(
        RequestKind::Finalize,
        FaultAction::PartialCommit { keep: K256 as u64 },
    ));
    let hash = format!("crc32c={}", crc_b64(&body));
    let tail = &body[K256..];
    let range = chunk_range(K256, tail.len(), Some(body.len()));
    let r = put(&fake, &s, &range, tail, &[("x-goog-hash", &hash)]);
    assert_eq!(r.committed(), 2 * K256 as u64);
    assert!(fake.object(BUCKET, "o").is_none());
    let r = put(
        &fake,
        &s,
        &chunk_range(2 * K256, 9, Some(body.len())),
        &body[2 * K256..],
        &[("x-goog-hash", &hash)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(stored(&fake, "o"), body);
}

#[test]
fn cut_connection_mid_body_persists_a_prefix() {
    let fake = fake();
    let body = data(4 * K256 + 100, 12);
    let cut_at = 2 * K256 + 50_000; // inside the second 256 KiB block of the chunk
    for (persist, expect) in [
        (Persist::RoundDown, 2 * K256 as u64),
        (Persist::All, cut_at as u64),
        (Persist::Nothing, 0),
    ] {
        let name = format!("{persist:?}");
        let s = start_upload(&fake, &name);
        fake.inject(Fault::new(
            RequestKind::ChunkPut,
            FaultAction::CutBody {
                after: cut_at as u64,
                persist,
            },
        ));
        let r = try_send(
            &fake,
            "PUT",
            &s,
            &[("Content-Range", &chunk_range(0, 4 * K256, None))],
            &body[..4 * K256],
            Duration::from_secs(30),
        );
        assert!(r.is_none(), "{persist:?}: expected a hang-up, got {r:?}");
        let rec = fake
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.kind == RequestKind::ChunkPut)
            .expect("a recorded chunk PUT");
        assert_eq!((rec.status, rec.body_len), (None, cut_at as u64));
        let committed = status_query(&fake, &s).committed();
        assert_eq!(committed, expect, "{persist:?}");
        // Resume from the server's offset; the result is exact.
        let from = committed as usize;
        let r = put(
            &fake,
            &s,
            &chunk_range(from, body.len() - from, Some(body.len())),
            &body[from..],
            &[("x-goog-hash", &format!("crc32c={}", crc_b64(&body)))],
        );
        assert_eq!(r.status, 200, "{persist:?}: {}", r.text());
        assert_eq!(stored(&fake, &name), body, "{persist:?}");
    }

    // A cut final chunk persists a prefix but never finalizes.
    let s = start_upload(&fake, "final-cut");
    fake.inject(Fault::new(
        RequestKind::Finalize,
        FaultAction::CutBody {
            after: 1000,
            persist: Persist::All,
        },
    ));
    let r = try_send(
        &fake,
        "PUT",
        &s,
        &[("Content-Range", "bytes 0-4999/5000")],
        &body[..5000],
        Duration::from_secs(30),
    );
    assert!(r.is_none());
    assert!(fake.object(BUCKET, "final-cut").is_none());
    assert_eq!(status_query(&fake, &s).committed(), 1000);
}

#[test]
fn drop_after_processing() {
    let fake = fake();
    let body = data(K256 + 10, 13);
    let s = start_upload(&fake, "o");
    fake.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::DropAfterProcessing,
    ));
    let r = try_send(
        &fake,
        "PUT",
        &s,
        &[("Content-Range", &chunk_range(0, K256, None))],
        &body[..K256],
        Duration::from_secs(30),
    );
    assert!(r.is_none(), "{r:?}");
    assert_eq!(status_query(&fake, &s).committed(), K256 as u64);

    // On the final chunk: the object exists although the client saw no answer; a status
    // query then returns the finished object.
    fake.inject(Fault::new(
        RequestKind::Finalize,
        FaultAction::DropAfterProcessing,
    ));
    let range = chunk_range(K256, 10, Some(body.len()));
    let r = try_send(
        &fake,
        "PUT",
        &s,
        &[("Content-Range", &range)],
        &body[K256..],
        Duration::from_secs(30),
    );
    assert!(r.is_none());
    assert_eq!(stored(&fake, "o"), body);
    let q = status_query(&fake, &s);
    assert_eq!(
        (q.status, q.json()["size"].clone()),
        (200, json!(body.len().to_string()))
    );
}

#[test]
fn expired_sessions() {
    let fake = fake();
    let body = data(K256, 14);
    for status in [404, 410] {
        let s = start_upload(&fake, "o");
        put(&fake, &s, &chunk_range(0, K256, None), &body, &[]);
        fake.inject(Fault::new(
            RequestKind::ChunkPut,
            FaultAction::ExpireSession { status },
        ));
        let r = put(&fake, &s, &chunk_range(K256, K256, None), &body, &[]);
        assert_eq!(r.status, status);
        assert_eq!(status_query(&fake, &s).status, status);
        assert_eq!(last_session(&fake).state, SessionState::Expired);
    }
    // Directly, by id.
    let s = start_upload(&fake, "p");
    let id = last_session(&fake).upload_id.clone();
    assert!(fake.expire_session(&id));
    assert!(!fake.expire_session(&id), "already expired");
    assert_eq!(status_query(&fake, &s).status, 404);
    let s = start_upload(&fake, "q");
    fake.expire_all_sessions();
    assert_eq!(put(&fake, &s, "bytes 0-0/1", b"x", &[]).status, 404);
    assert!(fake.object(BUCKET, "q").is_none());
}

#[test]
fn corruption_and_wrong_reported_checksums() {
    let fake = fake();
    let body = data(5000, 15);
    let hash = format!("crc32c={}", crc_b64(&body));

    // Flip a stored byte after verification: the upload "succeeds", the stored bytes rot.
    fake.inject(Fault::new(
        RequestKind::Finalize,
        FaultAction::FlipStoredByte { offset: 1234 },
    ));
    let s = start_upload(&fake, "rot");
    let r = put(&fake, &s, "bytes 0-4999/5000", &body, &[("x-goog-hash", &hash)]);
    assert_eq!(
        (r.status, r.json()["crc32c"].clone()),
        (200, json!(crc_b64(&body)))
    );
    let rotten = stored(&fake, "rot");
    assert_eq!(rotten[1234], !body[1234]);
    assert_eq!(rotten[..1234], body[..1234]);
    let dl = send(
        &fake,
        "GET",
        &format!("/storage/v1/b/{BUCKET}/o/rot?alt=media"),
        &[],
        b"",
    );
    assert!(
        dl.headers_named("x-goog-hash").contains(&hash.as_str()),
        "metadata keeps the true crc32c"
    );
    assert_ne!(crc_b64(&dl.body), crc_b64(&body));

    // Report a wrong crc32c in the final metadata; the object itself is fine.
    fake.inject(Fault::new(
        RequestKind::Finalize,
        FaultAction::WrongCrc32cInResponse,
    ));
    let s = start_upload(&fake, "liar");
    let r = put(&fake, &s, "bytes 0-4999/5000", &body, &[("x-goog-hash", &hash)]);
    assert_eq!(r.status, 200);
    assert_ne!(r.json()["crc32c"], crc_b64(&body));
    assert_eq!(
        fake.object_info(BUCKET, "liar").expect("object info").crc32c,
        crc_b64(&body)
    );
    assert_eq!(stored(&fake, "liar"), body);

    // Simple uploads can be hit too, and corrupt_object works directly.
    fake.inject(Fault::new(
        RequestKind::SimpleUpload,
        FaultAction::FlipStoredByte { offset: 999_999 },
    ));
    let media = format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name=small");
    assert_eq!(send(&fake, "POST", &media, &[], b"abc").status, 200);
    assert_eq!(stored(&fake, "small"), [b'a', b'b', !b'c']);
    assert!(fake.corrupt_object(BUCKET, "liar", 0));
    assert_eq!(stored(&fake, "liar")[0], !body[0]);
    assert_eq!(
        fake.object_info(BUCKET, "liar").expect("object info").crc32c,
        crc_b64(&body)
    );
    assert!(!fake.corrupt_object(BUCKET, "missing", 0));
}

#[test]
fn throttled_link() {
    let fake = fake();
    let body = data(K256, 16);
    let s = start_upload(&fake, "o");
    // 256 KiB at 512 KiB/s: about half a second.
    fake.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::Throttle {
            bytes_per_sec: 2 * K256 as u64,
        },
    ));
    let t = Instant::now();
    let r = put(&fake, &s, &chunk_range(0, K256, None), &body, &[]);
    let took = t.elapsed();
    assert_eq!(r.committed(), K256 as u64);
    assert!(
        took >= Duration::from_millis(450),
        "throttled upload took only {took:?}"
    );
    // Unthrottled, the same chunk is much faster.
    let t = Instant::now();
    put(&fake, &s, &chunk_range(K256, K256, None), &body, &[]);
    assert!(
        t.elapsed() < took / 2,
        "unthrottled {:?} vs throttled {took:?}",
        t.elapsed()
    );
}

#[test]
fn stalls() {
    let fake = fake();
    let body = data(K256, 17);
    let s = start_upload(&fake, "o");

    // Processed at once, answered late.
    fake.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::Stall {
            duration: Duration::from_millis(400),
            process: true,
        },
    ));
    let t = Instant::now();
    let r = put(&fake, &s, &chunk_range(0, K256, None), &body, &[]);
    assert_eq!(r.committed(), K256 as u64);
    assert!(t.elapsed() >= Duration::from_millis(400));

    // Never answered: the client times out, nothing is persisted, meanwhile other requests
    // are served.
    fake.inject(Fault::new(
        RequestKind::ChunkPut,
        FaultAction::Stall {
            duration: Duration::from_secs(2),
            process: false,
        },
    ));
    let t = Instant::now();
    let r = try_send(
        &fake,
        "PUT",
        &s,
        &[("Content-Range", &chunk_range(K256, K256, None))],
        &body,
        Duration::from_millis(300),
    );
    assert!(r.is_none(), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(status_query(&fake, &s).committed(), K256 as u64);
    let stalled = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.kind == RequestKind::ChunkPut)
        .expect("a recorded chunk PUT");
    assert_eq!(stalled.status, None);
}

#[test]
fn drop_stops_the_server() {
    let fake = fake();
    // A stalled connection must not keep the fake alive.
    fake.inject(Fault::new(
        RequestKind::Any,
        FaultAction::Stall {
            duration: Duration::from_secs(600),
            process: false,
        },
    ));
    let host = fake.host();
    let mut conn = TcpStream::connect(&host).expect("connect to fake");
    conn.write_all(&request_bytes(
        &host,
        "GET",
        "/storage/v1/b/bkt/o",
        &[],
        b"",
        false,
    ))
    .expect("socket I/O with the fake");
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    drop(fake);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        TcpStream::connect_timeout(&host.parse().expect("a number"), Duration::from_millis(500)).is_err()
    );
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("socket I/O with the fake");
    let mut buf = Vec::new();
    let _ = conn.read_to_end(&mut buf);
    assert!(buf.is_empty(), "no response from a stopped fake");
}

#[tokio::test]
async fn usable_from_async_tests() {
    let fake = fake();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}{}", fake.base_url(), initiate_path("async", "")))
        .send()
        .await
        .expect("reqwest request");
    assert_eq!(r.status(), 200);
    let session = r.headers()["location"]
        .to_str()
        .expect("ASCII header")
        .to_string();
    let r = client
        .put(&session)
        .header("Content-Range", "bytes 0-4/5")
        .body("hello")
        .send()
        .await
        .expect("reqwest request");
    assert_eq!(r.status(), 200);
    assert_eq!(stored(&fake, "async"), b"hello");
    // Dropping inside a runtime must not hang.
    drop(fake);
}
