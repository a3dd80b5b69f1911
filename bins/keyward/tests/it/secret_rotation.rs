//! Secret rotation with overlap (SPEC §5): `POST .../secrets` returns a new secret once
//! and keeps the previous one for a grace period (default one day, 0 to 30 days), during
//! which both get tokens; after it, or once the previous secret is DELETEd, the old one
//! gets 401 `invalid_client` by itself, also when the server had already verified it
//! (a warm client). A second rotation ends the first one's previous secret: at most two
//! secrets live, also under concurrent rotations. Rotation revokes no token. Each secret
//! reports its own `last_used_at`; storage keeps argon2id hashes only; `client_apps:read`
//! lists, `client_apps:manage` rotates and ends, and nobody rotates the secret of an app
//! holding more management power than they do.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{
    app_with_token, assert_allowed, assert_escalation, assert_forbidden, assert_invalid_client,
    assert_problem, assert_unauthenticated, assert_validation_error, credential_checksum,
    eventually, get_app, header, is_rfc3339_utc, list_secrets, rfc3339, rotate_secret,
    secrets_path, sleep_past, with_secret, App, Server,
};

const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The new secret of a rotation's answer.
fn secret_of(rotated: &Value) -> String {
    rotated["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned()
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().expect("items")
}

/// The status of a token request with `secret` for `app`.
fn token_status(s: &Server, app: &App, secret: &str) -> u16 {
    s.token_response(&app.client_id, secret, None)
        .status()
        .as_u16()
}

/// Asserts the list holds only the current secret; returns its id.
#[track_caller]
fn assert_only_current(s: &Server, app: &App, case: &str) -> Value {
    let list = list_secrets(s, "default", app);
    assert_eq!(items(&list).len(), 1, "{case}: {list}");
    assert!(items(&list)[0]["expires_at"].is_null(), "{case}: {list}");
    items(&list)[0]["id"].clone()
}

/// Seconds between two times, as a float.
fn seconds_between(a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

#[test]
fn rotation_shows_the_new_secret_once_and_both_secrets_get_tokens_during_the_grace_period() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "rotating app", &["reader"]);
    let before = list_secrets(&s, "default", &app);
    assert_eq!(
        items(&before).len(),
        1,
        "a new app has one secret: {before}"
    );
    let first = &items(&before)[0];
    assert!(first["expires_at"].is_null(), "{before}");
    assert!(
        first["created_at"].as_str().is_some_and(is_rfc3339_utc),
        "{before}"
    );
    assert!(first["last_used_at"].is_null(), "{before}");
    let original_id = first["id"].clone();
    assert!(original_id.as_str().is_some_and(|id| !id.is_empty()));
    let old_token = s.token(&app);

    let res = s.post(&secrets_path("default", &app), &s.admin, json!({}));
    assert_eq!(res.status(), 201);
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    let rotated: Value = res.json().expect("json");
    let new = secret_of(&rotated);
    let rest = new.strip_prefix("kwcs_").expect("kwcs_ prefix");
    assert_eq!(rest.len(), 49, "{new}");
    assert!(rest.chars().all(|c| BASE62.contains(c)), "{new}");
    assert_eq!(credential_checksum(&rest[..43]), rest[43..], "{new}");
    assert_ne!(new, app.client_secret);
    let previous_ends = rfc3339(&rotated["previous_secret_expires_at"]);
    let in_a_day = seconds_between(chrono::Utc::now(), previous_ends);
    assert!(
        (86_400.0 - 120.0..=86_400.0 + 5.0).contains(&in_a_day),
        "the default grace period is one day: {rotated}"
    );

    // Both secrets get tokens, and those tokens work.
    let new_app = with_secret(&app, &new);
    for (case, a) in [("old secret", &app), ("new secret", &new_app)] {
        let token = s.token(a);
        assert_eq!(s.status(&token), 200, "{case}");
        assert_allowed(&s, &token, "orders:read", case);
    }
    assert_eq!(s.status(&old_token), 200, "a token issued before rotation");

    // The list: the current secret first, then the previous one; no secret, no hash.
    let res = s.get(&secrets_path("default", &app), &s.admin);
    assert_eq!(res.status(), 200);
    let text = res.text().expect("text");
    for secret in [&app.client_secret, &new] {
        assert!(!text.contains(&secret[5..]), "a secret in the list: {text}");
    }
    assert!(!text.contains("$argon2"), "a hash in the list: {text}");
    let list: Value = serde_json::from_str(&text).expect("json");
    let listed = items(&list);
    assert_eq!(listed.len(), 2, "{list}");
    assert!(listed[0]["expires_at"].is_null(), "current first: {list}");
    assert_ne!(listed[0]["id"], original_id, "{list}");
    assert!(listed[0]["created_at"].as_str().is_some_and(is_rfc3339_utc));
    assert_eq!(listed[1]["id"], original_id, "the previous secret: {list}");
    assert_eq!(rfc3339(&listed[1]["expires_at"]), previous_ends, "{list}");
    for i in listed {
        for field in ["client_secret", "secret", "secret_hash", "hash"] {
            assert!(i.get(field).is_none(), "{field} in {i}");
        }
    }
    let app_text = s
        .get(&s.app_path("default", &app), &s.admin)
        .text()
        .expect("text");
    assert!(!app_text.contains(&new[5..]), "{app_text}");
}

