//! What Keyward's core needs from storage — the [`Store`] trait — and, behind the
//! `sqlite` feature, [`DieselStore`], its diesel implementation with embedded migrations.
//!
//! Architecture invariant: nothing above this crate sees diesel. The trait speaks in
//! domain types; every method that changes state is one transaction that also appends
//! a [`Change`] to the change feed, so caches in this and other processes can follow.
//! Invariants under concurrency (unique names, the app quota, delete-only-when-inactive)
//! are enforced by the database inside that transaction, not by check-then-write.

mod records;
#[cfg(feature = "sqlite")]
mod sql;

pub use records::*;
#[cfg(feature = "sqlite")]
pub use sql::{DieselStore, StoreOptions};

use chrono::{DateTime, Utc};
use keyward_domain::{
    AdminId, AdminUser, AppId, AppStatus, ClientApp, ClientId, Cursor, Environment, EnvironmentId,
    EnvironmentSlug, Page, PageLimit, Role, RoleId, RoleName, SortOrder, Username,
};
use thiserror::Error;

/// Why a storage call failed, in the domain's words.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The environment, app, role or admin does not exist.
    #[error("not found")]
    NotFound,
    /// A unique name (app, role, environment slug, username) is already used.
    #[error("name taken")]
    NameTaken,
    /// The environment already holds as many client apps as allowed.
    #[error("client app quota reached")]
    QuotaReached,
    /// The app is still active, so it cannot be deleted.
    #[error("app is active")]
    AppIsActive,
    /// The role is still bound to apps; delete it with `force` to unbind them.
    #[error("role is bound to {0} app(s)")]
    RoleInUse(usize),
    /// Deleting this admin would leave no Super Admin.
    #[error("the last Super Admin cannot be deleted")]
    LastSuperAdmin,
    /// A role named in the request does not exist in the environment.
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    /// The storage cannot be reached or is too busy (e.g. locked past the busy timeout).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The storage holds something this version cannot read (a bug or a manual edit).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// The result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// What validating a credential needs: read-only lookups of live state and the change
/// feed. An embedded validator can run on this alone; a remote feed can implement it.
pub trait LiveSource: Send + Sync {
    /// The app with this client ID, including a deleted one's tombstone.
    fn app_state(&self, client_id: &ClientId) -> StoreResult<Option<AppState>>;
    /// An environment by id.
    fn environment_by_id(&self, id: EnvironmentId) -> StoreResult<Option<Environment>>;
    /// Roles by id (missing ids are skipped).
    fn roles_by_ids(&self, ids: &[RoleId]) -> StoreResult<Vec<Role>>;
    /// The admin holding the personal credential with this SHA-256 digest.
    fn admin_by_credential(&self, digest: &[u8; 32]) -> StoreResult<Option<AdminUser>>;
    /// Every signing key not yet retired, oldest first.
    fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Changes after `after`, oldest first, at most `limit`.
    fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>>;
    /// The newest change's sequence number (0 when none).
    fn latest_change(&self) -> StoreResult<i64>;
    /// Whether the storage answers at all, and is still the storage that was opened
    /// (for SQLite: the path names the same file; a deleted or replaced database file
    /// answers `Unavailable`).
    fn ping(&self) -> StoreResult<()>;
}

/// Everything Keyward's core needs from storage.
pub trait Store: LiveSource {
    // ----- environments -----
    /// Creates an environment with its built-in roles.
    fn create_environment(
        &self,
        new: &NewEnvironment,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment>;
    /// An environment by slug.
    fn environment_by_slug(&self, slug: &EnvironmentSlug) -> StoreResult<Option<Environment>>;
    /// Environments by creation time.
    fn list_environments(
        &self,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<Environment>>;
    /// Changes an environment's display name and/or enabled flag.
    fn update_environment(
        &self,
        id: EnvironmentId,
        change: &EnvironmentChange,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment>;

    // ----- roles -----
    /// Creates a custom role.
    fn create_role(&self, new: &NewRole, now: DateTime<Utc>) -> StoreResult<Role>;
    /// A role by name (exact) in an environment.
    fn role_by_name(&self, env: EnvironmentId, name: &str) -> StoreResult<Option<Role>>;
    /// Roles of an environment by name, for binding; `UnknownRole` for a missing one.
    fn roles_by_names(&self, env: EnvironmentId, names: &[RoleName]) -> StoreResult<Vec<Role>>;
    /// Roles of an environment by creation time.
    fn list_roles(
        &self,
        env: EnvironmentId,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<Role>>;
    /// Replaces a custom role's permissions.
    fn replace_role_permissions(
        &self,
        id: RoleId,
        permissions: &[keyward_domain::Permission],
        now: DateTime<Utc>,
    ) -> StoreResult<Role>;
    /// Deletes a custom role; with `force`, unbinds it from its apps first.
    /// Returns the client IDs of the apps it was unbound from.
    fn delete_role(
        &self,
        id: RoleId,
        force: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ClientId>>;

    // ----- client apps -----
    /// Creates an app with its secret hash and roles, inside the quota, in one transaction.
    fn create_app(
        &self,
        new: &NewApp,
        quota: keyward_domain::Quota,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp>;
    /// An app (not deleted) by client ID within an environment.
    fn app_in_environment(
        &self,
        env: EnvironmentId,
        client_id: &ClientId,
    ) -> StoreResult<Option<ClientApp>>;
    /// Apps of an environment (deleted ones excluded), optionally filtered.
    fn list_apps(&self, env: EnvironmentId, query: &AppQuery) -> StoreResult<Page<ClientApp>>;
    /// Replaces an app's roles.
    fn replace_app_roles(
        &self,
        app: AppId,
        roles: &[RoleId],
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp>;
    /// Sets an app's status (idempotent).
    fn set_app_status(
        &self,
        app: AppId,
        status: AppStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp>;
    /// Deletes an inactive app for good: its secret hash and role bindings go, a
    /// tombstone keeps its client ID from ever being reused. `AppIsActive` otherwise.
    fn delete_app(&self, app: AppId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Writes a batch of `last_used_at` values (never moving one backwards).
    fn record_app_usage(&self, usage: &[(AppId, DateTime<Utc>)]) -> StoreResult<()>;

    // ----- admins -----
    /// Creates an admin user.
    fn create_admin(&self, new: &NewAdmin, now: DateTime<Utc>) -> StoreResult<AdminUser>;
    /// An admin by username (case-insensitive).
    fn admin_by_username(&self, username: &Username) -> StoreResult<Option<AdminUser>>;
    /// Admins by creation time.
    fn list_admins(
        &self,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> StoreResult<Page<AdminUser>>;
    /// Deletes an admin (and so their personal credential); `LastSuperAdmin` when it is
    /// the only Super Admin (checked inside the deleting transaction).
    fn delete_admin(&self, id: AdminId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Replaces an admin's personal credential digest: the old credential stops at once.
    fn replace_admin_credential(
        &self,
        id: AdminId,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<AdminUser>;
    /// Whether any admin exists (false only on a fresh database).
    fn any_admin(&self) -> StoreResult<bool>;

    // ----- signing keys -----
    /// Stores a new signing key.
    fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;

    // ----- change feed -----
    /// Drops change-feed entries older than `before`.
    fn prune_changes(&self, before: DateTime<Utc>) -> StoreResult<usize>;
}
