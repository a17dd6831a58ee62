//! [`KeyMap`]: the table's mnemonic lookup as open addressing over integer keys.
//!
//! Names are packed into integers first (`mnemonic_key`, `name_key`), so a lookup is one multiply, usually one
//! probe and one integer compare, with none of the unpredictable branches of a binary search or the setup of a
//! general-purpose hasher.

/// A fixed map from non-zero integer keys to values, built once.
pub(crate) struct KeyMap<V> {
    /// A power-of-two number of slots, at most half full; key 0 marks an empty slot.
    slots: Box<[(u128, V)]>,
    /// 64 minus the number of index bits.
    shift: u32,
}

impl<V: Copy + Default> KeyMap<V> {
    /// A map of `entries`, whose keys must be non-zero and distinct (a later duplicate is ignored).
    pub(crate) fn new(entries: impl IntoIterator<Item = (u128, V)>) -> KeyMap<V> {
        let entries: Vec<(u128, V)> = entries.into_iter().filter(|&(k, _)| k != 0).collect();
        let bits = (entries.len().max(1) * 2).next_power_of_two().trailing_zeros().max(1);
        let mut map = KeyMap {
            slots: vec![(0, V::default()); 1 << bits].into_boxed_slice(),
            shift: 64 - bits,
        };
        for (key, value) in entries {
            let mut i = map.slot(key);
            while map.slots[i].0 != 0 && map.slots[i].0 != key {
                i = (i + 1) & (map.slots.len() - 1);
            }
            if map.slots[i].0 == 0 {
                map.slots[i] = (key, value);
            }
        }
        map
    }

    fn slot(&self, key: u128) -> usize {
        let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The value for `key`.
    pub(crate) fn get(&self, key: u128) -> Option<V> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(key);
        loop {
            let (k, v) = self.slots[i];
            if k == key && key != 0 {
                return Some(v);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KeyMap;

    #[test]
    fn finds_every_key_and_nothing_else() {
        let map = KeyMap::new((1..=1000u128).map(|k| (k * 0x1_0001, k as u32)));
        for k in 1..=1000u128 {
            assert_eq!(map.get(k * 0x1_0001), Some(k as u32));
            assert_eq!(map.get(k * 0x1_0001 + 1), None);
        }
        assert_eq!(map.get(0), None);
        let empty: KeyMap<u8> = KeyMap::new([]);
        assert_eq!(empty.get(5), None);
    }
}
