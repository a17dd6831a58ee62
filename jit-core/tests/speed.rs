//! The speed machinery changes nothing but the time (issue 14): text assembled with the memo and threads
//! ([`Settings::default`]) and without them ([`Settings::PLAIN`]) gives the same code, listing, labels and hole
//! patches, or the same errors at the same places — on random statements of the table's forms, valid and not, on
//! instructions whose registers differ only where the memo's templates put them, and on a text long enough for
//! pieces on threads.

mod common;

use common::{EDGE_NUMBERS, Rng, memory, random_line};
use jit_core::asm::{Settings, assemble_with};

/// Values and operands the memo must leave to the table's path or encode exactly as it does (with the shared edge
/// numbers): values past the edges, every base and sign spelling, and operands the memo does not take.
const ODD: [&str; 28] = [
    "-2147483649",
    "0xffffffff",
    "0xffffffffffffff80",
    "-0x8000000000000000",
    "18446744073709551616",
    "0b101",
    "1_000",
    "- 3",
    "+4",
    "--5",
    "top",
    "{0}",
    "ds:0x10",
    "[rip + top]",
    "[]",
    "[eax]",
    "[rax - rbx]",
    "[rsp*2]",
    "[rax + rbx + rcx]",
    "rip",
    "qword [rax]",
    "qword ptr ptr [rax]",
    "fs:[rax]",
    "1 + 2",
    "é",
    "byte ptr",
    "0x",
    "[rbx + rsp]",
];

/// A random statement: mostly a line of the shared generator (a form of the table with fitting operands),
/// respaced, sometimes with one operand swapped for something odd; else a label, a jump, data, nothing, or a
/// wrong line.
fn statement(rng: &mut Rng) -> String {
    match rng.below(40) {
        0 => return format!("{}:", rng.pick(&["top", "mid", "rax", "l1"])),
        1 => return format!("{} top", rng.pick(&["jmp", "jne", "call"])),
        2 => return format!("{} 1, -2, 0x30", rng.pick(&[".quad", "db", "dd"])),
        3 => return String::new(),
        4 => {
            return rng
                .pick(&["frob rax", "movv rax, 1", "mov rax, 1, 2, 3", "add", "ret 1 2"])
                .to_string();
        }
        _ => {}
    }
    let line = random_line(rng);
    let (mnemonic, ops) = line.split_once(' ').unwrap_or((&line, ""));
    let mut ops: Vec<String> = ops.split(", ").filter(|o| !o.is_empty()).map(String::from).collect();
    if rng.chance(15) {
        let at = rng.below(ops.len() + 1);
        let odd = if rng.chance(25) {
            rng.pick(&EDGE_NUMBERS).to_string()
        } else if rng.chance(60) {
            rng.pick(&ODD).to_string()
        } else {
            let size = *rng.pick(&["byte", "qword", "dword"]);
            const PTR: [&str; 3] = [" ", " PTR ", " ptr"];
            let ptr = rng.pick(&PTR);
            memory(rng, Some(size)).replace(" ptr ", ptr)
        };
        if at == ops.len() { ops.push(odd) } else { ops[at] = odd }
    }
    let sep = *rng.pick(&[", ", ",", " , ", ",\t"]);
    format!("{}{mnemonic} {}", rng.pick(&["", "", "    ", "\t"]), ops.join(sep))
}

/// A statement that assembles on its own (none of the odd ones, no label, no jump).
fn valid(rng: &mut Rng) -> String {
    loop {
        let s = statement(rng);
        if !s.contains(':') && !s.contains("top") && !s.contains('{') && jit_core::assemble(&s).is_ok() {
            return s;
        }
    }
}

/// A random text of `lines` lines, some with two statements, comments, or `\r\n`; with `errors`, some
/// statements are wrong.
fn text(rng: &mut Rng, lines: usize, errors: bool) -> String {
    let mut out = String::new();
    let one = |rng: &mut Rng| if errors { statement(rng) } else { valid(rng) };
    for _ in 0..lines {
        out.push_str(&one(rng));
        if rng.chance(5) {
            out.push_str("; ");
            out.push_str(&one(rng));
        }
        if rng.chance(5) {
            const NOTES: [&str; 3] = [" # note", " // é note", "#"];
            out.push_str(NOTES[rng.below(NOTES.len())]);
        }
        out.push_str(if rng.chance(3) { "\r\n" } else { "\n" });
    }
    out
}

/// Everything an assembly gives, as text: bytes, listing, labels and hole patches, or the errors with their places.
fn outcome(src: &str, settings: Settings) -> String {
    match assemble_with(src, settings) {
        Ok(a) => {
            let (code, holes) = (a.code, a.holes);
            format!(
                "{:02x?}\n{:?}\n{:?}\n{holes:?}",
                code.bytes(),
                code.entries(),
                code.labels()
            )
        }
        Err(errors) => errors.0.iter().map(|e| format!("{:?} {}\n", e.span, e)).collect(),
    }
}

/// The outcome with the speed machinery, checked to be the outcome without it.
fn same_either_way(src: &str) -> String {
    let fast = outcome(src, Settings::default());
    assert_eq!(fast, outcome(src, Settings::PLAIN), "{src}");
    fast
}

#[test]
fn random_statements_assemble_the_same_with_and_without_the_speed_machinery() {
    let mut rng = Rng::new(0xfa57);
    for round in 0..400 {
        let src = text(&mut rng, 1 + round % 20, round % 2 == 0);
        let outcome = same_either_way(&src);
        if round % 2 == 1 {
            assert!(outcome.starts_with('['), "valid text assembles: {outcome}");
        }
    }
}

