//! Token revocation (RFC 7009). A revoked token's `jti` is stored until the token's own
//! `exp` (then pruned: an expired token fails anyway), and appended to the change feed,
//! so every validator — this process, other instances, embedded validators — adds it to
//! the set it refuses within one feed poll. The set lives in memory: checking it costs
//! nothing on the hot path. Token reuse consults the same set, so a revoked token is
//! never handed out again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use keyward_store::{ChangeSubject, LiveSource, RevokedToken};

use crate::access::CredentialKind;
use crate::error::Error;
use crate::issue::AuthenticatedClient;
use crate::sharded::Padded;
use crate::Keyward;

/// Revoked token IDs with their expiry (Unix seconds).
pub(crate) struct RevokedTokens {
    ids: RwLock<HashMap<String, i64>>,
    /// Moves on every addition (on a line of its own, away from the lock word): warm
    /// answers computed before it moved no longer hold.
    version: Padded<AtomicU64>,
}

impl RevokedTokens {
    /// The revoked tokens storage holds that have not expired at `now`.
    pub(crate) fn load(source: &dyn LiveSource, now: DateTime<Utc>) -> Result<Self, Error> {
        let tokens = Self {
            ids: RwLock::new(HashMap::new()),
            version: Padded(AtomicU64::new(0)),
        };
        tokens.reload(source, now)?;
        Ok(tokens)
    }

    fn reload(&self, source: &dyn LiveSource, now: DateTime<Utc>) -> Result<(), Error> {
        let fresh: HashMap<String, i64> = source
            .revoked_tokens(now)?
            .into_iter()
            .map(|t| (t.jti, t.expires_at.timestamp()))
            .collect();
        let mut ids = self
            .ids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *ids = fresh;
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Applies changes read from the feed: revocations join the set, an unreadable
    /// change (or pruned feed) reloads it whole. Expired entries are dropped meanwhile.
    pub(crate) fn follow(
        &self,
        changes: &[ChangeSubject],
        source: &dyn LiveSource,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        if changes.iter().any(|c| matches!(c, ChangeSubject::Unknown)) {
            return self.reload(source, now);
        }
        let mut ids = self
            .ids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for change in changes {
            if let ChangeSubject::TokenRevoked { jti, expires_at } = change {
                ids.insert(jti.clone(), expires_at.timestamp());
                self.version.fetch_add(1, Ordering::AcqRel);
            }
        }
        let now = now.timestamp();
        ids.retain(|_, exp| *exp >= now);
        Ok(())
    }

    /// Adds a token revoked by this process (before the feed brings it back).
    pub(crate) fn insert(&self, jti: &str, exp: i64) {
        let mut ids = self
            .ids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.insert(jti.to_owned(), exp);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// How many times the set has grown (or been reloaded).
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Whether the token with this `jti` was revoked.
    pub(crate) fn contains(&self, jti: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(jti)
    }
}

/// What a revocation request did (RFC 7009 §2.2: the answer is 200 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The token was revoked now.
    Revoked,
    /// Nothing to do: already revoked, expired, or not a token Keyward issued.
    Nothing,
    /// The token is an API key: they are deleted through the management API
    /// (`unsupported_token_type`).
    UnsupportedTokenType,
}

impl Keyward {
    /// Revokes an access token on behalf of the client it was issued to (RFC 7009). A
    /// token of another client is refused with [`Error::Forbidden`]
    /// (`unauthorized_client`); a token that is not a valid Keyward token, or already
    /// expired or revoked, needs nothing done. From the next call on the token fails
    /// everywhere: this process at once, other instances and embedded validators when
    /// they follow the change feed, and token reuse never hands it out again.
    pub fn revoke_token(
        &self,
        client: &AuthenticatedClient,
        token: &str,
        source: Option<std::net::IpAddr>,
    ) -> Result<Revocation, Error> {
        match CredentialKind::of(token) {
            Some(CredentialKind::AccessToken) => {}
            Some(CredentialKind::ApiKey) => return Ok(Revocation::UnsupportedTokenType),
            Some(CredentialKind::Personal) | None => return Ok(Revocation::Nothing),
        }
        let validator = self.validator();
        let claims = match crate::error::with_io(
            validator.signed_claims_step(token, crate::clock::Io::Allowed),
        ) {
            Ok(claims) => claims,
            Err(Error::Unauthenticated(_)) => return Ok(Revocation::Nothing),
            Err(e) => return Err(e),
        };
        if claims.client_id != client.client_id.as_str() {
            return Err(Error::Forbidden(
                "the token was issued to another client".into(),
            ));
        }
        let now = self.clock.now();
        if claims.exp <= now.timestamp() || validator.revoked().contains(&claims.jti) {
            return Ok(Revocation::Nothing);
        }
        let expires_at =
            DateTime::from_timestamp(claims.exp, 0).ok_or(Error::Internal("token exp".into()))?;
        let record = RevokedToken {
            jti: claims.jti.clone(),
            client_id: client.client_id.clone(),
            expires_at,
        };
        let actor = crate::audit::Actor {
            kind: keyward_store::AuditActorKind::ClientApp,
            name: client.client_id.as_str().to_owned(),
            address: source,
        };
        let mut revoked = false;
        self.store.transaction(&mut || {
            revoked = self.store.revoke_token(&record, now)?;
            // Already revoked (by another instance): nothing changed, nothing to record.
            if revoked {
                let event = crate::audit::AuditEvent::new(
                    "token.revoked",
                    Some(&client.environment.slug),
                    claims.jti.clone(),
                )
                .detail("client_id", client.client_id.as_str())
                .detail("expires_at", expires_at.to_rfc3339());
                self.append_audit(&actor, event)?;
            }
            Ok(())
        })?;
        validator.revoked().insert(&claims.jti, claims.exp);
        Ok(if revoked {
            Revocation::Revoked
        } else {
            Revocation::Nothing
        })
    }