#[test]
fn the_old_secret_ends_by_itself_when_the_grace_period_ends_warm_or_cold() {
    let s = Server::start();
    let cold = s.create_app("default", "cold app", &[]);
    let warm = s.create_app("default", "warm app", &[]);
    // The server verifies the warm app's secret once and remembers it.
    s.token(&warm);
    let cold_rotated = rotate_secret(&s, "default", &cold, Some(4));
    let warm_rotated = rotate_secret(&s, "default", &warm, Some(4));
    let ends = rfc3339(&cold_rotated["previous_secret_expires_at"])
        .max(rfc3339(&warm_rotated["previous_secret_expires_at"]));
    let grace = seconds_between(chrono::Utc::now(), ends);
    assert!(
        (2.0..=4.5).contains(&grace),
        "grace_period_seconds 4: {grace}"
    );

    assert_eq!(
        token_status(&s, &warm, &warm.client_secret),
        200,
        "old, warm, in grace"
    );
    let new_cold = with_secret(&cold, &secret_of(&cold_rotated));
    let new_warm = with_secret(&warm, &secret_of(&warm_rotated));
    s.token(&new_cold);
    s.token(&new_warm);
    assert!(
        chrono::Utc::now() < ends,
        "the checks above ran inside the grace period"
    );

    sleep_past(ends, 1_000);
    assert_invalid_client(
        s.token_response(&cold.client_id, &cold.client_secret, None),
        "the cold old secret after its grace period",
    );
    assert_invalid_client(
        s.token_response(&warm.client_id, &warm.client_secret, None),
        "the warm old secret after its grace period",
    );
    for (a, case) in [(&new_cold, "cold"), (&new_warm, "warm")] {
        assert_eq!(s.status(&s.token(a)), 200, "{case}: the new secret");
        assert_only_current(&s, a, case);
    }
}

