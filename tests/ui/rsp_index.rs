// `rsp` as an index register: the error is on `rsp*2`.
use rustyjit::jit;

fn main() {
    let _ = jit! { lea rax, [rbx + rsp*2] };
}
