//! Integration tests: each test starts the real `keyward` binary on a temporary SQLite
//! database and talks HTTP to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod access_control;
mod client_apps;
mod embedding;
mod faults;
mod hardening;
mod http_limits;
mod oauth;
mod operations;
mod warm_path;
