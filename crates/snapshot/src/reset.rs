//! `reset`: drop and recreate the target databases, with guards. It looks
//! before it drops: what each database holds is reported, and a database
//! that is neither empty nor Sourcegraph's, or that has other sessions, is
//! refused unless forced.

use pgload::admin::{create_database, drop_database, inventory, terminate_sessions, DatabaseInventory};
use pgload::ConnSpec;
use serde::Serialize;

use crate::error::SnapshotError;

/// What to reset and how.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    /// Database names.
    pub databases: Vec<String>,
    /// Actually do it (without: only look).
    pub yes: bool,
    /// Drop databases that do not look like Sourcegraph's, and end other sessions.
    pub force: bool,
}

/// One database's reset.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseReset {
    /// What it held before.
    pub before: DatabaseInventory,
    /// Sessions ended (with `force`).
    pub sessions_ended: u64,
    /// Whether it was dropped and created again.
    pub recreated: bool,
}

/// Why a reset was refused, per database.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// Database.
    pub database: String,
    /// Why, and what to do.
    pub reason: String,
}

/// The outcome: the inventories, and either the resets or the refusals.
#[derive(Debug, Clone, Serialize)]
pub struct ResetReport {
    /// Per database, in the order given.
    pub databases: Vec<DatabaseReset>,
    /// Refusals; when any, nothing was dropped.
    pub refused: Vec<Refusal>,
}

/// Looks at every database, then (with `yes` and no refusal) drops and
/// recreates each, owned by the connected user.
///
/// # Errors
/// Connection failures, or the server refusing a drop or create.
pub async fn reset(target: &ConnSpec, opts: &ResetOptions) -> Result<ResetReport, SnapshotError> {
    let admin_db = target.dbname().unwrap_or("postgres").to_string();
    let admin = target.connect(&admin_db).await?;
    let mut inventories = Vec::new();
    for db in &opts.databases {
        if *db == admin_db {
            return Err(SnapshotError::TargetNotEmpty {
                db: db.clone(),
                detail: "is the database this connection uses; put another database in --target-url (e.g. /postgres)".into(),
            });
        }
        inventories.push(inventory(&admin, db, || target.connect(db)).await?);
    }
    let mut refused = Vec::new();
    for inv in &inventories {
        if !opts.yes {
            refused.push(Refusal {
                database: inv.name.clone(),
                reason: "add --yes to drop and recreate it".into(),
            });
            continue;
        }
        if opts.force {
            continue;
        }
        if inv.exists && !inv.is_empty() && !inv.looks_like_sourcegraph && !inv.has_import_journal {
            refused.push(Refusal {
                database: inv.name.clone(),
                reason: format!(
                    "holds {} tables (e.g. {}) and does not look like a Sourcegraph database; check the --target-url, or add --force if it really is to be dropped",
                    inv.tables,
                    inv.sample_tables.join(", ")
                ),
            });
        } else if inv.other_sessions > 0 {
            refused.push(Refusal {
                database: inv.name.clone(),
                reason: format!(
                    "has {} other session(s); stop what uses it (the Sourcegraph instance?) or add --force to end them",
                    inv.other_sessions
                ),
            });
        }
    }
    if !refused.is_empty() {
        return Ok(ResetReport {
            databases: inventories
                .into_iter()
                .map(|before| DatabaseReset {
                    before,
                    sessions_ended: 0,
                    recreated: false,
                })
                .collect(),
            refused,
        });
    }
    let mut out = Vec::new();
    for before in inventories {
        let mut ended = 0;
        if before.exists {
            if opts.force && before.other_sessions > 0 {
                ended = terminate_sessions(&admin, &before.name).await?;
                // A terminated backend leaves pg_stat_activity a moment later.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            drop_database(&admin, &before.name).await?;
        }
        create_database(&admin, &before.name).await?;
        out.push(DatabaseReset {
            before,
            sessions_ended: ended,
            recreated: true,
        });
    }
    Ok(ResetReport {
        databases: out,
        refused: Vec::new(),
    })
}
