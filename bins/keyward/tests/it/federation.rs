//! Federation with a real OpenID provider (npm `oidc-provider`, started per test) and a
//! broken one: discovery and its failures, brokered client credentials (success,
//! refusals, every 502 in bounded time, a warm client while the IdP is down), the
//! IdP's JWT access tokens as Bearer credentials (bound, unbound, deactivated,
//! tampered, expired, wrong audience, `alg` confusion), and impersonation following the
//! user's live roles and status.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::harness::*;

const SECRET: &str = "ext-bot-secret-0123456789";
const AUDIENCE: &str = "https://api.keyward.test";

fn server() -> Server {
    Server::start_with(&[
        ("KEYWARD__FEDERATION__ALLOW_HTTP", "true"),
        ("KEYWARD__FEDERATION__TIMEOUT_MS", "1500"),
        ("KEYWARD__FEDERATION__CONNECT_TIMEOUT_MS", "500"),
        ("KEYWARD__FEDERATION__LEEWAY_SECONDS", "0"),
    ])
}

fn idp_path(env: &str) -> String {
    format!("/api/v1/environments/{env}/identity-provider")
}

fn set_idp(s: &Server, env: &str, body: Value) -> Reply {
    s.bearer(&s.admin).put(&idp_path(env), &body)
}

fn bind(
    s: &Server,
    env: &str,
    app: &App,
    external: Option<&str>,
    impersonate: Option<&str>,
) -> Reply {
    s.bearer(&s.admin).put(
        &format!("{}/external", s.app_path(env, app)),
        &json!({"external_client_id": external, "impersonate": impersonate}),
    )
}

