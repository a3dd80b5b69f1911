//! The change feed's promise to readers (`sql/feed.rs`): a change never appears below a
//! number a reader has passed (numbers are in commit order), pruned changes are
//! reported as `Unknown`, and a hole in the sequence is not mistaken for lost data.
//! The commit-order tests need concurrent writers and run on PostgreSQL only
//! (`KEYWARD_TEST_POSTGRES_URL`); SQLite has one writer at a time.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::tests::{changes_after, env, open};
use super::DieselStore;
use crate::*;

#[test]
fn pruned_changes_reach_a_lagging_reader_as_unknown() {
    let (_db, store) = open();
    let lagging = store.latest_change().unwrap();
    env(&store, "one");
    env(&store, "two");
    let newest = store.latest_change().unwrap();
    let pruned = store
        .prune_changes(Utc::now() + chrono::Duration::hours(1))
        .unwrap();
    assert!(pruned >= 1, "all but the newest row pruned");
    assert_eq!(store.latest_change().unwrap(), newest, "never restarts");
    let changes = store.changes_since(lagging, 100).unwrap();
    assert_eq!(
        changes.first().map(|c| &c.subject),
        Some(&ChangeSubject::Unknown)
    );
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq), "in order");
    assert_eq!(changes.last().map(|c| c.seq), Some(newest));
    // A reader that had read everything sees nothing new.
    assert!(store.changes_since(newest, 100).unwrap().is_empty());
}

#[test]
fn a_hole_in_the_sequence_is_not_lost_data() {
    let (db, store) = open();
    let before = store.latest_change().unwrap();
    // A rolled-back transaction's number (PostgreSQL) leaves a hole like this one.
    db.raw(&format!(
        "INSERT INTO changes (seq, subject_kind, subject, at) \
         VALUES ({}, 'role', '7', '2026-01-01 00:00:00')",
        before + 5
    ));
    assert_eq!(
        changes_after(&store, before),
        vec![ChangeSubject::Role(RoleId(7))]
    );
}

/// Runs a store transaction on another thread that makes `first_write` and then waits
/// for the returned sender before committing; `ready` fires once the write is made.
fn held_transaction(
    store: &Arc<DieselStore>,
    first_write: impl Fn(&DieselStore) -> StoreResult<()> + Send + 'static,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<StoreResult<()>>) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let store = Arc::clone(store);
    let handle = std::thread::spawn(move || {
        store.transaction(&mut || {
            first_write(&store)?;
            let _ = ready_tx.send(());
            let _ = go_rx.recv_timeout(Duration::from_secs(30));
            Ok(())
        })
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the held transaction never wrote: {e}"));
    (go_tx, handle)
}

#[test]
fn a_change_committed_late_gets_a_number_above_every_change_already_read() {
    let (db, store) = open();
    if !db.is_postgres() {
        return; // one writer at a time: numbers are taken in commit order
    }
    let before = store.latest_change().unwrap();
    let (commit, held) = held_transaction(&store, |s| {
        s.create_environment(
            &NewEnvironment {
                slug: keyward_domain::EnvironmentSlug::parse("held").unwrap(),
                name: keyward_domain::EnvironmentName::parse("held").unwrap(),
            },
            Utc::now(),
        )
        .map(|_| ())
    });
    // A later change commits while the earlier one is still open: a reader passes it.
    let later = env(&store, "later");
    let first = store.changes_since(before, 100).unwrap();
    assert_eq!(
        first.iter().map(|c| &c.subject).collect::<Vec<_>>(),
        vec![&ChangeSubject::Environment(later.id)]
    );
    let position = first.last().map(|c| c.seq).unwrap();
    assert_eq!(position, before + 1, "dense");
    commit.send(()).unwrap();
    held.join().unwrap().unwrap();
    // The earlier-written change committed last, so it comes after the reader's position.
    let second = store.changes_since(position, 100).unwrap();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second.first().map(|c| c.seq), Some(position + 1));
    assert!(matches!(
        second.first().map(|c| &c.subject),
        Some(ChangeSubject::Environment(_))
    ));
}

/// The case a filter on each row's own transaction id (`xid < pg_snapshot_xmin`) gets
/// wrong: transaction Y gets its id first, X appends its change, then Y appends and
/// commits while X is still open. A reader that passed Y's change must still get X's.
#[test]
fn an_older_transaction_committing_first_cannot_make_readers_skip_a_younger_ones_change() {
    let (db, store) = open();
    if !db.is_postgres() {
        return;
    }
    let e = env(&store, "prod");
    let app = store
        .create_app(
            &super::tests::new_app(&e, "usage", "cid-usage"),
            Quota::default(),
            Utc::now(),
        )
        .unwrap();
    let before = store.latest_change().unwrap();
    // Y: a write that appends no change (usage), so Y has a transaction id and no
    // sequence number yet; it appends its change once X holds a smaller number.
    let (y_ready_tx, y_ready_rx) = mpsc::channel();
    let (y_go_tx, y_go_rx) = mpsc::channel::<()>();
    let y = {
        let store = Arc::clone(&store);
        let env_id = e.id;
        std::thread::spawn(move || {
            store.transaction(&mut || {
                store.record_usage(&Usage {
                    apps: vec![(app.id, Utc::now())],
                    ..Usage::default()
                })?;
                let _ = y_ready_tx.send(());
                let _ = y_go_rx.recv_timeout(Duration::from_secs(30));
                store
                    .create_role(
                        &NewRole {
                            environment_id: env_id,
                            name: keyward_domain::RoleName::parse("y").unwrap(),
                            permissions: vec![],
                        },
                        Utc::now(),
                    )
                    .map(|_| ())
            })
        })
    };
    y_ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let (x_commit, x) = held_transaction(&store, |s| {
        s.create_environment(
            &NewEnvironment {
                slug: keyward_domain::EnvironmentSlug::parse("x").unwrap(),
                name: keyward_domain::EnvironmentName::parse("x").unwrap(),
            },
            Utc::now(),
        )
        .map(|_| ())
    });
    y_go_tx.send(()).unwrap();
    y.join().unwrap().unwrap();
    let read = store.changes_since(before, 100).unwrap();
    assert_eq!(read.len(), 1, "Y's change: {read:?}");
    let position = read.last().map(|c| c.seq).unwrap();
    x_commit.send(()).unwrap();
    x.join().unwrap().unwrap();
    assert_eq!(
        changes_after(&store, position).len(),
        1,
        "X's change comes after the position the reader reached"
    );
}

#[test]
fn a_listener_wakes_when_a_change_commits_and_not_before() {
    let (db, store) = open();
    if !db.is_postgres() {
        return; // SQLite's feed is only polled
    }
    let mut listener = store
        .change_listener()
        .unwrap()
        .expect("a listener on PostgreSQL");
    assert!(
        !listener.wait(Duration::from_millis(50)).unwrap(),
        "nothing committed yet"
    );
    let (commit, held) = held_transaction(&store, |s| {
        s.create_environment(
            &NewEnvironment {
                slug: keyward_domain::EnvironmentSlug::parse("notified").unwrap(),
                name: keyward_domain::EnvironmentName::parse("notified").unwrap(),
            },
            Utc::now(),
        )
        .map(|_| ())
    });
    assert!(
        !listener.wait(Duration::from_millis(50)).unwrap(),
        "an open transaction notifies no one"
    );
    commit.send(()).unwrap();
    held.join().unwrap().unwrap();
    let started = std::time::Instant::now();
    assert!(
        listener.wait(Duration::from_secs(5)).unwrap(),
        "woken at commit"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}
