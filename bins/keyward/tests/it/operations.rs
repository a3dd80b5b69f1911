//! Running Keyward: health, storage outages, log hygiene, bootstrap, keys at rest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::blocking::Response;
use serde_json::{json, Value};

use crate::harness::{header, jwt_parts, urlencode, Server, ADMIN_CREDENTIAL};

fn healthz(s: &Server) -> Response {
    s.get_anonymous("/healthz")
}

#[test]
fn healthz_answers_200_ok_while_storage_works() {
    let s = Server::start();
    let res = healthz(&s);
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().expect("json"), json!({"status": "ok"}));
}

// ----- storage outage -----

#[test]
fn storage_outage_gives_503_with_retry_after_never_500_and_recovers_without_restart() {
    let s = Server::start_with(&[("KEYWARD__DATABASE__BUSY_TIMEOUT_MS", "300")]);
    let cold = s.create_app("default", "cold app", &[]);
    let outage = s.db().make_unreadable();
    // A blocked read gives up after ~10 s: send everything at once.
    let (token, list, create) = std::thread::scope(|scope| {
        let token = scope.spawn(|| s.token_response(&cold.client_id, &cold.client_secret, None));
        let list = scope.spawn(|| s.get("/api/v1/environments/default/client-apps", &s.admin));
        let create = scope.spawn(|| {
            s.post(
                "/api/v1/environments/default/client-apps",
                &s.admin,
                json!({"name": "outage app"}),
            )
        });
        (
            token.join().expect("token"),
            list.join().expect("list"),
            create.join().expect("create"),
        )
    });

    assert_eq!(
        token.status(),
        503,
        "token request for a client not yet cached"
    );
    let retry = header(&token, "retry-after").expect("Retry-After");
    assert!(retry.parse::<u64>().is_ok_and(|n| n >= 1), "{retry}");
    let body: Value = token.json().expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    for (case, res) in [("list", list), ("create", create)] {
        assert_eq!(res.status(), 503, "{case}");
        assert!(header(&res, "retry-after").is_some(), "{case}: Retry-After");
        let body: Value = res.json().expect("json");
        assert_eq!(
            body["type"], "urn:keyward:problem:storage-unavailable",
            "{case}: {body}"
        );
    }

    drop(outage);
    assert_eq!(healthz(&s).status(), 200);
    assert_eq!(
        s.token_response(&cold.client_id, &cold.client_secret, None)
            .status(),
        200,
        "tokens again, same process"
    );
    let list = s.get("/api/v1/environments/default/client-apps", &s.admin);
    assert_eq!(list.status(), 200);
    let list: Value = list.json().expect("json");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["cold app"],
        "the refused create left nothing behind"
    );
    s.create_app("default", "outage app", &[]);
}

#[test]
fn healthz_is_503_while_storage_is_unreadable_and_200_again_after() {
    let s = Server::start_with(&[("KEYWARD__DATABASE__BUSY_TIMEOUT_MS", "300")]);
    assert_eq!(healthz(&s).status(), 200);
    let outage = s.db().make_unreadable();
    let res = healthz(&s);
    let status = res.status();
    let retry = header(&res, "retry-after");
    let body = res.text().expect("text");
    drop(outage);
    assert_eq!(
        status, 503,
        "healthz while the database cannot be read: {body}"
    );
    assert!(retry.is_some(), "Retry-After");
    assert_eq!(healthz(&s).status(), 200);
}

// ----- logs -----

