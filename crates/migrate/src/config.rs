//! `migration.yaml`: one file that describes a whole migration. Every field
//! but `side` has a default that fits the runbook; unknown keys are refused
//! with the file, line and column. No secret belongs in it: tokens come from
//! environment variables or token files, passwords from the environment, a
//! pgpass file or a password file.

use std::path::{Path, PathBuf};

use std::fmt;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::MigrateError;

/// The file name `migrate` looks for by default.
pub const DEFAULT_CONFIG: &str = "migration.yaml";

/// Which half of the runbook a machine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The customer's site admin: preflight, notice, dumps, summary, upload, verify.
    Customer,
    /// The operator: verify, reset, import, compare, upgrade plan, migrator, test, notice removal.
    Operator,
    /// Both halves on one machine (demos, tests, an operator with access to both sides).
    Both,
}

impl Side {
    /// Whether this side runs `party`'s steps.
    pub fn includes(self, party: Party) -> bool {
        matches!(
            (self, party),
            (Side::Both, _) | (Side::Customer, Party::Customer) | (Side::Operator, Party::Operator)
        )
    }

    /// `customer`, `operator` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Customer => "customer",
            Side::Operator => "operator",
            Side::Both => "both",
        }
    }
}

/// Who runs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    /// The customer's site admin.
    Customer,
    /// The operator of the managed instance.
    Operator,
}

impl Party {
    /// `customer` or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Customer => "customer",
            Party::Operator => "operator",
        }
    }
}

/// How pg_dump reaches the source databases (`databases <mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DumpMode {
    /// pg_dump on this machine.
    #[serde(rename = "pg_dump")]
    PgDump,
    /// `docker exec` into the database containers.
    #[serde(rename = "docker")]
    Docker,
    /// `kubectl exec` into the database pods.
    #[serde(rename = "kubectl")]
    Kubectl,
}

impl DumpMode {
    /// pgdump's mode.
    pub fn mode(self) -> pgdump::Mode {
        match self {
            DumpMode::PgDump => pgdump::Mode::PgDump,
            DumpMode::Docker => pgdump::Mode::Docker,
            DumpMode::Kubectl => pgdump::Mode::Kubectl,
        }
    }
}

/// A whole migration, as written in `migration.yaml`.
///
/// ```yaml
/// side: customer                 # customer | operator | both (required)
/// name: acme                     # report title
/// snapshot_dir: src-snapshot     # dumps, manifest, journal, report
/// bucket: gs://acme-migration    # NAME, gs://NAME[/PREFIX] or file:///PATH
/// credentials: credential.json   # service-account key (not needed for file:// or an emulator)
/// jobs: 4
/// gzip: false
/// source:
///   targets: docker              # local | docker | k8s | a targets YAML file
///   mode: docker                 # pg_dump | docker | kubectl (default: from the preset)
///   instance: {endpoint: https://sourcegraph.acme.com, token_env: SRC_ACCESS_TOKEN}
/// target:
///   url: postgres://admin@127.0.0.1:5432/postgres
///   databases: {pgsql: pgsql, codeintel: codeintel-db, codeinsights: codeinsights-db}
///   instance: {endpoint: https://acme.sourcegraphcloud.com, token_file: target-token}
/// migrator: {to: "5.3.0"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationConfig {
    /// Which half of the runbook this machine runs.
    pub side: Side,
    /// A name for the migration, shown in the runbook and the report.
    #[serde(default = "default_name")]
    pub name: String,
    /// The snapshot folder: dumps, `manifest.json`, `summary.json`, the
    /// journal (`migration-journal.json`), step records (`migration/`) and the report.
    #[serde(default = "default_snapshot_dir")]
    pub snapshot_dir: PathBuf,
    /// The bucket: `NAME`, `gs://NAME[/PREFIX]` or `file:///PATH`.
    #[serde(default, deserialize_with = "de_bucket")]
    pub bucket: Option<String>,
    /// A service-account key JSON file for the bucket (the customer's is
    /// write-only; the operator's can read). Not needed for `file://` or
    /// with `STORAGE_EMULATOR_HOST`.
    #[serde(default)]
    pub credentials: Option<PathBuf>,
    /// Parallel work: files uploaded at once, connections importing and comparing.
    #[serde(default = "default_jobs", deserialize_with = "de_jobs")]
    pub jobs: usize,
    /// Upload the dumps gzipped (`NAME.sql.gz`).
    #[serde(default)]
    pub gzip: bool,
    /// gzip level, 1 (fastest) to 9 (smallest).
    #[serde(default = "default_gzip_level", deserialize_with = "de_gzip_level")]
    pub gzip_level: u32,
    /// The customer's databases and instance.
    #[serde(default)]
    pub source: SourceConfig,
    /// The managed databases and instance.
    #[serde(default)]
    pub target: TargetConfig,
    /// The runbook's site notice.
    #[serde(default)]
    pub notice: NoticeConfig,
    /// Upgrading the imported databases with Sourcegraph's migrator.
    #[serde(default)]
    pub migrator: MigratorConfig,
    /// The acceptance test.
    #[serde(default)]
    pub test: TestConfig,
    /// Steps not to run (recorded as skipped), e.g. `[notice-add, notice-remove]`
    /// when the notice is handled by hand.
    #[serde(default, deserialize_with = "de_steps")]
    pub skip_steps: Vec<String>,
}

