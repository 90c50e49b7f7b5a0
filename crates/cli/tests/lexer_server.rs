//! The dump lexer's statement boundaries agree with PostgreSQL's (issue 8):
//! generated scripts of `SELECT <hostile literals> AS <alias>;` statements —
//! doubled quotes, `E''` backslash escapes, dollar quotes with tags holding
//! semicolons and other tags, quoted identifiers with `""` and `;`, line and
//! nested block comments — are split by the lexer, each piece is run alone on
//! a real PostgreSQL 16 (extended protocol: a piece holding two statements
//! is refused, a piece holding half of one is a syntax error), and the
//! values must be psql's for the whole script, in order. The same script
//! read in chunks of random sizes gives the same statements.
//!
//! The check has teeth: it must refuse a sloppy splitter (one that knows
//! only '…' quotes) on most generated scripts.

mod common;

use std::io::Read;
use std::path::Path;

use common::chaos;
use dumpscript::lexer::{Item, Lexer};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use testkit::PgServer;

/// One generated statement and the value the server must return for it.
#[derive(Debug, Clone)]
struct Stmt {
    sql: String,
    value: String,
    alias: String,
}

/// Text with something awkward for every quoting context.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just(";"),
            Just("'"),
            Just("''"),
            Just("\""),
            Just("$"),
            Just("$$"),
            Just("$a$"),
            Just("$a_1$"),
            Just("$A$"),
            Just("--"),
            Just("/*"),
            Just("*/"),
            Just("\\"),
            Just("\\'"),
            Just("\n"),
            Just(" "),
            Just("é🚀"),
            Just("E'"),
            Just("x;y"),
            Just(":v"),
        ],
        0..10,
    )
    .prop_map(|v| v.concat())
}

/// Removes `pat` until none is left (a removal may join a new one).
fn without(mut s: String, pat: &str) -> String {
    while s.contains(pat) {
        s = s.replace(pat, "");
    }
    s
}

/// A string literal of one of the three kinds, as (SQL, value).
fn literal() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        // Standard string: only '' is special; a backslash is itself.
        text().prop_map(|v| (format!("'{}'", v.replace('\'', "''")), v)),
        // E'' string: backslash escapes; a quote as \' or ''.
        (text(), any::<bool>(), prop_oneof![Just("E"), Just("e")]).prop_map(|(v, backslash_quote, e)| {
            let q = if backslash_quote { "\\'" } else { "''" };
            let sql = v.replace('\\', "\\\\").replace('\n', "\\n").replace('\'', q);
            (format!("{e}'{sql}'"), v)
        }),
        // Dollar quote: any body without its own closing tag.
        (
            text(),
            prop_oneof![Just(""), Just("a"), Just("a_1"), Just("A"), Just("_x9")]
        )
            .prop_map(|(v, tag)| {
                let tag = format!("${tag}$");
                let mut v = without(v, &tag);
                // The body must not end with the start of the tag ("$" before "$$").
                if format!("{v}{tag}").find(&tag) != Some(v.len()) {
                    v.push('.');
                }
                (format!("{tag}{v}{tag}"), v)
            }),
    ]
}

/// Whitespace or a comment inside a statement (always ends with whitespace).
fn gap() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(" ".to_string()),
        1 => Just("\n\t ".to_string()),
        1 => text().prop_map(|t| format!(" -- {};\n", t.replace('\n', " "))),
        1 => (text(), text()).prop_map(|(a, b)| {
            let clean = |t: String| without(without(t, "/*"), "*/");
            format!(" /* {} /* ; {} */ */ ", clean(a), clean(b))
        }),
    ]
}

fn alias() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("c".to_string()),
        Just("c$x$".to_string()),
        text().prop_map(|t| format!(
            "\"c{}\"",
            t.chars().take(15).collect::<String>().replace('"', "\"\"")
        )),
    ]
}

fn alias_name(sql: &str) -> String {
    match sql.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => sql.to_string(),
    }
}

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        proptest::collection::vec((literal(), gap()), 1..4),
        any::<bool>(),
        alias(),
        gap(),
    )
        .prop_map(|(parts, parens, alias, before_as)| {
            let mut expr = String::new();
            let mut value = String::new();
            for (i, ((sql, v), gap)) in parts.iter().enumerate() {
                if i > 0 {
                    expr.push_str(" ||");
                    expr.push_str(gap);
                }
                expr.push_str(sql);
                value.push_str(v);
            }
            if parens {
                expr = format!("({expr})");
            }
            Stmt {
                sql: format!("SELECT {expr}{before_as}AS {alias};"),
                value,
                alias: alias_name(&alias),
            }
        })
}

/// What goes between statements: nothing, whitespace or comments.
fn between() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\n".to_string()),
        gap().prop_map(|g| format!("\n{g}\n")),
    ]
}

fn script() -> impl Strategy<Value = (Vec<Stmt>, String)> {
    proptest::collection::vec((stmt(), between()), 1..8).prop_map(|v| {
        let mut s = String::new();
        for (st, sep) in &v {
            s.push_str(&st.sql);
            s.push_str(sep);
        }
        s.push('\n');
        (v.into_iter().map(|(st, _)| st).collect(), s)
    })
}

/// Reads in chunks of the given sizes, in turn.
struct Chunks<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    i: usize,
}

impl Read for Chunks<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes[self.i % self.sizes.len()];
        self.i += 1;
        let n = want.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The lexer's statements, in order, each with the offset just past it.
