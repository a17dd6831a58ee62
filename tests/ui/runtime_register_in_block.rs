// A fixed block has no emitter to choose registers at run time: `{expr: r64}` needs `jit!(e; ...)`.
use rustyjit::{R64, jit};

fn main() {
    let r = R64::RAX;
    let _ = jit! { mov {r: r64}, 1; ret };
}
