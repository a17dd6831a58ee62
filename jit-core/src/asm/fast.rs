//! The fast path: statements of the common shape read straight from the bytes, without tokens or spans.
//!
//! Most lines of real and generated assembly are one instruction whose operands are registers, plain numbers
//! and `[base + index*scale ± disp]` addresses. [`statement`] reads such a statement in one pass over its bytes
//! and returns its operands exactly as the parser would have made them (the same address checks; names and
//! short numbers read several bytes at once, tested against the lexer's readers), along with their shape and
//! parts for the [`Memo`]; anything else — labels, holes, sums, segment prefixes, anything odd or wrong — it
//! declines, and the parser reads that statement instead, with spans and error messages (a data directive reads
//! as an instruction here, and is declined when the memo finds no such instruction). So the fast path never
//! reports an error and never decides what the text means differently: tests check it against the parser on
//! random statements of the table's forms and on random text, valid and not.
//!
//! A long text is cut into pieces that threads take one at a time ([`chunks`]); the calling thread merges them
//! in order as they are done.

use super::lex::{IDENT, Place, Tok, number};
use super::memo::{self, Instruction, Memo, Values};
use super::parse::{RegTerm, base_and_disp, build_mem};
use super::reg::{Reg, RegClass, leading_name, name_key};
use super::syntax::{MAX_OPERANDS, Mem, MemHoles, Operand, Scale, Size, Span};
use super::table::{Table, mnemonic_key, mnemonic_key_of_name};
use super::words::{Word, word_of_key};
use crate::code::Entry;
use std::sync::OnceLock;

/// What the fast path made of a piece of the text (whole lines): the bytes and listing entries of its
/// statements, and the lines it left to the parser, in order.
#[derive(Default)]
pub(crate) struct FastPiece {
    pub(crate) buf: Vec<u8>,
    /// Offsets in `buf`; lines counted from 1 at the piece's first line.
    pub(crate) entries: Vec<Entry>,
    pub(crate) slow: Vec<Slow>,
    /// How many lines the piece has (its newlines).
    pub(crate) lines: u32,
}

/// Lines left to the parser: from `from` (a line's start; its line counted as in [`FastPiece::entries`]) to byte
/// `to` (past a newline, or the end of the text), whose code goes after `buf[..buf_at]` and
/// `entries[..entries_at]`.
pub(crate) struct Slow {
    pub(crate) from: Place,
    pub(crate) to: usize,
    pub(crate) buf_at: u32,
    pub(crate) entries_at: u32,
}

/// Texts at least this long are split into pieces assembled on threads, one a core.
const PARALLEL_FROM: usize = 256 * 1024;

/// The size of those pieces (cut at line ends): the threads take them one at a time, so a thread that runs slower
/// (on a core the machine gives to something else for a while) takes fewer, and all end at about the same time.
const PIECE: usize = 64 * 1024;

/// How many threads a long text is assembled on: one a core this process may use, at most 16. Asked of the
/// system once (it reads the affinity and the cgroup's quota, up to a tenth of a millisecond).
pub(crate) fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(16)))
}

