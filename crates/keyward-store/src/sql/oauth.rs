//! What the OAuth standards keep (issue 15): revoked access tokens (RFC 7009),
//! client assertion IDs seen (RFC 7523), apps' public JWK Sets (private_key_jwt),
//! environments' allowed audiences (RFC 8707), and retiring signing keys.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyward_domain::{AppId, ClientId, EnvironmentId};

use super::feed::record_change;
use super::schema::{client_apps, signing_keys};
use super::{from_db_time, is_unique_violation, map_err, to_db_time, Db, DieselStore};
use crate::{ChangeSubject, OAuthStore, RevokedToken, RevokedTokenId, StoreError, StoreResult};

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        client_id -> Text,
        expires_at -> Timestamp,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    client_assertion_jtis (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    client_app_jwks (app_id) {
        app_id -> BigInt,
        jwks -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    environment_audiences (environment_id, audience) {
        environment_id -> BigInt,
        audience -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(client_app_jwks, client_apps);

/// Revoked tokens not yet expired at `now` ([`crate::LiveSource::revoked_tokens`]).
pub(super) fn revoked_tokens(
    conn: &mut Db,
    now: DateTime<Utc>,
) -> StoreResult<Vec<RevokedTokenId>> {
    let rows: Vec<(String, chrono::NaiveDateTime)> = revoked_tokens::table
        .filter(revoked_tokens::expires_at.ge(to_db_time(now)))
        .select((revoked_tokens::jti, revoked_tokens::expires_at))
        .load(conn)
        .map_err(map_err)?;
    Ok(rows
        .into_iter()
        .map(|(jti, expires_at)| RevokedTokenId {
            jti,
            expires_at: from_db_time(expires_at),
        })
        .collect())
}

impl OAuthStore for DieselStore {
    fn revoke_token(&self, token: &RevokedToken, now: DateTime<Utc>) -> StoreResult<bool> {
        self.write(|conn| {
            let inserted = diesel::insert_into(revoked_tokens::table)
                .values((
                    revoked_tokens::jti.eq(&token.jti),
                    revoked_tokens::client_id.eq(token.client_id.as_str()),
                    revoked_tokens::expires_at.eq(to_db_time(token.expires_at)),
                    revoked_tokens::revoked_at.eq(to_db_time(now)),
                ))
                .execute(conn);
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(false),
                Err(e) => return Err(map_err(e)),
            }
            record_change(
                conn,
                &ChangeSubject::TokenRevoked {
                    jti: token.jti.clone(),
                    expires_at: token.expires_at,
                },
                now,
            )?;
            Ok(true)
        })
    }

    fn claim_assertion_id(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(|conn| {
            let inserted = diesel::insert_into(client_assertion_jtis::table)
                .values((
                    client_assertion_jtis::client_id.eq(client_id.as_str()),
                    client_assertion_jtis::jti.eq(jti),
                    client_assertion_jtis::expires_at.eq(to_db_time(expires_at)),
                ))
                .execute(conn);
            match inserted {
                Ok(_) => Ok(true),
                Err(e) if is_unique_violation(&e) => Ok(false),
                Err(e) => Err(map_err(e)),
            }
        })
    }

    fn prune_expired(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let at = to_db_time(now);
        self.write(|conn| {
            let tokens =
                diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.lt(at)))
                    .execute(conn)
                    .map_err(map_err)?;
            let ids = diesel::delete(
                client_assertion_jtis::table.filter(client_assertion_jtis::expires_at.lt(at)),
            )
            .execute(conn)
            .map_err(map_err)?;
            Ok(tokens + ids)
        })
    }

    fn client_jwks(&self, client_id: &ClientId) -> StoreResult<Option<String>> {
        self.read(|conn| {
            client_app_jwks::table
                .inner_join(client_apps::table.on(client_apps::id.eq(client_app_jwks::app_id)))
                .filter(client_apps::client_id.eq(client_id.as_str()))
                .filter(client_apps::deleted_at.is_null())
                .select(client_app_jwks::jwks)
                .first::<String>(conn)
                .optional()
        })
    }

    fn set_client_jwks(
        &self,
        app: AppId,
        client_id: &ClientId,
        jwks: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(|conn| {
            // Claims the app's row, so a concurrent deletion either comes first (and
            // this finds nothing) or waits for this transaction.
            let live = diesel::update(
                client_apps::table
                    .filter(client_apps::id.eq(app.0))
                    .filter(client_apps::deleted_at.is_null()),
            )
            .set(client_apps::id.eq(app.0))
            .execute(conn)
            .map_err(map_err)?;
            if live == 0 {
                return Err(StoreError::NotFound);
            }
            diesel::delete(client_app_jwks::table.filter(client_app_jwks::app_id.eq(app.0)))
                .execute(conn)
                .map_err(map_err)?;
            if let Some(jwks) = jwks {
                diesel::insert_into(client_app_jwks::table)
                    .values((
                        client_app_jwks::app_id.eq(app.0),
                        client_app_jwks::jwks.eq(jwks),
                        client_app_jwks::updated_at.eq(to_db_time(now)),
                    ))
                    .execute(conn)
                    .map_err(map_err)?;
            }
            record_change(conn, &ChangeSubject::App(client_id.clone()), now)
        })
    }

    fn environment_audiences(&self, env: EnvironmentId) -> StoreResult<Vec<String>> {
        self.read(|conn| {
            environment_audiences::table
                .filter(environment_audiences::environment_id.eq(env.0))
                .order(environment_audiences::audience.asc())
                .select(environment_audiences::audience)
                .load::<String>(conn)
        })
    }

    fn set_environment_audiences(
        &self,
        env: EnvironmentId,
        audiences: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(|conn| {
            diesel::delete(
                environment_audiences::table
                    .filter(environment_audiences::environment_id.eq(env.0)),
            )
            .execute(conn)
            .map_err(map_err)?;
            for audience in audiences {
                diesel::insert_into(environment_audiences::table)
                    .values((
                        environment_audiences::environment_id.eq(env.0),
                        environment_audiences::audience.eq(audience),
                    ))
                    .execute(conn)
                    .map_err(map_err)?;
            }
            record_change(conn, &ChangeSubject::Environment(env), now)
        })
    }

    fn retire_signing_keys(&self, kids: &[String], now: DateTime<Utc>) -> StoreResult<usize> {
        if kids.is_empty() {
            return Ok(0);
        }
        self.write(|conn| {
            let n = diesel::update(
                signing_keys::table
                    .filter(signing_keys::kid.eq_any(kids))
                    .filter(signing_keys::retired_at.is_null()),
            )
            .set(signing_keys::retired_at.eq(to_db_time(now)))
            .execute(conn)
            .map_err(map_err)?;
            if n > 0 {
                record_change(conn, &ChangeSubject::SigningKeys, now)?;
            }
            Ok(n)
        })
    }
}
