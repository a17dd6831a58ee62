// `rip` as a plain operand: only a memory base.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, rip };
}
