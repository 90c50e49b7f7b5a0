//! Splits a plain dump into the pieces a parallel loader needs: session
//! settings, pre-data statements in order, each table's COPY data with its
//! byte range, sequence values, and post-data statements classed by how
//! they may run in parallel. The sanitizer decides on every statement on
//! the way; what it removes is reported, never executed.

use std::io::Read;

use crate::error::{LexError, ScanError};
use crate::lexer::{CopyTarget, Item, Lexer};
use crate::sanitize::{decide_meta, decide_tokens, preview, Change, Decision, SanitizeOptions};
use crate::scan::read_head;
use crate::schema::TableColumns;
use crate::toc::{Section, TocEntry, TocTracker};
use crate::tokens::{tokenize, Token};

const TRAILER: &[u8] = b"-- PostgreSQL database dump complete";

/// How a post-data statement may be scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    /// `CREATE INDEX`: runs in parallel with other indexes and constraints.
    Index,
    /// Primary key, unique, exclusion or check constraint: in parallel with indexes.
    Constraint,
    /// Foreign key: after every index and constraint, in parallel with other foreign keys.
    ForeignKey,
    /// Anything else (triggers, rules, comments, index attachments…): last, in dump order.
    Other,
}

/// One piece of a dump, in dump order.
#[derive(Debug)]
pub enum Piece<'a> {
    /// A session setting (`SET …` or `SELECT pg_catalog.set_config(…)`), for every session.
    Setting {
        /// The statement.
        text: &'a [u8],
        /// Its line.
        line: u64,
    },
    /// A statement that must run before the data, in order, in one session.
    PreData {
        /// The statement.
        text: &'a [u8],
        /// Its line.
        line: u64,
        /// The object it belongs to.
        toc: Option<TocEntry>,
    },
    /// A table's COPY block starts; its data follows as [`Piece::CopyData`].
    CopyStart {
        /// Table and columns.
        target: CopyTarget,
        /// Each column's declared type ("" when the dump does not declare the table).
        types: Vec<String>,
        /// Line of the COPY statement.
        line: u64,
    },
    /// Data lines of the open COPY block.
    CopyData {
        /// The lines (each ends with `\n`).
        data: &'a [u8],
        /// Byte offset of `data` in the input.
        offset: u64,
    },
    /// The open COPY block ended (the `\.` line is not data).
    CopyEnd,
    /// A data-section statement that is not COPY, e.g. an INSERT of a `--inserts` dump.
    DataStatement {
        /// The statement.
        text: &'a [u8],
        /// Its line.
        line: u64,
        /// The object it belongs to.
        toc: Option<TocEntry>,
    },
    /// `SELECT pg_catalog.setval(…)`.
    SequenceSet {
        /// The statement.
        text: &'a [u8],
        /// Its line.
        line: u64,
    },
    /// A statement that needs the data first.
    PostData {
        /// The statement.
        text: &'a [u8],
        /// Its line.
        line: u64,
        /// How it may be scheduled.
        kind: PostKind,
        /// The object it belongs to.
        toc: Option<TocEntry>,
    },
    /// The sanitizer removed a statement or meta-command.
    Removed(Change),
    /// Comments and whitespace: nothing to run.
    Trivia,
}

/// What the whole pass saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitSummary {
    /// Input bytes.
    pub bytes: u64,
    /// Input lines.
    pub lines: u64,
    /// SQL statements.
    pub statements: u64,
}

/// Reads a dump piece by piece (see the module docs).
pub struct Splitter<R: Read> {
    lexer: Lexer<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>,
    sanitize: Option<SanitizeOptions>,
    columns: TableColumns,
    section: Section,
    toc: Option<TocEntry>,
    headers: TocTracker,
    offset: u64,
    statements: u64,
    trailer_after_last_statement: bool,
    restrict: Option<(u64, Vec<u8>)>,
}

