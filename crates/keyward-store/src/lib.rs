//! What Keyward's core needs from storage — one trait per aggregate, and [`Store`], their
//! union — and, behind the `sqlite` and `postgres` features, [`DieselStore`], the diesel
//! implementation on SQLite or PostgreSQL (one set of queries over a diesel
//! `MultiConnection`) with embedded migrations for each.
//!
//! # Traits
//!
//! - [`LiveSource`]: the read side a credential check needs (app state, environments,
//!   roles, admin credentials, signing keys, the change feed). An embedded validator
//!   runs on this alone.
//! - [`EnvironmentStore`], [`RoleStore`], [`AppStore`], [`ApiKeyStore`], [`AdminStore`],
//!   [`SigningKeyStore`], [`ChangeFeed`]: the management side, one per aggregate.
//! - [`AuditStore`]: the audit log, appended inside the transaction of the change it
//!   records.
//! - [`Transactions`]: several writes, to several aggregates, as one transaction.
//! - [`Store`]: all of them; implemented for every type that implements each, so
//!   `Arc<dyn Store>` serves the core and upcasts to `Arc<dyn LiveSource>`.
//!
//! Nothing above this crate sees diesel: the traits speak in domain types.
//!
//! # The change feed
//!
//! Every write method is one transaction. A write that changes what a credential check
//! or a cache could see appends a [`Change`] in that same transaction, so caches in this
//! and other processes can follow: creating an environment, role, app or admin;
//! renaming, enabling or disabling an environment (one change whenever a field was
//! given, even if it already had that value); replacing a role's permissions or an
//! app's roles; deleting a role (plus one change per app it was unbound from), an app or
//! an admin; replacing an admin's credential; adding a signing key; changing an
//! app's status; rotating an app's secret or ending its previous one (a change of the
//! app); creating or deleting an API key (a change of the key); revoking an access
//! token ([`ChangeSubject::TokenRevoked`]); replacing an app's JWK Set (a change of the
//! app), an environment's audiences (a change of the environment); and retiring
//! signing keys.
//!
//! Three writes deliberately append nothing: [`AppStore::record_usage`]
//! (`last_used_at` is not live state, and a change per usage batch would make every
//! follower reload apps that did not change), [`ChangeFeed::prune_changes`] (it removes
//! feed rows, it does not change state), and [`AppStore::set_app_status`] to the status
//! the app already has (a no-op). A write refused by a rule appends nothing either: its
//! transaction rolls back.
//!
//! Readers rely on one promise (see [`LiveSource::changes_since`]): a change never
//! appears below a sequence number a reader has already passed, and data lost to
//! pruning is reported as an [`ChangeSubject::Unknown`] change, never as a silent hole.
//! On SQLite, which has one writer at a time, `AUTOINCREMENT` numbers are taken in
//! commit order. On PostgreSQL, where transactions commit in any order, rows are
//! numbered as their transaction commits, by a deferred trigger holding a one-row
//! counter through the commit (`sql/feed.rs` explains why, and why not a horizon on
//! transaction ids). On PostgreSQL every change also sends `NOTIFY keyward_changes` at
//! commit, which a [`ChangeListener`] (a dedicated connection outside the pool) turns
//! into an immediate wake-up; polling the feed stays the fallback.
//!
//! # Invariants under concurrency
//!
//! The database holds them, inside the writing transaction, and none of them relies on
//! writers being serialised (SQLite's `BEGIN IMMEDIATE` does serialise them; PostgreSQL,
//! where every session runs READ COMMITTED, does not):
//!
//! - Unique names: unique indexes — role and app names per environment and usernames
//!   case-insensitively (`lower(…)`; a deleted app frees its name), environment slugs,
//!   and client IDs for ever (tombstones keep theirs).
//! - The app quota: a conditional `UPDATE environments SET client_app_count =
//!   client_app_count + 1 WHERE client_app_count < limit` as the first statement of the
//!   inserting transaction, its row count deciding; a `CHECK (client_app_count >= 0)`
//!   backstop.
//! - Every other rule is a conditional write whose row count decides, never a read
//!   followed by an unconditional write: deleting an app only `WHERE status =
//!   'INACTIVE'`; changing an app's status or roles only while it is not deleted;
//!   deleting a role only while nothing is bound to it (unless forced, when the bindings
//!   removed are the ones reported); deleting a Super Admin only while another exists.
//!   A rule that spans several rows (bindings of a role, the set of Super Admins) first
//!   claims the row(s) every conflicting writer must also claim, with a no-op
//!   conditional `UPDATE`, so the decision is taken after every conflicting write has
//!   committed. The implementing methods in `src/sql/` document each.

