//! Token issuance for the client credentials grant, in two steps: *client
//! authentication* ([`Keyward::authenticate_client`]: who is asking, with the failure
//! throttle and the verified-secret cache) and the *grant*
//! ([`Keyward::grant_client_credentials`]: scope, reuse, signing). Other endpoints that
//! authenticate clients (introspection, revocation) reuse the first step.
//!
//! The caches make the warm path run at memory speed: verified secrets (no argon2 for a
//! client that already proved its secret), token reuse, and batched `last_used_at`.
//!
//! Every refusal of a client says the same thing (`invalid_client`), and refusals that
//! needed no argon2 verification (unknown client ID, inactive app, disabled environment)
//! are meant to be answered no sooner than [`Keyward::refusal_delay`]: response times
//! then do not reveal which of them happened. Unknown client IDs never take a hashing
//! slot, so a flood of them cannot crowd out legitimate clients.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use keyward_domain::{
    live_at, AppId, AppStatus, ClientId, Environment, Grants, Permission, MAX_SCOPE_LEN,
};
use keyward_store::{AppState, StoredSecret};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::bounded::BoundedMap;
use crate::clock::Io;
use crate::error::{from_memory, with_io, Error, Step, Stop};
use crate::jwt::AccessTokenClaims;
use crate::secret::{generate_token_id, ClientSecret};
use crate::throttle::{Admission, FailureThrottle, Outcome};
use crate::usage::PendingUsage;
use crate::Keyward;

/// A client credentials grant request, already parsed from HTTP.
pub struct TokenRequest {
    /// How the client authenticates.
    pub client: ClientCredentials,
    /// The `scope` parameter, if given.
    pub scope: Option<String>,
    /// The `resource` parameter (RFC 8707), if given: the token's audience, one the
    /// environment allows.
    pub resource: Option<String>,
    /// Where the request came from: failed attempts are throttled per client ID *and*
    /// source, so an attacker who knows a client ID cannot lock out the real client.
    pub source: Option<std::net::IpAddr>,
}

/// How a client authenticates at an OAuth endpoint, parsed from HTTP. Each method of
/// client authentication is a variant; [`Keyward::authenticate_client`] turns any of them
/// into an [`AuthenticatedClient`] that grants, introspection and revocation share.
pub enum ClientCredentials {
    /// A client ID and secret (RFC 6749 §2.3.1).
    Secret {
        /// The client ID.
        client_id: String,
        /// The secret.
        client_secret: Zeroizing<String>,
        /// Where they came from.
        method: SecretMethod,
    },
    /// A JWT signed with a key of the app's registered JWK Set (`private_key_jwt`,
    /// RFC 7523 §2.2).
    Assertion {
        /// The `client_id` form parameter, when sent (it must name the assertion's
        /// issuer).
        client_id: Option<String>,
        /// The `client_assertion`.
        assertion: String,
    },
}

/// Where a client ID and secret were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMethod {
    /// `Authorization: Basic` (`client_secret_basic`).
    Basic,
    /// Form parameters `client_id` and `client_secret` (`client_secret_post`).
    Post,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret {
                client_id, method, ..
            } => f
                .debug_struct("Secret")
                .field("client_id", client_id)
                .field("client_secret", &"<hidden>")
                .field("method", method)
                .finish(),
            Self::Assertion { client_id, .. } => f
                .debug_struct("Assertion")
                .field("client_id", client_id)
                .field("assertion", &"<hidden>")
                .finish(),
        }
    }
}

/// A successful token response (its `Debug` never shows the token).
#[derive(Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The granted scope.
    pub scope: String,
    /// Whether this is the token issued before for the same request (token reuse).
    pub reused: bool,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"<hidden>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

type HmacSha256 = Hmac<Sha256>;

/// What a reusable token is remembered by: the app, the scope, whether it is
/// down-scoped, and its audience.
type ReuseKey = (AppId, String, bool, String);

/// Most clients whose verified secret (and reusable tokens) are remembered; beyond it
/// the least recently used make room.
const MAX_CACHED_CLIENTS: usize = 100_000;

/// Most environments whose allowed audiences are remembered.
const MAX_CACHED_ENVIRONMENTS: usize = 10_000;

/// A verified secret's key: the keyed hash of (client ID, stored hash, secret), which
/// names the client and the secret at once.
type VerifiedSecret = [u8; 32];

