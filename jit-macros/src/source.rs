//! Tokens → assembly text: the `jit!` front end.
//!
//! The macro has no assembly parser of its own. It writes its tokens out as text in the grammar the runtime
//! parser reads, and remembers for every token the byte range of the text it became ([`Piece`]). `jit-core`'s
//! one parser, form table and encoder then do all the work, and each error's text range is mapped back to the
//! tokens it covers, so `compile_error!` points at the token that is wrong.
//!
//! Statements are separated by `;`, and by line breaks when the compiler's token positions show the block as it
//! was written (see [`Lines`]). What is not assembly — a literal suffix, parentheses, a string — is reported
//! here; its statement is still handed to the assembler (with a placeholder) so that the *other* statements'
//! errors are found too, but no assembler error inside such a statement is reported (it would only echo this
//! one).

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use std::rc::Rc;

/// A token's place in its file as the compiler reports it: 1-based line and column (columns count characters),
/// and the same for the position just past its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) end_line: usize,
    pub(crate) end_col: usize,
}

impl Loc {
    fn start(self) -> (usize, usize) {
        (self.line, self.col)
    }

    fn end(self) -> (usize, usize) {
        (self.end_line, self.end_col)
    }
}

/// What the compiler can say about where tokens are. Inside `rustc` all of it is known (Rust 1.88 or newer);
/// unit tests run without it, and IDE macro expanders answer with placeholders.
pub(crate) trait Locate {
    /// The token's position.
    fn loc(&self, span: Span) -> Option<Loc>;
    /// The name of the token's file.
    fn file(&self, span: Span) -> Option<String>;
    /// The token's file, to check that only blanks and comments lie between two tokens.
    fn source_file(&self, span: Span) -> Option<Rc<SourceFile>>;
}

/// A source file's text with the byte offset of each line, to turn (line, column) positions into text.
pub(crate) struct SourceFile {
    text: String,
    starts: Vec<usize>,
}

impl SourceFile {
    /// Indexes a file's text.
    pub(crate) fn new(text: String) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile { text, starts }
    }

    /// The byte offset of a 1-based (line, column in characters) position.
    fn offset(&self, (line, col): (usize, usize)) -> Option<usize> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        let rest = self.text.get(start..)?;
        match col.checked_sub(1)? {
            0 => Some(start),
            n => rest.char_indices().nth(n).map(|(i, _)| start + i).or_else(|| {
                // The position just past the last character of the file.
                (rest.chars().count() == n).then_some(self.text.len())
            }),
        }
    }

    /// True when only blanks and comments lie between the two positions.
    fn blank_between(&self, from: (usize, usize), to: (usize, usize)) -> bool {
        match (self.offset(from), self.offset(to)) {
            (Some(a), Some(b)) => self.text.get(a..b).is_some_and(is_blank),
            _ => false,
        }
    }
}

/// No positions at all (unit tests).
#[cfg(test)]
pub(crate) struct Nowhere;

#[cfg(test)]
impl Locate for Nowhere {
    fn loc(&self, _: Span) -> Option<Loc> {
        None
    }
    fn file(&self, _: Span) -> Option<String> {
        None
    }
    fn source_file(&self, _: Span) -> Option<Rc<SourceFile>> {
        None
    }
}

/// What line breaks mean in one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lines {
    /// The tokens stand in one file, in order, with only blanks and comments between them: the block is read as
    /// written, and a line break outside `[...]` ends a statement.
    Written,
    /// Positions are known, but the tokens come from several places (a `macro_rules!` macro put the block
    /// together): a jump between two places is not a line break of the block, so only `;` separates.
    Composed,
    /// Every position is the same placeholder, as in an IDE's macro expander: line breaks cannot be seen.
    Placeholder,
    /// No positions (unit tests).
    Unknown,
}

/// Where one token went in the text.
#[derive(Clone, Debug)]
pub(crate) struct Piece {
    /// Byte range in the text.
    pub(crate) start: u32,
    pub(crate) end: u32,
    /// The token (for a bracket, the bracket itself; for `{expr}`, the whole group).
    pub(crate) span: Span,
    /// The token's line in its Rust file, when known.
    pub(crate) line: Option<usize>,
    /// The token is a `{expr}` runtime value.
    pub(crate) hole: bool,
    /// In a [`Lines::Composed`] block: the token starts a later source line than the token before it, so the
    /// author may have meant a line break that is not read as one.
    pub(crate) after_line_break: bool,
}

