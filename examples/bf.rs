//! A Brainfuck JIT on the emitter: the program is parsed into folded operations, planned into straight-line
//! blocks and loops, and each piece becomes `jit!(e; ...)` fragments with the registers chosen at run time
//! ([`Regs`]); loops are pairs of [`DynamicLabel`]s, and `.`/`,` call back into Rust.
//!
//! Run it with `cargo run --release --example bf -- FILE.b` (input for `,` comes from standard input).
//!
//! Semantics: 30,000 cells of `u8` that wrap, all 0 at the start, the pointer at cell 0; `.` writes the cell as
//! one raw byte; `,` at the end of input leaves the cell unchanged; every other byte is a comment. Moving the
//! pointer off the tape is an error naming the run of moves and the cell, never a crash.
//!
//! What the compiler does to go fast, stage by stage:
//! - [`parse`]: runs of `+-` fold into one add (mod 256), runs of `<>` into one move, `[-]`/`[+]` into a clear;
//! - [`plan`]: between loops and I/O, moves are not done one by one: cells are addressed at an offset from the
//!   pointer as it was when the block began (`add byte ptr [ptr + 3], 1`), the pointer moves once at the block's
//!   end, and one bounds check covers every position the block's moves reach; a loop whose body only adds,
//!   returns the pointer to where it started and steps its own cell by ±1 (`[->+>++<<]`) becomes
//!   multiplications;
//! - [`emit`]: each step as fragments, and after the program the cold code: the stubs that say which I/O call
//!   failed and, for each bounds check, the replay that finds the first move off the tape.
//!
//! `tests/bf.rs` includes this file as a module and calls [`compile`], [`compile_with`], [`run`], [`run_with`].

use rustyjit::{Code, DynamicLabel, EmitErrors, Emitter, MemError, R64, jit};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::mem::offset_of;
use std::process::ExitCode;

/// How many cells the tape has.
pub const TAPE_LEN: usize = 30_000;

/// How much output [`putc`] collects before it writes it out.
const OUT_CHUNK: usize = 1 << 16;

// ---------------------------------------------------------------------------------------------------------------
// Parsing: commands folded into operations, brackets matched.

/// One operation of the program, folded from a run of commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A run of `+` and `-`: add this to the cell (mod 256).
    Add(u8),
    /// A run of `>` and `<`: move the pointer by this many cells, at most [`TAPE_LEN`] either way (a longer
    /// run is several moves; its first already leaves the tape).
    Move(i32),
    /// `.`
    Out,
    /// `,`
    In,
    /// `[`
    Open,
    /// `]`
    Close,
    /// `[-]`, `[+]`, or any loop whose body only adds an odd number: it ends with the cell at 0.
    Clear,
}

/// An operation and the byte offset of its first command in the program.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// The byte offset of its first command.
    pub at: usize,
}

/// A place in the program: byte offset, and 1-based line and column (in bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The position of byte `offset` of `program`.
    pub fn of(program: &[u8], offset: usize) -> Pos {
        let before = &program[..offset.min(program.len())];
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        Pos {
            offset,
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            column: 1 + offset - line_start,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {} (byte {})", self.line, self.column, self.offset)
    }
}

/// A bracket without its partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmatched {
    /// A `[` that no `]` closes.
    Open(Pos),
    /// A `]` that closes no `[`.
    Close(Pos),
}

impl Unmatched {
    pub fn pos(self) -> Pos {
        match self {
            Unmatched::Open(p) | Unmatched::Close(p) => p,
        }
    }
}

impl fmt::Display for Unmatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmatched::Open(at) => write!(f, "{at}: this `[` has no matching `]`"),
            Unmatched::Close(at) => write!(f, "{at}: this `]` has no matching `[`"),
        }
    }
}

