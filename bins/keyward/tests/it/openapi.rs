//! The OpenAPI document at `/api/v1/openapi.json` (SPEC §12): served without
//! credentials, it covers exactly the routes the server serves (the route table of
//! keyward-http, both ways), it validates with `openapi-spec-validator`, and
//! `schemathesis` — property-based requests generated from the document, sent to the
//! running server with a Super Admin's credential — finds no 500 and no response that
//! breaks the document.
//!
//! `scripts/test` installs both tools (tests/openapi/requirements.txt, pinned) into a
//! virtualenv and sets `KEYWARD_OPENAPI_PYTHON` to its python; with
//! `KEYWARD_INTEROP_REQUIRED=1` a missing tool fails these tests, otherwise they are
//! skipped with a note (a plain `cargo test` on a machine without them).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::harness::Server;

/// Operations schemathesis leaves alone, each with its reason (docs/OPERATIONS.md,
/// "OpenAPI").
const SCHEMATHESIS_EXCLUDED: &[(&str, &str)] = &[
    (
        "set_identity_provider",
        "discovery calls whatever issuer URL is generated: outbound traffic to arbitrary \
         hosts, which a test must never send (federation.rs tests it against a local IdP)",
    ),
    (
        "get_live_changes",
        "a long-poll (up to 60 s) or an endless event stream by design; \
         remote_validator.rs tests it",
    ),
    (
        "issue_personal_credential",
        "issuing a credential for the user the run authenticates as revokes the run's own \
         credential (schemathesis learns `admin` from the user list); admins.rs tests it",
    ),
    (
        "issue_personal_credential_as_admins",
        "the same, under the /admins alias",
    ),
    (
        "deactivate_user",
        "deactivating the run's own Super Admin (possible once the run has created \
         another) ends the run's access; users.rs tests it",
    ),
    (
        "deactivate_user_as_admins",
        "the same, under the /admins alias",
    ),
    ("delete_user", "the same for deleting it; users.rs tests it"),
    ("delete_user_as_admins", "the same, under the /admins alias"),
    (
        "replace_user_roles",
        "the same for taking its role away; users.rs tests it",
    ),
    (
        "replace_user_roles_as_admins",
        "the same, under the /admins alias",
    ),
];

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn openapi_python() -> Option<PathBuf> {
    match std::env::var_os("KEYWARD_OPENAPI_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("KEYWARD_INTEROP_REQUIRED").is_some() => {
            panic!("KEYWARD_OPENAPI_PYTHON is not set (scripts/test sets it)")
        }
        None => {
            eprintln!("skipped: KEYWARD_OPENAPI_PYTHON is not set (run ./scripts/test)");
            None
        }
    }
}

