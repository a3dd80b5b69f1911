//! The OAuth endpoints: `POST /oauth2/token` (client credentials grant;
//! client_secret_basic, client_secret_post, private_key_jwt; RFC 8707 `resource`),
//! `POST /oauth2/introspect` (RFC 7662), `POST /oauth2/revoke` (RFC 7009),
//! `GET /oauth2/status`, `GET /.well-known/jwks.json`.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use keyward_core::{
    ClientCredentials, Error, Introspection, IssuedToken, Keyward, Revocation, SecretMethod,
    TokenRequest, Validator,
};
use zeroize::Zeroizing;

use crate::body::{query_pairs, read_limited};
use crate::error::{classify, log_if_serious, Class, OAuthError};
use crate::extract::{authenticate, bearer, presents_bearer};
use crate::wire::oauth::{
    IntrospectionResponse, StatusError, StatusResponse, TokenResponse, TokenType,
};

/// Largest token request body (a token request is a few hundred bytes).
const TOKEN_BODY_LIMIT: usize = 16 * 1024;

/// Parameters that carry credentials and must never travel in a URL.
const CREDENTIAL_PARAMS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "access_token",
    "password",
];

/// Decodes `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(value: &str) -> Option<(String, Zeroizing<String>)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let encoded = encoded.trim();
    let raw = Zeroizing::new(
        STANDARD
            .decode(encoded)
            .or_else(|_| STANDARD_NO_PAD.decode(encoded))
            .ok()?,
    );
    let text = std::str::from_utf8(&raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let mut id = form_decode(id)?;
    Some((std::mem::take(&mut *id), form_decode(secret)?))
}

/// Decodes one application/x-www-form-urlencoded value (RFC 6749 §2.3.1): `+` is a
/// space, `%XX` a byte. A raw `&` or `=` cannot occur in an encoded value.
fn form_decode(encoded: &str) -> Option<Zeroizing<String>> {
    if encoded.is_empty() || encoded.contains(['&', '=']) {
        return None;
    }
    if !encoded.contains(['%', '+']) {
        // Nothing to decode (Keyward's own client IDs and secrets).
        return Some(Zeroizing::new(encoded.to_owned()));
    }
    // Every `%` starts a two-digit hex escape.
    let bytes = encoded.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return None;
        }
    }
    let plus_as_space = Zeroizing::new(encoded.replace('+', " "));
    let decoded = percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()?;
    Some(Zeroizing::new(decoded.into_owned()))
}

