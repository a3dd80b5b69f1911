//! Roles: create, look up, list, replace permissions, delete (with `force` to unbind).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyward_domain::{
    ClientId, Cursor, EnvironmentId, Page, PageLimit, Permission, Role, RoleId, RoleName, SortOrder,
};

use super::feed::record_change;
use super::models::{encode_permissions, RoleRow};
use super::page::paginate;
use super::schema::{client_app_roles, client_apps, roles};
use super::{keyset_page, map_err, name_taken_or, to_db_time, Db, DieselStore};
use crate::{ChangeSubject, NewRole, RoleStore, StoreError, StoreResult};

fn load_role(conn: &mut Db, id: RoleId) -> StoreResult<Role> {
    roles::table
        .find(id.0)
        .select(RoleRow::as_select())
        .first(conn)
        .map_err(map_err)?
        .into_domain()
}

/// Claims role rows for this transaction with a no-op conditional `UPDATE`, and answers
/// how many of `ids` exist. Whoever binds a role claims it first, and so does
/// [`RoleStore::delete_role`]: a binding and a role delete cannot interleave, and each
/// sees what the other committed (see `delete_role`).
pub(super) fn claim_roles(conn: &mut Db, ids: &[i64]) -> StoreResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(roles::table.filter(roles::id.eq_any(ids)))
        .set(roles::permissions.eq(roles::permissions))
        .execute(conn)
        .map_err(map_err)
}

/// Roles by id, missing ones skipped ([`LiveSource::roles_by_ids`](crate::LiveSource)).
pub(super) fn roles_by_ids(conn: &mut Db, ids: &[RoleId]) -> StoreResult<Vec<Role>> {
    let ids: Vec<i64> = ids.iter().map(|r| r.0).collect();
    roles::table
        .filter(roles::id.eq_any(&ids))
        .select(RoleRow::as_select())
        .load(conn)
        .map_err(map_err)?
        .into_iter()
        .map(RoleRow::into_domain)
        .collect()
}

impl RoleStore for DieselStore {
    fn create_role(&self, new: &NewRole, now: DateTime<Utc>) -> StoreResult<Role> {
        self.write(|conn| {
            let id: i64 = diesel::insert_into(roles::table)
                .values((
                    roles::environment_id.eq(new.environment_id.0),
                    roles::name.eq(new.name.as_str()),
                    roles::builtin.eq(None::<String>),
                    roles::permissions.eq(encode_permissions(&new.permissions)),
                    roles::created_at.eq(to_db_time(now)),
                ))
                .returning(roles::id)
                .get_result(conn)
                .map_err(name_taken_or)?;
            record_change(conn, &ChangeSubject::Role(RoleId(id)), now)?;
            load_role(conn, RoleId(id))
        })
    }

    fn role_by_name(&self, env: EnvironmentId, name: &str) -> StoreResult<Option<Role>> {
        self.read(|conn| {
            roles::table
                .filter(roles::environment_id.eq(env.0))
                .filter(roles::name.eq(name))
                .select(RoleRow::as_select())
                .first(conn)
                .optional()
        })?
        .map(RoleRow::into_domain)
        .transpose()
    }

    fn roles_by_names(&self, env: EnvironmentId, names: &[RoleName]) -> StoreResult<Vec<Role>> {
        let wanted: Vec<&str> = names.iter().map(RoleName::as_str).collect();
        let rows = self.read(|conn| {
            roles::table
                .filter(roles::environment_id.eq(env.0))
                .filter(roles::name.eq_any(&wanted))
                .select(RoleRow::as_select())
                .load(conn)
        })?;
        let found: Vec<Role> = rows
            .into_iter()
            .map(RoleRow::into_domain)
            .collect::<StoreResult<_>>()?;
        for name in names {
            if !found.iter().any(|r| r.name == *name) {
                return Err(StoreError::UnknownRole(name.as_str().to_owned()));
            }
        }
        Ok(found)
    }

