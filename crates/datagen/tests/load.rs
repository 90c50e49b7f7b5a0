//! The generated scripts load into real PostgreSQL 12 and 16 servers right after the
//! Sourcegraph schemas (psql, ON_ERROR_STOP, superuser), and the data arrives intact.

mod common;

use std::io::Write;

use common::{column_values, copy_blocks, gen, Block};
use datagen::{Db, GenStats};
use sha2::{Digest, Sha256};
use testkit::PgServer;

const SIZE: u64 = 4 << 20;
const SEED: u64 = 2023;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads schema + generated data for `db` into a fresh database; returns its name, the
/// statistics and the COPY blocks of the script.
fn load(server: &PgServer, db: Db) -> (String, GenStats, Vec<Block>) {
    let name = testkit::unique_name(&format!("dg_{db}"));
    server.create_database(&name);
    let schema = testkit::testdata_dir()
        .join("sourcegraph")
        .join(format!("{db}.sql"));
    server.psql_file(&name, &schema);
    let (script, stats) = gen(db, SIZE, SEED);
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&script).expect("write script");
    file.flush().expect("flush script");
    server.psql_file(&name, file.path());
    let text = String::from_utf8(script).expect("UTF-8 script");
    (name, stats, copy_blocks(&text))
}

/// Every table the script wrote has exactly that many rows.
fn assert_row_counts(server: &PgServer, name: &str, stats: &GenStats) {
    let sql: Vec<String> = stats
        .tables
        .iter()
        .map(|t| format!("SELECT '{0}', count(*) FROM \"public\".\"{0}\"", t.table))
        .collect();
    let out = server.psql(name, &format!("{};", sql.join(" UNION ALL ")));
    for line in out.lines().filter(|l| !l.is_empty()) {
        let (table, count) = line.split_once('|').expect("table|count");
        let want = stats.rows(table).expect("known table");
        assert_eq!(count.parse::<u64>().ok(), Some(want), "{name}.{table}: row count");
    }
    assert_eq!(out.lines().filter(|l| !l.is_empty()).count(), stats.tables.len());
}

/// sha256 over the decoded values of `column` (NULL as `<NULL>`, joined by U+001F), in
/// script order or, with `sorted`, in byte order: equal to the same digest computed by the
/// server, the text survived.
fn text_digest(block: &Block, column: &str, sorted: bool) -> String {
    let mut values: Vec<String> = column_values(block, column)
        .into_iter()
        .map(|v| v.unwrap_or_else(|| "<NULL>".into()))
        .collect();
    if sorted {
        values.sort();
    }
    hex(&Sha256::digest(values.join("\u{1f}").as_bytes()))
}

/// The server side of [`text_digest`]: ordered by `order`, or by the value itself
/// (byte order) when `order` is `None`.
fn server_digest(server: &PgServer, name: &str, table: &str, column: &str, order: Option<&str>) -> String {
    let value = format!("coalesce({column}::text, '<NULL>')");
    let order = order.map_or_else(|| format!("{value} COLLATE \"C\""), str::to_string);
    server
        .psql(
            name,
            &format!(
                "SELECT encode(sha256(convert_to(string_agg({value}, chr(31) ORDER BY {order}), 'UTF8')), 'hex') \
                 FROM \"public\".\"{table}\";"
            ),
        )
        .trim()
        .to_string()
}

fn scalar(server: &PgServer, name: &str, sql: &str) -> String {
    server.psql(name, sql).trim().to_string()
}

fn block<'a>(blocks: &'a [Block], table: &str) -> &'a Block {
    blocks.iter().find(|b| b.table == table).expect("block")
}

fn check_frontend(server: &PgServer) {
    let (name, stats, blocks) = load(server, Db::Frontend);
    assert_row_counts(server, &name, &stats);
    let repos = stats.rows("repo").expect("repo rows");
    assert!(repos > 1000, "only {repos} repos");
    let repo = block(&blocks, "repo");
    for column in ["name", "description", "uri"] {
        assert_eq!(
            server_digest(server, &name, "repo", column, Some("id")),
            text_digest(repo, column, false),
            "repo.{column} changed on the way in"
        );
    }
    let users = block(&blocks, "users");
    assert_eq!(
        server_digest(server, &name, "users", "display_name", Some("id")),
        text_digest(users, "display_name", false)
    );
    // Triggers made one gitserver_repos and zoekt_repos row per repo; the trailer pinned them.
    assert_eq!(
        scalar(
            server,
            &name,
            "SELECT count(*), count(DISTINCT updated_at), min(shard_id) FROM gitserver_repos;"
        ),
        format!("{repos}|1|gitserver-0")
    );
    assert_eq!(
        scalar(server, &name, "SELECT count(*) FROM zoekt_repos;"),
        repos.to_string()
    );
    // Sourcegraph's statistics triggers agree with the rows.
    assert_eq!(
        scalar(server, &name, "SELECT (SELECT row(sum(total), sum(cloned), sum(not_cloned), sum(cloning), sum(failed_fetch))::text FROM gitserver_repos_statistics) \
            = (SELECT row(count(*), count(*) FILTER (WHERE clone_status = 'cloned'), count(*) FILTER (WHERE clone_status = 'not_cloned'), \
                          count(*) FILTER (WHERE clone_status = 'cloning'), count(last_error))::text FROM gitserver_repos);"),
        "t",
        "gitserver_repos_statistics disagrees with gitserver_repos"
    );
    assert_eq!(
        scalar(server, &name, "SELECT (SELECT sum(total) FROM repo_statistics) = (SELECT count(*) FROM repo WHERE deleted_at IS NULL AND blocked IS NULL), \
            (SELECT sum(cloned) FROM repo_statistics) = (SELECT count(*) FROM gitserver_repos g JOIN repo r ON r.id = g.repo_id WHERE clone_status = 'cloned' AND r.deleted_at IS NULL AND r.blocked IS NULL);"),
        "t|t"
    );
    assert_eq!(
        scalar(server, &name, "SELECT version, first_version FROM versions;"),
        "5.1.0|3.20.0"
    );
    assert_eq!(
        scalar(server, &name, "SELECT count(*) FROM lsif_uploads_audit_logs;"),
        stats.rows("lsif_uploads").expect("uploads").to_string()
    );
    let odd = column_values(repo, "updated_at")
        .into_iter()
        .flatten()
        .filter(|t| t.ends_with("infinity") || t.ends_with(" BC"))
        .count();
    assert!(odd >= 4, "only {odd} infinite or BC timestamps");
    assert_eq!(
        scalar(server, &name, "SELECT count(*) FROM repo WHERE updated_at IN ('infinity', '-infinity') OR updated_at < '0001-01-01 00:00:00+00';"),
        odd.to_string()
    );
    // Sequences continue after the generated ids.
    assert_eq!(
        scalar(
            server,
            &name,
            "SELECT nextval('repo_id_seq'), nextval('users_id_seq');"
        ),
        format!("{}|{}", repos + 1, stats.rows("users").expect("users") + 1)
    );
    assert_eq!(scalar(server, &name, "SELECT count(*) FROM migration_logs;"), "5");
    assert_eq!(
        scalar(
            server,
            &name,
            "SELECT count(*) FROM critical_and_site_config WHERE contents LIKE '%encryption.keys%';"
        ),
        "0"
    );
    server.drop_database(&name);
}

