//! RFC 7662 introspection: the caller authenticates as a client app holding
//! `tokens:introspect`; `active` comes from live state.

use serde_json::json;

use crate::harness::{
    assert_invalid_client, assert_oauth_error, basic, create_api_key, key_text, post_form,
    post_form_as, rotate_secret, App, Server,
};
use crate::harness::{introspect, revoke};

/// A resource server's app (may introspect) and a client app with a token.
fn setup(s: &Server) -> (App, App, String) {
    s.create_role("default", "introspector", &["tokens:introspect"]);
    s.create_role("default", "reader", &["orders:read"]);
    let rs = s.create_app("default", "resource server", &["introspector"]);
    let client = s.create_app("default", "orders client", &["reader"]);
    let token = s.token(&client);
    (rs, client, token)
}

#[test]
fn an_active_token_is_described_with_the_rfc_fields() {
    let s = Server::start();
    let (rs, client, token) = setup(&s);
    let body = introspect(&s, &rs, &token);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], client.client_id);
    assert_eq!(body["sub"], client.client_id);
    assert_eq!(body["scope"], "orders:read");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], s.base);
    assert_eq!(body["aud"], s.base);
    assert_eq!(body["env"], "default");
    assert!(body["exp"].as_i64().unwrap() > body["iat"].as_i64().unwrap());
    // client_secret_post works here too.
    let res = post_form(
        &s,
        "/oauth2/introspect",
        &[
            ("token", &token),
            ("client_id", &rs.client_id),
            ("client_secret", &rs.client_secret),
        ],
    );
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().unwrap()["active"], true);
}

#[test]
fn live_state_decides_active() {
    let s = Server::start();
    let (rs, client, token) = setup(&s);
    s.deactivate("default", &client);
    assert_eq!(introspect(&s, &rs, &token), json!({"active": false}));
    s.activate("default", &client);
    assert_eq!(introspect(&s, &rs, &token)["active"], true);
    // Revoked.
    assert_eq!(revoke(&s, &client, &token).status(), 200);
    assert_eq!(introspect(&s, &rs, &token), json!({"active": false}));
    // Garbage and unknown kinds.
    for junk in ["", "x", "eyJ.eyJ.sig", "kwak_nope"] {
        if junk.is_empty() {
            continue;
        }
        assert_eq!(
            introspect(&s, &rs, junk),
            json!({"active": false}),
            "{junk}"
        );
    }
}

#[test]
fn a_disabled_environment_makes_its_tokens_inactive() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_role("staging", "introspector", &["tokens:introspect"]);
    let rs = s.create_app("staging", "resource server", &["introspector"]);
    let client = s.create_app("staging", "client", &[]);
    let token = s.token(&client);
    assert_eq!(introspect(&s, &rs, &token)["active"], true);
    let res = s.api(
        reqwest::Method::PATCH,
        "/api/v1/environments/staging",
        &s.admin,
        Some(json!({"enabled": false})),
    );
    assert_eq!(res.status(), 200);
    // The caller lives there too, so it cannot even authenticate now.
    assert_invalid_client(
        post_form_as(&s, "/oauth2/introspect", &rs, &[("token", &token)]),
        "caller in a disabled environment",
    );
    // A global introspector (Super Admin app in default) sees it inactive.
    let global = s.create_app("default", "global rs", &["Super Admin"]);
    assert_eq!(introspect(&s, &global, &token), json!({"active": false}));
}

#[test]
fn an_expired_token_is_inactive() {
    let s = Server::start_with(&[("KEYWARD__TOKENS__LIFETIME_SECONDS", "1")]);
    let (rs, _client, token) = setup(&s);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(introspect(&s, &rs, &token), json!({"active": false}));
}

#[test]
fn api_keys_can_be_introspected() {
    let s = Server::start();
    let (rs, client, _) = setup(&s);
    let key = key_text(&create_api_key(&s, "default", &client, "ci"));
    let body = introspect(&s, &rs, &key);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "api_key");
    assert_eq!(body["client_id"], client.client_id);
    s.deactivate("default", &client);
    assert_eq!(introspect(&s, &rs, &key), json!({"active": false}));
}

