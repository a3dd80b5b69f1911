//! Argon2id hashing of client secrets and admin passwords, with bounded CPU *and* memory.
//!
//! A gate lets at most `max_concurrent` hashes run and `max_waiting` callers wait; anyone
//! beyond is refused at once with [`HashError::Overloaded`] instead of queueing without
//! bound. Each running slot owns one argon2 working buffer (19 MiB with the default
//! parameters), allocated the first time the slot is used and reused for every hash after
//! that: argon2 memory is bounded by `max_concurrent × m_cost` whatever the traffic, and
//! no 19 MiB buffer is allocated and freed per verification (which ratcheted glibc's
//! heap up by one buffer per first verification, see docs/SECURITY.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Salt length of new hashes (bytes).
const SALT_LEN: usize = 16;
/// Output length of new hashes (bytes).
const OUTPUT_LEN: usize = 32;
/// The largest memory cost a stored hash may ask for (KiB): a stored hash is written by
/// Keyward, so anything far above the configured cost is refused as malformed rather
/// than allowed to grow a slot's buffer.
const MAX_M_COST_KIB: u32 = 256 * 1024;

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

/// Counts of running and waiting hashing operations, and the idle slots' buffers.
#[derive(Debug, Default)]
struct GateState {
    running: usize,
    waiting: usize,
    /// Buffers of slots not in use (at most `max_concurrent`, allocated on first use).
    idle_buffers: Vec<Vec<Block>>,
}

/// Admission control for hashing: a counting semaphore with a bounded wait list, which
/// also owns the argon2 working memory of its slots.
#[derive(Debug)]
struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
    max_concurrent: usize,
    max_waiting: usize,
}

/// Blocks (1 KiB each) a slot's buffer reserves at the least: past 32 MiB, glibc's
/// `DEFAULT_MMAP_THRESHOLD_MAX` on 64-bit systems.
const MMAP_FLOOR_BLOCKS: usize = 32 * 1024 + 64;

/// A slot in the gate with its working buffer, both given back on drop.
struct Permit<'a> {
    gate: &'a Gate,
    buffer: Vec<Block>,
}

impl Gate {
    fn new(max_concurrent: usize, max_waiting: usize) -> Self {
        Self {
            state: Mutex::new(GateState::default()),
            freed: Condvar::new(),
            max_concurrent,
            max_waiting,
        }
    }

    /// The counters. They are only ever changed by a few lines that cannot panic, so a
    /// poisoned lock still holds consistent counts and is safe to recover.
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn permit(&self, state: &mut GateState) -> Permit<'_> {
        state.running += 1;
        Permit {
            gate: self,
            buffer: state.idle_buffers.pop().unwrap_or_default(),
        }
    }

    /// Takes a slot, waiting for one if fewer than `max_waiting` callers already wait.
    fn acquire(&self) -> Result<Permit<'_>, HashError> {
        let mut state = self.lock();
        if state.running < self.max_concurrent {
            return Ok(self.permit(&mut state));
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
        Ok(self.permit(&mut state))
    }

    /// Takes a slot only if one is idle *and* nobody waits: work of the lowest priority
    /// (see [`SecretHasher::verify_if_idle`]) never delays anyone.
    fn acquire_idle(&self) -> Option<Permit<'_>> {
        let mut state = self.lock();
        (state.running < self.max_concurrent && state.waiting == 0).then(|| self.permit(&mut state))
    }
}

impl Permit<'_> {
    /// The slot's buffer, grown (once, for good) to `blocks` blocks.
    fn memory(&mut self, blocks: usize) -> &mut [Block] {
        if self.buffer.len() < blocks {
            // Reserved past glibc's largest mmap threshold, so the buffer always gets
            // its own mapping and goes back to the system when it is freed. Sized to
            // the need, a freed buffer raises glibc's threshold, the next one comes
            // from the heap and stays resident for good (19 MiB after the first
            // start's bootstrap hash). Only the `blocks` touched are resident.
            let mut buffer = Vec::with_capacity(blocks.max(MMAP_FLOOR_BLOCKS));
            buffer.resize(blocks, Block::default());
            self.buffer = buffer;
        }
        self.buffer.as_mut_slice()
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        let mut state = self.gate.lock();
        state.running = state.running.saturating_sub(1);
        if !buffer.is_empty() && state.idle_buffers.len() < self.gate.max_concurrent {
            state.idle_buffers.push(buffer);
        }
        drop(state);
        self.gate.freed.notify_one();
    }
}

