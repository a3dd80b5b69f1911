//! The outbound HTTP client federation uses: reqwest's blocking client (core calls it
//! from blocking threads), TLS from the platform (OpenSSL, which josekit already links),
//! bounded connect and total timeouts, no redirects, bounded response sizes.

use std::io::Read;
use std::time::Duration;

use keyward_core::federation::{Upstream, UpstreamError};
use serde_json::Value;

/// The largest answer read from an identity provider (discovery documents and JWK Sets
/// are a few KiB).
const MAX_BODY: u64 = 256 * 1024;

/// reqwest behind [`Upstream`].
pub struct HttpUpstream {
    client: reqwest::blocking::Client,
}

impl HttpUpstream {
    /// A client with these timeouts.
    pub fn new(connect: Duration, total: Duration) -> anyhow::Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

fn failure(e: &reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout
    } else {
        // The error's text may name the URL, never a secret (secrets go in the body
        // or the Authorization header, which reqwest does not print).
        UpstreamError::Unreachable(if e.is_connect() {
            "connection failed".to_owned()
        } else {
            "request failed".to_owned()
        })
    }
}

fn read_body(response: reqwest::blocking::Response) -> Result<Vec<u8>, UpstreamError> {
    let mut body = Vec::new();
    response
        .take(MAX_BODY)
        .read_to_end(&mut body)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                UpstreamError::Timeout
            } else {
                UpstreamError::Unreachable("reading the answer failed".to_owned())
            }
        })?;
    Ok(body)
}

impl Upstream for HttpUpstream {
    fn get_json(&self, url: &str) -> Result<Value, UpstreamError> {
        let response = self
            .client
            .get(url)
            .header("Accept", "application/json")
            .send()
            .map_err(|e| failure(&e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(UpstreamError::Status(status));
        }
        let body = read_body(response)?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(UpstreamError::NotJson),
        }
    }

    fn post_form(
        &self,
        url: &str,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), UpstreamError> {
        // RFC 6749 §2.3.1: each part form-urlencoded before Basic encoding.
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let response = self
            .client
            .post(url)
            .basic_auth(encode(client_id), Some(encode(secret)))
            .header("Accept", "application/json")
            .form(form)
            .send()
            .map_err(|e| failure(&e))?;
        let status = response.status().as_u16();
        Ok((status, read_body(response)?))
    }
}
