//! Keeping the integrations' in-process maps (session caches, cookie indexes) bounded without
//! an O(n) scan on every insert once they are full.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Instant;

/// Makes room for one more entry in `map`, bounded to `capacity`: when it is full, drops the
/// entries that are no longer `live` (expired), and if that is not enough, an arbitrary tenth
/// of the rest (the hash order: no attacker-chosen key survives by arrangement). A full map
/// therefore costs one pass per `capacity / 10` inserts, not one per insert.
///
/// ```
/// use std::collections::HashMap;
/// use discord_oauth_core::bounded::make_room;
///
/// let mut map: HashMap<u32, bool> = (0..100).map(|n| (n, n % 2 == 0)).collect();
/// make_room(&mut map, 100, |live| *live);
/// assert_eq!(map.len(), 50, "the dead entries went");
/// let mut full: HashMap<u32, u8> = (0..100).map(|n| (n, 0)).collect();
/// make_room(&mut full, 100, |_| true);
/// assert_eq!(full.len(), 89, "a tenth went, and there is room for the next one");
/// ```
pub fn make_room<K, V, S>(map: &mut HashMap<K, V, S>, capacity: usize, live: impl Fn(&V) -> bool)
where
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    if map.len() < capacity {
        return;
    }
    map.retain(|_, v| live(v));
    if map.len() < capacity {
        return;
    }
    let target = capacity.saturating_sub(capacity / 10 + 1);
    let excess = map.len().saturating_sub(target);
    let victims: Vec<K> = map.keys().take(excess).cloned().collect();
    for key in &victims {
        map.remove(key);
    }
}

/// The limits of a [`KeyIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLimits {
    /// Most entries.
    pub entries: usize,
    /// Most bytes of keys, all entries together.
    pub bytes: usize,
    /// Most keys per owner (e.g. per session): a logged-in client that varies its `Cookie`
    /// header on every request replaces its own keys instead of growing the index.
    pub per_owner: usize,
}

/// A bounded map from request keys (e.g. whole `Cookie` headers) to values that belong to an
/// owner (e.g. a session), for the integrations' authenticated fast paths.
///
/// Bounded three ways ([`IndexLimits`]): entries, total key bytes, and keys per owner (an
/// owner's oldest key goes first). Dead entries (the `live` callback of [`KeyIndex::insert`]
/// says so: logged out, expired) are swept every `max(64, len / 2)` inserts, so they are
/// freed long before the map fills, at an amortized constant cost per insert.
///
/// ```
/// use discord_oauth_core::bounded::{IndexLimits, KeyIndex};
/// let limits = IndexLimits { entries: 100, bytes: 1 << 20, per_owner: 2 };
/// let mut index: KeyIndex<u32, bool> = KeyIndex::new(limits);
/// for n in 0..5 {
///     index.insert(format!("cookie={n}").as_bytes(), 7, true, |live| *live);
/// }
/// assert_eq!(index.len(), 2, "owner 7 keeps its two newest keys");
/// assert_eq!(index.get(b"cookie=4"), Some(&true));
/// assert!(index.get(b"cookie=0").is_none());
/// index.remove_owner(&7);
/// assert!(index.is_empty());
/// ```
pub struct KeyIndex<O, V, S = RandomState> {
    map: HashMap<Arc<[u8]>, (O, V), S>,
    owners: HashMap<O, Vec<Arc<[u8]>>>,
    bytes: usize,
    inserts_since_sweep: usize,
    limits: IndexLimits,
}

impl<O, V, S> std::fmt::Debug for KeyIndex<O, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyIndex")
            .field("len", &self.map.len())
            .field("bytes", &self.bytes)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<O: Hash + Eq + Clone, V> KeyIndex<O, V> {
    /// An empty index with the standard hasher.
    pub fn new(limits: IndexLimits) -> Self {
        Self::with_hasher(limits, RandomState::new())
    }
}

impl<O: Hash + Eq + Clone, V, S: BuildHasher> KeyIndex<O, V, S> {
    /// An empty index hashing keys with `hasher`.
    pub fn with_hasher(limits: IndexLimits, hasher: S) -> Self {
        Self {
            map: HashMap::with_hasher(hasher),
            owners: HashMap::new(),
            bytes: 0,
            inserts_since_sweep: 0,
            limits,
        }
    }

