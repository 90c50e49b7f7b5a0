//! Property tests of the lexer on generated scripts: whatever the pieces and
//! however the input is split into reads, the items concatenate back to the
//! input and are the statements, meta-commands and COPY rows that were put in.

use std::io::Read;

use dumpscript::lexer::{Item, Lexer};
use proptest::prelude::*;

/// One generated piece of a script and what the lexer must see for it.
#[derive(Debug, Clone)]
enum Piece {
    Stmt(String),
    Meta(String),
    Copy(Vec<String>),
    Comment(String),
}

fn text() -> impl Strategy<Value = String> {
    // Awkward characters for every quoting context.
    proptest::collection::vec(
        prop_oneof![
            Just("a".to_string()),
            Just(";".to_string()),
            Just("'".to_string()),
            Just("\"".to_string()),
            Just("$".to_string()),
            Just("$$".to_string()),
            Just("--".to_string()),
            Just("/*".to_string()),
            Just("*/".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\t".to_string()),
            Just("é🚀".to_string()),
            Just("COPY x FROM stdin;".to_string()),
            Just("\\.".to_string()),
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

fn copy_field() -> impl Strategy<Value = String> {
    text().prop_map(|t| {
        // COPY text escaping, as the server writes it.
        t.replace('\\', "\\\\").replace('\n', "\\n").replace('\t', "\\t")
    })
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        text().prop_map(|t| Piece::Stmt(format!("SELECT '{}';", t.replace('\'', "''")))),
        text().prop_map(|t| Piece::Stmt(format!(
            "COMMENT ON TABLE \"{}\" IS E'{}';",
            t.replace('"', "\"\""),
            t.replace('\\', "\\\\").replace('\'', "\\'")
        ))),
        text().prop_map(|t| {
            let body = t.replace("$fn$", "");
            Piece::Stmt(format!(
                "CREATE FUNCTION f() RETURNS text AS $fn${body}$fn$ LANGUAGE sql;"
            ))
        }),
        text().prop_map(|t| Piece::Stmt(format!(
            "SELECT 1 /* {} */ + 2;",
            t.replace("/*", "").replace("*/", "")
        ))),
        "[a-z]{1,8}( [a-z0-9]{1,8})?".prop_map(|m| Piece::Meta(format!("\\{m}"))),
        proptest::collection::vec(proptest::collection::vec(copy_field(), 1..4), 0..5)
            .prop_map(|rows| Piece::Copy(rows.into_iter().map(|r| r.join("\t")).collect())),
        text().prop_map(|t| Piece::Comment(format!("-- {}", t.replace('\n', " ")))),
    ]
}

fn render(pieces: &[Piece]) -> String {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Stmt(t) => s.push_str(t),
            Piece::Meta(m) => s.push_str(m),
            Piece::Copy(rows) => {
                s.push_str("COPY \"public\".\"t\" (\"a\") FROM stdin;\n");
                for r in rows {
                    s.push_str(r);
                    s.push('\n');
                }
                s.push_str("\\.");
            }
            Piece::Comment(c) => s.push_str(c),
        }
        s.push('\n');
    }
    s
}

struct Trickle<'a>(&'a [u8], usize);
impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(out.len()).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// (statements, metas, copy rows, joined bytes)
fn lex(input: &[u8], step: usize) -> (Vec<String>, Vec<String>, Vec<String>, Vec<u8>) {
    let mut lx = Lexer::new(Trickle(input, step));
    let (mut stmts, mut metas, mut rows, mut joined) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some(item) = lx.next_item().expect("lexes") {
        joined.extend_from_slice(item.bytes());
        match item {
            Item::Statement(s) => stmts.push(String::from_utf8_lossy(s.text).into_owned()),
            Item::Meta(m) => metas.push(String::from_utf8_lossy(m.text).trim_end().to_string()),
            Item::CopyData(d) => rows.extend(String::from_utf8_lossy(d).lines().map(str::to_string)),
            Item::Trivia(_) | Item::CopyEnd(_) => {}
        }
    }
    (stmts, metas, rows, joined)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn items_are_the_pieces(pieces in proptest::collection::vec(piece(), 0..12), step in 1usize..64) {
        let input = render(&pieces);
        let (stmts, metas, rows, joined) = lex(input.as_bytes(), step);
        prop_assert_eq!(joined, input.as_bytes().to_vec());
        let want_stmts: Vec<String> = pieces.iter().filter_map(|p| match p {
            Piece::Stmt(t) => Some(t.clone()),
            Piece::Copy(_) => Some("COPY \"public\".\"t\" (\"a\") FROM stdin;".to_string()),
            _ => None,
        }).collect();
        prop_assert_eq!(stmts, want_stmts);
        let want_metas: Vec<String> = pieces.iter().filter_map(|p| match p { Piece::Meta(m) => Some(m.clone()), _ => None }).collect();
        prop_assert_eq!(metas, want_metas);
        let want_rows: Vec<String> = pieces.iter().flat_map(|p| match p { Piece::Copy(r) => r.clone(), _ => Vec::new() }).collect();
        prop_assert_eq!(rows, want_rows);
        // Same answer in one read.
        let whole = lex(input.as_bytes(), input.len().max(1));
        prop_assert_eq!(whole.3, input.as_bytes().to_vec());
    }
}
