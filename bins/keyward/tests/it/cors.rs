//! CORS for the OAuth and management APIs: off by default, configurable, preflight
//! answered.

use crate::harness::{header, Server};

#[test]
fn cors_is_off_by_default() {
    let s = Server::start();
    let res = s
        .http()
        .get(s.url("/.well-known/openid-configuration"))
        .header("origin", "https://app.example.com")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), None);
}

#[test]
fn allowed_origins_get_cors_headers_and_preflights_are_answered() {
    let s = Server::start_with(&[(
        "KEYWARD__CORS__ALLOWED_ORIGINS",
        "https://app.example.com, https://other.example.com",
    )]);
    let preflight = s
        .http()
        .request(reqwest::Method::OPTIONS, s.url("/oauth2/token"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert!(header(&preflight, "access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert!(header(&preflight, "access-control-allow-headers")
        .unwrap()
        .contains("Authorization"));
    // An actual request from an allowed origin, on the management API.
    let res = s
        .http()
        .get(s.url("/api/v1/environments"))
        .bearer_auth(&s.admin)
        .header("origin", "https://other.example.com")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("https://other.example.com")
    );
    // Another origin gets nothing.
    let res = s
        .http()
        .get(s.url("/api/v1/environments"))
        .bearer_auth(&s.admin)
        .header("origin", "https://evil.example.com")
        .send()
        .unwrap();
    assert_eq!(header(&res, "access-control-allow-origin"), None);
}
