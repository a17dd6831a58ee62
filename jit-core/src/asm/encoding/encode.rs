//! The encoder: a [`Form`] and its operands to bytes.
//!
//! REX, ModRM, SIB and the displacement are small pure functions, each tested against known bytes; every
//! addressing special case lives in [`encode_mem`].

use crate::asm::error::ErrorKind;
use crate::asm::forms::table::{Form, ModRm, Role};
use crate::asm::text::reg::Reg;
use crate::asm::text::syntax::{Mem, Operand, Scale};

/// The longest x86 instruction.
pub const MAX_LEN: usize = 15;

/// The REX prefix byte: `0100WRXB`.
///
/// ```
/// assert_eq!(jit_core::asm::encode::rex(true, false, false, true), 0x49);
/// ```
pub const fn rex(w: bool, r: bool, x: bool, b: bool) -> u8 {
    0x40 | (w as u8) << 3 | (r as u8) << 2 | (x as u8) << 1 | b as u8
}

/// The ModRM byte: `mod` (2 bits), `reg` (3), `rm` (3).
///
/// ```
/// assert_eq!(jit_core::asm::encode::modrm(0b11, 0, 0), 0xc0);
/// ```
pub const fn modrm(md: u8, reg: u8, rm: u8) -> u8 {
    (md & 3) << 6 | (reg & 7) << 3 | (rm & 7)
}

/// The SIB byte: scale, index and base (low three bits each).
///
/// ```
/// use jit_core::asm::{Scale, encode::sib};
/// assert_eq!(sib(Scale::X8, 1, 3), 0xcb);
/// ```
pub const fn sib(scale: Scale, index: u8, base: u8) -> u8 {
    scale.sib_bits() << 6 | (index & 7) << 3 | (base & 7)
}

/// What a base register needs beyond its ModRM.rm bits: the one statement of the two special cases of x86-64
/// addressing, which the encoder follows and the memo's shapes tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseNeeds {
    /// Nothing (rax, rcx, rdx, rbx, rsi, rdi, r8–r11, r14, r15).
    Nothing,
    /// A SIB byte (rsp, r12): `rm=100` always means "SIB follows".
    Sib,
    /// A displacement, 0 if nothing else (rbp, r13): `mod=00 rm=101` means rip-relative or no base.
    Disp,
}

impl BaseNeeds {
    /// What `base` (a 64-bit register, not `rip`) needs.
    pub const fn of(base: Reg) -> BaseNeeds {
        match base.low3() {
            0b100 => BaseNeeds::Sib,
            0b101 => BaseNeeds::Disp,
            _ => BaseNeeds::Nothing,
        }
    }
}

/// A displacement and the ModRM `mod` bits that announce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disp {
    /// No displacement (`mod` = 00).
    None,
    /// A signed byte (`mod` = 01).
    Imm8(i8),
    /// A signed dword (`mod` = 10, or 00 for rip-relative and no-base forms).
    Imm32(i32),
}

impl Disp {
    /// The shortest displacement for a base register: none for 0 (unless the base needs one, [`BaseNeeds::Disp`]),
    /// a byte when it fits, else a dword.
    pub fn for_base(disp: i32, base: Reg) -> Disp {
        match disp {
            0 if BaseNeeds::of(base) != BaseNeeds::Disp => Disp::None,
            d => i8::try_from(d).map_or(Disp::Imm32(d), Disp::Imm8),
        }
    }

    /// The `mod` bits that go with a base register.
    pub fn mod_bits(self) -> u8 {
        match self {
            Disp::None => 0b00,
            Disp::Imm8(_) => 0b01,
            Disp::Imm32(_) => 0b10,
        }
    }
}

/// A memory operand as ModRM.rm bits, SIB, displacement and REX.X/REX.B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemEncoding {
    /// ModRM `mod`.
    pub md: u8,
    /// ModRM `rm` (`100` means a SIB byte follows).
    pub rm: u8,
    /// The SIB byte, if any.
    pub sib: Option<u8>,
    /// The displacement.
    pub disp: Disp,
    /// REX.X (index register r8..r15).
    pub rex_x: bool,
    /// REX.B (base register r8..r15).
    pub rex_b: bool,
}

