//! `bench-seed`: the bulk loader of Keyward's scale benchmark (`scripts/bench-scale`,
//! docs/SCALE.md).
//!
//! Given the data directory of a Keyward instance that `keyward serve` has initialised
//! (its SQLite database `keyward.db` and its `master.key`), and with that server
//! stopped, it
//!
//! 1. inserts `--envs` environments (slugs `scale-000000`, …), each with its two
//!    built-in roles, one role `orders-reader` granting `orders:read`, and
//!    `--apps-per-env` ACTIVE client apps holding that role, each with a current secret
//!    (`client_app_secrets`) — straight into the database, in large transactions of
//!    multi-row `INSERT`s, with every environment's `client_app_count` quota counter set
//!    to the apps it holds;
//! 2. mints `--tokens` access tokens for the seeded apps (token `k` for app
//!    `k mod apps`), with the claims the server's client credentials grant builds
//!    ([`keyward_core::issue::access_token_claims`]) and signed by the instance's
//!    signing key (decrypted with the master key through [`KeyRing`]), one per line
//!    into `--tokens-out`.
//!
//! The shortcut: every app stores the **same** argon2id PHC string, computed once with
//! Keyward's own hasher and parameters for one generated secret (a million argon2
//! hashes would take hours). Each app still authenticates with that secret through
//! `POST /oauth2/token`; only the salt is shared. The secret, one seeded client ID and
//! the signing key's `kid` are written to `--env-out` as shell assignments.
//!
//! Nothing is written to the change feed or the audit log: the server must be stopped
//! while the loader runs, and reads everything lazily when it starts.

// A tool at the edge, like the server binary: it may read the wall clock and the OS RNG.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{sql_query, Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use keyward_core::hashing::SecretHasher;
use keyward_core::issue::{access_token_claims, ClaimsGrant};
use keyward_core::keys::{Algorithm, KeyRing, MasterKey};
use keyward_core::secret::{
    generate_client_id, generate_credential_id, generate_token_id, ClientSecret,
};
use keyward_domain::{BuiltinRole, Grants, Permission};
use keyward_store::{DieselStore, LiveSource, StoreOptions};
use rand_core::OsRng;

/// The permission every seeded app's role grants.
const PERMISSION: &str = "orders:read";
/// The name of the seeded role in each environment.
const ROLE_NAME: &str = "orders-reader";
/// Rows per multi-row `INSERT` statement.
const ROWS_PER_INSERT: usize = 500;
/// Environments per transaction.
const ENVS_PER_TRANSACTION: usize = 2_500;

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(
    name = "bench-seed",
    about = "Bulk-load client apps into a stopped Keyward's SQLite database and mint live access tokens"
)]
struct Args {
    /// The data directory of an instance `keyward serve` has initialised (holds
    /// `keyward.db` and `master.key`). The server must be stopped.
    #[arg(long)]
    data_dir: PathBuf,
    /// The database file (default: `<data-dir>/keyward.db`).
    #[arg(long)]
    database: Option<PathBuf>,
    /// The master key in base64 (default: read `<data-dir>/master.key`).
    #[arg(long, env = "KEYWARD__KEYS__MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// The server's public URL (`server.public_url`, without a trailing slash): the base
    /// of every environment's issuer.
    #[arg(long)]
    public_url: String,
    /// The tokens' audience (`tokens.audience`; default: the public URL).
    #[arg(long)]
    audience: Option<String>,
    /// Environments to create.
    #[arg(long, default_value_t = 50_000)]
    envs: usize,
    /// Client apps per environment (the server's default quota,
    /// `limits.client_apps_per_environment`, is 20).
    #[arg(long, default_value_t = 20)]
    apps_per_env: usize,
    /// Access tokens to mint (token `k` for seeded app `k mod apps`).
    #[arg(long, default_value_t = 1_000_000)]
    tokens: usize,
    /// Where to write the minted tokens, one per line.
    #[arg(long)]
    tokens_out: Option<PathBuf>,
    /// Where to write `SEED_SECRET=…`, `SEED_CLIENT_ID=…`, `SEED_ENV=…` and `SEED_KID=…`
    /// (shell assignments).
    #[arg(long)]
    env_out: Option<PathBuf>,
    /// Signing algorithm (`tokens.algorithm`).
    #[arg(long, default_value = "ES256")]
    algorithm: String,
    /// Token lifetime in seconds (`tokens.lifetime_seconds`).
    #[arg(long, default_value_t = 86_400)]
    lifetime: i64,
    /// Threads that sign tokens (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("bench-seed: {e:#}");
        std::process::exit(1);
    }
}

