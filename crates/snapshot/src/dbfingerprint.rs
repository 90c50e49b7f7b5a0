//! Fingerprints of a live database, computed with the same definition as a
//! dump's (see `dumpscript::fingerprint`): `COPY … TO STDOUT` under the
//! canonical session settings, each row hashed as the dump's rows were.

use dumpscript::fingerprint::CANONICAL_SESSION_SETTINGS;
use dumpscript::{ColumnKind, TableData, TableHasher};
use futures_util::StreamExt;
use pgload::{apply_settings, copy_out, list_tables, ConnSpec};

use crate::error::SnapshotError;

/// Fingerprints tables of database `db`.
///
/// With `expected` (a manifest's tables), reads exactly those tables and
/// columns and canonicalizes by the dump's declared types, so the result is
/// comparable entry by entry; a missing table is an error. Without it, reads
/// every user table with the catalog's types.
///
/// # Errors
/// Connection or query failures; a table of `expected` that does not exist.
pub async fn fingerprint_database(
    conn: &ConnSpec,
    db: &str,
    expected: Option<&[TableData]>,
) -> Result<Vec<TableData>, SnapshotError> {
    let client = conn.connect(db).await?;
    apply_settings(&client, CANONICAL_SESSION_SETTINGS).await?;
    let catalog = list_tables(&client).await?;
    let plan: Vec<(String, Vec<String>, Vec<String>, u64)> = match expected {
        Some(tables) => {
            let mut plan = Vec::with_capacity(tables.len());
            for t in tables {
                if !catalog.iter().any(|c| c.name == t.table) {
                    return Err(SnapshotError::MissingTable {
                        db: db.to_string(),
                        table: t.table.clone(),
                    });
                }
                plan.push((t.table.clone(), t.columns.clone(), t.types.clone(), t.line));
            }
            plan
        }
        None => catalog
            .into_iter()
            .map(|t| {
                let (cols, types) = t.columns.into_iter().unzip();
                (t.name, cols, types, 0)
            })
            .collect(),
    };
    let mut out = Vec::with_capacity(plan.len());
    for (table, columns, types, line) in plan {
        let kinds = types.iter().map(|t| ColumnKind::from_type_name(t)).collect();
        let mut hasher = TableHasher::new(kinds);
        let mut bytes = 0u64;
        let stream = copy_out(&client, &table, &columns).await?;
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.len() as u64;
            hasher.update(&chunk);
        }
        let fp = hasher.finish();
        out.push(TableData {
            table,
            columns,
            types,
            rows: fp.rows,
            hash: fp.hash_hex(),
            bytes,
            line,
        });
    }
    Ok(out)
}

/// One table's difference between two fingerprint lists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableDiff {
    /// Table name.
    pub table: String,
    /// Rows on the expected side (None: absent there).
    pub expected_rows: Option<u64>,
    /// Rows on the actual side (None: absent there).
    pub actual_rows: Option<u64>,
    /// Whether the content hashes agree.
    pub hash_equal: bool,
}

/// Per table name: rows and hash summed over every COPY block of that table
/// (a dump has one per table; the sum keeps the definition for more).
fn by_table(tables: &[TableData]) -> Vec<(String, u64, u128)> {
    let mut out: Vec<(String, u64, u128)> = Vec::new();
    for t in tables {
        let hash = dumpscript::Fingerprint::parse_hash(&t.hash).unwrap_or_default();
        match out.iter_mut().find(|(name, _, _)| *name == t.table) {
            Some(e) => {
                e.1 += t.rows;
                e.2 = e.2.wrapping_add(hash);
            }
            None => out.push((t.table.clone(), t.rows, hash)),
        }
    }
    out
}

/// Tables whose row count or hash differ, or that exist on one side only.
pub fn diff_tables(expected: &[TableData], actual: &[TableData]) -> Vec<TableDiff> {
    let (expected, actual) = (by_table(expected), by_table(actual));
    let mut diffs = Vec::new();
    for (name, rows, hash) in &expected {
        match actual.iter().find(|a| a.0 == *name) {
            Some(a) if a.1 == *rows && a.2 == *hash => {}
            Some(a) => diffs.push(TableDiff {
                table: name.clone(),
                expected_rows: Some(*rows),
                actual_rows: Some(a.1),
                hash_equal: a.2 == *hash,
            }),
            None => diffs.push(TableDiff {
                table: name.clone(),
                expected_rows: Some(*rows),
                actual_rows: None,
                hash_equal: false,
            }),
        }
    }
    for (name, rows, _) in &actual {
        if !expected.iter().any(|e| e.0 == *name) {
            diffs.push(TableDiff {
                table: name.clone(),
                expected_rows: None,
                actual_rows: Some(*rows),
                hash_equal: false,
            });
        }
    }
    diffs
}
