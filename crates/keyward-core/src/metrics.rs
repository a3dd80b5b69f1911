//! Prometheus metrics of one Keyward core (SPEC §12): tokens issued and refused, cache
//! hit ratios, the argon2 gate, the change feed's lag, identity provider calls, and the
//! HTTP layer's request latency per route.
//!
//! Every metric lives in the core's own [`Registry`] (not the process-wide default), so
//! two cores in one process (tests, or a service embedding two validators) never mix
//! their counts. The handles touched on warm paths are resolved once, here: counting a
//! cache hit is one relaxed atomic add.

use std::sync::Arc;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::federation::{Upstream, UpstreamError};
use crate::sharded::ShardedCount;

/// Latency buckets (seconds) from 50 µs (a warm-path answer) to 10 s (an IdP timeout).
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Feed-lag buckets (seconds): from a same-instance change to a long outage.
const LAG_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The OAuth error codes (RFC 6749 §5.2 and the extensions Keyward answers) a token
/// refusal is counted under; anything else is counted as `other`.
const REFUSAL_REASONS: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "invalid_scope",
    "invalid_target",
    "unauthorized_client",
    "unsupported_grant_type",
    "temporarily_unavailable",
    "server_error",
];

/// One cache's hit and miss counters (counted per thread: every warm request counts).
#[derive(Clone)]
pub(crate) struct HitMiss {
    hit: HotCounter,
    miss: HotCounter,
}

impl HitMiss {
    fn new(family: &CounterFamily, cache: &str) -> Self {
        Self {
            hit: family.hot(&[cache, "hit"]),
            miss: family.hot(&[cache, "miss"]),
        }
    }

    /// Counts one lookup.
    pub(crate) fn record(&self, hit: bool) {
        if hit {
            self.hit.inc();
        } else {
            self.miss.inc();
        }
    }
}

/// The metrics of one Keyward core, and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    tokens_issued_signed: HotCounter,
    tokens_issued_reused: HotCounter,
    tokens_refused: IntCounterVec,
    http_requests: RequestHistogram,
    /// Signature-verified tokens (per token text).
    pub(crate) token_cache: HitMiss,
    /// Secrets already verified with argon2 (per client ID and secret).
    pub(crate) secret_cache: HitMiss,
    /// Tokens handed out again on a repeat request.
    pub(crate) reuse_cache: HitMiss,
    /// Apps' live state (status, roles, environment) in memory.
    pub(crate) app_cache: HitMiss,
    cache_entries: IntGaugeVec,
    argon2_running: IntGauge,
    argon2_waiting: IntGauge,
    pub(crate) argon2_refused: IntCounter,
    pub(crate) argon2_seconds: Histogram,
    pub(crate) feed_lag: Histogram,
    pub(crate) feed_failures: IntCounter,
    pub(crate) feed_last_sync: Gauge,
    idp_seconds: HistogramVec,
    idp_failures: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Registers `c` and returns it; the names are constants, so a clash is a bug found by
/// the first test that builds a core.
fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    if let Err(e) = registry.register(Box::new(c.clone())) {
        log::error!("metrics: {e}");
    }
    c
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric()),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric()),
    )
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> HistogramVec {
    register(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )
        .unwrap_or_else(|_| unreachable_metric()),
    )
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    register(
        registry,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
            .unwrap_or_else(|_| unreachable_metric()),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(
        registry,
        IntGauge::new(name, help).unwrap_or_else(|_| unreachable_metric()),
    )
}

