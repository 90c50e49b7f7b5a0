//! `migrate`, `runbook` and `report` as the real binary against real parts:
//! a PostgreSQL 12 source with Sourcegraph's schemas and seeds, the API
//! emulator (`sgemu`) over the source and over the target, a `file://`
//! bucket, and a Cloud-SQL-like non-superuser on PostgreSQL 16.
//!
//! - one migration on two "machines" (customer and operator configs, the
//!   journal shared through the bucket) runs end to end;
//! - another is stopped by a failure at several steps (source unreachable,
//!   bucket missing, a corrupted object, target unreachable, a table
//!   created on the target before the import and after it), each stopping
//!   with a clear message, and `--resume` finishes it with the same report;
//! - `--dry-run` changes nothing (files, bucket objects, databases);
//! - report.html is rendered by headless Chromium: the screenshot is not
//!   blank and the DOM holds the tables.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use testkit::{CloudSqlDb, PgServer};

const TOKEN: &str = "sgp_migrate_admin_5f2c9e0d41b7a3";

// ---- a proxy that can be switched off (connection refused) and on again ----

/// A running accept loop: its stop flag, its thread, the connections it opened.
type Serving = (
    Arc<AtomicBool>,
    std::thread::JoinHandle<()>,
    Arc<Mutex<Vec<TcpStream>>>,
);

struct Proxy {
    port: u16,
    upstream: SocketAddr,
    run: Mutex<Option<Serving>>,
}

impl Proxy {
    fn start(upstream_port: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = l.local_addr().expect("addr").port();
        let p = Proxy {
            port,
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            run: Mutex::new(None),
        };
        p.serve(l);
        p
    }

