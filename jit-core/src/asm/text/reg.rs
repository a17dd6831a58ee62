//! Registers: the general-purpose registers of every width, `xmm0..xmm15` and `rip`.
//!
//! A [`Reg`] is its class (which fixes the width) and its 4-bit number as the encoder writes it: the low three bits
//! go into ModRM/SIB/opcode, the fourth into REX. The legacy high-byte registers `ah ch dh bh` have their own class
//! because they share numbers 4–7 with `spl bpl sil dil`, which exist only with a REX prefix.

use std::fmt;

/// What kind of register, which also fixes its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegClass {
    /// `al cl dl bl spl bpl sil dil r8b..r15b`.
    Byte,
    /// `ah ch dh bh`: only encodable without a REX prefix.
    HighByte,
    /// `ax..r15w`.
    Word,
    /// `eax..r15d`.
    Dword,
    /// `rax..r15`.
    Qword,
    /// `xmm0..xmm15`.
    Xmm,
    /// `rip`, only as the base of a memory operand.
    Rip,
}

/// A register.
///
/// ```
/// use jit_core::asm::{Reg, RegClass};
/// let r = Reg::from_name("R12D").unwrap();
/// assert_eq!((r.class(), r.num()), (RegClass::Dword, 12));
/// assert_eq!(r.to_string(), "r12d");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg {
    class: RegClass,
    num: u8,
}

const QWORD: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
];
const DWORD: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d",
    "r15d",
];
const WORD: [&str; 16] = [
    "ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w",
];
const BYTE: [&str; 16] = [
    "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b",
];
const HIGH_BYTE: [&str; 4] = ["ah", "ch", "dh", "bh"];
const XMM: [&str; 16] = [
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
    "xmm14", "xmm15",
];

/// Every register name (and `rip`) as a [`name_key`], with its register: the registers of the name table
/// (`words.rs`).
pub(crate) const REGS_BY_KEY: [(u64, Reg); 85] = {
    const fn put(table: &mut [(u64, Reg); 85], at: &mut usize, names: &[&str], class: RegClass) {
        let mut i = 0;
        while i < names.len() {
            let num = if matches!(class, RegClass::HighByte) { i + 4 } else { i };
            table[*at] = (name_key_const(names[i].as_bytes()), Reg { class, num: num as u8 });
            *at += 1;
            i += 1;
        }
    }
    let mut table = [(0, Reg::RIP); 85];
    let mut at = 0;
    put(&mut table, &mut at, &QWORD, RegClass::Qword);
    put(&mut table, &mut at, &DWORD, RegClass::Dword);
    put(&mut table, &mut at, &WORD, RegClass::Word);
    put(&mut table, &mut at, &BYTE, RegClass::Byte);
    put(&mut table, &mut at, &HIGH_BYTE, RegClass::HighByte);
    put(&mut table, &mut at, &XMM, RegClass::Xmm);
    put(&mut table, &mut at, &["rip"], RegClass::Rip);
    assert!(at == table.len());
    table
};

/// A name of one to seven bytes as one integer, ASCII letters lowercased: the bytes, then the length in the low
/// byte. `None` for longer or empty names.
///
/// Computed without a loop over the bytes: two loads that may overlap and a lowercasing of all eight bytes at
/// once. A `const fn`, so the tables built at compile time use the same key as the lookups.
pub(crate) const fn name_key(name: &[u8]) -> Option<u64> {
    let n = name.len();
    let packed = match *name {
        [a] => (a as u64) << 56,
        [a, b] | [a, b, _] => (u16::from_be_bytes([a, b]) as u64) << 48 | (name[n - 1] as u64) << (64 - 8 * n),
        [a, b, c, d, ..] if n <= 7 => {
            let [w, x, y, z] = [name[n - 4], name[n - 3], name[n - 2], name[n - 1]];
            (u32::from_be_bytes([a, b, c, d]) as u64) << 32 | (u32::from_be_bytes([w, x, y, z]) as u64) << (64 - 8 * n)
        }
        _ => return None,
    };
    Some(ascii_lowercase_bytes(packed) | n as u64)
}