/// One seeded app, as token minting needs it.
struct SeededApp {
    client_id: String,
    env: usize,
}

fn run(args: &Args) -> anyhow::Result<()> {
    if args.envs == 0 || args.apps_per_env == 0 {
        bail!("--envs and --apps-per-env must be at least 1");
    }
    if args.apps_per_env > 20 {
        eprintln!(
            "note: {} apps per environment is above the server's default quota (20); the \
             counter is set to the real count, the server only refuses further apps",
            args.apps_per_env
        );
    }
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| args.data_dir.join("keyward.db"));
    if !std::fs::metadata(&database).is_ok_and(|m| m.len() > 0) {
        bail!(
            "{} is missing or empty: start `keyward serve` on the data directory once to \
             initialise it, then stop it",
            database.display()
        );
    }
    let master = load_master_key(args)?;
    let algorithm =
        Algorithm::parse(&args.algorithm).map_err(|e| anyhow::anyhow!("--algorithm: {e}"))?;
    let ring = load_key_ring(&database, algorithm, &master)?;
    println!("signing key: kid {} ({algorithm})", ring.signing_kid());

    let secret = ClientSecret::generate(&mut OsRng);
    let started = Instant::now();
    let hasher = SecretHasher::new(1, 1, &mut OsRng).context("argon2 hasher")?;
    let phc = hasher
        .hash(secret.expose().as_bytes(), &mut OsRng)
        .context("hashing the shared secret")?;
    println!(
        "one argon2id hash for every app ({:.0} ms): {}",
        ms(started.elapsed()),
        phc.split('$').take(4).collect::<Vec<_>>().join("$")
    );

    let mut conn = SqliteConnection::establish(&database.to_string_lossy())
        .with_context(|| format!("opening {}", database.display()))?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 5000; PRAGMA synchronous = OFF; PRAGMA cache_size = -524288; \
         PRAGMA temp_store = MEMORY;",
    )
    .context("setting pragmas")?;
    let apps = load(&mut conn, args, &phc, secret.hint())?;
    // Fold the write-ahead log into the database, so the server's start replays nothing.
    let started = Instant::now();
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA synchronous = FULL;")
        .context("checkpointing")?;
    println!("checkpoint: {:.1} s", started.elapsed().as_secs_f64());
    drop(conn);

    if let Some(path) = &args.env_out {
        let first = apps.first().context("no app was seeded")?;
        let text = format!(
            "SEED_SECRET={}\nSEED_CLIENT_ID={}\nSEED_ENV={}\nSEED_KID={}\n",
            secret.expose(),
            first.client_id,
            env_slug(first.env),
            ring.signing_kid()
        );
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.tokens > 0 {
        let path = args
            .tokens_out
            .as_deref()
            .context("--tokens-out is needed to mint tokens")?;
        mint(args, &ring, &apps, path)?;
    }
    Ok(())
}

/// The master key from `--master-key` / `KEYWARD__KEYS__MASTER_KEY`, or the data
/// directory's `master.key`.
fn load_master_key(args: &Args) -> anyhow::Result<MasterKey> {
    let text = match &args.master_key {
        Some(text) => text.clone(),
        None => {
            let path = args.data_dir.join("master.key");
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
        }
    };
    MasterKey::from_base64(&text).map_err(|e| anyhow::anyhow!("master key: {e}"))
}

/// The instance's signing keys, the signer's private key decrypted with `master`.
fn load_key_ring(
    database: &Path,
    algorithm: Algorithm,
    master: &MasterKey,
) -> anyhow::Result<KeyRing> {
    let store = DieselStore::open(&StoreOptions {
        url: database.to_string_lossy().into_owned(),
        pool_size: 1,
        busy_timeout: Duration::from_secs(5),
        migrate: false,
    })
    .context("opening the database")?;
    let records = store.signing_keys().context("reading the signing keys")?;
    KeyRing::load(&records, algorithm, master)
        .map_err(|e| anyhow::anyhow!("loading the signing key: {e}"))
}

