//! Targets: where each database lives and how to log in, from a preset or a
//! src-cli compatible YAML file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::role::DbRole;

/// A database password. `Debug` and `Display` print `***`; read it with
/// [`Password::expose`] only to hand it to a child's environment or stdin.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wrap a password.
    ///
    /// # Errors
    /// The password is empty or contains a control character (newline, NUL,
    /// …): such a password cannot travel through `PGPASSWORD` or one stdin
    /// line intact.
    pub fn new(value: impl Into<String>) -> Result<Password, InvalidValue> {
        let value = value.into();
        check_value(Field::Password, &value)?;
        Ok(Password(value))
    }

    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One database to dump or restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host or socket folder (pg_dump mode), the container (docker) or
    /// the pod / `statefulset/NAME` (kubectl). Empty means libpq's default
    /// host, which only pg_dump mode accepts (the `local` preset).
    pub target: String,
    /// The database name.
    pub dbname: String,
    /// The user to log in as.
    pub username: String,
    /// The password, if any; without one the child's own `PGPASSWORD` or
    /// `~/.pgpass` applies (pg_dump mode) or none is sent (docker, kubectl).
    pub password: Option<Password>,
    /// The server port, if not libpq's default.
    pub port: Option<u16>,
}

/// Where a [`Targets`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetsSource {
    /// A built-in preset (`local`, `docker`, `k8s`).
    Preset(&'static str),
    /// A targets YAML file.
    File(PathBuf),
    /// Built in code.
    Custom,
}

/// The three databases of one Sourcegraph instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// The frontend database.
    pub pgsql: Target,
    /// The code-intelligence database.
    pub codeintel: Target,
    /// The code-insights database.
    pub codeinsights: Target,
    /// Where these targets came from (used for printed notes).
    pub source: TargetsSource,
}

/// A YAML field of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `target`
    Target,
    /// `dbname`
    Dbname,
    /// `username`
    Username,
    /// `password`
    Password,
    /// `port`
    Port,
}

impl Field {
    /// The YAML key.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Target => "target",
            Field::Dbname => "dbname",
            Field::Username => "username",
            Field::Password => "password",
            Field::Port => "port",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct InvalidValue {
    /// The field.
    pub field: Field,
    /// Why, as a sentence fragment ("is empty", "starts with '-', …").
    pub reason: &'static str,
}

/// Why targets could not be read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetsError {
    /// `--targets` names neither a preset nor an existing file.
    #[error("{spec:?} is neither a preset (local, docker, k8s) nor an existing targets file")]
    NotFound {
        /// What was given.
        spec: String,
    },
    /// An unknown preset name.
    #[error("unknown preset {name:?}: expected local, docker or k8s")]
    UnknownPreset {
        /// What was given.
        name: String,
    },
    /// The targets file could not be read.
    #[error("cannot read targets file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The targets file is empty.
    #[error("targets file {} is empty; hint: it needs pgsql (or primary), codeintel and codeinsights, each with target, dbname and username", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The targets file is not valid: bad YAML, an unknown or missing key,
    /// or a refused value.
    #[error("invalid targets file {}{}: {message}; hint: {hint}", path.display(), fmt_location(*line, *column))]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong, naming the key path (`pgsql.dbname: …`).
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// A value built in code (or from a password variable) is refused.
    #[error("{role}: {source}")]
    InvalidValue {
        /// The database.
        role: DbRole,
        /// What is wrong.
        source: InvalidValue,
    },
    /// A password variable holds an unusable value.
    #[error("environment variable {var} {reason}")]
    InvalidPasswordEnv {
        /// The variable.
        var: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// docker and kubectl modes need a container or pod name.
    #[error("{role}: {mode} mode needs a target (the {what}), but it is empty")]
    MissingTarget {
        /// The database.
        role: DbRole,
        /// The mode.
        mode: crate::Mode,
        /// "container" or "pod".
        what: &'static str,
    },
    /// An output folder, file or program name that cannot be printed or
    /// passed safely.
    #[error("unusable path or program {path:?}: {reason}")]
    InvalidPath {
        /// The path, lossily converted.
        path: String,
        /// Why.
        reason: &'static str,
    },
}

fn fmt_location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

/// Refuse values that could change meaning once on a command line or in
/// libpq, whatever quoting is used.
pub(crate) fn check_value(field: Field, value: &str) -> Result<(), InvalidValue> {
    let bad = |reason| Err(InvalidValue { field, reason });
    if value.is_empty() {
        return bad("is empty");
    }
    if value
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return bad("contains a control character (newline, tab, NUL, …)");
    }
    match field {
        Field::Target if value.starts_with('-') => {
            bad("starts with '-', so docker, kubectl or pg_dump would read it as an option")
        }
        Field::Username if value.starts_with('-') => bad("starts with '-', so it could be read as an option"),
        Field::Dbname if value.contains('=') => {
            bad("contains '=', so libpq would read it as a connection string, not a database name")
        }
        Field::Dbname
            if {
                let lower = value.to_ascii_lowercase();
                lower.starts_with("postgres://") || lower.starts_with("postgresql://")
            } =>
        {
            bad("is a postgres:// URI, so libpq would read it as a connection string, not a database name")
        }
        _ => Ok(()),
    }
}

