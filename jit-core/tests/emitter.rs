//! The emitter against the text assembler: a program built at run time from fragments has the bytes
//! `assemble` gives for the same text with every runtime register, value and label written in (runtime
//! immediates taking their widest form, as `{N}` does in text). Random programs: lines drawn from the whole
//! instruction table, some registers and immediates made runtime parts with random values, fragments joined by
//! jumps to runtime labels bound between them, and raw bytes between some.

mod common;

use common::{BYTE, DWORD, QWORD, Rng, WORD, XMM, random_line};
use jit_core::asm::assemble_with_holes;
use jit_core::asm::lower::lower;
use jit_core::{DynamicLabel, Emitter, R64, assemble};

/// A register name's kind (`r64` ...) and number in that kind.
fn register(word: &str) -> Option<(&'static str, usize, &'static [&'static str])> {
    let lower = word.to_ascii_lowercase();
    for (kind, names) in [
        ("r64", &QWORD[..]),
        ("r32", &DWORD[..]),
        ("r16", &WORD[..]),
        ("r8", &BYTE[..]),
        ("xmm", &XMM[..]),
    ] {
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Some((kind, i, names));
        }
    }
    None
}

/// A line turned into a fragment line: some registers become `{N:kind}` holes with random values, some
/// immediate operands `{N}` holes. Returns the fragment line and the text line (registers written in,
/// immediates as text holes `{M}`), appending arguments and text-hole values.
fn runtime_parts(rng: &mut Rng, line: &str, args: &mut Vec<u64>, text_holes: &mut Vec<u64>) -> (String, String) {
    let (mnemonic, rest) = line.split_once(' ').unwrap_or((line, ""));
    let (mut frag, mut text) = (format!("{mnemonic} "), format!("{mnemonic} "));
    for (k, operand) in rest.split(", ").filter(|o| !o.is_empty()).enumerate() {
        if k > 0 {
            frag.push_str(", ");
            text.push_str(", ");
        }
        let number = operand
            .strip_prefix('-')
            .unwrap_or(operand)
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
            && operand
                .trim_start_matches('-')
                .starts_with(|c: char| c.is_ascii_digit());
        if number && rng.chance(50) {
            let value = parse_number(operand);
            frag.push_str(&format!("{{{}}}", args.len()));
            text.push_str(&format!("{{{}}}", text_holes.len()));
            args.push(value);
            text_holes.push(value);
            continue;
        }
        // Registers, written out or made runtime, word by word.
        let mut word = String::new();
        for c in operand.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphanumeric() {
                word.push(c);
                continue;
            }
            match register(&word) {
                Some((kind, _, names)) if rng.chance(60) => {
                    let value = rng.below(names.len());
                    frag.push_str(&format!("{{{}:{kind}}}", args.len()));
                    text.push_str(names[value]);
                    args.push(value as u64);
                }
                _ => {
                    frag.push_str(&word);
                    text.push_str(&word);
                }
            }
            word.clear();
            if c != ' ' || operand.contains(' ') {
                frag.push(c);
                text.push(c);
            }
        }
        // The loop adds the last separator only when the operand has spaces; drop a trailing one.
        if frag.ends_with(' ') && !operand.ends_with(' ') {
            frag.pop();
            text.pop();
        }
    }
    (frag.trim_end().to_string(), text.trim_end().to_string())
}

fn parse_number(s: &str) -> u64 {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v = match digits.strip_prefix("0x") {
        Some(hex) => u128::from_str_radix(hex, 16).unwrap_or(0),
        None => digits.parse::<u128>().unwrap_or(0),
    } as u64;
    if negative { v.wrapping_neg() } else { v }
}

/// The text's bytes with the text holes' values written in (each hole's width, little-endian).
fn text_bytes(text: &str, values: &[u64]) -> Result<Vec<u8>, String> {
    let a = assemble_with_holes(text).map_err(|e| e.to_string())?;
    let mut bytes = a.code.bytes().to_vec();
    for h in &a.holes {
        let at = h.offset as usize;
        let width = usize::from(h.bytes);
        bytes[at..at + width].copy_from_slice(&values[h.hole as usize].to_le_bytes()[..width]);
    }
    Ok(bytes)
}

