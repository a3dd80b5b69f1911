//! The master key (which encrypts signing keys at rest) and the signing keys: making a
//! new key pair, and the in-memory [`KeyRing`] of verifiers, the current signer and the
//! published JWK Set.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use josekit::jwe::{self, JweHeader};
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{self, JwsSigner, JwsVerifier};
use keyward_store::SigningKeyRecord;
use rand_core::CryptoRngCore;
use serde_json::Value;
use zeroize::Zeroizing;

/// Content encryption of private keys at rest (with `alg: dir` under the master key).
const KEY_ENCRYPTION: &str = "A256GCM";
/// Length of a generated `kid` in base62 characters.
const KID_LEN: usize = 22;
/// RSA modulus size for RS256 keys.
const RSA_BITS: u32 = 2048;

/// Why a key could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The configured master key is not 32 bytes of base64.
    #[error("invalid master key: {0}")]
    InvalidMasterKey(String),
    /// A stored private key cannot be decrypted with the configured master key.
    #[error(
        "the configured master key does not decrypt the stored signing keys \
         (was the master key changed?)"
    )]
    MasterKeyMismatch,
    /// No stored key has the configured signing algorithm.
    #[error("no signing key: {0}")]
    NoSigningKey(String),
    /// An algorithm name Keyward does not sign with.
    #[error("unknown signing algorithm `{0}` (expected ES256, EdDSA or RS256)")]
    UnknownAlgorithm(String),
    /// A JOSE operation failed (bad stored JWK, key generation or signing failure).
    #[error("JOSE error: {0}")]
    Jose(String),
}

fn jose(e: impl fmt::Display) -> KeyError {
    KeyError::Jose(e.to_string())
}

/// The 32-byte master key that encrypts signing keys at rest. Zeroed on drop; `Debug`
/// never shows it.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// A new random master key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Reads a master key from standard or URL-safe base64, padded or not, ignoring
    /// surrounding whitespace; it must decode to exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok().map(Zeroizing::new))
            .ok_or_else(|| KeyError::InvalidMasterKey("not valid base64".to_owned()))?;
        if decoded.len() != 32 {
            return Err(KeyError::InvalidMasterKey(format!(
                "must decode to 32 bytes, got {}",
                decoded.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&decoded);
        Ok(Self(key))
    }

    /// The key in standard padded base64 (to print once for the operator to keep).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_ref())
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<hidden>)")
    }
}

/// A JWS algorithm Keyward signs access tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256 (the default).
    #[default]
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    Rs256,
}

