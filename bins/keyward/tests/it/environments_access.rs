//! Environments as a boundary: a disabled environment stops its tokens, token requests
//! and Super Admin apps until enabled again; an app cannot disable or create other
//! environments, nor read or change anything in another environment, whatever role
//! names the two share.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{
    admin_get, app_with_token, assert_allowed, assert_forbidden, assert_unauthenticated, authorize,
    names_of, Server,
};

// ----- disabled environments -----

#[test]
fn disabling_an_environment_stops_its_tokens_and_token_requests_until_enabled() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_role("staging", "orders-reader", &["orders:read"]);
    let (app, token) = app_with_token(&s, "staging", "staging worker", &["orders-reader"]);
    let (_, manager) = app_with_token(&s, "staging", "staging manager", &["Admin"]);
    s.create_role("default", "orders-reader", &["orders:read"]);
    let (_, elsewhere) = app_with_token(&s, "default", "default worker", &["orders-reader"]);
    let (_, global) = app_with_token(&s, "staging", "staging super", &["Super Admin"]);
    assert_eq!(s.status(&token), 200);
    assert_allowed(&s, &token, "orders:read", "before disabling");

    let r = s
        .bearer(&s.admin)
        .patch("/api/v1/environments/staging", &json!({"enabled": false}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["enabled"], json!(false));

    assert_eq!(
        s.status(&token),
        401,
        "status of a token in a disabled environment"
    );
    assert_unauthenticated(
        authorize(&s, &token, "orders:read"),
        "authorize when disabled",
    );
    let r = s
        .bearer(&manager)
        .get("/api/v1/environments/staging/client-apps");
    assert_unauthenticated(&r, "management call when disabled");
    let r = s.bearer(&global).get("/api/v1/environments/default");
    assert_unauthenticated(&r, "a Super Admin app of a disabled environment, elsewhere");
    let res = s.token_response(&app.client_id, &app.client_secret, None);
    assert_eq!(res.status(), 401);
    let body: Value = res.json().expect("json");
    assert_eq!(body["error"], json!("invalid_client"));

    // Other environments are unaffected, and nothing was deleted.
    assert_eq!(s.status(&elsewhere), 200);
    assert_allowed(&s, &elsewhere, "orders:read", "another environment");
    let apps = admin_get(&s, "/api/v1/environments/staging/client-apps");
    assert_eq!(
        names_of(&apps, "name"),
        vec!["staging manager", "staging super", "staging worker"]
    );
    assert_eq!(
        admin_get(&s, "/api/v1/environments/staging")["enabled"],
        json!(false)
    );

    let r = s
        .bearer(&s.admin)
        .patch("/api/v1/environments/staging", &json!({"enabled": true}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.status(&token), 200, "the old token works again");
    assert_allowed(&s, &token, "orders:read", "after enabling");
    let r = s
        .bearer(&manager)
        .get("/api/v1/environments/staging/client-apps");
    assert_eq!(r.status, 200, "{r:?}");
    let r = s.bearer(&global).get("/api/v1/environments/default");
    assert_eq!(r.status, 200, "{r:?}");
    let res = s.token_response(&app.client_id, &app.client_secret, None);
    assert_eq!(res.status(), 200);
}

#[test]
fn an_app_with_environments_manage_cannot_disable_another_environment() {
    let s = Server::start();
    s.create_environment("alpha");
    s.create_environment("beta");
    s.create_role(
        "alpha",
        "env-manager",
        &["environments:manage", "environments:read"],
    );
    let (_, token) = app_with_token(&s, "alpha", "env manager", &["env-manager"]);
    let r = s
        .bearer(&token)
        .patch("/api/v1/environments/beta", &json!({"enabled": false}));
    assert_forbidden(&r, "disable another environment");
    assert_eq!(
        admin_get(&s, "/api/v1/environments/beta")["enabled"],
        json!(true)
    );
    let r = s
        .bearer(&token)
        .post("/api/v1/environments", &json!({"slug": "gamma"}));
    assert_forbidden(&r, "create an environment without being global");
}

// ----- cross-environment isolation -----

#[test]
fn a_token_from_one_environment_cannot_read_or_change_another_even_with_the_same_role_name() {
    let s = Server::start();
    s.create_environment("env-a");
    s.create_environment("env-b");
    let perms = [
        "roles:*",
        "client_apps:*",
        "environments:read",
        "environments:manage",
        "orders:read",
    ];
    s.create_role("env-a", "operator", &perms);
    s.create_role("env-b", "operator", &perms);
    s.create_role("env-b", "spare", &["orders:read"]);
    let (_, token) = app_with_token(&s, "env-a", "a operator", &["operator", "Admin"]);
    let victim = s.create_app("env-b", "b victim", &["operator"]);
    let victim_token = s.token(&victim);
    let spare_victim = s.create_app("env-b", "b inactive", &[]);
    s.deactivate("env-b", &spare_victim);

    let before_env = admin_get(&s, "/api/v1/environments/env-b");
    let before_roles = admin_get(&s, "/api/v1/environments/env-b/roles");
    let before_apps = admin_get(&s, "/api/v1/environments/env-b/client-apps");

    // The caller holds all of these in its own environment.
    for (method, path) in [
        (
            Method::GET,
            "/api/v1/environments/env-a/client-apps".to_owned(),
        ),
        (Method::GET, "/api/v1/environments/env-a/roles".to_owned()),
        (Method::GET, "/api/v1/environments/env-a".to_owned()),
    ] {
        let r = s.bearer(&token).send(method, &path, None);
        assert_eq!(r.status, 200, "own environment {path}: {r:?}");
    }

    let b = "/api/v1/environments/env-b";
    let victim_path = s.app_path("env-b", &victim);
    let spare_path = s.app_path("env-b", &spare_victim);
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, b.to_owned(), None),
        (Method::PATCH, b.to_owned(), Some(json!({"enabled": false}))),
        (Method::PATCH, b.to_owned(), Some(json!({"name": "Pwned"}))),
        (Method::GET, format!("{b}/roles"), None),
        (
            Method::POST,
            format!("{b}/roles"),
            Some(json!({"name": "intruder", "permissions": ["orders:read"]})),
        ),
        (Method::GET, format!("{b}/roles/operator"), None),
        (
            Method::PUT,
            format!("{b}/roles/operator"),
            Some(json!({"permissions": ["orders:read"]})),
        ),
        (Method::DELETE, format!("{b}/roles/spare"), None),
        (
            Method::DELETE,
            format!("{b}/roles/operator?force=true"),
            None,
        ),
        (Method::GET, format!("{b}/client-apps"), None),
        (
            Method::POST,
            format!("{b}/client-apps"),
            Some(json!({"name": "intruder app", "roles": ["operator"]})),
        ),
        (Method::GET, victim_path.clone(), None),
        (
            Method::PUT,
            format!("{victim_path}/roles"),
            Some(json!({"roles": []})),
        ),
        (
            Method::POST,
            format!("{victim_path}/deactivate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("{spare_path}/activate"),
            Some(json!({})),
        ),
        (Method::DELETE, spare_path.clone(), None),
        // An environment that does not exist tells nothing either (403, not 404).
        (
            Method::GET,
            "/api/v1/environments/no-such-env/client-apps".into(),
            None,
        ),
        (Method::GET, "/api/v1/environments/no-such-env".into(), None),
        (
            Method::GET,
            "/api/v1/environments/Not_A_Slug/roles".into(),
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let what = format!("{method} {path}");
        let r = s.bearer(&token).send(method, &path, body.as_ref());
        assert_forbidden(&r, &what);
    }

    // Environment B is exactly as it was.
    assert_eq!(admin_get(&s, b), before_env);
    assert_eq!(admin_get(&s, &format!("{b}/roles")), before_roles);
    assert_eq!(admin_get(&s, &format!("{b}/client-apps")), before_apps);
    assert_eq!(admin_get(&s, &victim_path)["status"], json!("ACTIVE"));
    assert_eq!(admin_get(&s, &spare_path)["status"], json!("INACTIVE"));
    assert_eq!(s.status(&victim_token), 200);

    // Permissions apply only in the token's own environment: `orders:read` is allowed
    // to both, but a call naming B is refused to A's token.
    assert_allowed(&s, &token, "orders:read", "own environment");
}
