//! The frontend database: users, orgs, code hosts, repositories (the bulk), code-intel
//! uploads, settings and site configuration.
//!
//! Tables are written in foreign-key order. The `gitserver_repos` and `zoekt_repos` rows
//! that `repo`'s row triggers would add are written directly (see [`Frontend::repos`]);
//! statement-level triggers keep the statistics tables. Rows that triggers do create
//! (audit logs) get pinned timestamps in the trailer, so two loads dump identically.

use std::fmt::Write as _;
use std::io;

use crate::content::{
    self, commit_sha, hex_string, repo_info, sentence, stream, tricky, tricky_first, username, Host,
    RepoInfo, FIRST_NAMES, LANGS, LAST_NAMES, UNICODE_DISPLAY, WORDS,
};
use crate::copy::{
    array_literal, header, measure, micros, push_rfc3339, setval, Json, Row, Script, DAY, HOUR,
};
use crate::rng::Rng;

/// The instant that trigger-filled timestamps are pinned to.
const PIN: &str = "2023-06-14 10:00:00+00";
const T2016: i64 = micros(2016, 1, 1, 0, 0, 0);
const NOW: i64 = micros(2023, 6, 14, 10, 0, 0);

/// Script bytes per user (users and everything that scales with them), for sizing.
const BYTES_PER_USER: u64 = 6000;

/// Timestamps nobody expects, for `repo.updated_at`.
const ODD_TIMESTAMPS: &[&str] = &[
    "infinity",
    "-infinity",
    "0044-03-15 12:00:00+00 BC",
    "4713-01-01 00:00:00+00 BC",
    "0001-01-01 00:00:00+00",
    "1970-01-01 00:00:00+00",
    "1999-12-31 23:59:59.999999+00",
    "2000-02-29 12:00:00.5+00",
    "2038-01-19 03:14:08+00",
    "9999-12-31 23:59:59.999999+00",
];

/// Code hosts: (id, kind, display name, JSONC config, deleted).
const EXTERNAL_SERVICES: &[(i64, &str, &str, &str, bool)] = &[
    (
        1,
        "GITHUB",
        "GitHub.com",
        "{\n  // Synced hourly. The token is redacted for the demo.\n  \"url\": \"https://github.com\",\n  \"token\": \"REDACTED\",\n  \"orgs\": [\"org-1\", \"org-2\", \"org-3\"],\n  /* affiliated repositories too */\n  \"repositoryQuery\": [\"affiliated\"],\n  \"exclude\": [{\"forks\": true}, {\"pattern\": \"^org-1/secret-.*\"}],\n}",
        false,
    ),
    (
        2,
        "GITLAB",
        "GitLab.com — groups",
        "{\n  \"url\": \"https://gitlab.com\",\n  \"token\": \"REDACTED\", // personal access token\n  \"projectQuery\": [\"groups/group-1/projects?include_subgroups=true\", \"?membership=true\"]\n}",
        false,
    ),
    (
        3,
        "GITHUB",
        "GitHub Enterprise (ghe.example.com)",
        "{\n  // GitHub Enterprise Server 3.8\n  \"url\": \"https://ghe.example.com\",\n  \"token\": \"REDACTED\",\n  \"repositoryQuery\": [\"none\"],\n  \"repos\": [\"org-1/repo-1\", \"org-2/élève\"],\n  \"webhooks\": [{\"org\": \"org-1\", \"secret\": \"REDACTED\"}]\n}",
        false,
    ),
    (
        4,
        "BITBUCKETSERVER",
        "Bitbucket Server",
        "{\n  \"url\": \"https://bitbucket.example.com\",\n  \"username\": \"sourcegraph-bot\",\n  \"token\": \"REDACTED\",\n  \"repositoryQuery\": [\"all\"],\n  // keys are case-sensitive\n  \"exclude\": [{\"name\": \"PROJ1/archived\"}]\n}",
        false,
    ),
    (
        5,
        "GITOLITE",
        "Gitolite",
        "{\n  \"prefix\": \"gitolite.example.com/\",\n  \"host\": \"git@gitolite.example.com\" // ssh\n}",
        false,
    ),
    (
        6,
        "OTHER",
        "Other Git hosts",
        "{\n  // Plain git over HTTPS\n  \"url\": \"https://git.example.com\",\n  \"repos\": [\"team-1/repo-1\", \"team-2/tools\"],\n  \"repositoryPathPattern\": \"git.example.com/{repo}\"\n}",
        false,
    ),
    (
        7,
        "PERFORCE",
        "Perforce (removed)",
        "{\n  \"p4.port\": \"ssl:perforce.example.com:1666\",\n  \"p4.user\": \"admin\",\n  \"p4.passwd\": \"REDACTED\",\n  \"depots\": [\"//depot/main/\"]\n}",
        true,
    ),
];

/// Sizing and counts decided up front or while writing the bulk table.
struct Frontend {
    seed: u64,
    target: u64,
    users: i64,
    orgs: i64,
    repos: i64,
    uploads: i64,
    org_members: i64,
    saved_searches: i64,
    settings: i64,
    name: String,
    desc: String,
    json: String,
    tmp: String,
    scratch: Vec<u8>,
}

/// Writes the frontend script.
pub(crate) fn generate(s: &mut Script<'_>, target: u64, seed: u64) -> io::Result<()> {
    let users = ((target / BYTES_PER_USER) as i64).clamp(3, 20_000_000);
    let mut g = Frontend {
        seed,
        target,
        users,
        orgs: (users / 25).max(1),
        repos: 0,
        uploads: 0,
        org_members: 0,
        saved_searches: 0,
        settings: 0,
        name: String::new(),
        desc: String::new(),
        json: String::new(),
        tmp: String::new(),
        scratch: Vec::new(),
    };
    s.sql(&header("frontend", seed, target))?;
    g.users(s)?;
    g.user_emails(s)?;
    g.user_roles(s)?;
    g.orgs(s)?;
    g.org_members(s)?;
    g.external_services(s)?;
    g.saved_searches(s)?;
    g.settings(s)?;
    g.site_config(s)?;
    g.global_state(s)?;
    g.repos(s)?;
    g.external_service_repos(s)?;
    g.lsif_uploads(s)?;
    let trailer = g.trailer();
    s.sql(&trailer)
}