#[test]
fn deleting_the_previous_secret_ends_it_at_once_even_when_warm_and_the_current_one_is_409() {
    let s = Server::start();
    let app = s.create_app("default", "ended app", &[]);
    let other = s.create_app("default", "other app", &[]);
    let old_token = s.token(&app);
    let new = secret_of(&rotate_secret(&s, "default", &app, Some(3_600)));
    assert_eq!(
        token_status(&s, &app, &app.client_secret),
        200,
        "old, warm, in grace"
    );
    let list = list_secrets(&s, "default", &app);
    let (current, previous) = (&items(&list)[0]["id"], &items(&list)[1]["id"]);
    let path = |id: &Value| {
        format!(
            "{}/{}",
            secrets_path("default", &app),
            id.as_str().expect("id")
        )
    };

    let r = s.bearer(&s.admin).delete(&path(current));
    assert_problem(&r, 409, "current-secret", "DELETE the current secret");
    assert_eq!(
        token_status(&s, &app, &new),
        200,
        "the current secret still works"
    );
    assert_eq!(items(&list_secrets(&s, "default", &app)).len(), 2);
    // Another app's path does not reach this secret.
    let r = s.bearer(&s.admin).delete(&format!(
        "{}/{}",
        secrets_path("default", &other),
        previous.as_str().expect("id")
    ));
    assert_problem(&r, 404, "not-found", "the secret through another app");
    assert_eq!(token_status(&s, &app, &app.client_secret), 200, "untouched");

    let res = s.delete(&path(previous), &s.admin);
    assert_eq!(res.status(), 204);
    assert!(res.text().expect("text").is_empty());
    assert_invalid_client(
        s.token_response(&app.client_id, &app.client_secret, None),
        "the warm old secret right after DELETE",
    );
    assert_eq!(token_status(&s, &app, &new), 200);
    assert_eq!(&assert_only_current(&s, &app, "after DELETE"), current);
    assert_problem(
        s.delete(&path(previous), &s.admin),
        404,
        "not-found",
        "second DELETE",
    );
    let r = s
        .bearer(&s.admin)
        .delete(&path(&json!("AAAAAAAAAAAAAAAAAAAAAA")));
    assert_problem(&r, 404, "not-found", "unknown secret id");
    assert_eq!(
        s.status(&old_token),
        200,
        "ending a secret revokes no token"
    );
}

#[test]
fn grace_zero_ends_the_old_secret_at_once_and_tokens_issued_before_keep_working() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "abrupt app", &["reader"]);
    let token = s.token(&app);
    let rotated = rotate_secret(&s, "default", &app, Some(0));
    let gap = seconds_between(
        chrono::Utc::now(),
        rfc3339(&rotated["previous_secret_expires_at"]),
    );
    assert!((-60.0..=1.0).contains(&gap), "ends now: {rotated}");
    assert_invalid_client(
        s.token_response(&app.client_id, &app.client_secret, None),
        "the old secret with no grace period",
    );
    let new_app = with_secret(&app, &secret_of(&rotated));
    assert_eq!(s.status(&s.token(&new_app)), 200);
    assert_only_current(&s, &app, "grace 0");
    // Rotation revokes no token.
    assert_eq!(s.status(&token), 200);
    assert_allowed(&s, &token, "orders:read", "a token of the ended secret");
}

#[test]
fn a_second_rotation_ends_the_first_rotations_previous_secret_at_once() {
    let s = Server::start();
    let app = s.create_app("default", "twice rotated", &[]);
    s.token(&app);
    let first = secret_of(&rotate_secret(&s, "default", &app, Some(3_600)));
    let first_id = items(&list_secrets(&s, "default", &app))[0]["id"].clone();
    assert_eq!(token_status(&s, &app, &first), 200);
    let second = rotate_secret(&s, "default", &app, Some(3_600));
    assert_invalid_client(
        s.token_response(&app.client_id, &app.client_secret, None),
        "the original secret after a second rotation",
    );
    assert_eq!(
        token_status(&s, &app, &first),
        200,
        "the first rotation's secret, now previous"
    );
    assert_eq!(
        token_status(&s, &app, &secret_of(&second)),
        200,
        "the current one"
    );
    let list = list_secrets(&s, "default", &app);
    let listed = items(&list);
    assert_eq!(listed.len(), 2, "at most two secrets live: {list}");
    assert!(listed[0]["expires_at"].is_null(), "{list}");
    assert_eq!(listed[1]["id"], first_id, "{list}");
    assert_eq!(
        rfc3339(&listed[1]["expires_at"]),
        rfc3339(&second["previous_secret_expires_at"])
    );
}

