//! Admin users and their personal credentials: one credential at a time per Super
//! Admin, the rules on roles, passwords and the last Super Admin (also under
//! concurrency), deletion, and credentials issued by the CLI while the server runs.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::harness::{
    admin_get, assert_problem, assert_unauthenticated, create_admin, database_url_for, eventually,
    issue_credential, Server,
};

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
    let r = s.bearer(&first).get("/api/v1/admins");
    assert_eq!(r.status, 200, "first credential works: {r:?}");

    let second = issue_credential(&s, &first, "ops-lead");
    assert_ne!(first, second);
    let r = s.bearer(&first).get("/api/v1/admins");
    assert_unauthenticated(&r, "first credential after the second was issued");
    let r = s.bearer(&second).get("/api/v1/admins/ops-lead");
    assert_eq!(r.status, 200, "second credential works: {r:?}");
    assert_eq!(r.body["has_credential"], json!(true));
    // The other Super Admin's credential is untouched.
    assert_eq!(s.bearer(&s.admin).get("/api/v1/admins").status, 200);
}

#[test]
fn issuing_a_credential_for_the_bootstrap_admin_revokes_the_bootstrap_credential() {
    let s = Server::start();
    let fresh = issue_credential(&s, &s.admin, "admin");
    let r = s.bearer(&s.admin).get("/api/v1/admins");
    assert_unauthenticated(&r, "bootstrap credential after a new one");
    let r = s.bearer(&fresh).get("/api/v1/admins");
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn admin_rules_not_super_admin_last_super_admin_password_length_and_deletion() {
    let s = Server::start();
    create_admin(&s, "helper", "Admin");
    let r = s
        .bearer(&s.admin)
        .post("/api/v1/admins/helper/credential", &json!({}));
    assert_problem(&r, 409, "not-super-admin", "credential for an Admin");

    let r = s.bearer(&s.admin).delete("/api/v1/admins/admin");
    assert_problem(&r, 409, "last-super-admin", "delete the last Super Admin");
    assert_eq!(s.bearer(&s.admin).get("/api/v1/admins").status, 200);

    for (password, role) in [
        ("short", "Admin"),
        ("elevenchars", "Admin"),
        ("long enough pass", "Owner"),
    ] {
        let r = s.bearer(&s.admin).post(
            "/api/v1/admins",
            &json!({"username": "newbie", "password": password, "role": role}),
        );
        assert_problem(
            &r,
            422,
            "validation-error",
            &format!("{password:?} {role:?}"),
        );
    }
    let r = s.bearer(&s.admin).get("/api/v1/admins/newbie");
    assert_problem(&r, 404, "not-found", "not created");
    let r = s.bearer(&s.admin).post(
        "/api/v1/admins",
        &json!({"username": "newbie", "password": "x".repeat(12), "role": "Admin"}),
    );
    assert_eq!(r.status, 201, "12 characters is enough: {r:?}");

    // A deleted Super Admin's credential stops at once; with two, one may go.
    create_admin(&s, "leaving", "Super Admin");
    let leaving = issue_credential(&s, &s.admin, "leaving");
    assert_eq!(s.bearer(&leaving).get("/api/v1/admins").status, 200);
    let r = s.bearer(&s.admin).delete("/api/v1/admins/leaving");
    assert_eq!(r.status, 204, "{r:?}");
    let r = s.bearer(&leaving).get("/api/v1/admins");
    assert_unauthenticated(&r, "a deleted admin's credential");
    let r = s.bearer(&s.admin).delete("/api/v1/admins/admin");
    assert_problem(&r, 409, "last-super-admin", "still the last Super Admin");
}

/// Runs `keyward <args>` on the server's database; returns stdout, panics on failure.
pub(crate) fn cli(s: &Server, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.env_clear();
    if let Some(url) = database_url_for(&s.data_dir()) {
        cmd.env("KEYWARD__DATABASE__URL", url);
    }
    let mut child = cmd
        .args(args)
        .current_dir(s.data_dir())
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
        s.bearer(&s.admin).get("/api/v1/admins/night-ops").status == 200
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
    let works = |c: &str| s.bearer(c).get("/api/v1/admins").status == 200;
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
        s.bearer(&first).get("/api/v1/admins").status == 401
    });
    assert!(
        revoked.is_some(),
        "the first CLI credential was never revoked"
    );
    let r = s.bearer(&first).get("/api/v1/admins");
    assert_unauthenticated(&r, "the first CLI credential after the second");
    assert!(works(&second), "the second CLI credential still works");
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
                    s.bearer(&s.admin)
                        .delete(&format!("/api/v1/admins/{name}"))
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
    let remaining = s.db().super_admin_count();
    assert_eq!(remaining, 1);
}
