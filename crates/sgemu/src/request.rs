//! One GraphQL request: authentication, validation, recording, execution.

use std::sync::Arc;

use apollo_compiler::resolvers::{Execution, FieldError};
use apollo_compiler::response::{GraphQLError, JsonMap};
use tokio_postgres::Client;

use crate::model::{ferr, user_row, Obj, UserRow, USER_COLS, V};
use crate::{ReceivedOperation, Shared};

/// Per-request state shared by the resolvers: who asks, and the request's own connections.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    /// Whether the token is a site admin's.
    pub admin: bool,
    frontend: Option<Client>,
    insights: tokio::sync::OnceCell<Option<Client>>,
    viewer: tokio::sync::OnceCell<UserRow>,
    /// A transaction is open on `frontend` (then it is closed, not pooled, if the request ends).
    in_transaction: std::sync::atomic::AtomicBool,
}

impl Ctx {
    pub(crate) fn set_in_transaction(&self, open: bool) {
        self.in_transaction
            .store(open, std::sync::atomic::Ordering::SeqCst);
    }

    /// The frontend database connection of this request.
    pub(crate) fn db(&self) -> Result<&Client, FieldError> {
        self.frontend
            .as_ref()
            .ok_or_else(|| ferr("sg-api-emulator: no frontend database connection"))
    }

    /// The codeinsights database connection, if one is configured (connected on first use).
    pub(crate) async fn insights(&self) -> Result<Option<&Client>, FieldError> {
        let client = self
            .insights
            .get_or_try_init(|| async {
                match &self.shared.codeinsights {
                    Some(pool) => pool.get().await.map(Some).map_err(ferr),
                    None => Ok(None),
                }
            })
            .await?;
        Ok(client.as_ref())
    }

    /// The user the token stands for: the first site admin (or first non-admin) in `users`, or a
    /// stand-in with id 0 when the database has none.
    pub(crate) async fn viewer(&self) -> Result<UserRow, FieldError> {
        let admin = self.admin;
        self.viewer
            .get_or_try_init(|| async {
                let sql = format!(
                    "SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL AND site_admin = $1 ORDER BY id LIMIT 1"
                );
                let row = self
                    .db()?
                    .query_opt(&sql, &[&admin])
                    .await
                    .map_err(|e| ferr(format!("sg-api-emulator: database query failed: {e}")))?;
                Ok(row.as_ref().map(user_row).unwrap_or_else(|| UserRow {
                    id: 0,
                    username: if admin { "sgemu-site-admin" } else { "sgemu-user" }.to_string(),
                    display_name: Some("sg-api-emulator stand-in user".to_string()),
                    avatar_url: None,
                    site_admin: admin,
                    created_at: "1970-01-01T00:00:00Z".to_string(),
                    updated_at: None,
                    builtin_auth: false,
                    tos_accepted: true,
                    searchable: false,
                }))
            })
            .await
            .cloned()
    }

    /// The page-size cap the emulator was told to apply to every connection, if any.
    pub(crate) fn max_page_size(&self) -> Option<usize> {
        *self
            .shared
            .max_page_size
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Some(c) = self.frontend.take() {
            if !self.in_transaction.load(std::sync::atomic::Ordering::SeqCst) {
                self.shared.frontend.put(c);
            }
        }
        if let (Some(Some(c)), Some(pool)) = (self.insights.take(), &self.shared.codeinsights) {
            pool.put(c);
        }
    }
}

/// An HTTP answer: status, content type, body.
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    fn json(status: u16, v: &impl serde::Serialize) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string()),
        }
    }

    pub(crate) fn plain(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }

    fn errors(messages: Vec<GraphQLError>) -> Answer {
        Answer::json(200, &serde_json::json!({ "errors": messages }))
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    query: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default)]
    operation_name: Option<String>,
}

/// Who the `Authorization` header says the caller is: `Some(is_site_admin)` for a known token.
pub(crate) fn authenticate(shared: &Shared, header: Option<&str>) -> Result<bool, Answer> {
    let Some(h) = header else {
        // What Sourcegraph answers an API request without credentials on a private instance.
        return Err(Answer::plain(401, "Private mode requires authentication."));
    };
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if !scheme.eq_ignore_ascii_case("token") {
        return Err(Answer::plain(401, "Invalid access token."));
    }
    let token = rest.trim();
    match shared.tokens.iter().find(|(t, _)| t == token) {
        Some((_, admin)) => Ok(*admin),
        None => Err(Answer::plain(401, "Invalid access token.")),
    }
}

