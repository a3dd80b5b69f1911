//! Management-API steps the suites share: apps with tokens, admins and their personal
//! credentials, `/api/v1/authorize` verdicts, and client-app listings.

use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::blocking::Response;
use serde_json::{json, Value};

use super::{assert_forbidden, App, Reply, Server};

/// The client apps of the default environment.
pub const APPS: &str = "/api/v1/environments/default/client-apps";

/// A process-wide counter for unique names.
pub fn unique() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Creates an app as the Super Admin and gets an access token for it.
pub fn app_with_token(s: &Server, env: &str, name: &str, roles: &[&str]) -> (App, String) {
    let app = s.create_app(env, name, roles);
    let token = s.token(&app);
    (app, token)
}

/// An access token with a `scope` parameter; panics unless 200.
pub fn scoped_token(s: &Server, app: &App, scope: &str) -> String {
    let res = s.token_response(&app.client_id, &app.client_secret, Some(scope));
    let status = res.status();
    let body: Value = res.json().expect("json");
    assert_eq!(status, 200, "token with scope {scope}: {body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// The body of a GET as the Super Admin; panics unless 200.
pub fn admin_get(s: &Server, path: &str) -> Value {
    let r = s.bearer(&s.admin).get(path);
    assert_eq!(r.status, 200, "GET {path}: {r:?}");
    r.body
}

/// The `/api/v1/authorize` reply for a token and permission.
pub fn authorize(s: &Server, token: &str, permission: &str) -> Reply {
    s.bearer(token)
        .post("/api/v1/authorize", &json!({ "permission": permission }))
}

#[track_caller]
pub fn assert_allowed(s: &Server, token: &str, permission: &str, context: &str) {
    let r = authorize(s, token, permission);
    assert_eq!(r.status, 200, "{context}: authorize {permission}: {r:?}");
    assert_eq!(r.body["allowed"], json!(true), "{context}: {r:?}");
}

#[track_caller]
pub fn assert_denied(s: &Server, token: &str, permission: &str, context: &str) {
    let r = authorize(s, token, permission);
    assert_forbidden(&r, &format!("{context}: authorize {permission}"));
    assert_eq!(r.body["allowed"], json!(false), "{context}: {r:?}");
}

/// The `key` of every item of a list page, sorted.
pub fn names_of(list: &Value, key: &str) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i[key].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

pub fn sorted_strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p.as_str().expect("string").to_owned())
        .collect();
    out.sort();
    out
}

/// Creates an admin user through the API as the bootstrap Super Admin.
pub fn create_admin(s: &Server, username: &str, role: &str) -> Value {
    let r = s.bearer(&s.admin).post(
        "/api/v1/admins",
        &json!({"username": username, "password": "correct horse battery", "role": role}),
    );
    assert_eq!(r.status, 201, "create admin {username}: {r:?}");
    r.body
}

/// Issues a personal credential through the API; panics unless 201.
pub fn issue_credential(s: &Server, as_credential: &str, username: &str) -> String {
    let r = s
        .bearer(as_credential)
        .post(&format!("/api/v1/admins/{username}/credential"), &json!({}));
    assert_eq!(r.status, 201, "credential for {username}: {r:?}");
    assert_eq!(r.body["username"], json!(username));
    assert!(r.body["created_at"].is_string(), "{r:?}");
    let credential = r.body["credential"]
        .as_str()
        .expect("credential")
        .to_owned();
    assert!(credential.starts_with("kwpc_"), "{credential}");
    credential
}

// ----- client apps -----

/// `POST /api/v1/environments/{env}/client-apps` with `body` as the Super Admin.
pub fn post_client_app(s: &Server, env: &str, body: Value) -> Response {
    s.post(
        &format!("/api/v1/environments/{env}/client-apps"),
        &s.admin,
        body,
    )
}

/// A page of the default environment's client apps; panics unless 200.
pub fn list_apps(s: &Server, query: &str) -> Value {
    let res = s.get(&format!("{APPS}{query}"), &s.admin);
    assert_eq!(res.status(), 200, "list {query}");
    res.json().expect("json")
}

/// The app names of a list page, in the page's order.
pub fn app_names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["name"].as_str().expect("name").to_owned())
        .collect()
}

/// An app of the default environment as the API shows it; panics unless 200.
pub fn get_app(s: &Server, app: &App) -> Value {
    let res = s.get(&s.app_path("default", app), &s.admin);
    assert_eq!(res.status(), 200);
    res.json().expect("json")
}

/// `2026-11-23T01:23:38Z`-like (RFC 3339, UTC).
pub fn is_rfc3339_utc(t: &str) -> bool {
    t.len() >= 20
        && t.as_bytes()[4] == b'-'
        && t.as_bytes()[10] == b'T'
        && (t.ends_with('Z') || t.ends_with("+00:00"))
}
