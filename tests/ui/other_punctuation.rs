// Punctuation with no meaning in assembly: the error is on it.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax = 3 };
}
