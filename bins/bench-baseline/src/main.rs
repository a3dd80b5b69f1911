//! A minimal actix-web server answering `{"active":true}`: the yardstick Keyward's
//! benchmark divides by (same framework, same worker count, same machine, same run).
//!
//! Usage: `bench-baseline ADDR WORKERS`.

use actix_web::{web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    HttpServer::new(|| {
        App::new().route(
            "/",
            web::to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(r#"{"active":true}"#)
            }),
        )
    })
    .workers(workers)
    .bind(addr)?
    .run()
    .await
}
