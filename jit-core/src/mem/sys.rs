//! The libc calls behind executable memory on x86-64 Linux: the page size, heap blocks made executable with
//! `mprotect`, and the fallback for systems that forbid that, a `memfd` mapped twice. Each owner frees what it holds
//! when it drops.

use super::{MemError, pages_len};
use libc::{PROT_EXEC, PROT_READ, PROT_WRITE, c_int};
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// The `ret` instruction, which fills every byte that is not code.
const RET: u8 = 0xc3;

/// The page size once read; 0 until then.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Whether the system has refused to make heap memory executable in this process, and with which `errno`. A
/// refusal never changes back within a process (MDWE cannot be turned off, nor a SELinux domain left), so from then
/// on the memfd fallback is used at once, without another refused `mprotect`.
static EXEC_HEAP_FORBIDDEN: Refusal = Refusal::new();

/// The `errno` (`EACCES` or `EPERM`) of the first refusal to make heap memory executable; 0 before any.
struct Refusal(AtomicI32);

impl Refusal {
    const fn new() -> Refusal {
        Refusal(AtomicI32::new(0))
    }

    /// The `errno` of the refusal remembered, if any.
    fn get(&self) -> Option<i32> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            errno => Some(errno),
        }
    }

    /// The `errno` of `err` when it is a refusal to make heap memory executable (`EACCES` or `EPERM`), remembered
    /// unless an earlier refusal is; `None` for any other error.
    fn record(&self, err: &MemError) -> Option<i32> {
        match *err {
            MemError::Libc {
                errno: errno @ (libc::EACCES | libc::EPERM),
                ..
            } => {
                // Only the first refusal is kept: an `Err` means one is remembered already.
                let _ = self.0.compare_exchange(0, errno, Ordering::Relaxed, Ordering::Relaxed);
                Some(errno)
            }
            _ => None,
        }
    }
}

/// The system's page size, from `sysconf(_SC_PAGESIZE)`, read once per process.
pub(super) fn page_size() -> Result<usize, MemError> {
    match PAGE_SIZE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf only reads a configuration value.
            let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            match usize::try_from(size) {
                Ok(size) if size > 0 => {
                    PAGE_SIZE.store(size, Ordering::Relaxed);
                    Ok(size)
                }
                _ => Err(last_error("sysconf(_SC_PAGESIZE)")),
            }
        }
        size => Ok(size),
    }
}

/// The memfd fallback of `len` bytes holding `code` and then `ret`s, as [`place`] and [`writable`] return it: the
/// read+execute view as the region, with the read+write view when `writable`. When the memfd fails too, the error
/// says that heap memory was refused with `errno` and why the fallback failed.
fn fallback(len: usize, code: &[u8], writable: bool, errno: i32) -> Result<(Region, Option<Mapping>), MemError> {
    let (exec, write) = memfd(len, code).map_err(|fallback| MemError::ExecForbidden {
        errno,
        fallback: Box::new(fallback),
    })?;
    Ok((Region::Memfd(exec), writable.then_some(write)))
}

/// The error for a libc call that just failed and set `errno`.
fn last_error(call: &'static str) -> MemError {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    MemError::Libc { call, errno }
}

/// `len` bytes (whole pages) holding `code` and then `0xC3` (`ret`) to the end, made read+write+execute when
/// `writable` and read+execute otherwise.
///
/// They are heap pages made executable with `mprotect`. When the system refuses that (`EACCES` or `EPERM`: MDWE,
/// SELinux `execheap`), they are a memfd mapped twice; the read+write view comes back too when `writable`.
pub(super) fn place(len: usize, code: &[u8], writable: bool) -> Result<(Region, Option<Mapping>), MemError> {
    let refused = match EXEC_HEAP_FORBIDDEN.get() {
        Some(errno) => errno,
        None => {
            let block = Block::new(len, page_size()?)?;
            // SAFETY: the block is `len` bytes that only it owns, still read+write as malloc made them.
            fill(unsafe { slice::from_raw_parts_mut(block.ptr.as_ptr(), len) }, code);
            let prot = if writable {
                PROT_READ | PROT_WRITE | PROT_EXEC
            } else {
                PROT_READ | PROT_EXEC
            };
            match block.protect(prot) {
                Ok(()) => return Ok((Region::Heap(block), None)),
                // The refused block is freed here, before the fallback allocates.
                Err(err) => EXEC_HEAP_FORBIDDEN.record(&err).ok_or(err)?,
            }
        }
    };
    fallback(len, code, writable, refused)
}

