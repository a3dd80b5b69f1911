//! Admin users: the people who manage Keyward.

use std::fmt;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::{BuiltinRole, ValidationError};

/// The storage identity of an admin user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AdminId(pub i64);

/// A username: 1 to 64 characters of ASCII letters, digits and `. _ - @`. Unique,
/// case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Validates a username.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                "username",
                "must be 1 to 64 characters of ASCII letters, digits and . _ - @",
            ))
        }
    }

    /// The username text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An admin's password as typed: 12 to 1024 characters. Never printed.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Validates a password's length.
    pub fn parse(text: String) -> Result<Self, ValidationError> {
        let len = text.chars().count();
        if !(12..=1024).contains(&len) {
            return Err(ValidationError::new(
                "password",
                "must be 12 to 1024 characters",
            ));
        }
        Ok(Self(Zeroizing::new(text)))
    }

    /// The password text, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

/// The built-in role an admin user holds (admins are global: not tied to an environment).
pub type AdminRole = BuiltinRole;

/// A user's status: an inactive user's credential, sessions and impersonations stop.
pub type UserStatus = crate::AppStatus;

/// A user's roles inside one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRoles {
    /// The environment.
    pub environment: crate::EnvironmentSlug,
    /// The roles' names there (built-in or custom), sorted.
    pub roles: Vec<crate::RoleName>,
}

/// A user (a person who manages Keyward) as stored. Historically "admin user": the
/// storage and type names kept the word, the API says "user".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    /// Storage identity.
    pub id: AdminId,
    /// Login name.
    pub username: Username,
    /// The global built-in role (`Super Admin` or `Admin`), if the user has one.
    pub role: Option<AdminRole>,
    /// Roles inside environments (for a user without a global role).
    pub environment_roles: Vec<EnvironmentRoles>,
    /// Active or inactive.
    pub status: UserStatus,
    /// Whether a personal API credential is currently issued (Super Admins only).
    pub has_credential: bool,
    /// When the current personal credential was issued.
    pub credential_created_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}
