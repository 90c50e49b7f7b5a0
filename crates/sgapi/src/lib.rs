//! Sourcegraph's GraphQL API for src-snapshot: the first and last steps of
//! the runbook, which happen on the running instances.
//!
//! # Brief overview
//!
//! - [`Client`] sends the operations in `operations/*.graphql` ([`ops`]) to
//!   `$SRC_ENDPOINT/.api/graphql` with `Authorization: token
//!   $SRC_ACCESS_TOKEN` and `SRC_HEADER_<NAME>` headers, as src-cli does,
//!   with timeouts and retries. The token never appears in logs or errors.
//! - [`take_summary`] writes what src-cli's `summary.json` holds (external
//!   services, auth providers: every page) plus version, counts and
//!   site-config keys ([`Summary`]).
//! - [`run_test`] compares the instance with a summary and runs the health
//!   checks; [`compare`] and [`evaluate`] are the rules, without I/O.
//! - [`add_notice`] / [`remove_notice`] edit global settings by key path
//!   with `lastID`; [`jsonc`] finds the notice and checks that nothing
//!   else changed.
//! - [`preflight`] checks the runbook's requirements.
//!
//! # Example
//!
//! ```
//! use sgapi::{Summary, compare};
//!
//! // A summary.json as src-cli writes it is read as is.
//! let before = Summary::parse(r#"{"ExternalServices":{"TotalCount":1,"Nodes":[{"Kind":"GITHUB","ID":"RXh0ZXJuYWxTZXJ2aWNlOjE="}]},
//!                                 "Site":{"AuthProviders":{"TotalCount":1,"Nodes":[{"ServiceType":"builtin","ServiceID":""}]}}}"#)?;
//! let mut now = before.clone();
//! now.site.auth_providers.nodes.clear();
//! now.site.auth_providers.total_count = 0;
//! let (findings, _) = compare(&before, &now);
//! assert_eq!(findings[0].message, "auth provider builtin is missing");
//! # Ok::<(), String>(())
//! ```
#![deny(missing_docs)]

pub mod acceptance;
mod client;
mod error;
pub mod jsonc;
pub mod notice;
pub mod ops;
pub mod preflight;
pub mod summary;
pub mod time;
pub mod upgrade;
pub mod version;

pub use acceptance::{
    compare, evaluate, fetch_health, run_test, CountDelta, Finding, Health, Severity, TestOptions, TestReport,
};
pub use client::{Client, ClientOptions, Token, HEADER_PREFIX};
pub use error::ApiError;
pub use notice::{add_notice, remove_notice, NoticeOutcome, DEFAULT_MESSAGE};
pub use summary::{take_summary, Summary, SummaryOptions, SUMMARY_FILE};

#[cfg(test)]
mod schema_tests {
    //! Every operation validates against Sourcegraph's real schema.

    use std::path::PathBuf;

    fn schema_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sourcegraph/graphql")
    }

    #[test]
    fn every_operation_validates_against_the_self_hosted_schema() {
        // The emulator's loader joins the files as a self-hosted frontend does.
        let schema = sgemu::load_schema(&schema_dir()).expect("the schema builds");
        let ops_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("operations");
        let mut on_disk: Vec<String> = std::fs::read_dir(&ops_dir)
            .expect("operations dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".graphql"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = crate::ops::ALL
            .iter()
            .map(|o| format!("{}.graphql", o.name))
            .collect();
        assert_eq!(on_disk, embedded, "ops::ALL lists every file in operations/");
        for op in crate::ops::ALL {
            let doc = sgemu::validate_operation(&schema, op.query)
                .unwrap_or_else(|e| panic!("{} does not validate:\n{}", op.name, e.join("\n")));
            let named = doc
                .operations
                .get(Some(op.name))
                .unwrap_or_else(|_| panic!("{} has no operation named {}", op.name, op.name));
            assert_eq!(named.is_mutation(), op.mutation, "{}", op.name);
            assert_eq!(doc.operations.len(), 1, "{}: one operation per file", op.name);
        }
        // Negative control: a misspelled field is rejected.
        let bad = "query X { site { productVersionX } }";
        assert!(sgemu::validate_operation(&schema, bad).is_err());
    }
}
