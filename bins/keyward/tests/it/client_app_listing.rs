//! Listing client apps: search by name or client ID, order, cursor pagination, and
//! refused query parameters.

use crate::harness::{app_names, assert_validation_error, list_apps, Server, APPS};

#[test]
fn list_search_matches_name_or_client_id_case_insensitively() {
    let s = Server::start();
    let alpha = s.create_app("default", "Alpha Reporter", &[]);
    s.create_app("default", "beta reporter", &[]);
    s.create_app("default", "Gamma", &[]);
    let mut found = app_names(&list_apps(&s, "?search=REPORTER"));
    found.sort();
    assert_eq!(found, ["Alpha Reporter", "beta reporter"]);
    assert_eq!(
        app_names(&list_apps(&s, "?search=alpha")),
        ["Alpha Reporter"]
    );
    assert_eq!(
        app_names(&list_apps(&s, "?search=HA%20rep")),
        ["Alpha Reporter"]
    );
    // By client ID: a middle part, in the other letter case too.
    let part = &alpha.client_id[5..15];
    let by_id = list_apps(&s, &format!("?search={part}"));
    assert!(
        app_names(&by_id).contains(&"Alpha Reporter".to_owned()),
        "{by_id}"
    );
    assert_eq!(by_id["items"][0]["client_id"], alpha.client_id.as_str());
    let by_whole_id = list_apps(&s, &format!("?search={}", alpha.client_id.to_lowercase()));
    assert_eq!(app_names(&by_whole_id), ["Alpha Reporter"]);
    assert!(app_names(&list_apps(&s, "?search=nothing-like-this")).is_empty());
    assert!(list_apps(&s, "?search=nothing-like-this")["next_cursor"].is_null());
}

#[test]
fn list_is_newest_first_by_default_and_oldest_first_with_order_asc() {
    let s = Server::start();
    let created: Vec<String> = (0..5).map(|i| format!("ordered app {i}")).collect();
    for name in &created {
        s.create_app("default", name, &[]);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(app_names(&list_apps(&s, "")), newest_first);
    assert_eq!(app_names(&list_apps(&s, "?order=desc")), newest_first);
    assert_eq!(
        app_names(&list_apps(&s, "?sort=created_at&order=desc")),
        newest_first
    );
    assert_eq!(app_names(&list_apps(&s, "?order=asc")), created);
    assert_eq!(
        app_names(&list_apps(&s, "?sort=created_at&order=asc")),
        created
    );
}

#[test]
fn list_pages_through_every_app_once_with_limit_and_cursor() {
    let s = Server::start();
    let created: Vec<String> = (0..7).map(|i| format!("paged app {i}")).collect();
    for name in &created {
        s.create_app("default", name, &[]);
    }
    for order in ["asc", "desc"] {
        let mut seen = Vec::new();
        let mut query = format!("?order={order}&limit=3");
        let mut pages = 0;
        loop {
            let page = list_apps(&s, &query);
            let items = app_names(&page);
            assert!(items.len() <= 3);
            seen.extend(items);
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => query = format!("?order={order}&limit=3&cursor={c}"),
                None => break,
            }
            assert!(pages < 10, "pagination ends");
        }
        let expected: Vec<String> = if order == "asc" {
            created.clone()
        } else {
            created.iter().rev().cloned().collect()
        };
        assert_eq!(seen, expected, "{order}: every app once, in order");
        assert_eq!(pages, 3);
    }
}

#[test]
fn list_refuses_invalid_limit_order_and_cursor_with_422() {
    let s = Server::start();
    s.create_app("default", "listed app", &[]);
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=abc", "limit"),
        ("?order=sideways", "order"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=%FF%FE", "cursor"),
        ("?sort=name", "sort"),
    ] {
        let res = s.get(&format!("{APPS}{query}"), &s.admin);
        assert_validation_error(res, field, query);
    }
    assert_eq!(app_names(&list_apps(&s, "?limit=200")), ["listed app"]);
    assert_eq!(app_names(&list_apps(&s, "?limit=1")), ["listed app"]);
}
