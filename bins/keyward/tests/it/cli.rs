//! The API commands of the `keyward` binary (SPEC §12, docs/CLI.md): the real binary
//! run as a CLI against a real running server, with `KEYWARD_URL` and `KEYWARD_TOKEN`.
//! Tables and `--output json`, secrets shown once, the documented exit codes, and a
//! credential that never shows in the output, even with `RUST_LOG=trace`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::*;

/// What one CLI run produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON on stdout; panics with the run when it is not JSON.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Asserts exit 0 and returns self.
    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        self
    }

    /// The value of a `field  value` line of a table.
    fn field(&self, name: &str) -> String {
        self.stdout
            .lines()
            .find_map(|line| {
                let (key, rest) = line.split_once("  ")?;
                (key == name).then(|| rest.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no `{name}` line: {self:?}"))
    }
}

/// Runs `keyward <args>` in a clean environment (no stray keyward.toml) with `env`,
/// and `stdin` as its standard input.
fn keyward(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let cwd = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args)
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn keyward");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("keyward output");
    Run {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `keyward <args>` against `s` as its bootstrap Super Admin.
fn cli(s: &Server, args: &[&str]) -> Run {
    keyward(
        args,
        &[("KEYWARD_URL", &s.base), ("KEYWARD_TOKEN", &s.admin)],
        None,
    )
}

/// Runs `keyward <args> --output json` against `s` and returns the JSON; panics unless
/// it exits 0.
fn cli_json(s: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    cli(s, &all).ok().json()
}

fn status_of(s: &Server, credential: &str) -> u16 {
    s.status(credential)
}

#[test]
fn a_full_admin_journey_through_the_cli() {
    let s = Server::start_with(&[("KEYWARD__KEYS__PUBLISH_DELAY_SECONDS", "2")]);

    // Environment, role, app with the role.
    let env = cli_json(&s, &["env", "create", "journey", "--name", "Journey"]);
    assert_eq!(env["slug"], "journey");
    assert_eq!(env["enabled"], true);
    let role = cli_json(
        &s,
        &[
            "role",
            "create",
            "-e",
            "journey",
            "orders reader",
            "-p",
            "orders:read",
        ],
    );
    assert_eq!(role["permissions"], json!(["orders:read"]));

    // The app, in table form: the secret is printed once, with a warning to store it.
    let created = cli(
        &s,
        &[
            "app",
            "create",
            "-e",
            "journey",
            "billing bot",
            "--role",
            "orders reader",
        ],
    )
    .ok();
    let client_id = created.field("client_id");
    let secret = created.field("client_secret");
    assert!(secret.starts_with("kwcs_"), "{created:?}");
    assert_eq!(created.field("roles"), "orders reader");
    assert!(
        created.stderr.contains("shown once"),
        "a warning to store the secret: {created:?}"
    );
    // The printed secret gets a token.
    let res = s.token_response(&client_id, &secret, None);
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status_of(&s, &token), 200);
    // `app get` never shows the secret.
    let shown = cli(&s, &["app", "get", "-e", "journey", &client_id]).ok();
    assert_eq!(shown.field("status"), "ACTIVE");
    assert!(!shown.stdout.contains(&secret) && !shown.stdout.contains("client_secret"));

    // API keys: create (the key once), list (never the key), delete (it stops working).
    let key = cli_json(
        &s,
        &[
            "api-key",
            "create",
            "-e",
            "journey",
            "--app",
            &client_id,
            "deploy script",
        ],
    );
    let api_key = key["api_key"].as_str().unwrap().to_owned();
    assert!(api_key.starts_with("kwak_"));
    assert_eq!(s.authorize(&api_key, "orders:read"), 200);
    let listed = cli(
        &s,
        &["api-key", "list", "-e", "journey", "--app", &client_id],
    )
    .ok();
    assert!(listed.stdout.contains("deploy script"), "{listed:?}");
    assert!(!listed.stdout.contains(&api_key));
    let key_id = key["id"].as_str().unwrap();
    let deleted = cli(
        &s,
        &[
            "api-key", "delete", "-e", "journey", "--app", &client_id, key_id,
        ],
    )
    .ok();
    assert!(deleted.stdout.contains("deleted API key"), "{deleted:?}");
    assert_eq!(s.authorize(&api_key, "orders:read"), 401);

    // Secrets: rotate with a grace period (both work), list (two), end the previous one.
    let rotated = cli_json(
        &s,
        &[
            "secret",
            "rotate",
            "-e",
            "journey",
            "--app",
            &client_id,
            "--grace-period",
            "600",
        ],
    );
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert!(rotated["previous_secret_expires_at"].is_string());
    assert_eq!(
        s.token_response(&client_id, &new_secret, None).status(),
        200
    );
    assert_eq!(s.token_response(&client_id, &secret, None).status(), 200);
    let secrets = cli_json(
        &s,
        &["secret", "list", "-e", "journey", "--app", &client_id],
    );
    let items = secrets["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{secrets}");
    let previous = items
        .iter()
        .find(|i| !i["expires_at"].is_null())
        .expect("the previous secret has an expiry");
    let table = cli(
        &s,
        &["secret", "list", "-e", "journey", "--app", &client_id],
    )
    .ok();
    assert!(table.stdout.starts_with("ID"), "{table:?}");
    assert!(!table.stdout.contains(&new_secret));
    cli(
        &s,
        &[
            "secret",
            "end",
            "-e",
            "journey",
            "--app",
            &client_id,
            previous["id"].as_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(s.token_response(&client_id, &secret, None).status(), 401);
    assert_eq!(
        s.token_response(&client_id, &new_secret, None).status(),
        200
    );

    // Deactivate: the unexpired token fails at once; the app cannot be deleted yet.
    let deactivated = cli_json(&s, &["app", "deactivate", "-e", "journey", &client_id]);
    assert_eq!(deactivated["status"], "INACTIVE");
    assert_eq!(status_of(&s, &token), 401);

    // A user with a role in the environment, then other roles.
    let user = keyward(
        &[
            "user",
            "create",
            "dana",
            "--env-role",
            "journey=orders reader",
            "--password-stdin",
            "-o",
            "json",
        ],
        &[("KEYWARD_URL", &s.base), ("KEYWARD_TOKEN", &s.admin)],
        Some("correct horse battery staple\n"),
    )
    .ok()
    .json();
    assert_eq!(
        user["roles"],
        json!([{"environment": "journey", "roles": ["orders reader"]}])
    );
    assert!(!user.to_string().contains("correct horse"));
    let user = cli_json(&s, &["user", "roles", "dana", "--role", "Admin"]);
    assert_eq!(user["role"], "Admin");
    let users = cli(&s, &["user", "list"]).ok();
    assert!(
        users
            .stdout
            .lines()
            .any(|l| l.starts_with("dana ") && l.contains("Admin")),
        "{users:?}"
    );
    let user = cli_json(&s, &["user", "deactivate", "dana"]);
    assert_eq!(user["status"], "INACTIVE");
    cli(&s, &["user", "delete", "dana"]).ok();

    // Signing keys through the API: rotate, then list shows the new kid.
    let before = cli_json(&s, &["signing-key", "list"])["keys"]
        .as_array()
        .unwrap()
        .len();
    let rotated = cli_json(&s, &["signing-key", "rotate"]);
    let kid = rotated["kid"].as_str().unwrap().to_owned();
    let keys = cli(&s, &["signing-key", "list"]).ok();
    assert!(keys.stdout.starts_with("KID"), "{keys:?}");
    assert!(keys.stdout.contains(&kid), "{keys:?}");
    assert_eq!(
        cli_json(&s, &["signing-key", "list"])["keys"]
            .as_array()
            .unwrap()
            .len(),
        before + 1
    );

    // Delete the inactive app: gone, its token fails for ever.
    let gone = cli(&s, &["app", "delete", "-e", "journey", &client_id]).ok();
    assert!(gone.stdout.contains("deleted client app"), "{gone:?}");
    assert_eq!(
        cli(&s, &["app", "get", "-e", "journey", &client_id]).code,
        4
    );
    assert_eq!(status_of(&s, &token), 401);
    cli(&s, &["role", "delete", "-e", "journey", "orders reader"]).ok();
    let disabled = cli_json(&s, &["env", "disable", "journey"]);
    assert_eq!(disabled["enabled"], false);
}

#[test]
fn json_output_is_the_api_json_as_is() {
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read"]);
    let app = s.create_app("default", "json bot", &["orders-reader"]);
    let api = |path: &str| -> Value { s.get(path, &s.admin).json().unwrap() };

    assert_eq!(
        cli_json(&s, &["env", "get", "default"]),
        api("/api/v1/environments/default")
    );
    assert_eq!(cli_json(&s, &["env", "list"]), api("/api/v1/environments"));
    assert_eq!(
        cli_json(&s, &["role", "list"]),
        api("/api/v1/environments/default/roles")
    );
    assert_eq!(
        cli_json(&s, &["role", "get", "orders-reader"]),
        api("/api/v1/environments/default/roles/orders-reader")
    );
    assert_eq!(
        cli_json(&s, &["app", "list"]),
        api("/api/v1/environments/default/client-apps")
    );
    assert_eq!(
        cli_json(&s, &["app", "get", &app.client_id]),
        api(&s.app_path("default", &app))
    );
    assert_eq!(
        cli_json(&s, &["user", "get", "admin"]),
        api("/api/v1/users/admin")
    );
    // Pretty, with the API's member order.
    let raw = cli(&s, &["app", "get", &app.client_id, "-o", "json"]).ok();
    assert!(
        raw.stdout
            .starts_with("{\n  \"name\": \"json bot\",\n  \"client_id\""),
        "{raw:?}"
    );
    // A role change through the CLI answers what the API answers afterwards.
    let changed = cli_json(&s, &["app", "roles", &app.client_id, "--none"]);
    assert_eq!(changed["roles"], json!([]));
    assert_eq!(changed, api(&s.app_path("default", &app)));
}

#[test]
fn tables_show_one_aligned_row_per_item_and_no_secret() {
    let s = Server::start();
    let a = s.create_app("default", "alpha bot", &[]);
    let b = s.create_app("default", "beta bot", &[]);
    let out = cli(&s, &["app", "list"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a heading and two rows: {out:?}");
    let heading = lines[0];
    for column in [
        "NAME",
        "CLIENT ID",
        "STATUS",
        "ROLES",
        "CREATED AT",
        "LAST USED AT",
    ] {
        assert!(heading.contains(column), "{heading}");
    }
    // Newest first; each column starts where its heading does.
    assert!(lines[1].starts_with("beta bot") && lines[2].starts_with("alpha bot"));
    let at = heading.find("CLIENT ID").unwrap();
    assert_eq!(&lines[1][at..at + b.client_id.len()], b.client_id);
    assert_eq!(&lines[2][at..at + a.client_id.len()], a.client_id);
    let status = heading.find("STATUS").unwrap();
    assert!(lines[1][status..].starts_with("ACTIVE"));
    assert!(!out.stdout.contains(&a.client_secret) && !out.stdout.contains(&b.client_secret));
    // --search narrows the list.
    let found = cli(&s, &["app", "list", "--search", "ALPHA"]).ok();
    assert_eq!(found.stdout.lines().count(), 2, "{found:?}");
    assert!(found.stdout.contains(&a.client_id) && !found.stdout.contains(&b.client_id));
    // One object: `field  value` lines.
    let env = cli(&s, &["env", "get", "default"]).ok();
    assert_eq!(env.field("slug"), "default");
    assert_eq!(env.field("client_apps"), "2");
}

#[test]
fn all_follows_next_cursor_to_the_last_page() {
    let s = Server::start();
    for name in ["r1", "r2", "r3"] {
        s.create_role("default", name, &["orders:read"]);
    }
    let every = api_names(
        &s.get("/api/v1/environments/default/roles?limit=200", &s.admin)
            .json()
            .unwrap(),
    );
    assert!(every.len() >= 5, "{every:?}");
    let one = cli(&s, &["role", "list", "--limit", "1", "-o", "json"]).ok();
    let page = one.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
    let table = cli(&s, &["role", "list", "--limit", "1"]).ok();
    assert!(table.stderr.contains("--cursor"), "{table:?}");
    let all = cli_json(&s, &["role", "list", "--limit", "1", "--all"]);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(api_names(&all), every);
    // --cursor continues where the page ended.
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = cli_json(&s, &["role", "list", "--limit", "1", "--cursor", cursor]);
    assert_eq!(api_names(&next), every[1..2].to_vec());
}

fn api_names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn errors_are_one_line_with_the_documented_exit_codes() {
    let s = Server::start();
    let app = s.create_app("default", "conflict bot", &[]);

    // 401: a bad credential → 3, and the message says where the credential comes from.
    let bad = keyward(
        &["env", "list"],
        &[
            ("KEYWARD_URL", &s.base),
            ("KEYWARD_TOKEN", "kwpc_not-a-real-credential"),
        ],
        None,
    );
    assert_eq!(bad.code, 3, "{bad:?}");
    assert!(
        bad.stderr.contains("401") && bad.stderr.contains("KEYWARD_TOKEN"),
        "{bad:?}"
    );
    assert_eq!(bad.stderr.lines().count(), 1, "{bad:?}");
    assert!(bad.stdout.is_empty());

    // 403: a valid credential that is not allowed → 3.
    let reader = s.create_app("default", "no rights bot", &[]);
    let token = s.token(&reader);
    let forbidden = keyward(
        &["env", "create", "nope"],
        &[("KEYWARD_URL", &s.base), ("KEYWARD_TOKEN", &token)],
        None,
    );
    assert_eq!(forbidden.code, 3, "{forbidden:?}");
    assert!(forbidden.stderr.contains("403"), "{forbidden:?}");

    // 404 → 4.
    let missing = cli(&s, &["app", "get", "no-such-client-id"]);
    assert_eq!(missing.code, 4, "{missing:?}");
    assert!(missing.stderr.starts_with("keyward: ") && missing.stderr.contains("404"));
    assert_eq!(cli(&s, &["env", "get", "no-such-env"]).code, 4);
    assert_eq!(cli(&s, &["role", "list", "-e", "no-such-env"]).code, 4);

    // 409 → 5: a name taken, and deleting an ACTIVE app.
    let taken = cli(&s, &["env", "create", "default"]);
    assert_eq!(taken.code, 5, "{taken:?}");
    let active = cli(&s, &["app", "delete", &app.client_id]);
    assert_eq!(active.code, 5, "{active:?}");
    assert!(active.stderr.contains("409"), "{active:?}");

    // 422 → 6, naming the field.
    let invalid = cli(&s, &["role", "create", "bad role", "-p", "Orders:Read"]);
    assert_eq!(invalid.code, 6, "{invalid:?}");
    assert!(
        invalid.stderr.contains("422") && invalid.stderr.contains("permissions"),
        "{invalid:?}"
    );
    assert_eq!(invalid.stderr.lines().count(), 1, "{invalid:?}");
    let short = cli(&s, &["app", "create", "ab"]);
    assert_eq!(short.code, 6, "{short:?}");
    assert!(short.stderr.contains("name"), "{short:?}");

    // Usage errors → 2 (clap's own, and a missing choice).
    assert_eq!(cli(&s, &["app", "list", "--no-such-flag"]).code, 2);
    assert_eq!(cli(&s, &["app", "roles", &app.client_id]).code, 2);
    assert_eq!(cli(&s, &["env", "list", "--output", "yaml"]).code, 2);

    // Nothing listening → 1.
    let unreachable = keyward(
        &["env", "list"],
        &[
            ("KEYWARD_URL", "http://127.0.0.1:9"),
            ("KEYWARD_TOKEN", &s.admin),
        ],
        None,
    );
    assert_eq!(unreachable.code, 1, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("could not reach"),
        "{unreachable:?}"
    );
}

#[test]
fn without_a_credential_the_cli_says_how_to_give_one() {
    let s = Server::start();
    let out = keyward(&["app", "list"], &[("KEYWARD_URL", &s.base)], None);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("KEYWARD_TOKEN") && out.stderr.contains("--token-file"),
        "{out:?}"
    );
    let empty = keyward(
        &["app", "list"],
        &[("KEYWARD_URL", &s.base), ("KEYWARD_TOKEN", " ")],
        None,
    );
    assert_eq!(empty.code, 2, "{empty:?}");
}

#[test]
fn the_credential_never_shows_even_at_trace_level() {
    let s = Server::start();
    let trace = [
        ("KEYWARD_URL", s.base.as_str()),
        ("KEYWARD_TOKEN", s.admin.as_str()),
        ("RUST_LOG", "trace"),
    ];
    let runs = [
        keyward(&["env", "list"], &trace, None),
        keyward(&["app", "get", "no-such-app"], &trace, None),
        keyward(&["env", "list", "--help"], &trace, None),
        keyward(&["env", "create", "Bad Slug"], &trace, None),
    ];
    for run in &runs {
        assert!(
            !run.stdout.contains(&s.admin) && !run.stderr.contains(&s.admin),
            "the credential was printed: {run:?}"
        );
    }
    assert_eq!(runs[0].code, 0, "{:?}", runs[0]);
    assert!(
        !runs[0].stderr.is_empty(),
        "trace logging is on: {:?}",
        runs[0]
    );
    // --token and --token-file work the same, and are not echoed either.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", s.admin)).unwrap();
    let path = file.to_str().unwrap();
    for args in [
        vec!["env", "list", "--token-file", path],
        vec!["env", "list", "--token", s.admin.as_str()],
    ] {
        let run = keyward(
            &args,
            &[("KEYWARD_URL", &s.base), ("RUST_LOG", "trace")],
            None,
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            !run.stdout.contains(&s.admin) && !run.stderr.contains(&s.admin),
            "{run:?}"
        );
    }
    // The server's log does not hold it either.
    assert!(!s.logs().contains(&s.admin));
    // A secret the API returns once is printed once, on stdout, and never logged.
    let created = keyward(&["app", "create", "traced bot"], &trace, None).ok();
    let secret = created.field("client_secret");
    assert_eq!(created.stdout.matches(&secret).count(), 1, "{created:?}");
    assert!(!created.stderr.contains(&secret), "{created:?}");
    let password = keyward(
        &[
            "user",
            "create",
            "traced",
            "--role",
            "Admin",
            "--password-stdin",
        ],
        &trace,
        Some("a password nobody logs\n"),
    )
    .ok();
    assert!(
        !format!("{password:?}").contains("nobody logs"),
        "{password:?}"
    );
}

#[test]
fn the_url_defaults_to_the_configured_public_url() {
    let s = Server::start();
    let out = keyward(
        &["env", "get", "default", "-o", "json"],
        &[
            ("KEYWARD__SERVER__PUBLIC_URL", &s.base),
            ("KEYWARD_TOKEN", &s.admin),
        ],
        None,
    )
    .ok();
    assert_eq!(out.json()["slug"], "default");
}

#[test]
fn a_super_admin_credential_issued_by_the_cli_drives_the_cli() {
    let s = Server::start();
    keyward(
        &["user", "create", "ops", "--role", "Super Admin"],
        &[("KEYWARD_URL", &s.base), ("KEYWARD_TOKEN", &s.admin)],
        None,
    )
    .ok();
    let issued = cli(&s, &["user", "credential", "ops"]).ok();
    let credential = issued.field("credential");
    assert!(issued.stderr.contains("shown once"), "{issued:?}");
    let envs = keyward(
        &["env", "list", "-o", "json"],
        &[("KEYWARD_URL", &s.base), ("KEYWARD_TOKEN", &credential)],
        None,
    )
    .ok();
    assert!(envs.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["slug"] == "default"));
    // The user shows as holding a credential; never the credential itself.
    let shown = cli(&s, &["user", "get", "ops"]).ok();
    assert_eq!(shown.field("has_credential"), "true");
    assert!(!shown.stdout.contains(&credential));
}

#[test]
fn the_identity_provider_is_set_shown_and_removed() {
    let s = Server::start();
    assert_eq!(cli(&s, &["idp", "get"]).code, 4);
    let set = cli_json(
        &s,
        &[
            "idp",
            "set",
            "--token-endpoint",
            "https://idp.example/oauth2/token",
            "--jwks-uri",
            "https://idp.example/keys",
            "--audience",
            "api://keyward",
        ],
    );
    assert_eq!(set["token_endpoint"], "https://idp.example/oauth2/token");
    let shown = cli(&s, &["idp", "get"]).ok();
    assert_eq!(shown.field("jwks_uri"), "https://idp.example/keys");
    assert_eq!(shown.field("client_id_claims"), "client_id, cid, azp");
    // Bind an app to it, then unbind.
    let app = s.create_app("default", "federated bot", &[]);
    let bound = cli_json(
        &s,
        &[
            "app",
            "bind",
            &app.client_id,
            "--external-client-id",
            "okta-client-1",
        ],
    );
    assert_eq!(bound["external_client_id"], "okta-client-1");
    let unbound = cli_json(&s, &["app", "bind", &app.client_id]);
    assert_eq!(unbound["external_client_id"], Value::Null);
    cli(&s, &["idp", "delete"]).ok();
    assert_eq!(cli(&s, &["idp", "get"]).code, 4);
}

#[test]
fn authorize_exits_zero_when_allowed_and_three_when_not() {
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read"]);
    let app = s.create_app("default", "asking bot", &["orders-reader"]);
    let token = s.token(&app);
    let env = [
        ("KEYWARD_URL", s.base.as_str()),
        ("KEYWARD_TOKEN", token.as_str()),
    ];
    let allowed = keyward(&["authorize", "orders:read", "-o", "json"], &env, None).ok();
    assert_eq!(allowed.json()["allowed"], true);
    let refused = keyward(&["authorize", "orders:write"], &env, None);
    assert_eq!(refused.code, 3, "{refused:?}");
}

/// `GET /api/v1/audit`, through the CLI: filtered by environment, the documented
/// members, no secret, one table row per entry.
#[test]
fn audit_list_reads_the_audit_log() {
    let s = Server::start();
    cli(&s, &["env", "create", "audited"]).ok();
    let app = s.create_app("audited", "audited bot", &[]);
    s.deactivate("audited", &app);
    let log = cli(
        &s,
        &["audit", "list", "--environment", "audited", "-o", "json"],
    );
    assert_eq!(log.code, 0, "GET /api/v1/audit: {log:?}");
    let log = log.json();
    let items = log["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{log}");
    for item in items {
        assert_eq!(item["environment"], "audited", "{item}");
        for member in ["id", "at", "actor", "action", "subject"] {
            assert!(item.get(member).is_some(), "{member} in {item}");
        }
        assert!(item["actor"].get("kind").is_some() && item["actor"].get("name").is_some());
    }
    assert!(
        !log.to_string().contains(&app.client_secret),
        "no secret in the audit log"
    );
    let table = cli(&s, &["audit", "list", "--environment", "audited", "--all"]).ok();
    let heading = table.stdout.lines().next().unwrap_or_default();
    for column in ["AT", "ACTOR", "ACTION", "ENVIRONMENT", "SUBJECT"] {
        assert!(heading.contains(column), "{table:?}");
    }
    assert_eq!(table.stdout.lines().count(), items.len() + 1, "{table:?}");
}

#[test]
fn the_direct_database_commands_still_run_beside_the_api_commands() {
    let s = Server::start();
    // `keyward admin create` works on the database; `keyward user get` sees the result.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args([
        "admin",
        "create",
        "--username",
        "offline",
        "--role",
        "Admin",
    ])
    .env("KEYWARD__DATA_DIR", s.data_dir());
    if let Some(url) = database_url_for(&s.data_dir()) {
        cmd.env("KEYWARD__DATABASE__URL", url);
    }
    let out = cmd.output().expect("keyward admin create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user = cli_json(&s, &["user", "get", "offline"]);
    assert_eq!(user["role"], "Admin");
}

#[test]
fn the_remaining_commands_answer_what_their_routes_answer() {
    let s = Server::start();
    let env = cli_json(&s, &["env", "rename", "default", "Main"]);
    assert_eq!(env["name"], "Main");
    assert_eq!(
        cli_json(&s, &["env", "disable", "default"])["enabled"],
        false
    );
    assert_eq!(cli_json(&s, &["env", "enable", "default"])["enabled"], true);
    let set = cli_json(
        &s,
        &["env", "set-audiences", "default", "https://orders.example"],
    );
    assert_eq!(set["audiences"], json!(["https://orders.example"]));
    assert_eq!(cli_json(&s, &["env", "audiences", "default"]), set);

    cli(&s, &["role", "create", "ops", "-p", "orders:read"]).ok();
    let updated = cli_json(&s, &["role", "update", "ops", "-p", "orders:*"]);
    assert_eq!(updated["permissions"], json!(["orders:*"]));

    let app = s.create_app("default", "lifecycle bot", &["ops"]);
    cli(&s, &["app", "deactivate", &app.client_id]).ok();
    let active = cli(&s, &["app", "activate", &app.client_id]).ok();
    assert_eq!(active.field("status"), "ACTIVE");
    assert_eq!(
        cli_json(&s, &["app", "jwks", &app.client_id]),
        json!({"keys": []})
    );
    // A role still held by an app: 409 names the CLI's flag; --force unbinds it.
    let held = cli(&s, &["role", "delete", "ops"]);
    assert_eq!(held.code, 5, "{held:?}");
    assert!(held.stderr.contains("--force"), "{held:?}");
    cli(&s, &["role", "delete", "ops", "--force"]).ok();
    assert_eq!(
        cli_json(&s, &["app", "get", &app.client_id])["roles"],
        json!([])
    );

    keyward(
        &[
            "user",
            "create",
            "eve",
            "--role",
            "Admin",
            "--password-stdin",
        ],
        &[("KEYWARD_URL", &s.base), ("KEYWARD_TOKEN", &s.admin)],
        Some("correct horse battery staple\n"),
    )
    .ok();
    cli(&s, &["user", "deactivate", "eve"]).ok();
    assert_eq!(
        cli_json(&s, &["user", "activate", "eve"])["status"],
        "ACTIVE"
    );

    let snapshot = cli_json(&s, &["live", "snapshot"]);
    assert!(snapshot.get("position").is_some(), "{snapshot}");
}
