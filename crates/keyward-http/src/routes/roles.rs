//! `/api/v1/environments/{env}/roles`.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{page, resource, run, RolesManage, RolesRead};
use crate::body::{read_json, JsonObject};
use crate::error::ApiError;
use crate::wire::roles::{CreateRoleRequest, DeleteRoleQuery, ReplaceRoleRequest, RoleBody};
use crate::wire::ListQuery;
use crate::Authorized;

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/roles",
    tag = "roles",
    operation_id = "list_roles",
    summary = "List the roles of an environment",
    params(("env" = String, Path, description = "The environment's slug"), crate::wire::ListParams),
    responses(
        (status = 200, description = "A page of roles", body = crate::wire::PageBody<crate::wire::roles::RoleBody>),
    )
))]
async fn list(
    _auth: Authorized<RolesRead>,
    path: web::Path<String>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let q = ListQuery::parse(&req)?;
    let roles = run(&core, move |k| {
        k.list_roles(&env, q.order, q.limit, q.cursor)
    })
    .await?;
    Ok(page(roles, RoleBody::from))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/environments/{env}/roles",
    tag = "roles",
    operation_id = "create_role",
    summary = "Create a role",
    params(("env" = String, Path, description = "The environment's slug")),
    request_body = crate::wire::roles::CreateRoleRequest,
    responses(
        (status = 201, description = "Created", body = crate::wire::roles::RoleBody),
        (status = 409, description = "`name-taken`: a role of that name exists", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn create(
    auth: Authorized<RolesManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let request: CreateRoleRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let role = run(&core, move |k| {
        k.create_role(&principal, &env, &request.name, &request.permissions)
    })
    .await?;
    Ok(HttpResponse::Created().json(RoleBody::from(role)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/roles/{role}",
    tag = "roles",
    operation_id = "get_role",
    summary = "Get a role",
    params(("env" = String, Path, description = "The environment's slug"), ("role" = String, Path, description = "The role's name")),
    responses(
        (status = 200, description = "The role", body = crate::wire::roles::RoleBody),
    )
))]
async fn get(
    _auth: Authorized<RolesRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, name) = path.into_inner();
    let role = run(&core, move |k| k.get_role(&env, &name)).await?;
    Ok(HttpResponse::Ok().json(RoleBody::from(role)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    put,
    path = "/api/v1/environments/{env}/roles/{role}",
    tag = "roles",
    operation_id = "replace_role",
    summary = "Replace a role's permissions",
    params(("env" = String, Path, description = "The environment's slug"), ("role" = String, Path, description = "The role's name")),
    request_body = crate::wire::roles::ReplaceRoleRequest,
    responses(
        (status = 200, description = "The role", body = crate::wire::roles::RoleBody),
        (status = 409, description = "`builtin-role`: built-in roles cannot be changed", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn replace(
    auth: Authorized<RolesManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, name) = path.into_inner();
    let body = JsonObject::read(&req, payload, false).await?;
    // A client may send the whole role back; its name must stay the same. A rename is
    // refused on its own, before the field checks.
    if body.text("name").is_some_and(|n| n != name) {
        return Err(ApiError::invalid(vec![(
            "name".into(),
            "roles cannot be renamed".into(),
        )]));
    }
    let request: ReplaceRoleRequest = body.into_request()?;
    let principal = auth.principal;
    let role = run(&core, move |k| {
        k.replace_role(&principal, &env, &name, &request.permissions)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RoleBody::from(role)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete,
    path = "/api/v1/environments/{env}/roles/{role}",
    tag = "roles",
    operation_id = "delete_role",
    summary = "Delete a role",
    params(("env" = String, Path, description = "The environment's slug"), ("role" = String, Path, description = "The role's name"), ("force" = Option<bool>, Query, description = "Unbind the role from its apps first (default false)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "`role-in-use` (delete with `?force=true`) or `builtin-role`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn delete(
    auth: Authorized<RolesManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, name) = path.into_inner();
    let DeleteRoleQuery { force } = DeleteRoleQuery::parse(&req)?;
    let principal = auth.principal;
    run(&core, move |k| {
        k.delete_role(&principal, &env, &name, force)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
    cfg.service(resource("/environments/{env}/roles").get(list).post(create))
        .service(
            resource("/environments/{env}/roles/{role}")
                .get(get)
                .put(replace)
                .delete(delete),
        );
}

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, get, replace, delete))]
pub(super) struct Doc;
