//! The memo: what [`select_form`](crate::asm::forms::select::select_form) chose for each shape of
//! instruction, kept as a template of its bytes, so the next instruction of the same shape is neither matched
//! nor encoded from its form again.
//!
//! A shape holds everything `select_form` looks at: per operand, a register's class, whether it is register 0 or 1
//! (the forms that fix `al`/`cl`/`eax`..., and `+r` forms that exclude register 0) and whether it needs a REX
//! prefix; a memory operand's size and the facts that decide its SIB and displacement bytes; and which
//! [`IMM_BOUNDS`] interval an immediate is in, which decides every range test of the matcher. Two instructions of
//! one mnemonic and shape get the same form and the same bytes but for the register numbers, the displacement and
//! the immediate, which are the [`Values`]: the [`Template`] puts them in their places with a few shifts and no
//! branches. A template is checked against the encoder when it is made (and not used if they differ), and debug
//! builds check every instruction encoded from one against `select_form` and the encoder.

use crate::asm::encoding::encode::{self, BaseNeeds, Encoded, Field, Fields, Fixup, MAX_LEN, Part};
use crate::asm::forms::keymap::{KeyMap, ShapeKey};
use crate::asm::forms::select::{immediate, plain_bytes};
use crate::asm::forms::table::{Form, Table};
use crate::asm::text::parse::Record;
use crate::asm::text::reg::{Reg, RegClass};
use crate::asm::text::syntax::{MAX_OPERANDS, Mem, Operand, Size, Spanned};

/// Where an immediate's value can change a range test of the matcher: for every immediate width `b` and operation
/// width `w` (8, 16, 32, 64 bits), the edges of the signed and unsigned `b`-bit ranges, and of the values that
/// wrap into the signed `b`-bit range at `w` bits; and 1 and 3, the values with a kind of their own
/// ([`OpKind::One`](crate::asm::table::OpKind::One), [`OpKind::Three`](crate::asm::table::OpKind::Three)). A value's
/// interval is the number of these at or below it.
const IMM_BOUNDS: [i128; 28] = {
    const WIDTHS: [u32; 4] = [8, 16, 32, 64];
    let mut bounds = [0i128; 28];
    let mut n = 0;
    // 1 and 3, the values with a kind of their own, each an interval of its own.
    bounds[n] = 1;
    bounds[n + 1] = 2;
    bounds[n + 2] = 3;
    bounds[n + 3] = 4;
    n += 4;
    let mut i = 0;
    while i < WIDTHS.len() {
        let b = WIDTHS[i];
        bounds[n] = -(1i128 << (b - 1));
        bounds[n + 1] = 1i128 << (b - 1);
        bounds[n + 2] = 1i128 << b;
        n += 3;
        let mut j = i + 1;
        while j < WIDTHS.len() {
            let w = WIDTHS[j];
            bounds[n] = (1i128 << w) - (1i128 << (b - 1));
            bounds[n + 1] = (1i128 << w) + (1i128 << (b - 1));
            n += 2;
            j += 1;
        }
        i += 1;
    }
    assert!(n == bounds.len());
    bounds
};

/// The bounds of [`IMM_BOUNDS`] within `i64` (above `i64::MIN`, which every value is at or above), sorted and
/// padded with `i64::MAX`; how many there are; and how many of the others are at or below every value (those at
/// or below `i64::MIN`).
const IMM_BOUNDS_64: ([i64; 32], usize, u64) = {
    let mut within = [i64::MAX; 32];
    let (mut n, mut below) = (0, 0);
    let mut i = 0;
    while i < IMM_BOUNDS.len() {
        let b = IMM_BOUNDS[i];
        if b <= i64::MIN as i128 {
            below += 1;
        } else if b <= i64::MAX as i128 {
            within[n] = b as i64;
            n += 1;
        }
        i += 1;
    }
    // Sorted, for a binary search.
    let mut i = 1;
    while i < n {
        let mut j = i;
        while j > 0 && within[j - 1] > within[j] {
            (within[j - 1], within[j]) = (within[j], within[j - 1]);
            j -= 1;
        }
        i += 1;
    }
    (within, n, below)
};

