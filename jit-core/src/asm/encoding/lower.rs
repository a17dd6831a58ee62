//! Lowering a `jit!(e; ...)` fragment to templates, at compile time: the text (with `{N}` for runtime values and
//! labels, `{N:r64}` for runtime registers) parsed, matched and encoded by the assembler's own parser, matcher and
//! encoder, which report where each runtime part goes ([`encode_with`]).
//!
//! An instruction with runtime registers is encoded with every value of every register (16 per register, 20 for
//! `r8`), so the templates are exactly what the assembler makes of the text with the registers written in —
//! special cases included (`rsp`/`r12` as base need a SIB byte, `rbp`/`r13` a displacement, `r8..r15` and
//! `spl..dil` a REX prefix, `ah..bh` refuse one, `rax` has short accumulator forms). Values of one register that
//! encode alike with every value of the others form a class; the emitter picks the template by the classes.
//!
//! Jumps to labels are not encoded here: they are laid out when the emitter finishes, as the assembler lays out
//! a text's jumps ([`layout`](super::layout)), so a program built from fragments has the bytes of its text.

use super::encode::{Field, Fields, Part, encode_with};
use crate::asm::error::{AddressFault, AsmError, AsmErrors, ErrorKind};
use crate::asm::forms::select::{self, Selected};
use crate::asm::forms::table::{Form, Table};
use crate::asm::text::parse::{Parser, RegTerm, build_mem};
use crate::asm::text::reg::Reg;
use crate::asm::text::syntax::{Mem, MemHoles, Operand, Prefix, RegKind, Scale, Span, Spanned, Statement, StmtKind};
use crate::emit::spec::{self, ERROR, Patch, PatchKind, Stmt, Target};
use std::collections::{BTreeMap, HashMap};

/// How a fragment's hole is used: what type `jit!` gives its expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoleUse {
    /// An immediate of this many bytes.
    Imm(u8),
    /// A 32-bit displacement.
    Disp,
    /// A runtime label (a jump or call target, or `[rip + {label}]`).
    Label,
    /// A runtime register.
    Reg(RegKind),
}

/// Bytes and the places arguments go (an owned [`Template`](crate::emit::spec::Template)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Template {
    /// The bytes, zero where arguments go (a rip-relative displacement holds its addend).
    pub bytes: Vec<u8>,
    /// Where the arguments go.
    pub patches: Vec<Patch>,
}

impl Template {
    /// The bytes as one little-endian word, for a template of at most 16 bytes; 0 for a longer one.
    pub fn word(&self) -> u128 {
        match self.bytes.len() {
            0..=16 => self.bytes.iter().rev().fold(0, |w, &b| w << 8 | u128::from(b)),
            _ => 0,
        }
    }

    /// The patches of values and labels (the registers' go into [`Template::reg_bits`]).
    pub fn value_patches(&self) -> Vec<Patch> {
        self.patches.iter().filter(|p| !p.kind.is_register()).copied().collect()
    }

    /// For each runtime register (its hole and kind), what each of its values ORs into the template's word: the
    /// register patches worked out at compile time.
    pub fn reg_bits(&self, kinds: &BTreeMap<u32, HoleUse>) -> Vec<(u32, Vec<u128>)> {
        let mut out: Vec<(u32, Vec<u128>)> = Vec::new();
        for p in &self.patches {
            if !p.kind.is_register() {
                continue;
            }
            let count = match kinds.get(&p.arg) {
                Some(HoleUse::Reg(kind)) => kind.count(),
                _ => 16,
            };
            let at = match out.iter().position(|(a, _)| *a == p.arg) {
                Some(i) => i,
                None => {
                    out.push((p.arg, vec![0; count]));
                    out.len() - 1
                }
            };
            for (id, bits) in out[at].1.iter_mut().enumerate() {
                let hw = crate::emit::hw(id as u8);
                let (field, shift) = match p.kind {
                    PatchKind::Low3(s) => (hw & 7, s),
                    PatchKind::Bit3(s) => (hw >> 3 & 1, s),
                    PatchKind::NotBit3(s) => (!hw >> 3 & 1, s),
                    PatchKind::NotLow4(s) => (!hw & 0xf, s),
                    _ => continue,
                };
                *bits |= u128::from(field) << (8 * u32::from(p.at) + u32::from(shift));
            }
        }
        out
    }
}

