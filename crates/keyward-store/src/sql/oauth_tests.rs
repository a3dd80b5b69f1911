//! Store tests of the OAuth standards' tables (on SQLite, or PostgreSQL with
//! `KEYWARD_TEST_POSTGRES_URL`): revocations reach the feed once and are pruned after
//! their expiry, an assertion ID is claimed once even under concurrency, JWK Sets and
//! audiences are replaced whole, and retiring keys removes them from the ring.

use std::sync::{Arc, Barrier};

use chrono::{Duration, DurationRound, Utc};
use keyward_domain::*;

use super::tests::{changes_after, env, new_app, open};
use crate::*;

fn now() -> chrono::DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

#[test]
fn a_revocation_is_stored_once_fed_once_and_pruned_after_its_expiry() {
    let (_db, store) = open();
    let before = store.latest_change().unwrap();
    let token = RevokedToken {
        jti: "jti-1".into(),
        client_id: ClientId::parse("cid1").unwrap(),
        expires_at: now() + Duration::seconds(60),
    };
    assert!(store.revoke_token(&token, now()).unwrap());
    assert!(
        !store.revoke_token(&token, now()).unwrap(),
        "already revoked"
    );
    assert_eq!(
        changes_after(&store, before),
        vec![ChangeSubject::TokenRevoked {
            jti: "jti-1".into(),
            expires_at: token.expires_at,
        }],
        "one change, decoded back"
    );
    assert_eq!(
        store.revoked_tokens(now()).unwrap(),
        vec![RevokedTokenId {
            jti: "jti-1".into(),
            expires_at: token.expires_at,
        }]
    );
    assert_eq!(store.prune_expired(now()).unwrap(), 0, "not expired yet");
    let later = token.expires_at + Duration::seconds(1);
    assert!(store.revoked_tokens(later).unwrap().is_empty());
    assert_eq!(store.prune_expired(later).unwrap(), 1);
}

#[test]
fn an_assertion_id_is_claimed_once_even_by_concurrent_requests() {
    let (_db, store) = open();
    let client = ClientId::parse("cid1").unwrap();
    let exp = now() + Duration::seconds(60);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (store, barrier, client) =
                (Arc::clone(&store), Arc::clone(&barrier), client.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.claim_assertion_id(&client, "same-jti", exp).unwrap()
            })
        })
        .collect();
    let won = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|claimed| *claimed)
        .count();
    assert_eq!(won, 1);
    // Another client may use the same jti.
    let other = ClientId::parse("cid2").unwrap();
    assert!(store.claim_assertion_id(&other, "same-jti", exp).unwrap());
    assert_eq!(store.prune_expired(exp + Duration::seconds(1)).unwrap(), 2);
    assert!(store.claim_assertion_id(&client, "same-jti", exp).unwrap());
}

#[test]
fn jwks_and_audiences_are_replaced_whole_and_appended_to_the_feed() {
    let (_db, store) = open();
    let e = env(&store, "prod");
    let app = store
        .create_app(&new_app(&e, "bot", "cid1"), Quota::default(), Utc::now())
        .unwrap();
    let before = store.latest_change().unwrap();
    store
        .set_client_jwks(app.id, &app.client_id, Some(r#"{"keys":[]}"#), now())
        .unwrap();
    assert_eq!(
        store.client_jwks(&app.client_id).unwrap().as_deref(),
        Some(r#"{"keys":[]}"#)
    );
    store
        .set_client_jwks(app.id, &app.client_id, None, now())
        .unwrap();
    assert_eq!(store.client_jwks(&app.client_id).unwrap(), None);
    let audiences = vec!["https://a".to_owned(), "https://b".to_owned()];
    store
        .set_environment_audiences(e.id, &audiences, now())
        .unwrap();
    assert_eq!(store.environment_audiences(e.id).unwrap(), audiences);
    store
        .set_environment_audiences(e.id, &audiences[..1], now())
        .unwrap();
    assert_eq!(store.environment_audiences(e.id).unwrap(), audiences[..1]);
    assert_eq!(
        changes_after(&store, before),
        vec![
            ChangeSubject::App(app.client_id.clone()),
            ChangeSubject::App(app.client_id.clone()),
            ChangeSubject::Environment(e.id),
            ChangeSubject::Environment(e.id),
        ]
    );
    // A deleted app registers nothing.
    store
        .set_app_status(app.id, AppStatus::Inactive, now())
        .unwrap();
    store.delete_app(app.id, now()).unwrap();
    assert!(matches!(
        store.set_client_jwks(app.id, &app.client_id, Some("{}"), now()),
        Err(StoreError::NotFound)
    ));
}

#[test]
fn retired_keys_leave_the_ring_and_the_feed_says_so() {
    let (_db, store) = open();
    for kid in ["k1", "k2"] {
        store
            .insert_signing_key(&SigningKeyRecord {
                kid: kid.into(),
                algorithm: "ES256".into(),
                public_jwk: "{}".into(),
                private_jwe: "x".into(),
                created_at: now(),
            })
            .unwrap();
    }
    let before = store.latest_change().unwrap();
    assert_eq!(store.retire_signing_keys(&["k1".into()], now()).unwrap(), 1);
    assert_eq!(store.retire_signing_keys(&["k1".into()], now()).unwrap(), 0);
    let kids: Vec<String> = store
        .signing_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2"]);
    assert_eq!(
        changes_after(&store, before),
        vec![ChangeSubject::SigningKeys]
    );
}
