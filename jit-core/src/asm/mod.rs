//! The assembler: text → [`Statement`]s → forms → bytes, with labels and jump relaxation.
//!
//! [`assemble`] is the runtime entry point; the `jit!` macro calls [`assemble_with_holes`] at compile time on
//! text it builds from its tokens. Both run the same parser, table, matcher and encoder.
//!
//! Layout works like GNU as: every jump to a label starts in its short (`rel8`) form; jumps whose target is out
//! of reach grow to `rel32` until nothing changes (growing only ever moves targets further, so this ends).

pub mod encode;
mod error;
mod keymap;
mod lex;
mod parse;
mod reg;
pub mod select;
mod syntax;
pub mod table;
mod words;

pub use error::{AsmError, AsmErrors, ErrorKind, WithFile};
pub use parse::Parser;
pub use reg::{Reg, RegClass};
pub use syntax::{DataWidth, MAX_OPERANDS, Mem, Operand, Operands, Size, Span, Spanned, Statement, StmtKind};

use crate::code::{Code, Entry, Label};
use encode::Fixup;
use select::Selected;
use std::borrow::Cow;
use std::collections::HashMap;
use table::{Form, Table};

/// Assembles text into [`Code`], or reports every error in it.
///
/// ```
/// let code = jit_core::assemble("MOV RAX, 0x3\nRET").unwrap();
/// assert_eq!(code.bytes(), [0x48, 0xc7, 0xc0, 0x03, 0x00, 0x00, 0x00, 0xc3]);
/// ```
pub fn assemble(src: &str) -> Result<Code, AsmErrors> {
    assemble_with_holes(src).map(|a| a.code)
}

/// Where a runtime value (`{N}` in the text, `{expr}` in `jit!`) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HolePatch {
    /// The hole's number.
    pub hole: u32,
    /// Byte offset of the immediate in the code.
    pub offset: u32,
    /// Width of the immediate in bytes (1, 2, 4 or 8).
    pub bytes: u8,
    /// Where the hole was written.
    pub span: Span,
}

/// Code plus the places its runtime values go.
#[derive(Clone, Debug)]
pub struct Assembly {
    /// The code, with zeros where the runtime values go.
    pub code: Code,
    /// One patch per `{N}`, in source order.
    pub holes: Vec<HolePatch>,
}

/// Assembles text that may contain `{N}` placeholders for immediates supplied at run time.
///
/// ```
/// let a = jit_core::asm::assemble_with_holes("mov eax, {0}; ret").unwrap();
/// assert_eq!(a.code.bytes(), [0xb8, 0, 0, 0, 0, 0xc3]);
/// assert_eq!((a.holes[0].offset, a.holes[0].bytes), (1, 4));
/// ```
pub fn assemble_with_holes(src: &str) -> Result<Assembly, AsmErrors> {
    let (parts, holes) = Assembler::default().run(src)?;
    Ok(Assembly {
        code: parts.into_code(src.to_string()),
        holes,
    })
}

/// [`assemble`] for text the caller owns: the text becomes the code's source as it is, without a copy (the
/// command line assembles whole files this way).
///
/// ```
/// let code = jit_core::asm::assemble_string("mov rax, 3; ret".to_string()).unwrap();
/// assert_eq!(code.bytes(), [0x48, 0xc7, 0xc0, 0x03, 0x00, 0x00, 0x00, 0xc3]);
/// assert_eq!(code.source(), "mov rax, 3; ret");
/// ```
pub fn assemble_string(src: String) -> Result<Code, AsmErrors> {
    let (parts, _) = Assembler::default().run(&src)?;
    Ok(parts.into_code(src))
}

/// Everything of a [`Code`] but its source.
struct Parts {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    labels: Vec<Label>,
}

impl Parts {
    fn into_code(self, source: String) -> Code {
        Code::new(self.bytes, self.entries, self.labels, source)
    }
}

/// Where a statement came from, for its listing entry (line and text range) and its errors.
type Origin = Span;

/// One statement's place in the layout. Kept small (32 bytes): what only some statements have, fixups and jumps,
/// lives in [`Assembler::fixups`] and [`Assembler::jumps`].
enum Item<'s> {
    /// Bytes already encoded, in `Assembler::buf[start..start + len]`; with `fixup`, the next fixup in
    /// [`Assembler::fixups`] is theirs.
    Bytes {
        start: u32,
        len: u32,
        origin: Origin,
        fixup: bool,
    },
    /// A jump to a label: `Assembler::jumps[index]`.
    Jump(u32),
    /// A label definition.
    Label(&'s str),
}

