//! Client authentication by `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9)
//! and the audiences a token may be issued for (RFC 8707), with the management use
//! cases behind them: an app's public JWK Set and an environment's allowed audiences.
//!
//! An assertion is accepted once: its `jti` is recorded in storage until its `exp`
//! (the primary key refuses a replay on every instance), so this method costs one
//! storage write per token request and never runs from memory. Its lifetime is at most
//! [`MAX_ASSERTION_LIFETIME_SECS`] (Okta's limit, and what client libraries such as
//! authlib send by default), its `aud` must name Keyward's token endpoint or an issuer
//! of Keyward's, and `iss` = `sub` = the client ID.

use std::sync::Arc;

use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::{self, JwsVerifier};
use keyward_domain::{ClientId, Environment, ValidationError};
use keyward_store::ChangeSubject;
use serde_json::Value;

use crate::audit::{Actor, AuditEvent};
use crate::clock::Io;
use crate::error::{Error, Resource, Step, Stop};
use crate::issue::AuthenticatedClient;
use crate::issuers::{environment_issuer, token_endpoint};
use crate::roles::ensure_no_escalation;
use crate::{Keyward, Principal};

/// The longest an assertion may live (`exp` − now), in seconds.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;
/// Clock difference allowed on `exp`, `nbf` and `iat` of an assertion, in seconds.
const ASSERTION_LEEWAY_SECS: i64 = 60;
/// Most keys in an app's JWK Set.
pub const MAX_CLIENT_KEYS: usize = 10;
/// Largest JWK Set an app may register, in bytes.
pub const MAX_CLIENT_JWKS_LEN: usize = 16 * 1024;
/// Most audiences one environment allows.
pub const MAX_AUDIENCES: usize = 20;
/// Longest audience URI, in bytes.
const MAX_AUDIENCE_LEN: usize = 512;
/// The asymmetric algorithms an assertion may be signed with.
pub const ASSERTION_ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

