//! The permission engine: turns a Bearer credential into a [`Principal`] with its
//! *current* grants, and decides allow / 401 / 403. The server's extractor, the
//! `/api/v1/authorize` route and an embedding service all call this one code.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyward_domain::{
    live_at, AdminId, AppId, AppStatus, BuiltinRole, ClientId, CredentialId, EnvironmentId,
    EnvironmentSlug, Grants, Permission, Username,
};
use keyward_store::LiveSource;

use crate::bounded::BoundedMap;
use crate::clock::{Clock, Io};
use crate::error::{from_memory, with_io, Error, Step, Stop};
use crate::federation::Federation;
use crate::jwt::AccessTokenClaims;
use crate::keys::{Algorithm, KeyRing, MasterKey};
use crate::live::LiveState;
use crate::secret::{credential_digest, ApiKeySecret};
use crate::usage::PendingUsage;

/// A Bearer credential, recognised once by its shape; each kind has one path through
/// [`Validator::authenticate`]. New kinds (API keys, tokens of an external identity
/// provider) add a variant and a path, and meet the same app checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A Keyward access token (a JWT: `ey…` with two dots).
    AccessToken,
    /// A client app's API key (`kwak_…`): acts as its app, like its access tokens.
    ApiKey,
    /// An admin's personal API credential (`kwpc_…`, or the configured bootstrap
    /// credential): valid only against Keyward's own API.
    Personal,
}

impl CredentialKind {
    /// The kind of `bearer`, or `None` for a value no kind accepts (empty or too long).
    pub fn of(bearer: &str) -> Option<Self> {
        if bearer.is_empty() || bearer.len() > crate::jwt::MAX_TOKEN_LEN {
            return None;
        }
        if bearer.starts_with("ey") && bearer.bytes().filter(|b| *b == b'.').count() == 2 {
            Some(Self::AccessToken)
        } else if bearer.starts_with(ApiKeySecret::PREFIX) {
            Some(Self::ApiKey)
        } else {
            Some(Self::Personal)
        }
    }
}

/// Which credential of an app the call came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppCredential {
    /// An access token, by its `jti`.
    AccessToken {
        /// The token's `jti`.
        token_id: String,
    },
    /// An API key, by its public identifier.
    ApiKey {
        /// The key's public identifier (never the key).
        key_id: CredentialId,
    },
    /// An access token of the environment's identity provider.
    External {
        /// The client ID the identity provider knows the app by.
        external_client_id: String,
        /// The user the app acts as, if it impersonates one.
        impersonating: Option<Username>,
    },
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A client app, through one of its credentials.
    App {
        /// Storage identity.
        app_id: AppId,
        /// Its client ID.
        client_id: ClientId,
        /// Its environment.
        environment_id: EnvironmentId,
        /// Its environment's slug.
        environment: EnvironmentSlug,
        /// The credential it presented.
        credential: AppCredential,
    },
    /// An admin user, through their personal credential.
    Admin {
        /// Storage identity.
        admin_id: AdminId,
        /// Login name.
        username: Username,
    },
    /// A user, through a console session. Its grants are those it holds where the
    /// request acts (see `Keyward::session_principal`).
    User {
        /// Storage identity.
        admin_id: AdminId,
        /// Login name.
        username: Username,
        /// The environment the request acts in, for a user whose roles are per
        /// environment (`None` for a user with a global role, or outside any).
        environment: Option<EnvironmentSlug>,
    },
    /// The operator at the command line (the `keyward` CLI on the database).
    System,
}

impl PrincipalKind {
    /// The client ID, when the caller is a client app.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            PrincipalKind::App { client_id, .. } => Some(client_id.as_str()),
            _ => None,
        }
    }
}

/// An authenticated caller with the grants it holds *now*.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Who it is.
    pub kind: PrincipalKind,
    /// The union of its roles' permissions, resolved from live state for this request.
    pub grants: Grants,
    /// A down-scoped token's scope: the principal may use only permissions in both.
    pub scope_limit: Option<Grants>,
    /// Whether it acts in every environment (admins, and apps holding Super Admin).
    pub global: bool,
    /// The address the request came from, when the HTTP layer knows it (the audit log
    /// records it; see [`Principal::with_address`]).
    pub address: Option<std::net::IpAddr>,
}

impl Principal {
    /// The operator at the command line: every permission, everywhere.
    pub fn system() -> Self {
        Self {
            kind: PrincipalKind::System,
            grants: Grants::all(),
            scope_limit: None,
            global: true,
            address: None,
        }
    }

    /// This principal, calling from `address`.
    pub fn with_address(mut self, address: Option<std::net::IpAddr>) -> Self {
        self.address = address;
        self
    }