/// Encodes the addressing part of a memory operand. The special cases of x86-64:
/// - no base and no index: an absolute `[disp32]` needs a SIB with "no base, no index" (`rm=100`, SIB `25`), as
///   `rm=101` means rip-relative in 64-bit mode;
/// - `rip` base: `mod=00 rm=101` and a disp32 relative to the next instruction;
/// - an index without base: SIB with base `101` under `mod=00`, and a disp32;
/// - rsp/r12 as base: `rm=100` always means "SIB follows", so they need a SIB (index `100` = none);
/// - rbp/r13 as base: `mod=00 rm=101` is taken by rip/no-base, so they need a displacement, 0 if nothing else.
///
/// ```
/// use jit_core::asm::{encode::{encode_mem, Disp}, Mem, MemHoles, Reg};
/// let mem = Mem { size: None, base: Some(Reg::RSP), index: None, disp: 0, label: None, holes: MemHoles::NONE };
/// let e = encode_mem(&mem);
/// assert_eq!((e.md, e.rm, e.sib, e.disp), (0, 0b100, Some(0x24), Disp::None));
/// ```
pub fn encode_mem(mem: &Mem<'_>) -> MemEncoding {
    let rex_x = mem.index.is_some_and(|ix| ix.reg().high_bit());
    let none = MemEncoding {
        md: 0,
        rm: 0b100,
        sib: None,
        disp: Disp::Imm32(mem.disp),
        rex_x,
        rex_b: false,
    };
    match (mem.base, mem.index) {
        (None, None) => MemEncoding {
            sib: Some(sib(Scale::X1, 0b100, 0b101)),
            ..none
        },
        (None, Some(ix)) => MemEncoding {
            sib: Some(sib(ix.scale(), ix.reg().low3(), 0b101)),
            ..none
        },
        (Some(b), _) if b == Reg::RIP => MemEncoding { rm: 0b101, ..none },
        (Some(b), index) => {
            // A displacement supplied at run time takes 32 bits, whatever value it will have.
            let disp = match mem.holes.disp {
                0 => Disp::for_base(mem.disp, b),
                _ => Disp::Imm32(mem.disp),
            };
            let sib = match index {
                Some(ix) => Some(sib(ix.scale(), ix.reg().low3(), b.low3())),
                None if BaseNeeds::of(b) == BaseNeeds::Sib => Some(sib(Scale::X1, 0b100, 0b100)),
                None => None,
            };
            let rm = if sib.is_some() { 0b100 } else { b.low3() };
            MemEncoding {
                md: disp.mod_bits(),
                rm,
                sib,
                disp,
                rex_x,
                rex_b: b.high_bit(),
            }
        }
    }
}

/// Something in an encoded instruction that is only known later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixup<'s> {
    /// A rip-relative disp32 at byte `at` that must point at `label` (plus the written displacement).
    RipLabel {
        /// Offset of the disp32 within the instruction.
        at: u8,
        /// The label.
        label: &'s str,
        /// The displacement written next to the label.
        addend: i32,
    },
    /// An immediate of `bytes` bytes at byte `at` supplied at run time by hole `hole`.
    Hole {
        /// Offset of the immediate within the instruction.
        at: u8,
        /// The hole's number (`{N}`).
        hole: u32,
        /// Width of the immediate in bytes.
        bytes: u8,
    },
}

/// One encoded instruction: up to 15 bytes and at most one fixup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded<'s> {
    bytes: [u8; MAX_LEN],
    len: u8,
    /// What must be filled in later, if anything.
    pub fixup: Option<Fixup<'s>>,
}

impl<'s> Encoded<'s> {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Appends the bytes to `out`. Copies the whole 15-byte buffer and then shortens `out`: a copy of known size,
    /// cheaper for a few bytes than the call a copy of variable size becomes.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        let len = out.len();
        out.extend_from_slice(&self.bytes);
        out.truncate(len + self.len as usize);
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True if nothing was encoded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which part of an operand a register field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// The operand itself, a register.
    Reg,
    /// A memory operand's base register.
    Base,
    /// A memory operand's index register.
    Index,
}

