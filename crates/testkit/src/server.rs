//! Real PostgreSQL servers on 127.0.0.1 for tests.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::{
    describe_output, file_tail, is_root, pg_user, psql_path, quote_ident, quote_literal, random_hex,
    server_bin_dir, url_component, HARNESS_CLIENT_MAJOR,
};

const SUPERUSER: &str = "postgres";
const HOST: &str = "127.0.0.1";
const START_ATTEMPTS: usize = 5;
const LOG_TAIL_LINES: usize = 40;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A running PostgreSQL server on `127.0.0.1:<free port>`, owned by the test.
///
/// `start()`ed servers are stopped and deleted on drop; `shared()` servers live
/// until the test process exits, when a detached watchdog stops and deletes them.
pub struct PgServer {
    major: u32,
    version: String,
    port: u16,
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    /// Watchdog process and the write end of its stdin pipe: closing the pipe
    /// (on drop, or when the test process dies) makes it stop the server.
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("version", &self.version)
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish()
    }
}

impl PgServer {
    /// Start a fresh cluster of PostgreSQL `major`; stopped and deleted on drop.
    pub fn start(major: u32) -> PgServer {
        let bin = server_bin_dir(major);
        let version = binary_version(major, &bin);
        let template = template_dir(&version, &bin);
        let base = base_dir();
        sweep_stale(&base);

        let dir = base.join(format!(
            "srv-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            random_hex(3)
        ));
        make_pg_owned_dir(&dir);
        let data = dir.join("data");
        let watchdog = spawn_watchdog(&dir, &data, &bin);
        let server = PgServer {
            major,
            version: version.clone(),
            port: 0,
            dir,
            data,
            bin,
            watchdog: Mutex::new(Some(watchdog)),
        };
        // From here on `server`'s Drop cleans up if anything below panics.
        server.init_from_template(&template);
        server.launch()
    }