    /// The environment an app principal lives in.
    pub fn environment(&self) -> Option<&EnvironmentSlug> {
        match &self.kind {
            PrincipalKind::App { environment, .. } => Some(environment),
            PrincipalKind::User { environment, .. } => environment.as_ref(),
            _ => None,
        }
    }

    /// What the principal may actually use: its grants, cut down to the token's scope.
    pub fn effective_grants(&self) -> Grants {
        match &self.scope_limit {
            None => self.grants.clone(),
            Some(limit) => {
                if self.grants.is_all() {
                    return limit.clone();
                }
                Grants::from_permissions(
                    self.grants
                        .permissions()
                        .filter(|p| limit.allows(p))
                        .chain(limit.permissions().filter(|p| self.grants.allows(p)))
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            }
        }
    }

    /// Whether the principal holds `permission` (live grants ∩ token scope).
    pub fn holds(&self, permission: &Permission) -> bool {
        self.grants.allows(permission)
            && self
                .scope_limit
                .as_ref()
                .is_none_or(|s| s.allows(permission))
    }

    /// Whether the principal may act on `target`.
    pub fn reaches(&self, target: &Target) -> bool {
        match target {
            Target::Global => self.global,
            Target::Environment(slug) => self.global || self.environment() == Some(slug),
            Target::OwnEnvironment => true,
        }
    }

    /// Allow or refuse `permission` on `target` (403 when refused).
    pub fn authorize(&self, permission: &Permission, target: &Target) -> Result<(), Error> {
        if self.holds(permission) && self.reaches(target) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "requires `{permission}` on {target}"
            )))
        }
    }
}

/// Where a call acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Keyward as a whole (admins, creating environments).
    Global,
    /// One environment, named in the request path.
    Environment(EnvironmentSlug),
    /// Wherever the principal itself lives (its own environment).
    OwnEnvironment,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Global => f.write_str("Keyward itself"),
            Target::Environment(s) => write!(f, "environment `{s}`"),
            Target::OwnEnvironment => f.write_str("the caller's environment"),
        }
    }
}

/// How a [`Validator`] gets its keys: public keys only (an embedded validator) or with
/// the private key of the configured algorithm (the server, which signs).
#[derive(Clone)]
pub enum KeySource {
    /// Verify only.
    Public,
    /// Verify and sign with the newest key of `algorithm` (once it has been published
    /// for `publish_delay_secs`), decrypted with `master`.
    Signing {
        /// The master key that encrypts private keys at rest.
        master: Arc<MasterKey>,
        /// The signing algorithm.
        algorithm: Algorithm,
        /// How long a new key is published in the JWK Set before it signs.
        publish_delay_secs: i64,
    },
}

/// What a [`Validator`] expects of tokens.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// Expected `iss` (the server's public URL).
    pub issuer: String,
    /// Expected `aud` for management calls and embedded checks.
    pub audience: String,
    /// Allowed clock difference for `iat` in the future.
    pub leeway: Duration,
    /// Accept only tokens of apps in this environment (a resource server that serves one
    /// environment, e.g. production); `None` accepts every environment.
    pub environment: Option<EnvironmentSlug>,
}

