//! The table of one partition, split into shards by a hash of the message id.
//!
//! Why: a hash table grows by rehashing everything into one table twice the size. With a single
//! table per partition that was a 10–14 ms pause at 114,688 and 229,376 entries
//! (`examples/hot_path`), and since every partition of an instance fills at the same pace, all
//! of them paused at the same moment: the spikes in the per-second latency of `bench/latency.sh`.
//! Shards fill by slightly different, random amounts, so their growth is spread out in time, and
//! each costs a 32nd.

use std::collections::hash_map::Entry;
use std::hash::BuildHasher;

use foldhash::HashMap;
use foldhash::fast::FixedState;

use super::wire::MessageId;

const SHARD_BITS: u32 = 5;
const SHARDS: usize = 1 << SHARD_BITS;

/// Picks the shard. Its own fixed seed keeps it independent of the tables' (random) hashers,
/// which would otherwise see only ids whose hashes share these bits.
const SELECTOR: FixedState = FixedState::with_seed(0x05ee_d0f5_a4d5);

/// A map from message id to `V`, with the parts of `HashMap`'s interface the state uses.
#[derive(Debug)]
pub struct ShardedMap<V> {
    shards: Vec<HashMap<MessageId, V>>,
}

impl<V> Default for ShardedMap<V> {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| HashMap::default()).collect() }
    }
}

impl<V> ShardedMap<V> {
    fn shard(&self, id: &str) -> &HashMap<MessageId, V> {
        &self.shards[index(id)]
    }

    fn shard_mut(&mut self, id: &str) -> &mut HashMap<MessageId, V> {
        &mut self.shards[index(id)]
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    pub fn get(&self, id: &str) -> Option<&V> {
        self.shard(id).get(id)
    }

    pub fn get_key_value(&self, id: &str) -> Option<(&MessageId, &V)> {
        self.shard(id).get_key_value(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        self.shard_mut(id).get_mut(id)
    }

    pub fn insert(&mut self, id: MessageId, value: V) -> Option<V> {
        self.shard_mut(&id).insert(id, value)
    }

    pub fn remove(&mut self, id: &str) -> Option<V> {
        self.shard_mut(id).remove(id)
    }

    pub fn entry(&mut self, id: MessageId) -> Entry<'_, MessageId, V> {
        self.shard_mut(&id).entry(id)
    }
}

fn index(id: &str) -> usize {
    (SELECTOR.hash_one(id) >> (u64::BITS - SHARD_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_one_map() {
        let mut map = ShardedMap::default();
        assert!(map.is_empty());
        for i in 0..1000 {
            assert_eq!(map.insert(MessageId::from(format!("m{i}")), i), None);
        }
        assert_eq!(map.len(), 1000);
        assert_eq!(map.get("m7"), Some(&7));
        assert_eq!(map.get_key_value("m8").map(|(k, v)| (&**k, *v)), Some(("m8", 8)));
        *map.get_mut("m9").unwrap() += 1;
        assert_eq!(map.remove("m9"), Some(10));
        assert_eq!(map.get("m9"), None);
        *map.entry(MessageId::from("m10")).or_insert(0) += 1;
        assert_eq!(map.get("m10"), Some(&11));
        assert_eq!(map.len(), 999);
    }

    #[test]
    fn ids_spread_over_every_shard() {
        let mut map = ShardedMap::default();
        for i in 0..SHARDS * 100 {
            map.insert(MessageId::from(format!("5d1f0c9e-{i:08}")), ());
        }
        let sizes: Vec<usize> = map.shards.iter().map(HashMap::len).collect();
        assert!(sizes.iter().all(|&n| (50..150).contains(&n)), "{sizes:?}");
    }
}
