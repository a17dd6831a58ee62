//! [`Arena`]: many functions packed onto shared pages, made executable a batch at a time, and [`ArenaFn`], a
//! handle to call one of them.
//!
//! [`Code::load`](crate::Code::load) spends whole pages, an allocation and two `mprotect`s on every function. An
//! arena instead copies functions one after another, 16-byte aligned, into chunks of pages filled with `0xC3`
//! (`ret`), and makes everything written since the last time executable with one `mprotect` per chunk when the
//! batch is sealed.

use super::call::{self, JitSignature};
use super::{JitFn, MemError, pages_len, sys};
use crate::Code;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::ptr::NonNull;
use std::slice;

/// Where each function starts: a multiple of this many bytes, as compilers align functions.
const ALIGN: usize = 16;

/// The largest chunk an arena allocates for small functions. glibc serves requests this small from the `brk` heap
/// next to the program (its `mmap` threshold is 128 KiB), so code on it is within ±2 GiB of the program's own code
/// and calls into it are as fast as calls to Rust functions. Chunks grow from one page to this size.
const MAX_CHUNK: usize = 64 << 10;

/// Functions packed onto shared pages: load many, [`seal`](Arena::seal) once, call them all.
///
/// Memory comes in chunks of whole pages (one page first, then doubling up to 64 KiB) filled with `0xC3` (`ret`);
/// each function is copied to the next 16-byte-aligned offset, with at least one `ret` after it, so code that ends
/// without `ret` returns as it does after [`Code::load`](crate::Code::load). A function larger than a chunk gets a
/// chunk of its own. All memory is given back when the arena drops; the handles borrow the arena, so none can
/// outlive it.
///
/// # W^X and sealing
///
/// Pages are never writable and executable at once. [`load`](Arena::load) only writes, to read+write pages;
/// [`seal`](Arena::seal) makes every page written since the last seal read+execute, with one `mprotect` per chunk.
/// [`ArenaFn::call`] and [`ArenaFn::as_fn`] seal first if anything is pending (a flag check when nothing is), so
/// sealing by hand is only needed to get its error as a value, or before calling through a pointer from
/// [`ArenaFn::as_ptr`]. Loading into a page that is already sealed and partly used makes that one page read+write
/// again until the next seal.
///
/// # Systems that forbid executable heap memory
///
/// Under `prctl(PR_SET_MDWE)` or SELinux's `execheap` rule, chunks are a `memfd` mapped twice instead, as for
/// [`JitMemory`](super::JitMemory): code is written through a read+write view and runs from a read+execute view,
/// where it appears at once, so nothing is ever pending and no `mprotect` is needed. Which of the two an arena
/// uses is decided by its first chunk, which checks that its pages may become executable (one `mprotect` to
/// read+execute and back) before any code is written; once the system has refused, every arena of the process
/// uses memfds at once. (A system that starts to forbid executable heap memory after an arena checked makes its
/// [`seal`](Arena::seal) fail.)
///
/// # Threads
///
/// An arena is used from one thread at a time: it is [`Send`] but not [`Sync`] (it keeps its bookkeeping in
/// [`Cell`]s to load through `&self` while handles borrow it), and its handles are neither.
///
/// ```
/// use jit_core::{Arena, Code};
///
/// let arena = Arena::new();
/// let fns: Vec<_> = (0..1000)
///     .map(|i: i32| {
///         let mut bytes = vec![0x48, 0xc7, 0xc0]; // mov rax, imm32
///         bytes.extend_from_slice(&i.to_le_bytes());
///         arena.load(&Code::from_bytes(bytes))
///     })
///     .collect::<Result<_, _>>()?;
/// arena.seal()?;
/// // SAFETY: each function returns its immediate and takes no arguments.
/// assert_eq!(unsafe { fns[765].call(&[]) }, 765);
/// assert!(arena.pages() <= 10);
/// # Ok::<(), jit_core::MemError>(())
/// ```
pub struct Arena {
    state: RefCell<State>,
    /// Some heap chunk holds code written since the last seal: checked by every call.
    pending: Cell<bool>,
}

