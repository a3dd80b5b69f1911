//! Signing-key rotation: the new key is in the JWK Set before it signs, tokens of the
//! old key stay valid until they expire, and the old key is retired after that.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{jose_header, Server};

fn kids(s: &Server) -> Vec<String> {
    let jwks: Value = s
        .http()
        .get(s.url("/.well-known/jwks.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const FAST_ROTATION: [(&str, &str); 4] = [
    ("KEYWARD__KEYS__PUBLISH_DELAY_SECONDS", "2"),
    ("KEYWARD__KEYS__RETIRE_LEEWAY_SECONDS", "0"),
    ("KEYWARD__TOKENS__LIFETIME_SECONDS", "3"),
    ("KEYWARD__TOKENS__REUSE", "false"),
];

#[test]
fn a_rotated_key_is_published_before_it_signs_and_the_old_one_retires_after_its_tokens() {
    let s = Server::start_with(&FAST_ROTATION);
    let app = s.create_app("default", "rotation client", &[]);
    let old_kid = kids(&s).pop().unwrap();
    let before = s.token(&app);
    let res = s.post(
        "/api/v1/signing-keys/rotate",
        &s.admin,
        serde_json::json!({}),
    );
    assert_eq!(res.status(), 201);
    let rotated: Value = res.json().unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["algorithm"], "ES256");
    // Published at once; the old key still signs.
    assert_eq!(kids(&s), vec![old_kid.clone(), new_kid.clone()]);
    let during = s.token(&app);
    assert_eq!(
        jose_header(&during)["kid"],
        old_kid,
        "the new key signs too early"
    );
    // After the publish delay the new key signs; tokens of the old key still work.
    wait_until("the new key signs", Duration::from_secs(5), || {
        jose_header(&s.token(&app))["kid"] == new_kid
    });
    assert_eq!(
        s.status(&during),
        200,
        "an old key's token inside its lifetime"
    );
    // Once the last token of the old key has expired, the key is retired.
    wait_until("the old key retires", Duration::from_secs(10), || {
        kids(&s) == vec![new_kid.clone()]
    });
    assert_eq!(s.status(&before), 401);
    assert_eq!(s.status(&s.token(&app)), 200);
}

#[test]
fn rotation_needs_keys_manage() {
    let s = Server::start();
    let app = s.create_app("default", "not a key manager", &["Admin"]);
    let token = s.token(&app);
    let res = s.post("/api/v1/signing-keys/rotate", &token, serde_json::json!({}));
    assert_eq!(res.status(), 403);
    assert!(crate::harness::header(&res, "www-authenticate")
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    assert_eq!(kids(&s).len(), 1);
}

#[test]
fn the_cli_rotates_and_the_running_server_publishes_the_key() {
    let s = Server::start_with(&FAST_ROTATION);
    let before = kids(&s);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(["keys", "rotate"])
        .env("KEYWARD__DATA_DIR", s.data_dir())
        .env("KEYWARD__KEYS__PUBLISH_DELAY_SECONDS", "2");
    if let Some(url) = crate::harness::database_url_for(&s.data_dir()) {
        cmd.env("KEYWARD__DATABASE__URL", url);
    }
    let out = cmd.output().expect("keyward keys rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("signing key"), "{stdout}");
    wait_until(
        "the server publishes the CLI's key",
        Duration::from_secs(3),
        || kids(&s).len() == before.len() + 1,
    );
}
