// A trailing comma: an operand is expected; the error is at the comma, where the line ends.
use rustyjit::jit;

fn main() {
    let _ = jit! {
        mov rax,
        ret
    };
}