fn fetch_document(server: &Server) -> (Value, String) {
    let res = server.get_anonymous("/api/v1/openapi.json");
    assert_eq!(res.status(), 200);
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let text = res.text().unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths").iter() {
        for method in item.as_object().expect("path item").keys() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_served_document_is_openapi_3_1_and_documents_exactly_the_served_routes() {
    let server = Server::start();
    let (doc, _) = fetch_document(&server);
    assert_eq!(doc["openapi"], "3.1.0");

    // The route table is what the app registers (every route goes through one helper);
    // only the console's page and assets are left out, each with a reason.
    let served: BTreeSet<(String, String)> = keyward_http::openapi::routes_to_document()
        .into_iter()
        .collect();
    let documented = documented(&doc);
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but undocumented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");

    // Each documented route is really served: none of them gets the 404 of an unknown
    // path (a 401, 405 or 200 says the route exists).
    for (method, path) in &documented {
        let concrete = path
            .replace("{env}", "default")
            .replace("{client_id}", "x")
            .replace("{username}", "x")
            .replace("{role}", "x")
            .replace("{id}", "x");
        let res = server
            .http()
            .request(method.parse().unwrap(), server.url(&concrete))
            .send()
            .unwrap();
        if res.status() == 404 {
            let body: Value = res.json().unwrap_or_default();
            assert_ne!(
                body["detail"], "no such route",
                "{method} {path} is documented but not routed"
            );
        }
    }

    // A route the table holds really answers (the table is not a second list).
    for route in keyward_http::route_table()
        .iter()
        .filter(|r| r.method == "GET" && !r.path.contains('{'))
    {
        let res = server.get_anonymous(&route.path);
        assert_ne!(res.status(), 404, "GET {} is in the table", route.path);
    }
}

#[test]
fn the_document_needs_no_credential_and_is_built_once() {
    let server = Server::start();
    let (_, first) = fetch_document(&server);
    let (_, second) = fetch_document(&server);
    assert_eq!(first, second);
    // The same as the library generates.
    let generated = keyward_http::openapi::document().to_json().unwrap();
    assert_eq!(first, generated);
    let res = server.get_anonymous("/api/v1/openapi.json");
    assert!(res.headers().get("www-authenticate").is_none());
}

#[test]
fn the_document_passes_openapi_spec_validator() {
    let Some(python) = openapi_python() else {
        return;
    };
    let server = Server::start();
    let (_, text) = fetch_document(&server);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "openapi-spec-validator:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

/// The validator must be able to fail: a document with a broken reference is refused.
#[test]
fn openapi_spec_validator_refuses_a_broken_document() {
    let Some(python) = openapi_python() else {
        return;
    };
    let mut doc: Value =
        serde_json::from_str(&keyward_http::openapi::document().to_json().unwrap()).unwrap();
    doc["paths"]["/healthz"]["get"]["responses"]["200"] = serde_json::json!({
        "$ref": "#/components/responses/NoSuchResponse"
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a dangling $ref must not validate");
}

#[test]
fn schemathesis_finds_no_server_error_and_no_response_breaking_the_document() {
    let Some(python) = openapi_python() else {
        return;
    };
    let schemathesis = python.with_file_name("schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing (tests/openapi/requirements.txt)",
        schemathesis.display()
    );
    let server = Server::start();
    // Something to find: environments, roles, an app (which may introspect) with an API
    // key and a secret, and a user. Path parameters are drawn mostly from these
    // (schemathesis "dictionaries"), so requests reach past the 404 of a random name.
    let s = &server;
    s.create_environment("staging");
    s.create_role("default", "reader", &["orders:read"]);
    s.create_role("default", "introspector", &["tokens:introspect"]);
    let app = s.create_app("default", "schemathesis app", &["reader", "introspector"]);
    let app_path = s.app_path("default", &app);
    let key: Value = s
        .post(
            &format!("{app_path}/api-keys"),
            &s.admin,
            serde_json::json!({"name": "k1"}),
        )
        .json()
        .unwrap();
    let secrets: Value = s
        .get(&format!("{app_path}/secrets"), &s.admin)
        .json()
        .unwrap();
    let user = s.post(
        "/api/v1/users",
        &s.admin,
        serde_json::json!({"username": "operator", "password": "a-long-password-123", "role": "Admin"}),
    );
    assert_eq!(user.status(), 201);
    let config = format!(
        r#"
# Credentials per security scheme of the document: the Super Admin's personal
# credential for Bearer routes, the app's client secret for client_secret_basic.
[auth.openapi.bearer]
bearer = "{admin}"
[auth.openapi.client_basic]
username = "{client_id}"
password = "{client_secret}"

[dictionaries.env]
values = ["default", "staging"]
[dictionaries.client_id]
values = ["{client_id}"]
[dictionaries.role]
values = ["reader", "introspector", "Admin"]
[dictionaries.username]
values = ["operator"]
[dictionaries.id]
values = ["{key_id}", "{secret_id}"]

[parameters]
"path.env" = {{ dictionary = "env", probability = 0.9 }}
"path.client_id" = {{ dictionary = "client_id", probability = 0.9 }}
"path.role" = {{ dictionary = "role", probability = 0.8 }}
"path.username" = {{ dictionary = "username", probability = 0.8 }}
"path.id" = {{ dictionary = "id", probability = 0.8 }}
"#,
        admin = s.admin,
        client_id = app.client_id,
        client_secret = app.client_secret,
        key_id = key["id"].as_str().unwrap(),
        secret_id = secrets["items"][0]["id"].as_str().unwrap(),
    );

    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let mut cmd = Command::new(&schemathesis);
    cmd.current_dir(dir.path())
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(server.url("/api/v1/openapi.json"))
        .args(["--url", &server.base])
        .args([
            "--checks",
            &env_or(
                "KEYWARD_SCHEMATHESIS_CHECKS",
                "not_a_server_error,response_schema_conformance,content_type_conformance,\
                 status_code_conformance",
            ),
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        // Bounded so that the run takes about a minute on two busy cores;
        // KEYWARD_SCHEMATHESIS_EXAMPLES and KEYWARD_SCHEMATHESIS_SEED go deeper or elsewhere.
        .args([
            "--max-examples",
            &env_or("KEYWARD_SCHEMATHESIS_EXAMPLES", "15"),
        ])
        .args(["--seed", &env_or("KEYWARD_SCHEMATHESIS_SEED", "18")])
        // One worker: the coverage phase of this schemathesis trips over a CPython AST
        // check when two threads build strategies at once.
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .args(["--generation-database", "none"])
        .args(["--suppress-health-check", "all"])
        .arg("--no-color");
    for (operation_id, _why) in SCHEMATHESIS_EXCLUDED {
        cmd.args(["--exclude-operation-id", operation_id]);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "{stdout}\n{stderr}\nschemathesis took {:?}",
        started.elapsed()
    );
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.logs()
    );
    assert!(
        !server.logs().contains("internal error"),
        "{}",
        server.logs()
    );
}
