//! Loader connections shared by every database: the biggest waiting work
//! first; a table's data is read, fingerprinted and checked before it commits.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Work for a loader connection.
pub(super) enum Work {
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

pub(super) enum WorkOutput {
    Table(TableImport),
    Statement,
}

pub(super) struct Queued {
    pub(super) priority: u64,
    pub(super) seq: u64,
    pub(super) work: Work,
    pub(super) reply: oneshot::Sender<Result<WorkOutput, SnapshotError>>,
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
pub(super) struct Scheduler {
    pub(super) queue: Mutex<(BinaryHeap<Queued>, u64, bool)>,
    pub(super) ready: Notify,
}

impl Scheduler {
    pub(super) fn push(
        &self,
        priority: u64,
        work: Work,
        reply: oneshot::Sender<Result<WorkOutput, SnapshotError>>,
    ) {
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

    pub(super) async fn next(&self) -> Option<Queued> {
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

    pub(super) fn close(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.2 = true;
            q.0.clear();
        }
        self.ready.notify_waiters();
    }
}

/// A loader: takes the biggest waiting work, keeps one connection per database.
pub(super) async fn worker(sched: Arc<Scheduler>, target: ConnSpec, window: Arc<DataWindow>) {
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

pub(super) async fn connect_session(target: &ConnSpec, db: &DbCtx) -> Result<Client, SnapshotError> {
    let c = target.connect(&db.database).await?;
    for s in db.settings() {
        c.batch_execute(&s)
            .await
            .map_err(|e| SnapshotError::Pg(pgload_query_err(&s, e)))?;
    }
    Ok(c)
}

pub(super) async fn run_work(client: &Client, work: Work) -> Result<WorkOutput, SnapshotError> {
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
            db.event(ImportEvent::TableStarted {
                db: db.database.clone(),
                table: expected.table.clone(),
            });
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
            // Loaded or not, the spooled copy goes: a rerun reads the data again.
            if let DataSource::Spool { path, len } = &source {
                let _ = std::fs::remove_file(path);
                spool.release(*len);
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
pub(super) fn tokio_stream_from<T>(mut rx: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
