//! Running cases so that no case can crash, hang or corrupt the harness.
//!
//! The cases of a file run in a worker process forked from the harness. The worker calls each case through an
//! entry trampoline that loads the case's registers, calls the code, and stores every register and the flags
//! back, so the harness can check what the code left behind — including the callee-saved registers and the stack
//! pointer that the System V ABI says it must restore.
//!
//! The worker leaves each case's result in memory it shares with the harness ([`Shared`]), together with which
//! case runs and since when; the harness sleeps until the running case's deadline, so a case that returns costs
//! no system call and no wake-up of the harness. Only rare events go over a pipe: a fault (SIGSEGV, SIGBUS,
//! SIGILL, SIGFPE, SIGTRAP), caught in the worker on an alternate stack, reported with the faulting instruction's
//! address, and ending the worker; and code that could not be loaded. A case that runs past its timeout is
//! killed. Either way the harness starts a new worker for the cases after it. Isolation thus costs one `fork`
//! per file plus one per crash, not one per case.

use super::file::{CALLEE_SAVED, Case, REGS};
pub use super::outcome::Outcome;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};

/// The context the trampoline works on: registers in, registers out, flags, and the call's target and stack.
#[repr(C)]
#[derive(Default)]
struct Context {
    regs_in: [u64; 16],
    regs_out: [u64; 16],
    flags: u64,
    target: u64,
    call_rsp: u64,
    ret_rsp: u64,
}

/// The entry trampoline, on the context at `ctx`: saves the harness's callee-saved registers, loads the case's
/// registers and fixed flags (so code that leaves the flags alone reports the same flags on every run), calls
/// the code, stores every register and the flags, and restores the harness's stack and registers whatever the
/// code did to them. Field offsets of [`Context`]: regs_in 0, regs_out 128, flags 256, target 264, call_rsp 272,
/// ret_rsp 280; registers in encoder order (rax 0, rcx 8, ... r15 120).
fn trampoline_code(ctx: *mut Context) -> crate::Code {
    let ctx = ctx as i64;
    crate::jit! {
        push rbx; push rbp; push r12; push r13; push r14; push r15
        mov r11, {ctx}
        push qword ptr [r11 + 264]          // the target, called through [rsp]
        mov [r11 + 272], rsp
        mov rax, [r11 + 0]; mov rcx, [r11 + 8]; mov rdx, [r11 + 16]; mov rbx, [r11 + 24]
        mov rbp, [r11 + 40]; mov rsi, [r11 + 48]; mov rdi, [r11 + 56]; mov r8, [r11 + 64]
        mov r9, [r11 + 72]; mov r10, [r11 + 80]; mov r12, [r11 + 96]; mov r13, [r11 + 104]
        mov r14, [r11 + 112]; mov r15, [r11 + 120]; mov r11, [r11 + 88]
        push 0x206                          // the case's flags: PF only (the value the snapshots were reviewed
        popfq                               // with), not whatever the worker's last instruction left
        call qword ptr [rsp]
        push r11
        mov r11, {ctx}
        pushfq
        pop qword ptr [r11 + 256]
        mov [r11 + 128], rax; mov [r11 + 136], rcx; mov [r11 + 144], rdx; mov [r11 + 152], rbx
        mov [r11 + 168], rbp; mov [r11 + 176], rsi; mov [r11 + 184], rdi; mov [r11 + 192], r8
        mov [r11 + 200], r9; mov [r11 + 208], r10; mov [r11 + 224], r12; mov [r11 + 232], r13
        mov [r11 + 240], r14; mov [r11 + 248], r15
        pop qword ptr [r11 + 216]           // r11 as the code left it
        mov [r11 + 280], rsp                // equals call_rsp when the code kept the stack balanced
        mov rsp, [r11 + 272]
        add rsp, 8
        push 0x202                          // the harness's flags: DF clear as the ABI wants, AC clear so
        popfq                               // its own unaligned accesses cannot fault
        pop r15; pop r14; pop r13; pop r12; pop rbp; pop rbx
        ret
    }
}

/// Record tags on the pipe from the worker. Only rare events use the pipe; results go through [`Shared`].
const FAULT: u64 = 3;
const LOAD_FAILED: u64 = 4;

/// Slot tags: what the worker left in a finished case's [`Slot`].
const SLOT_RETURNED: u64 = 1;
const SLOT_LOAD_FAILED: u64 = 2;

