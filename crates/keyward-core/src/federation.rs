//! Federation with an environment's identity provider (SPEC §7): its configuration
//! (discovery or endpoints entered by hand), apps bound to it by an external client ID,
//! brokered client credentials (the IdP checks the secret, Keyward issues its own
//! token), and the IdP's JWT access tokens accepted as Bearer credentials.
//!
//! Keyward's core makes no network call itself: the outbound HTTP client is an
//! [`Upstream`] the server gives it (the `keyward` binary's is reqwest with the
//! platform's TLS and bounded timeouts). Without one, federation is off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use keyward_domain::{EnvironmentId, Username, ValidationError};
pub use keyward_store::IdentityProvider;
use keyward_store::{ChangeSubject, ExternalBinding};
use serde_json::{Map, Value};

use crate::bounded::BoundedMap;
use crate::clock::Io;
use crate::error::{Error, Resource, Step, Stop};
use crate::issue::AuthenticatedClient;
use crate::roles::ensure_no_escalation;
use crate::throttle::{Admission, Outcome};
use crate::{Keyward, Principal};

/// The outbound HTTP client federation uses (implemented by the server with bounded
/// connect and total timeouts).
pub trait Upstream: Send + Sync {
    /// `GET url`, expecting a JSON document (any 2xx); anything else is an error.
    fn get_json(&self, url: &str) -> Result<Value, UpstreamError>;
    /// `POST url` with a form body and HTTP Basic client authentication (`client_id`,
    /// `secret`, each form-urlencoded as RFC 6749 §2.3.1 asks); the status and body,
    /// whatever the status.
    fn post_form(
        &self,
        url: &str,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), UpstreamError>;
}

/// Why an outbound call failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connection refused, DNS, TLS: nothing answered.
    #[error("unreachable ({0})")]
    Unreachable(String),
    /// No complete answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// It answered with this HTTP status (for [`Upstream::get_json`]).
    #[error("answered HTTP {0}")]
    Status(u16),
    /// It answered something that is not a JSON object.
    #[error("answered something that is not JSON")]
    NotJson,
}

/// Federation settings.
#[derive(Debug, Clone)]
pub struct FederationConfig {
    /// Accept `http://` identity provider URLs (tests and labs only).
    pub allow_http: bool,
    /// How long a secret the IdP accepted is trusted without asking it again.
    pub verified_secret_ttl_secs: i64,
    /// Allowed clock difference for external tokens' `exp` and `nbf`.
    pub leeway_secs: i64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            verified_secret_ttl_secs: 300,
            leeway_secs: 60,
        }
    }
}

/// The claims a client ID is looked for in when none are configured.
pub const DEFAULT_CLIENT_ID_CLAIMS: [&str; 3] = ["client_id", "cid", "azp"];

/// Asymmetric JWS algorithms accepted on external tokens (never `none`, never HMAC).
const EXTERNAL_ALGORITHMS: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

/// How often an unknown `kid` may make Keyward fetch an IdP's keys again.
const JWKS_REFETCH_INTERVAL_SECS: i64 = 1;

/// An identity provider configuration as a request gives it (PUT body).
#[derive(Debug, Clone, Default)]
pub struct IdentityProviderInput {
    /// The issuer URL to discover from (or, with `token_endpoint`, to match `iss`).
    pub issuer: Option<String>,
    /// A token endpoint entered by hand (no discovery).
    pub token_endpoint: Option<String>,
    /// A JWKS URL entered by hand.
    pub jwks_uri: Option<String>,
    /// The `aud` external tokens must carry.
    pub audience: Option<String>,
    /// The claims that may carry the client ID, in order.
    pub client_id_claims: Option<Vec<String>>,
    /// The scope sent upstream when brokering.
    pub scope: Option<String>,
    /// Whether it is used (default true).
    pub enabled: Option<bool>,
}

