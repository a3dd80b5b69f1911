//! `POST /api/v1/authorize`: may the caller use this permission now?

use serde::{Deserialize, Serialize};

use crate::body::{FieldKind, FieldRule, JsonRequest};

/// `POST /authorize`: `{"permission", "environment"?}`. A resource server that serves
/// one environment names it, so that a token of another environment holding the same
/// permission is refused.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The permission asked about (`resource:action`).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[a-z][a-z0-9_.-]{0,63}:([a-z][a-z0-9_.-]{0,63}|\\*)$")
    )]
    pub permission: String,
    /// The environment the resource server serves.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub environment: Option<String>,
}

impl JsonRequest for AuthorizeRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("permission", FieldKind::Text),
        FieldRule::optional("environment", FieldKind::Text),
    ];
    // Asked on every call a resource server checks; denies unknown fields, and its
    // fields are a string and an optional string.
    const DIRECT: bool = true;
}

/// `200` to `POST /authorize`: `{"allowed": true, "permission", "environment"}`. A
/// refusal is a problem (403) with `"allowed": false`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct AuthorizeResponse {
    /// Always `true` (a refusal is an error response).
    pub allowed: bool,
    /// The permission, as parsed.
    pub permission: String,
    /// The caller's environment; `null` for a global principal (admins).
    pub environment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request_tests::fields_match_serde_shape;

    #[test]
    fn request_shape() {
        fields_match_serde_shape::<AuthorizeRequest>();
    }
}