/// How long a verified secret is trusted without argon2 (an hour): a secret leaked and
/// then revoked by rotation stops working at once (its stored hash is gone), and even a
/// process that missed every change re-verifies within the hour.
pub const VERIFIED_SECRET_TTL_SECS: i64 = 3600;

#[derive(Clone)]
struct Reusable {
    token: String,
    jti: String,
    iat: i64,
    exp: i64,
}

/// The issuance caches.
pub(crate) struct IssuerCaches {
    mac_key: [u8; 32],
    /// Secrets verified recently, by the keyed hash of (client ID, stored hash, secret):
    /// several secrets of one client (during a rotation) each have their own entry.
    verified: RwLock<BoundedMap<VerifiedSecret, DateTime<Utc>>>,
    reuse: RwLock<BoundedMap<ReuseKey, Reusable>>,
    /// Allowed audiences per environment (RFC 8707), dropped on a change of it.
    pub(crate) audiences: RwLock<BoundedMap<keyward_domain::EnvironmentId, Arc<Vec<String>>>>,
    pub(crate) throttle: FailureThrottle,
    /// Last uses not yet written (shared with the validator, which records API keys).
    pub(crate) usage: Arc<PendingUsage>,
}

impl IssuerCaches {
    pub(crate) fn new(mac_key: [u8; 32], throttle: FailureThrottle) -> Self {
        Self {
            mac_key,
            verified: RwLock::new(BoundedMap::new(MAX_CACHED_CLIENTS)),
            reuse: RwLock::new(BoundedMap::new(MAX_CACHED_CLIENTS)),
            audiences: RwLock::new(BoundedMap::new(MAX_CACHED_ENVIRONMENTS)),
            throttle,
            usage: Arc::new(PendingUsage::default()),
        }
    }

    /// A keyed hash of the secret bound to the stored hash it was verified against: the
    /// cache never holds the secret, the key lives only in this process's memory, and a
    /// new secret (a new stored hash) can never match an old entry — so entries need no
    /// invalidation. Status and deletion are checked after this, on every request.
    pub(crate) fn mac(&self, client_id: &ClientId, stored_hash: &str, secret: &str) -> [u8; 32] {
        self.mac_parts(&[client_id.as_str(), stored_hash, secret])
    }

    /// A keyed hash of several parts.
    pub(crate) fn mac_parts(&self, parts: &[&str]) -> [u8; 32] {
        self.mac_bytes(parts.iter().map(|p| p.as_bytes()))
    }

    /// A keyed hash of several byte strings, each preceded by its length: where one
    /// ends is known whatever bytes it holds.
    pub(crate) fn mac_bytes<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
        let mut mac = match HmacSha256::new_from_slice(&self.mac_key) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        for part in parts {
            mac.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_le_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether this secret was verified for this client within the last
    /// [`VERIFIED_SECRET_TTL_SECS`]. The lookup is by the keyed hash itself: it is
    /// unpredictable without the process's key, so the map's key comparison leaks
    /// nothing an attacker could use.
    fn is_verified(&self, mac: &[u8; 32], now: DateTime<Utc>) -> bool {
        let verified = self
            .verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verified
            .get(mac)
            .is_some_and(|at| (now - *at).num_seconds() < VERIFIED_SECRET_TTL_SECS)
    }

    /// When this secret was verified, if it is remembered (whether or not still trusted).
    pub(crate) fn verified_at(&self, mac: &[u8; 32]) -> Option<DateTime<Utc>> {
        self.verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(mac)
            .copied()
    }

    fn remember_verified(&self, mac: [u8; 32], now: DateTime<Utc>) {
        let mut verified = self
            .verified
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verified.insert(mac, now);
    }

    fn reusable(&self, key: &ReuseKey, now: i64, lifetime: i64) -> Option<Reusable> {
        let reuse = self
            .reuse
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = reuse.get(key)?;
        // Reused only while more than half of its lifetime remains.
        (r.exp - now > lifetime / 2 && r.iat <= now).then(|| r.clone())
    }

    /// Issued-at and expiry of the reusable token remembered for this grant, if it is
    /// `token`.
    pub(crate) fn reusable_times(
        &self,
        app: AppId,
        scope: &str,
        restricted: bool,
        audience: &str,
        token: &str,
    ) -> Option<(i64, i64)> {
        let key: ReuseKey = (app, scope.to_owned(), restricted, audience.to_owned());
        let reuse = self
            .reuse
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reuse
            .get(&key)
            .filter(|r| r.token == token)
            .map(|r| (r.iat, r.exp))
    }

    fn remember_reusable(&self, key: ReuseKey, r: Reusable) {
        let mut reuse = self
            .reuse
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reuse.insert(key, r);
    }
}

/// The secrets to verify a presented secret against, in order: the live ones (not
/// past their end at `now`) whose hint matches the presented secret's, or that have no
/// hint; when none does, the current secret alone (it will fail: every wrong secret
/// costs one verification, like a right one).
pub(crate) fn candidates<'a>(
    stored: &'a [StoredSecret],
    hint: &str,
    now: DateTime<Utc>,
) -> Vec<&'a StoredSecret> {
    let live = stored.iter().filter(|s| live_at(s.expires_at, now));
    let matching: Vec<&StoredSecret> = live
        .clone()
        .filter(|s| s.hint.as_deref().is_none_or(|h| h == hint))
        .collect();
    if matching.is_empty() {
        live.take(1).collect()
    } else {
        matching
    }
}

