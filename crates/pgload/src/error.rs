//! Errors talking to Postgres. Messages name the server, database and user,
//! never the password.

/// What kind of failure a connection attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing listens there, or the network failed.
    Unreachable,
    /// The server refused the user or password.
    Authentication,
    /// The database does not exist.
    NoSuchDatabase,
    /// Anything else.
    Other,
}

/// An error from this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection URL is unusable.
    #[error("invalid connection URL: {0}")]
    BadUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {target} as {user}: {message}")]
    Connect {
        /// host:port/database
        target: String,
        /// The user.
        user: String,
        /// Why, as the server or network said.
        message: String,
        /// What kind of failure.
        kind: ConnectFailure,
    },
    /// Work was refused before it was committed (e.g. data that does not match).
    #[error("{what}: {message}")]
    Rejected {
        /// What was being done.
        what: String,
        /// Why.
        message: String,
    },
    /// A statement failed.
    #[error("{what}: {message}")]
    Query {
        /// What was being done.
        what: String,
        /// The server's message (with detail and hint when given).
        message: String,
        /// SQLSTATE, when the server sent one.
        code: Option<String>,
    },
}

impl PgError {
    /// The SQLSTATE of a failed statement.
    pub fn code(&self) -> Option<&str> {
        match self {
            PgError::Query { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The server's (or the check's) message without the "what".
    pub fn message(&self) -> String {
        match self {
            PgError::Query { message, .. } | PgError::Rejected { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// Worth retrying as is: a deadlock or serialization failure between
    /// parallel statements.
    pub fn is_transient(&self) -> bool {
        matches!(self.code(), Some("40P01" | "40001" | "55P03"))
    }

    /// A failed statement, with what was being done.
    pub fn query(what: impl Into<String>, e: tokio_postgres::Error) -> PgError {
        PgError::Query {
            what: what.into(),
            message: describe(&e),
            code: e.code().map(|c| c.code().to_string()),
        }
    }
}

/// The server's message with its detail and hint, or the client error.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" (detail: {d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (hint: {h})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}
