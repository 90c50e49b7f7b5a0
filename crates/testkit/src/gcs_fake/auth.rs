//! The OAuth2 JWT-bearer grant as Google's token endpoint checks it: an RS256
//! JWT signed by a registered service-account key, with `iss`, `aud`, `iat`,
//! `exp` and `scope` claims. Also a fixed test key, so tests need no key
//! generation (RSA key generation in debug builds takes seconds).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::signature::{self, KeyPair as _, RsaKeyPair, UnparsedPublicKey};

/// Accepted clock skew for `iat`, and the longest lifetime Google accepts for an assertion.
const SKEW_SECS: i64 = 60;
const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

/// The claims the fake keeps from a verified assertion.
#[derive(Debug, Clone)]
pub(crate) struct Claims {
    pub(crate) iss: String,
    pub(crate) scope: String,
}

/// Decodes a PEM public key (`PUBLIC KEY` = SPKI, or `RSA PUBLIC KEY` = PKCS#1) to PKCS#1 DER,
/// the form `ring` verifies with.
pub(crate) fn parse_public_key_pem(pem: &str) -> Result<Vec<u8>, String> {
    let (label, der) = pem_decode(pem)?;
    match label.as_str() {
        "RSA PUBLIC KEY" => Ok(der),
        "PUBLIC KEY" => spki_to_pkcs1(&der),
        other => Err(format!(
            "expected a PUBLIC KEY or RSA PUBLIC KEY PEM block, got {other:?}"
        )),
    }
}

fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), String> {
    let mut label = None;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_string());
        } else if line.starts_with("-----END ") {
            break;
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    let label = label.ok_or("no PEM BEGIN line")?;
    let der = STANDARD
        .decode(body)
        .map_err(|e| format!("PEM body is not base64: {e}"))?;
    Ok((label, der))
}

/// One DER TLV: (tag, content, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// SubjectPublicKeyInfo { AlgorithmIdentifier{rsaEncryption}, BIT STRING(RSAPublicKey) } -> RSAPublicKey.
fn spki_to_pkcs1(der: &[u8]) -> Result<Vec<u8>, String> {
    const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let bad = || "malformed SubjectPublicKeyInfo".to_string();
    let (tag, spki, _) = der_tlv(der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, alg, rest) = der_tlv(spki).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, oid, _) = der_tlv(alg).ok_or_else(bad)?;
    if tag != 0x06 || oid != RSA_ENCRYPTION_OID {
        return Err("public key is not an RSA key".into());
    }
    let (tag, bits, _) = der_tlv(rest).ok_or_else(bad)?;
    match bits.split_first() {
        Some((0, key)) if tag == 0x03 => Ok(key.to_vec()),
        _ => Err(bad()),
    }
}

/// Verifies a JWT-bearer assertion. `keys` maps client_email to a PKCS#1 DER public key.
/// Errors are the `error_description` Google would give (approximately).
pub(crate) fn verify_assertion(
    jwt: &str,
    key_for: impl Fn(&str) -> Option<Vec<u8>>,
    audience: &str,
    now_secs: i64,
) -> Result<Claims, String> {
    let mut parts = jwt.split('.');
    let (Some(h64), Some(c64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid JWT: not three dot-separated parts".into());
    };
    let json = |part: &str, what: &str| -> Result<serde_json::Value, String> {
        let raw = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| format!("Invalid JWT: {what} is not unpadded base64url: {e}"))?;
        serde_json::from_slice(&raw).map_err(|e| format!("Invalid JWT: {what} is not JSON: {e}"))
    };
    let header = json(h64, "header")?;
    if header.get("alg").and_then(|v| v.as_str()) != Some("RS256") {
        return Err("Invalid JWT: alg must be RS256".into());
    }
    let claims = json(c64, "claims")?;
    let str_claim = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let int_claim = |name: &str| claims.get(name).and_then(|v| v.as_i64());

    let iss = str_claim("iss").ok_or("Invalid JWT: missing iss")?;
    let key = key_for(&iss).ok_or("Invalid grant: account not found")?;
    let sig = URL_SAFE_NO_PAD
        .decode(s64)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;
    let signed = &jwt[..h64.len() + 1 + c64.len()];
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;

    if str_claim("aud").as_deref() != Some(audience) {
        return Err(format!("Invalid JWT: aud must be {audience}"));
    }
    let iat = int_claim("iat").ok_or("Invalid JWT: missing iat")?;
    let exp = int_claim("exp").ok_or("Invalid JWT: missing exp")?;
    if iat > now_secs + SKEW_SECS || exp <= now_secs || exp <= iat || exp - iat > MAX_ASSERTION_LIFETIME_SECS
    {
        return Err(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                    timeframe. Check your iat and exp values in the JWT claim."
                .into(),
        );
    }
    let scope = str_claim("scope").ok_or("Invalid JWT: missing scope")?;
    Ok(Claims { iss, scope })
}

