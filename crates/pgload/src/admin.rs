//! Databases as whole objects: what one holds, who is connected, dropping
//! and creating it. `reset` builds on these; the guards live there.

use tokio_postgres::Client;

use crate::{quote_ident, PgError};

/// What a database holds, for a person deciding whether to drop it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseInventory {
    /// Database name.
    pub name: String,
    /// Whether it exists.
    pub exists: bool,
    /// Its owner.
    pub owner: Option<String>,
    /// User tables (outside system schemas and extensions).
    pub tables: u64,
    /// Estimated rows (planner statistics), over all user tables.
    pub rows_estimate: u64,
    /// `pg_database_size`.
    pub size_bytes: u64,
    /// Client sessions connected to it other than ours (autovacuum and other
    /// server processes do not count: `DROP DATABASE` stops them itself).
    pub other_sessions: u64,
    /// Some of its table names (schema-qualified), to judge what it is.
    pub sample_tables: Vec<String>,
    /// Whether it has Sourcegraph's marker tables (`migration_logs`,
    /// `versions`, `repo`, `codeintel_*`, `insight_series`…).
    pub looks_like_sourcegraph: bool,
    /// Whether it has an interrupted import's journal.
    pub has_import_journal: bool,
}

impl DatabaseInventory {
    /// No user tables.
    pub fn is_empty(&self) -> bool {
        self.tables == 0
    }
}

/// Tables whose presence marks a Sourcegraph database (any one of them).
const SOURCEGRAPH_MARKERS: &[&str] = &[
    "migration_logs",
    "schema_migrations",
    "versions",
    "repo",
    "external_services",
    "codeintel_scip_metadata",
    "codeintel_scip_symbols",
    "lsif_data_documents",
    "insight_series",
    "series_points",
];

/// A `pg_stat_activity` row that is a client's session. A non-superuser sees
/// other roles' rows with `backend_type` hidden (NULL); those with a user are
/// clients, while autovacuum and other server processes have none (and
/// `DROP DATABASE` stops autovacuum itself).
const CLIENT_SESSION: &str =
    "(a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.usesysid IS NOT NULL))";

/// The schema an import keeps its journal in.
pub const JOURNAL_SCHEMA: &str = "src_snapshot_import";

/// Reads the inventory of `db`. `admin` is connected to any database of the
/// server; `open` connects to `db` itself (called only when it exists).
///
/// # Errors
/// Failed queries or connection.
pub async fn inventory<F, Fut>(admin: &Client, db: &str, open: F) -> Result<DatabaseInventory, PgError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Client, PgError>>,
{
    let row = admin
        .query_opt(
            &format!(
                "SELECT pg_get_userbyid(d.datdba)::text, pg_database_size(d.oid), \
                        (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname \
                           AND a.pid <> pg_backend_pid() AND {CLIENT_SESSION}) \
                 FROM pg_database d WHERE d.datname = $1"
            ),
            &[&db],
        )
        .await
        .map_err(|e| PgError::query(format!("looking up database {db}"), e))?;
    let Some(row) = row else {
        return Ok(DatabaseInventory {
            name: db.to_string(),
            exists: false,
            owner: None,
            tables: 0,
            rows_estimate: 0,
            size_bytes: 0,
            other_sessions: 0,
            sample_tables: Vec::new(),
            looks_like_sourcegraph: false,
            has_import_journal: false,
        });
    };
    let client = open().await?;
    let tables = client
        .query(
            "SELECT n.nspname::text, c.relname::text, greatest(c.reltuples, 0)::bigint \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(|e| PgError::query(format!("listing the tables of {db}"), e))?;
    let mut inv = DatabaseInventory {
        name: db.to_string(),
        exists: true,
        owner: row.get(0),
        tables: 0,
        rows_estimate: 0,
        size_bytes: row.get::<_, i64>(1).max(0) as u64,
        other_sessions: row.get::<_, i64>(2).max(0) as u64,
        sample_tables: Vec::new(),
        looks_like_sourcegraph: false,
        has_import_journal: false,
    };
    for t in &tables {
        let (schema, name): (String, String) = (t.get(0), t.get(1));
        if schema == JOURNAL_SCHEMA {
            inv.has_import_journal = true;
            continue;
        }
        inv.tables += 1;
        inv.rows_estimate += t.get::<_, i64>(2).max(0) as u64;
        if SOURCEGRAPH_MARKERS.contains(&name.as_str()) {
            inv.looks_like_sourcegraph = true;
        }
        if inv.sample_tables.len() < 5 {
            inv.sample_tables.push(format!("{schema}.{name}"));
        }
    }
    Ok(inv)
}

/// Ends every other session on `db` (needs the right to signal them: same
/// role, membership, or `pg_signal_backend`). Returns how many were ended.
///
/// # Errors
/// The query failed.
pub async fn terminate_sessions(admin: &Client, db: &str) -> Result<u64, PgError> {
    let rows = admin
        .query(
            &format!(
                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a \
                 WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND {CLIENT_SESSION}"
            ),
            &[&db],
        )
        .await
        .map_err(|e| PgError::query(format!("ending the sessions on {db}"), e))?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<_, Option<bool>>(0).unwrap_or(false))
        .count() as u64)
}

/// `DROP DATABASE IF EXISTS`.
///
/// # Errors
/// The server refused (not the owner, sessions still connected…).
pub async fn drop_database(admin: &Client, db: &str) -> Result<(), PgError> {
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(db)))
        .await
        .map_err(|e| PgError::query(format!("dropping database {db}"), e))
}

/// `CREATE DATABASE` owned by the connected user, UTF-8, from `template0`
/// (so nothing another database's template holds comes along).
///
/// # Errors
/// The server refused (no CREATEDB, the name is taken…).
pub async fn create_database(admin: &Client, db: &str) -> Result<(), PgError> {
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'",
            quote_ident(db)
        ))
        .await
        .map_err(|e| PgError::query(format!("creating database {db}"), e))
}

/// Whether the connected user may create databases.
///
/// # Errors
/// The query failed.
pub async fn can_create_databases(client: &Client) -> Result<bool, PgError> {
    let row = client
        .query_one(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the user's privileges", e))?;
    Ok(row.get(0))
}
