//! `databases --run`: run pg_dump for the three databases at once, stream
//! each dump through the engine (checksums, fingerprints, sanitizer preview)
//! into `DIR/<role>.sql`, and record it all in the manifest.

use std::path::PathBuf;

use dumpscript::{scan, SanitizeOptions, ScanOptions, SourcegraphVersion};
use pgdump::{dump_commands, DbRole, DumpCommand, Mode, Targets};

use crate::error::SnapshotError;
use crate::fsutil::{Checksums, PartialFile, TeeReader};
use crate::manifest::{now_rfc3339, FileEntry, Manifest, SourceInfo};

/// What to dump and where.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// pg_dump, docker or kubectl.
    pub mode: Mode,
    /// The three databases.
    pub targets: Targets,
    /// The snapshot folder.
    pub dir: PathBuf,
    /// The pg_dump program (a name on PATH, or a path; inside the container
    /// or pod for docker and kubectl).
    pub pg_dump: String,
    /// The sanitizer whose changes are previewed in the manifest.
    pub preview: SanitizeOptions,
    /// Only these roles (all when empty).
    pub only: Vec<DbRole>,
}

/// Progress of one dump: role and bytes so far.
pub type DumpProgress<'a> = &'a (dyn Fn(DbRole, u64) + Sync);

/// Dumps the databases in parallel and writes the manifest. Databases that
/// dumped cleanly are recorded even when another one fails.
///
/// # Errors
/// Every failed dump, each with its database and a specific cause. No file
/// of a failed dump is left under its final name.
pub fn dump_databases(opts: &DumpOptions, progress: DumpProgress<'_>) -> Result<Manifest, SnapshotError> {
    std::fs::create_dir_all(&opts.dir).map_err(|source| SnapshotError::Io {
        path: opts.dir.clone(),
        source,
    })?;
    let stale = crate::fsutil::remove_stale_partials(&opts.dir);
    if stale > 0 {
        tracing::info!("removed {stale} partial dump(s) left by an interrupted run");
    }
    let commands = dump_commands(opts.mode, &opts.targets, &opts.dir, &opts.pg_dump)?;
    let commands: Vec<(DbRole, DumpCommand)> = commands
        .into_iter()
        .filter(|(r, _)| opts.only.is_empty() || opts.only.contains(r))
        .collect();
    let results: Vec<Result<(FileEntry, Option<SourcegraphVersion>), SnapshotError>> =
        std::thread::scope(|s| {
            let handles: Vec<_> = commands
                .iter()
                .map(|(role, cmd)| s.spawn(move || dump_one(*role, cmd, opts, progress)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(SnapshotError::Several(Vec::new())))
                })
                .collect()
        });
    let mut manifest = Manifest::load(&opts.dir).unwrap_or_default();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok((entry, sg)) => manifest.add_dump(entry, sg),
            Err(e) => errors.push(e),
        }
    }
    if !manifest.files.is_empty() {
        manifest.save(&opts.dir)?;
    }
    SnapshotError::check_all(errors)?;
    Ok(manifest)
}

/// Dumps one database; returns its manifest entry and, for the frontend
/// database, the Sourcegraph version found in it.
fn dump_one(
    role: DbRole,
    cmd: &DumpCommand,
    opts: &DumpOptions,
    progress: DumpProgress<'_>,
) -> Result<(FileEntry, Option<SourcegraphVersion>), SnapshotError> {
    let started = now_rfc3339();
    let dest: PathBuf = cmd.output().to_path_buf();
    let mut part = PartialFile::create(&dest)?;
    let mut sums = Checksums::default();
    let mut child = cmd.spawn()?;
    let scan_opts = ScanOptions {
        sanitize: Some(opts.preview.clone()),
        fingerprint: true,
        lenient: false,
    };
    let scanned = {
        let tee = TeeReader::new(&mut child.stdout, &mut part, &mut sums);
        scan(tee, None, &scan_opts, &mut |n| progress(role, n))
    };
    // pg_dump's own verdict comes first: a failed pg_dump also leaves a
    // truncated script, and its stderr says why.
    let report = match scanned {
        Ok(r) => {
            child.finish()?;
            r
        }
        Err(e) => {
            child.kill();
            child.finish()?;
            return Err(match e {
                dumpscript::ScanError::Lex(dumpscript::LexError::Io(source)) => SnapshotError::Io {
                    path: part.temp().to_path_buf(),
                    source,
                },
                e => SnapshotError::scan(&dest, e),
            });
        }
    };
    part.commit()?;
    Ok(FileEntry::from_scan(
        role.yaml_key(),
        role.file_name(),
        sums.finish(),
        report,
        Some(&opts.preview),
        target_source(opts, role),
        started,
    ))
}

