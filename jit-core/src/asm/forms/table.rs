//! The one table of instruction forms, written as the Intel manual writes them.
//!
//! Each [`Row`] has the manual's three columns: the opcode (`REX.W 83 /0 ib`), the instruction
//! (`add r/m64, imm8`) and the operand encoding (`MI`). Rows are parsed once into [`Form`]s, which drive operand
//! matching, the encoder, the "expected one of" text of errors and the generated list of supported instructions.
//! Rows whose mnemonic ends in `cc` stand for all sixteen conditions and every alias spelling (`jcc` → `je`, `jz`,
//! `jne`, ...; `+cc` in the opcode adds the condition's number).
//!
//! Opcode column: legacy prefixes (`66`, `F2`, `F3`) in the order they are emitted, `REX.W`, opcode bytes
//! (`+r` adds a register number, `+cc` a condition), then `/r` or `/digit`, then `ib iw id io` (immediate) or `cb cd`
//! (relative offset). Operand encodings (Intel's "Op/En"): `ZO` none, `O` register in the opcode, `OI` that plus an
//! immediate, `I` immediate, `M` ModRM r/m (`M1` with an implicit `1`, `MC` with an implicit `cl`), `MI`, `MR`
//! (`MRI` with an immediate, `MRC` with an implicit `cl`), `RM`, `RMI`, `D` relative offset; `RVM`, `RMV` and `VM`
//! with a VEX prefix (written as the manual writes it, `VEX.LZ.F2.0F38.W1`), `V` being the register in
//! VEX.vvvv; and one GNU extension the manual lacks, `RI`: `imul r, imm` is `imul r, r, imm`.
//! Exact registers (`al`, `ax`, `eax`, `rax`, `cl`) and `1` are implicit in the encoding.
//!
//! Where GNU as has several encodings for one line, it picks the shortest, and the first row in this table among
//! equals; the matcher does the same, so row order matters only between rows of equal length.

use super::keymap::KeyMap;
use crate::asm::text::syntax::MAX_OPERANDS;
use std::sync::OnceLock;

/// One row of the table, as written.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// The opcode column, e.g. `REX.W 81 /0 id`.
    pub opcode: &'static str,
    /// The instruction column, e.g. `add r/m64, imm32`.
    pub instruction: &'static str,
    /// The operand-encoding column, e.g. `MI`.
    pub op_en: &'static str,
    /// Extra facts about the row (see the `Attrs` constants).
    pub attrs: Attrs,
}

/// Facts about a row that the manual states in prose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attrs(u8);

impl Attrs {
    /// No extra facts.
    pub const NONE: Attrs = Attrs(0);
    /// The immediate is a count (shift, bit index, `ret` size), not an operand sign-extended to the operation's
    /// width: any value of the immediate's own width, signed or unsigned, fits.
    pub const COUNT: Attrs = Attrs(1);
    /// The operation is 64 bits wide although no operand says so (`push imm`).
    pub const WIDTH64: Attrs = Attrs(2);
    /// The form taken for a memory operand without a size (`push [rax]`, `jmp [rax]`).
    pub const DEFAULT: Attrs = Attrs(4);
    /// Does not match when the register in the opcode is number 0: `xchg eax, eax` is not `90` (`nop`).
    pub const NOT_REG0: Attrs = Attrs(8);

    /// True if every fact of `other` is in `self`.
    pub const fn contains(self, other: Attrs) -> bool {
        self.0 & other.0 == other.0
    }
}

const COUNT: Attrs = Attrs::COUNT;
const WIDTH64: Attrs = Attrs::WIDTH64;
const DEFAULT: Attrs = Attrs::DEFAULT;
const NOT_REG0: Attrs = Attrs::NOT_REG0;

const fn row(opcode: &'static str, instruction: &'static str, op_en: &'static str) -> Row {
    Row {
        opcode,
        instruction,
        op_en,
        attrs: Attrs::NONE,
    }
}

const fn row_with(opcode: &'static str, instruction: &'static str, op_en: &'static str, attrs: Attrs) -> Row {
    Row {
        opcode,
        instruction,
        op_en,
        attrs,
    }
}

/// The condition codes: every spelling and its number, in the order the manual lists them.
pub const CONDITIONS: [(&str, u8); 30] = [
    ("o", 0x0),
    ("no", 0x1),
    ("b", 0x2),
    ("c", 0x2),
    ("nae", 0x2),
    ("ae", 0x3),
    ("nb", 0x3),
    ("nc", 0x3),
    ("e", 0x4),
    ("z", 0x4),
    ("ne", 0x5),
    ("nz", 0x5),
    ("be", 0x6),
    ("na", 0x6),
    ("a", 0x7),
    ("nbe", 0x7),
    ("s", 0x8),
    ("ns", 0x9),
    ("p", 0xa),
    ("pe", 0xa),
    ("np", 0xb),
    ("po", 0xb),
    ("l", 0xc),
    ("nge", 0xc),
    ("ge", 0xd),
    ("nl", 0xd),
    ("le", 0xe),
    ("ng", 0xe),
    ("g", 0xf),
    ("nle", 0xf),
];

