//! Errors of the dump-script engine. Each names the line it was found on;
//! callers add the file name.

/// Why a script could not be read as a plain pg_dump script.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LexError {
    /// Reading the input failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// Input ended inside a quote, comment or statement.
    #[error("line {line}: input ends inside a {what}; the dump is truncated")]
    Unterminated {
        /// What was left open.
        what: &'static str,
        /// Line where the input ended.
        line: u64,
    },
    /// Input ended inside the data of a COPY block (no `\.` line).
    #[error("line {line}: the COPY block of {table} has no end marker (\\.); the dump is truncated")]
    UnterminatedCopy {
        /// Table of the COPY block.
        table: String,
        /// Line of the COPY statement.
        line: u64,
    },
    /// A psql meta-command (backslash) inside an SQL statement.
    #[error("line {line}: a psql meta-command (backslash) inside an SQL statement")]
    MetaInStatement {
        /// Line of the backslash.
        line: u64,
    },
    /// Text after `COPY … FROM stdin;` on the same line.
    #[error("line {line}: unexpected text after COPY … FROM stdin;")]
    TextAfterCopy {
        /// Line of the COPY statement.
        line: u64,
    },
    /// The COPY statement names no table.
    #[error("line {line}: cannot read the table name of this COPY statement")]
    BadCopyHeader {
        /// Line of the COPY statement.
        line: u64,
    },
    /// A name or keyword is not valid UTF-8.
    #[error("line {line}: a name in this statement is not valid UTF-8")]
    InvalidUtf8 {
        /// Line of the statement.
        line: u64,
    },
    /// One statement is larger than the engine accepts.
    #[error("line {line}: a single statement is larger than 1 GiB; this is not a pg_dump script")]
    StatementTooLarge {
        /// Line where the statement starts.
        line: u64,
    },
}

/// Why a dump could not be scanned, sanitized or fingerprinted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The script could not be lexed.
    #[error(transparent)]
    Lex(#[from] LexError),
    /// Writing the output failed.
    #[error("write error: {0}")]
    Write(#[source] std::io::Error),
    /// The input is a pg_dump custom-format archive, not a plain script.
    #[error("this is a pg_dump custom-format archive (starts with PGDMP), not a plain SQL script")]
    CustomFormat,
    /// The input does not start like a plain pg_dump script.
    #[error("line {line}: not a plain pg_dump script: {detail}")]
    NotAPgDump {
        /// Line where the check failed.
        line: u64,
        /// What was found instead.
        detail: String,
    },
    /// The input lacks pg_dump's closing comment, so it was cut short.
    #[error("the dump ends at line {line} without pg_dump's closing line '-- PostgreSQL database dump complete'; it is truncated")]
    MissingTrailer {
        /// Last line.
        line: u64,
    },
    /// `\restrict` was never matched by `\unrestrict`.
    #[error("line {line}: \\restrict is never matched by \\unrestrict; the dump is truncated")]
    UnmatchedRestrict {
        /// Line of `\restrict`.
        line: u64,
    },
    /// The sanitizer was told to reject a statement.
    #[error("line {line}: {reason}: {statement}")]
    Rejected {
        /// Line of the statement.
        line: u64,
        /// The statement's first 200 characters.
        statement: String,
        /// Why.
        reason: String,
    },
}

impl ScanError {
    /// The line the problem was found on, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            ScanError::Lex(e) => match e {
                LexError::Io(_) => None,
                LexError::Unterminated { line, .. }
                | LexError::UnterminatedCopy { line, .. }
                | LexError::MetaInStatement { line }
                | LexError::TextAfterCopy { line }
                | LexError::BadCopyHeader { line }
                | LexError::InvalidUtf8 { line }
                | LexError::StatementTooLarge { line } => Some(*line),
            },
            ScanError::NotAPgDump { line, .. }
            | ScanError::MissingTrailer { line }
            | ScanError::UnmatchedRestrict { line }
            | ScanError::Rejected { line, .. } => Some(*line),
            ScanError::Write(_) | ScanError::CustomFormat => None,
        }
    }

    /// True when the input looks cut short (as opposed to malformed).
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            ScanError::MissingTrailer { .. }
                | ScanError::UnmatchedRestrict { .. }
                | ScanError::Lex(LexError::Unterminated { .. } | LexError::UnterminatedCopy { .. })
        )
    }
}
