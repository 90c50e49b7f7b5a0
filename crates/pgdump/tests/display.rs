//! The printed commands: exact text for src-cli's presets, and proof that
//! pasting them into a shell produces the same dumps as running them here.

mod common;

use std::path::Path;

use common::*;
use pgdump::{display_header, dump_commands, DbRole, Mode, Targets};
use testkit::client_bin_dir;
use testkit::shims::install_shims;

fn script(mode: Mode, preset: &str) -> String {
    let t = Targets::preset(preset).expect("preset");
    let cmds = dump_commands(mode, &t, Path::new("src-snapshot"), "pg_dump").expect("build");
    let mut lines = vec![display_header(&t).expect("header")];
    lines.extend(cmds.iter().map(|(_, c)| c.display()));
    lines.join("\n")
}

const FLAGS: &str = "--clean --format=plain --if-exists --no-acl --no-owner --quote-all-identifiers";

#[test]
fn preset_scripts_exact() {
    assert_eq!(
        script(Mode::PgDump, "local"),
        format!(
            "# Passwords are never printed: set PGSQL_PASSWORD, CODEINTEL_PASSWORD and CODEINSIGHTS_PASSWORD first (preset local defaults: sg, sg, password).\n\
             PGPASSWORD=\"$PGSQL_PASSWORD\" pg_dump {FLAGS} --username=sg --dbname=sg > src-snapshot/pgsql.sql\n\
             PGPASSWORD=\"$CODEINTEL_PASSWORD\" pg_dump {FLAGS} --username=sg --dbname=sg > src-snapshot/codeintel.sql\n\
             PGPASSWORD=\"$CODEINSIGHTS_PASSWORD\" pg_dump {FLAGS} --username=postgres --dbname=postgres > src-snapshot/codeinsights.sql"
        )
    );
    assert_eq!(
        script(Mode::Docker, "docker"),
        format!(
            "# Passwords are never printed: set PGSQL_PASSWORD, CODEINTEL_PASSWORD and CODEINSIGHTS_PASSWORD first (preset docker defaults: sg, sg, password).\n\
             PGPASSWORD=\"$PGSQL_PASSWORD\" docker exec -i -e PGPASSWORD pgsql pg_dump {FLAGS} --username=sg --dbname=sg > src-snapshot/pgsql.sql\n\
             PGPASSWORD=\"$CODEINTEL_PASSWORD\" docker exec -i -e PGPASSWORD codeintel-db pg_dump {FLAGS} --username=sg --dbname=sg > src-snapshot/codeintel.sql\n\
             PGPASSWORD=\"$CODEINSIGHTS_PASSWORD\" docker exec -i -e PGPASSWORD codeinsights-db pg_dump {FLAGS} --username=postgres --dbname=postgres > src-snapshot/codeinsights.sql"
        )
    );
    let wrap = "sh -c 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec \"$@\"' sh";
    assert_eq!(
        script(Mode::Kubectl, "k8s"),
        format!(
            "# Passwords are never printed: set PGSQL_PASSWORD, CODEINTEL_PASSWORD and CODEINSIGHTS_PASSWORD first (preset k8s defaults: sg, sg, password).\n\
             printf '%s\\n' \"$PGSQL_PASSWORD\" | kubectl exec -i statefulset/pgsql -- {wrap} pg_dump {FLAGS} --username=sg --dbname=sg > src-snapshot/pgsql.sql\n\
             printf '%s\\n' \"$CODEINTEL_PASSWORD\" | kubectl exec -i statefulset/codeintel-db -- {wrap} pg_dump {FLAGS} --username=sg --dbname=sg > src-snapshot/codeintel.sql\n\
             printf '%s\\n' \"$CODEINSIGHTS_PASSWORD\" | kubectl exec -i statefulset/codeinsights-db -- {wrap} pg_dump {FLAGS} --username=postgres --dbname=postgres > src-snapshot/codeinsights.sql"
        )
    );
    // A mode with another mode's preset, as src-cli allows (`--targets=`).
    assert!(script(Mode::PgDump, "docker").contains(" --host=codeintel-db > src-snapshot/codeintel.sql"));
}

#[test]
fn pasted_commands_dump_the_same_as_spawned_ones() {
    let server = server(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = install_shims(&dir.path().join("shims"), &client_bin_dir(16));
    shim.set_container_env(&[("PGHOST", server.host()), ("PGPORT", &server.port().to_string())]);
    let dbs = [
        seeded_db(server, "disp_a", false),
        seeded_db(server, "disp_b", false),
        seeded_db(server, "disp_c", false),
    ];
    for mode in [Mode::PgDump, Mode::Docker, Mode::Kubectl] {
        let t = match mode {
            Mode::PgDump => targets(tcp_target(&dbs[0]), tcp_target(&dbs[1]), tcp_target(&dbs[2])),
            _ => targets(
                container_target("pgsql", &dbs[0]),
                container_target("codeintel-db", &dbs[1]),
                container_target("codeinsights-db", &dbs[2]),
            ),
        };
        let work = dir.path().join(mode.as_str());
        std::fs::create_dir_all(work.join("src-snapshot")).expect("mkdir");
        let path = path_of(&[&shim.path_dir, &client_bin_dir(16)]);
        let mut cmds = dump_commands(mode, &t, Path::new("src-snapshot"), "pg_dump").expect("build");
        let text: Vec<String> = cmds.iter().map(|(_, c)| c.display()).collect();
        let text = format!("set -e\n{}\n", text.join("\n"));
        let mut sh = std::process::Command::new("sh");
        sh.arg("-c").arg(&text).current_dir(&work).env("PATH", &path);
        for (role, db) in DbRole::all().into_iter().zip(&dbs) {
            sh.env(role.password_env(), &db.password);
        }
        let out = sh.output().expect("sh");
        assert!(
            out.status.success(),
            "{mode}: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (role, cmd) in &mut cmds {
            cmd.env("PATH", &path);
            let (spawned, result) = dump(cmd);
            result.unwrap_or_else(|e| panic!("{mode} {role}: {e}"));
            let pasted =
                std::fs::read(work.join("src-snapshot").join(role.file_name())).expect("pasted dump");
            assert_complete_dump(&pasted, role.yaml_key());
            assert_eq!(
                without_restrict(&pasted),
                without_restrict(&spawned),
                "{mode} {role}"
            );
        }
    }
}
