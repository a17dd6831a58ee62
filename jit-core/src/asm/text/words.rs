//! The names the assembler knows besides mnemonics — registers, size keywords, `ptr`, `ds`, data directives,
//! prefixes — in
//! one table built at compile time: [`word`] classifies an identifier with one key, one multiply and one compare.
//! The parser, [`Reg::from_name`] and [`Size::from_keyword`] all look names up here.

use super::reg::{REGS_BY_KEY, Reg, name_key, name_key_const as key};
use super::syntax::{DataWidth, Prefix, Size};

/// What an identifier means. One lookup answers every question the grammar asks of a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Word {
    /// A register.
    Reg(Reg),
    /// A size keyword (`qword`, ...).
    Size(Size),
    /// `ptr`.
    Ptr,
    /// `ds`, the one segment prefix accepted.
    Ds,
    /// A data directive (`db`, `.byte`, ...).
    Data(DataWidth),
    /// A prefix written before an instruction (`lock`, `rep`, ...).
    Prefix(Prefix),
    /// Anything else: a mnemonic or a label.
    Other,
}

/// Looks a name up, ignoring ASCII case: its key, one multiply for its slot, and one compare.
pub(crate) fn word(text: &[u8]) -> Word {
    name_key(text).map_or(Word::Other, word_of_key)
}

/// [`word`] for a name's [`name_key`]: one load of the slot the key hashes to.
#[inline(always)]
pub(crate) fn word_of_key(k: u64) -> Word {
    match WORD_SLOTS[word_slot(k)] {
        (key, word) if key == k => word,
        _ => Word::Other,
    }
}

/// The keywords, then the registers, each with its [`name_key`] (`oword` is NASM's name for `xmmword`), after a
/// first entry that matches no name (keys are never 0).
const WORD_LIST: [(u64, Word); 108] = {
    const KEYWORDS: [(u64, Word); 23] = [
        (0, Word::Other),
        (key(b"qword"), Word::Size(Size::Qword)),
        (key(b"dword"), Word::Size(Size::Dword)),
        (key(b"byte"), Word::Size(Size::Byte)),
        (key(b"word"), Word::Size(Size::Word)),
        (key(b"xmmword"), Word::Size(Size::Xmmword)),
        (key(b"oword"), Word::Size(Size::Xmmword)),
        (key(b"ptr"), Word::Ptr),
        (key(b"ds"), Word::Ds),
        (key(b"db"), Word::Data(DataWidth::Byte)),
        (key(b".byte"), Word::Data(DataWidth::Byte)),
        (key(b"dw"), Word::Data(DataWidth::Word)),
        (key(b".word"), Word::Data(DataWidth::Word)),
        (key(b"dd"), Word::Data(DataWidth::Dword)),
        (key(b".long"), Word::Data(DataWidth::Dword)),
        (key(b"dq"), Word::Data(DataWidth::Qword)),
        (key(b".quad"), Word::Data(DataWidth::Qword)),
        (key(b"lock"), Word::Prefix(Prefix::Lock)),
        (key(b"rep"), Word::Prefix(Prefix::Rep)),
        (key(b"repe"), Word::Prefix(Prefix::Repe)),
        (key(b"repz"), Word::Prefix(Prefix::Repe)),
        (key(b"repne"), Word::Prefix(Prefix::Repne)),
        (key(b"repnz"), Word::Prefix(Prefix::Repne)),
    ];
    let mut list = [(0, Word::Other); 108];
    let mut i = 0;
    while i < KEYWORDS.len() {
        list[i] = KEYWORDS[i];
        i += 1;
    }
    while i < list.len() {
        let (k, reg) = REGS_BY_KEY[i - KEYWORDS.len()];
        list[i] = (k, Word::Reg(reg));
        i += 1;
    }
    list
};

/// Multiplier and width of the hash that gives each name of [`WORD_LIST`] a slot of its own (found by search;
/// building [`WORD_SLOTS`] checks it, so a name added later that collides stops the build).
const WORD_MUL: u64 = 0x3961_f34f_2adf_ee59;
const WORD_BITS: u32 = 9;

const fn word_slot(key: u64) -> usize {
    (key.wrapping_mul(WORD_MUL) >> (64 - WORD_BITS)) as usize
}

/// Each name of [`WORD_LIST`] in the slot its key hashes to, with its key; the other slots hold key 0, which no
/// name has. 8 KiB: a lookup is one load, where an index into the list would be two in a row.
static WORD_SLOTS: [(u64, Word); 1 << WORD_BITS] = {
    let mut slots = [(0, Word::Other); 1 << WORD_BITS];
    let mut i = 1;
    while i < WORD_LIST.len() {
        let slot = word_slot(WORD_LIST[i].0);
        assert!(
            slots[slot].0 == 0,
            "two names share a slot of WORD_SLOTS: search for another WORD_MUL"
        );
        slots[slot] = WORD_LIST[i];
        i += 1;
    }
    slots
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_found_in_any_case() {
        for (k, w) in &WORD_LIST[1..] {
            // The key's bytes are the name, lowercased; its low byte the length.
            let name: Vec<u8> = k.to_be_bytes()[..(k & 0xff) as usize].to_vec();
            assert_eq!(word(&name), *w, "{}", String::from_utf8_lossy(&name));
            assert_eq!(word(&name.to_ascii_uppercase()), *w);
        }
        assert_eq!(word(b"RAX"), Word::Reg(Reg::RAX));
        for other in ["", "mov", "rax_", "xmm16", "qwordx", "eip", "\u{e4}", "byte.."] {
            assert_eq!(word(other.as_bytes()), Word::Other, "{other}");
        }
    }
}
