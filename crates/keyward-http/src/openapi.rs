//! The OpenAPI 3.1 document of the management API, the OAuth endpoints and the
//! console's session routes, generated from the code with utoipa and served at
//! `GET /api/v1/openapi.json` (no authentication: it describes the API, and holds no
//! data). The document is built once per process, on first use, not per request.
//!
//! What is written by hand here, and why: each route module's handlers carry
//! `#[utoipa::path]` with their success bodies and route-specific errors; what every
//! route of a kind shares is added in one place ([`common_responses`]), because it comes
//! from one place in the code too — the `Authorized<P>` extractor (401, 403), the strict
//! JSON reader (400, 413, 415, 422), the path lookups (404) and storage (503). The
//! `/api/v1/admins` alias is the `/api/v1/users` routes copied ([`ADMINS_ALIAS`]).
//!
//! Architecture invariant: [`crate::route_table`] is the single list of what the app
//! serves; a unit test here, and an integration test against the running server, fail
//! when a route is served without documentation or documented without being served.
//! The only exclusions are in [`UNDOCUMENTED`], each with its reason.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::HttpResponse;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr, SecurityRequirement,
};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::error::ApiError;
use crate::wire::oauth::OAuthErrorBody;
use crate::wire::ProblemBody;

/// The media type of every management API error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Routes the app serves that the document leaves out on purpose, with the reason.
/// (Every path also answers `OPTIONS` with 204 and other methods with 405; those are
/// not routes. `HEAD` is answered by the `GET` handler and documented as the `GET`.)
pub const UNDOCUMENTED: &[(&str, &str)] = &[
    ("/console", "the console's HTML page, not an API"),
    ("/console/", "the console's HTML page, not an API"),
    ("/console/app.js", "a static asset of the console"),
    ("/console/app.css", "a static asset of the console"),
];

/// The `/api/v1/users` routes also answer under their first name, `/api/v1/admins`.
pub const ADMINS_ALIAS: (&str, &str) = ("/api/v1/users", "/api/v1/admins");

/// The document's skeleton: metadata, tags, shared components. The paths come from
/// each route module ([`crate::routes::documented`]) and the OAuth and console modules.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward",
        description = "Machine-to-machine credentials: OAuth 2.0 client credentials, \
            API keys, and the management API. Management errors are RFC 9457 problems \
            (`application/problem+json`); OAuth endpoint errors are RFC 6749 §5.2 bodies.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::oauth::token,
        crate::oauth::status,
        crate::oauth::introspect,
        crate::oauth::revoke,
        crate::oauth::jwks,
        crate::metadata::default_metadata,
        crate::metadata::openid_configuration,
        crate::metadata::environment_metadata,
        crate::metadata::environment_openid_configuration,
        crate::metadata::environment_metadata_appended,
        crate::healthz,
        crate::metrics::readyz,
        crate::metrics::metrics,
        serve,
    ),
    components(schemas(ProblemBody, OAuthErrorBody)),
    modifiers(&Shared),
    tags(
        (name = "oauth", description = "OAuth 2.0 endpoints (RFC 6749, 7662, 7009, 8414)"),
        (name = "environments", description = "Environments"),
        (name = "roles", description = "Roles inside an environment"),
        (name = "client-apps", description = "Client apps, their API keys and secrets"),
        (name = "federation", description = "An environment's identity provider"),
        (name = "standards", description = "Client JWK Sets, audiences, signing keys"),
        (name = "users", description = "People who manage Keyward (alias: /api/v1/admins)"),
        (name = "live", description = "The live feed for remote validators"),
        (name = "console", description = "The console's session (cookie + CSRF header)"),
        (name = "operations", description = "Health and this document"),
    )
)]
struct Skeleton;

/// The whole document.
pub fn document() -> Document {
    let mut doc = Skeleton::openapi();
    for part in crate::routes::documented() {
        doc.merge(part);
    }
    doc.merge(crate::console::documented());
    alias_admins(&mut doc);
    common_responses(&mut doc);
    doc
}

