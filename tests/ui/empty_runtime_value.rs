// `{}` without an expression.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov eax, {} };
}
