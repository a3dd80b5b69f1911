//! Runs the orders example next to a Keyward server:
//!
//! ```sh
//! KEYWARD_DATABASE_URL=./keyward-data/keyward.db KEYWARD_ISSUER=http://127.0.0.1:8080 \
//!   cargo run -p orders-api
//! ```

use std::time::Duration;

use actix_web::{web, App, HttpServer};
use orders_api::{configure, connect, KeywardLink, Orders};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let issuer = env("KEYWARD_ISSUER", "http://127.0.0.1:8080");
    let link = KeywardLink {
        database_url: env("KEYWARD_DATABASE_URL", "./keyward-data/keyward.db"),
        audience: env("KEYWARD_AUDIENCE", &issuer),
        issuer,
        environment: std::env::var("KEYWARD_ENVIRONMENT").ok(),
        resync_interval: Duration::from_millis(100),
    };
    let (validator, _follower) = connect(&link).map_err(std::io::Error::other)?;
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
