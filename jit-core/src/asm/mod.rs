//! The assembler: text → [`Statement`]s → forms → bytes, with labels and jump relaxation.
//!
//! [`assemble`] is the runtime entry point; the `jit!` macro calls [`assemble_with_holes`] at compile time on
//! text it builds from its tokens. Both run the same parser, table, matcher and encoder.
//!
//! Layout works like GNU as: every jump to a label starts in its short (`rel8`) form; jumps whose target is out
//! of reach grow to `rel32` until nothing changes (growing only ever moves targets further, so this ends).

mod encoding;
mod error;
mod forms;
mod speed;
mod text;

pub use encoding::{encode, layout, lower};
pub use error::{AddressFault, AsmError, AsmErrors, ErrorKind, PrefixFault, WithFile};
pub use forms::{select, table};
pub use text::parse::Parser;
pub use text::reg::{Reg, RegClass};
pub use text::syntax::{
    DataWidth, Index, MAX_OPERANDS, Mem, MemHoles, Operand, Operands, Prefix, RegKind, Scale, Size, Span, Spanned,
    Statement, StmtKind,
};

use crate::code::{Code, Entry, Label};
use encode::Fixup;
use forms::keymap::{KeyMap, NameKey};
use layout::{Pos, Site};
use select::{Selected, jump_forms};
use speed::memo::{Instruction, Made, Memo, Shaped};
use speed::parallel;
use std::borrow::Cow;
use std::ops::Range;
use table::{Form, Table};
use text::lex::Place;
use text::parse::{Next, Reader};

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
    assemble_with(src, Settings::default())
}

/// How the assembler goes about its work. The code, its listing and the errors are the same with any settings;
/// only the time it takes differs. The defaults are the fastest; [`Settings::PLAIN`] turns the speed machinery
/// off, to measure what it is worth (`cargo bench --bench asm`) or to check it (the tests do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Encode an instruction of a shape seen before from the template the encoder made for the first.
    pub memo: bool,
    /// Assemble a long text in pieces, on a thread for each core this process may use.
    pub threads: bool,
}

impl Settings {
    /// Every instruction matched and encoded from the table, on the calling thread.
    pub const PLAIN: Settings = Settings {
        memo: false,
        threads: false,
    };
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memo: true,
            threads: true,
        }
    }
}

/// [`assemble_with_holes`] with these [`Settings`].
///
/// ```
/// use jit_core::asm::{Settings, assemble_with, assemble_with_holes};
/// let text = "mov eax, {0}\nadd rax, rcx\nadd rdx, rbx\nret";
/// let plain = assemble_with(text, Settings::PLAIN).unwrap();
/// assert_eq!(plain.code.bytes(), assemble_with_holes(text).unwrap().code.bytes());
/// ```
pub fn assemble_with(src: &str, settings: Settings) -> Result<Assembly, AsmErrors> {
    let assembler = Assembler {
        settings,
        ..Assembler::default()
    };
    let (parts, holes) = assembler.run(src)?;
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
    matches!(text::words::word(word.as_bytes()), text::words::Word::Data(_)) || !Table::get().forms(word).is_empty()
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
    parallel::threads();
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

/// A jump to a label: its forms; its place, length and label are its [`Site`] (same index in
/// [`Assembler::sites`]).
struct Jump {
    short: Option<&'static Form>,
    long: &'static Form,
    /// The label operand, where an undefined label is reported.
    label_span: Span,
}

impl Jump {
    /// The form in use at `site`.
    fn form(&self, site: &Site) -> &'static Form {
        match (self.short, site.is_short) {
            (Some(f), true) => f,
            _ => self.long,
        }
    }
}

/// A label definition: its name and label id, the offset in [`Assembler::buf`] it stands for and how many jumps
/// come before it, and where it is written.
struct LabelDef<'s> {
    name: &'s str,
    label: u32,
    pos: Pos,
    span: Span,
}

