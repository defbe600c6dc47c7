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
//!   an arbitrary tenth (`discord_oauth_core::bounded`).
//!
//! Reads take a read lock only (every authenticated request reads; both workers at once).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
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
    map: RwLock<HashMap<Id, (Arc<AuthSession>, Instant)>>,
    ttl: Duration,
    capacity: usize,
}

impl AuthCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    pub(crate) fn get(&self, id: &Id) -> Option<Arc<AuthSession>> {
        if self.ttl.is_zero() || self.capacity == 0 {
            return None;
        }
        let expired = {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            match map.get(id) {
                Some((a, at)) if at.elapsed() < self.ttl => return Some(Arc::clone(a)),
                Some(_) => true,
                None => false,
            }
        };
        if expired {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            if map.get(id).is_some_and(|(_, at)| at.elapsed() >= self.ttl) {
                map.remove(id);
            }
        }
        None
    }

    pub(crate) fn insert(&self, id: Id, session: Arc<AuthSession>) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let now = monotonic_now();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(&id) {
            discord_oauth_core::bounded::make_room(&mut map, self.capacity, |(_, at)| {
                now.duration_since(*at) < self.ttl
            });
        }
        map.insert(id, (session, now));
    }

    pub(crate) fn remove(&self, id: &Id) {
        self.map.write().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use discord_oauth_core::api::User;

    use super::*;

    fn session(n: u64) -> Arc<AuthSession> {
        let user: User = serde_json::from_value(serde_json::json!({"id": n.to_string(), "username": "u"})).unwrap();
        Arc::new(AuthSession {
            user,
            tokens: None,
            authenticated_at: SystemTime::UNIX_EPOCH,
        })
    }

    #[test]
    fn capacity_is_a_hard_bound() {
        let cache = AuthCache::new(Duration::from_secs(60), 100);
        let ids: Vec<Id> = (0..1000).map(|_| Id::default()).collect();
        for (n, id) in ids.iter().enumerate() {
            cache.insert(*id, session(n as u64));
            assert!(cache.len() <= 100);
        }
        // The newest entry is always present; older ones made room.
        assert!(cache.get(&ids[999]).is_some());
        assert!(ids.iter().filter(|id| cache.get(id).is_some()).count() <= 100);
    }

    #[test]
    fn entries_expire_after_ttl_and_can_be_removed() {
        let cache = AuthCache::new(Duration::from_millis(20), 10);
        let id = Id::default();
        cache.insert(id, session(1));
        assert!(cache.get(&id).is_some());
        cache.remove(&id);
        assert!(cache.get(&id).is_none());
        cache.insert(id, session(1));
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get(&id).is_none(), "expired entries are not served");
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = AuthCache::new(Duration::ZERO, 10);
        let id = Id::default();
        cache.insert(id, session(1));
        assert!(cache.get(&id).is_none());
        assert_eq!(cache.len(), 0);
    }
}
