// A scale other than 1, 2, 4 or 8: the error is on the scale.
use rustyjit::jit;

fn main() {
    let _ = jit! { lea rax, [rbx + rcx*3] };
}
