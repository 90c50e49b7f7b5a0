//! `upgrade-plan (-dir=DIR | -bucket=… | --target-url=URL) --to=VERSION [--from=VERSION] [--compose] [--json]`:
//! the migrator invocation that brings the imported databases to the
//! managed instance's version, and each database's migration state.

use anyhow::Context;
use pgdump::DbRole;
use serde::Serialize;
use sgapi::upgrade::{
    docker_run, release, Assessment, ComposeOptions, End, MigrationLogEntry, MigratorCommand, Problem,
    Schema, SchemaState,
};
use snapshot::upgrade::{live_state, snapshot_state, MigrationLogRow, MigrationState};

use super::{SnapshotSourceFlags, TargetDbFlags};
use crate::render::Table;
use crate::{exit, Globals};

/// Flags of `upgrade-plan`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Reads the Sourcegraph version (the frontend row of `versions`) from the snapshot's manifest or the live \
frontend database, and each database's migration_logs (from the dumps, or live with --target-url and --databases).\n\
One minor forward (or 3.43→4.0, 4.5→5.0, 5.11→6.0, 6.12→7.0) is `migrator up`; further is \
`migrator upgrade --from=X.Y --to=A.B`. Patches never matter.\n\
Exit codes: 0 planned, 2 cannot plan (a downgrade, a dirty database, an unknown or dev version, a source older than 3.20) \
or could not read the state."
)]
pub struct UpgradePlanCmd {
    #[command(flatten)]
    pub source: SnapshotSourceFlags,
    #[command(flatten)]
    pub target: TargetDbFlags,
    /// The version the managed instance runs: 5.3, v5.3.12303, 6.12.5040.
    #[arg(long, value_name = "VERSION")]
    pub to: String,
    /// The version the databases are at, instead of the recorded one (e.g. for a dev build).
    #[arg(long, value_name = "VERSION")]
    pub from: Option<String>,
    /// Also print the docker-compose form: docker run … sourcegraph/migrator:TAG ….
    #[arg(long)]
    pub compose: bool,
    /// The docker-compose deployment's network, for --compose.
    #[arg(long, default_value = "docker-compose_sourcegraph")]
    pub network: String,
}

/// Where the version came from.
#[derive(Serialize)]
struct VersionOut<'a> {
    version: &'a str,
    first_version: Option<&'a str>,
    read_from: &'a str,
}

#[derive(Serialize)]
struct DatabaseOut<'a> {
    role: &'static str,
    location: &'a str,
    status: &'static str,
    #[serde(flatten)]
    state: &'a SchemaState,
}

#[derive(Serialize)]
struct Output<'a> {
    ok: bool,
    source: String,
    from: VersionOut<'a>,
    to: &'a str,
    command: Option<String>,
    args: Option<Vec<String>>,
    compose: Option<String>,
    plan: &'a Option<sgapi::upgrade::UpgradePlan>,
    databases: Vec<DatabaseOut<'a>>,
    problems: &'a [Problem],
}

fn schema_of(role: DbRole) -> Schema {
    match role {
        DbRole::Pgsql => Schema::Frontend,
        DbRole::Codeintel => Schema::Codeintel,
        DbRole::Codeinsights => Schema::Codeinsights,
    }
}

fn entry(r: &MigrationLogRow) -> MigrationLogEntry {
    MigrationLogEntry {
        id: r.id,
        schema: r.schema.clone(),
        version: r.version,
        up: r.up,
        started_at_micros: r.started_at_micros,
        success: r.success,
        error_message: r.error_message.clone(),
    }
}

