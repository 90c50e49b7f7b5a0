//! `manifest.json`: what a snapshot holds, written next to the dumps.
//!
//! # Schema (version 1)
//!
//! ```text
//! {
//!   "manifest_version": 1,
//!   "tool": {"name": "src-snapshot", "version": "0.1.0"},
//!   "created_at": RFC 3339, "updated_at": RFC 3339,
//!   "fingerprint_version": 1,            // see dumpscript::fingerprint
//!   "sourcegraph": {"version": "5.1.0", "first_version": "3.20.0"} | null,
//!   "files": [{
//!     "role": "pgsql" | "codeintel" | "codeinsights",
//!     "name": "pgsql.sql",
//!     "size": bytes, "sha256": hex, "crc32c": base64 of the big-endian CRC32C (as GCS writes it),
//!     "lines": n, "statements": n,
//!     "source": {"mode": "pg_dump|docker|kubectl", "target": host|container|pod, "port": n|null,
//!                "dbname": .., "username": .., "server_version": "12.22", "pg_dump_version": "16.14"},
//!     "started_at": .., "finished_at": ..,
//!     "tables": [{"table": "public.repo", "columns": [..], "types": [..], "rows": n,
//!                 "hash": 32 hex, "bytes": n, "line": n}],
//!     "sanitizer": {"profile": "cloudsql", "target_major": 16, "changes": [{"line", "action", "rule", "statement", "reason"}]}
//!   }]
//! }
//! ```
//! No password or token is ever written to a manifest. Readers must accept
//! unknown fields (later versions add some); `manifest_version` changes only
//! when a field changes meaning.

use std::collections::BTreeMap;
use std::path::Path;

use dumpscript::{Change, SourcegraphVersion, TableData};
use serde::{Deserialize, Serialize};

use crate::error::SnapshotError;
use crate::fsutil::write_atomic;

/// The manifest file name inside a snapshot folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Current schema version.
pub const MANIFEST_VERSION: u32 = 1;

/// The tool that wrote a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Always `src-snapshot`.
    pub name: String,
    /// The tool's version.
    pub version: String,
}

/// A snapshot's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema version ([`MANIFEST_VERSION`]).
    pub manifest_version: u32,
    /// Who wrote it.
    pub tool: ToolInfo,
    /// When the snapshot was started.
    pub created_at: String,
    /// When the manifest was last written.
    pub updated_at: String,
    /// Version of the table fingerprint definition.
    pub fingerprint_version: u32,
    /// Sourcegraph version from the frontend dump's `versions` table.
    pub sourcegraph: Option<SourcegraphVersion>,
    /// The dump files.
    pub files: Vec<FileEntry>,
    /// Other uploaded objects (e.g. `summary.json`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_uploads: Vec<UploadRecord>,
}

/// What was uploaded for a file: the object as the server stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Object name, relative to the bucket location.
    pub object: String,
    /// Bucket location (`gs://bucket/prefix` or `file:///path`).
    pub location: String,
    /// Object size as the server reported it.
    pub size: u64,
    /// CRC32C as the server reported it (base64, big-endian).
    pub crc32c: String,
    /// MD5 as the server reported it (base64), or computed locally.
    pub md5: String,
    /// SHA-256 of the object's bytes (computed while sending), hex.
    pub sha256: String,
    /// The object's generation, when the server has them.
    pub generation: Option<String>,
    /// gzip level, when compressed.
    pub gzip: Option<u32>,
    /// Sanitizer profile applied on the way, if any.
    pub sanitizer: Option<String>,
    /// Target major version the sanitizer worked for.
    pub target_major: Option<u32>,
    /// Bytes before compression.
    pub uncompressed_size: u64,
    /// Statements the sanitizer commented out.
    pub changes: usize,
    /// Size of the local file it was made from.
    pub source_size: u64,
    /// Modification time of that file (ns since the epoch), to spot a changed file.
    pub source_mtime_ns: u128,
    /// How the file became the object.
    pub transform: crate::stream::Transform,
    /// When the upload finished.
    pub uploaded_at: String,
}

/// Where a dump came from (no secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// pg_dump, docker or kubectl.
    pub mode: Option<String>,
    /// Host, container or pod.
    pub target: Option<String>,
    /// Port, when given.
    pub port: Option<u16>,
    /// Database name.
    pub dbname: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// `-- Dumped from database version …`
    pub server_version: Option<String>,
    /// `-- Dumped by pg_dump version …`
    pub pg_dump_version: Option<String>,
}

/// What the cloudsql sanitizer would change in a file (or changed in an object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanitizerReport {
    /// Profile name.
    pub profile: String,
    /// Target major version it was computed for.
    pub target_major: u32,
    /// Every change.
    pub changes: Vec<Change>,
}

