//! # jit-core
//!
//! The engine of rustyjit: an x86-64 assembler (text → statements → instructions → bytes) and executable memory
//! to run the result. It depends on `libc` only, so the `jit!` macro that builds on it compiles fast.
//!
//! ```
//! let code = jit_core::assemble("mov rax, rdi; add rax, rsi; ret").unwrap();
//! assert_eq!(code.bytes(), [0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3]);
//! ```

// The integration tests' shared generators, also used by unit tests, name this crate `jit_core`.
#[cfg(test)]
extern crate self as jit_core;

pub mod asm;
mod code;
pub mod emit;
pub mod mem;
pub mod rng;

pub use asm::{AsmError, AsmErrors, assemble};
pub use code::{Code, Entry, Hex, Label, Listing};
pub use emit::{DynamicLabel, EmitError, EmitErrors, Emitter, R8, R16, R32, R64, Xmm};
pub use mem::{Arena, ArenaFn, JitFn, JitMemory, MemError, Scratch, ScratchFn, SealedMemory};
