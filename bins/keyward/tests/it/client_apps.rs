//! The client-app part of the management API over real HTTP: the secret shown once,
//! name rules, the quota (also under concurrency), listing, roles, the lifecycle, and
//! live permissions of already-issued tokens.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use reqwest::blocking::Response;
use serde_json::{json, Value};

use crate::harness::{eventually, App, Server};

const APPS: &str = "/api/v1/environments/default/client-apps";
const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn create(s: &Server, env: &str, body: Value) -> Response {
    s.post(
        &format!("/api/v1/environments/{env}/client-apps"),
        &s.admin,
        body,
    )
}

/// Asserts an RFC 9457 problem answer and returns its body.
fn assert_problem(res: Response, status: u16, kind: &str, case: &str) -> Value {
    assert_eq!(res.status(), status, "{case}");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "{case}: content type {ct}"
    );
    let body: Value = res.json().expect("json");
    assert_eq!(
        body["type"],
        format!("urn:keyward:problem:{kind}"),
        "{case}: {body}"
    );
    assert!(body["title"].is_string(), "{case}: title");
    body
}

fn assert_validation_error(res: Response, field: &str, case: &str) {
    let body = assert_problem(res, 422, "validation-error", case);
    let errors = body["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == field && e["message"].as_str().is_some_and(|m| !m.is_empty())),
        "{case}: a `{field}` error in {body}"
    );
}

fn list(s: &Server, query: &str) -> Value {
    let res = s.get(&format!("{APPS}{query}"), &s.admin);
    assert_eq!(res.status(), 200, "list {query}");
    res.json().expect("json")
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["name"].as_str().expect("name").to_owned())
        .collect()
}

fn get_app(s: &Server, app: &App) -> Value {
    let res = s.get(&s.app_path("default", app), &s.admin);
    assert_eq!(res.status(), 200);
    res.json().expect("json")
}

#[derive(QueryableByName)]
struct StoredApp {
    #[diesel(sql_type = Nullable<Text>)]
    secret_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    last_used_at: Option<String>,
}

fn stored_app(s: &Server, client_id: &str) -> StoredApp {
    let mut conn =
        SqliteConnection::establish(s.db_path().to_str().expect("utf-8 path")).expect("open db");
    diesel::sql_query(
        "SELECT secret_hash, CAST(last_used_at AS TEXT) AS last_used_at \
         FROM client_apps WHERE client_id = ?",
    )
    .bind::<Text, _>(client_id)
    .get_result(&mut conn)
    .expect("app row")
}

// ----- the secret -----

#[test]
fn created_app_returns_its_secret_once_and_never_again() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let res = create(
        &s,
        "default",
        json!({"name": "Billing Bot", "roles": ["reader"]}),
    );
    assert_eq!(res.status(), 201);
    let created: Value = res.json().expect("json");
    let secret = created["client_secret"].as_str().expect("client_secret");
    let client_id = created["client_id"].as_str().expect("client_id");
    let rest = secret.strip_prefix("kwcs_").expect("kwcs_ prefix");
    assert_eq!(rest.len(), 49, "{secret}");
    assert!(rest.chars().all(|c| BASE62.contains(c)), "{secret}");
    assert_eq!(client_id.len(), 22, "{client_id}");
    assert!(client_id.chars().all(|c| BASE62.contains(c)), "{client_id}");
    assert_eq!(created["name"], "Billing Bot");
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["roles"], json!(["reader"]));
    assert!(created["last_used_at"].is_null());
    assert!(
        chrono_like(created["created_at"].as_str().expect("created_at")),
        "RFC 3339 created_at: {}",
        created["created_at"]
    );

    let app = App {
        client_id: client_id.to_owned(),
        client_secret: secret.to_owned(),
        body: created.clone(),
    };
    let one = s.get(&s.app_path("default", &app), &s.admin);
    assert_eq!(one.status(), 200);
    let one_text = one.text().expect("text");
    let one: Value = serde_json::from_str(&one_text).expect("json");
    assert!(
        one.get("client_secret").is_none(),
        "GET has no secret: {one}"
    );
    assert!(!one_text.contains(secret) && !one_text.contains(rest));
    assert_eq!(one["client_id"], client_id);
    assert_eq!(one["name"], "Billing Bot");
    assert_eq!(one["status"], "ACTIVE");
    assert_eq!(one["roles"], json!(["reader"]));
    assert_eq!(one["created_at"], created["created_at"]);

    let list = s.get(APPS, &s.admin);
    assert_eq!(list.status(), 200);
    let list_text = list.text().expect("text");
    assert!(!list_text.contains(rest), "list has no secret");
    let list: Value = serde_json::from_str(&list_text).expect("json");
    let item = &list["items"][0];
    assert_eq!(item["client_id"], client_id);
    assert!(item.get("client_secret").is_none());

    // Two apps never share a client ID or a secret.
    let second = s.create_app("default", "Second Bot", &[]);
    assert_ne!(second.client_id, client_id);
    assert_ne!(second.client_secret, secret);
    // And the secret works.
    assert_eq!(s.token_response(client_id, secret, None).status(), 200);
}

