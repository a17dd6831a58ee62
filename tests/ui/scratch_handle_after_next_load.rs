// A `ScratchFn` cannot be called once the scratch has loaded other code over it: the borrow checker refuses.
use rustyjit::{Code, Scratch};

fn main() -> Result<(), rustyjit::MemError> {
    let mut scratch = Scratch::new();
    let first = scratch.load(&Code::from_bytes(vec![0x31, 0xc0, 0xc3]))?; // xor eax, eax; ret
    let _second = scratch.load(&Code::from_bytes(vec![0xc3]))?; // ret, written where `first` was
    // SAFETY: not reached: this does not compile.
    let _ = unsafe { first.call(&[]) };
    Ok(())
}
