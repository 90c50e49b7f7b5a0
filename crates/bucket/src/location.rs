//! Where objects live: a GCS bucket and prefix, or a local folder.

use std::fmt;
use std::path::{Component, PathBuf};

use crate::BucketError;

/// A bucket location, parsed from `NAME`, `gs://NAME[/PREFIX]` or `file:///ABS/PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A Google Cloud Storage bucket; object names are `prefix/name` (or `name` with an empty prefix).
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Object-name prefix without leading or trailing '/'; may be empty.
        prefix: String,
    },
    /// A local folder standing in for a bucket.
    File {
        /// Absolute path of the folder.
        root: PathBuf,
    },
}

const FORMS: &str = "use NAME, gs://NAME, gs://NAME/PREFIX or file:///ABSOLUTE/PATH";

impl Location {
    /// Parses a location. A bare name is a GCS bucket; the prefix loses leading and trailing '/'.
    pub fn parse(s: &str) -> Result<Location, BucketError> {
        let bad = |message: String| BucketError::BadLocation {
            input: s.to_string(),
            message,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(bad(format!("it is empty; {FORMS}")));
        }
        if let Some(rest) = t.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad(format!(
                    "a file location needs an absolute path (three slashes); {FORMS}"
                )));
            }
            let trimmed = rest.trim_end_matches('/');
            let root = PathBuf::from(if trimmed.is_empty() { "/" } else { trimmed });
            if root
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
            {
                return Err(bad("the path must not contain '.' or '..' segments".into()));
            }
            return Ok(Location::File { root });
        }
        let rest = if let Some(r) = t.strip_prefix("gs://") {
            r
        } else if t.contains("://") {
            return Err(bad(format!("unsupported scheme; {FORMS}")));
        } else if t.contains('/') {
            return Err(bad(format!("a bare bucket name cannot contain '/'; {FORMS}")));
        } else {
            t
        };
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, p.trim_matches('/')),
            None => (rest, ""),
        };
        check_bucket_name(bucket).map_err(|m| bad(format!("{m}; {FORMS}")))?;
        if !prefix.is_empty() {
            crate::util::check_object_name(prefix).map_err(|m| bad(format!("bad prefix: {m}")))?;
        }
        Ok(Location::Gcs {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Gcs { bucket, prefix } if prefix.is_empty() => write!(f, "gs://{bucket}"),
            Location::Gcs { bucket, prefix } => write!(f, "gs://{bucket}/{prefix}"),
            Location::File { root } => write!(f, "file://{}", root.display()),
        }
    }
}

/// GCS bucket naming rules (lowercase letters, digits, '-', '_', '.'; 3..=63
/// characters per dot-separated part, 222 in all; starts and ends with a letter or digit).
fn check_bucket_name(b: &str) -> Result<(), String> {
    if b.is_empty() {
        return Err("the bucket name is empty".into());
    }
    if !b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "bucket name {b:?} may only contain lowercase letters, digits, '-', '_' and '.'"
        ));
    }
    let ends_ok = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !ends_ok(b.bytes().next()) || !ends_ok(b.bytes().last()) {
        return Err(format!(
            "bucket name {b:?} must start and end with a letter or digit"
        ));
    }
    if b.len() < 3
        || b.len() > 222
        || b.split('.').any(|p| p.is_empty() || p.len() > 63)
        || (!b.contains('.') && b.len() > 63)
    {
        return Err(format!(
            "bucket name {b:?} must have 3 to 63 characters (222 with dots)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gcs(b: &str, p: &str) -> Location {
        Location::Gcs {
            bucket: b.into(),
            prefix: p.into(),
        }
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(
            Location::parse("my-bucket").expect("parses"),
            gcs("my-bucket", "")
        );
        assert_eq!(
            Location::parse("gs://my-bucket").expect("parses"),
            gcs("my-bucket", "")
        );
        assert_eq!(
            Location::parse("gs://my-bucket/").expect("parses"),
            gcs("my-bucket", "")
        );
        assert_eq!(
            Location::parse("gs://my.bucket_1/pre/fix/").expect("parses"),
            gcs("my.bucket_1", "pre/fix")
        );
        assert_eq!(
            Location::parse("gs://b12//pre/fix//").expect("parses"),
            gcs("b12", "pre/fix")
        );
        assert_eq!(
            Location::parse("file:///tmp/x/").expect("parses"),
            Location::File {
                root: "/tmp/x".into()
            }
        );
        assert_eq!(
            Location::parse("file:///").expect("parses"),
            Location::File { root: "/".into() }
        );
        assert_eq!(
            Location::parse("gs://b12/a/b").expect("parses").to_string(),
            "gs://b12/a/b"
        );
        assert_eq!(
            Location::parse("file:///tmp/x").expect("parses").to_string(),
            "file:///tmp/x"
        );
    }

    #[test]
    fn refused_forms() {
        for s in [
            "",
            "gs://",
            "s3://bucket",
            "file://relative/path",
            "file:///a/../b",
            "My_Bucket",
            "ab",
            "-bucket",
            "bucket-",
            "gs://bucket/a//../b",
            "bucket/prefix",
            &"x".repeat(64),
        ] {
            let e = Location::parse(s).expect_err(s);
            assert!(matches!(e, BucketError::BadLocation { .. }), "{s}: {e}");
        }
    }
}