fn lex(input: impl Read) -> Result<Vec<(usize, String)>, String> {
    let mut lx = Lexer::new(input);
    let (mut out, mut off) = (Vec::new(), 0);
    loop {
        match lx.next_item() {
            Ok(Some(item)) => {
                off += item.bytes().len();
                if let Item::Statement(s) = item {
                    out.push((off, String::from_utf8_lossy(s.text).into_owned()));
                }
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// A sloppy splitter that knows only '…' quotes (as many ad-hoc ones do):
/// pieces end at every `;` outside them.
fn sloppy_split(script: &str) -> Vec<(usize, String)> {
    let (mut out, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in script.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ';' if !quoted => {
                out.push((i + 1, script[start..=i].to_string()));
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// psql's values for the whole script (`-A -t -0`: records end with NUL,
/// which no text value can hold).
fn psql_values(server: &PgServer, file: &Path) -> Result<Vec<String>, String> {
    let out = std::process::Command::new(testkit::psql_path(16))
        .args(["-X", "-A", "-t", "-0", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .arg("-p")
        .arg(server.port().to_string())
        .args(["-U", "postgres", "-d", "postgres", "-f"])
        .arg(file)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !out.status.success() {
        return Err(format!("psql failed: {}", testkit::describe_output(&out)));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    let mut records: Vec<String> = text.split('\0').map(str::to_string).collect();
    if records.pop().as_deref() != Some("") {
        return Err(format!("psql's output does not end with NUL: {text:?}"));
    }
    Ok(records)
}

/// Runs each piece alone; returns (value, column name) per piece.
async fn run_each(client: &pgload::Client, pieces: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for p in pieces {
        let rows = client.query(p.as_str(), &[]).await.map_err(|e| {
            let detail = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            format!("the server refused piece {p:?}: {e} {detail}")
        })?;
        if rows.len() != 1 || rows[0].len() != 1 {
            return Err(format!("piece {p:?} gave {} rows", rows.len()));
        }
        let v: String = rows[0]
            .try_get(0)
            .map_err(|e| format!("piece {p:?}: not text: {e}"))?;
        out.push((v, rows[0].columns()[0].name().to_string()));
    }
    Ok(out)
}

/// Whether splitting `script` into `pieces` agrees with the server and psql.
fn agrees(
    rt: &tokio::runtime::Runtime,
    client: &pgload::Client,
    want: &[Stmt],
    pieces: &[String],
    psql: &[String],
) -> Result<(), String> {
    if pieces.len() != psql.len() {
        return Err(format!(
            "{} pieces, psql returned {} rows for the script",
            pieces.len(),
            psql.len()
        ));
    }
    let got = rt.block_on(run_each(client, pieces))?;
    for (i, ((value, name), p)) in got.iter().zip(psql).enumerate() {
        if value != p {
            return Err(format!("statement {i}: the piece gave {value:?}, psql {p:?}"));
        }
        if let Some(w) = want.get(i) {
            if *value != w.value || *name != w.alias {
                return Err(format!(
                    "statement {i}: got ({value:?}, {name:?}), generated ({:?}, {:?})",
                    w.value, w.alias
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn lexer_statement_boundaries_agree_with_postgresql() {
    let server = PgServer::shared(16);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt
        .block_on(
            pgload::ConnSpec::from_url(&server.url("postgres", "postgres"))
                .expect("url")
                .connect("postgres"),
        )
        .expect("connect");
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("script.sql");
    let sloppy_caught = std::cell::Cell::new(0u32);
    let cases = chaos(20);
    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x1e8e_5e4f),
        max_shrink_iters: 200,
        ..Config::default()
    };
    let strategy = (script(), proptest::collection::vec(1usize..40, 1..8));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |((want, script), sizes)| {
        std::fs::write(&file, &script).expect("write script");
        let fail = |m: String| TestCaseError::fail(format!("{m}\n--- script ---\n{script}"));
        let psql = psql_values(server, &file).map_err(fail)?;
        prop_assert_eq!(
            psql.len(),
            want.len(),
            "psql rows vs generated statements:\n{}",
            script
        );
        let lexed = lex(script.as_bytes()).map_err(fail)?;
        let pieces: Vec<String> = lexed.iter().map(|(_, t)| t.clone()).collect();
        agrees(&rt, &client, &want, &pieces, &psql).map_err(fail)?;
        // Same statements when the input arrives in pieces of random sizes.
        let chunked = lex(Chunks {
            data: script.as_bytes(),
            sizes,
            i: 0,
        })
        .map_err(fail)?;
        prop_assert_eq!(&chunked, &lexed, "chunked read:\n{}", script);
        // The same check refuses a sloppy split (one may differ harmlessly,
        // e.g. by taking a trailing comment along; counted below).
        let sloppy = sloppy_split(&script);
        let ends = |v: &[(usize, String)]| v.iter().map(|(e, _)| *e).collect::<Vec<_>>();
        if ends(&sloppy) != ends(&lexed) {
            let pieces: Vec<String> = sloppy.into_iter().map(|(_, t)| t).collect();
            if agrees(&rt, &client, &want, &pieces, &psql).is_err() {
                sloppy_caught.set(sloppy_caught.get() + 1);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        sloppy_caught.get() >= cases / 2,
        "the check must refuse a sloppy split of most scripts: refused {} of {cases}",
        sloppy_caught.get()
    );
}
