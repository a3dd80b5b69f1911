//! Roles: named sets of permissions inside an environment, and the built-in ones.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::{EnvironmentId, Grants, Permission, ValidationError};

/// The storage identity of a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleId(pub i64);

/// A role name: 1 to 64 characters of letters, digits, spaces and `- _ .`, without
/// leading or trailing space. Unique per environment, case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleName(String);

impl RoleName {
    /// Validates a role name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let len = text.chars().count();
        if len == 0 || len > 64 {
            return Err(ValidationError::new("name", "must be 1 to 64 characters"));
        }
        if text.trim() != text {
            return Err(ValidationError::new(
                "name",
                "must not start or end with a space",
            ));
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
        {
            return Err(ValidationError::new(
                "name",
                "may contain only letters, digits, spaces and - _ .",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The roles every environment has and nobody can edit or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinRole {
    /// Every permission, including managing admins and environments, in every environment.
    SuperAdmin,
    /// Every management permission inside environments (apps, roles, keys, introspection).
    Admin,
}

impl BuiltinRole {
    /// Both built-in roles.
    pub const ALL: [BuiltinRole; 2] = [BuiltinRole::SuperAdmin, BuiltinRole::Admin];

    /// The role's name as users see it.
    pub fn name(self) -> &'static str {
        match self {
            Self::SuperAdmin => "Super Admin",
            Self::Admin => "Admin",
        }
    }

    /// The stable key stored in the database.
    pub fn key(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super_admin",
            Self::Admin => "admin",
        }
    }

    /// The role for a stored key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }

    /// The role with this user-facing name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// What the role grants. Defined in code, so an upgrade can widen it.
    pub fn grants(self) -> Grants {
        match self {
            Self::SuperAdmin => Grants::all(),
            Self::Admin => Grants::from_permissions(
                [
                    "environments:read",
                    "roles:*",
                    "client_apps:*",
                    "api_keys:*",
                    "identity_providers:*",
                    "live:read",
                    "tokens:introspect",
                    "audit:read",
                ]
                .iter()
                .filter_map(|p| Permission::parse(p).ok()),
            ),
        }
    }

    /// Whether a principal holding this role acts in every environment, not only its own.
    pub fn is_global(self) -> bool {
        matches!(self, Self::SuperAdmin)
    }
}

/// A role as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Storage identity.
    pub id: RoleId,
    /// The environment it belongs to.
    pub environment_id: EnvironmentId,
    /// Its name, unique (case-insensitively) in the environment.
    pub name: RoleName,
    /// `Some` for a built-in role, whose permissions come from code.
    pub builtin: Option<BuiltinRole>,
    /// The permissions of a custom role (empty for a built-in one).
    pub permissions: Vec<Permission>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Role {
    /// What holding this role grants.
    pub fn grants(&self) -> Grants {
        match self.builtin {
            Some(b) => b.grants(),
            None => Grants::from_permissions(self.permissions.iter().cloned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        for ok in [
            "Admin",
            "Super Admin",
            "orders.reader-v2_x",
            "a",
            &"a".repeat(64),
        ] {
            assert!(RoleName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", " a", "a ", "a/b", "a:b", "é", &"a".repeat(65)] {
            assert!(RoleName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn builtin_roles() {
        assert!(BuiltinRole::SuperAdmin.grants().is_all());
        let admin = BuiltinRole::Admin.grants();
        let perm = |s| Permission::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(admin.allows(&perm("client_apps:manage")));
        assert!(admin.allows(&perm("roles:read")));
        assert!(!admin.allows(&perm("environments:manage")));
        assert!(!admin.allows(&perm("admins:read")));
        assert_eq!(
            BuiltinRole::from_name("Super Admin"),
            Some(BuiltinRole::SuperAdmin)
        );
        assert_eq!(BuiltinRole::from_key("admin"), Some(BuiltinRole::Admin));
    }
}