impl<R: Read> Splitter<R> {
    /// Checks the header and starts reading. With `sanitize`, every statement
    /// passes the sanitizer first.
    ///
    /// # Errors
    /// The input is not a plain pg_dump script.
    pub fn new(mut input: R, sanitize: Option<SanitizeOptions>) -> Result<Self, ScanError> {
        let head = read_head(&mut input, false)?;
        Ok(Splitter {
            lexer: Lexer::new(std::io::Cursor::new(head).chain(input)),
            sanitize,
            columns: TableColumns::default(),
            section: Section::Prologue,
            toc: None,
            headers: TocTracker::default(),
            offset: 0,
            statements: 0,
            trailer_after_last_statement: false,
            restrict: None,
        })
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.lexer.bytes_read()
    }

    /// The next piece, or `None` at the end of the input; then call
    /// [`Splitter::finish`], which says whether the dump was complete.
    ///
    /// # Errors
    /// Lexing fails or the sanitizer rejects a statement.
    pub fn next_piece(&mut self) -> Result<Option<Piece<'_>>, ScanError> {
        // One item, one piece (a loop here would hold the lexer's borrow).
        let Some(item) = self.lexer.next_item()? else {
            return Ok(None);
        };
        let start = self.offset;
        self.offset += item.bytes().len() as u64;
        if !matches!(item, Item::Trivia(_)) {
            self.headers.reset();
        }
        let piece = match item {
            Item::Trivia(t) => {
                if memchr::memmem::find(t, TRAILER).is_some() {
                    self.trailer_after_last_statement = true;
                }
                for entry in self.headers.feed(t) {
                    match entry.section() {
                        Some(section) if section > self.section => self.section = section,
                        None if self.section == Section::Prologue => self.section = Section::PreData,
                        _ => {}
                    }
                    self.toc = Some(entry);
                }
                Piece::Trivia
            }
            Item::Meta(m) => {
                let cmd = m.command();
                let arg = m.text[1 + cmd.len()..].trim_ascii().to_vec();
                match cmd {
                    b"restrict" => self.restrict = Some((m.line, arg)),
                    b"unrestrict" if self.restrict.as_ref().is_some_and(|(_, k)| *k == arg) => {
                        self.restrict = None
                    }
                    _ => {}
                }
                // A loader is not psql: meta-commands are never run, only reported.
                match self.sanitize.as_ref().map(|o| decide_meta(o, cmd)) {
                    Some(Decision::Reject { reason }) => {
                        return Err(ScanError::Rejected {
                            line: m.line,
                            statement: preview(m.text),
                            reason,
                        })
                    }
                    Some(Decision::Remove { rule, reason }) => {
                        Piece::Removed(change(m.line, m.text, rule, reason))
                    }
                    Some(Decision::Keep) | None => Piece::Removed(change(
                        m.line,
                        m.text,
                        "meta-command",
                        "psql meta-commands are not SQL".into(),
                    )),
                }
            }
            Item::CopyData(d) => Piece::CopyData {
                data: d,
                offset: start,
            },
            Item::CopyEnd(_) => Piece::CopyEnd,
            Item::Statement(s) => {
                self.statements += 1;
                self.trailer_after_last_statement = false;
                let toks = tokenize(s.text).map_err(|_| LexError::InvalidUtf8 { line: s.line })?;
                self.columns.observe_tokens(&toks);
                let decision = self.sanitize.as_ref().map(|o| decide_tokens(o, &toks));
                let (text, line) = (s.text, s.line);
                match (decision, s.copy) {
                    (Some(Decision::Reject { reason }), _) => {
                        return Err(ScanError::Rejected {
                            line,
                            statement: preview(text),
                            reason,
                        })
                    }
                    (Some(Decision::Remove { rule, reason }), _) => {
                        Piece::Removed(change(line, text, rule, reason))
                    }
                    (_, Some(target)) => {
                        self.section = self.section.max(Section::Data);
                        let (columns, types) = self.columns.types_for(&target.table, &target.columns);
                        Piece::CopyStart {
                            target: CopyTarget {
                                table: target.table,
                                columns,
                            },
                            types,
                            line,
                        }
                    }
                    _ if is_setting(&toks) => Piece::Setting { text, line },
                    _ if is_setval(&toks) => Piece::SequenceSet { text, line },
                    _ => {
                        let toc = self.toc.clone();
                        match self.section {
                            Section::Prologue | Section::PreData => Piece::PreData { text, line, toc },
                            Section::Data => Piece::DataStatement { text, line, toc },
                            Section::PostData => Piece::PostData {
                                text,
                                line,
                                kind: post_kind(toc.as_ref(), &toks),
                                toc,
                            },
                        }
                    }
                }
            }
        };
        Ok(Some(piece))
    }

    /// Totals, after [`Splitter::next_piece`] returned `None`.
    ///
    /// # Errors
    /// The dump was cut short (no closing line, `\\restrict` never closed).
    pub fn finish(&self) -> Result<SplitSummary, ScanError> {
        let lines = self.lexer.line() - 1;
        if !self.trailer_after_last_statement {
            return Err(ScanError::MissingTrailer { line: lines });
        }
        if let Some((line, _)) = self.restrict {
            return Err(ScanError::UnmatchedRestrict { line });
        }
        Ok(SplitSummary {
            bytes: self.lexer.bytes_read(),
            lines,
            statements: self.statements,
        })
    }
}

