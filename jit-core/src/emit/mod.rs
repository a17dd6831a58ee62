//! The emitter: code composed at run time from `jit!(e; ...)` fragments, with registers chosen at run time, labels
//! bound at run time, and jumps between fragments laid out when it finishes.
//!
//! Each fragment was lowered at compile time to templates made by the encoder ([`spec`]): emitting it copies
//! their bytes and patches the runtime registers, values and labels in (copy-and-patch). Jumps are laid out at
//! [`finish`](Emitter::finish) as the text assembler lays out a text's jumps ([`layout`]),
//! so the code has the bytes [`assemble`](crate::assemble) gives for the same text with every runtime part
//! written in — except that runtime immediates and displacements take their widest form.
//!
//! Nothing panics on bad input: a register an instruction cannot take, a label bound twice or never bound, is an
//! [`EmitError`] naming the `jit!` call (file, line, column) and the instruction, returned by `finish`.
//!
//! ```
//! use jit_core::emit::{Emitter, R64};
//! let mut e = Emitter::new();
//! let done = e.new_label();
//! e.push_bytes(&[0x48, 0x85, 0xff]); // test rdi, rdi
//! # let _ = (R64::RAX, done);
//! let code = e.finish().unwrap();
//! assert_eq!(code.bytes(), [0x48, 0x85, 0xff]);
//! ```

mod regs;
pub mod spec;

use crate::asm::layout::{self, Pos, Site};
use crate::code::{Code, UNBOUND};
pub use regs::{R8, R16, R32, R64, Xmm, hw};
use spec::{ERROR, Fragment, Op, PatchKind, Target, Template};
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A label bound at run time ([`Emitter::new_label`], [`Emitter::bind`]), usable by every fragment of its emitter
/// as a jump or call target (`jit!(e; jnz {label})`) or an address (`[rip + {label}]`).
///
/// Named after dynasm-rs's dynamic labels; `rustyjit::Label` is a label written in assembly text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DynamicLabel {
    emitter: u32,
    index: u32,
}

impl DynamicLabel {
    /// The emitter it belongs to, and its index there.
    pub(crate) fn parts(self) -> (u32, u32) {
        (self.emitter, self.index)
    }

    /// As a fragment's argument (what `jit!` passes for `{label}`).
    #[doc(hidden)]
    pub const fn __arg(self) -> u64 {
        (self.emitter as u64) << 32 | self.index as u64
    }
}

/// Something that went wrong while emitting, found by the call that detects it and returned by
/// [`Emitter::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitError {
    /// The Rust file of the `jit!` call (or of the [`Emitter`] method call).
    pub file: &'static str,
    /// Its line.
    pub line: u32,
    /// Its column.
    pub column: u32,
    /// The instruction, with its runtime registers and values written in (empty for a label).
    pub instruction: String,
    /// What is wrong, as a sentence.
    pub message: String,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.instruction.is_empty() {
            write!(f, "`{}`: ", self.instruction)?;
        }
        f.write_str(&self.message)
    }
}

/// Every error of an emitter, in the order they were found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitErrors(pub Vec<EmitError>);

impl fmt::Display for EmitErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for EmitErrors {}

/// A rip-relative displacement to fill in when the labels have offsets.
struct Rip {
    /// The displacement's offset in the buffer, and the end of its instruction (what it is relative to).
    field: u32,
    end: u32,
    jumps_before: u32,
    label: u32,
    call: u32,
    /// The statement's text in its fragment.
    text: (u32, u32),
}

/// Which statement of a fragment a template's bytes belong to.
#[derive(Clone, Copy)]
enum Texts {
    /// All to one.
    One((u32, u32)),
    /// Each to the statement whose bytes hold it.
    Stmts(&'static [spec::Stmt]),
}

impl Texts {
    fn of(self, at: usize) -> (u32, u32) {
        match self {
            Texts::One(text) => text,
            Texts::Stmts(stmts) => stmts
                .iter()
                .find(|s| (s.offset as usize..(s.offset + s.len) as usize).contains(&at))
                .map_or((0, 0), |s| s.text),
        }
    }
}

/// One fragment emitted: for errors found later, and listings. Its arguments follow the previous call's in
/// [`Emitter::args`], packed ([`record`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    frag: &'static Fragment,
    /// Where its bytes start.
    at: Pos,
}

