//! A background thread that keeps a [`Validator`] current with changes made by other
//! processes (the Keyward server, the CLI), for services that embed the validator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Validator;

/// Follows the change feed every `interval` until dropped.
pub struct ChangeFollower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ChangeFollower {
    /// Starts following. A deactivation, deletion, role change or environment change
    /// made anywhere reaches `validator` within about one `interval`.
    pub fn spawn(validator: Arc<Validator>, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Acquire) {
                std::thread::sleep(interval);
                if let Err(e) = validator.sync_changes() {
                    log::warn!("following Keyward's change feed: {e}");
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ChangeFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
