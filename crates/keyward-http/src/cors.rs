//! CORS for the OAuth endpoints and the management API: off unless origins are
//! configured. With a [`CorsPolicy`] in the app data, a request from an allowed
//! `Origin` gets `Access-Control-Allow-Origin` (that origin, never `*` with a
//! credential), and a preflight (`OPTIONS` with `Access-Control-Request-Method`) is
//! answered 204 at once with the methods and headers Keyward accepts. Requests from
//! other origins get no CORS header, so browsers keep refusing them. No cookies are
//! involved (`Access-Control-Allow-Credentials` is never sent): browsers call Keyward
//! with `Authorization` headers.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

/// Which origins may call Keyward from a browser.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    /// Exact origins (`https://console.example.com`), or `*` for any.
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight answer, in seconds.
    pub max_age_seconds: u32,
}

impl CorsPolicy {
    fn allows(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "Authorization, Content-Type";
const EXPOSED_HEADERS: &str = "WWW-Authenticate, Retry-After, Location";

/// The CORS middleware (wrap the app with `middleware::from_fn(cors)`). The server
/// uses [`crate::Serving`], which does the same in one layer with the metrics.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(allowed) = allowed_origin(&req) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if let Some(response) = preflight(&req, &allowed) {
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    decorate(res.headers_mut(), allowed);
    Ok(res.map_into_left_body())
}

/// The request's `Origin` when the policy allows it (the value to send back in
/// `Access-Control-Allow-Origin`); `None` without a policy, an `Origin` or a match.
pub(crate) fn allowed_origin(req: &ServiceRequest) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    let policy = req.app_data::<web::Data<CorsPolicy>>()?;
    let text = origin.to_str().ok()?;
    policy.allows(text).then(|| origin.clone())
}

/// The 204 answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`) from
/// an allowed origin; `None` for any other request.
pub(crate) fn preflight(req: &ServiceRequest, allowed: &HeaderValue) -> Option<HttpResponse> {
    if req.method() != Method::OPTIONS
        || !req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    let max_age = req
        .app_data::<web::Data<CorsPolicy>>()
        .map_or(600, |p| p.max_age_seconds);
    Some(
        HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed.clone()))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, max_age.to_string()))
            .insert_header((header::VARY, "Origin"))
            .finish(),
    )
}

/// Adds the CORS headers of an allowed origin to an actual (non-preflight) response.
pub(crate) fn decorate(headers: &mut header::HeaderMap, allowed: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}
