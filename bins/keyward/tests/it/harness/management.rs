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

// ----- API keys and client secrets (SPEC §5) -----

/// `/api/v1/environments/{env}/client-apps/{client_id}/api-keys`.
pub fn api_keys_path(env: &str, app: &App) -> String {
    format!(
        "/api/v1/environments/{env}/client-apps/{}/api-keys",
        app.client_id
    )
}

/// `/api/v1/environments/{env}/client-apps/{client_id}/secrets`.
pub fn secrets_path(env: &str, app: &App) -> String {
    format!(
        "/api/v1/environments/{env}/client-apps/{}/secrets",
        app.client_id
    )
}

/// Creates an API key (no expiry) as the Super Admin; panics unless 201. Returns the
/// creation body (with `api_key`).
pub fn create_api_key(s: &Server, env: &str, app: &App, name: &str) -> Value {
    let r = s
        .bearer(&s.admin)
        .post(&api_keys_path(env, app), &json!({ "name": name }));
    assert_eq!(r.status, 201, "create API key {name:?}: {r:?}");
    r.body
}

/// The key text of a creation body.
pub fn key_text(created: &Value) -> String {
    created["api_key"].as_str().expect("api_key").to_owned()
}

/// An app's API keys as the Super Admin lists them; panics unless 200.
pub fn list_api_keys(s: &Server, env: &str, app: &App) -> Value {
    admin_get(s, &api_keys_path(env, app))
}

/// Rotates an app's secret as the Super Admin (`grace` seconds, or the default when
/// `None`); panics unless 201. Returns the body (`client_secret`,
/// `previous_secret_expires_at`).
pub fn rotate_secret(s: &Server, env: &str, app: &App, grace: Option<i64>) -> Value {
    let body = match grace {
        Some(g) => json!({ "grace_period_seconds": g }),
        None => json!({}),
    };
    let r = s.bearer(&s.admin).post(&secrets_path(env, app), &body);
    assert_eq!(
        r.status, 201,
        "rotate the secret of {}: {r:?}",
        app.client_id
    );
    r.body
}

/// An app's secrets as the Super Admin lists them; panics unless 200.
pub fn list_secrets(s: &Server, env: &str, app: &App) -> Value {
    admin_get(s, &secrets_path(env, app))
}

/// The same app, presenting another secret.
pub fn with_secret(app: &App, secret: &str) -> App {
    App {
        client_secret: secret.to_owned(),
        ..app.clone()
    }
}

/// The 6-character base62 CRC32 checksum Keyward appends to the 43-character body of a
/// credential (client secret `kwcs_`, API key `kwak_`, personal credential `kwpc_`).
pub fn credential_checksum(body: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut crc = 0xFFFF_FFFFu32;
    for &b in body.as_bytes() {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut n = !crc;
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("ascii")
}

/// A well-formed credential with `prefix` (right length, alphabet and checksum) that
/// Keyward never issued: `seed` picks its body.
pub fn forged_credential(prefix: &str, seed: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body: String = (0..43)
        .map(|i| char::from(ALPHABET[(seed * 31 + i * 7 + i * i) % 62]))
        .collect();
    format!("{prefix}{body}{}", credential_checksum(&body))
}

/// The same credential with one character of its body changed, so its checksum no
/// longer matches.
pub fn with_broken_checksum(credential: &str) -> String {
    let mut chars: Vec<char> = credential.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Lowercase hex SHA-256 of `text` (computed by coreutils' `sha256sum`: the test crate
/// has no SHA-256 implementation of its own).
pub fn sha256_hex(text: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils) is needed");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to sha256sum");
    let out = child.wait_with_output().expect("sha256sum output");
    assert!(out.status.success(), "sha256sum failed");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

/// Parses an RFC 3339 time.
pub fn rfc3339(t: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap_or_else(|| panic!("a time: {t}")))
        .unwrap_or_else(|e| panic!("RFC 3339 {t}: {e}"))
        .with_timezone(&chrono::Utc)
}

/// `now + seconds`, as RFC 3339 UTC with whole seconds.
pub fn rfc3339_in(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Sleeps until `deadline` plus `margin_ms` (at once if it is past).
pub fn sleep_past(deadline: chrono::DateTime<chrono::Utc>, margin_ms: i64) {
    let wait = deadline + chrono::Duration::milliseconds(margin_ms) - chrono::Utc::now();
    if let Ok(wait) = wait.to_std() {
        std::thread::sleep(wait);
    }
}
