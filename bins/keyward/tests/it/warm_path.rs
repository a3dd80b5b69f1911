//! The warm path needs no storage write: while another connection holds the database's
//! write lock, a client that already proved its secret keeps getting tokens and its tokens
//! keep passing status checks, while management writes answer 503 — and nothing is
//! half-written. Also: the token endpoint's 503 when argon2 work is saturated.

use std::sync::{Arc, Barrier};

use serde_json::{json, Value};

use crate::harness::Server;

#[test]
fn a_warm_client_keeps_working_while_storage_refuses_writes() {
    let s = Server::start_with(&[("KEYWARD__DATABASE__BUSY_TIMEOUT_MS", "300")]);
    s.create_role("default", "orders-reader", &["orders:read"]);
    let app = s.create_app("default", "warm bot", &["orders-reader"]);
    let first = s.token(&app);
    let apps_before: Value = s
        .get("/api/v1/environments/default/client-apps", &s.admin)
        .json()
        .unwrap();

    let lock = s.db().hold_write_lock();
    // Token issuance and checks are answered without writing.
    for _ in 0..5 {
        assert_eq!(s.token(&app), first, "the reused token, served from memory");
    }
    assert_eq!(s.status(&first), 200);
    assert_eq!(s.authorize(&first, "orders:read"), 200);
    // A write cannot happen: 503 with a problem body and Retry-After, never 500.
    let res = s.post(
        "/api/v1/environments/default/client-apps",
        &s.admin,
        json!({"name": "blocked bot"}),
    );
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let problem: Value = res.json().unwrap();
    assert_eq!(problem["type"], "urn:keyward:problem:storage-unavailable");
    let res = s.post(
        &format!("{}/deactivate", s.app_path("default", &app)),
        &s.admin,
        json!({}),
    );
    assert_eq!(res.status(), 503);
    drop(lock);

    // Nothing was half-written, and the server recovered by itself.
    let apps_after: Value = s
        .get("/api/v1/environments/default/client-apps", &s.admin)
        .json()
        .unwrap();
    let ids = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["client_id"].clone(), a["status"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&apps_after), ids(&apps_before));
    assert_eq!(
        s.status(&first),
        200,
        "the deactivation that failed did not happen"
    );
    let env: Value = s
        .get("/api/v1/environments/default", &s.admin)
        .json()
        .unwrap();
    assert_eq!(env["client_apps"], 1, "the quota counter did not move");
    s.create_app("default", "after the lock", &[]);
    s.deactivate("default", &app);
    assert_eq!(s.status(&first), 401);
}

#[test]
fn the_token_endpoint_answers_503_with_retry_after_when_hashing_is_saturated() {
    let s = Server::start_with(&[
        ("KEYWARD__SECURITY__HASHING_CONCURRENCY", "1"),
        ("KEYWARD__SECURITY__HASHING_QUEUE", "0"),
        ("KEYWARD__SECURITY__MAX_FAILED_ATTEMPTS", "100000"),
    ]);
    let app = s.create_app("default", "busy bot", &[]);
    // A wrong (well-formed) secret always costs one argon2 verification.
    let mut wrong = app.client_secret.clone();
    wrong.replace_range(5..6, if &wrong[5..6] == "a" { "b" } else { "a" });
    let wrong = format!(
        "{}{}",
        &wrong[..wrong.len() - 6],
        checksum_of(&wrong[5..wrong.len() - 6])
    );
    let mut saw_503 = false;
    for _round in 0..10 {
        let barrier = Arc::new(Barrier::new(12));
        let results: Vec<(u16, Option<String>, Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..12)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    let (s, app, wrong) = (&s, &app, &wrong);
                    scope.spawn(move || {
                        barrier.wait();
                        let res = s.token_response(&app.client_id, wrong, None);
                        let status = res.status().as_u16();
                        let retry = res
                            .headers()
                            .get("retry-after")
                            .map(|v| v.to_str().unwrap().to_owned());
                        (status, retry, res.json().unwrap_or(Value::Null))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (status, retry, body) in &results {
            match status {
                401 => assert_eq!(body["error"], "invalid_client"),
                503 => {
                    saw_503 = true;
                    assert_eq!(body["error"], "temporarily_unavailable");
                    assert!(retry.is_some(), "503 carries Retry-After");
                }
                other => panic!("unexpected status {other}: {body}"),
            }
        }
        if saw_503 {
            break;
        }
    }
    assert!(
        saw_503,
        "12 simultaneous argon2 verifications with one slot and no queue refuse some"
    );
    // The legitimate client is unaffected once the burst is over.
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        200
    );
}

/// The 6-character base62 CRC32 checksum Keyward appends to a credential body.
fn checksum_of(body: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32(body.as_bytes());
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
