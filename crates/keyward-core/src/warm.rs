//! Warm token answers, kept per thread: the token endpoint's answer to a client that
//! asked the same thing moments ago, given without taking a lock or writing a cache
//! line another worker uses.
//!
//! The shared path answers a warm client from memory too, but through a dozen lock
//! words and counters both workers write (live state, verified secrets, token reuse,
//! last-use times); at two workers that sharing cost as much as the work itself
//! (PERFORMANCE.md, third pass). An entry here is only ever a copy of what the shared
//! path answered, stamped with what it depends on:
//! - the live state's epoch, which every change of an app, secret, role or environment
//!   bumps (in this process at once, from other processes through the change feed),
//!   and the revocation set's version;
//! - the second it stops being true by time alone: the end of the reuse window, the
//!   end of the secret's grace period, the end of the verified secret's trust.
//!
//! A hit checks both and answers; anything else goes the shared way, which refreshes
//! the entry. So status, roles, secrets and revocation are as live as on the shared
//! path. Last-use times are recorded at most once a second per entry and thread.

use std::cell::{Cell, RefCell};

use chrono::Duration;
use keyward_domain::{AppId, ClientId, CredentialId};

use crate::access::{AppCredential, Principal, PrincipalKind, Validator};
use crate::bounded::BoundedMap;
use crate::clock::Io;
use crate::issue::{
    candidates, ClientCredentials, IssuedToken, TokenRequest, VERIFIED_SECRET_TTL_SECS,
};
use crate::secret::ApiKeySecret;
use crate::secret::ClientSecret;
use crate::{Error, Introspection, Keyward};

/// Most warm answers one thread keeps (about 1 KB each); beyond it the coldest go.
const MAX_PER_THREAD: usize = 4096;

thread_local! {
    static TOKENS: RefCell<BoundedMap<[u8; 32], WarmToken>> =
        RefCell::new(BoundedMap::new(MAX_PER_THREAD));
}

/// Most warm principals one thread keeps (a token's text and its principal, about
/// 1 KB each); beyond it the coldest go.
const MAX_PRINCIPALS_PER_THREAD: usize = 4096;

thread_local! {
    static PRINCIPALS: RefCell<BoundedMap<u64, WarmPrincipal>> =
        RefCell::new(BoundedMap::new(MAX_PRINCIPALS_PER_THREAD));
    /// This thread's seed for the principals' keys.
    static SEED: std::collections::hash_map::RandomState =
        std::collections::hash_map::RandomState::new();
}

/// Most warm route answers one thread keeps (a request's wire form and the answer's
/// body, about 1 KB each); beyond it the coldest go.
const MAX_ANSWERS_PER_THREAD: usize = 4096;

thread_local! {
    static ANSWERS: RefCell<BoundedMap<u64, WarmAnswer>> =
        RefCell::new(BoundedMap::new(MAX_ANSWERS_PER_THREAD));
}

/// One remembered route answer: the wire form it answered, compared whole on every
/// hit, and what the credential's warm principal held when it was computed.
struct WarmAnswer {
    /// The wire form's parts, each preceded by its length (a `usize`, little-endian).
    wire: Box<[u8]>,
    answer: Box<[u8]>,
    hold: Hold,
}

/// The map key of a wire form: a seeded hash of each part's length and last 48 bytes
/// (a credential's random tail; bodies are short), so a long header is not hashed
/// whole. A collision only misses: a hit compares the whole wire form.
fn wire_key(wire: &[&[u8]]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    SEED.with(|seed| {
        let mut hasher = seed.build_hasher();
        for part in wire {
            hasher.write_usize(part.len());
            hasher.write(part.get(part.len().saturating_sub(48)..).unwrap_or(part));
        }
        hasher.finish()
    })
}

/// Whether `stored` (parts each preceded by their length) holds exactly `wire`.
fn same_wire(stored: &[u8], wire: &[&[u8]]) -> bool {
    let mut rest = stored;
    for part in wire {
        let Some((len, tail)) = rest.split_first_chunk::<{ std::mem::size_of::<usize>() }>() else {
            return false;
        };
        if usize::from_le_bytes(*len) != part.len() {
            return false;
        }
        let Some((bytes, tail)) = tail.split_at_checked(part.len()) else {
            return false;
        };
        if bytes != *part {
            return false;
        }
        rest = tail;
    }
    rest.is_empty()
}

/// What a warm answer was computed under: it holds while none has moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    epoch: u64,
    revoked: u64,
    keys: u64,
}