/// A verified external token, remembered by its exact text until it expires.
#[derive(Clone)]
struct VerifiedExternal {
    environment_id: EnvironmentId,
    external_client_id: Arc<str>,
    exp: i64,
}

/// The federation state of a server: the outbound client, IdPs' keys, verified
/// external tokens and brokered secrets.
pub(crate) struct Federation {
    pub(crate) upstream: Arc<dyn Upstream>,
    pub(crate) config: FederationConfig,
    /// Keys by JWKS URL.
    jwks: RwLock<HashMap<String, Arc<Vec<Jwk>>>>,
    last_fetch: Mutex<HashMap<String, DateTime<Utc>>>,
    verified_tokens: RwLock<BoundedMap<Arc<str>, VerifiedExternal>>,
    /// Brokered secrets the IdP accepted, by keyed hash (never the secret).
    pub(crate) verified_secrets: RwLock<BoundedMap<[u8; 32], DateTime<Utc>>>,
}

impl Federation {
    pub(crate) fn new(upstream: Arc<dyn Upstream>, config: FederationConfig) -> Self {
        Self {
            upstream,
            config,
            jwks: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(HashMap::new()),
            verified_tokens: RwLock::new(BoundedMap::new(50_000)),
            verified_secrets: RwLock::new(BoundedMap::new(100_000)),
        }
    }

