//! Hand-built requests to `/oauth2/token` and `/oauth2/status`, and the assertions on
//! RFC 6749 error answers the OAuth suites share.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::blocking::Response;
use serde_json::{json, Value};

use super::{header, urlencode, App, Server};

pub const FORM: &str = "application/x-www-form-urlencoded";
pub const GRANT: &str = "grant_type=client_credentials";

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
pub fn basic(client_id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", urlencode(client_id), urlencode(secret)))
    )
}

/// A hand-built token request: optional query, Authorization headers, content type, body.
pub fn token_raw(
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

/// The JSON body of a successful token request; panics unless 200.
pub fn token_json(s: &Server, app: &App, scope: Option<&str>) -> Value {
    let res = s.token_response(&app.client_id, &app.client_secret, scope);
    assert_eq!(res.status(), 200, "token for {}", app.client_id);
    res.json().expect("json")
}

/// `GET /oauth2/status` with this Authorization header, or none.
pub fn status_with(s: &Server, authorization: Option<&str>) -> Response {
    let mut req = s.http().get(s.url("/oauth2/status"));
    if let Some(a) = authorization {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    req.send().expect("status")
}

/// Asserts an RFC 6749 §5.2 error: status, `error`, a description, `Cache-Control: no-store`.
#[track_caller]
pub fn assert_oauth_error(res: Response, status: u16, error: &str, case: &str) -> Value {
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
#[track_caller]
pub fn assert_invalid_client(res: Response, case: &str) {
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
