//! Store tests of users and federation (on SQLite, or PostgreSQL with
//! `KEYWARD_TEST_POSTGRES_URL`): no concurrent writes leave no active Super Admin,
//! environment roles, and unique external client IDs.

use std::sync::{Arc, Barrier};

use chrono::Utc;
use keyward_domain::*;

use super::tests::{env, new_app, open};
use crate::*;

fn user(
    store: &super::DieselStore,
    name: &str,
    role: Option<AdminRole>,
    role_ids: Vec<RoleId>,
) -> AdminUser {
    store
        .create_admin(
            &NewAdmin {
                username: Username::parse(name).unwrap(),
                password_hash: None,
                role,
                role_ids,
                credential_digest: None,
            },
            Utc::now(),
        )
        .unwrap()
}

#[test]
fn concurrent_deactivations_of_the_last_two_super_admins_leave_one_active() {
    for round in 0..5 {
        let (_db, store) = open();
        let a = user(&store, "a", Some(BuiltinRole::SuperAdmin), vec![]);
        let b = user(&store, "b", Some(BuiltinRole::SuperAdmin), vec![]);
        let start = Arc::new(Barrier::new(2));
        let threads: Vec<_> = [a.id, b.id]
            .into_iter()
            .map(|id| {
                let (store, start) = (Arc::clone(&store), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    store.set_user_status(id, AppStatus::Inactive, Utc::now())
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(
            r,
            Err(StoreError::LastSuperAdmin | StoreError::Unavailable(_))
        )));
        let active = [a.id, b.id]
            .iter()
            .filter(|id| {
                store
                    .list_admins(SortOrder::Asc, PageLimit::largest(), None)
                    .unwrap()
                    .items
                    .iter()
                    .any(|u| u.id == **id && u.status == AppStatus::Active)
            })
            .count();
        assert_eq!(active, 1, "round {round}");
    }
}

#[test]
fn environment_roles_are_stored_per_environment_and_external_client_ids_are_unique() {
    let (_db, store) = open();
    let prod = env(&store, "prod");
    let reader = store
        .create_role(
            &NewRole {
                environment_id: prod.id,
                name: RoleName::parse("reader").unwrap(),
                permissions: vec![Permission::parse("orders:read").unwrap()],
            },
            Utc::now(),
        )
        .unwrap();
    let dana = user(&store, "dana", None, vec![reader.id]);
    assert_eq!(dana.role, None);
    assert_eq!(dana.environment_roles.len(), 1);
    assert_eq!(dana.environment_roles[0].environment.as_str(), "prod");
    let state = store
        .user_by_username(&Username::parse("DANA").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(state.role_ids, vec![reader.id]);
    // A role deleted takes its user bindings with it.
    store.delete_role(reader.id, false, Utc::now()).unwrap();
    let state = store
        .user_by_username(&Username::parse("dana").unwrap())
        .unwrap()
        .unwrap();
    assert!(state.role_ids.is_empty());

    let a = store
        .create_app(
            &new_app(&prod, "bot a", "cida"),
            Quota::default(),
            Utc::now(),
        )
        .unwrap();
    let b = store
        .create_app(
            &new_app(&prod, "bot b", "cidb"),
            Quota::default(),
            Utc::now(),
        )
        .unwrap();
    store
        .bind_external(a.id, Some("ext-1"), Some(&dana.username), Utc::now())
        .unwrap();
    assert!(matches!(
        store.bind_external(b.id, Some("ext-1"), None, Utc::now()),
        Err(StoreError::NameTaken)
    ));
    let binding = store.external_binding("ext-1").unwrap().unwrap();
    assert_eq!(binding.client_id, a.client_id);
    assert_eq!(binding.impersonate, Some(dana.username.clone()));
    store.bind_external(a.id, None, None, Utc::now()).unwrap();
    assert!(store.external_binding("ext-1").unwrap().is_none());
    store
        .bind_external(b.id, Some("ext-1"), None, Utc::now())
        .unwrap();
}
