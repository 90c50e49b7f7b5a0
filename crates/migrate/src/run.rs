//! The orchestrator: runs the steps of one side (or both) in order, checks
//! each one's preconditions first, records everything in the journal, and
//! continues where it stopped with `resume`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::{MigrationConfig, Party, Side};
use crate::error::MigrateError;
use crate::journal::{Journal, Status, JOURNAL_FILE};
use crate::records::{self, UpgradeRecord};
use crate::report::{self, ReportFiles};
use crate::step::StepId;
use crate::steps::{self, Ctx};

/// Receives the bytes a long step (databases, upload, import) has moved so
/// far, and its total when known. Called from several threads.
pub type ProgressFn = Arc<dyn Fn(StepId, u64, Option<u64>) + Send + Sync>;

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Continue a recorded migration from its first unfinished step.
    pub resume: bool,
    /// Run this step and every later one again, whatever the journal says.
    pub from_step: Option<StepId>,
    /// Stop after this step (the rest waits for `resume`).
    pub stop_after: Option<StepId>,
    /// Print what would run; change nothing.
    pub dry_run: bool,
    /// The config file, for the commands printed in hints.
    pub config_path: Option<PathBuf>,
    /// Progress of long steps, for a display.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("resume", &self.resume)
            .field("from_step", &self.from_step)
            .field("stop_after", &self.stop_after)
            .field("dry_run", &self.dry_run)
            .field("config_path", &self.config_path)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// What the flow reports as it goes (the library prints nothing).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A step starts.
    Started {
        /// The step.
        step: StepId,
        /// Which attempt this is (1 for the first).
        attempt: u32,
    },
    /// A step is not run.
    Skipped {
        /// The step.
        step: StepId,
        /// Why (already done, listed in skip_steps, before --from-step, nothing to do).
        reason: String,
    },
    /// A step succeeded.
    Succeeded {
        /// The step.
        step: StepId,
        /// How long it took.
        seconds: f64,
        /// Its outcome line.
        message: String,
    },
    /// A step failed (the error returned says what to do).
    Failed {
        /// The step.
        step: StepId,
        /// How long it ran.
        seconds: f64,
        /// What went wrong.
        message: String,
    },
    /// Something worth knowing that is not a step's outcome.
    Note {
        /// The step it belongs to, if any.
        step: Option<StepId>,
        /// The note.
        message: String,
    },
    /// `--dry-run`: what would happen to a step.
    Plan {
        /// The step.
        step: StepId,
        /// `run`, `skip` or `stop`.
        action: &'static str,
        /// Why, for skip and stop.
        reason: Option<String>,
        /// The equivalent command.
        command: String,
    },
}

/// Where a run left the migration.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The journal as saved.
    pub journal: Journal,
    /// Where it is.
    pub journal_path: PathBuf,
    /// Every step of the side(s) is done.
    pub complete: bool,
    /// The first step left to do.
    pub next: Option<StepId>,
    /// Stopped after this step as asked.
    pub stopped_after: Option<StepId>,
    /// The report, when one was written.
    pub report: Option<ReportFiles>,
    /// Nothing was run or changed.
    pub dry_run: bool,
}

fn resume_cmd(opts: &RunOptions) -> String {
    crate::commands::migrate_command(opts.config_path.as_deref())
}

/// The journal to continue: the local one, merged with the bucket's copy
/// (the other side's steps). Reading changes nothing.
async fn load_journal(
    cfg: &MigrationConfig,
    store: &mut Option<Arc<bucket::Store>>,
    events: &(dyn Fn(Event) + Sync),
) -> Result<(Journal, bool), MigrateError> {
    let local = Journal::load(&cfg.snapshot_dir)?;
    let had_local = local.is_some();
    let mut journal = local.unwrap_or_else(|| Journal::new(&cfg.name));
    if let Some(loc) = cfg.bucket.as_deref() {
        match steps::open_store(cfg, loc).await {
            Ok(s) => {
                let s = Arc::new(s);
                match steps::read_bucket_journal(&s).await {
                    Ok(Some(bytes)) => {
                        let other = Journal::from_slice(&bytes, &format!("{}/{JOURNAL_FILE}", s.describe()))?;
                        journal.merge(&other);
                    }
                    Ok(None) => {}
                    Err(bucket::BucketError::PermissionDenied { .. }) => {}
                    Err(e) => events(Event::Note {
                        step: None,
                        message: format!("cannot read the journal's copy in {}: {e}", s.describe()),
                    }),
                }
                *store = Some(s);
            }
            Err(e) => events(Event::Note {
                step: None,
                message: format!("cannot open the bucket {loc} to read the journal's copy: {e}"),
            }),
        }
    }
    Ok((journal, had_local))
}

