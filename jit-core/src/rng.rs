//! The deterministic random generator the test suites, benches and property tests share.

/// SplitMix64 (Steele, Lea and Flood): small, fast, and the same sequence for the same seed on every host and
/// every run — which the snapshots of property tests, the seeded fuzz and differential tests and the benches'
/// generated texts rely on. Not for anything that must be unpredictable.
///
/// ```
/// use jit_core::rng::SplitMix64;
///
/// let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// let picked = *a.pick(&["rax", "rcx", "rdx"]);
/// assert!(["rax", "rcx", "rdx"].contains(&picked));
/// let _sometimes: bool = a.chance(25);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator that starts from `seed` (any value, 0 included).
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`: the next 64 bits modulo `n` (slightly biased toward small numbers unless `n` is a power
    /// of two, which tests do not mind). Panics if `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One of `items`, each as likely ([`below`](Self::below) its length). Panics if `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True `percent` times in 100 (always from 100 up, never at 0).
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    /// The reference sequence of SplitMix64 for seed 0 (as in the algorithm's published C code), so a change to
    /// the generator, which every seeded test and snapshot depends on, shows here first.
    #[test]
    fn reference_sequence() {
        let mut rng = SplitMix64::new(0);
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4, 0x06c4_5d18_8009_454f]
        );
    }
}
