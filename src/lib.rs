//! # rustyjit
//!
//! Write, run and test small pieces of x86-64 machine code from Rust: an assembler byte-identical to GNU as,
//! executable memory done right, and (soon) the `jit!` macro and TOML test vectors.
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
