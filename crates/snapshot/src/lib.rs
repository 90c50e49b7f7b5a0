//! The snapshot folder and what fills it: dumping the three Sourcegraph
//! databases through the dump-script engine into `DIR/<role>.sql` with a
//! `manifest.json` (sizes, checksums, table fingerprints, sanitizer preview),
//! sanitizing dump files into new files, and fingerprinting a live database
//! so it can be compared with a manifest.
//!
//! This crate sits above `dumpscript` (the engine), `pgdump` (pg_dump and
//! psql processes) and `pgload` (Postgres connections), which never import
//! each other.
#![deny(missing_docs)]

pub mod compare;
mod dbfingerprint;
mod dump;
mod error;
mod files;
pub mod fsutil;
pub mod import;
pub mod manifest;
pub mod reset;
pub mod stream;
pub mod upgrade;
pub mod upload;
pub mod verify;

pub use dbfingerprint::{diff_tables, fingerprint_database, TableDiff};
pub use dump::{dump_databases, dump_to_bucket, DumpOptions, DumpProgress, StreamOptions};
pub use error::{SnapshotError, SqlFailure};
pub use files::{ensure_manifest, sanitize, scan_file, Output};
pub use manifest::{FileEntry, Manifest, SanitizerReport, SourceInfo, UploadRecord, MANIFEST_FILE};

/// Bytes for people: `512 B`, `1.5 KiB`, `2.0 GiB` (messages and reports).
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}
