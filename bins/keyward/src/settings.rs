//! Settings: built-in defaults < `keyward.toml` (or `--config`) < `KEYWARD__SECTION__KEY`
//! environment variables. Loaded once here; libraries receive typed values.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// Every setting, with its default.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the embedded database and the generated master key live.
    pub data_dir: PathBuf,
    pub server: Server,
    pub database: Database,
    pub tokens: Tokens,
    pub keys: Keys,
    pub limits: Limits,
    pub bootstrap: Bootstrap,
    pub security: Security,
    pub cache: Cache,
    pub cors: Cors,
    pub federation: Federation,
    pub console: Console,
    pub metrics: Metrics,
    pub audit: Audit,
}

/// The audit log (SPEC §12).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Audit {
    /// Entries older than this many days are deleted (checked hourly). Unset (the
    /// default): every entry is kept.
    pub retention_days: Option<u32>,
}

/// `GET /metrics` (SPEC §12).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// When set (16 characters or more), `/metrics` needs `Authorization: Bearer
    /// <token>`; unset, anyone who reaches the port may read it.
    pub token: Option<String>,
    /// Time every request by route (`keyward_http_request_duration_seconds`); off
    /// drops that histogram and its per-request cost, every other metric stays.
    pub request_latency: bool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            token: None,
            request_latency: true,
        }
    }
}

/// The web console (SPEC §8).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Console {
    /// A console session unused for this long expires (the user logs in again).
    pub idle_timeout_seconds: u64,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            idle_timeout_seconds: 1_800,
        }
    }
}

/// Federation with identity providers (SPEC §7).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Federation {
    /// Accept `http://` identity provider URLs (tests and labs only).
    pub allow_http: bool,
    /// Outbound connect timeout.
    pub connect_timeout_ms: u64,
    /// Outbound total timeout per call.
    pub timeout_ms: u64,
    /// How long a brokered secret the IdP accepted is trusted without asking it again.
    pub verified_secret_ttl_seconds: i64,
    /// Allowed clock difference for external tokens' `exp` and `nbf`.
    pub leeway_seconds: i64,
}

impl Default for Federation {
    fn default() -> Self {
        Self {
            allow_http: false,
            connect_timeout_ms: 2_000,
            timeout_ms: 5_000,
            verified_secret_ttl_seconds: 300,
            leeway_seconds: 60,
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    pub bind: String,
    /// Issuer and base of advertised URLs; default `http://` + the bound address.
    pub public_url: Option<String>,
    /// HTTP worker threads; default: one per CPU.
    pub workers: Option<usize>,
    /// How long a client may take to send a request's head (request line and
    /// headers) on a new connection; then 408 and the connection is closed.
    pub header_timeout_ms: u64,
    /// How long a client may take to send a whole request body, from when the route
    /// starts reading it; then 408 and the connection is closed.
    pub body_timeout_ms: u64,
    /// How long an idle keep-alive connection stays open between requests.
    pub keep_alive_ms: u64,
    /// How long a closing connection may take to shut down (and to drain an unread
    /// request body after an early answer) before it is dropped.
    pub disconnect_timeout_ms: u64,
    /// Open connections at once, all workers together; further clients wait in the
    /// listen backlog. Capped below the process's open-file limit at start.
    pub max_connections: usize,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// `sqlite://PATH` or a path; default `<data_dir>/keyward.db`.
    pub url: Option<String>,
    pub pool_size: u32,
    pub busy_timeout_ms: u64,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tokens {
    pub lifetime_seconds: i64,
    pub algorithm: String,
    pub reuse: bool,
    /// `aud` of issued tokens; default: the public URL.
    pub audience: Option<String>,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Keys {
    /// Base64 of 32 bytes; default: generated into `<data_dir>/master.key` (0600).
    pub master_key: Option<String>,
    /// How long a rotated-in signing key is published in the JWK Set before it signs.
    pub publish_delay_seconds: i64,
    /// Clock difference between instances allowed for before a key that stopped
    /// signing is retired (after its last token's expiry).
    pub retire_leeway_seconds: i64,
}

impl Default for Keys {
    fn default() -> Self {
        Self {
            master_key: None,
            publish_delay_seconds: 300,
            retire_leeway_seconds: 60,
        }
    }
}

/// CORS for the OAuth endpoints and the management API (off by default).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cors {
    /// Comma-separated origins allowed to call Keyward from a browser (`*` for any);
    /// empty: CORS off.
    pub allowed_origins: String,
    /// How long browsers may cache a preflight answer.
    pub max_age_seconds: u32,
}

impl Default for Cors {
    fn default() -> Self {
        Self {
            allowed_origins: String::new(),
            max_age_seconds: 600,
        }
    }
}

impl Cors {
    /// The configured origins, trimmed, without empty entries or trailing slashes.
    pub fn origins(&self) -> Vec<String> {
        self.allowed_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub client_apps_per_environment: i64,
    pub api_keys_per_app: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Bootstrap {
    /// The first Super Admin's personal credential (≥ 32 characters) for automation.
    pub admin_credential: Option<String>,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Security {
    /// Failed secret checks per (client ID, source address) in a window.
    pub max_failed_attempts: u32,
    /// Failed secret checks per source address, across client IDs, in a window.
    pub max_failed_attempts_per_source: u32,
    pub failure_window_seconds: u64,
    /// argon2 operations at once; default: one per CPU.
    pub hashing_concurrency: Option<usize>,
    /// Callers that may wait for an argon2 slot before the rest get 503.
    pub hashing_queue: usize,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cache {
    /// How often changes made by other processes are picked up.
    pub resync_interval_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./keyward-data"),
            server: Server::default(),
            database: Database::default(),
            tokens: Tokens::default(),
            keys: Keys::default(),
            limits: Limits::default(),
            bootstrap: Bootstrap::default(),
            security: Security::default(),
            cache: Cache::default(),
            cors: Cors::default(),
            federation: Federation::default(),
            console: Console::default(),
            metrics: Metrics::default(),
            audit: Audit::default(),
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            workers: None,
            header_timeout_ms: 5_000,
            body_timeout_ms: 10_000,
            keep_alive_ms: 5_000,
            disconnect_timeout_ms: 1_000,
            max_connections: 4_096,
        }
    }
}

impl Default for Database {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: 8,
            busy_timeout_ms: 5000,
        }
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            lifetime_seconds: 86_400,
            algorithm: "ES256".into(),
            reuse: true,
            audience: None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            client_apps_per_environment: 20,
            api_keys_per_app: 10,
        }
    }
}

impl Default for Security {
    fn default() -> Self {
        Self {
            max_failed_attempts: 10,
            max_failed_attempts_per_source: 100,
            failure_window_seconds: 60,
            hashing_concurrency: None,
            hashing_queue: 64,
        }
    }
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            resync_interval_ms: 100,
        }
    }
}