/// A runtime register of an instruction (an owned [`RegUse`](crate::emit::spec::RegUse)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegUse {
    /// Its hole.
    pub arg: u32,
    /// Its kind.
    pub kind: RegKind,
    /// The class of each register number.
    pub classes: Vec<u8>,
    /// What its class is multiplied by in the table's index.
    pub stride: u16,
}

/// An instruction with runtime registers (an owned [`Instr`](crate::emit::spec::Instr)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instr {
    /// Its runtime registers.
    pub regs: Vec<RegUse>,
    /// For each combination of classes, the template, or [`ERROR`] | the error.
    pub table: Vec<u16>,
    /// The templates.
    pub templates: Vec<Template>,
    /// Why some registers cannot be encoded.
    pub errors: Vec<String>,
    /// Where it is in the text.
    pub span: Span,
}

/// A jump form: bytes with a zero displacement at the end, and the displacement's width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JumpForm {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The displacement's width.
    pub rel: u8,
}

impl JumpForm {
    /// The bytes as one little-endian word (a jump form is at most 6 bytes; the bytes after it are 0).
    pub fn word(&self) -> u64 {
        self.bytes.iter().take(8).rev().fold(0, |w, &b| w << 8 | u64::from(b))
    }
}

/// A jump or call to a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jump {
    /// The `rel8` form, if any.
    pub short: Option<JumpForm>,
    /// The `rel32` form.
    pub long: JumpForm,
    /// Where to.
    pub target: Target,
    /// Where it is in the text.
    pub span: Span,
}

/// One step of a lowered fragment (an owned [`Op`](crate::emit::spec::Op)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LOp {
    /// Instructions without runtime registers.
    Bytes {
        /// Their bytes and patches.
        template: Template,
        /// Their statements.
        stmts: Vec<Stmt>,
    },
    /// An instruction with runtime registers.
    Instr(Instr),
    /// A jump to a label.
    Jump(Jump),
    /// A label of the fragment is defined here.
    Bind(u32),
}

/// A lowered fragment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lowered {
    /// The steps.
    pub ops: Vec<LOp>,
    /// The fragment's labels, by index.
    pub locals: Vec<String>,
    /// How each hole is used, by number.
    pub holes: BTreeMap<u32, HoleUse>,
}

/// The most encodings one instruction may take to lower: four runtime registers, one of them a byte register
/// (20 values: `shld word ptr [{b: r64} + {i: r64}], {r: r16}, {c: r8}`, the count in `cl`) and three of 16, or
/// a VEX form's ModRM.reg, base, index and VEX.vvvv (16⁴).
const MAX_COMBINATIONS: usize = 20 * 16 * 16 * 16;

