//! Users: `/api/v1/users` (and its older name, `/api/v1/admins`).

use chrono::{DateTime, Utc};
use keyward_domain::AdminUser;
use serde::{Deserialize, Serialize};

use crate::body::{FieldKind, FieldRule, JsonRequest};
use crate::error::ApiError;

/// A user's roles inside one environment, as shown and as given.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct EnvironmentRolesBody {
    /// The environment's slug.
    pub environment: String,
    /// Role names there.
    pub roles: Vec<String>,
}

/// A user: the body of `GET` and `POST`, and the items of the list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct AdminBody {
    /// Login name.
    pub username: String,
    /// The global built-in role (`Super Admin` or `Admin`); `null` for a user with
    /// roles inside environments.
    pub role: Option<String>,
    /// Roles inside environments.
    pub roles: Vec<EnvironmentRolesBody>,
    /// `ACTIVE` or `INACTIVE`.
    pub status: crate::wire::apps::Status,
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
            role: admin.role.map(|r| r.name().to_owned()),
            roles: admin
                .environment_roles
                .into_iter()
                .map(|e| EnvironmentRolesBody {
                    environment: e.environment.as_str().to_owned(),
                    roles: e.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                })
                .collect(),
            status: admin.status.into(),
            has_credential: admin.has_credential,
            credential_created_at: admin.credential_created_at,
            created_at: admin.created_at,
        }
    }
}

/// `POST /users`: `{"username", "password", "role"? | "roles"?: [{"environment",
/// "roles": [...]}]}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminRequest {
    /// Login name.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9._@-]{1,64}$"))]
    pub username: String,
    /// The password (12–1024 characters); never printed (`Debug` hides it).
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 1024))]
    pub password: String,
    /// `Super Admin` or `Admin`.
    #[serde(default)]
    pub role: Option<String>,
    /// Roles per environment (checked by [`user_roles`]).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<EnvironmentRolesBody>>))]
    pub roles: Option<serde_json::Value>,
}

/// `PUT /users/{username}/roles`: `{"role"}` or `{"roles": [...]}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceUserRolesRequest {
    /// `Super Admin` or `Admin`.
    #[serde(default)]
    pub role: Option<String>,
    /// Roles per environment (checked by [`user_roles`]).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<EnvironmentRolesBody>>))]
    pub roles: Option<serde_json::Value>,
}

impl JsonRequest for ReplaceUserRolesRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::optional("role", FieldKind::Text),
        FieldRule::optional("roles", FieldKind::Json),
    ];
}

/// The roles of a user request: exactly one of `role` (a global built-in role) and
/// `roles` (a list of `{"environment", "roles": [...]}`), every error named by its
/// field.
pub fn user_roles(
    role: Option<String>,
    roles: Option<serde_json::Value>,
) -> Result<keyward_core::UserRoles, ApiError> {
    use serde_json::Value;
    match (role, roles) {
        (Some(role), None) => Ok(keyward_core::UserRoles::Global(role)),
        (None, Some(Value::Array(items))) => {
            let mut errors = Vec::new();
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Object(map) = item else {
                    errors.push((format!("roles[{i}]"), "must be an object".to_owned()));
                    continue;
                };
                for key in map.keys().filter(|k| *k != "environment" && *k != "roles") {
                    errors.push((
                        format!("roles[{i}].{key}"),
                        "is not a field of this request".to_owned(),
                    ));
                }
                let environment = match map.get("environment") {
                    Some(Value::String(e)) => e.clone(),
                    _ => {
                        errors.push((
                            format!("roles[{i}].environment"),
                            "must be a string".to_owned(),
                        ));
                        continue;
                    }
                };
                let names = match map.get("roles") {
                    Some(Value::Array(list)) if list.iter().all(Value::is_string) => list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => {
                        errors.push((
                            format!("roles[{i}].roles"),
                            "must be a list of strings".to_owned(),
                        ));
                        continue;
                    }
                };
                out.push(keyward_core::EnvironmentRolesInput {
                    environment,
                    roles: names,
                });
            }
            if errors.is_empty() {
                Ok(keyward_core::UserRoles::PerEnvironment(out))
            } else {
                Err(ApiError::invalid(errors))
            }
        }
        (None, Some(_)) => Err(ApiError::invalid(vec![(
            "roles".to_owned(),
            "must be a list of {\"environment\", \"roles\"}".to_owned(),
        )])),
        (Some(_), Some(_)) => Err(ApiError::invalid(vec![(
            "roles".to_owned(),
            "give either `role` or `roles`, not both".to_owned(),
        )])),
        (None, None) => Err(ApiError::invalid(vec![(
            "role".to_owned(),
            "give `role` (a global built-in role) or `roles` (roles per environment)".to_owned(),
        )])),
    }
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
        FieldRule::optional("role", FieldKind::Text),
        FieldRule::optional("roles", FieldKind::Json),
    ];
}

/// `201` to `POST /admins/{username}/credential`: the personal credential, in this
/// response and nowhere else.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
        fields_match_serde_shape::<ReplaceUserRolesRequest>();
    }
}