/// A server, an IdP with clients `ext-bot` and `ext-stranger`, the IdP configured by
/// discovery on `default` (audience checked), and an app with `orders:read` bound to
/// `ext-bot`.
fn federated() -> (Server, Idp, App) {
    let s = server();
    let idp = Idp::start(&[("ext-bot", SECRET), ("ext-stranger", SECRET)]);
    let r = set_idp(
        &s,
        "default",
        json!({"issuer": idp.issuer, "audience": AUDIENCE}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    s.create_role("default", "orders-reader", &["orders:read"]);
    let app = s.create_app("default", "federated bot", &["orders-reader"]);
    let r = bind(&s, "default", &app, Some("ext-bot"), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["external_client_id"], "ext-bot");
    (s, idp, app)
}

fn broker(s: &Server, client_id: &str, secret: &str) -> reqwest::blocking::Response {
    s.token_response(client_id, secret, None)
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

#[test]
fn discovery_finds_the_endpoints_and_every_failure_is_a_422_with_the_reason() {
    let s = server();
    let idp = Idp::start(&[("ext-bot", SECRET)]);
    let r = set_idp(&s, "default", json!({"issuer": idp.issuer}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["token_endpoint"], format!("{}/token", idp.issuer));
    assert_eq!(r.body["jwks_uri"], format!("{}/jwks", idp.issuer));
    assert_eq!(
        r.body["client_id_claims"],
        json!(["client_id", "cid", "azp"])
    );
    assert_eq!(r.body["enabled"], true);
    let shown = s.bearer(&s.admin).get(&idp_path("default"));
    assert_eq!(shown.body["token_endpoint"], r.body["token_endpoint"]);

    let failures = [
        ("unreachable", json!({"issuer": unreachable_url()})),
        (
            "not JSON",
            json!({"issuer": BrokenIdp::start(Broken::Garbage).base}),
        ),
        (
            "HTTP 500",
            json!({"issuer": BrokenIdp::start(Broken::ServerError).base}),
        ),
        // The provider names 127.0.0.1; asked as localhost, the issuers differ.
        (
            "issuer mismatch",
            json!({"issuer": idp.issuer.replace("127.0.0.1", "localhost")}),
        ),
    ];
    for (case, body) in failures {
        let started = Instant::now();
        let r = set_idp(&s, "staging-less", body.clone());
        assert_eq!(r.status, 404, "{case}: unknown environment first");
        let r = set_idp(&s, "default", body);
        assert_eq!(r.status, 422, "{case}: {r:?}");
        assert_eq!(
            r.problem_type(),
            format!("{PROBLEM}idp-discovery-failed"),
            "{case}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{case} took {:?}",
            started.elapsed()
        );
        eprintln!("{case}: {}", r.body["detail"]);
    }
    // A failed discovery changed nothing.
    let shown = s.bearer(&s.admin).get(&idp_path("default"));
    assert_eq!(shown.body["issuer"], json!(idp.issuer));

    // A token endpoint entered by hand is stored as given, even while it is down.
    let down = unreachable_url();
    let r = set_idp(&s, "default", json!({"token_endpoint": down}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["token_endpoint"], json!(down));
    // Bad input.
    for (body, field) in [
        (json!({}), "issuer"),
        (json!({"issuer": "ftp://idp.example"}), "issuer"),
        (json!({"issuer": "not a url"}), "issuer"),
        (json!({"token_endpoint": "https://"}), "token_endpoint"),
        (
            json!({"issuer": idp.issuer, "jwks_uri": "https://x.example/jwks"}),
            "jwks_uri",
        ),
        (
            json!({"issuer": idp.issuer, "client_id_claims": []}),
            "client_id_claims",
        ),
    ] {
        let r = set_idp(&s, "default", body.clone());
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert!(
            r.body["errors"].to_string().contains(field),
            "{body}: {r:?}"
        );
    }
    assert_eq!(s.bearer(&s.admin).delete(&idp_path("default")).status, 204);
    assert_eq!(s.bearer(&s.admin).get(&idp_path("default")).status, 404);
}

#[test]
fn http_identity_providers_are_refused_unless_allowed() {
    let s = Server::start();
    let r = set_idp(&s, "default", json!({"issuer": "http://127.0.0.1:9/"}));
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body["errors"].to_string().contains("https"), "{r:?}");
}

#[test]
fn brokered_client_credentials_issue_keywards_token_for_the_bound_app() {
    let (s, _idp, app) = federated();
    let res = broker(&s, "ext-bot", SECRET);
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert_eq!(
        c["client_id"],
        json!(app.client_id),
        "Keyward's token, for the bound app"
    );
    assert_eq!(c["iss"], json!(s.base));
    assert_allowed(&s, &token, "orders:read", "the app's live roles");
    assert_denied(&s, &token, "orders:write", "nothing more");

    // The IdP refuses the secret: 401, like any wrong secret.
    assert_invalid_client(
        broker(&s, "ext-bot", "wrong-secret-0123456789"),
        "wrong secret",
    );
    // A client the IdP knows but no app is bound to: 401.
    assert_invalid_client(broker(&s, "ext-stranger", SECRET), "unbound client");
    // The bound app deactivated: 401 without asking the IdP.
    s.deactivate("default", &app);
    assert_invalid_client(broker(&s, "ext-bot", SECRET), "deactivated app");
    s.activate("default", &app);
    assert_eq!(broker(&s, "ext-bot", SECRET).status(), 200);
}

#[test]
fn an_identity_provider_refusal_other_than_invalid_client_is_a_502_naming_its_error() {
    let s = server();
    let idp = Idp::start(&[("ext-bot", SECRET)]);
    // A scope the IdP does not allow this client: it answers `invalid_scope`.
    let r = set_idp(
        &s,
        "default",
        json!({"issuer": idp.issuer, "scope": "api:admin"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let app = s.create_app("default", "federated bot", &[]);
    assert_eq!(bind(&s, "default", &app, Some("ext-bot"), None).status, 200);
    let body = assert_oauth_error(
        broker(&s, "ext-bot", SECRET),
        502,
        "temporarily_unavailable",
        "IdP refusal",
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("invalid_scope"),
        "{body}"
    );
    assert!(!body.to_string().contains(SECRET));
}

#[test]
fn every_identity_provider_failure_is_a_502_in_bounded_time() {
    let s = server();
    s.create_role("default", "orders-reader", &["orders:read"]);
    let app = s.create_app("default", "federated bot", &["orders-reader"]);
    assert_eq!(bind(&s, "default", &app, Some("ext-bot"), None).status, 200);
    let cases = [
        (
            "HTTP 500",
            BrokenIdp::start(Broken::ServerError),
            "HTTP 500",
        ),
        ("not JSON", BrokenIdp::start(Broken::Garbage), "not JSON"),
        ("hangs", BrokenIdp::start(Broken::Hang), "timed out"),
    ];
    for (case, broken, says) in &cases {
        let r = set_idp(
            &s,
            "default",
            json!({"token_endpoint": format!("{}/token", broken.base)}),
        );
        assert_eq!(r.status, 200);
        let started = Instant::now();
        let body = assert_oauth_error(
            broker(&s, "ext-bot", SECRET),
            502,
            "temporarily_unavailable",
            case,
        );
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{case} took {took:?}");
        assert!(
            body["error_description"].as_str().unwrap().contains(says),
            "{case}: {body}"
        );
        eprintln!("{case}: 502 in {took:?}: {}", body["error_description"]);
    }
    let r = set_idp(&s, "default", json!({"token_endpoint": unreachable_url()}));
    assert_eq!(r.status, 200);
    let body = assert_oauth_error(
        broker(&s, "ext-bot", SECRET),
        502,
        "temporarily_unavailable",
        "unreachable",
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{body}"
    );
}

#[test]
fn a_warm_brokered_client_keeps_getting_tokens_while_the_identity_provider_is_down() {
    let (s, mut idp, _app) = federated();
    let started = Instant::now();
    assert_eq!(broker(&s, "ext-bot", SECRET).status(), 200);
    let cold = started.elapsed();
    let started = Instant::now();
    assert_eq!(broker(&s, "ext-bot", SECRET).status(), 200);
    let warm = started.elapsed();
    eprintln!("brokered token: cold {cold:?}, warm {warm:?}");
    idp.stop();
    for _ in 0..3 {
        assert_eq!(
            broker(&s, "ext-bot", SECRET).status(),
            200,
            "served from memory"
        );
    }
    // A secret the IdP never accepted still needs the IdP: now a 502.
    assert_oauth_error(
        broker(&s, "ext-bot", "never-seen-secret-01234"),
        502,
        "temporarily_unavailable",
        "IdP down",
    );
}

#[test]
fn the_identity_providers_tokens_act_as_the_bound_app_and_nothing_else_gets_through() {
    let (s, idp, app) = federated();
    let token = idp.token("ext-bot", SECRET, None);
    assert_eq!(s.status(&token), 200, "a bound client's token");
    assert_allowed(&s, &token, "orders:read", "the bound app's live roles");
    assert_denied(&s, &token, "orders:write", "nothing more");
    // Roles follow at the next call.
    s.create_role("default", "orders-writer", &["orders:write"]);
    s.set_roles("default", &app, &["orders-reader", "orders-writer"]);
    assert_allowed(&s, &token, "orders:write", "role added");

    // Unbound client, deactivated app, tampered, wrong audience.
    assert_eq!(
        s.status(&idp.token("ext-stranger", SECRET, None)),
        401,
        "unbound client"
    );
    s.deactivate("default", &app);
    assert_eq!(s.status(&token), 401, "deactivated app");
    s.activate("default", &app);
    assert_eq!(s.status(&token), 200, "activated again");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut c = claims(&token);
    c["client_id"] = json!("ext-stranger");
    parts[1] = URL_SAFE_NO_PAD.encode(c.to_string());
    assert_eq!(s.status(&parts.join(".")), 401, "tampered payload");
    let other_audience = idp.token("ext-bot", SECRET, Some("https://other.keyward.test"));
    assert_eq!(s.status(&other_audience), 401, "wrong audience");

    // alg confusion: `none`, and HS256 "signed" with the public key's text.
    let header = |alg: &str| {
        URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "at+jwt", "kid": "idp-key-1"}).to_string())
    };
    let payload = token.split('.').nth(1).unwrap();
    assert_eq!(
        s.status(&format!("{}.{payload}.", header("none"))),
        401,
        "alg none"
    );
    assert_eq!(
        s.status(&format!(
            "{}.{payload}.{}",
            header("HS256"),
            URL_SAFE_NO_PAD.encode(b"forged-mac-forged-mac-forged-mac")
        )),
        401,
        "alg HS256"
    );
    // Removing the identity provider stops its tokens at once.
    assert_eq!(s.bearer(&s.admin).delete(&idp_path("default")).status, 204);
    assert_eq!(s.status(&token), 401, "IdP removed");
}

#[test]
fn an_expired_identity_provider_token_is_refused() {
    let (s, idp, _app) = federated();
    // The audience is not checked for this one: configure without it.
    let r = set_idp(&s, "default", json!({"issuer": idp.issuer}));
    assert_eq!(r.status, 200);
    let short = idp.token("ext-bot", SECRET, Some("https://short.keyward.test"));
    assert_eq!(s.status(&short), 200, "fresh");
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(s.status(&short), 401, "expired (leeway 0 in this test)");
}

#[test]
fn impersonation_carries_the_users_live_permissions_and_stops_with_the_user() {
    let (s, idp, app) = federated();
    s.create_role("default", "invoices-reader", &["invoices:read"]);
    let r = s.bearer(&s.admin).post(
        "/api/v1/users",
        &json!({"username": "dana", "password": "correct horse battery",
                "roles": [{"environment": "default", "roles": ["invoices-reader"]}]}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = bind(&s, "default", &app, Some("ext-bot"), Some("dana"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["impersonate"], "dana");
    let token = idp.token("ext-bot", SECRET, None);
    assert_allowed(&s, &token, "invoices:read", "the user's permission");
    assert_denied(&s, &token, "orders:read", "not the app's own roles");

    // The user's roles change: the next call follows.
    let r = s.bearer(&s.admin).put(
        "/api/v1/users/dana/roles",
        &json!({"roles": [{"environment": "default", "roles": ["orders-reader"]}]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_allowed(&s, &token, "orders:read", "role given to the user");
    assert_denied(&s, &token, "invoices:read", "role taken from the user");

    // Deactivated, then deleted: 401 at once.
    assert_eq!(
        s.bearer(&s.admin)
            .post("/api/v1/users/dana/deactivate", &json!({}))
            .status,
        200
    );
    assert_eq!(s.status(&token), 401, "user deactivated");
    assert_eq!(
        s.bearer(&s.admin)
            .post("/api/v1/users/dana/activate", &json!({}))
            .status,
        200
    );
    assert_eq!(s.status(&token), 200, "user active again");
    assert_eq!(s.bearer(&s.admin).delete("/api/v1/users/dana").status, 204);
    assert_eq!(s.status(&token), 401, "user deleted");

    // Bad bindings.
    let r = bind(&s, "default", &app, Some("ext-bot"), Some("nobody"));
    assert_eq!(r.status, 422, "{r:?}");
    let other = s.create_app("default", "second bot", &[]);
    let r = bind(&s, "default", &other, Some("ext-bot"), None);
    assert_eq!(r.status, 409, "external client IDs are unique: {r:?}");
    let r = bind(&s, "default", &other, Some("bad id with spaces"), None);
    assert_eq!(r.status, 422, "{r:?}");
}

#[test]
fn brokered_secrets_and_external_tokens_never_reach_the_logs() {
    let s = Server::start_with(&[
        ("KEYWARD__FEDERATION__ALLOW_HTTP", "true"),
        ("RUST_LOG", "trace"),
    ]);
    let idp = Idp::start(&[("ext-bot", SECRET)]);
    assert_eq!(
        set_idp(&s, "default", json!({"issuer": idp.issuer})).status,
        200
    );
    let app = s.create_app("default", "federated bot", &[]);
    assert_eq!(bind(&s, "default", &app, Some("ext-bot"), None).status, 200);
    let res = broker(&s, "ext-bot", SECRET);
    assert_eq!(res.status(), 200);
    let issued: Value = res.json().unwrap();
    assert_invalid_client(
        broker(&s, "ext-bot", "wrong-secret-0123456789"),
        "wrong secret",
    );
    let external = idp.token("ext-bot", SECRET, None);
    assert_eq!(s.status(&external), 200);
    std::thread::sleep(Duration::from_millis(200));
    let logs = s.logs();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "trace logging is on"
    );
    for (what, text) in [
        ("the brokered secret", SECRET),
        ("a wrong secret", "wrong-secret-0123456789"),
        ("Keyward's token", issued["access_token"].as_str().unwrap()),
        ("the IdP's token", external.as_str()),
    ] {
        assert!(!logs.contains(text), "{what} is in the logs");
    }
}

#[test]
fn an_app_can_be_bound_at_creation_and_a_taken_external_client_id_creates_nothing() {
    let (s, _idp, _app) = federated();
    let r = post_client_app(
        &s,
        "default",
        json!({"name": "second bot", "external_client_id": "ext-stranger"}),
    );
    assert_eq!(r.status(), 201);
    let created: Value = r.json().unwrap();
    assert_eq!(created["external_client_id"], "ext-stranger");
    let res = broker(&s, "ext-stranger", SECRET);
    assert_eq!(res.status(), 200, "bound at creation");
    let token: Value = res.json().unwrap();
    assert_eq!(
        claims(token["access_token"].as_str().unwrap())["client_id"],
        created["client_id"]
    );

    // `ext-bot` is taken by the first app: 409, and the app was not created.
    let before = list_apps(&s, "").to_string();
    let r = post_client_app(
        &s,
        "default",
        json!({"name": "third bot", "external_client_id": "ext-bot"}),
    );
    assert_eq!(r.status(), 409);
    assert!(!list_apps(&s, "").to_string().contains("third bot"));
    assert_eq!(before, list_apps(&s, "").to_string(), "nothing changed");
    let r = post_client_app(
        &s,
        "default",
        json!({"name": "fourth bot", "impersonate": "admin"}),
    );
    assert_eq!(r.status(), 422, "impersonation needs a binding");
}