/// Parses and checks a requested scope against what the app holds.
fn requested_scope(text: &str, grants: &Grants) -> Result<Vec<Permission>, Error> {
    let mut wanted = Vec::new();
    for part in text.split(' ').filter(|p| !p.is_empty()) {
        let p = Permission::parse(part).map_err(|e| Error::InvalidScope(e.message))?;
        if !grants.allows(&p) {
            return Err(Error::InvalidScope(format!(
                "`{p}` is not granted to this client"
            )));
        }
        wanted.push(p);
    }
    if wanted.is_empty() {
        return Err(Error::InvalidScope("scope is empty".into()));
    }
    wanted.sort();
    wanted.dedup();
    Ok(wanted)
}

/// A client that proved who it is: an active app in an enabled environment, as live
/// state showed it just after authentication.
pub struct AuthenticatedClient {
    /// Its client ID.
    pub client_id: ClientId,
    /// Its live state.
    pub app: Arc<AppState>,
    /// Its environment.
    pub environment: Arc<Environment>,
}

impl std::fmt::Debug for AuthenticatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedClient")
            .field("client_id", &self.client_id.as_str())
            .field("environment", &self.environment.slug.as_str())
            .finish_non_exhaustive()
    }
}

impl Keyward {
    /// The client credentials grant: [`Self::authenticate_client`], then
    /// [`Self::grant_client_credentials`]. May read storage or run argon2; on an async
    /// worker, try [`Self::issue_token_from_memory`] first. Answer an
    /// [`Error::InvalidClient`] no sooner than [`Self::refusal_delay`] after the request
    /// arrived.
    pub fn issue_token(&self, request: &TokenRequest) -> Result<IssuedToken, Error> {
        with_io(self.issue_token_step(request, Io::Allowed))
    }

    /// [`Self::issue_token`] from memory only (a warm client): `None` when the answer
    /// needs storage or argon2.
    ///
    /// A repeat request is answered from this thread's warm answers when nothing it
    /// depends on has changed (see the `warm` module): no lock, no shared write.
    pub fn issue_token_from_memory(
        &self,
        request: &TokenRequest,
    ) -> Option<Result<IssuedToken, Error>> {
        let key = self.warm_key(request);
        if let Some(answer) = key.as_ref().and_then(|k| self.warm_token(k)) {
            return Some(Ok(answer));
        }
        self.issue_token_from_memory_as(request, key)
    }

    /// A token request answered moments ago on this thread, recognised by its wire
    /// form before it is parsed: `wire` is every part of the HTTP request its meaning
    /// comes from (for Keyward's token endpoint: the `Authorization` headers, the
    /// content type and the body), exactly as received. `None` for anything else; the
    /// caller then parses the request and calls [`Self::issue_token_from_wire`].
    pub fn warm_token_for_wire(&self, wire: &[&[u8]]) -> Option<IssuedToken> {
        self.warm_token(&self.warm_wire_key(wire)?)
    }

