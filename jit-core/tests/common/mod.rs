//! Shared by the differential, round-trip and fuzz tests: a small seeded random generator and a generator of
//! random assembly lines drawn from the instruction table.

#![allow(dead_code)]

use jit_core::asm::table::{Form, OpKind, Table};

/// The shared seeded generator, under the tests' name.
pub use jit_core::rng::SplitMix64 as Rng;

pub const QWORD: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
];
pub const DWORD: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d",
    "r15d",
];
pub const WORD: [&str; 16] = [
    "ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w",
];
pub const BYTE: [&str; 20] = [
    "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b",
    "ah", "ch", "dh", "bh",
];
pub const XMM: [&str; 16] = [
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
    "xmm14", "xmm15",
];
/// Numbers at the edges of the immediate widths, and small ones, as written in a line.
pub const EDGE_NUMBERS: [&str; 12] = [
    "0",
    "1",
    "-1",
    "127",
    "128",
    "-129",
    "255",
    "256",
    "0x7fffffff",
    "0x80000000",
    "8",
    "3",
];
pub const DISPS: [i64; 14] = [
    0,
    1,
    -1,
    8,
    127,
    128,
    -128,
    -129,
    0x1000,
    -0x1000,
    0x7fff_ffff,
    -0x8000_0000,
    0x40,
    255,
];

fn number(rng: &mut Rng, v: i64) -> String {
    if v >= 0 && rng.chance(50) {
        format!("{v:#x}")
    } else {
        v.to_string()
    }
}

/// A random memory operand with an optional size keyword; `rip` as base sometimes.
pub fn memory(rng: &mut Rng, size: Option<&str>) -> String {
    let mut terms: Vec<String> = Vec::new();
    let rip = rng.chance(8);
    let base = if rip {
        Some("rip")
    } else if rng.chance(85) {
        Some(*rng.pick(&QWORD))
    } else {
        None
    };
    if let Some(b) = base {
        terms.push(b.to_string());
    }
    if !rip && rng.chance(45) {
        let index = loop {
            let r = *rng.pick(&QWORD);
            if r != "rsp" {
                break r;
            }
        };
        let scale = *rng.pick(&[1, 2, 4, 8]);
        terms.push(if rng.chance(15) {
            format!("{scale}*{index}")
        } else {
            format!("{index}*{scale}")
        });
    }
    let disp = *rng.pick(&DISPS);
    let mut text = String::new();
    if terms.is_empty() || disp != 0 || rng.chance(10) {
        if rng.chance(10) && !terms.is_empty() {
            terms.insert(0, number(rng, disp.abs()));
            if disp < 0 {
                terms[0] = format!("-{}", terms[0]);
            }
        } else if terms.is_empty() {
            terms.push(number(rng, disp.abs().clamp(0x10, 0x7fff_ffff))); // beyond that GNU as switches to moffs; we refuse
        } else {
            let sign = if disp < 0 { "- " } else { "+ " };
            let last = terms.pop().unwrap_or_default();
            terms.push(format!("{last} {sign}{}", number(rng, disp.abs())));
        }
    }
    if let Some(s) = size {
        text.push_str(s);
        text.push_str(" ptr ");
    }
    text.push('[');
    text.push_str(&terms.join(" + ").replace("+ -", "- "));
    text.push(']');
    text
}

/// A random immediate that fits `bits` (and, for sign-extended immediates, the operation's width).
pub fn immediate(rng: &mut Rng, bits: u16, sign_extended: bool) -> String {
    let max_signed = (1i128 << (bits - 1)) - 1;
    let min_signed = -(1i128 << (bits - 1));
    let edges = [
        0,
        1,
        -1,
        2,
        5,
        100,
        max_signed,
        min_signed,
        max_signed - 1,
        min_signed + 1,
        0x40,
        -0x40,
    ];
    let mut v = *rng.pick(&edges);
    if rng.chance(40) {
        v = (rng.next_u64() as i128 % (max_signed + 1)) * if rng.chance(50) { 1 } else { -1 };
    }
    if !sign_extended && v < 0 && rng.chance(50) {
        // The unsigned bit pattern of the same value.
        return format!("{:#x}", v + (1i128 << bits));
    }
    if v >= 0 && rng.chance(50) {
        format!("{v:#x}")
    } else {
        v.to_string()
    }
}

fn size_keyword(bits: u16) -> &'static str {
    match bits {
        8 => "byte",
        16 => "word",
        32 => "dword",
        64 => "qword",
        _ => "xmmword",
    }
}

/// One random operand of `kind` for `form`; `None` for labels (not generated).
pub fn operand(rng: &mut Rng, kind: OpKind, form: &Form) -> Option<String> {
    use OpKind::*;
    let reg = |rng: &mut Rng, bits: u16| -> String {
        match bits {
            8 => {
                let n = if rng.chance(10) { 20 } else { 16 };
                rng.pick(&BYTE[..n]).to_string()
            }
            16 => rng.pick(&WORD).to_string(),
            32 => rng.pick(&DWORD).to_string(),
            _ => rng.pick(&QWORD).to_string(),
        }
    };
    Some(match kind {
        R8 | R16 | R32 | R64 => reg(rng, kind.gpr_bits().unwrap_or(64)),
        Rm8 | Rm16 | Rm32 | Rm64 => {
            let bits = kind.gpr_bits().unwrap_or(64);
            if rng.chance(50) {
                reg(rng, bits)
            } else {
                memory(rng, Some(size_keyword(bits)))
            }
        }
        M => memory(rng, None),
        M8 | M16 | M32 | M64 | M128 => memory(rng, Some(size_keyword(kind.mem_bits().flatten().unwrap_or(64)))),
        Al | Ax | Eax | Rax | Cl | One | Three => kind.name().to_string(),
        Imm8 | Imm16 | Imm32 | Imm64 => {
            let bits = kind.imm_bits().unwrap_or(64);
            let count = form.attrs.contains(jit_core::asm::table::Attrs::COUNT);
            let narrower = bits < form.operation_bits();
            immediate(rng, bits, narrower && !count)
        }
        Rel8 | Rel32 => return None,
        Xmm => rng.pick(&XMM).to_string(),
        XmmM32 | XmmM64 | XmmM128 => {
            if rng.chance(50) {
                rng.pick(&XMM).to_string()
            } else {
                let bits = kind.mem_bits().flatten().unwrap_or(64);
                memory(rng, Some(size_keyword(bits)))
            }
        }
    })
}

/// A random line for a random form of the table (no jumps to labels).
pub fn random_line(rng: &mut Rng) -> String {
    let forms = Table::get().all();
    loop {
        let form = rng.pick(forms);
        let ops: Option<Vec<String>> = form.operands.iter().map(|&k| operand(rng, k, form)).collect();
        let Some(ops) = ops else { continue };
        let mnemonic = if rng.chance(5) {
            form.mnemonic.to_uppercase()
        } else {
            form.mnemonic.clone()
        };
        return if ops.is_empty() {
            mnemonic
        } else {
            format!("{mnemonic} {}", ops.join(", "))
        };
    }
}
