//! The parser: assembly text to [`Statement`]s — the one grammar of the assembler.
//!
//! Statements come one at a time ([`Parser::next_statement`]), so a large input is never held as a whole
//! statement list. A statement with an error is reported and dropped, and parsing goes on with the next operand
//! or the next statement, so every error in the input is found.
//!
//! The common tokens — names, numbers, punctuation — are read from the text's bytes where the grammar expects
//! them, with the lexer's readers ([`name`], [`number`], [`Lexer::skip_blanks`]); the lexer's whole token
//! ([`Lexer::next_token`]) is asked for only where a token may be anything: holes, the tokens skipped after an
//! error, and the token an error names.

use super::lex::{IDENT, Lexer, Place, Tok, Token, name, number};
use super::reg::{Reg, RegClass};
use super::syntax::{
    DataWidth, Index, Mem, MemHoles, Operand, Operands, Prefix, Scale, Size, Span, Spanned, Statement, StmtKind,
};
use super::words::{Word, word_of_key};
use crate::asm::error::{AddressFault, AsmError, ErrorKind, PrefixFault};
use crate::asm::forms::table::{mnemonic_key, mnemonic_key_of_name};

/// Parses statements out of assembly text.
///
/// ```
/// use jit_core::asm::{Operand, Parser, StmtKind};
/// let mut p = Parser::new("top: add rax, 8");
/// assert_eq!(p.next_statement().unwrap().kind, StmtKind::Label("top"));
/// let StmtKind::Instruction { mnemonic, operands, .. } = p.next_statement().unwrap().kind else { panic!() };
/// assert_eq!((mnemonic.node, operands.len()), ("add", 2));
/// assert_eq!(operands.get(1).unwrap().node, Operand::Imm(8));
/// assert!(p.next_statement().is_none() && p.errors().is_empty());
/// ```
pub struct Parser<'s> {
    reader: Reader<'s, Operands<'s>>,
}

/// The grammar: reads statements, keeping of an instruction's operands what `R` records ([`Record`]).
pub(crate) struct Reader<'s, R> {
    /// Where the parser is: past the last token it took.
    lex: Lexer<'s>,
    /// End of the last token taken, for statement and operand spans.
    last_end: u32,
    /// The mnemonic of the last instruction read and its name key (0 for a name of more than seven bytes), for
    /// its [`Reader::mnemonic_key`]; what is kept of its operands.
    head: Span,
    head_key: u64,
    /// The prefix written before it (`lock`, `rep`...), if any.
    prefix: Option<Spanned<Prefix>>,
    operands: R,
    errors: Vec<AsmError>,
}

/// What the parser keeps of an instruction's operands: all of them with their spans ([`Operands`], for the
/// assembler and the emitter), or what the memo asks of them ([`Shaped`](crate::asm::speed::memo::Shaped), on the fast
/// path, which reads an instruction again with its operands only when the memo has not seen its shape).
pub(crate) trait Record<'s>: Default {
    /// Forgets the operands of the last instruction.
    fn clear(&mut self);
    /// Takes in the next operand; gives it back when all places are taken.
    fn push(&mut self, op: Spanned<Operand<'s>>) -> Result<(), Spanned<Operand<'s>>>;
    /// Notes that the instruction has a prefix (which only the table's path checks and encodes).
    fn prefixed(&mut self) {}
}

impl<'s> Record<'s> for Operands<'s> {
    #[inline(always)]
    fn clear(&mut self) {
        Operands::clear(self);
    }

    #[inline(always)]
    fn push(&mut self, op: Spanned<Operand<'s>>) -> Result<(), Spanned<Operand<'s>>> {
        Operands::push(self, op)
    }
}

/// What [`Reader::next`] read: a [`Statement`] but for an instruction's operands, which stay in the parser.
pub(crate) enum Next<'s> {
    /// An instruction: its mnemonic is at [`Reader::mnemonic`], its operands are [`Reader::kept`], its span is
    /// [`Reader::instruction_span`]. (Kept in the reader, not returned, so the common case returns a tag.)
    Instruction,
    /// A label: its name, and its span.
    Label(&'s str, Span),
    /// Data: the width and the values, and its span.
    Data(DataWidth, Vec<Spanned<i128>>, Span),
    /// A statement with errors, which [`Reader::take_errors`] gives.
    Failed,
}

/// The terms of an address read so far: its registers (one may be scaled), its displacement, label and runtime
/// displacement (`{N}`: N + 1, or 0).
struct Address<'s> {
    regs: [RegTerm; 3],
    nregs: usize,
    disp: i128,
    label: Option<&'s str>,
    disp_hole: u16,
}

impl Address<'_> {
    /// No terms yet, in the address that opens at `open`.
    fn new(open: Span) -> Self {
        let unused = RegTerm {
            reg: Reg::RAX,
            scale: None,
            span: open,
            hole: 0,
        };
        Address {
            regs: [unused; 3],
            nregs: 0,
            disp: 0,
            label: None,
            disp_hole: 0,
        }
    }

    /// Whether no register, label or runtime displacement was read (a number may have been).
    fn is_empty(&self) -> bool {
        self.nregs == 0 && self.label.is_none() && self.disp_hole == 0
    }
}

/// What reading an address term did: read it; reported it as wrong (the operator after it is read on); or
/// reported that there is none, which ends the address.
enum Term {
    Read,
    Bad,
    Stop,
}

