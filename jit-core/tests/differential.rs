//! Differential tests against the real GNU as 2.40 and objdump, when they are installed (CI installs them).
//!
//! - `random_lines_match_gnu_as`: thousands of random lines drawn from the instruction table (fixed seed) are
//!   assembled by both. Lines GNU as refuses or warns about must be refused by rustyjit too; the rest must give
//!   the same bytes.
//! - `objdump_text_assembles_back_to_the_same_bytes`: rustyjit's bytes are disassembled with
//!   `objdump -M intel`, and objdump's text is assembled again: the bytes must not change.

mod common;

use common::{Rng, random_line};
use std::path::Path;
use std::process::Command;

const LINES: usize = 4000;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Assembles `lines` with GNU as; returns the .text bytes, or the 1-based numbers of the lines it refused or
/// warned about.
fn gnu_as(dir: &Path, lines: &[String]) -> Result<Vec<u8>, Vec<usize>> {
    let src = dir.join("in.s");
    let obj = dir.join("out.o");
    let bin = dir.join("out.bin");
    let mut text = String::from(".intel_syntax noprefix\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&src, text).expect("write temp file");
    let out = Command::new("as")
        .arg("--64")
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .output()
        .expect("run as");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut bad: Vec<usize> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{}:", src.display())))
        .filter_map(|l| l.split(':').next()?.parse::<usize>().ok())
        .map(|n| n - 1) // the .intel_syntax line
        .collect();
    bad.dedup();
    if !bad.is_empty() || !out.status.success() {
        assert!(!bad.is_empty(), "as failed without naming a line:\n{stderr}");
        return Err(bad);
    }
    let status = Command::new("objcopy")
        .args(["-O", "binary", "--only-section=.text"])
        .arg(&obj)
        .arg(&bin)
        .status()
        .expect("run objcopy");
    assert!(status.success());
    Ok(std::fs::read(&bin).expect("read objcopy output"))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rustyjit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

#[test]
fn random_lines_match_gnu_as() {
    if !have("as") || !have("objcopy") {
        eprintln!("GNU as is not installed: skipping the differential test");
        return;
    }
    let dir = temp_dir("diff");
    let mut rng = Rng::new(2026);
    let mut lines: Vec<String> = (0..LINES).map(|_| random_line(&mut rng)).collect();

    // What GNU as refuses, rustyjit must refuse too.
    let mut failures = Vec::new();
    let mut refused = 0;
    if let Err(bad) = gnu_as(&dir, &lines) {
        for &n in bad.iter().rev() {
            let line = lines.remove(n - 1);
            refused += 1;
            if let Ok(code) = jit_core::assemble(&line) {
                failures.push(format!(
                    "{line}\n    gnu as refuses it; rustyjit gives {}",
                    hex(code.bytes())
                ));
            }
        }
    }
    // The rest: the same bytes, line by line.
    let gnu = gnu_as(&dir, &lines).unwrap_or_else(|bad| panic!("as still refuses lines {bad:?}"));
    let mut at = 0;
    for line in &lines {
        match jit_core::assemble(line) {
            Ok(code) => {
                let ours = code.bytes();
                let theirs = gnu.get(at..at + ours.len()).unwrap_or(&[]);
                if ours != theirs {
                    failures.push(format!(
                        "{line}\n    gnu as:   {}...\n    rustyjit: {}",
                        hex(theirs),
                        hex(ours)
                    ));
                    break; // offsets after a length mismatch mean nothing
                }
                at += ours.len();
            }
            Err(e) => {
                failures.push(format!(
                    "{line}\n    gnu as accepts it; rustyjit: {}",
                    e.to_string().trim()
                ));
                break;
            }
        }
    }
    if failures.is_empty() {
        assert_eq!(at, gnu.len(), "GNU as emitted bytes beyond the last line");
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{} lines compared, {refused} refused by both", lines.len());
    assert!(
        refused < LINES / 4,
        "too many generated lines are invalid ({refused}); fix the generator"
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// objdump's text for `bytes` (an instruction at their start) in the spelling that names its encoding where
/// objdump's does not:
/// - `66 REX.W 0F 6E/7E` (`movd xmm, r/m64` and back) is shown as `movq`, which GNU as (and rustyjit) assemble to
///   the shorter SSE2 form `F3 0F 7E`/`66 0F D6` when the operand is memory;
/// - a string instruction is shown with its implicit operands (`rep stos DWORD PTR es:[rdi],eax`), which rustyjit
///   does not take: it is written with its size suffix (`rep stosd`);
/// - a packed compare is shown with its predicate in the mnemonic (`cmpnltps`), which rustyjit does not take yet:
///   it is written with the predicate as the immediate (`cmpps ..., 5`).
fn respelled(text: &str, bytes: &[u8]) -> String {
    let rex_w = bytes.get(1).is_some_and(|&b| b & 0xf8 == 0x48);
    if let (Some(0x66), true, Some([0x0f, 0x6e | 0x7e]), Some(rest)) =
        (bytes.first(), rex_w, bytes.get(2..4), text.strip_prefix("movq "))
    {
        return format!("movd {rest}");
    }
    let (prefix, rest) = match text.split_once(' ') {
        Some((p, rest)) if jit_core::asm::Prefix::from_name(p).is_some() => (format!("{p} "), rest.trim_start()),
        _ => (String::new(), text),
    };
    let base = rest.split_whitespace().next().unwrap_or("");
    // `cmpnltps a, b` is objdump's spelling of `cmpps a, b, 5`.
    const PREDICATES: [&str; 8] = ["eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"];
    for suffix in ["ps", "pd"] {
        let predicate = base.strip_prefix("cmp").and_then(|b| b.strip_suffix(suffix));
        if let Some(n) = predicate.and_then(|p| PREDICATES.iter().position(|&q| q == p)) {
            let operands = rest[base.len()..].trim();
            return format!("{prefix}cmp{suffix} {operands}, {n}");
        }
    }
    let suffix = [("BYTE", 'b'), ("QWORD", 'q'), ("DWORD", 'd'), ("WORD", 'w')]
        .iter()
        .find(|(size, _)| rest.contains(&format!("{size} PTR")))
        .map(|&(_, c)| c);
    match (["movs", "stos", "lods", "scas", "cmps"].contains(&base), suffix) {
        (true, Some(c)) => format!("{prefix}{base}{c}"),
        _ => text.to_string(),
    }
}

#[test]
fn objdump_text_assembles_back_to_the_same_bytes() {
    if !have("objdump") {
        eprintln!("objdump is not installed: skipping the round trip");
        return;
    }
    let dir = temp_dir("objdump");
    let mut rng = Rng::new(7);
    let mut bytes = Vec::new();
    while bytes.len() < 20_000 {
        // A prefix alone on its line is read by objdump as part of the next instruction.
        let line = random_line(&mut rng);
        if jit_core::asm::Prefix::from_name(line.trim()).is_some() {
            continue;
        }
        if let Ok(code) = jit_core::assemble(&line) {
            bytes.extend_from_slice(code.bytes());
        }
    }
    let bin = dir.join("code.bin");
    std::fs::write(&bin, &bytes).expect("write temp file");
    let out = Command::new("objdump")
        .args([
            "-D",
            "-b",
            "binary",
            "-m",
            "i386:x86-64",
            "-M",
            "intel",
            "--no-show-raw-insn",
        ])
        .arg(&bin)
        .output()
        .expect("run objdump");
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut again = Vec::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in listing.lines() {
        // "   1f:\tmov    rax,QWORD PTR [rbx+0x8]"
        let Some((offset, text)) = line.split_once(":\t") else {
            continue;
        };
        let Ok(offset) = usize::from_str_radix(offset.trim(), 16) else {
            continue;
        };
        count += 1;
        let text = &respelled(text, &bytes[offset..]);
        match jit_core::assemble(text) {
            Ok(code) => {
                let expected = bytes.get(offset..offset + code.len()).unwrap_or(&[]);
                if code.bytes() != expected {
                    failures.push(format!(
                        "{text}\n    original: {}\n    again:    {}",
                        hex(expected),
                        hex(code.bytes())
                    ));
                }
                again.extend_from_slice(code.bytes());
            }
            Err(e) => failures.push(format!("{text}\n    {}", e.to_string().trim())),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{count} instructions round-tripped through objdump");
    assert!(count > 1000);
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(again, bytes);
}
