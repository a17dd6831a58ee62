// A label defined twice: the error is on the second definition.
use rustyjit::jit;

fn main() {
    let _ = jit! {
        top: nop
        top: ret
    };
}
