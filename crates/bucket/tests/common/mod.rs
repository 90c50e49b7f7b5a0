//! Shared test helpers: data, stores, reading streams, and a real fake-gcs-server process.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bucket::{ByteStream, RetryPolicy, Store, StoreOptions, UploadSession, CHUNK_ALIGN};
use futures_util::StreamExt as _;

/// 256 KiB as a usize.
pub const K256: usize = CHUNK_ALIGN as usize;

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A retry policy fast enough for tests.
pub fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        total_timeout: Duration::from_secs(60),
    }
}

/// Options for an emulator at `host`, without reading the environment.
pub fn emulator_opts(host: &str) -> StoreOptions {
    StoreOptions {
        emulator_host: Some(host.to_string()),
        retry: fast_retry(8),
        request_timeout: Duration::from_secs(20),
        ..StoreOptions::default()
    }
}

/// Collects a stream, panicking on an error.
pub async fn collect(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.expect("read stream chunk"));
    }
    out
}

/// Collects a stream up to its first error.
pub async fn collect_result(mut s: ByteStream) -> Result<Vec<u8>, bucket::BucketError> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Reads an object whole.
pub async fn read_all(store: &Store, name: &str) -> Vec<u8> {
    collect(
        store
            .read(name)
            .await
            .unwrap_or_else(|e| panic!("read {name}: {e}")),
    )
    .await
}

/// A session as it would be saved in a state file and read back.
pub fn persist_and_reload(s: &UploadSession) -> UploadSession {
    let text = serde_json::to_string(s).expect("serialize session");
    serde_json::from_str(&text).expect("deserialize session")
}

/// The fake-gcs-server binary that scripts/install-fake-gcs installs.
pub fn fake_gcs_binary() -> PathBuf {
    let bin = testkit::cache_root()
        .join("fake-gcs")
        .join("bin")
        .join("fake-gcs-server");
    if !bin.is_file() {
        panic!(
            "fake-gcs-server is not installed at {}: run scripts/install-deps (or scripts/install-fake-gcs)",
            bin.display()
        );
    }
    bin
}

/// A running fake-gcs-server (v1.54, in-memory); killed on drop.
pub struct FakeGcsServer {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeGcsServer {
    /// Starts one on a free port and waits until it answers.
    pub async fn start() -> FakeGcsServer {
        let bin = fake_gcs_binary();
        let dir = tempfile::tempdir().expect("tempdir for fake-gcs-server log");
        let mut last_log = String::new();
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("probe a free port")
                .port();
            let log = dir.path().join(format!("fake-gcs-{port}.log"));
            let out = std::fs::File::create(&log).expect("create fake-gcs-server log");
            let err = out.try_clone().expect("clone log handle");
            let host = format!("127.0.0.1:{port}");
            let child = Command::new(&bin)
                .args([
                    "-scheme",
                    "http",
                    "-host",
                    "127.0.0.1",
                    "-port",
                    &port.to_string(),
                ])
                .args(["-backend", "memory", "-public-host", &host, "-log-level", "warn"])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
            let mut server = FakeGcsServer {
                child,
                host,
                log,
                _dir: tempfile::tempdir().expect("tempdir"),
            };
            if server.wait_ready().await {
                server._dir = dir;
                return server;
            }
            last_log = std::fs::read_to_string(&server.log).unwrap_or_default();
        }
        panic!("fake-gcs-server did not start; last log:\n{last_log}");
    }

    async fn wait_ready(&mut self) -> bool {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let url = format!("http://{}/storage/v1/b", self.host);
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Creates a bucket through the JSON API.
    pub async fn create_bucket(&self, name: &str) {
        let r = reqwest::Client::new()
            .post(format!("http://{}/storage/v1/b", self.host))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("create bucket request");
        assert!(
            r.status().is_success(),
            "create bucket {name}: HTTP {}",
            r.status()
        );
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FakeGcsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
