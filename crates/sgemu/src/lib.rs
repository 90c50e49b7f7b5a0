//! An emulator of Sourcegraph's GraphQL API for tests and the demo. **It is not Sourcegraph.**
//!
//! It answers `POST /.api/graphql` from a real Sourcegraph database at query time
//! (external services, users, orgs, repos, settings, site config, permission sync jobs,
//! out-of-band migrations, uploads, code insights), validates every operation against
//! Sourcegraph's real schema (the `.graphql` files of one Sourcegraph commit) and records what it
//! received. Runtime state Sourcegraph computes rather than stores (site alerts, configuration
//! validation messages, whether global settings come from a file) is set by the test.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sgemu::EmulatorError> {
//! let emu = sgemu::Emulator::start(sgemu::EmulatorConfig {
//!     frontend: "host=127.0.0.1 port=5432 user=sg dbname=sg".into(),
//!     codeintel: None,
//!     codeinsights: None,
//!     schema_dir: "testdata/sourcegraph/graphql".into(),
//!     tokens: vec![("secret".into(), true)],
//!     listen: "127.0.0.1:0".parse().expect("address"),
//! })
//! .await?;
//! println!("SRC_ENDPOINT={}", emu.endpoint());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use apollo_compiler::validation::Valid;
use apollo_compiler::Schema;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

mod db;
mod ids;
mod jsonc;
mod model;
mod request;
mod schema;
mod settings;

pub use schema::{load_schema, schema_files, validate_operation};

/// What the emulator serves and from where.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// tokio-postgres/libpq connection string (key=value form) for the frontend ("pgsql")
    /// database; may contain a password (tests only). Without one, `PGPASSWORD` is used.
    pub frontend: String,
    /// Optional codeintel database (checked to be reachable; uploads are counted in frontend).
    pub codeintel: Option<String>,
    /// Optional codeinsights database (insight views and series).
    pub codeinsights: Option<String>,
    /// Folder with Sourcegraph's `.graphql` schema files.
    pub schema_dir: PathBuf,
    /// Accepted tokens: (token, is_site_admin).
    pub tokens: Vec<(String, bool)>,
    /// Listen address; port 0 = any.
    pub listen: SocketAddr,
}

impl std::fmt::Debug for EmulatorConfig {
    // Connection strings and tokens are secrets: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("schema_dir", &self.schema_dir)
            .field("tokens", &self.tokens.len())
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// A site alert, as `site.alerts` returns it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SiteAlert {
    /// `ERROR`, `WARNING` or `INFO`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The alert text.
    pub message: String,
}

/// One request the emulator received on `/.api/graphql`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReceivedOperation {
    /// `operationName` of the request, else the name of the document's first operation.
    pub name: Option<String>,
    /// The query text as sent.
    pub query: String,
    /// The variables as sent (`null` when none).
    pub variables: serde_json::Value,
    /// Whether the document parsed and validated against the schema (and its operation and
    /// variables were accepted). Decided for every request, authorized or not.
    pub valid: bool,
    /// Why it is not valid (empty when valid).
    pub errors: Vec<String>,
    /// HTTP status of the answer (200, 400 or 401).
    pub status: u16,
}

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The schema files could not be read, parsed or validated.
    #[error("schema: {message}")]
    Schema {
        /// What went wrong.
        message: String,
    },
    /// A database could not be reached (the message never holds a password).
    #[error("database: {message}")]
    Database {
        /// What went wrong.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration is unusable (e.g. no tokens).
    #[error("configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

/// State Sourcegraph computes at run time rather than stores; tests set it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeState {
    /// `site.alerts`.
    pub site_alerts: Vec<SiteAlert>,
    /// `site.configuration.validationMessages`.
    pub config_validation_messages: Vec<String>,
    /// `site.allowSiteSettingsEdits` (false = global settings come from `GLOBAL_SETTINGS_FILE`,
    /// and edits are refused).
    pub allow_site_settings_edits: bool,
}

impl Default for RuntimeState {
    fn default() -> Self {
        RuntimeState {
            site_alerts: Vec::new(),
            config_validation_messages: Vec::new(),
            allow_site_settings_edits: true,
        }
    }
}

