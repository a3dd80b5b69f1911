//! The management API under `/api/v1`. Each route declares its permission in its
//! signature (`Authorized<P>`), reads its input, calls one use case, and answers.

mod admins;
mod client_apps;
mod environments;
mod roles;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::domain::{EnvironmentSlug, Page, Permission};
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
    // A resource server that serves one environment names it, so that a token of
    // another environment holding the same permission is refused.
    let environment = fields.string("environment", false);
    fields.finish()?;
    let mut errors = Vec::new();
    let permission = Permission::parse(permission.as_deref().unwrap_or_default())
        .map_err(|e| errors.push(("permission".to_owned(), e.message)))
        .ok();
    let target = match environment.as_deref().map(EnvironmentSlug::parse) {
        None => Some(Target::OwnEnvironment),
        Some(Ok(slug)) => Some(Target::Environment(slug)),
        Some(Err(e)) => {
            errors.push(("environment".to_owned(), e.message));
            None
        }
    };
    let (Some(permission), Some(target)) = (permission, target) else {
        return Err(ApiError::invalid(errors));
    };
    let caller_environment = auth.0.environment().map(|e| e.as_str().to_owned());
    match auth.0.authorize(&permission, &target) {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({
            "allowed": true,
            "permission": permission.to_string(),
            "environment": caller_environment,
        }))),
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
