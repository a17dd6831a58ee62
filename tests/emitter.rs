//! The emitter through `jit!(e; ...)`: the example, runtime registers and values, labels across
//! fragments, and errors with the fragment's location.

use rustyjit::{Emitter, R8, R64, assemble, jit};

#[test]
fn the_sum_loop_runs_and_matches_its_text() {
    let mut e = Emitter::new();
    let (acc, n) = (R64::RAX, R64::RDI);
    let top = e.new_label();
    let done = e.new_label();
    jit!(e; xor {acc: r64}, {acc: r64}; test {n: r64}, {n: r64}; jz {done});
    e.bind(top);
    jit!(e; add {acc: r64}, {n: r64}; dec {n: r64}; jnz {top});
    e.bind(done);
    jit!(e; ret);
    let code = e.finish().unwrap();
    let text =
        assemble("xor rax, rax; test rdi, rdi; jz done; top: add rax, rdi; dec rdi; jnz top; done: ret").unwrap();
    assert_eq!(code.bytes(), text.bytes());
    let f = code.load().unwrap();
    // SAFETY: the code is a System V function of one integer argument.
    assert_eq!(unsafe { f.call(&[100]) }, 5050);
}

#[test]
fn runtime_values_memory_and_rip_labels() {
    let mut e = Emitter::new();
    let (base, index, out) = (R64::RDI, R64::RSI, R64::RAX);
    let (k, d) = (1_000_000i32, 16i32);
    let table = e.new_label();
    jit!(e;
        mov {out: r64}, [{base: r64} + {index: r64}*8 + {d}]
        add {out: r64}, {k}
        add {out: r64}, [rip + {table}]
        ret
    );
    e.align(8);
    e.bind(table);
    e.push_bytes(&7u64.to_le_bytes());
    let code = e.finish().unwrap();
    // The text's displacement and immediate need 32 bits, as runtime ones take; their bytes are then the
    // runtime values'.
    let text = assemble(
        "mov rax, [rdi + rsi*8 + 0x1000]; add rax, 0x12345678; add rax, [rip + table]; ret\n\
         .byte 0xc3, 0xc3\ntable: .quad 7",
    );
    let mut want = text.unwrap().bytes().to_vec();
    want[4..8].copy_from_slice(&d.to_le_bytes());
    want[10..14].copy_from_slice(&k.to_le_bytes());
    assert_eq!(code.bytes(), want);
    assert_eq!(code.label_offset(table), Some(24));
    let data = [0u64, 0, 5, 11];
    let f = code.load().unwrap();
    // SAFETY: reads data[base + index*8 + 16] = data[index + 2] with index 1: 11, plus k, plus the table's 7.
    let got = unsafe { f.call(&[data.as_ptr() as i64, 1]) };
    assert_eq!(got, 11 + 1_000_000 + 7);
}

#[test]
fn a_fragment_emitted_twice_gets_fresh_local_labels() {
    let mut e = Emitter::new();
    for r in [R64::RAX, R64::RCX] {
        jit!(e; mov {r: r64}, 3; again: dec {r: r64}; jnz again);
    }
    jit!(e; ret);
    let code = e.finish().unwrap();
    let text = assemble("mov rax, 3; a: dec rax; jnz a; mov rcx, 3; b: dec rcx; jnz b; ret").unwrap();
    // `mov r64, {imm}` with a constant takes the shortest form in both.
    assert_eq!(code.bytes(), text.bytes());
}

