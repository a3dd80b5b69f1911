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

async fn get_jwks(
    _auth: Authorized<ClientAppsRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let jwks = run(&core, move |k| k.client_jwks(&env, &client_id)).await?;
    Ok(HttpResponse::Ok().json(jwks.unwrap_or_else(|| json!({"keys": []}))))
}

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

async fn get_audiences(
    _auth: Authorized<EnvironmentsReadIn>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let audiences = run(&core, move |k| k.environment_audiences(&env)).await?;
    Ok(HttpResponse::Ok().json(AudiencesBody { audiences }))
}

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

async fn rotate_signing_key(
    auth: Authorized<KeysManage>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let principal = auth.principal;
    let rotated = run(&core, move |k| k.rotate_signing_key(&principal)).await?;
    Ok(HttpResponse::Created().json(RotatedKeyBody::from(rotated)))
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
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
