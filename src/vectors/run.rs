//! Running cases and properties so that none can crash, hang or corrupt the harness.
//!
//! The work of a run is split into contiguous shards, one per worker (`--jobs`); each shard runs in a worker
//! process forked from the harness, on a thread of the harness that watches it. The worker calls each case
//! through an entry trampoline that loads the case's registers (general and xmm, MXCSR, the x87 control word)
//! and canary words above the return address, calls the code, and stores everything back, so the harness can
//! check what the code left behind against the System V ABI ([`convention`](super::convention)).
//!
//! The worker writes each case's code over the last one's in a [`Scratch`] (a memfd mapped read+write and
//! read+execute), so loading a case costs a copy, not a system call. It leaves each case's result in memory it
//! shares with the harness ([`Shared`]), together with which case runs and since when; the harness wakes every
//! millisecond (or at the running case's deadline, if sooner) to turn finished results into outcomes while the
//! worker goes on, so a case that returns costs no system call of its own; code that could not be loaded is such a
//! result too, its slot saying why. Only rare events go over a pipe: a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
//! SIGTRAP), caught in the worker on an alternate stack, reported with the faulting instruction's address, and
//! ending the worker; and a property's verdict (and its best counterexample while it shrinks). A case that runs
//! past its timeout is killed. Either way the harness starts a new worker for the cases after it. Isolation thus
//! costs one `fork` per shard plus one per crash, not one per case.
//!
//! A property runs both its sides in one worker, input after input: the worker compares the results and
//! shrinks a counterexample itself, and writes the input it is about to run into its slot, so a fault or a hang
//! on some input is reported with that input.

use super::convention::{self, Exit, frame_entry};
use super::file::{ArgType, Case, FCW_ENTRY, FRAME_CANARIES, MXCSR_ENTRY, Property, VectorFile, entry_regs};
pub use super::outcome::Outcome;
use super::property::{self, Inputs};
use crate::{Code, Scratch, ScratchFn};
use std::io;
use std::mem::offset_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};

/// The context the trampoline works on: registers in and out, flags, the call's target and stack, the frame
/// canaries, the control words, and the xmm registers. The trampoline addresses fields by the offsets the
/// assertions below check.
#[repr(C, align(16))]
#[derive(Default)]
struct Context {
    regs_in: [u64; 16],
    regs_out: [u64; 16],
    flags: u64,
    target: u64,
    call_rsp: u64,
    ret_rsp: u64,
    frame_in: [u64; 2],
    frame_out: [u64; 3],
    mxcsr_in: u32,
    fcw_in: u32,
    mxcsr_out: u32,
    fcw_out: u32,
    harness_mxcsr: u32,
    harness_fcw: u32,
    xmm_in: [u128; 16],
    xmm_out: [u128; 16],
}

const _: () = {
    assert!(offset_of!(Context, regs_out) == 128 && offset_of!(Context, flags) == 256);
    assert!(offset_of!(Context, target) == 264 && offset_of!(Context, call_rsp) == 272);
    assert!(offset_of!(Context, ret_rsp) == 280 && offset_of!(Context, frame_in) == 288);
    assert!(offset_of!(Context, frame_out) == 304 && offset_of!(Context, mxcsr_in) == 328);
    assert!(offset_of!(Context, fcw_in) == 332 && offset_of!(Context, mxcsr_out) == 336);
    assert!(offset_of!(Context, fcw_out) == 340 && offset_of!(Context, harness_mxcsr) == 344);
    assert!(offset_of!(Context, harness_fcw) == 348 && offset_of!(Context, xmm_in) == 352);
    assert!(offset_of!(Context, xmm_out) == 608);
};

/// The entry trampoline, on the context at `ctx`: saves the harness's callee-saved registers and control words,
/// loads the case's control words, xmm registers, frame canaries, general registers and fixed flags (so code that
/// leaves the flags alone reports the same flags on every run), calls the code, stores everything back, and
/// restores the harness's stack, registers and control words whatever the code did to them. Field offsets are
/// [`Context`]'s; general registers in encoder order (rax 0, rcx 8, ... r15 120).
fn trampoline_code(ctx: *mut Context) -> Code {
    let ctx = ctx as i64;
    crate::jit! {
        push rbx; push rbp; push r12; push r13; push r14; push r15
        mov r11, {ctx}
        stmxcsr dword ptr [r11 + 344]; fnstcw word ptr [r11 + 348]
        ldmxcsr dword ptr [r11 + 328]; fldcw word ptr [r11 + 332]
        movups xmm0, [r11 + 352]; movups xmm1, [r11 + 368]; movups xmm2, [r11 + 384]; movups xmm3, [r11 + 400]
        movups xmm4, [r11 + 416]; movups xmm5, [r11 + 432]; movups xmm6, [r11 + 448]; movups xmm7, [r11 + 464]
        movups xmm8, [r11 + 480]; movups xmm9, [r11 + 496]; movups xmm10, [r11 + 512]; movups xmm11, [r11 + 528]
        movups xmm12, [r11 + 544]; movups xmm13, [r11 + 560]; movups xmm14, [r11 + 576]; movups xmm15, [r11 + 592]
        push qword ptr [r11 + 296]          // the caller's frame as the code sees it: two canary words,
        push qword ptr [r11 + 288]
        push qword ptr [r11 + 264]          // and the target, called through [rsp] (three pushes keep rsp aligned)
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
        movups [r11 + 608], xmm0; movups [r11 + 624], xmm1; movups [r11 + 640], xmm2; movups [r11 + 656], xmm3
        movups [r11 + 672], xmm4; movups [r11 + 688], xmm5; movups [r11 + 704], xmm6; movups [r11 + 720], xmm7
        movups [r11 + 736], xmm8; movups [r11 + 752], xmm9; movups [r11 + 768], xmm10; movups [r11 + 784], xmm11
        movups [r11 + 800], xmm12; movups [r11 + 816], xmm13; movups [r11 + 832], xmm14; movups [r11 + 848], xmm15
        stmxcsr dword ptr [r11 + 336]; fnstcw word ptr [r11 + 340]
        mov rsp, [r11 + 272]
        pop qword ptr [r11 + 304]           // the frame words as the code left them
        pop qword ptr [r11 + 312]
        pop qword ptr [r11 + 320]
        ldmxcsr dword ptr [r11 + 344]; fldcw word ptr [r11 + 348]
        push 0x202                          // the harness's flags: DF clear as the ABI wants, AC clear so
        popfq                               // its own unaligned accesses cannot fault
        pop r15; pop r14; pop r13; pop r12; pop rbp; pop rbx
        ret
    }
}

/// Record tags on the pipe from the worker. Only rare events use the pipe; results (and faults) go through
/// [`Shared`].
///
/// A property's best counterexample so far, while it shrinks: `[tag, position]` and the text.
const PROGRESS: u64 = 5;
/// A property's verdict: `[tag, position, passed]` and the text.
const VERDICT: u64 = 6;

/// The words of a record with this tag (the rest of the record is text).
fn record_words(tag: u64) -> usize {
    match tag {
        VERDICT => 3,
        _ => 2,
    }
}

