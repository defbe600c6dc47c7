//! [`MemoryStore`]: a bounded, in-process `tower-sessions` store.
//!
//! `tower_sessions::MemoryStore` keeps every record forever (it never deletes expired ones)
//! and has no bound; a flood of requests that create sessions grows it without limit. This
//! store is what the crates recommend for one instance instead:
//!
//! - **Bounded** in sessions ([`MemoryStore::DEFAULT_CAPACITY`], 100,000) and in bytes
//!   ([`MemoryStore::DEFAULT_MAX_BYTES`], 256 MiB, each record weighed as its JSON); when a
//!   bound is reached, expired records go first, then the ones closest to expiry (the least
//!   recently active: sessions expire after a time without activity), in O(log n)
//!   (`discord_oauth_runtime::store::SessionMap`, the actix-web integration's store too).
//! - **Expired records are dropped** as new ones arrive, and never loaded.
//! - **A deleted session stays deleted**: `save` only updates a record that exists (new
//!   sessions go through `create`), so a request that read a session before a logout cannot
//!   write it back when it ends.
//!
//! With the login layer, anonymous visitors never create a session (logins in progress live in
//! their own sealed cookies, see `discord_oauth_core::login::pending_cookie`): the store holds
//! only logged-in sessions and whatever your own handlers store.

use std::time::Duration;

use async_trait::async_trait;
use discord_oauth_runtime::store::SessionMap;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// A bounded in-process session store (see the [module docs](self)). Clones share the
/// sessions.
///
/// ```
/// use discord_oauth_tower::MemoryStore;
/// let store = MemoryStore::default();
/// let small = MemoryStore::with_limits(1_000, 4 << 20); // 1,000 sessions, 4 MiB
/// # let _ = (store, small);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore(SessionMap<i128, Record>);

impl MemoryStore {
    /// How many sessions a [`MemoryStore::default`] holds at most.
    pub const DEFAULT_CAPACITY: usize = SessionMap::<i128, Record>::DEFAULT_CAPACITY;
    /// How many bytes of session records (as JSON) a [`MemoryStore::default`] holds at most.
    pub const DEFAULT_MAX_BYTES: usize = SessionMap::<i128, Record>::DEFAULT_MAX_BYTES;

    /// A store of at most `capacity` sessions (at least 1) and `max_bytes` bytes of records.
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self(SessionMap::with_limits(capacity, max_bytes))
    }

    /// How many sessions it holds, and how many bytes they weigh.
    pub fn usage(&self) -> (usize, usize) {
        (self.0.len(), self.0.bytes())
    }

    /// How many sessions it holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` if it holds no session.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A record's weight (its JSON) and time left.
fn weigh(record: &Record) -> session_store::Result<(usize, Duration)> {
    let bytes = serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let left = Duration::try_from(record.expiry_date - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO);
    Ok((bytes.len(), left))
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let (bytes, ttl) = weigh(record)?;
        let stored = |id: &i128| Record {
            id: Id(*id),
            ..record.clone()
        };
        record.id = Id(self.0.insert_new(|| Id::default().0, stored, bytes, ttl));
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (bytes, ttl) = weigh(record)?;
        self.0.replace(record.id.0, record.clone(), bytes, ttl);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self.0.get(&id.0).filter(|r| r.expiry_date > OffsetDateTime::now_utc()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.0.remove(&id.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tower_sessions::cookie::time::Duration as TimeDuration;

    use super::*;

    fn record(minutes: i64, payload: &str) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::from([("k".to_owned(), serde_json::json!(payload))]),
            expiry_date: OffsetDateTime::now_utc() + TimeDuration::minutes(minutes),
        }
    }

    #[tokio::test]
    async fn creates_loads_saves_and_deletes_and_a_deleted_session_stays_deleted() {
        let store = MemoryStore::default();
        let mut r = record(10, "a");
        store.create(&mut r).await.unwrap();
        assert_eq!(store.load(&r.id).await.unwrap().unwrap().data, r.data);
        let mut changed = r.clone();
        changed.data.insert("k".into(), serde_json::json!("b"));
        store.save(&changed).await.unwrap();
        assert_eq!(store.load(&r.id).await.unwrap().unwrap().data["k"], "b");
        store.delete(&r.id).await.unwrap();
        assert!(store.load(&r.id).await.unwrap().is_none());
        // A request that read the session before the logout ends and saves it.
        store.save(&changed).await.unwrap();
        assert!(store.load(&r.id).await.unwrap().is_none(), "not written back");
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn bounded_in_sessions_and_bytes_and_expired_records_go() {
        let store = MemoryStore::with_limits(1_000, 200_000);
        let big = "x".repeat(1_000);
        for _ in 0..5_000 {
            store.create(&mut record(10, &big)).await.unwrap();
            let (len, bytes) = store.usage();
            assert!(len <= 1_000 && bytes <= 200_000, "{len} sessions, {bytes} bytes");
        }
        let store = MemoryStore::with_limits(10, 1 << 20);
        let mut old = record(-1, "expired");
        store.create(&mut old).await.unwrap();
        assert!(
            store.load(&old.id).await.unwrap().is_none(),
            "never loaded once expired"
        );
        store.create(&mut record(10, "new")).await.unwrap();
        assert_eq!(store.len(), 1, "the expired record made room at once");
    }
}
