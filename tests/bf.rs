//! The Brainfuck JIT of `examples/bf.rs`: small programs with known output, errors (unmatched brackets, the
//! pointer off either end of the tape, failing I/O) as values at the right place, every pair of registers the
//! compiler can be given, a differential test against a plain interpreter written here, and the public benchmark
//! programs of `../shared/bf/` against their expected output.

#[allow(dead_code)] // `main`, and whatever only the example's `main` uses
#[path = "../examples/bf.rs"]
mod bf;

use bf::{CompileError, Error, Pos, Regs, Side, TAPE_LEN, Unmatched};
use rustyjit::R64;
use rustyjit::rng::SplitMix64;
use std::io::{self, Write};

/// The classic "Hello World!" (Wikipedia's), nested loops and a `[<]` scan included.
const HELLO: &[u8] = b"++++++++[>++++[>++>+++>+++>+<<<<-]>+>+>->>+[<]<-]>>.>---.+++++++..+++.>>.<-.<.+++.------.\
--------.>>+.>++.";

fn run(program: &[u8], input: &[u8]) -> Result<Vec<u8>, Error> {
    bf::run(program, input)
}

fn off_tape(program: &[u8]) -> (Side, i64, Pos) {
    match run(program, b"") {
        Err(Error::OffTape { side, cell, at }) => (side, cell, at),
        other => panic!("expected the pointer off the tape, got {other:?}"),
    }
}

fn unmatched(program: &[u8]) -> Vec<Unmatched> {
    match bf::compile(program) {
        Err(CompileError::Unmatched(all)) => all,
        other => panic!("expected unmatched brackets, got {other:?}"),
    }
}

fn pos(offset: usize, line: usize, column: usize) -> Pos {
    Pos { offset, line, column }
}

#[test]
fn hello_world() {
    assert_eq!(run(HELLO, b"").unwrap(), b"Hello World!\n");
}

#[test]
fn cells_wrap_both_ways() {
    // 0 - 1 = 255; 255 + 2 = 1 (the second run is folded into one add of 2, wrapping past 255).
    assert_eq!(run(b"-.++.", b"").unwrap(), [255, 1]);
    // 300 `+` are one add of 44 (300 mod 256).
    let mut program = vec![b'+'; 300];
    program.push(b'.');
    assert_eq!(run(&program, b"").unwrap(), [44]);
}

#[test]
fn a_loop_counts() {
    // Cell 1 = 6 * 8 = 48 ('0'), cell 0 = 10; each pass prints cell 1 and increments it.
    assert_eq!(
        run(b"++++++[>++++++++<-]++++++++++[>.+<-]", b"").unwrap(),
        b"0123456789"
    );
}

#[test]
fn nested_loops_multiply() {
    // 3 * 4 * 5 = 60 by two nested loops (the inner one a multiplication loop, the outer one not).
    assert_eq!(run(b"+++[>++++[>+++++<-]<-]>>.", b"").unwrap(), [60]);
    // Three levels, with output in the innermost loop: 2 * 3 * 4 = 24 dots ('.' is 46).
    let program = b"++++++++++++++++++++++++++++++++++++++++++++++>  cell 0 = 46\n\
        ++[>+++[>++++[<<<.>>>-]<-]<-]";
    assert_eq!(run(program, b"").unwrap(), vec![46; 24]);
}

#[test]
fn multiplication_loops_match_their_meaning() {
    // Cell 0 = 200; each loop below leaves cell 0 at 0 and adds to the others by how often it would run.
    let c = "+".repeat(200);
    let out = |body: &str| run(format!("{c}[{body}]>.>.<<.").as_bytes(), b"").unwrap();
    assert_eq!(out("->+<"), [200, 0, 0]);
    assert_eq!(out("->++>---<<"), [144, 168, 0]); // 400 mod 256, -600 mod 256
    // Stepping up, the loop runs 56 times (200 + 56 = 256).
    assert_eq!(out("+>+>-<<"), [56, 200, 0]);
    assert_eq!(out("->->--<<"), [56, 112, 0]); // -200 and -400 mod 256
    // Not a multiplication loop (it steps by 2) and still right: 100 passes.
    assert_eq!(out("-->+<"), [100, 0, 0]);
}

