//! Environments: `/api/v1/environments`.

use chrono::{DateTime, Utc};
use keyward_domain::Environment;
use serde::{Deserialize, Serialize};

use crate::body::{FieldKind, FieldRule, JsonRequest};

/// An environment: the body of `GET`, `POST` and `PATCH`, and the items of the list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct EnvironmentBody {
    /// Its slug.
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// Whether its apps may get and use tokens.
    pub enabled: bool,
    /// How many client apps it holds.
    pub client_apps: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<Environment> for EnvironmentBody {
    fn from(env: Environment) -> Self {
        Self {
            slug: env.slug.as_str().to_owned(),
            name: env.name.as_str().to_owned(),
            enabled: env.enabled,
            client_apps: env.client_app_count,
            created_at: env.created_at,
        }
    }
}

/// `POST /environments`: `{"slug", "name"?}` (the name defaults to the slug).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironmentRequest {
    /// The slug (`[a-z0-9][a-z0-9-]{0,62}`).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub slug: String,
    /// The display name.
    pub name: Option<String>,
}

impl JsonRequest for CreateEnvironmentRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("slug", FieldKind::Text),
        FieldRule::optional("name", FieldKind::Text),
    ];
}

/// `PATCH /environments/{env}`: `{"enabled"?, "name"?}` (at least one; core says so).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(min_properties = 1))]
pub struct UpdateEnvironmentRequest {
    /// `false` disables the environment, `true` enables it.
    pub enabled: Option<bool>,
    /// A new display name.
    pub name: Option<String>,
}

impl JsonRequest for UpdateEnvironmentRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::optional("enabled", FieldKind::Boolean),
        FieldRule::optional("name", FieldKind::Text),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request_tests::fields_match_serde_shape;

    #[test]
    fn request_shapes() {
        fields_match_serde_shape::<CreateEnvironmentRequest>();
        fields_match_serde_shape::<UpdateEnvironmentRequest>();
    }
}
