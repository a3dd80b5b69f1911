//! RFC 9068 access tokens: signing claims into a JWT (`typ: at+jwt`, `kid` always set)
//! and verifying one against the [`KeyRing`]. Expiry, issuer and audience are the
//! caller's checks (with an injected clock), not this module's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jws::{self, JwsHeader};
use josekit::JoseError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::keys::{KeyError, KeyRing};

/// Longest token accepted for verification (bytes); longer ones are refused unparsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The JOSE `typ` of an access token (RFC 9068 §2.1).
pub(crate) const TOKEN_TYPE: &str = "at+jwt";

/// The claims of a Keyward access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: the client ID (no person is involved).
    pub sub: String,
    /// The client ID of the app the token was issued to.
    pub client_id: String,
    /// Audience.
    pub aud: String,
    /// Issued at (seconds since the Unix epoch).
    pub iat: i64,
    /// Expires at (seconds since the Unix epoch).
    pub exp: i64,
    /// Token ID.
    pub jti: String,
    /// Granted permissions, space-separated.
    pub scope: String,
    /// The environment slug the app lives in.
    pub env: String,
    /// True only when the client down-scoped the token with `scope=`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scope_restricted: bool,
}

/// Why a token was refused. Deliberately coarse: callers answer `invalid_token` anyway.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejected {
    /// Not a compact JWS (too long, wrong shape, bad base64 or JSON, missing header).
    #[error("malformed token")]
    Malformed,
    /// The header's `typ` is not `at+jwt`.
    #[error("not an access token (typ must be at+jwt)")]
    WrongType,
    /// The `kid` is missing or names no key in the ring.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify, or `alg` is not the key's algorithm.
    #[error("bad signature")]
    BadSignature,
    /// The payload is not the expected claims (missing or mistyped claim).
    #[error("bad claims")]
    BadClaims,
}

/// Whether a `typ` header value names an access token (case-insensitive, with or
/// without the `application/` prefix, RFC 7515 §4.1.9).
fn is_access_token_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ == TOKEN_TYPE || typ == "application/at+jwt"
}

/// The header of a compact JWS, decoded without trusting it.
fn untrusted_header(token: &str) -> Result<Map<String, Value>, TokenRejected> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejected::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenRejected::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenRejected::Malformed)
}

