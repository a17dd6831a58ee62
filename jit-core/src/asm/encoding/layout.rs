//! Jump relaxation, shared by the text assembler and the emitter, so that a program built at run time from
//! fragments gets exactly the jumps its text would.
//!
//! Code is laid out as its non-jump bytes in order (a buffer), with each jump to a label kept aside at its offset
//! in that buffer. Like GNU as, every jump starts in its short (`rel8`) form when it has one, and a jump whose
//! target is out of reach grows to `rel32` until nothing changes; growing only ever moves targets further, so this
//! ends. A position's final offset is its buffer offset plus the lengths of the jumps before it.

/// A jump whose length layout decides, or padding to an alignment (the emitter's `align`). Twelve bytes: a program
/// has a site for every jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    /// Its offset in the buffer (where the bytes after it start).
    pub at: u32,
    /// A jump's target (an index into the label positions); padding's length in the current layout.
    pub target: u32,
    /// The length of its short form; 0 when it has none.
    pub short_len: u8,
    /// The length of its long form.
    pub long_len: u8,
    /// Whether the short form is in use.
    pub is_short: bool,
    /// For padding: the alignment's log2 (1 to 12); 0 for a jump.
    pub align_log2: u8,
}

impl Site {
    /// A jump at `at` to label position `target`, short when it has a short form.
    pub fn new(at: u32, short_len: u8, long_len: u8, target: u32) -> Site {
        Site {
            at,
            target,
            short_len,
            long_len,
            is_short: short_len != 0,
            align_log2: 0,
        }
    }

    /// Padding at `at` up to a multiple of `align` (a power of two from 2 to 4096).
    pub fn padding(at: u32, align: u32) -> Site {
        Site {
            align_log2: align.trailing_zeros() as u8,
            ..Site::new(at, 0, 0, 0)
        }
    }

    /// Whether this is padding, not a jump.
    pub fn is_padding(&self) -> bool {
        self.align_log2 != 0
    }

    /// Its length: the jump form in use, or the padding.
    pub fn size(&self) -> u32 {
        match (self.align_log2, self.is_short) {
            (0, true) => u32::from(self.short_len),
            (0, false) => u32::from(self.long_len),
            _ => self.target,
        }
    }
}

/// A position in the code: its offset in the buffer and how many jumps come before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Offset in the buffer.
    pub at: u32,
    /// Jumps before it.
    pub jumps_before: u32,
}

/// Grows short jumps that cannot reach until none changes. Returns, for each `k`, the total length of the first
/// `k` jumps: what a position with `k` jumps before it moves by ([`final_at`]).
///
/// Without padding, a jump's distance grows with the lengths of the jumps it spans, and lengths only grow: a jump
/// that reaches when every other jump is long stays short, and one that cannot reach when every jump is short
/// is long. Both are settled before the first round; the rounds check only the jumps in between, and sum the
/// lengths again only from the first jump that grew.
pub fn relax(sites: &mut [Site], targets: &[Pos]) -> Vec<u64> {
    let mut shifts = vec![0u64; sites.len() + 1];
    if sites.iter().any(Site::is_padding) {
        let short = (0..sites.len() as u32)
            .filter(|&j| sites[j as usize].is_short)
            .collect();
        return rounds(sites, targets, shifts, short, 0);
    }
    // The lengths when every jump is short (`shifts`), and when every jump is long.
    let mut longest = vec![0u64; sites.len() + 1];
    for (j, site) in sites.iter().enumerate() {
        shifts[j + 1] = shifts[j] + u64::from(site.size());
        longest[j + 1] = longest[j] + u64::from(site.long_len);
    }
    let (mut undecided, mut grew) = (Vec::new(), sites.len());
    for (j, site) in sites.iter_mut().enumerate() {
        // (The jump's own length counts as short: that is the length whose reach is in question.)
        if !site.is_short || reaches(site, j, site.short_len, targets, &longest) {
            continue; // long already, or short whatever the others do
        }
        if reaches(site, j, site.short_len, targets, &shifts) {
            undecided.push(j as u32);
        } else {
            site.is_short = false;
            grew = grew.min(j);
        }
    }
    rounds(sites, targets, shifts, undecided, grew)
}

