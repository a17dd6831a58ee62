//! Property cases, the pure part: the inputs (each type's edge values, then seeded random ones), where an input's
//! values go (System V registers), whether two results agree, and the simpler values a counterexample is shrunk
//! toward. Running the two sides is `run.rs`'s.

use super::file::{ARG_REGS, ArgType, Property};

/// The generator of properties' random inputs: [`SplitMix64`](crate::rng::SplitMix64), the generator the test
/// suites share too, so a seed gives the same inputs on every host (the snapshots rely on it).
///
/// ```
/// let (mut a, mut b) = (rustyjit::vectors::Rng::new(7), rustyjit::vectors::Rng::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
pub use crate::rng::SplitMix64 as Rng;

/// A number below `n` (`n > 0`) by multiply-shift (`next_u64 * n >> 64`), not [`Rng::below`]'s modulo: the
/// inputs properties were snapshotted with are drawn this way.
fn scaled_below(rng: &mut Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// An integer type's value as the 64-bit register pattern it is passed as (sign- or zero-extended).
fn extend(value: i128, bits: u8, signed: bool) -> u64 {
    let shift = 64 - u32::from(bits);
    let v = value as u64;
    if signed {
        (((v << shift) as i64) >> shift) as u64
    } else if bits == 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// The value a register pattern stands for, as a number (integers only).
fn int_of(ty: ArgType, bits: u64) -> i128 {
    match ty {
        ArgType::Int { signed: false, .. } => i128::from(bits),
        _ => i128::from(bits as i64),
    }
}

/// The smallest and largest value of an integer type.
fn bounds(ty: ArgType) -> (i128, i128) {
    match ty {
        ArgType::Int { bits, signed: true } => (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1),
        ArgType::Int { bits, signed: false } => (0, (1i128 << bits) - 1),
        ArgType::Range(lo, hi) => (i128::from(lo), i128::from(hi)),
        ArgType::F32 | ArgType::F64 => (0, 0),
    }
}

/// The register pattern of a number of an integer type (`value` within the type).
fn pattern(ty: ArgType, value: i128) -> u64 {
    match ty {
        ArgType::Int { bits, signed } => extend(value, bits, signed),
        _ => value as i64 as u64,
    }
}

/// The edge values of a type, as register patterns, each once: 0, ±1, the bounds and their neighbours, powers of
/// two and their neighbours (integers); ±0, ±1, ±0.5, ±inf, NaN, the subnormal and normal limits (floats).
pub fn edges(ty: ArgType) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut add = |v: u64| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    match ty {
        ArgType::F64 => {
            let special = [0.0, 1.0, 0.5, f64::INFINITY, f64::MIN_POSITIVE, f64::MAX, 2.0, 3.0];
            let subnormals = [f64::from_bits(1), f64::from_bits(0x000f_ffff_ffff_ffff)];
            for v in special.into_iter().chain(subnormals) {
                add(v.to_bits());
                add((-v).to_bits());
            }
            add(f64::NAN.to_bits());
        }
        ArgType::F32 => {
            let special = [0.0, 1.0, 0.5, f32::INFINITY, f32::MIN_POSITIVE, f32::MAX, 2.0, 3.0];
            let subnormals = [f32::from_bits(1), f32::from_bits(0x007f_ffff)];
            for v in special.into_iter().chain(subnormals) {
                add(u64::from(v.to_bits()));
                add(u64::from((-v).to_bits()));
            }
            add(u64::from(f32::NAN.to_bits()));
        }
        ArgType::Int { .. } | ArgType::Range(..) => {
            let (lo, hi) = bounds(ty);
            let mut candidates = vec![0, 1, -1, lo, lo + 1, hi, hi - 1];
            for k in 1..64 {
                let p = 1i128 << k;
                candidates.extend([p, p - 1, p + 1, -p, -p + 1, -p - 1]);
            }
            for v in candidates {
                if (lo..=hi).contains(&v) {
                    add(pattern(ty, v));
                }
            }
        }
    }
    out
}

/// A random value of a type, as a register pattern: integers of every magnitude (not only huge ones), floats
/// of every kind (small integers, fractions of every scale, and arbitrary bit patterns).
pub fn random(ty: ArgType, rng: &mut Rng) -> u64 {
    match ty {
        ArgType::Int { bits, signed } => {
            let magnitude = rng.next_u64() >> scaled_below(rng, 64);
            let v = if signed && rng.next_u64() & 1 == 1 {
                magnitude.wrapping_neg()
            } else {
                magnitude
            };
            extend(i128::from(v), bits, signed)
        }
        ArgType::Range(lo, hi) => {
            let span = (i128::from(hi) - i128::from(lo)) as u128 + 1;
            let offset = u128::from(rng.next_u64()) % span;
            (i128::from(lo) + offset as i128) as i64 as u64
        }
        ArgType::F64 => random_f64(rng).to_bits(),
        ArgType::F32 => u64::from((random_f64(rng) as f32).to_bits()),
    }
}

fn random_f64(rng: &mut Rng) -> f64 {
    match scaled_below(rng, 3) {
        0 => scaled_below(rng, 2001) as f64 - 1000.0,
        1 => {
            let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            unit * 2f64.powi(scaled_below(rng, 61) as i32 - 30)
        }
        _ => f64::from_bits(rng.next_u64()),
    }
}

/// The inputs of a property, in the order they are tried: first as many edge inputs as the longest edge list
/// (argument `i` of edge input `k` is its `k`-th edge value, cycling), then `runs` random inputs in which each
/// argument is one of its edge values one time in eight.
pub struct Inputs {
    args: Vec<ArgType>,
    edges: Vec<Vec<u64>>,
    edge_inputs: usize,
    runs: usize,
    next: usize,
    rng: Rng,
}

impl Inputs {
    /// The inputs of `p`.
    pub fn new(p: &Property) -> Inputs {
        let edges: Vec<Vec<u64>> = p.args.iter().map(|&t| edges(t)).collect();
        let edge_inputs = edges.iter().map(Vec::len).max().unwrap_or(1);
        Inputs {
            args: p.args.clone(),
            edges,
            edge_inputs,
            runs: p.runs as usize,
            next: 0,
            rng: Rng::new(p.seed),
        }
    }

    /// How many edge inputs come first.
    pub fn edge_count(&self) -> usize {
        self.edge_inputs
    }
}

impl Iterator for Inputs {
    type Item = Vec<u64>;

    fn next(&mut self) -> Option<Vec<u64>> {
        let k = self.next;
        if k >= self.edge_inputs + self.runs {
            return None;
        }
        self.next += 1;
        Some(if k < self.edge_inputs {
            self.edges.iter().map(|e| e[k % e.len()]).collect()
        } else {
            let rng = &mut self.rng;
            self.args
                .iter()
                .zip(&self.edges)
                .map(|(&t, e)| {
                    if scaled_below(rng, 8) == 0 {
                        e[scaled_below(rng, e.len() as u64) as usize]
                    } else {
                        random(t, rng)
                    }
                })
                .collect()
        })
    }
}

/// Puts an input in the registers a System V function takes it in: integers in rdi, rsi, ... (after the buffer
/// in rdi, when `memory`), floats in xmm0, xmm1, ...
pub fn place(args: &[ArgType], input: &[u64], memory: bool, regs: &mut [u64; 16], xmm: &mut [u128; 16]) {
    let mut ints = ARG_REGS.iter().skip(usize::from(memory));
    let mut floats = xmm.iter_mut();
    for (ty, &v) in args.iter().zip(input) {
        if ty.is_float() {
            if let Some(x) = floats.next() {
                *x = u128::from(v);
            }
        } else if let Some(&r) = ints.next() {
            regs[r] = v;
        }
    }
}

/// The compared part of a result: rax's low bits, or xmm0's low lane.
pub fn result_bits(returns: ArgType, rax: u64, xmm0: u128) -> u64 {
    match returns {
        ArgType::F64 => xmm0 as u64,
        ArgType::F32 => u64::from(xmm0 as u32),
        ArgType::Int { bits: 64, .. } | ArgType::Range(..) => rax,
        ArgType::Int { bits, .. } => rax & ((1u64 << bits) - 1),
    }
}

/// Whether two results agree: bit for bit, except that any NaN matches any NaN of a float type.
pub fn same(returns: ArgType, a: u64, b: u64) -> bool {
    a == b
        || match returns {
            ArgType::F64 => f64::from_bits(a).is_nan() && f64::from_bits(b).is_nan(),
            ArgType::F32 => f32::from_bits(a as u32).is_nan() && f32::from_bits(b as u32).is_nan(),
            _ => false,
        }
}

/// A value of a type in words: `-5`, `4294967295`, `1.5`, `-0.0`, `NaN`.
pub fn show(ty: ArgType, bits: u64) -> String {
    match ty {
        ArgType::F64 => format!("{:?}", f64::from_bits(bits)),
        ArgType::F32 => format!("{:?}", f32::from_bits(bits as u32)),
        ArgType::Int { signed: false, bits: b } if b < 64 => format!("{}", bits & ((1u64 << b) - 1)),
        ArgType::Int { signed: false, .. } => format!("{bits}"),
        ArgType::Int { bits: b, .. } => format!("{}", extend(i128::from(bits), b, true) as i64),
        ArgType::Range(..) => format!("{}", bits as i64),
    }
}

/// An input in words: `(5, -3, 1.5)`.
pub fn show_input(args: &[ArgType], input: &[u64]) -> String {
    let parts: Vec<String> = args.iter().zip(input).map(|(&t, &v)| show(t, v)).collect();
    format!("({})", parts.join(", "))
}

/// How far a value is from the simplest of its type, for shrinking: smaller is simpler. Integers: the distance
/// from the value nearest 0. Floats: finite integers first, by magnitude, then other finite values, then
/// infinities, then NaN.
fn complexity(ty: ArgType, bits: u64) -> (u8, u128) {
    let float = |v: f64| {
        if v.is_nan() {
            (3, 0)
        } else if v.is_infinite() {
            (2, 0)
        } else {
            (u8::from(v.fract() != 0.0), u128::from(v.abs().to_bits()))
        }
    };
    match ty {
        ArgType::F64 => float(f64::from_bits(bits)),
        ArgType::F32 => float(f64::from(f32::from_bits(bits as u32))),
        _ => (0, (int_of(ty, bits) - target(ty)).unsigned_abs()),
    }
}

/// The simplest value of an integer type: 0, or the value of the range nearest 0.
fn target(ty: ArgType) -> i128 {
    let (lo, hi) = bounds(ty);
    0i128.clamp(lo, hi)
}

/// Simpler values to try in place of `bits`, simplest first; each is strictly simpler than `bits`.
pub fn shrink(ty: ArgType, bits: u64) -> Vec<u64> {
    let mut out = Vec::new();
    match ty {
        ArgType::F64 | ArgType::F32 => {
            let v = match ty {
                ArgType::F64 => f64::from_bits(bits),
                _ => f64::from(f32::from_bits(bits as u32)),
            };
            let mut tries = vec![0.0, 1.0f64.copysign(v), v.trunc()];
            let mut half = v.trunc() / 2.0;
            while half.abs() >= 1.0 && tries.len() < 70 {
                tries.push(half.trunc());
                half /= 2.0;
            }
            for t in tries {
                let b = match ty {
                    ArgType::F64 => t.to_bits(),
                    _ => u64::from((t as f32).to_bits()),
                };
                if !out.contains(&b) {
                    out.push(b);
                }
            }
        }
        _ => {
            let (x, t) = (int_of(ty, bits), target(ty));
            out.push(pattern(ty, t));
            let mut d = (x - t) / 2;
            while d != 0 {
                out.push(pattern(ty, x - d));
                d /= 2;
            }
            out.push(pattern(ty, x - (x - t).signum()));
        }
    }
    let now = complexity(ty, bits);
    out.retain(|&c| complexity(ty, c) < now);
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const I32: ArgType = ArgType::Int { bits: 32, signed: true };
    const U8: ArgType = ArgType::Int { bits: 8, signed: false };

    #[test]
    fn edge_values_are_the_types_own() {
        let e = edges(U8);
        for v in [0u64, 1, 255, 254, 128, 127, 129, 2, 3] {
            assert!(e.contains(&v), "u8 edges lack {v}: {e:?}");
        }
        assert!(e.iter().all(|&v| v <= 255), "{e:?}");
        let e = edges(I32);
        for v in [0i64, 1, -1, i32::MIN as i64, i32::MAX as i64, -65536, 65537] {
            assert!(e.contains(&(v as u64)), "i32 edges lack {v}");
        }
        let e = edges(ArgType::Range(-3, 10));
        let mut values: Vec<i64> = e.iter().map(|&v| v as i64).collect();
        values.sort();
        assert_eq!(values, [-3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, 10]);
        let e = edges(ArgType::F64);
        assert!(e.contains(&(-0.0f64).to_bits()) && e.contains(&f64::NEG_INFINITY.to_bits()));
        assert!(e.contains(&1) && e.iter().any(|&b| f64::from_bits(b).is_nan()));
    }

    #[test]
    fn random_values_stay_in_their_type_and_cover_small_and_large() {
        let mut rng = Rng::new(1);
        let values: Vec<u64> = (0..2000).map(|_| random(I32, &mut rng)).collect();
        assert!(
            values
                .iter()
                .all(|&v| v as i64 >= i32::MIN as i64 && v as i64 <= i32::MAX as i64)
        );
        assert!(values.iter().any(|&v| (v as i64).abs() < 100));
        assert!(values.iter().any(|&v| (v as i64).abs() > 1 << 30));
        assert!(values.iter().any(|&v| (v as i64) < 0));
        let r: Vec<u64> = (0..2000).map(|_| random(ArgType::Range(-5, 5), &mut rng)).collect();
        assert!(r.iter().all(|&v| (-5..=5).contains(&(v as i64))));
        assert!(r.contains(&(-5i64 as u64)) && r.contains(&5));
    }

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let p = |seed| Property {
            name: "p".into(),
            line: 1,
            code: Err(vec![]),
            reference: Err(vec![]),
            args: vec![I32, ArgType::F64],
            returns: I32,
            runs: 50,
            seed,
            memory: None,
            timeout: std::time::Duration::from_secs(1),
            preserve: true,
        };
        let a: Vec<_> = Inputs::new(&p(7)).collect();
        assert_eq!(a, Inputs::new(&p(7)).collect::<Vec<_>>());
        assert_ne!(
            a[a.len() - 50..],
            Inputs::new(&p(8)).collect::<Vec<_>>()[a.len() - 50..]
        );
        assert_eq!(a.len(), Inputs::new(&p(7)).edge_count() + 50);
    }

    #[test]
    fn shrinking_moves_toward_zero_or_the_range_and_only_simpler() {
        assert_eq!(shrink(I32, 100)[0], 0);
        assert!(shrink(I32, 100).contains(&50) && shrink(I32, 100).contains(&99));
        assert_eq!(shrink(I32, 0), Vec::<u64>::new());
        assert_eq!(shrink(I32, -8i64 as u64)[0], 0);
        assert!(shrink(I32, -8i64 as u64).contains(&(-7i64 as u64)));
        assert_eq!(shrink(ArgType::Range(10, 20), 15), [10, 13, 14]);
        assert_eq!(shrink(ArgType::Range(-20, -10), -15i64 as u64)[0], -10i64 as u64);
        let f = shrink(ArgType::F64, 2.5f64.to_bits());
        assert_eq!(f[..3], [0.0f64.to_bits(), 1.0f64.to_bits(), 2.0f64.to_bits()]);
        assert!(shrink(ArgType::F64, 0.0f64.to_bits()).is_empty());
    }

    #[test]
    fn results_agree_bit_for_bit_with_nan_matching_nan() {
        assert!(same(I32, 5, 5) && !same(I32, 5, 6));
        assert!(!same(ArgType::F64, 0.0f64.to_bits(), (-0.0f64).to_bits()));
        assert!(same(ArgType::F64, f64::NAN.to_bits(), (-f64::NAN).to_bits()));
        assert!(same(ArgType::F32, u64::from(f32::NAN.to_bits()), 0x7fc0_0001));
        assert_eq!(result_bits(I32, 0xffff_ffff_0000_0005, 0), 5);
        assert_eq!(result_bits(ArgType::F32, 9, 0x1234_0000_3fc0_0000), 0x3fc0_0000);
    }

    #[test]
    fn inputs_go_where_system_v_puts_them() {
        let (mut regs, mut xmm) = ([0; 16], [0; 16]);
        let args = [I32, ArgType::F64, I32];
        place(&args, &[1, 2, 3], false, &mut regs, &mut xmm);
        assert_eq!((regs[7], regs[6], xmm[0]), (1, 3, 2));
        let (mut regs, mut xmm) = ([0; 16], [0; 16]);
        place(&args, &[1, 2, 3], true, &mut regs, &mut xmm);
        assert_eq!((regs[7], regs[6], regs[2]), (0, 1, 3));
        assert_eq!(show_input(&args, &[u64::MAX, (-0.0f64).to_bits(), 7]), "(-1, -0.0, 7)");
        assert_eq!(show(U8, 255), "255");
    }
}