/// The number a runtime register `{N:kind}` is recorded as in a [`RegTerm`]: N + 1.
fn hole_number(n: u32) -> u16 {
    u16::try_from(n + 1).unwrap_or(u16::MAX)
}

/// A register term inside brackets: the register, its scale if one was written, and where.
#[derive(Clone, Copy)]
pub(crate) struct RegTerm {
    pub(crate) reg: Reg,
    pub(crate) scale: Option<Scale>,
    pub(crate) span: Span,
    /// For `{N:r64}`: N + 1 (`reg` is then `rax`, standing in); 0 for a register written out.
    pub(crate) hole: u16,
}

impl<'s> Parser<'s> {
    /// A parser at the start of `src`.
    pub fn new(src: &'s str) -> Self {
        Parser {
            reader: Reader::at(src, Place::START),
        }
    }

    /// The errors found so far, in source order.
    pub fn errors(&self) -> &[AsmError] {
        &self.reader.errors
    }

    /// Takes the errors found so far.
    pub fn take_errors(&mut self) -> Vec<AsmError> {
        self.reader.take_errors()
    }

    /// The next statement, or `None` at the end of the input. Statements with errors are skipped (their errors
    /// are in [`Parser::errors`]).
    pub fn next_statement(&mut self) -> Option<Statement<'s>> {
        loop {
            let (kind, span) = match self.reader.next()? {
                Next::Instruction => (
                    StmtKind::Instruction {
                        prefix: self.reader.prefix,
                        mnemonic: Spanned {
                            node: self.reader.text(self.reader.head),
                            span: self.reader.head,
                        },
                        operands: self.reader.operands,
                    },
                    self.reader.prefixed_span(),
                ),
                Next::Label(name, span) => (StmtKind::Label(name), span),
                Next::Data(width, values, span) => (StmtKind::Data { width, values }, span),
                Next::Failed => continue,
            };
            return Some(Statement { kind, span });
        }
    }
}