/// The interval of [`IMM_BOUNDS`] that `value` is in: how many bounds are at or below it. Counted without a branch
/// for the values that fit `i64` (almost all: a search's branches are a coin toss on a mix of values).
#[inline(always)]
pub(crate) fn imm_interval(value: i128) -> u64 {
    let Ok(v) = i64::try_from(value) else {
        return IMM_BOUNDS.iter().map(|&b| u64::from(b <= value)).sum();
    };
    // A binary search whose steps add 0 or a power of two (a conditional move, not a branch) over the bounds
    // padded with `i64::MAX` to 32: only `i64::MAX` itself counts padding, hence the `min`.
    let bounds = &IMM_BOUNDS_64.0;
    let mut below = 0;
    for step in [16, 8, 4, 2, 1] {
        below += step * usize::from(bounds[below + step - 1] <= v);
    }
    below += usize::from(bounds[below] <= v);
    IMM_BOUNDS_64.2 + below.min(IMM_BOUNDS_64.1) as u64
}

/// Bits of a shape for one operand; operand `i`'s go at `shift(i)`.
const fn shift(i: usize) -> u32 {
    2 + 20 * i as u32
}

/// A register operand's part of a shape, or 0 ([`NOT_KEPT`]) for `ah`..`bh`, whose encoding can fail next to a
/// REX prefix (left to [`select_form`](crate::asm::forms::select::select_form) every time). Looked up: one load, where
/// computing it takes a dozen steps.
#[inline(always)]
fn reg_shape(r: Reg) -> u64 {
    u64::from(REG_SHAPES[r.class() as usize * 16 + usize::from(r.num())])
}

/// [`reg_shape`] of every class and number: the class, whether it is register 0 or 1, and whether it needs REX.
const REG_SHAPES: [u32; 7 * 16] = {
    const CLASSES: [RegClass; 7] = [
        RegClass::Byte,
        RegClass::HighByte,
        RegClass::Word,
        RegClass::Dword,
        RegClass::Qword,
        RegClass::Xmm,
        RegClass::Rip,
    ];
    let mut shapes = [0; 7 * 16];
    let mut c = 0;
    while c < CLASSES.len() {
        let class = CLASSES[c];
        assert!(class as usize == c);
        let mut num = 0;
        while num < 16 {
            let r = Reg::new(class, num);
            let rex = r.high_bit() || r.needs_rex();
            let shape =
                1 | (class as u32) << 2 | ((num == 0) as u32) << 5 | ((num == 1) as u32) << 6 | (rex as u32) << 7;
            // A high byte's number (4..=7) is not its index here: it is 0 whichever it is.
            shapes[c * 16 + num as usize] = if matches!(class, RegClass::HighByte) { 0 } else { shape };
            num += 1;
        }
        c += 1;
    }
    shapes
};

/// The part of a shape of an operand the memo does not keep: every other part is not 0.
const NOT_KEPT: u64 = 0;

/// A label operand's part of a shape (the low bits of no register, immediate or memory operand's).
const LABEL: u64 = 4;

/// An immediate's part of a shape.
#[inline(always)]
fn imm_shape(value: i128) -> u64 {
    2 | imm_interval(value) << 2
}

/// A memory operand's part of a shape (one without runtime parts: the memo takes no other).
#[inline(always)]
fn mem_shape(m: &Mem<'_>) -> u64 {
    let (base, rex_b) = match m.base {
        None => (0, false),
        Some(_) if m.label.is_some() => (5, false),
        Some(b) if b.class() == RegClass::Rip => (1, false),
        Some(b) => (base_kind(b), b.high_bit()),
    };
    let (index, rex_x) = m.index.map_or((0, false), |ix| (1, ix.reg().high_bit()));
    address_shape(m.size, base, index, m.disp, rex_b, rex_x)
}

/// What a base register (not `rip`) is to the encoding ([`BaseNeeds`]), as a shape's base kind (`rip`'s are 1,
/// and 5 with a label).
#[inline(always)]
fn base_kind(b: Reg) -> u64 {
    match BaseNeeds::of(b) {
        BaseNeeds::Nothing => 2,
        BaseNeeds::Sib => 3,
        BaseNeeds::Disp => 4,
    }
}

/// A memory operand's part of a shape from its facts: size, base kind, index or not, the displacement's size
/// (none, a byte, four bytes) and the REX bits of base and index.
#[inline(always)]
fn address_shape(size: Option<Size>, base: u64, index: u64, disp: i32, rex_b: bool, rex_x: bool) -> u64 {
    let size = size.map_or(0, |s| s as u64 + 1);
    let disp = match disp {
        0 => 0,
        d if i8::try_from(d).is_ok() => 1,
        _ => 2,
    };
    3 | size << 2 | base << 5 | index << 8 | disp << 9 | u64::from(rex_b) << 11 | u64::from(rex_x) << 12
}

