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

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments",
    tag = "environments",
    operation_id = "list_environments",
    summary = "List the environments the caller may see",
    params(crate::wire::ListParams),
    responses(
        (status = 200, description = "A page of environments", body = crate::wire::PageBody<crate::wire::environments::EnvironmentBody>),
    )
))]
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

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/environments",
    tag = "environments",
    operation_id = "create_environment",
    summary = "Create an environment",
    request_body = crate::wire::environments::CreateEnvironmentRequest,
    responses(
        (status = 201, description = "Created", body = crate::wire::environments::EnvironmentBody, headers(("Location" = String, description = "The new environment's URL"))),
        (status = 409, description = "`name-taken`: the slug is taken", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
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

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}",
    tag = "environments",
    operation_id = "get_environment",
    summary = "Get an environment",
    params(("env" = String, Path, description = "The environment's slug")),
    responses(
        (status = 200, description = "The environment", body = crate::wire::environments::EnvironmentBody),
    )
))]
async fn get(
    _auth: Authorized<EnvironmentsReadIn>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let env = run(&core, move |k| k.get_environment(&slug)).await?;
    Ok(HttpResponse::Ok().json(EnvironmentBody::from(env)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    patch,
    path = "/api/v1/environments/{env}",
    tag = "environments",
    operation_id = "update_environment",
    summary = "Rename, disable or enable an environment",
    params(("env" = String, Path, description = "The environment's slug")),
    request_body = crate::wire::environments::UpdateEnvironmentRequest,
    responses(
        (status = 200, description = "The environment", body = crate::wire::environments::EnvironmentBody),
    )
))]
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

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
    cfg.service(resource("/environments").get(list).post(create))
        .service(resource("/environments/{env}").get(get).patch(update));
}

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, get, update))]
pub(super) struct Doc;