/// Whether an access token's scope allows reading / writing Cloud Storage.
pub(crate) fn scope_allows(scope: &str, write: bool) -> bool {
    scope.split_whitespace().any(|s| match s {
        "https://www.googleapis.com/auth/cloud-platform"
        | "https://www.googleapis.com/auth/devstorage.full_control"
        | "https://www.googleapis.com/auth/devstorage.read_write" => true,
        "https://www.googleapis.com/auth/cloud-platform.read-only"
        | "https://www.googleapis.com/auth/devstorage.read_only" => !write,
        _ => false,
    })
}

// A 2048-bit RSA key generated for this fake with `openssl genpkey`. It is
// published here on purpose and guards nothing: never use it outside tests.
const TEST_KEY_PKCS8_B64: &str = concat!(
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCsdmvWPBMhJ7zFs8Sa26PrvR9OZ2MOdhqporNJyGJxlTJF",
    "3ANS0/S65PBjwyf+B1jLKTFBN/BJG1u6yN2pjKSNyPsSlxBE0p1UGukfSJ4SFOs82eQHjIMXaV5gJp307PRPnTzb9Z//EJCE",
    "lMYHafpjw4sqTXujCfdrUnP+yOF0tMpLo8pWjp6nOHEacMIod0XH+hR9qEuDyU2mQuXtAIuOgYo34s+MgZDGFC+QESBjguaX",
    "5yExO1ku6+2oVVoi9r711Au0Oggt7Z/98qjfnNYV2LluZ0Ht9tmyiBXuRlxRUFlx/llvfTjYJqLZvRX4JPQkqWA9E0onTwlE",
    "JS4mWxIFAgMBAAECggEABbMBI8qG8E7NnnPvIJX3EAyHKxJgE+ODxIzXo23PkQTW7TeU1YkjGoUDy6wwl2S7QrV5Bvh4BJZ2",
    "nNDUAG0hJ/1XDLl4xGl4YQXlo87EyICv+GoT7sruLxkgkQldqXEmLrZZw0QV9jogKH15INgX+fGFmQ+H8S6cYkvOgQI27yIX",
    "Vv8iBTWi94+FrK19hchR0mPzaEzzRBItIBcWLBKM57idSpOZ72OpDrBmMDdoo+Hh+aoasKytTOmZpa0BCXxcO5z28WLXdUNF",
    "rkYSIqG0dYMDrdvxuDPWatb1sOc+KpYBg6mnSDW+mop66gDxzQeB4+XJzFUTOv7UGswR4nyDOQKBgQDvTdDEQUSAMCqMBTLI",
    "btcU63T9XyJX42mYOf8t/BDjztpjKK7MPBeByIClCR2NhL+8Z9supXOf1RLZpkFbe5Yw6emTFGfHlm7ZemRSrEVtCG3UCko0",
    "vqrfwir8DVKH/wNCogM/fjkyjwUfM1OhKkjijNzzWd5H+lAWO+5ARImMDQKBgQC4fsIl7Z0Txhq4wzBq33/KabYyx11ezie3",
    "SF1WdpkxGVZ6GsUyCQmUufgHZVctaraIqBLC6A3SZkz4UNfVV7/cRWYThL+fw1nnC0iMUGEfNV+k5XGHRaFsbY5b4djIMj9d",
    "mLrz5Z6XOpyKTQl34WpdujveUcWuvrv5m2q15+sH2QKBgHIw9sL/xhlJYrQoMuB0C8xewxe40uGPki7i1gLyenjKl2mj2y14",
    "K1tx+vlFzUVfqELWaD/tEayed31GmX93DOdQZ3YY0aDrBwBeKAtPS13JHOeG9XwP0+gsdmiKTuy4YqzkNJqSt+aJWs9Vpb2N",
    "OPRqdXDmXGyKZLcHaBxg2CXtAoGACKusZCvunedJijViKSOn1dNyBKDp+nKl2y9Dc7TPLkeKkOKBMgDKunqi9XYFytShD3sW",
    "pqJRQ/oa0/C4tAYTtj5sta4fc1qy9vDI0A9XASh4/j7qPvk+xOHBNwA+N+pkn/l1j9DSyzit8rH8J+4oGY+PELu3FqdQHkL3",
    "mOT1XsECgYAWD59jw8TRcThaDY5kgCumsifcgwo02CEQ4K0KjZhUb9jBNh1vyIRjKsfVkUpDCUnuaIV0oUCuCTcAF0V4W1Jm",
    "aNkDIXcPtGOdVY3z8wNcC/SaPdupf40Qzsf+xaZWmXoT+MDH6g4vyTR3MsNPAnPxY6mlFColRUY7bTrdqIE/ng==",
);

