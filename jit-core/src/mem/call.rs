//! Loading [`Code`] and calling it: [`Code::load`], [`JitFn`], and the function-pointer types
//! ([`JitSignature`]) it can be called through. Calls always use the System V ABI (`extern "sysv64"`), never the
//! Rust ABI.

use super::{Dump, MemError, SealedMemory, pages_len, sys};
use crate::Code;

impl Code {
    /// Copies the bytes onto fresh page-aligned pages filled with `0xC3` (`ret`) and makes them read+execute only.
    /// Empty code is fine: it is just `ret`.
    ///
    /// Each load costs an allocation and two `mprotect`s (one here, one when the [`JitFn`] drops), and each live
    /// `JitFn` takes two of the process's memory mappings, whose default limit (`vm.max_map_count`, 65,530) allows
    /// about 32,000 at once. For many functions, load them into an [`Arena`](crate::Arena) instead.
    ///
    /// # Errors
    ///
    /// [`MemError::Libc`] when a libc call fails, [`MemError::ExecForbidden`] when the system forbids executable
    /// memory and the memfd fallback fails, and [`MemError::UnsupportedHost`] on hosts other than x86-64 Linux.
    ///
    /// ```
    /// // mov rax, rdi; add rax, rsi; ret
    /// let code = jit_core::Code::from_bytes(vec![0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3]);
    /// let f = code.load()?;
    /// // SAFETY: the code is a System V function of two integer arguments that returns rax.
    /// assert_eq!(unsafe { f.call(&[2, 40]) }, 42);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn load(&self) -> Result<JitFn, MemError> {
        let page_size = sys::page_size()?;
        let len = pages_len(self.len().div_ceil(page_size).max(1), page_size)?;
        let (region, _) = sys::place(len, self.bytes(), false)?;
        Ok(JitFn {
            memory: SealedMemory { region },
            code: self.clone(),
        })
    }
}

/// Loaded code, ready to call: read+execute-only pages made by [`Code::load`], freed on drop, and the [`Code`]
/// they came from.
///
/// ```
/// // mov rax, 3; ret
/// let code = jit_core::Code::from_bytes(vec![0x48, 0xc7, 0xc0, 0x03, 0x00, 0x00, 0x00, 0xc3]);
/// let f: jit_core::JitFn = code.load()?;
/// // SAFETY: the code is a System V function without arguments that returns rax.
/// assert_eq!(unsafe { f.call(&[]) }, 3);
/// # Ok::<(), jit_core::MemError>(())
/// ```
#[derive(Debug)]
pub struct JitFn {
    memory: SealedMemory,
    code: Code,
}

impl JitFn {
    /// The most arguments [`call`](JitFn::call) passes: one per System V integer argument register.
    ///
    /// ```
    /// let args: Vec<i64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    /// if args.len() > jit_core::JitFn::MAX_ARGS {
    ///     eprintln!("at most {} arguments, please", jit_core::JitFn::MAX_ARGS);
    /// }
    /// ```
    pub const MAX_ARGS: usize = 6;

    /// Calls the code at offset 0 with integer arguments in `rdi`, `rsi`, `rdx`, `rcx`, `r8`, `r9` (missing ones
    /// are 0) and returns `rax`.
    ///
    /// # Safety
    ///
    /// The code must be a function of the System V ABI that takes at most six integer arguments and returns
    /// (keeps the stack balanced, restores `rbx`, `rbp`, `r12`–`r15`), and whatever it reads or writes must be
    /// valid to touch. The machine does what the bytes say; nothing here can check them.
    ///
    /// # Panics
    ///
    /// When `args` has more than [`MAX_ARGS`](JitFn::MAX_ARGS) (six) values: further arguments would go on the
    /// stack, which this call does not do. Check the count first when it comes from user input.
    ///
    /// ```
    /// // mov rax, rdi; sub rax, rsi; ret
    /// let code = jit_core::Code::from_bytes(vec![0x48, 0x89, 0xf8, 0x48, 0x29, 0xf0, 0xc3]);
    /// let f = code.load()?;
    /// // SAFETY: the code is a System V function of two integer arguments that returns rax.
    /// assert_eq!(unsafe { f.call(&[50, 8]) }, 42);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    #[inline]
    pub unsafe fn call(&self, args: &[i64]) -> i64 {
        // SAFETY: the memory holds the code, read+execute, while `self` lives; the caller promises the rest.
        unsafe { call_six(self.as_ptr(), args, "JitFn::call", self.memory.region.callable()) }
    }

