//! Keyward's token-issuance core: client secrets and argon2id, signing keys and RFC 9068
//! JWT access tokens, the permission engine over live state, the caches that keep the
//! hot paths in memory, and the use cases ("create app", "issue token", "check", …)
//! written against [`keyward_store::Store`].
//!
//! Two ways in:
//! - [`Keyward`]: everything the server does (issue tokens, manage apps, roles,
//!   environments and admins). Build it with [`Keyward::open`].
//! - [`Validator`]: what an embedding Rust service needs to check a Keyward token and a
//!   permission in-process, with the server's live semantics.
//!
//! Architecture invariant: no HTTP framework here, and no reading of the environment or
//! the clock: time comes from a [`Clock`], randomness from the OS CSPRNG or a passed RNG.

#![cfg_attr(
    not(test),
    deny(clippy::panic, clippy::indexing_slicing, clippy::as_conversions)
)]
// Tests may read the clock and the OS RNG (see clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

pub mod access;
mod admins;
mod apps;
pub mod audit;
mod bounded;
pub mod client_auth;
pub mod clock;
mod credentials;
mod environments;
mod error;
pub mod federation;
mod follow;
pub mod hashing;
pub mod introspection;
pub mod issue;
pub mod issuers;
pub mod jwt;
pub mod keys;
pub mod live;
pub mod metrics;
pub mod random;
pub mod remote;
mod revocation;
mod roles;
pub mod secret;
pub mod sessions;
mod sharded;
mod signing;
#[cfg(test)]
mod testkit;
mod throttle;
mod usage;
mod warm;

use std::sync::Arc;
use std::time::Duration;

pub use access::{KeySource, Principal, PrincipalKind, Target, Validator, ValidatorConfig};
pub use admins::{BootstrapOutcome, EnvironmentRolesInput, UserRoles};
pub use apps::{AppInEnvironment, CreatedApp};
pub use audit::{Actor, AuditFilter};
pub use clock::{Clock, Io, SystemClock};
pub use credentials::{CreatedApiKey, RotatedSecret};
pub use error::{Error, Resource};
pub use follow::ChangeFollower;
pub use introspection::{ActiveToken, Introspection};
pub use issue::{AuthenticatedClient, ClientCredentials, IssuedToken, SecretMethod, TokenRequest};
pub use metrics::Metrics;
pub use random::{OsRandomness, Randomness};
pub use revocation::Revocation;
pub use sessions::{csrf_matches, csrf_token, ActiveSession, LoggedIn, SessionToken};
pub use signing::RotatedKey;

use keyward_domain::Quota;
use keyward_store::{ChangeSubject, Store};
use rand_core::RngCore;

use crate::hashing::SecretHasher;
use crate::issue::IssuerCaches;
use crate::keys::{generate_signing_key, Algorithm, MasterKey};
use crate::throttle::FailureThrottle;

/// What the server core is configured with (typed values; the binary reads settings).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Token issuer (`iss`): the server's public URL.
    pub issuer: String,
    /// Token audience (`aud`).
    pub audience: String,
    /// Access token lifetime in seconds.
    pub token_lifetime_secs: i64,
    /// Whether a repeat request gets the previous token while over half its life remains.
    pub token_reuse: bool,
    /// The algorithm new tokens are signed with.
    pub algorithm: Algorithm,
    /// The per-environment app limit.
    pub quota: Quota,
    /// Failed secret checks per (client ID, source address) in a window before that
    /// pair is throttled (429).
    pub max_failed_attempts: u32,
    /// Failed secret checks per source address, across client IDs, in a window before
    /// that source is throttled (429).
    pub max_failed_attempts_per_source: u32,
    /// The window those failures are counted in.
    pub failure_window: Duration,
    /// argon2 operations at once (defaults to the number of CPUs).
    pub hashing_concurrency: usize,
    /// Callers allowed to wait for a hashing slot before the rest get 503.
    pub hashing_queue: usize,
    /// How long a rotated-in signing key is published in the JWK Set before it signs
    /// (resource servers cache the set; the JWK Set says `max-age=300`).
    pub key_publish_delay_secs: i64,
    /// Clock difference between instances allowed for before a signing key whose last
    /// token expired is retired.
    pub key_retire_leeway_secs: i64,
    /// How long a console session may stay unused before it expires.
    pub session_idle: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            audience: "http://127.0.0.1:8080".into(),
            token_lifetime_secs: 86_400,
            token_reuse: true,
            algorithm: Algorithm::Es256,
            quota: Quota::default(),
            max_failed_attempts: 10,
            max_failed_attempts_per_source: 100,
            failure_window: Duration::from_secs(60),
            hashing_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            hashing_queue: 64,
            key_publish_delay_secs: 300,
            key_retire_leeway_secs: 60,
            session_idle: Duration::from_secs(30 * 60),
        }
    }
}

