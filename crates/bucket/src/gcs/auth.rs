//! Service-account credentials: key file → RS256 JWT → OAuth access token.
//!
//! The key and tokens never leave this module except in the `Authorization`
//! header; `Debug` output and errors omit them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::redact::redact;
use crate::retry::{parse_retry_after, RetryState};
use crate::{BucketError, RetryPolicy};

/// OAuth scope for reading and writing objects.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Refresh this long before the token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

const KEY_HINT: &str =
    "pass a service-account key JSON file (IAM > Service accounts > Keys > Add key > JSON)";

/// A parsed service-account key.
pub(crate) struct ServiceAccount {
    path: PathBuf,
    pub client_email: String,
    key_id: Option<String>,
    token_uri: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("path", &self.path)
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

fn cred_err(path: &Path, message: impl Into<String>, hint: impl Into<String>) -> BucketError {
    BucketError::Credentials {
        path: path.to_path_buf(),
        message: message.into(),
        hint: hint.into(),
    }
}

impl ServiceAccount {
    /// Reads and checks a key file. Messages name fields, never their values
    /// (except the harmless `type`).
    pub fn load(path: &Path) -> Result<ServiceAccount, BucketError> {
        let text = std::fs::read(path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                format!("check the path; {KEY_HINT}")
            } else {
                "make the file readable by this user".into()
            };
            cred_err(path, format!("cannot read it: {e}"), hint)
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &[u8]) -> Result<ServiceAccount, BucketError> {
        // Parse to a Value first: typed deserialization errors quote the offending value (the key).
        let v: Value = serde_json::from_slice(text).map_err(|e| {
            cred_err(
                path,
                format!("not JSON (line {}, column {})", e.line(), e.column()),
                format!("{KEY_HINT}; a P12 key or a gcloud user login does not work"),
            )
        })?;
        let obj = v
            .as_object()
            .ok_or_else(|| cred_err(path, "not a JSON object", KEY_HINT))?;
        let field = |name: &str| -> Result<Option<String>, BucketError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(cred_err(
                    path,
                    format!("field {name:?} is not a string"),
                    KEY_HINT,
                )),
            }
        };
        let required = |name: &str| -> Result<String, BucketError> {
            field(name)?
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| cred_err(path, format!("field {name:?} is missing"), KEY_HINT))
        };
        let kind = required("type")?;
        if kind != "service_account" {
            let shown = if kind.len() <= 40 && kind.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                kind.as_str()
            } else {
                "(unrecognized)"
            };
            return Err(cred_err(
                path,
                format!("type is {shown:?}, not \"service_account\""),
                format!("{KEY_HINT}; user credentials from `gcloud auth application-default login` are not supported"),
            ));
        }
        let client_email = required("client_email")?;
        let pem = required("private_key")?;
        let token_uri = field("token_uri")?
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(DEFAULT_TOKEN_URI.into());
        check_token_uri(&token_uri).map_err(|m| cred_err(path, m, KEY_HINT))?;
        let key = parse_private_key(&pem).map_err(|m| {
            cred_err(
                path,
                format!("field \"private_key\" is not a usable RSA key: {m}"),
                format!("{KEY_HINT}; download a fresh key"),
            )
        })?;
        Ok(ServiceAccount {
            path: path.to_path_buf(),
            client_email,
            key_id: field("private_key_id")?,
            token_uri,
            key,
        })
    }

    /// A signed JWT asserting this account, valid for an hour from `now`.
    pub fn assertion(&self, now: u64) -> Result<String, BucketError> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| {
                cred_err(
                    &self.path,
                    "signing the token request failed",
                    "download a fresh key",
                )
            })?;
        Ok(format!("{signing_input}.{}", b64(&sig)))
    }
}

/// The token endpoint must be https, except on loopback (tests, local emulators).
fn check_token_uri(uri: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|_| "field \"token_uri\" is not a URL".to_string())?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]" | "::1"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("field \"token_uri\" must be an https URL".into()),
    }
}

/// PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) → ring key pair.
/// Error messages are fixed strings: nothing from the key is echoed.
fn parse_private_key(pem: &str) -> Result<RsaKeyPair, String> {
    let pem = pem.replace("\\n", "\n");
    let (label, body) =
        pem_body(&pem).ok_or("no PEM block (-----BEGIN PRIVATE KEY----- … -----END PRIVATE KEY-----)")?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| "the PEM body is not valid base64")?;
    match label.as_str() {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("not an RSA PKCS#8 key ({e})")),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der).map_err(|e| format!("not an RSA PKCS#1 key ({e})")),
        _ => Err("the PEM block is not a private key".into()),
    }
}

