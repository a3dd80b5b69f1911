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
use keyward_core::domain::{Cursor, PageLimit, SortOrder, ValidationError};
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
struct InFlight(std::rc::Rc<ConnectionWatch>);

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
    let _in_flight = req
        .conn_data::<std::rc::Rc<ConnectionWatch>>()
        .map(|watch| InFlight::new(std::rc::Rc::clone(watch)));
    next.call(req).await
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
    if declared_length(req).is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let timeout = req
        .app_data::<HttpLimits>()
        .copied()
        .unwrap_or_default()
        .body_timeout;
    match actix_web::rt::time::timeout(timeout, collect(payload, limit)).await {
        Ok(result) => result,
        Err(_) => Err(BodyError::TimedOut { after: timeout }),
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
        let body = read_limited(req, payload, JSON_LIMIT).await?;
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