#[test]
fn errors_name_the_jit_call_and_the_instruction_with_its_registers() {
    let mut e = Emitter::new();
    let high = rustyjit::R8::AH;
    let line = line!() + 1;
    jit!(e; mov {high: r8}, r9b);
    let never = e.new_label();
    jit!(e; jmp {never});
    let twice = e.new_label();
    e.bind(twice);
    let bind_line = line!() + 1;
    e.bind(twice);
    let other = Emitter::new().new_label();
    jit!(e; call {other});
    let errors = e.finish().unwrap_err();
    let messages: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(
        messages[0].starts_with(&format!("{}:{line}:5: `mov ah, r9b`: ", file!())) && messages[0].contains("REX"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].starts_with(&format!("{}:{bind_line}:7: ", file!())),
        "{}",
        messages[1]
    );
    assert!(messages[1].ends_with("the label is already bound"), "{}", messages[1]);
    assert!(
        messages[2].ends_with("`call label#0`: the label belongs to another emitter"),
        "{}",
        messages[2]
    );
    assert!(
        messages[3].contains("`jmp label#0`: the label is used but never bound"),
        "{}",
        messages[3]
    );
}

#[test]
fn one_code_with_several_entry_points() {
    let mut e = Emitter::new();
    let (double, square) = (e.new_label(), e.new_label());
    let x = R64::RDI;
    e.bind(double);
    jit!(e; lea rax, [{x: r64} + {x: r64}]; ret);
    e.align(16);
    e.bind(square);
    jit!(e; mov rax, {x: r64}; imul rax, {x: r64}; ret);
    let code = e.finish().unwrap();
    let (d, s) = (code.label_offset(double).unwrap(), code.label_offset(square).unwrap());
    assert_eq!((d, s), (0, 16));
    assert_eq!(code.label_offset(Emitter::new().new_label()), None);
    let f = code.load().unwrap();
    // SAFETY: both entry points are System V functions of one integer argument.
    unsafe {
        assert_eq!(f.call_at(d, &[21]), Some(42));
        assert_eq!(f.call_at(s, &[9]), Some(81));
        assert_eq!(f.call_at(code.len(), &[9]), None);
    }
    let arena = rustyjit::Arena::new();
    let first = arena.load(&code).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { first.at(s).unwrap().call(&[7]) }, 49);
}

#[test]
fn the_listing_shows_runtime_values_and_where_each_fragment_was_written() {
    let mut e = Emitter::new();
    let (r, k) = (R64::R12, 40i32);
    let done = e.new_label();
    let line = line!() + 1;
    jit!(e; mov {r: r64}, rdi; add {r: r64}, {k}; jz {done});
    e.bind(done);
    jit!(e; mov rax, {r: r64}; ret);
    let code = e.finish().unwrap();
    let listing = code.listing().to_string();
    let at = |l: u32, c: u32| format!("# {}:{l}:{c}", file!());
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 6, "{listing}");
    assert!(
        lines[0].starts_with("   0:  49 89 fc") && lines[0].contains("mov r12, rdi"),
        "{listing}"
    );
    assert!(lines[0].ends_with(&at(line, 5)), "{listing}");
    assert!(
        lines[1].contains("49 81 c4 28 00 00 00") && lines[1].contains("add r12, 40"),
        "{listing}"
    );
    assert!(
        lines[2].contains("74 00") && lines[2].contains("jz label#0"),
        "{listing}"
    );
    assert!(lines[3].ends_with("label#0:"), "{listing}");
    assert!(
        lines[4].contains("mov rax, r12") && lines[4].ends_with(&at(line + 2, 5)),
        "{listing}"
    );
    // A fault's offset maps to its instruction and `jit!` call.
    let entry = code.entry_at(8).unwrap();
    assert_eq!((entry.offset, entry.line), (3, line));
}

#[test]
fn the_listing_reads_back_every_kind_of_runtime_value() {
    let mut e = Emitter::new();
    let (back, ahead) = (e.new_label(), e.new_label());
    let (byte, m8, m16, m32, m64, d) = (R8::SIL, -5i8, -300i16, -70_000i32, -(1i64 << 40), -8i32);
    jit!(e; add {byte: r8}, {m8}; jmp {ahead});
    e.bind(back);
    jit!(e; mov ax, {m16}; add eax, {m32}; mov rax, {m64}; mov rcx, [rbx + {d}]; jmp {back});
    e.bind(ahead);
    jit!(e; ret);
    let listing = e.finish().unwrap().listing().to_string();
    for want in [
        "add sil, -5",
        "jmp label#1",
        "mov ax, -300",
        "add eax, -70000",
        "mov rax, -1099511627776",
        "mov rcx, [rbx + -8]",
        "jmp label#0",
    ] {
        assert!(listing.contains(want), "{want} not in:\n{listing}");
    }
}

