//! Per-thread shards for values every request writes: a counter both workers add to
//! (or a stamp both read next to a lock word both take) sits on a cache line of its own
//! per thread, so one core's write never evicts the line from the other's cache.
//!
//! At two workers on loopback, a handful of shared counters and lock words touched per
//! request cost as much as the request's own work (PERFORMANCE.md, third pass).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How many shards a [`ShardedCount`] keeps: threads beyond it share (correct, only
/// slower). Workers are numbered first, as they make their first request.
pub(crate) const SHARDS: usize = 16;

/// A value alone on its cache line (and the next: adjacent-line prefetch pairs them).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// This thread's shard index, assigned on first use.
fn slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SLOT.with(|s| *s)
}

/// A count added to per thread and read as the sum of its shards.
#[derive(Debug, Default)]
pub(crate) struct ShardedCount {
    shards: [Padded<AtomicU64>; SHARDS],
}

impl ShardedCount {
    /// Adds one on this thread's shard.
    pub(crate) fn inc(&self) {
        if let Some(shard) = self.shards.get(slot()) {
            shard.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The total over every thread.
    pub(crate) fn sum(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_add_up() {
        let count = Arc::new(ShardedCount::default());
        let threads: Vec<_> = (0..SHARDS + 3)
            .map(|_| {
                let count = Arc::clone(&count);
                std::thread::spawn(move || (0..1000).for_each(|_| count.inc()))
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        assert_eq!(count.sum(), u64::try_from((SHARDS + 3) * 1000).unwrap_or(0));
    }

    #[test]
    fn a_padded_value_has_its_own_lines() {
        assert_eq!(std::mem::align_of::<Padded<AtomicU64>>(), 128);
        assert_eq!(std::mem::size_of::<[Padded<AtomicU64>; 2]>(), 256);
    }
}