/// Runs the migration's steps for `cfg.side`.
///
/// # Errors
/// - [`MigrateError::JournalExists`] when a journal records progress and
///   neither `resume` nor `from_step` is given;
/// - [`MigrateError::UnknownStep`] for a step not of this side;
/// - [`MigrateError::Precondition`] when a step cannot start;
/// - [`MigrateError::StepFailed`] when a step fails (its hint says what to
///   do, then resume). The journal and the report are written first.
pub async fn run(
    cfg: &MigrationConfig,
    opts: &RunOptions,
    events: &(dyn Fn(Event) + Sync),
) -> Result<RunOutcome, MigrateError> {
    let side = cfg.side;
    let order = StepId::for_side(side);
    for s in [opts.from_step, opts.stop_after].into_iter().flatten() {
        if !order.contains(&s) {
            return Err(MigrateError::UnknownStep {
                given: s.name().into(),
                side: side.as_str(),
                known: order.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
            });
        }
    }
    let mut store = None;
    let (mut journal, _) = load_journal(cfg, &mut store, events).await?;
    let journal_path = cfg.snapshot_dir.join(JOURNAL_FILE);
    if !opts.resume && opts.from_step.is_none() && !opts.dry_run && journal.started(side) {
        let (done, total) = journal.progress(side);
        return Err(MigrateError::JournalExists {
            path: journal_path,
            done,
            total,
            next: journal
                .next(side)
                .map_or("nothing".into(), |s| s.name().to_string()),
        });
    }
    if opts.dry_run {
        return Ok(dry_run(cfg, opts, journal, journal_path, events));
    }
    for party in [Party::Customer, Party::Operator] {
        if side.includes(party) {
            journal.configs.insert(party, cfg.clone());
        }
    }
    if let Some(from) = opts.from_step {
        for s in order.iter().filter(|s| **s >= from) {
            journal.reopen(*s);
        }
    }
    let mut ctx = Ctx {
        cfg,
        journal,
        store,
        notes: Arc::new(Mutex::new(Vec::new())),
        progress: opts.progress.clone(),
    };
    let mut mirror_warned = false;
    save(&mut ctx, events, &mut mirror_warned).await?;

    let mut stopped_after = None;
    let mut failure = None;
    for step in order.iter().copied() {
        if opts.from_step.is_some_and(|f| step < f) {
            let r = ctx.journal.get(step);
            events(Event::Skipped {
                step,
                reason: format!("before --from-step ({})", r.status.as_str()),
            });
            continue;
        }
        let rec = ctx.journal.get(step).clone();
        if rec.status.is_done() {
            events(Event::Skipped {
                step,
                reason: format!(
                    "already {}{}{}",
                    rec.status.as_str(),
                    rec.finished_at.map(|t| format!(" at {t}")).unwrap_or_default(),
                    rec.message.map(|m| format!(": {m}")).unwrap_or_default()
                ),
            });
            continue;
        }
        if cfg.skips(step) {
            ctx.journal.skip(step, "listed in skip_steps");
            events(Event::Skipped {
                step,
                reason: "listed in skip_steps".into(),
            });
            save(&mut ctx, events, &mut mirror_warned).await?;
            continue;
        }
        ctx.journal.start(step);
        let attempt = ctx.journal.get(step).attempts;
        events(Event::Started { step, attempt });
        let started = Instant::now();
        if let Err((message, hint)) = steps::precondition(step, cfg, &ctx.journal) {
            let secs = started.elapsed().as_secs_f64();
            ctx.journal.finish(
                step,
                Status::Failed,
                secs,
                format!("cannot start: {message}"),
                Default::default(),
            );
            events(Event::Failed {
                step,
                seconds: secs,
                message: format!("cannot start: {message}"),
            });
            failure = Some(MigrateError::Precondition {
                step,
                message,
                hint: format!("{hint}; then continue: {}", resume_cmd(opts)),
            });
            break;
        }
        save(&mut ctx, events, &mut mirror_warned).await?;
        let result = steps::run(step, &mut ctx).await;
        let secs = started.elapsed().as_secs_f64();
        drain_notes(&ctx, step, events);
        match result {
            Ok(o) => {
                let status = if o.skipped {
                    Status::Skipped
                } else {
                    Status::Succeeded
                };
                ctx.journal
                    .finish(step, status, secs, o.message.clone(), o.figures);
                if o.skipped {
                    events(Event::Skipped {
                        step,
                        reason: o.message,
                    });
                } else {
                    events(Event::Succeeded {
                        step,
                        seconds: secs,
                        message: o.message,
                    });
                }
            }
            Err(f) => {
                ctx.journal
                    .finish(step, Status::Failed, secs, f.message.clone(), f.figures);
                events(Event::Failed {
                    step,
                    seconds: secs,
                    message: f.message.clone(),
                });
                let hint = match f.hint {
                    Some(h) => format!("{h}; then continue: {}", resume_cmd(opts)),
                    None => format!("fix the cause, then continue: {}", resume_cmd(opts)),
                };
                failure = Some(MigrateError::StepFailed {
                    step,
                    kind: f.kind,
                    message: f.message,
                    hint,
                });
            }
        }
        save(&mut ctx, events, &mut mirror_warned).await?;
        if failure.is_some() {
            break;
        }
        if opts.stop_after == Some(step) {
            stopped_after = Some(step);
            break;
        }
    }
    let report = match report::write(cfg, &ctx.journal, None) {
        Ok(r) => Some(r),
        Err(e) => {
            events(Event::Note {
                step: None,
                message: format!("could not write the report: {e}"),
            });
            None
        }
    };
    if let Some(e) = failure {
        return Err(e);
    }
    let next = ctx.journal.next(side);
    Ok(RunOutcome {
        complete: next.is_none(),
        next,
        journal: ctx.journal,
        journal_path,
        stopped_after,
        report,
        dry_run: false,
    })
}

