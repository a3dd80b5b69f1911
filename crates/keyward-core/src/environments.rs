//! Use cases on environments.

use keyward_domain::{
    Cursor, Environment, EnvironmentName, EnvironmentSlug, Page, PageLimit, SortOrder,
    ValidationError,
};
use keyward_store::{ChangeSubject, EnvironmentChange, NewEnvironment};

use crate::audit::{Actor, AuditEvent};
use crate::error::{Error, Resource};
use crate::{Keyward, Principal};

impl Keyward {
    /// The environment with this slug, or 404.
    pub(crate) fn environment(&self, slug: &str) -> Result<Environment, Error> {
        let slug =
            EnvironmentSlug::parse(slug).map_err(|_| Error::NotFound(Resource::Environment))?;
        self.store
            .environment_by_slug(&slug)?
            .ok_or(Error::NotFound(Resource::Environment))
    }

    /// Creates an environment (with its built-in roles).
    pub fn create_environment(
        &self,
        principal: &Principal,
        slug: &str,
        name: Option<&str>,
    ) -> Result<Environment, Error> {
        let mut errors = Vec::new();
        let slug = EnvironmentSlug::parse(slug)
            .map_err(|e| errors.push(e))
            .ok();
        let name = EnvironmentName::parse(
            name.unwrap_or_else(|| slug.as_ref().map_or("", |s| s.as_str())),
        )
        .map_err(|e| errors.push(e))
        .ok();
        let (Some(slug), Some(name), true) = (slug, name, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let env = self
            .audited(&Actor::of(principal), || {
                let env = self
                    .store
                    .create_environment(&NewEnvironment { slug, name }, self.clock.now())?;
                let event =
                    AuditEvent::new("environment.created", Some(&env.slug), env.slug.as_str())
                        .detail("name", env.name.as_str());
                Ok((env, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Environment))?;
        self.changed(&ChangeSubject::Environment(env.id));
        Ok(env)
    }

    /// Environments the principal can see: all for a global principal, its own otherwise.
    pub fn list_environments(
        &self,
        principal: &Principal,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> Result<Page<Environment>, Error> {
        if !principal.global {
            let items = match principal.environment() {
                Some(slug) => vec![self.environment(slug.as_str())?],
                None => vec![],
            };
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
        Ok(self.store.list_environments(order, limit, cursor)?)
    }

    /// One environment.
    pub fn get_environment(&self, slug: &str) -> Result<Environment, Error> {
        self.environment(slug)
    }

    /// Renames, enables or disables an environment. Disabling refuses every token
    /// request and every token of its apps from the next call on; nothing is deleted.
    pub fn update_environment(
        &self,
        principal: &Principal,
        slug: &str,
        name: Option<&str>,
        enabled: Option<bool>,
    ) -> Result<Environment, Error> {
        let env = self.environment(slug)?;
        let name = name
            .map(EnvironmentName::parse)
            .transpose()
            .map_err(Error::invalid)?;
        if name.is_none() && enabled.is_none() {
            return Err(Error::invalid(ValidationError::new(
                "body",
                "give `enabled` and/or `name`",
            )));
        }
        let mut event = AuditEvent::new("environment.updated", Some(&env.slug), env.slug.as_str());
        if let Some(name) = &name {
            event = event.detail("name", name.as_str());
        }
        if let Some(enabled) = enabled {
            event = event.detail("enabled", enabled);
        }
        let updated = self
            .audited(&Actor::of(principal), || {
                let updated = self.store.update_environment(
                    env.id,
                    &EnvironmentChange { name, enabled },
                    self.clock.now(),
                )?;
                Ok((updated, event))
            })
            .map_err(|e| Error::from_store(e, Resource::Environment))?;
        self.changed(&ChangeSubject::Environment(env.id));
        Ok(updated)
    }
}