/// Every instruction form rustyjit encodes. Expected bytes for all of them come from GNU as 2.40; see
/// `jit-core/tests/data/gnu-as-2.40.tsv`.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    // Data movement.
    row("88 /r", "mov r/m8, r8", "MR"),
    row("66 89 /r", "mov r/m16, r16", "MR"),
    row("89 /r", "mov r/m32, r32", "MR"),
    row("REX.W 89 /r", "mov r/m64, r64", "MR"),
    row("8A /r", "mov r8, r/m8", "RM"),
    row("66 8B /r", "mov r16, r/m16", "RM"),
    row("8B /r", "mov r32, r/m32", "RM"),
    row("REX.W 8B /r", "mov r64, r/m64", "RM"),
    row("B0+r ib", "mov r8, imm8", "OI"),
    row("66 B8+r iw", "mov r16, imm16", "OI"),
    row("B8+r id", "mov r32, imm32", "OI"),
    row("REX.W B8+r io", "mov r64, imm64", "OI"),
    row("C6 /0 ib", "mov r/m8, imm8", "MI"),
    row("66 C7 /0 iw", "mov r/m16, imm16", "MI"),
    row("C7 /0 id", "mov r/m32, imm32", "MI"),
    row("REX.W C7 /0 id", "mov r/m64, imm32", "MI"),
    row("REX.W B8+r io", "movabs r64, imm64", "OI"),

    row("66 0F B6 /r", "movzx r16, r/m8", "RM"),
    row("0F B6 /r", "movzx r32, r/m8", "RM"),
    row("REX.W 0F B6 /r", "movzx r64, r/m8", "RM"),
    row("0F B7 /r", "movzx r32, r/m16", "RM"),
    row("REX.W 0F B7 /r", "movzx r64, r/m16", "RM"),
    row("66 0F BE /r", "movsx r16, r/m8", "RM"),
    row("0F BE /r", "movsx r32, r/m8", "RM"),
    row("REX.W 0F BE /r", "movsx r64, r/m8", "RM"),
    row("0F BF /r", "movsx r32, r/m16", "RM"),
    row("REX.W 0F BF /r", "movsx r64, r/m16", "RM"),
    row("REX.W 63 /r", "movsxd r64, r/m32", "RM"),
    row("63 /r", "movsxd r32, r/m32", "RM"),

    row("66 8D /r", "lea r16, m", "RM"),
    row("8D /r", "lea r32, m", "RM"),
    row("REX.W 8D /r", "lea r64, m", "RM"),

    row("90", "xchg rax, rax", "ZO"),
    row("66 90+r", "xchg ax, r16", "O"),
    row("66 90+r", "xchg r16, ax", "O"),
    row_with("90+r", "xchg eax, r32", "O", NOT_REG0),
    row_with("90+r", "xchg r32, eax", "O", NOT_REG0),
    row("REX.W 90+r", "xchg rax, r64", "O"),
    row("REX.W 90+r", "xchg r64, rax", "O"),
    row("86 /r", "xchg r/m8, r8", "MR"),
    row("86 /r", "xchg r8, r/m8", "RM"),
    row("66 87 /r", "xchg r/m16, r16", "MR"),
    row("66 87 /r", "xchg r16, r/m16", "RM"),
    row("87 /r", "xchg r/m32, r32", "MR"),
    row("87 /r", "xchg r32, r/m32", "RM"),
    row("REX.W 87 /r", "xchg r/m64, r64", "MR"),
    row("REX.W 87 /r", "xchg r64, r/m64", "RM"),

    row("50+r", "push r64", "O"),
    row("66 50+r", "push r16", "O"),
    row_with("FF /6", "push r/m64", "M", DEFAULT),
    row("66 FF /6", "push r/m16", "M"),
    row_with("6A ib", "push imm8", "I", WIDTH64),
    row_with("68 id", "push imm32", "I", WIDTH64),
    row("58+r", "pop r64", "O"),
    row("66 58+r", "pop r16", "O"),
    row_with("8F /0", "pop r/m64", "M", DEFAULT),
    row("66 8F /0", "pop r/m16", "M"),

    // Arithmetic and logic. A sign-extended imm8 row comes before the accumulator row of equal length
    // (`and ax, 0xff80` is `66 83 e0 80`, not `66 25 80 ff`), as in GNU as.
    row("66 83 /0 ib", "add r/m16, imm8", "MI"),
    row("83 /0 ib", "add r/m32, imm8", "MI"),
    row("REX.W 83 /0 ib", "add r/m64, imm8", "MI"),
    row("04 ib", "add al, imm8", "I"),
    row("66 05 iw", "add ax, imm16", "I"),
    row("05 id", "add eax, imm32", "I"),
    row("REX.W 05 id", "add rax, imm32", "I"),
    row("80 /0 ib", "add r/m8, imm8", "MI"),
    row("66 81 /0 iw", "add r/m16, imm16", "MI"),
    row("81 /0 id", "add r/m32, imm32", "MI"),
    row("REX.W 81 /0 id", "add r/m64, imm32", "MI"),
    row("00 /r", "add r/m8, r8", "MR"),
    row("66 01 /r", "add r/m16, r16", "MR"),
    row("01 /r", "add r/m32, r32", "MR"),
    row("REX.W 01 /r", "add r/m64, r64", "MR"),
    row("02 /r", "add r8, r/m8", "RM"),
    row("66 03 /r", "add r16, r/m16", "RM"),
    row("03 /r", "add r32, r/m32", "RM"),
    row("REX.W 03 /r", "add r64, r/m64", "RM"),

    row("66 83 /1 ib", "or r/m16, imm8", "MI"),
    row("83 /1 ib", "or r/m32, imm8", "MI"),
    row("REX.W 83 /1 ib", "or r/m64, imm8", "MI"),
    row("0C ib", "or al, imm8", "I"),
    row("66 0D iw", "or ax, imm16", "I"),
    row("0D id", "or eax, imm32", "I"),
    row("REX.W 0D id", "or rax, imm32", "I"),
    row("80 /1 ib", "or r/m8, imm8", "MI"),
    row("66 81 /1 iw", "or r/m16, imm16", "MI"),
    row("81 /1 id", "or r/m32, imm32", "MI"),
    row("REX.W 81 /1 id", "or r/m64, imm32", "MI"),
    row("08 /r", "or r/m8, r8", "MR"),
    row("66 09 /r", "or r/m16, r16", "MR"),
    row("09 /r", "or r/m32, r32", "MR"),
    row("REX.W 09 /r", "or r/m64, r64", "MR"),
    row("0A /r", "or r8, r/m8", "RM"),
    row("66 0B /r", "or r16, r/m16", "RM"),
    row("0B /r", "or r32, r/m32", "RM"),
    row("REX.W 0B /r", "or r64, r/m64", "RM"),

    row("66 83 /2 ib", "adc r/m16, imm8", "MI"),
    row("83 /2 ib", "adc r/m32, imm8", "MI"),
    row("REX.W 83 /2 ib", "adc r/m64, imm8", "MI"),
    row("14 ib", "adc al, imm8", "I"),
    row("66 15 iw", "adc ax, imm16", "I"),
    row("15 id", "adc eax, imm32", "I"),
    row("REX.W 15 id", "adc rax, imm32", "I"),
    row("80 /2 ib", "adc r/m8, imm8", "MI"),
    row("66 81 /2 iw", "adc r/m16, imm16", "MI"),
    row("81 /2 id", "adc r/m32, imm32", "MI"),
    row("REX.W 81 /2 id", "adc r/m64, imm32", "MI"),
    row("10 /r", "adc r/m8, r8", "MR"),
    row("66 11 /r", "adc r/m16, r16", "MR"),
    row("11 /r", "adc r/m32, r32", "MR"),
    row("REX.W 11 /r", "adc r/m64, r64", "MR"),
    row("12 /r", "adc r8, r/m8", "RM"),
    row("66 13 /r", "adc r16, r/m16", "RM"),
    row("13 /r", "adc r32, r/m32", "RM"),
    row("REX.W 13 /r", "adc r64, r/m64", "RM"),

    row("66 83 /3 ib", "sbb r/m16, imm8", "MI"),
    row("83 /3 ib", "sbb r/m32, imm8", "MI"),
    row("REX.W 83 /3 ib", "sbb r/m64, imm8", "MI"),
    row("1C ib", "sbb al, imm8", "I"),
    row("66 1D iw", "sbb ax, imm16", "I"),
    row("1D id", "sbb eax, imm32", "I"),
    row("REX.W 1D id", "sbb rax, imm32", "I"),
    row("80 /3 ib", "sbb r/m8, imm8", "MI"),
    row("66 81 /3 iw", "sbb r/m16, imm16", "MI"),
    row("81 /3 id", "sbb r/m32, imm32", "MI"),
    row("REX.W 81 /3 id", "sbb r/m64, imm32", "MI"),
    row("18 /r", "sbb r/m8, r8", "MR"),
    row("66 19 /r", "sbb r/m16, r16", "MR"),
    row("19 /r", "sbb r/m32, r32", "MR"),
    row("REX.W 19 /r", "sbb r/m64, r64", "MR"),
    row("1A /r", "sbb r8, r/m8", "RM"),
    row("66 1B /r", "sbb r16, r/m16", "RM"),
    row("1B /r", "sbb r32, r/m32", "RM"),
    row("REX.W 1B /r", "sbb r64, r/m64", "RM"),

    row("66 83 /4 ib", "and r/m16, imm8", "MI"),
    row("83 /4 ib", "and r/m32, imm8", "MI"),
    row("REX.W 83 /4 ib", "and r/m64, imm8", "MI"),
    row("24 ib", "and al, imm8", "I"),
    row("66 25 iw", "and ax, imm16", "I"),
    row("25 id", "and eax, imm32", "I"),
    row("REX.W 25 id", "and rax, imm32", "I"),
    row("80 /4 ib", "and r/m8, imm8", "MI"),
    row("66 81 /4 iw", "and r/m16, imm16", "MI"),
    row("81 /4 id", "and r/m32, imm32", "MI"),
    row("REX.W 81 /4 id", "and r/m64, imm32", "MI"),
    row("20 /r", "and r/m8, r8", "MR"),
    row("66 21 /r", "and r/m16, r16", "MR"),
    row("21 /r", "and r/m32, r32", "MR"),
    row("REX.W 21 /r", "and r/m64, r64", "MR"),
    row("22 /r", "and r8, r/m8", "RM"),
    row("66 23 /r", "and r16, r/m16", "RM"),
    row("23 /r", "and r32, r/m32", "RM"),
    row("REX.W 23 /r", "and r64, r/m64", "RM"),

    row("66 83 /5 ib", "sub r/m16, imm8", "MI"),
    row("83 /5 ib", "sub r/m32, imm8", "MI"),
    row("REX.W 83 /5 ib", "sub r/m64, imm8", "MI"),
    row("2C ib", "sub al, imm8", "I"),
    row("66 2D iw", "sub ax, imm16", "I"),
    row("2D id", "sub eax, imm32", "I"),
    row("REX.W 2D id", "sub rax, imm32", "I"),
    row("80 /5 ib", "sub r/m8, imm8", "MI"),
    row("66 81 /5 iw", "sub r/m16, imm16", "MI"),
    row("81 /5 id", "sub r/m32, imm32", "MI"),
    row("REX.W 81 /5 id", "sub r/m64, imm32", "MI"),
    row("28 /r", "sub r/m8, r8", "MR"),
    row("66 29 /r", "sub r/m16, r16", "MR"),
    row("29 /r", "sub r/m32, r32", "MR"),
    row("REX.W 29 /r", "sub r/m64, r64", "MR"),
    row("2A /r", "sub r8, r/m8", "RM"),
    row("66 2B /r", "sub r16, r/m16", "RM"),
    row("2B /r", "sub r32, r/m32", "RM"),
    row("REX.W 2B /r", "sub r64, r/m64", "RM"),

    row("66 83 /6 ib", "xor r/m16, imm8", "MI"),
    row("83 /6 ib", "xor r/m32, imm8", "MI"),
    row("REX.W 83 /6 ib", "xor r/m64, imm8", "MI"),
    row("34 ib", "xor al, imm8", "I"),
    row("66 35 iw", "xor ax, imm16", "I"),
    row("35 id", "xor eax, imm32", "I"),
    row("REX.W 35 id", "xor rax, imm32", "I"),
    row("80 /6 ib", "xor r/m8, imm8", "MI"),
    row("66 81 /6 iw", "xor r/m16, imm16", "MI"),
    row("81 /6 id", "xor r/m32, imm32", "MI"),
    row("REX.W 81 /6 id", "xor r/m64, imm32", "MI"),
    row("30 /r", "xor r/m8, r8", "MR"),
    row("66 31 /r", "xor r/m16, r16", "MR"),
    row("31 /r", "xor r/m32, r32", "MR"),
    row("REX.W 31 /r", "xor r/m64, r64", "MR"),
    row("32 /r", "xor r8, r/m8", "RM"),
    row("66 33 /r", "xor r16, r/m16", "RM"),
    row("33 /r", "xor r32, r/m32", "RM"),
    row("REX.W 33 /r", "xor r64, r/m64", "RM"),

    row("66 83 /7 ib", "cmp r/m16, imm8", "MI"),
    row("83 /7 ib", "cmp r/m32, imm8", "MI"),
    row("REX.W 83 /7 ib", "cmp r/m64, imm8", "MI"),
    row("3C ib", "cmp al, imm8", "I"),
    row("66 3D iw", "cmp ax, imm16", "I"),
    row("3D id", "cmp eax, imm32", "I"),
    row("REX.W 3D id", "cmp rax, imm32", "I"),
    row("80 /7 ib", "cmp r/m8, imm8", "MI"),
    row("66 81 /7 iw", "cmp r/m16, imm16", "MI"),
    row("81 /7 id", "cmp r/m32, imm32", "MI"),
    row("REX.W 81 /7 id", "cmp r/m64, imm32", "MI"),
    row("38 /r", "cmp r/m8, r8", "MR"),
    row("66 39 /r", "cmp r/m16, r16", "MR"),
    row("39 /r", "cmp r/m32, r32", "MR"),
    row("REX.W 39 /r", "cmp r/m64, r64", "MR"),
    row("3A /r", "cmp r8, r/m8", "RM"),
    row("66 3B /r", "cmp r16, r/m16", "RM"),
    row("3B /r", "cmp r32, r/m32", "RM"),
    row("REX.W 3B /r", "cmp r64, r/m64", "RM"),

    row("D0 /0", "rol r/m8, 1", "M1"),
    row("D2 /0", "rol r/m8, cl", "MC"),
    row_with("C0 /0 ib", "rol r/m8, imm8", "MI", COUNT),
    row("66 D1 /0", "rol r/m16, 1", "M1"),
    row("66 D3 /0", "rol r/m16, cl", "MC"),
    row_with("66 C1 /0 ib", "rol r/m16, imm8", "MI", COUNT),
    row("D1 /0", "rol r/m32, 1", "M1"),
    row("D3 /0", "rol r/m32, cl", "MC"),
    row_with("C1 /0 ib", "rol r/m32, imm8", "MI", COUNT),
    row("REX.W D1 /0", "rol r/m64, 1", "M1"),
    row("REX.W D3 /0", "rol r/m64, cl", "MC"),
    row_with("REX.W C1 /0 ib", "rol r/m64, imm8", "MI", COUNT),

    row("D0 /1", "ror r/m8, 1", "M1"),
    row("D2 /1", "ror r/m8, cl", "MC"),
    row_with("C0 /1 ib", "ror r/m8, imm8", "MI", COUNT),
    row("66 D1 /1", "ror r/m16, 1", "M1"),
    row("66 D3 /1", "ror r/m16, cl", "MC"),
    row_with("66 C1 /1 ib", "ror r/m16, imm8", "MI", COUNT),
    row("D1 /1", "ror r/m32, 1", "M1"),
    row("D3 /1", "ror r/m32, cl", "MC"),
    row_with("C1 /1 ib", "ror r/m32, imm8", "MI", COUNT),
    row("REX.W D1 /1", "ror r/m64, 1", "M1"),
    row("REX.W D3 /1", "ror r/m64, cl", "MC"),
    row_with("REX.W C1 /1 ib", "ror r/m64, imm8", "MI", COUNT),

    row("D0 /2", "rcl r/m8, 1", "M1"),
    row("D2 /2", "rcl r/m8, cl", "MC"),
    row_with("C0 /2 ib", "rcl r/m8, imm8", "MI", COUNT),
    row("66 D1 /2", "rcl r/m16, 1", "M1"),
    row("66 D3 /2", "rcl r/m16, cl", "MC"),
    row_with("66 C1 /2 ib", "rcl r/m16, imm8", "MI", COUNT),
    row("D1 /2", "rcl r/m32, 1", "M1"),
    row("D3 /2", "rcl r/m32, cl", "MC"),
    row_with("C1 /2 ib", "rcl r/m32, imm8", "MI", COUNT),
    row("REX.W D1 /2", "rcl r/m64, 1", "M1"),
    row("REX.W D3 /2", "rcl r/m64, cl", "MC"),
    row_with("REX.W C1 /2 ib", "rcl r/m64, imm8", "MI", COUNT),

    row("D0 /3", "rcr r/m8, 1", "M1"),
    row("D2 /3", "rcr r/m8, cl", "MC"),
    row_with("C0 /3 ib", "rcr r/m8, imm8", "MI", COUNT),
    row("66 D1 /3", "rcr r/m16, 1", "M1"),
    row("66 D3 /3", "rcr r/m16, cl", "MC"),
    row_with("66 C1 /3 ib", "rcr r/m16, imm8", "MI", COUNT),
    row("D1 /3", "rcr r/m32, 1", "M1"),
    row("D3 /3", "rcr r/m32, cl", "MC"),
    row_with("C1 /3 ib", "rcr r/m32, imm8", "MI", COUNT),
    row("REX.W D1 /3", "rcr r/m64, 1", "M1"),
    row("REX.W D3 /3", "rcr r/m64, cl", "MC"),
    row_with("REX.W C1 /3 ib", "rcr r/m64, imm8", "MI", COUNT),

    row("D0 /4", "shl r/m8, 1", "M1"),
    row("D2 /4", "shl r/m8, cl", "MC"),
    row_with("C0 /4 ib", "shl r/m8, imm8", "MI", COUNT),
    row("66 D1 /4", "shl r/m16, 1", "M1"),
    row("66 D3 /4", "shl r/m16, cl", "MC"),
    row_with("66 C1 /4 ib", "shl r/m16, imm8", "MI", COUNT),
    row("D1 /4", "shl r/m32, 1", "M1"),
    row("D3 /4", "shl r/m32, cl", "MC"),
    row_with("C1 /4 ib", "shl r/m32, imm8", "MI", COUNT),
    row("REX.W D1 /4", "shl r/m64, 1", "M1"),
    row("REX.W D3 /4", "shl r/m64, cl", "MC"),
    row_with("REX.W C1 /4 ib", "shl r/m64, imm8", "MI", COUNT),

    row("D0 /4", "sal r/m8, 1", "M1"),
    row("D2 /4", "sal r/m8, cl", "MC"),
    row_with("C0 /4 ib", "sal r/m8, imm8", "MI", COUNT),
    row("66 D1 /4", "sal r/m16, 1", "M1"),
    row("66 D3 /4", "sal r/m16, cl", "MC"),
    row_with("66 C1 /4 ib", "sal r/m16, imm8", "MI", COUNT),
    row("D1 /4", "sal r/m32, 1", "M1"),
    row("D3 /4", "sal r/m32, cl", "MC"),
    row_with("C1 /4 ib", "sal r/m32, imm8", "MI", COUNT),
    row("REX.W D1 /4", "sal r/m64, 1", "M1"),
    row("REX.W D3 /4", "sal r/m64, cl", "MC"),
    row_with("REX.W C1 /4 ib", "sal r/m64, imm8", "MI", COUNT),

    row("D0 /5", "shr r/m8, 1", "M1"),
    row("D2 /5", "shr r/m8, cl", "MC"),
    row_with("C0 /5 ib", "shr r/m8, imm8", "MI", COUNT),
    row("66 D1 /5", "shr r/m16, 1", "M1"),
    row("66 D3 /5", "shr r/m16, cl", "MC"),
    row_with("66 C1 /5 ib", "shr r/m16, imm8", "MI", COUNT),
    row("D1 /5", "shr r/m32, 1", "M1"),
    row("D3 /5", "shr r/m32, cl", "MC"),
    row_with("C1 /5 ib", "shr r/m32, imm8", "MI", COUNT),
    row("REX.W D1 /5", "shr r/m64, 1", "M1"),
    row("REX.W D3 /5", "shr r/m64, cl", "MC"),
    row_with("REX.W C1 /5 ib", "shr r/m64, imm8", "MI", COUNT),

    row("D0 /7", "sar r/m8, 1", "M1"),
    row("D2 /7", "sar r/m8, cl", "MC"),
    row_with("C0 /7 ib", "sar r/m8, imm8", "MI", COUNT),
    row("66 D1 /7", "sar r/m16, 1", "M1"),
    row("66 D3 /7", "sar r/m16, cl", "MC"),
    row_with("66 C1 /7 ib", "sar r/m16, imm8", "MI", COUNT),
    row("D1 /7", "sar r/m32, 1", "M1"),
    row("D3 /7", "sar r/m32, cl", "MC"),
    row_with("C1 /7 ib", "sar r/m32, imm8", "MI", COUNT),
    row("REX.W D1 /7", "sar r/m64, 1", "M1"),
    row("REX.W D3 /7", "sar r/m64, cl", "MC"),
    row_with("REX.W C1 /7 ib", "sar r/m64, imm8", "MI", COUNT),

    // A shift or rotate without a count shifts by one, as with `1`.
    row("D0 /0", "rol r/m8", "M"),
    row("66 D1 /0", "rol r/m16", "M"),
    row("D1 /0", "rol r/m32", "M"),
    row("REX.W D1 /0", "rol r/m64", "M"),
    row("D0 /1", "ror r/m8", "M"),
    row("66 D1 /1", "ror r/m16", "M"),
    row("D1 /1", "ror r/m32", "M"),
    row("REX.W D1 /1", "ror r/m64", "M"),
    row("D0 /2", "rcl r/m8", "M"),
    row("66 D1 /2", "rcl r/m16", "M"),
    row("D1 /2", "rcl r/m32", "M"),
    row("REX.W D1 /2", "rcl r/m64", "M"),
    row("D0 /3", "rcr r/m8", "M"),
    row("66 D1 /3", "rcr r/m16", "M"),
    row("D1 /3", "rcr r/m32", "M"),
    row("REX.W D1 /3", "rcr r/m64", "M"),
    row("D0 /4", "shl r/m8", "M"),
    row("66 D1 /4", "shl r/m16", "M"),
    row("D1 /4", "shl r/m32", "M"),
    row("REX.W D1 /4", "shl r/m64", "M"),
    row("D0 /4", "sal r/m8", "M"),
    row("66 D1 /4", "sal r/m16", "M"),
    row("D1 /4", "sal r/m32", "M"),
    row("REX.W D1 /4", "sal r/m64", "M"),
    row("D0 /5", "shr r/m8", "M"),
    row("66 D1 /5", "shr r/m16", "M"),
    row("D1 /5", "shr r/m32", "M"),
    row("REX.W D1 /5", "shr r/m64", "M"),
    row("D0 /7", "sar r/m8", "M"),
    row("66 D1 /7", "sar r/m16", "M"),
    row("D1 /7", "sar r/m32", "M"),
    row("REX.W D1 /7", "sar r/m64", "M"),

    row("FE /0", "inc r/m8", "M"),
    row("66 FF /0", "inc r/m16", "M"),
    row("FF /0", "inc r/m32", "M"),
    row("REX.W FF /0", "inc r/m64", "M"),

    row("FE /1", "dec r/m8", "M"),
    row("66 FF /1", "dec r/m16", "M"),
    row("FF /1", "dec r/m32", "M"),
    row("REX.W FF /1", "dec r/m64", "M"),

    row("F6 /2", "not r/m8", "M"),
    row("66 F7 /2", "not r/m16", "M"),
    row("F7 /2", "not r/m32", "M"),
    row("REX.W F7 /2", "not r/m64", "M"),

    row("F6 /3", "neg r/m8", "M"),
    row("66 F7 /3", "neg r/m16", "M"),
    row("F7 /3", "neg r/m32", "M"),
    row("REX.W F7 /3", "neg r/m64", "M"),

    row("F6 /4", "mul r/m8", "M"),
    row("66 F7 /4", "mul r/m16", "M"),
    row("F7 /4", "mul r/m32", "M"),
    row("REX.W F7 /4", "mul r/m64", "M"),

    row("F6 /5", "imul r/m8", "M"),
    row("66 F7 /5", "imul r/m16", "M"),
    row("F7 /5", "imul r/m32", "M"),
    row("REX.W F7 /5", "imul r/m64", "M"),

    row("F6 /6", "div r/m8", "M"),
    row("66 F7 /6", "div r/m16", "M"),
    row("F7 /6", "div r/m32", "M"),
    row("REX.W F7 /6", "div r/m64", "M"),

    row("F6 /7", "idiv r/m8", "M"),
    row("66 F7 /7", "idiv r/m16", "M"),
    row("F7 /7", "idiv r/m32", "M"),
    row("REX.W F7 /7", "idiv r/m64", "M"),

    row("66 0F A3 /r", "bt r/m16, r16", "MR"),
    row("0F A3 /r", "bt r/m32, r32", "MR"),
    row("REX.W 0F A3 /r", "bt r/m64, r64", "MR"),
    row_with("66 0F BA /4 ib", "bt r/m16, imm8", "MI", COUNT),
    row_with("0F BA /4 ib", "bt r/m32, imm8", "MI", COUNT),
    row_with("REX.W 0F BA /4 ib", "bt r/m64, imm8", "MI", COUNT),

    row("66 0F AB /r", "bts r/m16, r16", "MR"),
    row("0F AB /r", "bts r/m32, r32", "MR"),
    row("REX.W 0F AB /r", "bts r/m64, r64", "MR"),
    row_with("66 0F BA /5 ib", "bts r/m16, imm8", "MI", COUNT),
    row_with("0F BA /5 ib", "bts r/m32, imm8", "MI", COUNT),
    row_with("REX.W 0F BA /5 ib", "bts r/m64, imm8", "MI", COUNT),

    row("66 0F B3 /r", "btr r/m16, r16", "MR"),
    row("0F B3 /r", "btr r/m32, r32", "MR"),
    row("REX.W 0F B3 /r", "btr r/m64, r64", "MR"),
    row_with("66 0F BA /6 ib", "btr r/m16, imm8", "MI", COUNT),
    row_with("0F BA /6 ib", "btr r/m32, imm8", "MI", COUNT),
    row_with("REX.W 0F BA /6 ib", "btr r/m64, imm8", "MI", COUNT),

    row("66 0F BB /r", "btc r/m16, r16", "MR"),
    row("0F BB /r", "btc r/m32, r32", "MR"),
    row("REX.W 0F BB /r", "btc r/m64, r64", "MR"),
    row_with("66 0F BA /7 ib", "btc r/m16, imm8", "MI", COUNT),
    row_with("0F BA /7 ib", "btc r/m32, imm8", "MI", COUNT),
    row_with("REX.W 0F BA /7 ib", "btc r/m64, imm8", "MI", COUNT),

    row("66 0F BC /r", "bsf r16, r/m16", "RM"),
    row("0F BC /r", "bsf r32, r/m32", "RM"),
    row("REX.W 0F BC /r", "bsf r64, r/m64", "RM"),

    row("66 0F BD /r", "bsr r16, r/m16", "RM"),
    row("0F BD /r", "bsr r32, r/m32", "RM"),
    row("REX.W 0F BD /r", "bsr r64, r/m64", "RM"),

    row("66 F3 0F B8 /r", "popcnt r16, r/m16", "RM"),
    row("F3 0F B8 /r", "popcnt r32, r/m32", "RM"),
    row("F3 REX.W 0F B8 /r", "popcnt r64, r/m64", "RM"),

    row("66 F3 0F BD /r", "lzcnt r16, r/m16", "RM"),
    row("F3 0F BD /r", "lzcnt r32, r/m32", "RM"),
    row("F3 REX.W 0F BD /r", "lzcnt r64, r/m64", "RM"),

    row("66 F3 0F BC /r", "tzcnt r16, r/m16", "RM"),
    row("F3 0F BC /r", "tzcnt r32, r/m32", "RM"),
    row("F3 REX.W 0F BC /r", "tzcnt r64, r/m64", "RM"),

    row("A8 ib", "test al, imm8", "I"),
    row("66 A9 iw", "test ax, imm16", "I"),
    row("A9 id", "test eax, imm32", "I"),
    row("REX.W A9 id", "test rax, imm32", "I"),
    row("F6 /0 ib", "test r/m8, imm8", "MI"),
    row("66 F7 /0 iw", "test r/m16, imm16", "MI"),
    row("F7 /0 id", "test r/m32, imm32", "MI"),
    row("REX.W F7 /0 id", "test r/m64, imm32", "MI"),
    row("84 /r", "test r/m8, r8", "MR"),
    row("66 85 /r", "test r/m16, r16", "MR"),
    row("85 /r", "test r/m32, r32", "MR"),
    row("REX.W 85 /r", "test r/m64, r64", "MR"),
    // GNU as also takes the register first when the other operand is memory.
    row("84 /r", "test r8, m8", "RM"),
    row("66 85 /r", "test r16, m16", "RM"),
    row("85 /r", "test r32, m32", "RM"),
    row("REX.W 85 /r", "test r64, m64", "RM"),

    row("66 0F AF /r", "imul r16, r/m16", "RM"),
    row("0F AF /r", "imul r32, r/m32", "RM"),
    row("REX.W 0F AF /r", "imul r64, r/m64", "RM"),
    row("66 6B /r ib", "imul r16, r/m16, imm8", "RMI"),
    row("66 69 /r iw", "imul r16, r/m16, imm16", "RMI"),
    row("6B /r ib", "imul r32, r/m32, imm8", "RMI"),
    row("69 /r id", "imul r32, r/m32, imm32", "RMI"),
    row("REX.W 6B /r ib", "imul r64, r/m64, imm8", "RMI"),
    row("REX.W 69 /r id", "imul r64, r/m64, imm32", "RMI"),
    row("66 6B /r ib", "imul r16, imm8", "RI"),
    row("66 69 /r iw", "imul r16, imm16", "RI"),
    row("6B /r ib", "imul r32, imm8", "RI"),
    row("69 /r id", "imul r32, imm32", "RI"),
    row("REX.W 6B /r ib", "imul r64, imm8", "RI"),
    row("REX.W 69 /r id", "imul r64, imm32", "RI"),

    row("0F C8+r", "bswap r32", "O"),
    row("REX.W 0F C8+r", "bswap r64", "O"),

    // Conditions.
    row("66 0F 40+cc /r", "cmovcc r16, r/m16", "RM"),
    row("0F 40+cc /r", "cmovcc r32, r/m32", "RM"),
    row("REX.W 0F 40+cc /r", "cmovcc r64, r/m64", "RM"),
    row("0F 90+cc /0", "setcc r/m8", "M"),

    // Control flow. Jumps to labels start as rel8 and grow to rel32 when the target is out of reach.
    row("70+cc cb", "jcc rel8", "D"),
    row("0F 80+cc cd", "jcc rel32", "D"),
    row("EB cb", "jmp rel8", "D"),
    row("E9 cd", "jmp rel32", "D"),
    row_with("FF /4", "jmp r/m64", "M", DEFAULT),
    row("E8 cd", "call rel32", "D"),
    row_with("FF /2", "call r/m64", "M", DEFAULT),
    row("C3", "ret", "ZO"),
    row_with("C2 iw", "ret imm16", "I", COUNT),
    row("C9", "leave", "ZO"),

    // Miscellaneous.
    row("90", "nop", "ZO"),
    row("66 0F 1F /0", "nop r/m16", "M"),
    row("0F 1F /0", "nop r/m32", "M"),
    row("REX.W 0F 1F /0", "nop r/m64", "M"),
    row("CC", "int3", "ZO"),
    row("0F 0B", "ud2", "ZO"),
    row("66 98", "cbw", "ZO"),
    row("98", "cwde", "ZO"),
    row("REX.W 98", "cdqe", "ZO"),
    row("66 99", "cwd", "ZO"),
    row("99", "cdq", "ZO"),
    row("REX.W 99", "cqo", "ZO"),
    row("9C", "pushfq", "ZO"),
    row("9D", "popfq", "ZO"),
    row("9C", "pushf", "ZO"),
    row("9D", "popf", "ZO"),
    row("F8", "clc", "ZO"),
    row("F9", "stc", "ZO"),
    row("F5", "cmc", "ZO"),
    row("FC", "cld", "ZO"),
    row("FD", "std", "ZO"),

    row("F3 90", "pause", "ZO"),
    row("F4", "hlt", "ZO"),
    // GNU as writes `int 3` as the breakpoint `CC` (`int3`).
    row("CC", "int 3", "ZO"),
    row_with("CD ib", "int imm8", "I", COUNT),
    row("F3 0F 1E FA", "endbr64", "ZO"),

    // Atomics (with `lock`), and moves with a byte swap.
    row("0F C0 /r", "xadd r/m8, r8", "MR"),
    row("66 0F C1 /r", "xadd r/m16, r16", "MR"),
    row("0F C1 /r", "xadd r/m32, r32", "MR"),
    row("REX.W 0F C1 /r", "xadd r/m64, r64", "MR"),
    row("0F B0 /r", "cmpxchg r/m8, r8", "MR"),
    row("66 0F B1 /r", "cmpxchg r/m16, r16", "MR"),
    row("0F B1 /r", "cmpxchg r/m32, r32", "MR"),
    row("REX.W 0F B1 /r", "cmpxchg r/m64, r64", "MR"),
    row("0F C7 /1", "cmpxchg8b m64", "M"),
    row("REX.W 0F C7 /1", "cmpxchg16b m128", "M"),
    row("66 0F 38 F0 /r", "movbe r16, m16", "RM"),
    row("0F 38 F0 /r", "movbe r32, m32", "RM"),
    row("REX.W 0F 38 F0 /r", "movbe r64, m64", "RM"),
    row("66 0F 38 F1 /r", "movbe m16, r16", "MR"),
    row("0F 38 F1 /r", "movbe m32, r32", "MR"),
    row("REX.W 0F 38 F1 /r", "movbe m64, r64", "MR"),

    // String instructions: `rsi`/`rdi` and the direction flag are implicit; `rep`, `repe`, `repne` before them
    // repeat them `rcx` times.
    row("A4", "movsb", "ZO"),
    row("66 A5", "movsw", "ZO"),
    row("A5", "movsd", "ZO"),
    row("REX.W A5", "movsq", "ZO"),
    row("A6", "cmpsb", "ZO"),
    row("66 A7", "cmpsw", "ZO"),
    row("A7", "cmpsd", "ZO"),
    row("REX.W A7", "cmpsq", "ZO"),
    row("AA", "stosb", "ZO"),
    row("66 AB", "stosw", "ZO"),
    row("AB", "stosd", "ZO"),
    row("REX.W AB", "stosq", "ZO"),
    row("AC", "lodsb", "ZO"),
    row("66 AD", "lodsw", "ZO"),
    row("AD", "lodsd", "ZO"),
    row("REX.W AD", "lodsq", "ZO"),
    row("AE", "scasb", "ZO"),
    row("66 AF", "scasw", "ZO"),
    row("AF", "scasd", "ZO"),
    row("REX.W AF", "scasq", "ZO"),
    // A prefix alone on its line is its byte; before an instruction, the parser takes it and `select_form`
    // checks that the instruction can have it.
    row("F0", "lock", "ZO"),
    row("F3", "rep", "ZO"),
    row("F3", "repe", "ZO"),
    row("F3", "repz", "ZO"),
    row("F2", "repne", "ZO"),
    row("F2", "repnz", "ZO"),

    // Double shifts.
    row_with("66 0F A4 /r ib", "shld r/m16, r16, imm8", "MRI", COUNT),
    row_with("0F A4 /r ib", "shld r/m32, r32, imm8", "MRI", COUNT),
    row_with("REX.W 0F A4 /r ib", "shld r/m64, r64, imm8", "MRI", COUNT),
    row("66 0F A5 /r", "shld r/m16, r16, cl", "MRC"),
    row("0F A5 /r", "shld r/m32, r32, cl", "MRC"),
    row("REX.W 0F A5 /r", "shld r/m64, r64, cl", "MRC"),
    row_with("66 0F AC /r ib", "shrd r/m16, r16, imm8", "MRI", COUNT),
    row_with("0F AC /r ib", "shrd r/m32, r32, imm8", "MRI", COUNT),
    row_with("REX.W 0F AC /r ib", "shrd r/m64, r64, imm8", "MRI", COUNT),
    row("66 0F AD /r", "shrd r/m16, r16, cl", "MRC"),
    row("0F AD /r", "shrd r/m32, r32, cl", "MRC"),
    row("REX.W 0F AD /r", "shrd r/m64, r64, cl", "MRC"),

    // Checksums, carry chains (ADX) and random numbers.
    row("F2 0F 38 F0 /r", "crc32 r32, r/m8", "RM"),
    row("66 F2 0F 38 F1 /r", "crc32 r32, r/m16", "RM"),
    row("F2 0F 38 F1 /r", "crc32 r32, r/m32", "RM"),
    row("F2 REX.W 0F 38 F0 /r", "crc32 r64, r/m8", "RM"),
    row("F2 REX.W 0F 38 F1 /r", "crc32 r64, r/m64", "RM"),
    row("66 0F 38 F6 /r", "adcx r32, r/m32", "RM"),
    row("66 REX.W 0F 38 F6 /r", "adcx r64, r/m64", "RM"),
    row("F3 0F 38 F6 /r", "adox r32, r/m32", "RM"),
    row("F3 REX.W 0F 38 F6 /r", "adox r64, r/m64", "RM"),
    row("66 0F C7 /6", "rdrand r16", "M"),
    row("0F C7 /6", "rdrand r32", "M"),
    row("REX.W 0F C7 /6", "rdrand r64", "M"),
    row("66 0F C7 /7", "rdseed r16", "M"),
    row("0F C7 /7", "rdseed r32", "M"),
    row("REX.W 0F C7 /7", "rdseed r64", "M"),

    // BMI1 and BMI2: three-operand bit manipulation, VEX-encoded.
    row("VEX.LZ.0F38.W0 F2 /r", "andn r32, r32, r/m32", "RVM"),
    row("VEX.LZ.0F38.W1 F2 /r", "andn r64, r64, r/m64", "RVM"),
    row("VEX.LZ.0F38.W0 F7 /r", "bextr r32, r/m32, r32", "RMV"),
    row("VEX.LZ.0F38.W1 F7 /r", "bextr r64, r/m64, r64", "RMV"),
    row("VEX.LZ.0F38.W0 F3 /3", "blsi r32, r/m32", "VM"),
    row("VEX.LZ.0F38.W1 F3 /3", "blsi r64, r/m64", "VM"),
    row("VEX.LZ.0F38.W0 F3 /2", "blsmsk r32, r/m32", "VM"),
    row("VEX.LZ.0F38.W1 F3 /2", "blsmsk r64, r/m64", "VM"),
    row("VEX.LZ.0F38.W0 F3 /1", "blsr r32, r/m32", "VM"),
    row("VEX.LZ.0F38.W1 F3 /1", "blsr r64, r/m64", "VM"),
    row("VEX.LZ.0F38.W0 F5 /r", "bzhi r32, r/m32, r32", "RMV"),
    row("VEX.LZ.0F38.W1 F5 /r", "bzhi r64, r/m64, r64", "RMV"),
    row("VEX.LZ.F2.0F38.W0 F6 /r", "mulx r32, r32, r/m32", "RVM"),
    row("VEX.LZ.F2.0F38.W1 F6 /r", "mulx r64, r64, r/m64", "RVM"),
    row("VEX.LZ.F2.0F38.W0 F5 /r", "pdep r32, r32, r/m32", "RVM"),
    row("VEX.LZ.F2.0F38.W1 F5 /r", "pdep r64, r64, r/m64", "RVM"),
    row("VEX.LZ.F3.0F38.W0 F5 /r", "pext r32, r32, r/m32", "RVM"),
    row("VEX.LZ.F3.0F38.W1 F5 /r", "pext r64, r64, r/m64", "RVM"),
    row("VEX.LZ.F3.0F38.W0 F7 /r", "sarx r32, r/m32, r32", "RMV"),
    row("VEX.LZ.F3.0F38.W1 F7 /r", "sarx r64, r/m64, r64", "RMV"),
    row("VEX.LZ.66.0F38.W0 F7 /r", "shlx r32, r/m32, r32", "RMV"),
    row("VEX.LZ.66.0F38.W1 F7 /r", "shlx r64, r/m64, r64", "RMV"),
    row("VEX.LZ.F2.0F38.W0 F7 /r", "shrx r32, r/m32, r32", "RMV"),
    row("VEX.LZ.F2.0F38.W1 F7 /r", "shrx r64, r/m64, r64", "RMV"),
    row_with("VEX.LZ.F2.0F3A.W0 F0 /r ib", "rorx r32, r/m32, imm8", "RMI", COUNT),
    row_with("VEX.LZ.F2.0F3A.W1 F0 /r ib", "rorx r64, r/m64, imm8", "RMI", COUNT),

    // System: calls into the kernel, the processor's identity and clocks, fences, caches.
    row("0F 05", "syscall", "ZO"),
    row("0F A2", "cpuid", "ZO"),
    row("0F 31", "rdtsc", "ZO"),
    row("0F 01 F9", "rdtscp", "ZO"),
    row("0F 01 D0", "xgetbv", "ZO"),
    row("0F AE E8", "lfence", "ZO"),
    row("0F AE F0", "mfence", "ZO"),
    row("0F AE F8", "sfence", "ZO"),
    row("0F 18 /1", "prefetcht0 m", "M"),
    row("0F 18 /2", "prefetcht1 m", "M"),
    row("0F 18 /3", "prefetcht2 m", "M"),
    row("0F 18 /0", "prefetchnta m", "M"),
    row("0F AE /7", "clflush m", "M"),

    // SSE2 scalar floating point.
    row("F2 0F 10 /r", "movsd xmm, xmm/m64", "RM"),
    row("F2 0F 11 /r", "movsd xmm/m64, xmm", "MR"),
    row("F3 0F 10 /r", "movss xmm, xmm/m32", "RM"),
    row("F3 0F 11 /r", "movss xmm/m32, xmm", "MR"),
    row("F3 0F 7E /r", "movq xmm, xmm/m64", "RM"),
    row("66 0F D6 /r", "movq xmm/m64, xmm", "MR"),
    row("66 REX.W 0F 6E /r", "movq xmm, r/m64", "RM"),
    row("66 REX.W 0F 7E /r", "movq r/m64, xmm", "MR"),
    row("66 0F 6E /r", "movd xmm, r/m32", "RM"),
    row("66 0F 7E /r", "movd r/m32, xmm", "MR"),
    row("66 REX.W 0F 6E /r", "movd xmm, r/m64", "RM"),
    row("66 REX.W 0F 7E /r", "movd r/m64, xmm", "MR"),
    row("F2 0F 58 /r", "addsd xmm, xmm/m64", "RM"),
    row("F2 0F 5C /r", "subsd xmm, xmm/m64", "RM"),
    row("F2 0F 59 /r", "mulsd xmm, xmm/m64", "RM"),
    row("F2 0F 5E /r", "divsd xmm, xmm/m64", "RM"),
    row("F2 0F 51 /r", "sqrtsd xmm, xmm/m64", "RM"),
    row("F2 0F 5D /r", "minsd xmm, xmm/m64", "RM"),
    row("F2 0F 5F /r", "maxsd xmm, xmm/m64", "RM"),
    row("F3 0F 58 /r", "addss xmm, xmm/m32", "RM"),
    row("F3 0F 5C /r", "subss xmm, xmm/m32", "RM"),
    row("F3 0F 59 /r", "mulss xmm, xmm/m32", "RM"),
    row("F3 0F 5E /r", "divss xmm, xmm/m32", "RM"),
    row("F3 0F 51 /r", "sqrtss xmm, xmm/m32", "RM"),
    row("F3 0F 5D /r", "minss xmm, xmm/m32", "RM"),
    row("F3 0F 5F /r", "maxss xmm, xmm/m32", "RM"),
    row("F2 0F 2A /r", "cvtsi2sd xmm, r/m32", "RM"),
    row("F2 REX.W 0F 2A /r", "cvtsi2sd xmm, r/m64", "RM"),
    row("F3 0F 2A /r", "cvtsi2ss xmm, r/m32", "RM"),
    row("F3 REX.W 0F 2A /r", "cvtsi2ss xmm, r/m64", "RM"),
    row("F2 0F 2C /r", "cvttsd2si r32, xmm/m64", "RM"),
    row("F2 REX.W 0F 2C /r", "cvttsd2si r64, xmm/m64", "RM"),
    row("F3 0F 2C /r", "cvttss2si r32, xmm/m32", "RM"),
    row("F3 REX.W 0F 2C /r", "cvttss2si r64, xmm/m32", "RM"),
    row("F2 0F 5A /r", "cvtsd2ss xmm, xmm/m64", "RM"),
    row("F3 0F 5A /r", "cvtss2sd xmm, xmm/m32", "RM"),
    row("66 0F 2E /r", "ucomisd xmm, xmm/m64", "RM"),
    row("0F 2E /r", "ucomiss xmm, xmm/m32", "RM"),
    row("66 0F 2F /r", "comisd xmm, xmm/m64", "RM"),
    row("0F 2F /r", "comiss xmm, xmm/m32", "RM"),
    row("66 0F 57 /r", "xorpd xmm, xmm/m128", "RM"),
    row("66 0F 54 /r", "andpd xmm, xmm/m128", "RM"),
    row("66 0F EF /r", "pxor xmm, xmm/m128", "RM"),
    row("0F 10 /r", "movups xmm, xmm/m128", "RM"),
    row("0F 11 /r", "movups xmm/m128, xmm", "MR"),

    // SSE and SSE2 packed: moves (aligned, unaligned, non-temporal), float and integer arithmetic, logic,
    // compares, shuffles, packs and unpacks, shifts and conversions. Register-to-register moves take the load form,
    // as GNU as does.
    row("0F 28 /r", "movaps xmm, xmm/m128", "RM"),
    row("0F 29 /r", "movaps xmm/m128, xmm", "MR"),
    row("66 0F 28 /r", "movapd xmm, xmm/m128", "RM"),
    row("66 0F 29 /r", "movapd xmm/m128, xmm", "MR"),
    row("66 0F 6F /r", "movdqa xmm, xmm/m128", "RM"),
    row("66 0F 7F /r", "movdqa xmm/m128, xmm", "MR"),
    row("F3 0F 6F /r", "movdqu xmm, xmm/m128", "RM"),
    row("F3 0F 7F /r", "movdqu xmm/m128, xmm", "MR"),
    row("66 0F 10 /r", "movupd xmm, xmm/m128", "RM"),
    row("66 0F 11 /r", "movupd xmm/m128, xmm", "MR"),
    row("0F 2B /r", "movntps m128, xmm", "MR"),
    row("66 0F 2B /r", "movntpd m128, xmm", "MR"),
    row("66 0F E7 /r", "movntdq m128, xmm", "MR"),
    row("0F 58 /r", "addps xmm, xmm/m128", "RM"),
    row("66 0F 58 /r", "addpd xmm, xmm/m128", "RM"),
    row("0F 59 /r", "mulps xmm, xmm/m128", "RM"),
    row("66 0F 59 /r", "mulpd xmm, xmm/m128", "RM"),
    row("0F 5C /r", "subps xmm, xmm/m128", "RM"),
    row("66 0F 5C /r", "subpd xmm, xmm/m128", "RM"),
    row("0F 5D /r", "minps xmm, xmm/m128", "RM"),
    row("66 0F 5D /r", "minpd xmm, xmm/m128", "RM"),
    row("0F 5E /r", "divps xmm, xmm/m128", "RM"),
    row("66 0F 5E /r", "divpd xmm, xmm/m128", "RM"),
    row("0F 5F /r", "maxps xmm, xmm/m128", "RM"),
    row("66 0F 5F /r", "maxpd xmm, xmm/m128", "RM"),
    row("0F 51 /r", "sqrtps xmm, xmm/m128", "RM"),
    row("66 0F 51 /r", "sqrtpd xmm, xmm/m128", "RM"),
    row("0F 54 /r", "andps xmm, xmm/m128", "RM"),
    row("0F 55 /r", "andnps xmm, xmm/m128", "RM"),
    row("66 0F 55 /r", "andnpd xmm, xmm/m128", "RM"),
    row("0F 56 /r", "orps xmm, xmm/m128", "RM"),
    row("66 0F 56 /r", "orpd xmm, xmm/m128", "RM"),
    row("0F 57 /r", "xorps xmm, xmm/m128", "RM"),
    row("0F 14 /r", "unpcklps xmm, xmm/m128", "RM"),
    row("66 0F 14 /r", "unpcklpd xmm, xmm/m128", "RM"),
    row("0F 15 /r", "unpckhps xmm, xmm/m128", "RM"),
    row("66 0F 15 /r", "unpckhpd xmm, xmm/m128", "RM"),
    row("0F 53 /r", "rcpps xmm, xmm/m128", "RM"),
    row("0F 52 /r", "rsqrtps xmm, xmm/m128", "RM"),
    row_with("0F C6 /r ib", "shufps xmm, xmm/m128, imm8", "RMI", COUNT),
    row_with("66 0F C6 /r ib", "shufpd xmm, xmm/m128, imm8", "RMI", COUNT),
    row_with("0F C2 /r ib", "cmpps xmm, xmm/m128, imm8", "RMI", COUNT),
    row_with("66 0F C2 /r ib", "cmppd xmm, xmm/m128, imm8", "RMI", COUNT),
    row("0F 50 /r", "movmskps r32, xmm", "RM"),
    row("0F 50 /r", "movmskps r64, xmm", "RM"),
    row("66 0F 50 /r", "movmskpd r32, xmm", "RM"),
    row("66 0F 50 /r", "movmskpd r64, xmm", "RM"),
    row("66 0F FC /r", "paddb xmm, xmm/m128", "RM"),
    row("66 0F FD /r", "paddw xmm, xmm/m128", "RM"),
    row("66 0F FE /r", "paddd xmm, xmm/m128", "RM"),
    row("66 0F D4 /r", "paddq xmm, xmm/m128", "RM"),
    row("66 0F F8 /r", "psubb xmm, xmm/m128", "RM"),
    row("66 0F F9 /r", "psubw xmm, xmm/m128", "RM"),
    row("66 0F FA /r", "psubd xmm, xmm/m128", "RM"),
    row("66 0F FB /r", "psubq xmm, xmm/m128", "RM"),
    row("66 0F EC /r", "paddsb xmm, xmm/m128", "RM"),
    row("66 0F ED /r", "paddsw xmm, xmm/m128", "RM"),
    row("66 0F DC /r", "paddusb xmm, xmm/m128", "RM"),
    row("66 0F DD /r", "paddusw xmm, xmm/m128", "RM"),
    row("66 0F E8 /r", "psubsb xmm, xmm/m128", "RM"),
    row("66 0F E9 /r", "psubsw xmm, xmm/m128", "RM"),
    row("66 0F D8 /r", "psubusb xmm, xmm/m128", "RM"),
    row("66 0F D9 /r", "psubusw xmm, xmm/m128", "RM"),
    row("66 0F DB /r", "pand xmm, xmm/m128", "RM"),
    row("66 0F DF /r", "pandn xmm, xmm/m128", "RM"),
    row("66 0F EB /r", "por xmm, xmm/m128", "RM"),
    row("66 0F 74 /r", "pcmpeqb xmm, xmm/m128", "RM"),
    row("66 0F 75 /r", "pcmpeqw xmm, xmm/m128", "RM"),
    row("66 0F 76 /r", "pcmpeqd xmm, xmm/m128", "RM"),
    row("66 0F 64 /r", "pcmpgtb xmm, xmm/m128", "RM"),
    row("66 0F 65 /r", "pcmpgtw xmm, xmm/m128", "RM"),
    row("66 0F 66 /r", "pcmpgtd xmm, xmm/m128", "RM"),
    row("66 0F D5 /r", "pmullw xmm, xmm/m128", "RM"),
    row("66 0F E5 /r", "pmulhw xmm, xmm/m128", "RM"),
    row("66 0F E4 /r", "pmulhuw xmm, xmm/m128", "RM"),
    row("66 0F F4 /r", "pmuludq xmm, xmm/m128", "RM"),
    row("66 0F F5 /r", "pmaddwd xmm, xmm/m128", "RM"),
    row("66 0F E0 /r", "pavgb xmm, xmm/m128", "RM"),
    row("66 0F E3 /r", "pavgw xmm, xmm/m128", "RM"),
    row("66 0F DA /r", "pminub xmm, xmm/m128", "RM"),
    row("66 0F DE /r", "pmaxub xmm, xmm/m128", "RM"),
    row("66 0F EA /r", "pminsw xmm, xmm/m128", "RM"),
    row("66 0F EE /r", "pmaxsw xmm, xmm/m128", "RM"),
    row("66 0F F6 /r", "psadbw xmm, xmm/m128", "RM"),
    row("66 0F 60 /r", "punpcklbw xmm, xmm/m128", "RM"),
    row("66 0F 61 /r", "punpcklwd xmm, xmm/m128", "RM"),
    row("66 0F 62 /r", "punpckldq xmm, xmm/m128", "RM"),
    row("66 0F 6C /r", "punpcklqdq xmm, xmm/m128", "RM"),
    row("66 0F 68 /r", "punpckhbw xmm, xmm/m128", "RM"),
    row("66 0F 69 /r", "punpckhwd xmm, xmm/m128", "RM"),
    row("66 0F 6A /r", "punpckhdq xmm, xmm/m128", "RM"),
    row("66 0F 6D /r", "punpckhqdq xmm, xmm/m128", "RM"),
    row("66 0F 63 /r", "packsswb xmm, xmm/m128", "RM"),
    row("66 0F 67 /r", "packuswb xmm, xmm/m128", "RM"),
    row("66 0F 6B /r", "packssdw xmm, xmm/m128", "RM"),
    row("66 0F F1 /r", "psllw xmm, xmm/m128", "RM"),
    row("66 0F F2 /r", "pslld xmm, xmm/m128", "RM"),
    row("66 0F F3 /r", "psllq xmm, xmm/m128", "RM"),
    row("66 0F D1 /r", "psrlw xmm, xmm/m128", "RM"),
    row("66 0F D2 /r", "psrld xmm, xmm/m128", "RM"),
    row("66 0F D3 /r", "psrlq xmm, xmm/m128", "RM"),
    row("66 0F E1 /r", "psraw xmm, xmm/m128", "RM"),
    row("66 0F E2 /r", "psrad xmm, xmm/m128", "RM"),
    row_with("66 0F 71 /6 ib", "psllw xmm, imm8", "MI", COUNT),
    row_with("66 0F 72 /6 ib", "pslld xmm, imm8", "MI", COUNT),
    row_with("66 0F 73 /6 ib", "psllq xmm, imm8", "MI", COUNT),
    row_with("66 0F 71 /2 ib", "psrlw xmm, imm8", "MI", COUNT),
    row_with("66 0F 72 /2 ib", "psrld xmm, imm8", "MI", COUNT),
    row_with("66 0F 73 /2 ib", "psrlq xmm, imm8", "MI", COUNT),
    row_with("66 0F 71 /4 ib", "psraw xmm, imm8", "MI", COUNT),
    row_with("66 0F 72 /4 ib", "psrad xmm, imm8", "MI", COUNT),
    row_with("66 0F 73 /7 ib", "pslldq xmm, imm8", "MI", COUNT),
    row_with("66 0F 73 /3 ib", "psrldq xmm, imm8", "MI", COUNT),
    row_with("66 0F 70 /r ib", "pshufd xmm, xmm/m128, imm8", "RMI", COUNT),
    row_with("F2 0F 70 /r ib", "pshuflw xmm, xmm/m128, imm8", "RMI", COUNT),
    row_with("F3 0F 70 /r ib", "pshufhw xmm, xmm/m128, imm8", "RMI", COUNT),
    row("66 0F D7 /r", "pmovmskb r32, xmm", "RM"),
    row("66 0F D7 /r", "pmovmskb r64, xmm", "RM"),
    row("F2 0F 2D /r", "cvtsd2si r32, xmm/m64", "RM"),
    row("F2 REX.W 0F 2D /r", "cvtsd2si r64, xmm/m64", "RM"),
    row("F3 0F 2D /r", "cvtss2si r32, xmm/m32", "RM"),
    row("F3 REX.W 0F 2D /r", "cvtss2si r64, xmm/m32", "RM"),
    row("0F 5B /r", "cvtdq2ps xmm, xmm/m128", "RM"),
    row("66 0F 5B /r", "cvtps2dq xmm, xmm/m128", "RM"),
    row("F3 0F 5B /r", "cvttps2dq xmm, xmm/m128", "RM"),
    row("F3 0F E6 /r", "cvtdq2pd xmm, xmm/m64", "RM"),
    row("F2 0F E6 /r", "cvtpd2dq xmm, xmm/m128", "RM"),
    row("66 0F E6 /r", "cvttpd2dq xmm, xmm/m128", "RM"),
    row("0F 5A /r", "cvtps2pd xmm, xmm/m64", "RM"),
    row("66 0F 5A /r", "cvtpd2ps xmm, xmm/m128", "RM"),

    // Floating-point control state: MXCSR, and the x87 control word (the System V ABI makes the control bits of
    // both callee-saved; the vector harness checks them).
    row("0F AE /2", "ldmxcsr m32", "M"),
    row("0F AE /3", "stmxcsr m32", "M"),
    row("D9 /5", "fldcw m16", "M"),
    row("D9 /7", "fnstcw m16", "M"),
];