/// An error found in the tokens themselves, before assembling.
pub(crate) struct TokenError {
    /// Byte offset in the text, for ordering with the assembler's errors.
    pub(crate) at: u32,
    pub(crate) error: syn::Error,
}

/// A `jit!` block as assembly text, with the way back to its tokens.
pub(crate) struct Source {
    /// The assembly text, in the runtime parser's grammar; `{N}` stands for the N-th runtime value.
    pub(crate) text: String,
    /// One piece per token, in text order.
    pub(crate) pieces: Vec<Piece>,
    /// The runtime values' `{expr}` groups, by number.
    pub(crate) holes: Vec<Group>,
    /// Errors in the tokens (not assembly errors).
    pub(crate) errors: Vec<TokenError>,
    /// Text ranges of statements that have a token error: assembler errors inside them are not reported.
    pub(crate) poisoned: Vec<(u32, u32)>,
    /// How line breaks were read.
    pub(crate) lines: Lines,
}

/// What a token is, for spacing and statement boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Word,
    Number,
    Punct(char),
    Open,
    Close,
    Hole,
    Bad,
}

impl Kind {
    /// A name, number or runtime value: two of these never touch in the text.
    fn is_atom(self) -> bool {
        matches!(self, Kind::Word | Kind::Number | Kind::Hole | Kind::Bad)
    }
}

/// One token of the block, flattened (brackets become an opening and a closing token).
struct Tok {
    kind: Kind,
    text: String,
    span: Span,
    /// Position; `None` for the tokens after the first inside a `$x:expr` substitution (a `None`-delimited
    /// group), which has one position for all of its tokens, given to the first.
    loc: Option<Loc>,
    /// Inside such a substitution, after its first token: not a place where line breaks are read.
    inner: bool,
    /// The message if this token cannot be assembly.
    bad: Option<String>,
}

/// Where the next token is relative to `None`-delimited groups.
enum Unit {
    /// Outside every such group: tokens have their own positions.
    Free,
    /// At the first token of one: it gets the group's position.
    First(Option<Loc>),
    /// After the first token of one.
    Rest,
}

struct Flattener<'a> {
    locate: &'a dyn Locate,
    toks: Vec<Tok>,
    holes: Vec<Group>,
    unit: Unit,
}