/// `2026-11-23T01:23:38Z`-like (RFC 3339, UTC).
fn chrono_like(t: &str) -> bool {
    t.len() >= 20
        && t.as_bytes()[4] == b'-'
        && t.as_bytes()[10] == b'T'
        && (t.ends_with('Z') || t.ends_with("+00:00"))
}

#[test]
fn database_holds_only_an_argon2id_hash_of_the_secret() {
    let s = Server::start();
    let app = s.create_app("default", "hashed app", &[]);
    let row = stored_app(&s, &app.client_id);
    let hash = row.secret_hash.expect("secret_hash");
    assert!(hash.starts_with("$argon2id$v=19$"), "PHC string: {hash}");
    assert!(!hash.contains(&app.client_secret));
    // The secret text is nowhere in the database files (main file, WAL, shared memory).
    let random_part = app.client_secret.trim_start_matches("kwcs_");
    for entry in std::fs::read_dir(s.data_dir()).expect("data dir") {
        let path = entry.expect("entry").path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("keyward.db"))
        {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read db file");
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains(random_part),
            "secret found in {}",
            path.display()
        );
    }
}

// ----- names -----

#[test]
fn names_of_3_and_128_characters_and_every_allowed_special_character_are_accepted() {
    let s = Server::start();
    let long = format!("L{}", "x".repeat(127));
    let mut accepted = vec![
        "abc".to_owned(),
        long.clone(),
        "A1 b2".to_owned(),
        "all +=,.@- together".to_owned(),
    ];
    for c in ['+', '=', ',', '.', '@', '-', ' '] {
        accepted.push(format!("x{c}y{}", accepted.len()));
    }
    for name in &accepted {
        let res = create(&s, "default", json!({"name": name}));
        assert_eq!(res.status(), 201, "name {name:?}");
        let body: Value = res.json().expect("json");
        assert_eq!(body["name"], name.as_str(), "stored as given");
        assert!(body["roles"].as_array().is_some_and(Vec::is_empty));
    }
    assert_eq!(
        list(&s, "?limit=200")["items"]
            .as_array()
            .expect("items")
            .len(),
        accepted.len()
    );
}

#[test]
fn names_too_short_too_long_or_with_refused_characters_are_422() {
    let s = Server::start();
    let mut refused: Vec<(String, &str)> = vec![
        ("ab".into(), "2 characters"),
        (format!("L{}", "x".repeat(128)), "129 characters"),
        (String::new(), "empty"),
        ("   ".into(), "only spaces"),
        (" abc".into(), "leading space"),
        ("abc ".into(), "trailing space"),
    ];
    for c in [
        '_', '/', ':', '%', '!', '#', '\t', '\n', 'é', '"', '\'', '<', '*',
    ] {
        refused.push((format!("ab{c}cd"), "refused character"));
    }
    for (name, case) in &refused {
        let res = create(&s, "default", json!({"name": name}));
        assert_validation_error(res, "name", &format!("{case}: {name:?}"));
    }
    for (body, case) in [
        (json!({}), "missing name"),
        (json!({"name": 42}), "name not a string"),
        (json!({"name": null}), "null name"),
    ] {
        assert_validation_error(create(&s, "default", body), "name", case);
    }
    assert!(
        list(&s, "")["items"].as_array().expect("items").is_empty(),
        "nothing created"
    );
}

#[test]
fn duplicate_name_in_any_letter_case_is_409_name_taken() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_app("default", "Report Bot", &[]);
    for dup in ["Report Bot", "report bot", "REPORT BOT", "rEpOrT bOt"] {
        let res = create(&s, "default", json!({"name": dup}));
        assert_problem(res, 409, "name-taken", dup);
    }
    assert_eq!(list(&s, "")["items"].as_array().expect("items").len(), 1);
    // Names are unique per environment only.
    s.create_app("staging", "report bot", &[]);
}

