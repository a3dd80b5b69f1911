//! Live state for remote validators (SPEC §10): what a resource server on another host
//! needs to validate Keyward tokens and API keys locally with Keyward's live semantics —
//! a snapshot, and the change feed with each change's current state — as serde types
//! shared by the server (`GET /api/v1/live/snapshot`, `GET /api/v1/live/changes`) and
//! the `keyward-client` crate. Nothing secret is in them: no secret hash, no private
//! key, no personal credential; API keys appear only as SHA-256 digests.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use keyward_domain::{
    AppStatus, BuiltinRole, ClientId, CredentialId, Environment, EnvironmentId, Page, PageLimit,
    Role, RoleId, SortOrder,
};
use keyward_store::{ApiKeyState, AppQuery, AppState, ChangeSubject, SigningKeyRecord};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::{Keyward, Principal};

/// An environment as validators need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEnvironment {
    /// Storage identity (roles and apps refer to it).
    pub id: i64,
    /// Its slug.
    pub slug: String,
    /// A disabled environment refuses every credential of its apps.
    pub enabled: bool,
}

/// A role as validators need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRole {
    /// Storage identity.
    pub id: i64,
    /// Its environment.
    pub environment_id: i64,
    /// Its name.
    pub name: String,
    /// `super_admin` / `admin` for a built-in role (its permissions come from code).
    pub builtin: Option<String>,
    /// A custom role's permissions.
    pub permissions: Vec<String>,
}

/// A client app as validators need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveApp {
    /// Storage identity.
    pub id: i64,
    /// Its client ID.
    pub client_id: String,
    /// Its environment.
    pub environment_id: i64,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// Deleted apps fail for ever.
    pub deleted: bool,
    /// Its roles.
    pub role_ids: Vec<i64>,
}

/// An API key as validators need it: never the key, only its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveApiKey {
    /// Its public identifier.
    pub id: String,
    /// Lowercase hex SHA-256 of the key.
    pub digest: String,
    /// The app it acts as.
    pub client_id: String,
    /// When it stops working by itself.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A public signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSigningKey {
    /// Key ID.
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: String,
    /// The public JWK (JSON text).
    pub public_jwk: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A revoked access token a validator refuses until its expiry (RFC 7009). Its `jti`
/// is a random identifier, not a credential, so every caller gets every one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`: after it the token fails anyway.
    pub expires_at: DateTime<Utc>,
}

/// `GET /api/v1/live/snapshot`: everything a validator of the caller's reach needs, as
/// of `position` (every change after it is in the feed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSnapshot {
    /// The feed position this snapshot reflects (read before the snapshot: a change
    /// made while it was read is delivered again, which is harmless).
    pub position: i64,
    /// Environments.
    pub environments: Vec<LiveEnvironment>,
    /// Roles.
    pub roles: Vec<LiveRole>,
    /// Client apps (deleted ones are absent: unknown means refused).
    pub apps: Vec<LiveApp>,
    /// API keys.
    pub api_keys: Vec<LiveApiKey>,
    /// Public signing keys.
    pub signing_keys: Vec<LiveSigningKey>,
    /// Revoked tokens not yet expired.
    #[serde(default)]
    pub revoked_tokens: Vec<LiveRevokedToken>,
}

/// One change of the feed, with the current state of what it names (`null` when that
/// is gone or outside the caller's reach).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveChange {
    /// Feed position.
    pub seq: i64,
    /// `app`, `role`, `environment`, `api_key`, `signing_keys`, `token_revoked`, or
    /// `unknown` (changes were lost: start over from a snapshot).
    pub kind: String,
    /// For `app`: the client ID; for `api_key`: the key's ID; for `role` and
    /// `environment`: the numeric ID as text.
    pub subject: Option<String>,
    /// The app's current state.
    pub app: Option<LiveApp>,
    /// The role's current state.
    pub role: Option<LiveRole>,
    /// The environment's current state.
    pub environment: Option<LiveEnvironment>,
    /// The key's current state.
    pub api_key: Option<LiveApiKey>,
    /// Every public signing key, for `signing_keys`.
    pub signing_keys: Option<Vec<LiveSigningKey>>,
    /// The revoked token, for `token_revoked`.
    #[serde(default)]
    pub revoked_token: Option<LiveRevokedToken>,
}

/// `GET /api/v1/live/changes` (long-poll): changes after the asked position, and the
/// position to ask from next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveChanges {
    /// The changes, oldest first.
    pub items: Vec<LiveChange>,
    /// Where to continue (the last change read, even one outside the caller's reach).
    pub position: i64,
}

