//! Cut and bit-flipped dumps (issue 8): real pg_dump 17 outputs cut at every
//! kind of structural boundary must be refused, with an error that says what
//! was left open, by both reading paths (`scan`, used by sanitize and
//! fingerprint; `Splitter` + `finish`, used by import). A flipped byte in a
//! table's COPY rows changes that table's fingerprint and no other; a
//! flipped byte in the dump's structure is an error or a changed report.
//!
//! Where the cuts are is found here by a small scanner of our own, not by the
//! library's lexer, so a lexer that misreads a quote cannot hide its own
//! mistake. Every choice is deterministic (strides and a seeded generator).

use std::path::PathBuf;

use dumpscript::lexer::{Item, Lexer};
use dumpscript::{
    scan, ColumnKind, SanitizeOptions, ScanError, ScanOptions, ScanReport, Splitter, TableHasher,
};

fn dump(db: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../testdata/dumps/pgdump17/{db}.sql"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const TRAILER: &[u8] = b"-- PostgreSQL database dump complete";

/// One place to cut, and what the error must say.
#[derive(Debug, Clone)]
struct Cut {
    /// Cut after this many bytes.
    at: usize,
    /// The kind of boundary (for the report and the coverage check).
    kind: &'static str,
    /// Substrings the error message must contain.
    expect: Vec<String>,
    /// The line the error must name, when known.
    line: Option<u64>,
}

fn cut(at: usize, kind: &'static str, expect: &[&str], line: Option<u64>) -> Cut {
    Cut {
        at,
        kind,
        expect: expect.iter().map(|s| s.to_string()).collect(),
        line,
    }
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// A quoted region of a statement: kind, offset of the opening quote, first
/// body byte, offset of the closing quote.
#[derive(Debug)]
struct Region {
    kind: &'static str,
    body: usize,
    close: usize,
    tag_len: usize,
}

/// Quoted regions of one statement, read with PostgreSQL's rules
/// (standard_conforming_strings on, as pg_dump sets it).
fn regions(s: &[u8]) -> Vec<Region> {
    let n = s.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        match s[i] {
            q @ (b'\'' | b'"') => {
                let esc = q == b'\''
                    && i > 0
                    && matches!(s[i - 1], b'E' | b'e')
                    && (i < 2 || !is_ident_char(s[i - 2]));
                let mut j = i + 1;
                loop {
                    assert!(j < n, "unclosed quote in a complete statement");
                    // A backslash escape (E'' only) or a doubled quote: two bytes of body.
                    let escaped = esc && s[j] == b'\\';
                    if escaped || (s[j] == q && s.get(j + 1) == Some(&q)) {
                        j += 2;
                    } else if s[j] == q {
                        break;
                    } else {
                        j += 1;
                    }
                }
                let kind = if q == b'"' {
                    "quoted identifier"
                } else {
                    "string literal"
                };
                out.push(Region {
                    kind,
                    body: i + 1,
                    close: j,
                    tag_len: 1,
                });
                i = j + 1;
            }
            b'$' if i == 0 || !is_ident_char(s[i - 1]) => {
                let mut j = i + 1;
                while j < n && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                    j += 1;
                }
                let opens = j < n && s[j] == b'$' && !s.get(i + 1).is_some_and(u8::is_ascii_digit);
                if !opens {
                    i += 1;
                    continue;
                }
                let tag = &s[i..=j];
                let close = j
                    + 1
                    + s[j + 1..]
                        .windows(tag.len())
                        .position(|w| w == tag)
                        .expect("closing dollar tag");
                out.push(Region {
                    kind: "dollar-quoted string",
                    body: j + 1,
                    close,
                    tag_len: tag.len(),
                });
                i = close + tag.len();
            }
            b'-' if s.get(i + 1) == Some(&b'-') => {
                i += s[i..].iter().position(|b| *b == b'\n').unwrap_or(n - i);
            }
            _ => i += 1,
        }
    }
    out
}

/// Keeps the first and last candidates and every `stride`-th between them.
fn sample<T: Clone>(all: &[T], max: usize) -> Vec<T> {
    if all.len() <= max {
        return all.to_vec();
    }
    let stride = all.len().div_ceil(max);
    let mut out: Vec<T> = all.iter().step_by(stride).cloned().collect();
    if let Some(last) = all.last() {
        out.push(last.clone());
    }
    out
}

