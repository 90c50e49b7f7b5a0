//! Each step as the single command a person would type, with this
//! migration's values filled in (for the runbook and `--dry-run`). Tokens
//! and passwords appear only as the names of the variables holding them.

use std::path::Path;

use pgdump::shell::quote;

use crate::config::{InstanceConfig, MigrationConfig};
use crate::records::UpgradeRecord;
use crate::step::StepId;

fn q(s: &str) -> String {
    quote(s).into_owned()
}

fn path(p: &Path) -> String {
    q(&p.display().to_string())
}

/// `SRC_ACCESS_TOKEN="$VAR" src-snapshot … -endpoint=URL` pieces for an instance.
fn api(inst: Option<&InstanceConfig>) -> (String, String) {
    match inst {
        None => (String::new(), " -endpoint='<instance URL>'".into()),
        Some(i) => {
            let flag = format!(" -endpoint={}", q(&i.endpoint));
            match &i.token_file {
                Some(f) => (String::new(), format!("{flag} -token-file={}", path(f))),
                None if i.token_var() == "SRC_ACCESS_TOKEN" => (String::new(), flag),
                None => (format!("SRC_ACCESS_TOKEN=\"${}\" ", i.token_var()), flag),
            }
        }
    }
}

fn bucket(cfg: &MigrationConfig) -> String {
    let mut s = format!(" -bucket={}", q(cfg.bucket.as_deref().unwrap_or("<bucket>")));
    if let Some(c) = &cfg.credentials {
        s.push_str(&format!(" -credentials={}", path(c)));
    }
    s
}

fn target(cfg: &MigrationConfig) -> String {
    let mut s = format!(
        " --target-url={}",
        q(cfg
            .target
            .url
            .as_deref()
            .unwrap_or("postgres://USER@HOST:5432/postgres"))
    );
    if !cfg.target.databases.are_default() {
        s.push_str(&format!(" --databases={}", q(&cfg.target.databases.flag())));
    }
    s
}

/// How the target password reaches the command, as an environment prefix.
fn target_env(cfg: &MigrationConfig) -> String {
    match (&cfg.target.password_file, cfg.target.password_env.as_str()) {
        (Some(f), _) => format!("PGPASSWORD=\"$(head -n1 {})\" ", path(f)),
        (None, "PGPASSWORD") => String::new(),
        (None, var) => format!("PGPASSWORD=\"${var}\" "),
    }
}

fn message(cfg: &MigrationConfig) -> String {
    if cfg.notice.message == sgapi::DEFAULT_MESSAGE {
        String::new()
    } else {
        format!(" --message={}", q(&cfg.notice.message))
    }
}

/// The migrator command: the config's program with the plan's arguments
/// and placeholders filled in, when there is a plan.
pub fn migrator_argv(cfg: &MigrationConfig, plan: &UpgradeRecord) -> Option<Vec<String>> {
    let args = plan.args.clone()?;
    let tag = plan
        .image
        .as_deref()
        .and_then(|i| i.rsplit_once(':').map(|(_, t)| t.to_string()))
        .unwrap_or_else(|| plan.to.clone());
    let image = plan
        .image
        .clone()
        .unwrap_or_else(|| format!("sourcegraph/migrator:{tag}"));
    let fill = |s: &str| {
        s.replace("{image}", &image)
            .replace("{tag}", &tag)
            .replace("{from}", &plan.from)
            .replace("{to}", &plan.to)
    };
    let mut argv: Vec<String> = cfg.migrator.command.iter().map(|a| fill(a)).collect();
    argv.extend(args);
    Some(argv)
}

