//! Loading a snapshot into a target server natively, as a non-superuser:
//! per database, the dump is read once (from the snapshot folder or the
//! bucket) and split into sections. Pre-data runs in dump order in one
//! transaction; each table's COPY data becomes a job; jobs of all databases
//! share `jobs` connections, largest first; then indexes and constraints in
//! parallel, foreign keys in parallel, the rest in order, sequence values
//! and `ANALYZE`.
//!
//! Every unit commits together with its row in a journal kept in the
//! target (`pgload::load`), so a rerun after a crash skips what is done and
//! reloads what was interrupted. Each table's data is fingerprinted while
//! it is sent and checked against the manifest before it commits; the
//! object's size and CRC32C are checked before and after reading.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use bucket::Store;
use bytes::Bytes;
use dumpscript::{
    Change, ColumnKind, ExtensionPolicy, Fingerprint, Piece, PostKind, Profile, SanitizeOptions, Splitter,
    TableData, TableHasher, TocEntry,
};
use futures_util::StreamExt;
use pgdump::DbRole;
use pgload::load::{
    create_journal_sql, execute_journaled, journal_insert_sql, load_table, read_journal, TableLoad,
};
use pgload::Client;
use pgload::{ConnSpec, PgError};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::error::{SnapshotError, SqlFailure};
use crate::fsutil::crc32c_base64;
use crate::manifest::{FileEntry, Manifest, MANIFEST_FILE};

mod database;
mod input;
mod reader;
mod scheduler;

use database::*;
use input::*;
use reader::*;
use scheduler::*;

/// Where the snapshot is read from.
#[derive(Clone)]
pub enum ImportSource {
    /// A snapshot folder with `manifest.json` and the dumps.
    Dir(PathBuf),
    /// A bucket the snapshot was uploaded to.
    Bucket(Arc<Store>),
}

impl ImportSource {
    /// Reads the manifest.
    ///
    /// # Errors
    /// It is missing or unreadable.
    pub async fn manifest(&self) -> Result<Manifest, SnapshotError> {
        match self {
            ImportSource::Dir(d) => crate::files::ensure_manifest(d),
            ImportSource::Bucket(store) => {
                let bytes = read_object(store, MANIFEST_FILE).await?;
                serde_json::from_slice(&bytes).map_err(|e| SnapshotError::Manifest {
                    path: format!("{}/{MANIFEST_FILE}", store.describe()).into(),
                    message: e.to_string(),
                })
            }
        }
    }

    /// Where it is, for messages.
    pub fn describe(&self) -> String {
        match self {
            ImportSource::Dir(d) => d.display().to_string(),
            ImportSource::Bucket(s) => s.describe(),
        }
    }
}

async fn read_object(store: &Store, name: &str) -> Result<Vec<u8>, SnapshotError> {
    let mut s = store
        .read(name)
        .await
        .map_err(|e| SnapshotError::bucket(name, e))?;
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.map_err(|e| SnapshotError::bucket(name, e))?);
    }
    Ok(out)
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Databases to load: each role and its target database's name.
    pub databases: Vec<(DbRole, String)>,
    /// Connections loading data and building indexes, over all databases.
    pub jobs: usize,
    /// Where table data read from a bucket waits for a free connection.
    pub spool_dir: PathBuf,
    /// At most this many spooled bytes at once; reading waits beyond it.
    pub spool_limit: u64,
}

/// Progress, for a display.
#[derive(Debug, Clone)]
pub enum ImportEvent {
    /// A database's plan: its table data bytes (from the manifest).
    Planned {
        /// Target database.
        db: String,
        /// Tables.
        tables: usize,
        /// COPY data bytes.
        bytes: u64,
    },
    /// A database entered a phase.
    Phase {
        /// Target database.
        db: String,
        /// What it does now.
        phase: String,
    },
    /// Bytes of table data sent.
    Progress {
        /// Target database.
        db: String,
        /// Bytes since the last event.
        bytes: u64,
    },
    /// A table started loading.
    TableStarted {
        /// Target database.
        db: String,
        /// Table.
        table: String,
    },
    /// A table finished (or was already loaded by an earlier run).
    TableDone {
        /// Target database.
        db: String,
        /// Table.
        table: String,
        /// Rows.
        rows: u64,
        /// Loaded by an earlier run.
        resumed: bool,
        /// COPY bytes (counted as progress when resumed).
        bytes: u64,
    },
}