impl<'s, R: Record<'s>> Reader<'s, R> {
    /// A reader at `place` in `src`, the start of a statement that another reader of the same text reached.
    pub(crate) fn at(src: &'s str, place: Place) -> Self {
        let mut lex = Lexer::new(src);
        lex.seek(place);
        lex.skip_blanks();
        Reader {
            lex,
            last_end: place.pos as u32,
            head: Span::default(),
            head_key: 0,
            prefix: None,
            operands: R::default(),
            errors: Vec::new(),
        }
    }

    /// The [`mnemonic_key`] of the last instruction read, or `None` for a mnemonic no instruction has.
    #[inline(always)]
    pub(crate) fn mnemonic_key(&self) -> Option<u128> {
        match self.head_key {
            0 => mnemonic_key(self.lex.text(self.head)),
            key => Some(mnemonic_key_of_name(key)),
        }
    }

    /// Where the mnemonic of the last instruction [`Reader::next`] read is.
    pub(crate) fn mnemonic(&self) -> Span {
        self.head
    }

    /// The prefix written before the mnemonic of the last instruction [`Reader::next`] read.
    pub(crate) fn prefix(&self) -> Option<Spanned<Prefix>> {
        self.prefix
    }

    /// The span of the last instruction [`Reader::next`] read: from its mnemonic to the end of its last operand
    /// (for one with a prefix, see [`Reader::prefixed_span`]).
    pub(crate) fn instruction_span(&self) -> Span {
        Span {
            end: self.last_end,
            ..self.head
        }
    }

    /// [`Reader::instruction_span`] from the prefix on, if the instruction has one.
    pub(crate) fn prefixed_span(&self) -> Span {
        Span {
            end: self.last_end,
            ..self.prefix.map_or(self.head, |p| p.span)
        }
    }

    /// The text `span` covers.
    pub(crate) fn text(&self, span: Span) -> &'s str {
        self.lex.text(span)
    }

    /// Takes the errors found so far.
    pub(crate) fn take_errors(&mut self) -> Vec<AsmError> {
        std::mem::take(&mut self.errors)
    }

    /// What the reader kept of the operands of the last instruction [`Reader::next`] read.
    pub(crate) fn kept(&self) -> &R {
        &self.operands
    }

    /// The line the parser is on: at the end of the text, the last line's number.
    pub(crate) fn line(&self) -> u32 {
        self.lex.span(self.lex.pos(), self.lex.pos()).line
    }

    /// The first byte of the next token (the parser is past the blanks and comments before it); `None` at the
    /// end of the text.
    #[inline(always)]
    fn peek_byte(&self) -> Option<u8> {
        self.lex.src().get(self.lex.pos()).copied()
    }

    /// The next token, not taken: for the paths where it may be anything.
    fn peek(&self) -> Token {
        let mut lex = self.lex;
        lex.next_token()
    }

    /// Takes the next token, whatever it is, and the blanks after it.
    fn bump(&mut self) -> Token {
        let token = self.lex.next_token();
        self.last_end = token.span.end;
        self.lex.skip_blanks();
        token
    }

    /// Takes the bytes up to `end` (a token of one line the grammar read from the bytes), and the blanks after
    /// them.
    #[inline(always)]
    fn take(&mut self, end: usize) {
        self.lex.take(end);
        self.last_end = end as u32;
        self.lex.skip_blanks();
    }

    /// Takes the one byte the next token is (`,`, `:`, `*`, `[`, `]`, a sign); returns its span.
    #[inline(always)]
    fn take_byte(&mut self) -> Span {
        let at = self.lex.pos();
        self.take(at + 1);
        self.lex.span(at, at + 1)
    }

    /// Where the next token starts (an empty span there).
    #[inline(always)]
    fn here(&self) -> Span {
        self.lex.span(self.lex.pos(), self.lex.pos())
    }

    /// The next token if it is a name (not taken).
    #[inline(always)]
    fn name_here(&self) -> Option<Token> {
        let c = self.peek_byte()?;
        if !IDENT[usize::from(c)] || c.is_ascii_digit() {
            return None;
        }
        let start = self.lex.pos();
        let (end, key) = name(self.lex.src(), start);
        Some(Token {
            tok: Tok::Ident(key),
            span: self.lex.span(start, end),
        })
    }

    /// The next token if it is the name of `w`, taken.
    #[inline(always)]
    fn take_word(&mut self, w: Word) -> bool {
        match self.name_here() {
            Some(t) if word_of(t) == w => {
                self.take(t.span.end as usize);
                true
            }
            _ => false,
        }
    }

    /// The next token if it is a number (not taken): its value and end; `None` for anything else, a number
    /// that is not right included (the lexer's error, which [`Reader::expected`] reports).
    #[inline(always)]
    fn number_here(&self) -> Option<(u64, usize)> {
        if !self.peek_byte()?.is_ascii_digit() {
            return None;
        }
        match number(self.lex.src(), self.lex.pos()) {
            (Tok::Number(n), end) => Some((n, end)),
            _ => None,
        }
    }

    fn error(&mut self, kind: ErrorKind, span: Span) {
        self.errors.push(AsmError { kind, span });
    }

    /// Reports that the next token is not what the grammar expects there: "expected X, found Y" (or the lexer's
    /// error, for a token that is one).
    #[cold]
    fn expected(&mut self, expected: &'static str) {
        let token = self.peek();
        let text = self.lex.text(token.span);
        let found = match token.tok {
            Tok::Error(e) => return self.error(e.kind(text), token.span),
            Tok::Eof => "the end of the input".into(),
            Tok::Sep if text == ";" => "`;`".into(),
            Tok::Sep => "the end of the line".into(),
            _ => format!("`{text}`"),
        };
        self.error(ErrorKind::Expected { expected, found }, token.span);
    }

    /// At the end of a statement: a newline, `;`, a comment, or the end of the text.
    #[inline(always)]
    fn at_end(&self) -> bool {
        match self.peek_byte() {
            None | Some(b'\n' | b';' | b'#') => true,
            Some(b'/') => self.lex.at_comment(),
            Some(_) => false,
        }
    }

    /// Skips to the end of the statement (the separator stays).
    fn skip_statement(&mut self) {
        while !self.at_end() {
            self.bump();
        }
    }

    /// Skips to the next `,` or the end of the statement, outside brackets.
    fn skip_operand(&mut self) {
        let mut depth = 0u32;
        while !self.at_end() {
            match self.peek_byte() {
                Some(b',') if depth == 0 => return,
                Some(b'[') => depth += 1,
                Some(b']') => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.bump();
        }
    }

    /// What the next statement is, or `None` at the end of the input: [`Parser::next_statement`] without making
    /// an instruction's [`Statement`] (its operands stay in [`Reader::kept`]) or passing over one with errors.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Option<Next<'s>> {
        loop {
            match self.peek_byte()? {
                b'\n' => {
                    self.lex.newline();
                    self.lex.skip_blanks();
                    continue;
                }
                b';' => {
                    self.take_byte();
                    continue;
                }
                b'#' | b'/' if self.lex.at_comment() => {
                    self.lex.skip_comment_here();
                    continue;
                }
                _ => {}
            }
            let Some(name) = self.name_here() else {
                self.expected("an instruction, a label or a data directive");
                self.skip_statement();
                return Some(Next::Failed);
            };
            self.take(name.span.end as usize);
            if self.peek_byte() != Some(b':') {
                return Some(self.statement(name));
            }
            let colon = self.take_byte();
            let text = self.lex.text(name.span);
            if let Word::Reg(_) = word_of(name) {
                let why = format!("`{text}` is a register and cannot be a label name");
                self.error(ErrorKind::BadOperand(why), name.span);
                return Some(Next::Failed);
            }
            return Some(Next::Label(text, name.span.to(colon)));
        }
    }

    /// The rest of a statement that starts with the name `head`.
    #[inline(always)]
    fn statement(&mut self, mut head: Token) -> Next<'s> {
        // Data directives start with `d` or `.`, prefixes with `l` or `r`: a test of the first byte spares most
        // mnemonics the lookups.
        self.prefix = None;
        self.operands.clear();
        match self.lex.src().get(head.span.start as usize) {
            Some(b'd' | b'D' | b'.') => {
                if let Word::Data(width) = word_of(head) {
                    return self.data(head, width);
                }
            }
            Some(b'l' | b'L' | b'r' | b'R') => {
                if let Word::Prefix(prefix) = word_of(head) {
                    match self.prefixed(prefix, head) {
                        Some(name) => head = name,
                        None => return Next::Failed,
                    }
                }
            }
            _ => {}
        }
        // Field by field: the token was just made, a field at a time, and a copy of the whole would read it
        // back in wider loads than it was written with, which wait for the stores.
        (self.head.start, self.head.end) = (head.span.start, head.span.end);
        (self.head.line, self.head.col) = (head.span.line, head.span.col);
        self.head_key = match head.tok {
            Tok::Ident(key) => key,
            _ => 0,
        };
        // The operands, a `,` list read here (not by `comma_list`) so that each is read in line.
        let mut ok = true;
        if !self.at_end() {
            loop {
                let read = self.instruction_operand();
                let (valid, more) = self.list_item(read);
                ok &= valid;
                if !more {
                    ok = self.list_end(ok);
                    break;
                }
            }
        }
        if !ok {
            return Next::Failed;
        }
        Next::Instruction
    }

    /// After the prefix `head` (`lock`, `rep`...): the instruction's mnemonic, taken, with the prefix recorded;
    /// `head` itself when nothing follows it (a prefix alone on its line is an instruction of its own, its byte);
    /// `None`, reported, when what follows is no instruction.
    #[cold]
    #[inline(never)]
    fn prefixed(&mut self, prefix: Prefix, head: Token) -> Option<Token> {
        let Some(name) = self.name_here() else {
            return Some(head);
        };
        match word_of(name) {
            Word::Data(_) => self.expected("an instruction after the prefix"),
            Word::Prefix(_) => {
                let kind = ErrorKind::BadPrefix {
                    prefix: self.lex.text(head.span).to_ascii_lowercase(),
                    mnemonic: self.lex.text(name.span).to_ascii_lowercase(),
                    fault: PrefixFault::Twice,
                };
                self.error(kind, name.span);
            }
            _ => {
                self.take(name.span.end as usize);
                self.prefix = Some(Spanned {
                    node: prefix,
                    span: head.span,
                });
                self.operands.prefixed();
                return Some(name);
            }
        }
        self.skip_statement();
        None
    }

    /// One of an instruction's operands, added to [`Reader::kept`]: as [`Reader::comma_list`]'s items.
    #[inline(always)]
    fn instruction_operand(&mut self) -> Option<bool> {
        let op = self.operand()?;
        Some(match self.operands.push(op) {
            Ok(()) => true,
            Err(op) => {
                self.error(ErrorKind::TooManyOperands, op.span);
                false
            }
        })
    }

    /// Items separated by `,` up to the end of the statement, each read by `item`: `None` if it could not be read
    /// (the rest of it is skipped), else whether it is valid. True if every item was.
    #[inline(always)]
    fn comma_list(&mut self, mut item: impl FnMut(&mut Self) -> Option<bool>) -> bool {
        let mut ok = true;
        loop {
            let read = item(self);
            let (valid, more) = self.list_item(read);
            ok &= valid;
            if !more {
                return self.list_end(ok);
            }
        }
    }

    /// After an item of a `,` list (`None`: it could not be read, and the rest of it is skipped): whether it is
    /// valid, and whether a `,` follows (taken), so another item comes. The loop is the caller's, so that the
    /// item is read in line.
    #[inline(always)]
    fn list_item(&mut self, read: Option<bool>) -> (bool, bool) {
        let valid = read.unwrap_or_else(|| {
            self.skip_operand();
            false
        });
        let more = self.peek_byte() == Some(b',');
        if more {
            self.take_byte();
        }
        (valid, more)
    }

    /// After the last item of a `,` list that is `ok` so far: the end of the statement, or an error (and the rest
    /// skipped). Whether the list is valid.
    #[inline(always)]
    fn list_end(&mut self, ok: bool) -> bool {
        if self.at_end() {
            return ok;
        }
        self.expected("`,` or the end of the statement");
        self.skip_statement();
        false
    }

    /// `db 1, 2, 3` and friends.
    fn data(&mut self, head: Token, width: DataWidth) -> Next<'s> {
        let mut values = Vec::new();
        let ok = self.comma_list(|p| {
            let start = p.here();
            let value = p.sum()?;
            let span = Span {
                end: p.last_end,
                ..start
            };
            let bits = (width as u32) * 8;
            values.push(Spanned { node: value, span });
            let fits = value >= -(1i128 << (bits - 1)) && value < 1i128 << bits;
            if !fits {
                p.error(
                    ErrorKind::DataRange {
                        value,
                        bytes: width as u8,
                    },
                    span,
                );
            }
            Some(fits)
        });
        let span = Span {
            end: self.last_end,
            ..head.span
        };
        match ok {
            true => Next::Data(width, values, span),
            false => Next::Failed,
        }
    }

    /// One operand; on error it is reported and `None` returned, with the token where it stopped not taken.
    #[inline(always)]
    fn operand(&mut self) -> Option<Spanned<Operand<'s>>> {
        let start = self.here();
        let node = match self.peek_byte() {
            Some(b'[') => self.memory(None)?,
            Some(c) if c.is_ascii_digit() || c == b'+' || c == b'-' => Operand::Imm(self.sum()?),
            Some(b'{') => match self.peek().tok {
                Tok::Hole(n) => {
                    self.bump();
                    Operand::Hole(n)
                }
                Tok::RegHole(n, kind) => {
                    self.bump();
                    Operand::RegHole(n, kind)
                }
                _ => return self.not_an_operand(),
            },
            _ => match self.name_here() {
                Some(name) => self.named(name)?,
                None => return self.not_an_operand(),
            },
        };
        Some(Spanned {
            node,
            span: Span {
                end: self.last_end,
                ..start
            },
        })
    }

    #[cold]
    fn not_an_operand(&mut self) -> Option<Spanned<Operand<'s>>> {
        self.expected("an operand (a register, a number, a label or a memory operand `[...]`)");
        None
    }

    /// An operand that starts with the name `name` (not taken yet): a register, a sized memory operand, `ds:`
    /// or a label.
    #[inline(always)]
    fn named(&mut self, name: Token) -> Option<Operand<'s>> {
        let word = word_of(name);
        // A register first, the most common operand.
        if let Word::Reg(reg) = word
            && reg.class() != RegClass::Rip
        {
            self.take(name.span.end as usize);
            if self.peek_byte() != Some(b':') {
                return Some(Operand::Reg(reg));
            }
            return self.segment(name);
        }
        match word {
            Word::Size(size) => {
                self.take(name.span.end as usize);
                self.take_word(Word::Ptr);
                match self.name_here() {
                    Some(ds) if word_of(ds) == Word::Ds => self.ds_address(ds, Some(size)),
                    _ if self.peek_byte() == Some(b'[') => self.memory(Some(size)),
                    _ => {
                        self.expected("`[` after the size keyword");
                        None
                    }
                }
            }
            Word::Ds => self.ds_address(name, None),
            Word::Ptr => {
                self.expected("a size keyword (`byte`, `word`, `dword`, `qword`) before `ptr`");
                None
            }
            _ => {
                self.take(name.span.end as usize);
                if self.peek_byte() == Some(b':') {
                    return self.segment(name);
                }
                match word {
                    Word::Reg(reg) if reg.class() == RegClass::Rip => {
                        let why = "`rip` can only be the base of a memory operand, as in `[rip + label]`";
                        self.error(ErrorKind::BadOperand(why.into()), name.span);
                        None
                    }
                    Word::Reg(reg) => Some(Operand::Reg(reg)),
                    _ => Some(Operand::Label(self.lex.text(name.span))),
                }
            }
        }
    }

    /// A segment override (`fs:`), refused: the name `name` is taken, `:` is next.
    #[cold]
    fn segment(&mut self, name: Token) -> Option<Operand<'s>> {
        let colon = self.lex.span(self.lex.pos(), self.lex.pos() + 1);
        let why = "segment overrides are not supported; write the address without `seg:`";
        self.error(ErrorKind::BadOperand(why.into()), name.span.to(colon));
        None
    }

    /// `ds:0x1000` or `ds:[...]`, from the name `ds` (not taken yet). objdump writes absolute addresses so; `ds`
    /// is the default segment, so it changes nothing (GNU as emits no prefix for it either); other segment
    /// overrides are refused.
    fn ds_address(&mut self, ds: Token, size: Option<Size>) -> Option<Operand<'s>> {
        self.take(ds.span.end as usize);
        if self.peek_byte() != Some(b':') {
            self.expected("`:` after `ds`");
            return None;
        }
        self.take_byte();
        if self.peek_byte() == Some(b'[') {
            return self.memory(size);
        }
        let start = self.here();
        let disp = self.sum()?;
        match build_mem(size, &[], disp, None, 0) {
            Ok(mem) => Some(Operand::Mem(mem)),
            Err((why, _)) => {
                self.error(
                    ErrorKind::BadAddress(why),
                    Span {
                        end: self.last_end,
                        ..start
                    },
                );
                None
            }
        }
    }

    /// Signs, as many as written (`5 + -3`, `- -1`), taken: whether they make a minus.
    #[inline(always)]
    fn signs(&mut self) -> bool {
        let mut negative = false;
        while let Some(c @ (b'+' | b'-')) = self.peek_byte() {
            negative ^= c == b'-';
            self.take_byte();
        }
        negative
    }

    /// `[+|-] number (('+'|'-') number)*`, checked to be within 64 bits (signed or unsigned).
    #[inline(always)]
    fn sum(&mut self) -> Option<i128> {
        let start = self.here();
        let mut total: i128 = 0;
        loop {
            let negative = self.signs();
            let Some((n, end)) = self.number_here() else {
                self.expected("a number");
                return None;
            };
            self.take(end);
            total += if negative { -i128::from(n) } else { i128::from(n) };
            if total < i128::from(i64::MIN) - (1 << 64) || total > (1 << 65) {
                break; // far out of range; reported below
            }
            if !matches!(self.peek_byte(), Some(b'+' | b'-')) {
                break;
            }
        }
        if total < i128::from(i64::MIN) || total > i128::from(u64::MAX) {
            let why = format!("the value {total} does not fit 64 bits");
            self.error(
                ErrorKind::BadOperand(why),
                Span {
                    end: self.last_end,
                    ..start
                },
            );
            return None;
        }
        Some(total)
    }

    /// A bracketed memory operand; the next token is `[`. Out of line: it is long, and most operands are not one.
    #[inline(never)]
    fn memory(&mut self, size: Option<Size>) -> Option<Operand<'s>> {
        let open = self.take_byte();
        let mut address = Address::new(open);
        let mut ok = true;
        // A sign after `+`/`-` combines with it, as in GNU as: `[rax + -5]` is `[rax - 5]`.
        let mut negative = self.signs();
        loop {
            let term = self.here();
            if self.peek_byte() == Some(b']') && address.is_empty() && term.start == open.end {
                let bracket = self.take_byte();
                self.error(ErrorKind::BadAddress(AddressFault::Empty), bracket);
                return None;
            }
            match self.address_term(&mut address, term, negative) {
                Term::Read => {}
                Term::Bad => ok = false,
                Term::Stop => {
                    ok = false;
                    break;
                }
            }
            match self.peek_byte() {
                Some(b'+') => negative = false,
                Some(b'-') => negative = true,
                Some(b']') => break,
                _ => {
                    self.expected("`+`, `-` or `]`");
                    ok = false;
                    break;
                }
            }
            self.take_byte();
            negative ^= self.signs();
        }
        if !ok {
            // Past the closing bracket, so the next operand parses cleanly.
            while !self.at_end() && self.peek_byte() != Some(b']') {
                self.bump();
            }
            if self.peek_byte() == Some(b']') {
                self.take_byte();
            }
            return None;
        }
        let span = open.to(self.take_byte());
        match build_mem(
            size,
            &address.regs[..address.nregs],
            address.disp,
            address.label,
            address.disp_hole,
        ) {
            Ok(mem) => Some(Operand::Mem(mem)),
            Err((why, at)) => {
                self.error(ErrorKind::BadAddress(why), at.unwrap_or(span));
                None
            }
        }
    }

    /// One term of an address, added to `address`: a register (`rcx`, `rcx*8`), a number (`16`, `8*rcx`), a
    /// runtime displacement (`{N}`) or register (`{N:r64}`), or a label; `term` is where it starts, `negative`
    /// whether it is subtracted.
    #[inline(always)]
    fn address_term(&mut self, address: &mut Address<'s>, term: Span, negative: bool) -> Term {
        let (reg, hole) = match self.peek_byte() {
            Some(b'{') => {
                let token = self.peek();
                match token.tok {
                    Tok::Hole(n) => {
                        self.bump();
                        return match u16::try_from(n + 1) {
                            Ok(h) if address.disp_hole == 0 && !negative => {
                                address.disp_hole = h;
                                Term::Read
                            }
                            _ => {
                                self.error(ErrorKind::BadAddress(AddressFault::RuntimeDisplacement), token.span);
                                Term::Bad
                            }
                        };
                    }
                    Tok::RegHole(n, kind) => {
                        self.bump();
                        (kind.reg(0), hole_number(n))
                    }
                    _ => return self.no_term(),
                }
            }
            Some(c) if c.is_ascii_digit() => return self.number_term(address, term, negative),
            _ => {
                let Some(name) = self.name_here() else {
                    return self.no_term();
                };
                self.take(name.span.end as usize);
                match word_of(name) {
                    Word::Reg(reg) => (reg, 0),
                    _ if negative || address.label.is_some() => {
                        self.error(ErrorKind::BadAddress(AddressFault::LabelNotAdded), name.span);
                        return Term::Bad;
                    }
                    _ => {
                        address.label = Some(self.lex.text(name.span));
                        return Term::Read;
                    }
                }
            }
        };
        let scale = if self.peek_byte() == Some(b'*') {
            self.take_byte();
            match self.scale() {
                Some(scale) => scale,
                None => return Term::Bad,
            }
        } else {
            None
        };
        let span = Span {
            end: self.last_end,
            ..term
        };
        self.add_register(address, RegTerm { reg, scale, span, hole }, negative)
    }

    /// A term that starts with a number: a displacement, or a scale before its register (`8*rcx`).
    fn number_term(&mut self, address: &mut Address<'s>, term: Span, negative: bool) -> Term {
        let Some((n, end)) = self.number_here() else {
            return self.no_term();
        };
        self.take(end);
        if self.peek_byte() != Some(b'*') {
            address.disp += if negative { -i128::from(n) } else { i128::from(n) };
            return Term::Read;
        }
        self.take_byte();
        let (reg, hole) = match (self.peek_byte(), self.peek().tok) {
            (Some(b'{'), Tok::RegHole(n, kind)) => (Some(kind.reg(0)), hole_number(n)),
            (_, Tok::Ident(key)) => match word_of_key(key) {
                Word::Reg(reg) => (Some(reg), 0),
                _ => (None, 0),
            },
            _ => (None, 0),
        };
        let Some(reg) = reg else {
            self.expected("a register after `*`");
            return Term::Stop;
        };
        self.bump();
        let span = Span {
            end: self.last_end,
            ..term
        };
        match Scale::from_factor(n) {
            Some(scale) => self.add_register(
                address,
                RegTerm {
                    reg,
                    scale: Some(scale),
                    span,
                    hole,
                },
                negative,
            ),
            None => {
                self.error(ErrorKind::BadAddress(AddressFault::Scale(n)), span);
                Term::Bad
            }
        }
    }

    /// Adds register term `t` to `address`: not subtracted, and at most as many as an address has room for.
    fn add_register(&mut self, address: &mut Address<'s>, t: RegTerm, negative: bool) -> Term {
        let fault = if negative {
            AddressFault::SubtractedRegister
        } else if address.nregs == address.regs.len() {
            AddressFault::TooManyRegisters
        } else {
            address.regs[address.nregs] = t;
            address.nregs += 1;
            return Term::Read;
        };
        self.error(ErrorKind::BadAddress(fault), t.span);
        Term::Bad
    }

    /// Where an address term should be and is not: reported, and no more terms are read.
    #[cold]
    fn no_term(&mut self) -> Term {
        self.expected("a register, a number or a label inside `[...]`");
        Term::Stop
    }

    /// After `*`: a scale of 1, 2, 4 or 8. `None` when reported as an error.
    fn scale(&mut self) -> Option<Option<Scale>> {
        let Some((n, end)) = self.number_here() else {
            self.expected("a scale (1, 2, 4 or 8) after `*`");
            return None;
        };
        let span = self.lex.span(self.lex.pos(), end);
        self.take(end);
        match Scale::from_factor(n) {
            Some(s) => Some(Some(s)),
            None => {
                self.error(ErrorKind::BadAddress(AddressFault::Scale(n)), span);
                None
            }
        }
    }
}