    /// The shared server of PostgreSQL `major` for this test process (started on first use).
    pub fn shared(major: u32) -> &'static PgServer {
        static SHARED: OnceLock<Mutex<HashMap<u32, &'static OnceLock<PgServer>>>> = OnceLock::new();
        let cell: &'static OnceLock<PgServer> = {
            let mut map = SHARED
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.entry(major)
                .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
        };
        // Statics are never dropped; the watchdog stops it when the process exits.
        cell.get_or_init(|| PgServer::start(major))
    }

    /// Major version (e.g. 16).
    pub fn major(&self) -> u32 {
        self.major
    }

    /// Full version, e.g. "16.14".
    pub fn version(&self) -> String {
        self.version.clone()
    }

    /// Host to connect to (always 127.0.0.1).
    pub fn host(&self) -> &str {
        HOST
    }

    /// TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Superuser name (`postgres`, trusted from 127.0.0.1).
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// `postgres://user@127.0.0.1:port/db` (never with a password).
    pub fn url(&self, user: &str, db: &str) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            url_component(user),
            HOST,
            self.port,
            url_component(db)
        )
    }

    /// Directory holding the data dir, log file and unix socket.
    pub fn server_dir(&self) -> &Path {
        &self.dir
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Directory of the unix socket (`-h` value for socket connections).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The server log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log_path(), lines)
    }

    /// Server `bin` directory (initdb, pg_ctl, postgres).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Process id of the postmaster (from `postmaster.pid`), if running.
    pub fn postmaster_pid(&self) -> Option<u32> {
        read_postmaster_pid(&self.data)
    }

    /// Run SQL as the superuser via psql (client 16, `-X -q -A -t -v ON_ERROR_STOP=1`)
    /// and return stdout; panics with stderr on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.try_psql(db, sql);
        if !out.status.success() {
            panic!(
                "testkit: psql as {SUPERUSER} on {} db {db:?} failed: {}\n--- sql ---\n{}",
                self.label(),
                describe_output(&out),
                truncate(sql, 2000)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Like [`PgServer::psql`] but returns the raw output instead of panicking.
    pub fn try_psql(&self, db: &str, sql: &str) -> Output {
        let mut cmd = psql_command(HARNESS_CLIENT_MAJOR, HOST, self.port, SUPERUSER, db);
        cmd.args(["-q", "-A", "-t"]);
        run_with_stdin(cmd, sql)
    }

    /// Run an SQL file as the superuser (`ON_ERROR_STOP`); panics on failure.
    pub fn psql_file(&self, db: &str, file: &Path) {
        let mut cmd = psql_command(HARNESS_CLIENT_MAJOR, HOST, self.port, SUPERUSER, db);
        cmd.arg("-q").arg("-f").arg(file).stdin(Stdio::null());
        let out = output_of(cmd);
        if !out.status.success() {
            panic!(
                "testkit: psql -f {} on {} db {db:?} failed: {}",
                file.display(),
                self.label(),
                describe_output(&out)
            );
        }
    }

    /// Create database `name` as the superuser, dropping it first if it exists.
    pub fn create_database(&self, name: &str) {
        self.drop_database(name);
        self.psql("postgres", &format!("CREATE DATABASE {};\n", quote_ident(name)));
    }

    /// Drop database `name` if it exists, disconnecting its sessions first.
    pub fn drop_database(&self, name: &str) {
        self.psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = {} AND pid <> pg_backend_pid();\n\
                 DROP DATABASE IF EXISTS {};\n",
                quote_literal(name),
                quote_ident(name)
            ),
        );
    }

    /// Create a Cloud-SQL-like database: a non-superuser LOGIN role (random
    /// password, member of `cloudsqlsuperuser`) owning a fresh database `name`.
    /// The role is named `<name>_owner`.
    pub fn create_cloudsql_database(&self, name: &str) -> CloudSqlDb {
        let user = format!("{name}_owner");
        assert!(
            user.len() <= 63,
            "testkit: role name {user:?} is longer than 63 bytes; use a shorter database name"
        );
        let password = random_hex(16);
        self.drop_database(name);
        let sql = format!(
            // Parallel tests race to create the shared group role: the
            // loser's duplicate error is expected and ignored.
            "DO $$ BEGIN\n\
               CREATE ROLE cloudsqlsuperuser NOLOGIN CREATEDB CREATEROLE;\n\
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;\n\
             END $$;\n\
             DROP ROLE IF EXISTS {u};\n\
             CREATE ROLE {u} LOGIN PASSWORD {p} NOSUPERUSER CREATEDB CREATEROLE IN ROLE cloudsqlsuperuser;\n\
             CREATE DATABASE {d} OWNER {u};\n",
            u = quote_ident(&user),
            p = quote_literal(&password),
            d = quote_ident(name),
        );
        let out = self.try_psql("postgres", &sql);
        if !out.status.success() {
            // The SQL holds the password: report only psql's (redacted) output.
            panic!(
                "testkit: creating Cloud-SQL-like database {name:?} on {} failed: {}",
                self.label(),
                describe_output(&out).replace(&password, "***")
            );
        }
        CloudSqlDb {
            host: HOST.to_string(),
            port: self.port,
            user,
            password,
            dbname: name.to_string(),
        }
    }

    /// A name unique within this test process: `<prefix>_<pid>_<counter>`.
    pub fn unique_name(&self, prefix: &str) -> String {
        unique_name(prefix)
    }

    fn label(&self) -> String {
        format!("PostgreSQL {} on port {}", self.version, self.port)
    }

    fn init_from_template(&self, template: &Path) {
        let out = output_of(as_pg_user(
            Command::new("cp")
                .arg("-a")
                .arg(template.join("data"))
                .arg(&self.data),
            &self.dir,
        ));
        if !out.status.success() {
            panic!(
                "testkit: copying template {} failed: {}",
                template.display(),
                describe_output(&out)
            );
        }
        let conf = format!(
            "\n# added by testkit\n\
             listen_addresses = '{HOST}'\n\
             unix_socket_directories = {sock}\n\
             max_connections = 100\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             password_encryption = 'scram-sha-256'\n",
            sock = quote_literal(&self.dir.to_string_lossy()),
        );
        append_file(&self.data.join("postgresql.conf"), &conf);
        let hba = "# written by testkit: only the superuser is trusted\n\
                   local all postgres trust\n\
                   local all all scram-sha-256\n\
                   host all postgres 127.0.0.1/32 trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n\
                   host all postgres ::1/128 trust\n\
                   host all all ::1/128 scram-sha-256\n";
        std::fs::write(self.data.join("pg_hba.conf"), hba)
            .unwrap_or_else(|e| panic!("testkit: writing pg_hba.conf: {e}"));
    }

    /// Pick a port and `pg_ctl start`, retrying when the port was taken meanwhile.
    fn launch(mut self) -> PgServer {
        let log = self.log_path();
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            append_file(&self.data.join("postgresql.conf"), &format!("port = {port}\n"));
            let mut pg_ctl = Command::new(self.bin.join("pg_ctl"));
            pg_ctl
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "start"]);
            // Own session: a Ctrl-C on the test run must not hit the postmaster
            // before the watchdog can clean up.
            let mut cmd = Command::new("setsid");
            cmd.arg(pg_ctl.get_program()).args(pg_ctl.get_args());
            let out = output_of(as_pg_user(&mut cmd, &self.dir));
            if out.status.success() {
                self.port = port;
                self.check_version();
                return self;
            }
            let tail = file_tail(&log, LOG_TAIL_LINES);
            last_failure = format!("{}\n--- server log tail ---\n{tail}", describe_output(&out));
            if !(tail.contains("could not bind") || tail.contains("already in use")) {
                break;
            }
            // Port collision: the failed postmaster left nothing running; try another.
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "testkit: starting PostgreSQL {} in {} failed: {last_failure}",
            self.version,
            self.data.display()
        );
    }

    fn check_version(&mut self) {
        let v = self.psql("postgres", "SHOW server_version;");
        let v = v.split_whitespace().next().unwrap_or_default().to_string();
        if major_of(&v) != Some(self.major) {
            panic!(
                "testkit: server in {} reports version {v:?}, expected major {}",
                self.bin.display(),
                self.major
            );
        }
        self.version = v;
    }

    /// Restarts the server with a fast shutdown (open sessions are cut, as
    /// in a failover or a managed instance's maintenance), on the same port.
    pub fn restart(&self) {
        let mut pg_ctl = Command::new(self.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "-m", "fast", "restart"]);
        let mut cmd = Command::new("setsid");
        cmd.arg(pg_ctl.get_program()).args(pg_ctl.get_args());
        let out = output_of(as_pg_user(&mut cmd, &self.dir));
        assert!(
            out.status.success(),
            "testkit: restarting {} failed: {}",
            self.label(),
            describe_output(&out)
        );
    }

    /// Stop synchronously with pg_ctl (used when the watchdog did not do it).
    fn stop_directly(&self) {
        if !self.data.join("postmaster.pid").exists() {
            return;
        }
        for mode in ["fast", "immediate"] {
            let out = output_of(as_pg_user(
                Command::new(self.bin.join("pg_ctl"))
                    .arg("-D")
                    .arg(&self.data)
                    .args(["-w", "-t", "30", "-m", mode, "stop"]),
                &self.dir,
            ));
            if out.status.success() {
                return;
            }
            eprintln!(
                "testkit: pg_ctl stop -m {mode} for {} failed: {}",
                self.data.display(),
                describe_output(&out)
            );
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let watchdog = self.watchdog.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((mut child, stdin)) = watchdog {
            // EOF on its stdin makes the watchdog stop the server and delete the dir.
            drop(stdin);
            if let Err(e) = child.wait() {
                eprintln!("testkit: waiting for the server watchdog failed: {e}");
            }
        }
        if self.dir.exists() {
            self.stop_directly();
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                eprintln!("testkit: removing {} failed: {e}", self.dir.display());
            }
        }
    }
}