/// `len` bytes (whole pages) of `0xC3` (`ret`) to write code into piece by piece and make executable by page
/// ranges with [`Region::protect`]: `(region, None)` for heap pages, read+write until protected, or, where the
/// system forbids executable heap memory, `(read+execute view, Some(read+write view))` of a memfd.
///
/// With `check_exec`, whether heap pages may become executable is tried first on the block's first page
/// (read+execute, then read+write again), so that code is not written where it could never be sealed. Once the
/// system has refused, every later call uses the memfd at once.
pub(super) fn writable(len: usize, check_exec: bool) -> Result<(Region, Option<Mapping>), MemError> {
    let refused = match EXEC_HEAP_FORBIDDEN.get() {
        Some(errno) => errno,
        None => {
            let page = page_size()?;
            let block = Block::new(len, page)?;
            if check_exec && let Err(err) = block.protect_range(0..page, PROT_READ | PROT_EXEC) {
                // The refused block is freed here, before the fallback allocates.
                EXEC_HEAP_FORBIDDEN.record(&err).ok_or(err)?
            } else {
                if check_exec {
                    block.protect_range(0..page, PROT_READ | PROT_WRITE)?;
                }
                // SAFETY: the block is `len` bytes that only it owns, read+write (again, after the check).
                fill(unsafe { slice::from_raw_parts_mut(block.ptr.as_ptr(), len) }, &[]);
                return Ok((Region::Heap(block), None));
            }
        }
    };
    fallback(len, &[], true, refused)
}

/// Writes `code` at the start of `bytes` and `0xC3` (`ret`) over the rest.
fn fill(bytes: &mut [u8], code: &[u8]) {
    let (head, tail) = bytes.split_at_mut(code.len());
    head.copy_from_slice(code);
    tail.fill(RET);
}

/// A memfd of `len` bytes holding `code` and `ret`s, mapped read+execute and read+write: `(exec, write)`.
fn memfd(len: usize, code: &[u8]) -> Result<(Mapping, Mapping), MemError> {
    let fd = new_memfd(c"rustyjit")?;
    let write = write_view(&fd, 0, len, code)?;
    let exec = Mapping::new(&fd, len, PROT_READ | PROT_EXEC)?;
    // The mappings keep the memory; the descriptor is no longer needed. Closed by hand to check the result.
    // SAFETY: the descriptor is open and owned here; `into_raw_fd` gave up the `OwnedFd`'s claim to it.
    if unsafe { libc::close(fd.into_raw_fd()) } != 0 {
        return Err(last_error("close"));
    }
    Ok((exec, write))
}

/// A new, empty memfd named `name` (the name shows in `/proc/PID/maps`).
fn new_memfd(name: &std::ffi::CStr) -> Result<OwnedFd, MemError> {
    // SAFETY: the name is a NUL-terminated string and MFD_CLOEXEC a valid flag.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(last_error("memfd_create"));
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes the memfd `len` bytes long and maps it read+write, with `code` from byte `from` on and `ret` in every
/// byte after it.
fn write_view(fd: &OwnedFd, from: usize, len: usize, code: &[u8]) -> Result<Mapping, MemError> {
    let size = libc::off_t::try_from(len).map_err(|_| MemError::Libc {
        call: "ftruncate",
        errno: libc::EFBIG,
    })?;
    // SAFETY: `fd` is an open memfd.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
        return Err(last_error("ftruncate"));
    }
    let write = Mapping::new(fd, len, PROT_READ | PROT_WRITE)?;
    // SAFETY: the mapping is `len` read+write bytes that only it owns.
    fill(
        unsafe { &mut slice::from_raw_parts_mut(write.ptr.as_ptr(), len)[from..] },
        code,
    );
    Ok(write)
}