/// What varies between instructions of one shape: the numbers to put in ModRM, SIB, REX and the opcode, the
/// displacement and the immediate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Values {
    /// The number (0..=15) of each register operand; 0 for the other operands.
    pub(crate) regs: [u8; MAX_OPERANDS],
    /// The memory operand's base register number; 0 without one, or for `rip`.
    pub(crate) base: u8,
    /// The memory operand's index register number; 4 (SIB's "no index") without one.
    pub(crate) index: u8,
    /// The SIB scale bits (0 for 1, ..., 3 for 8).
    pub(crate) scale: u8,
    pub(crate) disp: i32,
    /// The immediate's low 64 bits (every immediate is encoded as its low bytes).
    pub(crate) imm: u64,
}

impl Values {
    /// The parts of an instruction without operands.
    pub(crate) const NONE: Values = Values {
        regs: [0; MAX_OPERANDS],
        base: 0,
        index: 4,
        scale: 0,
        disp: 0,
        imm: 0,
    };

    /// Takes in memory operand `m`.
    #[inline(always)]
    fn set_mem(&mut self, m: &Mem<'_>) {
        self.base = m.base.filter(|b| b.class() != RegClass::Rip).map_or(0, Reg::num);
        (self.index, self.scale) = m.index.map_or((4, 0), |ix| (ix.reg().num(), ix.scale().sib_bits()));
        self.disp = m.disp;
    }
}

/// The bytes of one shape of one form, with the places of the [`Values`]. Every field is a number the parts are
/// multiplied or masked by, so putting them in takes no branch.
#[derive(Clone, Copy, Debug, Default)]
struct Template {
    /// Prefixes, REX (W only), opcode, in order from the low byte; 0 long for no template.
    head: u64,
    head_len: u8,
    /// The bit where the REX byte is in `head` (any, when there is none: no part has REX bits then).
    rex_shift: u8,
    /// The bit where the last opcode byte is in `head`, for `+r`.
    plus_shift: u8,
    /// ModRM with the fixed bits (`mod`, `/digit`, or `rm` for SIB or `rip`), and whether there is one.
    modrm: u8,
    modrm_len: u8,
    /// SIB with its fixed bits (base `101` without a base register), and whether there is one.
    sib: u8,
    sib_len: u8,
    /// 7 where the base register's low bits go in ModRM.rm, or in the SIB; else 0.
    base_in_rm: u8,
    base_in_sib: u8,
    disp_len: u8,
    imm_len: u8,
    /// Per operand of the first [`ROUTED`]: what a register's low bits are multiplied by, for ModRM in the low
    /// byte (8: reg, 1: rm, 9: both) and for the opcode in the high byte (`+r`: 0x100); and what its fourth bit
    /// is multiplied by for REX (4: R, 1: B, 5: both).
    low_mul: [u16; ROUTED],
    rex_mul: [u8; ROUTED],
}

/// How many operands a template puts registers of in ModRM or the opcode: the first two (no form of the table
/// encodes a register given third there; a form that did would be left to the encoder).
const ROUTED: usize = 2;

/// Room [`Template::emit`] needs past the end of the bytes: it writes whole words and counts only what belongs.
const EMIT_ROOM: usize = 32;

