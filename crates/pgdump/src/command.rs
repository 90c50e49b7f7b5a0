//! Building, printing and running pg_dump (dump) and psql (restore) in the
//! three modes.
//!
//! Every value is one argv element and no shell ever sees it. The password
//! travels in `PGPASSWORD` (pg_dump mode; docker copies it into the
//! container with `-e PGPASSWORD`) or, for kubectl, which cannot pass
//! environment variables, as the first stdin line read by a constant
//! script.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use crate::error::{Captured, Context, DumpError, ExitInfo};
use crate::role::{DbRole, Mode};
use crate::shell::{quote, quote_program};
use crate::targets::{Password, Target, Targets, TargetsError, TargetsSource};

/// pg_dump's flags, as src-cli passes them (before user, database and host).
pub const PG_DUMP_FLAGS: [&str; 6] = [
    "--clean",
    "--format=plain",
    "--if-exists",
    "--no-acl",
    "--no-owner",
    "--quote-all-identifiers",
];

/// psql's flags for a restore: no `~/.psqlrc`, quiet, stop at the first
/// error, and all or nothing.
pub const PSQL_FLAGS: [&str; 4] = [
    "--no-psqlrc",
    "--quiet",
    "--set=ON_ERROR_STOP=1",
    "--single-transaction",
];

/// The constant script kubectl runs in the pod: read the password from the
/// first stdin line, export it, run the rest of the arguments. Values only
/// ever arrive as `"$@"`, never inside the script.
pub const KUBECTL_PASSWORD_SCRIPT: &str = "IFS= read -r PGPASSWORD; export PGPASSWORD; exec \"$@\"";

/// A ready-to-run command, shared by dumps and restores.
#[derive(Debug, Clone)]
struct Invocation {
    /// argv[0] (pg_dump/psql, docker or kubectl).
    program: String,
    /// argv[1..].
    args: Vec<String>,
    /// Secret delivered by environment (`PGPASSWORD`) or stdin (kubectl).
    password: Option<Password>,
    /// Extra (non-secret) environment set by the caller.
    extra_env: Vec<(OsString, OsString)>,
    ctx: Context,
}

impl Invocation {
    fn build(
        role: DbRole,
        mode: Mode,
        t: &Target,
        tool: &str,
        tool_args: &[&str],
    ) -> Result<Invocation, TargetsError> {
        t.validate()
            .map_err(|source| TargetsError::InvalidValue { role, source })?;
        check_program(tool)?;
        let mut inner: Vec<String> = vec![tool.to_string()];
        inner.extend(tool_args.iter().map(|s| s.to_string()));
        inner.push(format!("--username={}", t.username));
        inner.push(format!("--dbname={}", t.dbname));
        if mode == Mode::PgDump && !t.target.is_empty() {
            inner.push(format!("--host={}", t.target));
        }
        if let Some(p) = t.port {
            inner.push(format!("--port={p}"));
        }
        let needs_target = |what| {
            if t.target.is_empty() {
                Err(TargetsError::MissingTarget { role, mode, what })
            } else {
                Ok(())
            }
        };
        let (program, args) = match mode {
            Mode::PgDump => (inner[0].clone(), inner[1..].to_vec()),
            Mode::Docker => {
                needs_target("container")?;
                let mut a: Vec<String> = vec!["exec".into(), "-i".into()];
                if t.password.is_some() {
                    // `-e NAME` without a value: docker copies NAME from its
                    // own environment, which we set on the docker child.
                    a.extend(["-e".into(), "PGPASSWORD".into()]);
                }
                a.push(t.target.clone());
                a.extend(inner);
                ("docker".to_string(), a)
            }
            Mode::Kubectl => {
                needs_target("pod")?;
                let mut a: Vec<String> = vec!["exec".into(), "-i".into(), t.target.clone(), "--".into()];
                if t.password.is_some() {
                    a.extend([
                        "sh".into(),
                        "-c".into(),
                        KUBECTL_PASSWORD_SCRIPT.into(),
                        "sh".into(),
                    ]);
                }
                a.extend(inner);
                ("kubectl".to_string(), a)
            }
        };
        Ok(Invocation {
            program: program.clone(),
            args,
            password: t.password.clone(),
            extra_env: Vec::new(),
            ctx: Context {
                role,
                mode,
                program,
                tool: tool.to_string(),
                target: t.target.clone(),
                username: t.username.clone(),
                dbname: t.dbname.clone(),
                port: t.port,
                secret: t.password.as_ref().map(|p| p.expose().to_string()),
            },
        })
    }

    fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }

    /// `PGPASSWORD="$PGSQL_PASSWORD" prog args…` (or the kubectl pipe),
    /// without redirections.
    fn display_core(&self) -> String {
        let mut words: Vec<String> = vec![quote_program(&self.program).into_owned()];
        words.extend(self.args.iter().map(|a| quote(a).into_owned()));
        let cmd = words.join(" ");
        if self.password.is_none() {
            return cmd;
        }
        let var = self.ctx.role.password_env();
        match self.ctx.mode {
            Mode::PgDump | Mode::Docker => format!("PGPASSWORD=\"${var}\" {cmd}"),
            Mode::Kubectl => cmd,
        }
    }

    /// The child, with the password in its environment where the mode says
    /// so. Never in argv.
    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        if let Some(p) = &self.password {
            match self.ctx.mode {
                Mode::PgDump | Mode::Docker => {
                    c.env("PGPASSWORD", p.expose());
                }
                // The pod gets it on stdin; make sure none leaks by env either.
                Mode::Kubectl => {
                    c.env_remove("PGPASSWORD");
                }
            }
        }
        c
    }

    fn spawn_error(&self, e: std::io::Error) -> DumpError {
        if e.kind() == std::io::ErrorKind::NotFound {
            self.ctx.program_not_found(&self.program, false)
        } else {
            DumpError::Io {
                context: format!("cannot start {}", self.program),
                source: e,
            }
        }
    }

    /// The password line kubectl's script reads first.
    fn stdin_secret(&self) -> Option<Vec<u8>> {
        match (&self.password, self.ctx.mode) {
            (Some(p), Mode::Kubectl) => {
                let mut line = p.expose().as_bytes().to_vec();
                line.push(b'\n');
                Some(line)
            }
            _ => None,
        }
    }
}

fn check_program(p: &str) -> Result<(), TargetsError> {
    let bad = |reason| {
        Err(TargetsError::InvalidPath {
            path: p.to_string(),
            reason,
        })
    };
    if p.is_empty() {
        return bad("is empty");
    }
    if p.starts_with('-') {
        return bad("starts with '-'");
    }
    if p.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    Ok(())
}

fn check_path(p: &Path) -> Result<String, TargetsError> {
    let Some(s) = p.to_str() else {
        return Err(TargetsError::InvalidPath {
            path: p.to_string_lossy().into_owned(),
            reason: "is not valid UTF-8",
        });
    };
    if s.chars().any(char::is_control) {
        return Err(TargetsError::InvalidPath {
            path: s.to_string(),
            reason: "contains a control character",
        });
    }
    if s.is_empty() {
        return Err(TargetsError::InvalidPath {
            path: String::new(),
            reason: "is empty",
        });
    }
    Ok(s.to_string())
}

/// One pg_dump run writing one database's dump to stdout.
#[derive(Debug, Clone)]
pub struct DumpCommand {
    inv: Invocation,
    output: PathBuf,
}

/// Build the dump command of each database, in src-cli's order (pgsql,
/// codeintel, codeinsights), writing to `dir/pgsql.sql` etc.
///
/// `pg_dump` is the program to run: a name looked up on `PATH` or a path
/// (inside the container or pod in docker and kubectl modes).
///
/// # Errors
/// A refused target value, an empty target in docker or kubectl mode, or a
/// folder or program name that cannot be printed safely (control
/// characters, not UTF-8).
pub fn dump_commands(
    mode: Mode,
    targets: &Targets,
    dir: &Path,
    pg_dump: &str,
) -> Result<Vec<(DbRole, DumpCommand)>, TargetsError> {
    check_path(dir)?;
    DbRole::all()
        .into_iter()
        .map(|role| {
            let inv = Invocation::build(role, mode, targets.get(role), pg_dump, &PG_DUMP_FLAGS)?;
            Ok((
                role,
                DumpCommand {
                    inv,
                    output: dir.join(role.file_name()),
                },
            ))
        })
        .collect()
}

