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
//! order (`discord_oauth_runtime::store::SessionMap`, the tower integration's store too), so that costs O(log n) however full the
//! store is. Anonymous visitors never create a session here: logins in progress live in their
//! own sealed cookies.

use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use discord_oauth_runtime::store::SessionMap;
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
#[derive(Clone, Debug, Default)]
pub struct MemoryStore(SessionMap<String, State>);

impl MemoryStore {
    /// How many sessions a [`MemoryStore::default`] holds at most.
    pub const DEFAULT_CAPACITY: usize = SessionMap::<String, State>::DEFAULT_CAPACITY;
    /// How many bytes of sessions (keys and values) a [`MemoryStore::default`] holds at most.
    pub const DEFAULT_MAX_BYTES: usize = SessionMap::<String, State>::DEFAULT_MAX_BYTES;

    /// A store holding at most `capacity` sessions (at least 1), and the default byte bound.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_limits(capacity, Self::DEFAULT_MAX_BYTES)
    }

    /// A store holding at most `capacity` sessions (at least 1) and `max_bytes` bytes.
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self(SessionMap::with_limits(capacity, max_bytes))
    }

    /// How many sessions it holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// How many bytes its sessions weigh.
    pub fn bytes(&self) -> usize {
        self.0.bytes()
    }

    /// `true` if it holds no session.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// 64 random alphanumeric characters (about 381 bits).
fn new_key() -> String {
    rand::rng().sample_iter(Alphanumeric).take(64).map(char::from).collect()
}

/// A session's weight: its key (64 bytes) and its keys and values.
fn weight(state: &State) -> usize {
    64 + state.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
}

fn std_duration(ttl: &CookieDuration) -> Duration {
    Duration::try_from(*ttl).unwrap_or(Duration::ZERO)
}

impl SessionStore for MemoryStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        Ok(self.0.get(&key.as_ref().to_owned()))
    }

    async fn save(&self, state: State, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        let bytes = weight(&state);
        let key = self.0.insert_new(new_key, |_| state, bytes, std_duration(ttl));
        SessionKey::try_from(key).map_err(|e| SaveError::Other(anyhow::anyhow!(e.to_string())))
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &CookieDuration) -> Result<SessionKey, UpdateError> {
        let bytes = weight(&state);
        if self
            .0
            .replace(key.as_ref().to_owned(), state.clone(), bytes, std_duration(ttl))
        {
            Ok(key)
        } else {
            // As actix-session's own stores do: a session that is gone is saved under a new
            // key (`DiscordOAuth::session_middleware` does not write to sessions that are gone).
            self.save(state, ttl).await.map_err(|e| UpdateError::Other(e.into()))
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &CookieDuration) -> anyhow::Result<()> {
        self.0.set_ttl(&key.as_ref().to_owned(), std_duration(ttl));
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        self.0.remove(&key.as_ref().to_owned());
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
