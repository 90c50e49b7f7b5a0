//! Small helpers: checksums in GCS form, timestamps, name checks, URL encoding.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Non-final resumable chunks must be a multiple of this (256 KiB).
pub const CHUNK_ALIGN: u64 = 256 * 1024;

/// A CRC32C in GCS form: base64 of the big-endian bytes.
pub fn crc32c_base64(crc: u32) -> String {
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// Decodes a GCS-form CRC32C (base64 of four big-endian bytes).
pub fn crc32c_from_base64(s: &str) -> Option<u32> {
    let b = base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()?;
    let a: [u8; 4] = b.try_into().ok()?;
    Some(u32::from_be_bytes(a))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Everything but RFC 3986 unreserved characters is escaped (object names go in paths and queries).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `t` as RFC 3339 UTC with second precision, e.g. `2024-05-01T12:00:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil: proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Checks an object name relative to the prefix: non-empty, '/'-separated
/// segments none of which is empty, "." or "..", no control characters,
/// not one of the file backend's own folders.
pub(crate) fn check_object_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the object name is empty".into());
    }
    if name.len() > 900 {
        return Err("the object name is longer than 900 bytes".into());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("the object name contains a control character".into());
    }
    for seg in name.split('/') {
        match seg {
            "" => {
                return Err(
                    "the object name has an empty path segment (leading, trailing or double '/')".into(),
                )
            }
            "." | ".." => return Err("the object name has a '.' or '..' segment".into()),
            s if s.starts_with(".src-snapshot-") => {
                return Err("names starting with .src-snapshot- are reserved".into());
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn crc_base64_round_trips_in_gcs_form() {
        // 0xE3069283 is CRC-32C's published check value.
        let crc = crc32c::crc32c(b"123456789");
        assert_eq!(crc, 0xE306_9283);
        assert_eq!(crc32c_base64(crc), "4waSgw==");
        assert_eq!(crc32c_from_base64("4waSgw=="), Some(crc));
        assert_eq!(crc32c_from_base64("AAAA"), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_714_564_800)),
            "2024-05-01T12:00:00Z"
        );
    }

    #[test]
    fn names() {
        assert!(check_object_name("pgsql.sql.gz").is_ok());
        assert!(check_object_name("a/b c/é.sql").is_ok());
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "../x",
            "a/./b",
            "a\nb",
            ".src-snapshot-partial/x",
        ] {
            assert!(check_object_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(enc("a/b c+é~"), "a%2Fb%20c%2B%C3%A9~");
    }
}
