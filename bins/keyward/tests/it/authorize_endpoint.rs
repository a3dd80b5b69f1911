//! `POST /api/v1/authorize`: 200 when the token holds the permission, 403 when it does
//! not, 401 without a valid credential, 422 for a malformed permission or environment,
//! and the environment a resource server pins.

use serde_json::json;

use crate::harness::{
    app_with_token, assert_allowed, assert_denied, assert_forbidden, assert_problem,
    assert_unauthenticated, authorize, Server,
};

#[test]
fn authorize_answers_200_403_401_and_422_for_a_bad_permission() {
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read", "invoices:*"]);
    let (app, token) = app_with_token(&s, "default", "reader", &["orders-reader"]);

    let r = authorize(&s, &token, "orders:read");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["allowed"], json!(true));
    assert_allowed(&s, &token, "invoices:pay", "resource:* grants every action");
    assert_denied(&s, &token, "orders:write", "another action");
    assert_denied(&s, &token, "orders:*", "a wildcard needs the wildcard");
    assert_denied(&s, &token, "client_apps:read", "management permission");

    for bad in [
        "orders",
        "Orders:read",
        "orders:read:x",
        "orders: read",
        ":read",
        "orders:",
    ] {
        let r = authorize(&s, &token, bad);
        assert_problem(&r, 422, "validation-error", &format!("authorize {bad:?}"));
    }

    let r = s
        .anonymous()
        .post("/api/v1/authorize", &json!({"permission": "orders:read"}));
    assert_unauthenticated(&r, "authorize without credential");
    assert_unauthenticated(
        authorize(&s, "garbage", "orders:read"),
        "garbage credential",
    );

    // A Super Admin's personal credential holds every permission.
    assert_allowed(&s, &s.admin, "orders:write", "Super Admin credential");
    assert_allowed(&s, &s.admin, "admins:manage", "Super Admin credential");

    s.deactivate("default", &app);
    let r = authorize(&s, &token, "orders:read");
    assert_unauthenticated(&r, "authorize after deactivation");
    s.activate("default", &app);
    assert_allowed(&s, &token, "orders:read", "activation restores the token");
}

#[test]
fn authorize_can_pin_the_environment_a_resource_server_serves() {
    let s = Server::start();
    s.create_environment("staging");
    for env in ["default", "staging"] {
        s.create_role(env, "orders-reader", &["orders:read"]);
    }
    let (_, staging_token) = app_with_token(&s, "staging", "shop", &["orders-reader"]);
    let check = |env: Option<&str>| {
        let mut body = json!({"permission": "orders:read"});
        if let Some(env) = env {
            body["environment"] = json!(env);
        }
        s.bearer(&staging_token).post("/api/v1/authorize", &body)
    };
    let own = check(None);
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(own.body["environment"], "staging");
    assert_eq!(check(Some("staging")).status, 200);
    let other = check(Some("default"));
    assert_forbidden(&other, "a staging token asking about production");
    assert_eq!(other.body["allowed"], false);
    assert_problem(
        check(Some("Not A Slug")),
        422,
        "validation-error",
        "invalid environment",
    );
}