#[test]
fn callers_need_the_permission_and_see_only_their_environment() {
    let s = Server::start();
    let (_rs, client, token) = setup(&s);
    // Without tokens:introspect: 403 unauthorized_client.
    assert_oauth_error(
        post_form_as(&s, "/oauth2/introspect", &client, &[("token", &token)]),
        403,
        "unauthorized_client",
        "no tokens:introspect",
    );
    // An introspector of another environment sees the token as inactive.
    s.create_environment("staging");
    s.create_role("staging", "introspector", &["tokens:introspect"]);
    let other = s.create_app("staging", "staging rs", &["introspector"]);
    assert_eq!(introspect(&s, &other, &token), json!({"active": false}));
    // No client authentication, a wrong secret: 401 invalid_client.
    assert_invalid_client(
        post_form(&s, "/oauth2/introspect", &[("token", &token)]),
        "anonymous",
    );
    let res = s
        .http()
        .post(s.url("/oauth2/introspect"))
        .header("authorization", basic(&client.client_id, "kwcs_wrong"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .unwrap();
    assert_invalid_client(res, "bad secret");
    // No token parameter; not a form; token in the query string.
    let rs = s.create_app("default", "rs two", &["introspector"]);
    assert_oauth_error(
        post_form_as(&s, "/oauth2/introspect", &rs, &[]),
        400,
        "invalid_request",
        "no token",
    );
    let res = s
        .http()
        .post(s.url(&format!("/oauth2/introspect?token={token}")))
        .header("authorization", basic(&rs.client_id, &rs.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .unwrap();
    assert_oauth_error(res, 400, "invalid_request", "token in the query string");
}

/// Each worker answers a byte-for-byte repeat of an introspection request from its own
/// memory (the warm answer). Asked many times, so every worker has one, the answer
/// still follows every change from the very next call: the token's app deactivated,
/// the resource server losing `tokens:introspect` or deactivated, its secret rotated
/// away, the token revoked.
#[test]
fn a_repeated_introspection_follows_live_state_at_once() {
    const REPEATS: usize = 24;
    let s = Server::start();
    let (rs, client, token) = setup(&s);
    let repeat_n =
        |n: usize, rs: &App, expect: &dyn Fn(u16, &serde_json::Value) -> bool, context: &str| {
            for i in 0..n {
                let res = post_form_as(&s, "/oauth2/introspect", rs, &[("token", &token)]);
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().expect("json");
                assert!(
                    expect(status, &body),
                    "{context}, call {i}: {status} {body}"
                );
            }
        };
    let repeat = |rs: &App, expect: &dyn Fn(u16, &serde_json::Value) -> bool, context: &str| {
        repeat_n(REPEATS, rs, expect, context)
    };
    let active = |status: u16, body: &serde_json::Value| {
        status == 200 && body["active"] == json!(true) && body["scope"] == json!("orders:read")
    };
    let inactive =
        |status: u16, body: &serde_json::Value| status == 200 && *body == json!({"active": false});
    let refused = |status: u16, body: &serde_json::Value| {
        status == 403 && body["error"] == json!("unauthorized_client")
    };
    let unknown_client = |status: u16, body: &serde_json::Value| {
        status == 401 && body["error"] == json!("invalid_client")
    };
    repeat(&rs, &active, "warm");

    s.deactivate("default", &client);
    repeat(&rs, &inactive, "the token's app deactivated");
    s.activate("default", &client);
    repeat(&rs, &active, "the token's app active again");

    s.set_roles("default", &rs, &[]);
    repeat(
        &rs,
        &refused,
        "the resource server without tokens:introspect",
    );
    s.set_roles("default", &rs, &["introspector"]);
    repeat(&rs, &active, "the role given back");

    s.deactivate("default", &rs);
    repeat(&rs, &unknown_client, "the resource server deactivated");
    s.activate("default", &rs);
    repeat(&rs, &active, "the resource server active again");

    // Its secret rotated with no grace period: the old one is refused at once (a few
    // times only: ten failures in a row would throttle the client ID).
    let rotated = rotate_secret(&s, "default", &rs, Some(0));
    repeat_n(5, &rs, &unknown_client, "the old secret after rotation");
    let rs = App {
        client_secret: rotated["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
        ..rs
    };
    repeat(&rs, &active, "the new secret");

    assert_eq!(revoke(&s, &client, &token).status(), 200);
    repeat(&rs, &inactive, "the token revoked");
}