fn message(m: impl Into<String>) -> GraphQLError {
    GraphQLError {
        message: m.into(),
        locations: Vec::new(),
        path: Vec::new(),
        extensions: JsonMap::new(),
    }
}

/// Handle `POST /.api/graphql`.
pub(crate) async fn graphql(shared: Arc<Shared>, auth: Option<&str>, body: &[u8]) -> Answer {
    let mut rec = ReceivedOperation {
        name: None,
        query: String::new(),
        variables: serde_json::Value::Null,
        valid: false,
        errors: Vec::new(),
        status: 200,
    };
    let answer = graphql_inner(&shared, auth, body, &mut rec).await;
    rec.status = answer.status;
    shared.record(rec);
    answer
}

async fn graphql_inner(
    shared: &Arc<Shared>,
    auth: Option<&str>,
    body: &[u8],
    rec: &mut ReceivedOperation,
) -> Answer {
    let parsed: Result<Body, _> = serde_json::from_slice(body);
    let body = match parsed {
        Ok(b) => b,
        Err(e) => {
            rec.errors
                .push(format!("request body is not a GraphQL request: {e}"));
            // Checked first so an anonymous caller learns nothing else.
            if let Err(a) = authenticate(shared, auth) {
                return a;
            }
            return Answer::plain(400, &format!("invalid request body: {e}"));
        }
    };
    rec.query = body.query.clone().unwrap_or_default();
    rec.variables = body.variables.clone().unwrap_or(serde_json::Value::Null);
    rec.name = body.operation_name.clone();

    // Validity is a property of the document: decided (and recorded) whoever asks.
    let validated = crate::schema::validate_document(&shared.schema, &rec.query);
    match &validated {
        Ok(doc) => {
            rec.valid = true;
            if rec.name.is_none() {
                rec.name = doc
                    .operations
                    .iter()
                    .next()
                    .and_then(|o| o.name.as_ref())
                    .map(|n| n.to_string());
            }
        }
        Err(errs) => rec.errors = errs.iter().map(|e| e.message.clone()).collect(),
    }
    let admin = match authenticate(shared, auth) {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let doc = match validated {
        Ok(d) => d,
        Err(errs) => return Answer::errors(errs),
    };
    let operation = match doc.operations.get(body.operation_name.as_deref()) {
        Ok(op) => op,
        Err(e) => {
            rec.valid = false;
            let m = e.message().to_string();
            rec.errors.push(m.clone());
            return Answer::errors(vec![message(m)]);
        }
    };
    let variables: JsonMap = match &body.variables {
        None | Some(serde_json::Value::Null) => JsonMap::new(),
        Some(v @ serde_json::Value::Object(_)) => match serde_json::from_value(v.clone()) {
            Ok(m) => m,
            Err(e) => return Answer::errors(vec![message(format!("invalid variables: {e}"))]),
        },
        Some(_) => {
            rec.valid = false;
            rec.errors.push("variables must be a JSON object".to_string());
            return Answer::errors(vec![message("variables must be a JSON object")]);
        }
    };
    let frontend = match shared.frontend.get().await {
        Ok(c) => c,
        Err(e) => return Answer::errors(vec![message(format!("sg-api-emulator: {e}"))]),
    };
    let ctx = Arc::new(Ctx {
        shared: shared.clone(),
        admin,
        frontend: Some(frontend),
        insights: tokio::sync::OnceCell::new(),
        viewer: tokio::sync::OnceCell::new(),
        in_transaction: std::sync::atomic::AtomicBool::new(false),
    });
    let root_v = match operation.operation_type {
        apollo_compiler::executable::OperationType::Mutation => V::Mutation,
        _ => V::Query,
    };
    let root = Obj { ctx, v: root_v };
    let result = Execution::new(&shared.schema, &doc)
        .operation(operation)
        .raw_variable_values(&variables)
        .execute_async(&root)
        .await;
    match result {
        Ok(mut response) => {
            // apollo-compiler prefixes resolver errors; Sourcegraph sends the message alone, and
            // clients match on it (e.g. "must be site admin").
            for e in &mut response.errors {
                if let Some(m) = e.message.strip_prefix("resolver error: ") {
                    e.message = m.to_string();
                }
            }
            Answer::json(200, &response)
        }
        Err(e) => {
            // A request error (such as a variable of the wrong type): the client's mistake.
            let err = e.to_graphql_error(&doc.sources);
            rec.valid = false;
            rec.errors.push(err.message.clone());
            Answer::errors(vec![err])
        }
    }
}
