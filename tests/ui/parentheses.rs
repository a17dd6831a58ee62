// Parentheses are not assembly: memory is `[...]`, runtime values are `{expr}`.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, (1 + 2) };
}