impl Settings {
    /// Loads settings: `--config FILE` (must exist) or `./keyward.toml` (if present),
    /// then `KEYWARD__*` environment variables.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        match config_file {
            Some(path) => {
                if !path.exists() {
                    bail!("config file {} does not exist", path.display());
                }
                builder = builder.add_source(config::File::from(path).required(true));
            }
            None => {
                builder =
                    builder.add_source(config::File::with_name("keyward.toml").required(false))
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("KEYWARD")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let settings: Settings = builder
            .build()
            .context("reading settings")?
            .try_deserialize()
            .context("invalid settings")?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.tokens.lifetime_seconds < 1 {
            bail!("tokens.lifetime_seconds must be at least 1");
        }
        for (name, ms) in [
            ("server.header_timeout_ms", self.server.header_timeout_ms),
            ("server.body_timeout_ms", self.server.body_timeout_ms),
            ("server.keep_alive_ms", self.server.keep_alive_ms),
            (
                "server.disconnect_timeout_ms",
                self.server.disconnect_timeout_ms,
            ),
        ] {
            if !(1..=3_600_000).contains(&ms) {
                bail!("{name} must be between 1 and 3600000 (an hour)");
            }
        }
        if self.audit.retention_days == Some(0) {
            bail!("audit.retention_days must be at least 1 (leave it unset to keep every entry)");
        }
        if self.server.max_connections < 1 {
            bail!("server.max_connections must be at least 1");
        }
        if self.limits.client_apps_per_environment < 0 {
            bail!("limits.client_apps_per_environment must not be negative");
        }
        if self.federation.connect_timeout_ms == 0 || self.federation.timeout_ms == 0 {
            bail!("federation timeouts must be at least 1 ms");
        }
        if !(0..=3600).contains(&self.federation.leeway_seconds) {
            bail!("federation.leeway_seconds must be 0 to 3600");
        }
        if self.federation.verified_secret_ttl_seconds < 0 {
            bail!("federation.verified_secret_ttl_seconds must not be negative");
        }
        if self.limits.api_keys_per_app < 0 {
            bail!("limits.api_keys_per_app must not be negative");
        }
        if self.metrics.token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("metrics.token must be at least 16 characters");
        }
        if let Some(c) = &self.bootstrap.admin_credential {
            if c.chars().count() < 32 {
                bail!("bootstrap.admin_credential must be at least 32 characters");
            }
        }
        Ok(())
    }

    /// The database URL (default: SQLite in the data directory).
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            self.data_dir
                .join("keyward.db")
                .to_string_lossy()
                .into_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_file_loads_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/keyward.example.toml");
        let loaded = Settings::load(Some(&path)).unwrap_or_else(|e| panic!("{e:#}"));
        let defaults = Settings::default();
        assert_eq!(loaded.server.bind, defaults.server.bind);
        assert_eq!(
            loaded.console.idle_timeout_seconds,
            defaults.console.idle_timeout_seconds
        );
        assert_eq!(
            loaded.server.header_timeout_ms,
            defaults.server.header_timeout_ms
        );
        assert_eq!(
            loaded.server.body_timeout_ms,
            defaults.server.body_timeout_ms
        );
        assert_eq!(loaded.server.keep_alive_ms, defaults.server.keep_alive_ms);
        assert_eq!(
            loaded.server.disconnect_timeout_ms,
            defaults.server.disconnect_timeout_ms
        );
        assert_eq!(
            loaded.server.max_connections,
            defaults.server.max_connections
        );
        assert_eq!(
            loaded.tokens.lifetime_seconds,
            defaults.tokens.lifetime_seconds
        );
        assert_eq!(loaded.tokens.algorithm, defaults.tokens.algorithm);
        assert_eq!(loaded.limits.client_apps_per_environment, 20);
        assert_eq!(
            loaded.cache.resync_interval_ms,
            defaults.cache.resync_interval_ms
        );
        assert_eq!(loaded.database_url(), defaults.database_url());
    }

    #[test]
    fn unknown_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "[tokens]\nlifetime = 5\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(Settings::load(Some(&path)).is_err());
    }
}
