//! Admin users: `/api/v1/admins`.

use chrono::{DateTime, Utc};
use keyward_domain::AdminUser;
use serde::{Deserialize, Serialize};

use crate::body::{FieldKind, FieldRule, JsonRequest};

/// An admin user: the body of `GET` and `POST`, and the items of the list.
#[derive(Debug, Serialize)]
pub struct AdminBody {
    /// Login name.
    pub username: String,
    /// `Super Admin` or `Admin`.
    pub role: String,
    /// Whether a personal API credential is issued.
    pub has_credential: bool,
    /// When it was issued.
    pub credential_created_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<AdminUser> for AdminBody {
    fn from(admin: AdminUser) -> Self {
        Self {
            username: admin.username.as_str().to_owned(),
            role: admin.role.name().to_owned(),
            has_credential: admin.has_credential,
            credential_created_at: admin.credential_created_at,
            created_at: admin.created_at,
        }
    }
}

/// `POST /admins`: `{"username", "password", "role"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminRequest {
    /// Login name.
    pub username: String,
    /// The password (12–1024 characters); never printed (`Debug` hides it).
    pub password: String,
    /// `Super Admin` or `Admin`.
    pub role: String,
}

impl std::fmt::Debug for CreateAdminRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateAdminRequest")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("role", &self.role)
            .finish()
    }
}

impl JsonRequest for CreateAdminRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("username", FieldKind::Text),
        FieldRule::required("password", FieldKind::Text),
        FieldRule::required("role", FieldKind::Text),
    ];
}

/// `201` to `POST /admins/{username}/credential`: the personal credential, in this
/// response and nowhere else.
#[derive(Serialize)]
pub struct CredentialBody<'a> {
    /// Whose credential it is.
    pub username: String,
    /// The credential, borrowed from core's zeroizing `PersonalCredential` until the
    /// body is written.
    pub credential: &'a str,
    /// When it was issued.
    pub created_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for CredentialBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialBody")
            .field("username", &self.username)
            .field("credential", &"<hidden>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request_tests::fields_match_serde_shape;

    #[test]
    fn request_shapes() {
        fields_match_serde_shape::<CreateAdminRequest>();
    }
}
