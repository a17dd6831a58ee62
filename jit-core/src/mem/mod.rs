//! Executable memory: pages to put machine code on, and functions to call it through.
//!
//! - [`JitMemory`] is the walk-through's type: whole pages from `posix_memalign`, every byte `0xC3` (`ret`), made
//!   readable, writable and executable with `mprotect`, indexed like a byte slice.
//! - [`JitMemory::seal`] consumes it and returns [`SealedMemory`], read+execute only (W^X): that memory is writable
//!   or executable, never both, and the types say which.
//! - [`Code::load`](crate::Code::load) copies assembled code onto fresh sealed pages and returns a [`JitFn`], which
//!   calls it with the System V calling convention and frees the pages on drop.
//! - [`Arena`] packs many functions onto shared pages and seals them a batch at a time; [`ArenaFn`] calls one.
//! - [`Dump`] shows memory as a debugger's `memory read` does.
//!
//! Systems that forbid executable heap memory (`prctl(PR_SET_MDWE)`, SELinux's `execheap`) refuse the `mprotect`.
//! Then the pages come from a `memfd` mapped twice instead: a read+write view to write through and a read+execute
//! view to run. Everything here works the same on both; only [`JitMemory::as_ptr`] and [`JitMemory::as_mut_ptr`]
//! then differ.
//!
//! Machine code runs only on x86-64 Linux. On other hosts [`JitMemory::new`] and `load` return
//! [`MemError::UnsupportedHost`] and no memory is ever made executable; assembling works everywhere.

mod arena;
mod call;
mod dump;
mod scratch;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod sys;
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[path = "unsupported.rs"]
mod sys;

pub use arena::{Arena, ArenaFn};
pub use call::{Arg, JitFn, JitSignature, Ret};
pub use dump::Dump;
pub use scratch::{Scratch, ScratchFn};

use std::fmt;
use std::ops::{Index, IndexMut};
use std::slice;
use sys::{Mapping, Region};

/// Why executable memory could not be set up.
///
/// ```
/// let err = jit_core::JitMemory::new(0).unwrap_err();
/// assert_eq!(err, jit_core::MemError::ZeroPages);
/// assert_eq!(err.to_string(), "Cannot allocate executable memory of zero pages; ask for at least one page.");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemError {
    /// A libc call failed.
    Libc {
        /// The call, such as `"mprotect"`.
        call: &'static str,
        /// The `errno` it left (for `posix_memalign`, the error number it returned).
        errno: i32,
    },
    /// [`JitMemory::new`] was asked for no pages.
    ZeroPages,
    /// The size in bytes of this many pages does not fit in `usize`.
    TooLarge {
        /// The number of pages asked for.
        pages: usize,
    },
    /// The system refused to make heap memory executable, and the memfd fallback failed too.
    ExecForbidden {
        /// The `errno` of the refused `mprotect` (`EACCES` or `EPERM`).
        errno: i32,
        /// Why the fallback failed.
        fallback: Box<MemError>,
    },
    /// This host cannot run x86-64 machine code: it is not x86-64 Linux.
    UnsupportedHost,
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = |errno: i32| std::io::Error::from_raw_os_error(errno);
        match self {
            MemError::Libc {
                call: "mprotect",
                errno,
            } if os(*errno).kind() == std::io::ErrorKind::OutOfMemory => {
                write!(
                    f,
                    "The libc call `mprotect` failed: {}. The process has most likely reached its limit of memory \
                     mappings (`vm.max_map_count`, 65530 by default): every function loaded with `Code::load` and \
                     still alive takes two. Load many functions into one `Arena` instead, or raise the limit with \
                     `sysctl vm.max_map_count`.",
                    os(*errno)
                )
            }
            MemError::Libc { call, errno } => write!(
                f,
                "The libc call `{call}` failed: {}. Executable memory could not be set up; check the process's \
                 memory limits (`ulimit -v`) and that the system allows executable memory, then try again.",
                os(*errno)
            ),
            MemError::ZeroPages => {
                f.write_str("Cannot allocate executable memory of zero pages; ask for at least one page.")
            }
            MemError::TooLarge { pages } => write!(
                f,
                "Cannot allocate {pages} pages of executable memory: their size in bytes does not fit in the \
                 address space; ask for fewer pages."
            ),
            MemError::ExecForbidden { errno, fallback } => write!(
                f,
                "The system forbids executable heap memory (`mprotect` with PROT_EXEC failed: {}), as \
                 `prctl(PR_SET_MDWE)` or SELinux's `execheap` rule do, and the fallback of a memfd mapped twice \
                 failed too. Run the program without MDWE, or allow `execheap` and `execmem` for it in the SELinux \
                 policy. The fallback's error: {fallback}",
                os(*errno)
            ),
            MemError::UnsupportedHost => write!(
                f,
                "Machine code runs only on x86-64 Linux, and this host is {} {}; assembling works anywhere, but \
                 loading and calling code needs an x86-64 Linux machine.",
                std::env::consts::ARCH,
                std::env::consts::OS
            ),
        }
    }
}