/// The Keyward server core: use cases over a store, with live-state caches.
pub struct Keyward {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    validator: Arc<Validator>,
    hasher: SecretHasher,
    caches: IssuerCaches,
    config: CoreConfig,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Randomness>,
    /// Federation, once the server gives an outbound client ([`Self::enable_federation`]).
    federation: std::sync::OnceLock<Arc<federation::Federation>>,
    /// Failed console logins per (username, source) and per source.
    login_throttle: FailureThrottle,
}

impl Keyward {
    /// Opens the core over a migrated store: makes sure a signing key of the configured
    /// algorithm exists (generating one, encrypted under `master`, if not) and loads keys.
    pub fn open(
        store: Arc<dyn Store>,
        master: MasterKey,
        config: CoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        Self::open_with(store, master, config, clock, Arc::new(OsRandomness))
    }

    /// [`Self::open`] with the source of randomness given (tests, or an HSM-backed RNG).
    pub fn open_with(
        store: Arc<dyn Store>,
        master: MasterKey,
        config: CoreConfig,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Randomness>,
    ) -> Result<Self, Error> {
        let mut rng = random::Rng(random.as_ref());
        let master = Arc::new(master);
        let records = store.signing_keys()?;
        if !records
            .iter()
            .any(|r| r.algorithm == config.algorithm.as_str())
        {
            let record = generate_signing_key(config.algorithm, &master, &mut rng, clock.now())
                .map_err(|e| Error::Internal(format!("signing key: {e}")))?;
            // The first start, or a new algorithm: recorded like any key rotation.
            let entry = audit::AuditEvent::new("signing_key.created", None, record.kid.clone())
                .detail("algorithm", config.algorithm.as_str())
                .into_entry(&audit::Actor::server(), clock.now());
            store.transaction(&mut || {
                store.insert_signing_key(&record)?;
                store.append_audit(&entry)
            })?;
            log::info!(
                "generated a {} signing key (kid {})",
                config.algorithm.as_str(),
                record.kid
            );
        }
        // A master key that does not decrypt the stored keys fails here, in
        // `Validator::new`, with a clear message.
        let source: Arc<dyn keyward_store::LiveSource> = store.clone();
        let validator = Validator::new(
            source,
            KeySource::Signing {
                master: Arc::clone(&master),
                algorithm: config.algorithm,
                publish_delay_secs: config.key_publish_delay_secs,
            },
            ValidatorConfig {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                leeway: Duration::from_secs(60),
                environment: None,
            },
            Arc::clone(&clock),
        )?
        .with_app_secrets(store.clone());
        let hasher = SecretHasher::new(
            config.hashing_concurrency.max(1),
            config.hashing_queue,
            &mut rng,
        )?;
        let mut mac_key = [0u8; 32];
        rng.fill_bytes(&mut mac_key);
        let window = i64::try_from(config.failure_window.as_secs())
            .unwrap_or(60)
            .max(1);
        let login_throttle = FailureThrottle::new(
            config.max_failed_attempts,
            config.max_failed_attempts_per_source,
            window,
        );
        let caches = IssuerCaches::new(
            mac_key,
            FailureThrottle::new(
                config.max_failed_attempts,
                config.max_failed_attempts_per_source,
                window,
            ),
        );
        let validator = validator.with_usage(Arc::clone(&caches.usage));
        hasher.count_in(Arc::clone(validator.metrics()));
        Ok(Self {
            store,
            master,
            validator: Arc::new(validator),
            hasher,
            caches,
            config,
            clock,
            random,
            federation: std::sync::OnceLock::new(),
            login_throttle,
        })
    }