fn change(line: u64, text: &[u8], rule: &str, reason: String) -> Change {
    Change {
        line,
        action: "removed".into(),
        rule: rule.into(),
        statement: preview(text),
        reason,
    }
}

/// `SET name …` (not `SET ROLE`/`SESSION AUTHORIZATION`, which the sanitizer
/// handles) or `SELECT pg_catalog.set_config(…)`.
pub fn is_setting(t: &[Token]) -> bool {
    let kw = |i: usize, k: &str| t.get(i).is_some_and(|tok| tok.is_kw(k));
    (kw(0, "SET") && !kw(1, "ROLE") && !kw(1, "SESSION"))
        || (kw(0, "SELECT") && kw(1, "pg_catalog") && kw(3, "set_config"))
}

fn is_setval(t: &[Token]) -> bool {
    let kw = |i: usize, k: &str| t.get(i).is_some_and(|tok| tok.is_kw(k));
    kw(0, "SELECT") && kw(1, "pg_catalog") && kw(3, "setval")
}

fn post_kind(toc: Option<&TocEntry>, t: &[Token]) -> PostKind {
    let kw = |i: usize, k: &str| t.get(i).is_some_and(|tok| tok.is_kw(k));
    match toc.map(|e| e.kind.as_str()) {
        Some("INDEX") if kw(0, "CREATE") => PostKind::Index,
        Some("CONSTRAINT") if kw(0, "ALTER") => PostKind::Constraint,
        Some("FK CONSTRAINT") if kw(0, "ALTER") => PostKind::ForeignKey,
        _ => PostKind::Other,
    }
}

/// A sequence value from `SELECT pg_catalog.setval('name', value, is_called)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SequenceValue {
    /// `schema.sequence`, unquoted.
    pub name: String,
    /// The value.
    pub value: i64,
    /// Whether `nextval` returns the next value (true) or this one (false).
    pub is_called: bool,
}

/// Parses a `setval` statement.
pub fn parse_setval(text: &[u8]) -> Option<SequenceValue> {
    let t = tokenize(text).ok()?;
    if !is_setval(&t) {
        return None;
    }
    // SELECT pg_catalog . setval ( 'name' , value , bool ) ;
    let name = match t.get(5)? {
        Token::Str(s) => s.clone(),
        _ => return None,
    };
    let value = match t.get(7)? {
        Token::Number(n) => n.parse().ok()?,
        Token::Punct('-') => match t.get(8)? {
            Token::Number(n) => -(n.parse::<i64>().ok()?),
            _ => return None,
        },
        _ => return None,
    };
    let is_called = !t.iter().rev().take(4).any(|x| x.is_kw("false"));
    Some(SequenceValue {
        name: unquote_qualified(&name),
        value,
        is_called,
    })
}

/// `"public"."repo_id_seq"` → `public.repo_id_seq` (as `regclass` text).
fn unquote_qualified(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.push('"');
            }
            '"' => quoted = !quoted,
            c if quoted => out.push(c),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}