/// A memfd that code is rewritten into: written through one read+write view, run from a read+execute view of
/// whole pages per size asked for (each with a guard page after it), so loading code again needs no system call
/// once the views exist. Every byte that is not code is `0xC3` (`ret`).
#[derive(Debug)]
pub(super) struct Rewritable {
    fd: OwnedFd,
    /// The whole memfd, read+write.
    write: Mapping,
    /// `views[k]`: the read+execute view of the first `k + 1` pages, made when first asked for.
    views: Vec<Option<Mapping>>,
    /// The bytes at the start that may hold something other than `ret`: the last code written.
    used: usize,
    page: usize,
}

impl Rewritable {
    /// A memfd of one page of `ret`s, not yet executable anywhere.
    pub(super) fn new() -> Result<Rewritable, MemError> {
        let page = page_size()?;
        let fd = new_memfd(c"rustyjit-scratch")?;
        let write = write_view(&fd, 0, page, &[])?;
        Ok(Rewritable {
            fd,
            write,
            views: Vec::new(),
            used: 0,
            page,
        })
    }

    /// Puts `code` at the start, `ret` after it, and returns the read+execute view of the whole pages it takes
    /// (at least one): `(first byte, length)`. What an earlier view showed is gone.
    pub(super) fn rewrite(&mut self, code: &[u8]) -> Result<(NonNull<u8>, usize), MemError> {
        let len = pages_len(code.len().div_ceil(self.page).max(1), self.page)?;
        if len > self.write.len {
            self.write = write_view(&self.fd, self.write.len, len, &[])?;
        }
        let pages = len / self.page;
        if self.views.len() < pages {
            self.views.resize_with(pages, || None);
        }
        let view = match &mut self.views[pages - 1] {
            Some(view) => view.ptr,
            empty => empty.insert(Mapping::guarded(&self.fd, len, self.page)?).ptr,
        };
        // SAFETY: the write view is `self.write.len >= len` read+write bytes that only it owns; code runs from the
        // other views only between rewrites, never during one (`&mut self`).
        let bytes = unsafe { slice::from_raw_parts_mut(self.write.ptr.as_ptr(), self.write.len) };
        bytes[..code.len()].copy_from_slice(code);
        if self.used > code.len() {
            bytes[code.len()..self.used].fill(RET);
        }
        self.used = code.len();
        Ok((view, len))
    }

    /// The proof, for handles to code in this memfd, that code can be called on this host.
    pub(super) fn callable(&self) -> Callable {
        Callable(())
    }
}

/// Pages that code runs from.
#[derive(Debug)]
pub(super) enum Region {
    /// Heap pages, read+write+execute or read+execute.
    Heap(Block),
    /// The read+execute view of a memfd.
    Memfd(Mapping),
}

impl Region {
    /// The first byte.
    pub(super) fn ptr(&self) -> NonNull<u8> {
        match self {
            Region::Heap(block) => block.ptr,
            Region::Memfd(mapping) => mapping.ptr,
        }
    }

    /// Size in bytes.
    pub(super) fn len(&self) -> usize {
        match self {
            Region::Heap(block) => block.len,
            Region::Memfd(mapping) => mapping.len,
        }
    }

    /// Makes the pages read+execute only (a memfd's executable view is already).
    pub(super) fn seal(&self) -> Result<(), MemError> {
        match self {
            Region::Heap(block) => block.protect(PROT_READ | PROT_EXEC),
            Region::Memfd(_) => Ok(()),
        }
    }