/// What every request shares.
pub(crate) struct Shared {
    pub schema: Valid<Schema>,
    pub tokens: Vec<(String, bool)>,
    pub frontend: db::Pool,
    pub codeinsights: Option<db::Pool>,
    state: Mutex<RuntimeState>,
    received: Mutex<Vec<ReceivedOperation>>,
    pub max_page_size: Mutex<Option<usize>>,
    log_requests: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn state(&self) -> RuntimeState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update_state(&self, f: impl FnOnce(&mut RuntimeState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub(crate) fn record(&self, op: ReceivedOperation) {
        if self.log_requests.load(std::sync::atomic::Ordering::Relaxed) {
            // Names and statuses only: queries may be long and variables may hold settings.
            let validity = if op.valid { "valid" } else { "INVALID" };
            let name = op.name.as_deref().unwrap_or("(unnamed)");
            eprintln!("sg-api-emulator: {name} -> HTTP {} ({validity})", op.status);
            for e in &op.errors {
                eprintln!("sg-api-emulator:   {e}");
            }
        }
        self.received.lock().unwrap_or_else(|p| p.into_inner()).push(op);
    }
}

/// A running emulator.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Load and validate the schema, check the databases are reachable, and start serving.
    pub async fn start(cfg: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        if cfg.tokens.is_empty() {
            return Err(EmulatorError::Config {
                message: "no access tokens configured".to_string(),
            });
        }
        let schema = load_schema(&cfg.schema_dir)?;
        let db_err = |message| EmulatorError::Database { message };
        let frontend = db::Pool::new("frontend", &cfg.frontend).map_err(db_err)?;
        let codeinsights = match &cfg.codeinsights {
            Some(c) => Some(db::Pool::new("codeinsights", c).map_err(db_err)?),
            None => None,
        };
        // Fail now rather than on the first request.
        frontend.put(frontend.get().await.map_err(db_err)?);
        if let Some(p) = &codeinsights {
            p.put(p.get().await.map_err(db_err)?);
        }
        if let Some(c) = &cfg.codeintel {
            let p = db::Pool::new("codeintel", c).map_err(db_err)?;
            drop(p.get().await.map_err(db_err)?);
        }
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| EmulatorError::Listen {
                addr: cfg.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| EmulatorError::Listen {
            addr: cfg.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            schema,
            tokens: cfg.tokens,
            frontend,
            codeinsights,
            state: Mutex::new(RuntimeState::default()),
            received: Mutex::new(Vec::new()),
            max_page_size: Mutex::new(None),
            log_requests: std::sync::atomic::AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/.api/graphql", post(graphql_handler))
            .route("/.emulator/state", post(set_state_handler).get(get_state_handler))
            .with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                eprintln!("sg-api-emulator: server error: {e}");
            }
        });
        Ok(Emulator {
            shared,
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// The base URL to set `SRC_ENDPOINT` to, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Set `site.alerts`.
    pub fn set_site_alerts(&self, alerts: Vec<SiteAlert>) {
        self.shared.update_state(|s| s.site_alerts = alerts);
    }

    /// Set `site.configuration.validationMessages`.
    pub fn set_config_validation_messages(&self, msgs: Vec<String>) {
        self.shared.update_state(|s| s.config_validation_messages = msgs);
    }

    /// Set `site.allowSiteSettingsEdits`; false also makes edits of global settings fail as
    /// Sourcegraph's do when they come from `GLOBAL_SETTINGS_FILE`.
    pub fn set_allow_site_settings_edits(&self, allow: bool) {
        self.shared.update_state(|s| s.allow_site_settings_edits = allow);
    }

    /// Cap every connection's page size at `max` (`None`: Sourcegraph's own rules, where older
    /// connections such as `externalServices` have no cap and newer ones cap at 100).
    pub fn set_max_page_size(&self, max: Option<usize>) {
        *self
            .shared
            .max_page_size
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = max;
    }

    /// Log one line per request (operation name, status, validity) to stderr.
    pub fn set_request_log(&self, on: bool) {
        self.shared
            .log_requests
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The current runtime state.
    pub fn state(&self) -> RuntimeState {
        self.shared.state()
    }

    /// Every request received on `/.api/graphql`, in order.
    pub fn received(&self) -> Vec<ReceivedOperation> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop serving and wait for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

fn to_response(a: request::Answer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
}

fn auth_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

async fn graphql_handler(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = auth_header(&headers).map(str::to_string);
    // apollo-compiler's executor future is not Send: drive it on a blocking-pool thread (the
    // database connections' tasks keep running on the runtime's workers).
    let handle = tokio::runtime::Handle::current();
    let run = tokio::task::spawn_blocking(move || {
        handle.block_on(request::graphql(shared, auth.as_deref(), &body))
    });
    match run.await {
        Ok(answer) => to_response(answer),
        Err(e) => to_response(request::Answer::plain(
            500,
            &format!("sg-api-emulator: request failed: {e}"),
        )),
    }
}

/// The control endpoint's body: any subset of the runtime state.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StateUpdate {
    site_alerts: Option<Vec<SiteAlert>>,
    config_validation_messages: Option<Vec<String>>,
    allow_site_settings_edits: Option<bool>,
    max_page_size: Option<usize>,
}

async fn set_state_handler(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    // Only a site admin's token may change what the emulator reports.
    match request::authenticate(&shared, auth_header(&headers)) {
        Ok(true) => {}
        Ok(false) => return to_response(request::Answer::plain(403, "must be site admin")),
        Err(a) => return to_response(a),
    }
    let update: StateUpdate = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => return to_response(request::Answer::plain(400, &format!("invalid state: {e}"))),
    };
    shared.update_state(|s| {
        if let Some(a) = update.site_alerts {
            s.site_alerts = a;
        }
        if let Some(m) = update.config_validation_messages {
            s.config_validation_messages = m;
        }
        if let Some(b) = update.allow_site_settings_edits {
            s.allow_site_settings_edits = b;
        }
    });
    if let Some(n) = update.max_page_size {
        *shared.max_page_size.lock().unwrap_or_else(|p| p.into_inner()) = if n == 0 { None } else { Some(n) };
    }
    get_state_handler(State(shared), headers).await
}

async fn get_state_handler(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(a) = request::authenticate(&shared, auth_header(&headers)) {
        return to_response(a);
    }
    let state = shared.state();
    let body = serde_json::json!({
        "site_alerts": state.site_alerts,
        "config_validation_messages": state.config_validation_messages,
        "allow_site_settings_edits": state.allow_site_settings_edits,
        "max_page_size": *shared.max_page_size.lock().unwrap_or_else(|p| p.into_inner()),
        "received": shared.received.lock().unwrap_or_else(|p| p.into_inner()).len(),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}
