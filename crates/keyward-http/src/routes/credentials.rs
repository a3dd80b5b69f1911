//! A client app's API keys and secrets:
//! `/api/v1/environments/{env}/client-apps/{client_id}/api-keys` and `.../secrets`.
//! Keys and secrets are in the creating response and nowhere else, ever.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{resource, run, ApiKeysManage, ApiKeysRead, ClientAppsManage, ClientAppsRead};
use crate::body::read_json;
use crate::error::ApiError;
use crate::wire::credentials::{
    ApiKeyBody, CreateApiKeyRequest, CreatedApiKeyBody, RotateSecretRequest, RotatedSecretBody,
    SecretBody, SecretsBody,
};
use crate::wire::PageBody;
use crate::Authorized;

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/api-keys",
    tag = "client-apps",
    operation_id = "list_api_keys",
    summary = "List a client app's API keys (never the key text)",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    responses(
        (status = 200, description = "The keys (one page holds them all)", body = crate::wire::PageBody<crate::wire::credentials::ApiKeyBody>),
    )
))]
async fn list_api_keys(
    _auth: Authorized<ApiKeysRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let keys = run(&core, move |k| k.list_api_keys(&env, &client_id)).await?;
    // Bounded by the per-app quota: one page holds them all.
    let page = keyward_domain::Page {
        items: keys,
        next_cursor: None,
    };
    Ok(HttpResponse::Ok().json(PageBody::new(page, ApiKeyBody::from)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/api-keys",
    tag = "client-apps",
    operation_id = "create_api_key",
    summary = "Create an API key (its text is in this response only)",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    request_body = crate::wire::credentials::CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created, with the key", body = crate::wire::credentials::CreatedApiKeyBody, headers(("Location" = String, description = "The new key's URL"))),
        (status = 409, description = "`name-taken` or `quota-reached`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn create_api_key(
    auth: Authorized<ApiKeysManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let request: CreateApiKeyRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let location_base = format!("/api/v1/environments/{env}/client-apps/{client_id}/api-keys");
    let created = run(&core, move |k| {
        k.create_api_key(
            &principal,
            &env,
            &client_id,
            &request.name,
            request.expires_at.as_deref(),
        )
    })
    .await?;
    let location = format!("{location_base}/{}", created.key.id.as_str());
    let body = CreatedApiKeyBody {
        key: ApiKeyBody::from(created.key),
        api_key: created.api_key.expose(),
    };
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/api-keys/{id}",
    tag = "client-apps",
    operation_id = "delete_api_key",
    summary = "Delete an API key",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID"), ("id" = String, Path, description = "The key's or secret's ID")),
    responses(
        (status = 204, description = "Deleted"),
    )
))]
async fn delete_api_key(
    auth: Authorized<ApiKeysManage>,
    path: web::Path<(String, String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id, id) = path.into_inner();
    let principal = auth.principal;
    run(&core, move |k| {
        k.delete_api_key(&principal, &env, &client_id, &id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/secrets",
    tag = "client-apps",
    operation_id = "list_secrets",
    summary = "List a client app's live secrets (never the secret)",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    responses(
        (status = 200, description = "The current secret first, then the previous one while it lasts", body = crate::wire::credentials::SecretsBody),
    )
))]
async fn list_secrets(
    _auth: Authorized<ClientAppsRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let secrets = run(&core, move |k| k.list_secrets(&env, &client_id)).await?;
    Ok(HttpResponse::Ok().json(SecretsBody {
        items: secrets.into_iter().map(SecretBody::from).collect(),
    }))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/secrets",
    tag = "client-apps",
    operation_id = "rotate_secret",
    summary = "Rotate the client secret with a grace period",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    request_body(content = Option<crate::wire::credentials::RotateSecretRequest>, description = "Optional: no body at all, or `{}`"),
    responses(
        (status = 201, description = "The new secret (in this response only)", body = crate::wire::credentials::RotatedSecretBody),
    )
))]
async fn rotate_secret(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let request: RotateSecretRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let rotated = run(&core, move |k| {
        k.rotate_secret(&principal, &env, &client_id, request.grace_period_seconds)
    })
    .await?;
    let body = RotatedSecretBody {
        client_secret: rotated.client_secret.expose(),
        previous_secret_expires_at: rotated.previous_secret_expires_at,
    };
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/secrets/{id}",
    tag = "client-apps",
    operation_id = "end_secret",
    summary = "End the previous secret now",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID"), ("id" = String, Path, description = "The key's or secret's ID")),
    responses(
        (status = 204, description = "Ended"),
        (status = 409, description = "`current-secret`: the current secret cannot be ended", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn end_secret(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id, id) = path.into_inner();
    let principal = auth.principal;
    run(&core, move |k| {
        k.end_secret(&principal, &env, &client_id, &id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
    cfg.service(
        resource("/environments/{env}/client-apps/{client_id}/api-keys")
            .get(list_api_keys)
            .post(create_api_key),
    )
    .service(
        resource("/environments/{env}/client-apps/{client_id}/api-keys/{id}")
            .delete(delete_api_key),
    )
    .service(
        resource("/environments/{env}/client-apps/{client_id}/secrets")
            .get(list_secrets)
            .post(rotate_secret),
    )
    .service(
        resource("/environments/{env}/client-apps/{client_id}/secrets/{id}").delete(end_secret),
    );
}

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_api_keys,
    create_api_key,
    delete_api_key,
    list_secrets,
    rotate_secret,
    end_secret
))]
pub(super) struct Doc;