/// The customer's databases and Sourcegraph instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A preset (`local`, `docker`, `k8s`) or a targets YAML file (src-cli's format).
    #[serde(default = "default_targets")]
    pub targets: String,
    /// How pg_dump reaches the databases; default: `docker` for the docker
    /// preset, `kubectl` for k8s, else `pg_dump`.
    #[serde(default)]
    pub mode: Option<DumpMode>,
    /// The pg_dump program (inside the container or pod for docker and kubectl).
    #[serde(default = "default_pg_dump")]
    pub pg_dump: String,
    /// The customer's Sourcegraph instance (preflight, notice, summary).
    #[serde(default)]
    pub instance: Option<InstanceConfig>,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            targets: default_targets(),
            mode: None,
            pg_dump: default_pg_dump(),
            instance: None,
        }
    }
}

impl SourceConfig {
    /// The dump mode: as given, else from the preset.
    pub fn dump_mode(&self) -> pgdump::Mode {
        match self.mode {
            Some(m) => m.mode(),
            None => match self.targets.as_str() {
                "docker" => pgdump::Mode::Docker,
                "k8s" => pgdump::Mode::Kubectl,
                _ => pgdump::Mode::PgDump,
            },
        }
    }
}

/// The managed databases and Sourcegraph instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The target server: `postgres://USER@HOST:PORT/DB` (no password in it).
    #[serde(default, deserialize_with = "de_target_url")]
    pub url: Option<String>,
    /// The variable holding the target user's password (`PGPASSWORD`, or pgpass, by default).
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// A file whose first line is the target user's password (instead of `password_env`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The target database of each role.
    #[serde(default)]
    pub databases: DatabaseNames,
    /// The target server's major version (for the sanitizer at upload).
    #[serde(default = "default_target_major")]
    pub major: u32,
    /// Let `reset` drop databases that do not look like Sourcegraph's and end their sessions.
    #[serde(default)]
    pub reset_force: bool,
    /// Where `import` spools table data read from the bucket (default: the system's temp folder).
    #[serde(default)]
    pub spool_dir: Option<PathBuf>,
    /// The managed Sourcegraph instance (acceptance test, notice removal).
    #[serde(default)]
    pub instance: Option<InstanceConfig>,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            url: None,
            password_env: default_password_env(),
            password_file: None,
            databases: DatabaseNames::default(),
            major: default_target_major(),
            reset_force: false,
            spool_dir: None,
            instance: None,
        }
    }
}

/// The target database name of each role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseNames {
    /// The frontend database (default `pgsql`).
    #[serde(default = "default_pgsql", deserialize_with = "de_db_name")]
    pub pgsql: String,
    /// The code-intelligence database (default `codeintel-db`).
    #[serde(default = "default_codeintel", deserialize_with = "de_db_name")]
    pub codeintel: String,
    /// The code-insights database (default `codeinsights-db`).
    #[serde(default = "default_codeinsights", deserialize_with = "de_db_name")]
    pub codeinsights: String,
}

