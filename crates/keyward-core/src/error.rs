//! The core's one error type, in the domain's words. keyward-http maps every variant
//! to a status and a body in one function.

use keyward_domain::ValidationError;
use keyward_store::StoreError;
use thiserror::Error;

use crate::hashing::HashError;

/// What a resource is, for "not found" and "name taken" answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// An environment.
    Environment,
    /// A client app.
    ClientApp,
    /// A role.
    Role,
    /// An admin user.
    Admin,
}

impl Resource {
    /// The resource's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Environment => "environment",
            Self::ClientApp => "client app",
            Self::Role => "role",
            Self::Admin => "admin user",
        }
    }
}

/// Why a use case did not happen.
#[derive(Debug, Error)]
pub enum Error {
    /// Input fields were refused; every refusal is listed.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
    /// The addressed resource does not exist.
    #[error("{} not found", .0.as_str())]
    NotFound(Resource),
    /// The name is already used by another resource of that kind.
    #[error("{} name taken", .0.as_str())]
    NameTaken(Resource),
    /// The environment holds as many client apps as allowed.
    #[error("the environment already holds {0} client apps, the most allowed")]
    QuotaReached(i64),
    /// The app is active; deactivate it before deleting it.
    #[error("the client app is active; deactivate it first")]
    AppIsActive,
    /// The role is bound to apps; delete with `force=true` to unbind them.
    #[error("the role is bound to {0} client app(s)")]
    RoleInUse(usize),
    /// Built-in roles cannot be changed or deleted.
    #[error("built-in roles cannot be changed or deleted")]
    BuiltinRole,
    /// The last Super Admin cannot be removed.
    #[error("the last Super Admin cannot be removed")]
    LastSuperAdmin,
    /// Only Super Admins hold personal API credentials.
    #[error("only a Super Admin holds a personal API credential")]
    NotSuperAdmin,
    /// The caller tried to grant or touch more management power than it holds.
    #[error("cannot grant or change management permissions the caller does not hold: {0}")]
    Escalation(String),
    /// The credential is missing, malformed, expired, revoked or no longer valid.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// The credential is valid but not allowed this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Storage cannot be reached right now.
    #[error("storage unavailable")]
    Unavailable(String),
    /// Too much work queued (e.g. hashing); try again shortly.
    #[error("overloaded")]
    Overloaded,
    /// The answer needs storage or hashing and the caller asked for memory only.
    #[error("needs blocking I/O")]
    WouldBlock,
    /// A bug or corrupt data; logged, shown as 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// One invalid field.
    pub fn invalid(e: ValidationError) -> Self {
        Self::Invalid(vec![e])
    }

    /// Maps a storage error where the resource in question is `resource`.
    pub fn from_store(e: StoreError, resource: Resource) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound(resource),
            StoreError::NameTaken => Self::NameTaken(resource),
            other => other.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::Internal("unexpected not found".into()),
            StoreError::NameTaken => Self::Internal("unexpected unique violation".into()),
            StoreError::QuotaReached => Self::QuotaReached(0),
            StoreError::AppIsActive => Self::AppIsActive,
            StoreError::LastSuperAdmin => Self::LastSuperAdmin,
            StoreError::RoleInUse(n) => Self::RoleInUse(n),
            StoreError::UnknownRole(name) => Self::invalid(ValidationError::new(
                "roles",
                format!("no role named `{name}` in this environment"),
            )),
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::Corrupt(m) => Self::Internal(m),
        }
    }
}

impl From<HashError> for Error {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Overloaded => Self::Overloaded,
            other => Self::Internal(other.to_string()),
        }
    }
}