impl std::error::Error for MemError {}

/// The size in bytes of `pages` pages.
fn pages_len(pages: usize, page_size: usize) -> Result<usize, MemError> {
    match pages {
        0 => Err(MemError::ZeroPages),
        _ => pages.checked_mul(page_size).ok_or(MemError::TooLarge { pages }),
    }
}

/// Readable, writable and executable pages, every byte `0xC3` (`ret`) until written: the walk-through's memory.
///
/// Write machine code by index, then call it through [`as_ptr`](JitMemory::as_ptr). The memory is freed on drop;
/// [`seal`](JitMemory::seal) turns it into read+execute-only [`SealedMemory`].
///
/// # Systems that forbid executable heap memory
///
/// Under `prctl(PR_SET_MDWE)` or SELinux's `execheap` rule, no page may be writable and executable at once. Then the
/// pages are a `memfd` mapped twice: indexing, [`as_mut_ptr`](JitMemory::as_mut_ptr) and
/// [`as_mut_slice`](JitMemory::as_mut_slice) write through the read+write view, and
/// [`as_ptr`](JitMemory::as_ptr) returns the read+execute view, where the same bytes appear at once. Code that
/// writes to its own memory, or computes addresses in it from `as_mut_ptr`, sees the difference; "write bytes by
/// index, then call `as_ptr`" works either way.
///
/// ```
/// let mut m = jit_core::JitMemory::new(1)?;
/// m[0] = 0x48; // mov rax, 3
/// m[1] = 0xc7;
/// m[2] = 0xc0;
/// m[3] = 0x03;
/// m[4] = 0x00;
/// m[5] = 0x00;
/// m[6] = 0x00;
/// assert_eq!(m[7], 0xc3); // ret, from the fill
/// // SAFETY: the memory holds `mov rax, 3; ret`, a System V function without arguments that returns rax.
/// let f = unsafe { std::mem::transmute::<*const u8, extern "sysv64" fn() -> i64>(m.as_ptr()) };
/// assert_eq!(f(), 3);
/// # Ok::<(), jit_core::MemError>(())
/// ```
#[derive(Debug)]
pub struct JitMemory {
    /// The pages code runs from: read+write+execute, or read+execute when `alias` is set.
    region: Region,
    /// The memfd fallback's read+write view of the same pages, which writes go through.
    alias: Option<Mapping>,
    page_size: usize,
}

impl JitMemory {
    /// `pages` pages of the system's page size, every byte `0xC3` (`ret`), readable, writable and executable.
    ///
    /// # Errors
    ///
    /// [`MemError::ZeroPages`] for `pages == 0`, [`MemError::TooLarge`] when the size overflows, [`MemError::Libc`]
    /// when a libc call fails, [`MemError::ExecForbidden`] when the system forbids executable memory and the memfd
    /// fallback fails, and [`MemError::UnsupportedHost`] on hosts other than x86-64 Linux.
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(2)?;
    /// assert_eq!(m.len(), 2 * m.page_size());
    /// assert!(m.as_slice().iter().all(|&b| b == 0xc3));
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn new(pages: usize) -> Result<JitMemory, MemError> {
        let page_size = sys::page_size()?;
        let len = pages_len(pages, page_size)?;
        let (region, alias) = sys::place(len, &[], true)?;
        Ok(JitMemory {
            region,
            alias,
            page_size,
        })
    }

