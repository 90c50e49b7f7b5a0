//! `sg-datagen`: writes a deterministic Sourcegraph-shaped data script for one database.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use datagen::{generate, parse_size, Db, GenOptions};

/// Generate a psql data script (COPY blocks, like pg_dump's data sections) for one
/// Sourcegraph database. Load it after the squashed schema with
/// `psql -X -v ON_ERROR_STOP=1 -f FILE`.
#[derive(Parser, Debug)]
#[command(name = "sg-datagen", version)]
struct Args {
    /// Database: frontend (alias pgsql), codeintel or codeinsights.
    #[arg(long)]
    db: Db,
    /// Approximate script size, e.g. 300MB, 2GB, 1G, 512k (binary units).
    #[arg(long, value_parser = parse_size)]
    size: u64,
    /// Seed; the same seed and size give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file, or `-` for stdout.
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Do not print the per-table summary on stderr.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let opts = GenOptions {
        db: args.db,
        size_bytes: args.size,
        seed: args.seed,
    };
    let started = Instant::now();
    let stats = if args.out.as_os_str() == "-" {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        generate(&opts, &mut lock).context("writing to stdout")?
    } else {
        let mut file = File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        generate(&opts, &mut file).with_context(|| format!("writing {}", args.out.display()))?
    };
    let secs = started.elapsed().as_secs_f64();
    if !args.quiet {
        let mut err = io::stderr().lock();
        writeln!(err, "{:<40} {:>12} {:>14}", "table", "rows", "bytes")?;
        for t in &stats.tables {
            writeln!(err, "{:<40} {:>12} {:>14}", t.table, t.rows, t.bytes)?;
        }
        writeln!(
            err,
            "{}: {} bytes ({:.1} MiB) in {:.2}s, {:.0} MiB/s",
            stats.db,
            stats.bytes,
            stats.bytes as f64 / 1048576.0,
            secs,
            stats.bytes as f64 / 1048576.0 / secs.max(1e-9)
        )?;
    }
    Ok(())
}
