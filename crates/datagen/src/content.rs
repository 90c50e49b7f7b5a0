//! Shared vocabulary: words, awkward values, and the naming of repositories and users
//! (the same function names repo N in frontend, codeintel and codeinsights).

use std::fmt::Write as _;

use crate::copy::{micros, DAY};
use crate::rng::Rng;

/// Awkward text values, sprinkled into a small fraction of text columns. The first rows of
/// each bulk table cycle through all of them, so even tiny outputs contain every one.
pub(crate) const TRICKY: &[&str] = &[
    "line one\nline two with backslash \\ here\n\\.\nCOPY public.repo FROM stdin;\n\\connect other\n-- not a comment; DROP TABLE users;",
    "\\.",
    "before\n\\.\n",
    "tab\tseparated\tvalue",
    "carriage\rreturn and CRLF\r\n",
    "trailing backslash \\",
    "\\N is not NULL",
    "NULL",
    "",
    "COPY public.repo FROM stdin;",
    "DROP TABLE users;",
    "-- comment",
    "/* block comment */ SELECT 1;",
    "$$ dollar $$ quoted $tag$ text $tag$",
    "\\connect other",
    "\\! echo not a shell command",
    "'single' \"double\" `back`",
    "é Ü ñ ß ø — “quotes” …",
    "🚀 emoji 👩‍💻 🇩🇪",
    "日本語 中文 한국어 العربية עברית",
    "  leading and trailing spaces  ",
    "\u{8} backspace \u{b} vtab \u{c} formfeed \u{1} soh \u{7f} del",
    "semicolon; in; the; middle;",
    "\\x00ff looks like bytea",
    "{\"json\": \"in text\", \"k\": [1, 2]}",
    "E'escape string' U&'\\0041' \\\\server\\share",
    "\n\n\n",
    "\r",
    "% _ LIKE wildcards and [regex] (groups) ^$ .*",
];

/// Picks an awkward value.
pub(crate) fn tricky(rng: &mut Rng) -> &'static str {
    rng.pick(TRICKY)
}

/// The awkward value for the `i`-th row of a bulk table, if it is one of the first rows.
pub(crate) fn tricky_first(i: u64) -> Option<&'static str> {
    TRICKY.get(i as usize).copied()
}

/// Ordinary words for descriptions and names (ASCII, no digits).
#[rustfmt::skip]
pub(crate) const WORDS: &[&str] = &[
    "api", "app", "async", "auth", "backend", "batch", "blob", "bot", "buffer", "build",
    "cache", "cli", "client", "cloud", "cluster", "code", "config", "core", "cron", "dashboard",
    "data", "deploy", "docs", "driver", "editor", "engine", "event", "fast", "feed", "file",
    "flow", "format", "gateway", "git", "graph", "grpc", "handler", "http", "index", "infra",
    "io", "job", "kernel", "lambda", "lib", "lint", "log", "mail", "map", "mesh", "metrics",
    "mobile", "model", "monitor", "net", "node", "notify", "oauth", "parser", "pipeline",
    "plugin", "proxy", "queue", "react", "reader", "redis", "render", "repo", "rest", "router",
    "rpc", "runner", "rust", "scanner", "schema", "search", "server", "service", "shell", "sdk",
    "shard", "signal", "sync", "storage", "store", "stream", "sql", "task", "template", "test",
    "token", "tool", "tracker", "ui", "util", "vault", "view", "web", "worker", "yaml", "zip",
];

/// Longer words for prose.
#[rustfmt::skip]
pub(crate) const PROSE: &[&str] = &[
    "a", "an", "the", "for", "with", "and", "of", "to", "in", "on", "fast", "simple",
    "lightweight", "distributed", "reliable", "experimental", "internal", "legacy", "modern",
    "library", "service", "toolkit", "framework", "implementation", "wrapper", "utilities",
    "helpers", "collection", "parsing", "indexing", "searching", "rendering", "scheduling",
    "caching", "monitoring", "deployment", "configuration", "authentication", "storage",
    "streaming", "compression", "encryption", "testing", "benchmarks", "examples",
    "documentation", "Go", "TypeScript", "Rust", "Python", "Java", "Kotlin", "Scala", "C++",
    "PostgreSQL", "Kubernetes", "GraphQL", "gRPC", "HTTP/2", "WebAssembly", "(beta)", "—",
    "e.g.", "i.e.", "v2", "100%", "#1", "@team", "<html>", "&", "it's", "don't", "\"quoted\"",
];

/// Non-ASCII words used in names and text.
#[rustfmt::skip]
pub(crate) const UNICODE_WORDS: &[&str] = &[
    "élève", "Über", "naïve", "日本語", "中文", "한국어", "München", "São-Paulo", "🚀rocket", "Ünicode",
    "café", "Ωmega", "Привет",
];

