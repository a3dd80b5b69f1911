//! Admin users and their personal credentials.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use std::collections::HashMap;

use keyward_domain::{
    AdminId, AdminRole, AdminUser, AppStatus, BuiltinRole, Cursor, EnvironmentRoles,
    EnvironmentSlug, Page, PageLimit, RoleId, RoleName, SortOrder, Username,
};

use super::feed::record_change;
use super::models::{hex, AdminRow};
use super::page::paginate;
use super::schema::{admin_users, environments, roles, user_environment_roles};
use super::{keyset_page, lower, map_err, name_taken_or, to_db_time, Db, DieselStore};
use crate::{AdminStore, ChangeSubject, NewAdmin, StoreError, StoreResult, UserState};

/// The environment roles of a set of users, by user id.
fn environment_roles(
    conn: &mut Db,
    user_ids: &[i64],
) -> StoreResult<HashMap<i64, Vec<EnvironmentRoles>>> {
    let rows: Vec<(i64, String, String)> = user_environment_roles::table
        .inner_join(roles::table.inner_join(environments::table))
        .filter(user_environment_roles::user_id.eq_any(user_ids))
        .order((environments::slug.asc(), roles::name.asc()))
        .select((
            user_environment_roles::user_id,
            environments::slug,
            roles::name,
        ))
        .load(conn)
        .map_err(map_err)?;
    let mut map: HashMap<i64, Vec<EnvironmentRoles>> = HashMap::new();
    for (user, slug, role) in rows {
        let slug = EnvironmentSlug::parse(&slug)
            .map_err(|e| StoreError::Corrupt(format!("environment slug: {e}")))?;
        let role =
            RoleName::parse(&role).map_err(|e| StoreError::Corrupt(format!("role name: {e}")))?;
        let list = map.entry(user).or_default();
        match list.last_mut() {
            Some(last) if last.environment == slug => last.roles.push(role),
            _ => list.push(EnvironmentRoles {
                environment: slug,
                roles: vec![role],
            }),
        }
    }
    Ok(map)
}

fn into_users(conn: &mut Db, rows: Vec<AdminRow>) -> StoreResult<Vec<AdminUser>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut roles = environment_roles(conn, &ids)?;
    rows.into_iter()
        .map(|r| {
            let id = r.id;
            r.into_domain(roles.remove(&id).unwrap_or_default())
        })
        .collect()
}

fn into_user(conn: &mut Db, row: AdminRow) -> StoreResult<AdminUser> {
    let mut roles = environment_roles(conn, &[row.id])?;
    let id = row.id;
    row.into_domain(roles.remove(&id).unwrap_or_default())
}

fn load_admin(conn: &mut Db, id: i64) -> StoreResult<AdminUser> {
    let row = admin_users::table
        .find(id)
        .select(AdminRow::as_select())
        .first(conn)
        .map_err(map_err)?;
    into_user(conn, row)
}

