//! A client app's life after creation: replacing its roles, deactivation and activation
//! (and what they do to issued tokens), deletion, unknown environments or apps, bodies
//! refused before anything changes, and `last_used_at`.

use std::time::Duration;

use reqwest::blocking::Response;
use serde_json::{json, Value};

use crate::harness::{
    app_names, assert_problem, assert_validation_error, eventually, get_app, is_rfc3339_utc,
    list_apps, post_client_app, Server, APPS,
};

// ----- roles -----

#[test]
fn replacing_an_apps_roles_applies_and_unknown_roles_are_422() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    s.create_role("default", "writer", &["orders:write"]);
    let app = s.create_app("default", "role app", &["reader"]);
    let res = s.put(
        &format!("{}/roles", s.app_path("default", &app)),
        &s.admin,
        json!({"roles": ["writer", "reader"]}),
    );
    assert_eq!(res.status(), 200);
    let body: Value = res.json().expect("json");
    assert_eq!(body["roles"], json!(["reader", "writer"]));
    assert_eq!(get_app(&s, &app)["roles"], json!(["reader", "writer"]));

    let res = s.put(
        &format!("{}/roles", s.app_path("default", &app)),
        &s.admin,
        json!({"roles": ["writer", "no such role"]}),
    );
    assert_validation_error(res, "roles", "unknown role");
    assert_eq!(
        get_app(&s, &app)["roles"],
        json!(["reader", "writer"]),
        "a refused change changes nothing"
    );
    let res = s.put(
        &format!("{}/roles", s.app_path("default", &app)),
        &s.admin,
        json!({}),
    );
    assert_eq!(res.status(), 422, "roles is required");
    s.set_roles("default", &app, &[]);
    assert_eq!(get_app(&s, &app)["roles"], json!([]));
}

// ----- lifecycle -----

#[test]
fn deactivate_and_activate_are_idempotent_and_return_the_app() {
    let s = Server::start();
    let app = s.create_app("default", "toggled app", &[]);
    let path = s.app_path("default", &app);
    for (action, status) in [
        ("deactivate", "INACTIVE"),
        ("deactivate", "INACTIVE"),
        ("activate", "ACTIVE"),
        ("activate", "ACTIVE"),
    ] {
        let res = s.post(&format!("{path}/{action}"), &s.admin, json!({}));
        assert_eq!(res.status(), 200, "{action}");
        let body: Value = res.json().expect("json");
        assert_eq!(body["status"], status, "{action}");
        assert_eq!(body["client_id"], app.client_id.as_str());
        assert!(body.get("client_secret").is_none());
        assert_eq!(get_app(&s, &app)["status"], status);
    }
    // Without a body at all, too.
    let res = s
        .http()
        .post(s.url(&format!("{path}/deactivate")))
        .bearer_auth(&s.admin)
        .send()
        .expect("request");
    assert_eq!(res.status(), 200);
}

#[test]
fn deactivation_revokes_issued_tokens_at_once_and_activation_restores_them() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "revoked app", &["reader"]);
    let token = s.token(&app);
    assert_eq!(s.authorize(&token, "orders:read"), 200);
    s.deactivate("default", &app);
    assert_eq!(s.status(&token), 401, "the very next call");
    assert_eq!(s.authorize(&token, "orders:read"), 401);
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        401
    );
    s.activate("default", &app);
    assert_eq!(
        s.status(&token),
        200,
        "the same unexpired token works again"
    );
    assert_eq!(s.authorize(&token, "orders:read"), 200);
}

#[test]
fn deleting_an_active_app_is_refused_with_409_app_is_active() {
    let s = Server::start();
    let app = s.create_app("default", "busy app", &[]);
    let token = s.token(&app);
    let res = s.delete(&s.app_path("default", &app), &s.admin);
    assert_problem(res, 409, "app-is-active", "delete while active");
    assert_eq!(get_app(&s, &app)["status"], "ACTIVE");
    assert_eq!(s.status(&token), 200, "nothing changed");
}

#[test]
fn a_deleted_app_is_gone_and_its_tokens_fail_forever() {
    let s = Server::start();
    let app = s.create_app("default", "doomed app", &[]);
    let token = s.token(&app);
    s.deactivate("default", &app);
    let path = s.app_path("default", &app);
    let res = s.delete(&path, &s.admin);
    assert_eq!(res.status(), 204);
    assert!(res.text().expect("text").is_empty());
    assert_problem(s.get(&path, &s.admin), 404, "not-found", "GET deleted app");
    assert!(app_names(&list_apps(&s, "")).is_empty(), "not listed");
    assert_eq!(s.status(&token), 401);
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        401
    );
    // No way back.
    let res = s.post(&format!("{path}/activate"), &s.admin, json!({}));
    assert_problem(res, 404, "not-found", "activate deleted app");
    assert_problem(s.delete(&path, &s.admin), 404, "not-found", "delete twice");
    assert_eq!(
        s.status(&token),
        401,
        "still refused after the reactivation attempt"
    );
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        401
    );
    // The secret hash is gone from storage.
    assert!(s.db().stored_secret_hash(&app.client_id).is_none());
}