/// The command that does `step` by hand. `plan` is the upgrade plan when
/// one was made (the migrator's arguments depend on it).
pub fn command(step: StepId, cfg: &MigrationConfig, plan: Option<&UpgradeRecord>) -> String {
    let dir = path(&cfg.snapshot_dir);
    let src = &cfg.source;
    match step {
        StepId::Preflight => {
            let (env, flags) = api(src.instance.as_ref());
            let mut s = format!(
                "{env}src-snapshot preflight{flags} --targets={} --mode={} -dir={dir}",
                q(&src.targets),
                src.dump_mode()
            );
            if src.pg_dump != "pg_dump" {
                s.push_str(&format!(" --pg-dump={}", q(&src.pg_dump)));
            }
            s.push_str(&message(cfg));
            s
        }
        StepId::NoticeAdd => {
            let (env, flags) = api(src.instance.as_ref());
            format!("{env}src-snapshot notice add{flags}{}", message(cfg))
        }
        StepId::Databases => {
            let mut s = format!(
                "src-snapshot databases {} --targets={} --run -dir={dir} --target-version={}",
                src.dump_mode(),
                q(&src.targets),
                cfg.target.major
            );
            if src.pg_dump != "pg_dump" {
                s.push_str(&format!(" --pg-dump={}", q(&src.pg_dump)));
            }
            s
        }
        StepId::Summary => {
            let (env, flags) = api(src.instance.as_ref());
            format!("{env}src-snapshot summary{flags} -dir={dir}")
        }
        StepId::Upload => {
            let mut s = format!(
                "src-snapshot upload{} -dir={dir} --jobs={} --target-version={}",
                bucket(cfg),
                cfg.jobs,
                cfg.target.major
            );
            if cfg.gzip {
                s.push_str(&format!(" --gzip --gzip-level={}", cfg.gzip_level));
            }
            s
        }
        StepId::VerifyUpload | StepId::VerifyBucket => {
            format!("src-snapshot verify{} -dir={dir}", bucket(cfg))
        }
        StepId::Reset => {
            let force = if cfg.target.reset_force { " --force" } else { "" };
            format!(
                "{}src-snapshot reset{} --yes{force}",
                target_env(cfg),
                target(cfg)
            )
        }
        StepId::Import => format!(
            "{}src-snapshot import{}{} --jobs={}",
            target_env(cfg),
            bucket(cfg),
            target(cfg),
            cfg.jobs
        ),
        StepId::Compare => format!(
            "{}src-snapshot compare{}{} --jobs={}",
            target_env(cfg),
            bucket(cfg),
            target(cfg),
            cfg.jobs
        ),
        StepId::UpgradePlan => format!(
            "{}src-snapshot upgrade-plan{} --to={} --compose --network={}",
            target_env(cfg),
            target(cfg),
            q(cfg.migrator.to.as_deref().unwrap_or("<managed version>")),
            q(&cfg.migrator.network)
        ),
        StepId::Migrator => match plan.and_then(|p| migrator_argv(cfg, p)) {
            Some(argv) => argv.iter().map(|a| q(a)).collect::<Vec<_>>().join(" "),
            None => format!(
                "{} <up | upgrade --from=X.Y --to=A.B, as upgrade-plan prints>",
                cfg.migrator
                    .command
                    .iter()
                    .map(|a| q(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        },
        StepId::Test => {
            let (env, flags) = api(cfg.target.instance.as_ref());
            let mut s = format!(
                "{env}src-snapshot test{flags} -snapshot-summary={} -since={}",
                path(&cfg.snapshot_dir.join(sgapi::SUMMARY_FILE)),
                q(&cfg.test.since)
            );
            if let Some(p) = plan.filter(|p| p.ok && cfg.migrator.run) {
                s.push_str(&format!(" --expected-version={}", q(&minor(&p.to))));
            }
            s
        }
        StepId::NoticeRemove => {
            let (env, flags) = api(cfg.target.instance.as_ref());
            format!("{env}src-snapshot notice remove{flags}{}", message(cfg))
        }
    }
}

/// `5.3` of `5.3.12303` or `v5.3.0`.
pub fn minor(version: &str) -> String {
    let v = version.trim().trim_start_matches('v');
    let mut parts = v.split(['.', '-', '+']);
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => v.to_string(),
    }
}

/// The one command that runs everything that is left.
pub fn migrate_command(config_path: Option<&Path>) -> String {
    match config_path {
        Some(p) => format!("src-snapshot migrate --config={} --resume", path(p)),
        None => "src-snapshot migrate --config=migration.yaml --resume".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> MigrationConfig {
        MigrationConfig::parse(text, Path::new("m.yaml")).expect("config")
    }

    #[test]
    fn commands_carry_this_migrations_values_and_no_secret() {
        let c = cfg(
            "side: both\nsnapshot_dir: /data/snap\nbucket: gs://acme/snap\ncredentials: /k/writer.json\ngzip: true\n\
             source: {targets: docker, instance: {endpoint: https://sg.acme.com, token_env: ACME_TOKEN}}\n\
             target: {url: postgres://admin@127.0.0.1:5432/postgres, password_env: CLOUDSQL_PW, databases: {pgsql: fe}, \
             instance: {endpoint: https://acme.cloud, token_file: /k/tok}}\n\
             migrator: {to: 5.3.2, command: [docker, run, --rm, '{image}']}\n",
        );
        assert_eq!(
            command(StepId::Preflight, &c, None),
            "SRC_ACCESS_TOKEN=\"$ACME_TOKEN\" src-snapshot preflight -endpoint=https://sg.acme.com --targets=docker --mode=docker -dir=/data/snap"
        );
        assert_eq!(
            command(StepId::Upload, &c, None),
            "src-snapshot upload -bucket=gs://acme/snap -credentials=/k/writer.json -dir=/data/snap --jobs=4 --target-version=16 --gzip --gzip-level=3"
        );
        assert_eq!(
            command(StepId::Import, &c, None),
            "PGPASSWORD=\"$CLOUDSQL_PW\" src-snapshot import -bucket=gs://acme/snap -credentials=/k/writer.json \
             --target-url=postgres://admin@127.0.0.1:5432/postgres --databases=pgsql=fe,codeintel=codeintel-db,codeinsights=codeinsights-db --jobs=4"
        );
        assert_eq!(
            command(StepId::Test, &c, None),
            "src-snapshot test -endpoint=https://acme.cloud -token-file=/k/tok -snapshot-summary=/data/snap/summary.json -since=1h"
        );
        let plan = UpgradeRecord {
            from: "5.1.0".into(),
            to: "5.3.2".into(),
            ok: true,
            args: Some(vec!["upgrade".into(), "--from=5.1".into(), "--to=5.3".into()]),
            command: Some("migrator upgrade --from=5.1 --to=5.3".into()),
            image: Some("sourcegraph/migrator:5.3.2".into()),
            compose: None,
            notes: vec![],
            problems: vec![],
        };
        assert_eq!(
            command(StepId::Migrator, &c, Some(&plan)),
            "docker run --rm sourcegraph/migrator:5.3.2 upgrade --from=5.1 --to=5.3"
        );
        assert_eq!(minor("v5.3.12303"), "5.3");
        assert_eq!(minor("6.12"), "6.12");
    }
}
