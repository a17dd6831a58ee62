//! The assembler's speed machinery, which a reader can skip: nothing here decides what text means or which bytes it
//! gets. The [`memo`] keeps, for each shape of instruction, the encoder's bytes as a template to patch, so the next
//! instruction of that shape is neither matched nor encoded again; [`parallel`] cuts a long text into pieces that
//! threads assemble. Both are switched off by [`Settings`](super::Settings), and tests check that the bytes,
//! listing and errors are the same without them.

pub(crate) mod memo;
pub(crate) mod parallel;