#[test]
fn each_secret_reports_its_own_last_used_at_written_in_batches() {
    let s = Server::start();
    let app = s.create_app("default", "usage app", &[]);
    let new = secret_of(&rotate_secret(&s, "default", &app, Some(3_600)));
    let list = list_secrets(&s, "default", &app);
    let (current, previous) = (items(&list)[0]["id"].clone(), items(&list)[1]["id"].clone());
    assert!(
        items(&list).iter().all(|i| i["last_used_at"].is_null()),
        "{list}"
    );
    let used = |id: &Value| -> Value {
        let list = list_secrets(&s, "default", &app);
        items(&list)
            .iter()
            .find(|i| i["id"] == *id)
            .unwrap_or_else(|| panic!("{id} in {list}"))["last_used_at"]
            .clone()
    };

    s.token(&app);
    assert!(
        eventually(Duration::from_secs(5), || !used(&previous).is_null()).is_some(),
        "the old secret's use is shown"
    );
    assert!(used(&previous).as_str().is_some_and(is_rfc3339_utc));
    assert!(used(&current).is_null(), "only the secret used moves");
    assert!(
        !get_app(&s, &app)["last_used_at"].is_null(),
        "and the app's"
    );

    s.token(&with_secret(&app, &new));
    assert!(
        eventually(Duration::from_secs(5), || !used(&current).is_null()).is_some(),
        "the new secret's use is shown"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let rows = s.db().stored_secrets(&app.client_id);
            rows.len() == 2 && rows.iter().all(|r| r.last_used_at.is_some())
        })
        .is_some(),
        "both uses reach storage: {:?}",
        s.db().stored_secrets(&app.client_id)
    );
}

#[test]
fn grace_period_seconds_is_an_integer_from_0_to_30_days_and_bad_bodies_change_nothing() {
    let s = Server::start();
    let app = s.create_app("default", "strict app", &[]);
    let path = secrets_path("default", &app);
    let id = assert_only_current(&s, &app, "before");
    for (grace, case) in [
        (json!(-1), "negative"),
        (json!(2_592_001), "over 30 days"),
        (json!(1.5), "not an integer"),
        (json!("60"), "a string"),
        (json!(true), "a boolean"),
        (json!([60]), "a list"),
        (json!({"seconds": 60}), "an object"),
    ] {
        let r = s
            .bearer(&s.admin)
            .post(&path, &json!({ "grace_period_seconds": grace }));
        assert_validation_error(&r, "grace_period_seconds", &format!("{case}: {grace}"));
    }
    let r = s.bearer(&s.admin).post(
        &path,
        &json!({"client_secret": "kwcs_mine", "grace_period_seconds": 60}),
    );
    assert_validation_error(
        &r,
        "client_secret",
        "unknown field: a secret chosen by the caller",
    );
    assert_eq!(
        assert_only_current(&s, &app, "after the refusals"),
        id,
        "nothing changed"
    );
    assert_eq!(s.status(&s.token(&app)), 200, "the secret still works");

    let rotated = rotate_secret(&s, "default", &app, Some(2_592_000));
    let ahead = seconds_between(
        chrono::Utc::now(),
        rfc3339(&rotated["previous_secret_expires_at"]),
    );
    assert!(
        (2_592_000.0 - 120.0..=2_592_000.0 + 5.0).contains(&ahead),
        "30 days: {rotated}"
    );
}