impl Target {
    /// Check every value the way the YAML reader does.
    ///
    /// # Errors
    /// The first refused value. An empty `target` is allowed here (libpq's
    /// default host); the command builders refuse it where it matters.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        if !self.target.is_empty() {
            check_value(Field::Target, &self.target)?;
        }
        check_value(Field::Dbname, &self.dbname)?;
        check_value(Field::Username, &self.username)?;
        if let Some(p) = &self.password {
            check_value(Field::Password, p.expose())?;
        }
        if self.port == Some(0) {
            return Err(InvalidValue {
                field: Field::Port,
                reason: "is 0",
            });
        }
        Ok(())
    }
}

fn preset_target(target: &str, dbname: &str, username: &str, password: &str) -> Target {
    Target {
        target: target.to_string(),
        dbname: dbname.to_string(),
        username: username.to_string(),
        password: Some(Password(password.to_string())),
        port: None,
    }
}

/// Preset names, in the order they are documented.
pub const PRESETS: [&str; 3] = ["local", "docker", "k8s"];

impl Targets {
    /// A built-in preset, identical to src-cli's:
    /// - `local`: no host (libpq's default socket), as src-cli;
    /// - `docker`: containers `pgsql`, `codeintel-db`, `codeinsights-db`
    ///   (deploy-sourcegraph-docker);
    /// - `k8s`: `statefulset/pgsql`, `statefulset/codeintel-db`,
    ///   `statefulset/codeinsights-db` (deploy-sourcegraph-helm).
    ///
    /// pgsql and codeintel use database `sg`, user `sg`, password `sg`;
    /// codeinsights uses `postgres`/`postgres`/`password`.
    ///
    /// # Errors
    /// [`TargetsError::UnknownPreset`] for any other name.
    pub fn preset(name: &str) -> Result<Targets, TargetsError> {
        let (name, hosts): (&'static str, [&str; 3]) = match name {
            "local" => ("local", ["", "", ""]),
            "docker" => ("docker", ["pgsql", "codeintel-db", "codeinsights-db"]),
            "k8s" => (
                "k8s",
                [
                    "statefulset/pgsql",
                    "statefulset/codeintel-db",
                    "statefulset/codeinsights-db",
                ],
            ),
            other => {
                return Err(TargetsError::UnknownPreset {
                    name: other.to_string(),
                })
            }
        };
        Ok(Targets {
            pgsql: preset_target(hosts[0], "sg", "sg", "sg"),
            codeintel: preset_target(hosts[1], "sg", "sg", "sg"),
            codeinsights: preset_target(hosts[2], "postgres", "postgres", "password"),
            source: TargetsSource::Preset(name),
        })
    }

