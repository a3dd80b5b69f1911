//! Federation: an environment's identity provider, and apps' bindings to it.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::federation::IdentityProviderInput;
use keyward_core::Keyward;

use super::{resource, run, ClientAppsManage, IdentityProvidersManage, IdentityProvidersRead};
use crate::body::read_json;
use crate::error::ApiError;
use crate::wire::apps::AppBody;
use crate::wire::federation::{
    BindExternalRequest, IdentityProviderBody, SetIdentityProviderRequest,
};
use crate::Authorized;

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/identity-provider",
    tag = "federation",
    operation_id = "get_identity_provider",
    summary = "Get the environment's identity provider",
    params(("env" = String, Path, description = "The environment's slug")),
    responses(
        (status = 200, description = "The identity provider", body = crate::wire::federation::IdentityProviderBody),
    )
))]
async fn get(
    _auth: Authorized<IdentityProvidersRead>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let idp = run(&core, move |k| k.get_identity_provider(&env)).await?;
    Ok(HttpResponse::Ok().json(IdentityProviderBody::from(idp)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    put,
    path = "/api/v1/environments/{env}/identity-provider",
    tag = "federation",
    operation_id = "set_identity_provider",
    summary = "Set the identity provider (discovery from an issuer, or a token endpoint by hand)",
    params(("env" = String, Path, description = "The environment's slug")),
    request_body = crate::wire::federation::SetIdentityProviderRequest,
    responses(
        (status = 200, description = "The identity provider, with what was discovered", body = crate::wire::federation::IdentityProviderBody),
        (status = 422, description = "`validation-error`, or `idp-discovery-failed` with the reason", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn put(
    auth: Authorized<IdentityProvidersManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let r: SetIdentityProviderRequest = read_json(&req, payload).await?;
    let input = IdentityProviderInput {
        issuer: r.issuer,
        token_endpoint: r.token_endpoint,
        jwks_uri: r.jwks_uri,
        audience: r.audience,
        client_id_claims: r.client_id_claims,
        scope: r.scope,
        enabled: r.enabled,
    };
    let principal = auth.principal;
    let idp = run(&core, move |k| {
        k.set_identity_provider(&principal, &env, &input)
    })
    .await?;
    Ok(HttpResponse::Ok().json(IdentityProviderBody::from(idp)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete,
    path = "/api/v1/environments/{env}/identity-provider",
    tag = "federation",
    operation_id = "delete_identity_provider",
    summary = "Remove the identity provider",
    params(("env" = String, Path, description = "The environment's slug")),
    responses(
        (status = 204, description = "Removed"),
    )
))]
async fn delete(
    auth: Authorized<IdentityProvidersManage>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let principal = auth.principal;
    run(&core, move |k| k.delete_identity_provider(&principal, &env)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg_attr(feature = "openapi", utoipa::path(
    put,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/external",
    tag = "federation",
    operation_id = "bind_external_client",
    summary = "Bind a client app to the identity provider's client ID",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    request_body = crate::wire::federation::BindExternalRequest,
    responses(
        (status = 200, description = "The client app", body = crate::wire::apps::AppBody),
        (status = 409, description = "`name-taken`: that external client ID is bound to another app", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn bind(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let r: BindExternalRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let app = run(&core, move |k| {
        k.bind_external(
            &principal,
            &env,
            &client_id,
            r.external_client_id.as_deref(),
            r.impersonate.as_deref(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(AppBody::from(app)))
}

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
    cfg.service(
        resource("/environments/{env}/identity-provider")
            .get(get)
            .put(put)
            .delete(delete),
    )
    .service(resource("/environments/{env}/client-apps/{client_id}/external").put(bind));
}

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(get, put, delete, bind))]
pub(super) struct Doc;
