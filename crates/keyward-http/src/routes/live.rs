//! `/api/v1/live/snapshot` and `/api/v1/live/changes`: Keyward's live state for remote
//! validators (SPEC §10), within the caller's reach (`live:read`; its own environment
//! unless global). Nothing secret is in them.

use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::{Error, Keyward, Principal};

use super::{resource, run, LiveRead};
use crate::body::query_pairs;
use crate::error::ApiError;
use crate::Authorized;

/// How often the feed is read while a long-poll or a stream waits.
const POLL: Duration = Duration::from_millis(25);
/// The longest a long-poll waits (`?wait=` seconds, default 25).
const MAX_WAIT_SECS: u64 = 60;
/// How often a stream says it is alive when nothing changes.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Changes per read.
const BATCH: i64 = 1000;

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/live/snapshot",
    tag = "live",
    operation_id = "get_live_snapshot",
    summary = "What a remote validator needs, within the caller's reach",
    responses(
        (status = 200, description = "The snapshot", body = crate::openapi::LiveSnapshot),
    )
))]
async fn snapshot(
    auth: Authorized<LiveRead>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let principal = auth.principal;
    let snapshot = run(&core, move |k| k.live_snapshot(&principal)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(snapshot))
}

/// `?after=N` (required) and `?wait=S` (long-poll only).
fn position_and_wait(req: &HttpRequest) -> Result<(i64, Duration), ApiError> {
    let mut after = None;
    let mut wait = 25;
    let mut errors = Vec::new();
    for (key, value) in query_pairs(req) {
        match key.as_str() {
            "after" => match value.parse::<i64>() {
                Ok(n) if n >= 0 => after = Some(n),
                _ => errors.push((
                    "after".to_owned(),
                    "must be a feed position (a whole number ≥ 0)".to_owned(),
                )),
            },
            "wait" => match value.parse::<u64>() {
                Ok(n) if n <= MAX_WAIT_SECS => wait = n,
                _ => errors.push((
                    "wait".to_owned(),
                    format!("must be 0 to {MAX_WAIT_SECS} seconds"),
                )),
            },
            other => errors.push((
                other.to_owned(),
                "is not a parameter of this route".to_owned(),
            )),
        }
    }
    if after.is_none() && errors.is_empty() {
        errors.push(("after".to_owned(), "is required".to_owned()));
    }
    match (after, errors.is_empty()) {
        (Some(after), true) => Ok((after, Duration::from_secs(wait))),
        _ => Err(ApiError::invalid(errors)),
    }
}

fn wants_stream(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get,
    path = "/api/v1/live/changes",
    tag = "live",
    operation_id = "get_live_changes",
    summary = "Changes after a feed position: Server-Sent Events with `Accept: text/event-stream`, else a long-poll",
    params(("after" = i64, Query, minimum = 0, description = "The feed position to continue from"), ("wait" = Option<u64>, Query, minimum = 0, maximum = 60, description = "Long-poll: seconds to wait for a change (default 25)")),
    responses(
        (status = 200, description = "The changes (long-poll), or with `Accept: text/event-stream` a stream of `change` and `position` events", content(
            (crate::openapi::LiveChanges = "application/json"),
            (String = "text/event-stream"),
        )),
    )
))]
async fn changes(
    auth: Authorized<LiveRead>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (after, wait) = position_and_wait(&req)?;
    let principal = auth.principal;
    if wants_stream(&req) {
        return Ok(stream(core, principal, after));
    }
    let started = Instant::now();
    loop {
        let p = principal.clone();
        let page = run(&core, move |k| k.live_changes(&p, after, BATCH)).await?;
        if !page.items.is_empty() || page.position > after || started.elapsed() >= wait {
            return Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(page));
        }
        actix_web::rt::time::sleep(POLL).await;
    }
}

/// Server-Sent Events: one `change` event per change (`id:` its position), and a
/// `position` event when the position moves past changes outside the caller's reach;
/// a comment line every few seconds when nothing happens. The stream ends when
/// storage fails (the client reconnects from its last position).
fn stream(core: web::Data<Keyward>, principal: Principal, after: i64) -> HttpResponse {
    struct State {
        core: web::Data<Keyward>,
        principal: Principal,
        after: i64,
        last_sent: Instant,
        first: bool,
        done: bool,
    }
    let state = State {
        core,
        principal,
        after,
        last_sent: Instant::now(),
        first: true,
        done: false,
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            if !s.first {
                actix_web::rt::time::sleep(POLL).await;
            }
            s.first = false;
            let (p, after) = (s.principal.clone(), s.after);
            let read = run(&s.core, move |k| k.live_changes(&p, after, BATCH)).await;
            let page = match read {
                Ok(page) => page,
                Err(_) => {
                    s.done = true;
                    return Some((
                        Ok::<_, Error>(Bytes::from_static(b"event: error\ndata: {}\n\n")),
                        s,
                    ));
                }
            };
            let mut out = String::new();
            for item in &page.items {
                let data = serde_json::to_string(item).unwrap_or_default();
                out.push_str(&format!(
                    "id: {}\nevent: change\ndata: {data}\n\n",
                    item.seq
                ));
            }
            if page.position > s.after && page.items.last().map(|i| i.seq) != Some(page.position) {
                out.push_str(&format!(
                    "id: {0}\nevent: position\ndata: {{\"position\":{0}}}\n\n",
                    page.position
                ));
            }
            s.after = page.position.max(s.after);
            if out.is_empty() && s.last_sent.elapsed() >= HEARTBEAT {
                out.push_str(": alive\n\n");
            }
            if !out.is_empty() {
                s.last_sent = Instant::now();
                return Some((Ok(Bytes::from(out)), s));
            }
        }
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(events)
}

pub(super) fn configure(cfg: &mut super::Routes<'_>) {
    cfg.service(resource("/live/snapshot").get(snapshot))
        .service(resource("/live/changes").get(changes));
}

/// This module's routes, for the OpenAPI document.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(snapshot, changes))]
pub(super) struct Doc;
