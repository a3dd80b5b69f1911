//! API keys (SPEC §5): a client app's named static keys. Creation shows the key once
//! (`kwak_` + 43 random base62 characters + a 6-character checksum) and storage keeps
//! only its SHA-256 digest; names, expiry and unknown fields are validated (422); names
//! are unique per app in any letter case and the count per app is capped, also under
//! concurrency (409). A key is a Bearer credential at `/oauth2/status`,
//! `/api/v1/authorize` and every management route, acting as its app with the app's
//! live roles, status and environment; a deleted, expired, unknown or checksum-invalid
//! key gets the 401 of an invalid token. `last_used_at` per key, shown by the API and
//! written in batches; `api_keys:read` / `api_keys:manage` guard the routes, and nobody
//! mints a key for an app holding more management power than they do. Last, log
//! hygiene at `RUST_LOG=trace` for keys and rotated secrets alike.

use std::time::{Duration, Instant};

use reqwest::blocking::Response;
use serde_json::{json, Value};

use crate::harness::{
    admin_get, api_keys_path, app_with_token, assert_allowed, assert_denied, assert_escalation,
    assert_forbidden, assert_problem, assert_unauthenticated, assert_validation_error, authorize,
    create_api_key, credential_checksum, eventually, forged_credential, get_app, header,
    is_rfc3339_utc, key_text, list_api_keys, names_of, rfc3339, rfc3339_in, rotate_secret,
    sha256_hex, sleep_past, status_with, unique, urlencode, with_broken_checksum, with_secret, App,
    Server, ADMIN_CREDENTIAL,
};

const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A route every app with `client_apps:read` in `default` may call.
const DEFAULT_APPS: &str = "/api/v1/environments/default/client-apps";

/// `POST .../api-keys` as the Super Admin, the raw response (for its headers).
fn post_key(s: &Server, env: &str, app: &App, body: &Value) -> Response {
    s.post(&api_keys_path(env, app), &s.admin, body.clone())
}

/// Asserts the status endpoint's 401 answer to a bad Bearer credential.
#[track_caller]
fn assert_inactive(s: &Server, key: &str, case: &str) {
    let res = status_with(s, Some(&format!("Bearer {key}")));
    assert_eq!(res.status(), 401, "{case}: status");
    assert_eq!(
        header(&res, "www-authenticate").as_deref(),
        Some("Bearer realm=\"keyward\", error=\"invalid_token\""),
        "{case}: WWW-Authenticate"
    );
    let body: Value = res.json().expect("json");
    assert_eq!(body, json!({"active": false}), "{case}");
}

/// Asserts that `key` is refused everywhere a Bearer credential is accepted.
#[track_caller]
fn assert_key_refused(s: &Server, key: &str, case: &str) {
    assert_inactive(s, key, case);
    assert_unauthenticated(
        authorize(s, key, "orders:read"),
        &format!("{case}: authorize"),
    );
    assert_unauthenticated(
        s.bearer(key).get(DEFAULT_APPS),
        &format!("{case}: management route"),
    );
}

/// Asserts `GET /oauth2/status` answers 200 `{"active": true}` for `key`.
#[track_caller]
fn assert_active(s: &Server, key: &str, case: &str) {
    let res = status_with(s, Some(&format!("Bearer {key}")));
    assert_eq!(res.status(), 200, "{case}");
    let body: Value = res.json().expect("json");
    assert_eq!(body, json!({"active": true}), "{case}");
}

/// The listed item with this id.
fn item<'a>(list: &'a Value, id: &Value) -> &'a Value {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == *id)
        .unwrap_or_else(|| panic!("{id} in {list}"))
}

fn item_count(list: &Value) -> usize {
    list["items"].as_array().expect("items").len()
}

// ----- creation and the key's format -----

