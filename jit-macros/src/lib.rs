//! # jit-macros
//!
//! The procedural half of `rustyjit::jit!`: x86-64 assembly written as Rust tokens, encoded while the crate
//! compiles. Use it through `rustyjit::jit!`, which passes its own crate path first so the expansion names
//! `rustyjit`'s types even when a user renames the dependency.
//!
//! How it works ("one encoder, two front ends"): the `source` module writes the tokens out as assembly text in the
//! grammar of `jit-core`'s runtime parser and keeps a map from text ranges back to the tokens; `jit-core`'s
//! `assemble_with_holes` parses, matches and encodes it; the `expand` module turns the result into a `Code` over
//! `static` data, or each error into a `compile_error!` on the tokens it is about.

mod expand;
mod fragment;
mod source;

use source::{Loc, Locate, SourceFile};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

/// `jit!`'s implementation: `$crate; assembly...` in, a `Code` expression out. Write `rustyjit::jit!` instead.
#[doc(hidden)]
#[proc_macro]
pub fn jit_impl(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand(input.into(), &Compiler)
        .unwrap_or_else(expand::compile_errors)
        .into()
}

/// Token positions from the compiler (`proc_macro::Span::{start, end, line, column, file, local_file}`, stable
/// since Rust 1.88, the workspace's minimum version).
struct Compiler;

impl Locate for Compiler {
    fn loc(&self, span: proc_macro2::Span) -> Option<Loc> {
        if !proc_macro::is_available() {
            return None;
        }
        let span = span.unwrap();
        let (start, end) = (span.start(), span.end());
        Some(Loc {
            line: start.line(),
            col: start.column(),
            end_line: end.line(),
            end_col: end.column(),
        })
    }

    fn file(&self, span: proc_macro2::Span) -> Option<String> {
        proc_macro::is_available().then(|| span.unwrap().file())
    }

    fn source_file(&self, span: proc_macro2::Span) -> Option<Rc<SourceFile>> {
        if !proc_macro::is_available() {
            return None;
        }
        let path = span.unwrap().local_file()?;
        let stamp = std::fs::metadata(&path).ok().map(|m| (m.len(), m.modified().ok()));
        // One compilation expands many blocks of one file: read and index it once (while it is unchanged).
        FILE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some((p, s, file)) = cache.as_ref()
                && *p == path
                && *s == stamp
            {
                return Some(Rc::clone(file));
            }
            let text = std::fs::read_to_string(&path).ok()?;
            // rustc counts columns after a byte-order mark.
            let text = match text.strip_prefix('\u{feff}') {
                Some(rest) => rest.to_string(),
                None => text,
            };
            let file = Rc::new(SourceFile::new(text));
            *cache = Some((path, stamp, Rc::clone(&file)));
            Some(file)
        })
    }
}

type FileStamp = Option<(u64, Option<std::time::SystemTime>)>;

thread_local! {
    /// The last source file read, with its size and modification time when read.
    static FILE: RefCell<Option<(PathBuf, FileStamp, Rc<SourceFile>)>> = const { RefCell::new(None) };
}