/// The user with this username ([`LiveSource::user_by_username`](crate::LiveSource::user_by_username)).
pub(super) fn user_by_username(
    conn: &mut Db,
    username: &Username,
) -> StoreResult<Option<UserState>> {
    let row = admin_users::table
        .filter(lower(admin_users::username).eq(username.as_str().to_lowercase()))
        .select(AdminRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    let role_ids: Vec<i64> = user_environment_roles::table
        .filter(user_environment_roles::user_id.eq(row.id))
        .select(user_environment_roles::role_id)
        .load(conn)
        .map_err(map_err)?;
    Ok(Some(UserState {
        id: AdminId(row.id),
        username: Username::parse(&row.username)
            .map_err(|e| StoreError::Corrupt(format!("username: {e}")))?,
        role: row.role()?,
        status: row.status()?,
        role_ids: role_ids.into_iter().map(RoleId).collect(),
    }))
}

/// Claims every Super Admin row (a no-op `UPDATE`): a transaction that may leave no
/// active Super Admin makes this claim first, so such transactions are decided one
/// after the other, each counting what the previous one left.
fn claim_super_admins(conn: &mut Db) -> StoreResult<()> {
    let super_admin = BuiltinRole::SuperAdmin.key();
    diesel::update(admin_users::table.filter(admin_users::role.eq(super_admin)))
        .set(admin_users::role.eq(admin_users::role))
        .execute(conn)
        .map_err(map_err)?;
    Ok(())
}

/// After a write that may have removed the last active Super Admin (inside the same
/// transaction, after [`claim_super_admins`]): `LastSuperAdmin` rolls it back.
fn ensure_an_active_super_admin(conn: &mut Db) -> StoreResult<()> {
    let left: i64 = admin_users::table
        .filter(admin_users::role.eq(BuiltinRole::SuperAdmin.key()))
        .filter(admin_users::status.eq(AppStatus::Active.as_str()))
        .count()
        .get_result(conn)
        .map_err(map_err)?;
    if left == 0 {
        return Err(StoreError::LastSuperAdmin);
    }
    Ok(())
}

/// Binds environment roles to a user, claiming them first (a role deleted meanwhile
/// answers `UnknownRole`).
fn bind_user_roles(conn: &mut Db, user: i64, role_ids: &[RoleId]) -> StoreResult<()> {
    let mut ids: Vec<i64> = role_ids.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    if super::roles::claim_roles(conn, &ids)? < ids.len() {
        return Err(StoreError::UnknownRole("(deleted meanwhile)".into()));
    }
    for role in ids {
        diesel::insert_into(user_environment_roles::table)
            .values((
                user_environment_roles::user_id.eq(user),
                user_environment_roles::role_id.eq(role),
            ))
            .execute(conn)
            .map_err(map_err)?;
    }
    Ok(())
}

/// The admin holding the personal credential with this digest
/// ([`LiveSource::admin_by_credential`](crate::LiveSource::admin_by_credential)).
pub(super) fn admin_by_credential(
    conn: &mut Db,
    digest: &[u8; 32],
) -> StoreResult<Option<AdminUser>> {
    admin_users::table
        .filter(admin_users::credential_digest.eq(hex(digest)))
        .select(AdminRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_err)?
        .map(|row| into_user(conn, row))
        .transpose()
}

impl AdminStore for DieselStore {
    fn create_admin(&self, new: &NewAdmin, now: DateTime<Utc>) -> StoreResult<AdminUser> {
        self.write(|conn| {
            let id: i64 = diesel::insert_into(admin_users::table)
                .values((
                    admin_users::username.eq(new.username.as_str()),
                    admin_users::password_hash.eq(new.password_hash.as_deref()),
                    admin_users::role.eq(new.role.map(BuiltinRole::key)),
                    admin_users::credential_digest.eq(new.credential_digest.as_ref().map(hex)),
                    admin_users::credential_created_at
                        .eq(new.credential_digest.map(|_| to_db_time(now))),
                    admin_users::created_at.eq(to_db_time(now)),
                ))
                .returning(admin_users::id)
                .get_result(conn)
                .map_err(name_taken_or)?;
            bind_user_roles(conn, id, &new.role_ids)?;
            record_change(conn, &ChangeSubject::Admin(AdminId(id)), now)?;
            load_admin(conn, id)
        })
    }

    fn admin_by_username(&self, username: &Username) -> StoreResult<Option<AdminUser>> {
        let mut conn = self.conn()?;
        let row = admin_users::table
            .filter(lower(admin_users::username).eq(username.as_str().to_lowercase()))
            .select(AdminRow::as_select())
            .first(&mut conn)
            .optional()
            .map_err(map_err)?;
        row.map(|r| into_user(&mut conn, r)).transpose()
    }

    fn list_admins(
        &self,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<AdminUser>> {
        use admin_users::dsl as a;
        let mut conn = self.conn()?;
        let q = a::admin_users.select(AdminRow::as_select()).into_boxed();
        let rows: Vec<AdminRow> = keyset_page!(q, a::created_at, a::id, order, limit, cursor)
            .load(&mut conn)
            .map_err(map_err)?;
        let page = paginate(rows, limit, |r| (r.created_at, r.id), Ok)?;
        Ok(Page {
            items: into_users(&mut conn, page.items)?,
            next_cursor: page.next_cursor,
        })
    }

    /// The "last Super Admin" rule as a claim and a check: claim every Super Admin row
    /// with a no-op `UPDATE … SET role = role WHERE role = 'super_admin'` (any other
    /// transaction that could remove a Super Admin makes the same claim first, so it
    /// waits for this one and then counts what this one left; PostgreSQL at READ
    /// COMMITTED re-reads a row it waited for), delete, then count the *active* Super
    /// Admins left: none rolls the delete back with `LastSuperAdmin`.
    ///
    /// Why not a conditional delete alone (`… AND (SELECT count(*) …) > 1`)? At READ
    /// COMMITTED two deletes of the last two Super Admins touch different rows, each
    /// subquery still counts the other, and both commit: none is left. A user created
    /// meanwhile only makes the count low (a refusal, never a wrong delete).
    fn delete_admin(&self, id: AdminId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            claim_super_admins(conn)?;
            let deleted = diesel::delete(admin_users::table.find(id.0))
                .execute(conn)
                .map_err(map_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            ensure_an_active_super_admin(conn)?;
            record_change(conn, &ChangeSubject::Admin(id), now)
        })
    }

    /// Claims the Super Admins, rewrites the role and bindings, then checks an active
    /// Super Admin is left (see [`AdminStore::delete_admin`]).
    fn replace_user_roles(
        &self,
        id: AdminId,
        role: Option<AdminRole>,
        role_ids: &[RoleId],
        now: DateTime<Utc>,
    ) -> StoreResult<AdminUser> {
        self.write(|conn| {
            claim_super_admins(conn)?;
            let n = diesel::update(admin_users::table.find(id.0))
                .set(admin_users::role.eq(role.map(BuiltinRole::key)))
                .execute(conn)
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            diesel::delete(
                user_environment_roles::table.filter(user_environment_roles::user_id.eq(id.0)),
            )
            .execute(conn)
            .map_err(map_err)?;
            bind_user_roles(conn, id.0, role_ids)?;
            ensure_an_active_super_admin(conn)?;
            record_change(conn, &ChangeSubject::Admin(id), now)?;
            load_admin(conn, id.0)
        })
    }

    /// Claims the Super Admins, sets the status, then checks an active Super Admin is
    /// left. Setting the status the user has appends no change.
    fn set_user_status(
        &self,
        id: AdminId,
        status: AppStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<AdminUser> {
        self.write(|conn| {
            claim_super_admins(conn)?;
            let changed = diesel::update(
                admin_users::table
                    .find(id.0)
                    .filter(admin_users::status.ne(status.as_str())),
            )
            .set(admin_users::status.eq(status.as_str()))
            .execute(conn)
            .map_err(map_err)?;
            let user = load_admin(conn, id.0)?;
            if changed > 0 {
                ensure_an_active_super_admin(conn)?;
                record_change(conn, &ChangeSubject::Admin(id), now)?;
            }
            Ok(user)
        })
    }

    fn replace_admin_credential(
        &self,
        id: AdminId,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<AdminUser> {
        self.write(|conn| {
            let n = diesel::update(admin_users::table.find(id.0))
                .set((
                    admin_users::credential_digest.eq(Some(hex(digest))),
                    admin_users::credential_created_at.eq(Some(to_db_time(now))),
                ))
                .execute(conn)
                .map_err(name_taken_or)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            record_change(conn, &ChangeSubject::Admin(id), now)?;
            load_admin(conn, id.0)
        })
    }

    fn any_admin(&self) -> StoreResult<bool> {
        self.read(|conn| {
            diesel::select(diesel::dsl::exists(
                admin_users::table.select(admin_users::id),
            ))
            .get_result(conn)
        })
    }
}
