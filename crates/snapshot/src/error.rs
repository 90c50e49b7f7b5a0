//! Errors of snapshot operations; each names the file, database or table.

use std::path::PathBuf;

/// An error from this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A dump file is not a usable pg_dump script.
    #[error("{}: {error}", path.display())]
    Scan {
        /// The file (or the dump being written).
        path: PathBuf,
        /// The line, when known.
        line: Option<u64>,
        /// Why (its message names the line).
        error: dumpscript::ScanError,
    },
    /// pg_dump or psql failed.
    #[error(transparent)]
    Dump(#[from] pgdump::DumpError),
    /// The targets could not be used.
    #[error(transparent)]
    Targets(#[from] pgdump::TargetsError),
    /// A database operation failed.
    #[error(transparent)]
    Pg(#[from] pgload::PgError),
    /// The manifest is unreadable.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Output and input are the same file.
    #[error("{}: refusing to overwrite the input; write the sanitized dump to a new file", path.display())]
    SameFile {
        /// The file.
        path: PathBuf,
    },
    /// A table named in the manifest is missing from the database.
    #[error("table {table} is not in database {db}")]
    MissingTable {
        /// Database.
        db: String,
        /// Table.
        table: String,
    },
    /// The upload state file could not be written (e.g. the disk is full).
    #[error("{}: cannot save the upload state: {source}", path.display())]
    StateFile {
        /// The state file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A bucket operation failed.
    #[error("{object}: {source}")]
    Bucket {
        /// The object.
        object: String,
        /// Why.
        #[source]
        source: bucket::BucketError,
    },
    /// A dump changed since the snapshot was taken.
    #[error("{}: changed since the snapshot was taken ({detail}); run `src-snapshot databases … --run` again to retake it", path.display())]
    ChangedFile {
        /// The file.
        path: PathBuf,
        /// What differs.
        detail: String,
    },
    /// A streamed object must be started again.
    #[error("{object}: {reason}")]
    Interrupted {
        /// The object.
        object: String,
        /// Why.
        reason: String,
    },
    /// A statement of a dump failed on the target.
    #[error("{0}")]
    Sql(Box<SqlFailure>),
    /// The target database holds data that is not an interrupted import of this snapshot.
    #[error("database {db} on the target {detail}")]
    TargetNotEmpty {
        /// Database.
        db: String,
        /// What it holds.
        detail: String,
    },
    /// What was read does not match the manifest.
    #[error("{object}: does not match the manifest: {detail}")]
    Mismatch {
        /// The file or object.
        object: String,
        /// What differs.
        detail: String,
    },
    /// A background task died.
    #[error("internal error: a task failed: {0}")]
    Task(String),
    /// Several dumps failed; each error is listed.
    #[error("{} of the dumps failed:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Several(Vec<SnapshotError>),
}

impl SnapshotError {
    /// Ok when there were no errors, the error itself when one, else all of them.
    pub(crate) fn check_all(mut errors: Vec<SnapshotError>) -> Result<(), SnapshotError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(SnapshotError::Several(errors)),
        }
    }

    pub(crate) fn bucket(object: &str, source: bucket::BucketError) -> SnapshotError {
        SnapshotError::Bucket {
            object: object.to_string(),
            source,
        }
    }

    pub(crate) fn scan(path: impl Into<PathBuf>, source: dumpscript::ScanError) -> SnapshotError {
        SnapshotError::Scan {
            path: path.into(),
            line: source.line(),
            error: source,
        }
    }
}

/// Which statement of which dump failed on the target, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFailure {
    /// The dump file or object.
    pub file: String,
    /// Line of the statement.
    pub line: u64,
    /// The object pg_dump names for it, when known.
    pub object: Option<String>,
    /// The statement's first 200 characters.
    pub statement: String,
    /// The server's message.
    pub message: String,
    /// SQLSTATE, when the server sent one.
    pub code: Option<String>,
}

impl std::fmt::Display for SqlFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.file, self.line)?;
        if let Some(o) = &self.object {
            write!(f, " ({o})")?;
        }
        write!(f, ": {}\n  statement: {}", self.message, self.statement)
    }
}
