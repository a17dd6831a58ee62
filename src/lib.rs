//! # rustyjit
//!
//! Write, run and test small pieces of x86-64 machine code from Rust: an assembler byte-identical to GNU as,
//! executable memory done right, and the [`jit!`] macro that encodes assembly at compile time.
//!
//! ```
//! let code = rustyjit::assemble("mov rax, rdi; add rax, rsi; ret").unwrap();
//! assert_eq!(code.bytes(), [0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3]);
//! # #[cfg(all(target_arch = "x86_64", target_os = "linux"))] {
//! let f = code.load().unwrap();
//! // SAFETY: the code only adds its two arguments.
//! assert_eq!(unsafe { f.call(&[2, 40]) }, 42);
//! # }
//! ```

pub use jit_core::*;

#[cfg(feature = "vectors")]
pub mod vectors;

/// Assembles x86-64 code **at compile time**: `jit!{ mov rax, 3; ret }` is a [`Code`] whose bytes the compiler
/// computed, and an assembly error is a compile error on the token that is wrong.
///
/// The syntax is the runtime assembler's ([`assemble`]): Intel syntax as GNU as, objdump and NASM write it, one
/// encoder for both, the same bytes (GNU as 2.40's). Statements are separated by `;` or by line breaks; labels
/// are `name:`; comments are Rust comments (`//`, `/* */`). Labels are resolved and jumps relaxed while compiling.
///
/// ```
/// use rustyjit::jit;
///
/// let code = jit! {
///     xor eax, eax          // sum = 0
///     mov rcx, rdi          // i = n
/// top:
///     add rax, rcx
///     dec rcx
///     jnz top               // rel8: relaxed at compile time
///     ret
/// };
/// assert_eq!(code.bytes()[..4], [0x31, 0xc0, 0x48, 0x89]);
/// assert_eq!(code.label("top"), Some(5));
/// # #[cfg(all(target_arch = "x86_64", target_os = "linux"))] {
/// let f = code.load().unwrap();
/// // SAFETY: the code reads only its argument (rdi >= 1) and returns in rax.
/// assert_eq!(unsafe { f.call(&[10]) }, 55);
/// # }
/// ```
///
/// **Runtime values**: `{expr}` in an immediate position is filled in when the expression runs. The instruction
/// takes the form with its widest immediate (as GNU as does for a value it cannot see), and the expression must
/// have that immediate's type: `i32` for `mov eax, {n}` or `add rcx, {k}` (sign-extended imm32), `i64` for
/// `mov rax, {big}` (`movabs`), `i16` for `mov ax, {w}` or `ret {n}`, `i8` for `mov al, {b}` or `shl rax, {s}`.
/// A mismatch is a type error at the expression. Runtime values are immediates only (not displacements, data
/// directives or jump targets). A block with runtime values copies its bytes once, to patch them in.
///
/// ```
/// # use rustyjit::jit;
/// let n: i32 = 7;
/// let code = jit! { mov eax, {n * 6}; ret };
/// assert_eq!(code.bytes(), [0xb8, 42, 0, 0, 0, 0xc3]);
/// ```
///
/// Any delimiters work — `jit!{ }`, `jit!( )`, `jit![ ]` — but not `jit!< >`: a Rust macro's input must be
/// enclosed in `()`, `[]` or `{}`.
///
/// **Line breaks** end a statement when the block is written as is: the macro reads the tokens' lines from the
/// compiler (`proc_macro::Span::line`, stable since Rust 1.88, this crate's minimum version), and it checks that
/// only blanks and comments lie between consecutive tokens. A block that a `macro_rules!` macro assembles from
/// pieces (`jit!{ push $reg }`) has tokens from several places; there only `;` separates statements, and an error
/// at a line break says so. `;` always works.
///
/// Errors carry the runtime assembler's sentence and point at the token:
///
/// ```compile_fail
/// let code = rustyjit::jit! { mov rax, 3; mvo rbx, 4 };
/// // error: unknown instruction `mvo`; did you mean `mov`?
/// //   |     let code = rustyjit::jit! { mov rax, 3; mvo rbx, 4 };
/// //   |                                             ^^^
/// ```
#[macro_export]
macro_rules! jit {
    ($($asm:tt)*) => {
        $crate::__private::jit_impl! { $crate; $($asm)* }
    };
}

/// What `jit!`'s expansion names; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use jit_core::emit::spec::{
        Fragment, Instr, Jump, JumpForm, Op, Patch, PatchKind, RegBits, RegUse, Stmt, Target, Template,
    };
    pub use jit_core::{Code, DynamicLabel, Entry, Label, R8, R16, R32, R64, Xmm};
    pub use jit_macros::jit_impl;
    pub use std::borrow::Cow;

    /// Listing entries from `[offset, len, line, text start, text end]` rows: a short expansion compiles faster
    /// than one struct literal per entry.
    pub const fn entries<const N: usize>(rows: [[u32; 5]; N]) -> [Entry; N] {
        let mut out = [Entry {
            offset: 0,
            len: 0,
            line: 0,
            text: (0, 0),
        }; N];
        let mut i = 0;
        while i < N {
            let [offset, len, line, start, end] = rows[i];
            out[i] = Entry {
                offset,
                len,
                line,
                text: (start, end),
            };
            i += 1;
        }
        out
    }
}
