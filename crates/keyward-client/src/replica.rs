//! The in-memory replica of Keyward's live state a remote validator checks against: a
//! [`LiveSource`] built from a snapshot and kept current by the change feed, so the
//! core's `Validator` (and the actix `Authorized<P>` extractor) run on it unchanged.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use keyward_core::remote::{LiveChange, LiveEnvironment, LiveRole, LiveSnapshot};
use keyward_domain::{
    AdminUser, BuiltinRole, ClientId, CredentialId, Environment, EnvironmentId, EnvironmentName,
    EnvironmentSlug, Permission, Role, RoleId, RoleName, Username,
};
use keyward_store::{
    ApiKeyState, AppState, Change, ChangeSubject, ExternalBinding, IdentityProvider, LiveSource,
    SigningKeyRecord, StoreError, StoreResult, UserState,
};

/// Most changes remembered for the validator's caches; older ones are reported as lost
/// (an `Unknown` change: the validator drops its caches), never silently.
const MAX_LOG: usize = 100_000;

#[derive(Default)]
struct State {
    apps: HashMap<String, AppState>,
    environments: HashMap<i64, Environment>,
    roles: HashMap<i64, Role>,
    api_keys: HashMap<[u8; 32], ApiKeyState>,
    signing_keys: Vec<SigningKeyRecord>,
    /// Changes applied, with local sequence numbers (the validator follows these).
    log: Vec<Change>,
    /// Local sequence of the last change appended.
    last_seq: i64,
    /// Local changes below this were dropped from the log.
    dropped_through: i64,
}

/// Keyward's live state as last heard, behind [`LiveSource`].
#[derive(Default)]
pub struct Replica {
    state: RwLock<State>,
}

fn environment(e: &LiveEnvironment) -> Option<Environment> {
    Some(Environment {
        id: EnvironmentId(e.id),
        slug: EnvironmentSlug::parse(&e.slug).ok()?,
        // Validators need only the slug and the flag.
        name: EnvironmentName::parse(&e.slug).ok()?,
        enabled: e.enabled,
        client_app_count: 0,
        created_at: DateTime::<Utc>::UNIX_EPOCH,
    })
}

fn role(r: &LiveRole) -> Option<Role> {
    Some(Role {
        id: RoleId(r.id),
        environment_id: EnvironmentId(r.environment_id),
        name: RoleName::parse(&r.name).ok()?,
        builtin: match &r.builtin {
            Some(key) => Some(BuiltinRole::from_key(key)?),
            None => None,
        },
        permissions: r
            .permissions
            .iter()
            .map(|p| Permission::parse(p).ok())
            .collect::<Option<Vec<_>>>()?,
        created_at: DateTime::<Utc>::UNIX_EPOCH,
    })
}

impl Replica {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces everything with a snapshot, and tells the validator to forget what it
    /// cached (an `Unknown` change).
    pub fn load(&self, snapshot: &LiveSnapshot) {
        let mut s = self.write();
        s.apps = snapshot
            .apps
            .iter()
            .filter_map(|a| a.to_state())
            .map(|a| (a.client_id.as_str().to_owned(), a))
            .collect();
        s.environments = snapshot
            .environments
            .iter()
            .filter_map(environment)
            .map(|e| (e.id.0, e))
            .collect();
        s.roles = snapshot
            .roles
            .iter()
            .filter_map(role)
            .map(|r| (r.id.0, r))
            .collect();
        s.api_keys = snapshot
            .api_keys
            .iter()
            .filter_map(|k| k.to_state())
            .map(|k| (k.digest, k))
            .collect();
        s.signing_keys = snapshot
            .signing_keys
            .iter()
            .map(|k| k.to_record())
            .collect();
        append(&mut s, ChangeSubject::Unknown);
    }

