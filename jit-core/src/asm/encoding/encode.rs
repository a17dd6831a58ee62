//! The encoder: a [`Form`] and its operands to bytes.
//!
//! REX, ModRM, SIB and the displacement are small pure functions, each tested against known bytes; every
//! addressing special case lives in [`encode_mem`].

use crate::asm::error::ErrorKind;
use crate::asm::forms::table::{Form, ModRm, Role, Vex};
use crate::asm::text::reg::Reg;
use crate::asm::text::syntax::{Mem, Operand, Prefix, Scale};

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
    /// The fourth bit of a register's number, inverted, at bit `shift` of a VEX prefix's byte (R̄ 7, X̄ 6, B̄ 5).
    NotBit3 {
        /// Which register of the operand.
        part: Part,
        /// The bit.
        shift: u8,
    },
    /// A register's number, inverted, in the four bits from bit `shift` (VEX.vvvv: 3).
    NotLow4 {
        /// Which register of the operand.
        part: Part,
        /// The bit the four bits start at.
        shift: u8,
    },
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
    encode_with(form, ops, imm, rel, None, &mut ())
}

/// [`encode`], telling `record` where each register, displacement and immediate went: the one place that knows
/// the layout of an x86 instruction, for the assembler and for the emitter's templates alike.
pub fn encode_with<'s, R: Record>(
    form: &Form,
    ops: &[Operand<'s>],
    imm: i64,
    rel: i32,
    prefix: Option<Prefix>,
    record: &mut R,
) -> Result<Encoded<'s>, ErrorKind> {
    let placed = Placement::new(form, ops);
    let mut buf = [0u8; MAX_LEN + 9];
    let mut out = Writer::new(&mut buf);
    match form.vex {
        Some(vex) => out.vex(vex, &placed, record),
        None => {
            let needs_rex = placed.needs_rex(form)?;
            out.prefixes_and_rex(form, &placed, needs_rex, prefix, record);
        }
    }
    out.opcode(form, &placed, record);
    out.modrm_sib_disp(form, &placed, record);
    out.immediate_or_relative(form, &placed, imm, rel, record);
    Ok(out.finish())
}

/// The [`Field::Low3`] of `part` at bit `shift`.
#[inline(always)]
const fn low3(part: Part, shift: u8) -> Field {
    Field::Low3 { part, shift }
}

/// The [`Field::Bit3`] of `part` at bit `shift` of the REX prefix.
#[inline(always)]
const fn bit3(part: Part, shift: u8) -> Field {
    Field::Bit3 { part, shift }
}

/// The memory operand of an instruction: its place in the operand list, itself, and its encoding.
#[derive(Clone, Copy)]
struct MemOperand<'a, 's> {
    /// Its place in the operand list.
    at: usize,
    /// The operand.
    mem: &'a Mem<'s>,
    /// Its ModRM.rm bits, SIB, displacement and REX bits.
    enc: MemEncoding,
}

impl MemOperand<'_, '_> {
    /// Whether the base register's bits are in the instruction: there is a base, and it is not `rip`.
    #[inline(always)]
    fn has_base(&self) -> bool {
        self.mem.base.is_some_and(|base| base != Reg::RIP)
    }
}

/// The operands sorted into the fields of the instruction, each with the operand it comes from (its place in the
/// operand list) for the [`Record`].
struct Placement<'a, 's> {
    /// ModRM.reg: a register's low three bits, or the form's `/digit` (0 without either).
    reg_field: u8,
    /// The operand in ModRM.reg, which also gives REX.R.
    reg_src: Option<usize>,
    /// The register in ModRM.rm (`mod` = 11), and its operand.
    rm_reg: Option<(usize, Reg)>,
    /// The memory operand in ModRM.rm.
    mem: Option<MemOperand<'a, 's>>,
    /// The register added to the opcode's last byte (`+r`), and its operand.
    op_reg: Option<(usize, Reg)>,
    /// The immediate operand.
    imm_src: Option<usize>,
    /// The hole number of an immediate supplied at run time.
    hole: Option<u32>,
    /// The register in VEX.vvvv, and its operand.
    vvvv: Option<(usize, Reg)>,
    /// REX.R: the high bit of the register in ModRM.reg.
    rex_r: bool,
    /// REX.X: the high bit of the memory operand's index.
    rex_x: bool,
    /// REX.B: the high bit of the register in ModRM.rm or `+r`, or of the memory operand's base.
    rex_b: bool,
    /// The operand REX.B comes from, and which of its registers.
    b_src: Option<(usize, Part)>,
    /// Whether a register exists only with a REX prefix (`spl bpl sil dil`).
    force_rex: bool,
    /// A high byte register (`ah ch dh bh`), which cannot be encoded with a REX prefix.
    high_byte: Option<Reg>,
}

