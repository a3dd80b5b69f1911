//! Store tests on a real database (a SQLite file, or PostgreSQL when
//! `KEYWARD_TEST_POSTGRES_URL` is set: see `test_db`): quota and uniqueness under
//! concurrency, tombstones, the change feed.

use std::sync::Arc;

use chrono::Utc;
use keyward_domain::*;

use super::test_db::TestDb;
use super::DieselStore;
use crate::*;

/// A store on a fresh database (kept while the returned `TestDb` lives).
pub(super) fn open() -> (TestDb, Arc<DieselStore>) {
    let db = TestDb::new();
    let store = db.open();
    (db, store)
}

pub(super) fn env(store: &DieselStore, slug: &str) -> Environment {
    store
        .create_environment(
            &NewEnvironment {
                slug: EnvironmentSlug::parse(slug).unwrap(),
                name: EnvironmentName::parse(slug).unwrap(),
            },
            Utc::now(),
        )
        .unwrap()
}

/// The subjects of the changes after `after`.
pub(super) fn changes_after(store: &DieselStore, after: i64) -> Vec<ChangeSubject> {
    store
        .changes_since(after, 100)
        .unwrap()
        .into_iter()
        .map(|c| c.subject)
        .collect()
}

pub(super) fn new_app(env: &Environment, name: &str, client_id: &str) -> NewApp {
    NewApp {
        environment_id: env.id,
        name: AppName::parse(name).unwrap(),
        client_id: ClientId::parse(client_id).unwrap(),
        secret: NewSecret {
            id: CredentialId::parse(&format!("s-{client_id}"), "id").unwrap(),
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            hint: "abcd".into(),
        },
        role_ids: vec![],
    }
}

#[test]
fn quota_holds_under_concurrent_creates() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            let e = e.clone();
            std::thread::spawn(move || {
                store.create_app(
                    &new_app(&e, &format!("app {i}"), &format!("cid{i}")),
                    Quota::default(),
                    Utc::now(),
                )
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("join"))
        .collect();
    let created = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::QuotaReached)))
        .count();
    assert_eq!(
        (created, refused),
        (20, 30),
        "{:?}",
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .collect::<Vec<_>>()
    );
    let env_now = store.environment_by_slug(&e.slug).unwrap().expect("env");
    assert_eq!(env_now.client_app_count, 20);
}

#[test]
fn names_are_unique_case_insensitively_and_freed_by_delete() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    let app = store
        .create_app(
            &new_app(&e, "Billing Bot", "cid1"),
            Quota::default(),
            Utc::now(),
        )
        .unwrap();
    assert!(matches!(
        store.create_app(
            &new_app(&e, "billing bot", "cid2"),
            Quota::default(),
            Utc::now()
        ),
        Err(StoreError::NameTaken)
    ));
    assert!(matches!(
        store.delete_app(app.id, Utc::now()),
        Err(StoreError::AppIsActive)
    ));
    let secrets = store.app_secrets(&app.client_id).unwrap();
    assert_eq!(secrets.len(), 1);
    assert!(secrets[0].hash.starts_with("$argon2id$") && secrets[0].expires_at.is_none());
    store
        .set_app_status(app.id, AppStatus::Inactive, Utc::now())
        .unwrap();
    store.delete_app(app.id, Utc::now()).unwrap();
    let tomb = store.app_state(&app.client_id).unwrap().expect("tombstone");
    assert!(tomb.deleted && tomb.role_ids.is_empty());
    assert!(
        store.app_secrets(&tomb.client_id).unwrap().is_empty(),
        "a tombstone keeps no hash"
    );
    // The name is free again, the client ID is not.
    store
        .create_app(
            &new_app(&e, "billing bot", "cid3"),
            Quota::default(),
            Utc::now(),
        )
        .unwrap();
    assert!(store
        .create_app(&new_app(&e, "other", "cid1"), Quota::default(), Utc::now())
        .is_err());
}

#[test]
fn search_escapes_like_wildcards_and_pages() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    for (i, name) in ["alpha 100", "beta", "gamma", "alphabet"]
        .iter()
        .enumerate()
    {
        store
            .create_app(
                &new_app(&e, name, &format!("cid{i}")),
                Quota::default(),
                Utc::now(),
            )
            .unwrap();
    }
    let search = |s: &str| {
        store
            .list_apps(
                e.id,
                &AppQuery {
                    search: Some(s.into()),
                    ..Default::default()
                },
            )
            .unwrap()
            .items
            .into_iter()
            .map(|a| a.name.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(search("a 1"), vec!["alpha 100"]);
    assert!(search("%").is_empty(), "a % in the search text is literal");
    assert_eq!(search("ALPHA").len(), 2);
    assert_eq!(search("CID2"), vec!["gamma"]);
    assert!(search("_").is_empty());
    let first = store
        .list_apps(
            e.id,
            &AppQuery {
                limit: PageLimit::parse("3").unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.items[0].name.as_str(), "alphabet");
    let rest = store
        .list_apps(
            e.id,
            &AppQuery {
                cursor: first.next_cursor,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_cursor.is_none());
}

#[test]
fn every_change_lands_in_the_feed() {
    let (_dir, store) = open();
    let before = store.latest_change().unwrap();
    let e = env(&store, "prod");
    let app = store
        .create_app(&new_app(&e, "abc", "cid1"), Quota::default(), Utc::now())
        .unwrap();
    store
        .set_app_status(app.id, AppStatus::Inactive, Utc::now())
        .unwrap();
    // Idempotent: no second change.
    store
        .set_app_status(app.id, AppStatus::Inactive, Utc::now())
        .unwrap();
    let changes = store.changes_since(before, 100).unwrap();
    let subjects: Vec<_> = changes.iter().map(|c| c.subject.clone()).collect();
    assert_eq!(
        subjects,
        vec![
            ChangeSubject::Environment(e.id),
            ChangeSubject::App(app.client_id.clone()),
            ChangeSubject::App(app.client_id)
        ]
    );
}

#[test]
fn a_change_this_version_cannot_read_is_reported_as_unknown_not_as_an_error() {
    let (db, store) = open();
    let before = store.latest_change().unwrap();
    db.raw(
        "INSERT INTO changes (subject_kind, subject, at) VALUES ('webhook', 'k1', '2026-01-01 00:00:00'),
                                                              ('role', 'not-a-number', '2026-01-01 00:00:00');",
    );
    let changes = store.changes_since(before, 10).unwrap();
    let subjects: Vec<_> = changes.into_iter().map(|c| c.subject).collect();
    assert_eq!(
        subjects,
        vec![ChangeSubject::Unknown, ChangeSubject::Unknown]
    );
}