/// What an operand position of a form accepts, in the manual's notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `r8`: a byte register (`ah..bh` included).
    R8,
    /// `r16`.
    R16,
    /// `r32`.
    R32,
    /// `r64`.
    R64,
    /// `r/m8`: a byte register or memory.
    Rm8,
    /// `r/m16`.
    Rm16,
    /// `r/m32`.
    Rm32,
    /// `r/m64`.
    Rm64,
    /// `m`: memory of any size (`lea`).
    M,
    /// `m8`.
    M8,
    /// `m16`.
    M16,
    /// `m32`.
    M32,
    /// `m64`.
    M64,
    /// `m128`.
    M128,
    /// `al`, implicit in the opcode.
    Al,
    /// `ax`, implicit.
    Ax,
    /// `eax`, implicit.
    Eax,
    /// `rax`, implicit.
    Rax,
    /// `cl`, implicit (shift counts).
    Cl,
    /// The number `1`, implicit (shift by one).
    One,
    /// `imm8`.
    Imm8,
    /// `imm16`.
    Imm16,
    /// `imm32`.
    Imm32,
    /// `imm64`.
    Imm64,
    /// `rel8`: a label within a signed byte of the next instruction.
    Rel8,
    /// `rel32`: a label.
    Rel32,
    /// `xmm`.
    Xmm,
    /// `xmm/m32`.
    XmmM32,
    /// `xmm/m64`.
    XmmM64,
    /// `xmm/m128`.
    XmmM128,
    /// The number `3`, implicit (`int 3` is `CC`).
    Three,
}