impl Default for DatabaseNames {
    fn default() -> Self {
        DatabaseNames {
            pgsql: default_pgsql(),
            codeintel: default_codeintel(),
            codeinsights: default_codeinsights(),
        }
    }
}

impl DatabaseNames {
    /// Each role with its target database.
    pub fn roles(&self) -> Vec<(pgdump::DbRole, String)> {
        vec![
            (pgdump::DbRole::Pgsql, self.pgsql.clone()),
            (pgdump::DbRole::Codeintel, self.codeintel.clone()),
            (pgdump::DbRole::Codeinsights, self.codeinsights.clone()),
        ]
    }

    /// The `--databases=` value of the commands (`pgsql=NAME,…`).
    pub fn flag(&self) -> String {
        format!(
            "pgsql={},codeintel={},codeinsights={}",
            self.pgsql, self.codeintel, self.codeinsights
        )
    }

    /// Whether these are the runbook's names.
    pub fn are_default(&self) -> bool {
        *self == DatabaseNames::default()
    }
}

/// A Sourcegraph instance's API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// The URL users open, e.g. `https://sourcegraph.example.com`.
    #[serde(deserialize_with = "de_endpoint")]
    pub endpoint: String,
    /// The environment variable holding a site admin's access token
    /// (default `SRC_ACCESS_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// A file whose first line is the token (instead of `token_env`).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

impl InstanceConfig {
    /// The variable the token is read from when there is no token file.
    pub fn token_var(&self) -> &str {
        self.token_env.as_deref().unwrap_or("SRC_ACCESS_TOKEN")
    }

    /// A client: src-cli's environment (`SRC_HEADER_*`), this endpoint and this token.
    ///
    /// # Errors
    /// No token in the variable, an unreadable token file, or a bad endpoint.
    pub fn client(&self) -> Result<sgapi::Client, sgapi::ApiError> {
        let mut opts = sgapi::ClientOptions::from_env();
        opts.endpoint = Some(self.endpoint.clone());
        opts.token = match &self.token_file {
            Some(f) => Some(sgapi::Token::from_file(f)?),
            None => std::env::var(self.token_var())
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(sgapi::Token::new),
        };
        sgapi::Client::new(opts)
    }
}

/// The runbook's site notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeConfig {
    /// Put the notice up before the dumps and take it down after the test.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The notice text (Markdown); found again by it to remove it.
    #[serde(default = "default_message")]
    pub message: String,
}

impl Default for NoticeConfig {
    fn default() -> Self {
        NoticeConfig {
            enabled: true,
            message: default_message(),
        }
    }
}

/// Upgrading the imported databases to the managed instance's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigratorConfig {
    /// The version the managed instance runs (`5.3`, `5.3.12303`); without it
    /// the upgrade plan is skipped.
    #[serde(default, deserialize_with = "de_version")]
    pub to: Option<String>,
    /// Run the migrator (otherwise its command is printed for a person to run).
    #[serde(default)]
    pub run: bool,
    /// The program and leading arguments that run the migrator; the plan's
    /// arguments (`up`, or `upgrade --from=X.Y --to=A.B`) are appended.
    /// `{image}`, `{tag}`, `{from}` and `{to}` are replaced, e.g.
    /// `[docker, run, --rm, --env-file, .env, --network, docker-compose_sourcegraph, "{image}"]`.
    #[serde(default = "default_migrator_command", deserialize_with = "de_command")]
    pub command: Vec<String>,
    /// The docker-compose network for the printed `docker run` form.
    #[serde(default = "default_network")]
    pub network: String,
}

impl Default for MigratorConfig {
    fn default() -> Self {
        MigratorConfig {
            to: None,
            run: false,
            command: default_migrator_command(),
            network: default_network(),
        }
    }
}

/// The acceptance test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    /// Health-check window, a Go duration (`1h`, `30m`).
    #[serde(default = "default_since", deserialize_with = "de_since")]
    pub since: String,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            since: default_since(),
        }
    }
}

