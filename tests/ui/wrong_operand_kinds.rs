// Operands that match no form: the error shows the operands as classified and the forms.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, bl };
}
