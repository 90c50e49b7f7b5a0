//! `verify`: is the bucket a complete, loadable snapshot?
//!
//! With read access, every object named by the manifest is streamed back and
//! checked — size, CRC32C, MD5 and SHA-256 of its bytes, and, after
//! decompression, the fingerprint of every table — so the operator knows the
//! bucket holds what was dumped before touching any database. With a
//! write-only account (the customer's), the objects cannot be read: the check
//! is then what the server answered when each upload finished, as recorded
//! in the local manifest. Findings are collected, never the first one only.

use std::path::Path;

use bucket::{BucketError, Store};
use dumpscript::{scan, ScanOptions, TableData};
use futures_util::StreamExt;
use md5::Digest as _;
use serde::Serialize;
use sha2::Sha256;

use crate::error::SnapshotError;
use crate::fsutil::{crc32c_base64, ChannelReader};
use crate::manifest::{Manifest, UploadRecord, MANIFEST_FILE};

/// How the check was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyMode {
    /// Objects were read back and checked byte for byte.
    ReadBack,
    /// Objects cannot be read (write-only credentials): checked against the
    /// server's answers recorded at upload.
    Recorded,
}

/// One object's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectCheck {
    /// Object name.
    pub object: String,
    /// Role of the dump it holds, if any.
    pub role: Option<String>,
    /// Size in the bucket (or recorded).
    pub size: Option<u64>,
    /// CRC32C in the bucket (or recorded).
    pub crc32c: Option<String>,
    /// Tables whose rows and hash matched / tables expected (read-back only).
    pub tables_ok: Option<(usize, usize)>,
    /// Problems found; empty means verified.
    pub problems: Vec<String>,
}

/// The result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// How the check was made.
    pub mode: VerifyMode,
    /// Where.
    pub location: String,
    /// Whether the bucket has the manifest (uploaded last: its absence means an unfinished upload).
    pub manifest_in_bucket: bool,
    /// Per object.
    pub objects: Vec<ObjectCheck>,
    /// Problems not tied to one object.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.objects.iter().all(|o| o.problems.is_empty())
    }
}

/// Verifies the bucket against its manifest (or the local one in `dir`).
///
/// # Errors
/// No manifest anywhere, or the bucket cannot be reached at all.
pub async fn verify(store: &Store, dir: Option<&Path>) -> Result<VerifyReport, SnapshotError> {
    let location = store.describe();
    let mut problems = Vec::new();
    let local = dir.and_then(|d| Manifest::load(d).ok());
    let (manifest, mode, in_bucket) = match read_all(store, MANIFEST_FILE).await {
        Ok(bytes) => {
            let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| SnapshotError::Manifest {
                path: format!("{location}/{MANIFEST_FILE}").into(),
                message: e.to_string(),
            })?;
            (m, VerifyMode::ReadBack, true)
        }
        Err(BucketError::PermissionDenied { .. }) => {
            let m = local.clone().ok_or_else(|| SnapshotError::Manifest {
                path: dir.map(|d| d.join(MANIFEST_FILE)).unwrap_or_else(|| MANIFEST_FILE.into()),
                message: "these credentials cannot read the bucket, and there is no local manifest to check against; run verify where the upload ran (-dir), or with read access".into(),
            })?;
            (m, VerifyMode::Recorded, false)
        }
        Err(BucketError::NotFound { .. }) => {
            let m = local.clone().ok_or_else(|| SnapshotError::Manifest {
                path: format!("{location}/{MANIFEST_FILE}").into(),
                message: "the bucket has no manifest.json (the upload did not finish: run upload again) and there is no local manifest".into(),
            })?;
            problems.push("manifest.json is missing from the bucket: the upload did not finish (it is uploaded last); run upload again".into());
            (m, VerifyMode::ReadBack, false)
        }
        Err(e) => return Err(SnapshotError::bucket(MANIFEST_FILE, e)),
    };
    let mut objects = Vec::new();
    for f in &manifest.files {
        let Some(rec) = &f.upload else {
            problems.push(format!(
                "{}: the manifest records no upload of {}",
                f.role, f.name
            ));
            continue;
        };
        objects.push(match mode {
            VerifyMode::ReadBack => check_read_back(store, Some(&f.role), rec, &f.tables).await,
            VerifyMode::Recorded => check_recorded(Some(&f.role), rec),
        });
    }
    for rec in &manifest.other_uploads {
        objects.push(match mode {
            VerifyMode::ReadBack => check_read_back(store, None, rec, &[]).await,
            VerifyMode::Recorded => check_recorded(None, rec),
        });
    }
    if manifest.files.is_empty() {
        problems.push("the manifest lists no dumps".into());
    }
    Ok(VerifyReport {
        mode,
        location,
        manifest_in_bucket: in_bucket,
        objects,
        problems,
    })
}