/// Slot tags: what the worker left in a finished position's [`Slot`].
const SLOT_RETURNED: u64 = 1;
/// The code could not be loaded; `regs` hold the error's text (see [`pack_text`]).
const SLOT_LOAD_FAILED: u64 = 2;
const SLOT_PROPERTY: u64 = 3;

/// The most bytes of text a slot holds: a [`SLOT_LOAD_FAILED`] slot keeps its error's text in `regs`, which a load
/// failure does not use.
const SLOT_TEXT: usize = size_of::<[u64; 16]>();

/// `text` as a slot's `regs` hold it: UTF-8, padded with zero bytes. Longer text is cut after the last sentence
/// that fits (a load error says what failed in its first sentence), or else at a character boundary, with `...`.
fn pack_text(text: &str) -> [u64; 16] {
    // The largest character boundary of `text` at or below `at`.
    let boundary = |at: usize| {
        (0..=at.min(text.len()))
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0)
    };
    let cut;
    let text = if text.len() <= SLOT_TEXT {
        text
    } else {
        let fits = boundary(SLOT_TEXT);
        let sentence = text[..fits]
            .rmatch_indices('.')
            .map(|(i, _)| i + 1)
            .find(|&end| text[end..].starts_with(' '));
        cut = match sentence {
            Some(end) => text[..end].to_owned(),
            None => format!("{}...", &text[..boundary(SLOT_TEXT - 3)]),
        };
        &cut
    };
    let mut bytes = [0u8; SLOT_TEXT];
    bytes[..text.len()].copy_from_slice(text.as_bytes());
    std::array::from_fn(|i| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap_or_default()))
}

/// The text [`pack_text`] put into `regs`.
fn unpack_text(regs: &[u64; 16]) -> String {
    let bytes: Vec<u8> = regs.iter().flat_map(|word| word.to_le_bytes()).collect();
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}

/// While a worker runs, the harness wakes at least this often (1 ms) to turn the results of finished positions
/// into outcomes, on its own core while the worker goes on, and to look at the worker: one that ended is noticed
/// even when the end of its pipe is late.
const COLLECT_NS: u64 = 1_000_000;
/// A worker that starts no case and finishes none for this long is stuck between cases, and is killed.
const STUCK_NS: u64 = 30_000_000_000;

/// The part of [`Shared`] that both processes read and write while the worker runs. The worker starts position
/// `p` (of its shard's tasks) by storing `started`, then `running = p + 1`; it finishes it by filling slot `p`,
/// then storing `done = p + 1`. A property stores `started` again before each call, so each call has its own
/// deadline. Every store is `Release` and every load `Acquire`, so a harness that sees `running = p + 1` with
/// `done <= p` also sees position `p`'s own start time, and one that sees `done = p + 1` also sees everything in
/// slot `p`. The atomics are lock-free, so they work across processes.
#[repr(C)]
struct Header {
    /// Position + 1 of the case the worker started last; 0 before the first.
    running: AtomicU64,
    /// When it (or a property's current call) started: CLOCK_MONOTONIC nanoseconds (one clock for both processes).
    started: AtomicU64,
    /// The positions before this one are finished, and their slots filled.
    done: AtomicU64,
    /// A fault, written by the worker's handler as it ends: position + 1 (0 for none), stored last; then the
    /// signal, the faulting `rip`, and where the running code lies (its start and length). Here, not on the
    /// pipe, so that it reaches the harness even when a case has closed the pipe.
    fault: [AtomicU64; 5],
}

/// One position's result, written by the worker into shared memory when the case returns (or could not be
/// loaded). Kept small — every slot is a page fault's share of the shared mapping — so what only some positions
/// need goes to their own area after the slots: all sixteen xmm registers for a case with `state = true`, the
/// case's buffer, a property's current input.
#[repr(C)]
#[derive(Clone, Copy)]
struct Slot {
    /// [`SLOT_RETURNED`], [`SLOT_LOAD_FAILED`] or [`SLOT_PROPERTY`].
    tag: u64,
    regs: [u64; 16],
    flags: u64,
    /// rsp before the call, and after `ret` minus before.
    call_rsp: u64,
    rsp_moved: u64,
    /// The caller's frame words after the call minus before.
    frame_changed: [u64; 3],
    mxcsr: u32,
    fcw: u32,
    /// xmm0 after the call (float results).
    xmm0: u128,
}

/// A property's current call, in its position's area: which side (0 the code, 1 the reference), whether it is
/// shrinking (1), then the input's values.
type Input = [u64; 16];

impl Slot {
    /// What the convention check reads.
    fn exit(&self) -> Exit {
        Exit {
            regs: self.regs,
            flags: self.flags,
            rsp_moved: self.rsp_moved as i64,
            call_rsp: self.call_rsp,
            frame_changed: self.frame_changed,
            mxcsr: self.mxcsr,
            fcw: self.fcw as u16,
        }
    }
}

/// Where the slots start in the mapping: after the header, on a cache line of their own.
const SLOTS_AT: usize = 64;
const _: () = assert!(size_of::<Header>() <= SLOTS_AT && align_of::<Slot>() <= SLOTS_AT);

/// A case or a property of a run, whose code may not have assembled.
#[derive(Clone, Copy)]
enum Item<'a> {
    Case(&'a Case),
    Property(&'a Property),
}

impl<'a> Item<'a> {
    /// What a worker runs for it: `None` if its code (or a property's reference) did not assemble.
    fn task(self) -> Option<Task<'a>> {
        match self {
            Item::Case(case) => Some(Task::Case(case, case.code.as_ref().ok()?)),
            Item::Property(prop) => Some(Task::Property(
                prop,
                [prop.code.as_ref().ok()?, prop.reference.as_ref().ok()?],
            )),
        }
    }
}

/// What a worker runs at one position: a case with its code, or a property with its code and its reference's.
/// Only code that assembled makes a task, so running one never meets an assembly error.
#[derive(Clone, Copy)]
enum Task<'a> {
    Case(&'a Case, &'a Code),
    Property(&'a Property, [&'a Code; 2]),
}

impl Task<'_> {
    /// How long one call may run.
    fn timeout_ns(self) -> u64 {
        self.timeout().as_nanos().min(u128::from(u64::MAX)) as u64
    }

    /// How long one call may run, as a duration.
    fn timeout(self) -> std::time::Duration {
        match self {
            Task::Case(c, _) => c.timeout,
            Task::Property(p, _) => p.timeout,
        }
    }

    /// The size of the position's own area: a case's xmm registers (with `state`) then its buffer; a property's
    /// current input.
    fn area_len(self) -> usize {
        match self {
            Task::Case(c, _) => xmm_len(c) + c.memory.as_ref().map_or(0, Vec::len),
            Task::Property(..) => size_of::<Input>(),
        }
    }

    /// How much work it is, roughly, in cases: for splitting a run into shards of equal work.
    fn weight(self) -> usize {
        match self {
            Task::Case(..) => 1,
            Task::Property(p, _) => 1 + (p.runs as usize + 400) / 8,
        }
    }
}

/// The bytes of xmm registers a case's area starts with: all sixteen for `state = true`, none otherwise.
fn xmm_len(case: &Case) -> usize {
    if case.state { size_of::<[u128; 16]>() } else { 0 }
}

