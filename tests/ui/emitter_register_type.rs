// A runtime register's expression must have the register type its `: kind` names: a 32-bit register where an
// `r64` is asked is a type error at the expression.
use rustyjit::{Emitter, R32, jit};

fn main() {
    let mut e = Emitter::new();
    let r = R32::EAX;
    jit!(e; mov {r: r64}, 1);
}
