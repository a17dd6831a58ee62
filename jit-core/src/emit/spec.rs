//! What `jit!(e; ...)` expands to: a fragment's instructions as `static` templates — fixed bytes and the places
//! its runtime registers, values and labels go — made at compile time by the encoder
//! ([`asm::lower`](crate::asm::lower)). Not meant to be written by hand; public so the expansion can name it.
//!
//! An instruction with runtime registers has one template per class of register values that encode alike (for
//! `add {r: r64}, {v}`: `rax`, which has a short accumulator form, and every other register), found at compile
//! time by encoding the instruction with every register; a table picks the template from the registers' classes.
//! Patching a template writes each register's number into its fields and each value into its bytes.

/// How a patch writes its argument into a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchKind {
    /// A register's low three bits, at this bit of the byte.
    Low3(u8),
    /// A register's fourth bit, at this bit of the byte (a REX prefix).
    Bit3(u8),
    /// A register's fourth bit inverted, at this bit of the byte (a VEX prefix's R̄, X̄, B̄).
    NotBit3(u8),
    /// A register's number inverted, in four bits from this bit of the byte (VEX.vvvv).
    NotLow4(u8),
    /// An immediate of this many bytes.
    Imm(u8),
    /// A 32-bit displacement.
    Disp32,
    /// A rip-relative 32-bit displacement to a label of the fragment (the argument is its index); the template
    /// holds the addend.
    RipLocal,
    /// A rip-relative 32-bit displacement to a runtime label (the argument is its hole); the template holds the
    /// addend.
    RipArg,
}

impl PatchKind {
    /// A register's field: made into [`Template::regs`] at compile time, never patched at run time.
    pub const fn is_register(self) -> bool {
        matches!(
            self,
            PatchKind::Low3(_) | PatchKind::Bit3(_) | PatchKind::NotBit3(_) | PatchKind::NotLow4(_)
        )
    }
}

/// One place in a template where an argument goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Patch {
    /// Byte offset in the template.
    pub at: u16,
    /// How.
    pub kind: PatchKind,
    /// Which argument: the hole number (`{N}` in the fragment's text), or for [`PatchKind::RipLocal`] the label.
    pub arg: u32,
}

/// Fixed bytes and the places arguments go.
#[derive(Clone, Copy, Debug)]
pub struct Template {
    /// The bytes, with zeros where arguments go (a rip-relative displacement holds its addend).
    pub bytes: &'static [u8],
    /// The bytes as one little-endian word, for a template of at most 16 bytes (0 for a longer one).
    pub word: u128,
    /// Where the values and labels go ([`PatchKind::Imm`], [`PatchKind::Disp32`], rip-relative).
    pub patches: &'static [Patch],
    /// What each runtime register ORs into the word: its fields of ModRM, SIB, REX and the opcode, made at compile
    /// time for every value, so putting a register in is one load.
    pub regs: &'static [RegBits],
}

/// A runtime register's bits in a template, for each of its values.
#[derive(Clone, Copy, Debug)]
pub struct RegBits {
    /// The hole it comes from.
    pub arg: u32,
    /// For each register number, what it ORs into the template's word.
    pub bits: &'static [u128],
}

/// A statement of a fragment, for listings and errors: where its bytes start in its op, how many there are, and
/// its text in the fragment's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// Offset of its bytes within its op's bytes.
    pub offset: u32,
    /// Number of bytes.
    pub len: u32,
    /// Byte range of its text in [`Fragment::text`].
    pub text: (u32, u32),
}

/// A runtime register of an instruction: its argument, and the class of each of its values.
#[derive(Clone, Copy, Debug)]
pub struct RegUse {
    /// The hole it comes from.
    pub arg: u32,
    /// Its kind: 0 `r64`, 1 `r32`, 2 `r16`, 3 `r8`, 4 `xmm`.
    pub kind: u8,
    /// The class of each register number.
    pub classes: &'static [u8],
    /// What its class is multiplied by in the index of [`Instr::table`].
    pub stride: u16,
}

/// Marks an entry of [`Instr::table`] as an error (the rest is its index in [`Instr::errors`]).
pub const ERROR: u16 = 0x8000;

/// An instruction with runtime registers.
#[derive(Clone, Copy, Debug)]
pub struct Instr {
    /// Its runtime registers.
    pub regs: &'static [RegUse],
    /// For each combination of classes, the template, or [`ERROR`] | the error.
    pub table: &'static [u16],
    /// The templates.
    pub templates: &'static [Template],
    /// Why some registers cannot be encoded, each a sentence.
    pub errors: &'static [&'static str],
    /// Its text in the fragment.
    pub text: (u32, u32),
}

/// A jump form: the instruction's bytes with a zero displacement at the end, and the displacement's width.
#[derive(Clone, Copy, Debug)]
pub struct JumpForm {
    /// The bytes.
    pub bytes: &'static [u8],
    /// The bytes as one little-endian word (a jump is at most 6 bytes), so laying a jump out is one store.
    pub word: u64,
    /// The displacement's width in bytes (1 or 4).
    pub rel: u8,
}

/// A jump's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A label of the fragment (`name:`), by index.
    Local(u32),
    /// A runtime label (`{label}`), by hole.
    Arg(u32),
}

/// A jump or call to a label, laid out when the emitter finishes.
#[derive(Clone, Copy, Debug)]
pub struct Jump {
    /// The `rel8` form, if the mnemonic has one.
    pub short: Option<JumpForm>,
    /// The `rel32` form.
    pub long: JumpForm,
    /// Where to.
    pub target: Target,
    /// Its text in the fragment.
    pub text: (u32, u32),
}

/// One step of a fragment.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Instructions without runtime registers, one after another, with their runtime values.
    Bytes {
        /// The bytes and patches.
        template: Template,
        /// The statements, for listings and errors.
        stmts: &'static [Stmt],
    },
    /// An instruction with runtime registers.
    Instr(&'static Instr),
    /// A jump to a label.
    Jump(&'static Jump),
    /// The definition of the fragment's label of this index.
    Bind(u32),
}

/// A `jit!(e; ...)` call: its steps, its labels, and where it is in the Rust source.
#[derive(Clone, Copy, Debug)]
pub struct Fragment {
    /// The Rust file of the `jit!` call.
    pub file: &'static str,
    /// Its line.
    pub line: u32,
    /// Its column.
    pub column: u32,
    /// The assembly text, with `{N}` for the runtime parts.
    pub text: &'static str,
    /// How many labels the fragment defines (each call gets fresh ones).
    pub locals: u32,
    /// The holes that are runtime labels (for messages and listings).
    pub labels: &'static [u32],
    /// How many bytes of each runtime value the emitter keeps for listings and messages: a register 1, a label
    /// 4 (its index), an immediate or displacement its width (sign-extended when read back); 0 for a hole no
    /// instruction uses.
    pub widths: &'static [u8],
    /// The steps.
    pub ops: &'static [Op],
}
