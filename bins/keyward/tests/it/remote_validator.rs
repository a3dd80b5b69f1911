//! Remote validators (SPEC §10): Keyward in its own process, the orders example fed over
//! HTTP by `keyward-client` (no database access) in this one. Deactivation, role
//! changes and API key deletion reach it (the lag measured over 20 trials), it fails
//! closed when Keyward has been silent for longer than `max_staleness` and catches up
//! when Keyward is back; the live routes need `live:read`, stay within the caller's
//! environment and hold nothing secret; the token client caches and renews.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::{web, App as ActixApp, HttpServer};
use keyward_client::{RemoteConfig, RemoteValidator, TokenClient};
use orders_api::{configure, Orders};
use serde_json::{json, Value};

use crate::harness::*;

/// The orders example in a thread of this test process, fed by a remote validator.
struct OrdersService {
    base: String,
    http: reqwest::blocking::Client,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OrdersService {
    fn start(remote: &RemoteValidator) -> Self {
        let validator = web::Data::from(std::sync::Arc::clone(remote.validator()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let orders = web::Data::new(Orders::default());
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    ActixApp::new()
                        .app_data(validator.clone())
                        .app_data(orders.clone())
                        .configure(configure)
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let handle = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        Self {
            base,
            http: reqwest::blocking::Client::new(),
            handle,
            thread: Some(thread),
        }
    }

    fn get(&self, token: &str) -> u16 {
        self.http
            .get(format!("{}/orders", self.base))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    }

    fn post(&self, token: &str) -> u16 {
        self.http
            .post(format!("{}/orders", self.base))
            .bearer_auth(token)
            .json(&json!({"item": "widget", "quantity": 1}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Drop for OrdersService {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::System::new().block_on(handle.stop(true));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn free_bind() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A `live:read` API key for a resource server's own app in `env`.
fn live_reader_key(s: &Server, env: &str) -> String {
    s.create_role(env, "live-reader", &["live:read"]);
    let service = s.create_app(env, "orders service", &["live-reader"]);
    key_text(&create_api_key(s, env, &service, "feed"))
}

fn remote(s: &Server, credential: &str, max_staleness: Duration) -> RemoteValidator {
    let mut config = RemoteConfig::new(s.base.clone(), credential);
    config.max_staleness = max_staleness;
    config.poll_wait = Duration::from_secs(1);
    RemoteValidator::connect(config).expect("remote validator")
}

fn lag(orders: &OrdersService, token: &str, want: u16) -> Duration {
    let started = Instant::now();
    while orders.get(token) != want {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never saw {want}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    started.elapsed()
}

#[test]
fn a_remote_validator_follows_deactivation_roles_and_key_deletion_within_milliseconds() {
    let s = Server::start();
    s.create_role("default", "orders-reader", &["orders:read"]);
    s.create_role("default", "orders-writer", &["orders:write"]);
    let shop = s.create_app("default", "shop frontend", &["orders-reader"]);
    let token = s.token(&shop);
    let credential = live_reader_key(&s, "default");
    let remote = remote(&s, &credential, Duration::from_secs(30));
    let orders = OrdersService::start(&remote);
    assert_eq!(orders.get(&token), 200);
    assert_eq!(orders.post(&token), 403);
    assert_eq!(orders.get("garbage"), 401);

    // Deactivation and activation, 20 times: the lag from Keyward's answer to the
    // validator's refusal.
    let mut lags = Vec::new();
    for _ in 0..20 {
        s.deactivate("default", &shop);
        lags.push(lag(&orders, &token, 401));
        s.activate("default", &shop);
        lag(&orders, &token, 200);
    }
    lags.sort();
    let median = lags[lags.len() / 2];
    let max = *lags.last().unwrap();
    eprintln!(
        "deactivation reached the remote validator: median {median:?}, max {max:?} (20 trials)"
    );
    assert!(max < Duration::from_secs(1), "max lag {max:?}");

    // A role change, then an API key's use and deletion.
    s.set_roles("default", &shop, &["orders-reader", "orders-writer"]);
    let took = lag_post(&orders, &token, 201);
    eprintln!("role grant reached the remote validator in {took:?}");
    let created = create_api_key(&s, "default", &shop, "cron");
    let key = key_text(&created);
    eventually(Duration::from_secs(5), || orders.get(&key) == 200).expect("a new key is followed");
    let path = format!(
        "{}/{}",
        api_keys_path("default", &shop),
        created["id"].as_str().unwrap()
    );
    assert_eq!(s.bearer(&s.admin).delete(&path).status, 204);
    let took = lag(&orders, &key, 401);
    eprintln!("key deletion reached the remote validator in {took:?}");
    assert_eq!(orders.get(&token), 200, "the token is unaffected");
}

fn lag_post(orders: &OrdersService, token: &str, want: u16) -> Duration {
    let started = Instant::now();
    while orders.post(token) != want {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never saw {want}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}

#[test]
fn a_remote_validator_fails_closed_when_keyward_is_silent_and_catches_up_when_it_is_back() {
    let bind = free_bind();
    let env = [("KEYWARD__SERVER__BIND", bind.as_str())];
    let s = Server::start_with(&env);
    s.create_role("default", "orders-reader", &["orders:read"]);
    let shop = s.create_app("default", "shop frontend", &["orders-reader"]);
    let token = s.token(&shop);
    let credential = live_reader_key(&s, "default");
    let remote = remote(&s, &credential, Duration::from_secs(2));
    let orders = OrdersService::start(&remote);
    assert_eq!(orders.get(&token), 200);

    let dir = s.stop();
    let stopped = Instant::now();
    // Still serving from what it knows, within max_staleness...
    assert_eq!(orders.get(&token), 200, "just after Keyward stopped");
    // ...then it refuses everything.
    let refused =
        eventually(Duration::from_secs(6), || orders.get(&token) == 401).expect("fails closed");
    let silent = stopped.elapsed();
    eprintln!(
        "refused {silent:?} after Keyward stopped (max_staleness 2 s), {refused:?} of polling"
    );
    // Keyward last answered at most one long-poll (1 s) before it stopped: the refusal
    // comes between 1 and 2 s (max_staleness) after the stop, plus polling slack.
    assert!(
        silent >= Duration::from_millis(900),
        "refused too early: {silent:?}"
    );
    assert!(
        silent <= Duration::from_millis(3500),
        "refused too late: {silent:?}"
    );

    // Keyward back on the same address and data: it catches up and serves again, and
    // follows changes made since.
    let s = Server::start_in(dir, &env);
    let back = eventually(Duration::from_secs(15), || orders.get(&token) == 200)
        .expect("caught up after restart");
    eprintln!("serving again {back:?} after Keyward restarted");
    s.deactivate("default", &shop);
    lag(&orders, &token, 401);
}

#[test]
fn the_live_routes_need_live_read_stay_in_the_callers_environment_and_hold_no_secrets() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_role("default", "orders-reader", &["orders:read"]);
    let shop = s.create_app("default", "shop frontend", &["orders-reader"]);
    let staging_app = s.create_app("staging", "staging bot", &[]);
    let token = s.token(&shop);
    let credential = live_reader_key(&s, "default");

    let snapshot = s.bearer(&token).get("/api/v1/live/snapshot");
    assert_eq!(snapshot.status, 403, "no live:read");
    let all = s.bearer(&s.admin).get("/api/v1/live/snapshot");
    assert_eq!(all.status, 200);
    let text = all.body.to_string();
    assert!(
        text.contains(&staging_app.client_id),
        "a global caller sees every environment"
    );
    let own = s.bearer(&credential).get("/api/v1/live/snapshot");
    assert_eq!(own.status, 200);
    let own_text = own.body.to_string();
    assert!(own_text.contains(&shop.client_id));
    assert!(
        !own_text.contains(&staging_app.client_id),
        "another environment's app"
    );
    for secret in [&shop.client_secret, &staging_app.client_secret] {
        assert!(!text.contains(secret.as_str()));
    }
    assert!(!text.contains("argon2") && !text.contains("private") && !text.contains(&s.admin));

    // Long-poll: nothing new → an empty page after the wait; a change → its item.
    let position = own.body["position"].as_i64().unwrap();
    let started = Instant::now();
    let page = s
        .bearer(&credential)
        .get(&format!("/api/v1/live/changes?after={position}&wait=1"));
    assert_eq!(page.status, 200);
    assert_eq!(page.body["items"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900));
    s.deactivate("default", &shop);
    let page = s
        .bearer(&credential)
        .get(&format!("/api/v1/live/changes?after={position}&wait=5"));
    let items = page.body["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| i["kind"] == "app"
            && i["subject"] == json!(shop.client_id)
            && i["app"]["status"] == "INACTIVE"),
        "{page:?}"
    );
    assert!(page.body["position"].as_i64().unwrap() > position);
    // Another environment's change is not shown to this caller.
    s.deactivate("staging", &staging_app);
    let later = s.bearer(&credential).get(&format!(
        "/api/v1/live/changes?after={}&wait=1",
        page.body["position"]
    ));
    assert!(!later.body.to_string().contains(&staging_app.client_id));
    for bad in [
        "",
        "?after=-1",
        "?after=x",
        "?after=1&wait=999",
        "?after=1&nope=1",
    ] {
        let r = s
            .bearer(&credential)
            .get(&format!("/api/v1/live/changes{bad}"));
        assert_eq!(r.status, 422, "{bad}: {r:?}");
    }

    // Server-Sent Events.
    let mut stream = s
        .http()
        .get(s.url(&format!("/api/v1/live/changes?after={position}")))
        .bearer_auth(&credential)
        .header("Accept", "text/event-stream")
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(header(&stream, "content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    let started = Instant::now();
    while !got.contains("event: change") && started.elapsed() < Duration::from_secs(5) {
        let n = stream.read(&mut buf).unwrap();
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        got.contains("event: change") && got.contains(&shop.client_id),
        "{got}"
    );
    let data: Value =
        serde_json::from_str(got.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(data["kind"], "app");
}

#[test]
fn the_token_client_caches_renews_before_expiry_and_reports_refusals() {
    let s = Server::start_with(&[("KEYWARD__TOKENS__LIFETIME_SECONDS", "3")]);
    let bot = s.create_app("default", "orders bot", &[]);
    let client = TokenClient::new(&s.base, &bot.client_id, &bot.client_secret);
    let first = client.token().unwrap();
    assert_eq!(s.status(&first), 200);
    assert_eq!(client.token().unwrap(), first, "cached");
    // 80 % of 3 s: renewed before it expires.
    std::thread::sleep(Duration::from_millis(2500));
    let renewed = client.token().unwrap();
    assert_ne!(renewed, first, "renewed");
    assert_eq!(s.status(&renewed), 200);
    let wrong = TokenClient::new(&s.base, &bot.client_id, "kwcs_wrong").with_max_attempts(2);
    match wrong.token() {
        Err(keyward_client::TokenError::Refused { error, .. }) => {
            assert_eq!(error, "invalid_client")
        }
        other => panic!("{other:?}"),
    }
    let unreachable = TokenClient::new("http://127.0.0.1:9", &bot.client_id, &bot.client_secret)
        .with_max_attempts(2);
    assert!(matches!(
        unreachable.token(),
        Err(keyward_client::TokenError::Unavailable { attempts: 2, .. })
    ));
}

#[test]
fn the_token_client_waits_out_a_429_and_then_gets_its_token() {
    let s = Server::start_with(&[
        ("KEYWARD__SECURITY__MAX_FAILED_ATTEMPTS", "1"),
        ("KEYWARD__SECURITY__FAILURE_WINDOW_SECONDS", "2"),
    ]);
    let bot = s.create_app("default", "orders bot", &[]);
    // Someone at this address fails with the bot's client ID: the address is throttled
    // for the bot, and the once-a-second probe is spent by the second failure.
    let wrong = &forged_credential("kwcs_", 1);
    assert_eq!(s.token_response(&bot.client_id, wrong, None).status(), 401);
    let throttled = s.token_response(&bot.client_id, wrong, None);
    assert_eq!(throttled.status(), 429);
    assert!(header(&throttled, "retry-after").is_some());
    let client = TokenClient::new(&s.base, &bot.client_id, &bot.client_secret);
    let started = Instant::now();
    let token = client.token().expect("a token after waiting");
    eprintln!("token after a 429 in {:?}", started.elapsed());
    assert_eq!(s.status(&token), 200);
}
