//! A bounded, time-limited in-process cache of authenticated sessions, in front of the
//! session store.
//!
//! Loading and decoding the session record on every request is what makes session middleware
//! slow; the cache keeps the decoded [`AuthSession`] behind an `Arc` keyed by session id.
//! Consistency rules:
//! - on this instance, logout, refresh and session end update the cache at once;
//! - an entry is trusted for at most `ttl` (default 30 s): a logout on *another* instance is
//!   seen here within that bound. Set the TTL to zero to read the store on every request.
//! - at most `capacity` entries (default 100 000); when full, expired entries go first, then
//!   the least recently inserted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use discord_oauth_core::login::AuthSession;
use tower_sessions::session::Id;

use crate::service::monotonic_now;

/// Default time an entry is trusted.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// Default maximum number of entries.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

#[derive(Debug)]
pub(crate) struct AuthCache {
    map: Mutex<HashMap<Id, (Arc<AuthSession>, Instant)>>,
    ttl: Duration,
    capacity: usize,
}

impl AuthCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    pub(crate) fn get(&self, id: &Id) -> Option<Arc<AuthSession>> {
        if self.ttl.is_zero() || self.capacity == 0 {
            return None;
        }
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(id) {
            Some((a, at)) if at.elapsed() < self.ttl => Some(Arc::clone(a)),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, id: Id, session: Arc<AuthSession>) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let now = monotonic_now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.capacity && !map.contains_key(&id) {
            map.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
            if map.len() >= self.capacity
                && let Some(oldest) = map.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(id, (session, now));
    }

    pub(crate) fn remove(&self, id: &Id) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
