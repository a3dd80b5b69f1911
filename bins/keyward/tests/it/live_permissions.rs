//! Permission decisions follow live state: a change to an app's roles or to a role's
//! permissions applies to already-issued tokens on their very next call, and a
//! down-scoped token holds only its scope intersected with the live grants.

use serde_json::{json, Value};

use crate::harness::{
    app_with_token, assert_allowed, assert_denied, assert_forbidden, assert_problem, scoped_token,
    Server,
};

#[test]
fn role_changes_apply_to_existing_tokens_on_their_next_call() {
    let s = Server::start();
    s.create_role("default", "orders", &["orders:read"]);
    s.create_role("default", "invoices", &["invoices:read"]);
    let (app, token) = app_with_token(&s, "default", "worker", &["orders"]);
    assert_allowed(&s, &token, "orders:read", "initially");
    assert_denied(&s, &token, "orders:write", "initially");

    let r = s.bearer(&s.admin).put(
        "/api/v1/environments/default/roles/orders",
        &json!({"permissions": ["orders:read", "orders:write"]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_allowed(&s, &token, "orders:write", "after the role gained it");

    s.set_roles("default", &app, &["invoices"]);
    assert_denied(&s, &token, "orders:read", "after rebinding");
    assert_allowed(&s, &token, "invoices:read", "after rebinding");

    s.set_roles("default", &app, &["orders", "invoices"]);
    assert_allowed(&s, &token, "orders:write", "union of roles");
    assert_allowed(&s, &token, "invoices:read", "union of roles");

    // Management permissions follow the same way.
    let apps = "/api/v1/environments/default/client-apps";
    assert_forbidden(s.bearer(&token).get(apps), "before Admin");
    s.set_roles("default", &app, &["Admin"]);
    assert_eq!(s.bearer(&token).get(apps).status, 200);
    s.set_roles("default", &app, &[]);
    assert_forbidden(s.bearer(&token).get(apps), "after Admin removed");
    assert_eq!(s.status(&token), 200, "no roles: the token is still valid");
}

#[test]
fn a_down_scoped_token_holds_only_its_scope_intersected_with_live_permissions() {
    let s = Server::start();
    s.create_role("default", "orders-all", &["orders:*", "invoices:read"]);
    let (app, full) = app_with_token(&s, "default", "worker", &["orders-all"]);
    let scoped = scoped_token(&s, &app, "orders:read");

    assert_allowed(&s, &scoped, "orders:read", "in scope");
    assert_denied(&s, &scoped, "orders:write", "granted but outside the scope");
    assert_denied(
        &s,
        &scoped,
        "invoices:read",
        "granted but outside the scope",
    );
    assert_allowed(&s, &full, "orders:write", "unscoped token");

    // Scope asks for nothing beyond the live grants.
    let res = s.token_response(
        &app.client_id,
        &app.client_secret,
        Some("orders:read admins:read"),
    );
    assert_eq!(res.status(), 400);
    let body: Value = res.json().expect("json");
    assert_eq!(body["error"], json!("invalid_scope"));

    // The role loses orders:*: the scoped token loses orders:read on its next call.
    let role = "/api/v1/environments/default/roles/orders-all";
    let r = s
        .bearer(&s.admin)
        .put(role, &json!({"permissions": ["invoices:read"]}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_denied(
        &s,
        &scoped,
        "orders:read",
        "scope no longer backed by a role",
    );
    assert_denied(&s, &full, "orders:write", "unscoped token after the edit");
    assert_eq!(s.status(&scoped), 200, "the token itself is valid");

    let r = s
        .bearer(&s.admin)
        .put(role, &json!({"permissions": ["orders:*"]}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_allowed(&s, &scoped, "orders:read", "restored");
    assert_denied(&s, &scoped, "orders:write", "still limited by the scope");

    // Super Admin grants everything, but the scope still limits the token.
    s.set_roles("default", &app, &["Super Admin"]);
    let superscoped = scoped_token(&s, &app, "orders:read");
    assert_allowed(&s, &superscoped, "orders:read", "super admin, scoped");
    assert_denied(&s, &superscoped, "orders:write", "super admin, scoped");
    let r = s.bearer(&superscoped).get("/api/v1/admins");
    assert_forbidden(&r, "a scoped Super Admin token reads no admins");
    let r = s.bearer(&s.token(&app)).get("/api/v1/admins");
    assert_eq!(r.status, 200, "the unscoped Super Admin token: {r:?}");
}

#[test]
fn an_apps_role_change_applies_to_the_next_authorize_call_of_an_existing_token() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    s.create_role("default", "writer", &["orders:write"]);
    let app = s.create_app("default", "live app", &["reader"]);
    let token = s.token(&app);

    let res = s.post(
        "/api/v1/authorize",
        &token,
        json!({"permission": "orders:read"}),
    );
    assert_eq!(res.status(), 200);
    let body: Value = res.json().expect("json");
    assert_eq!(body["allowed"], true);
    let res = s.post(
        "/api/v1/authorize",
        &token,
        json!({"permission": "orders:write"}),
    );
    let body = assert_problem(res, 403, "forbidden", "not yet granted");
    assert_eq!(body["allowed"], false);

    s.set_roles("default", &app, &["writer"]);
    assert_eq!(s.authorize(&token, "orders:write"), 200, "granted at once");
    assert_eq!(
        s.authorize(&token, "orders:read"),
        403,
        "taken away at once"
    );
    s.set_roles("default", &app, &[]);
    assert_eq!(s.authorize(&token, "orders:write"), 403);
    // The token itself stays valid: roles do not revoke it.
    assert_eq!(s.status(&token), 200);
}

#[test]
fn a_roles_permission_change_applies_to_the_next_authorize_call_of_an_existing_token() {
    let s = Server::start();
    s.create_role("default", "ops", &["orders:read"]);
    let app = s.create_app("default", "ops app", &["ops"]);
    let token = s.token(&app);
    assert_eq!(s.authorize(&token, "invoices:read"), 403);
    let res = s.put(
        "/api/v1/environments/default/roles/ops",
        &s.admin,
        json!({"permissions": ["invoices:*"]}),
    );
    assert_eq!(res.status(), 200);
    assert_eq!(
        s.authorize(&token, "invoices:read"),
        200,
        "wildcard granted"
    );
    assert_eq!(
        s.authorize(&token, "invoices:delete"),
        200,
        "wildcard granted"
    );
    assert_eq!(
        s.authorize(&token, "orders:read"),
        403,
        "removed permission"
    );
}

#[test]
fn a_down_scoped_token_is_denied_permissions_outside_its_scope_even_if_the_app_gains_them() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    s.create_role("default", "writer", &["orders:write"]);
    let app = s.create_app("default", "narrow app", &["reader"]);
    let res = s.token_response(&app.client_id, &app.client_secret, Some("orders:read"));
    assert_eq!(res.status(), 200);
    let body: Value = res.json().expect("json");
    let narrow = body["access_token"].as_str().expect("token").to_owned();
    s.set_roles("default", &app, &["reader", "writer"]);
    assert_eq!(s.authorize(&narrow, "orders:read"), 200);
    assert_eq!(
        s.authorize(&narrow, "orders:write"),
        403,
        "outside the token's scope"
    );
    // A scope still needs the live grant: losing the role loses the permission.
    s.set_roles("default", &app, &["writer"]);
    assert_eq!(s.authorize(&narrow, "orders:read"), 403);
}
