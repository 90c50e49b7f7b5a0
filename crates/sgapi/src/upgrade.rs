//! Planning the migrator run that brings imported databases up to the
//! managed instance's version (REFERENCE §4), without I/O.
//!
//! - A standard upgrade is one minor forward, or from a major's last minor
//!   (3.43, 4.5, 5.11, 6.12) to the next major's `.0`; the patch never
//!   matters. Staying on the same minor is also `migrator up`.
//! - Anything further is a multi-version upgrade, `migrator upgrade
//!   --from=X.Y --to=A.B`, which starts at 3.20 at the earliest.
//! - Downgrades, dev builds, releases not in [`RELEASES`] and dirty
//!   databases (the latest `migration_logs` row of a version failed or
//!   never finished) cannot be planned.
//!
//! ```
//! use sgapi::upgrade::{plan_upgrade, MigratorCommand};
//!
//! assert_eq!(plan_upgrade("5.1.0", "v5.2.7")?.command, MigratorCommand::Up);
//! assert_eq!(plan_upgrade("5.1.0", "5.3.12303")?.command.command_line(), "migrator upgrade --from=5.1 --to=5.3");
//! assert!(plan_upgrade("5.3.0", "5.2.0").is_err());
//! # Ok::<(), sgapi::upgrade::PlanError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::version::{ProductVersion, Version, VersionError};

/// Known Sourcegraph releases: each major with its last minor. For the
/// newest major it is the newest known minor, not necessarily its last.
pub const RELEASES: &[(u32, u32)] = &[(3, 43), (4, 5), (5, 11), (6, 12), (7, 6)];

/// The oldest version `migrator upgrade` starts from.
pub const OLDEST_UPGRADE_FROM: Minor = Minor::new(3, 20);

/// The first release with a migrator; before it the frontend migrated at startup.
pub const FIRST_MIGRATOR: Minor = Minor::new(3, 37);

/// The first release whose migrator has the `upgrade` command.
pub const FIRST_UPGRADE_COMMAND: Minor = Minor::new(4, 0);

/// The migrator's image.
pub const MIGRATOR_IMAGE: &str = "sourcegraph/migrator";

/// A minor release `major.minor`, what upgrades are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minor {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl Minor {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Minor {
        Minor { major, minor }
    }

    /// The minor of a version (its patch dropped).
    pub const fn of(v: Version) -> Minor {
        Minor::new(v.major, v.minor)
    }

    /// Whether it is in [`RELEASES`].
    pub fn is_known(self) -> bool {
        RELEASES
            .iter()
            .any(|&(major, last)| major == self.major && self.minor <= last)
    }

    /// The next standard upgrade: one minor forward, or the next major's
    /// `.0` after a major's last minor. `None` when that is not a known release.
    pub fn next(self) -> Option<Minor> {
        if !self.is_known() {
            return None;
        }
        let newest_major = RELEASES.last().map(|r| r.0);
        let last = RELEASES.iter().find(|r| r.0 == self.major).map(|r| r.1)?;
        let next = if self.minor == last && Some(self.major) != newest_major {
            Minor::new(self.major + 1, 0)
        } else {
            Minor::new(self.major, self.minor + 1)
        };
        next.is_known().then_some(next)
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for Minor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The known releases as text, for messages: `3.0–3.43, 4.0–4.5, …`.
pub fn known_releases() -> String {
    RELEASES
        .iter()
        .map(|(major, last)| format!("{major}.0–{major}.{last}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which end of the upgrade a version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// What the databases hold now.
    Source,
    /// What the instance will run.
    Target,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            End::Source => "source",
            End::Target => "target",
        })
    }
}

/// Why no migrator invocation can be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Not a version string.
    #[error("{end} version: {error}")]
    Invalid {
        /// Which end.
        end: End,
        /// The parse error.
        error: VersionError,
    },
    /// Well formed, but not a release this tool knows.
    #[error(
        "{end} version {given} is not a known Sourcegraph release (known: {})",
        known_releases()
    )]
    UnknownRelease {
        /// Which end.
        end: End,
        /// As given.
        given: String,
    },
    /// A dev or insiders build: its schema matches no release.
    #[error("{end} version {given} is a dev build, not a release: the migrator needs release versions")]
    DevBuild {
        /// Which end.
        end: End,
        /// As given.
        given: String,
    },
    /// Older than the migrator can upgrade from.
    #[error("source version {from} is older than {OLDEST_UPGRADE_FROM}, the oldest version the migrator upgrades from")]
    TooOld {
        /// The source minor.
        from: Minor,
    },
    /// The target is older than the source.
    #[error("{from} → {to} is a downgrade: the databases are already at {from}, newer than the target {to}")]
    Downgrade {
        /// The source minor.
        from: Minor,
        /// The target minor.
        to: Minor,
    },
    /// A database's latest migration attempt failed or never finished.
    #[error("the {} database is dirty: {}", .schema.migrator_db(), dirty_detail(.schema, .failed, .pending))]
    Dirty {
        /// Which schema.
        schema: Schema,
        /// Versions whose latest attempt failed.
        failed: Vec<i64>,
        /// Versions whose latest attempt never finished.
        pending: Vec<i64>,
        /// The repair commands, one per migration.
        add_log: Vec<String>,
    },
}

