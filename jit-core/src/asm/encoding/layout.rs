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

/// The final code, `total` bytes long, once [`relax`] has sized the sites: `bytes` (the code without its sites)
/// grown in place and its pieces moved to their places from the last to the first, each site's bytes written by
/// `write(i, gap, end)` into its gap before the piece after it (which starts at `end`). No second buffer: the
/// buffer's growth is its only copy, and none for a buffer with room to spare.
pub fn lay_out(
    mut bytes: Vec<u8>,
    total: usize,
    sites: &[Site],
    mut write: impl FnMut(usize, &mut [u8], usize),
) -> Vec<u8> {
    let mut end = bytes.len(); // the end of the pieces not moved yet
    bytes.resize(total, 0);
    let mut place_end = total; // where the piece ending at `end` goes
    for (i, site) in sites.iter().enumerate().rev() {
        let from = site.at as usize;
        let place = place_end - (end - from);
        move_piece(&mut bytes, from..end, place);
        let at = place - site.size() as usize;
        write(i, &mut bytes[at..place], place);
        end = from;
        place_end = at;
    }
    bytes.truncate(total);
    bytes
}

/// Writes the low bytes of `word` (little-endian) into `out`, a jump's gap, in stores of its exact length (2, 5
/// or 6 bytes: a short jump, `jmp`/`call`, `jcc`): the piece after it is in place already, and a wider store
/// merged with it would read it back, waiting on the stores that just moved it.
#[inline(always)]
pub fn write_jump(out: &mut [u8], word: u64) {
    let w = word.to_le_bytes();
    match out.len() {
        2 => out.copy_from_slice(&w[..2]),
        5 => out.copy_from_slice(&w[..5]),
        6 => out.copy_from_slice(&w[..6]),
        n => {
            let n = n.min(8);
            out[..n].copy_from_slice(&w[..n]);
        }
    }
}

/// Moves `bytes[range]` to `to` (the ranges may overlap). A piece between two jumps is a few instructions long:
/// up to 64 bytes it is moved as two overlapping fixed-size halves, both read before either is written, not by a
/// call to `memmove` for a length it cannot know.
#[inline(always)]
fn move_piece(bytes: &mut [u8], range: std::ops::Range<usize>, to: usize) {
    fn halves<const N: usize>(bytes: &mut [u8], range: std::ops::Range<usize>, to: usize) -> Option<()> {
        let len = range.len();
        let first: [u8; N] = bytes.get(range.start..range.start + N)?.try_into().ok()?;
        let last: [u8; N] = bytes.get(range.end - N..range.end)?.try_into().ok()?;
        bytes.get_mut(to..to + N)?.copy_from_slice(&first);
        bytes.get_mut(to + len - N..to + len)?.copy_from_slice(&last);
        Some(())
    }
    let moved = match range.len() {
        32..=64 => halves::<32>(bytes, range.clone(), to),
        16..=31 => halves::<16>(bytes, range.clone(), to),
        8..=15 => halves::<8>(bytes, range.clone(), to),
        4..=7 => halves::<4>(bytes, range.clone(), to),
        2..=3 => halves::<2>(bytes, range.clone(), to),
        1 => halves::<1>(bytes, range.clone(), to),
        0 => Some(()),
        _ => None,
    };
    if moved.is_none() {
        bytes.copy_within(range, to);
    }
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
    fn laying_out_moves_every_piece_to_its_place_and_writes_every_gap() {
        // Pieces of every length the move treats apart (fixed halves of 1 to 32 bytes, overlapping; longer ones
        // moved whole), each followed by a gap of a jump's length (2, 5 or 6 bytes).
        let lens = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100];
        let (mut buf, mut sites, mut want, mut ends) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, &len) in lens.iter().enumerate() {
            let piece: Vec<u8> = (0..len).map(|k| (i * 37 + k) as u8).collect();
            buf.extend(&piece);
            want.extend(&piece);
            let gap = [2, 5, 6][i % 3];
            sites.push(Site::new(buf.len() as u32, 0, gap, 0));
            want.extend(std::iter::repeat_n(0xa0 + i as u8, usize::from(gap)));
            ends.push((i, want.len()));
        }
        buf.extend([1, 2, 3]);
        want.extend([1, 2, 3]);
        let mut written = Vec::new();
        let got = lay_out(buf, want.len(), &sites, |i, gap, end| {
            gap.fill(0xa0 + i as u8);
            written.push((i, end));
        });
        assert_eq!(got, want);
        // From the last gap to the first, each told where the piece after it starts.
        written.reverse();
        assert_eq!(written, ends);
    }

    #[test]
    fn a_jump_is_written_in_its_own_bytes_only() {
        for len in [2, 5, 6, 3] {
            let mut out = vec![0xee; 8];
            write_jump(&mut out[1..1 + len], 0x0706_0504_0302_0100);
            let mut want = vec![0xee; 8];
            want[1..1 + len].copy_from_slice(&[0, 1, 2, 3, 4, 5, 6][..len]);
            assert_eq!(out, want, "{len} bytes");
        }
    }

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