impl Template {
    /// The template of an instruction the encoder made, from where the encoder said each part went
    /// ([`encode_with`](crate::asm::encode::encode_with)): its bytes with the parts' bits cleared, and what each part is multiplied or masked by.
    /// No encoding rule is decided here. `None` where the layout is not `head, ModRM, SIB, displacement,
    /// immediate` with a head of at most 8 bytes, or a register goes where a template does not put one.
    fn from_encoding(form: &Form, bytes: &[u8], fields: &[(usize, usize, Field)]) -> Option<Template> {
        if form.is_relative() {
            return None;
        }
        let at_of = |f: Field| fields.iter().find(|x| x.2 == f).map(|x| x.1);
        let width_at = |f: fn(Field) -> Option<u8>| fields.iter().find_map(|&(_, at, x)| Some((at, f(x)?)));
        let (modrm_at, sib_at) = (at_of(Field::ModRm), at_of(Field::Sib));
        let disp = width_at(|f| if let Field::Disp(w) = f { Some(w) } else { None });
        let imm = width_at(|f| if let Field::Imm(w) = f { Some(w) } else { None });
        let head_len = modrm_at
            .or(disp.map(|d| d.0))
            .or(imm.map(|i| i.0))
            .unwrap_or(bytes.len());
        // The parts must follow the head in this order, each where the last ended.
        let mut n = head_len;
        let parts = [modrm_at.map(|m| (m, 1)), sib_at.map(|s| (s, 1)), disp, imm];
        for (at, len) in parts.into_iter().flatten() {
            if at != n {
                return None;
            }
            n += usize::from(len);
        }
        if n != bytes.len() || head_len > 8 {
            return None;
        }
        let mut t = Template::default();
        let mut head = [0u8; 8];
        head[..head_len].copy_from_slice(&bytes[..head_len]);
        let mut modrm = modrm_at.map_or(0, |m| bytes[m]);
        // SIB: the base bits stay unless a base register goes there; scale and index come from the parts.
        let mut sib = sib_at.map_or(0, |s| bytes[s] & 7);
        for &(op, at, field) in fields {
            match field {
                Field::Low3 { part: Part::Reg, shift } => {
                    let low = t.low_mul.get_mut(op)?;
                    if Some(at) == modrm_at {
                        *low |= 1 << shift;
                        modrm &= !(7 << shift);
                    } else if at + 1 == head_len && shift == 0 {
                        *low |= 0x100;
                        head[at] &= !7;
                        t.plus_shift = 8 * at as u8;
                    } else {
                        return None;
                    }
                }
                Field::Bit3 { part, shift } => {
                    if part == Part::Reg {
                        *t.rex_mul.get_mut(op)? |= 1 << shift;
                    }
                    head[at] &= !(1 << shift);
                    t.rex_shift = 8 * at as u8;
                }
                Field::Low3 { part: Part::Base, .. } if Some(at) == modrm_at => {
                    t.base_in_rm = 7;
                    modrm &= !7;
                }
                Field::Low3 { part: Part::Base, .. } if Some(at) == sib_at => {
                    t.base_in_sib = 7;
                    sib &= !7;
                }
                Field::Low3 { part: Part::Base, .. } => return None,
                // A VEX prefix holds register bits inverted: left to the table's path.
                Field::NotBit3 { .. } | Field::NotLow4 { .. } => return None,
                _ => {}
            }
        }
        t.head = u64::from_le_bytes(head);
        t.head_len = head_len as u8;
        t.modrm = modrm;
        t.modrm_len = u8::from(modrm_at.is_some());
        t.sib = sib;
        t.sib_len = u8::from(sib_at.is_some());
        t.disp_len = disp.map_or(0, |d| d.1);
        t.imm_len = imm.map_or(0, |i| i.1);
        Some(t)
    }

    /// Whether the template gives `encoded` for `parts`; tried at the end of `scratch`, which is left as it was.
    fn gives(&self, parts: &Values, encoded: &Encoded<'_>, scratch: &mut Vec<u8>) -> bool {
        let len = scratch.len();
        self.emit(parts, scratch);
        let same = scratch[len..] == *encoded.bytes();
        scratch.truncate(len);
        same
    }

    /// Where the displacement is in the bytes.
    fn disp_at(&self) -> u8 {
        self.head_len + self.modrm_len + self.sib_len
    }

    /// Appends the bytes of an instruction of this template's shape with `parts`; returns how many.
    #[inline(always)]
    fn emit(&self, parts: &Values, out: &mut Vec<u8>) -> usize {
        let (mut low, mut rex) = (u32::from(self.modrm), 0u32);
        for i in 0..ROUTED {
            let n = u32::from(parts.regs[i]);
            low |= (n & 7) * u32::from(self.low_mul[i]);
            rex |= (n >> 3) * u32::from(self.rex_mul[i]);
        }
        let (base, index) = (u32::from(parts.base), u32::from(parts.index));
        let (modrm, plus) = (low & 0xff | base & u32::from(self.base_in_rm), low >> 8);
        rex |= base >> 3 | (index >> 3) << 1;
        let sib = u32::from(parts.scale) << 6 | (index & 7) << 3 | base & u32::from(self.base_in_sib);
        let sib = sib | u32::from(self.sib);
        let head = self.head | u64::from(rex) << self.rex_shift | u64::from(plus) << self.plus_shift;

        out.reserve(EMIT_ROOM);
        let len = out.len();
        let dst = out.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        let mut n = usize::from(self.head_len);
        // SAFETY: `reserve` left at least EMIT_ROOM (32) bytes of spare capacity at `dst`, and every write ends by
        // byte 8 + 1 + 1 + 4 + 8 = 22 (head, ModRM, SIB, displacement, immediate, each written whole at an offset
        // of at most the lengths before it). `set_len` then counts only bytes written here: `n` is at most 8 + 1 +
        // 1 + 4 + 8, and a template exists only for an instruction it encodes exactly, which is at most MAX_LEN.
        unsafe {
            dst.cast::<u64>().write_unaligned(head.to_le());
            dst.add(n).write(modrm as u8);
            n += usize::from(self.modrm_len);
            dst.add(n).write(sib as u8);
            n += usize::from(self.sib_len);
            dst.add(n).cast::<i32>().write_unaligned(parts.disp.to_le());
            n += usize::from(self.disp_len);
            dst.add(n).cast::<u64>().write_unaligned(parts.imm.to_le());
            n += usize::from(self.imm_len);
            debug_assert!(n <= MAX_LEN);
            out.set_len(len + n);
        }
        n
    }
}

