// `lock` before an instruction whose destination is a register: the error points at the prefix.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov rax, 1; lock add eax, ecx; ret };
}