/// The label and the base64 body (whitespace removed) of the first PEM block.
fn pem_body(pem: &str) -> Option<(String, String)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + 11..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body_and_end = &rest[label_end + 5..];
    let end = body_and_end.find(&format!("-----END {label}-----"))?;
    let body: String = body_and_end[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some((label, body))
}

/// A cached access token.
struct Token {
    value: String,
    refresh_at: Instant,
}

/// Fetches and caches access tokens for one service account.
pub(crate) struct Authenticator {
    pub account: ServiceAccount,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(account: ServiceAccount) -> Arc<Authenticator> {
        Arc::new(Authenticator {
            account,
            token: Mutex::new(None),
        })
    }

    /// Forgets the cached token (after a 401).
    pub async fn invalidate(&self) {
        *self.token.lock().await = None;
    }

    /// A valid access token, fetched when none is cached or it expires within 5 minutes.
    pub async fn token(
        &self,
        client: &reqwest::Client,
        policy: &RetryPolicy,
        timeout: Duration,
    ) -> Result<String, BucketError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        let (value, expires_in) = self.fetch(client, policy, timeout).await?;
        let lifetime = Duration::from_secs(expires_in);
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        *guard = Some(Token {
            value: value.clone(),
            refresh_at,
        });
        Ok(value)
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
        policy: &RetryPolicy,
        timeout: Duration,
    ) -> Result<(String, u64), BucketError> {
        let acct = &self.account;
        let label = format!("token endpoint for {}", acct.client_email);
        let mut rs = RetryState::new(policy);
        loop {
            rs.attempts += 1;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let jwt = acct.assertion(now)?;
            let body =
                format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}");
            let sent = client
                .post(&acct.token_uri)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
                .timeout(timeout)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let err = super::transport_error(&label, e, rs.attempts, &[&jwt]);
                    rs.wait(None, err).await?;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            rs.last_status = Some(status);
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    let err = super::transport_error(&label, e, rs.attempts, &[&jwt]);
                    rs.wait(None, err).await?;
                    continue;
                }
            };
            if crate::error::retryable_status(status) {
                let message = redact(&String::from_utf8_lossy(&bytes), &[&jwt]);
                let err = BucketError::Http {
                    status,
                    object: label.clone(),
                    message,
                    attempts: rs.attempts,
                };
                rs.wait(retry_after, err).await?;
                continue;
            }
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if !(200..300).contains(&status) {
                let what = [v.get("error"), v.get("error_description")]
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(": ");
                let message = redact(
                    if what.is_empty() {
                        "the token request was refused"
                    } else {
                        &what
                    },
                    &[&jwt],
                );
                return Err(BucketError::Auth {
                    status,
                    message,
                    hint: format!(
                        "the key for {} may be deleted or disabled, or this machine's clock is off; download a new key",
                        acct.client_email
                    ),
                });
            }
            let token = v
                .get("access_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty());
            let Some(token) = token else {
                return Err(BucketError::Auth {
                    status,
                    message: "the token endpoint's reply has no access_token".into(),
                    hint: "check the key's token_uri".into(),
                });
            };
            let expires_in = v
                .get("expires_in")
                .and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()));
            return Ok((token.to_string(), expires_in.unwrap_or(3600)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks() {
        let (l, b) =
            pem_body("x\n-----BEGIN PRIVATE KEY-----\nAB\nCD\n-----END PRIVATE KEY-----\n").expect("pem");
        assert_eq!((l.as_str(), b.as_str()), ("PRIVATE KEY", "ABCD"));
        assert!(pem_body("-----BEGIN PRIVATE KEY-----\nAB").is_none());
        assert!(parse_private_key("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----").is_err());
        assert!(parse_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err());
    }

    #[test]
    fn token_uri_must_be_https_unless_loopback() {
        assert!(check_token_uri("https://oauth2.googleapis.com/token").is_ok());
        assert!(check_token_uri("http://127.0.0.1:9/token").is_ok());
        assert!(check_token_uri("http://evil.example/token").is_err());
        assert!(check_token_uri("not a url").is_err());
    }
}