/// A number read back by `SELECT … AS n`.
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn scalar(conn: &mut SqliteConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(sql_query(sql)
        .get_result::<Count>(conn)
        .with_context(|| sql.to_owned())?
        .n)
}

/// The slug of seeded environment `i`.
fn env_slug(i: usize) -> String {
    format!("scale-{i:06}")
}

/// A SQL string literal (the loader's values never hold a quote; escaped anyway).
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Inserts the environments, roles, apps, secrets and role bindings; returns the apps.
fn load(
    conn: &mut SqliteConnection,
    args: &Args,
    phc: &str,
    hint: &str,
) -> anyhow::Result<Vec<SeededApp>> {
    let taken = scalar(
        conn,
        "SELECT COUNT(*) AS n FROM environments WHERE slug LIKE 'scale-%'",
    )?;
    if taken > 0 {
        bail!(
            "the database already holds {taken} seeded environments (scale-…): seed a fresh \
             data directory"
        );
    }
    let now = quoted(
        &chrono::Utc::now()
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string(),
    );
    let permissions = Grants::from_permissions([Permission::parse(PERMISSION)?]).to_scope();
    let mut next_env = scalar(
        conn,
        "SELECT COALESCE(MAX(id), 0) + 1 AS n FROM environments",
    )?;
    let mut next_role = scalar(conn, "SELECT COALESCE(MAX(id), 0) + 1 AS n FROM roles")?;
    let mut next_app = scalar(
        conn,
        "SELECT COALESCE(MAX(id), 0) + 1 AS n FROM client_apps",
    )?;
    let mut next_secret = scalar(
        conn,
        "SELECT COALESCE(MAX(id), 0) + 1 AS n FROM client_app_secrets",
    )?;
    let total_apps = args.envs * args.apps_per_env;
    let mut apps = Vec::with_capacity(total_apps);
    let started = Instant::now();
    let mut rows = 0usize;
    let mut rng = OsRng;
    for first_env in (0..args.envs).step_by(ENVS_PER_TRANSACTION) {
        let last_env = (first_env + ENVS_PER_TRANSACTION).min(args.envs);
        let mut environments = Vec::new();
        let mut roles = Vec::new();
        let mut app_rows = Vec::new();
        let mut secrets = Vec::new();
        let mut bindings = Vec::new();
        for env in first_env..last_env {
            let env_id = next_env;
            next_env += 1;
            environments.push(format!(
                "({env_id},{},{},1,{},{now})",
                quoted(&env_slug(env)),
                quoted(&format!("Scale {env}")),
                args.apps_per_env
            ));
            for builtin in BuiltinRole::ALL {
                roles.push(format!(
                    "({next_role},{env_id},{},{},'',{now})",
                    quoted(builtin.name()),
                    quoted(builtin.key())
                ));
                next_role += 1;
            }
            let role_id = next_role;
            next_role += 1;
            roles.push(format!(
                "({role_id},{env_id},{},NULL,{},{now})",
                quoted(ROLE_NAME),
                quoted(&permissions)
            ));
            for j in 0..args.apps_per_env {
                let app_id = next_app;
                next_app += 1;
                let client_id = generate_client_id(&mut rng).as_str().to_owned();
                app_rows.push(format!(
                    "({app_id},{env_id},{},{},'ACTIVE',{now})",
                    quoted(&format!("bench app {j}")),
                    quoted(&client_id)
                ));
                secrets.push(format!(
                    "({next_secret},{},{app_id},{},{},{now})",
                    quoted(generate_credential_id(&mut rng).as_str()),
                    quoted(phc),
                    quoted(hint)
                ));
                next_secret += 1;
                bindings.push(format!("({app_id},{role_id})"));
                apps.push(SeededApp { client_id, env });
            }
        }
        rows += environments.len() + roles.len() + app_rows.len() + secrets.len() + bindings.len();
        conn.transaction(|conn| -> anyhow::Result<()> {
            insert(
                conn,
                "environments (id, slug, name, enabled, client_app_count, created_at)",
                &environments,
            )?;
            insert(
                conn,
                "roles (id, environment_id, name, builtin, permissions, created_at)",
                &roles,
            )?;
            insert(
                conn,
                "client_apps (id, environment_id, name, client_id, status, created_at)",
                &app_rows,
            )?;
            insert(
                conn,
                "client_app_secrets (id, public_id, app_id, secret_hash, hint, created_at)",
                &secrets,
            )?;
            insert(conn, "client_app_roles (app_id, role_id)", &bindings)?;
            Ok(())
        })?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "loaded {} environments, {} apps ({rows} rows) in {elapsed:.1} s: {:.0} apps/s, {:.0} rows/s",
        args.envs,
        total_apps,
        total_apps as f64 / elapsed,
        rows as f64 / elapsed
    );
    let (envs, counted, bound) = (
        scalar(
            conn,
            "SELECT COUNT(*) AS n FROM environments WHERE slug LIKE 'scale-%'",
        )?,
        scalar(
            conn,
            "SELECT COALESCE(SUM(client_app_count), 0) AS n FROM environments WHERE slug LIKE 'scale-%'",
        )?,
        scalar(
            conn,
            "SELECT COUNT(*) AS n FROM client_app_roles r JOIN client_apps a ON a.id = r.app_id \
             JOIN environments e ON e.id = a.environment_id WHERE e.slug LIKE 'scale-%'",
        )?,
    );
    let expected = i64::try_from(total_apps)?;
    if envs != i64::try_from(args.envs)? || counted != expected || bound != expected {
        bail!("check failed: {envs} environments, quota counters sum {counted}, {bound} bindings");
    }
    println!(
        "checked: {envs} environments, quota counters sum to {counted}, {bound} role bindings"
    );
    Ok(apps)
}