/// What an arena holds, changed only by [`Arena::load`] and [`Arena::seal`].
struct State {
    chunks: Vec<Chunk>,
    /// The index of the chunk small functions go to.
    current: Option<usize>,
    /// The indices of the chunks with code written since the last seal, each once.
    pending: Vec<usize>,
    /// The size in bytes of the next chunk for small functions (0: one page).
    next_chunk: usize,
    /// The first chunk checked that the system lets heap pages become executable.
    checked: bool,
    /// Functions loaded.
    functions: usize,
}

/// Whole pages of code: `[0, sealed)` read+execute, `[sealed, len)` read+write (on the heap; a memfd's two views
/// keep their protections).
struct Chunk {
    /// The pages code runs from.
    region: sys::Region,
    /// The memfd fallback's read+write view, which code is written through.
    write: Option<sys::Mapping>,
    /// Bytes handed out, from the start.
    used: usize,
    /// Bytes from the start that are read+execute: a whole number of pages.
    sealed: usize,
}

impl Chunk {
    /// Whether the chunk holds code written since the last seal, and so is listed in [`State::pending`]: a heap
    /// chunk with code past its sealed pages (a memfd's code runs at once, and is never pending).
    fn pending(&self) -> bool {
        self.write.is_none() && self.used > self.sealed
    }

    /// The address to write byte `at` through.
    fn write_ptr(&self, at: usize) -> *mut u8 {
        let base = self.write.as_ref().map_or(self.region.ptr(), sys::Mapping::ptr);
        base.as_ptr().wrapping_add(at)
    }
}

impl Arena {
    /// An empty arena. Nothing is allocated until the first [`load`](Arena::load).
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// assert_eq!((arena.len(), arena.pages()), (0, 0));
    /// ```
    pub const fn new() -> Arena {
        Arena::with_capacity(0)
    }

    /// An empty arena whose first chunk will hold at least `bytes` bytes (rounded up to whole pages), so that many
    /// bytes of code need a single `mprotect` to seal. Nothing is allocated until the first
    /// [`load`](Arena::load).
    ///
    /// A chunk larger than glibc's `mmap` threshold (128 KiB by default) is mapped far from the program's code,
    /// where calls cost a little more than calls to Rust functions; [`Arena::new`]'s chunks stay below it.
    ///
    /// ```
    /// let arena = jit_core::Arena::with_capacity(100_000);
    /// arena.load(&jit_core::Code::from_bytes(vec![0xc3]))?;
    /// assert_eq!(arena.pages(), 25); // 100,000 bytes in pages of 4 KiB
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub const fn with_capacity(bytes: usize) -> Arena {
        Arena {
            state: RefCell::new(State {
                chunks: Vec::new(),
                current: None,
                pending: Vec::new(),
                next_chunk: bytes,
                checked: false,
                functions: 0,
            }),
            pending: Cell::new(false),
        }
    }

