//! Sanitizer profiles: which statements of a dump a target rejects, and why.
//!
//! The `cloudsql` profile removes exactly what a non-superuser on a managed
//! PostgreSQL (Cloud SQL's `cloudsqlsuperuser` members, or any database owner
//! without superuser) cannot run, wherever it stands in the file. It never
//! touches COPY data or the inside of a statement: a statement is kept whole
//! or commented out whole, line by line with `-- `, so line numbers stay the
//! same.

use serde::{Deserialize, Serialize};

use crate::tokens::{tokenize, Token};

/// A sanitizer profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Pass everything through (the dump is still checked and fingerprinted).
    None,
    /// Remove what a non-superuser managed PostgreSQL rejects.
    Cloudsql,
}

impl Profile {
    /// The profile's name as used on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Profile::None => "none",
            Profile::Cloudsql => "cloudsql",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Profile::None),
            "cloudsql" => Ok(Profile::Cloudsql),
            other => Err(format!(
                "unknown sanitizer profile {other:?} (expected cloudsql or none)"
            )),
        }
    }
}

/// Extensions that a database owner may create without superuser (marked
/// `trusted` in their control files) since PostgreSQL 13.
pub const TRUSTED_EXTENSIONS: &[&str] = &[
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dict_int",
    "earthdistance",
    "fuzzystrmatch",
    "hstore",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "pg_trgm",
    "pgcrypto",
    "plpgsql",
    "seg",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
    "uuid-ossp",
];

/// Which extensions the loading user can create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionPolicy {
    /// The trusted extensions of the target version, plus these names.
    Trusted {
        /// Extra extensions known to be creatable (e.g. a provider's allow-list).
        also: Vec<String>,
    },
    /// Every extension (the loading user is a superuser).
    All,
}

impl Default for ExtensionPolicy {
    fn default() -> Self {
        ExtensionPolicy::Trusted { also: Vec::new() }
    }
}

/// What the sanitizer is sanitizing for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanitizeOptions {
    /// The profile.
    pub profile: Profile,
    /// Major version of the target server.
    pub target_major: u32,
    /// Extensions the loading user can create.
    pub extensions: ExtensionPolicy,
}

impl SanitizeOptions {
    /// The cloudsql profile for a target major version.
    pub fn cloudsql(target_major: u32) -> Self {
        SanitizeOptions {
            profile: Profile::Cloudsql,
            target_major,
            extensions: ExtensionPolicy::default(),
        }
    }

    fn extension_allowed(&self, name: &str) -> bool {
        match &self.extensions {
            ExtensionPolicy::All => true,
            ExtensionPolicy::Trusted { also } => {
                also.iter().any(|a| a == name)
                    || name == "plpgsql"
                    || (self.target_major >= 13 && TRUSTED_EXTENSIONS.contains(&name))
            }
        }
    }
}

/// What to do with one statement or meta-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Keep it as written.
    Keep,
    /// Comment it out.
    Remove {
        /// Short rule name, stable for machines.
        rule: &'static str,
        /// Why, for people.
        reason: String,
    },
    /// Refuse the whole dump.
    Reject {
        /// Why.
        reason: String,
    },
}

fn remove(rule: &'static str, reason: impl Into<String>) -> Decision {
    Decision::Remove {
        rule,
        reason: reason.into(),
    }
}

/// Server settings that older servers do not know, with the first major
/// that has them. pg_dump writes them as `SET name = value;` in the header.
const SETTINGS_SINCE: &[(&str, u32)] = &[
    ("transaction_timeout", 17),
    ("default_toast_compression", 14),
    ("default_table_access_method", 12),
    ("idle_in_transaction_session_timeout", 10),
    ("row_security", 10),
];

