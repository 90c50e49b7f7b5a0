//! `upload -bucket=… [-credentials=FILE] [-file=a,b] [-filter-sql=true] [--gzip] [--jobs=N]`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use pgdump::DbRole;
use snapshot::stream::Transform;
use snapshot::upload::{upload, UploadEvent, UploadItem, UploadPlan, DEFAULT_CHUNK};

use super::{BucketFlags, SanitizeFlags};
use crate::render::{bytes, Progress, Table, Task};
use crate::{exit, Globals};

/// Flags of `upload`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Resumable: run the same command again after an interruption (even a reboot) and each file continues \
where the server stopped. Objects are never overwritten unless --overwrite. The manifest is uploaded last."
)]
pub struct UploadCmd {
    #[command(flatten)]
    pub bucket: BucketFlags,
    /// The snapshot folder.
    #[arg(long, default_value = "src-snapshot")]
    pub dir: PathBuf,
    /// Only these files (comma-separated: pgsql.sql, codeintel.sql, codeinsights.sql, summary.json; primary.sql = pgsql.sql).
    #[arg(long, value_delimiter = ',')]
    pub file: Vec<String>,
    /// Upload the dumps sanitized for a non-superuser managed PostgreSQL (made on the fly; the local files are not touched).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub filter_sql: bool,
    #[command(flatten)]
    pub sanitize: SanitizeFlags,
    /// Compress on the fly into NAME.sql.gz (Cloud SQL imports .gz).
    #[arg(long)]
    pub gzip: bool,
    /// gzip level (1 fastest … 9 smallest).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub gzip_level: u32,
    /// Files uploaded at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Replace objects that already exist in the bucket.
    #[arg(long)]
    pub overwrite: bool,
    /// Bytes per request (a multiple of 256 KiB).
    #[arg(long, default_value_t = DEFAULT_CHUNK, hide = true)]
    pub chunk_size: usize,
}

/// Runs `upload`.
pub fn run(cmd: UploadCmd, g: &Globals) -> anyhow::Result<u8> {
    if cmd.chunk_size == 0 || !cmd.chunk_size.is_multiple_of(256 << 10) {
        anyhow::bail!("--chunk-size must be a positive multiple of 262144 (256 KiB)");
    }
    let items = plan_items(&cmd)?;
    snapshot::ensure_manifest(&cmd.dir)
        .with_context(|| format!("reading the snapshot in {}", cmd.dir.display()))?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let store = Arc::new(rt.block_on(cmd.bucket.open())?);
    let plan = UploadPlan {
        dir: cmd.dir.clone(),
        items: items.clone(),
        overwrite: cmd.overwrite,
        jobs: cmd.jobs,
        chunk_size: cmd.chunk_size,
    };
    let progress = Progress::new(g.progress && !g.json);
    let tasks: Arc<Mutex<HashMap<String, Task>>> = Arc::new(Mutex::new(HashMap::new()));
    let sizes: HashMap<String, u64> = items
        .iter()
        .map(|i| {
            (
                i.object.clone(),
                std::fs::metadata(&i.path).map(|m| m.len()).unwrap_or(0),
            )
        })
        .collect();
    let notes: Arc<Mutex<Vec<String>>> = Arc::default();
    let on_event = {
        let tasks = tasks.clone();
        let notes = notes.clone();
        Arc::new(move |ev: UploadEvent| {
            let Ok(mut t) = tasks.lock() else { return };
            match ev {
                UploadEvent::Started {
                    object, resumed_at, ..
                } => {
                    let task = progress.task(&object, sizes.get(&object).copied());
                    if resumed_at > 0 {
                        if let Ok(mut n) = notes.lock() {
                            n.push(format!("{object}: resumed at byte {resumed_at}"));
                        }
                    }
                    t.insert(object, task);
                }
                UploadEvent::Progress {
                    object, input_done, ..
                } => {
                    if let Some(task) = t.get(&object) {
                        task.set(input_done);
                    }
                }
                UploadEvent::Done { object } | UploadEvent::Skipped { object } => {
                    if let Some(task) = t.remove(&object) {
                        task.finish();
                    }
                }
                UploadEvent::Note { object, message } => {
                    eprintln!("{object}: {message}");
                }
            }
        }) as snapshot::upload::UploadProgress
    };
    let started = std::time::Instant::now();
    let result = rt.block_on(upload(store.clone(), &plan, on_event));
    if let Ok(t) = tasks.lock() {
        for task in t.values() {
            task.finish();
        }
    }
    let results = result.with_context(|| format!("uploading to {}", store.describe()))?;
    let secs = started.elapsed().as_secs_f64();
    if g.json {
        let list: Vec<_> = results
            .iter()
            .map(|r| serde_json::json!({"object": r.record.object, "skipped": r.skipped, "resumed_at": r.resumed_at, "record": r.record}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"step": "upload", "location": store.describe(), "seconds": secs, "objects": list})
            )?
        );
        return Ok(exit::OK);
    }
    if let Ok(n) = notes.lock() {
        for line in n.iter() {
            eprintln!("{line}");
        }
    }
    let mut t = Table::new(&[
        "object",
        ">size",
        ">local",
        "crc32c",
        "md5",
        "sanitizer",
        ">changes",
        "status",
    ]);
    let mut sent = 0u64;
    for r in &results {
        let rec = &r.record;
        if !r.skipped {
            sent += rec.size.saturating_sub(r.resumed_at);
        }
        t.row(vec![
            rec.object.clone(),
            bytes(rec.size),
            bytes(rec.source_size),
            rec.crc32c.clone(),
            rec.md5.clone(),
            rec.sanitizer
                .clone()
                .map(|s| format!("{s} (PG {})", rec.target_major.unwrap_or(0)))
                .unwrap_or_else(|| "none".into()),
            rec.changes.to_string(),
            if r.skipped {
                "already uploaded".into()
            } else if r.resumed_at > 0 {
                format!("resumed at {}", bytes(r.resumed_at))
            } else {
                "uploaded".into()
            },
        ]);
    }
    print!("{}", t.render());
    println!(
        "{} sent in {secs:.1}s ({}/s) to {}; manifest.json uploaded last",
        bytes(sent),
        bytes((sent as f64 / secs.max(0.001)) as u64),
        store.describe()
    );
    Ok(exit::OK)
}