    /// Makes the pages `range` (byte offsets, whole pages within the region) read+execute when `exec`, read+write
    /// otherwise. A memfd's executable view stays as it is: it is written through the other view.
    pub(super) fn protect(&self, range: Range<usize>, exec: bool) -> Result<(), MemError> {
        match self {
            Region::Heap(block) if exec => block.protect_range(range, PROT_READ | PROT_EXEC),
            Region::Heap(block) => block.protect_range(range, PROT_READ | PROT_WRITE),
            Region::Memfd(_) => Ok(()),
        }
    }

    /// The proof, for handles to code in this region, that code can be called on this host.
    pub(super) fn callable(&self) -> Callable {
        Callable(())
    }
}

/// Carried by handles to loaded code as proof that code can be called on this host; on other hosts the type has
/// no values.
#[derive(Clone, Copy, Debug)]
pub(super) struct Callable(());

/// Whole pages from `posix_memalign`. Drop makes them read+write again before `free`: glibc writes into freed
/// blocks, and freeing read+execute memory would crash.
#[derive(Debug)]
pub(super) struct Block {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a block owns its pages alone, like a `Box<[u8]>`; moving it to another thread moves that ownership.
unsafe impl Send for Block {}
// SAFETY: through a shared reference the pages are only read.
unsafe impl Sync for Block {}

impl Block {
    /// `len` bytes aligned to `page_size`, read+write, uninitialized.
    fn new(len: usize, page_size: usize) -> Result<Block, MemError> {
        let mut ptr = ptr::null_mut();
        // SAFETY: `ptr` is a valid place for the result; the page size is a power of two and a multiple of the size
        // of a pointer, as posix_memalign requires.
        let errno = unsafe { libc::posix_memalign(&mut ptr, page_size, len) };
        match NonNull::new(ptr.cast()) {
            Some(ptr) if errno == 0 => Ok(Block { ptr, len }),
            _ => Err(MemError::Libc {
                call: "posix_memalign",
                errno,
            }),
        }
    }

    fn protect(&self, prot: c_int) -> Result<(), MemError> {
        self.protect_range(0..self.len, prot)
    }

