//! `restore <pg_dump|docker|kubectl> [--targets=…] [--run]`: src-cli's
//! `snapshot restore`, loading DIR/*.sql with psql.

use std::path::PathBuf;

use anyhow::Context;
use pgdump::{display_header, restore_commands, DbRole, Mode, Targets};

use crate::{exit, Globals};

/// Flags of `restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreCmd {
    /// How to reach psql: pg_dump (psql on this host), docker, kubectl.
    pub mode: Mode,
    /// A preset (local, docker, k8s) or a targets YAML file.
    #[arg(long)]
    pub targets: Option<String>,
    /// Run the commands (default: only print them).
    #[arg(long)]
    pub run: bool,
    /// The snapshot folder.
    #[arg(long, default_value = "src-snapshot")]
    pub dir: PathBuf,
    /// The psql program.
    #[arg(long, default_value = "psql")]
    pub psql: String,
}

/// Runs `restore`.
pub fn run(cmd: RestoreCmd, g: &Globals) -> anyhow::Result<u8> {
    let spec = cmd
        .targets
        .clone()
        .unwrap_or_else(|| cmd.mode.default_preset().to_string());
    let mut targets = Targets::resolve(&spec).with_context(|| format!("reading targets {spec:?}"))?;
    let mut dir = cmd.dir.clone();
    // src-cli wrote primary.sql until late 2025; accept a folder with it.
    let legacy = dir.join("primary.sql").exists() && !dir.join("pgsql.sql").exists();
    if legacy {
        let tmp = tempfile::tempdir().context("creating a temporary folder")?;
        for role in DbRole::all() {
            let name = if role == DbRole::Pgsql {
                "primary.sql"
            } else {
                role.file_name()
            };
            let src = std::fs::canonicalize(cmd.dir.join(name)).unwrap_or_else(|_| cmd.dir.join(name));
            std::os::unix::fs::symlink(&src, tmp.path().join(role.file_name()))
                .with_context(|| format!("linking {}", src.display()))?;
        }
        dir = tmp.keep();
    }
    let commands = restore_commands(cmd.mode, &targets, &dir, &cmd.psql)?;
    if !cmd.run {
        if g.json {
            let list: Vec<_> = commands
                .iter()
                .map(|(r, c)| serde_json::json!({"database": r.yaml_key(), "input": c.input(), "command": c.display()}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            if let Some(h) = display_header(&targets) {
                println!("{h}");
            }
            for (_, c) in &commands {
                println!("{}", c.display());
            }
        }
        return Ok(exit::OK);
    }
    targets
        .apply_password_env()
        .context("reading password variables")?;
    let commands = restore_commands(cmd.mode, &targets, &dir, &cmd.psql)?;
    for (role, c) in &commands {
        if !c.input().exists() {
            anyhow::bail!(
                "{}: {} is missing; run src-snapshot databases --run first",
                role,
                c.input().display()
            );
        }
        eprintln!("restoring {role} from {}", c.input().display());
        c.run().with_context(|| format!("restoring {role}"))?;
    }
    eprintln!("restored {} database(s)", commands.len());
    Ok(exit::OK)
}
