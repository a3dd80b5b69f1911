//! Environments: create (with built-in roles), look up, list, enable/disable.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyward_domain::{
    BuiltinRole, Cursor, Environment, EnvironmentId, EnvironmentSlug, Page, PageLimit, SortOrder,
};

use super::feed::record_change;
use super::models::EnvironmentRow;
use super::page::paginate;
use super::schema::{environments, roles};
use super::{keyset_page, map_err, name_taken_or, to_db_time, Db, DieselStore};
use crate::{ChangeSubject, EnvironmentChange, EnvironmentStore, NewEnvironment, StoreResult};

fn load_environment(conn: &mut Db, id: EnvironmentId) -> StoreResult<Environment> {
    environments::table
        .find(id.0)
        .select(EnvironmentRow::as_select())
        .first(conn)
        .map_err(map_err)?
        .into_domain()
}

fn insert_builtin_roles(conn: &mut Db, env: i64, now: DateTime<Utc>) -> StoreResult<()> {
    for role in BuiltinRole::ALL {
        diesel::insert_into(roles::table)
            .values((
                roles::environment_id.eq(env),
                roles::name.eq(role.name()),
                roles::builtin.eq(Some(role.key())),
                roles::permissions.eq(""),
                roles::created_at.eq(to_db_time(now)),
            ))
            .execute(conn)
            .map_err(map_err)?;
    }
    Ok(())
}

/// An environment by id ([`LiveSource::environment_by_id`](crate::LiveSource)).
pub(super) fn environment_by_id(
    conn: &mut Db,
    id: EnvironmentId,
) -> StoreResult<Option<Environment>> {
    environments::table
        .find(id.0)
        .select(EnvironmentRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_err)?
        .map(EnvironmentRow::into_domain)
        .transpose()
}

impl EnvironmentStore for DieselStore {
    fn create_environment(
        &self,
        new: &NewEnvironment,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment> {
        self.write(|conn| {
            let id: i64 = diesel::insert_into(environments::table)
                .values((
                    environments::slug.eq(new.slug.as_str()),
                    environments::name.eq(new.name.as_str()),
                    environments::enabled.eq(true),
                    environments::client_app_count.eq(0i64),
                    environments::created_at.eq(to_db_time(now)),
                ))
                .returning(environments::id)
                .get_result(conn)
                .map_err(name_taken_or)?;
            insert_builtin_roles(conn, id, now)?;
            record_change(conn, &ChangeSubject::Environment(EnvironmentId(id)), now)?;
            load_environment(conn, EnvironmentId(id))
        })
    }

    fn environment_by_slug(&self, slug: &EnvironmentSlug) -> StoreResult<Option<Environment>> {
        self.read(|conn| {
            environments::table
                .filter(environments::slug.eq(slug.as_str()))
                .select(EnvironmentRow::as_select())
                .first(conn)
                .optional()
        })?
        .map(EnvironmentRow::into_domain)
        .transpose()
    }

    fn list_environments(
        &self,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<Environment>> {
        use environments::dsl as e;
        let rows = self.read(|conn| {
            let q = e::environments
                .select(EnvironmentRow::as_select())
                .into_boxed();
            keyset_page!(q, e::created_at, e::id, order, limit, cursor).load(conn)
        })?;
        paginate(
            rows,
            limit,
            |r| (r.created_at, r.id),
            EnvironmentRow::into_domain,
        )
    }

    fn update_environment(
        &self,
        id: EnvironmentId,
        change: &EnvironmentChange,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment> {
        self.write(|conn| {
            // Each field is its own update; the row counts say whether the environment
            // exists (a change is appended whenever a field was given for one that does).
            let mut touched = false;
            if let Some(name) = &change.name {
                touched |= diesel::update(environments::table.find(id.0))
                    .set(environments::name.eq(name.as_str()))
                    .execute(conn)
                    .map_err(map_err)?
                    > 0;
            }
            if let Some(enabled) = change.enabled {
                touched |= diesel::update(environments::table.find(id.0))
                    .set(environments::enabled.eq(enabled))
                    .execute(conn)
                    .map_err(map_err)?
                    > 0;
            }
            let env = load_environment(conn, id)?;
            if touched {
                record_change(conn, &ChangeSubject::Environment(id), now)?;
            }
            Ok(env)
        })
    }
}
