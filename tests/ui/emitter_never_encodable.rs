// An instruction that no value of its runtime registers can encode is a compile error at the instruction.
use rustyjit::{Emitter, R64, jit};

fn main() {
    let mut e = Emitter::new();
    let (a, b) = (R64::RAX, R64::RCX);
    jit!(e; movzx {a: r64}, {b: r64});
}