#[test]
fn storage_holds_only_argon2id_hashes_and_deleting_the_app_removes_them() {
    let s = Server::start();
    let app = s.create_app("default", "hashed app", &[]);
    let rows = s.db().stored_secrets(&app.client_id);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].expires_at.is_none());
    let new = secret_of(&rotate_secret(&s, "default", &app, Some(3_600)));
    s.token(&app);
    s.token(&with_secret(&app, &new));

    let list = list_secrets(&s, "default", &app);
    let rows = s.db().stored_secrets(&app.client_id);
    let live: Vec<_> = rows
        .iter()
        .filter(|r| items(&list).iter().any(|i| i["id"] == r.public_id.as_str()))
        .collect();
    assert_eq!(live.len(), 2, "a row per listed secret: {rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r.expires_at.is_none()).count(),
        1,
        "one current"
    );
    assert_ne!(live[0].secret_hash, live[1].secret_hash);
    for row in &rows {
        assert!(
            row.secret_hash.starts_with("$argon2id$v=19$"),
            "PHC string: {row:?}"
        );
    }
    for secret in [&app.client_secret, &new] {
        for needle in [secret.as_str(), &secret[5..], &secret[5..30]] {
            if let Some(place) = s.db().find_anywhere(needle) {
                panic!("secret text {needle} found in {place}");
            }
        }
    }

    s.deactivate("default", &app);
    assert_eq!(
        s.delete(&s.app_path("default", &app), &s.admin).status(),
        204
    );
    assert!(
        s.db().stored_secrets(&app.client_id).is_empty(),
        "the secret hashes are gone"
    );
    for secret in [&app.client_secret, &new] {
        assert_eq!(token_status(&s, &app, secret), 401);
    }
    let path = secrets_path("default", &app);
    assert_problem(
        s.get(&path, &s.admin),
        404,
        "not-found",
        "secrets of a deleted app",
    );
    assert_problem(
        s.post(&path, &s.admin, json!({})),
        404,
        "not-found",
        "rotating a deleted app",
    );
}

#[test]
fn unknown_environment_or_app_is_404() {
    let s = Server::start();
    s.create_environment("staging");
    let app = s.create_app("default", "known app", &[]);
    let unknown_app = "/api/v1/environments/default/client-apps/AAAAAAAAAAAAAAAAAAAAAA/secrets";
    let wrong_env = format!(
        "/api/v1/environments/nowhere/client-apps/{}/secrets",
        app.client_id
    );
    let other_env = format!(
        "/api/v1/environments/staging/client-apps/{}/secrets",
        app.client_id
    );
    let id = assert_only_current(&s, &app, "before");
    let id = id.as_str().expect("id");
    for path in [unknown_app, wrong_env.as_str(), other_env.as_str()] {
        let admin = s.bearer(&s.admin);
        assert_problem(admin.get(path), 404, "not-found", path);
        assert_problem(admin.post(path, &json!({})), 404, "not-found", path);
        assert_problem(
            admin.delete(&format!("{path}/{id}")),
            404,
            "not-found",
            path,
        );
    }
    assert_eq!(
        assert_only_current(&s, &app, "after"),
        json!(id),
        "untouched"
    );
    assert_eq!(s.status(&s.token(&app)), 200);
}