#[test]
fn clearing_loops() {
    assert_eq!(run(b"+++++[-].", b"").unwrap(), [0]);
    assert_eq!(run(b"+++++[+].", b"").unwrap(), [0]);
    // An odd step clears from any value; `[---]` from 5 runs 87 times (5 + 256 * 1 = 261 = 3 * 87).
    assert_eq!(run(b"+++++[---].", b"").unwrap(), [0]);
}

#[test]
fn input_is_echoed_and_the_end_of_input_leaves_the_cell() {
    // Clear the cell before each read, so the end of input (which leaves the cell) ends the loop.
    assert_eq!(run(b",[.[-],]", b"hello\n").unwrap(), b"hello\n");
    assert_eq!(run(b",[.[-],]", b"").unwrap(), b"");
    // The end of input leaves the cell as it was (3), not 0 or 255.
    assert_eq!(run(b"+++,.,.", b"").unwrap(), [3, 3]);
    assert_eq!(run(b"+++,.,.", b"A").unwrap(), [b'A', b'A']);
    // Every byte value goes through, 0 and 255 included.
    assert_eq!(run(b",.,.,.", &[0, 255, 10]).unwrap(), [0, 255, 10]);
}

#[test]
fn comments_are_ignored_and_runs_fold_across_them() {
    let plain = run(b"+++.>++.", b"").unwrap();
    assert_eq!(plain, [3, 2]);
    assert_eq!(run(b"a+b+ + c.\n> d+\t+ .", b"").unwrap(), plain);
    // Folding: `+-+-` is nothing, `+++++` is one add; the code says so by its length.
    let len = |p: &[u8]| bf::compile(p).unwrap().len();
    assert_eq!(len(b"+-+-"), len(b""));
    assert_eq!(len(b"+++++"), len(b"+"));
    assert!(len(b"+") > len(b""));
    assert_eq!(len(b"[-]"), len(b"[+]"));
    assert!(len(b"[--]") > len(b"[-]"), "an even step is a real loop, not a clear");
}

#[test]
fn off_the_left_end_is_an_error_at_the_move() {
    assert_eq!(off_tape(b"<"), (Side::Left, -1, pos(0, 1, 1)));
    // A run of moves is one move: it is checked where it ends.
    assert_eq!(off_tape(b"+\n>>x<<<<"), (Side::Left, -2, pos(2, 2, 1)));
    // In a loop: its first pass goes from cell 2 to 1, its second to 0, its third off the tape.
    assert_eq!(off_tape(b">>+[<+]"), (Side::Left, -1, pos(4, 1, 5)));
    // In a multiplication loop, which checks all its moves at once: the move that goes off is named.
    assert_eq!(off_tape(b"+[->>+<<<+>]"), (Side::Left, -1, pos(6, 1, 7)));
}

#[test]
fn output_before_the_error_is_kept() {
    let mut out = Vec::new();
    let result = bf::run_with(b"+++.<.", &mut &b""[..], &mut out);
    assert!(
        matches!(result, Err(Error::OffTape { side: Side::Left, cell: -1, at }) if at.offset == 4),
        "{result:?}"
    );
    assert_eq!(out, [3], "the `.` before the move ran, the one after did not");
    let message = result.unwrap_err().to_string();
    assert_eq!(
        message,
        "line 1, column 5 (byte 4): the pointer moved to cell -1, off the left end of the tape (cells 0 to 29999)"
    );
}

#[test]
fn off_the_right_end_is_an_error_at_the_move() {
    // `+[>+]` walks right, setting each cell, until it leaves the tape.
    assert_eq!(off_tape(b"+[>+]"), (Side::Right, TAPE_LEN as i64, pos(2, 1, 3)));
    // The last cell is usable.
    let mut to_last = vec![b'>'; TAPE_LEN - 1];
    to_last.extend_from_slice(b"+++.");
    assert_eq!(run(&to_last, b"").unwrap(), [3]);
    // A multiplication loop at the last cell goes off only if it runs.
    let mut edge = vec![b'>'; TAPE_LEN - 1];
    edge.extend_from_slice(b"[->+<].+[->+<]");
    assert_eq!(
        off_tape(&edge),
        (Side::Right, TAPE_LEN as i64, pos(TAPE_LEN + 9, 1, TAPE_LEN + 10))
    );
    // A run longer than the tape stops at its first tape length.
    assert_eq!(
        off_tape(&vec![b'>'; 70_000]),
        (Side::Right, TAPE_LEN as i64, pos(0, 1, 1))
    );
    assert_eq!(
        off_tape(&vec![b'<'; 70_000]),
        (Side::Left, -(TAPE_LEN as i64), pos(0, 1, 1))
    );
}

