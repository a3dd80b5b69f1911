//! Storage and start-up faults (issue 19, findings F5, F9, F10): a database deleted or
//! replaced under a running server, restarts on a data directory that lost its
//! database, concurrent first starts, and the modes of the files Keyward keeps.
//!
//! SQLite-only where marked: those tests are about the SQLite file itself (deleted,
//! replaced, its mode) and reach it through `Server::db_path` and the data directory,
//! not through `Server::db()`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use crate::harness::{launch, Server, ADMIN_CREDENTIAL};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// SQLite-only: the database file and its WAL and shared-memory files.
fn database_files(dir: &Path) -> [std::path::PathBuf; 3] {
    ["keyward.db", "keyward.db-wal", "keyward.db-shm"].map(|n| dir.join(n))
}

/// Creating an app answers 503 storage-unavailable (and never 201), three times.
fn assert_writes_refused(s: &Server) {
    for i in 0..3 {
        let res = s.post(
            "/api/v1/environments/default/client-apps",
            &s.admin,
            json!({"name": format!("lost app {i}")}),
        );
        let status = res.status();
        let body: Value = res.json().expect("json");
        assert_eq!(status, 503, "create {i} after the database went: {body}");
        assert_eq!(body["type"], "urn:keyward:problem:storage-unavailable");
    }
}

/// SQLite-only: deletes the database files under the running server.
#[test]
fn a_database_deleted_under_a_running_server_gives_503_and_no_restart_bootstraps_over_it() {
    crate::sqlite_only!();
    let s = Server::start();
    s.create_app("default", "kept app", &[]);
    assert_eq!(s.get_anonymous("/healthz").status(), 200);
    for file in database_files(&s.data_dir()) {
        std::fs::remove_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }

    let health = s.get_anonymous("/healthz");
    assert_eq!(health.status(), 503, "healthz with the database file gone");
    assert!(health.headers().get("retry-after").is_some());
    assert_writes_refused(&s);
    assert!(
        !s.db_path().exists(),
        "no connection re-created an empty database file"
    );

    let dir = s.stop();
    let db = dir.path().join("keyward.db");
    let (status, stderr) = launch(dir.path(), &["serve"], &[]).exited();
    assert!(
        !status.success(),
        "a restart without the database is refused"
    );
    assert!(
        stderr.contains("is missing") && stderr.contains("--allow-empty-database"),
        "the refusal says why and names the override: {stderr}"
    );
    assert!(!db.exists(), "the refused start created no database");

    // An empty file in its place, or an empty but migrated database, is refused too.
    std::fs::write(&db, b"").expect("empty file");
    let (status, stderr) = launch(dir.path(), &["serve"], &[]).exited();
    assert!(!status.success() && stderr.contains("is empty"), "{stderr}");
    std::fs::remove_file(&db).expect("rm");
    let (status, stderr) = launch(dir.path(), &["migrate", "--allow-empty-database"], &[]).exited();
    assert!(status.success(), "migrate with the override: {stderr}");
    let (status, stderr) = launch(dir.path(), &["serve"], &[]).exited();
    assert!(
        !status.success() && stderr.contains("holds no instance"),
        "{stderr}"
    );

    // With the override, a new, empty instance starts.
    let fresh = launch(dir.path(), &["serve", "--allow-empty-database"], &[]).serving();
    assert_eq!(fresh.get("/healthz", None).status(), 200);
    let apps: Value = fresh
        .get(
            "/api/v1/environments/default/client-apps",
            Some(ADMIN_CREDENTIAL),
        )
        .json()
        .expect("json");
    assert_eq!(apps["items"], json!([]), "a new instance: {apps}");
    drop(fresh);
    // ... and from then on the directory starts without the override.
    let again = launch(dir.path(), &["serve"], &[]).serving();
    assert_eq!(again.get("/healthz", None).status(), 200);
}

