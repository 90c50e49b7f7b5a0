//! The runbook's site notice in global settings: added with one key-path
//! edit (`notices`, index -1), removed by finding it again by its message.
//! Edits carry `lastID`, so a concurrent edit makes ours fail rather than
//! overwrite; then we read again and retry.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client::Client;
use crate::error::ApiError;
use crate::jsonc::{self, Node};
use crate::ops;

/// The runbook's notice text.
pub const DEFAULT_MESSAGE: &str =
    "This Sourcegraph instance is being migrated. Changes made now (settings, saved searches, \
new repositories, code insights) may be lost. Please wait until this notice is removed.";

/// The settings key holding notices.
pub const NOTICES_KEY: &str = "notices";

/// How many times an edit is retried when someone else edited in between.
const ATTEMPTS: u32 = 5;

/// The notice object added to global settings (only properties the
/// settings schema allows; non-dismissible, at the top).
pub fn notice_value(message: &str) -> Value {
    json!({ "message": message, "location": "top", "dismissible": false })
}

/// Global settings as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalSettings {
    /// The site's GraphQL ID (the settings subject).
    pub subject: String,
    /// Whether the API may edit them.
    pub editable: bool,
    /// The latest settings' id (`lastID` for the next edit); `None` when the
    /// site has never had settings.
    pub id: Option<i64>,
    /// The JSONC text (empty when there are none).
    pub contents: String,
}

/// What `notice add` / `notice remove` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeOutcome {
    /// Whether settings were changed (false: already as wanted).
    pub changed: bool,
    /// How many copies of the notice were added or removed.
    pub count: usize,
    /// Settings id before and after.
    pub settings_id_before: Option<i64>,
    /// Settings id after.
    pub settings_id_after: Option<i64>,
    /// Whether every byte other than the notice is as before (checked by
    /// undoing the notice locally on the server's new text). False means
    /// the server reformatted other parts of the settings.
    pub rest_unchanged: bool,
}