    /// Makes the memory read+execute only, consuming the writable value (W^X).
    ///
    /// # Errors
    ///
    /// [`MemError::Libc`] when `mprotect` fails; the memory is freed then.
    ///
    /// ```
    /// let mut m = jit_core::JitMemory::new(1)?;
    /// m[0] = 0x90; // nop
    /// let sealed = m.seal()?;
    /// assert_eq!(sealed.as_slice()[..2], [0x90, 0xc3]);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn seal(mut self) -> Result<SealedMemory, MemError> {
        // With the memfd fallback the executable view is read+execute already: unmapping the writable one seals it.
        self.alias = None;
        self.region.seal()?;
        Ok(SealedMemory { region: self.region })
    }

    /// The address to run code from: the first byte, where a function starting at offset 0 begins.
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(1)?;
    /// assert_eq!(m.as_ptr() as usize % m.page_size(), 0);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.region.ptr().as_ptr()
    }

    /// The address to write through: the same as [`as_ptr`](JitMemory::as_ptr), except with the memfd fallback
    /// (see [`JitMemory`]), where it is the writable view of the same bytes.
    ///
    /// ```
    /// let mut m = jit_core::JitMemory::new(1)?;
    /// // SAFETY: offset 0 is inside the memory, which is writable through this pointer.
    /// unsafe { m.as_mut_ptr().write(0x90) };
    /// assert_eq!(m[0], 0x90);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.alias.as_ref().map_or(self.region.ptr(), Mapping::ptr).as_ptr()
    }

    /// Size in bytes: a whole number of pages.
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(3)?;
    /// assert_eq!(m.len(), 3 * m.page_size());
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Always false: there is at least one page.
    ///
    /// ```
    /// assert!(!jit_core::JitMemory::new(1)?.is_empty());
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The system's page size in bytes, read with `sysconf(_SC_PAGESIZE)`; the memory is aligned to it.
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(1)?;
    /// assert!(m.page_size().is_power_of_two());
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// The bytes.
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(1)?;
    /// assert_eq!(m.as_slice()[..4], [0xc3; 4]);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the region is `len` readable bytes owned by `self` until it drops; `&self` rules out a `&mut` to
        // them (the writable view is reached only through `&mut self`).
        unsafe { slice::from_raw_parts(self.as_ptr(), self.len()) }
    }

    /// The bytes, writable.
    ///
    /// ```
    /// let mut m = jit_core::JitMemory::new(1)?;
    /// m.as_mut_slice()[..3].copy_from_slice(&[0x31, 0xc0, 0xc3]); // xor eax, eax; ret
    /// assert_eq!(m[1], 0xc0);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: `as_mut_ptr` points at `len` writable bytes owned by `self` until it drops; `&mut self` makes this
        // the only reference to them through either view.
        unsafe { slice::from_raw_parts_mut(self.as_mut_ptr(), len) }
    }

    /// The whole memory as a debugger's `memory read` shows it, with real addresses; see [`Dump`].
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(1)?;
    /// let text = m.dump().to_string();
    /// assert!(text.starts_with(&format!("{:#x}: c3 c3", m.as_ptr() as usize)));
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn dump(&self) -> Dump<'_> {
        Dump::new(self.as_slice(), Some(self.as_ptr() as usize))
    }

    /// The whole memory as [`dump`](JitMemory::dump) shows it, with offsets instead of addresses, so the text is
    /// the same on every run.
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(1)?;
    /// let c3_line = "c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3  ................";
    /// let last = m.len() - 16;
    /// assert_eq!(m.dump_offsets().to_string(), format!("+0x0000: {c3_line}\n*\n+0x{last:04x}: {c3_line}\n"));
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn dump_offsets(&self) -> Dump<'_> {
        Dump::new(self.as_slice(), None)
    }
}

/// Reads a byte, like a slice: an index past [`len`](JitMemory::len) panics.
impl Index<usize> for JitMemory {
    type Output = u8;

    fn index(&self, index: usize) -> &u8 {
        &self.as_slice()[index]
    }
}

/// Writes a byte, like a slice: an index past [`len`](JitMemory::len) panics.
impl IndexMut<usize> for JitMemory {
    fn index_mut(&mut self, index: usize) -> &mut u8 {
        &mut self.as_mut_slice()[index]
    }
}

/// Read+execute-only pages, made by [`JitMemory::seal`] (and by [`Code::load`](crate::Code::load) for a
/// [`JitFn`]). Freed on drop.
///
/// ```
/// let mut m = jit_core::JitMemory::new(1)?;
/// m.as_mut_slice()[..8].copy_from_slice(&[0x48, 0xc7, 0xc0, 0x2a, 0x00, 0x00, 0x00, 0xc3]); // mov rax, 42; ret
/// let sealed = m.seal()?;
/// // SAFETY: the memory holds `mov rax, 42; ret`, a System V function without arguments that returns rax.
/// let f = unsafe { std::mem::transmute::<*const u8, extern "sysv64" fn() -> i64>(sealed.as_ptr()) };
/// assert_eq!(f(), 42);
/// # Ok::<(), jit_core::MemError>(())
/// ```
#[derive(Debug)]
pub struct SealedMemory {
    region: Region,
}

impl SealedMemory {
    /// The address of the first byte.
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(1)?;
    /// let at = m.as_ptr();
    /// assert_eq!(m.seal()?.as_ptr(), at);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.region.ptr().as_ptr()
    }

    /// Size in bytes: a whole number of pages.
    ///
    /// ```
    /// let m = jit_core::JitMemory::new(2)?;
    /// let len = m.len();
    /// assert_eq!(m.seal()?.len(), len);
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Always false: there is at least one page.
    ///
    /// ```
    /// assert!(!jit_core::JitMemory::new(1)?.seal()?.is_empty());
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes.
    ///
    /// ```
    /// let sealed = jit_core::JitMemory::new(1)?.seal()?;
    /// assert!(sealed.as_slice().iter().all(|&b| b == 0xc3));
    /// # Ok::<(), jit_core::MemError>(())
    /// ```
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the region is `len` readable bytes owned by `self` until it drops, and nothing writes to them.
        unsafe { slice::from_raw_parts(self.as_ptr(), self.len()) }
    }
}
