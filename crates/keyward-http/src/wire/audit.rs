//! The audit log: `GET /api/v1/audit`.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use keyward_core::audit::AuditEntry;
use keyward_core::AuditFilter;
use keyward_domain::{Cursor, EnvironmentSlug, PageLimit, ValidationError};
use serde::Serialize;
use serde_json::Value;

use crate::body::query_pairs;
use crate::error::ApiError;

/// Who made a change.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct AuditActorBody {
    /// `user`, `client_app`, `api_key`, `external` or `system`.
    pub kind: &'static str,
    /// A username, a client ID, an API key's identifier, or `cli` / `keyward`.
    pub name: String,
}

/// One entry of the audit log: an item of `GET /api/v1/audit`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct AuditEntryBody {
    /// Its number (increasing).
    pub id: i64,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub actor: AuditActorBody,
    /// The address the request came from (`null` at the command line).
    pub address: Option<String>,
    /// What was done, as a dotted verb (`client_app.created`).
    pub action: String,
    /// The environment's slug (`null` for Keyward as a whole: users, signing keys).
    pub environment: Option<String>,
    /// What was changed: a client ID, role name, username, key ID, ….
    pub subject: String,
    /// Non-secret facts about the change.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Value,
}

impl From<AuditEntry> for AuditEntryBody {
    fn from(e: AuditEntry) -> Self {
        let entry = e.entry;
        Self {
            id: e.id,
            at: entry.at,
            actor: AuditActorBody {
                kind: entry.actor_kind.as_str(),
                name: entry.actor_name,
            },
            address: entry.address,
            action: entry.action,
            environment: entry.environment.map(|s| s.as_str().to_owned()),
            subject: entry.subject,
            // Written by the core as a JSON object; anything else is shown as text.
            details: serde_json::from_str(&entry.details).unwrap_or(Value::String(entry.details)),
        }
    }
}

fn time(field: &str, text: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ValidationError::new(field, "must be an RFC 3339 date and time"))
}

fn text(field: &str, value: String) -> Result<String, ValidationError> {
    if value.is_empty() || value.len() > 255 {
        Err(ValidationError::new(field, "must be 1 to 255 characters"))
    } else {
        Ok(value)
    }
}

/// Parses the query of `GET /api/v1/audit`: `?environment=` (a slug), `?actor=`,
/// `?subject=` (exact), `?since=`, `?until=` (RFC 3339), `?limit=` (1–200, default 50),
/// `?cursor=`. 422 naming every bad parameter at once; unknown parameters are ignored.
pub fn parse_audit_query(req: &HttpRequest) -> Result<AuditFilter, ApiError> {
    let mut filter = AuditFilter::default();
    let mut errors: Vec<ValidationError> = Vec::new();
    for (key, value) in query_pairs(req) {
        let outcome = match key.as_str() {
            "environment" => EnvironmentSlug::parse(&value)
                .map(|s| filter.environment = Some(s))
                .map_err(|e| ValidationError::new("environment", e.message)),
            "actor" => text("actor", value).map(|a| filter.actor = Some(a)),
            "subject" => text("subject", value).map(|s| filter.subject = Some(s)),
            "since" => time("since", &value).map(|t| filter.since = Some(t)),
            "until" => time("until", &value).map(|t| filter.until = Some(t)),
            "limit" => PageLimit::parse(&value).map(|l| filter.limit = l),
            "cursor" => Cursor::decode(&value).map(|c| filter.cursor = Some(c)),
            _ => Ok(()),
        };
        if let Err(e) = outcome {
            errors.push(e);
        }
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if until < since {
            errors.push(ValidationError::new("until", "must not be before `since`"));
        }
    }
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(ApiError::invalid(
            errors.into_iter().map(|e| (e.field, e.message)).collect(),
        ))
    }
}

/// The query parameters of `GET /api/v1/audit`, for the OpenAPI document
/// ([`parse_audit_query`] reads them).
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "documentation only: the route reads these by hand"
)]
pub struct AuditParams {
    /// Only this environment's entries (a slug); without it, the caller's reach.
    pub environment: Option<String>,
    /// Only changes made by this actor (exact name: username, client ID, key ID).
    pub actor: Option<String>,
    /// Only changes to this subject (exact: client ID, role name, username, ...).
    pub subject: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
