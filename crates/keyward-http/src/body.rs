//! Reading request bodies and query strings with the documented errors: 413 too large,
//! 408 too slow, 415 wrong content type, 400 malformed, 422 per field.
//!
//! Every body is read by [`read_limited`]: a declared `Content-Length` over the limit is
//! refused before a byte is read, and the whole body must arrive within the body
//! deadline ([`HttpLimits::body_timeout`]), so a client that stops sending cannot hold a
//! connection (and a worker's attention) for longer than that.

use std::time::Duration;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest management request body.
pub const JSON_LIMIT: usize = 64 * 1024;

/// Limits on how clients send requests, registered as app data
/// (`App::app_data(HttpLimits { .. })`); without it the defaults apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a client may take to send a whole request body, counted from when the
    /// route starts reading it. Past it the request is answered 408 and the connection
    /// closed.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            body_timeout: Duration::from_secs(10),
        }
    }
}

// ----- connections -----

/// Watches one connection and shuts it down once no request has been in progress on it
/// for `idle_timeout`. It is the backstop behind the HTTP layer's own timers, which do
/// not cover two cases: the head of a second request on a kept-alive connection (its
/// keep-alive timer stops at the first byte), and a chunked request body left unread
/// by an early answer (drained for as long as the client keeps sending).
///
/// Register with `HttpServer::on_connect(|c, e| watch_connection(c, e, idle_timeout))`
/// and wrap the app in `middleware::from_fn(track_requests)`. With keep-alive `K` and
/// head timeout `H`, `idle_timeout = K + H` never cuts a well-behaved client short.
pub struct ConnectionWatch {
    #[cfg(unix)]
    socket: std::net::TcpStream,
    in_flight: std::cell::Cell<usize>,
    idle_since: std::cell::Cell<std::time::Instant>,
}

/// Counts a request as in progress on its connection while it lives.
pub(crate) struct InFlight(std::rc::Rc<ConnectionWatch>);

impl InFlight {
    fn new(watch: std::rc::Rc<ConnectionWatch>) -> Self {
        watch.in_flight.set(watch.in_flight.get().saturating_add(1));
        Self(watch)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let watch = &self.0;
        watch.in_flight.set(watch.in_flight.get().saturating_sub(1));
        watch.idle_since.set(std::time::Instant::now());
    }
}

/// The `on_connect` hook: starts watching a plain TCP connection (other connection
/// types are left alone).
pub fn watch_connection(
    conn: &dyn std::any::Any,
    data: &mut actix_web::dev::Extensions,
    idle_timeout: Duration,
) {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        // A second handle on the same socket, to shut it down from the watch; it is
        // closed when the connection ends (the watch lives in the connection's data).
        let socket = match tcp.as_fd().try_clone_to_owned() {
            Ok(fd) => std::net::TcpStream::from(fd),
            Err(e) => {
                log::warn!("cannot watch a connection: {e}");
                return;
            }
        };
        let watch = std::rc::Rc::new(ConnectionWatch {
            socket,
            in_flight: std::cell::Cell::new(0),
            idle_since: std::cell::Cell::new(std::time::Instant::now()),
        });
        let weak = std::rc::Rc::downgrade(&watch);
        data.insert(watch);
        actix_web::rt::spawn(async move {
            loop {
                let Some(watch) = weak.upgrade() else {
                    return; // the connection is gone
                };
                let now = std::time::Instant::now();
                let deadline = if watch.in_flight.get() > 0 {
                    now + idle_timeout
                } else {
                    watch.idle_since.get() + idle_timeout
                };
                if deadline <= now {
                    log::debug!("closing a connection with no request in progress");
                    let _ = watch.socket.shutdown(std::net::Shutdown::Both);
                    return;
                }
                drop(watch);
                actix_web::rt::time::sleep_until(deadline.into()).await;
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = (conn, data, idle_timeout);
    }
}

/// The middleware half of [`watch_connection`]: marks a request as in progress on its
/// connection until its response is ready.
pub async fn track_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let _in_flight = in_flight(&req);
    next.call(req).await
}

/// Marks `req` as in progress on its connection until the guard drops.
pub(crate) fn in_flight(req: &actix_web::dev::ServiceRequest) -> Option<InFlight> {
    req.conn_data::<std::rc::Rc<ConnectionWatch>>()
        .map(|watch| InFlight::new(std::rc::Rc::clone(watch)))
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body (declared or received) is larger than `limit` bytes: 413.
    TooLarge {
        /// The route's limit, in bytes.
        limit: usize,
    },
    /// The body did not arrive within the body deadline: 408, connection closed.
    TimedOut {
        /// The deadline that passed.
        after: Duration,
    },
    /// The client broke off or sent a malformed body (chunk encoding): 400.
    Unreadable(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => {
                write!(f, "request bodies are limited to {limit} bytes")
            }
            BodyError::TimedOut { after } => write!(
                f,
                "the request body was not received within {} ms",
                after.as_millis()
            ),
            BodyError::Unreadable(why) => write!(f, "cannot read the body: {why}"),
        }
    }
}

