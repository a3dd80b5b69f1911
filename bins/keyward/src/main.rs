//! `keyward`: the server binary. Reads settings, starts logging, wires the crates
//! together and serves; also runs migrations and admin tasks from the command line.
//! The only place that reads environment variables or files.

mod master_key;
mod settings;

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use clap::{Parser, Subcommand};
use keyward_core::domain::Quota;
use keyward_core::keys::Algorithm;
use keyward_core::store::{DieselStore, Store, StoreOptions};
use keyward_core::{BootstrapOutcome, CoreConfig, Keyward, Principal, SystemClock};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrations run first; first start bootstraps the first Super Admin).
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Manage admin users.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
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
}

fn main() {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    if let Err(e) = run(cli) {
        eprintln!("keyward: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(settings),
        Command::Migrate => {
            open_store(&settings)?;
            println!("migrations are up to date");
            Ok(())
        }
        Command::Admin { command } => {
            let (core, _) = open_core(&settings, "http://127.0.0.1".into())?;
            match command {
                AdminCommand::Create {
                    username,
                    role,
                    password_stdin,
                } => {
                    let password = if password_stdin {
                        let mut line = String::new();
                        std::io::stdin()
                            .lock()
                            .read_line(&mut line)
                            .context("reading the password")?;
                        Some(line.trim_end_matches(['\r', '\n']).to_owned())
                    } else {
                        None
                    };
                    let (admin, generated) =
                        core.create_admin(&Principal::system(), &username, password, &role)?;
                    println!("created {} `{}`", admin.role, admin.username);
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
            }
            Ok(())
        }
    }
}

fn open_store(settings: &Settings) -> anyhow::Result<Arc<DieselStore>> {
    master_key::ensure_data_dir(&settings.data_dir)?;
    let options = StoreOptions {
        url: settings.database_url(),
        pool_size: settings.database.pool_size,
        busy_timeout: Duration::from_millis(settings.database.busy_timeout_ms),
        migrate: true,
    };
    Ok(Arc::new(
        DieselStore::open(&options).context("opening the database")?,
    ))
}

fn open_core(
    settings: &Settings,
    public_url: String,
) -> anyhow::Result<(Arc<Keyward>, Arc<DieselStore>)> {
    let store = open_store(settings)?;
    let master = master_key::load_or_create(settings)?;
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
        },
        max_failed_attempts: settings.security.max_failed_attempts,
        max_failed_attempts_per_source: settings.security.max_failed_attempts_per_source,
        failure_window: Duration::from_secs(settings.security.failure_window_seconds),
        hashing_queue: settings.security.hashing_queue,
        hashing_concurrency: settings
            .security
            .hashing_concurrency
            .unwrap_or(defaults.hashing_concurrency),
    };
    let core = Keyward::open(
        Arc::clone(&store) as Arc<dyn Store>,
        master,
        config,
        Arc::new(SystemClock),
    )?;
    Ok((Arc::new(core), store))
}

/// Follows other processes' changes, writes `last_used_at` batches, prunes the feed.
fn background(
    core: Arc<Keyward>,
    resync: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last_flush = Instant::now();
        let mut last_prune = Instant::now();
        while !stop.load(Ordering::Acquire) {
            std::thread::sleep(resync.min(Duration::from_millis(250)));
            if let Err(e) = core.sync_changes() {
                log::warn!("change feed: {e}");
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
            }
        }
        if let Err(e) = core.flush_usage() {
            log::warn!("writing last_used_at at shutdown: {e}");
        }
    })
}

fn serve(settings: Settings) -> anyhow::Result<()> {
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
    let (core, _store) = open_core(&settings, public_url.clone())?;
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
    let stop = Arc::new(AtomicBool::new(false));
    let resync = Duration::from_millis(settings.cache.resync_interval_ms.max(10));
    let worker = background(Arc::clone(&core), resync, Arc::clone(&stop));
    let workers = settings
        .server
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    println!("keyward listening on http://{addr} (issuer {public_url})");
    log::info!("listening on http://{addr}");
    let data_core = web::Data::from(Arc::clone(&core));
    let data_validator = web::Data::from(Arc::clone(core.validator()));
    let result = actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(data_core.clone())
                .app_data(data_validator.clone())
                // The path without the query string: credentials sent in a URL by
                // mistake never reach the log.
                .wrap(
                    middleware::Logger::new("%a \"%{path}xi\" %s %b %Dms")
                        .custom_request_replace("path", |req| {
                            format!("{} {}", req.method(), req.path())
                        }),
                )
                .configure(keyward_http::configure)
        })
        .workers(workers)
        .listen(listener)?
        .run()
        .await
    });
    stop.store(true, Ordering::Release);
    let _ = worker.join();
    result.context("serving")
}
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
                .app_data(limits)
                .wrap(middleware::from_fn(keyward_http::track_requests))
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
