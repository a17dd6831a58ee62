//! Maps with keys made for the job: [`KeyMap`], the table's mnemonic lookup as open addressing over integer keys,
//! and [`NameMap`], the std map with a fast hasher, for labels (by [`NameKey`]).
//!
//! Mnemonics are packed into integers first (`mnemonic_key`), so a lookup is one multiply, usually one probe and
//! one integer compare, with none of the unpredictable branches of a binary search or the setup of a
//! general-purpose hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from names (labels), hashed by [`NameHasher`].
pub(crate) type NameMap<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;

/// A label's name as a map key: a name of up to 15 bytes is its bytes and length in one integer, so that a lookup
/// compares integers and does not read the text again (a long text's labels are spread over megabytes); a longer
/// name is itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum NameKey<'s> {
    Short(u128),
    Long(&'s str),
}

impl<'s> NameKey<'s> {
    pub(crate) fn of(name: &'s str) -> NameKey<'s> {
        let bytes = name.as_bytes();
        if bytes.len() > 15 {
            return NameKey::Long(name);
        }
        let mut key = [0u8; 16];
        key[..bytes.len()].copy_from_slice(bytes);
        key[15] = bytes.len() as u8;
        NameKey::Short(u128::from_le_bytes(key))
    }

    /// The name.
    pub(crate) fn name(&self) -> String {
        match *self {
            NameKey::Short(key) => {
                let bytes = key.to_le_bytes();
                String::from_utf8_lossy(&bytes[..usize::from(bytes[15])]).into_owned()
            }
            NameKey::Long(name) => name.to_string(),
        }
    }
}

/// Hashes a name eight bytes at a time, each multiplied in (the scheme of rustc's `FxHasher`). The std map's
/// default hasher (SipHash) resists inputs made to collide, at several times the cost; the names here are the
/// labels of a text the caller assembles, whose worst case is slower assembly, not a fault.
#[derive(Clone, Copy, Default)]
pub(crate) struct NameHasher(u64);

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        }
        let mut last = [0u8; 8];
        last[..words.remainder().len()].copy_from_slice(words.remainder());
        self.add(u64::from_le_bytes(last));
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        // The multiplications leave the low bits depending on the low bits of the words alone (names that differ
        // in a late byte would share them, and the map takes its slot from them): the high half folded in.
        let x = self.0 ^ self.0 >> 32;
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ x >> 29
    }
}

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
    use super::{KeyMap, NameKey};

    #[test]
    fn a_name_key_gives_its_name_back_and_tells_names_apart() {
        let names = [
            "L0",
            "L00",
            "loop_start",
            "a\u{e9}b",
            "fifteen_bytes_x",
            "sixteen_bytes_xx",
            ".L1",
        ];
        for (i, a) in names.iter().enumerate() {
            assert_eq!(NameKey::of(a).name(), *a);
            for b in &names[i + 1..] {
                assert_ne!(NameKey::of(a), NameKey::of(b), "{a} and {b}");
            }
        }
        assert!(matches!(NameKey::of("fifteen_bytes_x"), NameKey::Short(_)));
        assert!(matches!(NameKey::of("sixteen_bytes_xx"), NameKey::Long(_)));
    }

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
