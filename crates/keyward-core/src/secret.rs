//! Generated credentials: client secrets, API keys and personal credentials with a fixed prefix
//! and a CRC32 checksum (so secret scanners find leaks and typos are refused without a
//! lookup), and the random identifiers Keyward hands out (client IDs, token IDs).

use std::fmt;

use keyward_domain::ClientId;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// The base62 alphabet, in ASCII order.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a credential body: 43 × log2(62) ≈ 256.03 bits.
const BODY_LEN: usize = 43;
/// Base62 characters encoding the CRC32 of the body (62^6 > 2^32).
const CHECK_LEN: usize = 6;
/// Random characters in a client ID or token ID: 22 × log2(62) ≈ 131 bits.
const ID_LEN: usize = 22;

/// `len` characters drawn uniformly from the base62 alphabet (rejection sampling over
/// bytes: a byte below 248 = 4 × 62 maps to `b % 62` without bias, others are dropped).
pub fn random_base62(rng: &mut impl CryptoRngCore, len: usize) -> String {
    // Exact capacity: the string never reallocates, so no copy of a secret is left behind.
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill_bytes(&mut buf);
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(base62_digit(u32::from(b))));
        }
    }
    buf.zeroize();
    out
}

/// The base62 digit (an ASCII byte) of `n % 62`.
fn base62_digit(n: u32) -> u8 {
    // `n % 62` < 62 = ALPHABET.len(): the fallback is never taken.
    let i = usize::try_from(n % 62).unwrap_or(0);
    ALPHABET.get(i).copied().unwrap_or(b'0')
}

/// The fixed-width base62 encoding of the CRC32 of `body`, left-padded with `0`.
fn checksum(body: &[u8]) -> [u8; CHECK_LEN] {
    let mut n = crc32fast::hash(body);
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = base62_digit(n);
        n /= 62;
    }
    out
}

/// A new credential: `prefix` + 43 random base62 characters + 6 checksum characters.
fn generate_with(prefix: &str, rng: &mut impl CryptoRngCore) -> Zeroizing<String> {
    let body = Zeroizing::new(random_base62(rng, BODY_LEN));
    let mut text = Zeroizing::new(String::with_capacity(prefix.len() + BODY_LEN + CHECK_LEN));
    text.push_str(prefix);
    text.push_str(&body);
    for b in checksum(body.as_bytes()) {
        text.push(char::from(b));
    }
    text
}

/// Checks the format of a credential with `prefix` (prefix, length, alphabet, checksum).
fn check_format(text: &str, prefix: &str) -> Result<(), MalformedCredential> {
    let rest = text
        .strip_prefix(prefix)
        .ok_or(MalformedCredential::WrongPrefix)?;
    if rest.len() != BODY_LEN + CHECK_LEN {
        return Err(MalformedCredential::WrongLength);
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(MalformedCredential::BadCharacter);
    }
    let (body, check) = rest.as_bytes().split_at(BODY_LEN);
    if checksum(body) != check {
        return Err(MalformedCredential::BadChecksum);
    }
    Ok(())
}

/// Why a text is not a well-formed Keyward credential.
#[derive(Debug, thiserror::Error)]
pub enum MalformedCredential {
    /// The text does not start with the credential's prefix.
    #[error("credential has the wrong prefix")]
    WrongPrefix,
    /// The text is not exactly as long as a credential.
    #[error("credential has the wrong length")]
    WrongLength,
    /// The text holds a character outside the base62 alphabet.
    #[error("credential holds a character outside [0-9A-Za-z]")]
    BadCharacter,
    /// The checksum does not match the body (a typo or a truncated copy).
    #[error("credential checksum does not match")]
    BadChecksum,
}

/// Defines a credential type with a fixed prefix: generated with 256 random bits,
/// parsed with the checksum checked, zeroed on drop, never shown by `Debug`.
macro_rules! prefixed_credential {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// The prefix every credential of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new random credential (256 bits).
            pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
                Self(generate_with(Self::PREFIX, rng))
            }

            /// Accepts a credential from outside if its prefix, length, alphabet and
            /// checksum are right.
            pub fn parse(text: &str) -> Result<Self, MalformedCredential> {
                check_format(text, Self::PREFIX)?;
                Ok(Self(Zeroizing::new(text.to_owned())))
            }

            /// The credential text (to show once, or to hash).
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(<hidden>)", stringify!($name))
            }
        }
    };
}

