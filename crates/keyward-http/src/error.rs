//! The one place where errors become HTTP responses: RFC 9457 problem JSON for the
//! management API, RFC 6749 §5.2 bodies for the OAuth endpoints.
//!
//! Challenges follow RFC 6750 §3: a 401 to a request without a Bearer credential says
//! `Bearer realm="keyward"` and no error code; a 401 for a bad credential adds
//! `error="invalid_token"`; a 403 adds `error="insufficient_scope"` (and the permission
//! that was missing, when one route permission is at stake).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keyward_core::Error;

use crate::body::BodyError;
use crate::wire::oauth::OAuthErrorBody;
use crate::wire::{FieldErrorBody, ProblemBody};

/// How a core error is answered on every HTTP surface, whatever the body format: the
/// one exhaustive match over core errors (no wildcard arm, so a new variant does not
/// compile until it is classified). The OAuth bodies, `/oauth2/status` and `/healthz`
/// render from it; the problem JSON of the management API adds a problem type per
/// variant in [`ApiError`]'s `From<Error>`, whose statuses a test holds to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The request's input is wrong (400/422).
    Invalid,
    /// The addressed resource does not exist (404).
    NotFound,
    /// The request conflicts with the resource's state (409).
    Conflict,
    /// No valid credential (401).
    Unauthenticated,
    /// Client authentication failed at an OAuth endpoint (401).
    InvalidClient,
    /// The requested scope is not acceptable (400).
    InvalidScope,
    /// Too many failed attempts; retry after this many seconds (429).
    Throttled(u64),
    /// Authenticated but not allowed (403).
    Forbidden,
    /// Storage or hashing cannot serve now; retry shortly (503).
    Unavailable,
    /// A system Keyward depends on failed (502).
    Upstream,
    /// A bug or corrupt data (500).
    Internal,
}

impl Class {
    /// A short machine-readable name of the class (`/healthz` shows it).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Class::Invalid => "invalid",
            Class::NotFound => "not-found",
            Class::Conflict => "conflict",
            Class::Unauthenticated => "unauthenticated",
            Class::InvalidClient => "invalid-client",
            Class::InvalidScope => "invalid-scope",
            Class::Throttled(_) => "throttled",
            Class::Forbidden => "forbidden",
            Class::Unavailable => "storage-unavailable",
            Class::Upstream => "upstream-unavailable",
            Class::Internal => "internal",
        }
    }

    /// The HTTP status of this class.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Class::Invalid | Class::InvalidScope => StatusCode::BAD_REQUEST,
            Class::NotFound => StatusCode::NOT_FOUND,
            Class::Conflict => StatusCode::CONFLICT,
            Class::Unauthenticated | Class::InvalidClient => StatusCode::UNAUTHORIZED,
            Class::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Class::Forbidden => StatusCode::FORBIDDEN,
            Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Class::Upstream => StatusCode::BAD_GATEWAY,
            Class::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Classifies a core error (see [`Class`]).
pub(crate) fn classify(e: &Error) -> Class {
    match e {
        Error::Invalid(_) | Error::DiscoveryFailed(_) => Class::Invalid,
        Error::NotFound(_) => Class::NotFound,
        Error::NameTaken(_)
        | Error::QuotaReached(_)
        | Error::ApiKeyQuotaReached(_)
        | Error::CurrentSecret
        | Error::AppIsActive
        | Error::RoleInUse(_)
        | Error::BuiltinRole
        | Error::LastSuperAdmin
        | Error::NotSuperAdmin => Class::Conflict,
        Error::Escalation(_) | Error::Forbidden(_) => Class::Forbidden,
        Error::Unauthenticated(_) => Class::Unauthenticated,
        Error::InvalidClient => Class::InvalidClient,
        Error::InvalidScope(_) | Error::InvalidTarget(_) => Class::InvalidScope,
        Error::Throttled { retry_after } => Class::Throttled(*retry_after),
        Error::Unavailable(_) | Error::Overloaded => Class::Unavailable,
        Error::Upstream(_) => Class::Upstream,
        Error::Internal(_) => Class::Internal,
    }
}

