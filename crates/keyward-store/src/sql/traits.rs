//! The `Store` and `LiveSource` traits for `DieselStore`, delegating to the per-table modules.

use chrono::{DateTime, Utc};
use keyward_domain::*;

use super::DieselStore;
use crate::*;

impl LiveSource for DieselStore {
    fn app_state(&self, client_id: &ClientId) -> StoreResult<Option<AppState>> {
        self.app_state_impl(client_id)
    }
    fn environment_by_id(&self, id: EnvironmentId) -> StoreResult<Option<Environment>> {
        self.environment_by_id_impl(id)
    }
    fn roles_by_ids(&self, ids: &[RoleId]) -> StoreResult<Vec<Role>> {
        self.roles_by_ids_impl(ids)
    }
    fn admin_by_credential(&self, digest: &[u8; 32]) -> StoreResult<Option<AdminUser>> {
        self.admin_by_credential_impl(digest)
    }
    fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.signing_keys_impl()
    }
    fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        self.changes_since_impl(after, limit)
    }
    fn latest_change(&self) -> StoreResult<i64> {
        self.latest_change_impl()
    }
    fn ping(&self) -> StoreResult<()> {
        self.ping_impl()
    }
}

impl Store for DieselStore {
    fn create_environment(
        &self,
        new: &NewEnvironment,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment> {
        self.create_environment_impl(new, now)
    }
    fn environment_by_slug(&self, slug: &EnvironmentSlug) -> StoreResult<Option<Environment>> {
        self.environment_by_slug_impl(slug)
    }
    fn list_environments(
        &self,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<Environment>> {
        self.list_environments_impl(order, limit, cursor)
    }
    fn update_environment(
        &self,
        id: EnvironmentId,
        change: &EnvironmentChange,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment> {
        self.update_environment_impl(id, change, now)
    }
    fn create_role(&self, new: &NewRole, now: DateTime<Utc>) -> StoreResult<Role> {
        self.create_role_impl(new, now)
    }
    fn role_by_name(&self, env: EnvironmentId, name: &str) -> StoreResult<Option<Role>> {
        self.role_by_name_impl(env, name)
    }
    fn roles_by_names(&self, env: EnvironmentId, names: &[RoleName]) -> StoreResult<Vec<Role>> {
        self.roles_by_names_impl(env, names)
    }
    fn list_roles(
        &self,
        env: EnvironmentId,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<Role>> {
        self.list_roles_impl(env, order, limit, cursor)
    }
    fn replace_role_permissions(
        &self,
        id: RoleId,
        permissions: &[Permission],
        now: DateTime<Utc>,
    ) -> StoreResult<Role> {
        self.replace_role_permissions_impl(id, permissions, now)
    }
    fn delete_role(
        &self,
        id: RoleId,
        force: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ClientId>> {
        self.delete_role_impl(id, force, now)
    }
    fn create_app(&self, new: &NewApp, quota: Quota, now: DateTime<Utc>) -> StoreResult<ClientApp> {
        self.create_app_impl(new, quota, now)
    }
    fn app_in_environment(
        &self,
        env: EnvironmentId,
        client_id: &ClientId,
    ) -> StoreResult<Option<ClientApp>> {
        self.app_in_environment_impl(env, client_id)
    }
    fn list_apps(&self, env: EnvironmentId, query: &AppQuery) -> StoreResult<Page<ClientApp>> {
        self.list_apps_impl(env, query)
    }
    fn replace_app_roles(
        &self,
        app: AppId,
        roles: &[RoleId],
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp> {
        self.replace_app_roles_impl(app, roles, now)
    }
    fn set_app_status(
        &self,
        app: AppId,
        status: AppStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp> {
        self.set_app_status_impl(app, status, now)
    }
    fn delete_app(&self, app: AppId, now: DateTime<Utc>) -> StoreResult<()> {
        self.delete_app_impl(app, now)
    }
    fn record_app_usage(&self, usage: &[(AppId, DateTime<Utc>)]) -> StoreResult<()> {
        self.record_app_usage_impl(usage)
    }
    fn create_admin(&self, new: &NewAdmin, now: DateTime<Utc>) -> StoreResult<AdminUser> {
        self.create_admin_impl(new, now)
    }
    fn admin_by_username(&self, username: &Username) -> StoreResult<Option<AdminUser>> {
        self.admin_by_username_impl(username)
    }
    fn list_admins(
        &self,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<AdminUser>> {
        self.list_admins_impl(order, limit, cursor)
    }
    fn delete_admin(&self, id: AdminId, now: DateTime<Utc>) -> StoreResult<()> {
        self.delete_admin_impl(id, now)
    }
    fn replace_admin_credential(
        &self,
        id: AdminId,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<AdminUser> {
        self.replace_admin_credential_impl(id, digest, now)
    }
    fn any_admin(&self) -> StoreResult<bool> {
        self.any_admin_impl()
    }
    fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        self.insert_signing_key_impl(key)
    }
    fn prune_changes(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        self.prune_changes_impl(before)
    }
}
