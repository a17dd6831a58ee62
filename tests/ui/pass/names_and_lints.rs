// A pass case: the expansion is warning-free (`deny(warnings)`), needs no `unsafe`, and names nothing the user can
// shadow — the crate renamed with `use ... as`, and local items called `Code`, `Entry`, `ENTRIES` and `core`.
#![deny(warnings)]
#![forbid(unsafe_code)]

use rustyjit as rj;

#[allow(dead_code)]
struct Code;
#[allow(dead_code)]
struct Entry;
#[allow(dead_code)]
static ENTRIES: u8 = 0;
#[allow(dead_code)]
mod core {}

fn main() {
    let n: i32 = 5;
    let code: rj::Code = rj::jit! {
        top:
            mov eax, {n}    // a runtime value
            dec eax
            jnz top
            ret
    };
    assert_eq!(code.bytes()[0], 0xb8);
    assert_eq!(code.label("top"), Some(0));
}
