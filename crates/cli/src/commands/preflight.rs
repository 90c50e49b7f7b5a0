//! `preflight [--targets=…] [-dir=…]`: the runbook's requirements, each
//! with pass/fail and a fix.

use std::path::{Path, PathBuf};

use anyhow::Context;
use pgdump::{DbRole, Mode, Target, Targets};
use sgapi::preflight::{self as pf, Check, Status};

use super::summary::ApiFlags;
use crate::render::Table;
use crate::{exit, Globals};

/// Flags of `preflight`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Checks: the token is a site admin's, Sourcegraph ≥ 3.20, no encryption keys (site config and encrypted rows), \
the notice is up, every database reachable on Postgres ≥ 11, pg_dump new enough for each server, free space in -dir for the \
databases. In docker/kubectl mode the databases are inside containers: their checks are skipped (pg_dump runs there and \
matches the server).\nExit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 preflight could not run."
)]
pub struct PreflightCmd {
    #[command(flatten)]
    pub api: ApiFlags,
    /// A preset (local, docker, k8s) or a targets YAML file.
    #[arg(long, default_value = "local")]
    pub targets: String,
    /// How the dumps will run: pg_dump, docker or kubectl. Default: from the preset (docker → docker, k8s → kubectl), else pg_dump.
    #[arg(long)]
    pub mode: Option<Mode>,
    /// The snapshot folder (for the free-space check).
    #[arg(long, default_value = "src-snapshot")]
    pub dir: PathBuf,
    /// The pg_dump program that will run (pg_dump mode).
    #[arg(long, default_value = "pg_dump")]
    pub pg_dump: String,
    /// The notice text to look for.
    #[arg(long, default_value = sgapi::DEFAULT_MESSAGE, hide_default_value = true)]
    pub message: String,
}

/// Runs `preflight`.
pub fn run(cmd: PreflightCmd, g: &Globals) -> anyhow::Result<u8> {
    let mut targets =
        Targets::resolve(&cmd.targets).with_context(|| format!("reading targets {:?}", cmd.targets))?;
    targets
        .apply_password_env()
        .context("reading database passwords from the environment")?;
    let mode = cmd.mode.unwrap_or(match cmd.targets.as_str() {
        "docker" => Mode::Docker,
        "k8s" => Mode::Kubectl,
        _ => Mode::PgDump,
    });
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut checks = match cmd.api.client() {
        Ok(client) => rt.block_on(pf::api_checks(&client, &cmd.message)),
        Err(e) => vec![pf::api_unavailable(&e)],
    };
    checks.extend(rt.block_on(database_checks(&targets, mode, &cmd.pg_dump, &cmd.dir)));
    let code = if pf::all_passed(&checks) {
        exit::OK
    } else {
        exit::FAILED
    };
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "passed": code == exit::OK, "checks": checks })
            )?
        );
        return Ok(code);
    }
    let mut t = Table::new(&["check", "result", "detail"]);
    for c in &checks {
        t.row(vec![
            c.name.clone(),
            c.status.as_str().to_string(),
            c.detail.clone(),
        ]);
    }
    print!("{}", t.render());
    for c in checks.iter().filter(|c| c.status != Status::Pass) {
        if let Some(fix) = &c.fix {
            println!("fix ({}): {fix}", c.name);
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed == 0 {
        println!("preflight passed");
    } else {
        println!("preflight failed: {failed} checks");
    }
    Ok(code)
}

/// `postgres://USER@HOST:PORT/DB` for pgload; the password never goes in it.
fn conn_url(t: &Target) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    let port = t.port.map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "postgres://{}@{}{port}/{}",
        enc(&t.username),
        enc(&t.target),
        enc(&t.dbname)
    )
}

struct DbFacts {
    major: u32,
    version: String,
    size: u64,
    encrypted: Option<Vec<(String, i64)>>,
}

