//! The console's session: `/console/session` (login, who is logged in, logout) and
//! `/console/session/password`.

use serde::{Deserialize, Serialize};

use crate::body::{FieldKind, FieldRule, JsonRequest};

/// `POST /console/session`: `{"username", "password"}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The login name.
    pub username: String,
    /// The password (never logged: this type has no `Debug`).
    pub password: String,
}

impl JsonRequest for LoginRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("username", FieldKind::Text),
        FieldRule::required("password", FieldKind::Text),
    ];
}

/// `POST /console/session/password`: `{"current_password", "new_password"}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password now.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

impl JsonRequest for ChangePasswordRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("current_password", FieldKind::Text),
        FieldRule::required("new_password", FieldKind::Text),
    ];
}

/// The session, as the console page needs it: who, the CSRF token to send with state
/// changes, and where the user may go.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct SessionBody {
    /// The login name.
    pub username: String,
    /// The value of the `X-CSRF-Token` header every state change must carry.
    pub csrf_token: String,
    /// Whether a one-time password must be changed before anything else.
    pub must_change_password: bool,
    /// The environments the user holds roles in; `null` for a user with a global
    /// role, who may open every environment (listed by `GET /api/v1/environments`).
    pub environments: Option<Vec<String>>,
    /// Seconds of inactivity after which the session expires.
    pub idle_timeout_seconds: i64,
}
