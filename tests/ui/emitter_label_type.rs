// A jump's runtime target must be a `DynamicLabel`: an integer is a type error at the expression.
use rustyjit::{Emitter, jit};

fn main() {
    let mut e = Emitter::new();
    let target = 16i32;
    jit!(e; jmp {target});
}
