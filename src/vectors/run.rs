//! Running cases so that no case can crash, hang or corrupt the harness.
//!
//! The cases of a file run in a worker process forked from the harness. The worker calls each case through an
//! entry trampoline that loads the case's registers, calls the code, and stores every register and the flags
//! back, so the harness can check what the code left behind — including the callee-saved registers and the stack
//! pointer that the System V ABI says it must restore. The worker reports each case over a pipe.
//!
//! A fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) is caught in the worker on an alternate stack, reported with
//! the faulting instruction's address, and ends the worker; a case that runs past its timeout is killed. Either
//! way the harness starts a new worker for the cases after it. Isolation thus costs one `fork` per file plus one
//! per crash, not one per case.

use super::file::{CALLEE_SAVED, Case, REGS};
pub use super::outcome::Outcome;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
/// registers, calls the code, stores every register and the flags, and restores the harness's stack and
/// registers whatever the code did to them. Field offsets of [`Context`]: regs_in 0, regs_out 128, flags 256,
/// target 264, call_rsp 272, ret_rsp 280; registers in encoder order (rax 0, rcx 8, ... r15 120).
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

/// Record tags on the pipe from the worker.
const START: u64 = 1;
const RESULT: u64 = 2;
const FAULT: u64 = 3;
const LOAD_FAILED: u64 = 4;

/// The worker's pipe and current code, for the signal handler.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);
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

/// Sends a record: its length in bytes, then its words, then any extra bytes.
fn send(fd: i32, words: &[u64], extra: &[u8]) {
    let mut head = [0u8; 8 * 24];
    let n = words.len().min(23);
    let len = (n * 8 + extra.len()) as u64;
    head[..8].copy_from_slice(&len.to_le_bytes());
    for (i, w) in words[..n].iter().enumerate() {
        head[8 + i * 8..16 + i * 8].copy_from_slice(&w.to_le_bytes());
    }
    write_all_raw(fd, &head[..8 + n * 8]);
    write_all_raw(fd, extra);
}

/// The fault handler: report the signal and where it happened, then end the worker.
extern "C" fn on_fault(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext_t for handlers installed with SA_SIGINFO, and a valid siginfo_t.
    let (rip, addr) = unsafe {
        let uc = &*(context as *const libc::ucontext_t);
        (
            uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64,
            (*info).si_addr() as u64,
        )
    };
    let (base, len) = (CODE_BASE.load(Ordering::Relaxed), CODE_LEN.load(Ordering::Relaxed));
    send(
        REPORT_FD.load(Ordering::Relaxed),
        &[FAULT, signal as u64, rip, addr, base, len],
        &[],
    );
    // SAFETY: _exit is async-signal-safe and ends the worker without running anything of the harness.
    unsafe { libc::_exit(0) }
}

/// In the worker: catch the faults on an alternate stack (the code may have wrecked its own).
fn install_fault_handlers() {
    const ALT_STACK: usize = 64 * 1024;
    // Mapped, not allocated: it lives until the worker's `_exit`, and is no heap block a leak checker would flag.
    // SAFETY: an anonymous private mapping with no address hint; the result is checked before use.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if stack != libc::MAP_FAILED {
        let ss = libc::stack_t {
            ss_sp: stack,
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

/// The worker: runs `cases[i]` for each `i` in `order`, reporting to `fd`. Never returns.
fn worker(cases: &[Case], order: &[usize], fd: i32) -> ! {
    REPORT_FD.store(fd, Ordering::Relaxed);
    install_fault_handlers();
    let ctx = context();
    let tramp = match trampoline(ctx) {
        Ok(t) => t,
        Err(why) => {
            send(
                fd,
                &[LOAD_FAILED, order.first().map_or(0, |&i| i as u64)],
                why.as_bytes(),
            );
            // SAFETY: ends the worker without returning into the harness.
            unsafe { libc::_exit(1) }
        }
    };
    // SAFETY: the trampoline is a System V function taking the context pointer.
    let enter: extern "sysv64" fn(*mut Context) = unsafe { tramp.as_fn::<extern "sysv64" fn(*mut Context)>() };
    for &i in order {
        let case = &cases[i];
        let Ok(code) = &case.code else { continue };
        let f = match code.load() {
            Ok(f) => f,
            Err(e) => {
                send(fd, &[LOAD_FAILED, i as u64], e.to_string().as_bytes());
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
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
        CODE_LEN.store((code.len() as u64).div_ceil(page).max(1) * page, Ordering::Relaxed);
        send(fd, &[START, i as u64], &[]);
        enter(ctx);
        // SAFETY: the trampoline has returned; the context holds what it stored.
        let c = unsafe { &*ctx };
        let mut words = [0u64; 22];
        words[0] = RESULT;
        words[1] = i as u64;
        words[2..18].copy_from_slice(&c.regs_out);
        words[18] = c.flags;
        words[19] = c.call_rsp;
        words[20] = c.ret_rsp;
        words[21] = CODE_BASE.load(Ordering::Relaxed);
        send(fd, &words, memory.as_deref().unwrap_or(&[]));
    }
    // SAFETY: ends the worker without returning into the harness (no atexit handlers, no unwinding).
    unsafe { libc::_exit(0) }
}

/// A worker process and the read end of its pipe.
struct Worker {
    pid: libc::pid_t,
    pipe: OwnedFd,
}

fn spawn(cases: &[Case], order: &[usize]) -> io::Result<Worker> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Built before the fork so a worker never assembles or allocates the trampoline itself.
    trampoline(context()).map_err(io::Error::other)?;
    // SAFETY: the child only runs `worker`, which uses the pipe, malloc-backed memory and libc calls, and ends
    // with `_exit`; it never returns into the (possibly multi-threaded) harness.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(read);
            let fd = write.as_raw_fd();
            std::mem::forget(write);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker(cases, order, fd)));
            let _ = result;
            // SAFETY: ends the worker after a panic without unwinding into the harness.
            unsafe { libc::_exit(2) }
        }
        pid => Ok(Worker { pid, pipe: read }),
    }
}

