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
    /// (all databases; the data phase's wall time).
    pub data_seconds: f64,
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
    let data_bytes = databases
        .iter()
        .flat_map(|d| &d.tables)
        .filter(|t| !t.resumed)
        .map(|t| t.bytes)
        .sum();
    Ok(ImportReport {
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

/// What one database's dump is read from.
enum Input {
    /// A plain local file: table data is read in place, by byte range.
    File {
        path: PathBuf,
        size: u64,
        crc32c: String,
    },
    /// An object: read once, table data spooled until a connection is free.
    Object {
        store: Arc<Store>,
        name: String,
        url: String,
        size: u64,
        crc32c: String,
        gzip: bool,
    },
}

impl Input {
    async fn check(source: &ImportSource, entry: &FileEntry) -> Result<Input, SnapshotError> {
        match source {
            ImportSource::Dir(dir) => {
                let path = dir.join(&entry.name);
                let meta = std::fs::metadata(&path).map_err(|e| SnapshotError::Io {
                    path: path.clone(),
                    source: e,
                })?;
                if meta.len() != entry.size {
                    return Err(SnapshotError::Mismatch {
                        object: path.display().to_string(),
                        detail: format!("{} bytes, the manifest says {}", meta.len(), entry.size),
                    });
                }
                Ok(Input::File {
                    path,
                    size: entry.size,
                    crc32c: entry.crc32c.clone(),
                })
            }
            ImportSource::Bucket(store) => {
                let rec = entry.upload.as_ref().ok_or_else(|| SnapshotError::Manifest {
                    path: format!("{}/{MANIFEST_FILE}", store.describe()).into(),
                    message: format!(
                        "the manifest records no upload of {} (run upload again)",
                        entry.name
                    ),
                })?;
                let url = format!("{}/{}", store.describe(), rec.object);
                let meta = store
                    .stat(&rec.object)
                    .await
                    .map_err(|e| SnapshotError::bucket(&rec.object, e))?
                    .ok_or_else(|| SnapshotError::Mismatch {
                        object: url.clone(),
                        detail: "the object is missing from the bucket".into(),
                    })?;
                if meta.size != rec.size || meta.crc32c != rec.crc32c {
                    return Err(SnapshotError::Mismatch {
                        object: url,
                        detail: format!(
                            "the bucket has {} bytes with crc32c {}, the manifest says {} bytes with crc32c {}",
                            meta.size, meta.crc32c, rec.size, rec.crc32c
                        ),
                    });
                }
                Ok(Input::Object {
                    store: store.clone(),
                    name: rec.object.clone(),
                    url,
                    size: rec.size,
                    crc32c: rec.crc32c.clone(),
                    gzip: rec.gzip.is_some(),
                })
            }
        }
    }

    fn label(&self) -> String {
        match self {
            Input::File { path, .. } => path.display().to_string(),
            Input::Object { url, .. } => url.clone(),
        }
    }
}

/// A database being imported, as jobs see it.
struct DbCtx {
    role: DbRole,
    database: String,
    /// The dump file or object, for messages.
    label: String,
    /// Statements every new session runs first (ours, then the dump's `SET`s).
    settings: Arc<Mutex<Vec<String>>>,
    events: mpsc::UnboundedSender<ImportEvent>,
}

impl DbCtx {
    fn event(&self, e: ImportEvent) {
        let _ = self.events.send(e);
    }

    fn settings(&self) -> Vec<String> {
        self.settings.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn sql_error(&self, line: u64, toc: Option<&TocEntry>, text: &str, e: &PgError) -> SnapshotError {
        SnapshotError::Sql(Box::new(SqlFailure {
            file: self.label.clone(),
            line,
            object: toc.map(TocEntry::describe),
            statement: dumpscript::sanitize::preview(text.as_bytes()),
            message: e.message(),
            code: e.code().map(str::to_string),
        }))
    }
}

/// Where a table's COPY data is.
#[derive(Debug)]
enum DataSource {
    /// A byte range of a local file.
    Range { path: PathBuf, offset: u64, len: u64 },
    /// A spool file holding only this table's data.
    Spool { path: PathBuf, len: u64 },
}

impl DataSource {
    fn len(&self) -> u64 {
        match self {
            DataSource::Range { len, .. } | DataSource::Spool { len, .. } => *len,
        }
    }
}

/// What the reader thread sends the database's coordinator, in dump order.
enum ReaderEvent {
    Setting {
        sql: String,
        line: u64,
    },
    PreData {
        sql: String,
        line: u64,
        toc: Option<TocEntry>,
    },
    DataStatement {
        sql: String,
        line: u64,
        toc: Option<TocEntry>,
    },
    Table {
        ordinal: usize,
        table: String,
        columns: Vec<String>,
        line: u64,
        data: Option<DataSource>,
    },
    Sequence {
        sql: String,
        line: u64,
    },
    Post {
        sql: String,
        line: u64,
        kind: PostKind,
        toc: Option<TocEntry>,
    },
    Removed(Change),
}

/// The byte budget for spool files, shared by all databases.
struct SpoolAccount {
    used: Mutex<u64>,
    freed: Condvar,
    limit: u64,
}

impl SpoolAccount {
    fn new(limit: u64) -> Self {
        SpoolAccount {
            used: Mutex::new(0),
            freed: Condvar::new(),
            limit,
        }
    }

    /// Blocks while the budget is spent (spooled tables are waiting or
    /// loading, and each frees its share when done).
    fn wait_for_room(&self) {
        if let Ok(mut used) = self.used.lock() {
            while *used > 0 && *used >= self.limit {
                match self.freed.wait(used) {
                    Ok(g) => used = g,
                    Err(_) => return,
                }
            }
        }
    }

    fn add(&self, n: u64) {
        if let Ok(mut used) = self.used.lock() {
            *used += n;
        }
    }

    fn release(&self, n: u64) {
        if let Ok(mut used) = self.used.lock() {
            *used = used.saturating_sub(n);
        }
        self.freed.notify_all();
    }
}

/// Reads the blocks of an async download on a blocking thread.
struct BlockingReceiver {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for BlockingReceiver {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// Counts and CRCs the bytes read from a local file.
struct CrcReader<R> {
    inner: R,
    sums: Arc<Mutex<(u64, u32)>>,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut s) = self.sums.lock() {
            s.0 += n as u64;
            s.1 = crc32c::crc32c_append(s.1, &buf[..n]);
        }
        Ok(n)
    }
}

const READ_CHUNK: usize = 256 * 1024;

/// Reads the dump and sends its pieces to the coordinator; spools table
/// data when it comes from an object. Skips spooling tables in `done`.
struct Reader {
    label: String,
    sanitize: SanitizeOptions,
    done: HashSet<String>,
    local: Option<PathBuf>,
    spool_dir: PathBuf,
    spool: Arc<SpoolAccount>,
    tx: mpsc::Sender<ReaderEvent>,
}

impl Reader {
    fn run(self, input: Box<dyn Read + Send>) -> Result<(), SnapshotError> {
        let label = self.label.clone();
        let scan_err = |e: dumpscript::ScanError| SnapshotError::scan(label.clone(), e);
        let mut split = Splitter::new(input, Some(self.sanitize.clone())).map_err(scan_err)?;
        let mut ordinal = 0usize;
        let mut open: Option<OpenCopy> = None;
        let send = |e: ReaderEvent| {
            self.tx
                .blocking_send(e)
                .map_err(|_| SnapshotError::Task("import stopped".into()))
        };
        loop {
            let piece = match split.next_piece() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return Err(scan_err(e)),
            };
            match piece {
                Piece::Trivia => {}
                Piece::Setting { text, line } => send(ReaderEvent::Setting {
                    sql: utf8(text),
                    line,
                })?,
                Piece::PreData { text, line, toc } => send(ReaderEvent::PreData {
                    sql: utf8(text),
                    line,
                    toc,
                })?,
                Piece::DataStatement { text, line, toc } => send(ReaderEvent::DataStatement {
                    sql: utf8(text),
                    line,
                    toc,
                })?,
                Piece::SequenceSet { text, line } => send(ReaderEvent::Sequence {
                    sql: utf8(text),
                    line,
                })?,
                Piece::PostData {
                    text,
                    line,
                    kind,
                    toc,
                } => send(ReaderEvent::Post {
                    sql: utf8(text),
                    line,
                    kind,
                    toc,
                })?,
                Piece::Removed(c) => send(ReaderEvent::Removed(c))?,
                Piece::CopyStart { target, line, .. } => {
                    let key = table_key(ordinal, &target.table);
                    let spool = if self.local.is_none() && !self.done.contains(&key) {
                        self.spool.wait_for_room();
                        let path = self.spool_dir.join(format!("{ordinal:05}.copy"));
                        let f = std::fs::File::create(&path).map_err(|e| SnapshotError::Io {
                            path: path.clone(),
                            source: e,
                        })?;
                        Some((path, std::io::BufWriter::with_capacity(READ_CHUNK, f)))
                    } else {
                        None
                    };
                    open = Some(OpenCopy {
                        table: target.table,
                        columns: target.columns,
                        line,
                        start: None,
                        len: 0,
                        spool,
                    });
                }
                Piece::CopyData { data, offset } => {
                    if let Some(o) = open.as_mut() {
                        o.start.get_or_insert(offset);
                        o.len += data.len() as u64;
                        if let Some((path, w)) = o.spool.as_mut() {
                            w.write_all(data).map_err(|e| SnapshotError::Io {
                                path: path.clone(),
                                source: e,
                            })?;
                        }
                    }
                }
                Piece::CopyEnd => {
                    let Some(OpenCopy {
                        table,
                        columns,
                        line,
                        start,
                        len,
                        spool,
                    }) = open.take()
                    else {
                        continue;
                    };
                    let key = table_key(ordinal, &table);
                    let data = if self.done.contains(&key) {
                        None
                    } else if let Some((path, w)) = spool {
                        let f = w.into_inner().map_err(|e| SnapshotError::Io {
                            path: path.clone(),
                            source: e.into_error(),
                        })?;
                        drop(f);
                        self.spool.add(len);
                        Some(DataSource::Spool { path, len })
                    } else {
                        self.local.as_ref().map(|p| DataSource::Range {
                            path: p.clone(),
                            offset: start.unwrap_or(0),
                            len,
                        })
                    };
                    send(ReaderEvent::Table {
                        ordinal,
                        table,
                        columns,
                        line,
                        data,
                    })?;
                    ordinal += 1;
                }
            }
        }
        split.finish().map_err(scan_err)?;
        Ok(())
    }
}

/// The COPY block being read.
struct OpenCopy {
    table: String,
    columns: Vec<String>,
    line: u64,
    /// Offset of its first data byte in the input.
    start: Option<u64>,
    len: u64,
    /// Its spool file, when the data is spooled.
    spool: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn table_key(ordinal: usize, table: &str) -> String {
    format!("data:{ordinal}:{table}")
}

/// One database's import, run by its coordinator task.
struct DatabaseJob {
    db: Arc<DbCtx>,
    entry: FileEntry,
    input: Input,
    target: ConnSpec,
    admin_db: String,
    snapshot_id: String,
    sched: Arc<Scheduler>,
    spool: Arc<SpoolAccount>,
    spool_dir: PathBuf,
    /// Another database of this import holds a finished journal of this
    /// snapshot: the previous run got as far as removing the journals.
    finishing: bool,
}

/// The journal key of a finished database.
const COMPLETE: &str = "complete";

/// Post-data statements waiting for the data.
struct PostStatement {
    ordinal: usize,
    sql: String,
    line: u64,
    kind: PostKind,
    toc: Option<TocEntry>,
}

impl DatabaseJob {
    async fn run(self) -> Result<DatabaseImport, SnapshotError> {
        let started = Instant::now();
        let db = self.db.clone();
        let name = db.database.clone();
        let phase = |p: &str| {
            db.event(ImportEvent::Phase {
                db: name.clone(),
                phase: p.to_string(),
            })
        };
        db.event(ImportEvent::Planned {
            db: name.clone(),
            tables: self.entry.tables.len(),
            bytes: self.entry.tables.iter().map(|t| t.bytes).sum(),
        });
        phase("checking the target");
        self.ensure_database().await?;
        let s0 = self.target.connect(&name).await?;
        let journal = read_journal(&s0).await?;
        let resumed = journal.is_some();
        if let Some(j) = journal
            .as_ref()
            .filter(|j| j.snapshot == self.snapshot_id && j.done.contains_key(COMPLETE))
        {
            phase("done (by an earlier run)");
            return Ok(self.finished_earlier(&j.done, started));
        }
        let done = match journal {
            Some(j) if j.snapshot != self.snapshot_id => {
                return Err(SnapshotError::TargetNotEmpty {
                    db: name,
                    detail: "holds an interrupted import of a different snapshot; run `src-snapshot reset` to start over".into(),
                })
            }
            Some(j) => j.done,
            None => {
                let inv = pgload::admin::inventory(&s0, &name, || async { self.target.connect(&name).await }).await?;
                if !inv.is_empty() && self.finishing {
                    // An earlier run finished everything and was removing the journals.
                    phase("done (by an earlier run)");
                    return Ok(self.finished_earlier(&HashMap::new(), started));
                }
                if !inv.is_empty() {
                    return Err(SnapshotError::TargetNotEmpty {
                        db: name,
                        detail: format!(
                            "already holds {} tables (e.g. {}) and no interrupted import; if a finished import, check it with `src-snapshot compare`; to load again, run `src-snapshot reset` first",
                            inv.tables,
                            inv.sample_tables.join(", ")
                        ),
                    });
                }
                HashMap::new()
            }
        };
        let sanitize = sanitizer_for(&s0).await?;
        for s in db.settings() {
            s0.batch_execute(&s)
                .await
                .map_err(|e| SnapshotError::Pg(pgload_query_err(&s, e)))?;
        }

        // Start reading.
        remove_stale_spools(&self.spool_dir, db.role.yaml_key());
        let spool_dir = self
            .spool_dir
            .join(format!("{}-{}", db.role.yaml_key(), std::process::id()));
        let (tx, mut rx) = mpsc::channel::<ReaderEvent>(64);
        let reader = Reader {
            label: db.label.clone(),
            sanitize,
            done: done.keys().cloned().collect(),
            local: match &self.input {
                Input::File { path, .. } => Some(path.clone()),
                Input::Object { .. } => None,
            },
            spool_dir: spool_dir.clone(),
            spool: self.spool.clone(),
            tx,
        };
        let (read_handle, pump) = self.start_reading(reader, &spool_dir)?;

        phase("schema");
        let mut pre_data_done = done.contains_key("pre-data");
        let mut in_txn = false;
        let mut pre_data_statements = 0usize;
        let mut tables: Vec<TableImport> = Vec::new();
        let mut table_jobs = Vec::new();
        let mut data_statements: Vec<(String, u64, Option<TocEntry>)> = Vec::new();
        let mut sequences: Vec<(String, u64)> = Vec::new();
        let mut post: Vec<PostStatement> = Vec::new();
        let mut removed = Vec::new();
        let expected = &self.entry.tables;
        let mut failure: Option<SnapshotError> = None;
        while let Some(ev) = rx.recv().await {
            let r: Result<(), SnapshotError> = async {
                match ev {
                    ReaderEvent::Setting { sql, line } => {
                        s0.batch_execute(&sql)
                            .await
                            .map_err(|e| db.sql_error(line, None, &sql, &pgload_query_err(&sql, e)))?;
                        if let Ok(mut s) = db.settings.lock() {
                            s.push(sql);
                        }
                    }
                    ReaderEvent::PreData { sql, line, toc } => {
                        if !pre_data_done {
                            if !in_txn {
                                s0.batch_execute("BEGIN").await.map_err(|e| pg(&e))?;
                                s0.batch_execute(&create_journal_sql(&self.snapshot_id))
                                    .await
                                    .map_err(|e| pg(&e))?;
                                in_txn = true;
                            }
                            pre_data_statements += 1;
                            if let Err(e) = s0.batch_execute(&sql).await {
                                let _ = s0.batch_execute("ROLLBACK").await;
                                in_txn = false;
                                return Err(db.sql_error(line, toc.as_ref(), &sql, &pgload_query_err(&sql, e)));
                            }
                        }
                    }
                    ReaderEvent::Table { ordinal, table, columns, line, data } => {
                        self.commit_pre_data(&s0, &mut pre_data_done, &mut in_txn).await?;
                        let want = expected.get(ordinal).filter(|t| t.table == table).cloned().ok_or_else(|| {
                            SnapshotError::Mismatch {
                                object: db.label.clone(),
                                detail: format!(
                                    "line {line}: table {table} is COPY block {} of the dump, which the manifest does not list there",
                                    ordinal + 1
                                ),
                            }
                        })?;
                        let key = table_key(ordinal, &table);
                        match (data, done.get(&key)) {
                            (_, Some((rows, _))) => {
                                db.event(ImportEvent::TableDone {
                                    db: db.database.clone(),
                                    table: table.clone(),
                                    rows: *rows as u64,
                                    resumed: true,
                                    bytes: want.bytes,
                                });
                                tables.push(TableImport {
                                    table,
                                    rows: *rows as u64,
                                    expected_rows: want.rows,
                                    bytes: want.bytes,
                                    seconds: 0.0,
                                    resumed: true,
                                });
                            }
                            (Some(source), None) => {
                                let priority = source.len();
                                let (reply, rx) = oneshot::channel();
                                self.sched.push(
                                    priority,
                                    Work::Table {
                                        db: db.clone(),
                                        key,
                                        columns,
                                        whole_table: expected.iter().filter(|t| t.table == table).count() == 1,
                                        expected: want,
                                        source,
                                        spool: self.spool.clone(),
                                    },
                                    reply,
                                );
                                table_jobs.push(rx);
                            }
                            (None, None) => {
                                return Err(SnapshotError::Task(format!("no data source for table {table}")));
                            }
                        }
                    }
                    ReaderEvent::DataStatement { sql, line, toc } => {
                        self.commit_pre_data(&s0, &mut pre_data_done, &mut in_txn).await?;
                        data_statements.push((sql, line, toc));
                    }
                    ReaderEvent::Sequence { sql, line } => {
                        self.commit_pre_data(&s0, &mut pre_data_done, &mut in_txn).await?;
                        sequences.push((sql, line));
                    }
                    ReaderEvent::Post { sql, line, kind, toc } => {
                        let ordinal = post.len();
                        post.push(PostStatement {
                            ordinal,
                            sql,
                            line,
                            kind,
                            toc,
                        });
                    }
                    ReaderEvent::Removed(c) => removed.push(c),
                }
                Ok(())
            }
            .await;
            if let Err(e) = r {
                failure = Some(e);
                break;
            }
        }
        drop(rx);
        let read_result = read_handle
            .await
            .map_err(|e| SnapshotError::Task(e.to_string()))?;
        let pumped = match pump {
            Some(p) => Some(p.await.map_err(|e| SnapshotError::Task(e.to_string()))?),
            None => None,
        };
        let cleanup = || {
            let _ = std::fs::remove_dir_all(&spool_dir);
        };
        if let Some(e) = failure {
            cleanup();
            return Err(e);
        }
        // A download error explains a truncated read better than the lexer does.
        let (bytes_read, crc) = match pumped {
            Some(Err(e)) => {
                cleanup();
                return Err(e);
            }
            Some(Ok(sums)) => sums,
            None => match &read_result {
                Ok(sums) => *sums,
                Err(_) => (0, 0),
            },
        };
        if let Err(e) = read_result {
            cleanup();
            return Err(e);
        }
        let (want_size, want_crc) = match &self.input {
            Input::File { size, crc32c, .. } | Input::Object { size, crc32c, .. } => (*size, crc32c.clone()),
        };
        if bytes_read != want_size || crc32c_base64(crc) != want_crc {
            cleanup();
            return Err(SnapshotError::Mismatch {
                object: db.label.clone(),
                detail: format!(
                    "read {bytes_read} bytes with crc32c {}, the manifest says {want_size} bytes with crc32c {want_crc}; the tables loaded so far matched their fingerprints, but the import stops here",
                    crc32c_base64(crc)
                ),
            });
        }
        self.commit_pre_data(&s0, &mut pre_data_done, &mut in_txn).await?;

        phase("data");
        let mut first_error = None;
        for rx in table_jobs {
            match rx.await {
                Ok(Ok(WorkOutput::Table(t))) => tables.push(t),
                Ok(Ok(WorkOutput::Statement)) => {}
                Ok(Err(e)) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
                Err(_) => {
                    if first_error.is_none() {
                        first_error = Some(SnapshotError::Task("a loader stopped".into()));
                    }
                }
            }
        }
        cleanup();
        if let Some(e) = first_error {
            return Err(e);
        }
        if !data_statements.is_empty() && !done.contains_key("data-statements") {
            let sql: String = data_statements.iter().map(|(s, _, _)| format!("{s}\n")).collect();
            let (_, line, toc) = &data_statements[0];
            execute_journaled(&s0, &sql, "data-statements")
                .await
                .map_err(|e| db.sql_error(*line, toc.as_ref(), &sql, &e))?;
        }
        phase("sequences");
        for (sql, line) in &sequences {
            s0.batch_execute(sql)
                .await
                .map_err(|e| db.sql_error(*line, None, sql, &pgload_query_err(sql, e)))?;
        }

        let sizes: HashMap<String, u64> = expected.iter().map(|t| (t.table.clone(), t.bytes)).collect();
        let mut post_run = 0;
        let mut post_resumed = 0;
        for (label, kinds) in [
            (
                "indexes and constraints",
                &[PostKind::Index, PostKind::Constraint][..],
            ),
            ("foreign keys", &[PostKind::ForeignKey][..]),
        ] {
            phase(label);
            let mut waits = Vec::new();
            for p in post.iter().filter(|p| kinds.contains(&p.kind)) {
                let key = format!("post:{}", p.ordinal);
                if done.contains_key(&key) {
                    post_resumed += 1;
                    continue;
                }
                let (reply, rx) = oneshot::channel();
                self.sched.push(
                    statement_table(&p.sql)
                        .and_then(|t| sizes.get(&t).copied())
                        .unwrap_or(0),
                    Work::Statement {
                        db: db.clone(),
                        sql: p.sql.clone(),
                        key: Some(key),
                        line: p.line,
                        toc: p.toc.clone(),
                    },
                    reply,
                );
                waits.push(rx);
                post_run += 1;
            }
            wait_all(waits).await?;
        }
        phase("triggers and the rest");
        for p in post.iter().filter(|p| p.kind == PostKind::Other) {
            let key = format!("post:{}", p.ordinal);
            if done.contains_key(&key) {
                post_resumed += 1;
                continue;
            }
            execute_journaled(&s0, &p.sql, &key)
                .await
                .map_err(|e| db.sql_error(p.line, p.toc.as_ref(), &p.sql, &e))?;
            post_run += 1;
        }
        if !done.contains_key("analyze") {
            phase("analyze");
            let mut waits = Vec::new();
            let mut seen = HashSet::new();
            for t in expected {
                if !seen.insert(t.table.clone()) {
                    continue;
                }
                let (reply, rx) = oneshot::channel();
                self.sched.push(
                    t.bytes,
                    Work::Statement {
                        db: db.clone(),
                        sql: format!("ANALYZE {}", pgload::quote_qualified(&t.table)),
                        key: None,
                        line: t.line,
                        toc: None,
                    },
                    reply,
                );
                waits.push(rx);
            }
            wait_all(waits).await?;
            s0.batch_execute(&journal_insert_sql("analyze", 0, 0))
                .await
                .map_err(|e| pg(&e))?;
        }
        // The journal goes once every database is done (see `import`): until
        // then a rerun must be able to tell a finished database from a foreign one.
        s0.batch_execute(&journal_insert_sql(COMPLETE, 0, 0))
            .await
            .map_err(|e| pg(&e))?;
        tables.sort_by(|a, b| a.table.cmp(&b.table));
        phase("done");
        Ok(DatabaseImport {
            role: db.role.yaml_key().to_string(),
            database: db.database.clone(),
            source: db.label.clone(),
            tables,
            pre_data_statements,
            post_data_statements: post_run,
            post_data_resumed: post_resumed,
            removed,
            bytes_read,
            seconds: started.elapsed().as_secs_f64(),
            resumed,
        })
    }

    /// The report of a database an earlier run finished.
    fn finished_earlier(&self, done: &HashMap<String, (i64, i64)>, started: Instant) -> DatabaseImport {
        let tables = self
            .entry
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| TableImport {
                table: t.table.clone(),
                rows: done
                    .get(&table_key(i, &t.table))
                    .map_or(t.rows, |(r, _)| *r as u64),
                expected_rows: t.rows,
                bytes: t.bytes,
                seconds: 0.0,
                resumed: true,
            })
            .collect();
        DatabaseImport {
            role: self.db.role.yaml_key().to_string(),
            database: self.db.database.clone(),
            source: self.db.label.clone(),
            tables,
            pre_data_statements: 0,
            post_data_statements: 0,
            post_data_resumed: 0,
            removed: Vec::new(),
            bytes_read: 0,
            seconds: started.elapsed().as_secs_f64(),
            resumed: true,
        }
    }

    /// Creates the target database when it does not exist.
    async fn ensure_database(&self) -> Result<(), SnapshotError> {
        let name = &self.db.database;
        let admin = self.target.connect(&self.admin_db).await?;
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[name])
            .await
            .map_err(|e| pg(&e))?
            .is_some();
        if !exists {
            pgload::admin::create_database(&admin, name).await?;
        }
        Ok(())
    }

    async fn commit_pre_data(
        &self,
        s0: &Client,
        done: &mut bool,
        in_txn: &mut bool,
    ) -> Result<(), SnapshotError> {
        if *done {
            return Ok(());
        }
        if !*in_txn {
            s0.batch_execute("BEGIN").await.map_err(|e| pg(&e))?;
            s0.batch_execute(&create_journal_sql(&self.snapshot_id))
                .await
                .map_err(|e| pg(&e))?;
        }
        s0.batch_execute(&journal_insert_sql("pre-data", 0, 0))
            .await
            .map_err(|e| pg(&e))?;
        s0.batch_execute("COMMIT").await.map_err(|e| pg(&e))?;
        *in_txn = false;
        *done = true;
        Ok(())
    }

    /// Starts the reader thread (and, for an object, the download feeding
    /// it). The reader returns the bytes and CRC32C it read from a file; the
    /// download returns those of the object.
    #[allow(clippy::type_complexity)]
    fn start_reading(
        &self,
        reader: Reader,
        spool_dir: &Path,
    ) -> Result<
        (
            tokio::task::JoinHandle<Result<(u64, u32), SnapshotError>>,
            Option<tokio::task::JoinHandle<Result<(u64, u32), SnapshotError>>>,
        ),
        SnapshotError,
    > {
        match &self.input {
            Input::File { path, .. } => {
                let file = std::fs::File::open(path).map_err(|e| SnapshotError::Io {
                    path: path.clone(),
                    source: e,
                })?;
                let sums = Arc::new(Mutex::new((0u64, 0u32)));
                let counted = CrcReader {
                    inner: std::io::BufReader::with_capacity(READ_CHUNK, file),
                    sums: sums.clone(),
                };
                let h = tokio::task::spawn_blocking(move || {
                    reader.run(Box::new(counted))?;
                    Ok(sums.lock().map(|s| *s).unwrap_or((0, 0)))
                });
                Ok((h, None))
            }
            Input::Object {
                store, name, gzip, ..
            } => {
                std::fs::create_dir_all(spool_dir).map_err(|e| SnapshotError::Io {
                    path: spool_dir.to_path_buf(),
                    source: e,
                })?;
                let (tx, rx) = mpsc::channel::<Bytes>(16);
                let gzip = *gzip;
                let h = tokio::task::spawn_blocking(move || {
                    let raw = BlockingReceiver {
                        rx,
                        cur: Bytes::new(),
                    };
                    let input: Box<dyn Read + Send> = if gzip {
                        Box::new(std::io::BufReader::with_capacity(
                            READ_CHUNK,
                            flate2::read::MultiGzDecoder::new(raw),
                        ))
                    } else {
                        Box::new(raw)
                    };
                    reader.run(input)?;
                    Ok((0, 0))
                });
                let store = store.clone();
                let name = name.clone();
                let pump = tokio::spawn(async move {
                    let mut stream = store
                        .read(&name)
                        .await
                        .map_err(|e| SnapshotError::bucket(&name, e))?;
                    let (mut size, mut crc) = (0u64, 0u32);
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk.map_err(|e| SnapshotError::bucket(&name, e))?;
                        size += chunk.len() as u64;
                        crc = crc32c::crc32c_append(crc, &chunk);
                        // A closed channel means the reader stopped; its error tells why.
                        if tx.send(chunk).await.is_err() {
                            break;
                        }
                    }
                    Ok((size, crc))
                });
                Ok((h, Some(pump)))
            }
        }
    }
}

