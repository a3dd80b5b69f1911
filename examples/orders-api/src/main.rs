//! Runs the orders example against a Keyward server.
//!
//! Remote (the default way, any host): the validator is fed over HTTP with a credential
//! holding `live:read` (an API key of the service's own client app):
//!
//! ```sh
//! KEYWARD_URL=http://127.0.0.1:8080 KEYWARD_API_KEY=kwak_... cargo run -p orders-api
//! ```
//!
//! On Keyward's own host, from its SQLite database instead:
//!
//! ```sh
//! KEYWARD_DATABASE_URL=./keyward-data/keyward.db KEYWARD_ISSUER=http://127.0.0.1:8080 \
//!   cargo run -p orders-api
//! ```

use std::time::Duration;

use actix_web::{web, App, HttpServer};
use orders_api::{configure, connect, connect_remote, KeywardLink, Orders};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let issuer = env(
        "KEYWARD_ISSUER",
        &env("KEYWARD_URL", "http://127.0.0.1:8080"),
    );
    // Keep whichever feeds the validator alive for as long as the server runs.
    let (validator, _remote, _follower) = match std::env::var("KEYWARD_API_KEY") {
        Ok(credential) => {
            let mut config = keyward_client::RemoteConfig::new(
                env("KEYWARD_URL", "http://127.0.0.1:8080"),
                credential,
            );
            config.issuer = issuer.clone();
            config.audience = env("KEYWARD_AUDIENCE", &issuer);
            config.environment = std::env::var("KEYWARD_ENVIRONMENT").ok();
            let remote = connect_remote(config).map_err(std::io::Error::other)?;
            (
                std::sync::Arc::clone(remote.validator()),
                Some(remote),
                None,
            )
        }
        Err(_) => {
            let link = KeywardLink {
                database_url: env("KEYWARD_DATABASE_URL", "./keyward-data/keyward.db"),
                audience: env("KEYWARD_AUDIENCE", &issuer),
                issuer,
                environment: std::env::var("KEYWARD_ENVIRONMENT").ok(),
                resync_interval: Duration::from_millis(100),
            };
            let (validator, follower) = connect(&link).map_err(std::io::Error::other)?;
            (validator, None, Some(follower))
        }
    };
    let validator = web::Data::from(validator);
    let orders = web::Data::new(Orders::default());
    let bind = env("ORDERS_BIND", "127.0.0.1:8081");
    log::info!("orders example listening on http://{bind}");
    HttpServer::new(move || {
        App::new()
            .app_data(validator.clone())
            .app_data(orders.clone())
            .configure(configure)
    })
    .bind(bind)?
    .run()
    .await
}