/// Runs `upgrade-plan`.
pub fn run(cmd: UpgradePlanCmd, g: &Globals) -> anyhow::Result<u8> {
    let live = cmd.target.target_url.is_some();
    if live && (cmd.source.dir.is_some() || cmd.source.bucket.is_some()) {
        anyhow::bail!(
            "read the state from a snapshot (-dir/-bucket) or from the databases (--target-url), not both"
        );
    }
    let roles = cmd.target.targets()?;
    // A bad version is refused before any dump is streamed or database reached.
    let early: Vec<Problem> = std::iter::once(release(End::Target, &cmd.to))
        .chain(cmd.from.as_deref().map(|f| release(End::Source, f)))
        .filter_map(Result::err)
        .map(|e| Problem::from(&e))
        .collect();
    if !early.is_empty() {
        if g.json {
            let out = serde_json::json!({ "ok": false, "to": cmd.to, "problems": early });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            print_problems(&early);
        }
        return Ok(exit::ERROR);
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (state, source, read_from): (MigrationState, String, &str) = if live {
        let conn = cmd.target.conn()?;
        if cmd.from.is_none() && !roles.iter().any(|(r, _)| *r == DbRole::Pgsql) {
            anyhow::bail!(
                "--databases has no pgsql database to read the Sourcegraph version from; add it or pass --from"
            );
        }
        let state = rt
            .block_on(live_state(&conn, &roles))
            .context("reading the migration state of the databases")?;
        (state, format!("{}:{}", conn.host(), conn.port()), "database")
    } else {
        let src = rt.block_on(cmd.source.open())?;
        let state = rt
            .block_on(snapshot_state(&src))
            .with_context(|| format!("reading the migration state of {}", src.describe()))?;
        (state, src.describe(), "manifest")
    };
    let (from, read_from) = match (&cmd.from, &state.sourcegraph) {
        (Some(f), _) => (f.as_str(), "--from"),
        (None, Some(v)) => (v.version.as_str(), read_from),
        (None, None) => anyhow::bail!(
            "{source} records no Sourcegraph version (no frontend row in the versions table); pass --from=VERSION"
        ),
    };
    let schemas: Vec<SchemaState> = state
        .databases
        .iter()
        .map(|d| {
            let rows: Option<Vec<MigrationLogEntry>> = d.rows.as_ref().map(|r| r.iter().map(entry).collect());
            SchemaState::from_logs(schema_of(d.role), rows.as_deref())
        })
        .collect();
    let a = Assessment::new(from, &cmd.to, schemas);
    let opts = ComposeOptions {
        network: cmd.network.clone(),
        databases: roles.iter().map(|(r, n)| (schema_of(*r), n.clone())).collect(),
        user: if live {
            cmd.target.conn().ok().map(|c| c.user().to_string())
        } else {
            None
        },
    };
    let compose = a.plan.as_ref().and_then(|p| docker_run(p, &opts));
    let code = if a.ok() { exit::OK } else { exit::ERROR };
    let first_version = state
        .sourcegraph
        .as_ref()
        .and_then(|v| v.first_version.as_deref())
        .filter(|_| read_from != "--from");

    if g.json {
        let out = Output {
            ok: a.ok(),
            source,
            from: VersionOut {
                version: from,
                first_version,
                read_from,
            },
            to: &a.to,
            command: a.plan.as_ref().map(|p| p.command.command_line()),
            args: a.plan.as_ref().map(|p| p.command.args()),
            compose,
            plan: &a.plan,
            databases: state
                .databases
                .iter()
                .zip(&a.databases)
                .map(|(d, s)| DatabaseOut {
                    role: d.role.yaml_key(),
                    location: &d.location,
                    status: s.status(),
                    state: s,
                })
                .collect(),
            problems: &a.problems,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(code);
    }

    let first = first_version
        .map(|f| format!("; first installed as {f}"))
        .unwrap_or_default();
    let origin = match read_from {
        "--from" => "given with --from".to_string(),
        "database" => format!("from the versions table at {source}"),
        _ => format!("from the manifest of {source}"),
    };
    println!("Sourcegraph {from} ({origin}{first}) → {}", a.to);
    println!();
    let mut t = Table::new(&[
        "database",
        "migration_logs",
        ">rows",
        ">applied",
        ">latest applied",
        "source",
    ]);
    for (d, s) in state.databases.iter().zip(&a.databases) {
        let dash = |x: Option<String>| x.unwrap_or_else(|| "-".into());
        t.row(vec![
            d.role.yaml_key().to_string(),
            match s.status() {
                "absent" => "no migration_logs".to_string(),
                "empty" => "no rows".to_string(),
                other => other.to_string(),
            },
            dash(s.has_migration_logs.then(|| s.rows.to_string())),
            dash(s.has_migration_logs.then(|| s.applied.to_string())),
            dash(s.latest_applied.map(|v| v.to_string())),
            d.location.clone(),
        ]);
    }
    print!("{}", t.render());
    for (d, s) in state.databases.iter().zip(&a.databases) {
        for m in &s.dirty {
            let what = match m.kind {
                sgapi::upgrade::DirtyKind::Failed => "failed",
                sgapi::upgrade::DirtyKind::Pending => "never finished",
            };
            let dir = if m.up { "up" } else { "down" };
            match &m.error_message {
                Some(msg) => println!(
                    "  {}: migration {} ({dir}) {what}: {msg}",
                    d.role.yaml_key(),
                    m.version
                ),
                None => println!("  {}: migration {} ({dir}) {what}", d.role.yaml_key(), m.version),
            }
        }
        if !s.has_migration_logs {
            println!(
                "  {}: no migration_logs table, nothing to check (the migrator creates it from the {} table)",
                d.role.yaml_key(),
                s.log_schema
            );
        }
    }
    println!();
    if let Some(p) = &a.plan {
        for n in &p.notes {
            println!("note: {n}");
        }
    }
    if a.ok() {
        if let Some(p) = &a.plan {
            println!();
            println!("{}", p.command.command_line());
            if cmd.compose {
                print_compose(p, compose.as_deref());
            }
        }
        return Ok(code);
    }
    print_problems(&a.problems);
    if let Some(p) = &a.plan {
        println!();
        println!("after the repair: {}", p.command.command_line());
    }
    println!(
        "cannot plan the upgrade: {} problem{} (errors on stderr)",
        a.problems.len(),
        if a.problems.len() == 1 { "" } else { "s" }
    );
    Ok(code)
}

fn print_problems(problems: &[Problem]) {
    for p in problems {
        eprintln!("error: {}", p.message);
        eprintln!("hint: {}", p.hint);
    }
}

fn print_compose(p: &sgapi::upgrade::UpgradePlan, compose: Option<&str>) {
    println!();
    match compose {
        Some(c) => {
            println!("# docker-compose form: fill in the <placeholders>; export PGPASSWORD, CODEINTEL_PGPASSWORD and");
            println!("# CODEINSIGHTS_PGPASSWORD first (docker passes them through, they never appear in the command)");
            println!("{c}");
            if p.command == MigratorCommand::Up {
                if let Some(image) = &p.image {
                    println!("# or, in the deployment directory with the migrator service at {image}: docker-compose up migrator");
                }
            }
        }
        None => println!(
            "# no migrator image for {}: start the frontend of {} to migrate",
            p.to, p.to
        ),
    }
}
