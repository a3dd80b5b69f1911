//! Use cases on users (people who manage Keyward: a global built-in role or roles
//! inside environments, and a status), Super Admins' personal credentials, and the
//! first-start bootstrap.

use keyward_domain::{
    AdminUser, BuiltinRole, Cursor, EnvironmentName, EnvironmentSlug, Grants, Page, PageLimit,
    Password, RoleId, SortOrder, UserStatus, Username, ValidationError,
};
use keyward_store::{ChangeSubject, NewAdmin, NewEnvironment, StoreError};
use zeroize::Zeroizing;

use crate::audit::{Actor, AuditEvent};
use crate::error::{Error, Resource};
use crate::roles::{ensure_no_escalation, parse_role_names};
use crate::secret::{credential_digest, PersonalCredential};
use crate::{Keyward, Principal};

/// A user's roles as a request gives them: one global built-in role, or roles inside
/// environments.
#[derive(Debug, Clone)]
pub enum UserRoles {
    /// `Super Admin` or `Admin`, everywhere.
    Global(String),
    /// Role names (built-in or custom) per environment.
    PerEnvironment(Vec<EnvironmentRolesInput>),
}

/// Role names inside one environment, as a request gives them.
#[derive(Debug, Clone)]
pub struct EnvironmentRolesInput {
    /// The environment's slug.
    pub environment: String,
    /// Role names there.
    pub roles: Vec<String>,
}

/// What the first-start bootstrap did.
pub enum BootstrapOutcome {
    /// The database already had an admin: nothing was done.
    AlreadyInitialized,
    /// The first Super Admin `admin` was created with the configured credential.
    CreatedWithConfiguredCredential,
    /// The first Super Admin `admin` was created with this generated credential, to be
    /// shown once.
    CreatedWithGeneratedCredential(PersonalCredential),
}

/// The username of the first Super Admin.
pub const BOOTSTRAP_ADMIN: &str = "admin";

impl Keyward {
    /// On an empty database: creates the environment `default` and the first Super
    /// Admin with a personal credential (the configured one, at least 32 characters, or
    /// a generated one). Does nothing on an initialised database.
    pub fn bootstrap(
        &self,
        configured_credential: Option<&str>,
    ) -> Result<BootstrapOutcome, Error> {
        let now = self.clock.now();
        let default = EnvironmentSlug::default_slug();
        // Environments cannot be deleted, so `default` is missing only before the first start.
        if self.store.environment_by_slug(&default)?.is_none() {
            let name = EnvironmentName::parse("Default").map_err(Error::invalid)?;
            let created = self.audited(&Actor::server(), || {
                let env = self.store.create_environment(
                    &NewEnvironment {
                        slug: default,
                        name,
                    },
                    now,
                )?;
                let event =
                    AuditEvent::new("environment.created", Some(&env.slug), env.slug.as_str())
                        .detail("name", env.name.as_str());
                Ok((env, event))
            });
            match created {
                Ok(env) => self.changed(&ChangeSubject::Environment(env.id)),
                Err(StoreError::NameTaken) => {} // another instance was first
                Err(e) => return Err(e.into()),
            }
        }
        if self.store.any_admin()? {
            return Ok(BootstrapOutcome::AlreadyInitialized);
        }
        let (digest, generated) = match configured_credential {
            Some(text) => {
                if text.chars().count() < 32 {
                    return Err(Error::invalid(ValidationError::new(
                        "bootstrap.admin_credential",
                        "must be at least 32 characters",
                    )));
                }
                (credential_digest(text), None)
            }
            None => {
                let credential = PersonalCredential::generate(&mut self.rng());
                (credential.digest(), Some(credential))
            }
        };
        let new = NewAdmin {
            username: Username::parse(BOOTSTRAP_ADMIN).map_err(Error::invalid)?,
            password_hash: None,
            role: Some(BuiltinRole::SuperAdmin),
            role_ids: Vec::new(),
            credential_digest: Some(digest),
        };
        let created = self.audited(&Actor::server(), || {
            let admin = self.store.create_admin(&new, now)?;
            let event = user_event("user.created", &admin).detail("personal_credential", true);
            Ok((admin, event))
        });
        match created {
            Ok(admin) => self.changed(&ChangeSubject::Admin(admin.id)),
            Err(StoreError::NameTaken) => return Ok(BootstrapOutcome::AlreadyInitialized),
            Err(e) => return Err(e.into()),
        }
        Ok(match generated {
            Some(c) => BootstrapOutcome::CreatedWithGeneratedCredential(c),
            None => BootstrapOutcome::CreatedWithConfiguredCredential,
        })
    }

    fn admin(&self, username: &str) -> Result<AdminUser, Error> {
        let username = Username::parse(username).map_err(|_| Error::NotFound(Resource::Admin))?;
        self.store
            .admin_by_username(&username)?
            .ok_or(Error::NotFound(Resource::Admin))
    }