/// Lowers a fragment's text, or reports every error in it.
///
/// ```
/// use jit_core::asm::lower::{lower, LOp};
/// let l = lower("add {0:r64}, {1}").unwrap();
/// let LOp::Instr(i) = &l.ops[0] else { panic!() };
/// // `rax` has the accumulator form `48 05 id`; every other register `48 81 /0 id` (REX.W is there anyway, so
/// // r8..r15 differ only in REX.B, a bit the emitter patches).
/// assert_eq!(i.templates.len(), 2);
/// assert_eq!(i.regs[0].classes[..4], [0, 1, 1, 1]);
/// ```
pub fn lower(text: &str) -> Result<Lowered, AsmErrors> {
    let table = Table::get();
    let mut parser = Parser::new(text);
    let mut statements = Vec::new();
    let mut errors = Vec::new();
    while let Some(stmt) = parser.next_statement() {
        errors.append(&mut parser.take_errors());
        statements.push(stmt);
    }
    errors.append(&mut parser.take_errors());
    let mut out = Lowered::default();
    let mut locals: HashMap<&str, u32> = HashMap::new();
    for stmt in &statements {
        if let StmtKind::Label(name) = stmt.kind {
            if locals.contains_key(name) {
                errors.push(AsmError {
                    kind: ErrorKind::DuplicateLabel(name.into()),
                    span: stmt.span,
                });
            } else {
                locals.insert(name, out.locals.len() as u32);
                out.locals.push(name.to_string());
            }
        }
    }
    let mut lowering = Lowering {
        table,
        locals: &locals,
        out,
        errors,
    };
    for stmt in &statements {
        lowering.statement(stmt);
    }
    let Lowering {
        mut out, mut errors, ..
    } = lowering;
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.span.start);
        return Err(AsmErrors(errors));
    }
    // Merge adjacent byte steps, but keep a step with runtime values within 16 bytes: the emitter patches values
    // into a template of at most 16 bytes (one instruction, or a few short ones), and copies longer ones as they are.
    let values = |t: &Template| {
        t.patches
            .iter()
            .any(|p| matches!(p.kind, PatchKind::Imm(_) | PatchKind::Disp32))
    };
    let mut merged: Vec<LOp> = Vec::with_capacity(out.ops.len());
    for op in out.ops.drain(..) {
        match (merged.last_mut(), op) {
            (Some(LOp::Bytes { template, stmts }), LOp::Bytes { template: t, stmts: s })
                if !(values(template) || values(&t)) || template.bytes.len() + t.bytes.len() <= 16 =>
            {
                let at = template.bytes.len();
                template.bytes.extend_from_slice(&t.bytes);
                template.patches.extend(t.patches.iter().map(|p| Patch {
                    at: p.at + at as u16,
                    ..*p
                }));
                stmts.extend(s.iter().map(|st| Stmt {
                    offset: st.offset + at as u32,
                    ..*st
                }));
            }
            (_, op) => merged.push(op),
        }
    }
    out.ops = merged;
    Ok(out)
}

struct Lowering<'a> {
    table: &'static Table,
    locals: &'a HashMap<&'a str, u32>,
    out: Lowered,
    errors: Vec<AsmError>,
}

/// Where a runtime register sits among the operands.
#[derive(Clone, Copy, Debug)]
struct RegHole {
    hole: u32,
    kind: RegKind,
}

