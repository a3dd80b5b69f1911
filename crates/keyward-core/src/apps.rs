//! Use cases on client apps.

use keyward_domain::{
    AppName, AppStatus, ClientApp, ClientId, Cursor, Environment, EnvironmentSlug, Grants, Page,
    PageLimit, RoleId, RoleName, SortOrder,
};
use keyward_store::{AppQuery, ChangeSubject, NewApp};

use crate::audit::{Actor, AuditEvent};
use crate::error::{with_io, Error, Resource};
use crate::roles::{ensure_no_escalation, parse_role_names};
use crate::secret::{generate_client_id, ClientSecret};
use crate::{Io, Keyward, Principal};

/// A client app as the app use cases answer it: the stored app and the slug of the
/// environment it lives in. `app.last_used_at` already includes the usage this process
/// recorded and has not written yet (usage is written in batches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInEnvironment {
    /// The app (never with its secret).
    pub app: ClientApp,
    /// The environment it lives in.
    pub environment: EnvironmentSlug,
}

/// A newly created app and its secret, which is shown this once and never again.
#[derive(Debug)]
pub struct CreatedApp {
    /// The app (never with its secret).
    pub app: ClientApp,
    /// The environment it lives in.
    pub environment: EnvironmentSlug,
    /// The secret (zeroized on drop; `<hidden>` in `Debug`).
    pub client_secret: ClientSecret,
}

impl Keyward {
    /// The app as a use case answers it, with its last use as this process knows it.
    pub(crate) fn in_environment(&self, mut app: ClientApp, env: &Environment) -> AppInEnvironment {
        // Usage is written in batches: show what this process knows already.
        let pending = self.caches.usage.pending_app(app.id);
        app.last_used_at = app.last_used_at.max(pending);
        AppInEnvironment {
            app,
            environment: env.slug.clone(),
        }
    }

    pub(crate) fn app(
        &self,
        env: &str,
        client_id: &str,
    ) -> Result<(Environment, ClientApp), Error> {
        let env = self.environment(env)?;
        let client_id =
            ClientId::parse(client_id).map_err(|_| Error::NotFound(Resource::ClientApp))?;
        let app = self
            .store
            .app_in_environment(env.id, &client_id)?
            .ok_or(Error::NotFound(Resource::ClientApp))?;
        Ok((env, app))
    }

    /// The grants of a set of roles, from live state.
    fn grants_of_roles(&self, ids: &[RoleId]) -> Result<Grants, Error> {
        Ok(with_io(self.validator.live().grants_of(ids, Io::Allowed))?.0)
    }

    pub(crate) fn grants_of_app(&self, app: &ClientApp) -> Result<Grants, Error> {
        let state = with_io(self.validator.live().app(&app.client_id, Io::Allowed))?;
        match state {
            Some(s) => self.grants_of_roles(&s.role_ids),
            None => Ok(Grants::none()),
        }
    }

    fn resolve_roles(
        &self,
        env: &Environment,
        names: &[RoleName],
    ) -> Result<(Vec<RoleId>, Grants), Error> {
        let roles = self.store.roles_by_names(env.id, names)?;
        let mut grants = Grants::none();
        for role in &roles {
            grants.extend(&role.grants());
        }
        Ok((roles.iter().map(|r| r.id).collect(), grants))
    }

