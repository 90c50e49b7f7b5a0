//! What planning the migrator run needs to read (REFERENCE §4): the
//! Sourcegraph version (the `versions` row of `frontend`) and each
//! database's `migration_logs` rows, from a snapshot (its manifest, and
//! the `migration_logs` COPY block streamed out of each dump) or from live
//! databases. The rules that judge them live in `sgapi::upgrade`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use bucket::Store;
use bytes::Bytes;
use dumpscript::{Piece, SourcegraphVersion, Splitter};
use futures_util::StreamExt;
use pgdump::DbRole;
use pgload::{Client, ConnSpec, PgError};
use tokio::sync::mpsc;

use crate::error::SnapshotError;
use crate::import::ImportSource;
use crate::manifest::{FileEntry, Manifest};

/// The table holding the migrator's log.
pub const MIGRATION_LOGS: &str = "public.migration_logs";

/// One `migration_logs` row, with the columns planning needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationLogRow {
    /// `id` (its position in the COPY block when the dump has no `id`).
    pub id: i64,
    /// `schema`, e.g. `schema_migrations`.
    pub schema: String,
    /// `version`.
    pub version: i64,
    /// `up`.
    pub up: bool,
    /// `started_at` in microseconds since the Unix epoch.
    pub started_at_micros: Option<i64>,
    /// `success` (NULL: never finished).
    pub success: Option<bool>,
    /// `error_message`.
    pub error_message: Option<String>,
}

/// One database's `migration_logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseLogs {
    /// Which database.
    pub role: DbRole,
    /// Where it was read: the dump (file or object) or `host:port/db`.
    pub location: String,
    /// The rows; `None` when the database has no `migration_logs` table.
    pub rows: Option<Vec<MigrationLogRow>>,
}

/// What was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The `frontend` row of `versions`, when there is one.
    pub sourcegraph: Option<SourcegraphVersion>,
    /// Each database read, in role order.
    pub databases: Vec<DatabaseLogs>,
}

/// An error reading the migration state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading the snapshot or the database failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A `migration_logs` row or header cannot be read.
    #[error("{object} line {line}: {MIGRATION_LOGS}: {detail}")]
    BadRow {
        /// The dump file or object.
        object: String,
        /// Its line.
        line: u64,
        /// What is wrong.
        detail: String,
    },
}

impl From<PgError> for StateError {
    fn from(e: PgError) -> StateError {
        StateError::Snapshot(SnapshotError::Pg(e))
    }
}

/// The version recorded in the manifest and every dump's `migration_logs`.
/// Only dumps whose manifest entry lists the table are read, and each only
/// up to the end of that table's COPY block.
///
/// # Errors
/// The manifest or a dump cannot be read, or a row is malformed.
pub async fn snapshot_state(source: &ImportSource) -> Result<MigrationState, StateError> {
    let manifest = source.manifest().await.map_err(StateError::Snapshot)?;
    snapshot_state_with(source, &manifest).await
}

/// [`snapshot_state`] with the manifest already read.
///
/// # Errors
/// A dump cannot be read, or a row is malformed.
pub async fn snapshot_state_with(
    source: &ImportSource,
    manifest: &Manifest,
) -> Result<MigrationState, StateError> {
    let mut jobs = Vec::new();
    for role in DbRole::all() {
        let Some(entry) = manifest_entry(manifest, role) else {
            continue;
        };
        jobs.push(read_entry(source, role, entry));
    }
    let databases = futures_util::future::try_join_all(jobs).await?;
    Ok(MigrationState {
        sourcegraph: manifest.sourcegraph.clone(),
        databases,
    })
}

fn manifest_entry(m: &Manifest, role: DbRole) -> Option<&FileEntry> {
    m.files
        .iter()
        .find(|f| f.role == role.yaml_key() || Some(f.role.as_str()) == role.legacy_yaml_key())
}

