//! Access control over real HTTP (issue 3): every management route answers 401 without
//! a valid credential, 403 without the permission (or outside the caller's reach), and
//! succeeds with it; permission decisions follow live state (deactivation, role changes,
//! role edits, disabled environments) on the very next call; no privilege escalation;
//! built-in roles are immutable; Super Admins' personal credentials are one at a time.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{eventually, App, Server};

const PROBLEM: &str = "urn:keyward:problem:";

// ----- helpers -----

/// One response, read completely.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    body: Value,
}

impl Reply {
    fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

/// A request to the management API, with or without a Bearer credential.
fn send(
    s: &Server,
    method: Method,
    path: &str,
    credential: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut req = s.http().request(method, s.url(path));
    if let Some(c) = credential {
        req = req.bearer_auth(c);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().unwrap_or_else(|e| {
        let logs = s.logs();
        let tail: Vec<&str> = logs.lines().rev().take(20).collect();
        panic!(
            "request failed: {e:?}\nserver log tail (newest first):\n{}",
            tail.join("\n")
        )
    });
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let content_type = header("content-type").unwrap_or_default();
    let www_authenticate = header("www-authenticate");
    let text = res.text().expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        content_type,
        www_authenticate,
        body,
    }
}

/// Asserts a problem response of `status` and `kind` (the `type` suffix).
#[track_caller]
fn assert_problem(reply: &Reply, status: u16, kind: &str, context: &str) {
    assert_eq!(reply.status, status, "{context}: {reply:?}");
    assert!(
        reply.content_type.starts_with("application/problem+json"),
        "{context}: content type {reply:?}"
    );
    assert_eq!(
        reply.problem_type(),
        format!("{PROBLEM}{kind}"),
        "{context}: {reply:?}"
    );
    if status == 401 {
        let auth = reply.www_authenticate.as_deref().unwrap_or_default();
        assert!(
            auth.starts_with("Bearer"),
            "{context}: 401 without WWW-Authenticate: Bearer: {reply:?}"
        );
    }
    if status == 403 {
        // RFC 6750 §3.1: a token that does not enable access says why.
        let auth = reply.www_authenticate.as_deref().unwrap_or_default();
        assert!(
            auth.starts_with("Bearer realm=\"keyward\", error=\"insufficient_scope\""),
            "{context}: 403 without an insufficient_scope challenge: {reply:?}"
        );
    }
}

#[track_caller]
fn assert_unauthenticated(reply: &Reply, context: &str) {
    assert_problem(reply, 401, "unauthenticated", context);
}

#[track_caller]
fn assert_forbidden(reply: &Reply, context: &str) {
    assert_problem(reply, 403, "forbidden", context);
}

#[track_caller]
fn assert_escalation(reply: &Reply, context: &str) {
    assert_problem(reply, 403, "privilege-escalation", context);
}

/// A process-wide counter for unique names.
fn unique() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Creates an app as the Super Admin and gets an access token for it.
fn app_with_token(s: &Server, env: &str, name: &str, roles: &[&str]) -> (App, String) {
    let app = s.create_app(env, name, roles);
    let token = s.token(&app);
    (app, token)
}

/// An access token with a `scope` parameter; panics unless 200.
fn scoped_token(s: &Server, app: &App, scope: &str) -> String {
    let res = s.token_response(&app.client_id, &app.client_secret, Some(scope));
    let status = res.status();
    let body: Value = res.json().expect("json");
    assert_eq!(status, 200, "token with scope {scope}: {body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// The body of a GET as the Super Admin; panics unless 200.
fn admin_get(s: &Server, path: &str) -> Value {
    let r = send(s, Method::GET, path, Some(&s.admin), None);
    assert_eq!(r.status, 200, "GET {path}: {r:?}");
    r.body
}

/// The `/api/v1/authorize` reply for a token and permission.
fn authorize(s: &Server, token: &str, permission: &str) -> Reply {
    send(
        s,
        Method::POST,
        "/api/v1/authorize",
        Some(token),
        Some(&json!({ "permission": permission })),
    )
}

#[track_caller]
fn assert_allowed(s: &Server, token: &str, permission: &str, context: &str) {
    let r = authorize(s, token, permission);
    assert_eq!(r.status, 200, "{context}: authorize {permission}: {r:?}");
    assert_eq!(r.body["allowed"], json!(true), "{context}: {r:?}");
}

#[track_caller]
fn assert_denied(s: &Server, token: &str, permission: &str, context: &str) {
    let r = authorize(s, token, permission);
    assert_forbidden(&r, &format!("{context}: authorize {permission}"));
    assert_eq!(r.body["allowed"], json!(false), "{context}: {r:?}");
}

fn names_of(list: &Value, key: &str) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i[key].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

fn sorted_strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p.as_str().expect("string").to_owned())
        .collect();
    out.sort();
    out
}

/// Creates an admin user through the API as the bootstrap Super Admin.
fn create_admin(s: &Server, username: &str, role: &str) -> Value {
    let r = send(
        s,
        Method::POST,
        "/api/v1/admins",
        Some(&s.admin),
        Some(&json!({"username": username, "password": "correct horse battery", "role": role})),
    );
    assert_eq!(r.status, 201, "create admin {username}: {r:?}");
    r.body
}

/// Issues a personal credential through the API; panics unless 201.
fn issue_credential(s: &Server, as_credential: &str, username: &str) -> String {
    let r = send(
        s,
        Method::POST,
        &format!("/api/v1/admins/{username}/credential"),
        Some(as_credential),
        Some(&json!({})),
    );
    assert_eq!(r.status, 201, "credential for {username}: {r:?}");
    assert_eq!(r.body["username"], json!(username));
    assert!(r.body["created_at"].is_string(), "{r:?}");
    let credential = r.body["credential"]
        .as_str()
        .expect("credential")
        .to_owned();
    assert!(credential.starts_with("kwpc_"), "{credential}");
    credential
}

// ----- the route table -----

/// One request to make.
struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
}