impl Lowering<'_> {
    fn error(&mut self, kind: ErrorKind, span: Span) {
        self.errors.push(AsmError { kind, span });
    }

    fn use_hole(&mut self, hole: u32, how: HoleUse) {
        self.out.holes.insert(hole, how);
    }

    fn statement(&mut self, stmt: &Statement<'_>) {
        let span = stmt.span;
        match &stmt.kind {
            StmtKind::Label(name) => {
                if let Some(&k) = self.locals.get(name) {
                    self.out.ops.push(LOp::Bind(k));
                }
            }
            StmtKind::Data { width, values } => {
                let mut bytes = Vec::new();
                for v in values {
                    bytes.extend_from_slice(&(v.node as i64).to_le_bytes()[..*width as usize]);
                }
                self.bytes(Template { bytes, patches: vec![] }, span);
            }
            StmtKind::Instruction {
                prefix,
                mnemonic,
                operands,
            } => {
                let ops = operands.as_slice();
                let forms = self.table.forms(mnemonic.node);
                // A prefixed jump goes to `select_form`, which refuses it.
                let jump = select::jump_forms(forms)
                    .filter(|_| prefix.is_none())
                    .and_then(|jump| Some((jump, self.jump_target(ops)?)));
                match jump {
                    Some(((short, long), Ok(target))) => self.jump(short, long, *mnemonic, target, span),
                    Some((_, Err(()))) => {} // reported
                    None => self.instruction(forms, *prefix, *mnemonic, ops, span),
                }
            }
        }
    }

    /// The label of a jump or call (a mnemonic with jump forms), if its only operand is one: a label of the
    /// fragment, or a hole (a runtime label). `Err` when it names a label the fragment does not define (reported).
    fn jump_target(&mut self, ops: &[Spanned<Operand<'_>>]) -> Option<Result<Spanned<Target>, ()>> {
        let [op] = ops else { return None };
        let target = match op.node {
            Operand::Label(name) => match self.locals.get(name) {
                Some(&k) => Target::Local(k),
                None => {
                    let why = ErrorKind::UndefinedLabel(name.to_string());
                    self.error(why, op.span);
                    return Some(Err(()));
                }
            },
            Operand::Hole(n) => {
                self.use_hole(n, HoleUse::Label);
                Target::Arg(n)
            }
            _ => return None,
        };
        Some(Ok(Spanned {
            node: target,
            span: op.span,
        }))
    }

    /// A jump to `target` with these forms, laid out when the emitter finishes.
    fn jump(
        &mut self,
        short: Option<&Form>,
        long: &Form,
        mnemonic: Spanned<&str>,
        target: Spanned<Target>,
        span: Span,
    ) {
        // The encoder's bytes for each form, with a zero displacement at the end.
        let form_bytes = |f: &Form| -> Option<JumpForm> {
            let e = super::encode::encode(f, &[Operand::Label("")], 0, 0).ok()?;
            Some(JumpForm {
                bytes: e.bytes().to_vec(),
                rel: f.imm_bytes,
            })
        };
        match form_bytes(long) {
            Some(long) => self.out.ops.push(LOp::Jump(Jump {
                short: short.and_then(form_bytes),
                long,
                target: target.node,
                span,
            })),
            None => self.error(
                ErrorKind::BadOperand(format!("`{}` cannot jump to a label", mnemonic.node)),
                span,
            ),
        }
    }

    /// Appends a statement's bytes to the steps.
    fn bytes(&mut self, template: Template, span: Span) {
        let len = template.bytes.len() as u32;
        self.out.ops.push(LOp::Bytes {
            template,
            stmts: vec![Stmt {
                offset: 0,
                len,
                text: (span.start, span.end),
            }],
        });
    }

    fn instruction(
        &mut self,
        forms: &[Form],
        prefix: Option<Spanned<Prefix>>,
        mnemonic: Spanned<&str>,
        ops: &[Spanned<Operand<'_>>],
        span: Span,
    ) {
        // The runtime registers in operand order (a memory operand's base, then its index), and the other holes.
        let mut regs: Vec<RegHole> = Vec::new();
        for op in ops {
            match op.node {
                Operand::RegHole(hole, kind) => regs.push(RegHole { hole, kind }),
                Operand::Mem(m) => {
                    for h in [m.holes.base, m.holes.index] {
                        if h != 0 {
                            regs.push(RegHole {
                                hole: u32::from(h - 1),
                                kind: RegKind::R64,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        for r in &regs {
            self.use_hole(r.hole, HoleUse::Reg(r.kind));
        }
        let counts: Vec<usize> = regs.iter().map(|r| r.kind.count()).collect();
        let total: usize = counts.iter().product();
        if total > MAX_COMBINATIONS {
            let why =
                "too many runtime registers in one instruction: at most four, one of them a byte register".to_string();
            return self.error(ErrorKind::BadOperand(why), span);
        }
        // Encode every combination of register values (the first register's value varies slowest).
        let mut templates: Vec<Template> = Vec::new();
        let mut messages: Vec<String> = Vec::new();
        let mut results: Vec<Result<usize, usize>> = Vec::with_capacity(total);
        let mut ids = vec![0u8; regs.len()];
        let mut first_error: Option<AsmError> = None;
        for c in 0..total {
            let mut rest = c;
            for (id, &n) in ids.iter_mut().zip(&counts).rev() {
                *id = (rest % n) as u8;
                rest /= n;
            }
            let result = match self.encode_one(forms, prefix, mnemonic, ops, &regs, &ids) {
                Ok(t) => Ok(intern(&mut templates, t)),
                Err(e) => {
                    let message = e.kind.to_string();
                    first_error.get_or_insert(e);
                    Err(intern(&mut messages, message))
                }
            };
            results.push(result);
        }
        if templates.is_empty() {
            // No register makes it encodable: a compile-time error (the first register values' reason).
            if let Some(e) = first_error {
                self.errors.push(e);
            }
            return;
        }
        // Note which holes the encodings used, from any template (all use the same ones).
        for p in templates.iter().flat_map(|t| &t.patches) {
            match p.kind {
                PatchKind::Imm(w) => self.use_hole(p.arg, HoleUse::Imm(w)),
                PatchKind::Disp32 => self.use_hole(p.arg, HoleUse::Disp),
                PatchKind::RipArg => self.use_hole(p.arg, HoleUse::Label),
                _ => {}
            }
        }
        if regs.is_empty() {
            return self.bytes(templates.swap_remove(0), span);
        }
        // Classes: two values of a register are alike when every combination with the others gives the same
        // result. A value's signature is its results over the other registers' values, in a fixed order.
        let mut classes: Vec<Vec<u8>> = Vec::with_capacity(regs.len());
        let mut class_reps: Vec<Vec<u8>> = Vec::with_capacity(regs.len());
        for (j, &n) in counts.iter().enumerate() {
            let inner: usize = counts[j + 1..].iter().product();
            let mut signatures: Vec<Vec<Result<usize, usize>>> = Vec::new();
            let mut of_value = Vec::with_capacity(n);
            let mut reps = Vec::new();
            for v in 0..n {
                let signature: Vec<Result<usize, usize>> = (0..total)
                    .filter(|c| (c / inner) % n == v)
                    .map(|c| results[c])
                    .collect();
                let class = match signatures.iter().position(|s| *s == signature) {
                    Some(k) => k,
                    None => {
                        signatures.push(signature);
                        reps.push(v as u8);
                        signatures.len() - 1
                    }
                };
                of_value.push(class as u8);
            }
            classes.push(of_value);
            class_reps.push(reps);
        }
        let class_counts: Vec<usize> = class_reps.iter().map(Vec::len).collect();
        let mut strides = vec![1usize; regs.len()];
        for j in (0..regs.len().saturating_sub(1)).rev() {
            strides[j] = strides[j + 1] * class_counts[j + 1];
        }
        let table_len: usize = class_counts.iter().product();
        let mut table = Vec::with_capacity(table_len);
        for k in 0..table_len {
            // The combination of representatives of class combination `k`.
            let mut c = 0;
            for j in 0..regs.len() {
                let class = (k / strides[j]) % class_counts[j];
                c = c * counts[j] + usize::from(class_reps[j][class]);
            }
            table.push(match results[c] {
                Ok(t) => t as u16,
                Err(e) => ERROR | e as u16,
            });
        }
        let regs = regs
            .iter()
            .zip(classes)
            .zip(&strides)
            .map(|((r, classes), &stride)| RegUse {
                arg: r.hole,
                kind: r.kind,
                classes,
                stride: stride as u16,
            })
            .collect();
        self.out.ops.push(LOp::Instr(Instr {
            regs,
            table,
            templates,
            errors: messages,
            span,
        }));
    }

    /// Encodes the instruction with runtime register `regs[j]` set to value `ids[j]`: its template.
    fn encode_one(
        &self,
        forms: &[Form],
        prefix: Option<Spanned<Prefix>>,
        mnemonic: Spanned<&str>,
        ops: &[Spanned<Operand<'_>>],
        regs: &[RegHole],
        ids: &[u8],
    ) -> Result<Template, AsmError> {
        let value = |hole: u32| -> Option<Reg> {
            let j = regs.iter().position(|r| r.hole == hole)?;
            Some(regs[j].kind.reg(ids[j]))
        };
        let mut concrete: Vec<Spanned<Operand<'_>>> = Vec::with_capacity(ops.len());
        // For each operand that is a memory operand with runtime registers: which hole went to the base and which
        // to the index (after the address is checked with the values, which may swap them, as for `[rbx + rsp]`).
        let mut mem_holes: Vec<MemHoles> = Vec::with_capacity(ops.len());
        for op in ops {
            let (node, holes) = match op.node {
                Operand::RegHole(hole, kind) => (Operand::Reg(value(hole).unwrap_or(kind.reg(0))), MemHoles::NONE),
                Operand::Mem(m) if m.holes.base != 0 || m.holes.index != 0 => {
                    let mem = with_registers(&m, &value).map_err(|(why, _)| AsmError {
                        kind: ErrorKind::BadAddress(why),
                        span: op.span,
                    })?;
                    let holes = mem.holes;
                    let mem = Mem {
                        holes: MemHoles {
                            base: 0,
                            index: 0,
                            ..holes
                        },
                        ..mem
                    };
                    (Operand::Mem(mem), holes)
                }
                Operand::Mem(m) => (Operand::Mem(m), m.holes),
                node => (node, MemHoles::NONE),
            };
            concrete.push(Spanned { node, span: op.span });
            mem_holes.push(holes);
        }
        let (encoded, form) = match select::select_form(forms, mnemonic, prefix, &concrete)? {
            Selected::Encoded(e, form) => (e, form),
            Selected::Jump { .. } => {
                let why = "a jump to a label takes no other operands".to_string();
                return Err(AsmError {
                    kind: ErrorKind::BadOperand(why),
                    span: mnemonic.span,
                });
            }
        };
        let plain: Vec<Operand<'_>> = concrete.iter().map(|o| o.node).collect();
        let mut fields = Fields::default();
        let again = encode_with(
            form,
            &plain,
            select::immediate(form, plain.get(usize::from(form.imm_at))).unwrap_or(0),
            0,
            prefix.map(|p| p.node),
            &mut fields,
        )
        .map_err(|kind| AsmError {
            kind,
            span: mnemonic.span,
        })?;
        debug_assert_eq!(again.bytes(), encoded.bytes());
        let mut bytes = encoded.bytes().to_vec();
        let mut patches = Vec::new();
        for &(op, at, field) in &fields.0 {
            let reg_hole = |part: Part| -> Option<u32> {
                match (ops[op].node, part) {
                    (Operand::RegHole(h, _), Part::Reg) => Some(h),
                    (_, Part::Base) if mem_holes[op].base != 0 => Some(u32::from(mem_holes[op].base - 1)),
                    (_, Part::Index) if mem_holes[op].index != 0 => Some(u32::from(mem_holes[op].index - 1)),
                    _ => None,
                }
            };
            let at16 = at as u16;
            match field {
                Field::Low3 { part, shift }
                | Field::Bit3 { part, shift }
                | Field::NotBit3 { part, shift }
                | Field::NotLow4 { part, shift } => {
                    // The register's bits are cleared in the template and patched in from its number.
                    let (bits, kind) = match field {
                        Field::Low3 { .. } => (7 << shift, PatchKind::Low3(shift)),
                        Field::Bit3 { .. } => (1 << shift, PatchKind::Bit3(shift)),
                        Field::NotBit3 { .. } => (1 << shift, PatchKind::NotBit3(shift)),
                        _ => (0xf << shift, PatchKind::NotLow4(shift)),
                    };
                    if let Some(h) = reg_hole(part) {
                        bytes[at] &= !bits;
                        patches.push(Patch { at: at16, kind, arg: h });
                    }
                }
                Field::ModRm | Field::Sib | Field::Disp(1) => {}
                Field::Disp(_) if mem_holes[op].disp == 0 => {}
                Field::Disp(_) => {
                    let Operand::Mem(m) = concrete[op].node else { continue };
                    let hole = u32::from(mem_holes[op].disp.saturating_sub(1));
                    let kind = if m.base == Some(Reg::RIP) {
                        PatchKind::RipArg
                    } else {
                        PatchKind::Disp32
                    };
                    patches.push(Patch {
                        at: at16,
                        kind,
                        arg: hole,
                    });
                }
                Field::Imm(w) => {
                    if let Operand::Hole(h) = ops[op].node {
                        patches.push(Patch {
                            at: at16,
                            kind: PatchKind::Imm(w),
                            arg: h,
                        });
                    }
                }
            }
        }
        if let Some(super::encode::Fixup::RipLabel { at, label, .. }) = encoded.fixup {
            let Some(&k) = self.locals.get(label) else {
                return Err(AsmError {
                    kind: ErrorKind::UndefinedLabel(label.to_string()),
                    span: mnemonic.span,
                });
            };
            patches.push(Patch {
                at: u16::from(at),
                kind: PatchKind::RipLocal,
                arg: k,
            });
        }
        patches.sort_by_key(|p| (p.at, p.arg));
        Ok(Template { bytes, patches })
    }
}

/// A memory operand with its runtime registers written in, checked as the parser checks a written address (which
/// may swap base and index): its [`MemHoles`] then say which hole ended up where.
fn with_registers<'s>(
    m: &Mem<'s>,
    value: &dyn Fn(u32) -> Option<Reg>,
) -> Result<Mem<'s>, (AddressFault, Option<Span>)> {
    let term = |reg: Reg, hole: u16, scale: Option<Scale>| RegTerm {
        reg: match hole {
            0 => reg,
            h => value(u32::from(h - 1)).unwrap_or(reg),
        },
        scale,
        span: Span::default(),
        hole,
    };
    let mut terms = Vec::with_capacity(2);
    if let Some(b) = m.base {
        terms.push(term(b, m.holes.base, None));
    }
    if let Some(ix) = m.index {
        let scale = (m.holes.index == 0 || m.holes.index_scaled).then_some(ix.scale());
        terms.push(term(ix.reg(), m.holes.index, scale));
    }
    build_mem(m.size, &terms, i128::from(m.disp), m.label, m.holes.disp)
}

/// The index of `item` in `list`, added if new.
fn intern<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

impl Lowered {
    /// For each of `count` holes, how many bytes of its value the emitter keeps ([`spec::Fragment::widths`]).
    pub fn widths(&self, count: usize) -> Vec<u8> {
        (0..count as u32)
            .map(|n| match self.holes.get(&n) {
                Some(HoleUse::Imm(w)) => *w,
                Some(HoleUse::Disp | HoleUse::Label) => 4,
                Some(HoleUse::Reg(_)) => 1,
                None => 0,
            })
            .collect()
    }

    /// The holes that are runtime labels, in order.
    pub fn label_holes(&self) -> Vec<u32> {
        self.holes
            .iter()
            .filter(|(_, u)| **u == HoleUse::Label)
            .map(|(&h, _)| h)
            .collect()
    }

    /// The fragment as the `jit!` macro would write it in `static`s, made at run time by leaking its parts: for
    /// tests, and for tools that make fragments from text at run time (each call leaks its memory).
    pub fn leak(self, text: &str, file: &'static str, line: u32, column: u32) -> &'static spec::Fragment {
        let count = self.holes.keys().next_back().map_or(0, |&n| n as usize + 1);
        let widths = leak_slice(self.widths(count));
        fn leak_slice<T>(v: Vec<T>) -> &'static [T] {
            Box::leak(v.into_boxed_slice())
        }
        let holes = self.holes.clone();
        let template = |t: Template| -> spec::Template {
            let regs = t
                .reg_bits(&holes)
                .into_iter()
                .map(|(arg, bits)| spec::RegBits {
                    arg,
                    bits: leak_slice(bits),
                })
                .collect();
            spec::Template {
                word: t.word(),
                patches: leak_slice(t.value_patches()),
                regs: leak_slice(regs),
                bytes: leak_slice(t.bytes),
            }
        };
        let text_of = |s: Span| (s.start, s.end);
        let labels = self.label_holes();
        let ops = self
            .ops
            .into_iter()
            .map(|op| match op {
                LOp::Bytes { template: t, stmts, .. } => spec::Op::Bytes {
                    template: template(t),
                    stmts: leak_slice(stmts),
                },
                LOp::Instr(i) => spec::Op::Instr(Box::leak(Box::new(spec::Instr {
                    regs: leak_slice(
                        i.regs
                            .into_iter()
                            .map(|r| spec::RegUse {
                                arg: r.arg,
                                kind: r.kind.index(),
                                classes: leak_slice(r.classes),
                                stride: r.stride,
                            })
                            .collect(),
                    ),
                    table: leak_slice(i.table),
                    templates: leak_slice(i.templates.into_iter().map(template).collect()),
                    errors: leak_slice(i.errors.into_iter().map(|e| &*Box::leak(e.into_boxed_str())).collect()),
                    text: text_of(i.span),
                }))),
                LOp::Jump(j) => {
                    let form = |f: JumpForm| spec::JumpForm {
                        word: f.word(),
                        bytes: leak_slice(f.bytes),
                        rel: f.rel,
                    };
                    spec::Op::Jump(Box::leak(Box::new(spec::Jump {
                        short: j.short.map(form),
                        long: form(j.long),
                        target: j.target,
                        text: text_of(j.span),
                    })))
                }
                LOp::Bind(k) => spec::Op::Bind(k),
            })
            .collect();
        Box::leak(Box::new(spec::Fragment {
            file,
            line,
            column,
            text: Box::leak(text.to_string().into_boxed_str()),
            locals: self.locals.len() as u32,
            labels: leak_slice(labels),
            widths,
            ops: leak_slice(ops),
        }))
    }
}
