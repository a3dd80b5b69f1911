//! RFC 8707 `resource`: allowed audiences per environment; and environments kept apart
//! by standard claims (each environment its own issuer).

use serde_json::json;

use crate::harness::{assert_oauth_error, assert_validation_error, claims, post_form_as, Server};

const ORDERS: &str = "https://orders.example.com";

#[test]
fn a_token_is_issued_for_an_allowed_audience_and_refused_for_others() {
    let s = Server::start();
    let app = s.create_app("default", "resource client", &[]);
    let path = "/api/v1/environments/default/audiences";
    assert_eq!(
        s.get(path, &s.admin).json::<serde_json::Value>().unwrap(),
        json!({"audiences": []})
    );
    let grant = [("grant_type", "client_credentials"), ("resource", ORDERS)];
    assert_oauth_error(
        post_form_as(&s, "/oauth2/token", &app, &grant),
        400,
        "invalid_target",
        "not allowed yet",
    );
    let res = s.put(path, &s.admin, json!({"audiences": [ORDERS, ORDERS]}));
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().unwrap(),
        json!({"audiences": [ORDERS]})
    );
    let res = post_form_as(&s, "/oauth2/token", &app, &grant);
    assert_eq!(res.status(), 200);
    let token = res.json::<serde_json::Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(claims(&token)["aud"], ORDERS);
    // A token for the orders API is not a credential for Keyward's own API.
    assert_eq!(s.get("/api/v1/environments", &token).status(), 401);
    // Keyward's own audience may always be asked for.
    let own = [
        ("grant_type", "client_credentials"),
        ("resource", s.base.as_str()),
    ];
    let res = post_form_as(&s, "/oauth2/token", &app, &own);
    assert_eq!(res.status(), 200);
    // Reuse keeps audiences apart.
    let plain = s.token(&app);
    assert_ne!(plain, token);
    assert_eq!(claims(&plain)["aud"], s.base);
    // Removing the audience ends new tokens for it.
    assert_eq!(
        s.put(path, &s.admin, json!({"audiences": []})).status(),
        200
    );
    assert_oauth_error(
        post_form_as(&s, "/oauth2/token", &app, &grant),
        400,
        "invalid_target",
        "removed",
    );
}

#[test]
fn audiences_are_absolute_uris_and_per_environment() {
    let s = Server::start();
    let path = "/api/v1/environments/default/audiences";
    for bad in [
        json!({"audiences": ["orders"]}),
        json!({"audiences": ["https://x#f"]}),
    ] {
        assert_validation_error(s.put(path, &s.admin, bad), "audiences", "bad audience");
    }
    s.create_environment("staging");
    assert_eq!(
        s.put(path, &s.admin, json!({"audiences": [ORDERS]}))
            .status(),
        200
    );
    let staging_app = s.create_app("staging", "staging client", &[]);
    let grant = [("grant_type", "client_credentials"), ("resource", ORDERS)];
    assert_oauth_error(
        post_form_as(&s, "/oauth2/token", &staging_app, &grant),
        400,
        "invalid_target",
        "allowed in default, not in staging",
    );
    // An app without environments:manage cannot change them.
    let app = s.create_app("default", "no manage", &[]);
    let token = s.token(&app);
    assert_eq!(s.put(path, &token, json!({"audiences": []})).status(), 403);
}

#[test]
fn environments_are_apart_by_issuer() {
    let s = Server::start();
    s.create_environment("staging");
    let prod = s.create_app("default", "default client", &[]);
    let staging = s.create_app("staging", "staging client", &[]);
    let a = claims(&s.token(&prod));
    let b = claims(&s.token(&staging));
    assert_eq!(a["iss"], s.base, "default keeps the public URL");
    assert_eq!(b["iss"], s.url("/environments/staging"));
    assert_eq!(a["aud"], b["aud"]);
    assert_ne!(a["iss"], b["iss"], "iss alone tells environments apart");
    // Both still work on Keyward's own API.
    assert_eq!(s.status(&s.token(&staging)), 200);
}