/// The `Content-Length` a request declares, if any (a value that does not parse is
/// refused by the HTTP layer before a route runs).
fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Reads the whole body, at most `limit` bytes, within the body deadline: the one
/// body reader of every route. A declared `Content-Length` over `limit` is refused at
/// once, before anything is read.
pub async fn read_limited(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, BodyError> {
    if declared_length(req).is_some_and(|n| u64::try_from(limit).is_ok_and(|l| n > l)) {
        return Err(BodyError::TooLarge { limit });
    }
    let timeout = req
        .app_data::<HttpLimits>()
        .copied()
        .unwrap_or_default()
        .body_timeout;
    // A small body has usually arrived with the head: read it without arming a timer
    // (one timer per request is a measurable part of a warm request's cost).
    let mut collecting = std::pin::pin!(collect(payload, limit));
    if let Some(done) = within_this_pass(collecting.as_mut()).await {
        return done;
    }
    match actix_web::rt::time::timeout(timeout, collecting).await {
        Ok(result) => result,
        Err(_) => Err(BodyError::TimedOut { after: timeout }),
    }
}

/// Polls `fut` until the connection's current pass is over: `Some` with its output if
/// it completes, `None` if it still waits after it.
///
/// actix-web polls a route once right after it decodes a request's head, and only then
/// decodes the body that came in the same read and hands it over; so a body that
/// arrived with its head is not there at the first poll but is at the next. Waking
/// itself at the first wait makes sure there is a next poll even when nothing arrives,
/// so this never waits for the client.
async fn within_this_pass<F: std::future::Future + Unpin>(mut fut: F) -> Option<F::Output> {
    let mut waited = false;
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut fut).poll(cx) {
        std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
        std::task::Poll::Pending if waited => std::task::Poll::Ready(None),
        std::task::Poll::Pending => {
            waited = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// A body read in two steps: [`EarlyBody::start`] takes what arrived with the head
/// (a small body usually has), so a route can look at it before deciding anything, and
/// [`EarlyBody::finish`] gives the whole body as [`read_limited`] would, with the same
/// errors (a declared length over the limit, the body deadline).
pub(crate) struct EarlyBody {
    state: EarlyState,
    timeout: Duration,
}

type Collecting =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<web::BytesMut, BodyError>>>>;

enum EarlyState {
    Done(Result<web::BytesMut, BodyError>),
    Reading(Collecting),
}

impl EarlyBody {
    /// Starts reading: a declared length over `limit` is refused at once; a body that
    /// arrived with the head is taken now, without arming a timer
    /// ([`within_this_pass`]); a later one is left to [`EarlyBody::finish`].
    pub(crate) async fn start(req: &HttpRequest, payload: web::Payload, limit: usize) -> Self {
        let timeout = req
            .app_data::<HttpLimits>()
            .copied()
            .unwrap_or_default()
            .body_timeout;
        if declared_length(req).is_some_and(|n| u64::try_from(limit).is_ok_and(|l| n > l)) {
            return Self {
                state: EarlyState::Done(Err(BodyError::TooLarge { limit })),
                timeout,
            };
        }
        let mut collecting: Collecting = Box::pin(collect(payload, limit));
        let state = match within_this_pass(collecting.as_mut()).await {
            Some(done) => EarlyState::Done(done),
            None => EarlyState::Reading(collecting),
        };
        Self { state, timeout }
    }

    /// The whole body, if it has already arrived and was within the limit.
    pub(crate) fn ready(&self) -> Option<&[u8]> {
        match &self.state {
            EarlyState::Done(Ok(body)) => Some(body),
            _ => None,
        }
    }

    /// The whole body, read within the body deadline.
    pub(crate) async fn finish(self) -> Result<web::BytesMut, BodyError> {
        match self.state {
            EarlyState::Done(result) => result,
            EarlyState::Reading(collecting) => {
                match actix_web::rt::time::timeout(self.timeout, collecting).await {
                    Ok(result) => result,
                    Err(_) => Err(BodyError::TimedOut {
                        after: self.timeout,
                    }),
                }
            }
        }
    }
}

/// Collects the payload, refusing it as soon as it grows past `limit`.
async fn collect(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, BodyError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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

/// The kind of JSON value a request body field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string.
    Text,
    /// A list of strings.
    TextList,
    /// `true` or `false`.
    Boolean,
    /// A whole number that fits in 64 bits (`5`, not `5.0` or `"5"`).
    Integer,
    /// A list of JSON objects (e.g. the keys of a JWK Set), checked further by the use
    /// case.
    ObjectList,
    /// Any JSON value: the handler checks its shape and names every error's field.
    Json,
}

/// One field of a JSON request body, as the strict reader checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// The field's name in the JSON object.
    pub name: &'static str,
    /// The kind of value it holds.
    pub kind: FieldKind,
    /// Whether it must be present (and not `null`).
    pub required: bool,
}

impl FieldRule {
    /// A field that must be present.
    pub const fn required(name: &'static str, kind: FieldKind) -> Self {
        Self {
            name,
            kind,
            required: true,
        }
    }

    /// A field that may be missing or `null` (both mean "not given").
    pub const fn optional(name: &'static str, kind: FieldKind) -> Self {
        Self {
            name,
            kind,
            required: false,
        }
    }
}

/// A request body type of the management API. The strict reader checks the JSON object
/// against [`Self::FIELDS`] — every unknown field, missing field and value of the wrong
/// kind reported at once (422), in the order of `FIELDS`, unknown fields last and
/// sorted — and only then deserializes the type from what it checked, so serde never
/// sees a body it could refuse. A unit test holds each type's `FIELDS` to its serde
/// shape.
pub trait JsonRequest: DeserializeOwned {
    /// The fields the body may hold, in the order their errors are reported.
    const FIELDS: &'static [FieldRule];
    /// Whether a request with no body at all is read as `{}`.
    const EMPTY_BODY_ALLOWED: bool = false;
    /// Whether a well-formed body may be read straight into the type, skipping the
    /// field-by-field checks (which then run only to explain a failure). Set it only
    /// on a hot path's type that denies unknown fields and whose fields are strings or
    /// optional strings, so that serde accepts exactly what [`Self::FIELDS`] accepts.
    const DIRECT: bool = false;
}

/// A JSON object request body, read but not yet checked.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

/// 415 unless the body is `application/json` (or `application/*+json`).
fn check_json_type(req: &HttpRequest) -> Result<(), ApiError> {
    match content_type(req).as_deref() {
        Some("application/json") => Ok(()),
        Some(t) if t.starts_with("application/") && t.ends_with("+json") => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        )),
    }
}