/// A Cloud-SQL-like database: owned by a password-authenticated non-superuser.
#[derive(Clone)]
pub struct CloudSqlDb {
    /// Server host (127.0.0.1).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Owning login role (NOSUPERUSER CREATEDB CREATEROLE, in cloudsqlsuperuser).
    pub user: String,
    /// The role's password (pass it to children only via PGPASSWORD or stdin).
    pub password: String,
    /// Database name.
    pub dbname: String,
}

impl std::fmt::Debug for CloudSqlDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudSqlDb")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("dbname", &self.dbname)
            .finish()
    }
}

impl CloudSqlDb {
    /// `postgres://user@host:port/dbname` (never with a password).
    pub fn url(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            url_component(&self.user),
            self.host,
            self.port,
            url_component(&self.dbname)
        )
    }

    /// Environment for libpq clients: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
    pub fn libpq_env(&self) -> Vec<(String, String)> {
        vec![
            ("PGHOST".into(), self.host.clone()),
            ("PGPORT".into(), self.port.to_string()),
            ("PGUSER".into(), self.user.clone()),
            ("PGPASSWORD".into(), self.password.clone()),
            ("PGDATABASE".into(), self.dbname.clone()),
        ]
    }

    /// A copy with another password (for wrong-password tests).
    pub fn with_password(&self, password: &str) -> CloudSqlDb {
        CloudSqlDb {
            password: password.to_string(),
            ..self.clone()
        }
    }

    /// `psql -X -v ON_ERROR_STOP=1 -f file` as this user with client `client_major`
    /// (password via PGPASSWORD); returns the raw output.
    pub fn psql_file(&self, client_major: u32, file: &Path) -> Output {
        let mut cmd = psql_command(client_major, &self.host, self.port, &self.user, &self.dbname);
        cmd.env("PGPASSWORD", &self.password)
            .arg("-f")
            .arg(file)
            .stdin(Stdio::null());
        output_of(cmd)
    }

    /// Run SQL as this user (client 16, `-X -q -A -t -v ON_ERROR_STOP=1`) and return
    /// stdout; panics with stderr on failure.
    pub fn psql(&self, sql: &str) -> String {
        let out = self.try_psql(sql);
        if !out.status.success() {
            panic!(
                "testkit: psql as {} on {}:{} db {:?} failed: {}\n--- sql ---\n{}",
                self.user,
                self.host,
                self.port,
                self.dbname,
                describe_output(&out).replace(&self.password, "***"),
                truncate(sql, 2000)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Like [`CloudSqlDb::psql`] but returns the raw output instead of panicking.
    pub fn try_psql(&self, sql: &str) -> Output {
        let mut cmd = psql_command(
            HARNESS_CLIENT_MAJOR,
            &self.host,
            self.port,
            &self.user,
            &self.dbname,
        );
        cmd.env("PGPASSWORD", &self.password).args(["-q", "-A", "-t"]);
        run_with_stdin(cmd, sql)
    }
}

/// A name unique within this test process: `<prefix>_<pid>_<counter>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// psql with a clean libpq environment (no PG* from the caller) and ON_ERROR_STOP.
fn psql_command(client_major: u32, host: &str, port: u16, user: &str, db: &str) -> Command {
    let mut cmd = Command::new(psql_path(client_major));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(k);
        }
    }
    cmd.env("PGCONNECT_TIMEOUT", "10")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-h", host, "-p"])
        .arg(port.to_string())
        .args(["-U", user, "-d", db]);
    cmd
}

