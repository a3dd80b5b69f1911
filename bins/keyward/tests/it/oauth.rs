//! Smoke test of the harness (the full OAuth suite is written next to it).

use crate::harness::Server;

#[test]
fn a_created_app_gets_a_token_that_passes_status() {
    let s = Server::start();
    let app = s.create_app("default", "smoke app", &[]);
    let token = s.token(&app);
    assert_eq!(s.status(&token), 200);
}