/// The `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The form parameters of a request to an OAuth endpoint, read strictly: the body must
/// be form-encoded UTF-8, no parameter may repeat, and no credential may travel in the
/// query string. A parameter sent without a value is treated as omitted (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn read(req: &HttpRequest, body: &[u8]) -> Result<Self, OAuthError> {
        if query_pairs(req)
            .iter()
            .any(|(k, _)| CREDENTIAL_PARAMS.contains(&k.as_str()) || k == "token")
        {
            return Err(OAuthError::invalid_request(
                "credentials must not be sent in the query string",
            ));
        }
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))?;
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(text.as_bytes()) {
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{k}` is repeated"
                )));
            }
            params.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// How the client authenticates, from the `Authorization` header and the form:
/// `client_secret_basic` (Basic header; a `client_id` in the body beside it must be
/// the same client, as requests-oauthlib sends both), `client_secret_post`
/// (`client_id` and `client_secret` in the body) or `private_key_jwt`
/// (`client_assertion`, with `client_assertion_type` jwt-bearer). Two methods at once
/// are `invalid_request`; none at all is `invalid_client`.
fn client_credentials(req: &HttpRequest, form: &Form) -> Result<ClientCredentials, OAuthError> {
    let mut auth_headers = req.headers().get_all(header::AUTHORIZATION);
    let auth = auth_headers.next();
    if auth_headers.next().is_some() {
        return Err(OAuthError::invalid_request(
            "more than one Authorization header",
        ));
    }
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    let assertion = form.get("client_assertion");
    if let Some(auth) = auth {
        if body_secret.is_some() || assertion.is_some() {
            return Err(OAuthError::invalid_request(
                "client credentials given in more than one place",
            ));
        }
        let (client_id, client_secret) = auth
            .to_str()
            .ok()
            .and_then(basic_credentials)
            .ok_or_else(OAuthError::invalid_client)?;
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "the client_id in the body differs from the one in the Authorization header",
            ));
        }
        return Ok(ClientCredentials::Secret {
            client_id,
            client_secret,
            method: SecretMethod::Basic,
        });
    }
    if let Some(assertion) = assertion {
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "client credentials given in more than one place",
            ));
        }
        if form.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER_ASSERTION}"
            )));
        }
        return Ok(ClientCredentials::Assertion {
            client_id: body_id.map(str::to_owned),
            assertion: assertion.to_owned(),
        });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(ClientCredentials::Secret {
            client_id: id.to_owned(),
            client_secret: Zeroizing::new(secret.to_owned()),
            method: SecretMethod::Post,
        }),
        // No supported client authentication (e.g. a public client's bare client_id).
        _ => Err(OAuthError::invalid_client()),
    }
}

/// What a token request says, before the core sees it.
fn parse_token_request(req: &HttpRequest, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let form = Form::read(req, body)?;
    match form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
    }
    let client = client_credentials(req, &form)?;
    Ok(TokenRequest {
        client,
        scope: form.get("scope").map(str::to_owned),
        resource: form.get("resource").map(str::to_owned),
        source: req.peer_addr().map(|a| a.ip()),
    })
}

/// `200` to a token request (RFC 6749 §5.1), never cached.
fn token_response(t: IssuedToken) -> HttpResponse {
    use header::HeaderValue;
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(
            TokenResponse {
                access_token: &t.access_token,
                token_type: TokenType::Bearer,
                expires_in: t.expires_in,
                scope: &t.scope,
            }
            .to_json(),
        )
}

/// `POST /oauth2/token`. Every answer is counted: issued (signed or reused) or
/// refused by its OAuth error code.
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "oauth",
    operation_id = "issue_token",
    summary = "Client credentials grant (RFC 6749 §4.4)",
    request_body(content = crate::wire::oauth::TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "An access token", body = crate::wire::oauth::TokenResponse, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request`, `unsupported_grant_type`, `invalid_scope` or `invalid_target`", body = crate::wire::oauth::OAuthErrorBody),
        (status = 401, description = "`invalid_client`: unknown client, wrong secret, inactive app, disabled environment, malformed Basic header", body = crate::wire::oauth::OAuthErrorBody, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"keyward\"`"))),
        (status = 408, description = "`invalid_request`: the body did not arrive in time", body = crate::wire::oauth::OAuthErrorBody),
        (status = 413, description = "`invalid_request`: the body is over 16 KiB", body = crate::wire::oauth::OAuthErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed attempts for this client ID", body = crate::wire::oauth::OAuthErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = "`temporarily_unavailable`: storage is unavailable", body = crate::wire::oauth::OAuthErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 403, description = "`unauthorized_client`: the client may not use this grant", body = crate::wire::oauth::OAuthErrorBody),
        (status = 502, description = "`temporarily_unavailable` or `server_error`: the identity provider failed while brokering (federation)", body = crate::wire::oauth::OAuthErrorBody),
    )
))]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, OAuthError> {
    let outcome = issue(&req, payload, &core).await;
    match &outcome {
        Ok(t) => core.metrics().token_issued(t.reused),
        Err(e) => core.metrics().token_refused(e.code()),
    }
    outcome.map(token_response)
}