#[test]
fn random_programs_have_the_bytes_of_their_text() {
    let mut rng = Rng::new(0x5eed_e417);
    let (mut compared, mut errors_both, mut lowered_fragments) = (0, 0, 0);
    for program in 0..600 {
        let mut e = Emitter::new();
        let labels: Vec<DynamicLabel> = (0..3).map(|_| e.new_label()).collect();
        let mut bound = [false; 3];
        let (mut text, mut text_holes) = (String::new(), Vec::new());
        for _ in 0..1 + rng.below(5) {
            let mut args = Vec::new();
            let mut frag_lines = Vec::new();
            let mut text_lines = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let line = random_line(&mut rng);
                let (f, t) = runtime_parts(&mut rng, &line, &mut args, &mut text_holes);
                frag_lines.push(f);
                text_lines.push(t);
            }
            if rng.chance(50) {
                let k = rng.below(3);
                let jcc = *rng.pick(&["jmp", "jz", "jnz", "jl", "call"]);
                frag_lines.push(format!("{jcc} {{{}}}", args.len()));
                text_lines.push(format!("{jcc} L{k}"));
                args.push(labels[k].__arg());
            }
            let frag_text = frag_lines.join("\n");
            let Ok(lowered) = lower(&frag_text) else {
                // An error for every register value: the text with these values cannot assemble either.
                let alone = text_lines.join("\n");
                assert!(
                    assemble_with_holes(&alone).is_err(),
                    "program {program}: `{frag_text}` does not lower, `{alone}` assembles"
                );
                continue;
            };
            lowered_fragments += 1;
            let fragment = lowered.leak(&frag_text, file!(), line!(), 1);
            e.__fragment(fragment, &args);
            text.push_str(&text_lines.join("\n"));
            text.push('\n');
            if rng.chance(20) {
                // Raw bytes between fragments: pieces of every length between the jumps.
                let data: Vec<u8> = (0..1 + rng.below(48)).map(|_| rng.below(256) as u8).collect();
                e.push_bytes(&data);
                let listed: Vec<String> = data.iter().map(u8::to_string).collect();
                text.push_str(&format!(".byte {}\n", listed.join(", ")));
            }
            let k = rng.below(3);
            if !bound[k] && rng.chance(60) {
                bound[k] = true;
                e.bind(labels[k]);
                text.push_str(&format!("L{k}:\n"));
            }
        }
        for (k, b) in bound.iter().enumerate() {
            if !b {
                e.bind(labels[k]);
                text.push_str(&format!("L{k}:\n"));
            }
        }
        match (e.finish(), text_bytes(&text, &text_holes)) {
            (Ok(code), Ok(bytes)) => {
                assert_eq!(code.bytes(), bytes, "program {program}:\n{text}");
                compared += 1;
            }
            (Err(_), Err(_)) => errors_both += 1,
            (Ok(_), Err(why)) => panic!("program {program}: the emitter took what the text refuses ({why}):\n{text}"),
            (Err(why), Ok(_)) => panic!("program {program}: the emitter refused ({why}) what the text takes:\n{text}"),
        }
    }
    assert!(compared > 400, "{compared} programs compared");
    assert!(lowered_fragments > 1200, "{lowered_fragments} fragments");
    eprintln!("{compared} programs compared, {errors_both} refused by both");
}

#[test]
fn special_registers_as_base_and_index_match_the_text() {
    let text = "mov {0:r64}, [{1:r64} + {2:r64}*4 + 16]\nlea {0:r64}, [{1:r64}]\nmov {0:r64}, [{1:r64} + {2:r64}]";
    let fragment = lower(text).unwrap().leak(text, file!(), line!(), 1);
    for a in R64::ALL {
        for b in R64::ALL {
            for i in R64::ALL {
                let mut e = Emitter::new();
                e.__fragment(fragment, &[a.num().into(), b.num().into(), i.num().into()]);
                let written = format!("mov {a}, [{b} + {i}*4 + 16]\nlea {a}, [{b}]\nmov {a}, [{b} + {i}]");
                match (e.finish(), assemble(&written)) {
                    (Ok(code), Ok(want)) => assert_eq!(code.bytes(), want.bytes(), "{written}"),
                    (Err(got), Err(_)) => assert!(got.to_string().contains("rsp"), "{got}"),
                    (got, want) => panic!("{written}: {:?} vs {:?}", got.map(|c| c.len()), want.map(|c| c.len())),
                }
            }
        }
    }
}
