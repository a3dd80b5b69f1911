//! `POST /oauth2/token`, `GET /oauth2/status` and `GET /.well-known/jwks.json` over real
//! HTTP: every documented status code and error body (SPEC.md §2, RFC 6749 / 6750 / 9068).

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::blocking::Response;
use serde_json::{json, Value};

use crate::harness::{eventually, jwt_parts, urlencode, App, Server};

const FORM: &str = "application/x-www-form-urlencoded";
const GRANT: &str = "grant_type=client_credentials";

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic(client_id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", urlencode(client_id), urlencode(secret)))
    )
}

/// A hand-built token request: optional query, Authorization headers, content type, body.
fn token_raw(
    s: &Server,
    query: &str,
    authorizations: &[&str],
    content_type: Option<&str>,
    body: impl Into<reqwest::blocking::Body>,
) -> Response {
    let mut req = s.http().post(s.url(&format!("/oauth2/token{query}")));
    for a in authorizations {
        req = req.header(reqwest::header::AUTHORIZATION, *a);
    }
    if let Some(ct) = content_type {
        req = req.header(reqwest::header::CONTENT_TYPE, ct);
    }
    req.body(body).send().expect("token request")
}

fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
}

/// Asserts an RFC 6749 §5.2 error: status, `error`, a description, `Cache-Control: no-store`.
fn assert_oauth_error(res: Response, status: u16, error: &str, case: &str) -> Value {
    assert_eq!(res.status(), status, "{case}");
    assert_eq!(
        header(&res, "cache-control").as_deref(),
        Some("no-store"),
        "{case}: Cache-Control"
    );
    let body: Value = res.json().expect("json error body");
    assert_eq!(body["error"], error, "{case}: {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{case}: error_description in {body}"
    );
    body
}

/// Asserts the one 401 `invalid_client` answer, identical whatever the cause.
fn assert_invalid_client(res: Response, case: &str) {
    assert_eq!(res.status(), 401, "{case}");
    assert_eq!(
        header(&res, "www-authenticate").as_deref(),
        Some("Basic realm=\"keyward\""),
        "{case}: WWW-Authenticate"
    );
    assert_eq!(
        header(&res, "cache-control").as_deref(),
        Some("no-store"),
        "{case}: Cache-Control"
    );
    let body: Value = res.json().expect("json");
    assert_eq!(
        body,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        "{case}"
    );
}

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

