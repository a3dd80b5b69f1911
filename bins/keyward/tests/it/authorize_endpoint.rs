//! `POST /api/v1/authorize`: 200 when the token holds the permission, 403 when it does
//! not, 401 without a valid credential, 422 for a malformed permission or environment,
//! and the environment a resource server pins.

use serde_json::json;

use crate::harness::{
    api_keys_path, app_with_token, assert_allowed, assert_denied, assert_forbidden, assert_problem,
    assert_unauthenticated, authorize, create_api_key, key_text, list_api_keys, revoke, Server,
};

#[test]
fn authorize_answers_200_403_401_and_422_for_a_bad_permission() {
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read", "invoices:*"]);
    let (app, token) = app_with_token(&s, "default", "reader", &["orders-reader"]);

    let r = authorize(&s, &token, "orders:read");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["allowed"], json!(true));
    assert_allowed(&s, &token, "invoices:pay", "resource:* grants every action");
    assert_denied(&s, &token, "orders:write", "another action");
    assert_denied(&s, &token, "orders:*", "a wildcard needs the wildcard");
    assert_denied(&s, &token, "client_apps:read", "management permission");

    for bad in [
        "orders",
        "Orders:read",
        "orders:read:x",
        "orders: read",
        ":read",
        "orders:",
    ] {
        let r = authorize(&s, &token, bad);
        assert_problem(&r, 422, "validation-error", &format!("authorize {bad:?}"));
    }

    let r = s
        .anonymous()
        .post("/api/v1/authorize", &json!({"permission": "orders:read"}));
    assert_unauthenticated(&r, "authorize without credential");
    assert_unauthenticated(
        authorize(&s, "garbage", "orders:read"),
        "garbage credential",
    );

    // A Super Admin's personal credential holds every permission.
    assert_allowed(&s, &s.admin, "orders:write", "Super Admin credential");
    assert_allowed(&s, &s.admin, "admins:manage", "Super Admin credential");

    s.deactivate("default", &app);
    let r = authorize(&s, &token, "orders:read");
    assert_unauthenticated(&r, "authorize after deactivation");
    s.activate("default", &app);
    assert_allowed(&s, &token, "orders:read", "activation restores the token");
}

#[test]
fn authorize_can_pin_the_environment_a_resource_server_serves() {
    let s = Server::start();
    s.create_environment("staging");
    for env in ["default", "staging"] {
        s.create_role(env, "orders-reader", &["orders:read"]);
    }
    let (_, staging_token) = app_with_token(&s, "staging", "shop", &["orders-reader"]);
    let check = |env: Option<&str>| {
        let mut body = json!({"permission": "orders:read"});
        if let Some(env) = env {
            body["environment"] = json!(env);
        }
        s.bearer(&staging_token).post("/api/v1/authorize", &body)
    };
    let own = check(None);
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(own.body["environment"], "staging");
    assert_eq!(check(Some("staging")).status, 200);
    let other = check(Some("default"));
    assert_forbidden(&other, "a staging token asking about production");
    assert_eq!(other.body["allowed"], false);
    assert_problem(
        check(Some("Not A Slug")),
        422,
        "validation-error",
        "invalid environment",
    );
}

