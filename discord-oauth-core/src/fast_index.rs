//! [`FastIndex`]: the integrations' authenticated fast path, once for every framework.
//!
//! A logged-in browser sends the same `Cookie` header request after request. The index maps
//! that exact header (one header, at most [`MAX_KEY_LEN`] bytes) to what the integration needs
//! to serve the next request without reading the session store, for a TTL. Its invalidation
//! lives here too: every removal bumps an epoch, and an insert carries the epoch read before
//! the session store was, so a read that started before a logout cannot put the login back.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::bounded::{IndexLimits, KeyIndex};

/// The longest `Cookie` header the index keeps (longer ones take the normal path).
pub const MAX_KEY_LEN: usize = 4096;

/// Most `Cookie` headers kept per owner (login or session): a client that varies its header
/// on every request replaces its own entries.
pub const MAX_HEADERS_PER_OWNER: usize = 4;

/// The least total bytes of headers an index may hold: 16 MiB (or 256 bytes per entry of
/// capacity, if more).
pub const DEFAULT_INDEX_BYTES: usize = 16 << 20;

/// A bounded, expiring, lock-protected map from a whole `Cookie` header to a value that belongs
/// to an owner. Bounds: `capacity` entries, [`DEFAULT_INDEX_BYTES`] of keys (or 256 bytes per
/// entry), [`MAX_HEADERS_PER_OWNER`] keys per owner; entries older than the TTL are never
/// served and are swept as the index fills. A zero TTL or capacity turns it off.
///
/// ```
/// use std::time::{Duration, Instant};
/// use discord_oauth_core::fast_index::FastIndex;
///
/// let index: FastIndex<u64, &str> = FastIndex::new(Duration::from_secs(30), 1000);
/// let now = Instant::now();
/// let epoch = index.epoch(); // read before the session store is
/// index.insert(b"sid=abc", 7, "alice", epoch, now, |_| true);
/// assert_eq!(index.get(b"sid=abc", now, |_| true), Some("alice"));
/// assert_eq!(index.get(b"sid=abc", now + Duration::from_secs(31), |_| true), None, "past the TTL");
///
/// // A logout removes the owner; a read that started before it cannot put it back.
/// index.remove_owner(&7);
/// index.insert(b"sid=abc", 7, "alice", epoch, now, |_| true);
/// assert_eq!(index.get(b"sid=abc", now, |_| true), None);
/// ```
pub struct FastIndex<O, V, S = RandomState> {
    inner: RwLock<Inner<O, V, S>>,
    ttl: Duration,
    capacity: usize,
}

struct Inner<O, V, S> {
    map: KeyIndex<O, (V, Instant), S>,
    epoch: u64,
}

impl<O, V, S> std::fmt::Debug for FastIndex<O, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastIndex")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<O: Hash + Eq + Clone, V: Clone, S: BuildHasher + Default> FastIndex<O, V, S> {
    /// An index keeping entries for `ttl`, at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self::with_hasher(ttl, capacity, S::default())
    }
}

impl<O: Hash + Eq + Clone, V: Clone, S: BuildHasher> FastIndex<O, V, S> {
    /// The same with another hasher for the keys (the integrations use a fast one; keys are
    /// attacker-chosen, so it must be randomly seeded).
    pub fn with_hasher(ttl: Duration, capacity: usize, hasher: S) -> Self {
        let limits = IndexLimits {
            entries: capacity,
            bytes: DEFAULT_INDEX_BYTES.max(capacity.saturating_mul(256)),
            per_owner: MAX_HEADERS_PER_OWNER,
        };
        Self {
            inner: RwLock::new(Inner {
                map: KeyIndex::with_hasher(limits, hasher),
                epoch: 0,
            }),
            ttl,
            capacity,
        }
    }

    /// `false` when the TTL or the capacity is zero.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// How long an entry is served.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The removal count, to read before the session store is and to pass to
    /// [`FastIndex::insert`].
    pub fn epoch(&self) -> u64 {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).epoch
    }

    /// Keeps `value` for `cookie`, unless a removal happened since `epoch` was read. `live`
    /// tells an entry still worth keeping when room is needed (with the TTL).
    pub fn insert(&self, cookie: &[u8], owner: O, value: V, epoch: u64, now: Instant, live: impl Fn(&V) -> bool) {
        if !self.enabled() || cookie.len() > MAX_KEY_LEN {
            return;
        }
        let ttl = self.ttl;
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.epoch == epoch {
            inner.map.insert(cookie, owner, (value, now), |(v, at)| {
                now.saturating_duration_since(*at) < ttl && live(v)
            });
        }
    }

    /// The value kept for `cookie`, if it is younger than the TTL and `live` says so.
    pub fn get(&self, cookie: &[u8], now: Instant, live: impl Fn(&V) -> bool) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let (value, at) = inner.map.get(cookie)?;
        (now.saturating_duration_since(*at) < self.ttl && live(value)).then(|| value.clone())
    }

    /// Drops `cookie`'s entry (its session changed or ended).
    pub fn remove(&self, cookie: &[u8]) {
        self.removing(|map| map.remove(cookie));
    }

    /// Drops every entry of `owner` (a logout).
    pub fn remove_owner(&self, owner: &O) {
        self.removing(|map| map.remove_owner(owner));
    }

    /// Drops every entry `keep` refuses (a user-wide revocation).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use discord_oauth_core::fast_index::FastIndex;
    ///
    /// // Owners are sessions; values name the user.
    /// let index: FastIndex<&str, u64> = FastIndex::new(Duration::from_secs(30), 1000);
    /// let now = Instant::now();
    /// index.insert(b"sid=laptop", "s1", 80351110224678912, index.epoch(), now, |_| true);
    /// index.insert(b"sid=phone", "s2", 80351110224678912, index.epoch(), now, |_| true);
    /// index.insert(b"sid=other", "s3", 41771983423143937, index.epoch(), now, |_| true);
    ///
    /// // "Log out of all devices" for the first user.
    /// index.retain(|user| *user != 80351110224678912);
    /// assert_eq!(index.get(b"sid=phone", now, |_| true), None);
    /// assert_eq!(index.get(b"sid=other", now, |_| true), Some(41771983423143937));
    /// ```
    pub fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.removing(|map| map.sweep(|(v, _)| keep(v)));
    }

    fn removing(&self, remove: impl FnOnce(&mut KeyIndex<O, (V, Instant), S>)) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.epoch = inner.epoch.wrapping_add(1);
        remove(&mut inner.map);
    }

    /// Entries kept (dead ones included until swept).
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).map.len()
    }

    /// `true` when no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of keys kept.
    pub fn bytes(&self) -> usize {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).map.bytes()
    }
}

