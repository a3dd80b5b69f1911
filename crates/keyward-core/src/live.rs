//! The in-memory view of live state (apps, environments, roles, API keys, admin
//! credentials, and for the issuing server the apps' secret hashes)
//! that every credential check reads, kept honest by invalidation.
//!
//! Entries are loaded on first use and dropped when a change touches them: at once by
//! the use case that made the change in this process, and within the resync interval
//! by [`LiveState::sync_changes`] for changes made by other processes (the CLI, other
//! instances). An epoch counter stops a load that raced with an invalidation from
//! putting stale data back.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keyward_domain::{
    AdminUser, ClientId, Environment, EnvironmentId, Grants, Role, RoleId, Username,
};
use keyward_store::{
    ApiKeyState, AppState, AppStore, ChangeSubject, ExternalBinding, IdentityProvider, LiveSource,
    StoredSecret, UserState,
};

use crate::bounded::BoundedMap;
use crate::clock::Io;
use crate::error::{Error, Step, Stop};
use crate::metrics::Metrics;
use crate::sharded::Padded;

/// Most entries per map; beyond it the least recently used entries make room.
const MAX_ENTRIES: usize = 100_000;

/// Most remembered misses (client IDs and credential digests that name nothing).
const MAX_MISSING: usize = 50_000;

struct Maps {
    apps: BoundedMap<ClientId, Arc<AppState>>,
    /// Client IDs storage did not know: garbage costs one storage read, not one per
    /// request. Dropped when a change names the client ID.
    missing_apps: BoundedMap<ClientId, ()>,
    environments: BoundedMap<EnvironmentId, Arc<Environment>>,
    roles: BoundedMap<RoleId, Arc<Role>>,
    /// What each role grants (and whether it acts everywhere), computed once per load:
    /// every check shares it instead of building a set per call.
    role_grants: BoundedMap<RoleId, Arc<(Grants, bool)>>,
    admins: BoundedMap<[u8; 32], Arc<AdminUser>>,
    /// Credential digests storage did not know; dropped on any admin change.
    missing_admins: BoundedMap<[u8; 32], ()>,
    /// Live apps' stored secrets, for client authentication only (see
    /// [`LiveState::secrets`]).
    secrets: BoundedMap<ClientId, Arc<Vec<StoredSecret>>>,
    /// API keys by the SHA-256 digest of the key.
    api_keys: BoundedMap<[u8; 32], Arc<ApiKeyState>>,
    /// Key digests storage did not know; dropped on any API-key change.
    missing_api_keys: BoundedMap<[u8; 32], ()>,
    /// Users by lower-case username (whom apps impersonate).
    users: BoundedMap<String, Arc<UserState>>,
    /// Usernames storage did not know; dropped on any user change.
    missing_users: BoundedMap<String, ()>,
    /// Apps' bindings by external client ID.
    bindings: BoundedMap<String, Arc<ExternalBinding>>,
    /// External client IDs bound to nothing; dropped on any app change.
    missing_bindings: BoundedMap<String, ()>,
    /// Environments' identity providers.
    idps: BoundedMap<EnvironmentId, Arc<IdentityProvider>>,
    /// Environments without one.
    missing_idps: BoundedMap<EnvironmentId, ()>,
    /// Identity providers by issuer.
    idps_by_issuer: BoundedMap<String, Arc<Vec<IdentityProvider>>>,
}

impl Default for Maps {
    fn default() -> Self {
        Self {
            apps: BoundedMap::new(MAX_ENTRIES),
            missing_apps: BoundedMap::new(MAX_MISSING),
            environments: BoundedMap::new(MAX_ENTRIES),
            roles: BoundedMap::new(MAX_ENTRIES),
            role_grants: BoundedMap::new(MAX_ENTRIES),
            admins: BoundedMap::new(MAX_ENTRIES),
            missing_admins: BoundedMap::new(MAX_MISSING),
            secrets: BoundedMap::new(MAX_ENTRIES),
            api_keys: BoundedMap::new(MAX_ENTRIES),
            missing_api_keys: BoundedMap::new(MAX_MISSING),
            users: BoundedMap::new(MAX_ENTRIES),
            missing_users: BoundedMap::new(MAX_MISSING),
            bindings: BoundedMap::new(MAX_ENTRIES),
            missing_bindings: BoundedMap::new(MAX_MISSING),
            idps: BoundedMap::new(MAX_ENTRIES),
            missing_idps: BoundedMap::new(MAX_MISSING),
            idps_by_issuer: BoundedMap::new(MAX_MISSING),
        }
    }
}

