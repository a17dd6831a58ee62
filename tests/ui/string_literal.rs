// A string literal is not an operand.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, "rax" };
}
