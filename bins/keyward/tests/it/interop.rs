//! Interop: Keyward driven by unmodified third-party clients — Python authlib and
//! PyJWT, Node openid-client and jose (scripts in `tests/interop/`), and the Rust
//! `oauth2` crate (here). `scripts/test` installs the Python and Node packages and sets
//! `KEYWARD_INTEROP_PYTHON` (a venv's python) and `KEYWARD_INTEROP_NODE` (the directory
//! with `node_modules`); with `KEYWARD_INTEROP_REQUIRED=1` a missing one fails the test,
//! otherwise it is skipped with a note (a plain `cargo test` on a machine without them).

use std::path::PathBuf;
use std::process::Command;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, IntrospectionUrl, RevocationUrl, StandardRevocableToken,
    TokenIntrospectionResponse, TokenResponse, TokenUrl,
};

use crate::harness::{register_jwks, App, ClientKey, Server};

/// Everything the scripts need: a server with an app for secrets, an app for
/// private_key_jwt (its private JWK), an introspector and a staging token.
struct Setup {
    server: Server,
    app: App,
    jwt_app: App,
    key: ClientKey,
    introspector: App,
    staging_token: String,
}

fn setup() -> Setup {
    let server = Server::start();
    let s = &server;
    s.create_role("default", "introspector", &["tokens:introspect"]);
    let app = s.create_app("default", "interop client", &[]);
    let jwt_app = s.create_app("default", "interop jwt client", &[]);
    let key = ClientKey::generate("interop-key");
    register_jwks(s, "default", &jwt_app, &key);
    let introspector = s.create_app("default", "interop introspector", &["introspector"]);
    s.create_environment("staging");
    let staging_app = s.create_app("staging", "interop staging", &[]);
    let staging_token = s.token(&staging_app);
    Setup {
        server,
        app,
        jwt_app,
        key,
        introspector,
        staging_token,
    }
}

fn tool(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("KEYWARD_INTEROP_REQUIRED").is_some() => {
            panic!("{var} is not set (scripts/test sets it)")
        }
        None => {
            eprintln!("skipped: {var} is not set (run ./scripts/test for the interop suite)");
            None
        }
    }
}

fn run(mut cmd: Command, setup: &Setup, what: &str) {
    let private = serde_json::Value::Object(setup.key.private.as_ref().clone()).to_string();
    cmd.env("KEYWARD_URL", &setup.server.base)
        .env("CLIENT_ID", &setup.app.client_id)
        .env("CLIENT_SECRET", &setup.app.client_secret)
        .env("JWT_CLIENT_ID", &setup.jwt_app.client_id)
        .env("JWT_PRIVATE_JWK", private)
        .env("INTROSPECTOR_ID", &setup.introspector.client_id)
        .env("INTROSPECTOR_SECRET", &setup.introspector.client_secret)
        .env("STAGING_TOKEN", &setup.staging_token);
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn python_authlib_and_pyjwt() {
    let Some(python) = tool("KEYWARD_INTEROP_PYTHON") else {
        return;
    };
    let setup = setup();
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("tests/interop/python/interop_test.py"));
    run(cmd, &setup, "python interop");
}

#[test]
fn node_openid_client_and_jose() {
    let Some(dir) = tool("KEYWARD_INTEROP_NODE") else {
        return;
    };
    let setup = setup();
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir).arg(dir.join("interop.mjs"));
    run(cmd, &setup, "node interop");
}

#[test]
fn rust_oauth2_crate() {
    let setup = setup();
    let s = &setup.server;
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = |app: &App, auth: AuthType| {
        BasicClient::new(ClientId::new(app.client_id.clone()))
            .set_client_secret(ClientSecret::new(app.client_secret.clone()))
            .set_token_uri(TokenUrl::new(s.url("/oauth2/token")).unwrap())
            .set_revocation_url(RevocationUrl::new(s.url("/oauth2/revoke")).unwrap())
            .set_introspection_url(IntrospectionUrl::new(s.url("/oauth2/introspect")).unwrap())
            .set_auth_type(auth)
    };
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let token = client(&setup.app, auth.clone())
            .exchange_client_credentials()
            .request(&http)
            .unwrap_or_else(|e| panic!("oauth2 crate, {auth:?}: {e:?}"));
        assert_eq!(s.status(token.access_token().secret()), 200, "{auth:?}");
    }
    let app_client = client(&setup.app, AuthType::BasicAuth);
    let token = app_client
        .exchange_client_credentials()
        .request(&http)
        .unwrap();
    let access = token.access_token().clone();
    let introspector = client(&setup.introspector, AuthType::BasicAuth);
    let found = introspector.introspect(&access).request(&http).unwrap();
    assert!(found.active());
    assert_eq!(
        found.client_id().map(|c| c.as_str()),
        Some(setup.app.client_id.as_str())
    );
    // The crate refuses a revocation URL that is not https (RFC 7009 §2.1 requires
    // TLS), and the test server speaks plain HTTP on loopback: it says so, and the
    // token is revoked by a plain form POST instead.
    let refused = app_client.revoke_token(StandardRevocableToken::AccessToken(access.clone()));
    assert!(matches!(
        refused,
        Err(oauth2::ConfigurationError::InsecureUrl("revocation"))
    ));
    assert_eq!(
        crate::harness::revoke(s, &setup.app, access.secret()).status(),
        200
    );
    let found = introspector.introspect(&access).request(&http).unwrap();
    assert!(!found.active());
    assert_eq!(s.status(access.secret()), 401);
}