    fn list_roles(
        &self,
        env: EnvironmentId,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<Role>> {
        use roles::dsl as r;
        let rows = self.read(|conn| {
            let q = r::roles
                .filter(r::environment_id.eq(env.0))
                .select(RoleRow::as_select())
                .into_boxed();
            keyset_page!(q, r::created_at, r::id, order, limit, cursor).load(conn)
        })?;
        paginate(rows, limit, |r| (r.created_at, r.id), RoleRow::into_domain)
    }

    fn replace_role_permissions(
        &self,
        id: RoleId,
        permissions: &[Permission],
        now: DateTime<Utc>,
    ) -> StoreResult<Role> {
        self.write(|conn| {
            let n = diesel::update(roles::table.find(id.0).filter(roles::builtin.is_null()))
                .set(roles::permissions.eq(encode_permissions(permissions)))
                .execute(conn)
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            record_change(conn, &ChangeSubject::Role(id), now)?;
            load_role(conn, id)
        })
    }

    /// "Not while bound, unless forced" as a claim and conditional writes.
    ///
    /// 1. Claim the role row (`UPDATE … WHERE id = ? AND builtin IS NULL`; no row:
    ///    `NotFound`). Binding a role claims it first (`claim_roles`, called by the app
    ///    writes), so from here on no binding of this role can be added until this
    ///    transaction ends, and every binding added before has committed (PostgreSQL at
    ///    READ COMMITTED: the claim waited for it, and the next statement's snapshot
    ///    sees it; SQLite: one writer).
    /// 2. Without `force`: `DELETE FROM roles WHERE id = ? AND NOT EXISTS (binding)`; no
    ///    row deleted: `RoleInUse` with the number of bindings.
    /// 3. With `force`: `DELETE FROM client_app_roles WHERE role_id = ? RETURNING
    ///    app_id` — the apps reported are exactly the bindings this statement removed —
    ///    then the role.
    fn delete_role(
        &self,
        id: RoleId,
        force: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ClientId>> {
        self.write(|conn| {
            let claimed = diesel::update(roles::table.find(id.0).filter(roles::builtin.is_null()))
                .set(roles::permissions.eq(roles::permissions))
                .execute(conn)
                .map_err(map_err)?;
            if claimed == 0 {
                return Err(StoreError::NotFound);
            }
            let bindings = client_app_roles::table.filter(client_app_roles::role_id.eq(id.0));
            if !force {
                let deleted = diesel::delete(
                    roles::table
                        .find(id.0)
                        .filter(diesel::dsl::not(diesel::dsl::exists(bindings))),
                )
                .execute(conn)
                .map_err(map_err)?;
                if deleted == 0 {
                    let bound: i64 = bindings.count().get_result(conn).map_err(map_err)?;
                    return Err(StoreError::RoleInUse(
                        usize::try_from(bound).unwrap_or(usize::MAX),
                    ));
                }
                record_change(conn, &ChangeSubject::Role(id), now)?;
                return Ok(Vec::new());
            }
            let app_ids: Vec<i64> = diesel::delete(bindings)
                .returning(client_app_roles::app_id)
                .get_results(conn)
                .map_err(map_err)?;
            let deleted = diesel::delete(roles::table.find(id.0))
                .execute(conn)
                .map_err(map_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            let client_ids: Vec<String> = client_apps::table
                .filter(client_apps::id.eq_any(&app_ids))
                .order(client_apps::id.asc())
                .select(client_apps::client_id)
                .load(conn)
                .map_err(map_err)?;
            let mut unbound = Vec::with_capacity(client_ids.len());
            for client_id in client_ids {
                let client_id = ClientId::parse(&client_id)
                    .map_err(|e| StoreError::Corrupt(format!("client id: {e}")))?;
                record_change(conn, &ChangeSubject::App(client_id.clone()), now)?;
                unbound.push(client_id);
            }
            record_change(conn, &ChangeSubject::Role(id), now)?;
            Ok(unbound)
        })
    }
}
