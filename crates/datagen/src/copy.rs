//! The output script: a counting, buffered writer of SQL lines and COPY text-format rows.
//!
//! Values are escaped exactly like PostgreSQL's `COPY ... TO STDOUT` (text format):
//! backslash, newline, carriage return, tab, backspace, form feed and vertical tab become
//! two-character backslash escapes; `\N` is NULL.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::TableStats;

/// Flush the internal buffer to the sink once it holds this many bytes.
const FLUSH_AT: usize = 1 << 18;

/// Escape letter for each byte that COPY text format must escape, 0 for the others.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0b] = b'v';
    t[0x0c] = b'f';
    t
};

static HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` to `buf` with COPY text escaping.
pub(crate) fn push_escaped(buf: &mut Vec<u8>, s: &[u8]) {
    debug_assert!(!s.contains(&0), "text values cannot contain NUL");
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e != 0 {
            buf.extend_from_slice(&s[start..i]);
            buf.push(b'\\');
            buf.push(e);
            start = i + 1;
        }
    }
    buf.extend_from_slice(&s[start..]);
}

/// Appends the decimal form of `v`.
pub(crate) fn push_int(buf: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `v` zero-padded to `width` digits (`v` must fit).
fn push_padded(buf: &mut Vec<u8>, v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    let mut n = v;
    while n > 0 {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = (tmp.len() - width).min(i);
    buf.extend_from_slice(&tmp[start..]);
}

/// Appends a float8 in a form PostgreSQL accepts (NaN, Infinity, -Infinity, -0, 1e-300).
pub(crate) fn push_f64(buf: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        buf.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        buf.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        let a = v.abs();
        // Display never uses exponents, which would spell 1e-300 with 300 zeros.
        let r = if a != 0.0 && !(1e-4..1e15).contains(&a) {
            write!(buf, "{v:e}")
        } else {
            write!(buf, "{v}")
        };
        // Writing into a Vec cannot fail.
        debug_assert!(r.is_ok());
    }
}

/// Appends lowercase hex digits of `bytes`.
pub(crate) fn push_hex(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.reserve(bytes.len() * 2);
    for &b in bytes {
        buf.push(HEX[(b >> 4) as usize]);
        buf.push(HEX[(b & 15) as usize]);
    }
}

/// Microseconds since 1970-01-01 00:00:00 UTC for a proleptic Gregorian date and time.
/// Years are astronomical: 0 is 1 BC, -43 is 44 BC.
pub(crate) const fn micros(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    let days = days_from_civil(y, mo, d);
    ((days * 86_400) + (h as i64) * 3600 + (mi as i64) * 60 + s as i64) * 1_000_000
}

/// One day in microseconds.
pub(crate) const DAY: i64 = 86_400 * 1_000_000;
/// One hour in microseconds.
pub(crate) const HOUR: i64 = 3_600 * 1_000_000;

const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends a timestamp in PostgreSQL's ISO output style; `tz` adds the `+00` offset.
pub(crate) fn push_ts(buf: &mut Vec<u8>, us: i64, tz: bool) {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000) as u64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u64;
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    push_padded(buf, year as u64, 4);
    buf.push(b'-');
    push_padded(buf, m as u64, 2);
    buf.push(b'-');
    push_padded(buf, d as u64, 2);
    buf.push(b' ');
    push_padded(buf, sod / 3600, 2);
    buf.push(b':');
    push_padded(buf, sod / 60 % 60, 2);
    buf.push(b':');
    push_padded(buf, sod % 60, 2);
    if frac != 0 {
        // PostgreSQL prints microseconds without trailing zeros.
        buf.push(b'.');
        let start = buf.len();
        push_padded(buf, frac, 6);
        while buf.len() > start && buf.last() == Some(&b'0') {
            buf.pop();
        }
    }
    if tz {
        buf.extend_from_slice(b"+00");
    }
    if bc {
        buf.extend_from_slice(b" BC");
    }
}

/// Appends an RFC 3339 UTC timestamp (`2023-05-01T10:00:00Z`, whole seconds) for JSON.
pub(crate) fn push_rfc3339(out: &mut String, us: i64) {
    use std::fmt::Write as _;
    let secs = us.div_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
}

/// Appends a PostgreSQL array literal of text elements (all quoted; `None` is NULL).
/// The result still needs COPY escaping, so build it in a scratch string.
pub(crate) fn array_literal<'a>(out: &mut String, elems: impl IntoIterator<Item = Option<&'a str>>) {
    out.push('{');
    for (i, e) in elems.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match e {
            None => out.push_str("NULL"),
            Some(s) => {
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
}

/// One COPY row under construction; columns are separated by tabs.
pub(crate) struct Row<'a> {
    buf: &'a mut Vec<u8>,
    cols: usize,
}

impl Row<'_> {
    fn sep(&mut self) {
        if self.cols > 0 {
            self.buf.push(b'\t');
        }
        self.cols += 1;
    }

    /// A NULL column.
    pub(crate) fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
    }

    /// A text column, escaped.
    pub(crate) fn text(&mut self, s: &str) {
        self.sep();
        push_escaped(self.buf, s.as_bytes());
    }

    /// A text column or NULL.
    pub(crate) fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// A column whose text the caller knows needs no escaping (numbers, enum labels, hex).
    pub(crate) fn raw(&mut self, s: &str) {
        debug_assert!(s.bytes().all(|b| ESCAPE[b as usize] == 0));
        self.sep();
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// An integer column.
    pub(crate) fn int(&mut self, v: i64) {
        self.sep();
        push_int(self.buf, v);
    }

    /// An integer column or NULL.
    pub(crate) fn opt_int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// A boolean column.
    pub(crate) fn bool(&mut self, b: bool) {
        self.sep();
        self.buf.push(if b { b't' } else { b'f' });
    }

    /// A double precision column.
    pub(crate) fn float(&mut self, v: f64) {
        self.sep();
        push_f64(self.buf, v);
    }

    /// A timestamptz column (microseconds since the Unix epoch, UTC).
    pub(crate) fn ts(&mut self, us: i64) {
        self.sep();
        push_ts(self.buf, us, true);
    }

    /// A timestamptz column or NULL.
    pub(crate) fn opt_ts(&mut self, us: Option<i64>) {
        match us {
            Some(us) => self.ts(us),
            None => self.null(),
        }
    }

    /// A timestamp-without-time-zone column.
    pub(crate) fn ts_naive(&mut self, us: i64) {
        self.sep();
        push_ts(self.buf, us, false);
    }

    /// A timestamp-without-time-zone column or NULL.
    pub(crate) fn opt_ts_naive(&mut self, us: Option<i64>) {
        match us {
            Some(us) => self.ts_naive(us),
            None => self.null(),
        }
    }

    /// A bytea column in hex format (`\x...`, whose backslash COPY doubles).
    pub(crate) fn bytea(&mut self, b: &[u8]) {
        self.sep();
        self.buf.extend_from_slice(b"\\\\x");
        push_hex(self.buf, b);
    }

    /// A bytea column or NULL.
    pub(crate) fn opt_bytea(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => self.bytea(b),
            None => self.null(),
        }
    }

    /// An integer array column (`{1,2,3}`).
    pub(crate) fn int_array(&mut self, vals: impl IntoIterator<Item = i64>) {
        self.sep();
        self.buf.push(b'{');
        for (i, v) in vals.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            push_int(self.buf, v);
        }
        self.buf.push(b'}');
    }
}

/// Measures the COPY bytes of a row without emitting it (`scratch` is reused).
pub(crate) fn measure(scratch: &mut Vec<u8>, f: impl FnOnce(&mut Row<'_>)) -> u64 {
    scratch.clear();
    let mut row = Row {
        buf: scratch,
        cols: 0,
    };
    f(&mut row);
    scratch.len() as u64 + 1
}

/// Open COPY block bookkeeping.
struct OpenCopy {
    table: &'static str,
    cols: usize,
    rows: u64,
    start: u64,
}

/// The script being written: SQL lines and COPY blocks, counted and buffered.
pub(crate) struct Script<'w> {
    out: &'w mut dyn Write,
    buf: Vec<u8>,
    flushed: u64,
    open: Option<OpenCopy>,
    tables: Vec<TableStats>,
}

impl<'w> Script<'w> {
    /// Starts a script that writes to `out`.
    pub(crate) fn new(out: &'w mut dyn Write) -> Self {
        Script {
            out,
            buf: Vec::with_capacity(FLUSH_AT + (FLUSH_AT >> 2)),
            flushed: 0,
            open: None,
            tables: Vec::new(),
        }
    }

    /// Bytes produced so far (written or buffered).
    pub(crate) fn bytes(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.flushed += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Appends SQL text verbatim (the caller supplies newlines).
    pub(crate) fn sql(&mut self, s: &str) -> io::Result<()> {
        self.buf.extend_from_slice(s.as_bytes());
        self.maybe_flush()
    }

    /// Opens `COPY "public"."table" (cols) FROM stdin;`.
    pub(crate) fn begin_copy(&mut self, table: &'static str, cols: &[&str]) -> io::Result<()> {
        debug_assert!(self.open.is_none(), "nested COPY");
        let start = self.bytes();
        self.buf.extend_from_slice(b"COPY \"public\".\"");
        self.buf.extend_from_slice(table.as_bytes());
        self.buf.extend_from_slice(b"\" (");
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                self.buf.extend_from_slice(b", ");
            }
            self.buf.push(b'"');
            self.buf.extend_from_slice(c.as_bytes());
            self.buf.push(b'"');
        }
        self.buf.extend_from_slice(b") FROM stdin;\n");
        self.open = Some(OpenCopy {
            table,
            cols: cols.len(),
            rows: 0,
            start,
        });
        Ok(())
    }

    /// Writes one row of the open COPY block.
    pub(crate) fn row(&mut self, f: impl FnOnce(&mut Row<'_>)) -> io::Result<()> {
        let mut row = Row {
            buf: &mut self.buf,
            cols: 0,
        };
        f(&mut row);
        let ncols = row.cols;
        self.buf.push(b'\n');
        if let Some(open) = self.open.as_mut() {
            debug_assert_eq!(ncols, open.cols, "column count of {}", open.table);
            open.rows += 1;
        }
        self.maybe_flush()
    }

    /// Closes the open COPY block with `\.` and records its statistics.
    pub(crate) fn end_copy(&mut self) -> io::Result<()> {
        self.buf.extend_from_slice(b"\\.\n\n");
        if let Some(open) = self.open.take() {
            let bytes = self.bytes() - open.start;
            self.record(open.table, open.rows, bytes);
        }
        self.maybe_flush()
    }

    /// Records rows written by plain SQL (INSERT) for the statistics.
    pub(crate) fn record(&mut self, table: &'static str, rows: u64, bytes: u64) {
        match self.tables.iter_mut().find(|t| t.table == table) {
            Some(t) => {
                t.rows += rows;
                t.bytes += bytes;
            }
            None => self.tables.push(TableStats { table, rows, bytes }),
        }
    }

    /// Flushes everything and returns the per-table statistics and the total size.
    pub(crate) fn finish(mut self) -> io::Result<(Vec<TableStats>, u64)> {
        self.out.write_all(&self.buf)?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        self.out.flush()?;
        Ok((self.tables, self.flushed))
    }
}

/// The script header shared by the three databases.
pub(crate) fn header(db: &str, seed: u64, target: u64) -> String {
    format!(
        "--\n-- Synthetic Sourcegraph {db} data written by sg-datagen (seed {seed}, target {target} bytes).\n\
         -- Load after the squashed schema: psql -X -v ON_ERROR_STOP=1 -f FILE\n--\n\n\
         SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET idle_in_transaction_session_timeout = 0;\n\
         SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\
         SET check_function_bodies = false;\nSET client_min_messages = warning;\nSET row_security = off;\n\n\
         BEGIN;\n\n"
    )
}

/// `SELECT setval(...)` for a sequence whose last used value is `last`.
pub(crate) fn setval(out: &mut String, seq: &str, last: i64) {
    let _ = writeln!(
        out,
        "SELECT pg_catalog.setval('\"public\".\"{seq}\"', {}, {});",
        last.max(1),
        last >= 1
    );
}

/// A tiny JSON writer into a `String`, for jsonb values and JSON-in-text settings.
pub(crate) struct Json<'a> {
    s: &'a mut String,
    first: bool,
    after_key: bool,
}

impl<'a> Json<'a> {
    /// Starts writing JSON at the end of `s`.
    pub(crate) fn new(s: &'a mut String) -> Self {
        Json {
            s,
            first: true,
            after_key: false,
        }
    }

    fn value_prefix(&mut self) {
        if self.after_key {
            self.after_key = false;
        } else if !self.first {
            self.s.push_str(", ");
        }
        self.first = false;
    }

    /// `{`
    pub(crate) fn obj(&mut self) -> &mut Self {
        self.value_prefix();
        self.s.push('{');
        self.first = true;
        self
    }

    /// `}`
    pub(crate) fn end_obj(&mut self) -> &mut Self {
        self.s.push('}');
        self.first = false;
        self
    }

    /// `[`
    pub(crate) fn arr(&mut self) -> &mut Self {
        self.value_prefix();
        self.s.push('[');
        self.first = true;
        self
    }

    /// `]`
    pub(crate) fn end_arr(&mut self) -> &mut Self {
        self.s.push(']');
        self.first = false;
        self
    }

    /// An object key; the next call writes its value.
    pub(crate) fn key(&mut self, k: &str) -> &mut Self {
        if !self.first {
            self.s.push_str(", ");
        }
        self.first = false;
        json_string(self.s, k);
        self.s.push_str(": ");
        self.after_key = true;
        self
    }

    /// A string value.
    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        self.value_prefix();
        json_string(self.s, v);
        self
    }

    /// An integer value.
    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        self.value_prefix();
        self.s.push_str(itoa(v).as_str());
        self
    }

    /// A boolean value.
    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.value_prefix();
        self.s.push_str(if v { "true" } else { "false" });
        self
    }

    /// `null`.
    pub(crate) fn null(&mut self) -> &mut Self {
        self.value_prefix();
        self.s.push_str("null");
        self
    }

    /// Raw JSON text (a number or literal the caller formatted).
    pub(crate) fn raw(&mut self, v: &str) -> &mut Self {
        self.value_prefix();
        self.s.push_str(v);
        self
    }

    /// `"key": "value"`.
    pub(crate) fn kv_str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k).str(v)
    }

    /// `"key": 123`.
    pub(crate) fn kv_int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k).int(v)
    }

    /// `"key": true`.
    pub(crate) fn kv_bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k).bool(v)
    }
}

/// Small stack-formatted integer, for building strings without `format!`.
pub(crate) struct Itoa {
    buf: [u8; 20],
    start: usize,
}

impl Itoa {
    /// The digits.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and '-' are ever written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

/// Formats `v` on the stack.
pub(crate) fn itoa(v: i64) -> Itoa {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    Itoa { buf, start: i }
}

/// Appends `v` as a JSON string literal.
pub(crate) fn json_string(out: &mut String, v: &str) {
    out.push('"');
    let bytes = v.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&v[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&v[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut b = Vec::new();
        push_escaped(&mut b, s.as_bytes());
        String::from_utf8(b).unwrap_or_default()
    }

    fn ts(us: i64, tz: bool) -> String {
        let mut b = Vec::new();
        push_ts(&mut b, us, tz);
        String::from_utf8(b).unwrap_or_default()
    }

    fn f(v: f64) -> String {
        let mut b = Vec::new();
        push_f64(&mut b, v);
        String::from_utf8(b).unwrap_or_default()
    }

    #[test]
    fn escapes_like_copy_to() {
        assert_eq!(esc("a\\b\nc\rd\te"), "a\\\\b\\nc\\rd\\te");
        assert_eq!(esc("\\."), "\\\\.");
        assert_eq!(esc("\u{8}\u{b}\u{c}\u{1}"), "\\b\\v\\f\u{1}");
        assert_eq!(esc("é🚀"), "é🚀");
    }

    #[test]
    fn timestamps() {
        assert_eq!(ts(0, true), "1970-01-01 00:00:00+00");
        assert_eq!(ts(micros(2023, 5, 1, 10, 0, 0), true), "2023-05-01 10:00:00+00");
        assert_eq!(
            ts(micros(2000, 2, 29, 23, 59, 59) + 120, false),
            "2000-02-29 23:59:59.00012"
        );
        assert_eq!(
            ts(micros(-43, 3, 15, 12, 0, 0), true),
            "0044-03-15 12:00:00+00 BC"
        );
        assert_eq!(ts(micros(0, 12, 31, 0, 0, 0), false), "0001-12-31 00:00:00 BC");
        assert_eq!(ts(micros(1, 1, 1, 0, 0, 0), false), "0001-01-01 00:00:00");
        assert_eq!(ts(-1, true), "1969-12-31 23:59:59.999999+00");
    }

    #[test]
    fn floats() {
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::INFINITY), "Infinity");
        assert_eq!(f(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(1e-300), "1e-300");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(42.0), "42");
        assert_eq!(f(f64::MAX), "1.7976931348623157e308");
    }

    #[test]
    fn json_and_arrays() {
        let mut s = String::new();
        Json::new(&mut s)
            .obj()
            .kv_str("a", "x\"y\\z\n\u{1}")
            .key("b")
            .arr()
            .int(1)
            .int(-2)
            .end_arr()
            .kv_bool("c", true)
            .end_obj();
        assert_eq!(s, r#"{"a": "x\"y\\z\n\u0001", "b": [1, -2], "c": true}"#);
        let mut a = String::new();
        array_literal(&mut a, [Some("a b"), None, Some("q\"\\")]);
        assert_eq!(a, r#"{"a b",NULL,"q\"\\"}"#);
    }
}