// ----- quota -----

#[test]
fn the_21st_app_in_an_environment_is_refused_with_quota_reached() {
    let s = Server::start();
    s.create_environment("staging");
    for i in 0..20 {
        s.create_app("default", &format!("app {i:02}"), &[]);
    }
    let res = create(&s, "default", json!({"name": "app 20"}));
    assert_problem(res, 409, "quota-reached", "21st app");
    assert_eq!(
        list(&s, "?limit=200")["items"]
            .as_array()
            .expect("items")
            .len(),
        20
    );
    // The quota is per environment.
    s.create_app("staging", "app 20", &[]);
}

#[test]
fn fifty_concurrent_creates_in_an_empty_environment_create_exactly_twenty() {
    let s = Server::start();
    s.create_environment("burst");
    let barrier = std::sync::Barrier::new(50);
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (s, barrier) = (&s, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let res = create(s, "burst", json!({"name": format!("burst app {i:02}")}));
                    let status = res.status().as_u16();
                    (status, res.json::<Value>().expect("json"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let created: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 20, "exactly the quota is created");
    for (status, body) in results.iter().filter(|(st, _)| *st != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["type"], "urn:keyward:problem:quota-reached", "{body}");
    }
    let listed = s.get("/api/v1/environments/burst/client-apps?limit=200", &s.admin);
    let listed: Value = listed.json().expect("json");
    let mut listed_ids: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["client_id"].as_str().expect("client_id"))
        .collect();
    let mut created_ids: Vec<&str> = created
        .iter()
        .map(|a| a["client_id"].as_str().expect("client_id"))
        .collect();
    listed_ids.sort_unstable();
    created_ids.sort_unstable();
    assert_eq!(
        listed_ids, created_ids,
        "every 201 exists, nothing else does"
    );
    // No lost write: every created app works with the secret it was given.
    for app in &created {
        let res = s.token_response(
            app["client_id"].as_str().expect("id"),
            app["client_secret"].as_str().expect("secret"),
            None,
        );
        assert_eq!(res.status(), 200, "{}", app["name"]);
    }
}

// ----- listing -----

#[test]
fn list_search_matches_name_or_client_id_case_insensitively() {
    let s = Server::start();
    let alpha = s.create_app("default", "Alpha Reporter", &[]);
    s.create_app("default", "beta reporter", &[]);
    s.create_app("default", "Gamma", &[]);
    let mut found = names(&list(&s, "?search=REPORTER"));
    found.sort();
    assert_eq!(found, ["Alpha Reporter", "beta reporter"]);
    assert_eq!(names(&list(&s, "?search=alpha")), ["Alpha Reporter"]);
    assert_eq!(names(&list(&s, "?search=HA%20rep")), ["Alpha Reporter"]);
    // By client ID: a middle part, in the other letter case too.
    let part = &alpha.client_id[5..15];
    let by_id = list(&s, &format!("?search={part}"));
    assert!(
        names(&by_id).contains(&"Alpha Reporter".to_owned()),
        "{by_id}"
    );
    assert_eq!(by_id["items"][0]["client_id"], alpha.client_id.as_str());
    let by_whole_id = list(&s, &format!("?search={}", alpha.client_id.to_lowercase()));
    assert_eq!(names(&by_whole_id), ["Alpha Reporter"]);
    assert!(names(&list(&s, "?search=nothing-like-this")).is_empty());
    assert!(list(&s, "?search=nothing-like-this")["next_cursor"].is_null());
}

#[test]
fn list_is_newest_first_by_default_and_oldest_first_with_order_asc() {
    let s = Server::start();
    let created: Vec<String> = (0..5).map(|i| format!("ordered app {i}")).collect();
    for name in &created {
        s.create_app("default", name, &[]);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(names(&list(&s, "")), newest_first);
    assert_eq!(names(&list(&s, "?order=desc")), newest_first);
    assert_eq!(
        names(&list(&s, "?sort=created_at&order=desc")),
        newest_first
    );
    assert_eq!(names(&list(&s, "?order=asc")), created);
    assert_eq!(names(&list(&s, "?sort=created_at&order=asc")), created);
}

#[test]
fn list_pages_through_every_app_once_with_limit_and_cursor() {
    let s = Server::start();
    let created: Vec<String> = (0..7).map(|i| format!("paged app {i}")).collect();
    for name in &created {
        s.create_app("default", name, &[]);
    }
    for order in ["asc", "desc"] {
        let mut seen = Vec::new();
        let mut query = format!("?order={order}&limit=3");
        let mut pages = 0;
        loop {
            let page = list(&s, &query);
            let items = names(&page);
            assert!(items.len() <= 3);
            seen.extend(items);
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => query = format!("?order={order}&limit=3&cursor={c}"),
                None => break,
            }
            assert!(pages < 10, "pagination ends");
        }
        let expected: Vec<String> = if order == "asc" {
            created.clone()
        } else {
            created.iter().rev().cloned().collect()
        };
        assert_eq!(seen, expected, "{order}: every app once, in order");
        assert_eq!(pages, 3);
    }
}

