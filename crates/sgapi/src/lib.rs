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

    /// The order Sourcegraph joins them (README there), without dotcom and app.
    const FILES: &[&str] = &[
        "schema.graphql",
        "outbound_webhooks.graphql",
        "batches.graphql",
        "codeintel.autoindexing.graphql",
        "codeintel.codenav.graphql",
        "codeintel.graphql",
        "codeintel.policies.graphql",
        "codeintel.ranking.graphql",
        "codeintel.sentinel.graphql",
        "insights.graphql",
        "authz.graphql",
        "code_monitors.graphql",
        "githubapps.graphql",
        "license.graphql",
        "search_contexts.graphql",
        "notebooks.graphql",
        "compute.graphql",
        "insights_aggregations.graphql",
        "embeddings.graphql",
        "cody_context.graphql",
        "rbac.graphql",
        "own.graphql",
        "completions.graphql",
        "guardrails.graphql",
    ];

    fn schema_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sourcegraph/graphql")
    }

    #[test]
    fn every_operation_validates_against_the_self_hosted_schema() {
        let mut sdl = String::new();
        for f in FILES {
            let p = schema_dir().join(f);
            sdl.push_str(
                &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())),
            );
            sdl.push('\n');
        }
        let schema =
            apollo_compiler::Schema::parse_and_validate(sdl, "schema.graphql").expect("the schema builds");
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
            let doc = apollo_compiler::ExecutableDocument::parse_and_validate(
                &schema,
                op.query,
                format!("{}.graphql", op.name),
            )
            .unwrap_or_else(|e| panic!("{} does not validate:\n{e}", op.name));
            let named = doc
                .operations
                .get(Some(op.name))
                .unwrap_or_else(|_| panic!("{} has no operation named {}", op.name, op.name));
            assert_eq!(named.is_mutation(), op.mutation, "{}", op.name);
            assert_eq!(doc.operations.len(), 1, "{}: one operation per file", op.name);
        }
        // Negative control: a misspelled field is rejected.
        let bad = "query X { site { productVersionX } }";
        assert!(
            apollo_compiler::ExecutableDocument::parse_and_validate(&schema, bad, "bad.graphql").is_err()
        );
    }
}
