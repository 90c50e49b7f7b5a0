//! The GraphQL client: `POST {endpoint}/.api/graphql` with
//! `Authorization: token …`, as src-cli does, with timeouts and retries.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::ops::Operation;

/// An access token. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token (surrounding whitespace removed).
    pub fn new(value: impl Into<String>) -> Token {
        Token(value.into().trim().to_string())
    }

    /// Reads a token from the first line of a file.
    ///
    /// # Errors
    /// [`ApiError::TokenFile`] when the file cannot be read or is empty.
    pub fn from_file(path: &Path) -> Result<Token, ApiError> {
        let text = std::fs::read_to_string(path).map_err(|e| ApiError::TokenFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let token = Token::new(text.lines().next().unwrap_or_default());
        if token.0.is_empty() {
            return Err(ApiError::TokenFile {
                path: path.to_path_buf(),
                reason: "the file is empty".into(),
            });
        }
        Ok(token)
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to reach the instance. [`ClientOptions::from_env`] reads src-cli's
/// variables; flags then override single fields.
#[derive(Clone)]
pub struct ClientOptions {
    /// The instance URL (`SRC_ENDPOINT`), e.g. `https://sourcegraph.example.com`.
    pub endpoint: Option<String>,
    /// The access token (`SRC_ACCESS_TOKEN`).
    pub token: Option<Token>,
    /// Extra headers (`SRC_HEADER_<NAME>=value` → `name: value`, lower-cased
    /// as src-cli does). Values are never logged.
    pub headers: Vec<(String, String)>,
    /// Time limit of one request (default 60 s).
    pub timeout: Duration,
    /// Time limit of connecting (default 10 s).
    pub connect_timeout: Duration,
    /// Attempts per request for connection errors, timeouts, HTTP 5xx, 408
    /// and 429 (default 4).
    pub attempts: u32,
    /// First backoff between attempts, doubled each time (default 500 ms).
    pub backoff: Duration,
    /// Page size for paginated connections (default 100; tests use small pages).
    pub page_size: u32,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            endpoint: None,
            token: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_millis(500),
            page_size: 100,
        }
    }
}

/// The prefix of src-cli's extra-header variables.
pub const HEADER_PREFIX: &str = "SRC_HEADER_";

impl ClientOptions {
    /// Options from the process environment: `SRC_ENDPOINT`,
    /// `SRC_ACCESS_TOKEN` and every `SRC_HEADER_<NAME>`.
    pub fn from_env() -> ClientOptions {
        ClientOptions::from_vars(std::env::vars())
    }

    /// [`ClientOptions::from_env`] over given variables (for tests). Empty
    /// values count as unset, as in src-cli.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> ClientOptions {
        let mut o = ClientOptions::default();
        for (k, v) in vars {
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                "SRC_ENDPOINT" => o.endpoint = Some(v),
                "SRC_ACCESS_TOKEN" => o.token = Some(Token::new(v)),
                _ => {
                    if let Some(name) = k.strip_prefix(HEADER_PREFIX).filter(|n| !n.is_empty()) {
                        o.headers.push((name.to_ascii_lowercase(), v));
                    }
                }
            }
        }
        o.headers.sort();
        o
    }
}

/// A client for one instance's GraphQL API.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: Url,
    endpoint: String,
    token: Token,
    attempts: u32,
    backoff: Duration,
    page_size: u32,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Response {
    data: Option<Value>,
    #[serde(default)]
    errors: Vec<GqlError>,
}

#[derive(Deserialize)]
struct GqlError {
    #[serde(default)]
    message: String,
}

