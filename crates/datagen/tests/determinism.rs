//! Same arguments give the same bytes; other seeds give other bytes; output streams.

mod common;

use std::io::{self, Write};
use std::process::Command;

use common::gen;
use datagen::{generate, Db, GenOptions};

#[test]
fn same_seed_gives_identical_bytes() {
    for db in Db::ALL {
        let (a, sa) = gen(db, 2 << 20, 42);
        let (b, sb) = gen(db, 2 << 20, 42);
        assert!(a == b, "{db}: two runs with seed 42 differ");
        assert_eq!(sa.tables, sb.tables, "{db}: statistics differ");
    }
}

#[test]
fn different_seeds_give_different_bytes() {
    for db in Db::ALL {
        let (a, _) = gen(db, 1 << 20, 1);
        let (b, _) = gen(db, 1 << 20, 2);
        assert!(a != b, "{db}: seeds 1 and 2 produced the same script");
        // Not just the header: the data itself differs.
        let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(differing > a.len() / 10, "{db}: only {differing} bytes differ");
    }
}

#[test]
fn cli_output_is_byte_identical_across_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |name: &str| {
        let path = dir.path().join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_sg-datagen"))
            .args([
                "--db",
                "codeinsights",
                "--size",
                "1.5MB",
                "--seed",
                "7",
                "--quiet",
                "--out",
            ])
            .arg(&path)
            .output()
            .expect("run sg-datagen");
        assert!(out.status.success(), "sg-datagen failed: {out:?}");
        std::fs::read(&path).expect("read output")
    };
    let a = run("a.sql");
    let b = run("b.sql");
    assert!(a == b, "two CLI runs differ");
    let (lib, _) = gen(Db::Codeinsights, 3 << 19, 7);
    assert!(a == lib, "the CLI and the library disagree");

    // stdout works too, and the summary goes to stderr.
    let out = Command::new(env!("CARGO_BIN_EXE_sg-datagen"))
        .args(["--db", "codeinsights", "--size", "1.5MB", "--seed", "7"])
        .output()
        .expect("run sg-datagen");
    assert!(out.status.success());
    assert!(out.stdout == a, "stdout differs from the file output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("series_points"), "no summary on stderr: {stderr}");
}

#[test]
fn cli_rejects_bad_arguments() {
    for args in [
        &["--db", "nope", "--size", "1MB"][..],
        &["--db", "frontend", "--size", "12 parsecs"][..],
        &["--db", "frontend"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sg-datagen"))
            .args(args)
            .output()
            .expect("run sg-datagen");
        assert_eq!(out.status.code(), Some(2), "{args:?} should be a usage error");
        assert!(out.stdout.is_empty());
    }
}

/// Records the largest single write, to prove the output is streamed in bounded chunks.
struct ChunkProbe {
    total: u64,
    writes: u64,
    largest: usize,
}

impl Write for ChunkProbe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.total += buf.len() as u64;
        self.writes += 1;
        self.largest = self.largest.max(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn output_is_streamed_in_bounded_chunks() {
    for db in Db::ALL {
        let mut probe = ChunkProbe {
            total: 0,
            writes: 0,
            largest: 0,
        };
        let stats = generate(
            &GenOptions {
                db,
                size_bytes: 24 << 20,
                seed: 3,
            },
            &mut probe,
        )
        .expect("generate");
        assert_eq!(
            stats.bytes, probe.total,
            "{db}: reported size differs from bytes written"
        );
        assert!(probe.writes >= 24, "{db}: only {} writes", probe.writes);
        // 256 KiB buffer plus at most one row (a document payload is at most 120 KB of hex).
        assert!(
            probe.largest < 512 << 10,
            "{db}: a single write of {} bytes",
            probe.largest
        );
    }
}

/// A sink that fails after some bytes: the error must come back, not a panic.
struct Failing(u64);

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0 < buf.len() as u64 {
            return Err(io::Error::other("disk full"));
        }
        self.0 -= buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_are_returned() {
    let opts = GenOptions {
        db: Db::Frontend,
        size_bytes: 4 << 20,
        seed: 1,
    };
    let err = generate(&opts, &mut Failing(1 << 20)).expect_err("the sink fails");
    assert_eq!(err.to_string(), "disk full");
}
