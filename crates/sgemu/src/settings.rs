//! `settingsMutation`: edits and overwrites of settings, written as new `settings` rows the way
//! Sourcegraph's `settingsCreateIfUpToDate` does.

use apollo_compiler::resolvers::FieldError;
use apollo_compiler::response::{JsonMap, JsonValue};
use tokio_postgres::Client;

use crate::jsonc::{self, Seg};
use crate::model::{ferr, SettingsRow, Subject};
use crate::request::Ctx;

/// Sourcegraph's refusal when global settings come from `GLOBAL_SETTINGS_FILE`.
pub(crate) const GLOBAL_SETTINGS_FROM_FILE: &str =
    "Updating global settings not allowed when using GLOBAL_SETTINGS_FILE";

/// The viewer may change `subject`'s settings: site admins any; a user their own; an org's members.
pub(crate) async fn check_can_administer(ctx: &Ctx, subject: &Subject) -> Result<(), FieldError> {
    if ctx.admin {
        return Ok(());
    }
    let viewer = ctx.viewer().await?;
    let allowed = match subject {
        Subject::Site => false,
        Subject::User(id) => *id == viewer.id,
        Subject::Org(id) => ctx
            .db()?
            .query_opt(
                "SELECT 1 FROM org_members WHERE org_id = $1 AND user_id = $2",
                &[id, &viewer.id],
            )
            .await
            .map_err(|e| ferr(format!("sg-api-emulator: database query failed: {e}")))?
            .is_some(),
    };
    if allowed {
        Ok(())
    } else {
        Err(ferr("viewer is not allowed to edit these settings"))
    }
}

/// `editSettings(edit: {keyPath, value, valueIsJSONCEncodedString})`.
pub(crate) async fn edit_settings(
    ctx: &Ctx,
    subject: &Subject,
    last_id: Option<i32>,
    edit: &JsonMap,
) -> Result<(), FieldError> {
    let path = key_path(edit.get("keyPath"))?;
    let value = match edit.get("value").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => {
            let encoded = edit
                .get("valueIsJSONCEncodedString")
                .and_then(JsonValue::as_bool)
                .unwrap_or(false);
            Some(if encoded {
                let s = v
                    .as_str()
                    .ok_or_else(|| ferr("value must be a string for valueIsJSONCEncodedString"))?;
                // Go marshals a json.RawMessage only when it is strict JSON (no comments).
                serde_json::from_str::<serde_json::Value>(s).map_err(|e| {
                    ferr(format!(
                        "json: error calling MarshalJSON for type json.RawMessage: {e}"
                    ))
                })?;
                compact(s)
            } else {
                let plain: serde_json::Value =
                    serde_json::to_value(v).map_err(|e| ferr(format!("invalid settings value: {e}")))?;
                jsonc::go_json(&plain)
            })
        }
    };
    let db = ctx.db()?;
    in_transaction(ctx, db, async {
        let latest = lock_and_latest(ctx, db, subject).await?;
        // Sourcegraph's getCurrentSettings: the edit applies to the version the client read.
        let data = match (&latest, last_id) {
            (Some(s), Some(l)) if s.id == l => s.contents.clone(),
            (None, None) => String::new(),
            (latest, wanted) => {
                let show = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_else(|| "null".to_string());
                return Err(ferr(format!(
                    "update settings version mismatch: last ID is {} (mutation wanted {})",
                    show(latest.as_ref().map(|s| s.id)),
                    show(wanted)
                )));
            }
        };
        let new = jsonc::set_property(&data, &path, value.as_deref()).map_err(ferr)?;
        create_if_up_to_date(ctx, db, subject, last_id, latest.as_ref(), &new).await
    })
    .await
}

