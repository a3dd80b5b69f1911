//! Store tests of an app's credentials (on SQLite, or PostgreSQL with
//! `KEYWARD_TEST_POSTGRES_URL`): rotations keep at most two secrets under concurrency,
//! the API-key quota holds under concurrent creates, names are unique per app, and
//! deleting an app takes its credentials with it.

use std::sync::{Arc, Barrier};

use chrono::{Duration, Utc};
use keyward_domain::*;

use super::tests::{changes_after, env, new_app, open};
use crate::*;

fn id(text: &str) -> CredentialId {
    CredentialId::parse(text, "id").unwrap()
}

fn secret(text: &str) -> NewSecret {
    NewSecret {
        id: id(text),
        hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${text}"),
        hint: "wxyz".into(),
    }
}

fn key(app: AppId, name: &str, n: u8) -> NewApiKey {
    NewApiKey {
        id: id(&format!("k-{}-{n}", app.0)),
        app,
        name: ApiKeyName::parse(name).unwrap(),
        digest: [n; 32],
        expires_at: None,
    }
}

#[test]
fn a_rotation_keeps_the_current_secret_as_the_previous_one_and_a_second_ends_it() {
    let (_db, store) = open();
    let e = env(&store, "prod");
    let app = store
        .create_app(&new_app(&e, "bot", "cid1"), Quota::default(), Utc::now())
        .unwrap();
    let before = store.latest_change().unwrap();
    let ends = Utc::now() + Duration::hours(1);
    store
        .rotate_app_secret(app.id, &secret("second"), ends, Utc::now())
        .unwrap();
    let stored = store.app_secrets(&app.client_id).unwrap();
    let ids: Vec<_> = stored.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["second", "s-cid1"], "current first");
    assert_eq!(stored[0].expires_at, None);
    assert_eq!(
        stored[1].expires_at.map(|t| t.timestamp()),
        Some(ends.timestamp())
    );
    assert_eq!(
        changes_after(&store, before),
        vec![ChangeSubject::App(app.client_id.clone())]
    );
    // The current secret cannot be ended; an unknown one is not found.
    assert!(matches!(
        store.end_app_secret(app.id, &id("second"), Utc::now()),
        Err(StoreError::CurrentSecret)
    ));
    assert!(matches!(
        store.end_app_secret(app.id, &id("nosuch"), Utc::now()),
        Err(StoreError::NotFound)
    ));
    // A second rotation: the first one's previous secret ends at once.
    store
        .rotate_app_secret(app.id, &secret("third"), ends, Utc::now())
        .unwrap();
    let listed: Vec<_> = store
        .list_app_secrets(app.id)
        .unwrap()
        .into_iter()
        .map(|s| s.id.as_str().to_owned())
        .collect();
    assert_eq!(listed, ["third", "second"]);
    store
        .end_app_secret(app.id, &id("second"), Utc::now())
        .unwrap();
    assert_eq!(store.app_secrets(&app.client_id).unwrap().len(), 1);
    // Usage lands on each secret by its id; an ended one is skipped.
    let at = Utc::now();
    store
        .record_usage(&Usage {
            secrets: vec![(id("third"), at), (id("second"), at)],
            ..Usage::default()
        })
        .unwrap();
    let listed = store.list_app_secrets(app.id).unwrap();
    assert_eq!(
        listed[0].last_used_at.map(|t| t.timestamp_micros()),
        Some(at.timestamp_micros())
    );
}

#[test]
fn concurrent_rotations_leave_one_current_secret_and_at_most_one_previous() {
    let (_db, store) = open();
    let e = env(&store, "prod");
    let app = store
        .create_app(&new_app(&e, "bot", "cid1"), Quota::default(), Utc::now())
        .unwrap();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                store.rotate_app_secret(
                    app.id,
                    &secret(&format!("r{i}")),
                    Utc::now() + Duration::hours(1),
                    Utc::now(),
                )
            })
        })
        .collect();
    let mut ok = 0;
    for t in threads {
        match t.join().unwrap() {
            Ok(()) => ok += 1,
            // SQLite may time out a writer under this contention; it changed nothing.
            Err(StoreError::Unavailable(_)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert!(ok >= 1);
    let secrets = store.list_app_secrets(app.id).unwrap();
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    assert_eq!(secrets.iter().filter(|s| s.is_current()).count(), 1);
}

#[test]
fn the_api_key_quota_holds_under_concurrent_creates() {
    let (_db, store) = open();
    let e = env(&store, "prod");
    let app = store
        .create_app(&new_app(&e, "bot", "cid1"), Quota::default(), Utc::now())
        .unwrap();
    let start = Arc::new(Barrier::new(30));
    let threads: Vec<_> = (0..30u8)
        .map(|n| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                store.create_api_key(
                    &key(app.id, &format!("key {n}"), n),
                    Quota::default(),
                    Utc::now(),
                )
            })
        })
        .collect();
    let mut created = 0;
    for t in threads {
        match t.join().unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::QuotaReached | StoreError::Unavailable(_)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    let listed = store.list_api_keys(app.id).unwrap();
    assert_eq!(listed.len(), created);
    assert_eq!(created, 10, "exactly the quota");
    // Deleting one frees its slot.
    let first = listed[0].id.clone();
    store.delete_api_key(app.id, &first, Utc::now()).unwrap();
    assert!(matches!(
        store.delete_api_key(app.id, &first, Utc::now()),
        Err(StoreError::NotFound)
    ));
    store
        .create_api_key(&key(app.id, "late", 100), Quota::default(), Utc::now())
        .unwrap();
    assert!(matches!(
        store.create_api_key(&key(app.id, "later", 101), Quota::default(), Utc::now()),
        Err(StoreError::QuotaReached)
    ));
}

#[test]
fn api_key_names_are_unique_per_app_and_keys_go_with_their_app() {
    let (_db, store) = open();
    let e = env(&store, "prod");
    let a = store
        .create_app(&new_app(&e, "bot a", "cida"), Quota::default(), Utc::now())
        .unwrap();
    let b = store
        .create_app(&new_app(&e, "bot b", "cidb"), Quota::default(), Utc::now())
        .unwrap();
    let before = store.latest_change().unwrap();
    let k = store
        .create_api_key(&key(a.id, "CI key", 1), Quota::default(), Utc::now())
        .unwrap();
    assert_eq!(
        changes_after(&store, before),
        vec![ChangeSubject::ApiKey(k.id.clone())]
    );
    assert!(matches!(
        store.create_api_key(&key(a.id, "ci KEY", 2), Quota::default(), Utc::now()),
        Err(StoreError::NameTaken)
    ));
    store
        .create_api_key(&key(b.id, "ci key", 3), Quota::default(), Utc::now())
        .unwrap();
    let found = store.api_key_by_digest(&[1; 32]).unwrap().expect("found");
    assert_eq!(found.client_id, a.client_id);
    assert_eq!(found.id, k.id);
    assert!(store.api_key_by_digest(&[9; 32]).unwrap().is_none());
    // Deleting the app deletes its keys and secrets; the other app keeps its own.
    store
        .set_app_status(a.id, AppStatus::Inactive, Utc::now())
        .unwrap();
    store.delete_app(a.id, Utc::now()).unwrap();
    assert!(store.api_key_by_digest(&[1; 32]).unwrap().is_none());
    assert!(store.api_key_by_digest(&[3; 32]).unwrap().is_some());
    assert!(matches!(
        store.create_api_key(&key(a.id, "again", 4), Quota::default(), Utc::now()),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.rotate_app_secret(a.id, &secret("x"), Utc::now(), Utc::now()),
        Err(StoreError::NotFound)
    ));
}