fn dirty_detail(schema: &Schema, failed: &[i64], pending: &[i64]) -> String {
    let list = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if !failed.is_empty() {
        parts.push(format!("failed migrations {}", list(failed)));
    }
    if !pending.is_empty() {
        parts.push(format!("unfinished migrations {}", list(pending)));
    }
    format!(
        "migration_logs (schema {}) records {}; the migrator refuses to run on it",
        schema.log_schema(),
        parts.join(" and ")
    )
}

impl PlanError {
    /// A short stable name for machines.
    pub fn kind(&self) -> &'static str {
        match self {
            PlanError::Invalid { .. } => "invalid_version",
            PlanError::UnknownRelease { .. } => "unknown_release",
            PlanError::DevBuild { .. } => "dev_build",
            PlanError::TooOld { .. } => "too_old",
            PlanError::Downgrade { .. } => "downgrade",
            PlanError::Dirty { .. } => "dirty",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            PlanError::Invalid { end: End::Source, .. } | PlanError::DevBuild { end: End::Source, .. } => {
                "name the release the databases were last migrated to (the `--from` flag)".into()
            }
            PlanError::Invalid { end: End::Target, .. } => {
                "give the managed instance's release, e.g. 5.3 or v5.3.12303".into()
            }
            PlanError::DevBuild { end: End::Target, .. } => "upgrade to a release, e.g. 5.3 or v5.3.12303".into(),
            PlanError::UnknownRelease { .. } => format!(
                "check the version string; releases newer than {} are not known to this tool yet",
                RELEASES
                    .last()
                    .map(|(a, b)| Minor::new(*a, *b))
                    .unwrap_or(OLDEST_UPGRADE_FROM)
            ),
            PlanError::TooOld { from } => format!(
                "upgrade the source instance to {OLDEST_UPGRADE_FROM} or later first (standard upgrades from {from}), then take a new snapshot"
            ),
            PlanError::Downgrade { from, .. } => format!(
                "the managed instance must run {from} or later; a downgrade needs `migrator downgrade` and is not part of this migration"
            ),
            PlanError::Dirty { add_log, .. } => format!(
                "repair each migration by hand (apply or undo its SQL: Sourcegraph's \"How to troubleshoot a dirty database\"), then record it with {}; plan again afterwards",
                add_log
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// What the migrator is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MigratorCommand {
    /// `migrator up`: a standard upgrade (or the same minor).
    Up,
    /// `migrator upgrade --from=X.Y --to=A.B`: a multi-version upgrade.
    Upgrade {
        /// `--from`.
        from: Minor,
        /// `--to`.
        to: Minor,
    },
}

impl MigratorCommand {
    /// The migrator's arguments.
    pub fn args(&self) -> Vec<String> {
        match self {
            MigratorCommand::Up => vec!["up".into()],
            MigratorCommand::Upgrade { from, to } => {
                vec!["upgrade".into(), format!("--from={from}"), format!("--to={to}")]
            }
        }
    }

    /// `migrator …`, as a person types it.
    pub fn command_line(&self) -> String {
        format!("migrator {}", self.args().join(" "))
    }
}

/// The planned migrator run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradePlan {
    /// The source minor.
    pub from: Minor,
    /// The target minor.
    pub to: Minor,
    /// The target release as given (`5.3.12303`); its patch picks the image tag.
    pub to_version: String,
    /// Standard upgrades between them (0: same minor).
    pub steps: u32,
    /// The minors passed through, `from` and `to` included.
    pub path: Vec<Minor>,
    /// What to run.
    pub command: MigratorCommand,
    /// `sourcegraph/migrator:TAG` to run it with, when a migrator exists for it.
    pub image: Option<String>,
    /// Things a person should know before running it.
    pub notes: Vec<String>,
}

/// Parses one end of an upgrade into a known release (so a bad `--to`
/// can be refused before anything is read).
///
/// # Errors
/// [`PlanError::Invalid`], [`PlanError::DevBuild`] or [`PlanError::UnknownRelease`].
pub fn release(end: End, s: &str) -> Result<Version, PlanError> {
    let given = s.trim().to_string();
    match ProductVersion::parse_strict(s) {
        Err(error) => Err(PlanError::Invalid { end, error }),
        Ok(ProductVersion::Dev(given)) => Err(PlanError::DevBuild { end, given }),
        Ok(ProductVersion::Release(v)) if !Minor::of(v).is_known() => {
            Err(PlanError::UnknownRelease { end, given })
        }
        Ok(ProductVersion::Release(v)) => Ok(v),
    }
}

/// Plans the migrator run from the databases' version `from` to `to`.
///
/// # Errors
/// [`PlanError`] for an unparsable, unknown or dev version, a source older
/// than 3.20, or a downgrade.
pub fn plan_upgrade(from: &str, to: &str) -> Result<UpgradePlan, PlanError> {
    let source = release(End::Source, from)?;
    let target = release(End::Target, to)?;
    let (f, t) = (Minor::of(source), Minor::of(target));
    if f < OLDEST_UPGRADE_FROM {
        return Err(PlanError::TooOld { from: f });
    }
    if t < f {
        return Err(PlanError::Downgrade { from: f, to: t });
    }
    // Both are known and t ≥ f, so the walk reaches t.
    let mut path = vec![f];
    while let Some(&at) = path.last().filter(|m| **m < t) {
        match at.next() {
            Some(n) => path.push(n),
            None => {
                return Err(PlanError::UnknownRelease {
                    end: End::Target,
                    given: to.trim().to_string(),
                })
            }
        }
    }
    let steps = (path.len() - 1) as u32;
    let mut notes = Vec::new();
    let command = if steps <= 1 {
        MigratorCommand::Up
    } else {
        MigratorCommand::Upgrade { from: f, to: t }
    };
    let tag = target;
    let given_patch = to
        .trim()
        .trim_start_matches('v')
        .split(['-', '+'])
        .next()
        .is_some_and(|core| core.split('.').count() == 3);
    if !given_patch {
        notes.push(format!(
            "no patch given: the image tag {tag} assumes the .0 release; use the managed instance's exact release (e.g. {}.{}.N) if it differs",
            t.major, t.minor
        ));
    }
    let image = match command {
        MigratorCommand::Up if t < FIRST_MIGRATOR => {
            notes.push(format!(
                "{t} has no migrator (it arrived in {FIRST_MIGRATOR}): the frontend of {t} applies the migrations when it starts"
            ));
            None
        }
        MigratorCommand::Up => Some(format!("{MIGRATOR_IMAGE}:{tag}")),
        MigratorCommand::Upgrade { .. } if t < FIRST_UPGRADE_COMMAND => {
            notes.push(format!(
                "`migrator upgrade` first shipped in {FIRST_UPGRADE_COMMAND}: run it with a migrator of {FIRST_UPGRADE_COMMAND} or later"
            ));
            Some(format!("{MIGRATOR_IMAGE}:{}.0", FIRST_UPGRADE_COMMAND))
        }
        MigratorCommand::Upgrade { .. } => Some(format!("{MIGRATOR_IMAGE}:{tag}")),
    };
    match steps {
        0 => notes.push(format!("the databases are already at {t}: `up` applies only patch migrations")),
        1 => notes.push(format!("{f} → {t} is one standard upgrade")),
        n => notes.push(format!(
            "{f} → {t} is {n} standard upgrades ({}): a multi-version upgrade, which also runs out-of-band migrations",
            path.iter().map(Minor::to_string).collect::<Vec<_>>().join(" → ")
        )),
    }
    Ok(UpgradePlan {
        from: f,
        to: t,
        to_version: tag.to_string(),
        steps,
        path,
        command,
        image,
        notes,
    })
}

/// One of Sourcegraph's three migration schemas (one per database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schema {
    /// The frontend database (`pgsql`).
    Frontend,
    /// The code-intelligence database.
    Codeintel,
    /// The code-insights database.
    Codeinsights,
}

