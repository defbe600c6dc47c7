//! [`FastIndex`]: the integrations' authenticated fast path, once for every framework.
//!
//! A logged-in browser sends the same `Cookie` header request after request. The index maps
//! that exact header (one header, at most [`MAX_KEY_LEN`] bytes) to what the integration needs
//! to serve the next request without reading the session store, for a TTL. Its invalidation
//! lives here too: every removal bumps an epoch, and an insert carries the epoch read before
//! the session store was, so a read that started before a logout cannot put the login back.
//!
//! Time is the integration's wall clock, the one a login's expiry is read with: an entry is
//! kept with the instant its value stops being good (the login's
//! [`LoginConfig::valid_until`](crate::login::LoginConfig::valid_until)), so that serving it
//! costs one clock reading and two comparisons, the TTL and the login's own end together. A
//! clock that steps back before an entry was kept hides it, one that steps forward ends it
//! early: a clock step never makes an entry served longer.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime};

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
/// served (nor are they past their value's own end) and are swept as the index fills. A zero
/// TTL or capacity turns it off.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use discord_oauth_core::fast_index::FastIndex;
///
/// let index: FastIndex<u64, &str> = FastIndex::new(Duration::from_secs(30), 1000);
/// let now = SystemTime::now();
/// let forever = now + Duration::from_secs(3600); // when the login itself stops being valid
/// let epoch = index.epoch(); // read before the session store is
/// index.insert(b"sid=abc", 7, "alice", epoch, now, forever);
/// assert_eq!(index.get(b"sid=abc", || now), Some("alice"));
/// assert_eq!(index.get(b"sid=abc", || now + Duration::from_secs(31)), None, "past the TTL");
/// assert_eq!(index.get(b"sid=abc", || now - Duration::from_secs(1)), None, "the clock went back");
///
/// // A logout removes the owner; a read that started before it cannot put it back.
/// index.remove_owner(&7);
/// index.insert(b"sid=abc", 7, "alice", epoch, now, forever);
/// assert_eq!(index.get(b"sid=abc", || now), None);
///
/// // A login that ends before the TTL is over is served until then only.
/// index.insert(b"sid=abc", 7, "alice", index.epoch(), now, now + Duration::from_secs(5));
/// assert_eq!(index.get(b"sid=abc", || now + Duration::from_secs(4)), Some("alice"));
/// assert_eq!(index.get(b"sid=abc", || now + Duration::from_secs(5)), None);
/// ```
pub struct FastIndex<O, V, S = RandomState> {
    inner: RwLock<Inner<O, V, S>>,
    ttl: Duration,
    capacity: usize,
}

struct Inner<O, V, S> {
    map: KeyIndex<O, Kept<V>, S>,
    epoch: u64,
}

/// An entry's value and when it is served: from the instant it was kept until the TTL after,
/// or the value's own end if sooner.
struct Kept<V> {
    value: V,
    from: SystemTime,
    until: SystemTime,
}

impl<V> Kept<V> {
    fn served_at(&self, now: SystemTime) -> bool {
        self.from <= now && now < self.until
    }
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

    /// Keeps `value` for `cookie` at `now`, to be served until the TTL is over or `until` (when
    /// the value itself stops being good), whichever is sooner; unless a removal happened
    /// since `epoch` was read. Entries no longer served are the first to go when room is
    /// needed.
    pub fn insert(&self, cookie: &[u8], owner: O, value: V, epoch: u64, now: SystemTime, until: SystemTime) {
        if !self.enabled() || cookie.len() > MAX_KEY_LEN {
            return;
        }
        let until = now.checked_add(self.ttl).map_or(until, |end| end.min(until));
        if until <= now {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.epoch == epoch {
            let kept = Kept {
                value,
                from: now,
                until,
            };
            inner.map.insert(cookie, owner, kept, |k| k.served_at(now));
        }
    }

    /// The value kept for `cookie`, if it is served `now`. `now` is read only when the header
    /// is in the index (a request without a known header costs no clock reading).
    pub fn get(&self, cookie: &[u8], now: impl FnOnce() -> SystemTime) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let kept = inner.map.get(cookie)?;
        kept.served_at(now()).then(|| kept.value.clone())
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
    /// use std::time::{Duration, SystemTime};
    /// use discord_oauth_core::fast_index::FastIndex;
    ///
    /// // Owners are sessions; values name the user.
    /// let index: FastIndex<&str, u64> = FastIndex::new(Duration::from_secs(30), 1000);
    /// let now = SystemTime::now();
    /// let later = now + Duration::from_secs(60);
    /// index.insert(b"sid=laptop", "s1", 80351110224678912, index.epoch(), now, later);
    /// index.insert(b"sid=phone", "s2", 80351110224678912, index.epoch(), now, later);
    /// index.insert(b"sid=other", "s3", 41771983423143937, index.epoch(), now, later);
    ///
    /// // "Log out of all devices" for the first user.
    /// index.retain(|user| *user != 80351110224678912);
    /// assert_eq!(index.get(b"sid=phone", || now), None);
    /// assert_eq!(index.get(b"sid=other", || now), Some(41771983423143937));
    /// ```
    pub fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.removing(|map| map.sweep(|k| keep(&k.value)));
    }

