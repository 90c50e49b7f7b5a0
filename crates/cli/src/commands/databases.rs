//! `databases <pg_dump|docker|kubectl> [--targets=…] [--run]`.

use std::path::PathBuf;

use anyhow::Context;
use pgdump::{display_header, dump_commands, DbRole, Mode, Targets};
use snapshot::{dump_databases, DumpOptions, Manifest};

use super::SanitizeFlags;
use crate::render::{bytes, Progress, Table};
use crate::{exit, Globals};

/// Flags of `databases`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Targets: 'local' (pg_dump on this host), 'docker' (containers pgsql, codeintel-db, codeinsights-db), \
'k8s' (statefulsets), or a YAML file with keys primary|pgsql, codeintel, codeinsights, each {target, dbname, username, password, port}.\n\
Passwords are never printed; with --run they come from the targets or from PGSQL_PASSWORD, CODEINTEL_PASSWORD, CODEINSIGHTS_PASSWORD."
)]
pub struct DatabasesCmd {
    /// How to reach pg_dump: pg_dump (on this host), docker (docker exec), kubectl (kubectl exec).
    pub mode: Mode,
    /// A preset (local, docker, k8s) or a targets YAML file. Default: the mode's preset.
    #[arg(long)]
    pub targets: Option<String>,
    /// Run the commands and write the snapshot (default: only print them).
    #[arg(long)]
    pub run: bool,
    /// The snapshot folder.
    #[arg(long, default_value = "src-snapshot")]
    pub dir: PathBuf,
    /// The pg_dump program (inside the container or pod in docker/kubectl mode).
    #[arg(long, default_value = "pg_dump")]
    pub pg_dump: String,
    /// Only these databases (pgsql, codeintel, codeinsights; comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    #[command(flatten)]
    pub sanitize: SanitizeFlags,
}

/// Runs `databases`.
pub fn run(cmd: DatabasesCmd, g: &Globals) -> anyhow::Result<u8> {
    let spec = cmd
        .targets
        .clone()
        .unwrap_or_else(|| cmd.mode.default_preset().to_string());
    let mut targets = Targets::resolve(&spec).with_context(|| format!("reading targets {spec:?}"))?;
    let only = cmd
        .only
        .iter()
        .map(|o| match o.as_str() {
            "pgsql" | "primary" | "frontend" => Ok(DbRole::Pgsql),
            "codeintel" => Ok(DbRole::Codeintel),
            "codeinsights" => Ok(DbRole::Codeinsights),
            other => Err(anyhow::anyhow!(
                "--only: unknown database {other:?} (pgsql, codeintel, codeinsights)"
            )),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !cmd.run {
        let commands = dump_commands(cmd.mode, &targets, &cmd.dir, &cmd.pg_dump)?;
        if g.json {
            let list: Vec<_> = commands
                .iter()
                .filter(|(r, _)| only.is_empty() || only.contains(r))
                .map(|(r, c)| serde_json::json!({"database": r.yaml_key(), "output": c.output(), "command": c.display(), "argv": c.argv()}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(exit::OK);
        }
        if let Some(h) = display_header(&targets) {
            println!("{h}");
        }
        println!(
            "mkdir -p {}",
            pgdump::shell::quote(&cmd.dir.display().to_string())
        );
        for (role, c) in &commands {
            if only.is_empty() || only.contains(role) {
                println!("{}", c.display());
            }
        }
        return Ok(exit::OK);
    }
    let overridden = targets
        .apply_password_env()
        .context("reading password variables")?;
    for r in overridden {
        tracing::info!("{r}: password from {}", r.password_env());
    }
    let progress = Progress::new(g.progress && !g.json);
    let tasks: Vec<(DbRole, crate::render::Task)> = DbRole::all()
        .into_iter()
        .filter(|r| only.is_empty() || only.contains(r))
        .map(|r| (r, progress.task(r.file_name(), None)))
        .collect();
    let opts = DumpOptions {
        mode: cmd.mode,
        targets,
        dir: cmd.dir.clone(),
        pg_dump: cmd.pg_dump.clone(),
        preview: cmd.sanitize.options(),
        only,
    };
    let report = |role: DbRole, n: u64| {
        if let Some((_, t)) = tasks.iter().find(|(r, _)| *r == role) {
            t.set(n);
        }
    };
    let result = dump_databases(&opts, &report);
    for (_, t) in &tasks {
        t.finish();
    }
    let manifest = result.with_context(|| format!("dumping into {}", cmd.dir.display()))?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        print_summary(&manifest, &cmd.dir);
    }
    Ok(exit::OK)
}

fn print_summary(m: &Manifest, dir: &std::path::Path) {
    let mut t = Table::new(&[
        "database",
        "file",
        ">size",
        ">tables",
        ">rows",
        "server",
        "pg_dump",
        ">sanitizer changes",
        "sha256",
    ]);
    for f in &m.files {
        let rows: u64 = f.tables.iter().map(|t| t.rows).sum();
        t.row(vec![
            f.role.clone(),
            dir.join(&f.name).display().to_string(),
            bytes(f.size),
            f.tables.len().to_string(),
            rows.to_string(),
            f.source.server_version.clone().unwrap_or_default(),
            f.source.pg_dump_version.clone().unwrap_or_default(),
            f.sanitizer.as_ref().map_or(0, |s| s.changes.len()).to_string(),
            f.sha256.chars().take(16).collect(),
        ]);
    }
    print!("{}", t.render());
    if let Some(sg) = &m.sourcegraph {
        println!(
            "Sourcegraph version: {} (first installed {})",
            sg.version,
            sg.first_version.as_deref().unwrap_or("?")
        );
    }
    println!("Manifest: {}", dir.join(snapshot::MANIFEST_FILE).display());
}
