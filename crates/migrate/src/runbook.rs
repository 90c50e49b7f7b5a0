//! The runbook of one migration: every step with who runs it, whether it is
//! done (from the journal), which one is next, and the exact command with
//! this migration's values — as checklist text or Markdown.

use std::path::Path;

use serde::Serialize;

use crate::commands::{command, migrate_command};
use crate::config::{MigrationConfig, Party, Side};
use crate::journal::{Journal, Status};
use crate::records::UpgradeRecord;
use crate::step::StepId;

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunbookItem {
    /// The step.
    pub step: StepId,
    /// Who runs it.
    pub party: Party,
    /// What it does.
    pub title: &'static str,
    /// Where it stands.
    pub status: Status,
    /// When it finished (or last failed).
    pub when: Option<String>,
    /// How long it took.
    pub seconds: Option<f64>,
    /// Its outcome or error.
    pub message: Option<String>,
    /// The command that does it by hand.
    pub command: String,
    /// What a person does first, outside src-snapshot.
    pub before: Option<&'static str>,
    /// This is the next step.
    pub next: bool,
}

/// The runbook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runbook {
    /// The migration's name.
    pub name: String,
    /// Where the journal was read, if any.
    pub journal: Option<String>,
    /// When the journal was last written.
    pub updated_at: Option<String>,
    /// Every step, in order.
    pub items: Vec<RunbookItem>,
    /// The next step.
    pub next: Option<StepId>,
    /// The command that runs everything left.
    pub migrate: String,
}

/// What a person does before a step, from the runbook, outside src-snapshot.
fn before(step: StepId) -> Option<&'static str> {
    Some(match step {
        StepId::Upload => {
            "the operator has created the bucket and a write-only service account for it and shared the bucket name and the key file"
        }
        StepId::VerifyBucket => "the customer has said the upload finished",
        StepId::Reset => {
            "freeze the managed instance (`mi ssh-exec 'cd /deployment/docker-compose && docker-compose down'`) and reach its database (Cloud SQL proxy)"
        }
        StepId::Migrator => {
            "start the database proxy on the instance (`mi ssh-exec 'cd /deployment/docker-compose && docker-compose up -d cloud-sql-proxy'`)"
        }
        StepId::Test => {
            "spin up the instance (`docker-compose up -d`), sync its configuration (`mi init-instance`) and run `mi check --executors`"
        }
        _ => return None,
    })
}

/// A plan good enough to print the migrator's command, from the record or the journal's figures.
fn plan_from(journal: Option<&Journal>, dir: &Path) -> Option<UpgradeRecord> {
    if let Some(p) = crate::records::load(dir, StepId::UpgradePlan) {
        return Some(p);
    }
    let f = &journal?.get(StepId::UpgradePlan).figures;
    let cmd = f.get("command")?.as_str()?;
    Some(UpgradeRecord {
        from: f.get("from")?.as_str()?.to_string(),
        to: f.get("to")?.as_str()?.to_string(),
        ok: f.get("ok")?.as_bool()?,
        args: Some(
            cmd.strip_prefix("migrator ")
                .unwrap_or(cmd)
                .split_whitespace()
                .map(String::from)
                .collect(),
        ),
        command: Some(cmd.to_string()),
        image: f.get("image").and_then(|v| v.as_str()).map(String::from),
        compose: None,
        notes: Vec::new(),
        problems: Vec::new(),
    })
}

