//! `GET /oauth2/status` (RFC 6750): 401 `{"active": false}` with the right challenge for
//! missing, malformed, forged, foreign and expired tokens, and for tokens of inactive
//! apps or disabled environments until they are active again.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::blocking::Response;
use serde_json::{json, Value};

use crate::harness::{
    assert_invalid_client, basic, eventually, header, jwt_parts, status_with, token_json, Server,
};

/// Asserts the 401 answer of the status endpoint to a bad Bearer credential.
fn assert_status_inactive(res: Response, case: &str) {
    assert_status_inactive_with(
        res,
        "Bearer realm=\"keyward\", error=\"invalid_token\"",
        case,
    );
}

/// Asserts the 401 answer of the status endpoint with its exact challenge: no error
/// code when no Bearer credential was presented (RFC 6750 §3.1).
fn assert_status_inactive_with(res: Response, challenge: &str, case: &str) {
    assert_eq!(res.status(), 401, "{case}");
    let www = header(&res, "www-authenticate").unwrap_or_default();
    assert_eq!(www, challenge, "{case}: WWW-Authenticate");
    let body: Value = res.json().expect("json");
    assert_eq!(body, json!({"active": false}), "{case}");
}

#[test]
fn status_rejects_missing_malformed_and_forged_tokens_with_401_active_false() {
    let s = Server::start();
    let app = s.create_app("default", "status app", &[]);
    let other = s.create_app("default", "other status app", &[]);
    let token = s.token(&app);
    let parts: Vec<&str> = token.split('.').collect();

    // A signature with one character in the middle changed.
    let mut sig: Vec<char> = parts[2].chars().collect();
    let mid = sig.len() / 2;
    sig[mid] = if sig[mid] == 'A' { 'B' } else { 'A' };
    let bad_sig = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        sig.into_iter().collect::<String>()
    );

    // The claims rewritten to another app, the original signature kept.
    let (_, mut claims) = jwt_parts(&token);
    claims["sub"] = json!(other.client_id);
    claims["client_id"] = json!(other.client_id);
    let forged_claims = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );

    // An unsigned token (alg none) with valid claims.
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);

    // A token signed by a different server (another key).
    let stranger = Server::start();
    let foreign_app = stranger.create_app("default", "stranger app", &[]);
    let foreign = stranger.token(&foreign_app);

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("empty Bearer", Some("Bearer ".into())),
        ("Bearer without a token", Some("Bearer".into())),
        (
            "Basic scheme",
            Some(basic(&app.client_id, &app.client_secret)),
        ),
        ("garbage", Some("Bearer not-a-jwt".into())),
        ("three garbage parts", Some("Bearer a.b.c".into())),
        (
            "the client secret",
            Some(format!("Bearer {}", app.client_secret)),
        ),
        ("tampered signature", Some(format!("Bearer {bad_sig}"))),
        ("tampered claims", Some(format!("Bearer {forged_claims}"))),
        ("alg none", Some(format!("Bearer {unsigned}"))),
        ("another server's token", Some(format!("Bearer {foreign}"))),
    ];
    for (case, auth) in cases {
        let res = status_with(&s, auth.as_deref());
        if matches!(case, "no Authorization header" | "Basic scheme") {
            assert_status_inactive_with(res, "Bearer realm=\"keyward\"", case);
        } else {
            assert_status_inactive(res, case);
        }
    }
    // The genuine token is still fine.
    assert_eq!(s.status(&token), 200);
}

#[test]
fn expired_token_is_rejected_by_status_and_a_fresh_one_is_issued() {
    let s = Server::start_with(&[("KEYWARD__TOKENS__LIFETIME_SECONDS", "2")]);
    let app = s.create_app("default", "short lived", &[]);
    let body = token_json(&s, &app, None);
    assert_eq!(body["expires_in"], 2);
    let token = body["access_token"].as_str().expect("token").to_owned();
    let (_, claims) = jwt_parts(&token);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        2
    );
    // Valid at first, so its signature is verified once and remembered; expiry is
    // still checked on every call.
    assert_eq!(s.status(&token), 200);
    assert!(
        eventually(Duration::from_secs(10), || s.status(&token) == 401).is_some(),
        "the token expires"
    );
    assert_status_inactive(
        status_with(&s, Some(&format!("Bearer {token}"))),
        "expired token",
    );
    // The expired token is not handed out again.
    let fresh = token_json(&s, &app, None);
    assert_ne!(fresh["access_token"].as_str(), Some(token.as_str()));
}

#[test]
fn deactivation_flips_status_to_401_and_activation_restores_the_same_token() {
    let s = Server::start();
    let app = s.create_app("default", "flip app", &[]);
    let token = s.token(&app);
    assert_eq!(s.status(&token), 200);
    s.deactivate("default", &app);
    assert_status_inactive(
        status_with(&s, Some(&format!("Bearer {token}"))),
        "inactive app",
    );
    assert_invalid_client(
        s.token_response(&app.client_id, &app.client_secret, None),
        "token for an inactive app",
    );
    s.activate("default", &app);
    assert_eq!(s.status(&token), 200, "the unexpired token works again");
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        200
    );
}

#[test]
fn disabled_environment_refuses_its_tokens_until_enabled_again() {
    let s = Server::start();
    s.create_environment("staging");
    let app = s.create_app("staging", "staging app", &[]);
    let bystander = s.create_app("default", "default app", &[]);
    let token = s.token(&app);
    let other_token = s.token(&bystander);
    s.set_environment_enabled("staging", false);
    assert_status_inactive(
        status_with(&s, Some(&format!("Bearer {token}"))),
        "disabled environment",
    );
    assert_invalid_client(
        s.token_response(&app.client_id, &app.client_secret, None),
        "token in a disabled environment",
    );
    assert_eq!(s.status(&other_token), 200, "other environments unaffected");
    s.set_environment_enabled("staging", true);
    assert_eq!(s.status(&token), 200);
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        200
    );
}
