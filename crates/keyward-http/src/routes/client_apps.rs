//! `/api/v1/environments/{env}/client-apps`.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::domain::AppStatus;
use keyward_core::store::AppQuery;
use keyward_core::Keyward;
use serde_json::json;

use super::{page, resource, run, ClientAppsManage, ClientAppsRead};
use crate::body::{Fields, ListParams};
use crate::error::ApiError;
use crate::Authorized;

async fn list(
    _auth: Authorized<ClientAppsRead>,
    path: web::Path<String>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let p = ListParams::parse(&req)?;
    let query = AppQuery {
        search: p.search,
        order: p.order,
        limit: p.limit,
        cursor: p.cursor,
    };
    Ok(page(run(&core, move |k| k.list_apps(&env, &query)).await?))
}

async fn create(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let mut f = Fields::read(&req, payload, false).await?;
    let (name, roles) = (f.string("name", true), f.string_list("roles", false));
    f.finish()?;
    let principal = auth.principal;
    let created = run(&core, move |k| {
        k.create_app(
            &principal,
            &env,
            &name.unwrap_or_default(),
            &roles.unwrap_or_default(),
        )
    })
    .await?;
    let mut body = serde_json::to_value(&created.app)
        .map_err(|e| ApiError::from(keyward_core::Error::Internal(e.to_string())))?;
    // The secret is in this response and nowhere else, ever.
    body["client_secret"] = json!(created.client_secret.expose());
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!(
                "/api/v1/environments/{}/client-apps/{}",
                created.app.environment, created.app.client_id
            ),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}

async fn get(
    _auth: Authorized<ClientAppsRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    Ok(HttpResponse::Ok().json(run(&core, move |k| k.get_app(&env, &client_id)).await?))
}

async fn replace_roles(
    auth: Authorized<ClientAppsManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, client_id) = path.into_inner();
    let mut f = Fields::read(&req, payload, false).await?;
    let roles = f.string_list("roles", true);
    f.finish()?;
    let principal = auth.principal;
    Ok(HttpResponse::Ok().json(
        run(&core, move |k| {
            k.replace_app_roles(&principal, &env, &client_id, &roles.unwrap_or_default())
        })
        .await?,
    ))
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
    Fields::read(&req, payload, true).await?.finish()?;
    let principal = auth.principal;
    Ok(HttpResponse::Ok().json(
        run(&core, move |k| {
            k.set_app_status(&principal, &env, &client_id, status)
        })
        .await?,
    ))
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
