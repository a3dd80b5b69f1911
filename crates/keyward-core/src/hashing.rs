//! Argon2id hashing of client secrets and admin passwords, with bounded CPU: a gate lets
//! at most `max_concurrent` hashes run and `max_waiting` callers wait; anyone beyond is
//! refused at once with [`HashError::Overloaded`] instead of queueing without bound.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

/// Why hashing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashing operations are running and waiting; try again later.
    #[error("too many concurrent hashing operations")]
    Overloaded,
    /// The stored hash is not an argon2id PHC string.
    #[error("stored hash is not a valid argon2id PHC string")]
    Malformed,
    /// Argon2 refused the parameters or input (a configuration error or a bug).
    #[error("hashing failed: {0}")]
    Internal(String),
}

/// Counts of running and waiting hashing operations.
#[derive(Debug, Default)]
struct GateState {
    running: usize,
    waiting: usize,
}

/// Admission control for hashing: a counting semaphore with a bounded wait list.
#[derive(Debug)]
struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
    max_concurrent: usize,
    max_waiting: usize,
}

/// A slot in the gate, given back on drop.
#[derive(Debug)]
struct Permit<'a> {
    gate: &'a Gate,
}

impl Gate {
    /// The counters. They are only ever changed by a few lines that cannot panic, so a
    /// poisoned lock still holds consistent counts and is safe to recover.
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot, waiting for one if fewer than `max_waiting` callers already wait.
    fn acquire(&self) -> Result<Permit<'_>, HashError> {
        let mut state = self.lock();
        if state.running < self.max_concurrent {
            state.running += 1;
            return Ok(Permit { gate: self });
        }
        if state.waiting >= self.max_waiting {
            return Err(HashError::Overloaded);
        }
        state.waiting += 1;
        while state.running >= self.max_concurrent {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.waiting -= 1;
        state.running += 1;
        Ok(Permit { gate: self })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        state.running = state.running.saturating_sub(1);
        drop(state);
        self.gate.freed.notify_one();
    }
}

/// Hashes and verifies secrets with argon2id (v0x13) under a concurrency gate.
pub struct SecretHasher {
    params: Params,
    dummy: String,
    gate: Gate,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHasher")
            .field("params", &self.params)
            .field("max_concurrent", &self.gate.max_concurrent)
            .field("max_waiting", &self.gate.max_waiting)
            .finish_non_exhaustive()
    }
}