/// One remembered principal: the credential it was computed for, compared whole on
/// every hit (the map's key hashes only its tail).
struct WarmPrincipal {
    credential: Box<str>,
    principal: Principal,
    hold: Hold,
}

/// What a warm answer for a bearer credential rests on, checked on every hit.
struct Hold {
    stamp: Stamp,
    /// The first second (Unix time) at which the credential is no longer valid by
    /// time alone (`i64::MAX`: never).
    until: i64,
    /// For an API key: its identifier and app, whose last use is recorded.
    api_key: Option<(CredentialId, AppId)>,
    /// The second this thread last recorded the use.
    used_at: Cell<i64>,
}

impl Hold {
    /// Whether the answer still holds under `stamp` (the state now); if it does,
    /// records an API key's use (at most once a second) and counts the lookups the
    /// answer stands for.
    fn check(&self, validator: &Validator, stamp: Stamp) -> bool {
        if self.stamp != stamp {
            return false;
        }
        let now = validator.clock().now();
        let now_s = now.timestamp();
        if now_s >= self.until || validator.liveness_refusal().is_some() {
            return false;
        }
        let metrics = validator.metrics();
        match &self.api_key {
            Some((id, app)) => {
                if self.used_at.get() != now_s {
                    self.used_at.set(now_s);
                    if let Some(usage) = validator.usage() {
                        usage.api_key(id, *app, now);
                    }
                }
            }
            None => metrics.token_cache.record(true),
        }
        metrics.app_cache.record(true);
        true
    }

    /// The same hold, for another answer resting on the same credential.
    fn copy(&self, now_s: i64) -> Self {
        Self {
            stamp: self.stamp,
            until: self.until,
            api_key: self.api_key.clone(),
            used_at: Cell::new(now_s),
        }
    }
}

/// Puts `value` in this thread's `map` (nothing while the map is in use further up
/// the stack, which cannot happen: no lookup calls back into here).
fn keep<K: std::hash::Hash + Eq + Clone, V>(
    map: &'static std::thread::LocalKey<RefCell<BoundedMap<K, V>>>,
    key: K,
    value: V,
) {
    map.with(|cell| {
        if let Ok(mut map) = cell.try_borrow_mut() {
            map.insert(key, value);
        }
    });
}

/// The map key of a credential: a seeded hash of its last 48 bytes (a token's
/// signature, an API key's random part), so a 500-byte token is not hashed whole.
fn principal_key(credential: &str) -> u64 {
    use std::hash::BuildHasher;
    let bytes = credential.as_bytes();
    let tail = bytes.get(bytes.len().saturating_sub(48)..).unwrap_or(bytes);
    SEED.with(|seed| seed.hash_one(tail))
}

impl Validator {
    /// The state a warm answer depends on, read before the answer is computed.
    pub(crate) fn warm_stamp(&self) -> Stamp {
        Stamp {
            epoch: self.live().epoch(),
            revoked: self.revoked().version(),
            keys: self.keys_version(),
        }
    }

    /// The principal remembered on this thread for `credential`, if it still holds.
    pub(crate) fn warm_principal(&self, credential: &str) -> Option<Principal> {
        let key = principal_key(credential);
        let stamp = self.warm_stamp();
        PRINCIPALS.with(|cell| {
            let map = cell.try_borrow().ok()?;
            let entry = map.get(&key)?;
            // A plain comparison: the entry was found by a seeded hash of the
            // credential's random tail, so only the holder of the same credential
            // reaches it, and what it compares against is that credential.
            if *entry.credential != *credential || !entry.hold.check(self, stamp) {
                return None;
            }
            Some(entry.principal.clone())
        })
    }

    /// Remembers on this thread the principal the shared path just gave for
    /// `credential` (computed after `stamp` was read): Keyward's own access tokens
    /// (until they expire) and API keys (until theirs). Anything else is not kept.
    pub(crate) fn remember_warm_principal(
        &self,
        credential: &str,
        stamp: Stamp,
        principal: &Principal,
    ) {
        let PrincipalKind::App {
            app_id,
            credential: kind,
            ..
        } = &principal.kind
        else {
            return;
        };
        let (until, api_key) = match kind {
            AppCredential::AccessToken { token_id } => {
                let Some(claims) = self.remembered(credential) else {
                    return;
                };
                if claims.jti != *token_id {
                    return;
                }
                (claims.exp, None)
            }
            AppCredential::ApiKey { key_id } => {
                let Ok(key) = ApiKeySecret::parse(credential) else {
                    return;
                };
                let Ok(Some(state)) = self.live().api_key(&key.digest(), Io::Forbidden) else {
                    return;
                };
                if state.id != *key_id {
                    return;
                }
                (
                    state.expires_at.map_or(i64::MAX, |e| e.timestamp()),
                    Some((key_id.clone(), *app_id)),
                )
            }
            AppCredential::External { .. } => return,
        };
        let now_s = self.clock().now().timestamp();
        if now_s >= until {
            return;
        }
        let entry = WarmPrincipal {
            credential: credential.into(),
            principal: Principal {
                address: None,
                ..principal.clone()
            },
            hold: Hold {
                stamp,
                until,
                api_key,
                used_at: Cell::new(now_s),
            },
        };
        keep(&PRINCIPALS, principal_key(credential), entry);
    }
}

