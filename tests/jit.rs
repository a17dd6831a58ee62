//! `jit!` as a user writes it: the same bytes as the runtime assembler, labels and relaxed jumps, runtime values of
//! every immediate width patched in and executed, line breaks as separators, and blocks built by `macro_rules!`.

use rustyjit::{Code, assemble, jit};

/// The runtime assembler's bytes, labels and listing offsets for the same text.
fn assert_same_as_runtime(code: &Code, text: &str) {
    let runtime = assemble(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(code.bytes(), runtime.bytes(), "{text}");
    assert_eq!(code.labels(), runtime.labels(), "{text}");
    let spans = |c: &Code| c.entries().iter().map(|e| (e.offset, e.len)).collect::<Vec<_>>();
    assert_eq!(spans(code), spans(&runtime), "{text}");
}

#[test]
fn blocks_give_the_runtime_assemblers_bytes() {
    let cases: [(Code, &str); 10] = [
        (jit! { mov rax, 3; ret }, "mov rax, 3; ret"),
        (jit! { MOV RAX, 0X3; RET }, "MOV RAX, 0X3; RET"),
        (
            jit! { mov rax, rdi; add rax, rsi; ret },
            "mov rax, rdi; add rax, rsi; ret",
        ),
        (
            jit! { add qword ptr [rbx + rcx*8 - 16], -1; lea rax, [rip + 0x10]; mov eax, dword [8*rdx + 4] },
            "add qword ptr [rbx + rcx*8 - 16], -1; lea rax, [rip + 0x10]; mov eax, dword [8*rdx + 4]",
        ),
        (
            jit! { imul rax, rbx, 3; shl rax, 1; sar ecx, cl; movzx eax, byte ptr [rsi]; cqo; idiv r9 },
            "imul rax, rbx, 3; shl rax, 1; sar ecx, cl; movzx eax, byte ptr [rsi]; cqo; idiv r9",
        ),
        (
            jit! { mov rax, 0xffffffffffffffff; mov rcx, 0x1_0000_0000; add eax, 0xffffffff; push -129 },
            "mov rax, 0xffffffffffffffff; mov rcx, 0x1_0000_0000; add eax, 0xffffffff; push -129",
        ),
        (
            jit! { .byte 1, 0xff; .quad -1; db 0b1010; dw 0x1234; .long 7 },
            ".byte 1, 0xff; .quad -1; db 0b1010; dw 0x1234; .long 7",
        ),
        (
            jit! { movsd xmm0, qword ptr [rdi]; addsd xmm0, xmm1; cvttsd2si rax, xmm0; ret },
            "movsd xmm0, qword ptr [rdi]; addsd xmm0, xmm1; cvttsd2si rax, xmm0; ret",
        ),
        (
            jit! { sete al; cmovne rax, rdx; bt rax, 63; popcnt r8, r9 },
            "sete al; cmovne rax, rdx; bt rax, 63; popcnt r8, r9",
        ),
        (
            jit! { mov spl, 1; mov ah, 2; xchg rax, r15; bswap r12d },
            "mov spl, 1; mov ah, 2; xchg rax, r15; bswap r12d",
        ),
    ];
    for (code, text) in &cases {
        assert_same_as_runtime(code, text);
    }
}

#[test]
fn any_delimiters_and_the_empty_block() {
    assert_eq!(jit!(ret).bytes(), [0xc3]);
    assert_eq!(jit![nop; ret].bytes(), [0x90, 0xc3]);
    let empty = jit! {};
    assert!(empty.is_empty() && empty.entries().is_empty());
}

#[test]
fn labels_are_resolved_and_jumps_relaxed_at_compile_time() {
    let code = jit! {
        xor eax, eax
        jmp far_away        // 200 bytes on: rel32
    back:
        ret
        .quad 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    far_away:
        inc eax
        jmp back            // 200 bytes back: rel32
        jz near             // rel8
    near:
        ret
    };
    assert_same_as_runtime(
        &code,
        "xor eax, eax; jmp far_away; back: ret; .quad 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
         0, 0, 0, 0; far_away: inc eax; jmp back; jz near; near: ret",
    );
    assert_eq!(code.bytes()[2], 0xe9, "a long jmp");
    assert_eq!(code.label("back"), Some(7));
    assert_eq!(code.label("far_away"), Some(208));
    assert_eq!(
        &code.bytes()[210..215],
        [0xe9, 0x30, 0xff, 0xff, 0xff],
        "jmp back: rel32 -208"
    );
    assert_eq!(&code.bytes()[215..217], [0x74, 0x00], "jz near: rel8");
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let f = code.load().unwrap();
        // SAFETY: the code jumps forward, increments eax and jumps back to `ret`; it touches no memory.
        assert_eq!(unsafe { f.call(&[]) }, 1);
    }
}

