//! The connection every query runs on ([`Db`]: SQLite or PostgreSQL, one diesel
//! `MultiConnection`), what a database URL names ([`Target`]), and the pool's manager
//! ([`Manager`]), which picks the backend by the URL's scheme and sets each new
//! connection up. `AnyConnection::establish`-style guessing is avoided on purpose: it
//! hides the real error ("password authentication failed", "database … does not exist")
//! behind "invalid connection url", and a libpq-style string can silently become the
//! name of a new SQLite file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, R2D2Connection};
use diesel::Connection;

use crate::{StoreError, StoreResult};

#[cfg(feature = "postgres")]
use diesel::pg::PgConnection;
#[cfg(feature = "sqlite")]
use diesel::sqlite::SqliteConnection;

/// The connection type every query is written against.
#[cfg(all(feature = "sqlite", feature = "postgres"))]
#[derive(diesel::MultiConnection)]
pub enum Db {
    /// A SQLite database file.
    Sqlite(SqliteConnection),
    /// A PostgreSQL database.
    Pg(PgConnection),
}

/// The connection type every query is written against.
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
#[derive(diesel::MultiConnection)]
pub enum Db {
    /// A SQLite database file.
    Sqlite(SqliteConnection),
}

/// The connection type every query is written against.
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
#[derive(diesel::MultiConnection)]
pub enum Db {
    /// A PostgreSQL database.
    Pg(PgConnection),
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite database file (one writer at a time).
    Sqlite,
    /// A PostgreSQL database (many writers, many instances).
    Postgres,
}

/// What a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`postgres://` or `postgresql://`).
    Postgres(String),
}

/// Reads a database URL: `postgres://…` / `postgresql://…` is PostgreSQL; `sqlite://PATH`,
/// `sqlite:PATH` or a plain path is a SQLite file. Anything else with a `://` is refused
/// (never taken as a file name).
pub(super) fn parse_url(url: &str) -> StoreResult<Target> {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return if cfg!(feature = "postgres") {
            Ok(Target::Postgres(url.trim().to_owned()))
        } else {
            Err(StoreError::Unavailable(
                "this build of Keyward has no PostgreSQL support (keyward-store feature `postgres`)"
                    .into(),
            ))
        };
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || path.contains(":memory:") || path.contains("://") {
        return Err(StoreError::Unavailable(format!(
            "`{}` is not a database Keyward can open (use postgres://…, sqlite://PATH or a path)",
            redact(url)
        )));
    }
    if !cfg!(feature = "sqlite") {
        return Err(StoreError::Unavailable(
            "this build of Keyward has no SQLite support (keyward-store feature `sqlite`)".into(),
        ));
    }
    Ok(Target::Sqlite(PathBuf::from(path)))
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest_start = scheme_end + 3;
    let rest = url.get(rest_start..).unwrap_or("");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or("");
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = authority.get(..at).unwrap_or("");
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        url.get(..rest_start).unwrap_or(""),
        userinfo.get(..colon).unwrap_or(""),
        rest.get(at..).unwrap_or("")
    )
}

/// How pool connections are made: the backend's URL and per-connection settings.
#[derive(Debug)]
pub(super) struct Manager {
    /// SQLite: a `file:` URI opened with `mode=rw`; PostgreSQL: the connection string.
    url: String,
    backend: Backend,
    /// SQLite's `busy_timeout` and PostgreSQL's `lock_timeout`: how long a statement
    /// waits on a lock before the store answers `Unavailable`.
    busy_timeout_ms: u64,
    /// Whether the last attempt to make a connection failed (the database is down).
    down: Arc<AtomicBool>,
}

impl Manager {
    /// A manager for `url` (a SQLite URI or a PostgreSQL connection string).
    pub(super) fn new(url: String, backend: Backend, busy_timeout_ms: u64) -> Self {
        Self {
            url,
            backend,
            busy_timeout_ms,
            down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The flag that says whether the last attempt to make a connection failed.
    pub(super) fn down_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.down)
    }

    /// A new connection to the configured database, set up for Keyward.
    pub(super) fn establish(&self) -> Result<Db, diesel::r2d2::Error> {
        match self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                    self.busy_timeout_ms
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(Db::Sqlite(conn))
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(&pg_session_setup(self.busy_timeout_ms))
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(Db::Pg(conn))
            }
            #[allow(unreachable_patterns)]
            _ => Err(diesel::r2d2::Error::ConnectionError(
                diesel::ConnectionError::BadConnection("backend not compiled in".into()),
            )),
        }
    }
}

/// Every PostgreSQL session Keyward opens runs READ COMMITTED (the change feed's
/// horizon and the conditional writes are reasoned about at that level, whatever the
/// server's `default_transaction_isolation`), waits on a lock at most the busy timeout,
/// and works in UTC.
#[cfg(feature = "postgres")]
pub(super) fn pg_session_setup(busy_timeout_ms: u64) -> String {
    format!(
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED; \
         SET lock_timeout = {busy_timeout_ms}; SET TIME ZONE 'UTC';"
    )
}

impl ManageConnection for Manager {
    type Connection = Db;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Db, Self::Error> {
        let made = self.establish();
        self.down.store(made.is_err(), Ordering::Relaxed);
        made
    }

    fn is_valid(&self, conn: &mut Db) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Db) -> bool {
        conn.is_broken()
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_url, redact, Target};

    #[test]
    fn urls_pick_the_backend_by_scheme() {
        assert!(matches!(
            parse_url("postgres://u:p@localhost/k"),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            parse_url("postgresql://localhost/k"),
            Ok(Target::Postgres(_))
        ));
        assert_eq!(
            parse_url("sqlite:///tmp/k.db").ok(),
            Some(Target::Sqlite("/tmp/k.db".into()))
        );
        assert_eq!(
            parse_url("data/k.db").ok(),
            Some(Target::Sqlite("data/k.db".into()))
        );
        // Never a file named after another scheme.
        assert!(parse_url("mysql://localhost/k").is_err());
        assert!(parse_url("sqlite::memory:").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://keyward:s3cret@db:5432/k?sslmode=require"),
            "postgres://keyward:***@db:5432/k?sslmode=require"
        );
        assert_eq!(redact("postgres://db/k"), "postgres://db/k");
        assert_eq!(redact("postgres://user@db/k"), "postgres://user@db/k");
    }
}