/// Records an operation's time (wait included) when dropped.
struct Timed<'a>(&'a SecretHasher, Instant);

impl Drop for Timed<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.0.metrics.get() {
            m.argon2_seconds.observe(self.1.elapsed().as_secs_f64());
        }
    }
}

/// Hashes and verifies secrets with argon2id (v0x13) under a concurrency gate that owns
/// the working memory.
pub struct SecretHasher {
    params: Params,
    gate: Gate,
    /// A moving average of how long one verification takes (microseconds): what a
    /// refusal that needed no verification waits for, so every refusal costs the same.
    typical_micros: AtomicU64,
    /// Where the gate's refusals and each operation's time are counted (the server's).
    metrics: std::sync::OnceLock<std::sync::Arc<crate::metrics::Metrics>>,
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

/// A stored hash, parsed and checked.
struct Stored {
    params: Params,
    version: Version,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Stored {
    fn parse(phc: &str) -> Result<Self, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|_| HashError::Malformed)?;
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return Err(HashError::Malformed);
        }
        let (Some(salt), Some(hash)) = (parsed.salt, parsed.hash) else {
            return Err(HashError::Malformed);
        };
        // Parameters out of argon2's range make the string malformed, not a mismatch.
        let params = Params::try_from(&parsed).map_err(|_| HashError::Malformed)?;
        if params.m_cost() > MAX_M_COST_KIB {
            return Err(HashError::Malformed);
        }
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|_| HashError::Malformed)?,
            None => Version::V0x13,
        };
        let mut salt_buf = [0u8; 64];
        let salt = salt
            .decode_b64(&mut salt_buf)
            .map_err(|_| HashError::Malformed)?
            .to_vec();
        Ok(Self {
            params,
            version,
            salt,
            hash: hash.as_bytes().to_vec(),
        })
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
    /// be at least 1. Hashes once to measure how long a verification takes.
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
        let hasher = Self {
            params,
            gate: Gate::new(max_concurrent, max_waiting),
            typical_micros: AtomicU64::new(0),
            metrics: std::sync::OnceLock::new(),
        };
        let mut value = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(value.as_mut());
        let started = Instant::now();
        hasher.hash(value.as_ref(), rng)?;
        hasher
            .typical_micros
            .store(micros(started.elapsed()), Ordering::Relaxed);
        // The measurement's buffer goes back to the system at once (an allocation that
        // large is its own mapping): a server that has not verified anything yet holds
        // no argon2 memory. Slots allocate theirs on first use and keep it.
        hasher.release_idle_buffers();
        Ok(hasher)
    }

    /// Hashes `secret` with a fresh salt from `rng` into a PHC string
    /// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub fn hash(&self, secret: &[u8], rng: &mut impl CryptoRngCore) -> Result<String, HashError> {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut out = Zeroizing::new([0u8; OUTPUT_LEN]);
        {
            let started = Instant::now();
            let mut permit = self.acquire()?;
            let _timer = Timed(self, started);
            argon2_into(
                &self.params,
                Version::V0x13,
                secret,
                &salt,
                out.as_mut(),
                &mut permit,
            )?;
        }
        let internal = |e: argon2::password_hash::Error| HashError::Internal(e.to_string());
        let salt = SaltString::encode_b64(&salt).map_err(internal)?;
        let phc = PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(internal)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(out.as_ref()).map_err(internal)?),
        };
        Ok(phc.to_string())
    }

    /// Whether `secret` matches the stored PHC string (compared in constant time, with
    /// the parameters recorded in the string). `Ok(false)` on mismatch;
    /// [`HashError::Malformed`] if `phc` is not an argon2id PHC hash.
    pub fn verify(&self, secret: &[u8], phc: &str) -> Result<bool, HashError> {
        let stored = Stored::parse(phc)?;
        let started = Instant::now();
        let mut permit = self.acquire()?;
        let _timer = Timed(self, started);
        self.verify_with(secret, &stored, &mut permit)
    }

    /// Counts this hasher's refusals and times in `metrics` (once; later calls change
    /// nothing).
    pub(crate) fn count_in(&self, metrics: std::sync::Arc<crate::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// Gives the working buffers of idle slots back to the system (a slot allocates
    /// its buffer again on next use). For one-off work, such as start-up: called on
    /// every idle moment it would make each verification allocate anew, which is what
    /// the slots' buffers are there to avoid.
    pub fn release_idle_buffers(&self) {
        self.gate.lock().idle_buffers.clear();
    }

    /// Operations running and waiting for a slot now.
    pub fn load(&self) -> (usize, usize) {
        let state = self.gate.lock();
        (state.running, state.waiting)
    }

    fn acquire(&self) -> Result<Permit<'_>, HashError> {
        let permit = self.gate.acquire();
        if let (Err(HashError::Overloaded), Some(m)) = (&permit, self.metrics.get()) {
            m.argon2_refused.inc();
        }
        permit
    }

    /// Like [`Self::verify`], but only if a slot is idle and nobody waits for one
    /// (`None` otherwise): for attempts that are allowed only on spare capacity, such as
    /// a client whose source is throttled for failures.
    pub fn verify_if_idle(&self, secret: &[u8], phc: &str) -> Option<Result<bool, HashError>> {
        let stored = match Stored::parse(phc) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let started = Instant::now();
        let mut permit = self.gate.acquire_idle()?;
        let _timer = Timed(self, started);
        Some(self.verify_with(secret, &stored, &mut permit))
    }

    fn verify_with(
        &self,
        secret: &[u8],
        stored: &Stored,
        permit: &mut Permit<'_>,
    ) -> Result<bool, HashError> {
        let mut out = Zeroizing::new(vec![0u8; stored.hash.len()]);
        let started = Instant::now();
        argon2_into(
            &stored.params,
            stored.version,
            secret,
            &stored.salt,
            out.as_mut_slice(),
            permit,
        )
        .map_err(|_| HashError::Malformed)?;
        self.observe(started.elapsed());
        Ok(bool::from(out.as_slice().ct_eq(stored.hash.as_slice())))
    }

    /// How long one verification typically takes (a moving average, measured at start
    /// and on every verification since). A refusal that needed no verification — an
    /// unknown client ID, an inactive app — answers no sooner than this, so response
    /// times do not tell the cases apart.
    pub fn typical_verification(&self) -> Duration {
        Duration::from_micros(self.typical_micros.load(Ordering::Relaxed))
    }

    fn observe(&self, took: Duration) {
        let sample = micros(took);
        // An exponential moving average with weight 1/8; a lost race between two
        // updates only drops one sample.
        let old = self.typical_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.typical_micros.store(new, Ordering::Relaxed);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Runs argon2id into `out` with the permit's reusable buffer.
fn argon2_into(
    params: &Params,
    version: Version,
    secret: &[u8],
    salt: &[u8],
    out: &mut [u8],
    permit: &mut Permit<'_>,
) -> Result<(), HashError> {
    // The output length is the caller's buffer (a stored hash may have any valid length).
    let params = Params::new(
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        Some(out.len()),
    )
    .map_err(|e| HashError::Internal(e.to_string()))?;
    let blocks = params.block_count();
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(secret, salt, out, permit.memory(blocks))
        .map_err(|e| HashError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    use rand_core::OsRng;

    use super::*;

    fn cheap(max_concurrent: usize, max_waiting: usize) -> SecretHasher {
        let params = Params::new(64, 1, 1, None).unwrap();
        SecretHasher::with_params(params, max_concurrent, max_waiting, &mut OsRng).unwrap()
    }

    #[test]
    fn hash_then_verify() {
        let h = cheap(2, 2);
        let phc = h.hash(b"kwcs_secret", &mut OsRng).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(matches!(h.verify(b"kwcs_secret", &phc), Ok(true)));
        assert!(matches!(h.verify(b"kwcs_secreT", &phc), Ok(false)));
        // Two hashes of the same secret differ (fresh salt).
        let again = h.hash(b"kwcs_secret", &mut OsRng).unwrap();
        assert_ne!(phc, again);
    }

    #[test]
    fn hashes_are_interchangeable_with_the_argon2_crate() {
        // Hashes stored before the gate owned the memory were made by `hash_password`;
        // they must still verify, and ours must verify with the crate's verifier.
        let h = cheap(1, 1);
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, h.params.clone());
        let theirs = argon2
            .hash_password(b"s3cret", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(matches!(h.verify(b"s3cret", &theirs), Ok(true)));
        assert!(matches!(h.verify(b"s3creT", &theirs), Ok(false)));
        let ours = h.hash(b"s3cret", &mut OsRng).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2.verify_password(b"s3cret", &parsed).is_ok());
        assert!(argon2.verify_password(b"other", &parsed).is_err());
        // Another output length and memory cost than ours verify too.
        let params = Params::new(128, 2, 1, Some(48)).unwrap();
        let longer = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"x", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(matches!(h.verify(b"x", &longer), Ok(true)));
    }

    #[test]
    fn malformed_hashes_are_errors() {
        let h = cheap(1, 1);
        for bad in [
            "",
            "not a hash",
            "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ",
            "$pbkdf2-sha256$i=1000$c29tZXNhbHQ$aGFzaGhhc2hoYXNo",
            // Far more memory than Keyward ever configures.
            "$argon2id$v=19$m=1048576,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        ] {
            assert!(
                matches!(h.verify(b"x", bad), Err(HashError::Malformed)),
                "{bad:?} accepted"
            );
        }
        // An argon2i hash is refused: only argon2id is accepted.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, h.params.clone())
            .hash_password(b"x", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(matches!(
            h.verify(b"x", &argon2i),
            Err(HashError::Malformed)
        ));
    }

    #[test]
    fn working_memory_is_owned_by_the_slots_and_reused() {
        // Many hashes from many threads: the gate never holds more buffers than slots,
        // and each buffer has exactly the blocks one hash needs (no per-call buffers).
        let h = cheap(2, 64);
        let phc = h.hash(b"s", &mut OsRng).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        assert!(matches!(h.verify(b"s", &phc), Ok(true)));
                    }
                });
            }
        });
        let state = h.gate.lock();
        assert_eq!((state.running, state.waiting), (0, 0));
        assert!(
            (1..=2).contains(&state.idle_buffers.len()),
            "{}",
            state.idle_buffers.len()
        );
        for buffer in &state.idle_buffers {
            assert_eq!(buffer.len(), h.params.block_count());
        }
    }

    #[test]
    fn typical_verification_time_is_measured() {
        let h = SecretHasher::new(1, 1, &mut OsRng).unwrap();
        // Default parameters: milliseconds, not microseconds, even optimised.
        assert!(
            h.typical_verification() >= Duration::from_millis(1),
            "{:?}",
            h.typical_verification()
        );
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let params = Params::new(64, 1, 1, None).unwrap();
        assert!(matches!(
            SecretHasher::with_params(params, 0, 0, &mut OsRng),
            Err(HashError::Internal(_))
        ));
    }

    #[test]
    fn saturated_gate_refuses_at_once() {
        let h = cheap(1, 0);
        let phc = h.hash(b"s", &mut OsRng).unwrap();
        let permit = h.gate.acquire().unwrap();
        assert!(matches!(
            h.hash(b"s", &mut OsRng),
            Err(HashError::Overloaded)
        ));
        assert!(matches!(h.verify(b"s", &phc), Err(HashError::Overloaded)));
        assert!(h.verify_if_idle(b"s", &phc).is_none());
        drop(permit);
        assert!(matches!(h.verify(b"s", &phc), Ok(true)));
        assert!(matches!(h.verify_if_idle(b"s", &phc), Some(Ok(true))));
    }

    #[test]
    fn waiters_are_bounded_and_served_before_idle_only_work() {
        let h = cheap(1, 1);
        let phc = h.hash(b"s", &mut OsRng).unwrap();
        let permit = h.gate.acquire().unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| h.verify(b"s", &phc));
            // Wait until the other thread is parked in the gate.
            while h.gate.lock().waiting == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            // One waiter is the limit: a third caller is refused at once.
            assert!(matches!(h.verify(b"s", &phc), Err(HashError::Overloaded)));
            drop(permit);
            let result = waiter.join().unwrap();
            assert!(matches!(result, Ok(true)));
        });
        let state = h.gate.lock();
        assert_eq!((state.running, state.waiting), (0, 0));
        drop(state);
        // With a slot busy and one caller waiting, idle-only work does not jump the queue
        // even at the moment the slot frees.
        let busy = h.gate.acquire().unwrap();
        h.gate.lock().waiting = 1;
        drop(busy);
        assert!(h.verify_if_idle(b"s", &phc).is_none());
        h.gate.lock().waiting = 0;
    }
}
