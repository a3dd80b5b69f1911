//! [`DieselStore`]: the [`Store`](crate::Store) on SQLite or PostgreSQL through diesel.
//!
//! One module per aggregate, each implementing its trait directly: `environments`
//! ([`EnvironmentStore`](crate::EnvironmentStore)), `roles` ([`RoleStore`](crate::RoleStore)),
//! `apps` ([`AppStore`](crate::AppStore)), `admins` ([`AdminStore`](crate::AdminStore)),
//! `keys` ([`SigningKeyStore`](crate::SigningKeyStore)), `feed`
//! ([`ChangeFeed`](crate::ChangeFeed), the change row every write appends, and the
//! feed's horizon). `live` implements [`LiveSource`](crate::LiveSource) from the read
//! queries those modules own; `page` cuts keyset pages; `models` and `schema` are
//! diesel's view of the tables; `connection` is the connection ([`Db`], one diesel
//! `MultiConnection` over both backends) and the pool's manager; `listen` is
//! PostgreSQL's LISTEN side ([`ChangeListener`]).
//!
//! Every query is written once, against [`Db`]. The few statements that differ by
//! backend match on it: how a write transaction begins (`BEGIN IMMEDIATE` on SQLite,
//! which needs it for a transaction that reads before it writes; a plain `BEGIN` at
//! READ COMMITTED on PostgreSQL), and the change feed's sequence numbers and horizon.
//! Rules that must hold under concurrency are conditional writes whose row count
//! decides (see each method's comment): none depends on writers being serialised.

mod admins;
mod apps;
mod audit;
mod connection;
mod credentials;
mod environments;
mod federation;
mod feed;
mod keys;
#[cfg(feature = "postgres")]
mod listen;
mod live;
mod models;
mod oauth;
mod page;
mod roles;
mod schema;
mod sessions;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::{Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub(crate) use connection::Db;
pub use connection::{redact as redact_url, Backend};
#[cfg(feature = "postgres")]
pub use listen::ChangeListener;

#[cfg(feature = "postgres")]
use connection::redact;
use connection::{parse_url, Manager, Target};

use crate::{StoreError, StoreResult};

#[cfg(feature = "sqlite")]
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
#[cfg(feature = "postgres")]
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The advisory lock PostgreSQL instances take around migrations, so instances that
/// start together migrate one after the other (any fixed 64-bit number; "keyward\0").
#[cfg(feature = "postgres")]
const MIGRATION_LOCK: i64 = 0x6b65_7977_6172_6400;

/// The advisory lock held through first-start work (signing key, bootstrap), so
/// instances starting together on one PostgreSQL database do it once ("keyward\x01").
#[cfg(feature = "postgres")]
const STARTUP_LOCK: i64 = 0x6b65_7977_6172_6401;

/// How long a start waits for another instance's first-start work.
#[cfg(feature = "postgres")]
const STARTUP_LOCK_WAIT_MS: u64 = 120_000;

/// Held while a process does first-start work on the database (see
/// [`DieselStore::lock_startup`]); released on drop.
pub struct StartupLock {
    #[cfg(feature = "postgres")]
    _conn: Option<diesel::PgConnection>,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `postgres://…` (or `postgresql://…`) for PostgreSQL; `sqlite://PATH`,
    /// `sqlite:PATH` or a plain file path for SQLite.
    pub url: String,
    /// Most connections held open at once.
    pub pool_size: u32,
    /// How long a statement waits on a lock, and a caller on a free connection,
    /// before the store answers `Unavailable`.
    pub busy_timeout: Duration,
    /// Run pending migrations (and, on SQLite, set WAL mode) while opening. An embedded
    /// validator that only reads Keyward's database opens it without.
    pub migrate: bool,
}

impl StoreOptions {
    /// Options for a SQLite file with the defaults (pool of 8, 5 s busy timeout, migrate).
    pub fn sqlite(path: impl AsRef<Path>) -> Self {
        Self::url(path.as_ref().to_string_lossy().into_owned())
    }

