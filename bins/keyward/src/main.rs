//! `keyward`: the server binary. Reads settings, starts logging, wires the crates
//! together and serves; also runs migrations and admin tasks from the command line.
//! The only place that reads environment variables or files.

// The binary is the edge: it may read the wall clock and the OS RNG (clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod cli;
mod master_key;
mod settings;
mod upstream;

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use clap::{Parser, Subcommand};
use keyward_core::keys::{Algorithm, MasterKey};
use keyward_core::{BootstrapOutcome, CoreConfig, Keyward, Principal, SystemClock};
use keyward_domain::{EnvironmentSlug, Quota};
use keyward_store::{DieselStore, Store, StoreOptions};

use crate::master_key::StartLock;
use crate::settings::Settings;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Machine-to-machine credentials: client apps, OAuth 2.0 client credentials, live permissions"
)]
struct Cli {
    /// Settings file (default: ./keyward.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Start even though the data directory held an instance (an `instance` marker or a
    /// `master.key`) and the database is missing or empty: a new, empty instance (new
    /// signing key, new first Super Admin) is created. Without it such a start is
    /// refused, so a deleted or misplaced database is never silently replaced.
    #[arg(long, global = true)]
    allow_empty_database: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrations run first; first start bootstraps the first Super Admin).
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Manage admin users, on the database (`user …` does it through the API).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Copy the SQLite database to a new file while the server runs (a consistent
    /// snapshot; see docs/OPERATIONS.md). Keep the data directory's `master.key` with it:
    /// the signing keys inside are encrypted under it.
    Backup {
        /// The new file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Manage signing keys, on the database (`signing-key …` does it through the API).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    #[command(flatten)]
    Api(cli::ApiCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key: published in the JWK Set at once, signing after
    /// `keys.publish_delay_seconds`; older keys are retired once their last token expired.
    Rotate,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin user; prints a generated password unless --password-stdin is given.
    Create {
        #[arg(long)]
        username: String,
        /// `Super Admin` or `Admin`.
        #[arg(long, default_value = "Admin")]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Issue a new personal API credential for a Super Admin (the old one stops working).
    Credential {
        #[arg(long)]
        username: String,
    },
    /// Set a user's console password: read from the first line of standard input, or
    /// generated and printed once (then it must be changed at the next login).
    SetPassword {
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Command::Api(command) = cli.command {
        // A client: only warnings unless RUST_LOG asks for more (the credential is a
        // sensitive header, never logged).
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
        std::process::exit(cli::run(command, cli.config.as_deref()));
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    if let Err(e) = run(cli) {
        eprintln!("keyward: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    let allow_empty = cli.allow_empty_database;
    match cli.command {
        // Handled in `main`, before the settings are needed.
        Command::Api(command) => {
            std::process::exit(cli::run(command, cli.config.as_deref()));
        }
        Command::Serve => serve(settings, allow_empty),
        Command::Migrate => {
            let mut startup = Startup::begin(&settings, allow_empty)?;
            let store = startup.open_store(&settings)?;
            if initialised(store.as_ref())? {
                master_key::mark_instance(&settings.data_dir)?;
            }
            println!("migrations are up to date");
            Ok(())
        }
        Command::Backup { to } => {
            let options = StoreOptions {
                migrate: false,
                ..store_options(&settings)
            };
            let store = DieselStore::open(&options)?;
            store
                .backup_to(&to)
                .with_context(|| format!("backing up to {}", to.display()))?;
            println!("backed up to {}", to.display());
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let public_url = settings
                .server
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", settings.server.bind));
            let (core, store, _lock) = open_core(&settings, public_url, allow_empty)?;
            if initialised(store.as_ref())? {
                master_key::mark_instance(&settings.data_dir)?;
            }
            let rotated = core.rotate_signing_key(&Principal::system())?;
            println!(
                "new {} signing key {}: in the JWK Set now, signing from {}",
                rotated.algorithm,
                rotated.kid,
                rotated
                    .signs_from
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            Ok(())
        }
        Command::Admin { command } => {
            // Read before taking the start lock, which must never wait on a person.
            let password = match &command {
                AdminCommand::Create {
                    password_stdin: true,
                    ..
                }
                | AdminCommand::SetPassword {
                    password_stdin: true,
                    ..
                } => {
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .context("reading the password")?;
                    Some(line.trim_end_matches(['\r', '\n']).to_owned())
                }
                _ => None,
            };
            // The lock is held for the whole command (see `Startup`).
            let (core, store, _lock) =
                open_core(&settings, "http://127.0.0.1".into(), allow_empty)?;
            if initialised(store.as_ref())? {
                master_key::mark_instance(&settings.data_dir)?;
            }
            match command {
                AdminCommand::Create {
                    username,
                    role,
                    password_stdin: _,
                } => {
                    let (admin, generated) =
                        core.create_admin(&Principal::system(), &username, password, &role)?;
                    println!(
                        "created {} `{}`",
                        admin.role.map_or("user", |r| r.name()),
                        admin.username
                    );
                    if let Some(p) = generated {
                        println!("password (shown once): {}", p.as_str());
                    }
                }
                AdminCommand::Credential { username } => {
                    let (admin, credential) =
                        core.issue_personal_credential(&Principal::system(), &username)?;
                    println!(
                        "personal credential for `{}` (shown once; the previous one is revoked):",
                        admin.username
                    );
                    println!("{}", credential.expose());
                }
                AdminCommand::SetPassword { username, .. } => {
                    match core.set_password(&Principal::system(), &username, password)? {
                        Some(generated) => {
                            println!(
                                "one-time console password for `{username}` (shown once; \
                                 to be changed at the next login):"
                            );
                            println!("{}", generated.as_str());
                        }
                        None => println!("password set for `{username}`"),
                    }
                }
            }
            Ok(())
        }
    }
}

fn store_options(settings: &Settings) -> StoreOptions {
    StoreOptions {
        url: settings.database_url(),
        pool_size: settings.database.pool_size,
        busy_timeout: Duration::from_millis(settings.database.busy_timeout_ms),
        migrate: true,
    }
}

/// Whether the database holds an initialised instance: a signing key, an admin or the
/// `default` environment (each made on the first start).
fn initialised(store: &dyn Store) -> anyhow::Result<bool> {
    Ok(!store.signing_keys()?.is_empty()
        || store.any_admin()?
        || store
            .environment_by_slug(&EnvironmentSlug::default_slug())?
            .is_some())
}

/// The refusal to start a new, empty instance where one lived.
fn refuse_empty(evidence: &Path, database: &dyn std::fmt::Display, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} shows that this data directory held a Keyward instance, but the database {} \
         {what}. Refusing to start a new, empty instance (new signing key, new admin) over \
         it: restore the database (with its -wal file), or start with \
         --allow-empty-database to really begin afresh",
        evidence.display(),
        database
    )
}

/// How the database is named in messages: the SQLite file, or the PostgreSQL URL
/// without its password.
fn database_name(settings: &Settings, store: &DieselStore) -> String {
    match store.path() {
        Some(path) => path.display().to_string(),
        None => keyward_store::redact_url(&settings.database_url()),
    }
}

/// Start-up work on the data directory, in this order and under the start lock: the
/// directory's mode, the master key (mode and format), the check that a directory
/// which held an instance still has its database — all before the database is created
/// or migrated.
struct Startup {
    lock: StartLock,
    master: Option<MasterKey>,
    previous: Option<PathBuf>,
    allow_empty: bool,
}

impl Startup {
    fn begin(settings: &Settings, allow_empty: bool) -> anyhow::Result<Startup> {
        master_key::ensure_data_dir(&settings.data_dir)?;
        let lock = StartLock::acquire(&settings.data_dir)?;
        let master = master_key::load(settings)?;
        let previous = master_key::previous_instance(settings);
        let database = store_options(settings)
            .file_path()
            .context("database.url")?;
        // A SQLite file that went missing is caught here, before anything creates it; a
        // PostgreSQL database that lost its instance is caught once opened (open_store).
        if let (Some(evidence), Some(database)) = (&previous, database) {
            let has_data = std::fs::metadata(&database).is_ok_and(|m| m.len() > 0);
            if !has_data {
                let what = if database.exists() {
                    "is empty"
                } else {
                    "is missing"
                };
                if !allow_empty {
                    return Err(refuse_empty(evidence, &database.display(), what));
                }
                log::warn!(
                    "the database {} {what} but {} exists: starting a new, empty instance \
                     (--allow-empty-database)",
                    database.display(),
                    evidence.display()
                );
            }
        }
        Ok(Startup {
            lock,
            master,
            previous,
            allow_empty,
        })
    }

    /// Opens (creating and migrating) the database; refuses a database without an
    /// instance where the directory shows one lived (unless allowed).
    fn open_store(&mut self, settings: &Settings) -> anyhow::Result<Arc<DieselStore>> {
        let store = DieselStore::open(&store_options(settings)).context("opening the database")?;
        if let Some(evidence) = &self.previous {
            if !self.allow_empty && !initialised(&store)? {
                return Err(refuse_empty(
                    evidence,
                    &database_name(settings, &store),
                    "holds no instance (no signing key, no admin)",
                ));
            }
        }
        Ok(Arc::new(store))
    }
}

/// What start-up holds until its first-start work (signing key, bootstrap) is done: the
/// data directory's lock file, and on PostgreSQL the database's start-up lock, so
/// instances on other machines starting together do that work once.
struct StartLocks {
    _file: StartLock,
    _database: keyward_store::StartupLock,
}

/// Opens the store and the core. The returned locks are held until the caller's
/// start-up work (bootstrap) is done.
fn open_core(
    settings: &Settings,
    public_url: String,
    allow_empty: bool,
) -> anyhow::Result<(Arc<Keyward>, Arc<DieselStore>, StartLocks)> {
    let mut startup = Startup::begin(settings, allow_empty)?;
    let store = startup.open_store(settings)?;
    let database_lock = store
        .lock_startup()
        .context("taking the database's start-up lock")?;
    let master = match startup.master.take() {
        Some(key) => key,
        None => master_key::create(settings)?,
    };
    let algorithm = Algorithm::parse(&settings.tokens.algorithm)
        .map_err(|e| anyhow::anyhow!("tokens.algorithm: {e}"))?;
    let defaults = CoreConfig::default();
    let config = CoreConfig {
        audience: settings
            .tokens
            .audience
            .clone()
            .unwrap_or_else(|| public_url.clone()),
        issuer: public_url,
        token_lifetime_secs: settings.tokens.lifetime_seconds,
        token_reuse: settings.tokens.reuse,
        algorithm,
        quota: Quota {
            client_apps_per_environment: settings.limits.client_apps_per_environment,
            api_keys_per_app: settings.limits.api_keys_per_app,
        },
        max_failed_attempts: settings.security.max_failed_attempts,
        max_failed_attempts_per_source: settings.security.max_failed_attempts_per_source,
        failure_window: Duration::from_secs(settings.security.failure_window_seconds),
        hashing_queue: settings.security.hashing_queue,
        hashing_concurrency: settings
            .security
            .hashing_concurrency
            .unwrap_or(defaults.hashing_concurrency),
        key_publish_delay_secs: settings.keys.publish_delay_seconds.max(0),
        key_retire_leeway_secs: settings.keys.retire_leeway_seconds.max(0),
        session_idle: Duration::from_secs(settings.console.idle_timeout_seconds.max(1)),
    };
    let core = Keyward::open(
        Arc::clone(&store) as Arc<dyn Store>,
        master,
        config,
        Arc::new(SystemClock),
    )?;
    core.enable_federation(
        Arc::new(upstream::HttpUpstream::new(
            Duration::from_millis(settings.federation.connect_timeout_ms),
            Duration::from_millis(settings.federation.timeout_ms),
        )?),
        keyward_core::federation::FederationConfig {
            allow_http: settings.federation.allow_http,
            verified_secret_ttl_secs: settings.federation.verified_secret_ttl_seconds,
            leeway_secs: settings.federation.leeway_seconds,
        },
    );
    Ok((
        Arc::new(core),
        store,
        StartLocks {
            _file: startup.lock,
            _database: database_lock,
        },
    ))
}

/// Follows other processes' changes, writes `last_used_at` batches, prunes the feed.
///
/// The feed is read every resync interval (at most 250 ms apart), and at once when a
/// PostgreSQL notification says another process committed a change: on PostgreSQL the
/// thread holds one dedicated listening connection (never from the pool), and makes a
/// new one (at most once a second) whenever it fails, so followers recover by
/// themselves after a database restart. A lost notification costs one interval: the
/// polled feed is the truth.
fn background(
    core: Arc<Keyward>,
    store: Arc<DieselStore>,
    resync: Duration,
    audit_retention_days: Option<u32>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let interval = resync.min(Duration::from_millis(250));
        let mut listener = ListenerState::new(&store);
        let mut last_flush = Instant::now();
        let mut last_prune = Instant::now();
        let mut last_expiry = Instant::now();
        let mut last_retire = Instant::now();
        let mut feed_failing = false;
        while !stop.load(Ordering::Acquire) {
            listener.wait(&store, interval);
            // Logged when it starts failing and when it recovers, not every poll.
            match core.sync_changes() {
                Ok(_) if feed_failing => {
                    feed_failing = false;
                    log::info!("change feed: storage answers again");
                }
                Ok(_) => {}
                Err(e) if !feed_failing => {
                    feed_failing = true;
                    log::warn!("change feed: {e}");
                }
                Err(_) => {}
            }
            if last_flush.elapsed() >= Duration::from_secs(1) {
                last_flush = Instant::now();
                if let Err(e) = core.flush_usage() {
                    log::warn!("writing last_used_at: {e}");
                }
            }
            if last_prune.elapsed() >= Duration::from_secs(3600) {
                last_prune = Instant::now();
                if let Err(e) = core.prune_changes() {
                    log::warn!("pruning the change feed: {e}");
                }
                if let Some(days) = audit_retention_days {
                    match core.prune_audit(days) {
                        Ok(0) => {}
                        Ok(n) => log::info!("deleted {n} audit entries older than {days} days"),
                        Err(e) => log::warn!("pruning the audit log: {e}"),
                    }
                }
            }
            // Revoked token IDs and assertion IDs past their expiry (every 5 s: a delete
            // that usually finds nothing); signing keys whose last token has expired
            // (every second, computed from memory; it writes only when one is retired).
            if last_expiry.elapsed() >= Duration::from_secs(5) {
                last_expiry = Instant::now();
                if let Err(e) = core.prune_expired() {
                    log::warn!("pruning expired revocations: {e}");
                }
            }
            if last_retire.elapsed() >= Duration::from_secs(1) {
                last_retire = Instant::now();
                if let Err(e) = core.retire_signing_keys() {
                    log::warn!("retiring signing keys: {e}");
                }
            }
        }
        if let Err(e) = core.flush_usage() {
            log::warn!("writing last_used_at at shutdown: {e}");
        }
    })
}

/// The background thread's LISTEN connection (PostgreSQL only), remade after failures.
struct ListenerState {
    postgres: bool,
    listener: Option<keyward_store::ChangeListener>,
    next_attempt: Instant,
    failing: bool,
}

impl ListenerState {
    fn new(store: &DieselStore) -> Self {
        Self {
            postgres: store.backend() == keyward_store::Backend::Postgres,
            listener: None,
            next_attempt: Instant::now(),
            failing: false,
        }
    }

    /// Waits `interval`, or less when a change is notified.
    fn wait(&mut self, store: &DieselStore, interval: Duration) {
        if self.postgres && self.listener.is_none() && Instant::now() >= self.next_attempt {
            match store.change_listener() {
                Ok(listener) => {
                    self.listener = listener;
                    if self.failing {
                        self.failing = false;
                        log::info!("change notifications: listening again");
                    }
                }
                Err(e) => {
                    self.next_attempt = Instant::now() + Duration::from_secs(1);
                    if !self.failing {
                        self.failing = true;
                        log::warn!("change notifications: {e}; polling the feed meanwhile");
                    }
                }
            }
        }
        let Some(listener) = &mut self.listener else {
            std::thread::sleep(interval);
            return;
        };
        if let Err(e) = listener.wait(interval) {
            self.listener = None;
            self.next_attempt = Instant::now() + Duration::from_secs(1);
            if !self.failing {
                self.failing = true;
                log::warn!("change notifications: {e}; polling the feed meanwhile");
            }
            std::thread::sleep(interval);
        }
    }
}

fn serve(settings: Settings, allow_empty: bool) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&settings.server.bind)
        .with_context(|| format!("binding {}", settings.server.bind))?;
    let addr = listener.local_addr()?;
    let public_url = settings
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    // First-start work (migrations, signing key, bootstrap) runs under the start lock.
    let (core, store, lock) = open_core(&settings, public_url.clone(), allow_empty)?;
    match core.bootstrap(settings.bootstrap.admin_credential.as_deref())? {
        BootstrapOutcome::AlreadyInitialized => {}
        BootstrapOutcome::CreatedWithConfiguredCredential => {
            log::info!(
                "first start: created Super Admin `admin` with the configured bootstrap credential"
            );
        }
        BootstrapOutcome::CreatedWithGeneratedCredential(credential) => {
            // Printed once, to standard output only (never to the log).
            let mut out = std::io::stdout().lock();
            writeln!(out, "First start: created Super Admin `admin`. Its personal API credential (shown once):")?;
            writeln!(out, "{}", credential.expose())?;
            out.flush()?;
        }
    }
    if let Some(password) = core.bootstrap_console_password()? {
        // Printed once, to standard output only (never to the log).
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Console: {public_url}/console — log in as `admin` with this one-time password \
             (you choose a new one at the first login):"
        )?;
        writeln!(out, "{}", password.as_str())?;
        out.flush()?;
    }
    master_key::mark_instance(&settings.data_dir)?;
    drop(lock);
    let stop = Arc::new(AtomicBool::new(false));
    let resync = Duration::from_millis(settings.cache.resync_interval_ms.max(10));
    // One read of the change feed before listening: /readyz is 200 from the first
    // request (it asks that the feed was read in the last 5 s).
    if let Err(e) = core.sync_changes() {
        log::warn!("change feed: {e}");
    }
    let worker = background(
        Arc::clone(&core),
        store,
        resync,
        settings.audit.retention_days,
        Arc::clone(&stop),
    );
    let workers = settings
        .server
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    println!("keyward listening on http://{addr} (issuer {public_url})");
    println!("console: {public_url}/console");
    let console_settings = web::Data::new(keyward_http::ConsoleSettings {
        secure: public_url.starts_with("https://"),
        idle_timeout_seconds: i64::try_from(settings.console.idle_timeout_seconds)
            .unwrap_or(i64::MAX),
    });
    log::info!("listening on http://{addr}");
    let data_core = web::Data::from(Arc::clone(&core));
    let data_validator = web::Data::from(Arc::clone(core.validator()));
    let cors = web::Data::new(keyward_http::CorsPolicy {
        allowed_origins: settings.cors.origins(),
        max_age_seconds: settings.cors.max_age_seconds,
    });
    let request_latency = settings.metrics.request_latency;
    let metrics_settings = web::Data::new(keyward_http::MetricsSettings {
        token: settings.metrics.token.clone(),
    });
    let limits = keyward_http::HttpLimits {
        body_timeout: Duration::from_millis(settings.server.body_timeout_ms),
    };
    let max_connections = connection_cap(settings.server.max_connections);
    let idle_timeout = Duration::from_millis(
        settings
            .server
            .keep_alive_ms
            .saturating_add(settings.server.header_timeout_ms),
    );
    // Blocking work is storage (at most `pool_size` at once), argon2 (at most the
    // hashing concurrency, with a bounded queue waiting for a slot) and little else: a
    // worker's blocking pool needs no more threads than that. tokio's default (512
    // shared by the workers) let cold traffic grow the thread count, and the memory of
    // each thread, to far more than could make progress (docs/SCALE.md).
    let blocking_threads = usize::try_from(settings.database.pool_size)
        .unwrap_or(usize::MAX)
        .saturating_add(core.config().hashing_concurrency)
        .saturating_add(core.config().hashing_queue)
        .max(2);
    let access_log = log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info);
    let result = actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(data_core.clone())
                .app_data(data_validator.clone())
                .app_data(console_settings.clone())
                .app_data(limits)
                .app_data(cors.clone())
                .app_data(metrics_settings.clone())
                // Connection tracking, CORS and the request histogram, in one layer.
                .wrap(keyward_http::Serving { request_latency })
                // The access log costs a formatted line per request: only when enabled.
                // The path without the query string: credentials sent in a URL by
                // mistake never reach the log.
                .wrap(middleware::Condition::new(
                    access_log,
                    middleware::Logger::new("%a \"%{path}xi\" %s %b %Dms")
                        .custom_request_replace("path", |req| {
                            format!("{} {}", req.method(), req.path())
                        }),
                ))
                .configure(keyward_http::configure)
        })
        .workers(workers)
        .worker_max_blocking_threads(blocking_threads)
        // Every phase of a connection has a deadline, so a client that stops sending
        // holds a connection for a bounded time: the head (then 408), the body (read by
        // the routes, then 408), idle keep-alive, and the shutdown of a closing
        // connection, including the draining of a body left unread after an early
        // answer.
        .client_request_timeout(Duration::from_millis(settings.server.header_timeout_ms))
        .keep_alive(Duration::from_millis(settings.server.keep_alive_ms))
        .client_disconnect_timeout(Duration::from_millis(settings.server.disconnect_timeout_ms))
        // A per-worker cap: at the cap a worker stops accepting and new clients wait in
        // the listen backlog, instead of the process running out of file descriptors
        // (which also starves the database). `max_connection_rate` only paces TLS
        // handshakes, and Keyward does not terminate TLS, so it is left alone.
        .max_connections(max_connections.div_ceil(workers).max(1))
        // The backstop for what those timers miss: a connection with no request in
        // progress for longer than keep-alive plus a request head is shut down.
        .on_connect(move |conn, data| keyward_http::watch_connection(conn, data, idle_timeout))
        .listen(listener)?
        .run()
        .await
    });
    stop.store(true, Ordering::Release);
    let _ = worker.join();
    result.context("serving")
}

