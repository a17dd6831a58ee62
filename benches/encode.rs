//! The encoder alone against iced-x86's `Encoder` (issue 6, item 3), on the same instruction mix as the assembly
//! bench (`benches/common`), N = 1,000 to 1,000,000 instructions. Target: at least iced's throughput.
//!
//! Reproduce: `cargo bench --bench encode`.
//!
//! Both sides start from instructions whose encoding form is already chosen, prepared outside the timed part:
//! - rustyjit: the text is parsed and matched once; the timed loop calls `encode::encode(form, operands, imm)`.
//! - iced: the same bytes are decoded once into `iced_x86::Instruction`s (each names its exact form, a `Code`);
//!   the timed loop calls `Encoder::encode`.
//!
//! Both append every instruction to one output buffer, allocated outside the timed part. Before timing, both
//! outputs are checked to equal the assembled bytes. A third bench, `rustyjit_select_and_encode`, times what the
//! assembler really does per instruction: choose the form from the parsed operands (the shortest encoding, as GNU
//! as does), then encode it.

use iced_x86::{Decoder, DecoderOptions, Encoder, Instruction};
use jit_core::asm::encode::{self, MAX_LEN};
use jit_core::asm::select::{self, Selected};
use jit_core::asm::table::{Form, Table};
use jit_core::asm::{MAX_OPERANDS, Operand, Parser, Spanned, Statement, StmtKind};
use std::sync::LazyLock;

#[allow(dead_code)] // `paired`, which the comparisons with a peer use
mod common;

fn main() {
    divan::main();
}

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// One instruction ready for the encoder: its form, operands and immediate.
struct Ready {
    form: &'static Form,
    ops: [Operand<'static>; MAX_OPERANDS],
    len: usize,
    imm: i64,
}

struct Mix {
    /// The parsed statements (for select + encode).
    statements: Vec<Statement<'static>>,
    /// The same instructions with their forms chosen (for encode alone).
    ready: Vec<Ready>,
    /// The same instructions as iced sees them.
    iced: Vec<Instruction>,
    /// The assembled bytes.
    bytes: Vec<u8>,
}

fn operands<'a, 's>(stmt: &'a Statement<'s>) -> Option<(Spanned<&'s str>, &'a [Spanned<Operand<'s>>])> {
    match &stmt.kind {
        StmtKind::Instruction { mnemonic, operands, .. } => Some((*mnemonic, operands.as_slice())),
        _ => None,
    }
}

fn mix(n: usize) -> Mix {
    let text: &'static str = common::source(n).leak();
    let bytes = jit_core::assemble(text).expect("the mix assembles").bytes().to_vec();
    let mut parser = Parser::new(text);
    let statements: Vec<Statement<'static>> = std::iter::from_fn(|| parser.next_statement()).collect();
    assert_eq!(statements.len(), n);
    let table = Table::get();
    let ready = statements
        .iter()
        .map(|stmt| {
            let (mnemonic, ops) = operands(stmt).expect("an instruction");
            let Ok(Selected::Encoded(_, form)) = select::select_form(table.forms(mnemonic.node), mnemonic, None, ops)
            else {
                panic!("the mix has no jumps")
            };
            let mut plain = [Operand::Imm(0); MAX_OPERANDS];
            let mut imm = 0;
            for (slot, op) in plain.iter_mut().zip(ops) {
                *slot = op.node;
                if let Operand::Imm(v) = op.node {
                    imm = i64::try_from(v).expect("the mix's immediates are small");
                }
            }
            Ready {
                form,
                ops: plain,
                len: ops.len(),
                imm,
            }
        })
        .collect();
    let mut decoder = Decoder::new(64, &bytes, DecoderOptions::NONE);
    let iced: Vec<Instruction> = decoder.iter().collect();
    assert_eq!(iced.len(), n, "iced decodes the same number of instructions");
    let mix = Mix {
        statements,
        ready,
        iced,
        bytes,
    };
    assert_eq!(encode_all(&mix.ready, Vec::new()), mix.bytes, "rustyjit's encoder");
    assert_eq!(
        iced_encode_all(&mix.iced, Encoder::new(64)),
        mix.bytes,
        "iced's encoder"
    );
    assert_eq!(
        select_and_encode_all(&mix.statements, Vec::new()),
        mix.bytes,
        "select + encode"
    );
    mix
}

static MIXES: LazyLock<Vec<(usize, Mix)>> = LazyLock::new(|| SIZES.iter().map(|&n| (n, mix(n))).collect());

fn get(n: usize) -> &'static Mix {
    &MIXES.iter().find(|(size, _)| *size == n).expect("a prepared size").1
}

fn encode_all(ready: &[Ready], mut out: Vec<u8>) -> Vec<u8> {
    for r in ready {
        let e = encode::encode(r.form, &r.ops[..r.len], r.imm, 0).expect("encodable");
        out.extend_from_slice(e.bytes());
    }
    out
}

fn iced_encode_all(instructions: &[Instruction], mut encoder: Encoder) -> Vec<u8> {
    for ins in instructions {
        encoder.encode(ins, 0).expect("encodable");
    }
    encoder.take_buffer()
}

fn select_and_encode_all(statements: &[Statement<'_>], mut out: Vec<u8>) -> Vec<u8> {
    let table = Table::get();
    for stmt in statements {
        if let StmtKind::Instruction { mnemonic, operands, .. } = &stmt.kind {
            let ops = operands.as_slice();
            if let Ok(Selected::Encoded(e, _)) = select::select_form(table.forms(mnemonic.node), *mnemonic, None, ops) {
                out.extend_from_slice(e.bytes());
            }
        }
    }
    out
}

/// `jit_core::asm::encode::encode` on instructions whose forms are chosen.
#[divan::bench(args = SIZES, sample_count = 20)]
fn rustyjit_encode(bencher: divan::Bencher, n: usize) {
    let mix = get(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .with_inputs(|| Vec::with_capacity(n * MAX_LEN))
        .bench_local_values(|out| encode_all(&mix.ready, out));
}

/// `iced_x86::Encoder::encode` on the same instructions.
#[divan::bench(args = SIZES, sample_count = 20)]
fn iced_encode(bencher: divan::Bencher, n: usize) {
    let mix = get(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .with_inputs(|| Encoder::try_with_capacity(64, n * MAX_LEN).expect("64-bit encoder"))
        .bench_local_values(|encoder| iced_encode_all(&mix.iced, encoder));
}

/// The assembler's per-instruction work after parsing: choose the form, then encode.
#[divan::bench(args = SIZES, sample_count = 20)]
fn rustyjit_select_and_encode(bencher: divan::Bencher, n: usize) {
    let mix = get(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .with_inputs(|| Vec::with_capacity(n * MAX_LEN))
        .bench_local_values(|out| select_and_encode_all(&mix.statements, out));
}