impl JsonObject {
    /// Reads a JSON object body: 413/408 from [`read_limited`], 415 unless the body is
    /// `application/json` (or `application/*+json`), 400 unless it is a JSON object.
    /// `empty_allowed` accepts no body at all (as `{}`).
    pub async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        empty_allowed: bool,
    ) -> Result<Self, ApiError> {
        let body = read_limited(req, payload, JSON_LIMIT).await?;
        Self::parse(req, &body, empty_allowed)
    }

    /// [`Self::read`] once the body has arrived.
    fn parse(req: &HttpRequest, body: &[u8], empty_allowed: bool) -> Result<Self, ApiError> {
        if body.is_empty() && empty_allowed {
            return Ok(Self(Map::new()));
        }
        check_json_type(req)?;
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::malformed(format!("not valid JSON: {e}")))?;
        match value {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(ApiError::malformed("the body must be a JSON object")),
        }
    }

    /// An object already parsed (unit tests).
    #[cfg(test)]
    pub(crate) fn from_map(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// The value of a string field, when it is present and a string (a look before
    /// [`Self::into_request`], for a rule that takes precedence over the field checks).
    pub fn text(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(Value::as_str)
    }

    /// Checks the object against `T`'s fields and builds `T`: 422 with every field error
    /// at once.
    pub fn into_request<T: JsonRequest>(self) -> Result<T, ApiError> {
        let mut map = self.0;
        let mut errors: Vec<(String, String)> = Vec::new();
        let mut checked = Map::new();
        for rule in T::FIELDS {
            let value = match map.remove(rule.name) {
                None | Some(Value::Null) => {
                    if rule.required {
                        errors.push((rule.name.to_owned(), "is required".to_owned()));
                    }
                    continue;
                }
                Some(value) => value,
            };
            let kind_error = match (rule.kind, &value) {
                (FieldKind::Text, Value::String(_)) | (FieldKind::Boolean, Value::Bool(_)) => None,
                (FieldKind::Integer, Value::Number(n)) if n.is_i64() => None,
                (FieldKind::ObjectList, Value::Array(items))
                    if items.iter().all(Value::is_object) =>
                {
                    None
                }
                (FieldKind::Json, _) => None,
                (FieldKind::TextList, Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        if !item.is_string() {
                            errors.push((
                                format!("{}[{i}]", rule.name),
                                "must be a string".to_owned(),
                            ));
                        }
                    }
                    None
                }
                (FieldKind::Text, _) => Some("must be a string"),
                (FieldKind::TextList, _) => Some("must be a list of strings"),
                (FieldKind::Boolean, _) => Some("must be true or false"),
                (FieldKind::Integer, _) => Some("must be a whole number"),
                (FieldKind::ObjectList, _) => Some("must be a list of JSON objects"),
            };
            match kind_error {
                Some(message) => errors.push((rule.name.to_owned(), message.to_owned())),
                None => {
                    checked.insert(rule.name.to_owned(), value);
                }
            }
        }
        let mut unknown: Vec<String> = map.keys().cloned().collect();
        unknown.sort();
        for field in unknown {
            errors.push((field, "is not a field of this request".to_owned()));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        // Cannot fail for a body that passed the checks, unless `FIELDS` and the type's
        // serde shape disagree: a bug, which the unit tests of the wire types catch.
        serde_json::from_value(Value::Object(checked)).map_err(|e| {
            ApiError::from(keyward_core::Error::Internal(format!(
                "request body {}: {e}",
                std::any::type_name::<T>()
            )))
        })
    }
}

