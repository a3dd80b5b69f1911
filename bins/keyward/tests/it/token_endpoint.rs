//! `POST /oauth2/token` over real HTTP (SPEC.md §2, RFC 6749): a Bearer token marked
//! no-store, its scope and down-scoping, how parameters and credentials are read, the
//! 400 and 413 answers to malformed requests, and token reuse.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::harness::{
    assert_oauth_error, basic, header, jwt_parts, status_with, token_json, token_raw, urlencode,
    Server, FORM, GRANT,
};

// ----- success -----

#[test]
fn token_request_with_basic_credentials_returns_a_bearer_token_marked_no_store() {
    let s = Server::start();
    let app = s.create_app("default", "token app", &[]);
    let res = s.token_response(&app.client_id, &app.client_secret, None);
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    let body: Value = res.json().expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86400);
    assert_eq!(body["scope"], "", "an app without roles has an empty scope");
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(token.split('.').count(), 3, "a compact JWS");
    let res = status_with(&s, Some(&format!("Bearer {token}")));
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().expect("json"), json!({"active": true}));
}

#[test]
fn token_scope_lists_the_apps_permissions_sorted_when_no_scope_is_requested() {
    let s = Server::start();
    s.create_role("default", "order writer", &["orders:write", "orders:read"]);
    s.create_role("default", "billing", &["billing:read"]);
    let app = s.create_app("default", "scoped app", &["order writer", "billing"]);
    let body = token_json(&s, &app, None);
    assert_eq!(body["scope"], "billing:read orders:read orders:write");
    let (_, claims) = jwt_parts(body["access_token"].as_str().expect("token"));
    assert_eq!(claims["scope"], "billing:read orders:read orders:write");
}

#[test]
fn scope_parameter_down_scopes_the_token_to_granted_permissions() {
    let s = Server::start();
    s.create_role("default", "orders", &["orders:read", "orders:write"]);
    let app = s.create_app("default", "down scoped", &["orders"]);
    let body = token_json(&s, &app, Some("orders:read"));
    assert_eq!(body["scope"], "orders:read");
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(jwt_parts(token).1["scope"], "orders:read");
    assert_eq!(s.status(token), 200);
    // Several permissions, space-separated, in any order.
    let body = token_json(&s, &app, Some("orders:write orders:read"));
    assert_eq!(body["scope"], "orders:read orders:write");
}

#[test]
fn scope_that_is_not_granted_malformed_or_blank_is_invalid_scope() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "scope errors", &["reader"]);
    for scope in [
        "orders:write",
        "orders:read orders:write",
        "invoices:read",
        "Orders:Read",
        "orders",
        "orders:read:all",
        "*:*",
        " ",
    ] {
        let res = s.token_response(&app.client_id, &app.client_secret, Some(scope));
        assert_oauth_error(res, 400, "invalid_scope", &format!("scope={scope:?}"));
    }
    // Nothing was issued by the refusals: a plain request still works.
    assert_eq!(token_json(&s, &app, None)["scope"], "orders:read");
}

#[test]
fn parameters_sent_without_a_value_are_treated_as_omitted() {
    // RFC 6749 §3.2: `scope=` is no scope (an unrestricted token), and an empty
    // `client_id=` in the body does not count as a second set of credentials.
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "empty params", &["reader"]);
    let res = s.token_response(&app.client_id, &app.client_secret, Some(""));
    assert_eq!(res.status(), 200);
    let body: Value = res.json().expect("json");
    assert_eq!(body["scope"], "orders:read");
    assert!(jwt_parts(body["access_token"].as_str().expect("token"))
        .1
        .get("scope_restricted")
        .is_none());
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", app.client_id, app.client_secret))
    );
    let res = token_raw(
        &s,
        "",
        &[&auth],
        Some(FORM),
        "grant_type=client_credentials&client_id=&client_secret=",
    );
    assert_eq!(res.status(), 200);
}

#[test]
fn percent_encoded_client_id_and_secret_in_the_basic_header_are_accepted() {
    let s = Server::start();
    let app = s.create_app("default", "percent app", &[]);
    let every_char = |t: &str| -> String { t.bytes().map(|b| format!("%{b:02X}")).collect() };
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            every_char(&app.client_id),
            every_char(&app.client_secret)
        ))
    );
    let res = token_raw(&s, "", &[&auth], Some(FORM), GRANT);
    assert_eq!(res.status(), 200);
    let body: Value = res.json().expect("json");
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(jwt_parts(token).1["client_id"], app.client_id.as_str());
    assert_eq!(s.status(token), 200);
}

// ----- 400 / 413 -----