/// Logs what an operator must see (storage trouble, upstream failures, bugs); client
/// mistakes are not logged as errors.
pub(crate) fn log_if_serious(surface: &str, e: &Error) {
    match classify(e) {
        Class::Unavailable | Class::Upstream => log::warn!("{surface}: {e}"),
        Class::Internal => log::error!("{surface}: {e}"),
        Class::Invalid
        | Class::NotFound
        | Class::Conflict
        | Class::Unauthenticated
        | Class::InvalidClient
        | Class::InvalidScope
        | Class::Throttled(_)
        | Class::Forbidden => {}
    }
}

/// The prefix of every problem `type` (a stable URN per kind of problem).
pub const PROBLEM_TYPE_PREFIX: &str = "urn:keyward:problem:";

/// A management API error, rendered as `application/problem+json` (boxed: errors are
/// rare, results are everywhere).
#[derive(Debug)]
pub struct ApiError(Box<Problem>);

#[derive(Debug)]
struct Problem {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    field_errors: Vec<(String, String)>,
    retry_after: Option<u64>,
    extra: Option<(&'static str, serde_json::Value)>,
    challenge: Challenge,
    close: bool,
}

/// The `WWW-Authenticate` challenge of a problem (RFC 6750 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    /// No challenge (not an authentication or authorization problem).
    None,
    /// `Bearer realm="keyward"`: the request carried no Bearer credential.
    Bearer,
    /// `error="invalid_token"`: the Bearer credential is not valid.
    InvalidToken,
    /// `error="insufficient_scope"`, with the permission that was missing when known.
    InsufficientScope(Option<String>),
}

impl Challenge {
    /// The header value, if any.
    fn header(&self) -> Option<HeaderValue> {
        match self {
            Challenge::None => None,
            Challenge::Bearer => Some(HeaderValue::from_static("Bearer realm=\"keyward\"")),
            Challenge::InvalidToken => Some(HeaderValue::from_static(
                "Bearer realm=\"keyward\", error=\"invalid_token\"",
            )),
            Challenge::InsufficientScope(scope) => {
                let plain = HeaderValue::from_static(
                    "Bearer realm=\"keyward\", error=\"insufficient_scope\"",
                );
                // A permission is `resource:action`; anything that could not sit in a
                // quoted string is left out rather than escaped.
                match scope {
                    Some(s)
                        if !s.is_empty()
                            && s.bytes()
                                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') =>
                    {
                        HeaderValue::from_str(&format!(
                            "Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"{s}\""
                        ))
                        .ok()
                        .or(Some(plain))
                    }
                    _ => Some(plain),
                }
            }
        }
    }
}

impl ApiError {
    /// A problem of `kind` with a status, title and detail.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        // Every management route is Bearer-protected: a 401 means a bad credential and
        // a 403 a permission the credential does not carry, unless said otherwise.
        let challenge = match status {
            StatusCode::UNAUTHORIZED => Challenge::InvalidToken,
            StatusCode::FORBIDDEN => Challenge::InsufficientScope(None),
            _ => Challenge::None,
        };
        Self(Box::new(Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            field_errors: vec![],
            retry_after: None,
            extra: None,
            challenge,
            close: false,
        }))
    }

    /// A 401 to a request that carried no Bearer credential at all: the challenge
    /// names no error (RFC 6750 §3.1).
    pub fn without_credentials(mut self) -> Self {
        if self.0.status == StatusCode::UNAUTHORIZED {
            self.0.challenge = Challenge::Bearer;
        }
        self
    }

    /// A 403 names the permission that was missing in its challenge (`scope=`).
    pub fn missing_scope(mut self, permission: impl Into<String>) -> Self {
        if self.0.status == StatusCode::FORBIDDEN {
            self.0.challenge = Challenge::InsufficientScope(Some(permission.into()));
        }
        self
    }

    /// Builds the response with `Allow: allow` (405).
    pub(crate) fn response_with_allow(&self, allow: &HeaderValue) -> HttpResponse {
        let mut res = self.error_response();
        res.headers_mut().insert(header::ALLOW, allow.clone());
        res
    }

    /// 400: the body is not what the route reads.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            "Malformed request body",
            detail,
        )
    }

    /// 422 with one or more field errors.
    pub fn invalid(errors: Vec<(String, String)>) -> Self {
        let detail = errors
            .iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
            "Invalid field",
            detail,
        );
        e.0.field_errors = errors;
        e
    }

    /// Adds an extension member to the problem body.
    pub fn with(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.0.extra = Some((key, value));
        self
    }

    /// The problem's `type` suffix (for tests and logs).
    pub fn kind(&self) -> &'static str {
        self.0.kind
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.status.as_u16(),
            self.0.kind,
            self.0.detail
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        let p = &self.0;
        let body = ProblemBody {
            kind: format!("{PROBLEM_TYPE_PREFIX}{}", p.kind),
            title: p.title,
            status: p.status.as_u16(),
            detail: &p.detail,
            errors: p
                .field_errors
                .iter()
                .map(|(field, message)| FieldErrorBody { field, message })
                .collect(),
            extension: p.extra.iter().map(|(k, v)| (*k, v.clone())).collect(),
        };
        let body = serde_json::to_string(&body).unwrap_or_else(|_| {
            // A problem of strings and numbers always serializes; this is never reached.
            String::from("{}")
        });
        let mut res = HttpResponse::build(p.status);
        res.content_type("application/problem+json");
        if let Some(challenge) = p.challenge.header() {
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if p.close {
            res.force_close();
        }
        if let Some(secs) = p.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.body(body)
    }
}

