//! Token issuance for the client credentials grant, with the caches that make the warm
//! path run at memory speed: verified secrets (no argon2 for a client that already
//! proved its secret), token reuse, a failure throttle, and batched `last_used_at`.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use keyward_domain::{AppId, AppStatus, ClientId, Grants, Permission};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::clock::Io;
use crate::error::Error;
use crate::jwt::AccessTokenClaims;
use crate::secret::{generate_token_id, ClientSecret};
use crate::Keyward;

/// A client credentials grant request, already parsed from HTTP.
pub struct TokenRequest {
    /// The client ID from the Basic header.
    pub client_id: String,
    /// The secret from the Basic header.
    pub client_secret: Zeroizing<String>,
    /// The `scope` parameter, if given.
    pub scope: Option<String>,
    /// Where the request came from: failed attempts are throttled per client ID *and*
    /// source, so an attacker who knows a client ID cannot lock out the real client.
    pub source: Option<std::net::IpAddr>,
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
}

/// Why a token was not issued (mapped to RFC 6749 §5.2 errors).
#[derive(Debug)]
pub enum IssueError {
    /// Unknown client, wrong secret, inactive app or disabled environment (401).
    InvalidClient,
    /// The scope asks for something malformed or not granted (400).
    InvalidScope(String),
    /// Too many failed attempts for this client ID (429).
    Throttled {
        /// Seconds until attempts are accepted again.
        retry_after: u64,
    },
    /// Anything else (storage down, overloaded, needs blocking).
    Other(Error),
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

impl From<Error> for IssueError {
    fn from(e: Error) -> Self {
        IssueError::Other(e)
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Failure counts per client ID in a fixed window.
pub(crate) struct FailureThrottle {
    max_failures: u32,
    window_secs: i64,
    entries: Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
}

impl FailureThrottle {
    pub(crate) fn new(max_failures: u32, window_secs: i64) -> Self {
        Self {
            max_failures,
            window_secs,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, DateTime<Utc>)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds to wait, when the client ID is locked out.
    fn retry_after(&self, client_id: &str, now: DateTime<Utc>) -> Option<u64> {
        let entries = self.lock();
        let (count, start) = entries.get(client_id)?;
        let left = self.window_secs - (now - *start).num_seconds();
        (*count >= self.max_failures && left > 0).then(|| u64::try_from(left).unwrap_or(1))
    }

    fn record_failure(&self, client_id: &str, now: DateTime<Utc>) {
        let mut entries = self.lock();
        if entries.len() > 100_000 {
            let window = self.window_secs;
            entries.retain(|_, (_, start)| (now - *start).num_seconds() < window);
        }
        let entry = entries.entry(client_id.to_owned()).or_insert((0, now));
        if (now - entry.1).num_seconds() >= self.window_secs {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

#[derive(Clone)]
struct Reusable {
    token: String,
    iat: i64,
    exp: i64,
}

/// The issuance caches.
pub(crate) struct IssuerCaches {
    mac_key: [u8; 32],
    verified: Mutex<HashMap<ClientId, [u8; 32]>>,
    reuse: Mutex<HashMap<(AppId, String, bool), Reusable>>,
    pub(crate) throttle: FailureThrottle,
    usage: Mutex<HashMap<AppId, DateTime<Utc>>>,
}

impl IssuerCaches {
    pub(crate) fn new(mac_key: [u8; 32], throttle: FailureThrottle) -> Self {
        Self {
            mac_key,
            verified: Mutex::new(HashMap::new()),
            reuse: Mutex::new(HashMap::new()),
            throttle,
            usage: Mutex::new(HashMap::new()),
        }
    }

    /// A keyed hash of the secret bound to the stored hash it was verified against: the
    /// cache never holds the secret, the key lives only in this process's memory, and a
    /// new secret (a new stored hash) can never match an old entry — so entries need no
    /// invalidation. Status and deletion are checked after this, on every request.
    fn mac(&self, client_id: &ClientId, stored_hash: &str, secret: &str) -> [u8; 32] {
        let mut mac = match HmacSha256::new_from_slice(&self.mac_key) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        for part in [client_id.as_str(), stored_hash, secret] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac.finalize().into_bytes().into()
    }

    fn is_verified(&self, client_id: &ClientId, mac: &[u8; 32]) -> bool {
        let verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verified
            .get(client_id)
            .is_some_and(|known| bool::from(known.ct_eq(mac)))
    }

    fn remember_verified(&self, client_id: &ClientId, mac: [u8; 32]) {
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() > 100_000 {
            verified.clear();
        }
        verified.insert(client_id.clone(), mac);
    }

    fn reusable(&self, key: &(AppId, String, bool), now: i64, lifetime: i64) -> Option<Reusable> {
        let reuse = self
            .reuse
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = reuse.get(key)?;
        // Reused only while more than half of its lifetime remains.
        (r.exp - now > lifetime / 2 && r.iat <= now).then(|| r.clone())
    }

    fn remember_reusable(&self, key: (AppId, String, bool), r: Reusable) {
        let mut reuse = self
            .reuse
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reuse.len() > 100_000 {
            reuse.clear();
        }
        reuse.insert(key, r);
    }

    fn record_usage(&self, app: AppId, now: DateTime<Utc>) {
        // Microseconds, as storage keeps them: the value shown before and after the
        // batch is written is the same.
        let now = DateTime::<Utc>::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let mut usage = self
            .usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = usage.entry(app).or_insert(now);
        if *entry < now {
            *entry = now;
        }
    }

    /// The usage not yet written, without taking it.
    pub(crate) fn pending_usage(&self, app: AppId) -> Option<DateTime<Utc>> {
        self.usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&app)
            .copied()
    }

    /// Takes the usage batch to write.
    pub(crate) fn take_usage(&self) -> Vec<(AppId, DateTime<Utc>)> {
        let mut usage = self
            .usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        usage.drain().collect()
    }

    /// Puts back a batch whose write failed (newer values win).
    pub(crate) fn restore_usage(&self, batch: Vec<(AppId, DateTime<Utc>)>) {
        for (app, at) in batch {
            self.record_usage(app, at);
        }
    }
}

/// Parses and checks a requested scope against what the app holds.
fn requested_scope(text: &str, grants: &Grants) -> Result<Vec<Permission>, IssueError> {
    let mut wanted = Vec::new();
    for part in text.split(' ').filter(|p| !p.is_empty()) {
        let p = Permission::parse(part).map_err(|e| IssueError::InvalidScope(e.message))?;
        if !grants.allows(&p) {
            return Err(IssueError::InvalidScope(format!(
                "`{p}` is not granted to this client"
            )));
        }
        wanted.push(p);
    }
    if wanted.is_empty() {
        return Err(IssueError::InvalidScope("scope is empty".into()));
    }
    wanted.sort();
    wanted.dedup();
    Ok(wanted)
}

impl Keyward {
    /// The client credentials grant: authenticates the client, checks its live state and
    /// scope, and returns a (possibly reused) access token.
    ///
    /// With `Io::Forbidden` it answers only from memory (a warm client) and otherwise
    /// returns `IssueError::Other(Error::WouldBlock)`; call again with `Io::Allowed`
    /// on a blocking thread.
    pub fn issue_token(&self, request: &TokenRequest, io: Io) -> Result<IssuedToken, IssueError> {
        let now = self.clock.now();
        // A malformed secret or client ID is refused without a lookup: the checksum lets
        // typos fail fast, and the answer says nothing about which client IDs exist.
        let secret =
            ClientSecret::parse(&request.client_secret).map_err(|_| IssueError::InvalidClient)?;
        let client_id =
            ClientId::parse(&request.client_id).map_err(|_| IssueError::InvalidClient)?;
        let live = self.validator.live();
        let app = live.app(&client_id, io)?;
        let stored_hash = app
            .as_ref()
            .filter(|a| !a.deleted)
            .and_then(|a| a.secret_hash.clone());
        let mac = stored_hash
            .as_deref()
            .map(|h| self.caches.mac(&client_id, h, secret.expose()));
        let warm = mac
            .as_ref()
            .is_some_and(|m| self.caches.is_verified(&client_id, m));
        if !warm {
            // Built only off the warm path: a warm client is never throttled.
            let throttle_key = match request.source {
                Some(ip) => format!("{}@{ip}", client_id.as_str()),
                None => client_id.as_str().to_owned(),
            };
            if let Some(retry_after) = self.caches.throttle.retry_after(&throttle_key, now) {
                return Err(IssueError::Throttled { retry_after });
            }
            if io == Io::Forbidden {
                return Err(IssueError::Other(Error::WouldBlock));
            }
            let ok = match stored_hash.as_deref() {
                Some(phc) => self
                    .hasher
                    .verify(secret.expose().as_bytes(), phc)
                    .map_err(Error::from)?,
                None => {
                    // Unknown client: spend the same time as a real verification.
                    self.hasher
                        .verify_dummy(secret.expose().as_bytes())
                        .map_err(Error::from)?;
                    false
                }
            };
            if !ok {
                self.caches.throttle.record_failure(&throttle_key, now);
                return Err(IssueError::InvalidClient);
            }
            if let Some(mac) = mac {
                self.caches.remember_verified(&client_id, mac);
            }
        }
        let Some(app) = app.filter(|a| !a.deleted) else {
            return Err(IssueError::InvalidClient);
        };
        if app.status != AppStatus::Active {
            return Err(IssueError::InvalidClient);
        }
        let env = live
            .environment(app.environment_id, io)?
            .ok_or(IssueError::InvalidClient)?;
        if !env.enabled {
            return Err(IssueError::InvalidClient);
        }
        let (grants, _global) = live.grants_of(&app.role_ids, io)?;
        let (scope, restricted) = match &request.scope {
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
        let lifetime = self.config.token_lifetime_secs;
        let now_s = now.timestamp();
        let key = (app.id, scope.clone(), restricted);
        if self.config.token_reuse {
            if let Some(r) = self.caches.reusable(&key, now_s, lifetime) {
                self.caches.record_usage(app.id, now);
                return Ok(IssuedToken {
                    access_token: r.token,
                    expires_in: r.exp - now_s,
                    scope,
                });
            }
        }
        let claims = AccessTokenClaims {
            iss: self.validator.config().issuer.clone(),
            sub: client_id.as_str().to_owned(),
            client_id: client_id.as_str().to_owned(),
            aud: self.validator.config().audience.clone(),
            iat: now_s,
            exp: now_s + lifetime,
            jti: generate_token_id(&mut rand_core::OsRng),
            scope: scope.clone(),
            env: env.slug.as_str().to_owned(),
            scope_restricted: restricted,
        };
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
                    iat: now_s,
                    exp: claims.exp,
                },
            );
        }
        self.caches.record_usage(app.id, now);
        Ok(IssuedToken {
            access_token: token,
            expires_in: lifetime,
            scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    #[test]
    fn throttle_locks_out_after_max_failures_until_the_window_ends() {
        let th = FailureThrottle::new(3, 60);
        for _ in 0..3 {
            assert_eq!(th.retry_after("c", t(0)), None);
            th.record_failure("c", t(0));
        }
        assert_eq!(th.retry_after("c", t(10)), Some(50));
        assert_eq!(th.retry_after("other", t(10)), None);
        assert_eq!(th.retry_after("c", t(60)), None);
        th.record_failure("c", t(61));
        assert_eq!(
            th.retry_after("c", t(61)),
            None,
            "a new window starts counting afresh"
        );
    }

    #[test]
    fn scope_must_parse_and_be_granted() {
        let perm = |s| Permission::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let grants = Grants::from_permissions([perm("orders:*"), perm("users:read")]);
        let ok = requested_scope("orders:read  users:read orders:read", &grants)
            .unwrap_or_else(|_| panic!("ok"));
        assert_eq!(ok, vec![perm("orders:read"), perm("users:read")]);
        assert!(matches!(
            requested_scope("users:write", &grants),
            Err(IssueError::InvalidScope(_))
        ));
        assert!(matches!(
            requested_scope("Orders:read", &grants),
            Err(IssueError::InvalidScope(_))
        ));
        assert!(matches!(
            requested_scope(" ", &grants),
            Err(IssueError::InvalidScope(_))
        ));
    }
}
