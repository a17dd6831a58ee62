// An unknown mnemonic: the error is on it, with the closest known mnemonic.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, 3; mvo rbx, 4; ret };
}
