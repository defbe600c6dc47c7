//! A short-lived, bounded cache of per-user reads that change slowly (the user's guilds, a
//! guild membership, connections), so that repeated page loads do not call Discord at all:
//! [`ReadCache`].

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every entry costs on top of its key and body, in the byte bound: the bookkeeping.
pub const ENTRY_OVERHEAD_BYTES: usize = 64;

/// The bounds of a [`ReadCache`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use discord_oauth_core::api::cache::{CacheLimits, ReadCache};
///
/// let limits = CacheLimits { per_user: 2, ..CacheLimits::default() };
/// let mut cache: ReadCache<u64> = ReadCache::new(limits);
/// let now = Instant::now();
/// for page in 0..5 {
///     let key = format!("/api/v10/users/@me/guilds?after={page}");
///     cache.insert(7, &key, &b"[]"[..], now, Duration::from_secs(30 + page));
/// }
/// assert_eq!(cache.user_len(&7), 2, "a user replaces their own entries");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most entries, all users together (default 10,000).
    pub entries: usize,
    /// Most bytes: keys, bodies and [`ENTRY_OVERHEAD_BYTES`] per entry (default 16 MiB).
    pub bytes: usize,
    /// Most entries per user (default 16): a user paging through hundreds of guilds replaces
    /// their own entries (the one closest to expiry first) instead of filling the cache.
    pub per_user: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            entries: 10_000,
            bytes: 16 * 1024 * 1024,
            per_user: 16,
        }
    }
}

/// The cache key of a request: its path and query (every page of `GET /users/@me/guilds` is
/// its own entry, unlike its [`RouteKey`](crate::api::ratelimit::RouteKey)), or `None` for
/// anything but `GET` (writes are never cached).
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, api};
/// let token = AccessToken::new("t".into());
/// let request = api::current_user_connections(&Endpoints::discord(), &token).request();
/// assert_eq!(api::cache::cache_key(&request).as_deref(), Some("/api/v10/users/@me/connections"));
/// ```
pub fn cache_key<B>(request: &http::Request<B>) -> Option<String> {
    if request.method() != http::Method::GET {
        return None;
    }
    Some(
        request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().path().to_owned(), |pq| pq.as_str().to_owned()),
    )
}

#[derive(Debug, Clone)]
struct Entry {
    key: Box<str>,
    body: Arc<[u8]>,
    expires_at: Instant,
}

impl Entry {
    fn weight(&self) -> usize {
        weight(&self.key, &self.body)
    }
}

fn weight(key: &str, body: &[u8]) -> usize {
    key.len()
        .saturating_add(body.len())
        .saturating_add(ENTRY_OVERHEAD_BYTES)
}

/// Response bodies of per-user `GET`s, each kept for a short time to live, keyed by the
/// user (or session) and the request's [`cache_key`].
///
/// Key by whatever owns the token the answer depends on: a session id, or a
/// [`TokenKey`](crate::api::ratelimit::TokenKey); answers depend on the token's scopes, so two
/// sessions of one Discord user may see different answers. Give short lifetimes (30–60 s is
/// plenty to absorb page reloads) and call [`invalidate_user`](Self::invalidate_user) on
/// logout, refresh, deauthorization and after the user's own writes (e.g. an updated role
/// connection).
///
/// # Bounds
/// [`CacheLimits`]: entries, bytes (keys, bodies and [`ENTRY_OVERHEAD_BYTES`] each), and
/// entries per user. When an insert would go over, expired entries go first; if that is not
/// enough, whole users, an arbitrary tenth of the cache at a time (so a full cache costs one
/// pass per tenth of its capacity, not one per insert). A body larger than the byte bound is
/// not cached.
///
/// ```
/// use std::time::{Duration, Instant};
/// use discord_oauth_core::api::cache::{CacheLimits, ReadCache};
///
/// let mut cache: ReadCache<u64> = ReadCache::new(CacheLimits::default());
/// let t0 = Instant::now(); // any instant: the cache never reads the clock
/// let key = "/api/v10/users/@me/guilds";
/// assert!(cache.insert(7, key, &b"[]"[..], t0, Duration::from_secs(30)));
/// assert_eq!(cache.get(&7, key, t0 + Duration::from_secs(29)).as_deref(), Some(&b"[]"[..]));
/// assert!(cache.get(&7, key, t0 + Duration::from_secs(30)).is_none(), "expired");
/// assert!(cache.get(&8, key, t0).is_none(), "another user's entry");
/// cache.invalidate_user(&7);
/// assert!(cache.is_empty());
/// ```
#[derive(Debug)]
pub struct ReadCache<U> {
    users: HashMap<U, Vec<Entry>>,
    entries: usize,
    bytes: usize,
    limits: CacheLimits,
}