impl Flattener<'_> {
    fn push(&mut self, kind: Kind, text: String, span: Span, bad: Option<String>) {
        let (loc, inner) = match std::mem::replace(&mut self.unit, Unit::Rest) {
            Unit::Free => {
                self.unit = Unit::Free;
                (self.locate.loc(span), false)
            }
            Unit::First(loc) => (loc, false),
            Unit::Rest => (None, true),
        };
        self.toks.push(Tok {
            kind,
            text,
            span,
            loc,
            inner,
            bad,
        });
    }

    fn stream(&mut self, stream: TokenStream) {
        for tree in stream {
            self.tree(tree);
        }
    }

    fn tree(&mut self, tree: TokenTree) {
        let span = tree.span();
        match tree {
            TokenTree::Ident(ident) => {
                let name = ident.to_string();
                let name = name.strip_prefix("r#").map(str::to_string).unwrap_or(name);
                self.push(Kind::Word, name, span, None);
            }
            TokenTree::Literal(lit) => match integer(&lit.to_string()) {
                Ok(text) => self.push(Kind::Number, text, span, None),
                Err((text, why)) => self.push(Kind::Bad, text, span, Some(why)),
            },
            TokenTree::Punct(p) => match p.as_char() {
                c @ (',' | '+' | '-' | '*' | ':' | ';' | '.') => self.push(Kind::Punct(c), c.to_string(), span, None),
                '#' => {
                    let why = "`#` is not assembly here: comments in `jit!` are Rust comments (`//` or `/* */`)";
                    self.push(Kind::Bad, String::new(), span, Some(why.into()));
                }
                c => {
                    let why = format!("`{c}` is not part of assembly syntax");
                    self.push(Kind::Bad, String::new(), span, Some(why));
                }
            },
            TokenTree::Group(g) => match g.delimiter() {
                Delimiter::Bracket => {
                    self.push(Kind::Open, "[".into(), g.span_open(), None);
                    self.stream(g.stream());
                    self.push(Kind::Close, "]".into(), g.span_close(), None);
                }
                Delimiter::Brace if g.stream().is_empty() => {
                    let why = "write the runtime value's expression inside the braces, as in `{n}`";
                    self.push(Kind::Bad, "0".into(), span, Some(why.into()));
                }
                Delimiter::Brace => {
                    // `{expr: r64}`: a register chosen at run time; `{expr}` anything else.
                    let tokens: Vec<TokenTree> = g.stream().into_iter().collect();
                    let (expr, kind) = match tokens.as_slice() {
                        [before @ .., TokenTree::Punct(colon), TokenTree::Ident(kind)]
                            if colon.as_char() == ':'
                                && !before.is_empty()
                                && !matches!(before.last(), Some(TokenTree::Punct(p))
                                if p.as_char() == ':' && p.spacing() == proc_macro2::Spacing::Joint)
                                && jit_core::asm::RegKind::from_name(&kind.to_string()).is_some() =>
                        {
                            let mut expr = Group::new(Delimiter::Brace, before.iter().cloned().collect());
                            expr.set_span(g.span());
                            (expr, Some(kind.to_string().to_ascii_lowercase()))
                        }
                        _ => (g, None),
                    };
                    let text = match kind {
                        Some(kind) => format!("{{{}:{kind}}}", self.holes.len()),
                        None => format!("{{{}}}", self.holes.len()),
                    };
                    self.holes.push(expr);
                    self.push(Kind::Hole, text, span, None);
                }
                Delimiter::Parenthesis => {
                    let why = "parentheses are not assembly: write a memory operand as `[...]` and a runtime \
                               value as `{expr}`";
                    self.push(Kind::Bad, "0".into(), span, Some(why.into()));
                }
                Delimiter::None => {
                    // A `macro_rules!` substitution such as `$x:expr`: its tokens stand where `$x` was written.
                    let outer = matches!(self.unit, Unit::Free);
                    if outer {
                        self.unit = Unit::First(self.locate.loc(span));
                    }
                    self.stream(g.stream());
                    if outer {
                        self.unit = Unit::Free;
                    }
                }
            },
        }
    }
}

/// An integer literal as Rust tokenized it: the text for the assembler, or (placeholder text, message).
///
/// Rust lets a literal carry a suffix (`3u8`) and keeps floats, strings and characters as literals too; none of
/// them is assembly. `0X1F` (as the walk-through writes it) is a literal `0` with the "suffix" `X1F` to Rust,
/// and hex to the assembler, so the prefix is read case-insensitively as the assembler does.
fn integer(lit: &str) -> Result<String, (String, String)> {
    let not_integer = || {
        let why = format!(
            "`{lit}` is not an integer; jit! operands are registers, integers, labels, `[...]` memory operands and \
             `{{expr}}` runtime values"
        );
        Err(("0".to_string(), why))
    };
    let bytes = lit.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_digit) {
        return not_integer();
    }
    let (radix, body) = match bytes {
        [b'0', b'x' | b'X', ..] => (16, &lit[2..]),
        [b'0', b'b' | b'B', ..] => (2, &lit[2..]),
        [b'0', b'o' | b'O', ..] => {
            let why = format!("octal `{lit}` is not supported; write decimal, 0x hex or 0b binary");
            return Err(("0".into(), why));
        }
        _ => (10, lit),
    };
    let digits = body
        .find(|c: char| !(c.is_digit(radix) || c == '_'))
        .unwrap_or(body.len());
    let suffix = &body[digits..];
    if suffix.is_empty() {
        return Ok(lit.to_string());
    }
    if radix == 10 && suffix.starts_with(['.', 'e', 'E', 'f']) {
        return not_integer();
    }
    let number = &lit[..lit.len() - suffix.len()];
    let why = format!(
        "integer literals in jit! take no type suffix: write `{number}`, not `{lit}` (the instruction decides the \
         operand's size)"
    );
    Err((number.to_string(), why))
}