/// One comment line explaining where the printed commands take passwords
/// from, or `None` when no target has a password. The password itself is
/// printed only for presets, whose defaults are public.
pub fn display_header(targets: &Targets) -> Option<String> {
    let roles: Vec<DbRole> = DbRole::all()
        .into_iter()
        .filter(|r| targets.get(*r).password.is_some())
        .collect();
    if roles.is_empty() {
        return None;
    }
    let vars: Vec<&str> = roles.iter().map(|r| r.password_env()).collect();
    let vars = match vars.as_slice() {
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => String::new(),
    };
    let source = match &targets.source {
        TargetsSource::Preset(name) => {
            let defaults: Vec<&str> = roles
                .iter()
                .filter_map(|r| targets.get(*r).password.as_ref().map(Password::expose))
                .collect();
            format!(" (preset {name} defaults: {})", defaults.join(", "))
        }
        TargetsSource::File(path) => format!(" (the passwords of {})", path.display()),
        TargetsSource::Custom => String::new(),
    };
    Some(format!(
        "# Passwords are never printed: set {vars} first{source}."
    ))
}

impl DumpCommand {
    /// The database this command dumps.
    pub fn role(&self) -> DbRole {
        self.inv.ctx.role
    }

    /// The file the printed command redirects to (`dir/pgsql.sql`, …).
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// The program that runs (pg_dump, docker or kubectl).
    pub fn program(&self) -> &str {
        &self.inv.program
    }

    /// The arguments after the program. Never contains the password.
    pub fn args(&self) -> &[String] {
        &self.inv.args
    }

    /// Program and arguments.
    pub fn argv(&self) -> Vec<&str> {
        self.inv.argv()
    }

    /// Whether a password is sent (by environment or stdin).
    pub fn sends_password(&self) -> bool {
        self.inv.password.is_some()
    }

    /// Set a (non-secret) environment variable on the child, e.g. `PATH`.
    pub fn env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Self {
        self.inv.extra_env.push((key.into(), value.into()));
        self
    }

    /// The command as one line of POSIX shell, safe to copy and paste:
    ///
    /// ```text
    /// PGPASSWORD="$PGSQL_PASSWORD" pg_dump --clean … --username=sg --dbname=sg > src-snapshot/pgsql.sql
    /// printf '%s\n' "$PGSQL_PASSWORD" | kubectl exec -i statefulset/pgsql -- sh -c '…' sh pg_dump … > src-snapshot/pgsql.sql
    /// ```
    ///
    /// It refers to the role's password variable (see
    /// [`DbRole::password_env`]) and never contains the password.
    pub fn display(&self) -> String {
        let out = quote(&self.output.to_string_lossy()).into_owned();
        let core = self.inv.display_core();
        match (self.inv.ctx.mode, self.inv.password.is_some()) {
            (Mode::Kubectl, true) => format!(
                "printf '%s\\n' \"${}\" | {core} > {out}",
                self.inv.ctx.role.password_env()
            ),
            _ => format!("{core} > {out}"),
        }
    }