impl Schema {
    /// All three, in the migrator's order.
    pub const ALL: [Schema; 3] = [Schema::Frontend, Schema::Codeintel, Schema::Codeinsights];

    /// The migrator's `-db` name.
    pub const fn migrator_db(self) -> &'static str {
        match self {
            Schema::Frontend => "frontend",
            Schema::Codeintel => "codeintel",
            Schema::Codeinsights => "codeinsights",
        }
    }

    /// The `schema` column of its `migration_logs` rows.
    pub const fn log_schema(self) -> &'static str {
        match self {
            Schema::Frontend => "schema_migrations",
            Schema::Codeintel => "codeintel_schema_migrations",
            Schema::Codeinsights => "codeinsights_schema_migrations",
        }
    }

    /// The prefix of the migrator's environment variables (`PGHOST`, `CODEINTEL_PGHOST`, …).
    pub const fn env_prefix(self) -> &'static str {
        match self {
            Schema::Frontend => "",
            Schema::Codeintel => "CODEINTEL_",
            Schema::Codeinsights => "CODEINSIGHTS_",
        }
    }
}

/// One `migration_logs` row (the columns planning needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationLogEntry {
    /// `id` (orders rows that started at the same time).
    pub id: i64,
    /// `schema`.
    pub schema: String,
    /// `version` (the migration's id).
    pub version: i64,
    /// `up` (false: a down migration).
    pub up: bool,
    /// `started_at` in microseconds since the Unix epoch.
    pub started_at_micros: Option<i64>,
    /// `success`: NULL while running (or after the migrator died).
    pub success: Option<bool>,
    /// `error_message`.
    pub error_message: Option<String>,
}

