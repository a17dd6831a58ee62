//! Making N small functions callable, then dropping them (issue 6, item 1), four ways in one run:
//!
//! - `code_load`: [`Code::load`] per function, each on its own fresh sealed pages;
//! - `arena`: one [`Arena`], every function loaded into it, sealed once;
//! - `dynasm_per_fn`: dynasmrt with one `ExecutableBuffer` per function (`MutableBuffer::new` + copy +
//!   `make_exec`, the cheapest per-function way it offers: no assembler, no relocation pass);
//! - `dynasm_one_buffer`: dynasmrt with every function in one `x64::Assembler`, each 16-byte aligned as in the
//!   arena, finalized into one `ExecutableBuffer`, the offsets kept as the handles.
//!
//! Each function is `mov rax, imm32; ret` (8 bytes) with its own immediate; the `Code`s are built before the
//! timing. N = 1,000 to 1,000,000. `code_load` stops at 10,000: every live `JitFn` takes two memory mappings
//! (its read+execute page and the read+write heap page beside it, which holds malloc's next chunk header), so
//! about 32,700 live `JitFn`s exhaust the default `vm.max_map_count` of 65,530 and `mprotect` fails with ENOMEM.
//!
//! Before measuring, each side's functions are checked once (every one called) and the pages each side uses per
//! 100 functions are printed. Targets for 10,000 functions: the arena ≥ 10× faster than `dynasm_per_fn`, within
//! 1.5× of `dynasm_one_buffer`, and at most one page per 100 functions.

use divan::Bencher;
use divan::counter::ItemsCount;
use dynasmrt::mmap::{ExecutableBuffer, MutableBuffer};
use dynasmrt::{AssemblyOffset, DynasmApi};
use rustyjit::{Arena, ArenaFn, Code, JitFn};
use std::sync::OnceLock;

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

fn main() {
    check_and_report();
    divan::main();
}

/// `mov rax, imm32; ret` for each `i` below the largest N, built once.
fn codes(n: usize) -> &'static [Code] {
    static CODES: OnceLock<Vec<Code>> = OnceLock::new();
    let all = CODES.get_or_init(|| {
        (0..SIZES[3] as i32)
            .map(|i| {
                let mut bytes = vec![0x48, 0xc7, 0xc0];
                bytes.extend_from_slice(&i.to_le_bytes());
                bytes.push(0xc3);
                Code::from_bytes(bytes)
            })
            .collect()
    });
    &all[..n]
}

fn with_code_load(codes: &[Code]) -> Vec<JitFn> {
    codes.iter().map(|c| c.load().unwrap()).collect()
}

fn with_arena<'a>(arena: &'a Arena, codes: &[Code]) -> Vec<ArenaFn<'a>> {
    let fns = codes.iter().map(|c| arena.load(c).unwrap()).collect();
    arena.seal().unwrap();
    fns
}

fn with_dynasm_per_fn(codes: &[Code]) -> Vec<ExecutableBuffer> {
    codes
        .iter()
        .map(|c| {
            let mut buffer = MutableBuffer::new(c.len()).unwrap();
            buffer.set_len(c.len());
            buffer.copy_from_slice(c.bytes());
            buffer.make_exec().unwrap()
        })
        .collect()
}

fn with_dynasm_one_buffer(codes: &[Code]) -> (ExecutableBuffer, Vec<AssemblyOffset>) {
    let mut ops = dynasmrt::x64::Assembler::new().unwrap();
    let offsets = codes
        .iter()
        .map(|c| {
            ops.align(16, 0xc3);
            let at = ops.offset();
            ops.extend(c.bytes());
            at
        })
        .collect();
    (ops.finalize().unwrap(), offsets)
}

/// Calls every function of each side once for N = 10,000, and prints the pages each uses per 100 functions.
fn check_and_report() {
    let n = 10_000;
    let codes = codes(n);
    let page = 4096;
    let call = |ptr: *const u8| {
        // SAFETY: every function is `mov rax, imm32; ret`, executable while its owner lives.
        unsafe { std::mem::transmute::<*const u8, extern "sysv64" fn() -> i64>(ptr)() }
    };
    let expect = |got: Vec<i64>, side: &str| assert!(got.into_iter().eq(0..n as i64), "{side} returned wrong values");

    let fns = with_code_load(codes);
    expect(fns.iter().map(|f| call(f.as_ptr())).collect(), "code_load");
    let distinct = |ptrs: &mut Vec<usize>| {
        ptrs.sort_unstable();
        ptrs.dedup();
        ptrs.len()
    };
    let load_pages = distinct(&mut fns.iter().map(|f| f.as_ptr() as usize / page).collect());
    drop(fns);

    let arena = Arena::new();
    let fns = with_arena(&arena, codes);
    // SAFETY: as above.
    expect(fns.iter().map(|f| unsafe { f.call(&[]) }).collect(), "arena");
    let arena_pages = arena.pages();
    drop(fns);
    drop(arena);

    let buffers = with_dynasm_per_fn(codes);
    expect(
        buffers.iter().map(|b| call(b.ptr(AssemblyOffset(0)))).collect(),
        "dynasm_per_fn",
    );
    let per_fn_pages = distinct(
        &mut buffers
            .iter()
            .map(|b| b.ptr(AssemblyOffset(0)) as usize / page)
            .collect(),
    );
    drop(buffers);

    let (buffer, offsets) = with_dynasm_one_buffer(codes);
    expect(
        offsets.iter().map(|&at| call(buffer.ptr(at))).collect(),
        "dynasm_one_buffer",
    );
    let one_pages = buffer.size().div_ceil(page);

    eprintln!("pages per 100 functions (N = {n}, pages of 4 KiB):");
    for (side, pages) in [
        ("code_load", load_pages),
        ("arena (all chunks)", arena_pages),
        ("dynasm_per_fn", per_fn_pages),
        ("dynasm_one_buffer (mapping)", one_pages),
    ] {
        eprintln!("  {side:<28} {:>7.2}", pages as f64 * 100.0 / n as f64);
    }
}

// Each iteration makes the functions callable and drops them again: both are timed.

#[divan::bench(args = &SIZES[..2], sample_count = 10, sample_size = 1, max_time = 10)]
fn code_load(bencher: Bencher, n: usize) {
    let codes = codes(n);
    bencher
        .counter(ItemsCount::new(n))
        .bench_local(|| drop(with_code_load(codes)));
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1, max_time = 10)]
fn arena(bencher: Bencher, n: usize) {
    let codes = codes(n);
    bencher.counter(ItemsCount::new(n)).bench_local(|| {
        let arena = Arena::new();
        drop(with_arena(&arena, codes));
    });
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1, max_time = 10)]
fn dynasm_per_fn(bencher: Bencher, n: usize) {
    let codes = codes(n);
    bencher
        .counter(ItemsCount::new(n))
        .bench_local(|| drop(with_dynasm_per_fn(codes)));
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1, max_time = 10)]
fn dynasm_one_buffer(bencher: Bencher, n: usize) {
    let codes = codes(n);
    bencher
        .counter(ItemsCount::new(n))
        .bench_local(|| drop(with_dynasm_one_buffer(codes)));
}