#[test]
fn list_refuses_invalid_limit_order_and_cursor_with_422() {
    let s = Server::start();
    s.create_app("default", "listed app", &[]);
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=abc", "limit"),
        ("?order=sideways", "order"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=%FF%FE", "cursor"),
        ("?sort=name", "sort"),
    ] {
        let res = s.get(&format!("{APPS}{query}"), &s.admin);
        assert_validation_error(res, field, query);
    }
    assert_eq!(names(&list(&s, "?limit=200")), ["listed app"]);
    assert_eq!(names(&list(&s, "?limit=1")), ["listed app"]);
}

// ----- roles and live permissions -----

#[test]
fn replacing_an_apps_roles_applies_and_unknown_roles_are_422() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    s.create_role("default", "writer", &["orders:write"]);
    let app = s.create_app("default", "role app", &["reader"]);
    let res = s.put(
        &format!("{}/roles", s.app_path("default", &app)),
        &s.admin,
        json!({"roles": ["writer", "reader"]}),
    );
    assert_eq!(res.status(), 200);
    let body: Value = res.json().expect("json");
    assert_eq!(body["roles"], json!(["reader", "writer"]));
    assert_eq!(get_app(&s, &app)["roles"], json!(["reader", "writer"]));

    let res = s.put(
        &format!("{}/roles", s.app_path("default", &app)),
        &s.admin,
        json!({"roles": ["writer", "no such role"]}),
    );
    assert_validation_error(res, "roles", "unknown role");
    assert_eq!(
        get_app(&s, &app)["roles"],
        json!(["reader", "writer"]),
        "a refused change changes nothing"
    );
    let res = s.put(
        &format!("{}/roles", s.app_path("default", &app)),
        &s.admin,
        json!({}),
    );
    assert_eq!(res.status(), 422, "roles is required");
    s.set_roles("default", &app, &[]);
    assert_eq!(get_app(&s, &app)["roles"], json!([]));
}

#[test]
fn an_apps_role_change_applies_to_the_next_authorize_call_of_an_existing_token() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    s.create_role("default", "writer", &["orders:write"]);
    let app = s.create_app("default", "live app", &["reader"]);
    let token = s.token(&app);

    let res = s.post(
        "/api/v1/authorize",
        &token,
        json!({"permission": "orders:read"}),
    );
    assert_eq!(res.status(), 200);
    let body: Value = res.json().expect("json");
    assert_eq!(body["allowed"], true);
    let res = s.post(
        "/api/v1/authorize",
        &token,
        json!({"permission": "orders:write"}),
    );
    let body = assert_problem(res, 403, "forbidden", "not yet granted");
    assert_eq!(body["allowed"], false);

    s.set_roles("default", &app, &["writer"]);
    assert_eq!(s.authorize(&token, "orders:write"), 200, "granted at once");
    assert_eq!(
        s.authorize(&token, "orders:read"),
        403,
        "taken away at once"
    );
    s.set_roles("default", &app, &[]);
    assert_eq!(s.authorize(&token, "orders:write"), 403);
    // The token itself stays valid: roles do not revoke it.
    assert_eq!(s.status(&token), 200);
}

#[test]
fn a_roles_permission_change_applies_to_the_next_authorize_call_of_an_existing_token() {
    let s = Server::start();
    s.create_role("default", "ops", &["orders:read"]);
    let app = s.create_app("default", "ops app", &["ops"]);
    let token = s.token(&app);
    assert_eq!(s.authorize(&token, "invoices:read"), 403);
    let res = s.put(
        "/api/v1/environments/default/roles/ops",
        &s.admin,
        json!({"permissions": ["invoices:*"]}),
    );
    assert_eq!(res.status(), 200);
    assert_eq!(
        s.authorize(&token, "invoices:read"),
        200,
        "wildcard granted"
    );
    assert_eq!(
        s.authorize(&token, "invoices:delete"),
        200,
        "wildcard granted"
    );
    assert_eq!(
        s.authorize(&token, "orders:read"),
        403,
        "removed permission"
    );
}