fn plan_items(cmd: &UploadCmd) -> anyhow::Result<Vec<UploadItem>> {
    let wanted = |name: &str| {
        cmd.file.is_empty()
            || cmd
                .file
                .iter()
                .any(|f| f == name || (f == "primary.sql" && name == "pgsql.sql"))
    };
    let sanitize = cmd.filter_sql.then(|| cmd.sanitize.options());
    let gzip = cmd.gzip.then_some(cmd.gzip_level);
    let mut items = Vec::new();
    let mut missing = Vec::new();
    for role in DbRole::all() {
        if !wanted(role.file_name()) {
            continue;
        }
        let mut path = cmd.dir.join(role.file_name());
        if !path.exists() {
            if let Some(legacy) = role.legacy_file_name() {
                if cmd.dir.join(legacy).exists() {
                    path = cmd.dir.join(legacy);
                }
            }
        }
        if !path.exists() {
            missing.push(role.file_name());
            continue;
        }
        items.push(UploadItem::dump(
            role.yaml_key(),
            path,
            Transform {
                sanitize: sanitize.clone(),
                gzip,
            },
        ));
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "{} has no {}; run `src-snapshot databases … --run -dir={}` first, or choose files with -file=",
            cmd.dir.display(),
            missing.join(", "),
            cmd.dir.display()
        );
    }
    let summary = cmd.dir.join("summary.json");
    if summary.exists() && wanted("summary.json") {
        items.push(UploadItem {
            role: None,
            object: "summary.json".into(),
            path: summary,
            transform: Transform {
                sanitize: None,
                gzip: None,
            },
            expected: None,
        });
    }
    for f in &cmd.file {
        let known = [
            "pgsql.sql",
            "primary.sql",
            "codeintel.sql",
            "codeinsights.sql",
            "summary.json",
        ];
        if !known.contains(&f.as_str()) {
            anyhow::bail!("-file: unknown file {f:?} (one of {})", known.join(", "));
        }
    }
    Ok(items)
}
