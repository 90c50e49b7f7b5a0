//! Sourcegraph's GraphQL schema, joined from its `.graphql` files, and operation validation.

use std::path::{Path, PathBuf};

use apollo_compiler::response::GraphQLError;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};

use crate::EmulatorError;

/// The order in which Sourcegraph's frontend joins its schema files
/// (`cmd/frontend/graphqlbackend/schema.go`); files not listed come after, by name.
const JOIN_ORDER: &[&str] = &[
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
    "dotcom.graphql",
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
    "app.graphql",
];

/// Files a self-hosted instance does not serve: `dotcom.graphql` (sourcegraph.com only) and
/// `app.graphql` (the Cody desktop app only).
const NOT_SELF_HOSTED: &[&str] = &["dotcom.graphql", "app.graphql"];

/// The `.graphql` files of `dir` that a self-hosted instance serves, in Sourcegraph's join order.
pub fn schema_files(dir: &Path) -> Result<Vec<PathBuf>, EmulatorError> {
    let read_err = |source| EmulatorError::Schema {
        message: format!("cannot read schema folder {}: {source}", dir.display()),
    };
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let name = entry
            .map_err(read_err)?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".graphql") && !NOT_SELF_HOSTED.contains(&name.as_str()) {
            names.push(name);
        }
    }
    if !names.iter().any(|n| n == "schema.graphql") {
        return Err(EmulatorError::Schema {
            message: format!("{} has no schema.graphql", dir.display()),
        });
    }
    let rank = |n: &String| JOIN_ORDER.iter().position(|k| k == n).unwrap_or(JOIN_ORDER.len());
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Parse and validate the self-hosted schema joined from the files in `dir`.
pub fn load_schema(dir: &Path) -> Result<Valid<Schema>, EmulatorError> {
    let mut builder = Schema::builder();
    for path in schema_files(dir)? {
        let text = std::fs::read_to_string(&path).map_err(|e| EmulatorError::Schema {
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        // Sourcegraph joins the texts; an empty file (codeintel.graphql is one) adds nothing,
        // but alone it is no valid document for the parser.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        builder = builder.parse(text, &path);
    }
    let schema = builder.build().map_err(|e| EmulatorError::Schema {
        message: e.errors.to_string(),
    })?;
    schema.validate().map_err(|e| EmulatorError::Schema {
        message: e.errors.to_string(),
    })
}

/// Parse and validate one executable document (operations and fragments) against `schema`.
///
/// On failure returns one message per problem, each with its `line:column` when known.
pub fn validate_operation(
    schema: &Valid<Schema>,
    text: &str,
) -> Result<Valid<ExecutableDocument>, Vec<String>> {
    validate_document(schema, text).map_err(|errors| {
        errors
            .iter()
            .map(|e| match e.locations.first() {
                Some(l) => format!("{}:{}: {}", l.line, l.column, e.message),
                None => e.message.clone(),
            })
            .collect()
    })
}

/// Like [`validate_operation`], with the errors in GraphQL's response shape.
pub(crate) fn validate_document(
    schema: &Valid<Schema>,
    text: &str,
) -> Result<Valid<ExecutableDocument>, Vec<GraphQLError>> {
    ExecutableDocument::parse_and_validate(schema, text, "operation.graphql")
        .map_err(|e| e.errors.iter().map(|d| d.to_json()).collect())
}
