//! The vector harness: every outcome a case can have is reported as that case's result, the other cases still
//! run, and bad files are reported at `FILE:LINE:COL`.

use rustyjit::vectors::{FileReport, VectorFile, run_cases};
use std::path::Path;

fn run(text: &str) -> FileReport {
    let file = VectorFile::parse(Path::new("t.toml"), text);
    FileReport::new(&file, &run_cases(&file.cases))
}

fn lines(report: &FileReport) -> Vec<String> {
    report.cases.iter().map(|c| c.line()).collect()
}

#[test]
fn every_kind_of_outcome_is_a_result_and_the_rest_still_run() {
    let report = run(r#"
[[case]]
name = "segv"
asm = "nop; mov rax, qword ptr [0x10]; ret"
fault = "SIGSEGV"

[[case]]
name = "div0"
asm = "xor ecx, ecx; div rcx; ret"
fault = "sigfpe"

[[case]]
name = "hang"
asm = "top: jmp top"
timeout_ms = 50

[[case]]
name = "clobber_rbx"
asm = "mov rbx, 5; ret"

[[case]]
name = "clobber_allowed"
asm = "mov rbx, 5; mov eax, 1; ret"
preserve = false
returns = 1

[[case]]
name = "unbalanced"
asm = "pop rcx; add rsp, 8; push rcx; ret"

[[case]]
name = "trap"
asm = "nop; int3"
fault = "SIGTRAP"

[[case]]
name = "ill"
asm = "ud2"

[[case]]
name = "wrong_value"
asm = "mov rax, -1; ret"
returns = "0xfffffffffffffffe"

[[case]]
name = "jump_to_null"
asm = "xor eax, eax; jmp rax"

[[case]]
name = "off_the_end"
asm = "nop"
returns = 0

[[case]]
name = "expected_fault_missing"
asm = "ret"
fault = "SIGILL"

[[case]]
name = "last"
asm = "mov rax, rdi; ret"
args = [7]
returns = 7
"#);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        lines(&report),
        [
            "PASS segv: SIGSEGV at +0x1: mov rax, qword ptr [0x10]",
            "PASS div0: SIGFPE at +0x2: div rcx",
            "FAIL hang: timed out after 50 ms",
            "FAIL clobber_rbx: broke the calling convention: `rbx` changed from 0x0 to 0x5; it is callee-saved and must be restored (or set `preserve = false`)",
            "PASS clobber_allowed: returned 1 (0x1)",
            "FAIL unbalanced: broke the calling convention: the stack is unbalanced: rsp is +8 bytes from where the call left it after `ret`",
            "PASS trap: SIGTRAP at +0x1: int3",
            "FAIL ill: SIGILL at +0x0: ud2",
            "FAIL wrong_value: returned -1 (0xffffffffffffffff), expected -2 (0xfffffffffffffffe)",
            "FAIL jump_to_null: SIGSEGV at 0x0 (outside the code)",
            "PASS off_the_end: returned 0 (0x0)",
            "FAIL expected_fault_missing: expected SIGILL; got: returned 0 (0x0)",
            "PASS last: returned 7 (0x7)",
        ]
    );
    assert_eq!(report.counts(), (6, 7));
}

