//! No privilege escalation: a caller grants, binds, edits or removes no management power
//! it does not hold itself, through roles, role bindings or admin users, and a
//! down-scoped token escalates no further than its scope.

use serde_json::json;

use crate::harness::{
    admin_get, app_with_token, assert_escalation, assert_forbidden, create_admin, names_of,
    scoped_token, Server,
};

#[test]
fn a_role_manager_grants_custom_permissions_freely_but_no_management_permission_it_lacks() {
    let s = Server::start();
    s.create_role("default", "role-manager", &["roles:manage", "roles:read"]);
    s.create_role("default", "apps-role", &["client_apps:manage"]);
    s.create_role("default", "plain", &["orders:read"]);
    let (_, token) = app_with_token(&s, "default", "role manager", &["role-manager"]);
    let roles = "/api/v1/environments/default/roles";
    let create = |name: &str, permissions: &[&str]| {
        s.bearer(&token)
            .post(roles, &json!({"name": name, "permissions": permissions}))
    };

    let r = create("orders-all", &["orders:*", "invoices:read"]);
    assert_eq!(
        r.status, 201,
        "custom resources are freely grantable: {r:?}"
    );
    let r = create("more-roles", &["roles:manage"]);
    assert_eq!(r.status, 201, "a permission it holds: {r:?}");
    for (name, perms) in [
        ("sneaky-apps", vec!["client_apps:manage"]),
        ("sneaky-roles", vec!["roles:*"]),
        ("sneaky-envs", vec!["orders:read", "environments:manage"]),
        ("sneaky-admins", vec!["admins:manage"]),
        ("sneaky-keys", vec!["keys:*"]),
        ("sneaky-tokens", vec!["tokens:introspect"]),
        ("sneaky-api-keys", vec!["api_keys:manage"]),
    ] {
        assert_escalation(create(name, &perms), &format!("create {name}"));
        let r = s.bearer(&s.admin).get(&format!("{roles}/{name}"));
        assert_eq!(r.status, 404, "{name} must not exist: {r:?}");
    }

    // Editing: no new management permission, and no touching a role that holds one.
    let r = s.bearer(&token).put(
        &format!("{roles}/plain"),
        &json!({"permissions": ["orders:read", "client_apps:manage"]}),
    );
    assert_escalation(&r, "widen a role with client_apps:manage");
    let r = s.bearer(&token).put(
        &format!("{roles}/plain"),
        &json!({"permissions": ["orders:write"]}),
    );
    assert_eq!(r.status, 200, "custom edit: {r:?}");
    let r = s.bearer(&token).put(
        &format!("{roles}/apps-role"),
        &json!({"permissions": ["orders:read"]}),
    );
    assert_escalation(&r, "edit a role holding a permission the caller lacks");
    let r = s.bearer(&token).delete(&format!("{roles}/apps-role"));
    assert_escalation(&r, "delete a role holding a permission the caller lacks");
    let role = admin_get(&s, &format!("{roles}/apps-role"));
    assert_eq!(role["permissions"], json!(["client_apps:manage"]));
}

#[test]
fn an_app_manager_binds_only_roles_within_its_own_management_permissions() {
    let s = Server::start();
    let env = "default";
    s.create_role(
        env,
        "app-manager",
        &["client_apps:manage", "client_apps:read"],
    );
    s.create_role(env, "orders-reader", &["orders:read"]);
    let (_, token) = app_with_token(&s, env, "app manager", &["app-manager"]);
    let apps = "/api/v1/environments/default/client-apps";
    let create = |name: &str, roles: &[&str]| {
        s.bearer(&token)
            .post(apps, &json!({"name": name, "roles": roles}))
    };

    assert_eq!(create("plain worker", &["orders-reader"]).status, 201);
    assert_eq!(create("peer manager", &["app-manager"]).status, 201);
    assert_escalation(create("admin app", &["Admin"]), "bind Admin");
    assert_escalation(create("super app", &["Super Admin"]), "bind Super Admin");
    let listed = admin_get(&s, apps);
    assert_eq!(
        names_of(&listed, "name"),
        vec!["app manager", "peer manager", "plain worker"]
    );

    // Rebinding roles of a harmless app: custom yes, Admin no.
    let worker = s.create_app(env, "worker", &[]);
    let worker_roles = format!("{}/roles", s.app_path(env, &worker));
    let r = s
        .bearer(&token)
        .put(&worker_roles, &json!({"roles": ["orders-reader"]}));
    assert_eq!(r.status, 200, "{r:?}");
    let r = s
        .bearer(&token)
        .put(&worker_roles, &json!({"roles": ["Admin"]}));
    assert_escalation(&r, "rebind to Admin");
    assert_eq!(
        admin_get(&s, &s.app_path(env, &worker))["roles"],
        json!(["orders-reader"])
    );

    // An app holding more management power than the caller is out of its hands.
    let boss = s.create_app(env, "boss", &["Admin"]);
    let boss_path = s.app_path(env, &boss);
    let r = s
        .bearer(&token)
        .put(&format!("{boss_path}/roles"), &json!({"roles": []}));
    assert_escalation(&r, "strip the roles of an Admin app");
    let r = s
        .bearer(&token)
        .post(&format!("{boss_path}/deactivate"), &json!({}));
    assert_escalation(&r, "deactivate an Admin app");
    assert_eq!(admin_get(&s, &boss_path)["status"], json!("ACTIVE"));
    s.deactivate(env, &boss);
    let r = s
        .bearer(&token)
        .post(&format!("{boss_path}/activate"), &json!({}));
    assert_escalation(&r, "activate an Admin app");
    let r = s.bearer(&token).delete(&boss_path);
    assert_escalation(&r, "delete an Admin app");
    let boss_now = admin_get(&s, &boss_path);
    assert_eq!(boss_now["status"], json!("INACTIVE"));
    assert_eq!(boss_now["roles"], json!(["Admin"]));
}