/// How long the harness sleeps at most before it looks at the worker again, even with no deadline near: so a
/// worker that ended is noticed even when the end of its pipe is late (a process forked meanwhile by another
/// thread of the harness may hold a copy of the pipe's write end).
const CHECK_NS: u64 = 100_000_000;
/// A worker that starts no case and finishes none for this long is stuck between cases, and is killed.
const STUCK_NS: u64 = 30_000_000_000;

/// The part of [`Shared`] that both processes read and write while the worker runs. The worker starts case
/// `p` (a position in the run's order) by storing `started`, then `running = p + 1`; it finishes it by filling
/// slot `p`, then storing `done = p + 1`. Every store is `Release` and every load `Acquire`, so a harness that
/// sees `running = p + 1` with `done <= p` also sees case `p`'s own start time, and one that sees `done = p + 1`
/// also sees everything in slot `p`. The atomics are lock-free, so they work across processes.
#[repr(C)]
struct Header {
    /// Position + 1 of the case the worker started last; 0 before the first.
    running: AtomicU64,
    /// When it started: CLOCK_MONOTONIC nanoseconds (the same clock in both processes).
    started: AtomicU64,
    /// The positions before this one are finished, and their slots filled.
    done: AtomicU64,
}

/// One case's result, written by the worker into shared memory when the case returns (or could not be loaded).
#[repr(C)]
#[derive(Clone, Copy)]
struct Slot {
    /// [`SLOT_RETURNED`] or [`SLOT_LOAD_FAILED`].
    tag: u64,
    regs: [u64; 16],
    flags: u64,
    call_rsp: u64,
    ret_rsp: u64,
}

/// Where the slots start in the mapping: after the header, on a cache line of their own.
const SLOTS_AT: usize = 64;
const _: () = assert!(size_of::<Header>() <= SLOTS_AT && align_of::<Slot>() <= SLOTS_AT);

/// Memory shared by the harness and its workers (`MAP_SHARED | MAP_ANONYMOUS`, made before the first fork, so
/// every worker of the run inherits it): the [`Header`], one [`Slot`] per position of the run's order, then each
/// case's memory buffer after the call. What a worker wrote stays when it is killed or dies, so nothing it
/// finished is lost. Unmapped on drop.
struct Shared {
    base: *mut u8,
    len: usize,
    positions: usize,
    /// Byte offset in the mapping of each position's memory buffer, and one more for the end.
    memory_at: Vec<usize>,
}

