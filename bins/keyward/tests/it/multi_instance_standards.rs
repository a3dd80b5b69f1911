//! The OAuth standards across instances on one PostgreSQL database: a revocation made
//! through one instance is honoured by the other within 1 s, an assertion used on one
//! is refused as a replay on the other, and a signing key rotated on one is published
//! by the other before it signs. PostgreSQL runs only (`KEYWARD_TEST_BACKEND=postgres`).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::harness::{
    assert_invalid_client, create_postgres_database, is_postgres, jose_header, register_jwks,
    revoke, token_with_assertion, ClientKey, Server,
};

fn two_instances(extra: &[(&str, &str)]) -> Option<(Server, Server)> {
    if !is_postgres() {
        eprintln!("skipped: several instances need PostgreSQL (KEYWARD_TEST_BACKEND=postgres)");
        return None;
    }
    let database = create_postgres_database();
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let mut env = vec![
        ("KEYWARD__DATABASE__URL", database.as_str()),
        ("KEYWARD__KEYS__MASTER_KEY", key.as_str()),
        ("KEYWARD__SERVER__PUBLIC_URL", "http://keyward.test"),
        ("KEYWARD__CACHE__RESYNC_INTERVAL_MS", "100"),
    ];
    env.extend_from_slice(extra);
    let a = Server::start_with(&env);
    let b = Server::start_with(&env);
    Some((a, b))
}

fn within(what: &str, bound: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

#[test]
fn a_revocation_on_one_instance_is_honoured_by_the_other_within_a_second() {
    let Some((a, b)) = two_instances(&[]) else {
        return;
    };
    let app = a.create_app("default", "two instance app", &[]);
    let token = a.token(&app);
    assert_eq!(b.status(&token), 200);
    assert_eq!(revoke(&a, &app, &token).status(), 200);
    let took = within("revocation reaches b", Duration::from_secs(1), || {
        b.status(&token) == 401
    });
    println!(
        "revocation across instances: {:.1} ms",
        took.as_secs_f64() * 1000.0
    );
    // b's reuse cache (if it issued the token) never hands it out either.
    assert_ne!(b.token(&app), token);
}

#[test]
fn an_assertion_used_on_one_instance_is_a_replay_on_the_other() {
    let Some((a, b)) = two_instances(&[]) else {
        return;
    };
    let app = a.create_app("default", "jwt two instances", &[]);
    let key = ClientKey::generate("k1");
    register_jwks(&a, "default", &app, &key);
    // Both instances accept the public URL's token endpoint as the audience.
    let assertion = key.assertion(&app.client_id, "http://keyward.test/oauth2/token", 60, "j1");
    assert_eq!(token_with_assertion(&a, &assertion, &[]).status(), 200);
    assert_invalid_client(token_with_assertion(&b, &assertion, &[]), "replay on b");
}

#[test]
fn a_key_rotated_on_one_instance_is_published_by_the_other_before_it_signs() {
    let Some((a, b)) = two_instances(&[
        ("KEYWARD__KEYS__PUBLISH_DELAY_SECONDS", "3"),
        ("KEYWARD__TOKENS__REUSE", "false"),
    ]) else {
        return;
    };
    let app = b.create_app("default", "rotation two", &[]);
    let res = a.post(
        "/api/v1/signing-keys/rotate",
        &a.admin,
        serde_json::json!({}),
    );
    assert_eq!(res.status(), 201);
    let kid = res.json::<Value>().unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    within("b publishes the new key", Duration::from_secs(1), || {
        let jwks: Value = b
            .http()
            .get(b.url("/.well-known/jwks.json"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str())
    });
    assert_ne!(
        jose_header(&b.token(&app))["kid"],
        kid.as_str(),
        "b signs too early"
    );
    within("b signs with the new key", Duration::from_secs(6), || {
        jose_header(&b.token(&app))["kid"] == kid.as_str()
    });
}
