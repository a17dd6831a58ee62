//! The instruction mix the assembly and encoding benches share: equal thirds of ALU register/register (`add
//! rax, rcx`), register/immediate (`sub ebx, 1000`) and loads with a displacement (`mov rdx, qword ptr [rsi +
//! 24]`), a quarter of them 32-bit, drawn with a fixed seed so every run measures the same text.

use rustyjit::rng::SplitMix64;
use std::fmt::Write as _;

const REG64: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
];
const REG32: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d",
    "r15d",
];
const ALU: [&str; 9] = ["add", "sub", "and", "or", "xor", "cmp", "adc", "sbb", "mov"];

/// `n` lines of the mix, one instruction a line.
pub fn source(n: usize) -> String {
    // A fixed seed, so every run assembles the same text.
    let mut rng = SplitMix64::new(0x5eed);
    let mut text = String::with_capacity(n * 28);
    for i in 0..n {
        let regs = if rng.next_u64().is_multiple_of(4) {
            &REG32
        } else {
            &REG64
        };
        let op = rng.pick(&ALU);
        let dst = rng.pick(regs);
        match i % 3 {
            0 => writeln!(text, "{op} {dst}, {}", rng.pick(regs)),
            1 => {
                let imm = match rng.next_u64() % 3 {
                    0 => rng.next_u64() % 128,
                    1 => rng.next_u64() % 100_000,
                    _ => rng.next_u64() % 0x7fff_ffff,
                };
                writeln!(text, "{op} {dst}, {imm}")
            }
            _ => {
                let ptr = if regs[0] == "eax" { "dword" } else { "qword" };
                let disp = (rng.next_u64() % 512) as i64 * 8 - 2048;
                let (sign, disp) = if disp < 0 { ('-', -disp) } else { ('+', disp) };
                writeln!(text, "mov {dst}, {ptr} ptr [{} {sign} {disp}]", rng.pick(&REG64))
            }
        }
        .expect("writing to a String");
    }
    text
}

/// [`source`]'s mix as real code looks: a label on every tenth line (`L0:`, `L1:`, ...), and in place of a tenth
/// of the lines each a `jnz` to an earlier label and a `lea rax, [rip + L]` to a later one, so the jumps are
/// relaxed and the addresses filled in after the text is read.
pub fn source_with_labels(n: usize) -> String {
    let mut rng = SplitMix64::new(0x1abe1);
    let labels = n.div_ceil(10);
    let mut text = String::with_capacity(n * 30);
    for (i, line) in source(n).lines().enumerate() {
        let here = i / 10;
        if i % 10 == 0 {
            writeln!(text, "L{here}:").expect("writing to a String");
        }
        match rng.below(10) {
            0 => writeln!(text, "jnz L{}", rng.below(here + 1)),
            1 if here + 1 < labels => writeln!(text, "lea rax, [rip + L{}]", here + 1 + rng.below(labels - here - 1)),
            _ => writeln!(text, "{line}"),
        }
        .expect("writing to a String");
    }
    text
}

/// Two sides of a comparison timed in turns, so the machine's changing speed falls on both alike.
pub struct Paired {
    /// Each side's median time, in seconds.
    pub theirs: f64,
    pub ours: f64,
    /// The median, lowest and highest of the pairs' ratios `theirs / ours` (how many times faster ours is).
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
}

/// Times `theirs` and `ours` one after the other `pairs` times (which goes first alternates).
pub fn paired(pairs: usize, theirs: &mut dyn FnMut(), ours: &mut dyn FnMut()) -> Paired {
    let time = |run: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        run();
        start.elapsed().as_secs_f64()
    };
    let samples: Vec<(f64, f64)> = (0..pairs)
        .map(|i| match i % 2 {
            0 => (time(theirs), time(ours)),
            _ => {
                let ours = time(ours);
                (time(theirs), ours)
            }
        })
        .collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios: Vec<f64> = samples.iter().map(|&(t, o)| t / o).collect();
    let (low, high) = ratios.iter().fold((f64::MAX, 0f64), |(l, h), &r| (l.min(r), h.max(r)));
    Paired {
        theirs: median(samples.iter().map(|s| s.0).collect()),
        ours: median(samples.iter().map(|s| s.1).collect()),
        ratio: median(ratios),
        low,
        high,
    }
}
