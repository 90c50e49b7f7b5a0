//! GraphQL node IDs as Sourcegraph makes them (graph-gophers `relay.MarshalID`):
//! base64url (padded) of `Kind:` followed by the JSON of the key, e.g. `ExternalService:1`,
//! `Site:"site"`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;

/// The ID of the site (global settings subject): `Site:"site"`.
pub(crate) fn site_id() -> String {
    marshal_str("Site", "site")
}

/// `Kind:<n>`.
pub(crate) fn marshal_int(kind: &str, id: i64) -> String {
    URL_SAFE.encode(format!("{kind}:{id}"))
}

/// `Kind:"<s>"`.
pub(crate) fn marshal_str(kind: &str, s: &str) -> String {
    let json = serde_json::Value::String(s.to_string()).to_string();
    URL_SAFE.encode(format!("{kind}:{json}"))
}

/// Split an ID into its kind and JSON key (`None` when it is not an ID of this form).
pub(crate) fn unmarshal(id: &str) -> Option<(String, serde_json::Value)> {
    let raw = URL_SAFE.decode(id).or_else(|_| STANDARD.decode(id)).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (kind, spec) = text.split_once(':')?;
    let value = serde_json::from_str(spec).ok()?;
    Some((kind.to_string(), value))
}

/// The integer key of an ID of `kind`, with Sourcegraph's wording when it is something else.
pub(crate) fn unmarshal_int(kind: &str, id: &str) -> Result<i64, String> {
    match unmarshal(id) {
        Some((k, v)) if k == kind => v
            .as_i64()
            .ok_or_else(|| format!("invalid {kind} ID {id:?}: the key is not an integer")),
        Some((k, _)) => Err(format!("expected graphql ID to have kind {kind:?}; got {k:?}")),
        None => Err(format!("invalid graphql ID {id:?}")),
    }
}

/// The string key of an ID of `kind`.
pub(crate) fn unmarshal_str(kind: &str, id: &str) -> Result<String, String> {
    match unmarshal(id) {
        Some((k, serde_json::Value::String(s))) if k == kind => Ok(s),
        Some((k, _)) if k == kind => Err(format!("invalid {kind} ID {id:?}: the key is not a string")),
        Some((k, _)) => Err(format!("expected graphql ID to have kind {kind:?}; got {k:?}")),
        None => Err(format!("invalid graphql ID {id:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_sourcegraph() {
        assert_eq!(site_id(), "U2l0ZToic2l0ZSI=");
        assert_eq!(marshal_int("ExternalService", 1), "RXh0ZXJuYWxTZXJ2aWNlOjE=");
        assert_eq!(
            unmarshal_int("ExternalService", "RXh0ZXJuYWxTZXJ2aWNlOjE="),
            Ok(1)
        );
        assert!(unmarshal_int("User", "RXh0ZXJuYWxTZXJ2aWNlOjE=").is_err());
        assert_eq!(unmarshal_str("Site", &site_id()), Ok("site".to_string()));
        assert!(unmarshal("not base64!").is_none());
    }
}