/// An encoded instruction with something to fill in at layout: where its bytes are in [`Assembler::buf`], how
/// many jumps come before it, and the fixup.
struct Patch<'s> {
    start: u32,
    len: u32,
    jumps_before: u32,
    fixup: Fixup<'s>,
    origin: Origin,
    /// For a `[rip + label]` fixup, its label's id, which [`Assembler::resolve_labels`] makes the index of its
    /// definition in [`Assembler::defs`]; `None` for a hole.
    label: Option<u32>,
}

/// Builds the code in one pass over the statements.
///
/// Every statement but a jump to a label is encoded straight into `buf`, in order; jumps, label definitions and
/// fixups are kept aside with their offset in `buf`, and name their label by a number (its id) given to each name
/// the first time it is seen. Without jumps `buf` is the code. With them, a position's final offset is its offset
/// in `buf` plus the lengths of the jumps before it, so layout works on the jumps alone and copies `buf` once,
/// with the jumps between its pieces.
struct Assembler<'s> {
    buf: Vec<u8>,
    errors: Vec<AsmError>,
    /// Each label's id: its index in `names`. A piece numbers the labels it names itself; appended, they are
    /// numbered again, one lookup for each name the piece has (not for each use).
    labels: KeyMap<NameKey<'s>, u32>,
    names: Vec<NameKey<'s>>,
    defs: Vec<LabelDef<'s>>,
    patches: Vec<Patch<'s>>,
    jumps: Vec<Jump>,
    /// Each jump's place, length and label (its id, then its definition's index in `defs`), for
    /// [`layout::relax`].
    sites: Vec<Site>,
    /// The listing, when wanted: offsets in `buf` until layout; a jump's entry has length [`JUMP_ENTRY`].
    entries: Option<Vec<Entry>>,
    /// Whether instructions go through the [`Memo`], and long texts through threads.
    settings: Settings,
}

impl Default for Assembler<'_> {
    fn default() -> Self {
        Assembler {
            buf: Vec::new(),
            errors: Vec::new(),
            labels: KeyMap::default(),
            names: Vec::new(),
            defs: Vec::new(),
            patches: Vec::new(),
            jumps: Vec::new(),
            sites: Vec::new(),
            entries: Some(Vec::new()),
            settings: Settings::default(),
        }
    }
}

impl<'s> Assembler<'s> {
    /// Assembles `src` with this assembler's settings (a listing or not; the memo or not): in one piece, or for a
    /// long text in pieces on threads ([`parallel::pieces`]), appended in order.
    fn run(self, src: &'s str) -> Result<(Assembled, Vec<HolePatch>), AsmErrors> {
        let table: &'static Table = Table::get();
        let (listing, memo) = (self.entries.is_some(), self.settings.memo);
        let piece = |range: Range<usize>, memos: &mut Memo| Assembler::piece(table, src, range, listing, memo, memos);
        let mut whole: Option<Assembler<'s>> = None;
        let mut lines = 0;
        parallel::pieces(src, self.settings.threads, piece, |(piece, piece_lines)| {
            match &mut whole {
                None => whole = Some(piece),
                Some(whole) => {
                    // Room for what the whole text will likely make (once; then there is): at most about a byte
                    // of code for every 3 bytes of text, an entry for every 16.
                    whole.buf.reserve((src.len() / 3).saturating_sub(whole.buf.len()));
                    if let Some(list) = &mut whole.entries {
                        list.reserve((src.len() / 16).saturating_sub(list.len()));
                    }
                    whole.append(piece, lines);
                }
            }
            lines += piece_lines;
        });
        let mut whole = whole.unwrap_or(self);
        whole.resolve_labels();
        if !whole.errors.is_empty() {
            whole.errors.sort_by_key(|e| e.span.start);
            return Err(AsmErrors(whole.errors));
        }
        let shifts = whole.relax();
        whole.emit(&shifts)
    }

