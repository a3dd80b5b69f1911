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
    pub fn rotate_signing_key(&self) -> Result<RotatedKey, Error> {
        let now = self.clock.now();
        let algorithm = self.config.algorithm;
        let master = self.master_key()?;
        let record = generate_signing_key(algorithm, &master, &mut self.rng(), now)
            .map_err(|e| Error::Internal(format!("signing key: {e}")))?;
        self.store.insert_signing_key(&record)?;
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
            signs_from: now + chrono::Duration::seconds(self.config.key_publish_delay_secs),
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
        let n = self.store.retire_signing_keys(&retire, self.clock.now())?;
        if n > 0 {
            self.changed(&ChangeSubject::SigningKeys);
            self.validator().reload_keys()?;
            log::info!("retired {n} signing key(s) whose tokens have all expired");
        }
        Ok(n)
    }
}
