//! The COPY text in the scripts is well-formed and canonical, and the awkward values
//! survive the round trip through COPY escaping.

mod common;

use common::{column_values, copy_blocks, escape, gen, unescape, Block};
use datagen::Db;

fn blocks(db: Db) -> Vec<Block> {
    let (out, _) = gen(db, 3 << 20, 9);
    let text = String::from_utf8(out).expect("scripts are UTF-8");
    copy_blocks(&text)
}

fn block<'a>(blocks: &'a [Block], table: &str) -> &'a Block {
    blocks
        .iter()
        .find(|b| b.table == table)
        .unwrap_or_else(|| panic!("no COPY block for {table}"))
}

#[test]
fn every_field_is_canonically_escaped() {
    for db in Db::ALL {
        let blocks = blocks(db);
        assert!(blocks.len() >= 10, "{db}: only {} COPY blocks", blocks.len());
        for b in &blocks {
            assert!(!b.lines.is_empty(), "{db}.{} is empty", b.table);
            for line in &b.lines {
                let fields: Vec<&str> = line.split('\t').collect();
                assert_eq!(
                    fields.len(),
                    b.columns.len(),
                    "{db}.{}: wrong field count in {line:?}",
                    b.table
                );
                for f in fields {
                    assert!(!f.contains('\r'), "{db}.{}: raw CR in {f:?}", b.table);
                    let v = unescape(f);
                    assert_eq!(escape(v.as_deref()), f, "{db}.{}: not canonical", b.table);
                }
            }
        }
    }
}

#[test]
fn frontend_carries_the_awkward_text() {
    let blocks = blocks(Db::Frontend);
    let desc = column_values(block(&blocks, "repo"), "description");
    let has = |want: &str| desc.iter().any(|d| d.as_deref() == Some(want));
    let contains = |want: &str| desc.iter().flatten().any(|d| d.contains(want));
    for exact in [
        "\\.",
        "before\n\\.\n",
        "COPY public.repo FROM stdin;",
        "DROP TABLE users;",
        "-- comment",
        "\\connect other",
        "\\N is not NULL",
        "NULL",
        "",
        "trailing backslash \\",
    ] {
        assert!(has(exact), "no repo description equal to {exact:?}");
    }
    for part in [
        "\n\\.\n",
        "$$",
        "\t",
        "\r\n",
        "é",
        "Ü",
        "🚀",
        "日本語",
        "\u{8}",
        "\u{b}",
        "\u{c}",
    ] {
        assert!(contains(part), "no repo description containing {part:?}");
    }
    assert!(desc.iter().any(|d| d.is_none()), "no NULL description");
    // The same lines, raw: a data line that is exactly `\.` would end the block early.
    let raw = &block(&blocks, "repo").lines;
    assert!(raw.iter().all(|l| l != "\\."));
    assert!(raw.iter().any(|l| l.contains("\\n\\\\.\\n")));

    // Names: non-ASCII and unique.
    let names = column_values(block(&blocks, "repo"), "name");
    assert!(names.iter().flatten().any(|n| !n.is_ascii()));
    let mut lower: Vec<String> = names.iter().flatten().map(|n| n.to_lowercase()).collect();
    let n = lower.len();
    lower.sort();
    lower.dedup();
    assert_eq!(lower.len(), n, "repo names are not unique case-insensitively");

    // jsonb columns hold JSON objects, with the awkward text inside JSON strings.
    let metadata = column_values(block(&blocks, "repo"), "metadata");
    let mut saw_tricky_json = false;
    for m in metadata.iter().flatten() {
        let v: serde_json::Value = serde_json::from_str(m).unwrap_or_else(|e| panic!("{e}: {m}"));
        assert!(v.is_object());
        let d = v.get("Description").or_else(|| v.get("description"));
        if d.and_then(|d| d.as_str())
            .is_some_and(|d| d.contains('\n') && d.contains('\\'))
        {
            saw_tricky_json = true;
        }
    }
    assert!(
        saw_tricky_json,
        "no metadata description with newlines and backslashes"
    );

    // Odd timestamps: BC and infinities.
    let updated = column_values(block(&blocks, "repo"), "updated_at");
    for want in ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC"] {
        assert!(
            updated.iter().any(|u| u.as_deref() == Some(want)),
            "no updated_at {want}"
        );
    }

    // JSONC settings keep their comments; the site config has no encryption keys.
    let settings = column_values(block(&blocks, "settings"), "contents");
    assert!(settings.iter().flatten().any(|s| s.contains("// ")));
    let site = column_values(block(&blocks, "critical_and_site_config"), "contents");
    assert!(site.iter().flatten().all(|s| !s.contains("encryption.keys")));
    let configs = column_values(block(&blocks, "external_services"), "config");
    assert!(configs.iter().flatten().any(|c| c.contains("// ")));

    // Arrays with awkward elements and NULL elements exist.
    let tags = column_values(block(&blocks, "users"), "tags");
    assert!(tags.iter().flatten().any(|t| t.contains("NULL")));
    assert!(tags.iter().flatten().any(|t| t == "{}"));
}

#[test]
fn codeintel_bytea_covers_every_byte_value() {
    let blocks = blocks(Db::Codeintel);
    let payloads = column_values(block(&blocks, "codeintel_scip_documents"), "raw_scip_payload");
    let first = payloads[0].as_deref().expect("payload of document 1");
    let hex = first.strip_prefix("\\x").expect("hex bytea format");
    let expected: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
    assert!(
        hex.starts_with(&expected),
        "document 1 does not start with bytes 00..ff"
    );
    let hashes = column_values(block(&blocks, "codeintel_scip_documents"), "payload_hash");
    let mut h: Vec<_> = hashes.into_iter().flatten().collect();
    let n = h.len();
    h.sort();
    h.dedup();
    assert_eq!(h.len(), n, "payload hashes are not unique");
    let paths = column_values(block(&blocks, "codeintel_scip_document_lookup"), "document_path");
    assert!(paths.iter().flatten().any(|p| p.contains('\n')));
    assert!(paths.iter().flatten().any(|p| p.contains('\t')));
    assert!(paths.iter().flatten().any(|p| p.contains('\\')));
}

#[test]
fn codeinsights_carries_odd_floats_and_times() {
    let blocks = blocks(Db::Codeinsights);
    let points = block(&blocks, "series_points");
    let values = column_values(points, "value");
    for want in ["NaN", "Infinity", "-Infinity", "-0", "1e-300", "0.1"] {
        assert!(
            values.iter().any(|v| v.as_deref() == Some(want)),
            "no value {want}"
        );
    }
    let times = column_values(points, "time");
    assert!(times.iter().flatten().any(|t| t.ends_with(" BC")), "no BC time");
    // Global points have all three repository columns NULL (the CHECK constraint).
    let repo = column_values(points, "repo_id");
    let name = column_values(points, "repo_name_id");
    let orig = column_values(points, "original_repo_name_id");
    for i in 0..repo.len() {
        assert_eq!(repo[i].is_none(), name[i].is_none());
        assert_eq!(repo[i].is_none(), orig[i].is_none());
    }
    assert!(repo.iter().any(|r| r.is_none()));
    let metadata = column_values(block(&blocks, "metadata"), "metadata");
    for m in metadata.iter().flatten() {
        let v: serde_json::Value = serde_json::from_str(m).unwrap_or_else(|e| panic!("{e}: {m}"));
        assert!(v.is_object());
    }
}
