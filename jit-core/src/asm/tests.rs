//! One-line byte tests: each line's expected bytes are GNU as 2.40's (`as --64`, `.intel_syntax noprefix`).
//! The exhaustive comparison is `jit-core/tests/gnu_as.rs`; these pin the interesting cases where a reader sees them.

use super::*;

#[track_caller]
fn check_bytes(hex: &str, src: &str) {
    let code = assemble(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let got = crate::Hex::new(code.bytes(), "").to_string();
    assert_eq!(got, hex, "{src}");
}

#[track_caller]
fn check_error(src: &str, message: &str) {
    let errors = assemble(src).expect_err(src);
    assert_eq!(errors.to_string().trim_end(), message, "{src}");
}

#[test]
fn the_walk_through() {
    check_bytes("48c7c003000000", "mov rax, 0x3");
    check_bytes("48c7c003000000c3", "MOV RAX, 0X3\nRET");
}

#[test]
fn gnu_picks_the_shortest_form() {
    check_bytes("4889d8", "mov rax, rbx");
    check_bytes("b8ffffffff", "mov eax, 0xffffffff");
    check_bytes("48b8ffffffff00000000", "mov rax, 0xffffffff");
    check_bytes("48c7c0ffffffff", "mov rax, 0xffffffffffffffff");
    check_bytes("48b80000000000000080", "mov rax, 0x8000000000000000");
    check_bytes("48b80100000000000000", "movabs rax, 1");
    check_bytes("0401", "add al, 1");
    check_bytes("4883c001", "add rax, 1");
    check_bytes("480500010000", "add rax, 256");
    check_bytes("83c0ff", "add eax, 0xffffffff");
    check_bytes("4883c080", "add rax, 0xffffffffffffff80");
    check_bytes("6683e080", "and ax, 0xff80");
    check_bytes("3cff", "cmp al, -1");
    check_bytes("a801", "test al, 1");
    check_bytes("4885d8", "test rax, rbx");
    check_bytes("488518", "test rbx, qword ptr [rax]");
    check_bytes("48d1e0", "shl rax, 1");
    check_bytes("48d1e0", "sal rax, 1");
    check_bytes("c1e0c8", "shl eax, 200");
    check_bytes("48d3e8", "shr rax, cl");
    check_bytes("486bc005", "imul rax, 5");
    check_bytes("4869c0f4010000", "imul rax, rax, 500");
    check_bytes("6aff", "push -1");
    check_bytes("6aff", "push 0xffffffffffffffff");
    check_bytes("6880000000", "push 0x80");
    check_bytes("ff30", "push [rax]");
    check_bytes("4154", "push r12");
    check_bytes("6650", "push ax");
    check_bytes("c2ffff", "ret 0xffff");
}

#[test]
fn xchg_and_the_accumulator() {
    check_bytes("87c0", "xchg eax, eax");
    check_bytes("90", "xchg rax, rax");
    check_bytes("6690", "xchg ax, ax");
    check_bytes("93", "xchg ebx, eax");
    check_bytes("93", "xchg eax, ebx");
    check_bytes("4990", "xchg rax, r8");
    check_bytes("4887cb", "xchg rbx, rcx");
    check_bytes("488718", "xchg rbx, qword ptr [rax]");
}

#[test]
fn rex_rules() {
    check_bytes("88e0", "mov al, ah");
    check_bytes("400f92c6", "setc sil");
    check_bytes("4088f8", "mov al, dil");
    check_bytes("4488c0", "mov al, r8b");
    check_bytes("66f30fb8c1", "popcnt ax, cx");
    check_bytes("f3480fbdc1", "lzcnt rax, rcx");
    check_error("mov ah, sil", "1:9: error: `ah` cannot be used in an instruction that needs a REX prefix (a register r8-r15, spl, bpl, sil, dil or a 64-bit operand); use the low byte of another register instead".replace("1:9", "1:5").as_str());
    check_error(
        "movzx rax, bh",
        "1:12: error: `bh` cannot be used in an instruction that needs a REX prefix (a register r8-r15, spl, bpl, sil, dil or a 64-bit operand); use the low byte of another register instead",
    );
}

#[test]
fn addressing() {
    check_bytes("488b041c", "mov rax, qword ptr [rbx + rsp]");
    check_bytes("488b042500100000", "mov rax, qword ptr [0x1000]");
    check_bytes("8b4500", "mov eax, dword ptr [rbp]");
    check_bytes("498d4500", "lea rax, [r13]");
    check_bytes("488b044d00000000", "mov rax, qword ptr [rcx*2]");
    check_bytes("488b0500000000", "mov rax, [rip]");
    check_bytes("8b0425ffffffff", "mov eax, [-1]");
    check_bytes("48c700ffffffff", "mov qword ptr [rax], 0xffffffffffffffff");
    check_bytes("c744240801000000", "mov dword [rsp + 8], 1");
    check_bytes("428b44a5f8", "mov eax, [rbp + r12*4 - 8]");
}

#[test]
fn sse() {
    check_bytes("f30f7ec1", "movq xmm0, xmm1");
    check_bytes("66480f6ec0", "movq xmm0, rax");
    check_bytes("66480f7ec0", "movq rax, xmm0");
    check_bytes("f30f7e00", "movq xmm0, qword ptr [rax]");
    check_bytes("660fd600", "movq qword ptr [rax], xmm0");
    check_bytes("f2480f2ac0", "cvtsi2sd xmm0, rax");
    check_bytes("f20f10c1", "movsd xmm0, xmm1");
    check_bytes("f2450f58c7", "addsd xmm8, xmm15");
}

#[test]
fn labels_and_relaxation() {
    check_bytes("ebfe", "top: jmp top");
    check_bytes("b90a000000ffc975fc", "mov ecx, 10\ntop: dec ecx\njnz top");
    check_bytes("e800000000c3", "call f\nf: ret");
    check_bytes("488d0500000000c3", "lea rax, [rip + x]\nx: ret");
    check_bytes("488b0501000000c3c3", "mov rax, qword ptr [rip + x + 1]\nx: ret\nret");
    // 127 bytes of nops: the short form still reaches; 128 do not.
    let nops = |n| "nop\n".repeat(n);
    let near = assemble(&format!("jmp end\n{}end: ret", nops(127))).unwrap();
    assert_eq!(&near.bytes()[..2], [0xeb, 0x7f]);
    let far = assemble(&format!("jmp end\n{}end: ret", nops(128))).unwrap();
    assert_eq!(&far.bytes()[..5], [0xe9, 0x80, 0, 0, 0]);
    let back = assemble(&format!("top: {}je top", nops(126))).unwrap();
    assert_eq!(&back.bytes()[126..], [0x74, 0x80]);
    let back = assemble(&format!("top: {}je top", nops(127))).unwrap();
    assert_eq!(&back.bytes()[127..], [0x0f, 0x84, 0x7b, 0xff, 0xff, 0xff]);
    // Growing the second jump pushes the first out of reach.
    let chain = assemble(&format!("jmp a\njmp b\n{}a: {}b: ret", nops(124), nops(4))).unwrap();
    assert_eq!(&chain.bytes()[..10], [0xe9, 0x81, 0, 0, 0, 0xe9, 0x80, 0, 0, 0]);
}

#[test]
fn listing_labels_and_patches_move_with_the_jumps_before_them() {
    // A short jump, a long one (over 130 bytes of `nop`), a rip-relative load and a hole after them.
    let src = format!(
        "start: jmp mid\njmp end\nmid: lea rax, [rip + end]\nmov eax, {{0}}\n{}end: ret",
        "nop\n".repeat(130)
    );
    let a = assemble_with_holes(&src).unwrap();
    let code = &a.code;
    let offsets: Vec<(u32, u32, u32)> = code
        .entries()
        .iter()
        .take(4)
        .map(|e| (e.offset, e.len, e.line))
        .collect();
    assert_eq!(offsets, [(0, 2, 1), (2, 5, 2), (7, 7, 3), (14, 5, 4)]);
    assert_eq!(code.text(&code.entries()[2]), "lea rax, [rip + end]");
    let end = 19 + 130;
    let labels: Vec<(&str, u32)> = code.labels().iter().map(|l| (&*l.name, l.offset)).collect();
    assert_eq!(labels, [("start", 0), ("mid", 7), ("end", end)]);
    assert_eq!(&code.bytes()[..7], [0xeb, 0x05, 0xe9, 0x8e, 0, 0, 0]);
    // lea's disp32 reaches `end` from the end of the lea (offset 14).
    assert_eq!(code.bytes()[10..14], ((end - 14) as i32).to_le_bytes());
    assert_eq!((a.holes[0].offset, a.holes[0].bytes), (15, 4));
    // The bytes alone are the same bytes.
    assert_eq!(assemble_bytes(&src.replace("{0}", "0")).unwrap(), code.bytes());
}

#[test]
fn data() {
    check_bytes(
        "0102ffff3412efbeadde8877665544332211",
        "db 1, 2, -1\n.byte 255\n.word 0x1234\ndd 0xdeadbeef\n.quad 0x1122334455667788",
    );
}

#[test]
fn errors_say_what_would_be_right() {
    check_error(
        "mov rax, bl",
        "1:10: error: `mov` has no form `mov r64, r8`; expected one of: mov r/m8, r8; mov r/m16, r16; mov r/m32, r32; mov r/m64, r64; mov r8, r/m8; mov r16, r/m16; mov r32, r/m32; mov r64, r/m64; mov r8, imm8; mov r16, imm16; mov r32, imm32; mov r64, imm64; mov r/m8, imm8; mov r/m16, imm16; mov r/m32, imm32; mov r/m64, imm32",
    );
    check_error(
        "add al, 256",
        "1:9: error: immediate 256 is out of range; it must be between -128 and 255",
    );
    check_error(
        "add al, -129",
        "1:9: error: immediate -129 is out of range; it must be between -128 and 255",
    );
    check_error(
        "add rax, 0xffffffff",
        "1:10: error: immediate 4294967295 is out of range; it must be between -2147483648 and 2147483647",
    );
    check_error(
        "inc [rax]",
        "1:5: error: operand size of `inc` is ambiguous; write `byte ptr`, `word ptr`, `dword ptr` or `qword ptr` before the memory operand",
    );
    check_error(
        "ret 1, 2",
        "1:8: error: `ret` has no form `ret imm, imm`; expected one of: ret; ret imm16",
    );
    check_error(
        "jmp nowhere",
        "1:5: error: label `nowhere` is not defined; define it with `nowhere:`",
    );
    check_error(
        "a: nop\na: nop",
        "2:1: error: label `a` is already defined; rename one of them",
    );
    check_error("frob rax", "1:1: error: unknown instruction `frob`");
    check_error(
        "mov eax, [0xffffffff]",
        "1:10: error: invalid memory operand: the displacement 4294967295 does not fit a signed 32-bit displacement",
    );
}

#[test]
fn all_errors_are_reported_in_order() {
    let errors = assemble("jmp x\nmov rax, bl\nadd al, 256\nfoo\n[").unwrap_err();
    let lines: Vec<u32> = errors.iter().map(|e| e.span.line).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5]);
}
