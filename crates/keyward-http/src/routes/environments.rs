//! `/api/v1/environments`.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{
    page, resource, run, EnvironmentsCreate, EnvironmentsManageIn, EnvironmentsRead,
    EnvironmentsReadIn,
};
use crate::body::read_json;
use crate::error::ApiError;
use crate::wire::environments::{
    CreateEnvironmentRequest, EnvironmentBody, UpdateEnvironmentRequest,
};
use crate::wire::ListQuery;
use crate::Authorized;

async fn list(
    auth: Authorized<EnvironmentsRead>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(&req)?;
    let principal = auth.principal;
    let environments = run(&core, move |k| {
        k.list_environments(&principal, q.order, q.limit, q.cursor)
    })
    .await?;
    Ok(page(environments, EnvironmentBody::from))
}

async fn create(
    auth: Authorized<EnvironmentsCreate>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let request: CreateEnvironmentRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let env = run(&core, move |k| {
        k.create_environment(&principal, &request.slug, request.name.as_deref())
    })
    .await?;
    let body = EnvironmentBody::from(env);
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/environments/{}", body.slug)))
        .json(body))
}

async fn get(
    _auth: Authorized<EnvironmentsReadIn>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let env = run(&core, move |k| k.get_environment(&slug)).await?;
    Ok(HttpResponse::Ok().json(EnvironmentBody::from(env)))
}

async fn update(
    auth: Authorized<EnvironmentsManageIn>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let request: UpdateEnvironmentRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let env = run(&core, move |k| {
        k.update_environment(&principal, &slug, request.name.as_deref(), request.enabled)
    })
    .await?;
    Ok(HttpResponse::Ok().json(EnvironmentBody::from(env)))
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/environments").get(list).post(create))
        .service(resource("/environments/{env}").get(get).patch(update));
}
