// `mov al, {b}` takes an `i8`; an `i32` expression is a type error at the expression.
use rustyjit::jit;

fn main() {
    let b: i32 = 1;
    let _ = jit! { mov al, {b} };
}