impl Algorithm {
    /// Parses the exact JWS name: `ES256`, `EdDSA` or `RS256`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        match text {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            other => Err(KeyError::UnknownAlgorithm(other.to_owned())),
        }
    }

    /// The JWS name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, KeyError> {
        Ok(match self {
            Self::Es256 => Box::new(jws::ES256.verifier_from_jwk(jwk).map_err(jose)?),
            Self::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(jwk).map_err(jose)?),
            Self::Rs256 => Box::new(jws::RS256.verifier_from_jwk(jwk).map_err(jose)?),
        })
    }

    fn signer(self, jwk: &Jwk) -> Result<Box<dyn JwsSigner>, KeyError> {
        Ok(match self {
            Self::Es256 => Box::new(jws::ES256.signer_from_jwk(jwk).map_err(jose)?),
            Self::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(jwk).map_err(jose)?),
            Self::Rs256 => Box::new(jws::RS256.signer_from_jwk(jwk).map_err(jose)?),
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sets the parameters every Keyward JWK carries.
fn label(jwk: &mut Jwk, kid: &str, alg: Algorithm) {
    jwk.set_key_id(kid);
    jwk.set_algorithm(alg.as_str());
    jwk.set_key_use("sig");
}

/// Makes a new signing key pair of `alg`, with a random `kid` from `rng`, its private
/// JWK encrypted under `master` (compact JWE, `alg: dir`, `enc: A256GCM`, the `kid` in
/// the protected header). The key material itself comes from OpenSSL's CSPRNG.
pub fn generate_signing_key(
    alg: Algorithm,
    master: &MasterKey,
    rng: &mut impl CryptoRngCore,
    now: DateTime<Utc>,
) -> Result<SigningKeyRecord, KeyError> {
    let kid = crate::secret::random_base62(rng, KID_LEN);
    let pair: Box<dyn KeyPair> = match alg {
        Algorithm::Es256 => Box::new(jws::ES256.generate_key_pair().map_err(jose)?),
        Algorithm::EdDsa => Box::new(
            jws::EdDSA
                .generate_key_pair(josekit::jwk::Ed25519)
                .map_err(jose)?,
        ),
        Algorithm::Rs256 => Box::new(jws::RS256.generate_key_pair(RSA_BITS).map_err(jose)?),
    };
    let mut public = pair.to_jwk_public_key();
    label(&mut public, &kid, alg);
    let mut private = pair.to_jwk_key_pair();
    label(&mut private, &kid, alg);
    let private_json = Zeroizing::new(private.to_string());

    let mut header = JweHeader::new();
    header.set_content_encryption(KEY_ENCRYPTION);
    header.set_key_id(kid.as_str());
    let encrypter = jwe::Dir
        .encrypter_from_bytes(master.bytes())
        .map_err(jose)?;
    let private_jwe =
        jwe::serialize_compact(private_json.as_bytes(), &header, &encrypter).map_err(jose)?;

    Ok(SigningKeyRecord {
        kid,
        algorithm: alg.as_str().to_owned(),
        public_jwk: public.to_string(),
        private_jwe,
        created_at: now,
    })
}

/// Decrypts a record's private JWK (the JWE must carry the record's `kid`).
fn decrypt_private(record: &SigningKeyRecord, master: &MasterKey) -> Result<Jwk, KeyError> {
    let decrypter = jwe::Dir
        .decrypter_from_bytes(master.bytes())
        .map_err(jose)?;
    let (plain, header) = jwe::deserialize_compact(&record.private_jwe, &decrypter)
        .map_err(|_| KeyError::MasterKeyMismatch)?;
    let plain = Zeroizing::new(plain);
    if header.key_id() != Some(record.kid.as_str()) {
        return Err(KeyError::Jose(format!(
            "the private key stored for kid {} belongs to another key",
            record.kid
        )));
    }
    Jwk::from_bytes(plain.as_slice()).map_err(jose)
}

/// A key that verifies tokens.
pub(crate) struct VerifyingKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) verifier: Box<dyn JwsVerifier>,
}

/// The signing keys in memory: a verifier per stored key, the signer (the newest key of
/// the configured algorithm) and the JWK Set to publish. `Send + Sync`: share it in an
/// `Arc` and replace it whole when keys change.
pub struct KeyRing {
    pub(crate) verifiers: HashMap<String, VerifyingKey>,
    pub(crate) signer: Option<Signer>,
    /// Every key of the signing algorithm with the time (Unix seconds) from which it
    /// signs, oldest first: a key is published in the JWK Set for the publish delay
    /// before it signs (see [`KeyRing::load_scheduled`]).
    pub(crate) schedule: Vec<(i64, Signer)>,
    jwks: String,
}

/// The key that signs new tokens.
pub(crate) struct Signer {
    pub(crate) signer: Box<dyn JwsSigner>,
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    /// For ES256: the same key, signing without josekit's per-signature setup.
    pub(crate) es256: Option<Es256>,
}

/// An ES256 signing key used through OpenSSL's ECDSA directly, with its JWS header
/// encoded once. josekit's ES256 signer sets up an OpenSSL 3 signing context for every
/// signature (an algorithm fetch from the provider, under process-wide locks), which
/// cost as much as the signature itself (PERFORMANCE.md, fourth pass).
#[derive(Clone)]
pub(crate) struct Es256 {
    key: openssl::ec::EcKey<openssl::pkey::Private>,
    /// base64url of `{"alg":"ES256","kid":…,"typ":…}`.
    header: String,
}