impl From<&Environment> for LiveEnvironment {
    fn from(e: &Environment) -> Self {
        Self {
            id: e.id.0,
            slug: e.slug.as_str().to_owned(),
            enabled: e.enabled,
        }
    }
}

impl From<&Role> for LiveRole {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.0,
            environment_id: r.environment_id.0,
            name: r.name.as_str().to_owned(),
            builtin: r.builtin.map(|b| BuiltinRole::key(b).to_owned()),
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
        }
    }
}

impl From<&AppState> for LiveApp {
    fn from(a: &AppState) -> Self {
        Self {
            id: a.id.0,
            client_id: a.client_id.as_str().to_owned(),
            environment_id: a.environment_id.0,
            status: a.status.as_str().to_owned(),
            deleted: a.deleted,
            role_ids: a.role_ids.iter().map(|r| r.0).collect(),
        }
    }
}

impl From<&ApiKeyState> for LiveApiKey {
    fn from(k: &ApiKeyState) -> Self {
        Self {
            id: k.id.as_str().to_owned(),
            digest: keyward_store::digest_to_hex(&k.digest),
            client_id: k.client_id.as_str().to_owned(),
            expires_at: k.expires_at,
        }
    }
}

impl From<&SigningKeyRecord> for LiveSigningKey {
    fn from(k: &SigningKeyRecord) -> Self {
        // The public JWK only: the private key never leaves the server.
        Self {
            kid: k.kid.clone(),
            algorithm: k.algorithm.clone(),
            public_jwk: k.public_jwk.clone(),
            created_at: k.created_at,
        }
    }
}

impl LiveApp {
    /// The app's state as the core's read model holds it.
    pub fn to_state(&self) -> Option<AppState> {
        Some(AppState {
            id: keyward_domain::AppId(self.id),
            client_id: ClientId::parse(&self.client_id).ok()?,
            environment_id: EnvironmentId(self.environment_id),
            status: AppStatus::parse(&self.status)?,
            deleted: self.deleted,
            role_ids: self.role_ids.iter().copied().map(RoleId).collect(),
        })
    }
}

impl LiveApiKey {
    /// The key's state as the core's read model holds it.
    pub fn to_state(&self) -> Option<ApiKeyState> {
        let digest = keyward_store::digest_from_hex(&self.digest)?;
        Some(ApiKeyState {
            id: CredentialId::parse(&self.id, "id").ok()?,
            digest,
            client_id: ClientId::parse(&self.client_id).ok()?,
            expires_at: self.expires_at,
        })
    }
}

impl LiveSigningKey {
    /// The key as a store record (public part only: no private key).
    pub fn to_record(&self) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: self.kid.clone(),
            algorithm: self.algorithm.clone(),
            public_jwk: self.public_jwk.clone(),
            private_jwe: String::new(),
            created_at: self.created_at,
        }
    }
}

