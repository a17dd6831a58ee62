// Two statements on one line without `;`: the error is on the second mnemonic.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, 3 ret };
}
