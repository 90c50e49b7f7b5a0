//! Connection settings, resolved the way libpq resolves them: the URL gives
//! host, port, user and database; the password comes from `PGPASSWORD` or a
//! pgpass file, never from the URL (a URL is argv, visible to every user).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{describe, ConnectFailure, PgError};

/// Where and as whom to connect; the database is chosen per connection.
#[derive(Clone)]
pub struct ConnSpec {
    host: String,
    port: u16,
    user: String,
    dbname: Option<String>,
    password: Option<String>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for ConnSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnSpec")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ConnSpec {
    /// Parses `postgres://USER@HOST:PORT[/DB]`. The password is taken from
    /// `PGPASSWORD`, else from `PGPASSFILE` or `~/.pgpass`.
    ///
    /// # Errors
    /// [`PgError::BadUrl`] for an unparsable URL, or one that carries a password.
    pub fn from_url(url: &str) -> Result<ConnSpec, PgError> {
        let config: Config = url.parse().map_err(|e: tokio_postgres::Error| {
            PgError::BadUrl(format!("{e} (expected postgres://USER@HOST:PORT/)"))
        })?;
        if config.get_password().is_some() {
            return Err(PgError::BadUrl(
                "the URL contains a password; remove it and set PGPASSWORD or use a pgpass file (command lines are visible to other users)".into(),
            ));
        }
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => std::env::var("PGHOST").unwrap_or_else(|_| "localhost".into()),
        };
        let port = config
            .get_ports()
            .first()
            .copied()
            .or_else(|| std::env::var("PGPORT").ok().and_then(|p| p.parse().ok()))
            .unwrap_or(5432);
        let user = config
            .get_user()
            .map(str::to_string)
            .or_else(|| std::env::var("PGUSER").ok())
            .or_else(|| std::env::var("USER").ok())
            .ok_or_else(|| PgError::BadUrl("no user in the URL (postgres://USER@HOST:PORT/)".into()))?;
        let dbname = config.get_dbname().filter(|d| !d.is_empty()).map(str::to_string);
        let mut spec = ConnSpec {
            host,
            port,
            user,
            dbname,
            password: None,
            connect_timeout: Duration::from_secs(15),
        };
        spec.password = std::env::var("PGPASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .or_else(|| spec.pgpass_password(spec.dbname.as_deref().unwrap_or("*")));
        Ok(spec)
    }

    fn pgpass_password(&self, db: &str) -> Option<String> {
        let file = std::env::var_os("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
        let text = std::fs::read_to_string(file).ok()?;
        pgpass_lookup(&text, &self.host, self.port, db, &self.user)
    }

    /// Uses this password instead of `PGPASSWORD` or pgpass (for callers
    /// that got it from a file or a prompt, never from argv).
    #[must_use]
    pub fn with_password(mut self, password: impl Into<String>) -> ConnSpec {
        self.password = Some(password.into());
        self
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// The user.
    pub fn user(&self) -> &str {
        &self.user
    }
    /// The database named in the URL, if any.
    pub fn dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }
    /// Whether a password was found.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// `host:port/db` for messages.
    pub fn describe(&self, db: &str) -> String {
        format!("{}:{}/{}", self.host, self.port, db)
    }

    /// Connects to database `db` and drives the connection on the runtime.
    ///
    /// # Errors
    /// [`PgError::Connect`] with the kind of failure.
    pub async fn connect(&self, db: &str) -> Result<Client, PgError> {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(db)
            .application_name("src-snapshot")
            .connect_timeout(self.connect_timeout);
        if let Some(p) = &self.password {
            config.password(p);
        } else if let Some(p) = self.pgpass_password(db) {
            config.password(p);
        }
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            let kind = match e.code().map(|c| c.code()) {
                Some("28P01") | Some("28000") => ConnectFailure::Authentication,
                Some("3D000") => ConnectFailure::NoSuchDatabase,
                Some(_) => ConnectFailure::Other,
                None => ConnectFailure::Unreachable,
            };
            PgError::Connect {
                target: self.describe(db),
                user: self.user.clone(),
                message: describe(&e),
                kind,
            }
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed: {e}");
            }
        });
        Ok(client)
    }
}

/// Finds a password in pgpass text (`host:port:db:user:password`, `*`
/// matches anything, `\:` and `\\` escape), as libpq does: the first
/// matching line wins.
pub fn pgpass_lookup(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        let m = |pat: &str, v: &str| pat == "*" || pat == v;
        let host_ok = m(&fields[0], host) || (fields[0] == "localhost" && host == "127.0.0.1");
        if host_ok && m(&fields[1], &port) && m(&fields[2], db) && m(&fields[3], user) {
            return Some(fields[4].clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_rules() {
        let t = "# comment\nother:5432:*:u:nope\n127.0.0.1:5432:sg:u:pa\\:ss\n*:*:*:u:fallback\n";
        assert_eq!(
            pgpass_lookup(t, "127.0.0.1", 5432, "sg", "u").as_deref(),
            Some("pa:ss")
        );
        assert_eq!(
            pgpass_lookup(t, "127.0.0.1", 5432, "x", "u").as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_lookup(t, "127.0.0.1", 5432, "x", "v"), None);
    }

    #[test]
    fn url_with_password_is_refused() {
        let e = ConnSpec::from_url("postgres://u:secret@127.0.0.1:5432/").expect_err("refused");
        assert!(!e.to_string().contains("secret"), "{e}");
        let s = ConnSpec::from_url("postgres://u@127.0.0.1:5999/sg").expect("ok");
        assert_eq!(
            (s.host(), s.port(), s.user(), s.dbname()),
            ("127.0.0.1", 5999, "u", Some("sg"))
        );
        assert!(!format!("{s:?}").contains("secret"));
    }
}