/// What a token is as a word: for a name, the [`Word`] it is; for any other token, [`Word::Other`].
#[inline(always)]
fn word_of(tok: Token) -> Word {
    match tok.tok {
        Tok::Ident(key) => word_of_key(key),
        _ => Word::Other,
    }
}

/// Checks and assigns the parts of an address: which register is base and which is index, and the displacement.
/// On error: the reason and, when it is about one term, that term's span.
#[inline(always)]
pub(crate) fn build_mem<'s>(
    size: Option<Size>,
    regs: &[RegTerm],
    disp: i128,
    label: Option<&'s str>,
    disp_hole: u16,
) -> Result<Mem<'s>, (AddressFault, Option<Span>)> {
    // The most common address, `[base ± disp]` with a 64-bit base written out and a 32-bit displacement: nothing
    // below could find it wrong.
    if let [one] = regs
        && one.scale.is_none()
        && one.hole == 0
        && one.reg.class() == RegClass::Qword
        && label.is_none()
        && disp_hole == 0
        && let Ok(disp) = i32::try_from(disp)
    {
        return Ok(Mem {
            size,
            base: Some(one.reg),
            index: None,
            disp,
            label: None,
            holes: MemHoles::NONE,
        });
    }
    for t in regs {
        if t.hole != 0 && t.reg.class() != RegClass::Qword {
            return Err((AddressFault::RuntimeRegisterNot64, Some(t.span)));
        }
        match t.reg.class() {
            RegClass::Qword => {}
            RegClass::Rip if t.scale.is_none() => {}
            RegClass::Rip => {
                return Err((AddressFault::RipScaled, Some(t.span)));
            }
            RegClass::Dword => return Err((AddressFault::Register32(t.reg), Some(t.span))),
            _ => return Err((AddressFault::NotAnAddressRegister(t.reg), Some(t.span))),
        }
    }
    let (base, index) = match *regs {
        [] => (None, None),
        [one] => match one.scale {
            None => (Some(one), None),
            Some(_) => (None, Some(one)),
        },
        [a, b] => match (a.scale, b.scale) {
            // `[rbx + rsp]`: rsp cannot be an index, so GNU as makes it the base.
            (None, None) if b.reg == Reg::RSP && a.reg != Reg::RSP => (Some(b), Some(a)),
            (None, _) => (Some(a), Some(b)),
            (Some(_), None) => (Some(b), Some(a)),
            (Some(_), Some(_)) => {
                return Err((AddressFault::TwoScales, Some(b.span)));
            }
        },
        _ => return Err((AddressFault::TooManyRegisters, None)),
    };
    let base_reg = base.map(|t| t.reg);
    if let Some(ix) = index
        && (ix.reg.class() == RegClass::Rip || base_reg == Some(Reg::RIP))
    {
        return Err((AddressFault::RipWithIndex, Some(ix.span)));
    }
    if label.is_some() && disp_hole != 0 {
        return Err((AddressFault::TwoLabels, None));
    }
    if label.is_some() && base_reg != Some(Reg::RIP) {
        return Err((AddressFault::LabelWithoutRip, None));
    }
    if disp < i128::from(i64::MIN) || disp > i128::from(u64::MAX) {
        return Err((AddressFault::DisplacementBeyond64(disp), None));
    }
    let disp64 = disp as i64; // the unsigned bit pattern of a negative number wraps, as in GNU as
    let Ok(disp) = i32::try_from(disp64) else {
        return Err((AddressFault::DisplacementBeyond32(disp), None));
    };
    Ok(Mem {
        size,
        base: base_reg,
        index: match index {
            // 64-bit (checked above), so only `rsp` is refused.
            Some(t) => {
                Some(Index::new(t.reg, t.scale.unwrap_or(Scale::X1)).ok_or((AddressFault::RspIndex, Some(t.span)))?)
            }
            None => None,
        },
        disp,
        label,
        holes: MemHoles {
            base: base.map_or(0, |t| t.hole),
            index: index.map_or(0, |t| t.hole),
            disp: disp_hole,
            index_scaled: index.is_some_and(|t| t.scale.is_some()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(src: &str) -> (Vec<Statement<'_>>, Vec<String>) {
        let mut p = Parser::new(src);
        let stmts = std::iter::from_fn(|| p.next_statement()).collect();
        let errors = p.errors().iter().map(|e| e.to_string()).collect();
        (stmts, errors)
    }

    fn one_operand(src: &str) -> Operand<'_> {
        let (stmts, errors) = parse_all(src);
        assert!(errors.is_empty(), "{errors:?}");
        match &stmts[0].kind {
            StmtKind::Instruction { operands, .. } => operands.get(0).unwrap().node,
            other => panic!("{other:?}"),
        }
    }

    fn mem(src: &str) -> Mem<'_> {
        match one_operand(src) {
            Operand::Mem(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn memory_terms_in_any_order() {
        let rbx = Reg::from_name("rbx").unwrap();
        let rcx = Reg::from_name("rcx").unwrap();
        for src in [
            "inc qword ptr [rbx + rcx*8 + 16]",
            "inc QWORD [16 + 8*rcx + rbx]",
            "inc qword ptr [rcx*8+rbx+0x10]",
        ] {
            let m = mem(src);
            assert_eq!(
                (m.size, m.base, m.index, m.disp),
                (Some(Size::Qword), Some(rbx), Index::new(rcx, Scale::X8), 16),
                "{src}"
            );
        }
        let m = mem("inc byte ptr [rbx + rsp]");
        assert_eq!((m.base, m.index), (Some(Reg::RSP), Index::new(rbx, Scale::X1)));
        assert_eq!(mem("inc qword ptr ds:0x1000"), mem("inc qword ptr [0x1000]"));
        assert_eq!(mem("inc dword ptr ds:[rax]"), mem("inc dword ptr [rax]"));
        let m = mem("jmp [rcx*2 - 8]");
        assert_eq!(
            (m.base, m.index, m.disp, m.size),
            (None, Index::new(rcx, Scale::X2), -8, None)
        );
        let m = mem("jmp [rip + top + 4]");
        assert_eq!((m.base, m.label, m.disp), (Some(Reg::RIP), Some("top"), 4));
        assert_eq!(mem("jmp [0xffffffffffffffff]").disp, -1);
        assert_eq!(mem("jmp [rax + -5]"), mem("jmp [rax - 5]"));
        assert_eq!(mem("jmp [rax - -5]"), mem("jmp [rax + 5]"));
        assert_eq!(one_operand("push 3 + -1"), Operand::Imm(2));
    }

    #[test]
    fn statements_labels_and_data() {
        let (stmts, errors) = parse_all("a: b: nop; .quad -1, 0xffffffffffffffff\n db 1,2 # x\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(stmts.len(), 5);
        assert_eq!(stmts[1].kind, StmtKind::Label("b"));
        assert_eq!(stmts[2].span.col, 7);
        match &stmts[3].kind {
            StmtKind::Data {
                width: DataWidth::Qword,
                values,
            } => assert_eq!(values[1].node, 0xffff_ffff_ffff_ffff),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            one_operand("push -0x8000000000000000"),
            Operand::Imm(i128::from(i64::MIN))
        );
        assert_eq!(one_operand("push {3}"), Operand::Hole(3));
    }

    #[test]
    fn every_error_is_reported_with_its_column() {
        let (stmts, errors) = parse_all(
            "mov rax, [eax]\nmov [rax*3], 1\nadd rax, rbx rcx\nmov [rsp*2], 1\ndb 256\nnop\nmov fs:[rax], 1, 2\nrax: nop",
        );
        assert_eq!(stmts.len(), 2, "only the valid `nop` statements survive: {stmts:?}");
        assert_eq!(
            errors,
            [
                "1:11: error: invalid memory operand: 32-bit addresses are not supported; use the 64-bit register instead of `eax`",
                "2:10: error: invalid memory operand: the scale must be 1, 2, 4 or 8, not 3",
                "3:14: error: expected `,` or the end of the statement, found `rcx`",
                "4:6: error: invalid memory operand: `rsp` cannot be an index register",
                "5:4: error: data value 256 does not fit 1 byte(s); it must be between -128 and 255",
                "7:5: error: segment overrides are not supported; write the address without `seg:`",
                "8:1: error: `rax` is a register and cannot be a label name",
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for src in [
            "[",
            "]",
            "mov [",
            "mov [rax",
            "mov [rax +",
            "mov qword",
            "mov qword ptr",
            "mov 1*",
            "{",
            "{1",
            "mov [-rax]",
            "mov [rax*rbx]",
            "mov [8*]",
            "mov [a+b+rip]",
            ":",
            "é:",
            "mov ,",
            "mov rax,,",
            "- - -",
            "dd",
            "dq -",
            "mov [rip*2]",
            "mov [rax+rbx+rcx]",
            "mov []",
            "mov [0x1_0000_0000_0000_0000]",
        ] {
            let (_, errors) = parse_all(src);
            assert!(!errors.is_empty(), "{src:?} should be an error");
        }
    }

    #[test]
    fn a_register_scaled_scale_first_is_checked_as_one_scaled_after() {
        // `8*rcx` is `rcx*8`: subtracting it, or a fourth register, is the error, not its scale.
        let (_, errors) = parse_all(
            "lea rax, [rbx - 8*rcx]\nlea rax, [rbx - rcx*8]\nlea rax, [rax+rbx+rcx+8*rdx]\nlea rax, [rax+rbx+rcx+rdx*8]",
        );
        let message = |i: usize| errors[i].split_once(": error: ").map(|(_, m)| m.to_string());
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(message(0), message(1));
        assert_eq!(message(2), message(3));
        assert!(errors[0].contains("subtract"), "{errors:?}");
        assert!(!errors[2].contains("scale"), "{errors:?}");
    }
}
