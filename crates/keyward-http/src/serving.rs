//! [`Serving`]: the one middleware the server wraps its app in. It does in a single
//! layer, with no allocation of its own per request, what [`crate::cors`],
//! [`crate::record_metrics`] and [`crate::track_requests`] do one layer each: it marks
//! the request in progress on its connection, answers CORS preflights and adds the CORS
//! headers, and records the request's latency under its route pattern.

use std::cell::RefCell;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::HeaderValue;
use actix_web::web;
use keyward_core::metrics::{status_class, RequestSeries};
use keyward_core::Keyward;

use crate::body::in_flight;
use crate::cors;
use crate::metrics::method_label;

/// The route pattern a resource serves (`/api/v1/environments/{env}`), attached to the
/// resource when it is registered, so that the metrics label a request without matching
/// its path against the route table a second time.
///
/// It also keeps the histogram series its requests were recorded into, resolved on
/// first use: an app's resources are built per worker, so each worker has its own
/// (a `RefCell`, no lock), and a warm route's request skips the label lookup.
#[derive(Debug)]
pub(crate) struct RouteLabel {
    pub(crate) pattern: Rc<str>,
    series: RefCell<Vec<(&'static str, &'static str, RequestSeries)>>,
}

impl RouteLabel {
    pub(crate) fn new(pattern: String) -> Self {
        Self {
            pattern: pattern.into(),
            series: RefCell::new(Vec::new()),
        }
    }

    /// Records one request of this route.
    pub(crate) fn observe(
        &self,
        metrics: &keyward_core::Metrics,
        method: &'static str,
        status: u16,
        elapsed: std::time::Duration,
    ) {
        let class = status_class(status);
        let mut series = self.series.borrow_mut();
        if let Some((_, _, s)) = series.iter().find(|(m, c, _)| *m == method && *c == class) {
            s.observe(elapsed);
            return;
        }
        let s = metrics.request_series(&self.pattern, method, status);
        s.observe(elapsed);
        series.push((method, class, s));
    }
}

/// Wraps the app: connection tracking (for [`crate::watch_connection`]), CORS (with a
/// [`crate::CorsPolicy`] in the app data), and, when `request_latency` is on, the request
/// histogram by route pattern, method and status class (with `web::Data<Keyward>`).
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    /// Whether to record each request's latency (`metrics.request_latency`).
    pub request_latency: bool,
}

impl<S, B> Transform<S, ServiceRequest> for Serving
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = ServingService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ServingService {
            service,
            request_latency: self.request_latency,
        }))
    }
}

/// The service [`Serving`] builds around the app.
#[derive(Debug)]
pub struct ServingService<S> {
    service: S,
    request_latency: bool,
}

impl<S, B> Service<ServiceRequest> for ServingService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = ServingFuture<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let in_flight = in_flight(&req);
        let allowed = cors::allowed_origin(&req);
        if let Some(response) = allowed.as_ref().and_then(|a| cors::preflight(&req, a)) {
            return ServingFuture {
                state: State::Answered {
                    res: Some(req.into_response(response)),
                },
                in_flight,
            };
        }
        let timing = self
            .request_latency
            .then(|| (Instant::now(), method_label(req.method())));
        ServingFuture {
            state: State::Calling {
                fut: self.service.call(req),
                allowed,
                timing,
            },
            in_flight,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of one request through [`ServingService`].
    pub struct ServingFuture<F> {
        #[pin]
        state: State<F>,
        in_flight: Option<crate::body::InFlight>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Answered { res: Option<ServiceResponse> },
        Calling {
            #[pin]
            fut: F,
            allowed: Option<HeaderValue>,
            timing: Option<(Instant, &'static str)>,
        },
    }
}

impl<F, B> Future for ServingFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Answered { res } => match res.take() {
                Some(res) => Poll::Ready(Ok(res.map_into_right_body())),
                None => Poll::Pending,
            },
            StateProj::Calling {
                fut,
                allowed,
                timing,
            } => {
                let mut res = match fut.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(res)) => res,
                };
                if let Some(allowed) = allowed.take() {
                    cors::decorate(res.headers_mut(), allowed);
                }
                if let Some((started, method)) = timing.take() {
                    observe(res.request(), method, res.status().as_u16(), started);
                }
                Poll::Ready(Ok(res.map_into_left_body()))
            }
        }
    }
}

/// Records a finished request in the histogram of the core in `request`'s app data,
/// under its route's label (`unmatched` when no resource matched).
pub(crate) fn observe(
    request: &actix_web::HttpRequest,
    method: &'static str,
    status: u16,
    started: Instant,
) {
    let Some(core) = request.app_data::<web::Data<Keyward>>() else {
        return;
    };
    match request.app_data::<RouteLabel>() {
        Some(route) => route.observe(core.metrics(), method, status, started.elapsed()),
        None => core
            .metrics()
            .observe_request("unmatched", method, status, started.elapsed()),
    }
}