impl Client {
    /// A client for `opts`.
    ///
    /// # Errors
    /// [`ApiError::MissingEndpoint`], [`ApiError::InvalidEndpoint`],
    /// [`ApiError::MissingToken`], or [`ApiError::InvalidHeader`] for a token
    /// or header value that HTTP cannot carry.
    pub fn new(opts: ClientOptions) -> Result<Client, ApiError> {
        let endpoint = opts.endpoint.ok_or(ApiError::MissingEndpoint)?;
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        let url = Url::parse(&format!("{endpoint}/.api/graphql")).map_err(|e| ApiError::InvalidEndpoint {
            endpoint: endpoint.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ApiError::InvalidEndpoint {
                endpoint,
                reason: "expected an http:// or https:// URL".into(),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ApiError::InvalidEndpoint {
                endpoint: "(redacted: the URL holds credentials)".into(),
                reason: "remove the user and password from the URL; the token goes in SRC_ACCESS_TOKEN"
                    .into(),
            });
        }
        let token = opts
            .token
            .filter(|t| !t.0.is_empty())
            .ok_or(ApiError::MissingToken)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &opts.headers {
            let what = format!("{HEADER_PREFIX}{}", name.to_ascii_uppercase());
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ApiError::InvalidHeader { what: what.clone() })?;
            let mut v = HeaderValue::from_str(value).map_err(|_| ApiError::InvalidHeader { what })?;
            v.set_sensitive(true);
            headers.insert(n, v);
        }
        let mut auth = HeaderValue::from_str(&format!("token {}", token.expose())).map_err(|_| {
            ApiError::InvalidHeader {
                what: "the access token".into(),
            }
        })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .user_agent(concat!("src-snapshot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::InvalidEndpoint {
                endpoint: endpoint.clone(),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Client {
            http,
            url,
            endpoint,
            token,
            attempts: opts.attempts.max(1),
            backoff: opts.backoff,
            page_size: opts.page_size.clamp(1, 1000),
        })
    }

    /// The endpoint, without the trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The page size used for paginated connections.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// Sends `op` with `variables` and decodes `data` into `T`.
    ///
    /// Connection failures, timeouts, HTTP 5xx, 408 and 429 are retried with
    /// exponential backoff (`Retry-After` honoured up to 30 s). Mutations are
    /// retried too: every mutation here carries `lastID`, so a repeat of one
    /// that did land fails instead of applying twice.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`] (401), [`ApiError::NotSiteAdmin`] (403 or a
    /// site-admin GraphQL error), [`ApiError::Unsupported`] (unknown field or
    /// argument: an older server), [`ApiError::GraphQl`], [`ApiError::Http`],
    /// [`ApiError::Transport`] or [`ApiError::Decode`].
    pub async fn execute<T: DeserializeOwned>(
        &self,
        op: &Operation,
        variables: Value,
    ) -> Result<T, ApiError> {
        let body = serde_json::json!({
            "query": op.query,
            "variables": variables,
            "operationName": op.name,
        });
        let mut attempt = 0;
        loop {
            attempt += 1;
            tracing::debug!(operation = op.name, attempt, endpoint = %self.endpoint, "graphql request");
            let retry_after;
            let failure = match self.http.post(self.url.clone()).json(&body).send().await {
                Err(e) => {
                    let timeout = e.is_timeout();
                    let message = self.scrub(&error_chain(&e));
                    if attempt >= self.attempts {
                        return Err(ApiError::Transport {
                            endpoint: self.endpoint.clone(),
                            operation: op.name.to_string(),
                            attempts: attempt,
                            message,
                            timeout,
                        });
                    }
                    retry_after = None;
                    message
                }
                Ok(resp) => {
                    let status = resp.status();
                    retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)));
                    let text = match resp.text().await {
                        Ok(t) => t,
                        Err(e) if attempt < self.attempts => {
                            tracing::debug!(
                                operation = op.name,
                                "reading the answer failed: {}",
                                self.scrub(&e.to_string())
                            );
                            self.sleep(attempt, None).await;
                            continue;
                        }
                        Err(e) => {
                            return Err(ApiError::Transport {
                                endpoint: self.endpoint.clone(),
                                operation: op.name.to_string(),
                                attempts: attempt,
                                message: self.scrub(&error_chain(&e)),
                                timeout: e.is_timeout(),
                            })
                        }
                    };
                    if status.is_success() {
                        return self.decode(op, &text);
                    }
                    match status {
                        StatusCode::UNAUTHORIZED => {
                            return Err(ApiError::Unauthorized {
                                endpoint: self.endpoint.clone(),
                            })
                        }
                        StatusCode::FORBIDDEN => {
                            return Err(ApiError::NotSiteAdmin {
                                endpoint: self.endpoint.clone(),
                                operation: op.name.to_string(),
                            })
                        }
                        s if retryable(s) && attempt < self.attempts => format!("HTTP {}", s.as_u16()),
                        s => {
                            return Err(ApiError::Http {
                                endpoint: self.endpoint.clone(),
                                operation: op.name.to_string(),
                                status: s.as_u16(),
                                body: self.scrub(&excerpt(&text)),
                            })
                        }
                    }
                }
            };
            tracing::info!(operation = op.name, attempt, "retrying after: {failure}");
            self.sleep(attempt, retry_after).await;
        }
    }

    fn decode<T: DeserializeOwned>(&self, op: &Operation, text: &str) -> Result<T, ApiError> {
        let resp: Response = serde_json::from_str(text).map_err(|e| ApiError::Decode {
            operation: op.name.to_string(),
            message: format!("not a GraphQL answer ({e}): {}", self.scrub(&excerpt(text))),
        })?;
        if !resp.errors.is_empty() {
            let messages: Vec<String> = resp.errors.iter().map(|e| self.scrub(&e.message)).collect();
            if let Some(m) = messages.iter().find(|m| is_unsupported_message(m)) {
                return Err(ApiError::Unsupported {
                    operation: op.name.to_string(),
                    message: m.clone(),
                });
            }
            if messages.iter().any(|m| is_admin_message(m)) {
                return Err(ApiError::NotSiteAdmin {
                    endpoint: self.endpoint.clone(),
                    operation: op.name.to_string(),
                });
            }
            return Err(ApiError::GraphQl {
                operation: op.name.to_string(),
                messages,
            });
        }
        let data = resp
            .data
            .filter(|d| !d.is_null())
            .ok_or_else(|| ApiError::Decode {
                operation: op.name.to_string(),
                message: "the answer has no data".into(),
            })?;
        serde_json::from_value(data).map_err(|e| ApiError::Decode {
            operation: op.name.to_string(),
            message: e.to_string(),
        })
    }

    /// Backoff: `backoff * 2^(attempt-1)`, at most 10 s, with jitter; or the
    /// server's `Retry-After`.
    async fn sleep(&self, attempt: u32, retry_after: Option<Duration>) {
        let base = self
            .backoff
            .saturating_mul(1 << (attempt - 1).min(8))
            .min(Duration::from_secs(10));
        let jitter = {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            base.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
        };
        tokio::time::sleep(retry_after.unwrap_or(jitter)).await;
    }

    /// Removes the token from text that came from elsewhere (a server could
    /// echo a header back).
    fn scrub(&self, text: &str) -> String {
        let t = self.token.expose();
        if t.len() >= 4 && text.contains(t) {
            text.replace(t, "***")
        } else {
            text.to_string()
        }
    }
}

fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT || s == StatusCode::TOO_MANY_REQUESTS
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// GraphQL validation messages that mean "this server's schema lacks it".
fn is_unsupported_message(m: &str) -> bool {
    m.starts_with("Cannot query field")
        || m.starts_with("Unknown argument")
        || m.starts_with("Unknown type")
        || m.contains("has no field")
}

fn is_admin_message(m: &str) -> bool {
    let l = m.to_ascii_lowercase();
    l.contains("must be site admin")
        || l.contains("must be authenticated as an admin")
        || l.contains("not a site admin")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn options_from_src_cli_variables() {
        let o = ClientOptions::from_vars(vars(&[
            ("SRC_ENDPOINT", "https://sg.example.com/"),
            ("SRC_ACCESS_TOKEN", "sgp_secret"),
            ("SRC_HEADER_X_PROXY_AUTH", "abc"),
            ("SRC_HEADER_", "ignored"),
            ("SRC_HEADER_EMPTY", ""),
            ("OTHER", "x"),
        ]));
        assert_eq!(o.endpoint.as_deref(), Some("https://sg.example.com/"));
        assert_eq!(o.headers, vec![("x_proxy_auth".to_string(), "abc".to_string())]);
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("sgp_secret") && !dbg.contains("abc"), "{dbg}");
        let c = Client::new(o).expect("client");
        assert_eq!(c.endpoint(), "https://sg.example.com");
        assert!(!format!("{c:?}").contains("sgp_secret"));
    }

    #[test]
    fn missing_or_bad_settings_are_clear_errors() {
        let e = Client::new(ClientOptions::from_vars(vars(&[("SRC_ACCESS_TOKEN", "t")])))
            .expect_err("no endpoint");
        assert!(matches!(e, ApiError::MissingEndpoint));
        assert!(e.to_string().contains("SRC_ENDPOINT"));
        let e = Client::new(ClientOptions::from_vars(vars(&[("SRC_ENDPOINT", "http://x")])))
            .expect_err("no token");
        assert!(e.to_string().contains("SRC_ACCESS_TOKEN"));
        let e = Client::new(ClientOptions::from_vars(vars(&[
            ("SRC_ENDPOINT", "ftp://x"),
            ("SRC_ACCESS_TOKEN", "t"),
        ])))
        .expect_err("scheme");
        assert!(matches!(e, ApiError::InvalidEndpoint { .. }));
        let e = Client::new(ClientOptions::from_vars(vars(&[
            ("SRC_ENDPOINT", "https://u:pw@x"),
            ("SRC_ACCESS_TOKEN", "t"),
        ])))
        .expect_err("credentials");
        assert!(!e.to_string().contains("pw"), "{e}");
        let e = Client::new(ClientOptions::from_vars(vars(&[
            ("SRC_ENDPOINT", "http://x"),
            ("SRC_ACCESS_TOKEN", "secret\u{7}token"),
        ])))
        .expect_err("control char");
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn token_file_first_line() {
        let dir = std::env::temp_dir().join(format!("sgapi-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("t");
        std::fs::write(&f, "  abc123 \nignored\n").expect("write");
        assert_eq!(Token::from_file(&f).expect("token"), Token::new("abc123"));
        std::fs::write(&f, "\n").expect("write");
        assert!(Token::from_file(&f).is_err());
        assert!(Token::from_file(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn classifies_server_messages() {
        assert!(is_unsupported_message(
            "Cannot query field \"syncJobs\" on type \"ExternalService\"."
        ));
        assert!(is_unsupported_message(
            "Unknown argument \"after\" on field \"externalServices\" of type \"Query\"."
        ));
        assert!(is_admin_message("must be site admin"));
        assert!(!is_unsupported_message("version mismatch"));
    }
}
