//! Shared pieces of the unit tests: a clock the test moves, and a server core over a
//! temporary SQLite database.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use keyward_store::{DieselStore, Store, StoreOptions};
use rand_core::OsRng;

use crate::keys::MasterKey;
use crate::{Clock, CoreConfig, Keyward, Principal};

/// A clock that stands still until the test moves it.
pub(crate) struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    /// A clock at a fixed instant.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        )))
    }

    /// Moves the clock forward.
    pub(crate) fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A bootstrapped server core on a temporary database, with its clock.
pub(crate) struct TestCore {
    pub(crate) core: Keyward,
    pub(crate) clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

impl TestCore {
    /// A core with `config` (issuer and audience `https://keyward.test`).
    pub(crate) fn new(config: CoreConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(DieselStore::open(&StoreOptions::sqlite(dir.path().join("k.db"))).unwrap());
        let clock = TestClock::new();
        let core = Keyward::open(
            store,
            MasterKey::generate(&mut OsRng),
            CoreConfig {
                issuer: "https://keyward.test".into(),
                audience: "https://keyward.test".into(),
                ..config
            },
            Arc::clone(&clock) as Arc<dyn Clock>,
        )
        .unwrap();
        core.bootstrap(Some("unit-test-bootstrap-credential-0123456789"))
            .unwrap();
        Self {
            core,
            clock,
            _dir: dir,
        }
    }

    /// A role in `default`, and an app holding it: (client ID, secret).
    pub(crate) fn app(&self, name: &str, permissions: &[&str]) -> (String, String) {
        let system = Principal::system();
        let role = format!("{name}-role");
        let permissions: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
        self.core
            .create_role(&system, "default", &role, &permissions)
            .unwrap();
        let created = self
            .core
            .create_app(&system, "default", name, &[role])
            .unwrap();
        (
            created.app.client_id.as_str().to_owned(),
            created.client_secret.expose().to_owned(),
        )
    }
}
