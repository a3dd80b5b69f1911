//! RFC 8414 metadata and OpenID-style discovery, per environment: every URL comes from
//! `server.public_url`, each environment is an issuer of its own, and the methods
//! listed are exactly the ones that work.

use serde_json::Value;

use crate::harness::{header, Server};

const PUBLIC: &str = "https://keyward.example.com";

fn metadata(s: &Server, path: &str) -> Value {
    let res = s.http().get(s.url(path)).send().expect("metadata");
    assert_eq!(res.status(), 200, "{path}");
    res.json().expect("json")
}

#[test]
fn metadata_is_served_at_both_well_known_paths_from_the_public_url() {
    let s = Server::start_with(&[("KEYWARD__SERVER__PUBLIC_URL", PUBLIC)]);
    let rfc8414 = metadata(&s, "/.well-known/oauth-authorization-server");
    let oidc = metadata(&s, "/.well-known/openid-configuration");
    assert_eq!(rfc8414, oidc, "the same document at both paths");
    assert_eq!(rfc8414["issuer"], PUBLIC);
    assert_eq!(rfc8414["token_endpoint"], format!("{PUBLIC}/oauth2/token"));
    assert_eq!(
        rfc8414["jwks_uri"],
        format!("{PUBLIC}/.well-known/jwks.json")
    );
    assert_eq!(
        rfc8414["introspection_endpoint"],
        format!("{PUBLIC}/oauth2/introspect")
    );
    assert_eq!(
        rfc8414["revocation_endpoint"],
        format!("{PUBLIC}/oauth2/revoke")
    );
    assert_eq!(
        rfc8414["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        rfc8414["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        rfc8414["access_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    for alg in rfc8414["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap()
    {
        assert_ne!(alg, "none");
        assert!(!alg.as_str().unwrap().starts_with("HS"), "{alg}");
    }
}

#[test]
fn every_environment_is_an_issuer_with_its_own_metadata() {
    let s = Server::start();
    s.create_environment("staging");
    let insert = metadata(
        &s,
        "/.well-known/oauth-authorization-server/environments/staging",
    );
    let append = metadata(&s, "/environments/staging/.well-known/openid-configuration");
    let append2 = metadata(
        &s,
        "/environments/staging/.well-known/oauth-authorization-server",
    );
    assert_eq!(insert, append);
    assert_eq!(insert, append2);
    assert_eq!(insert["issuer"], s.url("/environments/staging"));
    // The endpoints are shared: a client ID names its environment.
    assert_eq!(insert["token_endpoint"], s.url("/oauth2/token"));
    // `default` keeps the server's own URL, at both shapes.
    assert_eq!(
        metadata(&s, "/environments/default/.well-known/openid-configuration")["issuer"],
        s.base
    );
    // Unknown environments are not issuers.
    for path in [
        "/.well-known/oauth-authorization-server/environments/nope",
        "/environments/nope/.well-known/openid-configuration",
    ] {
        let res = s.http().get(s.url(path)).send().unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
}

#[test]
fn metadata_answers_head_and_refuses_other_methods_with_allow() {
    let s = Server::start();
    let head = s
        .http()
        .head(s.url("/.well-known/openid-configuration"))
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    let post = s
        .http()
        .post(s.url("/.well-known/openid-configuration"))
        .send()
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(
        header(&post, "allow").as_deref(),
        Some("GET, HEAD, OPTIONS")
    );
    for path in ["/oauth2/introspect", "/oauth2/revoke"] {
        let get = s.http().get(s.url(path)).send().unwrap();
        assert_eq!(get.status(), 405, "{path}");
        assert_eq!(
            header(&get, "allow").as_deref(),
            Some("POST, OPTIONS"),
            "{path}"
        );
    }
}