/// Why a program could not be compiled.
#[derive(Debug)]
#[non_exhaustive]
pub enum CompileError {
    /// Every unmatched bracket, in program order.
    Unmatched(Vec<Unmatched>),
    /// The emitter refused the code (a bug in this compiler, not in the program).
    Emit(EmitErrors),
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Unmatched(all) => {
                for (i, u) in all.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{u}")?;
                }
                Ok(())
            }
            CompileError::Emit(errors) => write!(f, "the emitter refused the generated code:\n{errors}"),
        }
    }
}

impl std::error::Error for CompileError {}

/// The program's operations, with runs of `+-` and `<>` folded (across comments) and clearing loops recognised,
/// or every unmatched bracket.
pub fn parse(program: &[u8]) -> Result<Vec<Node>, CompileError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut unmatched = Vec::new();
    // The run being folded: the sum of its `+-` (mod 256) or of its `<>`, and where it started.
    let mut add: Option<(u8, usize)> = None;
    let mut shift: Option<(i64, usize)> = None;
    for (at, &b) in program.iter().enumerate() {
        if !b"+-<>.,[]".contains(&b) {
            continue;
        }
        if !matches!(b, b'+' | b'-') {
            flush_add(&mut nodes, add.take());
        }
        if !matches!(b, b'<' | b'>') {
            flush_move(&mut nodes, shift.take());
        }
        match b {
            b'+' | b'-' => {
                let (sum, _) = add.get_or_insert((0, at));
                *sum = if b == b'+' {
                    sum.wrapping_add(1)
                } else {
                    sum.wrapping_sub(1)
                };
            }
            b'>' | b'<' => {
                let (sum, _) = shift.get_or_insert((0, at));
                *sum += if b == b'>' { 1 } else { -1 };
            }
            b'.' => nodes.push(Node { op: Op::Out, at }),
            b',' => nodes.push(Node { op: Op::In, at }),
            b'[' => {
                open.push(at);
                nodes.push(Node { op: Op::Open, at });
            }
            _ => {
                if open.pop().is_none() {
                    unmatched.push(Unmatched::Close(Pos::of(program, at)));
                    continue;
                }
                // `[`, an odd sum of `+-`, `]`: the loop runs until the cell is 0, and an odd step reaches 0
                // from every value (mod 256), so it is one store.
                match nodes.as_slice() {
                    [
                        ..,
                        Node {
                            op: Op::Open,
                            at: start,
                        },
                        Node { op: Op::Add(k), .. },
                    ] if k % 2 == 1 => {
                        let start = *start;
                        nodes.truncate(nodes.len() - 2);
                        nodes.push(Node {
                            op: Op::Clear,
                            at: start,
                        });
                    }
                    _ => nodes.push(Node { op: Op::Close, at }),
                }
            }
        }
    }
    flush_add(&mut nodes, add);
    flush_move(&mut nodes, shift);
    unmatched.extend(open.into_iter().map(|at| Unmatched::Open(Pos::of(program, at))));
    if unmatched.is_empty() {
        Ok(nodes)
    } else {
        unmatched.sort_by_key(|u| u.pos().offset);
        Err(CompileError::Unmatched(unmatched))
    }
}

fn flush_add(nodes: &mut Vec<Node>, run: Option<(u8, usize)>) {
    if let Some((k, at)) = run
        && k != 0
    {
        nodes.push(Node { op: Op::Add(k), at });
    }
}

/// A run of moves, as moves of at most [`TAPE_LEN`] cells: from any cell, a longer one is off the tape anyway,
/// and small moves keep every offset in a block within an `i32` displacement.
fn flush_move(nodes: &mut Vec<Node>, run: Option<(i64, usize)>) {
    let Some((mut k, at)) = run else { return };
    let most = TAPE_LEN as i64;
    while k != 0 {
        let step = k.clamp(-most, most);
        k -= step;
        nodes.push(Node {
            op: Op::Move(step as i32),
            at,
        });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Planning: straight-line blocks with deferred moves, multiplication loops.

/// The farthest a block's positions may be from where it began: blocks end before they would go farther, so
/// every offset is a small `i32`.
const BLOCK_REACH: i64 = 1 << 24;

/// Where the pointer is after one move of a block, relative to where the block began, and the move's place in
/// the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    /// The pointer's position after the move, from where the block began.
    pub to: i32,
    /// The move's byte offset in the program.
    pub at: usize,
}

/// What a block does to one cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Add(u8),
    Set(u8),
}