/// Validates Keyward credentials against live state. Shared by the server and by any
/// Rust service that embeds keyward-core.
pub struct Validator {
    live: LiveState,
    keys: RwLock<Arc<KeyRing>>,
    key_source: KeySource,
    last_key_reload: Mutex<Option<DateTime<Utc>>>,
    /// Tokens whose signature, type and key were already verified, keyed by their exact
    /// text: a token's signature is checked once, not on every call. Expiry, issuer,
    /// audience and all live state are still checked on every call.
    verified_tokens: RwLock<BoundedMap<Arc<str>, VerifiedToken>>,
    /// Revoked token IDs until their expiry, loaded at start and followed through the
    /// change feed.
    revoked: crate::revocation::RevokedTokens,
    /// Set when the feed reported new signing keys and the reload has not succeeded yet.
    keys_outdated: std::sync::atomic::AtomicBool,
    /// Where API-key uses are recorded (the server, which writes them in batches); a
    /// resource server's validator records nothing.
    usage: Option<Arc<PendingUsage>>,
    /// Federation (the server, once enabled): accepts the identity providers' tokens.
    federation: std::sync::OnceLock<Arc<Federation>>,
    /// Checked before every decision (a remote validator fails closed when stale).
    liveness: std::sync::OnceLock<crate::remote::Liveness>,
    /// Moves on every key reload (warm answers computed before it moved no longer hold:
    /// a retired key stops vouching for its tokens).
    keys_version: crate::sharded::Padded<std::sync::atomic::AtomicU64>,
    config: ValidatorConfig,
    clock: Arc<dyn Clock>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// How often an unknown `kid` may trigger a reload of the keys from storage.
const KEY_RELOAD_INTERVAL_SECS: i64 = 1;

/// Most verified tokens remembered; beyond it the least recently used make room.
const MAX_VERIFIED_TOKENS: usize = 50_000;

/// A token whose signature was verified, and the key that verified it.
#[derive(Clone)]
struct VerifiedToken {
    kid: Arc<str>,
    claims: Arc<AccessTokenClaims>,
}

impl Validator {
    /// A validator over `source`, loading keys now.
    pub fn new(
        source: Arc<dyn LiveSource>,
        key_source: KeySource,
        config: ValidatorConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let ring = load_ring(source.as_ref(), &key_source)?;
        let revoked = crate::revocation::RevokedTokens::load(source.as_ref(), clock.now())?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        Ok(Self {
            revoked,
            live: LiveState::with_metrics(source, Arc::clone(&metrics))?,
            metrics,
            keys: RwLock::new(Arc::new(ring)),
            key_source,
            last_key_reload: Mutex::new(None),
            verified_tokens: RwLock::new(BoundedMap::new(MAX_VERIFIED_TOKENS)),
            keys_outdated: std::sync::atomic::AtomicBool::new(false),
            usage: None,
            federation: std::sync::OnceLock::new(),
            liveness: std::sync::OnceLock::new(),
            keys_version: crate::sharded::Padded(std::sync::atomic::AtomicU64::new(0)),
            config,
            clock,
        })
    }