/// Decides on a psql meta-command line.
pub fn decide_meta(opts: &SanitizeOptions, command: &[u8]) -> Decision {
    if opts.profile == Profile::None {
        return Decision::Keep;
    }
    match command {
        b"restrict" | b"unrestrict" => remove(
            "restrict",
            "psql before 17.6/16.10/15.14/14.19/13.22 and Cloud SQL's importer reject \\restrict; it only guards psql against a malicious server",
        ),
        b"connect" | b"c" => remove("connect", "a managed import runs in one database; \\connect would leave it"),
        _ => remove("meta-command", "psql meta-commands are not SQL; Cloud SQL's importer rejects them"),
    }
}

/// Decides on one SQL statement.
pub fn decide_statement(opts: &SanitizeOptions, text: &[u8]) -> Decision {
    match tokenize(text) {
        Ok(t) => decide_tokens(opts, &t),
        Err(_) => Decision::Reject {
            reason: "a name in this statement is not valid UTF-8".into(),
        },
    }
}

/// Decides on one SQL statement given as tokens.
pub fn decide_tokens(opts: &SanitizeOptions, t: &[Token]) -> Decision {
    if opts.profile == Profile::None {
        return Decision::Keep;
    }
    let kw = |i: usize, k: &str| t.get(i).is_some_and(|tok| tok.is_kw(k));
    let ident = |i: usize| t.get(i).and_then(Token::ident).unwrap_or_default();

    // SET name = value / SET name TO value
    if kw(0, "SET") {
        if kw(1, "SESSION") && kw(2, "AUTHORIZATION") || kw(1, "ROLE") {
            return remove(
                "owner",
                "role switches need membership in roles the target does not have",
            );
        }
        let name = ident(1);
        if let Some((_, since)) = SETTINGS_SINCE.iter().find(|(n, _)| *n == name) {
            if opts.target_major < *since {
                return remove(
                    "setting",
                    format!(
                        "PostgreSQL {} does not know {name} (added in {since})",
                        opts.target_major
                    ),
                );
            }
        }
        return Decision::Keep;
    }
    if kw(0, "RESET") && (kw(1, "ROLE") || kw(1, "SESSION")) {
        return remove(
            "owner",
            "role switches need membership in roles the target does not have",
        );
    }

    // Whole-database statements.
    let on_database =
        kw(0, "COMMENT") && kw(1, "ON") && kw(2, "DATABASE") || kw(0, "SECURITY") && kw(1, "LABEL");
    if (kw(0, "CREATE") || kw(0, "DROP") || kw(0, "ALTER")) && kw(1, "DATABASE") || on_database {
        return remove("database", "the target database is created by the operator; a managed import cannot create, drop or alter databases");
    }

    // Schema public: exists in every database, owned by the provider.
    let schema_at = if kw(0, "COMMENT") && kw(1, "ON") && kw(2, "SCHEMA") {
        Some(3)
    } else if (kw(0, "CREATE") || kw(0, "DROP") || kw(0, "ALTER")) && kw(1, "SCHEMA") {
        Some(if kw(2, "IF") {
            if kw(3, "NOT") {
                5
            } else {
                4
            }
        } else {
            2
        })
    } else {
        None
    };
    if let Some(i) = schema_at {
        if ident(i) == "public" {
            return remove(
                "schema-public",
                "schema public already exists and is not owned by the importing user",
            );
        }
        if kw(0, "ALTER") && t.iter().any(|x| x.is_kw("OWNER")) {
            return remove(
                "owner",
                "ownership changes need the target role and superuser or membership",
            );
        }
        return Decision::Keep;
    }

    // Extensions.
    if kw(0, "CREATE") && kw(1, "EXTENSION") {
        let name = if kw(2, "IF") { ident(5) } else { ident(2) };
        if opts.extension_allowed(&name) {
            return Decision::Keep;
        }
        return remove(
            "extension",
            format!("only a superuser can create extension {name:?} here; ask the provider to enable it, or pass --allow-extension={name} if they have"),
        );
    }
    if kw(0, "COMMENT") && kw(1, "ON") && kw(2, "EXTENSION") {
        return remove(
            "extension-comment",
            "commenting on an extension needs its owner; managed servers own pre-installed extensions",
        );
    }
    if (kw(0, "DROP") || kw(0, "ALTER")) && kw(1, "EXTENSION") {
        return remove("extension", "dropping or altering an extension needs its owner");
    }

    // Ownership and privileges (src-cli dumps with --no-owner --no-acl; other dumps may not).
    if kw(0, "GRANT") || kw(0, "REVOKE") {
        return remove("acl", "privileges name roles that do not exist on the target");
    }
    if kw(0, "ALTER") && kw(1, "DEFAULT") && kw(2, "PRIVILEGES") {
        return remove(
            "acl",
            "default privileges name roles that do not exist on the target",
        );
    }
    if kw(0, "ALTER") && t.windows(2).any(|w| w[0].is_kw("OWNER") && w[1].is_kw("TO")) {
        return remove(
            "owner",
            "ownership changes need the target role and superuser or membership",
        );
    }

    // Superuser-only objects.
    let create = kw(0, "CREATE") || kw(0, "ALTER") || kw(0, "DROP") || kw(0, "COMMENT") && kw(1, "ON");
    let obj = if kw(0, "COMMENT") { 2 } else { 1 };
    if create && kw(obj, "EVENT") && kw(obj + 1, "TRIGGER") {
        return remove("superuser", "event triggers need a superuser");
    }
    if create && kw(obj, "SUBSCRIPTION") {
        return remove(
            "superuser",
            "subscriptions need a superuser and are not part of the data",
        );
    }
    let mut i = 1;
    while ["OR", "REPLACE", "TRUSTED", "PROCEDURAL"]
        .iter()
        .any(|k| kw(i, k))
    {
        i += 1;
    }
    if kw(0, "CREATE") && kw(i, "LANGUAGE") {
        return remove(
            "superuser",
            "procedural languages need a superuser (plpgsql is already installed)",
        );
    }
    if kw(0, "COMMENT") && kw(1, "ON") && kw(2, "LANGUAGE") {
        return remove("superuser", "commenting on a language needs its owner");
    }

    // Statements a trustworthy pg_dump never writes and a loader must not run.
    if kw(0, "COPY") {
        let from = t.iter().position(|x| x.is_kw("FROM") || x.is_kw("TO"));
        if let Some(i) = from {
            if matches!(t.get(i + 1), Some(Token::Str(_))) || kw(i + 1, "PROGRAM") {
                return Decision::Reject {
                    reason: "COPY from a server file or program: pg_dump never writes this, and a managed server forbids it".into(),
                };
            }
        }
    }
    if kw(0, "ALTER") && kw(1, "SYSTEM") || kw(0, "LOAD") {
        return Decision::Reject {
            reason: "server configuration statements do not belong in a dump".into(),
        };
    }
    Decision::Keep
}