const _: () = assert!(
    (OpKind::Three as u32) < 31,
    "OpKind::bit and NO_OPERAND need fewer than 31 kinds"
);

const KIND_NAMES: [(&str, OpKind); 31] = [
    ("r8", OpKind::R8),
    ("r16", OpKind::R16),
    ("r32", OpKind::R32),
    ("r64", OpKind::R64),
    ("r/m8", OpKind::Rm8),
    ("r/m16", OpKind::Rm16),
    ("r/m32", OpKind::Rm32),
    ("r/m64", OpKind::Rm64),
    ("m", OpKind::M),
    ("m8", OpKind::M8),
    ("m16", OpKind::M16),
    ("m32", OpKind::M32),
    ("m64", OpKind::M64),
    ("m128", OpKind::M128),
    ("al", OpKind::Al),
    ("ax", OpKind::Ax),
    ("eax", OpKind::Eax),
    ("rax", OpKind::Rax),
    ("cl", OpKind::Cl),
    ("1", OpKind::One),
    ("imm8", OpKind::Imm8),
    ("imm16", OpKind::Imm16),
    ("imm32", OpKind::Imm32),
    ("imm64", OpKind::Imm64),
    ("rel8", OpKind::Rel8),
    ("rel32", OpKind::Rel32),
    ("xmm", OpKind::Xmm),
    ("xmm/m32", OpKind::XmmM32),
    ("xmm/m64", OpKind::XmmM64),
    ("xmm/m128", OpKind::XmmM128),
    ("3", OpKind::Three),
];

