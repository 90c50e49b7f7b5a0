//! The three Sourcegraph databases and the three ways of reaching them.

use std::fmt;
use std::str::FromStr;

/// One of Sourcegraph's three PostgreSQL databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DbRole {
    /// The frontend database (`pgsql`, called `primary` before late 2025).
    Pgsql,
    /// The code-intelligence database (`codeintel-db`).
    Codeintel,
    /// The code-insights database (`codeinsights-db`).
    Codeinsights,
}

impl DbRole {
    /// All roles, in the order src-cli dumps them.
    pub const fn all() -> [DbRole; 3] {
        [DbRole::Pgsql, DbRole::Codeintel, DbRole::Codeinsights]
    }

    /// The key of this database in a targets YAML file.
    pub const fn yaml_key(self) -> &'static str {
        match self {
            DbRole::Pgsql => "pgsql",
            DbRole::Codeintel => "codeintel",
            DbRole::Codeinsights => "codeinsights",
        }
    }

    /// The older key src-cli accepted before late 2025 (`primary` for pgsql).
    pub const fn legacy_yaml_key(self) -> Option<&'static str> {
        match self {
            DbRole::Pgsql => Some("primary"),
            _ => None,
        }
    }

    /// The dump's file name inside the snapshot folder (`pgsql.sql`, …).
    pub const fn file_name(self) -> &'static str {
        match self {
            DbRole::Pgsql => "pgsql.sql",
            DbRole::Codeintel => "codeintel.sql",
            DbRole::Codeinsights => "codeinsights.sql",
        }
    }

    /// The file name older src-cli releases wrote (`primary.sql` for pgsql).
    pub const fn legacy_file_name(self) -> Option<&'static str> {
        match self {
            DbRole::Pgsql => Some("primary.sql"),
            _ => None,
        }
    }

    /// The database name this dump is imported into by default on the
    /// managed instance (`pgsql`, `codeintel-db`, `codeinsights-db`).
    pub const fn import_database_name(self) -> &'static str {
        match self {
            DbRole::Pgsql => "pgsql",
            DbRole::Codeintel => "codeintel-db",
            DbRole::Codeinsights => "codeinsights-db",
        }
    }

    /// The environment variable that supplies this database's password
    /// (`PGSQL_PASSWORD`, `CODEINTEL_PASSWORD`, `CODEINSIGHTS_PASSWORD`).
    ///
    /// Printed commands refer to it instead of printing the password, and
    /// [`Targets::apply_password_env`](crate::Targets::apply_password_env)
    /// reads it for `--run`.
    pub const fn password_env(self) -> &'static str {
        match self {
            DbRole::Pgsql => "PGSQL_PASSWORD",
            DbRole::Codeintel => "CODEINTEL_PASSWORD",
            DbRole::Codeinsights => "CODEINSIGHTS_PASSWORD",
        }
    }
}

impl fmt::Display for DbRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.yaml_key())
    }
}

/// How pg_dump and psql reach the database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Run `pg_dump`/`psql` on this machine; `target` is the host.
    PgDump,
    /// Run them inside a container with `docker exec`; `target` is the container.
    Docker,
    /// Run them inside a pod with `kubectl exec`; `target` is the pod or
    /// `statefulset/NAME`.
    Kubectl,
}

impl Mode {
    /// The name used on the command line (`pg_dump`, `docker`, `kubectl`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::PgDump => "pg_dump",
            Mode::Docker => "docker",
            Mode::Kubectl => "kubectl",
        }
    }

    /// The preset src-cli uses when `--targets` is not given
    /// (`local`, `docker`, `k8s`).
    pub const fn default_preset(self) -> &'static str {
        match self {
            Mode::PgDump => "local",
            Mode::Docker => "docker",
            Mode::Kubectl => "k8s",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not `pg_dump`, `docker` or `kubectl`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode {given:?}: expected pg_dump, docker or kubectl")]
pub struct ParseModeError {
    /// What was given.
    pub given: String,
}

impl FromStr for Mode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pg_dump" => Ok(Mode::PgDump),
            "docker" => Ok(Mode::Docker),
            "kubectl" => Ok(Mode::Kubectl),
            other => Err(ParseModeError {
                given: other.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_src_cli() {
        let files: Vec<_> = DbRole::all().iter().map(|r| r.file_name()).collect();
        assert_eq!(files, ["pgsql.sql", "codeintel.sql", "codeinsights.sql"]);
        assert_eq!(DbRole::Pgsql.legacy_file_name(), Some("primary.sql"));
        assert_eq!(DbRole::Codeintel.legacy_file_name(), None);
        assert_eq!(DbRole::Pgsql.legacy_yaml_key(), Some("primary"));
        assert_eq!(DbRole::Codeinsights.import_database_name(), "codeinsights-db");
        assert_eq!(DbRole::Codeintel.password_env(), "CODEINTEL_PASSWORD");
    }

    #[test]
    fn modes_parse() {
        assert_eq!("pg_dump".parse::<Mode>(), Ok(Mode::PgDump));
        assert_eq!("docker".parse::<Mode>(), Ok(Mode::Docker));
        assert_eq!("kubectl".parse::<Mode>(), Ok(Mode::Kubectl));
        let err = "k8s".parse::<Mode>().expect_err("k8s is a preset, not a mode");
        assert!(err.to_string().contains("expected pg_dump, docker or kubectl"));
        assert_eq!(Mode::Kubectl.default_preset(), "k8s");
        assert_eq!(Mode::PgDump.default_preset(), "local");
    }
}
