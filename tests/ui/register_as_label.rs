// A register name used as a label: the error is on the name.
use rustyjit::jit;

fn main() {
    let _ = jit! {
        rax: nop
        ret
    };
}