    /// Options for a database URL (`postgres://…` or a SQLite path) with the defaults
    /// (pool of 8, 5 s busy timeout, migrate).
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 8,
            busy_timeout: Duration::from_secs(5),
            migrate: true,
        }
    }

    /// The database file these options name (`url` without its `sqlite:` prefix), or
    /// `None` for PostgreSQL; an error for a URL no backend accepts.
    pub fn file_path(&self) -> StoreResult<Option<PathBuf>> {
        match parse_url(&self.url)? {
            Target::Sqlite(path) => Ok(Some(path)),
            Target::Postgres(_) => Ok(None),
        }
    }

    /// Which backend these options name.
    pub fn backend(&self) -> StoreResult<Backend> {
        match parse_url(&self.url)? {
            Target::Sqlite(_) => Ok(Backend::Sqlite),
            Target::Postgres(_) => Ok(Backend::Postgres),
        }
    }
}

/// Keyward's storage on a SQLite database file or a PostgreSQL database, shared by a
/// bounded connection pool.
///
/// On SQLite the store remembers which file it opened (device and inode). Every
/// connection taken from the pool, and every write transaction again just before it
/// commits, checks that the path still names that file: a database deleted or replaced
/// under a running process answers `Unavailable` (503 at the HTTP layer) instead of
/// acknowledging writes into an unlinked inode. Pool connections open the file with
/// SQLite's `mode=rw`, so a missing file is never silently re-created empty.
///
/// On PostgreSQL a connection that fails (the server restarted, the network dropped)
/// is discarded by the pool and a new one is made on the next call, so the store
/// recovers by itself once the server answers again; meanwhile calls answer
/// `Unavailable`.
pub struct DieselStore {
    pool: Pool<Manager>,
    backend: Backend,
    /// The SQLite file and its identity; `None` on PostgreSQL.
    file: Option<(PathBuf, FileId)>,
    /// The URL it was opened with (PostgreSQL: for the listening connection).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    url: String,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    busy_timeout_ms: u64,
    /// Whether the pool's last attempt to connect failed (see `DOWN_WAIT`).
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// PostgreSQL: how long a call waits for a connection before it asks whether the server
/// is down (the last attempt to connect failed); if it is, the call answers
/// `Unavailable` at once instead of waiting the busy timeout, while the pool keeps
/// trying to reconnect.
const DOWN_WAIT: Duration = Duration::from_millis(250);

/// The identity of the database file: device and inode numbers. A path that now names
/// another file (deleted and re-created, or replaced by a rename) has another identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file `path` names (following symbolic links).
    fn of(path: &Path) -> std::io::Result<FileId> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Ok(FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            // No inode numbers: only the file's presence is checked.
            let _ = meta;
            Ok(FileId { dev: 0, ino: 0 })
        }
    }
}

/// Creates the database file with mode 0600 if it does not exist, so SQLite (which
/// gives `-wal` and `-shm` the mode of the database file) never creates it with the
/// process umask. Returns whether it was created.
#[cfg(feature = "sqlite")]
fn create_database_file(path: &Path) -> StoreResult<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Narrows the database file and its `-wal` and `-shm` companions to mode 0600 when
/// group or others may access them (earlier builds let SQLite create them with
/// the process umask, typically 0644, and SQLite keeps a file's mode).
#[cfg(all(unix, feature = "sqlite"))]
fn tighten_modes(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    for file in files {
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if !meta.is_file() || mode & 0o077 == 0 {
            continue;
        }
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => log::warn!(
                "{} was accessible by group or others (mode {mode:o}); set it to 0600",
                file.display()
            ),
            Err(e) => log::warn!(
                "{} is accessible by group or others (mode {mode:o}) and could not be \
                 narrowed to 0600: {e}",
                file.display()
            ),
        }
    }
}

#[cfg(all(not(unix), feature = "sqlite"))]
fn tighten_modes(_path: &Path) {}