/// Why a migration makes its database dirty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DirtyKind {
    /// Its latest attempt failed.
    Failed,
    /// Its latest attempt never finished.
    Pending,
}

/// A migration whose latest attempt failed or never finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirtyMigration {
    /// The migration.
    pub version: i64,
    /// Its direction.
    pub up: bool,
    /// Failed or pending.
    pub kind: DirtyKind,
    /// The recorded error.
    pub error_message: Option<String>,
    /// The `migrator add-log …` that records it once repaired by hand.
    pub add_log: String,
}

/// The migration state of one database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaState {
    /// Which schema.
    pub schema: Schema,
    /// Its `migration_logs.schema` value.
    pub log_schema: &'static str,
    /// Whether the database has a `migration_logs` table.
    pub has_migration_logs: bool,
    /// Rows of this schema.
    pub rows: usize,
    /// Versions whose latest row is a successful up migration.
    pub applied: usize,
    /// The newest of those.
    pub latest_applied: Option<i64>,
    /// Versions whose latest attempt failed or never finished, by version.
    pub dirty: Vec<DirtyMigration>,
}

impl SchemaState {
    /// The state from `migration_logs` rows (`None`: the table is absent).
    /// As the migrator does, the latest row of each version (by
    /// `started_at`, then `id`) decides: applied, failed or pending.
    pub fn from_logs(schema: Schema, logs: Option<&[MigrationLogEntry]>) -> SchemaState {
        let mut latest: BTreeMap<i64, &MigrationLogEntry> = BTreeMap::new();
        let mut rows = 0;
        for e in logs
            .unwrap_or_default()
            .iter()
            .filter(|e| e.schema == schema.log_schema())
        {
            rows += 1;
            let key = |x: &MigrationLogEntry| (x.started_at_micros.unwrap_or(i64::MIN), x.id);
            latest
                .entry(e.version)
                .and_modify(|cur| {
                    if key(e) > key(cur) {
                        *cur = e;
                    }
                })
                .or_insert(e);
        }
        let mut applied = 0;
        let mut latest_applied = None;
        let mut dirty = Vec::new();
        for (version, e) in latest {
            let kind = match e.success {
                Some(true) => {
                    if e.up {
                        applied += 1;
                        latest_applied = Some(version);
                    }
                    continue;
                }
                Some(false) => DirtyKind::Failed,
                None => DirtyKind::Pending,
            };
            let up = if e.up { "" } else { " -up=false" };
            dirty.push(DirtyMigration {
                version,
                up: e.up,
                kind,
                error_message: e.error_message.clone(),
                add_log: format!(
                    "migrator add-log -db={} -version={version}{up}",
                    schema.migrator_db()
                ),
            });
        }
        SchemaState {
            schema,
            log_schema: schema.log_schema(),
            has_migration_logs: logs.is_some(),
            rows,
            applied,
            latest_applied,
            dirty,
        }
    }

    /// Whether the migrator would refuse it.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// `clean`, `dirty`, `absent` (no `migration_logs` table) or `empty` (no rows of this schema).
    pub fn status(&self) -> &'static str {
        if !self.has_migration_logs {
            "absent"
        } else if self.is_dirty() {
            "dirty"
        } else if self.rows == 0 {
            "empty"
        } else {
            "clean"
        }
    }

    /// The error a dirty database gives, if it is dirty.
    pub fn problem(&self) -> Option<PlanError> {
        if !self.is_dirty() {
            return None;
        }
        let of = |k: DirtyKind| {
            self.dirty
                .iter()
                .filter(|d| d.kind == k)
                .map(|d| d.version)
                .collect::<Vec<_>>()
        };
        Some(PlanError::Dirty {
            schema: self.schema,
            failed: of(DirtyKind::Failed),
            pending: of(DirtyKind::Pending),
            add_log: self.dirty.iter().map(|d| d.add_log.clone()).collect(),
        })
    }
}

/// A reason planning stopped, for output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// [`PlanError::kind`].
    pub kind: &'static str,
    /// The message.
    pub message: String,
    /// What to do.
    pub hint: String,
}