/// Metric names and help texts are constants checked by the unit tests below; an
/// invalid one is a programming error, never input.
#[allow(clippy::panic)]
fn unreachable_metric<T>() -> T {
    panic!("invalid metric definition")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in a registry of its own (with the process's resident
    /// memory, CPU and file descriptors on Linux).
    pub fn new() -> Self {
        let r = Registry::new_custom(Some("keyward".into()), None)
            .unwrap_or_else(|_| unreachable_metric());
        #[cfg(target_os = "linux")]
        if let Err(e) = r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            log::warn!("metrics: process collector: {e}");
        }
        let issued = register(
            &r,
            CounterFamily::new(
                "tokens_issued_total",
                "Access tokens answered by the token endpoint: `signed` new, or `reused` (a repeat request answered with the token issued before).",
                &["kind"],
            ),
        );
        let tokens_refused = counter_vec(
            &r,
            "tokens_refused_total",
            "Token requests refused, by OAuth error code.",
            &["reason"],
        );
        for reason in REFUSAL_REASONS.iter().chain(&["other"]) {
            // Present from the start at 0, so `rate()` and alerts see the series.
            let _ = tokens_refused.with_label_values(&[reason]);
        }
        let lookups = register(
            &r,
            CounterFamily::new(
                "cache_lookups_total",
                "Lookups in the in-memory caches that make the warm paths fast: `token` (signature-verified tokens), `secret` (argon2-verified secrets), `reuse` (tokens handed out again), `app` (apps' live state).",
                &["cache", "result"],
            ),
        );
        let argon2_refused = counter(
            &r,
            "argon2_refused_total",
            "argon2 operations refused at once because every slot was busy and the queue full (the request got 503).",
        );
        Self {
            tokens_issued_signed: issued.hot(&["signed"]),
            tokens_issued_reused: issued.hot(&["reused"]),
            tokens_refused,
            http_requests: register(
                &r,
                RequestHistogram::new(
                    "http_request_duration_seconds",
                    "HTTP requests by route pattern, method and status class, from the request's arrival at the app to its response.",
                ),
            ),
            token_cache: HitMiss::new(&lookups, "token"),
            secret_cache: HitMiss::new(&lookups, "secret"),
            reuse_cache: HitMiss::new(&lookups, "reuse"),
            app_cache: HitMiss::new(&lookups, "app"),
            cache_entries: register(
                &r,
                IntGaugeVec::new(
                    Opts::new("cache_entries", "Entries held by each bounded cache."),
                    &["cache"],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            argon2_running: gauge(&r, "argon2_running", "argon2 operations running now."),
            argon2_waiting: gauge(
                &r,
                "argon2_waiting",
                "argon2 operations waiting for a slot now (the queue).",
            ),
            argon2_refused,
            argon2_seconds: histogram(
                &r,
                "argon2_duration_seconds",
                "Time of one argon2 verification or hash, including the wait for a slot.",
                LATENCY_BUCKETS,
            ),
            feed_lag: histogram(
                &r,
                "change_feed_lag_seconds",
                "Time from a change's commit (on any instance) to this instance applying it to its caches.",
                LAG_BUCKETS,
            ),
            feed_failures: counter(
                &r,
                "change_feed_sync_failures_total",
                "Reads of the change feed that failed (storage unavailable).",
            ),
            feed_last_sync: register(
                &r,
                Gauge::new(
                    "change_feed_last_sync_timestamp_seconds",
                    "Unix time of the last successful read of the change feed.",
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            idp_seconds: histogram_vec(
                &r,
                "idp_request_duration_seconds",
                "Calls to an environment's identity provider, by operation (`get` for discovery and keys, `token` for brokered secrets) and outcome (`ok` or `error`).",
                LATENCY_BUCKETS,
                &["operation", "outcome"],
            ),
            idp_failures: counter_vec(
                &r,
                "idp_failures_total",
                "Failed calls to an identity provider, by reason (`unreachable`, `timeout`, `status`, `not_json`).",
                &["reason"],
            ),
            registry: r,
        }
    }

    /// The registry, for a host that adds metrics of its own.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts a token answered by the token endpoint.
    pub fn token_issued(&self, reused: bool) {
        if reused {
            self.tokens_issued_reused.inc();
        } else {
            self.tokens_issued_signed.inc();
        }
    }

    /// Counts a refused token request by its OAuth error code.
    pub fn token_refused(&self, error_code: &str) {
        let reason = if REFUSAL_REASONS.contains(&error_code) {
            error_code
        } else {
            "other"
        };
        self.tokens_refused.with_label_values(&[reason]).inc();
    }

    /// Records one HTTP request: `route` is the matched pattern (`/oauth2/token`,
    /// `/api/v1/environments/{env}`; `unmatched` for unknown paths, so a scan cannot
    /// create series), `status` the status code.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .shared
            .with_label_values(&[route, method, status_class(status)])
            .observe(elapsed.as_secs_f64());
    }

    /// The series [`Self::observe_request`] records into for this route, method and
    /// status class: a caller that keeps it (per route, on its own thread) records
    /// without the label lookup.
    ///
    /// Each call makes a series of its own (merged with the others of the same labels
    /// when the metrics are rendered): a worker thread that keeps its own series never
    /// writes a cache line another worker writes.
    pub fn request_series(&self, route: &str, method: &str, status: u16) -> RequestSeries {
        self.http_requests
            .shard(route, method, status_class(status))
    }

    /// How long ago the change feed was last read successfully (`None`: never).
    pub fn change_feed_age(&self, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        let last = self.feed_last_sync.get();
        if last <= 0.0 {
            return None;
        }
        #[allow(clippy::as_conversions)] // milliseconds since 1970 fit an f64 exactly
        let now = now.timestamp_millis() as f64 / 1000.0;
        Some(Duration::from_secs_f64((now - last).max(0.0)))
    }

    /// Sets the argon2 gate's current load (read when the metrics are rendered).
    pub(crate) fn set_argon2_load(&self, running: usize, waiting: usize) {
        self.argon2_running
            .set(i64::try_from(running).unwrap_or(i64::MAX));
        self.argon2_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// Sets how many entries a cache holds (read when the metrics are rendered).
    pub(crate) fn set_cache_entries(&self, cache: &str, entries: usize) {
        self.cache_entries
            .with_label_values(&[cache])
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition format (version 0.0.4) of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::error!("metrics: encoding: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Records one call to an identity provider: its time, and its failure if any.
    fn idp_observe(&self, operation: &str, started: std::time::Instant, failure: Option<&str>) {
        let outcome = if failure.is_some() { "error" } else { "ok" };
        self.idp_seconds
            .with_label_values(&[operation, outcome])
            .observe(started.elapsed().as_secs_f64());
        if let Some(reason) = failure {
            self.idp_failures.with_label_values(&[reason]).inc();
        }
    }
}

/// The failure label of an outbound error.
fn failure_reason(e: &UpstreamError) -> &'static str {
    match e {
        UpstreamError::Unreachable(_) => "unreachable",
        UpstreamError::Timeout => "timeout",
        UpstreamError::Status(_) => "status",
        UpstreamError::NotJson => "not_json",
    }
}

/// An [`Upstream`] that times every call to the identity provider and counts failures
/// (no answer, or an answer of HTTP 5xx; a 4xx refusal of a secret is an answer).
pub(crate) struct MeteredUpstream {
    pub(crate) inner: Arc<dyn Upstream>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Upstream for MeteredUpstream {
    fn get_json(&self, url: &str) -> Result<serde_json::Value, UpstreamError> {
        let started = std::time::Instant::now();
        let result = self.inner.get_json(url);
        let failure = result.as_ref().err().map(failure_reason);
        self.metrics.idp_observe("get", started, failure);
        result
    }

    fn post_form(
        &self,
        url: &str,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), UpstreamError> {
        let started = std::time::Instant::now();
        let result = self.inner.post_form(url, client_id, secret, form);
        let failure = match &result {
            Err(e) => Some(failure_reason(e)),
            Ok((status, _)) if *status >= 500 => Some("status"),
            Ok(_) => None,
        };
        self.metrics.idp_observe("token", started, failure);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_thread_request_series_render_as_one_histogram() {
        let m = Metrics::new();
        // Two workers' own series for one label set, the shared path, and another set.
        let a = m.request_series("/oauth2/status", "GET", 200);
        let b = m.request_series("/oauth2/status", "GET", 204);
        a.observe(Duration::from_micros(50));
        a.observe(Duration::from_millis(20));
        b.observe(Duration::from_micros(70));
        m.observe_request("/oauth2/status", "GET", 200, Duration::from_micros(60));
        m.request_series("/oauth2/token", "POST", 401)
            .observe(Duration::from_micros(90));
        let text = m.render();
        let series = r#"keyward_http_request_duration_seconds_count{method="GET",route="/oauth2/status",status="2xx"}"#;
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(series))
                .collect::<Vec<_>>(),
            vec![format!("{series} 4")],
            "{text}"
        );
        let buckets = |le: &str| {
            let line = format!(
                r#"keyward_http_request_duration_seconds_bucket{{method="GET",route="/oauth2/status",status="2xx",le="{le}"}}"#
            );
            text.lines()
                .find_map(|l| l.strip_prefix(line.as_str()))
                .map(str::trim)
                .unwrap_or_else(|| panic!("no bucket {le}: {text}"))
                .to_owned()
        };
        assert_eq!(buckets("+Inf"), "4");
        assert_eq!(buckets("0.001"), "3", "three of the four took under 1 ms");
        assert!(text.contains(
            r#"keyward_http_request_duration_seconds_count{method="POST",route="/oauth2/token",status="4xx"} 1"#
        ));
    }

    #[test]
    fn every_metric_is_defined_and_rendered_with_the_keyward_prefix() {
        let m = Metrics::new();
        m.token_issued(true);
        m.token_refused("invalid_client");
        m.token_refused("made_up");
        m.secret_cache.record(true);
        m.observe_request("/oauth2/token", "POST", 200, Duration::from_micros(80));
        let text = m.render();
        for needle in [
            "keyward_tokens_issued_total{kind=\"reused\"} 1",
            "keyward_tokens_refused_total{reason=\"invalid_client\"} 1",
            "keyward_tokens_refused_total{reason=\"other\"} 1",
            "keyward_tokens_refused_total{reason=\"invalid_scope\"} 0",
            "keyward_cache_lookups_total{cache=\"secret\",result=\"hit\"} 1",
            "keyward_http_request_duration_seconds_bucket{method=\"POST\",route=\"/oauth2/token\",status=\"2xx\",le=\"0.0001\"} 1",
            "# TYPE keyward_argon2_waiting gauge",
            "# TYPE keyward_change_feed_lag_seconds histogram",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }

    #[test]
    fn counts_made_on_many_threads_render_as_one_series_each() {
        let m = Arc::new(Metrics::new());
        let threads: Vec<_> = (0..5)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        m.token_issued(true);
                        m.app_cache.record(false);
                    }
                    m.token_issued(false);
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        let text = m.render();
        for (needle, times) in [
            ("keyward_tokens_issued_total{kind=\"reused\"} 1000\n", 1),
            ("keyward_tokens_issued_total{kind=\"signed\"} 5\n", 1),
            (
                "keyward_cache_lookups_total{cache=\"app\",result=\"miss\"} 1000\n",
                1,
            ),
            (
                "keyward_cache_lookups_total{cache=\"app\",result=\"hit\"} 0\n",
                1,
            ),
            ("keyward_tokens_issued_total{", 2),
        ] {
            assert_eq!(text.matches(needle).count(), times, "{needle} in\n{text}");
        }
    }
}

/// The status class label of a status code (`2xx`, `4xx`, …).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One series of the request-latency histogram (a route, a method, a status class),
/// resolved once: see [`Metrics::request_series`].
#[derive(Clone)]
pub struct RequestSeries(prometheus::Histogram);

impl RequestSeries {
    /// Records one request's latency.
    pub fn observe(&self, elapsed: Duration) {
        self.0.observe(elapsed.as_secs_f64());
    }
}

impl std::fmt::Debug for RequestSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestSeries")
    }
}

/// One series of a [`CounterFamily`] counted in per-thread shards.
#[derive(Clone)]
pub(crate) struct HotCounter(Arc<ShardedCount>);

impl HotCounter {
    /// Adds one (on this thread's shard: no cache line shared with another worker).
    pub(crate) fn inc(&self) {
        self.0.inc();
    }
}

/// The series of a [`CounterFamily`] counted per thread: their label values, in the
/// family's label order, and their count.
type HotSeries = (Vec<String>, Arc<ShardedCount>);

/// A counter family whose series are counted in per-thread shards ([`HotCounter`]):
/// rendering adds each one's total into its labelled series, so the output is the same
/// as an `IntCounterVec`'s.
#[derive(Clone)]
struct CounterFamily {
    shared: IntCounterVec,
    labels: Vec<String>,
    hot: Arc<std::sync::Mutex<Vec<HotSeries>>>,
}

impl CounterFamily {
    fn new(name: &str, help: &str, labels: &[&str]) -> Self {
        Self {
            shared: IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|_| unreachable_metric()),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            hot: Arc::default(),
        }
    }

    /// The series with these label values (present from the start at 0).
    fn hot(&self, values: &[&str]) -> HotCounter {
        let _ = self.shared.with_label_values(values);
        let count = Arc::new(ShardedCount::default());
        self.hot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((
                values.iter().map(|v| (*v).to_owned()).collect(),
                Arc::clone(&count),
            ));
        HotCounter(count)
    }
}

impl Collector for CounterFamily {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.shared.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = self.shared.collect();
        let Some(family) = families.first_mut() else {
            return families;
        };
        let hot = self
            .hot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for metric in family.mut_metric().iter_mut() {
            let value_of = |name: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|l| l.name() == name)
                    .map(|l| l.value().to_owned())
            };
            let Some((_, count)) = hot.iter().find(|(values, _)| {
                self.labels
                    .iter()
                    .zip(values)
                    .all(|(n, v)| value_of(n).as_deref() == Some(v.as_str()))
            }) else {
                continue;
            };
            #[allow(clippy::as_conversions, clippy::cast_precision_loss)]
            // a counter is exposed as a float; past 2^53 it rounds, like prometheus's own
            let total = count.sum() as f64;
            let mut counter = metric.get_counter().clone();
            counter.set_value(counter.get_value() + total);
            metric.set_counter(counter);
        }
        families
    }
}