/// The runbook from a journal (if any) and a config (if any): each step's
/// command uses the config its side ran with, else `cfg`, else placeholders.
pub fn runbook(
    journal: Option<&Journal>,
    journal_location: Option<String>,
    cfg: Option<&MigrationConfig>,
    config_path: Option<&Path>,
) -> Runbook {
    let placeholder = MigrationConfig::with_defaults(Side::Both);
    let fallback = cfg.unwrap_or(&placeholder);
    let dir = &fallback.snapshot_dir;
    let plan = plan_from(journal, dir);
    let fresh = Journal::new(&fallback.name);
    let j = journal.unwrap_or(&fresh);
    let next = StepId::ALL.into_iter().find(|s| !j.get(*s).status.is_done());
    let items = StepId::ALL
        .into_iter()
        .map(|s| {
            let r = j.get(s);
            // The config that side ran with, else the one given, else the other
            // side's (same bucket and target; its key file is its own, so dropped).
            let other = j.configs.values().next().map(|c| MigrationConfig {
                credentials: None,
                ..c.clone()
            });
            let c = j
                .configs
                .get(&s.party())
                .or(cfg)
                .or(other.as_ref())
                .unwrap_or(&placeholder);
            RunbookItem {
                step: s,
                party: s.party(),
                title: s.title(),
                status: r.status,
                when: r.finished_at.clone(),
                seconds: r.seconds,
                message: r.error.clone().or_else(|| r.message.clone()),
                command: command(s, c, plan.as_ref()),
                before: before(s),
                next: Some(s) == next,
            }
        })
        .collect();
    Runbook {
        name: journal
            .map(|j| j.name.clone())
            .unwrap_or_else(|| fallback.name.clone()),
        journal: journal_location,
        updated_at: journal.map(|j| j.updated_at.clone()),
        items,
        next,
        migrate: migrate_command(config_path),
    }
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Succeeded => "[x]",
        Status::Skipped => "[-]",
        Status::Failed => "[!]",
        Status::Running => "[~]",
        Status::Pending => "[ ]",
    }
}

fn who(p: Party) -> &'static str {
    match p {
        Party::Customer => "the customer's site admin, on a machine that reaches the databases",
        Party::Operator => "the operator, with access to the managed database and instance",
    }
}

fn state(i: &RunbookItem) -> String {
    let dur = i.seconds.map(|s| format!(" in {s:.1} s")).unwrap_or_default();
    match i.status {
        Status::Succeeded => format!(
            "done{}{dur}",
            i.when.as_ref().map(|w| format!(" {w}")).unwrap_or_default()
        ),
        Status::Skipped => "skipped".into(),
        Status::Failed => format!(
            "FAILED{}",
            i.when.as_ref().map(|w| format!(" {w}")).unwrap_or_default()
        ),
        Status::Running => "running (or interrupted)".into(),
        Status::Pending => String::new(),
    }
}

/// The runbook as checklist text.
pub fn text(rb: &Runbook) -> String {
    let mut o = format!("Runbook: migration {}\n", rb.name);
    match (&rb.journal, &rb.updated_at) {
        (Some(j), Some(u)) => o.push_str(&format!("Journal: {j} (updated {u})\n")),
        (Some(j), None) => o.push_str(&format!("Journal: {j}\n")),
        _ => o.push_str("Journal: none yet (nothing has run)\n"),
    }
    let done = rb.items.iter().filter(|i| i.status.is_done()).count();
    o.push_str(&format!("Progress: {done} of {} steps done", rb.items.len()));
    match rb.next {
        Some(n) => o.push_str(&format!("; next: {n} (the {})\n", n.party().as_str())),
        None => o.push_str("; the migration is complete\n"),
    }
    let mut n = 0;
    for party in [Party::Customer, Party::Operator] {
        o.push_str(&format!("\n{} — {}\n", party.as_str().to_uppercase(), who(party)));
        for i in rb.items.iter().filter(|i| i.party == party) {
            n += 1;
            let st = state(i);
            o.push_str(&format!(
                "{} {n:>2}. {:<14} {}{}{}\n",
                mark(i.status),
                i.step.name(),
                i.title,
                if st.is_empty() {
                    String::new()
                } else {
                    format!(" — {st}")
                },
                if i.next { "   <- NEXT" } else { "" }
            ));
            if let (Some(m), true) = (&i.message, i.status != Status::Pending) {
                o.push_str(&format!("         {m}\n"));
            }
            if !i.status.is_done() {
                if let Some(b) = i.before {
                    o.push_str(&format!("         first: {b}\n"));
                }
                o.push_str(&format!("         $ {}\n", i.command));
            }
        }
    }
    if rb.next.is_some() {
        o.push_str(&format!(
            "\nEverything left, in order, resumable: {}\n",
            rb.migrate
        ));
    }
    o
}