/// Runs the fast path over the whole text and hands what it made of it to `merge`, piece by piece in the text's
/// order, on this thread: in one piece, or for a long text in pieces taken by one thread a core (this one and
/// the others started here; a thread that cannot be started leaves its share to the rest). This thread merges
/// the pieces done so far between pieces of its own, so little is left to merge when the last one is done.
pub(crate) fn chunks(table: &'static Table, src: &str, listing: bool, mut merge: impl FnMut(FastPiece)) {
    let threads = if src.len() >= PARALLEL_FROM { threads() } else { 1 };
    // About one statement every 16 bytes.
    let mut memo = Memo::new(src.len() / 16 / threads);
    if threads == 1 {
        return merge(chunk(table, src, 0, src.len(), listing, &mut memo));
    }
    let mut pieces = Vec::with_capacity(src.len() / PIECE + 1);
    let mut start = 0;
    while start < src.len() {
        let end = line_after(src.as_bytes(), (start + PIECE).min(src.len() - 1), Place::START).pos;
        pieces.push((start, end));
        start = end;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    // The next piece no thread has taken, done: its position and chunk.
    let take = |memo: &mut Memo| {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let &(start, end) = pieces.get(i)?;
        Some((i, chunk(table, src, start, end, listing, memo)))
    };
    // Pieces done and not merged yet, and how many are merged.
    let mut done: Vec<Option<FastPiece>> = std::iter::repeat_with(|| None).take(pieces.len()).collect();
    let mut merged = 0;
    let mut merge_done = |done: &mut Vec<Option<FastPiece>>| {
        while let Some(chunk) = done.get_mut(merged).and_then(Option::take) {
            merge(chunk);
            merged += 1;
        }
    };
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::channel();
        for _ in 1..threads {
            let sender = sender.clone();
            let theirs = move || {
                let mut memo = Memo::new(src.len() / 16 / threads);
                while let Some(piece) = take(&mut memo) {
                    if sender.send(piece).is_err() {
                        return;
                    }
                }
            };
            // A thread that cannot start takes no pieces.
            let _ = std::thread::Builder::new()
                .name("rustyjit-asm".into())
                .spawn_scoped(scope, theirs);
        }
        drop(sender);
        while let Some((i, chunk)) = take(&mut memo) {
            done[i] = Some(chunk);
            for (i, chunk) in receiver.try_iter() {
                done[i] = Some(chunk);
            }
            merge_done(&mut done);
        }
        // The others' last pieces; the channel ends when every other thread has. (One that panicked, a bug in
        // this crate, leaves its piece out, and the scope passes the panic on as it ends.)
        for (i, chunk) in receiver {
            done[i] = Some(chunk);
            merge_done(&mut done);
        }
    });
}

/// The fast path over `src[start..end]` (whole lines), with `memo` of the thread. A line with a statement it
/// declines is left to the parser as a whole, so every line is either all fast or all parsed.
fn chunk(table: &'static Table, src: &str, start: usize, end: usize, listing: bool, memo: &mut Memo) -> FastPiece {
    let mut out = FastPiece {
        buf: Vec::with_capacity((end - start) / 4),
        entries: Vec::with_capacity(if listing { (end - start) / 16 } else { 0 }),
        ..FastPiece::default()
    };
    let first = Place {
        pos: start,
        line: 1,
        col_origin: start,
    };
    let (mut at, mut line_start) = (first, first);
    let (mut line_buf, mut line_entries) = (0, 0);
    let mut stmt = FastStatement::new();
    while at.pos < end {
        if let Some(read) = statement(src, at, &mut stmt) {
            let encoded = match read.statement {
                false => true,
                true => {
                    let offset = out.buf.len() as u32;
                    let shape = stmt.kept.then_some(stmt.shape | stmt.count as u64);
                    let made = match memo.remembered(stmt.key, shape, &stmt.parts, &mut out.buf) {
                        Some((len, form)) => {
                            if cfg!(debug_assertions) {
                                memo::check(table, &stmt.instruction(), form, &out.buf[offset as usize..]);
                            }
                            Some(len)
                        }
                        None => memo.encode(table, &stmt.instruction(), &mut out.buf),
                    };
                    match made {
                        Some(len) => {
                            if listing {
                                out.entries.push(Entry {
                                    offset,
                                    len: len as u32,
                                    line: at.line,
                                    text: stmt.text,
                                });
                            }
                            true
                        }
                        None => false,
                    }
                }
            };
            if encoded {
                if read.next.pos == at.pos {
                    break; // the end of the text
                }
                at = read.next;
                if at.line != line_start.line {
                    line_start = at;
                    (line_buf, line_entries) = (out.buf.len(), out.entries.len());
                }
                continue;
            }
        }
        // The parser's line: what the fast path made of its start goes, and the parser reads all of it.
        out.buf.truncate(line_buf);
        out.entries.truncate(line_entries);
        let next = line_after(src.as_bytes(), at.pos, line_start);
        let to = next.pos;
        match out.slow.last_mut() {
            Some(last) if last.to == line_start.pos && last.buf_at as usize == line_buf => last.to = to,
            _ => out.slow.push(Slow {
                from: line_start,
                to,
                buf_at: line_buf as u32,
                entries_at: line_entries as u32,
            }),
        }
        at = next;
        line_start = at;
    }
    out.lines = at.line - 1;
    out
}

