//! [`ChangeListener`]: PostgreSQL's LISTEN side of the change feed. Every write that
//! appends a change also sends `NOTIFY keyward_changes` in its transaction (delivered
//! at commit, `sql/feed.rs`); a follower holding a listener wakes at once instead of
//! waiting for its next poll. The feed itself stays the truth: a notification only
//! says "read the feed now", and a lost one (a listener reconnecting) costs at most one
//! poll interval.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::connection::{pg_session_setup, redact};
use crate::{StoreError, StoreResult};

/// The channel writes notify and listeners listen on.
pub(super) const CHANNEL: &str = "keyward_changes";

/// How often a waiting listener looks at its socket. diesel's notification iterator
/// never blocks, so the wait polls: each look is one non-blocking read of data the
/// server already pushed (no round trip), so 5 ms costs nothing measurable and bounds
/// the delay a notification adds.
const POLL: Duration = Duration::from_millis(5);

/// How long a listener may go without hearing anything before it checks that its
/// connection is alive with a query (a server that vanished without closing the
/// socket sends nothing, and a silent socket looks like a quiet feed).
const LIVENESS: Duration = Duration::from_secs(2);

/// A dedicated PostgreSQL connection that LISTENs for change notifications. Made apart
/// from the store's pool and never returned to it (a pooled connection that LISTENs
/// would hand notifications to whoever borrows it next).
pub struct ChangeListener {
    conn: PgConnection,
    last_heard: Instant,
}

impl ChangeListener {
    /// Connects to `url` and starts listening.
    pub(super) fn connect(url: &str, busy_timeout_ms: u64) -> StoreResult<Self> {
        let mut conn = PgConnection::establish(url).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}",
                redact(url),
                e.to_string().trim()
            ))
        })?;
        conn.batch_execute(&format!(
            "{} LISTEN {CHANNEL};",
            pg_session_setup(busy_timeout_ms)
        ))
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            conn,
            last_heard: Instant::now(),
        })
    }

    /// Waits until a change is notified (`Ok(true)`, after taking every notification
    /// that arrived) or `timeout` passes (`Ok(false)`). `Unavailable` when the
    /// connection failed: make a new listener (and read the feed, which may hold
    /// changes whose notifications were lost).
    pub fn wait(&mut self, timeout: Duration) -> StoreResult<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut heard = false;
            for notification in self.conn.notifications_iter() {
                notification.map_err(|e| {
                    StoreError::Unavailable(format!("change listener: {}", e.to_string().trim()))
                })?;
                heard = true;
            }
            if heard {
                self.last_heard = Instant::now();
                return Ok(true);
            }
            if self.last_heard.elapsed() >= LIVENESS {
                self.conn.batch_execute("SELECT 1").map_err(|e| {
                    StoreError::Unavailable(format!("change listener: {}", e.to_string().trim()))
                })?;
                self.last_heard = Instant::now();
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }
}
