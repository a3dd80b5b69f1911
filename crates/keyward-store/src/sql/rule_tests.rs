//! The rules that must hold under concurrency, each a conditional write with a row
//! count: what each answers when its condition fails, and races between two store
//! handles on the same file (two processes, as far as the database can tell).

use std::sync::{Arc, Barrier};

use chrono::Utc;
use keyward_domain::*;

use super::tests::{changes_after, env, new_app, open};
use super::DieselStore;
use crate::*;

/// A second store on the same database (a second process, as far as the database can
/// tell).
fn second_handle(first: &DieselStore) -> Arc<DieselStore> {
    let mut options = super::StoreOptions::url(first.url.clone());
    options.migrate = false;
    Arc::new(DieselStore::open(&options).unwrap())
}

/// Runs `a` and `b` on two threads released at the same instant.
fn race<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send + 'static,
    B: FnOnce() -> RB + Send + 'static,
    RA: Send + 'static,
    RB: Send + 'static,
{
    let start = Arc::new(Barrier::new(2));
    let start_b = Arc::clone(&start);
    let a = std::thread::spawn(move || {
        start.wait();
        a()
    });
    let b = std::thread::spawn(move || {
        start_b.wait();
        b()
    });
    (a.join().expect("join"), b.join().expect("join"))
}

fn admin(store: &DieselStore, name: &str, role: AdminRole) -> AdminUser {
    store
        .create_admin(
            &NewAdmin {
                username: Username::parse(name).unwrap(),
                password_hash: None,
                role: Some(role),
                role_ids: vec![],
                credential_digest: None,
            },
            Utc::now(),
        )
        .unwrap()
}

fn super_admins(store: &DieselStore) -> usize {
    store
        .list_admins(SortOrder::Asc, PageLimit::default(), None)
        .unwrap()
        .items
        .iter()
        .filter(|a| a.role == Some(BuiltinRole::SuperAdmin))
        .count()
}

fn custom_role(store: &DieselStore, e: &Environment, name: &str) -> Role {
    store
        .create_role(
            &NewRole {
                environment_id: e.id,
                name: RoleName::parse(name).unwrap(),
                permissions: vec![Permission::parse("orders:read").unwrap()],
            },
            Utc::now(),
        )
        .unwrap()
}

#[test]
fn app_writes_answer_not_found_for_missing_and_deleted_apps() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    let app = store
        .create_app(&new_app(&e, "abc", "cid1"), Quota::default(), Utc::now())
        .unwrap();
    let missing = AppId(app.id.0 + 1000);
    assert!(matches!(
        store.delete_app(missing, Utc::now()),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_app_status(missing, AppStatus::Inactive, Utc::now()),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.replace_app_roles(missing, &[], Utc::now()),
        Err(StoreError::NotFound)
    ));
    store
        .set_app_status(app.id, AppStatus::Inactive, Utc::now())
        .unwrap();
    store.delete_app(app.id, Utc::now()).unwrap();
    let after_delete = store.latest_change().unwrap();
    assert!(matches!(
        store.delete_app(app.id, Utc::now()),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_app_status(app.id, AppStatus::Active, Utc::now()),
        Err(StoreError::NotFound)
    ));
    let role = custom_role(&store, &e, "reader");
    assert!(matches!(
        store.replace_app_roles(app.id, &[role.id], Utc::now()),
        Err(StoreError::NotFound)
    ));
    // The tombstone stayed inactive, unbound and out of the quota; the refused writes
    // appended nothing (the role's creation is the only change since).
    let tomb = store.app_state(&app.client_id).unwrap().expect("tombstone");
    assert!(tomb.deleted && tomb.status == AppStatus::Inactive && tomb.role_ids.is_empty());
    assert_eq!(
        changes_after(&store, after_delete),
        vec![ChangeSubject::Role(role.id)]
    );
    let e_now = store.environment_by_slug(&e.slug).unwrap().expect("env");
    assert_eq!(e_now.client_app_count, 0);
}

#[test]
fn usage_batches_and_pruning_append_no_change() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    let app = store
        .create_app(&new_app(&e, "abc", "cid1"), Quota::default(), Utc::now())
        .unwrap();
    let before = store.latest_change().unwrap();
    store
        .record_usage(&Usage {
            apps: vec![(app.id, Utc::now())],
            ..Usage::default()
        })
        .unwrap();
    let pruned = store
        .prune_changes(Utc::now() + chrono::Duration::hours(1))
        .unwrap();
    assert_eq!(pruned, 1, "everything but the newest row");
    assert_eq!(store.latest_change().unwrap(), before);
    assert!(changes_after(&store, before).is_empty());
}

