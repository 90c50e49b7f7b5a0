//! Scanning and sanitizing dump files on disk.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use dumpscript::{scan, ScanOptions, ScanReport};

use crate::error::SnapshotError;
use crate::fsutil::PartialFile;

/// Scans a dump file (check, optionally fingerprint and sanitize-preview).
///
/// # Errors
/// The file cannot be read or is not a complete pg_dump script; the error
/// names the file and line.
pub fn scan_file(
    path: &Path,
    opts: &ScanOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ScanReport, SnapshotError> {
    let f = File::open(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // The lexer reads in large chunks itself; a BufReader would only add a copy.
    scan(f, None, opts, progress).map_err(|e| SnapshotError::scan(path, e))
}

/// Where sanitized output goes.
pub enum Output<'a> {
    /// A new file, written under a temporary name and renamed when complete.
    File(&'a Path),
    /// A stream (e.g. stdout).
    Stream(&'a mut dyn Write),
}

/// Sanitizes `input` (a file, or stdin when `None`) into `output`.
///
/// # Errors
/// The input is not a complete pg_dump script, a statement is rejected by
/// the profile, the output is the input, or I/O fails. A file output is then
/// left absent, never half-written.
pub fn sanitize(
    input: Option<&Path>,
    output: Output<'_>,
    opts: &ScanOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ScanReport, SnapshotError> {
    let in_name = input.map_or_else(|| Path::new("<stdin>").to_path_buf(), Path::to_path_buf);
    if let (Some(i), Output::File(o)) = (input, &output) {
        let same = match (i.canonicalize(), o.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => i == *o,
        };
        if same {
            return Err(SnapshotError::SameFile {
                path: o.to_path_buf(),
            });
        }
    }
    let reader: Box<dyn std::io::Read> = match input {
        Some(p) => Box::new(File::open(p).map_err(|source| SnapshotError::Io {
            path: p.to_path_buf(),
            source,
        })?),
        None => Box::new(BufReader::with_capacity(1 << 20, std::io::stdin().lock())),
    };
    match output {
        Output::File(path) => {
            let mut part = PartialFile::create(path)?;
            let report = scan(reader, Some(&mut part), opts, progress).map_err(|e| match e {
                dumpscript::ScanError::Write(source) => SnapshotError::Io {
                    path: path.to_path_buf(),
                    source,
                },
                e => SnapshotError::scan(&in_name, e),
            })?;
            part.commit()?;
            Ok(report)
        }
        Output::Stream(w) => {
            // Smaller than the lexer's chunks, so COPY data bypasses the copy.
            let mut buf = std::io::BufWriter::with_capacity(64 << 10, w);
            let report = scan(reader, Some(&mut buf), opts, progress).map_err(|e| match e {
                dumpscript::ScanError::Write(source) => SnapshotError::Io {
                    path: "<stdout>".into(),
                    source,
                },
                e => SnapshotError::scan(&in_name, e),
            })?;
            buf.flush().map_err(|source| SnapshotError::Io {
                path: "<stdout>".into(),
                source,
            })?;
            Ok(report)
        }
    }
}

/// The snapshot's manifest; for a folder made by other tools (src-cli,
/// pg_dump by hand) without one, it is built from the dumps found — each
/// checked, checksummed and fingerprinted — and saved.
///
/// # Errors
/// A manifest that exists but cannot be read, a dump that is not a
/// complete pg_dump script, or no dump at all.
pub fn ensure_manifest(dir: &Path) -> Result<crate::Manifest, SnapshotError> {
    use crate::manifest::{now_rfc3339, FileEntry, Manifest, SourceInfo, MANIFEST_FILE};
    if dir.join(MANIFEST_FILE).exists() {
        return Manifest::load(dir);
    }
    let mut m = Manifest::new();
    for role in pgdump::DbRole::all() {
        let mut path = dir.join(role.file_name());
        if let Some(legacy) = role.legacy_file_name().filter(|_| !path.exists()) {
            path = dir.join(legacy);
        }
        if !path.exists() {
            continue;
        }
        let started = now_rfc3339();
        let preview = dumpscript::SanitizeOptions::cloudsql(16);
        let opts = ScanOptions {
            sanitize: Some(preview.clone()),
            fingerprint: true,
            lenient: false,
        };
        let f = File::open(&path).map_err(|source| SnapshotError::Io {
            path: path.clone(),
            source,
        })?;
        let mut sums = crate::fsutil::Checksums::default();
        let mut sink = std::io::sink();
        let report = scan(
            crate::fsutil::TeeReader::new(f, &mut sink, &mut sums),
            None,
            &opts,
            &mut |_| {},
        )
        .map_err(|e| SnapshotError::scan(&path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (entry, sg) = FileEntry::from_scan(
            role.yaml_key(),
            &name,
            sums.finish(),
            report,
            Some(&preview),
            SourceInfo::default(),
            started,
        );
        m.add_dump(entry, sg);
    }
    if m.files.is_empty() {
        return Err(SnapshotError::Manifest {
            path: dir.join(MANIFEST_FILE),
            message: "no manifest and no dumps (pgsql.sql, codeintel.sql, codeinsights.sql) in this folder; run `src-snapshot databases … --run` first".into(),
        });
    }
    m.save(dir)?;
    Ok(m)
}