/// A statement read by the fast path.
pub(crate) struct FastStatement<'s> {
    /// The text the statement is in, and where its mnemonic is (a string is made of it only when one is needed).
    src: &'s str,
    mnemonic: (usize, usize),
    /// The operands, in `ops[..count]`.
    pub(crate) ops: [Operand<'s>; MAX_OPERANDS],
    pub(crate) count: usize,
    /// The statement's text: from the mnemonic to the end of its last operand.
    pub(crate) text: (u32, u32),
    /// The mnemonic's key; the operands' shape for the memo (kept: whether each part of it is one the memo
    /// keeps) and their parts.
    key: u128,
    shape: u64,
    kept: bool,
    parts: Values,
}

impl<'s> FastStatement<'s> {
    pub(crate) fn new() -> Self {
        FastStatement {
            src: "",
            mnemonic: (0, 0),
            ops: [Operand::Imm(0); MAX_OPERANDS],
            count: 0,
            text: (0, 0),
            key: 0,
            shape: 0,
            kept: true,
            parts: Values::NONE,
        }
    }

    /// The statement, for the memo.
    pub(crate) fn instruction(&self) -> Instruction<'_, 's> {
        Instruction {
            mnemonic: self.src.get(self.mnemonic.0..self.mnemonic.1).unwrap_or_default(),
            key: self.key,
            ops: &self.ops[..self.count],
            shape: self.kept.then_some(self.shape | self.count as u64),
            parts: &self.parts,
        }
    }

    /// Adds operand `op`, whose part of the shape is `shape`.
    #[inline(always)]
    fn push(&mut self, op: Operand<'s>, shape: u64) {
        let i = self.count;
        self.ops[i] = op;
        self.shape |= shape << memo::shift(i);
        self.kept &= shape != memo::NOT_KEPT;
        self.count += 1;
    }
}

/// What the fast path read at a place between statements.
pub(crate) struct Scanned {
    /// Whether there was a statement (else it was empty: a blank line, a comment).
    pub(crate) statement: bool,
    /// Where the next statement starts.
    pub(crate) next: Place,
}

/// Reads the statement at `at` into `stmt`, or declines (`None`): then the parser reads it.
pub(crate) fn statement<'s>(src: &'s str, at: Place, stmt: &mut FastStatement<'s>) -> Option<Scanned> {
    let b = src.as_bytes();
    let start = blank(b, at.pos);
    // A mnemonic: an identifier that does not start with a digit. Else the statement is empty (which no
    // identifier byte ends), or the parser's.
    if !b
        .get(start)
        .is_some_and(|&c| IDENT[usize::from(c)] && !c.is_ascii_digit())
    {
        return end_of_statement(b, start, at).map(|next| Scanned { statement: false, next });
    }
    // A data directive (`db`, `.byte`) is read as an instruction here, and left to the parser when the memo
    // finds no such instruction.
    let (m_end, key) = name(b, start);
    (stmt.src, stmt.mnemonic) = (src, (start, m_end));
    stmt.key = match key {
        0 => mnemonic_key(src.get(start..m_end)?)?,
        key => mnemonic_key_of_name(key),
    };
    stmt.count = 0;
    (stmt.shape, stmt.kept) = (0, true);
    stmt.parts = Values::NONE;
    stmt.text = (start as u32, m_end as u32);
    let mut p = blank(b, m_end);
    if end_of_statement(b, p, at).is_none() {
        loop {
            if stmt.count == MAX_OPERANDS {
                return None;
            }
            let end = operand(b, p, stmt)?;
            stmt.text.1 = end as u32;
            p = blank(b, end);
            if b.get(p) != Some(&b',') {
                break;
            }
            p = blank(b, p + 1);
        }
    }
    let next = end_of_statement(b, p, at)?;
    Some(Scanned { statement: true, next })
}

/// Past spaces, tabs, carriage returns and form feeds (the lexer's blanks).
#[inline(always)]
fn blank(b: &[u8], mut p: usize) -> usize {
    // The four as bits of a word (none is above the space): a shift and a test, not a chain of compares.
    const BLANKS: u64 = 1 << b' ' | 1 << b'\t' | 1 << b'\r' | 1 << 0x0c;
    // Most calls find no blank or one space: a byte above the space is no blank, after one compare.
    while b.get(p).is_some_and(|&c| c <= b' ' && BLANKS >> c & 1 != 0) {
        p += 1;
    }
    p
}