#[test]
fn an_admin_app_cannot_grant_super_admin_or_global_permissions() {
    let s = Server::start();
    let (_, token) = app_with_token(&s, "default", "local admin", &["Admin"]);
    let r = s.bearer(&token).post(
        "/api/v1/environments/default/client-apps",
        &json!({"name": "would be super", "roles": ["Super Admin"]}),
    );
    assert_escalation(&r, "create a Super Admin app");
    for perms in [
        json!(["environments:manage"]),
        json!(["admins:read"]),
        json!(["keys:rotate"]),
    ] {
        let r = s.bearer(&token).post(
            "/api/v1/environments/default/roles",
            &json!({"name": "wider", "permissions": perms}),
        );
        assert_escalation(&r, &format!("create a role with {perms}"));
    }
    let r = s.bearer(&token).post(
        "/api/v1/environments/default/roles",
        &json!({"name": "reader", "permissions": ["client_apps:read", "roles:read", "orders:*"]}),
    );
    assert_eq!(r.status, 201, "within its own power: {r:?}");
    let r = s.bearer(&token).get("/api/v1/admins");
    assert_forbidden(&r, "Admin role reads no admins");

    // A down-scoped token escalates no further than its scope.
    let app = s.create_app("default", "scoped admin", &["Admin"]);
    let scoped = scoped_token(&s, &app, "client_apps:manage client_apps:read");
    let r = s.bearer(&scoped).post(
        "/api/v1/environments/default/client-apps",
        &json!({"name": "admin via scoped token", "roles": ["Admin"]}),
    );
    assert_escalation(&r, "bind Admin with a token scoped to client_apps");
    let r = s.bearer(&scoped).get("/api/v1/environments/default/roles");
    assert_forbidden(&r, "roles:read outside the token's scope");
}

// ----- admin users -----

#[test]
fn a_down_scoped_super_admin_token_cannot_mint_or_remove_super_admin_power() {
    let s = Server::start();
    let root = s.create_app("default", "root bot", &["Super Admin"]);
    let narrow = scoped_token(&s, &root, "admins:manage");
    create_admin(&s, "second", "Super Admin");
    // It holds admins:manage, but a Super Admin credential carries every permission.
    let r = s
        .bearer(&narrow)
        .post("/api/v1/admins/admin/credential", &json!({}));
    assert_escalation(&r, "credential for a Super Admin from a down-scoped token");
    let r = s.bearer(&narrow).post(
        "/api/v1/admins",
        &json!({"username": "mallory", "password": "correct horse battery", "role": "Super Admin"}),
    );
    assert_escalation(&r, "creating a Super Admin from a down-scoped token");
    let r = s.bearer(&narrow).delete("/api/v1/admins/second");
    assert_escalation(&r, "deleting a Super Admin from a down-scoped token");
    // The bootstrap credential still works: nothing was replaced.
    assert_eq!(s.get("/api/v1/admins", &s.admin).status(), 200);
    assert_eq!(
        admin_get(&s, "/api/v1/admins/second")["role"],
        "Super Admin"
    );
    // The same app with its full token may do all of it.
    let full = s.token(&root);
    let r = s.bearer(&full).delete("/api/v1/admins/second");
    assert_eq!(r.status, 204, "{r:?}");
}