#[test]
fn unmatched_brackets_are_compile_errors_with_their_place() {
    assert_eq!(unmatched(b"+\n+[>"), [Unmatched::Open(pos(3, 2, 2))]);
    assert_eq!(unmatched(b"]"), [Unmatched::Close(pos(0, 1, 1))]);
    // Every one, in program order; the brackets that match each other are not reported.
    assert_eq!(
        unmatched(b"]+]\n[[]"),
        [
            Unmatched::Close(pos(0, 1, 1)),
            Unmatched::Close(pos(2, 1, 3)),
            Unmatched::Open(pos(4, 2, 1)),
        ]
    );
    let Err(Error::Compile(e)) = run(b"[[]", b"") else {
        panic!("expected a compile error")
    };
    assert_eq!(e.to_string(), "line 1, column 1 (byte 0): this `[` has no matching `]`");
}

#[test]
fn deep_nesting_compiles_and_runs() {
    let depth = 10_000;
    let program = [
        b"+".to_vec(),
        b"[".repeat(depth),
        b"-".to_vec(),
        b"]".repeat(depth),
        b"+.".to_vec(),
    ]
    .concat();
    assert_eq!(run(&program, b"").unwrap(), [1]);
}

/// A writer that always fails.
struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn failing_output_stops_the_program() {
    // Endless output stops when the buffer is written out and that fails.
    match bf::run_with(b"+[.]", &mut &b""[..], &mut Broken) {
        Err(Error::Io { at, error }) => {
            assert_eq!((at, error.kind()), (pos(2, 1, 3), io::ErrorKind::BrokenPipe));
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // `,` writes the output first (a prompt), and says so when that fails.
    let result = bf::run_with(b"+.\n,", &mut &b""[..], &mut Broken);
    assert!(
        matches!(result, Err(Error::Io { at, .. }) if at == pos(3, 2, 1)),
        "{result:?}"
    );
    // Output that fails only at the end.
    let result = bf::run_with(b"+.", &mut &b""[..], &mut Broken);
    assert!(matches!(result, Err(Error::Output(_))), "{result:?}");
}

/// A program that uses every kind of step: blocks at offsets, a multiplication loop, clears, nested loops,
/// input and output, and at the end a move off the tape from a multiplication loop.
const EVERYTHING: &[u8] = b",>,<[->>+<<]>>[-<+>]<.[-]+++[>+++[>++<-]<-]>>.<<,.>>>>+[<+>-]<.<<<<[[-]<+>]+[-<+>]";

#[test]
fn every_pair_of_registers_gives_the_same_run() {
    let expected = run(EVERYTHING, b"\x05\x07\x09").unwrap_err();
    let Error::OffTape {
        side: Side::Left,
        cell: -1,
        at,
    } = expected
    else {
        panic!("{expected:?}")
    };
    let mut codes = Vec::new();
    for ptr in Regs::CALLEE_SAVED {
        for ctx in Regs::CALLEE_SAVED {
            let Some(regs) = Regs::new(ptr, ctx) else {
                assert_eq!(ptr, ctx);
                continue;
            };
            let code = bf::compile_with(EVERYTHING, regs).unwrap();
            let mut out = Vec::new();
            let input = &mut &b"\x05\x07\x09"[..];
            // SAFETY: `compile_with` made the code.
            let result = unsafe { bf::execute(&code, EVERYTHING, input, &mut out) };
            assert_eq!(out, [12, 18, 9, 1], "{ptr} {ctx}");
            assert!(
                matches!(result, Err(Error::OffTape { side: Side::Left, cell: -1, at: a }) if a == at),
                "{ptr} {ctx}: {result:?}"
            );
            codes.push(code.bytes().to_vec());
        }
    }
    assert_eq!(codes.len(), 30);
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 30, "each pair of registers is its own code");
    // Only callee-saved registers, two different ones.
    assert_eq!(Regs::new(R64::RAX, R64::RBX), None);
    assert_eq!(Regs::new(R64::RBX, R64::RSP), None);
    assert_eq!(Regs::new(R64::R12, R64::R12), None);
}

// ---------------------------------------------------------------------------------------------------------------
// Differential test: random programs, run by the JIT and by the interpreter below.

/// How a run of the reference interpreter ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Done,
    OffTape { side: Side, cell: i64, at: usize },
    TooLong,
}

