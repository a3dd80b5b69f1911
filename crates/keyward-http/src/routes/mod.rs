//! The management API under `/api/v1`. Each route declares its permission in its
//! signature (`Authorized<P>`), reads its input, calls one use case, and answers.

mod admins;
mod audit;
mod client_apps;
mod credentials;
mod environments;
mod federation;
mod live;
mod roles;
mod standards;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use keyward_core::{Error, Keyward, Target, Validator};
use keyward_domain::{EnvironmentSlug, Page, Permission};
use serde::Serialize;

use crate::body::{parse_json, EarlyBody, JSON_LIMIT};
use crate::error::ApiError;
use crate::extract::{bearer_value, single_authorization, Authenticated};
use crate::wire::authorize::{AuthorizeRequest, AuthorizeResponse};
use crate::wire::PageBody;

crate::permission!(EnvironmentsRead, "environments:read", OwnEnvironment);
crate::permission!(EnvironmentsReadIn, "environments:read", PathEnvironment);
crate::permission!(EnvironmentsCreate, "environments:manage", Global);
crate::permission!(EnvironmentsManageIn, "environments:manage", PathEnvironment);
crate::permission!(RolesRead, "roles:read", PathEnvironment);
crate::permission!(RolesManage, "roles:manage", PathEnvironment);
crate::permission!(ClientAppsRead, "client_apps:read", PathEnvironment);
crate::permission!(ClientAppsManage, "client_apps:manage", PathEnvironment);
crate::permission!(ApiKeysRead, "api_keys:read", PathEnvironment);
crate::permission!(ApiKeysManage, "api_keys:manage", PathEnvironment);
crate::permission!(
    IdentityProvidersRead,
    "identity_providers:read",
    PathEnvironment
);
crate::permission!(
    IdentityProvidersManage,
    "identity_providers:manage",
    PathEnvironment
);
crate::permission!(LiveRead, "live:read", OwnEnvironment);
crate::permission!(AdminsRead, "admins:read", Global);
crate::permission!(AdminsManage, "admins:manage", Global);
crate::permission!(KeysManage, "keys:manage", Global);
crate::permission!(AuditRead, "audit:read", QueryEnvironment);

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

/// A list response, `{"items": [...], "next_cursor": "..." | null}`, of a page of domain
/// items each turned into its wire type.
pub(crate) fn page<D, T: Serialize>(page: Page<D>, to_body: impl FnMut(D) -> T) -> HttpResponse {
    HttpResponse::Ok().json(PageBody::new(page, to_body))
}

/// The answer for a known path and a method it does not route: `OPTIONS` gets 204 with
/// `Allow`, anything else 405 problem JSON with `Allow` (RFC 9110 §15.5.6).
fn method_not_allowed(req: &HttpRequest, allow: &HeaderValue) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return HttpResponse::NoContent()
            .insert_header((header::ALLOW, allow.clone()))
            .finish();
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this path does not support that method",
    )
    .response_with_allow(allow)
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

/// One route the app serves: a method and a path template, with `{name}` for a path
/// parameter (the same syntax in actix-web and OpenAPI).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// The HTTP method (`GET`, `HEAD`, `POST`, …).
    pub method: String,
    /// The full path template, e.g. `/api/v1/environments/{env}`.
    pub path: String,
}

/// Where routes are registered: every route goes through [`Routes::service`], which
/// records its methods and full path, so that the route table ([`crate::route_table`])
/// is exactly what the app serves and the OpenAPI coverage test can compare it with the
/// document.
pub(crate) struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    prefix: String,
    table: &'a mut Vec<Route>,
}

impl<'a> Routes<'a> {
    /// Registers into `cfg`, recording into `table`.
    pub(crate) fn new(cfg: &'a mut web::ServiceConfig, table: &'a mut Vec<Route>) -> Self {
        Self {
            cfg,
            prefix: String::new(),
            table,
        }
    }

    /// Registers an endpoint and records its routes.
    pub(crate) fn service(&mut self, mut endpoint: Endpoint) -> &mut Self {
        let path = format!("{}{}", self.prefix, endpoint.path);
        for method in &endpoint.methods {
            self.table.push(Route {
                method: method.as_str().to_owned(),
                path: path.clone(),
            });
        }
        // The pattern the metrics label the resource's requests with.
        endpoint.resource = endpoint
            .resource
            .app_data(crate::serving::RouteLabel::new(path));
        self.cfg.service(endpoint);
        self
    }

    /// Registers the routes `f` adds under `prefix`, in one actix scope whose unknown
    /// paths get 404 problem JSON.
    pub(crate) fn scope(&mut self, prefix: &str, f: impl FnOnce(&mut Routes<'_>)) -> &mut Self {
        let full = format!("{}{prefix}", self.prefix);
        let table = &mut *self.table;
        let scope = web::scope(prefix)
            .configure(|cfg| {
                let mut inner = Routes {
                    cfg,
                    prefix: full,
                    table,
                };
                f(&mut inner);
            })
            .default_service(web::to(no_such_route));
        self.cfg.service(scope);
        self
    }

    /// Sets the service for requests no route matches.
    pub(crate) fn default_service<F, Args>(&mut self, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.cfg.default_service(web::to(handler));
        self
    }
}

/// A path and the methods it routes. Every route is registered through it, so that it
/// knows its methods: `GET` routes also answer `HEAD` (RFC 9110 §9.1, the same handler;
/// the HTTP layer sends no body), `OPTIONS` answers 204 with `Allow`, and any other
/// method gets 405 with `Allow`.
pub(crate) struct Endpoint {
    path: String,
    resource: actix_web::Resource,
    methods: Vec<Method>,
}

/// Starts an [`Endpoint`] at `path`; add its methods with [`Endpoint::get`] and friends.
pub(crate) fn resource(path: &str) -> Endpoint {
    Endpoint {
        path: path.to_owned(),
        resource: web::resource(path),
        methods: Vec::new(),
    }
}

impl Endpoint {
    fn route<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }

    /// `GET` (and `HEAD`, answered by the same handler).
    pub(crate) fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, handler.clone())
            .route(Method::HEAD, handler)
    }

    /// `POST`.
    pub(crate) fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, handler)
    }

    /// `PUT`.
    pub(crate) fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PUT, handler)
    }

    /// `PATCH`.
    pub(crate) fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, handler)
    }

    /// `DELETE`.
    pub(crate) fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, handler)
    }

    /// The `Allow` value: the routed methods and `OPTIONS`.
    fn allow(&self) -> HeaderValue {
        let mut names: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        names.push(Method::OPTIONS.as_str());
        // Method names are tokens, always a valid header value.
        HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allow = self.allow();
        self.resource
            .default_service(web::to(move |req: HttpRequest| {
                let response = method_not_allowed(&req, &allow);
                async move { response }
            }))
            .register(config);
    }
}

/// `POST /api/v1/authorize`: may the caller use this permission now?
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/api/v1/authorize",
    tag = "operations",
    operation_id = "authorize",
    summary = "May the caller use this permission now? (for remote resource servers)",
    request_body = crate::wire::authorize::AuthorizeRequest,
    responses(
        (status = 200, description = "Allowed", body = crate::wire::authorize::AuthorizeResponse),
        (status = 403, description = "Not allowed: the problem carries `\"allowed\": false`", body = crate::wire::ProblemBody, content_type = "application/problem+json"),
    )
))]
async fn authorize(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    // The body usually arrives with the head. A repeat of a request this worker allowed
    // moments ago, byte for byte, is answered before anything is parsed: the core
    // checks that the credential's status, roles, revocation and expiry still hold.
    let body = EarlyBody::start(&req, payload, JSON_LIMIT).await;
    let validator = req.app_data::<web::Data<Validator>>().cloned();
    let was_ready = body.ready().is_some();
    if let (Some(validator), Some(wire)) = (&validator, authorize_wire(&req, body.ready())) {
        if let Some(answer) = validator.warm_answer(&wire) {
            return Ok(authorize_answer(answer));
        }
    }
    // The full way, in the documented order: the credential (401), then the body
    // (413, 408, 415, 400, 422), then the decision (403).
    let auth = Authenticated::extract(&req).await?;
    let body = body.finish().await?;
    let request: AuthorizeRequest = parse_json(&req, &body)?;
    let mut errors = Vec::new();
    let permission = Permission::parse(&request.permission)
        .map_err(|e| errors.push(("permission".to_owned(), e.message)))
        .ok();
    let target = match request.environment.as_deref().map(EnvironmentSlug::parse) {
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
        Ok(()) => {
            let answer = serde_json::to_vec(&AuthorizeResponse {
                allowed: true,
                permission: permission.to_string(),
                environment: caller_environment,
            })
            .map_err(|e| ApiError::from(Error::Internal(format!("authorize answer: {e}"))))?;
            // Kept only while the credential's warm principal on this thread is.
            // (A body that had to be waited for is not: its repeat would miss anyway.)
            let credential = single_authorization(&req).and_then(|v| bearer_value(v).ok());
            let wire = authorize_wire(&req, was_ready.then_some(&body[..]));
            if let (Some(validator), Some(wire), Some(credential)) = (&validator, wire, credential)
            {
                validator.remember_warm_answer(credential, &wire, &answer);
            }
            Ok(authorize_answer(answer))
        }
        Err(e) => Err(ApiError::from(e)
            .with("allowed", serde_json::Value::Bool(false))
            .missing_scope(permission.to_string())),
    }
}

/// The wire form a warm authorize answer is keyed on: the one `Authorization` header,
/// the content type and the body (when it came with the head).
fn authorize_wire<'r>(req: &'r HttpRequest, body: Option<&'r [u8]>) -> Option<[&'r [u8]; 3]> {
    Some([
        single_authorization(req)?.as_bytes(),
        req.headers()
            .get(header::CONTENT_TYPE)
            .map_or(&b""[..], |v| v.as_bytes()),
        body?,
    ])
}

/// The `200` of `POST /api/v1/authorize`, with its JSON body.
fn authorize_answer(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(body)
}

/// Registers the management API under `/api/v1`.
pub(crate) fn configure(routes: &mut Routes<'_>) {
    routes.scope("/api/v1", |r| {
        r.service(resource("/authorize").post(authorize));
        #[cfg(feature = "openapi")]
        r.service(resource("/openapi.json").get(crate::openapi::serve));
        environments::configure(r);
        roles::configure(r);
        client_apps::configure(r);
        credentials::configure(r);
        federation::configure(r);
        live::configure(r);
        admins::configure(r);
        audit::configure(r);
        standards::configure(r);
    });
}

#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(authorize))]
struct Doc;

/// The management API's part of the OpenAPI document, one part per route module.
#[cfg(feature = "openapi")]
pub(crate) fn documented() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![
        Doc::openapi(),
        environments::Doc::openapi(),
        roles::Doc::openapi(),
        client_apps::Doc::openapi(),
        credentials::Doc::openapi(),
        federation::Doc::openapi(),
        live::Doc::openapi(),
        admins::Doc::openapi(),
        audit::Doc::openapi(),
        standards::Doc::openapi(),
    ]
}