impl Validator {
    /// The answer this thread gave moments ago to a request with exactly this wire
    /// form (for `POST /api/v1/authorize`: its `Authorization` header, content type and
    /// body), if everything it was computed from still holds: the credential's status,
    /// roles and revocation (the live-state epoch and the revocation version), its
    /// expiry, and this instance's liveness. A hit records an API key's use as a warm
    /// principal does. `None` sends the request the full way.
    ///
    /// Only answers remembered with [`Validator::remember_warm_answer`] are given, and
    /// those only when the answer is a function of the credential's principal and the
    /// wire form alone.
    pub fn warm_answer(&self, wire: &[&[u8]]) -> Option<Vec<u8>> {
        let key = wire_key(wire);
        let stamp = self.warm_stamp();
        ANSWERS.with(|cell| {
            let map = cell.try_borrow().ok()?;
            let entry = map.get(&key)?;
            if !same_wire(&entry.wire, wire) || !entry.hold.check(self, stamp) {
                return None;
            }
            Some(entry.answer.to_vec())
        })
    }

    /// Remembers on this thread `answer`, computed from the principal of `credential`
    /// (just authenticated on this thread) and the rest of `wire`, nothing else. It is
    /// kept only while this thread's warm principal for `credential` is: same stamp,
    /// same expiry. Without a warm principal (an admin, an external token, a principal
    /// from storage) nothing is remembered.
    pub fn remember_warm_answer(&self, credential: &str, wire: &[&[u8]], answer: &[u8]) {
        let now_s = self.clock().now().timestamp();
        let hold = PRINCIPALS.with(|cell| {
            let map = cell.try_borrow().ok()?;
            let entry = map.get(&principal_key(credential))?;
            (*entry.credential == *credential).then(|| entry.hold.copy(now_s))
        });
        // None, or computed under an older state than now: let the next request
        // refresh it.
        let Some(hold) = hold.filter(|h| h.stamp == self.warm_stamp()) else {
            return;
        };
        let mut stored = Vec::with_capacity(
            wire.iter()
                .map(|p| p.len() + std::mem::size_of::<usize>())
                .sum(),
        );
        for part in wire {
            stored.extend_from_slice(&part.len().to_le_bytes());
            stored.extend_from_slice(part);
        }
        let entry = WarmAnswer {
            wire: stored.into_boxed_slice(),
            answer: answer.into(),
            hold,
        };
        keep(&ANSWERS, wire_key(wire), entry);
    }
}

thread_local! {
    static INTROSPECTIONS: RefCell<BoundedMap<[u8; 32], WarmIntrospection>> =
        RefCell::new(BoundedMap::new(MAX_PER_THREAD));
}

/// One remembered introspection answer (an active one).
struct WarmIntrospection {
    /// The response body the endpoint made of the answer.
    answer: Box<[u8]>,
    /// Until the caller's secret or the token no longer holds.
    hold: ClientHold,
}

/// One remembered answer.
struct WarmToken {
    iat: i64,
    exp: i64,
    token: String,
    scope: String,
    hold: ClientHold,
}

/// What a warm answer to a client that authenticated with a secret rests on.
struct ClientHold {
    stamp: Stamp,
    /// The first second (Unix time) at which it no longer holds by time alone.
    until: i64,
    app: AppId,
    secret: CredentialId,
    /// The second this thread last recorded the use.
    used_at: Cell<i64>,
}

impl ClientHold {
    /// Whether the answer still holds under `stamp` (the state now) at `now`; if it
    /// does, records the secret's and the app's use (at most once a second) and counts
    /// the lookups the answer stands for.
    fn check(&self, core: &Keyward, stamp: Stamp, now: chrono::DateTime<chrono::Utc>) -> bool {
        let now_s = now.timestamp();
        if self.stamp != stamp || now_s >= self.until {
            return false;
        }
        if self.used_at.get() != now_s {
            self.used_at.set(now_s);
            core.caches.usage.secret(&self.secret, now);
            core.caches.usage.app(self.app, now);
        }
        let metrics = core.validator.metrics();
        metrics.app_cache.record(true);
        metrics.secret_cache.record(true);
        true
    }
}

