//! The extractor every protected route uses: [`Authorized<P>`] authenticates the
//! Bearer credential — or, without one, the console's session cookie, whose state
//! changes must carry the session's CSRF token — against live state and checks the
//! permission `P` declares. No route checks permissions by hand.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use keyward_core::{Error, Principal, Target, Validator};
use keyward_domain::{EnvironmentSlug, Permission};

use crate::error::ApiError;

/// Where a route acts, for the scope half of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Keyward as a whole: only global principals (admins, Super Admin apps).
    Global,
    /// The environment named by the `{env}` path segment.
    PathEnvironment,
    /// The principal's own environment (lists filtered to what it may see).
    OwnEnvironment,
    /// The environment named by the `?environment=` query parameter, or without one the
    /// principal's own environment (the audit log: a user whose roles are per
    /// environment names the environment they read).
    QueryEnvironment,
}

/// A permission a route requires, declared as a type so the route's signature says it.
pub trait RequiredPermission {
    /// `resource:action`.
    const PERMISSION: &'static str;
    /// Where the route acts.
    const REACH: Reach;
}

/// Declares a zero-sized permission marker type for [`Authorized`].
///
/// ```
/// keyward_http::permission!(OrdersRead, "orders:read", OwnEnvironment);
/// ```
#[macro_export]
macro_rules! permission {
    ($name:ident, $perm:literal, $reach:ident) => {
        #[doc = concat!("Requires `", $perm, "`.")]
        pub struct $name;
        impl $crate::RequiredPermission for $name {
            const PERMISSION: &'static str = $perm;
            const REACH: $crate::Reach = $crate::Reach::$reach;
        }
    };
}

/// The Bearer credential of a request, if any (`Authorization: Bearer <value>`).
pub fn bearer(req: &HttpRequest) -> Result<String, Error> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values
        .next()
        .ok_or(Error::Unauthenticated("no credential"))?;
    if values.next().is_some() {
        return Err(Error::Unauthenticated("more than one Authorization header"));
    }
    bearer_value(value).map(str::to_owned)
}

/// The request's `Authorization` header when it has exactly one.
pub(crate) fn single_authorization(req: &HttpRequest) -> Option<&header::HeaderValue> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// The credential in one `Authorization` header value, borrowed: `Bearer`, any case,
/// then the credential; the value is visible ASCII (tabs and spaces allowed) and the
/// credential holds no space. One pass over bytes, no copy (it runs on every call a
/// resource server checks).
pub(crate) fn bearer_value(value: &header::HeaderValue) -> Result<&str, Error> {
    let bytes = value.as_bytes();
    // What `HeaderValue::to_str` accepts, in a form the compiler vectorises.
    let visible = bytes.iter().fold(true, |ok, &b| {
        ok & (b == b'\t' || (0x20..0x7f).contains(&b))
    });
    let malformed = || Error::Unauthenticated("malformed Authorization header");
    if !visible {
        return Err(malformed());
    }
    let Some(space) = bytes.iter().position(|&b| b == b' ') else {
        return Err(malformed());
    };
    let (scheme, rest) = bytes.split_at(space);
    let credential = rest.trim_ascii();
    if !scheme.eq_ignore_ascii_case(b"bearer")
        || credential.is_empty()
        || credential.contains(&b' ')
    {
        return Err(Error::Unauthenticated("not a Bearer credential"));
    }
    std::str::from_utf8(credential).map_err(|_| malformed())
}

/// Whether the request presents Bearer authentication at all (an `Authorization`
/// header with the `Bearer` scheme, valid or not). A request without it gets a challenge
/// with no error code (RFC 6750 §3.1).
pub fn presents_bearer(req: &HttpRequest) -> bool {
    req.headers().get_all(header::AUTHORIZATION).any(|value| {
        let value = value.as_bytes().trim_ascii_start();
        let scheme = value.split(|b| *b == b' ').next().unwrap_or_default();
        scheme.eq_ignore_ascii_case(b"bearer")
    })
}

/// The Bearer credential as the extractors need it: a 401 problem whose challenge says
/// whether a credential was presented at all.
fn bearer_or_problem(req: &HttpRequest) -> Result<String, ApiError> {
    bearer(req).map_err(|e| {
        let problem = ApiError::from(e);
        if presents_bearer(req) {
            problem
        } else {
            problem.without_credentials()
        }
    })
}

