//! Bad input never panics: 100,000 random token soups and mutated valid lines per run (fixed seeds, so a
//! failure reproduces), each assembled under `catch_unwind`. Every error must also point inside the input.

mod common;

use common::{BYTE, EDGE_NUMBERS, QWORD, Rng, XMM, random_line};
use std::panic;

const DATA: &str = include_str!("data/gnu-as-2.40.tsv");

const PUNCT: [&str; 18] = [
    ",", "[", "]", "+", "-", "*", ":", ";", "\n", "{0}", "{", "}", "#", "//", " ", "\t", "ptr", "ds:",
];
const WORDS: [&str; 24] = [
    "byte",
    "word",
    "dword",
    "qword",
    "xmmword",
    "oword",
    "db",
    ".quad",
    "dd",
    ".word",
    "label",
    "top",
    "rip",
    "eip",
    "é",
    "\u{0}",
    "\u{202e}",
    "0x",
    "0b2",
    "99999999999999999999999",
    "0xffffffffffffffff",
    "-0x8000000000000000",
    "1_000",
    "fs",
];

fn token(rng: &mut Rng) -> String {
    let forms = jit_core::asm::table::Table::get().all();
    match rng.below(6) {
        0 => rng.pick(forms).mnemonic.clone(),
        1 => rng.pick(&QWORD).to_string(),
        2 => if rng.chance(50) {
            rng.pick(&BYTE)
        } else {
            rng.pick(&XMM)
        }
        .to_string(),
        3 => rng.pick(&PUNCT).to_string(),
        4 => rng.pick(&WORDS).to_string(),
        _ => rng.pick(&EDGE_NUMBERS).to_string(),
    }
}

fn soup(rng: &mut Rng) -> String {
    let n = 1 + rng.below(14);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(&token(rng));
        if rng.chance(70) {
            s.push(' ');
        }
    }
    s
}

fn mutate(rng: &mut Rng, line: &str) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 => {
                for c in token(rng).chars().rev() {
                    chars.insert(at, c);
                }
            }
            2 if at < chars.len() => chars[at] = *rng.pick(&['[', ']', ',', '*', '-', '9', 'x', ';', ':', '\n', '{']),
            3 => chars.truncate(at),
            _ => {
                let copy: Vec<char> = chars[at..].to_vec();
                chars.extend(copy);
            }
        }
    }
    chars.into_iter().collect()
}

fn check(src: &str) {
    let result = panic::catch_unwind(|| jit_core::asm::assemble_with_holes(src));
    let Ok(result) = result else {
        let _ = panic::take_hook(); // the default hook again, so this message is shown
        panic!("assembler panicked on {src:?}")
    };
    if let Err(errors) = result {
        assert!(!errors.is_empty(), "an error result without errors for {src:?}");
        let lines = src.split('\n').count() as u32;
        for e in errors.iter() {
            let s = e.span;
            assert!(
                s.start <= s.end && s.end as usize <= src.len(),
                "span {s:?} outside {src:?}"
            );
            assert!(
                src.is_char_boundary(s.start as usize) && src.is_char_boundary(s.end as usize),
                "{src:?}"
            );
            assert!(
                s.line >= 1 && s.line <= lines && s.col >= 1,
                "position {s:?} outside {src:?}"
            );
            assert!(!e.kind.to_string().is_empty());
        }
    }
}

#[test]
fn hundred_thousand_inputs_never_panic() {
    let valid: Vec<&str> = DATA
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(_, s)| s)
        .collect();
    let mut rng = Rng::new(0x5eed);
    panic::set_hook(Box::new(|_| {})); // a panic is reported by `check`, without the default noise
    for i in 0..100_000 {
        let src = match i % 3 {
            0 => soup(&mut rng),
            1 => {
                let line = valid[rng.below(valid.len())];
                mutate(&mut rng, line)
            }
            _ => {
                let line = random_line(&mut rng);
                mutate(&mut rng, &line)
            }
        };
        check(&src);
    }
    let _ = panic::take_hook();
}