    /// The code as a function pointer of type `F`, such as `extern "sysv64" fn(f64, f64) -> f64`, for signatures
    /// [`call`](JitFn::call) does not cover (floating point in `xmm` registers, pointers, narrower integers).
    ///
    /// # Safety
    ///
    /// `F` must be the code's real signature under the System V ABI, with the duties listed at
    /// [`call`](JitFn::call). The pointer must not be called after this `JitFn` is dropped: the memory is gone then.
    ///
    /// ```
    /// // addsd xmm0, xmm1; ret
    /// let code = jit_core::Code::from_bytes(vec![0xf2, 0x0f, 0x58, 0xc1, 0xc3]);
    /// let f = code.load()?;
    /// // SAFETY: the code adds two f64 arguments (xmm0, xmm1) and returns the sum in xmm0; `f` outlives the call.
    /// let add = unsafe { f.as_fn::<extern "sysv64" fn(f64, f64) -> f64>() };
    /// assert_eq!(add(1.5, 2.25), 3.75);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub unsafe fn as_fn<F: JitSignature>(&self) -> F {
        // SAFETY: the caller promises that `F` is the code's signature; the pointer is the code's first byte.
        unsafe { fn_from_ptr(self.as_ptr()) }
    }

    /// Calls the code at byte `offset` (an entry point other than the first, such as
    /// [`Code::label_offset`] gives), as [`call`](JitFn::call) does at 0. `None` when `offset` is not inside the
    /// code.
    ///
    /// # Safety
    ///
    /// The duties of [`call`](JitFn::call), for the function at `offset`.
    ///
    /// ```
    /// // mov eax, 1; ret; mov eax, 2; ret
    /// let code = jit_core::Code::from_bytes(vec![0xb8, 1, 0, 0, 0, 0xc3, 0xb8, 2, 0, 0, 0, 0xc3]);
    /// let f = code.load()?;
    /// // SAFETY: both entry points are System V functions without arguments that return eax.
    /// assert_eq!(unsafe { (f.call_at(0, &[]), f.call_at(6, &[]), f.call_at(12, &[])) }, (Some(1), Some(2), None));
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    #[inline]
    pub unsafe fn call_at(&self, offset: usize, args: &[i64]) -> Option<i64> {
        let ptr = self.ptr_at(offset)?;
        // SAFETY: `ptr` is inside the code, read+execute while `self` lives; the caller promises the rest.
        Some(unsafe { call_six(ptr, args, "JitFn::call_at", self.memory.region.callable()) })
    }

    /// The function at byte `offset` as a function pointer of type `F`, as [`as_fn`](JitFn::as_fn) does at 0.
    /// `None` when `offset` is not inside the code.
    ///
    /// # Safety
    ///
    /// The duties of [`as_fn`](JitFn::as_fn), for the function at `offset`.
    pub unsafe fn as_fn_at<F: JitSignature>(&self, offset: usize) -> Option<F> {
        let ptr = self.ptr_at(offset)?;
        // SAFETY: the caller promises that `F` is the signature of the function at `ptr`, inside the code.
        Some(unsafe { fn_from_ptr(ptr) })
    }

    /// The address of byte `offset` of the code, if it is inside it.
    fn ptr_at(&self, offset: usize) -> Option<*const u8> {
        (offset < self.code.len()).then(|| self.as_ptr().wrapping_add(offset))
    }

    /// The address of the code's first byte.
    ///
    /// ```
    /// let f = jit_core::Code::from_bytes(vec![0xc3]).load()?; // ret
    /// // SAFETY: the code's memory is readable while `f` lives.
    /// assert_eq!(unsafe { *f.as_ptr() }, 0xc3);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.memory.as_ptr()
    }

    /// The code this was loaded from, with its listing and labels.
    ///
    /// ```
    /// let code = jit_core::Code::from_bytes(vec![0x90, 0xc3]); // nop; ret
    /// assert_eq!(code.load()?.code(), &code);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn code(&self) -> &Code {
        &self.code
    }

    /// The code's bytes as a debugger's `memory read` shows them, with real addresses: whole 16-byte lines from
    /// the first byte through the last byte of code, so the `ret` fill after it shows too (one line of it for empty
    /// code). See [`Dump`].
    ///
    /// ```
    /// let f = jit_core::Code::from_bytes(vec![0x90]).load()?; // nop
    /// let text = f.dump().to_string();
    /// assert_eq!(text.lines().count(), 1);
    /// assert!(text.starts_with(&format!("{:#x}: 90 c3 c3", f.as_ptr() as usize)));
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn dump(&self) -> Dump<'_> {
        Dump::new(self.dumped(), Some(self.as_ptr() as usize))
    }

    /// The same bytes as [`dump`](JitFn::dump), with offsets instead of addresses, so the text is the same on every
    /// run: what snapshot tests want.
    ///
    /// ```
    /// let f = jit_core::Code::from_bytes(vec![0x31, 0xc0]).load()?; // xor eax, eax; (ret)
    /// assert_eq!(
    ///     f.dump_offsets().to_string(),
    ///     "+0x0000: 31 c0 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3  1...............\n",
    /// );
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn dump_offsets(&self) -> Dump<'_> {
        Dump::new(self.dumped(), None)
    }

    /// The bytes the dumps show: the code rounded up to whole lines, at least one.
    fn dumped(&self) -> &[u8] {
        let end = self.code.len().max(1).next_multiple_of(Dump::BYTES_PER_LINE);
        &self.memory.as_slice()[..end]
    }
}

