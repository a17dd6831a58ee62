//! The lexer: assembly text to tokens, each with its [`Span`].
//!
//! Comments (`#` or `//` to the end of the line) are skipped; newlines and `;` both end a statement. The lexer
//! never fails: a character it does not know becomes an error token, reported by the parser, and lexing goes on.

use super::error::ErrorKind;
use super::syntax::Span;

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: mnemonic, register, size keyword, label or directive (`.byte`).
    Ident,
    /// A number literal (its sign is a separate token).
    Number(u64),
    /// `{N}`: a runtime immediate placeholder.
    Hole(u32),
    Comma,
    LBracket,
    RBracket,
    Plus,
    Minus,
    Star,
    Colon,
    /// A newline or `;`.
    Sep,
    /// Something the lexer could not read.
    Error(ErrorKind),
    /// The end of the input.
    Eof,
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

/// Splits text into tokens.
pub(crate) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    line: u32,
    col: u32,
}

impl<'s> Lexer<'s> {
    pub(crate) fn new(src: &'s str) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    fn peek_byte(&self, ahead: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + ahead).copied()
    }

    /// Advances one byte, keeping line and column (columns count characters, not UTF-8 bytes).
    fn bump(&mut self) {
        if let Some(b) = self.peek_byte(0) {
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                self.col = 1;
            } else if b & 0xc0 != 0x80 {
                self.col += 1;
            }
        }
    }

    fn bump_while(&mut self, keep: impl Fn(u8) -> bool) {
        while self.peek_byte(0).is_some_and(&keep) {
            self.bump();
        }
    }

    /// The next token.
    pub(crate) fn next_token(&mut self) -> Token {
        loop {
            match self.peek_byte(0) {
                Some(b' ' | b'\t' | b'\r' | b'\x0c') => self.bump(),
                Some(b'#') => self.bump_while(|b| b != b'\n'),
                Some(b'/') if self.peek_byte(1) == Some(b'/') => self.bump_while(|b| b != b'\n'),
                _ => break,
            }
        }
        let (start, line, col) = (self.pos, self.line, self.col);
        let tok = match self.peek_byte(0) {
            None => Tok::Eof,
            Some(b) => {
                self.bump();
                match b {
                    b'\n' | b';' => Tok::Sep,
                    b',' => Tok::Comma,
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    b'+' => Tok::Plus,
                    b'-' => Tok::Minus,
                    b'*' => Tok::Star,
                    b':' => Tok::Colon,
                    b'{' => self.hole(start),
                    b'0'..=b'9' => {
                        self.bump_while(|b| b.is_ascii_alphanumeric() || b == b'_');
                        parse_number(&self.src[start..self.pos])
                    }
                    b if is_ident_start(b) => {
                        self.bump_while(is_ident_continue);
                        Tok::Ident
                    }
                    _ => {
                        // Skip the rest of a multi-byte character so spans stay on character boundaries.
                        self.bump_while(|b| b & 0xc0 == 0x80);
                        let c = self.src[start..self.pos].chars().next().unwrap_or('\u{fffd}');
                        Tok::Error(ErrorKind::UnexpectedChar(c))
                    }
                }
            }
        };
        let span = Span {
            start: start as u32,
            end: self.pos as u32,
            line,
            col,
        };
        Token { tok, span }
    }

    /// `{` was read: expects digits and `}`.
    fn hole(&mut self, start: usize) -> Tok {
        self.bump_while(|b| b.is_ascii_digit());
        let digits = &self.src[start + 1..self.pos];
        if self.peek_byte(0) == Some(b'}') && !digits.is_empty() {
            self.bump();
            if let Ok(n) = digits.parse() {
                return Tok::Hole(n);
            }
        }
        Tok::Error(ErrorKind::UnexpectedChar('{'))
    }

    /// The text a span covers.
    pub(crate) fn text(&self, span: Span) -> &'s str {
        self.src.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || matches!(b, b'_' | b'.' | b'$' | b'@')
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'$' | b'@')
}

/// Decimal, `0x` hex or `0b` binary (any case), `_` allowed between digits. Allocates nothing.
fn parse_number(text: &str) -> Tok {
    let bytes = text.as_bytes();
    let (digits, radix) = match bytes {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        [b'0', b'b' | b'B', rest @ ..] => (rest, 2),
        _ => (bytes, 10),
    };
    let mut value: u64 = 0;
    let mut any = false;
    for &b in digits {
        if b == b'_' {
            continue;
        }
        let digit = (b as char).to_digit(radix);
        match digit.and_then(|d| value.checked_mul(u64::from(radix))?.checked_add(u64::from(d))) {
            Some(v) => value = v,
            None => return Tok::Error(ErrorKind::BadNumber(text.to_string())),
        }
        any = true;
    }
    if any {
        Tok::Number(value)
    } else {
        Tok::Error(ErrorKind::BadNumber(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token();
            if t.tok == Tok::Eof {
                return out;
            }
            out.push(t.tok);
        }
    }

    #[test]
    fn numbers_in_every_base() {
        assert_eq!(
            toks("0X1f 0b101 42 0xffff_ffff"),
            [
                Tok::Number(31),
                Tok::Number(5),
                Tok::Number(42),
                Tok::Number(0xffff_ffff)
            ]
        );
        assert_eq!(
            toks("0x1_0000_0000_0000_0000"),
            [Tok::Error(ErrorKind::BadNumber("0x1_0000_0000_0000_0000".into()))]
        );
        assert!(matches!(toks("12abc")[0], Tok::Error(ErrorKind::BadNumber(_))));
    }

    #[test]
    fn comments_separators_and_spans() {
        let mut lx = Lexer::new("mov rax, 3 # three\n  ret // done\n;{7}");
        let spans: Vec<(Tok, u32, u32)> = std::iter::from_fn(|| {
            let t = lx.next_token();
            (t.tok != Tok::Eof).then_some((t.tok, t.span.line, t.span.col))
        })
        .collect();
        assert_eq!(
            spans,
            [
                (Tok::Ident, 1, 1),
                (Tok::Ident, 1, 5),
                (Tok::Comma, 1, 8),
                (Tok::Number(3), 1, 10),
                (Tok::Sep, 1, 19),
                (Tok::Ident, 2, 3),
                (Tok::Sep, 2, 14),
                (Tok::Sep, 3, 1),
                (Tok::Hole(7), 3, 2),
            ]
        );
    }

    #[test]
    fn unknown_characters_are_tokens_and_columns_count_characters() {
        let mut lx = Lexer::new("é€ x");
        assert_eq!(lx.next_token().tok, Tok::Error(ErrorKind::UnexpectedChar('é')));
        let t = lx.next_token();
        assert_eq!(
            (t.tok, t.span.col, t.span.end - t.span.start),
            (Tok::Error(ErrorKind::UnexpectedChar('€')), 2, 3)
        );
        assert_eq!(lx.next_token().span.col, 4);
        assert_eq!(toks("{x}")[0], Tok::Error(ErrorKind::UnexpectedChar('{')));
    }
}
