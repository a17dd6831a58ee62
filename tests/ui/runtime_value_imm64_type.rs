// `mov rax, {big}` is `movabs` and takes an `i64`; a `u32` is a type error.
use rustyjit::jit;

fn main() {
    let big: u32 = 1;
    let _ = jit! { mov rax, {big} };
}