/// Reads and checks a JSON request body of type `T` (see [`JsonObject::read`] and
/// [`JsonObject::into_request`]).
pub async fn read_json<T: JsonRequest>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_limited(req, payload, JSON_LIMIT).await?;
    parse_json(req, &body)
}

/// Checks a JSON request body of type `T` already read (as [`read_json`] does).
pub(crate) fn parse_json<T: JsonRequest>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    if T::DIRECT && body.trim_ascii_start().first() == Some(&b'{') && check_json_type(req).is_ok() {
        if let Ok(request) = serde_json::from_slice::<T>(body) {
            return Ok(request);
        }
    }
    JsonObject::parse(req, body, T::EMPTY_BODY_ALLOWED)?.into_request()
}

/// Query string pairs.
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;
    use serde::Deserialize;

    use super::*;

    /// A request with one field of each kind.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        #[serde(default)]
        tags: Vec<String>,
        enabled: Option<bool>,
    }

    impl JsonRequest for Sample {
        const FIELDS: &'static [FieldRule] = &[
            FieldRule::required("name", FieldKind::Text),
            FieldRule::optional("tags", FieldKind::TextList),
            FieldRule::optional("enabled", FieldKind::Boolean),
        ];
    }

    fn read(json: &str) -> Result<Sample, ApiError> {
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => JsonObject(map).into_request(),
            other => panic!("not an object: {other:?}"),
        }
    }

    /// The 422 body's `errors`, as (field, message) pairs.
    fn field_errors(e: &ApiError) -> Vec<(String, String)> {
        assert_eq!(e.kind(), "validation-error");
        let response = e.error_response();
        let bytes = match actix_web::body::to_bytes(response.into_body()).now_or_never() {
            Some(Ok(bytes)) => bytes,
            _ => panic!("no body"),
        };
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
        body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors: {body}"))
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap_or_default().to_owned(),
                    e["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(f, m)| ((*f).to_owned(), (*m).to_owned()))
            .collect()
    }

    use futures_util::FutureExt;

    #[test]
    fn a_good_body_becomes_the_request() {
        assert_eq!(
            read(r#"{"name": "a", "tags": ["x", "y"], "enabled": false}"#).ok(),
            Some(Sample {
                name: "a".into(),
                tags: vec!["x".into(), "y".into()],
                enabled: Some(false),
            })
        );
        // Optional fields may be missing or null.
        assert_eq!(
            read(r#"{"name": "a", "tags": null, "enabled": null}"#).ok(),
            Some(Sample {
                name: "a".into(),
                tags: vec![],
                enabled: None,
            })
        );
    }

    #[test]
    fn every_error_at_once_in_field_order_then_unknown_fields_sorted() {
        let e = read(r#"{"zeta": 1, "tags": ["ok", 3, null], "enabled": "yes", "alpha": 2}"#)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(
            field_errors(&e),
            pairs(&[
                ("name", "is required"),
                ("tags[1]", "must be a string"),
                ("tags[2]", "must be a string"),
                ("enabled", "must be true or false"),
                ("alpha", "is not a field of this request"),
                ("zeta", "is not a field of this request"),
            ])
        );
        let e = read(r#"{"name": null, "tags": "x"}"#)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(
            field_errors(&e),
            pairs(&[
                ("name", "is required"),
                ("tags", "must be a list of strings"),
            ])
        );
        let e = read(r#"{"name": 5}"#)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(field_errors(&e), pairs(&[("name", "must be a string")]));
    }
}
