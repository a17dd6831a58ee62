//! Assembly errors: values with a whole sentence and the exact span they are about.
//!
//! The assembler never stops at the first error: every statement is checked and every error is collected in
//! [`AsmErrors`], in source order.

use super::text::reg::Reg;
use super::text::syntax::Span;
use std::fmt;

/// One thing wrong with the input, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The token or operand it is about.
    pub span: Span,
}

/// What is wrong; the [`Display`](fmt::Display) form is a sentence that says what would be right.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A character that has no meaning in assembly text.
    UnexpectedChar(char),
    /// A number that is malformed or larger than 64 bits.
    BadNumber(String),
    /// The parser expected one thing and found another.
    Expected {
        /// What would have been right here.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A mnemonic that is not in the instruction table, and the closest one that is, if any is close.
    UnknownMnemonic {
        /// The mnemonic as written.
        name: String,
        /// A known mnemonic within two edits.
        suggestion: Option<String>,
    },
    /// A mnemonic with operands that match none of its forms.
    NoForm {
        /// The mnemonic.
        mnemonic: String,
        /// The operands as classified, e.g. `r64, r8`.
        got: String,
        /// The forms the mnemonic has, in the manual's notation.
        expected: Vec<String>,
    },
    /// A memory operand without a size where nothing else fixes it.
    AmbiguousSize {
        /// The mnemonic.
        mnemonic: String,
        /// The sizes that would fit.
        sizes: Vec<&'static str>,
    },
    /// An immediate too large or too small for every form that would take it.
    ImmediateRange {
        /// The value as written.
        value: i128,
        /// The smallest value the widest form takes.
        min: i128,
        /// The largest value the widest form takes.
        max: i128,
    },
    /// `ah ch dh bh` next to something that needs a REX prefix.
    HighByteWithRex(String),
    /// A memory operand that x86-64 cannot encode, and what is wrong with it.
    BadAddress(AddressFault),
    /// A label defined twice.
    DuplicateLabel(String),
    /// A label used but never defined.
    UndefinedLabel(String),
    /// An operand of a kind this position cannot take, with the reason.
    BadOperand(String),
    /// A data item that does not fit its width.
    DataRange {
        /// The value as written.
        value: i128,
        /// Width in bytes.
        bytes: u8,
    },
    /// A `lock` or `rep` prefix on an instruction that cannot take it.
    BadPrefix {
        /// The prefix as written (lower case).
        prefix: String,
        /// The instruction's mnemonic (lower case).
        mnemonic: String,
        /// What is wrong.
        fault: PrefixFault,
    },
    /// More than three operands.
    TooManyOperands,
    /// The code grew beyond 4 GiB.
    TooLarge,
}

/// What is wrong with a prefix ([`ErrorKind::BadPrefix`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrefixFault {
    /// `lock` on an instruction that is never atomic.
    NotLockable,
    /// `lock` on an instruction that can be atomic, but whose destination is not memory.
    NoMemoryDestination,
    /// A `rep` on an instruction other than a string instruction, `ret` or `nop`.
    NotString,
    /// A second prefix after the first.
    Twice,
}