/// A fragment call in progress: its index and its first label (what `jit!(e; ...)` passes from
/// [`Emitter::__begin`] to each [`Emitter::__op`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Started {
    call: u32,
    first_local: u32,
}

/// Where an error happened: a fragment's statement, or a method called at a Rust location.
enum Origin {
    Fragment { call: u32, text: (u32, u32) },
    Rust(&'static std::panic::Location<'static>),
}

/// Builds code at run time from `jit!(e; ...)` fragments (and raw bytes), with labels bound at run time.
///
/// ```
/// use jit_core::emit::Emitter;
/// let mut e = Emitter::new();
/// let top = e.new_label();
/// e.bind(top);
/// e.push_bytes(&[0xc3]);
/// let code = e.finish().unwrap();
/// assert_eq!((code.bytes(), code.label_offset(top)), (&[0xc3][..], Some(0)));
/// ```
pub struct Emitter {
    id: u32,
    /// Everything but the jumps and padding, in order.
    buf: Vec<u8>,
    /// Each jump's (or padding's) place and length, and its jump (`None` for padding); the call it is of is
    /// found from the calls' positions when needed ([`Emitter::call_of_site`]).
    sites: Vec<Site>,
    jumps: Vec<Option<&'static spec::Jump>>,
    /// Each label's position in `defs`, or [`UNBOUND`].
    labels: Vec<u32>,
    defs: Vec<Pos>,
    /// Where each label was first used, for "never bound".
    rips: Vec<Rip>,
    calls: Vec<Call>,
    /// The calls' arguments, packed ([`record`]), one call's after another.
    args: Vec<u8>,
    errors: Vec<(Origin, String)>,
    /// What it made, for the next emitter on this thread to start with room for ([`Scratch::sizes`]).
    made: Sizes,
}

/// Emitters are numbered, so a label of one used in another is caught.
static NEXT_EMITTER: AtomicU32 = AtomicU32::new(1);

impl Default for Emitter {
    fn default() -> Self {
        Emitter::new()
    }
}

impl Emitter {
    /// An empty emitter.
    pub fn new() -> Emitter {
        let Scratch {
            sites,
            jumps,
            labels,
            defs,
            rips,
            sizes,
        } = SCRATCH.try_with(|kept| kept.take()).ok().flatten().unwrap_or_default();
        Emitter {
            id: NEXT_EMITTER.fetch_add(1, Ordering::Relaxed),
            buf: Vec::with_capacity(sizes.code),
            sites,
            jumps,
            labels,
            defs,
            rips,
            calls: Vec::with_capacity(sizes.calls),
            args: Vec::with_capacity(sizes.args),
            errors: Vec::new(),
            made: Sizes::default(),
        }
    }

    /// A new label, not bound yet.
    #[inline]
    pub fn new_label(&mut self) -> DynamicLabel {
        self.labels.push(UNBOUND);
        DynamicLabel {
            emitter: self.id,
            index: self.labels.len() as u32 - 1,
        }
    }

    /// Binds `label` to the current position. A label bound twice, or one of another emitter, is an error that
    /// [`finish`](Emitter::finish) reports at this call.
    #[track_caller]
    #[inline]
    pub fn bind(&mut self, label: DynamicLabel) {
        let here = std::panic::Location::caller();
        match self.own_label(label) {
            Some(i) if self.labels[i as usize] == UNBOUND => self.bind_index(i),
            Some(_) => self
                .errors
                .push((Origin::Rust(here), "the label is already bound".into())),
            None => self.errors.push((Origin::Rust(here), FOREIGN_LABEL.into())),
        }
    }

    /// The current position in the buffer of non-jump bytes and the jumps before it: final once laid out.
    fn here(&self) -> Pos {
        Pos {
            at: self.buf.len() as u32,
            jumps_before: self.sites.len() as u32,
        }
    }

    fn bind_index(&mut self, i: u32) {
        let def = self.defs.len() as u32;
        if let Some(label) = self.labels.get_mut(i as usize) {
            *label = def;
            self.defs.push(self.here());
        }
    }

    /// The label's index, if it is this emitter's.
    fn own_label(&self, label: DynamicLabel) -> Option<u32> {
        (label.emitter == self.id && (label.index as usize) < self.labels.len()).then_some(label.index)
    }

