//! A client app's credentials: its secrets (current and, during a rotation's grace
//! period, previous) and its API keys.
//!
//! Both follow the app rules of `sql/apps.rs`: every write first claims the app's row
//! with a conditional `UPDATE … WHERE id = ? AND deleted_at IS NULL`, so it never writes
//! to an app deleted meanwhile, and writes that must not interleave (two rotations, two
//! key creations against the quota) are decided one after the other on that row lock.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use keyward_domain::{ApiKey, ApiKeyName, AppId, AppSecret, ClientId, CredentialId, Quota};

use super::feed::record_change;
use super::models::hex;
use super::schema::{api_keys, client_app_secrets, client_apps};
use super::{from_db_time, map_err, name_taken_or, to_db_time, Db, DieselStore};
use crate::{
    ApiKeyState, ApiKeyStore, ChangeSubject, NewApiKey, NewSecret, StoreError, StoreResult,
    StoredSecret,
};

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn credential_id(text: &str) -> StoreResult<CredentialId> {
    CredentialId::parse(text, "id").map_err(|e| corrupt("credential id", e))
}

/// Claims a live app's row (a no-op conditional `UPDATE`): `NotFound` once it is
/// deleted. Returns its client ID. Every credential write starts here.
fn claim_app(conn: &mut Db, app: AppId) -> StoreResult<ClientId> {
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
    ClientId::parse(&client_id.ok_or(StoreError::NotFound)?).map_err(|e| corrupt("client id", e))
}

