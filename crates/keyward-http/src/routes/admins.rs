//! `/api/v1/admins`: admin users and Super Admins' personal credentials.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;
use serde_json::json;

use super::{page, resource, run, AdminsManage, AdminsRead};
use crate::body::{Fields, ListParams};
use crate::error::ApiError;
use crate::Authorized;

async fn list(
    _auth: Authorized<AdminsRead>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let p = ListParams::parse(&req)?;
    Ok(page(
        run(&core, move |k| k.list_admins(p.order, p.limit, p.cursor)).await?,
    ))
}

async fn create(
    auth: Authorized<AdminsManage>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let mut f = Fields::read(&req, payload, false).await?;
    let (username, password, role) = (
        f.string("username", true),
        f.string("password", true),
        f.string("role", true),
    );
    f.finish()?;
    let principal = auth.principal;
    let (admin, _) = run(&core, move |k| {
        k.create_admin(
            &principal,
            &username.unwrap_or_default(),
            password,
            &role.unwrap_or_default(),
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(admin))
}

async fn get(
    _auth: Authorized<AdminsRead>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let username = path.into_inner();
    Ok(HttpResponse::Ok().json(run(&core, move |k| k.get_admin(&username)).await?))
}

async fn delete(
    auth: Authorized<AdminsManage>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let username = path.into_inner();
    let principal = auth.principal;
    run(&core, move |k| k.delete_admin(&principal, &username)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn issue_credential(
    auth: Authorized<AdminsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let username = path.into_inner();
    Fields::read(&req, payload, true).await?.finish()?;
    let principal = auth.principal;
    let (admin, credential) = run(&core, move |k| {
        k.issue_personal_credential(&principal, &username)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "username": admin.username,
            "credential": credential.expose(),
            "created_at": admin.credential_created_at,
        })))
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admins").get(list).post(create))
        .service(resource("/admins/{username}").get(get).delete(delete))
        .service(resource("/admins/{username}/credential").post(issue_credential));
}