#[test]
fn a_created_key_is_shown_once_in_its_format_and_listed_without_its_text() {
    let s = Server::start();
    let app = s.create_app("default", "keyed app", &[]);
    let res = post_key(&s, "default", &app, &json!({"name": "CI key"}));
    assert_eq!(res.status(), 201);
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    let created: Value = res.json().expect("json");
    let key = key_text(&created);
    let rest = key.strip_prefix("kwak_").expect("kwak_ prefix");
    assert_eq!(rest.len(), 49, "43 random + 6 checksum characters: {key}");
    assert!(rest.chars().all(|c| BASE62.contains(c)), "base62: {key}");
    assert_eq!(
        credential_checksum(&rest[..43]),
        rest[43..],
        "the checksum of client secrets"
    );
    assert!(
        created["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{created}"
    );
    assert!(
        !key.contains(created["id"].as_str().unwrap()),
        "the id is not the key"
    );
    assert_eq!(created["name"], "CI key");
    assert!(
        created["created_at"].as_str().is_some_and(is_rfc3339_utc),
        "{created}"
    );
    assert!(created["expires_at"].is_null(), "{created}");
    assert!(created["last_used_at"].is_null(), "{created}");

    // With an expiry, and with an explicit null one.
    let expires = rfc3339_in(86_400);
    let r = s.bearer(&s.admin).post(
        &api_keys_path("default", &app),
        &json!({"name": "deploy", "expires_at": expires}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(rfc3339(&r.body["expires_at"]), rfc3339(&json!(expires)));
    let with_expiry = r.body;
    let r = s.bearer(&s.admin).post(
        &api_keys_path("default", &app),
        &json!({"name": "forever", "expires_at": null}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.body["expires_at"].is_null(), "{r:?}");
    let forever = r.body;

    let keys = [&created, &with_expiry, &forever].map(key_text);
    assert!(
        keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2],
        "every key is new"
    );
    let ids = [&created, &with_expiry, &forever].map(|c| c["id"].clone());
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);

    // The list: every key, never its text.
    let res = s.get(&api_keys_path("default", &app), &s.admin);
    assert_eq!(res.status(), 200);
    let text = res.text().expect("text");
    for k in &keys {
        assert!(!text.contains(&k[5..]), "a key text in the list: {text}");
    }
    let list: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(names_of(&list, "name"), vec!["CI key", "deploy", "forever"]);
    assert!(list["next_cursor"].is_null(), "{list}");
    for (id, c) in ids.iter().zip([&created, &with_expiry, &forever]) {
        let i = item(&list, id);
        assert!(i.get("api_key").is_none(), "{i}");
        assert!(i.get("digest").is_none(), "{i}");
        assert_eq!(i["name"], c["name"]);
        assert_eq!(i["created_at"], c["created_at"]);
        assert!(i["last_used_at"].is_null(), "{i}");
        match c["expires_at"].as_str() {
            Some(_) => assert_eq!(rfc3339(&i["expires_at"]), rfc3339(&c["expires_at"])),
            None => assert!(i["expires_at"].is_null(), "{i}"),
        }
    }
    // The app itself shows no key either, and every key works.
    let app_text = s
        .get(&s.app_path("default", &app), &s.admin)
        .text()
        .expect("text");
    for k in &keys {
        assert!(!app_text.contains(&k[5..]), "{app_text}");
        assert_active(&s, k, "a fresh key");
    }
}

#[test]
fn storage_holds_only_the_sha256_digest_of_each_key() {
    let s = Server::start();
    let app = s.create_app("default", "digest app", &[]);
    let first = create_api_key(&s, "default", &app, "first");
    let second = create_api_key(&s, "default", &app, "second");
    assert_active(&s, &key_text(&first), "used once");

    let rows = s.db().stored_api_keys(&app.client_id);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for created in [&first, &second] {
        let key = key_text(created);
        let row = rows
            .iter()
            .find(|r| r.public_id == created["id"].as_str().expect("id"))
            .unwrap_or_else(|| panic!("a row for {created} in {rows:?}"));
        assert_eq!(row.name, created["name"].as_str().expect("name"));
        assert_eq!(row.digest.len(), 64, "{row:?}");
        assert!(
            row.digest
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "lowercase hex: {row:?}"
        );
        assert_eq!(row.digest, sha256_hex(&key), "SHA-256 of the full key text");
        assert!(row.expires_at.is_none());
    }
    // Wait for the usage batch, so whatever the server writes after a use is on disk too.
    assert!(
        eventually(Duration::from_secs(10), || s
            .db()
            .stored_api_keys(&app.client_id)
            .iter()
            .any(|r| r.last_used_at.is_some()))
        .is_some(),
        "the use reached storage"
    );
    for created in [&first, &second] {
        let key = key_text(created);
        for needle in [key.as_str(), &key[5..], &key[5..30]] {
            if let Some(place) = s.db().find_anywhere(needle) {
                panic!("key text {needle} found in {place}");
            }
        }
    }
}

// ----- validation -----

#[test]
fn names_expiry_and_unknown_fields_are_validated_with_422_and_nothing_is_created() {
    let s = Server::start();
    let app = s.create_app("default", "strict app", &[]);
    let path = api_keys_path("default", &app);
    let mut refused: Vec<(Value, &str)> = vec![
        (json!({"name": ""}), "empty"),
        (json!({"name": "k".repeat(65)}), "65 characters"),
        (json!({"name": " lead"}), "leading space"),
        (json!({"name": "trail "}), "trailing space"),
        (json!({"name": "   "}), "only spaces"),
        (json!({}), "missing name"),
        (json!({"name": null}), "null name"),
        (json!({"name": 42}), "name not a string"),
    ];
    for c in ['/', ':', '@', '!', '+', ',', '\t', '\n', '"', '<', '*', '%'] {
        refused.push((json!({ "name": format!("ab{c}cd") }), "refused character"));
    }
    for (body, case) in &refused {
        let r = s.bearer(&s.admin).post(&path, body);
        assert_validation_error(&r, "name", &format!("{case}: {body}"));
    }
    let past = rfc3339_in(-60);
    for (expires, case) in [
        (json!("tomorrow"), "not a time"),
        (json!("2030-01-01"), "a date only"),
        (json!("2030-01-01T00:00:00"), "no offset"),
        (json!(1_893_456_000), "a number"),
        (json!("2020-01-01T00:00:00Z"), "in the past"),
        (json!(past), "a minute ago"),
    ] {
        let r = s
            .bearer(&s.admin)
            .post(&path, &json!({"name": "expiring", "expires_at": expires}));
        assert_validation_error(&r, "expires_at", &format!("{case}: {expires}"));
    }
    let r = s.bearer(&s.admin).post(
        &path,
        &json!({"name": "chosen", "api_key": forged_credential("kwak_", 1)}),
    );
    assert_validation_error(&r, "api_key", "unknown field: a key chosen by the caller");
    assert_eq!(
        item_count(&list_api_keys(&s, "default", &app)),
        0,
        "nothing created"
    );
    assert!(s.db().stored_api_keys(&app.client_id).is_empty());

    let long = "k".repeat(64);
    for name in [
        "a",
        long.as_str(),
        "Deploy key_2.prod-eu",
        "with  two spaces",
    ] {
        let r = s.bearer(&s.admin).post(&path, &json!({ "name": name }));
        assert_eq!(r.status, 201, "name {name:?}: {r:?}");
        assert_eq!(r.body["name"], name, "stored as given");
    }
}

#[test]
fn a_duplicate_name_on_the_same_app_in_any_letter_case_is_409_name_taken() {
    let s = Server::start();
    let app = s.create_app("default", "named app", &[]);
    let other = s.create_app("default", "other named app", &[]);
    let first = create_api_key(&s, "default", &app, "CI key");
    for dup in ["CI key", "ci KEY", "CI KEY", "cI kEy"] {
        let r = s
            .bearer(&s.admin)
            .post(&api_keys_path("default", &app), &json!({ "name": dup }));
        assert_problem(&r, 409, "name-taken", dup);
    }
    assert_eq!(item_count(&list_api_keys(&s, "default", &app)), 1);
    // Names are unique per app only.
    create_api_key(&s, "default", &other, "CI key");
    // A deleted key's name is free again.
    let r = s.bearer(&s.admin).delete(&format!(
        "{}/{}",
        api_keys_path("default", &app),
        first["id"].as_str().expect("id")
    ));
    assert_eq!(r.status, 204, "{r:?}");
    create_api_key(&s, "default", &app, "ci key");
}

// ----- the quota -----

#[test]
fn the_eleventh_key_of_an_app_is_409_quota_reached_and_the_limit_is_a_setting() {
    let s = Server::start();
    let app = s.create_app("default", "busy app", &[]);
    let other = s.create_app("default", "quiet app", &[]);
    let mut created = Vec::new();
    for i in 0..10 {
        created.push(create_api_key(&s, "default", &app, &format!("key {i}")));
    }
    let r = s
        .bearer(&s.admin)
        .post(&api_keys_path("default", &app), &json!({"name": "key 10"}));
    assert_problem(&r, 409, "quota-reached", "11th key");
    assert_eq!(item_count(&list_api_keys(&s, "default", &app)), 10);
    assert_eq!(s.db().stored_api_keys(&app.client_id).len(), 10);
    // The quota is per app.
    create_api_key(&s, "default", &other, "key 10");
    // Deleting a key frees its place.
    let r = s.bearer(&s.admin).delete(&format!(
        "{}/{}",
        api_keys_path("default", &app),
        created[0]["id"].as_str().expect("id")
    ));
    assert_eq!(r.status, 204, "{r:?}");
    create_api_key(&s, "default", &app, "key 10");
    let r = s
        .bearer(&s.admin)
        .post(&api_keys_path("default", &app), &json!({"name": "key 11"}));
    assert_problem(&r, 409, "quota-reached", "full again");
    drop(s);

    let s = Server::start_with(&[("KEYWARD__LIMITS__API_KEYS_PER_APP", "2")]);
    let app = s.create_app("default", "small app", &[]);
    create_api_key(&s, "default", &app, "one");
    create_api_key(&s, "default", &app, "two");
    let r = s
        .bearer(&s.admin)
        .post(&api_keys_path("default", &app), &json!({"name": "three"}));
    assert_problem(&r, 409, "quota-reached", "limits.api_keys_per_app = 2");
}

/// `n` concurrent `POST .../api-keys` with the bodies `body(i)`; (status, body) each.
fn concurrent_creates(
    s: &Server,
    app: &App,
    n: usize,
    body: impl Fn(usize) -> Value + Sync,
) -> Vec<(u16, Value)> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, body) = (&barrier, &body);
                scope.spawn(move || {
                    barrier.wait();
                    let r = s
                        .bearer(&s.admin)
                        .post(&api_keys_path("default", app), &body(i));
                    (r.status, r.body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    })
}

#[test]
fn thirty_concurrent_creates_on_one_app_create_exactly_ten() {
    let s = Server::start();
    let app = s.create_app("default", "burst app", &[]);
    let results = concurrent_creates(&s, &app, 30, |i| json!({ "name": format!("burst {i:02}") }));
    let created: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 10, "exactly the quota is created");
    for (status, body) in results.iter().filter(|(st, _)| *st != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["type"], "urn:keyward:problem:quota-reached", "{body}");
    }
    let mut created_ids: Vec<String> = created
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect();
    created_ids.sort();
    assert_eq!(
        names_of(&list_api_keys(&s, "default", &app), "id"),
        created_ids,
        "every 201 is listed, nothing else"
    );
    let mut stored: Vec<String> = s
        .db()
        .stored_api_keys(&app.client_id)
        .into_iter()
        .map(|r| r.public_id)
        .collect();
    stored.sort();
    assert_eq!(stored, created_ids, "every 201 is stored, nothing else");
    // No lost write: every key handed out works.
    for c in &created {
        assert_active(&s, &key_text(c), "a key created in the burst");
    }
}

