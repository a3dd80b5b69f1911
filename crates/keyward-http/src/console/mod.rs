//! The web console (SPEC §8) at `/console`: one HTML page, one ES module and one
//! stylesheet, embedded in the binary, and the session routes under
//! `/console/session`. The page holds no business rule: it calls the management API
//! with the session cookie, and the API's extractor (`crate::extract`) checks the
//! session's live permissions like any other credential's.
//!
//! Security: the session cookie is `HttpOnly`, `SameSite=Strict`, `Path=/`, and
//! `Secure` with the `__Host-` prefix when the public URL is https. Every state change
//! made with the cookie must carry the session's CSRF token in `X-CSRF-Token` (403
//! otherwise); the login itself accepts only a JSON body, which no cross-site form can
//! send. Pages are served with a Content-Security-Policy that allows scripts and
//! styles from this origin only (no inline script), and may not be framed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::{csrf_matches, Error, Keyward, Principal, Target};

use crate::body::read_json;
use crate::error::ApiError;
use crate::routes::resource;
use crate::wire::console::{ChangePasswordRequest, LoginRequest, SessionBody};

/// The console's HTML shell.
const INDEX_HTML: &str = include_str!("../../console/index.html");
/// The console's script (a plain ES module: no build step).
const APP_JS: &str = include_str!("../../console/app.js");
/// The console's stylesheet.
const APP_CSS: &str = include_str!("../../console/app.css");

/// The header a state change made with the session cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The policy every console page is served with: nothing inline, nothing from
/// elsewhere, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// How the console's cookie is set: register as `web::Data<ConsoleSettings>` to turn
/// session authentication on (without it, only Bearer credentials are accepted).
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// Whether the public URL is https: then the cookie is `Secure` and named with the
    /// `__Host-` prefix.
    pub secure: bool,
    /// Seconds of inactivity after which a session expires (told to the page).
    pub idle_timeout_seconds: i64,
}

impl ConsoleSettings {
    /// The session cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-keyward_session"
        } else {
            "keyward_session"
        }
    }

    fn set_cookie(&self, value: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.cookie_name()
        )
    }

    fn clear_cookie(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}",
            self.cookie_name()
        )
    }
}

/// The value of the cookie `name` in the request's `Cookie` headers, if any.
fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn settings(req: &HttpRequest) -> Option<web::Data<ConsoleSettings>> {
    req.app_data::<web::Data<ConsoleSettings>>().cloned()
}

fn core(req: &HttpRequest) -> Result<Arc<Keyward>, Error> {
    req.app_data::<web::Data<Keyward>>()
        .map(|d| d.clone().into_inner())
        .ok_or_else(|| Error::Internal("no Keyward registered as app data".into()))
}

/// Whether a method changes state (and so needs the CSRF token with a cookie).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A request authenticated by the console's session cookie, before its principal is
/// resolved.
pub(crate) struct SessionRequest {
    core: Result<Arc<Keyward>, Error>,
    token: String,
    csrf_ok: bool,
}

/// The session a request presents, when it presents no `Authorization` header (a
/// Bearer credential always wins) and the console is enabled.
pub(crate) fn session_of(req: &HttpRequest) -> Option<SessionRequest> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return None;
    }
    let settings = settings(req)?;
    let token = cookie(req, settings.cookie_name())?;
    let csrf_ok = !changes_state(req.method())
        || req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| csrf_matches(&token, v));
    Some(SessionRequest {
        core: core(req),
        token,
        csrf_ok,
    })
}

fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf-token-invalid",
        "Missing or wrong CSRF token",
        format!(
            "a state change made with the console's session cookie must carry the session's \
             CSRF token in the `{CSRF_HEADER}` header"
        ),
    )
}

impl SessionRequest {
    /// The session's principal on `target` (see `Keyward::session_principal`); 403
    /// first when a state change lacks the CSRF token.
    pub(crate) async fn principal(self, target: Target) -> Result<Principal, ApiError> {
        if !self.csrf_ok {
            return Err(csrf_refused());
        }
        let core = self.core?;
        let token = self.token;
        web::block(move || core.session_principal(&token, &target))
            .await
            .map_err(|e| ApiError::from(Error::Internal(format!("blocking pool: {e}"))))?
            .map_err(ApiError::from)
    }
}

/// Runs `f` on the blocking pool (storage and argon2 block).
async fn blocking<T: Send + 'static>(
    core: &web::Data<Keyward>,
    f: impl FnOnce(&Keyward) -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    let core = core.clone().into_inner();
    web::block(move || f(&core))
        .await
        .map_err(|e| ApiError::from(Error::Internal(format!("blocking pool: {e}"))))?
        .map_err(ApiError::from)
}

/// A console asset or page with the console's security headers.
fn asset(content_type: &'static str, body: &'static str, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML, "no-store")
}

async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS, "no-cache")
}

async fn app_css() -> HttpResponse {
    asset("text/css; charset=utf-8", APP_CSS, "no-cache")
}

