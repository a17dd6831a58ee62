//! jit-macros