/// Memory shared by the harness and its workers (`MAP_SHARED | MAP_ANONYMOUS`, made before the first fork, so
/// every worker of the shard inherits it): the [`Header`], one [`Slot`] per position (task) of the shard, then
/// each position's own area (see [`Slot`]). What a worker wrote stays when it is killed or dies, so nothing it
/// finished is lost. Unmapped on drop.
struct Shared {
    base: *mut u8,
    len: usize,
    positions: usize,
    /// Byte offset in the mapping of each position's area, and one more for the end.
    area_at: Vec<usize>,
}

impl Shared {
    /// A mapping for `tasks`, one position each: sizes are checked, and the mapping's result.
    fn new(tasks: &[Task]) -> io::Result<Shared> {
        let too_big = || io::Error::other("the results of the cases do not fit in memory");
        let mut at = tasks
            .len()
            .checked_mul(size_of::<Slot>())
            .and_then(|n| n.checked_add(SLOTS_AT))
            .ok_or_else(too_big)?;
        let mut area_at = Vec::with_capacity(tasks.len() + 1);
        for task in tasks {
            area_at.push(at);
            at = at.checked_add(task.area_len()).ok_or_else(too_big)?;
        }
        area_at.push(at);
        let base = map_anonymous(at, libc::MAP_SHARED)?;
        Ok(Shared {
            base,
            len: at,
            positions: tasks.len(),
            area_at,
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

    /// Where position `p`'s area starts, and its length (`p < positions`).
    fn area(&self, p: usize) -> (*mut u8, usize) {
        let (at, end) = (self.area_at[p], self.area_at[p + 1]);
        // SAFETY: `new` sized the mapping to end at the last offset of `area_at`.
        (unsafe { self.base.add(at) }, end - at)
    }

    /// Before a worker starts at position `first`: nothing runs, everything before `first` is finished.
    fn reset(&self, first: usize) {
        let h = self.header();
        h.fault[0].store(0, Ordering::Release);
        h.running.store(0, Ordering::Release);
        h.done.store(first as u64, Ordering::Release);
    }

    /// How many positions are finished (at most `positions`, whatever a stray write left there).
    fn done(&self) -> usize {
        (self.header().done.load(Ordering::Acquire) as usize).min(self.positions)
    }

    /// The case the worker is running, if any: its position and when it (or its current call) started.
    fn in_flight(&self) -> Option<(usize, u64)> {
        let h = self.header();
        let p = (h.running.load(Ordering::Acquire) as usize).checked_sub(1)?;
        let started = h.started.load(Ordering::Acquire);
        (p >= self.done() && p < self.positions).then_some((p, started))
    }

    /// The fault the worker's handler wrote as it ended, if any, after the worker has ended: the position, and the
    /// fault as an outcome.
    fn fault(&self) -> Option<(usize, Outcome)> {
        let f = &self.header().fault;
        let p = (f[0].load(Ordering::Acquire) as usize).checked_sub(1)?;
        let [signal, mut rip, base, len] = [1, 2, 3, 4].map(|i| f[i].load(Ordering::Acquire));
        if signal == libc::SIGTRAP as u64 {
            rip = rip.wrapping_sub(1); // int3 traps after itself; show the int3
        }
        let offset = (rip >= base && rip - base < len).then(|| (rip - base) as u32);
        Some((
            p,
            Outcome::Faulted {
                signal: signal as i32,
                offset,
                rip,
            },
        ))
    }

    /// What the worker left for position `p`, after the worker has ended: the slot and the area.
    fn result(&self, p: usize) -> (Slot, Vec<u8>) {
        let (at, len) = self.area(p);
        // SAFETY: the slot and the buffer lie in the mapping; the worker that wrote them has ended, and the
        // harness saw its end (waitpid), which orders everything it wrote before.
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
extern "C" fn on_fault(signal: libc::c_int, _info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext_t for handlers installed with SA_SIGINFO.
    let rip = unsafe { (*(context as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize] as u64 };
    let header = HEADER.load(Ordering::Relaxed);
    // SAFETY: set by the worker to the shared header before it installed this handler; never unmapped in it.
    if let Some(h) = unsafe { header.as_ref() } {
        let running = h.running.load(Ordering::Acquire);
        // Between cases there is no case to blame, and nothing is written.
        if let Some(p) = running.checked_sub(1).filter(|&p| p >= h.done.load(Ordering::Acquire)) {
            let (base, len) = (CODE_BASE.load(Ordering::Relaxed), CODE_LEN.load(Ordering::Relaxed));
            for (field, value) in h.fault[1..].iter().zip([signal as u64, rip, base, len]) {
                field.store(value, Ordering::Release);
            }
            h.fault[0].store(p + 1, Ordering::Release);
        }
    }
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

/// What the worker needs for every call: the context, the trampoline and the shared header.
struct Caller<'a> {
    ctx: *mut Context,
    enter: extern "sysv64" fn(*mut Context),
    header: &'a Header,
}

impl Caller<'_> {
    /// Calls the code `f` with the registers of `regs`/`xmm` and, if given, a buffer in rdi; the context holds
    /// what it left behind.
    fn call(&self, f: &ScratchFn, regs: &[u64; 16], xmm: &[u128; 16], memory: Option<&mut [u8]>) {
        // SAFETY: the context is this process's own, and nothing else touches it while the worker runs.
        unsafe {
            (*self.ctx).regs_in = *regs;
            (*self.ctx).xmm_in = *xmm;
            if let Some(m) = memory {
                (*self.ctx).regs_in[7] = m.as_mut_ptr() as u64;
            }
            (*self.ctx).target = f.as_ptr() as u64;
        }
        CODE_BASE.store(f.as_ptr() as u64, Ordering::Relaxed);
        // The whole view counts as the code's: running off the end lands in the RET fill.
        CODE_LEN.store(f.mapped_len() as u64, Ordering::Relaxed);
        (self.enter)(self.ctx);
    }

    /// What the last call left, as a slot.
    fn slot(&self) -> Slot {
        // SAFETY: the trampoline has returned; the context holds what it stored.
        let c = unsafe { &*self.ctx };
        let entry = frame_entry(c.target);
        Slot {
            tag: SLOT_RETURNED,
            regs: c.regs_out,
            flags: c.flags,
            call_rsp: c.call_rsp,
            rsp_moved: c.ret_rsp.wrapping_sub(c.call_rsp),
            frame_changed: std::array::from_fn(|i| c.frame_out[i].wrapping_sub(entry[i])),
            mxcsr: c.mxcsr_out,
            fcw: c.fcw_out,
            xmm0: c.xmm_out[0],
        }
    }

    /// The xmm registers the last call left.
    fn xmm(&self) -> [u128; 16] {
        // SAFETY: as in `slot`.
        unsafe { (*self.ctx).xmm_out }
    }
}

/// The worker: runs `tasks[p]` for each position `p` from `first` through the trampoline `tramp` (on this
/// process's [`context`]), leaving results in `shared` and reporting rare events to `fd`. Never returns.
fn worker(tasks: &[Task], first: usize, shared: &Shared, fd: i32, tramp: &crate::JitFn) -> ! {
    close_all_but(fd);
    REPORT_FD.store(fd, Ordering::Relaxed);
    let header = shared.header();
    HEADER.store(std::ptr::from_ref(header).cast_mut(), Ordering::Relaxed);
    install_fault_handlers();
    let ctx = context();
    // SAFETY: the context is this process's own; these entry values are the same for every call.
    unsafe {
        (*ctx).frame_in = FRAME_CANARIES;
        (*ctx).mxcsr_in = MXCSR_ENTRY;
        (*ctx).fcw_in = u32::from(FCW_ENTRY);
    }
    let caller = Caller {
        ctx,
        // SAFETY: the trampoline is a System V function taking the context pointer.
        enter: unsafe { tramp.as_fn::<extern "sysv64" fn(*mut Context)>() },
        header,
    };
    // Every case's code is written over the last one's: no system call per case. A property's two sides run
    // from one each.
    let mut scratch = [Scratch::new(), Scratch::new()];
    for (p, &task) in tasks.iter().enumerate().skip(first) {
        prefetch(tasks, p);
        header.started.store(monotonic_ns(), Ordering::Release);
        header.running.store(p as u64 + 1, Ordering::Release);
        match task {
            Task::Case(case, code) => run_case(case, code, p, &caller, &mut scratch[0], shared),
            Task::Property(property, codes) => run_property(property, codes, p, &caller, &mut scratch, shared, fd),
        }
        header.done.store(p as u64 + 1, Ordering::Release);
    }
    // SAFETY: closing the pipe tells the harness at once that everything is done, before the process is torn
    // down; `_exit` ends the worker without returning into the harness (no atexit handlers, no unwinding).
    unsafe {
        libc::close(fd);
        libc::_exit(0)
    }
}

/// Asks the processor for what the worker reads a few positions ahead: a case, then its code's bytes. They were
/// last written by the harness, on another core, so without this the worker waits for each of them in turn.
fn prefetch(tasks: &[Task], p: usize) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    let fetch = |at: *const u8, len: usize| {
        for line in (0..len).step_by(64) {
            // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(line).cast()) };
        }
    };
    if let Some(Task::Case(case, _)) = tasks.get(p + 16) {
        fetch(std::ptr::from_ref(*case).cast(), size_of::<Case>());
    }
    if let Some(Task::Case(_, code)) = tasks.get(p + 8) {
        fetch(code.bytes().as_ptr(), code.len().min(256));
    }
}

/// Closes every descriptor of the worker from 3 on except its pipe `fd`. A worker forked while another thread
/// of the harness held the write end of another worker's pipe would otherwise keep that pipe open, and its end
/// would show only when both workers had ended.
fn close_all_but(fd: i32) {
    let fd = fd.max(2) as libc::c_uint;
    // SAFETY: close_range only closes descriptors; none of those closed is used by the worker.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, fd - 1, 0 as libc::c_uint);
        libc::syscall(libc::SYS_close_range, fd + 1, libc::c_uint::MAX, 0 as libc::c_uint);
    }
}

/// Loads code in the worker; on failure leaves a [`SLOT_LOAD_FAILED`] slot at `p`, with the error's text.
///
/// The slot is the failure's only report, collected with the other results, and nothing goes over the pipe: the
/// shared memory keeps what the worker wrote however the worker ends, while a record on the pipe is lost when
/// writing it fails, or when code that ran before in the same worker closed the pipe or wrote into it.
fn load_or_mark<'s>(code: &Code, scratch: &'s mut Scratch, p: usize, shared: &Shared) -> Option<ScratchFn<'s>> {
    match scratch.load(code) {
        Ok(f) => Some(f),
        Err(e) => {
            let slot = shared.slot(p);
            // SAFETY: slot `p` is this worker's to write; the harness reads it only once `done` passes `p`.
            unsafe {
                (*slot).tag = SLOT_LOAD_FAILED;
                (*slot).regs = pack_text(&e.to_string());
            }
            None
        }
    }
}

/// Runs a case with its code at position `p` and leaves its result in slot `p`.
fn run_case(case: &Case, code: &Code, p: usize, caller: &Caller, scratch: &mut Scratch, shared: &Shared) {
    let Some(f) = load_or_mark(code, scratch, p, shared) else {
        return;
    };
    let mut memory = case.memory.clone();
    caller.call(&f, &case.regs, &case.xmm, memory.as_deref_mut());
    let (at, len) = shared.area(p);
    let xmm = if case.state { caller.xmm() } else { [0; 16] };
    let xmm: Vec<u8> = xmm.iter().flat_map(|x| x.to_le_bytes()).take(xmm_len(case)).collect();
    let bytes = memory.as_deref().unwrap_or(&[]);
    // SAFETY: slot `p` and its area of `len` bytes are this worker's to write (the harness reads them only once
    // `done` passes `p`); the area holds the xmm bytes and then the buffer, whose length the code cannot change.
    unsafe {
        shared.slot(p).write(caller.slot());
        std::ptr::copy_nonoverlapping(xmm.as_ptr(), at, xmm.len().min(len));
        let rest = len.saturating_sub(xmm.len());
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), at.add(xmm.len().min(len)), bytes.len().min(rest));
    }
}

