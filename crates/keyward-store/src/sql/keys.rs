//! Signing keys: the ring a verifier loads, and adding a key.

use diesel::prelude::*;

use super::feed::record_change;
use super::models::SigningKeyRow;
use super::schema::signing_keys;
use super::{map_err, to_db_time, Db, DieselStore};
use crate::{ChangeSubject, SigningKeyRecord, SigningKeyStore, StoreResult};

/// Every signing key not yet retired, oldest first
/// ([`LiveSource::signing_keys`](crate::LiveSource::signing_keys)).
pub(super) fn signing_keys(conn: &mut Db) -> StoreResult<Vec<SigningKeyRecord>> {
    let rows = signing_keys::table
        .filter(signing_keys::retired_at.is_null())
        .order((signing_keys::created_at.asc(), signing_keys::id.asc()))
        .select(SigningKeyRow::as_select())
        .load(conn)
        .map_err(map_err)?;
    Ok(rows.into_iter().map(SigningKeyRecord::from).collect())
}

impl SigningKeyStore for DieselStore {
    fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
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
}
