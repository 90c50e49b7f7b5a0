//! `docker` and `kubectl` shims: executables that record their argv and run
//! the `exec`'d command locally, so code that wraps pg_dump in
//! `docker exec` / `kubectl exec` can be tested against real servers.
//!
//! Emulated: `docker exec [-i] [-t] [-e VAR[=v]]... [-u U] [-w DIR] CONTAINER CMD ARGS...`
//! and `kubectl [-n NS] exec [-i] [-t] [-n NS] [-c C] [--container=C] POD -- CMD ARGS...`
//! (POD may be `statefulset/NAME`, `pod/NAME`, ...).
//!
//! Like the real tools, the command runs in a "container" environment, not the
//! caller's: only `PATH` (with `pg_bin` first), `HOME`, `USER`, `LANG`, `LC_ALL`,
//! `TMPDIR`, `TZ`, the variables set with [`ShimEnv::set_container_env`], and
//! (docker only) the `-e` variables reach it. `-e VAR` copies VAR from the
//! caller. Without `-i` the command's stdin is `/dev/null`. Set
//! `SHIM_INHERIT_ENV=1` to pass the caller's whole environment instead.
//!
//! Failure injection: `SHIM_FAIL=1` in the caller's environment (optionally
//! `SHIM_FAIL_MESSAGE`, `SHIM_FAIL_CODE`) or [`ShimEnv::set_fail`] makes the
//! shim log the call, print a message to stderr and exit non-zero.
//! Unsupported invocations exit 125. `SHIM_LOG` overrides the log path.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::shell_quote;

/// Where the shims live and log.
#[derive(Debug, Clone)]
pub struct ShimEnv {
    /// Directory holding the `docker` and `kubectl` executables (put it first in PATH).
    pub path_dir: PathBuf,
    /// Log file the shims append every invocation to (see [`read_shim_log`]).
    pub log: PathBuf,
}

/// One recorded shim invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimCall {
    /// `docker` or `kubectl`.
    pub program: String,
    /// Container (docker) or pod as given, e.g. `statefulset/pgsql` (kubectl);
    /// empty when the invocation could not be parsed.
    pub target: String,
    /// The arguments after the program name, exactly as received.
    pub args: Vec<String>,
    /// The command that was run locally (empty when the invocation was rejected).
    pub command: Vec<String>,
}