#[test]
fn authorize_reads_only_a_json_object_with_its_own_fields() {
    // The body is read straight into its type when it is well formed (the hot path);
    // anything else gets the same answers as every other management body.
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read"]);
    let (_app, token) = app_with_token(&s, "default", "reader", &["orders-reader"]);
    let raw = |body: &str, content_type: &str| {
        let r = s
            .http()
            .post(s.url("/api/v1/authorize"))
            .bearer_auth(&token)
            .header("Content-Type", content_type)
            .body(body.to_owned())
            .send()
            .expect("request");
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().unwrap_or_default();
        (status, body)
    };
    let (status, body) = raw(r#"{"permission":"orders:read"}"#, "application/json");
    assert_eq!((status, &body["allowed"]), (200, &json!(true)));
    let (status, _) = raw(
        r#" {"permission":"orders:read","environment":null}"#,
        "application/json",
    );
    assert_eq!(status, 200, "a null optional field is absent");

    let (status, body) = raw(
        r#"{"permission":"orders:read","extra":1}"#,
        "application/json",
    );
    assert_eq!(status, 422, "an unknown field: {body}");
    assert!(
        body.to_string().contains("extra"),
        "the field is named: {body}"
    );
    let (status, body) = raw(r#"["orders:read"]"#, "application/json");
    assert_eq!(status, 400, "an array is not an object: {body}");
    let (status, body) = raw(r#"{"permission":5}"#, "application/json");
    assert_eq!(status, 422, "a number is not a permission: {body}");
    let (status, body) = raw(r#"{"permission":null}"#, "application/json");
    assert_eq!(status, 422, "a null permission is missing: {body}");
    let (status, body) = raw(r#"{"permission":"orders:read""#, "application/json");
    assert_eq!(status, 400, "truncated JSON: {body}");
    let (status, body) = raw(r#"{"permission":"orders:read"}"#, "text/plain");
    assert_eq!(status, 415, "not JSON: {body}");
    // A repeated key: the last one counts, as for every other body.
    let (status, body) = raw(
        r#"{"permission":"orders:write","permission":"orders:read"}"#,
        "application/json",
    );
    assert_eq!(
        (status, &body["permission"]),
        (200, &json!("orders:read")),
        "{body}"
    );
}

/// Each worker answers a byte-for-byte repeat of an allowed request from its own memory
/// (the warm answer). Asked many times, so every worker has one, the answer still
/// follows every change from the very next call: a role edit, deactivation,
/// revocation of the token, deletion of an API key.
#[test]
fn a_repeated_authorize_follows_roles_status_and_revocation_at_once() {
    const REPEATS: usize = 24;
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read"]);
    let (app, token) = app_with_token(&s, "default", "reader", &["orders-reader"]);
    let key = key_text(&create_api_key(&s, "default", &app, "warm key"));
    let repeat = |credential: &str, status: u16, context: &str| {
        for i in 0..REPEATS {
            let r = authorize(&s, credential, "orders:read");
            assert_eq!(r.status, status, "{context}, call {i}: {r:?}");
            if status != 401 {
                assert_eq!(r.body["allowed"], json!(status == 200), "{context}: {r:?}");
            }
        }
    };
    for credential in [&token, &key] {
        repeat(credential, 200, "warm");
        let r = authorize(&s, credential, "orders:read");
        assert_eq!(
            r.body,
            json!({"allowed": true, "permission": "orders:read", "environment": "default"}),
            "a warm answer is the answer"
        );
    }

    // The role loses the permission: 403 from the next call on.
    let role = "/api/v1/environments/default/roles/orders-reader";
    let r = s
        .bearer(&s.admin)
        .put(role, &json!({"permissions": ["invoices:read"]}));
    assert_eq!(r.status, 200, "{r:?}");
    repeat(&token, 403, "token after the role edit");
    repeat(&key, 403, "API key after the role edit");
    let r = s
        .bearer(&s.admin)
        .put(role, &json!({"permissions": ["orders:read"]}));
    assert_eq!(r.status, 200, "{r:?}");
    repeat(&token, 200, "token after the role is restored");
    repeat(&key, 200, "API key after the role is restored");

    // Deactivation: 401 for both credentials from the next call on.
    s.deactivate("default", &app);
    repeat(&token, 401, "token after deactivation");
    repeat(&key, 401, "API key after deactivation");
    s.activate("default", &app);
    repeat(&token, 200, "token after activation");
    repeat(&key, 200, "API key after activation");

    // The token revoked, the API key deleted: 401 from the next call on.
    assert_eq!(revoke(&s, &app, &token).status(), 200);
    repeat(&token, 401, "revoked token");
    let keys = list_api_keys(&s, "default", &app);
    let id = keys["items"][0]["id"].as_str().expect("id").to_owned();
    let r = s
        .bearer(&s.admin)
        .delete(&format!("{}/{id}", api_keys_path("default", &app)));
    assert_eq!(r.status, 204, "{r:?}");
    repeat(&key, 401, "deleted API key");
}