const _: () = assert!(size_of::<Item<'_>>() <= 32, "layout items stay small");

/// A jump to a label; `short` while the rel8 form is in use.
struct Jump<'s> {
    short: Option<&'static Form>,
    long: &'static Form,
    label: &'s str,
    /// The label's item.
    target: usize,
    is_short: bool,
    origin: Origin,
}

impl Jump<'_> {
    /// The form in use.
    fn form(&self) -> &'static Form {
        match (self.short, self.is_short) {
            (Some(f), true) => f,
            _ => self.long,
        }
    }
}

impl Item<'_> {
    fn len(&self, jumps: &[Jump<'_>]) -> u32 {
        match self {
            Item::Bytes { len, .. } => *len,
            Item::Jump(j) => form_len(jumps[*j as usize].form()),
            Item::Label(_) => 0,
        }
    }
}

/// Length of a relative jump form: prefixes, opcode and offset (no ModRM).
fn form_len(f: &Form) -> u32 {
    (f.prefixes.len() + f.opcode.len()) as u32 + u32::from(f.imm_bytes)
}

#[derive(Default)]
struct Assembler<'s> {
    items: Vec<Item<'s>>,
    buf: Vec<u8>,
    errors: Vec<AsmError>,
    labels: HashMap<&'s str, usize>,
    /// The fixups of the items that have one, in item order.
    fixups: Vec<Fixup<'s>>,
    /// The jumps to labels, in item order; without any, the code is `buf` as it is.
    jumps: Vec<Jump<'s>>,
}

