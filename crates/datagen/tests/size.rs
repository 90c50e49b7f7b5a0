//! The script size follows `--size`, and most bytes are in each database's bulk table.

mod common;

use common::gen;
use datagen::Db;

#[test]
fn size_is_within_ten_percent() {
    for db in Db::ALL {
        for target in [256u64 << 10, 1 << 20, 5 << 20, 24 << 20] {
            let (out, stats) = gen(db, target, 11);
            assert_eq!(stats.bytes, out.len() as u64, "{db}: stats.bytes is wrong");
            let ratio = out.len() as f64 / target as f64;
            assert!(
                (0.9..=1.1).contains(&ratio),
                "{db} at {target} bytes: got {} bytes ({ratio:.3})",
                out.len()
            );
            let table_bytes: u64 = stats.tables.iter().map(|t| t.bytes).sum();
            assert!(table_bytes <= stats.bytes && table_bytes > stats.bytes * 9 / 10);
        }
    }
}

#[test]
fn bulk_tables_hold_most_bytes() {
    for (db, bulk, share) in [
        (Db::Frontend, "repo", 0.6),
        (Db::Codeintel, "codeintel_scip_documents", 0.75),
        (Db::Codeinsights, "series_points", 0.85),
    ] {
        let (_, stats) = gen(db, 16 << 20, 5);
        let t = stats
            .tables
            .iter()
            .find(|t| t.table == bulk)
            .unwrap_or_else(|| panic!("{db} has no {bulk}"));
        let got = t.bytes as f64 / stats.bytes as f64;
        assert!(got >= share, "{db}: {bulk} holds only {got:.2} of the bytes");
        let largest = stats.tables.iter().max_by_key(|t| t.bytes).map(|t| t.table);
        assert_eq!(largest, Some(bulk), "{db}: the largest table is not {bulk}");
    }
}

#[test]
fn row_counts_grow_with_size() {
    for db in Db::ALL {
        let (_, small) = gen(db, 2 << 20, 5);
        let (_, big) = gen(db, 8 << 20, 5);
        let (s, b) = (small.total_rows(), big.total_rows());
        assert!(b > s * 3, "{db}: {s} rows at 2 MiB but {b} at 8 MiB");
    }
}