/// `a, b, c{last}d`: the items separated by commas, the last two by `last` (" or ", " and ").
fn write_list(f: &mut fmt::Formatter<'_>, items: &[impl fmt::Display], last: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        let sep = match i {
            0 => "",
            _ if i + 1 == items.len() => last,
            _ => ", ",
        };
        write!(f, "{sep}{item}")?;
    }
    Ok(())
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnexpectedChar(c) => {
                write!(f, "unexpected character `{}`", c.escape_debug())
            }
            ErrorKind::BadNumber(s) => {
                write!(
                    f,
                    "`{s}` is not a number that fits 64 bits (write decimal, 0x hex or 0b binary)"
                )
            }
            ErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::UnknownMnemonic { name, suggestion: None } => write!(f, "unknown instruction `{name}`"),
            ErrorKind::UnknownMnemonic {
                name,
                suggestion: Some(s),
            } => {
                write!(f, "unknown instruction `{name}`; did you mean `{s}`?")
            }
            ErrorKind::NoForm {
                mnemonic,
                got,
                expected,
            } => {
                if got.is_empty() {
                    write!(f, "`{mnemonic}` needs operands; expected one of: ")?;
                } else {
                    write!(f, "`{mnemonic}` has no form `{mnemonic} {got}`; expected one of: ")?;
                }
                for (i, form) in expected.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}{form}")?;
                }
                Ok(())
            }
            ErrorKind::AmbiguousSize { mnemonic, sizes } => {
                write!(f, "operand size of `{mnemonic}` is ambiguous; write ")?;
                let sizes: Vec<String> = sizes.iter().map(|s| format!("`{s} ptr`")).collect();
                write_list(f, &sizes, " or ")?;
                f.write_str(" before the memory operand")
            }
            ErrorKind::ImmediateRange { value, min, max } => {
                write!(
                    f,
                    "immediate {value} is out of range; it must be between {min} and {max}"
                )
            }
            ErrorKind::HighByteWithRex(r) => write!(
                f,
                "`{r}` cannot be used in an instruction that needs a REX prefix (a register r8-r15, spl, bpl, sil, dil \
                 or a 64-bit operand); use the low byte of another register instead"
            ),
            ErrorKind::BadAddress(fault) => write!(f, "invalid memory operand: {fault}"),
            ErrorKind::DuplicateLabel(l) => {
                write!(f, "label `{l}` is already defined; rename one of them")
            }
            ErrorKind::UndefinedLabel(l) => {
                write!(f, "label `{l}` is not defined; define it with `{l}:`")
            }
            ErrorKind::BadOperand(why) => f.write_str(why),
            ErrorKind::DataRange { value, bytes } => {
                let bits = u32::from(*bytes) * 8;
                let (lo, hi) = (-(1i128 << (bits - 1)), (1i128 << bits) - 1);
                write!(
                    f,
                    "data value {value} does not fit {bytes} byte(s); it must be between {lo} and {hi}"
                )
            }
            ErrorKind::BadPrefix {
                prefix,
                mnemonic,
                fault,
            } => match fault {
                PrefixFault::NotLockable => {
                    write!(f, "`lock` cannot prefix `{mnemonic}`; it prefixes ")?;
                    write_list(f, &crate::asm::forms::select::LOCKABLE, " and ")?;
                    f.write_str(" with a memory destination")
                }
                PrefixFault::NoMemoryDestination => write!(
                    f,
                    "`lock` needs `{mnemonic}` to write memory: its first operand (the destination) must be a memory \
                     operand"
                ),
                PrefixFault::NotString => write!(
                    f,
                    "`{prefix}` cannot prefix `{mnemonic}`; it prefixes the string instructions (movs, stos, lods, \
                     scas, cmps with b, w, d or q), `ret`, and `nop` without operands"
                ),
                PrefixFault::Twice => write!(f, "one prefix at most: `{prefix}` is followed by `{mnemonic}`"),
            },
            ErrorKind::TooManyOperands => f.write_str("too many operands; instructions take at most three"),
            ErrorKind::TooLarge => f.write_str("the code is larger than 4 GiB"),
        }
    }
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: error: {}", self.span.line, self.span.col, self.kind)
    }
}

impl std::error::Error for AsmError {}

/// Every error found in one input, in source order.
///
/// ```
/// let errors = jit_core::assemble("mov rax, 1\nmvo rax, 2\nadd al, 256").unwrap_err();
/// assert_eq!(errors.len(), 2);
/// assert_eq!(
///     errors.with_file("prog.s").to_string(),
///     "prog.s:2:1: error: unknown instruction `mvo`; did you mean `mov`?\n\
///      prog.s:3:9: error: immediate 256 is out of range; it must be between -128 and 255\n"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmErrors(pub Vec<AsmError>);

impl AsmErrors {
    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none (an `Err` always has at least one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors in source order.
    pub fn iter(&self) -> std::slice::Iter<'_, AsmError> {
        self.0.iter()
    }