impl KeyRing {
    /// Signs `claims` with the current signing key: header `typ: at+jwt`, `alg` and `kid`.
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Jose(e.to_string()))?;
        let signer = self
            .signer_at(claims.iat)
            .ok_or_else(|| KeyError::NoSigningKey("this key ring only verifies".into()))?;
        if let Some(es256) = &signer.es256 {
            return es256.sign_compact(&payload);
        }
        let mut header = JwsHeader::new();
        header.set_token_type(TOKEN_TYPE);
        header.set_key_id(signer.kid.as_str());
        jws::serialize_compact(&payload, &header, &*signer.signer)
            .map_err(|e| KeyError::Jose(e.to_string()))
    }

    /// Verifies a token's type, key, algorithm and signature, and reads its claims.
    /// Does not check `exp`, `iss` or `aud`: the caller does, with its clock.
    pub fn verify(&self, token: &str) -> Result<AccessTokenClaims, TokenRejected> {
        self.verify_with_kid(token).map(|(_, claims)| claims)
    }

    /// Like [`Self::verify`], also returning the `kid` of the key that verified it.
    pub fn verify_with_kid(
        &self,
        token: &str,
    ) -> Result<(String, AccessTokenClaims), TokenRejected> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenRejected::Malformed);
        }
        let header = untrusted_header(token)?;
        match header.get("typ") {
            Some(Value::String(typ)) if is_access_token_type(typ) => {}
            _ => return Err(TokenRejected::WrongType),
        }
        let (kid, key) = match header.get("kid") {
            Some(Value::String(kid)) => (
                kid.clone(),
                self.verifiers.get(kid).ok_or(TokenRejected::UnknownKey)?,
            ),
            _ => return Err(TokenRejected::UnknownKey),
        };
        match header.get("alg") {
            Some(Value::String(alg)) if alg == key.algorithm.as_str() => {}
            _ => return Err(TokenRejected::BadSignature),
        }
        // josekit checks `alg` and `kid` against the verifier again, refuses unknown
        // `crit` entries, then verifies the signature over the exact input bytes.
        let (payload, _) =
            jws::deserialize_compact(token, &*key.verifier).map_err(|e| match e {
                JoseError::InvalidSignature(_) => TokenRejected::BadSignature,
                _ => TokenRejected::Malformed,
            })?;
        let claims = serde_json::from_slice(&payload).map_err(|_| TokenRejected::BadClaims)?;
        Ok((kid, claims))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use keyward_store::SigningKeyRecord;
    use rand_core::OsRng;

    use super::*;
    use crate::keys::{generate_signing_key, Algorithm, KeyError, MasterKey};

    const ALGORITHMS: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256];

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://keyward.example".to_owned(),
            sub: "abc".to_owned(),
            client_id: "abc".to_owned(),
            aud: "orders-api".to_owned(),
            iat: 1_700_000_000,
            exp: 1_700_000_900,
            jti: "j1".to_owned(),
            scope: "orders:read orders:write".to_owned(),
            env: "prod".to_owned(),
            scope_restricted: false,
        }
    }

    fn key(alg: Algorithm, master: &MasterKey) -> SigningKeyRecord {
        generate_signing_key(alg, master, &mut OsRng, Utc::now())
            .unwrap_or_else(|e| panic!("generate {alg}: {e}"))
    }

    fn load(records: &[SigningKeyRecord], alg: Algorithm, master: &MasterKey) -> KeyRing {
        KeyRing::load(records, alg, master).unwrap_or_else(|e| panic!("load: {e}"))
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Re-signs `claims` with `ring`'s signer under an arbitrary header.
    fn sign_with_header(ring: &KeyRing, header: &JwsHeader, payload: &[u8]) -> String {
        let signer = ring.signer.as_ref().unwrap_or_else(|| panic!("no signer"));
        jws::serialize_compact(payload, header, &*signer.signer)
            .unwrap_or_else(|e| panic!("sign: {e}"))
    }

    #[test]
    fn key_ring_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KeyRing>();
    }

    #[test]
    fn round_trip_for_every_algorithm() {
        let master = MasterKey::generate(&mut OsRng);
        for alg in ALGORITHMS {
            let record = key(alg, &master);
            let ring = load(std::slice::from_ref(&record), alg, &master);
            assert_eq!(ring.signing_kid(), record.kid);
            assert_eq!(ring.signing_algorithm(), Some(alg));
            assert!(ring.knows(&record.kid));
            let mut c = claims();
            c.scope_restricted = true;
            // ES256 signs through OpenSSL's ECDSA directly: this checks that path too.
            assert_eq!(
                ring.signer_at(c.iat).map(|s| s.es256.is_some()),
                Some(alg == Algorithm::Es256)
            );
            let token = ring.sign(&c).unwrap_or_else(|e| panic!("sign {alg}: {e}"));
            let header = untrusted_header(&token).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(header.get("typ"), Some(&Value::from("at+jwt")));
            assert_eq!(header.get("alg"), Some(&Value::from(alg.as_str())));
            assert_eq!(header.get("kid"), Some(&Value::from(record.kid.clone())));
            let back = ring
                .verify(&token)
                .unwrap_or_else(|e| panic!("verify {alg}: {e}"));
            assert_eq!(back, c);
        }
    }

    #[test]
    fn scope_restricted_is_omitted_when_false() {
        let json = serde_json::to_string(&claims()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!json.contains("scope_restricted"));
        let back: AccessTokenClaims = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert!(!back.scope_restricted);
    }

    #[test]
    fn tampered_payload_is_refused() {
        let master = MasterKey::generate(&mut OsRng);
        for alg in ALGORITHMS {
            let ring = load(&[key(alg, &master)], alg, &master);
            let token = ring.sign(&claims()).unwrap_or_else(|e| panic!("{e}"));
            let parts: Vec<&str> = token.split('.').collect();
            let mut forged = claims();
            forged.scope = "admin:*".to_owned();
            let body = serde_json::to_vec(&forged).unwrap_or_else(|e| panic!("{e}"));
            let tampered = format!("{}.{}.{}", parts[0], b64(&body), parts[2]);
            assert!(
                matches!(ring.verify(&tampered), Err(TokenRejected::BadSignature)),
                "{alg}"
            );
            // A truncated signature is refused too.
            let cut = &token[..token.len() - 4];
            assert!(ring.verify(cut).is_err());
        }
    }

    #[test]
    fn wrong_type_is_refused() {
        let master = MasterKey::generate(&mut OsRng);
        let ring = load(&[key(Algorithm::Es256, &master)], Algorithm::Es256, &master);
        let payload = serde_json::to_vec(&claims()).unwrap_or_else(|e| panic!("{e}"));
        for (typ, ok) in [
            (Some("JWT"), false),
            (None, false),
            (Some("application/jwt"), false),
            (Some("AT+JWT"), true),
            (Some("application/at+jwt"), true),
            (Some("Application/At+Jwt"), true),
        ] {
            let mut header = JwsHeader::new();
            if let Some(typ) = typ {
                header.set_token_type(typ);
            }
            header.set_key_id(ring.signing_kid());
            let token = sign_with_header(&ring, &header, &payload);
            let result = ring.verify(&token);
            if ok {
                assert!(result.is_ok(), "{typ:?}: {result:?}");
            } else {
                assert!(matches!(result, Err(TokenRejected::WrongType)), "{typ:?}");
            }
        }
    }

    #[test]
    fn unknown_or_missing_kid_is_refused() {
        let master = MasterKey::generate(&mut OsRng);
        let ring_a = load(&[key(Algorithm::Es256, &master)], Algorithm::Es256, &master);
        let ring_b = load(&[key(Algorithm::Es256, &master)], Algorithm::Es256, &master);
        let token = ring_a.sign(&claims()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ring_b.verify(&token),
            Err(TokenRejected::UnknownKey)
        ));

        let payload = serde_json::to_vec(&claims()).unwrap_or_else(|e| panic!("{e}"));
        // No kid in the header (the ring's signer carries one, so build the JWS by hand).
        let header_json = r#"{"typ":"at+jwt","alg":"ES256"}"#;
        let token = format!("{}.{}.AAAA", b64(header_json.as_bytes()), b64(&payload));
        assert!(matches!(
            ring_a.verify(&token),
            Err(TokenRejected::UnknownKey)
        ));
    }

    #[test]
    fn algorithm_must_match_the_key() {
        let master = MasterKey::generate(&mut OsRng);
        let es = key(Algorithm::Es256, &master);
        let ring = load(std::slice::from_ref(&es), Algorithm::Es256, &master);
        let payload = serde_json::to_vec(&claims()).unwrap_or_else(|e| panic!("{e}"));
        for alg in ["none", "HS256", "RS256"] {
            let header_json = format!(r#"{{"typ":"at+jwt","alg":"{alg}","kid":"{}"}}"#, es.kid);
            let token = format!("{}.{}.", b64(header_json.as_bytes()), b64(&payload));
            assert!(
                matches!(ring.verify(&token), Err(TokenRejected::BadSignature)),
                "{alg}"
            );
        }
    }

    #[test]
    fn malformed_and_bad_claims() {
        let master = MasterKey::generate(&mut OsRng);
        let ring = load(&[key(Algorithm::EdDsa, &master)], Algorithm::EdDsa, &master);
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.AAAA", "e30.e30.AAAA"] {
            let result = ring.verify(bad);
            assert!(
                matches!(
                    result,
                    Err(TokenRejected::Malformed | TokenRejected::WrongType)
                ),
                "{bad:?}: {result:?}"
            );
        }
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(ring.verify(&long), Err(TokenRejected::Malformed)));

        // A validly signed token whose payload lacks claims.
        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        let token = sign_with_header(&ring, &header, br#"{"sub":"x"}"#);
        assert!(matches!(ring.verify(&token), Err(TokenRejected::BadClaims)));
        // A mistyped claim.
        let mut value = serde_json::to_value(claims()).unwrap_or_else(|e| panic!("{e}"));
        value["exp"] = Value::from("soon");
        let token = sign_with_header(&ring, &header, value.to_string().as_bytes());
        assert!(matches!(ring.verify(&token), Err(TokenRejected::BadClaims)));
    }

    #[test]
    fn newest_key_signs_and_older_keys_still_verify() {
        let master = MasterKey::generate(&mut OsRng);
        let now = Utc::now();
        let old = generate_signing_key(
            Algorithm::Es256,
            &master,
            &mut OsRng,
            now - Duration::days(30),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let other = key(Algorithm::Rs256, &master);
        let new = generate_signing_key(Algorithm::Es256, &master, &mut OsRng, now)
            .unwrap_or_else(|e| panic!("{e}"));
        let old_ring = load(std::slice::from_ref(&old), Algorithm::Es256, &master);
        let old_token = old_ring.sign(&claims()).unwrap_or_else(|e| panic!("{e}"));

        // Records in any order: the newest ES256 key signs.
        let records = [new.clone(), old.clone(), other.clone()];
        let ring = load(&records, Algorithm::Es256, &master);
        assert_eq!(ring.signing_kid(), new.kid);
        assert_eq!(
            ring.verify(&old_token).unwrap_or_else(|e| panic!("{e}")),
            claims()
        );
        // Which key signs follows the token's `iat` (keys sign from their creation; with
        // a publish delay, from creation + delay): a token issued now gets the newest.
        let issued_now = AccessTokenClaims {
            iat: now.timestamp(),
            exp: now.timestamp() + 900,
            ..claims()
        };
        let new_token = ring.sign(&issued_now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            untrusted_header(&new_token).unwrap_or_default().get("kid"),
            Some(&Value::from(new.kid.clone()))
        );
        assert!(ring.verify(&new_token).is_ok());
        assert!(matches!(
            old_ring.verify(&new_token),
            Err(TokenRejected::UnknownKey)
        ));

        // Switching the algorithm picks the RS256 key.
        let rs_ring = load(&records, Algorithm::Rs256, &master);
        assert_eq!(rs_ring.signing_kid(), other.kid);
        assert!(rs_ring.verify(&old_token).is_ok());
    }

    #[test]
    fn wrong_master_key_is_reported() {
        let master = MasterKey::generate(&mut OsRng);
        let record = key(Algorithm::Es256, &master);
        let wrong = MasterKey::generate(&mut OsRng);
        let result = KeyRing::load(&[record], Algorithm::Es256, &wrong);
        assert!(
            matches!(result, Err(KeyError::MasterKeyMismatch)),
            "{result:?}"
        );
    }

    #[test]
    fn jwks_holds_every_public_key_and_nothing_private() {
        let master = MasterKey::generate(&mut OsRng);
        let records: Vec<SigningKeyRecord> = ALGORITHMS.iter().map(|&a| key(a, &master)).collect();
        let ring = load(&records, Algorithm::EdDsa, &master);
        let set: Value = serde_json::from_str(ring.jwks_json()).unwrap_or_else(|e| panic!("{e}"));
        let keys = set["keys"]
            .as_array()
            .unwrap_or_else(|| panic!("no keys array"));
        assert_eq!(keys.len(), records.len());
        for (jwk, record) in keys.iter().zip(&records) {
            assert_eq!(jwk["kid"], Value::from(record.kid.clone()));
            assert_eq!(jwk["alg"], Value::from(record.algorithm.clone()));
            assert_eq!(jwk["use"], Value::from("sig"));
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private).is_none(), "{private} published");
            }
        }
    }
}
