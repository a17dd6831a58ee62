//! Harness benchmark: 10,000 generated vector cases run with isolation (the forked worker, as `rustyjit run`
//! does) against the same cases called in-process without isolation. Reproduce: `cargo bench --bench harness`.
//! Target (issues 5 and 6): isolation ≤ 2 s wall for 10,000 cases, and ≤ 1.5× the in-process run.

use rustyjit::vectors::{Outcome, VectorFile, run_cases};
use std::path::Path;
use std::time::{Duration, Instant};

fn cases_text(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[[case]]\nname = \"c{i}\"\nasm = \"mov rax, rdi; add rax, {}; imul rax, rsi; ret\"\nargs = [{i}, 3]\nreturns = {}\n\n",
            i % 1000,
            (i + i % 1000) * 3
        ));
    }
    text
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    for n in [1_000, 10_000, 100_000] {
        let text = cases_text(n);
        let (parse, file) = best_of(3, || VectorFile::parse(Path::new("bench.toml"), &text));
        assert!(file.errors.is_empty());
        let (isolated, outcomes) = best_of(3, || run_cases(&file.cases));
        for (case, outcome) in file.cases.iter().zip(&outcomes) {
            let Outcome::Returned { regs, .. } = outcome else {
                panic!("{}: {outcome:?}", case.name)
            };
            assert_eq!(Some(regs[0] as i64), case.expect.returns, "{}", case.name);
        }
        let (in_process, sum) = best_of(3, || {
            let mut sum = 0i64;
            for case in &file.cases {
                let f = case.code.as_ref().expect("assembled").load().expect("load");
                // SAFETY: the generated code is a System V function of two integer arguments.
                sum = sum.wrapping_add(unsafe { f.call(&[case.regs[7] as i64, case.regs[6] as i64]) });
            }
            sum
        });
        std::hint::black_box(sum);
        println!(
            "{n:>7} cases: parse+assemble {:>8.1} ms | isolated run {:>8.1} ms | in-process {:>8.1} ms | ratio {:.2}x",
            parse.as_secs_f64() * 1e3,
            isolated.as_secs_f64() * 1e3,
            in_process.as_secs_f64() * 1e3,
            isolated.as_secs_f64() / in_process.as_secs_f64()
        );
    }
}
