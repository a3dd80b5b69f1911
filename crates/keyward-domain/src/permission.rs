//! Permissions (`resource:action`, `resource:*`) and the grants a principal holds.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::ValidationError;

/// The resources Keyward itself owns. Granting one of their permissions to someone
/// needs that permission yourself (no escalation); see docs/ACCESS-CONTROL.md.
pub const RESERVED_RESOURCES: &[&str] = &[
    "admins",
    "api_keys",
    "audit",
    "client_apps",
    "environments",
    "identity_providers",
    "keys",
    "live",
    "roles",
    "tokens",
];

/// A permission `resource:action`, or `resource:*` for every action on a resource.
///
/// Parsed once at the edge: each part matches `[a-z][a-z0-9_.-]{0,63}`; the action may
/// also be `*`. Anything else (no colon, two colons, upper case, spaces, empty parts)
/// is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    resource: String,
    action: Option<String>,
}

fn valid_part(part: &str) -> bool {
    let bytes = part.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= 64
                && first.is_ascii_lowercase()
                && rest.iter().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
                })
        }
        None => false,
    }
}

impl Permission {
    /// Parses `resource:action` or `resource:*`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let refuse = |why: &str| {
            ValidationError::new(
                "permission",
                format!(
                    "`{text}` is not a permission: {why} (expected `resource:action`, lower case)"
                ),
            )
        };
        let (resource, action) = text.split_once(':').ok_or_else(|| refuse("no `:`"))?;
        if action.contains(':') {
            return Err(refuse("more than one `:`"));
        }
        if !valid_part(resource) {
            return Err(refuse("invalid resource"));
        }
        let action = if action == "*" {
            None
        } else if valid_part(action) {
            Some(action.to_owned())
        } else {
            return Err(refuse("invalid action"));
        };
        Ok(Self {
            resource: resource.to_owned(),
            action,
        })
    }

    /// The resource part (`orders` in `orders:read`).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The action part, `None` for the wildcard `*`.
    pub fn action(&self) -> Option<&str> {
        self.action.as_deref()
    }

    /// Whether holding `self` grants `required`: equal, or `self` is `resource:*` on
    /// the same resource. A required wildcard is granted only by the wildcard.
    pub fn grants(&self, required: &Permission) -> bool {
        self.resource == required.resource
            && (self.action.is_none() || self.action == required.action)
    }

    /// Whether this permission is on one of Keyward's own resources.
    pub fn is_reserved(&self) -> bool {
        RESERVED_RESOURCES.contains(&self.resource.as_str())
    }
}

impl Permission {
    /// The length of its text (`resource:action`), without writing it.
    fn text_len(&self) -> usize {
        self.resource.len() + 1 + self.action.as_ref().map_or(1, String::len)
    }

    /// Appends its text (`resource:action`) to `out`, without the formatting machinery.
    fn write_to(&self, out: &mut String) {
        out.push_str(&self.resource);
        out.push(':');
        out.push_str(self.action.as_deref().unwrap_or("*"));
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Some(action) => write!(f, "{}:{}", self.resource, action),
            None => write!(f, "{}:*", self.resource),
        }
    }
}

impl FromStr for Permission {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What a principal is allowed: every permission (`all`, the Super Admin role), or a
/// set of permissions. The union of a principal's roles.
///
/// Cloning is cheap (the set is shared, copied only when a clone is extended): the hot
/// paths hand a role's grants to every principal holding it without copying them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    all: bool,
    /// `None` when empty (never `Some` of an empty set, so equality is structural).
    permissions: Option<Arc<BTreeSet<Permission>>>,
}

/// How "every permission" is written where a list of permissions is shown.
const ALL_TEXT: &str = "*:*";

/// The longest scope one app may hold, in bytes (its permissions joined by spaces). An
/// unrestricted access token carries the whole scope, so this bound is what keeps every
/// token Keyward issues shorter than the longest token it accepts.
pub const MAX_SCOPE_LEN: usize = 4096;

impl Grants {
    /// No permission at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every permission.
    pub fn all() -> Self {
        Self {
            all: true,
            permissions: None,
        }
    }

    /// Exactly these permissions.
    pub fn from_permissions(permissions: impl IntoIterator<Item = Permission>) -> Self {
        let set: BTreeSet<Permission> = permissions.into_iter().collect();
        Self {
            all: false,
            permissions: (!set.is_empty()).then(|| Arc::new(set)),
        }
    }

    fn set(&self) -> impl Iterator<Item = &Permission> {
        self.permissions.iter().flat_map(|s| s.iter())
    }

    /// Whether these grants hold every permission.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// The explicit permissions (empty when `is_all`).
    pub fn permissions(&self) -> impl Iterator<Item = &Permission> {
        self.set()
    }

    /// Adds another grant set (role union). Extending empty grants shares the other's
    /// set instead of copying it.
    pub fn extend(&mut self, other: &Grants) {
        self.all |= other.all;
        if self.all {
            self.permissions = None;
            return;
        }
        match (&mut self.permissions, &other.permissions) {
            (_, None) => {}
            (None, Some(theirs)) => self.permissions = Some(Arc::clone(theirs)),
            (Some(mine), Some(theirs)) => {
                if !Arc::ptr_eq(mine, theirs) {
                    Arc::make_mut(mine).extend(theirs.iter().cloned());
                }
            }
        }
    }

    /// Whether these grants allow `required`.
    pub fn allows(&self, required: &Permission) -> bool {
        self.all || self.set().any(|p| p.grants(required))
    }

