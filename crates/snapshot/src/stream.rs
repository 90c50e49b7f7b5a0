//! The bytes an object is made of: a local file, optionally sanitized and
//! gzip-compressed on the fly. The same file and transform always give the
//! same bytes, which is what lets an interrupted upload resume: the prefix
//! the server already has is regenerated locally, checked, and not resent.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use dumpscript::{scan, SanitizeOptions, ScanOptions, ScanReport};
use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use serde::{Deserialize, Serialize};

use crate::error::SnapshotError;

/// How a local file becomes an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transform {
    /// Sanitize with these options (None: the file's bytes as they are).
    pub sanitize: Option<SanitizeOptions>,
    /// gzip level 1–9 (None: uncompressed).
    pub gzip: Option<u32>,
}

/// Blocks handed from the producer thread to the consumer.
const BLOCK: usize = 1 << 20;
/// Blocks in flight: bounds memory to a few MiB whatever the file size.
const IN_FLIGHT: usize = 2;

/// What the producer found besides the bytes.
#[derive(Debug, Default, Clone)]
pub struct SourceReport {
    /// The engine's report when the file was sanitized.
    pub scan: Option<ScanReport>,
    /// Bytes read from the file.
    pub input_bytes: u64,
    /// Bytes before compression.
    pub uncompressed_bytes: u64,
    /// SHA-256 of the file as read (hex), to prove it is the file the manifest describes.
    pub input_sha256: String,
    /// CRC32C of the input.
    pub input_crc32c: u32,
}

/// A pull stream of an object's bytes, produced on a thread.
pub struct ObjectStream {
    rx: Receiver<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    producer: Option<JoinHandle<Result<SourceReport, SnapshotError>>>,
    /// Input bytes read so far, for progress.
    pub progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

struct ChannelWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    written: u64,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= BLOCK {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK + BLOCK / 4));
            self.tx
                .send(full)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "consumer stopped"))?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.tx
                .send(rest)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "consumer stopped"))?;
        }
        Ok(())
    }
}

/// Counts bytes read, for progress.
struct CountingReader<'a, R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
    sha: &'a mut sha2::Sha256,
    crc: &'a mut u32,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        *self.crc = crc32c::crc32c_append(*self.crc, &buf[..n]);
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Counts bytes written before compression.
struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl ObjectStream {
    /// Starts producing the bytes of `path` under `transform`.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path, transform: &Transform) -> Result<ObjectStream, SnapshotError> {
        let file = File::open(path).map_err(|source| SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // The file's tables were fingerprinted when it was made.
        Ok(ObjectStream::from_reader(
            path,
            file,
            transform,
            false,
            |_| Ok(()),
        ))
    }

    /// Starts producing the bytes of whatever `reader` yields (e.g. pg_dump's
    /// output) under `transform`, fingerprinting the tables when asked;
    /// `after` runs on the reader once it is exhausted (to reap a child) and
    /// its error becomes the stream's.
    pub fn from_reader<R, F>(
        label: &Path,
        reader: R,
        transform: &Transform,
        fingerprint: bool,
        after: F,
    ) -> ObjectStream
    where
        R: Read + Send + 'static,
        F: FnOnce(R) -> Result<(), SnapshotError> + Send + 'static,
    {
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = progress.clone();
        let transform = transform.clone();
        let label: PathBuf = label.to_path_buf();
        let producer = std::thread::spawn(move || {
            let mut reader = reader;
            let produced = produce(&label, &mut reader, &transform, fingerprint, tx, counter);
            let finished = after(reader);
            let report = produced?;
            finished?;
            Ok(report)
        });
        ObjectStream {
            rx,
            current: Vec::new(),
            pos: 0,
            producer: Some(producer),
            progress,
        }
    }

    /// Reads up to `buf.len()` bytes; 0 means the end (then call [`ObjectStream::finish`]).
    pub fn read_some(&mut self, buf: &mut [u8]) -> usize {
        if self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(block) => {
                    self.current = block;
                    self.pos = 0;
                }
                Err(_) => return 0,
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    /// Fills `buf` as far as the stream goes; returns the bytes filled.
    pub fn fill(&mut self, buf: &mut [u8]) -> usize {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.read_some(&mut buf[filled..]);
            if n == 0 {
                break;
            }
            filled += n;
        }
        filled
    }

    /// Waits for the producer and returns its report (or its error: a
    /// sanitizer rejection, a truncated dump, a read error).
    ///
    /// # Errors
    /// What the producer hit.
    pub fn finish(&mut self) -> Result<SourceReport, SnapshotError> {
        // Drain so the producer can finish writing.
        while self.rx.recv().is_ok() {}
        match self.producer.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(SnapshotError::Several(Vec::new())),
        }
    }
}

impl Drop for ObjectStream {
    fn drop(&mut self) {
        // Dropping the receiver makes the producer's next send fail, ending it.
        let (_, dummy) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, dummy));
        if let Some(p) = self.producer.take() {
            let _ = p.join();
        }
    }
}

fn produce(
    path: &Path,
    file: &mut dyn Read,
    transform: &Transform,
    fingerprint: bool,
    tx: SyncSender<Vec<u8>>,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<SourceReport, SnapshotError> {
    let mut sha = <sha2::Sha256 as sha2::Digest>::new();
    let mut crc = 0u32;
    let reader = CountingReader {
        inner: file,
        count: counter.clone(),
        sha: &mut sha,
        crc: &mut crc,
    };
    let sink = ChannelWriter {
        tx,
        buf: Vec::with_capacity(BLOCK + BLOCK / 4),
        written: 0,
    };
    let io = |source: std::io::Error| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut report = SourceReport::default();
    match transform.gzip {
        Some(level) => {
            // No file name or time in the header: the same input gives the same bytes.
            let gz: GzEncoder<ChannelWriter> = GzBuilder::new()
                .mtime(0)
                .write(sink, Compression::new(level.min(9)));
            let mut w = CountingWriter { inner: gz, count: 0 };
            report.scan = write_source(path, reader, &mut w, transform, fingerprint)?;
            report.uncompressed_bytes = w.count;
            let mut sink = w.inner.finish().map_err(io)?;
            sink.flush().map_err(io)?;
        }
        None => {
            let mut w = CountingWriter {
                inner: sink,
                count: 0,
            };
            report.scan = write_source(path, reader, &mut w, transform, fingerprint)?;
            report.uncompressed_bytes = w.count;
            w.flush().map_err(io)?;
        }
    }
    report.input_bytes = counter.load(std::sync::atomic::Ordering::Relaxed);
    report.input_crc32c = crc;
    report.input_sha256 = sha2::Digest::finalize(sha)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(report)
}

fn write_source(
    path: &Path,
    mut reader: impl Read,
    out: &mut dyn Write,
    transform: &Transform,
    fingerprint: bool,
) -> Result<Option<ScanReport>, SnapshotError> {
    if !fingerprint && transform.sanitize.is_none() {
        // Nothing to look at: the bytes as they are.
        std::io::copy(&mut reader, out).map_err(|source| SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        return Ok(None);
    }
    let scan_opts = ScanOptions {
        sanitize: transform.sanitize.clone(),
        fingerprint,
        lenient: false,
    };
    scan(reader, Some(out), &scan_opts, &mut |_| {})
        .map(Some)
        .map_err(|e| match e {
            dumpscript::ScanError::Write(source) => SnapshotError::Io {
                path: path.to_path_buf(),
                source,
            },
            e => SnapshotError::scan(path, e),
        })
}