/// The token endpoint's work: read, authenticate, issue.
async fn issue(
    req: &HttpRequest,
    payload: web::Payload,
    core: &web::Data<Keyward>,
) -> Result<IssuedToken, OAuthError> {
    // 413 at once for a declared length over the limit; 408 (connection closed) when
    // the body does not arrive within the body deadline.
    let body = read_limited(req, payload, TOKEN_BODY_LIMIT).await?;
    // A repeat of a request this worker answered moments ago, byte for byte, is
    // recognised before parsing (the core still checks that nothing it depends on
    // has changed).
    let wire = wire_form(req, &body);
    if let Some(answer) = wire.as_ref().and_then(|w| core.warm_token_for_wire(w)) {
        return Ok(answer);
    }
    let request = parse_token_request(req, &body)?;
    let started = std::time::Instant::now();
    // Warm clients are served from memory on this worker; the rest (a storage read or
    // an argon2 verification) go to a blocking thread.
    let from_memory = match &wire {
        Some(w) => core.issue_token_from_wire(&request, w),
        None => core.issue_token_from_memory(&request),
    };
    let issued = match from_memory {
        Some(answer) => answer,
        None => {
            let core: Arc<Keyward> = core.clone().into_inner();
            web::block(move || core.issue_token(&request))
                .await
                .map_err(|e| {
                    OAuthError::from_core(Error::Internal(format!("blocking pool: {e}")))
                })?
        }
    };
    match issued {
        Ok(t) => Ok(t),
        Err(e) => Err(refusal(core, e, started).await),
    }
}

/// The answer to a failed request at an OAuth endpoint. Every `invalid_client` takes
/// as long as a secret verification, whether one ran (wrong secret) or not (unknown
/// client ID, inactive app): timing tells nothing. The wait holds no thread and no
/// hashing slot.
async fn refusal(core: &Keyward, e: Error, started: std::time::Instant) -> OAuthError {
    if matches!(e, Error::InvalidClient) {
        let wait = core.refusal_delay().saturating_sub(started.elapsed());
        actix_web::rt::time::sleep(wait).await;
        return OAuthError::invalid_client();
    }
    OAuthError::from_core(e)
}

/// Runs `f` on the blocking pool (storage, argon2).
async fn blocking<T: Send + 'static>(
    core: &web::Data<Keyward>,
    f: impl FnOnce(&Keyward) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let core: Arc<Keyward> = core.clone().into_inner();
    web::block(move || f(&core))
        .await
        .unwrap_or_else(|e| Err(Error::Internal(format!("blocking pool: {e}"))))
}

/// The `token` parameter of an introspection or revocation request.
fn token_param(form: &Form) -> Result<String, OAuthError> {
    form.get("token")
        .map(str::to_owned)
        .ok_or_else(|| OAuthError::invalid_request("the token parameter is required"))
}

/// `POST /oauth2/introspect` (RFC 7662): the caller authenticates as a client app
/// (any supported method) holding `tokens:introspect`.
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/oauth2/introspect",
    tag = "oauth",
    operation_id = "introspect_token",
    summary = "Token introspection (RFC 7662); the caller holds `tokens:introspect`",
    request_body(content = crate::wire::oauth::TokenParameterForm, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "Whether the token is active, and what it says", body = crate::wire::oauth::IntrospectionResponse),
        (status = 403, description = "`unauthorized_client`: the caller does not hold `tokens:introspect`", body = crate::wire::oauth::OAuthErrorBody),
        (status = 400, description = "`invalid_request`: malformed body, a repeated parameter, credentials in more than one place or in the query string", body = crate::wire::oauth::OAuthErrorBody),
        (status = 401, description = "`invalid_client`: unknown client, wrong secret, inactive app, disabled environment, malformed Basic header", body = crate::wire::oauth::OAuthErrorBody, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"keyward\"`"))),
        (status = 408, description = "`invalid_request`: the body did not arrive in time", body = crate::wire::oauth::OAuthErrorBody),
        (status = 413, description = "`invalid_request`: the body is over 16 KiB", body = crate::wire::oauth::OAuthErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed attempts for this client ID", body = crate::wire::oauth::OAuthErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = "`temporarily_unavailable`: storage is unavailable", body = crate::wire::oauth::OAuthErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
))]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(&req, payload, TOKEN_BODY_LIMIT).await?;
    // A repeat of a request this worker answered moments ago, byte for byte, is
    // recognised before parsing (the core checks that nothing it rests on has changed).
    let wire = wire_form(&req, &body);
    if let Some(body) = wire
        .as_ref()
        .and_then(|w| core.warm_introspection_for_wire(w))
    {
        return Ok(introspection_answer(body));
    }
    let form = Form::read(&req, &body)?;
    let credentials = client_credentials(&req, &form)?;
    let token = token_param(&form)?;
    let source = req.peer_addr().map(|a| a.ip());
    let started = std::time::Instant::now();
    // A resource server introspecting a token it has seen, with a secret verified
    // before, is answered from memory on this worker.
    let from_memory = match &wire {
        Some(w) => core.introspect_from_wire(&credentials, source, &token, w, render_introspection),
        None => core.introspect_from_memory(&credentials, source, &token),
    };
    let answer = match from_memory {
        Some(answer) => answer,
        None => {
            blocking(&core, move |k| {
                let caller = k.authenticate_client(&credentials, source)?;
                k.introspect(&caller, &token)
            })
            .await
        }
    };
    match answer {
        Ok(found) => Ok(introspection_answer(render_introspection(&found))),
        Err(e) => Err(refusal(&core, e, started).await),
    }
}

