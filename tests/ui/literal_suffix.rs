// A Rust literal suffix (`3u8`): refused, with the number to write instead.
use rustyjit::jit;

fn main() {
    let _ = jit! { mov al, 3u8; mov eax, 0x10i32 };
}