impl From<Error> for ApiError {
    /// Every core error maps here, exhaustively: a new variant does not compile until
    /// it has a status and a problem type.
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let detail = e.to_string();
        match e {
            Error::Invalid(errors) => {
                ApiError::invalid(errors.into_iter().map(|v| (v.field, v.message)).collect())
            }
            Error::DiscoveryFailed(_) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "idp-discovery-failed",
                "Identity provider discovery failed",
                detail,
            ),
            Error::NotFound(r) => ApiError::new(
                S::NOT_FOUND,
                "not-found",
                "Not found",
                format!("{} not found", r.as_str()),
            ),
            Error::NameTaken(_) => {
                ApiError::new(S::CONFLICT, "name-taken", "Name already taken", detail)
            }
            Error::QuotaReached(_) => ApiError::new(
                S::CONFLICT,
                "quota-reached",
                "Client app quota reached",
                detail,
            ),
            Error::ApiKeyQuotaReached(_) => ApiError::new(
                S::CONFLICT,
                "quota-reached",
                "API key quota reached",
                detail,
            ),
            Error::CurrentSecret => {
                ApiError::new(S::CONFLICT, "current-secret", "Current secret", detail)
            }
            Error::AppIsActive => {
                ApiError::new(S::CONFLICT, "app-is-active", "Client app is active", detail)
            }
            Error::RoleInUse(_) => ApiError::new(
                S::CONFLICT,
                "role-in-use",
                "Role is bound to client apps",
                format!("{detail}; delete with ?force=true to unbind it"),
            ),
            Error::BuiltinRole => {
                ApiError::new(S::CONFLICT, "builtin-role", "Built-in role", detail)
            }
            Error::LastSuperAdmin => {
                ApiError::new(S::CONFLICT, "last-super-admin", "Last Super Admin", detail)
            }
            Error::NotSuperAdmin => {
                ApiError::new(S::CONFLICT, "not-super-admin", "Not a Super Admin", detail)
            }
            Error::Escalation(_) => ApiError::new(
                S::FORBIDDEN,
                "privilege-escalation",
                "Privilege escalation refused",
                detail,
            ),
            Error::Unauthenticated(why) => ApiError::new(
                S::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
                format!("missing, invalid or revoked credential ({why})"),
            ),
            Error::Forbidden(_) => ApiError::new(S::FORBIDDEN, "forbidden", "Forbidden", detail),
            Error::InvalidClient => ApiError::new(
                S::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
                "client authentication failed",
            ),
            Error::InvalidScope(why) => {
                ApiError::new(S::BAD_REQUEST, "invalid-scope", "Invalid scope", why)
            }
            Error::InvalidTarget(why) => {
                ApiError::new(S::BAD_REQUEST, "invalid-target", "Invalid target", why)
            }
            Error::Throttled { retry_after } => {
                let mut e = ApiError::new(
                    S::TOO_MANY_REQUESTS,
                    "throttled",
                    "Too many failed attempts",
                    detail,
                );
                e.0.retry_after = Some(retry_after);
                e
            }
            Error::Upstream(m) => {
                log::warn!("upstream failure: {m}");
                ApiError::new(
                    S::BAD_GATEWAY,
                    "upstream-unavailable",
                    "Upstream unavailable",
                    "a system Keyward depends on did not answer; try again shortly",
                )
            }
            Error::Unavailable(m) => {
                log::warn!("storage unavailable: {m}");
                let mut e = ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "storage-unavailable",
                    "Storage unavailable",
                    "storage is unavailable; try again shortly",
                );
                e.0.retry_after = Some(1);
                e
            }
            Error::Overloaded => {
                let mut e = ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "Overloaded",
                    "too much work queued; try again shortly",
                );
                e.0.retry_after = Some(1);
                e
            }
            Error::Internal(_) => {
                log::error!("internal error: {detail}");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "an internal error occurred",
                )
            }
        }
    }
}