impl Source {
    /// Writes a block's tokens out as assembly text.
    pub(crate) fn new(body: TokenStream, locate: &dyn Locate) -> Source {
        let mut f = Flattener {
            locate,
            toks: Vec::new(),
            holes: Vec::new(),
            unit: Unit::Free,
        };
        f.stream(body);
        let lines = read_lines(&f.toks, locate);
        let mut w = Writer {
            lines,
            text: String::new(),
            pieces: Vec::with_capacity(f.toks.len()),
            errors: Vec::new(),
            poisoned: Vec::new(),
            stmt_start: 0,
            stmt_bad: false,
        };
        w.write(&f.toks);
        Source {
            text: w.text,
            pieces: w.pieces,
            holes: f.holes,
            errors: w.errors,
            poisoned: w.poisoned,
            lines,
        }
    }

    /// The pieces an error's text range `start..end` is about: the first and the last token it covers. An empty
    /// range, or one that covers only a line break or the end of the text, is about the token before it.
    pub(crate) fn covering(&self, start: u32, end: u32) -> Option<(&Piece, &Piece)> {
        let end = end.max(start.saturating_add(1));
        let first = self.pieces.partition_point(|p| p.end <= start);
        let last = self.pieces.partition_point(|p| p.start < end);
        match (
            self.pieces.get(first),
            last.checked_sub(1).and_then(|l| self.pieces.get(l)),
        ) {
            (Some(a), Some(b)) if first < last => Some((a, b)),
            _ => {
                let before = self.pieces.partition_point(|p| p.start < start);
                let p = self.pieces.get(before.checked_sub(1)?)?;
                Some((p, p))
            }
        }
    }

    /// The pieces from `first` to `last`, both included.
    pub(crate) fn pieces_between<'a>(&'a self, first: &Piece, last: &Piece) -> impl Iterator<Item = &'a Piece> {
        let (a, b) = (first.start, last.start);
        self.pieces
            .iter()
            .skip_while(move |p| p.start < a)
            .take_while(move |p| p.start <= b)
    }

    /// The text a piece stands for.
    pub(crate) fn text_of(&self, p: &Piece) -> &str {
        self.text.get(p.start as usize..p.end as usize).unwrap_or("")
    }

    /// The piece that starts at text offset `at`.
    pub(crate) fn piece_at(&self, at: u32) -> Option<&Piece> {
        let i = self.pieces.partition_point(|p| p.start < at);
        self.pieces.get(i).filter(|p| p.start == at)
    }

    /// True when `at` is in a statement that already has a token error.
    pub(crate) fn is_poisoned(&self, at: u32) -> bool {
        self.poisoned.iter().any(|&(s, e)| s <= at && at <= e)
    }
}

/// Decides what line breaks mean for a block (see [`Lines`]).
fn read_lines(toks: &[Tok], locate: &dyn Locate) -> Lines {
    let units: Vec<(&Tok, Loc)> = match toks
        .iter()
        .filter(|t| !t.inner)
        .map(|t| t.loc.map(|l| (t, l)))
        .collect()
    {
        Some(units) => units,
        None => return Lines::Unknown,
    };
    // rust-analyzer answers line 1 (or 0), column 1 (or 0) for every token. Only exactly that is taken for an
    // IDE: a placeholder block's assembly errors are left to rustc, which must never happen in rustc itself.
    let placeholder = |l: &Loc| l.start() == l.end() && l.line <= 1 && l.col <= 1;
    if !units.is_empty() && units.iter().all(|(_, l)| placeholder(l)) {
        return Lines::Placeholder;
    }
    // A real token has a width, and the next one starts where it ends or later.
    if units.iter().any(|(_, l)| l.start() >= l.end()) || units.windows(2).any(|w| w[1].1.start() < w[0].1.end()) {
        return Lines::Composed;
    }
    let (Some((first, _)), Some((last, _))) = (units.first(), units.last()) else {
        return Lines::Written;
    };
    if locate.file(first.span) != locate.file(last.span) {
        return Lines::Composed;
    }
    // In order and in one file; a `macro_rules!` macro can still have put a token from further down in the file
    // after its own, so the text between tokens must be blanks and comments only (which also rules out tokens
    // from other files). If the file cannot be read (a remapped path), the order is taken as proof.
    match locate.source_file(first.span) {
        Some(file)
            if !units
                .windows(2)
                .all(|w| file.blank_between(w[0].1.end(), w[1].1.start())) =>
        {
            Lines::Composed
        }
        _ => Lines::Written,
    }
}