/// SQLite-only: replaces the database file under the running server.
#[test]
fn a_database_file_replaced_under_a_running_server_gives_503_until_a_restart_opens_it() {
    crate::sqlite_only!();
    let s = Server::start();
    s.create_app("default", "kept app", &[]);
    let db = s.db_path();
    let copy = s.data_dir().join("copy.db");
    std::fs::copy(&db, &copy).expect("copy");
    chmod(&copy, 0o600);
    std::fs::rename(&copy, &db).expect("replace");

    assert_eq!(
        s.get_anonymous("/healthz").status(),
        503,
        "healthz with the file replaced"
    );
    assert_writes_refused(&s);

    let s = Server::start_in(s.stop(), &[]);
    assert_eq!(s.get_anonymous("/healthz").status(), 200);
    s.create_app("default", "after restart", &[]);
}

#[test]
fn concurrent_first_starts_on_one_empty_data_dir_all_serve_one_instance() {
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("temp dir");
        let instances: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| launch(dir.path(), &["serve"], &[])))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("launch thread"))
                .collect()
        });
        let instances: Vec<_> = instances.into_iter().map(|l| l.serving()).collect();
        for (i, instance) in instances.iter().enumerate() {
            let jwks: Value = instance
                .get("/.well-known/jwks.json", None)
                .json()
                .expect("json");
            let keys = jwks["keys"].as_array().expect("keys");
            assert_eq!(keys.len(), 1, "round {round}, instance {i}: {jwks}");
        }
        let admins: Value = instances[0]
            .get("/api/v1/admins", Some(ADMIN_CREDENTIAL))
            .json()
            .expect("json");
        let admins = admins["items"].as_array().expect("items");
        assert_eq!(admins.len(), 1, "round {round}: {admins:?}");
        let envs: Value = instances[0]
            .get("/api/v1/environments", Some(ADMIN_CREDENTIAL))
            .json()
            .expect("json");
        assert_eq!(envs["items"].as_array().expect("items").len(), 1);
    }
}

/// SQLite-only: the modes of the database files (with the key and lock files).
#[test]
fn a_fresh_start_keeps_every_file_0600_in_a_0700_data_dir() {
    crate::sqlite_only!();
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("data");
    let server = launch(&dir, &["serve"], &[]).serving();
    assert_eq!(server.get("/healthz", None).status(), 200);
    assert_eq!(mode(&dir), 0o700, "data dir");
    for name in [
        "keyward.db",
        "keyward.db-wal",
        "keyward.db-shm",
        "master.key",
        "instance",
        "keyward.lock",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

#[test]
fn a_data_dir_others_can_write_is_refused_before_anything_is_created_and_a_readable_one_narrowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    for loose in [0o777, 0o775, 0o757] {
        chmod(dir.path(), loose);
        let (status, stderr) = launch(dir.path(), &["serve"], &[]).exited();
        assert!(!status.success(), "mode {loose:o}");
        assert!(
            stderr.contains("writable by group or others") && stderr.contains("chmod 700"),
            "mode {loose:o}: {stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(left.is_empty(), "mode {loose:o}: nothing created: {left:?}");
    }
    // Readable and traversable by others only: narrowed to 0700, with a warning.
    chmod(dir.path(), 0o755);
    let server = launch(dir.path(), &["serve"], &[]).serving();
    assert_eq!(mode(dir.path()), 0o700);
    assert!(
        server.logs().contains("set it to 0700"),
        "{}",
        server.logs()
    );
}

/// SQLite-only: "before the database is created" is checked on the database file.
#[test]
fn a_bad_master_key_is_refused_before_the_database_is_created() {
    crate::sqlite_only!();
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("master.key");
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    std::fs::write(&key_file, format!("{key}\n")).expect("write key");
    chmod(&key_file, 0o644);
    let (status, stderr) = launch(dir.path(), &["serve"], &[]).exited();
    assert!(!status.success());
    assert!(stderr.contains("readable by others"), "{stderr}");
    assert!(
        !dir.path().join("keyward.db").exists(),
        "no database created"
    );

    std::fs::write(&key_file, "not a key\n").expect("write key");
    chmod(&key_file, 0o600);
    let (status, stderr) = launch(dir.path(), &["serve"], &[]).exited();
    assert!(!status.success());
    assert!(stderr.contains("master.key"), "{stderr}");
    assert!(
        !dir.path().join("keyward.db").exists(),
        "no database created"
    );
}
