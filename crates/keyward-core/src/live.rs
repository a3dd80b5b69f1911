//! The in-memory view of live state (apps, environments, roles, admin credentials)
//! that every credential check reads, kept honest by invalidation.
//!
//! Entries are loaded on first use and dropped when a change touches them: at once by
//! the use case that made the change in this process, and within the resync interval
//! by [`LiveState::sync_changes`] for changes made by other processes (the CLI, other
//! instances). An epoch counter stops a load that raced with an invalidation from
//! putting stale data back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keyward_domain::{AdminUser, ClientId, Environment, EnvironmentId, Grants, Role, RoleId};
use keyward_store::{AppState, ChangeSubject, LiveSource};

use crate::clock::Io;
use crate::error::Error;

/// Most entries per map before the map is cleared (a crude but safe bound).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct Maps {
    apps: HashMap<ClientId, Arc<AppState>>,
    environments: HashMap<EnvironmentId, Arc<Environment>>,
    roles: HashMap<RoleId, Arc<Role>>,
    admins: HashMap<[u8; 32], Arc<AdminUser>>,
}

/// The cached live state over a [`LiveSource`].
pub struct LiveState {
    source: Arc<dyn LiveSource>,
    maps: RwLock<Maps>,
    epoch: AtomicU64,
    last_seq: AtomicI64,
}

fn insert_bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

impl LiveState {
    /// A view over `source`, following its change feed from now on.
    pub fn new(source: Arc<dyn LiveSource>) -> Result<Self, Error> {
        let last = source.latest_change()?;
        Ok(Self {
            source,
            maps: RwLock::new(Maps::default()),
            epoch: AtomicU64::new(0),
            last_seq: AtomicI64::new(last),
        })
    }

    /// The source behind the cache.
    pub fn source(&self) -> &Arc<dyn LiveSource> {
        &self.source
    }