#[test]
fn trace_logs_never_contain_secrets_tokens_or_the_admin_credential() {
    let s = Server::start_with(&[("RUST_LOG", "trace")]);
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "logged app", &["reader"]);
    let other = s.create_app("default", "other logged app", &[]);
    let mut tokens = vec![s.token(&app), s.token(&other)];
    let scoped = s.token_response(&app.client_id, &app.client_secret, Some("orders:read"));
    assert_eq!(scoped.status(), 200);
    tokens.push(
        scoped.json::<Value>().expect("json")["access_token"]
            .as_str()
            .expect("token")
            .to_owned(),
    );
    for t in &tokens {
        assert_eq!(s.status(t), 200);
        s.authorize(t, "orders:read");
        // An app token on a management route (403) and a tampered one (401).
        s.get("/api/v1/environments/default/client-apps", t);
        s.status(&format!("{t}x"));
    }
    // Wrong secret, secret in the query string, in a JSON body, in a form body.
    s.token_response(&app.client_id, &other.client_secret, None);
    let q = s
        .http()
        .post(s.url(&format!(
            "/oauth2/token?client_id={}&client_secret={}",
            app.client_id,
            urlencode(&app.client_secret)
        )))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .expect("request");
    assert_eq!(q.status(), 400);
    let j = s
        .http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&app.client_id, Some(&app.client_secret))
        .json(&json!({"grant_type": "client_credentials", "client_secret": app.client_secret}))
        .send()
        .expect("request");
    assert_eq!(j.status(), 400);
    let f = s
        .http()
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
        ])
        .send()
        .expect("request");
    // client_secret_post (issue 15): the secret in a form body is accepted, and
    // still never logged.
    assert_eq!(f.status(), 200);
    // Management routes with the admin credential.
    s.get(&s.app_path("default", &app), &s.admin);
    s.deactivate("default", &other);
    s.activate("default", &other);
    s.get("/api/v1/environments", &s.admin);
    s.get(
        "/api/v1/environments/default/client-apps",
        "wrong-credential-but-long-enough-123456",
    );

    let logs = s.logs();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "trace logging is on"
    );
    assert!(logs.contains("/oauth2/token"), "requests are logged");
    let mut needles: Vec<(String, String)> = vec![
        ("admin credential".into(), ADMIN_CREDENTIAL.to_owned()),
        (
            "wrong credential".into(),
            "wrong-credential-but-long-enough-123456".into(),
        ),
    ];
    for a in [&app, &other] {
        needles.push(("client secret".into(), a.client_secret.clone()));
        needles.push((
            "client secret body".into(),
            a.client_secret.trim_start_matches("kwcs_").to_owned(),
        ));
        needles.push(("url-encoded secret".into(), urlencode(&a.client_secret)));
    }
    for t in &tokens {
        needles.push(("access token".into(), t.clone()));
        let parts: Vec<&str> = t.split('.').collect();
        needles.push(("access token signature".into(), parts[2].to_owned()));
        needles.push(("access token claims".into(), parts[1].to_owned()));
    }
    for (what, needle) in needles {
        if let Some(at) = logs.find(&needle) {
            let line = logs[..at].rsplit('\n').next().unwrap_or_default();
            panic!("{what} found in the logs, on the line starting: {line:?}");
        }
    }
}

// ----- bootstrap and keys at rest -----

fn printed_credentials(stdout: &str) -> Vec<String> {
    stdout
        .split_whitespace()
        .filter(|w| w.starts_with("kwpc_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn first_start_prints_a_working_admin_credential_once_and_restart_keeps_it_and_the_keys() {
    // The issuer (and default audience) is the public URL; pin it, since each start
    // binds another port.
    let public_url = [("KEYWARD__SERVER__PUBLIC_URL", "http://keyward.test")];
    let s = Server::start_without_bootstrap_credential(&public_url);
    let printed = printed_credentials(&s.stdout());
    assert_eq!(printed.len(), 1, "printed once: {}", s.stdout());
    let admin = printed[0].clone();
    assert!(admin.len() >= 32, "{admin}");
    assert!(
        !s.logs().contains(&admin),
        "the credential is not in the log"
    );

    let res = s.get("/api/v1/environments/default/client-apps", &admin);
    assert_eq!(res.status(), 200, "the printed credential works");
    let res = s.get("/api/v1/environments/default/client-apps", ADMIN_CREDENTIAL);
    assert_eq!(res.status(), 401, "no other credential was set up");
    let app = s.create_app_as(&admin, "default", "survivor", &[]);
    let token = s.token(&app);
    let kid = jwt_parts(&token).0["kid"].clone();

    let dir = s.stop();
    let s = Server::start_in_without_bootstrap_credential(dir, &public_url);
    assert!(
        printed_credentials(&s.stdout()).is_empty(),
        "no new credential on restart: {}",
        s.stdout()
    );
    assert_eq!(
        s.get("/api/v1/environments/default/client-apps", &admin)
            .status(),
        200,
        "the first credential still works"
    );
    assert_eq!(
        s.status(&token),
        200,
        "a token from before the restart verifies"
    );
    let jwks: Value = s
        .get_anonymous("/.well-known/jwks.json")
        .json()
        .expect("json");
    assert!(
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == kid),
        "the signing key survived"
    );
    assert_eq!(
        s.token_response(&app.client_id, &app.client_secret, None)
            .status(),
        200,
        "the secret survived"
    );
}

#[test]
fn private_signing_keys_are_stored_as_jwe_under_a_0600_master_key() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start();
    let key_file = s.data_dir().join("master.key");
    let mode = std::fs::metadata(&key_file)
        .expect("master.key exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "master.key mode {:o}", mode & 0o777);

    let rows = s.db().signing_keys();
    assert!(!rows.is_empty(), "a signing key was generated");
    for row in rows {
        let parts: Vec<&str> = row.private_jwe.split('.').collect();
        assert_eq!(parts.len(), 5, "compact JWE: {}", row.private_jwe);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
        assert!(header["enc"].is_string(), "a JWE header: {header}");
        assert!(
            serde_json::from_str::<Value>(&row.private_jwe).is_err(),
            "not a plain JWK"
        );
        assert!(!row.private_jwe.contains("\"d\""));
        let public: Value = serde_json::from_str(&row.public_jwk).expect("public JWK");
        assert!(
            public.get("d").is_none(),
            "no private part in the public JWK"
        );
    }
}
