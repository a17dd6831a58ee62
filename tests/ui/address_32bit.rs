// A 32-bit address register: the error is on the register.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, [eax + 8] };
}