    /// Assembles the whole lines `src[range]`, counting lines from 1 at its first; returns the piece and its
    /// number of lines (its newlines). Instructions of a shape the memo (`memos`) has seen are encoded from its
    /// template as they are read, the parser keeping only what the memo asks of them ([`Shaped`]); any other
    /// instruction is read again with its operands and goes to the memo's encoder, or to [`Assembler::instruction`]
    /// (a jump, a fixup, an error).
    fn piece(
        table: &'static Table,
        src: &'s str,
        range: Range<usize>,
        listing: bool,
        memo: bool,
        memos: &mut Memo,
    ) -> (Assembler<'s>, u32) {
        let mut piece = Assembler {
            buf: Vec::with_capacity(range.len() / 4),
            entries: listing.then(|| Vec::with_capacity(range.len() / 16)),
            // Room for a label named on about every fourth line without growing.
            labels: KeyMap::with_capacity_and_hasher(range.len() / 64, Default::default()),
            settings: Settings { memo, threads: false },
            ..Assembler::default()
        };
        let text = &src[..range.end];
        let first = Place {
            pos: range.start,
            line: 1,
            col_origin: range.start,
        };
        let mut reader = Reader::<Shaped>::at(text, first);
        while let Some(next) = reader.next() {
            match next {
                Next::Instruction => piece.read_instruction(table, text, &reader, memos),
                Next::Label(name, span) => piece.label(name, span),
                Next::Data(width, values, span) => piece.data(width, &values, span),
                Next::Failed => piece.errors.append(&mut reader.take_errors()),
            }
        }
        (piece, reader.line() - 1)
    }

    /// Appends `piece`, assembled after this, whose first line is `lines` lines after this one's first.
    fn append(&mut self, piece: Assembler<'s>, lines: u32) {
        let (at, jumps) = (self.buf.len() as u32, self.jumps.len() as u32);
        let moved = |span: Span| Span {
            line: span.line + lines,
            ..span
        };
        let pos = |p: Pos| Pos {
            at: p.at + at,
            jumps_before: p.jumps_before + jumps,
        };
        self.labels.reserve(piece.names.len());
        let ids: Vec<u32> = piece.names.iter().map(|&key| self.label_id(key)).collect();
        self.buf.extend_from_slice(&piece.buf);
        self.errors.extend(piece.errors.into_iter().map(|e| AsmError {
            span: moved(e.span),
            ..e
        }));
        self.defs.extend(piece.defs.into_iter().map(|def| LabelDef {
            label: ids[def.label as usize],
            pos: pos(def.pos),
            span: moved(def.span),
            ..def
        }));
        self.patches.extend(piece.patches.into_iter().map(|p| Patch {
            start: p.start + at,
            jumps_before: p.jumps_before + jumps,
            origin: moved(p.origin),
            label: p.label.map(|label| ids[label as usize]),
            ..p
        }));
        self.jumps.extend(piece.jumps.into_iter().map(|j| Jump {
            label_span: moved(j.label_span),
            ..j
        }));
        self.sites.extend(piece.sites.into_iter().map(|s| Site {
            at: s.at + at,
            target: ids[s.target as usize],
            ..s
        }));
        if let (Some(list), Some(entries)) = (&mut self.entries, piece.entries) {
            list.extend(entries.into_iter().map(|e| Entry {
                offset: e.offset + at,
                line: e.line + lines,
                ..e
            }));
        }
    }

