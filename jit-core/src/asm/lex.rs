//! The lexer: assembly text to tokens, each with its [`Span`].
//!
//! Comments (`#` or `//` to the end of the line) are skipped; newlines and `;` both end a statement. The lexer
//! never fails: a character it does not know becomes an error token, reported by the parser, and lexing goes on.

use super::error::ErrorKind;
use super::syntax::Span;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    Error(LexError),
    /// The end of the input.
    Eof,
}

/// Why a token could not be read. Small, so tokens stay two words; [`LexError::kind`] makes the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LexError {
    /// A character that starts no token.
    UnexpectedChar(char),
    /// A number with a bad digit or too big for 64 bits; the token's text says which.
    BadNumber,
}

impl LexError {
    /// The error to report for a token with this problem and this text.
    pub(crate) fn kind(self, text: &str) -> ErrorKind {
        match self {
            LexError::UnexpectedChar(c) => ErrorKind::UnexpectedChar(c),
            LexError::BadNumber => ErrorKind::BadNumber(text.to_string()),
        }
    }
}

/// A token and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

/// Splits text into tokens.
///
/// Columns count characters, not bytes. Tokens are ASCII, so the lexer keeps the byte offset where the line
/// starts and the number of UTF-8 continuation bytes seen on the line so far (in comments and unknown
/// characters): a token's column is its distance from the line start minus those.
pub(crate) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    line: u32,
    line_start: usize,
    continuation_bytes: usize,
}

/// Bytes that can continue an identifier (and, with digits, a number's token).
const IDENT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'$' | b'@');
        b += 1;
    }
    table
};

fn is_continuation(b: u8) -> bool {
    b & 0xc0 == 0x80
}

impl<'s> Lexer<'s> {
    pub(crate) fn new(src: &'s str) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            line_start: 0,
            continuation_bytes: 0,
        }
    }

    fn peek_byte(&self, ahead: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + ahead).copied()
    }

    /// Moves past the bytes `keep` accepts; none of them may be a newline.
    fn skip_while(&mut self, keep: impl Fn(u8) -> bool) {
        let rest = &self.src.as_bytes()[self.pos..];
        self.pos += rest.iter().position(|&b| !keep(b)).unwrap_or(rest.len());
    }

    /// Moves to the end of the line (the newline stays), counting continuation bytes for the columns.
    fn skip_comment(&mut self) {
        let rest = &self.src.as_bytes()[self.pos..];
        let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        self.continuation_bytes += rest[..len].iter().filter(|&&b| is_continuation(b)).count();
        self.pos += len;
    }

    /// The next token.
    pub(crate) fn next_token(&mut self) -> Token {
        loop {
            match self.peek_byte(0) {
                Some(b' ' | b'\t' | b'\r' | b'\x0c') => self.pos += 1,
                Some(b'#') => self.skip_comment(),
                Some(b'/') if self.peek_byte(1) == Some(b'/') => self.skip_comment(),
                _ => break,
            }
        }
        let start = self.pos;
        let (line, col) = (
            self.line,
            (start - self.line_start - self.continuation_bytes + 1) as u32,
        );
        let tok = match self.peek_byte(0) {
            None => Tok::Eof,
            Some(b) => {
                self.pos += 1;
                match b {
                    b'\n' => {
                        self.line += 1;
                        self.line_start = self.pos;
                        self.continuation_bytes = 0;
                        Tok::Sep
                    }
                    b';' => Tok::Sep,
                    b',' => Tok::Comma,
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    b'+' => Tok::Plus,
                    b'-' => Tok::Minus,
                    b'*' => Tok::Star,
                    b':' => Tok::Colon,
                    b'{' => self.hole(start),
                    b'0'..=b'9' => {
                        self.skip_while(|b| b.is_ascii_alphanumeric() || b == b'_');
                        parse_number(&self.src.as_bytes()[start..self.pos])
                    }
                    b if is_ident_start(b) => {
                        self.skip_while(|b| IDENT[usize::from(b)]);
                        Tok::Ident
                    }
                    _ => {
                        // Skip the rest of a multi-byte character so spans stay on character boundaries.
                        let before = self.pos;
                        self.skip_while(is_continuation);
                        self.continuation_bytes += self.pos - before;
                        let c = self.src[start..self.pos].chars().next().unwrap_or('\u{fffd}');
                        Tok::Error(LexError::UnexpectedChar(c))
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
        self.skip_while(|b| b.is_ascii_digit());
        let digits = &self.src[start + 1..self.pos];
        if self.peek_byte(0) == Some(b'}') && !digits.is_empty() {
            self.pos += 1;
            if let Ok(n) = digits.parse() {
                return Tok::Hole(n);
            }
        }
        Tok::Error(LexError::UnexpectedChar('{'))
    }

    /// The text a span covers.
    pub(crate) fn text(&self, span: Span) -> &'s str {
        self.src.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || matches!(b, b'_' | b'.' | b'$' | b'@')
}

/// Decimal, `0x` hex or `0b` binary (any case), `_` allowed between digits. Allocates nothing.
fn parse_number(bytes: &[u8]) -> Tok {
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
            None => return Tok::Error(LexError::BadNumber),
        }
        any = true;
    }
    if any {
        Tok::Number(value)
    } else {
        Tok::Error(LexError::BadNumber)
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
        assert_eq!(toks("0x1_0000_0000_0000_0000"), [Tok::Error(LexError::BadNumber)]);
        assert!(matches!(toks("12abc")[0], Tok::Error(LexError::BadNumber)));
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
        assert_eq!(lx.next_token().tok, Tok::Error(LexError::UnexpectedChar('é')));
        let t = lx.next_token();
        assert_eq!(
            (t.tok, t.span.col, t.span.end - t.span.start),
            (Tok::Error(LexError::UnexpectedChar('€')), 2, 3)
        );
        assert_eq!(lx.next_token().span.col, 4);
        assert_eq!(toks("{x}")[0], Tok::Error(LexError::UnexpectedChar('{')));
    }
}
