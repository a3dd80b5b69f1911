//! Signing-key rotation. A new key is stored (and so published in every instance's JWK
//! Set as they follow the change feed) at once, and signs only after
//! [`CoreConfig::key_publish_delay_secs`](crate::CoreConfig): resource servers caching
//! the JWK Set learn it before they meet a token it signed. Which key signs is decided
//! by the token's `iat` against the keys' creation times, so every instance switches at
//! the same moment. A key that stopped signing stays published until the last token it
//! signed has expired (lifetime + `key_retire_leeway_secs` after its successor started), then it is
//! retired: it leaves the JWK Set and verifies nothing more.

use chrono::{DateTime, Utc};
use keyward_store::ChangeSubject;

use crate::error::Error;
use crate::keys::generate_signing_key;
use crate::Keyward;

/// A key added by a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedKey {
    /// Its `kid`.
    pub kid: String,
    /// Its algorithm.
    pub algorithm: &'static str,
    /// When it was published.
    pub created_at: DateTime<Utc>,
    /// When it starts signing.
    pub signs_from: DateTime<Utc>,
}

impl Keyward {
    /// Adds a new signing key of the configured algorithm: published now, signing after
    /// the publish delay. Older keys keep verifying until [`Self::retire_signing_keys`]
    /// finds their last token expired.
    pub fn rotate_signing_key(&self, principal: &crate::Principal) -> Result<RotatedKey, Error> {
        let now = self.clock.now();
        let algorithm = self.config.algorithm;
        let master = self.master_key()?;
        let record = generate_signing_key(algorithm, &master, &mut self.rng(), now)
            .map_err(|e| Error::Internal(format!("signing key: {e}")))?;
        let signs_from = now + chrono::Duration::seconds(self.config.key_publish_delay_secs);
        self.audited(&crate::audit::Actor::of(principal), || {
            self.store.insert_signing_key(&record)?;
            let event =
                crate::audit::AuditEvent::new("signing_key.rotated", None, record.kid.clone())
                    .detail("algorithm", algorithm.as_str())
                    .detail("signs_from", signs_from.to_rfc3339());
            Ok(((), event))
        })?;
        self.changed(&ChangeSubject::SigningKeys);
        self.validator().reload_keys()?;
        log::info!(
            "rotated signing keys: new {} key {}",
            algorithm.as_str(),
            record.kid
        );
        Ok(RotatedKey {
            kid: record.kid,
            algorithm: algorithm.as_str(),
            created_at: now,
            signs_from,
        })
    }

    /// Retires keys of the signing algorithm that no longer sign and whose last token
    /// has expired: older than the key signing now, whose successor has signed for
    /// longer than a token lives (plus leeway). Returns how many were retired. The
    /// server calls this from its background thread.
    pub fn retire_signing_keys(&self) -> Result<usize, Error> {
        let now = self.clock.now().timestamp();
        let schedule = self.validator().keys().signing_schedule();
        let mut retire = Vec::new();
        // Each key may go once the key after it has been signing long enough.
        for pair in schedule.windows(2) {
            if let [(kid, _), (_, successor_from)] = pair {
                let last_token_expiry = successor_from
                    .saturating_add(self.config.token_lifetime_secs)
                    .saturating_add(self.config.key_retire_leeway_secs);
                if *successor_from <= now && last_token_expiry <= now {
                    retire.push(kid.clone());
                }
            }
        }
        if retire.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        self.store.transaction(&mut || {
            n = self.store.retire_signing_keys(&retire, self.clock.now())?;
            // Another instance may have retired them first: then nothing changed here.
            if n > 0 {
                let event =
                    crate::audit::AuditEvent::new("signing_key.retired", None, retire.join(","))
                        .detail("kids", retire.clone());
                self.append_audit(&crate::audit::Actor::server(), event)?;
            }
            Ok(())
        })?;
        if n > 0 {
            self.changed(&ChangeSubject::SigningKeys);
            self.validator().reload_keys()?;
            log::info!("retired {n} signing key(s) whose tokens have all expired");
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use zeroize::Zeroizing;

    use crate::testkit::TestCore;
    use crate::{ClientCredentials, CoreConfig, SecretMethod, TokenRequest};

    fn kid_of(t: &TestCore, id: &str, secret: &str) -> String {
        let token = t
            .core
            .issue_token(&TokenRequest {
                client: ClientCredentials::Secret {
                    client_id: id.into(),
                    client_secret: Zeroizing::new(secret.into()),
                    method: SecretMethod::Basic,
                },
                scope: None,
                resource: None,
                source: None,
            })
            .unwrap()
            .access_token;
        {
            use base64::Engine;
            let header = token.split('.').next().unwrap();
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            v["kid"].as_str().unwrap().to_owned()
        }
    }

    #[test]
    fn a_new_key_signs_after_the_publish_delay_and_the_old_one_retires_after_its_tokens() {
        let t = TestCore::new(CoreConfig {
            key_publish_delay_secs: 300,
            key_retire_leeway_secs: 60,
            token_lifetime_secs: 1000,
            token_reuse: false,
            ..CoreConfig::default()
        });
        let (id, secret) = t.app("bot", &[]);
        let old = kid_of(&t, &id, &secret);
        let rotated = t
            .core
            .rotate_signing_key(&crate::Principal::system())
            .unwrap();
        assert!(
            t.core.jwks_json().contains(&rotated.kid),
            "published at once"
        );
        assert_eq!(
            kid_of(&t, &id, &secret),
            old,
            "not signing before the delay"
        );
        t.clock.advance(Duration::seconds(299));
        assert_eq!(kid_of(&t, &id, &secret), old);
        t.clock.advance(Duration::seconds(1));
        assert_eq!(
            kid_of(&t, &id, &secret),
            rotated.kid,
            "signing after the delay"
        );
        // The old key's last token (issued at 299 s) expires at 1299 s; plus leeway.
        t.clock.advance(Duration::seconds(1059));
        assert_eq!(t.core.retire_signing_keys().unwrap(), 0);
        assert!(t.core.jwks_json().contains(&old));
        t.clock.advance(Duration::seconds(1));
        assert_eq!(t.core.retire_signing_keys().unwrap(), 1);
        assert!(
            !t.core.jwks_json().contains(&old),
            "retired keys leave the JWK Set"
        );
        assert!(t.core.jwks_json().contains(&rotated.kid));
    }
}