/// How many uploads repository `id` has (a pure function, so it can be re-derived).
fn uploads_for_repo(seed: u64, id: i64, info: &RepoInfo) -> i64 {
    if info.deleted_at.is_some() {
        return 0;
    }
    let mut rng = Rng::new(seed, stream::UPLOAD, id as u64);
    if rng.chance(1, 12) {
        1 + rng.chance(1, 4) as i64
    } else {
        0
    }
}

impl Frontend {
    fn users(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "users",
            &[
                "id",
                "username",
                "display_name",
                "avatar_url",
                "created_at",
                "updated_at",
                "deleted_at",
                "invite_quota",
                "passwd",
                "passwd_reset_code",
                "passwd_reset_time",
                "site_admin",
                "page_views",
                "search_queries",
                "tags",
                "billing_customer_id",
                "invalidated_sessions_at",
                "tos_accepted",
                "searchable",
                "completions_quota",
                "code_completions_quota",
            ],
        )?;
        for id in 1..=self.users {
            let mut rng = Rng::new(self.seed, stream::USER_ROW, id as u64);
            username(self.seed, id, &mut self.name);
            self.desc.clear();
            let display: Option<&str> = if let Some(t) = tricky_first(id as u64 - 1) {
                Some(t)
            } else {
                match rng.below(100) {
                    0..=9 => None,
                    10..=14 => Some(rng.pick(UNICODE_DISPLAY)),
                    15 => Some(tricky(&mut rng)),
                    _ => {
                        capitalized(&mut self.desc, rng.pick(FIRST_NAMES));
                        self.desc.push(' ');
                        capitalized(&mut self.desc, rng.pick(LAST_NAMES));
                        Some(self.desc.as_str())
                    }
                }
            };
            let created = T2016 + rng.below((7 * 365 * DAY) as u64) as i64;
            let updated = created + rng.below((100 * DAY) as u64) as i64;
            let deleted = (id > 1 && rng.chance(1, 100)).then(|| updated + DAY);
            self.tmp.clear();
            let passwd = if rng.chance(7, 10) {
                self.tmp.push_str("$2a$10$");
                const B64: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                for _ in 0..53 {
                    self.tmp.push(rng.pick(B64) as char);
                }
                Some(self.tmp.as_str())
            } else {
                None
            };
            let site_admin = is_site_admin(self.seed, id);
            let mut tags = String::new();
            match rng.below(1000) {
                0..=849 => tags.push_str("{}"),
                850..=979 => array_literal(&mut tags, [Some("AllowUserExternalServicePublic")]),
                980..=997 => array_literal(&mut tags, [Some("beta"), Some(tricky(&mut rng))]),
                _ => array_literal(&mut tags, [Some("with NULL element"), None, Some("")]),
            }
            let avatar = rng.chance(1, 2);
            let reset = rng.chance(1, 50);
            let tos = rng.chance(4, 5);
            let searchable = !rng.chance(1, 20);
            let quota = rng.chance(1, 20).then(|| rng.range(0, 1000));
            let code_quota = rng.chance(1, 20).then(|| rng.range(0, 5000));
            let page_views = rng.skewed(5000) as i64;
            let queries = rng.skewed(20000) as i64;
            let name = self.name.as_str();
            s.row(|r| {
                r.int(id);
                r.text(name);
                r.opt_text(display);
                if avatar {
                    r.text(&format!("https://avatars.example.com/u/{id}?v=4"));
                } else {
                    r.null();
                }
                r.ts(created);
                r.ts(updated);
                r.opt_ts(deleted);
                r.int(100);
                r.opt_text(passwd);
                if reset {
                    r.raw("c2VjcmV0LXJlc2V0LWNvZGU");
                    r.ts(updated + HOUR);
                } else {
                    r.null();
                    r.null();
                }
                r.bool(site_admin);
                r.int(page_views);
                r.int(queries);
                r.text(&tags);
                r.null();
                r.ts(created);
                r.bool(tos);
                r.bool(searchable);
                r.opt_int(quota);
                r.opt_int(code_quota);
            })?;
        }
        s.end_copy()
    }

    fn user_emails(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "user_emails",
            &[
                "user_id",
                "email",
                "created_at",
                "verification_code",
                "verified_at",
                "last_verification_sent_at",
                "is_primary",
            ],
        )?;
        for id in 1..=self.users {
            let mut rng = Rng::new(self.seed, stream::EMAIL, id as u64);
            username(self.seed, id, &mut self.name);
            let created = T2016 + rng.below((7 * 365 * DAY) as u64) as i64;
            let verified = id == 1 || rng.chance(9, 10);
            self.tmp.clear();
            hex_string(&mut rng, &mut self.tmp, 32);
            let code = self.tmp.as_str();
            let name = self.name.as_str();
            s.row(|r| {
                r.int(id);
                r.text(&format!("{name}@example.com"));
                r.ts(created);
                if verified {
                    r.null();
                    r.ts(created + HOUR);
                    r.null();
                } else {
                    r.raw(code);
                    r.null();
                    r.ts(created + 60_000_000);
                }
                r.bool(true);
            })?;
            if rng.chance(1, 5) {
                s.row(|r| {
                    r.int(id);
                    r.text(&format!("{name}@users.noreply.example.org"));
                    r.ts(created + DAY);
                    r.raw(code);
                    r.null();
                    r.ts(created + DAY);
                    r.bool(false);
                })?;
            }
        }
        s.end_copy()
    }

    fn user_roles(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        // Roles 1 (USER) and 2 (SITE_ADMINISTRATOR) come with the schema.
        s.begin_copy("user_roles", &["user_id", "role_id", "created_at"])?;
        for id in 1..=self.users {
            let admin = is_site_admin(self.seed, id);
            s.row(|r| {
                r.int(id);
                r.int(1);
                r.raw(PIN);
            })?;
            if admin {
                s.row(|r| {
                    r.int(id);
                    r.int(2);
                    r.raw(PIN);
                })?;
            }
        }
        s.end_copy()
    }

    fn orgs(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "orgs",
            &[
                "id",
                "name",
                "created_at",
                "updated_at",
                "display_name",
                "slack_webhook_url",
                "deleted_at",
            ],
        )?;
        for id in 1..=self.orgs {
            let mut rng = Rng::new(self.seed, stream::ORG, id as u64);
            let word = rng.pick(WORDS);
            let created = T2016 + rng.below((7 * 365 * DAY) as u64) as i64;
            self.desc.clear();
            let display: Option<&str> = match rng.below(100) {
                0..=9 => None,
                10..=14 => Some(tricky(&mut rng)),
                15..=19 => Some(rng.pick(content::UNICODE_WORDS)),
                _ => {
                    capitalized(&mut self.desc, word);
                    self.desc.push_str(" Team");
                    Some(self.desc.as_str())
                }
            };
            let deleted = (id > 1 && rng.chance(1, 50)).then_some(created + 30 * DAY);
            s.row(|r| {
                r.int(id);
                r.text(&format!("{word}-{id}"));
                r.ts(created);
                r.ts(created + DAY);
                r.opt_text(display);
                r.null();
                r.opt_ts(deleted);
            })?;
        }
        s.end_copy()
    }

    fn org_members(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "org_members",
            &["id", "org_id", "created_at", "updated_at", "user_id"],
        )?;
        let mut n = 0;
        for user in 1..=self.users {
            let first = (user - 1) % self.orgs + 1;
            let second = user % self.orgs + 1;
            let orgs = if user % 7 == 0 && second != first {
                vec![first, second]
            } else {
                vec![first]
            };
            for org in orgs {
                n += 1;
                let at = T2016 + (user * 3 + org) * HOUR;
                s.row(|r| {
                    r.int(n);
                    r.int(org);
                    r.ts(at);
                    r.ts(at);
                    r.int(user);
                })?;
            }
        }
        self.org_members = n;
        s.end_copy()
    }

    fn external_services(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "external_services",
            &[
                "id",
                "kind",
                "display_name",
                "config",
                "created_at",
                "updated_at",
                "deleted_at",
                "last_sync_at",
                "next_sync_at",
                "namespace_user_id",
                "unrestricted",
                "cloud_default",
                "encryption_key_id",
                "namespace_org_id",
                "has_webhooks",
                "token_expires_at",
            ],
        )?;
        for &(id, kind, display, config, deleted) in EXTERNAL_SERVICES {
            let created = T2016 + id * 40 * DAY;
            s.row(|r| {
                r.int(id);
                r.raw(kind);
                r.text(display);
                r.text(config);
                r.ts(created);
                r.ts(created + 90 * DAY);
                r.opt_ts(deleted.then_some(created + 300 * DAY));
                r.opt_ts((!deleted).then_some(NOW - HOUR));
                r.opt_ts((!deleted).then_some(NOW));
                r.null();
                r.bool(id == 6);
                r.bool(false);
                r.raw("");
                r.null();
                if id == 3 {
                    r.bool(true);
                } else {
                    r.null();
                }
                r.null();
            })?;
        }
        s.end_copy()
    }

    fn saved_searches(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        const QUERIES: &[&str] = &[
            "repo:^github\\.com/org-1/ lang:go TODO",
            "type:diff after:\"1 week ago\" (password|secret|token)",
            "file:\\.ya?ml$ image: patternType:regexp",
            "repo:has.description(database) count:all select:repo",
            "context:global \"COPY public.repo FROM stdin;\" patterntype:literal",
            "lang:rust /unsafe\\s*\\{/ -file:test",
            "r:gitlab.com/group-1/ f:README.md é",
        ];
        s.begin_copy(
            "saved_searches",
            &[
                "id",
                "description",
                "query",
                "created_at",
                "updated_at",
                "notify_owner",
                "notify_slack",
                "user_id",
                "org_id",
                "slack_webhook_url",
            ],
        )?;
        let mut n = 0;
        // Every fifth user and every third org have one.
        let owners = (1..=self.users)
            .filter(|u| u % 5 == 0)
            .map(|u| (Some(u), None))
            .chain((1..=self.orgs).filter(|o| o % 3 == 0).map(|o| (None, Some(o))));
        for (user, org) in owners {
            n += 1;
            let mut rng = Rng::new(self.seed, stream::SAVED_SEARCH, n as u64);
            self.desc.clear();
            let desc: &str = match tricky_first(n as u64 - 1) {
                Some(t) => t,
                None if rng.chance(1, 50) => tricky(&mut rng),
                None => {
                    let _ = write!(self.desc, "Find {} problems", rng.pick(WORDS));
                    &self.desc
                }
            };
            let query = rng.pick(QUERIES);
            let at = T2016 + rng.below((7 * 365 * DAY) as u64) as i64;
            s.row(|r| {
                r.int(n);
                r.text(desc);
                r.text(query);
                r.ts(at);
                r.ts(at + DAY);
                r.bool(false);
                r.bool(false);
                r.opt_int(user);
                r.opt_int(org);
                r.null();
            })?;
        }
        self.saved_searches = n;
        s.end_copy()
    }

    fn settings(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "settings",
            &[
                "id",
                "org_id",
                "contents",
                "created_at",
                "user_id",
                "author_user_id",
            ],
        )?;
        // Two revisions of the global settings (the newest id wins), JSONC with comments.
        let global = [
            "{\n  // Global settings (JSONC: this comment is part of the stored text)\n  \"search.defaultPatternType\": \"literal\"\n}",
            "{\n  // Global settings (JSONC: this comment is part of the stored text)\n  \"search.defaultPatternType\": \"standard\",\n  /* Shown on the home page */\n  \"motd\": [\"Welcome é 🚀\"],\n  \"quicklinks\": [{\"name\": \"Docs\", \"url\": \"https://docs.example.com\"}],\n  \"experimentalFeatures\": {\"codeInsights\": true, \"searchContexts\": true},\n  \"search.scopes\": [{\"name\": \"Go\", \"value\": \"lang:go -file:_test\\\\.go$\"}],\n}",
        ];
        for (i, contents) in global.iter().enumerate() {
            let id = i as i64 + 1;
            s.row(|r| {
                r.int(id);
                r.null();
                r.text(contents);
                r.ts(T2016 + id * 30 * DAY);
                r.null();
                r.int(1);
            })?;
        }
        let mut n = global.len() as i64;
        let subjects = (1..=self.users)
            .filter(|u| u % 4 == 0)
            .map(|u| (Some(u), None))
            .chain((1..=self.orgs).filter(|o| o % 2 == 0).map(|o| (None, Some(o))));
        for (user, org) in subjects {
            n += 1;
            let mut rng = Rng::new(self.seed, stream::SETTINGS, n as u64);
            self.json.clear();
            match (user, org) {
                (Some(u), _) => {
                    username(self.seed, u, &mut self.name);
                    let _ = writeln!(self.json, "// Settings of {}", self.name);
                }
                _ => self.json.push_str("// Organization settings\n"),
            }
            let mut j = Json::new(&mut self.json);
            j.obj()
                .kv_str(
                    "search.defaultPatternType",
                    rng.pick(&["standard", "literal", "regexp"]),
                )
                .kv_bool("search.contextLines", rng.chance(1, 2))
                .key("motd")
                .arr();
            if rng.chance(1, 10) {
                j.str(tricky(&mut rng));
            } else {
                j.str("Have a nice day ☀");
            }
            j.end_arr()
                .key("experimentalFeatures")
                .obj()
                .kv_bool("codeInsights", rng.chance(1, 2))
                .kv_bool("copilot", false)
                .end_obj()
                .end_obj();
            self.json.push('\n');
            let at = T2016 + rng.below((7 * 365 * DAY) as u64) as i64;
            let contents = self.json.as_str();
            s.row(|r| {
                r.int(n);
                r.opt_int(org);
                r.text(contents);
                r.ts(at);
                r.opt_int(user);
                r.int(user.unwrap_or(1));
            })?;
        }
        self.settings = n;
        s.end_copy()
    }

    fn site_config(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        // No "encryption.keys": such instances cannot be migrated with dumps.
        let old = "{\n  \"externalURL\": \"https://sourcegraph.example.com\",\n  \"auth.providers\": [{\"type\": \"builtin\", \"allowSignup\": true}]\n}";
        let site = "{\n  // The externally accessible URL for Sourcegraph.\n  \"externalURL\": \"https://sourcegraph.example.com\",\n  \"auth.providers\": [\n    {\"type\": \"builtin\", \"allowSignup\": false},\n    // The identity provider side is configured in Okta.\n    {\"type\": \"saml\", \"configID\": \"okta\", \"identityProviderMetadataURL\": \"https://idp.example.com/metadata\"}\n  ],\n  \"email.address\": \"sourcegraph@example.com\",\n  \"repoListUpdateInterval\": 1,\n  \"search.index.enabled\": true,\n  \"codeIntelAutoIndexing.enabled\": true,\n  \"observability.tracing\": {\"sampling\": \"selective\"},\n  \"licenseKey\": \"REDACTED\",\n  \"htmlBodyBottom\": \"<!-- \\\\ backslash and \\\"quotes\\\" -->\",\n}";
        s.begin_copy(
            "critical_and_site_config",
            &[
                "id",
                "type",
                "contents",
                "created_at",
                "updated_at",
                "author_user_id",
                "redacted_contents",
            ],
        )?;
        for (i, contents) in [old, site].iter().enumerate() {
            let id = i as i64 + 1;
            s.row(|r| {
                r.int(id);
                r.raw("site");
                r.text(contents);
                r.ts(T2016 + id * DAY);
                r.ts(T2016 + id * DAY);
                if id == 1 {
                    r.null();
                } else {
                    r.int(1);
                }
                // Secrets are already redacted, so the redacted copy is the same text.
                r.opt_text((id == 2).then_some(*contents));
            })?;
        }
        s.end_copy()
    }

    fn global_state(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        let mut rng = Rng::new(self.seed, stream::GLOBAL, 0);
        self.tmp.clear();
        hex_string(&mut rng, &mut self.tmp, 32);
        let h = &self.tmp;
        let uuid = format!(
            "{}-{}-4{}-8{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        s.begin_copy("global_state", &["site_id", "initialized"])?;
        s.row(|r| {
            r.raw(&uuid);
            r.bool(true);
        })?;
        s.end_copy()
    }

    /// The bulk: repositories until the script (plus what must follow) reaches the target.
    /// The bulk: repositories until the script (plus what must follow) reaches the target,
    /// then the rows that repo's insert triggers would have added.
    fn repos(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        // Each repo row's AFTER INSERT triggers add a gitserver_repos row, whose statement
        // trigger upserts the same statistics row: one new version per repo inside one
        // transaction, which makes large loads quadratic (and updating gitserver_repos
        // afterwards runs a transition-table join that can be quadratic too). Like
        // `pg_dump --disable-triggers`, switch the two row triggers off and write the final
        // rows directly; the statement-level statistics triggers still run once per COPY.
        s.sql(REPO_ROW_TRIGGERS_OFF)?;
        let live = self.repo_rows(s)?;
        s.begin_copy("gitserver_repos", GITSERVER_COLUMNS)?;
        for id in 1..=self.repos {
            s.row(|r| gitserver_row(r, id))?;
        }
        s.end_copy()?;
        // repo's statement trigger counted every live repo as not cloned; gitserver_repos'
        // update trigger would now append this delta (repo_statistics rows are summed).
        let (cloning, cloned, failed) = live.iter().fold((0, 0, 0), |(a, b, c), &id| {
            let (status, error) = clone_state(id);
            (
                a + (status == "cloning") as i64,
                b + (status == "cloned") as i64,
                c + error.is_some() as i64,
            )
        });
        if cloning + cloned + failed > 0 {
            s.sql(&format!(
                "INSERT INTO \"public\".\"repo_statistics\" (\"not_cloned\", \"cloning\", \"cloned\", \"failed_fetch\", \"corrupted\") \
                 VALUES ({}, {cloning}, {cloned}, {failed}, 0);\n\n",
                -(cloning + cloned)
            ))?;
        }
        s.begin_copy("zoekt_repos", ZOEKT_COLUMNS)?;
        for id in 1..=self.repos {
            let seed = self.seed;
            s.row(|r| zoekt_row(r, seed, id))?;
        }
        s.end_copy()?;
        s.sql(REPO_ROW_TRIGGERS_ON)
    }

    /// Writes the repo COPY block; returns the ids of live (not deleted, not blocked) repos.
    fn repo_rows(&mut self, s: &mut Script<'_>) -> io::Result<Vec<i64>> {
        s.begin_copy(
            "repo",
            &[
                "id",
                "name",
                "description",
                "fork",
                "created_at",
                "updated_at",
                "external_id",
                "external_service_type",
                "external_service_id",
                "archived",
                "uri",
                "deleted_at",
                "metadata",
                "private",
                "stars",
                "blocked",
            ],
        )?;
        // Estimate the trailer with a plausible repo count (its size barely depends on it).
        self.repos = (self.target / 1500).max(1) as i64;
        self.uploads = self.repos / 10;
        // SQL and COPY headers and ends of the tables that follow: about 2 KB.
        let mut tail = (self.trailer().len() + REPO_ROW_TRIGGERS_ON.len()) as u64 + 2000;
        let mut id = 0i64;
        let mut uploads = 0i64;
        let mut live = Vec::new();
        loop {
            id += 1;
            if self.repo_row(s, id)? {
                live.push(id);
            }
            // Measure the rows that repo `id` adds to the tables that follow.
            tail += measure(&mut self.scratch, |r| gitserver_row(r, id));
            let seed = self.seed;
            tail += measure(&mut self.scratch, |r| zoekt_row(r, seed, id));
            let info = repo_info(self.seed, id, &mut self.name);
            if info.deleted_at.is_none() {
                let (seed, name, tmp) = (self.seed, &self.name, &mut self.tmp);
                tail += measure(&mut self.scratch, |r| esr_row(r, seed, id, &info, name, tmp));
            }
            for _ in 0..uploads_for_repo(self.seed, id, &info) {
                uploads += 1;
                let (seed, tmp, json) = (self.seed, &mut self.tmp, &mut self.json);
                tail += measure(&mut self.scratch, |r| upload_row(r, seed, uploads, id, tmp, json));
            }
            if s.bytes() + tail + 4 >= self.target {
                break;
            }
        }
        self.repos = id;
        self.uploads = uploads;
        s.end_copy()?;
        Ok(live)
    }

    /// Writes repo `id`; returns whether it is live (not deleted, not blocked).
    fn repo_row(&mut self, s: &mut Script<'_>, id: i64) -> io::Result<bool> {
        let info = repo_info(self.seed, id, &mut self.name);
        let mut rng = Rng::new(self.seed, stream::REPO_ROW, id as u64);
        self.desc.clear();
        let desc: Option<&str> = match tricky_first(id as u64 - 1) {
            Some(t) => Some(t),
            None => match rng.below(1000) {
                0..=79 => None,
                80..=99 => Some(""),
                100..=109 => Some(tricky(&mut rng)),
                110..=114 => {
                    // A long description (a few KB).
                    let n = rng.range(300, 700) as u64;
                    sentence(&mut rng, &mut self.desc, n);
                    Some(&self.desc)
                }
                _ => {
                    let n = rng.range(4, 30) as u64;
                    sentence(&mut rng, &mut self.desc, n);
                    Some(&self.desc)
                }
            },
        };
        let fork = match rng.below(100) {
            0 => None,
            1..=10 => Some(true),
            _ => Some(false),
        };
        // The first rows carry every odd timestamp, later rows now and then.
        let updated: Result<Option<i64>, &str> = match ODD_TIMESTAMPS.get(id as usize - 1) {
            Some(odd) => Err(odd),
            None => match rng.below(1000) {
                0..=1 => Err(rng.pick(ODD_TIMESTAMPS)),
                2..=199 => Ok(None),
                _ => Ok(Some(
                    info.created_at + rng.below((500 * DAY) as u64) as i64 + rng.below(1_000_000) as i64,
                )),
            },
        };
        let private = rng.chance(1, 5);
        let archived = rng.chance(1, 20);
        let stars = rng.skewed(250_000) as i64;
        let forks = rng.skewed(stars as u64 / 4 + 1) as i64;
        let blocked = rng.chance(1, 500);
        let full = self.name.as_str();
        let name = match info.deleted_at {
            // "DELETED-<unix>-" prefix: the original name starts after the second dash.
            Some(_) => full.splitn(3, '-').nth(2).unwrap_or(full),
            None => full,
        };
        let path = &full[info.path_start..];
        let owner_repo = &name[info.host.host().len() + 1..];
        self.tmp.clear();
        match info.host {
            Host::GitHub | Host::Ghe => {
                let _ = write!(self.tmp, "R_kgDO{id:08X}");
            }
            Host::GitLab | Host::Bitbucket => {
                let _ = write!(self.tmp, "{}", id + 1_000_000);
            }
            Host::Gitolite | Host::Other => self.tmp.push_str(owner_repo),
        }
        let external_id = self.tmp.as_str();
        self.json.clear();
        repo_metadata(
            &mut self.json,
            &mut rng,
            &info,
            id,
            name,
            owner_repo,
            path,
            desc,
            (private, fork.unwrap_or(false), archived, stars, forks),
        );
        let metadata = self.json.as_str();
        let blocked_json = blocked.then(|| {
            let mut b = String::new();
            let reason = if rng.chance(1, 2) {
                tricky(&mut rng)
            } else {
                "DMCA takedown"
            };
            Json::new(&mut b)
                .obj()
                .kv_int("at", NOW / 1_000_000)
                .kv_str("reason", reason)
                .end_obj();
            b
        });
        let uri = (!rng.chance(1, 50)).then_some(name);
        s.row(|r| {
            r.int(id);
            r.text(full);
            r.opt_text(desc);
            match fork {
                Some(f) => r.bool(f),
                None => r.null(),
            }
            r.ts(info.created_at);
            match updated {
                Ok(t) => r.opt_ts(t),
                Err(odd) => r.raw(odd),
            }
            r.text(external_id);
            r.raw(info.host.service_type());
            r.raw(info.host.service_url());
            r.bool(archived);
            r.opt_text(uri);
            r.opt_ts(info.deleted_at);
            r.text(metadata);
            r.bool(private);
            r.int(stars);
            r.opt_text(blocked_json.as_deref());
        })?;
        Ok(info.deleted_at.is_none() && !blocked)
    }

    fn external_service_repos(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "external_service_repos",
            &[
                "external_service_id",
                "repo_id",
                "clone_url",
                "user_id",
                "org_id",
                "created_at",
            ],
        )?;
        for id in 1..=self.repos {
            let info = repo_info(self.seed, id, &mut self.name);
            if info.deleted_at.is_some() {
                continue;
            }
            let (seed, name, tmp) = (self.seed, &self.name, &mut self.tmp);
            s.row(|r| esr_row(r, seed, id, &info, name, tmp))?;
        }
        s.end_copy()
    }

    fn lsif_uploads(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy("lsif_uploads", UPLOAD_COLUMNS)?;
        let mut upload = 0;
        for id in 1..=self.repos {
            let info = repo_info(self.seed, id, &mut self.name);
            for _ in 0..uploads_for_repo(self.seed, id, &info) {
                upload += 1;
                let (seed, tmp, json) = (self.seed, &mut self.tmp, &mut self.json);
                s.row(|r| upload_row(r, seed, upload, id, tmp, json))?;
            }
        }
        debug_assert_eq!(upload, self.uploads);
        s.end_copy()
    }

    /// Statements after the data: pinned trigger timestamps, versions, migration_logs,
    /// sequences, COMMIT.
    fn trailer(&self) -> String {
        let mut t = String::new();
        let _ = write!(
            t,
            "-- Rows that triggers created get fixed times instead of the load time.\n\
             UPDATE \"public\".\"lsif_uploads_audit_logs\" SET \"log_timestamp\" = '{PIN}';\n\
             UPDATE \"public\".\"configuration_policies_audit_logs\" SET \"log_timestamp\" = '2023-06-14 09:58:00+00';\n\n\
             -- The versions_insert trigger copies version into first_version; record an\n\
             -- instance first installed at 3.20.0 (only when this script created the row).\n\
             INSERT INTO \"public\".\"versions\" (\"service\", \"version\", \"updated_at\") VALUES ('frontend', '5.1.0', '{PIN}') ON CONFLICT (\"service\") DO NOTHING;\n\
             UPDATE \"public\".\"versions\" SET \"first_version\" = '3.20.0' WHERE \"service\" = 'frontend' AND \"first_version\" = '5.1.0' AND \"updated_at\" = '{PIN}';\n\n"
        );
        t.push_str(MIGRATION_LOGS);
        t.push('\n');
        for (seq, last) in [
            ("users_id_seq", self.users),
            ("orgs_id_seq", self.orgs),
            ("org_members_id_seq", self.org_members),
            ("external_services_id_seq", EXTERNAL_SERVICES.len() as i64),
            ("saved_searches_id_seq", self.saved_searches),
            ("settings_id_seq", self.settings),
            ("critical_and_site_config_id_seq", 2),
            ("repo_id_seq", self.repos),
            ("lsif_dumps_id_seq", self.uploads),
        ] {
            setval(&mut t, seq, last);
        }
        t.push_str("\nCOMMIT;\n");
        t
    }
}

