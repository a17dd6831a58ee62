//! [`Scratch`]: one place to run code, rewritten by every load, and [`ScratchFn`], a handle to the code loaded
//! last.
//!
//! [`Code::load`](crate::Code::load) makes fresh pages for every function and an [`Arena`](super::Arena) keeps
//! every function it loads. Code that runs once and is then replaced — a test harness calling case after case, a
//! REPL, a fuzzer — needs neither: a scratch writes each function over the last one, through a read+write view of
//! a `memfd`, and runs it from a read+execute view of the same pages. No page is ever writable and executable, and
//! once a size has been seen a load is a copy, with no system call and no `mprotect`.

use super::call::{self, JitSignature};
use super::{JitFn, MemError, sys};
use crate::Code;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// One place to run code: each [`load`](Scratch::load) puts a function where the last one was.
///
/// The function lands at the start of whole pages filled with `0xC3` (`ret`), as with
/// [`Code::load`](crate::Code::load), and those pages are followed by a page that cannot be touched, so code that
/// runs or jumps past its pages faults. Loading borrows the scratch mutably, so a handle to the previous function
/// cannot be used once another is loaded.
///
/// Memory is a `memfd` mapped twice (read+write, and read+execute once per size in pages asked for), made on the
/// first load and kept until the scratch drops; this also works where the system forbids making heap memory
/// executable (`prctl(PR_SET_MDWE)`, SELinux's `execheap`).
///
/// ```
/// use jit_core::{Code, Scratch};
///
/// let mut scratch = Scratch::new();
/// for i in 0..1000 {
///     let mut bytes = vec![0x48, 0xc7, 0xc0]; // mov rax, imm32
///     bytes.extend_from_slice(&i32::to_le_bytes(i));
///     let f = scratch.load(&Code::from_bytes(bytes))?;
///     // SAFETY: the code takes no arguments and returns its immediate.
///     assert_eq!(unsafe { f.call(&[]) }, i64::from(i));
/// }
/// # Ok::<(), jit_core::MemError>(())
/// ```
#[derive(Debug, Default)]
pub struct Scratch {
    memory: Option<sys::Rewritable>,
}

impl Scratch {
    /// A scratch with no memory yet: the first [`load`](Scratch::load) makes it.
    pub fn new() -> Scratch {
        Scratch { memory: None }
    }

    /// Writes `code` over whatever was loaded before and returns a handle to call it.
    ///
    /// # Errors
    ///
    /// [`MemError::Libc`] when the memfd cannot be made, grown or mapped, and [`MemError::UnsupportedHost`] on
    /// hosts other than x86-64 Linux. The scratch still works for later loads then.
    ///
    /// ```
    /// let mut scratch = jit_core::Scratch::new();
    /// // mov rax, rdi; add rax, rsi; ret
    /// let add = scratch.load(&jit_core::Code::from_bytes(vec![0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3]))?;
    /// // SAFETY: the code is a System V function of two integer arguments that returns rax.
    /// assert_eq!(unsafe { add.call(&[2, 40]) }, 42);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn load(&mut self, code: &Code) -> Result<ScratchFn<'_>, MemError> {
        let memory = match &mut self.memory {
            Some(memory) => memory,
            empty => empty.insert(sys::Rewritable::new()?),
        };
        let (ptr, mapped) = memory.rewrite(code.bytes())?;
        Ok(ScratchFn {
            ptr,
            len: code.len(),
            mapped,
            callable: memory.callable(),
            scratch: PhantomData,
        })
    }
}

/// The function a [`Scratch`] loaded last, ready to call.
pub struct ScratchFn<'a> {
    ptr: NonNull<u8>,
    len: usize,
    mapped: usize,
    callable: sys::Callable,
    scratch: PhantomData<&'a mut Scratch>,
}

impl ScratchFn<'_> {
    /// The most arguments [`call`](ScratchFn::call) passes, the same as [`JitFn::MAX_ARGS`].
    pub const MAX_ARGS: usize = JitFn::MAX_ARGS;

    /// Calls the function with integer arguments in `rdi`, `rsi`, `rdx`, `rcx`, `r8`, `r9` (missing ones are 0)
    /// and returns `rax`.
    ///
    /// # Safety
    ///
    /// The duties of [`JitFn::call`]: the code must be a System V function of at most six integer arguments that
    /// returns, and whatever it touches must be valid to touch.
    ///
    /// # Panics
    ///
    /// When `args` has more than [`MAX_ARGS`](ScratchFn::MAX_ARGS) (six) values.
    ///
    /// ```
    /// let mut scratch = jit_core::Scratch::new();
    /// // mov rax, rdi; sub rax, rsi; ret
    /// let sub = scratch.load(&jit_core::Code::from_bytes(vec![0x48, 0x89, 0xf8, 0x48, 0x29, 0xf0, 0xc3]))?;
    /// // SAFETY: the code is a System V function of two integer arguments that returns rax.
    /// assert_eq!(unsafe { sub.call(&[50, 8]) }, 42);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    #[inline]
    pub unsafe fn call(&self, args: &[i64]) -> i64 {
        // SAFETY: the view holds the code, read+execute, until the scratch loads again, which this borrow
        // prevents; the caller promises the rest.
        unsafe { call::call_six(self.ptr.as_ptr(), args, "ScratchFn::call", self.callable) }
    }

    /// The function as a function pointer of type `F`, such as `extern "sysv64" fn(f64, f64) -> f64`.
    ///
    /// # Safety
    ///
    /// `F` must be the code's real signature under the System V ABI, with the duties listed at
    /// [`JitFn::call`]. The pointer runs this function only until the scratch loads again or drops: then it runs
    /// whatever was loaded, or faults.
    ///
    /// ```
    /// let mut scratch = jit_core::Scratch::new();
    /// // addsd xmm0, xmm1; ret
    /// let f = scratch.load(&jit_core::Code::from_bytes(vec![0xf2, 0x0f, 0x58, 0xc1, 0xc3]))?;
    /// // SAFETY: the code adds two f64 arguments and returns the sum in xmm0; nothing is loaded before the call.
    /// let add = unsafe { f.as_fn::<extern "sysv64" fn(f64, f64) -> f64>() };
    /// assert_eq!(add(1.5, 2.25), 3.75);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub unsafe fn as_fn<F: JitSignature>(&self) -> F {
        // SAFETY: the caller promises that `F` is the code's signature; the pointer is the code's first byte.
        unsafe { call::fn_from_ptr(self.ptr.as_ptr()) }
    }

    /// The address of the function's first byte.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The number of bytes of code (not counting the `ret` fill after it).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for empty code (which runs as `ret`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of the read+execute view the function runs from: its whole pages, code and then `ret`s. Past
    /// them is a page that faults when touched.
    ///
    /// ```
    /// let mut scratch = jit_core::Scratch::new();
    /// let f = scratch.load(&jit_core::Code::from_bytes(vec![0x90; 5000]))?; // 5,000 nops
    /// let page = 4096; // on x86-64 Linux
    /// assert_eq!(f.mapped_len(), 2 * page);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn mapped_len(&self) -> usize {
        self.mapped
    }
}

/// Shows the address and length.
impl fmt::Debug for ScratchFn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScratchFn")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("mapped", &self.mapped)
            .finish()
    }
}
