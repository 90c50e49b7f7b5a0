//! Errors of the migration flow. Each says what went wrong and where; a
//! failed step also says what to do next (its hint names the command).
//! No error holds a password or token: the layers below keep them out, and
//! the config never holds one.

use std::path::PathBuf;

use crate::step::StepId;

/// How a step failed, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// The step ran and found a problem (a difference, a failed check): exit 1.
    Check,
    /// The step could not run (unreachable, refused, bad input): exit 2.
    Error,
}

/// An error of the migration flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The config file cannot be read.
    #[error("cannot read the migration config {}: {source}", path.display())]
    ConfigIo {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid: bad YAML, an unknown key, a refused value.
    #[error("{}{}: {message}{}", path.display(), loc(*line, *column), hint.as_ref().map(|h| format!("; hint: {h}")).unwrap_or_default())]
    Config {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// A field a step needs is not set.
    #[error("the migration config has no {field}: {why}")]
    Missing {
        /// The field (`target.url`).
        field: &'static str,
        /// What needs it.
        why: &'static str,
    },
    /// A field's value cannot be used.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The source targets cannot be read.
    #[error("source.targets: {0}")]
    Targets(#[from] pgdump::TargetsError),
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The journal is unreadable.
    #[error("{location}: not a migration journal this tool can read: {message}")]
    Journal {
        /// The file or object.
        location: String,
        /// Why.
        message: String,
    },
    /// A journal exists and neither `--resume` nor `--from-step` was given.
    #[error("{} already records this migration ({done} of {total} steps done, next: {next})", path.display())]
    JournalExists {
        /// The journal.
        path: PathBuf,
        /// Steps done.
        done: usize,
        /// Steps of this side.
        total: usize,
        /// The first unfinished step.
        next: String,
    },
    /// `--from-step` or `skip_steps` names no step of this side.
    #[error("unknown step {given:?} for side {side}; steps: {known}")]
    UnknownStep {
        /// What was given.
        given: String,
        /// The side.
        side: &'static str,
        /// The steps of that side.
        known: String,
    },
    /// A step's preconditions are not met; nothing was done.
    #[error("{step}: cannot start: {message}")]
    Precondition {
        /// The step.
        step: StepId,
        /// What is missing.
        message: String,
        /// What to do.
        hint: String,
    },
    /// A step failed.
    #[error("{step} failed: {message}")]
    StepFailed {
        /// The step.
        step: StepId,
        /// Check or error.
        kind: FailureKind,
        /// What went wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The async runtime could not run a blocking task.
    #[error("internal error: {0}")]
    Internal(String),
}

fn loc(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl MigrateError {
    /// The hint for a person, when the error has one.
    pub fn hint(&self) -> Option<&str> {
        match self {
            MigrateError::Precondition { hint, .. } | MigrateError::StepFailed { hint, .. } => Some(hint),
            MigrateError::JournalExists { .. } => Some(
                "continue it with `migrate --resume`, rerun from a step with `--from-step=NAME`, or see where it stands with `src-snapshot runbook`",
            ),
            _ => None,
        }
    }

    /// Whether a check failed (exit 1) rather than something not running (exit 2).
    pub fn is_check_failure(&self) -> bool {
        matches!(
            self,
            MigrateError::StepFailed {
                kind: FailureKind::Check,
                ..
            }
        )
    }
}