/// Multi-row `INSERT INTO {table} VALUES …`, `ROWS_PER_INSERT` rows per statement.
fn insert(conn: &mut SqliteConnection, table: &str, rows: &[String]) -> anyhow::Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!("INSERT INTO {table} VALUES {};", chunk.join(","));
        conn.batch_execute(&sql)
            .with_context(|| format!("inserting into {table}"))?;
    }
    Ok(())
}

/// Mints `args.tokens` tokens on `threads` threads into `path`, one per line.
fn mint(args: &Args, ring: &KeyRing, apps: &[SeededApp], path: &Path) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let out = Mutex::new(BufWriter::with_capacity(1 << 20, file));
    let audience = args
        .audience
        .clone()
        .unwrap_or_else(|| args.public_url.clone());
    let public_url = args.public_url.trim_end_matches('/');
    let scope = Grants::from_permissions([Permission::parse(PERMISSION)?]).to_scope();
    let iat = chrono::Utc::now().timestamp();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let started = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (out, audience, scope) = (&out, &audience, &scope);
                s.spawn(move || -> anyhow::Result<()> {
                    let mut rng = OsRng;
                    let mut batch = String::with_capacity(1 << 20);
                    for k in (t..args.tokens).step_by(threads) {
                        let app = &apps[k % apps.len()];
                        let claims = access_token_claims(
                            public_url,
                            &env_slug(app.env),
                            &app.client_id,
                            ClaimsGrant {
                                audience: audience.clone(),
                                scope: scope.clone(),
                                scope_restricted: false,
                                iat,
                                lifetime_secs: args.lifetime,
                            },
                            generate_token_id(&mut rng),
                        );
                        let token = ring
                            .sign(&claims)
                            .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
                        batch.push_str(&token);
                        batch.push('\n');
                        if batch.len() > (1 << 20) - 2048 {
                            flush(out, &mut batch)?;
                        }
                    }
                    flush(out, &mut batch)
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(result) => result?,
                Err(_) => bail!("a signing thread panicked"),
            }
        }
        Ok(())
    })?;
    out.into_inner()
        .map_err(|_| anyhow::anyhow!("a signing thread panicked"))?
        .flush()
        .with_context(|| format!("writing {}", path.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "minted {} tokens on {threads} threads in {elapsed:.1} s: {:.0} tokens/s -> {}",
        args.tokens,
        args.tokens as f64 / elapsed,
        path.display()
    );
    Ok(())
}

/// Appends `batch` to the shared output and empties it.
fn flush(out: &Mutex<BufWriter<File>>, batch: &mut String) -> anyhow::Result<()> {
    out.lock()
        .map_err(|_| anyhow::anyhow!("a signing thread panicked"))?
        .write_all(batch.as_bytes())
        .context("writing tokens")?;
    batch.clear();
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
