//! The runbook's requirements as checks, each with pass/fail and a fix.
//! The API side runs here; the database side (reachability, versions,
//! sizes) is gathered by the caller and judged by the rule functions here.

use serde::Serialize;

use crate::client::Client;
use crate::error::ApiError;
use crate::summary::{current_user, product_version, site_configuration, top_level_keys};
use crate::version::{ProductVersion, Version};

/// The oldest Sourcegraph the runbook supports (multi-version upgrades start there).
pub const MIN_SOURCEGRAPH: Version = Version {
    major: 3,
    minor: 20,
    patch: 0,
};

/// The oldest Postgres server supported.
pub const MIN_POSTGRES: u32 = 11;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Met.
    Pass,
    /// Not a blocker, but read the fix.
    Warn,
    /// Not met: the migration would fail or lose data.
    Fail,
    /// Not checked (depends on something that failed, or not checkable from here).
    Skip,
}

impl Status {
    /// `pass`, `warn`, `fail`, `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One requirement checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked (`site admin token`, `postgres pgsql`, …).
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it (for `fail`, `warn` and `skip`).
    pub fix: Option<String>,
}

impl Check {
    /// A check result.
    pub fn new(
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix,
        }
    }
}

/// Whether no check failed.
pub fn all_passed(checks: &[Check]) -> bool {
    !checks.iter().any(|c| c.status == Status::Fail)
}

/// A check for an API that could not be used at all (no endpoint, no token).
pub fn api_unavailable(e: &ApiError) -> Check {
    Check::new(
        "Sourcegraph API",
        Status::Fail,
        e.to_string(),
        Some("export SRC_ENDPOINT=https://your-instance and SRC_ACCESS_TOKEN (a site admin's token), or pass -endpoint and -token-file".into()),
    )
}

fn api_fix(e: &ApiError) -> String {
    match e {
        ApiError::Unauthorized { .. } => {
            "create a new access token as a site admin and set SRC_ACCESS_TOKEN".into()
        }
        ApiError::NotSiteAdmin { .. } => {
            "use an access token of a site admin (Site admin > Users: promote, or log in as one)".into()
        }
        ApiError::Transport { .. } | ApiError::Http { .. } => {
            "check SRC_ENDPOINT (the URL you open in the browser) and that this machine can reach it".into()
        }
        _ => "see the error; run with -v for details".into(),
    }
}

/// The API-side checks: token is a site admin's, Sourcegraph ≥ 3.20, no
/// encryption keys in the site configuration, the notice is up.
pub async fn api_checks(client: &Client, notice_message: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let skip = |name: &str| {
        Check::new(
            name,
            Status::Skip,
            "needs a working site-admin token",
            Some("fix the token check first".into()),
        )
    };
    match current_user(client).await {
        Ok(Some(u)) if u.site_admin => out.push(Check::new(
            "site admin token",
            Status::Pass,
            format!("token of {} (site admin) at {}", u.username, client.endpoint()),
            None,
        )),
        Ok(u) => {
            let who = u.map_or_else(|| "no user".to_string(), |u| u.username);
            out.push(Check::new(
                "site admin token",
                Status::Fail,
                format!("the token is {who}'s, not a site admin's"),
                Some(api_fix(&ApiError::NotSiteAdmin {
                    endpoint: String::new(),
                    operation: String::new(),
                })),
            ));
            out.extend(["Sourcegraph version", "encryption keys", "site notice"].map(skip));
            return out;
        }
        Err(e) => {
            out.push(Check::new(
                "site admin token",
                Status::Fail,
                e.to_string(),
                Some(api_fix(&e)),
            ));
            out.extend(["Sourcegraph version", "encryption keys", "site notice"].map(skip));
            return out;
        }
    }
    out.push(match product_version(client).await {
        Ok(v) => version_check(&v),
        Err(e) => Check::new(
            "Sourcegraph version",
            Status::Fail,
            e.to_string(),
            Some(api_fix(&e)),
        ),
    });
    out.push(match site_configuration(client).await {
        Ok(text) => match top_level_keys(&text) {
            Ok(keys) => encryption_check(&keys),
            Err(e) => Check::new(
                "encryption keys",
                Status::Warn,
                format!("the site configuration is not parsable JSONC: {e}"),
                Some("check the site configuration for an encryption.keys entry by hand".into()),
            ),
        },
        Err(e) => Check::new("encryption keys", Status::Fail, e.to_string(), Some(api_fix(&e))),
    });
    out.push(
        match crate::notice::notice_present(client, notice_message).await {
            Ok(true) => Check::new("site notice", Status::Pass, "the migration notice is up", None),
            Ok(false) => Check::new(
                "site notice",
                Status::Fail,
                "the migration notice is not in global settings",
                Some("run: src-snapshot notice add (users then know changes may be lost)".into()),
            ),
            Err(e) => Check::new("site notice", Status::Fail, e.to_string(), Some(api_fix(&e))),
        },
    );
    out
}

