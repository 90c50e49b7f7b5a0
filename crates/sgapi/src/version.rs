//! Sourcegraph version strings (REFERENCE §4): optional `v`, a patch that
//! may be a build number (`v5.3.12303`), dev builds `0.0.0+dev`, and
//! insiders builds named by date and commit.

use std::fmt;

/// A release version `major.minor[.patch]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch or build number (never matters for upgrades).
    pub patch: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What a `productVersion` string is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductVersion {
    /// A release (`5.1.0`, `v6.12.5040`).
    Release(Version),
    /// A dev build (`0.0.0+dev`) or an insiders build (`213721_2023-06-12_5.0-abc123`):
    /// newer than any release, but not a known one.
    Dev(String),
}

impl ProductVersion {
    /// Parses a `productVersion`. Anything not a release counts as a dev
    /// build (Sourcegraph names insiders builds by build number and date).
    pub fn parse(s: &str) -> ProductVersion {
        match parse_release(s) {
            Some(v)
                if v != (Version {
                    major: 0,
                    minor: 0,
                    patch: 0,
                }) =>
            {
                ProductVersion::Release(v)
            }
            _ => ProductVersion::Dev(s.trim().to_string()),
        }
    }

    /// The release, if it is one.
    pub fn release(&self) -> Option<Version> {
        match self {
            ProductVersion::Release(v) => Some(*v),
            ProductVersion::Dev(_) => None,
        }
    }
}

/// A string that is no Sourcegraph version at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not a Sourcegraph version: expected [v]MAJOR.MINOR[.PATCH] (5.1.0, v5.3.12303) or a dev build (0.0.0+dev)"
)]
pub struct VersionError {
    /// What was given.
    pub given: String,
}

impl ProductVersion {
    /// Parses strictly, for planning: a release by the migrator's rule
    /// `^v?(\d+)\.(\d+)(?:\.(\d+))?$` (a `-rc.N` suffix allowed), a dev
    /// build (`0.0.0`, `…+dev`) or an insiders build
    /// (`213721_2023-06-12_5.0-abc123`). Anything else is refused.
    ///
    /// # Errors
    /// [`VersionError`] naming the string.
    pub fn parse_strict(s: &str) -> Result<ProductVersion, VersionError> {
        let err = || VersionError { given: s.to_string() };
        let t = s.trim();
        if let Some(core) = t.strip_suffix("+dev") {
            return strict_core(core)
                .map(|_| ProductVersion::Dev(t.to_string()))
                .ok_or_else(err);
        }
        if is_insiders(t) {
            return Ok(ProductVersion::Dev(t.to_string()));
        }
        let core = match t.split_once("-rc") {
            Some((core, n))
                if !n.is_empty() && n.trim_start_matches('.').bytes().all(|b| b.is_ascii_digit()) =>
            {
                core
            }
            Some(_) => return Err(err()),
            None => t,
        };
        match strict_core(core).ok_or_else(err)? {
            Version {
                major: 0,
                minor: 0,
                patch: 0,
            } => Ok(ProductVersion::Dev(t.to_string())),
            v => Ok(ProductVersion::Release(v)),
        }
    }
}

/// `v?MAJOR.MINOR[.PATCH]` and nothing else.
fn strict_core(s: &str) -> Option<Version> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts = s.split('.');
    let num = |p: Option<&str>| {
        p.filter(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|x| x.parse::<u32>().ok())
    };
    let major = num(parts.next())?;
    let minor = num(parts.next())?;
    let patch = match parts.next() {
        Some(p) => num(Some(p))?,
        None => 0,
    };
    parts.next().is_none().then_some(Version { major, minor, patch })
}

