//! The whole migration as one resumable flow.
//!
//! # Brief overview
//!
//! Sourcegraph's on-prem → Cloud runbook is a dozen steps for two people,
//! days apart. Each step is already a command of src-snapshot; this crate
//! runs them in order and keeps track:
//!
//! - [`MigrationConfig`] is `migration.yaml`: one documented struct whose
//!   defaults fit the runbook; unknown keys are refused with file:line.
//! - [`StepId`] lists the steps and who runs each ([`Party`]): the customer
//!   (preflight → notice-add → databases → summary → upload → verify-upload)
//!   and the operator (verify-bucket → reset → import → compare →
//!   upgrade-plan → migrator → test → notice-remove).
//! - [`run()`] runs one side or both: every step's preconditions are checked
//!   first, each start and end goes to the [`Journal`] (a JSON file in the
//!   snapshot folder, mirrored into the bucket so the operator sees the
//!   customer's progress), `resume` continues at the first unfinished step,
//!   `from_step` reruns from a step, `dry_run` changes nothing.
//! - [`runbook::runbook`] renders the checklist: what is done, what is
//!   next, who runs it and the exact command with this migration's values.
//! - [`report::build`] and [`report::write`] make `report.json`,
//!   `report.md` and a self-contained `report.html`.
//!
//! This crate sits above `snapshot`, `sgapi`, `pgdump`, `pgload` and
//! `bucket` and calls the same library functions as the single commands.
//! It prints nothing: progress arrives as [`Event`]s.
//!
//! # Example
//!
//! ```
//! use migrate::{MigrationConfig, Side, StepId, Journal};
//!
//! let cfg = MigrationConfig::parse("side: customer\nbucket: gs://acme-migration\n", "migration.yaml".as_ref())?;
//! assert_eq!(cfg.side, Side::Customer);
//! assert_eq!(StepId::for_side(cfg.side).first(), Some(&StepId::Preflight));
//! // A fresh journal: the runbook starts with preflight.
//! let j = Journal::new(&cfg.name);
//! assert_eq!(j.next(cfg.side), Some(StepId::Preflight));
//! let rb = migrate::runbook::runbook(Some(&j), None, Some(&cfg), None);
//! assert!(migrate::runbook::text(&rb).contains("src-snapshot upload -bucket=gs://acme-migration"));
//! # Ok::<(), migrate::MigrateError>(())
//! ```
#![deny(missing_docs)]

pub mod commands;
pub mod config;
mod error;
pub mod journal;
pub mod records;
pub mod report;
mod run;
pub mod runbook;
mod step;
mod steps;

pub use config::{MigrationConfig, Party, Side, DEFAULT_CONFIG};
pub use error::{FailureKind, MigrateError};
pub use journal::{Journal, Status, StepRecord, JOURNAL_FILE};
pub use report::{Report, ReportFiles};
pub use run::{run, side_of, Event, ProgressFn, RunOptions, RunOutcome};
pub use step::StepId;
pub use steps::database_checks;

/// Reads a journal from a bucket (`migration-journal.json`), for `runbook
/// -bucket=…` on a machine without the snapshot folder.
///
/// # Errors
/// The bucket cannot be opened or read, or the object is not a journal.
/// `Ok(None)` when the bucket holds no journal.
pub async fn journal_from_bucket(
    location: &str,
    credentials: Option<&std::path::Path>,
) -> Result<Option<(Journal, String)>, MigrateError> {
    let mut cfg = MigrationConfig::with_defaults(Side::Both);
    cfg.credentials = credentials.map(std::path::Path::to_path_buf);
    let store = steps::open_store(&cfg, location)
        .await
        .map_err(|e| MigrateError::Journal {
            location: location.to_string(),
            message: e.to_string(),
        })?;
    let where_ = format!("{}/{JOURNAL_FILE}", store.describe());
    match steps::read_bucket_journal(&store).await {
        Ok(Some(b)) => Ok(Some((Journal::from_slice(&b, &where_)?, where_))),
        Ok(None) => Ok(None),
        Err(e) => Err(MigrateError::Journal {
            location: where_,
            message: e.to_string(),
        }),
    }
}

/// The journal of `cfg`'s migration as it stands: the local one merged with
/// the bucket's copy (best effort; nothing is written). `Ok(None)` when
/// neither exists. Also returns where it was read.
///
/// # Errors
/// A journal exists but cannot be read.
pub async fn current_journal(cfg: &MigrationConfig) -> Result<Option<(Journal, String)>, MigrateError> {
    let local = Journal::load(&cfg.snapshot_dir)?;
    let path = cfg.snapshot_dir.join(JOURNAL_FILE).display().to_string();
    let remote = match cfg.bucket.as_deref() {
        Some(b) => journal_from_bucket(b, cfg.credentials.as_deref())
            .await
            .ok()
            .flatten(),
        None => None,
    };
    Ok(match (local, remote) {
        (Some(mut l), Some((r, _))) => {
            l.merge(&r);
            Some((l, path))
        }
        (Some(l), None) => Some((l, path)),
        (None, Some((r, at))) => Some((r, at)),
        (None, None) => None,
    })
}