    /// The offset the next byte would have if no jump emitted so far grew; the final offset of the current
    /// position is known only at [`finish`](Emitter::finish) — bind a label here and ask the code
    /// ([`Code::label_offset`]) for it.
    pub fn offset(&self) -> usize {
        self.buf.len() + self.sites.iter().map(|s| s.size() as usize).sum::<usize>()
    }

    /// Pads with `ret` (`c3`, as unused code pages are filled) to a multiple of `align` bytes, a power of two
    /// from 1 to 4096, in the final layout. Another alignment is an error reported at this call.
    #[track_caller]
    pub fn align(&mut self, align: usize) {
        if !align.is_power_of_two() || align > 4096 {
            let why = format!("the alignment must be a power of two from 1 to 4096, not {align}");
            self.errors.push((Origin::Rust(std::panic::Location::caller()), why));
            return;
        }
        if align > 1 {
            self.sites.push(Site::padding(self.buf.len() as u32, align as u32));
            self.jumps.push(None);
        }
    }

    /// Appends raw bytes (data, or code made elsewhere).
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The emitter, through a `&mut Emitter` or an `Emitter` alike (what `jit!(e; ...)` calls on `e`).
    #[doc(hidden)]
    pub fn __emitter(&mut self) -> &mut Emitter {
        self
    }

    /// Emits a fragment with its arguments, by hole number: [`__begin`](Emitter::__begin), then
    /// [`__op`](Emitter::__op) for each step. `jit!(e; ...)` makes these calls itself, one per step with the step
    /// a constant, so that each is this same code specialised for its step.
    #[doc(hidden)]
    pub fn __fragment(&mut self, frag: &'static Fragment, args: &[u64]) {
        let started = self.__begin(frag, args);
        for op in frag.ops {
            self.__op(op, args, started);
        }
    }