/// Reads global settings.
///
/// # Errors
/// As [`Client::execute`].
pub async fn read_global_settings(client: &Client) -> Result<GlobalSettings, ApiError> {
    #[derive(Deserialize)]
    struct Latest {
        id: i64,
        contents: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct S {
        id: String,
        allow_site_settings_edits: bool,
        latest_settings: Option<Latest>,
    }
    #[derive(Deserialize)]
    struct D {
        site: S,
    }
    let d: D = client.execute(&ops::SITE_SETTINGS, json!({})).await?;
    Ok(GlobalSettings {
        subject: d.site.id,
        editable: d.site.allow_site_settings_edits,
        id: d.site.latest_settings.as_ref().map(|l| l.id),
        contents: d.site.latest_settings.map(|l| l.contents).unwrap_or_default(),
    })
}

/// Indexes (in `notices`) of notices whose message is `message`.
///
/// # Errors
/// [`jsonc::JsoncError`] for settings that are not JSONC.
pub fn find_notices(contents: &str, message: &str) -> Result<Vec<usize>, jsonc::JsoncError> {
    let Some(root) = jsonc::parse(contents)? else {
        return Ok(Vec::new());
    };
    let Some(elems) = root.get(NOTICES_KEY).and_then(Node::elements) else {
        return Ok(Vec::new());
    };
    Ok(elems
        .iter()
        .enumerate()
        .filter(|(_, n)| n.get("message").and_then(Node::as_str) == Some(message))
        .map(|(i, _)| i)
        .collect())
}

/// Whether the notice is in global settings.
///
/// # Errors
/// As [`read_global_settings`], or [`ApiError::Settings`].
pub async fn notice_present(client: &Client, message: &str) -> Result<bool, ApiError> {
    let s = read_global_settings(client).await?;
    Ok(!find_notices(&s.contents, message)?.is_empty())
}

/// The key path of an edit.
fn key_path(index: Option<i64>) -> Value {
    match index {
        Some(i) => json!([{ "property": NOTICES_KEY }, { "index": i }]),
        None => json!([{ "property": NOTICES_KEY }]),
    }
}

async fn edit(client: &Client, s: &GlobalSettings, edit: Value) -> Result<(), ApiError> {
    let vars = json!({
        "input": { "subject": s.subject, "lastID": s.id },
        "edit": edit,
    });
    let _: Value = client.execute(&ops::EDIT_SETTINGS, vars).await?;
    Ok(())
}

/// Runs `op` on fresh settings until it lands; an error with the settings
/// id moved since our read means someone edited in between, so read again.
async fn with_retry<F, Fut>(client: &Client, mut op: F) -> Result<(), ApiError>
where
    F: FnMut(GlobalSettings) -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    for attempt in 1..=ATTEMPTS {
        let s = read_global_settings(client).await?;
        let before = s.id;
        match op(s).await {
            Ok(()) => return Ok(()),
            Err(e @ ApiError::GraphQl { .. }) => {
                let now = read_global_settings(client).await?;
                if now.id == before {
                    return Err(e);
                }
                tracing::info!(
                    attempt,
                    "global settings changed during the edit; reading them again"
                );
            }
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::SettingsRace { attempts: ATTEMPTS })
}

/// Adds the notice to global settings unless a notice with this message is
/// already there (idempotent).
///
/// # Errors
/// [`ApiError::SettingsEditsDisabled`] when settings come from a file,
/// [`ApiError::SettingsRace`], [`ApiError::Settings`] for settings that
/// are not JSONC, or what [`Client::execute`] returns.
pub async fn add_notice(client: &Client, message: &str) -> Result<NoticeOutcome, ApiError> {
    let first = read_global_settings(client).await?;
    if !find_notices(&first.contents, message)?.is_empty() {
        return Ok(unchanged(&first));
    }
    if !first.editable {
        return Err(ApiError::SettingsEditsDisabled);
    }
    let value = notice_value(message);
    let mut original = first.contents.clone();
    with_retry(client, |s| {
        original = s.contents.clone();
        let value = value.clone();
        async move {
            if !find_notices(&s.contents, message)?.is_empty() {
                return Ok(());
            }
            if !s.editable {
                return Err(ApiError::SettingsEditsDisabled);
            }
            edit(
                client,
                &s,
                json!({ "keyPath": key_path(Some(-1)), "value": value }),
            )
            .await
        }
    })
    .await?;
    let after = read_global_settings(client).await?;
    let found = find_notices(&after.contents, message)?;
    if found.is_empty() {
        return Err(ApiError::Decode {
            operation: ops::EDIT_SETTINGS.name.into(),
            message: "the edit was accepted but the notice is not in the settings read back".into(),
        });
    }
    let rest_unchanged = undo_add(&after.contents, &found).is_some_and(|t| t == original);
    Ok(NoticeOutcome {
        changed: true,
        count: 1,
        settings_id_before: first.id,
        settings_id_after: after.id,
        rest_unchanged,
    })
}

/// The text with our notice removed locally the way `add` is undone: the
/// member when it was created for the notice, else the element.
fn undo_add(contents: &str, found: &[usize]) -> Option<String> {
    let idx = *found.last()?;
    if notices_len(contents)? == 1 && !jsonc::array_has_comments(contents, NOTICES_KEY).ok()? {
        // The member was created for the notice.
        jsonc::remove_member(contents, NOTICES_KEY).ok()
    } else {
        jsonc::remove_array_element(contents, NOTICES_KEY, idx).ok()
    }
}

fn notices_len(contents: &str) -> Option<usize> {
    let root = jsonc::parse(contents).ok()??;
    root.get(NOTICES_KEY).and_then(Node::elements).map(<[Node]>::len)
}

fn unchanged(s: &GlobalSettings) -> NoticeOutcome {
    NoticeOutcome {
        changed: false,
        count: 0,
        settings_id_before: s.id,
        settings_id_after: s.id,
        rest_unchanged: true,
    }
}

/// Removes every notice with this message from global settings, keeping
/// everything else; nothing to remove is not an error (idempotent). When
/// the notices hold only ours (and no comments), the `notices` key goes
/// too, so add + remove gives back the original text.
///
/// # Errors
/// As [`add_notice`].
pub async fn remove_notice(client: &Client, message: &str) -> Result<NoticeOutcome, ApiError> {
    let first = read_global_settings(client).await?;
    let found = find_notices(&first.contents, message)?;
    if found.is_empty() {
        return Ok(unchanged(&first));
    }
    if !first.editable {
        return Err(ApiError::SettingsEditsDisabled);
    }
    let mut removed = 0;
    let mut expected = first.contents.clone();
    // One edit per copy, last first, each on freshly read settings.
    for _ in 0..found.len() {
        let mut step_expected = None;
        with_retry(client, |s| {
            let plan = plan_removal(&s.contents, message);
            step_expected = plan
                .as_ref()
                .ok()
                .and_then(|p| p.as_ref().map(|(_, t)| t.clone()));
            async move {
                match plan? {
                    None => Ok(()),
                    Some((index, _)) => edit(client, &s, json!({ "keyPath": key_path(index) })).await,
                }
            }
        })
        .await?;
        if let Some(t) = step_expected {
            expected = t;
            removed += 1;
        }
    }
    let after = read_global_settings(client).await?;
    if !find_notices(&after.contents, message)?.is_empty() {
        return Err(ApiError::Decode {
            operation: ops::EDIT_SETTINGS.name.into(),
            message: "the edit was accepted but the notice is still in the settings read back".into(),
        });
    }
    Ok(NoticeOutcome {
        changed: removed > 0,
        count: removed,
        settings_id_before: first.id,
        settings_id_after: after.id,
        rest_unchanged: after.contents == expected,
    })
}

/// The next removal: `Some((Some(i), text))` removes element `i`,
/// `Some((None, text))` removes the whole `notices` member, `None` when no
/// copy is left. `text` is what the settings should read afterwards.
///
/// # Errors
/// Settings that are not JSONC.
pub fn plan_removal(contents: &str, message: &str) -> Result<Option<(Option<i64>, String)>, ApiError> {
    let found = find_notices(contents, message)?;
    let Some(&idx) = found.last() else { return Ok(None) };
    let len = notices_len(contents).unwrap_or(0);
    if len == 1 && !jsonc::array_has_comments(contents, NOTICES_KEY)? {
        return Ok(Some((None, jsonc::remove_member(contents, NOTICES_KEY)?)));
    }
    Ok(Some((
        Some(idx as i64),
        jsonc::remove_array_element(contents, NOTICES_KEY, idx)?,
    )))
}

/// What `add` would produce locally (the same edit as the server's): for
/// previews and tests.
///
/// # Errors
/// Settings that are not JSONC or whose `notices` is not an array.
pub fn plan_add(contents: &str, message: &str) -> Result<String, ApiError> {
    let element = format!(
        "{{\"message\": {}, \"location\": \"top\", \"dismissible\": false}}",
        serde_json::to_string(message).unwrap_or_default()
    );
    Ok(jsonc::append_to_array(contents, NOTICES_KEY, &element)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: &str = "// Global settings, edited by hand.\n{\n  \"search.defaultPatternType\": \"literal\",\n  /* Keep this notice: legal asked for it. */\n  \"notices\": [\n    {\"message\": \"Scheduled maintenance on Sunday\", \"location\": \"home\", \"dismissible\": true}, // other notice\n  ],\n  \"motd\": [\"hello\"], // trailing comment\n}\n";

    #[test]
    fn add_then_remove_round_trips_byte_for_byte() {
        for text in [SETTINGS, "{\n  \"a\": 1 // c\n}\n", "{}", ""] {
            let added = plan_add(text, DEFAULT_MESSAGE).expect("add");
            assert_eq!(
                find_notices(&added, DEFAULT_MESSAGE).expect("find").len(),
                1,
                "{added}"
            );
            let (_, back) = plan_removal(&added, DEFAULT_MESSAGE)
                .expect("plan")
                .expect("something to remove");
            if text.is_empty() {
                // Empty settings come back as an empty object.
                assert_eq!(
                    jsonc::parse(&back).expect("parse").map(|n| n.to_json()),
                    Some(json!({}))
                );
            } else {
                assert_eq!(back, text, "added:\n{added}");
            }
            assert_eq!(
                undo_add(&added, &find_notices(&added, DEFAULT_MESSAGE).expect("find")).as_deref(),
                Some(back.as_str())
            );
        }
    }

    #[test]
    fn remove_keeps_other_notices_and_finds_ours_by_message() {
        let added = plan_add(SETTINGS, "ours").expect("add");
        let twice = plan_add(&added, "ours").expect("add again");
        assert_eq!(find_notices(&twice, "ours").expect("find"), [1, 2]);
        let (i, once) = plan_removal(&twice, "ours").expect("plan").expect("some");
        assert_eq!(i, Some(2));
        let (i, back) = plan_removal(&once, "ours").expect("plan").expect("some");
        assert_eq!(i, Some(1));
        assert_eq!(back, SETTINGS);
        assert!(plan_removal(&back, "ours").expect("plan").is_none());
        assert_eq!(
            find_notices(&back, "Scheduled maintenance on Sunday").expect("find"),
            [0]
        );
    }

    #[test]
    fn the_notice_object_has_only_schema_properties() {
        let v = notice_value("m");
        let mut keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["dismissible", "location", "message"]);
    }
}