/// What the memo keeps of a shape: the form `select_form` chose and its template (`head_len` 0: the form is
/// encoded by the encoder each time).
#[derive(Clone, Copy, Debug)]
struct Remembered {
    form: Option<&'static Form>,
    template: Template,
}

/// The memo: each shape seen, by mnemonic key and shape.
pub(crate) struct Memo {
    shapes: KeyMap<ShapeKey, Remembered>,
    /// For the tests: how many instructions templates made.
    #[cfg(test)]
    pub(crate) from_templates: std::cell::Cell<usize>,
}

/// How many shapes a memo keeps at most: many more than a text of common instructions has. An instruction of a
/// shape past these is encoded by the encoder, so that a text whose every line has a shape of its own does not
/// make a memo as large as itself.
const MOST_SHAPES: usize = 1 << 14;

/// What the memo asks of an instruction's operands, recorded as the parser reads them: their shape, their
/// [`Values`] and the label an operand names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shaped<'s> {
    /// The operands' shape ([`shift`]s apart), without their count.
    shape: u64,
    count: u8,
    /// Whether each operand is one the memo keeps the shape of (not `ah`..`bh`).
    kept: bool,
    /// Whether each operand is one the memo takes at all (not a runtime part).
    taken: bool,
    pub(crate) parts: Values,
    /// The label an operand names (a jump's, or `[rip + label]`'s), with the operand's span.
    pub(crate) label: Option<Spanned<&'s str>>,
}

impl Default for Shaped<'_> {
    fn default() -> Self {
        Shaped {
            shape: 0,
            count: 0,
            kept: true,
            taken: true,
            parts: Values::NONE,
            label: None,
        }
    }
}

impl Shaped<'_> {
    /// Whether the memo can encode the instruction: no operand is a runtime part.
    #[inline(always)]
    pub(crate) fn taken(&self) -> bool {
        self.taken
    }

    /// The shape of the operands (their count in the low two bits), or `None` for one the memo does not keep.
    #[inline(always)]
    pub(crate) fn shape(&self) -> Option<u64> {
        self.kept.then_some(self.shape | u64::from(self.count))
    }

    /// Whether the operands are a label alone, as a jump's are.
    #[inline(always)]
    pub(crate) fn is_label(&self) -> bool {
        self.shape == LABEL << shift(0) && self.count == 1
    }
}

impl<'s> Record<'s> for Shaped<'s> {
    #[inline(always)]
    fn clear(&mut self) {
        *self = Shaped::default();
    }

    /// A prefixed instruction is the table's to check and encode: the memo does not take it.
    fn prefixed(&mut self) {
        self.taken = false;
    }

    #[inline(always)]
    fn push(&mut self, op: Spanned<Operand<'s>>) -> Result<(), Spanned<Operand<'s>>> {
        let i = usize::from(self.count);
        if i == MAX_OPERANDS {
            return Err(op);
        }
        let part = match &op.node {
            &Operand::Reg(r) => {
                self.parts.regs[i] = r.num();
                reg_shape(r)
            }
            &Operand::Imm(value) => {
                self.parts.imm = value as u64;
                imm_shape(value)
            }
            Operand::Mem(m) if !m.holes.any() => {
                self.label = m.label.map(|name| Spanned {
                    node: name,
                    span: op.span,
                });
                self.parts.set_mem(m);
                mem_shape(m)
            }
            &Operand::Label(name) => {
                self.label = Some(Spanned {
                    node: name,
                    span: op.span,
                });
                LABEL
            }
            _ => {
                self.taken = false;
                NOT_KEPT
            }
        };
        self.shape |= part << shift(i);
        self.kept &= part != NOT_KEPT;
        self.count += 1;
        Ok(())
    }
}

/// An instruction for the memo: its mnemonic and operands, and what the memo asks of them.
pub(crate) struct Instruction<'a, 's> {
    /// The mnemonic as written, and its [`crate::asm::forms::table::mnemonic_key`].
    pub(crate) mnemonic: &'s str,
    pub(crate) key: u128,
    operands: &'a [Spanned<Operand<'s>>],
    pub(crate) shaped: Shaped<'s>,
}

