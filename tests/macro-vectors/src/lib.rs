//! The macro and the runtime assembler give the same bytes for every test vector.
//!
//! `build.rs` writes every case of `vectors/*.toml` as `jit!` blocks (once with the text's line breaks, once
//! with `;`); the tests here compare each block's bytes, listing offsets and labels with what
//! `rustyjit::assemble` makes of the same text at run time. New vector files are picked up by the next build.
//! It also compiles every line of GNU as's reference file (`jit-core/tests/data/gnu-as-2.40.tsv`) with `jit!`
//! and compares the bytes with GNU as's.

#![cfg(test)]

use rustyjit::Code;

/// One vector case: where it is from, its text, and the text compiled by `jit!`.
struct Case {
    file: &'static str,
    name: &'static str,
    asm: &'static str,
    /// The text as written, one statement per line.
    lines: fn() -> Code,
    /// The same statements on one line, joined by `;`.
    semicolons: fn() -> Code,
}

/// A case that has no bytes to compare, and why.
struct Skipped {
    file: &'static str,
    name: &'static str,
    asm: &'static str,
    reason: &'static str,
}

/// Lines of GNU as's reference file as one `jit!` block.
struct GnuAs {
    /// Line of the first one in the file.
    line: usize,
    /// GNU as's bytes, lowercase hex.
    hex: &'static str,
    /// The lines joined with `;`.
    asm: &'static str,
    code: fn() -> Code,
}

include!(concat!(env!("OUT_DIR"), "/vectors.rs"));
include!(concat!(env!("OUT_DIR"), "/gnu_as.rs"));

/// What both paths must agree on.
#[derive(Debug, PartialEq)]
struct Summary {
    bytes: Vec<u8>,
    /// (offset, length) of each listing entry.
    entries: Vec<(u32, u32)>,
    labels: Vec<(String, u32)>,
}

fn summary(code: &Code) -> Summary {
    Summary {
        bytes: code.bytes().to_vec(),
        entries: code.entries().iter().map(|e| (e.offset, e.len)).collect(),
        labels: code.labels().iter().map(|l| (l.name.to_string(), l.offset)).collect(),
    }
}

#[test]
fn every_vector_gives_the_same_bytes_through_jit_and_assemble() {
    assert!(
        CASES.len() >= 4,
        "vectors/basics.toml alone has 4 cases; found {}",
        CASES.len()
    );
    let mut failures = Vec::new();
    for case in CASES {
        let runtime = match rustyjit::assemble(case.asm) {
            Ok(code) => summary(&code),
            Err(e) => {
                failures.push(format!("vectors/{} `{}`: assemble failed: {e}", case.file, case.name));
                continue;
            }
        };
        for (how, code) in [("line breaks", (case.lines)()), ("`;`", (case.semicolons)())] {
            if summary(&code) != runtime {
                failures.push(format!(
                    "vectors/{} `{}` ({how}): jit! {:02x?} != assemble {:02x?}",
                    case.file,
                    case.name,
                    code.bytes(),
                    runtime.bytes
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn skipped_vectors_are_exactly_the_ones_the_runtime_assembler_rejects() {
    for s in SKIPPED {
        assert!(
            rustyjit::assemble(s.asm).is_err(),
            "vectors/{} `{}` was skipped ({}) but assembles",
            s.file,
            s.name,
            s.reason
        );
    }
}

#[test]
fn the_line_break_blocks_keep_one_statement_per_line() {
    let case = CASES
        .iter()
        .find(|c| c.name == "count_down_loop")
        .expect("basics.toml's loop");
    let code = (case.lines)();
    assert_eq!(code.source().lines().count(), 7, "{:?}", code.source());
    assert_eq!(code.label("top"), Some(7));
}

#[test]
fn every_gnu_as_reference_line_gives_gnu_as_bytes_through_jit() {
    let lines = GNU_AS.iter().map(|b| b.asm.split("; ").count()).sum::<usize>();
    assert!(lines > 14_000, "{lines} statements");
    let mut failures = Vec::new();
    for block in GNU_AS {
        let hex = rustyjit::Hex::new((block.code)().bytes(), "").to_string();
        if hex != block.hex {
            failures.push(format!(
                "gnu-as-2.40.tsv:{} `{}`: jit! {hex} != GNU as {}",
                block.line, block.asm, block.hex
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