fn session_body(
    settings: &ConsoleSettings,
    username: String,
    csrf_token: String,
    must_change_password: bool,
    environments: Option<Vec<String>>,
) -> SessionBody {
    SessionBody {
        username,
        csrf_token,
        must_change_password,
        environments,
        idle_timeout_seconds: settings.idle_timeout_seconds,
    }
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_enabled() -> ApiError {
    ApiError::from(Error::Internal("console settings not registered".into()))
}

/// `POST /console/session`: logs in; 200 with the session and its cookie, 401 (after
/// as long as a password check takes, whatever the cause), 429 when throttled.
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/console/session",
    tag = "console",
    operation_id = "console_login",
    summary = "Log in: sets the session cookie",
    request_body = crate::wire::console::LoginRequest,
    security(()),
    responses(
        (status = 200, description = "The session, and its cookie", body = crate::wire::console::SessionBody, headers(("Set-Cookie" = String, description = "The session cookie: HttpOnly, SameSite=Strict"))),
        (status = 401, description = "`login-failed`: wrong username or password", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`throttled`: too many failed attempts", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn login(
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let settings = settings(&req).ok_or_else(not_enabled)?;
    let request: LoginRequest = read_json(&req, payload).await?;
    let source: Option<IpAddr> = req.peer_addr().map(|a| a.ip());
    let outcome = blocking(&core, move |k| {
        k.login(&request.username, &request.password, source)
    })
    .await;
    let logged_in = match outcome {
        Ok(l) => l,
        Err(e) if e.kind() == "unauthenticated" => {
            let wait = core.refusal_delay().saturating_sub(started.elapsed());
            actix_web::rt::time::sleep(wait).await;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "login-failed",
                "Wrong username or password",
                "the username or the password is wrong",
            )
            .without_credentials());
        }
        Err(e) => return Err(e),
    };
    let token = logged_in.token.expose().to_owned();
    let csrf = logged_in.token.csrf_token();
    let environments = {
        let token = token.clone();
        blocking(&core, move |k| k.session_environments(&token)).await?
    };
    let body = session_body(
        &settings,
        logged_in.username.as_str().to_owned(),
        csrf,
        logged_in.must_change_password,
        environments,
    );
    Ok(no_store(
        HttpResponse::Ok()
            .insert_header((header::SET_COOKIE, settings.set_cookie(&token)))
            .json(body),
    ))
}

/// The session cookie of a request, or 401.
fn session_token(req: &HttpRequest) -> Result<(web::Data<ConsoleSettings>, String), ApiError> {
    let settings = settings(req).ok_or_else(not_enabled)?;
    let token = cookie(req, settings.cookie_name()).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no-session",
            "Not logged in",
            "log in to the console first",
        )
        .without_credentials()
    })?;
    Ok((settings, token))
}

fn check_csrf(req: &HttpRequest, token: &str) -> Result<(), ApiError> {
    let ok = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| csrf_matches(token, v));
    if ok {
        Ok(())
    } else {
        Err(csrf_refused())
    }
}

/// `GET /console/session`: who is logged in (200), or 401.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/console/session",
    tag = "console",
    operation_id = "get_console_session",
    summary = "Who is logged in",
    security(("session" = [])),
    responses(
        (status = 200, description = "The session", body = crate::wire::console::SessionBody),
        (status = 401, description = "`no-session` or `unauthenticated`: not logged in, or the session expired", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn current(req: HttpRequest, core: web::Data<Keyward>) -> Result<HttpResponse, ApiError> {
    let (settings, token) = session_token(&req)?;
    let csrf = keyward_core::csrf_token(&token);
    let (session, environments) = blocking(&core, move |k| {
        let session = k.session(&token)?;
        let environments = k.session_environments(&token)?;
        Ok((session, environments))
    })
    .await?;
    Ok(no_store(HttpResponse::Ok().json(session_body(
        &settings,
        session.username.as_str().to_owned(),
        csrf,
        session.must_change_password,
        environments,
    ))))
}

/// `DELETE /console/session`: logs out (204) and clears the cookie. Needs the CSRF
/// token, so another site cannot log the user out.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete,
    path = "/console/session",
    tag = "console",
    operation_id = "console_logout",
    summary = "Log out: clears the cookie",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`no-session`: not logged in", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`csrf-token-invalid`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn logout(req: HttpRequest, core: web::Data<Keyward>) -> Result<HttpResponse, ApiError> {
    let (settings, token) = session_token(&req)?;
    check_csrf(&req, &token)?;
    let source: Option<IpAddr> = req.peer_addr().map(|a| a.ip());
    blocking(&core, move |k| k.logout(&token, source)).await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::SET_COOKIE, settings.clear_cookie()))
        .finish())
}

/// `POST /console/session/password`: replaces the user's password (204); 422 when the
/// current one is wrong or the new one breaks the rules.
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/console/session/password",
    tag = "console",
    operation_id = "change_console_password",
    summary = "Replace the logged-in user's password",
    request_body = crate::wire::console::ChangePasswordRequest,
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "`no-session`: not logged in", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`csrf-token-invalid`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`throttled`: too many failed attempts", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn change_password(
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (_, token) = session_token(&req)?;
    check_csrf(&req, &token)?;
    let request: ChangePasswordRequest = read_json(&req, payload).await?;
    let source: Option<IpAddr> = req.peer_addr().map(|a| a.ip());
    blocking(&core, move |k| {
        k.change_password(
            &token,
            &request.current_password,
            request.new_password,
            source,
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the console's page, assets and session routes.
pub(crate) fn configure(cfg: &mut crate::routes::Routes<'_>) {
    cfg.service(resource("/console").get(index))
        .service(resource("/console/").get(index))
        .service(resource("/console/app.js").get(app_js))
        .service(resource("/console/app.css").get(app_css))
        .service(
            resource("/console/session")
                .get(current)
                .post(login)
                .delete(logout),
        )
        .service(resource("/console/session/password").post(change_password));
}

#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(current, login, logout, change_password))]
struct Doc;

/// The session routes' part of the OpenAPI document (the page and its assets are not
/// an API, and are left out).
#[cfg(feature = "openapi")]
pub(crate) fn documented() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    Doc::openapi()
}
