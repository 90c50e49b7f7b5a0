//! A streaming lexer for plain pg_dump scripts, following psql's own rules
//! (`src/fe_utils/psqlscan.l`): statements end at a `;` outside quotes,
//! comments, dollar quotes and parentheses; a backslash at the start of a
//! command is a psql meta-command that runs to the end of its line; after
//! `COPY … FROM stdin;` the following lines are data until a line `\.`.
//!
//! The lexer never copies COPY data: items borrow from its buffer, and
//! concatenating every item's bytes gives back the input exactly.

use std::io::Read;

use crate::error::LexError;

/// Initial buffer size; COPY data is passed through in chunks of about this size.
const CHUNK: usize = 256 * 1024;
/// Largest single statement or meta-command accepted (a guard against
/// unbounded memory on input that is not a dump).
const MAX_STATEMENT: usize = 1 << 30;

/// One piece of a dump script. Every byte of the input belongs to exactly one item.
#[derive(Debug)]
pub enum Item<'a> {
    /// Whitespace and comments between commands.
    Trivia(&'a [u8]),
    /// An SQL statement, from its first byte through its terminating `;`.
    Statement(Statement<'a>),
    /// A psql meta-command line such as `\connect db` or `\restrict KEY`,
    /// including its newline.
    Meta(Meta<'a>),
    /// Complete data lines of a COPY block (each ends with `\n`).
    CopyData(&'a [u8]),
    /// The `\.` line that ends a COPY block, including its newline.
    CopyEnd(&'a [u8]),
}

impl Item<'_> {
    /// The exact input bytes of this item.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Item::Trivia(b) | Item::CopyData(b) | Item::CopyEnd(b) => b,
            Item::Statement(s) => s.text,
            Item::Meta(m) => m.text,
        }
    }
}

/// An SQL statement and where it starts.
#[derive(Debug)]
pub struct Statement<'a> {
    /// Exact bytes, from the first keyword through the `;`.
    pub text: &'a [u8],
    /// 1-based line of the first byte.
    pub line: u64,
    /// Set when the statement is `COPY … FROM stdin`: data lines follow.
    pub copy: Option<CopyTarget>,
}

/// A psql meta-command.
#[derive(Debug)]
pub struct Meta<'a> {
    /// Exact bytes, from the backslash through the newline (if any).
    pub text: &'a [u8],
    /// 1-based line.
    pub line: u64,
}

impl Meta<'_> {
    /// The command name without the backslash, e.g. `connect`, `restrict`.
    pub fn command(&self) -> &[u8] {
        let rest = &self.text[1..];
        let end = rest
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'\\')
            .unwrap_or(rest.len());
        &rest[..end]
    }
}

/// The table and columns of a `COPY … FROM stdin` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyTarget {
    /// Schema-qualified name without quotes, e.g. `public.repo`.
    pub table: String,
    /// Column names without quotes, in COPY order (empty when the header
    /// lists none: then the table's own column order applies).
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between commands.
    Command,
    /// After a `COPY … FROM stdin;` statement, before the end of its line.
    CopyLineRest,
    /// Inside COPY data.
    CopyData,
}

/// Streams [`Item`]s out of a reader. Memory stays bounded by the largest
/// statement, whatever the size of the input.
pub struct Lexer<R> {
    reader: R,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    start: usize,
    /// End of valid bytes in `buf`.
    end: usize,
    eof: bool,
    state: State,
    /// Line number of `buf[start]`.
    line: u64,
    copy_table: String,
    copy_line: u64,
    bytes_read: u64,
}

impl<R: Read> Lexer<R> {
    /// A lexer over `reader`.
    pub fn new(reader: R) -> Self {
        Lexer {
            reader,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
            state: State::Command,
            line: 1,
            copy_table: String::new(),
            copy_line: 0,
            bytes_read: 0,
        }
    }

