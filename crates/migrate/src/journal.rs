//! The journal: where the migration stands. One JSON file in the snapshot
//! folder (`migration-journal.json`, written atomically, owner-only), mirrored
//! into the bucket as an object of the same name so the operator sees the
//! customer's steps. Each step records its start, end, outcome, attempts and
//! key figures; never a secret (the config it keeps has none by design).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{MigrationConfig, Party, Side};
use crate::error::MigrateError;
use crate::step::StepId;

/// The journal's file (and object) name.
pub const JOURNAL_FILE: &str = "migration-journal.json";
/// Current schema version.
pub const JOURNAL_VERSION: u32 = 1;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not started.
    Pending,
    /// Started and not finished (or the process died in it).
    Running,
    /// Done.
    Succeeded,
    /// The last attempt failed.
    Failed,
    /// Not run on purpose (config, or nothing to do); counts as done.
    Skipped,
}

impl Status {
    /// Whether the step needs no more work.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Succeeded | Status::Skipped)
    }

    /// `pending`, `running`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One attempt at a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// How long it took.
    pub seconds: Option<f64>,
    /// How it ended.
    pub outcome: Status,
    /// The outcome line or the error.
    pub message: Option<String>,
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step.
    pub step: StepId,
    /// Who runs it.
    pub party: Party,
    /// Where it stands.
    pub status: Status,
    /// When the last attempt started.
    pub started_at: Option<String>,
    /// When the last attempt ended.
    pub finished_at: Option<String>,
    /// How long the last attempt took.
    pub seconds: Option<f64>,
    /// Attempts so far.
    pub attempts: u32,
    /// The outcome line.
    pub message: Option<String>,
    /// The error of the last failed attempt.
    pub error: Option<String>,
    /// Key figures (bytes, rows, tables, verdicts).
    #[serde(default)]
    pub figures: BTreeMap<String, Value>,
    /// Every attempt before the last.
    #[serde(default)]
    pub history: Vec<Attempt>,
    /// When this record last changed (RFC 3339 with milliseconds), to merge copies.
    pub updated_at: Option<String>,
}

impl StepRecord {
    /// A pending record.
    pub fn new(step: StepId) -> StepRecord {
        StepRecord {
            step,
            party: step.party(),
            status: Status::Pending,
            started_at: None,
            finished_at: None,
            seconds: None,
            attempts: 0,
            message: None,
            error: None,
            figures: BTreeMap::new(),
            history: Vec::new(),
            updated_at: None,
        }
    }
}

/// The whole journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// Schema version ([`JOURNAL_VERSION`]).
    pub journal_version: u32,
    /// The tool that last wrote it.
    pub tool: String,
    /// The migration's name.
    pub name: String,
    /// When the migration started.
    pub created_at: String,
    /// When the journal was last written.
    pub updated_at: String,
    /// The config each side ran with (paths resolved; no secrets).
    #[serde(default)]
    pub configs: BTreeMap<Party, MigrationConfig>,
    /// Every step, in runbook order.
    pub steps: Vec<StepRecord>,
}