#[test]
fn concurrent_creates_of_one_name_in_different_cases_create_one_key() {
    let s = Server::start();
    let app = s.create_app("default", "racy app", &[]);
    let spellings = ["Race key", "race key", "RACE KEY", "rAcE kEy"];
    let results = concurrent_creates(&s, &app, 8, |i| json!({ "name": spellings[i % 4] }));
    let created = results.iter().filter(|(st, _)| *st == 201).count();
    assert_eq!(created, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(st, _)| *st != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["type"], "urn:keyward:problem:name-taken", "{body}");
    }
    assert_eq!(item_count(&list_api_keys(&s, "default", &app)), 1);
    assert_eq!(s.db().stored_api_keys(&app.client_id).len(), 1);
}

// ----- 404 -----

#[test]
fn unknown_environment_app_or_key_is_404_and_a_key_belongs_to_its_own_app() {
    let s = Server::start();
    s.create_environment("staging");
    let app = s.create_app("default", "owner app", &[]);
    let other = s.create_app("default", "neighbour app", &[]);
    let created = create_api_key(&s, "default", &app, "mine");
    let key = key_text(&created);
    let id = created["id"].as_str().expect("id");

    let unknown_app = "/api/v1/environments/default/client-apps/AAAAAAAAAAAAAAAAAAAAAA/api-keys";
    let wrong_env = format!(
        "/api/v1/environments/nowhere/client-apps/{}/api-keys",
        app.client_id
    );
    let other_env = format!(
        "/api/v1/environments/staging/client-apps/{}/api-keys",
        app.client_id
    );
    for path in [unknown_app, wrong_env.as_str(), other_env.as_str()] {
        let admin = s.bearer(&s.admin);
        assert_problem(admin.get(path), 404, "not-found", path);
        assert_problem(
            admin.post(path, &json!({"name": "lost"})),
            404,
            "not-found",
            path,
        );
        assert_problem(
            admin.delete(&format!("{path}/{id}")),
            404,
            "not-found",
            path,
        );
    }
    let own = api_keys_path("default", &app);
    for unknown in ["AAAAAAAAAAAAAAAAAAAAAA", "nope"] {
        let r = s.bearer(&s.admin).delete(&format!("{own}/{unknown}"));
        assert_problem(&r, 404, "not-found", &format!("unknown key id {unknown}"));
    }
    // Another app's path does not reach this key.
    let r = s
        .bearer(&s.admin)
        .delete(&format!("{}/{id}", api_keys_path("default", &other)));
    assert_problem(&r, 404, "not-found", "the key through another app");
    assert_eq!(item_count(&list_api_keys(&s, "default", &other)), 0);
    assert_eq!(item_count(&list_api_keys(&s, "default", &app)), 1);
    assert_active(&s, &key, "untouched");
}

