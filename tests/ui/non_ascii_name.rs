// A character the assembler does not know: the error is on that token.
use rustyjit::jit;

fn main() {
    let _ = jit! { jmp é };
}