    /// The metrics this validator counts in (cache hits, the change feed's lag); the
    /// server adds its own to the same registry and serves them at `/metrics`.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// How many verified tokens are remembered.
    pub(crate) fn verified_token_count(&self) -> usize {
        self.verified_tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Lets the live-state cache serve secret hashes (the issuing server only).
    pub(crate) fn with_app_secrets(mut self, store: Arc<dyn keyward_store::AppStore>) -> Self {
        self.live.serve_secrets_from(store);
        self
    }

    /// Lets this validator record API-key uses into `usage` (the server only).
    pub(crate) fn with_usage(mut self, usage: Arc<PendingUsage>) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Accepts identity providers' tokens through `federation` (the server only).
    pub(crate) fn set_federation(&self, federation: Arc<Federation>) {
        let _ = self.federation.set(federation);
    }

    /// Installs a check run before every decision: while it answers `Some(reason)`,
    /// every credential is refused (401) — how a validator fed from afar fails closed
    /// when it has not heard from Keyward for too long. Once; later calls change nothing.
    pub fn set_liveness(&self, check: crate::remote::Liveness) {
        let _ = self.liveness.set(check);
    }

    /// The clock this validator checks lifetimes with.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The live-state cache.
    pub fn live(&self) -> &LiveState {
        &self.live
    }

    /// The revoked tokens this validator refuses.
    pub(crate) fn revoked(&self) -> &crate::revocation::RevokedTokens {
        &self.revoked
    }

    /// The expectations this validator checks.
    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// The current key ring.
    pub fn keys(&self) -> Arc<KeyRing> {
        Arc::clone(
            &self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Reloads keys from storage (after a rotation or an unknown `kid`).
    pub fn reload_keys(&self) -> Result<(), Error> {
        let ring = Arc::new(load_ring(self.live.source().as_ref(), &self.key_source)?);
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&ring);
        // A retired key must stop vouching for the tokens it signed; tokens of keys
        // still in the ring stay verified (an unknown `kid` costs nobody else anything).
        self.verified_tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, v| ring.knows(&v.kid));
        self.keys_version
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }

    /// How many times the keys were reloaded.
    pub(crate) fn keys_version(&self) -> u64 {
        self.keys_version.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Why no credential may be accepted now (a remote validator whose view of live
    /// state is too old), if so.
    pub(crate) fn liveness_refusal(&self) -> Option<&'static str> {
        self.liveness.get().and_then(|check| check())
    }

    /// Where API-key uses are recorded (the server only).
    pub(crate) fn usage(&self) -> Option<&Arc<PendingUsage>> {
        self.usage.as_ref()
    }

    /// The claims of a token whose signature was verified before, if remembered
    /// (without counting a lookup).
    pub(crate) fn remembered(&self, token: &str) -> Option<Arc<AccessTokenClaims>> {
        self.remembered_claims(token)
    }

    /// Applies changes committed elsewhere; returns them for other caches to follow.
    pub fn sync_changes(&self) -> Result<Vec<keyward_store::ChangeSubject>, Error> {
        use keyward_store::ChangeSubject;
        let (changes, newest) = match self.live.sync_changes_timed() {
            Ok(synced) => synced,
            Err(e) => {
                self.metrics.feed_failures.inc();
                return Err(e);
            }
        };
        let now = self.clock.now();
        #[allow(clippy::as_conversions)] // seconds since 1970 fit an f64 exactly
        self.metrics
            .feed_last_sync
            .set(now.timestamp_millis() as f64 / 1000.0);
        if let Some(at) = newest {
            let lag = (now - at).to_std().unwrap_or_default();
            self.metrics.feed_lag.observe(lag.as_secs_f64());
        }
        self.revoked
            .follow(&changes, self.live.source().as_ref(), self.clock.now())?;
        if changes
            .iter()
            .any(|c| matches!(c, ChangeSubject::SigningKeys | ChangeSubject::Unknown))
        {
            self.keys_outdated
                .store(true, std::sync::atomic::Ordering::Release);
        }
        // Retried on every sync until it succeeds: a failed reload is never forgotten.
        if self
            .keys_outdated
            .load(std::sync::atomic::Ordering::Acquire)
        {
            self.reload_keys()?;
            self.keys_outdated
                .store(false, std::sync::atomic::Ordering::Release);
        }
        Ok(changes)
    }

    /// Turns a Bearer credential into a principal with its live grants, or 401. May
    /// read storage (a cache miss) or reload keys; on an async worker, try
    /// [`Self::authenticate_from_memory`] first and run this on a blocking thread only
    /// when that answers `None`.
    ///
    /// A verify-only validator (a resource server: [`KeySource::Public`]) accepts
    /// client-app credentials only: a personal credential is for Keyward's own API, and a
    /// resource server must never receive one it could replay there.
    pub fn authenticate(&self, bearer: &str) -> Result<Principal, Error> {
        with_io(self.authenticate_step(bearer, Io::Allowed))
    }

    /// [`Self::authenticate`] from memory only: `None` when the answer needs storage.
    ///
    /// A credential this thread accepted moments ago is answered from its warm
    /// answers when nothing it depends on has changed (see the `warm` module).
    pub fn authenticate_from_memory(&self, bearer: &str) -> Option<Result<Principal, Error>> {
        if let Some(principal) = self.warm_principal(bearer) {
            return Some(Ok(principal));
        }
        let stamp = self.warm_stamp();
        let answer = from_memory(self.authenticate_step(bearer, Io::Forbidden));
        if let Some(Ok(principal)) = &answer {
            self.remember_warm_principal(bearer, stamp, principal);
        }
        answer
    }

    pub(crate) fn authenticate_step(&self, bearer: &str, io: Io) -> Step<Principal> {
        if let Some(reason) = self.liveness.get().and_then(|check| check()) {
            return Err(Error::Unauthenticated(reason).into());
        }
        match CredentialKind::of(bearer) {
            None => Err(Error::Unauthenticated("malformed credential").into()),
            Some(CredentialKind::AccessToken) => {
                // A token seen before is one of Keyward's own (only those are
                // remembered): no need to look at its issuer again.
                if let Some(claims) = self.remembered_claims(bearer) {
                    self.metrics.token_cache.record(true);
                    self.check_claims(&claims, true)?;
                    return self.token_principal(&claims, io);
                }
                if let Some(federation) = self.federation.get() {
                    let issuer = crate::federation::untrusted_part(bearer, 1)
                        .and_then(|c| c.get("iss").and_then(|i| i.as_str().map(str::to_owned)));
                    // Keyward's own issuers: the public URL and every environment's.
                    if issuer
                        .is_some_and(|i| !crate::issuers::is_own_issuer(&self.config.issuer, &i))
                    {
                        return self.external_principal(federation, bearer, io);
                    }
                }
                let claims = self.verify_token_step(bearer, io)?;
                self.token_principal(&claims, io)
            }
            Some(CredentialKind::ApiKey) => self.api_key_principal(bearer, io),
            Some(CredentialKind::Personal) => match self.key_source {
                KeySource::Public => Err(Error::Unauthenticated(
                    "personal credentials are accepted by Keyward's own API only",
                )
                .into()),
                KeySource::Signing { .. } => self.admin_principal(bearer, io),
            },
        }
    }

    /// Authenticates and checks one permission on one target: the whole decision.
    pub fn check(
        &self,
        bearer: &str,
        permission: &Permission,
        target: &Target,
    ) -> Result<Principal, Error> {
        let principal = self.authenticate(bearer)?;
        principal.authorize(permission, target)?;
        Ok(principal)
    }

    /// Verifies a Keyward access token's signature, type, issuer, audience and lifetime
    /// (not the app's live state: see [`Validator::authenticate`]).
    pub fn verify_token(&self, token: &str) -> Result<Arc<AccessTokenClaims>, Error> {
        with_io(self.verify_token_step(token, Io::Allowed))
    }

    pub(crate) fn verify_token_step(&self, token: &str, io: Io) -> Step<Arc<AccessTokenClaims>> {
        let claims = self.signed_claims_step(token, io)?;
        self.check_claims(&claims, true)?;
        Ok(claims)
    }

    /// The claims of a token whose signature was verified before, if remembered.
    fn remembered_claims(&self, token: &str) -> Option<Arc<AccessTokenClaims>> {
        self.verified_tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .map(|v| Arc::clone(&v.claims))
    }

    /// A token's claims once its signature, type and key are verified (remembered per
    /// token), before any claim is checked.
    pub(crate) fn signed_claims_step(&self, token: &str, io: Io) -> Step<Arc<AccessTokenClaims>> {
        let cached = self.remembered_claims(token);
        self.metrics.token_cache.record(cached.is_some());
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let (kid, claims) = self.verify_signature(token, io)?;
                let claims = Arc::new(claims);
                self.verified_tokens
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(
                        Arc::from(token),
                        VerifiedToken {
                            kid: Arc::from(kid),
                            claims: Arc::clone(&claims),
                        },
                    );
                claims
            }
        };
        Ok(claims)
    }

