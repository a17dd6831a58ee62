// A two-operand instruction with one operand: the error lists the forms.
use rustyjit::jit;

fn main() {
    let _ = jit! { add rax };
}
