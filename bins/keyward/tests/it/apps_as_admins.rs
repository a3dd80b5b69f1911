//! Client apps automating Keyward: an app with the Admin role manages other apps of its
//! environment; an app sees only its own environment, a Super Admin app sees and acts in
//! all of them.

use serde_json::json;

use crate::harness::{app_with_token, assert_allowed, assert_problem, names_of, Server};

#[test]
fn client_app_with_role_admin_creates_deactivates_and_deletes_another_app() {
    let s = Server::start();
    let (_, robot) = app_with_token(&s, "default", "automation robot", &["Admin"]);
    s.create_role("default", "orders-reader", &["orders:read"]);

    let created = s.create_app_as(&robot, "default", "made by robot", &["orders-reader"]);
    assert_eq!(created.body["status"], json!("ACTIVE"));
    assert_eq!(created.body["roles"], json!(["orders-reader"]));
    let child = s.token(&created);
    assert_eq!(s.status(&child), 200);
    assert_allowed(&s, &child, "orders:read", "the robot's app");

    let path = s.app_path("default", &created);
    let r = s.bearer(&robot).get(&path);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.get("client_secret").is_none(), "{r:?}");

    let r = s.bearer(&robot).delete(&path);
    assert_problem(&r, 409, "app-is-active", "delete while active");

    let r = s
        .bearer(&robot)
        .post(&format!("{path}/deactivate"), &json!({}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], json!("INACTIVE"));
    assert_eq!(s.status(&child), 401, "deactivated app's token");

    let r = s.bearer(&robot).delete(&path);
    assert_eq!(r.status, 204, "{r:?}");
    let r = s.bearer(&robot).get(&path);
    assert_problem(&r, 404, "not-found", "deleted app");
    assert_eq!(s.status(&child), 401, "deleted app's token");
    let res = s.token_response(&created.client_id, &created.client_secret, None);
    assert_eq!(res.status(), 401);

    // The robot itself is untouched.
    assert_eq!(s.status(&robot), 200);
}

#[test]
fn an_app_lists_only_its_own_environment_a_super_admin_app_sees_all() {
    let s = Server::start();
    s.create_environment("alpha");
    s.create_environment("beta");
    let (_, local) = app_with_token(&s, "alpha", "local admin", &["Admin"]);
    let r = s.bearer(&local).get("/api/v1/environments");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(names_of(&r.body, "slug"), vec!["alpha"]);

    let (_, global) = app_with_token(&s, "alpha", "global admin", &["Super Admin"]);
    let r = s.bearer(&global).get("/api/v1/environments");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(names_of(&r.body, "slug"), vec!["alpha", "beta", "default"]);
    // A Super Admin app acts in other environments too.
    let r = s
        .bearer(&global)
        .get("/api/v1/environments/beta/client-apps");
    assert_eq!(r.status, 200, "{r:?}");
    let made = s.create_app_as(&global, "beta", "made from alpha", &[]);
    assert_eq!(made.body["environment"], json!("beta"));
}
