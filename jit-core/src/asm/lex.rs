//! The lexer: assembly text to tokens, each with its [`Span`].
//!
//! Comments (`#` or `//` to the end of the line) are skipped; newlines and `;` both end a statement. The lexer
//! never fails: a character it does not know becomes an error token, reported by the parser, and lexing goes on.

use super::error::ErrorKind;
use super::syntax::{RegKind, Span};

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: mnemonic, register, size keyword, label or directive (`.byte`).
    Ident,
    /// A number literal (its sign is a separate token).
    Number(u64),
    /// `{N}`: a runtime immediate placeholder.
    Hole(u32),
    /// `{N:r64}`: a runtime register placeholder.
    RegHole(u32, RegKind),
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
/// starts plus the number of UTF-8 continuation bytes seen on the line so far (in comments and unknown
/// characters): a token's column is its distance from that offset.
pub(crate) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    line: u32,
    /// Where the line starts, plus the continuation bytes on it so far: the offset of column 1 were every
    /// character before the current position one byte.
    col_origin: usize,
}

/// A place where lexing can stop and go on: a position with the line and column origin there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) pos: usize,
    pub(crate) line: u32,
    /// As [`Lexer`]'s `col_origin`: the column of byte `pos` is `pos - col_origin + 1`.
    pub(crate) col_origin: usize,
}

impl Place {
    /// The start of the text.
    pub(crate) const START: Place = Place {
        pos: 0,
        line: 1,
        col_origin: 0,
    };
}

