//! Admin users and their personal credentials.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyward_domain::{
    AdminId, AdminUser, BuiltinRole, Cursor, Page, PageLimit, SortOrder, Username,
};

use super::feed::record_change;
use super::models::{hex, AdminRow};
use super::page::paginate;
use super::schema::admin_users;
use super::{keyset_page, lower, map_err, name_taken_or, to_db_time, Db, DieselStore};
use crate::{AdminStore, ChangeSubject, NewAdmin, StoreError, StoreResult};

fn load_admin(conn: &mut Db, id: i64) -> StoreResult<AdminUser> {
    admin_users::table
        .find(id)
        .select(AdminRow::as_select())
        .first(conn)
        .map_err(map_err)?
        .into_domain()
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
        .map(AdminRow::into_domain)
        .transpose()
}

impl AdminStore for DieselStore {
    fn create_admin(&self, new: &NewAdmin, now: DateTime<Utc>) -> StoreResult<AdminUser> {
        self.write(|conn| {
            let id: i64 = diesel::insert_into(admin_users::table)
                .values((
                    admin_users::username.eq(new.username.as_str()),
                    admin_users::password_hash.eq(new.password_hash.as_deref()),
                    admin_users::role.eq(new.role.key()),
                    admin_users::credential_digest.eq(new.credential_digest.as_ref().map(hex)),
                    admin_users::credential_created_at
                        .eq(new.credential_digest.map(|_| to_db_time(now))),
                    admin_users::created_at.eq(to_db_time(now)),
                ))
                .returning(admin_users::id)
                .get_result(conn)
                .map_err(name_taken_or)?;
            record_change(conn, &ChangeSubject::Admin(AdminId(id)), now)?;
            load_admin(conn, id)
        })
    }

    fn admin_by_username(&self, username: &Username) -> StoreResult<Option<AdminUser>> {
        self.read(|conn| {
            admin_users::table
                .filter(lower(admin_users::username).eq(username.as_str().to_lowercase()))
                .select(AdminRow::as_select())
                .first(conn)
                .optional()
        })?
        .map(AdminRow::into_domain)
        .transpose()
    }

    fn list_admins(
        &self,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<AdminUser>> {
        use admin_users::dsl as a;
        let rows = self.read(|conn| {
            let q = a::admin_users.select(AdminRow::as_select()).into_boxed();
            keyset_page!(q, a::created_at, a::id, order, limit, cursor).load(conn)
        })?;
        paginate(rows, limit, |r| (r.created_at, r.id), AdminRow::into_domain)
    }

    /// The "last Super Admin" rule as a claim and a conditional delete.
    ///
    /// 1. Claim every Super Admin row with a no-op `UPDATE … SET role = role WHERE role =
    ///    'super_admin'`. Its row count is the number of Super Admins, and the rows stay
    ///    claimed until this transaction ends: any other transaction deleting an admin
    ///    makes the same claim first, so it waits for this one and then counts what this
    ///    one left (PostgreSQL at READ COMMITTED re-reads a row it waited for and skips
    ///    it if deleted; SQLite has one writer at a time).
    /// 2. Delete: with more than one Super Admin, `WHERE id = ?`; otherwise `WHERE id = ?
    ///    AND role <> 'super_admin'`. No row deleted: `LastSuperAdmin` if the admin
    ///    exists, `NotFound` if not.
    ///
    /// Why not a conditional delete alone (`… AND (SELECT count(*) …) > 1`)? At READ
    /// COMMITTED two deletes of the last two Super Admins touch different rows, each
    /// subquery still counts the other, and both commit: none is left. A counter row
    /// (as for the app quota) would also hold, but needs a schema change; the claim
    /// needs none, and an admin created meanwhile only makes the count low (a refusal,
    /// never a wrong delete).
    fn delete_admin(&self, id: AdminId, now: DateTime<Utc>) -> StoreResult<()> {
        let super_admin = BuiltinRole::SuperAdmin.key();
        self.write(|conn| {
            let super_admins =
                diesel::update(admin_users::table.filter(admin_users::role.eq(super_admin)))
                    .set(admin_users::role.eq(admin_users::role))
                    .execute(conn)
                    .map_err(map_err)?;
            let target = admin_users::table.find(id.0);
            let deleted = if super_admins > 1 {
                diesel::delete(target).execute(conn)
            } else {
                diesel::delete(target.filter(admin_users::role.ne(super_admin))).execute(conn)
            }
            .map_err(map_err)?;
            if deleted == 0 {
                let exists: bool = diesel::select(diesel::dsl::exists(target))
                    .get_result(conn)
                    .map_err(map_err)?;
                return Err(if exists {
                    StoreError::LastSuperAdmin
                } else {
                    StoreError::NotFound
                });
            }
            record_change(conn, &ChangeSubject::Admin(id), now)
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
