//! Roles: deleting a bound role needs `force`, which unbinds it and revokes its
//! permissions at once; the built-in roles are listed everywhere and cannot be edited,
//! deleted or shadowed; malformed permission strings are refused field by field.

use serde_json::json;

use crate::harness::{
    admin_get, app_with_token, assert_allowed, assert_denied, assert_problem, names_of,
    sorted_strings, Server,
};

#[test]
fn deleting_a_bound_role_needs_force_which_unbinds_it_and_revokes_its_permissions() {
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read"]);
    let (app, token) = app_with_token(&s, "default", "reader", &["orders-reader"]);
    let path = "/api/v1/environments/default/roles/orders-reader";
    assert_allowed(&s, &token, "orders:read", "bound");

    let r = s.bearer(&s.admin).delete(path);
    assert_problem(&r, 409, "role-in-use", "delete a bound role");
    assert_eq!(admin_get(&s, path)["name"], json!("orders-reader"));
    assert_allowed(&s, &token, "orders:read", "after the refused delete");

    let r = s.bearer(&s.admin).delete(&format!("{path}?force=false"));
    assert_problem(&r, 409, "role-in-use", "force=false");
    let r = s.bearer(&s.admin).delete(&format!("{path}?force=yes"));
    assert_problem(&r, 422, "validation-error", "force=yes");

    let r = s.bearer(&s.admin).delete(&format!("{path}?force=true"));
    assert_eq!(r.status, 204, "{r:?}");
    assert_denied(
        &s,
        &token,
        "orders:read",
        "on the very next call after force delete",
    );
    let r = s.bearer(&s.admin).get(path);
    assert_problem(&r, 404, "not-found", "deleted role");
    assert_eq!(
        admin_get(&s, &s.app_path("default", &app))["roles"],
        json!([])
    );
    assert_eq!(s.status(&token), 200, "the token itself stays valid");

    // An unbound role deletes without force; a new role of the same name grants anew.
    s.create_role("default", "unbound", &["orders:read"]);
    let r = s
        .bearer(&s.admin)
        .delete("/api/v1/environments/default/roles/unbound");
    assert_eq!(r.status, 204, "{r:?}");
    s.create_role("default", "orders-reader", &["orders:read"]);
    assert_denied(
        &s,
        &token,
        "orders:read",
        "a new role of the same name is not bound",
    );
}

#[test]
fn built_in_roles_are_listed_and_cannot_be_edited_deleted_or_shadowed() {
    let s = Server::start();
    let roles = "/api/v1/environments/default/roles";
    let list = admin_get(&s, roles);
    let item = |name: &str| {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|r| r["name"] == json!(name))
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
            .clone()
    };
    let sa = item("Super Admin");
    assert_eq!(sa["builtin"], json!(true));
    assert_eq!(sa["permissions"], json!(["*:*"]));
    let admin = item("Admin");
    assert_eq!(admin["builtin"], json!(true));
    assert_eq!(
        sorted_strings(&admin["permissions"]),
        vec![
            "api_keys:*",
            "audit:read",
            "client_apps:*",
            "environments:read",
            "identity_providers:*",
            "live:read",
            "roles:*",
            "tokens:introspect"
        ]
    );
    // Every environment has them.
    s.create_environment("fresh");
    let fresh = admin_get(&s, "/api/v1/environments/fresh/roles");
    assert_eq!(names_of(&fresh, "name"), vec!["Admin", "Super Admin"]);

    for name in ["Admin", "Super%20Admin"] {
        let path = format!("{roles}/{name}");
        let r = s
            .bearer(&s.admin)
            .put(&path, &json!({"permissions": ["orders:read"]}));
        assert_problem(&r, 409, "builtin-role", &format!("PUT {name}"));
        let r = s.bearer(&s.admin).delete(&path);
        assert_problem(&r, 409, "builtin-role", &format!("DELETE {name}"));
        let r = s.bearer(&s.admin).delete(&format!("{path}?force=true"));
        assert_problem(&r, 409, "builtin-role", &format!("DELETE {name} force"));
    }
    assert_eq!(admin_get(&s, &format!("{roles}/Admin")), admin);
    assert_eq!(admin_get(&s, &format!("{roles}/Super%20Admin")), sa);

    for name in ["admin", "ADMIN", "Admin", "super admin", "Super Admin"] {
        let r = s.bearer(&s.admin).post(
            roles,
            &json!({"name": name, "permissions": ["orders:read"]}),
        );
        assert_problem(
            &r,
            409,
            "name-taken",
            &format!("custom role named {name:?}"),
        );
    }
    s.create_role("default", "ops", &["orders:read"]);
    let r = s.bearer(&s.admin).post(
        roles,
        &json!({"name": "OPS", "permissions": ["orders:read"]}),
    );
    assert_problem(&r, 409, "name-taken", "same custom name, other case");
}

#[test]
fn bad_permission_strings_are_refused_with_422_per_field() {
    let s = Server::start();
    let roles = "/api/v1/environments/default/roles";
    let max = format!("{}:{}", "a".repeat(64), "b".repeat(64));
    let too_long = format!("{}:read", "a".repeat(65));
    let permissions = json!([
        "orders:read",
        "orders",
        "orders:read:all",
        "Orders:read",
        "orders: read",
        "",
        ":read",
        "orders:",
        "1orders:read",
        too_long,
        "orders:READ",
        "*:*",
        max,
        "orders:*"
    ]);
    let r = s
        .bearer(&s.admin)
        .post(roles, &json!({"name": "bad", "permissions": permissions}));
    assert_problem(&r, 422, "validation-error", "bad permissions");
    let mut fields: Vec<String> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect();
    fields.sort();
    let mut expected: Vec<String> = (1..=11).map(|i| format!("permissions[{i}]")).collect();
    expected.sort();
    assert_eq!(fields, expected, "{:?}", r.body);
    let r = s.bearer(&s.admin).get(&format!("{roles}/bad"));
    assert_eq!(r.status, 404, "nothing was created: {r:?}");

    // The longest valid parts and the wildcard are fine.
    let max = format!("{}:{}", "a".repeat(64), "b".repeat(64));
    s.create_role(
        "default",
        "good",
        &[&max, "orders:*", "orders.v2-x_y:read-all"],
    );

    let r = s.bearer(&s.admin).put(
        &format!("{roles}/good"),
        &json!({"permissions": ["orders:read", "no colon"]}),
    );
    assert_problem(&r, 422, "validation-error", "PUT with a bad permission");
    assert_eq!(r.body["errors"][0]["field"], json!("permissions[1]"));
    assert_eq!(
        sorted_strings(&admin_get(&s, &format!("{roles}/good"))["permissions"]),
        {
            let mut v = vec![
                max.clone(),
                "orders.v2-x_y:read-all".into(),
                "orders:*".into(),
            ];
            v.sort();
            v
        },
        "unchanged after the refused PUT"
    );
}