fn req(method: Method, path: String, body: Option<Value>) -> Req {
    Req { method, path, body }
}

/// A management route: the permission it requires, whether only global principals
/// reach it, the success status, and how to build a request against a fresh target
/// in environment `env` (targets are created by the Super Admin).
struct Route {
    name: &'static str,
    permission: &'static str,
    global: bool,
    success: u16,
    make: fn(&Server, &str) -> Req,
}

/// A fresh client app in `env`, created by the Super Admin.
fn target_app(s: &Server, env: &str) -> App {
    s.create_app(env, &format!("target {}", unique()), &[])
}

/// A fresh custom role in `env`, created by the Super Admin.
fn target_role(s: &Server, env: &str) -> String {
    let name = format!("target-{}", unique());
    s.create_role(env, &name, &["orders:read"]);
    name
}

fn environment_routes() -> Vec<Route> {
    vec![
        Route {
            name: "GET /api/v1/environments",
            permission: "environments:read",
            global: false,
            success: 200,
            make: |_, _| req(Method::GET, "/api/v1/environments".into(), None),
        },
        Route {
            name: "POST /api/v1/environments",
            permission: "environments:manage",
            global: true,
            success: 201,
            make: |_, _| {
                req(
                    Method::POST,
                    "/api/v1/environments".into(),
                    Some(json!({"slug": format!("made-{}", unique()), "name": "Made"})),
                )
            },
        },
        Route {
            name: "GET /api/v1/environments/{env}",
            permission: "environments:read",
            global: false,
            success: 200,
            make: |_, env| req(Method::GET, format!("/api/v1/environments/{env}"), None),
        },
        Route {
            name: "PATCH /api/v1/environments/{env}",
            permission: "environments:manage",
            global: false,
            success: 200,
            make: |_, env| {
                req(
                    Method::PATCH,
                    format!("/api/v1/environments/{env}"),
                    Some(json!({"name": format!("Renamed {}", unique())})),
                )
            },
        },
    ]
}

fn role_routes() -> Vec<Route> {
    vec![
        Route {
            name: "GET /api/v1/environments/{env}/roles",
            permission: "roles:read",
            global: false,
            success: 200,
            make: |_, env| {
                req(
                    Method::GET,
                    format!("/api/v1/environments/{env}/roles"),
                    None,
                )
            },
        },
        Route {
            name: "POST /api/v1/environments/{env}/roles",
            permission: "roles:manage",
            global: false,
            success: 201,
            make: |_, env| {
                req(
                    Method::POST,
                    format!("/api/v1/environments/{env}/roles"),
                    Some(
                        json!({"name": format!("made-{}", unique()), "permissions": ["orders:read"]}),
                    ),
                )
            },
        },
        Route {
            name: "GET /api/v1/environments/{env}/roles/{role}",
            permission: "roles:read",
            global: false,
            success: 200,
            make: |s, env| {
                let role = target_role(s, env);
                req(
                    Method::GET,
                    format!("/api/v1/environments/{env}/roles/{role}"),
                    None,
                )
            },
        },
        Route {
            name: "PUT /api/v1/environments/{env}/roles/{role}",
            permission: "roles:manage",
            global: false,
            success: 200,
            make: |s, env| {
                let role = target_role(s, env);
                req(
                    Method::PUT,
                    format!("/api/v1/environments/{env}/roles/{role}"),
                    Some(json!({"permissions": ["orders:write"]})),
                )
            },
        },
        Route {
            name: "DELETE /api/v1/environments/{env}/roles/{role}",
            permission: "roles:manage",
            global: false,
            success: 204,
            make: |s, env| {
                let role = target_role(s, env);
                req(
                    Method::DELETE,
                    format!("/api/v1/environments/{env}/roles/{role}"),
                    None,
                )
            },
        },
    ]
}

fn client_app_routes() -> Vec<Route> {
    vec![
        Route {
            name: "GET /api/v1/environments/{env}/client-apps",
            permission: "client_apps:read",
            global: false,
            success: 200,
            make: |_, env| {
                req(
                    Method::GET,
                    format!("/api/v1/environments/{env}/client-apps"),
                    None,
                )
            },
        },
        Route {
            name: "POST /api/v1/environments/{env}/client-apps",
            permission: "client_apps:manage",
            global: false,
            success: 201,
            make: |_, env| {
                req(
                    Method::POST,
                    format!("/api/v1/environments/{env}/client-apps"),
                    Some(json!({"name": format!("made {}", unique()), "roles": []})),
                )
            },
        },
        Route {
            name: "GET /api/v1/environments/{env}/client-apps/{client_id}",
            permission: "client_apps:read",
            global: false,
            success: 200,
            make: |s, env| {
                let app = target_app(s, env);
                req(Method::GET, s.app_path(env, &app), None)
            },
        },
        Route {
            name: "PUT /api/v1/environments/{env}/client-apps/{client_id}/roles",
            permission: "client_apps:manage",
            global: false,
            success: 200,
            make: |s, env| {
                let app = target_app(s, env);
                req(
                    Method::PUT,
                    format!("{}/roles", s.app_path(env, &app)),
                    Some(json!({"roles": []})),
                )
            },
        },
        Route {
            name: "POST /api/v1/environments/{env}/client-apps/{client_id}/deactivate",
            permission: "client_apps:manage",
            global: false,
            success: 200,
            make: |s, env| {
                let app = target_app(s, env);
                req(
                    Method::POST,
                    format!("{}/deactivate", s.app_path(env, &app)),
                    Some(json!({})),
                )
            },
        },
        Route {
            name: "POST /api/v1/environments/{env}/client-apps/{client_id}/activate",
            permission: "client_apps:manage",
            global: false,
            success: 200,
            make: |s, env| {
                let app = target_app(s, env);
                s.deactivate(env, &app);
                req(
                    Method::POST,
                    format!("{}/activate", s.app_path(env, &app)),
                    Some(json!({})),
                )
            },
        },
        Route {
            name: "DELETE /api/v1/environments/{env}/client-apps/{client_id}",
            permission: "client_apps:manage",
            global: false,
            success: 204,
            make: |s, env| {
                let app = target_app(s, env);
                s.deactivate(env, &app);
                req(Method::DELETE, s.app_path(env, &app), None)
            },
        },
    ]
}