/// Sourcegraph ≥ 3.20.
pub fn version_check(product_version: &str) -> Check {
    let name = "Sourcegraph version";
    match ProductVersion::parse(product_version) {
        ProductVersion::Release(v) if v >= MIN_SOURCEGRAPH => Check::new(name, Status::Pass, format!("{product_version} (≥ 3.20)"), None),
        ProductVersion::Release(_) => Check::new(
            name,
            Status::Fail,
            format!("{product_version} is older than 3.20"),
            Some("upgrade the instance to 3.20 or later first (standard upgrades, one minor at a time); the migrator cannot start earlier".into()),
        ),
        ProductVersion::Dev(v) => Check::new(
            name,
            Status::Warn,
            format!("{v:?} is a dev or insiders build, not a release"),
            Some("migrate from a release; the upgrade plan needs a release version".into()),
        ),
    }
}

/// No `encryption.keys` in the site configuration (given its top-level keys).
pub fn encryption_check(site_config_keys: &[String]) -> Check {
    let name = "encryption keys";
    if site_config_keys.iter().any(|k| k == "encryption.keys") {
        Check::new(
            name,
            Status::Fail,
            "the site configuration has encryption.keys: secrets in the databases are encrypted with keys the managed instance does not have",
            Some("decrypt first (remove encryption.keys following Sourcegraph's docs on disabling encryption) or contact Sourcegraph support before migrating".into()),
        )
    } else {
        Check::new(
            name,
            Status::Pass,
            "no encryption.keys in the site configuration",
            None,
        )
    }
}

/// Counts rows with a non-empty `encryption_key_id` in every table of the
/// frontend database that has that column: (table, rows). Run it on the
/// frontend ("pgsql") database.
pub const ENCRYPTED_ROWS_SQL: &str = "SELECT format('%I.%I', c.table_schema, c.table_name), \
    (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I WHERE coalesce(encryption_key_id, '''') <> ''''', \
     c.table_schema, c.table_name), false, true, '')))[1]::text::bigint \
    FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name) \
    WHERE c.column_name = 'encryption_key_id' AND t.table_type = 'BASE TABLE' \
      AND c.table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1";

/// The size in bytes of the connected database.
pub const DATABASE_SIZE_SQL: &str = "SELECT pg_database_size(current_database())";

/// Judges [`ENCRYPTED_ROWS_SQL`]'s rows.
pub fn encrypted_rows_check(rows: &[(String, i64)]) -> Check {
    let name = "encrypted rows";
    let hits: Vec<String> = rows
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{t} ({n})"))
        .collect();
    if hits.is_empty() {
        Check::new(
            name,
            Status::Pass,
            format!("no encrypted rows ({} tables checked)", rows.len()),
            None,
        )
    } else {
        Check::new(
            name,
            Status::Fail,
            format!("rows encrypted with a key: {}", hits.join(", ")),
            Some("these values cannot be read without the instance's keys; decrypt them first (Sourcegraph's docs on disabling encryption) or contact Sourcegraph support".into()),
        )
    }
}

/// A database server is reachable and runs Postgres ≥ 11.
pub fn postgres_check(db: &str, reached: Result<(u32, String), String>) -> Check {
    let name = format!("postgres {db}");
    match reached {
        Ok((major, version)) if major >= MIN_POSTGRES => Check::new(name, Status::Pass, format!("reachable, PostgreSQL {version}"), None),
        Ok((_, version)) => Check::new(
            name,
            Status::Fail,
            format!("PostgreSQL {version} is older than {MIN_POSTGRES}"),
            Some("upgrade this database server to PostgreSQL 11 or later before migrating".into()),
        ),
        Err(e) => Check::new(
            name,
            Status::Fail,
            format!("not reachable: {e}"),
            Some(format!(
                "check the {db} entry of --targets (host, port, dbname, username) and its password ({}_PASSWORD or the YAML)",
                db.to_ascii_uppercase()
            )),
        ),
    }
}

