//! Use cases on roles.

use keyward_domain::{
    BuiltinRole, Cursor, Grants, Page, PageLimit, Permission, Role, RoleName, SortOrder,
    ValidationError,
};
use keyward_store::{ChangeSubject, NewRole};

use crate::audit::{Actor, AuditEvent};
use crate::error::{Error, Resource};
use crate::{Keyward, Principal};

/// Parses a list of permission strings, reporting each bad one by index.
pub(crate) fn parse_permissions(texts: &[String]) -> Result<Vec<Permission>, Error> {
    let mut errors = Vec::new();
    let mut permissions = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        match Permission::parse(text) {
            Ok(p) => permissions.push(p),
            Err(e) => errors.push(e.at(format!("permissions[{i}]"))),
        }
    }
    if errors.is_empty() {
        permissions.sort();
        permissions.dedup();
        Ok(permissions)
    } else {
        Err(Error::Invalid(errors))
    }
}

/// Refuses when `grants` hold management permissions the principal does not hold.
pub(crate) fn ensure_no_escalation(principal: &Principal, grants: &Grants) -> Result<(), Error> {
    let mine = principal.effective_grants();
    if mine.covers_reserved_of(grants) {
        return Ok(());
    }
    let missing: Vec<String> = if grants.is_all() {
        vec!["every permission (Super Admin)".into()]
    } else {
        grants
            .permissions()
            .filter(|p| p.is_reserved() && !mine.allows(p))
            .map(ToString::to_string)
            .collect()
    };
    Err(Error::Escalation(missing.join(", ")))
}

impl Keyward {
    fn role(
        &self,
        env_slug: &str,
        name: &str,
    ) -> Result<(keyward_domain::Environment, Role), Error> {
        let env = self.environment(env_slug)?;
        let role = self
            .store
            .role_by_name(env.id, name)?
            .ok_or(Error::NotFound(Resource::Role))?;
        Ok((env, role))
    }

    /// Creates a custom role.
    pub fn create_role(
        &self,
        principal: &Principal,
        env: &str,
        name: &str,
        permissions: &[String],
    ) -> Result<Role, Error> {
        let env = self.environment(env)?;
        let mut errors = Vec::new();
        let name = RoleName::parse(name).map_err(|e| errors.push(e)).ok();
        let permissions = match parse_permissions(permissions) {
            Ok(p) => Some(p),
            Err(Error::Invalid(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(e) => return Err(e),
        };
        let (Some(name), Some(permissions), true) = (name, permissions, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        if BuiltinRole::ALL
            .iter()
            .any(|b| b.name().eq_ignore_ascii_case(name.as_str()))
        {
            return Err(Error::NameTaken(Resource::Role));
        }
        let grants = Grants::from_permissions(permissions.iter().cloned());
        grants
            .ensure_fits_one_token("permissions")
            .map_err(|e| Error::Invalid(vec![e]))?;
        ensure_no_escalation(principal, &grants)?;
        let role = self
            .audited(&Actor::of(principal), || {
                let role = self.store.create_role(
                    &NewRole {
                        environment_id: env.id,
                        name,
                        permissions,
                    },
                    self.clock.now(),
                )?;
                let event = AuditEvent::new("role.created", Some(&env.slug), role.name.as_str())
                    .detail("permissions", permission_texts(&role.permissions));
                Ok((role, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Role))?;
        self.changed(&ChangeSubject::Role(role.id));
        Ok(role)
    }

    /// Roles of an environment, built-in ones included.
    pub fn list_roles(
        &self,
        env: &str,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> Result<Page<Role>, Error> {
        let env = self.environment(env)?;
        Ok(self.store.list_roles(env.id, order, limit, cursor)?)
    }

    /// One role.
    pub fn get_role(&self, env: &str, name: &str) -> Result<Role, Error> {
        Ok(self.role(env, name)?.1)
    }

    /// Replaces a custom role's permissions; every app holding it sees the change on
    /// its next call.
    pub fn replace_role(
        &self,
        principal: &Principal,
        env: &str,
        name: &str,
        permissions: &[String],
    ) -> Result<Role, Error> {
        let (env, role) = self.role(env, name)?;
        let permissions = parse_permissions(permissions)?;
        if role.builtin.is_some() {
            return Err(Error::BuiltinRole);
        }
        ensure_no_escalation(principal, &role.grants())?;
        let grants = Grants::from_permissions(permissions.iter().cloned());
        ensure_no_escalation(principal, &grants)?;
        grants
            .ensure_fits_one_token("permissions")
            .map_err(|e| Error::Invalid(vec![e]))?;
        self.ensure_holders_fit_one_token(&env, &role, &grants)?;
        let updated = self
            .audited(&Actor::of(principal), || {
                let updated =
                    self.store
                        .replace_role_permissions(role.id, &permissions, self.clock.now())?;
                let event = AuditEvent::new("role.updated", Some(&env.slug), role.name.as_str())
                    .detail("permissions", permission_texts(&updated.permissions));
                Ok((updated, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Role))?;
        self.changed(&ChangeSubject::Role(role.id));
        Ok(updated)
    }

    /// Deletes a custom role. A role still bound to apps needs `force`, which unbinds it.
    pub fn delete_role(
        &self,
        principal: &Principal,
        env: &str,
        name: &str,
        force: bool,
    ) -> Result<(), Error> {
        let (env, role) = self.role(env, name)?;
        if role.builtin.is_some() {
            return Err(Error::BuiltinRole);
        }
        ensure_no_escalation(principal, &role.grants())?;
        let unbound = self
            .audited(&Actor::of(principal), || {
                let unbound = self.store.delete_role(role.id, force, self.clock.now())?;
                let event = AuditEvent::new("role.deleted", Some(&env.slug), role.name.as_str())
                    .detail("force", force)
                    .detail(
                        "unbound_client_apps",
                        unbound
                            .iter()
                            .map(|c| c.as_str().to_owned())
                            .collect::<Vec<_>>(),
                    );
                Ok((unbound, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Role))?;
        for client_id in unbound {
            self.changed(&ChangeSubject::App(client_id));
        }
        self.changed(&ChangeSubject::Role(role.id));
        Ok(())
    }
}

/// Permissions as the audit log shows them.
fn permission_texts(permissions: &[Permission]) -> Vec<String> {
    permissions.iter().map(ToString::to_string).collect()
}

/// A validation error for a field that must be a list of role names.
pub(crate) fn parse_role_names(texts: &[String]) -> Result<Vec<RoleName>, Error> {
    let mut errors = Vec::new();
    let mut names: Vec<RoleName> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match RoleName::parse(text) {
            Ok(n) if !names.contains(&n) => names.push(n),
            Ok(_) => {}
            Err(e) => errors.push(ValidationError::new(format!("roles[{i}]"), e.message)),
        }
    }
    if errors.is_empty() {
        Ok(names)
    } else {
        Err(Error::Invalid(errors))
    }
}