fn check_recorded(role: Option<&str>, rec: &UploadRecord) -> ObjectCheck {
    let mut problems = Vec::new();
    if rec.size == 0 && rec.uncompressed_size > 0 {
        problems.push("recorded size is 0".into());
    }
    ObjectCheck {
        object: rec.object.clone(),
        role: role.map(str::to_string),
        size: Some(rec.size),
        crc32c: Some(rec.crc32c.clone()),
        tables_ok: None,
        problems,
    }
}

async fn read_all(store: &Store, name: &str) -> Result<Vec<u8>, BucketError> {
    let mut s = store.read(name).await?;
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

async fn check_read_back(
    store: &Store,
    role: Option<&str>,
    rec: &UploadRecord,
    tables: &[TableData],
) -> ObjectCheck {
    let mut check = ObjectCheck {
        object: rec.object.clone(),
        role: role.map(str::to_string),
        size: None,
        crc32c: None,
        tables_ok: None,
        problems: Vec::new(),
    };
    match store.stat(&rec.object).await {
        Ok(Some(meta)) => {
            if meta.size != rec.size {
                check
                    .problems
                    .push(format!("size {} in the bucket, {} recorded", meta.size, rec.size));
            }
            if meta.crc32c != rec.crc32c {
                check.problems.push(format!(
                    "crc32c {} in the bucket, {} recorded",
                    meta.crc32c, rec.crc32c
                ));
            }
        }
        Ok(None) => {
            check.problems.push("missing from the bucket".into());
            return check;
        }
        Err(e) => {
            check.problems.push(format!("cannot stat: {e}"));
            return check;
        }
    }
    let mut stream = match store.read(&rec.object).await {
        Ok(s) => s,
        Err(e) => {
            check.problems.push(format!("cannot read: {e}"));
            return check;
        }
    };
    // Decompress and fingerprint on a thread while the bytes arrive.
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
    let gz = rec.gzip.is_some();
    let want_tables = role.is_some();
    let scanner = std::thread::spawn(move || -> Result<Vec<TableData>, String> {
        if !want_tables {
            let mut r = ChannelReader::new(rx);
            std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| e.to_string())?;
            return Ok(Vec::new());
        }
        let reader = ChannelReader::new(rx);
        let opts = ScanOptions {
            fingerprint: true,
            ..ScanOptions::default()
        };
        let report = if gz {
            scan(
                flate2::read::MultiGzDecoder::new(reader),
                None,
                &opts,
                &mut |_| {},
            )
        } else {
            scan(reader, None, &opts, &mut |_| {})
        };
        report.map(|r| r.tables).map_err(|e| e.to_string())
    });
    let (mut size, mut crc, mut md5, mut sha) = (0u64, 0u32, md5::Md5::new(), Sha256::new());
    let mut read_error = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                size += b.len() as u64;
                crc = crc32c::crc32c_append(crc, &b);
                md5.update(&b);
                sha.update(&b);
                if tx.send(b).await.is_err() {
                    // The scanner stopped early (a broken dump); keep hashing.
                }
            }
            Err(e) => {
                read_error = Some(e.to_string());
                break;
            }
        }
    }
    drop(tx);
    let scanned = scanner
        .join()
        .unwrap_or_else(|_| Err("the scanner thread failed".into()));
    if let Some(e) = read_error {
        check.problems.push(format!("reading stopped: {e}"));
        return check;
    }
    let crc_b64 = crc32c_base64(crc);
    let sha_hex: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    use base64::Engine as _;
    let md5_b64 = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
    check.size = Some(size);
    check.crc32c = Some(crc_b64.clone());
    if size != rec.size {
        check
            .problems
            .push(format!("{size} bytes read, {} recorded", rec.size));
    }
    if crc_b64 != rec.crc32c {
        check.problems.push(format!(
            "crc32c of the bytes read is {crc_b64}, {} recorded",
            rec.crc32c
        ));
    }
    if !rec.md5.is_empty() && md5_b64 != rec.md5 {
        check.problems.push(format!(
            "md5 of the bytes read is {md5_b64}, {} recorded",
            rec.md5
        ));
    }
    if sha_hex != rec.sha256 {
        check
            .problems
            .push("sha256 of the bytes read differs from the one recorded".into());
    }
    if want_tables {
        match scanned {
            Ok(got) => {
                let diffs = crate::dbfingerprint::diff_tables(tables, &got);
                let mut names: Vec<&str> = tables.iter().map(|t| t.table.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                let bad = diffs.iter().filter(|d| d.expected_rows.is_some()).count();
                check.tables_ok = Some((names.len().saturating_sub(bad), names.len()));
                for d in diffs.iter().take(10) {
                    check.problems.push(format!(
                        "table {}: rows {} expected, {} found{}",
                        d.table,
                        d.expected_rows.map_or("none".to_string(), |r| r.to_string()),
                        d.actual_rows.map_or("none".to_string(), |r| r.to_string()),
                        if d.hash_equal { "" } else { ", content differs" }
                    ));
                }
            }
            Err(e) => check.problems.push(format!("not a complete dump: {e}")),
        }
    }
    check
}
