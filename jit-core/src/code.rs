//! [`Code`]: assembled machine code together with its source map.
//!
//! Both front ends produce it: the runtime text assembler ([`crate::assemble`]) builds it from owned data, the
//! `jit!` macro builds it from `static` arrays (no allocation, nothing encoded at run time). Each emitted
//! instruction or data statement keeps an [`Entry`] — offset, length, source line and text — so a listing can be
//! printed and a fault at `+0x7` can be mapped back to the line that emitted it.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::sync::Arc;

/// One emitted instruction or data statement: where its bytes are and which source produced them.
///
/// The source text is not copied per statement: [`Code::text`] slices it out of the code's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Byte offset of the first byte within [`Code::bytes`].
    pub offset: u32,
    /// Number of bytes emitted.
    pub len: u32,
    /// 1-based source line.
    pub line: u32,
    /// Byte range of the statement's text within the source.
    pub text: (u32, u32),
}

/// A label defined in the source and the byte offset it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The label's name as written.
    pub name: Cow<'static, str>,
    /// Byte offset within [`Code::bytes`].
    pub offset: u32,
}

/// Assembled machine code: the bytes, the listing (one [`Entry`] per statement) and the labels. A clone shares
/// them (loaded code keeps one) until one side writes its bytes.
///
/// ```
/// let code = jit_core::assemble("mov rax, 3; ret").unwrap();
/// assert_eq!(code.bytes(), [0x48, 0xc7, 0xc0, 0x03, 0x00, 0x00, 0x00, 0xc3]);
/// assert_eq!(code.entries()[1].offset, 7);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    bytes: Part<[u8]>,
    entries: Part<[Entry]>,
    labels: Part<[Label]>,
    source: Part<str>,
    /// For code an [`Emitter`](crate::Emitter) made: its labels' offsets, and what its listing is made from.
    dynamic: Option<Arc<crate::emit::Emitted>>,
}

/// One of [`Code`]'s parts: `static` (what `jit!` emits), or owned and shared by clones, so that cloning code —
/// loading it keeps a clone — copies none of its bytes or listing.
enum Part<T: ?Sized + ToOwned + 'static> {
    Static(&'static T),
    Shared(Arc<T::Owned>),
}

impl<T: ?Sized + ToOwned + 'static> Part<T> {
    fn owned(value: T::Owned) -> Self {
        Part::Shared(Arc::new(value))
    }

    /// The part, mutable: copied first if it is `static` or shared with a clone.
    fn to_mut(&mut self) -> &mut T::Owned
    where
        T::Owned: Clone,
    {
        match self {
            Part::Shared(value) => Arc::make_mut(value),
            Part::Static(value) => {
                let value: &'static T = value;
                *self = Part::owned(value.to_owned());
                self.to_mut()
            }
        }
    }
}

impl<T: ?Sized + ToOwned + 'static> std::ops::Deref for Part<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Part::Static(value) => value,
            Part::Shared(value) => (**value).borrow(),
        }
    }
}

impl<T: ?Sized + ToOwned + 'static> Clone for Part<T> {
    fn clone(&self) -> Self {
        match self {
            Part::Static(value) => Part::Static(value),
            Part::Shared(value) => Part::Shared(Arc::clone(value)),
        }
    }
}

impl<T: ?Sized + ToOwned + PartialEq + 'static> PartialEq for Part<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: ?Sized + ToOwned + Eq + 'static> Eq for Part<T> {}

impl<T: ?Sized + ToOwned + fmt::Debug + 'static> fmt::Debug for Part<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// A runtime label's offset in [`Code`]'s table when the label was never bound.
pub(crate) const UNBOUND: u32 = u32::MAX;

impl Code {
    /// Code from owned parts, as the runtime assembler produces it. `source` is the text the entries' ranges
    /// point into.
    ///
    /// ```
    /// let entry = jit_core::Entry { offset: 0, len: 1, line: 1, text: (0, 3) };
    /// let code = jit_core::Code::new(vec![0xc3], vec![entry], vec![], "ret".into());
    /// assert_eq!(code.text(&code.entries()[0]), "ret");
    /// ```
    pub fn new(bytes: Vec<u8>, entries: Vec<Entry>, labels: Vec<Label>, source: String) -> Self {
        Code {
            bytes: Part::owned(bytes),
            entries: Part::owned(entries),
            labels: Part::owned(labels),
            source: Part::owned(source),
            dynamic: None,
        }
    }

