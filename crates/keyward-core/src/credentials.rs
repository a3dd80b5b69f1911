//! Use cases on a client app's credentials: API keys (create, list, delete) and secret
//! rotation with a grace period (rotate, list, end the previous secret early).
//!
//! Handing out or ending a credential of an app is acting *as* that app, so each of
//! these refuses a caller who does not hold every management permission the app holds
//! (as deactivating or deleting it does): `api_keys:manage` alone never mints a key of
//! an app that may manage admins.

use chrono::{DateTime, Utc};
use keyward_domain::{
    api_key_expiry, grace_period, live_at, ApiKey, ApiKeyName, AppSecret, CredentialId,
    ValidationError, DEFAULT_GRACE_PERIOD_SECS,
};
use keyward_store::{ChangeSubject, NewApiKey, NewSecret, StoreError};

use crate::audit::{Actor, AuditEvent};
use crate::error::{Error, Resource};
use crate::roles::ensure_no_escalation;
use crate::secret::{generate_credential_id, ApiKeySecret, ClientSecret};
use crate::{Keyward, Principal};

/// A newly created API key and the key itself, which is shown this once and never again.
#[derive(Debug)]
pub struct CreatedApiKey {
    /// The key as listed (never the key text).
    pub key: ApiKey,
    /// The key (zeroized on drop; `<hidden>` in `Debug`).
    pub api_key: ApiKeySecret,
}

/// A rotation's outcome: the new secret, shown this once, and when the previous one ends.
#[derive(Debug)]
pub struct RotatedSecret {
    /// The new current secret (zeroized on drop; `<hidden>` in `Debug`).
    pub client_secret: ClientSecret,
    /// When the previous secret stops working (now, for a grace period of 0).
    pub previous_secret_expires_at: DateTime<Utc>,
}

impl Keyward {
    /// Hashes a new secret for storage, with a new public identifier and its hint.
    pub(crate) fn new_secret(&self, secret: &ClientSecret) -> Result<NewSecret, Error> {
        Ok(NewSecret {
            id: generate_credential_id(&mut self.rng()),
            hash: self
                .hasher
                .hash(secret.expose().as_bytes(), &mut self.rng())?,
            hint: secret.hint().to_owned(),
        })
    }

