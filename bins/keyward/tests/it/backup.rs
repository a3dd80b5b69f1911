//! Backup and restore of the SQLite database while the server runs (docs/OPERATIONS.md):
//! `keyward backup --to FILE` under concurrent writes, then a fresh data directory with
//! the copy and the master key serves every app, secret and API key.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;
use crate::sqlite_only;

/// Runs `keyward backup --to <to>` against the server's data directory.
fn backup(s: &Server, to: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["backup", "--to"])
        .arg(to)
        .env("KEYWARD__DATA_DIR", s.data_dir())
        .env_remove("RUST_LOG")
        .output()
        .expect("keyward backup")
}

#[test]
fn an_online_backup_taken_during_writes_restores_every_app_secret_and_api_key() {
    sqlite_only!();
    let s = Server::start();
    s.create_environment("prod");
    s.create_role("prod", "reader", &["orders:read"]);
    let apps: Vec<App> = (0..20)
        .map(|i| s.create_app("prod", &format!("prod app {i}"), &["reader"]))
        .collect();
    let keyed = &apps[0];
    let created = s.post(
        &format!("{}/api-keys", s.app_path("prod", keyed)),
        &s.admin,
        json!({"name": "ci"}),
    );
    assert_eq!(created.status(), 201);
    let api_key = created.json::<Value>().unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Writes go on while the backup runs: an app a few milliseconds apart.
    let restore_dir = tempfile::tempdir().unwrap();
    let copy = restore_dir.path().join("keyward.db");
    let writing = AtomicBool::new(true);
    let written = AtomicUsize::new(0);
    let (out, during) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut during = Vec::new();
            while writing.load(Ordering::Acquire) {
                let n = during.len();
                during.push(s.create_app("default", &format!("busy app {n}"), &[]));
                written.fetch_add(1, Ordering::AcqRel);
            }
            during
        });
        // Let some writes land first, then copy.
        while written.load(Ordering::Acquire) < 3 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = backup(&s, &copy);
        let after = written.load(Ordering::Acquire);
        while written.load(Ordering::Acquire) < after + 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
        writing.store(false, Ordering::Release);
        (out, writer.join().unwrap())
    });
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up to"));
    // Writing over an existing file is refused, so a backup never clobbers another.
    let again = backup(&s, &copy);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "the copy holds hashes: owner only ({mode:o})"
        );
    }

    // Restore on a fresh data directory: the copy and the master key.
    std::fs::copy(
        s.data_dir().join("master.key"),
        restore_dir.path().join("master.key"),
    )
    .unwrap();
    let old_jwks: Value = s.get_anonymous("/.well-known/jwks.json").json().unwrap();
    let old = s.stop();
    let restored = Server::start_in(restore_dir, &[]);
    drop(old);

    // Every app created before the backup is there, with its secret and roles.
    for app in &apps {
        let token = restored.token(app);
        assert_eq!(restored.authorize(&token, "orders:read"), 200);
    }
    assert_eq!(restored.status(&api_key), 200, "the API key works");
    let listed: Value = restored
        .get(
            "/api/v1/environments/prod/client-apps?limit=100",
            &restored.admin,
        )
        .json()
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), apps.len());
    // The same signing keys: tokens issued before the backup still verify.
    let new_jwks: Value = restored
        .get_anonymous("/.well-known/jwks.json")
        .json()
        .unwrap();
    assert_eq!(old_jwks, new_jwks);
    // The copy is one instant: the apps written during it are a prefix of what was
    // written, each complete (its secret works) or absent.
    let present: Vec<bool> = during
        .iter()
        .map(|app| {
            let res = restored.token_response(&app.client_id, &app.client_secret, None);
            match res.status().as_u16() {
                200 => true,
                401 => false,
                other => panic!("restored app answered {other}"),
            }
        })
        .collect();
    let first_absent = present.iter().position(|p| !p).unwrap_or(present.len());
    assert!(
        present[first_absent..].iter().all(|p| !p),
        "a consistent snapshot: {present:?}"
    );
    assert!(first_absent >= 3, "the writes before the backup are in it");
    assert!(
        first_absent < present.len(),
        "the writes after the backup are not"
    );
}

#[test]
fn backup_is_refused_on_postgresql_with_the_tool_to_use() {
    if !is_postgres() {
        eprintln!("PostgreSQL-only");
        return;
    }
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(["backup", "--to"])
        .arg(dir.path().join("copy.db"))
        .env("KEYWARD__DATA_DIR", s.data_dir());
    if let Some(url) = database_url_for(&s.data_dir()) {
        cmd.env("KEYWARD__DATABASE__URL", url);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}
