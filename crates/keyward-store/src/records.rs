//! Plain records that cross the storage boundary besides the domain types.

use chrono::{DateTime, Utc};
use keyward_domain::{
    AdminRole, ApiKeyName, AppId, AppName, AppStatus, ClientId, CredentialId, Cursor,
    EnvironmentId, EnvironmentName, EnvironmentSlug, PageLimit, Permission, RoleId, RoleName,
    SortOrder, Username,
};

/// What credential checks need to know about an app, as stored right now.
#[derive(Clone, PartialEq, Eq)]
pub struct AppState {
    /// Storage identity.
    pub id: AppId,
    /// The public identifier.
    pub client_id: ClientId,
    /// The environment the app lives in.
    pub environment_id: EnvironmentId,
    /// Active or inactive.
    pub status: AppStatus,
    /// Whether the app was deleted (a tombstone: every token fails forever).
    pub deleted: bool,
    /// The roles bound to the app.
    pub role_ids: Vec<RoleId>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("environment_id", &self.environment_id)
            .field("status", &self.status)
            .field("deleted", &self.deleted)
            .field("role_ids", &self.role_ids)
            .finish()
    }
}

/// A new environment.
#[derive(Debug, Clone)]
pub struct NewEnvironment {
    /// Its slug.
    pub slug: EnvironmentSlug,
    /// Its display name.
    pub name: EnvironmentName,
}

/// A change to an environment (fields left `None` stay as they are).
#[derive(Debug, Clone, Default)]
pub struct EnvironmentChange {
    /// New display name.
    pub name: Option<EnvironmentName>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// A new custom role.
#[derive(Debug, Clone)]
pub struct NewRole {
    /// The environment it belongs to.
    pub environment_id: EnvironmentId,
    /// Its name.
    pub name: RoleName,
    /// Its permissions.
    pub permissions: Vec<Permission>,
}

/// A new client app, with its already generated identifiers.
pub struct NewApp {
    /// The environment it belongs to.
    pub environment_id: EnvironmentId,
    /// Its name.
    pub name: AppName,
    /// Its generated client ID.
    pub client_id: ClientId,
    /// Its first secret.
    pub secret: NewSecret,
    /// Roles to bind.
    pub role_ids: Vec<RoleId>,
}

/// A new client secret, already hashed.
pub struct NewSecret {
    /// Its generated public identifier.
    pub id: CredentialId,
    /// The argon2id PHC string of the secret.
    pub hash: String,
    /// The secret's last four characters (part of its public checksum), which pick the
    /// hash to verify first when an app has two secrets.
    pub hint: String,
}

/// A stored client secret as client authentication needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// Its public identifier (for `last_used_at`).
    pub id: CredentialId,
    /// The argon2id PHC string.
    pub hash: String,
    /// The secret's last four characters; `None` for secrets stored before hints were.
    pub hint: Option<String>,
    /// `None` for the current secret; the end of the grace period for the previous one.
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSecret")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A new API key, already digested.
pub struct NewApiKey {
    /// Its generated public identifier.
    pub id: CredentialId,
    /// The app it belongs to.
    pub app: AppId,
    /// Its name.
    pub name: ApiKeyName,
    /// The SHA-256 digest of the key.
    pub digest: [u8; 32],
    /// When it stops working by itself.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a credential check needs to know about an API key, found by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyState {
    /// Its public identifier.
    pub id: CredentialId,
    /// The SHA-256 digest it was found by (compared again, in constant time, by the
    /// caller).
    pub digest: [u8; 32],
    /// The app it acts as.
    pub client_id: ClientId,
    /// When it stops working by itself.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A batch of last-use times, written together (never moving a value backwards).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Apps: last token issued or API key used.
    pub apps: Vec<(AppId, DateTime<Utc>)>,
    /// Client secrets, by public identifier: last token issued with each.
    pub secrets: Vec<(CredentialId, DateTime<Utc>)>,
    /// API keys, by public identifier: last call made with each.
    pub api_keys: Vec<(CredentialId, DateTime<Utc>)>,
}

impl Usage {
    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty() && self.secrets.is_empty() && self.api_keys.is_empty()
    }

