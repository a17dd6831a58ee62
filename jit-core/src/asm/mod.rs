//! The assembler: text → [`Statement`]s → forms → bytes, with labels and jump relaxation.
//!
//! [`assemble`] is the runtime entry point; the `jit!` macro calls [`assemble_with_holes`] at compile time on
//! text it builds from its tokens. Both run the same parser, table, matcher and encoder.
//!
//! Layout works like GNU as: every jump to a label starts in its short (`rel8`) form; jumps whose target is out
//! of reach grow to `rel32` until nothing changes (growing only ever moves targets further, so this ends).

pub mod encode;
mod error;
mod fast;
mod keymap;
pub mod layout;
mod lex;
pub mod lower;
mod memo;
mod parse;
mod reg;
pub mod select;
mod syntax;
pub mod table;
mod words;

pub use error::{AddressFault, AsmError, AsmErrors, ErrorKind, WithFile};
pub use parse::Parser;
pub use reg::{Reg, RegClass};
pub use syntax::{
    DataWidth, Index, MAX_OPERANDS, Mem, MemHoles, Operand, Operands, RegKind, Scale, Size, Span, Spanned, Statement,
    StmtKind,
};

use crate::code::{Code, Entry, Label};
use encode::Fixup;
use layout::{Pos, Site};
use lex::Place;
use select::Selected;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
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

/// Whether a statement can start with this word: a mnemonic or a data keyword (`db`, `.quad`, ...). The `jit!`
/// macro tells `jit!(e; ...)` from a block whose first statement is one word this way.
///
/// ```
/// use jit_core::asm::is_statement_keyword;
/// assert!(is_statement_keyword("ret") && is_statement_keyword("DB") && !is_statement_keyword("e"));
/// ```
pub fn is_statement_keyword(word: &str) -> bool {
    matches!(words::word(word.as_bytes()), words::Word::Data(_)) || !Table::get().forms(word).is_empty()
}

/// Why the text assembler refuses a runtime register or address part.
const RUNTIME_PARTS: &str =
    "runtime registers and address parts (`{expr: r64}`, `[... + {expr}]`) need the emitter: `jit!(e; ...)`";

/// Everything of a [`Code`] but its source.
struct Assembled {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    labels: Vec<Label>,
}

impl Assembled {
    fn into_code(self, source: String) -> Code {
        Code::new(self.bytes, self.entries, self.labels, source)
    }
}

/// Does now what the first assembly of a long text would do first: builds the instruction table and asks how many
/// cores there are. Called on another thread while a long text is read (as `rustyjit asm` does), it takes that
/// half millisecond off the assembly.
///
/// ```
/// let reading = std::thread::spawn(jit_core::asm::prepare);
/// let text = "mov rax, 3\nret"; // read meanwhile
/// reading.join().unwrap();
/// assert_eq!(jit_core::asm::assemble_bytes(text).unwrap().len(), 8);
/// ```
pub fn prepare() {
    Table::get();
    fast::threads();
}

/// Assembles text into its bytes alone, without the listing ([`Code::entries`]) or a copy of the source: the
/// cheapest way to bytes (`rustyjit asm --format hex` uses it).
///
/// ```
/// let bytes = jit_core::asm::assemble_bytes("mov rax, 3\nret").unwrap();
/// assert_eq!(bytes, [0x48, 0xc7, 0xc0, 0x03, 0x00, 0x00, 0x00, 0xc3]);
/// ```
pub fn assemble_bytes(src: &str) -> Result<Vec<u8>, AsmErrors> {
    let assembler = Assembler {
        entries: None,
        ..Assembler::default()
    };
    assembler.run(src).map(|(parts, _)| parts.bytes)
}

/// Where a statement came from, for its listing entry (line and text range) and its errors.
type Origin = Span;

/// Marks a listing entry that is a jump until layout gives it its offset and length.
const JUMP_ENTRY: u32 = u32::MAX;

/// A jump to a label: its forms and label; its place and length are its [`Site`] (same index in
/// [`Assembler::sites`]).
struct Jump<'s> {
    short: Option<&'static Form>,
    long: &'static Form,
    label: &'s str,
    /// The label operand, where an undefined label is reported.
    label_span: Span,
}

