//! Errors of bucket operations. Each names the object or bucket; none holds an
//! access token, a private key or a resumable-session URI (the upload id in it
//! is a capability): messages taken from servers or transports go through
//! [`crate::redact`] first.

use std::path::PathBuf;

/// An error from a bucket operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// The bucket location string cannot be used.
    #[error("bad bucket location {input:?}: {message}")]
    BadLocation {
        /// What was given.
        input: String,
        /// Why it is refused, with the accepted forms.
        message: String,
    },
    /// An object name cannot be used (empty, `..`, control characters, reserved).
    #[error("bad object name {name:?}: {message}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        message: String,
    },
    /// The credentials file cannot be used (never echoes the key).
    #[error("credentials file {}: {message} (hint: {hint})", path.display())]
    Credentials {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The server or the token endpoint refused the credentials (HTTP 401, or a failed token exchange).
    #[error("authentication failed (HTTP {status}): {message} (hint: {hint})")]
    Auth {
        /// HTTP status (0 when no response was received).
        status: u16,
        /// The server's explanation, redacted.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The credentials lack a permission (HTTP 403).
    #[error("permission denied on {object} in bucket {bucket} (hint: {hint})")]
    PermissionDenied {
        /// Bucket name.
        bucket: String,
        /// Object (or "(bucket)" for bucket-level calls).
        object: String,
        /// Which role the service account needs.
        hint: String,
    },
    /// The bucket (or the local root folder) does not exist.
    #[error("bucket {bucket} does not exist (hint: create it first, or check the name)")]
    NoSuchBucket {
        /// Bucket name or root folder.
        bucket: String,
    },
    /// The object exists and overwriting was not allowed (HTTP 412 on ifGenerationMatch=0).
    #[error("{object} already exists (hint: pass --overwrite to replace it)")]
    AlreadyExists {
        /// The object.
        object: String,
    },
    /// The object does not exist.
    #[error("{object} does not exist")]
    NotFound {
        /// The object.
        object: String,
    },
    /// The resumable session is gone (HTTP 404/410, or the partial file vanished): start a new upload.
    #[error("the upload session for {object} expired or was cancelled; start the upload again")]
    SessionExpired {
        /// The object being uploaded.
        object: String,
    },
    /// A saved upload session cannot be used with this store (wrong backend, corrupt handle).
    #[error("the saved upload session for {object} cannot be used: {message}")]
    InvalidSession {
        /// The object being uploaded.
        object: String,
        /// Why.
        message: String,
    },
    /// The stored bytes' CRC32C differs from what the caller declared.
    #[error("{object}: crc32c mismatch: expected {expected}, the bucket has {actual}")]
    ChecksumMismatch {
        /// The object.
        object: String,
        /// Declared CRC32C (base64, GCS form).
        expected: String,
        /// Stored CRC32C (base64), or why it is unknown.
        actual: String,
    },
    /// The stored size differs from what the caller declared.
    #[error("{object}: size mismatch: expected {expected} bytes, the bucket has {actual}")]
    SizeMismatch {
        /// The object.
        object: String,
        /// Declared size.
        expected: u64,
        /// Stored size.
        actual: u64,
    },
    /// A chunk breaks the resumable-upload rules (caller bug).
    #[error("{object}: bad chunk at offset {offset} ({len} bytes): {message}")]
    ChunkAlignment {
        /// The object.
        object: String,
        /// Chunk offset.
        offset: u64,
        /// Chunk length.
        len: u64,
        /// The rule that was broken.
        message: String,
    },
    /// The server answered with an unexpected HTTP status (after retries when it was retryable).
    #[error("{object}: HTTP {status} after {attempts} attempt(s): {message}")]
    Http {
        /// Last HTTP status.
        status: u16,
        /// The object (or bucket).
        object: String,
        /// The server's explanation, redacted.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed (after retries).
    #[error("{object}: connection failed after {attempts} attempt(s){}: {message}", last_status_note(*last_status))]
    Transport {
        /// The object (or bucket).
        object: String,
        /// What failed, redacted.
        message: String,
        /// Attempts made.
        attempts: u32,
        /// Last HTTP status seen in an earlier attempt, if any.
        last_status: Option<u16>,
    },
    /// The object was replaced while it was being read.
    #[error("{object} changed while it was being read (generation {expected}, now {actual}); read it again")]
    Changed {
        /// The object.
        object: String,
        /// The generation the read started with.
        expected: String,
        /// The generation the server has now.
        actual: String,
    },
    /// Requests timed out (after retries).
    #[error("{object}: timed out after {attempts} attempt(s){}", last_status_note(*last_status))]
    Timeout {
        /// The object (or bucket).
        object: String,
        /// Attempts made.
        attempts: u32,
        /// Last HTTP status seen in an earlier attempt, if any.
        last_status: Option<u16>,
    },
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn last_status_note(s: Option<u16>) -> String {
    s.map(|s| format!(" (last HTTP status {s})")).unwrap_or_default()
}

/// HTTP statuses worth retrying: timeouts, throttling and server errors.
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

impl BucketError {
    /// Whether the same operation may succeed if tried again later (throttling,
    /// server errors, connection failures, timeouts). Everything else needs a change first.
    pub fn is_retryable(&self) -> bool {
        match self {
            BucketError::Http { status, .. } => retryable_status(*status),
            BucketError::Transport { .. } | BucketError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// The number of attempts recorded in the error, if it comes from a request.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            BucketError::Http { attempts, .. }
            | BucketError::Transport { attempts, .. }
            | BucketError::Timeout { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> BucketError {
        BucketError::Io {
            path: path.into(),
            source,
        }
    }

    /// Adds the last HTTP status seen to a transport or timeout error that lacks one.
    pub(crate) fn with_last_status(mut self, status: Option<u16>) -> BucketError {
        if let BucketError::Transport { last_status, .. } | BucketError::Timeout { last_status, .. } =
            &mut self
        {
            *last_status = last_status.or(status);
        }
        self
    }

    /// Appends a note (e.g. why retrying stopped) to errors that carry a message.
    pub(crate) fn with_note(mut self, note: &str) -> BucketError {
        match &mut self {
            BucketError::Http { message, .. } | BucketError::Transport { message, .. } => {
                message.push_str("; ");
                message.push_str(note);
            }
            _ => {}
        }
        self
    }
}