fn admin_routes() -> Vec<Route> {
    vec![
        Route {
            name: "GET /api/v1/admins",
            permission: "admins:read",
            global: true,
            success: 200,
            make: |_, _| req(Method::GET, "/api/v1/admins".into(), None),
        },
        Route {
            name: "POST /api/v1/admins",
            permission: "admins:manage",
            global: true,
            success: 201,
            make: |_, _| {
                req(
                    Method::POST,
                    "/api/v1/admins".into(),
                    Some(json!({
                        "username": format!("made-{}", unique()),
                        "password": "correct horse battery",
                        "role": "Admin"
                    })),
                )
            },
        },
        Route {
            name: "GET /api/v1/admins/{username}",
            permission: "admins:read",
            global: true,
            success: 200,
            make: |_, _| req(Method::GET, "/api/v1/admins/admin".into(), None),
        },
        Route {
            name: "DELETE /api/v1/admins/{username}",
            permission: "admins:manage",
            global: true,
            success: 204,
            make: |s, _| {
                let name = format!("doomed-{}", unique());
                create_admin(s, &name, "Admin");
                req(Method::DELETE, format!("/api/v1/admins/{name}"), None)
            },
        },
        Route {
            name: "POST /api/v1/admins/{username}/credential",
            permission: "admins:manage",
            global: true,
            success: 201,
            make: |s, _| {
                // Never the bootstrap `admin`: that would revoke `s.admin`.
                let name = format!("super-{}", unique());
                create_admin(s, &name, "Super Admin");
                req(
                    Method::POST,
                    format!("/api/v1/admins/{name}/credential"),
                    Some(json!({})),
                )
            },
        },
    ]
}

/// The issue's five checks for one route, each against a fresh target:
/// no/invalid credential → 401; a token without the permission → 403; with it → 2xx;
/// the app deactivated → 401 (activation restores it); its roles removed → 403.
fn check_route(s: &Server, route: &Route) {
    let n = unique();
    let env = format!("route-{n}");
    s.create_environment(&env);
    let call = |credential: Option<&str>| {
        let r = (route.make)(s, &env);
        send(s, r.method, &r.path, credential, r.body.as_ref())
    };
    let ctx = |what: &str| format!("{}: {what}", route.name);

    // Unrelated permissions, also in the same environment.
    s.create_role(&env, "unrelated", &["orders:read"]);
    let (_, unrelated) = app_with_token(s, &env, "unrelated app", &["unrelated"]);
    // The permission the route requires, exactly; for a global route only the
    // built-in Super Admin role makes an app global.
    s.create_role(&env, "exactly", &[route.permission]);
    let granting = if route.global {
        "Super Admin"
    } else {
        "exactly"
    };
    let (caller, token) = app_with_token(s, &env, "caller app", &[granting]);

    assert_unauthenticated(&call(None), &ctx("no credential"));
    assert_unauthenticated(&call(Some("not-a-credential")), &ctx("unknown credential"));
    assert_unauthenticated(
        &call(Some("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")),
        &ctx("forged token"),
    );
    assert_forbidden(
        &call(Some(&unrelated)),
        &ctx("token without the permission"),
    );
    if route.global {
        let (_, scoped) = app_with_token(s, &env, "scoped caller", &["exactly"]);
        assert_forbidden(
            &call(Some(&scoped)),
            &ctx("permission held only inside one environment"),
        );
    }

    let ok = call(Some(&token));
    assert_eq!(
        ok.status,
        route.success,
        "{}: {ok:?}",
        ctx("with the permission")
    );

    s.deactivate(&env, &caller);
    assert_unauthenticated(&call(Some(&token)), &ctx("caller deactivated"));
    s.activate(&env, &caller);
    let ok = call(Some(&token));
    assert_eq!(
        ok.status,
        route.success,
        "{}: {ok:?}",
        ctx("caller activated again")
    );

    s.set_roles(&env, &caller, &[]);
    assert_forbidden(&call(Some(&token)), &ctx("caller's roles removed"));
}

fn check_routes(routes: &[Route]) {
    let s = Server::start();
    for route in routes {
        check_route(&s, route);
    }
}

#[test]
fn environment_routes_answer_401_403_and_success_by_live_permission() {
    check_routes(&environment_routes());
}