    /// The instruction `reader` read last: a jump to a label by its mnemonic's jump forms; from the memo's
    /// template when it has seen its shape; else read again with its operands, for the memo's encoder or
    /// [`Assembler::instruction`].
    fn read_instruction(
        &mut self,
        table: &'static Table,
        text: &'s str,
        reader: &Reader<'s, Shaped<'s>>,
        memo: &mut Memo,
    ) {
        let span = reader.instruction_span();
        let shaped = reader.kept();
        // (A prefixed instruction is not `taken`: the table's path checks and encodes its prefix.)
        let key = reader.mnemonic_key().filter(|_| self.settings.memo && shaped.taken());
        if let (Some(key), Some(label)) = (key, shaped.label)
            && shaped.is_label()
            && let Some((short, long)) = jump_forms(table.forms_by_key(key))
        {
            return self.jump(short, long, label, span);
        }
        let start = self.buf.len();
        let remembered = key.and_then(|key| memo.remembered(key, shaped.shape(), &shaped.parts, &mut self.buf));
        if let Some((made, _)) = remembered
            && !cfg!(debug_assertions)
        {
            return self.made(start, made, shaped, span);
        }
        let mnemonic = Spanned {
            node: reader.text(reader.mnemonic()),
            span: reader.mnemonic(),
        };
        let mut full = Reader::<Operands>::at(text, Place::of(mnemonic.span));
        let Some(Next::Instruction) = full.next() else {
            // Not so: the same grammar reads the same instruction again (the tests would stop here).
            debug_assert!(false, "`{}` read again is no instruction", mnemonic.node);
            return;
        };
        let operands = full.kept().as_slice();
        let ins = key.and_then(|key| Instruction::of(mnemonic.node, key, operands));
        let made = match (remembered, &ins) {
            (Some((made, form)), Some(ins)) => {
                speed::memo::check(table, ins, form, &self.buf[start..]);
                Some(made)
            }
            (_, Some(ins)) => memo.encode(table, ins, &mut self.buf),
            (_, None) => None,
        };
        match (made, ins) {
            (Some(made), Some(ins)) => self.made(start, made, &ins.shaped, span),
            _ => self.instruction(table, reader.prefix(), mnemonic, operands, reader.prefixed_span()),
        }
    }

    /// The memo's bytes for an instruction, appended at `start`: its listing entry, and the fixup of a
    /// `[rip + label]`.
    #[inline(always)]
    fn made(&mut self, start: usize, made: Made, shaped: &Shaped<'s>, origin: Origin) {
        // A label alone is a jump's, which the memo does not make (`select_form` gives a jump or an error).
        debug_assert!(!shaped.is_label(), "the memo made bytes for a jump");
        let (start, len) = (start as u32, made.len as u32);
        if let Some(label) = shaped.label {
            let fixup = Fixup::RipLabel {
                at: made.disp_at,
                label: label.node,
                addend: shaped.parts.disp,
            };
            self.patch(start, len, fixup, origin);
        }
        self.entry(start, len, origin);
    }

    /// A label definition.
    fn label(&mut self, name: &'s str, span: Span) {
        let pos = Pos {
            at: self.buf.len() as u32,
            jumps_before: self.jumps.len() as u32,
        };
        let label = self.label_id(NameKey::of(name));
        self.defs.push(LabelDef { name, label, pos, span });
    }

    /// The id of the label `name`: a new one the first time it is seen.
    fn label_id(&mut self, name: NameKey<'s>) -> u32 {
        let next = self.names.len() as u32;
        *self.labels.entry(name).or_insert_with(|| {
            self.names.push(name);
            next
        })
    }

    /// Data: the values' low bytes.
    fn data(&mut self, width: DataWidth, values: &[Spanned<i128>], span: Span) {
        let start = self.buf.len() as u32;
        for v in values {
            self.buf
                .extend_from_slice(&(v.node as i64).to_le_bytes()[..width as usize]);
        }
        self.entry(start, self.buf.len() as u32 - start, span);
    }

