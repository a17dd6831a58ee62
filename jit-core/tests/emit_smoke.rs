use jit_core::asm::lower::lower;
use jit_core::{Emitter, R64, assemble};

#[test]
fn smoke() {
    let text = "add {0:r64}, {1:r64}; mov {0:r64}, [{1:r64} + {2:r64}*8 + 16]; lea {1:r64}, [{0:r64}]; ret";
    let frag = lower(text).unwrap().leak(text, file!(), line!(), 0);
    for a in R64::ALL {
        for b in R64::ALL {
            if b == R64::RSP {
                continue;
            }
            let mut e = Emitter::new();
            e.__fragment(frag, &[a.num() as u64, b.num() as u64, b.num() as u64]);
            let code = e.finish().unwrap();
            let t = format!("add {a}, {b}; mov {a}, [{b} + {b}*8 + 16]; lea {b}, [{a}]; ret");
            let want = assemble(&t).unwrap();
            assert_eq!(code.bytes(), want.bytes(), "{t}");
        }
    }
}

#[test]
fn jumps_and_labels() {
    let t1 = "xor {0:r64}, {0:r64}; test {1:r64}, {1:r64}; jz {2}";
    let t2 = "add {0:r64}, {1:r64}; dec {1:r64}; jnz {2}";
    let f1 = lower(t1).unwrap().leak(t1, file!(), line!(), 0);
    let f2 = lower(t2).unwrap().leak(t2, file!(), line!(), 0);
    let mut e = Emitter::new();
    let (top, done) = (e.new_label(), e.new_label());
    e.__fragment(f1, &[0, 7, done.__arg()]);
    e.bind(top);
    e.__fragment(f2, &[0, 7, top.__arg()]);
    e.bind(done);
    e.push_bytes(&[0xc3]);
    let code = e.finish().unwrap();
    let want =
        assemble("xor rax, rax; test rdi, rdi; jz done; top: add rax, rdi; dec rdi; jnz top; done: ret").unwrap();
    assert_eq!(code.bytes(), want.bytes());
    let f = code.load().unwrap();
    assert_eq!(unsafe { f.call(&[10]) }, 55);
}