    /// Code an emitter made: its bytes, and its labels and listing.
    pub(crate) fn emitted(bytes: Vec<u8>, emitted: crate::emit::Emitted) -> Self {
        Code {
            dynamic: Some(Arc::new(emitted)),
            ..Code::from_bytes(bytes)
        }
    }

    /// The listing's parts: made on first use for emitted code.
    fn parts(&self) -> (&[Entry], &[Label], &str) {
        match &self.dynamic {
            Some(emitted) => {
                let listed = emitted.listed();
                (&listed.entries, &listed.labels, &listed.source)
            }
            None => (&self.entries, &self.labels, &self.source),
        }
    }

    /// The offset a runtime label of the [`Emitter`](crate::Emitter) that made this code stands for: an entry
    /// point, or data. `None` for a label never bound, or one of another emitter.
    ///
    /// ```
    /// use jit_core::Emitter;
    /// let mut e = Emitter::new();
    /// let second = e.new_label();
    /// e.push_bytes(&[0x90]);
    /// e.bind(second);
    /// e.push_bytes(&[0xc3]);
    /// let code = e.finish().unwrap();
    /// assert_eq!(code.label_offset(second), Some(1));
    /// ```
    pub fn label_offset(&self, label: crate::emit::DynamicLabel) -> Option<usize> {
        let emitted = self.dynamic.as_deref()?;
        let (from, index) = label.parts();
        if from != emitted.emitter {
            return None;
        }
        emitted
            .offsets
            .get(index as usize)
            .filter(|&&o| o != UNBOUND)
            .map(|&o| o as usize)
    }

    /// Raw bytes without a source map (listing lines show no text).
    ///
    /// ```
    /// let code = jit_core::Code::from_bytes(vec![0xc3]);
    /// assert_eq!((code.bytes(), code.entries().len()), (&[0xc3][..], 0));
    /// ```
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Code::new(bytes, Vec::new(), Vec::new(), String::new())
    }

    /// Code from `static` parts, as the `jit!` macro emits it: nothing is allocated or copied.
    ///
    /// ```
    /// static BYTES: [u8; 1] = [0xc3];
    /// static ENTRIES: [jit_core::Entry; 1] = [jit_core::Entry { offset: 0, len: 1, line: 1, text: (0, 3) }];
    /// let code = jit_core::Code::from_static(&BYTES, &ENTRIES, &[], "ret");
    /// assert_eq!(code.bytes(), [0xc3]);
    /// assert_eq!(code.text(&code.entries()[0]), "ret");
    /// ```
    pub const fn from_static(
        bytes: &'static [u8],
        entries: &'static [Entry],
        labels: &'static [Label],
        source: &'static str,
    ) -> Self {
        Code {
            bytes: Part::Static(bytes),
            entries: Part::Static(entries),
            labels: Part::Static(labels),
            source: Part::Static(source),
            dynamic: None,
        }
    }

    /// The source text an entry was assembled from (empty if the range is not in the source).
    pub fn text(&self, entry: &Entry) -> &str {
        self.parts()
            .2
            .get(entry.text.0 as usize..entry.text.1 as usize)
            .unwrap_or("")
    }

    /// The whole source text the entries point into.
    pub fn source(&self) -> &str {
        self.parts().2
    }

    /// The machine code.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, mutable (copied first if they are `static` or shared with a clone): used to patch runtime values
    /// into `jit!` code.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.bytes.to_mut()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when no byte was emitted.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// One entry per emitted instruction or data statement, in offset order.
    pub fn entries(&self) -> &[Entry] {
        self.parts().0
    }

    /// The labels, in definition order.
    pub fn labels(&self) -> &[Label] {
        self.parts().1
    }

    /// The offset a label stands for.
    ///
    /// ```
    /// let code = jit_core::assemble("nop\nend: ret").unwrap();
    /// assert_eq!(code.label("end"), Some(1));
    /// ```
    pub fn label(&self, name: &str) -> Option<u32> {
        self.labels().iter().find(|l| l.name == name).map(|l| l.offset)
    }

    /// The entry whose bytes contain `offset`, for mapping a fault address back to its source line.
    ///
    /// ```
    /// let code = jit_core::assemble("mov rax, 3\nret").unwrap();
    /// assert_eq!(code.entry_at(8), None);
    /// assert_eq!(code.text(code.entry_at(7).unwrap()), "ret");
    /// assert_eq!(code.entry_at(2).unwrap().line, 1);
    /// ```
    pub fn entry_at(&self, offset: u32) -> Option<&Entry> {
        let entries = self.entries();
        let i = entries.partition_point(|e| e.offset + e.len <= offset);
        entries
            .get(i)
            .filter(|e| e.offset <= offset && offset < e.offset + e.len)
    }

    /// A printable listing: one line per entry with offset, bytes and source, like `objdump -d`.
    ///
    /// ```
    /// let code = jit_core::assemble("mov rax, 3\nend: ret").unwrap();
    /// assert_eq!(
    ///     code.listing().to_string(),
    ///     "   0:  48 c7 c0 03 00 00 00    mov rax, 3\n   7:                          end:\n   7:  c3                      ret\n"
    /// );
    /// ```
    pub fn listing(&self) -> Listing<'_> {
        Listing(self)
    }
}

