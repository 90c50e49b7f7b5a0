//! `sg-api-emulator`: serves an emulation of Sourcegraph's GraphQL API from a Sourcegraph
//! database, for tests and demos. It is not Sourcegraph.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

/// Emulates Sourcegraph's GraphQL API (POST /.api/graphql) from a Sourcegraph database, for tests
/// and demos. NOT Sourcegraph.
///
/// Prints `endpoint=http://HOST:PORT` as its first line on stdout, then serves until SIGINT or
/// SIGTERM. Database passwords come from the environment, never the command line:
/// SGEMU_FRONTEND_PASSWORD, SGEMU_CODEINTEL_PASSWORD, SGEMU_CODEINSIGHTS_PASSWORD, else
/// PGPASSWORD. Runtime state (site alerts, validation messages, allowSiteSettingsEdits,
/// max_page_size) is set with POST /.emulator/state and a site-admin token.
#[derive(Parser, Debug)]
#[command(name = "sg-api-emulator", version)]
struct Args {
    /// Frontend ("pgsql") database, libpq key=value form (e.g. "host=127.0.0.1 user=sg dbname=sg").
    #[arg(long, value_name = "CONNSTR")]
    frontend: String,
    /// Codeintel database (only checked to be reachable).
    #[arg(long, value_name = "CONNSTR")]
    codeintel: Option<String>,
    /// Codeinsights database (insight views and series).
    #[arg(long, value_name = "CONNSTR")]
    codeinsights: Option<String>,
    /// Folder with Sourcegraph's .graphql schema files.
    #[arg(long, value_name = "DIR")]
    schema_dir: PathBuf,
    /// Accepted tokens, one per line: `TOKEN` or `TOKEN admin` (site admin) or `TOKEN user`.
    /// Blank lines and lines starting with # are ignored.
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    /// Address to listen on (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Cap every connection's page size (default: Sourcegraph's own rules).
    #[arg(long)]
    max_page_size: Option<usize>,
    /// Do not log one line per request on stderr.
    #[arg(long)]
    quiet: bool,
}

fn read_tokens(path: &Path) -> Result<Vec<(String, bool)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let token = parts.next().unwrap_or_default().to_string();
        let admin = match parts.next() {
            None | Some("admin") => true,
            Some("user") => false,
            // The line holds a token: say which line, never what it says.
            Some(_) => {
                return Err(format!(
                    "token file {} line {}: expected `TOKEN [admin|user]`",
                    path.display(),
                    n + 1
                ))
            }
        };
        tokens.push((token, admin));
    }
    if tokens.is_empty() {
        return Err(format!("token file {} has no tokens", path.display()));
    }
    Ok(tokens)
}

/// Add the password from `env` (else `PGPASSWORD`, which the library reads itself) to a
/// key=value connection string; refuse one that already carries a password on the command line.
fn with_password(label: &str, conn: &str, env: &str) -> Result<String, String> {
    let parsed: tokio_postgres::Config = conn
        .parse()
        .map_err(|e| format!("invalid --{label} connection string: {e}"))?;
    if parsed.get_password().is_some() {
        return Err(format!(
            "--{label} holds a password; pass it in {env} or PGPASSWORD instead (the command line is visible to other users)"
        ));
    }
    match std::env::var(env) {
        Ok(pw) if !pw.is_empty() => {
            if conn.contains("://") {
                return Err(format!("{env} needs --{label} in key=value form, not a URL"));
            }
            let quoted = pw.replace('\\', "\\\\").replace('\'', "\\'");
            Ok(format!("{conn} password='{quoted}'"))
        }
        _ => Ok(conn.to_string()),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let tokens = read_tokens(&args.token_file)?;
    let frontend = with_password("frontend", &args.frontend, "SGEMU_FRONTEND_PASSWORD")?;
    let codeintel = args
        .codeintel
        .as_deref()
        .map(|c| with_password("codeintel", c, "SGEMU_CODEINTEL_PASSWORD"))
        .transpose()?;
    let codeinsights = args
        .codeinsights
        .as_deref()
        .map(|c| with_password("codeinsights", c, "SGEMU_CODEINSIGHTS_PASSWORD"))
        .transpose()?;
    eprintln!(
        "sg-api-emulator: this is an EMULATOR of Sourcegraph's GraphQL API for tests and demos, NOT Sourcegraph; \
         it answers from the database it is pointed at"
    );
    let emu = sgemu::Emulator::start(sgemu::EmulatorConfig {
        frontend,
        codeintel,
        codeinsights,
        schema_dir: args.schema_dir,
        tokens,
        listen: args.listen,
    })
    .await
    .map_err(|e| e.to_string())?;
    emu.set_max_page_size(args.max_page_size);
    emu.set_request_log(!args.quiet);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "endpoint={}", emu.endpoint()).map_err(|e| format!("cannot write to stdout: {e}"))?;
        out.flush().map_err(|e| format!("cannot write to stdout: {e}"))?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot wait for SIGTERM: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("sg-api-emulator: stopping");
    emu.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sg-api-emulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sg-api-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}
