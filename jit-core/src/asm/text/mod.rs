//! Text → statements: the lexer's readers, the one grammar ([`parse`]), and what it makes ([`syntax`]: statements,
//! operands, spans), with the names it knows ([`reg`], [`words`]).
//!
//! Owns how text is read and every syntax error. It knows nothing of instruction forms or encodings: a statement
//! that parses may still fit no form, which [`forms`](super::forms) reports.

pub(crate) mod lex;
pub(crate) mod parse;
pub(crate) mod reg;
pub(crate) mod syntax;
pub(crate) mod words;
