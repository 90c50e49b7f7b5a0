//! What a database's dump is read from: a local file (read in place) or an
//! object (downloaded once, decompressed on the fly), with the byte count
//! and CRC32C of what was read.

#[allow(clippy::wildcard_imports)]
use super::*;

/// What one database's dump is read from.
pub(super) enum Input {
    /// A plain local file: table data is read in place, by byte range.
    File {
        path: PathBuf,
        size: u64,
        crc32c: String,
    },
    /// An object: read once, table data spooled until a connection is free.
    Object {
        store: Arc<Store>,
        name: String,
        url: String,
        size: u64,
        crc32c: String,
        gzip: bool,
    },
}

impl Input {
    pub(super) async fn check(source: &ImportSource, entry: &FileEntry) -> Result<Input, SnapshotError> {
        match source {
            ImportSource::Dir(dir) => {
                let path = dir.join(&entry.name);
                let meta = std::fs::metadata(&path).map_err(|e| SnapshotError::Io {
                    path: path.clone(),
                    source: e,
                })?;
                if meta.len() != entry.size {
                    return Err(SnapshotError::Mismatch {
                        object: path.display().to_string(),
                        detail: format!("{} bytes, the manifest says {}", meta.len(), entry.size),
                    });
                }
                Ok(Input::File {
                    path,
                    size: entry.size,
                    crc32c: entry.crc32c.clone(),
                })
            }
            ImportSource::Bucket(store) => {
                let rec = entry.upload.as_ref().ok_or_else(|| SnapshotError::Manifest {
                    path: format!("{}/{MANIFEST_FILE}", store.describe()).into(),
                    message: format!(
                        "the manifest records no upload of {} (run upload again)",
                        entry.name
                    ),
                })?;
                let url = format!("{}/{}", store.describe(), rec.object);
                let meta = store
                    .stat(&rec.object)
                    .await
                    .map_err(|e| SnapshotError::bucket(&rec.object, e))?
                    .ok_or_else(|| SnapshotError::Mismatch {
                        object: url.clone(),
                        detail: "the object is missing from the bucket".into(),
                    })?;
                if meta.size != rec.size || meta.crc32c != rec.crc32c {
                    return Err(SnapshotError::Mismatch {
                        object: url,
                        detail: format!(
                            "the bucket has {} bytes with crc32c {}, the manifest says {} bytes with crc32c {}",
                            meta.size, meta.crc32c, rec.size, rec.crc32c
                        ),
                    });
                }
                Ok(Input::Object {
                    store: store.clone(),
                    name: rec.object.clone(),
                    url,
                    size: rec.size,
                    crc32c: rec.crc32c.clone(),
                    gzip: rec.gzip.is_some(),
                })
            }
        }
    }

    pub(super) fn label(&self) -> String {
        match self {
            Input::File { path, .. } => path.display().to_string(),
            Input::Object { url, .. } => url.clone(),
        }
    }
}

/// Counts and CRCs the bytes read from a local file.
pub(super) struct CrcReader<R> {
    pub(super) inner: R,
    pub(super) sums: Arc<Mutex<(u64, u32)>>,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut s) = self.sums.lock() {
            s.0 += n as u64;
            s.1 = crc32c::crc32c_append(s.1, &buf[..n]);
        }
        Ok(n)
    }
}
