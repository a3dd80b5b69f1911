//! Hardening (issue 19, `../shared/reviews/security-probe.md`): the failure throttle is
//! atomic (F6) and cannot lock out a correct secret after a restart (F7); unknown client
//! IDs never hold an argon2 slot (F3); every `invalid_client` costs the same time (F8);
//! an app's scope is capped so every issued token is usable (F4); first verifications of
//! distinct apps leave no memory behind (F2 and the addendum).
//!
//! The burst, flood and timing tests take a lock so they do not run at the same time as
//! each other (the machine has few cores; timing ratios need a quiet server).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

use crate::harness::{header, urlencode, App, Server};

/// The scope cap (bytes of the space-separated permissions of an app).
const MAX_SCOPE_BYTES: usize = 4096;

/// Serialises the load- and timing-sensitive tests of this file.
static QUIET: Mutex<()> = Mutex::new(());

fn quiet() -> MutexGuard<'static, ()> {
    QUIET.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An HTTP client whose connections come from `ip` (a loopback address).
fn client_from(ip: [u8; 4]) -> Client {
    Client::builder()
        .local_address(IpAddr::from(ip))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// `POST /oauth2/token` (client_secret_basic) through `client`.
fn token_via(client: &Client, s: &Server, client_id: &str, secret: &str) -> Response {
    client
        .post(s.url("/oauth2/token"))
        .basic_auth(urlencode(client_id), Some(urlencode(secret)))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .expect("token request")
}

/// Distinct, unpredictable 22-character base62 client IDs (xorshift seeded per instance).
struct RandomIds(u64);

impl RandomIds {
    fn new() -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x6b65_7977_6172_6421);
        Self(h.finish() | 1)
    }

    fn next_id(&mut self) -> String {
        const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..22)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                BASE62[(self.0 % 62) as usize] as char
            })
            .collect()
    }
}

/// Counts of status codes, for messages.
fn tally(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for s in statuses {
        *counts.entry(*s).or_insert(0) += 1;
    }
    counts
}

/// Asserts a 429 `{"error": ...}` with a positive `Retry-After`.
fn assert_throttled(res: Response, case: &str) {
    assert_eq!(res.status(), 429, "{case}");
    let retry_after = header(&res, "retry-after").unwrap_or_default();
    assert!(
        retry_after.parse::<u64>().is_ok_and(|n| n >= 1),
        "{case}: Retry-After is a positive number of seconds: {retry_after:?}"
    );
    let body: Value = res.json().expect("json");
    assert!(body["error"].is_string(), "{case}: {body}");
}

// ----- F6: the failure throttle reserves the attempt before verifying -----

