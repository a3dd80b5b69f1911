//! Use cases on environments.

use chrono::{DateTime, Utc};
use keyward_domain::{
    Cursor, Environment, EnvironmentName, EnvironmentSlug, Page, PageLimit, SortOrder,
    ValidationError,
};
use keyward_store::{ChangeSubject, EnvironmentChange, NewEnvironment};

use crate::error::{Error, Resource};
use crate::{Keyward, Principal};

/// An environment as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnvironmentView {
    /// Its slug.
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// Whether its apps may get and use tokens.
    pub enabled: bool,
    /// How many client apps it holds.
    pub client_apps: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<&Environment> for EnvironmentView {
    fn from(e: &Environment) -> Self {
        Self {
            slug: e.slug.as_str().to_owned(),
            name: e.name.as_str().to_owned(),
            enabled: e.enabled,
            client_apps: e.client_app_count,
            created_at: e.created_at,
        }
    }
}

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
        slug: &str,
        name: Option<&str>,
    ) -> Result<EnvironmentView, Error> {
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
            .store
            .create_environment(&NewEnvironment { slug, name }, self.clock.now())
            .map_err(|e| Error::from_store(e, Resource::Environment))?;
        self.changed(&ChangeSubject::Environment(env.id));
        Ok(EnvironmentView::from(&env))
    }

    /// Environments the principal can see: all for a global principal, its own otherwise.
    pub fn list_environments(
        &self,
        principal: &Principal,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> Result<Page<EnvironmentView>, Error> {
        if !principal.global {
            let items = match principal.environment() {
                Some(slug) => vec![EnvironmentView::from(&self.environment(slug.as_str())?)],
                None => vec![],
            };
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
        let page = self.store.list_environments(order, limit, cursor)?;
        Ok(Page {
            items: page.items.iter().map(EnvironmentView::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// One environment.
    pub fn get_environment(&self, slug: &str) -> Result<EnvironmentView, Error> {
        Ok(EnvironmentView::from(&self.environment(slug)?))
    }

    /// Renames, enables or disables an environment. Disabling refuses every token
    /// request and every token of its apps from the next call on; nothing is deleted.
    pub fn update_environment(
        &self,
        slug: &str,
        name: Option<&str>,
        enabled: Option<bool>,
    ) -> Result<EnvironmentView, Error> {
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
        let updated = self
            .store
            .update_environment(
                env.id,
                &EnvironmentChange { name, enabled },
                self.clock.now(),
            )
            .map_err(|e| Error::from_store(e, Resource::Environment))?;
        self.changed(&ChangeSubject::Environment(env.id));
        Ok(EnvironmentView::from(&updated))
    }
}