/// One table's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TableImport {
    /// Table.
    pub table: String,
    /// Rows the server loaded (or the journal recorded).
    pub rows: u64,
    /// Rows the manifest lists.
    pub expected_rows: u64,
    /// COPY bytes.
    pub bytes: u64,
    /// Seconds it took (0 when resumed).
    pub seconds: f64,
    /// Loaded by an earlier run.
    pub resumed: bool,
}

/// One database's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseImport {
    /// pgsql, codeintel or codeinsights.
    pub role: String,
    /// Target database.
    pub database: String,
    /// The file or object read.
    pub source: String,
    /// Tables.
    pub tables: Vec<TableImport>,
    /// Pre-data statements run (0 when an earlier run did them).
    pub pre_data_statements: usize,
    /// Post-data statements run now.
    pub post_data_statements: usize,
    /// Post-data statements an earlier run did.
    pub post_data_resumed: usize,
    /// What the sanitizer removed for this target.
    pub removed: Vec<Change>,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Seconds.
    pub seconds: f64,
    /// Whether an interrupted import was continued.
    pub resumed: bool,
}

/// The whole import.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Per database.
    pub databases: Vec<DatabaseImport>,
    /// Seconds.
    pub seconds: f64,
    /// Target server version.
    pub server_version: String,
    /// The connecting user.
    pub user: String,
    /// COPY bytes loaded by this run (all databases).
    pub data_bytes: u64,
    /// Seconds from the first table load starting to the last one ending
    /// (all databases; the data phase's wall time, which overlaps index builds).
    pub data_seconds: f64,
    /// Connection-seconds spent loading table data (the sum over tables):
    /// `data_bytes / copy_seconds` is the COPY rate of one connection.
    pub copy_seconds: f64,
}

/// When the first table load started and the last ended, over all databases.
#[derive(Default)]
struct DataWindow {
    span: Mutex<Option<(Instant, Instant)>>,
}

impl DataWindow {
    fn record(&self, start: Instant, end: Instant) {
        if let Ok(mut s) = self.span.lock() {
            *s = Some(match *s {
                Some((a, b)) => (a.min(start), b.max(end)),
                None => (start, end),
            });
        }
    }

    fn seconds(&self) -> f64 {
        self.span
            .lock()
            .ok()
            .and_then(|s| s.map(|(a, b)| (b - a).as_secs_f64()))
            .unwrap_or(0.0)
    }
}

