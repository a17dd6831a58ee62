// A pass case: `jit!` takes any of the three delimiters Rust macros take, and an empty block.
use rustyjit::jit;

fn main() {
    assert_eq!(jit!(ret).bytes(), [0xc3]);
    assert_eq!(jit![ret].bytes(), [0xc3]);
    assert_eq!(jit! { ret }.bytes(), [0xc3]);
    assert!(jit! {}.is_empty());
}