/// Calls the code at `ptr` with `args` in `rdi`, `rsi`, `rdx`, `rcx`, `r8`, `r9` (missing ones are 0) and returns
/// `rax`: the one six-register call behind [`JitFn::call`] and [`ArenaFn::call`](super::ArenaFn::call). `caller`
/// names the method in the panic message; `callable` proves that code can run on this host.
///
/// # Safety
///
/// `ptr` must be the first byte of executable code with the duties listed at [`JitFn::call`].
///
/// # Panics
///
/// When `args` has more than [`JitFn::MAX_ARGS`] values.
#[inline]
pub(super) unsafe fn call_six(ptr: *const u8, args: &[i64], caller: &'static str, callable: sys::Callable) -> i64 {
    if args.len() > JitFn::MAX_ARGS {
        too_many_args(caller, args.len());
    }
    let mut regs = [0; JitFn::MAX_ARGS];
    regs[..args.len()].copy_from_slice(args);
    let [rdi, rsi, rdx, rcx, r8, r9] = regs;
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let _ = callable;
        type Six = extern "sysv64" fn(i64, i64, i64, i64, i64, i64) -> i64;
        // SAFETY: the caller promises a System V function of at most six integer arguments returning in rax at
        // `ptr`; passing unused registers is harmless to it.
        let f = unsafe { <Six as sealed::FromPtr>::from_ptr(ptr) };
        f(rdi, rsi, rdx, rcx, r8, r9)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = (ptr, rdi, rsi, rdx, rcx, r8, r9);
        // No code can be loaded on this host: the proof has no values here.
        match callable {}
    }
}