/// Imports the snapshot into the target server.
///
/// # Errors
/// The snapshot does not match its manifest, the target is not empty (and
/// holds no interrupted import of this snapshot), or a statement failed. What
/// committed stays and is skipped by the next run.
pub async fn import(
    source: &ImportSource,
    target: &ConnSpec,
    opts: &ImportOptions,
    events: mpsc::UnboundedSender<ImportEvent>,
) -> Result<ImportReport, SnapshotError> {
    let started = Instant::now();
    let manifest = source.manifest().await?;
    let snapshot_id = snapshot_identity(&manifest);
    let admin_db = target.dbname().unwrap_or("postgres").to_string();
    let admin = target.connect(&admin_db).await?;
    let info = pgload::server_info(&admin).await?;

    // Check every input before touching the target.
    let mut inputs = Vec::new();
    for (role, database) in &opts.databases {
        let entry = manifest
            .files
            .iter()
            .find(|f| f.role == role.yaml_key())
            .ok_or_else(|| SnapshotError::Manifest {
                path: format!("{}/{MANIFEST_FILE}", source.describe()).into(),
                message: format!("the snapshot has no {} dump", role.yaml_key()),
            })?;
        inputs.push((
            *role,
            database.clone(),
            entry.clone(),
            Input::check(source, entry).await?,
        ));
    }

    let finishing = earlier_run_was_finishing(target, &opts.databases, &snapshot_id).await?;
    let sched = Arc::new(Scheduler::default());
    let window = Arc::new(DataWindow::default());
    let spool = Arc::new(SpoolAccount::new(opts.spool_limit));
    let workers: Vec<_> = (0..opts.jobs.max(1))
        .map(|_| tokio::spawn(worker(sched.clone(), target.clone(), window.clone())))
        .collect();
    let mut tasks = Vec::new();
    for (role, database, entry, input) in inputs {
        let db = DbCtx {
            role,
            database,
            label: input.label(),
            settings: Arc::new(Mutex::new(session_defaults())),
            events: events.clone(),
        };
        let job = DatabaseJob {
            db: Arc::new(db),
            entry,
            input,
            target: target.clone(),
            admin_db: admin_db.clone(),
            snapshot_id: snapshot_id.clone(),
            sched: sched.clone(),
            spool: spool.clone(),
            spool_dir: opts.spool_dir.clone(),
            finishing,
        };
        tasks.push(tokio::spawn(job.run()));
    }
    drop(admin);
    let mut databases = Vec::new();
    let mut errors = Vec::new();
    let mut pending: futures_util::stream::FuturesUnordered<_> = tasks.into_iter().collect();
    while let Some(joined) = pending.next().await {
        match joined {
            Ok(Ok(d)) => databases.push(d),
            Ok(Err(e)) => {
                // Fail fast: stop the other databases (their open transactions roll back).
                errors.push(e);
                sched.close();
                spool.close();
                for t in pending.iter() {
                    t.abort();
                }
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => errors.push(SnapshotError::Task(e.to_string())),
        }
    }
    sched.close();
    for w in workers {
        w.abort();
    }
    SnapshotError::check_all(errors)?;
    // Every database is done: now the journals can go.
    for (_, database) in &opts.databases {
        let c = target.connect(database).await?;
        pgload::load::drop_journal(&c).await?;
    }
    databases.sort_by_key(|d| DbRole::all().iter().position(|r| r.yaml_key() == d.role));
    // What this run loaded (resumed tables were loaded by an earlier one).
    let (data_bytes, copy_seconds) = databases
        .iter()
        .flat_map(|d| &d.tables)
        .filter(|t| !t.resumed)
        .fold((0u64, 0f64), |(b, s), t| (b + t.bytes, s + t.seconds));
    Ok(ImportReport {
        copy_seconds,
        data_bytes,
        data_seconds: window.seconds(),
        databases,
        seconds: started.elapsed().as_secs_f64(),
        server_version: info.version,
        user: info.user,
    })
}

/// Whether some target database holds a finished journal of this snapshot.
async fn earlier_run_was_finishing(
    target: &ConnSpec,
    databases: &[(DbRole, String)],
    snapshot_id: &str,
) -> Result<bool, SnapshotError> {
    for (_, database) in databases {
        let Ok(c) = target.connect(database).await else {
            continue;
        };
        if let Some(j) = read_journal(&c).await? {
            if j.snapshot == snapshot_id && j.done.contains_key(COMPLETE) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A stable identity of the snapshot: its creation time and dump checksums.
fn snapshot_identity(m: &Manifest) -> String {
    let mut s = m.created_at.clone();
    for f in &m.files {
        s.push(':');
        s.push_str(&f.sha256);
    }
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Settings every import session gets before the dump's own: commits need
/// not wait for the disk (a lost commit loses its journal row with it, so
/// the work is redone), and index builds get more memory than the default.
fn session_defaults() -> Vec<String> {
    vec![
        "SET synchronous_commit = off".into(),
        "SET maintenance_work_mem = '256MB'".into(),
    ]
}
