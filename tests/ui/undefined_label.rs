// A jump to a label that is never defined: the error is on the label.
use rustyjit::jit;

fn main() {
    let _ = jit! { jmp nowhere; ret };
}