/// Every boundary of one dump, per kind, found by lexing the whole file once
/// (for offsets and line numbers) and reading each statement with [`regions`].
fn boundaries(bytes: &[u8], max_per_kind: usize) -> Vec<Cut> {
    let mut kinds: Vec<(&'static str, Vec<Cut>)> = Vec::new();
    let mut push = |c: Cut| match kinds.iter_mut().find(|(k, _)| *k == c.kind) {
        Some((_, v)) => v.push(c),
        None => kinds.push((c.kind, vec![c])),
    };
    let trailer = "without pg_dump's closing line '-- PostgreSQL database dump complete'; it is truncated";
    let mut lx = Lexer::new(bytes);
    let mut off = 0usize;
    // Table, line of its COPY statement, rows seen.
    let mut copy: Option<(String, u64, usize)> = None;
    let mut after_copy_stmt = false;
    let mut seen_trailer = false;
    let mut restrict_line = None;
    while let Some(item) = lx.next_item().expect("the fixture lexes") {
        let len = item.bytes().len();
        match &item {
            Item::Statement(s) => {
                let text = s.text;
                if let Some(t) = &s.copy {
                    let msg = format!("the COPY block of {} has no end marker", t.table);
                    push(cut(
                        off + len,
                        "after a COPY statement's ';'",
                        &[&msg, "truncated"],
                        Some(s.line),
                    ));
                    copy = Some((t.table.clone(), s.line, 0));
                    after_copy_stmt = true;
                } else {
                    push(cut(off + len, "after a statement", &[trailer], None));
                }
                // Mid-statement, outside any quote: after the first word.
                if let Some(sp) = text.iter().position(|b| *b == b' ') {
                    push(cut(
                        off + sp,
                        "inside a statement",
                        &["input ends inside a statement (no terminating ';'); the dump is truncated"],
                        None,
                    ));
                }
                // Every string and dollar quote; one quoted identifier per
                // statement (pg_dump quotes every name, they are legion).
                let mut ident_seen = false;
                for r in regions(text) {
                    if r.kind == "quoted identifier" && std::mem::replace(&mut ident_seen, true) {
                        continue;
                    }
                    let what = format!("input ends inside a {}; the dump is truncated", r.kind);
                    let kind: &'static str = match r.kind {
                        "string literal" => "inside a string literal",
                        "quoted identifier" => "inside a quoted identifier",
                        _ => "inside a dollar-quoted body",
                    };
                    // Just after the opening quote, and mid-body (not right
                    // after a quote character, which may close the quote).
                    let mut at = vec![r.body];
                    let mid = r.body + (r.close - r.body) / 2;
                    if mid > r.body && !matches!(text[mid - 1], b'\'' | b'"') {
                        at.push(mid);
                    }
                    // Inside the closing dollar tag.
                    if r.tag_len > 1 {
                        at.push(r.close + 1);
                    }
                    for a in at {
                        push(cut(off + a, kind, &[&what], None));
                    }
                }
            }
            Item::Trivia(t) => {
                if after_copy_stmt {
                    let (table, line, _) = copy.as_ref().expect("open COPY");
                    let msg = format!("the COPY block of {table} has no end marker");
                    push(cut(
                        off + len,
                        "after a COPY header line",
                        &[&msg, "truncated"],
                        Some(*line),
                    ));
                    after_copy_stmt = false;
                }
                if let Some(i) = t.windows(TRAILER.len()).position(|w| w == TRAILER) {
                    seen_trailer = true;
                    push(cut(off + i, "just before the closing line", &[trailer], None));
                    // Before the `--` line that opens pg_dump's closing comment block.
                    let block = t[..i]
                        .windows(3)
                        .rposition(|w| w == b"\n--")
                        .expect("comment block")
                        + 1;
                    push(cut(off + block, "just before the closing line", &[trailer], None));
                    // Mid-way through the closing line.
                    push(cut(off + i + 20, "inside the closing line", &[trailer], None));
                    // After the closing line, before `\unrestrict`.
                    push(cut(
                        off + len,
                        "after the closing line, before \\unrestrict",
                        &["\\restrict is never matched by \\unrestrict; the dump is truncated"],
                        Some(restrict_line.expect("pg_dump 17 writes \\restrict first")),
                    ));
                }
            }
            Item::CopyData(d) => {
                let (table, line, rows) = copy.as_mut().expect("open COPY");
                let msg = format!("the COPY block of {table} has no end marker");
                let mut start = 0;
                for nl in memchr_all(d) {
                    if *rows % 50 == 0 {
                        let expect = [msg.as_str(), "truncated"];
                        push(cut(off + nl + 1, "after a COPY row", &expect, Some(*line)));
                        if nl > start {
                            push(cut(
                                off + start + (nl - start) / 2 + 1,
                                "inside a COPY row",
                                &expect,
                                Some(*line),
                            ));
                        }
                    }
                    *rows += 1;
                    start = nl + 1;
                }
            }
            Item::CopyEnd(_) => {
                let (table, line, _) = copy.take().expect("open COPY");
                let msg = format!("the COPY block of {table} has no end marker");
                push(cut(
                    off,
                    "before a COPY end marker",
                    &[&msg, "truncated"],
                    Some(line),
                ));
                push(cut(
                    off + 1,
                    "inside a COPY end marker",
                    &[&msg, "truncated"],
                    Some(line),
                ));
                push(cut(off + len, "after a COPY end marker", &[trailer], None));
            }
            Item::Meta(m) => {
                if m.command() == b"restrict" {
                    restrict_line = Some(m.line);
                }
                if seen_trailer && m.command() == b"unrestrict" {
                    push(cut(
                        off + len / 2,
                        "inside the \\unrestrict line",
                        &["\\restrict is never matched by \\unrestrict; the dump is truncated"],
                        Some(restrict_line.expect("pg_dump 17 writes \\restrict first")),
                    ));
                }
            }
        }
        off += len;
    }
    assert_eq!(off, bytes.len());
    kinds
        .into_iter()
        .flat_map(|(_, v)| sample(&v, max_per_kind))
        .collect()
}

