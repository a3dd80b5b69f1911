//! Users (SPEC §6): a global built-in role or roles per environment, a status, the
//! `/api/v1/users` routes (and `/admins`, their older name), and the rule that no write
//! leaves no active Super Admin.

use serde_json::json;

use crate::harness::*;

#[test]
fn users_hold_a_global_role_or_roles_per_environment() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_role("default", "orders-reader", &["orders:read"]);
    s.create_role("staging", "orders-reader", &["orders:read"]);
    let admin = s.bearer(&s.admin);
    let r = admin.post(
        "/api/v1/users",
        &json!({"username": "ops", "password": "correct horse battery", "role": "Admin"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["role"], "Admin");
    assert_eq!(r.body["roles"], json!([]));
    assert_eq!(r.body["status"], "ACTIVE");
    assert!(r.body.get("password").is_none() && !r.body.to_string().contains("correct horse"));

    let r = admin.post(
        "/api/v1/users",
        &json!({"username": "dana", "password": "correct horse battery", "roles": [
            {"environment": "default", "roles": ["orders-reader", "Admin"]},
            {"environment": "staging", "roles": ["orders-reader"]}]}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["role"], json!(null));
    assert_eq!(
        r.body["roles"],
        json!([{"environment": "default", "roles": ["Admin", "orders-reader"]},
               {"environment": "staging", "roles": ["orders-reader"]}])
    );
    // Listed under /users and /admins alike.
    for base in ["/api/v1/users", "/api/v1/admins"] {
        let list = admin.get(base);
        assert_eq!(list.status, 200);
        let names: Vec<_> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.contains(&"dana".to_owned()), "{base}: {names:?}");
    }
    // Replace: an empty list per environment removes them; or a global role instead.
    let r = admin.put(
        "/api/v1/users/dana/roles",
        &json!({"roles": [{"environment": "default", "roles": []},
                          {"environment": "staging", "roles": ["orders-reader"]}]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body["roles"],
        json!([{"environment": "staging", "roles": ["orders-reader"]}])
    );
    let r = admin.put("/api/v1/users/dana/roles", &json!({"role": "Admin"}));
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.body["role"].clone(), r.body["roles"].clone()),
        (json!("Admin"), json!([]))
    );
}

#[test]
fn bad_user_input_is_a_422_naming_the_field_and_changes_nothing() {
    let s = Server::start();
    let admin = s.bearer(&s.admin);
    let cases = [
        (
            json!({"username": "x", "password": "correct horse battery"}),
            "role",
        ),
        (
            json!({"username": "x", "password": "correct horse battery", "role": "Admin", "roles": []}),
            "roles",
        ),
        (
            json!({"username": "x", "password": "correct horse battery", "role": "Owner"}),
            "role",
        ),
        (
            json!({"username": "x", "password": "correct horse battery", "roles": "Admin"}),
            "roles",
        ),
        (
            json!({"username": "x", "password": "correct horse battery", "roles": [{"environment": "nowhere", "roles": []}]}),
            "roles[0].environment",
        ),
        (
            json!({"username": "x", "password": "correct horse battery", "roles": [{"environment": "default", "roles": ["no such role"]}]}),
            "roles[0].roles",
        ),
        (
            json!({"username": "x", "password": "correct horse battery", "roles": [{"environment": "default", "roles": [1]}]}),
            "roles[0].roles",
        ),
        (
            json!({"username": "x", "password": "correct horse battery", "roles": [{"environment": "default", "roles": [], "extra": 1}]}),
            "roles[0].extra",
        ),
        (
            json!({"username": "bad name!", "password": "correct horse battery", "role": "Admin"}),
            "username",
        ),
    ];
    for (body, field) in cases {
        let r = admin.post("/api/v1/users", &body);
        assert_eq!(r.status, 422, "{body}: {r:?}");
        let fields: Vec<_> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert!(fields.contains(&field.to_owned()), "{body}: {fields:?}");
    }
    assert_eq!(
        admin.get("/api/v1/users").body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_deactivated_super_admin_loses_their_credential_and_the_last_active_one_stays() {
    let s = Server::start();
    let admin = s.bearer(&s.admin);
    // The only Super Admin can neither be deactivated nor demoted.
    let r = admin.post("/api/v1/users/admin/deactivate", &json!({}));
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(r.problem_type(), format!("{PROBLEM}last-super-admin"));
    let r = admin.put("/api/v1/users/admin/roles", &json!({"role": "Admin"}));
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(admin.get("/api/v1/users/admin").body["status"], "ACTIVE");

    // A second Super Admin with a credential, deactivated: the credential stops at once.
    create_admin(&s, "root2", "Super Admin");
    let credential = issue_credential(&s, &s.admin, "root2");
    assert_eq!(s.bearer(&credential).get("/api/v1/users").status, 200);
    let r = admin.post("/api/v1/users/root2/deactivate", &json!({}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "INACTIVE");
    assert_eq!(s.bearer(&credential).get("/api/v1/users").status, 401);
    // Now the bootstrap admin is the last active one again.
    assert_eq!(
        admin
            .post("/api/v1/users/admin/deactivate", &json!({}))
            .status,
        409
    );
    let r = admin.post("/api/v1/users/root2/activate", &json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(
        s.bearer(&credential).get("/api/v1/users").status,
        200,
        "activated again"
    );
    // Idempotent.
    assert_eq!(
        admin
            .post("/api/v1/users/root2/activate", &json!({}))
            .status,
        200
    );
}
