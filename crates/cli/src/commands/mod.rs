//! One module per command: flags, one library call, rendering.

pub mod compare;
pub mod databases;
pub mod fingerprint;
pub mod import;
pub mod migrate;
pub mod notice;
pub mod preflight;
pub mod report;
pub mod reset;
pub mod restore;
pub mod runbook;
pub mod sanitize;
pub mod summary;
pub mod test;
pub mod upgrade_plan;
pub mod upload;
pub mod verify;

use std::path::PathBuf;

use anyhow::Context;
use dumpscript::{ExtensionPolicy, Profile, SanitizeOptions};
use pgdump::{Mode, Targets};

/// Where the databases are and what to do with the commands, shared by
/// `databases` and `restore` (src-cli's arguments).
#[derive(clap::Args, Debug)]
pub struct TargetFlags {
    /// How to reach the databases: pg_dump (tools on this host), docker (docker exec), kubectl (kubectl exec).
    pub mode: Mode,
    /// A preset (local, docker, k8s) or a targets YAML file. Default: the mode's preset.
    #[arg(long)]
    pub targets: Option<String>,
    /// Run the commands (default: only print them).
    #[arg(long)]
    pub run: bool,
    /// The snapshot folder.
    #[arg(long, default_value = "src-snapshot")]
    pub dir: PathBuf,
}

impl TargetFlags {
    /// The targets named by `--targets`, or the mode's preset.
    pub fn resolve(&self) -> anyhow::Result<Targets> {
        let spec = self
            .targets
            .clone()
            .unwrap_or_else(|| self.mode.default_preset().to_string());
        Targets::resolve(&spec).with_context(|| format!("reading targets {spec:?}"))
    }
}

/// Sanitizer flags shared by commands that sanitize or preview.
#[derive(clap::Args, Debug, Clone)]
pub struct SanitizeFlags {
    /// Sanitizer profile: cloudsql (what a non-superuser managed Postgres rejects) or none.
    #[arg(long, default_value = "cloudsql")]
    pub profile: Profile,
    /// Major version of the target server.
    #[arg(long, default_value_t = 16)]
    pub target_version: u32,
    /// An extension the target user can create although it is not trusted (repeatable).
    #[arg(long = "allow-extension", value_name = "NAME")]
    pub allow_extension: Vec<String>,
}

impl SanitizeFlags {
    /// The library's options.
    pub fn options(&self) -> SanitizeOptions {
        SanitizeOptions {
            profile: self.profile,
            target_major: self.target_version,
            extensions: ExtensionPolicy::Trusted {
                also: self.allow_extension.clone(),
            },
        }
    }
}

/// Where the bucket is and how to authenticate (src-cli's flags).
#[derive(clap::Args, Debug)]
pub struct BucketFlags {
    /// The bucket: NAME, gs://NAME[/PREFIX] or file:///PATH.
    #[arg(long)]
    pub bucket: String,
    /// A service-account key JSON file (not needed with STORAGE_EMULATOR_HOST or file://).
    #[arg(long)]
    pub credentials: Option<PathBuf>,
}

impl BucketFlags {
    /// Opens the store.
    pub async fn open(&self) -> anyhow::Result<bucket::Store> {
        let loc =
            bucket::Location::parse(&self.bucket).with_context(|| format!("-bucket={}", self.bucket))?;
        let mut opts = bucket::StoreOptions::from_env();
        if let Some(c) = &self.credentials {
            opts.credentials = Some(c.clone());
        }
        bucket::Store::open(&loc, &opts)
            .await
            .with_context(|| format!("opening {}", self.bucket))
    }
}

/// The target server and which databases on it (import, reset, compare).
#[derive(clap::Args, Debug)]
pub struct TargetDbFlags {
    /// The target server: postgres://USER@HOST:PORT/[DB] (no password: use PGPASSWORD or ~/.pgpass).
    #[arg(long)]
    pub target_url: Option<String>,
    /// Target databases, comma-separated: pgsql, codeintel-db, codeinsights-db; ROLE=NAME loads a role into another database name.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pgsql,codeintel-db,codeinsights-db"
    )]
    pub databases: Vec<String>,
}

