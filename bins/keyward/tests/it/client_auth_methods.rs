//! Client authentication beyond client_secret_basic: client_secret_post, a `client_id`
//! in the body beside Basic (requests-oauthlib sends both), and private_key_jwt
//! (RFC 7523) with a JWK Set registered on the app.

use serde_json::json;

use crate::harness::{
    assert_invalid_client, assert_oauth_error, assert_validation_error, basic, claims, post_form,
    register_jwks, token_raw, token_with_assertion, ClientKey, Server, FORM,
};

#[test]
fn client_secret_post_gets_a_token() {
    let s = Server::start();
    let app = s.create_app("default", "post client", &[]);
    let res = post_form(
        &s,
        "/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
        ],
    );
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().unwrap();
    assert_eq!(s.status(body["access_token"].as_str().unwrap()), 200);
    // A wrong secret, or a client_id alone: the one invalid_client.
    assert_invalid_client(
        post_form(
            &s,
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
                ("client_secret", "kwcs_wrong"),
            ],
        ),
        "wrong secret by post",
    );
    assert_invalid_client(
        post_form(
            &s,
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
            ],
        ),
        "client_id alone",
    );
}

#[test]
fn a_body_client_id_beside_basic_must_name_the_same_client() {
    let s = Server::start();
    let app = s.create_app("default", "both places", &[]);
    let other = s.create_app("default", "other client", &[]);
    let auth = basic(&app.client_id, &app.client_secret);
    let same = format!("grant_type=client_credentials&client_id={}", app.client_id);
    assert_eq!(token_raw(&s, "", &[&auth], Some(FORM), same).status(), 200);
    let different = format!(
        "grant_type=client_credentials&client_id={}",
        other.client_id
    );
    assert_oauth_error(
        token_raw(&s, "", &[&auth], Some(FORM), different),
        400,
        "invalid_request",
        "different client_id",
    );
    let secret_too = format!(
        "grant_type=client_credentials&client_secret={}",
        crate::harness::urlencode(&app.client_secret)
    );
    assert_oauth_error(
        token_raw(&s, "", &[&auth], Some(FORM), secret_too),
        400,
        "invalid_request",
        "secret in both places",
    );
}

#[test]
fn private_key_jwt_gets_a_token_once_per_assertion() {
    let s = Server::start();
    let app = s.create_app("default", "jwt client", &[]);
    let key = ClientKey::generate("k1");
    register_jwks(&s, "default", &app, &key);
    let token_endpoint = s.url("/oauth2/token");
    let assertion = key.assertion(&app.client_id, &token_endpoint, 60, "jti-1");
    let res = token_with_assertion(&s, &assertion, &[]);
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["client_id"], app.client_id);
    // Replayed: refused, even with a matching client_id parameter.
    assert_invalid_client(
        token_with_assertion(&s, &assertion, &[("client_id", &app.client_id)]),
        "replay",
    );
    // The issuer is an accepted audience too; the client_id parameter must match.
    let by_issuer = key.assertion(&app.client_id, &s.base, 60, "jti-2");
    assert_eq!(
        token_with_assertion(&s, &by_issuer, &[("client_id", &app.client_id)]).status(),
        200
    );
    let other = s.create_app("default", "someone else", &[]);
    let mismatched = key.assertion(&app.client_id, &token_endpoint, 60, "jti-3");
    assert_invalid_client(
        token_with_assertion(&s, &mismatched, &[("client_id", &other.client_id)]),
        "client_id differs from the assertion's",
    );
}

#[test]
fn private_key_jwt_checks_audience_lifetime_subject_and_signature() {
    let s = Server::start();
    let app = s.create_app("default", "strict jwt", &[]);
    let key = ClientKey::generate("k1");
    register_jwks(&s, "default", &app, &key);
    let aud = s.url("/oauth2/token");
    let now = chrono::Utc::now().timestamp();
    let id = app.client_id.as_str();
    let cases = [
        (
            "wrong audience",
            key.assertion(id, "https://elsewhere/token", 60, "a1"),
        ),
        ("lifetime over an hour", key.assertion(id, &aud, 7200, "a2")),
        ("expired", key.assertion(id, &aud, -120, "a3")),
        (
            "no jti",
            key.sign(json!({"iss": id, "sub": id, "aud": aud, "exp": now + 60})),
        ),
        (
            "no exp",
            key.sign(json!({"iss": id, "sub": id, "aud": aud, "jti": "a4"})),
        ),
        (
            "iss differs from sub",
            key.sign(json!({"iss": "x", "sub": id, "aud": aud, "exp": now + 60, "jti": "a5"})),
        ),
        (
            "signed by an unregistered key",
            ClientKey::generate("k1").assertion(id, &aud, 60, "a6"),
        ),
        ("not a JWT", "abc.def.ghi".to_owned()),
    ];
    for (case, assertion) in cases {
        assert_invalid_client(token_with_assertion(&s, &assertion, &[]), case);
    }
    // An app with no JWK Set cannot use assertions.
    let plain = s.create_app("default", "no jwks", &[]);
    assert_invalid_client(
        token_with_assertion(&s, &key.assertion(&plain.client_id, &aud, 60, "b1"), &[]),
        "no registered keys",
    );
    // The assertion type must be jwt-bearer; an assertion beside a secret is refused.
    let good = key.assertion(id, &aud, 60, "c1");
    assert_oauth_error(
        post_form(
            &s,
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:other"),
                ("client_assertion", &good),
            ],
        ),
        400,
        "invalid_request",
        "wrong assertion type",
    );
}

#[test]
fn the_jwks_route_keeps_public_keys_only() {
    let s = Server::start();
    let app = s.create_app("default", "jwks route", &[]);
    let path = format!("{}/jwks", s.app_path("default", &app));
    let got: serde_json::Value = s.get(&path, &s.admin).json().unwrap();
    assert_eq!(got, json!({"keys": []}));
    let key = ClientKey::generate("k1");
    register_jwks(&s, "default", &app, &key);
    let got: serde_json::Value = s.get(&path, &s.admin).json().unwrap();
    assert_eq!(got, key.jwks());
    let private = json!({"keys": [serde_json::Value::Object(key.private.as_ref().clone())]});
    assert_validation_error(s.put(&path, &s.admin, private), "keys", "private key");
    assert_validation_error(
        s.put(&path, &s.admin, json!({"keys": [1]})),
        "keys",
        "not objects",
    );
    assert_validation_error(s.put(&path, &s.admin, json!({"keys": []})), "keys", "empty");
    // An app token without client_apps:manage may not register keys.
    let reader = s.create_app("default", "jwks reader", &[]);
    let token = s.token(&reader);
    assert_eq!(s.put(&path, &token, key.jwks()).status(), 403);
    assert_eq!(s.delete(&path, &s.admin).status(), 204);
    let got: serde_json::Value = s.get(&path, &s.admin).json().unwrap();
    assert_eq!(got, json!({"keys": []}));
    let assertion = key.assertion(&app.client_id, &s.url("/oauth2/token"), 60, "d1");
    assert_invalid_client(token_with_assertion(&s, &assertion, &[]), "keys removed");
}
