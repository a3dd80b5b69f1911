//! `GET /metrics` and `GET /readyz` (SPEC §12): what an operator's Prometheus scrapes
//! and what a load balancer asks before sending traffic.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

/// The metrics text, anonymously.
fn scrape(s: &Server) -> String {
    let res = s.get_anonymous("/metrics");
    assert_eq!(res.status(), 200);
    let kind = header(&res, "content-type").expect("content type");
    assert!(
        kind.starts_with("text/plain; version=0.0.4"),
        "Prometheus text format: {kind}"
    );
    res.text().expect("text")
}

/// The value of the sample `name{labels}` (labels exactly as Prometheus prints them,
/// sorted by name), or 0 when the series is absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().expect("number"))
        })
        .unwrap_or(0.0)
}

#[test]
fn tokens_issued_and_refused_are_counted_by_kind_and_reason_and_requests_timed_by_route() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "metered bot", &["reader"]);
    let before = scrape(&s);
    let token = s.token(&app); // signed; the secret verified with argon2
    assert_eq!(s.token(&app), token, "reused");
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, Some("orders:read"))
            .status(),
        200
    );
    let wrong = s.token_response(&app.client_id, "kwcs_wrong", None);
    assert_eq!(wrong.status(), 401);
    let unsupported = s
        .http()
        .post(s.url("/oauth2/token"))
        .form(&[("grant_type", "password")])
        .send()
        .unwrap();
    assert_eq!(unsupported.status(), 400);
    assert_eq!(s.status(&token), 200);
    assert_eq!(s.authorize(&token, "orders:read"), 200);
    assert_eq!(s.get_anonymous("/no/such/path/7f3a9c").status(), 404);

    let after = scrape(&s);
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(delta("keyward_tokens_issued_total{kind=\"signed\"}"), 2.0);
    assert_eq!(delta("keyward_tokens_issued_total{kind=\"reused\"}"), 1.0);
    assert_eq!(
        delta("keyward_tokens_refused_total{reason=\"invalid_client\"}"),
        1.0
    );
    assert_eq!(
        delta("keyward_tokens_refused_total{reason=\"unsupported_grant_type\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "keyward_tokens_refused_total{reason=\"invalid_scope\"}"
        ),
        0.0
    );
    assert!(
        after.contains("keyward_tokens_refused_total{reason=\"invalid_scope\"} 0"),
        "every refusal reason is a series from the start"
    );
    // Four token requests timed under the route's pattern, with their status class.
    assert_eq!(
        delta("keyward_http_request_duration_seconds_count{method=\"POST\",route=\"/oauth2/token\",status=\"2xx\"}"),
        3.0
    );
    assert_eq!(
        delta("keyward_http_request_duration_seconds_count{method=\"POST\",route=\"/oauth2/token\",status=\"4xx\"}"),
        2.0
    );
    assert_eq!(
        delta("keyward_http_request_duration_seconds_count{method=\"GET\",route=\"/oauth2/status\",status=\"2xx\"}"),
        1.0
    );
    // Management routes are labelled by their pattern, never the concrete path.
    assert!(after.contains("route=\"/api/v1/environments/{env}/client-apps\""));
    assert!(!after.contains("metered"), "no names or IDs in labels");
    assert!(!after.contains(&app.client_id));
    // An unknown path is `unmatched`, so a scan cannot create series.
    assert!(!after.contains("7f3a9c"));
    assert!(delta("keyward_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"4xx\"}") >= 1.0);
    // The reuse cache and the verified-secret cache report hits and misses.
    assert!(delta("keyward_cache_lookups_total{cache=\"reuse\",result=\"hit\"}") >= 1.0);
    assert!(delta("keyward_cache_lookups_total{cache=\"secret\",result=\"hit\"}") >= 2.0);
    // One miss: the first request (a malformed secret is refused before any lookup).
    assert_eq!(
        delta("keyward_cache_lookups_total{cache=\"secret\",result=\"miss\"}"),
        1.0
    );
    assert!(delta("keyward_cache_lookups_total{cache=\"token\",result=\"hit\"}") >= 1.0);
    // The argon2 gate: idle now; the verifications were timed.
    assert_eq!(sample(&after, "keyward_argon2_running"), 0.0);
    assert_eq!(sample(&after, "keyward_argon2_waiting"), 0.0);
    assert_eq!(
        delta("keyward_argon2_duration_seconds_count"),
        1.0,
        "one verification"
    );
    // The process: resident memory for the memory alerts.
    assert!(sample(&after, "keyward_process_resident_memory_bytes") > 1e6);
    // Nothing secret is ever in the metrics.
    for secret in [app.client_secret.as_str(), token.as_str(), s.admin.as_str()] {
        assert!(!after.contains(secret));
    }
}

#[test]
fn the_change_feed_lag_is_measured_and_readyz_says_the_instance_follows_it() {
    let s = Server::start();
    let ready = s.get_anonymous("/readyz");
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().unwrap(), json!({"status": "ok"}));
    let before = sample(&scrape(&s), "keyward_change_feed_lag_seconds_count");
    let app = s.create_app("default", "feed app", &[]);
    s.deactivate("default", &app);
    // The server reads its own changes back from the feed (as every other instance
    // does) and records how old each batch was.
    let applied = eventually(Duration::from_secs(5), || {
        sample(&scrape(&s), "keyward_change_feed_lag_seconds_count") > before
    });
    assert!(applied.is_some(), "the feed's lag was never observed");
    let text = scrape(&s);
    let last_sync = sample(&text, "keyward_change_feed_last_sync_timestamp_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - last_sync).abs() < 5.0,
        "last sync {last_sync}, now {now}"
    );
    assert_eq!(
        sample(&text, "keyward_change_feed_sync_failures_total"),
        0.0
    );
}

