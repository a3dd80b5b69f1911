//! Every management route over real HTTP (issue 3): 401 without a valid credential,
//! 403 without the permission (or outside the caller's reach), success with it, and
//! the same again as the caller is deactivated, activated and stripped of its roles.
//! The Super Admin's credential passes them all.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{
    app_with_token, assert_forbidden, assert_unauthenticated, create_admin, unique, Server,
};

// ----- the route table -----

/// One request to make.
struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
}

fn get(path: String) -> Req {
    Req {
        method: Method::GET,
        path,
        body: None,
    }
}

fn delete(path: String) -> Req {
    Req {
        method: Method::DELETE,
        path,
        body: None,
    }
}

/// A request of `method` with a JSON body.
fn with_body(method: Method, path: String, body: Value) -> Req {
    Req {
        method,
        path,
        body: Some(body),
    }
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

/// A route that a principal holding `permission` in the environment reaches.
fn local(
    name: &'static str,
    permission: &'static str,
    success: u16,
    make: fn(&Server, &str) -> Req,
) -> Route {
    Route {
        name,
        permission,
        global: false,
        success,
        make,
    }
}

/// A route that only global principals reach.
fn global(
    name: &'static str,
    permission: &'static str,
    success: u16,
    make: fn(&Server, &str) -> Req,
) -> Route {
    Route {
        name,
        permission,
        global: true,
        success,
        make,
    }
}

/// A fresh client app in `env`, created by the Super Admin: its path.
fn target_app(s: &Server, env: &str) -> String {
    let app = s.create_app(env, &format!("target {}", unique()), &[]);
    s.app_path(env, &app)
}

/// A fresh client app in `env`, created and deactivated by the Super Admin: its path.
fn inactive_target_app(s: &Server, env: &str) -> String {
    let app = s.create_app(env, &format!("target {}", unique()), &[]);
    s.deactivate(env, &app);
    s.app_path(env, &app)
}

/// A fresh custom role in `env`, created by the Super Admin: its path.
fn target_role(s: &Server, env: &str) -> String {
    let name = format!("target-{}", unique());
    s.create_role(env, &name, &["orders:read"]);
    format!("/api/v1/environments/{env}/roles/{name}")
}

fn environment_routes() -> Vec<Route> {
    vec![
        local(
            "GET /api/v1/environments",
            "environments:read",
            200,
            |_, _| get("/api/v1/environments".into()),
        ),
        global(
            "POST /api/v1/environments",
            "environments:manage",
            201,
            |_, _| {
                let body = json!({"slug": format!("made-{}", unique()), "name": "Made"});
                with_body(Method::POST, "/api/v1/environments".into(), body)
            },
        ),
        local(
            "GET /api/v1/environments/{env}",
            "environments:read",
            200,
            |_, env| get(format!("/api/v1/environments/{env}")),
        ),
        local(
            "PATCH /api/v1/environments/{env}",
            "environments:manage",
            200,
            |_, env| {
                let body = json!({"name": format!("Renamed {}", unique())});
                with_body(Method::PATCH, format!("/api/v1/environments/{env}"), body)
            },
        ),
    ]
}

fn role_routes() -> Vec<Route> {
    vec![
        local(
            "GET /api/v1/environments/{env}/roles",
            "roles:read",
            200,
            |_, env| get(format!("/api/v1/environments/{env}/roles")),
        ),
        local(
            "POST /api/v1/environments/{env}/roles",
            "roles:manage",
            201,
            |_, env| {
                let body =
                    json!({"name": format!("made-{}", unique()), "permissions": ["orders:read"]});
                with_body(
                    Method::POST,
                    format!("/api/v1/environments/{env}/roles"),
                    body,
                )
            },
        ),
        local(
            "GET /api/v1/environments/{env}/roles/{role}",
            "roles:read",
            200,
            |s, env| get(target_role(s, env)),
        ),
        local(
            "PUT /api/v1/environments/{env}/roles/{role}",
            "roles:manage",
            200,
            |s, env| {
                let body = json!({"permissions": ["orders:write"]});
                with_body(Method::PUT, target_role(s, env), body)
            },
        ),
        local(
            "DELETE /api/v1/environments/{env}/roles/{role}",
            "roles:manage",
            204,
            |s, env| delete(target_role(s, env)),
        ),
    ]
}

fn client_app_routes() -> Vec<Route> {
    const APPS: &str = "/api/v1/environments/{env}/client-apps";
    vec![
        local(
            "GET /api/v1/environments/{env}/client-apps",
            "client_apps:read",
            200,
            |_, env| get(APPS.replace("{env}", env)),
        ),
        local(
            "POST /api/v1/environments/{env}/client-apps",
            "client_apps:manage",
            201,
            |_, env| {
                let body = json!({"name": format!("made {}", unique()), "roles": []});
                with_body(Method::POST, APPS.replace("{env}", env), body)
            },
        ),
        local(
            "GET /api/v1/environments/{env}/client-apps/{client_id}",
            "client_apps:read",
            200,
            |s, env| get(target_app(s, env)),
        ),
        local(
            "PUT /api/v1/environments/{env}/client-apps/{client_id}/roles",
            "client_apps:manage",
            200,
            |s, env| {
                let path = format!("{}/roles", target_app(s, env));
                with_body(Method::PUT, path, json!({"roles": []}))
            },
        ),
        local(
            "POST /api/v1/environments/{env}/client-apps/{client_id}/deactivate",
            "client_apps:manage",
            200,
            |s, env| {
                let path = format!("{}/deactivate", target_app(s, env));
                with_body(Method::POST, path, json!({}))
            },
        ),
        local(
            "POST /api/v1/environments/{env}/client-apps/{client_id}/activate",
            "client_apps:manage",
            200,
            |s, env| {
                let path = format!("{}/activate", inactive_target_app(s, env));
                with_body(Method::POST, path, json!({}))
            },
        ),
        local(
            "DELETE /api/v1/environments/{env}/client-apps/{client_id}",
            "client_apps:manage",
            204,
            |s, env| delete(inactive_target_app(s, env)),
        ),
    ]
}

fn admin_routes() -> Vec<Route> {
    vec![
        global("GET /api/v1/admins", "admins:read", 200, |_, _| {
            get("/api/v1/admins".into())
        }),
        global("POST /api/v1/admins", "admins:manage", 201, |_, _| {
            let body = json!({
                "username": format!("made-{}", unique()),
                "password": "correct horse battery",
                "role": "Admin"
            });
            with_body(Method::POST, "/api/v1/admins".into(), body)
        }),
        global(
            "GET /api/v1/admins/{username}",
            "admins:read",
            200,
            |_, _| get("/api/v1/admins/admin".into()),
        ),
        global(
            "DELETE /api/v1/admins/{username}",
            "admins:manage",
            204,
            |s, _| {
                let name = format!("doomed-{}", unique());
                create_admin(s, &name, "Admin");
                delete(format!("/api/v1/admins/{name}"))
            },
        ),
        global(
            "POST /api/v1/admins/{username}/credential",
            "admins:manage",
            201,
            |s, _| {
                // Never the bootstrap `admin`: that would revoke `s.admin`.
                let name = format!("super-{}", unique());
                create_admin(s, &name, "Super Admin");
                let path = format!("/api/v1/admins/{name}/credential");
                with_body(Method::POST, path, json!({}))
            },
        ),
    ]
}

/// The five checks for one route, each against a fresh target:
/// no/invalid credential → 401; a token without the permission → 403; with it → 2xx;
/// the app deactivated → 401 (activation restores it); its roles removed → 403.
fn check_route(s: &Server, route: &Route) {
    let n = unique();
    let env = format!("route-{n}");
    s.create_environment(&env);
    let call = |credential: Option<&str>| {
        let r = (route.make)(s, &env);
        s.caller(credential)
            .send(r.method, &r.path, r.body.as_ref())
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

    assert_unauthenticated(call(None), &ctx("no credential"));
    assert_unauthenticated(call(Some("not-a-credential")), &ctx("unknown credential"));
    assert_unauthenticated(
        call(Some("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")),
        &ctx("forged token"),
    );
    assert_forbidden(call(Some(&unrelated)), &ctx("token without the permission"));
    if route.global {
        let (_, scoped) = app_with_token(s, &env, "scoped caller", &["exactly"]);
        assert_forbidden(
            call(Some(&scoped)),
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
    assert_unauthenticated(call(Some(&token)), &ctx("caller deactivated"));
    s.activate(&env, &caller);
    let ok = call(Some(&token));
    assert_eq!(
        ok.status,
        route.success,
        "{}: {ok:?}",
        ctx("caller activated again")
    );

    s.set_roles(&env, &caller, &[]);
    assert_forbidden(call(Some(&token)), &ctx("caller's roles removed"));
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
        let reply = s.bearer(&s.admin).send(r.method, &r.path, r.body.as_ref());
        assert_eq!(reply.status, route.success, "{}: {reply:?}", route.name);
    }
}