/// The JSON body of an introspection answer.
fn render_introspection(found: &Introspection) -> Vec<u8> {
    // Serialising plain strings and numbers cannot fail; `{"active": false}` would
    // be the safe answer if it did.
    serde_json::to_vec(&IntrospectionResponse::from(found))
        .unwrap_or_else(|_| br#"{"active":false}"#.to_vec())
}

/// The `200` of `POST /oauth2/introspect`, with its JSON body.
fn introspection_answer(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        ))
        .insert_header((
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        ))
        .body(body)
}

/// The wire form a warm answer at an OAuth endpoint is keyed on: the one
/// `Authorization` header, the content type and the body, exactly as received (`None`
/// with more than one `Authorization` header).
fn wire_form<'r>(req: &'r HttpRequest, body: &'r [u8]) -> Option<[&'r [u8]; 3]> {
    let mut auth = req.headers().get_all(header::AUTHORIZATION);
    let authorization = match (auth.next(), auth.next()) {
        (Some(a), None) => a.as_bytes(),
        (None, _) => b"",
        (Some(_), Some(_)) => return None,
    };
    Some([
        authorization,
        req.headers()
            .get(header::CONTENT_TYPE)
            .map_or(&b""[..], |v| v.as_bytes()),
        body,
    ])
}

/// `POST /oauth2/revoke` (RFC 7009): the token's own client revokes it; 200 whether
/// or not there was anything to revoke.
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/oauth2/revoke",
    tag = "oauth",
    operation_id = "revoke_token",
    summary = "Token revocation (RFC 7009) by the token's own client",
    request_body(content = crate::wire::oauth::TokenParameterForm, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "`invalid_request`, or `unsupported_token_type` for an API key", body = crate::wire::oauth::OAuthErrorBody),
        (status = 401, description = "`invalid_client`: unknown client, wrong secret, inactive app, disabled environment, malformed Basic header", body = crate::wire::oauth::OAuthErrorBody, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"keyward\"`"))),
        (status = 408, description = "`invalid_request`: the body did not arrive in time", body = crate::wire::oauth::OAuthErrorBody),
        (status = 413, description = "`invalid_request`: the body is over 16 KiB", body = crate::wire::oauth::OAuthErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed attempts for this client ID", body = crate::wire::oauth::OAuthErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = "`temporarily_unavailable`: storage is unavailable", body = crate::wire::oauth::OAuthErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 403, description = "`unauthorized_client`", body = crate::wire::oauth::OAuthErrorBody),
    )
))]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, OAuthError> {
    let body = read_limited(&req, payload, TOKEN_BODY_LIMIT).await?;
    let form = Form::read(&req, &body)?;
    let credentials = client_credentials(&req, &form)?;
    let token = token_param(&form)?;
    let source = req.peer_addr().map(|a| a.ip());
    let started = std::time::Instant::now();
    let answer = blocking(&core, move |k| {
        let client = k.authenticate_client(&credentials, source)?;
        k.revoke_token(&client, &token, source)
    })
    .await;
    match answer {
        Ok(Revocation::Revoked | Revocation::Nothing) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
        Ok(Revocation::UnsupportedTokenType) => Err(OAuthError::unsupported_token_type()),
        Err(e) => Err(refusal(&core, e, started).await),
    }
}

