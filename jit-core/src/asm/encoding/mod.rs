//! Forms to bytes: the encoder ([`encode`]: REX, ModRM, SIB, displacement and immediate, every addressing special
//! case in one place, reporting where each field went), the emitter's templates made from it ([`lower`]), and the
//! layout of jumps ([`layout`]) that the text assembler and the emitter share.
//!
//! Owns every encoding rule. It takes a chosen form and its operands; it neither reads text nor chooses forms.

pub mod encode;
pub mod layout;
pub mod lower;