impl TargetDbFlags {
    /// The connection (password from the environment, never argv).
    pub fn conn(&self) -> anyhow::Result<pgload::ConnSpec> {
        let url = self
            .target_url
            .as_deref()
            .context("--target-url=postgres://USER@HOST:PORT/ is required")?;
        pgload::ConnSpec::from_url(url).context("--target-url")
    }

    /// The databases named by `--databases`: (role, target database name).
    pub fn targets(&self) -> anyhow::Result<Vec<(pgdump::DbRole, String)>> {
        let mut out: Vec<(pgdump::DbRole, String)> = Vec::new();
        for item in &self.databases {
            let (key, name) = match item.split_once('=') {
                Some((k, n)) => (k, Some(n)),
                None => (item.as_str(), None),
            };
            let role = pgdump::DbRole::all()
                .into_iter()
                .find(|r| r.import_database_name() == key || r.yaml_key() == key)
                .with_context(|| {
                    format!(
                        "--databases: unknown database {key:?}; use pgsql, codeintel-db or codeinsights-db (optionally =NAME for another target name)"
                    )
                })?;
            let name = name.unwrap_or(role.import_database_name()).to_string();
            if name.is_empty() {
                anyhow::bail!("--databases: {item:?} names no database");
            }
            if !out.iter().any(|(r, _)| *r == role) {
                out.push((role, name));
            }
        }
        Ok(out)
    }
}

/// Where a snapshot is read from: a bucket or a local folder.
#[derive(clap::Args, Debug)]
pub struct SnapshotSourceFlags {
    /// The bucket: NAME, gs://NAME[/PREFIX] or file:///PATH.
    #[arg(long, conflicts_with = "dir")]
    pub bucket: Option<String>,
    /// A service-account key JSON file (not needed with STORAGE_EMULATOR_HOST or file://).
    #[arg(long, requires = "bucket")]
    pub credentials: Option<PathBuf>,
    /// A snapshot folder (with manifest.json) instead of a bucket.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl SnapshotSourceFlags {
    /// Opens the source.
    pub async fn open(&self) -> anyhow::Result<snapshot::import::ImportSource> {
        match (&self.bucket, &self.dir) {
            (Some(b), _) => {
                let flags = BucketFlags {
                    bucket: b.clone(),
                    credentials: self.credentials.clone(),
                };
                Ok(snapshot::import::ImportSource::Bucket(std::sync::Arc::new(
                    flags.open().await?,
                )))
            }
            (None, Some(d)) => Ok(snapshot::import::ImportSource::Dir(d.clone())),
            (None, None) => anyhow::bail!("say where the snapshot is: -bucket=… or -dir=…"),
        }
    }
}

/// The migration config `report` and `runbook` read: `--config`, else
/// ./migration.yaml when it exists and no other source (`other_source`) was
/// given; with its path. `Err(code)` when the file is there but unreadable
/// (the error is printed).
pub(crate) fn optional_migration_config(
    explicit: Option<&std::path::Path>,
    other_source: bool,
) -> Result<Option<(PathBuf, ::migrate::MigrationConfig)>, u8> {
    let path = explicit.map(PathBuf::from).or_else(|| {
        let d = PathBuf::from(::migrate::DEFAULT_CONFIG);
        (!other_source && d.exists()).then_some(d)
    });
    match path {
        Some(p) => match ::migrate::MigrationConfig::load(&p) {
            Ok(c) => Ok(Some((p, c))),
            Err(e) => {
                crate::render::error(&anyhow::Error::new(e));
                Err(crate::exit::ERROR)
            }
        },
        None => Ok(None),
    }
}