    /// The claims every use of a token checks: the issuer of the token's environment
    /// (environments have their own issuers: see [`crate::issuers`]), the audience this
    /// validator serves (unless `audience` is false: introspection reports tokens of
    /// every audience), lifetime, and that the token was not revoked.
    pub(crate) fn check_claims(
        &self,
        claims: &AccessTokenClaims,
        audience: bool,
    ) -> Result<(), Error> {
        let now = self.clock.now().timestamp();
        let issuer = crate::issuers::environment_issuer(&self.config.issuer, &claims.env);
        if claims.iss != issuer || (audience && claims.aud != self.config.audience) {
            return Err(Error::Unauthenticated(
                "token is for another issuer or audience",
            ));
        }
        if claims.exp <= now {
            return Err(Error::Unauthenticated("token expired"));
        }
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(60);
        if claims.iat > now + leeway || claims.sub != claims.client_id {
            return Err(Error::Unauthenticated("invalid token"));
        }
        if self.revoked.contains(&claims.jti) {
            return Err(Error::Unauthenticated("token revoked"));
        }
        Ok(())
    }

    /// Checks a token's signature, type and key (once per token: see `verified_tokens`).
    fn verify_signature(&self, token: &str, io: Io) -> Step<(String, AccessTokenClaims)> {
        use crate::jwt::TokenRejected;
        let ring = self.keys();
        let verified = match ring.verify_with_kid(token) {
            Ok(c) => c,
            Err(TokenRejected::UnknownKey) => {
                // Another instance may have rotated keys: reload at most once a second.
                if io == Io::Forbidden {
                    return Err(Stop::Blocked);
                }
                if !self.may_reload_keys() {
                    return Err(Error::Unauthenticated("unknown signing key").into());
                }
                self.reload_keys()?;
                self.keys()
                    .verify_with_kid(token)
                    .map_err(|_| Error::Unauthenticated("invalid token"))?
            }
            Err(_) => return Err(Error::Unauthenticated("invalid token").into()),
        };
        Ok(verified)
    }