/// Past an identifier's bytes.
#[inline(always)]
fn ident_end(b: &[u8], mut p: usize) -> usize {
    while b.get(p).is_some_and(|&c| IDENT[usize::from(c)]) {
        p += 1;
    }
    p
}

/// An identifier at `p`: where it ends, and its [`name_key`] (0 for one longer than seven bytes, which is no
/// register or keyword). Where the text has sixteen bytes at `p`, they are read at once ([`leading_name`]).
#[inline(always)]
fn name(b: &[u8], p: usize) -> (usize, u64) {
    if let Some(sixteen) = b.get(p..).and_then(|rest| rest.first_chunk::<16>())
        && let Some((n, key)) = leading_name(sixteen)
    {
        return (p + n, key);
    }
    let end = ident_end(b, p);
    (end, name_key(&b[p..end]).unwrap_or(0))
}

/// If the statement ends at `p` (the end of the text, a newline, `;`, or a comment up to the newline): where the
/// next one starts.
#[inline(always)]
fn end_of_statement(b: &[u8], p: usize, at: Place) -> Option<Place> {
    match b.get(p) {
        None => Some(Place { pos: p, ..at }),
        Some(b';') => Some(Place { pos: p + 1, ..at }),
        // A comment's text may be anything, as the next line's columns start over.
        Some(b'\n' | b'#') => Some(line_after(b, p, at)),
        Some(b'/') if b.get(p + 1) == Some(&b'/') => Some(line_after(b, p, at)),
        _ => None,
    }
}

/// The start of the line after the one byte `p` is on (`at` is a place on that line), or the end of the text
/// with `at`'s line and column origin (nothing follows there to be placed).
fn line_after(b: &[u8], p: usize, at: Place) -> Place {
    match b[p..].iter().position(|&c| c == b'\n') {
        Some(n) => Place {
            pos: p + n + 1,
            line: at.line + 1,
            col_origin: p + n + 1,
        },
        None => Place { pos: b.len(), ..at },
    }
}

/// A number token at `p`, and its end. One to seven decimal digits (most numbers) are read from one 8-byte load
/// without a loop; anything else (longer, another base, `_`, a suffix) by the lexer's reader, so every number
/// reads the same either way.
#[inline(always)]
fn num(b: &[u8], p: usize) -> Option<(u64, usize)> {
    if let Some(&eight) = b.get(p..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(eight);
        const ONES: u64 = 0x0101_0101_0101_0101;
        // A byte is a digit when its high nibble is 3 and its low one at most 9 (adding 6 leaves the high one
        // alone). A carry out of a byte that is no digit can only spoil the bytes after it.
        let high = |x: u64| (x & (0xf0 * ONES)) ^ (0x30 * ONES);
        let not_digit = high(w) | high(w.wrapping_add(6 * ONES));
        let n = (not_digit.trailing_zeros() / 8) as usize;
        if (1..8).contains(&n) && !b[p + n].is_ascii_alphanumeric() && b[p + n] != b'_' {
            // The digits moved to the top bytes, `0`s below them: the value of eight digits, in three
            // multiplications that each join neighbours (tens, then hundreds, then ten-thousands).
            let shift = 8 * (8 - n as u32);
            let digits = (w << shift | (0x30 * ONES) >> (64 - shift)) & (0x0f * ONES);
            let v = digits.wrapping_mul(10 << 8 | 1) >> 8 & (0x00ff * 0x0001_0001_0001_0001);
            let v = v.wrapping_mul(100 << 16 | 1) >> 16 & (0xffff * 0x0000_0001_0000_0001);
            let v = v.wrapping_mul(10_000 << 32 | 1) >> 32;
            return Some((v, p + n));
        }
    }
    match number(b, p) {
        (Tok::Number(n), end) => Some((n, end)),
        _ => None,
    }
}