#[test]
fn a_block_is_static_data_until_a_runtime_value_is_patched_in() {
    let code = jit! { mov rax, 3; ret };
    assert_eq!(code.source(), "mov rax, 3; ret");
    assert_eq!(code.text(&code.entries()[1]), "ret");
    // `Code::from_static` is a const fn, so a block can initialise a `static`.
    static RETURN_SEVEN: Code = jit! { mov eax, 7; ret };
    assert_eq!(RETURN_SEVEN.bytes(), [0xb8, 7, 0, 0, 0, 0xc3]);
}

#[test]
fn line_breaks_separate_statements_and_entries_keep_the_rust_line() {
    let first = line!() + 2;
    let code = jit! {
        mov rax, rdi    // line `first`
        /* a block comment */ add rax, [rsp + 8
            + 8]        // a line break inside brackets is a space
    top: dec rax; jnz top
        ret
    };
    assert_same_as_runtime(
        &code,
        "mov rax, rdi\nadd rax, [rsp + 8 + 8]\ntop: dec rax; jnz top\nret",
    );
    assert_eq!(
        code.source(),
        "mov rax, rdi\nadd rax, [rsp + 8 + 8]\ntop: dec rax; jnz top\nret"
    );
    let lines: Vec<u32> = code.entries().iter().map(|e| e.line).collect();
    assert_eq!(lines, [first, first + 1, first + 3, first + 3, first + 4]);
    assert_eq!(
        code.listing().to_string(),
        "   0:  48 89 f8                mov rax, rdi\n   3:  48 03 44 24 10          add rax, [rsp + 8 + 8]\n   \
         8:                          top:\n   8:  48 ff c8                dec rax\n   b:  75 fb                   \
         jnz top\n   d:  c3                      ret\n"
    );
}

#[test]
fn spacing_is_kept_as_written() {
    let code = jit! { mov rax,3 ; lea rcx,[rax+rax*2-1];ret };
    assert_eq!(code.source(), "mov rax,3 ; lea rcx,[rax+rax*2-1];ret");
}

macro_rules! load_const {
    ($reg:ident, $value:expr) => {
        jit! { mov $reg, $value; ret }
    };
}

macro_rules! add_lines {
    ($a:expr, $b:expr) => {
        jit! {
            mov rax, $a
            add rax, $b
            ret
        }
    };
}