    /// 1-based line number of the next unread byte.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Bytes read from the underlying reader so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Makes room and reads more input; returns false at end of input.
    fn fill(&mut self) -> Result<bool, LexError> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_STATEMENT {
                return Err(LexError::StatementTooLarge { line: self.line });
            }
            let new_len = self.buf.len() * 2;
            self.buf.resize(new_len, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    self.bytes_read += n as u64;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LexError::Io(e)),
            }
        }
    }

    /// Consumes `n` bytes starting at `start` and returns their range.
    fn take(&mut self, n: usize) -> (usize, usize) {
        let s = self.start;
        self.start += n;
        self.line += count_newlines(&self.buf[s..s + n]);
        (s, s + n)
    }

    /// The next item, or `None` at a clean end of input.
    ///
    /// # Errors
    /// Read errors, and input that ends inside a quote, a statement or a COPY
    /// block, or is otherwise not a script psql could run.
    pub fn next_item(&mut self) -> Result<Option<Item<'_>>, LexError> {
        match self.state {
            State::Command => self.next_command(),
            State::CopyLineRest => self.next_copy_line_rest(),
            State::CopyData => self.next_copy_data(),
        }
    }

    fn next_command(&mut self) -> Result<Option<Item<'_>>, LexError> {
        loop {
            let avail = &self.buf[self.start..self.end];
            match scan_trivia(avail, self.eof) {
                TriviaScan::Done(0) if avail.is_empty() => {
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
                TriviaScan::Done(0) => break,
                TriviaScan::Done(n) => {
                    let (s, e) = self.take(n);
                    return Ok(Some(Item::Trivia(&self.buf[s..e])));
                }
                TriviaScan::NeedMore => {
                    // At the end of input, scan once more knowing it: a line
                    // comment ends there; only a block comment stays open.
                    let at_eof = self.eof;
                    if !self.fill()? && at_eof {
                        return Err(LexError::Unterminated {
                            what: "block comment",
                            line: self.line,
                        });
                    }
                }
            }
        }
        if self.buf[self.start] == b'\\' {
            return self.next_meta();
        }
        self.next_statement()
    }

    fn next_meta(&mut self) -> Result<Option<Item<'_>>, LexError> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memchr(b'\n', avail) {
                let line = self.line;
                let (s, e) = self.take(i + 1);
                return Ok(Some(Item::Meta(Meta {
                    text: &self.buf[s..e],
                    line,
                })));
            }
            if !self.fill()? {
                let n = self.end - self.start;
                let line = self.line;
                let (s, e) = self.take(n);
                return Ok(Some(Item::Meta(Meta {
                    text: &self.buf[s..e],
                    line,
                })));
            }
        }
    }

    fn next_statement(&mut self) -> Result<Option<Item<'_>>, LexError> {
        let mut scanner = StatementScanner::default();
        let mut pos = 0;
        loop {
            let avail = &self.buf[self.start..self.end];
            match scanner.scan(avail, pos) {
                Scan::End(n) => {
                    let line = self.line;
                    let copy = if scanner.is_copy_from_stdin() {
                        Some(parse_copy_target(&avail[..n], line)?)
                    } else {
                        None
                    };
                    if let Some(c) = &copy {
                        self.state = State::CopyLineRest;
                        self.copy_table = c.table.clone();
                        self.copy_line = line;
                    }
                    let (s, e) = self.take(n);
                    return Ok(Some(Item::Statement(Statement {
                        text: &self.buf[s..e],
                        line,
                        copy,
                    })));
                }
                Scan::Backslash(at) => {
                    let line = self.line + count_newlines(&avail[..at]);
                    return Err(LexError::MetaInStatement { line });
                }
                Scan::NeedMore(resume) => {
                    pos = resume;
                    if !self.fill()? {
                        return Err(LexError::Unterminated {
                            what: scanner.open_construct(),
                            line: self.line,
                        });
                    }
                }
            }
        }
    }

    fn next_copy_line_rest(&mut self) -> Result<Option<Item<'_>>, LexError> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memchr(b'\n', avail) {
                if !avail[..i].iter().all(|b| b.is_ascii_whitespace()) {
                    return Err(LexError::TextAfterCopy { line: self.line });
                }
                self.state = State::CopyData;
                let (s, e) = self.take(i + 1);
                return Ok(Some(Item::Trivia(&self.buf[s..e])));
            }
            if !self.fill()? {
                return Err(LexError::UnterminatedCopy {
                    table: self.copy_table.clone(),
                    line: self.copy_line,
                });
            }
        }
    }

    fn next_copy_data(&mut self) -> Result<Option<Item<'_>>, LexError> {
        loop {
            let avail = &self.buf[self.start..self.end];
            // The block ends at a line that is exactly `\.` (psql also
            // accepts `\.\r`). Data never contains such a line: COPY escapes
            // every backslash in values as `\\`.
            if let Some(n) = end_marker_at_line_start(avail, self.eof) {
                self.state = State::Command;
                let (s, e) = self.take(n);
                return Ok(Some(Item::CopyEnd(&self.buf[s..e])));
            }
            if let Some(i) = find_end_marker(avail) {
                // i is the index of the '\n' before `\.`
                let (s, e) = self.take(i + 1);
                return Ok(Some(Item::CopyData(&self.buf[s..e])));
            }
            // No end marker in the buffer: emit the complete lines we have,
            // keeping back a tail that might be the start of `\n\.`.
            if let Some(last_nl) = memchr::memrchr(b'\n', avail) {
                if last_nl + 1 >= CHUNK / 2 || self.eof {
                    let (s, e) = self.take(last_nl + 1);
                    return Ok(Some(Item::CopyData(&self.buf[s..e])));
                }
            }
            if !self.fill()? {
                return Err(LexError::UnterminatedCopy {
                    table: self.copy_table.clone(),
                    line: self.copy_line,
                });
            }
        }
    }
}

