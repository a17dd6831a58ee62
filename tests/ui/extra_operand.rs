// One operand too many: no form has three operands; the error covers the operands.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, 1, 2 };
}