    /// Start the dump. Read [`RunningDump::stdout`] to its end, then call
    /// [`RunningDump::finish`]. stderr is drained on a thread (first 16 KiB
    /// and last 64 KiB kept), so the child never blocks on it.
    ///
    /// # Errors
    /// [`DumpError::ProgramNotFound`] when the program does not exist,
    /// [`DumpError::Io`] for other start failures.
    pub fn spawn(&self) -> Result<RunningDump, DumpError> {
        let mut cmd = self.inv.command();
        let secret = self.inv.stdin_secret();
        cmd.stdin(if secret.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.inv.spawn_error(e))?;
        let stderr = child
            .stderr
            .take()
            .map(|s| std::thread::spawn(move || Captured::drain(s)));
        if let (Some(line), Some(mut stdin)) = (secret, child.stdin.take()) {
            // One short line fits in the pipe buffer. A child that exits
            // early gives EPIPE here; its exit status tells the real story.
            let _ = stdin.write_all(&line);
        }
        let stdout = match child.stdout.take() {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(DumpError::Io {
                    context: format!("cannot read the output of {}", self.inv.program),
                    source: std::io::Error::other("stdout was not captured"),
                });
            }
        };
        Ok(RunningDump {
            stdout,
            guard: ChildGuard { child, done: false },
            stderr,
            ctx: self.inv.ctx.clone(),
        })
    }

    /// Run the dump into [`DumpCommand::output`]: written to
    /// `<output>.partial`, flushed, then renamed, so the file is complete or
    /// absent. Returns the number of bytes written.
    ///
    /// # Errors
    /// As [`DumpCommand::spawn`] and [`RunningDump::finish`], plus
    /// [`DumpError::Io`] for the file.
    pub fn run_to_file(&self) -> Result<u64, DumpError> {
        let partial = partial_path(&self.output);
        let io = |context: String| move |source| DumpError::Io { context, source };
        if let Some(parent) = self.output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
        }
        let mut file = File::create(&partial).map_err(io(format!("cannot create {}", partial.display())))?;
        let mut running = self.spawn()?;
        let copied = std::io::copy(&mut running.stdout, &mut file);
        let result = match copied {
            Ok(n) => running.finish().map(|()| n),
            Err(e) => {
                running.kill();
                let _ = running.finish();
                Err(DumpError::Io {
                    context: format!("cannot write {}", partial.display()),
                    source: e,
                })
            }
        };
        let result = result.and_then(|n| {
            file.sync_all()
                .map_err(io(format!("cannot flush {}", partial.display())))?;
            std::fs::rename(&partial, &self.output)
                .map_err(io(format!("cannot rename to {}", self.output.display())))?;
            Ok(n)
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }
}

fn partial_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Kills and reaps the child if it was never waited for.
#[derive(Debug)]
struct ChildGuard {
    child: Child,
    done: bool,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running pg_dump. Dropping it without [`RunningDump::finish`] kills it.
#[derive(Debug)]
pub struct RunningDump {
    /// The dump script as pg_dump writes it.
    pub stdout: ChildStdout,
    guard: ChildGuard,
    stderr: Option<JoinHandle<Captured>>,
    ctx: Context,
}

impl Read for RunningDump {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl RunningDump {
    /// The child's process id (docker or kubectl in those modes).
    pub fn pid(&self) -> u32 {
        self.guard.child.id()
    }

    /// Kill the child (e.g. when the reader gave up). [`RunningDump::finish`]
    /// then reports how it ended.
    pub fn kill(&mut self) {
        let _ = self.guard.child.kill();
    }

    /// Close stdout, wait for the child and report how it ended. Call after
    /// reading stdout to its end; unread output makes pg_dump fail.
    ///
    /// # Errors
    /// The most specific [`DumpError`] its stderr supports, else
    /// [`DumpError::Failed`] with the scrubbed end of stderr.
    pub fn finish(self) -> Result<(), DumpError> {
        let RunningDump {
            stdout,
            mut guard,
            stderr,
            ctx,
        } = self;
        drop(stdout);
        wait_and_classify(&mut guard, stderr, &ctx)
    }
}

fn wait_and_classify(
    guard: &mut ChildGuard,
    stderr: Option<JoinHandle<Captured>>,
    ctx: &Context,
) -> Result<(), DumpError> {
    let status = guard.child.wait().map_err(|source| DumpError::Io {
        context: format!("cannot wait for {}", ctx.program),
        source,
    })?;
    guard.done = true;
    let captured = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let text = captured.text(ctx.secret.as_deref());
    Err(ctx.classify(ExitInfo::from_status(status), &text))
}

/// One psql run loading one dump file.
#[derive(Debug, Clone)]
pub struct RestoreCommand {
    inv: Invocation,
    input: PathBuf,
}

/// Build the restore command of each database (src-cli's `snapshot
/// restore`), reading `dir/pgsql.sql` etc.
///
/// In pg_dump mode psql reads the file itself (`--file=PATH`); in docker
/// and kubectl modes the file is local, so it is sent on stdin
/// (`--file=-`).
///
/// # Errors
/// As [`dump_commands`].
pub fn restore_commands(
    mode: Mode,
    targets: &Targets,
    dir: &Path,
    psql: &str,
) -> Result<Vec<(DbRole, RestoreCommand)>, TargetsError> {
    check_path(dir)?;
    DbRole::all()
        .into_iter()
        .map(|role| {
            let input = dir.join(role.file_name());
            let mut inv = Invocation::build(role, mode, targets.get(role), psql, &PSQL_FLAGS)?;
            // `--file=-` rather than plain stdin: psql then reports errors
            // as `psql:<stdin>:LINE:`, so a failure names its line.
            inv.args.push(match mode {
                Mode::PgDump => format!("--file={}", check_path(&input)?),
                Mode::Docker | Mode::Kubectl => "--file=-".to_string(),
            });
            Ok((role, RestoreCommand { inv, input }))
        })
        .collect()
}

impl RestoreCommand {
    /// The database this command restores.
    pub fn role(&self) -> DbRole {
        self.inv.ctx.role
    }

