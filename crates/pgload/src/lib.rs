//! Postgres connections for src-snapshot: connecting the way libpq does
//! (a `postgres://` URL without a password, the password from `PGPASSWORD`
//! or a pgpass file), server facts, the table catalog and COPY streams.
//!
//! The loader, reset and compare build on these.
#![deny(missing_docs)]

pub mod admin;
pub mod catalog;
mod conn;
mod error;
pub mod load;

pub use conn::{pgpass_lookup, ConnSpec};
pub use error::PgError;
/// The driver's client, which loader code holds on to.
pub use tokio_postgres::{Client, Error as DriverError};

use futures_util::{Stream, StreamExt};

/// Facts about the server a client is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `server_version`, e.g. `16.14`.
    pub version: String,
    /// `server_version_num / 10000`, e.g. 16.
    pub major: u32,
    /// The connected user.
    pub user: String,
    /// Whether that user is a superuser.
    pub superuser: bool,
}

/// Reads [`ServerInfo`].
///
/// # Errors
/// A failed query.
pub async fn server_info(client: &Client) -> Result<ServerInfo, PgError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, \
             current_user::text, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the server version", e))?;
    let num: i32 = row.get(1);
    Ok(ServerInfo {
        version: row
            .get::<_, String>(0)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
        major: (num / 10000) as u32,
        user: row.get(2),
        superuser: row.get::<_, Option<bool>>(3).unwrap_or(false),
    })
}

/// A user table: its qualified name and columns with `format_type` types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// `schema.table`, unquoted.
    pub name: String,
    /// (column, type) in column order, without dropped or generated columns
    /// (as pg_dump's COPY lists them).
    pub columns: Vec<(String, String)>,
}

/// Ordinary and partitioned-leaf tables outside the system schemas, with
/// their columns.
///
/// # Errors
/// A failed query.
pub async fn list_tables(client: &Client) -> Result<Vec<TableInfo>, PgError> {
    // attgenerated exists from PG 12; test the version to keep PG 11 working.
    let info = server_info(client).await?;
    let generated = if info.major >= 12 {
        "AND a.attgenerated = ''"
    } else {
        ""
    };
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, \
                coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attnum > 0), '{{}}'), \
                coalesce(array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) FILTER (WHERE a.attnum > 0), '{{}}') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped {generated} \
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') \
         GROUP BY n.nspname, c.relname ORDER BY 1, 2"
    );
    let rows = client
        .query(sql.as_str(), &[])
        .await
        .map_err(|e| PgError::query("listing tables", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            let cols: Vec<String> = r.get(2);
            let types: Vec<String> = r.get(3);
            TableInfo {
                name: format!("{}.{}", r.get::<_, String>(0), r.get::<_, String>(1)),
                columns: cols.into_iter().zip(types).collect(),
            }
        })
        .collect())
}

/// Quotes an identifier for SQL: `a"b` → `"a""b"`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes `schema.table` (split at the first dot).
pub fn quote_qualified(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(name),
    }
}

/// Sets the session settings under which COPY text is comparable across
/// servers (a list of `(name, value)`; see the dumpscript fingerprint).
///
/// # Errors
/// A failed `SET`.
pub async fn apply_settings(client: &Client, settings: &[(&str, &str)]) -> Result<(), PgError> {
    for (name, value) in settings {
        client
            .batch_execute(&format!("SET {name} = '{}'", value.replace('\'', "''")))
            .await
            .map_err(|e| PgError::query("setting up the session", e))?;
    }
    Ok(())
}

/// Streams `COPY table (columns) TO STDOUT` in text format. The chunks end
/// wherever the server's messages end (one row each, in practice).
///
/// # Errors
/// The COPY could not start (e.g. the table does not exist); errors while
/// streaming come through the stream.
pub async fn copy_out(
    client: &Client,
    table: &str,
    columns: &[String],
) -> Result<impl Stream<Item = Result<bytes_chunk::Chunk, PgError>>, PgError> {
    let cols = if columns.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let sql = format!("COPY {}{cols} TO STDOUT", quote_qualified(table));
    let stream = client
        .copy_out(sql.as_str())
        .await
        .map_err(|e| PgError::query(format!("reading table {table}"), e))?;
    let table = table.to_string();
    Ok(stream.map(move |r| r.map_err(|e| PgError::query(format!("reading table {table}"), e))))
}

/// The chunk type of [`copy_out`] streams.
pub mod bytes_chunk {
    /// A piece of COPY text.
    pub type Chunk = bytes::Bytes;
}