/// One change the sanitizer made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// 1-based line of the statement in the input.
    pub line: u64,
    /// What was done (`removed`).
    pub action: String,
    /// Stable rule name.
    pub rule: String,
    /// The statement's first 200 characters, on one line.
    pub statement: String,
    /// Why.
    pub reason: String,
}

/// The first 200 characters of a statement with whitespace runs collapsed.
pub fn preview(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    let mut out = String::new();
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > 200 {
            break;
        }
    }
    if out.chars().count() > 200 {
        out = out.chars().take(199).collect();
        out.push('…');
    }
    out
}

/// Writes `text` commented out: `-- ` before every line.
pub(crate) fn write_commented(out: &mut dyn std::io::Write, text: &[u8]) -> std::io::Result<()> {
    let mut first = true;
    for line in text.split_inclusive(|b| *b == b'\n') {
        if first || !line.is_empty() {
            out.write_all(b"-- ")?;
        }
        first = false;
        out.write_all(line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(sql: &str) -> Decision {
        decide_statement(&SanitizeOptions::cloudsql(16), sql.as_bytes())
    }
    fn removed(sql: &str) -> bool {
        matches!(d(sql), Decision::Remove { .. })
    }

    #[test]
    fn cloudsql_rules() {
        assert!(!removed("SET statement_timeout = 0;"));
        assert!(removed("SET transaction_timeout = 0;"));
        assert!(matches!(
            decide_statement(&SanitizeOptions::cloudsql(17), b"SET transaction_timeout = 0;"),
            Decision::Keep
        ));
        assert!(removed(
            "CREATE EXTENSION IF NOT EXISTS \"pg_stat_statements\" WITH SCHEMA \"public\";"
        ));
        assert!(!removed(
            "CREATE EXTENSION IF NOT EXISTS \"pg_trgm\" WITH SCHEMA \"public\";"
        ));
        assert!(removed("COMMENT ON EXTENSION \"pg_trgm\" IS 'text similarity';"));
        assert!(removed("DROP EXTENSION IF EXISTS \"citext\";"));
        assert!(removed(
            "COMMENT ON SCHEMA \"public\" IS 'standard public schema';"
        ));
        assert!(removed("DROP SCHEMA IF EXISTS \"public\";"));
        assert!(removed("CREATE SCHEMA public;"));
        assert!(!removed("CREATE SCHEMA \"other\";"));
        assert!(removed("ALTER TABLE \"public\".\"repo\" OWNER TO \"sg\";"));
        assert!(removed("GRANT ALL ON SCHEMA public TO PUBLIC;"));
        assert!(removed("CREATE DATABASE sg WITH TEMPLATE = template0;"));
        assert!(removed("COMMENT ON DATABASE sg IS 'x';"));
        assert!(removed(
            "CREATE EVENT TRIGGER t ON ddl_command_start EXECUTE FUNCTION f();"
        ));
        assert!(!removed(
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;"
        ));
        assert!(removed("CREATE OR REPLACE PROCEDURAL LANGUAGE plpgsql;"));
        assert!(!removed(
            "ALTER TABLE ONLY \"public\".\"t\" ADD CONSTRAINT \"owner_to\" PRIMARY KEY (\"id\");"
        ));
        assert!(matches!(
            d("COPY t FROM PROGRAM 'rm -rf /';"),
            Decision::Reject { .. }
        ));
        assert!(matches!(d("COPY t FROM '/etc/passwd';"), Decision::Reject { .. }));
        assert!(matches!(
            d("COPY \"public\".\"t\" (\"a\") FROM stdin;"),
            Decision::Keep
        ));
        // PG 12 targets: trusted extensions do not exist yet.
        assert!(matches!(
            decide_statement(
                &SanitizeOptions::cloudsql(12),
                b"CREATE EXTENSION IF NOT EXISTS citext;"
            ),
            Decision::Remove { .. }
        ));
        let mut o = SanitizeOptions::cloudsql(16);
        o.extensions = ExtensionPolicy::Trusted {
            also: vec!["pg_stat_statements".into()],
        };
        assert!(matches!(
            decide_statement(&o, b"CREATE EXTENSION pg_stat_statements;"),
            Decision::Keep
        ));
    }

    #[test]
    fn none_keeps_everything() {
        let o = SanitizeOptions {
            profile: Profile::None,
            target_major: 16,
            extensions: ExtensionPolicy::All,
        };
        assert_eq!(decide_statement(&o, b"CREATE DATABASE x;"), Decision::Keep);
        assert_eq!(decide_meta(&o, b"connect"), Decision::Keep);
    }

    #[test]
    fn commenting_keeps_line_count() {
        let mut out = Vec::new();
        write_commented(&mut out, b"COMMENT ON EXTENSION x IS 'a\nb';").expect("write");
        assert_eq!(out, b"-- COMMENT ON EXTENSION x IS 'a\n-- b';");
        assert_eq!(preview(b"CREATE  TABLE\n  x ();"), "CREATE TABLE x ();");
    }
}