impl OpKind {
    /// The kind a name of the instruction column stands for.
    pub fn from_name(name: &str) -> Option<OpKind> {
        KIND_NAMES.iter().find(|(n, _)| *n == name).map(|&(_, k)| k)
    }

    /// The manual's name of the kind.
    pub fn name(self) -> &'static str {
        KIND_NAMES.iter().find(|(_, k)| *k == self).map_or("?", |(n, _)| n)
    }

    /// Exact registers and `1`: fixed by the opcode, not encoded.
    pub fn is_implicit(self) -> bool {
        matches!(
            self,
            OpKind::Al | OpKind::Ax | OpKind::Eax | OpKind::Rax | OpKind::Cl | OpKind::One | OpKind::Three
        )
    }

    /// Width in bits of the general-purpose value this position holds, if it is one (the operation width).
    pub fn gpr_bits(self) -> Option<u16> {
        use OpKind::*;
        match self {
            R8 | Rm8 | M8 | Al => Some(8),
            R16 | Rm16 | M16 | Ax => Some(16),
            R32 | Rm32 | M32 | Eax => Some(32),
            R64 | Rm64 | M64 | Rax => Some(64),
            _ => None,
        }
    }

    /// For positions that take memory: the memory size in bits (`None` inside for `m`, any size).
    pub fn mem_bits(self) -> Option<Option<u16>> {
        use OpKind::*;
        match self {
            M => Some(None),
            Rm8 | M8 => Some(Some(8)),
            Rm16 | M16 => Some(Some(16)),
            Rm32 | M32 | XmmM32 => Some(Some(32)),
            Rm64 | M64 | XmmM64 => Some(Some(64)),
            M128 | XmmM128 => Some(Some(128)),
            _ => None,
        }
    }

    /// For immediates and relative offsets: the size in bits.
    pub fn imm_bits(self) -> Option<u16> {
        match self {
            OpKind::Imm8 | OpKind::Rel8 => Some(8),
            OpKind::Imm16 => Some(16),
            OpKind::Imm32 | OpKind::Rel32 => Some(32),
            OpKind::Imm64 => Some(64),
            _ => None,
        }
    }

    /// True for `rel8` and `rel32`.
    pub fn is_rel(self) -> bool {
        matches!(self, OpKind::Rel8 | OpKind::Rel32)
    }

    /// True for `imm8..imm64`.
    pub fn is_imm(self) -> bool {
        matches!(self, OpKind::Imm8 | OpKind::Imm16 | OpKind::Imm32 | OpKind::Imm64)
    }

    /// This kind's bit in a set of kinds (`1 << discriminant`; there are fewer than 31 kinds).
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The kinds of a relative offset to a label (`rel8`, `rel32`), as a set.
    pub const RELATIVE: u32 = OpKind::set(&[OpKind::Rel8, OpKind::Rel32]);

    /// The bit that stands for "no operand" in a set of kinds: a form with two operands has it in its third
    /// position, and so does an instruction written with two, so positions compare alike whether used or not.
    pub const NO_OPERAND: u32 = 1 << 31;

    /// The set of these kinds, as [`OpKind::bit`]s.
    pub const fn set(kinds: &[OpKind]) -> u32 {
        let mut set = 0;
        let mut i = 0;
        while i < kinds.len() {
            set |= kinds[i].bit();
            i += 1;
        }
        set
    }
}