/// `GET /oauth2/status`: 200 `{"active": true}` for a valid token of an active app in
/// an enabled environment, else 401 `{"active": false}`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/oauth2/status",
    tag = "oauth",
    operation_id = "token_status",
    summary = "Is this Bearer token valid now?",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"active\": true}`", body = crate::wire::oauth::StatusResponse),
        (status = 401, description = "`{\"active\": false}`: missing, malformed, expired or revoked token, or inactive app or disabled environment", body = crate::wire::oauth::StatusResponse, headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"keyward\"`, with `error=\"invalid_token\"` when a token was presented"))),
        (status = 503, description = "`{\"active\": false, \"error\": \"temporarily_unavailable\"}`", body = crate::wire::oauth::StatusResponse, headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
))]
pub async fn status(req: HttpRequest, validator: web::Data<Validator>) -> HttpResponse {
    let validator = validator.into_inner();
    // RFC 6750 §3.1: no error code for a request that carried no Bearer credential.
    let presented = presents_bearer(&req);
    let result = match bearer(&req) {
        Ok(credential) => authenticate(&validator, credential).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(StatusResponse::active()),
        Err(e) => status_refusal(&e, presented),
    }
}

/// The `/oauth2/status` answer for a failure, through the one classifier.
fn status_refusal(e: &Error, presented: bool) -> HttpResponse {
    log_if_serious("status endpoint", e);
    match classify(e) {
        Class::Unavailable | Class::Upstream | Class::Throttled(_) => {
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "1"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(StatusResponse::unknown(StatusError::TemporarilyUnavailable))
        }
        Class::Unauthenticated | Class::InvalidClient | Class::Forbidden => {
            HttpResponse::Unauthorized()
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    if presented {
                        "Bearer realm=\"keyward\", error=\"invalid_token\""
                    } else {
                        "Bearer realm=\"keyward\""
                    },
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(StatusResponse::inactive())
        }
        Class::Invalid
        | Class::InvalidScope
        | Class::NotFound
        | Class::Conflict
        | Class::Internal => HttpResponse::InternalServerError()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(StatusResponse::unknown(StatusError::ServerError)),
    }
}

/// `GET /.well-known/jwks.json`: every public signing key.
#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "oauth",
    operation_id = "get_jwks",
    summary = "The public signing keys (JWK Set)",
    security(()),
    responses(
        (status = 200, description = "The JWK Set", body = crate::openapi::JwkSet),
    )
))]
pub async fn jwks(core: web::Data<Keyward>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(core.jwks_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_decoding() {
        let enc = |s: &str| format!("Basic {}", STANDARD.encode(s));
        let basic_credentials =
            |v: &str| basic_credentials(v).map(|(id, secret)| (id, secret.to_string()));
        assert_eq!(
            basic_credentials(&enc("abc:s3cret")),
            Some(("abc".into(), "s3cret".into()))
        );
        assert_eq!(
            basic_credentials(&enc("a%3Ab:x+y%25")),
            Some(("a:b".into(), "x y%".into()))
        );
        assert_eq!(
            basic_credentials(&enc("abc:se:cret")),
            Some(("abc".into(), "se:cret".into()))
        );
        assert_eq!(
            basic_credentials(&format!("basic {}", STANDARD_NO_PAD.encode("ab:c"))),
            Some(("ab".into(), "c".into()))
        );
        for bad in [
            enc("nocolon"),
            enc(":secret"),
            enc("id:"),
            "Basic !!!".into(),
            "Bearer abc".into(),
            "Basic".into(),
            enc("abc&junk:secret"),
            enc("abc:sec=ret"),
            enc("abc:%zz"),
        ] {
            assert_eq!(basic_credentials(&bad), None, "{bad}");
        }
    }
}