async fn read_entry(
    source: &ImportSource,
    role: DbRole,
    entry: &FileEntry,
) -> Result<DatabaseLogs, StateError> {
    // The manifest lists every table with data; an empty list means it was not fingerprinted.
    let listed = entry.tables.is_empty() || entry.tables.iter().any(|t| t.table == MIGRATION_LOGS);
    let (location, rows) = match source {
        ImportSource::Dir(dir) => {
            let path = dir.join(&entry.name);
            let location = path.display().to_string();
            let rows = if listed { read_file(path).await? } else { None };
            (location, rows)
        }
        ImportSource::Bucket(store) => {
            let rec = entry.upload.as_ref().ok_or_else(|| SnapshotError::Manifest {
                path: format!("{}/{}", store.describe(), crate::manifest::MANIFEST_FILE).into(),
                message: format!(
                    "the manifest records no upload of {} (run upload again)",
                    entry.name
                ),
            })?;
            let location = format!("{}/{}", store.describe(), rec.object);
            let rows = if listed {
                read_object(store.clone(), &rec.object, rec.gzip.is_some(), &location).await?
            } else {
                None
            };
            (location, rows)
        }
    };
    if listed && !entry.tables.is_empty() && rows.is_none() {
        return Err(SnapshotError::Mismatch {
            object: location,
            detail: format!("the manifest lists {MIGRATION_LOGS} but the dump has no COPY block for it"),
        }
        .into());
    }
    Ok(DatabaseLogs { role, location, rows })
}

async fn read_file(path: impl AsRef<Path>) -> Result<Option<Vec<MigrationLogRow>>, StateError> {
    let path = path.as_ref().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path).map_err(|source| SnapshotError::Io {
            path: path.clone(),
            source,
        })?;
        migration_logs_from_dump(
            std::io::BufReader::with_capacity(256 * 1024, f),
            &path.display().to_string(),
        )
    })
    .await
    .map_err(|e| SnapshotError::Task(e.to_string()))?
}

async fn read_object(
    store: Arc<Store>,
    name: &str,
    gzip: bool,
    label: &str,
) -> Result<Option<Vec<MigrationLogRow>>, StateError> {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let label_owned = label.to_string();
    let reader = tokio::task::spawn_blocking(move || {
        let raw = crate::fsutil::ChannelReader::new(rx);
        let input: Box<dyn Read + Send> = if gzip {
            Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(raw)))
        } else {
            Box::new(raw)
        };
        migration_logs_from_dump(input, &label_owned)
    });
    let pumped = async {
        let mut stream = store
            .read(name)
            .await
            .map_err(|e| SnapshotError::bucket(name, e))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| SnapshotError::bucket(name, e))?;
            // A closed channel: the reader has what it needs (or failed; its error says why).
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
        Ok::<(), SnapshotError>(())
    }
    .await;
    drop(tx);
    let read = reader.await.map_err(|e| SnapshotError::Task(e.to_string()))?;
    match (pumped, read) {
        (_, Ok(rows)) => Ok(rows),
        (Err(e), Err(_)) => Err(e.into()),
        (Ok(()), Err(e)) => Err(e),
    }
}

/// The rows of the `migration_logs` COPY block of a dump, read up to the
/// end of that block (`None` when the dump has none). Columns are found by
/// name in the COPY header.
///
/// # Errors
/// The input is not a dump, or a row is malformed.
pub fn migration_logs_from_dump(
    input: impl Read,
    label: &str,
) -> Result<Option<Vec<MigrationLogRow>>, StateError> {
    let mut split = Splitter::new(input, None).map_err(|e| SnapshotError::scan(label, e))?;
    let mut block: Option<(Vec<String>, u64, Vec<u8>)> = None;
    loop {
        let piece = split.next_piece().map_err(|e| SnapshotError::scan(label, e))?;
        match piece {
            None => return Ok(None),
            Some(Piece::CopyStart { target, line, .. }) if target.table == MIGRATION_LOGS => {
                block = Some((target.columns, line, Vec::new()));
            }
            Some(Piece::CopyData { data, .. }) => {
                if let Some((_, _, buf)) = block.as_mut() {
                    buf.extend_from_slice(data);
                }
            }
            Some(Piece::CopyEnd) => {
                if let Some((columns, line, data)) = block.take() {
                    return parse_rows(&columns, line, &data, label).map(Some);
                }
            }
            Some(_) => {}
        }
    }
}