const REPO_ROW_TRIGGERS_OFF: &str =
    "ALTER TABLE \"public\".\"repo\" DISABLE TRIGGER \"trigger_gitserver_repo_insert\";
ALTER TABLE \"public\".\"repo\" DISABLE TRIGGER \"trig_create_zoekt_repo_on_repo_insert\";

";

const REPO_ROW_TRIGGERS_ON: &str =
    "ALTER TABLE \"public\".\"repo\" ENABLE TRIGGER \"trigger_gitserver_repo_insert\";
ALTER TABLE \"public\".\"repo\" ENABLE TRIGGER \"trig_create_zoekt_repo_on_repo_insert\";

";

const GITSERVER_COLUMNS: &[&str] = &[
    "repo_id",
    "clone_status",
    "shard_id",
    "last_error",
    "updated_at",
    "last_fetched",
    "last_changed",
    "repo_size_bytes",
    "corrupted_at",
    "corruption_logs",
    "cloning_progress",
];

/// Clone status and last error of repository `id` as gitserver reports them.
fn clone_state(id: i64) -> (&'static str, Option<&'static str>) {
    let status = if id % 10 == 0 {
        "not_cloned"
    } else if id % 53 == 0 {
        "cloning"
    } else {
        "cloned"
    };
    let error = (id % 97 == 0).then_some("fatal: repository not found\n\tremote: é");
    (status, error)
}