/// `server.max_connections`, lowered to fit the process's open-file limit (less room
/// for the database, its journal and the log) when that limit is known.
fn connection_cap(configured: usize) -> usize {
    const RESERVED_FILES: u64 = 64;
    let Some(limit) = open_file_limit() else {
        return configured;
    };
    // Each connection holds two descriptors: the socket and the watch's handle on it.
    let fits =
        usize::try_from((limit.saturating_sub(RESERVED_FILES) / 2).max(1)).unwrap_or(usize::MAX);
    if fits < configured {
        log::warn!(
            "server.max_connections lowered from {configured} to {fits} to fit the open-file \
             limit ({limit}); raise it (ulimit -n, LimitNOFILE=) to allow more"
        );
        fits
    } else {
        configured
    }
}

/// The soft limit on open files (`Max open files` in /proc/self/limits), on Linux.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every subcommand's flags are well formed (no two with one name or short flag),
    /// not only the ones a test happens to run.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn api_flags_may_follow_the_subcommand() {
        let parsed = Cli::try_parse_from([
            "keyward", "app", "list", "-e", "prod", "--output", "json", "--all",
        ]);
        assert!(parsed.is_ok());
        let parsed = Cli::try_parse_from(["keyward", "--config", "k.toml", "keys", "rotate"]);
        assert!(
            parsed.is_ok(),
            "the direct-database commands parse as before"
        );
    }
}