    fn read_maps(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_maps(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads through the cache: a hit answers from memory; a miss needs `Io::Allowed`.
    fn cached<K, V>(
        &self,
        io: Io,
        key: &K,
        pick: impl Fn(&Maps) -> &HashMap<K, Arc<V>>,
        pick_mut: impl Fn(&mut Maps) -> &mut HashMap<K, Arc<V>>,
        load: impl FnOnce() -> Result<Option<V>, Error>,
    ) -> Result<Option<Arc<V>>, Error>
    where
        K: std::hash::Hash + Eq + Clone,
    {
        if let Some(v) = pick(&self.read_maps()).get(key) {
            return Ok(Some(Arc::clone(v)));
        }
        if io == Io::Forbidden {
            return Err(Error::WouldBlock);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let Some(value) = load()? else {
            return Ok(None);
        };
        let value = Arc::new(value);
        let mut maps = self.write_maps();
        // An invalidation since the load began means the value may be stale: use it
        // for this call only.
        if self.epoch.load(Ordering::Acquire) == epoch {
            insert_bounded(pick_mut(&mut maps), key.clone(), Arc::clone(&value));
        }
        Ok(Some(value))
    }

    /// The live state of an app (deleted apps answer with their tombstone).
    pub fn app(&self, client_id: &ClientId, io: Io) -> Result<Option<Arc<AppState>>, Error> {
        self.cached(
            io,
            client_id,
            |m| &m.apps,
            |m| &mut m.apps,
            || Ok(self.source.app_state(client_id)?),
        )
    }

    /// The live state of an environment.
    pub fn environment(
        &self,
        id: EnvironmentId,
        io: Io,
    ) -> Result<Option<Arc<Environment>>, Error> {
        self.cached(
            io,
            &id,
            |m| &m.environments,
            |m| &mut m.environments,
            || Ok(self.source.environment_by_id(id)?),
        )
    }

    /// The live state of a role.
    pub fn role(&self, id: RoleId, io: Io) -> Result<Option<Arc<Role>>, Error> {
        self.cached(
            io,
            &id,
            |m| &m.roles,
            |m| &mut m.roles,
            || Ok(self.source.roles_by_ids(&[id])?.into_iter().next()),
        )
    }

    /// The admin holding the personal credential with this digest.
    pub fn admin_by_credential(
        &self,
        digest: &[u8; 32],
        io: Io,
    ) -> Result<Option<Arc<AdminUser>>, Error> {
        self.cached(
            io,
            digest,
            |m| &m.admins,
            |m| &mut m.admins,
            || Ok(self.source.admin_by_credential(digest)?),
        )
    }

    /// The union of the grants of these roles (a role deleted meanwhile grants nothing).
    pub fn grants_of(&self, role_ids: &[RoleId], io: Io) -> Result<(Grants, bool), Error> {
        let mut grants = Grants::none();
        let mut global = false;
        for id in role_ids {
            if let Some(role) = self.role(*id, io)? {
                grants.extend(&role.grants());
                global |= role
                    .builtin
                    .is_some_and(keyward_domain::BuiltinRole::is_global);
            }
        }
        Ok((grants, global))
    }

    /// Drops whatever `subject` touched.
    pub fn invalidate(&self, subject: &ChangeSubject) {
        let mut maps = self.write_maps();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match subject {
            ChangeSubject::App(cid) => {
                maps.apps.remove(cid);
            }
            ChangeSubject::Role(id) => {
                maps.roles.remove(id);
            }
            ChangeSubject::Environment(id) => {
                maps.environments.remove(id);
            }
            ChangeSubject::Admin(id) => maps.admins.retain(|_, a| a.id != *id),
            ChangeSubject::SigningKeys => {}
            ChangeSubject::Unknown => *maps = Maps::default(),
        }
    }

    /// Drops everything (used when the change feed cannot say what changed).
    pub fn clear(&self) {
        let mut maps = self.write_maps();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        *maps = Maps::default();
    }

    /// Applies the changes committed since the last call (by any process) and returns
    /// them, so other caches can follow too.
    pub fn sync_changes(&self) -> Result<Vec<ChangeSubject>, Error> {
        const BATCH: i64 = 1000;
        let mut applied = Vec::new();
        loop {
            let after = self.last_seq.load(Ordering::Acquire);
            let changes = self.source.changes_since(after, BATCH)?;
            let Some(last) = changes.last().map(|c| c.seq) else {
                break;
            };
            // Sequence numbers are dense (one per committed change): a hole right after
            // our position means entries were pruned before we read them, and what they
            // said is unknown — start over.
            if changes.first().is_some_and(|c| c.seq > after + 1) {
                self.clear();
                applied.push(ChangeSubject::Unknown);
            }
            for change in &changes {
                self.invalidate(&change.subject);
            }
            self.last_seq.fetch_max(last, Ordering::AcqRel);
            let full = changes.len() as i64 == BATCH;
            applied.extend(changes.into_iter().map(|c| c.subject));
            if !full {
                break;
            }
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use keyward_domain::{EnvironmentName, EnvironmentSlug};
    use keyward_store::{DieselStore, NewEnvironment, Store, StoreOptions};

    fn store() -> (tempfile::TempDir, Arc<DieselStore>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = DieselStore::open(&StoreOptions::sqlite(dir.path().join("k.db")))
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, Arc::new(store))
    }

    fn raw(store: &DieselStore, sql: &str) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let mut conn = diesel::SqliteConnection::establish(&store.path().to_string_lossy())
            .unwrap_or_else(|e| panic!("{e}"));
        conn.batch_execute(sql).unwrap_or_else(|e| panic!("{e}"));
    }

    fn cached_environment(store: &Arc<DieselStore>) -> (LiveState, EnvironmentId) {
        let env = store
            .create_environment(
                &NewEnvironment {
                    slug: EnvironmentSlug::parse("prod").unwrap_or_else(|e| panic!("{e}")),
                    name: EnvironmentName::parse("Prod").unwrap_or_else(|e| panic!("{e}")),
                },
                Utc::now(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let live = LiveState::new(Arc::clone(store) as Arc<dyn LiveSource>)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(live.environment(env.id, Io::Allowed).is_ok());
        assert!(
            live.environment(env.id, Io::Forbidden).is_ok(),
            "now cached"
        );
        (live, env.id)
    }

    #[test]
    fn a_change_nobody_can_read_makes_the_cache_start_over() {
        let (_dir, store) = store();
        let (live, env) = cached_environment(&store);
        raw(&store, "INSERT INTO changes (subject_kind, subject, at) VALUES ('api_key', 'k', '2026-01-01 00:00:00');");
        let applied = live.sync_changes().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(applied, vec![ChangeSubject::Unknown]);
        assert!(matches!(
            live.environment(env, Io::Forbidden),
            Err(Error::WouldBlock)
        ));
    }

    #[test]
    fn a_gap_in_the_feed_makes_the_cache_start_over() {
        let (_dir, store) = store();
        let (live, env) = cached_environment(&store);
        let next = store.latest_change().unwrap_or_else(|e| panic!("{e}")) + 5;
        // A row whose predecessors were pruned before this follower read them.
        raw(&store, &format!("INSERT INTO changes (seq, subject_kind, subject, at) VALUES ({next}, 'role', '999', '2026-01-01 00:00:00');"));
        live.sync_changes().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            live.environment(env, Io::Forbidden),
            Err(Error::WouldBlock)
        ));
    }
}
