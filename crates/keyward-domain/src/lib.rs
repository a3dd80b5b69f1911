//! Keyward's domain model: the types and rules of environments, client apps, roles,
//! permissions, API keys, client secrets and admin users, and the lifecycle decisions made on them.
//!
//! Architecture invariant: this crate does no I/O, reads no clock and draws no
//! randomness; it compiles without diesel, actix or tokio. Time comes in as a
//! parameter, and every validated type can only be built through its constructor.

#![cfg_attr(
    not(test),
    deny(clippy::panic, clippy::indexing_slicing, clippy::as_conversions)
)]
// Tests may read the clock and the OS RNG (see clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

mod admin;
mod app;
mod credential;
mod environment;
mod error;
mod page;
mod permission;
mod role;

pub use admin::{AdminId, AdminRole, AdminUser, EnvironmentRoles, Password, UserStatus, Username};
pub use app::{AppId, AppName, AppStatus, ClientApp, ClientId, Quota};
pub use credential::{
    api_key_expiry, grace_period, live_at, ApiKey, ApiKeyName, AppSecret, CredentialId,
    DEFAULT_GRACE_PERIOD_SECS, MAX_GRACE_PERIOD_SECS,
};
pub use environment::{Environment, EnvironmentId, EnvironmentName, EnvironmentSlug};
pub use error::ValidationError;
pub use page::{Cursor, Page, PageLimit, SortOrder};
pub use permission::{Grants, Permission, MAX_SCOPE_LEN, RESERVED_RESOURCES};
pub use role::{BuiltinRole, Role, RoleId, RoleName};
