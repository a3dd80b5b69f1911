//! The tokens themselves (RFC 9068): ES256 JWTs by default, EdDSA or RS256 by setting,
//! each signed by a key the JWKS publishes, with the claims the SPEC lists.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::harness::{jwt_parts, Server};

#[test]
fn tokens_are_rfc9068_es256_jwts_signed_by_a_key_in_the_jwks() {
    let s = Server::start();
    s.create_role("default", "reader", &["orders:read"]);
    let app = s.create_app("default", "jwt app", &["reader"]);
    let res = s.get_anonymous("/.well-known/jwks.json");
    assert_eq!(res.status(), 200);
    let jwks: Value = res.json().expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for k in keys {
        assert_eq!(k["kty"], "EC");
        assert_eq!(k["crv"], "P-256");
        assert_eq!(k["alg"], "ES256");
        assert_eq!(k["use"], "sig");
        assert!(k["x"].is_string() && k["y"].is_string() && k["kid"].is_string());
        assert!(k.get("d").is_none(), "no private key material in the JWKS");
    }

    let token = s.token(&app);
    let (header, claims) = jwt_parts(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let kid = header["kid"].as_str().expect("kid");
    assert!(
        keys.iter().any(|k| k["kid"] == kid),
        "kid {kid} is in the JWKS"
    );

    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["sub"], app.client_id.as_str());
    assert_eq!(claims["client_id"], app.client_id.as_str());
    assert!(!claims["aud"].is_null(), "aud is set");
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["env"], "default");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let (iat, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["exp"].as_i64().expect("exp"),
    );
    assert_eq!(exp - iat, 86400);
}

#[test]
fn eddsa_and_rs256_settings_issue_tokens_of_that_algorithm_that_pass_status() {
    for (setting, kty) in [("EdDSA", "OKP"), ("RS256", "RSA")] {
        let s = Server::start_with(&[("KEYWARD__TOKENS__ALGORITHM", setting)]);
        let app = s.create_app("default", "algorithm app", &[]);
        let token = s.token(&app);
        let (header, _) = jwt_parts(&token);
        assert_eq!(header["alg"], setting);
        assert_eq!(header["typ"], "at+jwt");
        let jwks: Value = s
            .get_anonymous("/.well-known/jwks.json")
            .json()
            .expect("json");
        let key = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .cloned()
            .expect("the token's kid is in the JWKS");
        assert_eq!(key["kty"], kty, "{setting}");
        assert_eq!(key["alg"], setting);
        assert_eq!(s.status(&token), 200, "{setting}");
        // Tampering is still caught with this algorithm.
        let p: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode([7u8; 64]));
        assert_eq!(s.status(&forged), 401, "{setting}: forged signature");
    }
}