#[test]
fn a_down_scoped_token_is_denied_permissions_outside_its_scope_even_if_the_app_gains_them() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    s.create_role("default", "writer", &["orders:write"]);
    let app = s.create_app("default", "narrow app", &["reader"]);
    let res = s.token_response(&app.client_id, &app.client_secret, Some("orders:read"));
    assert_eq!(res.status(), 200);
    let body: Value = res.json().expect("json");
    let narrow = body["access_token"].as_str().expect("token").to_owned();
    s.set_roles("default", &app, &["reader", "writer"]);
    assert_eq!(s.authorize(&narrow, "orders:read"), 200);
    assert_eq!(
        s.authorize(&narrow, "orders:write"),
        403,
        "outside the token's scope"
    );
    // A scope still needs the live grant: losing the role loses the permission.
    s.set_roles("default", &app, &["writer"]);
    assert_eq!(s.authorize(&narrow, "orders:read"), 403);
}

// ----- lifecycle -----

#[test]
fn deactivate_and_activate_are_idempotent_and_return_the_app() {
    let s = Server::start();
    let app = s.create_app("default", "toggled app", &[]);
    let path = s.app_path("default", &app);
    for (action, status) in [
        ("deactivate", "INACTIVE"),
        ("deactivate", "INACTIVE"),
        ("activate", "ACTIVE"),
        ("activate", "ACTIVE"),
    ] {
        let res = s.post(&format!("{path}/{action}"), &s.admin, json!({}));
        assert_eq!(res.status(), 200, "{action}");
        let body: Value = res.json().expect("json");
        assert_eq!(body["status"], status, "{action}");
        assert_eq!(body["client_id"], app.client_id.as_str());
        assert!(body.get("client_secret").is_none());
        assert_eq!(get_app(&s, &app)["status"], status);
    }
    // Without a body at all, too.
    let res = s
        .http()
        .post(s.url(&format!("{path}/deactivate")))
        .bearer_auth(&s.admin)
        .send()
        .expect("request");
    assert_eq!(res.status(), 200);
}

#[test]
fn deactivation_revokes_issued_tokens_at_once_and_activation_restores_them() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "revoked app", &["reader"]);
    let token = s.token(&app);
    assert_eq!(s.authorize(&token, "orders:read"), 200);
    s.deactivate("default", &app);
    assert_eq!(s.status(&token), 401, "the very next call");
    assert_eq!(s.authorize(&token, "orders:read"), 401);
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        401
    );
    s.activate("default", &app);
    assert_eq!(
        s.status(&token),
        200,
        "the same unexpired token works again"
    );
    assert_eq!(s.authorize(&token, "orders:read"), 200);
}

#[test]
fn deleting_an_active_app_is_refused_with_409_app_is_active() {
    let s = Server::start();
    let app = s.create_app("default", "busy app", &[]);
    let token = s.token(&app);
    let res = s.delete(&s.app_path("default", &app), &s.admin);
    assert_problem(res, 409, "app-is-active", "delete while active");
    assert_eq!(get_app(&s, &app)["status"], "ACTIVE");
    assert_eq!(s.status(&token), 200, "nothing changed");
}

#[test]
fn a_deleted_app_is_gone_and_its_tokens_fail_forever() {
    let s = Server::start();
    let app = s.create_app("default", "doomed app", &[]);
    let token = s.token(&app);
    s.deactivate("default", &app);
    let path = s.app_path("default", &app);
    let res = s.delete(&path, &s.admin);
    assert_eq!(res.status(), 204);
    assert!(res.text().expect("text").is_empty());
    assert_problem(s.get(&path, &s.admin), 404, "not-found", "GET deleted app");
    assert!(names(&list(&s, "")).is_empty(), "not listed");
    assert_eq!(s.status(&token), 401);
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        401
    );
    // No way back.
    let res = s.post(&format!("{path}/activate"), &s.admin, json!({}));
    assert_problem(res, 404, "not-found", "activate deleted app");
    assert_problem(s.delete(&path, &s.admin), 404, "not-found", "delete twice");
    assert_eq!(
        s.status(&token),
        401,
        "still refused after the reactivation attempt"
    );
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        401
    );
    // The secret hash is gone from storage.
    assert!(stored_app(&s, &app.client_id).secret_hash.is_none());
}

