//! Proving a loaded target equals the snapshot: each table's row count and
//! content hash computed on the target with the manifest's definition (in
//! parallel), schema objects counted by kind, sequence values, extensions.
//! For a table that differs, the rows that differ are found when the dump
//! is at hand (a snapshot folder).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dumpscript::fingerprint::CANONICAL_SESSION_SETTINGS;
use dumpscript::{ColumnKind, Piece, Splitter, TableData, TableHasher};
use futures_util::StreamExt;
use pgdump::DbRole;
use pgload::{apply_settings, copy_out, ConnSpec};
use serde::Serialize;

use crate::error::SnapshotError;
use crate::import::ImportSource;
use crate::manifest::FileEntry;

/// Object kinds compared, as pg_dump's TOC names them, with the dump types that count towards each.
const OBJECT_KINDS: &[(&str, &[&str])] = &[
    ("TABLE", &["TABLE"]),
    ("VIEW", &["VIEW"]),
    ("MATERIALIZED VIEW", &["MATERIALIZED VIEW"]),
    ("SEQUENCE", &["SEQUENCE"]),
    ("INDEX", &["INDEX"]),
    ("CONSTRAINT", &["CONSTRAINT"]),
    ("FK CONSTRAINT", &["FK CONSTRAINT"]),
    ("FUNCTION", &["FUNCTION", "PROCEDURE", "AGGREGATE"]),
    ("TRIGGER", &["TRIGGER"]),
];

/// One table on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct TableComparison {
    /// Table.
    pub table: String,
    /// Rows in the snapshot.
    pub expected_rows: u64,
    /// Rows on the target (None: the table is missing).
    pub actual_rows: Option<u64>,
    /// Content hash in the snapshot.
    pub expected_hash: String,
    /// Content hash on the target.
    pub actual_hash: Option<String>,
    /// Whether both agree.
    pub equal: bool,
    /// Some rows only in the snapshot (COPY text), when they could be found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only_in_snapshot: Vec<String>,
    /// Some rows only on the target (COPY text), when they could be found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only_on_target: Vec<String>,
}

/// A count or value on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct ValueComparison {
    /// What is counted (an object kind, a sequence, an extension).
    pub name: String,
    /// In the snapshot.
    pub expected: String,
    /// On the target.
    pub actual: String,
    /// Whether they agree.
    pub equal: bool,
    /// Why a difference does not count, if it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One database.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseComparison {
    /// pgsql, codeintel or codeinsights.
    pub role: String,
    /// Target database.
    pub database: String,
    /// Tables.
    pub tables: Vec<TableComparison>,
    /// Schema objects by kind (empty when the manifest predates them).
    pub objects: Vec<ValueComparison>,
    /// Sequences.
    pub sequences: Vec<ValueComparison>,
    /// Extensions.
    pub extensions: Vec<ValueComparison>,
}

impl DatabaseComparison {
    /// Whether everything that counts agrees.
    pub fn is_equal(&self) -> bool {
        self.tables.iter().all(|t| t.equal)
            && self
                .objects
                .iter()
                .chain(&self.sequences)
                .chain(&self.extensions)
                .all(|v| v.equal || v.note.is_some())
    }
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// Per database.
    pub databases: Vec<DatabaseComparison>,
    /// Whether everything agrees.
    pub equal: bool,
    /// Seconds.
    pub seconds: f64,
}

