//! `restore <pg_dump|docker|kubectl> [--targets=…] [--run]`: src-cli's
//! `snapshot restore`, loading DIR/*.sql with psql.

use anyhow::Context;
use pgdump::{display_header, restore_commands, DbRole};

use super::TargetFlags;

use crate::{exit, Globals};

/// Flags of `restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreCmd {
    #[command(flatten)]
    pub target: TargetFlags,
    /// The psql program.
    #[arg(long, default_value = "psql")]
    pub psql: String,
}

/// Runs `restore`.
pub fn run(cmd: RestoreCmd, g: &Globals) -> anyhow::Result<u8> {
    let mut targets = cmd.target.resolve()?;
    let mode = cmd.target.mode;
    let mut dir = cmd.target.dir.clone();
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
            let src = std::fs::canonicalize(cmd.target.dir.join(name))
                .unwrap_or_else(|_| cmd.target.dir.join(name));
            std::os::unix::fs::symlink(&src, tmp.path().join(role.file_name()))
                .with_context(|| format!("linking {}", src.display()))?;
        }
        dir = tmp.keep();
    }
    let commands = restore_commands(mode, &targets, &dir, &cmd.psql)?;
    if !cmd.target.run {
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
    let commands = restore_commands(mode, &targets, &dir, &cmd.psql)?;
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