    /// Refuses new permissions for `role` that would give an app holding it (with its
    /// other roles) a scope longer than one token may carry. Apps per environment are
    /// bounded by the quota, so this reads at most that many.
    pub(crate) fn ensure_holders_fit_one_token(
        &self,
        env: &Environment,
        role: &keyward_domain::Role,
        new_grants: &Grants,
    ) -> Result<(), Error> {
        let live = self.validator.live();
        let mut cursor = None;
        loop {
            let page = self.store.list_apps(
                env.id,
                &AppQuery {
                    search: None,
                    order: SortOrder::Asc,
                    limit: PageLimit::largest(),
                    cursor,
                },
            )?;
            for app in page.items.iter().filter(|a| a.roles.contains(&role.name)) {
                let Some(state) = with_io(live.app(&app.client_id, Io::Allowed))? else {
                    continue;
                };
                let others: Vec<RoleId> = state
                    .role_ids
                    .iter()
                    .copied()
                    .filter(|id| *id != role.id)
                    .collect();
                let mut grants = self.grants_of_roles(&others)?;
                grants.extend(new_grants);
                grants.ensure_fits_one_token("permissions").map_err(|e| {
                    Error::Invalid(vec![keyward_domain::ValidationError::new(
                        e.field,
                        format!("{} for client app `{}`", e.message, app.client_id.as_str()),
                    )])
                })?;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Creates a client app with a new client ID and secret, inside the quota. The
    /// secret is returned this once; only its argon2id hash is stored.
    pub fn create_app(
        &self,
        principal: &Principal,
        env: &str,
        name: &str,
        roles: &[String],
    ) -> Result<CreatedApp, Error> {
        self.create_bound_app(principal, env, name, roles, None, None)
    }

    /// [`Self::create_app`], bound at once to the environment's identity provider by
    /// `external_client_id` (optionally impersonating a user): the app and its binding
    /// are written in one transaction, so a taken external client ID creates nothing.
    pub fn create_bound_app(
        &self,
        principal: &Principal,
        env: &str,
        name: &str,
        roles: &[String],
        external_client_id: Option<&str>,
        impersonate: Option<&str>,
    ) -> Result<CreatedApp, Error> {
        let env = self.environment(env)?;
        let mut errors = Vec::new();
        let user = match self.check_binding(external_client_id, impersonate) {
            Ok(user) => user,
            Err(mut e) => {
                errors.append(&mut e);
                None
            }
        };
        let name = AppName::parse(name).map_err(|e| errors.push(e)).ok();
        let roles = match parse_role_names(roles) {
            Ok(r) => Some(r),
            Err(Error::Invalid(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(e) => return Err(e),
        };
        let (Some(name), Some(roles), true) = (name, roles, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let (role_ids, grants) = self.resolve_roles(&env, &roles)?;
        ensure_no_escalation(principal, &grants)?;
        if let Some(user) = &user {
            ensure_no_escalation(principal, &self.grants_of_user(user)?)?;
        }
        grants
            .ensure_fits_one_token("roles")
            .map_err(|e| Error::Invalid(vec![e]))?;
        // A cheap early answer for a full environment; the store's transaction decides.
        if !self.config.quota.admits_one_more(env.client_app_count) {
            return Err(Error::QuotaReached(
                self.config.quota.client_apps_per_environment,
            ));
        }
        let secret = ClientSecret::generate(&mut self.rng());
        let new = NewApp {
            environment_id: env.id,
            name,
            client_id: generate_client_id(&mut self.rng()),
            secret: self.new_secret(&secret)?,
            role_ids,
        };
        let now = self.clock.now();
        let actor = Actor::of(principal);
        let mut created = None;
        let mut binding_taken = false;
        self.store
            .transaction(&mut || {
                let app = self.store.create_app(&new, self.config.quota, now)?;
                let app = match external_client_id {
                    None => app,
                    Some(ext) => self
                        .store
                        .bind_external(app.id, Some(ext), user.as_ref().map(|u| &u.username), now)
                        .inspect_err(|e| {
                            binding_taken = matches!(e, keyward_store::StoreError::NameTaken);
                        })?,
                };
                let mut event = AuditEvent::new(
                    "client_app.created",
                    Some(&env.slug),
                    app.client_id.as_str(),
                )
                .detail("name", app.name.as_str())
                .detail("roles", role_texts(&roles));
                if let Some(ext) = external_client_id {
                    event = event.detail("external_client_id", ext);
                }
                if let Some(user) = &user {
                    event = event.detail("impersonate", user.username.as_str());
                }
                self.append_audit(&actor, event)?;
                created = Some(app);
                Ok(())
            })
            .map_err(|e| match e {
                keyward_store::StoreError::QuotaReached => {
                    Error::QuotaReached(self.config.quota.client_apps_per_environment)
                }
                keyward_store::StoreError::NameTaken if binding_taken => {
                    Error::NameTaken(Resource::ExternalClientId)
                }
                other => Error::from_store(other, Resource::ClientApp),
            })?;
        let app = created.ok_or_else(|| Error::Internal("created app missing".into()))?;
        self.changed(&ChangeSubject::App(app.client_id.clone()));
        let shown = self.in_environment(app, &env);
        Ok(CreatedApp {
            app: shown.app,
            environment: shown.environment,
            client_secret: secret,
        })
    }

    /// Apps of an environment by creation time in `order`, paginated; `search` keeps
    /// those whose name or client ID contains it (case-insensitively).
    pub fn list_apps(
        &self,
        env: &str,
        search: Option<&str>,
        order: SortOrder,
        limit: PageLimit,
        cursor: Option<Cursor>,
    ) -> Result<Page<AppInEnvironment>, Error> {
        let env = self.environment(env)?;
        let query = AppQuery {
            search: search.map(str::to_owned),
            order,
            limit,
            cursor,
        };
        let page = self.store.list_apps(env.id, &query)?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|a| self.in_environment(a, &env))
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// One app.
    pub fn get_app(&self, env: &str, client_id: &str) -> Result<AppInEnvironment, Error> {
        let (env, app) = self.app(env, client_id)?;
        Ok(self.in_environment(app, &env))
    }

    /// Replaces an app's roles; its existing tokens get the new permissions on their
    /// next call.
    pub fn replace_app_roles(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
        roles: &[String],
    ) -> Result<AppInEnvironment, Error> {
        let (env, app) = self.app(env, client_id)?;
        let names = parse_role_names(roles)?;
        let (role_ids, grants) = self.resolve_roles(&env, &names)?;
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        ensure_no_escalation(principal, &grants)?;
        grants
            .ensure_fits_one_token("roles")
            .map_err(|e| Error::Invalid(vec![e]))?;
        let updated = self
            .audited(&Actor::of(principal), || {
                let updated = self
                    .store
                    .replace_app_roles(app.id, &role_ids, self.clock.now())?;
                let event = AuditEvent::new(
                    "client_app.roles_replaced",
                    Some(&env.slug),
                    app.client_id.as_str(),
                )
                .detail("roles", role_texts(&updated.roles));
                Ok((updated, event))
            })
            .map_err(|e| Error::from_store(e, Resource::ClientApp))?;
        self.changed(&ChangeSubject::App(app.client_id.clone()));
        Ok(self.in_environment(updated, &env))
    }

    /// Activates or deactivates an app (idempotent). Deactivation stops every token of
    /// the app from the next call on; activation restores tokens still in their lifetime.
    pub fn set_app_status(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
        status: AppStatus,
    ) -> Result<AppInEnvironment, Error> {
        let (env, app) = self.app(env, client_id)?;
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        let action = match status {
            AppStatus::Active => "client_app.activated",
            AppStatus::Inactive => "client_app.deactivated",
        };
        let updated = self
            .audited(&Actor::of(principal), || {
                let updated = self
                    .store
                    .set_app_status(app.id, status, self.clock.now())?;
                let event = AuditEvent::new(action, Some(&env.slug), app.client_id.as_str())
                    .detail("previous_status", app.status.as_str());
                Ok((updated, event))
            })
            .map_err(|e| Error::from_store(e, Resource::ClientApp))?;
        self.changed(&ChangeSubject::App(app.client_id.clone()));
        Ok(self.in_environment(updated, &env))
    }

    /// Deletes an inactive app for good (409 while active).
    pub fn delete_app(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
    ) -> Result<(), Error> {
        let (env, app) = self.app(env, client_id)?;
        if !app.may_be_deleted() {
            return Err(Error::AppIsActive);
        }
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        self.audited(&Actor::of(principal), || {
            self.store.delete_app(app.id, self.clock.now())?;
            let event = AuditEvent::new(
                "client_app.deleted",
                Some(&env.slug),
                app.client_id.as_str(),
            )
            .detail("name", app.name.as_str());
            Ok(((), event))
        })
        .map_err(|e| Error::from_store(e, Resource::ClientApp))?;
        self.changed(&ChangeSubject::App(app.client_id));
        Ok(())
    }
}

/// Role names as the audit log shows them.
fn role_texts(roles: &[RoleName]) -> Vec<String> {
    roles.iter().map(|r| r.as_str().to_owned()).collect()
}
