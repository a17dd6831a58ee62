//! The map of the assembler's lookups by key, [`KeyMap`]: the std map, with a hasher made for keys of whole
//! words ([`KeyHasher`]). It maps the table's mnemonics to their forms, the memo's shapes to their templates, and
//! a text's labels to their numbers.
//!
//! The names of registers and keywords are the one table that is not a `KeyMap`: they are known when the crate
//! is compiled, so [`words`](crate::asm::text::words) places each in a slot of its own in a static array then,
//! and a lookup (several on every line) is one load and one compare, with no map to reach first.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from keys made of whole words: mnemonic keys ([`mnemonic_key`](crate::asm::table::mnemonic_key)), the
/// memo's [`ShapeKey`]s, labels' [`NameKey`]s.
pub(crate) type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// A key's words, each multiplied in (the scheme of rustc's `FxHasher`), then mixed so that the low bits, where
/// the map places a key, depend on every word. The std map's default hasher (SipHash) resists keys made to collide,
/// at several times the cost; these keys come from the text the caller assembles, whose worst case is slower
/// assembly, not a fault.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    #[inline(always)]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for word in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..word.len()].copy_from_slice(word);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline(always)]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline(always)]
    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    #[inline(always)]
    fn write_u128(&mut self, words: u128) {
        self.add(words as u64);
        self.add((words >> 64) as u64);
    }

    #[inline(always)]
    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        // The multiplications leave the low bits depending on the low bits of the words alone (keys that differ in
        // a late byte would share them): every bit mixed into every other (MurmurHash3's finalizer).
        let mut x = self.0;
        x = (x ^ x >> 33).wrapping_mul(0xff51_afd7_ed55_8ccd);
        x = (x ^ x >> 33).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ x >> 33
    }
}

/// A mnemonic's key and a shape: the memo's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ShapeKey(pub(crate) u128, pub(crate) u64);

/// A name of at most 15 bytes as 16: its bytes, zeros, and its length in the last byte (the form of a mnemonic's
/// key and a label's short key); `None` for a longer name.
pub(crate) fn packed(bytes: &[u8]) -> Option<[u8; 16]> {
    let mut key = [0u8; 16];
    key.get_mut(..bytes.len())
        .filter(|_| bytes.len() <= 15)?
        .copy_from_slice(bytes);
    key[15] = bytes.len() as u8;
    Some(key)
}

/// A label's name as a key: a name of up to 15 bytes is its bytes and length in one integer, so that a lookup
/// compares integers and does not read the text again (a long text's labels are spread over megabytes); a longer
/// name is itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum NameKey<'s> {
    /// The bytes, then the length in the last byte (two words, not a `u128`: a slot of a map of labels is 32
    /// bytes, not 48).
    Short([u64; 2]),
    Long(&'s str),
}

impl<'s> NameKey<'s> {
    pub(crate) fn of(name: &'s str) -> NameKey<'s> {
        let Some(key) = packed(name.as_bytes()) else {
            return NameKey::Long(name);
        };
        let word = |i: usize| u64::from_le_bytes(key[i..i + 8].try_into().unwrap_or_default());
        NameKey::Short([word(0), word(8)])
    }

    /// The name.
    pub(crate) fn name(&self) -> String {
        match *self {
            NameKey::Short([low, high]) => {
                let bytes = (u128::from(high) << 64 | u128::from(low)).to_le_bytes();
                String::from_utf8_lossy(&bytes[..usize::from(bytes[15])]).into_owned()
            }
            NameKey::Long(name) => name.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyHasher, NameKey};
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn keys_that_differ_in_any_byte_are_spread_over_the_low_bits() {
        // Labels that differ in their last bytes, as generated names do: the map places them by the low bits.
        let hash = |name: &str| BuildHasherDefault::<KeyHasher>::default().hash_one(NameKey::of(name));
        for template in ["L{}", "loop_{}", ".LBB0_{}", "a_long_label_name_{}"] {
            let mut low: Vec<u64> = (0..1000)
                .map(|i| hash(&template.replace("{}", &i.to_string())) & 1023)
                .collect();
            low.sort_unstable();
            low.dedup();
            assert!(low.len() > 550, "{template}: {} of 1,024 places", low.len());
        }
    }

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
}