impl Shared {
    /// A mapping for the cases of `order`: sizes are checked, and the mapping's result.
    fn new(cases: &[Case], order: &[usize]) -> io::Result<Shared> {
        let too_big = || io::Error::other("the results of the cases do not fit in memory");
        let mut at = order
            .len()
            .checked_mul(size_of::<Slot>())
            .and_then(|n| n.checked_add(SLOTS_AT))
            .ok_or_else(too_big)?;
        let mut memory_at = Vec::with_capacity(order.len() + 1);
        for &i in order {
            memory_at.push(at);
            let n = cases[i].memory.as_ref().map_or(0, Vec::len);
            at = at.checked_add(n).ok_or_else(too_big)?;
        }
        memory_at.push(at);
        let base = map_anonymous(at, libc::MAP_SHARED)?;
        Ok(Shared {
            base,
            len: at,
            positions: order.len(),
            memory_at,
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping is page-aligned, longer than a header, zero-filled by the kernel (all-zero bytes
        // are valid atomics), and lives as long as `self`; it is only ever accessed through the atomics.
        unsafe { &*self.base.cast::<Header>() }
    }

    /// The slot of position `p` (`p < positions`).
    fn slot(&self, p: usize) -> *mut Slot {
        debug_assert!(p < self.positions);
        // SAFETY: `new` sized the mapping for `positions` slots from SLOTS_AT, which keeps them aligned.
        unsafe { self.base.add(SLOTS_AT + p * size_of::<Slot>()).cast() }
    }

    /// Where position `p`'s memory buffer goes, and its length (`p < positions`).
    fn memory(&self, p: usize) -> (*mut u8, usize) {
        let (at, end) = (self.memory_at[p], self.memory_at[p + 1]);
        // SAFETY: `new` sized the mapping to end at the last offset of `memory_at`.
        (unsafe { self.base.add(at) }, end - at)
    }

    /// Before a worker starts at position `first`: nothing runs, everything before `first` is finished.
    fn reset(&self, first: usize) {
        let h = self.header();
        h.running.store(0, Ordering::Release);
        h.done.store(first as u64, Ordering::Release);
    }

    /// How many positions are finished (at most `positions`, whatever a stray write left there).
    fn done(&self) -> usize {
        (self.header().done.load(Ordering::Acquire) as usize).min(self.positions)
    }

    /// The case the worker is running, if any: its position and when it started.
    fn in_flight(&self) -> Option<(usize, u64)> {
        let h = self.header();
        let p = (h.running.load(Ordering::Acquire) as usize).checked_sub(1)?;
        let started = h.started.load(Ordering::Acquire);
        (p >= self.done() && p < self.positions).then_some((p, started))
    }

    /// What the worker left for a finished position `p`, after the worker has ended: the slot and the memory.
    fn result(&self, p: usize) -> (Slot, Vec<u8>) {
        let (at, len) = self.memory(p);
        // SAFETY: the slot and the buffer lie in the mapping; the worker that wrote them has ended, and the
        // `Acquire` load of `done` that made `p` finished saw its writes.
        unsafe { (self.slot(p).read(), std::slice::from_raw_parts(at, len).to_vec()) }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` are the mapping made by `new`, unmapped only here.
        if unsafe { libc::munmap(self.base.cast(), self.len) } != 0 {
            // Nothing to do about it: the mapping stays until the process ends.
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (through the vDSO: no system call). `clock_gettime` only fails for a bad
/// clock or pointer, neither of which can happen here; should it fail anyway, time reads as 0.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The worker's pipe, shared memory and current code, for the signal handler.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);
static HEADER: AtomicPtr<Header> = AtomicPtr::new(std::ptr::null_mut());
static CODE_BASE: AtomicU64 = AtomicU64::new(0);
static CODE_LEN: AtomicU64 = AtomicU64::new(0);

/// Writes a whole buffer to a raw fd (async-signal-safe: only `write`).
fn write_all_raw(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable buffer of `bytes.len()` bytes.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Sends a record: its length in bytes, then its words, then any extra bytes (async-signal-safe).
fn send(fd: i32, words: &[u64], extra: &[u8]) {
    let mut head = [0u8; 8 * 8];
    let n = words.len().min(7);
    let len = (n * 8 + extra.len()) as u64;
    head[..8].copy_from_slice(&len.to_le_bytes());
    for (i, w) in words[..n].iter().enumerate() {
        head[8 + i * 8..16 + i * 8].copy_from_slice(&w.to_le_bytes());
    }
    write_all_raw(fd, &head[..8 + n * 8]);
    write_all_raw(fd, extra);
}

/// The fault handler: report the signal, where it happened and which case ran, then end the worker. Only
/// atomic loads and `write`: async-signal-safe.
extern "C" fn on_fault(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext_t for handlers installed with SA_SIGINFO, and a valid siginfo_t.
    let (rip, addr) = unsafe {
        let uc = &*(context as *const libc::ucontext_t);
        (
            uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64,
            (*info).si_addr() as u64,
        )
    };
    let header = HEADER.load(Ordering::Relaxed);
    // SAFETY: set by the worker to the shared header before it installed this handler; never unmapped in it.
    let position = match unsafe { header.as_ref() } {
        Some(h) => {
            let running = h.running.load(Ordering::Acquire);
            match running.checked_sub(1) {
                Some(p) if p >= h.done.load(Ordering::Acquire) => p,
                _ => u64::MAX, // between cases: no case to blame
            }
        }
        None => u64::MAX,
    };
    let (base, len) = (CODE_BASE.load(Ordering::Relaxed), CODE_LEN.load(Ordering::Relaxed));
    send(
        REPORT_FD.load(Ordering::Relaxed),
        &[FAULT, position, signal as u64, rip, addr, base, len],
        &[],
    );
    // SAFETY: _exit is async-signal-safe and ends the worker without running anything of the harness.
    unsafe { libc::_exit(0) }
}

/// `len` bytes of fresh read+write memory, zeroed, mapped `MAP_SHARED` or `MAP_PRIVATE` (`sharing`).
fn map_anonymous(len: usize, sharing: libc::c_int) -> io::Result<*mut u8> {
    // SAFETY: an anonymous mapping with no address hint replaces nothing; the result is checked before use.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            sharing | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(base.cast())
}

/// In the worker: catch the faults on an alternate stack (the code may have wrecked its own).
fn install_fault_handlers() {
    const ALT_STACK: usize = 64 * 1024;
    // Mapped, not allocated: it lives until the worker's `_exit`, and is no heap block a leak checker would flag.
    if let Ok(stack) = map_anonymous(ALT_STACK, libc::MAP_PRIVATE) {
        let ss = libc::stack_t {
            ss_sp: stack.cast(),
            ss_flags: 0,
            ss_size: ALT_STACK,
        };
        // SAFETY: `ss` describes a mapping that stays for the rest of the worker's life.
        unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
    }
    for signal in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP] {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler has the SA_SIGINFO signature.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The trampoline's code with the context's address in it. Built once per process; the worker's context lives
/// at a fixed address (see [`context`]), so forked workers can share it.
fn trampoline(ctx: *mut Context) -> Result<&'static crate::JitFn, String> {
    static TRAMPOLINE_FN: OnceLock<Result<crate::JitFn, String>> = OnceLock::new();
    TRAMPOLINE_FN
        .get_or_init(|| trampoline_code(ctx).load().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The one context of this process, at a fixed address.
fn context() -> *mut Context {
    struct Ptr(*mut Context);
    // SAFETY: the pointer is only dereferenced by the single worker thread of a forked worker process.
    unsafe impl Send for Ptr {}
    // SAFETY: as above.
    unsafe impl Sync for Ptr {}
    static CONTEXT: OnceLock<Ptr> = OnceLock::new();
    CONTEXT.get_or_init(|| Ptr(Box::into_raw(Box::default()))).0
}

/// The worker: runs `cases[order[p]]` for each position `p` from `first`, leaving results in `shared` and
/// reporting rare events to `fd`. Never returns.
fn worker(cases: &[Case], order: &[usize], first: usize, shared: &Shared, fd: i32) -> ! {
    REPORT_FD.store(fd, Ordering::Relaxed);
    let header = shared.header();
    HEADER.store(std::ptr::from_ref(header).cast_mut(), Ordering::Relaxed);
    install_fault_handlers();
    let ctx = context();
    let tramp = match trampoline(ctx) {
        Ok(t) => t,
        Err(why) => {
            send(fd, &[LOAD_FAILED, first as u64], why.as_bytes());
            // SAFETY: ends the worker without returning into the harness.
            unsafe { libc::_exit(1) }
        }
    };
    // SAFETY: the trampoline is a System V function taking the context pointer.
    let enter: extern "sysv64" fn(*mut Context) = unsafe { tramp.as_fn::<extern "sysv64" fn(*mut Context)>() };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    for (p, &i) in order.iter().enumerate().skip(first) {
        let case = &cases[i];
        let Ok(code) = &case.code else {
            header.done.store(p as u64 + 1, Ordering::Release);
            continue;
        };
        let f = match code.load() {
            Ok(f) => f,
            Err(e) => {
                send(fd, &[LOAD_FAILED, p as u64], e.to_string().as_bytes());
                // SAFETY: slot `p` is this worker's to write; the harness reads it only once `done` passes `p`.
                unsafe { (*shared.slot(p)).tag = SLOT_LOAD_FAILED };
                header.done.store(p as u64 + 1, Ordering::Release);
                continue;
            }
        };
        let mut memory = case.memory.clone();
        // SAFETY: the context is this process's own, and nothing else touches it while the worker runs.
        unsafe {
            (*ctx).regs_in = case.regs;
            if let Some(m) = &mut memory {
                (*ctx).regs_in[7] = m.as_mut_ptr() as u64;
            }
            (*ctx).target = f.as_ptr() as u64;
        }
        CODE_BASE.store(f.as_ptr() as u64, Ordering::Relaxed);
        // The whole mapping counts as the code's: running off the end lands in the RET fill.
        CODE_LEN.store((code.len() as u64).div_ceil(page).max(1) * page, Ordering::Relaxed);
        header.started.store(monotonic_ns(), Ordering::Release);
        header.running.store(p as u64 + 1, Ordering::Release);
        enter(ctx);
        // SAFETY: the trampoline has returned; the context holds what it stored.
        let c = unsafe { &*ctx };
        let (at, len) = shared.memory(p);
        let bytes = memory.as_deref().unwrap_or(&[]);
        // SAFETY: slot `p` and its buffer of `len` bytes are this worker's to write (the harness reads them only
        // once `done` passes `p`); the code cannot change the buffer's length, so `bytes` has `len` bytes.
        unsafe {
            shared.slot(p).write(Slot {
                tag: SLOT_RETURNED,
                regs: c.regs_out,
                flags: c.flags,
                call_rsp: c.call_rsp,
                ret_rsp: c.ret_rsp,
            });
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len().min(len));
        }
        header.done.store(p as u64 + 1, Ordering::Release);
    }
    // SAFETY: ends the worker without returning into the harness (no atexit handlers, no unwinding).
    unsafe { libc::_exit(0) }
}

/// A worker process, the read end of its pipe, and how it ended once it has been waited for.
struct Worker {
    pid: libc::pid_t,
    pipe: OwnedFd,
    status: Option<libc::c_int>,
}

fn spawn(cases: &[Case], order: &[usize], first: usize, shared: &Shared) -> io::Result<Worker> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Built before the fork so a worker never assembles or allocates the trampoline itself.
    trampoline(context()).map_err(io::Error::other)?;
    shared.reset(first);
    // SAFETY: the child only runs `worker`, which uses the pipe, the shared mapping, malloc-backed memory and
    // libc calls, and ends with `_exit`; it never returns into the (possibly multi-threaded) harness.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(read);
            let fd = write.as_raw_fd();
            std::mem::forget(write);
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker(cases, order, first, shared, fd)));
            let _ = result;
            // SAFETY: ends the worker after a panic without unwinding into the harness.
            unsafe { libc::_exit(2) }
        }
        pid => Ok(Worker {
            pid,
            pipe: read,
            status: None,
        }),
    }
}

impl Worker {
    /// Whether the worker has ended (and is now waited for), without blocking.
    fn has_ended(&mut self) -> bool {
        if self.status.is_none() {
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer; `pid` is our child, not yet waited for.
            if unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } == self.pid {
                self.status = Some(status);
            }
        }
        self.status.is_some()
    }

    /// Waits for the worker to end, killing it first if asked (unless it has already been waited for: its pid
    /// may belong to another process by now); a description of how it ended.
    fn reap(&mut self, kill: bool) -> String {
        let status = match self.status {
            Some(status) => status,
            None => {
                if kill {
                    // SAFETY: `pid` is our child, not yet waited for.
                    unsafe { libc::kill(self.pid, libc::SIGKILL) };
                }
                let mut status = 0;
                // SAFETY: `status` is a valid out-pointer; `pid` is our child.
                while unsafe { libc::waitpid(self.pid, &mut status, 0) } == -1 {
                    if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                        return "the worker could not be waited for".into();
                    }
                }
                self.status = Some(status);
                status
            }
        };
        if libc::WIFSIGNALED(status) {
            format!(
                "the worker was killed by {}",
                super::file::signal_name(libc::WTERMSIG(status))
            )
        } else {
            format!("the worker exited with status {}", libc::WEXITSTATUS(status))
        }
    }
}

/// After a failed `ppoll` or `read`: an interruption means "nothing yet, go on"; anything else is an error.
fn interrupted_or_error() -> io::Result<Option<bool>> {
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::Interrupted {
        Ok(Some(true))
    } else {
        Err(e)
    }
}

/// Reads whatever the worker sent, waiting at most `wait_ns`. `Ok(None)` when nothing came in time, `Ok(false)`
/// at the end of the pipe.
fn read_some(fd: &OwnedFd, buf: &mut Vec<u8>, wait_ns: u64) -> io::Result<Option<bool>> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = libc::timespec {
        tv_sec: (wait_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (wait_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `pfd` is one valid pollfd, `timeout` a valid timespec, and a null mask leaves the mask alone.
    let ready = unsafe { libc::ppoll(&mut pfd, 1, &timeout, std::ptr::null()) };
    if ready < 0 {
        return interrupted_or_error();
    }
    if ready == 0 {
        return Ok(None);
    }
    let mut chunk = [0u8; 64 * 1024];
    // SAFETY: `chunk` is a writable buffer of its length.
    let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
    if n < 0 {
        return interrupted_or_error();
    }
    buf.extend_from_slice(&chunk[..n as usize]);
    Ok(Some(n > 0))
}

/// Takes one complete record off the front of `buf`: its words and extra bytes.
fn next_record(buf: &[u8], at: &mut usize) -> Option<(Vec<u64>, Vec<u8>)> {
    let buf = buf.get(*at..)?;
    let len = u64::from_le_bytes(buf.get(..8)?.try_into().ok()?) as usize;
    let body = buf.get(8..8usize.checked_add(len)?)?;
    let tag = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let n = if tag == FAULT { 7 } else { 2 }.min(len / 8);
    let w = (0..n)
        .map(|i| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8])))
        .collect();
    let extra = body[n * 8..].to_vec();
    *at += 8 + len;
    Some((w, extra))
}

/// A fault the worker reported: the position of the case, and the outcome for it.
type Fault = (usize, Outcome);

/// Takes the complete records off `buf`: load failures become outcomes (and move `resume` past their case), a
/// fault is kept for when the worker has ended.
fn take_records(
    buf: &mut Vec<u8>,
    order: &[usize],
    outcomes: &mut [Outcome],
    resume: &mut usize,
    fault: &mut Option<Fault>,
) {
    let mut at = 0;
    while let Some((w, extra)) = next_record(buf, &mut at) {
        let (tag, p) = (w[0], w.get(1).copied().unwrap_or(u64::MAX));
        let Some(&i) = usize::try_from(p).ok().and_then(|p| order.get(p)) else {
            continue; // no case to blame (a fault between cases), or a record damaged by the code
        };
        let p = p as usize;
        match tag {
            LOAD_FAILED if w.len() == 2 => {
                outcomes[i] = Outcome::LoadFailed(String::from_utf8_lossy(&extra).into_owned());
                *resume = (*resume).max(p + 1);
            }
            FAULT if w.len() == 7 => {
                let (signal, mut rip, base, len) = (w[2] as i32, w[3], w[5], w[6]);
                if signal == libc::SIGTRAP {
                    rip = rip.wrapping_sub(1); // int3 traps after itself; show the int3
                }
                let offset = (rip >= base && rip - base < len).then(|| (rip - base) as u32);
                *fault = Some((p, Outcome::Faulted { signal, offset, rip }));
            }
            _ => {}
        }
    }
    buf.drain(..at);
}

/// Runs every case that assembled; cases with errors are [`Outcome::NotRun`].
pub fn run_cases(cases: &[Case]) -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::NotRun; cases.len()];
    // The cases to run; a case is known by its position in here.
    let mut order: Vec<usize> = Vec::with_capacity(cases.len());
    order.extend((0..cases.len()).filter(|&i| cases[i].code.is_ok()));
    if order.is_empty() {
        return outcomes;
    }
    let cannot_start = |outcomes: &mut [Outcome], from: usize, e: io::Error| {
        for &i in &order[from..] {
            outcomes[i] = Outcome::LoadFailed(format!("could not start a worker process: {e}"));
        }
    };
    let shared = match Shared::new(cases, &order) {
        Ok(shared) => shared,
        Err(e) => {
            cannot_start(&mut outcomes, 0, e);
            return outcomes;
        }
    };
    let timeout_ns = |p: usize| cases[order[p]].timeout.as_nanos().min(u64::MAX as u128) as u64;
    // The shortest timeout of the cases from each position on. The harness never sleeps longer than that for the
    // cases not finished yet, so a case that starts while it sleeps cannot reach its deadline before it wakes.
    let mut shortest = vec![u64::MAX; order.len() + 1];
    for p in (0..order.len()).rev() {
        shortest[p] = shortest[p + 1].min(timeout_ns(p));
    }
    let mut next = 0;
    while next < order.len() {
        let first = next;
        let mut worker = match spawn(cases, &order, first, &shared) {
            Ok(w) => w,
            Err(e) => {
                cannot_start(&mut outcomes, first, e);
                return outcomes;
            }
        };
        let mut buf = Vec::new();
        let mut resume = first;
        let mut fault = None;
        let mut timed_out = None;
        let mut kill = false;
        // The last state seen, and when it changed: a worker that makes no progress for STUCK_NS is killed.
        let mut seen = (first, None);
        let mut changed = monotonic_ns();
        loop {
            let now = monotonic_ns();
            let mut wait = shortest[shared.done()].min(CHECK_NS);
            if let Some((p, started)) = shared.in_flight() {
                wait = wait.min(started.saturating_add(timeout_ns(p)).saturating_sub(now));
            }
            match read_some(&worker.pipe, &mut buf, wait) {
                Ok(Some(true)) => {
                    take_records(&mut buf, &order, &mut outcomes, &mut resume, &mut fault);
                    continue;
                }
                Ok(Some(false)) => break, // the end of the pipe: the worker has ended
                Ok(None) => {}
                Err(_) => {
                    kill = true;
                    break;
                }
            }
            // Nothing came in time: look at the worker again.
            if worker.has_ended() {
                break;
            }
            let now = monotonic_ns();
            let state = (shared.done(), shared.in_flight());
            match state.1 {
                Some((p, started)) if now.saturating_sub(started) >= timeout_ns(p) => {
                    timed_out = Some(p);
                    kill = true;
                    break;
                }
                _ if state != seen => (seen, changed) = (state, now),
                None if now.saturating_sub(changed) >= STUCK_NS => {
                    kill = true; // stuck between cases: kill it and resume after what it finished
                    break;
                }
                _ => {}
            }
        }
        let how = worker.reap(kill);
        // Everything the worker sent is in the pipe by now; read it without waiting (a copy of the write end
        // may still be open in a process forked meanwhile by another thread, so the end may not show).
        while let Ok(Some(true)) = read_some(&worker.pipe, &mut buf, 0) {}
        take_records(&mut buf, &order, &mut outcomes, &mut resume, &mut fault);
        let done = shared.done();
        for (p, &i) in order.iter().enumerate().take(done).skip(first) {
            let (slot, memory) = shared.result(p);
            match slot.tag {
                SLOT_RETURNED => outcomes[i] = returned(&cases[i], &slot, memory),
                SLOT_LOAD_FAILED if outcomes[i] == Outcome::NotRun => {
                    outcomes[i] = Outcome::LoadFailed("the code could not be loaded".into());
                }
                _ => {}
            }
        }
        next = resume.max(done);
        // The case that was running when the worker ended, if it did not finish: timed out, faulted or died.
        match (timed_out, fault, shared.in_flight()) {
            (Some(p), _, _) if p >= done => {
                outcomes[order[p]] = Outcome::TimedOut(cases[order[p]].timeout);
                next = next.max(p + 1);
            }
            (Some(_), _, _) => {} // it finished after all; the case running when the worker was killed runs again
            (None, Some((p, outcome)), _) if p == done => {
                outcomes[order[p]] = outcome;
                next = next.max(p + 1);
            }
            (None, _, Some((p, _))) => {
                outcomes[order[p]] = Outcome::Died(how.clone());
                next = next.max(p + 1);
            }
            _ => {}
        }
        if next == first {
            // The worker ended without finishing a single case: give up on the rest rather than loop.
            for &i in &order[next..] {
                outcomes[i] = Outcome::Died(how.clone());
            }
            break;
        }
    }
    outcomes
}

/// A case's outcome from the result the worker left in its slot: returned, or a broken calling convention.
fn returned(case: &Case, slot: &Slot, memory: Vec<u8>) -> Outcome {
    let mut regs = slot.regs;
    let (flags, call_rsp, ret_rsp) = (slot.flags, slot.call_rsp, slot.ret_rsp);
    // rsp is shown as its distance from where it should be (0: balanced), never as an address.
    regs[4] = ret_rsp.wrapping_sub(call_rsp);
    if case.preserve {
        if ret_rsp != call_rsp {
            let off = ret_rsp.wrapping_sub(call_rsp) as i64;
            return Outcome::BrokeConvention(format!(
                "the stack is unbalanced: rsp is {off:+} bytes from where the call left it after `ret`"
            ));
        }
        for &r in &CALLEE_SAVED {
            if regs[r] != case.regs[r] {
                return Outcome::BrokeConvention(format!(
                    "`{}` changed from {:#x} to {:#x}; it is callee-saved and must be restored (or set `preserve = false`)",
                    REGS[r], case.regs[r], regs[r]
                ));
            }
        }
    }
    Outcome::Returned {
        regs,
        flags,
        memory: case.memory.as_ref().map(|_| memory),
    }
}
