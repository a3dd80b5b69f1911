//! Last-use times gathered in memory and written in batches: apps (last token issued or
//! API key used), client secrets (last authentication with each) and API keys (last
//! call made with each). No request waits on a write for them.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use keyward_domain::{AppId, CredentialId};
use keyward_store::Usage;

/// The usage not yet written.
#[derive(Default)]
pub(crate) struct PendingUsage {
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    apps: HashMap<AppId, DateTime<Utc>>,
    secrets: HashMap<CredentialId, DateTime<Utc>>,
    api_keys: HashMap<CredentialId, DateTime<Utc>>,
}

/// Microseconds, as storage keeps them: a value shown before and after its batch is
/// written is the same.
fn stored_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

fn keep_latest<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, DateTime<Utc>>,
    key: K,
    at: DateTime<Utc>,
) {
    let entry = map.entry(key).or_insert(at);
    if *entry < at {
        *entry = at;
    }
}

impl PendingUsage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An app was used (a token issued, or an API key of it used).
    pub(crate) fn app(&self, app: AppId, at: DateTime<Utc>) {
        keep_latest(&mut self.lock().apps, app, stored_precision(at));
    }

    /// A client secret authenticated its app.
    pub(crate) fn secret(&self, id: &CredentialId, at: DateTime<Utc>) {
        let at = stored_precision(at);
        let mut pending = self.lock();
        // A clone only when the secret is not pending yet (once per batch).
        match pending.secrets.get_mut(id) {
            Some(entry) => *entry = (*entry).max(at),
            None => {
                pending.secrets.insert(id.clone(), at);
            }
        }
    }

    /// An API key was used, and so its app.
    pub(crate) fn api_key(&self, id: &CredentialId, app: AppId, at: DateTime<Utc>) {
        let at = stored_precision(at);
        let mut pending = self.lock();
        match pending.api_keys.get_mut(id) {
            Some(entry) => *entry = (*entry).max(at),
            None => {
                pending.api_keys.insert(id.clone(), at);
            }
        }
        keep_latest(&mut pending.apps, app, at);
    }

    /// The pending last use of an app.
    pub(crate) fn pending_app(&self, app: AppId) -> Option<DateTime<Utc>> {
        self.lock().apps.get(&app).copied()
    }

    /// The pending last use of a secret.
    pub(crate) fn pending_secret(&self, id: &CredentialId) -> Option<DateTime<Utc>> {
        self.lock().secrets.get(id).copied()
    }

    /// The pending last use of an API key.
    pub(crate) fn pending_api_key(&self, id: &CredentialId) -> Option<DateTime<Utc>> {
        self.lock().api_keys.get(id).copied()
    }

    /// Takes the batch to write.
    pub(crate) fn take(&self) -> Usage {
        let mut pending = self.lock();
        Usage {
            apps: pending.apps.drain().collect(),
            secrets: pending.secrets.drain().collect(),
            api_keys: pending.api_keys.drain().collect(),
        }
    }

    /// Puts back a batch whose write failed (newer values win).
    pub(crate) fn restore(&self, batch: Usage) {
        let mut pending = self.lock();
        for (app, at) in batch.apps {
            keep_latest(&mut pending.apps, app, at);
        }
        for (id, at) in batch.secrets {
            keep_latest(&mut pending.secrets, id, at);
        }
        for (id, at) in batch.api_keys {
            keep_latest(&mut pending.api_keys, id, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_use_wins_and_a_failed_batch_comes_back() {
        let usage = PendingUsage::default();
        let t = |s| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default();
        let key = CredentialId::parse("k1", "id").unwrap_or_else(|e| panic!("{e}"));
        usage.api_key(&key, AppId(1), t(20));
        usage.api_key(&key, AppId(1), t(10));
        usage.app(AppId(1), t(15));
        assert_eq!(usage.pending_api_key(&key), Some(t(20)));
        assert_eq!(
            usage.pending_app(AppId(1)),
            Some(t(20)),
            "a key use is an app use"
        );
        let batch = usage.take();
        assert_eq!(batch.len(), 2);
        assert_eq!(usage.pending_app(AppId(1)), None);
        usage.app(AppId(1), t(30));
        usage.restore(batch);
        assert_eq!(usage.pending_app(AppId(1)), Some(t(30)), "newer values win");
        assert_eq!(usage.pending_api_key(&key), Some(t(20)));
    }
}