impl<U: Hash + Eq + Clone> ReadCache<U> {
    /// An empty cache.
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            users: HashMap::new(),
            entries: 0,
            bytes: 0,
            limits,
        }
    }

    /// The bounds.
    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// The body cached for `user` under `key`, if it has not expired at `now`.
    pub fn get(&self, user: &U, key: &str, now: Instant) -> Option<Arc<[u8]>> {
        self.users
            .get(user)?
            .iter()
            .find(|e| &*e.key == key)
            .filter(|e| now < e.expires_at)
            .map(|e| e.body.clone())
    }

    /// Caches `body` for `user` under `key` until `now + ttl`, replacing what was there.
    /// Returns `false` (and caches nothing) if `ttl` is zero or the entry alone is over a
    /// bound.
    pub fn insert(&mut self, user: U, key: &str, body: impl Into<Arc<[u8]>>, now: Instant, ttl: Duration) -> bool {
        let body = body.into();
        let cost = weight(key, &body);
        let limits = self.limits;
        if ttl.is_zero() || limits.entries == 0 || limits.per_user == 0 || cost > limits.bytes {
            return false;
        }
        let Some(expires_at) = now.checked_add(ttl) else {
            return false;
        };
        self.invalidate(&user, key);
        if self.entries >= limits.entries || self.bytes.saturating_add(cost) > limits.bytes {
            self.make_room(now, cost);
        }
        let list = self.users.entry(user).or_default();
        if list.len() >= limits.per_user {
            let before: usize = list.iter().map(Entry::weight).sum();
            let count = list.len();
            list.retain(|e| now < e.expires_at);
            if list.len() >= limits.per_user
                && let Some(soonest) = (0..list.len()).min_by_key(|&i| list[i].expires_at)
            {
                list.swap_remove(soonest);
            }
            let after: usize = list.iter().map(Entry::weight).sum();
            self.entries -= count - list.len();
            self.bytes -= before - after;
        }
        list.push(Entry {
            key: key.into(),
            body,
            expires_at,
        });
        self.entries += 1;
        self.bytes += cost;
        true
    }

    /// Drops `user`'s entry under `key`; returns whether there was one.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use discord_oauth_core::api::cache::{CacheLimits, ReadCache};
    ///
    /// let mut cache: ReadCache<u64> = ReadCache::new(CacheLimits::default());
    /// let (now, ttl) = (Instant::now(), Duration::from_secs(30));
    /// let key = "/api/v10/users/@me/applications/1100000000000000001/role-connection";
    /// cache.insert(7, key, &br#"{"metadata":{"level":"1"}}"#[..], now, ttl);
    /// cache.insert(7, "/api/v10/users/@me", &b"{}"[..], now, ttl);
    /// // After the user's own update of their role connection, only that answer is stale.
    /// assert!(cache.invalidate(&7, key));
    /// assert!(!cache.invalidate(&7, key), "already gone");
    /// assert_eq!(cache.user_len(&7), 1);
    /// ```
    pub fn invalidate(&mut self, user: &U, key: &str) -> bool {
        let Some(list) = self.users.get_mut(user) else {
            return false;
        };
        let Some(at) = list.iter().position(|e| &*e.key == key) else {
            return false;
        };
        let entry = list.swap_remove(at);
        self.entries -= 1;
        self.bytes -= entry.weight();
        if list.is_empty() {
            self.users.remove(user);
        }
        true
    }

    /// Drops every entry of `user` (logout, refresh, deauthorization, the user's own writes);
    /// returns how many.
    pub fn invalidate_user(&mut self, user: &U) -> usize {
        let Some(list) = self.users.remove(user) else {
            return 0;
        };
        self.entries -= list.len();
        self.bytes -= list.iter().map(Entry::weight).sum::<usize>();
        list.len()
    }

    /// Drops every entry expired at `now`. Optional: the bounds hold without it.
    pub fn sweep(&mut self, now: Instant) {
        let (mut entries, mut bytes) = (0, 0);
        self.users.retain(|_, list| {
            list.retain(|e| now < e.expires_at);
            entries += list.len();
            bytes += list.iter().map(Entry::weight).sum::<usize>();
            !list.is_empty()
        });
        self.entries = entries;
        self.bytes = bytes;
    }

    /// Entries held (expired ones included until they are swept or replaced).
    pub fn len(&self) -> usize {
        self.entries
    }

    /// `true` if nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Bytes held, as the byte bound counts them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Users with at least one entry.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Entries held for `user`.
    pub fn user_len(&self, user: &U) -> usize {
        self.users.get(user).map_or(0, Vec::len)
    }

    /// Makes room for one entry of `cost` bytes: expired entries first, then whole users
    /// until nine tenths of each bound are free for it.
    fn make_room(&mut self, now: Instant, cost: usize) {
        self.sweep(now);
        let limits = self.limits;
        let entry_target = limits.entries.saturating_sub(limits.entries / 10 + 1);
        let byte_target = limits.bytes.saturating_sub(limits.bytes / 10).saturating_sub(cost);
        if self.entries <= entry_target && self.bytes <= byte_target {
            return;
        }
        let mut victims = Vec::new();
        let (mut entries, mut bytes) = (self.entries, self.bytes);
        for (user, list) in &self.users {
            if entries <= entry_target && bytes <= byte_target {
                break;
            }
            entries -= list.len();
            bytes -= list.iter().map(Entry::weight).sum::<usize>();
            victims.push(user.clone());
        }
        for user in &victims {
            self.invalidate_user(user);
        }
    }
}
