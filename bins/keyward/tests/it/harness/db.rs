//! Storage probes: what a test needs to see or do in the server's database that the
//! HTTP API does not offer (a stored hash, a row count, a held lock). Each probe names
//! what the test needs, not how; the one place that knows how is the `match` on
//! [`Backend`] in each method, so adding PostgreSQL means adding one arm per probe (the
//! compiler lists them) and no test changes.
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
            backend: Backend::Sqlite {
                path: self.db_path(),
            },
        }
    }
}

impl Db {
    /// What an embedded validator is given to reach this database.
    pub fn url(&self) -> String {
        match &self.backend {
            Backend::Sqlite { path } => path.to_string_lossy().into_owned(),
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
        }
    }

    /// Makes the database unreadable for the server until the guard drops: no read or
    /// write transaction can begin.
    pub fn make_unreadable(&self) -> Held {
        match &self.backend {
            Backend::Sqlite { path } => Held::SqliteReadMarks(lock_wal_read_marks(path)),
        }
    }

    fn stored_app(&self, client_id: &str) -> StoredApp {
        match &self.backend {
            Backend::Sqlite { path } => diesel::sql_query(
                "SELECT secret_hash, CAST(last_used_at AS TEXT) AS last_used_at \
                 FROM client_apps WHERE client_id = ?",
            )
            .bind::<Text, _>(client_id)
            .get_result(&mut sqlite(path))
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
        }
    }
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
