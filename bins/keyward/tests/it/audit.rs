//! The audit log (SPEC §12, issue 18): every state change — who, what, when, from which
//! address, never a secret — written in the same transaction as the change, and read
//! at `GET /api/v1/audit` (`audit:read`), filtered, paginated, scoped to what the caller
//! may see.

use std::time::Duration;

use serde_json::{json, Value};

use crate::admins::cli;
use crate::harness::*;

const PASSWORD: &str = "correct horse battery staple";

/// Every entry, newest first, as the Super Admin reads them (walking every page).
fn all_entries(s: &Server, query: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/audit?limit=200{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = s.bearer(&s.admin).get(&path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        entries.extend(r.body["items"].as_array().expect("items").iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return entries,
        }
    }
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

/// The one entry with this action, asserting there is exactly one.
fn only<'a>(entries: &'a [Value], action: &str) -> &'a Value {
    let found: Vec<&Value> = entries.iter().filter(|e| e["action"] == action).collect();
    assert_eq!(found.len(), 1, "one `{action}` entry in {entries:#?}");
    found[0]
}

fn count(s: &Server) -> usize {
    all_entries(s, "").len()
}

#[test]
fn every_management_change_is_recorded_once_with_who_what_where_and_when() {
    let s = Server::start();
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let admin = s.bearer(&s.admin);
    // First start: the server itself created `default` and the first Super Admin.
    let start = all_entries(&s, "");
    assert_eq!(
        actions(&start),
        [
            "user.password_set",
            "user.created",
            "environment.created",
            "signing_key.created"
        ],
        "{start:#?}"
    );
    for e in &start {
        assert_eq!(e["actor"], json!({"kind": "system", "name": "keyward"}));
        assert!(e["address"].is_null());
    }
    assert_eq!(start[0]["details"], json!({"one_time": true}));

    s.create_environment("staging");
    let r = admin.patch("/api/v1/environments/staging", &json!({"name": "Staging"}));
    assert_eq!(r.status, 200, "{r:?}");
    s.create_role("staging", "orders-reader", &["orders:read"]);
    let r = admin.put(
        "/api/v1/environments/staging/roles/orders-reader",
        &json!({"permissions": ["orders:read", "orders:list"]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let app = s.create_app("staging", "billing", &["orders-reader"]);
    s.set_roles("staging", &app, &[]);
    s.deactivate("staging", &app);
    s.activate("staging", &app);
    let key = create_api_key(&s, "staging", &app, "ci");
    let key_id = key["id"].as_str().unwrap().to_owned();
    let r = admin.delete(&format!("{}/{key_id}", api_keys_path("staging", &app)));
    assert_eq!(r.status, 204, "{r:?}");
    rotate_secret(&s, "staging", &app, Some(0));
    let r = admin.put(
        "/api/v1/environments/staging/audiences",
        &json!({"audiences": ["https://orders.example"]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = admin.post(
        "/api/v1/users",
        &json!({"username": "dana", "password": PASSWORD, "roles": [
            {"environment": "staging", "roles": ["orders-reader"]}]}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = admin.put("/api/v1/users/dana/roles", &json!({"role": "Admin"}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        admin
            .post("/api/v1/users/dana/deactivate", &json!({}))
            .status,
        200
    );
    assert_eq!(
        admin.post("/api/v1/users/dana/activate", &json!({})).status,
        200
    );
    assert_eq!(admin.delete("/api/v1/users/dana").status, 204);
    let r = admin.post("/api/v1/signing-keys/rotate", &json!({}));
    assert_eq!(r.status, 201, "{r:?}");
    let kid = r.body["kid"].as_str().unwrap().to_owned();
    s.deactivate("staging", &app);
    assert_eq!(admin.delete(&s.app_path("staging", &app)).status, 204);
    let r = admin.delete("/api/v1/environments/staging/roles/orders-reader");
    assert_eq!(r.status, 204, "{r:?}");

    let entries = all_entries(&s, "&environment=staging");
    assert_eq!(
        actions(&entries),
        [
            "role.deleted",
            "client_app.deleted",
            "client_app.deactivated",
            "environment.audiences_replaced",
            "secret.rotated",
            "api_key.deleted",
            "api_key.created",
            "client_app.activated",
            "client_app.deactivated",
            "client_app.roles_replaced",
            "client_app.created",
            "role.updated",
            "role.created",
            "environment.updated",
            "environment.created",
        ],
        "newest first, one entry per change: {entries:#?}"
    );
    for e in &entries {
        assert_eq!(e["actor"], json!({"kind": "user", "name": "admin"}), "{e}");
        assert_eq!(e["address"], "127.0.0.1", "{e}");
        assert_eq!(e["environment"], "staging", "{e}");
        let at = rfc3339(&e["at"]);
        assert!(at >= before && at <= chrono::Utc::now(), "{e}");
        assert!(e["id"].is_i64(), "{e}");
        assert!(e["details"].is_object(), "{e}");
    }
    let created = only(&entries, "client_app.created");
    assert_eq!(created["subject"], app.client_id.as_str());
    assert_eq!(created["details"]["name"], "billing");
    assert_eq!(created["details"]["roles"], json!(["orders-reader"]));
    assert_eq!(
        only(&entries, "client_app.roles_replaced")["details"]["roles"],
        json!([])
    );
    assert_eq!(
        only(&entries, "role.updated")["details"]["permissions"],
        json!(["orders:list", "orders:read"])
    );
    assert_eq!(
        only(&entries, "api_key.created")["subject"],
        key_id.as_str()
    );
    assert_eq!(
        only(&entries, "api_key.created")["details"]["client_id"],
        app.client_id.as_str()
    );
    assert_eq!(
        only(&entries, "secret.rotated")["subject"],
        app.client_id.as_str()
    );
    assert_eq!(
        only(&entries, "environment.updated")["details"],
        json!({"name": "Staging"})
    );

    // Changes to Keyward as a whole have no environment.
    let global = all_entries(&s, "&subject=dana");
    assert_eq!(
        actions(&global),
        [
            "user.deleted",
            "user.activated",
            "user.deactivated",
            "user.roles_replaced",
            "user.created"
        ]
    );
    assert!(
        global.iter().all(|e| e["environment"].is_null()),
        "{global:#?}"
    );
    assert_eq!(
        only(&global, "user.roles_replaced")["details"]["role"],
        "Admin"
    );
    let rotated = all_entries(&s, &format!("&subject={kid}"));
    assert_eq!(actions(&rotated), ["signing_key.rotated"]);
    assert!(rotated[0]["environment"].is_null());
}

#[test]
fn no_secret_password_token_or_key_ever_reaches_the_audit_log() {
    let s = Server::start();
    let admin = s.bearer(&s.admin);
    let app = s.create_app("default", "payments", &[]);
    let key = create_api_key(&s, "default", &app, "deploy");
    let rotated = rotate_secret(&s, "default", &app, None);
    let r = admin.post(
        "/api/v1/users",
        &json!({"username": "root2", "password": PASSWORD, "role": "Super Admin"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = admin.post("/api/v1/users/root2/credential", &json!({}));
    assert_eq!(r.status, 201, "{r:?}");
    let credential = r.body["credential"]
        .as_str()
        .expect("credential")
        .to_owned();
    let fresh = with_secret(&app, rotated["client_secret"].as_str().unwrap());
    let token = s.token(&fresh);
    assert_eq!(revoke(&s, &fresh, &token).status(), 200);

    let secrets = [
        app.client_secret.clone(),
        rotated["client_secret"].as_str().unwrap().to_owned(),
        key_text(&key),
        PASSWORD.to_owned(),
        credential.clone(),
        s.admin.clone(),
        token.clone(),
        sha256_hex(&key_text(&key)),
        sha256_hex(&credential),
    ];
    let stored_hash = s.db().stored_secret_hash(&app.client_id).expect("hash");
    let body = s
        .bearer(&s.admin)
        .get("/api/v1/audit?limit=200")
        .body
        .to_string();
    let rows = s.db().audit_rows_text().join("\n");
    assert!(rows.contains("token.revoked") && rows.contains("user.credential_issued"));
    for secret in secrets.iter().chain([&stored_hash]) {
        assert!(
            !body.contains(secret.as_str()),
            "the API shows a secret: {body}"
        );
        assert!(
            !rows.contains(secret.as_str()),
            "the table holds a secret: {rows}"
        );
    }
    // The revocation names the app and the token's id, from the app's address.
    let entries = all_entries(&s, &format!("&actor={}", app.client_id));
    let revoked = only(&entries, "token.revoked");
    assert_eq!(
        revoked["actor"],
        json!({"kind": "client_app", "name": app.client_id})
    );
    assert_eq!(revoked["address"], "127.0.0.1");
    assert_eq!(revoked["subject"], claims(&token)["jti"]);
}

#[test]
fn a_refused_change_writes_nothing_and_a_failed_audit_write_undoes_the_change() {
    let s = Server::start();
    let admin = s.bearer(&s.admin);
    let app = s.create_app("default", "ledger", &[]);
    let n = count(&s);
    // 422, 409, 404 and 403: nothing changed, nothing recorded.
    let r = admin.post("/api/v1/environments", &json!({"slug": "Not A Slug"}));
    assert_validation_error(r, "slug", "bad slug");
    let r = admin.post("/api/v1/environments", &json!({"slug": "default"}));
    assert_eq!(r.status, 409, "{r:?}");
    let r = admin.delete(&s.app_path("default", &app));
    assert_eq!(r.status, 409, "an active app: {r:?}");
    let r = admin.put(
        &format!("{}/roles", s.app_path("default", &app)),
        &json!({"roles": ["nope"]}),
    );
    assert!(r.status == 422 || r.status == 404, "{r:?}");
    let (_, weak) = app_with_token(&s, "default", "weak", &[]);
    let n = n + 1;
    let r = s
        .bearer(&weak)
        .post("/api/v1/environments", &json!({"slug": "nope"}));
    assert_forbidden(r, "no environments:manage");
    // Token issuance is not a change.
    for _ in 0..3 {
        s.token(&app);
    }
    assert_eq!(count(&s), n, "refusals and tokens are not recorded");
    // One change, one entry.
    s.deactivate("default", &app);
    assert_eq!(count(&s), n + 1);

    // When the audit entry cannot be written, the change is rolled back.
    s.db()
        .execute("ALTER TABLE audit_log RENAME TO audit_log_away");
    let r = admin.post("/api/v1/environments", &json!({"slug": "ghost"}));
    assert_eq!(r.status, 503, "the audit write failed: {r:?}");
    let r = admin.post(
        &format!("{}/activate", s.app_path("default", &app)),
        &json!({}),
    );
    assert_eq!(r.status, 503, "{r:?}");
    s.db()
        .execute("ALTER TABLE audit_log_away RENAME TO audit_log");
    assert_eq!(
        admin.get("/api/v1/environments/ghost").status,
        404,
        "rolled back"
    );
    assert_eq!(get_app(&s, &app)["status"], "INACTIVE", "rolled back");
    assert_eq!(count(&s), n + 1);
}

#[test]
fn the_log_filters_by_environment_actor_subject_and_time_and_pages_newest_first() {
    let s = Server::start();
    s.create_environment("staging");
    let t0 = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(20));
    let apps: Vec<App> = (0..5)
        .map(|i| s.create_app("staging", &format!("app-{i}"), &[]))
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let t1 = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(20));
    s.deactivate("staging", &apps[0]);
    let other = s.create_app("default", "other", &[]);

    let staging = all_entries(&s, "&environment=staging");
    assert_eq!(staging.len(), 7, "{staging:#?}");
    assert!(staging.iter().all(|e| e["environment"] == "staging"));
    let subject = all_entries(&s, &format!("&subject={}", apps[0].client_id));
    assert_eq!(
        actions(&subject),
        ["client_app.deactivated", "client_app.created"]
    );
    let window = all_entries(
        &s,
        &format!(
            "&since={}&until={}",
            urlencode(&t0.to_rfc3339()),
            urlencode(&t1.to_rfc3339())
        ),
    );
    assert_eq!(window.len(), 5, "{window:#?}");
    assert!(window.iter().all(|e| e["action"] == "client_app.created"));
    let mine = all_entries(&s, "&actor=admin&environment=default");
    assert_eq!(actions(&mine), ["client_app.created"]);
    assert_eq!(mine[0]["subject"], other.client_id.as_str());
    assert!(all_entries(&s, "&actor=nobody").is_empty());

    // Pages of two, newest first, with no entry twice or lost.
    let mut seen = Vec::new();
    let mut path = "/api/v1/audit?environment=staging&limit=2".to_owned();
    loop {
        let r = s.bearer(&s.admin).get(&path);
        assert_eq!(r.status, 200, "{r:?}");
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|e| e["id"].as_i64().unwrap()));
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/audit?environment=staging&limit=2&cursor={c}"),
            None => break,
        }
    }
    let ids: Vec<i64> = staging.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, ids);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // Bad parameters: one 422 naming each.
    let r = s
        .bearer(&s.admin)
        .get("/api/v1/audit?environment=Bad!&since=yesterday&until=soon&limit=0&cursor=zz&actor=");
    for field in ["environment", "since", "until", "limit", "cursor", "actor"] {
        assert_validation_error(r.clone(), field, field);
    }
    let r = s.bearer(&s.admin).get(&format!(
        "/api/v1/audit?since={}&until={}",
        urlencode(&t1.to_rfc3339()),
        urlencode(&t0.to_rfc3339())
    ));
    assert_validation_error(r, "until", "until before since");
}

#[test]
fn scoped_callers_read_only_their_environment_with_audit_read() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_role("staging", "auditor", &["audit:read"]);
    s.create_app("staging", "in-staging", &[]);
    s.create_app("default", "in-default", &[]);
    let (_, auditor) = app_with_token(&s, "staging", "auditor-app", &["auditor"]);
    let (_, nobody) = app_with_token(&s, "staging", "nobody-app", &[]);

    let r = s.bearer(&auditor).get("/api/v1/audit");
    assert_eq!(r.status, 200, "{r:?}");
    let items = r.body["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|e| e["environment"] == "staging"),
        "{items:#?}"
    );
    let r = s.bearer(&auditor).get("/api/v1/audit?environment=staging");
    assert_eq!(r.status, 200, "{r:?}");
    assert_forbidden(
        s.bearer(&auditor).get("/api/v1/audit?environment=default"),
        "another environment",
    );
    assert_forbidden(s.bearer(&nobody).get("/api/v1/audit"), "without audit:read");
    assert_unauthenticated(s.anonymous().get("/api/v1/audit"), "no credential");

    // The built-in Admin role holds audit:read, in its app's environment only.
    let (_, app_admin) = app_with_token(&s, "staging", "admin-app", &["Admin"]);
    let r = s.bearer(&app_admin).get("/api/v1/audit");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["environment"] == "staging"));
}

#[test]
fn command_line_changes_are_recorded_as_the_system() {
    let s = Server::start();
    cli(
        &s,
        &[
            "admin",
            "create",
            "--username",
            "night-ops",
            "--role",
            "Super Admin",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    );
    cli(
        &s,
        &["admin", "credential", "--username", "night-ops"],
        None,
    );
    cli(&s, &["keys", "rotate"], None);
    let entries = all_entries(&s, "&actor=cli");
    assert_eq!(
        actions(&entries),
        [
            "signing_key.rotated",
            "user.credential_issued",
            "user.created"
        ],
        "{entries:#?}"
    );
    for e in &entries {
        assert_eq!(e["actor"], json!({"kind": "system", "name": "cli"}));
        assert!(e["address"].is_null());
    }
    assert_eq!(entries[2]["subject"], "night-ops");
    assert_eq!(entries[2]["details"]["role"], "Super Admin");
}

#[test]
fn a_user_with_roles_per_environment_reads_where_they_hold_audit_read() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_role("staging", "auditor", &["audit:read"]);
    s.create_role("default", "reader", &["orders:read"]);
    let r = s.bearer(&s.admin).post(
        "/api/v1/users",
        &json!({"username": "dana", "password": PASSWORD, "roles": [
            {"environment": "staging", "roles": ["auditor"]},
            {"environment": "default", "roles": ["reader"]}]}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let http = reqwest::blocking::Client::new();
    let cookie = s.console_session("dana", PASSWORD).cookie;
    let get = |query: &str| {
        let res = http
            .get(s.url(&format!("/api/v1/audit{query}")))
            .header("Cookie", &cookie)
            .send()
            .unwrap();
        (res.status().as_u16(), res.json::<Value>().unwrap())
    };
    let (status, body) = get("?environment=staging");
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(
        actions(items),
        ["role.created", "environment.created"],
        "{items:#?}"
    );
    assert!(items.iter().all(|e| e["environment"] == "staging"));
    let (status, body) = get("?environment=default");
    assert_eq!(status, 403, "no audit:read in default: {body}");
    let (status, body) = get("");
    assert_eq!(status, 403, "must name the environment: {body}");
    // Their own login is recorded, as theirs, Keyward-wide (not shown to them).
    let logins = all_entries(&s, "&actor=dana");
    assert_eq!(actions(&logins), ["user.logged_in"]);
    assert_eq!(logins[0]["address"], "127.0.0.1");
}

#[test]
fn keys_secrets_bindings_identity_providers_and_sessions_are_recorded_too() {
    let s = Server::start();
    let admin = s.bearer(&s.admin);
    let app = s.create_app("default", "jwt-client", &[]);
    let key = ClientKey::generate("k1");
    register_jwks(&s, "default", &app, &key);
    assert_eq!(
        admin
            .delete(&format!("{}/jwks", s.app_path("default", &app)))
            .status,
        204
    );
    // End the previous secret after a rotation with a grace period.
    rotate_secret(&s, "default", &app, Some(3600));
    let secrets = list_secrets(&s, "default", &app);
    let previous = secrets["items"][1]["id"]
        .as_str()
        .expect("previous")
        .to_owned();
    let r = admin.delete(&format!("{}/{previous}", secrets_path("default", &app)));
    assert_eq!(r.status, 204, "{r:?}");
    // The identity provider, by hand (no discovery), a binding, and its removal.
    let r = admin.put(
        "/api/v1/environments/default/identity-provider",
        &json!({"token_endpoint": "https://idp.example/oauth/token"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = admin.put(
        &format!("{}/external", s.app_path("default", &app)),
        &json!({"external_client_id": "ext-123"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        admin
            .delete("/api/v1/environments/default/identity-provider")
            .status,
        204
    );

    let entries = all_entries(&s, &format!("&subject={}", app.client_id));
    assert_eq!(
        actions(&entries),
        [
            "client_app.external_binding_replaced",
            "secret.ended",
            "secret.rotated",
            "client_app.jwks_removed",
            "client_app.jwks_replaced",
            "client_app.created",
        ],
        "{entries:#?}"
    );
    assert_eq!(
        only(&entries, "client_app.jwks_replaced")["details"]["kids"],
        json!(["k1"])
    );
    assert_eq!(
        only(&entries, "secret.ended")["details"]["secret_id"],
        previous.as_str()
    );
    assert_eq!(
        only(&entries, "client_app.external_binding_replaced")["details"]["external_client_id"],
        "ext-123"
    );
    let idp = all_entries(&s, "&subject=default");
    assert_eq!(
        actions(&idp),
        [
            "identity_provider.deleted",
            "identity_provider.updated",
            "environment.created"
        ]
    );
    assert_eq!(
        only(&idp, "identity_provider.updated")["details"]["token_endpoint"],
        "https://idp.example/oauth/token"
    );

    // A console user's password change and logout; the CLI's password reset.
    let r = admin.post(
        "/api/v1/users",
        &json!({"username": "erin", "password": PASSWORD, "role": "Admin"}),
    );
    assert_eq!(r.status, 201);
    let http = reqwest::blocking::Client::new();
    let ConsoleSession { cookie, csrf } = s.console_session("erin", PASSWORD);
    let new_password = "another long password 42";
    let r = http
        .post(s.url("/console/session/password"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"current_password": PASSWORD, "new_password": new_password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .delete(s.url("/console/session"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    cli(&s, &["admin", "set-password", "--username", "erin"], None);
    let erin = all_entries(&s, "&subject=erin");
    assert_eq!(
        actions(&erin),
        [
            "user.password_set",
            "user.logged_out",
            "user.password_changed",
            "user.logged_in",
            "user.created"
        ],
        "{erin:#?}"
    );
    assert_eq!(erin[0]["actor"], json!({"kind": "system", "name": "cli"}));
    assert_eq!(erin[0]["details"], json!({"one_time": true}));
    for e in &erin[1..4] {
        assert_eq!(e["actor"], json!({"kind": "user", "name": "erin"}));
        assert_eq!(e["address"], "127.0.0.1");
    }
    let rows = s.db().audit_rows_text().join("\n");
    assert!(!rows.contains(new_password) && !rows.contains(PASSWORD));
}