/// [`Code::listing`]'s display form: one line per instruction or data statement (offset, bytes, source), and a
/// line per label, like `objdump -d` without wrapping.
pub struct Listing<'a>(&'a Code);

/// The byte column is at least this many bytes wide, as in objdump; longer instructions widen it.
const LISTING_MIN_BYTES: usize = 7;

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.0;
        let widest = code.entries().iter().map(|e| e.len as usize).max().unwrap_or(0);
        let width = widest.max(LISTING_MIN_BYTES) * 3 + 3;
        let mut labels = code.labels().iter().peekable();
        for e in code.entries() {
            while let Some(l) = labels.next_if(|l| l.offset <= e.offset) {
                writeln!(f, "{:>4x}:  {:width$}{}:", l.offset, "", l.name)?;
            }
            let start = e.offset as usize;
            let bytes = code.bytes().get(start..start + e.len as usize).unwrap_or(&[]);
            writeln!(f, "{:>4x}:  {:<width$}{}", e.offset, Hex::new(bytes, " "), code.text(e))?;
        }
        for l in labels {
            writeln!(f, "{:>4x}:  {:width$}{}:", l.offset, "", l.name)?;
        }
        Ok(())
    }
}

/// Bytes as lowercase hex, two digits a byte and `separator` between two bytes: the one hex formatter of the
/// crate and of rustyjit (listings, vector reports, `rustyjit asm --format hex|json`).
///
/// A [`Display`](fmt::Display) value, so it goes into a `String` (`to_string`, `format!`) or straight to a
/// `fmt::Write` or `io::Write` (`write!`) without a copy of the text: long input is formatted and written a piece at
/// a time, from a table of digit pairs. Width, fill and alignment apply to the whole text, as for a `str`.
///
/// ```
/// use jit_core::Hex;
///
/// let bytes = [0x48, 0xc7, 0xc0, 0x0a];
/// assert_eq!(Hex::new(&bytes, " ").to_string(), "48 c7 c0 0a");
/// assert_eq!(Hex::new(&bytes, "").to_string(), "48c7c00a");
/// assert_eq!(format!("[{:<14}]", Hex::new(&bytes[..2], ", ")), "[48, c7        ]");
/// assert_eq!(Hex::new(&[], " ").to_string(), "");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Hex<'a> {
    bytes: &'a [u8],
    separator: &'a str,
}

impl<'a> Hex<'a> {
    /// `bytes` in hex with `separator` between two bytes (`" "` for `48 c7 c0`, `""` for `48c7c0`).
    pub const fn new(bytes: &'a [u8], separator: &'a str) -> Self {
        Hex { bytes, separator }
    }

    /// Bytes formatted and written at a time (32 KiB: 64 KiB of text without separators).
    const PIECE: usize = 32 * 1024;

    /// The two digits of every byte.
    const DIGITS: [[u8; 2]; 256] = {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut table = [[0; 2]; 256];
        let mut b = 0;
        while b < 256 {
            table[b] = [HEX[b >> 4], HEX[b & 15]];
            b += 1;
        }
        table
    };

