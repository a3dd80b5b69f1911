//! Keyward on other hosts, over HTTP only:
//!
//! - [`RemoteValidator`]: a resource server validates Keyward access tokens and API keys
//!   locally with Keyward's live semantics. It loads a snapshot of live state
//!   (`GET /api/v1/live/snapshot`) and follows the change feed
//!   (`GET /api/v1/live/changes`, long-poll), so a deactivation, a role change, a deleted
//!   key reach it within the feed's latency (tens of milliseconds on a LAN) — without a
//!   call to Keyward per request and without database access. It is the core's
//!   [`Validator`] over an in-memory [`replica::Replica`], so `authenticate`/`check`
//!   and the actix `keyward_http::Authorized<P>` extractor work exactly as embedded.
//!   When it has not heard from Keyward for longer than `max_staleness` it refuses every
//!   credential (fails closed) and says why in its logs, until Keyward answers again.
//! - [`TokenClient`]: a client app (a bot, a script) gets tokens with the client
//!   credentials grant, cached and renewed before they expire, retrying with backoff on
//!   429 and 503.

#![cfg_attr(
    not(test),
    deny(clippy::panic, clippy::indexing_slicing, clippy::as_conversions)
)]

pub mod replica;
mod token;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keyward_core::remote::{LiveChanges, LiveSnapshot};
use keyward_core::{KeySource, SystemClock, Validator, ValidatorConfig};
use keyward_domain::EnvironmentSlug;
pub use token::{TokenClient, TokenError};

use crate::replica::Replica;

/// Where Keyward is and how the remote validator follows it.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Keyward's base URL (`https://keyward.example.com`).
    pub base_url: String,
    /// A credential holding `live:read`: an API key of the resource server's own client
    /// app (scoped to its environment unless the app is global).
    pub credential: String,
    /// Keyward's issuer (its `server.public_url`).
    pub issuer: String,
    /// The audience Keyward puts in tokens (default: the issuer).
    pub audience: String,
    /// Serve only this environment's credentials; `None` serves every one in reach.
    pub environment: Option<String>,
    /// Refuse every credential after this long without a word from Keyward.
    pub max_staleness: Duration,
    /// How long one long-poll waits for changes (the feed's heartbeat).
    pub poll_wait: Duration,
}

impl RemoteConfig {
    /// Defaults: audience = issuer = `base_url`, every environment, 30 s staleness,
    /// 10 s long-polls.
    pub fn new(base_url: impl Into<String>, credential: impl Into<String>) -> Self {
        let base_url: String = base_url.into();
        Self {
            issuer: base_url.clone(),
            audience: base_url.clone(),
            base_url,
            credential: credential.into(),
            environment: None,
            max_staleness: Duration::from_secs(30),
            poll_wait: Duration::from_secs(10),
        }
    }
}

/// Why the remote validator could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Keyward did not answer the snapshot, or refused the credential.
    #[error("Keyward's live snapshot: {0}")]
    Snapshot(String),
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The validator could not be built.
    #[error(transparent)]
    Core(#[from] keyward_core::Error),
}

/// A [`Validator`] fed from Keyward over HTTP, and the thread that keeps it current
/// (stopped on drop).
pub struct RemoteValidator {
    validator: Arc<Validator>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

struct Shared {
    replica: Arc<Replica>,
    /// Milliseconds since `epoch` when Keyward last answered.
    last_heard_ms: AtomicI64,
    epoch: Instant,
    max_staleness: Duration,
    validator: OnceLock<Weak<Validator>>,
}

impl Shared {
    fn heard(&self) {
        let ms = i64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.last_heard_ms.store(ms, Ordering::Release);
    }

    fn silent_for(&self) -> Duration {
        let now = i64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(i64::MAX);
        let last = self.last_heard_ms.load(Ordering::Acquire);
        Duration::from_millis(u64::try_from(now.saturating_sub(last)).unwrap_or(0))
    }

    fn stale(&self) -> bool {
        self.silent_for() > self.max_staleness
    }