#[test]
fn unknown_environment_or_app_is_404_not_found() {
    let s = Server::start();
    let app = s.create_app("default", "known app", &[]);
    let unknown_app = "/api/v1/environments/default/client-apps/AAAAAAAAAAAAAAAAAAAAAA";
    let wrong_env = format!("/api/v1/environments/nowhere/client-apps/{}", app.client_id);
    s.create_environment("staging");
    let other_env = format!("/api/v1/environments/staging/client-apps/{}", app.client_id);
    for path in [unknown_app, wrong_env.as_str(), other_env.as_str()] {
        assert_problem(s.get(path, &s.admin), 404, "not-found", path);
        let res = s.post(&format!("{path}/deactivate"), &s.admin, json!({}));
        assert_problem(res, 404, "not-found", path);
        let res = s.put(&format!("{path}/roles"), &s.admin, json!({"roles": []}));
        assert_problem(res, 404, "not-found", path);
        assert_problem(s.delete(path, &s.admin), 404, "not-found", path);
    }
    assert_problem(
        s.get("/api/v1/environments/nowhere/client-apps", &s.admin),
        404,
        "not-found",
        "list in unknown env",
    );
    let res = post_client_app(&s, "nowhere", json!({"name": "lost app"}));
    assert_problem(res, 404, "not-found", "create in unknown env");
    assert_eq!(get_app(&s, &app)["status"], "ACTIVE", "untouched");
}

#[test]
fn bad_management_bodies_get_415_400_422_or_413_and_change_nothing() {
    let s = Server::start();
    let raw = |ct: Option<&str>, body: String| -> Response {
        let mut req = s.http().post(s.url(APPS)).bearer_auth(&s.admin);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.body(body).send().expect("request")
    };
    let good = json!({"name": "body app"}).to_string();
    assert_problem(
        raw(Some("text/plain"), good.clone()),
        415,
        "unsupported-media-type",
        "text/plain",
    );
    assert_problem(
        raw(
            Some("application/x-www-form-urlencoded"),
            "name=body+app".into(),
        ),
        415,
        "unsupported-media-type",
        "form",
    );
    assert_problem(
        raw(None, good.clone()),
        415,
        "unsupported-media-type",
        "no type",
    );
    assert_problem(
        raw(Some("application/json"), "{\"name\": ".into()),
        400,
        "malformed-body",
        "truncated JSON",
    );
    assert_problem(
        raw(Some("application/json"), "[\"body app\"]".into()),
        400,
        "malformed-body",
        "JSON array",
    );
    assert_validation_error(
        raw(
            Some("application/json"),
            json!({"name": "body app", "secret": "mine"}).to_string(),
        ),
        "secret",
        "unknown field",
    );
    assert_validation_error(
        raw(
            Some("application/json"),
            json!({"name": "body app", "roles": "reader"}).to_string(),
        ),
        "roles",
        "roles not a list",
    );
    let huge = json!({"name": "body app", "roles": ["x".repeat(65 * 1024)]}).to_string();
    assert_problem(
        raw(Some("application/json"), huge),
        413,
        "body-too-large",
        "65 KiB",
    );
    assert!(app_names(&list_apps(&s, "")).is_empty(), "nothing created");
    assert_eq!(raw(Some("application/json"), good).status(), 201);
}

// ----- last_used_at -----

#[test]
fn last_used_at_is_null_until_a_token_then_shown_at_once_and_persisted_in_batches() {
    let mut s = Server::start();
    let app = s.create_app("default", "usage app", &[]);
    let late = s.create_app("default", "late usage app", &[]);
    assert!(get_app(&s, &app)["last_used_at"].is_null());
    assert!(s.db().stored_last_used_at(&app.client_id).is_none());

    s.token(&app);
    let shown = get_app(&s, &app)["last_used_at"].clone();
    assert!(
        shown.as_str().is_some_and(is_rfc3339_utc),
        "GET shows last_used_at at once: {shown}"
    );
    assert!(
        eventually(Duration::from_secs(10), || s
            .db()
            .stored_last_used_at(&app.client_id)
            .is_some())
        .is_some(),
        "last_used_at reaches the database"
    );
    // A token right before shutdown is not lost.
    s.token(&late);
    assert!(s.terminate().success(), "graceful exit");
    assert!(
        s.db().stored_last_used_at(&late.client_id).is_some(),
        "flushed at SIGTERM"
    );
}