impl ShimCall {
    /// Full argv: program name followed by `args`.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

/// Write executable `docker` and `kubectl` shims into `dir` (created if needed);
/// `pg_bin` (e.g. `client_bin_dir(16)`) is put first in the command's PATH.
pub fn install_shims(dir: &Path, pg_bin: &Path) -> ShimEnv {
    std::fs::create_dir_all(dir)
        .unwrap_or_else(|e| panic!("testkit: cannot create shim dir {}: {e}", dir.display()));
    let dir = dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("testkit: cannot resolve {}: {e}", dir.display()));
    let log = dir.join("shim.log");
    for (name, parser) in [("docker", DOCKER_PARSE), ("kubectl", KUBECTL_PARSE)] {
        let script = format!(
            "#!/usr/bin/env bash\n\
             # testkit `{name}` shim: records argv, runs the exec'd command locally. Generated.\n\
             set -u\n\
             prog={name}\n\
             shim_dir={dir}\n\
             pg_bin={bin}\n\
             if [ -z \"${{SHIM_LOG:-}}\" ]; then SHIM_LOG={log}; fi\n\
             {COMMON}\n{parser}\n{RUN}",
            dir = shell_quote(&dir.to_string_lossy()),
            bin = shell_quote(&pg_bin.to_string_lossy()),
            log = shell_quote(&log.to_string_lossy()),
        );
        let path = dir.join(name);
        std::fs::write(&path, script)
            .unwrap_or_else(|e| panic!("testkit: cannot write {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("testkit: cannot chmod {}: {e}", path.display()));
    }
    ShimEnv { path_dir: dir, log }
}

impl ShimEnv {
    /// Path of the `docker` shim.
    pub fn docker(&self) -> PathBuf {
        self.path_dir.join("docker")
    }

    /// Path of the `kubectl` shim.
    pub fn kubectl(&self) -> PathBuf {
        self.path_dir.join("kubectl")
    }

    /// A PATH value with the shim dir first, then this process's PATH.
    pub fn path_var(&self) -> OsString {
        let mut dirs = vec![self.path_dir.clone()];
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        std::env::join_paths(dirs)
            .unwrap_or_else(|e| panic!("testkit: cannot build PATH with the shim dir: {e}"))
    }

    /// Every recorded argv (program name first), oldest first.
    pub fn argvs(&self) -> Vec<Vec<String>> {
        read_shim_log(&self.log)
    }

    /// Every recorded call, oldest first.
    pub fn calls(&self) -> Vec<ShimCall> {
        read_shim_calls(&self.log)
    }

    /// Forget recorded calls.
    pub fn clear_log(&self) {
        match std::fs::remove_file(&self.log) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("testkit: cannot remove {}: {e}", self.log.display()),
        }
    }

    /// Make every later shim call fail (`Some(message)`) or succeed again (`None`).
    pub fn set_fail(&self, message: Option<&str>) {
        let flag = self.path_dir.join("fail");
        match message {
            Some(m) => std::fs::write(&flag, m)
                .unwrap_or_else(|e| panic!("testkit: cannot write {}: {e}", flag.display())),
            None => {
                let _ = std::fs::remove_file(&flag);
            }
        }
    }

    /// Set the "container" environment the exec'd commands see (replaces earlier
    /// values), e.g. `[("PGHOST", "127.0.0.1"), ("PGPORT", "5433")]`.
    pub fn set_container_env(&self, vars: &[(&str, &str)]) {
        let mut text = String::new();
        for (k, v) in vars {
            assert!(
                !k.is_empty() && !k.contains(['=', '\n', '\0']) && !v.contains(['\n', '\0']),
                "testkit: container env entries must be single-line NAME=value ({k:?})"
            );
            text.push_str(&format!("{k}={v}\n"));
        }
        let file = self.path_dir.join("container.env");
        std::fs::write(&file, text)
            .unwrap_or_else(|e| panic!("testkit: cannot write {}: {e}", file.display()));
    }
}

/// Parse a shim log into argvs (program name first), oldest first; empty if absent.
pub fn read_shim_log(path: &Path) -> Vec<Vec<String>> {
    read_shim_calls(path).iter().map(ShimCall::argv).collect()
}

/// Parse a shim log into calls, oldest first; empty if the log does not exist.
///
/// Record format (all fields NUL-terminated): program, target, index of the
/// command within the args, number of args, then the args.
pub fn read_shim_calls(path: &Path) -> Vec<ShimCall> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("testkit: cannot read shim log {}: {e}", path.display()),
    };
    let mut fields = bytes
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let corrupt = |what: &str| -> ! { panic!("testkit: corrupt shim log {}: {what}", path.display()) };
    let mut calls = Vec::new();
    loop {
        let program = match fields.next() {
            None => break,
            Some(p) if p.is_empty() => break, // trailing piece after the last NUL
            Some(p) => p,
        };
        let target = fields.next().unwrap_or_else(|| corrupt("missing target"));
        let cmd_start: usize = fields
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| corrupt("bad command index"));
        let n: usize = fields
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| corrupt("bad argument count"));
        let args: Vec<String> = (0..n)
            .map(|_| fields.next().unwrap_or_else(|| corrupt("truncated record")))
            .collect();
        let command = args.get(cmd_start.min(n)..).unwrap_or_default().to_vec();
        calls.push(ShimCall {
            program,
            target,
            args,
            command,
        });
    }
    calls
}

/// Shared prologue: logging and rejection helpers.
const COMMON: &str = r#"orig=("$@")
target=""
log_call() { # $1: index of the command within orig
  if command -v flock >/dev/null 2>&1; then
    { flock 9 && printf '%s\0' "$prog" "$target" "$1" "${#orig[@]}" ${orig[@]+"${orig[@]}"} >&9; } 9>>"$SHIM_LOG"
  else
    printf '%s\0' "$prog" "$target" "$1" "${#orig[@]}" ${orig[@]+"${orig[@]}"} >>"$SHIM_LOG"
  fi || { echo "$prog (testkit shim): cannot write the log $SHIM_LOG" >&2; exit 125; }
}
reject() {
  target=""
  log_call "${#orig[@]}"
  echo "$prog (testkit shim): $*" >&2
  exit 125
}
interactive=0
envs=()"#;

/// Parses `docker exec ...`; leaves the command in "$@".
const DOCKER_PARSE: &str = r#"[ $# -gt 0 ] && [ "$1" = exec ] || reject "only 'docker exec' is emulated (got: ${1:-nothing})"
shift
while [ $# -gt 0 ]; do
  case "$1" in
    -i|--interactive|--interactive=true) interactive=1; shift ;;
    -it|-ti) interactive=1; shift ;;
    -t|--tty|--tty=true|--privileged) shift ;;
    -e|--env) [ $# -ge 2 ] || reject "$1 needs a value"; envs+=("$2"); shift 2 ;;
    --env=*) envs+=("${1#--env=}"); shift ;;
    -e?*) envs+=("${1#-e}"); shift ;;
    -u|--user|-w|--workdir) [ $# -ge 2 ] || reject "$1 needs a value"; shift 2 ;;
    --user=*|--workdir=*) shift ;;
    -*) reject "unsupported docker exec option: $1" ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || reject "usage: docker exec [OPTIONS] CONTAINER COMMAND [ARG...]"
