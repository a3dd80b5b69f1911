//! `/api/v1/audit`: the audit log, newest first.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{page, resource, run, AuditRead};
use crate::error::ApiError;
use crate::wire::audit::{parse_audit_query, AuditEntryBody};
use crate::Authorized;

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    operation_id = "list_audit",
    summary = "The audit log, newest first: who changed what, when and from where",
    params(crate::wire::audit::AuditParams),
    responses(
        (status = 200, description = "A page of entries", body = crate::wire::PageBody<crate::wire::audit::AuditEntryBody>),
    )
))]
async fn list(
    auth: Authorized<AuditRead>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let filter = parse_audit_query(&req)?;
    let principal = auth.principal;
    let entries = run(&core, move |k| k.list_audit(&principal, filter)).await?;
    Ok(page(entries, AuditEntryBody::from))
}

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
    cfg.service(resource("/audit").get(list));
}

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub(super) struct Doc;