/// Public half of the test key (SPKI PEM), what [`super::GcsFake::register_service_account`] takes.
pub const TEST_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArHZr1jwTISe8xbPEmtuj
670fTmdjDnYaqaKzSchicZUyRdwDUtP0uuTwY8Mn/gdYyykxQTfwSRtbusjdqYyk
jcj7EpcQRNKdVBrpH0ieEhTrPNnkB4yDF2leYCad9Oz0T5082/Wf/xCQhJTGB2n6
Y8OLKk17own3a1Jz/sjhdLTKS6PKVo6epzhxGnDCKHdFx/oUfahLg8lNpkLl7QCL
joGKN+LPjIGQxhQvkBEgY4Lml+chMTtZLuvtqFVaIva+9dQLtDoILe2f/fKo35zW
Fdi5bmdB7fbZsogV7kZcUVBZcf5Zb3042Cai2b0V+CT0JKlgPRNKJ08JRCUuJlsS
BQIDAQAB
-----END PUBLIC KEY-----
";

fn test_key_der() -> Vec<u8> {
    STANDARD
        .decode(TEST_KEY_PKCS8_B64)
        .expect("gcs_fake: built-in test key is valid base64")
}

/// The built-in test private key as PKCS#8 PEM (the `private_key` of a service-account JSON key).
pub fn test_private_key_pem() -> String {
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in TEST_KEY_PKCS8_B64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("gcs_fake: base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// PKCS#1 DER of the test key's public half (what the fake verifies with).
pub(crate) fn test_public_key_pkcs1() -> Vec<u8> {
    let kp = RsaKeyPair::from_pkcs8(&test_key_der()).expect("gcs_fake: built-in test key parses");
    kp.public_key().as_ref().to_vec()
}

/// Signs `claims` as an RS256 JWT with the built-in test key (for tests that build their own
/// assertions, e.g. with a wrong `aud` or an expired `exp`).
pub fn sign_jwt_with_test_key(claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let kp = RsaKeyPair::from_pkcs8(&test_key_der()).expect("gcs_fake: built-in test key parses");
    let mut sig = vec![0u8; kp.public().modulus_len()];
    kp.sign(
        &signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .expect("gcs_fake: RS256 signing with the test key");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// A service-account JSON key file (as the Cloud console downloads it) for `client_email`,
/// holding the built-in test key and pointing `token_uri` at `token_uri`.
pub fn test_service_account_json(client_email: &str, token_uri: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": "fake-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": test_private_key_pem(),
        "client_email": client_email,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "http://127.0.0.1:1/token";

    fn claims(iat: i64, exp: i64) -> serde_json::Value {
        serde_json::json!({
            "iss": "sa@p.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/devstorage.read_write",
            "aud": AUD, "iat": iat, "exp": exp,
        })
    }

    fn key_for(email: &str) -> Option<Vec<u8>> {
        (email == "sa@p.iam.gserviceaccount.com").then(test_public_key_pkcs1)
    }

    #[test]
    fn spki_pem_matches_the_private_key() {
        assert_eq!(
            parse_public_key_pem(TEST_PUBLIC_KEY_PEM).expect("SPKI PEM parses"),
            test_public_key_pkcs1()
        );
        assert!(parse_public_key_pem(&test_private_key_pem()).is_err());
    }

    #[test]
    fn verifies_signature_audience_and_times() {
        let now = 1_700_000_000;
        let good = sign_jwt_with_test_key(&claims(now, now + 3600));
        let c = verify_assertion(&good, key_for, AUD, now).expect("a valid assertion");
        assert_eq!(c.iss, "sa@p.iam.gserviceaccount.com");
        assert!(verify_assertion(&good, key_for, "http://other/token", now).is_err());
        assert!(verify_assertion(&good, |_| None, AUD, now).is_err());
        // Expired, too long, from the future.
        assert!(verify_assertion(&good, key_for, AUD, now + 3600).is_err());
        let long = sign_jwt_with_test_key(&claims(now, now + 3601));
        assert!(verify_assertion(&long, key_for, AUD, now).is_err());
        let future = sign_jwt_with_test_key(&claims(now + 600, now + 1200));
        assert!(verify_assertion(&future, key_for, AUD, now).is_err());
        // A changed claim breaks the signature.
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(claims(now, now + 60).to_string());
        parts[1] = &forged;
        let err = verify_assertion(&parts.join("."), key_for, AUD, now).expect_err("a forged assertion");
        assert!(err.contains("Signature"), "{err}");
    }

    #[test]
    fn scopes() {
        assert!(scope_allows(
            "https://www.googleapis.com/auth/devstorage.read_write",
            true
        ));
        assert!(scope_allows(
            "https://www.googleapis.com/auth/devstorage.read_only",
            false
        ));
        assert!(!scope_allows(
            "https://www.googleapis.com/auth/devstorage.read_only",
            true
        ));
        assert!(!scope_allows("email profile", false));
    }
}
