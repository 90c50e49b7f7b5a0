//! Database connections: a small pool of idle tokio-postgres clients per database.

use std::sync::Mutex;

use tokio_postgres::{Client, NoTls};

/// Clients to one database; a request takes one for itself and gives it back afterwards.
pub(crate) struct Pool {
    /// Which database this is, for messages ("frontend", "codeinsights", ...).
    pub label: &'static str,
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Client>>,
}

/// Most idle clients kept per database.
const MAX_IDLE: usize = 8;

impl Pool {
    /// Parse a libpq key=value (or URL) connection string. Like libpq, a missing password is taken
    /// from `PGPASSWORD`.
    pub fn new(label: &'static str, conn: &str) -> Result<Pool, String> {
        let mut config: tokio_postgres::Config = conn
            .parse()
            .map_err(|e| format!("invalid {label} connection string: {e}"))?;
        if config.get_password().is_none() {
            if let Ok(pw) = std::env::var("PGPASSWORD") {
                if !pw.is_empty() {
                    config.password(pw);
                }
            }
        }
        Ok(Pool {
            label,
            config,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// An idle client, or a new connection.
    pub async fn get(&self) -> Result<Client, String> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(c) if !c.is_closed() => return Ok(c),
                Some(_) => continue,
                None => break,
            }
        }
        // The error never holds the password: tokio-postgres reports host, user and cause only.
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| format!("cannot connect to the {} database: {e}", self.label))?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away.
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Give a client back (dropped when it is closed or enough are idle).
    pub fn put(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(client);
        }
    }
}

/// SQL rendering a `timestamptz` column as Sourcegraph's DateTime (RFC 3339 in UTC, whole seconds).
pub(crate) fn ts(col: &str) -> String {
    format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
}
