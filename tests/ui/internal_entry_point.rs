// `jit_impl!` used directly (without the crate path `jit!` passes): an error, not a panic.

fn main() {
    let _ = rustyjit::__private::jit_impl! { mov rax, 3 };
}