impl Es256 {
    /// The key of a private P-256 JWK, with the header of tokens of type `typ`
    /// signed under `kid`.
    fn new(private: &Jwk, kid: &str, typ: &str) -> Result<Self, KeyError> {
        let pair = josekit::jwk::alg::ec::EcKeyPair::from_jwk(private).map_err(jose)?;
        let key =
            openssl::ec::EcKey::private_key_from_der(&pair.to_raw_private_key()).map_err(jose)?;
        key.check_key().map_err(jose)?;
        let header = serde_json::json!({"alg": "ES256", "kid": kid, "typ": typ});
        Ok(Self {
            key,
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
        })
    }

    /// The JWS signature of `input` (`r || s`, 32 bytes each, as RFC 7518 §3.4 asks).
    fn signature(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = openssl::sha::sha256(input);
        let sig = openssl::ecdsa::EcdsaSig::sign(&digest, &self.key).map_err(jose)?;
        let mut out = sig.r().to_vec_padded(32).map_err(jose)?;
        out.extend_from_slice(&sig.s().to_vec_padded(32).map_err(jose)?);
        Ok(out)
    }

    /// The compact JWS of `payload` under this key's header.
    pub(crate) fn sign_compact(&self, payload: &[u8]) -> Result<String, KeyError> {
        let mut jws = String::with_capacity(self.header.len() + payload.len() * 4 / 3 + 100);
        jws.push_str(&self.header);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut jws);
        let signature = self.signature(jws.as_bytes())?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
        Ok(jws)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.verifiers.keys().map(String::as_str).collect();
        kids.sort_unstable();
        f.debug_struct("KeyRing")
            .field("kids", &kids)
            .field("signing_kid", &self.signer.as_ref().map(|s| s.kid.as_str()))
            .field("signing_alg", &self.signer.as_ref().map(|s| s.alg))
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Builds a ring that only verifies: a verifier for every record, no private key
    /// (what an embedded validator needs; it never sees the master key).
    pub fn verify_only(records: &[SigningKeyRecord]) -> Result<Self, KeyError> {
        let mut verifiers = HashMap::with_capacity(records.len());
        let mut published = Vec::with_capacity(records.len());
        for record in records {
            let alg = Algorithm::parse(&record.algorithm)?;
            let stored = Jwk::from_bytes(record.public_jwk.as_bytes()).map_err(jose)?;
            // Publish only the public part, whatever the stored JSON holds.
            let mut public = stored.to_public_key().map_err(jose)?;
            label(&mut public, &record.kid, alg);
            let verifier = alg.verifier(&public)?;
            if verifiers
                .insert(
                    record.kid.clone(),
                    VerifyingKey {
                        algorithm: alg,
                        verifier,
                    },
                )
                .is_some()
            {
                return Err(KeyError::Jose(format!("duplicate kid {}", record.kid)));
            }
            published.push(Value::Object(public.as_ref().clone()));
        }
        let jwks = serde_json::json!({ "keys": published }).to_string();
        Ok(Self {
            verifiers,
            signer: None,
            schedule: Vec::new(),
            jwks,
        })
    }

    /// Builds the ring from stored keys: a verifier for every record, and a signer from
    /// the newest record of `signing_alg` (its private key decrypted with `master`).
    pub fn load(
        records: &[SigningKeyRecord],
        signing_alg: Algorithm,
        master: &MasterKey,
    ) -> Result<Self, KeyError> {
        Self::load_scheduled(records, signing_alg, master, 0)
    }