// ----- deleting a key -----

#[test]
fn a_deleted_key_fails_from_the_next_call_and_a_second_delete_is_404() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "revoking app", &["reader"]);
    let doomed = create_api_key(&s, "default", &app, "doomed");
    let kept = create_api_key(&s, "default", &app, "kept");
    let (doomed_key, kept_key) = (key_text(&doomed), key_text(&kept));
    // Used first, so the server knows the key.
    assert_active(&s, &doomed_key, "before");
    assert_allowed(&s, &doomed_key, "orders:read", "before");

    let path = format!(
        "{}/{}",
        api_keys_path("default", &app),
        doomed["id"].as_str().expect("id")
    );
    let res = s.delete(&path, &s.admin);
    assert_eq!(res.status(), 204);
    assert!(res.text().expect("text").is_empty());
    assert_key_refused(&s, &doomed_key, "deleted key");
    assert_active(&s, &kept_key, "the other key");
    assert_allowed(&s, &kept_key, "orders:read", "the other key");
    assert_eq!(
        names_of(&list_api_keys(&s, "default", &app), "name"),
        vec!["kept"]
    );
    let stored = s.db().stored_api_keys(&app.client_id);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].name, "kept");
    assert_problem(s.delete(&path, &s.admin), 404, "not-found", "second delete");
    assert_key_refused(&s, &doomed_key, "still deleted");
}