prefixed_credential!(
    /// A client app's secret (`kwcs_…`): shown once at creation, stored only as an
    /// argon2id hash.
    ClientSecret,
    "kwcs_"
);

prefixed_credential!(
    /// An admin's personal API credential (`kwpc_…`): shown once, stored as a SHA-256
    /// digest.
    PersonalCredential,
    "kwpc_"
);

prefixed_credential!(
    /// A client app's API key (`kwak_…`): shown once at creation, stored as a SHA-256
    /// digest and looked up by it.
    ApiKeySecret,
    "kwak_"
);

impl ApiKeySecret {
    /// The SHA-256 digest under which the key is stored.
    pub fn digest(&self) -> [u8; 32] {
        credential_digest(&self.0)
    }
}

impl ClientSecret {
    /// The secret's last four characters (part of its public checksum): stored beside
    /// the hash, they pick which of an app's two secrets to verify first.
    pub fn hint(&self) -> &str {
        secret_hint(&self.0)
    }
}

/// The last four characters of a secret text (all of it when shorter).
pub(crate) fn secret_hint(text: &str) -> &str {
    let start = text.len().saturating_sub(4);
    text.get(start..).unwrap_or(text)
}

impl PersonalCredential {
    /// The SHA-256 digest under which the credential is stored.
    pub fn digest(&self) -> [u8; 32] {
        credential_digest(&self.0)
    }
}

