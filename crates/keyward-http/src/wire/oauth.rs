//! The OAuth endpoints' bodies: `POST /oauth2/token` (RFC 6749 §5.1 and §5.2) and
//! `GET /oauth2/status`. The token request itself is a form, read in
//! [`crate::oauth`].

use serde::Serialize;

/// The `token_type` of an access token (RFC 6749 §7.1).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenType {
    /// A Bearer token (RFC 6750).
    Bearer,
}

/// `200` to `POST /oauth2/token` (RFC 6749 §5.1).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Serialize)]
pub struct TokenResponse<'a> {
    /// The JWT access token.
    pub access_token: &'a str,
    /// Always `Bearer`.
    pub token_type: TokenType,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The granted scope (space-separated permissions).
    pub scope: &'a str,
}

impl TokenResponse<'_> {
    /// The JSON body. Written directly when no field needs escaping — the token is
    /// base64url and dots, the scope permission names and spaces, so always on the warm
    /// path — which skips serde's per-character escaping of a ~600-byte token; any other
    /// text goes through serde, so the body is valid JSON whatever it holds.
    pub fn to_json(&self) -> String {
        // Printable ASCII without `"` or a backslash; written so that it compiles to a
        // vectorised loop (it runs over every byte of the token).
        let plain = |s: &str| {
            s.bytes().fold(true, |ok, b| {
                ok & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\')
            })
        };
        if !(plain(self.access_token) && plain(self.scope)) {
            return serde_json::to_string(self).unwrap_or_default();
        }
        let mut body = String::with_capacity(self.access_token.len() + self.scope.len() + 80);
        body.push_str("{\"access_token\":\"");
        body.push_str(self.access_token);
        body.push_str("\",\"token_type\":\"Bearer\",\"expires_in\":");
        body.push_str(&self.expires_in.to_string());
        body.push_str(",\"scope\":\"");
        body.push_str(self.scope);
        body.push_str("\"}");
        body
    }
}

impl std::fmt::Debug for TokenResponse<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<hidden>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// An error of the token endpoint (RFC 6749 §5.2): `{"error", "error_description"}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct OAuthErrorBody<'a> {
    /// The RFC 6749 error code (`invalid_request`, `invalid_client`, …).
    pub error: &'a str,
    /// What went wrong, for a human.
    pub error_description: &'a str,
}

/// Why `/oauth2/status` could not say whether a token is valid.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusError {
    /// Storage (or something else Keyward needs) did not answer: 503, retry.
    TemporarilyUnavailable,
    /// A bug: 500.
    ServerError,
}

/// `GET /oauth2/status`: `{"active": true}`, `{"active": false}`, or, when it cannot
/// tell, `{"active": false, "error": "..."}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct StatusResponse {
    /// Whether the token is valid and its app active in an enabled environment.
    pub active: bool,
    /// Why the answer could not be given, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StatusError>,
}

impl StatusResponse {
    /// `{"active": true}`.
    pub fn active() -> Self {
        Self {
            active: true,
            error: None,
        }
    }

    /// `{"active": false}`.
    pub fn inactive() -> Self {
        Self {
            active: false,
            error: None,
        }
    }

