//! Client apps: create inside the quota, look up, list with search, roles, status,
//! delete (tombstone), usage batches.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use keyward_domain::{
    AppId, AppStatus, ClientApp, ClientId, EnvironmentId, Page, Quota, RoleId, SortOrder,
};

use super::environments::paginate;
use super::models::AppRow;
use super::schema::{client_app_roles, client_apps, environments, roles};
use super::{
    contains_pattern, keyset_page, lower, map_err, name_taken_or, record_change, to_db_time, Db,
    DieselStore,
};
use crate::{AppQuery, AppState, ChangeSubject, NewApp, StoreError, StoreResult};

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
                // The role was deleted between its lookup and this transaction.
                DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                    StoreError::UnknownRole("(deleted meanwhile)".into())
                }
                other => map_err(other),
            })?;
    }
    Ok(())
}

fn client_id_of(conn: &mut Db, app: AppId) -> StoreResult<ClientId> {
    let text: String = client_apps::table
        .find(app.0)
        .filter(client_apps::deleted_at.is_null())
        .select(client_apps::client_id)
        .first(conn)
        .map_err(map_err)?;
    ClientId::parse(&text).map_err(|e| StoreError::Corrupt(format!("client id: {e}")))
}

impl DieselStore {
    pub(crate) fn create_app_impl(
        &self,
        new: &NewApp,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp> {
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
                    client_apps::secret_hash.eq(Some(new.secret_hash.as_str())),
                    client_apps::status.eq(AppStatus::Active.as_str()),
                    client_apps::created_at.eq(to_db_time(now)),
                ))
                .returning(client_apps::id)
                .get_result(conn)
                .map_err(name_taken_or)?;
            bind_roles(conn, id, &new.role_ids)?;
            record_change(conn, &ChangeSubject::App(new.client_id.clone()), now)?;
            load_app(conn, id)
        })
    }

    pub(crate) fn app_in_environment_impl(
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

    pub(crate) fn app_state_impl(&self, client_id: &ClientId) -> StoreResult<Option<AppState>> {
        let mut conn = self.conn()?;
        let row = client_apps::table
            .filter(client_apps::client_id.eq(client_id.as_str()))
            .select(AppRow::as_select())
            .first(&mut conn)
            .optional()
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let role_ids: Vec<i64> = client_app_roles::table
            .filter(client_app_roles::app_id.eq(row.id))
            .select(client_app_roles::role_id)
            .load(&mut conn)
            .map_err(map_err)?;
        Ok(Some(AppState {
            id: AppId(row.id),
            client_id: row.client_id()?,
            environment_id: EnvironmentId(row.environment_id),
            status: row.status()?,
            deleted: row.deleted_at.is_some(),
            secret_hash: row.secret_hash,
            role_ids: role_ids.into_iter().map(RoleId).collect(),
        }))
    }

    pub(crate) fn list_apps_impl(
        &self,
        env: EnvironmentId,
        query: &AppQuery,
    ) -> StoreResult<Page<ClientApp>> {
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

    pub(crate) fn replace_app_roles_impl(
        &self,
        app: AppId,
        roles: &[RoleId],
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp> {
        self.write(|conn| {
            let client_id = client_id_of(conn, app)?;
            diesel::delete(client_app_roles::table.filter(client_app_roles::app_id.eq(app.0)))
                .execute(conn)
                .map_err(map_err)?;
            bind_roles(conn, app.0, roles)?;
            record_change(conn, &ChangeSubject::App(client_id), now)?;
            load_app(conn, app.0)
        })
    }

    pub(crate) fn set_app_status_impl(
        &self,
        app: AppId,
        status: AppStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp> {
        self.write(|conn| {
            let client_id = client_id_of(conn, app)?;
            let changed = diesel::update(
                client_apps::table
                    .find(app.0)
                    .filter(client_apps::deleted_at.is_null())
                    .filter(client_apps::status.ne(status.as_str())),
            )
            .set(client_apps::status.eq(status.as_str()))
            .execute(conn)
            .map_err(map_err)?;
            if changed > 0 {
                record_change(conn, &ChangeSubject::App(client_id), now)?;
            }
            load_app(conn, app.0)
        })
    }

    pub(crate) fn delete_app_impl(&self, app: AppId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            let row = client_apps::table
                .find(app.0)
                .filter(client_apps::deleted_at.is_null())
                .select(AppRow::as_select())
                .first(conn)
                .map_err(map_err)?;
            // The status is re-read inside the write transaction: a concurrent activate
            // either committed before (then this refuses) or waits for this to finish.
            if row.status()? != AppStatus::Inactive {
                return Err(StoreError::AppIsActive);
            }
            diesel::delete(client_app_roles::table.filter(client_app_roles::app_id.eq(app.0)))
                .execute(conn)
                .map_err(map_err)?;
            diesel::update(client_apps::table.find(app.0))
                .set((
                    client_apps::secret_hash.eq(None::<String>),
                    client_apps::deleted_at.eq(Some(to_db_time(now))),
                ))
                .execute(conn)
                .map_err(map_err)?;
            diesel::update(environments::table.find(row.environment_id))
                .set(environments::client_app_count.eq(environments::client_app_count - 1))
                .execute(conn)
                .map_err(map_err)?;
            record_change(conn, &ChangeSubject::App(row.client_id()?), now)?;
            Ok(())
        })
    }

    pub(crate) fn record_app_usage_impl(
        &self,
        usage: &[(AppId, DateTime<Utc>)],
    ) -> StoreResult<()> {
        if usage.is_empty() {
            return Ok(());
        }
        self.write(|conn| {
            for (app, at) in usage {
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
