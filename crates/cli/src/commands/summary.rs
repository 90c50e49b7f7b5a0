//! `summary [-dir=src-snapshot]`: record the instance in `summary.json`
//! (src-cli's format plus our extra keys). Also the API flags and error
//! hints shared by `test`, `notice` and `preflight`.

use std::path::PathBuf;

use anyhow::Context;
use sgapi::{ApiError, Client, ClientOptions, Summary, SummaryOptions, Token};

use crate::render::Table;
use crate::{exit, Globals};

/// How to reach the Sourcegraph API (besides SRC_ENDPOINT, SRC_ACCESS_TOKEN, SRC_HEADER_<NAME>).
#[derive(clap::Args, Debug, Clone)]
pub struct ApiFlags {
    /// The instance URL (overrides SRC_ENDPOINT).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// A file whose first line is the access token (overrides SRC_ACCESS_TOKEN; keeps it out of argv).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Page size for paginated queries.
    #[arg(long, default_value_t = 100, hide = true)]
    pub page_size: u32,
}

impl ApiFlags {
    /// A client from the environment and these flags.
    pub fn client(&self) -> Result<Client, ApiError> {
        let mut opts = ClientOptions::from_env();
        if let Some(e) = &self.endpoint {
            opts.endpoint = Some(e.clone());
        }
        if let Some(f) = &self.token_file {
            opts.token = Some(Token::from_file(f)?);
        }
        opts.page_size = self.page_size;
        Client::new(opts)
    }
}

/// The fix for an API error, from the layer that knows the flags.
pub fn hint(e: &ApiError) -> Option<&'static str> {
    Some(match e {
        ApiError::MissingEndpoint => "export SRC_ENDPOINT=https://sourcegraph.example.com (the URL you open in the browser), or pass -endpoint",
        ApiError::MissingToken => "export SRC_ACCESS_TOKEN=… (a site admin's token from Settings > Access tokens), or pass -token-file=FILE",
        ApiError::Unauthorized { .. } => "the token is not valid on this instance: create a new one as a site admin and set SRC_ACCESS_TOKEN",
        ApiError::NotSiteAdmin { .. } => "use an access token that belongs to a site admin",
        ApiError::Transport { .. } => "check SRC_ENDPOINT and that this machine can reach it (proxy headers go in SRC_HEADER_<NAME>)",
        ApiError::SettingsEditsDisabled => {
            "global settings come from a file (GLOBAL_SETTINGS_FILE): add the notice to that file by hand, or unset it to edit over the API"
        }
        ApiError::SettingsRace { .. } => "someone keeps editing global settings; try again in a moment",
        ApiError::Unsupported { .. } => "this Sourcegraph version lacks a field src-snapshot needs; run with -v and report it",
        ApiError::ParseSummary { .. } => "pass the summary.json written by `src-snapshot summary` or `src snapshot summary`",
        _ => return None,
    })
}

/// Prints an API error with its hint; the exit code for "could not run".
pub fn report(e: ApiError, what: &str) -> u8 {
    let h = hint(&e);
    crate::render::error(&anyhow::Error::new(e).context(what.to_string()));
    if let Some(h) = h {
        eprintln!("hint: {h}");
    }
    exit::ERROR
}

/// Flags of `summary`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Writes DIR/summary.json: src-cli's ExternalServices and Site.AuthProviders (every page), plus ProductVersion, \
Counts (repositories, users, organizations, code-intel uploads, insight series, saved searches) and SiteConfigKeys (names only, \
never values). src-cli's `snapshot test` reads it, and so does `src-snapshot test`.\n\
Reads SRC_ENDPOINT, SRC_ACCESS_TOKEN (a site admin's) and SRC_HEADER_<NAME>."
)]
pub struct SummaryCmd {
    #[command(flatten)]
    pub api: ApiFlags,
    /// The snapshot folder.
    #[arg(long, default_value = "src-snapshot")]
    pub dir: PathBuf,
}

/// Runs `summary`.
pub fn run(cmd: SummaryCmd, g: &Globals) -> anyhow::Result<u8> {
    let client = match cmd.api.client() {
        Ok(c) => c,
        Err(e) => return Ok(report(e, "connecting to Sourcegraph")),
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = match rt.block_on(sgapi::take_summary(&client, &SummaryOptions::default())) {
        Ok(s) => s,
        Err(e) => return Ok(report(e, &format!("taking the summary of {}", client.endpoint()))),
    };
    std::fs::create_dir_all(&cmd.dir).with_context(|| format!("creating {}", cmd.dir.display()))?;
    let path = cmd.dir.join(sgapi::SUMMARY_FILE);
    snapshot::fsutil::write_atomic(&path, summary.to_json().as_bytes())?;
    if g.json {
        print!("{}", summary.to_json());
        return Ok(exit::OK);
    }
    print!("{}", render_summary(&summary));
    println!("wrote {}", path.display());
    Ok(exit::OK)
}

/// The summary as a table for people.
pub fn render_summary(s: &Summary) -> String {
    let mut t = Table::new(&["what", ">count", "detail"]);
    let kinds = {
        let mut k: Vec<&str> = s
            .external_services
            .nodes
            .iter()
            .map(|n| n.kind.as_str())
            .collect();
        k.sort_unstable();
        k.dedup();
        k.join(", ")
    };
    t.row(vec![
        "external services".into(),
        s.external_services.total_count.to_string(),
        kinds,
    ]);
    let providers: Vec<String> = s
        .site
        .auth_providers
        .nodes
        .iter()
        .map(|p| p.service_type.clone())
        .collect();
    t.row(vec![
        "auth providers".into(),
        s.site.auth_providers.total_count.to_string(),
        providers.join(", "),
    ]);
    if let Some(c) = &s.counts {
        for (name, v) in c.entries() {
            t.row(vec![
                name.to_string(),
                v.map_or_else(|| "-".into(), |v| v.to_string()),
                String::new(),
            ]);
        }
    }
    if let Some(k) = &s.site_config_keys {
        t.row(vec![
            "site config keys".into(),
            k.len().to_string(),
            String::new(),
        ]);
    }
    let mut out = t.render();
    if let Some(v) = &s.product_version {
        out.push_str(&format!("Sourcegraph {v}\n"));
    }
    for n in &s.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}