/// Register names swapped for others the memo cannot tell apart (the same class, neither register 0 nor 1,
/// the same need of REX) but whose numbers differ in every bit the encoding uses.
fn renamed(line: &str) -> String {
    const SWAPS: [(&str, &str); 10] = [
        ("rdx", "rdi"),
        ("edx", "edi"),
        ("r9", "r14"),
        ("r10", "r13"),
        ("r9d", "r14d"),
        ("xmm2", "xmm15"),
        ("xmm3", "xmm12"),
        ("dl", "bl"),
        ("r11b", "r12b"),
        ("dx", "bx"),
    ];
    let word = |w: &str| -> String {
        SWAPS
            .iter()
            .find_map(|&(a, b)| (w == a).then_some(b).or((w == b).then_some(a)))
            .unwrap_or(w)
            .to_string()
    };
    let mut out = String::new();
    let mut ident = String::new();
    for c in line.chars().chain(std::iter::once('\n')) {
        if c.is_ascii_alphanumeric() {
            ident.push(c);
        } else {
            out.push_str(&word(&ident));
            ident.clear();
            out.push(c);
        }
    }
    out.pop();
    out
}

#[test]
fn instructions_of_a_remembered_shape_get_the_encoders_bytes() {
    // Each statement, then the same with other registers: the second is encoded from the memo's template
    // of the first, and must come out as the parser and encoder make it (debug builds also check each
    // template's bytes against `select_form` as they are made).
    let mut rng = Rng::new(0x7e3f);
    let mut src = String::new();
    let mut renamed_lines = 0;
    for _ in 0..3000 {
        let line = valid(&mut rng);
        let other = renamed(&line);
        renamed_lines += usize::from(other != line);
        src.push_str(&format!("{line}\n{other}\n"));
    }
    assert!(
        renamed_lines > 500,
        "only {renamed_lines} lines had registers to rename"
    );
    same_either_way(&src);
}

#[test]
fn a_long_text_in_pieces_on_threads_is_the_same_code() {
    let mut rng = Rng::new(0x7ead);
    let mut src = String::from("start: jmp end\n");
    let mut first_label = None;
    while src.len() < 1 << 20 {
        // Instructions, with labels, jumps and data between them in every piece.
        src.push_str(&text(&mut rng, 30, false));
        let label = format!("mid{}", src.len());
        src.push_str(&format!("{label}: jne start\ndb 1, 2\n"));
        first_label.get_or_insert(label);
    }
    let first_label = first_label.expect("a label");
    src.push_str("end: ret\n");
    let outcome = same_either_way(&src);
    assert!(outcome.starts_with('['), "{}", &outcome[..outcome.len().min(300)]);
    // And with an error on the last line, reported at its line; and with a label defined twice far apart.
    src.push_str(&format!("mov rax, bl\n{first_label}: nop\n"));
    let errors = same_either_way(&src);
    let lines = src.lines().count();
    assert!(
        errors.contains(&format!("line: {},", lines - 1)),
        "{}",
        &errors[..errors.len().min(300)]
    );
    assert!(
        errors.contains(&format!("`{first_label}`")),
        "{}",
        &errors[..errors.len().min(300)]
    );
}

#[test]
fn jumps_and_rip_addresses_to_labels_in_other_pieces_are_the_same_code() {
    // Jumps and `[rip + label]` operands of several shapes, to labels far back and far ahead (in other pieces of
    // a text long enough for threads), with registers, displacements and immediates of every kind: encoded by
    // the memo's templates and the mnemonic's jump forms as the table and encoder encode them.
    let mut rng = Rng::new(0x1abe);
    const JUMPS: [&str; 10] = ["jmp", "je", "jne", "jl", "jge", "ja", "jb", "call", "jz", "jnz"];
    const RIP: [&str; 6] = [
        "lea R, [rip + L]",
        "lea R, [rip + L + D]",
        "mov R, qword ptr [rip + L - D]",
        "mov qword ptr [rip + L], R",
        "cmp qword ptr [rip + L], I",
        "add R, qword ptr [rip + D + L]",
    ];
    const REGS: [&str; 8] = ["rax", "rcx", "rsp", "rbp", "r8", "r12", "r13", "r15"];
    let lines = 30_000;
    let label = |rng: &mut Rng| format!("L{}", rng.below(lines / 10));
    let mut src = String::new();
    for i in 0..lines {
        if i % 10 == 0 {
            src.push_str(&format!("L{}:\n", i / 10));
        }
        let line = match rng.below(3) {
            0 => format!("{} {}", rng.pick(&JUMPS), label(&mut rng)),
            1 => rng
                .pick(&RIP)
                .replace('R', rng.pick::<&str>(&REGS))
                .replace('L', &label(&mut rng))
                .replace('D', &rng.below(300).to_string())
                .replace('I', &(rng.below(1000) as i64 - 500).to_string()),
            _ => valid(&mut rng),
        };
        src.push_str(&line);
        src.push('\n');
    }
    assert!(src.len() > 1 << 19, "{} bytes: too short for threads", src.len());
    let outcome = same_either_way(&src);
    assert!(outcome.starts_with('['), "{}", &outcome[..outcome.len().min(300)]);
    // Undefined labels (a jump's, an address's) and a label defined again, far from the first.
    src.push_str("jne nowhere\nlea rax, [rip + nowhere_either + 8]\nL3: nop\n");
    let errors = same_either_way(&src);
    for name in ["`nowhere`", "`nowhere_either`", "`L3`"] {
        assert!(errors.contains(name), "{name}: {}", &errors[..errors.len().min(300)]);
    }
}