fn check_codeintel(server: &PgServer) {
    let (name, stats, blocks) = load(server, Db::Codeintel);
    assert_row_counts(server, &name, &stats);
    let docs = block(&blocks, "codeintel_scip_documents");
    // bytea: compare payload digests of every document.
    let payloads: Vec<u8> = column_values(docs, "raw_scip_payload")
        .into_iter()
        .flatten()
        .flat_map(|v| {
            let h = v.strip_prefix("\\x").expect("hex bytea").to_string();
            (0..h.len() / 2)
                .map(move |i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        scalar(server, &name, "SELECT encode(sha256(string_agg(raw_scip_payload, ''::bytea ORDER BY id)), 'hex') FROM codeintel_scip_documents;"),
        hex(&Sha256::digest(&payloads))
    );
    assert_eq!(
        scalar(server, &name, "SELECT bool_and(get_byte(raw_scip_payload, i) = i) FROM codeintel_scip_documents, generate_series(0, 255) i WHERE id = 1;"),
        "t"
    );
    let lookup = block(&blocks, "codeintel_scip_document_lookup");
    assert_eq!(
        server_digest(
            server,
            &name,
            "codeintel_scip_document_lookup",
            "document_path",
            Some("id")
        ),
        text_digest(lookup, "document_path", false)
    );
    // The insert triggers filled the schema-version tables, one row per upload.
    let uploads = stats.rows("codeintel_scip_metadata").expect("uploads");
    assert_eq!(
        scalar(server, &name, "SELECT (SELECT count(*) FROM codeintel_scip_symbols_schema_versions), (SELECT count(*) FROM codeintel_scip_document_lookup_schema_versions);"),
        format!("{uploads}|{uploads}")
    );
    assert_eq!(
        scalar(
            server,
            &name,
            "SELECT nextval('codeintel_scip_documents_id_seq');"
        ),
        (stats.rows("codeintel_scip_documents").expect("docs") + 1).to_string()
    );
    server.drop_database(&name);
}

fn check_codeinsights(server: &PgServer) {
    let (name, stats, blocks) = load(server, Db::Codeinsights);
    assert_row_counts(server, &name, &stats);
    let points = block(&blocks, "series_points");
    assert_eq!(
        server_digest(server, &name, "series_points", "capture", None),
        text_digest(points, "capture", true),
        "series_points.capture changed"
    );
    assert_eq!(
        scalar(server, &name, "SELECT count(*) FILTER (WHERE value = 'NaN'), count(*) FILTER (WHERE value = 'Infinity'), count(*) FILTER (WHERE value = '-Infinity'), count(*) FILTER (WHERE value::text = '-0') > 0, count(*) FILTER (WHERE value = 1e-300) > 0 FROM series_points;")
            .split('|')
            .skip(3)
            .collect::<Vec<_>>(),
        ["t", "t"]
    );
    assert_eq!(
        scalar(
            server,
            &name,
            "SELECT count(*) > 0 FROM series_points WHERE \"time\" < '0001-01-01 00:00:00+00';"
        ),
        "t"
    );
    assert_eq!(
        scalar(server, &name, "SELECT nextval('repo_names_id_seq');"),
        (stats.rows("repo_names").expect("names") + 1).to_string()
    );
    server.drop_database(&name);
}

#[test]
fn loads_into_postgres_12() {
    let server = PgServer::shared(12);
    check_frontend(server);
    check_codeintel(server);
    check_codeinsights(server);
}

#[test]
fn loads_into_postgres_16() {
    let server = PgServer::shared(16);
    check_frontend(server);
    check_codeintel(server);
    check_codeinsights(server);
}