    fn may_reload_keys(&self) -> bool {
        let now = self.clock.now();
        let mut last = self
            .last_key_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *last {
            Some(t) if (now - t).num_seconds() < KEY_RELOAD_INTERVAL_SECS => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// The principal of an access token: the app checks, plus what only a token says
    /// (its environment claim, its down-scoped scope).
    pub(crate) fn token_principal(&self, claims: &AccessTokenClaims, io: Io) -> Step<Principal> {
        let client_id = ClientId::parse(&claims.client_id)
            .map_err(|_| Error::Unauthenticated("invalid token"))?;
        let scope_limit = if claims.scope_restricted {
            let permissions = claims
                .scope
                .split_whitespace()
                .map(Permission::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| Error::Unauthenticated("invalid token scope"))?;
            Some(Grants::from_permissions(permissions))
        } else {
            None
        };
        let principal = self.app_principal(
            client_id,
            AppCredential::AccessToken {
                token_id: claims.jti.clone(),
            },
            scope_limit,
            io,
        )?;
        if principal.environment().map(EnvironmentSlug::as_str) != Some(claims.env.as_str()) {
            return Err(Error::Unauthenticated("invalid token").into());
        }
        Ok(principal)
    }

    /// The principal of an API key: its format and checksum (refused without a lookup
    /// when wrong), a key stored under its SHA-256 digest, not past its expiry, then
    /// the app checks. Answered from memory once the key and its app are cached.
    fn api_key_principal(&self, text: &str, io: Io) -> Step<Principal> {
        let key = ApiKeySecret::parse(text).map_err(|_| Error::Unauthenticated("invalid token"))?;
        let digest = key.digest();
        let state = self
            .live
            .api_key(&digest, io)?
            .filter(|k| bool::from(subtle::ConstantTimeEq::ct_eq(&k.digest[..], &digest[..])))
            .ok_or(Error::Unauthenticated("invalid token"))?;
        let now = self.clock.now();
        if !live_at(state.expires_at, now) {
            return Err(Error::Unauthenticated("API key expired").into());
        }
        let principal = self.app_principal(
            state.client_id.clone(),
            AppCredential::ApiKey {
                key_id: state.id.clone(),
            },
            None,
            io,
        )?;
        if let (Some(usage), PrincipalKind::App { app_id, .. }) = (&self.usage, &principal.kind) {
            usage.api_key(&state.id, *app_id, now);
        }
        Ok(principal)
    }

    /// The principal of an identity provider's token: the bound app's checks, with the
    /// app's live roles — or, when the app impersonates a user, that user's live
    /// permissions in the app's environment (an unknown or inactive user: 401).
    fn external_principal(&self, federation: &Federation, token: &str, io: Io) -> Step<Principal> {
        let caller = self.external_caller(federation, token, io)?;
        let binding = &caller.binding;
        let mut principal = self.app_principal(
            binding.client_id.clone(),
            AppCredential::External {
                external_client_id: binding.external_client_id.clone(),
                impersonating: binding.impersonate.clone(),
            },
            None,
            io,
        )?;
        if let Some(username) = &binding.impersonate {
            let user = self
                .live
                .user(username, io)?
                .filter(|u| u.status == AppStatus::Active)
                .ok_or(Error::Unauthenticated(
                    "impersonated user unknown or inactive",
                ))?;
            principal.grants =
                crate::federation::user_grants_in(&self.live, &user, binding.environment_id, io)?;
            principal.global = user.role == Some(BuiltinRole::SuperAdmin);
        }
        Ok(principal)
    }

    /// The checks every credential of a client app meets, whatever its kind: the app
    /// exists and is active, its environment exists, is enabled and is the pinned one
    /// (if any), and its grants are its roles' permissions right now.
    fn app_principal(
        &self,
        client_id: ClientId,
        credential: AppCredential,
        scope_limit: Option<Grants>,
        io: Io,
    ) -> Step<Principal> {
        let app = self
            .live
            .app(&client_id, io)?
            .ok_or(Error::Unauthenticated("unknown client app"))?;
        if app.deleted || app.status != AppStatus::Active {
            return Err(Error::Unauthenticated("token revoked or client app inactive").into());
        }
        let env = self
            .live
            .environment(app.environment_id, io)?
            .ok_or(Error::Unauthenticated("unknown environment"))?;
        if !env.enabled {
            return Err(Error::Unauthenticated("environment disabled").into());
        }
        if self
            .config
            .environment
            .as_ref()
            .is_some_and(|pinned| *pinned != env.slug)
        {
            return Err(Error::Unauthenticated("token is for another environment").into());
        }
        let (grants, global) = self.live.grants_of(&app.role_ids, io)?;
        Ok(Principal {
            kind: PrincipalKind::App {
                app_id: app.id,
                client_id,
                environment_id: env.id,
                environment: env.slug.clone(),
                credential,
            },
            grants,
            scope_limit,
            global,
            address: None,
        })
    }

    fn admin_principal(&self, credential: &str, io: Io) -> Step<Principal> {
        // Admins act on Keyward as a whole: a validator pinned to one environment is a
        // resource server of that environment and accepts no admin.
        if self.config.environment.is_some() {
            return Err(Error::Unauthenticated("credential is for another environment").into());
        }
        let digest = credential_digest(credential);
        let admin = self
            .live
            .admin_by_credential(&digest, io)?
            .ok_or(Error::Unauthenticated("unknown or revoked credential"))?;
        // Personal credentials belong to active Super Admins; one demoted or
        // deactivated keeps none that works.
        if admin.role != Some(BuiltinRole::SuperAdmin) || admin.status != AppStatus::Active {
            return Err(Error::Unauthenticated("unknown or revoked credential").into());
        }
        Ok(Principal {
            kind: PrincipalKind::Admin {
                admin_id: admin.id,
                username: admin.username.clone(),
            },
            grants: BuiltinRole::SuperAdmin.grants(),
            scope_limit: None,
            global: true,
            address: None,
        })
    }
}

fn load_ring(source: &dyn LiveSource, key_source: &KeySource) -> Result<KeyRing, Error> {
    let records = source.signing_keys()?;
    let ring = match key_source {
        KeySource::Public => KeyRing::verify_only(&records),
        KeySource::Signing {
            master,
            algorithm,
            publish_delay_secs,
        } => KeyRing::load_scheduled(&records, *algorithm, master, *publish_delay_secs),
    };
    ring.map_err(|e| Error::Internal(format!("signing keys: {e}")))
}

#[cfg(test)]
mod tests {
    use keyward_store::{DieselStore, SigningKeyStore, StoreOptions};
    use rand_core::OsRng;

    use super::*;
    use crate::keys::generate_signing_key;

    const ISSUER: &str = "https://keyward.test";

    fn now() -> DateTime<Utc> {
        crate::testkit::TestClock::new().now()
    }

    fn validator() -> (
        tempfile::TempDir,
        Arc<DieselStore>,
        Arc<MasterKey>,
        Validator,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(DieselStore::open(&StoreOptions::sqlite(dir.path().join("k.db"))).unwrap());
        let master = Arc::new(MasterKey::generate(&mut OsRng));
        let record = generate_signing_key(Algorithm::Es256, &master, &mut OsRng, now()).unwrap();
        store.insert_signing_key(&record).unwrap();
        let validator = Validator::new(
            Arc::clone(&store) as Arc<dyn LiveSource>,
            KeySource::Signing {
                master: Arc::clone(&master),
                algorithm: Algorithm::Es256,
                publish_delay_secs: 0,
            },
            ValidatorConfig {
                issuer: ISSUER.into(),
                audience: ISSUER.into(),
                leeway: Duration::from_secs(60),
                environment: None,
            },
            crate::testkit::TestClock::new(),
        )
        .unwrap();
        (dir, store, master, validator)
    }

    fn token(v: &Validator, exp_in: i64) -> String {
        let t = now().timestamp();
        v.keys()
            .sign(&AccessTokenClaims {
                iss: ISSUER.into(),
                sub: "abc".into(),
                client_id: "abc".into(),
                aud: ISSUER.into(),
                iat: t,
                exp: t + exp_in,
                jti: "j".into(),
                scope: "orders:read".into(),
                env: "default".into(),
                scope_restricted: false,
            })
            .unwrap()
    }

    fn is_cached(v: &Validator, token: &str) -> bool {
        v.verified_tokens.read().unwrap().contains_key(token)
    }

    #[test]
    fn a_key_reload_keeps_tokens_of_keys_still_in_the_ring() {
        let (_dir, store, master, v) = validator();
        let t = token(&v, 600);
        assert!(v.verify_token(&t).is_ok());
        assert!(is_cached(&v, &t));
        // An anonymous token with an unknown `kid` makes the validator reload its keys:
        // the cache of verified tokens must survive it.
        let (_, rest) = t.split_once('.').unwrap();
        let forged_header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"typ":"at+jwt","alg":"ES256","kid":"nosuchkey"}"#,
        );
        let forged = format!("{forged_header}.{rest}");
        assert!(matches!(
            v.verify_token(&forged),
            Err(Error::Unauthenticated(_))
        ));
        assert!(is_cached(&v, &t), "an unknown kid emptied the cache");
        // A rotation adds a key: tokens of the old one stay verified.
        let newer = generate_signing_key(Algorithm::Es256, &master, &mut OsRng, now()).unwrap();
        store.insert_signing_key(&newer).unwrap();
        v.reload_keys().unwrap();
        assert!(is_cached(&v, &t));
        assert!(
            v.verify_token_step(&t, Io::Forbidden).is_ok(),
            "answered from memory"
        );
    }

