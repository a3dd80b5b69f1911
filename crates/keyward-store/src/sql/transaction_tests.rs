//! `Transactions::transaction`: several writes, to several aggregates, commit together
//! or not at all.

use chrono::Utc;
use keyward_domain::*;

use super::tests::{env, new_app, open};
use crate::*;

fn new_role(env: &Environment, name: &str) -> NewRole {
    NewRole {
        environment_id: env.id,
        name: RoleName::parse(name).unwrap(),
        permissions: vec![Permission::parse("orders:read").unwrap()],
    }
}

#[test]
fn writes_to_several_aggregates_commit_together() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    let before = store.latest_change().unwrap();
    let mut app = None;
    store
        .transaction(&mut || {
            let role = store.create_role(&new_role(&e, "reader"), Utc::now())?;
            let mut new = new_app(&e, "bot", "cid1");
            new.role_ids = vec![role.id];
            app = Some(store.create_app(&new, Quota::default(), Utc::now())?);
            Ok(())
        })
        .unwrap();
    let app = app.unwrap();
    assert_eq!(app.roles, vec![RoleName::parse("reader").unwrap()]);
    assert!(store.role_by_name(e.id, "reader").unwrap().is_some());
    assert!(store.app_state(&app.client_id).unwrap().is_some());
    assert_eq!(
        store.latest_change().unwrap(),
        before + 2,
        "both change rows"
    );
}

#[test]
fn a_failure_rolls_back_every_write_made_before_it() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    store
        .create_role(&new_role(&e, "taken"), Utc::now())
        .unwrap();
    let before = store.latest_change().unwrap();
    let result = store.transaction(&mut || {
        store.create_app(&new_app(&e, "bot", "cid1"), Quota::default(), Utc::now())?;
        store.create_role(&new_role(&e, "Taken"), Utc::now())?; // name taken
        Ok(())
    });
    assert!(matches!(result, Err(StoreError::NameTaken)));
    assert!(store
        .app_state(&ClientId::parse("cid1").unwrap())
        .unwrap()
        .is_none());
    assert_eq!(
        store.latest_change().unwrap(),
        before,
        "no change row either"
    );
    let env_now = store
        .environment_by_slug(&EnvironmentSlug::parse("prod").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(env_now.client_app_count, 0, "the quota slot was given back");
}

#[test]
fn a_failed_step_can_be_handled_and_the_rest_still_commits() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    store
        .create_role(&new_role(&e, "taken"), Utc::now())
        .unwrap();
    store
        .transaction(&mut || {
            // The refused write undoes only itself (a savepoint)...
            assert!(matches!(
                store.create_role(&new_role(&e, "TAKEN"), Utc::now()),
                Err(StoreError::NameTaken)
            ));
            // ...and the transaction goes on.
            store.create_role(&new_role(&e, "other"), Utc::now())?;
            Ok(())
        })
        .unwrap();
    assert!(store.role_by_name(e.id, "other").unwrap().is_some());
}

#[test]
fn nested_transactions_join_and_a_panic_rolls_back() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    store
        .transaction(&mut || {
            store.transaction(&mut || {
                store
                    .create_role(&new_role(&e, "inner"), Utc::now())
                    .map(|_| ())
            })?;
            Err(StoreError::Corrupt("the outer work fails".into()))
        })
        .unwrap_err();
    assert!(
        store.role_by_name(e.id, "inner").unwrap().is_none(),
        "the inner call joined the outer transaction, which rolled back"
    );
    let s = std::sync::Arc::clone(&store);
    let e2 = e.clone();
    let panicked = std::thread::spawn(move || {
        let _ = s.transaction(&mut || {
            s.create_role(&new_role(&e2, "doomed"), Utc::now())?;
            panic!("work panics mid-transaction");
        });
    })
    .join();
    assert!(panicked.is_err());
    assert!(store.role_by_name(e.id, "doomed").unwrap().is_none());
    // The store is fine afterwards: the write lock was released.
    store
        .create_role(&new_role(&e, "after"), Utc::now())
        .unwrap();
}
