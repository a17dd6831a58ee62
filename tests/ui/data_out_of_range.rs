// A data value that does not fit its width: the error is on the value.
use rustyjit::jit;

fn main() {
    let _ = jit! { .byte 1, 256 };
}