/// The runbook as Markdown (a task list with the commands in code blocks).
pub fn markdown(rb: &Runbook) -> String {
    let mut o = format!("# Runbook: migration {}\n\n", rb.name);
    if let (Some(j), Some(u)) = (&rb.journal, &rb.updated_at) {
        o.push_str(&format!("Journal: `{j}`, updated {u}.\n\n"));
    }
    let done = rb.items.iter().filter(|i| i.status.is_done()).count();
    o.push_str(&format!("**{done} of {} steps done**", rb.items.len()));
    match rb.next {
        Some(n) => o.push_str(&format!(" — next: `{n}` (the {}).\n", n.party().as_str())),
        None => o.push_str(" — the migration is complete.\n"),
    }
    for party in [Party::Customer, Party::Operator] {
        o.push_str(&format!("\n## {} ({})\n\n", party.as_str(), who(party)));
        for i in rb.items.iter().filter(|i| i.party == party) {
            let tick = if i.status.is_done() { "x" } else { " " };
            let st = state(i);
            o.push_str(&format!(
                "- [{tick}] **{}** — {}{}{}\n",
                i.step.name(),
                i.title,
                if st.is_empty() {
                    String::new()
                } else {
                    format!(" — _{st}_")
                },
                if i.next { " ← **next**" } else { "" }
            ));
            if let (Some(m), true) = (&i.message, i.status != Status::Pending) {
                o.push_str(&format!("  > {}\n", m.replace('\n', " ")));
            }
            if !i.status.is_done() {
                if let Some(b) = i.before {
                    o.push_str(&format!("  First: {b}\n"));
                }
                o.push_str(&format!("  ```sh\n  {}\n  ```\n", i.command));
            }
        }
    }
    if rb.next.is_some() {
        o.push_str(&format!(
            "\nEverything left, in order, resumable:\n\n```sh\n{}\n```\n",
            rb.migrate
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_done_and_next_with_commands() {
        let cfg = MigrationConfig::parse(
            "side: both\nname: acme\nbucket: gs://acme\nsnapshot_dir: /s\ntarget: {url: postgres://op@db:5432/postgres}\n",
            Path::new("m.yaml"),
        )
        .expect("config");
        let mut j = Journal::new("acme");
        j.configs.insert(Party::Customer, cfg.clone());
        for s in [StepId::Preflight, StepId::NoticeAdd, StepId::Databases] {
            j.start(s);
            j.finish(s, Status::Succeeded, 1.0, format!("{s} ok"), Default::default());
        }
        j.start(StepId::Summary);
        j.finish(
            StepId::Summary,
            Status::Failed,
            0.2,
            "401 Unauthorized".into(),
            Default::default(),
        );
        let rb = runbook(
            Some(&j),
            Some("/s/migration-journal.json".into()),
            Some(&cfg),
            Some(Path::new("/m.yaml")),
        );
        assert_eq!(rb.next, Some(StepId::Summary));
        let t = text(&rb);
        assert!(t.contains("[x]  1. preflight"), "{t}");
        assert!(t.contains("[!]  4. summary"), "{t}");
        assert!(t.contains("<- NEXT"), "{t}");
        assert!(t.contains("401 Unauthorized"), "{t}");
        assert!(
            t.contains("$ src-snapshot upload -bucket=gs://acme -dir=/s"),
            "{t}"
        );
        assert!(
            t.contains("$ src-snapshot reset --target-url=postgres://op@db:5432/postgres --yes"),
            "{t}"
        );
        assert!(
            t.contains("src-snapshot migrate --config=/m.yaml --resume"),
            "{t}"
        );
        assert!(
            !t.contains("$ src-snapshot databases"),
            "done steps show no command: {t}"
        );
        let md = markdown(&rb);
        assert!(md.contains("- [x] **preflight**"), "{md}");
        assert!(md.contains("- [ ] **summary**"), "{md}");
        assert!(md.contains("← **next**"), "{md}");
        assert!(md.contains("```sh"), "{md}");
    }
}