fn default_name() -> String {
    "sourcegraph".into()
}
fn default_snapshot_dir() -> PathBuf {
    PathBuf::from("src-snapshot")
}
fn default_jobs() -> usize {
    4
}
fn default_gzip_level() -> u32 {
    3
}
fn default_targets() -> String {
    "local".into()
}
fn default_pg_dump() -> String {
    "pg_dump".into()
}
fn default_password_env() -> String {
    "PGPASSWORD".into()
}
fn default_target_major() -> u32 {
    16
}
fn default_pgsql() -> String {
    pgdump::DbRole::Pgsql.import_database_name().into()
}
fn default_codeintel() -> String {
    pgdump::DbRole::Codeintel.import_database_name().into()
}
fn default_codeinsights() -> String {
    pgdump::DbRole::Codeinsights.import_database_name().into()
}
fn default_true() -> bool {
    true
}
fn default_message() -> String {
    sgapi::DEFAULT_MESSAGE.into()
}
fn default_migrator_command() -> Vec<String> {
    vec!["migrator".into()]
}
fn default_network() -> String {
    "docker-compose_sourcegraph".into()
}
fn default_since() -> String {
    "1h".into()
}

// Values are checked inside the visitors: serde_yaml_ng gives an error
// raised there the value's line and column (one raised after the value was
// read would point at the document's start).

type Check = fn(&str) -> Result<String, String>;

/// A string (or a plain scalar YAML would read as a number) passed through a check.
struct StrVisitor(Check, &'static str);

impl Visitor<'_> for StrVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        (self.0)(s).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
}

struct StrSeed(Check, &'static str);

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(StrVisitor(self.0, self.1))
    }
}

struct OptVisitor(Check, &'static str);

impl<'de> Visitor<'de> for OptVisitor {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        StrSeed(self.0, self.1).deserialize(d).map(Some)
    }
}

struct ListVisitor(Check, &'static str);

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of {}", self.1)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrSeed(self.0, self.1))? {
            out.push(v);
        }
        Ok(out)
    }
}

/// A whole number in a range.
struct NumVisitor(u64, u64, &'static str);

impl Visitor<'_> for NumVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {} to {}", self.2, self.0, self.1)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v < self.0 || v > self.1 {
            return Err(E::custom(format!(
                "{} must be between {} and {}, not {v}",
                self.2, self.0, self.1
            )));
        }
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "{} must be between {} and {}, not {v}",
                self.2, self.0, self.1
            ))),
        }
    }
}

fn check_bucket(s: &str) -> Result<String, String> {
    bucket::Location::parse(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn check_target_url(s: &str) -> Result<String, String> {
    // Parsing also refuses a password in the URL (it would sit in the file).
    pgload::ConnSpec::from_url(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn check_db_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err("a database name must be non-empty, without control characters".into());
    }
    Ok(s.to_string())
}

fn check_endpoint(s: &str) -> Result<String, String> {
    let t = s.trim();
    if !(t.starts_with("http://") || t.starts_with("https://")) {
        return Err(format!(
            "endpoint {t:?} must be an http:// or https:// URL (the address users open)"
        ));
    }
    Ok(t.trim_end_matches('/').to_string())
}

fn check_version(s: &str) -> Result<String, String> {
    sgapi::upgrade::release(sgapi::upgrade::End::Target, s).map_err(|e| e.to_string())?;
    Ok(s.trim().to_string())
}

fn check_since(s: &str) -> Result<String, String> {
    sgapi::time::parse_go_duration(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn check_step(s: &str) -> Result<String, String> {
    match crate::step::StepId::parse(s) {
        Some(step) => Ok(step.name().to_string()),
        None => Err(format!(
            "unknown step {s:?}; steps: {}",
            crate::step::StepId::names().join(", ")
        )),
    }
}

fn check_arg(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

fn de_bucket<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptVisitor(
        check_bucket,
        "a bucket: NAME, gs://NAME[/PREFIX] or file:///PATH",
    ))
}

fn de_jobs<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    d.deserialize_u64(NumVisitor(1, 64, "jobs")).map(|v| v as usize)
}

fn de_gzip_level<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    d.deserialize_u64(NumVisitor(1, 9, "gzip_level"))
        .map(|v| v as u32)
}

fn de_target_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptVisitor(check_target_url, "postgres://USER@HOST:PORT/DB"))
}

fn de_db_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(StrVisitor(check_db_name, "a database name"))
}

