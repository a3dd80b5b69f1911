//! Roles: create, look up, list, replace permissions, delete (with `force` to unbind).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyward_domain::{
    ClientId, Cursor, EnvironmentId, Page, PageLimit, Permission, Role, RoleId, RoleName, SortOrder,
};

use super::environments::paginate;
use super::models::{encode_permissions, RoleRow};
use super::schema::{client_app_roles, client_apps, roles};
use super::{keyset_page, map_err, name_taken_or, record_change, to_db_time, Db, DieselStore};
use crate::{ChangeSubject, NewRole, StoreError, StoreResult};

fn load_role(conn: &mut Db, id: RoleId) -> StoreResult<Role> {
    roles::table
        .find(id.0)
        .select(RoleRow::as_select())
        .first(conn)
        .map_err(map_err)?
        .into_domain()
}

impl DieselStore {
    pub(crate) fn create_role_impl(&self, new: &NewRole, now: DateTime<Utc>) -> StoreResult<Role> {
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

    pub(crate) fn role_by_name_impl(
        &self,
        env: EnvironmentId,
        name: &str,
    ) -> StoreResult<Option<Role>> {
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

    pub(crate) fn roles_by_names_impl(
        &self,
        env: EnvironmentId,
        names: &[RoleName],
    ) -> StoreResult<Vec<Role>> {
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

    pub(crate) fn roles_by_ids_impl(&self, ids: &[RoleId]) -> StoreResult<Vec<Role>> {
        let ids: Vec<i64> = ids.iter().map(|r| r.0).collect();
        self.read(|conn| {
            roles::table
                .filter(roles::id.eq_any(&ids))
                .select(RoleRow::as_select())
                .load(conn)
        })?
        .into_iter()
        .map(RoleRow::into_domain)
        .collect()
    }

    pub(crate) fn list_roles_impl(
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

    pub(crate) fn replace_role_permissions_impl(
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

    pub(crate) fn delete_role_impl(
        &self,
        id: RoleId,
        force: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ClientId>> {
        self.write(|conn| {
            let bound: Vec<String> = client_app_roles::table
                .inner_join(client_apps::table)
                .filter(client_app_roles::role_id.eq(id.0))
                .select(client_apps::client_id)
                .load(conn)
                .map_err(map_err)?;
            if !bound.is_empty() && !force {
                return Err(StoreError::RoleInUse(bound.len()));
            }
            diesel::delete(client_app_roles::table.filter(client_app_roles::role_id.eq(id.0)))
                .execute(conn)
                .map_err(map_err)?;
            let n = diesel::delete(roles::table.find(id.0).filter(roles::builtin.is_null()))
                .execute(conn)
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            let mut unbound = Vec::with_capacity(bound.len());
            for client_id in bound {
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