    /// Assembles an instruction by the table (`select_form`): plain bytes, a jump to lay out, or bytes with a
    /// fixup.
    fn instruction(
        &mut self,
        table: &'static Table,
        prefix: Option<Spanned<Prefix>>,
        mnemonic: Spanned<&'s str>,
        ops: &[Spanned<Operand<'s>>],
        origin: Origin,
    ) {
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
        match select::select_form(table.forms(mnemonic.node), mnemonic, prefix, ops) {
            Ok(Selected::Encoded(e, _)) => {
                let start = self.buf.len() as u32;
                e.append_to(&mut self.buf);
                let len = e.len() as u32;
                if let Some(fixup) = e.fixup {
                    self.patch(start, len, fixup, origin);
                }
                self.entry(start, len, origin);
            }
            Ok(Selected::Jump { short, long, label }) => {
                let span = ops.first().map_or(origin, |op| op.span);
                self.jump(short, long, Spanned { node: label, span }, origin);
            }
            Err(e) => self.errors.push(e),
        }
    }

    /// An instruction at `start` with bytes to fill in at layout.
    fn patch(&mut self, start: u32, len: u32, fixup: Fixup<'s>, origin: Origin) {
        let label = match fixup {
            Fixup::RipLabel { label, .. } => Some(self.label_id(NameKey::of(label))),
            Fixup::Hole { .. } => None,
        };
        self.patches.push(Patch {
            start,
            len,
            jumps_before: self.jumps.len() as u32,
            fixup,
            origin,
            label,
        });
    }

    /// A jump to a label (`short` and `long` its forms), whose place and length layout decides.
    fn jump(&mut self, short: Option<&'static Form>, long: &'static Form, label: Spanned<&'s str>, origin: Origin) {
        let at = self.buf.len() as u32;
        self.entry(at, JUMP_ENTRY, origin);
        self.jumps.push(Jump {
            short,
            long,
            label_span: label.span,
        });
        let short_len = short.map_or(0, |f| f.fixed_len);
        let label = self.label_id(NameKey::of(label.node));
        self.sites.push(Site::new(at, short_len, long.fixed_len, label));
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

    /// Points every jump and `[rip + label]` at its label's definition; reports labels defined twice, and
    /// undefined labels.
    fn resolve_labels(&mut self) {
        const UNDEFINED: u32 = u32::MAX;
        let mut def_of = vec![UNDEFINED; self.names.len()];
        for (i, def) in self.defs.iter().enumerate() {
            match &mut def_of[def.label as usize] {
                first @ &mut UNDEFINED => *first = i as u32,
                _ => self.errors.push(AsmError {
                    kind: ErrorKind::DuplicateLabel(def.name.into()),
                    span: def.span,
                }),
            }
        }
        let (names, errors) = (&self.names, &mut self.errors);
        let mut def = |label: u32, span: Span| match def_of[label as usize] {
            UNDEFINED => {
                let kind = ErrorKind::UndefinedLabel(names[label as usize].name());
                errors.push(AsmError { kind, span });
                0
            }
            def => def,
        };
        for (jump, site) in self.jumps.iter().zip(&mut self.sites) {
            site.target = def(site.target, jump.label_span);
        }
        for patch in &mut self.patches {
            patch.label = patch.label.map(|label| def(label, patch.origin));
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
        // Each label's offset, in one pass over the definitions: jumps and fixups ask for them in any order, and
        // a long text's definitions are megabytes, its offsets a quarter of that.
        let def_at: Vec<u32> = self
            .defs
            .iter()
            .map(|d| layout::final_at(shifts, d.pos) as u32)
            .collect();
        // The labels go with the listing (bytes alone are wanted without either).
        let labels: Vec<Label> = match self.entries {
            Some(_) => (self.defs.iter().zip(&def_at))
                .map(|(d, &offset)| Label {
                    name: Cow::Owned(d.name.to_string()),
                    offset,
                })
                .collect(),
            None => Vec::new(),
        };
        // `buf` with the jumps laid out between its pieces: each the form in use, with its displacement.
        let (jumps, sites) = (&self.jumps, &self.sites);
        let mut bytes = layout::lay_out(std::mem::take(&mut self.buf), total as usize, sites, |j, gap, end| {
            let form = jumps[j].form(&sites[j]);
            let head = form.prefixes.iter().chain(form.opcode.iter());
            let (word, n) = head.fold((0u64, 0), |(word, n), &b| (word | u64::from(b) << (8 * n), n + 1));
            let disp = (i64::from(def_at[sites[j].target as usize]) - end as i64) as u64;
            let disp = disp & u64::MAX.checked_shr(64 - 8 * u32::from(form.imm_bytes)).unwrap_or(0);
            layout::write_jump(gap, word | disp << (8 * n));
        });
        let mut holes = Vec::new();
        for patch in &self.patches {
            let start = final_at(patch.start, patch.jumps_before);
            match patch.fixup {
                Fixup::RipLabel { at, addend, .. } => {
                    let target = patch.label.map_or(0, |label| i64::from(def_at[label as usize]));
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
