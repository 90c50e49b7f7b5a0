//! The runbook's steps, in order, and who runs each.

use serde::{Deserialize, Serialize};

use crate::config::{Party, Side};

/// One step of the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepId {
    /// The runbook's requirements (versions, token, encryption, databases, pg_dump, disk).
    Preflight,
    /// The site notice up on the customer's instance.
    NoticeAdd,
    /// pg_dump of the three databases into the snapshot folder.
    Databases,
    /// `summary.json` of the customer's instance.
    Summary,
    /// The snapshot into the bucket.
    Upload,
    /// The bucket checked after the upload (the customer's credentials).
    VerifyUpload,
    /// The bucket checked before anything is loaded (the operator's credentials).
    VerifyBucket,
    /// The target databases dropped and created empty.
    Reset,
    /// The snapshot loaded into the target.
    Import,
    /// The target proven equal to the snapshot.
    Compare,
    /// The migrator invocation for the target's Sourcegraph version.
    UpgradePlan,
    /// The migrator run (when the config says how).
    Migrator,
    /// The acceptance test against the summary.
    Test,
    /// The site notice down on the managed instance.
    NoticeRemove,
}

impl StepId {
    /// Every step, in runbook order.
    pub const ALL: [StepId; 14] = [
        StepId::Preflight,
        StepId::NoticeAdd,
        StepId::Databases,
        StepId::Summary,
        StepId::Upload,
        StepId::VerifyUpload,
        StepId::VerifyBucket,
        StepId::Reset,
        StepId::Import,
        StepId::Compare,
        StepId::UpgradePlan,
        StepId::Migrator,
        StepId::Test,
        StepId::NoticeRemove,
    ];

    /// The step's name (`notice-add`, `verify-bucket`, …).
    pub fn name(self) -> &'static str {
        match self {
            StepId::Preflight => "preflight",
            StepId::NoticeAdd => "notice-add",
            StepId::Databases => "databases",
            StepId::Summary => "summary",
            StepId::Upload => "upload",
            StepId::VerifyUpload => "verify-upload",
            StepId::VerifyBucket => "verify-bucket",
            StepId::Reset => "reset",
            StepId::Import => "import",
            StepId::Compare => "compare",
            StepId::UpgradePlan => "upgrade-plan",
            StepId::Migrator => "migrator",
            StepId::Test => "test",
            StepId::NoticeRemove => "notice-remove",
        }
    }

    /// Every step name, in order.
    pub fn names() -> Vec<&'static str> {
        StepId::ALL.iter().map(|s| s.name()).collect()
    }

    /// The step named `s`.
    pub fn parse(s: &str) -> Option<StepId> {
        StepId::ALL.into_iter().find(|x| x.name() == s.trim())
    }

    /// Who runs it.
    pub fn party(self) -> Party {
        if self <= StepId::VerifyUpload {
            Party::Customer
        } else {
            Party::Operator
        }
    }

    /// What it does, for people.
    pub fn title(self) -> &'static str {
        match self {
            StepId::Preflight => "check the runbook's requirements",
            StepId::NoticeAdd => "put the migration notice up on the instance",
            StepId::Databases => "dump the three databases into the snapshot folder",
            StepId::Summary => "record the instance in summary.json",
            StepId::Upload => "upload the snapshot to the bucket",
            StepId::VerifyUpload => "check the uploaded objects",
            StepId::VerifyBucket => "check the bucket holds the complete snapshot",
            StepId::Reset => "drop and recreate the target databases",
            StepId::Import => "load the snapshot into the target",
            StepId::Compare => "prove the target equals the snapshot",
            StepId::UpgradePlan => "plan the migrator run to the managed version",
            StepId::Migrator => "run the migrator",
            StepId::Test => "acceptance test of the managed instance against summary.json",
            StepId::NoticeRemove => "take the migration notice down",
        }
    }

    /// The steps a side runs, in order.
    pub fn for_side(side: Side) -> Vec<StepId> {
        StepId::ALL
            .into_iter()
            .filter(|s| side.includes(s.party()))
            .collect()
    }
}

impl std::fmt::Display for StepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_split_the_runbook() {
        let c: Vec<_> = StepId::for_side(Side::Customer)
            .iter()
            .map(|s| s.name())
            .collect();
        assert_eq!(
            c,
            [
                "preflight",
                "notice-add",
                "databases",
                "summary",
                "upload",
                "verify-upload"
            ]
        );
        let o: Vec<_> = StepId::for_side(Side::Operator)
            .iter()
            .map(|s| s.name())
            .collect();
        assert_eq!(
            o,
            [
                "verify-bucket",
                "reset",
                "import",
                "compare",
                "upgrade-plan",
                "migrator",
                "test",
                "notice-remove"
            ]
        );
        assert_eq!(StepId::for_side(Side::Both).len(), 14);
        for s in StepId::ALL {
            assert_eq!(StepId::parse(s.name()), Some(s));
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{}\"", s.name()));
        }
        assert_eq!(StepId::parse("verify"), None);
    }
}