impl From<&PlanError> for Problem {
    fn from(e: &PlanError) -> Problem {
        Problem {
            kind: e.kind(),
            message: e.to_string(),
            hint: e.hint(),
        }
    }
}

/// The version plan and every database's state together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The source version as read or given.
    pub from: String,
    /// The target version as given.
    pub to: String,
    /// The plan, when the versions allow one (even if a database is dirty).
    pub plan: Option<UpgradePlan>,
    /// Each database's migration state.
    pub databases: Vec<SchemaState>,
    /// Why it cannot run now; empty when it can.
    pub problems: Vec<Problem>,
}

impl Assessment {
    /// Plans `from` → `to` and checks every database.
    pub fn new(from: &str, to: &str, databases: Vec<SchemaState>) -> Assessment {
        let mut problems = Vec::new();
        let plan = match plan_upgrade(from, to) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(Problem::from(&e));
                None
            }
        };
        problems.extend(
            databases
                .iter()
                .filter_map(SchemaState::problem)
                .map(|e| Problem::from(&e)),
        );
        Assessment {
            from: from.trim().to_string(),
            to: to.trim().to_string(),
            plan,
            databases,
            problems,
        }
    }

    /// Whether the migrator can run now.
    pub fn ok(&self) -> bool {
        self.plan.is_some() && self.problems.is_empty()
    }
}

/// How the docker-compose form reaches the databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeOptions {
    /// The compose project's network (`docker-compose_sourcegraph`).
    pub network: String,
    /// Each schema's database name (`PGDATABASE`, …).
    pub databases: Vec<(Schema, String)>,
    /// The database user, when known.
    pub user: Option<String>,
}

impl Default for ComposeOptions {
    fn default() -> ComposeOptions {
        ComposeOptions {
            network: "docker-compose_sourcegraph".into(),
            databases: vec![
                (Schema::Frontend, "pgsql".into()),
                (Schema::Codeintel, "codeintel-db".into()),
                (Schema::Codeinsights, "codeinsights-db".into()),
            ],
            user: None,
        }
    }
}