impl Worker {
    /// Waits for the worker to end; a description of how it ended.
    fn reap(&self, kill: bool) -> String {
        if kill {
            // SAFETY: `pid` is our child, not yet reaped.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our child.
        while unsafe { libc::waitpid(self.pid, &mut status, 0) } == -1 {
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return "the worker could not be waited for".into();
            }
        }
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

/// After a failed `poll` or `read`: an interruption means "nothing yet, go on"; anything else is an error.
fn interrupted_or_error() -> io::Result<Option<bool>> {
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::Interrupted {
        Ok(Some(true))
    } else {
        Err(e)
    }
}

/// Reads whatever the worker sent, waiting at most until `deadline`. `Ok(false)` at the end of the pipe.
fn read_some(fd: &OwnedFd, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<Option<bool>> {
    let wait = deadline.saturating_duration_since(Instant::now());
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = wait.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `pfd` is one valid pollfd.
    let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
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
fn next_record(buf: &[u8], at: &mut usize, words: usize) -> Option<(Vec<u64>, Vec<u8>)> {
    let buf = buf.get(*at..)?;
    let len = u64::from_le_bytes(buf.get(..8)?.try_into().ok()?) as usize;
    let body = buf.get(8..8 + len)?;
    let tag = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let n = match tag {
        START => 2,
        RESULT => words,
        FAULT => 6,
        _ => 2,
    }
    .min(len / 8);
    let w = (0..n)
        .map(|i| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8])))
        .collect();
    let extra = body[n * 8..].to_vec();
    *at += 8 + len;
    Some((w, extra))
}

/// Runs every case that assembled; cases with errors are [`Outcome::NotRun`].
pub fn run_cases(cases: &[Case]) -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::NotRun; cases.len()];
    let order: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].code.is_ok()).collect();
    // For each case, the position in `order` of the case after it: where a new worker resumes.
    let mut after = vec![order.len(); cases.len()];
    for (p, &i) in order.iter().enumerate() {
        after[i] = p + 1;
    }
    let mut next = 0;
    while next < order.len() {
        let first = next;
        let worker = match spawn(cases, &order[next..]) {
            Ok(w) => w,
            Err(e) => {
                for &i in &order[next..] {
                    outcomes[i] = Outcome::LoadFailed(format!("could not start a worker process: {e}"));
                }
                return outcomes;
            }
        };
        let mut buf = Vec::new();
        let mut running: Option<(usize, Instant)> = None;
        let mut ended = false;
        let mut killed = false;
        while !ended {
            let deadline = match running {
                Some((i, started)) => started + cases[i].timeout,
                None => Instant::now() + Duration::from_secs(30),
            };
            match read_some(&worker.pipe, &mut buf, deadline) {
                Ok(Some(open)) => ended = !open,
                Ok(None) => {
                    // Timed out: the running case hangs (or the worker is stuck between cases).
                    if let Some((i, _)) = running.take() {
                        outcomes[i] = Outcome::TimedOut(cases[i].timeout);
                        next = after[i];
                    }
                    killed = true;
                    break;
                }
                Err(_) => ended = true,
            }
            let mut at = 0;
            while let Some((w, extra)) = next_record(&buf, &mut at, 22) {
                // START, RESULT and LOAD_FAILED name their case; FAULT is about the running one.
                let (tag, i) = (w[0], w.get(1).copied().unwrap_or(0) as usize);
                if tag != FAULT && i >= cases.len() {
                    continue;
                }
                match tag {
                    START => running = Some((i, Instant::now())),
                    RESULT if w.len() == 22 => {
                        outcomes[i] = returned(&cases[i], &w, extra);
                        running = None;
                        next = after[i];
                    }
                    LOAD_FAILED => {
                        outcomes[i] = Outcome::LoadFailed(String::from_utf8_lossy(&extra).into_owned());
                        next = after[i];
                    }
                    FAULT if w.len() == 6 => {
                        if let Some((i, _)) = running.take() {
                            let (signal, mut rip, base, len) = (w[1] as i32, w[2], w[4], w[5]);
                            if signal == libc::SIGTRAP {
                                rip = rip.wrapping_sub(1); // int3 traps after itself; show the int3
                            }
                            let offset = (rip >= base && rip - base < len).then(|| (rip - base) as u32);
                            outcomes[i] = Outcome::Faulted { signal, offset, rip };
                            next = after[i];
                        }
                    }
                    _ => {}
                }
            }
            buf.drain(..at);
        }
        let how = worker.reap(killed);
        if let Some((i, _)) = running
            && outcomes[i] == Outcome::NotRun
        {
            outcomes[i] = Outcome::Died(how.clone());
            next = after[i];
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

/// A case's outcome from the worker's result record: returned, or a broken calling convention.
fn returned(case: &Case, w: &[u64], extra: Vec<u8>) -> Outcome {
    let mut regs = [0u64; 16];
    regs.copy_from_slice(&w[2..18]);
    let (flags, call_rsp, ret_rsp) = (w[18], w[19], w[20]);
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
        memory: case.memory.as_ref().map(|_| extra),
    }
}
