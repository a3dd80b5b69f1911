//! The wire types: every request and response body of the management API and the OAuth
//! endpoints, as structs. Routes read request types (through the strict reader in
//! [`crate::body`]) and answer with response types built from what keyward-core returns
//! (domain types); nothing else decides what a body looks like. Problem JSON (RFC 9457)
//! is built in [`crate::error`].
//!
//! One module per resource. Field order is the order of the JSON members.
//!
//! OpenAPI: with the `openapi` feature (on by default) each type derives
//! `utoipa::ToSchema`, so the document at `/api/v1/openapi.json` describes the bodies
//! the routes really read and write ([`crate::openapi`]).

pub mod admins;
pub mod apps;
pub mod audit;
pub mod authorize;
pub mod console;
pub mod credentials;
pub mod environments;
pub mod federation;
pub mod oauth;
pub mod roles;
pub mod standards;

use actix_web::HttpRequest;
use keyward_domain::{Cursor, Page, PageLimit, SortOrder, ValidationError};
use serde::{Deserialize, Serialize};

use crate::body::{query_pairs, FieldRule, JsonRequest};
use crate::error::ApiError;

/// A list response: `{"items": [...], "next_cursor": "..." | null}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct PageBody<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The opaque cursor of the next page (`?cursor=`); `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> PageBody<T> {
    /// The body of a page of domain items, each turned into its wire type.
    pub fn new<D>(page: Page<D>, to_body: impl FnMut(D) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(to_body).collect(),
            next_cursor: page.next_cursor.map(|c| c.encode()),
        }
    }
}

/// An RFC 9457 problem (`application/problem+json`): the body of every error of the
/// management API and the console's session routes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", schema(as = Problem))]
pub struct ProblemBody<'a> {
    /// A stable URN per kind of problem, `urn:keyward:problem:<kind>` (e.g.
    /// `urn:keyward:problem:name-taken`).
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^urn:keyward:problem:[a-z0-9-]+$")
    )]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: &'a str,
    /// The HTTP status code.
    #[cfg_attr(feature = "openapi", schema(minimum = 400, maximum = 599))]
    pub status: u16,
    /// What went wrong in this request, for a human.
    pub detail: &'a str,
    /// Per-field errors of a validation problem (422), in field order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldErrorBody<'a>>,
    /// An extension member, when the problem has one (e.g. `"allowed": false` on a
    /// refusal of `POST /api/v1/authorize`).
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub extension: std::collections::BTreeMap<&'a str, serde_json::Value>,
}

/// One field error of a validation problem.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", schema(as = FieldError))]
pub struct FieldErrorBody<'a> {
    /// The field (or query parameter), e.g. `name` or `roles[2]`.
    pub field: &'a str,
    /// What is wrong with it.
    pub message: &'a str,
}

/// The query of a list: `?limit=` (1–200, default 50), `?cursor=`, `?order=asc|desc`
/// (default `desc` by creation time), `?sort=created_at` (the only sort), and `?search=`
/// (used by the client app list). Unknown parameters are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size.
    pub limit: PageLimit,
    /// Where to continue.
    pub cursor: Option<Cursor>,
    /// Sort order by creation time.
    pub order: SortOrder,
    /// `?search=`.
    pub search: Option<String>,
}

impl ListQuery {
    /// Parses the list parameters of a request: 422 with every bad parameter at once.
    pub fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut query = ListQuery {
            limit: PageLimit::default(),
            cursor: None,
            order: SortOrder::Desc,
            search: None,
        };
        let mut errors: Vec<ValidationError> = Vec::new();
        for (key, value) in query_pairs(req) {
            match key.as_str() {
                "limit" => PageLimit::parse(&value)
                    .map(|l| query.limit = l)
                    .unwrap_or_else(|e| errors.push(e)),
                "cursor" => Cursor::decode(&value)
                    .map(|c| query.cursor = Some(c))
                    .unwrap_or_else(|e| errors.push(e)),
                "order" => SortOrder::parse(&value)
                    .map(|o| query.order = o)
                    .unwrap_or_else(|e| errors.push(e)),
                "sort" if value == "created_at" => {}
                "sort" => errors.push(ValidationError::new(
                    "sort",
                    "only `created_at` is supported",
                )),
                "search" => query.search = Some(value),
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(ApiError::invalid(
                errors.into_iter().map(|e| (e.field, e.message)).collect(),
            ))
        }
    }
}

/// The query parameters of a paginated list, for the OpenAPI document ([`ListQuery`]
/// reads them).
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "documentation only: the route reads these by hand"
)]
pub struct ListParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `desc` (newest first, the default) or `asc`, by creation time.
    #[param(pattern = "^(asc|desc)$")]
    pub order: Option<String>,
    /// `created_at`, the only sort.
    #[param(pattern = "^created_at$")]
    pub sort: Option<String>,
}