    /// Checks a URL's syntax and scheme (`https`, or `http` when allowed).
    pub(crate) fn check_url(&self, field: &str, url: &str) -> Result<(), ValidationError> {
        let rest = url.strip_prefix("https://").or_else(|| {
            url.strip_prefix("http://")
                .filter(|_| self.config.allow_http)
        });
        let Some(rest) = rest else {
            return Err(ValidationError::new(
                field,
                if url.starts_with("http://") {
                    "must be an https URL (set federation.allow_http for labs)"
                } else {
                    "must be an https URL"
                },
            ));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty()
            || url.len() > 2048
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ValidationError::new(field, "is not a valid URL"));
        }
        Ok(())
    }

    fn cached_keys(&self, jwks_uri: &str) -> Option<Arc<Vec<Jwk>>> {
        self.jwks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(jwks_uri)
            .cloned()
    }

    /// Whether the keys at `jwks_uri` may be fetched now (at most once a second).
    fn may_fetch(&self, jwks_uri: &str, now: DateTime<Utc>) -> bool {
        let mut last = self
            .last_fetch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match last.get(jwks_uri) {
            Some(t) if (now - *t).num_seconds() < JWKS_REFETCH_INTERVAL_SECS => false,
            _ => {
                last.insert(jwks_uri.to_owned(), now);
                true
            }
        }
    }

    fn fetch_keys(&self, jwks_uri: &str) -> Result<Arc<Vec<Jwk>>, Error> {
        let doc = self
            .upstream
            .get_json(jwks_uri)
            .map_err(|e| Error::Upstream(format!("identity provider's JWKS {e}")))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Upstream("identity provider's JWKS has no `keys`".into()))?
            .iter()
            .filter_map(|k| k.as_object().cloned())
            .filter_map(|k| Jwk::from_map(k).ok())
            .collect::<Vec<_>>();
        let keys = Arc::new(keys);
        self.jwks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(jwks_uri.to_owned(), Arc::clone(&keys));
        Ok(keys)
    }

    /// Verifies an external token's signature and registered claims against `idp`;
    /// answers the client ID claim. Remembered by token text until it expires.
    fn verify(
        &self,
        token: &str,
        idp: &IdentityProvider,
        now: DateTime<Utc>,
        io: Io,
    ) -> Step<VerifiedExternal> {
        let cached = self
            .verified_tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        let leeway = self.config.leeway_secs;
        if let Some(v) = cached.filter(|v| v.environment_id == idp.environment_id) {
            if now.timestamp() >= v.exp + leeway {
                return Err(Error::Unauthenticated("token expired").into());
            }
            return Ok(v);
        }
        let invalid = || Stop::Failed(Error::Unauthenticated("invalid token"));
        let header = untrusted_part(token, 0).ok_or_else(invalid)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        if !EXTERNAL_ALGORITHMS.contains(&alg) {
            return Err(Error::Unauthenticated("token algorithm not accepted").into());
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let jwks_uri = idp.jwks_uri.as_deref().ok_or_else(invalid)?;
        let pick = |keys: &[Jwk]| -> Option<Jwk> {
            keys.iter()
                .find(|k| match kid {
                    Some(kid) => k.key_id() == Some(kid),
                    None => k.algorithm().is_none_or(|a| a == alg),
                })
                .cloned()
        };
        let key = match self.cached_keys(jwks_uri).and_then(|keys| pick(&keys)) {
            Some(key) => key,
            None => {
                if io == Io::Forbidden {
                    return Err(Stop::Blocked);
                }
                if !self.may_fetch(jwks_uri, now) {
                    return Err(Error::Unauthenticated("unknown signing key").into());
                }
                let keys = self.fetch_keys(jwks_uri)?;
                pick(&keys).ok_or(Error::Unauthenticated("unknown signing key"))?
            }
        };
        if key.algorithm().is_some_and(|a| a != alg) {
            return Err(Error::Unauthenticated("invalid token").into());
        }
        let verifier = verifier_for(alg, &key).ok_or_else(invalid)?;
        let (payload, _) = jws::deserialize_compact(token, &*verifier).map_err(|_| invalid())?;
        let claims: Map<String, Value> = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        let t = now.timestamp();
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(invalid)?;
        if t >= exp + leeway {
            return Err(Error::Unauthenticated("token expired").into());
        }
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| t + leeway < nbf)
        {
            return Err(Error::Unauthenticated("token not yet valid").into());
        }
        if claims.get("iss").and_then(Value::as_str) != idp.issuer.as_deref() {
            return Err(invalid());
        }
        if let Some(expected) = &idp.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => a == expected,
                Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected)),
                _ => false,
            };
            if !ok {
                return Err(Error::Unauthenticated("token is for another audience").into());
            }
        }
        let claim_names: Vec<&str> = if idp.client_id_claims.is_empty() {
            DEFAULT_CLIENT_ID_CLAIMS.to_vec()
        } else {
            idp.client_id_claims.iter().map(String::as_str).collect()
        };
        let client_id = claim_names
            .iter()
            .find_map(|name| claims.get(*name).and_then(Value::as_str))
            .ok_or(Error::Unauthenticated("token names no client"))?;
        let verified = VerifiedExternal {
            environment_id: idp.environment_id,
            external_client_id: Arc::from(client_id),
            exp,
        };
        self.verified_tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(Arc::from(token), verified.clone());
        Ok(verified)
    }
}

