//! File helpers: complete-or-missing writes and checksumming readers.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::SnapshotError;

/// A temporary name beside `path`, unique to this process.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Whether process `pid` has ended (so what it left behind can go).
pub fn process_is_gone(pid: u32) -> bool {
    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes `.NAME.PID.partial` files in `dir` left by processes that were
/// killed mid-write (a 300 GB half dump must not sit there forever).
/// Returns how many were removed.
pub fn remove_stale_partials(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".partial")) else {
            continue;
        };
        let Some(pid) = stem.rsplit('.').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if process_is_gone(pid) && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Writes `bytes` to `path` through a temporary file and a rename, so the
/// file is either complete or absent.
///
/// # Errors
/// Any write, sync or rename failure (the temporary file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    write_atomic_mode(path, bytes, 0o644)
}

/// [`write_atomic`] for files only the owner may read (upload state: a
/// resumable session URI lets anyone who has it write the object).
///
/// # Errors
/// As [`write_atomic`].
pub fn write_atomic_private(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    write_atomic_mode(path, bytes, 0o600)
}

fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SnapshotError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = temp_path(path);
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// A file being written under a temporary name; [`PartialFile::commit`]
/// renames it into place, dropping it removes it.
pub struct PartialFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<std::io::BufWriter<File>>,
}

impl PartialFile {
    /// Creates the temporary file for `dest`.
    ///
    /// # Errors
    /// It cannot be created.
    pub fn create(dest: &Path) -> Result<PartialFile, SnapshotError> {
        let tmp = temp_path(dest);
        let file = File::create(&tmp).map_err(|source| SnapshotError::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok(PartialFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The temporary path.
    pub fn temp(&self) -> &Path {
        &self.tmp
    }

    /// Flushes, syncs and renames into place.
    ///
    /// # Errors
    /// Any of those fails (the temporary file is then removed).
    pub fn commit(mut self) -> Result<(), SnapshotError> {
        let Some(w) = self.file.take() else {
            return Ok(());
        };
        let res = (|| {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            std::fs::rename(&self.tmp, &self.dest)
        })();
        res.map_err(|source| {
            let _ = std::fs::remove_file(&self.tmp);
            SnapshotError::Io {
                path: self.dest.clone(),
                source,
            }
        })
    }
}

impl Write for PartialFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.file.as_mut() {
            Some(f) => f.write(buf),
            None => Err(std::io::Error::other("file already committed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// SHA-256 and CRC32C of everything that passes through.
#[derive(Default, Clone)]
pub struct Checksums {
    sha256: Sha256,
    crc32c: u32,
    size: u64,
}

impl Checksums {
    /// Adds bytes.
    pub fn update(&mut self, b: &[u8]) {
        self.sha256.update(b);
        self.crc32c = crc32c::crc32c_append(self.crc32c, b);
        self.size += b.len() as u64;
    }
    /// (size, sha256 hex, crc32c base64).
    pub fn finish(self) -> (u64, String, String) {
        let sha = self.sha256.finalize();
        let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        (self.size, hex, crc32c_base64(self.crc32c))
    }
}

/// GCS's form of a CRC32C: base64 of the 4 big-endian bytes.
pub fn crc32c_base64(crc: u32) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = crc.to_be_bytes();
    let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
    let mut s = String::with_capacity(8);
    for shift in [18, 12, 6, 0] {
        s.push(ALPHABET[((n >> shift) & 63) as usize] as char);
    }
    let n2 = u32::from(b[3]) << 16;
    s.push(ALPHABET[((n2 >> 18) & 63) as usize] as char);
    s.push(ALPHABET[((n2 >> 12) & 63) as usize] as char);
    s.push_str("==");
    s
}

/// A reader that copies what it reads into a writer and checksums it.
pub struct TeeReader<'a, R> {
    inner: R,
    copy: &'a mut dyn Write,
    sums: &'a mut Checksums,
}

impl<'a, R: Read> TeeReader<'a, R> {
    /// Tees `inner` into `copy`, checksumming into `sums`.
    pub fn new(inner: R, copy: &'a mut dyn Write, sums: &'a mut Checksums) -> Self {
        TeeReader { inner, copy, sums }
    }
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        self.sums.update(&buf[..n]);
        Ok(n)
    }
}

/// Checksums a whole file.
///
/// # Errors
/// It cannot be read.
pub fn checksum_file(path: &Path) -> Result<Checksums, SnapshotError> {
    let mut f = File::open(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut sums = Checksums::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|source| SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        sums.update(&buf[..n]);
    }
    Ok(sums)
}

/// Reads blocks from a channel as a `Read` on a blocking thread (bytes
/// arriving from an async download, for a decoder and the engine). The end
/// of the channel is the end of the input.
pub(crate) struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    cur: bytes::Bytes,
}

impl ChannelReader {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Self {
        ChannelReader {
            rx,
            cur: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_base64_matches_gcs_examples() {
        // GCS documents crc32c of the empty object as "AAAAAA==".
        assert_eq!(crc32c_base64(0), "AAAAAA==");
        // crc32c("hello world") = 0xc99465aa → yZRlqg== (as gsutil hash prints).
        assert_eq!(crc32c_base64(crc32c::crc32c(b"hello world")), "yZRlqg==");
    }

    #[test]
    fn partial_file_is_missing_until_commit() {
        let dir = tempfile::tempdir().expect("tmp");
        let dest = dir.path().join("x.sql");
        {
            let mut p = PartialFile::create(&dest).expect("create");
            p.write_all(b"abc").expect("write");
            assert!(!dest.exists());
        }
        assert!(!dest.exists(), "dropped without commit");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            0,
            "temp removed"
        );
        let mut p = PartialFile::create(&dest).expect("create");
        p.write_all(b"abc").expect("write");
        p.commit().expect("commit");
        assert_eq!(std::fs::read(&dest).expect("read"), b"abc");
    }
}
