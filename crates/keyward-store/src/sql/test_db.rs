//! A fresh database per test: a SQLite file in a temporary directory, or — when
//! `KEYWARD_TEST_POSTGRES_URL` names a PostgreSQL server (any database on it; the role
//! must be allowed to create databases) — a new PostgreSQL database, dropped at the end.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::Connection;

use super::{DieselStore, StoreOptions};

/// The variable that switches the store tests to PostgreSQL.
pub(crate) const POSTGRES_URL_VAR: &str = "KEYWARD_TEST_POSTGRES_URL";

/// One test's database; dropping it removes it.
pub(crate) struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server's URL (to drop the database) and the database's name.
    postgres: Option<(String, String)>,
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let prefix = match base.get(authority_start..).and_then(|rest| rest.find('/')) {
        Some(slash) => base.get(..authority_start + slash).unwrap_or(base),
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

impl TestDb {
    /// A fresh, empty database on the backend the environment selects.
    pub(crate) fn new() -> TestDb {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(server) if !server.is_empty() => {
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let nanos = std::time::SystemTime::UNIX_EPOCH
                    .elapsed()
                    .map_or(0, |d| d.subsec_nanos());
                let name = format!(
                    "kw_store_{}_{}_{nanos}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = diesel::PgConnection::establish(&server)
                    .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}: {e}"));
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap_or_else(|e| panic!("creating {name}: {e}"));
                TestDb {
                    url: with_database(&server, &name),
                    _dir: None,
                    postgres: Some((server, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                TestDb {
                    url: dir.path().join("k.db").to_string_lossy().into_owned(),
                    _dir: Some(dir),
                    postgres: None,
                }
            }
        }
    }

    /// Whether this is a PostgreSQL database.
    pub(crate) fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Options for this database (pool of 8, 5 s busy timeout, migrate).
    pub(crate) fn options(&self) -> StoreOptions {
        StoreOptions::url(self.url.clone())
    }

    /// A store on it (migrated).
    pub(crate) fn open(&self) -> Arc<DieselStore> {
        Arc::new(DieselStore::open(&self.options()).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Runs `sql` behind the store's back, on a connection of its own.
    pub(crate) fn raw(&self, sql: &str) {
        if self.is_postgres() {
            let mut conn =
                diesel::PgConnection::establish(&self.url).unwrap_or_else(|e| panic!("{e}"));
            conn.batch_execute(sql).unwrap_or_else(|e| panic!("{e}"));
        } else {
            let mut conn =
                diesel::SqliteConnection::establish(&self.url).unwrap_or_else(|e| panic!("{e}"));
            conn.batch_execute(sql).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            if let Ok(mut admin) = diesel::PgConnection::establish(server) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u:p@h:5/postgres?sslmode=disable", "t1"),
        "postgres://u:p@h:5/t1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h:5", "t1"), "postgres://h:5/t1");
}