#![cfg_attr(
    not(test),
    deny(clippy::panic, clippy::indexing_slicing, clippy::as_conversions)
)]
// Tests may read the clock and the OS RNG (see clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

mod records;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

pub use records::*;
#[cfg(feature = "postgres")]
pub use sql::ChangeListener;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::{redact_url, Backend, DieselStore, StartupLock, StoreOptions};

use chrono::{DateTime, Utc};
use keyward_domain::{
    AdminId, AdminUser, ApiKey, AppId, AppSecret, AppStatus, ClientApp, ClientId, CredentialId,
    Cursor, Environment, EnvironmentId, EnvironmentSlug, Page, PageLimit, Permission, Quota, Role,
    RoleId, RoleName, SortOrder, Username,
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
    /// The client secret named is the app's current one, which only a rotation ends.
    #[error("the current secret cannot be ended; rotate it instead")]
    CurrentSecret,
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
    /// The user with this username (case-insensitively), for impersonation.
    fn user_by_username(&self, username: &Username) -> StoreResult<Option<UserState>>;
    /// The live app bound to this external client ID, if any.
    fn external_binding(&self, external_client_id: &str) -> StoreResult<Option<ExternalBinding>>;
    /// An environment's identity provider.
    fn identity_provider(&self, env: EnvironmentId) -> StoreResult<Option<IdentityProvider>>;
    /// The identity providers naming this issuer (external tokens are matched by `iss`).
    fn identity_providers_by_issuer(&self, issuer: &str) -> StoreResult<Vec<IdentityProvider>>;
    /// The API key with this SHA-256 digest (expired ones included: the caller checks
    /// the expiry against its clock).
    fn api_key_by_digest(&self, digest: &[u8; 32]) -> StoreResult<Option<ApiKeyState>>;
    /// Every signing key not yet retired, oldest first.
    fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Every revoked access token whose `exp` is not before `now` (the ones still worth
    /// refusing), for a validator to load at start; later revocations arrive through the
    /// change feed ([`ChangeSubject::TokenRevoked`]).
    fn revoked_tokens(&self, now: DateTime<Utc>) -> StoreResult<Vec<RevokedTokenId>>;
    /// Changes after `after`, oldest first, at most `limit` (plus one leading
    /// [`ChangeSubject::Unknown`] when changes after `after` were pruned: then what they
    /// said is lost and a follower must start over).
    ///
    /// Only changes that are safe to pass: once a change with sequence number `n` has
    /// been returned, no change with a number below `n` will ever appear (on PostgreSQL,
    /// where transactions commit out of order, rows are numbered at commit). A follower
    /// must not read a hole in the numbers as lost data: loss is only ever said by the
    /// leading `Unknown`.
    fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>>;
    /// The position a new follower starts from: the newest change's sequence number (0
    /// when none); every change committed later gets a larger one.
    fn latest_change(&self) -> StoreResult<i64>;
    /// Whether the storage answers at all, and is still the storage that was opened
    /// (for SQLite: the path names the same file; a deleted or replaced database file
    /// answers `Unavailable`).
    fn ping(&self) -> StoreResult<()>;
}

/// Environments: create (with their built-in roles), look up, list, update.
pub trait EnvironmentStore: Send + Sync {
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
}

/// Roles of an environment: create, look up, list, replace permissions, delete.
pub trait RoleStore: Send + Sync {
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
    /// Replaces a custom role's permissions (`NotFound` for a built-in or missing role).
    fn replace_role_permissions(
        &self,
        id: RoleId,
        permissions: &[Permission],
        now: DateTime<Utc>,
    ) -> StoreResult<Role>;
    /// Deletes a custom role (`NotFound` for a built-in or missing one). Without `force`,
    /// `RoleInUse` while any app is bound to it; with `force`, unbinds it from its apps
    /// in the same transaction. Returns the client IDs of the apps it was unbound from.
    fn delete_role(
        &self,
        id: RoleId,
        force: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ClientId>>;
}

/// Client apps: create inside the quota, look up, list, roles, status, delete, usage.
pub trait AppStore: Send + Sync {
    /// The stored secrets of a live app, current first (none for a deleted or unknown
    /// app), expired ones included: the caller checks expiry against its clock. Only
    /// client authentication needs them: they are not part of [`AppState`], the read
    /// model validators get, so a resource server never holds a secret hash.
    fn app_secrets(&self, client_id: &ClientId) -> StoreResult<Vec<StoredSecret>>;
    /// The secrets of a live app as the API shows them, current first, expired ones
    /// included (the caller filters by its clock).
    fn list_app_secrets(&self, app: AppId) -> StoreResult<Vec<AppSecret>>;
    /// Rotates an app's secret in one transaction: previous secrets still stored end
    /// now (deleted), the current one becomes the previous one until
    /// `previous_expires_at`, and `new` becomes the current one. `NotFound` once the
    /// app is deleted.
    fn rotate_app_secret(
        &self,
        app: AppId,
        new: &NewSecret,
        previous_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Ends a previous secret now. `CurrentSecret` for the current one, `NotFound` for
    /// an unknown one.
    fn end_app_secret(&self, app: AppId, id: &CredentialId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Creates an app with its secret hash and roles, inside the quota, in one transaction.
    fn create_app(&self, new: &NewApp, quota: Quota, now: DateTime<Utc>) -> StoreResult<ClientApp>;
    /// An app (not deleted) by client ID within an environment.
    fn app_in_environment(
        &self,
        env: EnvironmentId,
        client_id: &ClientId,
    ) -> StoreResult<Option<ClientApp>>;
    /// Apps of an environment (deleted ones excluded), optionally filtered.
    fn list_apps(&self, env: EnvironmentId, query: &AppQuery) -> StoreResult<Page<ClientApp>>;
    /// Replaces an app's roles (`NotFound` once it is deleted, `UnknownRole` when a role
    /// was deleted meanwhile).
    fn replace_app_roles(
        &self,
        app: AppId,
        roles: &[RoleId],
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp>;
    /// Sets an app's status (idempotent: setting the status it has appends no change;
    /// `NotFound` once it is deleted).
    fn set_app_status(
        &self,
        app: AppId,
        status: AppStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp>;
    /// Deletes an inactive app for good: its secrets, API keys and role bindings go, a
    /// tombstone keeps its client ID from ever being reused. `AppIsActive` otherwise.
    fn delete_app(&self, app: AppId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Writes a batch of `last_used_at` values of apps, secrets and API keys (never
    /// moving one backwards; values of credentials deleted meanwhile are dropped).
    /// Appends no change: usage is not live state.
    fn record_usage(&self, usage: &Usage) -> StoreResult<()>;
}

/// API keys of client apps.
pub trait ApiKeyStore: Send + Sync {
    /// Creates an API key for a live app, inside the per-app quota (a conditional
    /// increment of the app's key count decides, as the first statement of the
    /// transaction). `QuotaReached`, `NameTaken` (per app, case-insensitively), or
    /// `NotFound` once the app is deleted.
    fn create_api_key(
        &self,
        new: &NewApiKey,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> StoreResult<ApiKey>;
    /// The API keys of an app, oldest first (bounded by the quota).
    fn list_api_keys(&self, app: AppId) -> StoreResult<Vec<ApiKey>>;
    /// What credential checks need of an app's API keys (digests included), for remote
    /// validators' snapshots.
    fn api_key_states(&self, app: AppId) -> StoreResult<Vec<ApiKeyState>>;
    /// One API key's check state by its public identifier (`None` once deleted).
    fn api_key_state(&self, id: &CredentialId) -> StoreResult<Option<ApiKeyState>>;
    /// Deletes an API key of an app (`NotFound` if it has no such key): it stops working
    /// at once, and its quota slot is freed.
    fn delete_api_key(&self, app: AppId, id: &CredentialId, now: DateTime<Utc>) -> StoreResult<()>;
}

/// Admin users and their personal credentials.
pub trait AdminStore: Send + Sync {
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
    /// the only Super Admin (decided by the deleting statement itself).
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
    /// Replaces a user's global role and environment roles. `LastSuperAdmin` when no
    /// active Super Admin would be left.
    fn replace_user_roles(
        &self,
        id: AdminId,
        role: Option<keyward_domain::AdminRole>,
        role_ids: &[RoleId],
        now: DateTime<Utc>,
    ) -> StoreResult<AdminUser>;
    /// Activates or deactivates a user. `LastSuperAdmin` when no active Super Admin
    /// would be left.
    fn set_user_status(
        &self,
        id: AdminId,
        status: AppStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<AdminUser>;
}

/// Federation: environments' identity providers and apps' bindings to them.
pub trait FederationStore: Send + Sync {
    /// Sets (creates or replaces) an environment's identity provider.
    fn set_identity_provider(&self, idp: &IdentityProvider) -> StoreResult<IdentityProvider>;
    /// Removes an environment's identity provider (`NotFound` if it has none).
    fn delete_identity_provider(&self, env: EnvironmentId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Binds a live app to an external client ID (unique across Keyward: `NameTaken`),
    /// optionally impersonating a user; `None` unbinds.
    fn bind_external(
        &self,
        app: AppId,
        external_client_id: Option<&str>,
        impersonate: Option<&Username>,
        now: DateTime<Utc>,
    ) -> StoreResult<ClientApp>;
}

/// Writing signing keys (reading them is [`LiveSource::signing_keys`]).
pub trait SigningKeyStore: Send + Sync {
    /// Stores a new signing key.
    fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
}

/// What the OAuth standards need from storage (issue 15): revoked tokens (RFC 7009),
/// client assertion IDs seen (RFC 7523), apps' public JWK Sets, environments' allowed
/// audiences (RFC 8707) and retiring signing keys.
pub trait OAuthStore: Send + Sync {
    /// Records a revoked token and appends [`ChangeSubject::TokenRevoked`] in the same
    /// transaction. `false` when it was already revoked (nothing appended).
    fn revoke_token(&self, token: &RevokedToken, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Records a client assertion's `jti` for its client until `expires_at`. `false`
    /// when the pair was recorded before: a replay. The primary key decides, so it holds
    /// across instances.
    fn claim_assertion_id(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Drops revoked tokens and assertion IDs whose expiry is before `now` (no change is
    /// appended: an expired token fails by itself). Returns how many rows went.
    fn prune_expired(&self, now: DateTime<Utc>) -> StoreResult<usize>;
    /// The public JWK Set (JSON) a live app registered for `private_key_jwt`.
    fn client_jwks(&self, client_id: &ClientId) -> StoreResult<Option<String>>;
    /// Replaces (or with `None` removes) an app's JWK Set; appends a change of the app.
    /// `NotFound` once the app is deleted.
    fn set_client_jwks(
        &self,
        app: AppId,
        client_id: &ClientId,
        jwks: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The audiences (RFC 8707 resource indicators) an environment allows, sorted.
    fn environment_audiences(&self, env: EnvironmentId) -> StoreResult<Vec<String>>;
    /// Replaces an environment's allowed audiences; appends a change of the environment.
    fn set_environment_audiences(
        &self,
        env: EnvironmentId,
        audiences: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Marks signing keys retired (they leave the JWK Set and stop verifying); appends
    /// [`ChangeSubject::SigningKeys`] when any was retired. Returns how many.
    fn retire_signing_keys(&self, kids: &[String], now: DateTime<Utc>) -> StoreResult<usize>;
}

/// Maintaining the change feed (reading it is [`LiveSource::changes_since`]).
pub trait ChangeFeed: Send + Sync {
    /// Drops change-feed entries older than `before`, always keeping the newest one so
    /// the sequence never restarts below a reader's position. Appends no change.
    fn prune_changes(&self, before: DateTime<Utc>) -> StoreResult<usize>;
}

/// Several writes, possibly to several aggregates, as one: what they change commits
/// together or not at all.
pub trait Transactions: Send + Sync {
    /// Runs `work`; every store write it makes on this thread joins one transaction,
    /// committed when `work` returns `Ok` and rolled back otherwise (a panic included).
    /// A nested call joins the outer transaction. Change-feed rows appended inside
    /// commit with the rest, so other processes see all of it or none. Writes see each
    /// other (and return what they wrote); plain reads made inside may run on another
    /// connection and see the state from before the transaction.
    fn transaction(&self, work: &mut dyn FnMut() -> StoreResult<()>) -> StoreResult<()>;
}

/// The audit log (issue 18): who changed what, when and from where.
pub trait AuditStore: Send + Sync {
    /// Appends an entry. Like every write it joins the ambient transaction of
    /// [`Transactions::transaction`] on this thread, so an entry appended there commits
    /// with the change it records or not at all. Appends no change to the feed.
    fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<()>;
    /// Entries newest first (by time, then id), filtered and paginated.
    fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEntry>>;
    /// Drops entries older than `before`; returns how many. Appends no change.
    fn prune_audit(&self, before: DateTime<Utc>) -> StoreResult<usize>;
}

/// Console sessions and the password login behind them (SPEC §8).
pub trait SessionStore: Send + Sync {
    /// What a password login needs to know about a user, if the username exists.
    fn login_record(&self, username: &Username) -> StoreResult<Option<LoginRecord>>;
    /// Replaces a user's password hash; `must_change` asks for a new one at next login.
    fn set_password(
        &self,
        user: AdminId,
        password_hash: &str,
        must_change: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Stores a new session under the SHA-256 digest of its token.
    fn create_session(
        &self,
        user: AdminId,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The session with this digest, with its user's name, if it exists.
    fn session(&self, digest: &[u8; 32]) -> StoreResult<Option<SessionRecord>>;
    /// Records that the session was used at `now` (idle expiry counts from it).
    fn touch_session(&self, digest: &[u8; 32], now: DateTime<Utc>) -> StoreResult<()>;
    /// Ends one session (logout). Ending an unknown session is not an error.
    fn delete_session(&self, digest: &[u8; 32]) -> StoreResult<()>;
    /// Ends every session of `user` except the one with digest `keep`, if given (a password
    /// change keeps the session that made it; an operator resetting the password ends all).
    fn delete_other_sessions(&self, user: AdminId, keep: Option<&[u8; 32]>) -> StoreResult<()>;
    /// Deletes sessions idle since before `idle_before`; returns how many.
    fn delete_idle_sessions(&self, idle_before: DateTime<Utc>) -> StoreResult<usize>;
}

/// Everything Keyward's core needs from storage: the union of the per-aggregate traits,
/// implemented for every type that implements them all.
pub trait Store:
    LiveSource
    + EnvironmentStore
    + RoleStore
    + AppStore
    + ApiKeyStore
    + AdminStore
    + FederationStore
    + SigningKeyStore
    + OAuthStore
    + SessionStore
    + AuditStore
    + ChangeFeed
    + Transactions
{
}

impl<T> Store for T where
    T: LiveSource
        + EnvironmentStore
        + RoleStore
        + AppStore
        + ApiKeyStore
        + AdminStore
        + FederationStore
        + SigningKeyStore
        + OAuthStore
        + SessionStore
        + AuditStore
        + ChangeFeed
        + Transactions
        + ?Sized
{
}