/// Inserts a secret as the app's current one.
pub(super) fn insert_secret(
    conn: &mut Db,
    app: i64,
    new: &NewSecret,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::insert_into(client_app_secrets::table)
        .values((
            client_app_secrets::public_id.eq(new.id.as_str()),
            client_app_secrets::app_id.eq(app),
            client_app_secrets::secret_hash.eq(&new.hash),
            client_app_secrets::hint.eq(Some(new.hint.as_str())),
            client_app_secrets::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)
        .map_err(map_err)?;
    Ok(())
}

/// The stored secrets of a live app, current first
/// ([`AppStore::app_secrets`](crate::AppStore::app_secrets)).
pub(super) fn app_secrets(conn: &mut Db, client_id: &ClientId) -> StoreResult<Vec<StoredSecret>> {
    type Row = (String, String, Option<String>, Option<NaiveDateTime>);
    let rows: Vec<Row> = client_app_secrets::table
        .inner_join(client_apps::table)
        .filter(client_apps::client_id.eq(client_id.as_str()))
        .filter(client_apps::deleted_at.is_null())
        .select((
            client_app_secrets::public_id,
            client_app_secrets::secret_hash,
            client_app_secrets::hint,
            client_app_secrets::expires_at,
        ))
        .load(conn)
        .map_err(map_err)?;
    let mut secrets = rows
        .into_iter()
        .map(|(id, hash, hint, expires_at)| {
            Ok(StoredSecret {
                id: credential_id(&id)?,
                hash,
                hint,
                expires_at: expires_at.map(from_db_time),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    // Current (no end) first, then the one ending last.
    secrets.sort_by_key(|s| {
        std::cmp::Reverse(s.expires_at.map_or(i64::MAX, |t| t.timestamp_micros()))
    });
    Ok(secrets)
}

/// The secrets of a live app as shown, current first.
pub(super) fn list_app_secrets(conn: &mut Db, app: AppId) -> StoreResult<Vec<AppSecret>> {
    type Row = (
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = client_app_secrets::table
        .inner_join(client_apps::table)
        .filter(client_app_secrets::app_id.eq(app.0))
        .filter(client_apps::deleted_at.is_null())
        .select((
            client_app_secrets::public_id,
            client_app_secrets::created_at,
            client_app_secrets::expires_at,
            client_app_secrets::last_used_at,
        ))
        .load(conn)
        .map_err(map_err)?;
    let mut secrets = rows
        .into_iter()
        .map(|(id, created_at, expires_at, last_used_at)| {
            Ok(AppSecret {
                id: credential_id(&id)?,
                created_at: from_db_time(created_at),
                expires_at: expires_at.map(from_db_time),
                last_used_at: last_used_at.map(from_db_time),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    secrets.sort_by_key(|s| {
        std::cmp::Reverse(s.expires_at.map_or(i64::MAX, |t| t.timestamp_micros()))
    });
    Ok(secrets)
}

/// [`AppStore::rotate_app_secret`](crate::AppStore::rotate_app_secret): claims the app,
/// deletes every previous secret, gives the current one its end, inserts the new one.
/// Two rotations of one app are decided one after the other on the app's row, so at
/// most two secrets are ever stored.
pub(super) fn rotate_app_secret(
    conn: &mut Db,
    app: AppId,
    new: &NewSecret,
    previous_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let client_id = claim_app(conn, app)?;
    diesel::delete(
        client_app_secrets::table
            .filter(client_app_secrets::app_id.eq(app.0))
            .filter(client_app_secrets::expires_at.is_not_null()),
    )
    .execute(conn)
    .map_err(map_err)?;
    diesel::update(
        client_app_secrets::table
            .filter(client_app_secrets::app_id.eq(app.0))
            .filter(client_app_secrets::expires_at.is_null()),
    )
    .set(client_app_secrets::expires_at.eq(Some(to_db_time(previous_expires_at))))
    .execute(conn)
    .map_err(map_err)?;
    insert_secret(conn, app.0, new, now)?;
    record_change(conn, &ChangeSubject::App(client_id), now)
}

/// [`AppStore::end_app_secret`](crate::AppStore::end_app_secret): one conditional
/// `DELETE … WHERE expires_at IS NOT NULL`; no row means the current secret (409) or
/// none (404).
pub(super) fn end_app_secret(
    conn: &mut Db,
    app: AppId,
    id: &CredentialId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let client_id = claim_app(conn, app)?;
    let ended = diesel::delete(
        client_app_secrets::table
            .filter(client_app_secrets::app_id.eq(app.0))
            .filter(client_app_secrets::public_id.eq(id.as_str()))
            .filter(client_app_secrets::expires_at.is_not_null()),
    )
    .execute(conn)
    .map_err(map_err)?;
    if ended == 0 {
        let current: bool = diesel::select(diesel::dsl::exists(
            client_app_secrets::table
                .filter(client_app_secrets::app_id.eq(app.0))
                .filter(client_app_secrets::public_id.eq(id.as_str())),
        ))
        .get_result(conn)
        .map_err(map_err)?;
        return Err(if current {
            StoreError::CurrentSecret
        } else {
            StoreError::NotFound
        });
    }
    record_change(conn, &ChangeSubject::App(client_id), now)
}

/// Removes every credential of an app being deleted (inside the deleting transaction).
pub(super) fn delete_all_of(conn: &mut Db, app: i64) -> StoreResult<()> {
    diesel::delete(client_app_secrets::table.filter(client_app_secrets::app_id.eq(app)))
        .execute(conn)
        .map_err(map_err)?;
    diesel::delete(api_keys::table.filter(api_keys::app_id.eq(app)))
        .execute(conn)
        .map_err(map_err)?;
    diesel::update(client_apps::table.find(app))
        .set(client_apps::api_key_count.eq(0))
        .execute(conn)
        .map_err(map_err)?;
    Ok(())
}

/// Writes last-use times of secrets (never backwards; deleted ones are skipped).
pub(super) fn record_secret_usage(
    conn: &mut Db,
    usage: &[(CredentialId, DateTime<Utc>)],
) -> StoreResult<()> {
    for (id, at) in usage {
        let at = to_db_time(*at);
        diesel::update(
            client_app_secrets::table
                .filter(client_app_secrets::public_id.eq(id.as_str()))
                .filter(
                    client_app_secrets::last_used_at
                        .is_null()
                        .or(client_app_secrets::last_used_at.lt(at)),
                ),
        )
        .set(client_app_secrets::last_used_at.eq(Some(at)))
        .execute(conn)
        .map_err(map_err)?;
    }
    Ok(())
}

/// Writes last-use times of API keys (never backwards; deleted ones are skipped).
pub(super) fn record_api_key_usage(
    conn: &mut Db,
    usage: &[(CredentialId, DateTime<Utc>)],
) -> StoreResult<()> {
    for (id, at) in usage {
        let at = to_db_time(*at);
        diesel::update(
            api_keys::table
                .filter(api_keys::public_id.eq(id.as_str()))
                .filter(
                    api_keys::last_used_at
                        .is_null()
                        .or(api_keys::last_used_at.lt(at)),
                ),
        )
        .set(api_keys::last_used_at.eq(Some(at)))
        .execute(conn)
        .map_err(map_err)?;
    }
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct ApiKeyRow {
    public_id: String,
    name: String,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
}

impl ApiKeyRow {
    fn into_domain(self) -> StoreResult<ApiKey> {
        Ok(ApiKey {
            id: credential_id(&self.public_id)?,
            name: ApiKeyName::parse(&self.name).map_err(|e| corrupt("api key name", e))?,
            created_at: from_db_time(self.created_at),
            expires_at: self.expires_at.map(from_db_time),
            last_used_at: self.last_used_at.map(from_db_time),
        })
    }
}

/// The API key with this digest ([`LiveSource::api_key_by_digest`](crate::LiveSource::api_key_by_digest)).
/// Keys of deleted apps are deleted with them, so a key found belongs to a live app (or
/// one being deleted right now: the app check that follows refuses it).
pub(super) fn api_key_by_digest(
    conn: &mut Db,
    digest: &[u8; 32],
) -> StoreResult<Option<ApiKeyState>> {
    let row: Option<(String, Option<NaiveDateTime>, String)> = api_keys::table
        .inner_join(client_apps::table)
        .filter(api_keys::digest.eq(hex(digest)))
        .select((
            api_keys::public_id,
            api_keys::expires_at,
            client_apps::client_id,
        ))
        .first(conn)
        .optional()
        .map_err(map_err)?;
    row.map(|(id, expires_at, client_id)| {
        Ok(ApiKeyState {
            id: credential_id(&id)?,
            digest: *digest,
            client_id: ClientId::parse(&client_id).map_err(|e| corrupt("client id", e))?,
            expires_at: expires_at.map(from_db_time),
        })
    })
    .transpose()
}

fn key_state(
    (id, digest, expires_at, client_id): (String, String, Option<NaiveDateTime>, String),
) -> StoreResult<ApiKeyState> {
    let bytes = crate::digest_from_hex(&digest)
        .ok_or_else(|| corrupt("api key digest", "not 64 hex digits"))?;
    Ok(ApiKeyState {
        id: credential_id(&id)?,
        digest: bytes,
        client_id: ClientId::parse(&client_id).map_err(|e| corrupt("client id", e))?,
        expires_at: expires_at.map(from_db_time),
    })
}

impl ApiKeyStore for DieselStore {
    /// First statement: the conditional increment `UPDATE client_apps SET api_key_count
    /// = api_key_count + 1 WHERE id = ? AND deleted_at IS NULL AND api_key_count <
    /// limit`, whose row count decides (and which claims the app's row, so concurrent
    /// creations are decided one after the other). A name taken rolls it back.
    fn create_api_key(
        &self,
        new: &NewApiKey,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> StoreResult<ApiKey> {
        self.write(|conn| {
            let took = diesel::update(
                client_apps::table
                    .find(new.app.0)
                    .filter(client_apps::deleted_at.is_null())
                    .filter(client_apps::api_key_count.lt(quota.api_keys_per_app)),
            )
            .set(client_apps::api_key_count.eq(client_apps::api_key_count + 1))
            .execute(conn)
            .map_err(map_err)?;
            if took == 0 {
                let live: bool = diesel::select(diesel::dsl::exists(
                    client_apps::table
                        .find(new.app.0)
                        .filter(client_apps::deleted_at.is_null()),
                ))
                .get_result(conn)
                .map_err(map_err)?;
                return Err(if live {
                    StoreError::QuotaReached
                } else {
                    StoreError::NotFound
                });
            }
            let created = to_db_time(now);
            diesel::insert_into(api_keys::table)
                .values((
                    api_keys::public_id.eq(new.id.as_str()),
                    api_keys::app_id.eq(new.app.0),
                    api_keys::name.eq(new.name.as_str()),
                    api_keys::digest.eq(hex(&new.digest)),
                    api_keys::created_at.eq(created),
                    api_keys::expires_at.eq(new.expires_at.map(to_db_time)),
                ))
                .execute(conn)
                .map_err(name_taken_or)?;
            record_change(conn, &ChangeSubject::ApiKey(new.id.clone()), now)?;
            Ok(ApiKey {
                id: new.id.clone(),
                name: new.name.clone(),
                created_at: from_db_time(created),
                expires_at: new.expires_at.map(|t| from_db_time(to_db_time(t))),
                last_used_at: None,
            })
        })
    }

    fn list_api_keys(&self, app: AppId) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = self.read(|conn| {
            api_keys::table
                .filter(api_keys::app_id.eq(app.0))
                .order((api_keys::created_at.asc(), api_keys::id.asc()))
                .select(ApiKeyRow::as_select())
                .load(conn)
        })?;
        rows.into_iter().map(ApiKeyRow::into_domain).collect()
    }

    fn api_key_states(&self, app: AppId) -> StoreResult<Vec<ApiKeyState>> {
        let rows: Vec<(String, String, Option<NaiveDateTime>, String)> = self.read(|conn| {
            api_keys::table
                .inner_join(client_apps::table)
                .filter(api_keys::app_id.eq(app.0))
                .order((api_keys::created_at.asc(), api_keys::id.asc()))
                .select((
                    api_keys::public_id,
                    api_keys::digest,
                    api_keys::expires_at,
                    client_apps::client_id,
                ))
                .load(conn)
        })?;
        rows.into_iter().map(key_state).collect()
    }

    fn api_key_state(&self, id: &CredentialId) -> StoreResult<Option<ApiKeyState>> {
        let row: Option<(String, String, Option<NaiveDateTime>, String)> = self.read(|conn| {
            api_keys::table
                .inner_join(client_apps::table)
                .filter(api_keys::public_id.eq(id.as_str()))
                .select((
                    api_keys::public_id,
                    api_keys::digest,
                    api_keys::expires_at,
                    client_apps::client_id,
                ))
                .first(conn)
                .optional()
        })?;
        row.map(key_state).transpose()
    }

    /// Claims the app, then one `DELETE … WHERE app_id = ? AND public_id = ?` whose row
    /// count decides; the quota slot is given back in the same transaction.
    fn delete_api_key(&self, app: AppId, id: &CredentialId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            claim_app(conn, app)?;
            let deleted = diesel::delete(
                api_keys::table
                    .filter(api_keys::app_id.eq(app.0))
                    .filter(api_keys::public_id.eq(id.as_str())),
            )
            .execute(conn)
            .map_err(map_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            diesel::update(client_apps::table.find(app.0))
                .set(client_apps::api_key_count.eq(client_apps::api_key_count - 1))
                .execute(conn)
                .map_err(map_err)?;
            record_change(conn, &ChangeSubject::ApiKey(id.clone()), now)
        })
    }
}