/// A SQLite URI for `path` that opens the file read-write but never creates it
/// (`mode=rw`): a pool connection opened after the file was deleted fails instead of
/// starting an empty database in its place.
#[cfg(feature = "sqlite")]
fn sqlite_uri(path: &Path) -> StoreResult<String> {
    let absolute = std::path::absolute(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot resolve {}: {e}", path.display())))?;
    let text = absolute.to_str().ok_or_else(|| {
        StoreError::Unavailable(format!(
            "the database path {} is not valid UTF-8",
            absolute.display()
        ))
    })?;
    // `file://` + an absolute path (which starts with `/`) leaves the authority empty.
    let mut uri = String::with_capacity(text.len() + 16);
    uri.push_str("file://");
    for ch in text.chars() {
        match ch {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3F"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=rw");
    Ok(uri)
}

fn busy_ms(options: &StoreOptions) -> u64 {
    u64::try_from(options.busy_timeout.as_millis()).unwrap_or(5000)
}

/// The pool over `manager`; building it makes the first connection, so a database
/// that cannot be reached fails here.
fn build_pool(options: &StoreOptions, manager: Manager) -> StoreResult<Pool<Manager>> {
    Pool::builder()
        .max_size(options.pool_size.max(1))
        .min_idle(Some(1))
        .connection_timeout(options.busy_timeout.max(Duration::from_millis(100)))
        // Failures reach callers as `Unavailable` and the log once per outage (the
        // background thread), not once per reconnection attempt.
        .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
        .build(manager)
        .map_err(|e| StoreError::Unavailable(format!("connection pool: {e}")))
}

impl DieselStore {
    /// Opens the database named by `options.url`, runs migrations when asked, and fills
    /// the pool.
    ///
    /// SQLite: with `migrate`, a missing database file is created first with mode 0600,
    /// and an existing one (with its `-wal` and `-shm`) is narrowed to 0600 if group or
    /// others may access it. Without `migrate`, a missing file is an error.
    ///
    /// PostgreSQL: one connection is made first, so a wrong password, an unknown host
    /// or a missing database fails here with the server's own words (the URL's
    /// password is never repeated). Migrations run under an advisory lock, so
    /// instances starting together migrate one after the other.
    pub fn open(options: &StoreOptions) -> StoreResult<Self> {
        match parse_url(&options.url)? {
            Target::Sqlite(path) => Self::open_sqlite(options, path),
            Target::Postgres(url) => Self::open_postgres(options, url),
        }
    }

    #[cfg(feature = "sqlite")]
    fn open_sqlite(options: &StoreOptions, path: PathBuf) -> StoreResult<Self> {
        use diesel::connection::SimpleConnection;
        if options.migrate {
            create_database_file(&path)?;
            tighten_modes(&path);
        } else if !path.exists() {
            return Err(StoreError::Unavailable(format!(
                "no database at {}",
                path.display()
            )));
        }
        let url = sqlite_uri(&path)?;
        let file = FileId::of(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        if options.migrate {
            // WAL is a property of the file: set it once, before the pool opens.
            let mut conn = diesel::SqliteConnection::establish(&url).map_err(|e| {
                StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
            })?;
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL;",
                options.busy_timeout.as_millis()
            ))
            .map_err(unavailable)?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| StoreError::Unavailable(format!("migrations failed: {e}")))?;
        }
        let manager = Manager::new(url, Backend::Sqlite, busy_ms(options));
        let down = manager.down_flag();
        let pool = build_pool(options, manager)?;
        let store = Self {
            pool,
            backend: Backend::Sqlite,
            file: Some((path, file)),
            url: options.url.clone(),
            busy_timeout_ms: busy_ms(options),
            down,
        };
        // The file may have been swapped while it was being opened.
        store.check_file()?;
        Ok(store)
    }

    #[cfg(not(feature = "sqlite"))]
    fn open_sqlite(_options: &StoreOptions, _path: PathBuf) -> StoreResult<Self> {
        Err(StoreError::Unavailable(
            "this build of Keyward has no SQLite support".into(),
        ))
    }

    #[cfg(feature = "postgres")]
    fn open_postgres(options: &StoreOptions, url: String) -> StoreResult<Self> {
        use diesel::connection::SimpleConnection;
        use diesel::RunQueryDsl;
        let shown = redact(&url);
        let mut conn = diesel::PgConnection::establish(&url).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {shown}: {}",
                e.to_string().trim()
            ))
        })?;
        conn.batch_execute(&connection::pg_session_setup(busy_ms(options)))
            .map_err(unavailable)?;
        if options.migrate {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(&mut conn)
                .map_err(unavailable)?;
            let migrated = conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|_| ())
                .map_err(|e| StoreError::Unavailable(format!("migrations failed: {e}")));
            // Also released when the connection closes, which follows at once.
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(&mut conn);
            migrated?;
        }
        drop(conn);
        let manager = Manager::new(url.clone(), Backend::Postgres, busy_ms(options));
        let down = manager.down_flag();
        let pool = build_pool(options, manager)?;
        Ok(Self {
            pool,
            backend: Backend::Postgres,
            file: None,
            url,
            busy_timeout_ms: busy_ms(options),
            down,
        })
    }

    #[cfg(not(feature = "postgres"))]
    fn open_postgres(_options: &StoreOptions, _url: String) -> StoreResult<Self> {
        Err(StoreError::Unavailable(
            "this build of Keyward has no PostgreSQL support".into(),
        ))
    }

    /// The database file (SQLite), or `None` (PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Writes a consistent copy of the SQLite database to `to` (a new file) while the
    /// server keeps running: `VACUUM INTO`, one read transaction, so the copy is the
    /// database as of one instant, compacted, whatever writes go on meanwhile. On
    /// PostgreSQL, back up with `pg_dump` instead (refused here).
    pub fn backup_to(&self, to: &Path) -> StoreResult<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Unavailable(
                "backup_to copies SQLite databases; back PostgreSQL up with pg_dump".into(),
            ));
        }
        if to.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} exists: a backup is written to a new file",
                to.display()
            )));
        }
        let target = to.to_str().ok_or_else(|| {
            StoreError::Unavailable(format!("{} is not a UTF-8 path", to.display()))
        })?;
        use diesel::RunQueryDsl;
        let mut conn = self.conn()?;
        diesel::sql_query("VACUUM INTO ?")
            .bind::<diesel::sql_types::Text, _>(target)
            .execute(&mut *conn)
            .map_err(map_err)?;
        tighten_modes(to);
        Ok(())
    }

    /// A connection that listens for the change feed's notifications (PostgreSQL), made
    /// apart from the pool and never returned to it; `None` on SQLite, whose feed is
    /// only polled.
    #[cfg(feature = "postgres")]
    pub fn change_listener(&self) -> StoreResult<Option<ChangeListener>> {
        match self.backend {
            Backend::Postgres => ChangeListener::connect(&self.url, self.busy_timeout_ms).map(Some),
            Backend::Sqlite => Ok(None),
        }
    }

    /// Serialises first-start work (creating the first signing key, bootstrapping the
    /// first admin) with other processes on the same database, until the returned lock
    /// is dropped. On PostgreSQL that is a session advisory lock on a connection of its
    /// own (waiting up to two minutes for another instance's start); on SQLite nothing
    /// (the data directory's lock file already serialises processes on one file).
    pub fn lock_startup(&self) -> StoreResult<StartupLock> {
        match self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                use diesel::connection::SimpleConnection;
                let mut conn = diesel::PgConnection::establish(&self.url).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot connect to PostgreSQL at {}: {}",
                        redact(&self.url),
                        e.to_string().trim()
                    ))
                })?;
                conn.batch_execute(&format!(
                    "SET lock_timeout = {STARTUP_LOCK_WAIT_MS}; SELECT pg_advisory_lock({STARTUP_LOCK});"
                ))
                .map_err(|e| StoreError::Unavailable(format!("start-up lock: {e}")))?;
                Ok(StartupLock { _conn: Some(conn) })
            }
            _ => Ok(StartupLock {
                #[cfg(feature = "postgres")]
                _conn: None,
            }),
        }
    }

    /// Whether the database path still names the file this store opened: `Unavailable`
    /// when it was deleted or replaced (one `stat`). Always `Ok` on PostgreSQL.
    fn check_file(&self) -> StoreResult<()> {
        let Some((path, opened)) = &self.file else {
            return Ok(());
        };
        match FileId::of(path) {
            Ok(id) if id == *opened => Ok(()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "the database file {} was replaced after it was opened; \
                 restart to use the new file",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::Unavailable(format!(
                    "the database file {} was deleted after it was opened",
                    path.display()
                )))
            }
            Err(e) => Err(StoreError::Unavailable(format!(
                "cannot check the database file {}: {e}",
                path.display()
            ))),
        }
    }

    /// A pooled connection, once the database file is checked to be the one opened.
    /// Every storage call goes through here (reads that caches answer never do), so a
    /// deleted or replaced file answers `Unavailable`, never data from an orphaned file.
    fn conn(&self) -> StoreResult<PooledConnection<Manager>> {
        self.check_file()?;
        let got = match self.backend {
            Backend::Postgres => match self.pool.get_timeout(DOWN_WAIT) {
                Ok(conn) => Ok(conn),
                Err(e) if self.down.load(std::sync::atomic::Ordering::Relaxed) => Err(e),
                // Every connection busy: wait the rest of the busy timeout.
                Err(_) => self.pool.get_timeout(
                    Duration::from_millis(self.busy_timeout_ms)
                        .saturating_sub(DOWN_WAIT)
                        .max(Duration::from_millis(1)),
                ),
            },
            Backend::Sqlite => self.pool.get(),
        };
        got.map_err(|e| StoreError::Unavailable(format!("no database connection: {e}")))
    }

    /// Runs `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (a deferred
    /// transaction that reads then writes fails with `SQLITE_BUSY` under concurrent
    /// writers), a plain `BEGIN` (READ COMMITTED) on PostgreSQL. The invariants do not
    /// rest on the kind of transaction: each is a conditional write whose row count
    /// decides. On SQLite the database file is checked before the transaction and
    /// again before it commits. A failure or a panic in `f` rolls back.
    ///
    /// Inside [`Transactions::transaction`](crate::Transactions::transaction) on this
    /// thread, the write joins that transaction (as a savepoint: a failed write undoes
    /// only itself, and the caller decides whether the whole fails).
    fn write<T>(&self, f: impl FnOnce(&mut Db) -> StoreResult<T>) -> StoreResult<T> {
        let key = self.ambient_key();
        let mut f = Some(f);
        let joined = AMBIENT.with_borrow_mut(|open| {
            let (_, conn) = open.iter_mut().find(|(k, _)| *k == key)?;
            let f = f.take()?;
            Some(
                conn.transaction::<T, TxError, _>(|c| f(c).map_err(TxError::Store))
                    .map_err(TxError::into_store),
            )
        });
        if let Some(result) = joined {
            return result;
        }
        let Some(f) = f else {
            return Err(StoreError::Unavailable("write closure already used".into()));
        };
        let mut tx = OpenTransaction::begin(self.conn()?)?;
        let value = f(tx.conn()?)?;
        // Checked again just before COMMIT: the file may have gone while this
        // transaction waited for the write lock; then it rolls back (on drop).
        self.check_file()?;
        tx.commit()?;
        Ok(value)
    }

    /// What identifies this store in [`AMBIENT`]: its address (a store is shared behind
    /// an `Arc` and never moves while a transaction is open on it).
    fn ambient_key(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    fn read<T>(&self, f: impl FnOnce(&mut Db) -> Result<T, DieselError>) -> StoreResult<T> {
        let mut conn = self.conn()?;
        f(&mut conn).map_err(map_err)
    }
}