/// Parses COPY text rows of `migration_logs`.
fn parse_rows(
    columns: &[String],
    copy_line: u64,
    data: &[u8],
    label: &str,
) -> Result<Vec<MigrationLogRow>, StateError> {
    let bad = |line: u64, detail: String| StateError::BadRow {
        object: label.to_string(),
        line,
        detail,
    };
    let idx = |name: &str| columns.iter().position(|c| c == name);
    let need = |name: &str| {
        idx(name).ok_or_else(|| {
            bad(
                copy_line,
                format!(
                    "the COPY header has no {name:?} column (it has: {})",
                    columns.join(", ")
                ),
            )
        })
    };
    let (schema, version, up, success) = (need("schema")?, need("version")?, need("up")?, need("success")?);
    let (id, started, error) = (idx("id"), idx("started_at"), idx("error_message"));
    let mut rows = Vec::new();
    for (n, raw) in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let line = copy_line + 1 + n as u64;
        let fields: Vec<Option<String>> = raw.split(|b| *b == b'\t').map(copy_field).collect();
        if fields.len() != columns.len() {
            return Err(bad(
                line,
                format!("{} fields, the COPY header names {}", fields.len(), columns.len()),
            ));
        }
        let text = |i: usize| fields.get(i).cloned().flatten();
        let required = |i: usize, name: &str| text(i).ok_or_else(|| bad(line, format!("{name} is NULL")));
        let int = |i: usize, name: &str| -> Result<i64, StateError> {
            let s = required(i, name)?;
            s.parse()
                .map_err(|_| bad(line, format!("{name} is {s:?}, not an integer")))
        };
        let boolean = |s: &str, name: &str| match s {
            "t" => Ok(true),
            "f" => Ok(false),
            _ => Err(bad(line, format!("{name} is {s:?}, not t or f"))),
        };
        rows.push(MigrationLogRow {
            id: match id {
                Some(i) => int(i, "id")?,
                None => n as i64,
            },
            schema: required(schema, "schema")?,
            version: int(version, "version")?,
            up: boolean(&required(up, "up")?, "up")?,
            started_at_micros: started
                .and_then(text)
                .as_deref()
                .and_then(parse_timestamptz_micros),
            success: text(success).map(|s| boolean(&s, "success")).transpose()?,
            error_message: error.and_then(text),
        });
    }
    Ok(rows)
}

