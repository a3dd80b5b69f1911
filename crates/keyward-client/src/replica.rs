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
    RevokedTokenId, SigningKeyRecord, StoreError, StoreResult, UserState,
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
    /// Revoked token IDs with their expiry.
    revoked: HashMap<String, DateTime<Utc>>,
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
        s.revoked = snapshot
            .revoked_tokens
            .iter()
            .map(|t| (t.jti.clone(), t.expires_at))
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
            "token_revoked" => {
                let Some(t) = &change.revoked_token else {
                    return true;
                };
                // Expired entries go as new ones arrive: the set stays one lifetime deep.
                let now = keyward_core::Clock::now(&keyward_core::SystemClock);
                s.revoked.retain(|_, exp| *exp >= now);
                s.revoked.insert(t.jti.clone(), t.expires_at);
                ChangeSubject::TokenRevoked {
                    jti: t.jti.clone(),
                    expires_at: t.expires_at,
                }
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

    fn revoked_tokens(&self, now: DateTime<Utc>) -> StoreResult<Vec<RevokedTokenId>> {
        Ok(self
            .read()
            .revoked
            .iter()
            .filter(|(_, exp)| **exp >= now)
            .map(|(jti, exp)| RevokedTokenId {
                jti: jti.clone(),
                expires_at: *exp,
            })
            .collect())
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

#[cfg(test)]
mod tests {
    use keyward_core::remote::{LiveApiKey, LiveApp};

    use super::*;

    fn app(status: &str) -> LiveApp {
        LiveApp {
            id: 1,
            client_id: "bot".into(),
            environment_id: 1,
            status: status.into(),
            deleted: false,
            role_ids: vec![1],
        }
    }

    fn snapshot() -> LiveSnapshot {
        LiveSnapshot {
            position: 7,
            environments: vec![LiveEnvironment {
                id: 1,
                slug: "default".into(),
                enabled: true,
            }],
            roles: vec![LiveRole {
                id: 1,
                environment_id: 1,
                name: "reader".into(),
                builtin: None,
                permissions: vec!["orders:read".into()],
            }],
            apps: vec![app("ACTIVE")],
            api_keys: vec![LiveApiKey {
                id: "k1".into(),
                digest: "ab".repeat(32),
                client_id: "bot".into(),
                expires_at: None,
            }],
            signing_keys: vec![],
            revoked_tokens: vec![keyward_core::remote::LiveRevokedToken {
                jti: "revoked-in-snapshot".into(),
                expires_at: DateTime::<Utc>::MAX_UTC,
            }],
        }
    }

    fn change(kind: &str, subject: &str) -> LiveChange {
        LiveChange {
            seq: 8,
            kind: kind.into(),
            subject: Some(subject.into()),
            app: None,
            role: None,
            environment: None,
            api_key: None,
            signing_keys: None,
            revoked_token: None,
        }
    }

    #[test]
    fn revoked_tokens_come_from_the_snapshot_and_the_feed() {
        let r = Replica::default();
        r.load(&snapshot());
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let jtis = |r: &Replica| {
            let mut v: Vec<String> = r
                .revoked_tokens(now)
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.jti)
                .collect();
            v.sort();
            v
        };
        assert_eq!(jtis(&r), ["revoked-in-snapshot"]);
        let position = r.latest_change().unwrap_or_default();
        let mut revoked = change("token_revoked", "j2");
        revoked.revoked_token = Some(keyward_core::remote::LiveRevokedToken {
            jti: "j2".into(),
            expires_at: DateTime::<Utc>::MAX_UTC,
        });
        assert!(r.apply(&revoked));
        assert_eq!(jtis(&r), ["j2", "revoked-in-snapshot"]);
        let fed = r.changes_since(position, 10).unwrap_or_default();
        assert!(fed.iter().any(|c| matches!(
            &c.subject,
            ChangeSubject::TokenRevoked { jti, .. } if jti == "j2"
        )));
    }

    #[test]
    fn a_snapshot_then_changes_are_served_and_logged_for_the_validator() {
        let r = Replica::default();
        r.load(&snapshot());
        let bot = ClientId::parse("bot").unwrap_or_else(|e| panic!("{e}"));
        let state = r.app_state(&bot).ok().flatten();
        assert_eq!(
            state.map(|a| a.status),
            Some(keyward_domain::AppStatus::Active)
        );
        assert!(r.api_key_by_digest(&[0xab; 32]).ok().flatten().is_some());
        let start = r.latest_change().unwrap_or_default();
        // The app deactivated, its key deleted, its role gone.
        let mut c = change("app", "bot");
        c.app = Some(app("INACTIVE"));
        assert!(r.apply(&c));
        assert!(r.apply(&change("api_key", "k1")));
        assert!(r.apply(&change("role", "1")));
        let state = r.app_state(&bot).ok().flatten();
        assert_eq!(
            state.map(|a| a.status),
            Some(keyward_domain::AppStatus::Inactive)
        );
        assert!(r.api_key_by_digest(&[0xab; 32]).ok().flatten().is_none());
        assert!(r.roles_by_ids(&[RoleId(1)]).unwrap_or_default().is_empty());
        let subjects: Vec<_> = r
            .changes_since(start, 10)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.subject)
            .collect();
        assert_eq!(
            subjects,
            vec![
                ChangeSubject::App(bot.clone()),
                ChangeSubject::ApiKey(
                    CredentialId::parse("k1", "id").unwrap_or_else(|e| panic!("{e}"))
                ),
                ChangeSubject::Role(RoleId(1)),
            ]
        );
        // A deleted app is gone; a lost stretch of the feed asks for a new snapshot.
        assert!(r.apply(&change("app", "bot")));
        assert!(r.app_state(&bot).ok().flatten().is_none());
        assert!(!r.apply(&change("unknown", "")));
        // Reloading tells the validator to forget everything.
        r.load(&snapshot());
        let last = r.changes_since(start + 4, 10).unwrap_or_default();
        assert_eq!(
            last.last().map(|c| c.subject.clone()),
            Some(ChangeSubject::Unknown)
        );
    }
}