#[test]
fn delete_role_refuses_while_bound_and_force_reports_exactly_the_unbound_apps() {
    let (_dir, store) = open();
    let e = env(&store, "prod");
    let role = custom_role(&store, &e, "reader");
    let mut bound = Vec::new();
    for i in 0..2 {
        let mut new = new_app(&e, &format!("app {i}"), &format!("cid{i}"));
        new.role_ids = vec![role.id];
        bound.push(
            store
                .create_app(&new, Quota::default(), Utc::now())
                .unwrap()
                .client_id,
        );
    }
    let builtin = store
        .role_by_name(e.id, BuiltinRole::Admin.name())
        .unwrap()
        .expect("built-in role");
    assert!(matches!(
        store.delete_role(builtin.id, true, Utc::now()),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_role(RoleId(role.id.0 + 1000), false, Utc::now()),
        Err(StoreError::NotFound)
    ));
    let before = store.latest_change().unwrap();
    assert!(matches!(
        store.delete_role(role.id, false, Utc::now()),
        Err(StoreError::RoleInUse(2))
    ));
    assert!(changes_after(&store, before).is_empty());
    let unbound = store.delete_role(role.id, true, Utc::now()).unwrap();
    assert_eq!(unbound, bound);
    let mut expected: Vec<ChangeSubject> = bound.into_iter().map(ChangeSubject::App).collect();
    expected.push(ChangeSubject::Role(role.id));
    assert_eq!(changes_after(&store, before), expected);
    assert!(matches!(
        store.delete_role(role.id, true, Utc::now()),
        Err(StoreError::NotFound)
    ));
    // An unbound custom role goes without `force`.
    let spare = custom_role(&store, &e, "spare");
    assert_eq!(
        store.delete_role(spare.id, false, Utc::now()).unwrap(),
        Vec::<ClientId>::new()
    );
}

#[test]
fn the_last_super_admin_stays_and_other_admins_go() {
    let (_dir, store) = open();
    let root = admin(&store, "root", BuiltinRole::SuperAdmin);
    let helper = admin(&store, "helper", BuiltinRole::Admin);
    let before = store.latest_change().unwrap();
    assert!(matches!(
        store.delete_admin(root.id, Utc::now()),
        Err(StoreError::LastSuperAdmin)
    ));
    assert!(matches!(
        store.delete_admin(AdminId(root.id.0 + 1000), Utc::now()),
        Err(StoreError::NotFound)
    ));
    assert!(changes_after(&store, before).is_empty());
    store.delete_admin(helper.id, Utc::now()).unwrap();
    assert!(matches!(
        store.delete_admin(helper.id, Utc::now()),
        Err(StoreError::NotFound)
    ));
    let second = admin(&store, "second", BuiltinRole::SuperAdmin);
    store.delete_admin(root.id, Utc::now()).unwrap();
    assert!(matches!(
        store.delete_admin(second.id, Utc::now()),
        Err(StoreError::LastSuperAdmin)
    ));
    assert_eq!(super_admins(&store), 1);
}

#[test]
fn deleting_the_last_two_super_admins_at_once_leaves_one() {
    let (_dir, store) = open();
    let other = second_handle(&store);
    for round in 0..20 {
        let a = admin(&store, &format!("a{round}"), BuiltinRole::SuperAdmin);
        let b = admin(&store, &format!("b{round}"), BuiltinRole::SuperAdmin);
        let (s1, s2) = (Arc::clone(&store), Arc::clone(&other));
        let (ida, idb) = (a.id, b.id);
        let (ra, rb) = race(
            move || s1.delete_admin(ida, Utc::now()),
            move || s2.delete_admin(idb, Utc::now()),
        );
        let outcomes = [ra, rb];
        assert_eq!(
            outcomes.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {outcomes:?}"
        );
        assert!(
            outcomes
                .iter()
                .any(|r| matches!(r, Err(StoreError::LastSuperAdmin))),
            "round {round}: {outcomes:?}"
        );
        assert_eq!(super_admins(&store), 1, "round {round}");
        // Back to no Super Admin for the next round, behind the store's back (the store
        // rightly refuses to delete the last one).
        let survivor = if outcomes[0].is_ok() { b.id } else { a.id };
        assert_eq!(remove_admin_row(&store, survivor), 1);
    }
}

