//! `migrate --config=migration.yaml [--resume] [--from-step=STEP] [--stop-after=STEP] [--dry-run]`:
//! the whole runbook as one resumable flow.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use migrate::{Event, MigrateError, MigrationConfig, RunOptions, StepId};

use crate::render::{Progress, Task};
use crate::{exit, Globals};

/// Flags of `migrate`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Steps — customer: preflight, notice-add, databases, summary, upload, verify-upload; \
operator: verify-bucket, reset, import, compare, upgrade-plan, migrator, test, notice-remove (`side:` in the config picks \
which run here).\n\
Each step's preconditions are checked before it runs, and every start and end is recorded in \
SNAPSHOT_DIR/migration-journal.json (mirrored into the bucket). After a failure, fix the cause and run again with \
--resume: steps that succeeded are skipped. At the end, SNAPSHOT_DIR/report.{html,md,json}.\n\
Exit codes: 0 done (or stopped as asked), 1 a step's check failed (a difference, a failed test), 2 a step could not run."
)]
pub struct MigrateCmd {
    /// The migration's config file (see docs/MIGRATE.md).
    #[arg(long, default_value = migrate::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Continue from the first unfinished step.
    #[arg(long)]
    pub resume: bool,
    /// Run this step and every later one again, whatever the journal says.
    #[arg(long, value_name = "STEP")]
    pub from_step: Option<String>,
    /// Stop after this step (continue later with --resume).
    #[arg(long, value_name = "STEP")]
    pub stop_after: Option<String>,
    /// Print what would run, with each step's command; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Prints a line; a closed stdout (`| head`) must not stop a migration half way.
fn say(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn step(name: &Option<String>, flag: &str) -> anyhow::Result<Option<StepId>> {
    match name {
        None => Ok(None),
        Some(n) => StepId::parse(n).map(Some).with_context(|| {
            format!(
                "{flag}: unknown step {n:?}; steps: {}",
                StepId::names().join(", ")
            )
        }),
    }
}

fn line(ev: &Event) -> String {
    match ev {
        Event::Started { step, attempt } => format!(
            "==> [{}] {step}: {}{}",
            step.party().as_str(),
            step.title(),
            if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            }
        ),
        Event::Succeeded { seconds, message, .. } => format!("    ok ({seconds:.1} s): {message}"),
        Event::Skipped { step, reason } => {
            format!("--- [{}] {step}: skipped: {reason}", step.party().as_str())
        }
        Event::Failed { seconds, message, .. } => format!("    FAILED ({seconds:.1} s): {message}"),
        Event::Note { message, .. } => format!("    note: {message}"),
        Event::Plan {
            step,
            action,
            reason,
            command,
        } => {
            let why = reason.as_ref().map(|r| format!(" — {r}")).unwrap_or_default();
            let head = format!("[{action:<4}] {step} ({}){why}", step.party().as_str());
            if *action == "skip" {
                head
            } else {
                format!("{head}\n       $ {command}")
            }
        }
    }
}

/// Runs `migrate`.
pub fn run(cmd: MigrateCmd, g: &Globals) -> anyhow::Result<u8> {
    let cfg = match MigrationConfig::load(&cmd.config) {
        Ok(c) => c,
        Err(e) => {
            crate::render::error(&anyhow::Error::new(e));
            return Ok(exit::ERROR);
        }
    };
    // Long steps (dumps, upload, import) get a bar on a terminal, a line every 10 s otherwise.
    let bars = Arc::new(Progress::new(g.progress && !g.json));
    let tasks: Arc<Mutex<HashMap<StepId, Task>>> = Arc::default();
    let on_progress: migrate::ProgressFn = {
        let (bars, tasks) = (bars.clone(), tasks.clone());
        Arc::new(move |step: StepId, done: u64, total: Option<u64>| {
            let Ok(mut t) = tasks.lock() else { return };
            let task = t.entry(step).or_insert_with(|| bars.task(step.name(), total));
            // The total grows as each database's plan arrives.
            if task.total() != total {
                task.set_total(total);
            }
            task.set(done);
        })
    };
    let opts = RunOptions {
        resume: cmd.resume,
        from_step: step(&cmd.from_step, "--from-step")?,
        stop_after: step(&cmd.stop_after, "--stop-after")?,
        dry_run: cmd.dry_run,
        config_path: Some(std::path::absolute(&cmd.config).unwrap_or(cmd.config.clone())),
        progress: Some(on_progress),
    };
    let json = g.json;
    let print = move |ev: Event| {
        if let Event::Succeeded { step, .. } | Event::Failed { step, .. } | Event::Skipped { step, .. } = &ev
        {
            if let Some(t) = tasks.lock().ok().and_then(|mut t| t.remove(step)) {
                t.finish();
            }
        }
        // With --json, stdout carries only the final JSON.
        if json {
            eprintln!("{}", line(&ev));
        } else {
            say(&line(&ev));
        }
    };
    if cmd.dry_run && !json {
        say(&format!(
            "dry run of the {} side{} of migration {}: nothing is changed",
            cfg.side.as_str(),
            if cfg.side == migrate::Side::Both { "s" } else { "" },
            cfg.name
        ));
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = rt.block_on(migrate::run(&cfg, &opts, &print));
    // A reader stopped by a failure elsewhere may still be blocked on I/O: don't wait for it.
    rt.shutdown_background();
    let out = match result {
        Ok(o) => o,
        Err(e) => return Ok(failed(e, &opts, json)),
    };
    if json {
        let v = serde_json::json!({
            "complete": out.complete,
            "next": out.next.map(|s| s.name()),
            "stopped_after": out.stopped_after.map(|s| s.name()),
            "dry_run": out.dry_run,
            "journal": out.journal_path,
            "report": out.report.as_ref().map(|r| serde_json::json!({"html": r.html, "markdown": r.markdown, "json": r.json})),
            "steps": out.journal.steps.iter().filter(|r| cfg.side.includes(r.party)).collect::<Vec<_>>(),
        });
        say(&serde_json::to_string_pretty(&v)?);
        return Ok(exit::OK);
    }
    if out.dry_run {
        say("nothing was changed (dry run)");
        return Ok(exit::OK);
    }
    say("");
    if let Some(r) = &out.report {
        say(&format!(
            "report: {} (also report.md, report.json)",
            r.html.display()
        ));
    }
    say(&format!("journal: {}", out.journal_path.display()));
    match (out.stopped_after, out.next) {
        (Some(s), Some(n)) => say(&format!(
            "stopped after {s} as asked; next: {n} (the {}): {}",
            n.party().as_str(),
            migrate::commands::migrate_command(opts.config_path.as_deref())
        )),
        (_, Some(n)) => say(&format!("next: {n} (the {})", n.party().as_str())),
        (_, None) => match out.journal.next(migrate::Side::Both) {
            Some(n) => say(&format!(
                "the {} side is done; next: {n} (the {}); `src-snapshot runbook` shows what is left",
                cfg.side.as_str(),
                n.party().as_str()
            )),
            None => say("migration complete: every step is done"),
        },
    }
    Ok(exit::OK)
}

fn failed(e: MigrateError, opts: &RunOptions, json: bool) -> u8 {
    let code = if e.is_check_failure() {
        exit::FAILED
    } else {
        exit::ERROR
    };
    let hint = e.hint().map(str::to_string);
    let step = match &e {
        MigrateError::StepFailed { step, .. } | MigrateError::Precondition { step, .. } => Some(*step),
        _ => None,
    };
    if json {
        say(
            &serde_json::json!({"complete": false, "failed_step": step.map(|s| s.name()), "error": e.to_string(), "hint": hint})
                .to_string(),
        );
    }
    crate::render::error(&anyhow::Error::new(e));
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    }
    if step.is_some() {
        eprintln!(
            "where it stands: src-snapshot runbook{}",
            opts.config_path
                .as_ref()
                .map(|p| format!(" --config={}", pgdump::shell::quote(&p.display().to_string())))
                .unwrap_or_default()
        );
    }
    code
}