    /// [`Self::issue_token_from_memory`] for a request parsed from `wire`: the answer
    /// is remembered under its wire form, so that [`Self::warm_token_for_wire`]
    /// recognises the next identical request without parsing it.
    pub fn issue_token_from_wire(
        &self,
        request: &TokenRequest,
        wire: &[&[u8]],
    ) -> Option<Result<IssuedToken, Error>> {
        let key = self
            .warm_eligible(request)
            .and_then(|_| self.warm_wire_key(wire));
        self.issue_token_from_memory_as(request, key)
    }

    /// The answer from memory, remembered on this thread under `key` when it may be.
    fn issue_token_from_memory_as(
        &self,
        request: &TokenRequest,
        key: Option<[u8; 32]>,
    ) -> Option<Result<IssuedToken, Error>> {
        let stamp = self.warm_stamp();
        let answer = from_memory(self.issue_token_step(request, Io::Forbidden));
        if let (Some(key), Some(Ok(issued))) = (key, &answer) {
            self.remember_warm_token(key, stamp, request, issued);
        }
        answer
    }

    fn issue_token_step(&self, request: &TokenRequest, io: Io) -> Step<IssuedToken> {
        let client = self.authenticate_client_step(&request.client, request.source, io)?;
        self.grant_step(
            &client,
            request.scope.as_deref(),
            request.resource.as_deref(),
            io,
        )
    }

    /// How long a refusal of a client should take at the least: the typical time of one
    /// secret verification. A caller answering over a network waits until this much time
    /// has passed since the request arrived before it answers `invalid_client`, so that
    /// refusals that needed no verification look like those that did.
    pub fn refusal_delay(&self) -> std::time::Duration {
        self.hasher.typical_verification()
    }

