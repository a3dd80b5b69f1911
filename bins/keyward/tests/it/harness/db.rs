//! Storage probes: what a test needs to see or do in the server's database that the
//! HTTP API does not offer (a stored hash, a row count, a held lock). Each probe names
//! what the test needs, not how; the one place that knows how is the `match` on
//! [`Backend`] in each method.
//!
//! Which backend a test server runs on is chosen for the whole run:
//! `KEYWARD_TEST_BACKEND=postgres` with `KEYWARD_TEST_POSTGRES_URL` (a server whose
//! role may create databases) gives every data directory its own fresh PostgreSQL
//! database ([`database_url_for`]: a restart on the same directory finds the same
//! database); otherwise each server uses `keyward.db` in its data directory.
//!
//! Tests name no backend and open no connection of their own. Tests that are about the
//! SQLite file itself (its modes, deleting or replacing it: faults.rs) use
//! [`Server::db_path`] and say `SQLite-only` where they do.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::Server;

/// The storage a test server runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    /// `keyward.db` (with its `-wal` and `-shm` files) in the server's data directory.
    Sqlite { path: PathBuf },
    /// A PostgreSQL database of its own.
    Postgres { url: String },
}

/// The PostgreSQL server this run uses, when `KEYWARD_TEST_BACKEND=postgres`.
pub fn postgres_server() -> Option<String> {
    if std::env::var("KEYWARD_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    let url = std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .expect("KEYWARD_TEST_BACKEND=postgres needs KEYWARD_TEST_POSTGRES_URL");
    Some(url)
}

/// Whether this run's servers use PostgreSQL.
pub fn is_postgres() -> bool {
    postgres_server().is_some()
}

/// Skips the calling test (returning from it) when the run is on PostgreSQL: for tests
/// about the SQLite file itself.
#[macro_export]
macro_rules! sqlite_only {
    () => {
        if $crate::harness::is_postgres() {
            eprintln!("skipped on PostgreSQL: this test is about the SQLite file");
            return;
        }
    };
}

/// `server` (a PostgreSQL URL) with its database name replaced by `name`.
pub fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let prefix = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// Creates a fresh, empty database on the run's PostgreSQL server; returns its URL.
pub fn create_postgres_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = postgres_server().expect("a PostgreSQL run");
    let name = format!(
        "kw_it_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = PgConnection::establish(&server).expect("connect to the test PostgreSQL");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("CREATE DATABASE");
    with_database(&server, &name)
}

/// The database URL a keyward on data directory `dir` is given on PostgreSQL runs (a
/// fresh database the first time `dir` is seen in this process, the same one after);
/// `None` on SQLite runs, where the server uses `<dir>/keyward.db`.
pub fn database_url_for(dir: &Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    postgres_server()?;
    static DATABASES: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let mut map = DATABASES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Some(
        map.entry(dir.to_path_buf())
            .or_insert_with(create_postgres_database)
            .clone(),
    )
}

/// The database of one test server; see [`Server::db`].
pub struct Db {
    backend: Backend,
}

/// A signing key as stored: the public JWK and the encrypted private key.
#[derive(Debug, QueryableByName)]
pub struct StoredSigningKey {
    #[diesel(sql_type = Text)]
    pub public_jwk: String,
    #[diesel(sql_type = Text)]
    pub private_jwe: String,
}

#[derive(QueryableByName)]
struct StoredApp {
    #[diesel(sql_type = Nullable<Text>)]
    secret_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    last_used_at: Option<String>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Server {
    /// The server's database, for the probes tests cannot make over HTTP.
    pub fn db(&self) -> Db {
        Db {
            backend: match database_url_for(&self.data_dir()) {
                Some(url) => Backend::Postgres { url },
                None => Backend::Sqlite {
                    path: self.db_path(),
                },
            },
        }
    }
}

impl Db {
    /// What an embedded validator is given to reach this database.
    pub fn url(&self) -> String {
        match &self.backend {
            Backend::Sqlite { path } => path.to_string_lossy().into_owned(),
            Backend::Postgres { url } => url.clone(),
        }
    }

    /// The stored secret hash of an app (`None` once the app is deleted or the hash is
    /// cleared); panics if the app has no row.
    pub fn stored_secret_hash(&self, client_id: &str) -> Option<String> {
        self.stored_app(client_id).secret_hash
    }

    /// The app's `last_used_at` as written to storage (not the in-memory value the API
    /// shows); panics if the app has no row.
    pub fn stored_last_used_at(&self, client_id: &str) -> Option<String> {
        self.stored_app(client_id).last_used_at
    }

    /// How many admin users hold the Super Admin role.
    pub fn super_admin_count(&self) -> i64 {
        match &self.backend {
            Backend::Sqlite { path } => {
                diesel::sql_query(
                    "SELECT count(*) AS n FROM admin_users WHERE role = 'super_admin'",
                )
                .get_result::<Count>(&mut sqlite(path))
                .expect("count Super Admins")
                .n
            }
            Backend::Postgres { url } => {
                diesel::sql_query(
                    "SELECT count(*) AS n FROM admin_users WHERE role = 'super_admin'",
                )
                .get_result::<Count>(&mut postgres(url))
                .expect("count Super Admins")
                .n
            }
        }
    }

    /// Every signing key as stored.
    pub fn signing_keys(&self) -> Vec<StoredSigningKey> {
        match &self.backend {
            Backend::Sqlite { path } => {
                diesel::sql_query("SELECT public_jwk, private_jwe FROM signing_keys")
                    .load(&mut sqlite(path))
                    .expect("signing keys")
            }
            Backend::Postgres { url } => {
                diesel::sql_query("SELECT public_jwk, private_jwe FROM signing_keys")
                    .load(&mut postgres(url))
                    .expect("signing keys")
            }
        }
    }

    /// Where `needle` occurs in the raw bytes the database keeps, if anywhere (for
    /// SQLite: the main file, the WAL and the shared-memory file), so a test can show a
    /// value was never stored in the clear.
    pub fn find_in_raw_storage(&self, needle: &str) -> Option<String> {
        match &self.backend {
            Backend::Sqlite { path } => {
                let dir = path.parent().expect("the database file has a directory");
                let prefix = path
                    .file_name()
                    .expect("the database file has a name")
                    .to_string_lossy()
                    .into_owned();
                for entry in std::fs::read_dir(dir).expect("data dir") {
                    let file = entry.expect("entry").path();
                    if !file
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                    {
                        continue;
                    }
                    let bytes = std::fs::read(&file).expect("read db file");
                    if String::from_utf8_lossy(&bytes).contains(needle) {
                        return Some(file.display().to_string());
                    }
                }
                None
            }
            // Every row of every table, as text: what the database keeps, as far as a
            // client of it can read (its files belong to the database server).
            Backend::Postgres { url } => {
                let mut conn = postgres(url);
                for table in TABLES {
                    let rows: Vec<RowText> = diesel::sql_query(format!(
                        "SELECT row_to_json(t)::text AS text FROM {table} t"
                    ))
                    .load(&mut conn)
                    .expect("rows as text");
                    if rows.iter().any(|r| r.text.contains(needle)) {
                        return Some(format!("table {table}"));
                    }
                }
                None
            }
        }
    }

    /// Takes the database's write lock from outside the server and holds it until the
    /// guard drops: reads still work, every write waits and then fails.
    pub fn hold_write_lock(&self) -> Held {
        match &self.backend {
            Backend::Sqlite { path } => {
                let mut conn = sqlite(path);
                conn.batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE;")
                    .expect("BEGIN IMMEDIATE");
                Held::SqliteWriteLock(conn)
            }
            // EXCLUSIVE lets reads (ACCESS SHARE) through and makes every write wait.
            Backend::Postgres { url } => Held::PostgresLock(lock_tables(url, "EXCLUSIVE")),
        }
    }

    /// Makes the database unreadable for the server until the guard drops: no read or
    /// write transaction can begin.
    pub fn make_unreadable(&self) -> Held {
        match &self.backend {
            Backend::Sqlite { path } => Held::SqliteReadMarks(lock_wal_read_marks(path)),
            // ACCESS EXCLUSIVE makes reads wait too.
            Backend::Postgres { url } => Held::PostgresLock(lock_tables(url, "ACCESS EXCLUSIVE")),
        }
    }

    fn stored_app(&self, client_id: &str) -> StoredApp {
        match &self.backend {
            Backend::Sqlite { path } => diesel::sql_query(
                "SELECT (SELECT s.secret_hash FROM client_app_secrets s \
                         WHERE s.app_id = a.id AND s.expires_at IS NULL) AS secret_hash, \
                 CAST(a.last_used_at AS TEXT) AS last_used_at \
                 FROM client_apps a WHERE a.client_id = ?",
            )
            .bind::<Text, _>(client_id)
            .get_result(&mut sqlite(path))
            .expect("app row"),
            Backend::Postgres { url } => diesel::sql_query(
                "SELECT (SELECT s.secret_hash FROM client_app_secrets s \
                         WHERE s.app_id = a.id AND s.expires_at IS NULL) AS secret_hash, \
                 CAST(a.last_used_at AS TEXT) AS last_used_at \
                 FROM client_apps a WHERE a.client_id = $1",
            )
            .bind::<Text, _>(client_id)
            .get_result(&mut postgres(url))
            .expect("app row"),
        }
    }
}

/// What [`Db::hold_write_lock`] or [`Db::make_unreadable`] holds; released on drop.
pub enum Held {
    /// A connection inside `BEGIN IMMEDIATE`: SQLite's write lock.
    SqliteWriteLock(SqliteConnection),
    /// A process holding the WAL read-mark locks: no transaction can begin.
    SqliteReadMarks(Child),
    /// A connection inside a transaction holding table locks on every Keyward table.
    PostgresLock(PgConnection),
}

impl Drop for Held {
    fn drop(&mut self) {
        match self {
            Held::SqliteWriteLock(conn) => {
                let _ = conn.batch_execute("ROLLBACK;");
            }
            Held::SqliteReadMarks(child) => {
                drop(child.stdin.take());
                let _ = child.kill();
                let _ = child.wait();
            }
            Held::PostgresLock(conn) => {
                let _ = conn.batch_execute("ROLLBACK;");
            }
        }
    }
}

/// Every table Keyward keeps (PostgreSQL).
const TABLES: [&str; 11] = [
    "environments",
    "roles",
    "client_apps",
    "client_app_roles",
    "client_app_secrets",
    "api_keys",
    "admin_users",
    "signing_keys",
    "changes",
    "change_counter",
    "change_feed",
];

#[derive(QueryableByName)]
struct RowText {
    #[diesel(sql_type = Text)]
    text: String,
}

fn postgres(url: &str) -> PgConnection {
    PgConnection::establish(url).expect("connect to the test database")
}

/// A connection inside a transaction that holds `mode` locks on every Keyward table.
fn lock_tables(url: &str, mode: &str) -> PgConnection {
    let mut conn = postgres(url);
    conn.batch_execute(&format!(
        "BEGIN; LOCK TABLE {} IN {mode} MODE;",
        TABLES.join(", ")
    ))
    .expect("LOCK TABLE");
    conn
}

fn sqlite(path: &Path) -> SqliteConnection {
    SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open db")
}

/// Holds exclusive POSIX locks on every WAL read-mark slot of the `-shm` file (bytes
/// 123..128), so no connection can begin a read (or write) transaction. SQLite's own
/// locking cannot do this from outside — `PRAGMA locking_mode=EXCLUSIVE` fails with
/// "database is locked" while the server's WAL connections are open, and `BEGIN
/// EXCLUSIVE` in WAL mode blocks writers only — and the test crate may not use `unsafe`
/// to call `fcntl`, so a small Python process holds the locks. Killing it releases them.
fn lock_wal_read_marks(path: &Path) -> Child {
    let shm = format!("{}-shm", path.display());
    assert!(Path::new(&shm).exists(), "the WAL index {shm} exists");
    let script = "import fcntl, os, sys\n\
                  fd = os.open(sys.argv[1], os.O_RDWR)\n\
                  fcntl.lockf(fd, fcntl.LOCK_EX, 5, 123)\n\
                  print('locked', flush=True)\n\
                  sys.stdin.read()\n";
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&shm)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed to lock the SQLite WAL index");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "locked", "the lock holder started");
    child
}

// ----- API keys and client secrets (SPEC §5) -----

/// An API key as stored (table `api_keys`).
#[derive(Debug, QueryableByName)]
pub struct StoredApiKey {
    /// The identifier the API shows.
    #[diesel(sql_type = Text)]
    pub public_id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    /// Lowercase hex SHA-256 of the key text.
    #[diesel(sql_type = Text)]
    pub digest: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub expires_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_used_at: Option<String>,
}

/// A client secret as stored (table `client_app_secrets`).
#[derive(Debug, QueryableByName)]
pub struct StoredSecret {
    /// The identifier the API shows.
    #[diesel(sql_type = Text)]
    pub public_id: String,
    /// argon2id PHC string.
    #[diesel(sql_type = Text)]
    pub secret_hash: String,
    /// `None` for the current secret.
    #[diesel(sql_type = Nullable<Text>)]
    pub expires_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_used_at: Option<String>,
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

impl Db {
    /// Every API key row of an app (by client ID), oldest first; empty when it has none.
    pub fn stored_api_keys(&self, client_id: &str) -> Vec<StoredApiKey> {
        const SELECT: &str = "SELECT k.public_id, k.name, k.digest, \
             CAST(k.expires_at AS TEXT) AS expires_at, \
             CAST(k.last_used_at AS TEXT) AS last_used_at \
             FROM api_keys k JOIN client_apps a ON a.id = k.app_id \
             WHERE a.client_id = ";
        match &self.backend {
            Backend::Sqlite { path } => diesel::sql_query(format!("{SELECT}? ORDER BY k.id"))
                .bind::<Text, _>(client_id)
                .load(&mut sqlite(path))
                .expect("API key rows"),
            Backend::Postgres { url } => diesel::sql_query(format!("{SELECT}$1 ORDER BY k.id"))
                .bind::<Text, _>(client_id)
                .load(&mut postgres(url))
                .expect("API key rows"),
        }
    }

    /// Every secret row of an app (by client ID), oldest first; empty when it has none.
    pub fn stored_secrets(&self, client_id: &str) -> Vec<StoredSecret> {
        const SELECT: &str = "SELECT s.public_id, s.secret_hash, \
             CAST(s.expires_at AS TEXT) AS expires_at, \
             CAST(s.last_used_at AS TEXT) AS last_used_at \
             FROM client_app_secrets s JOIN client_apps a ON a.id = s.app_id \
             WHERE a.client_id = ";
        match &self.backend {
            Backend::Sqlite { path } => diesel::sql_query(format!("{SELECT}? ORDER BY s.id"))
                .bind::<Text, _>(client_id)
                .load(&mut sqlite(path))
                .expect("secret rows"),
            Backend::Postgres { url } => diesel::sql_query(format!("{SELECT}$1 ORDER BY s.id"))
                .bind::<Text, _>(client_id)
                .load(&mut postgres(url))
                .expect("secret rows"),
        }
    }

    /// Like [`Db::find_in_raw_storage`], but on PostgreSQL every table of the database's
    /// schema is read (whatever tables later migrations add), not a fixed list.
    pub fn find_anywhere(&self, needle: &str) -> Option<String> {
        match &self.backend {
            Backend::Sqlite { .. } => self.find_in_raw_storage(needle),
            Backend::Postgres { url } => {
                let mut conn = postgres(url);
                let tables: Vec<TableName> = diesel::sql_query(
                    "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                )
                .load(&mut conn)
                .expect("table names");
                for table in tables {
                    let rows: Vec<RowText> = diesel::sql_query(format!(
                        "SELECT row_to_json(t)::text AS text FROM \"{}\" t",
                        table.name.replace('"', "\"\"")
                    ))
                    .load(&mut conn)
                    .expect("rows as text");
                    if rows.iter().any(|r| r.text.contains(needle)) {
                        return Some(format!("table {}", table.name));
                    }
                }
                None
            }
        }
    }
}

impl Db {
    /// How many rows `table` holds (a table of this version's schema, named by a test).
    pub fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) AS n FROM {table}");
        match &self.backend {
            Backend::Sqlite { path } => {
                diesel::sql_query(sql)
                    .get_result::<Count>(&mut sqlite(path))
                    .expect("count rows")
                    .n
            }
            Backend::Postgres { url } => {
                diesel::sql_query(sql)
                    .get_result::<Count>(&mut postgres(url))
                    .expect("count rows")
                    .n
            }
        }
    }
}

impl Db {
    /// Every row of the audit log, each as one line of text (all its columns).
    pub fn audit_rows_text(&self) -> Vec<String> {
        let sql = "SELECT CAST(id AS TEXT) || ' ' || CAST(at AS TEXT) || ' ' || actor_kind \
                   || ' ' || actor_name || ' ' || COALESCE(address, '') || ' ' || action \
                   || ' ' || COALESCE(environment, '') || ' ' || subject || ' ' || details \
                   AS text FROM audit_log";
        let rows: Vec<RowText> = match &self.backend {
            Backend::Sqlite { path } => diesel::sql_query(sql).load(&mut sqlite(path)),
            Backend::Postgres { url } => diesel::sql_query(sql).load(&mut postgres(url)),
        }
        .expect("audit rows");
        rows.into_iter().map(|r| r.text).collect()
    }

    /// Runs one statement from outside the server (a test's fault injection).
    pub fn execute(&self, sql: &str) {
        match &self.backend {
            Backend::Sqlite { path } => diesel::sql_query(sql).execute(&mut sqlite(path)),
            Backend::Postgres { url } => diesel::sql_query(sql).execute(&mut postgres(url)),
        }
        .expect("statement");
    }
}