    /// Starts a fragment: records the call (for listings and errors) and gives it fresh labels.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __begin(&mut self, frag: &'static Fragment, args: &[u64]) -> Started {
        let started = Started {
            call: self.calls.len() as u32,
            first_local: self.labels.len() as u32,
        };
        if frag.locals != 0 {
            self.labels.resize(self.labels.len() + frag.locals as usize, UNBOUND);
        }
        self.calls.push(Call { frag, at: self.here() });
        record(&mut self.args, frag.widths, args);
        started
    }

    /// Emits one step of the fragment [`__begin`](Emitter::__begin) started.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __op(&mut self, op: &'static Op, args: &[u64], started: Started) {
        let Started { call, first_local } = started;
        match *op {
            Op::Bytes { template, stmts } => self.put(&template, args, started, Texts::Stmts(stmts)),
            Op::Instr(_) => {
                let t = self.__choose(op, args, started);
                self.__put(op, t, args, started);
            }
            Op::Jump(jump) => {
                let label = match jump.target {
                    Target::Local(k) => Some(first_local + k),
                    Target::Arg(h) => self.arg_label(args, h),
                };
                let Some(label) = label else {
                    return self.fragment_error(call, jump.text, FOREIGN_LABEL.into());
                };
                let short = jump.short.map_or(0, |f| f.bytes.len() as u8);
                let site = Site::new(self.buf.len() as u32, short, jump.long.bytes.len() as u8, label);
                self.sites.push(site);
                self.jumps.push(Some(jump));
            }
            Op::Bind(k) => self.bind_index(first_local + k),
        }
    }

    /// Which template of the instruction step `op` these arguments take: its index, or `usize::MAX` (and the error
    /// recorded) when the registers cannot be encoded. `jit!(e; ...)` then calls [`__put`](Emitter::__put) with
    /// each index a constant, one call per template, so each is the patching code specialised for its template.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __choose(&mut self, op: &'static Op, args: &[u64], started: Started) -> usize {
        let Op::Instr(instr) = *op else { return usize::MAX };
        match choose(instr, args) {
            Ok(t) => t,
            Err(why) => {
                self.refuse(started.call, instr.text, why);
                usize::MAX
            }
        }
    }

    /// Appends template `t` of the instruction step `op` with the arguments patched in.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __put(&mut self, op: &'static Op, t: usize, args: &[u64], started: Started) {
        if let Op::Instr(instr) = *op
            && let Some(template) = instr.templates.get(t)
        {
            self.put(template, args, started, Texts::One(instr.text));
        }
    }

    #[cold]
    fn refuse(&mut self, call: u32, text: (u32, u32), why: &str) {
        self.fragment_error(call, text, why.to_string());
    }

    /// The label a fragment's argument names, if it is one of this emitter's.
    fn arg_label(&self, args: &[u64], hole: u32) -> Option<u32> {
        let v = *args.get(hole as usize)?;
        let label = DynamicLabel {
            emitter: (v >> 32) as u32,
            index: v as u32,
        };
        self.own_label(label)
    }

    /// Appends a template with the arguments patched in; `texts` says which statement a byte is of. A template
    /// of at most 16 bytes is patched in a register and stored once.
    #[inline(always)]
    fn put(&mut self, template: &Template, args: &[u64], started: Started, texts: Texts) {
        let start = self.buf.len();
        let rips = if template.bytes.len() <= 16 {
            let (word, rips) = patched(template, args);
            self.buf.reserve(16);
            // SAFETY: `reserve` left room for 16 bytes after `start`; `set_len` covers only the template's length
            // (at most 16), all of it written by the store.
            unsafe {
                self.buf
                    .as_mut_ptr()
                    .add(start)
                    .cast::<u128>()
                    .write_unaligned(word.to_le());
                self.buf.set_len(start + template.bytes.len());
            }
            rips
        } else {
            // Longer runs of bytes hold no runtime value (the lowering keeps those within 16 bytes): copied as
            // they are, with their rip-relative displacements to record.
            self.buf.extend_from_slice(template.bytes);
            let rip = |p: &spec::Patch| matches!(p.kind, PatchKind::RipLocal | PatchKind::RipArg);
            template.patches.iter().any(rip)
        };
        if rips {
            self.put_rips(template, args, started, texts, start);
        }
    }

    /// Records the rip-relative displacements of the template just appended at `start`, to fill in at layout.
    #[cold]
    fn put_rips(&mut self, template: &Template, args: &[u64], started: Started, texts: Texts, start: usize) {
        let Started { call, first_local } = started;
        let end = start + template.bytes.len();
        for p in template.patches {
            let label = match p.kind {
                PatchKind::RipLocal => Some(first_local + p.arg),
                PatchKind::RipArg => self.arg_label(args, p.arg),
                _ => continue,
            };
            let text = texts.of(usize::from(p.at));
            match label {
                Some(label) => self.rips.push(Rip {
                    field: (start + usize::from(p.at)) as u32,
                    end: end as u32,
                    jumps_before: self.sites.len() as u32,
                    label,
                    call,
                    text,
                }),
                None => self.fragment_error(call, text, FOREIGN_LABEL.into()),
            }
        }
    }

    /// The fragment call a jump site was emitted by: the last call started before it.
    fn call_of_site(&self, site: usize) -> u32 {
        let after = self.calls.partition_point(|c| c.at.jumps_before as usize <= site);
        after.saturating_sub(1) as u32
    }

    fn fragment_error(&mut self, call: u32, text: (u32, u32), message: String) {
        self.errors.push((Origin::Fragment { call, text }, message));
    }

    /// An error's location and instruction, with the runtime parts written in.
    /// `starts` holds where each call's arguments start in [`Emitter::args`] ([`arg_starts`]).
    fn describe(&self, origin: &Origin, message: String, starts: &[usize]) -> EmitError {
        match *origin {
            Origin::Rust(at) => EmitError {
                file: at.file(),
                line: at.line(),
                column: at.column(),
                instruction: String::new(),
                message,
            },
            Origin::Fragment { call, text } => {
                let frag = self.calls[call as usize].frag;
                let statement = frag.text.get(text.0 as usize..text.1 as usize).unwrap_or("");
                let start = starts.get(call as usize).copied().unwrap_or(0).min(self.args.len());
                let args = &unpack(frag, &self.args[start..])[..];
                EmitError {
                    file: frag.file,
                    line: frag.line,
                    column: frag.column,
                    instruction: written_in(statement, args, frag.labels),
                    message,
                }
            }
        }
    }

    /// The final bytes, `total` long ([`layout::lay_out`]): each jump (its form in use, with its displacement to
    /// `def_at[target]`) or padding written in its gap.
    fn lay_out(&mut self, total: usize, def_at: &[u32]) -> Vec<u8> {
        let (sites, jumps) = (&self.sites, &self.jumps);
        layout::lay_out(std::mem::take(&mut self.buf), total, sites, |i, gap, end| {
            match jumps[i] {
                None => gap.fill(0xc3),
                Some(jump) => {
                    let site = &sites[i];
                    let (form, short) = match (site.is_short, jump.short) {
                        (true, Some(short)) => (short, true),
                        _ => (jump.long, false),
                    };
                    let disp = i64::from(def_at[site.target as usize]) - end as i64;
                    let disp = if short { disp as u8 as u64 } else { disp as u32 as u64 };
                    let keep = form.bytes.len() - usize::from(form.rel);
                    layout::write_jump(gap, form.word | disp << (8 * keep));
                }
            }
        })
    }

    /// Lays the code out: labels resolved, jumps relaxed, every rip-relative displacement filled in. Every error
    /// found while emitting, and every label used but never bound, is returned instead.
    #[track_caller]
    pub fn finish(mut self) -> Result<Code, EmitErrors> {
        // A jump or rip-relative address to a label never bound.
        for j in 0..self.sites.len() {
            let (site, jump) = (self.sites[j], self.jumps[j]);
            if let Some(jump) = jump {
                match self.labels.get(site.target as usize) {
                    Some(&def) if def != UNBOUND => self.sites[j].target = def,
                    _ => {
                        let call = self.call_of_site(j);
                        self.fragment_error(call, jump.text, UNBOUND_LABEL.into());
                    }
                }
            }
        }
        for r in 0..self.rips.len() {
            let rip = &self.rips[r];
            if self.labels.get(rip.label as usize).is_none_or(|&d| d == UNBOUND) {
                let (call, text) = (rip.call, rip.text);
                self.fragment_error(call, text, UNBOUND_LABEL.into());
            }
        }
        if !self.errors.is_empty() {
            let starts = arg_starts(&self.calls);
            let errors = self
                .errors
                .iter()
                .map(|(o, m)| self.describe(o, m.clone(), &starts))
                .collect();
            return Err(EmitErrors(errors));
        }
        let shifts = layout::relax(&mut self.sites, &self.defs);
        let total = self.buf.len() as u64 + shifts.last().copied().unwrap_or(0);
        if total > u64::from(u32::MAX) {
            let at = std::panic::Location::caller();
            let too_big = "the code is larger than 4 GiB".to_string();
            return Err(EmitErrors(vec![self.describe(&Origin::Rust(at), too_big, &[])]));
        }
        let at = |pos: Pos| layout::final_at(&shifts, pos) as u32;
        // Each label definition's final offset.
        let def_at: Vec<u32> = self.defs.iter().map(|&d| at(d)).collect();
        self.made = Sizes {
            code: total as usize,
            calls: self.calls.len(),
            args: self.args.len(),
        };
        let mut bytes = self.lay_out(total as usize, &def_at);
        for rip in &self.rips {
            let pos = |at| Pos {
                at,
                jumps_before: rip.jumps_before,
            };
            let (field, end) = (at(pos(rip.field)) as usize, i64::from(at(pos(rip.end))));
            let target = i64::from(def_at[self.labels[rip.label as usize] as usize]);
            if let Some(f) = bytes.get_mut(field..field + 4) {
                let addend = i64::from(i32::from_le_bytes([f[0], f[1], f[2], f[3]]));
                f.copy_from_slice(&((target + addend - end) as i32).to_le_bytes());
            }
        }
        let offsets = self
            .labels
            .iter()
            .map(|&d| match d {
                UNBOUND => UNBOUND,
                d => def_at[d as usize],
            })
            .collect();
        let emitted = Emitted {
            emitter: self.id,
            offsets,
            calls: std::mem::take(&mut self.calls),
            args: std::mem::take(&mut self.args),
            shifts,
            listed: OnceLock::new(),
        };
        Ok(Code::emitted(bytes, emitted))
    }
}

