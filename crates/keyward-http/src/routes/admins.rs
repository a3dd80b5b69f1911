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

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "list_users",
    summary = "List users",
    params(crate::wire::ListParams),
    responses(
        (status = 200, description = "A page of users", body = crate::wire::PageBody<crate::wire::admins::AdminBody>),
    )
))]
async fn list(
    _auth: Authorized<AdminsRead>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(&req)?;
    let admins = run(&core, move |k| k.list_admins(q.order, q.limit, q.cursor)).await?;
    Ok(page(admins, AdminBody::from))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "create_user",
    summary = "Create a user",
    request_body = crate::wire::admins::CreateAdminRequest,
    responses(
        (status = 201, description = "Created", body = crate::wire::admins::AdminBody),
        (status = 409, description = "`name-taken`: the username is taken", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
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

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/users/{username}",
    tag = "users",
    operation_id = "get_user",
    summary = "Get a user",
    params(("username" = String, Path, description = "The user's login name")),
    responses(
        (status = 200, description = "The user", body = crate::wire::admins::AdminBody),
    )
))]
async fn get(
    _auth: Authorized<AdminsRead>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let username = path.into_inner();
    let admin = run(&core, move |k| k.get_admin(&username)).await?;
    Ok(HttpResponse::Ok().json(AdminBody::from(admin)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete,
    path = "/api/v1/users/{username}",
    tag = "users",
    operation_id = "delete_user",
    summary = "Delete a user",
    params(("username" = String, Path, description = "The user's login name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "`last-super-admin`: the last active Super Admin stays", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
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

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/users/{username}/credential",
    tag = "users",
    operation_id = "issue_personal_credential",
    summary = "Issue a Super Admin's personal API credential (revokes the previous one)",
    params(("username" = String, Path, description = "The user's login name")),
    request_body(content = Option<crate::wire::EmptyRequest>, description = "Optional: no body at all, or `{}`"),
    responses(
        (status = 201, description = "The credential (in this response only)", body = crate::wire::admins::CredentialBody),
        (status = 409, description = "`not-super-admin`: only a Super Admin holds one", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
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

#[cfg_attr(feature = "openapi", utoipa::path(
    put,
    path = "/api/v1/users/{username}/roles",
    tag = "users",
    operation_id = "replace_user_roles",
    summary = "Replace a user's roles",
    params(("username" = String, Path, description = "The user's login name")),
    request_body = crate::wire::admins::ReplaceUserRolesRequest,
    responses(
        (status = 200, description = "The user", body = crate::wire::admins::AdminBody),
        (status = 409, description = "`last-super-admin`: the last active Super Admin keeps the role", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
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

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/users/{username}/deactivate",
    tag = "users",
    operation_id = "deactivate_user",
    summary = "Deactivate a user: sessions and credential stop at once",
    params(("username" = String, Path, description = "The user's login name")),
    request_body(content = Option<crate::wire::EmptyRequest>, description = "Optional: no body at all, or `{}`"),
    responses(
        (status = 200, description = "The user", body = crate::wire::admins::AdminBody),
        (status = 409, description = "`last-super-admin`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn deactivate(
    auth: Authorized<AdminsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    set_status(auth, path, req, payload, core, UserStatus::Inactive).await
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/users/{username}/activate",
    tag = "users",
    operation_id = "activate_user",
    summary = "Activate a user",
    params(("username" = String, Path, description = "The user's login name")),
    request_body(content = Option<crate::wire::EmptyRequest>, description = "Optional: no body at all, or `{}`"),
    responses(
        (status = 200, description = "The user", body = crate::wire::admins::AdminBody),
    )
))]
async fn activate(
    auth: Authorized<AdminsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    set_status(auth, path, req, payload, core, UserStatus::Active).await
}

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
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

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list,
    create,
    get,
    delete,
    issue_credential,
    replace_roles,
    deactivate,
    activate
))]
pub(super) struct Doc;
