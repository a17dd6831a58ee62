//! The vector harness: every outcome a case can have is reported as that case's result, the other cases still
//! run, and bad files are reported at `FILE:LINE:COL`.

use rustyjit::vectors::{FileReport, Outcome, VectorFile, run_file_on};
use std::path::Path;

fn run(text: &str) -> FileReport {
    let file = VectorFile::parse(Path::new("t.toml"), text);
    let (cases, properties) = run_file_on(&file, 1);
    FileReport::new(&file, &cases, &properties)
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
            "FAIL clobber_rbx: broke the calling convention: `rbx` changed from its canary to 0x5; it is callee-saved and must be restored (or set `preserve = false`)",
            "PASS clobber_allowed: returned 1 (0x1)",
            "FAIL unbalanced: broke the calling convention: the stack is unbalanced: rsp is +8 bytes from where the call left it after `ret`; the code wrote into its caller's frame: the word at [rsp + 8] on entry, above the return address, changed",
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
preserve = false    # DF set on return breaks the convention; here it is what the case shows
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
    assert!(snapshot.contains("  rsp +0                  rbp canary"), "{snapshot}");
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
            "t.toml:5:8: error: duplicate name `a`",
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

/// The lines of a report, one per case, keyed by name.
fn line_of(report: &FileReport, name: &str) -> String {
    report
        .cases
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.line())
        .unwrap_or_else(|| panic!("no case `{name}` in {:?}", lines(report)))
}