#[test]
fn role_routes_answer_401_403_and_success_by_live_permission() {
    check_routes(&role_routes());
}

#[test]
fn client_app_routes_answer_401_403_and_success_by_live_permission() {
    check_routes(&client_app_routes());
}

#[test]
fn admin_routes_answer_401_403_and_success_only_for_global_principals() {
    check_routes(&admin_routes());
}

#[test]
fn the_admin_credential_passes_every_management_route() {
    let s = Server::start();
    s.create_environment("everything");
    let all = [
        environment_routes(),
        role_routes(),
        client_app_routes(),
        admin_routes(),
    ];
    for route in all.iter().flatten() {
        let r = (route.make)(&s, "everything");
        let reply = send(&s, r.method, &r.path, Some(&s.admin), r.body.as_ref());
        assert_eq!(reply.status, route.success, "{}: {reply:?}", route.name);
    }
}

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

    let r = send(
        &s,
        Method::POST,
        "/api/v1/authorize",
        None,
        Some(&json!({"permission": "orders:read"})),
    );
    assert_unauthenticated(&r, "authorize without credential");
    assert_unauthenticated(
        &authorize(&s, "garbage", "orders:read"),
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

// ----- client apps automating Keyward -----

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
    let r = send(&s, Method::GET, &path, Some(&robot), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.get("client_secret").is_none(), "{r:?}");

    let r = send(&s, Method::DELETE, &path, Some(&robot), None);
    assert_problem(&r, 409, "app-is-active", "delete while active");

    let r = send(
        &s,
        Method::POST,
        &format!("{path}/deactivate"),
        Some(&robot),
        Some(&json!({})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], json!("INACTIVE"));
    assert_eq!(s.status(&child), 401, "deactivated app's token");

    let r = send(&s, Method::DELETE, &path, Some(&robot), None);
    assert_eq!(r.status, 204, "{r:?}");
    let r = send(&s, Method::GET, &path, Some(&robot), None);
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
    let r = send(&s, Method::GET, "/api/v1/environments", Some(&local), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(names_of(&r.body, "slug"), vec!["alpha"]);

    let (_, global) = app_with_token(&s, "alpha", "global admin", &["Super Admin"]);
    let r = send(&s, Method::GET, "/api/v1/environments", Some(&global), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(names_of(&r.body, "slug"), vec!["alpha", "beta", "default"]);
    // A Super Admin app acts in other environments too.
    let r = send(
        &s,
        Method::GET,
        "/api/v1/environments/beta/client-apps",
        Some(&global),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let made = s.create_app_as(&global, "beta", "made from alpha", &[]);
    assert_eq!(made.body["environment"], json!("beta"));
}

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

    let r = send(
        &s,
        Method::PATCH,
        "/api/v1/environments/staging",
        Some(&s.admin),
        Some(&json!({"enabled": false})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["enabled"], json!(false));

    assert_eq!(
        s.status(&token),
        401,
        "status of a token in a disabled environment"
    );
    assert_unauthenticated(
        &authorize(&s, &token, "orders:read"),
        "authorize when disabled",
    );
    let r = send(
        &s,
        Method::GET,
        "/api/v1/environments/staging/client-apps",
        Some(&manager),
        None,
    );
    assert_unauthenticated(&r, "management call when disabled");
    let r = send(
        &s,
        Method::GET,
        "/api/v1/environments/default",
        Some(&global),
        None,
    );
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

    let r = send(
        &s,
        Method::PATCH,
        "/api/v1/environments/staging",
        Some(&s.admin),
        Some(&json!({"enabled": true})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.status(&token), 200, "the old token works again");
    assert_allowed(&s, &token, "orders:read", "after enabling");
    let r = send(
        &s,
        Method::GET,
        "/api/v1/environments/staging/client-apps",
        Some(&manager),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(
        &s,
        Method::GET,
        "/api/v1/environments/default",
        Some(&global),
        None,
    );
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
    let r = send(
        &s,
        Method::PATCH,
        "/api/v1/environments/beta",
        Some(&token),
        Some(&json!({"enabled": false})),
    );
    assert_forbidden(&r, "disable another environment");
    assert_eq!(
        admin_get(&s, "/api/v1/environments/beta")["enabled"],
        json!(true)
    );
    let r = send(
        &s,
        Method::POST,
        "/api/v1/environments",
        Some(&token),
        Some(&json!({"slug": "gamma"})),
    );
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
        let r = send(&s, method, &path, Some(&token), None);
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
        let r = send(&s, method, &path, Some(&token), body.as_ref());
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

// ----- no escalation -----

#[test]
fn a_role_manager_grants_custom_permissions_freely_but_no_management_permission_it_lacks() {
    let s = Server::start();
    s.create_role("default", "role-manager", &["roles:manage", "roles:read"]);
    s.create_role("default", "apps-role", &["client_apps:manage"]);
    s.create_role("default", "plain", &["orders:read"]);
    let (_, token) = app_with_token(&s, "default", "role manager", &["role-manager"]);
    let roles = "/api/v1/environments/default/roles";
    let create = |name: &str, permissions: &[&str]| {
        send(
            &s,
            Method::POST,
            roles,
            Some(&token),
            Some(&json!({"name": name, "permissions": permissions})),
        )
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
        assert_escalation(&create(name, &perms), &format!("create {name}"));
        let r = send(
            &s,
            Method::GET,
            &format!("{roles}/{name}"),
            Some(&s.admin),
            None,
        );
        assert_eq!(r.status, 404, "{name} must not exist: {r:?}");
    }

    // Editing: no new management permission, and no touching a role that holds one.
    let r = send(
        &s,
        Method::PUT,
        &format!("{roles}/plain"),
        Some(&token),
        Some(&json!({"permissions": ["orders:read", "client_apps:manage"]})),
    );
    assert_escalation(&r, "widen a role with client_apps:manage");
    let r = send(
        &s,
        Method::PUT,
        &format!("{roles}/plain"),
        Some(&token),
        Some(&json!({"permissions": ["orders:write"]})),
    );
    assert_eq!(r.status, 200, "custom edit: {r:?}");
    let r = send(
        &s,
        Method::PUT,
        &format!("{roles}/apps-role"),
        Some(&token),
        Some(&json!({"permissions": ["orders:read"]})),
    );
    assert_escalation(&r, "edit a role holding a permission the caller lacks");
    let r = send(
        &s,
        Method::DELETE,
        &format!("{roles}/apps-role"),
        Some(&token),
        None,
    );
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
        send(
            &s,
            Method::POST,
            apps,
            Some(&token),
            Some(&json!({"name": name, "roles": roles})),
        )
    };

    assert_eq!(create("plain worker", &["orders-reader"]).status, 201);
    assert_eq!(create("peer manager", &["app-manager"]).status, 201);
    assert_escalation(&create("admin app", &["Admin"]), "bind Admin");
    assert_escalation(&create("super app", &["Super Admin"]), "bind Super Admin");
    let listed = admin_get(&s, apps);
    assert_eq!(
        names_of(&listed, "name"),
        vec!["app manager", "peer manager", "plain worker"]
    );

    // Rebinding roles of a harmless app: custom yes, Admin no.
    let worker = s.create_app(env, "worker", &[]);
    let worker_roles = format!("{}/roles", s.app_path(env, &worker));
    let r = send(
        &s,
        Method::PUT,
        &worker_roles,
        Some(&token),
        Some(&json!({"roles": ["orders-reader"]})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(
        &s,
        Method::PUT,
        &worker_roles,
        Some(&token),
        Some(&json!({"roles": ["Admin"]})),
    );
    assert_escalation(&r, "rebind to Admin");
    assert_eq!(
        admin_get(&s, &s.app_path(env, &worker))["roles"],
        json!(["orders-reader"])
    );

    // An app holding more management power than the caller is out of its hands.
    let boss = s.create_app(env, "boss", &["Admin"]);
    let boss_path = s.app_path(env, &boss);
    let r = send(
        &s,
        Method::PUT,
        &format!("{boss_path}/roles"),
        Some(&token),
        Some(&json!({"roles": []})),
    );
    assert_escalation(&r, "strip the roles of an Admin app");
    let r = send(
        &s,
        Method::POST,
        &format!("{boss_path}/deactivate"),
        Some(&token),
        Some(&json!({})),
    );
    assert_escalation(&r, "deactivate an Admin app");
    assert_eq!(admin_get(&s, &boss_path)["status"], json!("ACTIVE"));
    s.deactivate(env, &boss);
    let r = send(
        &s,
        Method::POST,
        &format!("{boss_path}/activate"),
        Some(&token),
        Some(&json!({})),
    );
    assert_escalation(&r, "activate an Admin app");
    let r = send(&s, Method::DELETE, &boss_path, Some(&token), None);
    assert_escalation(&r, "delete an Admin app");
    let boss_now = admin_get(&s, &boss_path);
    assert_eq!(boss_now["status"], json!("INACTIVE"));
    assert_eq!(boss_now["roles"], json!(["Admin"]));
}

#[test]
fn an_admin_app_cannot_grant_super_admin_or_global_permissions() {
    let s = Server::start();
    let (_, token) = app_with_token(&s, "default", "local admin", &["Admin"]);
    let r = send(
        &s,
        Method::POST,
        "/api/v1/environments/default/client-apps",
        Some(&token),
        Some(&json!({"name": "would be super", "roles": ["Super Admin"]})),
    );
    assert_escalation(&r, "create a Super Admin app");
    for perms in [
        json!(["environments:manage"]),
        json!(["admins:read"]),
        json!(["keys:rotate"]),
    ] {
        let r = send(
            &s,
            Method::POST,
            "/api/v1/environments/default/roles",
            Some(&token),
            Some(&json!({"name": "wider", "permissions": perms})),
        );
        assert_escalation(&r, &format!("create a role with {perms}"));
    }
    let r = send(
        &s,
        Method::POST,
        "/api/v1/environments/default/roles",
        Some(&token),
        Some(
            &json!({"name": "reader", "permissions": ["client_apps:read", "roles:read", "orders:*"]}),
        ),
    );
    assert_eq!(r.status, 201, "within its own power: {r:?}");
    let r = send(&s, Method::GET, "/api/v1/admins", Some(&token), None);
    assert_forbidden(&r, "Admin role reads no admins");

    // A down-scoped token escalates no further than its scope.
    let app = s.create_app("default", "scoped admin", &["Admin"]);
    let scoped = scoped_token(&s, &app, "client_apps:manage client_apps:read");
    let r = send(
        &s,
        Method::POST,
        "/api/v1/environments/default/client-apps",
        Some(&scoped),
        Some(&json!({"name": "admin via scoped token", "roles": ["Admin"]})),
    );
    assert_escalation(&r, "bind Admin with a token scoped to client_apps");
    let r = send(
        &s,
        Method::GET,
        "/api/v1/environments/default/roles",
        Some(&scoped),
        None,
    );
    assert_forbidden(&r, "roles:read outside the token's scope");
}

// ----- roles: deletion, built-ins, validation, live edits -----

#[test]
fn deleting_a_bound_role_needs_force_which_unbinds_it_and_revokes_its_permissions() {
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read"]);
    let (app, token) = app_with_token(&s, "default", "reader", &["orders-reader"]);
    let path = "/api/v1/environments/default/roles/orders-reader";
    assert_allowed(&s, &token, "orders:read", "bound");

    let r = send(&s, Method::DELETE, path, Some(&s.admin), None);
    assert_problem(&r, 409, "role-in-use", "delete a bound role");
    assert_eq!(admin_get(&s, path)["name"], json!("orders-reader"));
    assert_allowed(&s, &token, "orders:read", "after the refused delete");

    let r = send(
        &s,
        Method::DELETE,
        &format!("{path}?force=false"),
        Some(&s.admin),
        None,
    );
    assert_problem(&r, 409, "role-in-use", "force=false");
    let r = send(
        &s,
        Method::DELETE,
        &format!("{path}?force=yes"),
        Some(&s.admin),
        None,
    );
    assert_problem(&r, 422, "validation-error", "force=yes");

    let r = send(
        &s,
        Method::DELETE,
        &format!("{path}?force=true"),
        Some(&s.admin),
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_denied(
        &s,
        &token,
        "orders:read",
        "on the very next call after force delete",
    );
    let r = send(&s, Method::GET, path, Some(&s.admin), None);
    assert_problem(&r, 404, "not-found", "deleted role");
    assert_eq!(
        admin_get(&s, &s.app_path("default", &app))["roles"],
        json!([])
    );
    assert_eq!(s.status(&token), 200, "the token itself stays valid");

    // An unbound role deletes without force; a new role of the same name grants anew.
    s.create_role("default", "unbound", &["orders:read"]);
    let r = send(
        &s,
        Method::DELETE,
        "/api/v1/environments/default/roles/unbound",
        Some(&s.admin),
        None,
    );
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
            "client_apps:*",
            "environments:read",
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
        let r = send(
            &s,
            Method::PUT,
            &path,
            Some(&s.admin),
            Some(&json!({"permissions": ["orders:read"]})),
        );
        assert_problem(&r, 409, "builtin-role", &format!("PUT {name}"));
        let r = send(&s, Method::DELETE, &path, Some(&s.admin), None);
        assert_problem(&r, 409, "builtin-role", &format!("DELETE {name}"));
        let r = send(
            &s,
            Method::DELETE,
            &format!("{path}?force=true"),
            Some(&s.admin),
            None,
        );
        assert_problem(&r, 409, "builtin-role", &format!("DELETE {name} force"));
    }
    assert_eq!(admin_get(&s, &format!("{roles}/Admin")), admin);
    assert_eq!(admin_get(&s, &format!("{roles}/Super%20Admin")), sa);

    for name in ["admin", "ADMIN", "Admin", "super admin", "Super Admin"] {
        let r = send(
            &s,
            Method::POST,
            roles,
            Some(&s.admin),
            Some(&json!({"name": name, "permissions": ["orders:read"]})),
        );
        assert_problem(
            &r,
            409,
            "name-taken",
            &format!("custom role named {name:?}"),
        );
    }
    s.create_role("default", "ops", &["orders:read"]);
    let r = send(
        &s,
        Method::POST,
        roles,
        Some(&s.admin),
        Some(&json!({"name": "OPS", "permissions": ["orders:read"]})),
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
    let r = send(
        &s,
        Method::POST,
        roles,
        Some(&s.admin),
        Some(&json!({"name": "bad", "permissions": permissions})),
    );
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
    let r = send(
        &s,
        Method::GET,
        &format!("{roles}/bad"),
        Some(&s.admin),
        None,
    );
    assert_eq!(r.status, 404, "nothing was created: {r:?}");

    // The longest valid parts and the wildcard are fine.
    let max = format!("{}:{}", "a".repeat(64), "b".repeat(64));
    s.create_role(
        "default",
        "good",
        &[&max, "orders:*", "orders.v2-x_y:read-all"],
    );

    let r = send(
        &s,
        Method::PUT,
        &format!("{roles}/good"),
        Some(&s.admin),
        Some(&json!({"permissions": ["orders:read", "no colon"]})),
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

#[test]
fn role_changes_apply_to_existing_tokens_on_their_next_call() {
    let s = Server::start();
    s.create_role("default", "orders", &["orders:read"]);
    s.create_role("default", "invoices", &["invoices:read"]);
    let (app, token) = app_with_token(&s, "default", "worker", &["orders"]);
    assert_allowed(&s, &token, "orders:read", "initially");
    assert_denied(&s, &token, "orders:write", "initially");

    let r = send(
        &s,
        Method::PUT,
        "/api/v1/environments/default/roles/orders",
        Some(&s.admin),
        Some(&json!({"permissions": ["orders:read", "orders:write"]})),
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
    assert_forbidden(
        &send(&s, Method::GET, apps, Some(&token), None),
        "before Admin",
    );
    s.set_roles("default", &app, &["Admin"]);
    assert_eq!(send(&s, Method::GET, apps, Some(&token), None).status, 200);
    s.set_roles("default", &app, &[]);
    assert_forbidden(
        &send(&s, Method::GET, apps, Some(&token), None),
        "after Admin removed",
    );
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
    let r = send(
        &s,
        Method::PUT,
        role,
        Some(&s.admin),
        Some(&json!({"permissions": ["invoices:read"]})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_denied(
        &s,
        &scoped,
        "orders:read",
        "scope no longer backed by a role",
    );
    assert_denied(&s, &full, "orders:write", "unscoped token after the edit");
    assert_eq!(s.status(&scoped), 200, "the token itself is valid");

    let r = send(
        &s,
        Method::PUT,
        role,
        Some(&s.admin),
        Some(&json!({"permissions": ["orders:*"]})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_allowed(&s, &scoped, "orders:read", "restored");
    assert_denied(&s, &scoped, "orders:write", "still limited by the scope");

    // Super Admin grants everything, but the scope still limits the token.
    s.set_roles("default", &app, &["Super Admin"]);
    let superscoped = scoped_token(&s, &app, "orders:read");
    assert_allowed(&s, &superscoped, "orders:read", "super admin, scoped");
    assert_denied(&s, &superscoped, "orders:write", "super admin, scoped");
    let r = send(&s, Method::GET, "/api/v1/admins", Some(&superscoped), None);
    assert_forbidden(&r, "a scoped Super Admin token reads no admins");
    let r = send(
        &s,
        Method::GET,
        "/api/v1/admins",
        Some(&s.token(&app)),
        None,
    );
    assert_eq!(r.status, 200, "the unscoped Super Admin token: {r:?}");
}

// ----- admins and personal credentials -----

#[test]
fn a_super_admins_second_personal_credential_revokes_the_first() {
    let s = Server::start();
    let created = create_admin(&s, "ops-lead", "Super Admin");
    assert_eq!(created["username"], json!("ops-lead"));
    assert_eq!(created["role"], json!("Super Admin"));
    assert!(
        !created.to_string().contains("correct horse battery") && created.get("password").is_none(),
        "no password in the response: {created}"
    );

    let first = issue_credential(&s, &s.admin, "ops-lead");
    let r = send(&s, Method::GET, "/api/v1/admins", Some(&first), None);
    assert_eq!(r.status, 200, "first credential works: {r:?}");

    let second = issue_credential(&s, &first, "ops-lead");
    assert_ne!(first, second);
    let r = send(&s, Method::GET, "/api/v1/admins", Some(&first), None);
    assert_unauthenticated(&r, "first credential after the second was issued");
    let r = send(
        &s,
        Method::GET,
        "/api/v1/admins/ops-lead",
        Some(&second),
        None,
    );
    assert_eq!(r.status, 200, "second credential works: {r:?}");
    assert_eq!(r.body["has_credential"], json!(true));
    // The other Super Admin's credential is untouched.
    assert_eq!(
        send(&s, Method::GET, "/api/v1/admins", Some(&s.admin), None).status,
        200
    );
}

#[test]
fn issuing_a_credential_for_the_bootstrap_admin_revokes_the_bootstrap_credential() {
    let s = Server::start();
    let fresh = issue_credential(&s, &s.admin, "admin");
    let r = send(&s, Method::GET, "/api/v1/admins", Some(&s.admin), None);
    assert_unauthenticated(&r, "bootstrap credential after a new one");
    let r = send(&s, Method::GET, "/api/v1/admins", Some(&fresh), None);
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn admin_rules_not_super_admin_last_super_admin_password_length_and_deletion() {
    let s = Server::start();
    create_admin(&s, "helper", "Admin");
    let r = send(
        &s,
        Method::POST,
        "/api/v1/admins/helper/credential",
        Some(&s.admin),
        Some(&json!({})),
    );
    assert_problem(&r, 409, "not-super-admin", "credential for an Admin");

    let r = send(
        &s,
        Method::DELETE,
        "/api/v1/admins/admin",
        Some(&s.admin),
        None,
    );
    assert_problem(&r, 409, "last-super-admin", "delete the last Super Admin");
    assert_eq!(
        send(&s, Method::GET, "/api/v1/admins", Some(&s.admin), None).status,
        200
    );

    for (password, role) in [
        ("short", "Admin"),
        ("elevenchars", "Admin"),
        ("long enough pass", "Owner"),
    ] {
        let r = send(
            &s,
            Method::POST,
            "/api/v1/admins",
            Some(&s.admin),
            Some(&json!({"username": "newbie", "password": password, "role": role})),
        );
        assert_problem(
            &r,
            422,
            "validation-error",
            &format!("{password:?} {role:?}"),
        );
    }
    let r = send(
        &s,
        Method::GET,
        "/api/v1/admins/newbie",
        Some(&s.admin),
        None,
    );
    assert_problem(&r, 404, "not-found", "not created");
    let r = send(
        &s,
        Method::POST,
        "/api/v1/admins",
        Some(&s.admin),
        Some(&json!({"username": "newbie", "password": "x".repeat(12), "role": "Admin"})),
    );
    assert_eq!(r.status, 201, "12 characters is enough: {r:?}");

    // A deleted Super Admin's credential stops at once; with two, one may go.
    create_admin(&s, "leaving", "Super Admin");
    let leaving = issue_credential(&s, &s.admin, "leaving");
    assert_eq!(
        send(&s, Method::GET, "/api/v1/admins", Some(&leaving), None).status,
        200
    );
    let r = send(
        &s,
        Method::DELETE,
        "/api/v1/admins/leaving",
        Some(&s.admin),
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
    let r = send(&s, Method::GET, "/api/v1/admins", Some(&leaving), None);
    assert_unauthenticated(&r, "a deleted admin's credential");
    let r = send(
        &s,
        Method::DELETE,
        "/api/v1/admins/admin",
        Some(&s.admin),
        None,
    );
    assert_problem(&r, 409, "last-super-admin", "still the last Super Admin");
}

/// Runs `keyward <args>` on the server's database; returns stdout, panics on failure.
fn cli(s: &Server, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(s.data_dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYWARD__DATA_DIR", s.data_dir())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keyward cli");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("cli output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "keyward {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("output")
        .trim()
        .to_owned()
}

#[test]
fn cli_created_super_admin_gets_a_credential_the_running_server_honours_and_revokes() {
    let s = Server::start();
    cli(
        &s,
        &[
            "admin",
            "create",
            "--username",
            "night-ops",
            "--role",
            "Super Admin",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    );
    let seen = eventually(Duration::from_secs(5), || {
        send(
            &s,
            Method::GET,
            "/api/v1/admins/night-ops",
            Some(&s.admin),
            None,
        )
        .status
            == 200
    });
    assert!(seen.is_some(), "the server never saw the CLI-created admin");
    assert_eq!(
        admin_get(&s, "/api/v1/admins/night-ops")["role"],
        json!("Super Admin")
    );

    let first = last_line(&cli(
        &s,
        &["admin", "credential", "--username", "night-ops"],
        None,
    ));
    let works = |c: &str| send(&s, Method::GET, "/api/v1/admins", Some(c), None).status == 200;
    assert!(
        eventually(Duration::from_secs(5), || works(&first)).is_some(),
        "the CLI-issued credential never worked"
    );
    let second = last_line(&cli(
        &s,
        &["admin", "credential", "--username", "night-ops"],
        None,
    ));
    assert_ne!(first, second);
    assert!(
        eventually(Duration::from_secs(5), || works(&second)).is_some(),
        "the second CLI-issued credential never worked"
    );
    // Out of process, the revocation reaches the server within its resync interval.
    let revoked = eventually(Duration::from_secs(5), || {
        send(&s, Method::GET, "/api/v1/admins", Some(&first), None).status == 401
    });
    assert!(
        revoked.is_some(),
        "the first CLI credential was never revoked"
    );
    let r = send(&s, Method::GET, "/api/v1/admins", Some(&first), None);
    assert_unauthenticated(&r, "the first CLI credential after the second");
    assert!(works(&second), "the second CLI credential still works");
}

// ----- admin users: no escalation, last Super Admin under concurrency -----

#[test]
fn a_down_scoped_super_admin_token_cannot_mint_or_remove_super_admin_power() {
    let s = Server::start();
    let root = s.create_app("default", "root bot", &["Super Admin"]);
    let narrow = scoped_token(&s, &root, "admins:manage");
    create_admin(&s, "second", "Super Admin");
    // It holds admins:manage, but a Super Admin credential carries every permission.
    let r = send(
        &s,
        Method::POST,
        "/api/v1/admins/admin/credential",
        Some(&narrow),
        Some(&json!({})),
    );
    assert_escalation(&r, "credential for a Super Admin from a down-scoped token");
    let r = send(
        &s,
        Method::POST,
        "/api/v1/admins",
        Some(&narrow),
        Some(
            &json!({"username": "mallory", "password": "correct horse battery", "role": "Super Admin"}),
        ),
    );
    assert_escalation(&r, "creating a Super Admin from a down-scoped token");
    let r = send(
        &s,
        Method::DELETE,
        "/api/v1/admins/second",
        Some(&narrow),
        None,
    );
    assert_escalation(&r, "deleting a Super Admin from a down-scoped token");
    // The bootstrap credential still works: nothing was replaced.
    assert_eq!(s.get("/api/v1/admins", &s.admin).status(), 200);
    assert_eq!(
        admin_get(&s, "/api/v1/admins/second")["role"],
        "Super Admin"
    );
    // The same app with its full token may do all of it.
    let full = s.token(&root);
    let r = send(
        &s,
        Method::DELETE,
        "/api/v1/admins/second",
        Some(&full),
        None,
    );
    assert_eq!(r.status, 204, "{r:?}");
}

#[test]
fn concurrent_deletes_of_the_last_two_super_admins_leave_one() {
    let s = Server::start();
    create_admin(&s, "second", "Super Admin");
    let barrier = std::sync::Barrier::new(2);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["admin", "second"]
            .into_iter()
            .map(|name| {
                let (s, barrier) = (&s, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    send(
                        s,
                        Method::DELETE,
                        &format!("/api/v1/admins/{name}"),
                        Some(&s.admin),
                        None,
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort_unstable();
    // Either the bootstrap admin went first (then its credential is gone: 401 for the
    // second call) or the other one did (then 409 for the last Super Admin).
    assert!(sorted == [204, 401] || sorted == [204, 409], "{statuses:?}");
    let remaining: i64 = {
        use diesel::prelude::*;
        let mut conn = diesel::SqliteConnection::establish(&s.db_path().to_string_lossy()).unwrap();
        diesel::sql_query("SELECT count(*) AS n FROM admin_users WHERE role = 'super_admin'")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    };
    assert_eq!(remaining, 1);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
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
        send(
            &s,
            Method::POST,
            "/api/v1/authorize",
            Some(&staging_token),
            Some(&body),
        )
    };
    let own = check(None);
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(own.body["environment"], "staging");
    assert_eq!(check(Some("staging")).status, 200);
    let other = check(Some("default"));
    assert_forbidden(&other, "a staging token asking about production");
    assert_eq!(other.body["allowed"], false);
    assert_problem(
        &check(Some("Not A Slug")),
        422,
        "validation-error",
        "invalid environment",
    );
}
