// `[rip + label]` with an undefined label: the error is on the instruction.
use rustyjit::jit;

fn main() {
    let _ = jit! { lea rax, [rip + table]; ret };
}
