//! The failure throttle of client authentication: how many failed secret verifications a
//! (client ID, source) pair and a source alone may cause in a window.
//!
//! An attempt is *reserved* before its verification runs and settled after it, under one
//! lock, so concurrent attempts cannot overshoot the limit (at most `max_failures`
//! verifications fail per pair and window, however many arrive at once). Once a pair or
//! its source is throttled, a request may still be verified at most once a second per
//! pair, and only on idle hashing capacity (the caller decides that): an attacker who
//! shares the legitimate client's address cannot lock the client out, and cannot use
//! the exception to run more than one verification a second either.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use keyward_domain::ClientId;

/// Most buckets kept; beyond it, settled buckets are dropped (expired ones first).
const MAX_BUCKETS: usize = 100_000;

/// How often a throttled pair may still have one request verified (milliseconds).
const PROBE_INTERVAL_MS: i64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    failures: u32,
    in_flight: u32,
    window_start: DateTime<Utc>,
    last_probe: Option<DateTime<Utc>>,
}

impl Bucket {
    fn new(now: DateTime<Utc>) -> Self {
        Self {
            failures: 0,
            in_flight: 0,
            window_start: now,
            last_probe: None,
        }
    }

    /// Starts a new window when the old one is over (in-flight attempts carry over).
    fn roll(&mut self, now: DateTime<Utc>, window_secs: i64) {
        if (now - self.window_start).num_seconds() >= window_secs {
            self.failures = 0;
            self.window_start = now;
        }
    }

    fn is_full(&self, limit: u32) -> bool {
        self.failures.saturating_add(self.in_flight) >= limit
    }

    /// Seconds until this bucket admits an attempt again.
    fn retry_after(&self, limit: u32, now: DateTime<Utc>, window_secs: i64) -> u64 {
        if self.failures >= limit {
            let left = window_secs - (now - self.window_start).num_seconds();
            u64::try_from(left).unwrap_or(1).max(1)
        } else {
            // Full only because of attempts still being verified: soon.
            1
        }
    }

    fn is_idle(&self, now: DateTime<Utc>, window_secs: i64) -> bool {
        self.in_flight == 0 && (now - self.window_start).num_seconds() >= window_secs
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// One client ID from one source.
    Pair(String),
    /// One source (an IPv4 address or an IPv6 /64), across client IDs.
    Source(String),
}

/// What the throttle says about an attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Verify it; settle the reservation with [`FailureThrottle::settle`].
    Reserved(Reservation),
    /// Throttled: answer 429 after `retry_after` seconds, unless `probe` — then the
    /// request may be verified if hashing capacity is idle (without a reservation; a
    /// failure is recorded with [`FailureThrottle::record_probe_failure`]).
    Throttled {
        /// Seconds until attempts are accepted again.
        retry_after: u64,
        /// Whether this request may be verified on idle capacity.
        probe: bool,
    },
}

/// A reserved attempt: counted against both buckets until settled.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation must be settled"]
pub(crate) struct Reservation {
    pair: Key,
    source: Key,
}

/// How a verification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The secret was wrong: counts as a failure.
    Failed,
    /// The secret was right, or the verification did not run (overload): no failure.
    NotFailed,
}

