//! Jump relaxation (`asm::layout::relax`) against the rule it implements, written the plainest way: every jump
//! starts short, and every round grows each short jump that cannot reach, until a round changes nothing. Random
//! layouts whose distances sit around the `rel8` limit, with and without padding.

mod common;

use common::Rng;
use jit_core::asm::layout::{Pos, Site, relax};

/// The rule, plainly: all short jumps are checked every round, the lengths summed from the start.
fn reference(sites: &mut [Site], targets: &[Pos]) -> Vec<u64> {
    loop {
        let mut shifts = vec![0u64; sites.len() + 1];
        for (j, site) in sites.iter_mut().enumerate() {
            if site.is_padding() {
                let here = u64::from(site.at) + shifts[j];
                site.target = (here.wrapping_neg() & ((1u64 << site.align_log2) - 1)) as u32;
            }
            shifts[j + 1] = shifts[j] + u64::from(site.size());
        }
        let mut changed = false;
        for (j, site) in sites.iter_mut().enumerate() {
            if site.is_padding() || !site.is_short {
                continue;
            }
            let end = u64::from(site.at) + shifts[j] + u64::from(site.short_len);
            let target = targets[site.target as usize];
            let to = u64::from(target.at) + shifts[target.jumps_before as usize];
            if i8::try_from(to as i64 - end as i64).is_err() {
                site.is_short = false;
                changed = true;
            }
        }
        if !changed {
            return shifts;
        }
    }
}

#[test]
fn relax_agrees_with_the_plain_rule() {
    let mut rng = Rng::new(0x1a70_0715);
    let mut grown = 0;
    for case in 0..3000 {
        let n = 1 + rng.below(60);
        let padding = rng.chance(30);
        // Sites a few bytes apart, so that many distances are near 127.
        let mut at = 0u32;
        let mut sites = Vec::new();
        for _ in 0..n {
            at += rng.below(12) as u32;
            if padding && rng.chance(10) {
                sites.push(Site::padding(at, 1 << (1 + rng.below(5))));
            } else {
                let (short, long) = *rng.pick(&[(2, 5), (2, 6), (0, 5)]);
                sites.push(Site::new(at, short, long, 0));
            }
        }
        let end = at + rng.below(12) as u32;
        let targets: Vec<Pos> = (0..1 + rng.below(8))
            .map(|_| {
                let k = rng.below(n + 1);
                let at = match k {
                    0 => 0,
                    k if k == n => end,
                    k => {
                        sites[k - 1].at
                            + rng.below((sites.get(k).map_or(end, |s| s.at) - sites[k - 1].at + 1) as usize) as u32
                    }
                };
                Pos {
                    at,
                    jumps_before: k as u32,
                }
            })
            .collect();
        for site in sites.iter_mut().filter(|s| !s.is_padding()) {
            site.target = rng.below(targets.len()) as u32;
        }
        let mut want = sites.clone();
        let want_shifts = reference(&mut want, &targets);
        let got_shifts = relax(&mut sites, &targets);
        assert_eq!((&sites, &got_shifts), (&want, &want_shifts), "case {case}: {targets:?}");
        grown += sites
            .iter()
            .filter(|s| !s.is_padding() && s.short_len != 0 && !s.is_short)
            .count();
    }
    // The cases are worth having only if many jumps had to grow.
    assert!(grown > 3000, "{grown} jumps grew");
}
