//! One module per command: flags, one library call, rendering.

pub mod databases;
pub mod fingerprint;
pub mod restore;
pub mod sanitize;

use dumpscript::{ExtensionPolicy, Profile, SanitizeOptions};

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
