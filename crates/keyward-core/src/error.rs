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
    /// An API key of a client app.
    ApiKey,
    /// A client secret of a client app.
    ClientSecret,
    /// An environment's identity provider.
    IdentityProvider,
    /// An app's external client ID (its binding to the identity provider).
    ExternalClientId,
}

impl Resource {
    /// The resource's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Environment => "environment",
            Self::ClientApp => "client app",
            Self::Role => "role",
            Self::Admin => "admin user",
            Self::ApiKey => "API key",
            Self::ClientSecret => "client secret",
            Self::IdentityProvider => "identity provider",
            Self::ExternalClientId => "external client ID",
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
    /// The app holds as many API keys as allowed.
    #[error("the client app already holds {0} API keys, the most allowed")]
    ApiKeyQuotaReached(i64),
    /// The secret named is the app's current one; only a rotation replaces it.
    #[error("the current secret cannot be ended; rotate the secret instead")]
    CurrentSecret,
    /// An identity provider's discovery failed (unreachable, not JSON, no token
    /// endpoint, issuer mismatch): the reason.
    #[error("identity provider discovery failed: {0}")]
    DiscoveryFailed(String),
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
    /// Client authentication failed: unknown client, wrong secret, inactive app or
    /// disabled environment — deliberately one answer for every cause.
    #[error("client authentication failed")]
    InvalidClient,
    /// The requested scope is malformed, not granted, or too long for one token.
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// The requested resource (RFC 8707 `resource`) is not an audience the client's
    /// environment allows (`invalid_target`).
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// Too many failed attempts for this client from this source, or from this source.
    #[error("too many failed attempts; retry after {retry_after} s")]
    Throttled {
        /// Seconds until attempts are accepted again.
        retry_after: u64,
    },
    /// The credential is valid but not allowed this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Storage cannot be reached right now.
    #[error("storage unavailable")]
    Unavailable(String),
    /// Too much work queued (e.g. hashing); try again shortly.
    #[error("overloaded")]
    Overloaded,
    /// A system Keyward depends on (e.g. the customer's identity provider) failed or
    /// did not answer in time.
    #[error("upstream failure: {0}")]
    Upstream(String),
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
            StoreError::CurrentSecret => Self::CurrentSecret,
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

/// Why a step that may answer from memory stopped: it needs I/O (storage or argon2)
/// that the caller did not allow, or it failed. Internal to the crate: the public API
/// offers `…_from_memory` (an `Option`) and blocking variants, never this signal.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Needs storage or hashing; the caller asked for memory only.
    Blocked,
    /// Failed.
    Failed(Error),
}

/// The result of such a step.
pub(crate) type Step<T> = Result<T, Stop>;

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<HashError> for Stop {
    fn from(e: HashError) -> Self {
        Self::Failed(e.into())
    }
}

/// A step run with I/O allowed: it cannot be blocked (if it were, that is a bug).
pub(crate) fn with_io<T>(step: Step<T>) -> Result<T, Error> {
    step.map_err(|stop| match stop {
        Stop::Failed(e) => e,
        Stop::Blocked => Error::Internal("a step with I/O allowed asked for I/O".into()),
    })
}

/// A step run from memory: `None` when it needs I/O.
pub(crate) fn from_memory<T>(step: Step<T>) -> Option<Result<T, Error>> {
    match step {
        Ok(v) => Some(Ok(v)),
        Err(Stop::Failed(e)) => Some(Err(e)),
        Err(Stop::Blocked) => None,
    }
}