/// A field of an encoded instruction that holds (part of) an operand: what [`encode_with`] reports to a
/// [`Record`], so that the instruction can be written again later with other registers and values
/// (copy-and-patch: the emitter's templates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The low three bits of a register's number, at bit `shift` (ModRM.reg 3, ModRM.rm 0, SIB.index 3, SIB.base 0,
    /// an opcode's `+r` 0).
    Low3 {
        /// Which register of the operand.
        part: Part,
        /// The bit the three bits start at.
        shift: u8,
    },
    /// The fourth bit of a register's number, at bit `shift` of the REX prefix (R 2, X 1, B 0).
    Bit3 {
        /// Which register of the operand.
        part: Part,
        /// The bit.
        shift: u8,
    },
    /// A memory operand's displacement of this many bytes (1 or 4).
    Disp(u8),
    /// An immediate of this many bytes.
    Imm(u8),
    /// The ModRM byte (reported once, for no operand in particular).
    ModRm,
    /// The SIB byte (reported once, for the memory operand).
    Sib,
}

/// Told where each operand went while [`encode_with`] writes an instruction.
pub trait Record {
    /// Operand `op` (its place in the operand list) went into `field` at byte `at` of the instruction.
    fn field(&mut self, op: usize, at: usize, field: Field);
}

/// Every field an encoding reported, in order: `(operand, byte, field)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(usize, usize, Field)>);

impl Record for Fields {
    fn field(&mut self, op: usize, at: usize, field: Field) {
        self.0.push((op, at, field));
    }
}

/// Records nothing: [`encode`] is [`encode_with`] with this, and compiles to the same code as without a record.
impl Record for () {
    #[inline(always)]
    fn field(&mut self, _: usize, _: usize, _: Field) {}
}

/// Encodes an instruction whose operands the matcher found to fit `form`. `imm` is the immediate's value already
/// checked against the form; `rel` a relative offset for `D` forms. Fails only for `ah..bh` next to a REX prefix.
#[inline]
pub fn encode<'s>(form: &Form, ops: &[Operand<'s>], imm: i64, rel: i32) -> Result<Encoded<'s>, ErrorKind> {
    encode_with(form, ops, imm, rel, &mut ())
}