/// The `gitserver_repos` row of repository `id`, in its final (mostly cloned) state.
fn gitserver_row(r: &mut Row<'_>, id: i64) {
    let (status, error) = clone_state(id);
    r.int(id);
    r.raw(status);
    r.raw(["gitserver-0", "gitserver-1", "gitserver-2"][id as usize % 3]);
    r.opt_text(error);
    r.raw(PIN);
    r.raw(PIN);
    r.raw(PIN);
    r.opt_int((status != "not_cloned").then(|| (id * 7919) % 987_654_321));
    r.null();
    r.raw("[]");
    r.raw(if status == "cloning" {
        "Receiving objects:  42% (420/1000)"
    } else {
        ""
    });
}

const ZOEKT_COLUMNS: &[&str] = &["repo_id", "branches", "index_status", "updated_at", "created_at"];

/// The `zoekt_repos` row of repository `id`: three in four are indexed.
fn zoekt_row(r: &mut Row<'_>, seed: u64, id: i64) {
    r.int(id);
    if id % 4 == 0 {
        r.raw("[]");
        r.raw("not_indexed");
    } else {
        let mut sha = String::with_capacity(80);
        sha.push_str("[{\"name\": \"HEAD\", \"version\": \"");
        hex_string(&mut Rng::new(seed, stream::ZOEKT, id as u64), &mut sha, 40);
        sha.push_str("\"}]");
        r.raw(&sha);
        r.raw("indexed");
    }
    r.raw(PIN);
    r.raw(PIN);
}