impl Keyward {
    /// The environments a principal's live feed covers: all for a global principal,
    /// its own otherwise.
    fn live_environments(&self, principal: &Principal) -> Result<Vec<Environment>, Error> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page: Page<Environment> =
                self.store
                    .list_environments(SortOrder::Asc, PageLimit::largest(), cursor)?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if !principal.global {
            let own = principal.environment().cloned();
            all.retain(|e| Some(&e.slug) == own.as_ref());
        }
        Ok(all)
    }

    /// The snapshot a remote validator starts from (`live:read`, the caller's reach).
    pub fn live_snapshot(&self, principal: &Principal) -> Result<LiveSnapshot, Error> {
        let position = self.store.latest_change()?;
        let environments = self.live_environments(principal)?;
        let mut roles = Vec::new();
        let mut apps = Vec::new();
        let mut api_keys = Vec::new();
        for env in &environments {
            let mut cursor = None;
            loop {
                let page =
                    self.store
                        .list_roles(env.id, SortOrder::Asc, PageLimit::largest(), cursor)?;
                roles.extend(page.items.iter().map(LiveRole::from));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let mut cursor = None;
            loop {
                let page = self.store.list_apps(
                    env.id,
                    &AppQuery {
                        search: None,
                        order: SortOrder::Asc,
                        limit: PageLimit::largest(),
                        cursor,
                    },
                )?;
                for app in &page.items {
                    if let Some(state) = self.store.app_state(&app.client_id)? {
                        apps.push(LiveApp::from(&state));
                    }
                    api_keys.extend(
                        self.store
                            .api_key_states(app.id)?
                            .iter()
                            .map(LiveApiKey::from),
                    );
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(LiveSnapshot {
            position,
            environments: environments.iter().map(LiveEnvironment::from).collect(),
            roles,
            apps,
            api_keys,
            signing_keys: self
                .store
                .signing_keys()?
                .iter()
                .map(LiveSigningKey::from)
                .collect(),
            revoked_tokens: self
                .store
                .revoked_tokens(self.clock.now())?
                .into_iter()
                .map(|t| LiveRevokedToken {
                    jti: t.jti,
                    expires_at: t.expires_at,
                })
                .collect(),
        })
    }

    /// Changes after `after` (at most `limit`), each with the current state of what it
    /// names, within the caller's reach. An empty answer means nothing new yet.
    pub fn live_changes(
        &self,
        principal: &Principal,
        after: i64,
        limit: i64,
    ) -> Result<LiveChanges, Error> {
        let changes = self.store.changes_since(after, limit)?;
        let position = changes.last().map_or(after, |c| c.seq.max(after));
        let reach: Option<EnvironmentId> = if principal.global {
            None
        } else {
            let own = principal.environment().cloned();
            match own {
                Some(slug) => self.store.environment_by_slug(&slug)?.map(|e| e.id),
                None => {
                    return Ok(LiveChanges {
                        items: Vec::new(),
                        position,
                    })
                }
            }
        };
        let within = |env: EnvironmentId| reach.is_none_or(|r| r == env);
        let mut items = Vec::with_capacity(changes.len());
        for change in changes {
            let mut item = LiveChange {
                seq: change.seq,
                kind: String::new(),
                subject: None,
                app: None,
                role: None,
                environment: None,
                api_key: None,
                signing_keys: None,
                revoked_token: None,
            };
            match &change.subject {
                ChangeSubject::App(client_id) => {
                    let state = self.store.app_state(client_id)?;
                    if state.as_ref().is_some_and(|s| !within(s.environment_id)) {
                        continue;
                    }
                    item.kind = "app".into();
                    item.subject = Some(client_id.as_str().to_owned());
                    item.app = state.as_ref().map(LiveApp::from);
                }
                ChangeSubject::Role(id) => {
                    let role = self.store.roles_by_ids(&[*id])?.into_iter().next();
                    if role.as_ref().is_some_and(|r| !within(r.environment_id)) {
                        continue;
                    }
                    item.kind = "role".into();
                    item.subject = Some(id.0.to_string());
                    item.role = role.as_ref().map(LiveRole::from);
                }
                ChangeSubject::Environment(id) => {
                    if !within(*id) {
                        continue;
                    }
                    item.kind = "environment".into();
                    item.subject = Some(id.0.to_string());
                    item.environment = self
                        .store
                        .environment_by_id(*id)?
                        .as_ref()
                        .map(LiveEnvironment::from);
                }
                ChangeSubject::ApiKey(id) => {
                    let key = self.store.api_key_state(id)?;
                    if let Some(k) = &key {
                        let env = self
                            .store
                            .app_state(&k.client_id)?
                            .map(|a| a.environment_id);
                        if env.is_some_and(|e| !within(e)) {
                            continue;
                        }
                    }
                    item.kind = "api_key".into();
                    item.subject = Some(id.as_str().to_owned());
                    item.api_key = key.as_ref().map(LiveApiKey::from);
                }
                ChangeSubject::SigningKeys => {
                    item.kind = "signing_keys".into();
                    item.signing_keys = Some(
                        self.store
                            .signing_keys()?
                            .iter()
                            .map(LiveSigningKey::from)
                            .collect(),
                    );
                }
                ChangeSubject::TokenRevoked { jti, expires_at } => {
                    item.kind = "token_revoked".into();
                    item.subject = Some(jti.clone());
                    item.revoked_token = Some(LiveRevokedToken {
                        jti: jti.clone(),
                        expires_at: *expires_at,
                    });
                }
                ChangeSubject::Unknown => item.kind = "unknown".into(),
                // Users, their credentials and identity providers: not what a remote
                // validator checks (it accepts app credentials only).
                ChangeSubject::Admin(_) | ChangeSubject::IdentityProvider(_) => continue,
            }
            items.push(item);
        }
        Ok(LiveChanges { items, position })
    }
}

/// A check a validator runs before every decision: `Some(reason)` refuses every
/// credential (a remote validator that has not heard from Keyward for too long fails
/// closed).
pub type Liveness = Arc<dyn Fn() -> Option<&'static str> + Send + Sync>;