#[test]
fn blocks_built_by_macro_rules() {
    // Tokens from two places (the macro and its caller): `;` separates.
    assert_same_as_runtime(&load_const!(rcx, 0x10), "mov rcx, 0x10; ret");
    assert_same_as_runtime(&load_const!(al, -1), "mov al, -1; ret");
    // `$x:expr` stands where it is written, so the macro's own line breaks still count.
    assert_same_as_runtime(&add_lines!(rdi, 4), "mov rax, rdi; add rax, 4; ret");
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod runtime_values {
    use super::*;

    fn run(code: &Code, args: &[i64]) -> i64 {
        let f = code.load().unwrap();
        // SAFETY: every block in these tests computes in registers only and ends with `ret`.
        unsafe { f.call(args) }
    }

    #[test]
    fn imm32_in_mov_r32_is_an_i32() {
        let n: i32 = -5;
        let code = jit! { mov eax, {n}; ret };
        assert_eq!(code.bytes(), [0xb8, 0xfb, 0xff, 0xff, 0xff, 0xc3]);
        assert_eq!(run(&code, &[]), 0xffff_fffb, "a 32-bit mov zero-extends");
    }

    #[test]
    fn imm64_in_mov_r64_is_movabs_and_an_i64() {
        let big: i64 = 0x1234_5678_9abc_def0;
        let code = jit! { mov rax, {big}; ret };
        assert_eq!(&code.bytes()[..2], [0x48, 0xb8], "movabs rax, imm64");
        assert_eq!(code.len(), 11);
        assert_eq!(run(&code, &[]), big);
        let small = jit! { mov rax, {1i64}; ret };
        assert_eq!(small.len(), 11, "the form does not depend on the value");
    }

    #[test]
    fn imm32_in_add_r64_is_sign_extended() {
        let k: i32 = -1000;
        let code = jit! { mov rcx, rdi; add rcx, {k}; mov rax, rcx; ret };
        assert_eq!(&code.bytes()[3..10], [0x48, 0x81, 0xc1, 0x18, 0xfc, 0xff, 0xff]);
        assert_eq!(run(&code, &[5000]), 4000);
    }

    #[test]
    fn imm8_and_imm16() {
        let b: i8 = -1;
        let code = jit! { xor eax, eax; mov al, {b}; ret };
        assert_eq!(&code.bytes()[2..4], [0xb0, 0xff]);
        assert_eq!(run(&code, &[]), 255);

        let w: i16 = 0x1234;
        let code = jit! { xor eax, eax; mov ax, {w}; ret };
        assert_eq!(&code.bytes()[2..6], [0x66, 0xb8, 0x34, 0x12]);
        assert_eq!(run(&code, &[]), 0x1234);

        let s: i8 = 4;
        let code = jit! { mov rax, rdi; shl rax, {s}; ret };
        assert_eq!(&code.bytes()[3..7], [0x48, 0xc1, 0xe0, 4]);
        assert_eq!(run(&code, &[3]), 48);

        let pop: i16 = 16;
        assert_eq!(jit! { ret {pop} }.bytes(), [0xc2, 16, 0]);
    }

    #[test]
    fn several_values_any_expression_and_hygiene() {
        // Names the expansion uses inside cannot capture the user's.
        let code: i32 = 40;
        let value: i64 = 2;
        let f = jit! {
            mov eax, {code}
            mov rcx, {value}
            add rax, rcx
            add rax, {let two = 1 + 1; two * 10}
            ret
        };
        assert_eq!(run(&f, &[]), 62);
        // Only the patched code is owned; the static bytes stay as they were.
        let again = jit! { mov eax, {1}; ret };
        assert_eq!(again.bytes()[1], 1);
    }
}

/// Issue 15's first instructions through `jit!`: the bytes of the runtime assembler, and they run.
#[test]
fn atomics_strings_and_system_instructions_assemble_and_run() {
    let cases: [(Code, &str); 4] = [
        (
            jit! { lock xadd qword ptr [rdi], rsi; mov rax, rsi; ret },
            "lock xadd qword ptr [rdi], rsi; mov rax, rsi; ret",
        ),
        (
            jit! { mov rcx, rdx; rep movsb; mov rax, rdi; ret },
            "mov rcx, rdx; rep movsb; mov rax, rdi; ret",
        ),
        (
            jit! { lfence; rdtsc; shl rdx, 32; or rax, rdx; ret },
            "lfence; rdtsc; shl rdx, 32; or rax, rdx; ret",
        ),
        (jit! { mov eax, 39; syscall; ret }, "mov eax, 39; syscall; ret"),
    ];
    for (code, text) in &cases {
        assert_same_as_runtime(code, text);
    }
    let [xadd, copy, clock, getpid] = cases.map(|(code, _)| code.load().expect("loads"));
    let mut counter: u64 = 40;
    // SAFETY: a System V function of a pointer to a u64 (valid, unaliased) and a value; it returns the old value.
    let old = unsafe { xadd.call(&[&raw mut counter as i64, 2]) };
    assert_eq!((old, counter), (40, 42));
    let (from, mut to) = (*b"copied by rep movsb", [0u8; 19]);
    // SAFETY: copies `from.len()` bytes from `from` to `to`, both that long; returns the end of `to`.
    let end = unsafe { copy.call(&[to.as_mut_ptr() as i64, from.as_ptr() as i64, from.len() as i64]) };
    assert_eq!((&to, end), (&from, to.as_ptr() as i64 + 19));
    // SAFETY: reads the time-stamp counter; no memory is touched.
    let (t0, t1) = unsafe { (clock.call(&[]), clock.call(&[])) };
    assert!(t1 > t0, "{t0} then {t1}");
    // SAFETY: the getpid system call (39) touches no memory and cannot fail.
    assert_eq!(unsafe { getpid.call(&[]) }, i64::from(std::process::id()));
}
