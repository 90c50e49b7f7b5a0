//! The `file://` backend: a local folder with bucket semantics.
//!
//! Objects are files under the root. An upload writes
//! `root/.src-snapshot-partial/<random>.<keep|replace>.part` (the handle; the
//! middle word records the overwrite choice so a resumed session keeps it),
//! and the final chunk checks size and CRC32C, fsyncs and moves the file into
//! place: an object is complete or missing, never partial. A finished upload
//! leaves `<random>.done` with its metadata so `upload_status` can answer
//! `Finished` after a lost reply. `stat` caches checksums in
//! `root/.src-snapshot-meta/<name>.json`, keyed by size and mtime.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};

use crate::util::{b64, check_object_name, crc32c_base64, rfc3339};
use crate::{
    check_chunk, check_final, BucketError, ByteStream, ChunkOutcome, Final, ObjectMeta, UploadOptions,
    UploadSession, UploadStatus,
};

const PARTIAL_DIR: &str = ".src-snapshot-partial";
const META_DIR: &str = ".src-snapshot-meta";
const BACKEND: &str = "file";
const READ_BUF: usize = 256 * 1024;

/// A local folder used as a bucket.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

/// Cached checksums of one object file.
#[derive(Serialize, Deserialize)]
struct MetaCache {
    size: u64,
    mtime_ns: u128,
    meta: ObjectMeta,
}

impl FileStore {
    /// Opens the folder `root`, which must exist ([`BucketError::NoSuchBucket`] otherwise).
    /// `_prefix` is reserved: file locations have no prefix.
    pub async fn open(root: &Path, _prefix: &str) -> Result<FileStore, BucketError> {
        match tokio::fs::metadata(root).await {
            Ok(m) if m.is_dir() => Ok(FileStore {
                root: root.to_path_buf(),
            }),
            Ok(_) => Err(BucketError::NoSuchBucket {
                bucket: format!("file://{} (not a folder)", root.display()),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BucketError::NoSuchBucket {
                bucket: format!("file://{}", root.display()),
            }),
            Err(e) => Err(BucketError::io(root, e)),
        }
    }

    /// `file:///path`.
    pub fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn object_label(&self, name: &str) -> String {
        format!("file://{}", self.root.join(name).display())
    }

    fn object_path(&self, name: &str) -> Result<PathBuf, BucketError> {
        check_object_name(name).map_err(|message| BucketError::BadName {
            name: name.into(),
            message,
        })?;
        Ok(self.root.join(name))
    }

    /// Starts an upload: creates an empty partial file.
    pub async fn begin_upload(&self, name: &str, opts: &UploadOptions) -> Result<UploadSession, BucketError> {
        let dest = self.object_path(name)?;
        let (this, name, overwrite) = (self.clone(), name.to_string(), opts.overwrite);
        blocking(move || {
            if !overwrite && dest.exists() {
                return Err(BucketError::AlreadyExists {
                    object: this.object_label(&name),
                });
            }
            let dir = this.root.join(PARTIAL_DIR);
            fs::create_dir_all(&dir).map_err(|e| BucketError::io(&dir, e))?;
            let kind = if overwrite { "replace" } else { "keep" };
            let path = dir.join(format!("{:032x}.{kind}.part", rand::rng().random::<u128>()));
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| BucketError::io(&path, e))?;
            let handle = path
                .to_str()
                .ok_or_else(|| {
                    BucketError::io(&path, io::Error::other("the root folder's path is not UTF-8"))
                })?
                .to_string();
            Ok(UploadSession {
                name,
                backend: BACKEND.into(),
                handle,
                created_at: rfc3339(std::time::SystemTime::now()),
            })
        })
        .await
    }