/// Which side of a property ran: its code, or its reference.
const SIDES: [&str; 2] = ["asm", "reference"];

/// What one side of a property did on one input.
struct SideResult {
    /// The compared part of the result (rax's low bits or xmm0's low lane).
    value: u64,
    memory: Option<Vec<u8>>,
    /// The convention rules it broke, as one sentence (empty if none, or not checked).
    broke: String,
}

/// Runs a property with its code and its reference's (`codes`) at position `p`: every input on both sides, until
/// they disagree; then shrinks the counterexample. Sends the verdict (and each better counterexample while
/// shrinking) over the pipe.
fn run_property(
    prop: &Property,
    codes: [&Code; 2],
    p: usize,
    caller: &Caller,
    scratch: &mut [Scratch; 2],
    shared: &Shared,
    fd: i32,
) {
    let [code, reference] = codes;
    let [a, b] = scratch;
    let Some(loaded) = load_or_mark(code, a, p, shared).and_then(|a| Some([a, load_or_mark(reference, b, p, shared)?]))
    else {
        return;
    };
    // SAFETY: slot `p` is this worker's to write while it runs position `p`.
    unsafe { (*shared.slot(p)).tag = SLOT_PROPERTY };
    let sides = Sides {
        prop,
        loaded,
        caller,
        record: shared.area(p).0.cast::<Input>(),
        p,
        fd,
    };
    let (held, text) = sides.verdict();
    send(fd, &[VERDICT, p as u64, u64::from(held)], text.as_bytes());
}

/// A property's two sides in the worker at position `p`: their code loaded, the caller, where the current input
/// goes (position `p`'s area), and the pipe (`fd`) that takes the best counterexample so far.
struct Sides<'a> {
    prop: &'a Property,
    /// The code and the reference, loaded, in the order of [`SIDES`].
    loaded: [ScratchFn<'a>; 2],
    caller: &'a Caller<'a>,
    record: *mut Input,
    p: usize,
    fd: i32,
}

