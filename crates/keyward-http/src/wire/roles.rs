//! Roles: `/api/v1/environments/{env}/roles`.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use keyward_domain::Role;
use serde::{Deserialize, Serialize};

use crate::body::{query_pairs, FieldKind, FieldRule, JsonRequest};
use crate::error::ApiError;

/// A role: the body of `GET`, `POST` and `PUT`, and the items of the list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct RoleBody {
    /// Its name.
    pub name: String,
    /// Its permissions (`*:*` for every permission).
    pub permissions: Vec<String>,
    /// Whether it is built in (cannot be changed or deleted).
    pub builtin: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<Role> for RoleBody {
    fn from(role: Role) -> Self {
        Self {
            permissions: role.grants().to_strings(),
            name: role.name.as_str().to_owned(),
            builtin: role.builtin.is_some(),
            created_at: role.created_at,
        }
    }
}

/// `POST .../roles`: `{"name", "permissions": [...]}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// The role's name, unique in the environment.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9._-][A-Za-z0-9 ._-]{0,63}$")
    )]
    pub name: String,
    /// Its permissions (`resource:action` or `resource:*`).
    pub permissions: Vec<String>,
}

impl JsonRequest for CreateRoleRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("name", FieldKind::Text),
        FieldRule::required("permissions", FieldKind::TextList),
    ];
}

/// `PUT .../roles/{role}`: `{"permissions": [...], "name"?}`. A client may send the
/// whole role back; its `name` must then be the role's own (roles are not renamed).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRoleRequest {
    /// The role's new permissions.
    pub permissions: Vec<String>,
    /// The role's own name, when sent.
    #[expect(
        dead_code,
        reason = "the route checks it on the JSON object before the field checks, so that \
                  a rename is refused on its own, as it always was"
    )]
    pub name: Option<String>,
}

impl JsonRequest for ReplaceRoleRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("permissions", FieldKind::TextList),
        FieldRule::optional("name", FieldKind::Text),
    ];
}

/// The query of `DELETE .../roles/{role}`: `?force=true|false` (default `false`): whether
/// a role still bound to apps is unbound from them and deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeleteRoleQuery {
    /// Unbind the role from its apps first.
    pub force: bool,
}

impl DeleteRoleQuery {
    /// Parses `?force=`: 422 for anything but `true` or `false`. The last `force` wins.
    pub fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut query = Self::default();
        for (key, value) in query_pairs(req) {
            if key == "force" {
                query.force = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::invalid(vec![(
                            "force".into(),
                            "must be `true` or `false`".into(),
                        )]))
                    }
                };
            }
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request_tests::fields_match_serde_shape;

    #[test]
    fn request_shapes() {
        fields_match_serde_shape::<CreateRoleRequest>();
        fields_match_serde_shape::<ReplaceRoleRequest>();
    }
}
