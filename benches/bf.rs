//! The Brainfuck JIT of `examples/bf.rs` (issue 13) against a port of its code generator to dynasm-rs 5.1, on the
//! public benchmark programs of `../shared/bf/`.
//!
//! The port emits the example's instruction sequences with `dynasm!` — the same registers (rbx for the cell
//! pointer, r12 for the context, held as run-time register numbers `Rq(n)`), the same instructions in the same
//! order, the same labels (`DynamicLabel`s), the same cold code, the same calls with the same context layout —
//! so the two programs differ only where the two assemblers pick different encodings: the emitter relaxes jumps
//! to rel8 where they reach, dynasm always takes rel32; and for a memory operand on a run-time register dynasm
//! takes the form every register allows (a REX prefix, a SIB byte, a disp8 of 0 when there is no displacement:
//! `cmp byte ptr [rbx], 0` is 6 bytes, the emitter's 3), and a REX prefix on `push`/`pop` of one. Before timing,
//! both programs of `mandel.b` and `bench.b` are decoded with iced-x86 and compared instruction by instruction
//! (the differing encodings are printed), and both are run and their output compared with the `.out` files.
//!
//! Measured:
//! - `compile_mandel_*`: `mandel.b` parsed, planned, emitted and finished to executable code — the example's
//!   `compile` and `Code::load` against the port's parse, plan, `dynasm!`, `commit` and `finalize`;
//! - `run_mandel_*`: the compiled program run once on a fresh tape, output into a `Vec` (the emitter's side runs
//!   through the example's `execute`, which also loads the code: `Code::load` takes about 0.035 ms of the
//!   ~0.9 s; the port's code is executable already; both through the example's `run_entry`);
//! - `parse_plan_mandel`: the part of compiling the two sides share, for reference.
//!
//! The port uses the example's own parser, planner, context, I/O callbacks and runner (`bf::run_entry`): only
//! the code generation is written twice, once per assembler, which is what is compared.
//!
//! Reproduce: `cargo bench --bench bf`. Target: compiling ≥ 1.5× faster than the port (the figure is the interleaved
//! one the bench prints first), running within ±5%.

#[allow(dead_code)] // the instruction mix of the assembly benches
mod common;

#[allow(dead_code)] // `main`, and whatever only the example's `main` uses
#[path = "../examples/bf.rs"]
mod bf;

use divan::{Bencher, black_box};
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, ExecutableBuffer, dynasm};
use iced_x86::{Decoder, DecoderOptions, Instruction, OpKind, Register};
use rustyjit::R64;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::sync::LazyLock;

/// Where the public benchmark programs are (outside the repository).
const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bf/");

/// `mandel.b` and `bench.b`, or why they could not be read.
static PROGRAMS_READ: LazyLock<Result<Programs, String>> = LazyLock::new(Programs::read);

struct Programs {
    mandel: Vec<u8>,
    mandel_out: Vec<u8>,
    bench: Vec<u8>,
    bench_out: Vec<u8>,
}

impl Programs {
    fn read() -> Result<Programs, String> {
        let read = |name: &str| {
            let path = format!("{PROGRAMS}{name}");
            std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))
        };
        Ok(Programs {
            mandel: read("mandel.b")?,
            mandel_out: read("mandel.out")?,
            bench: read("bench.b")?,
            bench_out: read("bench.out")?,
        })
    }
}

/// `mandel.b`: only called after `main` has checked that the programs were read.
fn mandel() -> &'static [u8] {
    PROGRAMS_READ.as_ref().map_or(&[], |p| p.mandel.as_slice())
}

fn main() {
    let programs = match PROGRAMS_READ.as_ref() {
        Ok(programs) => programs,
        Err(why) => {
            println!("bf: skipped, the benchmark programs are missing: {why}");
            return;
        }
    };
    if let Err(why) = check(programs) {
        eprintln!("bf: the check before timing failed: {why}");
        std::process::exit(1);
    }
    interleaved(201);
    divan::main();
}

