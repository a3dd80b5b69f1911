//! `/api/v1/audit`: the audit log, newest first.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{page, resource, run, AuditRead};
use crate::error::ApiError;
use crate::wire::audit::{parse_audit_query, AuditEntryBody};
use crate::Authorized;

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

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/audit").get(list));
}
