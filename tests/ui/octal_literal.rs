// An octal literal: the assembler reads decimal, hex and binary only.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov eax, 0o17 };
}