/// True when `s` holds only whitespace and Rust comments (`// ...`, nested `/* ... */`).
fn is_blank(mut s: &str) -> bool {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("//") {
            s = rest.find('\n').map_or("", |i| &rest[i..]);
        } else if let Some(rest) = s.strip_prefix("/*") {
            let mut depth = 1;
            let mut i = 0;
            let b = rest.as_bytes();
            while depth > 0 {
                match b.get(i..i + 2) {
                    Some(b"/*") => (depth, i) = (depth + 1, i + 2),
                    Some(b"*/") => (depth, i) = (depth - 1, i + 2),
                    Some(_) => i += 1,
                    None => return false,
                }
            }
            s = rest.get(i..).unwrap_or("");
        } else {
            return s.is_empty();
        }
    }
}

/// Builds the text, the pieces and the statement bookkeeping.
struct Writer {
    lines: Lines,
    text: String,
    pieces: Vec<Piece>,
    errors: Vec<TokenError>,
    poisoned: Vec<(u32, u32)>,
    stmt_start: u32,
    stmt_bad: bool,
}

impl Writer {
    fn pos(&self) -> u32 {
        self.text.len() as u32
    }

    /// Ends the current statement at the current position.
    fn end_statement(&mut self) {
        if self.stmt_bad {
            self.poisoned.push((self.stmt_start, self.pos()));
        }
        self.stmt_start = self.pos();
        self.stmt_bad = false;
    }

    fn write(&mut self, toks: &[Tok]) {
        let mut depth = 0u32;
        // End of the last token that has a position, and whether the token before is a sign (`-1`, `+8`).
        let mut last_end: Option<(usize, usize)> = None;
        let mut after_sign = false;
        for (i, t) in toks.iter().enumerate() {
            let prev = i.checked_sub(1).and_then(|p| toks.get(p));
            let new_line = match (last_end, t.loc) {
                (Some((line, _)), Some(loc)) if !t.inner => loc.line > line,
                _ => false,
            };
            let gap = match prev {
                None => "",
                Some(_) if t.text.is_empty() => "",
                Some(_) if self.lines == Lines::Written && new_line && depth == 0 => "\n",
                Some(p) if p.kind.is_atom() && t.kind.is_atom() => " ",
                Some(_) if self.lines == Lines::Written && !t.inner => match (last_end, t.loc) {
                    (Some(end), Some(loc)) if end == loc.start() => "",
                    _ => " ",
                },
                Some(p) => pretty_gap(p, after_sign, t),
            };
            if gap == "\n" {
                self.end_statement();
            }
            self.text.push_str(gap);
            if gap == "\n" {
                self.stmt_start = self.pos();
            }
            let start = self.pos();
            self.text.push_str(&t.text);
            self.pieces.push(Piece {
                start,
                end: self.pos(),
                span: t.span,
                line: t.loc.map(|l| l.line),
                hole: t.kind == Kind::Hole,
                after_line_break: self.lines == Lines::Composed && new_line,
            });
            if let Some(why) = &t.bad {
                self.stmt_bad = true;
                self.errors.push(TokenError {
                    at: start,
                    error: syn::Error::new(t.span, why),
                });
            }
            after_sign = matches!(t.kind, Kind::Punct('-' | '+')) && !prev.is_some_and(|p| ends_value(p, depth));
            match t.kind {
                Kind::Open => depth += 1,
                Kind::Close => depth = depth.saturating_sub(1),
                Kind::Punct(';') if depth == 0 => self.end_statement(),
                _ => {}
            }
            if let Some(loc) = t.loc {
                last_end = Some(loc.end());
            }
        }
        self.end_statement();
    }
}

/// True when `p` ends a value, so that a `-` or `+` after it is an operator (`[rax - 8]`) and not a sign
/// (`push -1`, `mov rax, -1`): a number, `]`, a runtime value, or a name inside brackets.
fn ends_value(p: &Tok, depth: u32) -> bool {
    match p.kind {
        Kind::Number | Kind::Close | Kind::Hole | Kind::Bad => true,
        Kind::Word => depth > 0,
        _ => false,
    }
}