fn verifier_for(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    let verifier: Box<dyn JwsVerifier> = match alg {
        "RS256" => Box::new(jws::RS256.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(jws::PS256.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(jws::ES256.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(jws::EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    };
    Some(verifier)
}

fn int_claim(payload: &josekit::jwt::JwtPayload, name: &str) -> Option<i64> {
    payload.claim(name).and_then(Value::as_i64)
}

/// Checks a JWK Set an app registers: JSON of at most [`MAX_CLIENT_JWKS_LEN`] bytes, 1
/// to [`MAX_CLIENT_KEYS`] public keys (RSA, EC P-256 or OKP Ed25519; never a private or
/// symmetric key), each usable by one of [`ASSERTION_ALGORITHMS`]. Returns the set as
/// stored (compact JSON).
pub fn validate_client_jwks(jwks: &Value) -> Result<String, Error> {
    let invalid = |m: &str| Error::invalid(ValidationError::new("keys", m));
    let text = jwks.to_string();
    if text.len() > MAX_CLIENT_JWKS_LEN {
        return Err(invalid("the JWK Set is larger than 16 KiB"));
    }
    let set = JwkSet::from_bytes(text.as_bytes())
        .map_err(|_| invalid("must be a JWK Set: {\"keys\": [JWK, ...]}"))?;
    let keys = set.keys();
    if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
        return Err(invalid("must hold 1 to 10 keys"));
    }
    for key in keys {
        if ["d", "p", "q", "k"]
            .iter()
            .any(|private| key.parameter(private).is_some())
        {
            return Err(invalid(
                "keys must be public keys (no private or symmetric key)",
            ));
        }
        let usable = ASSERTION_ALGORITHMS
            .iter()
            .filter(|alg| key.algorithm().is_none_or(|a| a == **alg))
            .any(|alg| verifier_for(alg, key).is_some());
        if !usable {
            return Err(invalid(
                "every key must be an RSA, EC P-256 or Ed25519 public key for RS256, PS256, ES256 or EdDSA",
            ));
        }
    }
    Ok(text)
}

/// Checks one audience (RFC 8707 §2: an absolute URI without a fragment).
fn validate_audience(text: &str) -> Result<(), ValidationError> {
    let invalid = || {
        ValidationError::new(
            "audiences",
            format!("`{text}` is not an absolute URI without a fragment (at most 512 bytes)"),
        )
    };
    let (scheme, rest) = text.split_once(':').ok_or_else(invalid)?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok
        || rest.is_empty()
        || text.len() > MAX_AUDIENCE_LEN
        || text.contains('#')
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    Ok(())
}

impl Keyward {
    /// `private_key_jwt`: the assertion names its client (`iss` = `sub`, equal to the
    /// `client_id` parameter when one was sent), is signed by a key of the app's JWK
    /// Set with an asymmetric algorithm, is addressed to Keyward, lives at most an hour
    /// and is used once.
    pub(crate) fn authenticate_assertion(
        &self,
        client_id: Option<&str>,
        assertion: &str,
        io: Io,
    ) -> Step<AuthenticatedClient> {
        if assertion.len() > crate::jwt::MAX_TOKEN_LEN {
            return Err(Error::InvalidClient.into());
        }
        let header = josekit::jwt::decode_header(assertion).map_err(|_| Error::InvalidClient)?;
        let alg = header
            .claim("alg")
            .and_then(Value::as_str)
            .filter(|a| ASSERTION_ALGORITHMS.contains(a))
            .ok_or(Error::InvalidClient)?
            .to_owned();
        let kid = header
            .claim("kid")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Who the assertion claims to be, read before its signature is checked only to
        // find the key: nothing here is trusted until it verifies.
        let unverified = unverified_subject(assertion).ok_or(Error::InvalidClient)?;
        if client_id.is_some_and(|c| c != unverified) {
            return Err(Error::InvalidClient.into());
        }
        let client_id = ClientId::parse(&unverified).map_err(|_| Error::InvalidClient)?;
        let (app, environment) = self.live_client(&client_id, io)?;
        if io == Io::Forbidden {
            return Err(Stop::Blocked);
        }
        let jwks = self
            .store
            .client_jwks(&client_id)?
            .ok_or(Error::InvalidClient)?;
        let set = JwkSet::from_bytes(jwks.as_bytes()).map_err(|_| Error::InvalidClient)?;
        let candidates: Vec<&Jwk> = match &kid {
            Some(kid) => set.get(kid),
            None => set.keys(),
        };
        let payload = candidates
            .into_iter()
            .filter(|k| k.algorithm().is_none_or(|a| a == alg))
            .filter_map(|k| verifier_for(&alg, k))
            .find_map(|v| josekit::jwt::decode_with_verifier(assertion, &*v).ok())
            .map(|(payload, _)| payload)
            .ok_or(Error::InvalidClient)?;
        let now = self.clock.now().timestamp();
        let base = &self.config.issuer;
        let accepted_audiences = [
            token_endpoint(base),
            base.clone(),
            environment_issuer(base, environment.slug.as_str()),
        ];
        let addressed = payload.audience().is_some_and(|auds| {
            auds.iter()
                .any(|a| accepted_audiences.iter().any(|x| x == a))
        });
        let names_client = payload.issuer() == Some(client_id.as_str())
            && payload.subject() == Some(client_id.as_str());
        let exp = int_claim(&payload, "exp").ok_or(Error::InvalidClient)?;
        let timely = exp > now - ASSERTION_LEEWAY_SECS
            && exp <= now + MAX_ASSERTION_LIFETIME_SECS + ASSERTION_LEEWAY_SECS
            && int_claim(&payload, "nbf").is_none_or(|nbf| nbf <= now + ASSERTION_LEEWAY_SECS)
            && int_claim(&payload, "iat").is_none_or(|iat| iat <= now + ASSERTION_LEEWAY_SECS);
        let jti = payload
            .jwt_id()
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or(Error::InvalidClient)?;
        if !(addressed && names_client && timely) {
            return Err(Error::InvalidClient.into());
        }
        let expires_at = chrono::DateTime::from_timestamp(exp, 0).ok_or(Error::InvalidClient)?;
        if !self.store.claim_assertion_id(&client_id, jti, expires_at)? {
            // Replayed: the same assertion (or its `jti`) was used before.
            return Err(Error::InvalidClient.into());
        }
        Ok(AuthenticatedClient {
            client_id,
            app,
            environment,
        })
    }

    /// The audience of a new token: Keyward's own when no resource is asked for (or
    /// Keyward's audience is asked for), else the resource, which the environment must
    /// allow (`invalid_target` otherwise).
    pub(crate) fn token_audience(
        &self,
        env: &Environment,
        resource: Option<&str>,
        io: Io,
    ) -> Step<String> {
        let own = &self.validator.config().audience;
        let Some(resource) = resource.filter(|r| *r != own.as_str()) else {
            return Ok(own.clone());
        };
        let cached = self
            .caches
            .audiences
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&env.id)
            .cloned();
        let allowed = match cached {
            Some(a) => a,
            None => {
                if io == Io::Forbidden {
                    return Err(Stop::Blocked);
                }
                let loaded = Arc::new(self.store.environment_audiences(env.id)?);
                self.caches
                    .audiences
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(env.id, Arc::clone(&loaded));
                loaded
            }
        };
        if allowed.iter().any(|a| a == resource) {
            Ok(resource.to_owned())
        } else {
            Err(Error::InvalidTarget(format!(
                "`{resource}` is not an audience environment `{}` allows",
                env.slug
            ))
            .into())
        }
    }

    /// Forgets cached audiences after a change of an environment (or any change).
    pub(crate) fn forget_audiences(&self, subject: &ChangeSubject) {
        let mut cache = self
            .caches
            .audiences
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match subject {
            ChangeSubject::Environment(id) => {
                cache.remove(id);
            }
            ChangeSubject::Unknown => cache.retain(|_, _| false),
            _ => {}
        }
    }

    /// The audiences an environment allows besides Keyward's own.
    pub fn environment_audiences(&self, env: &str) -> Result<Vec<String>, Error> {
        let env = self.environment(env)?;
        Ok(self.store.environment_audiences(env.id)?)
    }

    /// Replaces the audiences an environment allows (RFC 8707 resources): each an
    /// absolute URI without a fragment, at most [`MAX_AUDIENCES`]. Tokens already issued
    /// keep their audience; new requests for a removed one get `invalid_target`.
    pub fn set_environment_audiences(
        &self,
        principal: &Principal,
        env: &str,
        audiences: &[String],
    ) -> Result<Vec<String>, Error> {
        let env = self.environment(env)?;
        let mut errors: Vec<ValidationError> = audiences
            .iter()
            .filter_map(|a| validate_audience(a).err())
            .collect();
        if audiences.len() > MAX_AUDIENCES {
            errors.push(ValidationError::new(
                "audiences",
                format!("at most {MAX_AUDIENCES} audiences"),
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let mut list = audiences.to_vec();
        list.sort();
        list.dedup();
        self.audited(&Actor::of(principal), || {
            self.store
                .set_environment_audiences(env.id, &list, self.clock.now())?;
            let event = AuditEvent::new(
                "environment.audiences_replaced",
                Some(&env.slug),
                env.slug.as_str(),
            )
            .detail("audiences", list.clone());
            Ok(((), event))
        })?;
        let subject = ChangeSubject::Environment(env.id);
        self.changed(&subject);
        self.forget_audiences(&subject);
        Ok(list)
    }

    /// The JWK Set an app registered for `private_key_jwt`, if any.
    pub fn client_jwks(&self, env: &str, client_id: &str) -> Result<Option<Value>, Error> {
        let (_, app) = self.app(env, client_id)?;
        let stored = self.store.client_jwks(&app.client_id)?;
        stored
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| Error::Internal(format!("stored JWKS: {e}")))
            })
            .transpose()
    }

    /// Registers (or with `None` removes) the public JWK Set an app authenticates with
    /// by `private_key_jwt`. Like handing out any credential of the app, it needs every
    /// management permission the app holds.
    pub fn set_client_jwks(
        &self,
        principal: &Principal,
        env: &str,
        client_id: &str,
        jwks: Option<&Value>,
    ) -> Result<Option<Value>, Error> {
        let (env, app) = self.app(env, client_id)?;
        let stored = jwks.map(validate_client_jwks).transpose()?;
        ensure_no_escalation(principal, &self.grants_of_app(&app)?)?;
        // Public keys only; the log names them by `kid`.
        let kids: Option<Vec<Value>> = jwks.map(|set| {
            set.get("keys")
                .and_then(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .map(|k| k.get("kid").cloned().unwrap_or(Value::Null))
                        .collect()
                })
                .unwrap_or_default()
        });
        self.audited(&Actor::of(principal), || {
            self.store.set_client_jwks(
                app.id,
                &app.client_id,
                stored.as_deref(),
                self.clock.now(),
            )?;
            let event = match kids {
                Some(kids) => AuditEvent::new(
                    "client_app.jwks_replaced",
                    Some(&env.slug),
                    app.client_id.as_str(),
                )
                .detail("kids", kids),
                None => AuditEvent::new(
                    "client_app.jwks_removed",
                    Some(&env.slug),
                    app.client_id.as_str(),
                ),
            };
            Ok(((), event))
        })
        .map_err(|e| Error::from_store(e, Resource::ClientApp))?;
        self.changed(&ChangeSubject::App(app.client_id.clone()));
        Ok(jwks.cloned())
    }
}

/// The `sub` (else `iss`) of an unverified JWT, to find the key that must verify it.
fn unverified_subject(jwt: &str) -> Option<String> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("sub")
        .or_else(|| claims.get("iss"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_absolute_uris_without_fragments() {
        for ok in [
            "https://orders.example",
            "urn:example:orders",
            "http://x/y?z=1",
        ] {
            assert!(validate_audience(ok).is_ok(), "{ok}");
        }
        for bad in [
            "orders",
            "https://x#frag",
            "",
            ":x",
            "https://a b",
            "1http://x",
        ] {
            assert!(validate_audience(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_registered_jwks_holds_public_keys_only() {
        let pair = jws::ES256
            .generate_key_pair()
            .unwrap_or_else(|e| panic!("{e}"));
        let public = pair.to_jwk_public_key();
        let private = pair.to_jwk_key_pair();
        let set = |k: &Jwk| serde_json::json!({"keys": [Value::Object(k.as_ref().clone())]});
        assert!(validate_client_jwks(&set(&public)).is_ok());
        assert!(validate_client_jwks(&set(&private)).is_err());
        assert!(validate_client_jwks(&serde_json::json!({"keys": []})).is_err());
        assert!(validate_client_jwks(&serde_json::json!({"nokeys": 1})).is_err());
        let oct = serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]});
        assert!(validate_client_jwks(&oct).is_err());
    }
}