    /// The dump file it loads.
    pub fn input(&self) -> &Path {
        &self.input
    }

    /// The program that runs (psql, docker or kubectl).
    pub fn program(&self) -> &str {
        &self.inv.program
    }

    /// The arguments after the program. Never contains the password.
    pub fn args(&self) -> &[String] {
        &self.inv.args
    }

    /// Program and arguments.
    pub fn argv(&self) -> Vec<&str> {
        self.inv.argv()
    }

    /// Set a (non-secret) environment variable on the child, e.g. `PATH`.
    pub fn env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Self {
        self.inv.extra_env.push((key.into(), value.into()));
        self
    }

    /// Load the dump without `--single-transaction` (for servers whose
    /// lock table cannot hold the whole restore).
    pub fn without_single_transaction(&mut self) -> &mut Self {
        self.inv.args.retain(|a| a != "--single-transaction");
        self
    }

    /// The command as one line of POSIX shell (see
    /// [`DumpCommand::display`]); psql's query output goes to `/dev/null`.
    pub fn display(&self) -> String {
        let input = quote(&self.input.to_string_lossy()).into_owned();
        let core = self.inv.display_core();
        match (self.inv.ctx.mode, self.inv.password.is_some()) {
            (Mode::PgDump, _) => format!("{core} > /dev/null"),
            (Mode::Kubectl, true) => format!(
                "{{ printf '%s\\n' \"${}\"; cat {input}; }} | {core} > /dev/null",
                self.inv.ctx.role.password_env()
            ),
            _ => format!("{core} < {input} > /dev/null"),
        }
    }