#[test]
fn readyz_is_503_while_storage_is_unreadable_and_200_again_after() {
    let s = Server::start_with(&[("KEYWARD__DATABASE__BUSY_TIMEOUT_MS", "300")]);
    assert_eq!(s.get_anonymous("/readyz").status(), 200);
    let outage = s.db().make_unreadable();
    let res = s.get_anonymous("/readyz");
    let status = res.status();
    let retry = header(&res, "retry-after");
    let body: Value = res.json().unwrap();
    // While the feed cannot be read either, the failures are counted.
    let failing = eventually(Duration::from_secs(5), || {
        sample(&scrape(&s), "keyward_change_feed_sync_failures_total") > 0.0
    });
    drop(outage);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reason"], "storage-unavailable");
    assert!(retry.is_some(), "Retry-After");
    assert!(failing.is_some(), "feed failures counted");
    let back = eventually(Duration::from_secs(5), || {
        s.get_anonymous("/readyz").status() == 200
    });
    assert!(back.is_some(), "ready again after the outage");
}

#[test]
fn a_metrics_token_keeps_metrics_from_anyone_without_it() {
    const TOKEN: &str = "scrape-token-0123456789abcdef";
    let s = Server::start_with(&[("KEYWARD__METRICS__TOKEN", TOKEN)]);
    let anonymous = s.get_anonymous("/metrics");
    assert_eq!(anonymous.status(), 401);
    assert!(header(&anonymous, "www-authenticate").is_some());
    let wrong = s
        .http()
        .get(s.url("/metrics"))
        .bearer_auth("scrape-token-0123456789abcdeX")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = s
        .http()
        .get(s.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right
        .text()
        .unwrap()
        .contains("# TYPE keyward_tokens_issued_total counter"));
    // /healthz and /readyz stay open: load balancers do not authenticate.
    assert_eq!(s.get_anonymous("/readyz").status(), 200);
}

#[test]
fn a_short_metrics_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (status, output) = launch(
        dir.path(),
        &["serve"],
        &[("KEYWARD__METRICS__TOKEN", "short")],
    )
    .exited();
    assert!(!status.success());
    assert!(output.contains("metrics.token"), "{output}");
}

#[test]
fn identity_provider_calls_are_timed_and_their_failures_counted_by_reason() {
    const SECRET: &str = "ext-bot-secret-0123456789";
    let s = Server::start_with(&[
        ("KEYWARD__FEDERATION__ALLOW_HTTP", "true"),
        ("KEYWARD__FEDERATION__TIMEOUT_MS", "1500"),
        ("KEYWARD__FEDERATION__CONNECT_TIMEOUT_MS", "500"),
    ]);
    let idp = Idp::start(&[("ext-bot", SECRET)]);
    let set_idp = |body: Value| {
        let r = s
            .bearer(&s.admin)
            .put("/api/v1/environments/default/identity-provider", &body);
        assert_eq!(r.status, 200, "{r:?}");
    };
    set_idp(json!({"issuer": idp.issuer}));
    let app = s.create_app("default", "federated bot", &[]);
    let r = s.bearer(&s.admin).put(
        &format!("{}/external", s.app_path("default", &app)),
        &json!({"external_client_id": "ext-bot"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let before = scrape(&s);
    assert_eq!(s.token_response("ext-bot", SECRET, None).status(), 200);

    let broken = BrokenIdp::start(Broken::ServerError);
    set_idp(json!({"token_endpoint": format!("{}/token", broken.base)}));
    assert_eq!(s.token_response("ext-bot", SECRET, None).status(), 502);
    set_idp(json!({"token_endpoint": unreachable_url()}));
    assert_eq!(s.token_response("ext-bot", SECRET, None).status(), 502);

    let after = scrape(&s);
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        delta("keyward_idp_request_duration_seconds_count{operation=\"token\",outcome=\"ok\"}"),
        1.0
    );
    assert_eq!(
        delta("keyward_idp_request_duration_seconds_count{operation=\"token\",outcome=\"error\"}"),
        2.0
    );
    assert_eq!(delta("keyward_idp_failures_total{reason=\"status\"}"), 1.0);
    assert_eq!(
        delta("keyward_idp_failures_total{reason=\"unreachable\"}"),
        1.0
    );
    // Discovery at configuration time was a `get` call.
    assert!(
        sample(
            &after,
            "keyward_idp_request_duration_seconds_count{operation=\"get\",outcome=\"ok\"}"
        ) >= 1.0
    );
    assert!(!after.contains(SECRET));
}

#[test]
fn the_request_histogram_can_be_turned_off_and_every_other_metric_stays() {
    let s = Server::start_with(&[("KEYWARD__METRICS__REQUEST_LATENCY", "false")]);
    let app = s.create_app("default", "quiet bot", &[]);
    let token = s.token(&app);
    assert_eq!(s.status(&token), 200); // verified, then remembered
    assert_eq!(s.status(&token), 200);
    let text = scrape(&s);
    assert!(
        !text.contains("keyward_http_request_duration_seconds_count{"),
        "no request series"
    );
    assert_eq!(
        sample(&text, "keyward_tokens_issued_total{kind=\"signed\"}"),
        1.0
    );
    assert!(
        sample(
            &text,
            "keyward_cache_lookups_total{cache=\"token\",result=\"hit\"}"
        ) >= 1.0
    );
}
