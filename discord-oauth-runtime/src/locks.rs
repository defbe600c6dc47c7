//! [`KeyedLocks`]: one async mutex per key, taken for a refresh (per session, or per refresh
//! token) so that concurrent requests refresh once. Both integrations' in-process refresh
//! single flight is this; their Redis locks hold one too, so requests of one instance queue
//! here rather than polling Redis.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

type Map<K> = Arc<Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>>;

/// An async mutex per key. Bounded by use: a key's entry exists only while some request
/// holds or waits for its lock.
pub struct KeyedLocks<K> {
    locks: Map<K>,
}

impl<K> Clone for KeyedLocks<K> {
    fn clone(&self) -> Self {
        Self {
            locks: Arc::clone(&self.locks),
        }
    }
}

impl<K> Default for KeyedLocks<K> {
    fn default() -> Self {
        Self { locks: Arc::default() }
    }
}

impl<K: Eq + Hash> fmt::Debug for KeyedLocks<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLocks").field("held", &self.len()).finish()
    }
}

impl<K: Eq + Hash + Clone> KeyedLocks<K> {
    /// Waits for `key`'s lock. Dropping the guard releases it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use discord_oauth_runtime::locks::KeyedLocks;
    /// let locks = KeyedLocks::default();
    /// let guard = locks.lock(7u8).await;
    /// assert_eq!(locks.len(), 1);
    /// drop(guard);
    /// assert!(locks.is_empty());
    /// # }
    /// ```
    pub async fn lock(&self, key: K) -> KeyedGuard<K> {
        let mutex = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry(key.clone()).or_default())
        };
        let guard = mutex.lock_owned().await;
        KeyedGuard {
            guard: Some(guard),
            locks: Arc::clone(&self.locks),
            key,
        }
    }
}

impl<K: Eq + Hash> KeyedLocks<K> {
    /// How many keys are held or waited for.
    pub fn len(&self) -> usize {
        self.locks.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// `true` when no key is held or waited for.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A held [`KeyedLocks`] lock; dropping it releases the lock (and the key's entry, when no
/// one else waits for it).
pub struct KeyedGuard<K: Eq + Hash> {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    locks: Map<K>,
    key: K,
}

impl<K: Eq + Hash> fmt::Debug for KeyedGuard<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedGuard").finish_non_exhaustive()
    }
}

impl<K: Eq + Hash> Drop for KeyedGuard<K> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        if locks.get(&self.key).is_some_and(|m| Arc::strong_count(m) == 1) {
            locks.remove(&self.key);
        }
    }
}
