//! `src-snapshot`: move a self-hosted Sourcegraph's three PostgreSQL
//! databases into a managed instance and prove nothing was lost.
//!
//! This binary is glue: it parses flags (src-cli's Go style and GNU style),
//! calls the library crates and renders their results. Exit codes live here.

mod args;
mod commands;
mod render;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Exit codes, in one place (mirrored in `--help`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The check or step ran and failed (a difference, a rejected statement).
    pub const FAILED: u8 = 1;
    /// It could not run (bad input, unreachable, no permission).
    pub const ERROR: u8 = 2;
}

#[derive(Parser, Debug)]
#[command(
    name = "src-snapshot",
    version,
    about = "Move a self-hosted Sourcegraph's PostgreSQL databases into a managed instance, and prove nothing was lost.",
    after_help = "Flags work in src-cli's Go style (-dir=x, -dir x) and GNU style (--dir=x, --dir x).\n\
                  Exit codes: 0 success, 1 the check or step failed, 2 it could not run."
)]
struct Cli {
    /// More detail on stderr (repeat for more).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars or progress lines.
    #[arg(long, global = true)]
    no_progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print (or with --run, run) the pg_dump commands that snapshot the three databases.
    Databases(commands::databases::DatabasesCmd),
    /// Rewrite a dump into a new file without what the target cannot run, and report every change.
    Sanitize(commands::sanitize::SanitizeCmd),
    /// Print each table's row count and content hash of a dump file.
    Fingerprint(commands::fingerprint::FingerprintCmd),
    /// Print (or with --run, run) psql commands that load the snapshot into local databases.
    Restore(commands::restore::RestoreCmd),
    /// Upload the snapshot to a bucket: resumable, checksummed, parallel; the manifest last.
    Upload(commands::upload::UploadCmd),
    /// Check the bucket against the manifest: every object present, sizes, checksums, table fingerprints.
    Verify(commands::verify::VerifyCmd),
    /// Drop and recreate the target databases (guarded: shows what they hold, needs --yes).
    Reset(commands::reset::ResetCmd),
    /// Load the snapshot into the target: parallel, resumable, checked, as a non-superuser.
    Import(commands::import::ImportCmd),
    /// Prove the target equals the snapshot: every table's rows and content, schema objects, sequences.
    Compare(commands::compare::CompareCmd),
    /// Record the Sourcegraph instance in summary.json (src-cli's format plus counts, version, site-config keys).
    Summary(commands::summary::SummaryCmd),
    /// Acceptance test: compare the instance with a summary.json, then health checks (exit 1 on a critical finding).
    Test(commands::test::TestCmd),
    /// Put the migration notice up in global settings, or take it down.
    Notice(commands::notice::NoticeCmd),
    /// Check the runbook's requirements: versions, token, encryption, notice, databases, pg_dump, disk space.
    Preflight(commands::preflight::PreflightCmd),
    /// The migrator command that brings the imported databases to the target version (up or upgrade --from --to).
    UpgradePlan(commands::upgrade_plan::UpgradePlanCmd),
    /// The whole runbook as one resumable flow, from migration.yaml: a journal, preconditions, a report at the end.
    Migrate(commands::migrate::MigrateCmd),
    /// This migration's checklist: what is done, what is next, who runs it, the exact commands.
    Runbook(commands::runbook::RunbookCmd),
    /// The migration report (report.html, report.md, report.json) from the journal and the steps' records.
    Report(commands::report::ReportCmd),
}

/// What every command gets besides its own flags.
pub struct Globals {
    /// `--json`.
    pub json: bool,
    /// Whether to show progress on stderr.
    pub progress: bool,
}

/// glibc raises its mmap threshold after large frees; from then on the 8 MiB
/// upload chunks come from arenas that never shrink, and three parallel
/// uploads reached 150 MB of RSS. A fixed threshold keeps large buffers
/// mmapped and returned when freed (measured: 152 MB → 59 MB, bench/upload).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn pin_mmap_threshold() {
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}

fn main() -> ExitCode {
    pin_mmap_threshold();
    let cmd = Cli::command();
    let argv = args::normalize(&cmd, std::env::args_os());
    let matches = match cmd.try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { exit::ERROR } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(exit::ERROR);
        }
    };
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SRC_SNAPSHOT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .without_time()
        .init();
    let globals = Globals {
        json: cli.json,
        progress: !cli.no_progress,
    };
    let result = match cli.command {
        Command::Databases(c) => commands::databases::run(c, &globals),
        Command::Sanitize(c) => commands::sanitize::run(c, &globals),
        Command::Fingerprint(c) => commands::fingerprint::run(c, &globals),
        Command::Restore(c) => commands::restore::run(c, &globals),
        Command::Upload(c) => commands::upload::run(c, &globals),
        Command::Verify(c) => commands::verify::run(c, &globals),
        Command::Reset(c) => commands::reset::run(c, &globals),
        Command::Import(c) => commands::import::run(c, &globals),
        Command::Compare(c) => commands::compare::run(c, &globals),
        Command::Summary(c) => commands::summary::run(c, &globals),
        Command::Test(c) => commands::test::run(c, &globals),
        Command::Notice(c) => commands::notice::run(c, &globals),
        Command::Preflight(c) => commands::preflight::run(c, &globals),
        Command::UpgradePlan(c) => commands::upgrade_plan::run(c, &globals),
        Command::Migrate(c) => commands::migrate::run(c, &globals),
        Command::Runbook(c) => commands::runbook::run(c, &globals),
        Command::Report(c) => commands::report::run(c, &globals),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // A reader that stopped early (`| head`) is not an error (as in ripgrep).
        Err(e) if is_broken_pipe(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            render::error(&e);
            ExitCode::from(exit::ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(
                c.downcast_ref::<snapshot::SnapshotError>(),
                Some(snapshot::SnapshotError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe
            )
    })
}
