//! One pass over a dump: check it is a complete pg_dump script, optionally
//! sanitize it into a writer, fingerprint its tables, and read the facts a
//! manifest records (server and pg_dump versions, Sourcegraph version).

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::LexError;
use crate::error::ScanError;
use crate::fingerprint::{ColumnKind, TableHasher};
use crate::lexer::{Item, Lexer};
use crate::sanitize::{
    decide_meta, decide_tokens, preview, write_commented, Change, Decision, SanitizeOptions,
};
use crate::schema::TableColumns;
use crate::tokens::tokenize;

/// What one pass does besides checking the script.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Sanitize with these options (None: write the input unchanged).
    pub sanitize: Option<SanitizeOptions>,
    /// Fingerprint every table's COPY data.
    pub fingerprint: bool,
    /// Accept scripts without pg_dump's header and closing comment.
    pub lenient: bool,
}

/// A table's data as found in the dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableData {
    /// Schema-qualified name without quotes, e.g. `public.repo`.
    pub table: String,
    /// Columns in COPY order.
    pub columns: Vec<String>,
    /// Each column's type as the dump declares it ("" if not declared in this dump).
    pub types: Vec<String>,
    /// Number of rows.
    pub rows: u64,
    /// Content hash (see [`crate::fingerprint`]), 32 hex digits.
    pub hash: String,
    /// Bytes of COPY data (the table's share of the file).
    pub bytes: u64,
    /// Line of the COPY statement.
    pub line: u64,
}

/// The Sourcegraph version recorded in the `versions` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcegraphVersion {
    /// `version` of the `frontend` row.
    pub version: String,
    /// `first_version` of that row, when present.
    pub first_version: Option<String>,
}

/// What a pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// `-- Dumped from database version …`
    pub dumped_from: Option<String>,
    /// `-- Dumped by pg_dump version …`
    pub dumped_by: Option<String>,
    /// From the `versions` COPY block, in a frontend dump.
    pub sourcegraph: Option<SourcegraphVersion>,
    /// Tables with data, in dump order (only when fingerprinting).
    pub tables: Vec<TableData>,
    /// Changes made by the sanitizer.
    pub changes: Vec<Change>,
    /// Input bytes.
    pub bytes_in: u64,
    /// Output bytes (equal to input without a sanitizer).
    pub bytes_out: u64,
    /// Input lines.
    pub lines: u64,
    /// SQL statements.
    pub statements: u64,
    /// Whether the dump is guarded with `\restrict`.
    pub restricted: bool,
    /// Objects per pg_dump type (`TABLE`, `INDEX`, `FK CONSTRAINT`…), from the TOC headers.
    pub objects: std::collections::BTreeMap<String, u64>,
    /// Sequence values the dump sets.
    pub sequences: Vec<crate::sections::SequenceValue>,
    /// Extensions the dump creates.
    pub extensions: Vec<String>,
}

struct CountingWriter<'a> {
    inner: Option<&'a mut dyn Write>,
    bytes: u64,
}

impl CountingWriter<'_> {
    fn write(&mut self, b: &[u8]) -> Result<(), ScanError> {
        self.bytes += b.len() as u64;
        match &mut self.inner {
            Some(w) => w.write_all(b).map_err(ScanError::Write),
            None => Ok(()),
        }
    }
    fn commented(&mut self, b: &[u8]) -> Result<(), ScanError> {
        match &mut self.inner {
            Some(w) => {
                let mut tmp = Vec::with_capacity(b.len() + 16);
                write_commented(&mut tmp, b).map_err(ScanError::Write)?;
                self.bytes += tmp.len() as u64;
                w.write_all(&tmp).map_err(ScanError::Write)
            }
            None => Ok(()),
        }
    }
}

struct OpenCopy {
    table: String,
    columns: Vec<String>,
    types: Vec<String>,
    hasher: TableHasher,
    bytes: u64,
    line: u64,
    /// Rows kept for reading the Sourcegraph version (only for `versions`).
    keep: Option<Vec<u8>>,
}

/// The marker pg_dump writes last (before `\unrestrict`).
const TRAILER: &[u8] = b"-- PostgreSQL database dump complete";
const HEADER: &[u8] = b"-- PostgreSQL database dump";