/// One thread's own series of the request histogram: its labels (route, method,
/// status class) and its histogram.
type Shard = ([String; 3], Histogram);

/// The request-latency histogram: one family (`http_request_duration_seconds`, labels
/// `route`, `method`, `status`) made of a shared labelled histogram and of shards —
/// standalone histograms a caller keeps for one label set on one thread
/// ([`Metrics::request_series`]). Rendering sums every shard into the series of its
/// labels, so the output is the same as one histogram's.
#[derive(Clone)]
struct RequestHistogram {
    shared: HistogramVec,
    help: String,
    shards: Arc<std::sync::Mutex<Vec<Shard>>>,
}

impl RequestHistogram {
    fn new(name: &str, help: &str) -> Self {
        Self {
            shared: HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                &["route", "method", "status"],
            )
            .unwrap_or_else(|_| unreachable_metric()),
            help: help.to_owned(),
            shards: Arc::default(),
        }
    }

    fn shard(&self, route: &str, method: &str, class: &str) -> RequestSeries {
        let histogram = Histogram::with_opts(
            HistogramOpts::new("shard", self.help.clone()).buckets(LATENCY_BUCKETS.to_vec()),
        )
        .unwrap_or_else(|_| unreachable_metric());
        self.shards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((
                [route.to_owned(), method.to_owned(), class.to_owned()],
                histogram.clone(),
            ));
        RequestSeries(histogram)
    }
}