/// The document as JSON, built once.
static DOCUMENT_JSON: LazyLock<Result<String, String>> =
    LazyLock::new(|| document().to_json().map_err(|e| e.to_string()));

/// Builds the document now (at startup) rather than on the first request.
pub(crate) fn prepare() {
    LazyLock::force(&DOCUMENT_JSON);
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    operation_id = "get_openapi_document",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = OpenApiDocument))
)]
pub(crate) async fn serve() -> HttpResponse {
    match &*DOCUMENT_JSON {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(json.clone()),
        Err(e) => actix_web::ResponseError::error_response(&ApiError::from(
            keyward_core::Error::Internal(format!("OpenAPI document: {e}")),
        )),
    }
}

/// Security schemes and the shared schemas written by hand.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A client app's access token, an API key (`kwak_…`), a Super Admin's \
                         personal credential, or an access token of the environment's \
                         identity provider.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "client_secret_basic: `base64(urlencode(client_id):urlencode(secret))` \
                         (RFC 6749 §2.3.1). client_secret_post and private_key_jwt send \
                         their credentials in the form instead.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "keyward_session",
                "The console's session cookie (`__Host-keyward_session` when the public URL \
                 is https), set by `POST /console/session`.",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The session's CSRF token (`csrf_token` of the session): required with the \
                 session cookie on every state change.",
            ))),
        );
        for (name, schema) in [
            ("JwkSet", JwkSet::schema()),
            ("LiveSnapshot", LiveSnapshot::schema()),
            ("LiveChanges", LiveChanges::schema()),
            ("OpenApiDocument", OpenApiDocument::schema()),
        ] {
            components.schemas.insert(name.to_owned(), schema);
        }
    }
}

/// Copies every `/api/v1/users…` path to `/api/v1/admins…` with its own operation IDs.
fn alias_admins(doc: &mut Document) {
    let (name, alias) = ADMINS_ALIAS;
    let copies: Vec<(String, PathItem)> = doc
        .paths
        .paths
        .iter()
        .filter_map(|(path, item)| {
            let rest = path.strip_prefix(name)?;
            let mut item = item.clone();
            for op in operations_mut(&mut item) {
                op.operation_id = op.operation_id.take().map(|id| format!("{id}_as_admins"));
                op.description = Some(format!(
                    "The same as `{path}` (`/api/v1/admins` is the first release's name for \
                     `/api/v1/users`)."
                ));
            }
            Some((format!("{alias}{rest}"), item))
        })
        .collect();
    doc.paths.paths.extend(copies);
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The methods of a path item that have an operation.
pub fn methods(item: &PathItem) -> Vec<&'static str> {
    [
        ("GET", item.get.is_some()),
        ("PUT", item.put.is_some()),
        ("POST", item.post.is_some()),
        ("DELETE", item.delete.is_some()),
        ("PATCH", item.patch.is_some()),
        ("HEAD", item.head.is_some()),
        ("OPTIONS", item.options.is_some()),
        ("TRACE", item.trace.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, present)| present.then_some(m))
    .collect()
}

/// A problem response (`application/problem+json`).
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn with_header(mut response: Response, name: &str, description: &str) -> Response {
    response.headers.insert(
        name.to_owned(),
        HeaderBuilder::new()
            .schema(String::schema())
            .description(Some(description))
            .build(),
    );
    response
}

