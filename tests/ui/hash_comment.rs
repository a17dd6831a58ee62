// A `#` comment, as in assembly text: comments in `jit!` are Rust comments.
use rustyjit::jit;

fn main() {
    let _ = jit! {
        mov rax, 3 # three
        ret
    };
}