impl Keyward {
    /// The state a warm answer depends on, read before the answer is computed.
    pub(crate) fn warm_stamp(&self) -> Stamp {
        self.validator.warm_stamp()
    }

    /// The key of a token request a warm answer may serve: a client secret (Basic or
    /// form), no `resource`, token reuse on. A keyed hash of the secret, client ID and
    /// scope: only this process can compute it, and it holds no secret.
    pub(crate) fn warm_key(&self, request: &TokenRequest) -> Option<[u8; 32]> {
        let (client_id, client_secret) = self.warm_eligible(request)?;
        let (restricted, scope) = match &request.scope {
            Some(s) => ("scope", s.as_str()),
            None => ("all", ""),
        };
        Some(
            self.caches
                .mac_parts(&["warm token", client_id, client_secret, restricted, scope]),
        )
    }

    /// A request a warm answer may serve (its client ID and secret): a client secret
    /// (Basic or form), no `resource`, token reuse on.
    pub(crate) fn warm_eligible<'r>(
        &self,
        request: &'r TokenRequest,
    ) -> Option<(&'r str, &'r str)> {
        if !self.config.token_reuse || request.resource.is_some() {
            return None;
        }
        match &request.client {
            ClientCredentials::Secret {
                client_id,
                client_secret,
                ..
            } => Some((client_id, client_secret.as_str())),
            ClientCredentials::Assertion { .. } => None,
        }
    }

    /// The key of a request's wire form (see [`Keyward::warm_token_for_wire`]). Only a
    /// request that was parsed, eligible and answered is ever remembered under it, so
    /// bytes that differ in any way simply miss.
    pub(crate) fn warm_wire_key(&self, wire: &[&[u8]]) -> Option<[u8; 32]> {
        self.config.token_reuse.then(|| {
            self.caches
                .mac_bytes(std::iter::once(b"warm wire".as_slice()).chain(wire.iter().copied()))
        })
    }

    /// The answer remembered for `key` on this thread, if it still holds.
    pub(crate) fn warm_token(&self, key: &[u8; 32]) -> Option<IssuedToken> {
        let now = self.clock.now();
        let now_s = now.timestamp();
        let stamp = self.warm_stamp();
        TOKENS.with(|cell| {
            let map = cell.try_borrow().ok()?;
            let entry = map.get(key)?;
            if now_s < entry.iat || !entry.hold.check(self, stamp, now) {
                return None;
            }
            self.validator.metrics().reuse_cache.record(true);
            Some(IssuedToken {
                access_token: entry.token.clone(),
                expires_in: entry.exp - now_s,
                scope: entry.scope.clone(),
                reused: true,
            })
        })
    }

    /// Remembers on this thread the answer the shared path just gave to `request`
    /// (computed after `stamp` was read), with the instant it stops holding. Nothing is
    /// remembered unless the memory that answered still says the same.
    pub(crate) fn remember_warm_token(
        &self,
        key: [u8; 32],
        stamp: Stamp,
        request: &TokenRequest,
        issued: &IssuedToken,
    ) {
        let ClientCredentials::Secret {
            client_id,
            client_secret,
            ..
        } = &request.client
        else {
            return;
        };
        let now = self.clock.now();
        let Some(client) = self.warm_client(client_id, client_secret, stamp, now) else {
            return;
        };
        // The reusable token the answer came from.
        let Some((iat, exp)) = self.caches.reusable_times(
            client.app,
            &issued.scope,
            request.scope.is_some(),
            &self.validator.config().audience,
            &issued.access_token,
        ) else {
            return;
        };
        let until = client.until.min(exp - self.config.token_lifetime_secs / 2);
        let now_s = now.timestamp();
        if now_s >= until {
            return;
        }
        let entry = WarmToken {
            iat,
            exp,
            token: issued.access_token.clone(),
            scope: issued.scope.clone(),
            hold: ClientHold { until, ..client },
        };
        keep(&TOKENS, key, entry);
    }

    /// What a warm answer to a client that authenticated with `client_id` and
    /// `client_secret`, computed under `stamp`, rests on: its app, the secret that
    /// matched, and the second from which that secret no longer holds by time alone
    /// (the end of its grace period, the end of the verified secret's trust). `None`
    /// unless memory says the secret was verified.
    fn warm_client(
        &self,
        client_id: &str,
        client_secret: &str,
        stamp: Stamp,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<ClientHold> {
        let (Ok(client_id), Ok(secret)) = (
            ClientId::parse(client_id),
            ClientSecret::parse(client_secret),
        ) else {
            return None;
        };
        let live = self.validator.live();
        let (Ok(Some(app)), Ok(stored)) = (
            live.app(&client_id, Io::Forbidden),
            live.secrets(&client_id, Io::Forbidden),
        ) else {
            return None;
        };
        // The secret the request was let in with, and since when it is trusted.
        let (matched, verified_at) = candidates(&stored, secret.hint(), now)
            .into_iter()
            .find_map(|c| {
                let mac = self.caches.mac(&client_id, &c.hash, secret.expose());
                self.caches.verified_at(&mac).map(|at| (c, at))
            })?;
        let mut until = (verified_at + Duration::seconds(VERIFIED_SECRET_TTL_SECS)).timestamp();
        if let Some(end) = matched.expires_at {
            until = until.min(end.timestamp());
        }
        Some(ClientHold {
            stamp,
            until,
            app: app.id,
            secret: matched.id.clone(),
            used_at: Cell::new(now.timestamp()),
        })
    }

    /// The key of an introspection request's wire form (see
    /// [`Keyward::warm_introspection_for_wire`]).
    fn warm_introspection_key(&self, wire: &[&[u8]]) -> [u8; 32] {
        self.caches.mac_bytes(
            std::iter::once(b"warm introspection wire".as_slice()).chain(wire.iter().copied()),
        )
    }

    /// The introspection answer this thread gave moments ago to a request with exactly
    /// this wire form (for Keyward's endpoint: the `Authorization` headers, the content
    /// type and the body), if it still holds: the caller's secret, status and roles, and
    /// the token's status, roles, revocation, signing key and expiry are as they were.
    /// Only active answers are kept. The answer is the response body the caller made
    /// of it when it was remembered (see [`Keyward::introspect_from_wire`]). `None` for
    /// anything else; the caller then parses the request and calls
    /// [`Keyward::introspect_from_wire`].
    pub fn warm_introspection_for_wire(&self, wire: &[&[u8]]) -> Option<Vec<u8>> {
        let key = self.warm_introspection_key(wire);
        let now = self.clock.now();
        let stamp = self.warm_stamp();
        INTROSPECTIONS.with(|cell| {
            let map = cell.try_borrow().ok()?;
            let entry = map.get(&key)?;
            if self.validator.liveness_refusal().is_some() || !entry.hold.check(self, stamp, now) {
                return None;
            }
            Some(entry.answer.to_vec())
        })
    }

    /// [`Keyward::introspect_from_memory`] for a request parsed from `wire`: an active
    /// answer is remembered under its wire form as the response body `render` makes of
    /// it, so that [`Keyward::warm_introspection_for_wire`] recognises the next
    /// identical request without parsing it and gives that body.
    pub fn introspect_from_wire(
        &self,
        credentials: &ClientCredentials,
        source: Option<std::net::IpAddr>,
        token: &str,
        wire: &[&[u8]],
        render: impl FnOnce(&Introspection) -> Vec<u8>,
    ) -> Option<Result<Introspection, Error>> {
        let stamp = self.warm_stamp();
        let answer = self.introspect_from_memory(credentials, source, token)?;
        if let (
            Ok(found @ Introspection::Active(active)),
            ClientCredentials::Secret {
                client_id,
                client_secret,
                ..
            },
        ) = (&answer, credentials)
        {
            let now = self.clock.now();
            if let Some(client) = self.warm_client(client_id, client_secret, stamp, now) {
                let until = client.until.min(active.exp.unwrap_or(i64::MAX));
                let now_s = now.timestamp();
                if now_s < until {
                    let entry = WarmIntrospection {
                        answer: render(found).into_boxed_slice(),
                        hold: ClientHold { until, ..client },
                    };
                    keep(&INTROSPECTIONS, self.warm_introspection_key(wire), entry);
                }
            }
        }
        Some(answer)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use keyward_domain::AppStatus;
    use zeroize::Zeroizing;

    use super::TOKENS;
    use crate::testkit::TestCore;
    use crate::{ClientCredentials, CoreConfig, Error, Principal, SecretMethod, TokenRequest};

    fn request(id: &str, secret: &str, scope: Option<&str>) -> TokenRequest {
        TokenRequest {
            client: ClientCredentials::Secret {
                client_id: id.into(),
                client_secret: Zeroizing::new(secret.into()),
                method: SecretMethod::Basic,
            },
            scope: scope.map(Into::into),
            resource: None,
            source: None,
        }
    }

    /// A core whose app's secret is verified (argon2, the shared path) and whose first
    /// answer from memory has been remembered on this thread.
    fn warmed(scope: Option<&str>) -> (TestCore, String, String, String) {
        let t = TestCore::new(CoreConfig::default());
        let (id, secret) = t.app("bot", &["orders:read", "orders:write"]);
        let first = t.core.issue_token(&request(&id, &secret, scope)).unwrap();
        let from_memory = t
            .core
            .issue_token_from_memory(&request(&id, &secret, scope))
            .unwrap()
            .unwrap();
        assert_eq!(from_memory.access_token, first.access_token);
        let key = t.core.warm_key(&request(&id, &secret, scope)).unwrap();
        assert!(
            TOKENS.with(|m| m.borrow().contains_key(&key)),
            "the answer from memory was not remembered"
        );
        (t, id, secret, first.access_token)
    }

    fn warm(t: &TestCore, id: &str, secret: &str) -> Option<Result<crate::IssuedToken, Error>> {
        t.core.issue_token_from_memory(&request(id, secret, None))
    }

    #[test]
    fn a_repeat_request_is_answered_from_the_thread_with_the_same_token() {
        let (t, id, secret, token) = warmed(None);
        t.clock.advance(Duration::seconds(7));
        let answer = warm(&t, &id, &secret).unwrap().unwrap();
        assert_eq!(answer.access_token, token);
        assert!(answer.reused);
        assert_eq!(
            answer.expires_in,
            CoreConfig::default().token_lifetime_secs - 7
        );
        assert_eq!(answer.scope, "orders:read orders:write");
        // Another scope, or another secret, is another question.
        let narrow = t
            .core
            .issue_token_from_memory(&request(&id, &secret, Some("orders:read")))
            .unwrap()
            .unwrap();
        assert_ne!(
            narrow.access_token, token,
            "a narrower scope needs its own token"
        );
        assert_eq!(narrow.scope, "orders:read");
        let wrong = format!("{}x", &secret[..secret.len() - 1]);
        assert!(!matches!(warm(&t, &id, &wrong), Some(Ok(_))));
    }

    #[test]
    fn deactivating_the_app_stops_the_warm_answer_at_once() {
        let (t, id, secret, _) = warmed(None);
        t.core
            .set_app_status(&Principal::system(), "default", &id, AppStatus::Inactive)
            .unwrap();
        assert!(!matches!(warm(&t, &id, &secret), Some(Ok(_))));
        assert!(matches!(
            t.core.issue_token(&request(&id, &secret, None)),
            Err(Error::InvalidClient)
        ));
    }

    #[test]
    fn a_role_change_is_seen_by_the_next_warm_request() {
        let (t, id, secret, token) = warmed(None);
        t.core
            .replace_role(
                &Principal::system(),
                "default",
                "bot-role",
                &["orders:read".to_owned()],
            )
            .unwrap();
        assert!(!matches!(warm(&t, &id, &secret), Some(Ok(_))));
        // The reuse key holds the scope: a new scope means a new (signed) token.
        let answer = t.core.issue_token(&request(&id, &secret, None)).unwrap();
        assert_eq!(answer.scope, "orders:read");
        assert_ne!(answer.access_token, token);
        let again = warm(&t, &id, &secret).unwrap().unwrap();
        assert_eq!(again.access_token, answer.access_token);
    }

    #[test]
    fn a_revoked_token_is_never_answered_again() {
        let (t, id, secret, token) = warmed(None);
        let client = t
            .core
            .authenticate_client(&request(&id, &secret, None).client, None)
            .unwrap();
        t.core.revoke_token(&client, &token, None).unwrap();
        let answer = warm(&t, &id, &secret).unwrap().unwrap();
        assert_ne!(answer.access_token, token);
    }

    #[test]
    fn a_rotated_secret_ends_its_warm_answers_with_its_grace_period() {
        let (t, id, secret, _) = warmed(None);
        t.core
            .rotate_secret(&Principal::system(), "default", &id, Some(60))
            .unwrap();
        // Still inside the grace period: the old secret works, then from memory.
        assert!(t.core.issue_token(&request(&id, &secret, None)).is_ok());
        assert!(matches!(warm(&t, &id, &secret), Some(Ok(_))));
        assert!(matches!(warm(&t, &id, &secret), Some(Ok(_))));
        t.clock.advance(Duration::seconds(61));
        assert!(
            !matches!(warm(&t, &id, &secret), Some(Ok(_))),
            "the old secret outlived its grace period"
        );
        assert!(matches!(
            t.core.issue_token(&request(&id, &secret, None)),
            Err(Error::InvalidClient)
        ));
    }

    #[test]
    fn past_half_its_lifetime_the_token_is_replaced() {
        let (t, id, secret, token) = warmed(None);
        let lifetime = CoreConfig::default().token_lifetime_secs;
        t.clock.advance(Duration::seconds(lifetime / 2 + 1));
        assert!(!matches!(warm(&t, &id, &secret), Some(Ok(a)) if a.access_token == token));
        let answer = t.core.issue_token(&request(&id, &secret, None)).unwrap();
        assert_ne!(answer.access_token, token);
        assert_eq!(answer.expires_in, lifetime);
    }

    /// A token whose principal this thread has remembered.
    fn warm_principal_token() -> (TestCore, String, String, String) {
        let t = TestCore::new(CoreConfig::default());
        let (id, secret) = t.app("bot", &["orders:read"]);
        let token = t
            .core
            .issue_token(&request(&id, &secret, None))
            .unwrap()
            .access_token;
        let v = t.core.validator();
        // Shared path (storage), then from memory (remembered), then warm.
        assert!(v.authenticate(&token).is_ok());
        assert!(matches!(v.authenticate_from_memory(&token), Some(Ok(_))));
        let key = super::principal_key(&token);
        assert!(
            super::PRINCIPALS.with(|m| m.borrow().contains_key(&key)),
            "the principal from memory was not remembered"
        );
        (t, id, secret, token)
    }

    #[test]
    fn a_warm_principal_follows_roles_status_and_revocation() {
        let (t, id, secret, token) = warm_principal_token();
        let v = t.core.validator();
        let principal = v.authenticate_from_memory(&token).unwrap().unwrap();
        assert!(principal.grants.to_scope().contains("orders:read"));
        // A role change: the next check sees the new grants.
        t.core
            .replace_role(
                &Principal::system(),
                "default",
                "bot-role",
                &["orders:write".to_owned()],
            )
            .unwrap();
        assert!(!matches!(
            v.authenticate_from_memory(&token),
            Some(Ok(p)) if p.grants.to_scope().contains("orders:read")
        ));
        let now = v.authenticate(&token).unwrap();
        assert_eq!(now.grants.to_scope(), "orders:write");
        assert!(matches!(v.authenticate_from_memory(&token), Some(Ok(_))));
        // Deactivation: refused at once.
        t.core
            .set_app_status(&Principal::system(), "default", &id, AppStatus::Inactive)
            .unwrap();
        assert!(!matches!(v.authenticate_from_memory(&token), Some(Ok(_))));
        assert!(v.authenticate(&token).is_err());
        t.core
            .set_app_status(&Principal::system(), "default", &id, AppStatus::Active)
            .unwrap();
        assert!(v.authenticate(&token).is_ok());
        assert!(matches!(v.authenticate_from_memory(&token), Some(Ok(_))));
        // Revocation: refused at once.
        let client = t
            .core
            .authenticate_client(&request(&id, &secret, None).client, None)
            .unwrap();
        t.core.revoke_token(&client, &token, None).unwrap();
        assert!(matches!(
            v.authenticate_from_memory(&token),
            Some(Err(Error::Unauthenticated("token revoked")))
        ));
    }

    #[test]
    fn a_warm_principal_ends_when_its_token_expires() {
        let (t, _, _, token) = warm_principal_token();
        let v = t.core.validator();
        t.clock
            .advance(Duration::seconds(CoreConfig::default().token_lifetime_secs));
        assert!(matches!(
            v.authenticate_from_memory(&token),
            Some(Err(Error::Unauthenticated("token expired")))
        ));
    }

    #[test]
    fn a_warm_answer_is_given_only_for_the_same_wire_while_its_principal_holds() {
        let (t, id, _, token) = warm_principal_token();
        let v = t.core.validator();
        let body = br#"{"permission":"orders:read"}"#.as_slice();
        let header = format!("Bearer {token}");
        let wire = [header.as_bytes(), b"application/json".as_slice(), body];
        assert_eq!(v.warm_answer(&wire), None, "nothing remembered yet");
        v.remember_warm_answer(&token, &wire, b"allowed");
        assert_eq!(v.warm_answer(&wire).as_deref(), Some(b"allowed".as_slice()));
        // Any other byte is another request.
        let other = [
            header.as_bytes(),
            b"application/json".as_slice(),
            b"{}".as_slice(),
        ];
        assert_eq!(v.warm_answer(&other), None);
        let shifted = [
            header.as_bytes(),
            b"application/jso".as_slice(),
            b"n{}".as_slice(),
        ];
        assert_eq!(v.warm_answer(&shifted), None);
        // A role change ends it at once.
        t.core
            .replace_role(
                &Principal::system(),
                "default",
                "bot-role",
                &["orders:write".to_owned()],
            )
            .unwrap();
        assert_eq!(v.warm_answer(&wire), None, "kept past a role change");
        // Not remembered again under a principal of an older state.
        v.remember_warm_answer(&token, &wire, b"allowed");
        assert_eq!(
            v.warm_answer(&wire),
            None,
            "remembered under a stale principal"
        );
        // Deactivation, once warm again.
        assert!(v.authenticate(&token).is_ok());
        assert!(matches!(v.authenticate_from_memory(&token), Some(Ok(_))));
        v.remember_warm_answer(&token, &wire, b"allowed");
        assert!(v.warm_answer(&wire).is_some());
        t.core
            .set_app_status(&Principal::system(), "default", &id, AppStatus::Inactive)
            .unwrap();
        assert_eq!(v.warm_answer(&wire), None, "kept past deactivation");
    }

    #[test]
    fn a_warm_answer_ends_with_its_token_and_needs_a_warm_principal() {
        let (t, _, _, token) = warm_principal_token();
        let v = t.core.validator();
        let header = format!("Bearer {token}");
        let wire = [header.as_bytes(), b"".as_slice(), b"x".as_slice()];
        v.remember_warm_answer(&token, &wire, b"allowed");
        assert!(v.warm_answer(&wire).is_some());
        t.clock
            .advance(Duration::seconds(CoreConfig::default().token_lifetime_secs));
        assert_eq!(v.warm_answer(&wire), None, "kept past the token's expiry");
        // A credential with no warm principal on this thread: nothing is kept.
        let stranger = [
            b"Bearer kw_other".as_slice(),
            b"".as_slice(),
            b"x".as_slice(),
        ];
        v.remember_warm_answer("kw_other", &stranger, b"allowed");
        assert_eq!(v.warm_answer(&stranger), None);
    }

    #[test]
    fn a_warm_introspection_ends_with_the_token_and_the_callers_trust() {
        let (t, _, _, token) = warm_principal_token();
        let (rs, rs_secret) = t.app("resource server", &["tokens:introspect"]);
        let caller = request(&rs, &rs_secret, None).client;
        let wire = [b"Basic x".as_slice(), b"form".as_slice(), token.as_bytes()];
        let render = |i: &crate::Introspection| format!("{i:?}").into_bytes();
        // The caller's secret is verified once (argon2, the shared path).
        let client = t.core.authenticate_client(&caller, None).unwrap();
        let shared = t.core.introspect(&client, &token).unwrap();
        assert!(matches!(shared, crate::Introspection::Active(_)));
        assert_eq!(t.core.warm_introspection_for_wire(&wire), None);
        let answer = t
            .core
            .introspect_from_wire(&caller, None, &token, &wire, render)
            .unwrap()
            .unwrap();
        assert_eq!(answer, shared);
        assert_eq!(
            t.core.warm_introspection_for_wire(&wire),
            Some(render(&shared)),
            "an active answer is remembered as its rendered body"
        );
        // The verified secret's trust ends before the token does: so does the answer.
        t.clock
            .advance(Duration::seconds(crate::issue::VERIFIED_SECRET_TTL_SECS));
        assert_eq!(t.core.warm_introspection_for_wire(&wire), None);
        // An inactive answer is never remembered.
        let other = [
            b"Basic x".as_slice(),
            b"form".as_slice(),
            b"garbage".as_slice(),
        ];
        let client = t.core.authenticate_client(&caller, None).unwrap();
        assert_eq!(
            t.core.introspect(&client, "garbage").unwrap(),
            crate::Introspection::Inactive
        );
        let inactive = t
            .core
            .introspect_from_wire(&caller, None, "garbage", &other, render)
            .unwrap()
            .unwrap();
        assert_eq!(inactive, crate::Introspection::Inactive);
        assert_eq!(t.core.warm_introspection_for_wire(&other), None);
        // Past the token's expiry, nothing is answered from memory.
        t.clock
            .advance(Duration::seconds(CoreConfig::default().token_lifetime_secs));
        let client = t.core.authenticate_client(&caller, None).unwrap();
        assert_eq!(
            t.core.introspect(&client, &token).unwrap(),
            crate::Introspection::Inactive
        );
        assert_eq!(t.core.warm_introspection_for_wire(&wire), None);
    }
}