/// Authenticates a credential: from memory on the worker when it can, else on a
/// blocking thread (storage read).
pub async fn authenticate(
    validator: &Arc<Validator>,
    credential: String,
) -> Result<Principal, Error> {
    match validator.authenticate_from_memory(&credential) {
        Some(answer) => answer,
        None => {
            let validator = Arc::clone(validator);
            web::block(move || validator.authenticate(&credential))
                .await
                .map_err(|e| Error::Internal(format!("blocking pool: {e}")))?
        }
    }
}

/// The validator registered in the app (`web::Data<Validator>`).
fn validator(req: &HttpRequest) -> Result<Arc<Validator>, Error> {
    req.app_data::<web::Data<Validator>>()
        .map(|d| d.clone().into_inner())
        .ok_or_else(|| Error::Internal("no Validator registered as app data".into()))
}

/// An authenticated principal allowed the permission `P` on the route's target.
pub struct Authorized<P> {
    /// Who is calling, with the grants it holds now and the address it called from.
    pub principal: Principal,
    _permission: PhantomData<P>,
}

impl<P: RequiredPermission> Authorized<P> {
    fn target(req: &HttpRequest) -> Result<Target, Error> {
        Ok(match P::REACH {
            Reach::Global => Target::Global,
            Reach::OwnEnvironment => Target::OwnEnvironment,
            Reach::QueryEnvironment => {
                let named = crate::body::query_pairs(req)
                    .into_iter()
                    .find(|(k, _)| k == "environment")
                    .map(|(_, v)| v);
                match named.as_deref().map(EnvironmentSlug::parse) {
                    None => Target::OwnEnvironment,
                    Some(Ok(slug)) => Target::Environment(slug),
                    // As for a path: only a global principal gets past (then 422).
                    Some(Err(_)) => Target::Global,
                }
            }
            Reach::PathEnvironment => {
                let slug = req.match_info().get("env").unwrap_or_default();
                match EnvironmentSlug::parse(slug) {
                    Ok(slug) => Target::Environment(slug),
                    // Not a slug, so no such environment: only a global principal gets
                    // past this (and then the route's 404); a scoped one gets 403 and
                    // learns nothing about what exists.
                    Err(_) => Target::Global,
                }
            }
        })
    }
}

impl<P: RequiredPermission + 'static> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let address = req.peer_addr().map(|a| a.ip());
        if let Some(session) = crate::console::session_of(req) {
            let prepared = (|| {
                let permission = Permission::parse(P::PERMISSION)
                    .map_err(|e| Error::Internal(format!("route permission: {e}")))?;
                Ok::<_, Error>((permission, Self::target(req)?))
            })();
            return Box::pin(async move {
                let (permission, target) = prepared?;
                let principal = session.principal(target.clone()).await?;
                principal
                    .authorize(&permission, &target)
                    .map_err(|e| ApiError::from(e).missing_scope(P::PERMISSION))?;
                Ok(Authorized {
                    principal: principal.with_address(address),
                    _permission: PhantomData,
                })
            });
        }
        let prepared = (|| {
            let permission = Permission::parse(P::PERMISSION)
                .map_err(|e| Error::Internal(format!("route permission: {e}")))?;
            Ok::<_, Error>((
                validator(req)?,
                bearer_or_problem(req),
                permission,
                Self::target(req)?,
            ))
        })();
        Box::pin(async move {
            let (validator, credential, permission, target) = prepared?;
            let principal = authenticate(&validator, credential?).await?;
            principal
                .authorize(&permission, &target)
                .map_err(|e| ApiError::from(e).missing_scope(P::PERMISSION))?;
            Ok(Authorized {
                principal: principal.with_address(address),
                _permission: PhantomData,
            })
        })
    }
}

/// An authenticated principal, whatever it may do (for routes that decide from the
/// principal itself, like `/api/v1/authorize`).
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(session) = crate::console::session_of(req) {
            return Box::pin(async move {
                Ok(Authenticated(
                    session.principal(Target::OwnEnvironment).await?,
                ))
            });
        }
        let prepared = validator(req).map(|v| (v, bearer_or_problem(req)));
        Box::pin(async move {
            let (validator, credential) = prepared?;
            Ok(Authenticated(authenticate(&validator, credential?).await?))
        })
    }
}
