//! `/api/v1/environments/{env}/roles`.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{page, resource, run, RolesManage, RolesRead};
use crate::body::{read_json, JsonObject};
use crate::error::ApiError;
use crate::wire::roles::{CreateRoleRequest, DeleteRoleQuery, ReplaceRoleRequest, RoleBody};
use crate::wire::ListQuery;
use crate::Authorized;

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

async fn get(
    _auth: Authorized<RolesRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, name) = path.into_inner();
    let role = run(&core, move |k| k.get_role(&env, &name)).await?;
    Ok(HttpResponse::Ok().json(RoleBody::from(role)))
}

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

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/environments/{env}/roles").get(list).post(create))
        .service(
            resource("/environments/{env}/roles/{role}")
                .get(get)
                .put(replace)
                .delete(delete),
        );
}