async fn db_facts(role: DbRole, t: &Target) -> Result<DbFacts, String> {
    let mut spec = pgload::ConnSpec::from_url(&conn_url(t)).map_err(|e| e.to_string())?;
    if let Some(p) = &t.password {
        spec = spec.with_password(p.expose());
    }
    let client = spec.connect(&t.dbname).await.map_err(|e| e.to_string())?;
    let info = pgload::server_info(&client).await.map_err(|e| e.to_string())?;
    let size: i64 = client
        .query_one(pf::DATABASE_SIZE_SQL, &[])
        .await
        .map_err(|e| format!("reading the database size: {e}"))?
        .get(0);
    let encrypted = if role == DbRole::Pgsql {
        let rows = client
            .query(pf::ENCRYPTED_ROWS_SQL, &[])
            .await
            .map_err(|e| format!("looking for encrypted rows: {e}"))?;
        Some(
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .collect(),
        )
    } else {
        None
    };
    Ok(DbFacts {
        major: info.major,
        version: info.version,
        size: size.max(0) as u64,
        encrypted,
    })
}

fn pg_dump_version(program: &str) -> Result<(u32, String), String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .output()
        .map_err(|e| format!("running {program} --version: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = sgapi::version::parse_pg_major(&text)
        .ok_or_else(|| format!("unexpected `{program} --version` output {text:?}"))?;
    // "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)": the first number.
    let version = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_default()
        .to_string();
    Ok((major, version))
}

/// Free bytes where `dir` is (or would be created), from `df -Pk`.
fn free_space(dir: &Path) -> Option<u64> {
    let mut p = dir.to_path_buf();
    while !p.exists() {
        p = match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
    }
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(&p)
        .output()
        .ok()?;
    pf::parse_df_available(&String::from_utf8_lossy(&out.stdout))
}

async fn database_checks(targets: &Targets, mode: Mode, pg_dump: &str, dir: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    if mode != Mode::PgDump {
        for role in DbRole::all() {
            out.push(Check::new(
                format!("postgres {role}"),
                Status::Skip,
                format!("{} {} is reached through {mode}; not checked from here", role, targets.get(role).target),
                Some(format!(
                    "check by hand, e.g. `{} psql -U {} -d {} -c 'SHOW server_version'`, or run preflight with a targets file whose hosts this machine can reach",
                    if mode == Mode::Docker { format!("docker exec {}", targets.get(role).target) } else { format!("kubectl exec {} --", targets.get(role).target) },
                    targets.get(role).username,
                    targets.get(role).dbname
                )),
            ));
        }
        return out;
    }
    let dump = pg_dump_version(pg_dump);
    let mut total = 0u64;
    let mut all_sized = true;
    for role in DbRole::all() {
        let facts = db_facts(role, targets.get(role)).await;
        let name = role.to_string();
        out.push(pf::postgres_check(
            &name,
            facts
                .as_ref()
                .map(|f| (f.major, f.version.clone()))
                .map_err(Clone::clone),
        ));
        out.push(pf::pg_dump_check(
            &name,
            dump.clone(),
            facts.as_ref().ok().map(|f| f.major),
        ));
        match &facts {
            Ok(f) => {
                total += f.size;
                if let Some(rows) = &f.encrypted {
                    out.push(pf::encrypted_rows_check(rows));
                }
            }
            Err(_) => all_sized = false,
        }
    }
    let mut disk = pf::disk_check(&dir.display().to_string(), free_space(dir), total);
    if !all_sized && disk.status == Status::Pass {
        disk.status = Status::Warn;
        disk.detail.push_str(" (sizes of unreachable databases unknown)");
        disk.fix = Some("fix the postgres checks, then run preflight again".into());
    }
    out.push(disk);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_url_encodes_and_omits_the_password() {
        let t = Target {
            target: "/var/run/postgresql".into(),
            dbname: "sg".into(),
            username: "s g".into(),
            password: Some(pgdump::Password::new("secret").expect("password")),
            port: Some(5433),
        };
        let u = conn_url(&t);
        assert_eq!(u, "postgres://s%20g@%2Fvar%2Frun%2Fpostgresql:5433/sg");
        assert!(!u.contains("secret"));
    }
}
