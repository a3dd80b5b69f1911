//! `GET /metrics` (Prometheus text format), `GET /readyz`, and the middleware that
//! times every request by route (SPEC §12).

use std::time::{Duration, Instant};

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;
use subtle::ConstantTimeEq;

use crate::error;
use crate::wire::{Health, HealthResponse};

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// When set, `/metrics` answers only `Authorization: Bearer <token>` (Prometheus'
    /// `authorization` scrape setting); when not, it answers anyone who reaches it.
    /// The metrics hold no secret, but they tell how busy and how large the service is.
    pub token: Option<String>,
}

/// How long ago the change feed may have been read for `/readyz` to answer 200: the
/// feed is read at least every 250 ms, so this is many missed reads in a row.
const MAX_FEED_AGE: Duration = Duration::from_secs(5);

/// Middleware: records each request's latency under its route pattern (never the raw
/// path, so a scan of random paths cannot create series), method and status class.
/// It also marks the request in progress on its connection, as
/// [`crate::track_requests`] does: a server mounts one of the two (one layer less on
/// every request).
pub async fn record_metrics(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let _in_flight = crate::body::in_flight(&req);
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    crate::serving::observe(res.request(), method, res.status().as_u16(), started);
    Ok(res)
}

/// The method as a label: the standard ones by name, anything else as `other`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`: every metric in the Prometheus text exposition format 0.0.4.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "get_metrics",
    summary = "Every metric, in the Prometheus text format 0.0.4",
    description = "Open unless `metrics.token` is set; then it needs `Authorization: Bearer <metrics.token>`.",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain"),
        (status = 401, description = "`metrics.token` is set and the request does not carry it (no body)", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"metrics\"`"))),
    )
))]
pub(crate) async fn metrics(
    req: HttpRequest,
    core: web::Data<Keyward>,
    settings: Option<web::Data<MetricsSettings>>,
) -> HttpResponse {
    if let Some(expected) = settings.as_ref().and_then(|s| s.token.as_deref()) {
        let presented = crate::bearer(&req).unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
                .finish();
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(core.render_metrics())
}

/// `GET /readyz`: 200 when this instance should get traffic — its storage answers and
/// it follows the change feed (its caches are current) — and 503 with the reason
/// otherwise. `/healthz` checks storage only.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "ready",
    summary = "Whether this instance should get traffic (storage answers and the change feed is current)",
    security(()),
    responses(
        (status = 200, description = "Ready", body = crate::wire::HealthResponse),
        (status = 503, description = "Not ready: `reason` says why (e.g. `storage-unavailable`, `change-feed-stale`)", body = crate::wire::HealthResponse, headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
))]
pub(crate) async fn readyz(core: web::Data<Keyward>) -> HttpResponse {
    let core = core.into_inner();
    let storage = {
        let core = std::sync::Arc::clone(&core);
        web::block(move || core.health())
            .await
            .unwrap_or_else(|e| Err(keyward_core::Error::Internal(format!("blocking pool: {e}"))))
    };
    let reason = match storage {
        Err(e) => {
            error::log_if_serious("readiness check", &e);
            Some(error::classify(&e).reason())
        }
        Ok(()) => match core.change_feed_age() {
            Some(age) if age <= MAX_FEED_AGE => None,
            _ => Some("change-feed-stale"),
        },
    };
    match reason {
        None => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(HealthResponse {
                status: Health::Ok,
                reason: None,
            }),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(HealthResponse {
                status: Health::Unavailable,
                reason: Some(reason),
            }),
    }
}
