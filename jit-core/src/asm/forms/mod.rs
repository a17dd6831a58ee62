//! The instruction table and the matcher: the forms the assembler knows, written as the Intel manual writes them
//! ([`table`]), and which form an instruction's operands fit ([`select`]).
//!
//! Owns which instructions exist and the errors of an instruction that fits none. It reads statements and asks
//! [`encoding`](super::encoding) for bytes; it does not read text.

pub(crate) mod keymap;
pub mod select;
pub mod table;
