// Four operands: the error is on the fourth.
use rustyjit::jit;

fn main() {
    let _ = jit! { imul rax, rbx, 3, 4 };
}
