//! The engine on real pg_dump outputs (testdata/dumps, from pg_dump 12 to 18).

use std::io::Read;
use std::path::PathBuf;

use dumpscript::{scan, SanitizeOptions, ScanError, ScanOptions, ScanReport};

fn dumps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dumps")
}

fn all_dumps() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for v in [
        "pgdump12",
        "pgdump14",
        "pgdump16",
        "pgdump16-from-pg16",
        "pgdump17",
        "pgdump18",
    ] {
        for db in ["frontend", "codeintel", "codeinsights"] {
            let p = dumps_dir().join(v).join(format!("{db}.sql"));
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((format!("{v}/{db}"), bytes));
        }
    }
    out
}

/// Reads in pieces of `step` bytes to force every buffer boundary.
struct Trickle<'a>(&'a [u8], usize);
impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(out.len()).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn run(input: impl Read, opts: &ScanOptions) -> Result<(ScanReport, Vec<u8>), ScanError> {
    let mut out = Vec::new();
    let r = scan(input, Some(&mut out), opts, &mut |_| {})?;
    Ok((r, out))
}

fn fp_opts() -> ScanOptions {
    ScanOptions {
        fingerprint: true,
        ..ScanOptions::default()
    }
}

#[test]
fn every_fixture_passes_through_unchanged_and_fingerprints() {
    for (name, bytes) in all_dumps() {
        let (r, out) = run(&bytes[..], &fp_opts()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            out, bytes,
            "{name}: output differs from input without a sanitizer"
        );
        assert_eq!(r.bytes_in, bytes.len() as u64);
        assert_eq!(
            r.lines,
            bytes.iter().filter(|b| **b == b'\n').count() as u64,
            "{name}"
        );
        let copies = bytes.windows(5).filter(|w| *w == b"\nCOPY").count();
        assert_eq!(r.tables.len(), copies, "{name}: one fingerprint per COPY block");
        assert!(r.dumped_by.is_some() && r.dumped_from.is_some(), "{name}");
        assert_eq!(r.restricted, !name.starts_with("pgdump12/"), "{name}");
        if name.ends_with("frontend") {
            let sg = r.sourcegraph.clone().expect("versions row");
            assert_eq!(sg.version, "5.1.0");
            assert_eq!(sg.first_version.as_deref(), Some("3.20.0"));
            assert_eq!(r.tables.len(), 169);
            let repo = r.tables.iter().find(|t| t.table == "public.repo").expect("repo");
            assert_eq!(
                repo.rows, 3,
                "{name}: repo rows (one has a \\. line in its description)"
            );
        }
    }
}

#[test]
fn fingerprints_agree_across_pg_dump_versions_of_one_source() {
    let dumps = all_dumps();
    let by = |v: &str, db: &str| {
        let (_, b) = dumps
            .iter()
            .find(|(n, _)| n == &format!("{v}/{db}"))
            .expect("dump");
        run(&b[..], &fp_opts()).expect("scan").0.tables
    };
    for db in ["frontend", "codeintel", "codeinsights"] {
        let base = by("pgdump12", db);
        for v in [
            "pgdump14",
            "pgdump16",
            "pgdump17",
            "pgdump18",
            "pgdump16-from-pg16",
        ] {
            let other = by(v, db);
            let key = |t: &dumpscript::TableData| (t.table.clone(), t.rows, t.hash.clone());
            let mut a: Vec<_> = base.iter().map(key).collect();
            let mut b: Vec<_> = other.iter().map(key).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{v}/{db} fingerprints differ from pgdump12's");
        }
    }
}

#[test]
fn read_size_does_not_change_the_result() {
    let dumps = all_dumps();
    let (_, bytes) = dumps
        .iter()
        .find(|(n, _)| n == "pgdump18/frontend")
        .expect("dump");
    let opts = ScanOptions {
        sanitize: Some(SanitizeOptions::cloudsql(16)),
        fingerprint: true,
        lenient: false,
    };
    let whole = run(&bytes[..], &opts).expect("whole");
    for step in [1, 7, 4096, 65536] {
        let got = run(Trickle(bytes, step), &opts).expect("trickle");
        assert_eq!(got.0.objects, whole.0.objects, "objects with {step}-byte reads");
        assert_eq!(
            got.0.sequences, whole.0.sequences,
            "sequences with {step}-byte reads"
        );
        assert_eq!(
            got.0.extensions, whole.0.extensions,
            "extensions with {step}-byte reads"
        );
        assert_eq!(got.0, whole.0, "report with {step}-byte reads");
        assert!(got.1 == whole.1, "output with {step}-byte reads");
    }
}