    /// The master key that encrypts signing keys at rest.
    pub(crate) fn master_key(&self) -> Result<Arc<MasterKey>, Error> {
        Ok(Arc::clone(&self.master))
    }

    /// Turns federation on with `upstream` as the outbound HTTP client (once; later
    /// calls change nothing). Without it, identity providers cannot be configured and
    /// brokered requests and external tokens are refused.
    pub fn enable_federation(
        &self,
        upstream: Arc<dyn federation::Upstream>,
        config: federation::FederationConfig,
    ) {
        let upstream = Arc::new(metrics::MeteredUpstream {
            inner: upstream,
            metrics: Arc::clone(self.validator.metrics()),
        });
        let federation = Arc::new(federation::Federation::new(upstream, config));
        if self.federation.set(Arc::clone(&federation)).is_ok() {
            self.validator.set_federation(federation);
        }
    }

    /// The RNG the use cases draw from.
    pub(crate) fn rng(&self) -> random::Rng<'_> {
        random::Rng(self.random.as_ref())
    }

    /// The validator (shared with the HTTP extractor).
    pub fn validator(&self) -> &Arc<Validator> {
        &self.validator
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The JWK Set of every public signing key.
    pub fn jwks_json(&self) -> String {
        self.validator.keys().jwks_json().to_owned()
    }

    /// The metrics (shared with the validator); the HTTP layer adds its counts here.
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.validator.metrics()
    }

    /// Every metric in the Prometheus text format, with the gauges read now: the
    /// argon2 gate's load and the caches' sizes.
    pub fn render_metrics(&self) -> String {
        let metrics = self.validator.metrics();
        let (running, waiting) = self.hasher.load();
        metrics.set_argon2_load(running, waiting);
        metrics.set_cache_entries("token", self.validator.verified_token_count());
        metrics.set_cache_entries("app", self.validator.live().cached_apps());
        metrics.render()
    }

    /// How long ago this instance last read the change feed (`None`: not yet): what
    /// `/readyz` checks, since caches that stopped following the feed are stale.
    pub fn change_feed_age(&self) -> Option<Duration> {
        self.validator.metrics().change_feed_age(self.clock.now())
    }

    /// Whether storage answers.
    pub fn health(&self) -> Result<(), Error> {
        Ok(self.store.ping()?)
    }

    /// After a change committed in this process: drop the live state it made stale, at
    /// once. The issuance caches need nothing: verified secrets are bound to the stored
    /// hash, and reusable tokens are keyed by the scope computed from live permissions.
    fn changed(&self, subject: &ChangeSubject) {
        self.validator.live().invalidate(subject);
    }

    /// Applies changes committed by other processes since the last call. The server
    /// calls this every resync interval.
    pub fn sync_changes(&self) -> Result<usize, Error> {
        let changes = self.validator.sync_changes()?;
        for change in &changes {
            self.forget_audiences(change);
        }
        Ok(changes.len())
    }

    /// Writes the batched `last_used_at` values of apps, secrets and API keys (at most
    /// one write per app or credential per batch).
    pub fn flush_usage(&self) -> Result<usize, Error> {
        let batch = self.caches.usage.take();
        let n = batch.len();
        if let Err(e) = self.store.record_usage(&batch) {
            self.caches.usage.restore(batch);
            return Err(e.into());
        }
        Ok(n)
    }

    /// Drops change-feed entries older than a day.
    pub fn prune_changes(&self) -> Result<usize, Error> {
        let cutoff = self.clock.now() - chrono::Duration::days(1);
        Ok(self.store.prune_changes(cutoff)?)
    }
}
