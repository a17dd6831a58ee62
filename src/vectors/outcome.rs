//! [`Outcome`]: what running a case or a property did, on any host.

use super::convention::Broken;
use std::time::Duration;

/// What running a case did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It returned: rax, every register and the flags as the code left them, and the buffer if it had one.
    Returned {
        /// The 16 general registers after the call, in [`REGS`](crate::vectors::REGS) order (rsp as it was right after `ret`).
        regs: [u64; 16],
        /// xmm0 after the call.
        xmm0: u128,
        /// xmm0..xmm15 after the call, recorded for cases with `state = true` (the others' results are kept
        /// small: each costs a share of a page of memory shared with the worker).
        xmm: Option<Box<[u128; 16]>>,
        /// RFLAGS after the call.
        flags: u64,
        /// The memory buffer after the call.
        memory: Option<Vec<u8>>,
    },
    /// It faulted.
    Faulted {
        /// The signal.
        signal: i32,
        /// Offset of the faulting instruction in the code, if it was in the code.
        offset: Option<u32>,
        /// The faulting instruction's address (for faults outside the code).
        rip: u64,
    },
    /// It ran longer than its timeout and was killed.
    TimedOut(Duration),
    /// It returned but broke the calling convention: every rule it broke.
    BrokeConvention(Vec<Broken>),
    /// The worker died without a report (for example killed from outside).
    Died(String),
    /// The code could not be loaded into executable memory.
    LoadFailed(String),
    /// It was not run: the case has errors (or, should that ever happen, the harness received no outcome for it,
    /// which the report counts as a failure).
    NotRun,
    /// A property held on every input: how many, in words.
    Held(String),
    /// A property failed: the counterexample and what each side did, in words.
    Counterexample(String),
}
