//! Discovery (RFC 8414, and the same document where OpenID Connect clients look for
//! it). Every environment is an issuer of its own (see `keyward_core::issuers`):
//!
//! - `default`: `/.well-known/oauth-authorization-server` and
//!   `/.well-known/openid-configuration` (the server's public URL is its issuer);
//! - any environment: `/.well-known/oauth-authorization-server/environments/{env}`
//!   (RFC 8414 §3: the issuer's path after the well-known segment) and
//!   `/environments/{env}/.well-known/openid-configuration` (OpenID Connect Discovery
//!   §4: appended to the issuer), plus `/environments/{env}/.well-known/oauth-authorization-server`.
//!
//! Every URL is built from `server.public_url`. The token, JWKS, introspection and
//! revocation endpoints are shared by all environments (a client ID names its
//! environment). The methods listed are exactly those that work.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use keyward_core::issuers::{environment_issuer, token_endpoint};
use keyward_core::Keyward;

use crate::error::ApiError;
use crate::routes::run;
use crate::wire::oauth::ServerMetadata;

/// The client authentication methods every OAuth endpoint accepts.
const AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

fn metadata(core: &Keyward, env: &str) -> ServerMetadata {
    let base = &core.config().issuer;
    ServerMetadata {
        issuer: environment_issuer(base, env),
        token_endpoint: token_endpoint(base),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        introspection_endpoint: format!("{base}/oauth2/introspect"),
        revocation_endpoint: format!("{base}/oauth2/revoke"),
        grant_types_supported: &["client_credentials"],
        response_types_supported: &[],
        token_endpoint_auth_methods_supported: AUTH_METHODS,
        token_endpoint_auth_signing_alg_values_supported:
            keyward_core::client_auth::ASSERTION_ALGORITHMS,
        introspection_endpoint_auth_methods_supported: AUTH_METHODS,
        introspection_endpoint_auth_signing_alg_values_supported:
            keyward_core::client_auth::ASSERTION_ALGORITHMS,
        revocation_endpoint_auth_methods_supported: AUTH_METHODS,
        revocation_endpoint_auth_signing_alg_values_supported:
            keyward_core::client_auth::ASSERTION_ALGORITHMS,
        access_token_signing_alg_values_supported: vec![core.config().algorithm.as_str()],
        resource_indicators_supported: true,
    }
}

fn answer(body: &ServerMetadata) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(body)
}

/// The `default` environment's metadata.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "oauth",
    operation_id = "get_authorization_server_metadata",
    summary = "RFC 8414 metadata of the `default` environment",
    security(()),
    responses(
        (status = 200, description = "Authorization server metadata", body = crate::wire::oauth::ServerMetadata),
    )
))]
pub async fn default_metadata(core: web::Data<Keyward>) -> HttpResponse {
    answer(&metadata(&core, keyward_core::issuers::DEFAULT_ENVIRONMENT))
}

/// An environment's metadata (404 for an unknown environment).
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server/environments/{env}",
    tag = "oauth",
    operation_id = "get_environment_metadata",
    summary = "RFC 8414 metadata of an environment (the issuer's path after the well-known segment)",
    params(("env" = String, Path, description = "The environment's slug")),
    security(()),
    responses(
        (status = 200, description = "Authorization server metadata", body = crate::wire::oauth::ServerMetadata),
        (status = 404, description = "`not-found`: no such environment", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`storage-unavailable`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
pub async fn environment_metadata(
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let env = run(&core, move |k| k.get_environment(&slug)).await?;
    Ok(answer(&metadata(&core, env.slug.as_str())))
}

/// The `default` environment's metadata where OpenID Connect clients look for it.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "oauth",
    operation_id = "get_openid_configuration",
    summary = "The same metadata where OpenID Connect clients look",
    security(()),
    responses(
        (status = 200, description = "Authorization server metadata", body = crate::wire::oauth::ServerMetadata),
    )
))]
pub async fn openid_configuration(core: web::Data<Keyward>) -> HttpResponse {
    default_metadata(core).await
}

/// An environment's metadata appended to its issuer, as OpenID Connect Discovery §4
/// builds the URL.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/environments/{env}/.well-known/openid-configuration",
    tag = "oauth",
    operation_id = "get_environment_openid_configuration",
    summary = "An environment's metadata, appended to its issuer (OpenID Connect Discovery §4)",
    params(("env" = String, Path, description = "The environment's slug")),
    security(()),
    responses(
        (status = 200, description = "Authorization server metadata", body = crate::wire::oauth::ServerMetadata),
        (status = 404, description = "`not-found`: no such environment", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`storage-unavailable`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
pub async fn environment_openid_configuration(
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    environment_metadata(path, core).await
}

/// An environment's RFC 8414 metadata appended to its issuer (where some clients look).
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/environments/{env}/.well-known/oauth-authorization-server",
    tag = "oauth",
    operation_id = "get_environment_metadata_appended",
    summary = "An environment's RFC 8414 metadata, appended to its issuer",
    params(("env" = String, Path, description = "The environment's slug")),
    security(()),
    responses(
        (status = 200, description = "Authorization server metadata", body = crate::wire::oauth::ServerMetadata),
        (status = 404, description = "`not-found`: no such environment", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`storage-unavailable`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
pub async fn environment_metadata_appended(
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    environment_metadata(path, core).await
}
