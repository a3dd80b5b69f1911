//! Randomness as a parameter: the use cases draw secrets, client IDs, token IDs and
//! salts from the [`Randomness`] the core was built with, never from a global source.
//! The server uses [`OsRandomness`], the operating system's CSPRNG; the one place that
//! names it is this module.

use rand_core::{CryptoRng, RngCore};

/// A source of cryptographically secure random bytes.
pub trait Randomness: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandomness;

impl Randomness for OsRandomness {
    #[allow(clippy::disallowed_types)] // the one home of OsRng
    fn fill(&self, dest: &mut [u8]) {
        rand_core::OsRng.fill_bytes(dest);
    }
}

/// A [`Randomness`] as the `rand_core` RNG the crypto crates take.
pub(crate) struct Rng<'a>(pub(crate) &'a dyn Randomness);

impl RngCore for Rng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

// Sound because every `Randomness` promises cryptographic quality.
impl CryptoRng for Rng<'_> {}