/// If `avail` starts with the `\.` end-of-data line, returns its length.
fn end_marker_at_line_start(avail: &[u8], eof: bool) -> Option<usize> {
    if avail.len() < 2 || avail[0] != b'\\' || avail[1] != b'.' {
        return None;
    }
    match avail.get(2) {
        Some(b'\n') => Some(3),
        Some(b'\r') if avail.get(3) == Some(&b'\n') => Some(4),
        None if eof => Some(2),
        _ => None,
    }
}

/// Index of the `\n` that precedes an end-of-data line `\.`, if any.
fn find_end_marker(avail: &[u8]) -> Option<usize> {
    let finder = memchr::memmem::find_iter(avail, b"\n\\.");
    for i in finder {
        match avail.get(i + 3) {
            Some(b'\n') | None => return Some(i),
            Some(b'\r') if matches!(avail.get(i + 4), Some(b'\n') | None) => return Some(i),
            _ => {}
        }
    }
    None
}

/// Number of newlines in `b`.
pub(crate) fn count_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

enum TriviaScan {
    /// This many bytes of trivia (possibly 0) are complete.
    Done(usize),
    /// The buffer ends inside trivia that may continue.
    NeedMore,
}

/// Scans whitespace, `--` comments and (nested) `/* */` comments.
fn scan_trivia(b: &[u8], eof: bool) -> TriviaScan {
    // Trivia that may continue past the buffer: emit what is complete, or
    // ask for more when nothing is.
    let partial = |i: usize| {
        if i == 0 {
            TriviaScan::NeedMore
        } else {
            TriviaScan::Done(i)
        }
    };
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let (Some(&c), next) = (b.get(i), b.get(i + 1)) else {
            return TriviaScan::Done(i);
        };
        match (c, next) {
            (b'-' | b'/', None) if !eof => return partial(i),
            (b'-', Some(b'-')) => match memchr::memchr(b'\n', &b[i..]) {
                Some(j) => i += j + 1,
                None if eof => i = b.len(),
                None => return partial(i),
            },
            (b'/', Some(b'*')) => match block_comment_end(&b[i..]) {
                Some(j) => i += j,
                None => return partial(i),
            },
            _ => return TriviaScan::Done(i),
        }
    }
}

