//! `databases <pg_dump|docker|kubectl> [--targets=…] [--run]`.

use std::path::PathBuf;

use anyhow::Context;
use pgdump::{display_header, dump_commands, DbRole};
use snapshot::{dump_databases, dump_to_bucket, DumpOptions, Manifest, StreamOptions};

use super::{SanitizeFlags, TargetFlags};
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
    #[command(flatten)]
    pub target: TargetFlags,
    /// The pg_dump program (inside the container or pod in docker/kubectl mode).
    #[arg(long, default_value = "pg_dump")]
    pub pg_dump: String,
    /// Only these databases (pgsql, codeintel, codeinsights; comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    #[command(flatten)]
    pub sanitize: SanitizeFlags,
    /// With --run: stream each dump straight into this bucket (NAME, gs://NAME[/PREFIX], file:///PATH), keeping no local copy.
    #[arg(long)]
    pub bucket: Option<String>,
    /// A service-account key JSON file for -bucket.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// With -bucket: send the cloudsql-sanitized stream.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub filter_sql: bool,
    /// With -bucket: compress on the fly into NAME.sql.gz.
    #[arg(long)]
    pub gzip: bool,
    /// gzip level (1 fastest … 9 smallest).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub gzip_level: u32,
    /// With -bucket: replace objects that already exist.
    #[arg(long)]
    pub overwrite: bool,
}

/// Runs `databases`.
pub fn run(cmd: DatabasesCmd, g: &Globals) -> anyhow::Result<u8> {
    let mut targets = cmd.target.resolve()?;
    let (mode, dir) = (cmd.target.mode, cmd.target.dir.clone());
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
    if !cmd.target.run {
        let commands = dump_commands(mode, &targets, &dir, &cmd.pg_dump)?;
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
        println!("mkdir -p {}", pgdump::shell::quote(&dir.display().to_string()));
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
        mode,
        targets,
        dir: dir.clone(),
        pg_dump: cmd.pg_dump.clone(),
        preview: cmd.sanitize.options(),
        only,
    };
    let report = |role: DbRole, n: u64| {
        if let Some((_, t)) = tasks.iter().find(|(r, _)| *r == role) {
            t.set(n);
        }
    };
    if let Some(bucket) = &cmd.bucket {
        for (_, t) in &tasks {
            t.finish();
        }
        return stream_to_bucket(&cmd, bucket, &opts, g);
    }
    let result = dump_databases(&opts, &report);
    for (_, t) in &tasks {
        t.finish();
    }
    let manifest = result.with_context(|| format!("dumping into {}", dir.display()))?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        print_summary(&manifest, &dir);
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

/// `databases --run -bucket=…`: no local copy of the dumps.
fn stream_to_bucket(cmd: &DatabasesCmd, bucket: &str, opts: &DumpOptions, g: &Globals) -> anyhow::Result<u8> {
    use snapshot::stream::Transform;
    use snapshot::upload::UploadEvent;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let flags = super::BucketFlags {
        bucket: bucket.to_string(),
        credentials: cmd.credentials.clone(),
    };
    let store = std::sync::Arc::new(rt.block_on(flags.open())?);
    let stream = StreamOptions {
        transform: Transform {
            sanitize: cmd.filter_sql.then(|| cmd.sanitize.options()),
            gzip: cmd.gzip.then_some(cmd.gzip_level),
        },
        overwrite: cmd.overwrite,
        chunk_size: snapshot::upload::DEFAULT_CHUNK,
        attempts: 3,
    };
    let json = g.json;
    let on_event = std::sync::Arc::new(move |ev: UploadEvent| {
        if let UploadEvent::Note { object, message } = ev {
            eprintln!("{object}: {message}");
        } else if let (UploadEvent::Done { object }, false) = (ev, json) {
            eprintln!("{object}: dumped and uploaded");
        }
    }) as snapshot::upload::UploadProgress;
    let manifest = rt
        .block_on(dump_to_bucket(opts, store.clone(), &stream, on_event))
        .with_context(|| format!("dumping into {}", store.describe()))?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        print_summary(&manifest, &opts.dir);
        println!(
            "Objects: {} (no local copy of the dumps kept; the manifest was uploaded last)",
            store.describe()
        );
    }
    Ok(exit::OK)
}