/// Signs (`-`, `+`, as many as written) from `p`: whether they make a minus, and where they end.
#[inline(always)]
fn signs(b: &[u8], mut p: usize) -> (bool, usize) {
    let mut negative = false;
    while let Some(&c @ (b'-' | b'+')) = b.get(p) {
        negative ^= c == b'-';
        p = blank(b, p + 1);
    }
    (negative, p)
}

/// One operand at `p`, added to `stmt`: a register, a number or a memory operand; returns where it ends.
#[inline(always)]
fn operand<'s>(b: &[u8], p: usize, stmt: &mut FastStatement<'s>) -> Option<usize> {
    let c = *b.get(p)?;
    if c == b'[' {
        return memory(b, p, None, stmt);
    }
    if c.is_ascii_digit() || c == b'-' || c == b'+' {
        let (negative, p) = signs(b, p);
        if !b.get(p)?.is_ascii_digit() {
            return None;
        }
        let (n, end) = num(b, p)?;
        // A sum (`4 + 4`) is the parser's.
        if let Some(b'+' | b'-') = b.get(blank(b, end)) {
            return None;
        }
        let value = if negative { -i128::from(n) } else { i128::from(n) };
        if value < i128::from(i64::MIN) {
            return None;
        }
        stmt.parts.imm = value as u64;
        stmt.push(Operand::Imm(value), memo::imm_shape(value));
        return Some(end);
    }
    if !IDENT[usize::from(c)] {
        return None;
    }
    let (end, key) = name(b, p);
    match word_of_key(key) {
        Word::Reg(r) if r.class() != RegClass::Rip => {
            stmt.parts.regs[stmt.count] = r.num();
            stmt.push(Operand::Reg(r), memo::reg_shape(r));
            Some(end)
        }
        Word::Size(size) => {
            let mut q = blank(b, end);
            // `ptr`, as almost always written, compared at once; any other name through the table.
            if let Some(&[c0, c1, c2, after]) = b.get(q..).and_then(|rest| rest.first_chunk::<4>())
                && [c0 | 0x20, c1 | 0x20, c2 | 0x20] == *b"ptr"
                && !IDENT[usize::from(after)]
            {
                q = blank(b, q + 3);
            } else if b.get(q).is_some_and(|&c| IDENT[usize::from(c)]) {
                let (ptr_end, key) = name(b, q);
                if word_of_key(key) != Word::Ptr {
                    return None;
                }
                q = blank(b, ptr_end);
            }
            if b.get(q) != Some(&b'[') {
                return None;
            }
            memory(b, q, Some(size), stmt)
        }
        _ => None,
    }
}

/// A memory operand from the `[` at `p`: registers (one may be scaled) and numbers joined by `+` and `-`.
fn memory<'s>(b: &[u8], p: usize, size: Option<Size>, stmt: &mut FastStatement<'s>) -> Option<usize> {
    if let Some((base, disp, end)) = base_disp(b, p) {
        push_base_disp(stmt, size, base, disp);
        return Some(end);
    }
    let unscaled = RegTerm {
        reg: Reg::RAX,
        scale: None,
        span: Span::default(),
        hole: 0,
    };
    let mut regs = [unscaled; 2];
    let mut nregs = 0;
    let mut disp: i128 = 0;
    let mut p = blank(b, p + 1);
    let mut negative = false;
    loop {
        let (minus, q) = signs(b, p);
        negative ^= minus;
        p = q;
        let c = *b.get(p)?;
        if c.is_ascii_digit() {
            let (n, end) = num(b, p)?;
            p = blank(b, end);
            if b.get(p) == Some(&b'*') {
                return None;
            }
            disp += if negative { -i128::from(n) } else { i128::from(n) };
        } else if IDENT[usize::from(c)] {
            let (end, key) = name(b, p);
            let Word::Reg(reg) = word_of_key(key) else {
                return None;
            };
            if negative || nregs == regs.len() {
                return None;
            }
            p = blank(b, end);
            let mut scale = None;
            if b.get(p) == Some(&b'*') {
                p = blank(b, p + 1);
                if !b.get(p)?.is_ascii_digit() {
                    return None;
                }
                let (n, end) = num(b, p)?;
                scale = Some(Scale::from_factor(n)?);
                p = blank(b, end);
            }
            regs[nregs] = RegTerm { reg, scale, ..unscaled };
            nregs += 1;
        } else {
            return None;
        }
        match b.get(p)? {
            b'+' => negative = false,
            b'-' => negative = true,
            b']' => break,
            _ => return None,
        }
        p = blank(b, p + 1);
    }
    // `[base ± disp]` written otherwise (`[8 + rax]`, `[rax + 4 + 4]`).
    if let Some((base, disp)) = base_and_disp(&regs[..nregs], disp) {
        push_base_disp(stmt, size, base, disp);
        return Some(p + 1);
    }
    let mem = build_mem(size, &regs[..nregs], disp, None, 0).ok()?;
    stmt.parts.set_mem(&mem);
    stmt.push(Operand::Mem(mem), memo::mem_shape(&mem));
    Some(p + 1)
}

