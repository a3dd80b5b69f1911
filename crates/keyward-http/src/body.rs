//! Reading request bodies and query strings with the documented errors: 413 too large,
//! 415 wrong content type, 400 malformed, 422 per field.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use keyward_core::domain::{Cursor, PageLimit, SortOrder, ValidationError};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest management request body.
pub const JSON_LIMIT: usize = 64 * 1024;

/// Reads at most `limit` bytes of body, or `None` when it is larger.
pub async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
) -> Result<Option<web::BytesMut>, actix_web::Error> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

fn content_type(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// The fields of a JSON object body, taken one by one; what is left over is refused.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<(String, String)>,
}

impl Fields {
    /// Reads a JSON object body. `allow_empty` accepts no body at all (as `{}`).
    pub async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        allow_empty: bool,
    ) -> Result<Self, ApiError> {
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared_len.is_some_and(|n| n > JSON_LIMIT) {
            return Err(too_large());
        }
        let body = read_limited(payload, JSON_LIMIT)
            .await
            .map_err(|e| ApiError::malformed(format!("cannot read body: {e}")))?
            .ok_or_else(too_large)?;
        if body.is_empty() && allow_empty {
            return Ok(Self {
                map: Map::new(),
                errors: vec![],
            });
        }
        match content_type(req).as_deref() {
            Some("application/json") => {}
            Some(t) if t.starts_with("application/") && t.ends_with("+json") => {}
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Unsupported media type",
                    "send the body as application/json",
                ))
            }
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::malformed(format!("not valid JSON: {e}")))?;
        match value {
            Value::Object(map) => Ok(Self {
                map,
                errors: vec![],
            }),
            _ => Err(ApiError::malformed("the body must be a JSON object")),
        }
    }

    fn refuse(&mut self, field: &str, message: &str) {
        self.errors.push((field.to_owned(), message.to_owned()));
    }

    /// A string field; `None` (and an error when `required`) when missing or not a string.
    pub fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.map.remove(field) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.refuse(field, "is required");
                None
            }
            Some(_) => {
                self.refuse(field, "must be a string");
                None
            }
        }
    }

    /// A list-of-strings field.
    pub fn string_list(&mut self, field: &str, required: bool) -> Option<Vec<String>> {
        match self.map.remove(field) {
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => self.refuse(&format!("{field}[{i}]"), "must be a string"),
                    }
                }
                Some(out)
            }
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.refuse(field, "is required");
                None
            }
            Some(_) => {
                self.refuse(field, "must be a list of strings");
                None
            }
        }
    }

    /// A boolean field.
    pub fn boolean(&mut self, field: &str) -> Option<bool> {
        match self.map.remove(field) {
            Some(Value::Bool(b)) => Some(b),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.refuse(field, "must be true or false");
                None
            }
        }
    }

    /// Ends reading: refuses unknown fields and reports every error at once (422).
    pub fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<String> = self.map.keys().cloned().collect();
        unknown.sort();
        for field in unknown {
            self.refuse(&field, "is not a field of this request");
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.errors))
        }
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        "Body too large",
        format!("request bodies are limited to {JSON_LIMIT} bytes"),
    )
}

/// Query string pairs.
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// `?limit=`, `?cursor=`, `?order=` (and `?sort=created_at`), with 422 on bad values.
pub struct ListParams {
    /// Page size.
    pub limit: PageLimit,
    /// Where to continue.
    pub cursor: Option<Cursor>,
    /// Sort order by creation time.
    pub order: SortOrder,
    /// `?search=`.
    pub search: Option<String>,
}

impl ListParams {
    /// Parses the list parameters of a request.
    pub fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut params = ListParams {
            limit: PageLimit::default(),
            cursor: None,
            order: SortOrder::Desc,
            search: None,
        };
        let mut errors: Vec<ValidationError> = Vec::new();
        for (key, value) in query_pairs(req) {
            match key.as_str() {
                "limit" => PageLimit::parse(&value)
                    .map(|l| params.limit = l)
                    .unwrap_or_else(|e| errors.push(e)),
                "cursor" => Cursor::decode(&value)
                    .map(|c| params.cursor = Some(c))
                    .unwrap_or_else(|e| errors.push(e)),
                "order" => SortOrder::parse(&value)
                    .map(|o| params.order = o)
                    .unwrap_or_else(|e| errors.push(e)),
                "sort" if value == "created_at" => {}
                "sort" => errors.push(ValidationError::new(
                    "sort",
                    "only `created_at` is supported",
                )),
                "search" => params.search = Some(value),
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(params)
        } else {
            Err(ApiError::invalid(
                errors.into_iter().map(|e| (e.field, e.message)).collect(),
            ))
        }
    }
}