impl<'a, 's> Instruction<'a, 's> {
    /// The instruction with these operands, or `None` if one is not for the memo (a runtime part).
    pub(crate) fn of(mnemonic: &'s str, key: u128, operands: &'a [Spanned<Operand<'s>>]) -> Option<Self> {
        let mut shaped = Shaped::default();
        for op in operands {
            shaped.push(*op).ok()?;
        }
        shaped.taken().then_some(Instruction {
            mnemonic,
            key,
            operands,
            shaped,
        })
    }

    /// Calls `f` with the operands without their spans, as the encoder takes them.
    fn with_ops<R>(&self, f: impl FnOnce(&[Operand<'s>]) -> R) -> R {
        let mut ops = [Operand::Imm(0); MAX_OPERANDS];
        for (op, given) in ops.iter_mut().zip(self.operands) {
            *op = given.node;
        }
        f(&ops[..self.operands.len()])
    }
}

impl Memo {
    pub(crate) fn new() -> Memo {
        Memo {
            shapes: KeyMap::with_capacity_and_hasher(64, Default::default()),
            #[cfg(test)]
            from_templates: std::cell::Cell::new(0),
        }
    }

    /// The common case, done in the caller's loop: an instruction of a remembered shape whose form has a
    /// template. Appends its bytes, returns what was made and the form; `None` (nothing appended) for any other.
    #[inline(always)]
    pub(crate) fn remembered(
        &self,
        key: u128,
        shape: Option<u64>,
        parts: &Values,
        out: &mut Vec<u8>,
    ) -> Option<(Made, &'static Form)> {
        let seen = self.shapes.get(&ShapeKey(key, shape?))?;
        if seen.template.head_len == 0 {
            return None;
        }
        #[cfg(test)]
        self.from_templates.set(self.from_templates.get() + 1);
        let made = Made {
            len: seen.template.emit(parts, out),
            disp_at: seen.template.disp_at(),
        };
        Some((made, seen.form?))
    }

    /// Appends what [`select_form`](crate::asm::forms::select::select_form) makes of the instruction when that
    /// is bytes (with a `[rip + label]` to fill in, perhaps), and returns what was made; `None` (and nothing
    /// appended) when it is anything else (a jump, an error, an unknown mnemonic), which the caller leaves to the
    /// parser and `select`. For what [`Memo::remembered`] does not do: a shape not seen yet, or one whose form has
    /// no template.
    #[inline(never)]
    pub(crate) fn encode(
        &mut self,
        table: &'static Table,
        ins: &Instruction<'_, '_>,
        out: &mut Vec<u8>,
    ) -> Option<Made> {
        ins.with_ops(|ops| self.encode_ops(table, ins, ops, out))
    }

    /// [`Memo::encode`], with the instruction's operands as the encoder takes them.
    fn encode_ops(
        &mut self,
        table: &'static Table,
        ins: &Instruction<'_, '_>,
        ops: &[Operand<'_>],
        out: &mut Vec<u8>,
    ) -> Option<Made> {
        let Some(shape) = ins.shaped.shape() else {
            let (e, _) = plain_bytes(table.forms_by_key(ins.key), ins.mnemonic, ops)?;
            return Some(Made::append(&e, out));
        };
        if let Some(form) = self.shapes.get(&ShapeKey(ins.key, shape)).and_then(|seen| seen.form) {
            let imm = immediate(form, ops.get(usize::from(form.imm_at))).ok()?;
            let e = encode::encode(form, ops, imm, 0).ok()?;
            return Some(Made::append(&e, out));
        }
        let (e, form) = plain_bytes(table.forms_by_key(ins.key), ins.mnemonic, ops)?;
        // The template from the encoder's account of where each part went.
        let mut fields = Fields::default();
        let imm = immediate(form, ops.get(usize::from(form.imm_at))).ok()?;
        let again = encode::encode_with(form, ops, imm, 0, None, &mut fields).ok()?;
        let template = (again.bytes() == e.bytes())
            .then(|| Template::from_encoding(form, e.bytes(), &fields.0))
            .flatten()
            .filter(|t| t.gives(&ins.shaped.parts, &e, out))
            .unwrap_or_default();
        if self.shapes.len() < MOST_SHAPES {
            let form = Some(form);
            self.shapes
                .insert(ShapeKey(ins.key, shape), Remembered { form, template });
        }
        Some(Made::append(&e, out))
    }
}

/// What the memo made of an instruction: how many bytes, and where in them the displacement of a `[rip + label]`
/// is, which the caller fills in once the label has its place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Made {
    pub(crate) len: usize,
    pub(crate) disp_at: u8,
}

impl Made {
    /// Appends the encoder's bytes.
    fn append(e: &Encoded<'_>, out: &mut Vec<u8>) -> Made {
        e.append_to(out);
        let disp_at = match e.fixup {
            Some(Fixup::RipLabel { at, .. }) => at,
            _ => 0,
        };
        Made { len: e.len(), disp_at }
    }
}

/// For debug builds: panics unless `bytes` (from a template of `form`) are what `select_form` makes of the
/// instruction, with that form.
#[cold]
pub(crate) fn check(table: &Table, ins: &Instruction<'_, '_>, form: &Form, bytes: &[u8]) {
    ins.with_ops(|ops| {
        let checked = plain_bytes(table.forms_by_key(ins.key), ins.mnemonic, ops);
        assert!(
            checked.is_some_and(|(c, f)| c.bytes() == bytes && std::ptr::eq(f, form)),
            "the memo's bytes for `{}` {ops:?} are not select's",
            ins.mnemonic,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::forms::select::immediate;
    use crate::asm::text::parse::Parser;
    use crate::asm::text::syntax::StmtKind;

    /// Calls `f` with the one instruction of `line`, as the assembler gives it to the memo.
    fn with_instruction<R>(line: &str, f: impl FnOnce(&Instruction<'_, '_>) -> R) -> R {
        let mut parser = Parser::new(line);
        let Some(StmtKind::Instruction { mnemonic, operands, .. }) = parser.next_statement().map(|s| s.kind) else {
            panic!("`{line}` is no instruction");
        };
        let key = crate::asm::forms::table::mnemonic_key(mnemonic.node).expect("a mnemonic's key");
        f(&Instruction::of(mnemonic.node, key, operands.as_slice()).expect("operands for the memo"))
    }

    #[test]
    fn instructions_of_a_shape_seen_before_come_from_its_template() {
        // 1,000 instructions of a few shapes, with other registers and values each time: all but the first few
        // of each shape come from its template.
        let mut text = String::new();
        for i in 0..250 {
            let (a, b) = (["rax", "rcx", "rdx", "rbx"][i % 4], ["rsi", "rdi", "r8", "r9"][i % 4]);
            text.push_str(&format!("add {a}, {b}\nsub {a}, {}\n", i + 1000));
            text.push_str(&format!(
                "mov {a}, qword ptr [{b} + {}]\nlea {a}, [{b} + {a}*8 + 4]\n",
                i + 200
            ));
        }
        let mut memo = Memo::new();
        let (piece, _) = crate::asm::Assembler::piece(Table::get(), &text, 0..text.len(), false, true, &mut memo);
        assert!(piece.errors.is_empty());
        assert!(
            memo.from_templates.get() > 900,
            "{} of 1,000",
            memo.from_templates.get()
        );
    }

    #[test]
    fn instructions_with_a_rip_label_of_a_shape_seen_before_come_from_its_template() {
        // 500 instructions addressing labels: all but the first of each shape come from its template, their labels'
        // displacements left to fill in where the template says they are.
        let mut text = String::new();
        for i in 0..250 {
            let a = ["rax", "rcx", "r9", "rbx"][i % 4];
            text.push_str(&format!(
                "lea {a}, [rip + L{i}]\ncmp dword ptr [rip + L{i} - {i}], {}\nL{i}:\n",
                i % 100
            ));
        }
        let mut memo = Memo::new();
        let (piece, _) = crate::asm::Assembler::piece(Table::get(), &text, 0..text.len(), false, true, &mut memo);
        assert!(piece.errors.is_empty());
        // (Fifteen shapes: `lea` of registers 0, 1, another and one that needs REX; `cmp` of displacements and
        // immediates of several sizes, 1 and 3 each an interval of its own.)
        assert_eq!(memo.from_templates.get(), 500 - 15);
        // Where the displacements are: after `lea`'s REX, opcode and ModRM; after `cmp`'s opcode and ModRM.
        let at: Vec<u8> = piece.patches[..2]
            .iter()
            .map(|p| match p.fixup {
                crate::asm::encoding::encode::Fixup::RipLabel { at, .. } => at,
                _ => panic!("not a label's fixup"),
            })
            .collect();
        assert_eq!(at, [3, 2]);
    }

    #[test]
    fn common_shapes_get_a_template() {
        let lines = [
            "add rax, rcx",
            "sub ebx, 1000",
            "mov rdx, qword ptr [rsi - 1024]",
            "lea r8, [rdi + rcx*8 + 16]",
            "mov eax, dword ptr [r12 + r13*2]",
            "imul eax, dword ptr [rbx + 4], 12",
            "movsd xmm0, qword ptr [rsp + 8]",
            "shl r9, 3",
            "push r12",
            "mov sil, 1",
            "mov r15, 0x123456789",
            "ret",
        ];
        for line in lines {
            let (mut memo, mut out) = (Memo::new(), Vec::new());
            let n = with_instruction(line, |ins| memo.encode(Table::get(), ins, &mut out));
            assert_eq!(n.map(|made| made.len), Some(out.len()));
            assert_eq!(out, crate::assemble(line).expect("assembles").bytes(), "{line}");
            // The same again, from the template.
            let again = with_instruction(line, |ins| {
                memo.remembered(ins.key, ins.shaped.shape(), &ins.shaped.parts, &mut out)
            });
            assert_eq!(
                again.map(|(made, _)| made.len),
                n.map(|made| made.len),
                "no template for `{line}`"
            );
            assert_eq!(out[..out.len() / 2], out[out.len() / 2..]);
        }
    }

    #[test]
    fn a_memo_keeps_what_it_has_seen() {
        // 648 shapes (9 mnemonics; two widths; registers 0, 1, another, and one that needs REX, in each
        // position; immediates of 5 intervals): each is found again.
        let alu = ["add", "sub", "and", "or", "xor", "cmp", "adc", "sbb", "mov"];
        let regs = [["rax", "rcx", "rdx", "r8", "r9"], ["eax", "ecx", "edx", "r8d", "r9d"]];
        let mut lines = Vec::new();
        for op in alu {
            for width in regs {
                for a in width {
                    for b in width {
                        lines.push(format!("{op} {a}, {b}"));
                    }
                    for imm in ["1", "5", "200", "70000", "-5"] {
                        lines.push(format!("{op} {a}, {imm}"));
                    }
                }
            }
        }
        let (mut memo, mut out) = (Memo::new(), Vec::new());
        let mut shapes = Vec::new();
        for line in &lines {
            with_instruction(line, |ins| {
                memo.encode(Table::get(), ins, &mut out).expect("plain bytes");
                shapes.push((ins.key, ins.shaped.shape().expect("a shape the memo keeps")));
            });
        }
        shapes.sort_unstable();
        shapes.dedup();
        assert!(shapes.len() > 600, "{} shapes", shapes.len());
        let kept = shapes
            .iter()
            .filter(|&&(key, shape)| {
                memo.shapes
                    .get(&ShapeKey(key, shape))
                    .is_some_and(|seen| seen.form.is_some())
            })
            .count();
        assert_eq!(kept, shapes.len());
    }

    #[test]
    fn values_in_one_immediate_interval_fit_the_same_forms() {
        // Every bound, one either side, and values between them.
        let mut values: Vec<i128> = IMM_BOUNDS.iter().flat_map(|&b| [b - 1, b, b + 1]).collect();
        values.extend([
            0,
            3,
            100,
            -100,
            1000,
            -70000,
            1 << 40,
            -(1 << 40),
            1 << 62,
            (1 << 64) - 5,
        ]);
        values.retain(|&v| (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v));
        values.sort();
        let forms: Vec<&Form> = Table::get().all().iter().filter(|f| f.imm_at != Form::NO_IMM).collect();
        let fits = |v: i128| -> Vec<bool> {
            forms
                .iter()
                .map(|f| immediate(f, Some(&Operand::Imm(v))).is_ok())
                .collect()
        };
        let mut intervals = 0;
        for pair in values.windows(2) {
            if imm_interval(pair[0]) == imm_interval(pair[1]) {
                assert_eq!(fits(pair[0]), fits(pair[1]), "{} and {}", pair[0], pair[1]);
                // And the same kinds: a value with a kind of its own (`1`, `3`) is an interval of its own.
                let kinds = |v| crate::asm::forms::select::kinds_of(&Operand::Imm(v));
                assert_eq!(kinds(pair[0]), kinds(pair[1]), "kinds of {} and {}", pair[0], pair[1]);
            } else {
                intervals += 1;
            }
        }
        assert!(intervals > 15, "{intervals}");
        // 1 is a kind of its own (`shl rax, 1`).
        assert!(imm_interval(0) != imm_interval(1) && imm_interval(1) != imm_interval(2));
        // The count over `i64` agrees with the count over every bound.
        for v in values {
            let all = IMM_BOUNDS.iter().filter(|&&b| b <= v).count() as u64;
            assert_eq!(imm_interval(v), all, "{v}");
        }
    }
}
