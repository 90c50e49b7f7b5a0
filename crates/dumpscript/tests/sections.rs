//! The section splitter on real pg_dump outputs: every COPY block's byte
//! range points at its data in the file, sections come in pg_dump's order,
//! and post-data statements are classed as their TOC headers say.

use std::path::PathBuf;

use dumpscript::{scan, Piece, PostKind, SanitizeOptions, ScanOptions, Section, Splitter};

fn dump(version: &str, db: &str) -> Vec<u8> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../testdata/dumps/{version}/{db}.sql"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn count_headers(bytes: &[u8], kind: &str) -> usize {
    let needle = format!("; Type: {kind}; ");
    String::from_utf8_lossy(bytes).matches(needle.as_str()).count()
}

#[test]
fn splits_every_saved_dump_consistently() {
    for v in ["pgdump12", "pgdump14", "pgdump16", "pgdump17", "pgdump18"] {
        for db in ["frontend", "codeintel", "codeinsights"] {
            let bytes = dump(v, db);
            let report = scan(
                &bytes[..],
                None,
                &ScanOptions {
                    fingerprint: true,
                    ..ScanOptions::default()
                },
                &mut |_| {},
            )
            .expect("ok");
            let mut s = Splitter::new(&bytes[..], Some(SanitizeOptions::cloudsql(16))).expect("ok");
            let (mut copies, mut setvals, mut index, mut cons, mut fk) = (0, 0, 0, 0, 0);
            let mut phase = Section::Prologue;
            let mut open: Option<(String, u64, u64)> = None;
            let mut ranges = Vec::new();
            while let Some(p) = s.next_piece().expect("ok") {
                match p {
                    Piece::PreData { text, .. } => {
                        assert!(
                            phase <= Section::PreData,
                            "{v}/{db}: pre-data after data: {}",
                            String::from_utf8_lossy(text)
                        );
                        phase = Section::PreData;
                    }
                    Piece::CopyStart { target, .. } => {
                        assert!(phase <= Section::Data, "{v}/{db}: COPY after post-data");
                        phase = Section::Data;
                        copies += 1;
                        open = Some((target.table, 0, 0));
                    }
                    Piece::CopyData { data, offset } => {
                        let o = open.as_mut().expect("ok");
                        if o.2 == 0 {
                            o.1 = offset;
                        }
                        assert_eq!(o.1 + o.2, offset, "{v}/{db}: data pieces are contiguous");
                        assert_eq!(&bytes[offset as usize..offset as usize + data.len()], data);
                        o.2 += data.len() as u64;
                    }
                    Piece::CopyEnd => ranges.push(open.take().expect("ok")),
                    Piece::SequenceSet { .. } => setvals += 1,
                    Piece::PostData { kind, .. } => {
                        phase = Section::PostData;
                        match kind {
                            PostKind::Index => index += 1,
                            PostKind::Constraint => cons += 1,
                            PostKind::ForeignKey => fk += 1,
                            PostKind::Other => {}
                        }
                    }
                    Piece::DataStatement { text, .. } => {
                        panic!("{v}/{db}: unexpected {}", String::from_utf8_lossy(text))
                    }
                    Piece::Setting { .. } | Piece::Removed(_) | Piece::Trivia => {}
                }
            }
            s.finish().expect("ok");
            assert_eq!(copies, report.tables.len(), "{v}/{db}");
            for (t, (name, _, len)) in report.tables.iter().zip(&ranges) {
                assert_eq!(&t.table, name);
                assert_eq!(t.bytes, *len, "{v}/{db} {name}");
            }
            assert_eq!(setvals, count_headers(&bytes, "SEQUENCE SET"), "{v}/{db}");
            assert_eq!(index, count_headers(&bytes, "INDEX"), "{v}/{db}");
            assert_eq!(cons, count_headers(&bytes, "CONSTRAINT"), "{v}/{db}");
            assert_eq!(fk, count_headers(&bytes, "FK CONSTRAINT"), "{v}/{db}");
            assert_eq!(report.sequences.len(), setvals);
            assert_eq!(
                report.objects.get("TABLE").copied().unwrap_or(0) as usize,
                count_headers(&bytes, "TABLE")
            );
        }
    }
}

#[test]
fn a_cut_dump_is_not_complete() {
    let bytes = dump("pgdump16", "codeintel");
    // Cut at a statement boundary: the lexer is happy, only the trailer is missing.
    let at = String::from_utf8_lossy(&bytes)
        .find("-- PostgreSQL database dump complete")
        .expect("ok");
    let mut s = Splitter::new(&bytes[..at - 4], None).expect("ok");
    while s.next_piece().expect("ok").is_some() {}
    assert!(s.finish().expect_err("an error").is_truncation());
    // Cut inside a statement: the lexer says so.
    let mut s = Splitter::new(&bytes[..bytes.len() - 300], None).expect("ok");
    let err = loop {
        match s.next_piece() {
            Ok(Some(_)) => {}
            Ok(None) => break s.finish().expect_err("an error"),
            Err(e) => break e,
        }
    };
    assert!(err.is_truncation(), "{err}");
}

#[test]
fn parses_setval() {
    let v = dumpscript::parse_setval(br#"SELECT pg_catalog.setval('"public"."Repo_id_seq"', 42, false);"#)
        .expect("ok");
    assert_eq!(v.name, "public.Repo_id_seq");
    assert_eq!(v.value, 42);
    assert!(!v.is_called);
    let v = dumpscript::parse_setval(b"SELECT pg_catalog.setval('public.x_seq', 1, true);").expect("ok");
    assert_eq!((v.name.as_str(), v.value, v.is_called), ("public.x_seq", 1, true));
}