/// Begins a write transaction on `conn` the way its backend needs (see
/// [`DieselStore::write`]).
fn begin_write(conn: &mut Db) -> StoreResult<()> {
    match conn {
        #[cfg(feature = "sqlite")]
        Db::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").map_err(map_err)
        }
        #[cfg(feature = "postgres")]
        Db::Pg(c) => {
            <AnsiTransactionManager as TransactionManager<diesel::PgConnection>>::begin_transaction(
                c,
            )
            .map_err(map_err)
        }
    }
}

fn commit(conn: &mut Db) -> StoreResult<()> {
    <Db as TransactionManager<Db>>::commit_transaction(conn).map_err(map_err)
}

fn rollback(conn: &mut Db) {
    let _ = <Db as TransactionManager<Db>>::rollback_transaction(conn);
}

/// A write transaction on a pooled connection: rolled back when dropped uncommitted
/// (an error or a panic in the work), so a connection never returns to the pool with a
/// transaction open.
struct OpenTransaction {
    conn: Option<PooledConnection<Manager>>,
}

impl OpenTransaction {
    fn begin(mut conn: PooledConnection<Manager>) -> StoreResult<Self> {
        begin_write(&mut conn)?;
        Ok(Self { conn: Some(conn) })
    }

    fn conn(&mut self) -> StoreResult<&mut Db> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Unavailable("transaction already ended".into()))
    }

    fn commit(mut self) -> StoreResult<()> {
        match self.conn.take() {
            Some(mut conn) => commit(&mut conn),
            None => Err(StoreError::Unavailable("transaction already ended".into())),
        }
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            rollback(&mut conn);
        }
    }
}