/// A request's fast-path key: its `Cookie` header when it sent exactly one, of at most
/// [`MAX_KEY_LEN`] bytes.
///
/// ```
/// use discord_oauth_core::fast_index::cookie_key;
/// assert_eq!(cookie_key([&b"a=1"[..]]), Some(&b"a=1"[..]));
/// assert_eq!(cookie_key([&b"a=1"[..], &b"b=2"[..]]), None);
/// ```
pub fn cookie_key<'a>(headers: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
    let mut all = headers.into_iter();
    let first = all.next()?;
    (all.next().is_none() && first.len() <= MAX_KEY_LEN).then_some(first)
}

/// Whether the `Cookie` header values carry a cookie named `name` (whatever its value): the
/// integrations' test for an anonymous request, made on the raw header without parsing or
/// allocating. A name matches as cookie parsers read it: after the `;` and any spaces, before
/// an `=` (spaces allowed before it). A percent-encoded spelling of the name does not match
/// (browsers send the name as it was set).
///
/// ```
/// use discord_oauth_core::fast_index::names_cookie;
/// assert!(names_cookie([&b"theme=dark; sid=abc"[..]], "sid"));
/// assert!(names_cookie([&b"a=1"[..], &b"sid =x"[..]], "sid"));
/// assert!(!names_cookie([&b"xsid=abc; sidx=1; sid"[..]], "sid"));
/// assert!(!names_cookie([], "sid"));
/// ```
pub fn names_cookie<'a>(headers: impl IntoIterator<Item = &'a [u8]>, name: &str) -> bool {
    let name = name.as_bytes();
    headers.into_iter().any(|header| {
        header.split(|&b| b == b';').any(|pair| {
            pair.trim_ascii_start()
                .strip_prefix(name)
                .is_some_and(|rest| rest.trim_ascii_start().first() == Some(&b'='))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_capacity_and_per_owner() {
        let index: FastIndex<u32, u32> = FastIndex::new(Duration::from_secs(60), 3);
        let now = Instant::now();
        for n in 0..10 {
            index.insert(format!("s={n}").as_bytes(), n, n, index.epoch(), now, |_| true);
            assert!(index.len() <= 3);
            assert!(
                index.get(format!("s={n}").as_bytes(), now, |_| true).is_some(),
                "the newest is in"
            );
        }
        let index: FastIndex<u32, u32> = FastIndex::new(Duration::from_secs(60), 100);
        for n in 0..10 {
            index.insert(format!("s={n}").as_bytes(), 1, n, index.epoch(), now, |_| true);
        }
        assert_eq!(index.len(), MAX_HEADERS_PER_OWNER, "one owner keeps its newest headers");
    }

    #[test]
    fn removals_invalidate_reads_that_started_before_them() {
        let index: FastIndex<u32, u32> = FastIndex::new(Duration::from_secs(60), 10);
        let now = Instant::now();
        index.insert(b"s=1", 1, 1, 0, now, |_| true);
        index.insert(b"s=2", 2, 2, 0, now, |_| true);
        let before = index.epoch();
        index.remove(b"s=1");
        assert!(index.get(b"s=1", now, |_| true).is_none());
        index.insert(b"s=1", 1, 1, before, now, |_| true);
        assert!(index.get(b"s=1", now, |_| true).is_none(), "a stale read is not kept");
        index.retain(|v| *v != 2);
        assert!(index.is_empty());
        assert!(
            index.get(b"s=9 ", now, |_| true).is_none(),
            "the key is the exact header"
        );
    }

    #[test]
    fn off_when_the_ttl_or_capacity_is_zero_and_long_headers_are_not_kept() {
        let now = Instant::now();
        for index in [
            FastIndex::<u32, u32>::new(Duration::ZERO, 3),
            FastIndex::<u32, u32>::new(Duration::from_secs(1), 0),
        ] {
            index.insert(b"s=1", 1, 1, 0, now, |_| true);
            assert!(index.get(b"s=1", now, |_| true).is_none());
        }
        let index: FastIndex<u32, u32> = FastIndex::new(Duration::from_secs(1), 3);
        index.insert(&vec![b'a'; MAX_KEY_LEN + 1], 1, 1, 0, now, |_| true);
        assert!(index.is_empty());
        index.insert(b"s=1", 1, 1, 0, now, |v| *v == 2);
        assert!(index.get(b"s=1", now, |v| *v == 2).is_none(), "not live");
    }
}