/// One dump file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// pgsql, codeintel or codeinsights.
    pub role: String,
    /// File name inside the snapshot folder.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// CRC32C, base64 of its 4 big-endian bytes (GCS's form).
    pub crc32c: String,
    /// Lines.
    pub lines: u64,
    /// SQL statements.
    pub statements: u64,
    /// Where it came from.
    pub source: SourceInfo,
    /// When dumping started.
    pub started_at: Option<String>,
    /// When dumping finished.
    pub finished_at: Option<String>,
    /// Tables with their fingerprints, in dump order.
    pub tables: Vec<TableData>,
    /// What the cloudsql sanitizer changes in this file.
    pub sanitizer: Option<SanitizerReport>,
    /// Schema objects per pg_dump type (`TABLE`, `INDEX`, …), for `compare`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, u64>,
    /// Sequence values the dump sets, for `compare`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequences: Vec<dumpscript::SequenceValue>,
    /// Extensions the dump creates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    /// The uploaded object made from this file, once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadRecord>,
}

impl FileEntry {
    /// The entry for a dump from its checksums `(size, sha256, crc32c)` and
    /// the engine's report (made with `sanitizer`, if any); `source` gets the
    /// server and pg_dump versions from the dump's header. Also returns the
    /// Sourcegraph version the dump holds.
    pub fn from_scan(
        role: &str,
        name: &str,
        (size, sha256, crc32c): (u64, String, String),
        report: dumpscript::ScanReport,
        sanitizer: Option<&dumpscript::SanitizeOptions>,
        mut source: SourceInfo,
        started_at: String,
    ) -> (FileEntry, Option<SourcegraphVersion>) {
        source.server_version = report.dumped_from;
        source.pg_dump_version = report.dumped_by;
        let entry = FileEntry {
            role: role.to_string(),
            name: name.to_string(),
            size,
            sha256,
            crc32c,
            lines: report.lines,
            statements: report.statements,
            source,
            started_at: Some(started_at),
            finished_at: Some(now_rfc3339()),
            tables: report.tables,
            objects: report.objects,
            sequences: report.sequences,
            extensions: report.extensions,
            sanitizer: sanitizer.map(|s| SanitizerReport {
                profile: s.profile.name().to_string(),
                target_major: s.target_major,
                changes: report.changes,
            }),
            upload: None,
        };
        (entry, report.sourcegraph)
    }
}

impl Manifest {
    /// Records a dump (replacing its role's entry); the frontend dump also
    /// sets the snapshot's Sourcegraph version.
    pub fn add_dump(&mut self, entry: FileEntry, sourcegraph: Option<SourcegraphVersion>) {
        if entry.role == "pgsql" {
            self.sourcegraph = sourcegraph;
        }
        self.put_file(entry);
    }

    /// An empty manifest stamped now.
    pub fn new() -> Manifest {
        let now = now_rfc3339();
        Manifest {
            manifest_version: MANIFEST_VERSION,
            tool: ToolInfo {
                name: "src-snapshot".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            created_at: now.clone(),
            updated_at: now,
            fingerprint_version: dumpscript::FINGERPRINT_VERSION,
            sourcegraph: None,
            files: Vec::new(),
            other_uploads: Vec::new(),
        }
    }

    /// Reads `dir/manifest.json`.
    ///
    /// # Errors
    /// The file is missing, unreadable, not JSON, or of a newer schema.
    pub fn load(dir: &Path) -> Result<Manifest, SnapshotError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read(&path).map_err(|source| SnapshotError::Io {
            path: path.clone(),
            source,
        })?;
        let m: Manifest = serde_json::from_slice(&text).map_err(|e| SnapshotError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if m.manifest_version > MANIFEST_VERSION {
            return Err(SnapshotError::Manifest {
                path,
                message: format!(
                    "manifest version {} is newer than this tool understands ({MANIFEST_VERSION}); upgrade src-snapshot",
                    m.manifest_version
                ),
            });
        }
        Ok(m)
    }

    /// Writes `dir/manifest.json` atomically (temporary file, then rename).
    ///
    /// # Errors
    /// Writing failed.
    pub fn save(&mut self, dir: &Path) -> Result<(), SnapshotError> {
        self.updated_at = now_rfc3339();
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| SnapshotError::Manifest {
            path: dir.join(MANIFEST_FILE),
            message: e.to_string(),
        })?;
        text.push(b'\n');
        write_atomic(&dir.join(MANIFEST_FILE), &text)
    }

    /// The entry for a role, if present.
    pub fn file(&self, role: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.role == role)
    }

    /// Records the upload of a role's file, or of another file (role None).
    pub fn set_upload(&mut self, role: Option<&str>, record: UploadRecord) {
        match role.and_then(|r| self.files.iter_mut().find(|f| f.role == r)) {
            Some(f) => f.upload = Some(record),
            None => {
                self.other_uploads.retain(|u| u.object != record.object);
                self.other_uploads.push(record);
            }
        }
    }

    /// Replaces (or adds) the entry of `entry.role`, keeping role order.
    pub fn put_file(&mut self, entry: FileEntry) {
        self.files.retain(|f| f.role != entry.role);
        self.files.push(entry);
        let order = |r: &str| match r {
            "pgsql" => 0,
            "codeintel" => 1,
            "codeinsights" => 2,
            _ => 3,
        };
        self.files.sort_by_key(|f| order(&f.role));
    }
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest::new()
    }
}

/// The current time in RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