fn status_with(s: &Server, authorization: Option<&str>) -> Response {
    let mut req = s.http().get(s.url("/oauth2/status"));
    if let Some(a) = authorization {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    req.send().expect("status")
}

fn token_json(s: &Server, app: &App, scope: Option<&str>) -> Value {
    let res = s.token_response(&app.client_id, &app.client_secret, scope);
    assert_eq!(res.status(), 200, "token for {}", app.client_id);
    res.json().expect("json")
}

/// A secret of the right shape whose checksum no longer matches (one character changed).
fn with_broken_checksum(secret: &str) -> String {
    let mut chars: Vec<char> = secret.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

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
            "Basic header and client_id in the body",
            String::new(),
            vec![auth.clone()],
            Some(FORM),
            format!("{GRANT}&client_id={}", app.client_id),
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

// ----- 401 invalid_client -----

#[test]
fn client_authentication_failures_all_get_the_same_401_invalid_client() {
    let s = Server::start();
    let app = s.create_app("default", "auth failures", &[]);
    let other = s.create_app("default", "other app", &[]);
    let enc = |raw: &str| format!("Basic {}", STANDARD.encode(raw));
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        (
            "unknown client ID",
            vec![basic("AAAAAAAAAAAAAAAAAAAAAA", &app.client_secret)],
            GRANT.into(),
        ),
        (
            "wrong secret (another app's)",
            vec![basic(&app.client_id, &other.client_secret)],
            GRANT.into(),
        ),
        (
            "secret with a broken checksum",
            vec![basic(
                &app.client_id,
                &with_broken_checksum(&app.client_secret),
            )],
            GRANT.into(),
        ),
        (
            "secret that is not a Keyward secret",
            vec![basic(&app.client_id, "hunter2")],
            GRANT.into(),
        ),
        ("no Authorization header", vec![], GRANT.into()),
        (
            "credentials only in the body (client_secret_post)",
            vec![],
            format!(
                "{GRANT}&client_id={}&client_secret={}",
                app.client_id,
                urlencode(&app.client_secret)
            ),
        ),
        (
            "Basic with bad base64",
            vec!["Basic !!!not-base64!!!".into()],
            GRANT.into(),
        ),
        (
            "Basic without a colon",
            vec![enc(&format!("{}{}", app.client_id, app.client_secret))],
            GRANT.into(),
        ),
        (
            "Basic with an empty client ID",
            vec![enc(&format!(":{}", app.client_secret))],
            GRANT.into(),
        ),
        (
            "Basic with an empty secret",
            vec![enc(&format!("{}:", app.client_id))],
            GRANT.into(),
        ),
        (
            "Basic without credentials",
            vec!["Basic".into()],
            GRANT.into(),
        ),
        (
            "Bearer scheme",
            vec![format!("Bearer {}", app.client_secret)],
            GRANT.into(),
        ),
        (
            "Digest scheme",
            vec![format!("Digest {}", STANDARD.encode("a:b"))],
            GRANT.into(),
        ),
    ];
    for (case, auths, body) in cases {
        let auths: Vec<&str> = auths.iter().map(String::as_str).collect();
        assert_invalid_client(token_raw(&s, "", &auths, Some(FORM), body), case);
    }
    // None of that locked the real client out (fewer than 10 failures).
    assert_eq!(token_json(&s, &app, None)["token_type"], "Bearer");
}

#[test]
fn inactive_or_deleted_apps_and_disabled_environments_get_the_same_401_invalid_client() {
    let s = Server::start();
    s.create_environment("staging");
    let inactive = s.create_app("default", "inactive app", &[]);
    let deleted = s.create_app("default", "deleted app", &[]);
    let disabled = s.create_app("staging", "disabled env app", &[]);
    for app in [&inactive, &deleted] {
        s.deactivate("default", app);
    }
    assert_eq!(
        s.delete(&s.app_path("default", &deleted), &s.admin)
            .status(),
        204
    );
    s.set_environment_enabled("staging", false);
    for (case, app) in [
        ("inactive app", &inactive),
        ("deleted app", &deleted),
        ("disabled environment", &disabled),
    ] {
        assert_invalid_client(
            s.token_response(&app.client_id, &app.client_secret, None),
            case,
        );
    }
}

#[test]
fn repeated_wrong_secrets_throttle_a_client_id_with_429_but_not_a_verified_client() {
    let s = Server::start_with(&[("KEYWARD__SECURITY__MAX_FAILED_ATTEMPTS", "3")]);
    let warm = s.create_app("default", "warm app", &[]);
    let cold = s.create_app("default", "cold app", &[]);
    let bystander = s.create_app("default", "bystander", &[]);
    // `warm` proves its secret once before the attack.
    let first = s.token(&warm);
    for app in [&warm, &cold] {
        for i in 0..3 {
            assert_invalid_client(
                s.token_response(&app.client_id, &bystander.client_secret, None),
                &format!("wrong secret #{i}"),
            );
        }
        let res = s.token_response(&app.client_id, &bystander.client_secret, None);
        let retry_after = header(&res, "retry-after").expect("Retry-After on 429");
        assert!(
            retry_after.parse::<u64>().is_ok_and(|n| n >= 1),
            "Retry-After is a positive number of seconds: {retry_after}"
        );
        assert_oauth_error(
            res,
            429,
            "temporarily_unavailable",
            "throttled wrong secret",
        );
    }
    // The throttled client ID that never proved its secret: a wrong secret is still
    // 429, while the right one gets through on the one verification a second that a
    // throttled (client, source) keeps on idle capacity — an attacker sharing the
    // client's address cannot lock it out (issue 19, F7)...
    let took = eventually(std::time::Duration::from_secs(5), || {
        s.token_response(&cold.client_id, &cold.client_secret, None)
            .status()
            == 200
    });
    assert!(took.is_some(), "the correct secret gets through while throttled");
    assert_oauth_error(
        s.token_response(&cold.client_id, &bystander.client_secret, None),
        429,
        "temporarily_unavailable",
        "throttled, wrong secret",
    );
    // ...while the client that already proved it keeps getting tokens,
    let res = s.token_response(&warm.client_id, &warm.client_secret, None);
    assert_eq!(res.status(), 200, "a verified client is not locked out");
    let body: Value = res.json().expect("json");
    assert_eq!(body["access_token"], first.as_str());
    // and other client IDs are not affected.
    assert_eq!(
        s.token_response(&bystander.client_id, &bystander.client_secret, None)
            .status(),
        200
    );
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

// ----- status -----

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

// ----- JWT format and keys -----

#[test]
fn tokens_are_rfc9068_es256_jwts_signed_by_a_key_in_the_jwks() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "jwt app", &["reader"]);
    let res = s.get_anonymous("/.well-known/jwks.json");
    assert_eq!(res.status(), 200);
    let jwks: Value = res.json().expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for k in keys {
        assert_eq!(k["kty"], "EC");
        assert_eq!(k["crv"], "P-256");
        assert_eq!(k["alg"], "ES256");
        assert_eq!(k["use"], "sig");
        assert!(k["x"].is_string() && k["y"].is_string() && k["kid"].is_string());
        assert!(k.get("d").is_none(), "no private key material in the JWKS");
    }

    let token = s.token(&app);
    let (header, claims) = jwt_parts(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let kid = header["kid"].as_str().expect("kid");
    assert!(
        keys.iter().any(|k| k["kid"] == kid),
        "kid {kid} is in the JWKS"
    );

    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["sub"], app.client_id.as_str());
    assert_eq!(claims["client_id"], app.client_id.as_str());
    assert!(!claims["aud"].is_null(), "aud is set");
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["env"], "default");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let (iat, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["exp"].as_i64().expect("exp"),
    );
    assert_eq!(exp - iat, 86400);
}