    /// Run psql to the end. Its query output is discarded; its stderr is
    /// kept (bounded) to explain a failure.
    ///
    /// # Errors
    /// [`DumpError::StatementFailed`] with the file line of the first failed
    /// statement, [`DumpError::PsqlTooOld`], the connection and login errors
    /// of [`RunningDump::finish`], or [`DumpError::Io`] when the file cannot
    /// be read.
    pub fn run(&self) -> Result<(), DumpError> {
        let io = |context: String| move |source| DumpError::Io { context, source };
        // Opened in every mode, so a missing file fails here, clearly.
        let file = File::open(&self.input).map_err(io(format!("cannot open {}", self.input.display())))?;
        let file = (self.inv.ctx.mode != Mode::PgDump).then_some(file);
        let mut cmd = self.inv.command();
        let secret = self.inv.stdin_secret();
        let mut feeder_input = None;
        match (file, &secret) {
            (None, _) => {
                cmd.stdin(Stdio::null());
            }
            (Some(f), None) => {
                cmd.stdin(Stdio::from(f));
            }
            (Some(f), Some(_)) => {
                cmd.stdin(Stdio::piped());
                feeder_input = Some(f);
            }
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.inv.spawn_error(e))?;
        let stderr = child
            .stderr
            .take()
            .map(|s| std::thread::spawn(move || Captured::drain(s)));
        // kubectl with a password: the password line, then the file.
        let feeder = match (feeder_input, secret, child.stdin.take()) {
            (Some(mut f), Some(line), Some(mut stdin)) => Some(std::thread::spawn(move || {
                let r = stdin
                    .write_all(&line)
                    .and_then(|()| std::io::copy(&mut f, &mut stdin).map(|_| ()));
                drop(stdin);
                r
            })),
            _ => None,
        };
        let mut guard = ChildGuard { child, done: false };
        let result = wait_and_classify(&mut guard, stderr, &self.inv.ctx);
        let fed = feeder.map(|h| h.join());
        result?;
        match fed {
            Some(Ok(Err(e))) => Err(DumpError::Io {
                context: format!("cannot send {} to {}", self.input.display(), self.inv.program),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> Targets {
        Targets::preset(name).expect("preset")
    }

    #[test]
    fn local_preset_display() {
        let cmds = dump_commands(
            Mode::PgDump,
            &preset("local"),
            Path::new("src-snapshot"),
            "pg_dump",
        )
        .expect("build");
        let lines: Vec<String> = cmds.iter().map(|(_, c)| c.display()).collect();
        assert_eq!(
            lines,
            [
                "PGPASSWORD=\"$PGSQL_PASSWORD\" pg_dump --clean --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers --username=sg --dbname=sg > src-snapshot/pgsql.sql",
                "PGPASSWORD=\"$CODEINTEL_PASSWORD\" pg_dump --clean --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers --username=sg --dbname=sg > src-snapshot/codeintel.sql",
                "PGPASSWORD=\"$CODEINSIGHTS_PASSWORD\" pg_dump --clean --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers --username=postgres --dbname=postgres > src-snapshot/codeinsights.sql",
            ]
        );
        assert_eq!(
            display_header(&preset("local")).as_deref(),
            Some("# Passwords are never printed: set PGSQL_PASSWORD, CODEINTEL_PASSWORD and CODEINSIGHTS_PASSWORD first (preset local defaults: sg, sg, password).")
        );
    }

    #[test]
    fn docker_preset_display_and_argv() {
        let cmds = dump_commands(
            Mode::Docker,
            &preset("docker"),
            Path::new("src-snapshot"),
            "pg_dump",
        )
        .expect("build");
        let (_, c) = &cmds[2];
        assert_eq!(
            c.display(),
            "PGPASSWORD=\"$CODEINSIGHTS_PASSWORD\" docker exec -i -e PGPASSWORD codeinsights-db pg_dump --clean --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers --username=postgres --dbname=postgres > src-snapshot/codeinsights.sql"
        );
        assert_eq!(
            c.argv(),
            [
                "docker",
                "exec",
                "-i",
                "-e",
                "PGPASSWORD",
                "codeinsights-db",
                "pg_dump",
                "--clean",
                "--format=plain",
                "--if-exists",
                "--no-acl",
                "--no-owner",
                "--quote-all-identifiers",
                "--username=postgres",
                "--dbname=postgres"
            ]
        );
    }

    #[test]
    fn k8s_preset_display_and_argv() {
        let cmds = dump_commands(
            Mode::Kubectl,
            &preset("k8s"),
            Path::new("src-snapshot"),
            "pg_dump",
        )
        .expect("build");
        let (_, c) = &cmds[0];
        assert_eq!(
            c.display(),
            "printf '%s\\n' \"$PGSQL_PASSWORD\" | kubectl exec -i statefulset/pgsql -- sh -c 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec \"$@\"' sh pg_dump --clean --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers --username=sg --dbname=sg > src-snapshot/pgsql.sql"
        );
        assert_eq!(
            &c.argv()[..9],
            [
                "kubectl",
                "exec",
                "-i",
                "statefulset/pgsql",
                "--",
                "sh",
                "-c",
                KUBECTL_PASSWORD_SCRIPT,
                "sh"
            ]
        );
    }

    #[test]
    fn no_password_no_wrapper() {
        let mut t = preset("k8s");
        t.pgsql.password = None;
        t.pgsql.port = Some(5433);
        let cmds = dump_commands(
            Mode::Kubectl,
            &t,
            Path::new("out dir"),
            "/usr/lib/postgresql/16/bin/pg_dump",
        )
        .expect("build");
        assert_eq!(
            cmds[0].1.display(),
            "kubectl exec -i statefulset/pgsql -- /usr/lib/postgresql/16/bin/pg_dump --clean --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers --username=sg --dbname=sg --port=5433 > 'out dir/pgsql.sql'"
        );
        assert!(!cmds[0].1.sends_password());
        let mut t = preset("docker");
        t.codeintel.password = None;
        let cmds = dump_commands(Mode::Docker, &t, Path::new("s"), "pg_dump").expect("build");
        assert!(!cmds[1].1.args().iter().any(|a| a == "-e"));
        assert!(cmds[1]
            .1
            .display()
            .starts_with("docker exec -i codeintel-db pg_dump "));
    }

    #[test]
    fn hostile_values_are_quoted_single_words() {
        let mut t = preset("local");
        t.pgsql.target = "h; touch /tmp/pwned #".into();
        t.pgsql.dbname = "sg$(id)`whoami`'q".into();
        let cmds = dump_commands(Mode::PgDump, &t, Path::new("src-snapshot"), "pg_dump").expect("build");
        let (_, c) = &cmds[0];
        assert!(c.args().contains(&"--host=h; touch /tmp/pwned #".to_string()));
        assert!(c.args().contains(&"--dbname=sg$(id)`whoami`'q".to_string()));
        assert!(c
            .display()
            .contains(" '--dbname=sg$(id)`whoami`'\\''q' '--host=h; touch /tmp/pwned #' > "));
    }

    #[test]
    fn refusals() {
        let mut t = preset("local");
        assert!(matches!(
            dump_commands(Mode::Docker, &t, Path::new("s"), "pg_dump"),
            Err(TargetsError::MissingTarget {
                role: DbRole::Pgsql,
                ..
            })
        ));
        t.codeintel.dbname = "host=evil".into();
        let err = dump_commands(Mode::PgDump, &t, Path::new("s"), "pg_dump").expect_err("refused");
        assert_eq!(
            err.to_string(),
            "codeintel: dbname contains '=', so libpq would read it as a connection string, not a database name"
        );
        let t = preset("local");
        assert!(matches!(
            dump_commands(Mode::PgDump, &t, Path::new("a\nb"), "pg_dump"),
            Err(TargetsError::InvalidPath { .. })
        ));
        assert!(matches!(
            dump_commands(Mode::PgDump, &t, Path::new("s"), "--pg_dump"),
            Err(TargetsError::InvalidPath { .. })
        ));
    }

    #[test]
    fn restore_display() {
        let mut t = preset("local");
        t.pgsql.target = "10.0.0.5".into();
        t.pgsql.port = Some(5432);
        let cmds = restore_commands(Mode::PgDump, &t, Path::new("src-snapshot"), "psql").expect("build");
        assert_eq!(
            cmds[0].1.display(),
            "PGPASSWORD=\"$PGSQL_PASSWORD\" psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --single-transaction --username=sg --dbname=sg --host=10.0.0.5 --port=5432 --file=src-snapshot/pgsql.sql > /dev/null"
        );
        let cmds = restore_commands(Mode::Docker, &preset("docker"), Path::new("src-snapshot"), "psql")
            .expect("build");
        assert_eq!(
            cmds[1].1.display(),
            "PGPASSWORD=\"$CODEINTEL_PASSWORD\" docker exec -i -e PGPASSWORD codeintel-db psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --single-transaction --username=sg --dbname=sg --file=- < src-snapshot/codeintel.sql > /dev/null"
        );
        let mut cmds = restore_commands(Mode::Kubectl, &preset("k8s"), Path::new("src-snapshot"), "psql")
            .expect("build");
        cmds[2].1.without_single_transaction();
        assert_eq!(
            cmds[2].1.display(),
            "{ printf '%s\\n' \"$CODEINSIGHTS_PASSWORD\"; cat src-snapshot/codeinsights.sql; } | kubectl exec -i statefulset/codeinsights-db -- sh -c 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec \"$@\"' sh psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --username=postgres --dbname=postgres --file=- > /dev/null"
        );
    }

    #[test]
    fn header_variants() {
        let mut t = preset("docker");
        t.source = TargetsSource::File("my targets.yaml".into());
        t.codeintel.password = None;
        assert_eq!(
            display_header(&t).as_deref(),
            Some("# Passwords are never printed: set PGSQL_PASSWORD and CODEINSIGHTS_PASSWORD first (the passwords of my targets.yaml).")
        );
        t.pgsql.password = None;
        t.codeinsights.password = None;
        assert_eq!(display_header(&t), None);
    }
}
