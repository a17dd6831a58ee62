// A misspelt register (`rbz`) reads as a label: the error is on it, as the operand no form takes.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, rbz };
}