#[test]
fn eddsa_and_rs256_settings_issue_tokens_of_that_algorithm_that_pass_status() {
    for (setting, kty) in [("EdDSA", "OKP"), ("RS256", "RSA")] {
        let s = Server::start_with(&[("KEYWARD__TOKENS__ALGORITHM", setting)]);
        let app = s.create_app("default", "algorithm app", &[]);
        let token = s.token(&app);
        let (header, _) = jwt_parts(&token);
        assert_eq!(header["alg"], setting);
        assert_eq!(header["typ"], "at+jwt");
        let jwks: Value = s
            .get_anonymous("/.well-known/jwks.json")
            .json()
            .expect("json");
        let key = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .cloned()
            .expect("the token's kid is in the JWKS");
        assert_eq!(key["kty"], kty, "{setting}");
        assert_eq!(key["alg"], setting);
        assert_eq!(s.status(&token), 200, "{setting}");
        // Tampering is still caught with this algorithm.
        let p: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode([7u8; 64]));
        assert_eq!(s.status(&forged), 401, "{setting}: forged signature");
    }
}

#[test]
fn failed_attempts_from_one_source_do_not_lock_out_the_client_elsewhere() {
    let s = Server::start_with(&[("KEYWARD__SECURITY__MAX_FAILED_ATTEMPTS", "3")]);
    let app = s.create_app("default", "victim app", &[]);
    // The attacker knows the (public) client ID and connects from another address.
    let attacker = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    // A well-formed secret (another app's), wrong for this client: each costs a check.
    let decoy = s.create_app("default", "decoy app", &[]);
    let wrong = format!("{}:{}", app.client_id, decoy.client_secret);
    let attempt = || {
        attacker
            .post(s.url("/oauth2/token"))
            .header(
                "Authorization",
                format!("Basic {}", STANDARD.encode(&wrong)),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .expect("attacker request")
            .status()
            .as_u16()
    };
    let statuses: Vec<u16> = (0..6).map(|_| attempt()).collect();
    assert!(
        statuses.contains(&429),
        "the attacker is throttled: {statuses:?}"
    );
    // The real client has never got a token (nothing cached) and still gets one.
    let res = s.token_response(&app.client_id, &app.client_secret, None);
    assert_eq!(res.status(), 200);
}
