//! The saved real dumps (pg_dump 12.22 to 18.4, testdata/dumps) sanitize and
//! load into PostgreSQL 16 as a non-superuser, and the loaded tables match
//! each dump's fingerprints.

mod common;

use common::{cmd, rt, run_ok};
use dumpscript::TableData;
use snapshot::{diff_tables, fingerprint_database};
use testkit::PgServer;

fn check_folder(folder: &str) {
    let target = PgServer::shared(16);
    let tmp = tempfile::tempdir().expect("tmp");
    let rt = rt();
    for db in ["frontend", "codeintel", "codeinsights"] {
        let dump = testkit::testdata_dir().join(format!("dumps/{folder}/{db}.sql"));
        let out = run_ok(cmd().args(["fingerprint", "--json"]).arg(&dump));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let expected: Vec<TableData> = serde_json::from_value(v["tables"].clone()).expect("tables");
        assert!(!expected.is_empty());

        let clean = tmp.path().join(format!("{db}.sql"));
        let out = run_ok(
            cmd()
                .args(["sanitize", "--json", "--target-version", "16"])
                .arg(&dump)
                .arg(&clean),
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let changes = report["changes"].as_array().expect("changes");
        let removed = |needle: &str| {
            changes
                .iter()
                .any(|c| c["statement"].as_str().is_some_and(|s| s.contains(needle)))
        };
        assert_eq!(
            removed("pg_stat_statements"),
            db != "codeinsights",
            "{folder}/{db}"
        );
        assert!(removed("COMMENT ON EXTENSION"), "{folder}/{db}");

        let t = target.create_cloudsql_database(&target.unique_name(&format!("fx_{db}")));
        let load = t.psql_file(16, &clean);
        assert!(
            load.status.success(),
            "{folder}/{db}: {}",
            testkit::describe_output(&load)
        );
        // The unsanitized dump does not load: the sanitizer is what made it work.
        if db != "codeinsights" {
            let t2 = target.create_cloudsql_database(&target.unique_name(&format!("fx_raw_{db}")));
            let raw = t2.psql_file(16, &dump);
            assert!(
                !raw.status.success(),
                "{folder}/{db}: the raw dump loaded as a non-superuser"
            );
            target.drop_database(&t2.dbname);
        }
        let conn = pgload::ConnSpec::from_url(&t.url())
            .expect("url")
            .with_password(t.password.clone());
        let got = rt
            .block_on(fingerprint_database(&conn, &t.dbname, Some(&expected)))
            .expect("fingerprint");
        assert_eq!(diff_tables(&expected, &got), vec![], "{folder}/{db}");
        target.drop_database(&t.dbname);
    }
}

#[test]
fn pgdump12() {
    check_folder("pgdump12");
}
#[test]
fn pgdump14() {
    check_folder("pgdump14");
}
#[test]
fn pgdump16() {
    check_folder("pgdump16");
}
#[test]
fn pgdump16_from_pg16() {
    check_folder("pgdump16-from-pg16");
}
#[test]
fn pgdump17() {
    check_folder("pgdump17");
}
#[test]
fn pgdump18() {
    check_folder("pgdump18");
}
