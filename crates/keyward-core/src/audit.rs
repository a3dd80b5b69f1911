//! The audit log (issue 18): every state change — who, what, when, from which address,
//! never a secret — written in the same transaction as the change.
//!
//! The seam: a use case does its writes inside [`Keyward::audited`], which runs them
//! and appends their [`AuditEvent`] in one store transaction
//! ([`keyward_store::Transactions::transaction`]; every store write on the thread joins
//! it). A change that is refused or fails returns before its event exists, so nothing is
//! appended; an append that fails rolls the change back. A use case that already runs
//! its own transaction appends with [`Keyward::append_audit`] inside it.
//!
//! Token issuance is not a state change and never passes through here.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use keyward_domain::{Cursor, EnvironmentSlug, Page, PageLimit};
pub use keyward_store::{AuditActorKind, AuditEntry, NewAuditEntry};
use keyward_store::{AuditQuery, StoreError, StoreResult};
use serde_json::{Map, Value};

use crate::access::{AppCredential, PrincipalKind};
use crate::error::Error;
use crate::{Keyward, Principal};

/// Who made a change, as the audit log names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// What kind of caller.
    pub kind: AuditActorKind,
    /// A username, a client ID, an API key's identifier, or for the system `cli`
    /// (the command line) or `keyward` (the server itself).
    pub name: String,
    /// The address the request came from (`None` at the command line).
    pub address: Option<IpAddr>,
}

impl Actor {
    /// The principal of a request, from the address it came from.
    pub fn of(principal: &Principal) -> Self {
        let (kind, name) = match &principal.kind {
            PrincipalKind::App {
                client_id,
                credential,
                ..
            } => match credential {
                AppCredential::AccessToken { .. } => {
                    (AuditActorKind::ClientApp, client_id.as_str().to_owned())
                }
                AppCredential::ApiKey { key_id } => {
                    (AuditActorKind::ApiKey, key_id.as_str().to_owned())
                }
                AppCredential::External { .. } => {
                    (AuditActorKind::External, client_id.as_str().to_owned())
                }
            },
            PrincipalKind::Admin { username, .. } | PrincipalKind::User { username, .. } => {
                (AuditActorKind::User, username.as_str().to_owned())
            }
            PrincipalKind::System => (AuditActorKind::System, "cli".to_owned()),
        };
        Self {
            kind,
            name,
            address: principal.address,
        }
    }

    /// The server itself (first start, retiring signing keys).
    pub fn server() -> Self {
        Self {
            kind: AuditActorKind::System,
            name: "keyward".to_owned(),
            address: None,
        }
    }
}

/// What a change did, before it is stamped with its actor and time.
#[derive(Debug, Clone)]
pub(crate) struct AuditEvent {
    action: &'static str,
    environment: Option<EnvironmentSlug>,
    subject: String,
    details: Map<String, Value>,
}

impl AuditEvent {
    /// `action` (a dotted verb) done to `subject`, in `environment` (`None`: Keyward
    /// as a whole).
    pub(crate) fn new(
        action: &'static str,
        environment: Option<&EnvironmentSlug>,
        subject: impl Into<String>,
    ) -> Self {
        Self {
            action,
            environment: environment.cloned(),
            subject: subject.into(),
            details: Map::new(),
        }
    }

    /// Adds a non-secret fact. Never pass a secret, password, token, key or hash.
    pub(crate) fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The entry to append: this event by `actor` at `at`.
    pub(crate) fn into_entry(self, actor: &Actor, at: DateTime<Utc>) -> NewAuditEntry {
        NewAuditEntry {
            at,
            actor_kind: actor.kind,
            actor_name: actor.name.clone(),
            address: actor.address.map(|a| a.to_string()),
            action: self.action.to_owned(),
            environment: self.environment,
            subject: self.subject,
            details: Value::Object(self.details).to_string(),
        }
    }
}

/// Which entries of the audit log to list (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries of this environment.
    pub environment: Option<EnvironmentSlug>,
    /// Only entries by an actor of this name (exact).
    pub actor: Option<String>,
    /// Only entries about this subject (exact).
    pub subject: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub until: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: PageLimit,
    /// Where to continue.
    pub cursor: Option<Cursor>,
}

impl Keyward {
    /// Runs `work` (store writes that make one change) and appends the audit entry it
    /// returns, in one transaction: both commit, or neither does. A `work` that fails
    /// appends nothing.
    pub(crate) fn audited<T>(
        &self,
        actor: &Actor,
        work: impl FnOnce() -> StoreResult<(T, AuditEvent)>,
    ) -> StoreResult<T> {
        let mut work = Some(work);
        let mut done = None;
        self.store.transaction(&mut || {
            let work = work
                .take()
                .ok_or_else(|| StoreError::Unavailable("audited work ran twice".into()))?;
            let (value, event) = work()?;
            self.append_audit(actor, event)?;
            done = Some(value);
            Ok(())
        })?;
        done.ok_or_else(|| StoreError::Unavailable("audited work returned nothing".into()))
    }

    /// Appends an audit entry now; inside a store transaction it commits with it.
    pub(crate) fn append_audit(&self, actor: &Actor, event: AuditEvent) -> StoreResult<()> {
        self.store
            .append_audit(&event.into_entry(actor, self.clock.now()))
    }

    /// The audit log, newest first. A global principal sees every entry (optionally of
    /// one environment); any other sees only entries of the environment it acts in
    /// (an app's own; a user's, the one the request names), never entries of Keyward as
    /// a whole.
    pub fn list_audit(
        &self,
        principal: &Principal,
        filter: AuditFilter,
    ) -> Result<Page<AuditEntry>, Error> {
        let environments = if principal.global {
            filter.environment.map(|e| vec![e])
        } else {
            let Some(own) = principal.environment() else {
                return Err(Error::Forbidden(
                    "requires `audit:read` in the environment named by `environment`".into(),
                ));
            };
            if filter.environment.as_ref().is_some_and(|e| e != own) {
                return Err(Error::Forbidden(format!(
                    "requires `audit:read` on environment `{}`",
                    filter.environment.as_ref().map_or("", |e| e.as_str())
                )));
            }
            Some(vec![own.clone()])
        };
        Ok(self.store.list_audit(&AuditQuery {
            environments,
            actor: filter.actor,
            subject: filter.subject,
            since: filter.since,
            until: filter.until,
            limit: filter.limit,
            cursor: filter.cursor,
        })?)
    }

    /// Drops audit entries older than `days` days (the `audit.retention_days` setting;
    /// the server calls this from its background thread when it is set).
    pub fn prune_audit(&self, days: u32) -> Result<usize, Error> {
        let cutoff = self.clock.now() - chrono::Duration::days(i64::from(days));
        Ok(self.store.prune_audit(cutoff)?)
    }
}
