// `ah` next to a register that needs REX: the error names `ah`.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov ah, sil };
}