/// The errors every management route shares, added where the handler's own
/// annotation does not already say more, and the security requirements of the
/// management and console routes.
fn common_responses(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    let shared: [(&str, Response); 9] = [
        (
            "BadRequest",
            problem("`malformed-body`: the body is not JSON, or not a JSON object"),
        ),
        (
            "Unauthenticated",
            with_header(
                problem("`unauthenticated`: a missing, invalid, expired or revoked credential"),
                "WWW-Authenticate",
                "`Bearer realm=\"keyward\"`, with `error=\"invalid_token\"` when a \
                 credential was presented (RFC 6750 §3)",
            ),
        ),
        (
            "Forbidden",
            with_header(
                problem(
                    "`forbidden`, `privilege-escalation` or `csrf-token-invalid`: the \
                     credential is valid but does not carry the permission",
                ),
                "WWW-Authenticate",
                "`Bearer realm=\"keyward\", error=\"insufficient_scope\"` (RFC 6750 §3.1)",
            ),
        ),
        (
            "NotFound",
            problem("`not-found`: an unknown environment, app, role, user or key"),
        ),
        (
            "BodyTooLarge",
            problem("`body-too-large`: the body is over 64 KiB"),
        ),
        (
            "UnsupportedMediaType",
            problem("`unsupported-media-type`: the body is not `application/json`"),
        ),
        (
            "ValidationError",
            problem(
                "`validation-error`: a field or query parameter is invalid; `errors` names \
                 each one",
            ),
        ),
        (
            "RequestTimeout",
            problem("`request-timeout`: the body did not arrive in time (the connection closes)"),
        ),
        (
            "Unavailable",
            with_header(
                problem("`storage-unavailable` or `overloaded`: try again shortly"),
                "Retry-After",
                "Seconds to wait",
            ),
        ),
    ];
    for (name, response) in shared {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let management = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json";
        let console = path.starts_with("/console/");
        if !management && !console {
            continue;
        }
        let has_path_params = path.contains('{');
        let item_methods = methods(item);
        for (method, op) in item_methods.into_iter().zip(operations_mut(item)) {
            let state_change = method != "GET";
            let mut add = |status: &str, name: &str| {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            };
            if management {
                add("401", "Unauthenticated");
                add("403", "Forbidden");
                if has_path_params {
                    add("404", "NotFound");
                }
            }
            if op.request_body.is_some() {
                add("400", "BadRequest");
                add("408", "RequestTimeout");
                add("413", "BodyTooLarge");
                add("415", "UnsupportedMediaType");
                add("422", "ValidationError");
            }
            if op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
            {
                add("422", "ValidationError");
            }
            add("503", "Unavailable");
            if management && op.security.is_none() {
                let session = if state_change {
                    SecurityRequirement::new("session", Vec::<String>::new())
                        .add("csrf", Vec::<String>::new())
                } else {
                    SecurityRequirement::new("session", Vec::<String>::new())
                };
                op.security = Some(vec![
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                    session,
                ]);
            }
        }
    }
}

/// A JSON Web Key Set (RFC 7517 §5).
pub(crate) struct JwkSet;

impl PartialSchema for JwkSet {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("A JSON Web Key Set (RFC 7517 §5)"))
            .property(
                "keys",
                ArrayBuilder::new().items(
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("kty", String::schema())
                        .required("kty"),
                ),
            )
            .required("keys")
            .into()
    }
}

impl ToSchema for JwkSet {}

/// What a remote validator needs (`keyward_core::LiveSnapshot`; written here so that
/// keyward-core does not depend on utoipa).
pub(crate) struct LiveSnapshot;

fn objects(description: &str) -> ArrayBuilder {
    ArrayBuilder::new()
        .description(Some(description))
        .items(ObjectBuilder::new().schema_type(Type::Object))
}

impl PartialSchema for LiveSnapshot {
    fn schema() -> RefOr<Schema> {
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Keyward's live state within the caller's reach; never a secret hash",
            ))
            .property(
                "position",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("The feed position this snapshot reflects")),
            )
            .required("position");
        for (field, description) in [
            ("environments", "Environments: id, slug, enabled"),
            ("roles", "Roles and their permissions"),
            ("apps", "Client apps: client ID, status, environment, roles"),
            ("api_keys", "API keys: digest, app, expiry"),
            ("signing_keys", "Public signing keys"),
            ("revoked_tokens", "Revoked tokens not yet expired"),
        ] {
            object = object.property(field, objects(description)).required(field);
        }
        object.into()
    }
}

