// A `u64` where `mov eax, {n}` takes an `i32`: rustc's type error, at the expression.
use rustyjit::jit;

fn main() {
    let n: u64 = 3;
    let _ = jit! { mov eax, {n}; ret };
}