/// The JSON object of one part of a compact JWS, decoded without trusting it.
pub(crate) fn untrusted_part(token: &str, index: usize) -> Option<Map<String, Value>> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let part = token.split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn verifier_for(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    Some(match alg {
        "RS256" => Box::new(jws::RS256.verifier_from_jwk(jwk).ok()?),
        "RS384" => Box::new(jws::RS384.verifier_from_jwk(jwk).ok()?),
        "RS512" => Box::new(jws::RS512.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(jws::PS256.verifier_from_jwk(jwk).ok()?),
        "PS384" => Box::new(jws::PS384.verifier_from_jwk(jwk).ok()?),
        "PS512" => Box::new(jws::PS512.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(jws::ES256.verifier_from_jwk(jwk).ok()?),
        "ES384" => Box::new(jws::ES384.verifier_from_jwk(jwk).ok()?),
        "ES512" => Box::new(jws::ES512.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(jws::EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    })
}

/// What an external token resolved to: the bound app and whom it impersonates.
pub(crate) struct ExternalCaller {
    pub(crate) binding: Arc<ExternalBinding>,
}

impl crate::access::Validator {
    /// Verifies an IdP's access token (see [`Federation::verify`]) and finds the bound
    /// app of the IdP's environment.
    pub(crate) fn external_caller(
        &self,
        federation: &Federation,
        token: &str,
        io: Io,
    ) -> Step<ExternalCaller> {
        let claims = untrusted_part(token, 1).ok_or(Error::Unauthenticated("invalid token"))?;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(Error::Unauthenticated("invalid token"))?;
        let idps = self.live().identity_providers_by_issuer(issuer, io)?;
        let now = self.clock().now();
        // One IdP per environment; environments sharing an issuer (one tenant serving
        // two environments) are told apart by the binding's environment.
        let idp = idps
            .iter()
            .find(|i| i.enabled)
            .ok_or(Error::Unauthenticated("invalid token"))?;
        let verified = federation.verify(token, idp, now, io)?;
        let binding = self
            .live()
            .binding(&verified.external_client_id, io)?
            .filter(|b| b.environment_id == verified.environment_id)
            .ok_or(Error::Unauthenticated(
                "token's client is not bound to an app",
            ))?;
        Ok(ExternalCaller { binding })
    }
}

impl Keyward {
    fn federation(&self) -> Result<&Federation, Error> {
        self.federation.get().map(|f| &**f).ok_or_else(|| {
            Error::invalid(ValidationError::new(
                "identity_provider",
                "federation is not available in this server",
            ))
        })
    }

    /// Sets an environment's identity provider: discovers its endpoints from `issuer`
    /// (OpenID configuration, then RFC 8414 metadata) or takes a token endpoint entered
    /// by hand. Discovery failures answer [`Error::DiscoveryFailed`] with the reason.
    pub fn set_identity_provider(
        &self,
        principal: &Principal,
        env: &str,
        input: &IdentityProviderInput,
    ) -> Result<IdentityProvider, Error> {
        let env = self.environment(env)?;
        let federation = self.federation()?;
        let mut errors = Vec::new();
        for (field, url) in [
            ("issuer", &input.issuer),
            ("token_endpoint", &input.token_endpoint),
            ("jwks_uri", &input.jwks_uri),
        ] {
            if let Some(url) = url {
                if let Err(e) = federation.check_url(field, url) {
                    errors.push(e);
                }
            }
        }
        if input.issuer.is_none() && input.token_endpoint.is_none() {
            errors.push(ValidationError::new(
                "issuer",
                "give `issuer` (to discover) or `token_endpoint`",
            ));
        }
        if input.jwks_uri.is_some() && input.token_endpoint.is_none() {
            errors.push(ValidationError::new(
                "jwks_uri",
                "is entered by hand only with `token_endpoint`",
            ));
        }
        let claims = input.client_id_claims.clone().unwrap_or_else(|| {
            DEFAULT_CLIENT_ID_CLAIMS
                .iter()
                .map(|c| (*c).to_owned())
                .collect()
        });
        if claims.is_empty()
            || claims
                .iter()
                .any(|c| c.is_empty() || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_graphic()))
        {
            errors.push(ValidationError::new(
                "client_id_claims",
                "must be 1 or more claim names without spaces",
            ));
        }
        for (field, value) in [("audience", &input.audience), ("scope", &input.scope)] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.len() > 1024)
            {
                errors.push(ValidationError::new(field, "must be 1 to 1024 characters"));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let (issuer, token_endpoint, jwks_uri) = match &input.token_endpoint {
            Some(endpoint) => (
                input.issuer.clone(),
                endpoint.clone(),
                input.jwks_uri.clone(),
            ),
            None => {
                let issuer = input.issuer.clone().unwrap_or_default();
                let (token_endpoint, jwks_uri) = self.discover(federation, &issuer)?;
                (Some(issuer), token_endpoint, jwks_uri)
            }
        };
        let now = self.clock.now();
        let created_at = self
            .store
            .identity_provider(env.id)?
            .map_or(now, |existing| existing.created_at);
        let idp = self.audited(&crate::audit::Actor::of(principal), || {
            let idp = self.store.set_identity_provider(&IdentityProvider {
                environment_id: env.id,
                issuer,
                token_endpoint,
                jwks_uri,
                audience: input.audience.clone(),
                client_id_claims: claims,
                scope: input.scope.clone(),
                enabled: input.enabled.unwrap_or(true),
                created_at,
                updated_at: now,
            })?;
            let event = crate::audit::AuditEvent::new(
                "identity_provider.updated",
                Some(&env.slug),
                env.slug.as_str(),
            )
            .detail("issuer", idp.issuer.clone())
            .detail("token_endpoint", idp.token_endpoint.clone())
            .detail("jwks_uri", idp.jwks_uri.clone())
            .detail("audience", idp.audience.clone())
            .detail("client_id_claims", idp.client_id_claims.clone())
            .detail("scope", idp.scope.clone())
            .detail("enabled", idp.enabled);
            Ok((idp, event))
        })?;
        self.changed(&ChangeSubject::IdentityProvider(env.id));
        Ok(idp)
    }

    /// Discovery: `{issuer}/.well-known/openid-configuration`, then
    /// `{issuer}/.well-known/oauth-authorization-server`; the document must name the
    /// same issuer and a token endpoint.
    fn discover(
        &self,
        federation: &Federation,
        issuer: &str,
    ) -> Result<(String, Option<String>), Error> {
        let base = issuer.trim_end_matches('/');
        let mut reasons = Vec::new();
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let url = format!("{base}{path}");
            let doc = match federation.upstream.get_json(&url) {
                Ok(doc) => doc,
                Err(e) => {
                    reasons.push(format!("{url} {e}"));
                    continue;
                }
            };
            let named = doc.get("issuer").and_then(Value::as_str);
            if named.map(|n| n.trim_end_matches('/')) != Some(base) {
                return Err(Error::DiscoveryFailed(format!(
                    "issuer mismatch: {url} names issuer {}",
                    named.unwrap_or("(none)")
                )));
            }
            let token_endpoint = doc
                .get("token_endpoint")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::DiscoveryFailed(format!("{url} names no token_endpoint")))?;
            federation
                .check_url("token_endpoint", token_endpoint)
                .map_err(|e| {
                    Error::DiscoveryFailed(format!("discovered token_endpoint {}", e.message))
                })?;
            let jwks_uri = doc.get("jwks_uri").and_then(Value::as_str);
            if let Some(uri) = jwks_uri {
                federation.check_url("jwks_uri", uri).map_err(|e| {
                    Error::DiscoveryFailed(format!("discovered jwks_uri {}", e.message))
                })?;
            }
            return Ok((token_endpoint.to_owned(), jwks_uri.map(str::to_owned)));
        }
        Err(Error::DiscoveryFailed(reasons.join("; ")))
    }

    /// An environment's identity provider.
    pub fn get_identity_provider(&self, env: &str) -> Result<IdentityProvider, Error> {
        let env = self.environment(env)?;
        self.store
            .identity_provider(env.id)?
            .ok_or(Error::NotFound(Resource::IdentityProvider))
    }

    /// Removes an environment's identity provider: brokered requests and its tokens
    /// stop at once.
    pub fn delete_identity_provider(&self, principal: &Principal, env: &str) -> Result<(), Error> {
        let env = self.environment(env)?;
        self.audited(&crate::audit::Actor::of(principal), || {
            self.store
                .delete_identity_provider(env.id, self.clock.now())?;
            let event = crate::audit::AuditEvent::new(
                "identity_provider.deleted",
                Some(&env.slug),
                env.slug.as_str(),
            );
            Ok(((), event))
        })
        .map_err(|e| Error::from_store(e, Resource::IdentityProvider))?;
        self.changed(&ChangeSubject::IdentityProvider(env.id));
        Ok(())
    }

    /// Binds an app to its environment's identity provider by the client ID the IdP
    /// knows it by (unique across Keyward), optionally acting as `impersonate`; a
    /// `None` external client ID unbinds. Impersonating a user needs every management
    /// permission that user holds.
    pub fn bind_external(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
        external_client_id: Option<&str>,
        impersonate: Option<&str>,
    ) -> Result<crate::AppInEnvironment, Error> {
        let (env, app) = self.app(env, client_id)?;
        let user = self
            .check_binding(external_client_id, impersonate)
            .map_err(Error::Invalid)?;
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        if let Some(user) = &user {
            ensure_no_escalation(principal, &self.grants_of_user(user)?)?;
        }
        let updated = self
            .audited(&crate::audit::Actor::of(principal), || {
                let updated = self.store.bind_external(
                    app.id,
                    external_client_id,
                    user.as_ref().map(|u| &u.username),
                    self.clock.now(),
                )?;
                let event = crate::audit::AuditEvent::new(
                    "client_app.external_binding_replaced",
                    Some(&env.slug),
                    app.client_id.as_str(),
                )
                .detail("external_client_id", external_client_id)
                .detail("impersonate", user.as_ref().map(|u| u.username.as_str()));
                Ok((updated, event))
            })
            .map_err(|e| match e {
                keyward_store::StoreError::NameTaken => {
                    Error::NameTaken(Resource::ExternalClientId)
                }
                other => Error::from_store(other, Resource::ClientApp),
            })?;
        self.changed(&ChangeSubject::App(app.client_id.clone()));
        Ok(self.in_environment(updated, &env))
    }

    /// Checks a binding's fields: the external client ID's syntax, and the user to
    /// impersonate (who must exist). Every refusal is listed.
    pub(crate) fn check_binding(
        &self,
        external_client_id: Option<&str>,
        impersonate: Option<&str>,
    ) -> Result<Option<keyward_domain::AdminUser>, Vec<ValidationError>> {
        let mut errors = Vec::new();
        if let Some(ext) = external_client_id {
            if ext.is_empty() || ext.len() > 255 || !ext.bytes().all(|b| b.is_ascii_graphic()) {
                errors.push(ValidationError::new(
                    "external_client_id",
                    "must be 1 to 255 visible ASCII characters",
                ));
            }
        }
        let user = match impersonate {
            None => None,
            Some(name) => {
                let found = Username::parse(name)
                    .ok()
                    .map(|u| self.store.admin_by_username(&u))
                    .transpose()
                    .map_err(|e| vec![ValidationError::new("impersonate", e.to_string())])?
                    .flatten();
                if found.is_none() {
                    errors.push(ValidationError::new(
                        "impersonate",
                        format!("no user `{name}`"),
                    ));
                }
                found
            }
        };
        if impersonate.is_some() && external_client_id.is_none() {
            errors.push(ValidationError::new(
                "impersonate",
                "needs an `external_client_id`",
            ));
        }
        if errors.is_empty() {
            Ok(user)
        } else {
            Err(errors)
        }
    }

    /// Brokered client credentials: the IdP of the bound app's environment checks the
    /// secret. A secret the IdP accepted is remembered (keyed hash, never the secret)
    /// for `federation.verified_secret_ttl_seconds`, so warm clients neither wait on
    /// the IdP nor fail while it blips.
    pub(crate) fn authenticate_brokered(
        &self,
        binding: &ExternalBinding,
        secret: &str,
        source: Option<std::net::IpAddr>,
        io: Io,
    ) -> Step<AuthenticatedClient> {
        let federation = self
            .federation
            .get()
            .map(|f| &**f)
            .ok_or(Error::InvalidClient)?;
        let (app, environment) = self.live_client(&binding.client_id, io)?;
        let idp = self
            .validator
            .live()
            .identity_provider(environment.id, io)?
            .filter(|i| i.enabled)
            .ok_or(Error::InvalidClient)?;
        let mac = self.caches.mac_parts(&[
            "brokered",
            &binding.external_client_id,
            &idp.token_endpoint,
            secret,
        ]);
        let now = self.clock.now();
        let ttl = federation.config.verified_secret_ttl_secs;
        let known = federation
            .verified_secrets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&mac)
            .is_some_and(|at| (now - *at).num_seconds() < ttl);
        let client = || AuthenticatedClient {
            client_id: binding.client_id.clone(),
            app: Arc::clone(&app),
            environment: Arc::clone(&environment),
        };
        if known {
            return Ok(client());
        }
        if io == Io::Forbidden {
            return Err(Stop::Blocked);
        }
        let reservation = match self.caches.throttle.admit(&binding.client_id, source, now) {
            Admission::Reserved(r) => r,
            Admission::Throttled { retry_after, .. } => {
                return Err(Error::Throttled { retry_after }.into())
            }
        };
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = idp.scope.as_deref() {
            form.push(("scope", scope));
        }
        let answer = federation.upstream.post_form(
            &idp.token_endpoint,
            &binding.external_client_id,
            secret,
            &form,
        );
        let verdict = upstream_verdict(answer);
        let outcome = match &verdict {
            Err(Error::InvalidClient) => Outcome::Failed,
            _ => Outcome::NotFailed,
        };
        self.caches.throttle.settle(reservation, outcome);
        verdict?;
        federation
            .verified_secrets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(mac, now);
        // The IdP call took time: answer with the app's state as it is now.
        let (app, environment) = self.live_client(&binding.client_id, io)?;
        Ok(AuthenticatedClient {
            client_id: binding.client_id.clone(),
            app,
            environment,
        })
    }
}

