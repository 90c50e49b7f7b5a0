//! Targets, commands and child processes for dumping Sourcegraph's three
//! databases with pg_dump and restoring them with psql, compatible with
//! src-cli's `src snapshot databases` and `src snapshot restore`.
//!
//! # Brief overview
//!
//! - [`Targets`] says where each database ([`DbRole`]) lives: a preset
//!   (`local`, `docker`, `k8s`) or a src-cli targets YAML file, checked
//!   value by value (errors name the line, column and key).
//! - [`dump_commands`] builds one [`DumpCommand`] per database for a
//!   [`Mode`] (`pg_dump`, `docker exec`, `kubectl exec`).
//!   [`DumpCommand::display`] prints it as copy-pasteable shell;
//!   [`DumpCommand::spawn`] runs it with stdout piped for streaming.
//! - [`restore_commands`] does the same for psql.
//!
//! # Safety rules
//!
//! - Each value is one argv element (`--dbname=VALUE`); no shell ever
//!   parses a value. Values that would still change meaning (control
//!   characters, a leading `-` on a target or user, a `dbname` that libpq
//!   would expand as a connection string) are refused.
//! - Passwords never reach argv or printed text: they go to the child's
//!   `PGPASSWORD` (pg_dump mode; docker copies it with `-e PGPASSWORD`) or,
//!   for kubectl, as the first stdin line read by [`KUBECTL_PASSWORD_SCRIPT`].
//!   Printed commands refer to `PGSQL_PASSWORD`, `CODEINTEL_PASSWORD` and
//!   `CODEINSIGHTS_PASSWORD` ([`DbRole::password_env`]), which
//!   [`Targets::apply_password_env`] also reads for `--run`.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use pgdump::{dump_commands, display_header, Mode, Targets};
//!
//! let targets = Targets::preset("docker")?;
//! let commands = dump_commands(Mode::Docker, &targets, Path::new("src-snapshot"), "pg_dump")?;
//! assert_eq!(
//!     commands[0].1.display(),
//!     "PGPASSWORD=\"$PGSQL_PASSWORD\" docker exec -i -e PGPASSWORD pgsql pg_dump --clean \
//!      --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers \
//!      --username=sg --dbname=sg > src-snapshot/pgsql.sql"
//! );
//! assert!(display_header(&targets).is_some_and(|h| h.starts_with("# Passwords are never printed")));
//! # Ok::<(), pgdump::TargetsError>(())
//! ```
#![deny(missing_docs)]

mod command;
mod error;
mod role;
pub mod shell;
mod targets;

pub use command::{
    display_header, dump_commands, restore_commands, DumpCommand, RestoreCommand, RunningDump,
    KUBECTL_PASSWORD_SCRIPT, PG_DUMP_FLAGS, PSQL_FLAGS,
};
pub use error::{DumpError, ExitInfo};
pub use role::{DbRole, Mode, ParseModeError};
pub use targets::{Field, InvalidValue, Password, Target, Targets, TargetsError, TargetsSource, PRESETS};
