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
use serde_json::json;

use crate::body::BodyError;

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
    retry_after: bool,
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
            retry_after: false,
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
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{}", p.kind),
            "title": p.title,
            "status": p.status.as_u16(),
            "detail": p.detail,
        });
        if !p.field_errors.is_empty() {
            body["errors"] = p
                .field_errors
                .iter()
                .map(|(field, message)| json!({"field": field, "message": message}))
                .collect();
        }
        if let Some((k, v)) = &p.extra {
            body[*k] = v.clone();
        }
        let mut res = HttpResponse::build(p.status);
        res.content_type("application/problem+json");
        if let Some(challenge) = p.challenge.header() {
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if p.close {
            res.force_close();
        }
        if p.retry_after {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        res.body(body.to_string())
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
            Error::Unavailable(m) => {
                log::warn!("storage unavailable: {m}");
                let mut e = ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "storage-unavailable",
                    "Storage unavailable",
                    "storage is unavailable; try again shortly",
                );
                e.0.retry_after = true;
                e
            }
            Error::Overloaded => {
                let mut e = ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "Overloaded",
                    "too much work queued; try again shortly",
                );
                e.0.retry_after = true;
                e
            }
            Error::WouldBlock | Error::Internal(_) => {
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

    /// 429: too many failed attempts for this client ID.
    pub fn throttled(retry_after: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "temporarily_unavailable",
            description: "too many failed attempts for this client; try again later".into(),
            retry_after: Some(retry_after),
        }
    }

    /// Maps a core error met while issuing.
    pub fn from_core(e: Error) -> Self {
        match e {
            Error::Unavailable(m) => {
                log::warn!("storage unavailable: {m}");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "temporarily_unavailable",
                    description: "storage is unavailable; try again shortly".into(),
                    retry_after: Some(1),
                }
            }
            Error::Overloaded => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "temporarily_unavailable",
                description: "too much work queued; try again shortly".into(),
                retry_after: Some(1),
            },
            other => {
                log::error!("token endpoint: {other}");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "server_error",
                    description: "an internal error occurred".into(),
                    retry_after: None,
                }
            }
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
        res.json(json!({"error": self.code, "error_description": self.description}))
    }
}