    /// Sets the protection of the byte range `range` (whole pages) of the block.
    fn protect_range(&self, range: Range<usize>, prot: c_int) -> Result<(), MemError> {
        debug_assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: the range is whole pages of this block (callers pass page multiples within it), which only it
        // owns; whoever reads or writes them does so around this call, never across it.
        match unsafe { libc::mprotect(self.ptr.as_ptr().add(range.start).cast(), range.len(), prot) } {
            0 => Ok(()),
            _ => Err(last_error("mprotect")),
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // If the pages cannot be made writable again, giving them back to malloc would crash it: leak them instead.
        if self.protect(PROT_READ | PROT_WRITE).is_ok() {
            // SAFETY: the pointer came from posix_memalign, the block is read+write, and it is freed only here.
            unsafe { libc::free(self.ptr.as_ptr().cast()) }
        }
    }
}

/// One `mmap` view of a memfd, and the inaccessible guard page after it if it has one; drop unmaps both.
#[derive(Debug)]
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// The bytes of the guard after the view: 0 or a page.
    guard: usize,
}

// SAFETY: a mapping owns its view alone; moving it to another thread moves that ownership.
unsafe impl Send for Mapping {}
// SAFETY: through a shared reference the view is only read.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `fd`, shared, with protection `prot`.
    fn new(fd: &OwnedFd, len: usize, prot: c_int) -> Result<Mapping, MemError> {
        // SAFETY: the kernel chooses a fresh address (none given), so no existing memory is replaced.
        let ptr = unsafe { libc::mmap(ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
        match NonNull::new(ptr.cast()) {
            Some(ptr) if ptr.as_ptr() != libc::MAP_FAILED.cast() => Ok(Mapping { ptr, len, guard: 0 }),
            _ => Err(last_error("mmap")),
        }
    }

    /// Maps the first `len` bytes of `fd` read+execute, followed by a page that cannot be touched, so that code
    /// jumping past the end of the view faults whatever else the process has mapped.
    fn guarded(fd: &OwnedFd, len: usize, page: usize) -> Result<Mapping, MemError> {
        let total = len.checked_add(page).ok_or(MemError::Libc {
            call: "mmap",
            errno: libc::ENOMEM,
        })?;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: the kernel chooses a fresh address (none given) for an inaccessible reservation.
        let at = unsafe { libc::mmap(ptr::null_mut(), total, libc::PROT_NONE, flags, -1, 0) };
        let Some(at) = NonNull::new(at.cast::<u8>()).filter(|p| p.as_ptr() != libc::MAP_FAILED.cast()) else {
            return Err(last_error("mmap"));
        };
        let reserved = Mapping {
            ptr: at,
            len,
            guard: page,
        };
        let prot = PROT_READ | PROT_EXEC;
        let fixed = libc::MAP_SHARED | libc::MAP_FIXED;
        // SAFETY: the first `len` bytes of the reservation, which only `reserved` owns, are replaced by the view.
        let view = unsafe { libc::mmap(at.as_ptr().cast(), len, prot, fixed, fd.as_raw_fd(), 0) };
        if view != at.as_ptr().cast() {
            return Err(last_error("mmap"));
        }
        Ok(reserved)
    }

    /// The first byte.
    pub(super) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the view was mapped by `Mapping::new`, nothing borrows it any more, and it is unmapped only here.
        let result = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len + self.guard) };
        // munmap of a whole mapping fails only for arguments it did not come from; a drop has no one to tell.
        debug_assert_eq!(result, 0, "munmap of a memfd view failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mprotect_failed(errno: i32) -> MemError {
        MemError::Libc {
            call: "mprotect",
            errno,
        }
    }

    #[test]
    fn a_refusal_is_remembered_with_the_errno_it_had() {
        let refusal = Refusal::new();
        assert_eq!(refusal.get(), None);
        assert_eq!(refusal.record(&mprotect_failed(libc::EPERM)), Some(libc::EPERM));
        assert_eq!(refusal.get(), Some(libc::EPERM), "EPERM, not EACCES");
        // A later refusal reports its own errno; the first one stays remembered.
        assert_eq!(refusal.record(&mprotect_failed(libc::EACCES)), Some(libc::EACCES));
        assert_eq!(refusal.get(), Some(libc::EPERM));

        let refusal = Refusal::new();
        assert_eq!(refusal.record(&mprotect_failed(libc::EACCES)), Some(libc::EACCES));
        assert_eq!(refusal.get(), Some(libc::EACCES));
    }

    #[test]
    fn other_errors_are_not_refusals() {
        let refusal = Refusal::new();
        for err in [
            mprotect_failed(libc::ENOMEM),
            MemError::ZeroPages,
            MemError::UnsupportedHost,
        ] {
            assert_eq!(refusal.record(&err), None, "{err:?}");
        }
        assert_eq!(refusal.get(), None);
    }

    #[test]
    fn the_fallback_is_a_read_exec_view_with_a_write_view_when_writable() {
        let page = page_size().unwrap();
        for writable in [false, true] {
            let (region, write) = fallback(page, &[0x90], writable, libc::EPERM).unwrap();
            assert!(matches!(region, Region::Memfd(_)));
            assert_eq!(region.len(), page);
            // SAFETY: the region is `page` readable bytes, alive until `region` drops at the end of the loop body.
            let bytes = unsafe { slice::from_raw_parts(region.ptr().as_ptr(), page) };
            assert_eq!(bytes[..2], [0x90, RET]);
            assert!(bytes[2..].iter().all(|&b| b == RET));
            assert_eq!(write.is_some(), writable);
        }
    }
}