/// The address most compiled code has, `[base]` or `[base ± digits]` with a 64-bit base, read from the `[` at `p`
/// without the general loop of [`memory`]: the base, the displacement and where the operand ends; `None` for any
/// other address (or one this cannot be sure of), which `memory` then reads from the start.
#[inline(always)]
fn base_disp(b: &[u8], p: usize) -> Option<(Reg, i32, usize)> {
    let q = blank(b, p + 1);
    if !b.get(q)?.is_ascii_alphabetic() {
        return None;
    }
    let (end, key) = name(b, q);
    let Word::Reg(base) = word_of_key(key) else {
        return None;
    };
    if base.class() != RegClass::Qword {
        return None;
    }
    let mut r = blank(b, end);
    let mut disp = 0;
    if let sign @ (b'+' | b'-') = *b.get(r)? {
        let d = blank(b, r + 1);
        if !b.get(d)?.is_ascii_digit() {
            return None;
        }
        let (n, end) = num(b, d)?;
        disp = i32::try_from(n).ok()?;
        if sign == b'-' {
            disp = -disp;
        }
        r = blank(b, end);
    }
    (b.get(r) == Some(&b']')).then_some((base, disp, r + 1))
}

/// Adds the memory operand `size [base + disp]`.
#[inline(always)]
fn push_base_disp(stmt: &mut FastStatement<'_>, size: Option<Size>, base: Reg, disp: i32) {
    (stmt.parts.base, stmt.parts.disp) = (base.num(), disp);
    let mem = Mem {
        size,
        base: Some(base),
        index: None,
        disp,
        label: None,
        holes: MemHoles::NONE,
    };
    stmt.push(Operand::Mem(mem), memo::base_disp_shape(size, base, disp));
}

/// The random lines of the differential and fuzz tests, for the tests below.
#[cfg(test)]
#[path = "../../tests/common/mod.rs"]
mod common;

#[cfg(test)]
mod tests {
    //! The fast path against the parser: the same text assembled with and without it must give the same code,
    //! listing and labels, or the same errors at the same places.

    use super::super::table::Table;
    use super::super::{Assembled, Assembler};
    use super::PARALLEL_FROM;
    use super::common::{EDGE_NUMBERS, Rng, memory, random_line};

    /// Values and operands the fast path must decline or read exactly as the parser (with the shared edge
    /// numbers): values past the edges, every base and sign spelling, and operands that are the parser's alone.
    const ODD: [&str; 28] = [
        "-2147483649",
        "0xffffffff",
        "0xffffffffffffff80",
        "-0x8000000000000000",
        "18446744073709551616",
        "0b101",
        "1_000",
        "- 3",
        "+4",
        "--5",
        "top",
        "{0}",
        "ds:0x10",
        "[rip + top]",
        "[]",
        "[eax]",
        "[rax - rbx]",
        "[rsp*2]",
        "[rax + rbx + rcx]",
        "rip",
        "qword [rax]",
        "qword ptr ptr [rax]",
        "fs:[rax]",
        "1 + 2",
        "é",
        "byte ptr",
        "0x",
        "[rbx + rsp]",
    ];