    /// Copies `code` into the arena and returns a handle to call it. The bytes are written to read+write memory;
    /// they become executable when the arena is [sealed](Arena::seal), which the handle's
    /// [`call`](ArenaFn::call) does by itself. Empty code is fine: it is just `ret`.
    ///
    /// # Errors
    ///
    /// [`MemError::Libc`] when a libc call fails, [`MemError::TooLarge`] when the code is too large for the
    /// address space, [`MemError::ExecForbidden`] when the system forbids executable memory and the memfd fallback
    /// fails, and [`MemError::UnsupportedHost`] on hosts other than x86-64 Linux. The arena is unchanged then.
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// // mov rax, rdi; add rax, rsi; ret
    /// let add = arena.load(&jit_core::Code::from_bytes(vec![0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3]))?;
    /// // SAFETY: the code is a System V function of two integer arguments that returns rax.
    /// assert_eq!(unsafe { add.call(&[2, 40]) }, 42);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn load(&self, code: &Code) -> Result<ArenaFn<'_>, MemError> {
        let bytes = code.bytes();
        // At least one `ret` after the code, which no later function may overwrite.
        let need = bytes.len() + 1;
        let mut state = self.state.borrow_mut();
        let (index, at) = state.reserve(need)?;
        let chunk = &mut state.chunks[index];
        let listed = chunk.pending();
        if at < chunk.sealed {
            // The last sealed page is partly used: make just that page writable again. The chunk exists, so the
            // page size has been read.
            let page = sys::page_size()?;
            let from = at / page * page;
            chunk.region.protect(from..chunk.sealed, false)?;
            chunk.sealed = from;
        }
        // SAFETY: `reserve` handed out `need` bytes at `at`, inside the chunk and used by no other function; they
        // are writable through this pointer (heap pages from `sealed` on are read+write, a memfd's write view is).
        unsafe {
            chunk
                .write_ptr(at)
                .copy_from_nonoverlapping(bytes.as_ptr(), bytes.len())
        };
        chunk.used = at + need;
        let callable = chunk.region.callable();
        // SAFETY: `at` is inside the chunk's memory, whose address is not null.
        let ptr = unsafe { chunk.region.ptr().add(at) };
        if chunk.pending() && !listed {
            state.pending.push(index);
        }
        state.functions += 1;
        self.pending.set(!state.pending.is_empty());
        Ok(ArenaFn {
            arena: self,
            ptr,
            len: bytes.len(),
            callable,
        })
    }

    /// Makes every page written since the last seal read+execute only, with one `mprotect` per chunk. Does
    /// nothing when nothing is pending.
    ///
    /// # Errors
    ///
    /// [`MemError::Libc`] when `mprotect` fails (`ENOMEM` when the process has reached its limit of memory
    /// mappings, `vm.max_map_count`). What was not sealed stays pending, and the next seal tries again.
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// let f = arena.load(&jit_core::Code::from_bytes(vec![0x31, 0xc0, 0xc3]))?; // xor eax, eax; ret
    /// arena.seal()?;
    /// // SAFETY: the arena is sealed, and the code is a function without arguments that returns rax.
    /// let f = unsafe { std::mem::transmute::<*const u8, extern "sysv64" fn() -> i64>(f.as_ptr()) };
    /// assert_eq!(f(), 0);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn seal(&self) -> Result<(), MemError> {
        if !self.pending.get() {
            return Ok(());
        }
        let mut state = self.state.borrow_mut();
        // Something is pending, so a chunk exists and the page size has been read.
        let page = sys::page_size()?;
        while let Some(&index) = state.pending.last() {
            let chunk = &mut state.chunks[index];
            let end = chunk.used.next_multiple_of(page);
            chunk.region.protect(chunk.sealed..end, true)?;
            chunk.sealed = end;
            state.pending.pop();
        }
        self.pending.set(false);
        Ok(())
    }

    /// Seals for a call, which cannot return the error.
    #[cold]
    #[inline(never)]
    fn seal_to_call(&self) {
        if let Err(err) = self.seal() {
            panic!("the arena could not make its code executable before the call: {err}");
        }
    }

    /// The number of functions loaded.
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// arena.load(&jit_core::Code::from_bytes(vec![0xc3]))?;
    /// arena.load(&jit_core::Code::from_bytes(vec![]))?;
    /// assert_eq!(arena.len(), 2);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.state.borrow().functions
    }

    /// True before the first [`load`](Arena::load).
    ///
    /// ```
    /// assert!(jit_core::Arena::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of pages the arena holds, used or not.
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// for _ in 0..200 {
    ///     arena.load(&jit_core::Code::from_bytes(vec![0x31, 0xc0, 0xc3]))?; // xor eax, eax; ret
    /// }
    /// assert_eq!(arena.pages(), 1); // 200 functions of 16 bytes each
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn pages(&self) -> usize {
        let state = self.state.borrow();
        match state.bytes() {
            0 => 0,
            // Chunks exist, so the page size has been read.
            bytes => sys::page_size().map_or(0, |page| bytes / page),
        }
    }
}

impl State {
    /// Bytes of all chunks together.
    fn bytes(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.region.len()).sum()
    }

    /// Finds `need` bytes at an aligned offset, allocating a chunk if none has room: `(chunk index, offset)`.
    fn reserve(&mut self, need: usize) -> Result<(usize, usize), MemError> {
        if let Some(index) = self.current {
            let at = self.chunks[index].used.next_multiple_of(ALIGN);
            if need <= self.chunks[index].region.len().saturating_sub(at) {
                return Ok((index, at));
            }
        }
        let page = sys::page_size()?;
        let pages = need.div_ceil(page);
        let fitted = pages_len(pages, page)?;
        let size = pages_len(self.next_chunk.div_ceil(page).max(1), page)?;
        if fitted > size.max(MAX_CHUNK) {
            // A large function: a chunk of its own, while small ones keep filling the current chunk.
            self.push(fitted)?;
            return Ok((self.chunks.len() - 1, 0));
        }
        let size = size.max(fitted);
        self.push(size)?;
        self.current = Some(self.chunks.len() - 1);
        self.next_chunk = size.saturating_mul(2).min(MAX_CHUNK);
        Ok((self.chunks.len() - 1, 0))
    }

    /// Allocates a chunk of `len` bytes of `ret`.
    fn push(&mut self, len: usize) -> Result<(), MemError> {
        let (region, write) = sys::writable(len, !self.checked)?;
        self.checked = true;
        self.chunks.push(Chunk {
            region,
            write,
            used: 0,
            sealed: 0,
        });
        Ok(())
    }
}

