//! Errors of this crate. Messages name the endpoint and the operation, never
//! the access token or extra header values.

use std::path::PathBuf;

/// An error talking to Sourcegraph or reading a summary file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// `SRC_ENDPOINT` is unset and no endpoint was given.
    #[error("SRC_ENDPOINT is not set: set it to the instance's URL (e.g. https://sourcegraph.example.com) or pass -endpoint")]
    MissingEndpoint,
    /// The endpoint is not an http(s) URL.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it is refused.
        reason: String,
    },
    /// `SRC_ACCESS_TOKEN` is unset and no token file was given.
    #[error("SRC_ACCESS_TOKEN is not set: create a site admin's access token (user settings > Access tokens) and export it, or pass -token-file")]
    MissingToken,
    /// The token file could not be read or is empty.
    #[error("cannot read the token file {path}: {reason}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A token or header value that cannot be sent as an HTTP header.
    #[error("{what} is not a valid HTTP header value (control characters or non-ASCII)")]
    InvalidHeader {
        /// Which value ("the access token", "SRC_HEADER_X").
        what: String,
    },
    /// HTTP 401: the server does not accept the token.
    #[error("{endpoint} rejected the access token (HTTP 401): the token is not valid (expired, revoked or for another instance)")]
    Unauthorized {
        /// The endpoint.
        endpoint: String,
    },
    /// HTTP 403 or a GraphQL "must be site admin" error.
    #[error("{endpoint} refused {operation}: the token is not a site admin's")]
    NotSiteAdmin {
        /// The endpoint.
        endpoint: String,
        /// The operation.
        operation: String,
    },
    /// Any other unsuccessful HTTP status (after retries for 5xx, 408, 429).
    #[error("{endpoint} answered {operation} with HTTP {status}: {body}")]
    Http {
        /// The endpoint.
        endpoint: String,
        /// The operation.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body (token-free).
        body: String,
    },
    /// The request could not be sent or the answer not received (after retries).
    #[error("cannot reach {endpoint} ({operation}, {attempts} attempts): {message}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// The operation.
        operation: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        message: String,
        /// Whether the last failure was a timeout.
        timeout: bool,
    },
    /// The server answered with GraphQL errors.
    #[error("{operation} failed: {}", messages.join("; "))]
    GraphQl {
        /// The operation.
        operation: String,
        /// Each error message, in order.
        messages: Vec<String>,
    },
    /// The server does not know a field or argument the operation uses: it is
    /// older (or newer) than the schema the operation was written against.
    #[error("{operation} is not supported by this Sourcegraph version: {message}")]
    Unsupported {
        /// The operation.
        operation: String,
        /// The server's message (e.g. `Cannot query field "syncJobs" on type "ExternalService".`).
        message: String,
    },
    /// The answer was not the JSON the operation expects.
    #[error("unexpected answer to {operation}: {message}")]
    Decode {
        /// The operation.
        operation: String,
        /// What was wrong.
        message: String,
    },
    /// Global settings come from a file (`GLOBAL_SETTINGS_FILE`), so the API
    /// cannot edit them.
    #[error("global settings cannot be edited over the API on this instance (allowSiteSettingsEdits is false: they are read from a file)")]
    SettingsEditsDisabled,
    /// Someone else kept editing global settings between our read and write.
    #[error("global settings changed while editing them ({attempts} attempts); nothing was written by the last attempt")]
    SettingsRace {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The global settings text is not JSONC this crate can parse.
    #[error("global settings are not valid JSONC: {0}")]
    Settings(#[from] crate::jsonc::JsoncError),
    /// A summary file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadSummary {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A summary file is not a summary (src-cli's or ours).
    #[error("{path} is not a summary.json: {message}")]
    ParseSummary {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

impl ApiError {
    /// Whether the error says the server lacks a field this crate asked for
    /// (callers degrade by skipping that part).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, ApiError::Unsupported { .. })
    }

    /// Whether the error says the token lacks site-admin rights or is invalid.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ApiError::Unauthorized { .. } | ApiError::NotSiteAdmin { .. }
        )
    }
}
