//! [`LiveSource`] for [`DieselStore`]: the read side a credential check needs. It spans
//! aggregates, so each method runs the query its aggregate's module owns on a pooled
//! connection.

use keyward_domain::{AdminUser, ClientId, Environment, EnvironmentId, Role, RoleId};

use super::{admins, apps, credentials, environments, feed, keys, oauth, roles, DieselStore};
use crate::{
    ApiKeyState, AppState, Change, LiveSource, RevokedToken, SigningKeyRecord, StoreResult,
};

impl LiveSource for DieselStore {
    fn app_state(&self, client_id: &ClientId) -> StoreResult<Option<AppState>> {
        apps::app_state(&mut *self.conn()?, client_id)
    }

    fn environment_by_id(&self, id: EnvironmentId) -> StoreResult<Option<Environment>> {
        environments::environment_by_id(&mut *self.conn()?, id)
    }

    fn roles_by_ids(&self, ids: &[RoleId]) -> StoreResult<Vec<Role>> {
        roles::roles_by_ids(&mut *self.conn()?, ids)
    }

    fn admin_by_credential(&self, digest: &[u8; 32]) -> StoreResult<Option<AdminUser>> {
        admins::admin_by_credential(&mut *self.conn()?, digest)
    }

    fn api_key_by_digest(&self, digest: &[u8; 32]) -> StoreResult<Option<ApiKeyState>> {
        credentials::api_key_by_digest(&mut *self.conn()?, digest)
    }

    fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        keys::signing_keys(&mut *self.conn()?)
    }

    fn revoked_tokens(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<Vec<RevokedToken>> {
        oauth::revoked_tokens(&mut *self.conn()?, now)
    }

    fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        feed::changes_since(&mut *self.conn()?, after, limit)
    }

    fn latest_change(&self) -> StoreResult<i64> {
        feed::latest_change(&mut *self.conn()?)
    }

    fn ping(&self) -> StoreResult<()> {
        feed::touch(&mut *self.conn()?)
    }
}
