//! Shared test helpers: data, stores, reading streams, and a real fake-gcs-server process.
#![allow(dead_code)]

use std::time::Duration;

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
