//! Steps the OAuth-standards suites share: form posts to introspection and revocation,
//! reading a JWT's header and claims, and making `private_key_jwt` assertions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{JwsHeader, ES256};
use josekit::jwt::{self, JwtPayload};
use reqwest::blocking::Response;
use serde_json::{json, Value};

use super::{basic, App, Server, FORM};

/// A form POST to an OAuth endpoint with client_secret_basic as `app`.
pub fn post_form_as(s: &Server, path: &str, app: &App, form: &[(&str, &str)]) -> Response {
    s.http()
        .post(s.url(path))
        .header(
            reqwest::header::AUTHORIZATION,
            basic(&app.client_id, &app.client_secret),
        )
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(encode_form(form))
        .send()
        .expect("form post")
}

/// A form POST with no Authorization header (credentials, if any, in the form).
pub fn post_form(s: &Server, path: &str, form: &[(&str, &str)]) -> Response {
    s.http()
        .post(s.url(path))
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(encode_form(form))
        .send()
        .expect("form post")
}

pub fn encode_form(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", super::urlencode(k), super::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `POST /oauth2/introspect` as `caller`; panics unless 200; the JSON answer.
pub fn introspect(s: &Server, caller: &App, token: &str) -> Value {
    let res = post_form_as(s, "/oauth2/introspect", caller, &[("token", token)]);
    assert_eq!(res.status(), 200, "introspection");
    assert_eq!(
        super::header(&res, "cache-control").as_deref(),
        Some("no-store")
    );
    res.json().expect("json")
}

/// `POST /oauth2/revoke` of `token` by `app`.
pub fn revoke(s: &Server, app: &App, token: &str) -> Response {
    post_form_as(s, "/oauth2/revoke", app, &[("token", token)])
}

fn part(token: &str, i: usize) -> Value {
    let text = token.split('.').nth(i).expect("JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).expect("base64url")).expect("JSON")
}

/// A JWT's claims (unverified: for assertions about what it says).
pub fn claims(token: &str) -> Value {
    part(token, 1)
}

/// A JWT's header.
pub fn jose_header(token: &str) -> Value {
    part(token, 0)
}

/// An EC P-256 key pair for `private_key_jwt`, with a `kid`.
pub struct ClientKey {
    pub kid: String,
    pair: Box<dyn josekit::jws::JwsSigner>,
    public: Jwk,
    pub private: Jwk,
}

impl ClientKey {
    pub fn generate(kid: &str) -> ClientKey {
        let pair = ES256.generate_key_pair().expect("key pair");
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        let mut private = pair.to_jwk_key_pair();
        private.set_key_id(kid);
        let signer = ES256.signer_from_jwk(&private).expect("signer");
        ClientKey {
            kid: kid.to_owned(),
            pair: Box::new(signer),
            public,
            private,
        }
    }

    /// The public JWK Set to register.
    pub fn jwks(&self) -> Value {
        json!({"keys": [Value::Object(self.public.as_ref().clone())]})
    }

    /// An assertion with these claims (`iss`/`sub`/`aud`/`exp`/`jti` as given).
    pub fn sign(&self, claims: Value) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(&self.kid);
        let map = claims.as_object().expect("claims object").clone();
        let payload = JwtPayload::from_map(map).expect("payload");
        jwt::encode_with_signer(&payload, &header, &*self.pair).expect("sign")
    }

    /// A well-formed assertion for `client_id`, addressed to `aud`, valid `lifetime` s.
    pub fn assertion(&self, client_id: &str, aud: &str, lifetime: i64, jti: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "iat": now, "exp": now + lifetime, "jti": jti,
        }))
    }
}

/// Registers `key`'s public JWK Set on `app`; panics unless 200.
pub fn register_jwks(s: &Server, env: &str, app: &App, key: &ClientKey) {
    let res = s.put(
        &format!("{}/jwks", s.app_path(env, app)),
        &s.admin,
        key.jwks(),
    );
    let status = res.status();
    assert_eq!(
        status,
        200,
        "register JWKS: {}",
        res.text().unwrap_or_default()
    );
}

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A token request authenticated by `private_key_jwt`.
pub fn token_with_assertion(s: &Server, assertion: &str, extra: &[(&str, &str)]) -> Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    post_form(s, "/oauth2/token", &form)
}