/// Straight-line code without I/O: the pointer's positions after each move, and the effect on each cell, by
/// offset from the pointer as it was when the block began.
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// The pointer's position after each move.
    pub moves: Vec<Reach>,
    /// The effect on each cell, by offset.
    pub effects: BTreeMap<i32, Effect>,
}

impl Block {
    /// Where the pointer ends, relative to where it began.
    pub fn net(&self) -> i32 {
        self.moves.last().map_or(0, |m| m.to)
    }

    fn is_empty(&self) -> bool {
        self.moves.is_empty() && self.effects.is_empty()
    }

    /// Adds `node` (an `Add`, `Move` or `Clear`) to the block; false, and the block unchanged, if it is another
    /// operation or the move would take the block beyond [`BLOCK_REACH`].
    fn push(&mut self, node: Node) -> bool {
        let here = self.net();
        match node.op {
            Op::Add(k) => {
                let effect = self.effects.entry(here).or_insert(Effect::Add(0));
                *effect = match *effect {
                    Effect::Add(a) => Effect::Add(a.wrapping_add(k)),
                    Effect::Set(v) => Effect::Set(v.wrapping_add(k)),
                };
            }
            Op::Clear => {
                self.effects.insert(here, Effect::Set(0));
            }
            Op::Move(k) => {
                let to = i64::from(here) + i64::from(k);
                if to.abs() > BLOCK_REACH {
                    return false;
                }
                self.moves.push(Reach {
                    to: to as i32,
                    at: node.at,
                });
            }
            Op::Out | Op::In | Op::Open | Op::Close => return false,
        }
        true
    }
}

/// A piece of the planned program.
#[derive(Debug)]
pub enum Step {
    Block(Block),
    /// A loop that adds `k * n` to cell `o` for each `(o, Add(k))` of `body`, `n` being how often it would run:
    /// the cell's value when the cell steps by -1, its negation when it steps by +1. It then clears the cell.
    /// Runs only when the cell is not 0, so the body's moves are checked only then.
    Multiply {
        body: Block,
        up: bool,
    },
    Out {
        at: usize,
    },
    In {
        at: usize,
    },
    Open,
    Close,
}

/// The program as steps.
pub fn plan(nodes: &[Node]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut block = Block::default();
    let mut i = 0;
    while let Some(&node) = nodes.get(i) {
        i += 1;
        if block.push(node) {
            continue;
        }
        if !block.is_empty() {
            steps.push(Step::Block(std::mem::take(&mut block)));
        }
        match node.op {
            Op::Add(_) | Op::Move(_) | Op::Clear => {
                block.push(node);
            }
            Op::Out => steps.push(Step::Out { at: node.at }),
            Op::In => steps.push(Step::In { at: node.at }),
            Op::Close => steps.push(Step::Close),
            Op::Open => match multiply(&nodes[i..]) {
                Some((step, len)) => {
                    steps.push(step);
                    i += len;
                }
                None => steps.push(Step::Open),
            },
        }
    }
    if !block.is_empty() {
        steps.push(Step::Block(block));
    }
    steps
}

/// The loop whose body starts `after` its `[`, as a [`Step::Multiply`] with the number of nodes through its `]`,
/// if it is one: only adds and moves, back where it started, its own cell stepping by ±1.
fn multiply(after: &[Node]) -> Option<(Step, usize)> {
    let end = after.iter().position(|n| !matches!(n.op, Op::Add(_) | Op::Move(_)))?;
    if after[end].op != Op::Close {
        return None;
    }
    let mut body = Block::default();
    if !after[..end].iter().all(|&n| body.push(n)) || body.net() != 0 {
        return None;
    }
    let up = match body.effects.remove(&0) {
        Some(Effect::Add(255)) => false,
        Some(Effect::Add(1)) => true,
        _ => return None,
    };
    Some((Step::Multiply { body, up }, end + 1))
}

