//! The reader: one pass over a dump on a blocking thread, sending its
//! pieces to the database's coordinator in order and spooling table data
//! that cannot be read again in place.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Where a table's COPY data is.
#[derive(Debug)]
pub(super) enum DataSource {
    /// A byte range of a local file.
    Range { path: PathBuf, offset: u64, len: u64 },
    /// A spool file holding only this table's data.
    Spool { path: PathBuf, len: u64 },
}

impl DataSource {
    pub(super) fn len(&self) -> u64 {
        match self {
            DataSource::Range { len, .. } | DataSource::Spool { len, .. } => *len,
        }
    }
}

/// What the reader thread sends the database's coordinator, in dump order.
pub(super) enum ReaderEvent {
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
pub(super) struct SpoolAccount {
    /// Bytes spooled and not yet loaded; true once the import stops.
    pub(super) used: Mutex<(u64, bool)>,
    pub(super) freed: Condvar,
    pub(super) limit: u64,
}

impl SpoolAccount {
    pub(super) fn new(limit: u64) -> Self {
        SpoolAccount {
            used: Mutex::new((0, false)),
            freed: Condvar::new(),
            limit,
        }
    }

    /// Blocks while the budget is spent (spooled tables are waiting or
    /// loading, and each frees its share when done).
    pub(super) fn wait_for_room(&self) {
        if let Ok(mut used) = self.used.lock() {
            while used.0 > 0 && used.0 >= self.limit && !used.1 {
                match self.freed.wait(used) {
                    Ok(g) => used = g,
                    Err(_) => return,
                }
            }
        }
    }

    pub(super) fn add(&self, n: u64) {
        if let Ok(mut used) = self.used.lock() {
            used.0 += n;
        }
    }

    pub(super) fn release(&self, n: u64) {
        if let Ok(mut used) = self.used.lock() {
            used.0 = used.0.saturating_sub(n);
        }
        self.freed.notify_all();
    }

    /// The import stops: nobody waits for room any more.
    pub(super) fn close(&self) {
        if let Ok(mut used) = self.used.lock() {
            used.1 = true;
        }
        self.freed.notify_all();
    }
}

pub(super) const READ_CHUNK: usize = 256 * 1024;

/// Reads the dump and sends its pieces to the coordinator; spools table
/// data when it comes from an object. Skips spooling tables in `done`.
pub(super) struct Reader {
    pub(super) label: String,
    pub(super) sanitize: SanitizeOptions,
    pub(super) done: HashSet<String>,
    pub(super) local: Option<PathBuf>,
    pub(super) spool_dir: PathBuf,
    pub(super) spool: Arc<SpoolAccount>,
    pub(super) tx: mpsc::Sender<ReaderEvent>,
}

impl Reader {
    pub(super) fn run(self, input: Box<dyn Read + Send>) -> Result<(), SnapshotError> {
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
pub(super) struct OpenCopy {
    pub(super) table: String,
    pub(super) columns: Vec<String>,
    pub(super) line: u64,
    /// Offset of its first data byte in the input.
    pub(super) start: Option<u64>,
    pub(super) len: u64,
    /// Its spool file, when the data is spooled.
    pub(super) spool: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
}

pub(super) fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn table_key(ordinal: usize, table: &str) -> String {
    format!("data:{ordinal}:{table}")
}