/// `overwriteSettings(contents)`. Like Sourcegraph, a stale `lastID` writes nothing and is no
/// error (`CreateIfUpToDate` just returns the newer settings).
pub(crate) async fn overwrite_settings(
    ctx: &Ctx,
    subject: &Subject,
    last_id: Option<i32>,
    contents: &str,
) -> Result<(), FieldError> {
    let db = ctx.db()?;
    in_transaction(ctx, db, async {
        let latest = lock_and_latest(ctx, db, subject).await?;
        create_if_up_to_date(ctx, db, subject, last_id, latest.as_ref(), contents).await
    })
    .await
}

/// Run `body` inside BEGIN … COMMIT on the request's own connection (ROLLBACK on error).
async fn in_transaction(
    ctx: &Ctx,
    db: &Client,
    body: impl std::future::Future<Output = Result<(), FieldError>>,
) -> Result<(), FieldError> {
    db.batch_execute("BEGIN").await.map_err(sql_err)?;
    // Until COMMIT/ROLLBACK the connection must not go back to the pool.
    ctx.set_in_transaction(true);
    let (result, closed) = match body.await {
        Ok(()) => {
            let r = db.batch_execute("COMMIT").await.map_err(sql_err);
            let closed = r.is_ok();
            (r, closed)
        }
        Err(e) => (Err(e), db.batch_execute("ROLLBACK").await.is_ok()),
    };
    if closed {
        ctx.set_in_transaction(false);
    }
    result
}

fn sql_err(e: tokio_postgres::Error) -> FieldError {
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    ferr(format!("sg-api-emulator: database query failed: {detail}"))
}

/// Serialize writers of `settings` (ours and anyone else's) for the rest of the transaction,
/// then read the subject's latest row.
async fn lock_and_latest(
    ctx: &Ctx,
    db: &Client,
    subject: &Subject,
) -> Result<Option<SettingsRow>, FieldError> {
    db.batch_execute("LOCK TABLE settings IN SHARE ROW EXCLUSIVE MODE")
        .await
        .map_err(sql_err)?;
    ctx.latest_settings(subject).await
}

/// Sourcegraph's `settingsCreateIfUpToDate`: refuse file-managed global settings, validate, and
/// insert a new row only when `last_id` is the latest id (or there are no settings yet).
async fn create_if_up_to_date(
    ctx: &Ctx,
    db: &Client,
    subject: &Subject,
    last_id: Option<i32>,
    latest: Option<&SettingsRow>,
    contents: &str,
) -> Result<(), FieldError> {
    if *subject == Subject::Site && !ctx.shared.state().allow_site_settings_edits {
        return Err(ferr(GLOBAL_SETTINGS_FROM_FILE));
    }
    validate_settings(contents).map_err(ferr)?;
    let up_to_date = match latest {
        None => true,
        Some(s) => last_id == Some(s.id),
    };
    if !up_to_date {
        return Ok(());
    }
    let (user_id, org_id) = match subject {
        Subject::Site => (None, None),
        Subject::User(u) => (Some(*u), None),
        Subject::Org(o) => (None, Some(*o)),
    };
    let viewer = ctx.viewer().await?;
    // The stand-in viewer (id 0) is no database user: the row then has no author.
    let author = if viewer.id > 0 { Some(viewer.id) } else { None };
    db.execute(
        "INSERT INTO settings (org_id, user_id, author_user_id, contents) VALUES ($1, $2, $3, $4)",
        &[&org_id, &user_id, &author, &contents],
    )
    .await
    .map_err(sql_err)?;
    Ok(())
}

fn key_path(v: Option<&JsonValue>) -> Result<Vec<Seg>, FieldError> {
    let segs = v
        .and_then(JsonValue::as_array)
        .ok_or_else(|| ferr("keyPath is required"))?;
    segs.iter()
        .enumerate()
        .map(|(i, s)| {
            let prop = s.get("property").filter(|x| !x.is_null());
            let index = s.get("index").filter(|x| !x.is_null());
            match (
                prop.and_then(JsonValue::as_str),
                index.and_then(JsonValue::as_i64),
            ) {
                (Some(p), None) if index.is_none() => Ok(Seg::Prop(p.to_string())),
                (None, Some(n)) if prop.is_none() => Ok(Seg::Index(n)),
                _ => Err(ferr(format!(
                    "invalid key path segment at index {i}: exactly 1 of property and index must be non-null"
                ))),
            }
        })
        .collect()
}

