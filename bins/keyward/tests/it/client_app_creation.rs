//! Creating client apps over real HTTP: the secret is shown once and stored only as an
//! argon2id hash; name rules (length, characters, uniqueness in any letter case); the
//! quota per environment, also under concurrency.

use serde_json::{json, Value};

use crate::harness::{
    assert_problem, assert_validation_error, is_rfc3339_utc, list_apps, post_client_app, App,
    Server, APPS,
};

const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// ----- the secret -----

#[test]
fn created_app_returns_its_secret_once_and_never_again() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let res = post_client_app(
        &s,
        "default",
        json!({"name": "Billing Bot", "roles": ["reader"]}),
    );
    assert_eq!(res.status(), 201);
    let created: Value = res.json().expect("json");
    let secret = created["client_secret"].as_str().expect("client_secret");
    let client_id = created["client_id"].as_str().expect("client_id");
    let rest = secret.strip_prefix("kwcs_").expect("kwcs_ prefix");
    assert_eq!(rest.len(), 49, "{secret}");
    assert!(rest.chars().all(|c| BASE62.contains(c)), "{secret}");
    assert_eq!(client_id.len(), 22, "{client_id}");
    assert!(client_id.chars().all(|c| BASE62.contains(c)), "{client_id}");
    assert_eq!(created["name"], "Billing Bot");
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["roles"], json!(["reader"]));
    assert!(created["last_used_at"].is_null());
    assert!(
        is_rfc3339_utc(created["created_at"].as_str().expect("created_at")),
        "RFC 3339 created_at: {}",
        created["created_at"]
    );

    let app = App {
        client_id: client_id.to_owned(),
        client_secret: secret.to_owned(),
        body: created.clone(),
    };
    let one = s.get(&s.app_path("default", &app), &s.admin);
    assert_eq!(one.status(), 200);
    let one_text = one.text().expect("text");
    let one: Value = serde_json::from_str(&one_text).expect("json");
    assert!(
        one.get("client_secret").is_none(),
        "GET has no secret: {one}"
    );
    assert!(!one_text.contains(secret) && !one_text.contains(rest));
    assert_eq!(one["client_id"], client_id);
    assert_eq!(one["name"], "Billing Bot");
    assert_eq!(one["status"], "ACTIVE");
    assert_eq!(one["roles"], json!(["reader"]));
    assert_eq!(one["created_at"], created["created_at"]);

    let list = s.get(APPS, &s.admin);
    assert_eq!(list.status(), 200);
    let list_text = list.text().expect("text");
    assert!(!list_text.contains(rest), "list has no secret");
    let list: Value = serde_json::from_str(&list_text).expect("json");
    let item = &list["items"][0];
    assert_eq!(item["client_id"], client_id);
    assert!(item.get("client_secret").is_none());

    // Two apps never share a client ID or a secret.
    let second = s.create_app("default", "Second Bot", &[]);
    assert_ne!(second.client_id, client_id);
    assert_ne!(second.client_secret, secret);
    // And the secret works.
    assert_eq!(s.token_response(client_id, secret, None).status(), 200);
}

#[test]
fn database_holds_only_an_argon2id_hash_of_the_secret() {
    let s = Server::start();
    let app = s.create_app("default", "hashed app", &[]);
    let hash = s
        .db()
        .stored_secret_hash(&app.client_id)
        .expect("secret_hash");
    assert!(hash.starts_with("$argon2id$v=19$"), "PHC string: {hash}");
    assert!(!hash.contains(&app.client_secret));
    // The secret text is nowhere in the raw bytes storage keeps.
    let random_part = app.client_secret.trim_start_matches("kwcs_");
    if let Some(place) = s.db().find_in_raw_storage(random_part) {
        panic!("secret found in {place}");
    }
}

// ----- names -----

#[test]
fn names_of_3_and_128_characters_and_every_allowed_special_character_are_accepted() {
    let s = Server::start();
    let long = format!("L{}", "x".repeat(127));
    let mut accepted = vec![
        "abc".to_owned(),
        long.clone(),
        "A1 b2".to_owned(),
        "all +=,.@- together".to_owned(),
    ];
    for c in ['+', '=', ',', '.', '@', '-', ' '] {
        accepted.push(format!("x{c}y{}", accepted.len()));
    }
    for name in &accepted {
        let res = post_client_app(&s, "default", json!({"name": name}));
        assert_eq!(res.status(), 201, "name {name:?}");
        let body: Value = res.json().expect("json");
        assert_eq!(body["name"], name.as_str(), "stored as given");
        assert!(body["roles"].as_array().is_some_and(Vec::is_empty));
    }
    assert_eq!(
        list_apps(&s, "?limit=200")["items"]
            .as_array()
            .expect("items")
            .len(),
        accepted.len()
    );
}

