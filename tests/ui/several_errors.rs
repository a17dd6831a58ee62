// Several errors in one block: every one is reported, in order, each on its own token.
use rustyjit::jit;

fn main() {
    let _ = jit! {
        mov rax, 1, 2
        mvo rbx, 4
        add al, 300
        mov cl, 3u8
        jmp nowhere
        ret
    };
}
