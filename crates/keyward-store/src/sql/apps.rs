//! Client apps: create inside the quota, look up, list with search, roles, status,
//! delete (tombstone), usage batches; secrets through `sql/credentials.rs`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use keyward_domain::{
    AppId, AppSecret, AppStatus, ClientApp, ClientId, CredentialId, EnvironmentId, Page, Quota,
    RoleId, SortOrder,
};

use super::credentials;
use super::feed::record_change;
use super::models::AppRow;
use super::page::paginate;
use super::roles::claim_roles;
use super::schema::{client_app_roles, client_apps, environments, roles};
use super::{
    contains_pattern, keyset_page, lower, map_err, name_taken_or, to_db_time, Db, DieselStore,
};
use crate::{
    AppQuery, AppState, AppStore, ChangeSubject, NewApp, NewSecret, StoreError, StoreResult,
    StoredSecret, Usage,
};

/// Role names per app id, for a set of apps.
fn role_names(conn: &mut Db, app_ids: &[i64]) -> StoreResult<HashMap<i64, Vec<String>>> {
    let pairs: Vec<(i64, String)> = client_app_roles::table
        .inner_join(roles::table)
        .filter(client_app_roles::app_id.eq_any(app_ids))
        .select((client_app_roles::app_id, roles::name))
        .load(conn)
        .map_err(map_err)?;
    let mut map: HashMap<i64, Vec<String>> = HashMap::new();
    for (app, name) in pairs {
        map.entry(app).or_default().push(name);
    }
    Ok(map)
}

fn load_app(conn: &mut Db, id: i64) -> StoreResult<ClientApp> {
    let row = client_apps::table
        .find(id)
        .filter(client_apps::deleted_at.is_null())
        .select(AppRow::as_select())
        .first(conn)
        .map_err(map_err)?;
    let mut names = role_names(conn, &[id])?;
    row.into_domain(names.remove(&id).unwrap_or_default())
}

/// Claims every role about to be bound ([`claim_roles`]): a role deleted meanwhile
/// answers `UnknownRole` here, and a role delete that comes later sees the bindings this
/// transaction adds. Claimed before any binding is removed or added, so a transaction
/// never holds a binding row while waiting for a role (no lock cycle with `delete_role`).
fn claim_bound_roles(conn: &mut Db, roles: &[RoleId]) -> StoreResult<()> {
    let mut ids: Vec<i64> = roles.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    if claim_roles(conn, &ids)? < ids.len() {
        return Err(StoreError::UnknownRole("(deleted meanwhile)".into()));
    }
    Ok(())
}

/// Binds `roles` to `app`; the caller has claimed them with [`claim_bound_roles`].
fn bind_roles(conn: &mut Db, app: i64, roles: &[RoleId]) -> StoreResult<()> {
    for role in roles {
        diesel::insert_into(client_app_roles::table)
            .values((
                client_app_roles::app_id.eq(app),
                client_app_roles::role_id.eq(role.0),
            ))
            .execute(conn)
            .map_err(|e| match e {
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    StoreError::Corrupt("duplicate role binding".into())
                }
                // Backstop: the claim above already answered for a deleted role.
                DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                    StoreError::UnknownRole("(deleted meanwhile)".into())
                }
                other => map_err(other),
            })?;
    }
    Ok(())
}

fn parse_client_id(text: &str) -> StoreResult<ClientId> {
    ClientId::parse(text).map_err(|e| StoreError::Corrupt(format!("client id: {e}")))
}