/// First names for users.
#[rustfmt::skip]
pub(crate) const FIRST_NAMES: &[&str] = &[
   
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
    "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yuki", "zoe", "amir", "bea", "chen",
    "dmitri", "esra", "femi", "giulia", "hana", "ines", "jose", "kofi",
];

/// Last names for users.
#[rustfmt::skip]
pub(crate) const LAST_NAMES: &[&str] = &[
   
    "smith", "jones", "garcia", "miller", "davis", "martin", "lee", "walker", "hall", "young", "king",
    "wright", "lopez", "hill", "scott", "green", "adams", "baker", "nelson", "carter", "mueller", "tanaka",
    "kim", "nguyen", "singh", "ivanova", "rossi", "okafor", "silva",
];

/// Display names with non-ASCII characters.
#[rustfmt::skip]
pub(crate) const UNICODE_DISPLAY: &[&str] = &[
    "Zoë Müller", "José Álvarez", "王小明", "山田太郎", "김민준", "Алиса Иванова", "Ünicode 🚀",
    "Søren Kierkegård", "Ærøskøbing Ølsen", "Łukasz Żółć",
];

/// Programming languages.
#[rustfmt::skip]
pub(crate) const LANGS: &[&str] = &[
    "Go", "TypeScript", "JavaScript", "Python", "Java", "Rust", "C++", "C", "Ruby", "Kotlin",
    "Scala", "Shell", "C#", "PHP", "Swift", "Haskell", "Elixir", "Starlark",
];

/// Appends `n` prose words separated by spaces.
pub(crate) fn sentence(rng: &mut Rng, out: &mut String, n: u64) {
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(PROSE));
    }
}

/// Appends a random lowercase hex string of `n` digits.
pub(crate) fn hex_string(rng: &mut Rng, out: &mut String, n: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = 0u64;
    for i in 0..n {
        if i % 16 == 0 {
            bits = rng.next_u64();
        }
        out.push(HEX[(bits & 15) as usize] as char);
        bits >>= 4;
    }
}

/// Where a repository comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    /// github.com
    GitHub,
    /// gitlab.com
    GitLab,
    /// A GitHub Enterprise server.
    Ghe,
    /// A Bitbucket Server.
    Bitbucket,
    /// A Gitolite server.
    Gitolite,
    /// Generic Git host.
    Other,
}

impl Host {
    /// The `external_services.id` that syncs this host (see frontend's list).
    pub(crate) fn service_id(self) -> i64 {
        match self {
            Host::GitHub => 1,
            Host::GitLab => 2,
            Host::Ghe => 3,
            Host::Bitbucket => 4,
            Host::Gitolite => 5,
            Host::Other => 6,
        }
    }

    /// `repo.external_service_type`.
    pub(crate) fn service_type(self) -> &'static str {
        match self {
            Host::GitHub | Host::Ghe => "github",
            Host::GitLab => "gitlab",
            Host::Bitbucket => "bitbucketServer",
            Host::Gitolite => "gitolite",
            Host::Other => "other",
        }
    }

    /// `repo.external_service_id` (the code host URL).
    pub(crate) fn service_url(self) -> &'static str {
        match self {
            Host::GitHub => "https://github.com/",
            Host::GitLab => "https://gitlab.com/",
            Host::Ghe => "https://ghe.example.com/",
            Host::Bitbucket => "https://bitbucket.example.com/",
            Host::Gitolite => "git@gitolite.example.com",
            Host::Other => "https://git.example.com/",
        }
    }

    /// Host name that prefixes repository names.
    pub(crate) fn host(self) -> &'static str {
        match self {
            Host::GitHub => "github.com",
            Host::GitLab => "gitlab.com",
            Host::Ghe => "ghe.example.com",
            Host::Bitbucket => "bitbucket.example.com",
            Host::Gitolite => "gitolite.example.com",
            Host::Other => "git.example.com",
        }
    }
}

/// Random stream ids (one per table or concern).
pub(crate) mod stream {
    pub(crate) const REPO_INFO: u64 = 1;
    pub(crate) const REPO_ROW: u64 = 2;
    pub(crate) const USER: u64 = 3;
    pub(crate) const UPLOAD: u64 = 4;
    pub(crate) const ORG: u64 = 5;
    pub(crate) const SAVED_SEARCH: u64 = 6;
    pub(crate) const SETTINGS: u64 = 7;
    pub(crate) const ESR: u64 = 8;
    pub(crate) const USER_ROW: u64 = 9;
    pub(crate) const EMAIL: u64 = 10;
    pub(crate) const GLOBAL: u64 = 11;
    pub(crate) const UPLOAD_ROW: u64 = 12;
    pub(crate) const SITE_ADMIN: u64 = 13;
    pub(crate) const ZOEKT: u64 = 14;
    pub(crate) const DOC: u64 = 20;
    pub(crate) const LOOKUP: u64 = 21;
    pub(crate) const SYMBOL: u64 = 22;
    pub(crate) const SYMBOL_NAME: u64 = 23;
    pub(crate) const UPLOAD_CI: u64 = 24;
    pub(crate) const ROCKSKIP: u64 = 25;
    pub(crate) const SERIES: u64 = 40;
    pub(crate) const POINT: u64 = 41;
    pub(crate) const VIEW: u64 = 42;
    pub(crate) const INSIGHTS_MISC: u64 = 43;
}