    /// Applies one change of the feed (with its current state); `false` for a change
    /// that says changes were lost (the caller must start over from a snapshot).
    pub fn apply(&self, change: &LiveChange) -> bool {
        let mut s = self.write();
        let subject = match change.kind.as_str() {
            "app" => {
                let Some(client_id) = change.subject.as_deref() else {
                    return true;
                };
                match change.app.as_ref().and_then(|a| a.to_state()) {
                    Some(app) => {
                        s.apps.insert(client_id.to_owned(), app);
                    }
                    None => {
                        s.apps.remove(client_id);
                    }
                }
                match ClientId::parse(client_id) {
                    Ok(id) => ChangeSubject::App(id),
                    Err(_) => ChangeSubject::Unknown,
                }
            }
            "role" => {
                let Some(id) = change
                    .subject
                    .as_deref()
                    .and_then(|t| t.parse::<i64>().ok())
                else {
                    return true;
                };
                match change.role.as_ref().and_then(role) {
                    Some(r) => {
                        s.roles.insert(id, r);
                    }
                    None => {
                        s.roles.remove(&id);
                    }
                }
                ChangeSubject::Role(RoleId(id))
            }
            "environment" => {
                let Some(id) = change
                    .subject
                    .as_deref()
                    .and_then(|t| t.parse::<i64>().ok())
                else {
                    return true;
                };
                match change.environment.as_ref().and_then(environment) {
                    Some(e) => {
                        s.environments.insert(id, e);
                    }
                    None => {
                        s.environments.remove(&id);
                    }
                }
                ChangeSubject::Environment(EnvironmentId(id))
            }
            "api_key" => {
                let Some(id) = change.subject.as_deref() else {
                    return true;
                };
                s.api_keys.retain(|_, k| k.id.as_str() != id);
                if let Some(k) = change.api_key.as_ref().and_then(|k| k.to_state()) {
                    s.api_keys.insert(k.digest, k);
                }
                match CredentialId::parse(id, "id") {
                    Ok(id) => ChangeSubject::ApiKey(id),
                    Err(_) => ChangeSubject::Unknown,
                }
            }
            "signing_keys" => {
                if let Some(keys) = &change.signing_keys {
                    s.signing_keys = keys.iter().map(|k| k.to_record()).collect();
                }
                ChangeSubject::SigningKeys
            }
            "unknown" => return false,
            // A kind this version does not know: assume anything changed.
            _ => ChangeSubject::Unknown,
        };
        append(&mut s, subject);
        true
    }
}

fn append(s: &mut State, subject: ChangeSubject) {
    s.last_seq += 1;
    let seq = s.last_seq;
    s.log.push(Change {
        seq,
        subject,
        at: DateTime::<Utc>::UNIX_EPOCH,
    });
    if s.log.len() > MAX_LOG {
        let drop = s.log.len() - MAX_LOG;
        s.dropped_through = s
            .log
            .get(drop.saturating_sub(1))
            .map_or(s.dropped_through, |c| c.seq);
        s.log.drain(..drop);
    }
}

impl LiveSource for Replica {
    fn app_state(&self, client_id: &ClientId) -> StoreResult<Option<AppState>> {
        Ok(self.read().apps.get(client_id.as_str()).cloned())
    }

    fn environment_by_id(&self, id: EnvironmentId) -> StoreResult<Option<Environment>> {
        Ok(self.read().environments.get(&id.0).cloned())
    }

    fn roles_by_ids(&self, ids: &[RoleId]) -> StoreResult<Vec<Role>> {
        let s = self.read();
        Ok(ids
            .iter()
            .filter_map(|id| s.roles.get(&id.0).cloned())
            .collect())
    }

    /// Remote validators accept app credentials only.
    fn admin_by_credential(&self, _digest: &[u8; 32]) -> StoreResult<Option<AdminUser>> {
        Ok(None)
    }

    fn user_by_username(&self, _username: &Username) -> StoreResult<Option<UserState>> {
        Ok(None)
    }

    fn external_binding(&self, _external_client_id: &str) -> StoreResult<Option<ExternalBinding>> {
        Ok(None)
    }

    fn identity_provider(&self, _env: EnvironmentId) -> StoreResult<Option<IdentityProvider>> {
        Ok(None)
    }

    fn identity_providers_by_issuer(&self, _issuer: &str) -> StoreResult<Vec<IdentityProvider>> {
        Ok(Vec::new())
    }

    fn api_key_by_digest(&self, digest: &[u8; 32]) -> StoreResult<Option<ApiKeyState>> {
        Ok(self.read().api_keys.get(digest).cloned())
    }

    fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        Ok(self.read().signing_keys.clone())
    }

    fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        let s = self.read();
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut out = Vec::new();
        if after < s.dropped_through {
            out.push(Change {
                seq: s.dropped_through,
                subject: ChangeSubject::Unknown,
                at: DateTime::<Utc>::UNIX_EPOCH,
            });
        }
        out.extend(s.log.iter().filter(|c| c.seq > after).take(limit).cloned());
        Ok(out)
    }

    fn latest_change(&self) -> StoreResult<i64> {
        Ok(self.read().last_seq)
    }

    fn ping(&self) -> StoreResult<()> {
        if self.read().signing_keys.is_empty() {
            return Err(StoreError::Unavailable(
                "no snapshot from Keyward yet".into(),
            ));
        }
        Ok(())
    }
}