    /// A random statement: mostly a line of the shared generator (a form of the table with fitting operands),
    /// respaced, sometimes with one operand swapped for something odd; else a label, a jump, data, nothing, or a
    /// wrong line.
    fn statement(rng: &mut Rng) -> String {
        match rng.below(40) {
            0 => return format!("{}:", rng.pick(&["top", "mid", "rax", "l1"])),
            1 => return format!("{} top", rng.pick(&["jmp", "jne", "call"])),
            2 => return format!("{} 1, -2, 0x30", rng.pick(&[".quad", "db", "dd"])),
            3 => return String::new(),
            4 => {
                return rng
                    .pick(&["frob rax", "movv rax, 1", "mov rax, 1, 2, 3", "add", "ret 1 2"])
                    .to_string();
            }
            _ => {}
        }
        let line = random_line(rng);
        let (mnemonic, ops) = line.split_once(' ').unwrap_or((&line, ""));
        let mut ops: Vec<String> = ops.split(", ").filter(|o| !o.is_empty()).map(String::from).collect();
        if rng.chance(15) {
            let at = rng.below(ops.len() + 1);
            let odd = if rng.chance(25) {
                rng.pick(&EDGE_NUMBERS).to_string()
            } else if rng.chance(60) {
                rng.pick(&ODD).to_string()
            } else {
                let size = *rng.pick(&["byte", "qword", "dword"]);
                const PTR: [&str; 3] = [" ", " PTR ", " ptr"];
                let ptr = rng.pick(&PTR);
                memory(rng, Some(size)).replace(" ptr ", ptr)
            };
            if at == ops.len() { ops.push(odd) } else { ops[at] = odd }
        }
        let sep = *rng.pick(&[", ", ",", " , ", ",\t"]);
        format!("{}{mnemonic} {}", rng.pick(&["", "", "    ", "\t"]), ops.join(sep))
    }

    /// A statement that assembles on its own (none of the odd ones, no label, no jump).
    fn valid(rng: &mut Rng) -> String {
        loop {
            let s = statement(rng);
            if !s.contains(':') && !s.contains("top") && !s.contains('{') && super::super::assemble(&s).is_ok() {
                return s;
            }
        }
    }

    /// A random text of `lines` lines, some with two statements, comments, or `\r\n`; with `errors`, some
    /// statements are wrong.
    fn text(rng: &mut Rng, lines: usize, errors: bool) -> String {
        let mut out = String::new();
        let one = |rng: &mut Rng| if errors { statement(rng) } else { valid(rng) };
        for _ in 0..lines {
            out.push_str(&one(rng));
            if rng.chance(5) {
                out.push_str("; ");
                out.push_str(&one(rng));
            }
            if rng.chance(5) {
                const NOTES: [&str; 3] = [" # note", " // é note", "#"];
                out.push_str(NOTES[rng.below(NOTES.len())]);
            }
            out.push_str(if rng.chance(3) { "\r\n" } else { "\n" });
        }
        out
    }

    /// Everything an assembly gives, as text: bytes, listing, labels and hole patches, or the errors with their
    /// places.
    fn outcome(src: &str, fast: bool) -> String {
        let assembler = Assembler {
            fast,
            ..Assembler::default()
        };
        match assembler.run(src) {
            Ok((Assembled { bytes, entries, labels }, holes)) => {
                format!("{bytes:02x?}\n{entries:?}\n{labels:?}\n{holes:?}")
            }
            Err(errors) => errors.0.iter().map(|e| format!("{:?} {}\n", e.span, e)).collect(),
        }
    }

