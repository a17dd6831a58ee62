//! Every vector of `tests/data/gnu-as-2.40.tsv` — the bytes GNU as 2.40 gave for each line, made by
//! `tools/gen-encodings.py` — must come out of rustyjit byte for byte.
//!
//! A few lines GNU as accepts are refused on purpose (see `REFUSED`); each must fail with the stated error. And
//! every line GNU as refuses with an error (`tests/data/gnu-as-2.40-refused.tsv`, made by the same tool) is refused.

use std::fmt::Write;

const DATA: &str = include_str!("data/gnu-as-2.40.tsv");
const REFUSED_BY_GNU: &str = include_str!("data/gnu-as-2.40-refused.tsv");

/// Lines GNU as accepts that rustyjit refuses, and a piece of the error it gives.
const REFUSED: &[(&str, &str)] = &[];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_gnu_as_vector_matches() {
    let mut checked = 0;
    let mut failures = String::new();
    let mut nfail = 0;
    for line in DATA.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let Some((expected, src)) = line.split_once('\t') else {
            panic!("malformed line in the data file: {line:?}");
        };
        checked += 1;
        if let Some((_, why)) = REFUSED.iter().find(|(s, _)| *s == src) {
            match jit_core::assemble(src) {
                Err(e) if e.to_string().contains(why) => continue,
                other => {
                    nfail += 1;
                    let _ = writeln!(failures, "{src}: expected an error containing {why:?}, got {other:?}");
                    continue;
                }
            }
        }
        match jit_core::assemble(src) {
            Ok(code) if hex(code.bytes()) == expected => {}
            Ok(code) => {
                nfail += 1;
                let _ = writeln!(
                    failures,
                    "{src}\n    gnu as:   {expected}\n    rustyjit: {}",
                    hex(code.bytes())
                );
            }
            Err(e) => {
                nfail += 1;
                let _ = writeln!(
                    failures,
                    "{src}\n    gnu as:   {expected}\n    rustyjit: {}",
                    e.to_string().trim()
                );
            }
        }
    }
    eprintln!("{checked} vectors checked");
    assert!(checked > 5000, "only {checked} vectors: is the data file complete?");
    assert!(
        nfail == 0,
        "{nfail} of {checked} vectors differ from GNU as:\n{failures}"
    );
}

/// Every row of the table is the one chosen for at least one GNU as vector: no row is dead or shadowed by
/// another.
#[test]
fn every_row_is_reachable() {
    use jit_core::asm::{Parser, StmtKind, select, table};
    let table = table::Table::get();
    let mut used = vec![false; table::ROWS.len()];
    for line in DATA.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, src)) = line.split_once('\t') else {
            continue;
        };
        let mut parser = Parser::new(src);
        while let Some(stmt) = parser.next_statement() {
            let StmtKind::Instruction {
                prefix,
                mnemonic,
                operands,
            } = stmt.kind
            else {
                continue;
            };
            let ops: Vec<_> = operands.iter().copied().collect();
            match select::select_form(table.forms(mnemonic.node), mnemonic, prefix, &ops) {
                Ok(select::Selected::Encoded(_, form)) => used[form.row] = true,
                Ok(select::Selected::Jump { short, long, .. }) => {
                    used[long.row] = true;
                    if let Some(s) = short {
                        used[s.row] = true;
                    }
                }
                Err(_) => {}
            }
        }
    }
    let unused: Vec<&str> = table::ROWS
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(r, _)| r.instruction)
        .collect();
    assert!(unused.is_empty(), "rows no vector selects: {unused:?}");
}

/// Every line GNU as refuses is refused, with an error that says where and what (never bytes, never a panic).
#[test]
fn every_line_gnu_as_refuses_is_refused() {
    let mut checked = 0;
    let mut accepted = Vec::new();
    for line in REFUSED_BY_GNU.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let Some((gnu, src)) = line.split_once('\t') else {
            panic!("malformed line in the refused file: {line:?}");
        };
        checked += 1;
        match jit_core::assemble(src) {
            Err(e) => {
                let text = e.to_string();
                assert!(text.starts_with("1:") && text.contains("error: "), "{src}: {text}");
            }
            Ok(code) => accepted.push(format!("{src}  (GNU as: {gnu}) -> {}", hex(code.bytes()))),
        }
    }
    assert!(checked > 500, "only {checked} refused lines");
    assert!(
        accepted.is_empty(),
        "GNU as refuses these, rustyjit accepts them:\n{}",
        accepted.join("\n")
    );
}