impl Collector for RequestHistogram {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.shared.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        use prometheus::proto::{LabelPair, Metric};
        let mut families = self.shared.collect();
        let Some(family) = families.first_mut() else {
            return families;
        };
        let shards = self
            .shards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for ([route, method, class], histogram) in shards {
            let Some(part) = histogram
                .collect()
                .first()
                .and_then(|f| f.get_metric().first().map(|m| m.get_histogram().clone()))
            else {
                continue;
            };
            // Label pairs in name order, as the labelled histogram writes them.
            let labels = [("method", &method), ("route", &route), ("status", &class)];
            let same = |m: &Metric| {
                m.get_label().len() == labels.len()
                    && m.get_label()
                        .iter()
                        .zip(labels.iter())
                        .all(|(l, (n, v))| l.name() == *n && l.value() == v.as_str())
            };
            let metrics = family.mut_metric();
            match metrics.iter_mut().find(|m| same(m)) {
                Some(metric) => {
                    let mut sum = metric.get_histogram().clone();
                    sum.set_sample_count(sum.get_sample_count() + part.get_sample_count());
                    sum.set_sample_sum(sum.get_sample_sum() + part.get_sample_sum());
                    let buckets = sum
                        .get_bucket()
                        .iter()
                        .zip(part.get_bucket())
                        .map(|(a, b)| {
                            let mut bucket = a.clone();
                            bucket
                                .set_cumulative_count(a.cumulative_count() + b.cumulative_count());
                            bucket
                        })
                        .collect();
                    sum.set_bucket(buckets);
                    metric.set_histogram(sum);
                }
                None => {
                    let mut metric = Metric::default();
                    metric.set_label(
                        labels
                            .iter()
                            .map(|(n, v)| {
                                let mut pair = LabelPair::default();
                                pair.set_name((*n).to_owned());
                                pair.set_value((*v).clone());
                                pair
                            })
                            .collect(),
                    );
                    metric.set_histogram(part);
                    metrics.push(metric);
                }
            }
        }
        families
    }
}