impl SecretHasher {
    /// A hasher with argon2's default parameters (m = 19456 KiB, t = 2, p = 1).
    pub fn new(
        max_concurrent: usize,
        max_waiting: usize,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, HashError> {
        Self::with_params(Params::default(), max_concurrent, max_waiting, rng)
    }

    /// A hasher with the given parameters (tests use cheap ones). `max_concurrent` must
    /// be at least 1. Computes the dummy hash used by [`Self::verify_dummy`].
    pub fn with_params(
        params: Params,
        max_concurrent: usize,
        max_waiting: usize,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, HashError> {
        if max_concurrent == 0 {
            return Err(HashError::Internal(
                "max_concurrent must be at least 1".to_owned(),
            ));
        }
        let mut hasher = Self {
            params,
            dummy: String::new(),
            gate: Gate {
                state: Mutex::new(GateState::default()),
                freed: Condvar::new(),
                max_concurrent,
                max_waiting,
            },
        };
        let mut value = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(value.as_mut());
        hasher.dummy = hasher.hash_ungated(value.as_ref(), rng)?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_ungated(
        &self,
        secret: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut *rng);
        self.argon2()
            .hash_password(secret, &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError::Internal(e.to_string()))
    }

    /// Hashes `secret` with a fresh salt from `rng` into a PHC string
    /// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub fn hash(&self, secret: &[u8], rng: &mut impl CryptoRngCore) -> Result<String, HashError> {
        let _permit = self.gate.acquire()?;
        self.hash_ungated(secret, rng)
    }

    /// Whether `secret` matches the stored PHC string (compared in constant time, with
    /// the parameters recorded in the string). `Ok(false)` on mismatch;
    /// [`HashError::Malformed`] if `phc` is not an argon2id PHC hash.
    pub fn verify(&self, secret: &[u8], phc: &str) -> Result<bool, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|_| HashError::Malformed)?;
        if parsed.algorithm != argon2::ARGON2ID_IDENT
            || parsed.salt.is_none()
            || parsed.hash.is_none()
        {
            return Err(HashError::Malformed);
        }
        // Parameters out of argon2's range make the string malformed, not a mismatch.
        Params::try_from(&parsed).map_err(|_| HashError::Malformed)?;
        let _permit = self.gate.acquire()?;
        match self.argon2().verify_password(secret, &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(_) => Err(HashError::Malformed),
        }
    }

    /// Spends the same work as a real verification and discards the result: called for
    /// an unknown client ID so response times do not reveal which IDs exist.
    pub fn verify_dummy(&self, secret: &[u8]) -> Result<(), HashError> {
        self.verify(secret, &self.dummy).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand_core::OsRng;

    use super::*;

    fn cheap(max_concurrent: usize, max_waiting: usize) -> SecretHasher {
        let params = Params::new(64, 1, 1, None).unwrap_or_else(|e| panic!("params: {e}"));
        SecretHasher::with_params(params, max_concurrent, max_waiting, &mut OsRng)
            .unwrap_or_else(|e| panic!("hasher: {e}"))
    }

    #[test]
    fn hash_then_verify() {
        let h = cheap(2, 2);
        let phc = h
            .hash(b"kwcs_secret", &mut OsRng)
            .unwrap_or_else(|e| panic!("hash: {e}"));
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(matches!(h.verify(b"kwcs_secret", &phc), Ok(true)));
        assert!(matches!(h.verify(b"kwcs_secreT", &phc), Ok(false)));
        // Two hashes of the same secret differ (fresh salt).
        let again = h
            .hash(b"kwcs_secret", &mut OsRng)
            .unwrap_or_else(|e| panic!("hash: {e}"));
        assert_ne!(phc, again);
    }

    #[test]
    fn default_params_are_owasp_argon2id() {
        let p = Params::default();
        assert_eq!((p.m_cost(), p.t_cost(), p.p_cost()), (19456, 2, 1));
    }

    #[test]
    fn malformed_hashes_are_errors() {
        let h = cheap(1, 1);
        for bad in [
            "",
            "not a hash",
            "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ",
            "$pbkdf2-sha256$i=1000$c29tZXNhbHQ$aGFzaGhhc2hoYXNo",
        ] {
            assert!(
                matches!(h.verify(b"x", bad), Err(HashError::Malformed)),
                "{bad:?} accepted"
            );
        }
        // An argon2i hash is refused: only argon2id is accepted.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, h.params.clone())
            .hash_password(b"x", &SaltString::generate(&mut OsRng))
            .map(|p| p.to_string())
            .unwrap_or_else(|e| panic!("argon2i: {e}"));
        assert!(matches!(
            h.verify(b"x", &argon2i),
            Err(HashError::Malformed)
        ));
    }

    #[test]
    fn dummy_verification_succeeds() {
        let h = cheap(1, 0);
        assert!(h.verify_dummy(b"anything").is_ok());
        assert!(h.dummy.starts_with("$argon2id$"));
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let params = Params::new(64, 1, 1, None).unwrap_or_else(|e| panic!("params: {e}"));
        assert!(matches!(
            SecretHasher::with_params(params, 0, 0, &mut OsRng),
            Err(HashError::Internal(_))
        ));
    }

    #[test]
    fn saturated_gate_refuses_at_once() {
        let h = cheap(1, 0);
        let phc = h.hash(b"s", &mut OsRng).unwrap_or_else(|e| panic!("{e}"));
        let permit = h.gate.acquire().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            h.hash(b"s", &mut OsRng),
            Err(HashError::Overloaded)
        ));
        assert!(matches!(h.verify(b"s", &phc), Err(HashError::Overloaded)));
        assert!(matches!(h.verify_dummy(b"s"), Err(HashError::Overloaded)));
        drop(permit);
        assert!(matches!(h.verify(b"s", &phc), Ok(true)));
    }

    #[test]
    fn waiters_are_bounded_and_served() {
        let h = cheap(1, 1);
        let phc = h.hash(b"s", &mut OsRng).unwrap_or_else(|e| panic!("{e}"));
        let permit = h.gate.acquire().unwrap_or_else(|e| panic!("{e}"));
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| h.verify(b"s", &phc));
            // Wait until the other thread is parked in the gate.
            while h.gate.lock().waiting == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            // One waiter is the limit: a third caller is refused at once.
            assert!(matches!(h.verify(b"s", &phc), Err(HashError::Overloaded)));
            drop(permit);
            let result = waiter.join().unwrap_or_else(|_| panic!("waiter panicked"));
            assert!(matches!(result, Ok(true)));
        });
        let state = h.gate.lock();
        assert_eq!((state.running, state.waiting), (0, 0));
    }
}