impl Sides<'_> {
    /// Every input on both sides until they disagree: whether the property held, and the verdict's text (how many
    /// inputs it held on, or the counterexample).
    fn verdict(&self) -> (bool, String) {
        let inputs = Inputs::new(self.prop);
        let edges = inputs.edge_count();
        let mut count = 0usize;
        for input in inputs {
            count += 1;
            if let Some(why) = self.disagree(&input, false) {
                return (false, self.counterexample(input, why));
            }
        }
        (true, held(count, edges, self.prop.seed))
    }

    /// The text of the verdict on `input`, where the sides disagree (`why`): the counterexample shrunk, and what
    /// from. Sends the first counterexample and each better one over the pipe as it goes.
    fn counterexample(&self, input: Vec<u64>, why: String) -> String {
        let first = property::show_input(&self.prop.args, &input);
        self.progress(&first, &why);
        let (best, why, steps) = self.shrink(input, why);
        let shrunk = match steps {
            0 => String::new(),
            1 => format!(" (shrunk from {first} in 1 step)"),
            n => format!(" (shrunk from {first} in {n} steps)"),
        };
        format!(
            "counterexample {}: {why}{shrunk}",
            property::show_input(&self.prop.args, &best)
        )
    }

    /// Greedy shrinking of an input on which the sides disagree (`why`): takes the first simpler value of any
    /// argument that still fails, until none does or the budget of tries is spent. The simplest input found, why it
    /// fails, and in how many steps.
    fn shrink(&self, input: Vec<u64>, why: String) -> (Vec<u64>, String, usize) {
        let (mut best, mut why, mut steps) = (input, why, 0);
        let mut budget = 2_000;
        'shrink: loop {
            for a in 0..best.len() {
                for candidate in property::shrink(self.prop.args[a], best[a]) {
                    if budget == 0 {
                        break 'shrink;
                    }
                    budget -= 1;
                    let mut trial = best.clone();
                    trial[a] = candidate;
                    if let Some(w) = self.disagree(&trial, true) {
                        (best, why) = (trial, w);
                        steps += 1;
                        self.progress(&property::show_input(&self.prop.args, &best), &why);
                        continue 'shrink;
                    }
                }
            }
            break;
        }
        (best, why, steps)
    }

    /// Sends the best counterexample so far over the pipe: the input as shown, and why it fails.
    fn progress(&self, input: &str, why: &str) {
        let text = format!("counterexample {input}: {why}");
        send(self.fd, &[PROGRESS, self.p as u64], text.as_bytes());
    }

    /// How the two sides disagree on an input, in words; `None` if they agree.
    fn disagree(&self, input: &[u64], shrinking: bool) -> Option<String> {
        let results = [self.run(0, input, shrinking), self.run(1, input, shrinking)];
        difference(self.prop.returns, &results)
    }

    /// Calls one side (an index of [`SIDES`]) on an input, which goes first to the position's area, so that a fault
    /// or a hang is reported with it; what the side returned, left in the buffer and broke.
    fn run(&self, side: usize, input: &[u64], shrinking: bool) -> SideResult {
        let prop = self.prop;
        let (mut regs, mut xmm) = (entry_regs(), [0u128; 16]);
        property::place(&prop.args, input, prop.memory.is_some(), &mut regs, &mut xmm);
        let mut memory = prop.memory.clone();
        let now = current_input(side, input, shrinking);
        // SAFETY: position `p`'s area holds an `Input` (`area_len`), this worker's to write; the harness reads it
        // only after the worker has ended. The area may not be 8-byte aligned (after a case's odd-sized buffer).
        unsafe { self.record.write_unaligned(now) };
        // Each call has its own deadline (a case's is its position's start).
        self.caller.header.started.store(monotonic_ns(), Ordering::Release);
        self.caller.call(&self.loaded[side], &regs, &xmm, memory.as_deref_mut());
        let out = self.caller.slot();
        let broke = if prop.preserve {
            let broken = convention::check(&regs, &out.exit());
            broken.iter().map(|b| b.message.as_str()).collect::<Vec<_>>().join("; ")
        } else {
            String::new()
        };
        SideResult {
            value: property::result_bits(prop.returns, out.regs[0], out.xmm0),
            memory,
            broke,
        }
    }
}

/// A property's current call as its position's area holds it (see [`Input`]): the side, whether it is shrinking,
/// then the input's values.
fn current_input(side: usize, input: &[u64], shrinking: bool) -> Input {
    let mut now: Input = [0; 16];
    now[0] = side as u64;
    now[1] = u64::from(shrinking);
    now[2..2 + input.len()].copy_from_slice(input);
    now
}

/// How the results of a property's two sides (in the order of [`SIDES`]) differ, in words, checked in this order:
/// a side broke the calling convention, the compared values (of type `returns`) differ, the buffers differ.
/// `None` if they agree.
fn difference(returns: ArgType, results: &[SideResult; 2]) -> Option<String> {
    for (side, r) in SIDES.iter().zip(results) {
        if !r.broke.is_empty() {
            return Some(format!("{side} broke the calling convention: {}", r.broke));
        }
    }
    let [a, b] = results;
    if !property::same(returns, a.value, b.value) {
        let show = |v| format!("{} ({v:#x})", property::show(returns, v));
        return Some(format!(
            "asm returned {}, reference returned {}",
            show(a.value),
            show(b.value)
        ));
    }
    if a.memory != b.memory {
        let hex = |m: &Option<Vec<u8>>| m.as_deref().map_or_else(String::new, super::report::hex_bytes);
        return Some(format!(
            "asm left memory {}, reference left {}",
            hex(&a.memory),
            hex(&b.memory)
        ));
    }
    None
}

/// The text of the verdict on a property that held on `count` inputs, the first `edges` of them edge inputs, the
/// rest random from `seed`.
fn held(count: usize, edges: usize, seed: u64) -> String {
    format!(
        "held on {count} inputs ({edges} edge, {} random; seed {:#x})",
        count - edges.min(count),
        seed
    )
}

/// A worker process, the read end of its pipe, and how it ended once it has been waited for.
struct Worker {
    pid: libc::pid_t,
    pipe: OwnedFd,
    status: Option<libc::c_int>,
}

fn spawn(tasks: &[Task], first: usize, shared: &Shared) -> io::Result<Worker> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Built before the fork so a worker never assembles or allocates the trampoline itself.
    let tramp = trampoline(context()).map_err(io::Error::other)?;
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
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker(tasks, first, shared, fd, tramp)));
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
                let Some(status) = wait_for(self.pid) else {
                    return "the worker could not be waited for".into();
                };
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

/// Waits for child `pid` to end (through interruptions): its status, or `None` if it cannot be waited for. Only
/// for a child not waited for yet: once waited for, its pid may belong to another process.
fn wait_for(pid: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child, not yet waited for (the caller's duty).
    while unsafe { libc::waitpid(pid, &mut status, 0) } == -1 {
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return None;
        }
    }
    Some(status)
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
    let n = record_words(tag).min(len / 8);
    let w = (0..n)
        .map(|i| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8])))
        .collect();
    let extra = body[n * 8..].to_vec();
    *at += 8 + len;
    Some((w, extra))
}

/// What one shard's harness learns from its workers' records.
#[derive(Default)]
struct Records {
    /// The best counterexample so far of each property that was shrinking, by position.
    progress: std::collections::HashMap<usize, String>,
}

