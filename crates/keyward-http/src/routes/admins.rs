//! `/api/v1/admins`: admin users and Super Admins' personal credentials.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{page, resource, run, AdminsManage, AdminsRead};
use crate::body::read_json;
use crate::error::ApiError;
use crate::wire::admins::{AdminBody, CreateAdminRequest, CredentialBody};
use crate::wire::{EmptyRequest, ListQuery};
use crate::Authorized;

async fn list(
    _auth: Authorized<AdminsRead>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(&req)?;
    let admins = run(&core, move |k| k.list_admins(q.order, q.limit, q.cursor)).await?;
    Ok(page(admins, AdminBody::from))
}

async fn create(
    auth: Authorized<AdminsManage>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let CreateAdminRequest {
        username,
        password,
        role,
    } = read_json(&req, payload).await?;
    let principal = auth.principal;
    // The password is required here, so core generates none and returns none.
    let (admin, _) = run(&core, move |k| {
        k.create_admin(&principal, &username, Some(password), &role)
    })
    .await?;
    Ok(HttpResponse::Created().json(AdminBody::from(admin)))
}

async fn get(
    _auth: Authorized<AdminsRead>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let username = path.into_inner();
    let admin = run(&core, move |k| k.get_admin(&username)).await?;
    Ok(HttpResponse::Ok().json(AdminBody::from(admin)))
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
    let EmptyRequest {} = read_json(&req, payload).await?;
    let principal = auth.principal;
    let (admin, credential) = run(&core, move |k| {
        k.issue_personal_credential(&principal, &username)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(CredentialBody {
            username: admin.username.as_str().to_owned(),
            credential: credential.expose(),
            created_at: admin.credential_created_at,
        }))
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admins").get(list).post(create))
        .service(resource("/admins/{username}").get(get).delete(delete))
        .service(resource("/admins/{username}/credential").post(issue_credential));
}
