// A float literal is not an operand.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, 1.5 };
}