/// The vectors an emitter needs only until it finishes (its jumps, labels and rip-relative addresses), kept per
/// thread for the next emitter when one finishes or is dropped: a JIT makes many emitters, and each would
/// otherwise grow these from nothing, in fresh memory, again.
#[derive(Default)]
struct Scratch {
    sites: Vec<Site>,
    jumps: Vec<Option<&'static spec::Jump>>,
    labels: Vec<u32>,
    defs: Vec<Pos>,
    rips: Vec<Rip>,
    /// The sizes of what the last emitter made: the next one starts with room for as much, so that a JIT
    /// compiling one program after another does not grow and copy its code and records each time.
    sizes: Sizes,
}

/// How much an emitter made: its code's bytes, its calls and their packed arguments.
#[derive(Clone, Copy, Debug, Default)]
struct Sizes {
    code: usize,
    calls: usize,
    args: usize,
}

/// Scratch vectors larger than this many bytes in all are let go rather than kept.
const SCRATCH_KEPT: usize = 64 << 20;

thread_local! {
    static SCRATCH: std::cell::Cell<Option<Scratch>> = const { std::cell::Cell::new(None) };
}

impl Drop for Emitter {
    fn drop(&mut self) {
        let mut scratch = Scratch {
            sites: std::mem::take(&mut self.sites),
            jumps: std::mem::take(&mut self.jumps),
            labels: std::mem::take(&mut self.labels),
            defs: std::mem::take(&mut self.defs),
            rips: std::mem::take(&mut self.rips),
            sizes: Sizes {
                code: self.made.code.max(self.buf.len()),
                calls: self.made.calls.max(self.calls.len()),
                args: self.made.args.max(self.args.len()),
            },
        };
        let bytes = scratch.sites.capacity() * size_of::<Site>()
            + scratch.jumps.capacity() * size_of::<Option<&spec::Jump>>()
            + scratch.labels.capacity() * 4
            + scratch.defs.capacity() * size_of::<Pos>()
            + scratch.rips.capacity() * size_of::<Rip>()
            + scratch.sizes.code
            + scratch.sizes.calls * size_of::<Call>()
            + scratch.sizes.args;
        if bytes <= SCRATCH_KEPT {
            scratch.sites.clear();
            scratch.jumps.clear();
            scratch.labels.clear();
            scratch.defs.clear();
            scratch.rips.clear();
            // `try_with`: nothing is kept while the thread's storage is being torn down.
            let _ = SCRATCH.try_with(|kept| kept.set(Some(scratch)));
        }
    }
}

