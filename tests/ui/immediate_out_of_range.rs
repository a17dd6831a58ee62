// An immediate too large for the widest form: the error is on the number.
use rustyjit::jit;

fn main() {
    let _ = jit! { add al, 256 };
}