    /// The text made: ASCII digits and whole separators, so always UTF-8.
    fn str(text: &[u8]) -> Result<&str, fmt::Error> {
        std::str::from_utf8(text).map_err(|_| fmt::Error)
    }

    /// Appends `bytes` in hex to `text`, separators between them (none before the first).
    fn append(&self, text: &mut Vec<u8>, bytes: &[u8]) {
        match self.separator.as_bytes() {
            // Megabytes of code for `asm --format hex`: sized first, each byte's digits written in their place.
            [] => {
                let start = text.len();
                text.resize(start + 2 * bytes.len(), 0);
                for (digits, &b) in text[start..].chunks_exact_mut(2).zip(bytes) {
                    digits.copy_from_slice(&Self::DIGITS[usize::from(b)]);
                }
            }
            sep => {
                for (i, &b) in bytes.iter().enumerate() {
                    if i > 0 {
                        text.extend_from_slice(sep);
                    }
                    text.extend_from_slice(&Self::DIGITS[usize::from(b)]);
                }
            }
        }
    }
}

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_byte = 2 + self.separator.len();
        if f.width().is_some() || f.precision().is_some() {
            // Padding needs the whole text.
            let mut text = Vec::with_capacity(self.bytes.len() * per_byte);
            self.append(&mut text, self.bytes);
            return f.pad(Self::str(&text)?);
        }
        let mut text = Vec::with_capacity(self.bytes.len().min(Self::PIECE) * per_byte);
        for (i, piece) in self.bytes.chunks(Self::PIECE).enumerate() {
            text.clear();
            if i > 0 {
                text.extend_from_slice(self.separator.as_bytes());
            }
            self.append(&mut text, piece);
            f.write_str(Self::str(&text)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Hex;

    /// Every byte value, in every path (pieces of 32 KiB, separators between pieces, padding), as `{:02x}` and a
    /// separator between two bytes would write it.
    #[test]
    fn hex_is_two_digits_a_byte_with_separators_between() {
        let bytes: Vec<u8> = (0..Hex::PIECE * 2 + 300).map(|i| (i * 7 % 256) as u8).collect();
        for separator in ["", " ", ", ", "é"] {
            let want: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let want = want.join(separator);
            assert_eq!(Hex::new(&bytes, separator).to_string(), want);
            assert_eq!(format!("{:>1}", Hex::new(&bytes, separator)), want);
            let short = &bytes[..3];
            assert_eq!(
                format!("{:-^12}", Hex::new(short, separator)),
                format!(
                    "{:-^12}",
                    short
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(separator)
                )
            );
        }
        assert_eq!(Hex::new(&[], "").to_string(), "");
        assert_eq!(format!("{:3}|", Hex::new(&[], " ")), "   |");
    }
}

#[cfg(test)]
mod sharing {
    use super::{Code, Entry};

    #[test]
    fn a_clone_shares_the_bytes_and_listing_until_one_side_writes() {
        let entry = Entry {
            offset: 0,
            len: 1,
            line: 1,
            text: (0, 3),
        };
        let code = Code::new(vec![0xc3], vec![entry], vec![], "ret".into());
        let mut clone = code.clone();
        assert_eq!(clone.bytes().as_ptr(), code.bytes().as_ptr());
        assert_eq!(clone.entries().as_ptr(), code.entries().as_ptr());
        assert_eq!(clone.source().as_ptr(), code.source().as_ptr());
        // Writing copies first: the other side keeps its bytes.
        clone.bytes_mut()[0] = 0x90;
        assert_eq!((code.bytes(), clone.bytes()), (&[0xc3][..], &[0x90][..]));
        assert_ne!(clone, code);
        // Static code is copied on its first write only.
        static BYTES: [u8; 2] = [0x90, 0xc3];
        let mut fixed = Code::from_static(&BYTES, &[], &[], "");
        fixed.bytes_mut()[0] = 0xcc;
        fixed.bytes_mut()[1] = 0xcc;
        assert_eq!((fixed.bytes(), &BYTES), (&[0xcc, 0xcc][..], &[0x90, 0xc3]));
    }
}
