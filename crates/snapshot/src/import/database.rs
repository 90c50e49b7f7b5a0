//! One database's import, run by its coordinator: checks the target, runs
//! pre-data in one transaction, hands tables to the scheduler, then
//! post-data in parallel where safe, sequences and ANALYZE.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A database being imported, as jobs see it.
pub(super) struct DbCtx {
    pub(super) role: DbRole,
    pub(super) database: String,
    /// The dump file or object, for messages.
    pub(super) label: String,
    /// Statements every new session runs first (ours, then the dump's `SET`s).
    pub(super) settings: Arc<Mutex<Vec<String>>>,
    pub(super) events: mpsc::UnboundedSender<ImportEvent>,
}

impl DbCtx {
    pub(super) fn event(&self, e: ImportEvent) {
        let _ = self.events.send(e);
    }

    pub(super) fn settings(&self) -> Vec<String> {
        self.settings.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(super) fn sql_error(
        &self,
        line: u64,
        toc: Option<&TocEntry>,
        text: &str,
        e: &PgError,
    ) -> SnapshotError {
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

/// One database's import, run by its coordinator task.
pub(super) struct DatabaseJob {
    pub(super) db: Arc<DbCtx>,
    pub(super) entry: FileEntry,
    pub(super) input: Input,
    pub(super) target: ConnSpec,
    pub(super) admin_db: String,
    pub(super) snapshot_id: String,
    pub(super) sched: Arc<Scheduler>,
    pub(super) spool: Arc<SpoolAccount>,
    pub(super) spool_dir: PathBuf,
    /// Another database of this import holds a finished journal of this
    /// snapshot: the previous run got as far as removing the journals.
    pub(super) finishing: bool,
}

/// What a target database holds before this run.
pub(super) enum TargetState {
    /// No tables: a fresh import.
    Empty,
    /// An interrupted import of this snapshot, with its finished units.
    Interrupted(HashMap<String, (i64, i64)>),
    /// Finished by an earlier run (units as far as still journaled).
    Finished(HashMap<String, (i64, i64)>),
}

/// The journal key of a finished database.
pub(super) const COMPLETE: &str = "complete";

/// Post-data statements waiting for the data.
pub(super) struct PostStatement {
    pub(super) ordinal: usize,
    pub(super) sql: String,
    pub(super) line: u64,
    pub(super) kind: PostKind,
    pub(super) toc: Option<TocEntry>,
    /// The table it works on, if it can be told ([`statement_table`]).
    pub(super) table: Option<String>,
}

impl DatabaseJob {
    pub(super) async fn run(self) -> Result<DatabaseImport, SnapshotError> {
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
        let (done, resumed) = match self.target_state(&s0).await? {
            TargetState::Finished(done) => {
                phase("done (by an earlier run)");
                return Ok(self.finished_earlier(&done, started));
            }
            TargetState::Empty => (HashMap::new(), false),
            TargetState::Interrupted(done) => (done, true),
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
                        if ordinal == 0 {
                            phase("data");
                        }
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
                            (Some(source), None) if source.len() == 0 && want.rows == 0 => {
                                // Nothing to load: no connection, no transaction.
                                if let DataSource::Spool { path, .. } = &source {
                                    let _ = std::fs::remove_file(path);
                                }
                                db.event(ImportEvent::TableDone {
                                    db: db.database.clone(),
                                    table: table.clone(),
                                    rows: 0,
                                    resumed: false,
                                    bytes: 0,
                                });
                                tables.push(TableImport {
                                    table,
                                    rows: 0,
                                    expected_rows: 0,
                                    bytes: 0,
                                    seconds: 0.0,
                                    resumed: false,
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
                                table_jobs.push((table.clone(), rx));
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
                            table: statement_table(&sql),
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
                    "read {bytes_read} bytes with crc32c {}, the manifest says {want_size} bytes with crc32c {want_crc}; each table committed so far matched its fingerprint; the import stops here",
                    crc32c_base64(crc)
                ),
            });
        }
        self.commit_pre_data(&s0, &mut pre_data_done, &mut in_txn).await?;

        phase("data");
        let loaded = self.data_and_indexes(table_jobs, &post, &done).await;
        cleanup();
        let (loaded, index_run, index_resumed) = loaded?;
        tables.extend(loaded);
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

        let (post_run, post_resumed) = self.post_data(&s0, &post, &done, &phase).await?;
        let (post_run, post_resumed) = (post_run + index_run, post_resumed + index_resumed);
        if !done.contains_key("analyze") {
            phase("analyze");
            self.analyze(&s0).await?;
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

    /// Where this database stands: empty, an interrupted import of this
    /// snapshot, or finished; anything else is refused.
    async fn target_state(&self, s0: &Client) -> Result<TargetState, SnapshotError> {
        let name = &self.db.database;
        match read_journal(s0).await? {
            Some(j) if j.snapshot != self.snapshot_id => Err(SnapshotError::TargetNotEmpty {
                db: name.clone(),
                detail: "holds an interrupted import of a different snapshot; run `src-snapshot reset` to start over"
                    .into(),
            }),
            Some(j) if j.done.contains_key(COMPLETE) => Ok(TargetState::Finished(j.done)),
            Some(j) => Ok(TargetState::Interrupted(j.done)),
            None => {
                let inv = pgload::admin::inventory(s0, name, || self.target.connect(name)).await?;
                if inv.is_empty() {
                    Ok(TargetState::Empty)
                } else if self.finishing {
                    // An earlier run finished everything and was removing the journals.
                    Ok(TargetState::Finished(HashMap::new()))
                } else {
                    Err(SnapshotError::TargetNotEmpty {
                        db: name.clone(),
                        detail: format!(
                            "already holds {} tables (e.g. {}) and no interrupted import; if a finished import, check it with `src-snapshot compare`; to load again, run `src-snapshot reset` first",
                            inv.tables,
                            inv.sample_tables.join(", ")
                        ),
                    })
                }
            }
        }
    }

    /// The table loads, and each table's indexes and constraints as soon as
    /// its data is in (as pg_restore does), so index builds overlap other
    /// tables' loading. Statements whose table cannot be told wait for all
    /// data. Returns the tables loaded and the statements run now and done
    /// by an earlier run.
    async fn data_and_indexes(
        &self,
        table_jobs: Vec<(String, oneshot::Receiver<Result<WorkOutput, SnapshotError>>)>,
        post: &[PostStatement],
        done: &HashMap<String, (i64, i64)>,
    ) -> Result<(Vec<TableImport>, usize, usize), SnapshotError> {
        let sizes = self.table_sizes();
        let mut pending: HashMap<String, usize> = HashMap::new();
        for (t, _) in &table_jobs {
            *pending.entry(t.clone()).or_default() += 1;
        }
        let (mut run, mut resumed) = (0, 0);
        let mut waiting: HashMap<String, Vec<&PostStatement>> = HashMap::new();
        let mut after_data: Vec<&PostStatement> = Vec::new();
        // Tables whose data is already in (or has none to load) start now.
        let mut ready: Vec<(&str, Vec<&PostStatement>)> = Vec::new();
        for p in post
            .iter()
            .filter(|p| matches!(p.kind, PostKind::Index | PostKind::Constraint))
        {
            if done.contains_key(&format!("post:{}", p.ordinal)) {
                resumed += 1;
                continue;
            }
            run += 1;
            match p.table.as_deref() {
                Some(t) if pending.contains_key(t) => waiting.entry(t.to_string()).or_default().push(p),
                Some(t) => match ready.iter_mut().find(|(name, _)| *name == t) {
                    Some((_, list)) => list.push(p),
                    None => ready.push((t, vec![p])),
                },
                None => after_data.push(p),
            }
        }
        let mut chains: futures_util::stream::FuturesUnordered<_> = ready
            .into_iter()
            .map(|(_, list)| self.table_post(list, &sizes))
            .collect();
        let mut loads: futures_util::stream::FuturesUnordered<_> = table_jobs
            .into_iter()
            .map(|(t, rx)| async move { (t, rx.await) })
            .collect();
        let mut tables = Vec::new();
        let mut first_error = None;
        loop {
            tokio::select! {
                Some((t, result)) = loads.next() => {
                    match result {
                        Ok(Ok(WorkOutput::Table(loaded))) => tables.push(loaded),
                        Ok(Ok(WorkOutput::Statement)) => {}
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Err(SnapshotError::Task("a loader stopped".into())),
                    }
                    let left = pending.get_mut(&t).map(|n| {
                        *n -= 1;
                        *n
                    });
                    if left == Some(0) {
                        if let Some(list) = waiting.remove(&t) {
                            chains.push(self.table_post(list, &sizes));
                        }
                    }
                }
                Some(r) = chains.next() => {
                    if let Err(e) = r {
                        first_error.get_or_insert(e);
                    }
                }
                else => break,
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.db.event(ImportEvent::Phase {
            db: self.db.database.clone(),
            phase: "indexes and constraints".into(),
        });
        let waits = after_data
            .iter()
            .map(|p| self.push_post(p, statement_priority(p, &sizes)))
            .collect();
        wait_all(waits).await?;
        Ok((tables, run, resumed))
    }

    /// A table's indexes and constraints once its data is in. The statements
    /// that lock the whole table (`ALTER TABLE … ADD CONSTRAINT`, ACCESS
    /// EXCLUSIVE) go one after the other, then its `CREATE INDEX`es all at
    /// once (their SHARE locks do not conflict), the costliest first: no
    /// connection waits on a lock another of ours holds.
    async fn table_post(
        &self,
        list: Vec<&PostStatement>,
        sizes: &HashMap<&str, u64>,
    ) -> Result<(), SnapshotError> {
        let (exclusive, shared): (Vec<&PostStatement>, Vec<&PostStatement>) =
            list.into_iter().partition(|p| p.kind == PostKind::Constraint);
        for p in exclusive {
            wait_all(vec![self.push_post(p, statement_priority(p, sizes))]).await?;
        }
        let waits = shared
            .into_iter()
            .map(|p| self.push_post(p, statement_priority(p, sizes)))
            .collect();
        wait_all(waits).await
    }

    /// Each table's COPY bytes, by name (post-data statements on big tables go first).
    fn table_sizes(&self) -> HashMap<&str, u64> {
        self.entry
            .tables
            .iter()
            .map(|t| (t.table.as_str(), t.bytes))
            .collect()
    }

    /// Queues one post-data statement, journaled under its ordinal.
    fn push_post(
        &self,
        p: &PostStatement,
        priority: u64,
    ) -> oneshot::Receiver<Result<WorkOutput, SnapshotError>> {
        let (reply, rx) = oneshot::channel();
        let work = Work::Statement {
            db: self.db.clone(),
            sql: p.sql.clone(),
            key: Some(format!("post:{}", p.ordinal)),
            line: p.line,
            toc: p.toc.clone(),
        };
        self.sched.push(priority, work, reply);
        rx
    }

    /// Post-data after the indexes: foreign keys in parallel, then the rest
    /// in dump order on `s0`. Returns the statements run now and those an
    /// earlier run did.
    async fn post_data(
        &self,
        s0: &Client,
        post: &[PostStatement],
        done: &HashMap<String, (i64, i64)>,
        phase: &(dyn Fn(&str) + Sync),
    ) -> Result<(usize, usize), SnapshotError> {
        let db = &self.db;
        let sizes = self.table_sizes();
        let (mut run, mut resumed) = (0, 0);
        for (label, kinds) in [("foreign keys", &[PostKind::ForeignKey][..])] {
            phase(label);
            let mut waits = Vec::new();
            for p in post.iter().filter(|p| kinds.contains(&p.kind)) {
                let key = format!("post:{}", p.ordinal);
                if done.contains_key(&key) {
                    resumed += 1;
                    continue;
                }
                waits.push(self.push_post(p, statement_priority(p, &sizes)));
                run += 1;
            }
            wait_all(waits).await?;
        }
        phase("triggers and the rest");
        for p in post.iter().filter(|p| p.kind == PostKind::Other) {
            let key = format!("post:{}", p.ordinal);
            if done.contains_key(&key) {
                resumed += 1;
                continue;
            }
            execute_journaled(s0, &p.sql, &key)
                .await
                .map_err(|e| db.sql_error(p.line, p.toc.as_ref(), &p.sql, &e))?;
            run += 1;
        }
        Ok((run, resumed))
    }

    /// `ANALYZE` every table, in parallel, then records it in the journal.
    async fn analyze(&self, s0: &Client) -> Result<(), SnapshotError> {
        let mut waits = Vec::new();
        let mut seen = HashSet::new();
        for t in &self.entry.tables {
            if !seen.insert(t.table.as_str()) {
                continue;
            }
            let (reply, rx) = oneshot::channel();
            let work = Work::Statement {
                db: self.db.clone(),
                sql: format!("ANALYZE {}", pgload::quote_qualified(&t.table)),
                key: None,
                line: t.line,
                toc: None,
            };
            self.sched.push(t.bytes, work, reply);
            waits.push(rx);
        }
        wait_all(waits).await?;
        s0.batch_execute(&journal_insert_sql("analyze", 0, 0))
            .await
            .map_err(|e| pg(&e))
    }

    /// The report of a database an earlier run finished.
    pub(super) fn finished_earlier(
        &self,
        done: &HashMap<String, (i64, i64)>,
        started: Instant,
    ) -> DatabaseImport {
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
    pub(super) async fn ensure_database(&self) -> Result<(), SnapshotError> {
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

    pub(super) async fn commit_pre_data(
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
    pub(super) fn start_reading(
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
                    let raw = crate::fsutil::ChannelReader::new(rx);
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
pub(super) fn remove_stale_spools(dir: &Path, role: &str) {
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
        if crate::fsutil::process_is_gone(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

pub(super) async fn wait_all(
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

pub(super) fn pg(e: &pgload::DriverError) -> SnapshotError {
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
pub(super) fn pgload_query_err(sql: &str, e: pgload::DriverError) -> PgError {
    PgError::query(dumpscript::sanitize::preview(sql.as_bytes()), e)
}

/// The sanitizer for this target: its version, and the extensions the
/// connected user can create there.
pub(super) async fn sanitizer_for(client: &Client) -> Result<SanitizeOptions, SnapshotError> {
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

/// Which post-data statement a free connection takes first: the one on the
/// biggest table, with GIN and GiST builds (several times slower than B-tree
/// ones per byte) counted four times its size, so the longest build, often
/// the import's critical path, starts as early as it can.
fn statement_priority(p: &PostStatement, sizes: &HashMap<&str, u64>) -> u64 {
    let bytes = p
        .table
        .as_deref()
        .and_then(|t| sizes.get(t).copied())
        .unwrap_or(0);
    let upper = p.sql.to_ascii_uppercase();
    if p.kind == PostKind::Index && (upper.contains(" USING GIN") || upper.contains(" USING GIST")) {
        bytes.saturating_mul(4)
    } else {
        bytes
    }
}

/// The table a post-data statement works on (`CREATE INDEX … ON t`,
/// `ALTER TABLE [ONLY] t …`), for scheduling big ones first.
pub(super) fn statement_table(sql: &str) -> Option<String> {
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