// ----- a key acts as its app -----

#[test]
fn a_key_acts_as_its_app_with_live_roles_everywhere_a_token_is_accepted() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_role("default", "reader", &["orders:read"]);
    s.create_role("default", "writer", &["orders:write"]);
    let app = s.create_app("default", "key worker", &["reader"]);
    let key = key_text(&create_api_key(&s, "default", &app, "worker key"));

    assert_active(&s, &key, "a new key");
    let r = authorize(&s, &key, "orders:read");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["allowed"], json!(true));
    assert_eq!(r.body["environment"], json!("default"), "{r:?}");
    assert_denied(&s, &key, "orders:write", "not granted");
    assert_forbidden(
        s.bearer(&key).get(DEFAULT_APPS),
        "a management route without the permission",
    );

    // Role changes apply to the very next call.
    s.set_roles("default", &app, &["writer"]);
    assert_allowed(&s, &key, "orders:write", "after rebinding");
    assert_denied(&s, &key, "orders:read", "after rebinding");
    let r = s.bearer(&s.admin).put(
        "/api/v1/environments/default/roles/writer",
        &json!({"permissions": ["orders:write", "invoices:*"]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_allowed(&s, &key, "invoices:pay", "after the role gained it");

    // Management routes, inside its own environment only.
    s.set_roles("default", &app, &["Admin"]);
    let r = s.bearer(&key).get(DEFAULT_APPS);
    assert_eq!(r.status, 200, "an Admin app's key lists apps: {r:?}");
    assert_eq!(item_count(&r.body), 1);
    let made = s.create_app_as(&key, "default", "made with a key", &[]);
    assert_eq!(s.status(&s.token(&made)), 200);
    assert_forbidden(
        s.bearer(&key)
            .get("/api/v1/environments/staging/client-apps"),
        "another environment",
    );
    assert_forbidden(s.bearer(&key).get("/api/v1/admins"), "admins are global");

    s.set_roles("default", &app, &[]);
    assert_forbidden(s.bearer(&key).get(DEFAULT_APPS), "after Admin was removed");
    assert_denied(&s, &key, "orders:write", "no roles");
    assert_active(&s, &key, "no roles: the key itself is valid");
}

#[test]
fn deactivating_the_app_stops_its_keys_at_once_and_activating_restores_them() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "switched app", &["reader", "Admin"]);
    let bystander = s.create_app("default", "bystander app", &["reader"]);
    let key = key_text(&create_api_key(&s, "default", &app, "switched"));
    let other_key = key_text(&create_api_key(&s, "default", &bystander, "bystander"));
    assert_allowed(&s, &key, "orders:read", "active");
    assert_eq!(s.bearer(&key).get(DEFAULT_APPS).status, 200);

    s.deactivate("default", &app);
    assert_key_refused(&s, &key, "inactive app");
    assert_allowed(&s, &other_key, "orders:read", "another app's key");
    // The keys are still there, only refused.
    assert_eq!(item_count(&list_api_keys(&s, "default", &app)), 1);

    s.activate("default", &app);
    assert_active(&s, &key, "activated again");
    assert_allowed(&s, &key, "orders:read", "activated again");
    assert_eq!(s.bearer(&key).get(DEFAULT_APPS).status, 200);
}

#[test]
fn deleting_the_app_deletes_its_keys_for_ever() {
    let s = Server::start();
    let app = s.create_app("default", "doomed app", &[]);
    let keys = [
        key_text(&create_api_key(&s, "default", &app, "one")),
        key_text(&create_api_key(&s, "default", &app, "two")),
    ];
    assert_active(&s, &keys[0], "before");
    s.deactivate("default", &app);
    let res = s.delete(&s.app_path("default", &app), &s.admin);
    assert_eq!(res.status(), 204);
    for k in &keys {
        assert_key_refused(&s, k, "the deleted app's key");
    }
    let path = api_keys_path("default", &app);
    assert_problem(
        s.get(&path, &s.admin),
        404,
        "not-found",
        "keys of a deleted app",
    );
    assert_problem(
        s.post(&path, &s.admin, json!({"name": "three"})),
        404,
        "not-found",
        "a key for a deleted app",
    );
    assert!(
        s.db().stored_api_keys(&app.client_id).is_empty(),
        "the key rows are gone"
    );
    let res = s.post(
        &format!("{}/activate", s.app_path("default", &app)),
        &s.admin,
        json!({}),
    );
    assert_eq!(res.status(), 404);
    for k in &keys {
        assert_inactive(&s, k, "still refused");
    }
}

