//! Loading with a journal kept in the target itself: each unit of work (the
//! pre-data, one table's COPY, one post-data statement) commits in the same
//! transaction as its journal row, so after a crash a unit is either wholly
//! there and recorded, or wholly absent. A rerun skips what is recorded.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::{pin_mut, SinkExt, Stream, StreamExt};
use tokio_postgres::Client;

use crate::admin::JOURNAL_SCHEMA;
use crate::{quote_ident, quote_qualified, PgError};

/// What a journal holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalState {
    /// The snapshot being imported (its manifest's identity).
    pub snapshot: String,
    /// Finished units: key → (rows, bytes).
    pub done: HashMap<String, (i64, i64)>,
}

/// Reads the journal of an interrupted import, if the database has one.
///
/// # Errors
/// A failed query.
pub async fn read_journal(client: &Client) -> Result<Option<JournalState>, PgError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&JOURNAL_SCHEMA],
        )
        .await
        .map_err(|e| PgError::query("looking for an import journal", e))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let meta = client
        .query_opt(
            &format!("SELECT snapshot FROM {JOURNAL_SCHEMA}.meta LIMIT 1"),
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the import journal", e))?;
    let Some(meta) = meta else {
        return Ok(None);
    };
    let rows = client
        .query(
            &format!("SELECT key, rows, bytes FROM {JOURNAL_SCHEMA}.journal"),
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the import journal", e))?;
    Ok(Some(JournalState {
        snapshot: meta.get(0),
        done: rows
            .iter()
            .map(|r| (r.get::<_, String>(0), (r.get(1), r.get(2))))
            .collect(),
    }))
}

/// SQL that creates the journal for `snapshot` (run inside the pre-data
/// transaction, so an interrupted pre-data leaves no journal behind).
pub fn create_journal_sql(snapshot: &str) -> String {
    format!(
        "CREATE SCHEMA {JOURNAL_SCHEMA}; \
         CREATE TABLE {JOURNAL_SCHEMA}.meta (snapshot text NOT NULL, started_at timestamptz NOT NULL DEFAULT now()); \
         CREATE TABLE {JOURNAL_SCHEMA}.journal (key text PRIMARY KEY, rows bigint NOT NULL DEFAULT 0, \
           bytes bigint NOT NULL DEFAULT 0, done_at timestamptz NOT NULL DEFAULT now()); \
         INSERT INTO {JOURNAL_SCHEMA}.meta (snapshot) VALUES ({});",
        literal(snapshot)
    )
}

/// SQL that records `key` as done.
pub fn journal_insert_sql(key: &str, rows: u64, bytes: u64) -> String {
    format!(
        "INSERT INTO {JOURNAL_SCHEMA}.journal (key, rows, bytes) VALUES ({}, {rows}, {bytes})",
        literal(key)
    )
}

/// Removes the journal once everything is done.
///
/// # Errors
/// A failed statement.
pub async fn drop_journal(client: &Client) -> Result<(), PgError> {
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {JOURNAL_SCHEMA} CASCADE"))
        .await
        .map_err(|e| PgError::query("removing the import journal", e))
}

/// A string literal (standard_conforming_strings is on in every session we open).
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Runs `sql` and records `key` in one transaction.
///
/// # Errors
/// The statement failed (the transaction is rolled back).
pub async fn execute_journaled(client: &Client, sql: &str, key: &str) -> Result<(), PgError> {
    let run = async {
        client.batch_execute("BEGIN").await?;
        client.batch_execute(sql).await?;
        client.batch_execute(&journal_insert_sql(key, 0, 0)).await?;
        client.batch_execute("COMMIT").await
    };
    match run.await {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(PgError::query("running the statement", e))
        }
    }
}

/// One table's load.
#[derive(Debug, Clone)]
pub struct TableLoad<'a> {
    /// `schema.table`, unquoted.
    pub table: &'a str,
    /// Columns in COPY order.
    pub columns: &'a [String],
    /// Its journal key.
    pub journal_key: &'a str,
    /// This load is the table's only data: `TRUNCATE` first and `COPY … FREEZE`
    /// (with several blocks for one table, each block just commits its rows).
    pub whole_table: bool,
}

/// Loads one table's data: `COPY … FROM STDIN` (for a whole plain table
/// after `TRUNCATE` and with `FREEZE`, which saves rewriting every page
/// later), then `check`,
/// then the journal row and `COMMIT`. If `check` refuses (the data does not
/// match the manifest) nothing is committed. Returns the rows the server loaded.
///
/// # Errors
/// The table could not be loaded or `check` refused; nothing is committed.
pub async fn load_table<S, E>(
    client: &Client,
    load: &TableLoad<'_>,
    data: S,
    check: impl FnOnce(u64) -> Result<(), String>,
) -> Result<u64, PgError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let table = load.table;
    let what = || format!("loading table {table}");
    let relkind: Option<i8> = client
        .query_opt(
            "SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&quote_qualified(table)],
        )
        .await
        .map_err(|e| PgError::query(what(), e))?
        .map(|r| r.get(0));
    let Some(relkind) = relkind else {
        return Err(PgError::Rejected {
            what: what(),
            message: "the table does not exist on the target (its CREATE TABLE did not run)".into(),
        });
    };
    let plain = relkind as u8 == b'r' && load.whole_table;
    let cols = load
        .columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let cols = if cols.is_empty() {
        String::new()
    } else {
        format!(" ({cols})")
    };
    let copy = format!(
        "COPY {}{cols} FROM STDIN{}",
        quote_qualified(table),
        if plain { " WITH (FREEZE)" } else { "" }
    );
    let result: Result<u64, PgError> = async {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| PgError::query(what(), e))?;
        if plain {
            client
                .batch_execute(&format!("TRUNCATE ONLY {}", quote_qualified(table)))
                .await
                .map_err(|e| PgError::query(what(), e))?;
        }
        let sink = client
            .copy_in::<_, Bytes>(copy.as_str())
            .await
            .map_err(|e| PgError::query(what(), e))?;
        pin_mut!(sink);
        pin_mut!(data);
        let mut bytes = 0u64;
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(|e| PgError::Rejected {
                what: what(),
                message: format!("reading the data failed: {e}"),
            })?;
            bytes += chunk.len() as u64;
            sink.send(chunk).await.map_err(|e| PgError::query(what(), e))?;
        }
        let rows = sink.finish().await.map_err(|e| PgError::query(what(), e))?;
        check(rows).map_err(|message| PgError::Rejected {
            what: what(),
            message,
        })?;
        client
            .batch_execute(&journal_insert_sql(load.journal_key, rows, bytes))
            .await
            .map_err(|e| PgError::query(what(), e))?;
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| PgError::query(what(), e))?;
        Ok(rows)
    }
    .await;
    if result.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result
}
