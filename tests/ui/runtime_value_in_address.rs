// A runtime displacement in a fixed block: only immediates can be runtime values there; addresses need `jit!(e; ...)`.
use rustyjit::jit;

fn main() {
    let off = 8;
    let _ = jit! { mov rax, [rbx + {off}] };
}
