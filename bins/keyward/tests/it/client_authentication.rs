//! Client authentication at `POST /oauth2/token`: every failure (unknown client, wrong
//! or malformed secret, bad header, inactive or deleted app, disabled environment) gets
//! the same 401 `invalid_client`, and repeated wrong secrets are throttled with 429
//! without locking out a client that proves its secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::harness::{
    assert_invalid_client, assert_oauth_error, basic, eventually, header, token_json, token_raw,
    urlencode, Server, FORM, GRANT,
};

/// A secret of the right shape whose checksum no longer matches (one character changed).
fn with_broken_checksum(secret: &str) -> String {
    let mut chars: Vec<char> = secret.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn client_authentication_failures_all_get_the_same_401_invalid_client() {
    let s = Server::start();
    let app = s.create_app("default", "auth failures", &[]);
    let other = s.create_app("default", "other app", &[]);
    let enc = |raw: &str| format!("Basic {}", STANDARD.encode(raw));
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        (
            "unknown client ID",
            vec![basic("AAAAAAAAAAAAAAAAAAAAAA", &app.client_secret)],
            GRANT.into(),
        ),
        (
            "wrong secret (another app's)",
            vec![basic(&app.client_id, &other.client_secret)],
            GRANT.into(),
        ),
        (
            "secret with a broken checksum",
            vec![basic(
                &app.client_id,
                &with_broken_checksum(&app.client_secret),
            )],
            GRANT.into(),
        ),
        (
            "secret that is not a Keyward secret",
            vec![basic(&app.client_id, "hunter2")],
            GRANT.into(),
        ),
        ("no Authorization header", vec![], GRANT.into()),
        (
            "client_secret_post with another app's secret",
            vec![],
            format!(
                "{GRANT}&client_id={}&client_secret={}",
                app.client_id,
                urlencode(&other.client_secret)
            ),
        ),
        (
            "Basic with bad base64",
            vec!["Basic !!!not-base64!!!".into()],
            GRANT.into(),
        ),
        (
            "Basic without a colon",
            vec![enc(&format!("{}{}", app.client_id, app.client_secret))],
            GRANT.into(),
        ),
        (
            "Basic with an empty client ID",
            vec![enc(&format!(":{}", app.client_secret))],
            GRANT.into(),
        ),
        (
            "Basic with an empty secret",
            vec![enc(&format!("{}:", app.client_id))],
            GRANT.into(),
        ),
        (
            "Basic without credentials",
            vec!["Basic".into()],
            GRANT.into(),
        ),
        (
            "Bearer scheme",
            vec![format!("Bearer {}", app.client_secret)],
            GRANT.into(),
        ),
        (
            "Digest scheme",
            vec![format!("Digest {}", STANDARD.encode("a:b"))],
            GRANT.into(),
        ),
    ];
    for (case, auths, body) in cases {
        let auths: Vec<&str> = auths.iter().map(String::as_str).collect();
        assert_invalid_client(token_raw(&s, "", &auths, Some(FORM), body), case);
    }
    // None of that locked the real client out (fewer than 10 failures).
    assert_eq!(token_json(&s, &app, None)["token_type"], "Bearer");
}

#[test]
fn inactive_or_deleted_apps_and_disabled_environments_get_the_same_401_invalid_client() {
    let s = Server::start();
    s.create_environment("staging");
    let inactive = s.create_app("default", "inactive app", &[]);
    let deleted = s.create_app("default", "deleted app", &[]);
    let disabled = s.create_app("staging", "disabled env app", &[]);
    for app in [&inactive, &deleted] {
        s.deactivate("default", app);
    }
    assert_eq!(
        s.delete(&s.app_path("default", &deleted), &s.admin)
            .status(),
        204
    );
    s.set_environment_enabled("staging", false);
    for (case, app) in [
        ("inactive app", &inactive),
        ("deleted app", &deleted),
        ("disabled environment", &disabled),
    ] {
        assert_invalid_client(
            s.token_response(&app.client_id, &app.client_secret, None),
            case,
        );
    }
}

#[test]
fn repeated_wrong_secrets_throttle_a_client_id_with_429_but_not_a_verified_client() {
    let s = Server::start_with(&[("KEYWARD__SECURITY__MAX_FAILED_ATTEMPTS", "3")]);
    let warm = s.create_app("default", "warm app", &[]);
    let cold = s.create_app("default", "cold app", &[]);
    let bystander = s.create_app("default", "bystander", &[]);
    // `warm` proves its secret once before the attack.
    let first = s.token(&warm);
    for app in [&warm, &cold] {
        for i in 0..3 {
            assert_invalid_client(
                s.token_response(&app.client_id, &bystander.client_secret, None),
                &format!("wrong secret #{i}"),
            );
        }
        let res = s.token_response(&app.client_id, &bystander.client_secret, None);
        let retry_after = header(&res, "retry-after").expect("Retry-After on 429");
        assert!(
            retry_after.parse::<u64>().is_ok_and(|n| n >= 1),
            "Retry-After is a positive number of seconds: {retry_after}"
        );
        assert_oauth_error(
            res,
            429,
            "temporarily_unavailable",
            "throttled wrong secret",
        );
    }
    // The throttled client ID that never proved its secret: a wrong secret is still
    // 429, while the right one gets through on the one verification a second that a
    // throttled (client, source) keeps on idle capacity — an attacker sharing the
    // client's address cannot lock it out (issue 19, F7)...
    let took = eventually(std::time::Duration::from_secs(5), || {
        s.token_response(&cold.client_id, &cold.client_secret, None)
            .status()
            == 200
    });
    assert!(
        took.is_some(),
        "the correct secret gets through while throttled"
    );
    assert_oauth_error(
        s.token_response(&cold.client_id, &bystander.client_secret, None),
        429,
        "temporarily_unavailable",
        "throttled, wrong secret",
    );
    // ...while the client that already proved it keeps getting tokens,
    let res = s.token_response(&warm.client_id, &warm.client_secret, None);
    assert_eq!(res.status(), 200, "a verified client is not locked out");
    let body: Value = res.json().expect("json");
    assert_eq!(body["access_token"], first.as_str());
    // and other client IDs are not affected.
    assert_eq!(
        s.token_response(&bystander.client_id, &bystander.client_secret, None)
            .status(),
        200
    );
}

#[test]
fn failed_attempts_from_one_source_do_not_lock_out_the_client_elsewhere() {
    let s = Server::start_with(&[("KEYWARD__SECURITY__MAX_FAILED_ATTEMPTS", "3")]);
    let app = s.create_app("default", "victim app", &[]);
    // The attacker knows the (public) client ID and connects from another address.
    let attacker = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    // A well-formed secret (another app's), wrong for this client: each costs a check.
    let decoy = s.create_app("default", "decoy app", &[]);
    let wrong = format!("{}:{}", app.client_id, decoy.client_secret);
    let attempt = || {
        attacker
            .post(s.url("/oauth2/token"))
            .header(
                "Authorization",
                format!("Basic {}", STANDARD.encode(&wrong)),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .expect("attacker request")
            .status()
            .as_u16()
    };
    let statuses: Vec<u16> = (0..6).map(|_| attempt()).collect();
    assert!(
        statuses.contains(&429),
        "the attacker is throttled: {statuses:?}"
    );
    // The real client has never got a token (nothing cached) and still gets one.
    let res = s.token_response(&app.client_id, &app.client_secret, None);
    assert_eq!(res.status(), 200);
}