impl<'a, 's> Placement<'a, 's> {
    /// Sorts `ops` by their roles in `form`: registers by [`Placement::register`], the memory operand (encoded by
    /// [`encode_mem`], which gives REX.X and REX.B), and the immediate, a value or a hole. Implicit operands take
    /// no field.
    #[inline(always)]
    fn new(form: &Form, ops: &'a [Operand<'s>]) -> Self {
        let mut placed = Placement {
            reg_field: match form.modrm {
                ModRm::Digit(d) => d,
                _ => 0,
            },
            reg_src: None,
            rm_reg: None,
            mem: None,
            op_reg: None,
            imm_src: None,
            hole: None,
            vvvv: None,
            rex_r: false,
            rex_x: false,
            rex_b: false,
            b_src: None,
            force_rex: false,
            high_byte: None,
        };
        let mut mem = None;
        for (i, (op, role)) in ops.iter().zip(&form.roles).enumerate() {
            match (op, role) {
                (Operand::Reg(reg), Role::Reg | Role::RegRm | Role::Rm | Role::OpReg) => {
                    placed.register(i, *reg, *role);
                }
                (Operand::Reg(reg), Role::Vvvv) => placed.vvvv = Some((i, *reg)),
                (Operand::Mem(m), Role::Rm) => mem = Some((i, m)),
                (Operand::Hole(n), Role::Imm) => {
                    placed.hole = Some(*n);
                    placed.imm_src = Some(i);
                }
                (Operand::Imm(_), Role::Imm) => placed.imm_src = Some(i),
                _ => {}
            }
        }
        placed.mem = mem.map(|(at, mem)| MemOperand {
            at,
            mem,
            enc: encode_mem(mem),
        });
        if let Some(m) = placed.mem {
            placed.rex_x = m.enc.rex_x;
            placed.rex_b = m.enc.rex_b;
            if m.has_base() {
                placed.b_src = Some((m.at, Part::Base));
            }
        }
        placed
    }

    /// Places register `reg`, operand `at`, by its role: `Reg` in ModRM.reg and REX.R, `Rm` in ModRM.rm and
    /// REX.B, `RegRm` in both, `OpReg` in the opcode's `+r` and REX.B.
    #[inline(always)]
    fn register(&mut self, at: usize, reg: Reg, role: Role) {
        if let Role::Reg | Role::RegRm = role {
            self.reg_field = reg.low3();
            self.rex_r = reg.high_bit();
            self.reg_src = Some(at);
        }
        match role {
            Role::Rm | Role::RegRm => self.rm_reg = Some((at, reg)),
            Role::OpReg => self.op_reg = Some((at, reg)),
            _ => {}
        }
        if role != Role::Reg {
            self.rex_b = reg.high_bit();
            self.b_src = Some((at, Part::Reg));
        }
        self.force_rex |= reg.needs_rex();
        if reg.is_high_byte() {
            self.high_byte = Some(reg);
        }
    }

    /// Whether the instruction needs a REX prefix: for REX.W, R, X or B, or for `spl bpl sil dil`. Fails if it does
    /// and an operand is `ah ch dh bh`, which cannot be encoded with a REX prefix.
    #[inline(always)]
    fn needs_rex(&self, form: &Form) -> Result<bool, ErrorKind> {
        let needs_rex = form.rex_w || self.rex_r || self.rex_x || self.rex_b || self.force_rex;
        match (needs_rex, self.high_byte) {
            (true, Some(hb)) => Err(ErrorKind::HighByteWithRex(hb.to_string())),
            _ => Ok(needs_rex),
        }
    }
}

/// An instruction being written: a buffer of zeros with room for a whole 4- or 8-byte field at any offset up to
/// [`MAX_LEN`], so that each part is one copy of known size; the running length `n`, which counts only the
/// bytes that belong; and what must be filled in later, if anything. The buffer is borrowed, not held, so that
/// the length and the fixup stay in registers.
struct Writer<'b, 's> {
    /// The bytes.
    buf: &'b mut [u8; MAX_LEN + 9],
    /// How many bytes of `buf` belong to the instruction so far.
    n: usize,
    /// What must be filled in later.
    fixup: Option<Fixup<'s>>,
}

