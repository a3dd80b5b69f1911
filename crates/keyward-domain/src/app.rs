//! Client apps: credentials tied to no person, and the rules of their lifecycle.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{EnvironmentId, RoleName, ValidationError};

/// The storage identity of a client app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(pub i64);

/// A client app's name: 3 to 128 characters of ASCII letters, digits, spaces and
/// `+ = , . @ -`, no leading or trailing space. Unique per environment,
/// case-insensitively. Immutable after creation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AppName(String);

impl AppName {
    /// Validates a name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let len = text.len();
        if !(3..=128).contains(&len) || text.chars().count() != len {
            if text.is_ascii() {
                return Err(ValidationError::new("name", "must be 3 to 128 characters"));
            }
            return Err(ValidationError::new(
                "name",
                "may contain only ASCII letters, digits, spaces and + = , . @ -",
            ));
        }
        if !text.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'+' | b'=' | b',' | b'.' | b'@' | b'-')
        }) {
            return Err(ValidationError::new(
                "name",
                "may contain only ASCII letters, digits, spaces and + = , . @ -",
            ));
        }
        if text.starts_with(' ') || text.ends_with(' ') {
            return Err(ValidationError::new(
                "name",
                "must not start or end with a space",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client app's public identifier: generated with at least 128 random bits, URL-safe
/// (`[A-Za-z0-9_-]`), never containing `:` or `%`, never reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Accepts a client ID from outside (a lookup key); only the URL-safe alphabet, at most
    /// 128 characters. Whether it exists is the store's business.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let ok = !text.is_empty()
            && text.len() <= 128
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                "client_id",
                "is not a Keyward client ID",
            ))
        }
    }

    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether an app may get tokens and use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AppStatus {
    /// Tokens are issued and honoured.
    Active,
    /// Every token request and every token of the app is refused.
    Inactive,
}

impl AppStatus {
    /// The stored and shown form (`ACTIVE` / `INACTIVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ACTIVE" => Some(Self::Active),
            "INACTIVE" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// A client app as stored (never with its secret: the hash stays in storage and core).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientApp {
    /// Storage identity.
    pub id: AppId,
    /// The environment it belongs to.
    pub environment_id: EnvironmentId,
    /// Its name.
    pub name: AppName,
    /// Its public identifier.
    pub client_id: ClientId,
    /// Active or inactive.
    pub status: AppStatus,
    /// The names of its roles, sorted.
    pub roles: Vec<RoleName>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last token issued (or API key used); `None` until then.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The client ID its environment's identity provider knows it by, if bound.
    pub external_client_id: Option<String>,
    /// The user whose live permissions it acts with, if any.
    pub impersonate: Option<crate::Username>,
}

impl ClientApp {
    /// Deletion is allowed only while the app is inactive (an active app must be
    /// deactivated first, so nobody deletes a working credential by mistake).
    pub fn may_be_deleted(&self) -> bool {
        self.status == AppStatus::Inactive
    }
}

/// The limits on how many things may exist: client apps per environment, API keys per
/// client app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The most client apps an environment may hold.
    pub client_apps_per_environment: i64,
    /// The most API keys a client app may hold.
    pub api_keys_per_app: i64,
}

impl Quota {
    /// Whether one more app fits next to `current` ones.
    pub fn admits_one_more(&self, current: i64) -> bool {
        current < self.client_apps_per_environment
    }
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            client_apps_per_environment: 20,
            api_keys_per_app: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_length_bounds() {
        assert!(AppName::parse("abc").is_ok());
        assert!(AppName::parse(&"a".repeat(128)).is_ok());
        assert!(AppName::parse("ab").is_err());
        assert!(AppName::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn name_characters() {
        for c in ['+', '=', ',', '.', '@', '-', ' '] {
            assert!(AppName::parse(&format!("a{c}b")).is_ok(), "{c}");
        }
        for c in ['_', '/', ':', '%', '!', '#', '\t', 'é', '\u{0}', '"', '\''] {
            assert!(AppName::parse(&format!("ab{c}cd")).is_err(), "{c:?}");
        }
        assert!(AppName::parse(" abc").is_err());
        assert!(AppName::parse("abc ").is_err());
        assert!(AppName::parse("a b").is_ok());
    }

    #[test]
    fn client_id_alphabet() {
        assert!(ClientId::parse("AbC123_-x").is_ok());
        for bad in ["", "a:b", "a%3A", "a b", "a/b"] {
            assert!(ClientId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quota_and_delete_rules() {
        let q = Quota::default();
        assert!(q.admits_one_more(19));
        assert!(!q.admits_one_more(20));
        let mut app = ClientApp {
            id: AppId(1),
            environment_id: EnvironmentId(1),
            name: AppName::parse("billing bot").unwrap_or_else(|e| panic!("{e}")),
            client_id: ClientId::parse("abc").unwrap_or_else(|e| panic!("{e}")),
            status: AppStatus::Active,
            roles: vec![],
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            last_used_at: None,
            external_client_id: None,
            impersonate: None,
        };
        assert!(!app.may_be_deleted());
        app.status = AppStatus::Inactive;
        assert!(app.may_be_deleted());
    }
}
