//! `/api/v1/environments`.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{
    page, resource, run, EnvironmentsCreate, EnvironmentsManageIn, EnvironmentsRead,
    EnvironmentsReadIn,
};
use crate::body::{Fields, ListParams};
use crate::error::ApiError;
use crate::Authorized;

async fn list(
    auth: Authorized<EnvironmentsRead>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let p = ListParams::parse(&req)?;
    let principal = auth.principal;
    Ok(page(
        run(&core, move |k| {
            k.list_environments(&principal, p.order, p.limit, p.cursor)
        })
        .await?,
    ))
}

async fn create(
    _auth: Authorized<EnvironmentsCreate>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let mut f = Fields::read(&req, payload, false).await?;
    let (slug, name) = (f.string("slug", true), f.string("name", false));
    f.finish()?;
    let env = run(&core, move |k| {
        k.create_environment(&slug.unwrap_or_default(), name.as_deref())
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/environments/{}", env.slug)))
        .json(env))
}

async fn get(
    _auth: Authorized<EnvironmentsReadIn>,
    path: web::Path<String>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    Ok(HttpResponse::Ok().json(run(&core, move |k| k.get_environment(&slug)).await?))
}

async fn update(
    _auth: Authorized<EnvironmentsManageIn>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let mut f = Fields::read(&req, payload, false).await?;
    let (enabled, name) = (f.boolean("enabled"), f.string("name", false));
    f.finish()?;
    Ok(HttpResponse::Ok().json(
        run(&core, move |k| {
            k.update_environment(&slug, name.as_deref(), enabled)
        })
        .await?,
    ))
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/environments").get(list).post(create))
        .service(resource("/environments/{env}").get(get).patch(update));
}