impl<'s> Assembler<'s> {
    fn run(mut self, src: &'s str) -> Result<(Parts, Vec<HolePatch>), AsmErrors> {
        let table: &'static Table = Table::get();
        let mut parser = Parser::new(src);
        let mut label_spans: Vec<(&'s str, Span)> = Vec::new();
        while let Some(stmt) = &parser.next_statement() {
            self.errors.append(&mut parser.take_errors());
            let origin: Origin = stmt.span;
            match stmt.kind {
                StmtKind::Label(name) => {
                    if self.labels.insert(name, self.items.len()).is_some() {
                        self.errors.push(AsmError {
                            kind: ErrorKind::DuplicateLabel(name.into()),
                            span: stmt.span,
                        });
                    }
                    self.items.push(Item::Label(name));
                }
                StmtKind::Data { width, ref values } => {
                    let start = self.buf.len() as u32;
                    for v in values {
                        self.buf
                            .extend_from_slice(&(v.node as i64).to_le_bytes()[..width as usize]);
                    }
                    let len = self.buf.len() as u32 - start;
                    self.items.push(Item::Bytes {
                        start,
                        len,
                        origin,
                        fixup: false,
                    });
                }
                StmtKind::Instruction { mnemonic, ref operands } => {
                    let ops = operands.as_slice();
                    match select::select(table.forms(mnemonic.node), mnemonic, ops) {
                        Ok(Selected::Encoded(e, _)) => {
                            let start = self.buf.len() as u32;
                            e.append_to(&mut self.buf);
                            let len = e.len() as u32;
                            if let Some(fixup) = e.fixup {
                                self.fixups.push(fixup);
                            }
                            self.items.push(Item::Bytes {
                                start,
                                len,
                                origin,
                                fixup: e.fixup.is_some(),
                            });
                        }
                        Ok(Selected::Jump { short, long, label }) => {
                            if let Some(op) = ops.first() {
                                label_spans.push((label, op.span));
                            }
                            self.items.push(Item::Jump(self.jumps.len() as u32));
                            self.jumps.push(Jump {
                                short,
                                long,
                                label,
                                target: 0,
                                is_short: short.is_some(),
                                origin,
                            });
                        }
                        Err(e) => self.errors.push(e),
                    }
                }
            }
        }
        self.errors.append(&mut parser.take_errors());
        self.resolve_labels(&label_spans);
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| e.span.start);
            return Err(AsmErrors(self.errors));
        }
        let offsets = self.relax();
        self.emit(&offsets)
    }

    /// Points every jump at its label's item; reports undefined labels (jumps and `[rip + label]`), in item
    /// order.
    fn resolve_labels(&mut self, label_spans: &[(&'s str, Span)]) {
        let mut fixups = self.fixups.iter();
        for item in &self.items {
            match *item {
                Item::Jump(j) => {
                    let jump = &mut self.jumps[j as usize];
                    match self.labels.get(jump.label) {
                        Some(&t) => jump.target = t,
                        None => {
                            let span = label_spans.get(j as usize).map_or(jump.origin, |&(_, s)| s);
                            self.errors.push(AsmError {
                                kind: ErrorKind::UndefinedLabel(jump.label.to_string()),
                                span,
                            });
                        }
                    }
                }
                Item::Bytes {
                    fixup: true, origin, ..
                } => {
                    if let Some(Fixup::RipLabel { label, .. }) = fixups.next()
                        && !self.labels.contains_key(label)
                    {
                        let kind = ErrorKind::UndefinedLabel(label.to_string());
                        self.errors.push(AsmError { kind, span: origin });
                    }
                }
                _ => {}
            }
        }
    }

    /// Grows short jumps that cannot reach until none changes; returns each item's offset.
    fn relax(&mut self) -> Vec<u64> {
        let mut offsets = vec![0u64; self.items.len() + 1];
        loop {
            let mut at = 0u64;
            for (i, item) in self.items.iter().enumerate() {
                offsets[i] = at;
                at += u64::from(item.len(&self.jumps));
            }
            offsets[self.items.len()] = at;
            let mut changed = false;
            for (i, item) in self.items.iter().enumerate() {
                if let Item::Jump(j) = *item
                    && let jump = &mut self.jumps[j as usize]
                    && let (Some(f), true) = (jump.short, jump.is_short)
                {
                    let end = offsets[i] + u64::from(form_len(f));
                    let disp = offsets[jump.target] as i64 - end as i64;
                    if i8::try_from(disp).is_err() {
                        jump.is_short = false;
                        changed = true;
                    }
                }
            }
            if !changed {
                return offsets;
            }
        }
    }

    fn emit(mut self, offsets: &[u64]) -> Result<(Parts, Vec<HolePatch>), AsmErrors> {
        let total = offsets.last().copied().unwrap_or(0);
        if total > u64::from(u32::MAX) {
            let span = Span::default();
            return Err(AsmErrors(vec![AsmError {
                kind: ErrorKind::TooLarge,
                span,
            }]));
        }
        // Without jumps every item's bytes are already where they belong: `buf` is the code, and only fixups are
        // patched in it. With jumps, the items are copied out in order with the jumps between them.
        let in_place = self.jumps.is_empty();
        let mut bytes = if in_place {
            std::mem::take(&mut self.buf)
        } else {
            Vec::with_capacity(total as usize)
        };
        let mut entries = Vec::with_capacity(self.items.len());
        let mut labels = Vec::new();
        let mut holes = Vec::new();
        let target_of = |label: &str| self.labels.get(label).map_or(0, |&i| offsets[i] as i64);
        let mut fixups = self.fixups.iter();
        for (i, item) in self.items.iter().enumerate() {
            let at = offsets[i];
            let origin = match item {
                Item::Label(name) => {
                    labels.push(Label {
                        name: Cow::Owned(name.to_string()),
                        offset: at as u32,
                    });
                    continue;
                }
                Item::Bytes {
                    start,
                    len,
                    origin,
                    fixup,
                } => {
                    let base = if in_place {
                        *start as usize
                    } else {
                        let base = bytes.len();
                        bytes.extend_from_slice(&self.buf[*start as usize..(*start + *len) as usize]);
                        base
                    };
                    match fixup.then(|| fixups.next()).flatten().copied() {
                        Some(Fixup::RipLabel {
                            at: field,
                            label,
                            addend,
                        }) => {
                            let next = at as i64 + i64::from(*len);
                            let disp = (target_of(label) + i64::from(addend) - next) as i32;
                            let field = base + usize::from(field);
                            bytes[field..field + 4].copy_from_slice(&disp.to_le_bytes());
                        }
                        Some(Fixup::Hole {
                            at: field,
                            hole,
                            bytes: n,
                        }) => {
                            holes.push(HolePatch {
                                hole,
                                offset: at as u32 + u32::from(field),
                                bytes: n,
                                span: *origin,
                            });
                        }
                        None => {}
                    }
                    origin
                }
                Item::Jump(j) => {
                    let jump = &self.jumps[*j as usize];
                    let form = jump.form();
                    let next = at as i64 + i64::from(form_len(form));
                    let disp = (offsets[jump.target] as i64 - next) as i32;
                    bytes.extend_from_slice(&form.prefixes);
                    bytes.extend_from_slice(&form.opcode);
                    bytes.extend_from_slice(&disp.to_le_bytes()[..usize::from(form.imm_bytes)]);
                    &jump.origin
                }
            };
            let len = (offsets[i + 1] - at) as u32;
            entries.push(Entry {
                offset: at as u32,
                len,
                line: origin.line,
                text: (origin.start, origin.end),
            });
        }
        Ok((Parts { bytes, entries, labels }, holes))
    }
}

#[cfg(test)]
mod tests;