    fn sync(&self) {
        if let Some(v) = self.validator.get().and_then(Weak::upgrade) {
            if let Err(e) = v.sync_changes() {
                log::warn!("applying Keyward's changes: {e}");
            }
        }
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::blocking::Client, RemoteError> {
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .build()
        .map_err(|e| RemoteError::Config(e.to_string()))
}

fn fetch_snapshot(
    http: &reqwest::blocking::Client,
    config: &RemoteConfig,
) -> Result<LiveSnapshot, String> {
    let res = http
        .get(format!("{}/api/v1/live/snapshot", config.base_url))
        .bearer_auth(&config.credential)
        .send()
        .map_err(|e| {
            format!(
                "unreachable ({})",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                }
            )
        })?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    res.json::<LiveSnapshot>()
        .map_err(|_| "not a snapshot".to_owned())
}

fn fetch_changes(
    http: &reqwest::blocking::Client,
    config: &RemoteConfig,
    after: i64,
) -> Result<LiveChanges, String> {
    let res = http
        .get(format!(
            "{}/api/v1/live/changes?after={after}&wait={}",
            config.base_url,
            config.poll_wait.as_secs()
        ))
        .bearer_auth(&config.credential)
        .send()
        .map_err(|e| {
            format!(
                "unreachable ({})",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                }
            )
        })?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    res.json::<LiveChanges>()
        .map_err(|_| "not a change list".to_owned())
}

impl RemoteValidator {
    /// Loads the snapshot (an error if Keyward does not answer or refuses the
    /// credential), builds the validator, and starts following the feed.
    pub fn connect(config: RemoteConfig) -> Result<Self, RemoteError> {
        let http = http_client(config.poll_wait + Duration::from_secs(10))?;
        let snapshot = fetch_snapshot(&http, &config).map_err(RemoteError::Snapshot)?;
        let replica = Arc::new(Replica::default());
        replica.load(&snapshot);
        let environment = config
            .environment
            .as_deref()
            .map(EnvironmentSlug::parse)
            .transpose()
            .map_err(|e| RemoteError::Config(e.to_string()))?;
        let source: Arc<dyn keyward_store::LiveSource> = replica.clone();
        let validator = Arc::new(Validator::new(
            source,
            KeySource::Public,
            ValidatorConfig {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                leeway: Duration::from_secs(60),
                environment,
            },
            Arc::new(SystemClock),
        )?);
        let shared = Arc::new(Shared {
            replica,
            last_heard_ms: AtomicI64::new(0),
            epoch: Instant::now(),
            max_staleness: config.max_staleness,
            validator: OnceLock::new(),
        });
        shared.heard();
        let _ = shared.validator.set(Arc::downgrade(&validator));
        let gate = Arc::clone(&shared);
        validator.set_liveness(Arc::new(move || {
            gate.stale()
                .then_some("no word from Keyward for longer than max_staleness")
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, shared) = (Arc::clone(&stop), Arc::clone(&shared));
            std::thread::spawn(move || follow(http, config, snapshot.position, shared, stop))
        };
        Ok(Self {
            validator,
            stop,
            thread: Some(thread),
            shared,
        })
    }

    /// The validator: `authenticate`, `check`, and `web::Data::from(...)` for the
    /// actix extractor.
    pub fn validator(&self) -> &Arc<Validator> {
        &self.validator
    }

    /// How long since Keyward last answered.
    pub fn silent_for(&self) -> Duration {
        self.shared.silent_for()
    }
}

impl Drop for RemoteValidator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            // The thread may be inside a long-poll: do not wait for it.
            drop(t);
        }
    }
}

/// The feed loop: long-polls from the last position, applies each change to the
/// replica and at once to the validator's caches; on errors retries with backoff (100
/// ms doubling to 5 s) from the same position; on a gap (`unknown`) starts over from a
/// snapshot.
fn follow(
    http: reqwest::blocking::Client,
    config: RemoteConfig,
    mut position: i64,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut need_snapshot = false;
    let mut failing_since: Option<Instant> = None;
    let mut said_stale = false;
    while !stop.load(Ordering::Acquire) {
        let result = if need_snapshot {
            fetch_snapshot(&http, &config).map(|snapshot| {
                shared.replica.load(&snapshot);
                position = snapshot.position;
                need_snapshot = false;
                log::info!("reloaded Keyward's live snapshot at position {position}");
            })
        } else {
            fetch_changes(&http, &config, position).map(|page| {
                for change in &page.items {
                    if !shared.replica.apply(change) {
                        log::warn!(
                            "Keyward's feed lost changes before position {}: starting over",
                            change.seq
                        );
                        need_snapshot = true;
                        return;
                    }
                }
                position = page.position.max(position);
            })
        };
        match result {
            Ok(()) => {
                shared.heard();
                shared.sync();
                backoff = Duration::from_millis(100);
                if failing_since.take().is_some() {
                    log::info!(
                        "Keyward answers again: following its feed from position {position}"
                    );
                }
                said_stale = false;
            }
            Err(why) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if shared.stale() && !said_stale {
                    log::error!(
                        "no word from Keyward for {:?} (more than max_staleness {:?}): refusing every credential until it answers ({why})",
                        since.elapsed(),
                        shared.max_staleness
                    );
                    said_stale = true;
                } else if !said_stale {
                    log::warn!("Keyward's feed: {why}; retrying in {backoff:?}");
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