/// Insiders builds: `BUILD_YYYY-MM-DD_…`, e.g. `213721_2023-06-12_5.0-abc123`.
fn is_insiders(s: &str) -> bool {
    let mut parts = s.splitn(3, '_');
    let (Some(build), Some(date), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    let date_ok = {
        let d: Vec<&str> = date.split('-').collect();
        d.len() == 3 && digits(d[0], 4) && digits(d[1], 2) && digits(d[2], 2)
    };
    !build.is_empty()
        && build.bytes().all(|b| b.is_ascii_digit())
        && date_ok
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Parses `^v?(\d+)\.(\d+)(?:\.(\d+))?` (the migrator's rule), allowing a
/// `+build` or `-rc` suffix after it.
pub fn parse_release(s: &str) -> Option<Version> {
    let s = s.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let core = s.split(['+', '-', ' ']).next().unwrap_or_default();
    let mut parts = core.split('.');
    let num = |p: Option<&str>| {
        p.filter(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|x| x.parse::<u32>().ok())
    };
    let major = num(parts.next())?;
    let minor = num(parts.next())?;
    let patch = match parts.next() {
        Some(p) => num(Some(p))?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Version { major, minor, patch })
}

/// The major version (first number) in `pg_dump (PostgreSQL) 16.4` / `psql (PostgreSQL) 11.22 (Debian …)`
/// or a bare `16.4` / `9.6.24`.
pub fn parse_pg_major(s: &str) -> Option<u32> {
    let word = s
        .split_whitespace()
        .find(|w| w.as_bytes().first().is_some_and(u8::is_ascii_digit))?;
    // Before 10 the major had two parts (9.6); its first part orders right
    // against 10 and later, which is all the checks here need.
    word.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_and_dev_versions() {
        let v = |a, b, c| Version {
            major: a,
            minor: b,
            patch: c,
        };
        assert_eq!(
            ProductVersion::parse("5.1.0"),
            ProductVersion::Release(v(5, 1, 0))
        );
        assert_eq!(
            ProductVersion::parse("v6.12.5040"),
            ProductVersion::Release(v(6, 12, 5040))
        );
        assert_eq!(
            ProductVersion::parse("3.20"),
            ProductVersion::Release(v(3, 20, 0))
        );
        assert_eq!(
            ProductVersion::parse("5.0.0-rc.1"),
            ProductVersion::Release(v(5, 0, 0))
        );
        assert!(matches!(
            ProductVersion::parse("0.0.0+dev"),
            ProductVersion::Dev(_)
        ));
        assert!(matches!(
            ProductVersion::parse("213721_2023-06-12_5.0-abc123"),
            ProductVersion::Dev(_)
        ));
        assert!(v(3, 19, 9) < v(3, 20, 0) && v(3, 20, 0) < v(4, 0, 0));
    }

    #[test]
    fn strict_parsing_refuses_garbage() {
        let rel = |s: &str| ProductVersion::parse_strict(s).ok().and_then(|p| p.release());
        assert_eq!(rel("5.1.0").map(|v| (v.major, v.minor, v.patch)), Some((5, 1, 0)));
        assert_eq!(
            rel("v5.3.12303").map(|v| (v.major, v.minor, v.patch)),
            Some((5, 3, 12303))
        );
        assert_eq!(
            rel(" 6.12 ").map(|v| (v.major, v.minor, v.patch)),
            Some((6, 12, 0))
        );
        assert_eq!(rel("5.0.0-rc.1").map(|v| (v.major, v.minor)), Some((5, 0)));
        for dev in [
            "0.0.0+dev",
            "0.0.0",
            "5.3.1+dev",
            "213721_2023-06-12_5.0-abc123",
            "169135_2022-08-25_a2b623dce148",
        ] {
            assert!(
                matches!(ProductVersion::parse_strict(dev), Ok(ProductVersion::Dev(_))),
                "{dev}"
            );
        }
        for bad in [
            "",
            "five",
            "5",
            "5.",
            ".5",
            "5.1.0.0",
            "v",
            "vv5.1",
            "5.1.x",
            "5.1-beta",
            "5.1.0+build",
            "-5.1",
            "5.1.0 junk",
            "99999999999.1",
            "x_2023-06-12_abc",
            "1_2023-6-12_abc",
            "+dev",
        ] {
            let e = ProductVersion::parse_strict(bad).expect_err(bad);
            assert!(
                e.to_string().contains("is not a Sourcegraph version"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn postgres_majors() {
        assert_eq!(parse_pg_major("pg_dump (PostgreSQL) 16.4"), Some(16));
        assert_eq!(
            parse_pg_major("psql (PostgreSQL) 11.22 (Debian 11.22-1.pgdg110+1)"),
            Some(11)
        );
        assert_eq!(parse_pg_major("9.6.24"), Some(9));
        assert_eq!(parse_pg_major("17devel"), Some(17));
        assert_eq!(parse_pg_major("nothing"), None);
    }
}