impl Jump<'_> {
    /// The form in use at `site`.
    fn form(&self, site: &Site) -> &'static Form {
        match (self.short, site.is_short) {
            (Some(f), true) => f,
            _ => self.long,
        }
    }
}

/// A label definition: the offset in [`Assembler::buf`] it stands for, and how many jumps come before it.
struct LabelDef<'s> {
    name: &'s str,
    pos: Pos,
}

/// An encoded instruction with something to fill in at layout: where its bytes are in [`Assembler::buf`], how
/// many jumps come before it, and the fixup.
struct Patch<'s> {
    start: u32,
    len: u32,
    jumps_before: u32,
    fixup: Fixup<'s>,
    origin: Origin,
}

/// Builds the code in one pass over the statements.
///
/// Every statement but a jump to a label is encoded straight into `buf`, in order; jumps, label definitions and
/// fixups are kept aside with their offset in `buf`. Without jumps `buf` is the code. With them, a position's
/// final offset is its offset in `buf` plus the lengths of the jumps before it, so layout works on the jumps
/// alone and copies `buf` once, with the jumps between its pieces.
struct Assembler<'s> {
    buf: Vec<u8>,
    errors: Vec<AsmError>,
    /// Each label's index in `defs`.
    labels: HashMap<&'s str, u32>,
    defs: Vec<LabelDef<'s>>,
    patches: Vec<Patch<'s>>,
    jumps: Vec<Jump<'s>>,
    /// Each jump's place, length and target, for [`layout::relax`].
    sites: Vec<Site>,
    /// The listing, when wanted: offsets in `buf` until layout; a jump's entry has length [`JUMP_ENTRY`].
    entries: Option<Vec<Entry>>,
    /// Whether statements of the common shape take the fast path ([`fast`]); off only in the tests that check
    /// it against the parser.
    fast: bool,
}

impl Default for Assembler<'_> {
    fn default() -> Self {
        Assembler {
            buf: Vec::new(),
            errors: Vec::new(),
            labels: HashMap::new(),
            defs: Vec::new(),
            patches: Vec::new(),
            jumps: Vec::new(),
            sites: Vec::new(),
            entries: Some(Vec::new()),
            fast: true,
        }
    }
}