impl From<BodyError> for ApiError {
    /// 413 `body-too-large`, 408 `request-timeout` (connection closed), 400.
    fn from(e: BodyError) -> Self {
        let detail = e.to_string();
        match e {
            BodyError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Body too large",
                detail,
            ),
            BodyError::TimedOut { .. } => {
                let mut e = ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request-timeout",
                    "Request timeout",
                    detail,
                );
                e.0.close = true;
                e
            }
            BodyError::Unreadable(_) => ApiError::malformed(detail),
        }
    }
}

/// An RFC 6749 §5.2 error response from the token endpoint.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl From<BodyError> for OAuthError {
    /// 413 or 408 (connection closed) `invalid_request`; 400 for an unreadable body.
    fn from(e: BodyError) -> Self {
        let status = match e {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            code: "invalid_request",
            description: e.to_string(),
            retry_after: None,
        }
    }
}

impl OAuthError {
    /// The OAuth error code (`invalid_client`, `invalid_request`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            description: description.into(),
            retry_after: None,
        }
    }

    /// 401 `invalid_client`: one body for every cause, so it tells nothing.
    pub fn invalid_client() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: "client authentication failed".into(),
            retry_after: None,
        }
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "unsupported_grant_type",
            description: "only grant_type=client_credentials is supported".into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_scope",
            description: description.into(),
            retry_after: None,
        }
    }

    /// 400 `unsupported_token_type` (RFC 7009 §2.2.1): API keys are not revoked here.
    pub fn unsupported_token_type() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "unsupported_token_type",
            description: "API keys are deleted through the management API, not revoked here".into(),
            retry_after: None,
        }
    }

    /// 429: too many failed attempts for this client ID.
    pub fn throttled(retry_after: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "temporarily_unavailable",
            description: "too many failed attempts for this client; try again later".into(),
            retry_after: Some(retry_after),
        }
    }

    /// Maps a core error met at an OAuth endpoint, through [`classify`] (every
    /// variant has an RFC 6749 §5.2 answer).
    pub fn from_core(e: Error) -> Self {
        log_if_serious("oauth endpoint", &e);
        let class = classify(&e);
        let (code, description, retry_after) = match (class, e) {
            (Class::InvalidClient, _) | (Class::Unauthenticated, _) => {
                return Self::invalid_client();
            }
            (Class::Throttled(secs), _) => return Self::throttled(secs),
            (_, Error::InvalidScope(why)) => ("invalid_scope", why, None),
            (_, Error::InvalidTarget(why)) => ("invalid_target", why, None),
            (Class::Invalid, e) => ("invalid_request", e.to_string(), None),
            (Class::Forbidden, e) => ("unauthorized_client", e.to_string(), None),
            (Class::Unavailable, Error::Overloaded) => (
                "temporarily_unavailable",
                "too much work queued; try again shortly".to_owned(),
                Some(1),
            ),
            (Class::Unavailable, _) => (
                "temporarily_unavailable",
                "storage is unavailable; try again shortly".to_owned(),
                Some(1),
            ),
            // Federation's messages name what the identity provider said (its error
            // code, its HTTP status, or how it failed) and never a secret.
            (Class::Upstream, Error::Upstream(m)) => {
                ("temporarily_unavailable", m.clone(), Some(1))
            }
            (Class::Upstream, _) => (
                "temporarily_unavailable",
                "a system Keyward depends on did not answer; try again shortly".to_owned(),
                Some(1),
            ),
            (Class::InvalidScope, e) => ("invalid_scope", e.to_string(), None),
            // Management outcomes never arise at an OAuth endpoint: a bug if they do.
            (Class::NotFound | Class::Conflict | Class::Internal, _) => (
                "server_error",
                "an internal error occurred".to_owned(),
                None,
            ),
        };
        Self {
            status: class.status(),
            code,
            description,
            retry_after,
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"keyward\""));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            res.force_close();
        }
        res.json(OAuthErrorBody {
            error: self.code,
            error_description: &self.description,
        })
    }
}