    #[test]
    fn numbers_read_from_eight_bytes_are_the_lexers() {
        let mut texts: Vec<String> = [
            "0",
            "7",
            "00012",
            "1234567",
            "12345678",
            "123456789",
            "0x1f",
            "0b101",
            "12_3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut rng = Rng::new(0x5a12);
        for _ in 0..2000 {
            texts.push((rng.next_u64() >> rng.below(64)).to_string());
        }
        for text in texts {
            for after in [
                "",
                "\n",
                "]        ",
                ", rax     ",
                "h       ",
                "_       ",
                "x1      ",
                " + 8    ",
            ] {
                let src = format!("{text}{after}");
                let lexer = match super::number(src.as_bytes(), 0) {
                    (super::Tok::Number(n), end) => Some((n, end)),
                    _ => None,
                };
                assert_eq!(super::num(src.as_bytes(), 0), lexer, "{src:?}");
            }
        }
    }

    #[test]
    fn random_statements_assemble_the_same_with_and_without_the_fast_path() {
        let mut rng = Rng::new(0xfa57);
        let mut fast_lines = 0;
        for round in 0..400 {
            let src = text(&mut rng, 1 + round % 20, round % 2 == 0);
            let with = outcome(&src, true);
            assert_eq!(with, outcome(&src, false), "{src}");
            if round % 2 == 1 {
                assert!(with.starts_with('['), "valid text assembles: {with}");
            }
            // Count what the fast path took, so the test shows it was exercised.
            let mut chunks = Vec::new();
            super::chunks(Table::get(), &src, false, |c| chunks.push(c));
            let chunk = chunks.remove(0);
            let slow: usize = chunk.slow.iter().map(|s| src[s.from.pos..s.to].lines().count()).sum();
            fast_lines += src.lines().count() - slow;
        }
        assert!(fast_lines > 2000, "the fast path took only {fast_lines} lines");
    }

    /// Register names swapped for others the memo cannot tell apart (the same class, neither register 0 nor 1,
    /// the same need of REX) but whose numbers differ in every bit the encoding uses.
    fn renamed(line: &str) -> String {
        const SWAPS: [(&str, &str); 10] = [
            ("rdx", "rdi"),
            ("edx", "edi"),
            ("r9", "r14"),
            ("r10", "r13"),
            ("r9d", "r14d"),
            ("xmm2", "xmm15"),
            ("xmm3", "xmm12"),
            ("dl", "bl"),
            ("r11b", "r12b"),
            ("dx", "bx"),
        ];
        let word = |w: &str| -> String {
            SWAPS
                .iter()
                .find_map(|&(a, b)| (w == a).then_some(b).or((w == b).then_some(a)))
                .unwrap_or(w)
                .to_string()
        };
        let mut out = String::new();
        let mut ident = String::new();
        for c in line.chars().chain(std::iter::once('\n')) {
            if c.is_ascii_alphanumeric() {
                ident.push(c);
            } else {
                out.push_str(&word(&ident));
                ident.clear();
                out.push(c);
            }
        }
        out.pop();
        out
    }

    #[test]
    fn instructions_of_a_remembered_shape_get_the_encoders_bytes() {
        // Each statement, then the same with other registers: the second is encoded from the memo's template
        // of the first, and must come out as the parser and encoder make it (debug builds also check each
        // template's bytes against `select_form` as they are made).
        let mut rng = Rng::new(0x7e3f);
        let mut src = String::new();
        let mut renamed_lines = 0;
        for _ in 0..3000 {
            let line = valid(&mut rng);
            let other = renamed(&line);
            renamed_lines += usize::from(other != line);
            src.push_str(&format!("{line}\n{other}\n"));
        }
        assert!(
            renamed_lines > 500,
            "only {renamed_lines} lines had registers to rename"
        );
        assert_eq!(outcome(&src, true), outcome(&src, false));
    }

    #[test]
    fn a_long_text_in_pieces_on_threads_is_the_same_code() {
        let mut rng = Rng::new(0x7ead);
        let mut src = String::from("start: jmp end\n");
        while src.len() < 3 * PARALLEL_FROM {
            // Instructions, with labels, jumps and data between them in every piece.
            src.push_str(&text(&mut rng, 30, false));
            src.push_str(&format!("mid{}: jne start\ndb 1, 2\n", src.len()));
        }
        src.push_str("end: ret\n");
        let with = outcome(&src, true);
        assert!(with.starts_with('['), "{}", &with[..with.len().min(300)]);
        assert_eq!(with, outcome(&src, false));
        assert!(
            {
                let mut pieces = 0;
                super::chunks(Table::get(), &src, false, |_| pieces += 1);
                pieces > 1
            } || std::thread::available_parallelism().map_or(true, |n| n.get() == 1)
        );
        // And with an error on the last line, reported at its line.
        src.push_str("mov rax, bl\n");
        let errors = outcome(&src, true);
        assert_eq!(errors, outcome(&src, false));
        let lines = src.lines().count();
        assert!(
            errors.contains(&format!("line: {lines},")),
            "{}",
            &errors[..errors.len().min(300)]
        );
    }
}