/// The SHA-256 digest of any credential text (a personal credential, or the operator's
/// bootstrap credential, which need not have a prefix).
pub fn credential_digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Whether `text` starts with `prefix` (a cheap test to route a Bearer value; it does
/// not validate the credential).
pub fn looks_like(text: &str, prefix: &str) -> bool {
    text.starts_with(prefix)
}

/// A new client ID: 22 base62 characters (≈131 random bits; URL-safe, never `:` or `%`).
pub fn generate_client_id(rng: &mut impl CryptoRngCore) -> ClientId {
    loop {
        // 22 base62 characters always satisfy `ClientId::parse` (1 to 128 characters of
        // [A-Za-z0-9_-]), so this returns on the first draw; the loop only avoids a
        // panic path.
        if let Ok(id) = ClientId::parse(&random_base62(rng, ID_LEN)) {
            return id;
        }
    }
}

/// A new public identifier of an API key or a client secret: 22 base62 characters.
pub fn generate_credential_id(rng: &mut impl CryptoRngCore) -> keyward_domain::CredentialId {
    loop {
        // 22 base62 characters always satisfy `CredentialId::parse`; the loop only
        // avoids a panic path.
        if let Ok(id) = keyward_domain::CredentialId::parse(&random_base62(rng, ID_LEN), "id") {
            return id;
        }
    }
}

/// A new token ID (JWT `jti`): 22 base62 characters.
pub fn generate_token_id(rng: &mut impl CryptoRngCore) -> String {
    random_base62(rng, ID_LEN)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand_core::OsRng;

    use super::*;

    #[test]
    fn client_secret_round_trips() {
        let secret = ClientSecret::generate(&mut OsRng);
        let text = secret.expose();
        assert!(text.starts_with("kwcs_"));
        assert_eq!(text.len(), ClientSecret::PREFIX.len() + 49);
        let parsed = ClientSecret::parse(text).unwrap_or_else(|e| panic!("parse: {e}"));
        assert_eq!(parsed.expose(), text);
        assert_eq!(format!("{secret:?}"), "ClientSecret(<hidden>)");
    }

    #[test]
    fn personal_credential_round_trips_and_digests() {
        let cred = PersonalCredential::generate(&mut OsRng);
        let text = cred.expose();
        assert!(text.starts_with("kwpc_"));
        assert_eq!(text.len(), PersonalCredential::PREFIX.len() + 49);
        let parsed = PersonalCredential::parse(text).unwrap_or_else(|e| panic!("parse: {e}"));
        assert_eq!(parsed.digest(), cred.digest());
        assert_eq!(cred.digest(), credential_digest(text));
        assert_eq!(format!("{cred:?}"), "PersonalCredential(<hidden>)");
        // The two kinds do not accept each other.
        assert!(matches!(
            ClientSecret::parse(text),
            Err(MalformedCredential::WrongPrefix)
        ));
    }

    #[test]
    fn api_keys_round_trip_digest_and_hint() {
        let key = ApiKeySecret::generate(&mut OsRng);
        assert!(key.expose().starts_with("kwak_"));
        assert_eq!(key.expose().len(), 5 + 49);
        let parsed = ApiKeySecret::parse(key.expose()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.digest(), key.digest());
        assert_ne!(key.digest(), credential_digest("other"));
        assert_eq!(format!("{key:?}"), "ApiKeySecret(<hidden>)");
        assert!(ClientSecret::parse(key.expose()).is_err());
        let secret = ClientSecret::generate(&mut OsRng);
        assert_eq!(secret.hint(), &secret.expose()[secret.expose().len() - 4..]);
        assert_eq!(secret_hint("ab"), "ab");
    }

    #[test]
    fn known_digest() {
        // SHA-256("abc")
        let d = credential_digest("abc");
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let good = ClientSecret::generate(&mut OsRng).expose().to_owned();
        let wrong_prefix = good.replacen("kwcs_", "kwcx_", 1);
        assert!(matches!(
            ClientSecret::parse(&wrong_prefix),
            Err(MalformedCredential::WrongPrefix)
        ));
        assert!(matches!(
            ClientSecret::parse(&good[..good.len() - 1]),
            Err(MalformedCredential::WrongLength)
        ));
        assert!(matches!(
            ClientSecret::parse(&format!("{good}0")),
            Err(MalformedCredential::WrongLength)
        ));
        let mut bad_char = good.clone().into_bytes();
        bad_char[10] = b'-';
        let bad_char = String::from_utf8(bad_char).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ClientSecret::parse(&bad_char),
            Err(MalformedCredential::BadCharacter)
        ));
        // Flipping any one character of the body or the checksum is caught.
        for i in ClientSecret::PREFIX.len()..good.len() {
            let mut bytes = good.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let flipped = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                matches!(
                    ClientSecret::parse(&flipped),
                    Err(MalformedCredential::BadChecksum)
                ),
                "flip at {i} accepted"
            );
        }
        assert!(matches!(
            ClientSecret::parse(""),
            Err(MalformedCredential::WrongPrefix)
        ));
    }

    #[test]
    fn checksum_is_fixed_width() {
        // CRC32 of the empty body is 0: all padding.
        assert_eq!(&checksum(b""), b"000000");
        // u32::MAX fits in six base62 digits.
        assert!(62u64.pow(6) > u64::from(u32::MAX));
    }

    #[test]
    fn alphabet_is_uniformly_covered() {
        let mut counts = [0usize; 62];
        let text = random_base62(&mut OsRng, 62 * 200);
        assert_eq!(text.len(), 62 * 200);
        for b in text.bytes() {
            let i = ALPHABET
                .iter()
                .position(|&a| a == b)
                .unwrap_or_else(|| panic!("unexpected byte {b}"));
            counts[i] += 1;
        }
        // Every character appears, near the expected 200 times (σ ≈ 14); the bounds are
        // wide so the test never flakes. Uniformity itself follows from the rejection
        // bound (248 = 4 × 62).
        for (i, &c) in counts.iter().enumerate() {
            assert!(
                (100..=320).contains(&c),
                "char {} drawn {c} times",
                ALPHABET[i]
            );
        }
    }

    #[test]
    fn ids_are_distinct_and_valid() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let id = generate_client_id(&mut OsRng);
            assert_eq!(id.as_str().len(), 22);
            assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(seen.insert(id.as_str().to_owned()));
        }
        let jti = generate_token_id(&mut OsRng);
        assert_eq!(jti.len(), 22);
        assert_ne!(jti, generate_token_id(&mut OsRng));
    }

    #[test]
    fn looks_like_tests_the_prefix() {
        assert!(looks_like("kwpc_abc", PersonalCredential::PREFIX));
        assert!(!looks_like("eyJhbGciOi", PersonalCredential::PREFIX));
    }
}