    /// The value for `key`, if any (live or not: the caller checks).
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.map.get(key).map(|(_, v)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` if empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Total bytes of keys.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Keys held for `owner`.
    pub fn owner_len(&self, owner: &O) -> usize {
        self.owners.get(owner).map_or(0, Vec::len)
    }

    /// Inserts `key` → `value` for `owner`, within the limits; `live` tells dead values, which
    /// go first when room is needed. Returns `false` if the key alone is over the byte limit
    /// or a limit is zero.
    pub fn insert(&mut self, key: &[u8], owner: O, value: V, live: impl Fn(&V) -> bool) -> bool {
        let limits = self.limits;
        if limits.entries == 0 || limits.per_owner == 0 || key.len() > limits.bytes {
            return false;
        }
        self.remove(key);
        self.inserts_since_sweep += 1;
        if self.inserts_since_sweep >= (self.map.len() / 2).max(64) {
            self.sweep(&live);
        }
        // This owner's oldest keys go first, dead ones before live ones.
        if self.owner_len(&owner) >= limits.per_owner {
            let dead: Vec<Arc<[u8]>> = self.owners[&owner]
                .iter()
                .filter(|k| self.map.get(&***k).is_some_and(|(_, v)| !live(v)))
                .cloned()
                .collect();
            for k in dead {
                self.remove(&k);
            }
            while self.owner_len(&owner) >= limits.per_owner {
                let Some(oldest) = self.owners.get(&owner).and_then(|keys| keys.first().cloned()) else {
                    break;
                };
                self.remove(&oldest);
            }
        }
        if self.map.len() >= limits.entries || self.bytes + key.len() > limits.bytes {
            self.sweep(&live);
        }
        while self.map.len() >= limits.entries || self.bytes + key.len() > limits.bytes {
            // Still full of live entries: an arbitrary tenth goes (hash order).
            let excess = (self.map.len() / 10).max(1);
            let victims: Vec<Arc<[u8]>> = self.map.keys().take(excess).cloned().collect();
            if victims.is_empty() {
                break;
            }
            for k in victims {
                self.remove(&k);
            }
        }
        let key: Arc<[u8]> = Arc::from(key);
        self.bytes += key.len();
        self.owners.entry(owner.clone()).or_default().push(Arc::clone(&key));
        self.map.insert(key, (owner, value));
        true
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &[u8]) {
        if let Some((k, (owner, _))) = self.map.remove_entry(key) {
            self.bytes -= k.len();
            if let Some(keys) = self.owners.get_mut(&owner) {
                keys.retain(|x| **x != *k);
                if keys.is_empty() {
                    self.owners.remove(&owner);
                }
            }
        }
    }

    /// Removes every key of `owner`.
    pub fn remove_owner(&mut self, owner: &O) {
        for k in self.owners.remove(owner).unwrap_or_default() {
            if self.map.remove(&k).is_some() {
                self.bytes -= k.len();
            }
        }
    }

    /// Removes every entry whose value is not `live`.
    pub fn sweep(&mut self, live: impl Fn(&V) -> bool) {
        self.inserts_since_sweep = 0;
        let dead: Vec<Arc<[u8]>> = self
            .map
            .iter()
            .filter(|(_, (_, v))| !live(v))
            .map(|(k, _)| Arc::clone(k))
            .collect();
        for k in dead {
            self.remove(&k);
        }
    }
}

/// The store behind the integrations' in-process session stores: values with an expiry,
/// bounded in entries and in bytes (the caller says what a value weighs), kept in expiry
/// order so that making room costs O(log n) however full it is. When a bound is reached,
/// expired entries go first, then the ones closest to expiry (for sessions that expire after
/// a time without activity, the least recently active).
///
/// ```
/// use std::time::{Duration, Instant};
/// use discord_oauth_core::bounded::ExpiringMap;
/// let now = Instant::now();
/// let mut map: ExpiringMap<u32, &str> = ExpiringMap::new(2, 1_000);
/// map.put(1, "a", 1, now + Duration::from_secs(10), now);
/// map.put(2, "b", 1, now + Duration::from_secs(60), now);
/// map.put(3, "c", 1, now + Duration::from_secs(30), now);
/// assert_eq!(map.get(&1, now), None, "the one closest to expiry made room");
/// assert_eq!(map.get(&3, now), Some(&"c"));
/// assert_eq!(map.get(&2, now + Duration::from_secs(61)), None, "expired");
/// ```
#[derive(Debug)]
pub struct ExpiringMap<K, V> {
    by_key: HashMap<K, (V, usize, Instant)>,
    by_expiry: BTreeSet<(Instant, K)>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<K: Hash + Eq + Ord + Clone, V> ExpiringMap<K, V> {
    /// An empty map of at most `max_entries` entries (at least 1) and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            by_expiry: BTreeSet::new(),
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// The value for `key` if it has not expired at `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<&V> {
        self.by_key
            .get(key)
            .filter(|(_, _, until)| *until > now)
            .map(|(v, _, _)| v)
    }

    /// `true` if `key` is present and unexpired at `now`.
    pub fn contains(&self, key: &K, now: Instant) -> bool {
        self.get(key, now).is_some()
    }

    /// Inserts or replaces `key`, weighing `bytes`, until `until`; makes room first. Returns
    /// `false` (and stores nothing) if the value alone is over the byte bound.
    pub fn put(&mut self, key: K, value: V, bytes: usize, until: Instant, now: Instant) -> bool {
        self.remove(&key);
        if bytes > self.max_bytes {
            return false;
        }
        while let Some((first_until, _)) = self.by_expiry.first() {
            let full = self.by_key.len() >= self.max_entries || self.bytes + bytes > self.max_bytes;
            if *first_until > now && !full {
                break;
            }
            if let Some((_, k)) = self.by_expiry.pop_first()
                && let Some((_, b, _)) = self.by_key.remove(&k)
            {
                self.bytes -= b;
            }
        }
        self.bytes += bytes;
        self.by_expiry.insert((until, key.clone()));
        self.by_key.insert(key, (value, bytes, until));
        true
    }

    /// Moves `key`'s expiry.
    ///
    /// A session that expires after a time without activity moves its expiry on each use:
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use discord_oauth_core::bounded::ExpiringMap;
    /// let (idle, t0) = (Duration::from_secs(60), Instant::now());
    /// let mut sessions: ExpiringMap<&str, &str> = ExpiringMap::new(100, 1 << 20);
    /// assert!(sessions.put("sid", "{}", 2, t0 + idle, t0));
    /// let t1 = t0 + Duration::from_secs(50);
    /// sessions.set_expiry(&"sid", t1 + idle); // used at t1
    /// assert!(sessions.contains(&"sid", t0 + Duration::from_secs(100)));
    /// assert!(!sessions.contains(&"sid", t1 + idle));
    /// ```
    pub fn set_expiry(&mut self, key: &K, until: Instant) {
        if let Some((_, _, at)) = self.by_key.get_mut(key) {
            self.by_expiry.remove(&(*at, key.clone()));
            *at = until;
            self.by_expiry.insert((until, key.clone()));
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (v, b, until) = self.by_key.remove(key)?;
        self.by_expiry.remove(&(until, key.clone()));
        self.bytes -= b;
        Some(v)
    }

    /// Entries held (expired ones until room is made).
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// `true` if empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Bytes held, as weighed by the callers of [`ExpiringMap::put`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiring_map_is_bounded_in_entries_and_bytes_and_drops_expired_first() {
        let now = Instant::now();
        let later = |s: u64| now + std::time::Duration::from_secs(s);
        let mut map: ExpiringMap<u64, ()> = ExpiringMap::new(1000, 10_000);
        for n in 0..20_000u64 {
            assert!(map.put(n, (), 100, later(600 + n), now));
            assert!(
                map.len() <= 100 && map.bytes() <= 10_000,
                "{} {}",
                map.len(),
                map.bytes()
            );
        }
        assert!(map.contains(&19_999, now));
        assert_eq!(map.by_expiry.len(), map.len(), "both views agree");
        assert!(!map.put(1, (), 10_001, later(1), now), "one value over the byte bound");
        // An expired entry goes before any live one, even when not full.
        let mut map: ExpiringMap<u64, ()> = ExpiringMap::new(10, 10_000);
        map.put(1, (), 1, later(1), now);
        map.put(2, (), 1, later(100), now);
        map.put(3, (), 1, later(100), later(2));
        assert_eq!(map.len(), 2);
        assert!(!map.contains(&1, now));
        map.set_expiry(&2, later(3));
        assert!(!map.contains(&2, later(4)));
        assert_eq!(map.remove(&3), Some(()));
        assert_eq!(map.bytes(), 1);
    }

    #[test]
    fn the_key_index_is_bounded_in_entries_bytes_and_per_owner() {
        let limits = IndexLimits {
            entries: 50,
            bytes: 10_000,
            per_owner: 3,
        };
        let mut index: KeyIndex<u32, bool> = KeyIndex::new(limits);
        // One owner varying its key on every request: never more than 3 of its keys.
        for n in 0..1000 {
            assert!(index.insert(format!("pad={n}; s=1").as_bytes(), 1, true, |l| *l));
            assert!(index.owner_len(&1) <= 3);
        }
        assert_eq!(index.len(), 3);
        // Many owners with 1 KiB keys: the byte bound holds.
        for n in 0..200u32 {
            let key = format!("{n:04}{}", "x".repeat(1000));
            assert!(index.insert(key.as_bytes(), 100 + n, true, |l| *l));
            assert!(index.bytes() <= 10_000, "{} bytes", index.bytes());
            assert!(index.len() <= 50);
        }
        let total: usize = index.map.keys().map(|k| k.len()).sum();
        assert_eq!(total, index.bytes(), "the byte count is exact");
        let owned: usize = index.owners.values().map(Vec::len).sum();
        assert_eq!(owned, index.len(), "every key has its owner and no more");
        assert!(
            !index.insert(&[b'x'; 10_001], 5, true, |l| *l),
            "a key over the byte bound"
        );
    }

    #[test]
    fn dead_entries_are_freed_before_the_index_fills() {
        let limits = IndexLimits {
            entries: 100_000,
            bytes: 1 << 30,
            per_owner: 4,
        };
        let mut index: KeyIndex<u32, bool> = KeyIndex::new(limits);
        for n in 0..100u32 {
            index.insert(format!("dead={n}").as_bytes(), n, false, |l| *l);
        }
        for n in 0..100u32 {
            index.insert(format!("live={n}").as_bytes(), 1000 + n, true, |l| *l);
        }
        assert!(
            index.len() < 150,
            "dead entries were swept long before the map filled: {}",
            index.len()
        );
        assert!((0..100).all(|n| index.get(format!("live={n}").as_bytes()).is_some()));
        // An owner at its limit loses its dead keys before its live ones.
        let mut index: KeyIndex<u32, bool> = KeyIndex::new(IndexLimits { per_owner: 2, ..limits });
        index.insert(b"a", 1, true, |l| *l);
        index.insert(b"b", 1, false, |l| *l);
        index.insert(b"c", 1, true, |l| *l);
        assert!(index.get(b"a").is_some() && index.get(b"b").is_none() && index.get(b"c").is_some());
    }

    #[test]
    fn inserting_into_a_full_map_stays_bounded_and_is_amortized() {
        let mut map: HashMap<u64, u64> = HashMap::new();
        let mut passes = 0;
        for n in 0..10_000u64 {
            if map.len() >= 1000 {
                passes += 1;
            }
            make_room(&mut map, 1000, |_| true);
            map.insert(n, n);
            assert!(map.len() <= 1000);
            assert!(map.contains_key(&n), "the new entry is in");
        }
        assert!(passes <= 100, "one pass per ~100 inserts, not one per insert: {passes}");
        let mut one: HashMap<u64, u8> = HashMap::from([(1, 0)]);
        make_room(&mut one, 1, |_| true);
        assert!(one.is_empty(), "capacity 1: room for the next one");
    }
}
