//! [`MemoryStore`]: an in-process, server-side actix-session store.
//!
//! actix-session ships a cookie store and a Redis store, nothing in between. This one keeps
//! sessions in this process's memory: the cookie holds only a random session key (256 bits),
//! so the tokens never reach the browser and logout ends every copy of the cookie at once —
//! what the cookie store cannot do — with nothing to run beside the site. Sessions end when the
//! process restarts, and instances do not share them: use Redis for several instances.
//!
//! Bounded: at most [`MemoryStore::DEFAULT_CAPACITY`] sessions by default; when full, the
//! session closest to expiry goes (an expired one if there is any). Sessions are kept in
//! expiry order too, so that costs O(log n) however full the store is: anonymous visitors
//! starting logins (each a short-lived session) cannot make it slow.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use rand::RngExt as _;
use rand::distr::Alphanumeric;

type State = HashMap<String, String>;

/// An in-process actix-session store (see the [module docs](self)).
///
/// ```
/// use discord_oauth_actix::MemoryStore;
/// let store = MemoryStore::default(); // clone it into every worker: they share the sessions
/// # let _ = store.clone();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    sessions: Arc<Mutex<Sessions>>,
    capacity: usize,
}

#[derive(Default)]
struct Sessions {
    by_key: HashMap<String, (State, Instant)>,
    by_expiry: BTreeSet<(Instant, String)>,
}

impl Sessions {
    fn remove(&mut self, key: &str) -> Option<(State, Instant)> {
        let removed = self.by_key.remove(key)?;
        self.by_expiry.remove(&(removed.1, key.to_owned()));
        Some(removed)
    }

    fn put(&mut self, key: String, state: State, until: Instant) {
        self.remove(&key);
        self.by_expiry.insert((until, key.clone()));
        self.by_key.insert(key, (state, until));
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl MemoryStore {
    /// How many sessions a [`MemoryStore::default`] holds at most.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A store holding at most `capacity` sessions (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            sessions: Arc::new(Mutex::new(Sessions::default())),
            capacity: capacity.max(1),
        }
    }

    /// How many sessions are stored (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .len()
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
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if sessions.by_key.len() >= self.capacity
            && !sessions.by_key.contains_key(key.as_ref())
            && let Some((_, first)) = sessions.by_expiry.pop_first()
        {
            sessions.by_key.remove(&first);
        }
        sessions.put(key.as_ref().to_owned(), state, Self::deadline(ttl));
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        match sessions.by_key.get(key.as_ref()) {
            Some((state, until)) if *until > Instant::now() => Ok(Some(state.clone())),
            Some(_) => {
                sessions.remove(key.as_ref());
                Ok(None)
            }
            None => Ok(None),
        }
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
            .by_key
            .contains_key(key.as_ref());
        if exists {
            self.insert(&key, state, ttl);
            Ok(key)
        } else {
            // As actix-session's own stores do: a session that is gone is saved under a new
            // key (the `GuardedStore` of `DiscordOAuth::session_middleware` drops such writes).
            self.save(state, ttl).await.map_err(|e| UpdateError::Other(e.into()))
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &CookieDuration) -> anyhow::Result<()> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((state, _)) = sessions.remove(key.as_ref()) {
            sessions.put(key.as_ref().to_owned(), state, Self::deadline(ttl));
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key.as_ref());
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
        let in_order = full.sessions.lock().unwrap().by_expiry.len();
        assert_eq!(in_order, 1_000, "both views agree");
        assert_eq!(store.load(&keys[4]).await.unwrap(), None, "update_ttl moves the expiry");
    }
}
