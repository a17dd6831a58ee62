//! Harness benchmark: N generated vector cases run with isolation (the forked worker, as `rustyjit run` does)
//! against the same cases called in-process without isolation, for N = 1,000 to 1,000,000. Both sides run in the
//! same bench process, so their ratio holds on a noisy machine. Parsing and assembling the cases is done once per
//! N, outside the timed part, and each side's results are checked once, also outside it.
//!
//! A third side runs the same cases on two workers (`rustyjit run --jobs 2`), and a last group times a property
//! of two 10-instruction snippets on 1,000 random inputs (plus its edge inputs), in a worker as `run` does.
//!
//! Reproduce: `cargo bench --bench harness`. Targets (issue 12, item 5): isolation ≤ 1.2× the in-process run at
//! 10,000 cases; two workers ≥ 1.6× as fast as one at 10,000 cases; 1,000 property runs ≤ 20 ms.

use rustyjit::Scratch;
use rustyjit::vectors::{Case, Outcome, Value, VectorFile, run_cases, run_file_on};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn main() {
    divan::main();
}

/// One group per case count, so each count's two sides run one after the other (groups run in the natural order
/// of their names: 1,000 first) and a count's cases are the only ones in memory while it runs: a fork copies
/// the page tables of the whole harness, so cases of another count left in memory would slow the isolated side.
macro_rules! sizes {
    ($($group:ident: $n:expr),* $(,)?) => {$(
        mod $group {
            /// With isolation: every case in a forked worker, as `rustyjit run` does.
            #[divan::bench(sample_count = 5, sample_size = 1)]
            fn isolated(bencher: divan::Bencher) {
                super::isolated(bencher, $n);
            }

            /// With isolation on two workers at once, as `rustyjit run --jobs 2` does.
            #[divan::bench(sample_count = 5, sample_size = 1)]
            fn isolated_two_workers(bencher: divan::Bencher) {
                super::two_workers(bencher, $n);
            }

            /// The same cases in-process without isolation: load and call each in a loop.
            #[divan::bench(sample_count = 5, sample_size = 1)]
            fn in_process(bencher: divan::Bencher) {
                super::in_process(bencher, $n);
            }

            /// The same cases in-process, loaded as the isolated worker loads them: each written over the last
            /// in one `Scratch`. What isolation costs beyond the loading.
            #[divan::bench(sample_count = 5, sample_size = 1)]
            fn in_process_scratch(bencher: divan::Bencher) {
                super::in_process_scratch(bencher, $n);
            }
        }
    )*};
}

sizes!(cases_1000: 1_000, cases_10000: 10_000, cases_100000: 100_000);

/// `n` generated cases, each a small function of its two arguments with a known result.
fn cases_text(n: usize) -> String {
    let mut text = String::with_capacity(n * 120);
    for i in 0..n {
        text.push_str(&format!(
            "[[case]]\nname = \"c{i}\"\nasm = \"mov rax, rdi; add rax, {}; imul rax, rsi; ret\"\nargs = [{i}, 3]\nreturns = {}\n\n",
            i % 1000,
            (i + i % 1000) * 3
        ));
    }
    text
}

/// The parsed and assembled cases for `n`: built on first use, kept while benches ask for the same `n`, dropped
/// when they move on to another.
fn cases(n: usize) -> Arc<VectorFile> {
    static CURRENT: Mutex<Option<(usize, Arc<VectorFile>)>> = Mutex::new(None);
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((m, file)) = current.as_ref()
        && *m == n
    {
        return file.clone();
    }
    *current = None;
    let file = VectorFile::parse(Path::new("bench.toml"), &cases_text(n));
    assert!(file.errors.is_empty(), "{:?}", file.errors.first());
    assert!(file.cases.iter().all(|c| c.code.is_ok()), "every case assembles");
    let file = Arc::new(file);
    *current = Some((n, file.clone()));
    file
}

