//! The parser's output: statements with a source [`Span`] on every node.
//!
//! Both front ends meet here. The runtime assembler parses text into these types; the `jit!` macro turns its
//! tokens into text with the same grammar and keeps a map from text positions back to its tokens, so an error
//! found later — by the form matcher or the label resolver — still points at the right token.

use super::reg::{Reg, RegClass};
use std::fmt;

/// A source position: byte range in the text, and the 1-based line and column (in characters) where it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
    /// 1-based line of `start`.
    pub line: u32,
    /// 1-based column of `start`, counted in characters.
    pub col: u32,
}

impl Span {
    /// The span from the start of `self` to the end of `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            end: other.end.max(self.end),
            ..self
        }
    }
}

/// A value with the span it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub node: T,
    /// Where it was written.
    pub span: Span,
}

/// An explicit operand size: `byte`, `word`, `dword`, `qword` or `xmmword`, with or without `ptr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    /// 8 bits.
    Byte,
    /// 16 bits.
    Word,
    /// 32 bits.
    Dword,
    /// 64 bits.
    Qword,
    /// 128 bits.
    Xmmword,
}

impl Size {
    /// Size in bits.
    pub const fn bits(self) -> u16 {
        match self {
            Size::Byte => 8,
            Size::Word => 16,
            Size::Dword => 32,
            Size::Qword => 64,
            Size::Xmmword => 128,
        }
    }

    /// Looks a size keyword up, ignoring ASCII case (`oword` is NASM's name for `xmmword`).
    pub fn from_keyword(word: &str) -> Option<Size> {
        match super::words::word(word.as_bytes()) {
            super::words::Word::Size(size) => Some(size),
            _ => None,
        }
    }

    /// The size keyword as GNU as and objdump write it.
    pub const fn keyword(self) -> &'static str {
        match self {
            Size::Byte => "byte",
            Size::Word => "word",
            Size::Dword => "dword",
            Size::Qword => "qword",
            Size::Xmmword => "xmmword",
        }
    }
}

/// A memory operand: `size ptr [base + index*scale + disp]`, `[rip + label]` or `[disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mem<'s> {
    /// The explicit size, if one was written.
    pub size: Option<Size>,
    /// Base register (a 64-bit register or `rip`).
    pub base: Option<Reg>,
    /// Index register and its scale.
    pub index: Option<Index>,
    /// Displacement, already reduced to the signed 32-bit range the encoding has.
    pub disp: i32,
    /// A label whose address is added to the displacement (only with a `rip` base).
    pub label: Option<&'s str>,
    /// The parts supplied at run time (`jit!(e; ...)` only).
    pub holes: MemHoles,
}

/// The scale of an index register: 1, 2, 4 or 8, the only ones an address can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scale {
    /// `*1`, or no scale written.
    X1,
    /// `*2`.
    X2,
    /// `*4`.
    X4,
    /// `*8`.
    X8,
}

impl Scale {
    /// The scale of a factor, if it is 1, 2, 4 or 8.
    pub const fn from_factor(n: u64) -> Option<Scale> {
        match n {
            1 => Some(Scale::X1),
            2 => Some(Scale::X2),
            4 => Some(Scale::X4),
            8 => Some(Scale::X8),
            _ => None,
        }
    }

    /// The factor: 1, 2, 4 or 8.
    pub const fn factor(self) -> u8 {
        1 << self.sib_bits()
    }

    /// The two bits of the SIB byte's scale field.
    pub const fn sib_bits(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.factor())
    }
}

/// An index register with its scale: a 64-bit general register other than `rsp` (the SIB byte has no way to
/// name `rsp` as an index), so a [`Mem`] cannot hold one it could not encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Index {
    reg: Reg,
    scale: Scale,
}

impl Index {
    /// `reg` scaled by `scale`, if `reg` can be an index.
    pub fn new(reg: Reg, scale: Scale) -> Option<Index> {
        (reg.class() == RegClass::Qword && reg != Reg::RSP).then_some(Index { reg, scale })
    }

    /// The register.
    pub fn reg(self) -> Reg {
        self.reg
    }

    /// The scale.
    pub fn scale(self) -> Scale {
        self.scale
    }
}

/// The runtime parts of a memory operand: registers `{N:r64}` as base or index (the [`Mem`] holds `rax` in their
/// place), and `{N}` as the displacement (a label with a `rip` base). Each is the hole's number plus one, 0 for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemHoles {
    /// The base register's hole + 1.
    pub base: u16,
    /// The index register's hole + 1.
    pub index: u16,
    /// The displacement's (or, with a `rip` base, the label's) hole + 1: the displacement then takes 32 bits.
    pub disp: u16,
    /// Whether the index was written with a scale (`{i}*1`): an unscaled runtime index that turns out to be
    /// `rsp` is swapped with the base, as GNU as does for `[rbx + rsp]`; a scaled one is an error.
    pub index_scaled: bool,
}

