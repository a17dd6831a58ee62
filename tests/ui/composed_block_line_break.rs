// A `macro_rules!` macro builds the block from pieces, so line breaks are not read; the error says to write `;`.
use rustyjit::jit;

macro_rules! load {
    ($reg:ident) => {
        jit! {
            mov $reg, 1
            ret
        }
    };
}

fn main() {
    let _ = load!(rcx);
}