/// Failure counts per (client ID, source) and per source, in fixed windows.
pub(crate) struct FailureThrottle {
    max_per_pair: u32,
    max_per_source: u32,
    window_secs: i64,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

/// The source part of a key: IPv6 clients are grouped by /64, the block one subscriber
/// usually holds, so an attacker cannot escape the per-source budget by rotating through
/// the addresses of its own prefix.
fn source_key(source: Option<IpAddr>) -> String {
    match source {
        None => "-".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl FailureThrottle {
    /// A throttle allowing `max_per_pair` failures per (client ID, source) and
    /// `max_per_source` per source in each window of `window_secs`.
    pub(crate) fn new(max_per_pair: u32, max_per_source: u32, window_secs: i64) -> Self {
        Self {
            max_per_pair: max_per_pair.max(1),
            max_per_source: max_per_source.max(1),
            window_secs: window_secs.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The buckets. They are only changed by a few lines that cannot panic, so a
    /// poisoned lock still holds consistent counts.
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Bucket>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn make_room(&self, buckets: &mut HashMap<Key, Bucket>, now: DateTime<Utc>) {
        if buckets.len() < MAX_BUCKETS {
            return;
        }
        let window = self.window_secs;
        buckets.retain(|_, b| !b.is_idle(now, window));
        if buckets.len() >= MAX_BUCKETS {
            // Still full of live windows (a very wide attack): forget settled buckets.
            buckets.retain(|_, b| b.in_flight > 0);
        }
    }

    /// Reserves an attempt for `client_id` from `source`, or says it is throttled.
    pub(crate) fn admit(
        &self,
        client_id: &ClientId,
        source: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Admission {
        self.admit_named(client_id.as_str(), source, now)
    }

    /// [`Self::admit`] for any name (a username at the console login).
    pub(crate) fn admit_named(
        &self,
        name: &str,
        source: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Admission {
        let source = source_key(source);
        let pair = Key::Pair(format!("{name}@{source}"));
        let source = Key::Source(source);
        let mut buckets = self.lock();
        self.make_room(&mut buckets, now);
        let window = self.window_secs;
        let mut source_bucket = *buckets
            .entry(source.clone())
            .or_insert_with(|| Bucket::new(now));
        source_bucket.roll(now, window);
        let pair_bucket = buckets
            .entry(pair.clone())
            .or_insert_with(|| Bucket::new(now));
        pair_bucket.roll(now, window);
        let pair_full = pair_bucket.is_full(self.max_per_pair);
        let source_full = source_bucket.is_full(self.max_per_source);
        let admission = if pair_full || source_full {
            let mut retry_after = 0;
            if pair_full {
                retry_after = pair_bucket.retry_after(self.max_per_pair, now, window);
            }
            if source_full {
                retry_after =
                    retry_after.max(source_bucket.retry_after(self.max_per_source, now, window));
            }
            let probe = match pair_bucket.last_probe {
                None => true,
                Some(last) => (now - last).num_milliseconds() >= PROBE_INTERVAL_MS,
            };
            if probe {
                pair_bucket.last_probe = Some(now);
            }
            Admission::Throttled { retry_after, probe }
        } else {
            pair_bucket.in_flight += 1;
            source_bucket.in_flight += 1;
            Admission::Reserved(Reservation {
                pair: pair.clone(),
                source: source.clone(),
            })
        };
        buckets.insert(source, source_bucket);
        admission
    }

    /// Settles a reservation.
    pub(crate) fn settle(&self, reservation: Reservation, outcome: Outcome) {
        let mut buckets = self.lock();
        for key in [&reservation.pair, &reservation.source] {
            if let Some(bucket) = buckets.get_mut(key) {
                bucket.in_flight = bucket.in_flight.saturating_sub(1);
                if outcome == Outcome::Failed {
                    bucket.failures = bucket.failures.saturating_add(1);
                }
            }
        }
    }

    /// Counts a failed probe (a throttled request verified on idle capacity) against
    /// its source, so probes from many client IDs still exhaust the source's budget.
    pub(crate) fn record_probe_failure(&self, source: Option<IpAddr>) {
        let mut buckets = self.lock();
        if let Some(bucket) = buckets.get_mut(&Key::Source(source_key(source))) {
            bucket.failures = bucket.failures.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(millis: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000 + millis).unwrap()
    }

    fn cid(s: &str) -> ClientId {
        ClientId::parse(s).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn reserve(th: &FailureThrottle, c: &str, src: &str, now: DateTime<Utc>) -> Reservation {
        match th.admit(&cid(c), ip(src), now) {
            Admission::Reserved(r) => r,
            other => panic!("expected a reservation, got {other:?}"),
        }
    }

    #[test]
    fn concurrent_attempts_cannot_overshoot_the_limit() {
        let th = FailureThrottle::new(3, 100, 60);
        // Three attempts in flight at once fill the pair's budget before any fails.
        let held: Vec<_> = (0..3)
            .map(|_| reserve(&th, "c", "10.0.0.1", t(0)))
            .collect();
        assert!(matches!(
            th.admit(&cid("c"), ip("10.0.0.1"), t(0)),
            Admission::Throttled { retry_after: 1, .. }
        ));
        for r in held {
            th.settle(r, Outcome::Failed);
        }
        assert!(matches!(
            th.admit(&cid("c"), ip("10.0.0.1"), t(10_000)),
            Admission::Throttled {
                retry_after: 50,
                ..
            }
        ));
        // Another source, and another client from the same source, are unaffected.
        th.settle(reserve(&th, "c", "10.0.0.2", t(10_000)), Outcome::Failed);
        th.settle(reserve(&th, "d", "10.0.0.1", t(10_000)), Outcome::NotFailed);
        // The window ends: counting starts afresh.
        th.settle(reserve(&th, "c", "10.0.0.1", t(60_000)), Outcome::Failed);
    }

    #[test]
    fn successes_and_overloads_are_not_failures() {
        let th = FailureThrottle::new(2, 100, 60);
        for _ in 0..10 {
            th.settle(reserve(&th, "c", "10.0.0.1", t(0)), Outcome::NotFailed);
        }
        th.settle(reserve(&th, "c", "10.0.0.1", t(0)), Outcome::Failed);
        th.settle(reserve(&th, "c", "10.0.0.1", t(0)), Outcome::Failed);
        assert!(matches!(
            th.admit(&cid("c"), ip("10.0.0.1"), t(0)),
            Admission::Throttled { .. }
        ));
    }

    #[test]
    fn a_throttled_pair_gets_one_probe_a_second() {
        let th = FailureThrottle::new(1, 100, 60);
        th.settle(reserve(&th, "c", "10.0.0.1", t(0)), Outcome::Failed);
        let probe = |at| match th.admit(&cid("c"), ip("10.0.0.1"), at) {
            Admission::Throttled { probe, .. } => probe,
            Admission::Reserved(_) => panic!("not throttled"),
        };
        assert!(probe(t(100)));
        assert!(!probe(t(200)));
        assert!(!probe(t(1099)));
        assert!(probe(t(1100)));
    }

    #[test]
    fn a_source_has_a_budget_across_client_ids() {
        let th = FailureThrottle::new(10, 3, 60);
        for c in ["a", "b", "c"] {
            th.settle(reserve(&th, c, "10.0.0.1", t(0)), Outcome::Failed);
        }
        // A fourth client ID from the same source is throttled, another source is not.
        assert!(matches!(
            th.admit(&cid("d"), ip("10.0.0.1"), t(0)),
            Admission::Throttled {
                retry_after: 60,
                ..
            }
        ));
        th.settle(reserve(&th, "d", "10.0.0.2", t(0)), Outcome::NotFailed);
        // Failed probes count against the source too.
        th.record_probe_failure(ip("10.0.0.2"));
        th.record_probe_failure(ip("10.0.0.2"));
        th.record_probe_failure(ip("10.0.0.2"));
        assert!(matches!(
            th.admit(&cid("e"), ip("10.0.0.2"), t(0)),
            Admission::Throttled { .. }
        ));
    }

    #[test]
    fn ipv6_sources_are_grouped_by_prefix() {
        assert_eq!(
            source_key(ip("2001:db8:1:2:aaaa::1")),
            source_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            source_key(ip("2001:db8:1:2::1")),
            source_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(source_key(ip("::ffff:10.0.0.1")), "10.0.0.1");
        assert_eq!(source_key(None), "-");
    }
}
