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

async fn get(
    _auth: Authorized<IdentityProvidersRead>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let idp = run(&core, move |k| k.get_identity_provider(&env)).await?;
    Ok(HttpResponse::Ok().json(IdentityProviderBody::from(idp)))
}

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

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/environments/{env}/identity-provider")
            .get(get)
            .put(put)
            .delete(delete),
    )
    .service(resource("/environments/{env}/client-apps/{client_id}/external").put(bind));
}