/// How an operand is encoded: Intel's Op/En letters, one per operand that is not implicit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Fixed by the opcode (`al`, `cl`, `1`).
    Implicit,
    /// ModRM.rm (register or memory).
    Rm,
    /// ModRM.reg.
    Reg,
    /// Both ModRM.reg and ModRM.rm (GNU's `imul r, imm`).
    RegRm,
    /// Added to the opcode's last byte.
    OpReg,
    /// An immediate after the rest.
    Imm,
    /// A relative offset to a label.
    Rel,
    /// VEX.vvvv: a register named in the VEX prefix.
    Vvvv,
}

/// What goes in ModRM.reg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModRm {
    /// No ModRM byte.
    None,
    /// `/digit`: an opcode extension.
    Digit(u8),
    /// `/r`: a register operand.
    Reg,
}

/// Up to four bytes (legacy prefixes, or opcode bytes) in a fixed array, zeros after them: a slice to read
/// (`Deref<Target = [u8]>`), and the whole array for the encoder to copy in one piece.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpBytes {
    bytes: [u8; 4],
    len: u8,
}

impl OpBytes {
    /// The bytes of `bytes`, or `None` for more than four.
    pub fn new(bytes: &[u8]) -> Option<OpBytes> {
        let mut out = OpBytes::default();
        out.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        out.len = bytes.len() as u8;
        Some(out)
    }

    /// All four bytes, zeros after the real ones.
    pub fn array(&self) -> [u8; 4] {
        self.bytes
    }
}

impl std::ops::Deref for OpBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::ops::DerefMut for OpBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..usize::from(self.len)]
    }
}

/// One encodable form: a row parsed, with `cc` expanded to one condition spelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    /// The mnemonic, lowercase (`cmovne`).
    pub mnemonic: String,
    /// The instruction column with the expanded mnemonic, for messages and docs (`cmovne r64, r/m64`).
    pub text: String,
    /// The operand kinds.
    pub operands: Vec<OpKind>,
    /// How each operand is encoded, aligned with `operands`.
    pub roles: Vec<Role>,
    /// The VEX prefix, for a VEX-encoded form (which then has no legacy prefixes or REX).
    pub vex: Option<Vex>,
    /// Legacy prefixes in emission order.
    pub prefixes: OpBytes,
    /// REX.W.
    pub rex_w: bool,
    /// Opcode bytes (`+cc` applied; `+r` is applied when encoding).
    pub opcode: OpBytes,
    /// `+r`: a register number goes in the low three bits of the last opcode byte.
    pub plus_r: bool,
    /// ModRM.reg.
    pub modrm: ModRm,
    /// Bytes of the immediate or relative offset (0 if none).
    pub imm_bytes: u8,
    /// Extra facts.
    pub attrs: Attrs,
    /// Index of the row in [`ROWS`].
    pub row: usize,
    /// The width of the operation, for checking immediates (see [`Form::operation_bits`]).
    pub(crate) op_bits: u16,
    /// Each operand's kind as an [`OpKind::bit`] ([`OpKind::NO_OPERAND`] past the last operand), for the
    /// matcher's first, cheap test.
    pub(crate) kind_bits: [u32; MAX_OPERANDS],
    /// The position of the immediate operand (`imm8`..`imm64`), or [`Form::NO_IMM`]; a form has at most one.
    pub(crate) imm_at: u8,
    /// The bytes every encoding of the form has whatever its operands: prefixes, opcode, ModRM (if any) and
    /// immediate; REX, SIB and displacement come on top.
    pub(crate) fixed_len: u8,
}

impl Form {
    /// The immediate position of a form without an immediate operand.
    pub(crate) const NO_IMM: u8 = u8::MAX;

    /// Whether the form takes a relative offset to a label (a jump or a call).
    pub fn is_relative(&self) -> bool {
        self.kind_bits.iter().any(|&k| k & OpKind::RELATIVE != 0)
    }

    /// The width of the operation, for checking immediates: that of the first general-purpose operand, else 64
    /// for `WIDTH64` rows, else the immediate's own.
    pub fn operation_bits(&self) -> u16 {
        self.op_bits
    }

    fn compute_operation_bits(&self) -> u16 {
        self.operands
            .iter()
            .find_map(|k| k.gpr_bits())
            .or_else(|| self.attrs.contains(Attrs::WIDTH64).then_some(64))
            .unwrap_or(u16::from(self.imm_bytes) * 8)
    }
}