#[cfg(test)]
mod tests {
    use keyward_core::Resource;
    use keyward_domain::ValidationError;

    use super::*;

    /// One value of every core error variant. The match makes a new variant fail to
    /// compile here until it is added to the list.
    fn every_error() -> Vec<Error> {
        let all = vec![
            Error::Invalid(vec![ValidationError::new("name", "bad")]),
            Error::DiscoveryFailed("unreachable".into()),
            Error::NotFound(Resource::ClientApp),
            Error::NameTaken(Resource::Role),
            Error::QuotaReached(20),
            Error::ApiKeyQuotaReached(10),
            Error::CurrentSecret,
            Error::AppIsActive,
            Error::RoleInUse(2),
            Error::BuiltinRole,
            Error::LastSuperAdmin,
            Error::NotSuperAdmin,
            Error::Escalation("roles:manage".into()),
            Error::Unauthenticated("token expired"),
            Error::InvalidClient,
            Error::InvalidScope("`x:y` is not granted".into()),
            Error::InvalidTarget("`https://x` is not allowed".into()),
            Error::Throttled { retry_after: 42 },
            Error::Forbidden("requires `a:b`".into()),
            Error::Unavailable("locked".into()),
            Error::Overloaded,
            Error::Upstream("idp timed out".into()),
            Error::Internal("bug".into()),
        ];
        for e in &all {
            match e {
                Error::Invalid(_)
                | Error::DiscoveryFailed(_)
                | Error::NotFound(_)
                | Error::NameTaken(_)
                | Error::QuotaReached(_)
                | Error::ApiKeyQuotaReached(_)
                | Error::CurrentSecret
                | Error::AppIsActive
                | Error::RoleInUse(_)
                | Error::BuiltinRole
                | Error::LastSuperAdmin
                | Error::NotSuperAdmin
                | Error::Escalation(_)
                | Error::Unauthenticated(_)
                | Error::InvalidClient
                | Error::InvalidScope(_)
                | Error::InvalidTarget(_)
                | Error::Throttled { .. }
                | Error::Forbidden(_)
                | Error::Unavailable(_)
                | Error::Overloaded
                | Error::Upstream(_)
                | Error::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn problem_statuses_agree_with_the_classifier() {
        for e in every_error() {
            let class = classify(&e);
            let label = e.to_string();
            let problem = ApiError::from(e);
            let expected = match class {
                // Field errors are 422 on the management API (RFC 9457 problem with
                // `errors`), 400 `invalid_request` on the OAuth endpoints.
                Class::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                other => other.status(),
            };
            assert_eq!(problem.status_code(), expected, "{label}");
        }
    }

    #[test]
    fn every_error_has_an_oauth_answer_and_retry_after_where_it_should() {
        for e in every_error() {
            let class = classify(&e);
            let label = e.to_string();
            let answer = OAuthError::from_core(e);
            assert_eq!(answer.status_code(), class.status(), "{label}");
            let res = answer.error_response();
            let retry = res
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned());
            match class {
                Class::Throttled(secs) => assert_eq!(retry, Some(secs.to_string()), "{label}"),
                Class::Unavailable | Class::Upstream => {
                    assert_eq!(retry.as_deref(), Some("1"), "{label}")
                }
                _ => assert_eq!(retry, None, "{label}"),
            }
            if class.status() == StatusCode::UNAUTHORIZED {
                assert_eq!(answer.code, "invalid_client", "{label}");
            }
        }
    }
}
