//! [`MemoryStore`]: an in-process, server-side actix-session store.
//!
//! actix-session ships a cookie store and a Redis store, nothing in between. This one keeps
//! sessions in this process's memory: the cookie holds only a random session key (256 bits),
//! so the tokens never reach the browser and logout ends every copy of the cookie at once —
//! what the cookie store cannot do — with nothing to run beside the site. Sessions end when the
//! process restarts, and instances do not share them: use Redis for several instances.
//!
//! Bounded: at most [`MemoryStore::DEFAULT_CAPACITY`] sessions and
//! [`MemoryStore::DEFAULT_MAX_BYTES`] bytes by default; when full, expired sessions go first,
//! then the one closest to expiry (the least recently active). Sessions are kept in expiry
//! order (`discord_oauth_core::bounded::ExpiringMap`), so that costs O(log n) however full the
//! store is. Anonymous visitors never create a session here: logins in progress live in their
//! own sealed cookies.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use discord_oauth_core::bounded::ExpiringMap;
use rand::RngExt as _;
use rand::distr::Alphanumeric;

type State = HashMap<String, String>;

/// An in-process, server-side actix-session store.
///
/// actix-session ships a cookie store and a Redis store, nothing in between. This one keeps
/// sessions in this process's memory: the cookie holds only a random session key (256 bits),
/// so the tokens never reach the browser and logout ends every copy of the cookie at once,
/// with nothing to run beside the site. Sessions end when the process restarts, and instances
/// do not share them: use Redis for several instances. Bounded: at most
/// [`MemoryStore::DEFAULT_CAPACITY`] sessions and [`MemoryStore::DEFAULT_MAX_BYTES`] bytes by
/// default; when full, expired sessions go first, then the one closest to expiry (the least
/// recently active).
///
/// ```
/// use discord_oauth_actix::MemoryStore;
/// let store = MemoryStore::default(); // clone it into every worker: they share the sessions
/// let small = MemoryStore::with_limits(1_000, 4 << 20); // 1,000 sessions, 4 MiB
/// # let _ = (store.clone(), small);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    sessions: Arc<Mutex<ExpiringMap<String, State>>>,
    capacity: usize,
    max_bytes: usize,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("capacity", &self.capacity)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_limits(Self::DEFAULT_CAPACITY, Self::DEFAULT_MAX_BYTES)
    }
}

impl MemoryStore {
    /// How many sessions a [`MemoryStore::default`] holds at most.
    pub const DEFAULT_CAPACITY: usize = 100_000;
    /// How many bytes of sessions (keys and values) a [`MemoryStore::default`] holds at most.
    pub const DEFAULT_MAX_BYTES: usize = 256 << 20;

    /// A store holding at most `capacity` sessions (at least 1), and the default byte bound.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_limits(capacity, Self::DEFAULT_MAX_BYTES)
    }

    /// A store holding at most `capacity` sessions (at least 1) and `max_bytes` bytes.
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            sessions: Arc::new(Mutex::new(ExpiringMap::new(capacity, max_bytes))),
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    /// How many sessions are stored (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// How many bytes of sessions are stored.
    pub fn bytes(&self) -> usize {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner).bytes()
    }

    /// `true` if no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn deadline(ttl: &CookieDuration) -> Instant {
        let ttl = Duration::try_from(*ttl).unwrap_or(Duration::ZERO);
        let now = Instant::now();
        now.checked_add(ttl).unwrap_or(now)
    }

    fn new_key() -> Result<SessionKey, String> {
        let key: String = rand::rng().sample_iter(Alphanumeric).take(64).map(char::from).collect();
        SessionKey::try_from(key).map_err(|e| e.to_string())
    }

    fn insert(&self, key: &SessionKey, state: State, ttl: &CookieDuration) {
        let bytes = key.as_ref().len() + state.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.put(
            key.as_ref().to_owned(),
            state,
            bytes,
            Self::deadline(ttl),
            Instant::now(),
        );
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(sessions.get(&key.as_ref().to_owned(), Instant::now()).cloned())
    }

    async fn save(&self, state: State, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        let key = Self::new_key().map_err(|e| SaveError::Other(anyhow::anyhow!(e)))?;
        self.insert(&key, state, ttl);
        Ok(key)
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &CookieDuration) -> Result<SessionKey, UpdateError> {
        let exists = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key.as_ref().to_owned(), Instant::now());
        if exists {
            self.insert(&key, state, ttl);
            Ok(key)
        } else {
            // As actix-session's own stores do: a session that is gone is saved under a new
            // key (`DiscordOAuth::session_middleware` does not write to sessions that are gone).
            self.save(state, ttl).await.map_err(|e| UpdateError::Other(e.into()))
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &CookieDuration) -> anyhow::Result<()> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_expiry(&key.as_ref().to_owned(), Self::deadline(ttl));
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key.as_ref().to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(v: &str) -> State {
        HashMap::from([("k".to_owned(), v.to_owned())])
    }

    #[actix_web::test]
    async fn saves_loads_updates_and_deletes() {
        let store = MemoryStore::default();
        let week = CookieDuration::WEEK;
        let key = store.save(state("1"), &week).await.unwrap();
        assert_eq!(key.as_ref().len(), 64);
        assert_eq!(store.load(&key).await.unwrap(), Some(state("1")));
        let same = store.update(key, state("2"), &week).await.unwrap();
        assert_eq!(store.load(&same).await.unwrap(), Some(state("2")));
        store.delete(&same).await.unwrap();
        assert_eq!(store.load(&same).await.unwrap(), None);
        assert!(store.is_empty());

        let other = store.save(state("3"), &week).await.unwrap();
        assert_ne!(other.as_ref(), same.as_ref(), "keys are random");
        let gone = SessionKey::try_from("x".repeat(64)).unwrap();
        let moved = store.update(gone, state("4"), &week).await.unwrap();
        assert_eq!(
            store.load(&moved).await.unwrap(),
            Some(state("4")),
            "a missing session is saved anew"
        );
    }

    #[actix_web::test]
    async fn sessions_expire_and_the_store_is_bounded() {
        let store = MemoryStore::with_capacity(3);
        let key = store
            .save(state("short"), &CookieDuration::milliseconds(1))
            .await
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(store.load(&key).await.unwrap(), None, "expired");

        let week = CookieDuration::WEEK;
        let soon = store.save(state("soon"), &CookieDuration::HOUR).await.unwrap();
        let mut keys = Vec::new();
        for n in 0..5 {
            keys.push(store.save(state(&n.to_string()), &week).await.unwrap());
            assert!(store.len() <= 3);
        }
        assert_eq!(
            store.load(&soon).await.unwrap(),
            None,
            "the session closest to expiry went first"
        );
        assert_eq!(store.load(&keys[4]).await.unwrap(), Some(state("4")));

        store.update_ttl(&keys[4], &CookieDuration::ZERO).await.unwrap();
        let full = MemoryStore::with_capacity(1_000);
        for _ in 0..20_000 {
            full.save(state("x"), &CookieDuration::minutes(10)).await.unwrap();
        }
        assert_eq!(full.len(), 1_000);
        let bytes = MemoryStore::with_limits(1_000, 50_000);
        for _ in 0..5_000 {
            bytes
                .save(state(&"x".repeat(500)), &CookieDuration::minutes(10))
                .await
                .unwrap();
            assert!(bytes.bytes() <= 50_000, "{} bytes", bytes.bytes());
        }
        assert_eq!(store.load(&keys[4]).await.unwrap(), None, "update_ttl moves the expiry");
    }
}
