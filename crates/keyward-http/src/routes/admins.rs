//! `/api/v1/users` (and the same routes under their older name `/api/v1/admins`):
//! users, their roles and status, and Super Admins' personal credentials.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;
use keyward_domain::UserStatus;

use super::{page, resource, run, AdminsManage, AdminsRead};
use crate::body::read_json;
use crate::error::ApiError;
use crate::wire::admins::{
    user_roles, AdminBody, CreateAdminRequest, CredentialBody, ReplaceUserRolesRequest,
};
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
        roles,
    } = read_json(&req, payload).await?;
    let roles = user_roles(role, roles)?;
    let principal = auth.principal;
    // The password is required here, so core generates none and returns none.
    let (admin, _) = run(&core, move |k| {
        k.create_user(&principal, &username, Some(password), &roles)
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

async fn replace_roles(
    auth: Authorized<AdminsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let username = path.into_inner();
    let ReplaceUserRolesRequest { role, roles } = read_json(&req, payload).await?;
    let roles = user_roles(role, roles)?;
    let principal = auth.principal;
    let user = run(&core, move |k| {
        k.replace_user_roles(&principal, &username, &roles)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AdminBody::from(user)))
}

async fn set_status(
    auth: Authorized<AdminsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
    status: UserStatus,
) -> Result<HttpResponse, ApiError> {
    let username = path.into_inner();
    let EmptyRequest {} = read_json(&req, payload).await?;
    let principal = auth.principal;
    let user = run(&core, move |k| {
        k.set_user_status(&principal, &username, status)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AdminBody::from(user)))
}

async fn deactivate(
    auth: Authorized<AdminsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    set_status(auth, path, req, payload, core, UserStatus::Inactive).await
}

async fn activate(
    auth: Authorized<AdminsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    set_status(auth, path, req, payload, core, UserStatus::Active).await
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    // `/users` is the name; `/admins` (the first release's) answers the same.
    for base in ["/users", "/admins"] {
        cfg.service(resource(base).get(list).post(create))
            .service(
                resource(&format!("{base}/{{username}}"))
                    .get(get)
                    .delete(delete),
            )
            .service(resource(&format!("{base}/{{username}}/roles")).put(replace_roles))
            .service(resource(&format!("{base}/{{username}}/deactivate")).post(deactivate))
            .service(resource(&format!("{base}/{{username}}/activate")).post(activate))
            .service(resource(&format!("{base}/{{username}}/credential")).post(issue_credential));
    }
}