/// Removes an admin row behind the store's back, so a race can start again from zero
/// Super Admins (the store itself rightly refuses to delete the last one).
fn remove_admin_row(store: &DieselStore, id: AdminId) -> usize {
    use diesel::prelude::*;
    let mut conn = store.conn().unwrap();
    diesel::delete(super::schema::admin_users::table.find(id.0))
        .execute(&mut *conn)
        .unwrap()
}

#[test]
fn a_delete_racing_an_activation_never_deletes_an_active_app() {
    let (_dir, store) = open();
    let other = second_handle(&store);
    let e = env(&store, "prod");
    for round in 0..30 {
        let app = store
            .create_app(
                &new_app(&e, &format!("app {round}"), &format!("cid{round}")),
                Quota::default(),
                Utc::now(),
            )
            .unwrap();
        store
            .set_app_status(app.id, AppStatus::Inactive, Utc::now())
            .unwrap();
        let (s1, s2) = (Arc::clone(&store), Arc::clone(&other));
        let id = app.id;
        let (delete, activate) = race(
            move || s1.delete_app(id, Utc::now()),
            move || s2.set_app_status(id, AppStatus::Active, Utc::now()),
        );
        let state = store.app_state(&app.client_id).unwrap().expect("app");
        match (&delete, &activate) {
            (Ok(()), Err(StoreError::NotFound)) => {
                assert!(state.deleted, "round {round}");
                assert_eq!(state.status, AppStatus::Inactive, "round {round}");
                assert!(state.role_ids.is_empty());
                assert!(store.app_secrets(&state.client_id).unwrap().is_empty());
            }
            (Err(StoreError::AppIsActive), Ok(active)) => {
                assert_eq!(active.status, AppStatus::Active);
                assert!(!state.deleted, "round {round}");
                assert_eq!(state.status, AppStatus::Active, "round {round}");
                // Free its quota slot for the next rounds.
                store
                    .set_app_status(id, AppStatus::Inactive, Utc::now())
                    .unwrap();
                store.delete_app(id, Utc::now()).unwrap();
            }
            _ => panic!("round {round}: {delete:?} / {activate:?}"),
        }
    }
    // The quota counter moved exactly once per tombstone.
    let e_now = store.environment_by_slug(&e.slug).unwrap().expect("env");
    assert_eq!(e_now.client_app_count, 0);
}

#[test]
fn a_role_delete_racing_a_binding_never_drops_the_binding() {
    let (_dir, store) = open();
    let other = second_handle(&store);
    let e = env(&store, "prod");
    let app = store
        .create_app(&new_app(&e, "abc", "cid1"), Quota::default(), Utc::now())
        .unwrap();
    for round in 0..30 {
        let role = custom_role(&store, &e, &format!("role {round}"));
        let (s1, s2) = (Arc::clone(&store), Arc::clone(&other));
        let (app_id, role_id) = (app.id, role.id);
        let (delete, bind) = race(
            move || s1.delete_role(role_id, false, Utc::now()),
            move || s2.replace_app_roles(app_id, &[role_id], Utc::now()),
        );
        let state = store.app_state(&app.client_id).unwrap().expect("app");
        let role_now = store.roles_by_ids(&[role.id]).unwrap();
        match (&delete, &bind) {
            (Ok(unbound), Err(StoreError::UnknownRole(_))) => {
                assert!(unbound.is_empty());
                assert!(
                    role_now.is_empty() && state.role_ids.is_empty(),
                    "round {round}"
                );
            }
            (Err(StoreError::RoleInUse(1)), Ok(bound)) => {
                assert_eq!(bound.roles, vec![role.name.clone()], "round {round}");
                assert_eq!(state.role_ids, vec![role.id], "round {round}");
                assert_eq!(role_now.len(), 1);
            }
            _ => panic!("round {round}: {delete:?} / {bind:?}"),
        }
        // Unbind for the next round.
        store.replace_app_roles(app.id, &[], Utc::now()).unwrap();
    }
}

#[test]
fn dyn_store_reaches_every_aggregate_and_upcasts_to_live_source() {
    let (_dir, store) = open();
    let store: Arc<dyn Store> = store;
    let e = store
        .create_environment(
            &NewEnvironment {
                slug: EnvironmentSlug::parse("prod").unwrap(),
                name: EnvironmentName::parse("prod").unwrap(),
            },
            Utc::now(),
        )
        .unwrap();
    assert!(!store.any_admin().unwrap());
    let live: Arc<dyn LiveSource> = store;
    assert_eq!(
        live.environment_by_id(e.id).unwrap().map(|x| x.slug),
        Some(e.slug)
    );
}
