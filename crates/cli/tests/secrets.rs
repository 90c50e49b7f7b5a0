//! Secrets stay secret along the whole data path (issue 8): the source
//! password (in the targets file), the target password (PGPASSWORD), a
//! restore password, a GCS service-account key and the access tokens issued
//! for it are recognisable strings, and none of them may appear in any
//! command's stdout or stderr (with `-vv`), in any file the tool writes
//! (snapshot folder, bucket objects and metadata, spool), in the argv of
//! pg_dump or psql (recorded by PATH shims), or in any process's
//! /proc/PID/cmdline sampled while the commands run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cmd, source, SOURCE_DBS};
use testkit::gcs_fake::GcsFake;
use testkit::process_cmdlines;

/// A shim that logs its argv, then runs the real program.
fn shim(bin: &Path, name: &str, real: &Path, log: &Path) {
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$0 $*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        real.display()
    );
    let path = bin.join(name);
    std::fs::write(&path, script).expect("write shim");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Samples every process's command line until stopped; keeps the ones that
/// hold a secret and counts the pg_dump / psql processes it saw.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<String>, usize)>,
}

impl Sampler {
    fn start(secrets: Vec<String>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let me = std::process::id();
        let thread = std::thread::spawn(move || {
            let (mut leaks, mut tools) = (Vec::new(), std::collections::BTreeSet::new());
            while !flag.load(Ordering::SeqCst) {
                for (pid, line) in process_cmdlines() {
                    if pid == me {
                        continue;
                    }
                    if secrets.iter().any(|s| line.contains(s.as_str())) {
                        leaks.push(format!("{pid}: {line}"));
                    }
                    let first = line.split(' ').next().unwrap_or_default();
                    if first.ends_with("/pg_dump") || first.ends_with("/psql") {
                        tools.insert(pid);
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (leaks, tools.len())
        });
        Sampler { stop, thread }
    }

    fn finish(self) -> (Vec<String>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("sampler")
    }
}

#[test]
fn secrets_reach_no_output_file_argv_or_process_list() {
    let src = source(16);
    let server = src.server;
    let tag = testkit::random_hex(6);
    let src_pw = format!("Pw-s3cr3t-SRC-{tag}");
    let tgt_pw = format!("Pw-s3cr3t-TGT-{tag}");
    let rst_pw = format!("Pw-s3cr3t-RST-{tag}");
    let wrong_pw = format!("Pw-s3cr3t-WRONG-{tag}");
    let src_role = format!("secsrc_{tag}");
    let rst_role = format!("secrst_{tag}");
    // Roles created over psql's stdin (testkit), never its argv.
    server.psql(
        "postgres",
        &format!(
            "CREATE ROLE {src_role} LOGIN SUPERUSER PASSWORD '{src_pw}';\n\
             CREATE ROLE {rst_role} LOGIN SUPERUSER PASSWORD '{rst_pw}';\n"
        ),
    );
    let base = server.unique_name("secret");
    let target = server.create_cloudsql_database(&base);
    server.psql(
        "postgres",
        &format!(
            "ALTER ROLE {} PASSWORD '{tgt_pw}';",
            testkit::quote_ident(&target.user)
        ),
    );

    let tmp = tempfile::tempdir().expect("tmp");
    let snap = tmp.path().join("snap");
    let bucket = tmp.path().join("bucket");
    let spool = tmp.path().join("spool");
    std::fs::create_dir_all(&bucket).expect("mkdir");
    let bucket_flag = format!("-bucket=file://{}", bucket.display());
    // The source password lives in the targets file, outside the snapshot.
    let mut yaml = String::new();
    for (role, db) in SOURCE_DBS {
        yaml.push_str(&format!(
            "{role}:\n  target: 127.0.0.1\n  port: {}\n  dbname: sg_{db}\n  username: {src_role}\n  password: \"{src_pw}\"\n",
            server.port()
        ));
    }
    let targets = tmp.path().join("targets.yaml");
    std::fs::write(&targets, yaml).expect("targets");
    // Restore into fresh databases, with the password in its targets file too.
    let mut yaml = String::new();
    for (role, db) in SOURCE_DBS {
        let name = format!("{base}_r_{db}");
        server.create_database(&name);
        yaml.push_str(&format!(
            "{role}:\n  target: 127.0.0.1\n  port: {}\n  dbname: {name}\n  username: {rst_role}\n  password: \"{rst_pw}\"\n",
            server.port()
        ));
    }
    let restore_targets = tmp.path().join("restore.yaml");
    std::fs::write(&restore_targets, yaml).expect("restore targets");

    // pg_dump and psql come from PATH, through shims that log their argv.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let argv_log = tmp.path().join("argv.log");
    shim(&bin, "pg_dump", &testkit::pg_dump_path(16), &argv_log);
    shim(&bin, "psql", &testkit::psql_path(16), &argv_log);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let target_flags = |c: &mut Command| {
        c.arg(format!(
            "--target-url=postgres://{}@127.0.0.1:{}/{}",
            target.user, target.port, target.dbname
        ))
        .arg(format!(
            "--databases=pgsql={base}_fe,codeintel={base}_ci,codeinsights={base}_cn"
        ))
        .env("PGPASSWORD", &tgt_pw);
    };
    let dir_flag = format!("-dir={}", snap.display());

    let mut secrets = vec![src_pw.clone(), tgt_pw.clone(), rst_pw.clone(), wrong_pw.clone()];
    let sampler = Sampler::start(secrets.clone());
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut run = |what: &str, c: &mut Command, ok: bool| {
        c.arg("-vv").arg("--no-progress").env("PATH", &path);
        let out = c.output().expect("run src-snapshot");
        assert_eq!(
            out.status.success(),
            ok,
            "{what}: {}",
            testkit::describe_output(&out)
        );
        outputs.push((what.to_string(), out));
    };
    run(
        "databases pg_dump --run",
        cmd()
            .args(["databases", "pg_dump", "--run"])
            .arg(format!("--targets={}", targets.display()))
            .arg(&dir_flag),
        true,
    );
    run(
        "upload",
        cmd().arg("upload").arg(&bucket_flag).arg(&dir_flag),
        true,
    );
    run(
        "verify",
        cmd().arg("verify").arg(&bucket_flag).arg(&dir_flag),
        true,
    );
    let mut c = cmd();
    c.arg("import")
        .arg(&bucket_flag)
        .arg(format!("--spool-dir={}", spool.display()))
        .arg("--json");
    target_flags(&mut c);
    run("import", &mut c, true);
    let mut c = cmd();
    c.arg("compare").arg(&bucket_flag);
    target_flags(&mut c);
    run("compare", &mut c, true);
    // A wrong password: refused, and neither password is repeated.
    let mut c = cmd();
    c.arg("compare").arg(&bucket_flag);
    target_flags(&mut c);
    c.env("PGPASSWORD", &wrong_pw);
    run("compare with a wrong password", &mut c, false);
    run(
        "restore pg_dump --run",
        cmd()
            .args(["restore", "pg_dump", "--run"])
            .arg(format!("--targets={}", restore_targets.display()))
            .arg(&dir_flag),
        true,
    );

    // GCS with a service-account key: the key and the tokens it buys.
    let fake = GcsFake::start();
    fake.create_bucket("sec");
    fake.require_auth(true);
    let key = tmp.path().join("sa.json");
    std::fs::write(
        &key,
        fake.test_service_account("uploader@proj.iam.gserviceaccount.com"),
    )
    .expect("key");
    for sub in ["upload", "verify"] {
        run(
            &format!("{sub} to GCS"),
            cmd()
                .arg(sub)
                .arg("-bucket=gs://sec/snap")
                .arg(format!("--credentials={}", key.display()))
                .arg(&dir_flag)
                .env("STORAGE_EMULATOR_HOST", fake.host()),
            true,
        );
    }
    let (leaks, tools_seen) = sampler.finish();

    let key_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key).expect("key")).expect("json");
    let pem = key_json["private_key"].as_str().expect("private_key");
    secrets.extend(
        pem.lines()
            .filter(|l| l.len() > 40 && !l.contains("BEGIN") && !l.contains("END"))
            .map(str::to_string),
    );
    let tokens: std::collections::BTreeSet<String> = fake
        .requests()
        .iter()
        .filter_map(|r| {
            r.header("authorization")?
                .strip_prefix("Bearer ")
                .map(str::to_string)
        })
        .collect();
    assert!(!tokens.is_empty(), "the GCS leg used access tokens");
    secrets.extend(tokens);
    let leaked = |text: &str| secrets.iter().find(|s| text.contains(s.as_str())).cloned();

    // The runs did what they should (so the checks below look at real output).
    assert!(fake.object("sec", "snap/pgsql.sql").is_some());
    let import: serde_json::Value = serde_json::from_slice(&outputs[3].1.stdout).expect("import JSON");
    assert_eq!(import["databases"].as_array().map(Vec::len), Some(3), "{import}");
    let refused = String::from_utf8_lossy(&outputs[5].1.stderr).into_owned();
    assert!(refused.contains("password"), "{refused}");

    for (what, out) in &outputs {
        let text = testkit::describe_output(out);
        assert!(leaked(&text).is_none(), "{what} printed a secret: {text}");
    }
    let mut written = files_under(&snap);
    written.extend(files_under(&bucket));
    written.extend(files_under(&spool));
    assert!(
        written.iter().any(|p| p.ends_with("manifest.json")),
        "{written:?}"
    );
    for p in &written {
        let text = String::from_utf8_lossy(&std::fs::read(p).expect("read")).into_owned();
        if let Some(s) = leaked(&text) {
            panic!("{} holds the secret {s:?}", p.display());
        }
    }
    let argv = std::fs::read_to_string(&argv_log).expect("argv log");
    let calls: Vec<&str> = argv.lines().collect();
    assert!(
        calls.iter().filter(|l| l.contains("pg_dump ")).count() >= 3,
        "pg_dump ran through its shim: {argv}"
    );
    assert!(
        calls.iter().filter(|l| l.contains("psql ")).count() >= 3,
        "psql ran through its shim: {argv}"
    );
    assert!(leaked(&argv).is_none(), "a secret in a child's argv: {argv}");
    assert!(leaks.is_empty(), "a secret in /proc/PID/cmdline: {leaks:#?}");
    assert!(tools_seen >= 1, "the sampler saw no pg_dump or psql process");
    eprintln!(
        "{} commands, {} files, {} child calls, {tools_seen} tool processes sampled: no secret anywhere",
        outputs.len(),
        written.len(),
        calls.len()
    );
}
