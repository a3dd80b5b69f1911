//! Example: a small "orders" resource server that checks Keyward access tokens and API
//! keys in-process, with Keyward's live semantics (a deactivated app or a removed role
//! is refused at once, without calling Keyward per request).
//!
//! Two ways to feed it: [`connect_remote`] (any host: Keyward's live snapshot and change
//! feed over HTTP, through the `keyward-client` crate), or [`connect`] (on Keyward's
//! host: its SQLite database, read-only, following its change feed). Either way it
//! never holds the master key, only public keys.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use keyward_core::{ChangeFollower, KeySource, SystemClock, Validator, ValidatorConfig};
use keyward_domain::EnvironmentSlug;
use keyward_http::{permission, Authorized};
use keyward_store::{DieselStore, LiveSource, StoreOptions};
use serde::{Deserialize, Serialize};

permission!(OrdersRead, "orders:read", OwnEnvironment);
permission!(OrdersWrite, "orders:write", OwnEnvironment);

/// Where Keyward is and how closely to follow it.
#[derive(Debug, Clone)]
pub struct KeywardLink {
    /// Keyward's database (`sqlite://PATH` or a path).
    pub database_url: String,
    /// Keyward's issuer (its `server.public_url`).
    pub issuer: String,
    /// The audience Keyward puts in tokens (default: the issuer).
    pub audience: String,
    /// The one environment this service serves (tokens of other environments are
    /// refused with 401); `None` serves every environment.
    pub environment: Option<String>,
    /// How often to pick up Keyward's changes.
    pub resync_interval: Duration,
}

/// A validator fed from Keyward over HTTP (`live:read` credential in `config`): the
/// recommended way; see `keyward_client::RemoteValidator`.
pub fn connect_remote(
    config: keyward_client::RemoteConfig,
) -> Result<keyward_client::RemoteValidator, keyward_client::RemoteError> {
    keyward_client::RemoteValidator::connect(config)
}

/// A validator over Keyward's database and the thread that keeps it current.
pub fn connect(
    link: &KeywardLink,
) -> Result<(Arc<Validator>, ChangeFollower), keyward_core::Error> {
    let mut options = StoreOptions::sqlite(&link.database_url);
    options.url = link.database_url.clone();
    options.migrate = false;
    options.pool_size = 4;
    let store: Arc<dyn LiveSource> = Arc::new(DieselStore::open(&options)?);
    let environment = link
        .environment
        .as_deref()
        .map(EnvironmentSlug::parse)
        .transpose()
        .map_err(keyward_core::Error::invalid)?;
    let validator = Arc::new(Validator::new(
        store,
        KeySource::Public,
        ValidatorConfig {
            issuer: link.issuer.clone(),
            audience: link.audience.clone(),
            leeway: Duration::from_secs(60),
            environment,
        },
        Arc::new(SystemClock),
    )?);
    let follower = ChangeFollower::spawn(Arc::clone(&validator), link.resync_interval);
    Ok((validator, follower))
}

/// An order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    /// What was ordered.
    pub item: String,
    /// How many.
    pub quantity: u32,
    /// The client ID of the app that placed it.
    #[serde(default)]
    pub placed_by: String,
}

/// The orders kept in memory.
#[derive(Default)]
pub struct Orders(Mutex<Vec<Order>>);

async fn list_orders(_auth: Authorized<OrdersRead>, orders: web::Data<Orders>) -> HttpResponse {
    let orders = orders.0.lock().map(|o| o.clone()).unwrap_or_default();
    HttpResponse::Ok().json(orders)
}

async fn place_order(
    auth: Authorized<OrdersWrite>,
    orders: web::Data<Orders>,
    order: web::Json<Order>,
) -> HttpResponse {
    let mut order = order.into_inner();
    order.placed_by = auth
        .principal
        .kind
        .client_id()
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut all) = orders.0.lock() {
        all.push(order.clone());
    }
    HttpResponse::Created().json(order)
}

/// Registers `GET /orders` (needs `orders:read`) and `POST /orders` (needs `orders:write`).
/// The app must hold `web::Data<Validator>` and `web::Data<Orders>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders", web::get().to(list_orders))
        .route("/orders", web::post().to(place_order));
}