/// The `docker run … sourcegraph/migrator:TAG …` form of a plan (the
/// runbook's), with the migrator's database variables: host and user as
/// `<placeholders>`, passwords passed through from the caller's
/// environment (`-e PGPASSWORD`) so they never appear in the command.
/// `None` when the target has no migrator.
pub fn docker_run(plan: &UpgradePlan, opts: &ComposeOptions) -> Option<String> {
    let image = plan.image.as_ref()?;
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut lines = vec![format!(
        "docker run --rm --name migrator_{} --network={}",
        plan.to_version,
        q(&opts.network)
    )];
    for schema in Schema::ALL {
        let p = schema.env_prefix();
        let db = opts
            .databases
            .iter()
            .find(|(s, _)| *s == schema)
            .map(|(_, d)| q(d))
            .unwrap_or_else(|| format!("'<{} database>'", schema.migrator_db()));
        let user = opts.user.as_deref().map(q).unwrap_or_else(|| "'<user>'".into());
        lines.push(format!(
            "-e {p}PGHOST='<{} host>' -e {p}PGPORT='5432' -e {p}PGUSER={user} -e {p}PGPASSWORD -e {p}PGDATABASE={db} -e {p}PGSSLMODE='disable'",
            schema.migrator_db()
        ));
    }
    lines.push(format!("{image} {}", plan.command.args().join(" ")));
    Some(lines.join(" \\\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every known minor, oldest first.
    fn all_minors() -> Vec<Minor> {
        RELEASES
            .iter()
            .flat_map(|&(major, last)| (0..=last).map(move |m| Minor::new(major, m)))
            .collect()
    }

    fn m(s: &str) -> Minor {
        let (a, b) = s.split_once('.').expect("x.y");
        Minor::new(a.parse().expect("major"), b.parse().expect("minor"))
    }

    #[test]
    fn next_minor_crosses_majors_at_the_last_minors() {
        for (from, next) in [
            ("3.20", Some("3.21")),
            ("3.42", Some("3.43")),
            ("3.43", Some("4.0")),
            ("4.4", Some("4.5")),
            ("4.5", Some("5.0")),
            ("5.10", Some("5.11")),
            ("5.11", Some("6.0")),
            ("6.12", Some("7.0")),
            ("7.5", Some("7.6")),
            ("7.6", None),
            ("3.44", None),
            ("8.0", None),
        ] {
            assert_eq!(m(from).next(), next.map(m), "{from}");
        }
        // Walking from the oldest known minor visits every known minor once.
        let mut walk = vec![Minor::new(3, 0)];
        while let Some(n) = walk.last().and_then(|x| x.next()) {
            walk.push(n);
        }
        assert_eq!(walk, all_minors());
        assert_eq!(walk.len(), 44 + 6 + 12 + 13 + 7);
    }

    /// The table every minor from 3.20 to 7.6 goes through: as source to
    /// each later (or equal) minor, and as target from each earlier one.
    #[test]
    fn every_minor_from_3_20_to_7_6_as_source_and_target() {
        let minors: Vec<Minor> = all_minors()
            .into_iter()
            .filter(|x| *x >= OLDEST_UPGRADE_FROM)
            .collect();
        assert_eq!(minors.first(), Some(&Minor::new(3, 20)));
        assert_eq!(minors.last(), Some(&Minor::new(7, 6)));
        let index = |x: Minor| minors.iter().position(|y| *y == x).expect("listed");
        let mut ups = 0;
        for &from in &minors {
            for &to in &minors {
                // Build-number patches on both ends never change the plan.
                let r = plan_upgrade(&format!("v{from}.12303"), &format!("{to}.4"));
                let distance = index(to) as i64 - index(from) as i64;
                match r {
                    Ok(p) => {
                        assert!(distance >= 0, "{from} → {to} planned a downgrade");
                        assert_eq!(p.steps as i64, distance, "{from} → {to}");
                        assert_eq!(p.path.len() as i64, distance + 1);
                        if distance <= 1 {
                            assert_eq!(p.command, MigratorCommand::Up, "{from} → {to}");
                            ups += 1;
                        } else {
                            assert_eq!(p.command, MigratorCommand::Upgrade { from, to }, "{from} → {to}");
                            assert_eq!(
                                p.command.command_line(),
                                format!("migrator upgrade --from={from} --to={to}")
                            );
                        }
                        assert_eq!(p.to_version, format!("{to}.4"));
                    }
                    Err(e) => {
                        assert!(distance < 0, "{from} → {to}: {e}");
                        assert_eq!(e, PlanError::Downgrade { from, to }, "{from} → {to}");
                    }
                }
            }
        }
        // Each minor once to itself and once to its successor (except the newest).
        assert_eq!(ups, minors.len() * 2 - 1);
    }

    #[test]
    fn cases() {
        use MigratorCommand::{Up, Upgrade};
        let up = |a: &'static str, b: &'static str| (a, b, Ok(Up));
        let upg =
            |a: &'static str, b: &'static str, f: &str, t: &str| (a, b, Ok(Upgrade { from: m(f), to: m(t) }));
        let err = |a: &'static str, b: &'static str, kind: &'static str| (a, b, Err(kind));
        let table: Vec<(&str, &str, Result<MigratorCommand, &str>)> = vec![
            up("5.1.0", "5.2.0"),
            up("5.1.0", "5.1.0"),
            up("5.1.0", "5.1.9"),
            up("5.1.9", "5.1.0"), // patch never matters, even backwards
            up("v5.3.12303", "v5.4.5099"),
            up("5.3", "5.4"),
            up("3.43.2", "4.0.0"),
            up("4.5.1", "5.0.0"),
            up("5.11.6271", "6.0.0"),
            up("v6.12.5040", "7.0.0"),
            up("7.5.4453", "7.6.0"),
            up("3.20.0", "3.21.2"),
            upg("3.42.0", "4.0.0", "3.42", "4.0"),
            upg("3.43.0", "4.1.0", "3.43", "4.1"),
            upg("4.4.2", "5.0.0", "4.4", "5.0"),
            upg("5.10.0", "6.0.0", "5.10", "6.0"),
            upg("5.11.0", "6.1.0", "5.11", "6.1"),
            upg("6.11.0", "7.0.0", "6.11", "7.0"),
            upg("5.1.0", "5.3.12303", "5.1", "5.3"),
            upg("v3.20.0", "v7.6.0", "3.20", "7.6"),
            upg("3.36.3", "3.38.0", "3.36", "3.38"),
            err("5.3.0", "5.2.0", "downgrade"),
            err("6.0.0", "5.11.0", "downgrade"),
            err("7.0.0", "6.12.0", "downgrade"),
            err("v5.3.12303", "5.2.99999", "downgrade"),
            err("3.19.0", "3.20.0", "too_old"),
            err("3.0.0", "5.0.0", "too_old"),
            err("2.13.0", "5.0.0", "unknown_release"),
            err("0.0.0+dev", "5.3.0", "dev_build"),
            err("213721_2023-06-12_5.0-abc123", "5.3.0", "dev_build"),
            err("5.1.0", "0.0.0+dev", "dev_build"),
            err("5.1.0", "5.12.0", "unknown_release"),
            err("3.44.0", "4.0.0", "unknown_release"),
            err("4.6.0", "5.0.0", "unknown_release"),
            err("6.13.0", "7.0.0", "unknown_release"),
            err("7.6.0", "7.7.0", "unknown_release"),
            err("7.6.0", "8.0.0", "unknown_release"),
            err("five", "5.2.0", "invalid_version"),
            err("5.1.0", "latest", "invalid_version"),
            err("5.1.0", "", "invalid_version"),
            err("5.1.0", "5.2.0.1", "invalid_version"),
        ];
        for (from, to, want) in table {
            let got = plan_upgrade(from, to);
            match (&got, &want) {
                (Ok(p), Ok(c)) => assert_eq!(p.command, *c, "{from} → {to}"),
                (Err(e), Err(kind)) => assert_eq!(e.kind(), *kind, "{from} → {to}: {e}"),
                _ => panic!("{from} → {to}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn messages_say_what_and_why() {
        let e = plan_upgrade("5.3.0", "5.2.0").expect_err("downgrade");
        assert_eq!(
            e.to_string(),
            "5.3 → 5.2 is a downgrade: the databases are already at 5.3, newer than the target 5.2"
        );
        let e = plan_upgrade("5.1.0", "garbage").expect_err("garbage");
        assert!(
            e.to_string()
                .starts_with("target version: \"garbage\" is not a Sourcegraph version"),
            "{e}"
        );
        let e = plan_upgrade("3.19.2", "5.0.0").expect_err("old");
        assert!(e.to_string().contains("3.19 is older than 3.20"), "{e}");
        assert!(
            e.hint().contains("upgrade the source instance to 3.20"),
            "{}",
            e.hint()
        );
        let e = plan_upgrade("5.1.0", "5.12").expect_err("unknown");
        assert!(e.to_string().contains("5.0–5.11"), "{e}");
        let e = plan_upgrade("0.0.0+dev", "5.2").expect_err("dev");
        assert!(e.to_string().contains("dev build"), "{e}");
        assert!(e.hint().contains("--from"), "{}", e.hint());
    }

    #[test]
    fn images_and_notes() {
        let p = plan_upgrade("5.1.0", "v5.3.12303").expect("plan");
        assert_eq!(p.image.as_deref(), Some("sourcegraph/migrator:5.3.12303"));
        assert_eq!(p.path, vec![m("5.1"), m("5.2"), m("5.3")]);
        assert!(
            p.notes.iter().any(|n| n.contains("5.1 → 5.2 → 5.3")),
            "{:?}",
            p.notes
        );
        let p = plan_upgrade("5.1.0", "5.2").expect("plan");
        assert_eq!(p.image.as_deref(), Some("sourcegraph/migrator:5.2.0"));
        assert!(
            p.notes.iter().any(|n| n.contains("no patch given")),
            "{:?}",
            p.notes
        );
        // Before 3.37 the frontend migrates itself; before 4.0 there is no `upgrade`.
        let p = plan_upgrade("3.30.0", "3.31.0").expect("plan");
        assert_eq!(p.image, None);
        let p = plan_upgrade("3.30.0", "3.40.0").expect("plan");
        assert_eq!(p.image.as_deref(), Some("sourcegraph/migrator:4.0.0"));
    }

    fn entry(
        id: i64,
        schema: &str,
        version: i64,
        up: bool,
        at: i64,
        success: Option<bool>,
    ) -> MigrationLogEntry {
        MigrationLogEntry {
            id,
            schema: schema.into(),
            version,
            up,
            started_at_micros: Some(at),
            success,
            error_message: success.is_some_and(|s| !s).then(|| "boom".to_string()),
        }
    }

    #[test]
    fn the_latest_row_of_each_version_decides() {
        let fe = "schema_migrations";
        let rows = vec![
            entry(1, fe, 100, true, 10, Some(true)),
            // Failed, then retried successfully: clean.
            entry(2, fe, 200, true, 20, Some(false)),
            entry(3, fe, 200, true, 30, Some(true)),
            // Succeeded, then a later attempt failed: dirty.
            entry(4, fe, 300, true, 40, Some(true)),
            entry(5, fe, 300, true, 50, Some(false)),
            // Never finished: dirty (pending).
            entry(6, fe, 400, true, 60, None),
            // Same start time: the higher id is later.
            entry(8, fe, 500, true, 70, Some(true)),
            entry(7, fe, 500, true, 70, Some(false)),
            // A successful down migration: not applied, not dirty.
            entry(9, fe, 600, true, 80, Some(true)),
            entry(10, fe, 600, false, 90, Some(true)),
            // A failed down migration: dirty, repaired with -up=false.
            entry(11, fe, 700, false, 100, Some(false)),
            // Another schema in the same table is not this database's.
            entry(12, "codeintel_schema_migrations", 100, true, 10, Some(false)),
        ];
        let s = SchemaState::from_logs(Schema::Frontend, Some(&rows));
        assert_eq!(s.rows, 11);
        assert_eq!(s.applied, 3, "100, 200, 500");
        assert_eq!(s.latest_applied, Some(500));
        assert_eq!(s.status(), "dirty");
        let d: Vec<(i64, DirtyKind)> = s.dirty.iter().map(|d| (d.version, d.kind)).collect();
        assert_eq!(
            d,
            vec![
                (300, DirtyKind::Failed),
                (400, DirtyKind::Pending),
                (700, DirtyKind::Failed)
            ]
        );
        assert_eq!(s.dirty[0].add_log, "migrator add-log -db=frontend -version=300");
        assert_eq!(
            s.dirty[2].add_log,
            "migrator add-log -db=frontend -version=700 -up=false"
        );
        let e = s.problem().expect("dirty");
        assert_eq!(e.kind(), "dirty");
        let msg = e.to_string();
        assert!(
            msg.starts_with("the frontend database is dirty: migration_logs (schema schema_migrations) records failed migrations 300, 700 and unfinished migrations 400"),
            "{msg}"
        );
        assert!(
            e.hint().contains("`migrator add-log -db=frontend -version=300`"),
            "{}",
            e.hint()
        );

        let ci = SchemaState::from_logs(Schema::Codeintel, Some(&rows));
        assert_eq!((ci.rows, ci.status()), (1, "dirty"));
        assert!(ci
            .problem()
            .expect("dirty")
            .to_string()
            .contains("codeintel database"));
        let ins = SchemaState::from_logs(Schema::Codeinsights, Some(&rows));
        assert_eq!((ins.rows, ins.status(), ins.problem()), (0, "empty", None));
        let absent = SchemaState::from_logs(Schema::Codeinsights, None);
        assert_eq!((absent.status(), absent.problem()), ("absent", None));
    }

    #[test]
    fn assessment_collects_every_problem() {
        let rows = vec![entry(1, "schema_migrations", 100, true, 10, None)];
        let dbs = vec![
            SchemaState::from_logs(Schema::Frontend, Some(&rows)),
            SchemaState::from_logs(Schema::Codeintel, None),
        ];
        let a = Assessment::new("5.3.0", "5.1.0", dbs.clone());
        assert!(!a.ok());
        let kinds: Vec<&str> = a.problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ["downgrade", "dirty"]);
        let a = Assessment::new("5.1.0", "5.3", dbs);
        assert!(!a.ok());
        assert!(a.plan.is_some(), "the plan is kept for after the repair");
        let clean = vec![SchemaState::from_logs(Schema::Frontend, Some(&[]))];
        let a = Assessment::new("5.1.0", "5.2", clean);
        assert!(a.ok());
        let json = serde_json::to_value(&a).expect("json");
        assert_eq!(json["plan"]["command"]["kind"], "up");
        assert_eq!(json["plan"]["from"], "5.1");
        assert_eq!(json["databases"][0]["schema"], "frontend");
    }

    #[test]
    fn docker_run_form_has_no_secrets() {
        let p = plan_upgrade("5.1.0", "5.3.12303").expect("plan");
        let cmd = docker_run(&p, &ComposeOptions::default()).expect("cmd");
        assert!(cmd.starts_with(
            "docker run --rm --name migrator_5.3.12303 --network='docker-compose_sourcegraph' \\\n"
        ));
        assert!(
            cmd.ends_with("sourcegraph/migrator:5.3.12303 upgrade --from=5.1 --to=5.3"),
            "{cmd}"
        );
        for var in ["PGPASSWORD", "CODEINTEL_PGPASSWORD", "CODEINSIGHTS_PGPASSWORD"] {
            assert!(cmd.contains(&format!("-e {var} ")), "{var} passed through: {cmd}");
            assert!(!cmd.contains(&format!("{var}=")), "{var} has no value: {cmd}");
        }
        assert!(cmd.contains("-e CODEINTEL_PGDATABASE='codeintel-db'"), "{cmd}");
        assert!(cmd.contains("-e PGHOST='<frontend host>'"), "{cmd}");
        let opts = ComposeOptions {
            user: Some("o'neil".into()),
            ..ComposeOptions::default()
        };
        let cmd = docker_run(&plan_upgrade("5.1.0", "5.2.0").expect("plan"), &opts).expect("cmd");
        assert!(cmd.contains(r"-e PGUSER='o'\''neil'"), "{cmd}");
        assert!(cmd.ends_with("sourcegraph/migrator:5.2.0 up"), "{cmd}");
        assert_eq!(
            docker_run(&plan_upgrade("3.30.0", "3.31.0").expect("plan"), &opts),
            None
        );
    }
}