fn memchr_all(d: &[u8]) -> Vec<usize> {
    d.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect()
}

/// The sanitize and fingerprint path in one pass (sanitize for Cloud SQL, fingerprint every table).
fn scan_opts() -> ScanOptions {
    ScanOptions {
        sanitize: Some(SanitizeOptions::cloudsql(16)),
        fingerprint: true,
        lenient: false,
    }
}

/// Import's path: every piece, then `finish`.
fn split_all(input: &[u8]) -> Result<(), ScanError> {
    let mut s = Splitter::new(input, Some(SanitizeOptions::cloudsql(16)))?;
    while s.next_piece()?.is_some() {}
    s.finish().map(|_| ())
}

/// Cuts `bytes` at every boundary in `cuts` and checks both paths refuse each.
fn check_cuts(name: &str, bytes: &[u8], cuts: &[Cut], must_cover: &[&str]) {
    // The whole dump is fine on both paths.
    scan(bytes, None, &scan_opts(), &mut |_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    split_all(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut per_kind: std::collections::BTreeMap<&str, usize> = Default::default();
    for c in cuts {
        let input = &bytes[..c.at];
        let ctx = || {
            let tail = String::from_utf8_lossy(&input[input.len().saturating_sub(60)..]).into_owned();
            format!(
                "{name} cut at byte {} ({}), input ends with {tail:?}",
                c.at, c.kind
            )
        };
        let by_scan = match scan(input, None, &scan_opts(), &mut |_| {}) {
            Ok(r) => panic!("{}: scan accepted it ({} tables)", ctx(), r.tables.len()),
            Err(e) => e,
        };
        let by_split = match split_all(input) {
            Ok(()) => panic!("{}: the import reader accepted it", ctx()),
            Err(e) => e,
        };
        for (path, e) in [("scan", &by_scan), ("import reader", &by_split)] {
            let msg = e.to_string();
            assert!(
                e.is_truncation(),
                "{}: {path}: not reported as truncated: {msg}",
                ctx()
            );
            for want in &c.expect {
                assert!(
                    msg.contains(want.as_str()),
                    "{}: {path}: {msg:?} lacks {want:?}",
                    ctx()
                );
            }
            if let Some(line) = c.line {
                assert_eq!(e.line(), Some(line), "{}: {path}: {msg}", ctx());
            }
        }
        assert_eq!(
            by_scan.to_string(),
            by_split.to_string(),
            "{}: both paths say the same",
            ctx()
        );
        *per_kind.entry(c.kind).or_default() += 1;
    }
    for kind in must_cover {
        assert!(
            per_kind.contains_key(kind),
            "{name}: no cut of kind {kind:?}: {per_kind:?}"
        );
    }
    eprintln!("{name}: {} cuts refused: {per_kind:?}", cuts.len());
}

const EVERY_KIND: &[&str] = &[
    "after a statement",
    "after a COPY statement's ';'",
    "after a COPY header line",
    "after a COPY row",
    "inside a COPY row",
    "before a COPY end marker",
    "inside a COPY end marker",
    "after a COPY end marker",
    "inside a statement",
    "inside a string literal",
    "inside a quoted identifier",
    "inside a dollar-quoted body",
    "just before the closing line",
    "inside the closing line",
    "after the closing line, before \\unrestrict",
    "inside the \\unrestrict line",
];

#[test]
fn codeintel_cut_at_every_boundary_is_refused_by_both_paths() {
    let bytes = dump("codeintel");
    let cuts = boundaries(&bytes, usize::MAX);
    assert!(cuts.len() > 500, "{} cuts", cuts.len());
    check_cuts("pgdump17/codeintel", &bytes, &cuts, EVERY_KIND);
}

#[test]
fn codeinsights_cut_at_every_boundary_is_refused_by_both_paths() {
    let bytes = dump("codeinsights");
    let cuts = boundaries(&bytes, usize::MAX);
    // This schema has no functions, so no dollar quotes.
    let kinds: Vec<&str> = EVERY_KIND
        .iter()
        .copied()
        .filter(|k| *k != "inside a dollar-quoted body")
        .collect();
    check_cuts("pgdump17/codeinsights", &bytes, &cuts, &kinds);
}

/// The frontend dump is 600 KB and a pass of both paths takes ~0.1 s in a
/// debug build, so each kind of boundary is sampled evenly (first, last and
/// a stride between) rather than taken whole.
#[test]
fn frontend_cut_at_sampled_boundaries_of_every_kind_is_refused_by_both_paths() {
    let bytes = dump("frontend");
    let cuts = boundaries(&bytes, 40);
    check_cuts("pgdump17/frontend", &bytes, &cuts, EVERY_KIND);
}

/// splitmix64: a seeded generator, so every run flips the same bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fingerprint(bytes: &[u8]) -> Result<ScanReport, ScanError> {
    let opts = ScanOptions {
        fingerprint: true,
        ..ScanOptions::default()
    };
    scan(bytes, None, &opts, &mut |_| {})
}

/// One COPY block's data: table, types, byte range of its rows.
struct Block {
    table: String,
    types: Vec<String>,
    start: usize,
    end: usize,
}

fn copy_blocks(bytes: &[u8], report: &ScanReport) -> Vec<Block> {
    let mut lx = Lexer::new(bytes);
    let (mut off, mut out) = (0usize, Vec::new());
    let mut open: Option<usize> = None;
    while let Some(item) = lx.next_item().expect("lexes") {
        let len = item.bytes().len();
        match item {
            Item::CopyData(_) => {
                open.get_or_insert(off);
            }
            Item::CopyEnd(_) => {
                let t = &report.tables[out.len()];
                out.push(Block {
                    table: t.table.clone(),
                    types: t.types.clone(),
                    start: open.take().unwrap_or(off),
                    end: off,
                });
            }
            _ => {}
        }
        off += len;
    }
    assert_eq!(out.len(), report.tables.len());
    out
}

/// Flips bit 0 of one byte in a COPY row of a seeded choice of tables: the
/// table's row count stays, its hash changes (so `verify` and `compare`
/// would see it), every other table's fingerprint is untouched, and the new
/// hash is what a [`TableHasher`] gives for the flipped rows.
fn data_flips(db: &str, flips: usize, seed: u64) {
    let bytes = dump(db);
    let base = fingerprint(&bytes).expect("the fixture scans");
    let blocks: Vec<Block> = copy_blocks(&bytes, &base)
        .into_iter()
        .filter(|b| b.end > b.start)
        .collect();
    let mut rng = Rng(seed);
    let mut done = 0;
    while done < flips {
        let b = &blocks[rng.below(blocks.len())];
        let at = b.start + rng.below(b.end - b.start);
        // Bit 0 keeps a byte's class where it matters: digits stay digits
        // (a changed value), and no byte becomes a newline (0x0b) or is one.
        if matches!(bytes[at], b'\n' | 0x0b) {
            continue;
        }
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x01;
        let line_start = flipped[..at]
            .iter()
            .rposition(|c| *c == b'\n')
            .map_or(0, |i| i + 1);
        let line_end = at + flipped[at..].iter().position(|c| *c == b'\n').expect("row ends");
        if &flipped[line_start..line_end] == b"\\." {
            continue;
        }
        let ctx = format!(
            "{db}: byte {at} of {} flipped: {:?} -> {:?}",
            b.table,
            String::from_utf8_lossy(&bytes[line_start..line_end]),
            String::from_utf8_lossy(&flipped[line_start..line_end])
        );
        let got = fingerprint(&flipped).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(got.tables.len(), base.tables.len(), "{ctx}");
        for (old, new) in base.tables.iter().zip(&got.tables) {
            assert_eq!(old.rows, new.rows, "{ctx}: rows of {}", old.table);
            if old.table == b.table {
                assert_ne!(old.hash, new.hash, "{ctx}: the fingerprint did not change");
                let kinds = b.types.iter().map(|t| ColumnKind::from_type_name(t)).collect();
                let mut h = TableHasher::new(kinds);
                h.update_lines(&flipped[b.start..b.end]);
                assert_eq!(h.finish().hash_hex(), new.hash, "{ctx}: TableHasher agrees");
            } else {
                assert_eq!(old, new, "{ctx}: another table changed");
            }
        }
        done += 1;
    }
}

#[test]
fn a_flipped_bit_in_copy_rows_changes_that_tables_fingerprint() {
    data_flips("frontend", 60, 0x5eed_0001);
    data_flips("codeintel", 60, 0x5eed_0002);
}

/// Flips bytes of the dump's structure: statement terminators, COPY headers
/// and end markers, quote characters, the closing line and the `\restrict`
/// keys. Each flip is an error on the fingerprint path or changes its report.
fn structure_flips(db: &str, per_kind: usize, seed: u64) {
    let bytes = dump(db);
    let base = fingerprint(&bytes).expect("the fixture scans");
    let mut kinds: Vec<(&str, Vec<usize>)> = vec![
        ("statement terminator", vec![]),
        ("COPY header", vec![]),
        ("COPY end marker", vec![]),
        ("quote character", vec![]),
        ("closing line", vec![]),
        ("\\restrict line", vec![]),
    ];
    let mut lx = Lexer::new(&bytes[..]);
    let mut off = 0usize;
    while let Some(item) = lx.next_item().expect("lexes") {
        let len = item.bytes().len();
        match &item {
            // Not the separators: the loader rebuilds COPY from the names it reads.
            Item::Statement(s) if s.copy.is_some() => kinds[1]
                .1
                .extend((off..off + len).filter(|i| !bytes[*i].is_ascii_whitespace())),
            Item::Statement(s) => {
                kinds[0].1.push(off + len - 1);
                for r in regions(s.text) {
                    kinds[3].1.push(off + r.body - 1);
                    kinds[3].1.push(off + r.close);
                }
            }
            Item::CopyEnd(_) => kinds[2].1.extend(off..off + len),
            Item::Trivia(t) => {
                if let Some(i) = t.windows(TRAILER.len()).position(|w| w == TRAILER) {
                    kinds[4].1.extend(off + i..off + i + TRAILER.len());
                }
            }
            Item::Meta(_) => kinds[5].1.extend(off..off + len - 1),
            Item::CopyData(_) => {}
        }
        off += len;
    }
    let mut rng = Rng(seed);
    for (kind, offsets) in &kinds {
        assert!(!offsets.is_empty(), "{db}: no {kind}");
        for _ in 0..per_kind.min(offsets.len()) {
            let at = offsets[rng.below(offsets.len())];
            // Bit 5 only on punctuation: on a letter it may just change the
            // case of a keyword, which means the same.
            let bits: &[u8] = if bytes[at].is_ascii_alphabetic() {
                &[0x01]
            } else {
                &[0x01, 0x20]
            };
            for &bit in bits {
                let mut flipped = bytes.clone();
                flipped[at] ^= bit;
                if let Ok(r) = fingerprint(&flipped) {
                    assert!(
                        r != base,
                        "{db}: {kind}: byte {at} ^ {bit:#04x} ({:?} -> {:?}) went unnoticed in {:?}",
                        bytes[at] as char,
                        flipped[at] as char,
                        String::from_utf8_lossy(&bytes[at.saturating_sub(40)..(at + 40).min(bytes.len())])
                    );
                }
            }
        }
    }
}

#[test]
fn a_flipped_byte_in_the_structure_is_an_error_or_a_changed_report() {
    structure_flips("frontend", 12, 0x5eed_0003);
    structure_flips("codeintel", 12, 0x5eed_0004);
}