/// A field of COPY's text format: `\N` is NULL, backslash escapes decoded.
fn copy_field(raw: &[u8]) -> Option<String> {
    if raw == b"\\N" {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        if b != b'\\' || i == raw.len() {
            out.push(b);
            continue;
        }
        let c = raw[i];
        i += 1;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Microseconds since the epoch of a `timestamptz` as COPY prints it (any
/// session time zone): the engine's own parser, shared with the fingerprints.
pub fn parse_timestamptz_micros(s: &str) -> Option<i64> {
    dumpscript::fingerprint::parse_timestamptz_micros(s.as_bytes())
}

/// The version and every database's `migration_logs` of live databases:
/// `databases` maps each role to its database name; the `versions` row is
/// read from the frontend's (`pgsql`).
///
/// # Errors
/// A database cannot be reached or queried.
pub async fn live_state(
    conn: &ConnSpec,
    databases: &[(DbRole, String)],
) -> Result<MigrationState, StateError> {
    let mut state = MigrationState {
        sourcegraph: None,
        databases: Vec::new(),
    };
    for (role, name) in databases {
        let client = conn.connect(name).await?;
        if *role == DbRole::Pgsql {
            state.sourcegraph = live_version(&client).await?;
        }
        state.databases.push(DatabaseLogs {
            role: *role,
            location: conn.describe(name),
            rows: live_migration_logs(&client).await?,
        });
    }
    Ok(state)
}

async fn columns(client: &Client, table: &str) -> Result<Vec<String>, PgError> {
    let rows = client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await
        .map_err(|e| PgError::query(format!("listing the columns of public.{table}"), e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The `frontend` row of `versions`, if the table and row exist.
async fn live_version(client: &Client) -> Result<Option<SourcegraphVersion>, PgError> {
    let cols = columns(client, "versions").await?;
    if !cols.iter().any(|c| c == "version") {
        return Ok(None);
    }
    let first = if cols.iter().any(|c| c == "first_version") {
        "first_version::text"
    } else {
        "NULL::text"
    };
    let sql = format!("SELECT version::text, {first} FROM public.versions WHERE service = 'frontend'");
    let row = client
        .query_opt(&sql, &[])
        .await
        .map_err(|e| PgError::query("reading the frontend row of public.versions", e))?;
    Ok(row.and_then(|r| {
        let version: Option<String> = r.get(0);
        version.map(|version| SourcegraphVersion {
            version,
            first_version: r.get(1),
        })
    }))
}

/// Every `migration_logs` row, or `None` without the table.
async fn live_migration_logs(client: &Client) -> Result<Option<Vec<MigrationLogRow>>, PgError> {
    let cols = columns(client, "migration_logs").await?;
    if cols.is_empty() {
        return Ok(None);
    }
    let has = |c: &str| cols.iter().any(|x| x == c);
    let or_null = |c: &str, expr: &str, ty: &str| {
        if has(c) {
            expr.to_string()
        } else {
            format!("NULL::{ty}")
        }
    };
    let sql = format!(
        "SELECT {}, schema::text, version::bigint, up, success, {}, {} FROM public.migration_logs",
        or_null("id", "id::bigint", "bigint"),
        or_null(
            "started_at",
            "(extract(epoch FROM started_at) * 1000000)::bigint",
            "bigint"
        ),
        or_null("error_message", "error_message::text", "text"),
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| PgError::query("reading public.migration_logs", e))?;
    Ok(Some(
        rows.iter()
            .enumerate()
            .map(|(n, r)| MigrationLogRow {
                id: r.get::<_, Option<i64>>(0).unwrap_or(n as i64),
                schema: r.get(1),
                version: r.get(2),
                up: r.get(3),
                success: r.get(4),
                started_at_micros: r.get(5),
                error_message: r.get(6),
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_iso_output() {
        assert_eq!(parse_timestamptz_micros("1970-01-01 00:00:00+00"), Some(0));
        assert_eq!(
            parse_timestamptz_micros("2023-06-14 09:59:00.1+00"),
            Some(1_686_736_740_100_000)
        );
        // The same instant in another zone.
        assert_eq!(
            parse_timestamptz_micros("2023-06-14 15:29:00.1+05:30"),
            parse_timestamptz_micros("2023-06-14 09:59:00.1+00")
        );
        assert_eq!(
            parse_timestamptz_micros("2023-06-14 01:59:00.1-08"),
            parse_timestamptz_micros("2023-06-14 09:59:00.1+00")
        );
        assert_eq!(
            parse_timestamptz_micros("2000-02-29 00:00:00.123456+00"),
            Some(951_782_400_123_456)
        );
        for bad in [
            "",
            "infinity",
            "2023-13-01 00:00:00+00",
            "2023-06-14",
            "2023-06-14 9:xx:00+00",
        ] {
            assert_eq!(parse_timestamptz_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn copy_fields_decode_escapes() {
        assert_eq!(copy_field(b"\\N"), None);
        assert_eq!(copy_field(b"a\\tb\\nc\\\\d").as_deref(), Some("a\tb\nc\\d"));
        assert_eq!(copy_field(b"\\101\\x42").as_deref(), Some("AB"));
    }

    #[test]
    fn the_saved_pg_dump_16_frontend_dump() {
        let path = testkit::testdata_dir().join("dumps/pgdump16/frontend.sql");
        let f = std::fs::File::open(&path).expect("fixture");
        let rows = migration_logs_from_dump(f, "frontend.sql")
            .expect("read")
            .expect("the block");
        assert_eq!(rows.len(), 5);
        assert!(rows
            .iter()
            .all(|r| r.schema == "schema_migrations" && r.up && r.success == Some(true)));
        assert_eq!(rows[0].id, 1);
        assert_eq!(rows[4].version, 1_686_580_819);
        assert_eq!(
            rows[0].started_at_micros,
            parse_timestamptz_micros("2023-06-14 09:59:00.1+00")
        );
        // codeintel's saved dump has no migration_logs.
        let f = std::fs::File::open(testkit::testdata_dir().join("dumps/pgdump16/codeintel.sql"))
            .expect("fixture");
        assert_eq!(migration_logs_from_dump(f, "codeintel.sql").expect("read"), None);
    }

    #[test]
    fn malformed_rows_name_the_line() {
        let dump = |rows: &str| {
            format!(
                "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n\
                 COPY \"public\".\"migration_logs\" (\"id\", \"schema\", \"version\", \"up\", \"started_at\", \"success\", \"error_message\") FROM stdin;\n\
                 {rows}\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
            )
        };
        let ok = dump("1\tschema_migrations\t10\tt\t2023-06-14 09:59:00+00\t\\N\tboom\\twith tab\n");
        let rows = migration_logs_from_dump(ok.as_bytes(), "x.sql")
            .expect("ok")
            .expect("block");
        assert_eq!(rows[0].success, None);
        assert_eq!(rows[0].error_message.as_deref(), Some("boom\twith tab"));
        let bad = dump("1\tschema_migrations\t10\tt\t2023-06-14 09:59:00+00\tt\t\\N\n2\tschema_migrations\tten\tt\t\\N\tt\t\\N\n");
        let e = migration_logs_from_dump(bad.as_bytes(), "x.sql").expect_err("bad");
        assert_eq!(
            e.to_string(),
            "x.sql line 9: public.migration_logs: version is \"ten\", not an integer"
        );
        let short = dump("1\tschema_migrations\n");
        let e = migration_logs_from_dump(short.as_bytes(), "x.sql").expect_err("short");
        assert!(e.to_string().contains("2 fields, the COPY header names 7"), "{e}");
    }
}
