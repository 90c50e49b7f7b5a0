//! Catalog facts for comparing a loaded database with its dump: object
//! counts, sequence values, extensions, and which extensions the connected
//! user may create.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use crate::admin::JOURNAL_SCHEMA;
use crate::PgError;

/// Objects outside system schemas, extensions and the import journal,
/// counted by kind the way pg_dump's TOC names them.
///
/// # Errors
/// A failed query.
pub async fn object_counts(client: &Client) -> Result<BTreeMap<String, u64>, PgError> {
    // Every count excludes extension members (pg_depend 'e') and system schemas.
    let user_ns = format!(
        "n.nspname NOT IN ('pg_catalog', 'information_schema', '{JOURNAL_SCHEMA}') \
         AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
    );
    let not_ext = |oid: &str, cls: &str| {
        format!("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{cls}'::regclass AND d.objid = {oid} AND d.deptype = 'e')")
    };
    let rel = |kinds: &str| {
        format!(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ({kinds}) AND {user_ns} AND {}",
            not_ext("c.oid", "pg_class")
        )
    };
    let queries: Vec<(&str, String)> = vec![
        ("TABLE", rel("'r', 'p'")),
        ("VIEW", rel("'v'")),
        ("MATERIALIZED VIEW", rel("'m'")),
        ("SEQUENCE", rel("'S'")),
        (
            // Indexes that back no constraint: pg_dump writes those as INDEX entries.
            "INDEX",
            format!(
                "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE {user_ns} AND {} \
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))",
                not_ext("c.oid", "pg_class")
            ),
        ),
        (
            "CONSTRAINT",
            format!(
                "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
                 WHERE k.contype IN ('p', 'u', 'x') AND k.conrelid <> 0 AND {user_ns} AND {}",
                not_ext("k.conrelid", "pg_class")
            ),
        ),
        (
            "FK CONSTRAINT",
            format!(
                "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
                 WHERE k.contype = 'f' AND k.conrelid <> 0 AND k.conparentid = 0 AND {user_ns} AND {}",
                not_ext("k.conrelid", "pg_class")
            ),
        ),
        (
            "FUNCTION",
            format!(
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE {user_ns} AND {}",
                not_ext("p.oid", "pg_proc")
            ),
        ),
        (
            "TRIGGER",
            format!(
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE NOT t.tgisinternal AND {user_ns} AND {}",
                not_ext("c.oid", "pg_class")
            ),
        ),
    ];
    let mut out = BTreeMap::new();
    for (kind, sql) in queries {
        let sql = if kind == "FK CONSTRAINT" && !has_conparentid(client).await? {
            sql.replace(" AND k.conparentid = 0", "")
        } else {
            sql
        };
        let row = client
            .query_one(sql.as_str(), &[])
            .await
            .map_err(|e| PgError::query(format!("counting {}", kind.to_lowercase()), e))?;
        out.insert(kind.to_string(), row.get::<_, i64>(0).max(0) as u64);
    }
    Ok(out)
}

/// `pg_constraint.conparentid` exists from PG 11 on; older servers do not
/// clone foreign keys onto partitions.
async fn has_conparentid(client: &Client) -> Result<bool, PgError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'pg_catalog.pg_constraint'::regclass AND attname = 'conparentid')",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the catalog", e))?;
    Ok(row.get(0))
}

/// A sequence's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SequenceState {
    /// `schema.sequence`.
    pub name: String,
    /// `last_value`.
    pub value: i64,
    /// `is_called`.
    pub is_called: bool,
}

/// Every user sequence's `last_value` and `is_called`.
///
/// # Errors
/// A failed query (e.g. no SELECT privilege on a sequence).
pub async fn sequence_states(client: &Client) -> Result<Vec<SequenceState>, PgError> {
    let names = client
        .query(
            &format!(
                "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema', '{JOURNAL_SCHEMA}') \
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') ORDER BY 1, 2"
            ),
            &[],
        )
        .await
        .map_err(|e| PgError::query("listing sequences", e))?;
    let mut out = Vec::with_capacity(names.len());
    for r in names {
        let (schema, name): (String, String) = (r.get(0), r.get(1));
        let q = format!(
            "SELECT last_value, is_called FROM {}.{}",
            crate::quote_ident(&schema),
            crate::quote_ident(&name)
        );
        let row = client
            .query_one(q.as_str(), &[])
            .await
            .map_err(|e| PgError::query(format!("reading sequence {schema}.{name}"), e))?;
        out.push(SequenceState {
            name: format!("{schema}.{name}"),
            value: row.get(0),
            is_called: row.get(1),
        });
    }
    Ok(out)
}

/// Installed extensions (names).
///
/// # Errors
/// A failed query.
pub async fn extensions(client: &Client) -> Result<Vec<String>, PgError> {
    let rows = client
        .query("SELECT extname::text FROM pg_extension ORDER BY 1", &[])
        .await
        .map_err(|e| PgError::query("listing extensions", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Extensions the connected user can `CREATE EXTENSION` in this database:
/// `None` means every one (a superuser); otherwise the installed ones (for
/// which `IF NOT EXISTS` is a no-op) and the trusted ones the server offers
/// (PG 13+), provided the user may create in the database.
///
/// # Errors
/// A failed query.
pub async fn creatable_extensions(client: &Client) -> Result<Option<Vec<String>>, PgError> {
    let info = crate::server_info(client).await?;
    if info.superuser {
        return Ok(None);
    }
    let mut names = extensions(client).await?;
    let can_create = client
        .query_one("SELECT has_database_privilege(current_database(), 'CREATE')", &[])
        .await
        .map_err(|e| PgError::query("reading the user's privileges", e))?
        .get::<_, bool>(0);
    if can_create && info.major >= 13 {
        let rows = client
            .query(
                "SELECT DISTINCT name::text FROM pg_available_extension_versions WHERE trusted ORDER BY 1",
                &[],
            )
            .await
            .map_err(|e| PgError::query("listing trusted extensions", e))?;
        names.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    names.sort();
    names.dedup();
    Ok(Some(names))
}