const FOREIGN_LABEL: &str = "the label belongs to another emitter";
const UNBOUND_LABEL: &str = "the label is used but never bound; bind it with `e.bind(label)`";

/// A statement's text with its runtime parts written in: `{N:kind}` as the register's name, `{N}` as the value
/// (a label, one of the `labels` holes, as `label#index`).
fn written_in(text: &str, args: &[u64], labels: &[u32]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { break };
        let inside = &rest[open + 1..open + close];
        let (n, kind) = inside.split_once(':').unwrap_or((inside, ""));
        let value = n.parse::<usize>().ok().and_then(|n| args.get(n)).copied();
        match (value, crate::asm::RegKind::from_name(kind)) {
            (Some(v), Some(k)) => {
                out.push_str(regs::name(k.index(), v as u8));
            }
            (Some(v), None) if n.parse().is_ok_and(|n: u32| labels.contains(&n)) => {
                out.push_str(&format!("label#{}", v as u32));
            }
            (Some(v), None) => out.push_str(&(v as i64).to_string()),
            _ => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The index of the template of an instruction with runtime registers for these arguments, or why there is none.
#[inline(always)]
fn choose<'i>(instr: &'i spec::Instr, args: &[u64]) -> Result<usize, &'i str> {
    let mut key = 0usize;
    for r in instr.regs {
        let id = args.get(r.arg as usize).map_or(0, |&v| v as usize);
        let class = r.classes.get(id).copied().unwrap_or(0);
        key += usize::from(class) * usize::from(r.stride);
    }
    match instr.table.get(key).copied() {
        Some(t) if t & ERROR == 0 && usize::from(t) < instr.templates.len() => Ok(usize::from(t)),
        Some(t) if t & ERROR == 0 => Err("the instruction has no template for these registers"),
        t => Err(t
            .and_then(|t| instr.errors.get(usize::from(t & !ERROR)))
            .map_or("the instruction cannot take these registers", |m| m)),
    }
}