    /// [`Self::load`], where a key signs only `publish_delay_secs` after it was created:
    /// until then it is published in the JWK Set (so resource servers that cache the
    /// set learn it first) while the previous key keeps signing. Which key signs a
    /// token is decided by the token's `iat` ([`Self::sign`]); when no key is old enough
    /// (the very first key) the oldest one signs.
    pub fn load_scheduled(
        records: &[SigningKeyRecord],
        signing_alg: Algorithm,
        master: &MasterKey,
        publish_delay_secs: i64,
    ) -> Result<Self, KeyError> {
        let mut ring = Self::verify_only(records)?;
        let mut own: Vec<&SigningKeyRecord> = records
            .iter()
            .filter(|r| r.algorithm == signing_alg.as_str())
            .collect();
        // Stable: records come oldest first, so equal times keep that order.
        own.sort_by_key(|r| r.created_at);
        if own.is_empty() {
            return Err(KeyError::NoSigningKey(format!(
                "no stored key uses {signing_alg}"
            )));
        }
        for record in own {
            let signer = ring.decrypt_signer(record, signing_alg, master)?;
            let signs_from = record
                .created_at
                .timestamp()
                .saturating_add(publish_delay_secs);
            ring.schedule.push((signs_from, signer));
        }
        // The newest key, as `signing_kid` reports it.
        ring.signer = ring.schedule.last().map(|(_, newest)| Signer {
            signer: newest.signer.box_clone(),
            kid: newest.kid.clone(),
            alg: newest.alg,
            es256: newest.es256.clone(),
        });
        Ok(ring)
    }

    /// A record's private key as a signer, checked against its published public key.
    fn decrypt_signer(
        &self,
        record: &SigningKeyRecord,
        signing_alg: Algorithm,
        master: &MasterKey,
    ) -> Result<Signer, KeyError> {
        let mut private = decrypt_private(record, master)?;
        label(&mut private, &record.kid, signing_alg);
        let signer = signing_alg.signer(&private)?;
        // The private key must match the published public key.
        let probe = b"keyward signing key check";
        let es256 = match signing_alg {
            Algorithm::Es256 => Some(Es256::new(&private, &record.kid, crate::jwt::TOKEN_TYPE)?),
            _ => None,
        };
        let mut signatures = vec![signer.sign(probe).map_err(jose)?];
        if let Some(fast) = &es256 {
            signatures.push(fast.signature(probe)?);
        }
        let matches = self.verifiers.get(&record.kid).is_some_and(|k| {
            signatures
                .iter()
                .all(|signature| k.verifier.verify(probe, signature).is_ok())
        });
        if !matches {
            return Err(KeyError::Jose(format!(
                "the private key of kid {} does not match its public key",
                record.kid
            )));
        }
        Ok(Signer {
            signer,
            kid: record.kid.clone(),
            alg: signing_alg,
            es256,
        })
    }

    /// The key that signs a token issued at `iat` (Unix seconds): the newest whose
    /// publish delay has passed, else the oldest.
    pub(crate) fn signer_at(&self, iat: i64) -> Option<&Signer> {
        self.schedule
            .iter()
            .rev()
            .find(|(from, _)| *from <= iat)
            .or_else(|| self.schedule.first())
            .map(|(_, s)| s)
            .or(self.signer.as_ref())
    }

    /// Every key of the signing algorithm with the time it signs from, oldest first.
    pub fn signing_schedule(&self) -> Vec<(String, i64)> {
        self.schedule
            .iter()
            .map(|(from, s)| (s.kid.clone(), *from))
            .collect()
    }

    /// The JWK Set (`{"keys":[…]}`) of every public key, for `/.well-known/jwks.json`.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// The `kid` of the key that signs new tokens.
    pub fn signing_kid(&self) -> &str {
        self.signer.as_ref().map_or("", |s| s.kid.as_str())
    }

    /// The algorithm new tokens are signed with.
    pub fn signing_algorithm(&self) -> Option<Algorithm> {
        self.signer.as_ref().map(|s| s.alg)
    }

    /// Whether a key with this `kid` is in the ring.
    pub fn knows(&self, kid: &str) -> bool {
        self.verifiers.contains_key(kid)
    }
}

#[cfg(test)]
mod tests {
    use rand_core::OsRng;