/// The identifier at the start of sixteen bytes: its length, and its [`name_key`] when it is one to seven bytes
/// long, else 0; `None` where this cannot tell at once (an identifier with one of `_ . $ @` in it, or sixteen
/// bytes long or more), which the caller then reads byte by byte.
///
/// The lexer reads names this way: on x86-64 the sixteen bytes are classified at once with SSE2
/// (part of every x86-64 processor) as letters and digits; the byte after them must not go on with the name.
/// Letters and digits are lowercased by setting one bit (`0x20`, which digits have), without a loop or a branch.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn leading_name(bytes: &[u8; 16]) -> Option<(usize, u64)> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_setzero_si128,
        _mm_sub_epi8, _mm_subs_epu8,
    };
    // SAFETY: SSE2 is part of x86-64 (rustc enables it for every x86-64 target), so its instructions can run
    // here; the one load reads sixteen bytes, unaligned, from a reference to sixteen bytes.
    let alnum = unsafe {
        let v = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
        let splat = |c: u8| _mm_set1_epi8(c as i8);
        // Per byte, all ones where `x` is in `from..from + len` (less `from`, it is below `len` unsigned).
        let within = |x: __m128i, from: u8, len: u8| {
            let above = _mm_subs_epu8(_mm_sub_epi8(x, splat(from)), splat(len - 1));
            _mm_cmpeq_epi8(above, _mm_setzero_si128())
        };
        // A letter of either case, with 0x20 set, is a small letter; nothing else becomes one.
        let letters = within(_mm_or_si128(v, splat(0x20)), b'a', 26);
        _mm_movemask_epi8(_mm_or_si128(letters, within(v, b'0', 10)))
    };
    let n = (!alnum).trailing_zeros() as usize;
    if bytes.get(n).is_none_or(|&c| super::lex::IDENT[usize::from(c)]) {
        return None;
    }
    let first = u64::from_le_bytes(*bytes.first_chunk::<8>()?) | 0x2020_2020_2020_2020;
    let name = first & u64::MAX.checked_shr(64 - 8 * n.min(7) as u32).unwrap_or(0);
    Some((n, (name.swap_bytes() | n as u64) * u64::from(n <= 7)))
}

