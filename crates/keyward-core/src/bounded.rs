//! A map with a fixed capacity that evicts one entry at a time (the CLOCK algorithm, a
//! cheap approximation of least-recently-used): the caches of the hot paths stay bounded
//! without ever clearing everything when full, so a burst of new keys costs the coldest
//! entries, not the whole cache.
//!
//! Reads take `&self` (the "recently used" mark is an atomic flag), so a cache behind an
//! `RwLock` serves hits under the shared read lock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};

struct Slot<K, V> {
    key: K,
    value: V,
    referenced: AtomicBool,
}

/// A bounded map with CLOCK eviction.
pub(crate) struct BoundedMap<K, V> {
    capacity: usize,
    index: HashMap<K, usize>,
    slots: Vec<Slot<K, V>>,
    hand: usize,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            index: HashMap::new(),
            slots: Vec::new(),
            hand: 0,
        }
    }

    /// The value for `key`, marking it recently used.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.slots.get(*self.index.get(key)?)?;
        // Load first: a hot entry is already marked, and not writing keeps its cache
        // line shared between the cores reading it.
        if !slot.referenced.load(Ordering::Relaxed) {
            slot.referenced.store(true, Ordering::Relaxed);
        }
        Some(&slot.value)
    }

    /// Whether `key` is present (without marking it used).
    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.contains_key(key)
    }

    /// Inserts or replaces; when full, evicts the first entry not used since the clock
    /// hand last passed it.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if let Some(slot) = self
            .index
            .get(&key)
            .copied()
            .and_then(|i| self.slots.get_mut(i))
        {
            slot.value = value;
            slot.referenced.store(true, Ordering::Relaxed);
            return;
        }
        let slot = Slot {
            key: key.clone(),
            value,
            referenced: AtomicBool::new(false),
        };
        if self.slots.len() < self.capacity {
            self.index.insert(key, self.slots.len());
            self.slots.push(slot);
            return;
        }
        // Every pass clears marks, so this ends within two turns of the clock.
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let Some(candidate) = self.slots.get_mut(self.hand) else {
                return;
            };
            if candidate.referenced.swap(false, Ordering::Relaxed) {
                self.hand += 1;
                continue;
            }
            self.index.remove(&candidate.key);
            self.index.insert(key, self.hand);
            *candidate = slot;
            self.hand += 1;
            return;
        }
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = self.index.remove(key)?;
        if i >= self.slots.len() {
            return None;
        }
        let removed = self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.key.clone(), i);
        }
        Some(removed.value)
    }

    /// Keeps only the entries for which `keep` says so.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let slots = std::mem::take(&mut self.slots);
        self.index.clear();
        for slot in slots {
            if keep(&slot.key, &slot.value) {
                self.index.insert(slot.key.clone(), self.slots.len());
                self.slots.push(slot);
            }
        }
        self.hand = 0;
    }

    /// Removes everything.
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.hand = 0;
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_map_evicts_one_cold_entry_not_everything() {
        let mut m = BoundedMap::new(3);
        m.insert("a", 1);
        m.insert("b", 2);
        m.insert("c", 3);
        // "a" and "c" are used; "b" is the coldest and goes.
        assert_eq!(m.get("a"), Some(&1));
        assert_eq!(m.get("c"), Some(&3));
        m.insert("d", 4);
        assert_eq!(m.len(), 3);
        assert!(!m.contains_key("b"));
        for k in ["a", "c", "d"] {
            assert!(m.contains_key(k), "{k} evicted");
        }
    }

    #[test]
    fn a_stream_of_new_keys_stays_within_capacity_and_keeps_hot_entries() {
        let mut m = BoundedMap::new(100);
        m.insert(u32::MAX, 0);
        for i in 0..10_000u32 {
            // The hot key is read between every insert, as a busy client's token is.
            assert_eq!(m.get(&u32::MAX), Some(&0), "hot entry lost at {i}");
            m.insert(i, i);
            assert!(m.len() <= 100);
        }
    }

    #[test]
    fn replace_remove_and_retain_keep_the_index_consistent() {
        let mut m = BoundedMap::new(4);
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            m.insert(k, v);
        }
        m.insert("b", 20);
        assert_eq!(m.get("b"), Some(&20));
        assert_eq!(m.remove("a"), Some(1));
        assert_eq!(m.remove("a"), None);
        assert_eq!(m.get("c"), Some(&3), "moved by swap_remove, still found");
        m.retain(|_, v| *v > 10);
        assert_eq!(m.len(), 1);
        assert_eq!(m.get("b"), Some(&20));
        m.clear();
        assert_eq!(m.len(), 0);
        assert_eq!(m.get("b"), None);
    }
}