/// A plain interpreter of the same semantics, written from the rules, not from the compiler: a run of `<>`
/// (comments between them included) is one move, checked where it ends.
fn interpret(program: &[u8], input: &[u8], steps: usize) -> (Vec<u8>, Ending) {
    let mut tape = vec![0u8; TAPE_LEN];
    let (mut ptr, mut pc, mut input, mut out) = (0i64, 0, input.iter(), Vec::new());
    for _ in 0..steps {
        let Some(&b) = program.get(pc) else {
            return (out, Ending::Done);
        };
        let cell = ptr as usize;
        match b {
            b'+' => tape[cell] = tape[cell].wrapping_add(1),
            b'-' => tape[cell] = tape[cell].wrapping_sub(1),
            b'.' => out.push(tape[cell]),
            b',' => {
                if let Some(&c) = input.next() {
                    tape[cell] = c;
                }
            }
            b'<' | b'>' => {
                let at = pc;
                while pc < program.len() && !b"+-.,[]".contains(&program[pc]) {
                    ptr += match program[pc] {
                        b'<' => -1,
                        b'>' => 1,
                        _ => 0,
                    };
                    pc += 1;
                }
                if ptr < 0 || ptr >= TAPE_LEN as i64 {
                    let side = if ptr < 0 { Side::Left } else { Side::Right };
                    return (out, Ending::OffTape { side, cell: ptr, at });
                }
                continue;
            }
            b'[' if tape[cell] == 0 => pc = partner(program, pc),
            b']' if tape[cell] != 0 => pc = partner(program, pc),
            _ => {}
        }
        pc += 1;
    }
    (out, Ending::TooLong)
}

/// The bracket matching the one at `pc`.
fn partner(program: &[u8], pc: usize) -> usize {
    let (step, mut depth, mut i) = if program[pc] == b'[' {
        (1, 0i64, pc)
    } else {
        (-1, 0, pc)
    };
    loop {
        depth += match program[i] {
            b'[' => 1,
            b']' => -1,
            _ => 0,
        };
        if depth == 0 {
            return i;
        }
        i = (i as isize + step) as usize;
    }
}

/// A loop that steps its cell by ±1 and adds -3 to 3 to up to three cells within 3 of it, then a walk that
/// prints those cells, so a wrong multiplication shows in the output.
fn multiplication_loop(rng: &mut SplitMix64) -> Vec<u8> {
    /// The moves from `from` to `to`.
    fn walk(from: i64, to: i64) -> impl Iterator<Item = u8> {
        let step = if to > from { b'>' } else { b'<' };
        std::iter::repeat_n(step, from.abs_diff(to) as usize)
    }
    let mut code = vec![b'[', if rng.below(2) == 0 { b'-' } else { b'+' }];
    let (mut at, mut targets) = (0i64, Vec::new());
    for _ in 0..1 + rng.below(3) {
        let (to, delta) = (rng.below(7) as i64 - 3, rng.below(7) as i64 - 3);
        code.extend(walk(at, to));
        let add = if delta > 0 { b'+' } else { b'-' };
        code.extend(std::iter::repeat_n(add, delta.unsigned_abs() as usize));
        targets.push(to);
        at = to;
    }
    code.extend(walk(at, 0));
    code.push(b']');
    for &to in &targets {
        code.extend(walk(0, to));
        code.push(b'.');
        code.extend(walk(to, 0));
    }
    code
}