/// [`encode`], telling `record` where each register, displacement and immediate went: the one place that knows
/// the layout of an x86 instruction, for the assembler and for the emitter's templates alike.
pub fn encode_with<'s, R: Record>(
    form: &Form,
    ops: &[Operand<'s>],
    imm: i64,
    rel: i32,
    record: &mut R,
) -> Result<Encoded<'s>, ErrorKind> {
    let mut reg_field = match form.modrm {
        ModRm::Digit(d) => d,
        _ => 0,
    };
    let (mut r, mut b) = (false, false);
    let mut force_rex = false;
    let mut high_byte: Option<Reg> = None;
    let mut rm_reg: Option<Reg> = None;
    // The memory operand: its place in the operand list, and itself.
    let mut mem: Option<(usize, &Mem<'s>)> = None;
    let mut op_reg = 0u8;
    let mut hole: Option<u32> = None;
    // Which operand each register field and REX bit comes from, and where the memory operand and the immediate
    // are: for `record`.
    let (mut reg_src, mut rm_src, mut op_reg_src, mut imm_src) = (None, None, None, None);
    let (mut r_src, mut b_src) = (None, None);
    for (i, (op, role)) in ops.iter().zip(&form.roles).enumerate() {
        let reg = match (op, role) {
            (Operand::Reg(reg), Role::Reg | Role::RegRm | Role::Rm | Role::OpReg) => *reg,
            (Operand::Mem(m), Role::Rm) => {
                mem = Some((i, m));
                continue;
            }
            (Operand::Hole(n), Role::Imm) => {
                hole = Some(*n);
                imm_src = Some(i);
                continue;
            }
            (Operand::Imm(_), Role::Imm) => {
                imm_src = Some(i);
                continue;
            }
            _ => continue,
        };
        match role {
            Role::Reg => {
                reg_field = reg.low3();
                r = reg.high_bit();
                (reg_src, r_src) = (Some(i), Some(i));
            }
            Role::RegRm => {
                reg_field = reg.low3();
                r = reg.high_bit();
                b = reg.high_bit();
                rm_reg = Some(reg);
                (reg_src, rm_src, r_src, b_src) = (Some(i), Some(i), Some(i), Some((i, Part::Reg)));
            }
            Role::Rm => {
                rm_reg = Some(reg);
                b = reg.high_bit();
                (rm_src, b_src) = (Some(i), Some((i, Part::Reg)));
            }
            _ => {
                op_reg = reg.low3();
                b = reg.high_bit();
                (op_reg_src, b_src) = (Some(i), Some((i, Part::Reg)));
            }
        }
        force_rex |= reg.needs_rex();
        if reg.is_high_byte() {
            high_byte = Some(reg);
        }
    }
    let mem = mem.map(|(i, m)| (i, m, encode_mem(m)));
    let mut x = false;
    if let Some((i, m, e)) = mem {
        x = e.rex_x;
        b = e.rex_b;
        if m.base.is_some_and(|base| base != Reg::RIP) {
            b_src = Some((i, Part::Base));
        }
    }
    let needs_rex = form.rex_w || r || x || b || force_rex;
    if let (true, Some(hb)) = (needs_rex, high_byte) {
        return Err(ErrorKind::HighByteWithRex(hb.to_string()));
    }

    // Written into a buffer with room for a whole 4- or 8-byte field at any offset up to `MAX_LEN`, so that
    // each part is one copy of known size; the running length `n` counts only the bytes that belong.
    let mut buf = [0u8; MAX_LEN + 9];
    let mut n = form.prefixes.len();
    buf[..4].copy_from_slice(&form.prefixes.array());
    buf[n] = rex(form.rex_w, r, x, b);
    if needs_rex {
        let bit3 = |part, shift| Field::Bit3 { part, shift };
        if let Some(i) = r_src {
            record.field(i, n, bit3(Part::Reg, 2));
        }
        if let Some((i, m, _)) = mem
            && m.index.is_some()
        {
            record.field(i, n, bit3(Part::Index, 1));
        }
        if let Some((i, part)) = b_src {
            record.field(i, n, bit3(part, 0));
        }
    }
    n += usize::from(needs_rex);
    let opcode_len = form.opcode.len();
    buf[n..n + 4].copy_from_slice(&form.opcode.array());
    n += opcode_len;
    let low3 = |part, shift| Field::Low3 { part, shift };
    if form.plus_r {
        buf[n - 1] |= op_reg;
        if let Some(i) = op_reg_src {
            record.field(i, n - 1, low3(Part::Reg, 0));
        }
    }
    let mut fixup = None;
    if form.modrm != ModRm::None {
        record.field(0, n, Field::ModRm);
        if let Some(i) = reg_src {
            record.field(i, n, low3(Part::Reg, 3));
        }
        match (rm_reg, mem) {
            (Some(rm), _) => {
                buf[n] = modrm(0b11, reg_field, rm.low3());
                if let Some(i) = rm_src {
                    record.field(i, n, low3(Part::Reg, 0));
                }
                n += 1;
            }
            (None, Some((i, m, e))) => {
                buf[n] = modrm(e.md, reg_field, e.rm);
                let has_base = m.base.is_some_and(|base| base != Reg::RIP);
                if e.sib.is_none() && has_base {
                    record.field(i, n, low3(Part::Base, 0));
                }
                n += 1;
                if let Some(s) = e.sib {
                    buf[n] = s;
                    record.field(i, n, Field::Sib);
                    if has_base {
                        record.field(i, n, low3(Part::Base, 0));
                    }
                    if m.index.is_some() {
                        record.field(i, n, low3(Part::Index, 3));
                    }
                    n += 1;
                }
                match e.disp {
                    Disp::None => {}
                    Disp::Imm8(d) => {
                        buf[n] = d as u8;
                        record.field(i, n, Field::Disp(1));
                        n += 1;
                    }
                    Disp::Imm32(d) => {
                        if let Some(label) = m.label {
                            fixup = Some(Fixup::RipLabel {
                                at: n as u8,
                                label,
                                addend: d,
                            });
                        }
                        record.field(i, n, Field::Disp(4));
                        buf[n..n + 4].copy_from_slice(&d.to_le_bytes());
                        n += 4;
                    }
                }
            }
            (None, None) => {
                buf[n] = modrm(0b11, reg_field, 0);
                n += 1;
            }
        }
    }
    let value = if form.is_relative() {
        i64::from(rel)
    } else {
        if let Some(hole) = hole
            && form.imm_bytes > 0
        {
            fixup = Some(Fixup::Hole {
                at: n as u8,
                hole,
                bytes: form.imm_bytes,
            });
        }
        if let Some(i) = imm_src
            && form.imm_bytes > 0
        {
            record.field(i, n, Field::Imm(form.imm_bytes));
        }
        imm
    };
    // Only the immediate's own bytes: the rest of the buffer stays zero, as `Encoded` compares all 15 bytes.
    let mask = u64::MAX.checked_shr(64 - 8 * u32::from(form.imm_bytes)).unwrap_or(0);
    buf[n..n + 8].copy_from_slice(&(value as u64 & mask).to_le_bytes());
    n += usize::from(form.imm_bytes);
    let mut bytes = [0u8; MAX_LEN];
    bytes.copy_from_slice(&buf[..MAX_LEN]);
    Ok(Encoded {
        bytes,
        len: n.min(MAX_LEN) as u8,
        fixup,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::{Index, MemHoles};

    fn reg(name: &str) -> Reg {
        Reg::from_name(name).unwrap()
    }

    fn mem_bytes(base: Option<&str>, index: Option<(&str, u8)>, disp: i32) -> Vec<u8> {
        let mem = Mem {
            size: None,
            base: base.map(reg),
            index: index.and_then(|(r, s)| Index::new(reg(r), Scale::from_factor(u64::from(s))?)),
            disp,
            label: None,
            holes: MemHoles::NONE,
        };
        let e = encode_mem(&mem);
        let mut out = vec![modrm(e.md, 0, e.rm)];
        out.extend(e.sib);
        match e.disp {
            Disp::None => {}
            Disp::Imm8(d) => out.push(d as u8),
            Disp::Imm32(d) => out.extend(d.to_le_bytes()),
        }
        out
    }

    #[test]
    fn prefix_bytes() {
        assert_eq!(rex(true, false, false, false), 0x48);
        assert_eq!(rex(false, true, true, true), 0x47);
        assert_eq!(modrm(0b01, 7, 4), 0x7c);
        assert_eq!(sib(Scale::X1, 0b100, 0b100), 0x24);
        assert_eq!(sib(Scale::X2, 1, 0b101), 0x4d);
    }

    #[test]
    fn every_addressing_special_case() {
        // Bytes from GNU as 2.40 for `mov eax, dword ptr [...]` without the opcode.
        assert_eq!(mem_bytes(Some("rax"), None, 0), [0x00]);
        assert_eq!(mem_bytes(Some("rsp"), None, 0), [0x04, 0x24]);
        assert_eq!(mem_bytes(Some("r12"), None, 0), [0x04, 0x24]);
        assert_eq!(mem_bytes(Some("rbp"), None, 0), [0x45, 0x00]);
        assert_eq!(mem_bytes(Some("r13"), None, 0), [0x45, 0x00]);
        assert_eq!(mem_bytes(Some("rbx"), None, 127), [0x43, 0x7f]);
        assert_eq!(mem_bytes(Some("rbx"), None, 128), [0x83, 0x80, 0, 0, 0]);
        assert_eq!(mem_bytes(Some("rbx"), None, -128), [0x43, 0x80]);
        assert_eq!(mem_bytes(Some("rbx"), None, -129), [0x83, 0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(mem_bytes(Some("rbx"), Some(("rcx", 8)), 0), [0x04, 0xcb]);
        assert_eq!(mem_bytes(Some("rbp"), Some(("rcx", 1)), 0), [0x44, 0x0d, 0x00]);
        assert_eq!(mem_bytes(None, Some(("rcx", 2)), 0), [0x04, 0x4d, 0, 0, 0, 0]);
        assert_eq!(mem_bytes(None, None, 0x1000), [0x04, 0x25, 0x00, 0x10, 0, 0]);
        assert_eq!(mem_bytes(Some("rip"), None, 0x10), [0x05, 0x10, 0, 0, 0]);
        let m = Mem {
            size: None,
            base: Some(reg("r13")),
            index: Index::new(reg("r9"), Scale::X4),
            disp: 1,
            label: None,
            holes: MemHoles::NONE,
        };
        let e = encode_mem(&m);
        assert!(e.rex_x && e.rex_b);
    }
}