    /// Creates an API key for an app: a name unique in the app (case-insensitively), an
    /// optional expiry in the future (RFC 3339), inside the per-app quota. The key is
    /// returned this once; only its SHA-256 digest is stored.
    pub fn create_api_key(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
        name: &str,
        expires_at: Option<&str>,
    ) -> Result<CreatedApiKey, Error> {
        let (env, app) = self.app(env, client_id)?;
        let now = self.clock.now();
        let mut errors = Vec::new();
        let name = ApiKeyName::parse(name).map_err(|e| errors.push(e)).ok();
        let expires_at = match expires_at {
            None => Some(None),
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    ValidationError::new("expires_at", "must be an RFC 3339 date and time")
                })
                .and_then(|t| api_key_expiry(t.with_timezone(&Utc), now))
                .map(Some)
                .map_err(|e| errors.push(e))
                .ok(),
        };
        let (Some(name), Some(expires_at), true) = (name, expires_at, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        let api_key = ApiKeySecret::generate(&mut self.rng());
        let new = NewApiKey {
            id: generate_credential_id(&mut self.rng()),
            app: app.id,
            name,
            digest: api_key.digest(),
            expires_at,
        };
        let key = self
            .audited(&Actor::of(principal), || {
                let key = self.store.create_api_key(&new, self.config.quota, now)?;
                let event = AuditEvent::new("api_key.created", Some(&env.slug), key.id.as_str())
                    .detail("client_id", app.client_id.as_str())
                    .detail("name", key.name.as_str())
                    .detail("expires_at", key.expires_at.map(|t| t.to_rfc3339()));
                Ok((key, event))
            })
            .map_err(|e| match e {
                StoreError::QuotaReached => {
                    Error::ApiKeyQuotaReached(self.config.quota.api_keys_per_app)
                }
                StoreError::NotFound => Error::NotFound(Resource::ClientApp),
                other => Error::from_store(other, Resource::ApiKey),
            })?;
        self.changed(&ChangeSubject::ApiKey(key.id.clone()));
        Ok(CreatedApiKey { key, api_key })
    }

    /// The API keys of an app, oldest first (never the key text), with last uses this
    /// process has not written yet.
    pub fn list_api_keys(&self, env: &str, client_id: &str) -> Result<Vec<ApiKey>, Error> {
        let (_, app) = self.app(env, client_id)?;
        let mut keys = self.store.list_api_keys(app.id)?;
        for key in &mut keys {
            key.last_used_at = key
                .last_used_at
                .max(self.caches.usage.pending_api_key(&key.id));
        }
        Ok(keys)
    }

    /// Deletes an API key: it fails from the next call on, here at once and on other
    /// instances as soon as they follow the change feed.
    pub fn delete_api_key(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
        key_id: &str,
    ) -> Result<(), Error> {
        let (env, app) = self.app(env, client_id)?;
        let id =
            CredentialId::parse(key_id, "id").map_err(|_| Error::NotFound(Resource::ApiKey))?;
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        self.audited(&Actor::of(principal), || {
            self.store.delete_api_key(app.id, &id, self.clock.now())?;
            let event = AuditEvent::new("api_key.deleted", Some(&env.slug), id.as_str())
                .detail("client_id", app.client_id.as_str());
            Ok(((), event))
        })
        .map_err(|e| Error::from_store(e, Resource::ApiKey))?;
        self.changed(&ChangeSubject::ApiKey(id));
        Ok(())
    }

    /// Rotates an app's secret: a new secret (returned this once) becomes the current
    /// one; the current one keeps working for `grace_period_seconds` (default a day,
    /// 0 to 30 days) and then fails by itself; a previous secret still in its grace
    /// period ends at once, so at most two secrets ever live.
    pub fn rotate_secret(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
        grace_period_seconds: Option<i64>,
    ) -> Result<RotatedSecret, Error> {
        let (env, app) = self.app(env, client_id)?;
        let grace = grace_period(grace_period_seconds.unwrap_or(DEFAULT_GRACE_PERIOD_SECS))
            .map_err(Error::invalid)?;
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        let client_secret = ClientSecret::generate(&mut self.rng());
        let new = self.new_secret(&client_secret)?;
        // The clock is read after hashing, so the grace period is counted from the
        // moment the new secret exists.
        let now = self.clock.now();
        let previous_secret_expires_at = now + grace;
        // Microseconds, as storage keeps them: the answer and the list agree.
        let previous_secret_expires_at =
            DateTime::<Utc>::from_timestamp_micros(previous_secret_expires_at.timestamp_micros())
                .unwrap_or(previous_secret_expires_at);
        self.audited(&Actor::of(principal), || {
            self.store
                .rotate_app_secret(app.id, &new, previous_secret_expires_at, now)?;
            let event = AuditEvent::new("secret.rotated", Some(&env.slug), app.client_id.as_str())
                .detail("secret_id", new.id.as_str())
                .detail(
                    "previous_secret_expires_at",
                    previous_secret_expires_at.to_rfc3339(),
                );
            Ok(((), event))
        })
        .map_err(|e| Error::from_store(e, Resource::ClientApp))?;
        self.changed(&ChangeSubject::App(app.client_id));
        Ok(RotatedSecret {
            client_secret,
            previous_secret_expires_at,
        })
    }

    /// The live secrets of an app: the current one first, then the previous one while
    /// its grace period lasts (never a secret or its hash).
    pub fn list_secrets(&self, env: &str, client_id: &str) -> Result<Vec<AppSecret>, Error> {
        let (_, app) = self.app(env, client_id)?;
        let now = self.clock.now();
        let mut secrets = self.store.list_app_secrets(app.id)?;
        secrets.retain(|s| live_at(s.expires_at, now));
        for secret in &mut secrets {
            secret.last_used_at = secret
                .last_used_at
                .max(self.caches.usage.pending_secret(&secret.id));
        }
        Ok(secrets)
    }

    /// Ends an app's previous secret now (409 for the current one, which only a
    /// rotation replaces; 404 for one unknown or already ended).
    pub fn end_secret(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
        secret_id: &str,
    ) -> Result<(), Error> {
        let (env, app) = self.app(env, client_id)?;
        let id = CredentialId::parse(secret_id, "id")
            .map_err(|_| Error::NotFound(Resource::ClientSecret))?;
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        let now = self.clock.now();
        // A previous secret past its end is already gone, as far as anyone can tell.
        if self
            .store
            .list_app_secrets(app.id)?
            .iter()
            .any(|s| s.id == id && !live_at(s.expires_at, now))
        {
            return Err(Error::NotFound(Resource::ClientSecret));
        }
        self.audited(&Actor::of(principal), || {
            self.store.end_app_secret(app.id, &id, now)?;
            let event = AuditEvent::new("secret.ended", Some(&env.slug), app.client_id.as_str())
                .detail("secret_id", id.as_str());
            Ok(((), event))
        })
        .map_err(|e| Error::from_store(e, Resource::ClientSecret))?;
        self.changed(&ChangeSubject::App(app.client_id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use keyward_domain::{AppStatus, Permission};
    use zeroize::Zeroizing;

    use crate::testkit::TestCore;
    use crate::{ClientCredentials, CoreConfig, Error, Principal, SecretMethod, TokenRequest};

    fn request(client_id: &str, secret: &str) -> TokenRequest {
        TokenRequest {
            client: ClientCredentials::Secret {
                client_id: client_id.to_owned(),
                client_secret: Zeroizing::new(secret.to_owned()),
                method: SecretMethod::Basic,
            },
            scope: None,
            resource: None,
            source: "10.0.0.1".parse().ok(),
        }
    }

    fn gets_token(t: &TestCore, id: &str, secret: &str) -> bool {
        match t.core.issue_token(&request(id, secret)) {
            Ok(_) => true,
            Err(Error::InvalidClient) => false,
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn the_previous_secret_works_until_its_grace_ends_even_when_verified_before() {
        let t = TestCore::new(CoreConfig::default());
        let (id, old) = t.app("bot", &["orders:read"]);
        // Warm: the old secret's verification is cached.
        assert!(gets_token(&t, &id, &old));
        let rotated = t
            .core
            .rotate_secret(&Principal::system(), "default", &id, Some(60))
            .unwrap();
        let new = rotated.client_secret.expose().to_owned();
        assert_eq!(
            rotated.previous_secret_expires_at,
            crate::Clock::now(t.clock.as_ref()) + Duration::seconds(60)
        );
        assert!(gets_token(&t, &id, &old), "in the grace period");
        assert!(gets_token(&t, &id, &new));
        let listed = t.core.list_secrets("default", &id).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].is_current() && !listed[1].is_current());
        assert!(listed.iter().all(|s| s.last_used_at.is_some()));
        t.clock.advance(Duration::seconds(59));
        assert!(
            t.core
                .issue_token_from_memory(&request(&id, &old))
                .is_some(),
            "still warm one second before the end"
        );
        t.clock.advance(Duration::seconds(1));
        // Ended by the clock alone: no job ran, and the cached verification is not used.
        assert!(matches!(
            t.core.issue_token_from_memory(&request(&id, &old)),
            Some(Err(Error::InvalidClient)) | None
        ));
        assert!(!gets_token(&t, &id, &old));
        assert!(gets_token(&t, &id, &new));
        assert_eq!(t.core.list_secrets("default", &id).unwrap().len(), 1);
    }

    #[test]
    fn ending_the_previous_secret_stops_it_at_once_and_the_current_one_cannot_be_ended() {
        let t = TestCore::new(CoreConfig::default());
        let (id, old) = t.app("bot", &["orders:read"]);
        assert!(gets_token(&t, &id, &old));
        let new = t
            .core
            .rotate_secret(&Principal::system(), "default", &id, None)
            .unwrap()
            .client_secret
            .expose()
            .to_owned();
        assert!(gets_token(&t, &id, &old));
        let listed = t.core.list_secrets("default", &id).unwrap();
        let (current, previous) = (listed[0].id.as_str(), listed[1].id.as_str());
        assert!(matches!(
            t.core
                .end_secret(&Principal::system(), "default", &id, current),
            Err(Error::CurrentSecret)
        ));
        t.core
            .end_secret(&Principal::system(), "default", &id, previous)
            .unwrap();
        assert!(!gets_token(&t, &id, &old), "ended, although warm");
        assert!(gets_token(&t, &id, &new));
        assert!(matches!(
            t.core
                .end_secret(&Principal::system(), "default", &id, previous),
            Err(Error::NotFound(_))
        ));
        // Bad grace periods are refused before anything changes.
        for bad in [-1, 2_592_001] {
            assert!(matches!(
                t.core
                    .rotate_secret(&Principal::system(), "default", &id, Some(bad)),
                Err(Error::Invalid(_))
            ));
        }
        assert_eq!(t.core.list_secrets("default", &id).unwrap().len(), 1);
    }

    #[test]
    fn an_api_key_acts_as_its_app_from_memory_until_it_expires() {
        let t = TestCore::new(CoreConfig::default());
        let (id, _) = t.app("bot", &["orders:read"]);
        let expires = (crate::Clock::now(t.clock.as_ref()) + Duration::seconds(30)).to_rfc3339();
        let created = t
            .core
            .create_api_key(&Principal::system(), "default", &id, "ci", Some(&expires))
            .unwrap();
        let key = created.api_key.expose().to_owned();
        let v = t.core.validator();
        let p = v.authenticate(&key).unwrap();
        assert_eq!(p.kind.client_id(), Some(id.as_str()));
        assert!(p.holds(&Permission::parse("orders:read").unwrap()));
        assert!(
            v.authenticate_from_memory(&key).is_some_and(|r| r.is_ok()),
            "a key seen before needs no storage"
        );
        let listed = t.core.list_api_keys("default", &id).unwrap();
        assert!(
            listed[0].last_used_at.is_some(),
            "use shown before the batch is written"
        );
        assert_eq!(
            t.core.get_app("default", &id).unwrap().app.last_used_at,
            listed[0].last_used_at
        );
        // Deactivation stops it, activation restores it.
        t.core
            .set_app_status(&Principal::system(), "default", &id, AppStatus::Inactive)
            .unwrap();
        assert!(v.authenticate(&key).is_err());
        t.core
            .set_app_status(&Principal::system(), "default", &id, AppStatus::Active)
            .unwrap();
        assert!(v.authenticate(&key).is_ok());
        t.clock.advance(Duration::seconds(30));
        assert!(matches!(
            v.authenticate_from_memory(&key),
            Some(Err(Error::Unauthenticated("API key expired")))
        ));
        // A key with a wrong checksum is refused without a lookup.
        let mut typo = key.clone().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(matches!(
            v.authenticate_from_memory(&typo),
            Some(Err(Error::Unauthenticated(_)))
        ));
        // An expiry in the past, and a bad name, are both reported.
        match t.core.create_api_key(
            &Principal::system(),
            "default",
            &id,
            " bad",
            Some("2000-01-01T00:00:00Z"),
        ) {
            Err(Error::Invalid(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["name", "expires_at"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_deleted_key_fails_at_once_and_frees_its_slot() {
        let t = TestCore::new(CoreConfig {
            quota: keyward_domain::Quota {
                api_keys_per_app: 1,
                ..keyward_domain::Quota::default()
            },
            ..CoreConfig::default()
        });
        let (id, _) = t.app("bot", &["orders:read"]);
        let created = t
            .core
            .create_api_key(&Principal::system(), "default", &id, "one", None)
            .unwrap();
        assert!(matches!(
            t.core
                .create_api_key(&Principal::system(), "default", &id, "two", None),
            Err(Error::ApiKeyQuotaReached(1))
        ));
        let key = created.api_key.expose().to_owned();
        let v = t.core.validator();
        assert!(v.authenticate(&key).is_ok());
        t.core
            .delete_api_key(
                &Principal::system(),
                "default",
                &id,
                created.key.id.as_str(),
            )
            .unwrap();
        assert!(matches!(
            v.authenticate_from_memory(&key),
            None | Some(Err(Error::Unauthenticated(_)))
        ));
        assert!(v.authenticate(&key).is_err());
        assert!(t
            .core
            .create_api_key(&Principal::system(), "default", &id, "two", None)
            .is_ok());
    }
}
