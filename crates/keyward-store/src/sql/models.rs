//! Rows as diesel reads them, and their conversion into domain types.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use keyward_domain::{
    AdminId, AdminUser, AppId, AppName, AppStatus, BuiltinRole, ClientApp, ClientId, CredentialId,
    Environment, EnvironmentId, EnvironmentName, EnvironmentRoles, EnvironmentSlug, Permission,
    Role, RoleId, RoleName, Username,
};

use super::from_db_time;
use super::schema::*;
use crate::{ChangeSubject, SigningKeyRecord, StoreError, StoreResult};

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = environments)]
pub(super) struct EnvironmentRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub enabled: bool,
    pub client_app_count: i64,
    pub created_at: NaiveDateTime,
}

impl EnvironmentRow {
    pub fn into_domain(self) -> StoreResult<Environment> {
        Ok(Environment {
            id: EnvironmentId(self.id),
            slug: EnvironmentSlug::parse(&self.slug).map_err(|e| corrupt("environment slug", e))?,
            name: EnvironmentName::parse(&self.name).map_err(|e| corrupt("environment name", e))?,
            enabled: self.enabled,
            client_app_count: self.client_app_count,
            created_at: from_db_time(self.created_at),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = roles)]
pub(super) struct RoleRow {
    pub id: i64,
    pub environment_id: i64,
    pub name: String,
    pub builtin: Option<String>,
    pub permissions: String,
    pub created_at: NaiveDateTime,
}

/// Permissions are stored space-separated; each was validated before it was written.
pub(super) fn encode_permissions(permissions: &[Permission]) -> String {
    let mut texts: Vec<String> = permissions.iter().map(ToString::to_string).collect();
    texts.sort();
    texts.dedup();
    texts.join(" ")
}

impl RoleRow {
    pub fn into_domain(self) -> StoreResult<Role> {
        let builtin = match self.builtin.as_deref() {
            None => None,
            Some(key) => {
                Some(BuiltinRole::from_key(key).ok_or_else(|| corrupt("built-in role", key))?)
            }
        };
        let permissions = self
            .permissions
            .split_whitespace()
            .map(|p| Permission::parse(p).map_err(|e| corrupt("role permission", e)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Role {
            id: RoleId(self.id),
            environment_id: EnvironmentId(self.environment_id),
            name: RoleName::parse(&self.name).map_err(|e| corrupt("role name", e))?,
            builtin,
            permissions,
            created_at: from_db_time(self.created_at),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = client_apps)]
pub(super) struct AppRow {
    pub id: i64,
    pub environment_id: i64,
    pub name: String,
    pub client_id: String,
    pub status: String,
    pub deleted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub external_client_id: Option<String>,
    pub impersonate: Option<String>,
}

impl AppRow {
    pub fn status(&self) -> StoreResult<AppStatus> {
        AppStatus::parse(&self.status).ok_or_else(|| corrupt("app status", &self.status))
    }

    pub fn client_id(&self) -> StoreResult<ClientId> {
        ClientId::parse(&self.client_id).map_err(|e| corrupt("client id", e))
    }

    pub fn into_domain(self, role_names: Vec<String>) -> StoreResult<ClientApp> {
        let mut roles = role_names
            .iter()
            .map(|n| RoleName::parse(n).map_err(|e| corrupt("role name", e)))
            .collect::<StoreResult<Vec<_>>>()?;
        roles.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(ClientApp {
            id: AppId(self.id),
            environment_id: EnvironmentId(self.environment_id),
            status: self.status()?,
            client_id: self.client_id()?,
            name: AppName::parse(&self.name).map_err(|e| corrupt("app name", e))?,
            roles,
            created_at: from_db_time(self.created_at),
            last_used_at: self.last_used_at.map(from_db_time),
            external_client_id: self.external_client_id,
            impersonate: self
                .impersonate
                .map(|u| Username::parse(&u).map_err(|e| corrupt("impersonated user", e)))
                .transpose()?,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = admin_users)]
pub(super) struct AdminRow {
    pub id: i64,
    pub username: String,
    pub role: Option<String>,
    pub status: String,
    pub credential_digest: Option<String>,
    pub credential_created_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl AdminRow {
    pub fn role(&self) -> StoreResult<Option<BuiltinRole>> {
        self.role
            .as_deref()
            .map(|r| BuiltinRole::from_key(r).ok_or_else(|| corrupt("user role", r)))
            .transpose()
    }

    pub fn status(&self) -> StoreResult<AppStatus> {
        AppStatus::parse(&self.status).ok_or_else(|| corrupt("user status", &self.status))
    }

    pub fn into_domain(self, environment_roles: Vec<EnvironmentRoles>) -> StoreResult<AdminUser> {
        Ok(AdminUser {
            id: AdminId(self.id),
            username: Username::parse(&self.username).map_err(|e| corrupt("username", e))?,
            role: self.role()?,
            environment_roles,
            status: self.status()?,
            has_credential: self.credential_digest.is_some(),
            credential_created_at: self.credential_created_at.map(from_db_time),
            created_at: from_db_time(self.created_at),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub(super) struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    pub public_jwk: String,
    pub private_jwe: String,
    pub created_at: NaiveDateTime,
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(r: SigningKeyRow) -> Self {
        SigningKeyRecord {
            kid: r.kid,
            algorithm: r.algorithm,
            public_jwk: r.public_jwk,
            private_jwe: r.private_jwe,
            created_at: from_db_time(r.created_at),
        }
    }
}

pub(super) fn hex(digest: &[u8; 32]) -> String {
    crate::digest_to_hex(digest)
}

pub(super) fn encode_subject(subject: &ChangeSubject) -> (&'static str, String) {
    match subject {
        ChangeSubject::App(id) => ("app", id.as_str().to_owned()),
        ChangeSubject::ApiKey(id) => ("api_key", id.as_str().to_owned()),
        ChangeSubject::Role(id) => ("role", id.0.to_string()),
        ChangeSubject::Environment(id) => ("environment", id.0.to_string()),
        ChangeSubject::Admin(id) => ("admin", id.0.to_string()),
        ChangeSubject::IdentityProvider(id) => ("identity_provider", id.0.to_string()),
        ChangeSubject::SigningKeys => ("signing_keys", String::new()),
        ChangeSubject::TokenRevoked { jti, expires_at } => {
            ("token_revoked", format!("{} {jti}", expires_at.timestamp()))
        }
        ChangeSubject::Unknown => ("unknown", String::new()),
    }
}

pub(super) fn decode_subject(kind: &str, value: &str) -> ChangeSubject {
    // A row this version cannot read must not stop the feed: it becomes `Unknown`, and
    // followers drop everything they cached.
    let num = || value.parse::<i64>().ok();
    let subject = match kind {
        "app" => ClientId::parse(value).ok().map(ChangeSubject::App),
        "api_key" => CredentialId::parse(value, "api_key")
            .ok()
            .map(ChangeSubject::ApiKey),
        "role" => num().map(|n| ChangeSubject::Role(RoleId(n))),
        "environment" => num().map(|n| ChangeSubject::Environment(EnvironmentId(n))),
        "admin" => num().map(|n| ChangeSubject::Admin(AdminId(n))),
        "identity_provider" => num().map(|n| ChangeSubject::IdentityProvider(EnvironmentId(n))),
        "signing_keys" => Some(ChangeSubject::SigningKeys),
        "token_revoked" => value.split_once(' ').and_then(|(exp, jti)| {
            let expires_at = chrono::DateTime::from_timestamp(exp.parse().ok()?, 0)?;
            (!jti.is_empty()).then(|| ChangeSubject::TokenRevoked {
                jti: jti.to_owned(),
                expires_at,
            })
        }),
        _ => None,
    };
    subject.unwrap_or(ChangeSubject::Unknown)
}
