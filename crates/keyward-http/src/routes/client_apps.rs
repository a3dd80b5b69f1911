//! `/api/v1/environments/{env}/client-apps`.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;
use keyward_domain::AppStatus;

use super::{page, resource, run, ClientAppsManage, ClientAppsRead};
use crate::body::read_json;
use crate::error::ApiError;
use crate::wire::apps::{AppBody, CreateAppRequest, CreatedAppBody, ReplaceAppRolesRequest};
use crate::wire::{EmptyRequest, ListQuery};
use crate::Authorized;

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/client-apps",
    tag = "client-apps",
    operation_id = "list_client_apps",
    summary = "List the client apps of an environment",
    params(("env" = String, Path, description = "The environment's slug"), crate::wire::AppListParams),
    responses(
        (status = 200, description = "A page of client apps, newest first by default", body = crate::wire::PageBody<crate::wire::apps::AppBody>),
    )
))]
async fn list(
    _auth: Authorized<ClientAppsRead>,
    path: web::Path<String>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let q = ListQuery::parse(&req)?;
    let apps = run(&core, move |k| {
        k.list_apps(&env, q.search.as_deref(), q.order, q.limit, q.cursor)
    })
    .await?;
    Ok(page(apps, AppBody::from))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/environments/{env}/client-apps",
    tag = "client-apps",
    operation_id = "create_client_app",
    summary = "Create a client app (its secret is in this response only)",
    params(("env" = String, Path, description = "The environment's slug")),
    request_body = crate::wire::apps::CreateAppRequest,
    responses(
        (status = 201, description = "Created, with the client secret", body = crate::wire::apps::CreatedAppBody, headers(("Location" = String, description = "The new app's URL"))),
        (status = 409, description = "`name-taken` or `quota-reached`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn create(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let request: CreateAppRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let created = run(&core, move |k| {
        k.create_bound_app(
            &principal,
            &env,
            &request.name,
            &request.roles,
            request.external_client_id.as_deref(),
            request.impersonate.as_deref(),
        )
    })
    .await?;
    let location = format!(
        "/api/v1/environments/{}/client-apps/{}",
        created.environment.as_str(),
        created.app.client_id.as_str()
    );
    // The secret is in this response and nowhere else, ever.
    let body = CreatedAppBody {
        app: AppBody::new(created.app, &created.environment),
        client_secret: created.client_secret.expose(),
    };
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/environments/{env}/client-apps/{client_id}",
    tag = "client-apps",
    operation_id = "get_client_app",
    summary = "Get a client app (never its secret)",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    responses(
        (status = 200, description = "The client app", body = crate::wire::apps::AppBody),
    )
))]
async fn get(
    _auth: Authorized<ClientAppsRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let app = run(&core, move |k| k.get_app(&env, &client_id)).await?;
    Ok(HttpResponse::Ok().json(AppBody::from(app)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    put,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/roles",
    tag = "client-apps",
    operation_id = "replace_client_app_roles",
    summary = "Replace a client app's roles",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    request_body = crate::wire::apps::ReplaceAppRolesRequest,
    responses(
        (status = 200, description = "The client app", body = crate::wire::apps::AppBody),
    )
))]
async fn replace_roles(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let request: ReplaceAppRolesRequest = read_json(&req, payload).await?;
    let principal = auth.principal;
    let app = run(&core, move |k| {
        k.replace_app_roles(&principal, &env, &client_id, &request.roles)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AppBody::from(app)))
}

async fn set_status(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
    status: AppStatus,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let EmptyRequest {} = read_json(&req, payload).await?;
    let principal = auth.principal;
    let app = run(&core, move |k| {
        k.set_app_status(&principal, &env, &client_id, status)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AppBody::from(app)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/deactivate",
    tag = "client-apps",
    operation_id = "deactivate_client_app",
    summary = "Deactivate a client app (idempotent): its tokens and keys fail at once",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    request_body(content = Option<crate::wire::EmptyRequest>, description = "Optional: no body at all, or `{}`"),
    responses(
        (status = 200, description = "The client app", body = crate::wire::apps::AppBody),
    )
))]
async fn deactivate(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    set_status(auth, path, req, payload, core, AppStatus::Inactive).await
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/environments/{env}/client-apps/{client_id}/activate",
    tag = "client-apps",
    operation_id = "activate_client_app",
    summary = "Activate a client app (idempotent)",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    request_body(content = Option<crate::wire::EmptyRequest>, description = "Optional: no body at all, or `{}`"),
    responses(
        (status = 200, description = "The client app", body = crate::wire::apps::AppBody),
    )
))]
async fn activate(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    set_status(auth, path, req, payload, core, AppStatus::Active).await
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete,
    path = "/api/v1/environments/{env}/client-apps/{client_id}",
    tag = "client-apps",
    operation_id = "delete_client_app",
    summary = "Delete an inactive client app",
    params(("env" = String, Path, description = "The environment's slug"), ("client_id" = String, Path, description = "The client app's client ID")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "`app-is-active`: deactivate it first", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn delete(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let principal = auth.principal;
    run(&core, move |k| k.delete_app(&principal, &env, &client_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
    cfg.service(
        resource("/environments/{env}/client-apps")
            .get(list)
            .post(create),
    )
    .service(
        resource("/environments/{env}/client-apps/{client_id}")
            .get(get)
            .delete(delete),
    )
    .service(resource("/environments/{env}/client-apps/{client_id}/roles").put(replace_roles))
    .service(resource("/environments/{env}/client-apps/{client_id}/deactivate").post(deactivate))
    .service(resource("/environments/{env}/client-apps/{client_id}/activate").post(activate));
}

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, get, replace_roles, deactivate, activate, delete))]
pub(super) struct Doc;