#[test]
fn a_disabled_environment_refuses_its_apps_keys_until_enabled_again() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_role("staging", "reader", &["orders:read"]);
    let app = s.create_app("staging", "staging app", &["reader"]);
    let bystander = s.create_app("default", "default app", &[]);
    let key = key_text(&create_api_key(&s, "staging", &app, "staging key"));
    let other_key = key_text(&create_api_key(&s, "default", &bystander, "default key"));
    assert_allowed(&s, &key, "orders:read", "enabled");
    s.set_environment_enabled("staging", false);
    assert_key_refused(&s, &key, "disabled environment");
    assert_active(&s, &other_key, "other environments unaffected");
    s.set_environment_enabled("staging", true);
    assert_active(&s, &key, "enabled again");
    assert_allowed(&s, &key, "orders:read", "enabled again");
}

// ----- bad keys -----

#[test]
fn corrupted_unknown_and_malformed_keys_get_the_401_of_an_invalid_token() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "target app", &["reader", "Admin"]);
    let key = key_text(&create_api_key(&s, "default", &app, "genuine"));
    assert_active(&s, &key, "genuine");

    let mut last_flipped: Vec<char> = key.chars().collect();
    let last = last_flipped.len() - 1;
    last_flipped[last] = if last_flipped[last] == 'A' { 'B' } else { 'A' };
    let cases: Vec<(&str, String)> = vec![
        ("a body character changed", with_broken_checksum(&key)),
        (
            "a checksum character changed",
            last_flipped.into_iter().collect(),
        ),
        (
            "well-formed, never issued",
            forged_credential("kwak_", unique()),
        ),
        ("truncated", key[..key.len() - 1].to_owned()),
        ("one character more", format!("{key}A")),
        ("prefix only", "kwak_".to_owned()),
        ("upper-case prefix", format!("KWAK_{}", &key[5..])),
        ("a client secret's prefix", format!("kwcs_{}", &key[5..])),
        ("the client secret", app.client_secret.clone()),
    ];
    for (case, bad) in &cases {
        assert_key_refused(&s, bad, case);
    }
    // The genuine key is not locked out by all that.
    assert_active(&s, &key, "genuine, after the bad ones");
    assert_allowed(&s, &key, "orders:read", "genuine, after the bad ones");
    assert_eq!(s.bearer(&key).get(DEFAULT_APPS).status, 200);
}

#[test]
fn a_checksum_invalid_key_is_refused_without_reading_storage() {
    let s = Server::start_with(&[("KEYWARD__DATABASE__BUSY_TIMEOUT_MS", "300")]);
    let app = s.create_app("default", "checked app", &[]);
    let key = key_text(&create_api_key(&s, "default", &app, "checked"));
    let broken = with_broken_checksum(&key);
    let outage = s.db().make_unreadable();
    let started = Instant::now();
    let res = status_with(&s, Some(&format!("Bearer {broken}")));
    let (status, took) = (res.status().as_u16(), started.elapsed());
    drop(outage);
    assert_eq!(
        status, 401,
        "refused from its checksum alone, storage unreadable"
    );
    assert!(took < Duration::from_secs(2), "no lookup waited: {took:?}");
    assert_active(&s, &key, "after the outage");
}

// ----- expiry -----

