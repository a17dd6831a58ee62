//! The emitter through `jit!(e; ...)`: the example, runtime registers and values, labels across
//! fragments, and errors with the fragment's location.

use rustyjit::{Emitter, R64, assemble, jit};

#[test]
fn the_sum_loop_runs_and_matches_its_text() {
    let mut e = Emitter::new();
    let (acc, n) = (R64::RAX, R64::RDI);
    let top = e.new_label();
    let done = e.new_label();
    jit!(e; xor {acc: r64}, {acc: r64}; test {n: r64}, {n: r64}; jz {done});
    e.bind(top);
    jit!(e; add {acc: r64}, {n: r64}; dec {n: r64}; jnz {top});
    e.bind(done);
    jit!(e; ret);
    let code = e.finish().unwrap();
    let text =
        assemble("xor rax, rax; test rdi, rdi; jz done; top: add rax, rdi; dec rdi; jnz top; done: ret").unwrap();
    assert_eq!(code.bytes(), text.bytes());
    let f = code.load().unwrap();
    // SAFETY: the code is a System V function of one integer argument.
    assert_eq!(unsafe { f.call(&[100]) }, 5050);
}