#[test]
fn concurrent_wrong_secrets_for_one_client_get_at_most_max_failed_attempts_401s() {
    let _quiet = quiet();
    let s = Server::start();
    let victim = s.create_app("default", "burst victim", &[]);
    let decoy = s.create_app("default", "burst decoy", &[]);
    const BURST: usize = 40;
    // The default `security.max_failed_attempts`.
    const MAX_FAILED: usize = 10;
    let barrier = Arc::new(Barrier::new(BURST));
    let s = Arc::new(s);
    let threads: Vec<_> = (0..BURST)
        .map(|_| {
            let (barrier, s) = (Arc::clone(&barrier), Arc::clone(&s));
            let (id, wrong) = (victim.client_id.clone(), decoy.client_secret.clone());
            thread::spawn(move || {
                let client = client_from([127, 0, 0, 1]);
                barrier.wait();
                let res = token_via(&client, &s, &id, &wrong);
                let status = res.status().as_u16();
                if status == 429 {
                    assert_throttled(res, "throttled wrong secret in the burst");
                }
                status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads
        .into_iter()
        .map(|t| t.join().expect("burst thread"))
        .collect();
    let counts = tally(&statuses);
    let unauthorized = counts.get(&401).copied().unwrap_or(0);
    assert!(
        (1..=MAX_FAILED).contains(&unauthorized),
        "{BURST} concurrent wrong secrets: at most {MAX_FAILED} are verified (401), \
         the rest are throttled (429): {counts:?}"
    );
    assert_eq!(
        unauthorized + counts.get(&429).copied().unwrap_or(0),
        BURST,
        "only 401 and 429: {counts:?}"
    );
}

// ----- F7: a correct secret is not locked out by a throttled source after a restart -----

#[test]
fn cold_client_with_the_correct_secret_gets_a_token_while_its_source_is_throttled() {
    let _quiet = quiet();
    let s = Server::start();
    let victim = s.create_app("default", "restart victim", &[]);
    let decoy = s.create_app("default", "restart decoy", &[]);
    // The victim worked before the restart...
    s.token(&victim);
    // ...and is cold after it (nothing of it in memory).
    let dir = s.stop();
    let s = Server::start_in(dir, &[]);
    // The default `security.max_failed_attempts`.
    const MAX_FAILED: usize = 10;
    // An attacker on the victim's address (127.0.0.1) sends wrong secrets.
    for i in 0..MAX_FAILED {
        let res = s.token_response(&victim.client_id, &decoy.client_secret, None);
        assert_eq!(res.status(), 401, "wrong secret #{i}");
    }
    for i in 0..3 {
        assert_throttled(
            s.token_response(&victim.client_id, &decoy.client_secret, None),
            &format!("wrong secret #{} once throttled", MAX_FAILED + i),
        );
    }
    // The victim, from the same address with its correct secret, gets a token after at
    // most a couple of retries about a second apart.
    let mut statuses = Vec::new();
    for attempt in 0..3 {
        if attempt > 0 {
            thread::sleep(Duration::from_millis(1100));
        }
        let res = s.token_response(&victim.client_id, &victim.client_secret, None);
        statuses.push(res.status().as_u16());
        if res.status() == 200 {
            let body: Value = res.json().expect("json");
            let token = body["access_token"].as_str().expect("access_token");
            assert_eq!(s.status(token), 200, "the token works");
            return;
        }
    }
    panic!(
        "the correct secret is locked out by the attacker's failures on the same \
         address after a restart: {statuses:?}"
    );
}

// ----- F3: a failure budget per source, across client IDs -----

#[test]
fn wrong_secrets_across_many_client_ids_from_one_source_are_throttled_per_source() {
    let s = Server::start();
    // Defaults: 10 failures per (client ID, source), 100 per source, per 60 s.
    const PER_PAIR: usize = 10;
    const PER_SOURCE: usize = 100;
    let targets: Vec<App> = (0..PER_SOURCE / PER_PAIR)
        .map(|i| s.create_app("default", &format!("target {i}"), &[]))
        .collect();
    let fresh = s.create_app("default", "untouched target", &[]);
    let cold = s.create_app("default", "cold neighbour", &[]);
    let decoy = s.create_app("default", "source decoy", &[]);
    let attacker = client_from([127, 0, 0, 2]);
    for app in &targets {
        for i in 0..PER_PAIR {
            let res = token_via(&attacker, &s, &app.client_id, &decoy.client_secret);
            assert_eq!(res.status(), 401, "wrong secret #{i} for {}", app.client_id);
        }
    }
    // The source has spent its budget: a client ID it never tried is throttled too.
    assert_throttled(
        token_via(&attacker, &s, &fresh.client_id, &decoy.client_secret),
        "a new client ID from a source over its failure budget",
    );
    // Another source is not affected.
    assert_eq!(
        s.token_response(&fresh.client_id, &decoy.client_secret, None)
            .status(),
        401,
        "the same wrong secret from 127.0.0.1"
    );
    // A cold client with its correct secret behind the throttled source still gets a
    // token, after at most a couple of retries about a second apart.
    let mut statuses = Vec::new();
    for attempt in 0..3 {
        if attempt > 0 {
            thread::sleep(Duration::from_millis(1100));
        }
        let status = token_via(&attacker, &s, &cold.client_id, &cold.client_secret).status();
        statuses.push(status.as_u16());
        if status == 200 {
            return;
        }
    }
    panic!("a correct secret behind a throttled source is locked out: {statuses:?}");
}

// ----- F3: unknown client IDs never take an argon2 slot -----

#[test]
fn flood_of_unknown_client_ids_does_not_starve_a_cold_legitimate_client() {
    let _quiet = quiet();
    let s = Server::start_with(&[
        ("KEYWARD__SECURITY__HASHING_CONCURRENCY", "1"),
        ("KEYWARD__SECURITY__HASHING_QUEUE", "2"),
    ]);
    // Created just before the flood, never used: its first token needs argon2.
    let cold = s.create_app("default", "cold client", &[]);
    let decoy = s.create_app("default", "flood decoy", &[]);
    const THREADS: usize = 16;
    const FLOOD: Duration = Duration::from_secs(3);
    let s = Arc::new(s);
    let start = Instant::now();
    let flood: Vec<_> = (0..THREADS)
        .map(|_| {
            let s = Arc::clone(&s);
            let secret = decoy.client_secret.clone();
            thread::spawn(move || {
                // The flood comes from another address than the legitimate client.
                let client = client_from([127, 0, 0, 2]);
                let mut ids = RandomIds::new();
                let mut statuses = Vec::new();
                while start.elapsed() < FLOOD {
                    statuses.push(
                        token_via(&client, &s, &ids.next_id(), &secret)
                            .status()
                            .as_u16(),
                    );
                }
                statuses
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let res = s.token_response(&cold.client_id, &cold.client_secret, None);
    let cold_status = res.status().as_u16();
    let cold_body = res.text().unwrap_or_default();
    let statuses: Vec<u16> = flood
        .into_iter()
        .flat_map(|t| t.join().expect("flood thread"))
        .collect();
    let counts = tally(&statuses);
    assert_eq!(
        cold_status, 200,
        "a cold legitimate client during a flood of unknown client IDs: {cold_body} \
         (flood: {counts:?})"
    );
    assert!(
        counts.get(&401).copied().unwrap_or(0) > 0,
        "unknown client IDs get 401: {counts:?}"
    );
    assert!(
        counts.keys().all(|s| *s == 401 || *s == 429),
        "unknown client IDs get 401 (or 429 once the source's failure budget is \
         spent), never 503: {counts:?}"
    );
}

// ----- F8: every invalid_client answer costs a verification -----

/// What a client sees of a refusal.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    cache_control: Option<String>,
    body: String,
}

#[test]
fn inactive_app_with_its_correct_secret_is_not_answered_faster_than_a_wrong_secret() {
    let _quiet = quiet();
    let s = Server::start_with(&[("KEYWARD__SECURITY__MAX_FAILED_ATTEMPTS", "100000")]);
    let known = s.create_app("default", "timing known", &[]);
    let inactive = s.create_app("default", "timing inactive", &[]);
    let decoy = s.create_app("default", "timing decoy", &[]);
    // The inactive app proved its secret while active (so it is remembered), then was
    // deactivated.
    s.token(&inactive);
    s.deactivate("default", &inactive);
    let mut ids = RandomIds::new();
    const SAMPLES: usize = 15;
    let classes = [
        "inactive + correct secret",
        "known + wrong secret",
        "unknown id",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); classes.len()];
    let mut answers: Vec<(usize, Answer)> = Vec::new();
    for i in 0..SAMPLES {
        for k in 0..classes.len() {
            let class = (i + k) % classes.len();
            let (id, secret) = match class {
                0 => (inactive.client_id.clone(), inactive.client_secret.clone()),
                1 => (known.client_id.clone(), decoy.client_secret.clone()),
                _ => (ids.next_id(), decoy.client_secret.clone()),
            };
            let started = Instant::now();
            let res = s.token_response(&id, &secret, None);
            let answer = Answer {
                status: res.status().as_u16(),
                www_authenticate: header(&res, "www-authenticate"),
                cache_control: header(&res, "cache-control"),
                body: res.text().expect("body"),
            };
            times[class].push(started.elapsed());
            answers.push((class, answer));
        }
    }
    // One answer for all three: status, body and headers.
    let first = &answers[0].1;
    assert_eq!(first.status, 401);
    assert_eq!(
        first.www_authenticate.as_deref(),
        Some("Basic realm=\"keyward\"")
    );
    let parsed: Value = serde_json::from_str(&first.body).expect("json");
    assert_eq!(parsed["error"], "invalid_client", "{}", first.body);
    for (class, answer) in &answers {
        assert_eq!(answer, first, "{}: the same answer", classes[*class]);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let medians: Vec<Duration> = times.iter_mut().map(median).collect();
    let wrong = medians[1];
    for class in [0, 2] {
        assert!(
            medians[class] * 2 >= wrong,
            "{} answers in {:?} (median), a wrong secret in {:?}: the difference tells \
             them apart (medians: {:?})",
            classes[class],
            medians[class],
            wrong,
            classes.iter().zip(&medians).collect::<Vec<_>>()
        );
    }
}

// ----- F4: an app's scope is capped so that every issued token is usable -----

/// A valid permission of exactly `len` bytes (3 to 129) whose resource starts with `seed`.
fn permission_of_len(seed: &str, len: usize) -> String {
    assert!((3..=129).contains(&len) && seed.len() < len.min(64));
    let resource_len = (len - 2).min(64);
    let action_len = len - 1 - resource_len;
    format!(
        "{seed}{}:{}",
        "r".repeat(resource_len - seed.len()),
        "a".repeat(action_len)
    )
}

/// `n` distinct permissions of `len` bytes each, on resources starting with `prefix`.
fn permissions(prefix: &str, n: usize, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| permission_of_len(&format!("{prefix}{i}x"), len))
        .collect()
}

/// Bytes of the scope an app holding exactly these (distinct) permissions gets.
fn scope_len(perms: &[String]) -> usize {
    perms.iter().map(String::len).sum::<usize>() + perms.len().saturating_sub(1)
}

fn assert_validation_error(res: Response, case: &str) {
    assert_eq!(res.status(), 422, "{case}");
    let content_type = header(&res, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{case}: {content_type}"
    );
    let body: Value = res.json().expect("json");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("validation-error")),
        "{case}: {body}"
    );
}

fn role_permissions(s: &Server, role: &str) -> Vec<String> {
    let res = s.get(
        &format!("/api/v1/environments/default/roles/{role}"),
        &s.admin,
    );
    assert_eq!(res.status(), 200, "GET role {role}");
    let body: Value = res.json().expect("json");
    let mut perms: Vec<String> = body["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .map(|p| p.as_str().expect("string").to_owned())
        .collect();
    perms.sort();
    perms
}

fn sorted(perms: &[String]) -> Vec<String> {
    let mut v = perms.to_vec();
    v.sort();
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The scope of a fresh unrestricted token for `app`, after checking it passes status.
fn usable_token_scope(s: &Server, app: &App) -> String {
    let res = s.token_response(&app.client_id, &app.client_secret, None);
    assert_eq!(res.status(), 200, "token for {}", app.client_id);
    let body: Value = res.json().expect("json");
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(
        s.status(token),
        200,
        "the issued token ({} bytes) is accepted by /oauth2/status",
        token.len()
    );
    body["scope"].as_str().expect("scope").to_owned()
}

#[test]
fn roles_whose_permissions_exceed_the_scope_cap_are_refused_and_one_just_under_works() {
    let s = Server::start();
    let roles = "/api/v1/environments/default/roles";
    // 32 longest permissions: 32 × 129 + 31 spaces = 4,159 bytes.
    let over = permissions("o", 32, 129);
    assert!(scope_len(&over) > MAX_SCOPE_BYTES);
    assert_validation_error(
        s.post(
            roles,
            &s.admin,
            json!({"name": "too-big", "permissions": over}),
        ),
        "create a role over the cap",
    );
    assert_eq!(
        s.get(&format!("{roles}/too-big"), &s.admin).status(),
        404,
        "nothing was created"
    );
    // Many short permissions are counted the same way (1,000 × `qN:r`, ~6.9 KB).
    let short: Vec<String> = (0..1000).map(|i| format!("q{i}:r")).collect();
    assert_validation_error(
        s.post(
            roles,
            &s.admin,
            json!({"name": "many", "permissions": short}),
        ),
        "create a role of 1,000 short permissions",
    );

    // Just under the cap: 31 × 129 + a 60-byte one + 31 spaces = 4,090 bytes.
    let mut near = permissions("n", 31, 129);
    near.push(permission_of_len("fill", 60));
    assert_eq!(scope_len(&near), 4090);
    s.create_role("default", "near-cap", &strs(&near));
    let app = s.create_app("default", "near cap app", &["near-cap"]);
    let scope = usable_token_scope(&s, &app);
    assert_eq!(scope.len(), 4090, "the whole scope is in the token");
    let res = s.token_response(&app.client_id, &app.client_secret, None);
    let token: Value = res.json().expect("json");
    let token = token["access_token"].as_str().expect("access_token");
    assert_eq!(s.authorize(token, &near[0]), 200, "and it authorizes");

    // Updating a role over the cap is refused and changes nothing.
    s.create_role("default", "small", &["orders:read"]);
    assert_validation_error(
        s.put(
            &format!("{roles}/small"),
            &s.admin,
            json!({"permissions": permissions("u", 32, 129)}),
        ),
        "update a role over the cap",
    );
    assert_eq!(role_permissions(&s, "small"), ["orders:read"]);
}

#[test]
fn binding_roles_whose_union_exceeds_the_scope_cap_is_refused_and_changes_nothing() {
    let s = Server::start();
    let apps = "/api/v1/environments/default/client-apps";
    // Two disjoint roles of 16 × 129 + 15 = 2,079 bytes each: 4,159 together.
    let half_a = permissions("a", 16, 129);
    let half_b = permissions("b", 16, 129);
    assert!(scope_len(&half_a) + 1 + scope_len(&half_b) > MAX_SCOPE_BYTES);
    s.create_role("default", "half-a", &strs(&half_a));
    s.create_role("default", "half-b", &strs(&half_b));
    // A copy of half-a: the union is deduplicated, so binding both is within the cap.
    s.create_role("default", "half-a-copy", &strs(&half_a));

    // Creating an app with both halves is refused, and no app is created.
    assert_validation_error(
        s.post(
            apps,
            &s.admin,
            json!({"name": "both halves", "roles": ["half-a", "half-b"]}),
        ),
        "create an app whose roles exceed the cap",
    );
    let list: Value = s
        .get(&format!("{apps}?search=both%20halves"), &s.admin)
        .json()
        .expect("json");
    assert_eq!(list["items"], json!([]), "no app was created: {list}");

    // Overlapping roles count once.
    let dedup = s.create_app("default", "deduplicated", &["half-a", "half-a-copy"]);
    assert_eq!(usable_token_scope(&s, &dedup).len(), scope_len(&half_a));

    // Replacing an app's roles with both halves is refused and changes nothing.
    let app = s.create_app("default", "one half", &["half-a"]);
    assert_validation_error(
        s.put(
            &format!("{}/roles", s.app_path("default", &app)),
            &s.admin,
            json!({"roles": ["half-a", "half-b"]}),
        ),
        "PUT roles whose union exceeds the cap",
    );
    let body: Value = s
        .get(&s.app_path("default", &app), &s.admin)
        .json()
        .expect("json");
    assert_eq!(body["roles"], json!(["half-a"]), "roles unchanged: {body}");
    assert_eq!(usable_token_scope(&s, &app).len(), scope_len(&half_a));

    // Growing a role so that an app bound to it (with another role) would exceed the
    // cap is refused and changes nothing, although the role alone would fit.
    s.create_role("default", "grows", &["orders:read"]);
    let bound = s.create_app("default", "bound to grows", &["half-a", "grows"]);
    assert_validation_error(
        s.put(
            "/api/v1/environments/default/roles/grows",
            &s.admin,
            json!({"permissions": half_b}),
        ),
        "update a role so that a bound app exceeds the cap",
    );
    assert_eq!(role_permissions(&s, "grows"), ["orders:read"]);
    let mut expected = half_a.clone();
    expected.push("orders:read".into());
    let scope = usable_token_scope(&s, &bound);
    assert_eq!(
        sorted(&scope.split(' ').map(str::to_owned).collect::<Vec<_>>()),
        sorted(&expected),
        "the app's scope is unchanged"
    );
}

// ----- F2 / addendum: first verifications of distinct apps leave no memory behind -----

/// Runs `f(i)` for every `i` in `range` from `threads` threads; results in order.
fn in_parallel<T: Send>(
    range: std::ops::Range<usize>,
    threads: usize,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let next = Mutex::new(range.start);
    let results = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = {
                    let mut next = next.lock().unwrap_or_else(PoisonError::into_inner);
                    if *next >= range.end {
                        break;
                    }
                    *next += 1;
                    *next - 1
                };
                let value = f(i);
                results
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((i, value));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, v)| v).collect()
}

#[test]
fn first_tokens_of_many_distinct_apps_do_not_grow_resident_memory() {
    let s = Server::start_with(&[("KEYWARD__LIMITS__CLIENT_APPS_PER_ENVIRONMENT", "200")]);
    const WARM_UP: usize = 5;
    const MORE: usize = 75;
    const CLIENTS: usize = 4;
    const LIMIT_KIB: u64 = 80 * 1024;
    let create = |range: std::ops::Range<usize>| -> Vec<App> {
        in_parallel(range, CLIENTS, |i| {
            s.create_app("default", &format!("memory app {i}"), &[])
        })
    };
    let first_tokens = |apps: &[App]| {
        in_parallel(0..apps.len(), CLIENTS, |i| s.token(&apps[i]));
    };
    // Warm-up: a few creations and first tokens (allocator, caches, thread pools).
    first_tokens(&create(0..WARM_UP));
    let after_warm_up = s.resident_kib();
    // Creating apps hashes their secrets with argon2 too.
    let apps = create(WARM_UP..WARM_UP + MORE);
    let after_creates = s.resident_kib();
    first_tokens(&apps);
    let after_first_tokens = s.resident_kib();
    let mib = |kib: u64| kib / 1024;
    assert!(
        after_first_tokens.saturating_sub(after_creates) < LIMIT_KIB,
        "first tokens of {MORE} distinct apps ({CLIENTS} clients) took resident memory \
         from {} MiB to {} MiB",
        mib(after_creates),
        mib(after_first_tokens)
    );
    assert!(
        after_creates.saturating_sub(after_warm_up) < LIMIT_KIB,
        "creating {MORE} apps ({CLIENTS} clients) took resident memory from {} MiB to {} MiB",
        mib(after_warm_up),
        mib(after_creates)
    );
}

/// The thread count of the server process (`Threads:` in `/proc/<pid>/status`).
fn thread_count(s: &Server) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: line")
}

#[test]
fn cold_requests_cannot_grow_the_blocking_threads_past_what_can_make_progress() {
    // Each worker's blocking pool holds at most the database pool, the hashing slots
    // and the hashing queue (2 + 1 + 2 = 5 here): a flood of requests that each need
    // storage (unknown, well-formed API keys) waits for those threads instead of
    // starting one thread per request (tokio's default allows 512).
    let s = Server::start_with(&[
        ("KEYWARD__SERVER__WORKERS", "2"),
        ("KEYWARD__DATABASE__POOL_SIZE", "2"),
        ("KEYWARD__SECURITY__HASHING_CONCURRENCY", "1"),
        ("KEYWARD__SECURITY__HASHING_QUEUE", "2"),
    ]);
    let before = thread_count(&s);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..48)
        .map(|_| {
            let (stop, refused) = (stop.clone(), refused.clone());
            let url = s.url("/oauth2/status");
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = keyward_core::secret::ApiKeySecret::generate(&mut rand_core::OsRng);
                    if let Ok(r) = http.get(&url).bearer_auth(key.expose()).send() {
                        assert_eq!(r.status().as_u16(), 401, "an unknown API key");
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut most = before;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        most = most.max(thread_count(&s));
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let refused = refused.load(std::sync::atomic::Ordering::Relaxed);
    assert!(refused > 100, "the flood ran ({refused} requests)");
    assert!(
        most <= before + 2 * 5,
        "threads: {before} before, {most} at most during {refused} cold requests"
    );
    // And the server still answers.
    assert_eq!(s.get_anonymous("/healthz").status().as_u16(), 200);
}