#[test]
fn every_convention_break_is_caught_even_a_zeroed_register() {
    let report = run(r#"
[[case]]
name = "zeroed_r15"
asm = "xor r15d, r15d; mov eax, 1; ret"

[[case]]
name = "rbp_as_scratch"
asm = "mov rbp, rdi; lea rax, [rbp + 1]; ret"

[[case]]
name = "caller_frame"
asm = "mov qword ptr [rsp + 8], 0; ret"

[[case]]
name = "caller_frame_further_up"
asm = "mov qword ptr [rsp + 24], rax; ret"

[[case]]
name = "direction_flag"
asm = "std; ret"

[[case]]
name = "rounding_mode"
asm = "stmxcsr dword ptr [rsp - 4]; or dword ptr [rsp - 4], 0x6000; ldmxcsr dword ptr [rsp - 4]; ret"

[[case]]
name = "mxcsr_status_flags_may_change"
asm = "pxor xmm0, xmm0; divsd xmm0, xmm0; ret"

[[case]]
name = "x87_control_word"
asm = "fnstcw word ptr [rsp - 2]; or word ptr [rsp - 2], 0xc00; fldcw word ptr [rsp - 2]; ret"

[[case]]
name = "set_by_regs_and_kept"
asm = "mov rax, rbx; ret"
regs = { rbx = 5 }
returns = 5

[[case]]
name = "set_by_regs_and_zeroed"
asm = "xor ebx, ebx; ret"
regs = { rbx = 5 }
"#);
    let want = [
        ("zeroed_r15", "`r15` changed from its canary to 0x0;"),
        ("rbp_as_scratch", "`rbp` changed from its canary to 0x0;"),
        (
            "caller_frame",
            "the word at [rsp + 8] on entry, above the return address, changed",
        ),
        ("caller_frame_further_up", "the word at [rsp + 24] on entry"),
        ("direction_flag", "DF is set on return"),
        ("rounding_mode", "MXCSR's control bits changed from 0x1f80 to 0x7f80"),
        ("x87_control_word", "the x87 control word changed from 0x37f to 0xf7f"),
        ("set_by_regs_and_zeroed", "`rbx` changed from 0x5 to 0x0;"),
    ];
    for (name, says) in want {
        let line = line_of(&report, name);
        assert!(
            line.starts_with(&format!("FAIL {name}: broke the calling convention: ")) && line.contains(says),
            "{line}"
        );
    }
    assert!(line_of(&report, "mxcsr_status_flags_may_change").starts_with("PASS"));
    assert!(line_of(&report, "set_by_regs_and_kept").starts_with("PASS"));
}

#[test]
fn breaks_expects_a_convention_break_of_one_kind() {
    let report = run(r#"
[[case]]
name = "expected"
asm = "xor r15d, r15d; ret"
breaks = "r15"

[[case]]
name = "another_kind"
asm = "std; ret"
breaks = "R15"

[[case]]
name = "none"
asm = "ret"
breaks = "frame"
"#);
    assert_eq!(
        lines(&report),
        [
            "PASS expected: broke the calling convention: `r15` changed from its canary to 0x0; it is callee-saved and must be restored (or set `preserve = false`)",
            "FAIL another_kind: expected a calling-convention break (r15); got: broke the calling convention: DF is set on return; the ABI requires it clear (`cld` before `ret`)",
            "FAIL none: expected a calling-convention break (frame); got: returned 0 (0x0)",
        ]
    );
}

#[test]
fn floats_travel_as_floats_in_system_v_order() {
    let report = run(r#"
[[case]]
name = "mixed"
# rdi = 1, xmm0 = 2.5, rsi = 3, xmm1 = 0.25: (rdi + rsi) * xmm0 + xmm1
asm = "lea rax, [rdi + rsi]; cvtsi2sd xmm2, rax; mulsd xmm0, xmm2; addsd xmm0, xmm1; ret"
args = [1, 2.5, 3, 0.25]
returns = 10.25

[[case]]
name = "single"
asm = "addss xmm0, xmm1; ret"
args = [{ f32 = 1.5 }, { f32 = 0.25 }]
returns = { f32 = 1.75 }

[[case]]
name = "nan_matches_nan"
asm = "pxor xmm0, xmm0; divsd xmm0, xmm0; ret"
returns = nan

[[case]]
name = "negative_zero_is_not_zero"
asm = "mulsd xmm0, xmm1; ret"
args = [-0.0, 1.0]
returns = 0.0

[[case]]
name = "within_ulps"
asm = "ret"
args = [{ f64_bits = "0x3ff0000000000002" }]
returns = 1.0
ulps = 2

[[case]]
name = "outside_ulps"
asm = "ret"
args = [{ f64_bits = "0x3ff0000000000003" }]
returns = 1.0
ulps = 2

[[case]]
name = "whole_xmm_register"
asm = "movups xmmword ptr [rdi], xmm9; movq rax, xmm9; ret"
regs = { xmm9 = "0x00112233445566778899aabbccddeeff" }
memory = "00000000000000000000000000000000"
memory_after = "ffeeddccbbaa99887766554433221100"
returns = "0x8899aabbccddeeff"

[[case]]
name = "state_shows_xmm"
asm = "ret"
args = [3.75, { f32 = 1.5 }]
regs = { xmm5 = "0x10000000000000000" }
state = true
"#);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let lines = lines(&report);
    assert_eq!(lines[0], "PASS mixed: returned 10.25 (xmm0 0x4024800000000000)");
    assert_eq!(lines[1], "PASS single: returned 1.75 as f32 (xmm0 0x3fe00000)");
    assert!(
        lines[2].starts_with("PASS nan_matches_nan: returned NaN"),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        "FAIL negative_zero_is_not_zero: returned -0.0 (0x8000000000000000), expected 0.0 (0x0)"
    );
    assert!(lines[4].starts_with("PASS within_ulps"), "{}", lines[4]);
    assert_eq!(
        lines[5],
        "FAIL outside_ulps: returned 1.0000000000000007 (0x3ff0000000000003), expected 1.0 (0x3ff0000000000000) within 2 ulps"
    );
    assert!(lines[6].starts_with("PASS whole_xmm_register"), "{}", lines[6]);
    let snapshot = report.snapshot();
    for want in [
        "  xmm0  0000000000000000_400e000000000000  (f64 3.75)",
        "  xmm1  0000000000000000_000000003fc00000  (f32 1.5)",
        "  xmm5  0000000000000001_0000000000000000\n",
        "  rax 0x0000000000000000  rcx 0x0000000000000000  rdx 0x0000000000000000  rbx canary",
    ] {
        assert!(snapshot.contains(want), "{want}\n{snapshot}");
    }
}

#[test]
fn bad_new_keys_are_reported_at_file_line_col_and_the_rest_still_read() {
    let cases = [
        (
            "args = [true]",
            "t.toml:4:9: error: expected an integer, a float or a table",
        ),
        (
            "args = [{ f16 = 1.0 }]",
            "t.toml:4:9: error: unknown key `f16` in a float table",
        ),
        (
            "args = [{ f32 = 1.0, f64 = 2.0 }]",
            "t.toml:4:9: error: a float table has exactly one key",
        ),
        (
            "args = [{ f32_bits = \"0x100000000\" }]",
            "t.toml:4:9: error: `f32_bits` = 0x100000000 does not fit",
        ),
        (
            "args = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]",
            "t.toml:4:49: error: too many float arguments",
        ),
        (
            "returns = 3\nulps = 1",
            "t.toml:5:8: error: `ulps` is a tolerance for a float result",
        ),
        (
            "regs = { xmm3 = 1 }",
            "t.toml:4:17: error: an xmm register takes a float",
        ),
        (
            "regs = { xmm16 = 1.0 }",
            "t.toml:4:10: error: `xmm16` is not a register a case can set",
        ),
        (
            "args = [1.5]\nregs = { xmm0 = 2.0 }",
            "t.toml:5:10: error: `xmm0` is already set by `args`",
        ),
        (
            "breaks = \"rax\"",
            "t.toml:4:10: error: `rax` is not a way to break the calling convention",
        ),
        (
            "breaks = \"rbx\"\npreserve = false",
            "t.toml:5:12: error: `breaks` needs the convention checked",
        ),
        (
            "breaks = \"rbx\"\nreturns = 1",
            "t.toml:1:1: error: a case can expect one outcome",
        ),
    ];
    for (keys, want) in cases {
        let text = format!("[[case]]\nname = \"a\"\nasm = \"ret\"\n{keys}\n\n[[case]]\nname = \"b\"\nasm = \"ret\"\n");
        let file = VectorFile::parse(Path::new("t.toml"), &text);
        let got = file.errors.first().map(|e| e.to_string()).unwrap_or_default();
        assert!(got.starts_with(want), "{keys}\n  got:  {got}\n  want: {want}...");
        assert_eq!(file.cases.len(), 1, "the good case is kept: {keys}");
    }
    let properties = [
        (
            "args = [\"i7\"]",
            "t.toml:5:9: error: `i7` is not a type; use one of i8, i16",
        ),
        (
            "args = [{ range = [5, 1] }]",
            "t.toml:5:9: error: the range [5, 1] is empty",
        ),
        (
            "args = [{ range = [1] }]",
            "t.toml:5:9: error: a range has two integers",
        ),
        ("args = [3]", "t.toml:5:9: error: an argument is a type name"),
        (
            "args = []\nreturns = \"f16\"",
            "t.toml:6:11: error: `f16` is not a type; `returns` is one of",
        ),
        (
            "args = []\nruns = 0",
            "t.toml:6:8: error: `runs` must be between 1 and 1000000",
        ),
        ("args = []\nseed = \"x\"", "t.toml:6:8: error: `x` is not an integer"),
        (
            "args = [\"i8\", \"i8\", \"i8\", \"i8\", \"i8\", \"i8\", \"i8\"]",
            "t.toml:5:45: error: too many arguments",
        ),
    ];
    for (keys, want) in properties {
        let text = format!(
            "[[property]]\nname = \"p\"\nasm = \"ret\"\nreference = \"ret\"\n{keys}\n\n[[case]]\nname = \"b\"\nasm = \"ret\"\n"
        );
        let file = VectorFile::parse(Path::new("t.toml"), &text);
        let got = file.errors.first().map(|e| e.to_string()).unwrap_or_default();
        assert!(got.starts_with(want), "{keys}\n  got:  {got}\n  want: {want}...");
        assert_eq!((file.cases.len(), file.properties.len()), (1, 0), "{keys}");
    }
}

#[test]
fn a_property_finds_a_wrong_snippet_and_shrinks_the_counterexample() {
    let report = run(r#"
[[property]]
name = "max_by_cmov"
asm = "mov rax, rdi; cmp rdi, rsi; cmovl rax, rsi; ret"
reference = "mov rax, rdi; cmp rdi, rsi; jge done; mov rax, rsi; done: ret"
args = ["i64", "i64"]

[[property]]
name = "max_unsigned_compare"
# Wrong for signed inputs: cmovb compares unsigned.
asm = "mov rax, rdi; cmp rdi, rsi; cmovb rax, rsi; ret"
reference = "mov rax, rdi; cmp rdi, rsi; jge done; mov rax, rsi; done: ret"
args = [{ range = [-1000, 1000] }, { range = [-1000, 1000] }]
runs = 200
seed = 7
"#);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let lines = lines(&report);
    assert!(lines[0].starts_with("PASS max_by_cmov: held on "), "{}", lines[0]);
    // The smallest inputs that tell signed from unsigned: one negative, the other 0.
    assert!(
        lines[1].starts_with("FAIL max_unsigned_compare: counterexample (-1, 0): asm returned -1 (0xffffffffffffffff), reference returned 0 (0x0)")
            || lines[1].starts_with("FAIL max_unsigned_compare: counterexample (0, -1): asm returned -1 (0xffffffffffffffff), reference returned 0 (0x0)"),
        "{}",
        lines[1]
    );
    let snapshot = report.snapshot();
    assert!(
        snapshot.contains("## max_unsigned_compare (property): FAIL\nasm:\n"),
        "{snapshot}"
    );
    assert!(snapshot.contains("reference:\n"), "{snapshot}");
}

#[test]
fn a_property_side_that_faults_hangs_or_breaks_is_reported_with_its_input() {
    // The case first puts a 3-byte buffer and 256 bytes of xmm registers in the shared areas, so the properties'
    // inputs after it lie at odd offsets.
    let report = run(r#"
[[case]]
name = "odd_buffer"
asm = "movq xmm15, rdi; mov byte ptr [rdi], 9; ret"
memory = "00 11 22"
memory_after = "09 11 22"
state = true

[[property]]
name = "divides"
asm = "mov rax, rdi; cqo; idiv rsi; ret"
reference = "mov rax, rdi; ret"
args = [{ range = [1, 9] }, { range = [0, 3] }]

[[property]]
name = "hangs"
asm = "mov rax, rdi; ret"
reference = "cmp edi, 200; je hang; mov rax, rdi; ret; hang: jmp hang"
args = ["u8"]
timeout_ms = 50

[[property]]
name = "clobbers"
asm = "mov rax, rdi; mov r12, 1; ret"
reference = "mov rax, rdi; ret"
args = ["u8"]

[[property]]
name = "memory"
asm = "mov byte ptr [rdi], sil; ret"
reference = "mov byte ptr [rdi], 7; ret"
args = ["u8"]
memory = "00"

[[property]]
name = "after"
asm = "mov eax, edi; ret"
reference = "mov rax, rdi; ret"
args = ["u32"]
returns = "u32"
"#);
    let lines = lines(&report);
    assert!(lines[0].starts_with("PASS odd_buffer"), "{}", lines[0]);
    assert!(
        report.snapshot().contains("  xmm15 0000000000000000_0000"),
        "{}",
        report.snapshot()
    );
    assert_eq!(
        lines[1],
        "FAIL divides: counterexample (1, 0): asm faulted: SIGFPE at +0x5: idiv rsi"
    );
    assert_eq!(
        lines[2],
        "FAIL hangs: counterexample (200): reference timed out after 50 ms"
    );
    assert!(
        lines[3].starts_with(
            "FAIL clobbers: counterexample (0): asm broke the calling convention: `r12` changed from its canary to 0x1"
        ),
        "{}",
        lines[3]
    );
    assert_eq!(
        lines[4],
        "FAIL memory: counterexample (0): asm left memory 00, reference left 07"
    );
    assert!(lines[5].starts_with("PASS after: held on "), "{}", lines[5]);
}

#[test]
fn runs_on_several_workers_give_the_same_outcomes_as_one() {
    let mut text = String::new();
    for i in 0..300 {
        let body = match i % 5 {
            0 => format!("mov rax, {i}; ret"),
            1 => "xor ecx, ecx; div rcx; ret".to_string(),
            2 => "xor ebx, ebx; ret".to_string(),
            3 => format!("lea rax, [rdi + {i}]; ret"),
            _ => "ud2".to_string(),
        };
        text.push_str(&format!("[[case]]\nname = \"c{i}\"\nasm = \"{body}\"\nargs = [1]\n\n"));
    }
    text.push_str("[[property]]\nname = \"p\"\nasm = \"lea rax, [rdi + rdi]; ret\"\nreference = \"mov rax, rdi; shl rax, 1; ret\"\nargs = [\"i64\"]\n");
    let file = VectorFile::parse(Path::new("t.toml"), &text);
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    let one = run_file_on(&file, 1);
    let two = run_file_on(&file, 2);
    assert!(matches!(one.1[0], rustyjit::vectors::Outcome::Held(_)), "{:?}", one.1);
    // Fault addresses differ between worker processes; the snapshot text does not.
    let (one, two) = (
        FileReport::new(&file, &one.0, &one.1),
        FileReport::new(&file, &two.0, &two.1),
    );
    assert!(one.snapshot() == two.snapshot(), "one and two workers differ");
    assert_eq!(two.counts(), (121, 180));
}

#[test]
fn damaged_vector_files_are_errors_never_panics() {
    // Every bundled file, damaged at random places (a byte replaced by one that matters to TOML or to the
    // format, or a line cut), read 100 times each: the reader reports errors with positions inside the text.
    let interesting = b"=[]{}\"',.#\n -0123456789xfaeinr";
    let mut rng = rustyjit::vectors::Rng::new(12);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "toml"));
    assert!(files.len() >= 10, "{files:?}");
    for path in files {
        let text = std::fs::read(&path).unwrap();
        for _ in 0..100 {
            let mut damaged = text.clone();
            for _ in 0..=(rng.next_u64() % 3) {
                let at = (rng.next_u64() % damaged.len() as u64) as usize;
                if rng.next_u64().is_multiple_of(4) {
                    damaged.truncate(at);
                    break;
                }
                damaged[at] = interesting[(rng.next_u64() % interesting.len() as u64) as usize];
            }
            let Ok(damaged) = String::from_utf8(damaged) else {
                continue;
            };
            let file = VectorFile::parse(Path::new("t.toml"), &damaged);
            let lines = damaged.lines().count().max(1) + 1;
            for e in &file.errors {
                assert!(e.line >= 1 && e.line <= lines && e.col >= 1, "{e} in\n{damaged}");
            }
        }
    }
}

/// A case that closes every descriptor it can (`close(3)` .. `close(1023)` by system call), the pipe its worker
/// reports on included. The worker goes on with the next case.
const CLOSES_EVERY_DESCRIPTOR: &str = r#"
[[case]]
name = "closes_every_descriptor"
asm = """
mov edi, 3
top:
mov eax, 3
syscall
inc edi
cmp edi, 1024
jne top
xor eax, eax
ret
"""
returns = 0
"#;

/// `count` cases that each spin a while and return their number, then one that fails.
fn busy_cases(count: usize) -> String {
    let mut text = String::new();
    for i in 0..count {
        let spin = "mov ecx, 100000; l: dec ecx; jnz l";
        text.push_str(&format!(
            "\n[[case]]\nname = \"busy_{i}\"\nasm = \"{spin}; mov eax, {i}; ret\"\nreturns = {i}\n"
        ));
    }
    text + "\n[[case]]\nname = \"last\"\nasm = \"mov eax, 1; ret\"\nreturns = 2\n"
}

#[test]
fn a_case_that_closes_the_workers_pipe_leaves_every_other_case_its_outcome() {
    // The worker finishes the cases after it without a pipe; the harness, which saw the pipe end, must not take
    // them for unfinished (it reported them all as crashed when the pipe's end came before the worker's).
    let file = VectorFile::parse(
        Path::new("t.toml"),
        &(CLOSES_EVERY_DESCRIPTOR.to_string() + &busy_cases(30)),
    );
    for workers in [1, 2, 1] {
        let (cases, _) = run_file_on(&file, workers);
        let report = FileReport::new(&file, &cases, &[]);
        let lines = lines(&report);
        assert_eq!(report.counts(), (31, 1), "{workers} workers: {lines:#?}");
        assert_eq!(lines[31], "FAIL last: returned 1 (0x1), expected 2 (0x2)");
    }
    // A fault after it is reported as that case's fault (it once showed as the worker's exit), and a case that
    // hangs times out, rather than the harness waiting for the worker for ever.
    let segv = "\n[[case]]\nname = \"segv\"\nasm = \"mov rax, qword ptr [0x10]; ret\"\nfault = \"SIGSEGV\"\n";
    let hang = "\n[[case]]\nname = \"hang\"\nasm = \"top: jmp top\"\ntimeout_ms = 100\n";
    let again = CLOSES_EVERY_DESCRIPTOR.replace("closes_every_descriptor", "closes_again");
    let text = [CLOSES_EVERY_DESCRIPTOR, segv, &again, hang, &busy_cases(3)].concat();
    let report = run(&text);
    assert_eq!(
        lines(&report)[..5],
        [
            "PASS closes_every_descriptor: returned 0 (0x0)",
            "PASS segv: SIGSEGV at +0x0: mov rax, qword ptr [0x10]",
            "PASS closes_again: returned 0 (0x0)",
            "FAIL hang: timed out after 100 ms",
            "PASS busy_0: returned 0 (0x0)",
        ]
    );
    assert_eq!(report.counts(), (6, 2));
}

#[test]
fn a_case_or_property_without_an_outcome_fails() {
    // The harness fills every outcome; should one ever be missing, the report must not count it as passed (it did).
    let text = "[[case]]\nname = \"c\"\nasm = \"ret\"\n\n[[property]]\nname = \"p\"\nasm = \"mov rax, rdi; ret\"\n\
                reference = \"mov rax, rdi; ret\"\nargs = [\"i64\"]\n";
    let file = VectorFile::parse(Path::new("t.toml"), text);
    let report = FileReport::new(&file, &[Outcome::NotRun], &[Outcome::NotRun]);
    assert_eq!(report.counts(), (0, 2));
    assert_eq!(
        lines(&report),
        [
            "FAIL c: not run: the harness received no outcome for it",
            "FAIL p: not run: the harness received no outcome for it",
        ]
    );
    // A case with errors is not run either; its errors are its failure.
    let file = VectorFile::parse(Path::new("t.toml"), "[[case]]\nname = \"bad\"\nasm = \"frob rax\"\n");
    let report = FileReport::new(&file, &[Outcome::NotRun], &[]);
    assert!(lines(&report)[0].starts_with("FAIL bad: "), "{:?}", lines(&report));
    assert!(!lines(&report)[0].contains("no outcome"), "{:?}", lines(&report));
}