/// Parses a row into its forms (one, or one per condition spelling for `cc` rows).
pub fn parse_row(index: usize, row: &Row) -> Result<Vec<Form>, String> {
    let (mnemonic, operand_text) = match row.instruction.split_once(' ') {
        Some((m, rest)) => (m, rest.trim()),
        None => (row.instruction, ""),
    };
    let operands = operand_kinds(operand_text)?;
    let roles = roles(row.op_en, &operands)?;
    let column = OpcodeColumn::parse(row.opcode)?;
    if column.vex.is_some() && (column.rex_w || !column.prefixes.is_empty()) {
        return Err("a VEX form writes its prefix and W in the VEX field".into());
    }
    if roles.contains(&Role::Vvvv) && column.vex.is_none() {
        return Err("VEX.vvvv without a VEX prefix".into());
    }
    check_form(
        &operands,
        &roles,
        column.modrm,
        column.plus_r,
        column.imm_bytes,
        column.rel,
        &column.opcode,
    )?;
    let (Some(prefixes), Some(opcode)) = (OpBytes::new(&column.prefixes), OpBytes::new(&column.opcode)) else {
        return Err("more than four prefix or opcode bytes".into());
    };
    let base = with_derived_facts(Form {
        mnemonic: mnemonic.to_ascii_lowercase(),
        text: row.instruction.to_string(),
        operands,
        roles,
        vex: column.vex,
        prefixes,
        rex_w: column.rex_w,
        opcode,
        plus_r: column.plus_r,
        modrm: column.modrm,
        imm_bytes: column.imm_bytes,
        attrs: row.attrs,
        row: index,
        op_bits: 0,
        kind_bits: [OpKind::NO_OPERAND; MAX_OPERANDS],
        imm_at: Form::NO_IMM,
        fixed_len: 0,
    })?;
    let Some(stem) = base.mnemonic.strip_suffix("cc").filter(|_| column.plus_cc) else {
        if column.plus_cc || base.mnemonic.ends_with("cc") && base.mnemonic != "cc" {
            return Err("`cc` in the mnemonic and `+cc` in the opcode go together".into());
        }
        return Ok(vec![base]);
    };
    // A `cc` row: one form per condition spelling, its code added to the last opcode byte.
    Ok(CONDITIONS
        .iter()
        .map(|(cond, code)| {
            let mut form = base.clone();
            form.mnemonic = format!("{stem}{cond}");
            form.text = format!("{}{}", form.mnemonic, &row.instruction[mnemonic.len()..]);
            if let Some(last) = form.opcode.last_mut() {
                *last += code;
            }
            form
        })
        .collect())
}

/// The operand kinds of an instruction column's operand list (`r/m64, imm8`).
fn operand_kinds(text: &str) -> Result<Vec<OpKind>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|name| OpKind::from_name(name.trim()).ok_or_else(|| format!("unknown operand kind `{}`", name.trim())))
        .collect()
}

/// How each operand is encoded, from the Op/En column: its letters go to the operands that are not implicit, in
/// order.
fn roles(op_en: &str, operands: &[OpKind]) -> Result<Vec<Role>, String> {
    let letters: &[Role] = match op_en {
        "ZO" => &[],
        "O" => &[Role::OpReg],
        "OI" => &[Role::OpReg, Role::Imm],
        "I" => &[Role::Imm],
        "M" | "M1" | "MC" => &[Role::Rm],
        "MI" => &[Role::Rm, Role::Imm],
        "MR" | "MRC" => &[Role::Rm, Role::Reg],
        "MRI" => &[Role::Rm, Role::Reg, Role::Imm],
        "RM" => &[Role::Reg, Role::Rm],
        "RMI" => &[Role::Reg, Role::Rm, Role::Imm],
        "RI" => &[Role::RegRm, Role::Imm],
        "RVM" => &[Role::Reg, Role::Vvvv, Role::Rm],
        "RMV" => &[Role::Reg, Role::Rm, Role::Vvvv],
        "VM" => &[Role::Vvvv, Role::Rm],
        "D" => &[Role::Rel],
        other => return Err(format!("unknown operand encoding `{other}`")),
    };
    let explicit = operands.iter().filter(|k| !k.is_implicit()).count();
    if explicit != letters.len() {
        return Err(format!(
            "{} operand(s) to encode but `{}` encodes {}",
            explicit,
            op_en,
            letters.len()
        ));
    }
    let mut next = letters.iter();
    operands
        .iter()
        .map(|k| match k.is_implicit() {
            true => Ok(Role::Implicit),
            false => next.next().copied().ok_or_else(|| "operand count".to_string()),
        })
        .collect()
}

/// What the opcode column says (`REX.W 0F AF /r`, `B8+r io`, `0F 80+cc cd`).
struct OpcodeColumn {
    vex: Option<Vex>,
    prefixes: Vec<u8>,
    rex_w: bool,
    opcode: Vec<u8>,
    plus_r: bool,
    plus_cc: bool,
    modrm: ModRm,
    imm_bytes: u8,
    /// The immediate is a relative offset (`cb`, `cd`).
    rel: bool,
}

/// A VEX prefix as the opcode column writes it (`VEX.LZ.F2.0F38.W1`): vector length, implied legacy prefix,
/// opcode map and W. The register in VEX.vvvv is the operand of role [`Role::Vvvv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vex {
    /// VEX.L: 256-bit vectors (`256`, `L1`); 0 for `128`, `L0`, `LZ` and `LIG`.
    pub l: bool,
    /// VEX.pp: the legacy prefix it stands for (0 none, 1 `66`, 2 `F3`, 3 `F2`).
    pub pp: u8,
    /// VEX.m-mmmm: the opcode map (1 `0F`, 2 `0F38`, 3 `0F3A`).
    pub map: u8,
    /// VEX.W (`W1`); 0 for `W0` and `WIG`.
    pub w: bool,
}

impl Vex {
    /// The fields after `VEX.`, in the manual's order: `NDS`/`NDD`/`DDS` (ignored), the length, the prefix, the
    /// map, W.
    fn parse(fields: &str) -> Result<Vex, String> {
        let mut vex = Vex {
            l: false,
            pp: 0,
            map: 0,
            w: false,
        };
        for field in fields.split('.') {
            match field {
                "NDS" | "NDD" | "DDS" | "128" | "L0" | "LZ" | "LIG" | "W0" | "WIG" => {}
                "256" | "L1" => vex.l = true,
                "66" => vex.pp = 1,
                "F3" => vex.pp = 2,
                "F2" => vex.pp = 3,
                "0F" => vex.map = 1,
                "0F38" => vex.map = 2,
                "0F3A" => vex.map = 3,
                "W1" => vex.w = true,
                other => return Err(format!("unknown VEX field `{other}`")),
            }
        }
        match vex.map {
            0 => Err("a VEX prefix needs its opcode map (0F, 0F38 or 0F3A)".into()),
            // The two-byte VEX form GNU as picks for map 0F (when W, X and B allow) is not built yet.
            1 => Err("VEX forms of map 0F are not supported yet".into()),
            _ => Ok(vex),
        }
    }
}

impl OpcodeColumn {
    fn parse(text: &str) -> Result<OpcodeColumn, String> {
        let mut c = OpcodeColumn {
            vex: None,
            prefixes: Vec::new(),
            rex_w: false,
            opcode: Vec::new(),
            plus_r: false,
            plus_cc: false,
            modrm: ModRm::None,
            imm_bytes: 0,
            rel: false,
        };
        for word in text.split_whitespace() {
            let imm = match word {
                "ib" | "cb" => 1,
                "iw" => 2,
                "id" | "cd" => 4,
                "io" => 8,
                _ => 0,
            };
            if imm != 0 {
                c.imm_bytes = imm;
                c.rel = word.starts_with('c');
            } else if let Some(fields) = word.strip_prefix("VEX.") {
                c.vex = Some(Vex::parse(fields)?);
            } else if word == "REX.W" {
                c.rex_w = true;
            } else if word == "/r" {
                c.modrm = ModRm::Reg;
            } else if let Some(d) = word.strip_prefix('/') {
                let d: u8 = d.parse().map_err(|_| format!("bad /digit `{word}`"))?;
                if d > 7 {
                    return Err(format!("/digit out of range: `{word}`"));
                }
                c.modrm = ModRm::Digit(d);
            } else {
                let (hex, suffix) = match word.split_once('+') {
                    Some((h, s)) => (h, Some(s)),
                    None => (word, None),
                };
                let byte = u8::from_str_radix(hex, 16).map_err(|_| format!("bad opcode byte `{word}`"))?;
                match suffix {
                    Some("r") => c.plus_r = true,
                    Some("cc") => c.plus_cc = true,
                    Some(s) => return Err(format!("unknown opcode suffix `+{s}`")),
                    None => {}
                }
                // A mandatory prefix comes before the opcode and without REX.W between.
                if c.opcode.is_empty() && !c.rex_w && matches!(byte, 0x66 | 0xf2 | 0xf3) {
                    c.prefixes.push(byte);
                } else {
                    c.opcode.push(byte);
                }
            }
        }
        // A prefix byte alone is the whole instruction (`rep` on a line of its own is `F3`).
        if c.opcode.is_empty() && c.prefixes.len() == 1 && !c.rex_w {
            c.opcode = std::mem::take(&mut c.prefixes);
        }
        if c.opcode.is_empty() {
            return Err("no opcode byte".into());
        }
        Ok(c)
    }
}

/// `form` with the facts derived from its other fields, computed once here: the operation's width, each
/// operand's kind bit, the immediate's position and the length every encoding has.
fn with_derived_facts(mut form: Form) -> Result<Form, String> {
    if form.operands.len() > MAX_OPERANDS {
        return Err(format!("more than {MAX_OPERANDS} operands"));
    }
    form.op_bits = form.compute_operation_bits();
    for (bits, kind) in form.kind_bits.iter_mut().zip(&form.operands) {
        *bits = kind.bit();
    }
    let mut imms = form.operands.iter().enumerate().filter(|(_, k)| k.is_imm());
    if let Some((at, _)) = imms.next() {
        form.imm_at = at as u8;
    }
    if imms.next().is_some() {
        return Err("more than one immediate operand".into());
    }
    // A VEX prefix is three bytes (map 0F38 or 0F3A), in place of the legacy prefixes and REX.
    let vex_len = if form.vex.is_some() { 3 } else { 0 };
    form.fixed_len = (vex_len
        + form.prefixes.len()
        + form.opcode.len()
        + usize::from(form.modrm != ModRm::None)
        + usize::from(form.imm_bytes)) as u8;
    Ok(form)
}

/// The consistency rules every row must keep.
fn check_form(
    operands: &[OpKind],
    roles: &[Role],
    modrm: ModRm,
    plus_r: bool,
    imm_bytes: u8,
    rel: bool,
    opcode: &[u8],
) -> Result<(), String> {
    let has = |r: Role| roles.contains(&r);
    let want_modrm = has(Role::Rm) || has(Role::RegRm);
    match modrm {
        ModRm::None if want_modrm => return Err("an r/m operand needs /r or /digit".into()),
        ModRm::Reg if !(has(Role::Reg) || has(Role::RegRm)) => {
            return Err("/r without a register operand".into());
        }
        ModRm::Digit(_) if has(Role::Reg) => {
            return Err("/digit with a register operand in ModRM.reg".into());
        }
        ModRm::Digit(_) | ModRm::Reg if !want_modrm => {
            return Err("ModRM without an r/m operand".into());
        }
        _ => {}
    }
    if plus_r != has(Role::OpReg) {
        return Err("+r and the O operand encoding go together".into());
    }
    if plus_r && opcode.last().is_some_and(|b| b & 7 != 0) {
        return Err("a +r opcode byte must have zero low bits".into());
    }
    for (kind, role) in operands.iter().zip(roles) {
        let ok = match role {
            Role::Implicit => kind.is_implicit(),
            // A register-only kind in ModRM.rm: `rdrand r32`, `psllw xmm, imm8`.
            Role::Rm => kind.mem_bits().is_some() || kind.gpr_bits().is_some() || *kind == OpKind::Xmm,
            Role::Reg | Role::RegRm | Role::OpReg | Role::Vvvv => {
                matches!(kind, OpKind::R8 | OpKind::R16 | OpKind::R32 | OpKind::R64 | OpKind::Xmm)
            }
            Role::Imm => kind.is_imm() && kind.imm_bits() == Some(u16::from(imm_bytes) * 8) && !rel,
            Role::Rel => kind.is_rel() && kind.imm_bits() == Some(u16::from(imm_bytes) * 8) && rel,
        };
        if !ok {
            return Err(format!("operand `{}` does not fit its encoding {role:?}", kind.name()));
        }
    }
    if imm_bytes != 0 && !(has(Role::Imm) || has(Role::Rel)) {
        return Err("an immediate in the opcode column but none in the operands".into());
    }
    Ok(())
}

/// The forms, by mnemonic. Building the table indexes the rows by mnemonic (a few dozen instructions a row); a
/// mnemonic's rows are parsed into forms the first time it is looked up, so neither building the table nor
/// looking a mnemonic up costs more as rows are added.
pub struct Table {
    /// Row numbers ([`ROWS`]) grouped by mnemonic, in table order within a mnemonic; a `cc` row is in each of its
    /// condition spellings' groups.
    rows: Vec<u16>,
    /// One per mnemonic, sorted by [`mnemonic_key`] (which orders mnemonics as their names).
    mnemonics: Vec<Mnemonic>,
    /// The index in `mnemonics` of each [`mnemonic_key`].
    by_key: KeyMap<u128, u32>,
    /// Every form, for [`Table::all`].
    all: OnceLock<Vec<Form>>,
}

/// One mnemonic: its rows, and its forms once parsed.
struct Mnemonic {
    key: u128,
    /// The range of its row numbers in [`Table::rows`].
    rows: (u32, u32),
    forms: OnceLock<Box<[Form]>>,
}