/// `migration_logs` is created by Sourcegraph's migrator, not by squashed.sql
/// (internal/database/migration/store/store.go, EnsureSchemaTable). The rows are the last
/// five frontend migrations of the schema's commit, including both leaves.
const MIGRATION_LOGS: &str = "CREATE TABLE IF NOT EXISTS \"public\".\"migration_logs\"(\"id\" SERIAL PRIMARY KEY);
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"migration_logs_schema_version\" integer NOT NULL;
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"schema\" text NOT NULL;
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"version\" integer NOT NULL;
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"up\" bool NOT NULL;
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"started_at\" timestamptz NOT NULL;
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"finished_at\" timestamptz;
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"success\" boolean;
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"error_message\" text;
ALTER TABLE \"public\".\"migration_logs\" ADD COLUMN IF NOT EXISTS \"backfilled\" boolean NOT NULL DEFAULT FALSE;
INSERT INTO \"public\".\"migration_logs\" (\"id\", \"migration_logs_schema_version\", \"schema\", \"version\", \"up\", \"started_at\", \"finished_at\", \"success\", \"error_message\", \"backfilled\") VALUES
    (1, 2, 'schema_migrations', 1686042710, true, '2023-06-14 09:59:00.100+00', '2023-06-14 09:59:00.250+00', true, NULL, false),
    (2, 2, 'schema_migrations', 1686169626, true, '2023-06-14 09:59:00.300+00', '2023-06-14 09:59:00.410+00', true, NULL, false),
    (3, 2, 'schema_migrations', 1686208766, true, '2023-06-14 09:59:00.500+00', '2023-06-14 09:59:00.560+00', true, NULL, false),
    (4, 2, 'schema_migrations', 1686255261, true, '2023-06-14 09:59:00.600+00', '2023-06-14 09:59:00.640+00', true, NULL, false),
    (5, 2, 'schema_migrations', 1686580819, true, '2023-06-14 09:59:00.700+00', '2023-06-14 09:59:01.020+00', true, NULL, false)
    ON CONFLICT (\"id\") DO NOTHING;
SELECT pg_catalog.setval(pg_get_serial_sequence('\"public\".\"migration_logs\"', 'id'), (SELECT max(\"id\") FROM \"public\".\"migration_logs\"), true);
";

/// Whether user `id` is a site admin (user 1 always is).
fn is_site_admin(seed: u64, id: i64) -> bool {
    id == 1 || Rng::new(seed, stream::SITE_ADMIN, id as u64).chance(1, 200)
}

fn capitalized(out: &mut String, word: &str) {
    let mut cs = word.chars();
    if let Some(c) = cs.next() {
        out.extend(c.to_uppercase());
        out.push_str(cs.as_str());
    }
}

/// The `external_service_repos` row of a (not deleted) repository.
fn esr_row(r: &mut Row<'_>, seed: u64, id: i64, info: &RepoInfo, name: &str, tmp: &mut String) {
    let mut rng = Rng::new(seed, stream::ESR, id as u64);
    tmp.clear();
    match info.host {
        Host::Gitolite => {
            let _ = write!(tmp, "git@gitolite.example.com:{}", &name[info.path_start..]);
        }
        Host::Bitbucket => {
            let path = &name[info.host.host().len() + 1..];
            let _ = write!(
                tmp,
                "https://bitbucket.example.com/scm/{}.git",
                path.to_lowercase()
            );
        }
        _ => {
            let _ = write!(tmp, "https://{name}.git");
        }
    }
    r.int(info.host.service_id());
    r.int(id);
    r.text(tmp);
    r.null();
    r.null();
    r.ts(info.created_at + rng.below((30 * DAY) as u64) as i64);
}

const UPLOAD_COLUMNS: &[&str] = &[
    "id",
    "commit",
    "root",
    "uploaded_at",
    "state",
    "failure_message",
    "started_at",
    "finished_at",
    "repository_id",
    "indexer",
    "num_parts",
    "uploaded_parts",
    "process_after",
    "num_resets",
    "upload_size",
    "num_failures",
    "associated_index_id",
    "committed_at",
    "commit_last_checked_at",
    "worker_hostname",
    "last_heartbeat_at",
    "execution_logs",
    "num_references",
    "expired",
    "last_retention_scan_at",
    "reference_count",
    "indexer_version",
    "queued_at",
    "cancel",
    "uncompressed_size",
    "last_referenced_scan_at",
    "last_traversal_scan_at",
    "last_reconcile_at",
    "content_type",
    "should_reindex",
];

/// Indexers: (name, version, content type).
const INDEXERS: &[(&str, &str, &str)] = &[
    ("scip-go", "v0.1.4", "application/x-protobuf+scip"),
    ("scip-typescript", "v0.3.6", "application/x-protobuf+scip"),
    ("scip-java", "v0.8.18", "application/x-protobuf+scip"),
    ("scip-python", "v0.6.0", "application/x-protobuf+scip"),
    ("rust-analyzer", "2023-06-05", "application/x-protobuf+scip"),
    ("lsif-go", "v1.9.3", "application/x-ndjson+lsif"),
    ("lsif-clang", "v0.4.0", "application/x-ndjson+lsif"),
];

/// One `lsif_uploads` row (the insert trigger adds an audit-log row for it).
fn upload_row(r: &mut Row<'_>, seed: u64, upload: i64, repo: i64, tmp: &mut String, json: &mut String) {
    let mut rng = Rng::new(seed, stream::UPLOAD_ROW, upload as u64);
    tmp.clear();
    commit_sha(&mut rng, upload as u64, tmp);
    let (indexer, version, content_type) = rng.pick(INDEXERS);
    let state = match rng.below(100) {
        0..=84 => "completed",
        85..=91 => "errored",
        92..=95 => "queued",
        96..=97 => "processing",
        _ => "deleted",
    };
    let root = rng.pick(&["", "", "", "cmd/", "lib/é/", "client/web/", "dir with space/"]);
    let uploaded = T2016 + 5 * 365 * DAY + rng.below((2 * 365 * DAY) as u64) as i64;
    let done = matches!(state, "completed" | "errored" | "deleted");
    let failure = (state == "errored").then(|| {
        if rng.chance(1, 3) {
            tricky(&mut rng)
        } else {
            "failed to process upload: unexpected EOF"
        }
    });
    json.clear();
    let logs = done && rng.chance(1, 3);
    if logs {
        let mut entry = String::new();
        Json::new(&mut entry)
            .obj()
            .kv_str("key", "step.src.upload")
            .key("command")
            .arr()
            .str("src")
            .str("code-intel")
            .str("upload")
            .end_arr()
            .kv_str("startTime", "2023-05-03T10:00:00Z")
            .kv_int("exitCode", 0)
            .kv_str(
                "out",
                "stdout: Uploading index...\nstderr: warning: \\ \"quoted\" \t tab\n",
            )
            .kv_int("durationMs", rng.range(100, 90_000))
            .end_obj();
        array_literal(json, [Some(entry.as_str()), Some("{}")]);
    }
    let size = rng.range(1_000, 500_000_000);
    r.int(upload);
    r.raw(tmp);
    r.text(root);
    r.ts(uploaded);
    r.raw(state);
    r.opt_text(failure);
    r.opt_ts(done.then_some(uploaded + 60_000_000));
    r.opt_ts(done.then_some(uploaded + 120_000_000));
    r.int(repo);
    r.raw(indexer);
    r.int(1);
    r.raw("{0}");
    r.null();
    r.int(0);
    r.int(size);
    r.int((state == "errored") as i64);
    r.null();
    r.opt_ts(done.then_some(uploaded - DAY));
    r.opt_ts(done.then_some(uploaded + HOUR));
    r.text(if done { "precise-code-intel-worker-0" } else { "" });
    r.opt_ts(done.then_some(uploaded + 90_000_000));
    if logs {
        r.text(json);
    } else {
        r.null();
    }
    r.opt_int((state == "completed").then(|| rng.range(0, 50)));
    r.bool(state == "deleted");
    r.opt_ts(done.then_some(uploaded + DAY));
    r.opt_int((state == "completed").then(|| rng.range(0, 50)));
    r.text(version);
    r.ts(uploaded - 30_000_000);
    r.bool(false);
    r.int(size * 3);
    r.opt_ts(done.then_some(uploaded + 2 * DAY));
    r.opt_ts(done.then_some(uploaded + 2 * DAY));
    r.opt_ts((state == "completed").then_some(uploaded + 3 * DAY));
    r.raw(content_type);
    r.bool(false);
}

/// Code-host metadata (`repo.metadata`), shaped like what Sourcegraph stores per host.
#[allow(clippy::too_many_arguments)]
fn repo_metadata(
    out: &mut String,
    rng: &mut Rng,
    info: &RepoInfo,
    id: i64,
    name: &str,
    owner_repo: &str,
    path: &str,
    desc: Option<&str>,
    (private, fork, archived, stars, forks): (bool, bool, bool, i64, i64),
) {
    let mut ts = String::new();
    let mut j = Json::new(out);
    j.obj();
    match info.host {
        Host::GitHub | Host::Ghe => {
            ts.clear();
            let _ = write!(ts, "R_kgDO{id:08X}");
            j.kv_str("ID", &ts).kv_int("DatabaseID", 100_000 + id);
            j.kv_str("NameWithOwner", owner_repo);
            j.key("Description");
            match desc {
                Some(d) => j.str(d),
                None => j.null(),
            };
            ts.clear();
            let _ = write!(ts, "https://{name}");
            j.kv_str("URL", &ts)
                .kv_bool("IsPrivate", private)
                .kv_bool("IsFork", fork)
                .kv_bool("IsArchived", archived)
                .kv_bool("IsLocked", false)
                .kv_bool("IsDisabled", false)
                .kv_str("ViewerPermission", rng.pick(&["ADMIN", "WRITE", "READ"]))
                .kv_int("StargazerCount", stars)
                .kv_int("ForkCount", forks)
                .kv_str("Visibility", if private { "private" } else { "public" });
            j.key("RepositoryTopics").obj().key("Nodes").arr();
            for _ in 0..rng.below(6) {
                j.obj()
                    .key("Topic")
                    .obj()
                    .kv_str("Name", rng.pick(WORDS))
                    .end_obj()
                    .end_obj();
            }
            j.end_arr().end_obj();
            j.key("ParentRepository");
            if fork {
                j.obj()
                    .kv_str("NameWithOwner", "upstream/original")
                    .kv_bool("IsFork", false)
                    .end_obj();
            } else {
                j.null();
            }
            j.kv_int("DiskUsageKibibytes", rng.skewed(4_000_000) as i64);
            j.key("PrimaryLanguage")
                .obj()
                .kv_str("Name", rng.pick(LANGS))
                .end_obj();
            for key in ["CreatedAt", "UpdatedAt", "PushedAt"] {
                ts.clear();
                push_rfc3339(&mut ts, info.created_at + rng.below((700 * DAY) as u64) as i64);
                j.kv_str(key, &ts);
            }
            ts.clear();
            hex_string(rng, &mut ts, 40);
            j.key("DefaultBranchRef")
                .obj()
                .kv_str("Name", rng.pick(&["main", "master", "develop", "trunk"]))
                .key("Target")
                .obj()
                .kv_str("Oid", &ts)
                .end_obj()
                .end_obj();
        }
        Host::GitLab => {
            j.kv_int("id", 1_000_000 + id)
                .kv_str("name", path)
                .kv_str("path_with_namespace", owner_repo);
            j.key("description");
            match desc {
                Some(d) => j.str(d),
                None => j.null(),
            };
            ts.clear();
            let _ = write!(ts, "https://{name}");
            j.kv_str("web_url", &ts);
            ts.push_str(".git");
            j.kv_str("http_url_to_repo", &ts);
            ts.clear();
            let _ = write!(ts, "git@gitlab.com:{owner_repo}.git");
            j.kv_str("ssh_url_to_repo", &ts)
                .kv_int("star_count", stars)
                .kv_int("forks_count", forks)
                .kv_bool("archived", archived)
                .kv_str(
                    "visibility",
                    if private {
                        "private"
                    } else {
                        rng.pick(&["public", "internal"])
                    },
                )
                .kv_str("default_branch", "main");
            j.key("topics").arr();
            for _ in 0..rng.below(4) {
                j.str(rng.pick(WORDS));
            }
            j.end_arr();
            ts.clear();
            push_rfc3339(&mut ts, info.created_at + rng.below((700 * DAY) as u64) as i64);
            j.kv_str("last_activity_at", &ts);
            j.key("forked_from_project");
            if fork {
                j.obj().kv_int("id", 42).end_obj();
            } else {
                j.null();
            }
        }
        Host::Bitbucket => {
            let project = &owner_repo[..owner_repo.find('/').unwrap_or(0)];
            j.kv_int("id", 1_000_000 + id)
                .kv_str("slug", &path.to_lowercase())
                .kv_str("name", path);
            if let Some(d) = desc {
                j.kv_str("description", d);
            }
            j.kv_str("state", "AVAILABLE")
                .kv_bool("forkable", true)
                .kv_bool("public", !private);
            j.key("project")
                .obj()
                .kv_str("key", project)
                .kv_str("name", project)
                .kv_int("id", rng.range(1, 500))
                .end_obj();
            j.key("links").obj().key("clone").arr();
            ts.clear();
            let _ = write!(
                ts,
                "https://bitbucket.example.com/scm/{}.git",
                owner_repo.to_lowercase()
            );
            j.obj().kv_str("href", &ts).kv_str("name", "http").end_obj();
            ts.clear();
            let _ = write!(
                ts,
                "ssh://git@bitbucket.example.com:7999/{}.git",
                owner_repo.to_lowercase()
            );
            j.obj().kv_str("href", &ts).kv_str("name", "ssh").end_obj();
            j.end_arr().end_obj();
        }
        Host::Gitolite => {
            ts.clear();
            let _ = write!(ts, "git@gitolite.example.com:{path}");
            j.kv_str("Name", path).kv_str("URL", &ts);
        }
        Host::Other => {
            if rng.chance(1, 4) {
                j.kv_str("note", "é 🚀 日本語 \\ \"quoted\"");
                j.key("nested")
                    .obj()
                    .key("values")
                    .arr()
                    .int(1)
                    .raw("2.5")
                    .raw("1e-300")
                    .null()
                    .bool(true)
                    .str("")
                    .end_arr()
                    .end_obj();
            }
        }
    }
    j.end_obj();
}
