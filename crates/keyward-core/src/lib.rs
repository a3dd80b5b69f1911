//! Keyward's token-issuance core (work in progress: crypto modules first).

pub mod hashing;
pub mod jwt;
pub mod keys;
pub mod secret;