#[test]
fn each_error_shows_its_own_call_s_runtime_values() {
    let mut e = Emitter::new();
    let (wide, k) = (R64::R9, -3i32);
    jit!(e; add {wide: r64}, {k});
    let (high, low) = (R8::BH, R8::SIL);
    jit!(e; mov {high: r8}, {low: r8});
    jit!(e; add {wide: r64}, {k});
    let (other_high, other_low) = (R8::AH, R8::DIL);
    jit!(e; mov {other_low: r8}, {other_high: r8});
    let errors = e.finish().unwrap_err();
    let messages: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages[0].contains("`mov bh, sil`"), "{}", messages[0]);
    assert!(messages[1].contains("`mov dil, ah`"), "{}", messages[1]);
}

#[test]
fn a_prefixed_instruction_with_runtime_registers_is_its_text_and_runs() {
    let mut e = Emitter::new();
    let (ptr, value) = (R64::R9, R64::R10);
    jit!(e;
        mov {ptr: r64}, rdi
        mov {value: r64}, rsi
        lock xadd qword ptr [{ptr: r64} + 8], {value: r64}
        mov rax, {value: r64}
        ret
    );
    let code = e.finish().unwrap();
    let text = assemble("mov r9, rdi; mov r10, rsi; lock xadd qword ptr [r9 + 8], r10; mov rax, r10; ret").unwrap();
    assert_eq!(code.bytes(), text.bytes());
    let mut cells = [0u64, 5];
    let f = code.load().unwrap();
    // SAFETY: a System V function of a pointer to two u64s (valid) and a value; it returns the old second one.
    let old = unsafe { f.call(&[cells.as_mut_ptr() as i64, 3]) };
    assert_eq!((old, cells), (5, [0, 8]));
}

/// A VEX-encoded instruction with runtime registers in all four places (ModRM.reg, base, index, VEX.vvvv): the
/// inverted register bits of the VEX prefix are patched as the encoder writes them, for every register.
#[test]
fn vex_instructions_take_runtime_registers_everywhere() {
    let all = |n: u8| R64::new(n).expect("a register number below 16");
    for d in 0..16u8 {
        let (dst, base, index, count) = (all(d), all((d + 5) % 16), all((d + 9) % 16), all((d + 3) % 16));
        if index == R64::RSP {
            continue; // rsp cannot be an index
        }
        let mut e = Emitter::new();
        jit!(e;
            shlx {dst: r64}, qword ptr [{base: r64} + {index: r64}*8 + 16], {count: r64}
            pext {dst: r64}, {count: r64}, {base: r64}
            blsr {count: r64}, {index: r64}
        );
        let code = e.finish().unwrap();
        let text = format!(
            "shlx {dst}, qword ptr [{base} + {index}*8 + 16], {count}; pext {dst}, {count}, {base}; blsr {count}, {index}"
        );
        assert_eq!(code.bytes(), assemble(&text).unwrap().bytes(), "{text}");
    }
}

#[test]
fn a_bmi2_fragment_runs() {
    if !std::arch::is_x86_feature_detected!("bmi2") {
        eprintln!("skipped: this CPU has no BMI2");
        return;
    }
    let (value, mask) = (R64::R10, R64::R11);
    let mut e = Emitter::new();
    jit!(e; mov {value: r64}, rdi; mov {mask: r64}, rsi; pext rax, {value: r64}, {mask: r64}; ret);
    let f = e.finish().unwrap().load().unwrap();
    // SAFETY: a System V function of two integers; pext gathers the bits of the first the second selects.
    assert_eq!(unsafe { f.call(&[0b1011_0110, 0b1111_0000]) }, 0b1011);
}