/// The rounds: the lengths summed again from site `from` on, then each jump of `short` checked, until none grows.
fn rounds(sites: &mut [Site], targets: &[Pos], mut shifts: Vec<u64>, mut short: Vec<u32>, mut from: usize) -> Vec<u64> {
    loop {
        sum_lengths(sites, &mut shifts, from);
        let mut grew = None;
        short.retain(|&j| {
            let site = &mut sites[j as usize];
            let reaches = reaches(site, j as usize, site.short_len, targets, &shifts);
            if !reaches {
                site.is_short = false;
                grew.get_or_insert(j as usize);
            }
            reaches
        });
        match grew {
            Some(j) => from = j,
            None => return shifts,
        }
    }
}

/// Whether jump `j`, `len` bytes long, reaches its target with the lengths `shifts` sums.
fn reaches(site: &Site, j: usize, len: u8, targets: &[Pos], shifts: &[u64]) -> bool {
    let end = u64::from(site.at) + shifts[j] + u64::from(len);
    let target = targets[site.target as usize];
    let to = u64::from(target.at) + shifts[target.jumps_before as usize];
    i8::try_from(to as i64 - end as i64).is_ok()
}

/// `shifts[k + 1] = shifts[k] + length of site k`, from site `from` on; padding takes its length from where it
/// lands.
fn sum_lengths(sites: &mut [Site], shifts: &mut [u64], from: usize) {
    for (j, site) in sites.iter_mut().enumerate().skip(from) {
        if site.is_padding() {
            let here = u64::from(site.at) + shifts[j];
            site.target = (here.wrapping_neg() & ((1u64 << site.align_log2) - 1)) as u32;
        }
        shifts[j + 1] = shifts[j] + u64::from(site.size());
    }
}

/// The final offset of a position, given the shifts [`relax`] returned.
#[inline]
pub fn final_at(shifts: &[u64], pos: Pos) -> u64 {
    u64::from(pos.at) + shifts[pos.jumps_before as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_grow_only_when_out_of_reach_and_growth_cascades() {
        // Two jumps at buffer offset 0 to a label at buffer offset 127 after both. Both short, the label is at
        // 131: jump 0 (ends at 2) cannot reach and grows; jump 1 then ends at 8 and the label is at 135: it can.
        let targets = [Pos {
            at: 127,
            jumps_before: 2,
        }];
        let mut sites = [Site::new(0, 2, 6, 0), Site::new(0, 2, 5, 0)];
        let shifts = relax(&mut sites, &targets);
        // Label at 127 + 4: jump 0 ends at 2, distance 129: long; then jump 1 ends at 6 + 2, distance 131 - 8.
        assert_eq!((sites[0].is_short, sites[1].is_short), (false, true));
        assert_eq!(shifts, [0, 6, 8]);
        assert_eq!(final_at(&shifts, targets[0]), 135);
    }

    #[test]
    fn padding_follows_the_jumps_before_it() {
        // A jump at 0 to a label 200 bytes on, then padding at buffer offset 3 to 16.
        let targets = [Pos {
            at: 200,
            jumps_before: 2,
        }];
        let mut sites = [Site::new(0, 2, 5, 0), Site::padding(3, 16)];
        let shifts = relax(&mut sites, &targets);
        // The jump is long (5 bytes): the padding starts at 8 and takes 8 bytes.
        assert_eq!((sites[0].is_short, sites[1].size()), (false, 8));
        assert_eq!(final_at(&shifts, targets[0]), 213);
    }

    #[test]
    fn a_jump_without_a_short_form_is_long_from_the_start() {
        let mut sites = [Site::new(0, 0, 5, 0)];
        let shifts = relax(&mut sites, &[Pos { at: 0, jumps_before: 1 }]);
        assert_eq!(shifts, [0, 5]);
    }
}