    fn removing(&self, remove: impl FnOnce(&mut KeyIndex<O, Kept<V>, S>)) {
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
        let now = SystemTime::now();
        let later = now + Duration::from_secs(3600);
        for n in 0..10 {
            index.insert(format!("s={n}").as_bytes(), n, n, index.epoch(), now, later);
            assert!(index.len() <= 3);
            assert!(
                index.get(format!("s={n}").as_bytes(), || now).is_some(),
                "the newest is in"
            );
        }
        let index: FastIndex<u32, u32> = FastIndex::new(Duration::from_secs(60), 100);
        for n in 0..10 {
            index.insert(format!("s={n}").as_bytes(), 1, n, index.epoch(), now, later);
        }
        assert_eq!(index.len(), MAX_HEADERS_PER_OWNER, "one owner keeps its newest headers");
    }

    #[test]
    fn removals_invalidate_reads_that_started_before_them() {
        let index: FastIndex<u32, u32> = FastIndex::new(Duration::from_secs(60), 10);
        let now = SystemTime::now();
        let later = now + Duration::from_secs(3600);
        index.insert(b"s=1", 1, 1, 0, now, later);
        index.insert(b"s=2", 2, 2, 0, now, later);
        let before = index.epoch();
        index.remove(b"s=1");
        assert!(index.get(b"s=1", || now).is_none());
        index.insert(b"s=1", 1, 1, before, now, later);
        assert!(index.get(b"s=1", || now).is_none(), "a stale read is not kept");
        index.retain(|v| *v != 2);
        assert!(index.is_empty());
        assert!(index.get(b"s=9 ", || now).is_none(), "the key is the exact header");
    }

    #[test]
    fn off_when_the_ttl_or_capacity_is_zero_and_long_headers_are_not_kept() {
        let now = SystemTime::now();
        let later = now + Duration::from_secs(3600);
        for index in [
            FastIndex::<u32, u32>::new(Duration::ZERO, 3),
            FastIndex::<u32, u32>::new(Duration::from_secs(1), 0),
        ] {
            index.insert(b"s=1", 1, 1, 0, now, later);
            assert!(index.get(b"s=1", || now).is_none());
        }
        let index: FastIndex<u32, u32> = FastIndex::new(Duration::from_secs(1), 3);
        index.insert(&vec![b'a'; MAX_KEY_LEN + 1], 1, 1, 0, now, later);
        assert!(index.is_empty());
        index.insert(b"s=1", 1, 1, 0, now, now);
        assert!(index.is_empty(), "a value that is no longer good is not kept");
    }

    #[test]
    fn entries_no_longer_served_make_room_first() {
        let index: FastIndex<u32, u32> = FastIndex::new(Duration::from_secs(60), 2);
        let now = SystemTime::now();
        let later = now + Duration::from_secs(3600);
        index.insert(b"s=2", 2, 2, 0, now, later);
        index.insert(b"s=1", 1, 1, 0, now, now + Duration::from_secs(1));
        // At +2 s the newer one has ended: the third takes its room, the older one stays.
        let then = now + Duration::from_secs(2);
        index.insert(b"s=3", 3, 3, 0, then, later);
        assert_eq!(index.get(b"s=2", || then), Some(2));
        assert_eq!(index.get(b"s=3", || then), Some(3));
        assert_eq!(index.get(b"s=1", || now), None);
    }
}
