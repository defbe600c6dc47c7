//! [`KeyedLocks`]: one async mutex per key, taken for a refresh (per session, or per refresh
//! token) so that concurrent requests refresh once. Both integrations' in-process refresh
//! single flight is this; their Redis locks hold one too, so requests of one instance queue
//! here rather than polling Redis.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
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

/// Why a refresh lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock's backend (Redis) failed or did not answer in time.
    #[error("the refresh lock's backend failed: {0}")]
    Backend(String),
    /// The lock stayed taken for the whole lease: its holder outlived the lease.
    #[error("timed out waiting for the refresh lock")]
    Timeout,
}

/// The Lua script that releases a Redis lock (`KEYS[1]`) only if it still holds this holder's
/// token (`ARGV[1]`): a holder whose lease expired must not release the next holder's lock.
/// Both integrations' Redis refresh locks run it, each with its Redis client.
pub const REDIS_RELEASE_SCRIPT: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// A Redis lock's holder token: 128 random bits, hex.
pub fn lock_token() -> String {
    use rand::RngExt as _;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Takes a Redis lock: calls `set_nx` (a `SET key token NX PX lease`, `true` when it took the
/// lock) until it succeeds, backing off from 5 ms to 100 ms between tries, for at most `lease`
/// (then `Ok(false)`: a holder outlived its lease, which the lease was chosen to prevent).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use discord_oauth_runtime::locks::take_redis_lock;
/// let mut tries = 0;
/// let taken = take_redis_lock(Duration::from_secs(1), || {
///     tries += 1;
///     std::future::ready(Ok::<_, ()>(tries == 3))
/// })
/// .await;
/// assert_eq!((taken, tries), (Ok(true), 3));
/// # }
/// ```
pub async fn take_redis_lock<E, F: Future<Output = Result<bool, E>>>(
    lease: std::time::Duration,
    mut set_nx: impl FnMut() -> F,
) -> Result<bool, E> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        if set_nx().await? {
            return Ok(true);
        }
        if started.elapsed() >= lease {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(100));
    }
}