/// Run `cmd` feeding `input` on stdin from a thread (no pipe deadlock on big output).
fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("testkit: cannot run {:?}: {e}", cmd.get_program()));
    let mut stdin = child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("testkit: child stdin missing"));
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        // A failed write means the child exited early; its status says why.
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("testkit: waiting for {:?}: {e}", cmd.get_program()));
    let _ = writer.join();
    out
}

fn output_of(mut cmd: Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("testkit: cannot run {:?}: {e}", cmd.get_program()))
}

/// Wrap a command so it runs as the PostgreSQL account (runuser when root), in `cwd`.
fn as_pg_user(cmd: &mut Command, cwd: &Path) -> Command {
    let mut out = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", &pg_user(), "--"])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        c
    } else {
        let mut c = Command::new(cmd.get_program());
        c.args(cmd.get_args());
        c
    };
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => out.env(k, v),
            None => out.env_remove(k),
        };
    }
    // The PG account may not be able to enter the caller's cwd (e.g. under /root).
    out.current_dir(cwd);
    out
}

/// Where this uid's clusters live: `$SRC_SNAPSHOT_TESTKIT_DIR` or `$TMPDIR/src-snapshot-testkit-<uid>`.
fn base_dir() -> PathBuf {
    let base = match std::env::var_os("SRC_SNAPSHOT_TESTKIT_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("src-snapshot-testkit-{}", crate::effective_uid())),
    };
    if let Err(e) = std::fs::create_dir_all(&base) {
        panic!("testkit: cannot create {}: {e}", base.display());
    }
    if is_root() {
        // The PG account must be able to traverse it (children are chowned to it).
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755));
    }
    base
}

/// Create `dir` owned by the PostgreSQL account (chown when root).
fn make_pg_owned_dir(dir: &Path) {
    if let Err(e) = std::fs::create_dir(dir) {
        panic!("testkit: cannot create {}: {e}", dir.display());
    }
    if is_root() {
        let user = pg_user();
        let out = output_of({
            let mut c = Command::new("chown");
            c.arg(format!("{user}:")).arg(dir);
            c
        });
        if !out.status.success() {
            panic!(
                "testkit: chown {user} {} failed (does the user exist? scripts/install-deps creates it): {}",
                dir.display(),
                describe_output(&out)
            );
        }
        let probe = output_of(as_pg_user(
            Command::new("test").arg("-w").arg(dir),
            Path::new("/"),
        ));
        if !probe.status.success() {
            panic!(
                "testkit: user {user} cannot write {}; point TMPDIR or SRC_SNAPSHOT_TESTKIT_DIR \
                 at a directory it can reach",
                dir.display()
            );
        }
    }
}

