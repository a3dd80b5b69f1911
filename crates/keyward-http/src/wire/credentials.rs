//! A client app's API keys and secrets:
//! `/api/v1/environments/{env}/client-apps/{client_id}/api-keys` and `.../secrets`.

use chrono::{DateTime, Utc};
use keyward_domain::{ApiKey, AppSecret};
use serde::{Deserialize, Serialize};

use crate::body::{FieldKind, FieldRule, JsonRequest};

/// An API key as listed (never the key text).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct ApiKeyBody {
    /// Its public identifier (for `DELETE .../api-keys/{id}`).
    pub id: String,
    /// Its name, unique within the app.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stops working by itself; `null`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last call made with it; `null` until then.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyBody {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id.as_str().to_owned(),
            name: key.name.as_str().to_owned(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// `201` to `POST .../api-keys`: the key as listed, and the key itself, in this
/// response and nowhere else, ever.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct CreatedApiKeyBody<'a> {
    /// The key as listed.
    #[serde(flatten)]
    pub key: ApiKeyBody,
    /// The key text, borrowed from core's zeroizing `ApiKeySecret` until the body is
    /// written.
    pub api_key: &'a str,
}

/// `POST .../api-keys`: `{"name", "expires_at"?}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// The key's name (the rules are the domain's: `ApiKeyName`).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9._-][A-Za-z0-9 ._-]{0,63}$")
    )]
    pub name: String,
    /// When the key stops working (RFC 3339, in the future); never by default.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub expires_at: Option<String>,
}

impl JsonRequest for CreateApiKeyRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("name", FieldKind::Text),
        FieldRule::optional("expires_at", FieldKind::Text),
    ];
}

/// A client secret as listed (never the secret or its hash).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct SecretBody {
    /// Its public identifier (for `DELETE .../secrets/{id}`).
    pub id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// `null` for the current secret; the end of the grace period for the previous one.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last time a client authenticated with it; `null` until then.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<AppSecret> for SecretBody {
    fn from(secret: AppSecret) -> Self {
        Self {
            id: secret.id.as_str().to_owned(),
            created_at: secret.created_at,
            expires_at: secret.expires_at,
            last_used_at: secret.last_used_at,
        }
    }
}

/// `POST .../secrets`: `{"grace_period_seconds"?}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// How long the current secret keeps working (0 to 2,592,000; default 86,400).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 2_592_000))]
    pub grace_period_seconds: Option<i64>,
}

impl JsonRequest for RotateSecretRequest {
    const FIELDS: &'static [FieldRule] = &[FieldRule::optional(
        "grace_period_seconds",
        FieldKind::Integer,
    )];
    /// A rotation with the default grace period needs no body.
    const EMPTY_BODY_ALLOWED: bool = true;
}

/// `201` to `POST .../secrets`: the new secret, in this response and nowhere else, ever.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct RotatedSecretBody<'a> {
    /// The new current secret, borrowed from core's zeroizing `ClientSecret`.
    pub client_secret: &'a str,
    /// When the previous secret stops working.
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// `GET .../secrets`: `{"items": [...]}`, the current secret first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct SecretsBody {
    /// The live secrets.
    pub items: Vec<SecretBody>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request_tests::fields_match_serde_shape;

    #[test]
    fn request_shapes() {
        fields_match_serde_shape::<CreateApiKeyRequest>();
        fields_match_serde_shape::<RotateSecretRequest>();
    }
}