/// The in-process side: load each case's code on fresh pages and call it, no isolation. The sum of the results.
fn call_all(cases: &[Case]) -> i64 {
    let mut sum = 0i64;
    for case in cases {
        let Ok(code) = &case.code else { continue };
        let f = code.load().expect("load");
        // SAFETY: the generated code is a System V function of two integer arguments (rdi, rsi) that returns.
        sum = sum.wrapping_add(unsafe { f.call(&[case.regs[7] as i64, case.regs[6] as i64]) });
    }
    sum
}

/// The in-process side with the worker's loading: every case written over the last in one scratch.
fn call_all_scratch(cases: &[Case]) -> i64 {
    let mut scratch = Scratch::new();
    let mut sum = 0i64;
    for case in cases {
        let Ok(code) = &case.code else { continue };
        let f = scratch.load(code).expect("load");
        // SAFETY: as in `call_all`.
        sum = sum.wrapping_add(unsafe { f.call(&[case.regs[7] as i64, case.regs[6] as i64]) });
    }
    sum
}

fn isolated(bencher: divan::Bencher, n: usize) {
    let file = cases(n);
    let cases = &file.cases[..];
    for (case, outcome) in cases.iter().zip(&run_cases(cases)) {
        let Outcome::Returned { regs, .. } = outcome else {
            panic!("{}: {outcome:?}", case.name)
        };
        assert_eq!(Some(Value::Int(regs[0] as i64)), case.expect.returns, "{}", case.name);
    }
    bencher.bench_local(|| run_cases(divan::black_box(cases)));
}

fn in_process(bencher: divan::Bencher, n: usize) {
    let file = cases(n);
    let cases = &file.cases[..];
    let want = cases.iter().fold(0i64, |sum, c| match c.expect.returns {
        Some(Value::Int(v)) => sum.wrapping_add(v),
        other => panic!("{}: {other:?}", c.name),
    });
    assert_eq!(call_all(cases), want);
    bencher.bench_local(|| call_all(divan::black_box(cases)));
}

fn in_process_scratch(bencher: divan::Bencher, n: usize) {
    let file = cases(n);
    let cases = &file.cases[..];
    assert_eq!(call_all_scratch(cases), call_all(cases));
    bencher.bench_local(|| call_all_scratch(divan::black_box(cases)));
}

fn two_workers(bencher: divan::Bencher, n: usize) {
    let file = cases(n);
    let (outcomes, _) = run_file_on(&file, 2);
    for (case, outcome) in file.cases.iter().zip(&outcomes) {
        let Outcome::Returned { regs, .. } = outcome else {
            panic!("{}: {outcome:?}", case.name)
        };
        assert_eq!(Some(Value::Int(regs[0] as i64)), case.expect.returns, "{}", case.name);
    }
    bencher.bench_local(|| run_file_on(divan::black_box(&file), 2));
}

/// A property of two 10-instruction snippets (a branch-free and a branching absolute difference) on 1,000
/// random inputs after its edge inputs: one worker forked, both sides loaded, every input run on both.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn property_1000_runs(bencher: divan::Bencher) {
    let text = r#"
[[property]]
name = "absdiff"
asm = """
    mov rax, rdi
    sub rax, rsi
    mov rdx, rax
    sar rdx, 63
    xor rax, rdx
    sub rax, rdx
    nop
    nop
    nop
    ret
"""
reference = """
    mov rax, rdi
    sub rax, rsi
    test rax, rax
    jns done
    neg rax
done:
    nop
    nop
    nop
    ret
"""
args = ["i32", "i32"]
runs = 1000
"#;
    let file = VectorFile::parse(Path::new("bench.toml"), text);
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    let (_, outcomes) = run_file_on(&file, 1);
    assert!(matches!(outcomes[0], Outcome::Held(_)), "{outcomes:?}");
    bencher.bench_local(|| run_file_on(divan::black_box(&file), 1));
}