/// What emitted code keeps besides its bytes: its labels' offsets, and what its listing is made from when asked
/// (each fragment call's place and arguments, and the final jump lengths), so that emitting pays nothing for it.
#[derive(Clone, Debug)]
pub(crate) struct Emitted {
    pub(crate) emitter: u32,
    /// Each label's offset, [`UNBOUND`] for one never bound.
    pub(crate) offsets: Vec<u32>,
    calls: Vec<Call>,
    /// The calls' arguments, packed ([`record`]), one call's after another.
    args: Vec<u8>,
    /// The layout's shifts ([`layout::relax`]): the total length of the first `k` jumps (and padding), so
    /// each one's final length too.
    shifts: Vec<u64>,
    listed: OnceLock<Listed>,
}

/// Emitted code's listing: entries, labels, and the source text they point into.
#[derive(Clone, Debug, Default)]
pub(crate) struct Listed {
    pub(crate) entries: Vec<crate::Entry>,
    pub(crate) labels: Vec<crate::Label>,
    pub(crate) source: String,
}

impl PartialEq for Emitted {
    fn eq(&self, other: &Self) -> bool {
        (self.emitter, &self.offsets) == (other.emitter, &other.offsets)
    }
}

impl Eq for Emitted {}

impl Emitted {
    /// The listing, made on first use: each instruction with its runtime parts written in and the `jit!` call
    /// it came from (`# file:line:col`, a comment, so the listing still assembles), each label as `label#N`.
    pub(crate) fn listed(&self) -> &Listed {
        self.listed.get_or_init(|| {
            let mut out = Listed::default();
            let final_at = |pos: Pos| layout::final_at(&self.shifts, pos) as u32;
            for (call, start) in self.calls.iter().zip(arg_starts(&self.calls)) {
                let frag = call.frag;
                let args = &unpack(frag, self.args.get(start..).unwrap_or(&[]))[..];
                let mut pos = call.at;
                let entry = |out: &mut Listed, at: Pos, len: u32, text: (u32, u32)| {
                    let statement = frag.text.get(text.0 as usize..text.1 as usize).unwrap_or("");
                    let start = out.source.len() as u32;
                    let line = written_in(statement, args, frag.labels);
                    out.source
                        .push_str(&format!("{line}  # {}:{}:{}", frag.file, frag.line, frag.column));
                    out.entries.push(crate::Entry {
                        offset: final_at(at),
                        len,
                        line: frag.line,
                        text: (start, out.source.len() as u32),
                    });
                    out.source.push('\n');
                };
                for op in frag.ops {
                    match *op {
                        Op::Bytes { template, stmts } => {
                            for s in stmts {
                                let at = Pos {
                                    at: pos.at + s.offset,
                                    ..pos
                                };
                                entry(&mut out, at, s.len, s.text);
                            }
                            pos.at += template.bytes.len() as u32;
                        }
                        Op::Instr(instr) => {
                            if let Some(t) = choose(instr, args).ok().and_then(|t| instr.templates.get(t)) {
                                entry(&mut out, pos, t.bytes.len() as u32, instr.text);
                                pos.at += t.bytes.len() as u32;
                            }
                        }
                        Op::Jump(jump) => {
                            let k = pos.jumps_before as usize;
                            let len = match (self.shifts.get(k), self.shifts.get(k + 1)) {
                                (Some(before), Some(after)) => (after - before) as u32,
                                _ => 0,
                            };
                            entry(&mut out, pos, len, jump.text);
                            pos.jumps_before += 1;
                        }
                        Op::Bind(_) => {}
                    }
                }
            }
            out.entries.sort_by_key(|e| e.offset);
            let mut labels: Vec<crate::Label> = self
                .offsets
                .iter()
                .enumerate()
                .filter(|&(_, &o)| o != UNBOUND)
                .map(|(i, &offset)| crate::Label {
                    name: format!("label#{i}").into(),
                    offset,
                })
                .collect();
            labels.sort_by_key(|l| l.offset);
            out.labels = labels;
            out
        })
    }
}

/// Appends a fragment call's arguments, packed for its listing and messages: each value's low
/// [`Fragment::widths`] bytes. With the widths constant (each `jit!` call's own), this is a few stores.
#[inline(always)]
fn record(out: &mut Vec<u8>, widths: &[u8], args: &[u64]) {
    out.reserve(widths.len() * 8);
    let mut len = out.len();
    for (&w, &v) in widths.iter().zip(args) {
        // All eight bytes in one store, then the length moved past the kept ones only.
        // SAFETY: `reserve` left room for eight bytes a width after the old length, and `len` grows by at most
        // eight a width, so each store is within the allocation.
        unsafe { out.as_mut_ptr().add(len).cast::<u64>().write_unaligned(v.to_le()) };
        len += usize::from(w).min(8);
    }
    // SAFETY: every byte below `len` was written by a store above or was already initialised.
    unsafe { out.set_len(len) };
}

