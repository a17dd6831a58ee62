// A segment override: not supported; the error covers `fs:`.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, fs:[0] };
}