/// Takes the complete records off `buf`: property verdicts become outcomes (of `outcomes`, one per position), a
/// shrinking property's progress is kept for when its worker has ended.
fn take_records(buf: &mut Vec<u8>, outcomes: &mut [Outcome], records: &mut Records) {
    let mut at = 0;
    while let Some((w, extra)) = next_record(buf, &mut at) {
        let (tag, p) = (w[0], w.get(1).copied().unwrap_or(u64::MAX));
        let Some(p) = usize::try_from(p).ok().filter(|&p| p < outcomes.len()) else {
            continue; // no case to blame (a fault between cases), or a record damaged by the code
        };
        let text = || String::from_utf8_lossy(&extra).into_owned();
        match tag {
            PROGRESS if w.len() == 2 => {
                records.progress.insert(p, text());
            }
            VERDICT if w.len() == 3 => {
                outcomes[p] = if w[2] == 1 {
                    Outcome::Held(text())
                } else {
                    Outcome::Counterexample(text())
                };
            }
            _ => {}
        }
    }
    buf.drain(..at);
}

/// Runs every case that assembled; cases with errors are [`Outcome::NotRun`]. One worker at a time.
pub fn run_cases(cases: &[Case]) -> Vec<Outcome> {
    let items: Vec<Item> = cases.iter().map(Item::Case).collect();
    run_items(&items, 1)
}

/// Runs a file's cases and properties on up to `workers` worker processes at once: the outcomes of its cases,
/// then of its properties, in file order.
///
/// ```
/// use rustyjit::vectors::{FileReport, VectorFile, run_file_on};
/// let text = r#"
/// [[case]]
/// name = "zeroes_r15"
/// asm = "xor r15d, r15d; mov eax, 1; ret"
///
/// [[property]]
/// name = "double"
/// asm = "lea rax, [rdi + rdi]; ret"
/// reference = "mov rax, rdi; shl rax, 1; ret"
/// args = ["i64"]
/// "#;
/// let file = VectorFile::parse(std::path::Path::new("t.toml"), text);
/// let (cases, properties) = run_file_on(&file, 2);
/// let report = FileReport::new(&file, &cases, &properties);
/// assert_eq!(report.counts(), (1, 1)); // the property holds; the case breaks the convention
/// assert!(report.cases[0].line().contains("`r15` changed from its canary to 0x0"));
/// ```
pub fn run_file_on(file: &VectorFile, workers: usize) -> (Vec<Outcome>, Vec<Outcome>) {
    let mut outcomes = run_files_on(&[file], workers);
    outcomes.pop().unwrap_or_default()
}

/// Runs the cases and properties of several files as one run split over up to `workers` worker processes:
/// each file's case outcomes and property outcomes, in the order of `files`.
pub fn run_files_on(files: &[&VectorFile], workers: usize) -> Vec<(Vec<Outcome>, Vec<Outcome>)> {
    let mut items = Vec::new();
    for f in files {
        items.extend(f.cases.iter().map(Item::Case));
        items.extend(f.properties.iter().map(Item::Property));
    }
    let mut outcomes = run_items(&items, workers).into_iter();
    files
        .iter()
        .map(|f| {
            let cases = outcomes.by_ref().take(f.cases.len()).collect();
            (cases, outcomes.by_ref().take(f.properties.len()).collect())
        })
        .collect()
}

/// Runs the items whose code assembled, split into at most `workers` contiguous shards of about equal work, each
/// on a thread of its own that watches its own worker process.
fn run_items(items: &[Item], workers: usize) -> Vec<Outcome> {
    // The items that run, as tasks (positions), and the index in `items` of each.
    let (order, tasks): (Vec<usize>, Vec<Task>) = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| Some((i, item.task()?)))
        .unzip();
    // The outcome of each position; each shard fills its own part.
    let (mut by_position, kept) = KeptFromWorkers::filled(tasks.len(), Outcome::NotRun);
    let total: usize = tasks.iter().map(|task| task.weight()).sum();
    // A shard is worth a fork only with some work in it.
    let shards = workers.clamp(1, (total / 64).max(1));
    let mut pieces: Vec<&[Task]> = Vec::with_capacity(shards);
    let (mut start, mut sum) = (0, 0);
    for (k, task) in tasks.iter().enumerate() {
        sum += task.weight();
        if sum * shards >= total * (pieces.len() + 1) && pieces.len() + 1 < shards {
            pieces.push(&tasks[start..=k]);
            start = k + 1;
        }
    }
    pieces.push(&tasks[start..]);
    if pieces.len() == 1 {
        run_shard(pieces[0], &mut by_position);
    } else {
        std::thread::scope(|s| {
            let mut rest = &mut by_position[..];
            let handles: Vec<_> = pieces
                .iter()
                .map(|&piece| {
                    let (out, after) = std::mem::take(&mut rest).split_at_mut(piece.len());
                    rest = after;
                    s.spawn(move || run_shard(piece, out))
                })
                .collect();
            for h in handles {
                // run_shard does not panic; should it, the positions it did not fill stay `NotRun`.
                let _ = h.join();
            }
        });
    }
    drop(kept);
    if order.len() == items.len() {
        return by_position; // every item ran: positions are item indices
    }
    let mut outcomes = vec![Outcome::NotRun; items.len()];
    for (&i, outcome) in order.iter().zip(by_position) {
        outcomes[i] = outcome;
    }
    outcomes
}

/// The whole pages of a buffer only the harness uses, marked `MADV_DONTFORK` while it lives: a worker does not
/// inherit them, so the harness writing outcomes into them while workers run costs no copy-on-write faults (one
/// per page, each a 4 KiB copy). Marked inheritable again on drop, before the memory can go to other uses.
struct KeptFromWorkers {
    start: usize,
    len: usize,
}

impl KeptFromWorkers {
    /// `n` copies of `value` in a buffer kept from workers, and the guard that keeps it so.
    fn filled<T: Clone>(n: usize, value: T) -> (Vec<T>, KeptFromWorkers) {
        const PAGE: usize = 4096;
        let mut buf = Vec::with_capacity(n);
        let spare = buf.spare_capacity_mut();
        let from = spare.as_mut_ptr() as usize;
        let to = from + size_of_val(spare);
        let start = from.next_multiple_of(PAGE);
        let kept = KeptFromWorkers {
            start,
            len: (to / PAGE * PAGE).saturating_sub(start),
        };
        kept.advise(libc::MADV_DONTFORK);
        buf.resize(n, value);
        (buf, kept)
    }

    fn advise(&self, advice: libc::c_int) {
        if self.len == 0 {
            return;
        }
        // SAFETY: the range is whole pages inside a buffer that `filled` allocated, so nothing else lives in them;
        // the advice changes only whether a fork inherits them. Should it fail, nothing changes but speed.
        unsafe { libc::madvise(self.start as *mut libc::c_void, self.len, advice) };
    }
}

impl Drop for KeptFromWorkers {
    fn drop(&mut self) {
        self.advise(libc::MADV_DOFORK);
    }
}

/// Runs `tasks` (the positions of this shard) in worker processes, one after another, starting a new worker after
/// each that faults, hangs or dies; fills their outcomes, `outcomes[p]` for position `p`.
fn run_shard(tasks: &[Task], outcomes: &mut [Outcome]) {
    if tasks.is_empty() {
        return;
    }
    let shared = match Shared::new(tasks) {
        Ok(shared) => shared,
        Err(e) => return cannot_start(outcomes, e),
    };
    let mut shard = Shard {
        tasks,
        shared,
        outcomes,
        records: Records::default(),
        nap: longest_nap(tasks),
    };
    let mut next = 0;
    while next < tasks.len() {
        match shard.run_worker(next) {
            Some(after) => next = after,
            None => break,
        }
    }
}

