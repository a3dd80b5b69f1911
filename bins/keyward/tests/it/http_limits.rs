//! Issue 19, findings F1, F11 and F12: clients that send slowly or too much, RFC 6750
//! challenges, and RFC 9110 method handling. The F1 cases talk raw HTTP over
//! `std::net::TcpStream`, so that the bytes on the wire (and the silences) are exactly
//! the ones each case needs.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reqwest::blocking::Response;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{header, urlencode, Server, ADMIN_CREDENTIAL};

/// The short deadlines the slow-client tests run with.
const SHORT: &[(&str, &str)] = &[
    ("KEYWARD__SERVER__HEADER_TIMEOUT_MS", "1500"),
    ("KEYWARD__SERVER__BODY_TIMEOUT_MS", "1500"),
    ("KEYWARD__SERVER__KEEP_ALIVE_MS", "1000"),
];

/// What a raw exchange saw.
#[derive(Debug)]
struct RawReply {
    /// The status code, when a response head arrived.
    status: Option<u16>,
    /// Lower-cased header lines `name: value`.
    headers: Vec<(String, String)>,
    body: String,
    /// From the end of sending to the first byte of the response (or the close).
    first_byte: Duration,
    /// Whether the server closed the connection (EOF or reset) before `limit`.
    closed: bool,
    /// From the end of sending to the close.
    closed_after: Duration,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

fn addr(s: &Server) -> SocketAddr {
    s.base
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

fn connect(s: &Server) -> TcpStream {
    TcpStream::connect_timeout(&addr(s), Duration::from_secs(5)).expect("connect")
}

/// Reads whatever the server sends within `limit` of `since`, until it closes.
fn read_reply(stream: &mut TcpStream, since: Instant, limit: Duration) -> RawReply {
    let mut raw = Vec::new();
    let mut first_byte = None;
    let mut closed = false;
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(since.elapsed());
        if left.is_zero() {
            break;
        }
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                first_byte.get_or_insert_with(|| since.elapsed());
                raw.extend_from_slice(&buf[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                // Reset by the server: closed too.
                closed = true;
                break;
            }
        }
    }
    let closed_after = since.elapsed();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.get(..3))
        .and_then(|c| c.parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawReply {
        status,
        headers,
        body: body.to_owned(),
        first_byte: first_byte.unwrap_or(closed_after),
        closed,
        closed_after,
    }
}

/// Sends `bytes` on a new connection, then stays silent and reads for up to `limit`.
fn send_then_wait(s: &Server, bytes: &[u8], limit: Duration) -> RawReply {
    let mut stream = connect(s);
    stream.write_all(bytes).expect("send");
    read_reply(&mut stream, Instant::now(), limit)
}

/// A token request head declaring a 1,000-byte body, and the first 11 bytes of it.
const STALLED_TOKEN_BODY: &[u8] = b"POST /oauth2/token HTTP/1.1\r\nHost: keyward\r\n\
    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=";

fn stalled_json_body(path: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: keyward\r\nAuthorization: Bearer {ADMIN_CREDENTIAL}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"slug\": "
    )
    .into_bytes()
}

#[track_caller]
fn assert_timed_out_and_closed(reply: &RawReply, case: &str) {
    assert_eq!(reply.status, Some(408), "{case}: {reply:?}");
    assert!(
        reply.first_byte >= Duration::from_millis(1000),
        "{case}: answered before the 1500 ms body deadline: {reply:?}"
    );
    assert!(
        reply.first_byte < Duration::from_secs(6),
        "{case}: not answered within the deadline: {reply:?}"
    );
    assert_eq!(
        reply.header("connection"),
        Some("close"),
        "{case}: {reply:?}"
    );
    assert!(
        reply.closed,
        "{case}: the connection stayed open: {reply:?}"
    );
}

// ----- F1: slow and oversized bodies -----

