//! What steps keep for the report, beyond the journal's key figures: one
//! JSON file per step in `snapshot_dir/migration/` (the per-table compare,
//! what the import left out and why, the acceptance test's findings, …).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::MigrateError;
use crate::step::StepId;

/// The folder of step records inside the snapshot folder.
pub const RECORDS_DIR: &str = "migration";
/// The bucket's manifest as the operator read it (the operator has no local one).
pub const BUCKET_MANIFEST: &str = "bucket-manifest.json";

/// Where `step`'s record lives.
pub fn path(snapshot_dir: &Path, step: StepId) -> PathBuf {
    snapshot_dir
        .join(RECORDS_DIR)
        .join(format!("{}.json", step.name()))
}

/// Writes `step`'s record (atomically).
///
/// # Errors
/// The folder or file cannot be written.
pub fn save<T: Serialize>(snapshot_dir: &Path, step: StepId, value: &T) -> Result<(), MigrateError> {
    save_as(&path(snapshot_dir, step), value)
}

/// Writes a record file (atomically).
///
/// # Errors
/// The folder or file cannot be written.
pub fn save_as<T: Serialize>(file: &Path, value: &T) -> Result<(), MigrateError> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|source| MigrateError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| MigrateError::Internal(e.to_string()))?;
    text.push(b'\n');
    snapshot::fsutil::write_atomic(file, &text).map_err(|e| match e {
        snapshot::SnapshotError::Io { path, source } => MigrateError::Io { path, source },
        other => MigrateError::Internal(other.to_string()),
    })
}

/// Reads `step`'s record, if there is a readable one.
pub fn load<T: DeserializeOwned>(snapshot_dir: &Path, step: StepId) -> Option<T> {
    load_from(&path(snapshot_dir, step))
}

/// Reads a record file, if there is a readable one.
pub fn load_from<T: DeserializeOwned>(file: &Path) -> Option<T> {
    let bytes = std::fs::read(file).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// One preflight check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// What was checked.
    pub name: String,
    /// pass, warn, fail or skip.
    pub status: String,
    /// What was found.
    pub detail: String,
    /// How to fix it.
    pub fix: Option<String>,
}

/// The preflight step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightRecord {
    /// Every check.
    pub checks: Vec<CheckRecord>,
}

/// One uploaded object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// The object.
    pub object: String,
    /// Its size in the bucket.
    pub size: u64,
    /// The local file's size.
    pub source_size: u64,
    /// The sanitizer applied on the way, if any.
    pub sanitizer: Option<String>,
    /// Statements it commented out.
    pub changes: usize,
    /// Already in the bucket.
    pub skipped: bool,
    /// Where a resumed upload continued.
    pub resumed_at: u64,
}

/// The upload step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadRecordSet {
    /// The bucket.
    pub location: String,
    /// Bytes sent by this attempt.
    pub bytes_sent: u64,
    /// Seconds this attempt took.
    pub seconds: f64,
    /// Every object.
    pub objects: Vec<ObjectRecord>,
}

/// One object checked by verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedObject {
    /// The object.
    pub object: String,
    /// The dump's role.
    pub role: Option<String>,
    /// Size.
    pub size: Option<u64>,
    /// Tables whose fingerprint matched / tables.
    pub tables_ok: Option<(usize, usize)>,
    /// What is wrong.
    pub problems: Vec<String>,
}

/// A verify step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRecord {
    /// `read-back` or `recorded`.
    pub mode: String,
    /// The bucket.
    pub location: String,
    /// Nothing wrong.
    pub ok: bool,
    /// Every object.
    pub objects: Vec<VerifiedObject>,
    /// Problems not tied to an object.
    pub problems: Vec<String>,
}

/// One database as imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedDatabase {
    /// pgsql, codeintel or codeinsights.
    pub role: String,
    /// Target database.
    pub database: String,
    /// What was read.
    pub source: String,
    /// Tables.
    pub tables: usize,
    /// Rows loaded (all tables).
    pub rows: u64,
    /// COPY bytes.
    pub bytes: u64,
    /// Statements the target user cannot run, left out, with the reason.
    pub removed: Vec<dumpscript::Change>,
    /// An interrupted import was continued.
    pub resumed: bool,
}

/// The import step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// The target server's version.
    pub server_version: String,
    /// The user that loaded.
    pub user: String,
    /// Seconds of the whole import.
    pub seconds: f64,
    /// COPY bytes loaded by this attempt.
    pub data_bytes: u64,
    /// Wall time of the data phase.
    pub data_seconds: f64,
    /// Per database.
    pub databases: Vec<ImportedDatabase>,
}

/// One table on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComparedTable {
    /// Schema-qualified name.
    pub table: String,
    /// Rows in the snapshot.
    pub expected_rows: u64,
    /// Rows on the target (None: missing).
    pub actual_rows: Option<u64>,
    /// Rows and content hash agree.
    pub equal: bool,
    /// The table's size on the target (heap and TOAST, without free-space and visibility maps).
    pub target_bytes: Option<u64>,
}

/// A count or value on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComparedValue {
    /// What.
    pub name: String,
    /// In the snapshot.
    pub expected: String,
    /// On the target.
    pub actual: String,
    /// Agree (or the difference does not count: see note).
    pub equal: bool,
    /// Why a difference does not count.
    pub note: Option<String>,
}

/// One database compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComparedDatabase {
    /// pgsql, codeintel or codeinsights.
    pub role: String,
    /// Target database.
    pub database: String,
    /// Everything that counts agrees.
    pub equal: bool,
    /// Tables.
    pub tables: Vec<ComparedTable>,
    /// Schema objects by kind.
    pub objects: Vec<ComparedValue>,
    /// Sequences equal / sequences.
    pub sequences: (usize, usize),
    /// Extensions.
    pub extensions: Vec<ComparedValue>,
}

/// The compare step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRecord {
    /// Everything agrees.
    pub equal: bool,
    /// Seconds.
    pub seconds: f64,
    /// Per database.
    pub databases: Vec<ComparedDatabase>,
}

/// A reason the upgrade cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanProblem {
    /// The message.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// The upgrade-plan step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeRecord {
    /// The databases' Sourcegraph version.
    pub from: String,
    /// The managed instance's version.
    pub to: String,
    /// The migrator can run now.
    pub ok: bool,
    /// The migrator's arguments (`up`, or `upgrade --from=X.Y --to=A.B`).
    pub args: Option<Vec<String>>,
    /// `migrator …` as a person types it.
    pub command: Option<String>,
    /// `sourcegraph/migrator:TAG`, when there is a migrator for the target.
    pub image: Option<String>,
    /// The docker-compose form.
    pub compose: Option<String>,
    /// Things to know.
    pub notes: Vec<String>,
    /// Why it cannot run.
    pub problems: Vec<PlanProblem>,
}

/// The migrator step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigratorRecord {
    /// The command run.
    pub argv: Vec<String>,
    /// Its exit status.
    pub status: Option<i32>,
    /// The end of its output.
    pub output_tail: String,
}
