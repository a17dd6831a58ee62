//! The map of the assembler's lookups, [`KeyMap`]: open addressing over keys made for the job, each a whole
//! integer (or nearly), so a lookup is one multiply, usually one probe and one integer compare, with none of the
//! unpredictable branches of a binary search or the setup of a general-purpose hasher. It maps the table's
//! mnemonics to their forms, the memo's shapes to their templates, and a text's labels to their numbers.
//!
//! The names of registers and keywords are the one table that is not a `KeyMap`: they are known when the crate
//! is compiled, so [`words`](crate::asm::text::words) places each in a slot of its own in a static array then,
//! and a lookup (several on every line) is one load and one compare, with no map to reach first.

/// A key of a [`KeyMap`]: copied and compared whole; [`MapKey::EMPTY`] marks an empty slot and is no real key.
pub(crate) trait MapKey: Copy + Eq {
    const EMPTY: Self;
    /// The key's hash, whose high bits pick its slot.
    fn hash(&self) -> u64;
    /// Whether this is [`MapKey::EMPTY`] (a key may tell with less than a whole compare).
    #[inline(always)]
    fn is_empty(&self) -> bool {
        *self == Self::EMPTY
    }
}

/// Spreads a word's bits to the high end, where the slot is taken from (the multiplier is 2^64 over the golden
/// ratio, as in Fibonacci hashing).
#[inline(always)]
fn spread(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A mnemonic's key ([`mnemonic_key`](crate::asm::table::mnemonic_key)).
impl MapKey for u128 {
    const EMPTY: u128 = 0;
    #[inline(always)]
    fn hash(&self) -> u64 {
        spread(*self as u64 ^ ((*self >> 64) as u64).rotate_left(29))
    }
}

/// A mnemonic's key and a shape (the memo's).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShapeKey(pub(crate) u128, pub(crate) u64);

impl PartialEq for ShapeKey {
    /// Both halves compared, then one branch (`&`, not `&&`).
    #[inline(always)]
    fn eq(&self, other: &Self) -> bool {
        (self.0 == other.0) & (self.1 == other.1)
    }
}

impl Eq for ShapeKey {}

/// Mnemonic and shape each mixed in by a multiply (an exclusive or of the two alone cancels: `or` and `cmp` of some
/// shapes fold to the same word).
impl MapKey for ShapeKey {
    const EMPTY: ShapeKey = ShapeKey(0, 0);
    #[inline(always)]
    fn hash(&self) -> u64 {
        (self.0.hash() ^ self.1).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    }
    /// No mnemonic's key is 0.
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// A label's name as a key: a name of up to 15 bytes is its bytes and length in one integer, so that a lookup
/// compares integers and does not read the text again (a long text's labels are spread over megabytes); a longer
/// name is itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKey<'s> {
    /// The bytes, then the length in the last byte (two words, not a `u128`: a slot of a map of labels is 32
    /// bytes, not 48).
    Short([u64; 2]),
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

impl MapKey for NameKey<'_> {
    /// No name's key: a name this short is `Short`.
    const EMPTY: Self = NameKey::Long("");
    fn hash(&self) -> u64 {
        match self {
            NameKey::Short([low, high]) => spread(low ^ high.rotate_left(29)),
            // Eight bytes at a time, each multiplied in (the scheme of rustc's `FxHasher`). The names are the
            // labels of a text the caller assembles, whose worst case is slower assembly, not a fault.
            NameKey::Long(name) => name.as_bytes().chunks(8).fold(name.len() as u64, |h, word| {
                let mut w = [0u8; 8];
                w[..word.len()].copy_from_slice(word);
                spread(h.rotate_left(5) ^ u64::from_le_bytes(w))
            }),
        }
    }
}

/// A map from keys to values: a power-of-two number of slots, at most half full, each key in the first free slot
/// from the one its hash picks.
#[derive(Clone, Debug)]
pub(crate) struct KeyMap<K, V> {
    slots: Box<[(K, V)]>,
    /// 64 minus the number of index bits.
    shift: u32,
    len: usize,
}

impl<K: MapKey, V: Copy + Default> KeyMap<K, V> {
    /// An empty map with room for `entries` before it grows.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        let bits = (entries.max(1) * 2).next_power_of_two().trailing_zeros();
        KeyMap {
            slots: vec![(K::EMPTY, V::default()); 1 << bits].into_boxed_slice(),
            shift: 64 - bits,
            len: 0,
        }
    }

    /// A map of `entries` (a later duplicate of a key is ignored; an empty key is no entry).
    pub(crate) fn new(entries: impl IntoIterator<Item = (K, V)>) -> Self {
        let entries = entries.into_iter();
        let mut map = KeyMap::with_capacity(entries.size_hint().0);
        for (key, value) in entries {
            map.get_or_insert_with(key, || value);
        }
        map
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The slot `key`'s hash picks.
    #[inline(always)]
    fn first(&self, key: K) -> usize {
        (key.hash() >> self.shift) as usize
    }

    /// The slot of `key`, or the empty slot where it would go, from slot `i` on.
    fn find(&self, key: K, mut i: usize) -> usize {
        let mask = self.slots.len() - 1;
        loop {
            let k = &self.slots[i & mask].0;
            if *k == key || k.is_empty() {
                return i & mask;
            }
            i += 1;
        }
    }

    /// The value for `key`: one probe, in line, for a key in its first slot or none there.
    #[inline(always)]
    pub(crate) fn get(&self, key: K) -> Option<&V> {
        let i = self.first(key);
        let (k, v) = &self.slots[i];
        if *k == key {
            return (!key.is_empty()).then_some(v);
        }
        if k.is_empty() {
            return None;
        }
        let (k, v) = &self.slots[self.find(key, i)];
        ((*k == key) & !key.is_empty()).then_some(v)
    }

    /// The value for `key`, made by `make` and added if it has none. (The empty key is no entry: its value is
    /// not kept.)
    #[inline(always)]
    pub(crate) fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.reserve(1);
        let i = self.find(key, self.first(key));
        if self.slots[i].0.is_empty() {
            self.slots[i] = (key, make());
            self.len += usize::from(!key.is_empty());
        }
        &mut self.slots[i].1
    }

    /// Room for `more` entries before the map grows again.
    #[inline(always)]
    pub(crate) fn reserve(&mut self, more: usize) {
        if 2 * (self.len + more) > self.slots.len() {
            self.grow(more);
        }
    }

    /// A map of twice as many slots as `more` more entries need, with the entries moved in.
    #[cold]
    fn grow(&mut self, more: usize) {
        let old = std::mem::replace(self, KeyMap::with_capacity(2 * (self.len + more)));
        for (key, value) in old.slots {
            if !key.is_empty() {
                self.slots[self.find(key, self.first(key))] = (key, value);
                self.len += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyMap, NameKey};

    #[test]
    fn finds_every_key_and_nothing_else() {
        let map = KeyMap::new((1..=1000u128).map(|k| (k * 0x1_0001, k as u32)));
        for k in 1..=1000u128 {
            assert_eq!(map.get(k * 0x1_0001), Some(&(k as u32)));
            assert_eq!(map.get(k * 0x1_0001 + 1), None);
        }
        assert_eq!(map.get(0), None);
        let empty: KeyMap<u128, u8> = KeyMap::new([]);
        assert_eq!(empty.get(5), None);
    }

    #[test]
    fn grows_keeping_every_entry_and_the_first_value_of_a_key() {
        let mut map = KeyMap::with_capacity(1);
        for k in 1..=5000u128 {
            assert_eq!(*map.get_or_insert_with(k << 40, || k), k);
            assert_eq!(*map.get_or_insert_with(k << 40, || 0), k);
        }
        assert_eq!(map.len(), 5000);
        assert!((1..=5000u128).all(|k| map.get(k << 40) == Some(&k)));
        map.get_or_insert_with(0, || 1);
        assert_eq!((map.get(0), map.len()), (None, 5000));
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
        let mut map = KeyMap::with_capacity(1);
        for (i, a) in names.iter().enumerate() {
            assert_eq!(NameKey::of(a).name(), *a);
            for b in &names[i + 1..] {
                assert_ne!(NameKey::of(a), NameKey::of(b), "{a} and {b}");
            }
            map.get_or_insert_with(NameKey::of(a), || i);
        }
        assert!(
            names
                .iter()
                .enumerate()
                .all(|(i, a)| map.get(NameKey::of(a)) == Some(&i))
        );
        assert!(matches!(NameKey::of("fifteen_bytes_x"), NameKey::Short(_)));
        assert!(matches!(NameKey::of("sixteen_bytes_xx"), NameKey::Long(_)));
    }
}
