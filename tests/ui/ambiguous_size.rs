// A memory operand whose size nothing fixes: the error says which `ptr` to write.
use rustyjit::jit;

fn main() {
    let _ = jit! { inc [rax] };
}
