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

async fn get(
    _auth: Authorized<ClientAppsRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let app = run(&core, move |k| k.get_app(&env, &client_id)).await?;
    Ok(HttpResponse::Ok().json(AppBody::from(app)))
}

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

async fn deactivate(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    set_status(auth, path, req, payload, core, AppStatus::Inactive).await
}

async fn activate(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    set_status(auth, path, req, payload, core, AppStatus::Active).await
}

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

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
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