impl<'b, 's> Writer<'b, 's> {
    /// An empty instruction written into `buf`.
    #[inline(always)]
    fn new(buf: &'b mut [u8; MAX_LEN + 9]) -> Self {
        Writer { buf, n: 0, fixup: None }
    }

    /// Writes the form's legacy prefixes, then a `lock` or `rep` prefix if there is one (after an operand-size
    /// `66`, as GNU as orders them), then the REX prefix if `needs_rex`, reporting which operand each of REX.R,
    /// REX.X and REX.B comes from.
    #[inline(always)]
    fn prefixes_and_rex<R: Record>(
        &mut self,
        form: &Form,
        placed: &Placement<'_, '_>,
        needs_rex: bool,
        prefix: Option<Prefix>,
        record: &mut R,
    ) {
        self.n = form.prefixes.len();
        self.buf[..4].copy_from_slice(&form.prefixes.array());
        if let Some(prefix) = prefix {
            self.buf[self.n] = prefix.byte();
            self.n += 1;
        }
        self.buf[self.n] = rex(form.rex_w, placed.rex_r, placed.rex_x, placed.rex_b);
        if needs_rex {
            if let Some(i) = placed.reg_src {
                record.field(i, self.n, bit3(Part::Reg, 2));
            }
            if let Some(m) = placed.mem
                && m.mem.index.is_some()
            {
                record.field(m.at, self.n, bit3(Part::Index, 1));
            }
            if let Some((i, part)) = placed.b_src {
                record.field(i, self.n, bit3(part, 0));
            }
        }
        self.n += usize::from(needs_rex);
    }

    /// Writes a three-byte VEX prefix: `C4`, then R̄ X̄ B̄ and the map, then W, the VEX.vvvv register inverted
    /// (`1111` without one), L and pp; reporting which operand each register bit comes from, as for REX.
    #[inline(always)]
    fn vex<R: Record>(&mut self, vex: Vex, placed: &Placement<'_, '_>, record: &mut R) {
        let inverted = |bit: bool| u8::from(!bit);
        let vvvv = placed.vvvv.map_or(0, |(_, r)| r.num() & 0xf);
        self.buf[0] = 0xc4;
        self.buf[1] = inverted(placed.rex_r) << 7 | inverted(placed.rex_x) << 6 | inverted(placed.rex_b) << 5 | vex.map;
        self.buf[2] = u8::from(vex.w) << 7 | (!vvvv & 0xf) << 3 | u8::from(vex.l) << 2 | vex.pp;
        if let Some(i) = placed.reg_src {
            record.field(
                i,
                1,
                Field::NotBit3 {
                    part: Part::Reg,
                    shift: 7,
                },
            );
        }
        if let Some(m) = placed.mem
            && m.mem.index.is_some()
        {
            record.field(
                m.at,
                1,
                Field::NotBit3 {
                    part: Part::Index,
                    shift: 6,
                },
            );
        }
        if let Some((i, part)) = placed.b_src {
            record.field(i, 1, Field::NotBit3 { part, shift: 5 });
        }
        if let Some((i, _)) = placed.vvvv {
            record.field(
                i,
                2,
                Field::NotLow4 {
                    part: Part::Reg,
                    shift: 3,
                },
            );
        }
        self.n = 3;
    }

    /// Writes the opcode bytes (`+cc` is already in the form's opcode) and, for a `+r` form, the register's low
    /// three bits in the last of them.
    #[inline(always)]
    fn opcode<R: Record>(&mut self, form: &Form, placed: &Placement<'_, '_>, record: &mut R) {
        self.buf[self.n..self.n + 4].copy_from_slice(&form.opcode.array());
        self.n += form.opcode.len();
        if form.plus_r
            && let Some((i, reg)) = placed.op_reg
        {
            self.buf[self.n - 1] |= reg.low3();
            record.field(i, self.n - 1, low3(Part::Reg, 0));
        }
    }

