//! Text assembly throughput (issue 6, item 2): `rustyjit asm FILE --format hex` against GNU as (`as --64`) on the
//! same generated file, whole process to whole process, and the library's `assemble` on the same text in-process.
//!
//! Reproduce: `cargo bench --bench asm`. Target: rustyjit ≥ 20× GNU as's speed at 200,000 lines, which the
//! bench prints first from runs of the two taken in turns (see [`interleaved`]).
//!
//! The input mixes the common instructions of compiled code in equal thirds: ALU register/register (`add rax,
//! rcx`), register/immediate (`sub ebx, 1000`) and loads with a displacement (`mov rdx, qword ptr [rsi + 24]`),
//! drawn with a fixed seed. Before timing, each size is assembled once by both and the bytes compared (`objcopy`
//! extracts GNU's `.text`). A second figure is taken on the same mix as real code looks (issue 14): a label every
//! tenth line, a tenth of the lines `jnz` to an earlier label and a tenth `lea rax, [rip + label]` to a later one
//! ([`common::source_with_labels`]). A third shows what the speed machinery (the memo, threads) is worth, each
//! switched off in turn ([`speed_machinery`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;

mod common;
use common::{source, source_with_labels};
use rustyjit::asm::{Settings, assemble_with};

fn main() {
    interleaved("the common mix", input(200_000), 15);
    interleaved("the mix with labels and jumps", &LABELLED, 15);
    speed_machinery(&input(200_000).text, 15);
    divan::main();
    // The generated inputs (63 MB with GNU's objects) go with the run.
    let _ = std::fs::remove_dir_all(&*DIR);
}

/// The target's figure, measured so that the machine's changing speed falls on both sides alike: `pairs` runs of
/// each assembler on `lines` lines, one after the other (which goes first alternates), and the median of the
/// ratios of each pair; printed before divan's tables, which time each side in a stretch of its own.
fn interleaved(what: &str, input: &Input, pairs: usize) {
    let lines = input.text.lines().count();
    let mut ours = || {
        let status = rustyjit(&input.ours, Stdio::null()).wait().expect("running rustyjit");
        assert!(status.success());
    };
    let p = common::paired(pairs, &mut || gnu_as(input), &mut ours);
    eprintln!(
        "interleaved, {what}, {lines} lines, {pairs} pairs: GNU as {:.1} ms, rustyjit {:.2} ms (medians); rustyjit / as \
         speed {:.1}x (median of the pairs' ratios; {:.1}x to {:.1}x)",
        p.theirs * 1e3,
        p.ours * 1e3,
        p.ratio,
        p.low,
        p.high,
    );
}

/// What the speed machinery is worth (issue 14): `assemble_with` in this process on the common mix, with each part
/// of it switched off in turn ([`Settings`]), against all of it on, in turns; printed as how many times faster
/// each part makes assembly.
fn speed_machinery(text: &str, pairs: usize) {
    let run = |settings: Settings| move || drop(assemble_with(text, settings).expect("the bench input assembles"));
    let all = Settings::default();
    for (part, without) in [
        ("the memo", Settings { memo: false, ..all }),
        ("threads", Settings { threads: false, ..all }),
        ("both", Settings::PLAIN),
    ] {
        let p = common::paired(pairs, &mut run(without), &mut run(all));
        eprintln!(
            "speed machinery, {part}: {:.2} ms without, {:.2} ms with (medians); {:.2}x faster with (median of the pairs' \
             ratios; {:.2}x to {:.2}x)",
            p.theirs * 1e3,
            p.ours * 1e3,
            p.ratio,
            p.low,
            p.high,
        );
    }
}

const SIZES: [usize; 5] = [1_000, 10_000, 100_000, 200_000, 1_000_000];

/// The generated inputs of one size: rustyjit's file, GNU as's (the same lines after `.intel_syntax noprefix`).
struct Input {
    text: String,
    ours: PathBuf,
    gnu: PathBuf,
    object: PathBuf,
}

static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("rustyjit-bench-asm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory for the bench inputs");
    dir
});

static INPUTS: LazyLock<Vec<Input>> =
    LazyLock::new(|| SIZES.iter().map(|&n| make_input(&n.to_string(), source(n))).collect());

/// 200,000 lines of the mix with labels and jumps.
static LABELLED: LazyLock<Input> = LazyLock::new(|| make_input("labels", source_with_labels(200_000)));

/// Writes `text` as both assemblers' inputs, named after `name`, and checks that they agree on its bytes.
fn make_input(name: &str, text: String) -> Input {
    let ours = DIR.join(format!("{name}.s"));
    let gnu = DIR.join(format!("{name}.gnu.s"));
    std::fs::write(&ours, &text).expect("writing the bench input");
    std::fs::write(&gnu, format!(".intel_syntax noprefix\n{text}")).expect("writing the bench input");
    let input = Input {
        text,
        ours,
        gnu,
        object: DIR.join(format!("{name}.o")),
    };
    check_same_bytes(&input);
    input
}

fn input(n: usize) -> &'static Input {
    INPUTS
        .iter()
        .find(|i| i.ours.ends_with(format!("{n}.s")))
        .expect("a generated size")
}

fn rustyjit(input: &Path, stdout: Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rustyjit"))
        .arg("asm")
        .arg(input)
        .args(["--format", "hex"])
        .stdout(stdout)
        .spawn()
        .expect("starting rustyjit")
}

fn gnu_as(input: &Input) {
    let status = Command::new("as")
        .args(["--64", "-o"])
        .arg(&input.object)
        .arg(&input.gnu)
        .status()
        .expect("starting GNU as");
    assert!(status.success(), "GNU as failed on {}", input.gnu.display());
}

/// Both assemblers produce the same bytes for `input`.
fn check_same_bytes(input: &Input) {
    let out = rustyjit(&input.ours, Stdio::piped())
        .wait_with_output()
        .expect("running rustyjit");
    assert!(out.status.success(), "rustyjit asm failed on {}", input.ours.display());
    let hex: String = String::from_utf8(out.stdout)
        .expect("hex output")
        .split_whitespace()
        .collect();
    let ours: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
        .collect();
    gnu_as(input);
    let text = input.object.with_extension("bin");
    let status = Command::new("objcopy")
        .args(["-O", "binary", "--only-section=.text"])
        .arg(&input.object)
        .arg(&text)
        .status()
        .expect("starting objcopy");
    assert!(status.success());
    let gnu = std::fs::read(&text).expect("GNU's .text");
    assert!(ours == gnu, "rustyjit and GNU as differ on {}", input.ours.display());
}

/// `rustyjit asm FILE --format hex`, output to /dev/null.
#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn rustyjit_process(n: usize) {
    let input = input(n);
    let status = rustyjit(&input.ours, Stdio::null()).wait().expect("running rustyjit");
    assert!(status.success());
}

/// `as --64 -o FILE.o FILE.s`.
#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn gnu_as_process(n: usize) {
    gnu_as(input(n));
}

/// `jit_core::assemble` on the same text, in this process.
#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn assemble_in_process(bencher: divan::Bencher, n: usize) {
    let text = &input(n).text;
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench(|| rustyjit::assemble(divan::black_box(text)).expect("the bench input assembles"));
}
