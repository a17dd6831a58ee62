//! The libc calls behind executable memory on x86-64 Linux: the page size, heap blocks made executable with
//! `mprotect`, and the fallback for systems that forbid that, a `memfd` mapped twice. Each owner frees what it holds
//! when it drops.

use super::MemError;
use libc::{PROT_EXEC, PROT_READ, PROT_WRITE, c_int};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::slice;

/// The `ret` instruction, which fills every byte that is not code.
const RET: u8 = 0xc3;

/// The system's page size, from `sysconf(_SC_PAGESIZE)`.
pub(super) fn page_size() -> Result<usize, MemError> {
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    match usize::try_from(size) {
        Ok(size) if size > 0 => Ok(size),
        _ => Err(last_error("sysconf(_SC_PAGESIZE)")),
    }
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
    let block = Block::new(len, page_size()?)?;
    // SAFETY: the block is `len` bytes that only it owns, still read+write as malloc made them.
    fill(unsafe { slice::from_raw_parts_mut(block.ptr.as_ptr(), len) }, code);
    let prot = if writable {
        PROT_READ | PROT_WRITE | PROT_EXEC
    } else {
        PROT_READ | PROT_EXEC
    };
    match block.protect(prot) {
        Ok(()) => Ok((Region::Heap(block), None)),
        Err(MemError::Libc {
            errno: errno @ (libc::EACCES | libc::EPERM),
            ..
        }) => {
            drop(block);
            let (exec, write) = memfd(len, code).map_err(|fallback| MemError::ExecForbidden {
                errno,
                fallback: Box::new(fallback),
            })?;
            Ok((Region::Memfd(exec), writable.then_some(write)))
        }
        Err(err) => Err(err),
    }
}

/// Writes `code` at the start of `bytes` and `0xC3` (`ret`) over the rest.
fn fill(bytes: &mut [u8], code: &[u8]) {
    let (head, tail) = bytes.split_at_mut(code.len());
    head.copy_from_slice(code);
    tail.fill(RET);
}

/// A memfd of `len` bytes holding `code` and `ret`s, mapped read+execute and read+write: `(exec, write)`.
fn memfd(len: usize, code: &[u8]) -> Result<(Mapping, Mapping), MemError> {
    // SAFETY: the name is a NUL-terminated string and MFD_CLOEXEC a valid flag.
    let fd = unsafe { libc::memfd_create(c"rustyjit".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(last_error("memfd_create"));
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let size = libc::off_t::try_from(len).map_err(|_| MemError::Libc {
        call: "ftruncate",
        errno: libc::EFBIG,
    })?;
    // SAFETY: `fd` is an open memfd.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
        return Err(last_error("ftruncate"));
    }
    let write = Mapping::new(&fd, len, PROT_READ | PROT_WRITE)?;
    // SAFETY: the mapping is `len` read+write bytes that only it owns.
    fill(unsafe { slice::from_raw_parts_mut(write.ptr.as_ptr(), len) }, code);
    let exec = Mapping::new(&fd, len, PROT_READ | PROT_EXEC)?;
    // The mappings keep the memory; the descriptor is no longer needed. Closed by hand to check the result.
    // SAFETY: the descriptor is open and owned here; `into_raw_fd` gave up the `OwnedFd`'s claim to it.
    if unsafe { libc::close(fd.into_raw_fd()) } != 0 {
        return Err(last_error("close"));
    }
    Ok((exec, write))
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
}

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
        // SAFETY: the range is whole pages of this block, which only it owns and nothing borrows across this call.
        match unsafe { libc::mprotect(self.ptr.as_ptr().cast(), self.len, prot) } {
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

/// One `mmap` view of a memfd; drop unmaps it.
#[derive(Debug)]
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
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
            Some(ptr) if ptr.as_ptr() != libc::MAP_FAILED.cast() => Ok(Mapping { ptr, len }),
            _ => Err(last_error("mmap")),
        }
    }

    /// The first byte.
    pub(super) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the view was mapped by `Mapping::new`, nothing borrows it any more, and it is unmapped only here.
        let result = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        // munmap of a whole mapping fails only for arguments it did not come from; a drop has no one to tell.
        debug_assert_eq!(result, 0, "munmap of a memfd view failed");
    }
}
