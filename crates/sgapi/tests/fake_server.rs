//! The client against a scripted HTTP server on loopback: headers sent,
//! retries, HTTP and GraphQL errors, graceful degradation on older servers,
//! and the lastID race of settings edits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sgapi::{ApiError, Client, ClientOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    headers: String,
    operation: String,
    variables: Value,
}

type Handler = dyn Fn(usize, &Seen) -> (u16, String) + Send + Sync;

/// Serves until dropped; `handler(n, request)` answers the n-th request (0-based).
struct Fake {
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn start(handler: impl Fn(usize, &Seen) -> (u16, String) + Send + Sync + 'static) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head, body) = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < i + 4 + len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    break (head, buf[i + 4..].to_vec());
                }
            };
            let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let s = Seen {
                headers: head,
                operation: req["operationName"].as_str().unwrap_or("").to_string(),
                variables: req["variables"].clone(),
            };
            let n = {
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                l.push(s.clone());
                l.len() - 1
            };
            let (status, body) = handler(n, &s);
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    Fake { endpoint, seen }
}

impl Fake {
    fn client(&self) -> Client {
        let mut o = ClientOptions::from_vars([
            ("SRC_ENDPOINT".to_string(), self.endpoint.clone()),
            ("SRC_ACCESS_TOKEN".to_string(), "sgp_fake_token_123".to_string()),
            ("SRC_HEADER_X_PROXY".to_string(), "proxy-value".to_string()),
        ]);
        o.backoff = Duration::from_millis(10);
        o.timeout = Duration::from_secs(5);
        Client::new(o).expect("client")
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn data(v: Value) -> (u16, String) {
    (200, json!({ "data": v }).to_string())
}

fn gql_error(msg: &str) -> (u16, String) {
    (200, json!({ "errors": [{ "message": msg }] }).to_string())
}

#[tokio::test]
async fn sends_token_and_extra_headers_and_retries_5xx() {
    let fake = start(|n, _| match n {
        0 => (503, "upstream unavailable".into()),
        1 => (502, "bad gateway".into()),
        _ => data(json!({ "site": { "productVersion": "5.1.0" } })),
    })
    .await;
    let v = sgapi::summary::product_version(&fake.client())
        .await
        .expect("version after retries");
    assert_eq!(v, "5.1.0");
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    let h = seen[0].headers.to_ascii_lowercase();
    assert!(h.starts_with("post /.api/graphql "), "{h}");
    assert!(h.contains("authorization: token sgp_fake_token_123"), "{h}");
    assert!(h.contains("x_proxy: proxy-value"), "{h}");
    assert_eq!(seen[0].operation, "SiteVersion");
}

#[tokio::test]
async fn http_and_graphql_errors_are_typed() {
    let fake = start(|_, s| match s.operation.as_str() {
        "SiteVersion" => (401, "{\"error\": \"invalid token sgp_fake_token_123\"}".into()),
        "CurrentUser" => (403, "forbidden".into()),
        "AuthProviders" => gql_error("must be site admin"),
        "InstanceHealth" => (400, "bad request echo sgp_fake_token_123".into()),
        _ => gql_error("something broke"),
    })
    .await;
    let c = fake.client();
    let e = sgapi::summary::product_version(&c).await.expect_err("401");
    assert!(matches!(e, ApiError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("token is not valid"));
    let e = sgapi::summary::current_user(&c).await.expect_err("403");
    assert!(matches!(e, ApiError::NotSiteAdmin { .. }) && e.to_string().contains("not a site admin's"));
    let e = sgapi::summary::auth_providers(&c).await.expect_err("admin");
    assert!(matches!(e, ApiError::NotSiteAdmin { .. }), "{e:?}");
    let e = sgapi::fetch_health(&c).await.expect_err("400");
    assert!(matches!(e, ApiError::Http { status: 400, .. }), "{e:?}");
    assert!(
        !e.to_string().contains("sgp_fake_token_123"),
        "token scrubbed: {e}"
    );
    let e = sgapi::summary::external_services(&c).await.expect_err("graphql");
    assert!(
        e.to_string()
            .contains("ExternalServicesPage failed: something broke"),
        "{e}"
    );
}

#[tokio::test]
async fn unknown_fields_degrade_instead_of_failing() {
    let fake = start(|_, s| match s.operation.as_str() {
        "CurrentUser" => data(json!({ "currentUser": { "username": "admin", "siteAdmin": true } })),
        "ExternalServicesPage" => data(json!({ "externalServices": {
            "totalCount": 1, "pageInfo": { "hasNextPage": false, "endCursor": null },
            "nodes": [{ "id": "RXh0ZXJuYWxTZXJ2aWNlOjE=", "kind": "GITHUB", "displayName": "GitHub" }] } })),
        "AuthProviders" => data(json!({ "site": { "authProviders": { "totalCount": 1,
            "nodes": [{ "serviceType": "builtin", "serviceID": "", "displayName": "Builtin" }] } } })),
        "SiteVersion" => data(json!({ "site": { "productVersion": "3.30.0" } })),
        "SummaryCounts" => data(json!({ "repositories": { "totalCount": 4 }, "users": { "totalCount": 1 },
            "organizations": { "totalCount": 0 } })),
        "UsersPage" => data(json!({ "users": { "totalCount": 1, "pageInfo": { "hasNextPage": false, "endCursor": null },
            "nodes": [{ "id": "VXNlcjox" }] } })),
        "SavedSearchesCount" => data(json!({ "savedSearches": { "totalCount": 2 } })),
        "SiteConfiguration" => data(json!({ "site": { "configuration": { "id": 1,
            "effectiveContents": "{\"externalURL\": \"x\", \"auth.providers\": []}" } } })),
        "ExternalServicesHealthPage" => gql_error("Cannot query field \"syncJobs\" on type \"ExternalService\"."),
        "ExternalServicesSyncErrorsPage" => data(json!({ "externalServices": {
            "pageInfo": { "hasNextPage": false, "endCursor": null },
            "nodes": [{ "id": "RXh0ZXJuYWxTZXJ2aWNlOjE=", "kind": "GITHUB", "displayName": "GitHub", "lastSyncError": "bad creds" }] } })),
        "InstanceHealth" => data(json!({ "site": { "alerts": [], "configuration": { "validationMessages": [] } } })),
        "OutOfBandMigrations" => data(json!({ "outOfBandMigrations": [] })),
        other => gql_error(&format!("Cannot query field \"{other}\" on type \"Query\".")),
    })
    .await;
    let c = fake.client();
    let s = sgapi::take_summary(&c, &sgapi::SummaryOptions::default())
        .await
        .expect("summary");
    let counts = s.counts.clone().expect("counts");
    assert_eq!(
        (counts.repositories, counts.users, counts.saved_searches),
        (Some(4), Some(1), Some(2))
    );
    assert_eq!((counts.code_intel_uploads, counts.insight_series), (None, None));
    assert!(
        s.notes
            .iter()
            .any(|n| n.starts_with("CodeIntelUploads: not recorded")),
        "{:?}",
        s.notes
    );
    assert_eq!(
        s.site_config_keys.as_deref(),
        Some(&["auth.providers".to_string(), "externalURL".to_string()][..])
    );

    let h = sgapi::fetch_health(&c).await.expect("health");
    assert!(!h.sync_jobs_known);
    assert_eq!(h.services[0].last_sync_error.as_deref(), Some("bad creds"));
    assert!(
        h.unsupported
            .iter()
            .any(|(check, _)| check == "permission-sync-jobs"),
        "{:?}",
        h.unsupported
    );
    let f = sgapi::evaluate(&h, &sgapi::TestOptions::default(), std::time::SystemTime::now());
    assert!(f
        .iter()
        .any(|x| x.severity == sgapi::Severity::Critical && x.message.contains("bad creds")));
    assert!(f
        .iter()
        .any(|x| x.severity == sgapi::Severity::Warning && x.message.starts_with("not checked")));
}

#[tokio::test]
async fn a_lost_last_id_race_is_retried_on_fresh_settings() {
    // Settings id 7 at first; the first edit "loses" to another editor (id 8).
    let state = Arc::new(Mutex::new((7i64, "{\"a\": 1}".to_string(), 0usize)));
    let st = state.clone();
    let fake = start(move |_, s| {
        let mut g = st.lock().unwrap_or_else(|e| e.into_inner());
        match s.operation.as_str() {
            "SiteSettings" => data(
                json!({ "site": { "id": "U2l0ZToic2l0ZSI=", "allowSiteSettingsEdits": true,
                "latestSettings": { "id": g.0, "contents": g.1 } } }),
            ),
            "EditSettings" => {
                g.2 += 1;
                if g.2 == 1 {
                    // Someone else wrote in between.
                    g.0 = 8;
                    g.1 = "{\"a\": 2}".into();
                    return gql_error("update settings: version mismatch");
                }
                assert_eq!(
                    s.variables["input"]["lastID"],
                    json!(8),
                    "retried with the fresh id"
                );
                g.0 = 9;
                g.1 = sgapi::notice::plan_add(&g.1, "hello").expect("plan");
                data(json!({ "settingsMutation": { "editSettings": { "empty": null } } }))
            }
            _ => gql_error("unexpected"),
        }
    })
    .await;
    let out = sgapi::add_notice(&fake.client(), "hello").await.expect("added");
    assert!(out.changed && out.rest_unchanged, "{out:?}");
    assert_eq!(out.settings_id_after, Some(9));
    let edits: Vec<Seen> = fake
        .seen()
        .into_iter()
        .filter(|s| s.operation == "EditSettings")
        .collect();
    assert_eq!(edits.len(), 2);
    assert_eq!(
        edits[0].variables["edit"]["keyPath"],
        json!([{ "property": "notices" }, { "index": -1 }])
    );
    assert_eq!(edits[0].variables["edit"]["value"]["message"], "hello");
    assert_eq!(edits[0].variables["edit"]["value"]["dismissible"], false);
}

#[tokio::test]
async fn settings_from_a_file_are_refused_before_any_edit() {
    let fake = start(|_, s| match s.operation.as_str() {
        "SiteSettings" => data(
            json!({ "site": { "id": "U2l0ZToic2l0ZSI=", "allowSiteSettingsEdits": false,
            "latestSettings": { "id": 1, "contents": "{}" } } }),
        ),
        _ => gql_error("no edits expected"),
    })
    .await;
    let e = sgapi::add_notice(&fake.client(), "hello")
        .await
        .expect_err("refused");
    assert!(matches!(e, ApiError::SettingsEditsDisabled), "{e:?}");
    assert!(fake.seen().iter().all(|s| s.operation == "SiteSettings"));
}
