//! `import (-bucket=…|-dir=…) --target-url=URL [--databases=…] [--jobs=N] [--via=native|gcloud]`.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use snapshot::import::{import, ImportEvent, ImportOptions, ImportSource};

use super::{SnapshotSourceFlags, TargetDbFlags};
use crate::render::{bytes, Progress, Table};
use crate::{exit, Globals};

/// How the snapshot gets into the target.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Load through a Postgres connection: parallel, resumable, checked.
    Native,
    /// Cloud SQL's own importer (`gcloud sql import sql`), one database at a time.
    Gcloud,
}

/// Flags of `import`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The target databases must be empty (see `reset`) or hold an interrupted import of the same \
snapshot, which is continued: finished tables and statements are kept.\n\
The connecting user need not be a superuser; statements it cannot run (extensions it cannot create, owners, grants) are \
left out and listed.\n\
Exit 1 when the import failed; what committed stays and the next run continues from there."
)]
pub struct ImportCmd {
    #[command(flatten)]
    pub source: SnapshotSourceFlags,
    #[command(flatten)]
    pub target: TargetDbFlags,
    /// Connections loading data and building indexes (over all databases).
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// native (load through the connection) or gcloud (print or run Cloud SQL's importer commands).
    #[arg(long, value_enum, default_value = "native")]
    pub via: Via,
    /// Where table data read from a bucket waits for a connection (default: the system's temp folder).
    #[arg(long)]
    pub spool_dir: Option<PathBuf>,
    /// At most this many GiB of spooled table data at once.
    #[arg(long, default_value_t = 16)]
    pub spool_limit_gib: u64,
    /// --via=gcloud: the Cloud SQL instance.
    #[arg(long)]
    pub instance: Option<String>,
    /// --via=gcloud: the Google Cloud project.
    #[arg(long)]
    pub project: Option<String>,
    /// --via=gcloud: run the commands (default: print them).
    #[arg(long)]
    pub run: bool,
}