    fn serve(&self, l: TcpListener) {
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (st, cs, up) = (stop.clone(), conns.clone(), self.upstream);
        let h = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let Ok(s) = TcpStream::connect(up) else { continue };
                        for x in [&c, &s] {
                            if let Ok(x2) = x.try_clone() {
                                cs.lock().expect("conns").push(x2);
                            }
                        }
                        let (c2, s2) = (c.try_clone().expect("clone"), s.try_clone().expect("clone"));
                        std::thread::spawn(move || pump(c, s2));
                        std::thread::spawn(move || pump(s, c2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        *self.run.lock().expect("run") = Some((stop, h, conns));
    }

    /// Closes the port (new connections are refused) and cuts open ones.
    fn down(&self) {
        if let Some((stop, h, conns)) = self.run.lock().expect("run").take() {
            stop.store(true, Ordering::SeqCst);
            let _ = h.join();
            for c in conns.lock().expect("conns").iter() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Listens again on the same port.
    fn up(&self) {
        for _ in 0..100 {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", self.port)) {
                self.serve(l);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cannot listen on port {} again", self.port);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

// ---- one migration's parts -------------------------------------------------

fn target_server() -> &'static PgServer {
    PgServer::shared(16)
}

fn conn(server: &PgServer, db: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={} dbname={db}",
        server.port(),
        server.superuser()
    )
}

/// A source (copies of the Sourcegraph databases), a target, two emulated
/// instances, a bucket folder and the files a migration.yaml points at.
struct Env {
    tmp: tempfile::TempDir,
    name: String,
    src: [String; 3],
    tgt: CloudSqlDb,
    tgt_names: [String; 3],
    src_proxy: Option<Proxy>,
    tgt_proxy: Option<Proxy>,
    emus: Vec<sgemu::Emulator>,
    endpoints: (String, String),
    rt: tokio::runtime::Runtime,
}

impl Env {
    fn new(prefix: &str, proxies: bool) -> Env {
        let source = common::source(12);
        let s = source.server;
        let name = s.unique_name(prefix);
        let src = {
            // CREATE DATABASE … TEMPLATE needs the template free of sessions.
            static LOCK: Mutex<()> = Mutex::new(());
            let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
            common::SOURCE_DBS.map(|(_, db)| {
                let copy = format!("{name}_{db}");
                s.psql(
                    "postgres",
                    &format!(
                        "CREATE DATABASE {} TEMPLATE {}",
                        testkit::quote_ident(&copy),
                        testkit::quote_ident(&format!("sg_{db}"))
                    ),
                );
                copy
            })
        };
        let t = target_server();
        let tgt = t.create_cloudsql_database(&format!("{name}_t"));
        let tgt_names = [format!("{name}_fe"), format!("{name}_ci"), format!("{name}_cn")];
        // The emulated managed instance needs its databases to exist when it starts.
        for db in &tgt_names {
            t.psql(
                "postgres",
                &format!(
                    "CREATE DATABASE {} OWNER {}",
                    testkit::quote_ident(db),
                    testkit::quote_ident(&tgt.user)
                ),
            );
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let start = |fe: String, cn: String| {
            rt.block_on(sgemu::Emulator::start(sgemu::EmulatorConfig {
                frontend: fe,
                codeintel: None,
                codeinsights: Some(cn),
                schema_dir: testkit::testdata_dir().join("sourcegraph/graphql"),
                tokens: vec![(TOKEN.into(), true)],
                listen: "127.0.0.1:0".parse().expect("address"),
            }))
            .expect("start the emulator")
        };
        let se = start(conn(s, &src[0]), conn(s, &src[2]));
        let te = start(conn(t, &tgt_names[0]), conn(t, &tgt_names[2]));
        let endpoints = (se.endpoint(), te.endpoint());
        // Nothing may hold a session on the target databases when `reset` looks.
        t.psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname IN ('{}', '{}', '{}')",
                tgt_names[0], tgt_names[1], tgt_names[2]
            ),
        );
        let tmp = temp_dir();
        let env = Env {
            src_proxy: proxies.then(|| Proxy::start(s.port())),
            tgt_proxy: proxies.then(|| Proxy::start(t.port())),
            tmp,
            name,
            src,
            tgt,
            tgt_names,
            emus: vec![se, te],
            endpoints,
            rt,
        };
        env.write_files();
        env
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn bucket(&self) -> PathBuf {
        self.path("bucket")
    }

    fn src_port(&self) -> u16 {
        self.src_proxy
            .as_ref()
            .map_or(common::source(12).server.port(), |p| p.port)
    }

    fn tgt_port(&self) -> u16 {
        self.tgt_proxy.as_ref().map_or(target_server().port(), |p| p.port)
    }

    fn write_files(&self) {
        let source = common::source(12);
        let mut y = String::new();
        for ((role, _), db) in common::SOURCE_DBS.iter().zip(&self.src) {
            y.push_str(&format!(
                "{role}:\n  target: 127.0.0.1\n  port: {}\n  dbname: {db}\n  username: {}\n  password: \"{}\"\n",
                self.src_port(),
                source.user,
                source.password
            ));
        }
        std::fs::write(self.path("targets.yaml"), y).expect("targets");
        std::fs::write(self.path("target-token"), format!("{TOKEN}\n")).expect("token");
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> {args}\nexec {psql} -X -q -h 127.0.0.1 -p {port} -U postgres -d {db} \
             -c \"UPDATE versions SET version = '5.2.0' WHERE service = 'frontend'\"\n",
            args = self.path("migrator-args").display(),
            psql = testkit::psql_path(16).display(),
            port = target_server().port(),
            db = self.tgt_names[0],
        );
        let m = self.path("fake-migrator");
        std::fs::write(&m, script).expect("migrator");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// A migration.yaml for `side` with its snapshot folder; returns its path.
    fn config(&self, file: &str, side: &str, snapshot_dir: &str) -> PathBuf {
        let text = format!(
            "# {file}: written by the test\n\
             side: {side}\n\
             name: {name}\n\
             snapshot_dir: {snapshot_dir}\n\
             bucket: file://{bucket}\n\
             jobs: 3\n\
             source:\n\
             \x20 targets: targets.yaml\n\
             \x20 pg_dump: {pg_dump}\n\
             \x20 instance: {{endpoint: \"{se}\", token_env: SG_SOURCE_TOKEN}}\n\
             target:\n\
             \x20 url: postgres://{user}@127.0.0.1:{port}/{admin}\n\
             \x20 password_env: TARGET_DB_PW\n\
             \x20 databases: {{pgsql: {fe}, codeintel: {ci}, codeinsights: {cn}}}\n\
             \x20 instance: {{endpoint: \"{te}\", token_file: target-token}}\n\
             migrator:\n\
             \x20 to: 5.2.0\n\
             \x20 run: true\n\
             \x20 command: [\"{migrator}\"]\n\
             test: {{since: 1h}}\n",
            name = "acme",
            bucket = self.bucket().display(),
            pg_dump = testkit::pg_dump_path(16).display(),
            se = self.endpoints.0,
            te = self.endpoints.1,
            user = self.tgt.user,
            port = self.tgt_port(),
            admin = self.tgt.dbname,
            fe = self.tgt_names[0],
            ci = self.tgt_names[1],
            cn = self.tgt_names[2],
            migrator = self.path("fake-migrator").display(),
        );
        let p = self.path(file);
        std::fs::write(&p, text).expect("config");
        p
    }

    /// `src-snapshot <args>` with the tokens and the target password in the environment.
    fn run(&self, args: &[&str]) -> Output {
        let mut c = common::cmd();
        c.current_dir(self.tmp.path())
            .args(args)
            .env("SG_SOURCE_TOKEN", TOKEN)
            .env("TARGET_DB_PW", &self.tgt.password);
        let out = c.output().expect("spawn src-snapshot");
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        for secret in [TOKEN, &self.tgt.password, &common::source(12).password] {
            assert!(
                !o.contains(secret) && !e.contains(secret),
                "a secret was printed by {args:?}:\n{o}\n{e}"
            );
        }
        out
    }

    fn migrate(&self, config: &Path, extra: &[&str]) -> Output {
        let cfg = format!("--config={}", config.display());
        let mut args = vec!["migrate", cfg.as_str()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn target_sql(&self, i: usize, sql: &str) -> String {
        target_server().psql(&self.tgt_names[i], sql)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for e in self.emus.drain(..) {
            self.rt.block_on(e.shutdown());
        }
        for d in &self.src {
            common::source(12).server.drop_database(d);
        }
        for d in self.tgt_names.iter().chain([&self.tgt.dbname]) {
            target_server().drop_database(d);
        }
    }
}

/// A folder for one environment under Cargo's per-target temp dir. The
/// shared two-machine migration lives in a static and is never dropped, so
/// folders of test processes that are gone are swept here.
fn temp_dir() -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(rd) = std::fs::read_dir(&base) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("migrate-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| p != std::process::id() && !testkit::process_running(p)) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    tempfile::Builder::new()
        .prefix(&format!("migrate-{}-", std::process::id()))
        .tempdir_in(&base)
        .expect("temp dir")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// Asserts the exit code; returns stdout and stderr together.
fn expect(out: &Output, code: i32, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: {}",
        testkit::describe_output(out)
    );
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .expect("json")
}

/// Every file under `dir` with its bytes (missing dir: empty).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// What the databases of an environment hold: which exist, their relations
/// and schemas, and the source's settings rows (the notice would add one).
fn db_state(env: &Env) -> String {
    let t = target_server();
    let mut s = t.psql(
        "postgres",
        &format!(
            "SELECT datname FROM pg_database WHERE datname LIKE '{}%' ORDER BY 1",
            env.name
        ),
    );
    for db in &env.tgt_names {
        s.push_str(&t.psql(db, "SELECT count(*) FROM pg_class"));
        s.push_str(&t.psql(
            db,
            "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace",
        ));
    }
    let src = common::source(12).server;
    s.push_str(&src.psql(&env.src[0], "SELECT count(*), max(id) FROM settings"));
    s
}

// ---- the report, compared modulo timings ------------------------------------

/// The report without what differs between two runs of the same migration:
/// times and durations, attempts and earlier failures, rates, endpoints and
/// target database names (by role), pg_dump's `\restrict` keys, and byte counts (a `settings` row holds
/// the time the notice was added, so a dump's size varies by a byte or two).
fn normalized(report: &Value) -> Value {
    fn walk(v: &mut Value, names: &BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| {
                    !matches!(
                        k.as_str(),
                        "generated_at"
                            | "started_at"
                            | "finished_at"
                            | "seconds"
                            | "attempts"
                            | "bytes_per_second"
                            | "interruptions"
                            | "endpoint"
                            | "detail"
                            | "message"
                    ) && !k.ends_with("bytes")
                });
                for (_, x) in m.iter_mut() {
                    walk(x, names);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, names)),
            Value::String(s) => {
                if let Some(role) = names.get(s.as_str()) {
                    *s = role.clone();
                }
                // pg_dump's \restrict key is new with every dump.
                for m in ["\\restrict ", "\\unrestrict "] {
                    if s.starts_with(m) {
                        *s = format!("{m}<key>");
                    }
                }
            }
            _ => {}
        }
    }
    let mut names = BTreeMap::new();
    for d in report["databases"].as_array().expect("databases") {
        names.insert(
            d["database"].as_str().expect("database").to_string(),
            format!("<{}>", d["role"].as_str().expect("role")),
        );
    }
    let mut v = report.clone();
    walk(&mut v, &names);
    v
}

/// Byte counts of two reports of the same data agree within a few bytes per table.
fn sizes_agree(a: &Value, b: &Value) {
    let (da, db) = (
        a["databases"].as_array().expect("a"),
        b["databases"].as_array().expect("b"),
    );
    for (x, y) in da.iter().zip(db) {
        for (tx, ty) in x["table_rows"]
            .as_array()
            .expect("rows")
            .iter()
            .zip(y["table_rows"].as_array().expect("rows"))
        {
            let (sa, sb) = (
                tx["source_bytes"].as_u64().expect("n"),
                ty["source_bytes"].as_u64().expect("n"),
            );
            assert!(sa.abs_diff(sb) <= 8, "{}: {sa} vs {sb}", tx["table"]);
            assert_eq!(tx["target_bytes"], ty["target_bytes"], "{}", tx["table"]);
        }
    }
}

fn assert_complete_report(report: &Value, ctx: &str) {
    assert_eq!(report["status"], "complete", "{ctx}: {report:#}");
    assert_eq!(report["compare_verdict"], "equal", "{ctx}");
    assert_eq!(report["acceptance"]["verdict"], "pass", "{ctx}");
    let dbs = report["databases"].as_array().expect("databases");
    assert_eq!(dbs.len(), 3, "{ctx}");
    for d in dbs {
        assert_eq!(d["verdict"], "equal", "{ctx}: {}", d["role"]);
        let rows = d["table_rows"].as_array().expect("tables");
        assert!(!rows.is_empty(), "{ctx}");
        for t in rows {
            assert_eq!(t["verdict"], "equal", "{ctx}: {t}");
            assert_eq!(t["source_rows"], t["target_rows"], "{ctx}: {t}");
            assert!(t["target_bytes"].is_u64(), "{ctx}: {t}");
        }
        assert_eq!(d["source_rows"], d["target_rows"], "{ctx}");
    }
    let fe = &dbs[0];
    assert!(
        fe["table_rows"]
            .as_array()
            .expect("tables")
            .iter()
            .any(|t| t["table"] == "public.repo" && t["source_rows"].as_u64() > Some(0)),
        "{ctx}: public.repo has rows"
    );
    for step in report["timeline"].as_array().expect("timeline") {
        assert!(
            step["status"] == "succeeded" || step["status"] == "skipped",
            "{ctx}: {step}"
        );
        assert!(step["seconds"].is_number(), "{ctx}: {step}");
    }
    // The target user cannot create pg_stat_statements: left out, with the reason.
    let san = report["sanitizer"].as_array().expect("sanitizer");
    assert!(
        san.iter().any(|s| s["statement"]
            .as_str()
            .is_some_and(|x| x.contains("pg_stat_statements"))
            && s["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "{ctx}: {san:#?}"
    );
    assert!(report["transfer"]["upload"]["bytes"].as_u64() > Some(0), "{ctx}");
    assert!(report["transfer"]["import"]["bytes"].as_u64() > Some(0), "{ctx}");
    assert!(report["transfer"]["dump"]["bytes"].as_u64() > Some(0), "{ctx}");
    assert_eq!(report["sourcegraph"]["version"], "5.1.0", "{ctx}");
    assert_eq!(report["sourcegraph"]["migrator_command"], "migrator up", "{ctx}");
}

// ---- the uninterrupted migration, on two machines ---------------------------

struct Finished {
    env: Env,
    operator_dir: PathBuf,
    report: Value,
}

/// The customer runs their half with their config, the operator theirs with
/// another config and snapshot folder; the journal travels in the bucket.
fn two_party_migration() -> &'static Finished {
    static F: OnceLock<Finished> = OnceLock::new();
    F.get_or_init(|| {
        let env = Env::new("mig2p", false);
        std::fs::create_dir_all(env.bucket()).expect("bucket");
        let customer = env.config("customer.yaml", "customer", "customer/src-snapshot");
        let operator = env.config("operator.yaml", "operator", "operator/work");

        let out = expect(&env.migrate(&customer, &[]), 0, "the customer's half");
        for s in [
            "preflight",
            "notice-add",
            "databases",
            "summary",
            "upload",
            "verify-upload",
        ] {
            assert!(out.contains(&format!("] {s}: ")), "{s} ran: {out}");
        }
        assert!(out.contains("next: verify-bucket (the operator)"), "{out}");
        assert!(
            env.bucket().join(migrate::JOURNAL_FILE).is_file(),
            "the journal is mirrored into the bucket"
        );

        // The operator sees the customer's progress from the bucket alone.
        let bucket_flag = format!("-bucket=file://{}", env.bucket().display());
        let rb = expect(&env.run(&["runbook", &bucket_flag]), 0, "runbook -bucket");
        assert!(rb.contains("[x]  6. verify-upload"), "{rb}");
        assert!(rb.contains("[ ]  7. verify-bucket"), "{rb}");
        assert!(rb.contains("<- NEXT"), "{rb}");

        let out = expect(&env.migrate(&operator, &[]), 0, "the operator's half");
        assert!(out.contains("migration complete"), "{out}");
        let args = std::fs::read_to_string(env.path("migrator-args")).expect("the migrator ran");
        assert_eq!(args.trim(), "up", "5.1 → 5.2 is one standard upgrade");

        let operator_dir = env.path("operator/work");
        let report = read_json(&operator_dir.join("report.json"));
        assert_complete_report(&report, "two machines");
        for f in ["report.html", "report.md", migrate::JOURNAL_FILE] {
            let p = operator_dir.join(f);
            let t = std::fs::read_to_string(&p).expect("report file");
            for secret in [
                TOKEN,
                env.tgt.password.as_str(),
                common::source(12).password.as_str(),
            ] {
                assert!(!t.contains(secret), "{} holds a secret", p.display());
            }
        }
        Finished {
            env,
            operator_dir,
            report,
        }
    })
}

#[test]
fn the_whole_migration_on_two_machines_then_runbook_and_report() {
    let f = two_party_migration();
    let env = &f.env;
    let operator = env.path("operator.yaml");
    // The journal is owner-only.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(f.operator_dir.join(migrate::JOURNAL_FILE))
        .expect("journal")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let cfg = format!("--config={}", operator.display());
    let rb = expect(&env.run(&["runbook", &cfg]), 0, "runbook");
    assert!(
        rb.contains("Progress: 14 of 14 steps done; the migration is complete"),
        "{rb}"
    );
    assert!(rb.contains("[x] 14. notice-remove"), "{rb}");
    let md = expect(
        &env.run(&["runbook", &cfg, "--markdown"]),
        0,
        "runbook --markdown",
    );
    assert!(md.contains("- [x] **compare**"), "{md}");

    // The notice went up on the source and, carried over by the dump, came down on the target.
    let src_notice = common::source(12).server.psql(
        &env.src[0],
        "SELECT contents FROM settings ORDER BY id DESC LIMIT 1",
    );
    assert!(src_notice.contains(sgapi::DEFAULT_MESSAGE), "{src_notice}");
    let tgt_notice = env.target_sql(0, "SELECT contents FROM settings ORDER BY id DESC LIMIT 1");
    assert!(!tgt_notice.contains(sgapi::DEFAULT_MESSAGE), "{tgt_notice}");

    // `report` on demand writes the same report elsewhere.
    let out_dir = env.path("report-again");
    let o = format!("--out={}", out_dir.display());
    let said = expect(&env.run(&["report", &cfg, &o]), 0, "report");
    assert!(said.contains("Complete: 14 of 14 steps done"), "{said}");
    let again = read_json(&out_dir.join("report.json"));
    assert_eq!(normalized(&again), normalized(&f.report));

    // --from-step reruns from there; the steps before are left alone.
    let out = expect(
        &env.migrate(&operator, &["--from-step=test"]),
        0,
        "--from-step=test",
    );
    assert!(
        out.contains("] compare: skipped: before --from-step (succeeded)"),
        "{out}"
    );
    assert!(out.contains("==> [operator] test:"), "{out}");
    assert!(out.contains("==> [operator] notice-remove:"), "{out}");
    assert!(out.contains("nothing to remove"), "{out}");
}

// ---- failures at several steps, then --resume ------------------------------

#[test]
fn failures_stop_with_a_clear_message_and_resume_finishes_with_the_same_report() {
    // The uninterrupted migration runs alongside.
    let reference = std::thread::spawn(|| two_party_migration().report.clone());
    let env = Env::new("migfail", true);
    let cfg = env.config("migration.yaml", "both", "src-snapshot");
    let (src, tgt) = (
        env.src_proxy.as_ref().expect("proxy"),
        env.tgt_proxy.as_ref().expect("proxy"),
    );
    let journal = || read_json(&env.path("src-snapshot").join(migrate::JOURNAL_FILE));
    let status = |step: &str| -> String {
        let j = journal();
        let r = j["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["step"] == step)
            .cloned()
            .expect("step");
        r["status"].as_str().expect("status").to_string()
    };

    // 1. The source databases are unreachable: preflight says which and how to fix it.
    src.down();
    let out = expect(&env.migrate(&cfg, &[]), 1, "source unreachable");
    assert!(out.contains("preflight failed"), "{out}");
    assert!(out.contains("postgres pgsql: not reachable"), "{out}");
    assert!(out.contains("--resume"), "the hint says how to go on: {out}");
    assert_eq!(status("preflight"), "failed");
    assert!(!env.path("src-snapshot/pgsql.sql").exists());
    src.up();

    // Without --resume a recorded migration is not started over.
    let out = expect(&env.migrate(&cfg, &[]), 2, "no --resume");
    assert!(out.contains("already records this migration"), "{out}");
    assert!(out.contains("--resume"), "{out}");

    // 2. The bucket does not exist: upload stops; what came before is kept.
    let out = expect(&env.migrate(&cfg, &["--resume"]), 2, "bucket missing");
    assert!(
        out.contains("==> [customer] preflight: check the runbook's requirements (attempt 2)"),
        "{out}"
    );
    assert!(out.contains("upload failed: opening file://"), "{out}");
    assert!(out.contains("could not mirror the journal"), "{out}");
    assert_eq!(status("databases"), "succeeded");
    assert_eq!(status("upload"), "failed");
    std::fs::create_dir_all(env.bucket()).expect("bucket");
    let out = expect(
        &env.migrate(&cfg, &["--resume", "--stop-after=upload"]),
        0,
        "upload",
    );
    for s in ["preflight", "notice-add", "databases", "summary"] {
        assert!(
            out.contains(&format!("--- [customer] {s}: skipped: already succeeded")),
            "{s}: {out}"
        );
    }
    assert!(out.contains("stopped after upload as asked"), "{out}");

    // 3. A corrupted object: verify names it; the customer's copy is put back.
    let object = env.bucket().join("pgsql.sql");
    let good = std::fs::read(&object).expect("object");
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x20;
    std::fs::write(&object, &bad).expect("corrupt");
    let out = expect(&env.migrate(&cfg, &["--resume"]), 1, "corrupted object");
    assert!(out.contains("verify-upload failed"), "{out}");
    assert!(out.contains("pgsql.sql"), "{out}");
    std::fs::write(&object, &good).expect("repair");

    // 4. The target is unreachable: reset stops before dropping anything.
    tgt.down();
    let out = expect(&env.migrate(&cfg, &["--resume"]), 2, "target unreachable");
    assert!(out.contains("reset failed: resetting databases on"), "{out}");
    assert_eq!(status("verify-upload"), "succeeded");
    assert_eq!(status("verify-bucket"), "succeeded");
    tgt.up();
    expect(
        &env.migrate(&cfg, &["--resume", "--stop-after=reset"]),
        0,
        "reset",
    );

    // 5. A table appears on the target after reset (an instance not frozen): import refuses it.
    env.target_sql(0, "CREATE TABLE public.intruder (id int)");
    let out = expect(
        &env.migrate(&cfg, &["--resume"]),
        2,
        "target changed before import",
    );
    assert!(out.contains("import failed"), "{out}");
    assert!(out.contains(&env.tgt_names[0]), "names the database: {out}");
    env.target_sql(0, "DROP TABLE public.intruder");
    expect(
        &env.migrate(&cfg, &["--resume", "--stop-after=import"]),
        0,
        "import",
    );

    // 6. A schema change on the loaded target: compare names it.
    env.target_sql(1, "CREATE TABLE public.intruder (id int)");
    let out = expect(
        &env.migrate(&cfg, &["--resume"]),
        1,
        "target changed after import",
    );
    assert!(
        out.contains("compare failed: the target differs from the snapshot"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}: table: 14 in the snapshot, 15 on the target",
            env.tgt_names[1]
        )),
        "{out}"
    );
    env.target_sql(1, "DROP TABLE public.intruder");

    // The cause removed, --resume finishes.
    let out = expect(&env.migrate(&cfg, &["--resume"]), 0, "resume to the end");
    assert!(
        out.contains("--- [operator] import: skipped: already succeeded"),
        "{out}"
    );
    assert!(out.contains("migration complete"), "{out}");

    let report = read_json(&env.path("src-snapshot/report.json"));
    assert_complete_report(&report, "after failures");
    for p in [
        env.path("src-snapshot").join(migrate::JOURNAL_FILE),
        env.bucket().join(migrate::JOURNAL_FILE),
        env.path("src-snapshot/report.html"),
    ] {
        let t = std::fs::read_to_string(&p).expect("file");
        for secret in [
            TOKEN,
            env.tgt.password.as_str(),
            common::source(12).password.as_str(),
        ] {
            assert!(!t.contains(secret), "{} holds a secret", p.display());
        }
    }
    // The bucket's copy of the journal is the local one.
    assert_eq!(
        read_json(&env.bucket().join(migrate::JOURNAL_FILE)),
        read_json(&env.path("src-snapshot").join(migrate::JOURNAL_FILE))
    );
    let steps: Vec<&str> = report["interruptions"]
        .as_array()
        .expect("interruptions")
        .iter()
        .map(|i| i["step"].as_str().expect("step"))
        .collect();
    assert_eq!(
        steps,
        [
            "preflight",
            "upload",
            "verify-upload",
            "reset",
            "import",
            "compare"
        ],
        "every failed attempt is in the report"
    );
    let reference = reference.join().expect("the uninterrupted migration");
    assert!(reference["interruptions"].as_array().expect("i").is_empty());
    let (a, b) = (
        serde_json::to_string_pretty(&normalized(&report)).expect("json"),
        serde_json::to_string_pretty(&normalized(&reference)).expect("json"),
    );
    let diff: Vec<String> = a
        .lines()
        .zip(b.lines())
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .take(10)
        .map(|(i, (x, y))| format!("line {i}: resumed {x} / uninterrupted {y}"))
        .collect();
    assert!(
        diff.is_empty() && a.lines().count() == b.lines().count(),
        "the report after the failures differs from the uninterrupted run's (modulo timings):\n{}",
        diff.join("\n")
    );
    sizes_agree(&report, &reference);
}

// ---- --dry-run changes nothing -------------------------------------------------

#[test]
fn dry_run_changes_nothing() {
    let env = Env::new("migdry", false);
    std::fs::create_dir_all(env.bucket()).expect("bucket");
    let cfg = env.config("migration.yaml", "both", "src-snapshot");
    let files = tree(env.tmp.path());
    let dbs = db_state(&env);

    let out = expect(&env.migrate(&cfg, &["--dry-run"]), 0, "dry run");
    assert!(out.contains("nothing is changed"), "{out}");
    assert!(out.contains("[run ] preflight (customer)"), "{out}");
    assert!(
        out.contains(&format!(
            "$ src-snapshot databases pg_dump --targets={} --run",
            env.path("targets.yaml").display()
        )),
        "{out}"
    );
    assert!(out.contains("[run ] notice-remove (operator)"), "{out}");
    assert!(
        out.contains("SRC_ACCESS_TOKEN=\"$SG_SOURCE_TOKEN\""),
        "tokens by name only: {out}"
    );
    assert_eq!(tree(env.tmp.path()), files, "no file was written");
    assert_eq!(db_state(&env), dbs, "no database changed");

    // Half way: a dry run shows what is done and what would run, and still changes nothing.
    expect(&env.migrate(&cfg, &["--stop-after=upload"]), 0, "the first steps");
    let files = tree(env.tmp.path());
    let dbs = db_state(&env);
    for flags in [
        &["--dry-run"][..],
        &["--dry-run", "--resume"],
        &["--dry-run", "--from-step=summary"],
    ] {
        let out = expect(&env.migrate(&cfg, flags), 0, "dry run half way");
        if flags.len() == 2 && flags[1].starts_with("--from-step") {
            assert!(
                out.contains("[skip] preflight (customer) — before --from-step"),
                "{out}"
            );
            assert!(out.contains("[run ] summary (customer)"), "{out}");
        } else {
            assert!(
                out.contains("[skip] preflight (customer) — already succeeded"),
                "{out}"
            );
        }
        assert!(out.contains("[run ] verify-upload (customer)"), "{out}");
        assert!(out.contains("[run ] import (operator)"), "{out}");
        assert_eq!(tree(env.tmp.path()), files, "{flags:?}: no file was written");
        assert_eq!(db_state(&env), dbs, "{flags:?}: no database changed");
    }

    // The runbook shows the same: done, next, who, and the commands.
    let rb = expect(
        &env.run(&["runbook", &format!("--config={}", cfg.display())]),
        0,
        "runbook",
    );
    assert!(
        rb.contains("Progress: 5 of 14 steps done; next: verify-upload (the customer)"),
        "{rb}"
    );
    assert!(rb.contains("[x]  5. upload"), "{rb}");
    assert!(rb.contains("[ ]  6. verify-upload"), "{rb}");
    assert!(
        rb.contains(&format!(
            "$ src-snapshot verify -bucket=file://{} -dir={}",
            env.bucket().display(),
            env.path("src-snapshot").display()
        )),
        "{rb}"
    );
    assert!(rb.contains("OPERATOR — the operator"), "{rb}");
    assert!(
        rb.contains(&format!(
            "PGPASSWORD=\"$TARGET_DB_PW\" src-snapshot import -bucket=file://{}",
            env.bucket().display()
        )),
        "{rb}"
    );
}

// ---- the config ------------------------------------------------------------------

#[test]
fn a_bad_config_is_refused_with_its_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = tmp.path().join("migration.yaml");
    std::fs::write(
        &p,
        "side: customer\nsource:\n  instance:\n    endpoint: https://sg.example.com\n    token: sgp_0123\n",
    )
    .expect("write");
    let out = common::cmd()
        .args(["migrate", &format!("--config={}", p.display())])
        .output()
        .expect("run");
    let err = expect(&out, 2, "bad config");
    assert!(err.contains(&format!("{}:5:", p.display())), "{err}");
    assert!(err.contains("unknown field `token`"), "{err}");
    assert!(err.contains("token_env"), "{err}");
    assert!(!err.contains("sgp_0123"), "the token is not echoed: {err}");

    let out = common::cmd()
        .args([
            "migrate",
            &format!("--config={}", tmp.path().join("none.yaml").display()),
        ])
        .output()
        .expect("run");
    let err = expect(&out, 2, "missing config");
    assert!(err.contains("cannot read the migration config"), "{err}");

    std::fs::write(&p, "side: customer\n").expect("write");
    let out = common::cmd()
        .args([
            "migrate",
            &format!("--config={}", p.display()),
            "--from-step=import",
        ])
        .output()
        .expect("run");
    let err = expect(&out, 2, "a step of the other side");
    assert!(err.contains("unknown step \"import\" for side customer"), "{err}");
}

// ---- report.html in a real browser ------------------------------------------------

fn find_chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|c| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(c))
                    .find(|p| p.is_file())
            })
        })
}