// ---------------------------------------------------------------------------------------------------------------
// Running: the context the generated code and the callbacks share.

/// What the generated code is given in its first argument and keeps in `Regs::ctx`. The code reads
/// `tape_start` and `tape_end` (for the bounds checks) and writes `ptr` when it returns; the rest is for the
/// callbacks.
#[repr(C)]
pub struct Context<'io> {
    tape_start: *mut u8,
    /// One past the last cell.
    tape_end: *mut u8,
    /// The pointer when the code returned: off the tape after a failed check.
    ptr: *mut u8,
    input: &'io mut dyn BufRead,
    output: &'io mut dyn Write,
    /// Output not written yet.
    out: Vec<u8>,
    /// The I/O error that stopped the program.
    error: Option<io::Error>,
}

impl Context<'_> {
    /// Writes the collected output out.
    fn flush(&mut self) -> io::Result<()> {
        let result = self.output.write_all(&self.out).and_then(|()| self.output.flush());
        self.out.clear();
        result
    }
}

/// Displacements of the fields the generated code touches.
pub const TAPE_START: i32 = offset_of!(Context<'static>, tape_start) as i32;
pub const TAPE_END: i32 = offset_of!(Context<'static>, tape_end) as i32;
pub const PTR: i32 = offset_of!(Context<'static>, ptr) as i32;

/// `.`: appends `byte` to the output, writing it out when the buffer is full. Returns 0, or -1 after an I/O
/// error (kept in the context).
///
/// # Safety
///
/// `ctx` must be the context [`run_entry`] passed to the generated code, which calls this.
pub unsafe extern "sysv64" fn putc(ctx: *mut Context<'_>, byte: u8) -> i32 {
    // SAFETY: the generated code passes the context `run_entry` gave it (the caller's duty), which lives, and
    // which nothing else touches, until the code returns.
    let ctx = unsafe { &mut *ctx };
    ctx.out.push(byte);
    if ctx.out.len() >= OUT_CHUNK
        && let Err(e) = ctx.flush()
    {
        ctx.error = Some(e);
        return -1;
    }
    0
}

/// `,`: reads one byte into `*cell`, or leaves it at the end of input. Returns 0, or -1 after an I/O error
/// (kept in the context). Output collected so far is written first, so a prompt shows before the program waits.
///
/// # Safety
///
/// As for [`putc`]; `cell` must point into the tape.
pub unsafe extern "sysv64" fn getc(ctx: *mut Context<'_>, cell: *mut u8) -> i32 {
    // SAFETY: as in `putc`.
    let ctx = unsafe { &mut *ctx };
    let byte = ctx.flush().and_then(|()| {
        loop {
            match ctx.input.fill_buf() {
                Ok(buf) => break Ok(buf.first().copied()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        }
    });
    match byte {
        Ok(Some(b)) => {
            ctx.input.consume(1);
            // SAFETY: the generated code passes its pointer, which the bounds checks keep inside the tape.
            unsafe { *cell = b };
            0
        }
        Ok(None) => 0,
        Err(e) => {
            ctx.error = Some(e);
            -1
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Code generation.

/// The registers the generated code keeps its state in, chosen at run time: the cell pointer and the context.
/// Both are callee-saved registers, so they survive the calls to [`putc`] and [`getc`]; the code saves and
/// restores them for its own caller. (`rax`, `rcx`, `rdx`, `rdi`, `rsi` are scratch, as the ABI has them.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regs {
    /// The cell pointer.
    pub ptr: R64,
    /// The context.
    pub ctx: R64,
}

impl Regs {
    /// The registers [`compile`] uses.
    pub const DEFAULT: Regs = Regs {
        ptr: R64::RBX,
        ctx: R64::R12,
    };

    /// The callee-saved registers of the System V ABI: the ones a `Regs` can hold.
    pub const CALLEE_SAVED: [R64; 6] = [R64::RBX, R64::RBP, R64::R12, R64::R13, R64::R14, R64::R15];

    /// `ptr` and `ctx`, if they are two different callee-saved registers (`None` otherwise).
    pub fn new(ptr: R64, ctx: R64) -> Option<Regs> {
        let saved = |r| Regs::CALLEE_SAVED.contains(&r);
        (ptr != ctx && saved(ptr) && saved(ctx)).then_some(Regs { ptr, ctx })
    }
}

/// Why the generated code returned, in the low 3 bits of its return value; the rest is the byte offset of the
/// operation that failed (`offset << 3 | kind`).
pub const EXIT_OK: i64 = 0;
pub const EXIT_LEFT: i64 = 1;
pub const EXIT_RIGHT: i64 = 2;
pub const EXIT_IO: i64 = 3;
/// A bounds check failed but its replay found no move off the tape: a bug in this compiler.
pub const EXIT_BUG: i64 = 4;
pub const EXIT_BITS: u32 = 3;

/// Compiles `program` with the [`Regs::DEFAULT`] registers into a System V function of one argument, the
/// context, which returns how it ended. [`execute`] runs it.
pub fn compile(program: &[u8]) -> Result<Code, CompileError> {
    compile_with(program, Regs::DEFAULT)
}

/// Compiles `program`, keeping the cell pointer and the context in `regs`.
pub fn compile_with(program: &[u8], regs: Regs) -> Result<Code, CompileError> {
    let steps = plan(&parse(program)?);
    emit(&steps, regs).map_err(CompileError::Emit)
}

/// The state of code generation: the emitter, and the cold code to add after the program.
struct Gen {
    e: Emitter,
    regs: Regs,
    /// The epilogue: returns `rax`.
    exit: DynamicLabel,
    /// Where a replay jumps with the position off the tape in `rax` and `offset << 3` in `rdx`.
    off_left: DynamicLabel,
    off_right: DynamicLabel,
    /// Each bounds check's replay: its label and the moves it checks.
    replays: Vec<(DynamicLabel, Vec<Reach>)>,
    /// Each I/O call's failure stub: its label and the value it returns.
    io_stubs: Vec<(DynamicLabel, i64)>,
}

fn emit(steps: &[Step], regs: Regs) -> Result<Code, EmitErrors> {
    let mut e = Emitter::new();
    let (exit, off_left, off_right) = (e.new_label(), e.new_label(), e.new_label());
    let mut g = Gen {
        e,
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
                let (ptr, e) = (g.regs.ptr, &mut g.e);
                let (top, end) = (e.new_label(), e.new_label());
                jit!(e; cmp byte ptr [{ptr: r64}], 0; je {end});
                e.bind(top);
                loops.push((top, end));
            }
            Step::Close => {
                // `parse` matched every bracket, so there is always a loop to close.
                let Some((top, end)) = loops.pop() else { continue };
                let (ptr, e) = (g.regs.ptr, &mut g.e);
                jit!(e; cmp byte ptr [{ptr: r64}], 0; jne {top});
                e.bind(end);
            }
        }
    }
    g.epilogue();
    g.cold();
    g.e.finish()
}

impl Gen {
    /// Saves the registers, aligns the stack, loads the context and the pointer.
    fn prologue(&mut self) {
        let (Regs { ptr, ctx }, e) = (self.regs, &mut self.e);
        // On entry rsp is 8 past a multiple of 16; two pushes and 8 bytes make it a multiple at every call.
        jit!(e;
            push {ptr: r64}; push {ctx: r64}; sub rsp, 8
            mov {ctx: r64}, rdi
            mov {ptr: r64}, qword ptr [{ctx: r64} + {TAPE_START}]
        );
    }

    /// Returns 0 when the program ends; every exit stores the pointer and restores the registers.
    fn epilogue(&mut self) {
        let (Regs { ptr, ctx }, e) = (self.regs, &mut self.e);
        jit!(e; mov eax, {EXIT_OK as i32});
        e.bind(self.exit);
        jit!(e;
            mov qword ptr [{ctx: r64} + {PTR}], {ptr: r64}
            add rsp, 8; pop {ctx: r64}; pop {ptr: r64}
            ret
        );
    }

    /// Jumps to a replay unless every position of `moves` is on the tape. The pointer is where the block began.
    fn check(&mut self, moves: &[Reach]) {
        let (Regs { ptr, ctx }, e) = (self.regs, &mut self.e);
        let (Some(lo), Some(hi)) = (moves.iter().map(|m| m.to).min(), moves.iter().map(|m| m.to).max()) else {
            return;
        };
        let replay = e.new_label();
        if hi > 0 {
            jit!(e;
                lea rax, [{ptr: r64} + {hi}]
                cmp rax, qword ptr [{ctx: r64} + {TAPE_END}]
                jae {replay}
            );
        }
        if lo < 0 {
            jit!(e;
                lea rax, [{ptr: r64} + {lo}]
                cmp rax, qword ptr [{ctx: r64} + {TAPE_START}]
                jb {replay}
            );
        }
        self.replays.push((replay, moves.to_vec()));
    }

    /// A straight-line block: its check, its effects at their offsets, then the pointer moved once.
    fn block(&mut self, block: &Block) {
        self.check(&block.moves);
        let (ptr, e) = (self.regs.ptr, &mut self.e);
        for (&off, &effect) in &block.effects {
            match (effect, off) {
                (Effect::Add(0), _) => {}
                (Effect::Add(k), 0) => jit!(e; add byte ptr [{ptr: r64}], {k as i8}),
                (Effect::Add(k), _) => jit!(e; add byte ptr [{ptr: r64} + {off}], {k as i8}),
                (Effect::Set(v), 0) => jit!(e; mov byte ptr [{ptr: r64}], {v as i8}),
                (Effect::Set(v), _) => jit!(e; mov byte ptr [{ptr: r64} + {off}], {v as i8}),
            }
        }
        let net = block.net();
        if net != 0 {
            jit!(e; add {ptr: r64}, {net});
        }
    }

    /// A multiplication loop (see [`Step::Multiply`]).
    fn multiply(&mut self, body: &Block, up: bool) {
        let skip = self.e.new_label();
        let ptr = self.regs.ptr;
        let e = &mut self.e;
        jit!(e; cmp byte ptr [{ptr: r64}], 0; je {skip});
        self.check(&body.moves);
        let e = &mut self.e;
        jit!(e; movzx eax, byte ptr [{ptr: r64}]);
        if up {
            jit!(e; neg eax);
        }
        for (&off, &effect) in &body.effects {
            match effect {
                Effect::Add(1) => jit!(e; add byte ptr [{ptr: r64} + {off}], al),
                Effect::Add(255) => jit!(e; sub byte ptr [{ptr: r64} + {off}], al),
                Effect::Add(k) => jit!(e;
                    imul ecx, eax, {i32::from(k)}
                    add byte ptr [{ptr: r64} + {off}], cl
                ),
                // A body of adds and moves has no `Set`.
                Effect::Set(_) => {}
            }
        }
        jit!(e; mov byte ptr [{ptr: r64}], 0);
        e.bind(skip);
    }

    /// `.`: `putc(ctx, cell)`, and the failure stub if it returns non-zero.
    fn call_out(&mut self, at: usize) {
        let (Regs { ptr, ctx }, e) = (self.regs, &mut self.e);
        let failed = e.new_label();
        let putc = putc as *const () as usize as i64;
        jit!(e;
            mov rdi, {ctx: r64}
            movzx esi, byte ptr [{ptr: r64}]
            mov rax, {putc}
            call rax
            test eax, eax
            jnz {failed}
        );
        self.io_stubs.push((failed, code(at, EXIT_IO)));
    }

    /// `,`: `getc(ctx, ptr)`, and the failure stub if it returns non-zero.
    fn call_in(&mut self, at: usize) {
        let (Regs { ptr, ctx }, e) = (self.regs, &mut self.e);
        let failed = e.new_label();
        let getc = getc as *const () as usize as i64;
        jit!(e;
            mov rdi, {ctx: r64}
            mov rsi, {ptr: r64}
            mov rax, {getc}
            call rax
            test eax, eax
            jnz {failed}
        );
        self.io_stubs.push((failed, code(at, EXIT_IO)));
    }

    /// The cold code after the program: I/O failure stubs, and the replays of the bounds checks, which check
    /// each move in program order and exit at the first one off the tape, with the pointer there.
    fn cold(&mut self) {
        let (Regs { ptr, ctx }, e) = (self.regs, &mut self.e);
        let exit = self.exit;
        for &(stub, status) in &self.io_stubs {
            e.bind(stub);
            jit!(e; mov rax, {status}; jmp {exit});
        }
        let (left, right) = (self.off_left, self.off_right);
        for (replay, moves) in &self.replays {
            e.bind(*replay);
            for m in moves {
                jit!(e;
                    mov rdx, {code(m.at, 0)}
                    lea rax, [{ptr: r64} + {m.to}]
                    cmp rax, qword ptr [{ctx: r64} + {TAPE_START}]
                    jb {left}
                    cmp rax, qword ptr [{ctx: r64} + {TAPE_END}]
                    jae {right}
                );
            }
            jit!(e; mov rax, {EXIT_BUG}; jmp {exit});
        }
        e.bind(left);
        jit!(e; mov {ptr: r64}, rax; lea rax, [rdx + {EXIT_LEFT as i32}]; jmp {exit});
        e.bind(right);
        jit!(e; mov {ptr: r64}, rax; lea rax, [rdx + {EXIT_RIGHT as i32}]; jmp {exit});
    }
}

/// The value the code returns for `kind` at byte `at`.
pub fn code(at: usize, kind: i64) -> i64 {
    (at as i64) << EXIT_BITS | kind
}

// ---------------------------------------------------------------------------------------------------------------
// The runner.

/// Which end of the tape the pointer went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// Why a program did not run to its end.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    Compile(CompileError),
    /// The code could not be made executable.
    Load(MemError),
    /// The run of moves at `at` took the pointer to `cell`, off the tape.
    OffTape {
        side: Side,
        cell: i64,
        at: Pos,
    },
    /// Reading input (`,`) or writing output (`.`) at `at` failed.
    Io {
        at: Pos,
        error: io::Error,
    },
    /// Writing the output at the end failed.
    Output(io::Error),
    /// The generated code returned a status it has no meaning for: a bug in this compiler.
    Bug(i64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Compile(e) => write!(f, "{e}"),
            Error::Load(e) => write!(f, "the code could not be loaded: {e}"),
            Error::OffTape { side, cell, at } => {
                let side = match side {
                    Side::Left => "left",
                    Side::Right => "right",
                };
                let last = TAPE_LEN - 1;
                write!(
                    f,
                    "{at}: the pointer moved to cell {cell}, off the {side} end of the tape (cells 0 to {last})"
                )
            }
            Error::Io { at, error } => write!(f, "{at}: input or output failed: {error}"),
            Error::Output(error) => write!(f, "writing the output failed: {error}"),
            Error::Bug(status) => write!(f, "the generated code returned {status:#x}: a bug in the compiler"),
        }
    }
}

impl std::error::Error for Error {}

impl From<CompileError> for Error {
    fn from(e: CompileError) -> Error {
        Error::Compile(e)
    }
}

/// Compiles and runs `program` with `input` for `,`, and returns what it wrote with `.`.
pub fn run(program: &[u8], input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut output = Vec::new();
    run_with(program, &mut { input }, &mut output)?;
    Ok(output)
}

/// Compiles and runs `program`, reading `input` for `,` and writing `.` to `output`. What the program wrote
/// before an error is written out too.
pub fn run_with(program: &[u8], input: &mut dyn BufRead, output: &mut dyn Write) -> Result<(), Error> {
    let code = compile(program)?;
    // SAFETY: `compile` just made the code.
    unsafe { execute(&code, program, input, output) }
}

/// Runs code that [`compile`] or [`compile_with`] made from `program` (which gives the errors' positions) on a
/// fresh tape.
///
/// # Safety
///
/// `code` must come from [`compile`] or [`compile_with`]: it is called as such code, and other bytes could do
/// anything. (`program` only names places in errors: another program gives wrong places, nothing worse.)
pub unsafe fn execute<'io>(
    code: &Code,
    program: &[u8],
    input: &'io mut dyn BufRead,
    output: &'io mut dyn Write,
) -> Result<(), Error> {
    let f = code.load().map_err(Error::Load)?;
    // SAFETY: the caller's promise, passed on: the loaded code is what `compile_with` made; `f` outlives the call.
    unsafe { run_entry(f.as_ptr(), program, input, output) }
}

/// Runs compiled code already in executable memory at `entry` (the function [`compile_with`] makes, or the same
/// instructions made elsewhere, as the bench's dynasm port makes them) on a fresh tape.
///
/// # Safety
///
/// `entry` must be code made as [`compile_with`] makes it, executable while the call runs.
pub unsafe fn run_entry<'io>(
    entry: *const u8,
    program: &[u8],
    input: &'io mut dyn BufRead,
    output: &'io mut dyn Write,
) -> Result<(), Error> {
    let mut tape = vec![0u8; TAPE_LEN];
    let range = tape.as_mut_ptr_range();
    let mut ctx = Context {
        tape_start: range.start,
        tape_end: range.end,
        ptr: range.start,
        input,
        output,
        out: Vec::with_capacity(OUT_CHUNK),
        error: None,
    };
    // SAFETY: `compile_with` made the code at `entry` (the caller promises): a System V function of one pointer argument, the context, which
    // keeps the stack aligned at its calls, restores the registers it uses and returns an i64. It reads and writes
    // the tape only between `tape_start` and `tape_end` (the bounds checks come before any access at a new
    // position) and the context's `ptr` field, and calls `putc`/`getc` with the context. The code stays executable
    // for the call (the caller promises), `tape` and `ctx` live until after it.
    let status = unsafe {
        let main: extern "sysv64" fn(*mut Context<'io>) -> i64 = std::mem::transmute(entry);
        main(&mut ctx)
    };
    let cell = (ctx.ptr as i64).wrapping_sub(ctx.tape_start as i64);
    let flushed = ctx.flush();
    let at = Pos::of(program, (status >> EXIT_BITS) as usize);
    let off = |side| Error::OffTape { side, cell, at };
    match status & ((1 << EXIT_BITS) - 1) {
        EXIT_OK => flushed.map_err(Error::Output),
        EXIT_LEFT => Err(off(Side::Left)),
        EXIT_RIGHT => Err(off(Side::Right)),
        EXIT_IO => Err(Error::Io {
            at,
            error: ctx
                .error
                .take()
                .unwrap_or_else(|| io::Error::other("no error was kept")),
        }),
        _ => Err(Error::Bug(status)),
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: bf FILE.b   (input for `,` from standard input)");
        return ExitCode::from(2);
    };
    let program = match std::fs::read(path) {
        Ok(program) => program,
        Err(e) => {
            eprintln!("bf: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let (mut stdin, mut stdout) = (io::stdin().lock(), io::stdout().lock());
    match run_with(&program, &mut stdin, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): stop quietly, as other tools do.
        Err(Error::Io { error, .. } | Error::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bf: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
