//! Registers chosen at run time: typed values for `jit!(e; ...)`'s `{expr: r64}` operands.
//!
//! Each type holds one register of its class as its number in encoder order (`rax` 0 ... `r15` 15); [`R8`] has
//! `ah ch dh bh` after `r15b`, as 16-19. A value of the wrong class is a type error at the expression, and a number
//! out of range cannot be made, so the emitter never sees one.

use std::fmt;

macro_rules! reg_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, [$($reg:ident = $num:literal),* $(,)?], $names:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u8);

        impl $name {
            $(
                #[allow(missing_docs)]
                pub const $reg: $name = $name($num);
            )*

            /// Every register of the class, in number order.
            pub const ALL: [$name; $names.len()] = {
                let mut all = [$name(0); $names.len()];
                let mut i = 0;
                while i < all.len() {
                    all[i] = $name(i as u8);
                    i += 1;
                }
                all
            };

            /// The register with this number (`None` out of range).
            pub const fn new(num: u8) -> Option<$name> {
                if (num as usize) < $names.len() { Some($name(num)) } else { None }
            }

            /// The register's number: what the emitter's templates are indexed by.
            pub const fn num(self) -> u8 {
                self.0
            }

            /// Every register's name, as GNU as writes it, in number order.
            pub const NAMES: [&'static str; $names.len()] = $names;

            /// The register's name, as GNU as writes it.
            pub const fn name(self) -> &'static str {
                Self::NAMES[self.0 as usize]
            }

            /// The kind written after `:` in `jit!`.
            pub const KIND: &'static str = $kind;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

reg_type!(
    /// A 64-bit general-purpose register (`{expr: r64}`).
    ///
    /// ```
    /// use jit_core::emit::R64;
    /// assert_eq!((R64::R12.num(), R64::R12.name()), (12, "r12"));
    /// assert_eq!(R64::new(16), None);
    /// ```
    R64, "r64",
    [RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7,
     R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15],
    ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
);

reg_type!(
    /// A 32-bit general-purpose register (`{expr: r32}`).
    R32, "r32",
    [EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7,
     R8D = 8, R9D = 9, R10D = 10, R11D = 11, R12D = 12, R13D = 13, R14D = 14, R15D = 15],
    ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d",
     "r15d"]
);

reg_type!(
    /// A 16-bit general-purpose register (`{expr: r16}`).
    R16, "r16",
    [AX = 0, CX = 1, DX = 2, BX = 3, SP = 4, BP = 5, SI = 6, DI = 7,
     R8W = 8, R9W = 9, R10W = 10, R11W = 11, R12W = 12, R13W = 13, R14W = 14, R15W = 15],
    ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"]
);

reg_type!(
    /// An 8-bit general-purpose register (`{expr: r8}`): `al..r15b` (0-15), then `ah ch dh bh` (16-19), which
    /// only instructions without a REX prefix can use.
    ///
    /// ```
    /// use jit_core::emit::R8;
    /// assert_eq!((R8::AH.num(), R8::AH.name()), (16, "ah"));
    /// ```
    R8, "r8",
    [AL = 0, CL = 1, DL = 2, BL = 3, SPL = 4, BPL = 5, SIL = 6, DIL = 7,
     R8B = 8, R9B = 9, R10B = 10, R11B = 11, R12B = 12, R13B = 13, R14B = 14, R15B = 15,
     AH = 16, CH = 17, DH = 18, BH = 19],
    ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b",
     "r15b", "ah", "ch", "dh", "bh"]
);

reg_type!(
    /// An SSE register (`{expr: xmm}`).
    Xmm, "xmm",
    [XMM0 = 0, XMM1 = 1, XMM2 = 2, XMM3 = 3, XMM4 = 4, XMM5 = 5, XMM6 = 6, XMM7 = 7,
     XMM8 = 8, XMM9 = 9, XMM10 = 10, XMM11 = 11, XMM12 = 12, XMM13 = 13, XMM14 = 14, XMM15 = 15],
    ["xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
     "xmm13", "xmm14", "xmm15"]
);

/// The number the encoder writes for register `id` of a kind: `id` itself, but 4-7 for `ah..bh` (16-19).
#[doc(hidden)]
#[inline(always)]
pub const fn hw(id: u8) -> u8 {
    if id >= 16 { id - 12 } else { id }
}

/// The name of register `id` of the kind named `kind` (`r64` ...), for messages.
pub(crate) fn name(kind: u8, id: u8) -> &'static str {
    let names: &[&'static str] = match kind {
        0 => &R64::NAMES,
        1 => &R32::NAMES,
        2 => &R16::NAMES,
        3 => &R8::NAMES,
        _ => &Xmm::NAMES,
    };
    names.get(usize::from(id)).copied().unwrap_or("?")
}