    /// Drops revoked token IDs and client assertion IDs past their expiry (the server
    /// calls this from its background thread).
    pub fn prune_expired(&self) -> Result<usize, Error> {
        Ok(self.store.prune_expired(self.clock.now())?)
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use crate::testkit::TestCore;
    use crate::{ClientCredentials, CoreConfig, Error, Revocation, SecretMethod, TokenRequest};

    fn secret(id: &str, secret: &str) -> ClientCredentials {
        ClientCredentials::Secret {
            client_id: id.into(),
            client_secret: Zeroizing::new(secret.into()),
            method: SecretMethod::Basic,
        }
    }

    fn request(id: &str, s: &str) -> TokenRequest {
        TokenRequest {
            client: secret(id, s),
            scope: None,
            resource: None,
            source: None,
        }
    }

    #[test]
    fn a_revoked_token_is_refused_and_never_reused() {
        let t = TestCore::new(CoreConfig::default());
        let (id, s) = t.app("bot", &["orders:read"]);
        let token = t.core.issue_token(&request(&id, &s)).unwrap().access_token;
        let client = t.core.authenticate_client(&secret(&id, &s), None).unwrap();
        assert_eq!(
            t.core.revoke_token(&client, &token, None).unwrap(),
            Revocation::Revoked
        );
        assert!(matches!(
            t.core.validator().authenticate(&token),
            Err(Error::Unauthenticated("token revoked"))
        ));
        let again = t.core.issue_token(&request(&id, &s)).unwrap().access_token;
        assert_ne!(again, token, "reuse handed out the revoked token");
        assert_eq!(
            t.core.revoke_token(&client, &token, None).unwrap(),
            Revocation::Nothing
        );
        // Another client may not revoke it.
        let (other, os) = t.app("other", &[]);
        let other = t
            .core
            .authenticate_client(&secret(&other, &os), None)
            .unwrap();
        assert!(matches!(
            t.core.revoke_token(&other, &again, None),
            Err(Error::Forbidden(_))
        ));
    }
}