/// A mnemonic of one to fifteen bytes as one integer, ASCII letters lowercased: the bytes, then the length in
/// the low byte. Looking a mnemonic up compares integers, not strings.
pub(crate) fn mnemonic_key(name: &str) -> Option<u128> {
    let bytes = name.as_bytes();
    if let Some(key) = crate::asm::text::reg::name_key(bytes) {
        return Some(mnemonic_key_of_name(key));
    }
    let mut key = super::keymap::packed(bytes).filter(|_| !bytes.is_empty())?;
    key[..bytes.len()].make_ascii_lowercase();
    Some(u128::from_be_bytes(key))
}

/// [`mnemonic_key`] of a mnemonic of one to seven bytes from its [`crate::asm::text::reg::name_key`]: most mnemonics are
/// that short, and their key is the name key's bytes with the length moved to the last byte.
#[inline(always)]
pub(crate) fn mnemonic_key_of_name(key: u64) -> u128 {
    u128::from(key & !0xff) << 64 | u128::from(key & 0xff)
}

impl Table {
    /// The table, indexed on first use. The table is part of the program, not input: a row that does not parse
    /// is a bug, and stops the program the first time its mnemonic is looked up, with every bad row of it named (a
    /// unit test parses every row, so such a row never leaves the repository).
    pub fn get() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| Table::index().unwrap_or_else(|bad| panic!("the instruction table has bad rows:\n{bad}")))
    }

    /// The rows indexed by mnemonic, or each row whose mnemonic has no key.
    fn index() -> Result<Table, String> {
        let mut keyed: Vec<(u128, u16)> = Vec::with_capacity(ROWS.len() + 8 * CONDITIONS.len());
        let mut bad_rows = Vec::new();
        for (i, row) in ROWS.iter().enumerate() {
            let name = row.instruction.split(' ').next().unwrap_or_default();
            let mut add = |key: Option<u128>| match key {
                Some(key) => keyed.push((key, i as u16)),
                None => bad_rows.push((i, "mnemonic longer than 15 bytes".to_string())),
            };
            match name.strip_suffix("cc").filter(|_| row.opcode.contains("+cc")) {
                Some(stem) => {
                    for (cond, _) in CONDITIONS {
                        let mut spelled = [0u8; 16];
                        let len = stem.len() + cond.len();
                        let key = spelled.get_mut(..len).and_then(|bytes| {
                            bytes[..stem.len()].copy_from_slice(stem.as_bytes());
                            bytes[stem.len()..].copy_from_slice(cond.as_bytes());
                            mnemonic_key(std::str::from_utf8(bytes).ok()?)
                        });
                        add(key);
                    }
                }
                None => add(mnemonic_key(name)),
            }
        }
        if !bad_rows.is_empty() {
            return Err(Table::describe(&bad_rows));
        }
        // Stable: a mnemonic's rows keep their table order, which breaks ties between equal lengths.
        keyed.sort_by_key(|&(key, _)| key);
        let mut mnemonics = Vec::new();
        let mut start = 0;
        for i in 1..=keyed.len() {
            if i == keyed.len() || keyed[i].0 != keyed[start].0 {
                mnemonics.push(Mnemonic {
                    key: keyed[start].0,
                    rows: (start as u32, i as u32),
                    forms: OnceLock::new(),
                });
                start = i;
            }
        }
        Ok(Table {
            rows: keyed.into_iter().map(|(_, row)| row).collect(),
            by_key: mnemonics.iter().enumerate().map(|(i, m)| (m.key, i as u32)).collect(),
            mnemonics,
            all: OnceLock::new(),
        })
    }

    /// `row N (`text`): why`, a line for each bad row.
    fn describe(bad_rows: &[(usize, String)]) -> String {
        let lines: Vec<String> = bad_rows
            .iter()
            .map(|(i, why)| format!("row {i} (`{}`): {why}", ROWS.get(*i).map_or("", |r| r.instruction)))
            .collect();
        lines.join("\n")
    }

    /// A mnemonic's forms, parsed from its rows (of a `cc` row, the form of this condition spelling), or each bad
    /// row.
    fn parse(&self, mnemonic: &Mnemonic) -> Result<Box<[Form]>, Vec<(usize, String)>> {
        let mut forms = Vec::new();
        let mut bad_rows = Vec::new();
        for &row in &self.rows[mnemonic.rows.0 as usize..mnemonic.rows.1 as usize] {
            let row = usize::from(row);
            match parse_row(row, &ROWS[row]) {
                Ok(f) => forms.extend(
                    f.into_iter()
                        .filter(|f| mnemonic_key(&f.mnemonic) == Some(mnemonic.key)),
                ),
                Err(e) => bad_rows.push((row, e)),
            }
        }
        // The matcher keeps a mnemonic's fitting forms as a 64-bit set.
        if forms.len() > 64 {
            bad_rows.push((forms[0].row, "more than 64 forms".into()));
        }
        if bad_rows.is_empty() {
            Ok(forms.into())
        } else {
            Err(bad_rows)
        }
    }

    fn forms_of<'a>(&'a self, mnemonic: &'a Mnemonic) -> &'a [Form] {
        mnemonic.forms.get_or_init(|| {
            self.parse(mnemonic)
                .unwrap_or_else(|bad| panic!("the instruction table has bad rows:\n{}", Table::describe(&bad)))
        })
    }

    /// The forms of a mnemonic (any case); empty if it is unknown.
    pub fn forms(&self, mnemonic: &str) -> &[Form] {
        mnemonic_key(mnemonic).map_or(&[], |key| self.forms_by_key(key))
    }

    /// The forms of the mnemonic whose [`mnemonic_key`] is `key`.
    #[inline]
    pub(crate) fn forms_by_key(&self, key: u128) -> &[Form] {
        match self.by_key.get(&key) {
            Some(&i) => self.forms_of(&self.mnemonics[i as usize]),
            None => &[],
        }
    }

    /// Every mnemonic, lowercase, in alphabetical order (without parsing a row: a key holds its name).
    pub fn mnemonics(&self) -> impl Iterator<Item = String> {
        self.mnemonics.iter().map(|m| {
            let bytes = m.key.to_be_bytes();
            String::from_utf8_lossy(&bytes[..usize::from(bytes[15])]).into_owned()
        })
    }

    /// Every form, sorted by mnemonic (for tools and tests: it parses every row).
    pub fn all(&self) -> &[Form] {
        self.all
            .get_or_init(|| self.mnemonics.iter().flat_map(|m| self.forms_of(m)).cloned().collect())
    }

    /// Every row parsed, or each bad row, a line each.
    #[cfg(test)]
    fn check() -> Result<(), String> {
        let table = Table::index()?;
        let bad: Vec<(usize, String)> = table
            .mnemonics
            .iter()
            .filter_map(|m| table.parse(m).err())
            .flatten()
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(Table::describe(&bad))
        }
    }
}

/// The list of supported instructions as Markdown, generated from the table (`docs/instructions.md`).
///
/// ```
/// let doc = jit_core::asm::table::supported_instructions_markdown();
/// assert!(doc.contains("| `add r/m64, imm8` | `REX.W 83 /0 ib` | MI |"));
/// ```
pub fn supported_instructions_markdown() -> String {
    let mut out = String::from(
        "# Supported instructions\n\n\
         Generated from the instruction table in `jit-core/src/asm/forms/table.rs` (`cargo run -- forms > \
         docs/instructions.md`; a test checks this file is current). Each row is written as in the Intel manual. \
         Mnemonics ending in `cc` stand for every condition: ",
    );
    for (i, (c, _)) in CONDITIONS.iter().enumerate() {
        out.push_str(if i == 0 { "`" } else { ", `" });
        out.push_str(c);
        out.push('`');
    }
    out.push_str(
        ".\n\nWhere several rows fit a line, the shortest encoding is used, and the first row among equals, \
         as GNU as 2.40 does.\n\n| instruction | opcode | operand encoding |\n|---|---|---|\n",
    );
    for row in ROWS {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            row.instruction, row.opcode, row.op_en
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_mnemonic_keys_agree() {
        // The bytes, then the length in the last byte, as the long path builds it.
        let slow = |name: &str| {
            let mut key = [0u8; 16];
            key[..name.len()].copy_from_slice(name.as_bytes());
            key[..name.len()].make_ascii_lowercase();
            key[15] = name.len() as u8;
            u128::from_be_bytes(key)
        };
        // Up to seven bytes the key is made from a name key: it must come out as the long path's layout.
        for name in ["a", "Ud2", "MOVZX", "zZ@[`{", "\u{e4}"] {
            assert_eq!(mnemonic_key(name), Some(slow(name)), "{name}");
        }
        // Longer names take the long path; their keys written out, bytes then length.
        assert_eq!(
            mnemonic_key("cvtsi2sd"),
            Some(0x6376_7473_6932_7364_0000_0000_0000_0008)
        );
        assert_eq!(
            mnemonic_key("CvTtSd2Si"),
            Some(0x6376_7474_7364_3273_6900_0000_0000_0009)
        );
        assert_eq!(
            mnemonic_key("prefetchnta"),
            Some(0x7072_6566_6574_6368_6e74_6100_0000_000b)
        );
        assert_eq!(mnemonic_key(""), None);
    }

    #[test]
    fn every_row_parses() {
        if let Err(bad) = Table::check() {
            panic!("{bad}");
        }
    }

    #[test]
    fn indexing_parses_no_row_and_a_lookup_parses_its_own_mnemonic_alone() {
        let table = Table::index().unwrap();
        let parsed = |table: &Table| -> Vec<String> {
            table
                .mnemonics()
                .zip(&table.mnemonics)
                .filter(|(_, m)| m.forms.get().is_some())
                .map(|(name, _)| name)
                .collect()
        };
        assert!(parsed(&table).is_empty());
        assert!(table.mnemonics().any(|m| m == "cmovnle") && table.mnemonics().any(|m| m == "add"));
        assert_eq!(table.forms("JNE").len(), 2);
        assert_eq!(table.forms("add").len(), 19);
        assert_eq!(parsed(&table), ["add", "jne"]);
    }

    #[test]
    fn every_row_yields_forms_and_conditions_expand() {
        let table = Table::get();
        for (i, row) in ROWS.iter().enumerate() {
            assert!(
                table.all().iter().any(|f| f.row == i),
                "row {i} `{}` produced no form",
                row.instruction
            );
        }
        let jne = table.forms("JNE");
        assert_eq!(jne.len(), 2);
        assert_eq!(
            (&jne[0].opcode[..], &jne[1].opcode[..]),
            (&[0x75][..], &[0x0f, 0x85][..])
        );
        assert_eq!(table.forms("cmovnle")[2].text, "cmovnle r64, r/m64");
        assert_eq!(table.forms("setpo")[0].opcode[..], [0x0f, 0x9b]);
    }

    #[test]
    fn a_row_is_read_as_the_manual_writes_it() {
        let f = &parse_row(0, &row("F3 REX.W 0F B8 /r", "popcnt r64, r/m64", "RM")).unwrap()[0];
        assert_eq!(
            (&f.prefixes[..], f.rex_w, &f.opcode[..]),
            (&[0xf3][..], true, &[0x0f, 0xb8][..])
        );
        assert_eq!(f.roles, [Role::Reg, Role::Rm]);
        let f = &parse_row(0, &row("66 C1 /4 ib", "shl r/m16, imm8", "MI")).unwrap()[0];
        assert_eq!((f.modrm, f.imm_bytes, f.operation_bits()), (ModRm::Digit(4), 1, 16));
    }

    #[test]
    fn inconsistent_rows_are_refused() {
        for (opcode, instruction, op_en) in [
            ("01", "add r/m32, r32", "MR"),          // no /r
            ("B9+r id", "mov r32, imm32", "OI"),     // +r byte with low bits set
            ("83 /0 id", "add r/m32, imm8", "MI"),   // immediate size disagrees
            ("83 /0 ib", "add r/m32, imm8", "RM"),   // wrong operand encoding
            ("83 /9 ib", "add r/m32, imm8", "MI"),   // /digit out of range
            ("0F 40 /r", "cmovcc r32, r/m32", "RM"), // cc without +cc
            ("XX /r", "add r/m32, r32", "MR"),
            ("01 /r", "add r/m32, q32", "MR"),
        ] {
            assert!(
                parse_row(0, &row(opcode, instruction, op_en)).is_err(),
                "{opcode} | {instruction}"
            );
        }
    }

    #[test]
    fn the_generated_instruction_list_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/instructions.md");
        let current = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            current == supported_instructions_markdown(),
            "docs/instructions.md is out of date: run `cargo run -- forms > docs/instructions.md`"
        );
    }
}