    /// How many values the batch holds.
    pub fn len(&self) -> usize {
        self.apps.len() + self.secrets.len() + self.api_keys.len()
    }
}

/// What a credential check needs to know about a user (whom an app impersonates), as
/// stored right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    /// Storage identity.
    pub id: keyward_domain::AdminId,
    /// Login name.
    pub username: Username,
    /// The global built-in role, if any.
    pub role: Option<AdminRole>,
    /// Active or inactive.
    pub status: AppStatus,
    /// Roles inside environments (each role names its environment).
    pub role_ids: Vec<RoleId>,
}

/// What a credential check needs to know about an app's binding to its environment's
/// identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalBinding {
    /// The client ID the identity provider knows the app by.
    pub external_client_id: String,
    /// The app (Keyward's client ID).
    pub client_id: ClientId,
    /// The app's environment.
    pub environment_id: EnvironmentId,
    /// The user the app acts as, if any.
    pub impersonate: Option<Username>,
}

/// An environment's identity provider, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    /// The environment it serves.
    pub environment_id: EnvironmentId,
    /// Its issuer (discovered, or given), which external tokens must name.
    pub issuer: Option<String>,
    /// Where brokered client credentials are sent.
    pub token_endpoint: String,
    /// Where its public keys are.
    pub jwks_uri: Option<String>,
    /// The `aud` external tokens must carry, if set.
    pub audience: Option<String>,
    /// The claims that may carry the client ID, tried in order.
    pub client_id_claims: Vec<String>,
    /// The scope sent upstream when brokering.
    pub scope: Option<String>,
    /// Whether it is used at all.
    pub enabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A list query over client apps.
#[derive(Debug, Clone, Default)]
pub struct AppQuery {
    /// Case-insensitive substring of the name or client ID.
    pub search: Option<String>,
    /// Sort order by creation time.
    pub order: SortOrder,
    /// Page size.
    pub limit: PageLimit,
    /// Where to continue.
    pub cursor: Option<Cursor>,
}

/// A new user.
pub struct NewAdmin {
    /// Login name.
    pub username: Username,
    /// The argon2id PHC string of the password, if one was set.
    pub password_hash: Option<String>,
    /// The global built-in role, if any.
    pub role: Option<AdminRole>,
    /// Roles inside environments (each role names its environment).
    pub role_ids: Vec<RoleId>,
    /// SHA-256 digest of a personal credential to issue at once.
    pub credential_digest: Option<[u8; 32]>,
}

/// A signing key as stored: the public JWK in clear, the private JWK encrypted (a
/// compact JWE under the master key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key ID (`kid`).
    pub kid: String,
    /// JWS algorithm name (`ES256`, `EdDSA`, `RS256`).
    pub algorithm: String,
    /// The public key as a JWK (JSON).
    pub public_jwk: String,
    /// The private key as a compact JWE of its JWK.
    pub private_jwe: String,
    /// Creation time; the newest key of the configured algorithm signs.
    pub created_at: DateTime<Utc>,
}

/// A revoked access token, kept until its own expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The app the token was issued to.
    pub client_id: ClientId,
    /// The token's `exp`.
    pub expires_at: DateTime<Utc>,
}

/// A revoked token as validators need it: its ID and expiry (a `jti` is a random
/// identifier, not a credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedTokenId {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`.
    pub expires_at: DateTime<Utc>,
}

/// What a change-feed entry is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSubject {
    /// An app's status, roles, secrets or existence changed.
    App(ClientId),
    /// An API key was created or deleted.
    ApiKey(CredentialId),
    /// A role's permissions or existence changed.
    Role(RoleId),
    /// An environment was created, renamed, enabled or disabled.
    Environment(EnvironmentId),
    /// A user, their roles, status or credential changed.
    Admin(keyward_domain::AdminId),
    /// An environment's identity provider was set, changed or removed.
    IdentityProvider(EnvironmentId),
    /// Signing keys were added or retired.
    SigningKeys,
    /// An access token was revoked (RFC 7009): followers add it to the tokens they
    /// refuse, until its expiry.
    TokenRevoked {
        /// The token's `jti`.
        jti: String,
        /// The token's `exp`: after it the token fails anyway and is forgotten.
        expires_at: DateTime<Utc>,
    },
    /// A change this version cannot read (written by a newer version): whoever follows
    /// the feed must assume anything changed.
    Unknown,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Monotonic sequence number.
    pub seq: i64,
    /// What changed.
    pub subject: ChangeSubject,
    /// When.
    pub at: DateTime<Utc>,
}