fn de_endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(StrVisitor(check_endpoint, "an http(s):// URL"))
}

fn de_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptVisitor(
        check_version,
        "a Sourcegraph version such as 5.3 or 5.3.12303",
    ))
}

fn de_command<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list: the program and its first arguments")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
            let v = ListVisitor(check_arg, "arguments").visit_seq(seq)?;
            if v.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(de::Error::custom(
                    "command needs at least the program, e.g. [migrator] or [docker, run, …, \"{image}\"]",
                ));
            }
            Ok(v)
        }
    }
    d.deserialize_seq(V)
}

fn de_since<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(StrVisitor(check_since, "a Go duration such as 1h or 30m"))
}

fn de_steps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_seq(ListVisitor(check_step, "step names"))
}

impl MigrationConfig {
    /// Every field at its default, for `side`.
    pub fn with_defaults(side: Side) -> MigrationConfig {
        MigrationConfig {
            side,
            name: default_name(),
            snapshot_dir: default_snapshot_dir(),
            bucket: None,
            credentials: None,
            jobs: default_jobs(),
            gzip: false,
            gzip_level: default_gzip_level(),
            source: SourceConfig::default(),
            target: TargetConfig::default(),
            notice: NoticeConfig::default(),
            migrator: MigratorConfig::default(),
            test: TestConfig::default(),
            skip_steps: Vec::new(),
        }
    }

    /// Reads and checks `path`; relative paths in it are taken from the
    /// file's folder.
    ///
    /// # Errors
    /// [`MigrateError::ConfigIo`] when unreadable, [`MigrateError::Config`]
    /// with line and column for bad YAML, an unknown key or a refused value.
    pub fn load(path: &Path) -> Result<MigrationConfig, MigrateError> {
        let text = std::fs::read_to_string(path).map_err(|source| MigrateError::ConfigIo {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = MigrationConfig::parse(&text, path)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base = std::path::absolute(&base).unwrap_or(base);
        cfg.resolve_paths(&base);
        Ok(cfg)
    }

    /// Parses YAML text; `path` only names the file in errors. Paths stay as written.
    ///
    /// # Errors
    /// As [`MigrationConfig::load`].
    pub fn parse(text: &str, path: &Path) -> Result<MigrationConfig, MigrateError> {
        let blank = text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "---"
        });
        if blank {
            return Err(MigrateError::Config {
                path: path.to_path_buf(),
                line: None,
                column: None,
                message: "the file is empty".into(),
                hint: Some("it needs at least `side: customer`, `side: operator` or `side: both`".into()),
            });
        }
        serde_yaml_ng::from_str(text).map_err(|e| config_error(path, &e))
    }

