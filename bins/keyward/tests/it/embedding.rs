//! The orders example embeds keyward-core: it checks Keyward tokens in-process against
//! Keyward's live state, and follows role changes and deactivations made on the server.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use orders_api::{configure, connect, KeywardLink, Orders};
use serde_json::json;

use crate::harness::{eventually, Server};

/// The orders example, running on its own port in a thread of this test.
struct OrdersServer {
    base: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OrdersServer {
    fn start(keyward: &Server) -> Self {
        Self::start_for(keyward, None)
    }

    fn start_for(keyward: &Server, environment: Option<&str>) -> Self {
        let link = KeywardLink {
            database_url: keyward.db().url(),
            issuer: keyward.base.clone(),
            audience: keyward.base.clone(),
            environment: environment.map(str::to_owned),
            resync_interval: Duration::from_millis(50),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let (validator, _follower) = connect(&link).expect("connect to Keyward's database");
            let validator = web::Data::from(validator);
            let orders = web::Data::new(Orders::default());
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
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
        let handle = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("orders server started");
        OrdersServer {
            base,
            handle,
            thread: Some(thread),
        }
    }

    fn get(&self, token: Option<&str>) -> u16 {
        let mut req = reqwest::blocking::Client::new().get(format!("{}/orders", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().unwrap().status().as_u16()
    }

    fn post(&self, token: &str) -> u16 {
        reqwest::blocking::Client::new()
            .post(format!("{}/orders", self.base))
            .bearer_auth(token)
            .json(&json!({"item": "widget", "quantity": 3}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Drop for OrdersServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::System::new().block_on(handle.stop(true));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const WITHIN: Duration = Duration::from_secs(5);

#[test]
fn the_example_resource_server_allows_and_denies_by_live_permissions() {
    let keyward = Server::start();
    keyward.create_role("default", "orders-reader", &["orders:read"]);
    keyward.create_role("default", "orders-writer", &["orders:write"]);
    let app = keyward.create_app("default", "shop frontend", &["orders-reader"]);
    let token = keyward.token(&app);
    let orders = OrdersServer::start(&keyward);

    assert_eq!(orders.get(None), 401, "no token");
    assert_eq!(orders.get(Some("not-a-token")), 401, "garbage token");
    assert_eq!(orders.get(Some(&token)), 200, "orders:read is granted");
    assert_eq!(orders.post(&token), 403, "orders:write is not granted");

    // A role granted on Keyward reaches the embedded validator without a new token.
    keyward.set_roles("default", &app, &["orders-reader", "orders-writer"]);
    let took = eventually(WITHIN, || orders.post(&token) == 201).expect("role grant followed");
    eprintln!("role grant reached the embedded validator in {took:?}");

    // Deactivation on Keyward stops the token here too; activation restores it.
    keyward.deactivate("default", &app);
    let took =
        eventually(WITHIN, || orders.get(Some(&token)) == 401).expect("deactivation followed");
    eprintln!("deactivation reached the embedded validator in {took:?}");
    keyward.activate("default", &app);
    eventually(WITHIN, || orders.get(Some(&token)) == 200).expect("activation followed");

    // Removing the role denies again; editing a role's permissions is followed as well.
    keyward.set_roles("default", &app, &["orders-reader"]);
    eventually(WITHIN, || orders.post(&token) == 403).expect("role removal followed");
    let res = keyward.put(
        "/api/v1/environments/default/roles/orders-reader",
        &keyward.admin,
        json!({"permissions": ["invoices:read"]}),
    );
    assert_eq!(res.status(), 200);
    eventually(WITHIN, || orders.get(Some(&token)) == 403).expect("role edit followed");
}

#[test]
fn the_embedded_validator_refuses_tokens_of_another_issuer_and_of_deleted_apps() {
    let keyward = Server::start();
    keyward.create_role("default", "orders-reader", &["orders:read"]);
    let app = keyward.create_app("default", "shop frontend", &["orders-reader"]);
    let token = keyward.token(&app);
    let orders = OrdersServer::start(&keyward);
    assert_eq!(orders.get(Some(&token)), 200);

    // A token signed by another Keyward (another key, another issuer) is refused.
    let other = Server::start();
    other.create_role("default", "orders-reader", &["orders:read"]);
    let stranger = other.create_app("default", "shop frontend", &["orders-reader"]);
    assert_eq!(orders.get(Some(&other.token(&stranger))), 401);

    keyward.deactivate("default", &app);
    let res = keyward.delete(&keyward.app_path("default", &app), &keyward.admin);
    assert_eq!(res.status(), 204);
    eventually(WITHIN, || orders.get(Some(&token)) == 401).expect("deletion followed");
}

#[test]
fn a_resource_server_pinned_to_an_environment_refuses_tokens_of_other_environments() {
    let keyward = Server::start();
    keyward.create_environment("staging");
    for env in ["default", "staging"] {
        keyward.create_role(env, "orders-reader", &["orders:read"]);
    }
    let production_app = keyward.create_app("default", "shop frontend", &["orders-reader"]);
    let staging_app = keyward.create_app("staging", "shop frontend", &["orders-reader"]);
    let production = OrdersServer::start_for(&keyward, Some("default"));
    assert_eq!(production.get(Some(&keyward.token(&production_app))), 200);
    // Same role name, same permission, other environment: not a credential for this service.
    assert_eq!(production.get(Some(&keyward.token(&staging_app))), 401);
}

#[test]
fn a_resource_server_refuses_admin_personal_credentials_that_keyward_itself_accepts() {
    // A personal credential works against Keyward's own API, and is refused by an
    // embedded validator: a resource server must never be handed a credential it
    // could replay against the management API.
    let keyward = Server::start();
    assert_eq!(
        keyward
            .get("/api/v1/environments/default/client-apps", &keyward.admin)
            .status(),
        200
    );
    let orders = OrdersServer::start(&keyward);
    assert_eq!(orders.get(Some(&keyward.admin)), 401);
    let pinned = OrdersServer::start_for(&keyward, Some("default"));
    assert_eq!(pinned.get(Some(&keyward.admin)), 401);
}

#[test]
fn the_example_resource_server_accepts_api_keys_with_their_apps_live_state() {
    let keyward = Server::start();
    keyward.create_role("default", "orders-reader", &["orders:read"]);
    keyward.create_role("default", "orders-writer", &["orders:write"]);
    let app = keyward.create_app("default", "nightly export", &["orders-reader"]);
    let created = crate::harness::create_api_key(&keyward, "default", &app, "cron");
    let key = crate::harness::key_text(&created);
    let key_id = created["id"].as_str().expect("id").to_owned();
    let orders = OrdersServer::start(&keyward);

    assert_eq!(orders.get(Some(&key)), 200, "the key acts as its app");
    assert_eq!(orders.post(&key), 403, "with its app's permissions only");
    let typo = crate::harness::with_broken_checksum(&key);
    assert_eq!(orders.get(Some(&typo)), 401, "a mistyped key");

    // The app's live roles apply to the key.
    keyward.set_roles("default", &app, &["orders-reader", "orders-writer"]);
    eventually(WITHIN, || orders.post(&key) == 201).expect("role grant followed");

    // Deactivating the app stops the key; activating restores it.
    keyward.deactivate("default", &app);
    eventually(WITHIN, || orders.get(Some(&key)) == 401).expect("deactivation followed");
    keyward.activate("default", &app);
    eventually(WITHIN, || orders.get(Some(&key)) == 200).expect("activation followed");

    // Deleting the key on Keyward stops it here.
    let path = format!(
        "{}/{key_id}",
        crate::harness::api_keys_path("default", &app)
    );
    assert_eq!(keyward.delete(&path, &keyward.admin).status(), 204);
    let took = eventually(WITHIN, || orders.get(Some(&key)) == 401).expect("key deletion followed");
    eprintln!("key deletion reached the embedded validator in {took:?}");
}
