//! Management bodies of the OAuth standards: an app's public JWK Set
//! (`.../client-apps/{client_id}/jwks`), an environment's allowed audiences
//! (`.../environments/{env}/audiences`) and signing-key rotation
//! (`/api/v1/signing-keys/rotate`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::body::{FieldKind, FieldRule, JsonRequest};

/// `PUT .../client-apps/{client_id}/jwks`: a JWK Set of public keys.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwksRequest {
    /// The public keys (JWKs).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>, min_items = 1, max_items = 10))]
    pub keys: Vec<Value>,
}

impl JsonRequest for JwksRequest {
    const FIELDS: &'static [FieldRule] = &[FieldRule::required("keys", FieldKind::ObjectList)];
}

/// `PUT .../environments/{env}/audiences`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudiencesRequest {
    /// Absolute URIs a token may be issued for (RFC 8707 `resource`).
    pub audiences: Vec<String>,
}

impl JsonRequest for AudiencesRequest {
    const FIELDS: &'static [FieldRule] = &[FieldRule::required("audiences", FieldKind::TextList)];
}

/// The audiences an environment allows besides Keyward's own.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct AudiencesBody {
    /// Sorted.
    pub audiences: Vec<String>,
}

/// `201` to `POST /api/v1/signing-keys/rotate`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct RotatedKeyBody {
    /// The new key's `kid` (in the JWK Set from now on).
    pub kid: String,
    /// Its algorithm.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub algorithm: &'static str,
    /// When it was published.
    pub created_at: DateTime<Utc>,
    /// When it starts signing new tokens.
    pub signs_from: DateTime<Utc>,
}

impl From<keyward_core::RotatedKey> for RotatedKeyBody {
    fn from(k: keyward_core::RotatedKey) -> Self {
        Self {
            kid: k.kid,
            algorithm: k.algorithm,
            created_at: k.created_at,
            signs_from: k.signs_from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request_tests::fields_match_serde_shape;

    #[test]
    fn request_fields_match_their_serde_shapes() {
        fields_match_serde_shape::<JwksRequest>();
        fields_match_serde_shape::<AudiencesRequest>();
    }
}