impl MemHoles {
    /// No runtime parts.
    pub const NONE: MemHoles = MemHoles {
        base: 0,
        index: 0,
        disp: 0,
        index_scaled: false,
    };

    /// True if some part is supplied at run time.
    pub const fn any(self) -> bool {
        self.base != 0 || self.index != 0 || self.disp != 0
    }
}

/// The kind of a runtime register (`{N:r64}`): its class, and so the Rust type `jit!` gives its expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegKind {
    /// `r64`: `rax..r15`.
    R64,
    /// `r32`: `eax..r15d`.
    R32,
    /// `r16`: `ax..r15w`.
    R16,
    /// `r8`: `al..r15b` and `ah ch dh bh`.
    R8,
    /// `xmm`: `xmm0..xmm15`.
    Xmm,
}

impl RegKind {
    /// Every kind, in the order of their names.
    pub const ALL: [RegKind; 5] = [RegKind::R64, RegKind::R32, RegKind::R16, RegKind::R8, RegKind::Xmm];

    /// Its place in [`RegKind::ALL`]: how the emitter's tables name it.
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The name written after `:`.
    pub const fn name(self) -> &'static str {
        match self {
            RegKind::R64 => "r64",
            RegKind::R32 => "r32",
            RegKind::R16 => "r16",
            RegKind::R8 => "r8",
            RegKind::Xmm => "xmm",
        }
    }

    /// The kind of a name (`r64`, ...), ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<RegKind> {
        RegKind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// How many registers the kind has: 16, and 20 for `r8` (`ah ch dh bh` after `r15b`).
    pub const fn count(self) -> usize {
        match self {
            RegKind::R8 => 20,
            _ => 16,
        }
    }

    /// Register `id` of the kind (`id < count()`): numbers 0-15 in encoder order, then for `r8` `ah ch dh bh`.
    pub fn reg(self, id: u8) -> Reg {
        let class = match self {
            RegKind::R64 => super::reg::RegClass::Qword,
            RegKind::R32 => super::reg::RegClass::Dword,
            RegKind::R16 => super::reg::RegClass::Word,
            RegKind::R8 if id >= 16 => return Reg::new(super::reg::RegClass::HighByte, id - 12),
            RegKind::R8 => super::reg::RegClass::Byte,
            RegKind::Xmm => super::reg::RegClass::Xmm,
        };
        Reg::new(class, id & 15)
    }
}

/// One operand of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand<'s> {
    /// A register.
    Reg(Reg),
    /// An immediate as written: anything from `-2^63` to `2^64 - 1`; the form decides what fits.
    Imm(i128),
    /// A memory operand.
    Mem(Mem<'s>),
    /// A label, as a jump or call target.
    Label(&'s str),
    /// `{N}` — an immediate whose value is supplied at run time (the `jit!` macro's `{expr}`), or with
    /// `jit!(e; ...)` a label as a jump or call target.
    Hole(u32),
    /// `{N:r64}` — a register chosen at run time (`jit!(e; ...)` only).
    RegHole(u32, RegKind),
}

/// A prefix written before an instruction on its line (`lock add dword ptr [rax], 1`, `rep movsb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prefix {
    /// `lock` (`F0`): the instruction's read and write of memory are one atomic step.
    Lock,
    /// `rep` (`F3`): a string instruction repeated `rcx` times.
    Rep,
    /// `repe` or `repz` (`F3`): repeated while equal.
    Repe,
    /// `repne` or `repnz` (`F2`): repeated while not equal.
    Repne,
}

impl Prefix {
    /// The prefix a name (in any case) is.
    pub fn from_name(name: &str) -> Option<Prefix> {
        match super::words::word(name.as_bytes()) {
            super::words::Word::Prefix(prefix) => Some(prefix),
            _ => None,
        }
    }

    /// Its name (`repe` for `repz` too).
    pub const fn name(self) -> &'static str {
        match self {
            Prefix::Lock => "lock",
            Prefix::Rep => "rep",
            Prefix::Repe => "repe",
            Prefix::Repne => "repne",
        }
    }

    /// Its byte.
    pub const fn byte(self) -> u8 {
        match self {
            Prefix::Lock => 0xf0,
            Prefix::Rep | Prefix::Repe => 0xf3,
            Prefix::Repne => 0xf2,
        }
    }
}

/// The width of the items of a data statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataWidth {
    /// `db` / `.byte`.
    Byte = 1,
    /// `dw` / `.word`.
    Word = 2,
    /// `dd` / `.long`.
    Dword = 4,
    /// `dq` / `.quad`.
    Qword = 8,
}

