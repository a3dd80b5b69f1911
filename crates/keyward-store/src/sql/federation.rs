//! Federation: environments' identity providers, and apps' bindings to them.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use keyward_domain::{AppId, ClientApp, ClientId, EnvironmentId, Username};

use super::feed::record_change;
use super::models::AppRow;
use super::schema::{client_app_roles, client_apps, identity_providers, roles};
use super::{from_db_time, map_err, name_taken_or, to_db_time, Db, DieselStore};
use crate::{
    ChangeSubject, ExternalBinding, FederationStore, IdentityProvider, StoreError, StoreResult,
};

type IdpRow = (
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    bool,
    NaiveDateTime,
    NaiveDateTime,
);

fn idp_columns() -> (
    identity_providers::environment_id,
    identity_providers::issuer,
    identity_providers::token_endpoint,
    identity_providers::jwks_uri,
    identity_providers::audience,
    identity_providers::client_id_claims,
    identity_providers::scope,
    identity_providers::enabled,
    identity_providers::created_at,
    identity_providers::updated_at,
) {
    use identity_providers as i;
    (
        i::environment_id,
        i::issuer,
        i::token_endpoint,
        i::jwks_uri,
        i::audience,
        i::client_id_claims,
        i::scope,
        i::enabled,
        i::created_at,
        i::updated_at,
    )
}

fn from_row(r: IdpRow) -> IdentityProvider {
    IdentityProvider {
        environment_id: EnvironmentId(r.0),
        issuer: r.1,
        token_endpoint: r.2,
        jwks_uri: r.3,
        audience: r.4,
        client_id_claims: r.5.split_whitespace().map(str::to_owned).collect(),
        scope: r.6,
        enabled: r.7,
        created_at: from_db_time(r.8),
        updated_at: from_db_time(r.9),
    }
}

/// An environment's identity provider.
pub(super) fn identity_provider(
    conn: &mut Db,
    env: EnvironmentId,
) -> StoreResult<Option<IdentityProvider>> {
    let row: Option<IdpRow> = identity_providers::table
        .filter(identity_providers::environment_id.eq(env.0))
        .select(idp_columns())
        .first(conn)
        .optional()
        .map_err(map_err)?;
    Ok(row.map(from_row))
}

/// The identity providers naming `issuer`.
pub(super) fn identity_providers_by_issuer(
    conn: &mut Db,
    issuer: &str,
) -> StoreResult<Vec<IdentityProvider>> {
    let rows: Vec<IdpRow> = identity_providers::table
        .filter(identity_providers::issuer.eq(issuer))
        .select(idp_columns())
        .load(conn)
        .map_err(map_err)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The live app bound to `external_client_id`.
pub(super) fn external_binding(
    conn: &mut Db,
    external_client_id: &str,
) -> StoreResult<Option<ExternalBinding>> {
    let row: Option<(String, i64, Option<String>)> = client_apps::table
        .filter(client_apps::external_client_id.eq(external_client_id))
        .filter(client_apps::deleted_at.is_null())
        .select((
            client_apps::client_id,
            client_apps::environment_id,
            client_apps::impersonate,
        ))
        .first(conn)
        .optional()
        .map_err(map_err)?;
    row.map(|(client_id, env, impersonate)| {
        Ok(ExternalBinding {
            external_client_id: external_client_id.to_owned(),
            client_id: ClientId::parse(&client_id)
                .map_err(|e| StoreError::Corrupt(format!("client id: {e}")))?,
            environment_id: EnvironmentId(env),
            impersonate: impersonate
                .map(|u| {
                    Username::parse(&u)
                        .map_err(|e| StoreError::Corrupt(format!("impersonated user: {e}")))
                })
                .transpose()?,
        })
    })
    .transpose()
}

impl FederationStore for DieselStore {
    fn set_identity_provider(&self, idp: &IdentityProvider) -> StoreResult<IdentityProvider> {
        use identity_providers as i;
        self.write(|conn| {
            let values = (
                i::issuer.eq(idp.issuer.as_deref()),
                i::token_endpoint.eq(&idp.token_endpoint),
                i::jwks_uri.eq(idp.jwks_uri.as_deref()),
                i::audience.eq(idp.audience.as_deref()),
                i::client_id_claims.eq(idp.client_id_claims.join(" ")),
                i::scope.eq(idp.scope.as_deref()),
                i::enabled.eq(idp.enabled),
                i::updated_at.eq(to_db_time(idp.updated_at)),
            );
            let updated =
                diesel::update(i::table.filter(i::environment_id.eq(idp.environment_id.0)))
                    .set(values.clone())
                    .execute(conn)
                    .map_err(map_err)?;
            if updated == 0 {
                diesel::insert_into(i::table)
                    .values((
                        i::environment_id.eq(idp.environment_id.0),
                        values,
                        i::created_at.eq(to_db_time(idp.created_at)),
                    ))
                    .execute(conn)
                    .map_err(map_err)?;
            }
            record_change(
                conn,
                &ChangeSubject::IdentityProvider(idp.environment_id),
                idp.updated_at,
            )?;
            identity_provider(conn, idp.environment_id)?.ok_or(StoreError::NotFound)
        })
    }

    fn delete_identity_provider(&self, env: EnvironmentId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            let deleted = diesel::delete(
                identity_providers::table.filter(identity_providers::environment_id.eq(env.0)),
            )
            .execute(conn)
            .map_err(map_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            record_change(conn, &ChangeSubject::IdentityProvider(env), now)
        })
    }

    /// One conditional `UPDATE … WHERE id = ? AND deleted_at IS NULL`; the unique index
    /// on `external_client_id` answers a binding taken by another app (`NameTaken`).
    fn bind_external(
        &self,
        app: AppId,
        external_client_id: Option<&str>,
        impersonate: Option<&Username>,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp> {
        self.write(|conn| {
            let client_id: Option<String> = diesel::update(
                client_apps::table
                    .find(app.0)
                    .filter(client_apps::deleted_at.is_null()),
            )
            .set((
                client_apps::external_client_id.eq(external_client_id),
                client_apps::impersonate.eq(impersonate.map(Username::as_str)),
            ))
            .returning(client_apps::client_id)
            .get_result(conn)
            .optional()
            .map_err(name_taken_or)?;
            let client_id = ClientId::parse(&client_id.ok_or(StoreError::NotFound)?)
                .map_err(|e| StoreError::Corrupt(format!("client id: {e}")))?;
            record_change(conn, &ChangeSubject::App(client_id), now)?;
            let row = client_apps::table
                .find(app.0)
                .select(AppRow::as_select())
                .first(conn)
                .map_err(map_err)?;
            let names: Vec<String> = client_app_roles::table
                .inner_join(roles::table)
                .filter(client_app_roles::app_id.eq(app.0))
                .select(roles::name)
                .load(conn)
                .map_err(map_err)?;
            row.into_domain(names)
        })
    }
}