target=$1
shift"#;

/// Parses `kubectl exec ... POD -- ...`; leaves the command in "$@".
const KUBECTL_PARSE: &str = r#"while [ $# -gt 0 ]; do
  case "$1" in
    exec) break ;;
    -n|--namespace|--context|--kubeconfig|--cluster|--user|-s|--server)
      [ $# -ge 2 ] || reject "$1 needs a value"; shift 2 ;;
    --namespace=*|--context=*|--kubeconfig=*|--cluster=*|--user=*|--server=*|-n?*) shift ;;
    *) reject "only 'kubectl exec' is emulated (got: $1)" ;;
  esac
done
[ $# -gt 0 ] || reject "only 'kubectl exec' is emulated (got nothing)"
shift
pod=""
dashdash=0
while [ $# -gt 0 ]; do
  case "$1" in
    --) dashdash=1; shift; break ;;
    -i|--stdin|--stdin=true) interactive=1; shift ;;
    -it|-ti) interactive=1; shift ;;
    -t|--tty|--tty=true|--tty=false|--stdin=false|-q|--quiet) shift ;;
    -n|--namespace|-c|--container|--context|--kubeconfig|--pod-running-timeout)
      [ $# -ge 2 ] || reject "$1 needs a value"; shift 2 ;;
    --namespace=*|--container=*|--context=*|--kubeconfig=*|--pod-running-timeout=*|-n?*|-c?*) shift ;;
    -*) reject "unsupported kubectl exec option: $1" ;;
    *) [ -z "$pod" ] || reject "more than one pod ($pod, $1): the command must follow --"
       pod=$1; shift ;;
  esac
done
[ -n "$pod" ] || reject "no pod given (kubectl exec POD -- COMMAND)"
[ "$dashdash" = 1 ] || reject "the command must follow -- (kubectl exec POD -- COMMAND)"
[ $# -ge 1 ] || reject "no command after --"
target=$pod"#;

/// Logs the parsed call, injects failures, builds the container env and execs.
const RUN: &str = r#"log_call "$(( ${#orig[@]} - $# ))"
if [ "${SHIM_FAIL:-0}" = 1 ] || [ -e "$shim_dir/fail" ]; then
  msg="simulated failure"
  if [ -s "$shim_dir/fail" ]; then msg=$(cat "$shim_dir/fail"); fi
  echo "$prog (testkit shim): ${SHIM_FAIL_MESSAGE:-$msg}" >&2
  exit "${SHIM_FAIL_CODE:-1}"
fi
if [ "$interactive" = 0 ]; then exec </dev/null; fi
if [ "${SHIM_INHERIT_ENV:-0}" = 1 ]; then
  for e in ${envs[@]+"${envs[@]}"}; do
    case "$e" in *=*) export "$e" ;; esac
  done
  PATH="$pg_bin:$PATH" exec "$@"
fi
cenv=("PATH=$pg_bin:$PATH")
for v in HOME USER LANG LC_ALL TMPDIR TZ; do
  if [ -n "${!v+x}" ]; then cenv+=("$v=${!v}"); fi
done
if [ -f "$shim_dir/container.env" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    [ -n "$line" ] && cenv+=("$line")
  done <"$shim_dir/container.env"
fi
for e in ${envs[@]+"${envs[@]}"}; do
  case "$e" in
    *=*) cenv+=("$e") ;;
    *) if [ -n "${!e+x}" ]; then cenv+=("$e=${!e}"); fi ;;
  esac
done
PATH="$pg_bin:$PATH" exec env -i "${cenv[@]}" "$@""#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        let mut bytes = Vec::new();
        for f in ["docker", "pgsql", "3", "4", "exec", "-i", "pgsql", "pg_dump"] {
            bytes.extend_from_slice(f.as_bytes());
            bytes.push(0);
        }
        for f in ["kubectl", "", "1", "1", "get"] {
            bytes.extend_from_slice(f.as_bytes());
            bytes.push(0);
        }
        std::fs::write(&log, bytes).expect("write");
        let calls = read_shim_calls(&log);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].target, "pgsql");
        assert_eq!(calls[0].command, vec!["pg_dump"]);
        assert_eq!(calls[1].command, Vec::<String>::new());
        assert_eq!(
            read_shim_log(&log),
            vec![
                vec!["docker", "exec", "-i", "pgsql", "pg_dump"],
                vec!["kubectl", "get"]
            ]
        );
        assert!(read_shim_calls(&dir.path().join("absent")).is_empty());
    }
}