/// Bytes that can continue an identifier (and, with digits, a number's token).
pub(crate) const IDENT: [bool; 256] = {
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
            col_origin: 0,
        }
    }

    /// Goes on from `place` (which another reader of the same text reached).
    pub(crate) fn seek(&mut self, place: Place) {
        self.pos = place.pos;
        self.line = place.line;
        self.col_origin = place.col_origin;
    }

    fn peek_byte(&self, ahead: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + ahead).copied()
    }

    /// Moves past the bytes `keep` accepts; none of them may be a newline.
    fn skip_while(&mut self, keep: impl Fn(u8) -> bool) {
        let rest = &self.src.as_bytes()[self.pos..];
        self.pos += rest.iter().position(|&b| !keep(b)).unwrap_or(rest.len());
    }

    /// The end of the line from `from` on (the newline stays), counting continuation bytes for the columns. Out of
    /// line: it is not on the path of a token.
    #[inline(never)]
    fn skip_comment(&mut self, from: usize) -> usize {
        let rest = self.src.as_bytes().get(from..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        self.col_origin += rest[..len].iter().filter(|&&b| is_continuation(b)).count();
        from + len
    }

    /// The next token. Inlined into the parser's `advance`, its one hot caller.
    #[inline(always)]
    pub(crate) fn next_token(&mut self) -> Token {
        let bytes = self.src.as_bytes();
        let mut start = self.pos;
        loop {
            match bytes.get(start) {
                Some(b' ' | b'\t' | b'\r' | b'\x0c') => start += 1,
                Some(b'#') => start = self.skip_comment(start),
                Some(b'/') if bytes.get(start + 1) == Some(&b'/') => start = self.skip_comment(start),
                _ => break,
            }
        }
        let (line, col) = (self.line, (start - self.col_origin + 1) as u32);
        // One past the token's last byte; the rare tokens read by other methods move `self.pos` instead.
        let mut end = start + 1;
        let tok = match bytes.get(start) {
            None => {
                end = start;
                Tok::Eof
            }
            Some(b'\n') => {
                self.line += 1;
                self.col_origin = end;
                Tok::Sep
            }
            Some(b';') => Tok::Sep,
            Some(b',') => Tok::Comma,
            Some(b'[') => Tok::LBracket,
            Some(b']') => Tok::RBracket,
            Some(b'+') => Tok::Plus,
            Some(b'-') => Tok::Minus,
            Some(b'*') => Tok::Star,
            Some(b':') => Tok::Colon,
            Some(b'0'..=b'9') => {
                let (tok, number_end) = number(bytes, start);
                end = number_end;
                tok
            }
            // Digits are taken above, so this is an identifier's first byte.
            Some(&b) if IDENT[usize::from(b)] => {
                while bytes.get(end).is_some_and(|&b| IDENT[usize::from(b)]) {
                    end += 1;
                }
                Tok::Ident
            }
            Some(&b) => {
                self.pos = end;
                let tok = match b {
                    b'{' => self.hole(start),
                    _ => self.unexpected(start),
                };
                end = self.pos;
                tok
            }
        };
        self.pos = end;
        let span = Span {
            start: start as u32,
            end: end as u32,
            line,
            col,
        };
        Token { tok, span }
    }

    /// A byte that starts no token was read: skips the rest of a multi-byte character so spans stay on character
    /// boundaries.
    #[cold]
    fn unexpected(&mut self, start: usize) -> Tok {
        let before = self.pos;
        self.skip_while(is_continuation);
        self.col_origin += self.pos - before;
        let c = self.src[start..self.pos].chars().next().unwrap_or('\u{fffd}');
        Tok::Error(LexError::UnexpectedChar(c))
    }

    /// `{` was read: expects digits, then `}` or `:kind}` (`r64 r32 r16 r8 xmm`).
    fn hole(&mut self, start: usize) -> Tok {
        self.skip_while(|b| b.is_ascii_digit());
        let digits = &self.src[start + 1..self.pos];
        let Ok(n) = digits.parse() else {
            return Tok::Error(LexError::UnexpectedChar('{'));
        };
        match self.peek_byte(0) {
            Some(b'}') => {
                self.pos += 1;
                return Tok::Hole(n);
            }
            Some(b':') => {
                let from = self.pos + 1;
                let mut end = from;
                while self.src.as_bytes().get(end).is_some_and(u8::is_ascii_alphanumeric) {
                    end += 1;
                }
                if let Some(kind) = RegKind::from_name(&self.src[from..end])
                    && self.src.as_bytes().get(end) == Some(&b'}')
                {
                    self.pos = end + 1;
                    return Tok::RegHole(n, kind);
                }
            }
            _ => {}
        }
        Tok::Error(LexError::UnexpectedChar('{'))
    }

    /// The bytes a span covers.
    pub(crate) fn bytes(&self, span: Span) -> &'s [u8] {
        self.src
            .as_bytes()
            .get(span.start as usize..span.end as usize)
            .unwrap_or(&[])
    }

    /// The text a span covers.
    pub(crate) fn text(&self, span: Span) -> &'s str {
        self.src.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

/// The number token that starts with the digit at `start`, and where it ends. Plain decimal numbers of up to 19
/// digits, which cannot overflow, are read in one pass; anything else (`0x`, `_`, a letter, more digits) goes to
/// [`parse_number`] over the whole token.
#[inline(always)]
pub(crate) fn number(bytes: &[u8], start: usize) -> (Tok, usize) {
    let mut end = start;
    let mut value = 0u64;
    while let Some(&b) = bytes.get(end)
        && b.is_ascii_digit()
    {
        value = value.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        end += 1;
    }
    let more = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    if end - start <= 19 && !bytes.get(end).is_some_and(more) {
        return (Tok::Number(value), end);
    }
    while bytes.get(end).is_some_and(more) {
        end += 1;
    }
    (parse_number(&bytes[start..end]), end)
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
        assert_eq!(
            toks("9999999999999999999 18446744073709551615 18446744073709551616 1_0 7,"),
            [
                Tok::Number(9_999_999_999_999_999_999),
                Tok::Number(u64::MAX),
                Tok::Error(LexError::BadNumber),
                Tok::Number(10),
                Tok::Number(7),
                Tok::Comma
            ]
        );
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
