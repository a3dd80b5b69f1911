//! A token client for client apps: the client credentials grant, the token cached and
//! renewed before it expires, retries with backoff on 429 and 503.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use zeroize::Zeroizing;

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Keyward refused the client (401 `invalid_client`, 400 `invalid_scope`, …): the
    /// OAuth error code and description.
    #[error("refused: {error} ({description})")]
    Refused {
        /// The RFC 6749 §5.2 error code.
        error: String,
        /// Its description.
        description: String,
    },
    /// Keyward kept answering 429/503 (or nothing) through every retry.
    #[error("unavailable after {attempts} attempts: {last}")]
    Unavailable {
        /// How many requests were made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

struct Cached {
    token: Zeroizing<String>,
    renew_at: Instant,
}

/// Gets and keeps a client app's access token.
pub struct TokenClient {
    http: reqwest::blocking::Client,
    token_url: String,
    client_id: String,
    secret: Zeroizing<String>,
    scope: Option<String>,
    max_attempts: u32,
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenClient {
    /// A client for Keyward at `base_url` (its token endpoint is
    /// `{base_url}/oauth2/token`) with this app's credentials.
    pub fn new(base_url: &str, client_id: &str, client_secret: &str) -> Self {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_else(|_| reqwest::blocking::Client::new());
        Self {
            http,
            token_url: format!("{}/oauth2/token", base_url.trim_end_matches('/')),
            client_id: client_id.to_owned(),
            secret: Zeroizing::new(client_secret.to_owned()),
            scope: None,
            max_attempts: 6,
            cached: Mutex::new(None),
        }
    }

    /// Asks for a down-scoped token (space-separated permissions).
    pub fn with_scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.to_owned());
        self
    }

    /// At most this many requests per [`Self::token`] call (default 6).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// A valid token: the cached one until 80 % of its lifetime has passed (so it is
    /// renewed before it expires), else a new one.
    pub fn token(&self) -> Result<String, TokenError> {
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.to_string());
        }
        let (token, lifetime) = self.fetch()?;
        let renew_after = Duration::from_secs(lifetime.saturating_mul(4) / 5);
        *cached = Some(Cached {
            token: Zeroizing::new(token.clone()),
            renew_at: Instant::now() + renew_after,
        });
        Ok(token)
    }

    /// Forgets the cached token (after a 401 from a resource server, say).
    pub fn invalidate(&self) {
        *self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn fetch(&self) -> Result<(String, u64), TokenError> {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.as_str()));
        }
        let mut backoff = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            let sent = self
                .http
                .post(&self.token_url)
                .basic_auth(encode(&self.client_id), Some(encode(&self.secret)))
                .form(&form)
                .send();
            let wait = match sent {
                Err(e) => {
                    last = if e.is_timeout() {
                        "timed out".into()
                    } else {
                        "connection failed".into()
                    };
                    backoff
                }
                Ok(res) => {
                    let status = res.status().as_u16();
                    let retry_after = res
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match status {
                        200 => {
                            let body: TokenBody =
                                res.json().map_err(|_| TokenError::Unavailable {
                                    attempts: attempt,
                                    last: "a 200 that is not a token response".into(),
                                })?;
                            return Ok((body.access_token, body.expires_in));
                        }
                        429 | 503 => {
                            last = format!("HTTP {status}");
                            retry_after.unwrap_or(backoff).min(Duration::from_secs(30))
                        }
                        _ => {
                            let body: Option<ErrorBody> = res.json().ok();
                            return Err(TokenError::Refused {
                                error: body
                                    .as_ref()
                                    .map_or_else(|| format!("HTTP {status}"), |b| b.error.clone()),
                                description: body.map(|b| b.error_description).unwrap_or_default(),
                            });
                        }
                    }
                }
            };
            if attempt < self.max_attempts {
                std::thread::sleep(wait);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        Err(TokenError::Unavailable {
            attempts: self.max_attempts,
            last,
        })
    }
}
