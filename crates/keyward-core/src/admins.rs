//! Use cases on admin users, their personal credentials, and the first-start bootstrap.

use keyward_domain::{
    AdminUser, BuiltinRole, Cursor, EnvironmentName, EnvironmentSlug, Page, PageLimit, Password,
    SortOrder, Username, ValidationError,
};
use keyward_store::{ChangeSubject, NewAdmin, NewEnvironment, StoreError};
use zeroize::Zeroizing;

use crate::error::{Error, Resource};
use crate::roles::ensure_no_escalation;
use crate::secret::{credential_digest, PersonalCredential};
use crate::{Keyward, Principal};

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
            match self.store.create_environment(
                &NewEnvironment {
                    slug: default,
                    name,
                },
                now,
            ) {
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
            role: BuiltinRole::SuperAdmin,
            credential_digest: Some(digest),
        };
        match self.store.create_admin(&new, now) {
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

    /// Creates an admin user. Without a password, one is generated and returned once.
    pub fn create_admin(
        &self,
        principal: &Principal,
        username: &str,
        password: Option<String>,
        role: &str,
    ) -> Result<(AdminUser, Option<Zeroizing<String>>), Error> {
        let mut errors = Vec::new();
        let username = Username::parse(username).map_err(|e| errors.push(e)).ok();
        let role = BuiltinRole::from_name(role);
        if role.is_none() {
            errors.push(ValidationError::new(
                "role",
                "must be `Super Admin` or `Admin`",
            ));
        }
        let (password, generated) = match password {
            Some(p) => (Password::parse(p).map_err(|e| errors.push(e)).ok(), None),
            None => {
                let text = Zeroizing::new(crate::secret::random_base62(&mut self.rng(), 24));
                (Password::parse(text.to_string()).ok(), Some(text))
            }
        };
        let (Some(username), Some(role), Some(password), true) =
            (username, role, password, errors.is_empty())
        else {
            return Err(Error::Invalid(errors));
        };
        ensure_no_escalation(principal, &role.grants())?;
        let password_hash = Some(
            self.hasher
                .hash(password.expose().as_bytes(), &mut self.rng())?,
        );
        let admin = self
            .store
            .create_admin(
                &NewAdmin {
                    username,
                    password_hash,
                    role,
                    credential_digest: None,
                },
                self.clock.now(),
            )
            .map_err(|e| Error::from_store(e, Resource::Admin))?;
        self.changed(&ChangeSubject::Admin(admin.id));
        Ok((admin, generated))
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
        ensure_no_escalation(principal, &admin.role.grants())?;
        // The store re-checks "not the last Super Admin" inside its write transaction.
        self.store
            .delete_admin(admin.id, self.clock.now())
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
        if admin.role != BuiltinRole::SuperAdmin {
            return Err(Error::NotSuperAdmin);
        }
        // A Super Admin's credential carries every permission: only a principal that
        // holds every permission (not a down-scoped token) may mint one.
        ensure_no_escalation(principal, &admin.role.grants())?;
        let credential = PersonalCredential::generate(&mut self.rng());
        let updated = self
            .store
            .replace_admin_credential(admin.id, &credential.digest(), self.clock.now())
            .map_err(|e| Error::from_store(e, Resource::Admin))?;
        self.changed(&ChangeSubject::Admin(admin.id));
        Ok((updated, credential))
    }
}