/// Compares the target with the snapshot.
///
/// # Errors
/// The manifest is unreadable or the target unreachable. Differences are
/// not errors: they are in the report.
pub async fn compare(
    source: &ImportSource,
    target: &ConnSpec,
    databases: &[(DbRole, String)],
    jobs: usize,
) -> Result<CompareReport, SnapshotError> {
    let started = std::time::Instant::now();
    let manifest = source.manifest().await?;
    let mut out = Vec::new();
    for (role, db) in databases {
        let Some(entry) = manifest.files.iter().find(|f| f.role == role.yaml_key()) else {
            continue;
        };
        out.push(compare_database(source, target, *role, db, entry, jobs).await?);
    }
    let equal = out.iter().all(DatabaseComparison::is_equal);
    Ok(CompareReport {
        databases: out,
        equal,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn compare_database(
    source: &ImportSource,
    target: &ConnSpec,
    role: DbRole,
    db: &str,
    entry: &FileEntry,
    jobs: usize,
) -> Result<DatabaseComparison, SnapshotError> {
    let client = target.connect(db).await?;
    let catalog = pgload::list_tables(&client).await?;
    let present: std::collections::HashSet<String> = catalog.into_iter().map(|t| t.name).collect();
    let actual = fingerprint_parallel(target, db, &entry.tables, &present, jobs).await?;
    let mut tables = Vec::new();
    let mut by_name: Vec<(String, u64, u128)> = Vec::new();
    for t in &entry.tables {
        let h = dumpscript::Fingerprint::parse_hash(&t.hash).unwrap_or_default();
        match by_name.iter_mut().find(|e| e.0 == t.table) {
            Some(e) => {
                e.1 += t.rows;
                e.2 = e.2.wrapping_add(h);
            }
            None => by_name.push((t.table.clone(), t.rows, h)),
        }
    }
    for (name, rows, hash) in by_name {
        let got = actual.get(&name);
        let equal = got.is_some_and(|(r, h)| *r == rows && *h == hash);
        tables.push(TableComparison {
            table: name,
            expected_rows: rows,
            actual_rows: got.map(|g| g.0),
            expected_hash: format!("{hash:032x}"),
            actual_hash: got.map(|g| format!("{:032x}", g.1)),
            equal,
            only_in_snapshot: Vec::new(),
            only_on_target: Vec::new(),
        });
    }
    if let ImportSource::Dir(dir) = source {
        for t in tables.iter_mut().filter(|t| !t.equal && t.actual_rows.is_some()) {
            if t.expected_rows.max(t.actual_rows.unwrap_or(0)) <= ROW_DIFF_LIMIT {
                if let Ok((a, b)) = differing_rows(dir.join(&entry.name), target, db, entry, &t.table).await {
                    t.only_in_snapshot = a;
                    t.only_on_target = b;
                }
            }
        }
    }

    let mut objects = Vec::new();
    if !entry.objects.is_empty() {
        let counts = pgload::catalog::object_counts(&client).await?;
        for (kind, dump_kinds) in OBJECT_KINDS {
            let expected: u64 = dump_kinds
                .iter()
                .map(|k| entry.objects.get(*k).copied().unwrap_or(0))
                .sum();
            let actual = counts.get(*kind).copied().unwrap_or(0);
            objects.push(ValueComparison {
                name: kind.to_lowercase(),
                expected: expected.to_string(),
                actual: actual.to_string(),
                equal: expected == actual,
                note: None,
            });
        }
    }
    let states = pgload::catalog::sequence_states(&client).await?;
    let mut sequences = Vec::new();
    for s in &entry.sequences {
        let got = states.iter().find(|t| t.name == s.name);
        let fmt = |v: i64, called: bool| format!("{v}{}", if called { "" } else { " (not called)" });
        sequences.push(ValueComparison {
            name: s.name.clone(),
            expected: fmt(s.value, s.is_called),
            actual: got.map_or_else(|| "missing".into(), |g| fmt(g.value, g.is_called)),
            equal: got.is_some_and(|g| g.value == s.value && g.is_called == s.is_called),
            note: None,
        });
    }
    let installed = pgload::catalog::extensions(&client).await?;
    let creatable = pgload::catalog::creatable_extensions(&client).await?;
    let mut extensions = Vec::new();
    for name in &entry.extensions {
        let there = installed.contains(name);
        let allowed = creatable.as_ref().is_none_or(|c| c.contains(name));
        extensions.push(ValueComparison {
            name: name.clone(),
            expected: "created".into(),
            actual: if there { "present".into() } else { "missing".into() },
            equal: there,
            note: (!there && !allowed).then(|| {
                "this user cannot create it here, so the sanitizer left it out; ask the provider to enable it if Sourcegraph needs it".into()
            }),
        });
    }
    Ok(DatabaseComparison {
        role: role.yaml_key().to_string(),
        database: db.to_string(),
        tables,
        objects,
        sequences,
        extensions,
    })
}

/// Above this many rows a table's differing rows are not searched for
/// (that needs a hash per row in memory).
const ROW_DIFF_LIMIT: u64 = 2_000_000;

/// Fingerprints the manifest's tables on `jobs` connections, largest first.
/// Tables missing on the target are left out of the result.
async fn fingerprint_parallel(
    target: &ConnSpec,
    db: &str,
    tables: &[TableData],
    present: &std::collections::HashSet<String>,
    jobs: usize,
) -> Result<HashMap<String, (u64, u128)>, SnapshotError> {
    // One read per table, even when the dump splits its rows over several
    // COPY blocks (the manifest then lists it once per block).
    let mut queue: Vec<TableData> = Vec::new();
    for t in tables.iter().filter(|t| present.contains(&t.table)) {
        match queue.iter_mut().find(|q| q.table == t.table) {
            Some(q) => q.bytes += t.bytes,
            None => queue.push(t.clone()),
        }
    }
    queue.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    let queue = Arc::new(Mutex::new(queue.into_iter()));
    let result = Arc::new(Mutex::new(HashMap::<String, (u64, u128)>::new()));
    let mut tasks = Vec::new();
    for _ in 0..jobs.max(1) {
        let (queue, result, target, db) = (queue.clone(), result.clone(), target.clone(), db.to_string());
        tasks.push(tokio::spawn(async move {
            let client = target.connect(&db).await?;
            apply_settings(&client, CANONICAL_SESSION_SETTINGS).await?;
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.next());
                let Some(t) = next else { break };
                let kinds = t.types.iter().map(|k| ColumnKind::from_type_name(k)).collect();
                let mut hasher = TableHasher::new(kinds);
                let stream = copy_out(&client, &t.table, &t.columns).await?;
                futures_util::pin_mut!(stream);
                while let Some(chunk) = stream.next().await {
                    hasher.update(&chunk?);
                }
                let fp = hasher.finish();
                if let Ok(mut r) = result.lock() {
                    let e = r.entry(t.table.clone()).or_insert((0, 0));
                    e.0 += fp.rows;
                    e.1 = e.1.wrapping_add(fp.hash);
                }
            }
            Ok::<(), SnapshotError>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| SnapshotError::Task(e.to_string()))??;
    }
    let out = result.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(out)
}

/// Rows (up to 5 each way) that are only in the dump or only on the target.
async fn differing_rows(
    path: PathBuf,
    target: &ConnSpec,
    db: &str,
    entry: &FileEntry,
    table: &str,
) -> Result<(Vec<String>, Vec<String>), SnapshotError> {
    let Some(t) = entry.tables.iter().find(|t| t.table == table).cloned() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let kinds: Vec<ColumnKind> = t.types.iter().map(|k| ColumnKind::from_type_name(k)).collect();
    // Target rows by hash.
    let client = target.connect(db).await?;
    apply_settings(&client, CANONICAL_SESSION_SETTINGS).await?;
    let mut hasher = TableHasher::new(kinds.clone());
    let mut on_target: HashMap<u128, (i64, String)> = HashMap::new();
    let stream = copy_out(&client, &t.table, &t.columns).await?;
    futures_util::pin_mut!(stream);
    let mut carry = Vec::new();
    while let Some(chunk) = stream.next().await {
        carry.extend_from_slice(&chunk?);
        while let Some(i) = memchr::memchr(b'\n', &carry) {
            let line: Vec<u8> = carry.drain(..=i).collect();
            let line = &line[..line.len() - 1];
            let e = on_target
                .entry(hasher.row_hash(line))
                .or_insert_with(|| (0, String::from_utf8_lossy(line).into_owned()));
            e.0 += 1;
        }
    }
    // Dump rows cancel target rows.
    let table_name = t.table.clone();
    let (only_dump, on_target) = tokio::task::spawn_blocking(move || -> Result<_, SnapshotError> {
        let file = std::fs::File::open(&path).map_err(|e| SnapshotError::Io {
            path: path.clone(),
            source: e,
        })?;
        let mut split = Splitter::new(std::io::BufReader::new(file), None)
            .map_err(|e| SnapshotError::scan(path.clone(), e))?;
        let mut hasher = TableHasher::new(kinds);
        let mut inside = false;
        let mut only_dump = Vec::new();
        let mut on_target = on_target;
        while let Some(p) = split
            .next_piece()
            .map_err(|e| SnapshotError::scan(path.clone(), e))?
        {
            match p {
                Piece::CopyStart { target, .. } => inside = target.table == table_name,
                Piece::CopyEnd => inside = false,
                Piece::CopyData { data, .. } if inside => {
                    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        let h = hasher.row_hash(line);
                        match on_target.get_mut(&h) {
                            Some(e) if e.0 > 0 => e.0 -= 1,
                            _ => {
                                if only_dump.len() < 5 {
                                    only_dump.push(String::from_utf8_lossy(line).into_owned());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok((only_dump, on_target))
    })
    .await
    .map_err(|e| SnapshotError::Task(e.to_string()))??;
    let only_target = on_target
        .into_values()
        .filter(|(n, _)| *n > 0)
        .map(|(_, row)| row)
        .take(5)
        .collect();
    Ok((only_dump, only_target))
}