/// The compile target's figure, from compiles of the two taken in turns ([`common::paired`]) so that the
/// machine's changing speed falls on both alike; printed before divan's tables.
fn interleaved(pairs: usize) {
    let p = common::paired(
        pairs,
        &mut || drop(black_box(port::compile(black_box(mandel())))),
        &mut || drop(black_box(bf::compile(black_box(mandel())).map(|c| c.load()))),
    );
    eprintln!(
        "interleaved, {pairs} pairs: compiling mandel.b, dynasm port {:.0} us, emitter {:.0} us (medians); emitter \
         {:.2}x faster (median of the pairs' ratios; {:.2}x to {:.2}x)",
        p.theirs * 1e6,
        p.ours * 1e6,
        p.ratio,
        p.low,
        p.high
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The check before timing.

/// Both compilers' programs for `mandel.b` and `bench.b`: the same instructions, and the expected output.
fn check(p: &Programs) -> Result<(), String> {
    if !port::Regs::DEFAULT.is_the_example_s() {
        return Err("the port's registers are not the example's `Regs::DEFAULT`".into());
    }
    for (name, program, expected) in [
        ("mandel.b", &p.mandel, &p.mandel_out),
        ("bench.b", &p.bench, &p.bench_out),
    ] {
        let ours = bf::compile(program).map_err(|e| format!("{name}: the example: {e}"))?;
        let theirs = port::compile(program).map_err(|e| format!("{name}: the port: {e}"))?;
        let diff = same_instructions(ours.bytes(), &theirs).map_err(|e| format!("{name}: {e}"))?;
        println!(
            "{name}: {} instructions each; emitter {} bytes, dynasm {} bytes; {} encoded differently:",
            diff.instructions,
            ours.len(),
            theirs.len(),
            diff.encodings.values().sum::<usize>()
        );
        for ((a, b), n) in &diff.encodings {
            println!("  {n:>6}  emitter {a} / dynasm {b}");
        }
        let mut ran = Vec::new();
        // SAFETY: `bf::compile` made the code from `program`.
        unsafe { bf::execute(&ours, program, &mut &b""[..], &mut ran) }
            .map_err(|e| format!("{name}: the example's program: {e}"))?;
        if ran != *expected {
            return Err(format!("{name}: the example's output differs from the .out file"));
        }
        ran.clear();
        // SAFETY: `port::compile` made the code.
        unsafe { port::execute(&theirs, program, &mut &b""[..], &mut ran) }
            .map_err(|e| format!("{name}: the port's program: {e}"))?;
        if ran != *expected {
            return Err(format!("{name}: the port's output differs from the .out file"));
        }
    }
    Ok(())
}

/// What [`same_instructions`] found: how many instructions, and how many of them each pair of different encodings
/// (iced-x86 `Code`s, or the same `Code` at another length) took.
struct Diff {
    instructions: usize,
    encodings: BTreeMap<(String, String), usize>,
}

/// One operand, with everything an encoding may change taken out: jump targets as instruction numbers,
/// immediates sign-extended to 64 bits, displacements without their width.
#[derive(Debug, PartialEq, Eq)]
enum Operand {
    Reg(Register),
    Mem {
        base: Register,
        index: Register,
        scale: u32,
        disp: u64,
        size: iced_x86::MemorySize,
    },
    Imm(i64),
    Target(usize),
}

fn decode(bytes: &[u8]) -> Result<Vec<Instruction>, String> {
    let all: Vec<Instruction> = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE)
        .into_iter()
        .collect();
    match all.iter().find(|i| i.is_invalid()) {
        Some(bad) => Err(format!("undecodable bytes at {:#x}", bad.ip())),
        None => Ok(all),
    }
}

fn operands(ins: &Instruction, number: &HashMap<u64, usize>) -> Result<Vec<Operand>, String> {
    (0..ins.op_count())
        .map(|i| {
            Ok(match ins.op_kind(i) {
                OpKind::Register => Operand::Reg(ins.op_register(i)),
                OpKind::Memory => Operand::Mem {
                    base: ins.memory_base(),
                    index: ins.memory_index(),
                    scale: ins.memory_index_scale(),
                    disp: ins.memory_displacement64(),
                    size: ins.memory_size(),
                },
                OpKind::NearBranch64 => match number.get(&ins.near_branch_target()) {
                    Some(&n) => Operand::Target(n),
                    None => return Err(format!("the jump at {:#x} lands inside an instruction", ins.ip())),
                },
                OpKind::Immediate8 => Operand::Imm(i64::from(ins.immediate8() as i8)),
                OpKind::Immediate16 => Operand::Imm(i64::from(ins.immediate16() as i16)),
                OpKind::Immediate32 => Operand::Imm(i64::from(ins.immediate32() as i32)),
                OpKind::Immediate8to16 => Operand::Imm(i64::from(ins.immediate8to16())),
                OpKind::Immediate8to32 => Operand::Imm(i64::from(ins.immediate8to32())),
                OpKind::Immediate8to64 => Operand::Imm(ins.immediate8to64()),
                OpKind::Immediate32to64 => Operand::Imm(ins.immediate32to64()),
                OpKind::Immediate64 => Operand::Imm(ins.immediate64() as i64),
                other => return Err(format!("an operand of kind {other:?} at {:#x}", ins.ip())),
            })
        })
        .collect()
}

/// Decodes both programs and compares them instruction by instruction (both call the example's `putc` and
/// `getc`, so even the call targets are the same).
fn same_instructions(ours: &[u8], theirs: &[u8]) -> Result<Diff, String> {
    let (a, b) = (decode(ours)?, decode(theirs)?);
    if a.len() != b.len() {
        return Err(format!("{} instructions against {}", a.len(), b.len()));
    }
    let number = |all: &[Instruction]| {
        all.iter()
            .enumerate()
            .map(|(n, i)| (i.ip(), n))
            .collect::<HashMap<_, _>>()
    };
    let (na, nb) = (number(&a), number(&b));
    let mut encodings = BTreeMap::new();
    for (n, (x, y)) in a.iter().zip(&b).enumerate() {
        let (ox, oy) = (operands(x, &na)?, operands(y, &nb)?);
        if x.mnemonic() != y.mnemonic() || ox != oy {
            return Err(format!(
                "instruction {n} differs: emitter {:?} {ox:?} at {:#x}, dynasm {:?} {oy:?} at {:#x}",
                x.mnemonic(),
                x.ip(),
                y.mnemonic(),
                y.ip()
            ));
        }
        if x.code() != y.code() || x.len() != y.len() {
            let form = |i: &Instruction| format!("{:?} ({} bytes)", i.code(), i.len());
            *encodings.entry((form(x), form(y))).or_insert(0) += 1;
        }
    }
    Ok(Diff {
        instructions: a.len(),
        encodings,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// The benches.

#[divan::bench]
fn compile_mandel_emitter(bencher: Bencher) {
    bencher.bench(|| {
        let code = bf::compile(black_box(mandel())).expect("compiles");
        code.load().expect("loads")
    });
}

#[divan::bench]
fn compile_mandel_dynasm(bencher: Bencher) {
    bencher.bench(|| port::compile(black_box(mandel())).expect("compiles"));
}

#[divan::bench]
fn parse_plan_mandel(bencher: Bencher) {
    bencher.bench(|| bf::plan(&bf::parse(black_box(mandel())).expect("parses")));
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn run_mandel_emitter(bencher: Bencher) {
    let code = bf::compile(mandel()).expect("compiles");
    let mut sink = Vec::with_capacity(1 << 16);
    bencher.bench_local(|| {
        sink.clear();
        // SAFETY: `bf::compile` made the code from `mandel()`.
        unsafe { bf::execute(&code, mandel(), &mut &b""[..], &mut sink) }.expect("runs");
    });
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn run_mandel_dynasm(bencher: Bencher) {
    let code = port::compile(mandel()).expect("compiles");
    let mut sink = Vec::with_capacity(1 << 16);
    bencher.bench_local(|| {
        sink.clear();
        // SAFETY: `port::compile` made the code.
        unsafe { port::execute(&code, mandel(), &mut &b""[..], &mut sink) }.expect("runs");
    });
}

// ---------------------------------------------------------------------------------------------------------------
// The port.

/// The example's compiler with `dynasm!` in place of `jit!`: the example's parsing, planning, context and
/// callbacks; `Gen` and `emit` follow the example's line by line.
mod port {
    use super::*;
    use crate::bf::{
        Block, EXIT_BUG, EXIT_IO, EXIT_LEFT, EXIT_OK, EXIT_RIGHT, Effect, PTR, Reach, Step, TAPE_END, TAPE_START, code,
        getc, parse, plan, putc,
    };

    /// `dynasm!` for x86-64.
    macro_rules! asm {
        ($ops:expr; $($t:tt)*) => {
            dynasm!($ops; .arch x64; $($t)*)
        };
    }

    // --- Code generation: the example's, with `dynasm!`.

    /// Runs code that [`compile`] made, as the example runs its own ([`bf::run_entry`]; the buffer is executable
    /// already).
    ///
    /// # Safety
    ///
    /// `code` must come from [`compile`].
    pub(super) unsafe fn execute(
        code: &ExecutableBuffer,
        program: &[u8],
        input: &mut dyn BufRead,
        output: &mut dyn Write,
    ) -> Result<(), bf::Error> {
        // SAFETY: `compile` made the code (the caller promises): the example's instructions, as `run_entry` wants
        // them; the buffer outlives the call.
        unsafe { bf::run_entry(code.ptr(dynasmrt::AssemblyOffset(0)), program, input, output) }
    }

    /// The registers, as dynasm's run-time register numbers.
    #[derive(Clone, Copy)]
    pub(super) struct Regs {
        ptr: u8,
        ctx: u8,
    }

    impl Regs {
        /// The example's `Regs::DEFAULT`, whose fields are private (see [`Regs::is_the_example_s`]).
        pub(super) const DEFAULT: Regs = Regs {
            ptr: R64::RBX.num(),
            ctx: R64::R12.num(),
        };

        /// Whether these are the registers of the example's `Regs::DEFAULT`.
        pub(super) fn is_the_example_s(self) -> bool {
            let regs = R64::new(self.ptr).zip(R64::new(self.ctx));
            regs.and_then(|(ptr, ctx)| bf::Regs::new(ptr, ctx)) == Some(bf::Regs::DEFAULT)
        }
    }

    /// Parses, plans and emits `program` with the [`Regs::DEFAULT`] registers, and makes the code executable:
    /// the example's `compile` and `Code::load`.
    pub(super) fn compile(program: &[u8]) -> Result<ExecutableBuffer, String> {
        let steps = plan(&parse(program).map_err(|e| e.to_string())?);
        emit(&steps, Regs::DEFAULT)
    }

    struct Gen {
        ops: dynasmrt::x64::Assembler,
        regs: Regs,
        exit: DynamicLabel,
        off_left: DynamicLabel,
        off_right: DynamicLabel,
        replays: Vec<(DynamicLabel, Vec<Reach>)>,
        io_stubs: Vec<(DynamicLabel, i64)>,
    }

    #[allow(
        clippy::useless_conversion,
        reason = "dynasm!'s expansion calls `.into()` on the register numbers"
    )]
    fn emit(steps: &[Step], regs: Regs) -> Result<ExecutableBuffer, String> {
        let mut ops = dynasmrt::x64::Assembler::new().map_err(|e| format!("no assembler: {e}"))?;
        let (exit, off_left, off_right) = (
            ops.new_dynamic_label(),
            ops.new_dynamic_label(),
            ops.new_dynamic_label(),
        );
        let mut g = Gen {
            ops,
            regs,
            exit,
            off_left,
            off_right,
            replays: Vec::new(),
            io_stubs: Vec::new(),
        };
        g.prologue();
        let mut loops: Vec<(DynamicLabel, DynamicLabel)> = Vec::new();
        for step in steps {
            match step {
                Step::Block(block) => g.block(block),
                Step::Multiply { body, up } => g.multiply(body, *up),
                Step::Out { at } => g.call_out(*at),
                Step::In { at } => g.call_in(*at),
                Step::Open => {
                    let (ptr, ops) = (g.regs.ptr, &mut g.ops);
                    let (top, end) = (ops.new_dynamic_label(), ops.new_dynamic_label());
                    asm!(ops; cmp BYTE [Rq(ptr)], 0; je =>end; =>top);
                    loops.push((top, end));
                }
                Step::Close => {
                    let Some((top, end)) = loops.pop() else { continue };
                    let (ptr, ops) = (g.regs.ptr, &mut g.ops);
                    asm!(ops; cmp BYTE [Rq(ptr)], 0; jne =>top; =>end);
                }
            }
        }
        g.epilogue();
        g.cold();
        g.ops.commit().map_err(|e| e.to_string())?;
        g.ops.finalize().map_err(|_| "the buffer is still in use".to_string())
    }

    #[allow(
        clippy::useless_conversion,
        reason = "dynasm!'s expansion calls `.into()` on the register numbers"
    )]
    impl Gen {
        fn prologue(&mut self) {
            let (Regs { ptr, ctx }, ops) = (self.regs, &mut self.ops);
            asm!(ops
                ; push Rq(ptr); push Rq(ctx); sub rsp, 8
                ; mov Rq(ctx), rdi
                ; mov Rq(ptr), QWORD [Rq(ctx) + TAPE_START]
            );
        }

        fn epilogue(&mut self) {
            let (Regs { ptr, ctx }, ops) = (self.regs, &mut self.ops);
            let ok = EXIT_OK as i32;
            let exit = self.exit;
            asm!(ops; mov eax, DWORD ok; =>exit);
            asm!(ops
                ; mov QWORD [Rq(ctx) + PTR], Rq(ptr)
                ; add rsp, 8; pop Rq(ctx); pop Rq(ptr)
                ; ret
            );
        }

        fn check(&mut self, moves: &[Reach]) {
            let (Regs { ptr, ctx }, ops) = (self.regs, &mut self.ops);
            let (Some(lo), Some(hi)) = (moves.iter().map(|m| m.to).min(), moves.iter().map(|m| m.to).max()) else {
                return;
            };
            let replay = ops.new_dynamic_label();
            if hi > 0 {
                asm!(ops
                    ; lea rax, [Rq(ptr) + hi]
                    ; cmp rax, QWORD [Rq(ctx) + TAPE_END]
                    ; jae =>replay
                );
            }
            if lo < 0 {
                asm!(ops
                    ; lea rax, [Rq(ptr) + lo]
                    ; cmp rax, QWORD [Rq(ctx) + TAPE_START]
                    ; jb =>replay
                );
            }
            self.replays.push((replay, moves.to_vec()));
        }

        fn block(&mut self, block: &Block) {
            self.check(&block.moves);
            let (ptr, ops) = (self.regs.ptr, &mut self.ops);
            for (&off, &effect) in &block.effects {
                match (effect, off) {
                    (Effect::Add(0), _) => {}
                    (Effect::Add(k), 0) => asm!(ops; add BYTE [Rq(ptr)], k as i8),
                    (Effect::Add(k), _) => asm!(ops; add BYTE [Rq(ptr) + off], k as i8),
                    (Effect::Set(v), 0) => asm!(ops; mov BYTE [Rq(ptr)], v as i8),
                    (Effect::Set(v), _) => asm!(ops; mov BYTE [Rq(ptr) + off], v as i8),
                }
            }
            let net = block.net();
            if net != 0 {
                asm!(ops; add Rq(ptr), DWORD net);
            }
        }

        fn multiply(&mut self, body: &Block, up: bool) {
            let skip = self.ops.new_dynamic_label();
            let ptr = self.regs.ptr;
            let ops = &mut self.ops;
            asm!(ops; cmp BYTE [Rq(ptr)], 0; je =>skip);
            self.check(&body.moves);
            let ops = &mut self.ops;
            asm!(ops; movzx eax, BYTE [Rq(ptr)]);
            if up {
                asm!(ops; neg eax);
            }
            for (&off, &effect) in &body.effects {
                match effect {
                    Effect::Add(1) => asm!(ops; add BYTE [Rq(ptr) + off], al),
                    Effect::Add(255) => asm!(ops; sub BYTE [Rq(ptr) + off], al),
                    Effect::Add(k) => {
                        let k = i32::from(k);
                        asm!(ops
                            ; imul ecx, eax, DWORD k
                            ; add BYTE [Rq(ptr) + off], cl
                        );
                    }
                    Effect::Set(_) => {}
                }
            }
            asm!(ops; mov BYTE [Rq(ptr)], 0; =>skip);
        }

        fn call_out(&mut self, at: usize) {
            let (Regs { ptr, ctx }, ops) = (self.regs, &mut self.ops);
            let failed = ops.new_dynamic_label();
            let putc = putc as *const () as usize as i64;
            asm!(ops
                ; mov rdi, Rq(ctx)
                ; movzx esi, BYTE [Rq(ptr)]
                ; mov rax, QWORD putc
                ; call rax
                ; test eax, eax
                ; jnz =>failed
            );
            self.io_stubs.push((failed, code(at, EXIT_IO)));
        }

        fn call_in(&mut self, at: usize) {
            let (Regs { ptr, ctx }, ops) = (self.regs, &mut self.ops);
            let failed = ops.new_dynamic_label();
            let getc = getc as *const () as usize as i64;
            asm!(ops
                ; mov rdi, Rq(ctx)
                ; mov rsi, Rq(ptr)
                ; mov rax, QWORD getc
                ; call rax
                ; test eax, eax
                ; jnz =>failed
            );
            self.io_stubs.push((failed, code(at, EXIT_IO)));
        }

        fn cold(&mut self) {
            let (Regs { ptr, ctx }, ops) = (self.regs, &mut self.ops);
            let exit = self.exit;
            for &(stub, status) in &self.io_stubs {
                asm!(ops; =>stub; mov rax, QWORD status; jmp =>exit);
            }
            let (left, right) = (self.off_left, self.off_right);
            for (replay, moves) in &self.replays {
                asm!(ops; =>*replay);
                for m in moves {
                    let (at, to) = (code(m.at, 0), m.to);
                    asm!(ops
                        ; mov rdx, QWORD at
                        ; lea rax, [Rq(ptr) + to]
                        ; cmp rax, QWORD [Rq(ctx) + TAPE_START]
                        ; jb =>left
                        ; cmp rax, QWORD [Rq(ctx) + TAPE_END]
                        ; jae =>right
                    );
                }
                asm!(ops; mov rax, QWORD EXIT_BUG; jmp =>exit);
            }
            let (exit_left, exit_right) = (EXIT_LEFT as i32, EXIT_RIGHT as i32);
            asm!(ops; =>left; mov Rq(ptr), rax; lea rax, [rdx + exit_left]; jmp =>exit);
            asm!(ops; =>right; mov Rq(ptr), rax; lea rax, [rdx + exit_right]; jmp =>exit);
        }
    }
}