/// The facts about repository `id` that several tables share.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RepoInfo {
    /// Code host.
    pub(crate) host: Host,
    /// Soft-deleted (name prefixed with `DELETED-<unix>-`).
    pub(crate) deleted_at: Option<i64>,
    /// Creation time.
    pub(crate) created_at: i64,
    /// Length of the `host/` prefix plus owner path, for splitting `NameWithOwner`.
    pub(crate) path_start: usize,
}

const EPOCH_2014: i64 = micros(2014, 1, 1, 0, 0, 0);

/// Writes the name of repository `id` into `name` (cleared first) and returns its facts.
/// Names are unique (case-insensitively) because each ends with the id.
pub(crate) fn repo_info(seed: u64, id: i64, name: &mut String) -> RepoInfo {
    let mut rng = Rng::new(seed, stream::REPO_INFO, id as u64);
    name.clear();
    let host = match rng.below(100) {
        0..=49 => Host::GitHub,
        50..=69 => Host::GitLab,
        70..=84 => Host::Ghe,
        85..=92 => Host::Bitbucket,
        93..=96 => Host::Gitolite,
        _ => Host::Other,
    };
    let created_at = EPOCH_2014 + rng.below(9 * 365 * DAY as u64) as i64;
    let deleted_at = if rng.chance(1, 100) {
        Some(created_at + rng.range(DAY, 400 * DAY))
    } else {
        None
    };
    if let Some(d) = deleted_at {
        let _ = write!(name, "DELETED-{}-", d / 1_000_000);
    }
    name.push_str(host.host());
    name.push('/');
    let owner = 1 + rng.below(1 + id as u64 / 40);
    let _ = match host {
        Host::GitHub | Host::Ghe => write!(name, "org-{owner}/"),
        Host::GitLab => {
            if rng.chance(1, 3) {
                write!(name, "group-{owner}/sub-{}/", rng.below(5))
            } else {
                write!(name, "group-{owner}/")
            }
        }
        Host::Bitbucket => write!(name, "PROJ{owner}/"),
        Host::Gitolite => Ok(()),
        Host::Other => write!(name, "team-{owner}/"),
    };
    let path_start = name.len();
    let _ = match rng.below(100) {
        0..=59 => write!(name, "repo-{id}"),
        60..=79 => write!(name, "{}-{id}", rng.pick(WORDS)),
        80..=94 => write!(name, "{}.{}-{id}", rng.pick(WORDS), rng.pick(WORDS)),
        95..=97 => write!(name, "{}_{id}", rng.pick(UNICODE_WORDS)),
        _ => write!(name, "{}-Mixed_Case-{id}", rng.pick(WORDS)),
    };
    RepoInfo {
        host,
        deleted_at,
        created_at,
        path_start,
    }
}

/// Writes the username of user `id` (valid for `users_username_valid_chars`, unique).
pub(crate) fn username(seed: u64, id: i64, out: &mut String) {
    out.clear();
    if id == 1 {
        out.push_str("admin");
        return;
    }
    let mut rng = Rng::new(seed, stream::USER, id as u64);
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    let sep = rng.pick(&["", ".", "-", "_"]);
    let _ = write!(out, "{first}{sep}{last}{id}");
}

/// A 40-character lowercase hex commit id that embeds `unique` (so it never collides).
pub(crate) fn commit_sha(rng: &mut Rng, unique: u64, out: &mut String) {
    hex_string(rng, out, 24);
    let _ = write!(out, "{unique:016x}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_are_unique_and_deterministic() {
        let mut seen = std::collections::HashSet::new();
        let mut name = String::new();
        for id in 1..5000 {
            repo_info(7, id, &mut name);
            assert!(seen.insert(name.to_lowercase()), "duplicate {name}");
        }
        let mut a = String::new();
        repo_info(7, 42, &mut a);
        repo_info(7, 42, &mut name);
        assert_eq!(a, name);
    }

    #[test]
    fn usernames_match_the_check_constraint_shape() {
        let mut u = String::new();
        for id in 1..500 {
            username(3, id, &mut u);
            assert!(u.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
            assert!(u.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()));
            assert!(u.chars().last().is_some_and(|c| c.is_ascii_digit()) || id == 1);
        }
    }
}
