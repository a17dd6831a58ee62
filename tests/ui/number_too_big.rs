// A number wider than 64 bits: the error is on the number.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, 0x1_0000_0000_0000_0000 };
}
