//! A bot that places an order every few seconds with a Keyward token:
//!
//! ```sh
//! KEYWARD_URL=http://127.0.0.1:8080 CLIENT_ID=... CLIENT_SECRET=kwcs_... \
//!   ORDERS_URL=http://127.0.0.1:8081 cargo run -p orders-bot
//! ```
//!
//! `keyward_client::TokenClient` keeps the token: fetched once, reused until 80 % of
//! its lifetime, renewed before it expires, retried with backoff when Keyward answers
//! 429 or 503. On a 401 from the orders service the bot drops the token and asks again
//! once (the app may have been deactivated: then Keyward refuses, and the bot says so).

use std::time::Duration;

use keyward_client::TokenClient;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

fn main() -> Result<(), String> {
    let tokens = TokenClient::new(
        &env("KEYWARD_URL")?,
        &env("CLIENT_ID")?,
        &env("CLIENT_SECRET")?,
    );
    let orders = env("ORDERS_URL")?;
    let rounds: u32 = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let http = reqwest::blocking::Client::new();
    for round in 1..=rounds {
        let mut retried = false;
        loop {
            let token = tokens.token().map_err(|e| format!("no token: {e}"))?;
            let res = http
                .post(format!("{orders}/orders"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"item": "widget", "quantity": round}))
                .send()
                .map_err(|e| format!("orders service: {e}"))?;
            match res.status().as_u16() {
                401 if !retried => {
                    tokens.invalidate();
                    retried = true;
                }
                status => {
                    println!("round {round}: orders service answered {status}");
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}