/// Where [`LiveState::cached`] keeps misses for a kind of entry, if it does: the map,
/// for reading and for writing.
type Misses<K> = Option<(
    fn(&Maps) -> &BoundedMap<K, ()>,
    fn(&mut Maps) -> &mut BoundedMap<K, ()>,
)>;

/// The cached live state over a [`LiveSource`].
pub struct LiveState {
    source: Arc<dyn LiveSource>,
    /// Where secret hashes come from: the server's store. Validators of resource
    /// servers have none and never hold a hash.
    secrets: Option<Arc<dyn AppStore>>,
    maps: RwLock<Maps>,
    /// Bumped by every invalidation (on a line of its own: warm answers read it on
    /// every request).
    epoch: Padded<AtomicU64>,
    last_seq: AtomicI64,
    metrics: Arc<Metrics>,
}

impl LiveState {
    /// A view over `source`, following its change feed from now on.
    pub fn new(source: Arc<dyn LiveSource>) -> Result<Self, Error> {
        Self::with_metrics(source, Arc::new(Metrics::new()))
    }

    /// [`Self::new`], counting its cache hits and misses in `metrics`.
    pub(crate) fn with_metrics(
        source: Arc<dyn LiveSource>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, Error> {
        let last = source.latest_change()?;
        Ok(Self {
            source,
            secrets: None,
            maps: RwLock::new(Maps::default()),
            epoch: Padded(AtomicU64::new(0)),
            last_seq: AtomicI64::new(last),
            metrics,
        })
    }

    /// The invalidation count: it moves whenever a change may have touched what this
    /// state says (warm answers computed before it moved no longer hold).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// How many apps' live states are held in memory.
    pub(crate) fn cached_apps(&self) -> usize {
        self.read_maps().apps.len()
    }

    /// Lets this cache serve secret hashes from `store` (the issuing server only).
    pub(crate) fn serve_secrets_from(&mut self, store: Arc<dyn AppStore>) {
        self.secrets = Some(store);
    }

    /// The stored secrets of a live app, current first, through the cache (none
    /// without a secret store, or for a deleted or unknown app; expired ones included:
    /// the caller checks the clock). Dropped with the app's entry on any change to the
    /// app (a rotation, an ended secret), so a secret ended is never checked again.
    pub(crate) fn secrets(&self, client_id: &ClientId, io: Io) -> Step<Arc<Vec<StoredSecret>>> {
        let Some(store) = &self.secrets else {
            return Ok(Arc::new(Vec::new()));
        };
        let found = self.cached(
            io,
            client_id,
            |m| &m.secrets,
            |m| &mut m.secrets,
            None,
            || Ok(Some(store.app_secrets(client_id)?)),
        )?;
        Ok(found.unwrap_or_default())
    }

    /// The API key with this digest (expired ones included: the caller checks the
    /// clock).
    pub(crate) fn api_key(&self, digest: &[u8; 32], io: Io) -> Step<Option<Arc<ApiKeyState>>> {
        self.cached(
            io,
            digest,
            |m| &m.api_keys,
            |m| &mut m.api_keys,
            Some((|m| &m.missing_api_keys, |m| &mut m.missing_api_keys)),
            || Ok(self.source.api_key_by_digest(digest)?),
        )
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

    /// Loads through the cache: a hit (or a remembered miss) answers from memory; a
    /// miss needs `Io::Allowed`.
    fn cached<K, V>(
        &self,
        io: Io,
        key: &K,
        pick: impl Fn(&Maps) -> &BoundedMap<K, Arc<V>>,
        pick_mut: impl Fn(&mut Maps) -> &mut BoundedMap<K, Arc<V>>,
        misses: Misses<K>,
        load: impl FnOnce() -> Result<Option<V>, Error>,
    ) -> Step<Option<Arc<V>>>
    where
        K: std::hash::Hash + Eq + Clone,
    {
        {
            // Hits and remembered misses both answer under the shared read lock: a
            // flood of garbage credentials never takes the write lock.
            let maps = self.read_maps();
            if let Some(v) = pick(&maps).get(key) {
                self.metrics.app_cache.record(true);
                return Ok(Some(Arc::clone(v)));
            }
            if misses.is_some_and(|(read, _)| read(&maps).contains_key(key)) {
                self.metrics.app_cache.record(true);
                return Ok(None);
            }
        }
        if io == Io::Forbidden {
            return Err(Stop::Blocked);
        }
        self.metrics.app_cache.record(false);
        let epoch = self.epoch.load(Ordering::Acquire);
        let loaded = load()?;
        let mut maps = self.write_maps();
        // An invalidation since the load began means the answer may be stale: use it
        // for this call only.
        let fresh = self.epoch.load(Ordering::Acquire) == epoch;
        match loaded {
            Some(value) => {
                let value = Arc::new(value);
                if fresh {
                    pick_mut(&mut maps).insert(key.clone(), Arc::clone(&value));
                }
                Ok(Some(value))
            }
            None => {
                if let (true, Some((_, write))) = (fresh, misses) {
                    write(&mut maps).insert(key.clone(), ());
                }
                Ok(None)
            }
        }
    }

    /// The live state of an app (deleted apps answer with their tombstone).
    pub(crate) fn app(&self, client_id: &ClientId, io: Io) -> Step<Option<Arc<AppState>>> {
        self.cached(
            io,
            client_id,
            |m| &m.apps,
            |m| &mut m.apps,
            Some((|m| &m.missing_apps, |m| &mut m.missing_apps)),
            || Ok(self.source.app_state(client_id)?),
        )
    }

    /// The live state of an environment.
    pub(crate) fn environment(&self, id: EnvironmentId, io: Io) -> Step<Option<Arc<Environment>>> {
        self.cached(
            io,
            &id,
            |m| &m.environments,
            |m| &mut m.environments,
            None,
            || Ok(self.source.environment_by_id(id)?),
        )
    }

    /// The live state of a role.
    pub(crate) fn role(&self, id: RoleId, io: Io) -> Step<Option<Arc<Role>>> {
        self.cached(
            io,
            &id,
            |m| &m.roles,
            |m| &mut m.roles,
            None,
            || Ok(self.source.roles_by_ids(&[id])?.into_iter().next()),
        )
    }

    /// The user with this username (case-insensitively).
    pub(crate) fn user(&self, username: &Username, io: Io) -> Step<Option<Arc<UserState>>> {
        let key = username.as_str().to_lowercase();
        self.cached(
            io,
            &key,
            |m| &m.users,
            |m| &mut m.users,
            Some((|m| &m.missing_users, |m| &mut m.missing_users)),
            || Ok(self.source.user_by_username(username)?),
        )
    }

    /// The live app bound to this external client ID.
    pub(crate) fn binding(
        &self,
        external_client_id: &str,
        io: Io,
    ) -> Step<Option<Arc<ExternalBinding>>> {
        let key = external_client_id.to_owned();
        self.cached(
            io,
            &key,
            |m| &m.bindings,
            |m| &mut m.bindings,
            Some((|m| &m.missing_bindings, |m| &mut m.missing_bindings)),
            || Ok(self.source.external_binding(external_client_id)?),
        )
    }

    /// An environment's identity provider.
    pub(crate) fn identity_provider(
        &self,
        env: EnvironmentId,
        io: Io,
    ) -> Step<Option<Arc<IdentityProvider>>> {
        self.cached(
            io,
            &env,
            |m| &m.idps,
            |m| &mut m.idps,
            Some((|m| &m.missing_idps, |m| &mut m.missing_idps)),
            || Ok(self.source.identity_provider(env)?),
        )
    }

    /// The identity providers naming this issuer.
    pub(crate) fn identity_providers_by_issuer(
        &self,
        issuer: &str,
        io: Io,
    ) -> Step<Arc<Vec<IdentityProvider>>> {
        let key = issuer.to_owned();
        let found = self.cached(
            io,
            &key,
            |m| &m.idps_by_issuer,
            |m| &mut m.idps_by_issuer,
            None,
            || Ok(Some(self.source.identity_providers_by_issuer(issuer)?)),
        )?;
        Ok(found.unwrap_or_default())
    }

    /// The admin holding the personal credential with this digest.
    pub(crate) fn admin_by_credential(
        &self,
        digest: &[u8; 32],
        io: Io,
    ) -> Step<Option<Arc<AdminUser>>> {
        self.cached(
            io,
            digest,
            |m| &m.admins,
            |m| &mut m.admins,
            Some((|m| &m.missing_admins, |m| &mut m.missing_admins)),
            || Ok(self.source.admin_by_credential(digest)?),
        )
    }

    /// What a role grants and whether it acts everywhere (`None` for a role deleted
    /// meanwhile), through the cache.
    fn role_grants(&self, id: RoleId, io: Io) -> Step<Option<Arc<(Grants, bool)>>> {
        {
            let maps = self.read_maps();
            if let Some(g) = maps.role_grants.get(&id) {
                return Ok(Some(Arc::clone(g)));
            }
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let Some(role) = self.role(id, io)? else {
            return Ok(None);
        };
        let computed = Arc::new((
            role.grants(),
            role.builtin
                .is_some_and(keyward_domain::BuiltinRole::is_global),
        ));
        let mut maps = self.write_maps();
        if self.epoch.load(Ordering::Acquire) == epoch {
            maps.role_grants.insert(id, Arc::clone(&computed));
        }
        Ok(Some(computed))
    }

    /// The union of the grants of these roles (a role deleted meanwhile grants nothing).
    pub(crate) fn grants_of(&self, role_ids: &[RoleId], io: Io) -> Step<(Grants, bool)> {
        let mut grants = Grants::none();
        let mut global = false;
        for id in role_ids {
            if let Some(role) = self.role_grants(*id, io)? {
                grants.extend(&role.0);
                global |= role.1;
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
                maps.missing_apps.remove(cid);
                maps.secrets.remove(cid);
                // Its binding may have changed: drop it, and forget unbound IDs.
                maps.bindings.retain(|_, b| b.client_id != *cid);
                maps.missing_bindings.clear();
            }
            ChangeSubject::IdentityProvider(env) => {
                maps.idps.remove(env);
                maps.missing_idps.remove(env);
                maps.idps_by_issuer.clear();
            }
            ChangeSubject::Role(id) => {
                maps.roles.remove(id);
                maps.role_grants.remove(id);
            }
            ChangeSubject::Environment(id) => {
                maps.environments.remove(id);
            }
            ChangeSubject::Admin(id) => {
                maps.admins.retain(|_, a| a.id != *id);
                maps.users.retain(|_, u| u.id != *id);
                maps.missing_users.clear();
                // A new credential's digest may have been tried (and missed) before.
                maps.missing_admins.clear();
            }
            ChangeSubject::ApiKey(id) => {
                maps.api_keys.retain(|_, k| k.id != *id);
                // A new key's digest may have been tried (and missed) before.
                maps.missing_api_keys.clear();
            }
            ChangeSubject::SigningKeys | ChangeSubject::TokenRevoked { .. } => {}
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
    ///
    /// The source promises that no change ever appears below a number it has returned
    /// (on PostgreSQL too, where transactions commit out of order) and says when
    /// changes were pruned before this follower read them, with a leading `Unknown`
    /// (which drops everything). So a hole in the sequence numbers means nothing here:
    /// a rolled-back transaction's number, not lost data.
    pub fn sync_changes(&self) -> Result<Vec<ChangeSubject>, Error> {
        Ok(self.sync_changes_timed()?.0)
    }

    /// [`Self::sync_changes`], with the commit time of the newest change applied.
    pub(crate) fn sync_changes_timed(
        &self,
    ) -> Result<(Vec<ChangeSubject>, Option<chrono::DateTime<chrono::Utc>>), Error> {
        const BATCH: i64 = 1000;
        let mut applied = Vec::new();
        let mut newest = None;
        loop {
            let after = self.last_seq.load(Ordering::Acquire);
            let changes = self.source.changes_since(after, BATCH)?;
            let Some(last) = changes.last().map(|c| c.seq) else {
                break;
            };
            for change in &changes {
                self.invalidate(&change.subject);
            }
            self.last_seq.fetch_max(last, Ordering::AcqRel);
            newest = changes.iter().map(|c| c.at).max().max(newest);
            // A full batch (one more with a leading `Unknown`) may have more behind it.
            let full = i64::try_from(changes.len()).is_ok_and(|n| n >= BATCH);
            applied.extend(changes.into_iter().map(|c| c.subject));
            if !full {
                break;
            }
        }
        Ok((applied, newest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use keyward_domain::{EnvironmentName, EnvironmentSlug};
    use keyward_store::{DieselStore, EnvironmentStore, NewEnvironment, StoreOptions};

    fn store() -> (tempfile::TempDir, Arc<DieselStore>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = DieselStore::open(&StoreOptions::sqlite(dir.path().join("k.db")))
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, Arc::new(store))
    }

    fn raw(store: &DieselStore, sql: &str) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let path = store.path().unwrap_or_else(|| panic!("a SQLite store"));
        let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
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
        raw(&store, "INSERT INTO changes (subject_kind, subject, at) VALUES ('webhook', 'k', '2026-01-01 00:00:00');");
        let applied = live.sync_changes().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(applied, vec![ChangeSubject::Unknown]);
        assert!(matches!(
            live.environment(env, Io::Forbidden),
            Err(Stop::Blocked)
        ));
    }

    #[test]
    fn pruned_changes_make_the_cache_start_over() {
        let (_dir, store) = store();
        let (live, env) = cached_environment(&store);
        // Changes this follower has not read yet are pruned before it reads them.
        let other = store
            .create_environment(
                &NewEnvironment {
                    slug: EnvironmentSlug::parse("other").unwrap_or_else(|e| panic!("{e}")),
                    name: EnvironmentName::parse("Other").unwrap_or_else(|e| panic!("{e}")),
                },
                Utc::now(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        raw(&store, &format!("INSERT INTO changes (subject_kind, subject, at) VALUES ('environment', '{}', '2026-01-01 00:00:00');", other.id.0));
        use keyward_store::ChangeFeed;
        assert!(
            store
                .prune_changes(Utc::now() + chrono::Duration::hours(1))
                .unwrap_or_else(|e| panic!("{e}"))
                >= 1
        );
        let applied = live.sync_changes().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(applied.first(), Some(&ChangeSubject::Unknown));
        assert!(matches!(
            live.environment(env, Io::Forbidden),
            Err(Stop::Blocked)
        ));
    }

    #[test]
    fn a_hole_in_the_sequence_is_not_lost_data() {
        let (_dir, store) = store();
        let (live, env) = cached_environment(&store);
        let next = store.latest_change().unwrap_or_else(|e| panic!("{e}")) + 5;
        // A number nobody committed below this row (on PostgreSQL a rolled-back
        // transaction's): the cache keeps what the feed did not name.
        raw(&store, &format!("INSERT INTO changes (seq, subject_kind, subject, at) VALUES ({next}, 'role', '999', '2026-01-01 00:00:00');"));
        let applied = live.sync_changes().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(applied, vec![ChangeSubject::Role(RoleId(999))]);
        assert!(live.environment(env, Io::Forbidden).is_ok(), "still cached");
    }
}
