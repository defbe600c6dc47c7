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
//!   an arbitrary tenth (`discord_oauth_core::bounded`);
//! - an entry leaving the map for any reason (removal, replacement, eviction) is marked dead,
//!   so the fast path's cookie index, which holds entries directly, never serves one the
//!   cache no longer has.
//!
//! Reads take a read lock only (every authenticated request reads; both workers at once).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use discord_oauth_core::login::AuthSession;
use tower_sessions::session::Id;

use crate::service::monotonic_now;

/// Default time an entry is trusted.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// Default maximum number of entries.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// One cached session. It is *live* while the cache holds it: removing it, replacing it or
/// evicting it from the cache kills it (see [`Held`]), so the fast path's cookie index, which
/// points straight at it, stops serving it at once without a second lookup by session id.
#[derive(Debug)]
pub(crate) struct CachedSession {
    pub(crate) id: Id,
    pub(crate) auth: Arc<AuthSession>,
    at: Instant,
    live: AtomicBool,
}

impl CachedSession {
    /// Still in the cache, and younger than `ttl` at `now`.
    pub(crate) fn is_live(&self, now: Instant, ttl: Duration) -> bool {
        self.live.load(Ordering::Acquire) && now.saturating_duration_since(self.at) < ttl
    }
}

/// The cache's hold on a [`CachedSession`]: however it leaves the map, dropping it marks the
/// session dead for everything else that points at it.
#[derive(Debug)]
struct Held(Arc<CachedSession>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.live.store(false, Ordering::Release);
    }
}

#[derive(Debug)]
pub(crate) struct AuthCache {
    map: RwLock<HashMap<Id, Held>>,
    ttl: Duration,
    capacity: usize,
    /// Counts removals (logout, session end, refresh, cycled ids): a session read from the
    /// store by a request that started before a removal is not cached (it may be what was
    /// removed: a logout racing a reload must not put the session back).
    epoch: AtomicU64,
}

impl AuthCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            ttl,
            capacity,
            epoch: AtomicU64::new(0),
        }
    }

    /// The live cached session `id`, if any.
    pub(crate) fn entry(&self, id: &Id) -> Option<Arc<CachedSession>> {
        if self.ttl.is_zero() || self.capacity == 0 {
            return None;
        }
        let now = monotonic_now();
        let expired = {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            match map.get(id) {
                Some(Held(e)) if e.is_live(now, self.ttl) => return Some(Arc::clone(e)),
                Some(_) => true,
                None => false,
            }
        };
        if expired {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            if map.get(id).is_some_and(|Held(e)| !e.is_live(now, self.ttl)) {
                map.remove(id);
            }
        }
        None
    }

    /// Removes every cached session of the logins `revocation` names (a scan: revocations
    /// are rare).
    pub(crate) fn remove_matching(&self, revocation: &discord_oauth_core::login::revocation::Revocation) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        map.retain(|_, Held(e)| !revocation.matches(&e.auth));
    }

    #[cfg(test)]
    pub(crate) fn get(&self, id: &Id) -> Option<Arc<AuthSession>> {
        self.entry(id).map(|e| Arc::clone(&e.auth))
    }

    /// Caches `session` for `id`; returns the new entry (`None` when the cache is off).
    /// The current removal count; pass it to [`AuthCache::insert`] for a session read from the
    /// store after this call.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Caches `session` for `id`, unless a session was removed since `epoch` (then `None`:
    /// the request that read it is served, but the cache is left alone).
    pub(crate) fn insert(&self, id: Id, session: Arc<AuthSession>, epoch: u64) -> Option<Arc<CachedSession>> {
        if self.ttl.is_zero() || self.capacity == 0 {
            return None;
        }
        let now = monotonic_now();
        let cached = Arc::new(CachedSession {
            id,
            auth: session,
            at: now,
            live: AtomicBool::new(true),
        });
        let entry = Held(Arc::clone(&cached));
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        // Removals bump the epoch under the write lock: checked here, under it too.
        if self.epoch.load(Ordering::Acquire) != epoch {
            return None;
        }
        if !map.contains_key(&id) {
            discord_oauth_core::bounded::make_room(&mut map, self.capacity, |Held(e)| e.is_live(now, self.ttl));
        }
        // The entry it replaces, if any, dies here.
        map.insert(id, entry);
        Some(cached)
    }

    /// Removes `id`'s session: its entry dies at once (so the fast path stops serving it),
    /// and no request that read it from the store before now can cache it again.
    pub(crate) fn remove(&self, id: &Id) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        map.remove(id);
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
            login_id: 0,
        })
    }

    #[test]
    fn capacity_is_a_hard_bound() {
        let cache = AuthCache::new(Duration::from_secs(60), 100);
        let ids: Vec<Id> = (0..1000).map(|_| Id::default()).collect();
        for (n, id) in ids.iter().enumerate() {
            cache.insert(*id, session(n as u64), cache.epoch());
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
        cache.insert(id, session(1), cache.epoch());
        assert!(cache.get(&id).is_some());
        cache.remove(&id);
        assert!(cache.get(&id).is_none());
        cache.insert(id, session(1), cache.epoch());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get(&id).is_none(), "expired entries are not served");
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn an_entry_dies_when_it_leaves_the_cache() {
        let ttl = Duration::from_secs(60);
        let cache = AuthCache::new(ttl, 10);
        let (a, b, c) = (Id::default(), Id::default(), Id::default());
        cache.insert(a, session(1), cache.epoch());
        let removed = cache.entry(&a).unwrap();
        cache.remove(&a);
        assert!(!removed.is_live(monotonic_now(), ttl), "removed");

        cache.insert(b, session(2), cache.epoch());
        let replaced = cache.entry(&b).unwrap();
        cache.insert(b, session(3), cache.epoch());
        assert!(!replaced.is_live(monotonic_now(), ttl), "replaced by a newer session");
        let current = cache.entry(&b).unwrap();
        assert!(current.is_live(monotonic_now(), ttl));
        assert_eq!(current.auth.user.id.get(), 3);

        cache.insert(c, session(4), cache.epoch());
        let evicted = cache.entry(&c).unwrap();
        for _ in 0..20 {
            cache.insert(Id::default(), session(5), cache.epoch());
        }
        assert!(cache.len() <= 10);
        if cache.entry(&c).is_none() {
            assert!(!evicted.is_live(monotonic_now(), ttl), "evicted to make room");
        }
        assert!(
            !current.is_live(monotonic_now() + Duration::from_secs(61), ttl),
            "past its TTL"
        );
    }

    #[test]
    fn a_read_that_started_before_a_removal_is_not_cached() {
        let cache = AuthCache::new(Duration::from_secs(60), 10);
        let id = Id::default();
        cache.insert(id, session(1), cache.epoch());
        // A request misses (say the entry expired) and starts reading the store...
        let before = cache.epoch();
        // ...while a logout removes the session...
        cache.remove(&id);
        // ...then the read finishes: it must not put the session back.
        assert!(cache.insert(id, session(1), before).is_none());
        assert!(cache.get(&id).is_none());
        assert!(
            cache.insert(id, session(1), cache.epoch()).is_some(),
            "a later read is cached"
        );
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = AuthCache::new(Duration::ZERO, 10);
        let id = Id::default();
        cache.insert(id, session(1), cache.epoch());
        assert!(cache.get(&id).is_none());
        assert_eq!(cache.len(), 0);
    }
}