#[test]
fn registers_memory_and_state() {
    let report = run(r#"
[[case]]
name = "regs"
asm = "lea rax, [r10 + r15*2]; add rax, rdx; ret"
regs = { r10 = 1, r15 = "0x10", rdx = -4 }
returns = 29
state = true

[[case]]
name = "memory"
asm = "mov rax, qword ptr [rdi]; add qword ptr [rdi + 8], rsi; mov byte ptr [rdi], dl; ret"
memory = "0102030405060708 1000000000000000"
args = [5, 0xff]
returns = 0x0807060504030201
memory_after = "ff02030405060708 1500000000000000"

[[case]]
name = "flags"
asm = "mov eax, 1; sub eax, 1; stc; std; ret"
state = true
"#);
    assert!(report.passed(), "{:?}", lines(&report));
    let snapshot = report.snapshot();
    assert!(
        snapshot.contains("memory after: ff 02 03 04 05 06 07 08 15 00 00 00 00 00 00 00"),
        "{snapshot}"
    );
    assert!(
        snapshot.contains(
            "  r8  0x0000000000000000  r9  0x0000000000000000  r10 0x0000000000000001  r11 0x0000000000000000"
        ),
        "{snapshot}"
    );
    assert!(
        snapshot.contains("  rsp +0                  rbp 0x0000000000000000"),
        "{snapshot}"
    );
    // sub 1-1: ZF and PF set; stc sets CF; std sets DF (the trampoline clears it again for the harness).
    assert!(
        snapshot.contains("  flags: CF=1 PF=1 AF=0 ZF=1 SF=0 DF=1 OF=0"),
        "{snapshot}"
    );
}

#[test]
fn bad_files_are_reported_at_file_line_col() {
    let cases = [
        (
            "[[case]]\nname = \"a\"\nasm = \"ret\"\nreturn = 3\n",
            "t.toml:4:1: error: unknown field `return`",
        ),
        (
            "[[case]]\nname = \"a\"\nasm = \"ret\"\nargs = [\"x\"]\n",
            "t.toml:4:9: error: `x` is not an integer",
        ),
        (
            "[[case]]\nname = \"a\"\nasm = \"ret\"\n[[case]]\nname = \"a\"\nasm = \"ret\"\n",
            "t.toml:5:8: error: duplicate case name `a`",
        ),
        ("[[case]\nname = 1\n", "t.toml:1:"),
        ("[[case]]\nname = \"a\"\nasm = 5\n", "t.toml:3:7: error:"),
        (
            "[[case]]\nname = \"a\"\nasm = \"ret\"\nfault = \"SIGPIPE\"\n",
            "t.toml:4:9: error: `SIGPIPE` is not a fault",
        ),
        (
            "[[case]]\nname = \"a\"\nasm = \"ret\"\nregs = { rsp = 1 }\n",
            "t.toml:4:10: error: `rsp` cannot be set",
        ),
        (
            "[[case]]\nname = \"a\"\nasm = \"ret\"\nargs = [1]\nregs = { rdi = 1 }\n",
            "t.toml:5:10: error: `rdi` is already set by `args`",
        ),
        (
            "[[case]]\nname = \"a\"\nasm = \"ret\"\nmemory_after = \"00\"\n",
            "t.toml:4:16: error: `memory_after` needs a `memory` buffer",
        ),
        (
            "[[case]]\nname = \"a\"\nasm = \"ret\"\nbytes = \"c\"\n",
            "t.toml:4:9: error: `bytes`: an odd number of hex digits",
        ),
    ];
    for (text, want) in cases {
        let file = VectorFile::parse(Path::new("t.toml"), text);
        let got = file.errors.first().map(|e| e.to_string()).unwrap_or_default();
        assert!(got.starts_with(want), "{text:?}\n  got:  {got}\n  want: {want}...");
        let survivors = if want.contains("duplicate") { 1 } else { 0 }; // the first `a` is fine
        assert_eq!(file.cases.len(), survivors, "{text:?}");
    }
}

#[test]
fn assembly_errors_point_into_the_file_and_other_cases_run() {
    let report = run(
        "[[case]]\nname = \"bad\"\nasm = \"\"\"\nmov rax, 1\n  mvo rax, 2\nadd al, 256\n\"\"\"\n\n[[case]]\nname = \"good\"\nasm = 'mov eax, 2; ret'\nreturns = 2\n\n[[case]]\nname = \"escaped\"\nasm = \"nop\\nfrob\"\n",
    );
    assert_eq!(
        lines(&report),
        [
            "FAIL bad: t.toml:5:3: error: unknown instruction `mvo`; did you mean `mov`?; t.toml:6:9: error: immediate 256 is out of range; it must be between -128 and 255",
            "PASS good: returned 2 (0x2)",
            "FAIL escaped: t.toml:16:7: error: unknown instruction `frob` (at line 2, column 1 of `asm`)",
        ]
    );
}

#[test]
fn snapshots_hold_no_addresses_and_the_alignment_flag_cannot_hurt_the_harness() {
    let report = run(r#"
[[case]]
name = "alignment_check_left_on"
asm = "pushfq; or dword ptr [rsp], 0x40000; popfq; mov eax, 1; ret"
returns = 1

[[case]]
name = "code_on_the_stack"
asm = "mov eax, 0xc3c3c3c3; push rax; call rsp; pop rcx; ret"
fault = "SIGSEGV"

[[case]]
name = "after"
asm = "mov eax, 2; ret"
returns = 2
"#);
    assert!(report.passed(), "{:?}", lines(&report));
    let snapshot = report.snapshot();
    assert!(
        snapshot.contains("\nSIGSEGV outside the code (at a stack, heap or mapped address)\n"),
        "{snapshot}"
    );
    assert!(!snapshot.contains(" at 0x7"), "{snapshot}");
    assert!(
        lines(&report)[1].starts_with("PASS code_on_the_stack: SIGSEGV at 0x7"),
        "the CLI line keeps the address"
    );
    // A case that fails by such a fault: its reason in the snapshot has no address either.
    let failed = run(r#"
[[case]]
name = "code_on_the_stack_expected_to_return"
asm = "mov eax, 0xc3c3c3c3; push rax; call rsp; pop rcx; ret"
fault = "SIGILL"
"#);
    let snapshot = failed.snapshot();
    assert!(
        !failed.passed() && snapshot.contains("\nFAIL: expected SIGILL; got: SIGSEGV outside the code"),
        "{snapshot}"
    );
    assert!(!snapshot.contains(" at 0x7"), "{snapshot}");
    assert!(
        lines(&failed)[0].contains("got: SIGSEGV at 0x7"),
        "the CLI line keeps the address"
    );
}
