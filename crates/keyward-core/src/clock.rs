//! Time as a parameter: library code never reads the clock directly.

use chrono::{DateTime, Utc};

/// Where "now" comes from. The server uses [`SystemClock`]; tests can fix time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Whether a call may block on storage or hashing. Hot paths first run with
/// `Io::Forbidden` on the async worker; only on a cache miss do they run again with
/// `Io::Allowed` on a blocking thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// Storage reads and argon2 may run.
    Allowed,
    /// Answer from memory or report [`crate::Error::WouldBlock`].
    Forbidden,
}