/// [`leading_name`] byte by byte, where SSE2 is not there to do it at once: it can always tell.
#[cfg(any(test, not(target_arch = "x86_64")))]
pub(crate) fn leading_name_bytes(bytes: &[u8; 16]) -> Option<(usize, u64)> {
    let n = bytes.iter().take_while(|&&c| super::lex::IDENT[usize::from(c)]).count();
    (n < 16).then(|| (n, name_key(&bytes[..n]).unwrap_or(0)))
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use leading_name_bytes as leading_name;

/// [`name_key`] of a name known to be one to seven bytes long (for tables built at compile time).
pub(crate) const fn name_key_const(name: &[u8]) -> u64 {
    match name_key(name) {
        Some(key) => key,
        None => panic!("a table name must be one to seven bytes long"),
    }
}

/// Lowercases the ASCII capitals among the eight bytes of `x`, leaving every other byte as it is.
const fn ascii_lowercase_bytes(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x80 * ONES;
    let low7 = x & !HIGH;
    // Per byte, the high bit of `from_a` says low7 >= b'A' and that of `past_z` says low7 > b'Z'; no carries
    // cross bytes, as every sum stays below 0x100.
    let from_a = low7 + (0x80 - b'A' as u64) * ONES;
    let past_z = low7 + (0x80 - b'Z' as u64 - 1) * ONES;
    let upper = from_a & !past_z & !x & HIGH;
    x | upper >> 2
}

impl Reg {
    /// `rax`.
    pub const RAX: Reg = Reg::new(RegClass::Qword, 0);
    /// `rsp`.
    pub const RSP: Reg = Reg::new(RegClass::Qword, 4);
    /// `rip`.
    pub const RIP: Reg = Reg::new(RegClass::Rip, 0);

    /// A register from class and number. Numbers are taken modulo 16 (modulo 4 for high bytes, which are
    /// numbered 4..=7 as the encoder writes them).
    pub const fn new(class: RegClass, num: u8) -> Reg {
        let num = match class {
            RegClass::HighByte => 4 + num % 4,
            RegClass::Rip => 0,
            _ => num % 16,
        };
        Reg { class, num }
    }

    /// Looks a register up by name, ignoring ASCII case.
    ///
    /// ```
    /// use jit_core::asm::Reg;
    /// assert_eq!(Reg::from_name("sil").unwrap().num(), 6);
    /// assert!(Reg::from_name("eip").is_none());
    /// ```
    pub fn from_name(name: &str) -> Option<Reg> {
        match super::words::word(name.as_bytes()) {
            super::words::Word::Reg(reg) => Some(reg),
            _ => None,
        }
    }

    /// The register's class.
    pub const fn class(self) -> RegClass {
        self.class
    }

    /// The 4-bit number the encoder writes (4..=7 for `ah ch dh bh`).
    pub const fn num(self) -> u8 {
        self.num
    }

    /// The low three bits, for ModRM, SIB or the opcode.
    pub const fn low3(self) -> u8 {
        self.num & 7
    }

    /// The fourth bit, for REX.R, REX.X or REX.B.
    pub const fn high_bit(self) -> bool {
        self.num & 8 != 0
    }

    /// Width in bits (128 for xmm, 64 for rip).
    pub const fn bits(self) -> u16 {
        match self.class {
            RegClass::Byte | RegClass::HighByte => 8,
            RegClass::Word => 16,
            RegClass::Dword => 32,
            RegClass::Qword | RegClass::Rip => 64,
            RegClass::Xmm => 128,
        }
    }

    /// True for `spl bpl sil dil`, which exist only with a REX prefix.
    pub const fn needs_rex(self) -> bool {
        matches!(self.class, RegClass::Byte) && self.num >= 4 && self.num < 8
    }

    /// True for `ah ch dh bh`, which cannot be encoded with a REX prefix.
    pub const fn is_high_byte(self) -> bool {
        matches!(self.class, RegClass::HighByte)
    }

    /// True for the general-purpose registers (not xmm, not rip).
    pub const fn is_gpr(self) -> bool {
        !matches!(self.class, RegClass::Xmm | RegClass::Rip)
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.num as usize;
        f.write_str(match self.class {
            RegClass::Byte => BYTE[n],
            RegClass::HighByte => HIGH_BYTE[n - 4],
            RegClass::Word => WORD[n],
            RegClass::Dword => DWORD[n],
            RegClass::Qword => QWORD[n],
            RegClass::Xmm => XMM[n],
            RegClass::Rip => "rip",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for names in [&QWORD[..], &DWORD, &WORD, &BYTE, &HIGH_BYTE, &XMM] {
            for name in names {
                let r = Reg::from_name(name).unwrap();
                assert_eq!(r.to_string(), *name);
                assert_eq!(Reg::from_name(&name.to_uppercase()), Some(r));
            }
        }
    }

    /// The key as a byte loop computes it: what [`name_key`] must equal.
    fn reference_key(name: &[u8]) -> u64 {
        let mut key = 0u64;
        for &b in name {
            key = key << 8 | u64::from(b.to_ascii_lowercase());
        }
        key << (8 * (8 - name.len())) | name.len() as u64
    }

    #[test]
    fn name_key_is_the_bytes_lowercased_then_the_length() {
        let names = [
            "a", "Z", "ab", "aBc", "@_.$", "R15D", "xmmword", "XMMWORD", "ä", "aä", "[\\]^`{", "zZ@",
        ];
        for name in names {
            assert_eq!(
                name_key(name.as_bytes()),
                Some(reference_key(name.as_bytes())),
                "{name}"
            );
        }
        for b in 0..=255u8 {
            for len in 1..=7 {
                let name = vec![b; len];
                assert_eq!(name_key(&name), Some(reference_key(&name)), "{b} x {len}");
            }
        }
        assert_eq!((name_key(b""), name_key(b"12345678")), (None, None));
    }

    #[test]
    fn a_name_read_from_sixteen_bytes_is_the_lexers_with_its_key() {
        // Every byte in every position after a name, and random bytes.
        let mut chunks: Vec<[u8; 16]> = Vec::new();
        for name in [
            "a", "al", "RAX", "r8d", "xmm15", "qword", "cmovne", "Push", "@x.y_$1", "abcdefgh", "ab_cd",
        ] {
            let mut bytes = [b' '; 16];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            for at in 0..16 {
                for c in 0..=255u8 {
                    let mut w = bytes;
                    w[at] = c;
                    chunks.push(w);
                }
            }
        }
        let mut x = 0x243f_6a88_85a3_08d3u64;
        for _ in 0..100_000 {
            // Mostly identifier bytes, so names of every length come up.
            let pool = b"aZ09_.$@`[{/:;, \n\x80\xffmMqQxX7";
            chunks.push(std::array::from_fn(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                pool[(x >> 40) as usize % pool.len()]
            }));
        }
        let mut told = 0;
        for bytes in chunks {
            let n = bytes
                .iter()
                .take_while(|&&c| crate::asm::text::lex::IDENT[usize::from(c)])
                .count();
            let key = name_key(&bytes[..n]).unwrap_or(0);
            let whole = (n < 16).then_some((n, key));
            assert_eq!(leading_name_bytes(&bytes), whole, "{bytes:?}");
            // At once, or left to the caller when the name has a byte other than letters and digits, or is long.
            match leading_name(&bytes) {
                Some(read) => {
                    assert_eq!(Some(read), whole, "{bytes:?}");
                    told += 1;
                }
                None => assert!(
                    n == 16 || !bytes[..n].iter().all(u8::is_ascii_alphanumeric),
                    "{bytes:?}"
                ),
            }
        }
        assert!(told > 100_000, "only {told} read at once");
    }

    #[test]
    fn numbers_and_rex_needs() {
        let r = |n| Reg::from_name(n).unwrap();
        assert_eq!((r("ah").num(), r("bh").num()), (4, 7));
        assert!(r("dil").needs_rex() && !r("bl").needs_rex() && !r("r8b").needs_rex());
        assert!(r("r9").high_bit() && !r("rdi").high_bit());
        assert_eq!(r("r13").low3(), 5);
        assert_eq!(r("xmm15").num(), 15);
        assert_eq!(Reg::from_name("xmm16"), None);
        assert_eq!(Reg::from_name(""), None);
        assert_eq!(Reg::from_name("ä"), None);
    }
}