/// Removes spool folders of earlier runs that are no longer running (a
/// killed import leaves its spool behind; the rerun reads the data again).
fn remove_stale_spools(dir: &Path, role: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&format!("{role}-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

async fn wait_all(
    waits: Vec<oneshot::Receiver<Result<WorkOutput, SnapshotError>>>,
) -> Result<(), SnapshotError> {
    let mut first = None;
    for rx in waits {
        let r = rx
            .await
            .unwrap_or_else(|_| Err(SnapshotError::Task("a loader stopped".into())));
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

fn pg(e: &pgload::DriverError) -> SnapshotError {
    SnapshotError::Pg(PgError::Query {
        what: "import bookkeeping".into(),
        message: match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => e.to_string(),
        },
        code: e.code().map(|c| c.code().to_string()),
    })
}

/// A [`PgError`] for a statement of the dump.
fn pgload_query_err(sql: &str, e: pgload::DriverError) -> PgError {
    PgError::query(dumpscript::sanitize::preview(sql.as_bytes()), e)
}

/// The sanitizer for this target: its version, and the extensions the
/// connected user can create there.
async fn sanitizer_for(client: &Client) -> Result<SanitizeOptions, SnapshotError> {
    let info = pgload::server_info(client).await?;
    let extensions = match pgload::catalog::creatable_extensions(client).await? {
        None => ExtensionPolicy::All,
        Some(also) => ExtensionPolicy::Trusted { also },
    };
    Ok(SanitizeOptions {
        profile: Profile::Cloudsql,
        target_major: info.major,
        extensions,
    })
}

/// The table a post-data statement works on (`CREATE INDEX … ON t`,
/// `ALTER TABLE [ONLY] t …`), for scheduling big ones first.
fn statement_table(sql: &str) -> Option<String> {
    let toks = dumpscript::tokens::tokenize(sql.as_bytes()).ok()?;
    let mut i = if toks.first()?.is_kw("ALTER") {
        2
    } else {
        toks.iter().position(|t| t.is_kw("ON"))? + 1
    };
    while toks
        .get(i)
        .is_some_and(|t| t.is_kw("ONLY") || t.is_kw("IF") || t.is_kw("EXISTS"))
    {
        i += 1;
    }
    let first = toks.get(i)?.ident()?;
    match (toks.get(i + 1), toks.get(i + 2).and_then(|t| t.ident())) {
        (Some(dumpscript::tokens::Token::Punct('.')), Some(second)) => Some(format!("{first}.{second}")),
        _ => Some(format!("public.{first}")),
    }
}

/// Work for a loader connection.
enum Work {
    Table {
        db: Arc<DbCtx>,
        key: String,
        columns: Vec<String>,
        /// The dump has no other COPY block for this table.
        whole_table: bool,
        expected: TableData,
        source: DataSource,
        spool: Arc<SpoolAccount>,
    },
    Statement {
        db: Arc<DbCtx>,
        sql: String,
        key: Option<String>,
        line: u64,
        toc: Option<TocEntry>,
    },
}

enum WorkOutput {
    Table(TableImport),
    Statement,
}

struct Queued {
    priority: u64,
    seq: u64,
    work: Work,
    reply: oneshot::Sender<Result<WorkOutput, SnapshotError>>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority && self.seq == other.seq
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Largest first; among equals, first queued first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Work waiting for a loader connection, biggest first, over all databases.
#[derive(Default)]
struct Scheduler {
    queue: Mutex<(BinaryHeap<Queued>, u64, bool)>,
    ready: Notify,
}

impl Scheduler {
    fn push(&self, priority: u64, work: Work, reply: oneshot::Sender<Result<WorkOutput, SnapshotError>>) {
        if let Ok(mut q) = self.queue.lock() {
            q.1 += 1;
            let seq = q.1;
            q.0.push(Queued {
                priority,
                seq,
                work,
                reply,
            });
        }
        self.ready.notify_one();
    }

    async fn next(&self) -> Option<Queued> {
        loop {
            let notified = self.ready.notified();
            {
                let mut q = self.queue.lock().ok()?;
                if q.2 {
                    return None;
                }
                if let Some(item) = q.0.pop() {
                    return Some(item);
                }
            }
            notified.await;
        }
    }

    fn close(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.2 = true;
            q.0.clear();
        }
        self.ready.notify_waiters();
    }
}

/// A loader: takes the biggest waiting work, keeps one connection per database.
async fn worker(sched: Arc<Scheduler>, target: ConnSpec, window: Arc<DataWindow>) {
    let mut conns: HashMap<String, Client> = HashMap::new();
    while let Some(job) = sched.next().await {
        let db = match &job.work {
            Work::Table { db, .. } | Work::Statement { db, .. } => db.clone(),
        };
        let client = match conns.remove(&db.database) {
            Some(c) if !c.is_closed() => Ok(c),
            _ => connect_session(&target, &db).await,
        };
        let (result, client) = match client {
            Ok(c) => {
                let started = Instant::now();
                let r = run_work(&c, job.work).await;
                if let Ok(WorkOutput::Table(_)) = &r {
                    window.record(started, Instant::now());
                }
                (r, Some(c))
            }
            Err(e) => (Err(e), None),
        };
        if let (Ok(_), Some(c)) = (&result, client) {
            conns.insert(db.database.clone(), c);
        }
        let _ = job.reply.send(result);
    }
}

async fn connect_session(target: &ConnSpec, db: &DbCtx) -> Result<Client, SnapshotError> {
    let c = target.connect(&db.database).await?;
    for s in db.settings() {
        c.batch_execute(&s)
            .await
            .map_err(|e| SnapshotError::Pg(pgload_query_err(&s, e)))?;
    }
    Ok(c)
}

async fn run_work(client: &Client, work: Work) -> Result<WorkOutput, SnapshotError> {
    match work {
        Work::Statement {
            db,
            sql,
            key,
            line,
            toc,
        } => {
            let mut attempt = 0;
            loop {
                let r = match &key {
                    Some(k) => execute_journaled(client, &sql, k).await,
                    None => client
                        .batch_execute(&sql)
                        .await
                        .map_err(|e| pgload_query_err(&sql, e)),
                };
                match r {
                    Ok(()) => return Ok(WorkOutput::Statement),
                    // Parallel DDL can deadlock (two foreign keys locking the same tables in turn).
                    Err(e) if e.is_transient() && attempt < 5 => {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                    }
                    Err(e) => return Err(db.sql_error(line, toc.as_ref(), &sql, &e)),
                }
            }
        }
        Work::Table {
            db,
            key,
            columns,
            whole_table,
            expected,
            source,
            spool,
        } => {
            let started = Instant::now();
            let kinds: Vec<ColumnKind> = expected
                .types
                .iter()
                .map(|t| ColumnKind::from_type_name(t))
                .collect();
            let fingerprint: Arc<Mutex<Option<Fingerprint>>> = Arc::new(Mutex::new(None));
            let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
            let (path, offset, len) = match &source {
                DataSource::Range { path, offset, len } => (path.clone(), *offset, *len),
                DataSource::Spool { path, len } => (path.clone(), 0, *len),
            };
            let fp = fingerprint.clone();
            let events = db.events.clone();
            let dbname = db.database.clone();
            // Read and fingerprint on a blocking thread; the async side only sends.
            let feeder = tokio::task::spawn_blocking(move || {
                let mut hasher = TableHasher::new(kinds);
                let result = (|| -> std::io::Result<()> {
                    let mut f = std::fs::File::open(&path)?;
                    f.seek(SeekFrom::Start(offset))?;
                    let mut left = len;
                    while left > 0 {
                        let mut buf = vec![0u8; READ_CHUNK.min(left as usize)];
                        f.read_exact(&mut buf)?;
                        left -= buf.len() as u64;
                        hasher.update(&buf);
                        let n = buf.len() as u64;
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return Ok(());
                        }
                        let _ = events.send(ImportEvent::Progress {
                            db: dbname.clone(),
                            bytes: n,
                        });
                    }
                    Ok(())
                })();
                match result {
                    Ok(()) => {
                        if let Ok(mut g) = fp.lock() {
                            *g = Some(hasher.finish());
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                    }
                }
            });
            let stream = tokio_stream_from(rx);
            let table = expected.table.clone();
            let load = TableLoad {
                table: &table,
                columns: &columns,
                journal_key: &key,
                whole_table,
            };
            let want = expected.clone();
            let result = load_table(client, &load, stream, |rows| {
                let got = fingerprint.lock().ok().and_then(|g| *g);
                match got {
                    Some(fp) if fp.rows == want.rows && fp.hash_hex() == want.hash && rows == want.rows => Ok(()),
                    Some(fp) => Err(format!(
                        "the data read has {} rows with hash {}, the server loaded {rows}; the manifest says {} rows with hash {}; the snapshot is damaged or is not the one the manifest describes",
                        fp.rows,
                        fp.hash_hex(),
                        want.rows,
                        want.hash
                    )),
                    None => Err("the data could not be read completely".into()),
                }
            })
            .await;
            let _ = feeder.await;
            if let DataSource::Spool { path, len } = &source {
                if result.is_ok() {
                    let _ = std::fs::remove_file(path);
                    spool.release(*len);
                }
            }
            let rows = result.map_err(|e| {
                SnapshotError::Sql(Box::new(SqlFailure {
                    file: db.label.clone(),
                    line: expected.line,
                    object: Some(format!("table data {}", expected.table)),
                    statement: format!("COPY {} FROM stdin", pgload::quote_qualified(&expected.table)),
                    message: e.message(),
                    code: e.code().map(str::to_string),
                }))
            })?;
            db.event(ImportEvent::TableDone {
                db: db.database.clone(),
                table: expected.table.clone(),
                rows,
                resumed: false,
                bytes: 0,
            });
            Ok(WorkOutput::Table(TableImport {
                table: expected.table,
                rows,
                expected_rows: expected.rows,
                bytes: len,
                seconds: started.elapsed().as_secs_f64(),
                resumed: false,
            }))
        }
    }
}

/// An mpsc receiver as a stream.
fn tokio_stream_from<T>(mut rx: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