/// A random program with balanced brackets.
fn random_program(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"++--<<>>><.,x[]";
    let mut program = Vec::new();
    let mut depth = 0;
    for _ in 0..len {
        match ALPHABET[rng.below(ALPHABET.len())] {
            // A whole multiplication loop, which the compiler turns into multiplications, after a few `+`
            // (a loop that runs is a better test than one that is skipped).
            b'[' if rng.below(3) == 0 => {
                program.extend(std::iter::repeat_n(b'+', rng.below(3)));
                program.extend(multiplication_loop(rng));
            }
            b'[' if depth < 4 => {
                depth += 1;
                program.extend(std::iter::repeat_n(b'+', rng.below(3)));
                program.push(b'[');
                // Often a body that starts like a clear or a multiplication, then goes on.
                match rng.below(3) {
                    0 => program.extend_from_slice(b"-<<++>>"),
                    1 => program.push(b'-'),
                    _ => {}
                }
            }
            b']' if depth > 0 => {
                depth -= 1;
                program.push(b']');
            }
            b'[' | b']' => {}
            c => program.push(c),
        }
    }
    program.extend(std::iter::repeat_n(b']', depth));
    program
}

#[test]
fn random_programs_run_as_the_interpreter_runs_them() {
    // The suites' shared seeded generator: the same programs on every run.
    let mut rng = SplitMix64::new(0x9e37_79b9_7f4a_7c15);
    let (mut compared, mut errors, mut right) = (0, 0, 0);
    for n in 0..600 {
        let len = 10 + rng.below(60);
        let mut program = random_program(&mut rng, len);
        // Start near the left end of the tape, or (one in three) near the right end.
        let start = if n % 3 == 0 {
            TAPE_LEN - 1 - rng.below(4)
        } else {
            rng.below(6)
        };
        let mut moved = vec![b'>'; start];
        moved.push(b'+');
        moved.append(&mut program);
        program = moved;
        let input: Vec<u8> = (0..rng.below(4)).map(|_| rng.below(256) as u8).collect();
        let (expected_out, ending) = interpret(&program, &input, 20_000);
        if ending == Ending::TooLong {
            continue;
        }
        compared += 1;
        let mut out = Vec::new();
        let result = bf::run_with(&program, &mut &input[..], &mut out);
        let text = String::from_utf8_lossy(&program);
        assert_eq!(out, expected_out, "output of {text}");
        match (ending, result) {
            (Ending::Done, Ok(())) => {}
            (
                Ending::OffTape { side, cell, at },
                Err(Error::OffTape {
                    side: s,
                    cell: c,
                    at: a,
                }),
            ) => {
                assert_eq!((s, c, a.offset), (side, cell, at), "error of {text}");
                errors += 1;
                right += usize::from(side == Side::Right);
            }
            (ending, result) => panic!("{text}: the interpreter ended {ending:?}, the JIT {result:?}"),
        }
    }
    // Enough programs ended, both ways, for the comparison to mean something.
    assert!(compared >= 300, "only {compared} programs ended");
    assert!(
        errors >= 50 && right >= 20,
        "{errors} errors, {right} off the right end"
    );
    assert!(
        compared - errors >= 100,
        "only {} programs ran to their end",
        compared - errors
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The public benchmark programs.

fn benchmark(name: &str, expected: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bf/");
    let (Ok(program), Ok(expected)) = (
        std::fs::read(format!("{dir}{name}")),
        std::fs::read(format!("{dir}{expected}")),
    ) else {
        eprintln!("skipped: {dir}{name} or {dir}{expected} cannot be read (the shared benchmark folder is absent)");
        return;
    };
    let start = std::time::Instant::now();
    let out = run(&program, b"").unwrap();
    eprintln!("{name}: {:?}", start.elapsed());
    assert_eq!(out.len(), expected.len(), "{name}: output length");
    assert!(out == expected, "{name}: output differs from {dir}{name}");
}

#[test]
fn mandel() {
    benchmark("mandel.b", "mandel.out");
}

#[test]
fn hanoi() {
    benchmark("hanoi.bf", "hanoi.out");
}

#[test]
fn long() {
    benchmark("long.bf", "long.out");
}

#[test]
fn bench() {
    benchmark("bench.b", "bench.out");
}
