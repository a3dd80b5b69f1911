//! Console sessions and the password login behind them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use keyward_domain::{AdminId, AppStatus, Username};

use super::models::hex;
use super::schema::{admin_users, console_sessions};
use super::{from_db_time, map_err, to_db_time, DieselStore};
use crate::{LoginRecord, SessionRecord, SessionStore, StoreError, StoreResult};

fn username(text: &str) -> StoreResult<Username> {
    Username::parse(text).map_err(|e| StoreError::Corrupt(format!("username: {e}")))
}

impl SessionStore for DieselStore {
    fn login_record(&self, name: &Username) -> StoreResult<Option<LoginRecord>> {
        let row: Option<(i64, String, Option<String>, String, bool)> = self.read(|conn| {
            admin_users::table
                .filter(super::lower(admin_users::username).eq(name.as_str().to_lowercase()))
                .select((
                    admin_users::id,
                    admin_users::username,
                    admin_users::password_hash,
                    admin_users::status,
                    admin_users::password_must_change,
                ))
                .first(conn)
                .optional()
        })?;
        row.map(|(id, name, password_hash, status, must_change)| {
            Ok(LoginRecord {
                id: AdminId(id),
                username: username(&name)?,
                password_hash,
                status: AppStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("user status `{status}`")))?,
                password_must_change: must_change,
            })
        })
        .transpose()
    }

    fn set_password(
        &self,
        user: AdminId,
        password_hash: &str,
        must_change: bool,
        _now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(|conn| {
            let n = diesel::update(admin_users::table.find(user.0))
                .set((
                    admin_users::password_hash.eq(Some(password_hash)),
                    admin_users::password_must_change.eq(must_change),
                ))
                .execute(conn)
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }

    fn create_session(
        &self,
        user: AdminId,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(|conn| {
            diesel::insert_into(console_sessions::table)
                .values((
                    console_sessions::digest.eq(hex(digest)),
                    console_sessions::user_id.eq(user.0),
                    console_sessions::created_at.eq(to_db_time(now)),
                    console_sessions::last_seen_at.eq(to_db_time(now)),
                ))
                .execute(conn)
                .map_err(map_err)?;
            Ok(())
        })
    }

    fn session(&self, digest: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        type Row = (
            i64,
            String,
            bool,
            chrono::NaiveDateTime,
            chrono::NaiveDateTime,
        );
        let row: Option<Row> = self.read(|conn| {
            console_sessions::table
                .inner_join(admin_users::table)
                .filter(console_sessions::digest.eq(hex(digest)))
                .select((
                    admin_users::id,
                    admin_users::username,
                    admin_users::password_must_change,
                    console_sessions::created_at,
                    console_sessions::last_seen_at,
                ))
                .first(conn)
                .optional()
        })?;
        row.map(|(id, name, must_change, created, seen)| {
            Ok(SessionRecord {
                user_id: AdminId(id),
                username: username(&name)?,
                password_must_change: must_change,
                created_at: from_db_time(created),
                last_seen_at: from_db_time(seen),
            })
        })
        .transpose()
    }

    fn touch_session(&self, digest: &[u8; 32], now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            diesel::update(
                console_sessions::table.filter(console_sessions::digest.eq(hex(digest))),
            )
            .set(console_sessions::last_seen_at.eq(to_db_time(now)))
            .execute(conn)
            .map_err(map_err)?;
            Ok(())
        })
    }

    fn delete_session(&self, digest: &[u8; 32]) -> StoreResult<()> {
        self.write(|conn| {
            diesel::delete(
                console_sessions::table.filter(console_sessions::digest.eq(hex(digest))),
            )
            .execute(conn)
            .map_err(map_err)?;
            Ok(())
        })
    }

    fn delete_other_sessions(&self, user: AdminId, keep: Option<&[u8; 32]>) -> StoreResult<()> {
        self.write(|conn| {
            let mine = console_sessions::table.filter(console_sessions::user_id.eq(user.0));
            match keep {
                Some(keep) => diesel::delete(mine.filter(console_sessions::digest.ne(hex(keep))))
                    .execute(conn),
                None => diesel::delete(mine).execute(conn),
            }
            .map_err(map_err)?;
            Ok(())
        })
    }

    fn delete_idle_sessions(&self, idle_before: DateTime<Utc>) -> StoreResult<usize> {
        self.write(|conn| {
            diesel::delete(
                console_sessions::table
                    .filter(console_sessions::last_seen_at.lt(to_db_time(idle_before))),
            )
            .execute(conn)
            .map_err(map_err)
        })
    }
}