thread_local! {
    /// The transactions this thread has open through `Transactions::transaction`, by
    /// store: writes made inside one join it instead of opening their own.
    static AMBIENT: std::cell::RefCell<Vec<(usize, PooledConnection<Manager>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Ends an ambient transaction however `work` ends (a panic included): takes its
/// connection out of [`AMBIENT`] and rolls back unless committed.
struct AmbientGuard {
    key: usize,
}

impl AmbientGuard {
    fn take(&self) -> Option<PooledConnection<Manager>> {
        AMBIENT.with_borrow_mut(|open| {
            let i = open.iter().position(|(k, _)| *k == self.key)?;
            Some(open.swap_remove(i).1)
        })
    }
}

impl Drop for AmbientGuard {
    fn drop(&mut self) {
        if let Some(mut conn) = self.take() {
            rollback(&mut conn);
        }
    }
}

impl crate::Transactions for DieselStore {
    fn transaction(&self, work: &mut dyn FnMut() -> StoreResult<()>) -> StoreResult<()> {
        let key = self.ambient_key();
        if AMBIENT.with_borrow(|open| open.iter().any(|(k, _)| *k == key)) {
            return work(); // nested: joins the outer transaction
        }
        let mut conn = self.conn()?;
        // What `write` uses: BEGIN IMMEDIATE on SQLite, BEGIN on PostgreSQL.
        begin_write(&mut conn)?;
        AMBIENT.with_borrow_mut(|open| open.push((key, conn)));
        let guard = AmbientGuard { key };
        let outcome = work().and_then(|()| self.check_file());
        let Some(mut conn) = guard.take() else {
            return Err(StoreError::Unavailable(
                "transaction connection lost".into(),
            ));
        };
        match outcome {
            Ok(()) => commit(&mut conn),
            Err(e) => {
                rollback(&mut conn);
                Err(e)
            }
        }
    }
}

/// The error type of a transaction closure: our own error, or diesel's from BEGIN/COMMIT.
enum TxError {
    Store(StoreError),
    Db(DieselError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        TxError::Db(e)
    }
}

impl TxError {
    fn into_store(self) -> StoreError {
        match self {
            TxError::Store(e) => e,
            TxError::Db(e) => map_err(e),
        }
    }
}

fn unavailable(e: DieselError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps a diesel error where no more specific meaning applies.
fn map_err(e: DieselError) -> StoreError {
    match e {
        DieselError::NotFound => StoreError::NotFound,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::NameTaken,
        DieselError::DeserializationError(e) => StoreError::Corrupt(e.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Maps a unique violation to `NameTaken`, anything else as usual.
fn name_taken_or(e: DieselError) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::NameTaken
    } else {
        map_err(e)
    }
}

/// Applies a keyset cursor over `(created_at, id)` and the matching order to a boxed
/// query, and fetches one row more than the page so the caller knows if another follows.
macro_rules! keyset_page {
    ($query:expr, $created_at:expr, $id:expr, $order:expr, $limit:expr, $cursor:expr) => {{
        let mut q = $query;
        if let Some(c) = $cursor {
            let at = $crate::sql::to_db_time(c.created_at);
            q = match $order {
                SortOrder::Desc => {
                    q.filter($created_at.lt(at).or($created_at.eq(at).and($id.lt(c.id))))
                }
                SortOrder::Asc => {
                    q.filter($created_at.gt(at).or($created_at.eq(at).and($id.gt(c.id))))
                }
            };
        }
        q = match $order {
            SortOrder::Desc => q.order(($created_at.desc(), $id.desc())),
            SortOrder::Asc => q.order(($created_at.asc(), $id.asc())),
        };
        q.limit(i64::from($limit.get()) + 1)
    }};
}
pub(crate) use keyset_page;

/// Timestamps are stored as naive UTC with microsecond precision (what every backend keeps).
fn to_db_time(t: DateTime<Utc>) -> NaiveDateTime {
    DateTime::<Utc>::from_timestamp_micros(t.timestamp_micros())
        .unwrap_or(t)
        .naive_utc()
}

fn from_db_time(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A case-insensitive `LIKE` pattern matching `needle` anywhere, with `%`, `_` and `\`
/// in the needle escaped (used with `ESCAPE '\'`).
fn contains_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for ch in needle.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

diesel::define_sql_function! {
    /// SQL `lower()`.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod test_db;
#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod tests;

#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod audit_tests;
#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod credential_tests;
#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod feed_tests;
#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod oauth_tests;
#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod rule_tests;
#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod transaction_tests;
#[cfg(test)]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod user_tests;

/// The database file's identity and modes (issue 19: F5, F10): SQLite only.
#[cfg(test)]
#[cfg(feature = "sqlite")]
mod file_tests {
    use chrono::Utc;
    use keyward_domain::{EnvironmentName, EnvironmentSlug};

    use super::{DieselStore, StoreOptions};
    use crate::{EnvironmentStore, LiveSource, NewEnvironment, StoreError};

    fn open(dir: &tempfile::TempDir) -> DieselStore {
        DieselStore::open(&StoreOptions::sqlite(dir.path().join("k.db"))).unwrap()
    }

    fn create_env(store: &DieselStore, slug: &str) -> Result<(), StoreError> {
        store
            .create_environment(
                &NewEnvironment {
                    slug: EnvironmentSlug::parse(slug).unwrap(),
                    name: EnvironmentName::parse(slug).unwrap(),
                },
                Utc::now(),
            )
            .map(|_| ())
    }

    fn remove_database(dir: &tempfile::TempDir) {
        for name in ["k.db", "k.db-wal", "k.db-shm"] {
            let _ = std::fs::remove_file(dir.path().join(name));
        }
    }

    #[test]
    fn a_deleted_database_file_fails_ping_reads_and_writes_and_is_not_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        create_env(&store, "before").unwrap();
        store.ping().unwrap();
        remove_database(&dir);
        assert!(matches!(store.ping(), Err(StoreError::Unavailable(_))));
        assert!(matches!(
            create_env(&store, "after"),
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.latest_change(),
            Err(StoreError::Unavailable(_))
        ));
        assert!(
            !dir.path().join("k.db").exists(),
            "no connection re-created an empty database file"
        );
        // A connection opened now (mode=rw) fails rather than creating the file.
        let uri = super::sqlite_uri(&dir.path().join("k.db")).unwrap();
        use diesel::Connection;
        assert!(diesel::SqliteConnection::establish(&uri).is_err());
        assert!(!dir.path().join("k.db").exists());
    }

    #[test]
    fn a_replaced_database_file_fails_ping_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        create_env(&store, "before").unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(dir.path().join("k.db"), &copy).unwrap();
        std::fs::rename(&copy, dir.path().join("k.db")).unwrap();
        assert!(matches!(store.ping(), Err(StoreError::Unavailable(_))));
        assert!(matches!(
            create_env(&store, "after"),
            Err(StoreError::Unavailable(_))
        ));
        // A store opened now uses the new file.
        drop(store);
        let store = open(&dir);
        store.ping().unwrap();
        create_env(&store, "after").unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn database_files_are_created_0600_and_loose_ones_narrowed() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .permissions()
                .mode()
                & 0o777
        };
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        create_env(&store, "one").unwrap();
        for name in ["k.db", "k.db-wal", "k.db-shm"] {
            assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
        }
        drop(store);
        let db = dir.path().join("k.db");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _store = open(&dir);
        assert_eq!(mode(&db), 0o600, "narrowed at open");
    }

    #[test]
    fn paths_with_uri_characters_open() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a?b#c%20d");
        std::fs::create_dir(&sub).unwrap();
        let store = DieselStore::open(&StoreOptions::sqlite(sub.join("k.db"))).unwrap();
        create_env(&store, "one").unwrap();
        assert!(sub.join("k.db").exists());
    }
}