    use super::*;

    #[test]
    fn master_key_base64_forms() {
        let key = MasterKey::generate(&mut OsRng);
        let std = key.to_base64();
        assert_eq!(std.len(), 44);
        let url = URL_SAFE_NO_PAD.encode(key.bytes());
        for text in [
            std.clone(),
            format!("  {std}\n"),
            url,
            std.trim_end_matches('=').to_owned(),
        ] {
            let back = MasterKey::from_base64(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back.bytes(), key.bytes());
        }
        assert_eq!(format!("{key:?}"), "MasterKey(<hidden>)");
    }

    #[test]
    fn master_key_must_be_32_bytes_of_base64() {
        assert!(matches!(
            MasterKey::from_base64("not base64 at all!"),
            Err(KeyError::InvalidMasterKey(_))
        ));
        let short = STANDARD.encode([7u8; 31]);
        assert!(matches!(
            MasterKey::from_base64(&short),
            Err(KeyError::InvalidMasterKey(_))
        ));
        assert!(matches!(
            MasterKey::from_base64(""),
            Err(KeyError::InvalidMasterKey(_))
        ));
    }

    #[test]
    fn algorithm_names() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            assert!(matches!(Algorithm::parse(alg.as_str()), Ok(a) if a == alg));
        }
        assert!(matches!(
            Algorithm::parse("es256"),
            Err(KeyError::UnknownAlgorithm(_))
        ));
        assert!(matches!(
            Algorithm::parse("HS256"),
            Err(KeyError::UnknownAlgorithm(_))
        ));
        assert_eq!(Algorithm::default(), Algorithm::Es256);
    }

    #[test]
    fn generated_record_shape() {
        let master = MasterKey::generate(&mut OsRng);
        let now = Utc::now();
        let record = generate_signing_key(Algorithm::Es256, &master, &mut OsRng, now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record.kid.len(), 22);
        assert_eq!(record.algorithm, "ES256");
        assert_eq!(record.created_at, now);
        let public: serde_json::Map<String, Value> =
            serde_json::from_str(&record.public_jwk).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(public.get("kid"), Some(&Value::from(record.kid.clone())));
        assert_eq!(public.get("alg"), Some(&Value::from("ES256")));
        assert_eq!(public.get("use"), Some(&Value::from("sig")));
        assert!(!public.contains_key("d"));
        assert_eq!(record.private_jwe.split('.').count(), 5);
        assert!(!record.private_jwe.contains("\"d\""));
    }

    #[test]
    fn missing_signing_algorithm_is_reported() {
        let master = MasterKey::generate(&mut OsRng);
        let record = generate_signing_key(Algorithm::EdDsa, &master, &mut OsRng, Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            KeyRing::load(&[record], Algorithm::Es256, &master),
            Err(KeyError::NoSigningKey(_))
        ));
        assert!(matches!(
            KeyRing::load(&[], Algorithm::Es256, &master),
            Err(KeyError::NoSigningKey(_))
        ));
    }

    #[test]
    fn swapped_private_key_is_refused() {
        let master = MasterKey::generate(&mut OsRng);
        let a = generate_signing_key(Algorithm::Es256, &master, &mut OsRng, Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        let b = generate_signing_key(Algorithm::Es256, &master, &mut OsRng, Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut forged = a.clone();
        forged.private_jwe = b.private_jwe;
        assert!(matches!(
            KeyRing::load(&[forged], Algorithm::Es256, &master),
            Err(KeyError::Jose(_))
        ));
    }

    #[test]
    fn unknown_stored_algorithm_is_reported() {
        let master = MasterKey::generate(&mut OsRng);
        let mut record = generate_signing_key(Algorithm::Es256, &master, &mut OsRng, Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        record.algorithm = "HS256".to_owned();
        assert!(matches!(
            KeyRing::load(&[record], Algorithm::Es256, &master),
            Err(KeyError::UnknownAlgorithm(_))
        ));
    }
}