    /// A preset name, or else the path of a targets YAML file (src-cli's
    /// `--targets` rule: preset names win).
    ///
    /// # Errors
    /// [`TargetsError::NotFound`] when `spec` is no preset and no file, and
    /// everything [`Targets::from_yaml_file`] returns.
    pub fn resolve(spec: &str) -> Result<Targets, TargetsError> {
        if PRESETS.contains(&spec) {
            return Targets::preset(spec);
        }
        let path = Path::new(spec);
        if !path.exists() {
            return Err(TargetsError::NotFound {
                spec: spec.to_string(),
            });
        }
        Targets::from_yaml_file(path)
    }

    /// Read a src-cli targets YAML file:
    ///
    /// ```yaml
    /// pgsql:            # or `primary`, its name before late 2025
    ///   target: pgsql   # host, container or pod
    ///   dbname: sg
    ///   username: sg
    ///   password: sg    # optional; better: PGSQL_PASSWORD in the environment
    ///   port: 5432      # optional
    /// codeintel: { … }
    /// codeinsights: { … }
    /// ```
    ///
    /// # Errors
    /// [`TargetsError::Io`], [`TargetsError::Empty`], or
    /// [`TargetsError::Parse`] naming the line, column and key of an unknown
    /// key, a missing field or a refused value.
    pub fn from_yaml_file(path: &Path) -> Result<Targets, TargetsError> {
        let text = std::fs::read_to_string(path).map_err(|source| TargetsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut targets = Targets::from_yaml_str(&text, path)?;
        targets.source = TargetsSource::File(path.to_path_buf());
        Ok(targets)
    }

    /// Parse targets YAML text; `path` only names the file in errors.
    ///
    /// # Errors
    /// As [`Targets::from_yaml_file`], without [`TargetsError::Io`].
    pub fn from_yaml_str(text: &str, path: &Path) -> Result<Targets, TargetsError> {
        let blank = text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "---"
        });
        if blank {
            return Err(TargetsError::Empty {
                path: path.to_path_buf(),
            });
        }
        let raw: RawTargets = serde_yaml_ng::from_str(text).map_err(|e| parse_error(path, &e))?;
        Ok(Targets {
            pgsql: raw.pgsql.into_target(),
            codeintel: raw.codeintel.into_target(),
            codeinsights: raw.codeinsights.into_target(),
            source: TargetsSource::Custom,
        })
    }

    /// The target of one database.
    pub fn get(&self, role: DbRole) -> &Target {
        match role {
            DbRole::Pgsql => &self.pgsql,
            DbRole::Codeintel => &self.codeintel,
            DbRole::Codeinsights => &self.codeinsights,
        }
    }

    /// The target of one database, to change it.
    pub fn get_mut(&mut self, role: DbRole) -> &mut Target {
        match role {
            DbRole::Pgsql => &mut self.pgsql,
            DbRole::Codeintel => &mut self.codeintel,
            DbRole::Codeinsights => &mut self.codeinsights,
        }
    }

    /// Take passwords from `PGSQL_PASSWORD`, `CODEINTEL_PASSWORD` and
    /// `CODEINSIGHTS_PASSWORD` where set and non-empty; they replace any
    /// password from the preset or file. Returns the roles that changed.
    ///
    /// # Errors
    /// [`TargetsError::InvalidPasswordEnv`] for a value that is not UTF-8 or
    /// holds a control character.
    pub fn apply_password_env(&mut self) -> Result<Vec<DbRole>, TargetsError> {
        self.apply_password_overrides(|var| std::env::var_os(var))
    }

    /// [`Targets::apply_password_env`] with a custom lookup (for tests and
    /// callers that keep their own environment).
    ///
    /// # Errors
    /// As [`Targets::apply_password_env`].
    pub fn apply_password_overrides(
        &mut self,
        mut lookup: impl FnMut(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Vec<DbRole>, TargetsError> {
        let mut changed = Vec::new();
        for role in DbRole::all() {
            let var = role.password_env();
            let Some(value) = lookup(var) else { continue };
            if value.is_empty() {
                continue;
            }
            let value = value
                .into_string()
                .map_err(|_| TargetsError::InvalidPasswordEnv {
                    var,
                    reason: "is not valid UTF-8",
                })?;
            let password = Password::new(value).map_err(|e| TargetsError::InvalidPasswordEnv {
                var,
                reason: e.reason,
            })?;
            self.get_mut(role).password = Some(password);
            changed.push(role);
        }
        Ok(changed)
    }
}

fn parse_error(path: &Path, e: &serde_yaml_ng::Error) -> TargetsError {
    let (line, column) = match e.location() {
        Some(l) => (Some(l.line()), Some(l.column())),
        None => (None, None),
    };
    let mut message = e.to_string();
    if let (Some(l), Some(c)) = (line, column) {
        let suffix = format!(" at line {l} column {c}");
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    let hint = if message.starts_with("unknown field") {
        "the top-level keys are pgsql (or primary), codeintel and codeinsights".to_string()
    } else if message.contains("unknown field") {
        "each database takes target, dbname, username, password (optional) and port (optional)".to_string()
    } else if let Some(field) = between(&message, "missing field `", "`") {
        if ["pgsql", "codeintel", "codeinsights"].contains(&field) {
            format!("add a `{field}:` section with target, dbname and username")
        } else if field == "target" {
            "add `target: …`: the host or socket folder for pg_dump (e.g. localhost or /var/run/postgresql), the container for docker, the pod or statefulset/NAME for kubectl".to_string()
        } else {
            format!("add `{field}: …` to this section")
        }
    } else if message.contains("duplicate") {
        "give each key once (`primary` is the old name of `pgsql`, so use only one of them)".to_string()
    } else if message.contains("more than one document") {
        "the file must hold a single YAML document (remove the `---` separators)".to_string()
    } else if message.contains("password") {
        "fix the value, or leave `password` out and set PGSQL_PASSWORD, CODEINTEL_PASSWORD or CODEINSIGHTS_PASSWORD in the environment".to_string()
    } else {
        "fix the value in the file; values are passed to pg_dump verbatim and must be plain names".to_string()
    };
    TargetsError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message,
        hint,
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

// ---- YAML shapes ----------------------------------------------------------

/// A string checked while deserializing, so a refused value is reported at
/// its own line and column.
struct Checked<const F: u8>(String);

const F_TARGET: u8 = 0;
const F_DBNAME: u8 = 1;
const F_USERNAME: u8 = 2;
const F_PASSWORD: u8 = 3;

const fn field_of(f: u8) -> Field {
    match f {
        F_TARGET => Field::Target,
        F_DBNAME => Field::Dbname,
        F_USERNAME => Field::Username,
        _ => Field::Password,
    }
}

impl<'de, const F: u8> Deserialize<'de> for Checked<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const F: u8>;
        impl<const F: u8> Visitor<'_> for V<F> {
            type Value = Checked<F>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a string for `{}`", field_of(F))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                let field = field_of(F);
                match check_value(field, s) {
                    Ok(()) => Ok(Checked(s.to_string())),
                    // Never echo a password back.
                    Err(e) if field == Field::Password => Err(E::custom(format!("password {}", e.reason))),
                    Err(e) => Err(E::custom(format!("{field} {s:?} {}", e.reason))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_str(V::<F>)
    }
}

/// A port: an integer or a string of digits, 1 to 65535.
struct PortValue(u16);

impl<'de> Deserialize<'de> for PortValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number from 1 to 65535")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortValue, E> {
                match u16::try_from(v) {
                    Ok(p) if p > 0 => Ok(PortValue(p)),
                    _ => Err(E::custom(format!("port {v} is not between 1 and 65535"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortValue, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("port {v} is not between 1 and 65535"))),
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PortValue, E> {
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(v) = s.parse::<u64>() {
                        return self.visit_u64(v);
                    }
                }
                Err(E::custom(format!(
                    "port {s:?} is not a number between 1 and 65535"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    target: Checked<F_TARGET>,
    dbname: Checked<F_DBNAME>,
    username: Checked<F_USERNAME>,
    #[serde(default)]
    password: Option<Checked<F_PASSWORD>>,
    #[serde(default)]
    port: Option<PortValue>,
}

impl RawTarget {
    fn into_target(self) -> Target {
        Target {
            target: self.target.0,
            dbname: self.dbname.0,
            username: self.username.0,
            // Already checked by `Checked<F_PASSWORD>`.
            password: self.password.map(|p| Password(p.0)),
            port: self.port.map(|p| p.0),
        }
    }
}

struct RawTargets {
    pgsql: RawTarget,
    codeintel: RawTarget,
    codeinsights: RawTarget,
}

/// Reads one top-level key and refuses unknown and repeated ones, so the
/// error points at the key itself. Yields the slot index (pgsql,
/// codeintel, codeinsights).
struct KeySeed<'a> {
    seen: &'a mut [Option<&'static str>; 3],
}

impl<'de> de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pgsql (or primary), codeintel or codeinsights")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        const KEYS: &[&str] = &["pgsql", "primary", "codeintel", "codeinsights"];
        let (i, name): (usize, &'static str) = match key {
            "pgsql" => (0, "pgsql"),
            "primary" => (0, "primary"),
            "codeintel" => (1, "codeintel"),
            "codeinsights" => (2, "codeinsights"),
            other => return Err(E::unknown_field(other, KEYS)),
        };
        match self.seen[i] {
            Some(prev) if prev != name => Err(E::custom(format!(
                "duplicate key `{name}`: `{prev}` already configures pgsql"
            ))),
            Some(_) => Err(E::custom(format!("duplicate key `{name}`"))),
            None => {
                self.seen[i] = Some(name);
                Ok(i)
            }
        }
    }
}

impl<'de> Deserialize<'de> for RawTargets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTargets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping with pgsql (or primary), codeintel and codeinsights")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTargets, A::Error> {
                let mut slots: [Option<RawTarget>; 3] = [None, None, None];
                let mut seen: [Option<&'static str>; 3] = [None, None, None];
                while let Some(i) = map.next_key_seed(KeySeed { seen: &mut seen })? {
                    slots[i] = Some(map.next_value::<RawTarget>()?);
                }
                let [pgsql, codeintel, codeinsights] = slots;
                Ok(RawTargets {
                    pgsql: pgsql.ok_or_else(|| de::Error::missing_field("pgsql"))?,
                    codeintel: codeintel.ok_or_else(|| de::Error::missing_field("codeintel"))?,
                    codeinsights: codeinsights.ok_or_else(|| de::Error::missing_field("codeinsights"))?,
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
pgsql:
  target: db.internal
  dbname: sg
  username: sg
  password: s3cret
codeintel:
  target: db.internal
  dbname: sg_codeintel
  username: sg
  port: 5433
codeinsights:
  target: insights
  dbname: postgres
  username: postgres
  password: 'p@ss: \"w0rd\" $(x)'
";

    fn parse(text: &str) -> Result<Targets, TargetsError> {
        Targets::from_yaml_str(text, Path::new("targets.yaml"))
    }

    fn parse_err(text: &str) -> (Option<usize>, Option<usize>, String, String) {
        match parse(text) {
            Err(TargetsError::Parse {
                line,
                column,
                message,
                hint,
                ..
            }) => (line, column, message, hint),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn reads_pgsql_key() {
        let t = parse(GOOD).expect("parse");
        assert_eq!(t.pgsql.target, "db.internal");
        assert_eq!(t.pgsql.password.as_ref().map(Password::expose), Some("s3cret"));
        assert_eq!(t.codeintel.dbname, "sg_codeintel");
        assert_eq!(t.codeintel.port, Some(5433));
        assert_eq!(t.codeintel.password, None);
        assert_eq!(
            t.codeinsights.password.as_ref().map(Password::expose),
            Some("p@ss: \"w0rd\" $(x)")
        );
    }

    #[test]
    fn reads_legacy_primary_key() {
        let t = parse(&GOOD.replace("pgsql:", "primary:")).expect("parse");
        assert_eq!(t.pgsql.dbname, "sg");
    }

    #[test]
    fn primary_and_pgsql_together_is_an_error() {
        let text = format!("{GOOD}primary:\n  target: x\n  dbname: y\n  username: z\n");
        let (line, _, message, hint) = parse_err(&text);
        assert_eq!(line, Some(16), "{message}");
        assert!(message.contains("duplicate key `primary`"), "{message}");
        assert!(hint.contains("old name"), "{hint}");
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = GOOD.replace("  port: 5433", "  prot: 5433");
        let (line, column, message, hint) = parse_err(&text);
        assert_eq!((line, column), (Some(10), Some(3)));
        assert!(message.contains("codeintel: unknown field `prot`"), "{message}");
        assert!(hint.contains("target, dbname, username"), "{hint}");

        let (line, _, message, hint) = parse_err(&format!("{GOOD}frontend:\n  target: x\n"));
        assert_eq!(line, Some(16));
        assert!(message.starts_with("unknown field `frontend`"), "{message}");
        assert!(
            hint.contains("pgsql (or primary), codeintel and codeinsights"),
            "{hint}"
        );
    }

    #[test]
    fn missing_field_names_section_and_field() {
        let text = GOOD.replace("  dbname: sg_codeintel\n", "");
        let (line, _, message, hint) = parse_err(&text);
        assert_eq!(line, Some(7));
        assert_eq!(message, "codeintel: missing field `dbname`");
        assert_eq!(hint, "add `dbname: …` to this section");

        let text: String = GOOD.lines().take(10).map(|l| format!("{l}\n")).collect();
        let (_, _, message, hint) = parse_err(&text);
        assert!(message.contains("missing field `codeinsights`"), "{message}");
        assert!(hint.contains("codeinsights:"), "{hint}");
    }

    #[test]
    fn full_error_text_names_file_line_field() {
        let text = GOOD.replace("dbname: sg_codeintel", "dbname: \"host=evil dbname=x\"");
        let err = parse(&text).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "invalid targets file targets.yaml at line 8, column 11: codeintel.dbname: dbname \"host=evil dbname=x\" \
             contains '=', so libpq would read it as a connection string, not a database name; \
             hint: fix the value in the file; values are passed to pg_dump verbatim and must be plain names"
        );
    }

    #[test]
    fn refused_values() {
        let cases = [
            (
                "target: db.internal",
                "target: -oProxyCommand=x",
                "starts with '-'",
            ),
            ("target: db.internal", "target: \"--help\"", "starts with '-'"),
            ("dbname: sg\n", "dbname: postgres://u@h/db\n", "postgres:// URI"),
            ("dbname: sg\n", "dbname: PostgreSQL://h/db\n", "postgres:// URI"),
            ("dbname: sg\n", "dbname: \"sg\\nx\"\n", "control character"),
            ("dbname: sg\n", "dbname: \"sg\\0\"\n", "control character"),
            ("dbname: sg\n", "dbname: ''\n", "is empty"),
            ("username: sg\n", "username: --superuser\n", "starts with '-'"),
            ("username: sg\n", "username: \"a\\tb\"\n", "control character"),
            ("password: s3cret", "password: \"s3\\ncret\"", "control character"),
            ("password: s3cret", "password: ''", "is empty"),
            ("port: 5433", "port: 0", "not between 1 and 65535"),
            ("port: 5433", "port: 70000", "not between 1 and 65535"),
            ("port: 5433", "port: 54x", "not a number"),
        ];
        for (from, to, why) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from}");
            let (line, column, message, _) = parse_err(&text);
            assert!(message.contains(why), "{to}: {message}");
            assert!(line.is_some() && column.is_some(), "{to}: no location");
            assert!(!message.contains("s3"), "password echoed: {message}");
        }
    }

    #[test]
    fn accepted_odd_values() {
        // Shell metacharacters are fine: values never pass through a shell.
        let text = GOOD
            .replace("dbname: sg\n", "dbname: \"sg; rm -rf / `id` $(touch /tmp/x)\"\n")
            .replace("port: 5433", "port: '5433'")
            .replace("username: postgres", "username: 12345");
        let t = parse(&text).expect("parse");
        assert_eq!(t.pgsql.dbname, "sg; rm -rf / `id` $(touch /tmp/x)");
        assert_eq!(t.codeintel.port, Some(5433));
        assert_eq!(t.codeinsights.username, "12345");
    }

    #[test]
    fn empty_and_bad_documents() {
        assert!(matches!(parse("# nothing\n\n"), Err(TargetsError::Empty { .. })));
        let (_, _, message, _) = parse_err("pgsql: [1\n");
        assert!(!message.is_empty());
        let (line, _, message, _) = parse_err("- a\n- b\n");
        assert_eq!(line, Some(1));
        assert!(message.contains("invalid type"), "{message}");
        let (_, _, _, hint) = parse_err(&format!("{GOOD}---\n{GOOD}"));
        assert!(hint.contains("single YAML document"), "{hint}");
    }

    #[test]
    fn presets_match_src_cli() {
        let local = Targets::preset("local").expect("local");
        assert_eq!(local.pgsql.target, "");
        assert_eq!(
            (local.pgsql.dbname.as_str(), local.pgsql.username.as_str()),
            ("sg", "sg")
        );
        let docker = Targets::preset("docker").expect("docker");
        assert_eq!(docker.codeintel.target, "codeintel-db");
        assert_eq!(docker.codeinsights.dbname, "postgres");
        assert_eq!(
            docker.codeinsights.password.as_ref().map(Password::expose),
            Some("password")
        );
        let k8s = Targets::preset("k8s").expect("k8s");
        assert_eq!(k8s.pgsql.target, "statefulset/pgsql");
        assert_eq!(k8s.source, TargetsSource::Preset("k8s"));
        assert!(matches!(
            Targets::preset("kube"),
            Err(TargetsError::UnknownPreset { .. })
        ));
        assert!(matches!(
            Targets::resolve("/nonexistent/targets.yaml"),
            Err(TargetsError::NotFound { .. })
        ));
    }

    #[test]
    fn password_env_overrides() {
        let mut t = Targets::preset("docker").expect("docker");
        let changed = t
            .apply_password_overrides(|v| match v {
                "PGSQL_PASSWORD" => Some("from env".into()),
                "CODEINTEL_PASSWORD" => Some("".into()),
                _ => None,
            })
            .expect("apply");
        assert_eq!(changed, vec![DbRole::Pgsql]);
        assert_eq!(t.pgsql.password.as_ref().map(Password::expose), Some("from env"));
        assert_eq!(t.codeintel.password.as_ref().map(Password::expose), Some("sg"));
        let err = t
            .apply_password_overrides(|v| (v == "CODEINSIGHTS_PASSWORD").then(|| "a\nb".into()))
            .expect_err("newline");
        assert_eq!(
            err.to_string(),
            "environment variable CODEINSIGHTS_PASSWORD contains a control character (newline, tab, NUL, …)"
        );
    }

    #[test]
    fn password_is_redacted() {
        let p = Password::new("hunter2").expect("password");
        assert_eq!(format!("{p} {p:?}"), "*** Password(***)");
        let t = parse(GOOD).expect("parse");
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