impl Default for Arena {
    /// The same as [`Arena::new`].
    ///
    /// ```
    /// let arena: jit_core::Arena = Default::default();
    /// assert!(arena.is_empty());
    /// ```
    fn default() -> Arena {
        Arena::new()
    }
}

/// Shows the counts, not the memory.
impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Arena")
            .field("functions", &state.functions)
            .field("chunks", &state.chunks.len())
            .field("bytes", &state.bytes())
            .field("pending", &self.pending.get())
            .finish()
    }
}

/// A function loaded into an [`Arena`], ready to call. It borrows the arena, so it cannot outlive the memory; it
/// is a pointer and a length, [`Copy`], and dropping it gives nothing back (the arena does, when it drops).
///
/// ```
/// let arena = jit_core::Arena::new();
/// // lea rax, [rdi + 1]; ret
/// let inc = arena.load(&jit_core::Code::from_bytes(vec![0x48, 0x8d, 0x47, 0x01, 0xc3]))?;
/// let same = inc;
/// // SAFETY: the code is a System V function of one integer argument that returns rax.
/// assert_eq!(unsafe { same.call(&[41]) }, 42);
/// # Ok::<(), jit_core::MemError>(())
/// ```
#[derive(Clone, Copy)]
pub struct ArenaFn<'a> {
    arena: &'a Arena,
    ptr: NonNull<u8>,
    len: usize,
    callable: sys::Callable,
}

impl<'a> ArenaFn<'a> {
    /// The most arguments [`call`](ArenaFn::call) passes, the same as [`JitFn::MAX_ARGS`].
    ///
    /// ```
    /// assert_eq!(jit_core::ArenaFn::MAX_ARGS, 6);
    /// ```
    pub const MAX_ARGS: usize = JitFn::MAX_ARGS;

