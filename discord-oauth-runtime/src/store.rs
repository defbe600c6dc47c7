//! [`SessionMap`]: the bounded, expiring in-process map under both integrations'
//! `MemoryStore`s (each adds its session crate's store interface).
//!
//! - **Bounded** in sessions ([`SessionMap::DEFAULT_CAPACITY`], 100,000) and in bytes
//!   ([`SessionMap::DEFAULT_MAX_BYTES`], 256 MiB, as the store weighs each record); when a
//!   bound is reached, expired records go first, then the ones closest to expiry (the least
//!   recently active), in O(log n) ([`discord_oauth_core::bounded::ExpiringMap`]).
//! - **Expired records are dropped** as new ones arrive, and never read.

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use discord_oauth_core::bounded::ExpiringMap;

/// A bounded in-process map of sessions that expire; clones share the sessions.
///
/// ```
/// use std::time::Duration;
/// use discord_oauth_runtime::store::SessionMap;
/// let map: SessionMap<u64, String> = SessionMap::with_limits(2, 1 << 20);
/// map.put(1, "a".into(), 1, Duration::from_secs(60));
/// assert!(!map.replace(2, "b".into(), 1, Duration::from_secs(60)), "only an existing session is replaced");
/// assert_eq!(map.get(&1).as_deref(), Some("a"));
/// assert_eq!(map.len(), 1);
/// ```
pub struct SessionMap<K, V> {
    map: Arc<Mutex<ExpiringMap<K, V>>>,
    capacity: usize,
    max_bytes: usize,
}

impl<K, V> Clone for SessionMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            map: Arc::clone(&self.map),
            capacity: self.capacity,
            max_bytes: self.max_bytes,
        }
    }
}

impl<K: Hash + Eq + Ord + Clone, V: Clone> fmt::Debug for SessionMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMap")
            .field("sessions", &self.len())
            .field("bytes", &self.bytes())
            .field("capacity", &self.capacity)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Ord + Clone, V: Clone> Default for SessionMap<K, V> {
    fn default() -> Self {
        Self::with_limits(Self::DEFAULT_CAPACITY, Self::DEFAULT_MAX_BYTES)
    }
}

impl<K: Hash + Eq + Ord + Clone, V: Clone> SessionMap<K, V> {
    /// How many sessions a default map holds at most.
    pub const DEFAULT_CAPACITY: usize = 100_000;
    /// How many bytes of sessions a default map holds at most.
    pub const DEFAULT_MAX_BYTES: usize = 256 << 20;

    /// At most `capacity` sessions (at least 1) and `max_bytes` bytes.
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            map: Arc::new(Mutex::new(ExpiringMap::new(capacity, max_bytes))),
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, ExpiringMap<K, V>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many sessions it holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.locked().len()
    }

    /// `true` when it holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many bytes its sessions weigh.
    pub fn bytes(&self) -> usize {
        self.locked().bytes()
    }

    /// The session at `key`, unless it expired.
    pub fn get(&self, key: &K) -> Option<V> {
        self.locked().get(key, Instant::now()).cloned()
    }

    /// `true` if a session that has not expired is at `key`.
    pub fn contains(&self, key: &K) -> bool {
        self.locked().contains(key, Instant::now())
    }

    /// Stores `value` (weighing `bytes`) at `key` for `ttl`, making room if needed.
    pub fn put(&self, key: K, value: V, bytes: usize, ttl: Duration) {
        let now = Instant::now();
        self.locked()
            .put(key, value, bytes, now.checked_add(ttl).unwrap_or(now), now);
    }

    /// [`SessionMap::put`] only if a live session is at `key` (so that a session deleted by a
    /// logout is never written back by a request that read it earlier); `true` if stored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use discord_oauth_runtime::store::SessionMap;
    ///
    /// let map: SessionMap<&str, &str> = SessionMap::default();
    /// let ttl = Duration::from_secs(3600);
    /// map.put("sid", "login", 5, ttl);
    /// assert!(map.replace("sid", "login, refreshed", 16, ttl));
    ///
    /// // A logout deletes the session while a slower request of the same browser still
    /// // holds what it read: its write does not bring the session back.
    /// map.remove(&"sid");
    /// assert!(!map.replace("sid", "login, refreshed", 16, ttl));
    /// assert!(!map.contains(&"sid"));
    /// ```
    pub fn replace(&self, key: K, value: V, bytes: usize, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut map = self.locked();
        let live = map.contains(&key, now);
        if live {
            map.put(key, value, bytes, now.checked_add(ttl).unwrap_or(now), now);
        }
        live
    }

    /// Stores a new session at a key drawn from `new_key` (again while the key is taken),
    /// made by `value` from that key; returns the key.
    ///
    /// ```
    /// use std::time::Duration;
    /// use discord_oauth_runtime::store::SessionMap;
    ///
    /// let map: SessionMap<u64, String> = SessionMap::default();
    /// map.put(1, "taken".into(), 5, Duration::from_secs(60));
    /// // A key generator that first draws a taken key (in production: a random session id).
    /// let mut draws = [1, 2].into_iter();
    /// let key = map.insert_new(|| draws.next().unwrap_or(3), |k| format!("session {k}"), 9, Duration::from_secs(60));
    /// assert_eq!(key, 2);
    /// assert_eq!(map.get(&2).as_deref(), Some("session 2"));
    /// assert_eq!(map.get(&1).as_deref(), Some("taken"));
    /// ```
    pub fn insert_new(
        &self,
        mut new_key: impl FnMut() -> K,
        value: impl FnOnce(&K) -> V,
        bytes: usize,
        ttl: Duration,
    ) -> K {
        let now = Instant::now();
        let mut map = self.locked();
        let mut key = new_key();
        while map.contains(&key, now) {
            key = new_key();
        }
        let value = value(&key);
        map.put(key.clone(), value, bytes, now.checked_add(ttl).unwrap_or(now), now);
        key
    }

    /// Makes the session at `key` expire `ttl` from now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use discord_oauth_runtime::store::SessionMap;
    ///
    /// let map: SessionMap<&str, u32> = SessionMap::default();
    /// map.put("sid", 7, 4, Duration::from_secs(3600));
    /// map.set_ttl(&"sid", Duration::ZERO); // expires now: never read again
    /// assert!(!map.contains(&"sid"));
    /// assert_eq!(map.get(&"sid"), None);
    /// map.remove(&"sid");
    /// assert!(map.is_empty());
    /// ```
    pub fn set_ttl(&self, key: &K, ttl: Duration) {
        let now = Instant::now();
        self.locked().set_expiry(key, now.checked_add(ttl).unwrap_or(now));
    }

    /// Deletes the session at `key`.
    pub fn remove(&self, key: &K) {
        self.locked().remove(key);
    }
}