#[test]
fn a_key_past_its_expires_at_gets_401_by_itself() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "expiring app", &["reader"]);
    let expires = rfc3339_in(3);
    let r = s.bearer(&s.admin).post(
        &api_keys_path("default", &app),
        &json!({"name": "short", "expires_at": expires}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let key = key_text(&r.body);
    let lasting = key_text(&create_api_key(&s, "default", &app, "lasting"));
    // Used while valid, so the server has seen it.
    assert_active(&s, &key, "before expiry");
    assert_allowed(&s, &key, "orders:read", "before expiry");
    sleep_past(rfc3339(&json!(expires)), 1_000);
    assert_key_refused(&s, &key, "expired");
    assert_active(&s, &lasting, "a key without expiry");
}

// ----- last_used_at -----

#[test]
fn last_used_at_is_null_until_a_use_then_shown_and_written_in_batches() {
    let mut s = Server::start();
    let app = s.create_app("default", "used app", &[]);
    let used = create_api_key(&s, "default", &app, "used");
    let idle = create_api_key(&s, "default", &app, "idle");
    let late = create_api_key(&s, "default", &app, "late");
    assert!(get_app(&s, &app)["last_used_at"].is_null());
    let list = list_api_keys(&s, "default", &app);
    for c in [&used, &idle, &late] {
        assert!(item(&list, &c["id"])["last_used_at"].is_null(), "{list}");
    }
    assert!(s
        .db()
        .stored_api_keys(&app.client_id)
        .iter()
        .all(|r| r.last_used_at.is_none()));

    assert_active(&s, &key_text(&used), "the use");
    let mut shown = Value::Null;
    assert!(
        eventually(Duration::from_secs(5), || {
            shown = item(&list_api_keys(&s, "default", &app), &used["id"])["last_used_at"].clone();
            !shown.is_null()
        })
        .is_some(),
        "the API shows the use"
    );
    assert!(shown.as_str().is_some_and(is_rfc3339_utc), "{shown}");
    let list = list_api_keys(&s, "default", &app);
    assert!(
        item(&list, &idle["id"])["last_used_at"].is_null(),
        "per key: {list}"
    );
    assert!(
        eventually(Duration::from_secs(5), || !get_app(&s, &app)
            ["last_used_at"]
            .is_null())
        .is_some(),
        "a key's use is the app's use"
    );
    assert!(
        eventually(Duration::from_secs(10), || s
            .db()
            .stored_api_keys(&app.client_id)
            .iter()
            .any(|r| r.name == "used" && r.last_used_at.is_some()))
        .is_some(),
        "last_used_at reaches storage"
    );
    let rows = s.db().stored_api_keys(&app.client_id);
    assert!(
        rows.iter()
            .filter(|r| r.name != "used")
            .all(|r| r.last_used_at.is_none()),
        "{rows:?}"
    );

    // A use right before shutdown is not lost.
    assert_active(&s, &key_text(&late), "the late use");
    assert!(s.terminate().success(), "graceful exit");
    assert!(
        s.db()
            .stored_api_keys(&app.client_id)
            .iter()
            .any(|r| r.name == "late" && r.last_used_at.is_some()),
        "flushed at SIGTERM"
    );
}

// ----- permissions -----

#[test]
fn api_keys_read_lists_api_keys_manage_creates_and_deletes_and_nothing_else_does() {
    let s = Server::start();
    s.create_role("default", "key-reader", &["api_keys:read"]);
    s.create_role(
        "default",
        "key-manager",
        &["api_keys:manage", "api_keys:read"],
    );
    s.create_role(
        "default",
        "app-manager",
        &["client_apps:manage", "client_apps:read"],
    );
    let (_, reader) = app_with_token(&s, "default", "key reader", &["key-reader"]);
    let (_, manager) = app_with_token(&s, "default", "key manager", &["key-manager"]);
    let (_, apps_only) = app_with_token(&s, "default", "app manager", &["app-manager"]);
    let (_, admin_app) = app_with_token(&s, "default", "admin app", &["Admin"]);
    let target = s.create_app("default", "plain target", &[]);
    let path = api_keys_path("default", &target);
    let existing = create_api_key(&s, "default", &target, "existing");
    let existing_path = format!("{path}/{}", existing["id"].as_str().expect("id"));

    // Read only.
    let r = s.bearer(&reader).get(&path);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(names_of(&r.body, "name"), vec!["existing"]);
    assert_forbidden(
        s.bearer(&reader).post(&path, &json!({"name": "nope"})),
        "reader creates",
    );
    assert_forbidden(s.bearer(&reader).delete(&existing_path), "reader deletes");
    // client_apps:* is not api_keys:*.
    assert_forbidden(s.bearer(&apps_only).get(&path), "app manager lists keys");
    assert_forbidden(
        s.bearer(&apps_only).post(&path, &json!({"name": "nope"})),
        "app manager creates a key",
    );
    assert_forbidden(
        s.bearer(&apps_only).delete(&existing_path),
        "app manager deletes a key",
    );
    assert_eq!(
        names_of(&list_api_keys(&s, "default", &target), "name"),
        vec!["existing"]
    );

    // Manage: create and delete, and the key made works.
    let r = s
        .bearer(&manager)
        .post(&path, &json!({"name": "by manager"}));
    assert_eq!(r.status, 201, "{r:?}");
    assert_active(&s, &key_text(&r.body), "a key made by a key manager");
    let r = s.bearer(&manager).delete(&existing_path);
    assert_eq!(r.status, 204, "{r:?}");
    // The built-in Admin role holds api_keys:*.
    let r = s
        .bearer(&admin_app)
        .post(&path, &json!({"name": "by admin app"}));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(s.bearer(&admin_app).get(&path).status, 200);
    assert_eq!(
        names_of(&list_api_keys(&s, "default", &target), "name"),
        vec!["by admin app", "by manager"]
    );
    // No request at all, or a garbage credential.
    assert_unauthenticated(s.anonymous().get(&path), "no credential");
    assert_unauthenticated(
        s.bearer("garbage").post(&path, &json!({"name": "g"})),
        "garbage",
    );
}

#[test]
fn nobody_mints_a_key_for_an_app_holding_management_power_they_lack() {
    let s = Server::start();
    s.create_role(
        "default",
        "key-manager",
        &["api_keys:manage", "api_keys:read"],
    );
    let (_, manager) = app_with_token(&s, "default", "key manager", &["key-manager"]);
    let (_, admin_app) = app_with_token(&s, "default", "admin app", &["Admin"]);
    let boss = s.create_app("default", "boss", &["Admin"]);
    let root = s.create_app("default", "root", &["Super Admin"]);

    let r = s
        .bearer(&manager)
        .post(&api_keys_path("default", &boss), &json!({"name": "stolen"}));
    assert_escalation(&r, "a key for an Admin app from a key manager");
    let r = s
        .bearer(&admin_app)
        .post(&api_keys_path("default", &root), &json!({"name": "stolen"}));
    assert_escalation(&r, "a key for a Super Admin app from an Admin app");
    for victim in [&boss, &root] {
        assert_eq!(
            item_count(&list_api_keys(&s, "default", victim)),
            0,
            "nothing minted"
        );
        assert!(s.db().stored_api_keys(&victim.client_id).is_empty());
    }
    // Deleting a more powerful app's key is out of their hands too.
    let boss_key = create_api_key(&s, "default", &boss, "boss key");
    let r = s.bearer(&manager).delete(&format!(
        "{}/{}",
        api_keys_path("default", &boss),
        boss_key["id"].as_str().expect("id")
    ));
    assert_escalation(&r, "delete an Admin app's key");
    assert_active(&s, &key_text(&boss_key), "untouched");
    // An Admin app mints keys for its peers.
    let r = s.bearer(&admin_app).post(
        &api_keys_path("default", &boss),
        &json!({"name": "peer key"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
}

// ----- logs -----

#[test]
fn trace_logs_never_contain_api_keys_or_client_secrets_old_or_new() {
    let s = Server::start_with(&[("RUST_LOG", "trace")]);
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "logged key app", &["reader"]);
    let created: Vec<Value> = ["logged one", "logged two", "logged three"]
        .iter()
        .map(|n| create_api_key(&s, "default", &app, n))
        .collect();
    let keys: Vec<String> = created.iter().map(key_text).collect();
    let path = api_keys_path("default", &app);
    // Successes and failures with every key.
    for k in &keys {
        assert_active(&s, k, "logged key");
        s.authorize(k, "orders:read");
        s.authorize(k, "orders:write");
        s.get(DEFAULT_APPS, k);
        s.status(&with_broken_checksum(k));
        s.status(&format!("{k}x"));
    }
    let forged = forged_credential("kwak_", unique());
    s.status(&forged);
    s.get(&path, &s.admin);
    s.delete(
        &format!("{path}/{}", created[2]["id"].as_str().expect("id")),
        &s.admin,
    );
    s.status(&keys[2]);
    // A key sent where a client secret goes, and in a refused body.
    s.token_response(&app.client_id, &keys[0], None);
    s.post(&path, &s.admin, json!({"name": "x", "api_key": keys[0]}));

    // Rotation: both secrets used, a wrong one refused, the old one ended.
    let old = app.client_secret.clone();
    let rotated = rotate_secret(&s, "default", &app, Some(3_600));
    let new = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(s.status(&s.token(&with_secret(&app, &old))), 200);
    assert_eq!(s.status(&s.token(&with_secret(&app, &new))), 200);
    s.token_response(&app.client_id, &with_broken_checksum(&new), None);
    let list = admin_get(&s, &crate::harness::secrets_path("default", &app));
    let previous = list["items"][1]["id"]
        .as_str()
        .expect("previous id")
        .to_owned();
    s.delete(
        &format!(
            "{}/{previous}",
            crate::harness::secrets_path("default", &app)
        ),
        &s.admin,
    );
    s.token_response(&app.client_id, &old, None);

    let logs = s.logs();
    let stdout = s.stdout();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "trace logging is on"
    );
    assert!(logs.contains("api-keys"), "management requests are logged");
    let mut needles: Vec<(&str, String)> = vec![
        ("admin credential", ADMIN_CREDENTIAL.to_owned()),
        ("forged key", forged.clone()),
        ("forged key body", forged[5..].to_owned()),
    ];
    for k in &keys {
        needles.push(("API key", k.clone()));
        needles.push(("API key body", k[5..].to_owned()));
        needles.push((
            "API key with a broken checksum",
            with_broken_checksum(k)[5..].to_owned(),
        ));
    }
    for secret in [&old, &new] {
        needles.push(("client secret", secret.clone()));
        needles.push(("client secret body", secret[5..].to_owned()));
        needles.push(("url-encoded client secret", urlencode(secret)));
    }
    for (what, needle) in needles {
        for (stream, text) in [("stderr", &logs), ("stdout", &stdout)] {
            if let Some(at) = text.find(&needle) {
                let line = text[..at].rsplit('\n').next().unwrap_or_default();
                panic!("{what} found on {stream}, on the line starting: {line:?}");
            }
        }
    }
}