impl ToSchema for LiveSnapshot {}

/// Changes of the live feed (`keyward_core::LiveChanges`).
pub(crate) struct LiveChanges;

impl PartialSchema for LiveChanges {
    fn schema() -> RefOr<Schema> {
        let change = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("seq", i64::schema())
            .property(
                "kind",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(
                        "`app`, `role`, `environment`, `api_key`, `signing_keys`, \
                     `token_revoked` or `unknown` (start over from a snapshot)",
                    )),
            )
            .required("seq")
            .required("kind");
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("items", ArrayBuilder::new().items(change))
            .property("position", i64::schema())
            .required("items")
            .required("position")
            .into()
    }
}

impl ToSchema for LiveChanges {}

/// An OpenAPI document (this one).
pub(crate) struct OpenApiDocument;

impl PartialSchema for OpenApiDocument {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("openapi", ObjectBuilder::new().schema_type(Type::String))
            .required("openapi")
            .required("paths")
            .into()
    }
}

impl ToSchema for OpenApiDocument {}

/// The document's routes as (method, path), the `/api/v1/admins` alias included.
pub fn documented_routes(doc: &Document) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            methods(item)
                .into_iter()
                .map(move |m| (m.to_owned(), path.clone()))
        })
        .collect();
    out.sort();
    out
}

/// The served routes the document must hold: the route table without `HEAD` twins of
/// `GET` routes and without [`UNDOCUMENTED`].
pub fn routes_to_document() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = crate::route_table()
        .into_iter()
        .filter(|r| r.method != "HEAD")
        .filter(|r| !UNDOCUMENTED.iter().any(|(path, _)| *path == r.path))
        .map(|r| (r.method, r.path))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A status code, for the tests.
#[cfg(test)]
fn status(code: actix_web::http::StatusCode) -> String {
    code.as_u16().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_route_is_documented_and_every_documented_route_is_served() {
        let doc = document();
        let documented = documented_routes(&doc);
        let served = routes_to_document();
        let undocumented: Vec<_> = served.iter().filter(|r| !documented.contains(r)).collect();
        let not_served: Vec<_> = documented.iter().filter(|r| !served.contains(r)).collect();
        assert!(
            undocumented.is_empty(),
            "served without documentation: {undocumented:?}"
        );
        assert!(
            not_served.is_empty(),
            "documented but not served: {not_served:?}"
        );
    }

    #[test]
    fn every_get_route_answers_head_and_exclusions_exist() {
        let table = crate::route_table();
        for (path, _) in UNDOCUMENTED {
            assert!(
                table.iter().any(|r| r.path == *path),
                "{path} is not served"
            );
        }
        for r in table.iter().filter(|r| r.method == "GET") {
            assert!(
                table.iter().any(|h| h.method == "HEAD" && h.path == r.path),
                "{} has no HEAD",
                r.path
            );
        }
    }

    #[test]
    fn operation_ids_are_unique_and_every_operation_says_its_success_and_errors() {
        let doc = document();
        let mut ids = Vec::new();
        for (path, item) in &doc.paths.paths {
            let mut item = item.clone();
            for op in operations_mut(&mut item) {
                let id = op.operation_id.clone().unwrap_or_default();
                assert!(!id.is_empty(), "{path}: no operation id");
                assert!(!ids.contains(&id), "{path}: duplicate operation id {id}");
                ids.push(id);
                let codes: Vec<&String> = op.responses.responses.keys().collect();
                assert!(
                    codes.iter().any(|c| c.starts_with('2')),
                    "{path}: no success response"
                );
                if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
                    for code in [
                        actix_web::http::StatusCode::UNAUTHORIZED,
                        actix_web::http::StatusCode::FORBIDDEN,
                    ] {
                        assert!(codes.contains(&&status(code)), "{path}: no {code}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_json() {
        let json = document().to_json().unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(value["openapi"], "3.1.0");
        assert!(value["components"]["schemas"]["Problem"].is_object());
    }
}