/// Gives every position of `outcomes` the outcome that no worker process could start (`e`).
fn cannot_start(outcomes: &mut [Outcome], e: io::Error) {
    outcomes.fill(Outcome::LoadFailed(format!("could not start a worker process: {e}")));
}

/// The longest the harness sleeps while a worker of `tasks` runs: [`COLLECT_NS`], and never longer than the
/// shortest timeout, so a position that starts while it sleeps cannot reach its deadline long before it wakes.
fn longest_nap(tasks: &[Task]) -> u64 {
    let shortest = tasks.iter().map(|task| task.timeout_ns()).min().unwrap_or(u64::MAX);
    shortest.min(COLLECT_NS)
}

/// One shard's harness: its positions, the memory it shares with their workers, the outcomes it fills, and what
/// the workers' records said.
struct Shard<'a> {
    tasks: &'a [Task<'a>],
    shared: Shared,
    outcomes: &'a mut [Outcome],
    records: Records,
    /// See [`longest_nap`].
    nap: u64,
}

/// Why the harness stopped watching a worker.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The end of the pipe with every position finished: the worker has sent everything.
    Closed,
    /// The worker has ended (and has been waited for), though the end of its pipe has not shown yet.
    Ended,
    /// The position in flight ran past its timeout.
    TimedOut(usize),
    /// The pipe could not be read.
    Unreadable,
    /// No position started or finished for [`STUCK_NS`], and none runs: the worker is stuck between cases, and the
    /// next one resumes after what it finished.
    Stuck,
}

impl Stop {
    /// Whether the worker must be killed, rather than waited for while it ends by itself.
    fn kills(self) -> bool {
        matches!(self, Stop::TimedOut(_) | Stop::Unreadable | Stop::Stuck)
    }
}

impl Shard<'_> {
    /// Runs a worker from position `first` until it ends, and fills the outcomes it leaves: the position the next
    /// worker starts at, or `None` when the shard is over (everything ran, or no worker could start or finish a
    /// position).
    fn run_worker(&mut self, first: usize) -> Option<usize> {
        let mut worker = match spawn(self.tasks, first, &self.shared) {
            Ok(w) => w,
            Err(e) => {
                cannot_start(&mut self.outcomes[first..], e);
                return None;
            }
        };
        let mut buf = Vec::new();
        let (stop, collected) = self.watch(&mut worker, first, &mut buf);
        if stop == Stop::Closed {
            // Everything finished and the worker closed its pipe, so it has sent everything: it is waited for
            // while it exits.
            self.drain(&worker, &mut buf, collected);
            wait_in_background(worker);
            return None;
        }
        // Killed if need be and waited for now, so that everything it sent is in the pipe.
        let how = worker.reap(stop.kills());
        let done = self.drain(&worker, &mut buf, collected);
        let mut next = done;
        if let Some((p, outcome)) = self.unfinished(stop, done, &how) {
            self.outcomes[p] = self.interrupted_outcome(p, outcome);
            next = next.max(p + 1);
        }
        if next == first {
            // The worker ended without finishing a single case: give up on the rest rather than loop.
            self.outcomes[next..].fill(Outcome::Died(how));
            return None;
        }
        Some(next)
    }

    /// Watches the worker started at position `first` until it stops: collects the outcomes of the positions it
    /// finishes and takes the records it sends (into `buf`) as they come. Why it stopped, and the position up to
    /// which outcomes are collected.
    ///
    /// The pipe may end before the worker does: a case can close it (its code may close any descriptor). The
    /// worker is then watched through the shared memory alone, with the same timeouts, until it ends.
    fn watch(&mut self, worker: &mut Worker, first: usize, buf: &mut Vec<u8>) -> (Stop, usize) {
        let mut collected = first;
        let mut progress = Progress::new(first);
        let mut pipe_open = true;
        loop {
            let done = self.shared.done();
            if done > collected {
                collect(self.tasks, &self.shared, collected..done, self.outcomes);
                collected = done;
            }
            if !pipe_open {
                std::thread::sleep(std::time::Duration::from_nanos(self.wait_ns()));
            } else {
                match read_some(&worker.pipe, buf, self.wait_ns()) {
                    Ok(Some(true)) => {
                        take_records(buf, self.outcomes, &mut self.records);
                        continue;
                    }
                    Ok(Some(false)) if self.shared.done() == self.tasks.len() => return (Stop::Closed, collected),
                    Ok(Some(false)) => pipe_open = false,
                    Ok(None) => {}
                    Err(_) => return (Stop::Unreadable, collected),
                }
            }
            // Nothing came in time: look at the worker again.
            if worker.has_ended() {
                return (Stop::Ended, collected);
            }
            if let Some(stop) = progress.overdue(self.tasks, &self.shared) {
                return (stop, collected);
            }
        }
    }

    /// How long the harness may wait for the worker now: its nap, and no later than the deadline of the position
    /// in flight.
    fn wait_ns(&self) -> u64 {
        let now = monotonic_ns();
        let mut wait = self.nap;
        if let Some((p, started)) = self.shared.in_flight() {
            wait = wait.min(started.saturating_add(self.tasks[p].timeout_ns()).saturating_sub(now));
        }
        wait
    }

    /// Takes what a stopped worker left: the records still in its pipe (after those in `buf`), and the outcomes of
    /// the positions it finished from `collected` on. How many positions are finished.
    fn drain(&mut self, worker: &Worker, buf: &mut Vec<u8>, collected: usize) -> usize {
        while let Ok(Some(true)) = read_some(&worker.pipe, buf, 0) {}
        take_records(buf, self.outcomes, &mut self.records);
        let done = self.shared.done();
        collect(self.tasks, &self.shared, collected..done, self.outcomes);
        done
    }

    /// The position that was running when the worker ended, if it did not finish (`done` are), and what ended it:
    /// its timeout, a fault the worker reported, or else the worker's death (`how`).
    fn unfinished(&mut self, stop: Stop, done: usize, how: &str) -> Option<(usize, Outcome)> {
        match (stop, self.shared.fault(), self.shared.in_flight()) {
            (Stop::TimedOut(p), _, _) if p >= done => Some((p, Outcome::TimedOut(self.tasks[p].timeout()))),
            // It finished after all; the case running when the worker was killed runs again.
            (Stop::TimedOut(_), _, _) => None,
            (_, Some((p, outcome)), _) if p == done => Some((p, outcome)),
            (_, _, Some((p, _))) => Some((p, Outcome::Died(how.into()))),
            _ => None,
        }
    }

    /// The outcome of position `p`, which its worker did not finish because of `outcome`: that outcome for a case;
    /// for a property, a counterexample on the input it was running.
    fn interrupted_outcome(&mut self, p: usize, outcome: Outcome) -> Outcome {
        match self.tasks[p] {
            Task::Case(..) => outcome,
            Task::Property(prop, codes) => interrupted(
                prop,
                codes,
                &self.shared.result(p).1,
                self.records.progress.remove(&p),
                &outcome,
            ),
        }
    }
}

