//! Scrubbing secrets from text that may reach errors or logs.
//!
//! Server bodies and transport errors can echo URLs (with `upload_id=`),
//! bearer tokens or assertion JWTs; everything taken from outside passes
//! through [`redact`] before it is stored in a [`crate::BucketError`].

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Query parameters and fields whose values are capabilities or credentials.
const SECRET_KEYS: &[&str] = &[
    "upload_id=",
    "upload_id\":\"",
    "access_token=",
    "access_token\":\"",
    "assertion=",
    "id_token\":\"",
    "Bearer ",
    "bearer ",
];

/// Longest server message kept in an error.
const MAX_MESSAGE: usize = 500;

/// Returns `text` with every value in `secrets` (non-empty ones), every
/// `upload_id=…`, token or assertion value replaced by `<redacted>`, and the
/// result cut to a readable length.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Very short strings would blank out ordinary words.
        if s.len() >= 8 {
            out = out.replace(s, REDACTED);
        }
    }
    for key in SECRET_KEYS {
        out = redact_after(&out, key);
    }
    if out.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Replaces the value that follows each occurrence of `key` (up to a delimiter).
fn redact_after(text: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        let (head, tail) = rest.split_at(i + key.len());
        out.push_str(head);
        if let Some(t) = tail.strip_prefix(REDACTED) {
            out.push_str(REDACTED);
            rest = t;
            continue;
        }
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '&' | '"' | '\'' | ',' | ')' | '>' | ';'))
            .unwrap_or(tail.len());
        if end > 0 {
            out.push_str(REDACTED);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_tokens_and_given_secrets_are_replaced() {
        let uri = "https://storage.googleapis.com/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=ABCdef123_-xyz";
        let msg = format!("error sending request for url ({uri}): Bearer ya29.secret-token and {{\"access_token\":\"ya29.zzz\"}}");
        let r = redact(&msg, &["ya29.secret-token"]);
        assert!(!r.contains("ABCdef123"), "{r}");
        assert!(!r.contains("ya29."), "{r}");
        assert!(r.contains("upload_id=<redacted>"), "{r}");
        assert!(r.contains("Bearer <redacted>"), "{r}");
        let whole = redact(&format!("at {uri} now"), &[uri]);
        assert_eq!(whole, "at <redacted> now");
    }

    #[test]
    fn plain_text_is_kept_and_long_text_cut() {
        assert_eq!(redact("No such object: b/o", &[]), "No such object: b/o");
        let long = "é".repeat(600);
        let r = redact(&long, &[]);
        assert!(r.len() <= MAX_MESSAGE + 3 && r.ends_with('…'));
        assert_eq!(redact("upload_id=", &[]), "upload_id=");
        assert_eq!(
            redact("x upload_id=<redacted> y", &[]),
            "x upload_id=<redacted> y"
        );
    }
}
