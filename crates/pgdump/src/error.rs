//! Errors of running pg_dump or psql, read from the child's exit status and
//! stderr.

use std::fmt;
use std::io::Read;
use std::process::ExitStatus;

use crate::role::{DbRole, Mode};

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl ExitInfo {
    pub(crate) fn from_status(status: ExitStatus) -> ExitInfo {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(c), _) => ExitInfo::Code(c),
            (None, Some(s)) => ExitInfo::Signal(s),
            (None, None) => ExitInfo::Code(-1),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitInfo::Code(c) => write!(f, "exit code {c}"),
            ExitInfo::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Why a dump (pg_dump) or a restore (psql) failed. Messages and fields never
/// hold a password: stderr is scrubbed before it is kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// The program could not be found (here, or inside the container/pod).
    #[error("{program} not found: {hint}")]
    ProgramNotFound {
        /// The program.
        program: String,
        /// What to do about it.
        hint: String,
    },
    /// pg_dump is older than the server and refused to run.
    #[error("{role}: pg_dump {pg_dump} cannot dump a {server} server: {hint}")]
    ServerVersionMismatch {
        /// The database.
        role: DbRole,
        /// Server version as pg_dump reported it.
        server: String,
        /// pg_dump's own version.
        pg_dump: String,
        /// What to do about it.
        hint: String,
    },
    /// The server refused the login.
    #[error("{role}: authentication failed for user {user:?} on database {dbname:?}: {detail}")]
    AuthenticationFailed {
        /// The database.
        role: DbRole,
        /// The user.
        user: String,
        /// The database name.
        dbname: String,
        /// The server's message.
        detail: String,
    },
    /// The database does not exist on the server.
    #[error("{role}: database {dbname:?} does not exist: {detail}")]
    DatabaseNotFound {
        /// The database.
        role: DbRole,
        /// The database name.
        dbname: String,
        /// The server's message.
        detail: String,
    },
    /// The user may not read part of the database (pg_dump needs to read
    /// every table and sequence it dumps).
    #[error("{role}: user {user:?} may not read everything in database {dbname:?}: {detail}")]
    PermissionDenied {
        /// The database.
        role: DbRole,
        /// The user.
        user: String,
        /// The database name.
        dbname: String,
        /// The server's message.
        detail: String,
    },
    /// The server could not be reached.
    #[error("{role}: cannot connect to {}: {detail}", fmt_host(host, *port))]
    ConnectionFailed {
        /// The database.
        role: DbRole,
        /// The host (empty: libpq's default).
        host: String,
        /// The port, if configured.
        port: Option<u16>,
        /// libpq's message.
        detail: String,
    },
    /// docker or kubectl could not reach the container or pod.
    #[error("{role}: {program} cannot reach {target:?}: {detail}")]
    TargetUnavailable {
        /// The database.
        role: DbRole,
        /// docker or kubectl.
        program: String,
        /// The container or pod.
        target: String,
        /// The tool's message.
        detail: String,
    },
    /// A statement of the restored file failed (psql, ON_ERROR_STOP).
    #[error("{role}: restore stopped at line {}: {message}", line.map_or_else(|| "?".to_string(), |l| l.to_string()))]
    StatementFailed {
        /// The database.
        role: DbRole,
        /// Line in the dump file.
        line: Option<u64>,
        /// psql's message (ERROR plus any DETAIL/HINT lines).
        message: String,
    },
    /// psql does not know a meta-command of the dump (e.g. `\restrict`).
    #[error("{role}: psql does not understand line {}: {message}; {hint}", line.map_or_else(|| "?".to_string(), |l| l.to_string()))]
    PsqlTooOld {
        /// The database.
        role: DbRole,
        /// Line in the dump file.
        line: Option<u64>,
        /// psql's message.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// Any other failure.
    #[error("{role}: {program} failed ({status}){}", fmt_tail(stderr_tail))]
    Failed {
        /// The database.
        role: DbRole,
        /// The program that ran.
        program: String,
        /// How it ended.
        status: ExitInfo,
        /// The end of its stderr, passwords replaced by `***`.
        stderr_tail: String,
    },
    /// Reading, writing or starting failed locally.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

fn fmt_host(host: &str, port: Option<u16>) -> String {
    let host = if host.is_empty() { "the default host" } else { host };
    match port {
        Some(p) => format!("{host} port {p}"),
        None => host.to_string(),
    }
}

/// The last few stderr lines, for the one-line message.
fn fmt_tail(tail: &str) -> String {
    let lines: Vec<&str> = tail.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(5);
    format!(": {}", lines[start..].join(" | "))
}

/// Bytes of stderr kept from the start and from the end.
const HEAD_BYTES: usize = 16 * 1024;
const TAIL_BYTES: usize = 64 * 1024;

/// stderr of a child, bounded: the first 16 KiB and the last 64 KiB.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    omitted: u64,
}

impl Captured {
    /// Drain `r` to its end (on its own thread, so the child never blocks on
    /// a full stderr pipe).
    pub(crate) fn drain(mut r: impl Read) -> Captured {
        let mut c = Captured::default();
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => c.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        c
    }

    fn push(&mut self, mut data: &[u8]) {
        if self.head.len() < HEAD_BYTES {
            let n = (HEAD_BYTES - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        self.tail.extend(data);
        let excess = self.tail.len().saturating_sub(TAIL_BYTES);
        if excess > 0 {
            self.tail.drain(..excess);
            self.omitted += excess as u64;
        }
    }

    /// The kept text, with `secret` (if any) replaced by `***`.
    pub(crate) fn text(&self, secret: Option<&str>) -> String {
        let mut s = String::from_utf8_lossy(&self.head).into_owned();
        if self.omitted > 0 {
            s.push_str(&format!("\n[… {} bytes of stderr omitted …]\n", self.omitted));
        }
        let (a, b) = self.tail.as_slices();
        let mut tail = a.to_vec();
        tail.extend_from_slice(b);
        s.push_str(&String::from_utf8_lossy(&tail));
        scrub(&s, secret)
    }
}

/// Replace every occurrence of `secret` in `text` with `***`.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text.to_string(),
    }
}

/// What the classifier needs to know about the command that ran.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub role: DbRole,
    pub mode: Mode,
    /// argv[0]: pg_dump/psql in pg_dump mode, else docker/kubectl.
    pub program: String,
    /// pg_dump or psql, as run (inside the container in docker/kubectl mode).
    pub tool: String,
    pub target: String,
    pub username: String,
    pub dbname: String,
    pub port: Option<u16>,
    /// Only used to scrub stderr.
    pub secret: Option<String>,
}