/// The space between two tokens when their positions do not tell: the way objdump prints.
fn pretty_gap(prev: &Tok, prev_is_sign: bool, t: &Tok) -> &'static str {
    let glue_after = prev_is_sign || matches!(prev.kind, Kind::Open | Kind::Punct('.' | '*'));
    let glue_before = matches!(t.kind, Kind::Close | Kind::Punct(',' | ':' | ';' | '*'));
    if glue_after || glue_before { "" } else { " " }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(src: &str) -> Source {
        Source::new(src.parse().unwrap(), &Nowhere)
    }

    #[test]
    fn tokens_become_objdump_style_text() {
        let s = source("mov rax, 0X3; ret; add qword ptr [rbx + rcx*8 - 16], -1 ; push -1");
        assert_eq!(
            s.text,
            "mov rax, 0X3; ret; add qword ptr [rbx + rcx*8 - 16], -1; push -1"
        );
        assert!(s.errors.is_empty());
        let s = source("top: .byte 1, 2; .quad -0x8000000000000000; jmp [rip + top]; mov eax, [-8 + rax]");
        assert_eq!(
            s.text,
            "top: .byte 1, 2; .quad -0x8000000000000000; jmp [rip + top]; mov eax, [-8 + rax]"
        );
        assert_eq!(source("r#loop: jmp r#loop").text, "loop: jmp loop");
    }

    #[test]
    fn runtime_values_become_numbered_holes() {
        let s = source("mov eax, {n + 1}; add rcx, {k}");
        assert_eq!(s.text, "mov eax, {0}; add rcx, {1}");
        assert_eq!(s.holes.len(), 2);
        assert_eq!(s.holes[1].stream().to_string(), "k");
        assert!(s.pieces.iter().filter(|p| p.hole).count() == 2);
    }

    #[test]
    fn literals_keep_their_text_or_are_refused_with_a_reason() {
        assert_eq!(integer("0x1F"), Ok("0x1F".into()));
        assert_eq!(integer("0X1f"), Ok("0X1f".into()));
        assert_eq!(integer("0b1010_1010"), Ok("0b1010_1010".into()));
        assert_eq!(integer("1_000"), Ok("1_000".into()));
        let (text, why) = integer("3u8").unwrap_err();
        assert_eq!(text, "3");
        assert!(why.contains("write `3`, not `3u8`"), "{why}");
        assert_eq!(integer("0xffu8").unwrap_err().0, "0xff");
        for lit in ["1.5", "1e3", "2f64", "\"rax\"", "'a'", "b'a'"] {
            assert!(integer(lit).unwrap_err().1.contains("is not an integer"), "{lit}");
        }
        assert!(integer("0o17").unwrap_err().1.contains("octal"));
    }

    #[test]
    fn what_is_not_assembly_is_an_error_on_its_token_and_poisons_only_its_statement() {
        let s = source("mov rax, (3); add al, 3u8\nnop; mov rbx, #x; ret; jmp {}");
        let errors: Vec<String> = s.errors.iter().map(|e| e.error.to_string()).collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("parentheses are not assembly"));
        assert!(errors[1].contains("no type suffix"));
        assert!(errors[2].starts_with("`#` is not assembly here"));
        assert!(errors[3].contains("inside the braces"));
        assert_eq!(s.text, "mov rax, 0; add al, 3 nop; mov rbx, x; ret; jmp 0");
        let ret = s.text.find("ret").unwrap() as u32;
        assert!(s.is_poisoned(0) && s.is_poisoned(s.text.find("nop").unwrap() as u32));
        assert!(!s.is_poisoned(ret));
        assert!(s.is_poisoned(s.text.len() as u32 - 1));
    }

    #[test]
    fn error_ranges_map_to_the_tokens_they_cover() {
        let s = source("mov rax, [rbx + 8]; ret");
        let text_of = |(a, b): (&Piece, &Piece)| &s.text[a.start as usize..b.end as usize];
        assert_eq!(text_of(s.covering(9, 18).unwrap()), "[rbx + 8]");
        assert_eq!(text_of(s.covering(4, 7).unwrap()), "rax");
        // An empty range at the end is about the last token.
        let end = s.text.len() as u32;
        assert_eq!(text_of(s.covering(end, end).unwrap()), "ret");
        assert!(source("").covering(0, 0).is_none());
    }

    /// Hands out positions in the order tokens ask for them (one `loc` call per token, in order).
    struct Positions(std::cell::RefCell<Vec<(usize, usize, usize)>>);

    impl Positions {
        /// (line, column, width) per token.
        fn new(at: &[(usize, usize, usize)]) -> Self {
            Positions(std::cell::RefCell::new(at.iter().rev().copied().collect()))
        }
    }

    impl Locate for Positions {
        fn loc(&self, _: Span) -> Option<Loc> {
            let (line, col, width) = self.0.borrow_mut().pop()?;
            Some(Loc {
                line,
                col,
                end_line: line,
                end_col: col + width,
            })
        }
        fn file(&self, _: Span) -> Option<String> {
            Some("src/lib.rs".into())
        }
        fn source_file(&self, _: Span) -> Option<Rc<SourceFile>> {
            None
        }
    }

    #[test]
    fn line_breaks_separate_statements_when_the_tokens_are_as_written() {
        // mov rax, 3 / ret / [rsp + \n 8]
        let at = Positions::new(&[
            (1, 1, 3),
            (1, 5, 3),
            (1, 8, 1),
            (1, 10, 1),
            (2, 1, 3),
            (3, 1, 3),
            (3, 5, 1),
        ]);
        let s = Source::new("mov rax, 3 ret jmp x".parse().unwrap(), &at);
        assert_eq!(s.lines, Lines::Written);
        assert_eq!(s.text, "mov rax, 3\nret\njmp x");
        assert_eq!(
            s.pieces.iter().map(|p| p.line.unwrap()).collect::<Vec<_>>(),
            [1, 1, 1, 1, 2, 3, 3]
        );
        // Inside brackets a line break is a space; adjacent tokens stay adjacent.
        let at = Positions::new(&[(1, 1, 3), (1, 5, 1), (1, 6, 3), (1, 9, 1), (2, 1, 1), (2, 2, 1)]);
        assert_eq!(Source::new("jmp [rsp + 8]".parse().unwrap(), &at).text, "jmp [rsp+ 8]");
    }

    #[test]
    fn tokens_from_several_places_are_separated_by_semicolons_only() {
        // `mov` and `,` from a macro on line 1, `rcx` from its caller on line 9.
        let at = Positions::new(&[(1, 1, 3), (9, 5, 3), (1, 9, 1), (1, 11, 1), (2, 1, 3)]);
        let s = Source::new("mov rcx, 1 ret".parse().unwrap(), &at);
        assert_eq!(s.lines, Lines::Composed);
        assert_eq!(s.text, "mov rcx, 1 ret");
        assert!(s.pieces[4].after_line_break && !s.pieces[3].after_line_break);
    }

    #[test]
    fn placeholder_positions_are_recognised_and_nothing_else_is() {
        let at = Positions::new(&[(1, 1, 0), (1, 1, 0)]);
        assert_eq!(Source::new("nop ret".parse().unwrap(), &at).lines, Lines::Placeholder);
        let at = Positions::new(&[(0, 0, 0), (0, 0, 0)]);
        assert_eq!(Source::new("nop ret".parse().unwrap(), &at).lines, Lines::Placeholder);
        // A zero-width token somewhere in a real file is odd, not an IDE: `;` only, errors reported.
        let at = Positions::new(&[(4, 5, 3), (4, 9, 0)]);
        assert_eq!(Source::new("nop ret".parse().unwrap(), &at).lines, Lines::Composed);
    }

    #[test]
    fn blanks_are_whitespace_and_comments() {
        assert!(is_blank("  \n\t// note\n /* a /* nested */ b */ "));
        assert!(!is_blank(" $r } "));
        assert!(!is_blank("/* open"));
        let file = SourceFile::new("ab\né x\n".into());
        assert_eq!(file.offset((2, 1)), Some(3));
        assert_eq!(file.offset((2, 3)), Some(6));
        assert_eq!(file.offset((3, 1)), Some(8));
        assert_eq!(file.offset((9, 1)), None);
        assert!(file.blank_between((1, 3), (2, 1)));
        assert!(!file.blank_between((1, 1), (2, 1)));
    }
}
