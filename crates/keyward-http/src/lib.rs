//! The actix-web adapter for Keyward: the OAuth endpoints, the management API, the
//! [`Authorized<P>`] extractor that guards every protected route, and the one place
//! where core errors become RFC 6749 or RFC 9457 responses.
//!
//! Architecture invariant: routes stay thin — authenticate and authorize through the
//! extractor, read the input, call one use case of keyward-core, answer. No route checks
//! a permission by hand, and no business rule lives here. Every request and response
//! body is a struct of the `wire` module, built from the domain types core returns.
//!
//! Embedding: register a `web::Data<keyward_core::Validator>` and use [`Authorized<P>`]
//! with a permission declared by [`permission!`] in any actix-web service.

#![cfg_attr(
    not(test),
    deny(clippy::panic, clippy::indexing_slicing, clippy::as_conversions)
)]
// Tests may read the clock and the OS RNG (see clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

mod body;
mod console;
mod cors;
mod error;
mod extract;
mod metadata;
mod metrics;
mod oauth;
#[cfg(feature = "openapi")]
pub mod openapi;
mod routes;
mod serving;
mod wire;

use actix_web::{web, HttpResponse};
use keyward_core::Keyward;

use crate::wire::{Health, HealthResponse};

pub use body::{track_requests, watch_connection, BodyError, ConnectionWatch, HttpLimits};
pub use console::{ConsoleSettings, CSRF_HEADER};
pub use cors::{cors, CorsPolicy};
pub use error::{ApiError, OAuthError, PROBLEM_TYPE_PREFIX};
pub use extract::{
    authenticate, bearer, presents_bearer, Authenticated, Authorized, Reach, RequiredPermission,
};
pub use metrics::{record_metrics, MetricsSettings};
pub use routes::Route;
pub use serving::{Serving, ServingFuture, ServingService};

/// `GET /healthz`: 200 when storage answers, 503 when it does not.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "health",
    summary = "Whether the server can serve",
    security(()),
    responses(
        (status = 200, description = "It can serve", body = crate::wire::HealthResponse),
        (status = 503, description = "Its storage does not answer", body = crate::wire::HealthResponse, headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
))]
async fn healthz(core: web::Data<Keyward>) -> HttpResponse {
    let core = core.into_inner();
    let answer = web::block(move || core.health())
        .await
        .unwrap_or_else(|e| Err(keyward_core::Error::Internal(format!("blocking pool: {e}"))));
    match answer {
        Ok(()) => HttpResponse::Ok().json(HealthResponse {
            status: Health::Ok,
            reason: None,
        }),
        Err(e) => {
            // Whatever the class, a failed health check means "do not send traffic
            // here": 503, and the class says what to look at.
            error::log_if_serious("health check", &e);
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "1"))
                .json(HealthResponse {
                    status: Health::Unavailable,
                    reason: Some(error::classify(&e).reason()),
                })
        }
    }
}

/// Registers every Keyward route. The app must hold `web::Data<Keyward>` and
/// `web::Data<Validator>` (the one `Keyward::validator()` returns), and may hold
/// [`HttpLimits`] (the body deadline; default 10 s).
///
/// Register `web::Data<ConsoleSettings>` too to let the console's session cookie
/// authenticate management calls.
///
/// Every path answers `HEAD` where it answers `GET`, `OPTIONS` with 204 and `Allow`,
/// and other methods with 405 and `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // The document is built once, here at startup, not per request.
    #[cfg(feature = "openapi")]
    openapi::prepare();
    let mut table = Vec::new();
    register(cfg, &mut table);
}

/// Every route [`configure`] registers, in registration order: the single source the
/// OpenAPI coverage test compares with the document (both ways). `GET` routes appear
/// with their `HEAD` twin; the `OPTIONS` and 405 answers of each path are not routes.
pub fn route_table() -> Vec<Route> {
    let mut table = Vec::new();
    // `App::configure` runs the registration at once; the app is never started.
    let _app = actix_web::App::new().configure(|cfg| register(cfg, &mut table));
    table
}

fn register(cfg: &mut web::ServiceConfig, table: &mut Vec<Route>) {
    let mut r = routes::Routes::new(cfg, table);
    r.service(routes::resource("/oauth2/token").post(oauth::token))
        .service(routes::resource("/oauth2/status").get(oauth::status))
        .service(routes::resource("/oauth2/introspect").post(oauth::introspect))
        .service(routes::resource("/oauth2/revoke").post(oauth::revoke))
        .service(routes::resource("/.well-known/jwks.json").get(oauth::jwks))
        .service(
            routes::resource("/.well-known/oauth-authorization-server")
                .get(metadata::default_metadata),
        )
        .service(
            routes::resource("/.well-known/openid-configuration")
                .get(metadata::openid_configuration),
        )
        .service(routes::resource("/healthz").get(healthz))
        .service(routes::resource("/readyz").get(metrics::readyz))
        .service(routes::resource("/metrics").get(metrics::metrics));
    console::configure(&mut r);
    routes::configure(&mut r);
    // actix-web tries routes in order, and a path with a parameter costs a regex
    // match: these come after the static routes and the `/api/v1` scope, so no call
    // on a hot path (the token endpoint, status, authorize) pays for them.
    r.service(
        routes::resource("/.well-known/oauth-authorization-server/environments/{env}")
            .get(metadata::environment_metadata),
    )
    .service(
        routes::resource("/environments/{env}/.well-known/openid-configuration")
            .get(metadata::environment_openid_configuration),
    )
    .service(
        routes::resource("/environments/{env}/.well-known/oauth-authorization-server")
            .get(metadata::environment_metadata_appended),
    );
    r.default_service(routes::no_such_route);
}
