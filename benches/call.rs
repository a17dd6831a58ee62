//! Calling loaded code against calling a Rust function pointer (issue 6, item 5): K calls in a tight loop, each
//! call's argument the previous call's result, K = 1,000 to 1,000,000, every side in the same run.
//!
//! The function is `lea rax, [rdi + 1]; ret`, and the Rust side an `#[inline(never)]` `extern "sysv64"` function
//! that does the same, called through a pointer that went through `black_box`, so it stays an indirect call. The
//! sides:
//!
//! - `rust_fn_ptr`: the Rust function;
//! - `code_load_as_fn` / `arena_as_fn`: the pointer from [`JitFn::as_fn`] / [`ArenaFn::as_fn`];
//! - `code_load_call` / `arena_call`: [`JitFn::call`] / [`ArenaFn::call`] with a one-element slice;
//! - `dynasm_mmap`: a dynasmrt `ExecutableBuffer` (its own `mmap`, far from the program), for contrast.
//!
//! Before measuring, every side is checked once and the distance of each code address from the Rust function is
//! printed: within ±2 GiB, an indirect call is as fast as a call to the program's own code on the machines this
//! was measured on; farther, it costs about a nanosecond more. Target: `code_load_as_fn` and `arena_as_fn` at most
//! 1.05× `rust_fn_ptr`.

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use dynasmrt::AssemblyOffset;
use dynasmrt::mmap::{ExecutableBuffer, MutableBuffer};
use rustyjit::{Arena, Code, JitFn};

const CALLS: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// `lea rax, [rdi + 1]; ret`
const INC: [u8; 5] = [0x48, 0x8d, 0x47, 0x01, 0xc3];

type Inc = extern "sysv64" fn(i64) -> i64;

#[inline(never)]
extern "sysv64" fn rust_inc(x: i64) -> i64 {
    x.wrapping_add(1)
}

fn main() {
    check_and_report();
    divan::main();
}

fn code() -> Code {
    Code::from_static(&INC, &[], &[], "")
}

fn code_load() -> JitFn {
    code().load().unwrap()
}

fn dynasm_mmap() -> ExecutableBuffer {
    let mut buffer = MutableBuffer::new(INC.len()).unwrap();
    buffer.set_len(INC.len());
    buffer.copy_from_slice(&INC);
    buffer.make_exec().unwrap()
}

/// Calls `f` `k` times, each time with the last result. Not inlined: every function-pointer side runs this one
/// loop, so they differ only in the code called.
#[inline(never)]
fn chain(k: usize, f: Inc) -> i64 {
    chain_with(k, |x| f(x))
}

/// Calls `f` `k` times, each time with the last result.
#[inline(always)]
fn chain_with(k: usize, mut f: impl FnMut(i64) -> i64) -> i64 {
    let mut x = 0;
    for _ in 0..k {
        x = f(x);
    }
    x
}

/// Checks every side once and prints how far each code address is from the program's own code.
fn check_and_report() {
    let jit = code_load();
    let arena = Arena::new();
    let in_arena = arena.load(&code()).unwrap();
    let buffer = dynasm_mmap();
    // SAFETY: each is `lea rax, [rdi + 1]; ret`, alive until the end of this function.
    let sides: [(&str, Inc); 4] = unsafe {
        [
            ("rust_fn_ptr", rust_inc as Inc),
            ("code_load", jit.as_fn()),
            ("arena", in_arena.as_fn()),
            (
                "dynasm_mmap",
                std::mem::transmute::<*const u8, Inc>(buffer.ptr(AssemblyOffset(0))),
            ),
        ]
    };
    let home = rust_inc as Inc as usize as i64;
    eprintln!("code address relative to the Rust function {home:#x}:");
    for (side, f) in sides {
        assert_eq!(chain(1000, f), 1000, "{side}");
        let distance = f as usize as i64 - home;
        let near = if distance.unsigned_abs() < 1 << 31 {
            "within ±2 GiB"
        } else {
            "far"
        };
        eprintln!("  {side:<12} {:>+12} MiB  {near}", distance >> 20);
    }
    // SAFETY: as above.
    unsafe {
        assert_eq!(chain_with(1000, |x| jit.call(&[x])), 1000);
        assert_eq!(chain_with(1000, |x| in_arena.call(&[x])), 1000);
    }
}

#[divan::bench(args = CALLS)]
fn rust_fn_ptr(bencher: Bencher, k: usize) {
    let f: Inc = black_box(rust_inc);
    bencher
        .counter(ItemsCount::new(k))
        .bench_local(|| chain(black_box(k), f));
}

#[divan::bench(args = CALLS)]
fn code_load_as_fn(bencher: Bencher, k: usize) {
    let jit = code_load();
    // SAFETY: the code is `lea rax, [rdi + 1]; ret`, and `jit` outlives the benchmark.
    let f: Inc = black_box(unsafe { jit.as_fn() });
    bencher
        .counter(ItemsCount::new(k))
        .bench_local(|| chain(black_box(k), f));
}

#[divan::bench(args = CALLS)]
fn arena_as_fn(bencher: Bencher, k: usize) {
    let arena = Arena::new();
    let in_arena = arena.load(&code()).unwrap();
    // SAFETY: the code is `lea rax, [rdi + 1]; ret`, and the arena outlives the benchmark, sealed.
    let f: Inc = black_box(unsafe { in_arena.as_fn() });
    bencher
        .counter(ItemsCount::new(k))
        .bench_local(|| chain(black_box(k), f));
}

#[divan::bench(args = CALLS)]
fn code_load_call(bencher: Bencher, k: usize) {
    let jit = black_box(code_load());
    // SAFETY: the code is `lea rax, [rdi + 1]; ret`.
    bencher
        .counter(ItemsCount::new(k))
        .bench_local(|| chain_with(black_box(k), |x| unsafe { jit.call(&[x]) }));
}

#[divan::bench(args = CALLS)]
fn arena_call(bencher: Bencher, k: usize) {
    let arena = Arena::new();
    let in_arena = black_box(arena.load(&code()).unwrap());
    // SAFETY: the code is `lea rax, [rdi + 1]; ret`.
    bencher
        .counter(ItemsCount::new(k))
        .bench_local(|| chain_with(black_box(k), |x| unsafe { in_arena.call(&[x]) }));
}

#[divan::bench(args = CALLS)]
fn dynasm_mmap_fn(bencher: Bencher, k: usize) {
    let buffer = dynasm_mmap();
    // SAFETY: the buffer holds `lea rax, [rdi + 1]; ret` and outlives the benchmark.
    let f: Inc = black_box(unsafe { std::mem::transmute::<*const u8, Inc>(buffer.ptr(AssemblyOffset(0))) });
    bencher
        .counter(ItemsCount::new(k))
        .bench_local(|| chain(black_box(k), f));
}