    /// Client authentication, whatever the method: the app must exist, be active and
    /// live in an enabled environment, and its credential must check out. Failed
    /// verifications are throttled per (client ID, source) and per source.
    pub fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
        source: Option<std::net::IpAddr>,
    ) -> Result<AuthenticatedClient, Error> {
        with_io(self.authenticate_client_step(credentials, source, Io::Allowed))
    }

    pub(crate) fn authenticate_client_step(
        &self,
        credentials: &ClientCredentials,
        source: Option<std::net::IpAddr>,
        io: Io,
    ) -> Step<AuthenticatedClient> {
        match credentials {
            ClientCredentials::Secret {
                client_id,
                client_secret,
                method: SecretMethod::Basic | SecretMethod::Post,
            } => match self.authenticate_secret(client_id, client_secret, source, io) {
                // Only a refusal looks further: a client ID Keyward does not know may be
                // one its environment's identity provider issued, bound to an app
                // (brokered). Local clients never pay for the lookup.
                Err(Stop::Failed(Error::InvalidClient))
                    if self.federation.get().is_some()
                        && !self.is_local_client(client_id, io)? =>
                {
                    match self.validator.live().binding(client_id, io)? {
                        Some(binding) => {
                            self.authenticate_brokered(&binding, client_secret, source, io)
                        }
                        None => Err(Error::InvalidClient.into()),
                    }
                }
                other => other,
            },
            ClientCredentials::Assertion {
                client_id,
                assertion,
            } => self.authenticate_assertion(client_id.as_deref(), assertion, io),
        }
    }

    /// Whether `client_id` names an app of Keyward's own (a tombstone included).
    fn is_local_client(&self, client_id: &str, io: Io) -> Step<bool> {
        match ClientId::parse(client_id) {
            Ok(id) => Ok(self.validator.live().app(&id, io)?.is_some()),
            Err(_) => Ok(false),
        }
    }

    /// A client ID and secret: the secret must match one of the app's live secrets
    /// (the current one, or the previous one during a rotation's grace period) by
    /// argon2id, skipped for a secret this process verified within
    /// [`VERIFIED_SECRET_TTL_SECS`] against the same stored hash.
    ///
    /// Every attempt costs at most one verification whatever the app holds: the
    /// secret's last four characters (its hint, stored beside each hash) pick the hash
    /// to verify, and a secret matching no hint is verified against the current one
    /// anyway (and fails), so a wrong secret costs the same during a grace period as
    /// outside it. Only secrets stored before hints existed can cost a second one.
    fn authenticate_secret(
        &self,
        client_id: &str,
        client_secret: &str,
        source: Option<std::net::IpAddr>,
        io: Io,
    ) -> Step<AuthenticatedClient> {
        // A malformed secret or client ID is refused without a lookup: the checksum lets
        // typos fail fast, and the answer says nothing about which client IDs exist.
        let secret = ClientSecret::parse(client_secret).map_err(|_| Error::InvalidClient)?;
        let client_id = ClientId::parse(client_id).map_err(|_| Error::InvalidClient)?;
        let (app, environment) = self.live_client(&client_id, io)?;
        let stored = self.validator.live().secrets(&client_id, io)?;
        let now = self.clock.now();
        let candidates = candidates(&stored, secret.hint(), now);
        if candidates.is_empty() {
            return Err(Error::InvalidClient.into());
        }
        let macs: Vec<[u8; 32]> = candidates
            .iter()
            .map(|c| self.caches.mac(&client_id, &c.hash, secret.expose()))
            .collect();
        if let Some(i) = macs.iter().position(|m| self.caches.is_verified(m, now)) {
            self.validator.metrics().secret_cache.record(true);
            if let Some(matched) = candidates.get(i) {
                self.caches.usage.secret(&matched.id, now);
            }
            return Ok(AuthenticatedClient {
                client_id,
                app,
                environment,
            });
        }
        if io == Io::Forbidden {
            return Err(Stop::Blocked);
        }
        self.validator.metrics().secret_cache.record(false);
        let secret_bytes = secret.expose().as_bytes();
        let matched = match self.caches.throttle.admit(&client_id, source, now) {
            Admission::Reserved(reservation) => {
                let mut matched = None;
                let mut failure = None;
                for (i, candidate) in candidates.iter().enumerate() {
                    match self.hasher.verify(secret_bytes, &candidate.hash) {
                        Ok(true) => {
                            matched = Some(i);
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                let outcome = match (matched, &failure) {
                    (None, None) => Outcome::Failed,
                    _ => Outcome::NotFailed,
                };
                self.caches.throttle.settle(reservation, outcome);
                if let Some(e) = failure {
                    return Err(e.into());
                }
                matched.ok_or(Error::InvalidClient)?
            }
            Admission::Throttled { retry_after, probe } => {
                // Only on idle capacity, at most once a second per (client, source): a
                // correct secret still gets through while an attacker sharing the
                // source keeps failing.
                if !probe {
                    return Err(Error::Throttled { retry_after }.into());
                }
                let mut matched = None;
                for (i, candidate) in candidates.iter().enumerate() {
                    match self.hasher.verify_if_idle(secret_bytes, &candidate.hash) {
                        Some(Ok(true)) => {
                            matched = Some(i);
                            break;
                        }
                        Some(Ok(false)) => {}
                        Some(Err(e)) => return Err(e.into()),
                        None => return Err(Error::Throttled { retry_after }.into()),
                    }
                }
                match matched {
                    Some(i) => i,
                    None => {
                        self.caches.throttle.record_probe_failure(source);
                        return Err(Error::Throttled { retry_after }.into());
                    }
                }
            }
        };
        let (Some(matched), Some(mac)) = (candidates.get(matched), macs.get(matched)) else {
            return Err(Error::InvalidClient.into());
        };
        // The verification may have waited for a hashing slot: answer with the state
        // as it is now, so an app deactivated meanwhile gets no token, and a secret
        // ended or expired meanwhile is not let through.
        let now = self.clock.now();
        let (app, environment) = self.live_client(&client_id, io)?;
        let still_live = self
            .validator
            .live()
            .secrets(&client_id, io)?
            .iter()
            .any(|s| s.id == matched.id && s.hash == matched.hash && live_at(s.expires_at, now));
        if !still_live {
            return Err(Error::InvalidClient.into());
        }
        self.caches.remember_verified(*mac, now);
        self.caches.usage.secret(&matched.id, now);
        Ok(AuthenticatedClient {
            client_id,
            app,
            environment,
        })
    }

    /// The live state of a client that may authenticate: an existing, active app in an
    /// enabled environment (anything else is `InvalidClient`, decided before any
    /// verification so that every such refusal costs the same).
    pub(crate) fn live_client(
        &self,
        client_id: &ClientId,
        io: Io,
    ) -> Step<(Arc<AppState>, Arc<Environment>)> {
        let live = self.validator.live();
        let app = live
            .app(client_id, io)?
            .filter(|a| !a.deleted && a.status == AppStatus::Active)
            .ok_or(Error::InvalidClient)?;
        let environment = live
            .environment(app.environment_id, io)?
            .filter(|e| e.enabled)
            .ok_or(Error::InvalidClient)?;
        Ok((app, environment))
    }

    /// The client credentials grant for an authenticated client: checks the requested
    /// scope against the app's live grants and returns a (possibly reused) access token.
    pub fn grant_client_credentials(
        &self,
        client: &AuthenticatedClient,
        scope: Option<&str>,
    ) -> Result<IssuedToken, Error> {
        with_io(self.grant_step(client, scope, None, Io::Allowed))
    }

    /// [`Self::grant_client_credentials`] for a token whose audience is `resource`
    /// (RFC 8707): Keyward's own audience, or one the client's environment allows.
    pub fn grant_client_credentials_for(
        &self,
        client: &AuthenticatedClient,
        scope: Option<&str>,
        resource: Option<&str>,
    ) -> Result<IssuedToken, Error> {
        with_io(self.grant_step(client, scope, resource, Io::Allowed))
    }

    fn grant_step(
        &self,
        client: &AuthenticatedClient,
        scope: Option<&str>,
        resource: Option<&str>,
        io: Io,
    ) -> Step<IssuedToken> {
        let now = self.clock.now();
        let (app, env) = (&client.app, &client.environment);
        let audience = self.token_audience(env, resource, io)?;
        let (grants, _global) = self.validator.live().grants_of(&app.role_ids, io)?;
        let (scope, restricted) = match scope {
            Some(text) => {
                let wanted = requested_scope(text, &grants)?;
                (
                    wanted
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                    true,
                )
            }
            None => (grants.to_scope(), false),
        };
        // Role writes keep every app's scope within bounds; this guards the token
        // length should the bound ever be crossed (e.g. data from an older version).
        if scope.len() > MAX_SCOPE_LEN {
            return Err(Error::InvalidScope(format!(
                "this client's permissions are longer than one token may carry ({MAX_SCOPE_LEN} bytes): request a narrower scope"
            ))
            .into());
        }
        let lifetime = self.config.token_lifetime_secs;
        let now_s = now.timestamp();
        let key = (app.id, scope.clone(), restricted, audience.clone());
        if self.config.token_reuse {
            // A revoked token is never handed out again, whichever instance revoked it.
            if let Some(r) = self
                .caches
                .reusable(&key, now_s, lifetime)
                .filter(|r| !self.validator.revoked().contains(&r.jti))
            {
                self.validator.metrics().reuse_cache.record(true);
                self.caches.usage.app(app.id, now);
                return Ok(IssuedToken {
                    access_token: r.token,
                    expires_in: r.exp - now_s,
                    scope,
                    reused: true,
                });
            }
            self.validator.metrics().reuse_cache.record(false);
        }
        let claims = access_token_claims(
            &self.validator.config().issuer,
            env.slug.as_str(),
            client.client_id.as_str(),
            ClaimsGrant {
                audience,
                scope: scope.clone(),
                scope_restricted: restricted,
                iat: now_s,
                lifetime_secs: lifetime,
            },
            generate_token_id(&mut self.rng()),
        );
        let token = self
            .validator
            .keys()
            .sign(&claims)
            .map_err(|e| Error::Internal(format!("signing: {e}")))?;
        if self.config.token_reuse {
            self.caches.remember_reusable(
                key,
                Reusable {
                    token: token.clone(),
                    jti: claims.jti.clone(),
                    iat: now_s,
                    exp: claims.exp,
                },
            );
        }
        self.caches.usage.app(app.id, now);
        Ok(IssuedToken {
            access_token: token,
            expires_in: lifetime,
            scope,
            reused: false,
        })
    }
}

/// What a client credentials grant decided for one token: its audience, its scope
/// (space-separated, as [`Grants::to_scope`] writes it) and its lifetime.
#[derive(Debug, Clone)]
pub struct ClaimsGrant {
    /// The token's audience (`aud`): the server's own, or an allowed resource.
    pub audience: String,
    /// The granted permissions, space-separated.
    pub scope: String,
    /// True only when the client down-scoped the token with `scope=`.
    pub scope_restricted: bool,
    /// Issued at (seconds since the Unix epoch).
    pub iat: i64,
    /// Seconds from `iat` to `exp`.
    pub lifetime_secs: i64,
}

/// The claims of an access token issued by the client credentials grant to the app
/// `client_id` of environment `env` on a server whose public URL is `public_url`
/// (without a trailing slash), with token ID `jti`. The grant builds every token's
/// claims here; tools that mint tokens offline (the bench-seed loader) call it too, so
/// their tokens cannot differ from the server's.
pub fn access_token_claims(
    public_url: &str,
    env: &str,
    client_id: &str,
    grant: ClaimsGrant,
    jti: String,
) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: crate::issuers::environment_issuer(public_url, env),
        sub: client_id.to_owned(),
        client_id: client_id.to_owned(),
        aud: grant.audience,
        iat: grant.iat,
        exp: grant.iat + grant.lifetime_secs,
        jti,
        scope: grant.scope,
        env: env.to_owned(),
        scope_restricted: grant.scope_restricted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_must_parse_and_be_granted() {
        let perm = |s| Permission::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let grants = Grants::from_permissions([perm("orders:*"), perm("users:read")]);
        let ok = requested_scope("orders:read  users:read orders:read", &grants)
            .unwrap_or_else(|_| panic!("ok"));
        assert_eq!(ok, vec![perm("orders:read"), perm("users:read")]);
        assert!(matches!(
            requested_scope("users:write", &grants),
            Err(Error::InvalidScope(_))
        ));
        assert!(matches!(
            requested_scope("Orders:read", &grants),
            Err(Error::InvalidScope(_))
        ));
        assert!(matches!(
            requested_scope(" ", &grants),
            Err(Error::InvalidScope(_))
        ));
    }

    mod through_the_core {
        use chrono::Duration;
        use keyward_domain::AppStatus;

        use super::super::*;
        use crate::testkit::TestCore;
        use crate::{CoreConfig, Principal};

        fn request(client_id: &str, secret: &str, scope: Option<&str>) -> TokenRequest {
            TokenRequest {
                client: ClientCredentials::Secret {
                    client_id: client_id.to_owned(),
                    client_secret: Zeroizing::new(secret.to_owned()),
                    method: SecretMethod::Basic,
                },
                scope: scope.map(str::to_owned),
                resource: None,
                source: "10.0.0.1".parse().ok(),
            }
        }

        /// A well-formed secret that is not this app's.
        fn wrong_secret() -> String {
            ClientSecret::generate(&mut rand_core::OsRng)
                .expose()
                .to_owned()
        }

        #[test]
        fn a_token_is_reused_while_more_than_half_its_lifetime_remains() {
            let t = TestCore::new(CoreConfig {
                token_lifetime_secs: 100,
                ..CoreConfig::default()
            });
            let (id, secret) = t.app("bot", &["orders:read"]);
            let first = t.core.issue_token(&request(&id, &secret, None)).unwrap();
            assert_eq!(first.scope, "orders:read");
            t.clock.advance(Duration::seconds(49));
            let again = t
                .core
                .issue_token_from_memory(&request(&id, &secret, None))
                .expect("from memory")
                .unwrap();
            assert_eq!(
                again.access_token, first.access_token,
                "51 s left of 100: reused"
            );
            assert_eq!(again.expires_in, 51);
            t.clock.advance(Duration::seconds(1));
            let fresh = t
                .core
                .issue_token_from_memory(&request(&id, &secret, None))
                .expect("from memory")
                .unwrap();
            assert_ne!(
                fresh.access_token, first.access_token,
                "exactly half left: a new token"
            );
            assert_eq!(fresh.expires_in, 100);
            // Another scope is another token.
            let scoped = t
                .core
                .issue_token_from_memory(&request(&id, &secret, Some("orders:read")))
                .expect("from memory")
                .unwrap();
            assert_ne!(scoped.access_token, fresh.access_token);
        }

        #[test]
        fn issued_claims_are_what_access_token_claims_builds() {
            let t = TestCore::new(CoreConfig::default());
            let (id, secret) = t.app("bot", &["orders:read"]);
            let issued = t.core.issue_token(&request(&id, &secret, None)).unwrap();
            let claims = t
                .core
                .validator
                .keys()
                .verify(&issued.access_token)
                .unwrap();
            let config = t.core.config();
            let expected = access_token_claims(
                &config.issuer,
                "default",
                &id,
                ClaimsGrant {
                    audience: config.audience.clone(),
                    scope: "orders:read".to_owned(),
                    scope_restricted: false,
                    iat: claims.iat,
                    lifetime_secs: config.token_lifetime_secs,
                },
                claims.jti.clone(),
            );
            assert_eq!(claims, expected);
        }

        #[test]
        fn failures_are_throttled_for_the_window_but_a_correct_secret_gets_through_once_a_second() {
            let t = TestCore::new(CoreConfig {
                max_failed_attempts: 2,
                failure_window: std::time::Duration::from_secs(60),
                ..CoreConfig::default()
            });
            let (id, secret) = t.app("bot", &["orders:read"]);
            for _ in 0..2 {
                assert!(matches!(
                    t.core.issue_token(&request(&id, &wrong_secret(), None)),
                    Err(Error::InvalidClient)
                ));
            }
            // Throttled: a wrong secret on the second's probe is 429, not another 401.
            assert!(matches!(
                t.core.issue_token(&request(&id, &wrong_secret(), None)),
                Err(Error::Throttled { retry_after: 60 })
            ));
            // The probe of this second is spent: even the right secret waits.
            assert!(matches!(
                t.core.issue_token(&request(&id, &secret, None)),
                Err(Error::Throttled { .. })
            ));
            t.clock.advance(Duration::seconds(1));
            assert!(t.core.issue_token(&request(&id, &secret, None)).is_ok());
            // Once verified, the client is warm and never throttled.
            assert!(t
                .core
                .issue_token_from_memory(&request(&id, &secret, None))
                .is_some_and(|r| r.is_ok()));
            // Another source was never throttled.
            let mut elsewhere = request(&id, &wrong_secret(), None);
            elsewhere.source = "10.0.0.2".parse().ok();
            assert!(matches!(
                t.core.issue_token(&elsewhere),
                Err(Error::InvalidClient)
            ));
            // After the window, failures count afresh.
            t.clock.advance(Duration::seconds(60));
            assert!(matches!(
                t.core.issue_token(&request(&id, &wrong_secret(), None)),
                Err(Error::InvalidClient)
            ));
        }

        #[test]
        fn a_verified_secret_is_trusted_for_an_hour_then_verified_again() {
            let t = TestCore::new(CoreConfig::default());
            let (id, secret) = t.app("bot", &["orders:read"]);
            assert!(t.core.issue_token(&request(&id, &secret, None)).is_ok());
            t.clock
                .advance(Duration::seconds(VERIFIED_SECRET_TTL_SECS - 1));
            assert!(
                t.core
                    .issue_token_from_memory(&request(&id, &secret, None))
                    .is_some(),
                "still trusted from memory"
            );
            t.clock.advance(Duration::seconds(1));
            assert!(
                t.core
                    .issue_token_from_memory(&request(&id, &secret, None))
                    .is_none(),
                "an hour on, argon2 runs again"
            );
            assert!(t.core.issue_token(&request(&id, &secret, None)).is_ok());
            // A wrong secret never rides on the right one's entry.
            assert!(t
                .core
                .issue_token_from_memory(&request(&id, &wrong_secret(), None))
                .is_none());
        }

        #[test]
        fn unknown_and_inactive_clients_are_refused_without_touching_the_throttle() {
            let t = TestCore::new(CoreConfig {
                max_failed_attempts: 1,
                ..CoreConfig::default()
            });
            let (id, secret) = t.app("bot", &["orders:read"]);
            t.core
                .set_app_status(&Principal::system(), "default", &id, AppStatus::Inactive)
                .unwrap();
            for _ in 0..3 {
                // The correct secret of an inactive app: refused like any other.
                assert!(matches!(
                    t.core.issue_token(&request(&id, &secret, None)),
                    Err(Error::InvalidClient)
                ));
                assert!(matches!(
                    t.core
                        .issue_token(&request("NoSuchClient123", &secret, None)),
                    Err(Error::InvalidClient)
                ));
            }
            // None of that ran argon2, so none of it counted as a failure.
            t.core
                .set_app_status(&Principal::system(), "default", &id, AppStatus::Active)
                .unwrap();
            assert!(t.core.issue_token(&request(&id, &secret, None)).is_ok());
            assert!(t.core.refusal_delay() > std::time::Duration::ZERO);
        }
    }
}