/// Runs `import`.
pub fn run(cmd: ImportCmd, g: &Globals) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let roles = cmd.target.targets()?;
    let source = rt.block_on(cmd.source.open())?;
    if cmd.via == Via::Gcloud {
        return rt.block_on(gcloud(&cmd, &source, &roles, g));
    }
    let target = cmd.target.conn()?;
    let opts = ImportOptions {
        databases: roles,
        jobs: cmd.jobs.max(1),
        spool_dir: cmd.spool_dir.clone().unwrap_or_else(std::env::temp_dir),
        spool_limit: cmd.spool_limit_gib.saturating_mul(1 << 30),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let progress = Progress::new(g.progress);
    let report = rt.block_on(async {
        let work = import(&source, &target, &opts, tx);
        tokio::pin!(work);
        let mut dbs: HashMap<String, DbProgress> = HashMap::new();
        loop {
            tokio::select! {
                r = &mut work => break r,
                Some(ev) = rx.recv() => match ev {
                    ImportEvent::Planned { db, bytes, tables } => {
                        let task = progress.task(&db, Some(bytes));
                        dbs.insert(db, DbProgress { task, phase: String::new(), active: Vec::new(), done: 0, total: tables });
                    }
                    ImportEvent::Phase { db, phase } => {
                        if let Some(p) = dbs.get_mut(&db) {
                            p.phase = phase;
                            p.show();
                        }
                    }
                    ImportEvent::Progress { db, bytes } => {
                        if let Some(p) = dbs.get(&db) {
                            p.task.add(bytes);
                        }
                    }
                    ImportEvent::TableStarted { db, table } => {
                        if let Some(p) = dbs.get_mut(&db) {
                            p.active.push(table);
                            p.show();
                        }
                    }
                    ImportEvent::TableDone { db, table, bytes, resumed, .. } => {
                        if let Some(p) = dbs.get_mut(&db) {
                            if resumed {
                                p.task.add(bytes);
                            }
                            p.active.retain(|t| *t != table);
                            p.done += 1;
                            p.show();
                        }
                    }
                },
            }
        }
    });
    // A reader stopped by a failure elsewhere may still be blocked on I/O: don't wait for it.
    rt.shutdown_background();
    let report =
        report.with_context(|| format!("importing {} into {}", source.describe(), target.describe("…")))?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(exit::OK);
    }
    let mut t = Table::new(&[
        "database",
        ">tables",
        ">rows",
        ">expected",
        ">data",
        ">post-data",
        ">removed",
        ">seconds",
        "note",
    ]);
    for d in &report.databases {
        let rows: u64 = d.tables.iter().map(|t| t.rows).sum();
        let expected: u64 = d.tables.iter().map(|t| t.expected_rows).sum();
        let resumed = d.tables.iter().filter(|t| t.resumed).count();
        t.row(vec![
            d.database.clone(),
            d.tables.len().to_string(),
            rows.to_string(),
            expected.to_string(),
            bytes(d.tables.iter().map(|t| t.bytes).sum()),
            (d.post_data_statements + d.post_data_resumed).to_string(),
            d.removed.len().to_string(),
            format!("{:.1}", d.seconds),
            if d.resumed {
                format!(
                    "continued: {resumed} tables and {} statements were already done",
                    d.post_data_resumed
                )
            } else {
                String::new()
            },
        ]);
    }
    print!("{}", t.render());
    for d in &report.databases {
        if d.removed.is_empty() {
            continue;
        }
        let mut rules: Vec<(&str, usize)> = Vec::new();
        for c in &d.removed {
            match rules.iter_mut().find(|(r, _)| *r == c.rule) {
                Some(e) => e.1 += 1,
                None => rules.push((&c.rule, 1)),
            }
        }
        let summary: Vec<String> = rules.iter().map(|(r, n)| format!("{n} {r}")).collect();
        println!(
            "{}: left out {} statements the target user cannot run ({}); --json lists each",
            d.database,
            d.removed.len(),
            summary.join(", ")
        );
        // Extensions not created matter to Sourcegraph: name them.
        for c in d
            .removed
            .iter()
            .filter(|c| c.statement.starts_with("CREATE EXTENSION"))
        {
            println!("  line {}: {} — {}", c.line, c.statement, c.reason);
        }
    }
    println!(
        "imported into {} (PostgreSQL {}, as {}) in {:.1} s; every table matched its fingerprint. Check the whole target with `src-snapshot compare`.",
        target.describe("…"),
        report.server_version,
        report.user,
        report.seconds
    );
    Ok(exit::OK)
}

/// One database's progress line: its bar, phase, tables loading and done.
struct DbProgress {
    task: crate::render::Task,
    phase: String,
    active: Vec<String>,
    done: usize,
    total: usize,
}

impl DbProgress {
    fn show(&self) {
        let mut msg = format!("{} · {}/{} tables", self.phase, self.done, self.total);
        if let Some(first) = self.active.first() {
            msg.push_str(&format!(" · loading {first}"));
            if self.active.len() > 1 {
                msg.push_str(&format!(" +{}", self.active.len() - 1));
            }
        }
        self.task.message(&msg);
    }
}