/// Reads the first 4 KB and checks that they start a plain pg_dump script
/// (binary formats and other files get a clear error instead of a lexer's
/// complaint). Returns the bytes read, to be chained before the rest.
pub(crate) fn read_head(input: &mut impl Read, lenient: bool) -> Result<Vec<u8>, ScanError> {
    // Look at the start before lexing: binary formats and files that are
    // not pg_dump scripts get a clear error instead of a lexer's complaint.
    let mut head = vec![0u8; 4096];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ScanError::Lex(e.into())),
        }
    }
    head.truncate(got);
    if head.starts_with(b"PGDMP") {
        return Err(ScanError::CustomFormat);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(ScanError::NotAPgDump {
            line: 1,
            detail: "the file is gzip-compressed; decompress it first (gunzip -k FILE)".into(),
        });
    }
    if !lenient {
        if head.is_empty() {
            return Err(ScanError::NotAPgDump {
                line: 1,
                detail: "the file is empty".into(),
            });
        }
        if !head.trim_ascii_start().starts_with(b"--") || memchr::memmem::find(&head, HEADER).is_none() {
            let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
            return Err(ScanError::NotAPgDump {
                line: 1,
                detail: format!(
                    "it does not start with pg_dump's header ('-- PostgreSQL database dump'); first line: {}",
                    preview(&first[..first.len().min(120)])
                ),
            });
        }
    }
    Ok(head)
}

/// Scans a dump from `input`, writing the (sanitized) script to `output`.
/// `progress` is called with the number of input bytes read so far.
///
/// # Errors
/// [`ScanError`] when the input is not a complete plain pg_dump script, a
/// statement is rejected by the profile, or reading or writing fails.
pub fn scan(
    input: impl Read,
    output: Option<&mut dyn Write>,
    opts: &ScanOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ScanReport, ScanError> {
    let mut input = input;
    let head = read_head(&mut input, opts.lenient)?;
    let mut lexer = Lexer::new(std::io::Cursor::new(head).chain(input));
    let mut out = CountingWriter {
        inner: output,
        bytes: 0,
    };
    let mut report = ScanReport::default();
    let mut columns = TableColumns::default();
    let mut copy: Option<OpenCopy> = None;
    let mut trailer_after_last_statement = false;
    // Line and key of an open `\restrict KEY`; `\unrestrict` must repeat the key.
    let mut restrict: Option<(u64, Vec<u8>)> = None;
    // After a removed statement, the next item must start on a new line.
    let mut need_newline = false;
    let mut last_progress = 0u64;

    let mut headers = crate::toc::TocTracker::default();
    while let Some(item) = lexer.next_item()? {
        let bytes = item.bytes();
        if !matches!(item, Item::Trivia(_)) {
            headers.reset();
        }
        if need_newline && bytes.first() != Some(&b'\n') {
            out.write(b"\n")?;
        }
        need_newline = false;
        match item {
            Item::Trivia(t) => {
                if report.dumped_from.is_none() || report.dumped_by.is_none() {
                    header_facts(t, &mut report);
                }
                for entry in headers.feed(t) {
                    *report.objects.entry(entry.kind).or_default() += 1;
                }
                if memchr::memmem::find(t, TRAILER).is_some() {
                    trailer_after_last_statement = true;
                }
                out.write(t)?;
            }
            Item::Meta(m) => {
                let cmd = m.command();
                let arg = m.text[1 + cmd.len()..].trim_ascii().to_vec();
                match cmd {
                    b"restrict" => {
                        report.restricted = true;
                        restrict = Some((m.line, arg));
                    }
                    b"unrestrict" if restrict.as_ref().is_some_and(|(_, key)| *key == arg) => restrict = None,
                    _ => {}
                }
                match opts.sanitize.as_ref().map(|o| decide_meta(o, cmd)) {
                    None | Some(Decision::Keep) => out.write(m.text)?,
                    Some(Decision::Remove { rule, reason }) => {
                        record(&mut report, m.line, m.text, rule, reason);
                        out.commented(m.text)?;
                    }
                    Some(Decision::Reject { reason }) => {
                        return Err(ScanError::Rejected {
                            line: m.line,
                            statement: preview(m.text),
                            reason,
                        })
                    }
                }
            }
            Item::Statement(s) => {
                report.statements += 1;
                trailer_after_last_statement = false;
                let toks = tokenize(s.text).map_err(|_| LexError::InvalidUtf8 { line: s.line })?;
                if opts.fingerprint {
                    columns.observe_tokens(&toks);
                }
                record_object_facts(&toks, s.text, &mut report);
                match opts.sanitize.as_ref().map(|o| decide_tokens(o, &toks)) {
                    None | Some(Decision::Keep) => out.write(s.text)?,
                    Some(Decision::Remove { rule, reason }) => {
                        record(&mut report, s.line, s.text, rule, reason);
                        out.commented(s.text)?;
                        need_newline = true;
                    }
                    Some(Decision::Reject { reason }) => {
                        return Err(ScanError::Rejected {
                            line: s.line,
                            statement: preview(s.text),
                            reason,
                        })
                    }
                }
                if let Some(target) = s.copy {
                    let (cols, types) = columns.types_for(&target.table, &target.columns);
                    let kinds = types.iter().map(|t| ColumnKind::from_type_name(t)).collect();
                    let keep = (target.table == "public.versions").then(Vec::new);
                    copy = Some(OpenCopy {
                        table: target.table,
                        columns: cols,
                        types,
                        hasher: TableHasher::new(kinds),
                        bytes: 0,
                        line: s.line,
                        keep,
                    });
                }
            }
            Item::CopyData(d) => {
                if let Some(c) = copy.as_mut() {
                    if opts.fingerprint {
                        c.hasher.update_lines(d);
                    }
                    c.bytes += d.len() as u64;
                    if let Some(k) = c.keep.as_mut() {
                        if k.len() < 1 << 20 {
                            k.extend_from_slice(d);
                        }
                    }
                }
                out.write(d)?;
            }
            Item::CopyEnd(e) => {
                if let Some(c) = copy.take() {
                    if let Some(rows) = &c.keep {
                        report.sourcegraph = sourcegraph_version(&c.columns, rows);
                    }
                    if opts.fingerprint {
                        let fp = c.hasher.finish();
                        report.tables.push(TableData {
                            table: c.table,
                            columns: c.columns,
                            types: c.types,
                            rows: fp.rows,
                            hash: fp.hash_hex(),
                            bytes: c.bytes,
                            line: c.line,
                        });
                    }
                }
                out.write(e)?;
            }
        }
        let read = lexer.bytes_read();
        if read - last_progress >= 1 << 20 {
            last_progress = read;
            progress(read);
        }
    }
    progress(lexer.bytes_read());
    report.lines = lexer.line() - 1;
    report.bytes_in = lexer.bytes_read();
    report.bytes_out = out.bytes;
    if !opts.lenient {
        if !trailer_after_last_statement {
            return Err(ScanError::MissingTrailer { line: report.lines });
        }
        if let Some((line, _)) = restrict {
            return Err(ScanError::UnmatchedRestrict { line });
        }
    }
    Ok(report)
}

/// Sequence values and extension names, for comparing a loaded database.
fn record_object_facts(toks: &[crate::tokens::Token], text: &[u8], report: &mut ScanReport) {
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_kw(k));
    if kw(0, "SELECT") && kw(3, "setval") {
        if let Some(v) = crate::sections::parse_setval(text) {
            report.sequences.push(v);
        }
    } else if kw(0, "CREATE") && kw(1, "EXTENSION") {
        let at = if kw(2, "IF") { 5 } else { 2 };
        if let Some(name) = toks.get(at).and_then(crate::tokens::Token::ident) {
            report.extensions.push(name);
        }
    }
}