#[test]
fn names_too_short_too_long_or_with_refused_characters_are_422() {
    let s = Server::start();
    let mut refused: Vec<(String, &str)> = vec![
        ("ab".into(), "2 characters"),
        (format!("L{}", "x".repeat(128)), "129 characters"),
        (String::new(), "empty"),
        ("   ".into(), "only spaces"),
        (" abc".into(), "leading space"),
        ("abc ".into(), "trailing space"),
    ];
    for c in [
        '_', '/', ':', '%', '!', '#', '\t', '\n', 'é', '"', '\'', '<', '*',
    ] {
        refused.push((format!("ab{c}cd"), "refused character"));
    }
    for (name, case) in &refused {
        let res = post_client_app(&s, "default", json!({"name": name}));
        assert_validation_error(res, "name", &format!("{case}: {name:?}"));
    }
    for (body, case) in [
        (json!({}), "missing name"),
        (json!({"name": 42}), "name not a string"),
        (json!({"name": null}), "null name"),
    ] {
        assert_validation_error(post_client_app(&s, "default", body), "name", case);
    }
    assert!(
        list_apps(&s, "")["items"]
            .as_array()
            .expect("items")
            .is_empty(),
        "nothing created"
    );
}

#[test]
fn duplicate_name_in_any_letter_case_is_409_name_taken() {
    let s = Server::start();
    s.create_environment("staging");
    s.create_app("default", "Report Bot", &[]);
    for dup in ["Report Bot", "report bot", "REPORT BOT", "rEpOrT bOt"] {
        let res = post_client_app(&s, "default", json!({"name": dup}));
        assert_problem(res, 409, "name-taken", dup);
    }
    assert_eq!(
        list_apps(&s, "")["items"].as_array().expect("items").len(),
        1
    );
    // Names are unique per environment only.
    s.create_app("staging", "report bot", &[]);
}

// ----- quota -----

#[test]
fn the_21st_app_in_an_environment_is_refused_with_quota_reached() {
    let s = Server::start();
    s.create_environment("staging");
    for i in 0..20 {
        s.create_app("default", &format!("app {i:02}"), &[]);
    }
    let res = post_client_app(&s, "default", json!({"name": "app 20"}));
    assert_problem(res, 409, "quota-reached", "21st app");
    assert_eq!(
        list_apps(&s, "?limit=200")["items"]
            .as_array()
            .expect("items")
            .len(),
        20
    );
    // The quota is per environment.
    s.create_app("staging", "app 20", &[]);
}

#[test]
fn fifty_concurrent_creates_in_an_empty_environment_create_exactly_twenty() {
    let s = Server::start();
    s.create_environment("burst");
    let barrier = std::sync::Barrier::new(50);
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (s, barrier) = (&s, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let res =
                        post_client_app(s, "burst", json!({"name": format!("burst app {i:02}")}));
                    let status = res.status().as_u16();
                    (status, res.json::<Value>().expect("json"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let created: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 20, "exactly the quota is created");
    for (status, body) in results.iter().filter(|(st, _)| *st != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["type"], "urn:keyward:problem:quota-reached", "{body}");
    }
    let listed = s.get("/api/v1/environments/burst/client-apps?limit=200", &s.admin);
    let listed: Value = listed.json().expect("json");
    let mut listed_ids: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["client_id"].as_str().expect("client_id"))
        .collect();
    let mut created_ids: Vec<&str> = created
        .iter()
        .map(|a| a["client_id"].as_str().expect("client_id"))
        .collect();
    listed_ids.sort_unstable();
    created_ids.sort_unstable();
    assert_eq!(
        listed_ids, created_ids,
        "every 201 exists, nothing else does"
    );
    // No lost write: every created app works with the secret it was given.
    for app in &created {
        let res = s.token_response(
            app["client_id"].as_str().expect("id"),
            app["client_secret"].as_str().expect("secret"),
            None,
        );
        assert_eq!(res.status(), 200, "{}", app["name"]);
    }
}