impl<'s> Assembler<'s> {
    fn run(mut self, src: &'s str) -> Result<(Assembled, Vec<HolePatch>), AsmErrors> {
        let table: &'static Table = Table::get();
        if self.fast {
            let mut line = 1;
            fast::chunks(table, src, self.entries.is_some(), |chunk| {
                line += self.merge(table, src, chunk, line);
                // Room for what the rest of the text will likely make, once the first piece is in (moved, when it
                // is all fast): at most about a byte of code for every 3 bytes of text, an entry for every 16.
                self.buf.reserve((src.len() / 3).saturating_sub(self.buf.len()));
                if let Some(list) = &mut self.entries {
                    list.reserve((src.len() / 16).saturating_sub(list.len()));
                }
            });
        } else {
            self.parse(table, src, Place::START, src.len());
        }
        self.resolve_labels();
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| e.span.start);
            return Err(AsmErrors(self.errors));
        }
        let shifts = self.relax();
        self.emit(&shifts)
    }

    /// Takes in what the fast path made of a piece of the text that starts at line `line`, and parses the lines
    /// it left; returns the number of lines in the piece.
    fn merge(&mut self, table: &'static Table, src: &'s str, chunk: fast::FastPiece, line: u32) -> u32 {
        let shift = line - 1;
        if line == 1 && chunk.slow.is_empty() {
            // The common case: the first piece (nothing is assembled before it), all of it fast.
            debug_assert!(self.buf.is_empty() && self.defs.is_empty() && self.jumps.is_empty());
            self.buf = chunk.buf;
            if let Some(entries) = &mut self.entries {
                *entries = chunk.entries;
            }
            return chunk.lines;
        }
        let (mut buf_from, mut entries_from) = (0, 0);
        for slow in &chunk.slow {
            self.append(
                &chunk,
                buf_from..slow.buf_at as usize,
                entries_from..slow.entries_at as usize,
                shift,
            );
            let from = Place {
                line: slow.from.line + shift,
                ..slow.from
            };
            self.parse(table, src, from, slow.to);
            (buf_from, entries_from) = (slow.buf_at as usize, slow.entries_at as usize);
        }
        self.append(
            &chunk,
            buf_from..chunk.buf.len(),
            entries_from..chunk.entries.len(),
            shift,
        );
        chunk.lines
    }

    /// Appends the fast path's bytes and listing entries in these ranges of `chunk`; `shift` lines before it.
    fn append(&mut self, chunk: &fast::FastPiece, bytes: Range<usize>, entries: Range<usize>, shift: u32) {
        let moved = self.buf.len() as u32 - bytes.start as u32;
        self.buf.extend_from_slice(&chunk.buf[bytes]);
        if let Some(list) = &mut self.entries {
            list.extend(chunk.entries[entries].iter().map(|e| Entry {
                offset: e.offset.wrapping_add(moved),
                line: e.line + shift,
                ..*e
            }));
        }
    }

    /// Parses and assembles the statements of the text from `from` up to byte `to` (a line's end).
    fn parse(&mut self, table: &'static Table, src: &'s str, from: Place, to: usize) {
        let mut parser = Parser::new(src.get(..to).unwrap_or(src));
        if from != Place::START {
            parser.seek(from);
        }
        while let Some(stmt) = &parser.next_statement() {
            self.errors.append(&mut parser.take_errors());
            self.statement(table, stmt);
        }
        self.errors.append(&mut parser.take_errors());
    }

    /// Assembles one parsed statement.
    fn statement(&mut self, table: &'static Table, stmt: &Statement<'s>) {
        let origin: Origin = stmt.span;
        match stmt.kind {
            StmtKind::Label(name) => {
                let def = LabelDef {
                    name,
                    pos: Pos {
                        at: self.buf.len() as u32,
                        jumps_before: self.jumps.len() as u32,
                    },
                };
                if self.labels.insert(name, self.defs.len() as u32).is_some() {
                    self.errors.push(AsmError {
                        kind: ErrorKind::DuplicateLabel(name.into()),
                        span: stmt.span,
                    });
                }
                self.defs.push(def);
            }
            StmtKind::Data { width, ref values } => {
                let start = self.buf.len() as u32;
                for v in values {
                    self.buf
                        .extend_from_slice(&(v.node as i64).to_le_bytes()[..width as usize]);
                }
                self.entry(start, self.buf.len() as u32 - start, origin);
            }
            StmtKind::Instruction { mnemonic, ref operands } => {
                let ops = operands.as_slice();
                // Runtime registers and address parts are for the emitter's fragments, which `lower` takes.
                let runtime = |o: &&Spanned<Operand>| match o.node {
                    Operand::RegHole(..) => true,
                    Operand::Mem(m) => m.holes.any(),
                    _ => false,
                };
                if let Some(op) = ops.iter().find(runtime) {
                    let why = RUNTIME_PARTS.to_string();
                    self.errors.push(AsmError {
                        kind: ErrorKind::BadOperand(why),
                        span: op.span,
                    });
                    return;
                }
                match select::select_form(table.forms(mnemonic.node), mnemonic, ops) {
                    Ok(Selected::Encoded(e, _)) => {
                        let start = self.buf.len() as u32;
                        e.append_to(&mut self.buf);
                        let len = e.len() as u32;
                        if let Some(fixup) = e.fixup {
                            self.patches.push(Patch {
                                start,
                                len,
                                jumps_before: self.jumps.len() as u32,
                                fixup,
                                origin,
                            });
                        }
                        self.entry(start, len, origin);
                    }
                    Ok(Selected::Jump { short, long, label }) => {
                        let at = self.buf.len() as u32;
                        self.entry(at, JUMP_ENTRY, origin);
                        self.jumps.push(Jump {
                            short,
                            long,
                            label,
                            label_span: ops.first().map_or(origin, |op| op.span),
                        });
                        let short_len = short.map_or(0, |f| f.fixed_len);
                        self.sites.push(Site::new(at, short_len, long.fixed_len, 0));
                    }
                    Err(e) => self.errors.push(e),
                }
            }
        }
    }

    /// Records a listing entry, if a listing is wanted.
    fn entry(&mut self, start: u32, len: u32, origin: Origin) {
        if let Some(entries) = &mut self.entries {
            entries.push(Entry {
                offset: start,
                len,
                line: origin.line,
                text: (origin.start, origin.end),
            });
        }
    }

    /// Points every jump at its label; reports undefined labels (jumps and `[rip + label]`).
    fn resolve_labels(&mut self) {
        for (jump, site) in self.jumps.iter().zip(&mut self.sites) {
            match self.labels.get(jump.label) {
                Some(&t) => site.target = t,
                None => self.errors.push(AsmError {
                    kind: ErrorKind::UndefinedLabel(jump.label.to_string()),
                    span: jump.label_span,
                }),
            }
        }
        for patch in &self.patches {
            if let Fixup::RipLabel { label, .. } = patch.fixup
                && !self.labels.contains_key(label)
            {
                let kind = ErrorKind::UndefinedLabel(label.to_string());
                self.errors.push(AsmError {
                    kind,
                    span: patch.origin,
                });
            }
        }
    }

    /// Lays the jumps out ([`layout::relax`]): for each `k`, what a position with `k` jumps before it moves by.
    fn relax(&mut self) -> Vec<u64> {
        let targets: Vec<Pos> = self.defs.iter().map(|d| d.pos).collect();
        layout::relax(&mut self.sites, &targets)
    }

    fn emit(mut self, shifts: &[u64]) -> Result<(Assembled, Vec<HolePatch>), AsmErrors> {
        let total = self.buf.len() as u64 + shifts.last().copied().unwrap_or(0);
        if total > u64::from(u32::MAX) {
            let span = Span::default();
            return Err(AsmErrors(vec![AsmError {
                kind: ErrorKind::TooLarge,
                span,
            }]));
        }
        let final_at = |at: u32, jumps_before: u32| layout::final_at(shifts, Pos { at, jumps_before }) as u32;
        let labels: Vec<Label> = self
            .defs
            .iter()
            .map(|d| Label {
                name: Cow::Owned(d.name.to_string()),
                offset: layout::final_at(shifts, d.pos) as u32,
            })
            .collect();
        // Without jumps every byte is already where it belongs; with them, `buf` is copied piece by piece with
        // the jumps between the pieces.
        let mut bytes = if self.jumps.is_empty() {
            std::mem::take(&mut self.buf)
        } else {
            let mut bytes = Vec::with_capacity(total as usize);
            let mut from = 0usize;
            for (j, (jump, site)) in self.jumps.iter().zip(&self.sites).enumerate() {
                let at = site.at as usize;
                bytes.extend_from_slice(&self.buf[from..at]);
                from = at;
                let form = jump.form(site);
                let def = &self.defs[site.target as usize];
                let next = final_at(site.at, j as u32) as i64 + i64::from(site.size());
                let disp = (layout::final_at(shifts, def.pos) as i64 - next) as i32;
                bytes.extend_from_slice(&form.prefixes);
                bytes.extend_from_slice(&form.opcode);
                bytes.extend_from_slice(&disp.to_le_bytes()[..usize::from(form.imm_bytes)]);
            }
            bytes.extend_from_slice(&self.buf[from..]);
            bytes
        };
        let mut holes = Vec::new();
        for patch in &self.patches {
            let start = final_at(patch.start, patch.jumps_before);
            match patch.fixup {
                Fixup::RipLabel { at, label, addend } => {
                    let def = self.labels.get(label).map(|&i| &self.defs[i as usize]);
                    let target = def.map_or(0, |d| layout::final_at(shifts, d.pos) as i64);
                    let next = i64::from(start) + i64::from(patch.len);
                    let disp = (target + i64::from(addend) - next) as i32;
                    let field = start as usize + usize::from(at);
                    bytes[field..field + 4].copy_from_slice(&disp.to_le_bytes());
                }
                Fixup::Hole { at, hole, bytes: n } => holes.push(HolePatch {
                    hole,
                    offset: start + u32::from(at),
                    bytes: n,
                    span: patch.origin,
                }),
            }
        }
        // The listing's offsets, from `buf` to the code: each moves by the jumps before it.
        let mut entries = self.entries.take().unwrap_or_default();
        let mut sites = self.sites.iter();
        let mut shift = 0u32;
        for e in &mut entries {
            e.offset += shift;
            if e.len == JUMP_ENTRY {
                let len = sites.next().map_or(0, Site::size);
                e.len = len;
                shift += len;
            }
        }
        Ok((Assembled { bytes, entries, labels }, holes))
    }
}

#[cfg(test)]
mod tests;