impl Context {
    pub(crate) fn program_not_found(&self, program: &str, inside: bool) -> DumpError {
        let tool = if self.tool.contains("psql") {
            "psql"
        } else {
            "pg_dump"
        };
        let hint = if inside {
            format!(
                "{program} is not installed (or not on PATH) in {}; run it elsewhere with pg_dump mode and a targets file",
                if self.target.is_empty() { "the target" } else { &self.target }
            )
        } else if program == "docker" {
            "install the Docker CLI, or use pg_dump mode with a targets file".to_string()
        } else if program == "kubectl" {
            "install kubectl and select the cluster context, or use pg_dump mode with a targets file"
                .to_string()
        } else {
            format!(
                "install the PostgreSQL client tools ({tool}) of the server's major version or newer, or give the full path to {tool}"
            )
        };
        DumpError::ProgramNotFound {
            program: program.to_string(),
            hint,
        }
    }

    /// Turn a failed exit into the most specific error stderr supports.
    pub(crate) fn classify(&self, status: ExitInfo, stderr: &str) -> DumpError {
        let role = self.role;
        if let Some((server, pg_dump)) = version_mismatch(stderr) {
            let major = server.split('.').next().unwrap_or(&server).to_string();
            return DumpError::ServerVersionMismatch {
                role,
                hint: format!(
                    "use pg_dump {major} or newer (pg_dump must be at least the server's major version)"
                ),
                server,
                pg_dump,
            };
        }
        for line in stderr.lines() {
            if line.contains("password authentication failed")
                || line.contains("no password supplied")
                || line.contains("no pg_hba.conf entry")
                || (line.contains("role \"") && line.contains("\" does not exist"))
                || line.contains("authentication failed for user")
            {
                let user = between(line, "for user \"", "\"")
                    .map(str::to_string)
                    .unwrap_or_else(|| self.username.clone());
                return DumpError::AuthenticationFailed {
                    role,
                    user,
                    dbname: self.dbname.clone(),
                    detail: server_message(line),
                };
            }
            if line.contains("FATAL:") && line.contains("database \"") && line.contains("\" does not exist") {
                return DumpError::DatabaseNotFound {
                    role,
                    dbname: self.dbname.clone(),
                    detail: server_message(line),
                };
            }
        }
        if !self.tool.contains("psql") {
            if let Some(line) = stderr
                .lines()
                .find(|l| l.starts_with("pg_dump:") && l.contains("ERROR:  permission denied"))
            {
                return DumpError::PermissionDenied {
                    role,
                    user: self.username.clone(),
                    dbname: self.dbname.clone(),
                    detail: strip_prefix(line),
                };
            }
        }
        if let Some(e) = self.container_error(status, stderr) {
            return e;
        }
        for line in stderr.lines() {
            let libpq = line.contains("Connection refused")
                || line.contains("could not translate host name")
                || line.contains("could not connect to server")
                || line.contains("Network is unreachable")
                || line.contains("No route to host")
                || line.contains("timeout expired")
                || line.contains("Connection timed out")
                || (line.contains("connection to server") && line.contains("failed"));
            if libpq {
                let host = if self.mode == Mode::PgDump {
                    self.target.clone()
                } else {
                    String::new()
                };
                return DumpError::ConnectionFailed {
                    role,
                    host,
                    port: self.port,
                    detail: strip_prefix(line),
                };
            }
        }
        if let Some((line, message)) = psql_error(stderr) {
            if message.contains("invalid command \\restrict")
                || message.contains("invalid command \\unrestrict")
            {
                return DumpError::PsqlTooOld {
                    role,
                    line,
                    message,
                    hint: "use psql 14.19, 15.14, 16.10, 17.6 or newer (they know \\restrict), or sanitize the dump first"
                        .to_string(),
                };
            }
            return DumpError::StatementFailed { role, line, message };
        }
        // psql reading plain stdin reports errors without a location.
        if self.tool.contains("psql") {
            if let Some(l) = stderr.lines().find(|l| l.starts_with("ERROR:")) {
                return DumpError::StatementFailed {
                    role,
                    line: None,
                    message: l["ERROR:".len()..].trim().to_string(),
                };
            }
        }
        DumpError::Failed {
            role,
            program: self.program.clone(),
            status,
            stderr_tail: stderr.to_string(),
        }
    }