/// What an IdP's answer to a forwarded client credentials grant means: issued → Ok;
/// `invalid_client` → 401; anything else → 502 naming what the IdP said (its error
/// code, its HTTP status, or how it failed), never the secret.
fn upstream_verdict(answer: Result<(u16, Vec<u8>), UpstreamError>) -> Result<(), Error> {
    let (status, body) = answer.map_err(|e| Error::Upstream(format!("identity provider {e}")))?;
    let json: Option<Map<String, Value>> = serde_json::from_slice(&body).ok();
    if json.is_none() {
        return Err(Error::Upstream(format!(
            "identity provider answered HTTP {status} with a body that is not JSON"
        )));
    }
    if (200..300).contains(&status) {
        return match json.as_ref().and_then(|j| j.get("access_token")) {
            Some(Value::String(_)) => Ok(()),
            _ => Err(Error::Upstream(format!(
                "identity provider answered HTTP {status} without an access token"
            ))),
        };
    }
    let code = json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str)
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_graphic()));
    match code {
        Some("invalid_client") => Err(Error::InvalidClient),
        Some(code) => Err(Error::Upstream(format!(
            "identity provider refused the request: {code} (HTTP {status})"
        ))),
        None => Err(Error::Upstream(format!(
            "identity provider answered HTTP {status} without an error code"
        ))),
    }
}

/// The permissions a user holds inside one environment: their global role's, and
/// their roles there.
pub(crate) fn user_grants_in(
    live: &crate::live::LiveState,
    user: &keyward_store::UserState,
    env: EnvironmentId,
    io: Io,
) -> Step<keyward_domain::Grants> {
    let mut grants = user.role.map_or_else(
        keyward_domain::Grants::none,
        keyward_domain::BuiltinRole::grants,
    );
    for id in &user.role_ids {
        if let Some(role) = live.role(*id, io)? {
            if role.environment_id == env {
                grants.extend(&role.grants());
            }
        }
    }
    Ok(grants)
}
