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

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
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