    /// Checks that a saved session belongs to this store and returns its partial path.
    fn session_paths(&self, s: &UploadSession) -> Result<Partial, BucketError> {
        let invalid = |message: &str| BucketError::InvalidSession {
            object: self.object_label(&s.name),
            message: message.into(),
        };
        if s.backend != BACKEND {
            return Err(invalid(&format!(
                "it belongs to the {:?} backend, not file://",
                s.backend
            )));
        }
        let dest = self.object_path(&s.name)?;
        let part = PathBuf::from(&s.handle);
        if part.parent() != Some(self.root.join(PARTIAL_DIR).as_path()) {
            return Err(invalid(
                "its partial file is not in this store's .src-snapshot-partial folder",
            ));
        }
        let file = part.file_name().and_then(|f| f.to_str()).unwrap_or_default();
        let (id, overwrite) = if let Some(id) = file.strip_suffix(".keep.part") {
            (id, false)
        } else if let Some(id) = file.strip_suffix(".replace.part") {
            (id, true)
        } else {
            return Err(invalid("its partial file name is not one this store makes"));
        };
        if id.len() != 32 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid("its partial file name is not one this store makes"));
        }
        let done = part.with_file_name(format!("{id}.done"));
        Ok(Partial {
            part,
            done,
            dest,
            overwrite,
            label: self.object_label(&s.name),
            name: s.name.clone(),
        })
    }

    /// The partial file's length, `Finished` after the final chunk, or `Expired`.
    pub async fn upload_status(&self, s: &UploadSession) -> Result<UploadStatus, BucketError> {
        let p = self.session_paths(s)?;
        blocking(move || match fs::metadata(&p.part) {
            Ok(m) => Ok(UploadStatus::Active { committed: m.len() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match read_done(&p.done)? {
                Some(meta) => Ok(UploadStatus::Finished(meta)),
                None => Ok(UploadStatus::Expired),
            },
            Err(e) => Err(BucketError::io(&p.part, e)),
        })
        .await
    }

    /// Writes the chunk at `offset` (truncating there first, so resends are
    /// idempotent); the final chunk checks and moves the file into place.
    pub async fn put_chunk(
        &self,
        s: &UploadSession,
        offset: u64,
        data: Bytes,
        last: Option<Final>,
    ) -> Result<ChunkOutcome, BucketError> {
        let p = self.session_paths(s)?;
        check_chunk(&p.label, offset, data.len() as u64, last.as_ref())?;
        let this = self.clone();
        blocking(move || {
            let mut f = match OpenOptions::new().read(true).write(true).open(&p.part) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Finished earlier (lost reply) or gone.
                    return match (read_done(&p.done)?, last) {
                        (Some(meta), Some(fin)) => {
                            check_final(&p.label, &meta, &fin)?;
                            Ok(ChunkOutcome::Finished(meta))
                        }
                        _ => Err(BucketError::SessionExpired {
                            object: p.label.clone(),
                        }),
                    };
                }
                Err(e) => return Err(BucketError::io(&p.part, e)),
            };
            let io_err = |e| BucketError::io(&p.part, e);
            let have = f.metadata().map_err(io_err)?.len();
            if offset > have {
                // A gap: tell the caller where to resume, as GCS does.
                return Ok(ChunkOutcome::Committed(have));
            }
            f.set_len(offset).map_err(io_err)?;
            f.seek(SeekFrom::Start(offset)).map_err(io_err)?;
            f.write_all(&data).map_err(io_err)?;
            let Some(fin) = last else {
                f.sync_data().map_err(io_err)?;
                return Ok(ChunkOutcome::Committed(offset + data.len() as u64));
            };
            f.sync_all().map_err(io_err)?;
            drop(f);
            let meta = this.finish(&p, &fin)?;
            Ok(ChunkOutcome::Finished(meta))
        })
        .await
    }

    /// Checks a complete partial file and moves it to its object path. On a
    /// mismatch or an existing object the partial file is deleted.
    fn finish(&self, p: &Partial, fin: &Final) -> Result<ObjectMeta, BucketError> {
        let (size, crc, md5) = match hash_file(&p.part) {
            Ok(h) => h,
            Err(e) => return Err(BucketError::io(&p.part, e)),
        };
        let mtime = fs::metadata(&p.part).and_then(|m| m.modified()).ok();
        let meta = ObjectMeta {
            name: p.name.clone(),
            size,
            crc32c: crc32c_base64(crc),
            md5: Some(md5),
            generation: None,
            updated: mtime.map(rfc3339),
        };
        if let Err(e) = check_final(&p.label, &meta, fin) {
            let _ = fs::remove_file(&p.part);
            return Err(e);
        }
        if let Some(parent) = p.dest.parent() {
            fs::create_dir_all(parent).map_err(|e| BucketError::io(parent, e))?;
        }
        place(&p.part, &p.dest, p.overwrite).map_err(|e| {
            let _ = fs::remove_file(&p.part);
            match e {
                Placed::Exists => BucketError::AlreadyExists {
                    object: p.label.clone(),
                },
                Placed::Io(path, e) => BucketError::io(path, e),
            }
        })?;
        if let Some(parent) = p.dest.parent() {
            sync_dir(parent);
        }
        // Best effort: the object is in place; these only speed up stat and status.
        self.write_cache(&p.dest, &meta);
        if let Ok(text) = serde_json::to_vec(&meta) {
            let _ = fs::write(&p.done, text);
        }
        Ok(meta)
    }

    /// Deletes the partial file and the finished marker.
    pub async fn cancel_upload(&self, s: &UploadSession) -> Result<(), BucketError> {
        let p = self.session_paths(s)?;
        blocking(move || {
            for path in [&p.part, &p.done] {
                match fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(BucketError::io(path, e)),
                }
            }
            Ok(())
        })
        .await
    }

    /// Size, CRC32C and MD5 of an object file (cached by size and mtime), or `None`.
    pub async fn stat(&self, name: &str) -> Result<Option<ObjectMeta>, BucketError> {
        let path = self.object_path(name)?;
        let (this, name) = (self.clone(), name.to_string());
        blocking(move || this.stat_blocking(&name, &path)).await
    }

    fn stat_blocking(&self, name: &str, path: &Path) -> Result<Option<ObjectMeta>, BucketError> {
        let m = match fs::metadata(path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => {
                return Ok(None)
            }
            Err(e) => return Err(BucketError::io(path, e)),
        };
        let mtime = m.modified().map_err(|e| BucketError::io(path, e))?;
        let mtime_ns = mtime
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let cache_path = self.cache_path(name);
        if let Ok(text) = fs::read(&cache_path) {
            if let Ok(c) = serde_json::from_slice::<MetaCache>(&text) {
                if c.size == m.len() && c.mtime_ns == mtime_ns && c.meta.name == name {
                    return Ok(Some(c.meta));
                }
            }
        }
        let (size, crc, md5) = hash_file(path).map_err(|e| BucketError::io(path, e))?;
        let meta = ObjectMeta {
            name: name.to_string(),
            size,
            crc32c: crc32c_base64(crc),
            md5: Some(md5),
            generation: None,
            updated: Some(rfc3339(mtime)),
        };
        self.write_cache(path, &meta);
        Ok(Some(meta))
    }

    fn cache_path(&self, name: &str) -> PathBuf {
        self.root.join(META_DIR).join(format!("{name}.json"))
    }

    /// Records checksums for `path` if it still has the size they were computed over.
    fn write_cache(&self, path: &Path, meta: &ObjectMeta) {
        let Ok(m) = fs::metadata(path) else { return };
        if m.len() != meta.size {
            return;
        }
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let cache = MetaCache {
            size: meta.size,
            mtime_ns,
            meta: meta.clone(),
        };
        let cp = self.cache_path(&meta.name);
        let write = || -> io::Result<()> {
            if let Some(parent) = cp.parent() {
                fs::create_dir_all(parent)?;
            }
            let tmp = cp.with_extension(format!("json.{:08x}.tmp", rand::rng().random::<u32>()));
            fs::write(&tmp, serde_json::to_vec(&cache).map_err(io::Error::other)?)?;
            fs::rename(&tmp, &cp)
        };
        if let Err(e) = write() {
            tracing::debug!(path = %cp.display(), error = %e, "could not cache object checksums");
        }
    }

    /// Streams the object file; [`BucketError::NotFound`] if it is missing.
    pub async fn read(&self, name: &str) -> Result<ByteStream, BucketError> {
        let path = self.object_path(name)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => {
                return Err(BucketError::NotFound {
                    object: self.object_label(name),
                })
            }
            Err(e) => return Err(BucketError::io(&path, e)),
        };
        match file.metadata().await {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(BucketError::NotFound {
                    object: self.object_label(name),
                })
            }
            Err(e) => return Err(BucketError::io(&path, e)),
        }
        let stream = futures_util::stream::try_unfold((file, path), |(mut file, path)| async move {
            use tokio::io::AsyncReadExt as _;
            let mut buf = BytesMut::zeroed(READ_BUF);
            let n = file.read(&mut buf).await.map_err(|e| BucketError::io(&path, e))?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((buf.freeze(), (file, path))))
        });
        Ok(Box::pin(stream))
    }

    /// Every object file under the root (not the store's own folders), sorted by name.
    pub async fn list(&self) -> Result<Vec<ObjectMeta>, BucketError> {
        let this = self.clone();
        blocking(move || {
            let mut names = Vec::new();
            walk(&this.root, "", &mut names)?;
            names.sort();
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let path = this.root.join(&name);
                if let Some(meta) = this.stat_blocking(&name, &path)? {
                    out.push(meta);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Writes a small object through a partial file, with the overwrite rule and CRC32C check.
    pub async fn put_small(
        &self,
        name: &str,
        data: Bytes,
        opts: &UploadOptions,
    ) -> Result<ObjectMeta, BucketError> {
        let s = self.begin_upload(name, opts).await?;
        let fin = Final {
            total_size: data.len() as u64,
            crc32c: crc32c::crc32c(&data),
        };
        match self.put_chunk(&s, 0, data, Some(fin)).await? {
            ChunkOutcome::Finished(meta) => {
                let _ = self.cancel_upload(&s).await;
                Ok(meta)
            }
            ChunkOutcome::Committed(_) => Err(BucketError::SessionExpired {
                object: self.object_label(name),
            }),
        }
    }
}

/// Paths of one upload session.
struct Partial {
    part: PathBuf,
    done: PathBuf,
    dest: PathBuf,
    overwrite: bool,
    label: String,
    name: String,
}

enum Placed {
    Exists,
    Io(PathBuf, io::Error),
}

/// Moves `part` to `dest`. Without overwrite a hard link claims `dest`
/// atomically (fails if it exists); filesystems without hard links fall back
/// to a check then rename.
fn place(part: &Path, dest: &Path, overwrite: bool) -> Result<(), Placed> {
    if overwrite {
        return fs::rename(part, dest).map_err(|e| Placed::Io(dest.to_path_buf(), e));
    }
    match fs::hard_link(part, dest) {
        Ok(()) => {
            let _ = fs::remove_file(part);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Placed::Exists),
        Err(_) => {
            if dest.exists() {
                return Err(Placed::Exists);
            }
            fs::rename(part, dest).map_err(|e| Placed::Io(dest.to_path_buf(), e))
        }
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn read_done(path: &Path) -> Result<Option<ObjectMeta>, BucketError> {
    match fs::read(path) {
        Ok(text) => Ok(serde_json::from_slice(&text).ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BucketError::io(path, e)),
    }
}

/// Size, CRC32C and base64 MD5 of a file.
fn hash_file(path: &Path) -> io::Result<(u64, u32, String)> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut size, mut crc, mut md5) = (0u64, 0u32, Md5::new());
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        size += n as u64;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        md5.update(&buf[..n]);
    }
    Ok((size, crc, b64(&md5.finalize())))
}

/// Collects relative names of regular files under `dir`, skipping the store's own folders.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), BucketError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BucketError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| BucketError::io(dir, e))?;
        let Some(file) = entry.file_name().to_str().map(str::to_string) else {
            tracing::debug!(path = %entry.path().display(), "skipping a non-UTF-8 file name");
            continue;
        };
        if file.starts_with(".src-snapshot-") {
            continue;
        }
        let name = if rel.is_empty() {
            file
        } else {
            format!("{rel}/{file}")
        };
        let path = entry.path();
        let m = fs::metadata(&path).map_err(|e| BucketError::io(&path, e))?;
        if m.is_dir() {
            walk(&path, &name, out)?;
        } else if m.is_file() && check_object_name(&name).is_ok() {
            out.push(name);
        }
    }
    Ok(())
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BucketError> + Send + 'static,
) -> Result<T, BucketError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(BucketError::io(
            PathBuf::new(),
            io::Error::other(format!("file task failed: {e}")),
        )),
    }
}
