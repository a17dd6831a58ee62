//! [`Dump`]: memory shown the way a debugger's `memory read` shows it — an address (or offset), sixteen bytes in
//! hex, and the same bytes as ASCII:
//!
//! ```text
//! 0x7f1234567000: 48 c7 c0 03 00 00 00 c3 c3 c3 c3 c3 c3 c3 c3 c3  H...............
//! 0x7f1234567010: c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3  ................
//! *
//! 0x7f1234567ff0: c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3  ................
//! ```

use std::fmt;

/// Bytes as hex-dump lines: `address: 16 hex bytes  ASCII`, non-printable bytes shown as `.`. As `hexdump -C`
/// does, a run of lines equal to the line before is shown as one `*` line; the last line is always shown, so the
/// end is visible. Addresses (or `+`offsets) are hex, zero-padded to one width, at least four digits.
///
/// Made by [`JitMemory::dump`](super::JitMemory::dump), [`JitFn::dump`](super::JitFn::dump) and their
/// `dump_offsets` twins; printed with `{}`.
///
/// ```
/// let f = jit_core::Code::from_bytes(b"Hi!\x00".to_vec()).load()?;
/// assert_eq!(
///     f.dump_offsets().to_string(),
///     "+0x0000: 48 69 21 00 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3  Hi!.............\n",
/// );
/// # Ok::<(), jit_core::MemError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Dump<'a> {
    bytes: &'a [u8],
    /// The address of the first byte, or `None` to show offsets.
    base: Option<usize>,
}

impl<'a> Dump<'a> {
    /// Bytes shown on one line.
    pub(super) const BYTES_PER_LINE: usize = 16;

    pub(super) fn new(bytes: &'a [u8], base: Option<usize>) -> Self {
        Dump { bytes, base }
    }
}

impl fmt::Display for Dump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self.bytes.chunks(Self::BYTES_PER_LINE);
        let last = lines.len().saturating_sub(1);
        let label = |line: usize| {
            let offset = line * Self::BYTES_PER_LINE;
            self.base.map_or(offset, |base| base.wrapping_add(offset))
        };
        let width = format!("{:x}", label(last)).len().max(4);
        let sign = if self.base.is_some() { "" } else { "+" };
        let mut previous = None;
        let mut starred = false;
        for (i, line) in lines.enumerate() {
            if previous == Some(line) && i != last {
                if !starred {
                    writeln!(f, "*")?;
                    starred = true;
                }
                continue;
            }
            previous = Some(line);
            starred = false;
            write!(f, "{sign}0x{:0width$x}:", label(i))?;
            write!(f, " {}", crate::Hex::new(line, " "))?;
            let pad = 3 * (Self::BYTES_PER_LINE - line.len());
            write!(f, "{:pad$}  ", "")?;
            for &byte in line {
                let shown = if byte.is_ascii_graphic() || byte == b' ' {
                    char::from(byte)
                } else {
                    '.'
                };
                write!(f, "{shown}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