    #[test]
    fn cached_tokens_still_expire_by_the_clock() {
        let (_dir, _store, _master, v) = validator();
        let t = token(&v, 0);
        assert!(matches!(
            v.verify_token(&t),
            Err(Error::Unauthenticated("token expired"))
        ));
    }

    mod through_the_core {
        use chrono::Duration as Span;

        use super::super::*;
        use crate::testkit::TestCore;
        use crate::{CoreConfig, TokenRequest};

        fn token(t: &TestCore, id: &str, secret: &str, scope: Option<&str>) -> String {
            t.core
                .issue_token(&TokenRequest {
                    client: crate::ClientCredentials::Secret {
                        client_id: id.into(),
                        client_secret: zeroize::Zeroizing::new(secret.into()),
                        method: crate::SecretMethod::Basic,
                    },
                    scope: scope.map(str::to_owned),
                    resource: None,
                    source: None,
                })
                .unwrap()
                .access_token
        }

        fn perm(s: &str) -> Permission {
            Permission::parse(s).unwrap()
        }

        fn verify_only(t: &TestCore, environment: Option<&str>) -> Validator {
            Validator::new(
                Arc::clone(t.core.validator().live().source()),
                KeySource::Public,
                ValidatorConfig {
                    issuer: "https://keyward.test".into(),
                    audience: "https://keyward.test".into(),
                    leeway: Duration::from_secs(60),
                    environment: environment.map(|e| EnvironmentSlug::parse(e).unwrap()),
                },
                Arc::clone(&t.clock) as Arc<dyn Clock>,
            )
            .unwrap()
        }