fn drain_notes(ctx: &Ctx<'_>, step: StepId, events: &(dyn Fn(Event) + Sync)) {
    let notes: Vec<String> = ctx
        .notes
        .lock()
        .map(|mut n| n.drain(..).collect())
        .unwrap_or_default();
    for message in notes {
        events(Event::Note {
            step: Some(step),
            message,
        });
    }
}

/// Saves the journal locally, then mirrors it into the bucket (best effort:
/// a failed mirror is noted once, never fatal).
async fn save(
    ctx: &mut Ctx<'_>,
    events: &(dyn Fn(Event) + Sync),
    warned: &mut bool,
) -> Result<(), MigrateError> {
    ctx.journal.save(&ctx.cfg.snapshot_dir)?;
    if ctx.cfg.bucket.is_none() {
        return Ok(());
    }
    let text = ctx.journal.to_json();
    let result = match ctx.store().await {
        Ok(s) => s
            .put_small(
                JOURNAL_FILE,
                bytes::Bytes::from(text),
                &bucket::UploadOptions {
                    overwrite: true,
                    content_type: "application/json".into(),
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(f) => Err(f.message),
    };
    match result {
        Ok(()) => *warned = false,
        Err(e) if !*warned => {
            *warned = true;
            events(Event::Note {
                step: None,
                message: format!(
                    "could not mirror the journal into the bucket ({e}); it is kept in {} and mirrored again after the next step",
                    ctx.cfg.snapshot_dir.display()
                ),
            });
        }
        Err(_) => {}
    }
    Ok(())
}

fn dry_run(
    cfg: &MigrationConfig,
    opts: &RunOptions,
    journal: Journal,
    journal_path: PathBuf,
    events: &(dyn Fn(Event) + Sync),
) -> RunOutcome {
    let side = cfg.side;
    let plan: Option<UpgradeRecord> = records::load(&cfg.snapshot_dir, StepId::UpgradePlan);
    let mut blocked = false;
    for step in StepId::for_side(side) {
        let command = crate::commands::command(step, cfg, plan.as_ref());
        let rec = journal.get(step);
        let rerun = opts.from_step.is_some_and(|f| step >= f);
        let (action, reason) = if opts.from_step.is_some_and(|f| step < f) {
            ("skip", Some("before --from-step".to_string()))
        } else if rec.status.is_done() && !rerun {
            (
                "skip",
                Some(format!(
                    "already {}{}",
                    rec.status.as_str(),
                    rec.finished_at
                        .as_ref()
                        .map(|t| format!(" at {t}"))
                        .unwrap_or_default()
                )),
            )
        } else if cfg.skips(step) {
            ("skip", Some("listed in skip_steps".into()))
        } else if blocked {
            ("run", Some("after the step above".into()))
        } else {
            // Only what the config alone decides: later steps' inputs do not exist yet.
            let mut j = journal.clone();
            for s in StepId::for_side(side).into_iter().filter(|s| *s < step) {
                if !j.get(s).status.is_done() {
                    j.skip(s, "assumed done for the dry run");
                }
            }
            match steps::precondition(step, cfg, &j) {
                Ok(()) => ("run", None),
                Err((m, h)) => {
                    blocked = true;
                    ("stop", Some(format!("{m} ({h})")))
                }
            }
        };
        events(Event::Plan {
            step,
            action,
            reason,
            command,
        });
        if opts.stop_after == Some(step) {
            break;
        }
    }
    let next = journal.next(side);
    RunOutcome {
        complete: next.is_none(),
        next,
        journal,
        journal_path,
        stopped_after: None,
        report: None,
        dry_run: true,
    }
}

/// Which side(s) a journal's steps belong to, for callers without a config.
pub fn side_of(journal: &Journal) -> Side {
    match (
        journal.configs.contains_key(&Party::Customer),
        journal.configs.contains_key(&Party::Operator),
    ) {
        (true, false) => Side::Customer,
        (false, true) => Side::Operator,
        _ => Side::Both,
    }
}
