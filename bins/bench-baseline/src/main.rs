//! A minimal actix-web server: the yardstick Keyward's benchmark divides by (same
//! framework, same worker count, same machine, same run).
//!
//! - `GET /` answers `{"active":true}`: the bare handler every ratio is taken against.
//! - `POST /token` reads the request body and answers a JSON body of `TOKEN_BYTES`
//!   bytes (default 600) with the headers a token response carries: the framework's
//!   own cost of a token-endpoint-shaped exchange, with no work inside.
//!
//! Usage: `bench-baseline ADDR WORKERS`.

use actix_web::{http::header, web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    let size: usize = std::env::var("TOKEN_BYTES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(600);
    let token_body = web::Bytes::from(format!(
        r#"{{"access_token":"{}","token_type":"Bearer","expires_in":3600}}"#,
        "x".repeat(size.saturating_sub(60))
    ));
    HttpServer::new(move || {
        let token_body = token_body.clone();
        App::new()
            .route(
                "/",
                web::to(|| async {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(r#"{"active":true}"#)
                }),
            )
            .route(
                "/token",
                web::post().to(move |body: web::Bytes| {
                    let token_body = token_body.clone();
                    async move {
                        if body.is_empty() {
                            return HttpResponse::BadRequest().finish();
                        }
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .insert_header((header::CACHE_CONTROL, "no-store"))
                            .insert_header((header::PRAGMA, "no-cache"))
                            .body(token_body)
                    }
                }),
            )
    })
    .workers(workers)
    .bind(addr)?
    .run()
    .await
}
