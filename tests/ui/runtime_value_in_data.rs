// A runtime value in a data directive: only immediates can be runtime values.
use rustyjit::jit;

fn main() {
    let x = 1;
    let _ = jit! { .quad {x} };
}
