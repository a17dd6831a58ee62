//! The encoder: a [`Form`] and its operands to bytes.
//!
//! REX, ModRM, SIB and the displacement are small pure functions, each tested against known bytes; every
//! addressing special case lives in [`encode_mem`].

use super::error::ErrorKind;
use super::reg::Reg;
use super::syntax::{Mem, Operand};
use super::table::{Form, ModRm, Role};

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

/// The SIB byte: scale (1, 2, 4 or 8), index and base (low three bits each).
///
/// ```
/// assert_eq!(jit_core::asm::encode::sib(8, 1, 3), 0xcb);
/// ```
pub const fn sib(scale: u8, index: u8, base: u8) -> u8 {
    let ss = match scale {
        2 => 1,
        4 => 2,
        8 => 3,
        _ => 0,
    };
    ss << 6 | (index & 7) << 3 | (base & 7)
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
    /// The shortest displacement for a base register: none for 0 (except rbp/r13, whose "no displacement" code
    /// means something else), a byte when it fits, else a dword.
    pub fn for_base(disp: i32, base: Reg) -> Disp {
        match disp {
            0 if base.low3() != 5 => Disp::None,
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
/// use jit_core::asm::{encode::{encode_mem, Disp}, Mem, Reg};
/// let mem = Mem { size: None, base: Some(Reg::RSP), index: None, disp: 0, label: None };
/// let e = encode_mem(&mem);
/// assert_eq!((e.md, e.rm, e.sib, e.disp), (0, 0b100, Some(0x24), Disp::None));
/// ```
pub fn encode_mem(mem: &Mem<'_>) -> MemEncoding {
    let rex_x = mem.index.is_some_and(|(r, _)| r.high_bit());
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
            sib: Some(sib(1, 0b100, 0b101)),
            ..none
        },
        (None, Some((ix, scale))) => MemEncoding {
            sib: Some(sib(scale, ix.low3(), 0b101)),
            ..none
        },
        (Some(b), _) if b == Reg::RIP => MemEncoding { rm: 0b101, ..none },
        (Some(b), index) => {
            let disp = Disp::for_base(mem.disp, b);
            let sib = match index {
                Some((ix, scale)) => Some(sib(scale, ix.low3(), b.low3())),
                None if b.low3() == 0b100 => Some(sib(1, 0b100, 0b100)),
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
    fn new() -> Self {
        Encoded {
            bytes: [0; MAX_LEN],
            len: 0,
            fixup: None,
        }
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len as usize) {
            *slot = b;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

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

/// Encodes an instruction whose operands the matcher found to fit `form`. `imm` is the immediate's value already
/// checked against the form; `rel` a relative offset for `D` forms. Fails only for `ah..bh` next to a REX prefix.
pub fn encode<'s>(form: &Form, ops: &[Operand<'s>], imm: i64, rel: i32) -> Result<Encoded<'s>, ErrorKind> {
    let mut reg_field = match form.modrm {
        ModRm::Digit(d) => d,
        _ => 0,
    };
    let (mut r, mut x, mut b) = (false, false, false);
    let mut force_rex = false;
    let mut high_byte: Option<Reg> = None;
    let mut rm_reg: Option<Reg> = None;
    let mut mem: Option<&Mem<'s>> = None;
    let mut op_reg = 0u8;
    let mut hole: Option<u32> = None;
    let mut note = |reg: Reg, force: &mut bool| {
        *force |= reg.needs_rex();
        if reg.is_high_byte() {
            high_byte = Some(reg);
        }
    };
    for (op, role) in ops.iter().zip(&form.roles) {
        match (role, op) {
            (Role::Reg, Operand::Reg(reg)) => {
                reg_field = reg.low3();
                r = reg.high_bit();
                note(*reg, &mut force_rex);
            }
            (Role::RegRm, Operand::Reg(reg)) => {
                reg_field = reg.low3();
                r = reg.high_bit();
                b = reg.high_bit();
                rm_reg = Some(*reg);
                note(*reg, &mut force_rex);
            }
            (Role::Rm, Operand::Reg(reg)) => {
                rm_reg = Some(*reg);
                b = reg.high_bit();
                note(*reg, &mut force_rex);
            }
            (Role::Rm, Operand::Mem(m)) => mem = Some(m),
            (Role::OpReg, Operand::Reg(reg)) => {
                op_reg = reg.low3();
                b = reg.high_bit();
                note(*reg, &mut force_rex);
            }
            (Role::Imm, Operand::Hole(n)) => hole = Some(*n),
            _ => {}
        }
    }
    let mem_enc = mem.map(encode_mem);
    if let Some(e) = mem_enc {
        x = e.rex_x;
        b = e.rex_b;
    }
    let needs_rex = form.rex_w || r || x || b || force_rex;
    if let (true, Some(hb)) = (needs_rex, high_byte) {
        return Err(ErrorKind::HighByteWithRex(hb.to_string()));
    }

    let mut out = Encoded::new();
    out.extend(&form.prefixes);
    if needs_rex {
        out.push(rex(form.rex_w, r, x, b));
    }
    let (last, head) = form.opcode.split_last().unwrap_or((&0, &[]));
    out.extend(head);
    out.push(if form.plus_r { last | op_reg } else { *last });
    if form.modrm != ModRm::None {
        match (rm_reg, mem_enc) {
            (Some(rm), _) => out.push(modrm(0b11, reg_field, rm.low3())),
            (None, Some(e)) => {
                out.push(modrm(e.md, reg_field, e.rm));
                if let Some(s) = e.sib {
                    out.push(s);
                }
                match e.disp {
                    Disp::None => {}
                    Disp::Imm8(d) => out.push(d as u8),
                    Disp::Imm32(d) => {
                        if let Some(label) = mem.and_then(|m| m.label) {
                            out.fixup = Some(Fixup::RipLabel {
                                at: out.len,
                                label,
                                addend: d,
                            });
                        }
                        out.extend(&d.to_le_bytes());
                    }
                }
            }
            (None, None) => out.push(modrm(0b11, reg_field, 0)),
        }
    }
    if form.roles.contains(&Role::Rel) {
        out.extend(&rel.to_le_bytes()[..form.imm_bytes as usize]);
    } else if form.imm_bytes > 0 {
        if let Some(n) = hole {
            out.fixup = Some(Fixup::Hole {
                at: out.len,
                hole: n,
                bytes: form.imm_bytes,
            });
        }
        out.extend(&imm.to_le_bytes()[..form.imm_bytes as usize]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str) -> Reg {
        Reg::from_name(name).unwrap()
    }

    fn mem_bytes(base: Option<&str>, index: Option<(&str, u8)>, disp: i32) -> Vec<u8> {
        let mem = Mem {
            size: None,
            base: base.map(reg),
            index: index.map(|(r, s)| (reg(r), s)),
            disp,
            label: None,
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
        assert_eq!(sib(1, 0b100, 0b100), 0x24);
        assert_eq!(sib(2, 1, 0b101), 0x4d);
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
            index: Some((reg("r9"), 4)),
            disp: 1,
            label: None,
        };
        let e = encode_mem(&m);
        assert!(e.rex_x && e.rex_b);
    }
}