    /// Makes relative paths absolute from `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.snapshot_dir);
        if let Some(c) = &mut self.credentials {
            fix(c);
        }
        if let Some(p) = &mut self.target.password_file {
            fix(p);
        }
        if let Some(p) = &mut self.target.spool_dir {
            fix(p);
        }
        for inst in [&mut self.source.instance, &mut self.target.instance]
            .into_iter()
            .flatten()
        {
            if let Some(f) = &mut inst.token_file {
                fix(f);
            }
        }
        if !pgdump::PRESETS.contains(&self.source.targets.as_str()) {
            let p = Path::new(&self.source.targets);
            if p.is_relative() {
                self.source.targets = base.join(p).display().to_string();
            }
        }
        // A path-like pg_dump (./bin/pg_dump) is relative to the file too; a bare name is looked up on PATH.
        if self.source.mode.is_none_or(|m| m == DumpMode::PgDump)
            && self.source.pg_dump.contains('/')
            && Path::new(&self.source.pg_dump).is_relative()
        {
            self.source.pg_dump = base.join(&self.source.pg_dump).display().to_string();
        }
    }

    /// Whether `step` is listed in `skip_steps`.
    pub fn skips(&self, step: crate::step::StepId) -> bool {
        self.skip_steps
            .iter()
            .any(|s| crate::step::StepId::parse(s) == Some(step))
    }

    /// The target connection: the URL, with the password from
    /// `password_file`, `password_env`, or libpq's `PGPASSWORD`/pgpass.
    ///
    /// # Errors
    /// No `target.url`, or an unreadable password file.
    pub fn target_conn(&self) -> Result<pgload::ConnSpec, MigrateError> {
        let url = self.target.url.as_deref().ok_or(MigrateError::Missing {
            field: "target.url",
            why: "the operator's steps reach the target through it (postgres://USER@HOST:PORT/postgres)",
        })?;
        let mut spec = pgload::ConnSpec::from_url(url).map_err(|e| MigrateError::Invalid {
            field: "target.url",
            message: e.to_string(),
        })?;
        if let Some(f) = &self.target.password_file {
            let text = std::fs::read_to_string(f).map_err(|source| MigrateError::Io {
                path: f.clone(),
                source,
            })?;
            let pw = text.lines().next().unwrap_or_default().to_string();
            if pw.is_empty() {
                return Err(MigrateError::Invalid {
                    field: "target.password_file",
                    message: format!("{} is empty", f.display()),
                });
            }
            spec = spec.with_password(pw);
        } else if self.target.password_env != "PGPASSWORD" {
            if let Some(pw) = std::env::var(&self.target.password_env)
                .ok()
                .filter(|p| !p.is_empty())
            {
                spec = spec.with_password(pw);
            }
        }
        Ok(spec)
    }

    /// The source targets (preset or file) with passwords from `PGSQL_PASSWORD` & co.
    ///
    /// # Errors
    /// The targets cannot be read.
    pub fn source_targets(&self) -> Result<pgdump::Targets, MigrateError> {
        let mut t = pgdump::Targets::resolve(&self.source.targets)?;
        t.apply_password_env()?;
        Ok(t)
    }
}