    /// docker/kubectl failing before the tool ran, or the tool missing inside.
    fn container_error(&self, status: ExitInfo, stderr: &str) -> Option<DumpError> {
        if self.mode == Mode::PgDump {
            return None;
        }
        let tool_missing = stderr.lines().any(|l| {
            (l.contains("executable file not found")
                || l.contains("not found")
                || l.contains("No such file or directory"))
                && l.contains(self.tool.as_str())
        });
        if tool_missing && matches!(status, ExitInfo::Code(126 | 127)) {
            return Some(self.program_not_found(&self.tool, true));
        }
        let unavailable = [
            "No such container",
            "is not running",
            "Cannot connect to the Docker daemon",
            "Error from server (NotFound)",
            "error: unable to upgrade connection",
            "The connection to the server",
            "Unable to connect to the server",
            "error: you must be logged in",
            "couldn't get current server API group list",
            "does not have a host assigned",
            "container not found",
        ];
        let line = stderr
            .lines()
            .find(|l| unavailable.iter().any(|p| l.contains(p)))?;
        Some(DumpError::TargetUnavailable {
            role: self.role,
            program: self.program.clone(),
            target: self.target.clone(),
            detail: line.trim().to_string(),
        })
    }
}

/// `server version: 16.4; pg_dump version: 14.23` anywhere in stderr, when
/// pg_dump also says it aborted because of it.
fn version_mismatch(stderr: &str) -> Option<(String, String)> {
    if !stderr.contains("aborting because of server version mismatch") {
        return None;
    }
    let server = between(stderr, "server version: ", ";").map(|s| s.trim().to_string());
    let pg_dump = stderr.find("pg_dump version: ").map(|i| {
        stderr[i + "pg_dump version: ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    });
    Some((
        server.unwrap_or_else(|| "?".into()),
        pg_dump.unwrap_or_else(|| "?".into()),
    ))
}

/// The first `psql:FILE:LINE: ERROR:` (or `error:`) and its DETAIL/HINT
/// lines.
fn psql_error(stderr: &str) -> Option<(Option<u64>, String)> {
    let mut lines = stderr.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix("psql:") else {
            continue;
        };
        // rest = "FILE:LINE: ERROR:  message"; FILE may contain ':'.
        let Some(err_at) = rest.find(": ERROR:").or_else(|| rest.find(": error:")) else {
            continue;
        };
        let location = &rest[..err_at];
        let line_no = location.rsplit(':').next().and_then(|n| n.parse::<u64>().ok());
        let msg_start = err_at + ": ERROR:".len();
        let mut message = rest[msg_start..].trim().to_string();
        for more in lines.by_ref() {
            let t = more.trim_start();
            if t.starts_with("DETAIL:")
                || t.starts_with("HINT:")
                || t.starts_with("CONTEXT:")
                || t.starts_with("LINE ")
            {
                message.push_str(" | ");
                message.push_str(t);
            } else {
                break;
            }
        }
        return Some((line_no, message));
    }
    None
}

/// The server's part of a libpq message (`FATAL:  …`), else the whole line
/// without the program prefix.
fn server_message(line: &str) -> String {
    match line.find("FATAL:") {
        Some(i) => line[i..].split_whitespace().collect::<Vec<_>>().join(" "),
        None => strip_prefix(line),
    }
}

/// `pg_dump: error: x` → `x`.
fn strip_prefix(line: &str) -> String {
    let mut l = line.trim();
    for p in [
        "pg_dump: error: query failed: ",
        "pg_dump: error: ",
        "pg_dump: ",
        "psql: error: ",
        "psql: ",
    ] {
        if let Some(r) = l.strip_prefix(p) {
            l = r;
            break;
        }
    }
    l.to_string()
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(mode: Mode) -> Context {
        Context {
            role: DbRole::Pgsql,
            mode,
            program: match mode {
                Mode::PgDump => "pg_dump".into(),
                Mode::Docker => "docker".into(),
                Mode::Kubectl => "kubectl".into(),
            },
            tool: "pg_dump".into(),
            target: "db.example".into(),
            username: "sg".into(),
            dbname: "sg".into(),
            port: Some(5433),
            secret: Some("hunter2".into()),
        }
    }

    #[test]
    fn version_mismatch_both_layouts() {
        let new = "pg_dump: error: aborting because of server version mismatch\n\
                   pg_dump: detail: server version: 16.14; pg_dump version: 14.23\n";
        let old = "pg_dump: error: server version: 16.14; pg_dump version: 14.23\n\
                   pg_dump: error: aborting because of server version mismatch\n";
        for s in [new, old] {
            match ctx(Mode::PgDump).classify(ExitInfo::Code(1), s) {
                DumpError::ServerVersionMismatch {
                    server,
                    pg_dump,
                    hint,
                    ..
                } => {
                    assert_eq!((server.as_str(), pg_dump.as_str()), ("16.14", "14.23"));
                    assert!(hint.contains("pg_dump 16 or newer"), "{hint}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn auth_and_connection() {
        let s = "pg_dump: error: connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  password authentication failed for user \"sg\"\n";
        let e = ctx(Mode::PgDump).classify(ExitInfo::Code(1), s);
        assert!(
            matches!(&e, DumpError::AuthenticationFailed { user, detail, .. }
                if user == "sg" && detail == "FATAL: password authentication failed for user \"sg\""),
            "{e:?}"
        );
        let s = "pg_dump: error: connection to server at \"127.0.0.1\", port 5433 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n";
        let e = ctx(Mode::PgDump).classify(ExitInfo::Code(1), s);
        assert_eq!(
            e.to_string(),
            "pgsql: cannot connect to db.example port 5433: connection to server at \"127.0.0.1\", port 5433 failed: Connection refused"
        );
        let s = "pg_dump: error: could not translate host name \"nohost\" to address: Name or service not known\n";
        assert!(matches!(
            ctx(Mode::PgDump).classify(ExitInfo::Code(1), s),
            DumpError::ConnectionFailed { .. }
        ));
        let s = "pg_dump: error: connection to server at \"h\" (1.2.3.4), port 5432 failed: FATAL:  database \"nope\" does not exist\n";
        assert!(matches!(
            ctx(Mode::PgDump).classify(ExitInfo::Code(1), s),
            DumpError::DatabaseNotFound { .. }
        ));
    }

    #[test]
    fn docker_and_kubectl_errors() {
        let s = "Error response from daemon: No such container: pgsql\n";
        assert!(matches!(
            ctx(Mode::Docker).classify(ExitInfo::Code(1), s),
            DumpError::TargetUnavailable { .. }
        ));
        let s = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"pg_dump\": executable file not found in $PATH: unknown\n";
        assert!(matches!(
            ctx(Mode::Docker).classify(ExitInfo::Code(127), s),
            DumpError::ProgramNotFound { program, .. } if program == "pg_dump"
        ));
        let s = "sh: 1: exec: pg_dump: not found\ncommand terminated with exit code 127\n";
        assert!(matches!(
            ctx(Mode::Kubectl).classify(ExitInfo::Code(127), s),
            DumpError::ProgramNotFound { .. }
        ));
        let s = "Error from server (NotFound): pods \"pgsql-0\" not found\n";
        assert!(matches!(
            ctx(Mode::Kubectl).classify(ExitInfo::Code(1), s),
            DumpError::TargetUnavailable { .. }
        ));
        // kubectl's "connection to the server … was refused" is not libpq's.
        let s = "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n";
        assert!(matches!(
            ctx(Mode::Kubectl).classify(ExitInfo::Code(1), s),
            DumpError::TargetUnavailable { .. }
        ));
    }

    fn psql_ctx(mode: Mode) -> Context {
        Context {
            tool: "psql".into(),
            ..ctx(mode)
        }
    }

    #[test]
    fn psql_errors() {
        let s = "psql:src-snapshot/pgsql.sql:42: ERROR:  permission denied to create extension \"pg_stat_statements\"\nHINT:  Must be superuser to create this extension.\n";
        match psql_ctx(Mode::PgDump).classify(ExitInfo::Code(3), s) {
            DumpError::StatementFailed { line, message, .. } => {
                assert_eq!(line, Some(42));
                assert_eq!(
                    message,
                    "permission denied to create extension \"pg_stat_statements\" | HINT:  Must be superuser to create this extension."
                );
            }
            other => panic!("{other:?}"),
        }
        let s = "psql:<stdin>:5: error: invalid command \\restrict\n";
        assert!(matches!(
            psql_ctx(Mode::Docker).classify(ExitInfo::Code(3), s),
            DumpError::PsqlTooOld { line: Some(5), .. }
        ));
        let s = "ERROR:  relation \"x\" does not exist\n";
        assert!(matches!(
            psql_ctx(Mode::Docker).classify(ExitInfo::Code(3), s),
            DumpError::StatementFailed { line: None, .. }
        ));
        let s = "pg_dump: error: query failed: ERROR:  permission denied for table t\npg_dump: detail: Query was: LOCK TABLE public.t IN ACCESS SHARE MODE\n";
        match ctx(Mode::PgDump).classify(ExitInfo::Code(1), s) {
            DumpError::PermissionDenied { detail, .. } => {
                assert_eq!(detail, "ERROR:  permission denied for table t")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_failures_keep_the_tail() {
        let e = ctx(Mode::PgDump).classify(ExitInfo::Signal(9), "a\nb\n");
        assert_eq!(e.to_string(), "pgsql: pg_dump failed (killed by signal 9): a | b");
    }

    #[test]
    fn capture_is_bounded_and_scrubbed() {
        let mut data = b"start hunter2\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 200_000));
        data.extend_from_slice(b"\nend hunter2\n");
        let c = Captured::drain(&data[..]);
        let text = c.text(Some("hunter2"));
        assert!(text.starts_with("start ***\n"));
        assert!(text.ends_with("end ***\n"));
        assert!(text.contains("bytes of stderr omitted"));
        assert!(text.len() < HEAD_BYTES + TAIL_BYTES + 100);
        assert!(!text.contains("hunter2"));
    }
}
