// A label written by name must be defined in the same fragment (labels across fragments are `DynamicLabel`s).
use rustyjit::{Emitter, jit};

fn main() {
    let mut e = Emitter::new();
    jit!(e; jmp elsewhere);
}