fn config_error(path: &Path, e: &serde_yaml_ng::Error) -> MigrateError {
    let (line, column) = match e.location() {
        Some(l) => (Some(l.line()), Some(l.column())),
        None => (None, None),
    };
    let mut message = e.to_string();
    if let (Some(l), Some(c)) = (line, column) {
        for suffix in [
            format!(" at line {l} column {c}"),
            format!(", line {l} column {c}"),
        ] {
            if let Some(s) = message.strip_suffix(&suffix) {
                message = s.to_string();
            }
        }
    }
    let hint = if message.contains("unknown field `token`")
        || message.contains("unknown field `access_token`")
    {
        Some("a token never goes in this file: name its environment variable with token_env, or a file holding it with token_file".to_string())
    } else if message.contains("unknown field `password`") {
        Some("a password never goes in this file: use target.password_env (default PGPASSWORD), target.password_file or ~/.pgpass".to_string())
    } else if message.contains("unknown field") {
        Some("see docs/MIGRATE.md for every field".to_string())
    } else if message.contains("missing field `side`") {
        Some("add `side: customer`, `side: operator` or `side: both`".to_string())
    } else {
        None
    };
    MigrateError::Config {
        path: path.to_path_buf(),
        line,
        column,
        message,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MigrationConfig, MigrateError> {
        MigrationConfig::parse(text, Path::new("migration.yaml"))
    }

    #[test]
    fn defaults_fit_the_runbook() {
        let c = parse("side: customer\n").expect("parses");
        assert_eq!(c.side, Side::Customer);
        assert_eq!(c.snapshot_dir, PathBuf::from("src-snapshot"));
        assert_eq!(c.jobs, 4);
        assert!(!c.gzip);
        assert_eq!(c.source.targets, "local");
        assert_eq!(c.source.dump_mode(), pgdump::Mode::PgDump);
        assert_eq!(c.target.databases.pgsql, "pgsql");
        assert_eq!(c.target.databases.codeintel, "codeintel-db");
        assert_eq!(c.target.databases.codeinsights, "codeinsights-db");
        assert_eq!(c.target.major, 16);
        assert!(c.notice.enabled);
        assert_eq!(c.notice.message, sgapi::DEFAULT_MESSAGE);
        assert_eq!(c.migrator.command, ["migrator"]);
        assert_eq!(c.test.since, "1h");
        let d = parse("side: operator\nsource: {targets: docker}\n").expect("parses");
        assert_eq!(d.source.dump_mode(), pgdump::Mode::Docker);
    }

    #[test]
    fn every_field_parses() {
        let c = parse(
            "side: both\nname: acme\nsnapshot_dir: snap\nbucket: gs://bkt/p\ncredentials: key.json\njobs: 2\ngzip: true\ngzip_level: 6\n\
             source:\n  targets: t.yaml\n  mode: pg_dump\n  pg_dump: /usr/bin/pg_dump\n  instance: {endpoint: 'https://sg.example.com/', token_env: SG_TOKEN}\n\
             target:\n  url: postgres://admin@127.0.0.1:5432/postgres\n  password_env: TARGET_PW\n  databases: {pgsql: fe, codeintel: ci, codeinsights: cn}\n  major: 15\n  reset_force: true\n  spool_dir: /tmp/spool\n  instance: {endpoint: https://cloud.example.com, token_file: tok}\n\
             notice: {enabled: false, message: hi}\n\
             migrator: {to: 5.3.0, run: true, command: [docker, run, '{image}'], network: net}\n\
             test: {since: 30m}\nskip_steps: [notice-add]\n",
        )
        .expect("parses");
        assert_eq!(
            c.source.instance.as_ref().map(|i| i.endpoint.as_str()),
            Some("https://sg.example.com")
        );
        assert_eq!(c.target.databases.flag(), "pgsql=fe,codeintel=ci,codeinsights=cn");
        assert!(c.skips(crate::step::StepId::NoticeAdd));
        assert_eq!(c.migrator.to.as_deref(), Some("5.3.0"));
        // A version YAML would read as a float keeps its digits.
        let v = parse("side: operator\nmigrator: {to: 5.10}\n").expect("parses");
        assert_eq!(v.migrator.to.as_deref(), Some("5.10"));
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("refused").to_string()
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let e = err("side: customer\nsource:\n  instance:\n    endpoint: https://x\n    token: sgp_secret\n");
        assert!(e.starts_with("migration.yaml:5:"), "{e}");
        assert!(e.contains("unknown field `token`"), "{e}");
        assert!(e.contains("token_env"), "the hint names the way: {e}");
        let e = err("side: customer\njbos: 3\n");
        assert!(e.starts_with("migration.yaml:2:"), "{e}");
        let e = err("side: customer\njobs: 0\n");
        assert!(e.starts_with("migration.yaml:2:"), "{e}");
        let e = err("side: sideways\n");
        assert!(e.contains("migration.yaml:1:"), "{e}");
        let e = err("side: operator\ntarget:\n  url: postgres://u:pw@h:5432/db\n");
        assert!(e.starts_with("migration.yaml:3:"), "{e}");
        assert!(!e.contains(":pw@"), "the password is not echoed: {e}");
        let e = err("side: operator\nmigrator: {to: 9.99}\n");
        assert!(e.starts_with("migration.yaml:2:"), "{e}");
        let e = err("side: operator\nskip_steps: [nope]\n");
        assert!(e.contains("unknown step"), "{e}");
        let e = err("name: x\n");
        assert!(e.contains("missing field `side`"), "{e}");
        let e = err("# nothing\n");
        assert!(e.contains("empty"), "{e}");
        let e = err("side: customer\ntest: {since: soon}\n");
        assert!(e.starts_with("migration.yaml:2:"), "{e}");
        let e = err("side: customer\nbucket: s3://x\n");
        assert!(e.starts_with("migration.yaml:2:"), "{e}");
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_folder() {
        let mut c = parse(
            "side: both\ncredentials: key.json\nsource: {targets: t.yaml}\ntarget: {password_file: pw}\n",
        )
        .expect("parses");
        c.resolve_paths(Path::new("/etc/mig"));
        assert_eq!(c.snapshot_dir, PathBuf::from("/etc/mig/src-snapshot"));
        assert_eq!(c.credentials, Some(PathBuf::from("/etc/mig/key.json")));
        assert_eq!(c.source.targets, "/etc/mig/t.yaml");
        assert_eq!(c.target.password_file, Some(PathBuf::from("/etc/mig/pw")));
        let mut p = parse("side: both\nsource: {targets: docker}\n").expect("parses");
        p.resolve_paths(Path::new("/etc/mig"));
        assert_eq!(p.source.targets, "docker", "presets stay presets");
    }
}