    /// Displays every error as `FILE:LINE:COL: error: MESSAGE`, one per line.
    pub fn with_file<'a>(&'a self, file: &'a str) -> WithFile<'a> {
        WithFile { errors: self, file }
    }
}

impl IntoIterator for AsmErrors {
    type Item = AsmError;
    type IntoIter = std::vec::IntoIter<AsmError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for AsmErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AsmErrors {}

/// [`AsmErrors::with_file`]'s display form.
pub struct WithFile<'a> {
    errors: &'a AsmErrors,
    file: &'a str,
}

impl fmt::Display for WithFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.errors.iter() {
            writeln!(f, "{}:{e}", self.file)?;
        }
        Ok(())
    }
}

/// What is wrong with a memory operand ([`ErrorKind::BadAddress`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressFault {
    /// `[]`.
    Empty,
    /// A second runtime displacement `{d}`, or one subtracted.
    RuntimeDisplacement,
    /// A register after `-`.
    SubtractedRegister,
    /// More than a base and an index.
    TooManyRegisters,
    /// A label subtracted, or a second one.
    LabelNotAdded,
    /// A scale other than 1, 2, 4 or 8.
    Scale(u64),
    /// A runtime register in an address that is not `{expr: r64}`.
    RuntimeRegisterNot64,
    /// `rip` scaled or as an index.
    RipScaled,
    /// A 32-bit register in an address.
    Register32(Reg),
    /// A register no address can use (8/16-bit, xmm).
    NotAnAddressRegister(Reg),
    /// Two registers with a scale.
    TwoScales,
    /// `rsp` as an index.
    RspIndex,
    /// A `rip`-relative address with an index.
    RipWithIndex,
    /// A label and a runtime label in one address.
    TwoLabels,
    /// A label without `rip` as the base.
    LabelWithoutRip,
    /// A displacement beyond 64 bits, as written.
    DisplacementBeyond64(i128),
    /// A displacement beyond a signed 32-bit one, as written.
    DisplacementBeyond32(i128),
}

impl fmt::Display for AddressFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressFault::Empty => f.write_str("`[]` is empty; write an address inside"),
            AddressFault::RuntimeDisplacement => f.write_str("an address takes one runtime displacement `{d}`, added"),
            AddressFault::SubtractedRegister => {
                f.write_str("a register cannot be subtracted; only displacements can be negative")
            }
            AddressFault::TooManyRegisters => {
                f.write_str("at most two registers (a base and an index) fit in one address")
            }
            AddressFault::LabelNotAdded => f.write_str("a label can only be added, once, as in `[rip + label]`"),
            AddressFault::Scale(n) => write!(f, "the scale must be 1, 2, 4 or 8, not {n}"),
            AddressFault::RuntimeRegisterNot64 => {
                f.write_str("a runtime register in an address must be 64-bit: write `{expr: r64}`")
            }
            AddressFault::RipScaled => f.write_str("`rip` cannot be scaled or used as an index"),
            AddressFault::Register32(r) => {
                write!(
                    f,
                    "32-bit addresses are not supported; use the 64-bit register instead of `{r}`"
                )
            }
            AddressFault::NotAnAddressRegister(r) => {
                write!(f, "`{r}` cannot be used in an address; use a 64-bit register")
            }
            AddressFault::TwoScales => f.write_str("only one register can have a scale"),
            AddressFault::RspIndex => f.write_str("`rsp` cannot be an index register"),
            AddressFault::RipWithIndex => f.write_str("a `rip`-relative address cannot have an index register"),
            AddressFault::TwoLabels => f.write_str("an address takes one label"),
            AddressFault::LabelWithoutRip => {
                f.write_str("a label in an address needs `rip` as its base: write `[rip + label]`")
            }
            AddressFault::DisplacementBeyond64(d) => write!(f, "the displacement {d} does not fit 64 bits"),
            AddressFault::DisplacementBeyond32(d) => {
                write!(f, "the displacement {d} does not fit a signed 32-bit displacement")
            }
        }
    }
}
