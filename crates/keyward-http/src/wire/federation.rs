//! Federation: `/api/v1/environments/{env}/identity-provider` and
//! `.../client-apps/{client_id}/external`.

use chrono::{DateTime, Utc};
use keyward_core::federation::IdentityProvider;
use serde::{Deserialize, Serialize};

use crate::body::{FieldKind, FieldRule, JsonRequest};

/// An environment's identity provider, as shown (it holds no secret).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct IdentityProviderBody {
    /// The issuer (discovered from, or given with a hand-entered token endpoint).
    pub issuer: Option<String>,
    /// Where brokered client credentials are sent.
    pub token_endpoint: String,
    /// Where its public keys are (external tokens need it).
    pub jwks_uri: Option<String>,
    /// The `aud` external tokens must carry, if set.
    pub audience: Option<String>,
    /// The claims that may carry the client ID, in order.
    pub client_id_claims: Vec<String>,
    /// The scope sent upstream when brokering.
    pub scope: Option<String>,
    /// Whether it is used.
    pub enabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<IdentityProvider> for IdentityProviderBody {
    fn from(i: IdentityProvider) -> Self {
        Self {
            issuer: i.issuer,
            token_endpoint: i.token_endpoint,
            jwks_uri: i.jwks_uri,
            audience: i.audience,
            client_id_claims: i.client_id_claims,
            scope: i.scope,
            enabled: i.enabled,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// `PUT .../identity-provider`: `{"issuer"}` (discovery) or `{"token_endpoint",
/// "jwks_uri"?}` (by hand), and optionally `audience`, `client_id_claims`, `scope`,
/// `enabled`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetIdentityProviderRequest {
    /// The issuer URL.
    #[serde(default)]
    pub issuer: Option<String>,
    /// A token endpoint entered by hand.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// A JWKS URL entered by hand.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The expected `aud` of external tokens.
    #[serde(default)]
    pub audience: Option<String>,
    /// Claims that may carry the client ID.
    #[serde(default)]
    pub client_id_claims: Option<Vec<String>>,
    /// Scope sent upstream when brokering.
    #[serde(default)]
    pub scope: Option<String>,
    /// Whether it is used (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl JsonRequest for SetIdentityProviderRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::optional("issuer", FieldKind::Text),
        FieldRule::optional("token_endpoint", FieldKind::Text),
        FieldRule::optional("jwks_uri", FieldKind::Text),
        FieldRule::optional("audience", FieldKind::Text),
        FieldRule::optional("client_id_claims", FieldKind::TextList),
        FieldRule::optional("scope", FieldKind::Text),
        FieldRule::optional("enabled", FieldKind::Boolean),
    ];
}

/// `PUT .../client-apps/{client_id}/external`: `{"external_client_id", "impersonate"?}`
/// (`null` external client ID unbinds).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindExternalRequest {
    /// The client ID the identity provider knows the app by.
    #[serde(default)]
    pub external_client_id: Option<String>,
    /// A username whose live permissions the app's external tokens carry.
    #[serde(default)]
    pub impersonate: Option<String>,
}

impl JsonRequest for BindExternalRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::optional("external_client_id", FieldKind::Text),
        FieldRule::optional("impersonate", FieldKind::Text),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request_tests::fields_match_serde_shape;

    #[test]
    fn request_shapes() {
        fields_match_serde_shape::<SetIdentityProviderRequest>();
        fields_match_serde_shape::<BindExternalRequest>();
    }
}
