//! The parser: tokens to [`Statement`]s.
//!
//! Statements come one at a time ([`Parser::next_statement`]), so a large input is never held as a whole
//! statement list. A statement with an error is reported and dropped, and parsing goes on with the next operand
//! or the next statement, so every error in the input is found.

use super::error::{AddressFault, AsmError, ErrorKind};
use super::lex::{Lexer, Place, Tok, Token};
use super::reg::{Reg, RegClass};
use super::syntax::{
    DataWidth, Index, Mem, MemHoles, Operand, Operands, Scale, Size, Span, Spanned, Statement, StmtKind,
};
use super::words::{Word, word};

/// Parses statements out of assembly text.
///
/// ```
/// use jit_core::asm::{Operand, Parser, StmtKind};
/// let mut p = Parser::new("top: add rax, 8");
/// assert_eq!(p.next_statement().unwrap().kind, StmtKind::Label("top"));
/// let StmtKind::Instruction { mnemonic, operands } = p.next_statement().unwrap().kind else { panic!() };
/// assert_eq!((mnemonic.node, operands.len()), ("add", 2));
/// assert_eq!(operands.get(1).unwrap().node, Operand::Imm(8));
/// assert!(p.next_statement().is_none() && p.errors().is_empty());
/// ```
pub struct Parser<'s> {
    lex: Lexer<'s>,
    tok: Token,
    /// End of the last token consumed, for statement and operand spans.
    last_end: u32,
    errors: Vec<AsmError>,
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
        let mut lex = Lexer::new(src);
        let tok = lex.next_token();
        Parser {
            lex,
            tok,
            last_end: 0,
            errors: Vec::new(),
        }
    }

    /// The errors found so far, in source order.
    pub fn errors(&self) -> &[AsmError] {
        &self.errors
    }

    /// Takes the errors found so far.
    pub fn take_errors(&mut self) -> Vec<AsmError> {
        std::mem::take(&mut self.errors)
    }

    /// Goes on from `place`, the start of a statement that another reader of the same text reached.
    pub(crate) fn seek(&mut self, place: Place) {
        self.lex.seek(place);
        self.last_end = place.pos as u32;
        self.tok = self.lex.next_token();
    }

    /// Moves to the next token. Kept out of line: it holds the lexer, inlined.
    #[inline(never)]
    fn advance(&mut self) {
        self.last_end = self.tok.span.end;
        self.tok = self.lex.next_token();
    }

    fn error(&mut self, kind: ErrorKind, span: Span) {
        self.errors.push(AsmError { kind, span });
    }

    /// Reports what the current token is, for "expected X, found Y".
    fn found(&self) -> String {
        match &self.tok.tok {
            Tok::Eof => "the end of the input".into(),
            Tok::Sep if self.lex.text(self.tok.span) == ";" => "`;`".into(),
            Tok::Sep => "the end of the line".into(),
            _ => format!("`{}`", self.lex.text(self.tok.span)),
        }
    }

    fn expected(&mut self, expected: &'static str) {
        let found = self.found();
        let kind = match &self.tok.tok {
            Tok::Error(e) => e.kind(self.lex.text(self.tok.span)),
            _ => ErrorKind::Expected { expected, found },
        };
        self.error(kind, self.tok.span);
    }

    fn at_end(&self) -> bool {
        matches!(self.tok.tok, Tok::Sep | Tok::Eof)
    }

    /// Skips to the end of the statement (the separator stays).
    fn skip_statement(&mut self) {
        while !self.at_end() {
            self.advance();
        }
    }

    /// Skips to the next `,` or the end of the statement, outside brackets.
    fn skip_operand(&mut self) {
        let mut depth = 0u32;
        while !self.at_end() {
            match self.tok.tok {
                Tok::Comma if depth == 0 => return,
                Tok::LBracket => depth += 1,
                Tok::RBracket => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.advance();
        }
    }

    /// The next statement, or `None` at the end of the input. Statements with errors are skipped (their errors
    /// are in [`Parser::errors`]).
    pub fn next_statement(&mut self) -> Option<Statement<'s>> {
        loop {
            match &self.tok.tok {
                Tok::Eof => return None,
                Tok::Sep => {
                    self.advance();
                }
                Tok::Ident => {
                    let name = self.tok;
                    self.advance();
                    let text = self.lex.text(name.span);
                    if self.tok.tok == Tok::Colon {
                        let colon = self.tok;
                        self.advance();
                        if let Word::Reg(_) = self.word_at(name.span) {
                            let why = format!("`{text}` is a register and cannot be a label name");
                            self.error(ErrorKind::BadOperand(why), name.span);
                            continue;
                        }
                        return Some(Statement {
                            kind: StmtKind::Label(text),
                            span: name.span.to(colon.span),
                        });
                    }
                    if let Some(s) = self.statement(name) {
                        return Some(s);
                    }
                }
                _ => {
                    self.expected("an instruction, a label or a data directive");
                    self.skip_statement();
                }
            }
        }
    }

    /// The rest of a statement that starts with the identifier `head`.
    fn statement(&mut self, head: Token) -> Option<Statement<'s>> {
        let text = self.lex.text(head.span);
        // Data directives start with `d` or `.`: a test of the first byte spares most mnemonics the lookup.
        if let [b'd' | b'D' | b'.', ..] = text.as_bytes()
            && let Word::Data(width) = self.word_at(head.span)
        {
            return self.data(head, width);
        }
        let mut operands = Operands::new_with(Spanned {
            node: Operand::Hole(0),
            span: head.span,
        });
        let ok = self.at_end()
            || self.comma_list(|p| {
                let op = p.operand()?;
                Some(match operands.push(op) {
                    Ok(()) => true,
                    Err(op) => {
                        p.error(ErrorKind::TooManyOperands, op.span);
                        false
                    }
                })
            });
        let span = Span {
            end: self.last_end,
            ..head.span
        };
        let mnemonic = Spanned {
            node: text,
            span: head.span,
        };
        if ok {
            Some(Statement {
                kind: StmtKind::Instruction { mnemonic, operands },
                span,
            })
        } else {
            None
        }
    }

    /// Items separated by `,` up to the end of the statement. `item` parses one: `None` if it could not (the rest
    /// of that item is skipped), else whether it is valid. True if every item was.
    fn comma_list(&mut self, mut item: impl FnMut(&mut Self) -> Option<bool>) -> bool {
        let mut ok = true;
        loop {
            match item(self) {
                Some(valid) => ok &= valid,
                None => {
                    ok = false;
                    self.skip_operand();
                }
            }
            if self.tok.tok != Tok::Comma {
                break;
            }
            self.advance();
        }
        if !self.at_end() {
            self.expected("`,` or the end of the statement");
            self.skip_statement();
            ok = false;
        }
        ok
    }

    /// `db 1, 2, 3` and friends.
    fn data(&mut self, head: Token, width: DataWidth) -> Option<Statement<'s>> {
        let mut values = Vec::new();
        let ok = self.comma_list(|p| {
            let start = p.tok.span;
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
        ok.then_some(Statement {
            kind: StmtKind::Data { width, values },
            span,
        })
    }

    /// One operand; on error it is reported and `None` returned, with the token where it stopped unconsumed.
    fn operand(&mut self) -> Option<Spanned<Operand<'s>>> {
        let start = self.tok.span;
        let node = match self.tok.tok {
            Tok::Ident => {
                let word = self.word_at(start);
                if let Word::Size(size) = word {
                    self.advance();
                    if self.at_word(Word::Ptr) {
                        self.advance();
                    }
                    if self.at_ds() {
                        self.ds_address(Some(size))?
                    } else if self.tok.tok != Tok::LBracket {
                        self.expected("`[` after the size keyword");
                        return None;
                    } else {
                        self.memory(Some(size))?
                    }
                } else if let Word::Reg(reg) = word {
                    self.advance();
                    if self.tok.tok == Tok::Colon {
                        let why = "segment overrides are not supported; write the address without `seg:`";
                        self.error(ErrorKind::BadOperand(why.into()), start.to(self.tok.span));
                        return None;
                    }
                    if reg.class() == RegClass::Rip {
                        let why = "`rip` can only be the base of a memory operand, as in `[rip + label]`";
                        self.error(ErrorKind::BadOperand(why.into()), start);
                        return None;
                    }
                    Operand::Reg(reg)
                } else if word == Word::Ds {
                    self.ds_address(None)?
                } else if word == Word::Ptr {
                    self.expected("a size keyword (`byte`, `word`, `dword`, `qword`) before `ptr`");
                    return None;
                } else {
                    self.advance();
                    if self.tok.tok == Tok::Colon {
                        let why = "segment overrides are not supported; write the address without `seg:`";
                        self.error(ErrorKind::BadOperand(why.into()), start.to(self.tok.span));
                        return None;
                    }
                    Operand::Label(self.lex.text(start))
                }
            }
            Tok::LBracket => self.memory(None)?,
            Tok::Hole(n) => {
                self.advance();
                Operand::Hole(n)
            }
            Tok::RegHole(n, kind) => {
                self.advance();
                Operand::RegHole(n, kind)
            }
            Tok::Number(_) | Tok::Plus | Tok::Minus => Operand::Imm(self.sum()?),
            _ => {
                self.expected("an operand (a register, a number, a label or a memory operand `[...]`)");
                return None;
            }
        };
        Some(Spanned {
            node,
            span: Span {
                end: self.last_end,
                ..start
            },
        })
    }

    /// At `ds`: objdump writes absolute addresses as `ds:0x1000`. `ds` is the default segment, so it changes
    /// nothing (GNU as emits no prefix for it either); other segment overrides are refused.
    fn at_ds(&self) -> bool {
        self.at_word(Word::Ds)
    }

    /// At an identifier that is `w`.
    fn at_word(&self, w: Word) -> bool {
        self.tok.tok == Tok::Ident && self.word_at(self.tok.span) == w
    }

    /// What the identifier at `span` is.
    fn word_at(&self, span: Span) -> Word {
        word(self.lex.bytes(span))
    }

    /// `ds:0x1000` or `ds:[...]`; the current token is `ds`.
    fn ds_address(&mut self, size: Option<Size>) -> Option<Operand<'s>> {
        self.advance();
        if self.tok.tok != Tok::Colon {
            self.expected("`:` after `ds`");
            return None;
        }
        self.advance();
        if self.tok.tok == Tok::LBracket {
            return self.memory(size);
        }
        let start = self.tok.span;
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

    /// `[+|-] number (('+'|'-') number)*`, checked to be within 64 bits (signed or unsigned).
    fn sum(&mut self) -> Option<i128> {
        let start = self.tok.span;
        let mut total: i128 = 0;
        loop {
            // Signs, as many as written: `5 + -3`, `- -1`.
            let mut negative = false;
            while matches!(self.tok.tok, Tok::Minus | Tok::Plus) {
                negative ^= self.tok.tok == Tok::Minus;
                self.advance();
            }
            let Tok::Number(n) = self.tok.tok else {
                self.expected("a number");
                return None;
            };
            self.advance();
            total += if negative { -i128::from(n) } else { i128::from(n) };
            if total < i128::from(i64::MIN) - (1 << 64) || total > (1 << 65) {
                break; // far out of range; reported below
            }
            if !matches!(self.tok.tok, Tok::Plus | Tok::Minus) {
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

    /// A bracketed memory operand; the current token is `[`.
    fn memory(&mut self, size: Option<Size>) -> Option<Operand<'s>> {
        let open = self.tok;
        self.advance();
        let mut regs: [Option<RegTerm>; 3] = [None; 3];
        let mut nregs = 0usize;
        let mut disp: i128 = 0;
        let mut label: Option<&'s str> = None;
        let mut disp_hole = 0u16;
        let mut ok = true;
        let mut negative = false;
        if self.tok.tok == Tok::Minus {
            negative = true;
            self.advance();
        } else if self.tok.tok == Tok::Plus {
            self.advance();
        }
        loop {
            // A sign after `+`/`-` combines with it, as in GNU as: `[rax + -5]` is `[rax - 5]`.
            while matches!(self.tok.tok, Tok::Minus | Tok::Plus) {
                negative ^= self.tok.tok == Tok::Minus;
                self.advance();
            }
            let term = self.tok.span;
            match self.tok.tok {
                Tok::Hole(n) => {
                    self.advance();
                    match u16::try_from(n + 1) {
                        Ok(h) if disp_hole == 0 && !negative => disp_hole = h,
                        _ => {
                            self.error(ErrorKind::BadAddress(AddressFault::RuntimeDisplacement), term);
                            ok = false;
                        }
                    }
                }
                Tok::Ident | Tok::RegHole(..) => {
                    let (word, hole) = match self.tok.tok {
                        Tok::RegHole(n, kind) => (Word::Reg(kind.reg(0)), u16::try_from(n + 1).unwrap_or(u16::MAX)),
                        _ => (self.word_at(term), 0),
                    };
                    self.advance();
                    if let Word::Reg(reg) = word {
                        let scale = if self.tok.tok == Tok::Star {
                            self.advance();
                            self.scale()
                        } else {
                            Some(None)
                        };
                        let span = Span {
                            end: self.last_end,
                            ..term
                        };
                        match scale {
                            Some(scale) if !negative && nregs < regs.len() => {
                                regs[nregs] = Some(RegTerm { reg, scale, span, hole });
                                nregs += 1;
                            }
                            Some(_) if negative => {
                                self.error(ErrorKind::BadAddress(AddressFault::SubtractedRegister), span);
                                ok = false;
                            }
                            Some(_) => {
                                self.error(ErrorKind::BadAddress(AddressFault::TooManyRegisters), span);
                                ok = false;
                            }
                            None => ok = false,
                        }
                    } else if negative || label.is_some() {
                        self.error(ErrorKind::BadAddress(AddressFault::LabelNotAdded), term);
                        ok = false;
                    } else {
                        label = Some(self.lex.text(term));
                    }
                }
                Tok::Number(n) => {
                    self.advance();
                    if self.tok.tok == Tok::Star {
                        // `8*rcx`
                        self.advance();
                        let reg_tok = self.tok.span;
                        let (reg, hole) = match self.tok.tok {
                            Tok::Ident => (self.word_at(reg_tok), 0),
                            Tok::RegHole(n, kind) => (Word::Reg(kind.reg(0)), u16::try_from(n + 1).unwrap_or(u16::MAX)),
                            _ => (Word::Other, 0),
                        };
                        let Word::Reg(reg) = reg else {
                            self.expected("a register after `*`");
                            ok = false;
                            break;
                        };
                        self.advance();
                        let span = Span {
                            end: self.last_end,
                            ..term
                        };
                        match Scale::from_factor(n) {
                            Some(s) if !negative && nregs < regs.len() => {
                                regs[nregs] = Some(RegTerm {
                                    reg,
                                    scale: Some(s),
                                    span,
                                    hole,
                                });
                                nregs += 1;
                            }
                            _ => {
                                self.bad_scale(n, span);
                                ok = false;
                            }
                        }
                    } else {
                        disp += if negative { -i128::from(n) } else { i128::from(n) };
                    }
                }
                Tok::RBracket if nregs == 0 && label.is_none() && disp_hole == 0 && term.start == open.span.end => {
                    self.error(ErrorKind::BadAddress(AddressFault::Empty), term);
                    self.advance();
                    return None;
                }
                _ => {
                    self.expected("a register, a number or a label inside `[...]`");
                    ok = false;
                    break;
                }
            }
            match self.tok.tok {
                Tok::Plus => negative = false,
                Tok::Minus => negative = true,
                Tok::RBracket => break,
                _ => {
                    self.expected("`+`, `-` or `]`");
                    ok = false;
                    break;
                }
            }
            self.advance();
        }
        if !ok {
            // Skip to the closing bracket so the next operand parses cleanly.
            while !self.at_end() && self.tok.tok != Tok::RBracket {
                self.advance();
            }
            if self.tok.tok == Tok::RBracket {
                self.advance();
            }
            return None;
        }
        let close = self.tok;
        self.advance();
        let span = open.span.to(close.span);
        let mut terms = [RegTerm {
            reg: Reg::RAX,
            scale: None,
            span,
            hole: 0,
        }; 3];
        for (t, r) in terms.iter_mut().zip(regs.iter().flatten()) {
            *t = *r;
        }
        match build_mem(size, &terms[..nregs], disp, label, disp_hole) {
            Ok(mem) => Some(Operand::Mem(mem)),
            Err((why, at)) => {
                self.error(ErrorKind::BadAddress(why), at.unwrap_or(span));
                None
            }
        }
    }

    /// After `*`: a scale of 1, 2, 4 or 8. `None` when reported as an error.
    fn scale(&mut self) -> Option<Option<Scale>> {
        let span = self.tok.span;
        let Tok::Number(n) = self.tok.tok else {
            self.expected("a scale (1, 2, 4 or 8) after `*`");
            return None;
        };
        self.advance();
        match Scale::from_factor(n) {
            Some(s) => Some(Some(s)),
            None => {
                self.bad_scale(n, span);
                None
            }
        }
    }

    fn bad_scale(&mut self, n: u64, span: Span) {
        self.error(ErrorKind::BadAddress(AddressFault::Scale(n)), span);
    }
}

/// The most common address, `[base ± disp]` with a 64-bit base and a displacement that fits 32 bits, which
/// nothing in [`build_mem`] could find wrong: its base and displacement, or `None` for any other address (for
/// the fast path, which makes its shape straight from these).
#[inline(always)]
pub(crate) fn base_and_disp(regs: &[RegTerm], disp: i128) -> Option<(Reg, i32)> {
    match regs {
        [one] if one.scale.is_none() && one.reg.class() == RegClass::Qword => {
            Some((one.reg, i32::try_from(disp).ok()?))
        }
        _ => None,
    }
}

/// Checks and assigns the parts of an address: which register is base and which is index, and the displacement.
/// On error: the reason and, when it is about one term, that term's span.
pub(crate) fn build_mem<'s>(
    size: Option<Size>,
    regs: &[RegTerm],
    disp: i128,
    label: Option<&'s str>,
    disp_hole: u16,
) -> Result<Mem<'s>, (AddressFault, Option<Span>)> {
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
}