    /// The function at byte `offset` of the same code (an entry point other than the first, such as
    /// [`Code::label_offset`](crate::Code::label_offset) gives). `None` when `offset` is not inside the code.
    ///
    /// ```
    /// let mut arena = jit_core::Arena::new();
    /// // mov eax, 1; ret; mov eax, 2; ret
    /// let code = jit_core::Code::from_bytes(vec![0xb8, 1, 0, 0, 0, 0xc3, 0xb8, 2, 0, 0, 0, 0xc3]);
    /// let first = arena.load(&code)?;
    /// let second = first.at(6).unwrap();
    /// // SAFETY: both entry points are System V functions without arguments that return eax.
    /// assert_eq!(unsafe { (first.call(&[]), second.call(&[])) }, (1, 2));
    /// assert!(first.at(12).is_none());
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn at(self, offset: usize) -> Option<ArenaFn<'a>> {
        if offset >= self.len {
            return None;
        }
        // SAFETY: `offset` is inside the code, so the pointer stays inside the arena's mapping and is not null.
        let ptr = unsafe { NonNull::new_unchecked(self.ptr.as_ptr().add(offset)) };
        Some(ArenaFn {
            ptr,
            len: self.len - offset,
            ..self
        })
    }

    /// Calls the function with integer arguments in `rdi`, `rsi`, `rdx`, `rcx`, `r8`, `r9` (missing ones are 0)
    /// and returns `rax`, sealing the arena first if code was loaded since it was last sealed.
    ///
    /// # Safety
    ///
    /// The duties of [`JitFn::call`]: the code must be a System V function of at most six integer arguments that
    /// returns, and whatever it touches must be valid to touch. Besides, while it runs it must not load code into
    /// this arena (through a callback, say): that may make its own page read+write, and the return to it fault.
    ///
    /// # Panics
    ///
    /// When `args` has more than [`MAX_ARGS`](ArenaFn::MAX_ARGS) (six) values, and when sealing the arena
    /// fails, which a call cannot report as an error (`mprotect` fails only when the process is out of memory
    /// mappings, or the system started forbidding executable memory after the arena checked). Call
    /// [`Arena::seal`] after loading to get that error as a value; after it succeeds, calls do not seal.
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// // mov rax, rdi; sub rax, rsi; ret
    /// let sub = arena.load(&jit_core::Code::from_bytes(vec![0x48, 0x89, 0xf8, 0x48, 0x29, 0xf0, 0xc3]))?;
    /// // SAFETY: the code is a System V function of two integer arguments that returns rax.
    /// assert_eq!(unsafe { sub.call(&[50, 8]) }, 42);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    #[inline]
    pub unsafe fn call(&self, args: &[i64]) -> i64 {
        self.ready();
        // SAFETY: the arena is sealed, so the code is executable, and it lives as long as the arena; the caller
        // promises the rest.
        unsafe { call::call_six(self.ptr.as_ptr(), args, "ArenaFn::call", self.callable) }
    }

    /// The function as a function pointer of type `F`, such as `extern "sysv64" fn(f64, f64) -> f64`, sealing the
    /// arena first if code was loaded since it was last sealed.
    ///
    /// # Safety
    ///
    /// `F` must be the code's real signature under the System V ABI, with the duties listed at
    /// [`call`](ArenaFn::call). The pointer may be called only while the arena lives and is sealed: loading more
    /// code may make the function's page read+write until the next [`Arena::seal`] (or handle call), and calling
    /// it then faults.
    ///
    /// # Panics
    ///
    /// When sealing the arena fails; see [`call`](ArenaFn::call).
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// // addsd xmm0, xmm1; ret
    /// let f = arena.load(&jit_core::Code::from_bytes(vec![0xf2, 0x0f, 0x58, 0xc1, 0xc3]))?;
    /// // SAFETY: the code adds two f64 arguments and returns the sum in xmm0; the arena outlives the call.
    /// let add = unsafe { f.as_fn::<extern "sysv64" fn(f64, f64) -> f64>() };
    /// assert_eq!(add(1.5, 2.25), 3.75);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub unsafe fn as_fn<F: JitSignature>(&self) -> F {
        self.ready();
        // SAFETY: the caller promises that `F` is the code's signature; the pointer is the code's first byte.
        unsafe { call::fn_from_ptr(self.ptr.as_ptr()) }
    }

    /// Seals the arena if anything is pending.
    #[inline]
    fn ready(&self) {
        if self.arena.pending.get() {
            self.arena.seal_to_call();
        }
    }

    /// The address of the function's first byte. The code there runs only once the arena is sealed; see
    /// [`Arena::seal`].
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// let f = arena.load(&jit_core::Code::from_bytes(vec![0x90, 0xc3]))?; // nop; ret
    /// let g = arena.load(&jit_core::Code::from_bytes(vec![0xc3]))?; // ret
    /// assert_eq!(f.as_ptr() as usize % 16, 0);
    /// assert_eq!(g.as_ptr() as usize - f.as_ptr() as usize, 16);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The function's bytes, as loaded.
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// let f = arena.load(&jit_core::Code::from_bytes(vec![0x90, 0xc3]))?; // nop; ret
    /// assert_eq!(f.bytes(), [0x90, 0xc3]);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn bytes(&self) -> &'a [u8] {
        // SAFETY: the `len` bytes at `ptr` are in the arena's memory, readable (read+write or read+execute) while
        // the arena lives, and never written after `load` wrote them.
        unsafe { slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The number of bytes of code (not counting the `ret` after it).
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// assert_eq!(arena.load(&jit_core::Code::from_bytes(vec![0x90, 0xc3]))?.len(), 2);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for empty code (which runs as `ret`).
    ///
    /// ```
    /// let arena = jit_core::Arena::new();
    /// assert!(arena.load(&jit_core::Code::from_bytes(vec![]))?.is_empty());
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Shows the address and length.
impl fmt::Debug for ArenaFn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArenaFn")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}