fn record(report: &mut ScanReport, line: u64, text: &[u8], rule: &str, reason: String) {
    report.changes.push(Change {
        line,
        action: "removed".into(),
        rule: rule.into(),
        statement: preview(text),
        reason,
    });
}

fn header_facts(trivia: &[u8], report: &mut ScanReport) {
    for line in trivia.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line);
        if let Some(v) = line.strip_prefix("-- Dumped from database version ") {
            report.dumped_from = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("-- Dumped by pg_dump version ") {
            report.dumped_by = Some(v.trim().to_string());
        }
    }
}

/// Reads the `frontend` row of the `versions` table's COPY data.
fn sourcegraph_version(columns: &[String], rows: &[u8]) -> Option<SourcegraphVersion> {
    let idx = |name: &str| columns.iter().position(|c| c == name);
    let (service, version) = (idx("service")?, idx("version")?);
    let first = idx("first_version");
    for line in rows.split(|b| *b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|b| *b == b'\t').collect();
        if fields.get(service) == Some(&&b"frontend"[..]) {
            let text = |i: usize| {
                fields
                    .get(i)
                    .filter(|f| **f != b"\\N")
                    .map(|f| String::from_utf8_lossy(f).into_owned())
            };
            return Some(SourcegraphVersion {
                version: text(version)?,
                first_version: first.and_then(text),
            });
        }
    }
    None
}
