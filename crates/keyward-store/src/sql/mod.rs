//! [`DieselStore`]: the [`Store`](crate::Store) on SQLite through diesel.

mod admins;
mod apps;
mod environments;
mod models;
mod roles;
mod schema;
mod traits;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{ChangeSubject, StoreError, StoreResult};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The connection type every query is written against. A second backend becomes a
/// `#[derive(diesel::MultiConnection)]` enum here (see docs/ARCHITECTURE.md).
type Db = SqliteConnection;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH`, `sqlite:PATH` or a plain file path.
    pub url: String,
    /// Most connections held open at once.
    pub pool_size: u32,
    /// How long a statement waits on a lock, and a caller on a free connection,
    /// before the store answers `Unavailable`.
    pub busy_timeout: Duration,
    /// Run pending migrations (and set WAL mode) while opening. An embedded validator
    /// that only reads Keyward's database opens it without.
    pub migrate: bool,
}

impl StoreOptions {
    /// Options for a SQLite file with the defaults (pool of 8, 5 s busy timeout, migrate).
    pub fn sqlite(path: impl AsRef<Path>) -> Self {
        Self {
            url: path.as_ref().to_string_lossy().into_owned(),
            pool_size: 8,
            busy_timeout: Duration::from_secs(5),
            migrate: true,
        }
    }
}

/// Keyward's storage on a SQLite database file, shared by a bounded connection pool.
pub struct DieselStore {
    pool: Pool<ConnectionManager<Db>>,
    path: PathBuf,
}

#[derive(Debug)]
struct Pragmas {
    busy_timeout_ms: u64,
}

impl CustomizeConnection<Db, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Db) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

fn sqlite_path(url: &str) -> StoreResult<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || path.contains(":memory:") || path.contains("://") {
        return Err(StoreError::Unavailable(format!(
            "`{url}` is not a SQLite database file (use sqlite://PATH or a path)"
        )));
    }
    Ok(PathBuf::from(path))
}

impl DieselStore {
    /// Opens (creating if needed) the database, runs migrations when asked, and fills
    /// the pool.
    pub fn open(options: &StoreOptions) -> StoreResult<Self> {
        let path = sqlite_path(&options.url)?;
        let url = path.to_string_lossy().into_owned();
        if options.migrate {
            // WAL is a property of the file: set it once, before the pool opens.
            let mut conn = SqliteConnection::establish(&url)
                .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL;",
                options.busy_timeout.as_millis()
            ))
            .map_err(unavailable)?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| StoreError::Unavailable(format!("migrations failed: {e}")))?;
        } else if !path.exists() {
            return Err(StoreError::Unavailable(format!("no database at {url}")));
        }
        let pool = Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.busy_timeout.max(Duration::from_millis(100)))
            .connection_customizer(Box::new(Pragmas {
                busy_timeout_ms: u64::try_from(options.busy_timeout.as_millis()).unwrap_or(5000),
            }))
            .build(ConnectionManager::<Db>::new(url))
            .map_err(|e| StoreError::Unavailable(format!("connection pool: {e}")))?;
        Ok(Self { pool, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> StoreResult<PooledConnection<ConnectionManager<Db>>> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(format!("no database connection: {e}")))
    }

    /// Runs `f` in a write transaction. On SQLite that is `BEGIN IMMEDIATE`: a deferred
    /// transaction that reads then writes fails under concurrent writers.
    fn write<T>(&self, f: impl FnOnce(&mut Db) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn()?;
        conn.immediate_transaction::<T, TxError, _>(|c| f(c).map_err(TxError::Store))
            .map_err(TxError::into_store)
    }

    fn read<T>(&self, f: impl FnOnce(&mut Db) -> Result<T, DieselError>) -> StoreResult<T> {
        let mut conn = self.conn()?;
        f(&mut conn).map_err(map_err)
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

/// Appends a change-feed entry inside the caller's transaction.
fn record_change(conn: &mut Db, subject: &ChangeSubject, now: DateTime<Utc>) -> StoreResult<()> {
    use diesel::prelude::*;
    use schema::changes::dsl as c;
    let (kind, value) = models::encode_subject(subject);
    diesel::insert_into(c::changes)
        .values((
            c::subject_kind.eq(kind),
            c::subject.eq(value),
            c::at.eq(to_db_time(now)),
        ))
        .execute(conn)
        .map_err(map_err)?;
    Ok(())
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
mod tests;
