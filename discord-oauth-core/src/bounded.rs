//! Keeping the integrations' in-process maps (session caches, cookie indexes) bounded without
//! an O(n) scan on every insert once they are full.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

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

#[cfg(test)]
mod tests {
    use super::*;

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
