//! Admin users and their personal credentials, signing keys, and the change feed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyward_domain::{
    AdminId, AdminUser, BuiltinRole, Cursor, Page, PageLimit, SortOrder, Username,
};

use super::environments::paginate;
use super::models::{decode_subject, hex, AdminRow, SigningKeyRow};
use super::schema::{admin_users, changes, signing_keys};
use super::{
    from_db_time, keyset_page, lower, map_err, name_taken_or, record_change, to_db_time, Db,
    DieselStore,
};
use crate::{Change, ChangeSubject, NewAdmin, SigningKeyRecord, StoreError, StoreResult};

fn load_admin(conn: &mut Db, id: i64) -> StoreResult<AdminUser> {
    admin_users::table
        .find(id)
        .select(AdminRow::as_select())
        .first(conn)
        .map_err(map_err)?
        .into_domain()
}

impl DieselStore {
    pub(crate) fn create_admin_impl(
        &self,
        new: &NewAdmin,
        now: DateTime<Utc>,
    ) -> StoreResult<AdminUser> {
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

    pub(crate) fn admin_by_username_impl(
        &self,
        username: &Username,
    ) -> StoreResult<Option<AdminUser>> {
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

    pub(crate) fn admin_by_credential_impl(
        &self,
        digest: &[u8; 32],
    ) -> StoreResult<Option<AdminUser>> {
        self.read(|conn| {
            admin_users::table
                .filter(admin_users::credential_digest.eq(hex(digest)))
                .select(AdminRow::as_select())
                .first(conn)
                .optional()
        })?
        .map(AdminRow::into_domain)
        .transpose()
    }

    pub(crate) fn list_admins_impl(
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

    pub(crate) fn delete_admin_impl(&self, id: AdminId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            let role: String = admin_users::table
                .find(id.0)
                .select(admin_users::role)
                .first(conn)
                .map_err(map_err)?;
            if role == BuiltinRole::SuperAdmin.key() {
                // Counted inside the write transaction: two concurrent deletes of the
                // last two Super Admins cannot both pass.
                let super_admins: i64 = admin_users::table
                    .filter(admin_users::role.eq(BuiltinRole::SuperAdmin.key()))
                    .count()
                    .get_result(conn)
                    .map_err(map_err)?;
                if super_admins <= 1 {
                    return Err(StoreError::LastSuperAdmin);
                }
            }
            diesel::delete(admin_users::table.find(id.0))
                .execute(conn)
                .map_err(map_err)?;
            record_change(conn, &ChangeSubject::Admin(id), now)
        })
    }

    pub(crate) fn replace_admin_credential_impl(
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

    pub(crate) fn any_admin_impl(&self) -> StoreResult<bool> {
        self.read(|conn| {
            diesel::select(diesel::dsl::exists(
                admin_users::table.select(admin_users::id),
            ))
            .get_result(conn)
        })
    }

    pub(crate) fn signing_keys_impl(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows = self.read(|conn| {
            signing_keys::table
                .filter(signing_keys::retired_at.is_null())
                .order((signing_keys::created_at.asc(), signing_keys::id.asc()))
                .select(SigningKeyRow::as_select())
                .load(conn)
        })?;
        Ok(rows.into_iter().map(SigningKeyRecord::from).collect())
    }

    pub(crate) fn insert_signing_key_impl(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        self.write(|conn| {
            diesel::insert_into(signing_keys::table)
                .values((
                    signing_keys::kid.eq(&key.kid),
                    signing_keys::algorithm.eq(&key.algorithm),
                    signing_keys::public_jwk.eq(&key.public_jwk),
                    signing_keys::private_jwe.eq(&key.private_jwe),
                    signing_keys::created_at.eq(to_db_time(key.created_at)),
                ))
                .execute(conn)
                .map_err(map_err)?;
            record_change(conn, &ChangeSubject::SigningKeys, key.created_at)
        })
    }

    pub(crate) fn changes_since_impl(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        let rows: Vec<(i64, String, String, chrono::NaiveDateTime)> = self.read(|conn| {
            changes::table
                .filter(changes::seq.gt(after))
                .order(changes::seq.asc())
                .limit(limit)
                .select((
                    changes::seq,
                    changes::subject_kind,
                    changes::subject,
                    changes::at,
                ))
                .load(conn)
        })?;
        Ok(rows
            .into_iter()
            .map(|(seq, kind, subject, at)| Change {
                seq,
                subject: decode_subject(&kind, &subject),
                at: from_db_time(at),
            })
            .collect())
    }

    pub(crate) fn latest_change_impl(&self) -> StoreResult<i64> {
        self.read(|conn| {
            changes::table
                .select(diesel::dsl::max(changes::seq))
                .first::<Option<i64>>(conn)
        })
        .map(|m| m.unwrap_or(0))
    }

    pub(crate) fn prune_changes_impl(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        self.write(|conn| {
            // Keep the newest entry so the sequence never restarts below a reader's position.
            let newest: Option<i64> = changes::table
                .select(diesel::dsl::max(changes::seq))
                .first(conn)
                .map_err(map_err)?;
            diesel::delete(
                changes::table
                    .filter(changes::at.lt(to_db_time(before)))
                    .filter(changes::seq.lt(newest.unwrap_or(0))),
            )
            .execute(conn)
            .map_err(map_err)
        })
    }

    pub(crate) fn ping_impl(&self) -> StoreResult<()> {
        // `SELECT 1` would not touch the database file; reading a table does.
        self.read(|conn| {
            changes::table
                .select(changes::seq)
                .order(changes::seq.desc())
                .first::<i64>(conn)
                .optional()
        })
        .map(|_| ())
    }
}