/// Now, RFC 3339 with seconds.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn now_millis() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl Journal {
    /// A journal with every step pending.
    pub fn new(name: &str) -> Journal {
        let t = now();
        Journal {
            journal_version: JOURNAL_VERSION,
            tool: format!("src-snapshot {}", env!("CARGO_PKG_VERSION")),
            name: name.to_string(),
            created_at: t.clone(),
            updated_at: t,
            configs: BTreeMap::new(),
            steps: StepId::ALL.into_iter().map(StepRecord::new).collect(),
        }
    }

    /// Reads a journal from JSON bytes; `location` names it in errors.
    ///
    /// # Errors
    /// Not JSON, not a journal, or of a newer schema.
    pub fn from_slice(bytes: &[u8], location: &str) -> Result<Journal, MigrateError> {
        let mut j: Journal = serde_json::from_slice(bytes).map_err(|e| MigrateError::Journal {
            location: location.to_string(),
            message: e.to_string(),
        })?;
        if j.journal_version > JOURNAL_VERSION {
            return Err(MigrateError::Journal {
                location: location.to_string(),
                message: format!(
                    "journal version {} is newer than this tool understands ({JOURNAL_VERSION}); upgrade src-snapshot",
                    j.journal_version
                ),
            });
        }
        // Steps added by later tools are dropped; missing ones come back pending.
        let mut steps = Vec::new();
        for s in StepId::ALL {
            steps.push(
                j.steps
                    .iter()
                    .find(|r| r.step == s)
                    .cloned()
                    .unwrap_or_else(|| StepRecord::new(s)),
            );
        }
        j.steps = steps;
        Ok(j)
    }

    /// The journal in `dir`, if there is one.
    ///
    /// # Errors
    /// It exists but cannot be read.
    pub fn load(dir: &Path) -> Result<Option<Journal>, MigrateError> {
        let path = dir.join(JOURNAL_FILE);
        match std::fs::read(&path) {
            Ok(b) => Journal::from_slice(&b, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(MigrateError::Io { path, source }),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }

    /// Writes `dir/migration-journal.json` atomically, readable by its owner only.
    ///
    /// # Errors
    /// The folder cannot be created or the file written.
    pub fn save(&mut self, dir: &Path) -> Result<PathBuf, MigrateError> {
        self.updated_at = now();
        self.tool = format!("src-snapshot {}", env!("CARGO_PKG_VERSION"));
        std::fs::create_dir_all(dir).map_err(|source| MigrateError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(JOURNAL_FILE);
        snapshot::fsutil::write_atomic_private(&path, self.to_json().as_bytes()).map_err(|e| match e {
            snapshot::SnapshotError::Io { path, source } => MigrateError::Io { path, source },
            other => MigrateError::Journal {
                location: path.display().to_string(),
                message: other.to_string(),
            },
        })?;
        Ok(path)
    }

    /// The record of `step`.
    pub fn get(&self, step: StepId) -> &StepRecord {
        // Journals always hold every step (new() and from_slice() see to it).
        let i = StepId::ALL.iter().position(|s| *s == step).unwrap_or(0);
        &self.steps[i]
    }

    fn get_mut(&mut self, step: StepId) -> &mut StepRecord {
        let i = StepId::ALL.iter().position(|s| *s == step).unwrap_or(0);
        &mut self.steps[i]
    }

    /// The first step of `side` that is not done.
    pub fn next(&self, side: Side) -> Option<StepId> {
        StepId::for_side(side)
            .into_iter()
            .find(|s| !self.get(*s).status.is_done())
    }

    /// Steps of `side` that are done, and how many steps it has.
    pub fn progress(&self, side: Side) -> (usize, usize) {
        let steps = StepId::for_side(side);
        let done = steps.iter().filter(|s| self.get(**s).status.is_done()).count();
        (done, steps.len())
    }

    /// Whether any step of `side` has started.
    pub fn started(&self, side: Side) -> bool {
        StepId::for_side(side)
            .into_iter()
            .any(|s| self.get(s).attempts > 0 || self.get(s).status != Status::Pending)
    }

    /// Marks `step` started.
    pub fn start(&mut self, step: StepId) {
        let r = self.get_mut(step);
        if let Some(prev) = r.started_at.clone() {
            r.history.push(Attempt {
                started_at: prev,
                finished_at: r.finished_at.clone(),
                seconds: r.seconds,
                outcome: if r.status == Status::Running {
                    // The process ended inside the step.
                    Status::Failed
                } else {
                    r.status
                },
                message: if r.status == Status::Running {
                    Some("interrupted: the process ended during this step".into())
                } else {
                    r.error.clone().or_else(|| r.message.clone())
                },
            });
        }
        r.status = Status::Running;
        r.started_at = Some(now());
        r.finished_at = None;
        r.seconds = None;
        r.attempts += 1;
        r.message = None;
        r.error = None;
        r.updated_at = Some(now_millis());
    }

    /// Records the end of `step`.
    pub fn finish(
        &mut self,
        step: StepId,
        status: Status,
        seconds: f64,
        message: String,
        figures: BTreeMap<String, Value>,
    ) {
        let r = self.get_mut(step);
        r.status = status;
        r.finished_at = Some(now());
        r.seconds = Some(seconds);
        if status == Status::Failed {
            r.error = Some(message);
        } else {
            r.message = Some(message);
        }
        // Figures of a failed attempt are kept beside the last good ones.
        for (k, v) in figures {
            r.figures.insert(k, v);
        }
        r.updated_at = Some(now_millis());
    }

    /// Records `step` as skipped without running it.
    pub fn skip(&mut self, step: StepId, why: &str) {
        let r = self.get_mut(step);
        r.status = Status::Skipped;
        r.message = Some(why.to_string());
        r.finished_at = Some(now());
        r.updated_at = Some(now_millis());
    }

    /// Resets `step` to pending (for `--from-step`), keeping its history.
    pub fn reopen(&mut self, step: StepId) {
        let r = self.get_mut(step);
        if r.status != Status::Pending {
            if let Some(prev) = r.started_at.take() {
                r.history.push(Attempt {
                    started_at: prev,
                    finished_at: r.finished_at.clone(),
                    seconds: r.seconds,
                    outcome: r.status,
                    message: r.error.clone().or_else(|| r.message.clone()),
                });
            }
            r.status = Status::Pending;
            r.finished_at = None;
            r.seconds = None;
            r.message = None;
            r.error = None;
            r.updated_at = Some(now_millis());
        }
    }

    /// Takes from `other` (e.g. the bucket's copy) every step record that is
    /// newer there, and configs this journal lacks.
    pub fn merge(&mut self, other: &Journal) {
        for o in &other.steps {
            let mine = self.get_mut(o.step);
            let newer = match (&mine.updated_at, &o.updated_at) {
                (None, Some(_)) => true,
                (Some(a), Some(b)) => b > a,
                _ => false,
            };
            if newer {
                *mine = o.clone();
            }
        }
        for (party, cfg) in &other.configs {
            self.configs.entry(*party).or_insert_with(|| cfg.clone());
        }
        if other.created_at < self.created_at {
            self.created_at = other.created_at.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_history_and_merge() {
        let mut j = Journal::new("t");
        assert_eq!(j.next(Side::Customer), Some(StepId::Preflight));
        j.start(StepId::Preflight);
        j.finish(
            StepId::Preflight,
            Status::Failed,
            0.5,
            "unreachable".into(),
            BTreeMap::new(),
        );
        j.start(StepId::Preflight);
        let mut f = BTreeMap::new();
        f.insert("checks".to_string(), Value::from(9));
        j.finish(StepId::Preflight, Status::Succeeded, 0.4, "ok".into(), f);
        let r = j.get(StepId::Preflight);
        assert_eq!(r.attempts, 2);
        assert_eq!(r.history.len(), 1);
        assert_eq!(r.history[0].outcome, Status::Failed);
        assert_eq!(r.history[0].message.as_deref(), Some("unreachable"));
        assert_eq!(j.next(Side::Customer), Some(StepId::NoticeAdd));
        assert_eq!(j.progress(Side::Customer), (1, 6));
        assert_eq!(j.next(Side::Operator), Some(StepId::VerifyBucket));

        // A process that died in a step: the next start records it as interrupted.
        j.start(StepId::NoticeAdd);
        j.start(StepId::NoticeAdd);
        assert_eq!(
            j.get(StepId::NoticeAdd).history[0].message.as_deref(),
            Some("interrupted: the process ended during this step")
        );

        // The operator's fresh journal takes the customer's records from the bucket copy.
        let mut op = Journal::new("t");
        op.merge(&j);
        assert_eq!(op.get(StepId::Preflight).status, Status::Succeeded);
        // …but never replaces a newer record with an older one.
        let mut newer = op.clone();
        newer.skip(StepId::Preflight, "by hand");
        newer.merge(&j);
        assert_eq!(newer.get(StepId::Preflight).status, Status::Skipped);

        let text = j.to_json();
        let back = Journal::from_slice(text.as_bytes(), "x").expect("reads back");
        assert_eq!(back, j);
        assert!(Journal::from_slice(b"{\"journal_version\": 99}", "x").is_err());
    }

    #[test]
    fn saved_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().expect("tmp");
        let mut j = Journal::new("t");
        let path = j.save(tmp.path()).expect("save");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Journal::load(tmp.path()).expect("load"), Some(j));
        assert_eq!(Journal::load(&tmp.path().join("none")).expect("load"), None);
    }
}