/// The query parameters of the client app list: [`ListParams`] and `search`.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "documentation only: the route reads these by hand"
)]
pub struct AppListParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `desc` (newest first, the default) or `asc`, by creation time.
    #[param(pattern = "^(asc|desc)$")]
    pub order: Option<String>,
    /// `created_at`, the only sort.
    #[param(pattern = "^created_at$")]
    pub sort: Option<String>,
    /// Matches the name or the client ID (substring, case-insensitive).
    pub search: Option<String>,
}

/// The body of an action that takes no input (`.../deactivate`, `.../activate`,
/// `.../credential`): no body at all, or `{}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

impl JsonRequest for EmptyRequest {
    const FIELDS: &'static [FieldRule] = &[];
    const EMPTY_BODY_ALLOWED: bool = true;
}

/// The state of the server, as `GET /healthz` reports it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// It can serve (200).
    Ok,
    /// Its storage does not answer (503).
    Unavailable,
}

/// `GET /healthz`: `{"status": "ok"}`, or `{"status": "unavailable", "reason": "..."}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct HealthResponse {
    /// Whether the server can serve.
    pub status: Health,
    /// What failed, when something did (the error class, e.g. `storage-unavailable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub reason: Option<&'static str>,
}

/// Checks shared by the unit tests of every request type.
#[cfg(test)]
pub(crate) mod request_tests {
    use serde_json::{Map, Value};

    use crate::body::{FieldKind, JsonObject, JsonRequest};

    fn sample(kind: FieldKind) -> Value {
        match kind {
            FieldKind::Text => Value::String("x".into()),
            FieldKind::TextList => Value::Array(vec![Value::String("x".into())]),
            FieldKind::Boolean => Value::Bool(true),
            FieldKind::Integer => Value::from(1),
            FieldKind::ObjectList => Value::Array(vec![Value::Object(Map::new())]),
            FieldKind::Json => Value::Array(Vec::new()),
        }
    }

    fn decode<T: JsonRequest>(map: Map<String, Value>) -> Result<T, serde_json::Error> {
        serde_json::from_value(Value::Object(map))
    }

    /// `T::FIELDS` and `T`'s serde shape agree: every field given decodes; every
    /// optional field may be left out; leaving out a required field fails in serde too
    /// (so the strict reader's "is required" is never the only guard); and the strict
    /// reader turns a full body into a `T`.
    pub(crate) fn fields_match_serde_shape<T: JsonRequest>() {
        let full: Map<String, Value> = T::FIELDS
            .iter()
            .map(|r| (r.name.to_owned(), sample(r.kind)))
            .collect();
        assert!(decode::<T>(full.clone()).is_ok(), "every field given");
        let required: Map<String, Value> = T::FIELDS
            .iter()
            .filter(|r| r.required)
            .map(|r| (r.name.to_owned(), sample(r.kind)))
            .collect();
        assert!(
            decode::<T>(required.clone()).is_ok(),
            "only required fields"
        );
        for rule in T::FIELDS.iter().filter(|r| r.required) {
            let mut missing = required.clone();
            missing.remove(rule.name);
            assert!(decode::<T>(missing).is_err(), "`{}` is required", rule.name);
        }
        let mut extra = full.clone();
        extra.insert("no_such_field".into(), Value::Bool(true));
        assert!(
            decode::<T>(extra).is_err(),
            "serde refuses unknown fields too"
        );
        assert!(JsonObject::from_map(full).into_request::<T>().is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_request_shape() {
        request_tests::fields_match_serde_shape::<EmptyRequest>();
    }

    #[test]
    fn page_body_keeps_member_order() {
        let body = PageBody::new(
            Page {
                items: vec![1, 2],
                next_cursor: None,
            },
            |n: i32| n * 10,
        );
        assert_eq!(
            serde_json::to_string(&body).ok().as_deref(),
            Some(r#"{"items":[10,20],"next_cursor":null}"#)
        );
    }

    #[test]
    fn health_bodies() {
        let ok = HealthResponse {
            status: Health::Ok,
            reason: None,
        };
        assert_eq!(
            serde_json::to_string(&ok).ok().as_deref(),
            Some(r#"{"status":"ok"}"#)
        );
        let down = HealthResponse {
            status: Health::Unavailable,
            reason: Some("storage-unavailable"),
        };
        assert_eq!(
            serde_json::to_string(&down).ok().as_deref(),
            Some(r#"{"status":"unavailable","reason":"storage-unavailable"}"#)
        );
    }
}