/// At most this many operands (x86 instructions of the subset have at most three).
pub const MAX_OPERANDS: usize = 3;

/// A statement's operands, stored inline so parsing an instruction allocates nothing.
#[derive(Clone, Copy)]
pub struct Operands<'s> {
    /// The operands in `items[..len]`; the places after them hold any operand.
    items: [Spanned<Operand<'s>>; MAX_OPERANDS],
    len: u8,
}

impl PartialEq for Operands<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Operands<'_> {}

impl std::fmt::Debug for Operands<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<'s> Operands<'s> {
    /// What an unused place holds.
    const UNUSED: Spanned<Operand<'static>> = Spanned {
        node: Operand::Hole(0),
        span: Span {
            start: 0,
            end: 0,
            line: 0,
            col: 0,
        },
    };

    /// No operands.
    pub const fn new() -> Self {
        Operands {
            items: [Self::UNUSED; MAX_OPERANDS],
            len: 0,
        }
    }

    /// Removes every operand.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends an operand; returns it back when all places are taken.
    pub fn push(&mut self, op: Spanned<Operand<'s>>) -> Result<(), Spanned<Operand<'s>>> {
        match self.items.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = op;
                self.len += 1;
                Ok(())
            }
            None => Err(op),
        }
    }

    /// Number of operands.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The operands in order, as a slice.
    pub fn as_slice(&self) -> &[Spanned<Operand<'s>>] {
        self.items.get(..self.len as usize).unwrap_or(&[])
    }

    /// The operands in order.
    pub fn iter(&self) -> impl Iterator<Item = &Spanned<Operand<'s>>> + '_ {
        self.as_slice().iter()
    }

    /// The `i`th operand.
    pub fn get(&self, i: usize) -> Option<&Spanned<Operand<'s>>> {
        self.as_slice().get(i)
    }
}

impl Default for Operands<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// What a statement does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "instructions are nearly every statement: boxing them would allocate for each"
)]
pub enum StmtKind<'s> {
    /// `name:` — defines a label at the current offset.
    Label(&'s str),
    /// An instruction: its prefix, mnemonic (as written) and operands.
    Instruction {
        /// `lock` or a `rep`, if one was written before the mnemonic.
        prefix: Option<Spanned<Prefix>>,
        /// The mnemonic as written (any case).
        mnemonic: Spanned<&'s str>,
        /// The operands.
        operands: Operands<'s>,
    },
    /// `db 1, 2` / `.quad 5`: literal data.
    Data {
        /// Width of each item.
        width: DataWidth,
        /// The items, each checked to fit `width`.
        values: Vec<Spanned<i128>>,
    },
}

/// One statement and the span of its text (for a label, the name and colon).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement<'s> {
    /// What it does.
    pub kind: StmtKind<'s>,
    /// Its text, without comment and separator.
    pub span: Span,
}

impl fmt::Display for Operand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Reg(r) => write!(f, "{r}"),
            Operand::Imm(v) => write!(f, "{v}"),
            Operand::Label(l) => f.write_str(l),
            Operand::Hole(n) => write!(f, "{{{n}}}"),
            Operand::RegHole(n, kind) => write!(f, "{{{n}:{}}}", kind.name()),
            Operand::Mem(m) => {
                if let Some(size) = m.size {
                    write!(f, "{} ptr ", size.keyword())?;
                }
                f.write_str("[")?;
                let mut first = true;
                let mut sep = |f: &mut fmt::Formatter<'_>| {
                    let s = if first { "" } else { " + " };
                    first = false;
                    f.write_str(s)
                };
                let h = m.holes;
                if let Some(b) = m.base {
                    sep(f)?;
                    match h.base {
                        0 => write!(f, "{b}")?,
                        n => write!(f, "{{{}:r64}}", n - 1)?,
                    }
                }
                if let Some(ix) = m.index {
                    sep(f)?;
                    let s = ix.scale();
                    match h.index {
                        0 => write!(f, "{}*{s}", ix.reg())?,
                        n => write!(f, "{{{}:r64}}*{s}", n - 1)?,
                    }
                }
                if let Some(l) = m.label {
                    sep(f)?;
                    f.write_str(l)?;
                }
                if h.disp != 0 {
                    sep(f)?;
                    write!(f, "{{{}}}", h.disp - 1)?;
                }
                if m.disp != 0 || first {
                    if first {
                        write!(f, "{:#x}", m.disp)?;
                    } else if m.disp < 0 {
                        write!(f, " - {:#x}", -(m.disp as i64))?;
                    } else {
                        write!(f, " + {:#x}", m.disp)?;
                    }
                }
                f.write_str("]")
            }
        }
    }
}