/// The app with this client ID, tombstones included
/// ([`LiveSource::app_state`](crate::LiveSource::app_state)).
pub(super) fn app_state(conn: &mut Db, client_id: &ClientId) -> StoreResult<Option<AppState>> {
    let row = client_apps::table
        .filter(client_apps::client_id.eq(client_id.as_str()))
        .select(AppRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    let role_ids: Vec<i64> = client_app_roles::table
        .filter(client_app_roles::app_id.eq(row.id))
        .select(client_app_roles::role_id)
        .load(conn)
        .map_err(map_err)?;
    Ok(Some(AppState {
        id: AppId(row.id),
        client_id: row.client_id()?,
        environment_id: EnvironmentId(row.environment_id),
        status: row.status()?,
        deleted: row.deleted_at.is_some(),
        role_ids: role_ids.into_iter().map(RoleId).collect(),
    }))
}

impl AppStore for DieselStore {
    fn app_secrets(&self, client_id: &ClientId) -> StoreResult<Vec<StoredSecret>> {
        credentials::app_secrets(&mut *self.conn()?, client_id)
    }

    fn list_app_secrets(&self, app: AppId) -> StoreResult<Vec<AppSecret>> {
        credentials::list_app_secrets(&mut *self.conn()?, app)
    }

    fn rotate_app_secret(
        &self,
        app: AppId,
        new: &NewSecret,
        previous_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(|conn| credentials::rotate_app_secret(conn, app, new, previous_expires_at, now))
    }

    fn end_app_secret(&self, app: AppId, id: &CredentialId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| credentials::end_app_secret(conn, app, id, now))
    }

    fn create_app(&self, new: &NewApp, quota: Quota, now: DateTime<Utc>) -> StoreResult<ClientApp> {
        self.write(|conn| {
            // First statement of the transaction: take a quota slot or learn there is none.
            let took = diesel::update(
                environments::table
                    .find(new.environment_id.0)
                    .filter(environments::client_app_count.lt(quota.client_apps_per_environment)),
            )
            .set(environments::client_app_count.eq(environments::client_app_count + 1))
            .execute(conn)
            .map_err(map_err)?;
            if took == 0 {
                let exists: bool = diesel::select(diesel::dsl::exists(
                    environments::table.find(new.environment_id.0),
                ))
                .get_result(conn)
                .map_err(map_err)?;
                return Err(if exists {
                    StoreError::QuotaReached
                } else {
                    StoreError::NotFound
                });
            }
            let id: i64 = diesel::insert_into(client_apps::table)
                .values((
                    client_apps::environment_id.eq(new.environment_id.0),
                    client_apps::name.eq(new.name.as_str()),
                    client_apps::client_id.eq(new.client_id.as_str()),
                    client_apps::status.eq(AppStatus::Active.as_str()),
                    client_apps::created_at.eq(to_db_time(now)),
                ))
                .returning(client_apps::id)
                .get_result(conn)
                .map_err(name_taken_or)?;
            credentials::insert_secret(conn, id, &new.secret, now)?;
            claim_bound_roles(conn, &new.role_ids)?;
            bind_roles(conn, id, &new.role_ids)?;
            record_change(conn, &ChangeSubject::App(new.client_id.clone()), now)?;
            load_app(conn, id)
        })
    }

    fn app_in_environment(
        &self,
        env: EnvironmentId,
        client_id: &ClientId,
    ) -> StoreResult<Option<ClientApp>> {
        let mut conn = self.conn()?;
        let row = client_apps::table
            .filter(client_apps::client_id.eq(client_id.as_str()))
            .filter(client_apps::environment_id.eq(env.0))
            .filter(client_apps::deleted_at.is_null())
            .select(AppRow::as_select())
            .first(&mut conn)
            .optional()
            .map_err(map_err)?;
        match row {
            None => Ok(None),
            Some(row) => {
                let mut names = role_names(&mut conn, &[row.id])?;
                let id = row.id;
                row.into_domain(names.remove(&id).unwrap_or_default())
                    .map(Some)
            }
        }
    }

    fn list_apps(&self, env: EnvironmentId, query: &AppQuery) -> StoreResult<Page<ClientApp>> {
        use client_apps::dsl as a;
        let mut conn = self.conn()?;
        let mut q = a::client_apps
            .filter(a::environment_id.eq(env.0))
            .filter(a::deleted_at.is_null())
            .select(AppRow::as_select())
            .into_boxed();
        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            let pattern = contains_pattern(search);
            q = q.filter(
                lower(a::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(a::client_id).like(pattern).escape('\\')),
            );
        }
        let rows: Vec<AppRow> = keyset_page!(
            q,
            a::created_at,
            a::id,
            query.order,
            query.limit,
            query.cursor
        )
        .load(&mut conn)
        .map_err(map_err)?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut names = role_names(&mut conn, &ids)?;
        paginate(
            rows,
            query.limit,
            |r| (r.created_at, r.id),
            |r| {
                let id = r.id;
                r.into_domain(names.remove(&id).unwrap_or_default())
            },
        )
    }

    /// The app is claimed first: a no-op conditional `UPDATE … WHERE id = ? AND
    /// deleted_at IS NULL` (no row: `NotFound`). A concurrent delete writes the same row,
    /// so bindings are never written to an app deleted meanwhile. The new roles are
    /// claimed before the old bindings go (`claim_bound_roles`).
    fn replace_app_roles(
        &self,
        app: AppId,
        roles: &[RoleId],
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp> {
        self.write(|conn| {
            let client_id: Option<String> = diesel::update(
                client_apps::table
                    .find(app.0)
                    .filter(client_apps::deleted_at.is_null()),
            )
            .set(client_apps::status.eq(client_apps::status))
            .returning(client_apps::client_id)
            .get_result(conn)
            .optional()
            .map_err(map_err)?;
            let client_id = parse_client_id(&client_id.ok_or(StoreError::NotFound)?)?;
            claim_bound_roles(conn, roles)?;
            diesel::delete(client_app_roles::table.filter(client_app_roles::app_id.eq(app.0)))
                .execute(conn)
                .map_err(map_err)?;
            bind_roles(conn, app.0, roles)?;
            record_change(conn, &ChangeSubject::App(client_id), now)?;
            load_app(conn, app.0)
        })
    }

    /// One conditional `UPDATE … WHERE id = ? AND deleted_at IS NULL AND status <> ?`:
    /// a row changed appends the change; none means the app already had that status, or
    /// is missing or deleted (then reading it back answers `NotFound`).
    fn set_app_status(
        &self,
        app: AppId,
        status: AppStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp> {
        self.write(|conn| {
            let changed: Option<String> = diesel::update(
                client_apps::table
                    .find(app.0)
                    .filter(client_apps::deleted_at.is_null())
                    .filter(client_apps::status.ne(status.as_str())),
            )
            .set(client_apps::status.eq(status.as_str()))
            .returning(client_apps::client_id)
            .get_result(conn)
            .optional()
            .map_err(map_err)?;
            if let Some(client_id) = changed {
                record_change(conn, &ChangeSubject::App(parse_client_id(&client_id)?), now)?;
            }
            load_app(conn, app.0)
        })
    }

    /// One conditional `UPDATE … SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL
    /// AND status = 'INACTIVE'` turns the app into a tombstone; only then do its
    /// secrets, API keys, bindings and quota slot go. No row: `AppIsActive` if the app is
    /// still there, `NotFound` if not. A concurrent activation is the same row's
    /// conditional `UPDATE … AND deleted_at IS NULL`: whichever commits second finds
    /// its condition false (PostgreSQL at READ COMMITTED re-checks it on the row the
    /// first one wrote).
    fn delete_app(&self, app: AppId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            let tombstone: Option<(i64, String)> = diesel::update(
                client_apps::table
                    .find(app.0)
                    .filter(client_apps::deleted_at.is_null())
                    .filter(client_apps::status.eq(AppStatus::Inactive.as_str())),
            )
            .set(client_apps::deleted_at.eq(Some(to_db_time(now))))
            .returning((client_apps::environment_id, client_apps::client_id))
            .get_result(conn)
            .optional()
            .map_err(map_err)?;
            let Some((environment_id, client_id)) = tombstone else {
                let live: bool = diesel::select(diesel::dsl::exists(
                    client_apps::table
                        .find(app.0)
                        .filter(client_apps::deleted_at.is_null()),
                ))
                .get_result(conn)
                .map_err(map_err)?;
                return Err(if live {
                    StoreError::AppIsActive
                } else {
                    StoreError::NotFound
                });
            };
            diesel::delete(client_app_roles::table.filter(client_app_roles::app_id.eq(app.0)))
                .execute(conn)
                .map_err(map_err)?;
            credentials::delete_all_of(conn, app.0)?;
            diesel::update(environments::table.find(environment_id))
                .set(environments::client_app_count.eq(environments::client_app_count - 1))
                .execute(conn)
                .map_err(map_err)?;
            record_change(conn, &ChangeSubject::App(parse_client_id(&client_id)?), now)?;
            Ok(())
        })
    }

    fn record_usage(&self, usage: &Usage) -> StoreResult<()> {
        // No change row: `last_used_at` is not live state, and a change per used app
        // would make every follower reload apps whose live state did not change.
        if usage.is_empty() {
            return Ok(());
        }
        self.write(|conn| {
            credentials::record_secret_usage(conn, &usage.secrets)?;
            credentials::record_api_key_usage(conn, &usage.api_keys)?;
            for (app, at) in &usage.apps {
                let at = to_db_time(*at);
                diesel::update(
                    client_apps::table.find(app.0).filter(
                        client_apps::last_used_at
                            .is_null()
                            .or(client_apps::last_used_at.lt(at)),
                    ),
                )
                .set(client_apps::last_used_at.eq(Some(at)))
                .execute(conn)
                .map_err(map_err)?;
            }
            Ok(())
        })
    }
}