/// What the harness last saw of a worker, to tell a worker that is stuck from one that is busy.
struct Progress {
    /// The last state seen: how many positions are finished, and the one in flight with its start.
    seen: (usize, Option<(usize, u64)>),
    /// When that state was first seen.
    changed: u64,
}

impl Progress {
    /// Nothing seen yet of a worker that starts at position `first`.
    fn new(first: usize) -> Progress {
        Progress {
            seen: (first, None),
            changed: monotonic_ns(),
        }
    }

    /// Whether a worker that sent nothing in time must be stopped: the position in flight ran past its timeout, or
    /// the worker is stuck (see [`Stop::Stuck`]).
    fn overdue(&mut self, tasks: &[Task], shared: &Shared) -> Option<Stop> {
        let now = monotonic_ns();
        let state = (shared.done(), shared.in_flight());
        match state.1 {
            Some((p, started)) if now.saturating_sub(started) >= tasks[p].timeout_ns() => {
                return Some(Stop::TimedOut(p));
            }
            _ if state != self.seen => (self.seen, self.changed) = (state, now),
            None if now.saturating_sub(self.changed) >= STUCK_NS => return Some(Stop::Stuck),
            _ => {}
        }
        None
    }
}

/// Lets a worker that finished everything and closed its pipe be waited for on a thread of its own while it tears
/// itself down (about a millisecond for a worker forked from a big harness) instead of by the run: nothing it could
/// still say matters. With no thread to spare, waits for it here.
fn wait_in_background(mut worker: Worker) {
    let pid = worker.pid;
    let waiter = std::thread::Builder::new().spawn(move || wait_for(pid));
    if waiter.is_err() {
        worker.reap(false);
    }
}

/// Turns the results the worker left for the finished positions `range` into their outcomes. A load failure is
/// reported here only, from its slot (see [`load_or_mark`]); a property's verdict comes over the pipe.
fn collect(tasks: &[Task], shared: &Shared, range: std::ops::Range<usize>, outcomes: &mut [Outcome]) {
    for p in range {
        let (slot, area) = shared.result(p);
        match (slot.tag, tasks[p]) {
            (SLOT_RETURNED, Task::Case(case, _)) => outcomes[p] = returned(case, &slot, area),
            (SLOT_LOAD_FAILED, _) => outcomes[p] = Outcome::LoadFailed(unpack_text(&slot.regs)),
            _ => {}
        }
    }
}

/// A case's outcome from the result the worker left in its slot and area: returned, or a broken calling
/// convention.
fn returned(case: &Case, slot: &Slot, area: Vec<u8>) -> Outcome {
    if case.preserve {
        let broken = convention::check(&case.regs, &slot.exit());
        if !broken.is_empty() {
            return Outcome::BrokeConvention(broken);
        }
    }
    let mut regs = slot.regs;
    // rsp is shown as its distance from where it should be (0: balanced), never as an address.
    regs[4] = slot.rsp_moved;
    let (xmm, memory) = area.split_at(xmm_len(case).min(area.len()));
    let xmm = (!xmm.is_empty()).then(|| {
        let mut all = [0u128; 16];
        for (x, bytes) in all.iter_mut().zip(xmm.chunks_exact(16)) {
            *x = u128::from_le_bytes(bytes.try_into().unwrap_or([0; 16]));
        }
        Box::new(all)
    });
    Outcome::Returned {
        regs,
        xmm0: slot.xmm0,
        xmm,
        flags: slot.flags,
        memory: case.memory.as_ref().map(|_| memory.to_vec()),
    }
}

/// A property whose worker ended in a call — a fault, a hang, a crash — on the input its area names: a
/// counterexample saying which side (of `codes`: the code, the reference) did what on which input (or, if it
/// happened while shrinking, the best counterexample found before).
fn interrupted(
    prop: &Property,
    codes: [&Code; 2],
    area: &[u8],
    progress: Option<String>,
    outcome: &Outcome,
) -> Outcome {
    let mut input: Input = [0; 16];
    for (word, bytes) in input.iter_mut().zip(area.chunks_exact(8)) {
        *word = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
    }
    let side = (input[0] as usize).min(1);
    let code = Some(codes[side]);
    let what = match outcome {
        Outcome::Faulted { .. } => format!("faulted: {}", outcome.describe_stable(code)),
        other => other.describe_stable(code),
    };
    let shrinking = input[1] == 1;
    let input = property::show_input(&prop.args, &input[2..2 + prop.args.len().min(14)]);
    let said = format!("{} {what}", SIDES[side]);
    Outcome::Counterexample(match progress {
        Some(best) if shrinking => {
            format!("{best} (shrinking stopped at {input}, where {said})")
        }
        _ => format!("counterexample {input}: {said}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_fits_a_slot_comes_back_whole() {
        for text in ["", "short", &"x".repeat(SLOT_TEXT), "é à ü"] {
            assert_eq!(unpack_text(&pack_text(text)), text);
        }
    }

    #[test]
    fn longer_text_is_cut_after_its_last_sentence_that_fits() {
        let text = "The libc call `mmap` failed: Cannot allocate memory (os error 12). Executable memory could not be \
                    set up; check the process's memory limits (`ulimit -v`), then try again.";
        assert!(text.len() > SLOT_TEXT);
        assert_eq!(
            unpack_text(&pack_text(text)),
            "The libc call `mmap` failed: Cannot allocate memory (os error 12)."
        );
    }

    #[test]
    fn longer_text_without_a_sentence_is_cut_at_a_character_boundary() {
        // Two-byte characters from an odd offset: the limit falls inside one.
        let text = format!("x{}", "é".repeat(SLOT_TEXT));
        let back = unpack_text(&pack_text(&text));
        assert!(back.len() <= SLOT_TEXT, "{}", back.len());
        assert!(back.ends_with("é..."), "{back}");
        assert!(text.starts_with(back.trim_end_matches('.')));
    }

    /// A load that fails in the worker reaches the harness through the slot alone, with the error's text: here
    /// the worker has no pipe at all, and cannot create the memfd the code goes to.
    #[test]
    fn a_load_failure_is_collected_from_its_slot_with_its_error() {
        let code = Code::from_bytes(vec![0xc3]);
        let case = Case::new("load_fails", code.clone());
        let tasks = [Task::Case(&case, &code)];
        let shared = Shared::new(&tasks).unwrap();
        // SAFETY: the child only loads the code with no descriptors to spare, writes the shared slot and leaves
        // with `_exit`, never returning into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed: {}", io::Error::last_os_error());
        if pid == 0 {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: setrlimit reads a valid struct and only restricts this (child) process.
            let limited = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &none) } == 0;
            let failed = load_or_mark(&code, &mut Scratch::new(), 0, &shared).is_none();
            // SAFETY: leaves the child at once, without running the test harness's exit handlers.
            unsafe { libc::_exit(if limited && failed { 0 } else { 1 }) }
        }
        let status = wait_for(pid).expect("waitpid");
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status:#x}: the load did not fail"
        );
        let mut outcomes = [Outcome::NotRun];
        collect(&tasks, &shared, 0..1, &mut outcomes);
        assert_eq!(
            outcomes[0],
            Outcome::LoadFailed("The libc call `memfd_create` failed: Too many open files (os error 24).".into())
        );
    }
}