fn chromium() -> PathBuf {
    find_chromium().unwrap_or_else(|| {
        panic!(
            "chromium is not installed: run scripts/install-deps as root (it installs Debian's chromium), \
             or `apt-get install -y chromium`"
        )
    })
}

fn headless(args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("home");
    let mut c = std::process::Command::new(chromium());
    c.args([
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ]);
    if testkit::is_root() {
        c.arg("--no-sandbox");
    }
    c.arg(format!("--user-data-dir={}", home.path().display()))
        .args(args)
        .env("HOME", home.path());
    let out = c.output().expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        testkit::describe_output(&out)
    );
    out
}

#[test]
fn report_html_renders_in_headless_chromium() {
    let f = two_party_migration();
    let html_path = f.operator_dir.join("report.html");
    let html = std::fs::read_to_string(&html_path).expect("report.html");
    // Self-contained: nothing to fetch.
    for needle in [" src=", " href=", "url(", "@import", "<script", "<link"] {
        assert!(!html.contains(needle), "report.html loads something: {needle}");
    }
    let url = format!("file://{}", html_path.display());
    if find_chromium().is_none() && !testkit::is_root() {
        // Debian's chromium needs root to install (scripts/install-deps does it
        // as root, as CI runs). A normal user without it gets the page's
        // structure checked instead, and is told so.
        eprintln!(
            "NOTE: chromium is not installed and cannot be without root: report.html is checked as a \
             document, not rendered. Install it with `apt-get install -y chromium` to render it."
        );
        for id in [
            "timeline",
            "databases",
            "tables-pgsql",
            "transfer",
            "sanitizer",
            "acceptance",
        ] {
            assert!(
                html.contains(&format!("id=\"{id}\"")),
                "no table #{id} in report.html"
            );
        }
        assert!(
            html.contains("public.repo") && html.contains("equal"),
            "per-table rows and verdicts"
        );
        return;
    }

    let png = f.env.path("report.png");
    headless(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1280,1800",
        &url,
    ]);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).expect("png")));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!((info.width, info.height), (1280, 1800));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let mut counts: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for p in &pixels {
        *counts.entry(p[..3].to_vec()).or_default() += 1;
    }
    let most = counts.values().max().copied().unwrap_or(0);
    let other = pixels.len() - most;
    assert!(
        other * 100 / pixels.len() >= 5,
        "the page is (nearly) blank: {other} of {} pixels differ from the background",
        pixels.len()
    );
    assert!(
        counts.len() > 30,
        "only {} colours: no text or tables drawn",
        counts.len()
    );
    // The header band is drawn in its dark colour, the badges in green.
    let at = |x: usize, y: usize| pixels[y * info.width as usize + x][..3].to_vec();
    assert_eq!(at(5, 5), vec![0x1d, 0x23, 0x30], "the header is drawn");
    assert!(
        counts.contains_key(&vec![0x1a, 0x7f, 0x37]),
        "green 'equal' badges are drawn"
    );

    let dom = text(&headless(&["--dump-dom", &url]).stdout);
    for id in [
        "timeline",
        "databases",
        "tables-pgsql",
        "tables-codeintel",
        "tables-codeinsights",
        "transfer",
        "sanitizer",
        "acceptance",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "no table #{id} in the DOM");
    }
    assert!(dom.contains("public.repo"), "the per-table rows are there");
    let rows = dom.matches("<tr>").count();
    let tables: usize = f.report["databases"]
        .as_array()
        .expect("dbs")
        .iter()
        .map(|d| d["table_rows"].as_array().expect("rows").len())
        .sum();
    assert!(rows > tables, "{rows} rows for {tables} tables");
    assert!(dom.contains("equal"), "the verdict is shown");
}

