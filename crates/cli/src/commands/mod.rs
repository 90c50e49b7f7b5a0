//! One module per command: flags, one library call, rendering.

pub mod databases;
pub mod fingerprint;
pub mod restore;
pub mod sanitize;
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