/// The pg_dump that will run is at least as new as the server.
pub fn pg_dump_check(db: &str, pg_dump: Result<(u32, String), String>, server_major: Option<u32>) -> Check {
    let name = format!("pg_dump for {db}");
    let install = |m: u32| {
        format!("install the PostgreSQL {m} client tools (pg_dump {m} or newer) or use docker/kubectl mode, which runs the server's own pg_dump")
    };
    match (pg_dump, server_major) {
        (Err(e), Some(m)) => Check::new(
            name,
            Status::Fail,
            format!("no usable pg_dump: {e}"),
            Some(install(m)),
        ),
        (Err(e), None) => Check::new(
            name,
            Status::Fail,
            format!("no usable pg_dump: {e}"),
            Some(install(MIN_POSTGRES)),
        ),
        (Ok((_, v)), None) => Check::new(
            name,
            Status::Skip,
            format!("pg_dump {v}; the server version is unknown"),
            Some("fix the postgres check first".into()),
        ),
        (Ok((d, v)), Some(m)) if d >= m => Check::new(
            name,
            Status::Pass,
            format!("pg_dump {v} can dump a PostgreSQL {m} server"),
            None,
        ),
        (Ok((_, v)), Some(m)) => Check::new(
            name,
            Status::Fail,
            format!("pg_dump {v} is older than the PostgreSQL {m} server (pg_dump refuses newer servers)"),
            Some(install(m)),
        ),
    }
}

/// Free space in the snapshot folder covers the databases' sizes. Plain
/// dumps hold no index data, so the size on disk is an upper bound.
pub fn disk_check(dir: &str, free: Option<u64>, needed: u64) -> Check {
    let name = "free disk space";
    let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
    match free {
        None => Check::new(name, Status::Warn, format!("cannot tell the free space in {dir}"), Some("check with df that the folder can hold the dumps".into())),
        Some(f) if f >= needed => Check::new(name, Status::Pass, format!("{} free in {dir}, databases take {}", gib(f), gib(needed)), None),
        Some(f) => Check::new(
            name,
            Status::Warn,
            format!("{} free in {dir}, databases take up to {}", gib(f), gib(needed)),
            Some("free space or pick another -dir, or stream the dumps straight to the bucket with `databases --run -bucket=…` (no local copy)".into()),
        ),
    }
}

/// Parses `df -Pk DIR` output: available bytes.
pub fn parse_df_available(output: &str) -> Option<u64> {
    let line = output.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(version_check("3.20.1").status, Status::Pass);
        assert_eq!(version_check("v5.3.12303").status, Status::Pass);
        assert_eq!(version_check("3.19.2").status, Status::Fail);
        assert_eq!(version_check("0.0.0+dev").status, Status::Warn);
        assert_eq!(encryption_check(&["externalURL".into()]).status, Status::Pass);
        assert_eq!(encryption_check(&["encryption.keys".into()]).status, Status::Fail);
        assert_eq!(
            encrypted_rows_check(&[("public.external_services".into(), 0)]).status,
            Status::Pass
        );
        let c = encrypted_rows_check(&[("public.user_external_accounts".into(), 3)]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("user_external_accounts (3)"));
        assert_eq!(
            postgres_check("pgsql", Ok((16, "16.2".into()))).status,
            Status::Pass
        );
        assert_eq!(
            postgres_check("pgsql", Ok((9, "9.6.24".into()))).status,
            Status::Fail
        );
        let c = postgres_check("codeintel", Err("connection refused".into()));
        assert!(c.fix.as_deref().is_some_and(|f| f.contains("CODEINTEL_PASSWORD")));
        assert_eq!(
            pg_dump_check("pgsql", Ok((16, "16.4".into())), Some(16)).status,
            Status::Pass
        );
        assert_eq!(
            pg_dump_check("pgsql", Ok((14, "14.1".into())), Some(16)).status,
            Status::Fail
        );
        assert_eq!(
            pg_dump_check("pgsql", Err("not found".into()), Some(12)).status,
            Status::Fail
        );
        assert_eq!(disk_check("d", Some(10), 5).status, Status::Pass);
        assert_eq!(disk_check("d", Some(1), 5).status, Status::Warn);
        assert!(all_passed(&[disk_check("d", Some(1), 5)]));
        assert!(!all_passed(&[version_check("3.0.0")]));
    }

    #[test]
    fn df_output() {
        let out = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/sda1        102400000  51200000  51200000      50% /\n";
        assert_eq!(parse_df_available(out), Some(51_200_000 * 1024));
        assert_eq!(parse_df_available("garbage"), None);
    }
}