/// Length of a nested block comment starting at `b[0..2] == "/*"`, if complete.
pub(crate) fn block_comment_end(b: &[u8]) -> Option<usize> {
    let mut depth = 0u32;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'/' && b[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Some(i);
            }
        } else {
            i += 1;
        }
    }
    None
}

enum Scan {
    /// The statement ends after this many bytes (through the `;`).
    End(usize),
    /// A top-level backslash at this offset.
    Backslash(usize),
    /// More input needed; resume scanning at this offset.
    NeedMore(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Quote {
    #[default]
    None,
    /// '…'
    Str,
    /// E'…' with backslash escapes
    EscStr,
    /// "…"
    Ident,
    /// $tag$…$tag$ (tag stored separately)
    Dollar,
    /// -- to end of line
    LineComment,
    /// /* … */ with nesting depth
    BlockComment(u32),
}

/// Incremental state of one statement's scan, so a statement split across
/// buffer refills resumes where it stopped.
#[derive(Default)]
struct StatementScanner {
    quote: Quote,
    dollar_tag: Vec<u8>,
    paren_depth: i64,
    /// psql's BEGIN … END tracking for SQL-standard function bodies.
    begin_depth: i64,
    /// First few upper-cased keywords, for COPY and CREATE FUNCTION detection.
    words: Vec<String>,
    /// Last two top-level words, for `FROM stdin`.
    last_words: [String; 2],
    word_count: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl StatementScanner {
    fn open_construct(&self) -> &'static str {
        match self.quote {
            Quote::None => "statement (no terminating ';')",
            Quote::Str | Quote::EscStr => "string literal",
            Quote::Ident => "quoted identifier",
            Quote::Dollar => "dollar-quoted string",
            Quote::LineComment => "statement (no terminating ';')",
            Quote::BlockComment(_) => "block comment",
        }
    }

    fn is_copy_from_stdin(&self) -> bool {
        self.words.first().map(String::as_str) == Some("COPY")
            && self.last_words[0] == "FROM"
            && self.last_words[1] == "STDIN"
    }

    fn is_routine(&self) -> bool {
        let w: Vec<&str> = self.words.iter().map(String::as_str).collect();
        matches!(
            w.as_slice(),
            ["CREATE", "FUNCTION", ..]
                | ["CREATE", "PROCEDURE", ..]
                | ["CREATE", "OR", "REPLACE", "FUNCTION", ..]
                | ["CREATE", "OR", "REPLACE", "PROCEDURE", ..]
        )
    }

    fn note_word(&mut self, word: &[u8]) {
        let upper = String::from_utf8_lossy(word).to_ascii_uppercase();
        if self.is_routine() {
            match upper.as_str() {
                "BEGIN" | "CASE" => self.begin_depth += 1,
                "END" if self.begin_depth > 0 => self.begin_depth -= 1,
                _ => {}
            }
        }
        if self.words.len() < 5 {
            self.words.push(upper.clone());
        }
        self.word_count += 1;
        self.last_words[0] = std::mem::take(&mut self.last_words[1]);
        self.last_words[1] = upper;
    }

    /// Scans `b` from `pos`. Needs whole words, so a word touching the end of
    /// the buffer is re-scanned after a refill.
    fn scan(&mut self, b: &[u8], mut pos: usize) -> Scan {
        let n = b.len();
        while pos < n {
            match self.quote {
                Quote::None => {
                    let c = b[pos];
                    match c {
                        b';' if self.paren_depth <= 0 && self.begin_depth <= 0 => return Scan::End(pos + 1),
                        b';' => pos += 1,
                        b'(' => {
                            self.paren_depth += 1;
                            pos += 1;
                        }
                        b')' => {
                            self.paren_depth -= 1;
                            pos += 1;
                        }
                        b'\'' => {
                            let escaped = pos > 0
                                && (b[pos - 1] == b'E' || b[pos - 1] == b'e')
                                && (pos < 2 || !is_ident_char(b[pos - 2]));
                            self.quote = if escaped { Quote::EscStr } else { Quote::Str };
                            pos += 1;
                        }
                        b'"' => {
                            self.quote = Quote::Ident;
                            pos += 1;
                        }
                        b'-' => {
                            if pos + 1 >= n {
                                return Scan::NeedMore(pos);
                            }
                            if b[pos + 1] == b'-' {
                                self.quote = Quote::LineComment;
                                pos += 2;
                            } else {
                                pos += 1;
                            }
                        }
                        b'/' => {
                            if pos + 1 >= n {
                                return Scan::NeedMore(pos);
                            }
                            if b[pos + 1] == b'*' {
                                self.quote = Quote::BlockComment(1);
                                pos += 2;
                            } else {
                                pos += 1;
                            }
                        }
                        b'$' => {
                            // `$tag$` opens a dollar quote unless it follows an
                            // identifier character (`a$b`) or is `$1`.
                            if pos > 0 && is_ident_char(b[pos - 1]) {
                                pos += 1;
                                continue;
                            }
                            let mut j = pos + 1;
                            if j < n && !(b[j] == b'$' || is_ident_start(b[j])) {
                                pos += 1;
                                continue;
                            }
                            while j < n && b[j] != b'$' && is_ident_char(b[j]) {
                                j += 1;
                            }
                            if j >= n {
                                return Scan::NeedMore(pos);
                            }
                            if b[j] == b'$' {
                                self.dollar_tag.clear();
                                self.dollar_tag.extend_from_slice(&b[pos..=j]);
                                self.quote = Quote::Dollar;
                                pos = j + 1;
                            } else {
                                pos += 1;
                            }
                        }
                        b'\\' => return Scan::Backslash(pos),
                        c if is_ident_start(c) => {
                            let mut j = pos + 1;
                            while j < n && is_ident_char(b[j]) {
                                j += 1;
                            }
                            if j >= n {
                                return Scan::NeedMore(pos);
                            }
                            // E'…' is handled at the quote.
                            self.note_word(&b[pos..j]);
                            pos = j;
                        }
                        _ => pos += 1,
                    }
                }
                Quote::Str | Quote::Ident => {
                    let q = if self.quote == Quote::Str { b'\'' } else { b'"' };
                    match memchr::memchr(q, &b[pos..]) {
                        None => return Scan::NeedMore(n),
                        Some(i) => {
                            let at = pos + i;
                            if at + 1 >= n {
                                return Scan::NeedMore(at);
                            }
                            if b[at + 1] == q {
                                pos = at + 2; // doubled quote
                            } else {
                                self.quote = Quote::None;
                                pos = at + 1;
                            }
                        }
                    }
                }
                Quote::EscStr => match memchr::memchr2(b'\'', b'\\', &b[pos..]) {
                    None => return Scan::NeedMore(n),
                    Some(i) => {
                        let at = pos + i;
                        if at + 1 >= n {
                            return Scan::NeedMore(at);
                        }
                        if b[at] == b'\\' || b[at + 1] == b'\'' {
                            pos = at + 2;
                        } else {
                            self.quote = Quote::None;
                            pos = at + 1;
                        }
                    }
                },
                Quote::Dollar => {
                    match memchr::memmem::find(&b[pos..], &self.dollar_tag) {
                        None => {
                            // Keep the last tag-length bytes for the next scan.
                            let keep = self.dollar_tag.len().saturating_sub(1);
                            return Scan::NeedMore(n.saturating_sub(keep).max(pos));
                        }
                        Some(i) => {
                            pos += i + self.dollar_tag.len();
                            self.quote = Quote::None;
                        }
                    }
                }
                Quote::LineComment => match memchr::memchr(b'\n', &b[pos..]) {
                    None => return Scan::NeedMore(n),
                    Some(i) => {
                        pos += i + 1;
                        self.quote = Quote::None;
                    }
                },
                Quote::BlockComment(depth) => {
                    if pos + 1 >= n {
                        return Scan::NeedMore(pos);
                    }
                    if b[pos] == b'*' && b[pos + 1] == b'/' {
                        pos += 2;
                        self.quote = if depth == 1 {
                            Quote::None
                        } else {
                            Quote::BlockComment(depth - 1)
                        };
                    } else if b[pos] == b'/' && b[pos + 1] == b'*' {
                        pos += 2;
                        self.quote = Quote::BlockComment(depth + 1);
                    } else {
                        pos += 1;
                    }
                }
            }
        }
        Scan::NeedMore(pos)
    }
}

/// Parses the table and column list of a `COPY … FROM stdin;` statement.
fn parse_copy_target(stmt: &[u8], line: u64) -> Result<CopyTarget, LexError> {
    let toks = crate::tokens::tokenize(stmt).map_err(|_| LexError::InvalidUtf8 { line })?;
    // COPY [ONLY] name [ ( cols ) ] FROM stdin
    let mut i = 1;
    let mut table = String::new();
    // Qualified name: ident [. ident]
    while i < toks.len() {
        match &toks[i] {
            crate::tokens::Token::Word(w) if w.eq_ignore_ascii_case("only") && table.is_empty() => {
                i += 1;
            }
            crate::tokens::Token::Word(w) | crate::tokens::Token::QuotedIdent(w) => {
                let name = if matches!(toks[i], crate::tokens::Token::Word(_)) {
                    w.to_lowercase()
                } else {
                    w.clone()
                };
                if !table.is_empty() {
                    table.push('.');
                }
                table.push_str(&name);
                i += 1;
                if matches!(toks.get(i), Some(crate::tokens::Token::Punct('.'))) {
                    i += 1;
                } else {
                    break;
                }
            }
            _ => break,
        }
    }
    let mut columns = Vec::new();
    if matches!(toks.get(i), Some(crate::tokens::Token::Punct('('))) {
        i += 1;
        while let Some(t) = toks.get(i) {
            match t {
                crate::tokens::Token::Punct(')') => break,
                crate::tokens::Token::Word(w) => columns.push(w.to_lowercase()),
                crate::tokens::Token::QuotedIdent(w) => columns.push(w.clone()),
                _ => {}
            }
            i += 1;
        }
    }
    if table.is_empty() {
        return Err(LexError::BadCopyHeader { line });
    }
    Ok(CopyTarget { table, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads in fixed-size pieces to force every buffer boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn kinds(input: &[u8], step: usize) -> Vec<(String, String)> {
        let mut lx = Lexer::new(Trickle { data: input, step });
        let mut out = Vec::new();
        let mut joined = Vec::new();
        while let Some(item) = lx.next_item().expect("lex") {
            joined.extend_from_slice(item.bytes());
            let k = match &item {
                Item::Trivia(_) => "trivia",
                Item::Statement(s) if s.copy.is_some() => "copy",
                Item::Statement(_) => "stmt",
                Item::Meta(_) => "meta",
                Item::CopyData(_) => "data",
                Item::CopyEnd(_) => "end",
            };
            out.push((k.to_string(), String::from_utf8_lossy(item.bytes()).into_owned()));
        }
        assert_eq!(joined, input, "items must concatenate to the input");
        // Merge adjacent data chunks so results do not depend on buffering.
        let mut merged: Vec<(String, String)> = Vec::new();
        for (k, t) in out {
            match merged.last_mut() {
                Some((lk, lt)) if *lk == k && (k == "data" || k == "trivia") => lt.push_str(&t),
                _ => merged.push((k, t)),
            }
        }
        merged
    }

    const SAMPLE: &[u8] = b"--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSET a = 1;\nCREATE FUNCTION f() RETURNS text AS $_$ select ';' ; $$ $x$ $_$ LANGUAGE sql;\nCOMMENT ON TABLE t IS 'it''s; -- not a comment';\nCREATE TABLE \"we;ird\" (\"a\"\"b\" text DEFAULT E'\\\\'';', c int); /* x; /* y; */ */\nCOPY \"public\".\"t\" (\"a\", \"b\") FROM stdin;\nx\t\\\\.\n\\\\.\n;DROP\n\\.\nSELECT 1;\n\\unrestrict abc\n";

    #[test]
    fn splits_sample_identically_at_every_read_size() {
        let whole = kinds(SAMPLE, SAMPLE.len());
        for step in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(kinds(SAMPLE, step), whole, "step {step}");
        }
        let labels: Vec<&str> = whole.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            labels,
            [
                "trivia", "meta", "trivia", "stmt", "trivia", "stmt", "trivia", "stmt", "trivia", "stmt",
                "trivia", "copy", "trivia", "data", "end", "stmt", "trivia", "meta"
            ]
        );
        assert!(whole[7]
            .1
            .starts_with("COMMENT ON TABLE t IS 'it''s; -- not a comment';"));
        assert_eq!(whole[13].1, "x\t\\\\.\n\\\\.\n;DROP\n");
    }

    #[test]
    fn copy_header_is_parsed() {
        let mut lx = Lexer::new(&b"COPY \"public\".\"Repo\" (\"id\", name) FROM stdin;\n\\.\n"[..]);
        match lx.next_item().expect("lex") {
            Some(Item::Statement(s)) => {
                let c = s.copy.expect("copy");
                assert_eq!(c.table, "public.Repo");
                assert_eq!(c.columns, ["id", "name"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn empty_copy_block() {
        let k = kinds(b"COPY t FROM stdin;\n\\.\nSELECT 1;\n", 3);
        let labels: Vec<&str> = k.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(labels, ["copy", "trivia", "end", "stmt", "trivia"]);
    }

    #[test]
    fn begin_atomic_body_is_one_statement() {
        let src = b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\nSELECT 3;\n";
        let k = kinds(src, 5);
        assert_eq!(k[0].0, "stmt");
        assert!(k[0].1.ends_with("END; END;"));
    }

    #[test]
    fn semicolon_inside_parentheses_does_not_end() {
        let k = kinds(b"CREATE RULE r AS ON INSERT TO t DO (SELECT 1; SELECT 2);\n", 4);
        assert_eq!(k[0].0, "stmt");
        assert!(k[0].1.ends_with("SELECT 2);"));
    }

    fn lex_err(input: &[u8]) -> LexError {
        let mut lx = Lexer::new(input);
        loop {
            match lx.next_item() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("expected an error"),
                Err(e) => return e,
            }
        }
    }

    #[test]
    fn truncations_are_errors() {
        assert!(matches!(
            lex_err(b"COPY t FROM stdin;\na\tb\n"),
            LexError::UnterminatedCopy { line: 1, .. }
        ));
        assert!(matches!(
            lex_err(b"CREATE FUNCTION f() AS $$ body"),
            LexError::Unterminated {
                what: "dollar-quoted string",
                ..
            }
        ));
        assert!(matches!(
            lex_err(b"SELECT 'abc"),
            LexError::Unterminated {
                what: "string literal",
                ..
            }
        ));
        assert!(matches!(lex_err(b"SELECT 1"), LexError::Unterminated { .. }));
        assert!(matches!(
            lex_err(b"SELECT 1; /* open"),
            LexError::Unterminated {
                what: "block comment",
                ..
            }
        ));
        assert!(matches!(
            lex_err(b"SELECT 1 \\gset\n;"),
            LexError::MetaInStatement { line: 1 }
        ));
    }

    #[test]
    fn a_line_comment_may_end_the_input() {
        // No newline after the last comment: trivia, not an open block comment.
        for step in [1, 3, 100] {
            let k = kinds(b"SELECT 1;\n-- the end", step);
            let labels: Vec<&str> = k.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(labels, ["stmt", "trivia"], "step {step}");
        }
    }

    #[test]
    fn dollar_variants() {
        // $1 is a parameter, a$b$ an identifier; neither opens a quote.
        let k = kinds(b"PREPARE p AS SELECT $1, a$b$ FROM t;\nSELECT $q$;$q$;\n", 1);
        let stmts: Vec<&str> = k
            .iter()
            .filter(|(k, _)| k == "stmt")
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(stmts, ["PREPARE p AS SELECT $1, a$b$ FROM t;", "SELECT $q$;$q$;"]);
    }
}