/// Where each call's arguments start in the packed arguments ([`record`]).
fn arg_starts(calls: &[Call]) -> Vec<usize> {
    let mut start = 0;
    calls
        .iter()
        .map(|c| {
            let at = start;
            start += packed_len(c.frag);
            at
        })
        .collect()
}

/// How many bytes [`record`] keeps for a call of `frag`.
fn packed_len(frag: &Fragment) -> usize {
    frag.widths.iter().map(|&w| usize::from(w).min(8)).sum()
}

/// The arguments [`record`] kept for a call of `frag` at the start of `bytes`: all but labels sign-extended (the
/// macro passes immediates and displacements sign-extended).
fn unpack(frag: &Fragment, bytes: &[u8]) -> Vec<u64> {
    let mut at = 0;
    let mut values = Vec::with_capacity(frag.widths.len());
    for (hole, &w) in frag.widths.iter().enumerate() {
        let w = usize::from(w).min(8);
        let mut le = [0u8; 8];
        if let Some(b) = bytes.get(at..at + w) {
            le[..w].copy_from_slice(b);
        }
        at += w;
        let v = u64::from_le_bytes(le);
        // A register number is below 128: sign-extending it changes nothing.
        let signed = !frag.labels.contains(&(hole as u32));
        values.push(match w {
            1..=7 if signed => ((v << (64 - 8 * w)) as i64 >> (64 - 8 * w)) as u64,
            _ => v,
        });
    }
    values
}

/// A template of at most 16 bytes with the arguments patched in, as one little-endian word (the bytes after the
/// template's are 0), and whether it has rip-relative displacements to record. Patched in a register: each
/// runtime register is one table load ([`spec::RegBits`]), each value a shift and an add into its field.
#[inline(always)]
fn patched(template: &Template, args: &[u64]) -> (u128, bool) {
    let mut word = template.word;
    for r in template.regs {
        let id = args.get(r.arg as usize).map_or(0, |&v| v as usize);
        word |= r.bits.get(id).copied().unwrap_or(0);
    }
    let n = template.bytes.len();
    let mut rips = false;
    for p in template.patches {
        let (at, value) = (usize::from(p.at), args.get(p.arg as usize).copied().unwrap_or(0));
        let width = match p.kind {
            PatchKind::Imm(width) => usize::from(width).min(8),
            PatchKind::Disp32 => 4,
            // Register fields are in `regs`; rip-relative displacements are filled in at layout.
            PatchKind::Low3(_)
            | PatchKind::Bit3(_)
            | PatchKind::NotBit3(_)
            | PatchKind::NotLow4(_)
            | PatchKind::RipLocal
            | PatchKind::RipArg => 0,
        };
        rips |= matches!(p.kind, PatchKind::RipLocal | PatchKind::RipArg);
        // The value is added into its field (an immediate's is 0, a displacement's holds the constant part):
        // one way for both, without a branch. A field that would not fit changes nothing.
        let mask = match at + width <= n && width > 0 {
            true => u128::from(u64::MAX >> (64 - 8 * width)) << (8 * at),
            false => 0,
        };
        let added = (word & mask).wrapping_add(u128::from(value) << (8 * at.min(15)));
        word = (word & !mask) | (added & mask);
    }
    (word, rips)
}

#[cfg(test)]
mod tests {
    use super::Emitter;

    #[test]
    fn an_emitter_starts_with_room_for_what_the_last_one_on_its_thread_made() {
        let mut e = Emitter::new();
        e.push_bytes(&[0x90; 5000]);
        let code = e.finish().expect("raw bytes emit");
        let next = Emitter::new();
        assert!(
            next.buf.capacity() >= code.len(),
            "{} < {}",
            next.buf.capacity(),
            code.len()
        );
        assert!(next.buf.is_empty() && next.calls.is_empty() && next.args.is_empty());
        // One dropped without finishing leaves its sizes too.
        let mut dropped = next;
        dropped.push_bytes(&[0x90; 9000]);
        drop(dropped);
        assert!(Emitter::new().buf.capacity() >= 9000);
    }
}
