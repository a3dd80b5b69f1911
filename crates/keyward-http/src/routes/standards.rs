//! Management routes of the OAuth standards: an app's public JWK Set for
//! `private_key_jwt` (`.../client-apps/{client_id}/jwks`), an environment's allowed
//! audiences for RFC 8707 (`.../environments/{env}/audiences`), and signing-key
//! rotation (`/api/v1/signing-keys/rotate`).

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;
use serde_json::{json, Value};

use super::{
    resource, run, ClientAppsManage, ClientAppsRead, EnvironmentsManageIn, EnvironmentsReadIn,
    KeysManage,
};
use crate::body::read_json;
use crate::error::ApiError;
use crate::wire::standards::{AudiencesBody, AudiencesRequest, JwksRequest, RotatedKeyBody};
use crate::Authorized;

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/jwks",
    tag = "standards",
    operation_id = "get_client_jwks",
    summary = "Get a client app's public JWK Set (private_key_jwt)",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    responses(
        (status = 200, description = "The JWK Set (no keys: `{\"keys\": []}`)", body = crate::openapi::JwkSet),
    )
))]
async fn get_jwks(
    _auth: Authorized<ClientAppsRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let jwks = run(&core, move |k| k.client_jwks(&env, &client_id)).await?;
    Ok(HttpResponse::Ok().json(jwks.unwrap_or_else(|| json!({"keys": []}))))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    put,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/jwks",
    tag = "standards",
    operation_id = "set_client_jwks",
    summary = "Register a client app's public JWK Set",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    request_body = crate::wire::standards::JwksRequest,
    responses(
        (status = 200, description = "The stored JWK Set", body = crate::openapi::JwkSet),
    )
))]
async fn put_jwks(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let request: JwksRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let set = json!({ "keys": request.keys });
    let stored = run(&core, move |k| {
        k.set_client_jwks(&principal, &env, &client_id, Some(&set))
    })
    .await?;
    Ok(HttpResponse::Ok().json(stored.unwrap_or(Value::Null)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/jwks",
    tag = "standards",
    operation_id = "delete_client_jwks",
    summary = "Remove a client app's JWK Set",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    responses(
        (status = 204, description = "Removed"),
    )
))]
async fn delete_jwks(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let principal = auth.principal;
    run(&core, move |k| {
        k.set_client_jwks(&principal, &env, &client_id, None)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/audiences",
    tag = "standards",
    operation_id = "get_audiences",
    summary = "Get the audiences an environment allows (RFC 8707)",
    params(("env" = String, Path, description = "The environment's slug")),
    responses(
        (status = 200, description = "The audiences", body = crate::wire::standards::AudiencesBody),
    )
))]
async fn get_audiences(
    _auth: Authorized<EnvironmentsReadIn>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let audiences = run(&core, move |k| k.environment_audiences(&env)).await?;
    Ok(HttpResponse::Ok().json(AudiencesBody { audiences }))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    put,
    path = "/api/v1/environments/{env}/audiences",
    tag = "standards",
    operation_id = "set_audiences",
    summary = "Replace the audiences an environment allows",
    params(("env" = String, Path, description = "The environment's slug")),
    request_body = crate::wire::standards::AudiencesRequest,
    responses(
        (status = 200, description = "The audiences", body = crate::wire::standards::AudiencesBody),
    )
))]
async fn put_audiences(
    auth: Authorized<EnvironmentsManageIn>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let request: AudiencesRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let audiences = run(&core, move |k| {
        k.set_environment_audiences(&principal, &env, &request.audiences)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AudiencesBody { audiences }))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/signing-keys/rotate",
    tag = "standards",
    operation_id = "rotate_signing_key",
    summary = "Rotate the signing key (published before it signs)",
    responses(
        (status = 201, description = "The new key", body = crate::wire::standards::RotatedKeyBody),
    )
))]
async fn rotate_signing_key(
    auth: Authorized<KeysManage>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let principal = auth.principal;
    let rotated = run(&core, move |k| k.rotate_signing_key(&principal)).await?;
    Ok(HttpResponse::Created().json(RotatedKeyBody::from(rotated)))
}

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
    cfg.service(
        resource("/environments/{env}/client-apps/{client_id}/jwks")
            .get(get_jwks)
            .put(put_jwks)
            .delete(delete_jwks),
    )
    .service(
        resource("/environments/{env}/audiences")
            .get(get_audiences)
            .put(put_audiences),
    )
    .service(resource("/signing-keys/rotate").post(rotate_signing_key));
}

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_jwks,
    put_jwks,
    delete_jwks,
    get_audiences,
    put_audiences,
    rotate_signing_key
))]
pub(super) struct Doc;