/// The code at `ptr` as a function pointer of type `F`.
///
/// # Safety
///
/// `ptr` must be the first byte of code with signature `F`.
pub(super) unsafe fn fn_from_ptr<F: JitSignature>(ptr: *const u8) -> F {
    // SAFETY: forwarded to the caller.
    unsafe { <F as sealed::FromPtr>::from_ptr(ptr) }
}

/// The panic of [`call_six`], out of the way of the call itself.
#[cold]
#[inline(never)]
fn too_many_args(caller: &str, given: usize) -> ! {
    panic!(
        "{caller} passes at most {} arguments, but {given} were given",
        JitFn::MAX_ARGS
    )
}

/// A function-pointer type that loaded code can be called through: `extern "sysv64" fn(A, B, ...) -> R` with up
/// to six [`Arg`] parameters and an [`Ret`] result. Sealed: implemented here for exactly those types (on x86-64
/// hosts, the only ones where the System V ABI exists).
///
/// ```
/// fn takes<F: jit_core::mem::JitSignature>() {}
/// takes::<extern "sysv64" fn() -> i64>();
/// takes::<extern "sysv64" fn(*const u8, usize) -> u32>();
/// takes::<extern "sysv64" fn(f64, f64, f64, f64, f64, f64) -> f64>();
/// takes::<extern "sysv64" fn(i32)>();
/// ```
pub trait JitSignature: Copy + sealed::FromPtr {}

/// A parameter type for a [`JitSignature`]: what System V passes in one register: integers up to 64 bits
/// (general-purpose registers), `f32` and `f64` (`xmm` registers), raw pointers.
///
/// ```
/// fn arg<A: jit_core::mem::Arg>() {}
/// arg::<i64>();
/// arg::<f32>();
/// arg::<*mut u8>();
/// ```
pub trait Arg: Copy + sealed::Sealed {}

/// A result type for a [`JitSignature`]: any [`Arg`] type (returned in `rax` or `xmm0`) or `()`.
///
/// ```
/// fn ret<R: jit_core::mem::Ret>() {}
/// ret::<u64>();
/// ret::<f64>();
/// ret::<()>();
/// ```
pub trait Ret: sealed::Sealed {}

mod sealed {
    /// Keeps [`super::Arg`], [`super::Ret`] and [`super::JitSignature`] implemented only in this module.
    pub trait Sealed {}

    /// Turns the address of code into a function pointer of this type.
    pub trait FromPtr {
        /// # Safety
        ///
        /// `ptr` must be the first byte of code with this signature.
        unsafe fn from_ptr(ptr: *const u8) -> Self;
    }
}

macro_rules! scalars {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Arg for $t {}
        impl Ret for $t {}
    )*};
}
scalars!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

impl<T> sealed::Sealed for *const T {}
impl<T> Arg for *const T {}
impl<T> Ret for *const T {}
impl<T> sealed::Sealed for *mut T {}
impl<T> Arg for *mut T {}
impl<T> Ret for *mut T {}
impl sealed::Sealed for () {}
impl Ret for () {}

/// Implements [`JitSignature`] for `extern "sysv64" fn` with the given parameter names.
#[cfg(target_arch = "x86_64")]
macro_rules! signatures {
    ($($arg:ident)*) => {
        impl<R: Ret, $($arg: Arg),*> sealed::FromPtr for extern "sysv64" fn($($arg),*) -> R {
            unsafe fn from_ptr(ptr: *const u8) -> Self {
                // SAFETY: code and data pointers have the same size on x86-64; the caller promises `ptr` is code
                // with this signature.
                unsafe { std::mem::transmute::<*const u8, Self>(ptr) }
            }
        }
        impl<R: Ret, $($arg: Arg),*> JitSignature for extern "sysv64" fn($($arg),*) -> R {}
    };
}
#[cfg(target_arch = "x86_64")]
mod signatures {
    use super::{Arg, JitSignature, Ret, sealed};
    signatures!();
    signatures!(A);
    signatures!(A B);
    signatures!(A B C);
    signatures!(A B C D);
    signatures!(A B C D E);
    signatures!(A B C D E F);
}
