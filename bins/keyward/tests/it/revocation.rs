//! RFC 7009 revocation: a revoked token fails everywhere from the next call, reuse
//! never hands it out again, and its ID is pruned after its expiry.

use std::time::Duration;

use crate::harness::{assert_oauth_error, create_api_key, key_text, post_form, revoke, Server};

#[test]
fn a_revoked_token_fails_everywhere_from_the_next_call() {
    let s = Server::start();
    s.create_role("default", "reader", &["environments:read"]);
    let app = s.create_app("default", "revoking app", &["reader"]);
    let token = s.token(&app);
    assert_eq!(s.status(&token), 200);
    assert_eq!(s.get("/api/v1/environments", &token).status(), 200);
    let res = revoke(&s, &app, &token);
    assert_eq!(res.status(), 200);
    assert_eq!(s.status(&token), 401, "status endpoint");
    assert_eq!(
        s.get("/api/v1/environments", &token).status(),
        401,
        "management"
    );
    assert_eq!(s.authorize(&token, "environments:read"), 401, "authorize");
    // Reuse ends: the next request gets a new token, which works.
    let fresh = s.token(&app);
    assert_ne!(fresh, token, "reuse handed out a revoked token");
    assert_eq!(s.status(&fresh), 200);
    // Revoking again is fine (200) and changes nothing.
    assert_eq!(revoke(&s, &app, &token).status(), 200);
    assert_eq!(s.status(&fresh), 200);
    assert_eq!(s.db().count_rows("revoked_tokens"), 1);
}

#[test]
fn only_the_tokens_own_client_revokes_it() {
    let s = Server::start();
    let owner = s.create_app("default", "owner app", &[]);
    let other = s.create_app("default", "other app", &[]);
    let token = s.token(&owner);
    assert_oauth_error(
        revoke(&s, &other, &token),
        403,
        "unauthorized_client",
        "another client's token",
    );
    assert_eq!(s.status(&token), 200);
    // client_secret_post revokes too.
    let res = post_form(
        &s,
        "/oauth2/revoke",
        &[
            ("token", &token),
            ("token_type_hint", "access_token"),
            ("client_id", &owner.client_id),
            ("client_secret", &owner.client_secret),
        ],
    );
    assert_eq!(res.status(), 200);
    assert_eq!(s.status(&token), 401);
}

#[test]
fn invalid_tokens_answer_200_and_api_keys_are_not_revoked_here() {
    let s = Server::start();
    let app = s.create_app("default", "some app", &[]);
    for junk in ["garbage", "eyJhbGciOiJFUzI1NiJ9.eyJ9.c2ln", "kwpc_whatever"] {
        assert_eq!(revoke(&s, &app, junk).status(), 200, "{junk}");
    }
    let key = key_text(&create_api_key(&s, "default", &app, "ci"));
    assert_oauth_error(
        revoke(&s, &app, &key),
        400,
        "unsupported_token_type",
        "API key",
    );
    assert_eq!(s.status(&key), 200, "the key still works");
    assert_oauth_error(
        crate::harness::post_form_as(&s, "/oauth2/revoke", &app, &[]),
        400,
        "invalid_request",
        "no token",
    );
}

#[test]
fn revoked_ids_are_kept_until_the_tokens_expiry_then_pruned() {
    let s = Server::start_with(&[("KEYWARD__TOKENS__LIFETIME_SECONDS", "2")]);
    let app = s.create_app("default", "short lived", &[]);
    let token = s.token(&app);
    assert_eq!(revoke(&s, &app, &token).status(), 200);
    assert_eq!(s.db().count_rows("revoked_tokens"), 1);
    // Pruned by the background thread (every 5 s) once past `exp`.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while s.db().count_rows("revoked_tokens") > 0 {
        assert!(std::time::Instant::now() < deadline, "not pruned");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(s.status(&token), 401, "expired anyway");
}

#[test]
fn a_revocation_reaches_a_restarted_server_and_an_embedded_validator() {
    let s = Server::start();
    let app = s.create_app("default", "restart app", &[]);
    let token = s.token(&app);
    // An embedded validator (the orders example's) loaded before the revocation
    // follows it through the change feed.
    let link = orders_api::KeywardLink {
        database_url: s.db().url(),
        issuer: s.base.clone(),
        audience: s.base.clone(),
        environment: None,
        resync_interval: Duration::from_millis(50),
    };
    let (validator, _follower) = orders_api::connect(&link).expect("embedded validator");
    let accepts = |t: &str| validator.authenticate(t).is_ok();
    assert!(accepts(&token));
    assert_eq!(revoke(&s, &app, &token).status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while accepts(&token) {
        assert!(
            std::time::Instant::now() < deadline,
            "embedded validator still accepts"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A new server process on the same database loads the revoked IDs at start.
    let dir = s.stop();
    let s = Server::start_in(dir, &[]);
    assert_eq!(s.status(&token), 401);
}

#[test]
fn a_remote_validator_refuses_tokens_revoked_before_and_after_it_connected() {
    let s = Server::start();
    s.create_role("default", "live-reader", &["live:read"]);
    let service = s.create_app("default", "feed reader", &["live-reader"]);
    let key = key_text(&create_api_key(&s, "default", &service, "feed"));
    let app = s.create_app("default", "remotely revoked", &[]);
    let before = s.token(&app);
    assert_eq!(revoke(&s, &app, &before).status(), 200);
    let mut config = keyward_client::RemoteConfig::new(s.base.clone(), &key);
    config.poll_wait = Duration::from_secs(1);
    let remote = keyward_client::RemoteValidator::connect(config).expect("remote validator");
    let validator = remote.validator();
    // From the snapshot.
    assert!(
        validator.authenticate(&before).is_err(),
        "revoked before connecting"
    );
    let after = s.token(&app);
    assert!(validator.authenticate(&after).is_ok());
    assert_eq!(revoke(&s, &app, &after).status(), 200);
    // From the feed.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while validator.authenticate(&after).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "remote validator still accepts"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
