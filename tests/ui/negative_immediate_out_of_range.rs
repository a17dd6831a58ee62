// A negative immediate below the range: the error covers the sign and the number.
use rustyjit::jit;

fn main() {
    let _ = jit! { add al, -129 };
}
