//! Token introspection (RFC 7662): a client app holding `tokens:introspect` asks
//! whether a token is active *now*, and what it says. The answer comes from the same
//! checks every use of a token meets — signature, issuer, lifetime, revocation, and the
//! app's live status and environment — so a deactivated app, a disabled environment, a
//! revoked or an expired token are all `{"active": false}`. Tokens of every audience
//! are reported (a resource server introspects tokens issued for it), and API keys too.
//!
//! A caller sees the tokens of its own environment; a global caller (an app holding
//! Super Admin) sees every environment's. Any other token is simply inactive to it.

use keyward_domain::Permission;

use crate::access::{AppCredential, CredentialKind, PrincipalKind};
use crate::clock::Io;
use crate::error::{from_memory, with_io, Error, Step, Stop};
use crate::issue::AuthenticatedClient;
use crate::issuers::environment_issuer;
use crate::ClientCredentials;
use crate::Keyward;

/// The permission an app needs to introspect.
pub const INTROSPECT_PERMISSION: &str = "tokens:introspect";

/// What introspection says about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// Not active (or not visible to the caller): `{"active": false}` and nothing else.
    Inactive,
    /// Active, with what it says.
    Active(Box<ActiveToken>),
}

/// The fields of an active token (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    /// The app's client ID.
    pub client_id: String,
    /// The subject (= `client_id`).
    pub sub: String,
    /// The token's scope (`None` for an API key: it has none).
    pub scope: Option<String>,
    /// Expiry (Unix seconds), when it has one.
    pub exp: Option<i64>,
    /// Issued at (Unix seconds), for access tokens.
    pub iat: Option<i64>,
    /// Audience, for access tokens.
    pub aud: Option<String>,
    /// Issuer: the issuer of the app's environment.
    pub iss: String,
    /// `Bearer` for access tokens, `api_key` for API keys.
    pub token_type: &'static str,
    /// The app's environment.
    pub env: String,
    /// The token's `jti` (access tokens).
    pub jti: Option<String>,
}

impl Keyward {
    /// Introspects `token` for `caller`, which must hold `tokens:introspect`
    /// ([`Error::Forbidden`] otherwise). May read storage (a cache miss).
    pub fn introspect(
        &self,
        caller: &AuthenticatedClient,
        token: &str,
    ) -> Result<Introspection, Error> {
        with_io(self.introspect_step(caller, token, Io::Allowed))
    }

    /// Authenticates the caller and introspects `token` from memory only: `None` when
    /// an answer needs storage or a secret verification (then authenticate with
    /// [`Keyward::authenticate_client`] and call [`Keyward::introspect`] on a thread
    /// that may block). A resource server that introspects every call is served here.
    pub fn introspect_from_memory(
        &self,
        credentials: &ClientCredentials,
        source: Option<std::net::IpAddr>,
        token: &str,
    ) -> Option<Result<Introspection, Error>> {
        from_memory(
            self.authenticate_client_step(credentials, source, Io::Forbidden)
                .and_then(|caller| self.introspect_step(&caller, token, Io::Forbidden)),
        )
    }

    fn introspect_step(
        &self,
        caller: &AuthenticatedClient,
        token: &str,
        io: Io,
    ) -> Step<Introspection> {
        let needed =
            Permission::parse(INTROSPECT_PERMISSION).map_err(|e| Error::Internal(e.to_string()))?;
        let (grants, global) = self
            .validator()
            .live()
            .grants_of(&caller.app.role_ids, io)?;
        if !grants.allows(&needed) {
            return Err(Error::Forbidden(format!("requires `{INTROSPECT_PERMISSION}`")).into());
        }
        let answer = match CredentialKind::of(token) {
            Some(CredentialKind::AccessToken) => self.introspect_access_token(token, io),
            Some(CredentialKind::ApiKey) => self.introspect_api_key(token, io),
            Some(CredentialKind::Personal) | None => Ok(Introspection::Inactive),
        };
        let answer = match answer {
            Err(Stop::Failed(Error::Unauthenticated(_))) => Introspection::Inactive,
            other => other?,
        };
        Ok(match answer {
            Introspection::Active(t) if global || t.env == caller.environment.slug.as_str() => {
                Introspection::Active(t)
            }
            _ => Introspection::Inactive,
        })
    }

    fn introspect_access_token(&self, token: &str, io: Io) -> Step<Introspection> {
        let validator = self.validator();
        let claims = validator.signed_claims_step(token, io)?;
        validator.check_claims(&claims, false)?;
        validator.token_principal(&claims, io)?;
        Ok(Introspection::Active(Box::new(ActiveToken {
            client_id: claims.client_id.clone(),
            sub: claims.sub.clone(),
            scope: Some(claims.scope.clone()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            aud: Some(claims.aud.clone()),
            iss: claims.iss.clone(),
            token_type: "Bearer",
            env: claims.env.clone(),
            jti: Some(claims.jti.clone()),
        })))
    }

    fn introspect_api_key(&self, token: &str, io: Io) -> Step<Introspection> {
        let principal = self.validator().authenticate_step(token, io)?;
        let PrincipalKind::App {
            client_id,
            environment,
            credential: AppCredential::ApiKey { .. },
            ..
        } = &principal.kind
        else {
            return Ok(Introspection::Inactive);
        };
        let digest = crate::secret::ApiKeySecret::parse(token)
            .map_err(|_| Error::Unauthenticated("invalid token"))?
            .digest();
        let expires = self
            .validator()
            .live()
            .api_key(&digest, io)?
            .and_then(|k| k.expires_at)
            .map(|t| t.timestamp());
        Ok(Introspection::Active(Box::new(ActiveToken {
            client_id: client_id.as_str().to_owned(),
            sub: client_id.as_str().to_owned(),
            scope: None,
            exp: expires,
            iat: None,
            aud: None,
            iss: environment_issuer(&self.config.issuer, environment.as_str()),
            token_type: "api_key",
            env: environment.as_str().to_owned(),
            jti: None,
        })))
    }
}