    /// Writes the ModRM byte, if the form has one, and what follows it: with `mod` = 11, the register operand in
    /// ModRM.rm (0 if none, for a `/digit` alone); or the memory operand's SIB and displacement
    /// ([`Writer::memory`]).
    #[inline(always)]
    fn modrm_sib_disp<R: Record>(&mut self, form: &Form, placed: &Placement<'_, 's>, record: &mut R) {
        if form.modrm == ModRm::None {
            return;
        }
        record.field(0, self.n, Field::ModRm);
        if let Some(i) = placed.reg_src {
            record.field(i, self.n, low3(Part::Reg, 3));
        }
        match (placed.rm_reg, placed.mem) {
            (Some((i, rm)), _) => {
                self.buf[self.n] = modrm(0b11, placed.reg_field, rm.low3());
                record.field(i, self.n, low3(Part::Reg, 0));
                self.n += 1;
            }
            (None, Some(m)) => self.memory(placed.reg_field, m, record),
            (None, None) => {
                self.buf[self.n] = modrm(0b11, placed.reg_field, 0);
                self.n += 1;
            }
        }
    }

    /// Writes a memory operand's ModRM byte (with `reg_field` in ModRM.reg), its SIB byte if it has one, and its
    /// displacement ([`Writer::displacement`]), reporting where its base and index registers went: the base in
    /// ModRM.rm, or in SIB.base with the index in SIB.index.
    #[inline(always)]
    fn memory<R: Record>(&mut self, reg_field: u8, m: MemOperand<'_, 's>, record: &mut R) {
        let e = m.enc;
        self.buf[self.n] = modrm(e.md, reg_field, e.rm);
        if e.sib.is_none() && m.has_base() {
            record.field(m.at, self.n, low3(Part::Base, 0));
        }
        self.n += 1;
        if let Some(s) = e.sib {
            self.buf[self.n] = s;
            record.field(m.at, self.n, Field::Sib);
            if m.has_base() {
                record.field(m.at, self.n, low3(Part::Base, 0));
            }
            if m.mem.index.is_some() {
                record.field(m.at, self.n, low3(Part::Index, 3));
            }
            self.n += 1;
        }
        self.displacement(m, record);
    }

    /// Writes a memory operand's displacement: none, a byte or a dword. A dword next to a label becomes a fixup,
    /// the written displacement its addend.
    #[inline(always)]
    fn displacement<R: Record>(&mut self, m: MemOperand<'_, 's>, record: &mut R) {
        match m.enc.disp {
            Disp::None => {}
            Disp::Imm8(d) => {
                self.buf[self.n] = d as u8;
                record.field(m.at, self.n, Field::Disp(1));
                self.n += 1;
            }
            Disp::Imm32(d) => {
                if let Some(label) = m.mem.label {
                    self.fixup = Some(Fixup::RipLabel {
                        at: self.n as u8,
                        label,
                        addend: d,
                    });
                }
                record.field(m.at, self.n, Field::Disp(4));
                self.buf[self.n..self.n + 4].copy_from_slice(&d.to_le_bytes());
                self.n += 4;
            }
        }
    }

    /// Writes the form's `imm_bytes` bytes (none for 0): the relative offset `rel` for a jump or call, else the
    /// immediate `imm`. An immediate supplied at run time (a hole) becomes a fixup.
    #[inline(always)]
    fn immediate_or_relative<R: Record>(
        &mut self,
        form: &Form,
        placed: &Placement<'_, 's>,
        imm: i64,
        rel: i32,
        record: &mut R,
    ) {
        let value = if form.is_relative() {
            i64::from(rel)
        } else {
            if form.imm_bytes > 0 {
                if let Some(hole) = placed.hole {
                    self.fixup = Some(Fixup::Hole {
                        at: self.n as u8,
                        hole,
                        bytes: form.imm_bytes,
                    });
                }
                if let Some(i) = placed.imm_src {
                    record.field(i, self.n, Field::Imm(form.imm_bytes));
                }
            }
            imm
        };
        // Only the immediate's own bytes: the rest of the buffer stays zero, as `Encoded` compares all 15 bytes.
        let mask = u64::MAX.checked_shr(64 - 8 * u32::from(form.imm_bytes)).unwrap_or(0);
        self.buf[self.n..self.n + 8].copy_from_slice(&(value as u64 & mask).to_le_bytes());
        self.n += usize::from(form.imm_bytes);
    }

    /// The instruction written.
    #[inline(always)]
    fn finish(&self) -> Encoded<'s> {
        let mut bytes = [0u8; MAX_LEN];
        bytes.copy_from_slice(&self.buf[..MAX_LEN]);
        Encoded {
            bytes,
            len: self.n.min(MAX_LEN) as u8,
            fixup: self.fixup,
        }
    }
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
