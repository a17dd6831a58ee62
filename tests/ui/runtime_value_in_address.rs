// A runtime value as a displacement: only immediates can be runtime values.
use rustyjit::jit;

fn main() {
    let off = 8;
    let _ = jit! { mov rax, [rbx + {off}] };
}