#[test]
fn malformed_token_requests_are_400_invalid_request() {
    let s = Server::start();
    let app = s.create_app("default", "malformed requests", &[]);
    let auth = basic(&app.client_id, &app.client_secret);
    let json_body = json!({"grant_type": "client_credentials"}).to_string();
    // (case, query string, Authorization headers, content type, body)
    type Case<'a> = (&'a str, String, Vec<String>, Option<&'a str>, String);
    let cases: Vec<Case> = vec![
        (
            "a JSON body",
            String::new(),
            vec![auth.clone()],
            Some("application/json"),
            json_body,
        ),
        (
            "an empty body",
            String::new(),
            vec![auth.clone()],
            Some(FORM),
            String::new(),
        ),
        (
            "no content type",
            String::new(),
            vec![auth.clone()],
            None,
            GRANT.into(),
        ),
        (
            "text/plain",
            String::new(),
            vec![auth.clone()],
            Some("text/plain"),
            GRANT.into(),
        ),
        (
            "repeated grant_type",
            String::new(),
            vec![auth.clone()],
            Some(FORM),
            format!("{GRANT}&{GRANT}"),
        ),
        (
            "repeated scope",
            String::new(),
            vec![auth.clone()],
            Some(FORM),
            format!("{GRANT}&scope=a:b&scope=a:b"),
        ),
        (
            "missing grant_type",
            String::new(),
            vec![auth.clone()],
            Some(FORM),
            "scope=a:b".into(),
        ),
        (
            "empty grant_type",
            String::new(),
            vec![auth.clone()],
            Some(FORM),
            "grant_type=".into(),
        ),
        (
            "client_secret in the query string",
            format!("?client_secret={}", urlencode(&app.client_secret)),
            vec![auth.clone()],
            Some(FORM),
            GRANT.into(),
        ),
        (
            "client_id and client_secret in the query string",
            format!(
                "?client_id={}&client_secret={}",
                app.client_id,
                urlencode(&app.client_secret)
            ),
            vec![],
            Some(FORM),
            GRANT.into(),
        ),
        (
            // The same client_id beside Basic is accepted (client_auth_methods.rs).
            "Basic header and another client_id in the body",
            String::new(),
            vec![auth.clone()],
            Some(FORM),
            format!("{GRANT}&client_id=AAAAAAAAAAAAAAAAAAAAAA"),
        ),
        (
            "Basic header and client_secret in the body",
            String::new(),
            vec![auth.clone()],
            Some(FORM),
            format!("{GRANT}&client_secret={}", urlencode(&app.client_secret)),
        ),
        (
            "two Authorization headers",
            String::new(),
            vec![auth.clone(), auth.clone()],
            Some(FORM),
            GRANT.into(),
        ),
    ];
    for (case, query, auths, ct, body) in cases {
        let auths: Vec<&str> = auths.iter().map(String::as_str).collect();
        let res = token_raw(&s, &query, &auths, ct, body);
        assert_oauth_error(res, 400, "invalid_request", case);
    }
    // The same request, well formed, succeeds.
    assert_eq!(token_raw(&s, "", &[&auth], Some(FORM), GRANT).status(), 200);
}

#[test]
fn grant_types_other_than_client_credentials_are_unsupported_grant_type() {
    let s = Server::start();
    let app = s.create_app("default", "grant types", &[]);
    let auth = basic(&app.client_id, &app.client_secret);
    for grant in [
        "password",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
    ] {
        let res = token_raw(
            &s,
            "",
            &[&auth],
            Some(FORM),
            format!("grant_type={}", urlencode(grant)),
        );
        assert_oauth_error(res, 400, "unsupported_grant_type", grant);
    }
}

#[test]
fn token_request_body_over_16_kib_is_413_invalid_request() {
    let s = Server::start();
    let app = s.create_app("default", "big body", &[]);
    let auth = basic(&app.client_id, &app.client_secret);
    let big = format!("{GRANT}&scope={}", "a".repeat(17 * 1024));
    let res = token_raw(&s, "", &[&auth], Some(FORM), big);
    assert_oauth_error(res, 413, "invalid_request", "17 KiB body");
    // Just under the limit the body is read and judged on its content.
    let under = format!("{GRANT}&scope={}", "a".repeat(15 * 1024));
    let res = token_raw(&s, "", &[&auth], Some(FORM), under);
    assert_oauth_error(res, 400, "invalid_scope", "15 KiB body");
}

// ----- token reuse -----

#[test]
fn repeat_token_request_reuses_the_token_while_more_than_half_its_lifetime_remains() {
    let s = Server::start();
    s.create_role("default", "orders", &["orders:read", "orders:write"]);
    let app = s.create_app("default", "reuse app", &["orders"]);
    let first = token_json(&s, &app, None);
    let second = token_json(&s, &app, None);
    assert_eq!(second["access_token"], first["access_token"]);
    let left = second["expires_in"].as_i64().expect("expires_in");
    assert!(
        left <= 86400 && left > 86400 / 2,
        "expires_in counts the seconds left: {left}"
    );
    let exp = jwt_parts(first["access_token"].as_str().expect("token")).1["exp"]
        .as_i64()
        .expect("exp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!((exp - now - left).abs() <= 5, "expires_in matches exp");
    // Another scope is another token.
    let scoped = token_json(&s, &app, Some("orders:read"));
    assert_ne!(scoped["access_token"], first["access_token"]);
    assert_eq!(
        token_json(&s, &app, Some("orders:read"))["access_token"],
        scoped["access_token"]
    );
}

#[test]
fn token_reuse_disabled_issues_a_new_token_each_time() {
    let s = Server::start_with(&[("KEYWARD__TOKENS__REUSE", "false")]);
    let app = s.create_app("default", "no reuse", &[]);
    let a = token_json(&s, &app, None);
    let b = token_json(&s, &app, None);
    assert_ne!(a["access_token"], b["access_token"]);
    assert_eq!(b["expires_in"], 86400);
    let (_, ca) = jwt_parts(a["access_token"].as_str().expect("token"));
    let (_, cb) = jwt_parts(b["access_token"].as_str().expect("token"));
    assert_ne!(ca["jti"], cb["jti"]);
    for t in [&a, &b] {
        assert_eq!(s.status(t["access_token"].as_str().expect("token")), 200);
    }
}