    /// `{"active": false, "error": ...}`.
    pub fn unknown(error: StatusError) -> Self {
        Self {
            active: false,
            error: Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn bodies_keep_their_member_names_and_order() {
        assert_eq!(
            json(&TokenResponse {
                access_token: "a.b.c",
                token_type: TokenType::Bearer,
                expires_in: 86_400,
                scope: "orders:read",
            }),
            r#"{"access_token":"a.b.c","token_type":"Bearer","expires_in":86400,"scope":"orders:read"}"#
        );
        assert_eq!(json(&StatusResponse::active()), r#"{"active":true}"#);
        assert_eq!(json(&StatusResponse::inactive()), r#"{"active":false}"#);
        assert_eq!(
            json(&StatusResponse::unknown(
                StatusError::TemporarilyUnavailable
            )),
            r#"{"active":false,"error":"temporarily_unavailable"}"#
        );
        assert_eq!(
            json(&StatusResponse::unknown(StatusError::ServerError)),
            r#"{"active":false,"error":"server_error"}"#
        );
        assert_eq!(
            json(&OAuthErrorBody {
                error: "invalid_client",
                error_description: "x"
            }),
            r#"{"error":"invalid_client","error_description":"x"}"#
        );
    }
}

/// `200` to `POST /oauth2/introspect` (RFC 7662 §2.2): `{"active": false}` alone, or
/// `active: true` with what the token says.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct IntrospectionResponse {
    /// Whether the token is valid right now.
    pub active: bool,
    /// The app's client ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The subject (= `client_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The token's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Expiry (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `Bearer` or `api_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub token_type: Option<&'static str>,
    /// The app's environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The token's ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl From<&keyward_core::Introspection> for IntrospectionResponse {
    fn from(found: &keyward_core::Introspection) -> Self {
        match found {
            keyward_core::Introspection::Inactive => Self {
                active: false,
                client_id: None,
                sub: None,
                scope: None,
                exp: None,
                iat: None,
                aud: None,
                iss: None,
                token_type: None,
                env: None,
                jti: None,
            },
            keyward_core::Introspection::Active(t) => Self {
                active: true,
                client_id: Some(t.client_id.clone()),
                sub: Some(t.sub.clone()),
                scope: t.scope.clone(),
                exp: t.exp,
                iat: t.iat,
                aud: t.aud.clone(),
                iss: Some(t.iss.clone()),
                token_type: Some(t.token_type),
                env: Some(t.env.clone()),
                jti: t.jti.clone(),
            },
        }
    }
}

/// Authorization server metadata (RFC 8414 §2), served as-is at
/// `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`
/// (and under each environment's issuer).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct ServerMetadata {
    /// The issuer: the public URL for `default`, `{public_url}/environments/{slug}` else.
    pub issuer: String,
    /// `POST /oauth2/token`.
    pub token_endpoint: String,
    /// `GET /.well-known/jwks.json`.
    pub jwks_uri: String,
    /// `POST /oauth2/introspect`.
    pub introspection_endpoint: String,
    /// `POST /oauth2/revoke`.
    pub revocation_endpoint: String,
    /// `["client_credentials"]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub grant_types_supported: &'static [&'static str],
    /// Empty: Keyward has no authorization endpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub response_types_supported: &'static [&'static str],
    /// The client authentication methods that work at the token endpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    /// The algorithms a `private_key_jwt` assertion may be signed with.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub token_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    /// Same as the token endpoint's.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub introspection_endpoint_auth_methods_supported: &'static [&'static str],
    /// Same as the token endpoint's.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub introspection_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    /// Same as the token endpoint's.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub revocation_endpoint_auth_methods_supported: &'static [&'static str],
    /// Same as the token endpoint's.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub revocation_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    /// The algorithm access tokens are signed with.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
    /// Tokens may be requested for an allowed audience (RFC 8707).
    pub resource_indicators_supported: bool,
}

/// The form of `POST /oauth2/token` (`application/x-www-form-urlencoded`), for the
/// OpenAPI document only: the route reads the form strictly by hand
/// (`crate::oauth`), refusing repeated parameters and credentials in the query string.
/// Client authentication is one of: the `Authorization: Basic` header
/// (`client_secret_basic`), `client_id` + `client_secret` here (`client_secret_post`),
/// or `client_assertion` + `client_assertion_type` (`private_key_jwt`, RFC 7523).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(as = TokenRequestForm)]
#[expect(
    dead_code,
    reason = "documentation only: the route reads these by hand"
)]
pub struct TokenRequestForm {
    /// `client_credentials`, the only grant.
    #[schema(pattern = "^client_credentials$")]
    pub grant_type: String,
    /// Space-separated permissions: down-scopes the token to that subset.
    pub scope: Option<String>,
    /// RFC 8707: the audience the token is for (an allowed audience of the environment).
    pub resource: Option<String>,
    /// `client_secret_post` (or beside a Basic header, the same client).
    pub client_id: Option<String>,
    /// `client_secret_post`.
    pub client_secret: Option<String>,
    /// `private_key_jwt`: a JWT signed with a key of the app's registered JWK Set.
    pub client_assertion: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` with `client_assertion`.
    pub client_assertion_type: Option<String>,
}

/// The form of `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke` (RFC
/// 7009), for the OpenAPI document only; client authentication as for the token
/// endpoint ([`TokenRequestForm`]).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(as = TokenParameterForm)]
#[expect(
    dead_code,
    reason = "documentation only: the route reads these by hand"
)]
pub struct TokenParameterForm {
    /// The access token or API key asked about (or revoked).
    #[schema(min_length = 1)]
    pub token: String,
    /// A hint (`access_token`); ignored.
    pub token_type_hint: Option<String>,
    /// `client_secret_post`.
    pub client_id: Option<String>,
    /// `client_secret_post`.
    pub client_secret: Option<String>,
    /// `private_key_jwt`.
    pub client_assertion: Option<String>,
    /// `private_key_jwt`.
    pub client_assertion_type: Option<String>,
}

#[cfg(test)]
mod token_body_tests {
    use super::*;

    #[test]
    fn the_hand_written_body_is_what_serde_writes_and_odd_text_is_escaped() {
        for (token, scope) in [
            ("eyJh.eyJz.c2ln-_", "orders:read orders:write"),
            ("eyJh.eyJz.c2ln", ""),
            ("odd\"token\\", "scope\u{7f}\n"),
        ] {
            let body = TokenResponse {
                access_token: token,
                token_type: TokenType::Bearer,
                expires_in: 3599,
                scope,
            };
            let ours: serde_json::Value = serde_json::from_str(&body.to_json()).unwrap_or_default();
            let serde: serde_json::Value =
                serde_json::from_str(&serde_json::to_string(&body).unwrap_or_default())
                    .unwrap_or_default();
            assert_eq!(ours, serde);
            assert_eq!(ours["access_token"], token);
        }
    }
}
