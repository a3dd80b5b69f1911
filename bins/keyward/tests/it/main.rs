//! Integration tests: each test starts the real `keyward` binary on a temporary database
//! and talks HTTP to it. Shared steps and assertions live in the harness, and storage is
//! reached only through `Server::db()` (harness/db.rs), so the suite can run on each
//! backend (SQLite by default; `KEYWARD_TEST_BACKEND=postgres` with
//! `KEYWARD_TEST_POSTGRES_URL` gives every server a fresh PostgreSQL database); the few
//! tests about the SQLite file itself say `SQLite-only` and skip themselves on
//! PostgreSQL, and the multi-instance suite runs on PostgreSQL only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod harness;

// Management API: access control.
mod access_routes;
mod admins;
mod apps_as_admins;
mod authorize_endpoint;
mod environments_access;
mod escalation;
mod live_permissions;
mod roles;

// Management API: client apps.
mod client_app_creation;
mod client_app_lifecycle;
mod client_app_listing;

// Management API: API keys and secret rotation.
mod api_keys;
mod secret_rotation;

// Users and federation (SPEC §6, §7).
mod federation;
mod users;

// The web console (SPEC §8), in a real headless Chromium.
mod console;

// Remote validators (SPEC §10).
mod remote_validator;

// OAuth.
mod audiences;
mod client_auth_methods;
mod client_authentication;
mod cors;
mod discovery;
mod interop;
mod introspection;
mod revocation;
mod signing_keys;
mod status_endpoint;
mod token_endpoint;
mod token_format;

// The audit log (SPEC §12).
mod audit;

// Running Keyward.
mod backup;
mod cli;
mod database_urls;
mod embedding;
mod faults;
mod hardening;
mod http_limits;
mod metrics;
mod multi_instance;
mod multi_instance_standards;
mod openapi;
mod operations;
mod warm_path;
