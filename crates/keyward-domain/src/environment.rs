//! Environments: isolated partitions (`production`, `staging`) addressed by a slug.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ValidationError;

/// The storage identity of an environment (never shown outside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvironmentId(pub i64);

/// An environment slug: `[a-z0-9][a-z0-9-]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EnvironmentSlug(String);

impl EnvironmentSlug {
    /// The environment every server creates on first start.
    pub const DEFAULT: &'static str = "default";

    /// Validates a slug.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let b = text.as_bytes();
        let ok = match b.split_first() {
            Some((first, rest)) => {
                b.len() <= 63
                    && (first.is_ascii_lowercase() || first.is_ascii_digit())
                    && rest
                        .iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            }
            None => false,
        };
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                "slug",
                "must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit",
            ))
        }
    }

    /// The slug `default`.
    pub fn default_slug() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvironmentSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An environment's display name: 1 to 128 printable characters, no surrounding spaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EnvironmentName(String);

impl EnvironmentName {
    /// Validates a display name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let chars = text.chars().count();
        if chars == 0 || chars > 128 {
            return Err(ValidationError::new("name", "must be 1 to 128 characters"));
        }
        if text.trim() != text {
            return Err(ValidationError::new(
                "name",
                "must not start or end with a space",
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An environment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Storage identity.
    pub id: EnvironmentId,
    /// Public address.
    pub slug: EnvironmentSlug,
    /// Display name (defaults to the slug).
    pub name: EnvironmentName,
    /// A disabled environment refuses every token request and every token of its apps.
    pub enabled: bool,
    /// How many client apps it holds (the quota counter).
    pub client_app_count: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules() {
        for ok in ["default", "a", "0", "prod-eu-1", &"a".repeat(63)] {
            assert!(EnvironmentSlug::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "prod_eu", "prod eu", "é", &"a".repeat(64)] {
            assert!(EnvironmentSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_rules() {
        assert!(EnvironmentName::parse("Production (EU)").is_ok());
        assert!(EnvironmentName::parse(" x").is_err());
        assert!(EnvironmentName::parse("").is_err());
        assert!(EnvironmentName::parse("a\nb").is_err());
    }
}