/// `--via=gcloud`: Cloud SQL's importer, one database at a time (it runs
/// one import per instance), each with `--async` and an operation wait.
async fn gcloud(
    cmd: &ImportCmd,
    source: &ImportSource,
    roles: &[(pgdump::DbRole, String)],
    g: &Globals,
) -> anyhow::Result<u8> {
    let ImportSource::Bucket(store) = source else {
        anyhow::bail!("--via=gcloud imports from a gs:// bucket; give -bucket=gs://…");
    };
    let location = store.describe();
    if !location.starts_with("gs://") {
        anyhow::bail!("--via=gcloud needs a gs:// bucket (Cloud SQL reads from GCS), not {location}");
    }
    let instance = cmd
        .instance
        .as_deref()
        .context("--via=gcloud needs --instance=CLOUD_SQL_INSTANCE")?;
    let manifest = source.manifest().await?;
    let user = match &cmd.target.target_url {
        Some(u) => Some(
            pgload::ConnSpec::from_url(u)
                .context("--target-url")?
                .user()
                .to_string(),
        ),
        None => None,
    };
    let mut steps = Vec::new();
    for (role, database) in roles {
        let entry = manifest
            .files
            .iter()
            .find(|f| f.role == role.yaml_key())
            .with_context(|| format!("the snapshot has no {} dump", role.yaml_key()))?;
        let rec = entry
            .upload
            .as_ref()
            .with_context(|| format!("the manifest records no upload of {}", entry.name))?;
        if rec.sanitizer.as_deref() != Some("cloudsql") {
            anyhow::bail!(
                "{}/{} was uploaded without the cloudsql sanitizer; Cloud SQL's importer would fail on it. Upload again with -filter-sql=true, or use --via=native",
                location,
                rec.object
            );
        }
        let mut args: Vec<String> = vec!["gcloud".into()];
        if let Some(p) = &cmd.project {
            args.push(format!("--project={p}"));
        }
        args.extend([
            "sql".into(),
            "import".into(),
            "sql".into(),
            instance.to_string(),
            format!("{location}/{}", rec.object),
            format!("--database={database}"),
        ]);
        if let Some(u) = &user {
            args.push(format!("--user={u}"));
        }
        args.extend(["--async".into(), "--quiet".into(), "--format=value(name)".into()]);
        steps.push((database.clone(), args));
    }
    if !cmd.run {
        if g.json {
            let list: Vec<_> = steps
                .iter()
                .map(|(db, a)| serde_json::json!({"database": db, "argv": a}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(exit::OK);
        }
        println!("# One import at a time per instance; wait for each before starting the next.");
        for (_, args) in &steps {
            let line: Vec<String> = args
                .iter()
                .map(|a| pgdump::shell::quote(a).into_owned())
                .collect();
            println!("OP=$({})", line.join(" "));
            let mut wait = vec!["gcloud".to_string()];
            if let Some(p) = &cmd.project {
                wait.push(format!("--project={p}"));
            }
            wait.extend(["sql", "operations", "wait", "\"$OP\"", "--timeout=unlimited"].map(String::from));
            println!(
                "{}",
                wait.iter()
                    .map(|a| if a == "\"$OP\"" {
                        a.clone()
                    } else {
                        pgdump::shell::quote(a).into_owned()
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        println!("# Then check the result: src-snapshot compare -bucket={location} --target-url=…");
        return Ok(exit::OK);
    }
    for (db, args) in &steps {
        eprintln!("importing {db} with gcloud …");
        let out = tokio::process::Command::new(&args[0])
            .args(&args[1..])
            .output()
            .await
            .with_context(|| format!("running {} (is the Google Cloud SDK installed?)", args[0]))?;
        if !out.status.success() {
            anyhow::bail!(
                "gcloud sql import for {db} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let op = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if op.is_empty() {
            anyhow::bail!("gcloud sql import for {db} printed no operation name");
        }
        let mut wait: Vec<String> = Vec::new();
        if let Some(p) = &cmd.project {
            wait.push(format!("--project={p}"));
        }
        wait.extend([
            "sql".into(),
            "operations".into(),
            "wait".into(),
            op.clone(),
            "--timeout=unlimited".into(),
        ]);
        let st = tokio::process::Command::new(&args[0])
            .args(&wait)
            .status()
            .await
            .context("running gcloud sql operations wait")?;
        if !st.success() {
            anyhow::bail!("the Cloud SQL import of {db} (operation {op}) failed; see `gcloud sql operations describe {op}`");
        }
        eprintln!("{db}: imported (operation {op})");
    }
    println!("imported with gcloud; check the result with `src-snapshot compare -bucket={location} --target-url=…`");
    Ok(exit::OK)
}