/// Strict JSON text without insignificant whitespace, keys in their order, strings escaped as
/// Go's `json.Compact` with HTML escaping leaves them (`<`, `>`, `&`, U+2028, U+2029 escaped).
fn compact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_str {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_str = false;
                    out.push(c);
                }
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
                _ => out.push(c),
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Sourcegraph's checks of new settings: not blank, JSONC that parses, an object, and (of its
/// settings schema) the shape of `notices`, which the runbook's notice is part of.
pub(crate) fn validate_settings(contents: &str) -> Result<(), String> {
    if contents.trim().is_empty() {
        return Err(
            "blank settings are invalid (you can clear the settings by entering an empty JSON object: {})"
                .to_string(),
        );
    }
    let value = jsonc::parse_value(contents)
        .map_err(|e| format!("invalid settings JSON: [{e}]"))?
        .unwrap_or(serde_json::Value::Null);
    let ty = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    let obj = value.as_object().ok_or_else(|| {
        format!(
            "invalid settings: (root): Invalid type. Expected: object, given: {}",
            ty(&value)
        )
    })?;
    let Some(notices) = obj.get("notices") else {
        return Ok(());
    };
    let items = notices.as_array().ok_or_else(|| {
        format!(
            "invalid settings: notices: Invalid type. Expected: array, given: {}",
            ty(notices)
        )
    })?;
    let mut problems = Vec::new();
    for (i, n) in items.iter().enumerate() {
        let Some(m) = n.as_object() else {
            problems.push(format!(
                "notices.{i}: Invalid type. Expected: object, given: {}",
                ty(n)
            ));
            continue;
        };
        for req in ["message", "location"] {
            if !m.contains_key(req) {
                problems.push(format!("notices.{i}: {req} is required"));
            }
        }
        for (k, v) in m {
            let ok = match k.as_str() {
                "message" => v.is_string(),
                "location" => matches!(v.as_str(), Some("top" | "home")),
                "variant" => matches!(
                    v.as_str(),
                    Some("primary" | "secondary" | "success" | "danger" | "warning" | "info" | "note")
                ),
                "dismissible" => v.is_boolean(),
                _ => {
                    problems.push(format!("notices.{i}: Additional property {k} is not allowed"));
                    continue;
                }
            };
            if !ok {
                problems.push(format!("notices.{i}.{k}: invalid value {v}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid settings: {}", problems.join(",")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_sourcegraph() {
        assert!(validate_settings("  ")
            .expect_err("invalid input")
            .starts_with("blank settings are invalid"));
        assert!(validate_settings("{")
            .expect_err("invalid input")
            .starts_with("invalid settings JSON"));
        assert!(validate_settings("[]")
            .expect_err("invalid input")
            .contains("Expected: object"));
        assert!(validate_settings(
            "{// c\n\"notices\": [{\"message\": \"m\", \"location\": \"top\", \"dismissible\": false},]}"
        )
        .is_ok());
        let e = validate_settings("{\"notices\": [{\"message\": \"m\", \"location\": \"top\", \"id\": 1}]}")
            .expect_err("invalid input");
        assert_eq!(
            e,
            "invalid settings: notices.0: Additional property id is not allowed"
        );
        assert!(validate_settings("{\"notices\": [{\"message\": \"m\"}]}")
            .expect_err("invalid input")
            .contains("location is required"));
    }

    #[test]
    fn compacts_keeping_order() {
        assert_eq!(
            compact("{ \"b\": 1,\n \"a\": \"x <y> & z\" }"),
            "{\"b\":1,\"a\":\"x \\u003cy\\u003e \\u0026 z\"}"
        );
        assert_eq!(compact("\"a \\\" b\""), "\"a \\\" b\"");
    }
}