/// A user as a password login sees them.
#[derive(Clone)]
pub struct LoginRecord {
    /// Storage identity.
    pub id: keyward_domain::AdminId,
    /// Login name, as stored.
    pub username: Username,
    /// The argon2id PHC string of the password, if one was ever set.
    pub password_hash: Option<String>,
    /// Active or inactive.
    pub status: AppStatus,
    /// Whether the password is a one-time password to be replaced at login.
    pub password_must_change: bool,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"<hidden>")
            .field("status", &self.status)
            .field("password_must_change", &self.password_must_change)
            .finish()
    }
}

/// A console session as stored (never its token: only the token's digest finds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The user it belongs to.
    pub user_id: keyward_domain::AdminId,
    /// That user's login name.
    pub username: Username,
    /// Whether the user must replace a one-time password before doing anything else.
    pub password_must_change: bool,
    /// When the user logged in.
    pub created_at: DateTime<Utc>,
    /// When the session was last used.
    pub last_seen_at: DateTime<Utc>,
}

/// A SHA-256 digest as stored and sent: 64 lowercase hex digits.
pub fn digest_to_hex(digest: &[u8; 32]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The digest written by [`digest_to_hex`] (`None` for anything else).
pub fn digest_from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, slot) in digest.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(digest)
}

/// Who made a change recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditActorKind {
    /// A user: through a console session or a personal credential.
    User,
    /// A client app through one of its access tokens.
    ClientApp,
    /// A client app through one of its API keys.
    ApiKey,
    /// A client app through an access token of its environment's identity provider.
    External,
    /// The operator at the command line, or the server itself (first start, key
    /// retirement).
    System,
}

impl AuditActorKind {
    /// Every kind.
    pub const ALL: [AuditActorKind; 5] = [
        AuditActorKind::User,
        AuditActorKind::ClientApp,
        AuditActorKind::ApiKey,
        AuditActorKind::External,
        AuditActorKind::System,
    ];

    /// The stored and wire form: `user`, `client_app`, `api_key`, `external`, `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditActorKind::User => "user",
            AuditActorKind::ClientApp => "client_app",
            AuditActorKind::ApiKey => "api_key",
            AuditActorKind::External => "external",
            AuditActorKind::System => "system",
        }
    }

    /// The kind with this stored form.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// An audit log entry to append (see [`crate::AuditStore::append_audit`]). Holds no
/// secret: callers put only names, identifiers and non-secret facts in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub actor_kind: AuditActorKind,
    /// Their name: a username, a client ID, an API key's identifier, or `cli`.
    pub actor_name: String,
    /// The address the request came from (`None` at the command line).
    pub address: Option<String>,
    /// What was done, as a dotted verb (`client_app.created`).
    pub action: String,
    /// The slug of the environment it was done in (`None` for Keyward as a whole).
    pub environment: Option<EnvironmentSlug>,
    /// What was changed: a client ID, a role name, a username, a key ID, ….
    pub subject: String,
    /// Non-secret facts about the change, as a JSON object.
    pub details: String,
}

/// An audit log entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Storage identity (increasing).
    pub id: i64,
    /// The entry as appended.
    pub entry: NewAuditEntry,
}

/// Which audit log entries to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Only entries of these environments (`None`: every entry, those of Keyward as a
    /// whole included). What a scoped caller may see is decided above the store.
    pub environments: Option<Vec<EnvironmentSlug>>,
    /// Only entries by an actor of this name (exact).
    pub actor: Option<String>,
    /// Only entries about this subject (exact).
    pub subject: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub until: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: PageLimit,
    /// Where to continue (the (at, id) of the last entry shown).
    pub cursor: Option<Cursor>,
}
