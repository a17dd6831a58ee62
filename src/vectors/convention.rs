//! The System V calling-convention check: what a function must leave as it found it, compared between the
//! registers and stack words a call started with and what it returned with. Pure: the worker records, this
//! judges, on any host.

use super::file::{Break, CALLEE_SAVED, FCW_ENTRY, FRAME_CANARIES, MXCSR_CONTROL, MXCSR_ENTRY, REGS, canary};

/// What a call left behind that the convention speaks about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exit {
    /// The general registers after `ret` (rsp's entry is not read).
    pub regs: [u64; 16],
    /// RFLAGS after `ret`.
    pub flags: u64,
    /// rsp after `ret` minus rsp before the `call`: 0 when the stack is balanced.
    pub rsp_moved: i64,
    /// The three words above the return address, each minus the value it held on entry: all 0 when untouched.
    pub frame_changed: [u64; 3],
    /// MXCSR after `ret`.
    pub mxcsr: u32,
    /// The x87 control word after `ret`.
    pub fcw: u16,
    /// rsp right before the `call`, so that a register left holding a stack address is shown relative to it
    /// (addresses change from run to run; snapshots must not).
    pub call_rsp: u64,
}

/// One way a call broke the convention, with the sentence that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// Which rule.
    pub kind: Break,
    /// What happened, as a sentence a user can act on.
    pub message: String,
}

/// `0x5`, or `its canary` for a callee-saved register's entry canary (snapshots show canaries by name).
pub fn reg_value(reg: usize, value: u64) -> String {
    if CALLEE_SAVED.contains(&reg) && value == canary(reg) {
        "its canary".into()
    } else {
        format!("{value:#x}")
    }
}

/// [`reg_value`], with a value within 64 KiB of `call_rsp` shown as a stack address relative to it.
fn reg_value_near(reg: usize, value: u64, call_rsp: u64) -> String {
    let offset = value.wrapping_sub(call_rsp) as i64;
    if call_rsp != 0 && offset.unsigned_abs() < 0x1_0000 {
        format!("a stack address (rsp{offset:+} at the call)")
    } else {
        reg_value(reg, value)
    }
}

/// Every rule the call broke, in a fixed order (stack, registers, frame, DF, MXCSR, x87); empty when it kept them
/// all. `entry` holds the general registers the call started with.
pub fn check(entry: &[u64; 16], exit: &Exit) -> Vec<Broken> {
    let mut broken = Vec::new();
    let mut say = |kind, message: String| broken.push(Broken { kind, message });
    if exit.rsp_moved != 0 {
        say(
            Break::Stack,
            format!(
                "the stack is unbalanced: rsp is {:+} bytes from where the call left it after `ret`",
                exit.rsp_moved
            ),
        );
    }
    for r in CALLEE_SAVED {
        if exit.regs[r] != entry[r] {
            say(
                Break::Reg(r),
                format!(
                    "`{}` changed from {} to {}; it is callee-saved and must be restored (or set `preserve = false`)",
                    REGS[r],
                    reg_value(r, entry[r]),
                    reg_value_near(r, exit.regs[r], exit.call_rsp)
                ),
            );
        }
    }
    if let Some(i) = exit.frame_changed.iter().position(|&d| d != 0) {
        say(
            Break::Frame,
            format!(
                "the code wrote into its caller's frame: the word at [rsp + {}] on entry, above the return address, changed",
                8 * (i + 1)
            ),
        );
    }
    if exit.flags & (1 << 10) != 0 {
        say(
            Break::Df,
            "DF is set on return; the ABI requires it clear (`cld` before `ret`)".into(),
        );
    }
    if (exit.mxcsr ^ MXCSR_ENTRY) & MXCSR_CONTROL != 0 {
        say(
            Break::Mxcsr,
            format!(
                "MXCSR's control bits changed from {MXCSR_ENTRY:#x} to {:#x} (rounding mode, exception masks, DAZ and FZ are callee-saved)",
                exit.mxcsr
            ),
        );
    }
    if exit.fcw != FCW_ENTRY {
        say(
            Break::X87,
            format!(
                "the x87 control word changed from {FCW_ENTRY:#x} to {:#x}; it is callee-saved",
                exit.fcw
            ),
        );
    }
    broken
}

/// The frame words on entry: the slot over the return address holds `target` (the trampoline calls through it),
/// then the canaries.
pub fn frame_entry(target: u64) -> [u64; 3] {
    [target, FRAME_CANARIES[0], FRAME_CANARIES[1]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::file::entry_regs;

    fn clean() -> Exit {
        Exit {
            regs: entry_regs(),
            flags: 0x202,
            mxcsr: MXCSR_ENTRY | 0x3f, // status flags may change
            fcw: FCW_ENTRY,
            ..Exit::default()
        }
    }

    #[test]
    fn a_call_that_keeps_everything_breaks_nothing() {
        assert_eq!(check(&entry_regs(), &clean()), []);
    }

    #[test]
    fn each_rule_is_reported_with_its_kind() {
        let entry = entry_regs();
        let mut exit = clean();
        exit.rsp_moved = 8;
        exit.regs[15] = 0;
        exit.frame_changed[2] = 1;
        exit.flags |= 1 << 10;
        exit.mxcsr = 0x7f80;
        exit.fcw = 0x0f7f;
        let kinds: Vec<Break> = check(&entry, &exit).iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                Break::Stack,
                Break::Reg(15),
                Break::Frame,
                Break::Df,
                Break::Mxcsr,
                Break::X87
            ]
        );
        let messages: Vec<String> = check(&entry, &exit).into_iter().map(|b| b.message).collect();
        assert!(
            messages[1].starts_with("`r15` changed from its canary to 0x0;"),
            "{}",
            messages[1]
        );
        assert!(messages[2].contains("[rsp + 24]"), "{}", messages[2]);
        exit.call_rsp = 0x7fff_0000_1000;
        exit.regs[15] = 0x7fff_0000_0ff8;
        let message = &check(&entry, &exit)[1].message;
        assert!(message.contains("to a stack address (rsp-8 at the call);"), "{message}");
    }

    #[test]
    fn a_register_set_by_the_case_must_come_back_as_set() {
        let mut entry = entry_regs();
        entry[3] = 5;
        let mut exit = clean();
        exit.regs[3] = 5;
        assert_eq!(check(&entry, &exit), []);
        exit.regs[3] = canary(3);
        assert_eq!(
            check(&entry, &exit)[0].message,
            "`rbx` changed from 0x5 to its canary; it is callee-saved and must be restored (or set `preserve = false`)"
        );
    }
}
