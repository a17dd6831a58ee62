//! The walk-through's program ("Building a simple JIT in Rust"), with rustyjit's [`JitMemory`]: take a page of
//! executable memory filled with `ret`, write the seven bytes of `mov rax, 3` into it by index, call it, print `3`.
//!
//! Run it with `cargo run --example hello`.

use rustyjit::JitMemory;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One page (the system's page size, not an assumed 4096 bytes), every byte 0xc3 (`ret`), readable, writable
    // and executable. Failing libc calls come back as an error, not a crash.
    let mut m = JitMemory::new(1)?;

    // mov rax, 3 -- put the return value in rax, where the System V ABI returns integers.
    m[0] = 0x48; // REX.W prefix: 64-bit operand
    m[1] = 0xc7; // MOV r/m64, imm32
    m[2] = 0xc0; // ModRM: register rax
    m[3] = 0x03; // imm32 = 3, little-endian
    m[4] = 0x00;
    m[5] = 0x00;
    m[6] = 0x00;
    // m[7] is already 0xc3 (`ret`): the fill ends the function.

    // What the walk-through read with the debugger's `memory read`: the code, then `ret` to the end of the page.
    print!("{}", m.dump());

    // SAFETY: the memory holds `mov rax, 3; ret`, a complete function under the System V ABI that takes no
    // arguments and returns an i64 in rax; it is executable, and `m` lives until after the call.
    let mov_rax_3 = unsafe { std::mem::transmute::<*const u8, extern "sysv64" fn() -> i64>(m.as_ptr()) };
    println!("{}", mov_rax_3());
    Ok(())
}