/// Where a role's dump comes from (no secrets).
fn target_source(opts: &DumpOptions, role: DbRole) -> SourceInfo {
    let t = opts.targets.get(role);
    SourceInfo {
        mode: Some(opts.mode.as_str().to_string()),
        target: Some(t.target.clone()).filter(|s| !s.is_empty()),
        port: t.port,
        dbname: Some(t.dbname.clone()),
        username: Some(t.username.clone()),
        ..SourceInfo::default()
    }
}

/// How `databases --run -bucket=…` sends each dump.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Sanitize and/or compress on the way.
    pub transform: crate::stream::Transform,
    /// Replace existing objects.
    pub overwrite: bool,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Attempts per database (a failed stream restarts that dump).
    pub attempts: u32,
}

/// Dumps the databases straight into the bucket, with no local copy of the
/// dumps: pg_dump → engine (checksums, fingerprints, sanitizer) → (gzip) →
/// resumable upload. A dump whose stream fails is started again from
/// scratch (a pg_dump stream cannot be resumed), up to `attempts` times, and
/// each restart is reported. The manifest is written to `opts.dir` and
/// uploaded last.
///
/// # Errors
/// Every database that could not be dumped and sent.
pub async fn dump_to_bucket(
    opts: &DumpOptions,
    store: std::sync::Arc<bucket::Store>,
    stream: &StreamOptions,
    progress: crate::upload::UploadProgress,
) -> Result<Manifest, SnapshotError> {
    use crate::upload::{upload_stream, UploadEvent, UploadItem};
    std::fs::create_dir_all(&opts.dir).map_err(|source| SnapshotError::Io {
        path: opts.dir.clone(),
        source,
    })?;
    let commands = dump_commands(opts.mode, &opts.targets, &opts.dir, &opts.pg_dump)?;
    let mut tasks = Vec::new();
    for (role, cmd) in commands
        .into_iter()
        .filter(|(r, _)| opts.only.is_empty() || opts.only.contains(r))
    {
        let (store, stream, progress, opts) = (store.clone(), stream.clone(), progress.clone(), opts.clone());
        tasks.push(tokio::spawn(async move {
            let ext = if stream.transform.gzip.is_some() { ".gz" } else { "" };
            let item = UploadItem {
                role: Some(role.yaml_key().to_string()),
                path: opts.dir.join(role.file_name()),
                object: format!("{}{ext}", role.file_name()),
                transform: stream.transform.clone(),
                expected: None,
            };
            let mut attempt = 1;
            loop {
                let started = now_rfc3339();
                let child = cmd.spawn()?;
                let source = crate::stream::ObjectStream::from_reader(&item.path, child, &item.transform, true, |c| {
                    c.finish().map_err(SnapshotError::from)
                });
                match upload_stream(&store, &opts.dir, &item, source, stream.overwrite, stream.chunk_size, &progress).await {
                    Ok((record, report)) => {
                        let sums = (
                            report.input_bytes,
                            report.input_sha256.clone(),
                            crate::fsutil::crc32c_base64(report.input_crc32c),
                        );
                        let (mut entry, sg) = FileEntry::from_scan(
                            role.yaml_key(),
                            role.file_name(),
                            sums,
                            report.scan.unwrap_or_default(),
                            item.transform.sanitize.as_ref(),
                            target_source(&opts, role),
                            started,
                        );
                        entry.upload = Some(record);
                        return Ok::<_, SnapshotError>((entry, sg));
                    }
                    Err(e @ (SnapshotError::Interrupted { .. } | SnapshotError::Bucket { .. })) if attempt < stream.attempts => {
                        attempt += 1;
                        progress(UploadEvent::Note {
                            object: item.object.clone(),
                            message: format!("{e}; a dump stream cannot be resumed, so the dump of {role} starts again (attempt {attempt} of {})", stream.attempts),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
        }));
    }
    let mut manifest = Manifest::load(&opts.dir).unwrap_or_default();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok((entry, sg))) => manifest.add_dump(entry, sg),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(SnapshotError::Task(e.to_string())),
        }
    }
    manifest.save(&opts.dir)?;
    SnapshotError::check_all(errors)?;
    crate::upload::upload_manifest(&store, &opts.dir).await?;
    Ok(manifest)
}
