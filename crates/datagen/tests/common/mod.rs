//! Helpers shared by the datagen tests: generation into memory and a small, independent
//! reader of COPY text-format blocks.

#![allow(dead_code)]

use datagen::{generate, Db, GenOptions, GenStats};

/// Generates a script into memory.
pub fn gen(db: Db, size_bytes: u64, seed: u64) -> (Vec<u8>, GenStats) {
    let mut out = Vec::new();
    let stats =
        generate(&GenOptions { db, size_bytes, seed }, &mut out).expect("writing to a Vec cannot fail");
    (out, stats)
}

/// One `COPY ... FROM stdin;` block of a script.
pub struct Block {
    pub table: String,
    pub columns: Vec<String>,
    /// Raw (still escaped) data lines.
    pub lines: Vec<String>,
}

/// Splits a script into its COPY blocks; panics on a block without its `\.` line.
pub fn copy_blocks(script: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = script.split('\n');
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("COPY \"public\".\"") else {
            continue;
        };
        let rest = rest
            .strip_suffix(") FROM stdin;")
            .unwrap_or_else(|| panic!("odd COPY line {line:?}"));
        let (table, cols) = rest.split_once("\" (").expect("COPY table and columns");
        let columns = cols
            .split(", ")
            .map(|c| c.trim_matches('"').to_string())
            .collect();
        let mut data = Vec::new();
        loop {
            let l = lines.next().unwrap_or_else(|| panic!("COPY {table} never ends"));
            if l == "\\." {
                break;
            }
            data.push(l.to_string());
        }
        blocks.push(Block {
            table: table.to_string(),
            columns,
            lines: data,
        });
    }
    blocks
}

/// Decodes one COPY text field; `None` is NULL.
pub fn unescape(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().expect("dangling backslash at the end of a field") {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            other => panic!("unexpected escape \\{other} in {field:?}"),
        }
    }
    Some(out)
}

/// Encodes a value the way COPY TO does (the inverse of [`unescape`]).
pub fn escape(value: Option<&str>) -> String {
    let Some(v) = value else {
        return "\\N".to_string();
    };
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c => out.push(c),
        }
    }
    out
}

/// The decoded values of `column` in `block`.
pub fn column_values(block: &Block, column: &str) -> Vec<Option<String>> {
    let i = block
        .columns
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("{} has no column {column}", block.table));
    block
        .lines
        .iter()
        .map(|l| unescape(l.split('\t').nth(i).expect("field")))
        .collect()
}