        #[test]
        fn a_down_scoped_token_holds_only_scope_and_live_grants_together() {
            let t = TestCore::new(CoreConfig::default());
            let (id, secret) = t.app("bot", &["orders:*", "users:read"]);
            let v = t.core.validator();
            let scoped = token(&t, &id, &secret, Some("orders:read users:read"));
            let p = v.authenticate(&scoped).unwrap();
            assert!(p.holds(&perm("orders:read")));
            assert!(p.holds(&perm("users:read")));
            assert!(
                !p.holds(&perm("orders:write")),
                "granted but outside the scope"
            );
            let effective = p.effective_grants();
            assert!(effective.allows(&perm("orders:read")));
            assert!(!effective.allows(&perm("orders:write")));
            // The grant shrinks: the scope cannot keep what the roles no longer give.
            t.core
                .replace_role(
                    &Principal::system(),
                    "default",
                    "bot-role",
                    &["orders:read".to_owned()],
                )
                .unwrap();
            let p = v.authenticate(&scoped).unwrap();
            assert!(p.holds(&perm("orders:read")));
            assert!(!p.holds(&perm("users:read")), "in scope, no longer granted");
        }

        #[test]
        fn a_pinned_validator_accepts_only_its_environment() {
            let t = TestCore::new(CoreConfig::default());
            let (id, secret) = t.app("bot", &["orders:read"]);
            let tok = token(&t, &id, &secret, None);
            assert!(verify_only(&t, Some("default")).authenticate(&tok).is_ok());
            assert!(verify_only(&t, None).authenticate(&tok).is_ok());
            assert!(matches!(
                verify_only(&t, Some("staging")).authenticate(&tok),
                Err(Error::Unauthenticated(_))
            ));
        }

        #[test]
        fn issued_at_may_be_ahead_by_the_leeway_and_no_more() {
            let t = TestCore::new(CoreConfig::default());
            let (id, secret) = t.app("bot", &["orders:read"]);
            let tok = token(&t, &id, &secret, None);
            // A validator whose clock is behind the issuer's (another instance).
            let behind = verify_only(&t, None);
            t.clock.advance(Span::seconds(-60));
            assert!(behind.authenticate(&tok).is_ok(), "60 s ahead: leeway");
            t.clock.advance(Span::seconds(-1));
            assert!(matches!(
                behind.authenticate(&tok),
                Err(Error::Unauthenticated("invalid token"))
            ));
        }

        #[test]
        fn an_unknown_kid_reloads_the_keys_at_most_once_a_second() {
            let t = TestCore::new(CoreConfig::default());
            let (id, secret) = t.app("bot", &["orders:read"]);
            let tok = token(&t, &id, &secret, None);
            let (_, rest) = tok.split_once('.').unwrap();
            let header = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                r#"{"typ":"at+jwt","alg":"ES256","kid":"rotated"}"#,
            );
            let unknown = format!("{header}.{rest}");
            let v = t.core.validator();
            // The first unknown kid reloads (and still finds no such key)...
            assert!(matches!(
                v.authenticate(&unknown),
                Err(Error::Unauthenticated("invalid token"))
            ));
            // ...the next within the second does not even try.
            assert!(matches!(
                v.authenticate(&unknown),
                Err(Error::Unauthenticated("unknown signing key"))
            ));
            t.clock.advance(Span::seconds(1));
            assert!(matches!(
                v.authenticate(&unknown),
                Err(Error::Unauthenticated("invalid token"))
            ));
            // Asking from memory only never reloads.
            assert!(v.authenticate_from_memory(&unknown).is_none());
        }
    }
}
