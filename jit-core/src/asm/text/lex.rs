//! The lexer: assembly text to tokens, each with its [`Span`].
//!
//! Comments (`#` or `//` to the end of the line) are skipped; newlines and `;` both end a statement. The lexer
//! never fails: a character it does not know becomes an error token, reported by the parser, and lexing goes on.

use super::reg::{leading_name, name_key};
use super::syntax::{RegKind, Span};
use crate::asm::error::ErrorKind;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: mnemonic, register, size keyword, label or directive (`.byte`), with its
    /// [`name_key`] (0 for a name longer than seven bytes, which is no register or keyword).
    Ident(u64),
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
#[derive(Clone, Copy)]
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

    /// Where `span` starts.
    pub(crate) fn of(span: Span) -> Place {
        Place {
            pos: span.start as usize,
            line: span.line,
            col_origin: (span.start + 1 - span.col) as usize,
        }
    }
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

    /// Moves past blanks (spaces, tabs, carriage returns, form feeds); returns the byte there (`None` at the end
    /// of the text). A comment is not a blank here: it can only end a statement, where the parser looks for it
    /// ([`Lexer::at_comment`]).
    #[inline(always)]
    pub(crate) fn skip_blanks(&mut self) -> Option<u8> {
        // The four blanks as bits of a word (none is above the space): a shift and a test, not a chain of compares.
        const BLANKS: u64 = 1 << b' ' | 1 << b'\t' | 1 << b'\r' | 1 << 0x0c;
        loop {
            let c = *self.src.as_bytes().get(self.pos)?;
            if c > b' ' || BLANKS >> c & 1 == 0 {
                return Some(c);
            }
            self.pos += 1;
        }
    }

    /// Whether a comment (`#`, or `//`) starts at the lexer's place.
    #[inline(always)]
    pub(crate) fn at_comment(&self) -> bool {
        matches!(self.src.as_bytes().get(self.pos..), Some([b'#', ..] | [b'/', b'/', ..]))
    }

    /// Moves past the comment at the lexer's place, up to the newline that ends it.
    pub(crate) fn skip_comment_here(&mut self) {
        self.pos = self.skip_comment(self.pos);
    }

    /// Moves past the newline at the lexer's place, to the start of the next line.
    #[inline(always)]
    pub(crate) fn newline(&mut self) {
        self.pos += 1;
        self.line += 1;
        self.col_origin = self.pos;
    }

    /// Where the lexer is.
    #[inline(always)]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The text's bytes.
    #[inline(always)]
    pub(crate) fn src(&self) -> &'s [u8] {
        self.src.as_bytes()
    }

    /// Moves to `end`, past a token of the same line read from the text's bytes.
    #[inline(always)]
    pub(crate) fn take(&mut self, end: usize) {
        self.pos = end;
    }

    /// The span of `start..end`, on the lexer's line.
    #[inline(always)]
    pub(crate) fn span(&self, start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
            line: self.line,
            col: (start - self.col_origin + 1) as u32,
        }
    }

    /// The next token. Where the parser does not read the bytes itself: on the rarer paths, and for errors.
    #[inline(always)]
    pub(crate) fn next_token(&mut self) -> Token {
        let bytes = self.src.as_bytes();
        while self.skip_blanks().is_some() && self.at_comment() {
            self.skip_comment_here();
        }
        let start = self.pos;
        let (line, col) = (self.line, (start - self.col_origin + 1) as u32);
        // One past the token's last byte; the rare tokens read by other methods move `self.pos` instead.
        let mut end = start + 1;
        let tok = match bytes.get(start) {
            None => {
                end = start;
                Tok::Eof
            }
            Some(b'\n') => {
                self.newline();
                end = self.pos;
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
                let key;
                (end, key) = name(bytes, start);
                Tok::Ident(key)
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

    /// The text a span covers.
    pub(crate) fn text(&self, span: Span) -> &'s str {
        self.src.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

/// An identifier at `p`: where it ends, and its [`name_key`] (0 for one longer than seven bytes, which is no
/// register or keyword). Where the text has sixteen bytes at `p`, they are read at once ([`leading_name`]).
#[inline(always)]
pub(crate) fn name(b: &[u8], p: usize) -> (usize, u64) {
    if let Some(sixteen) = b.get(p..).and_then(|rest| rest.first_chunk::<16>())
        && let Some((n, key)) = leading_name(sixteen)
    {
        return (p + n, key);
    }
    let mut end = p;
    while b.get(end).is_some_and(|&c| IDENT[usize::from(c)]) {
        end += 1;
    }
    (end, name_key(&b[p..end]).unwrap_or(0))
}

/// The number token that starts with the digit at `start`, and where it ends. One to seven decimal digits (most
/// numbers) are read from one 8-byte load without a loop; anything else by [`number_by_bytes`].
#[inline(always)]
pub(crate) fn number(b: &[u8], start: usize) -> (Tok, usize) {
    if let Some(&eight) = b.get(start..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(eight);
        const ONES: u64 = 0x0101_0101_0101_0101;
        // A byte is a digit when its high nibble is 3 and its low one at most 9 (adding 6 leaves the high one
        // alone). A carry out of a byte that is no digit can only spoil the bytes after it.
        let high = |x: u64| (x & (0xf0 * ONES)) ^ (0x30 * ONES);
        let not_digit = high(w) | high(w.wrapping_add(6 * ONES));
        let n = (not_digit.trailing_zeros() / 8) as usize;
        if (1..8).contains(&n) && !b[start + n].is_ascii_alphanumeric() && b[start + n] != b'_' {
            // The digits moved to the top bytes, `0`s below them: the value of eight digits, in three
            // multiplications that each join neighbours (tens, then hundreds, then ten-thousands).
            let shift = 8 * (8 - n as u32);
            let digits = (w << shift | (0x30 * ONES) >> (64 - shift)) & (0x0f * ONES);
            let v = digits.wrapping_mul(10 << 8 | 1) >> 8 & (0x00ff * 0x0001_0001_0001_0001);
            let v = v.wrapping_mul(100 << 16 | 1) >> 16 & (0xffff * 0x0000_0001_0000_0001);
            let v = v.wrapping_mul(10_000 << 32 | 1) >> 32;
            return (Tok::Number(v), start + n);
        }
    }
    number_by_bytes(b, start)
}

/// [`number`] a byte at a time. Plain decimal numbers of up to 19 digits, which cannot overflow, are read in one
/// pass; anything else (`0x`, `_`, a letter, more digits) goes to [`parse_number`] over the whole token.
fn number_by_bytes(bytes: &[u8], start: usize) -> (Tok, usize) {
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
                (Tok::Ident(name_key(b"mov").unwrap()), 1, 1),
                (Tok::Ident(name_key(b"rax").unwrap()), 1, 5),
                (Tok::Comma, 1, 8),
                (Tok::Number(3), 1, 10),
                (Tok::Sep, 1, 19),
                (Tok::Ident(name_key(b"ret").unwrap()), 2, 3),
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

    #[test]
    fn numbers_read_from_eight_bytes_are_read_as_byte_by_byte() {
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
        let mut rng = crate::rng::SplitMix64::new(0x5a12);
        for _ in 0..2000 {
            texts.push((rng.next_u64() >> (rng.next_u64() % 64)).to_string());
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
                assert_eq!(number(src.as_bytes(), 0), number_by_bytes(src.as_bytes(), 0), "{src:?}");
            }
        }
    }

    #[test]
    fn names_read_at_once_have_the_keys_of_names_read_byte_by_byte() {
        for src in [
            "rax",
            "RAX,",
            "r15d]",
            "qword ptr",
            "a_b",
            "top.x",
            "abcdefgh",
            "x",
            "eax1234567890123456",
            "mov\trax",
        ] {
            let padded = format!("{src}                ");
            let (end, key) = name(padded.as_bytes(), 0);
            let plain = padded.bytes().take_while(|&c| IDENT[usize::from(c)]).count();
            assert_eq!(end, plain, "{src:?}");
            assert_eq!(key, name_key(&padded.as_bytes()[..plain]).unwrap_or(0), "{src:?}");
            assert_eq!(
                name(src.as_bytes(), 0),
                (end, key),
                "{src:?} without sixteen bytes after it"
            );
        }
    }
}