    /// Creates an admin user with a global built-in role (`Super Admin` or `Admin`).
    /// Without a password, one is generated and returned once.
    pub fn create_admin(
        &self,
        principal: &Principal,
        username: &str,
        password: Option<String>,
        role: &str,
    ) -> Result<(AdminUser, Option<Zeroizing<String>>), Error> {
        self.create_user(
            principal,
            username,
            password,
            &UserRoles::Global(role.to_owned()),
        )
    }

    /// Creates a user with a global built-in role or roles inside environments. Without
    /// a password, one is generated and returned once.
    pub fn create_user(
        &self,
        principal: &Principal,
        username: &str,
        password: Option<String>,
        roles: &UserRoles,
    ) -> Result<(AdminUser, Option<Zeroizing<String>>), Error> {
        let mut errors = Vec::new();
        let username = Username::parse(username).map_err(|e| errors.push(e)).ok();
        let resolved = match self.resolve_user_roles(roles) {
            Ok(r) => Some(r),
            Err(Error::Invalid(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(e) => return Err(e),
        };
        let (password, generated) = match password {
            Some(p) => (Password::parse(p).map_err(|e| errors.push(e)).ok(), None),
            None => {
                let text = Zeroizing::new(crate::secret::random_base62(&mut self.rng(), 24));
                (Password::parse(text.to_string()).ok(), Some(text))
            }
        };
        let (Some(username), Some((role, role_ids, grants)), Some(password), true) =
            (username, resolved, password, errors.is_empty())
        else {
            return Err(Error::Invalid(errors));
        };
        ensure_no_escalation(principal, &grants)?;
        let password_hash = Some(
            self.hasher
                .hash(password.expose().as_bytes(), &mut self.rng())?,
        );
        let admin = self
            .audited(&Actor::of(principal), || {
                let admin = self.store.create_admin(
                    &NewAdmin {
                        username,
                        password_hash,
                        role,
                        role_ids,
                        credential_digest: None,
                    },
                    self.clock.now(),
                )?;
                let event = user_event("user.created", &admin)
                    .detail("password_generated", generated.is_some());
                Ok((admin, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Admin))?;
        self.changed(&ChangeSubject::Admin(admin.id));
        Ok((admin, generated))
    }

    /// A user's roles as given (a global built-in role name, or role names per
    /// environment slug): the stored form and the union of what they grant.
    fn resolve_user_roles(
        &self,
        roles: &UserRoles,
    ) -> Result<(Option<BuiltinRole>, Vec<RoleId>, Grants), Error> {
        match roles {
            UserRoles::Global(name) => {
                let role = BuiltinRole::from_name(name).ok_or_else(|| {
                    Error::invalid(ValidationError::new(
                        "role",
                        "must be `Super Admin` or `Admin`",
                    ))
                })?;
                Ok((Some(role), Vec::new(), role.grants()))
            }
            UserRoles::PerEnvironment(list) => {
                let mut errors = Vec::new();
                let mut ids = Vec::new();
                let mut grants = Grants::none();
                for (i, entry) in list.iter().enumerate() {
                    let Some(env) = EnvironmentSlug::parse(&entry.environment)
                        .ok()
                        .map(|slug| self.store.environment_by_slug(&slug))
                        .transpose()?
                        .flatten()
                    else {
                        errors.push(ValidationError::new(
                            format!("roles[{i}].environment"),
                            format!("no environment `{}`", entry.environment),
                        ));
                        continue;
                    };
                    let names = match parse_role_names(&entry.roles) {
                        Ok(n) => n,
                        Err(Error::Invalid(e)) => {
                            errors.extend(e.into_iter().map(|v| {
                                ValidationError::new(format!("roles[{i}].{}", v.field), v.message)
                            }));
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    match self.store.roles_by_names(env.id, &names) {
                        Ok(found) => {
                            for role in found {
                                grants.extend(&role.grants());
                                ids.push(role.id);
                            }
                        }
                        Err(StoreError::UnknownRole(name)) => errors.push(ValidationError::new(
                            format!("roles[{i}].roles"),
                            format!("no role named `{name}` in environment `{}`", env.slug),
                        )),
                        Err(e) => return Err(e.into()),
                    }
                }
                if !errors.is_empty() {
                    return Err(Error::Invalid(errors));
                }
                Ok((None, ids, grants))
            }
        }
    }

    /// Everything a user's roles grant, over every environment: what a caller must hold
    /// to create, change, deactivate or delete that user.
    pub(crate) fn grants_of_user(&self, user: &AdminUser) -> Result<Grants, Error> {
        let mut grants = user.role.map_or_else(Grants::none, BuiltinRole::grants);
        for entry in &user.environment_roles {
            if let Some(env) = self.store.environment_by_slug(&entry.environment)? {
                for role in self
                    .store
                    .roles_by_names(env.id, &entry.roles)
                    .unwrap_or_default()
                {
                    grants.extend(&role.grants());
                }
            }
        }
        Ok(grants)
    }

    /// Replaces a user's roles (a global built-in role, or roles per environment); the
    /// change applies to the user's next call. Never leaves no active Super Admin.
    pub fn replace_user_roles(
        &self,
        principal: &Principal,
        username: &str,
        roles: &UserRoles,
    ) -> Result<AdminUser, Error> {
        let user = self.admin(username)?;
        let (role, role_ids, grants) = self.resolve_user_roles(roles)?;
        ensure_no_escalation(principal, &self.grants_of_user(&user)?)?;
        ensure_no_escalation(principal, &grants)?;
        let updated = self
            .audited(&Actor::of(principal), || {
                let updated =
                    self.store
                        .replace_user_roles(user.id, role, &role_ids, self.clock.now())?;
                let event = user_event("user.roles_replaced", &updated);
                Ok((updated, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Admin))?;
        self.changed(&ChangeSubject::Admin(user.id));
        Ok(updated)
    }

    /// Activates or deactivates a user (idempotent). A deactivated user's personal
    /// credential and impersonations stop at once. Never leaves no active Super Admin.
    pub fn set_user_status(
        &self,
        principal: &Principal,
        username: &str,
        status: UserStatus,
    ) -> Result<AdminUser, Error> {
        let user = self.admin(username)?;
        ensure_no_escalation(principal, &self.grants_of_user(&user)?)?;
        let action = match status {
            UserStatus::Active => "user.activated",
            UserStatus::Inactive => "user.deactivated",
        };
        let updated = self
            .audited(&Actor::of(principal), || {
                let updated = self
                    .store
                    .set_user_status(user.id, status, self.clock.now())?;
                let event = AuditEvent::new(action, None, updated.username.as_str())
                    .detail("previous_status", user.status.as_str());
                Ok((updated, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Admin))?;
        self.changed(&ChangeSubject::Admin(user.id));
        Ok(updated)
    }

    /// Admin users, paginated.
    pub fn list_admins(
        &self,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> Result<Page<AdminUser>, Error> {
        Ok(self.store.list_admins(order, limit, cursor)?)
    }

    /// One admin user.
    pub fn get_admin(&self, username: &str) -> Result<AdminUser, Error> {
        self.admin(username)
    }

    /// Deletes an admin user (never the last Super Admin); their credential stops at once.
    pub fn delete_admin(&self, principal: &Principal, username: &str) -> Result<(), Error> {
        let admin = self.admin(username)?;
        ensure_no_escalation(principal, &self.grants_of_user(&admin)?)?;
        // The store re-checks "not the last Super Admin" inside its write transaction.
        self.audited(&Actor::of(principal), || {
            self.store.delete_admin(admin.id, self.clock.now())?;
            Ok(((), user_event("user.deleted", &admin)))
        })
        .map_err(|e| Error::from_store(e, Resource::Admin))?;
        self.changed(&ChangeSubject::Admin(admin.id));
        Ok(())
    }

    /// Issues a Super Admin's personal API credential, revoking the previous one: it
    /// fails from its next call on. Returned once; stored as a SHA-256 digest.
    pub fn issue_personal_credential(
        &self,
        principal: &Principal,
        username: &str,
    ) -> Result<(AdminUser, PersonalCredential), Error> {
        let admin = self.admin(username)?;
        if admin.role != Some(BuiltinRole::SuperAdmin) {
            return Err(Error::NotSuperAdmin);
        }
        // A Super Admin's credential carries every permission: only a principal that
        // holds every permission (not a down-scoped token) may mint one.
        ensure_no_escalation(principal, &BuiltinRole::SuperAdmin.grants())?;
        let credential = PersonalCredential::generate(&mut self.rng());
        let updated = self
            .audited(&Actor::of(principal), || {
                let updated = self.store.replace_admin_credential(
                    admin.id,
                    &credential.digest(),
                    self.clock.now(),
                )?;
                let event =
                    AuditEvent::new("user.credential_issued", None, admin.username.as_str())
                        .detail("previous_revoked", admin.has_credential);
                Ok((updated, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Admin))?;
        self.changed(&ChangeSubject::Admin(admin.id));
        Ok((updated, credential))
    }
}

/// An audit event about a user, with their roles (never their password or credential).
pub(crate) fn user_event(action: &'static str, user: &AdminUser) -> AuditEvent {
    let environment_roles: Vec<serde_json::Value> = user
        .environment_roles
        .iter()
        .map(|e| {
            serde_json::json!({
                "environment": e.environment.as_str(),
                "roles": e.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    AuditEvent::new(action, None, user.username.as_str())
        .detail("role", user.role.map(|r| r.name()))
        .detail("environment_roles", environment_roles)
}