    /// Whether every permission in `other` is allowed by `self`.
    pub fn covers(&self, other: &Grants) -> bool {
        if self.all {
            return true;
        }
        !other.all && other.set().all(|p| self.allows(p))
    }

    /// Whether `self` covers the reserved (Keyward-management) part of `other`: the
    /// rule that stops a principal from granting more management power than it has.
    pub fn covers_reserved_of(&self, other: &Grants) -> bool {
        if self.all {
            return true;
        }
        !other.all
            && other
                .set()
                .filter(|p| p.is_reserved())
                .all(|p| self.allows(p))
    }

    /// The permissions as strings, sorted; every permission is shown as `*:*`.
    pub fn to_strings(&self) -> Vec<String> {
        if self.all {
            vec![ALL_TEXT.to_owned()]
        } else {
            self.set().map(ToString::to_string).collect()
        }
    }

    /// The permissions as an OAuth scope string (space-separated, sorted).
    pub fn to_scope(&self) -> String {
        if self.all {
            return ALL_TEXT.to_owned();
        }
        // Built in one buffer: the token endpoint writes it on every request.
        let mut scope = String::with_capacity(self.scope_len());
        for (i, p) in self.set().enumerate() {
            if i > 0 {
                scope.push(' ');
            }
            p.write_to(&mut scope);
        }
        scope
    }

    /// The length of [`Self::to_scope`] in bytes, without building it.
    pub fn scope_len(&self) -> usize {
        if self.all {
            return ALL_TEXT.len();
        }
        let names: usize = self.set().map(Permission::text_len).sum();
        names + self.set().count().saturating_sub(1)
    }

    /// Refuses grants whose scope is longer than [`MAX_SCOPE_LEN`], naming `field`.
    pub fn ensure_fits_one_token(&self, field: &str) -> Result<(), ValidationError> {
        let len = self.scope_len();
        if len > MAX_SCOPE_LEN {
            return Err(ValidationError::new(
                field,
                format!(
                    "the permissions come to {len} bytes of scope; one client app may hold at most {MAX_SCOPE_LEN} (every token carries its scope)"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permission {
        Permission::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn scope_len_matches_the_scope_and_is_bounded() {
        let grants = Grants::from_permissions([p("orders:read"), p("users:*"), p("a:b")]);
        assert_eq!(grants.scope_len(), grants.to_scope().len());
        assert_eq!(grants.to_scope(), "a:b orders:read users:*");
        assert_eq!(grants.to_scope(), grants.to_strings().join(" "));
        assert_eq!(Grants::none().to_scope(), "");
        assert_eq!(Grants::all().to_scope(), "*:*");
        assert_eq!(Grants::none().scope_len(), 0);
        assert_eq!(Grants::all().scope_len(), Grants::all().to_scope().len());
        assert!(grants.ensure_fits_one_token("permissions").is_ok());
        let big = Grants::from_permissions((0..1000).map(|i| p(&format!("q{i}:r"))));
        assert!(big.scope_len() > MAX_SCOPE_LEN);
        let err = big.ensure_fits_one_token("permissions").err();
        assert_eq!(err.map(|e| e.field), Some("permissions".to_owned()));
    }

    #[test]
    fn accepts_resource_action_and_wildcard() {
        for ok in [
            "orders:read",
            "client_apps:manage",
            "a:b",
            "a1.b-c_d:x.y-z_9",
            "orders:*",
        ] {
            assert!(Permission::parse(ok).is_ok(), "{ok}");
        }
        let long = format!("{}:{}", "a".repeat(64), "b".repeat(64));
        assert!(Permission::parse(&long).is_ok());
    }

    #[test]
    fn refuses_malformed_permissions() {
        let long = format!("{}:read", "a".repeat(65));
        for bad in [
            "",
            "orders",
            "orders:",
            ":read",
            "orders:read:all",
            "Orders:read",
            "orders:Read",
            "orders :read",
            "orders: read",
            "or ders:read",
            "1orders:read",
            "*:*",
            "*:read",
            "orders:re*",
            "_x:read",
            "orders:read ",
            long.as_str(),
            "orders:é",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn wildcard_grants_every_action_of_its_resource_only() {
        assert!(p("orders:*").grants(&p("orders:read")));
        assert!(p("orders:*").grants(&p("orders:*")));
        assert!(!p("orders:*").grants(&p("invoices:read")));
        assert!(!p("orders:read").grants(&p("orders:*")));
        assert!(!p("orders:read").grants(&p("orders:write")));
        assert_eq!(p("orders:*").to_string(), "orders:*");
    }

    #[test]
    fn grants_union_and_cover() {
        let mut g = Grants::from_permissions([p("orders:read")]);
        g.extend(&Grants::from_permissions([p("roles:*")]));
        assert!(g.allows(&p("roles:manage")));
        assert!(g.covers(&Grants::from_permissions([
            p("orders:read"),
            p("roles:read")
        ])));
        assert!(!g.covers(&Grants::all()));
        assert!(g.covers_reserved_of(&Grants::from_permissions([p("roles:read"), p("x:y")])));
        assert!(!g.covers_reserved_of(&Grants::from_permissions([p("client_apps:manage")])));
        g.extend(&Grants::all());
        assert!(g.is_all() && g.allows(&p("anything:at-all")));
        assert_eq!(g.to_scope(), "*:*");
    }
}
