//! The emulator against real Sourcegraph-shaped databases on PostgreSQL 16.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

const SRC_CLI_SUMMARY: &str = "query { externalServices { totalCount nodes { kind id } } \
     site { authProviders { totalCount nodes { serviceType serviceID } } } }";

fn ids_of(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {nodes}"))
        .iter()
        .map(|n| {
            n["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no id in {n}"))
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pagination_really_paginates() {
    let db = frontend_db();
    let insights = insights_db();
    let emu = start(&db, Some(&insights)).await;
    let page_query = operation("ExternalServicesPage");

    // Newest first, two at a time; deleted and user-owned services are not listed.
    let mut after = Value::Null;
    let mut pages = Vec::new();
    loop {
        let d = data(
            &emu,
            ADMIN_TOKEN,
            &page_query,
            json!({"first": 2, "after": after}),
        )
        .await;
        let conn = &d["externalServices"];
        assert_eq!(conn["totalCount"], 5, "{d}");
        pages.push(ids_of(&conn["nodes"]));
        if conn["pageInfo"]["hasNextPage"] == json!(true) {
            after = conn["pageInfo"]["endCursor"].clone();
            assert!(after.is_string(), "{d}");
        } else {
            assert_eq!(conn["pageInfo"]["endCursor"], Value::Null, "{d}");
            break;
        }
    }
    let want: Vec<Vec<String>> = vec![
        vec![gid("ExternalService", 6), gid("ExternalService", 5)],
        vec![gid("ExternalService", 3), gid("ExternalService", 2)],
        vec![gid("ExternalService", 1)],
    ];
    assert_eq!(pages, want);

    // src-cli's summary asks without `first`: everything, in the same order.
    let d = data(&emu, ADMIN_TOKEN, SRC_CLI_SUMMARY, Value::Null).await;
    assert_eq!(d["externalServices"]["totalCount"], 5);
    assert_eq!(ids_of(&d["externalServices"]["nodes"]), want.concat());
    assert_eq!(d["externalServices"]["nodes"][0]["kind"], "PERFORCE");
    assert_eq!(d["site"]["authProviders"]["totalCount"], 2);

    // A stricter server cap: asking for 100 still yields pages of 2, and following them gets all.
    emu.set_max_page_size(Some(2));
    let mut after = Value::Null;
    let mut all = Vec::new();
    let mut requests = 0;
    loop {
        let d = data(
            &emu,
            ADMIN_TOKEN,
            &page_query,
            json!({"first": 100, "after": after}),
        )
        .await;
        let nodes = ids_of(&d["externalServices"]["nodes"]);
        assert!(nodes.len() <= 2, "cap not applied: {d}");
        all.extend(nodes);
        requests += 1;
        if d["externalServices"]["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = d["externalServices"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!((all, requests), (want.concat(), 3));
    emu.set_max_page_size(None);

    // permissionsSyncJobs caps pages at 100 like Sourcegraph's ConnectionResolver.
    let jobs = operation("PermissionSyncJobs");
    let d = data(
        &emu,
        ADMIN_TOKEN,
        &jobs,
        json!({"first": 500, "state": "COMPLETED"}),
    )
    .await;
    let c = &d["permissionsSyncJobs"];
    assert_eq!(
        (c["totalCount"].clone(), c["nodes"].as_array().map(Vec::len)),
        (json!(150), Some(100)),
        "{c}"
    );
    assert_eq!(c["pageInfo"]["hasNextPage"], true);
    let first_ids = ids_of(&c["nodes"]);
    let d = data(
        &emu,
        ADMIN_TOKEN,
        &jobs,
        json!({"first": 500, "state": "COMPLETED", "after": c["pageInfo"]["endCursor"]}),
    )
    .await;
    let c = &d["permissionsSyncJobs"];
    assert_eq!(c["nodes"].as_array().map(Vec::len), Some(50), "{c}");
    assert_eq!(c["pageInfo"]["hasNextPage"], false);
    let unique: BTreeSet<String> = first_ids.into_iter().chain(ids_of(&c["nodes"])).collect();
    assert_eq!(unique.len(), 150);
    // Without first: Sourcegraph's error, not everything.
    let v = gql(
        &emu,
        ADMIN_TOKEN,
        "query { permissionsSyncJobs { totalCount } }",
        Value::Null,
    )
    .await;
    assert!(
        error_messages(&v)
            .iter()
            .any(|m| m.contains("you must provide a `first` or `last`")),
        "{v}"
    );

    // Users: deleted ones are skipped; cursors move forward by id.
    let users = operation("UsersPage");
    let d1 = data(&emu, ADMIN_TOKEN, &users, json!({"first": 3})).await;
    assert_eq!(d1["users"]["totalCount"], 4);
    assert_eq!(
        ids_of(&d1["users"]["nodes"]),
        vec![gid("User", 1), gid("User", 2), gid("User", 3)]
    );
    let d2 = data(
        &emu,
        ADMIN_TOKEN,
        &users,
        json!({"first": 3, "after": d1["users"]["pageInfo"]["endCursor"]}),
    )
    .await;
    assert_eq!(ids_of(&d2["users"]["nodes"]), vec![gid("User", 5)]);
    assert_eq!(d2["users"]["pageInfo"]["hasNextPage"], false);

    // Insight views one at a time: views whose series are all deleted are not listed.
    let views = operation("InsightSeriesPage");
    let mut after = Value::Null;
    let mut series = BTreeSet::new();
    let mut view_count = 0;
    loop {
        let d = data(&emu, ADMIN_TOKEN, &views, json!({"first": 1, "after": after})).await;
        let c = &d["insightViews"];
        for v in c["nodes"].as_array().into_iter().flatten() {
            view_count += 1;
            for s in v["dataSeriesDefinitions"].as_array().into_iter().flatten() {
                series.insert(s["seriesId"].as_str().unwrap_or_default().to_string());
            }
        }
        if c["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = c["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(view_count, 3);
    assert_eq!(series, BTreeSet::from(["s-1".to_string(), "s-2".to_string()]));

    assert!(emu.received().iter().all(|r| r.valid), "{:?}", emu.received());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_tokens_and_site_admin() {
    let db = frontend_db();
    let emu = start(&db, None).await;
    let me = operation("CurrentUser");

    let (status, body) = post(&emu, None, &me, Value::Null).await;
    assert_eq!(
        (status, body.as_str()),
        (401, "Private mode requires authentication.\n")
    );
    for bad in ["token sgp_nope", "Bearer sgp_admin_0123456789", "token", ""] {
        let (status, body) = post(&emu, Some(bad), &me, Value::Null).await;
        assert_eq!(
            (status, body.as_str()),
            (401, "Invalid access token.\n"),
            "header {bad:?}"
        );
    }

    let d = data(&emu, ADMIN_TOKEN, &me, Value::Null).await;
    assert_eq!(d["currentUser"], json!({"username": "admin", "siteAdmin": true}));
    let d = data(&emu, USER_TOKEN, &me, Value::Null).await;
    assert_eq!(d["currentUser"], json!({"username": "alice", "siteAdmin": false}));

    // Admin-only fields: Sourcegraph's error, and null propagated up to the nullable root.
    let v = gql(
        &emu,
        USER_TOKEN,
        &operation("ExternalServicesPage"),
        json!({"first": 10}),
    )
    .await;
    assert_eq!(error_messages(&v), vec!["must be site admin".to_string()], "{v}");
    assert_eq!(v["data"], Value::Null);
    assert_eq!(v["errors"][0]["path"], json!(["externalServices"]));
    let v = gql(&emu, USER_TOKEN, &operation("SiteConfiguration"), Value::Null).await;
    assert_eq!(error_messages(&v), vec!["must be site admin".to_string()], "{v}");
    // Not admin-only: the auth providers and the version.
    data(&emu, USER_TOKEN, &operation("AuthProviders"), Value::Null).await;
    data(&emu, USER_TOKEN, &operation("SiteVersion"), Value::Null).await;

    let received = emu.received();
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..5], &[401, 401, 401, 401, 401]);
    assert!(
        received.iter().all(|r| r.valid && r.name.as_deref().is_some()),
        "{received:?}"
    );
    assert!(
        received.iter().all(|r| !format!("{r:?}").contains(ADMIN_TOKEN)),
        "a token was recorded"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_operations_are_rejected_and_recorded() {
    let db = frontend_db();
    let emu = start(&db, None).await;

    let cases = [
        ("query Typo { site { productVersionX } }", "productVersionX"),
        ("query Broken { site {", "expected"),
        ("query BadArg { permissionsSyncJobs(first: \"x\") { totalCount } }", "Int"),
        ("mutation NoEdit($input: SettingsMutationGroupInput!) { settingsMutation(input: $input) { editSettings { empty { alwaysNil } } } }", "edit"),
        // dotcom.graphql is not part of a self-hosted instance's schema.
        ("query Dotcom { dotcom { productSubscriptions { totalCount } } }", "dotcom"),
    ];
    for (query, needle) in cases {
        let v = gql(&emu, ADMIN_TOKEN, query, Value::Null).await;
        let msgs = error_messages(&v);
        assert!(v.get("data").is_none(), "{query}: {v}");
        assert!(msgs.iter().any(|m| m.contains(needle)), "{query}: {msgs:?}");
        let last = emu.received().pop().unwrap_or_else(|| panic!("nothing recorded"));
        assert!(
            !last.valid && !last.errors.is_empty() && last.query == query,
            "{last:?}"
        );
    }
    // authz.graphql is part of the schema (permissionsSyncJobs lives there).
    assert!(sgemu::validate_operation(
        &sgemu::load_schema(&schema_dir()).unwrap_or_else(|e| panic!("{e}")),
        &operation("PermissionSyncJobs")
    )
    .is_ok());

    // Variables of the wrong type are the client's mistake too.
    let v = gql(
        &emu,
        ADMIN_TOKEN,
        &operation("PermissionSyncJobs"),
        json!({"first": "ten", "state": "ERRORED"}),
    )
    .await;
    assert!(!error_messages(&v).is_empty(), "{v}");
    assert!(!emu.received().pop().map(|r| r.valid).unwrap_or(true));

    // Valid against the schema but not emulated: an error naming the field, never a silent null.
    let v = gql(
        &emu,
        ADMIN_TOKEN,
        "query U { site { productVersion updateCheck { pending } } }",
        Value::Null,
    )
    .await;
    let msgs = error_messages(&v);
    assert!(
        msgs.iter()
            .any(|m| m.contains("Site.updateCheck") && m.contains("not Sourcegraph")),
        "{msgs:?}"
    );
    assert_eq!(
        v["data"],
        Value::Null,
        "site is non-null, so the error nulls the whole data: {v}"
    );
    assert!(
        emu.received().pop().map(|r| r.valid).unwrap_or(false),
        "a valid document is recorded as valid"
    );

    let invalid = emu.received().iter().filter(|r| !r.valid).count();
    assert_eq!(invalid, cases.len() + 1);
    emu.shutdown().await;
}

async fn settings(emu: &sgemu::Emulator) -> (i64, String, bool) {
    let d = data(emu, ADMIN_TOKEN, &operation("SiteSettings"), Value::Null).await;
    assert_eq!(d["site"]["id"], "U2l0ZToic2l0ZSI=");
    let s = &d["site"]["latestSettings"];
    (
        s["id"].as_i64().unwrap_or_else(|| panic!("{d}")),
        s["contents"].as_str().unwrap_or_default().to_string(),
        d["site"]["allowSiteSettingsEdits"]
            .as_bool()
            .unwrap_or_else(|| panic!("{d}")),
    )
}

fn settings_rows(db: &str) -> usize {
    server()
        .psql(
            db,
            "SELECT count(*) FROM settings WHERE user_id IS NULL AND org_id IS NULL;",
        )
        .trim()
        .parse()
        .unwrap_or(0)
}

fn edit_vars(last_id: Value, key_path: Value, value: Option<Value>) -> Value {
    let mut edit = json!({ "keyPath": key_path });
    if let Some(v) = value {
        edit["value"] = v;
    }
    json!({"input": {"subject": "U2l0ZToic2l0ZSI=", "lastID": last_id}, "edit": edit})
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_mutations_lastid_races_and_refusals() {
    let db = frontend_db();
    let emu = start(&db, None).await;
    let edit = operation("EditSettings");
    let notices_end = json!([{"property": "notices"}, {"index": -1}]);
    let notice =
        json!({"message": "Migration in progress <do not edit>", "location": "top", "dismissible": false});

    let (id0, contents0, allowed) = settings(&emu).await;
    assert_eq!((contents0.as_str(), allowed), (GLOBAL_SETTINGS, true));
    let rows0 = settings_rows(&db);

    // Append a notice: a new settings row, as Sourcegraph writes it.
    let d = data(
        &emu,
        ADMIN_TOKEN,
        &edit,
        edit_vars(json!(id0), notices_end.clone(), Some(notice.clone())),
    )
    .await;
    assert_eq!(d, json!({"settingsMutation": {"editSettings": {"empty": null}}}));
    let (id1, contents1, _) = settings(&emu).await;
    assert!(id1 > id0);
    assert_eq!(settings_rows(&db), rows0 + 1);
    assert!(contents1.starts_with("{\n  // Global settings.\n"), "{contents1}");
    assert!(
        contents1.contains("\"message\": \"Migration in progress \\u003cdo not edit\\u003e\""),
        "{contents1}"
    );
    assert_eq!(
        server()
            .psql(
                &db,
                &format!("SELECT author_user_id FROM settings WHERE id = {id1};")
            )
            .trim(),
        "1"
    );

    // A stale lastID: Sourcegraph's error, nothing written.
    let v = gql(
        &emu,
        ADMIN_TOKEN,
        &edit,
        edit_vars(json!(id0), notices_end.clone(), Some(notice.clone())),
    )
    .await;
    assert_eq!(
        error_messages(&v),
        vec![format!(
            "update settings version mismatch: last ID is {id1} (mutation wanted {id0})"
        )]
    );
    assert_eq!(settings_rows(&db), rows0 + 1);

    // Remove the notice again (element 1, no value): byte-for-byte the original.
    data(
        &emu,
        ADMIN_TOKEN,
        &edit,
        edit_vars(json!(id1), json!([{"property": "notices"}, {"index": 1}]), None),
    )
    .await;
    let (id2, contents2, _) = settings(&emu).await;
    assert_eq!(contents2, GLOBAL_SETTINGS);

    // A race: eight edits from the same lastID; exactly one wins, the others get the mismatch.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let url = format!("{}/.api/graphql", emu.endpoint());
        let body = json!({"query": edit.clone(), "variables": edit_vars(json!(id2), notices_end.clone(), Some(json!({"message": format!("racer {i}"), "location": "top"})))});
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("Authorization", format!("token {ADMIN_TOKEN}"))
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            resp.json::<Value>().await.unwrap_or_else(|e| panic!("{e}"))
        }));
    }
    let mut wins = 0;
    for t in tasks {
        let v = t.await.unwrap_or_else(|e| panic!("{e}"));
        match error_messages(&v).first() {
            None => wins += 1,
            Some(m) => assert!(
                m.starts_with("update settings version mismatch: last ID is "),
                "{m}"
            ),
        }
    }
    assert_eq!(wins, 1);
    let (id3, contents3, _) = settings(&emu).await;
    assert_eq!(contents3.matches("racer").count(), 1, "{contents3}");
    assert_eq!(settings_rows(&db), rows0 + 3);

    // Settings from a file: reported, and edits refused as Sourcegraph refuses them.
    emu.set_allow_site_settings_edits(false);
    assert!(!settings(&emu).await.2);
    let v = gql(
        &emu,
        ADMIN_TOKEN,
        &edit,
        edit_vars(json!(id3), notices_end.clone(), Some(notice.clone())),
    )
    .await;
    assert_eq!(
        error_messages(&v),
        vec!["Updating global settings not allowed when using GLOBAL_SETTINGS_FILE".to_string()]
    );
    assert_eq!(settings_rows(&db), rows0 + 3);
    emu.set_allow_site_settings_edits(true);

    // A notice with a property its schema does not have is refused.
    let v = gql(
        &emu,
        ADMIN_TOKEN,
        &edit,
        edit_vars(
            json!(id3),
            notices_end.clone(),
            Some(json!({"message": "m", "location": "top", "id": "x"})),
        ),
    )
    .await;
    assert!(
        error_messages(&v)
            .iter()
            .any(|m| m.contains("Additional property id is not allowed")),
        "{v}"
    );
    // Removing an element that does not exist.
    let v = gql(
        &emu,
        ADMIN_TOKEN,
        &edit,
        edit_vars(json!(id3), json!([{"property": "notices"}, {"index": 9}]), None),
    )
    .await;
    assert!(!error_messages(&v).is_empty(), "{v}");

    // Only site admins may edit global settings.
    let v = gql(
        &emu,
        USER_TOKEN,
        &edit,
        edit_vars(json!(id3), notices_end.clone(), Some(notice.clone())),
    )
    .await;
    assert_eq!(
        error_messages(&v),
        vec!["viewer is not allowed to edit these settings".to_string()]
    );

    // overwriteSettings: a stale lastID writes nothing and, as in Sourcegraph, is no error.
    let overwrite = "mutation O($input: SettingsMutationGroupInput!, $contents: String!) { \
                     settingsMutation(input: $input) { overwriteSettings(contents: $contents) { empty { alwaysNil } } } }";
    let vars =
        |last: i64, c: &str| json!({"input": {"subject": "U2l0ZToic2l0ZSI=", "lastID": last}, "contents": c});
    data(&emu, ADMIN_TOKEN, overwrite, vars(id0, "{\"stale\": true}")).await;
    assert_eq!(settings(&emu).await.0, id3);
    data(&emu, ADMIN_TOKEN, overwrite, vars(id3, "{\"fresh\": true}")).await;
    let (id4, contents4, _) = settings(&emu).await;
    assert_eq!(contents4, "{\"fresh\": true}");

    // Creating the notices array and removing the whole member (no "value" key) restores the bytes.
    data(
        &emu,
        ADMIN_TOKEN,
        &edit,
        edit_vars(json!(id4), notices_end.clone(), Some(notice.clone())),
    )
    .await;
    let (id5, contents5, _) = settings(&emu).await;
    assert!(
        contents5.starts_with("{\"fresh\": true, \"notices\": [\n  {\n    \"dismissible\": false,"),
        "{contents5}"
    );
    data(
        &emu,
        ADMIN_TOKEN,
        &edit,
        edit_vars(json!(id5), json!([{"property": "notices"}]), None),
    )
    .await;
    assert_eq!(settings(&emu).await.1, "{\"fresh\": true}");

    // No settings row yet: lastID null, and the first edit creates the document.
    let empty_db = fresh_db("frontend.sql", FRONTEND_FIXTURE);
    let emu2 = start(&empty_db, None).await;
    let d = data(&emu2, ADMIN_TOKEN, &operation("SiteSettings"), Value::Null).await;
    assert_eq!(d["site"]["latestSettings"], Value::Null);
    let v = gql(
        &emu2,
        ADMIN_TOKEN,
        &edit,
        edit_vars(json!(1), notices_end.clone(), Some(notice.clone())),
    )
    .await;
    assert_eq!(
        error_messages(&v),
        vec!["update settings version mismatch: last ID is null (mutation wanted 1)".to_string()]
    );
    data(
        &emu2,
        ADMIN_TOKEN,
        &edit,
        edit_vars(
            Value::Null,
            notices_end.clone(),
            Some(json!({"message": "m", "location": "top"})),
        ),
    )
    .await;
    let (_, created, _) = settings(&emu2).await;
    assert_eq!(
        created,
        "{\n  \"notices\": [\n    {\n      \"location\": \"top\",\n      \"message\": \"m\"\n    }\n  ]\n}"
    );
    emu2.shutdown().await;

    assert!(
        emu.received().iter().all(|r| r.valid),
        "{:?}",
        emu.received().iter().filter(|r| !r.valid).collect::<Vec<_>>()
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_sources_are_visible() {
    let db = frontend_db();
    let emu = start(&db, None).await;
    let rfc3339 = |v: &Value| {
        let s = v.as_str().unwrap_or_default();
        s.len() == 20 && s.ends_with('Z') && &s[10..11] == "T"
    };

    // Errored permission sync: the job of a deleted user is left out (as Sourcegraph does).
    let jobs = operation("PermissionSyncJobs");
    let d = data(&emu, ADMIN_TOKEN, &jobs, json!({"first": 50, "state": "ERRORED"})).await;
    let c = &d["permissionsSyncJobs"];
    assert_eq!(c["totalCount"], 2);
    let nodes = c["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 1, "{c}");
    assert_eq!(nodes[0]["state"], "ERRORED");
    assert_eq!(nodes[0]["failureMessage"], "github: rate limited");
    assert_eq!(
        nodes[0]["subject"],
        json!({"__typename": "User", "username": "alice"})
    );
    assert!(
        rfc3339(&nodes[0]["finishedAt"]) && rfc3339(&nodes[0]["queuedAt"]),
        "{}",
        nodes[0]
    );
    let d = data(&emu, ADMIN_TOKEN, &jobs, json!({"first": 50, "state": "FAILED"})).await;
    let n = &d["permissionsSyncJobs"]["nodes"][0];
    assert_eq!(
        n["subject"],
        json!({"__typename": "Repository", "name": "github.com/acme/api"})
    );
    assert_eq!(
        n["codeHostStates"],
        json!([{"providerID": "https://github.com/", "providerType": "github", "status": "ERROR", "message": "boom"}])
    );

    // External service sync errors: lastSyncError and the latest sync job.
    let d = data(
        &emu,
        ADMIN_TOKEN,
        &operation("ExternalServicesHealthPage"),
        json!({"first": 10}),
    )
    .await;
    let nodes = d["externalServices"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by_id = |id: i64| {
        nodes
            .iter()
            .find(|n| n["id"] == gid("ExternalService", id))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_id(2)["lastSyncError"], "gitlab: 401 Unauthorized");
    assert_eq!(by_id(2)["syncJobs"]["nodes"][0]["state"], "ERRORED");
    assert_eq!(
        by_id(2)["syncJobs"]["nodes"][0]["failureMessage"],
        "gitlab: 401 Unauthorized"
    );
    assert_eq!(by_id(1)["lastSyncError"], Value::Null);
    assert_eq!(by_id(1)["syncJobs"]["nodes"][0]["state"], "COMPLETED");
    assert_eq!(by_id(3)["syncJobs"]["nodes"], json!([]));
    let d = data(
        &emu,
        ADMIN_TOKEN,
        &operation("ExternalServicesSyncErrorsPage"),
        json!({"first": 10}),
    )
    .await;
    assert_eq!(
        d["externalServices"]["nodes"][3]["lastSyncError"],
        "gitlab: 401 Unauthorized"
    );

    // Out-of-band migrations with their errors.
    let d = data(&emu, ADMIN_TOKEN, &operation("OutOfBandMigrations"), Value::Null).await;
    let m = d["outOfBandMigrations"].as_array().cloned().unwrap_or_default();
    assert_eq!(m.len(), 2);
    assert_eq!(
        (
            m[0]["introduced"].clone(),
            m[0]["deprecated"].clone(),
            m[0]["errors"].clone()
        ),
        (json!("3.26"), json!("5.2"), json!([]))
    );
    assert_eq!(m[1]["id"], gid("OutOfBandMigration", 2));
    assert_eq!(
        (
            m[1]["introduced"].clone(),
            m[1]["deprecated"].clone(),
            m[1]["progress"].clone()
        ),
        (json!("4.3"), Value::Null, json!(0.5))
    );
    assert_eq!(m[1]["errors"][0]["message"], "relation \"foo\" does not exist");
    assert!(rfc3339(&m[1]["errors"][0]["created"]));

    // Alerts and validation messages are runtime state the test sets.
    let health = operation("InstanceHealth");
    let d = data(&emu, ADMIN_TOKEN, &health, Value::Null).await;
    assert_eq!(
        d["site"],
        json!({"alerts": [], "configuration": {"validationMessages": []}})
    );
    emu.set_site_alerts(vec![sgemu::SiteAlert {
        type_: "ERROR".into(),
        message: "Disk full".into(),
    }]);
    emu.set_config_validation_messages(vec!["auth.providers: invalid".into()]);
    let d = data(&emu, ADMIN_TOKEN, &health, Value::Null).await;
    assert_eq!(
        d["site"],
        json!({"alerts": [{"type": "ERROR", "message": "Disk full"}], "configuration": {"validationMessages": ["auth.providers: invalid"]}})
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn summary_sources_come_from_the_database() {
    let db = frontend_db();
    let insights = insights_db();
    let emu = start(&db, Some(&insights)).await;

    let d = data(&emu, ADMIN_TOKEN, &operation("SummaryCounts"), Value::Null).await;
    assert_eq!(
        d,
        json!({"repositories": {"totalCount": 3}, "users": {"totalCount": 4}, "organizations": {"totalCount": 2}})
    );
    let d = data(&emu, ADMIN_TOKEN, &operation("SiteVersion"), Value::Null).await;
    assert_eq!(d["site"]["productVersion"], "5.1.0");
    let d = data(&emu, ADMIN_TOKEN, &operation("AuthProviders"), Value::Null).await;
    assert_eq!(
        d["site"]["authProviders"],
        json!({"totalCount": 2, "nodes": [
            {"serviceType": "builtin", "serviceID": "", "displayName": "Builtin username-password authentication"},
            {"serviceType": "github", "serviceID": "https://github.com/", "displayName": "GitHub"}]})
    );
    let d = data(&emu, ADMIN_TOKEN, &operation("SiteConfiguration"), Value::Null).await;
    let raw = server().psql(
        &db,
        "SELECT contents FROM critical_and_site_config ORDER BY id DESC LIMIT 1;",
    );
    assert_eq!(
        d["site"]["configuration"]["effectiveContents"]
            .as_str()
            .map(str::trim_end),
        Some(raw.trim_end())
    );
    let d = data(
        &emu,
        ADMIN_TOKEN,
        &operation("CodeIntelUploadsCount"),
        Value::Null,
    )
    .await;
    assert_eq!(d["preciseIndexes"]["totalCount"], 3);
    let count = operation("SavedSearchesCount");
    let d = data(&emu, ADMIN_TOKEN, &count, json!({"namespace": gid("User", 2)})).await;
    assert_eq!(d["savedSearches"]["totalCount"], 2);
    let d = data(&emu, ADMIN_TOKEN, &count, json!({"namespace": gid("Org", 1)})).await;
    assert_eq!(d["savedSearches"]["totalCount"], 1);
    let d = data(
        &emu,
        ADMIN_TOKEN,
        &operation("Organizations"),
        json!({"first": 10}),
    )
    .await;
    assert_eq!(
        d["organizations"],
        json!({"totalCount": 2, "nodes": [{"id": gid("Org", 1)}, {"id": gid("Org", 2)}]})
    );

    // Config of an external service: secrets redacted.
    let d = data(&emu, ADMIN_TOKEN, "query C { externalServices(first: 1, after: \"RXh0ZXJuYWxTZXJ2aWNlOjI=\") { nodes { displayName config repoCount } } }", Value::Null).await;
    let n = &d["externalServices"]["nodes"][0];
    assert_eq!(
        (n["displayName"].clone(), n["repoCount"].clone()),
        (json!("GitHub.com"), json!(2))
    );
    let config = n["config"].as_str().unwrap_or_default();
    assert!(
        config.contains("REDACTED") && !config.contains("ghp_secret"),
        "{config}"
    );

    // A database the emulator was not given: no insights rather than an error.
    let emu2 = start(&db, None).await;
    let d = data(
        &emu2,
        ADMIN_TOKEN,
        &operation("InsightSeriesPage"),
        json!({"first": 10}),
    )
    .await;
    assert_eq!(d["insightViews"]["nodes"], json!([]));
    emu2.shutdown().await;
    emu.shutdown().await;
}

/// Values for the variables of the sgapi operations, by name.
fn variable_value(name: &str, latest_settings_id: i64) -> Value {
    match name {
        "first" => json!(2),
        "after" => Value::Null,
        "state" => json!("ERRORED"),
        "namespace" => json!(gid("User", 2)),
        "input" => json!({"subject": "U2l0ZToic2l0ZSI=", "lastID": latest_settings_id}),
        "edit" => {
            json!({"keyPath": [{"property": "notices"}, {"index": -1}], "value": {"message": "m", "location": "top"}})
        }
        "contents" => json!("{}"),
        other => panic!("the test has no value for the variable ${other}: add one to variable_value"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sgapi_operation_validates_and_is_answered() {
    let dir = testkit::workspace_root().join("crates/sgapi/operations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no operations in {}", dir.display());
    let schema = sgemu::load_schema(&schema_dir()).unwrap_or_else(|e| panic!("{e}"));

    let db = frontend_db();
    let insights = insights_db();
    let emu = start(&db, Some(&insights)).await;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{e}"));
        let doc = sgemu::validate_operation(&schema, &text)
            .unwrap_or_else(|errs| panic!("{} does not validate: {errs:?}", f.display()));
        let op = doc
            .operations
            .iter()
            .next()
            .unwrap_or_else(|| panic!("{} has no operation", f.display()));
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        assert_eq!(
            op.name.as_ref().map(|n| n.as_str()),
            Some(stem),
            "file name = operation name"
        );

        let latest = settings(&emu).await.0;
        let mut vars = serde_json::Map::new();
        for v in &op.variables {
            vars.insert(v.name.to_string(), variable_value(v.name.as_str(), latest));
        }
        let resp = gql(&emu, ADMIN_TOKEN, &text, Value::Object(vars)).await;
        assert!(
            resp.get("errors").is_none() && resp["data"].is_object(),
            "{stem}: {resp}"
        );
    }
    let received = emu.received();
    assert_eq!(received.len(), files.len() * 2);
    assert!(received.iter().all(|r| r.valid), "{received:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_and_says_it_is_an_emulator() {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::process::{Command, Stdio};

    let db = frontend_db();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("# tokens\n{ADMIN_TOKEN} admin\n{USER_TOKEN} user\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bin = env!("CARGO_BIN_EXE_sg-api-emulator");

    // A password on the command line is refused, and not echoed.
    let out = Command::new(bin)
        .arg(format!("--frontend={} password=hunter2", conn(&db)))
        .arg(format!("--schema-dir={}", schema_dir().display()))
        .arg(format!("--token-file={}", tokens.display()))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("PGPASSWORD") && !err.contains("hunter2"),
        "{err}"
    );

    let mut child = Command::new(bin)
        .arg(format!("--frontend={}", conn(&db)))
        .arg(format!("--schema-dir={}", schema_dir().display()))
        .arg(format!("--token-file={}", tokens.display()))
        .arg("--listen=127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdout = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap_or_else(|e| panic!("{e}"));
    let endpoint = first
        .trim()
        .strip_prefix("endpoint=")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let client = reqwest::Client::new();
    let state = client
        .post(format!("{endpoint}/.emulator/state"))
        .header("Authorization", format!("token {ADMIN_TOKEN}"))
        .json(&json!({"site_alerts": [{"type": "WARNING", "message": "from a script"}]}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state.status().as_u16(), 200);
    let denied = client
        .post(format!("{endpoint}/.emulator/state"))
        .header("Authorization", format!("token {USER_TOKEN}"))
        .json(&json!({"allow_site_settings_edits": false}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(denied.status().as_u16(), 403);
    let resp: Value = client
        .post(format!("{endpoint}/.api/graphql"))
        .header("Authorization", format!("token {ADMIN_TOKEN}"))
        .json(&json!({"query": operation("InstanceHealth")}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        resp["data"]["site"]["alerts"],
        json!([{"type": "WARNING", "message": "from a script"}])
    );

    let term = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(term.success());
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    let mut err = String::new();
    child.stderr.take().map(|mut s| s.read_to_string(&mut err));
    assert!(status.success(), "exit {status}: {err}");
    assert!(
        err.contains("EMULATOR") && err.contains("NOT Sourcegraph"),
        "{err}"
    );
    assert!(err.contains("InstanceHealth -> HTTP 200 (valid)"), "{err}");
    assert!(!err.contains(ADMIN_TOKEN), "a token was logged: {err}");
}
