//! [`LiveSource`] for [`DieselStore`]: the read side a credential check needs. It spans
//! aggregates, so each method runs the query its aggregate's module owns on a pooled
//! connection.

use keyward_domain::{AdminUser, ClientId, Environment, EnvironmentId, Role, RoleId, Username};

use super::{
    admins, apps, credentials, environments, federation, feed, keys, oauth, roles, DieselStore,
};
use crate::{
    ApiKeyState, AppState, Change, ExternalBinding, IdentityProvider, LiveSource, RevokedTokenId,
    SigningKeyRecord, StoreResult, UserState,
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

    fn user_by_username(&self, username: &Username) -> StoreResult<Option<UserState>> {
        admins::user_by_username(&mut *self.conn()?, username)
    }

    fn external_binding(&self, external_client_id: &str) -> StoreResult<Option<ExternalBinding>> {
        federation::external_binding(&mut *self.conn()?, external_client_id)
    }

    fn identity_provider(&self, env: EnvironmentId) -> StoreResult<Option<IdentityProvider>> {
        federation::identity_provider(&mut *self.conn()?, env)
    }

    fn identity_providers_by_issuer(&self, issuer: &str) -> StoreResult<Vec<IdentityProvider>> {
        federation::identity_providers_by_issuer(&mut *self.conn()?, issuer)
    }

    fn api_key_by_digest(&self, digest: &[u8; 32]) -> StoreResult<Option<ApiKeyState>> {
        credentials::api_key_by_digest(&mut *self.conn()?, digest)
    }

    fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        keys::signing_keys(&mut *self.conn()?)
    }

    fn revoked_tokens(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<RevokedTokenId>> {
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
