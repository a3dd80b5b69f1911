//! A database URL that cannot be used stops the start with a message naming what is
//! wrong (PostgreSQL's own words, never the password), and never becomes a new SQLite
//! file. The wrong-password and missing-database cases need the run's PostgreSQL
//! (`KEYWARD_TEST_BACKEND=postgres`); the others run on every backend.

use crate::harness::{launch, postgres_server};

/// `keyward serve` with `url` in a fresh data directory: its stderr, after asserting it
/// exited with a failure and created no database file.
fn refused(url: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let (status, stderr) =
        launch(dir.path(), &["serve"], &[("KEYWARD__DATABASE__URL", url)]).exited();
    assert!(!status.success(), "refused: {stderr}");
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !files
            .iter()
            .any(|f| f.ends_with(".db") || f.contains("postgres")),
        "no database file was created: {files:?}"
    );
    stderr
}

#[test]
fn an_unknown_scheme_is_refused_not_taken_for_a_file_name() {
    let stderr = refused("mysql://keyward:secret@localhost/keyward");
    assert!(
        stderr.contains("not a database Keyward can open"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "the password is not repeated: {stderr}"
    );
}

#[test]
fn an_unknown_host_fails_at_start_naming_it() {
    let stderr = refused("postgres://keyward:secret@no-such-host.invalid:5432/keyward");
    assert!(stderr.contains("no-such-host.invalid"), "{stderr}");
    assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is not repeated: {stderr}"
    );
}

#[test]
fn a_missing_database_and_a_wrong_password_fail_at_start_naming_them() {
    let Some(server) = postgres_server() else {
        eprintln!("skipped: needs the run's PostgreSQL (KEYWARD_TEST_BACKEND=postgres)");
        return;
    };
    let missing = crate::harness::with_database(&server, "kw_no_such_database");
    let stderr = refused(&missing);
    assert!(
        stderr.contains("database \"kw_no_such_database\" does not exist"),
        "{stderr}"
    );
    // Only a server that checks passwords can refuse a wrong one (scripts/test's does).
    if let Some((user_info, _)) = server
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split_once('@'))
    {
        if let Some((user, password)) = user_info.split_once(':') {
            let wrong = server.replacen(
                &format!("{user}:{password}@"),
                &format!("{user}:wrong-{password}@"),
                1,
            );
            let stderr = refused(&wrong);
            assert!(
                stderr.contains("password authentication failed"),
                "{stderr}"
            );
            assert!(!stderr.contains(password), "the password is not repeated");
        }
    }
}