#[test]
fn client_apps_read_lists_client_apps_manage_rotates_and_nobody_rotates_a_stronger_app() {
    let s = Server::start();
    s.create_role("default", "app-reader", &["client_apps:read"]);
    s.create_role(
        "default",
        "app-manager",
        &["client_apps:manage", "client_apps:read"],
    );
    s.create_role(
        "default",
        "key-manager",
        &["api_keys:manage", "api_keys:read"],
    );
    let (_, reader) = app_with_token(&s, "default", "app reader", &["app-reader"]);
    let (_, manager) = app_with_token(&s, "default", "app manager", &["app-manager"]);
    let (_, keys_only) = app_with_token(&s, "default", "key manager", &["key-manager"]);
    let (_, admin_app) = app_with_token(&s, "default", "admin app", &["Admin"]);
    let target = s.create_app("default", "plain target", &[]);
    let boss = s.create_app("default", "boss", &["Admin"]);
    let root = s.create_app("default", "root", &["Super Admin"]);
    let path = secrets_path("default", &target);
    rotate_secret(&s, "default", &target, Some(3_600));
    let previous = items(&list_secrets(&s, "default", &target))[1]["id"].clone();
    let previous_path = format!("{path}/{}", previous.as_str().expect("id"));

    let r = s.bearer(&reader).get(&path);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(items(&r.body).len(), 2);
    assert_forbidden(
        s.bearer(&reader).post(&path, &json!({})),
        "a reader rotates",
    );
    assert_forbidden(
        s.bearer(&reader).delete(&previous_path),
        "a reader ends a secret",
    );
    assert_forbidden(s.bearer(&keys_only).get(&path), "api_keys:* lists secrets");
    assert_forbidden(
        s.bearer(&keys_only).post(&path, &json!({})),
        "api_keys:* rotates",
    );
    assert_eq!(
        items(&list_secrets(&s, "default", &target)).len(),
        2,
        "unchanged"
    );

    let r = s.bearer(&manager).delete(&previous_path);
    assert_eq!(r.status, 204, "{r:?}");
    let r = s
        .bearer(&manager)
        .post(&path, &json!({"grace_period_seconds": 0}));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        s.status(&s.token(&with_secret(&target, &secret_of(&r.body)))),
        200
    );

    // A secret of an app holding more management power than the caller is out of reach.
    let r = s
        .bearer(&manager)
        .post(&secrets_path("default", &boss), &json!({}));
    assert_escalation(&r, "an app manager rotates an Admin app's secret");
    let r = s
        .bearer(&admin_app)
        .post(&secrets_path("default", &root), &json!({}));
    assert_escalation(&r, "an Admin app rotates a Super Admin app's secret");
    for victim in [&boss, &root] {
        assert_only_current(&s, victim, "nothing rotated");
        assert_eq!(s.status(&s.token(victim)), 200, "its secret still works");
    }
    rotate_secret(&s, "default", &boss, Some(3_600));
    let boss_previous = items(&list_secrets(&s, "default", &boss))[1]["id"].clone();
    let r = s.bearer(&manager).delete(&format!(
        "{}/{}",
        secrets_path("default", &boss),
        boss_previous.as_str().expect("id")
    ));
    assert_escalation(&r, "an app manager ends an Admin app's previous secret");
    assert_eq!(
        token_status(&s, &boss, &boss.client_secret),
        200,
        "still in its grace"
    );
    // Peers are fine.
    let r = s
        .bearer(&admin_app)
        .post(&secrets_path("default", &boss), &json!({}));
    assert_eq!(
        r.status, 201,
        "an Admin app rotates an Admin app's secret: {r:?}"
    );

    assert_unauthenticated(s.anonymous().get(&path), "no credential");
    assert_unauthenticated(s.bearer("garbage").post(&path, &json!({})), "garbage");
}

#[test]
fn eight_concurrent_rotations_leave_one_current_secret_and_one_previous() {
    let s = Server::start();
    let app = s.create_app("default", "contended app", &[]);
    let barrier = std::sync::Barrier::new(8);
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (s, app, barrier) = (&s, &app, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let r = s
                        .bearer(&s.admin)
                        .post(&secrets_path("default", app), &json!({}));
                    (r.status, r.body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for (status, body) in &results {
        assert_eq!(*status, 201, "every rotation happens: {body}");
    }
    let list = list_secrets(&s, "default", &app);
    assert_eq!(items(&list).len(), 2, "at most two secrets live: {list}");
    assert_eq!(
        items(&list)
            .iter()
            .filter(|i| i["expires_at"].is_null())
            .count(),
        1,
        "exactly one current: {list}"
    );
    assert!(
        items(&list)[0]["expires_at"].is_null(),
        "current first: {list}"
    );
    let stored = s.db().stored_secrets(&app.client_id);
    assert_eq!(
        stored.iter().filter(|r| r.expires_at.is_none()).count(),
        1,
        "one current in storage: {stored:?}"
    );
    // Exactly the two listed secrets work: the last rotation's and the one before it.
    let working = results
        .iter()
        .map(|(_, body)| secret_of(body))
        .filter(|secret| token_status(&s, &app, secret) == 200)
        .count();
    assert_eq!(working, 2, "the current and the previous secret get tokens");
    assert_invalid_client(
        s.token_response(&app.client_id, &app.client_secret, None),
        "the original secret",
    );
}