#[test]
fn unknown_environment_or_app_is_404_not_found() {
    let s = Server::start();
    let app = s.create_app("default", "known app", &[]);
    let unknown_app = "/api/v1/environments/default/client-apps/AAAAAAAAAAAAAAAAAAAAAA";
    let wrong_env = format!("/api/v1/environments/nowhere/client-apps/{}", app.client_id);
    s.create_environment("staging");
    let other_env = format!("/api/v1/environments/staging/client-apps/{}", app.client_id);
    for path in [unknown_app, wrong_env.as_str(), other_env.as_str()] {
        assert_problem(s.get(path, &s.admin), 404, "not-found", path);
        let res = s.post(&format!("{path}/deactivate"), &s.admin, json!({}));
        assert_problem(res, 404, "not-found", path);
        let res = s.put(&format!("{path}/roles"), &s.admin, json!({"roles": []}));
        assert_problem(res, 404, "not-found", path);
        assert_problem(s.delete(path, &s.admin), 404, "not-found", path);
    }
    assert_problem(
        s.get("/api/v1/environments/nowhere/client-apps", &s.admin),
        404,
        "not-found",
        "list in unknown env",
    );
    let res = create(&s, "nowhere", json!({"name": "lost app"}));
    assert_problem(res, 404, "not-found", "create in unknown env");
    assert_eq!(get_app(&s, &app)["status"], "ACTIVE", "untouched");
}

#[test]
fn bad_management_bodies_get_415_400_422_or_413_and_change_nothing() {
    let s = Server::start();
    let raw = |ct: Option<&str>, body: String| -> Response {
        let mut req = s.http().post(s.url(APPS)).bearer_auth(&s.admin);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.body(body).send().expect("request")
    };
    let good = json!({"name": "body app"}).to_string();
    assert_problem(
        raw(Some("text/plain"), good.clone()),
        415,
        "unsupported-media-type",
        "text/plain",
    );
    assert_problem(
        raw(
            Some("application/x-www-form-urlencoded"),
            "name=body+app".into(),
        ),
        415,
        "unsupported-media-type",
        "form",
    );
    assert_problem(
        raw(None, good.clone()),
        415,
        "unsupported-media-type",
        "no type",
    );
    assert_problem(
        raw(Some("application/json"), "{\"name\": ".into()),
        400,
        "malformed-body",
        "truncated JSON",
    );
    assert_problem(
        raw(Some("application/json"), "[\"body app\"]".into()),
        400,
        "malformed-body",
        "JSON array",
    );
    assert_validation_error(
        raw(
            Some("application/json"),
            json!({"name": "body app", "secret": "mine"}).to_string(),
        ),
        "secret",
        "unknown field",
    );
    assert_validation_error(
        raw(
            Some("application/json"),
            json!({"name": "body app", "roles": "reader"}).to_string(),
        ),
        "roles",
        "roles not a list",
    );
    let huge = json!({"name": "body app", "roles": ["x".repeat(65 * 1024)]}).to_string();
    assert_problem(
        raw(Some("application/json"), huge),
        413,
        "body-too-large",
        "65 KiB",
    );
    assert!(names(&list(&s, "")).is_empty(), "nothing created");
    assert_eq!(raw(Some("application/json"), good).status(), 201);
}

// ----- last_used_at -----

#[test]
fn last_used_at_is_null_until_a_token_then_shown_at_once_and_persisted_in_batches() {
    let mut s = Server::start();
    let app = s.create_app("default", "usage app", &[]);
    let late = s.create_app("default", "late usage app", &[]);
    assert!(get_app(&s, &app)["last_used_at"].is_null());
    assert!(stored_app(&s, &app.client_id).last_used_at.is_none());

    s.token(&app);
    let shown = get_app(&s, &app)["last_used_at"].clone();
    assert!(
        shown.as_str().is_some_and(chrono_like),
        "GET shows last_used_at at once: {shown}"
    );
    assert!(
        eventually(Duration::from_secs(10), || stored_app(&s, &app.client_id)
            .last_used_at
            .is_some())
        .is_some(),
        "last_used_at reaches the database"
    );
    // A token right before shutdown is not lost.
    s.token(&late);
    assert!(s.terminate().success(), "graceful exit");
    assert!(
        stored_app(&s, &late.client_id).last_used_at.is_some(),
        "flushed at SIGTERM"
    );
}