/// Version string of the installed server binary, e.g. "16.14" (cached per major).
fn binary_version(major: u32, bin: &Path) -> String {
    static CACHE: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    let mut map = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(v) = map.get(&major) {
        return v.clone();
    }
    let out = output_of({
        let mut c = Command::new(bin.join("postgres"));
        c.arg("--version");
        c
    });
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 16.14"
    let v = text.split_whitespace().nth(2).unwrap_or_default().to_string();
    if !out.status.success() || major_of(&v) != Some(major) {
        panic!(
            "testkit: {}/postgres --version did not report major {major}: {}",
            bin.display(),
            describe_output(&out)
        );
    }
    map.insert(major, v.clone());
    v
}

fn major_of(version: &str) -> Option<u32> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
}

/// An initdb'd cluster for `version`, made once and shared by all test
/// processes; built in a scratch dir and renamed into place so racing
/// processes never see a half-written template.
fn template_dir(version: &str, bin: &Path) -> PathBuf {
    let base = base_dir();
    let dir = base.join(format!("template-{version}"));
    if dir.join("data").join("PG_VERSION").is_file() {
        return dir;
    }
    let scratch = base.join(format!(
        "tmp-template-{version}-{}-{}",
        std::process::id(),
        random_hex(4)
    ));
    make_pg_owned_dir(&scratch);
    let out = output_of(as_pg_user(
        Command::new(bin.join("initdb"))
            .arg("-D")
            .arg(scratch.join("data"))
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "-N"]),
        &scratch,
    ));
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&scratch);
        panic!(
            "testkit: initdb ({}) failed: {}",
            bin.display(),
            describe_output(&out)
        );
    }
    if std::fs::rename(&scratch, &dir).is_err() {
        // Another process won the race; use its template.
        let _ = std::fs::remove_dir_all(&scratch);
        if !dir.join("data").join("PG_VERSION").is_file() {
            panic!("testkit: template {} is incomplete", dir.display());
        }
    }
    dir
}

/// Start the detached watchdog that stops the server and deletes `dir` once its
/// stdin reaches EOF, i.e. when we drop the pipe or the test process dies.
fn spawn_watchdog(dir: &Path, data: &Path, bin: &Path) -> (Child, ChildStdin) {
    let pg_ctl = bin.join("pg_ctl");
    let mut stop: Vec<String> = Vec::new();
    if is_root() {
        stop.extend(["runuser".into(), "-u".into(), pg_user(), "--".into()]);
    }
    stop.push(pg_ctl.to_string_lossy().into_owned());
    stop.extend(["-D".into(), data.to_string_lossy().into_owned()]);
    stop.extend(["-w".into(), "-t".into(), "30".into()]);
    let script = "cat >/dev/null; d=$1; shift; \
                  if [ -f \"$d/data/postmaster.pid\" ]; then \
                    \"$@\" -m fast stop || \"$@\" -m immediate stop; \
                  fi; rm -rf \"$d\"";
    let mut cmd = Command::new("setsid");
    cmd.args(["sh", "-c", script, "testkit-watchdog"])
        .arg(dir)
        .args(&stop)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("testkit: cannot spawn watchdog (setsid sh): {e}; is util-linux installed?")
    });
    let stdin = child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("testkit: watchdog stdin missing"));
    (child, stdin)
}

/// Remove server dirs left by dead test processes whose postmaster is not running.
fn sweep_stale(base: &Path) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let Ok(entries) = std::fs::read_dir(base) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("srv-")
                .or_else(|| name.strip_prefix("tmp-template-"))
                .and_then(|rest| {
                    // srv-<pid>-..., tmp-template-<version>-<pid>-...: the first
                    // all-digit segment is the pid (a version has a dot).
                    rest.split('-')
                        .find(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
                        .and_then(|p| p.parse::<u32>().ok())
                });
            let Some(pid) = pid else { continue };
            if pid == std::process::id() || crate::process_running(pid) {
                continue;
            }
            let path = entry.path();
            if read_postmaster_pid(&path.join("data")).is_some_and(crate::process_running) {
                continue;
            }
            let _ = std::fs::remove_dir_all(&path);
        }
    });
}

fn read_postmaster_pid(data: &Path) -> Option<u32> {
    std::fs::read_to_string(data.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Bind 127.0.0.1:0 and return the port the kernel picked.
fn free_port() -> u16 {
    let listener =
        TcpListener::bind((HOST, 0)).unwrap_or_else(|e| panic!("testkit: cannot bind {HOST}:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("testkit: local_addr: {e}"))
        .port()
}

fn append_file(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("testkit: cannot open {}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("testkit: cannot write {}: {e}", path.display()));
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