// ---- kill -9 at seeded points, then --resume -------------------------------

/// The whole migration killed (`SIGKILL`) inside each long step (at a
/// seeded moment after the journal says it started), each time resumed with
/// `--resume`: the journal stays readable after every kill, and the last run
/// finishes with a complete, equal report.
#[test]
fn killed_at_seeded_points_then_resume_finishes_equal() {
    let env = Env::new("migkill", false);
    std::fs::create_dir_all(env.bucket()).expect("bucket");
    let cfg = env.config("migration.yaml", "both", "src-snapshot");
    let journal_path = env.path("src-snapshot").join(migrate::JOURNAL_FILE);
    let running = |step: &str| -> bool {
        std::fs::read(&journal_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|j| j["steps"].as_array().cloned())
            .is_some_and(|steps| {
                steps
                    .iter()
                    .any(|s| s["step"] == step && s["status"] == "running")
            })
    };
    let spawn = |resume: bool| {
        let mut c = common::cmd();
        c.current_dir(env.tmp.path())
            .arg("migrate")
            .arg(format!("--config={}", cfg.display()))
            .env("SG_SOURCE_TOKEN", TOKEN)
            .env("TARGET_DB_PW", &env.tgt.password)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if resume {
            c.arg("--resume");
        }
        c.spawn().expect("spawn migrate")
    };
    let mut seed: u64 = 0x005e_ed0f_c1a0;
    let mut kills = 0;
    let mut killed_in = Vec::new();
    for (i, step) in [
        "databases",
        "upload",
        "verify-upload",
        "reset",
        "import",
        "compare",
    ]
    .into_iter()
    .enumerate()
    {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut child = spawn(i > 0);
        let started = std::time::Instant::now();
        // Until the step runs (or the run ends: the step was done already).
        while !running(step) && child.try_wait().expect("wait").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{step} never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis((seed >> 33) % 150));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill");
            kills += 1;
            killed_in.push(step);
        }
        child.wait().expect("reap");
        // Whole after every kill: the journal is written by rename.
        let j = read_json(&journal_path);
        assert!(j["steps"].is_array(), "{j}");
    }
    let out = env.migrate(&cfg, &["--resume"]);
    expect(&out, 0, "the run after the kills");
    assert!(
        kills >= 3,
        "only {kills} kills landed in a running migration: {killed_in:?}"
    );
    eprintln!("killed {kills} times, in {killed_in:?}");
    let mut report = read_json(&env.path("src-snapshot").join("report.json"));
    // An import resumed after a kill loads only what was left: the report
    // says what earlier attempts loaded.
    let import = &mut report["transfer"]["import"];
    let earlier = import["earlier_bytes"].as_u64().unwrap_or(0);
    let now = import["bytes"].as_u64().expect("import bytes");
    assert!(now + earlier > 0, "{import}");
    import["bytes"] = (now + earlier).into();
    assert_complete_report(&report, "after kills");
}