#[test]
fn a_stalled_body_gets_408_and_the_connection_is_closed() {
    let s = Server::start_with(SHORT);
    let limit = Duration::from_secs(10);
    std::thread::scope(|scope| {
        let token = scope.spawn(|| send_then_wait(&s, STALLED_TOKEN_BODY, limit));
        let management =
            scope.spawn(|| send_then_wait(&s, &stalled_json_body("/api/v1/environments"), limit));
        // A chunked body that stops after its first chunk.
        let chunked = scope.spawn(|| {
            send_then_wait(
                &s,
                b"POST /oauth2/token HTTP/1.1\r\nHost: keyward\r\n\
                  Content-Type: application/x-www-form-urlencoded\r\n\
                  Transfer-Encoding: chunked\r\n\r\n5\r\ngrant\r\n",
                limit,
            )
        });

        let token = token.join().expect("token thread");
        assert_timed_out_and_closed(&token, "token endpoint");
        assert_eq!(token.json()["error"], "invalid_request", "{token:?}");
        assert!(
            token.json()["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("1500 ms")),
            "{token:?}"
        );
        assert_eq!(token.header("cache-control"), Some("no-store"));

        let management = management.join().expect("management thread");
        assert_timed_out_and_closed(&management, "management route");
        assert_eq!(
            management.header("content-type"),
            Some("application/problem+json")
        );
        let problem = management.json();
        assert_eq!(problem["type"], "urn:keyward:problem:request-timeout");
        assert_eq!(problem["status"], 408);

        let chunked = chunked.join().expect("chunked thread");
        assert_timed_out_and_closed(&chunked, "chunked token body");
    });
    // Nothing was created from the half-sent body.
    let res = s.get("/api/v1/environments", &s.admin);
    let list: Value = res.json().expect("json");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}

#[test]
fn slow_body_clients_cannot_deny_service() {
    // 100 connection slots (50 per worker) and 200 attackers that each send a head and
    // part of a body, then nothing: without a body deadline the slots never free and
    // the legitimate client waits forever.
    let mut env = SHORT.to_vec();
    env.push(("KEYWARD__SERVER__MAX_CONNECTIONS", "100"));
    let s = Server::start_with(&env);
    let app = s.create_app("default", "patient client", &[]);

    let started = Instant::now();
    let mut attackers = Vec::new();
    for _ in 0..200 {
        match TcpStream::connect_timeout(&addr(&s), Duration::from_secs(2)) {
            Ok(mut stream) => {
                if stream.write_all(STALLED_TOKEN_BODY).is_ok() {
                    attackers.push(stream);
                }
            }
            Err(_) => break, // the backlog is full: enough attackers
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    assert!(
        attackers.len() >= 150,
        "only {} slow clients connected",
        attackers.len()
    );

    // A new connection (the harness's client would reuse a kept-alive one).
    let fresh = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let asked = Instant::now();
    let res = fresh
        .post(s.url("/oauth2/token"))
        .basic_auth(
            urlencode(&app.client_id),
            Some(urlencode(&app.client_secret)),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .expect("token request");
    let took = asked.elapsed();
    assert_eq!(
        res.status(),
        200,
        "while {} slow clients hold connections",
        attackers.len()
    );
    assert!(
        took < Duration::from_secs(15),
        "the token took {took:?} behind the slow clients"
    );

    // Every slow client was answered 408 (or cut off) within a bounded time.
    let since = Instant::now();
    for (i, stream) in attackers.iter_mut().enumerate() {
        let left = Duration::from_secs(12).saturating_sub(since.elapsed());
        let reply = read_reply(stream, Instant::now(), left);
        assert!(
            reply.closed && matches!(reply.status, Some(408) | None),
            "slow client {i} after {:?}: {reply:?}",
            since.elapsed()
        );
    }
}

#[test]
fn a_declared_10_gb_body_gets_413_at_once() {
    // Default deadlines: a server that waited for the body would answer after 10 s.
    let s = Server::start();
    let reply = send_then_wait(
        &s,
        b"POST /oauth2/token HTTP/1.1\r\nHost: keyward\r\n\
          Content-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 10000000000\r\n\r\ngrant_type=client_credentials",
        Duration::from_secs(12),
    );
    assert_eq!(reply.status, Some(413), "{reply:?}");
    assert!(
        reply.first_byte < Duration::from_secs(3),
        "413 took {:?}",
        reply.first_byte
    );
    assert_eq!(reply.json()["error"], "invalid_request", "{reply:?}");
    assert!(
        reply.closed,
        "the unread body's connection stays open: {reply:?}"
    );

    // The management API shares the reader (64 KiB limit there).
    let mut head = stalled_json_body("/api/v1/environments");
    let at = head
        .windows(4)
        .position(|w| w == b"1000")
        .expect("content length");
    head.splice(at..at + 4, b"10000000000".iter().copied());
    let reply = send_then_wait(&s, &head, Duration::from_secs(12));
    assert_eq!(reply.status, Some(413), "{reply:?}");
    assert!(reply.first_byte < Duration::from_secs(3), "{reply:?}");
    assert_eq!(reply.json()["type"], "urn:keyward:problem:body-too-large");

    // A body over the token endpoint's 16 KiB that does not declare its length.
    let client = reqwest::blocking::Client::new();
    let big = format!("grant_type=client_credentials&pad={}", "a".repeat(20_000));
    let res = client
        .post(s.url("/oauth2/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(big)))
        .send()
        .expect("chunked request");
    assert_eq!(res.status(), 413);
}

#[test]
fn slow_request_heads_get_408_or_are_closed() {
    let s = Server::start_with(SHORT);
    std::thread::scope(|scope| {
        // A head trickled one byte every 100 ms.
        let trickle = scope.spawn(|| {
            let mut stream = connect(&s);
            let start = Instant::now();
            let head = b"GET /healthz HTTP/1.1\r\nHost: keyward\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            for b in head {
                if stream.write_all(&[*b]).is_err() || start.elapsed() > Duration::from_secs(8)
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            read_reply(&mut stream, start, Duration::from_secs(12))
        });
        // One quick request on a kept-alive connection, then the next head trickled.
        let kept_alive = scope.spawn(|| {
            let mut stream = connect(&s);
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: keyward\r\n\r\n")
                .expect("send");
            let mut first = [0u8; 12];
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            stream.read_exact(&mut first).expect("first response");
            assert_eq!(&first, b"HTTP/1.1 200");
            let start = Instant::now();
            for b in b"GET /healthz HTTP/1.1\r\nX-Slow: "
                .iter()
                .chain([b'a'; 100].iter())
            {
                if stream.write_all(&[*b]).is_err() || start.elapsed() > Duration::from_secs(10) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (
                start.elapsed(),
                read_reply(&mut stream, start, Duration::from_secs(12)),
            )
        });
        // A chunked body that a route answers without reading, then more chunks slowly.
        let unread = scope.spawn(|| {
            let mut stream = connect(&s);
            let start = Instant::now();
            stream
                .write_all(
                    b"POST /api/v1/environments HTTP/1.1\r\nHost: keyward\r\n\
                      Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
                )
                .expect("send");
            for _ in 0..100 {
                if stream.write_all(b"1\r\n \r\n").is_err() || start.elapsed() > Duration::from_secs(10)
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (start.elapsed(), read_reply(&mut stream, start, Duration::from_secs(12)))
        });

        let trickle = trickle.join().expect("trickle");
        assert_eq!(trickle.status, Some(408), "{trickle:?}");
        assert!(trickle.closed, "{trickle:?}");
        assert!(trickle.closed_after < Duration::from_secs(6), "{trickle:?}");

        // keep-alive (1 s) + head (1.5 s) with no request in progress: cut off.
        let (sending, kept_alive) = kept_alive.join().expect("kept alive");
        assert!(
            sending < Duration::from_secs(6),
            "the server kept taking a trickled second head for {sending:?}: {kept_alive:?}"
        );
        assert!(kept_alive.closed, "{kept_alive:?}");

        let (sending, unread) = unread.join().expect("unread");
        assert_eq!(unread.status, Some(401), "{unread:?}");
        assert!(
            sending < Duration::from_secs(6),
            "the server kept draining an unread body for {sending:?}: {unread:?}"
        );
        assert!(unread.closed, "{unread:?}");
    });
    // The server still answers.
    assert_eq!(s.get_anonymous("/healthz").status(), 200);
}

// ----- F11: RFC 6750 challenges -----

fn www_authenticate(res: &Response) -> Option<String> {
    header(res, "www-authenticate")
}

#[test]
fn challenges_follow_rfc_6750() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "reader app", &["reader"]);
    let token = s.token(&app);
    let bare = Some("Bearer realm=\"keyward\"".to_owned());
    let invalid = Some("Bearer realm=\"keyward\", error=\"invalid_token\"".to_owned());

    // No credential at all, or not a Bearer one: a challenge without an error code.
    for path in ["/oauth2/status", "/api/v1/environments", "/api/v1/admins"] {
        let res = s.get_anonymous(path);
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(www_authenticate(&res), bare, "{path} without credentials");
        let res = s
            .http()
            .get(s.url(path))
            .basic_auth("someone", Some("secret"))
            .send()
            .expect("request");
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(www_authenticate(&res), bare, "{path} with Basic");
        let res = s.get(path, "not-a-token");
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(
            www_authenticate(&res),
            invalid,
            "{path} with a bad Bearer token"
        );
    }
    let res = s
        .http()
        .post(s.url("/api/v1/authorize"))
        .json(&json!({"permission": "orders:read"}))
        .send()
        .expect("authorize");
    assert_eq!(res.status(), 401);
    assert_eq!(www_authenticate(&res), bare);

    // A valid token without the permission: insufficient_scope, naming the permission.
    let res = s.post(
        "/api/v1/authorize",
        &token,
        json!({"permission": "orders:write"}),
    );
    assert_eq!(res.status(), 403);
    assert_eq!(
        www_authenticate(&res).as_deref(),
        Some("Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"orders:write\"")
    );
    let res = s.get("/api/v1/admins", &token);
    assert_eq!(res.status(), 403);
    assert_eq!(
        www_authenticate(&res).as_deref(),
        Some("Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"admins:read\"")
    );
    let res = s.get("/api/v1/environments/default/client-apps", &token);
    assert_eq!(res.status(), 403);
    assert_eq!(
        www_authenticate(&res).as_deref(),
        Some("Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"client_apps:read\"")
    );
    // Allowed: no challenge.
    let res = s.post(
        "/api/v1/authorize",
        &token,
        json!({"permission": "orders:read"}),
    );
    assert_eq!(res.status(), 200);
    assert_eq!(www_authenticate(&res), None);

    // The token endpoint authenticates clients with Basic and says so.
    let res = s
        .http()
        .post(s.url("/oauth2/token"))
        .basic_auth(urlencode(&app.client_id), Some("kwcs_wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .expect("token");
    assert_eq!(res.status(), 401);
    assert_eq!(
        www_authenticate(&res).as_deref(),
        Some("Basic realm=\"keyward\"")
    );
}

// ----- F12: Allow on 405, HEAD on every GET route, OPTIONS -----

fn allow(res: &Response) -> Option<String> {
    header(res, "allow")
}

#[test]
fn every_405_names_the_allowed_methods_and_options_lists_them() {
    let s = Server::start();
    let app = s.create_app("default", "allow app", &[]);
    let app_path = s.app_path("default", &app);
    s.create_role("default", "allow-role", &["orders:read"]);
    let cases: Vec<(Method, String, &str)> = vec![
        (Method::GET, "/oauth2/token".into(), "POST, OPTIONS"),
        (Method::PUT, "/oauth2/token".into(), "POST, OPTIONS"),
        (Method::POST, "/oauth2/status".into(), "GET, HEAD, OPTIONS"),
        (
            Method::DELETE,
            "/.well-known/jwks.json".into(),
            "GET, HEAD, OPTIONS",
        ),
        (Method::POST, "/healthz".into(), "GET, HEAD, OPTIONS"),
        (
            Method::DELETE,
            "/api/v1/environments".into(),
            "GET, HEAD, POST, OPTIONS",
        ),
        (
            Method::DELETE,
            "/api/v1/environments/default".into(),
            "GET, HEAD, PATCH, OPTIONS",
        ),
        (
            Method::PATCH,
            "/api/v1/environments/default/roles/allow-role".into(),
            "GET, HEAD, PUT, DELETE, OPTIONS",
        ),
        (Method::PUT, app_path.clone(), "GET, HEAD, DELETE, OPTIONS"),
        (
            Method::GET,
            format!("{app_path}/deactivate"),
            "POST, OPTIONS",
        ),
        (Method::GET, format!("{app_path}/roles"), "PUT, OPTIONS"),
        (Method::GET, "/api/v1/authorize".into(), "POST, OPTIONS"),
        (
            Method::PUT,
            "/api/v1/admins".into(),
            "GET, HEAD, POST, OPTIONS",
        ),
        (
            Method::GET,
            "/api/v1/admins/admin/credential".into(),
            "POST, OPTIONS",
        ),
        // The OAuth standards' routes (issue 15).
        (Method::GET, "/oauth2/introspect".into(), "POST, OPTIONS"),
        (Method::PUT, "/oauth2/revoke".into(), "POST, OPTIONS"),
        (
            Method::POST,
            "/.well-known/oauth-authorization-server".into(),
            "GET, HEAD, OPTIONS",
        ),
        (
            Method::DELETE,
            "/environments/default/.well-known/openid-configuration".into(),
            "GET, HEAD, OPTIONS",
        ),
        (
            Method::POST,
            format!("{app_path}/jwks"),
            "GET, HEAD, PUT, DELETE, OPTIONS",
        ),
        (
            Method::POST,
            "/api/v1/environments/default/audiences".into(),
            "GET, HEAD, PUT, OPTIONS",
        ),
        (
            Method::GET,
            "/api/v1/signing-keys/rotate".into(),
            "POST, OPTIONS",
        ),
    ];
    for (method, path, allowed) in cases {
        let res = s.api(method.clone(), &path, &s.admin, None);
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(allow(&res).as_deref(), Some(allowed), "{method} {path}");
        let body: Value = res.json().expect("problem");
        assert_eq!(body["type"], "urn:keyward:problem:method-not-allowed");

        let res = s.api(Method::OPTIONS, &path, &s.admin, None);
        assert_eq!(res.status(), 204, "OPTIONS {path}");
        assert_eq!(allow(&res).as_deref(), Some(allowed), "OPTIONS {path}");
    }
    // An unknown path is still 404, whatever the method.
    let res = s.api(Method::DELETE, "/api/v1/nothing-here", &s.admin, None);
    assert_eq!(res.status(), 404);
}

#[test]
fn head_answers_every_get_route_like_get_without_a_body() {
    let s = Server::start();
    let app = s.create_app("default", "head app", &[]);
    let token = s.token(&app);
    let app_path = s.app_path("default", &app);
    s.create_role("default", "head-role", &["orders:read"]);
    let cases: Vec<(String, String)> = vec![
        ("/oauth2/status".into(), token.clone()),
        ("/oauth2/status".into(), "bad-token".into()),
        ("/.well-known/jwks.json".into(), String::new()),
        ("/healthz".into(), String::new()),
        ("/api/v1/environments".into(), s.admin.clone()),
        ("/api/v1/environments".into(), String::new()),
        ("/api/v1/environments/default".into(), s.admin.clone()),
        ("/api/v1/environments/default/roles".into(), s.admin.clone()),
        (
            "/api/v1/environments/default/roles/head-role".into(),
            s.admin.clone(),
        ),
        (
            "/api/v1/environments/default/client-apps".into(),
            s.admin.clone(),
        ),
        (app_path.clone(), s.admin.clone()),
        ("/api/v1/admins".into(), s.admin.clone()),
        ("/api/v1/admins/admin".into(), s.admin.clone()),
        ("/api/v1/admins/nobody".into(), s.admin.clone()),
        // The OAuth standards' routes (issue 15).
        (
            "/.well-known/oauth-authorization-server".into(),
            String::new(),
        ),
        ("/.well-known/openid-configuration".into(), String::new()),
        (
            "/.well-known/oauth-authorization-server/environments/default".into(),
            String::new(),
        ),
        (
            "/environments/default/.well-known/openid-configuration".into(),
            String::new(),
        ),
        (format!("{app_path}/jwks"), s.admin.clone()),
        (
            "/api/v1/environments/default/audiences".into(),
            s.admin.clone(),
        ),
    ];
    for (path, credential) in cases {
        let send = |method: Method| {
            let mut req = s.http().request(method, s.url(&path));
            if !credential.is_empty() {
                req = req.bearer_auth(&credential);
            }
            req.send().expect("request")
        };
        let get = send(Method::GET);
        let head = send(Method::HEAD);
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        let get_len = get.bytes().expect("GET body").len();
        assert!(get_len > 0, "GET {path} has a body");
        assert_eq!(
            head.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok()),
            Some(get_len),
            "HEAD {path}: the length GET would send"
        );
        assert!(head.bytes().expect("HEAD body").is_empty(), "HEAD {path}");
    }
}
