//! The management API under `/api/v1`. Each route declares its permission in its
//! signature (`Authorized<P>`), reads its input, calls one use case, and answers.

mod admins;
mod client_apps;
mod environments;
mod roles;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::domain::{Page, Permission};
use keyward_core::{Error, Keyward, Target};
use serde::Serialize;
use serde_json::json;

use crate::body::Fields;
use crate::error::ApiError;
use crate::extract::Authenticated;

crate::permission!(EnvironmentsRead, "environments:read", OwnEnvironment);
crate::permission!(EnvironmentsReadIn, "environments:read", PathEnvironment);
crate::permission!(EnvironmentsCreate, "environments:manage", Global);
crate::permission!(EnvironmentsManageIn, "environments:manage", PathEnvironment);
crate::permission!(RolesRead, "roles:read", PathEnvironment);
crate::permission!(RolesManage, "roles:manage", PathEnvironment);
crate::permission!(ClientAppsRead, "client_apps:read", PathEnvironment);
crate::permission!(ClientAppsManage, "client_apps:manage", PathEnvironment);
crate::permission!(AdminsRead, "admins:read", Global);
crate::permission!(AdminsManage, "admins:manage", Global);

/// Runs a use case on the blocking pool (storage and argon2 block).
pub(crate) async fn run<T, F>(core: &web::Data<Keyward>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Keyward) -> Result<T, Error> + Send + 'static,
{
    let core = core.clone().into_inner();
    web::block(move || f(&core))
        .await
        .map_err(|e| ApiError::from(Error::Internal(format!("blocking pool: {e}"))))?
        .map_err(ApiError::from)
}

/// A list response: `{"items": [...], "next_cursor": "..." | null}`.
pub(crate) fn page<T: Serialize>(page: Page<T>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "items": page.items,
        "next_cursor": page.next_cursor.map(|c| c.encode()),
    }))
}

/// 405 with a problem body for a known path and an unsupported method.
async fn method_not_allowed() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this path does not support that method",
    ))
}

/// 404 with a problem body for an unknown path.
pub(crate) async fn no_such_route() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "no such route",
    ))
}

/// A resource whose unsupported methods get a 405 problem.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// `POST /api/v1/authorize`: may the caller use this permission now?
async fn authorize(
    auth: Authenticated,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::read(&req, payload, false).await?;
    let permission = fields.string("permission", true);
    fields.finish()?;
    let permission = Permission::parse(permission.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid(vec![("permission".into(), e.message)]))?;
    match auth.0.authorize(&permission, &Target::OwnEnvironment) {
        Ok(()) => {
            Ok(HttpResponse::Ok()
                .json(json!({"allowed": true, "permission": permission.to_string()})))
        }
        Err(e) => Err(ApiError::from(e).with("allowed", json!(false))),
    }
}

/// Registers the management API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(resource("/authorize").route(web::post().to(authorize)))
            .configure(environments::configure)
            .configure(roles::configure)
            .configure(client_apps::configure)
            .configure(admins::configure)
            .default_service(web::to(no_such_route)),
    );
}