#[test]
fn cloudsql_profile_on_fixtures() {
    for (name, bytes) in all_dumps() {
        let opts = ScanOptions {
            sanitize: Some(SanitizeOptions::cloudsql(16)),
            ..ScanOptions::default()
        };
        let (r, out) = run(&bytes[..], &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8(out.clone()).expect("utf8");
        // Line numbers are kept.
        assert_eq!(
            out.iter().filter(|b| **b == b'\n').count(),
            bytes.iter().filter(|b| **b == b'\n').count(),
            "{name}"
        );
        let rules: Vec<&str> = r.changes.iter().map(|c| c.rule.as_str()).collect();
        let active = |needle: &str| text.lines().any(|l| l.starts_with(needle));
        assert!(
            !active("CREATE EXTENSION IF NOT EXISTS \"pg_stat_statements\""),
            "{name}"
        );
        assert!(!active("COMMENT ON EXTENSION"), "{name}");
        assert!(!active("\\restrict") && !active("\\unrestrict"), "{name}");
        assert!(!active("SET transaction_timeout"), "{name}");
        assert!(!active("COMMENT ON SCHEMA \"public\""), "{name}");
        if name.contains("frontend") {
            assert!(
                active("CREATE EXTENSION IF NOT EXISTS \"citext\""),
                "{name}: trusted extensions stay"
            );
            assert!(rules.contains(&"extension"), "{name}");
        }
        for c in &r.changes {
            assert!(c.line > 0 && !c.reason.is_empty() && !c.statement.is_empty());
        }
        // The data is untouched: every COPY block is byte-identical.
        let copies = |s: &[u8]| -> Vec<Vec<u8>> {
            let t = String::from_utf8_lossy(s).into_owned();
            t.split("\nCOPY ")
                .skip(1)
                .map(|b| b.split("\n\\.\n").next().unwrap_or("").as_bytes().to_vec())
                .collect()
        };
        assert_eq!(copies(&out), copies(&bytes), "{name}: COPY data changed");
    }
}

#[test]
fn every_truncation_is_an_error() {
    let dumps = all_dumps();
    for key in ["pgdump12/codeintel", "pgdump17/codeinsights"] {
        let (_, bytes) = dumps.iter().find(|(n, _)| n == key).expect("dump");
        let mut cut = 1;
        while cut < bytes.len() {
            let r = run(&bytes[..cut], &fp_opts());
            match r {
                Err(e) => assert!(
                    e.is_truncation() || matches!(e, ScanError::NotAPgDump { .. }),
                    "{key} cut at {cut}: unexpected error kind {e}"
                ),
                Ok(_) => {
                    // Only cuts after pg_dump's last line may pass: the trailing
                    // blank lines or the \unrestrict line's newline.
                    let rest = &bytes[cut..];
                    assert!(
                        rest.iter().all(|b| b.is_ascii_whitespace()),
                        "{key} cut at {cut} of {} was accepted",
                        bytes.len()
                    );
                }
            }
            cut += if cut < 2000 { 1 } else { 97 };
        }
    }
}

#[test]
fn not_a_dump_and_custom_format_are_refused() {
    let e = run(&b"SELECT 1;\n"[..], &fp_opts()).expect_err("plain sql");
    assert!(matches!(e, ScanError::NotAPgDump { line: 1, .. }), "{e}");
    let e = run(&b"PGDMP\x01\x0e\x00"[..], &fp_opts()).expect_err("custom");
    assert!(matches!(e, ScanError::CustomFormat), "{e}");
    let e = run(&b""[..], &fp_opts()).expect_err("empty");
    assert!(matches!(e, ScanError::NotAPgDump { .. }), "{e}");
    let e = run(&b"\x1f\x8b\x08\x00"[..], &fp_opts()).expect_err("gzip");
    assert!(e.to_string().contains("gzip"), "{e}");
    let e = run(&b"--\n-- PostgreSQL database dump\n--\nCREATE TABLE \"a\xff\" (x int);\nCOPY \"a\xff\" FROM stdin;\n\\.\n"[..], &fp_opts()).expect_err("utf8");
    assert!(e.to_string().contains("UTF-8"), "{e}");
}
