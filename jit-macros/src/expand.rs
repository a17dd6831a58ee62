//! The expansion: assembled code as `static` data, runtime values patched in, and errors mapped back to tokens.
//!
//! A block without runtime values becomes a `Code` over a byte-string literal and two `static` arrays (listing
//! entries and labels): nothing is encoded or allocated at run time. Each `{expr}` adds
//! `let value: iN = {expr};` (N from the immediate's width, so a wrong type is rustc's error at the expression)
//! and copies `value.to_le_bytes()` into the code's bytes.

use crate::source::{Lines, Locate, Piece, Source};
use jit_core::asm::lower::HoleUse;
use jit_core::asm::{AsmError, Assembly, ErrorKind, RegKind, assemble_with_holes};
use proc_macro2::{Ident, Literal, Span, TokenStream, TokenTree};
use quote::quote;

/// Expands `CRATE_PATH; assembly tokens...` (the `jit!` wrapper puts `$crate;` first).
pub(crate) fn expand(input: TokenStream, locate: &dyn Locate) -> syn::Result<TokenStream> {
    let (krate, body) = split_crate_path(input)?;
    if let Some((emitter, body)) = split_emitter(&body) {
        return crate::fragment::expand(&krate, emitter, body, locate);
    }
    let placeholder = |source: &Source| placeholder(&krate, source);
    assembled(
        body,
        locate,
        Unit::Block {
            placeholder: &placeholder,
        },
        assemble_with_holes,
        |source, assembly| emit(&krate, source, &assembly),
    )
}

/// What `jit!` is expanding.
pub(crate) enum Unit<'p> {
    /// A fixed block, and the value an IDE gets for a block that fails only because it cannot see line breaks.
    Block {
        placeholder: &'p dyn Fn(&Source) -> TokenStream,
    },
    /// A fragment for an emitter.
    Fragment,
}

/// Writes `body` out as text (`source`) and hands the text to `assemble`; what it makes goes to `emit`, and every
/// error — the tokens' own and the assembler's, each on its tokens — to one `syn::Error`, in source order.
pub(crate) fn assembled<T>(
    body: TokenStream,
    locate: &dyn Locate,
    unit: Unit,
    assemble: impl FnOnce(&str) -> Result<T, jit_core::AsmErrors>,
    emit: impl FnOnce(&Source, T) -> TokenStream,
) -> syn::Result<TokenStream> {
    let mut source = Source::new(body, locate);
    let mut errors: Vec<(u32, syn::Error)> = std::mem::take(&mut source.errors)
        .into_iter()
        .map(|e| (e.at, e.error))
        .collect();
    match assemble(&source.text) {
        Ok(made) if errors.is_empty() => return Ok(emit(&source, made)),
        Ok(_) => {}
        // An IDE's expander cannot show where lines break, so the block may only look wrong: leave the verdict
        // to rustc and give the IDE a well-typed value.
        Err(_) if errors.is_empty() && source.lines == Lines::Placeholder && matches!(unit, Unit::Block { .. }) => {
            if let Unit::Block { placeholder } = unit {
                return Ok(placeholder(&source));
            }
        }
        Err(asm_errors) => {
            for e in asm_errors {
                if !source.is_poisoned(e.span.start) {
                    errors.push((e.span.start, to_syn(&source, &e, matches!(unit, Unit::Block { .. }))));
                }
            }
        }
    }
    errors.sort_by_key(|&(at, _)| at);
    let mut errors = errors.into_iter().map(|(_, e)| e);
    let what = match unit {
        Unit::Block { .. } => "block",
        Unit::Fragment => "fragment",
    };
    let fallback = format!("jit!: the {what} could not be assembled");
    let mut all = errors
        .next()
        .unwrap_or_else(|| syn::Error::new(Span::call_site(), fallback));
    for e in errors {
        all.combine(e);
    }
    Err(all)
}

/// Turns every error into its own `compile_error!`, in a block whose value is the last one, so that the
/// expression has no type of its own to complain about.
pub(crate) fn compile_errors(errors: syn::Error) -> TokenStream {
    let calls = errors.into_iter().map(syn::Error::into_compile_error);
    quote!({ #(#calls);* })
}

/// Splits the crate path (`$crate` from the `jit!` wrapper) from the assembly tokens at the first `;`.
fn split_crate_path(input: TokenStream) -> syn::Result<(TokenStream, TokenStream)> {
    let mut tokens = input.into_iter();
    let mut krate = TokenStream::new();
    for t in tokens.by_ref() {
        match t {
            TokenTree::Punct(p) if p.as_char() == ';' => return Ok((krate, tokens.collect())),
            t => krate.extend([t]),
        }
    }
    let why = "`jit_impl!` is an implementation detail: write `rustyjit::jit! { ... }`";
    Err(syn::Error::new(Span::call_site(), why))
}

/// `jit!(e; ...)`: the emitter expression before the first `;` and the fragment after it, when what comes before
/// the first `;` is not itself assembly. A block's first statement starts with a mnemonic or a data keyword, is a
/// label (`name:`), or looks like an instruction (a name and an operand); anything else (`e`, `self.e`, `&mut e`,
/// `em.borrow_mut()`) is an emitter.
fn split_emitter(body: &TokenStream) -> Option<(TokenStream, TokenStream)> {
    let tokens: Vec<TokenTree> = body.clone().into_iter().collect();
    let semi = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ';'))?;
    let first = &tokens[..semi];
    // A mistyped mnemonic (`mvo rax, 3`) still reads as assembly: a name followed by a name or a literal, or a
    // comma outside brackets, is not an expression.
    let comma = first
        .iter()
        .any(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','));
    let is_assembly = comma
        || match first {
            [] => true,
            [TokenTree::Ident(name), rest @ ..] => {
                let label = matches!(rest.first(), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                let operand = matches!(rest.first(), Some(TokenTree::Ident(_) | TokenTree::Literal(_)));
                label || operand || jit_core::asm::is_statement_keyword(&name.to_string())
            }
            [TokenTree::Punct(p), ..] => p.as_char() == '.', // a directive such as `.byte`
            _ => false,
        };
    if is_assembly {
        return None;
    }
    Some((
        first.iter().cloned().collect(),
        tokens[semi + 1..].iter().cloned().collect(),
    ))
}

/// An assembler error as a `syn::Error` spanning the tokens its text range covers.
pub(crate) fn to_syn(source: &Source, e: &AsmError, in_block: bool) -> syn::Error {
    let Some((mut first, mut last)) = source.covering(e.span.start, e.span.end) else {
        return syn::Error::new(Span::call_site(), &e.kind);
    };
    // jit-core reports an undefined `[rip + label]` on its whole statement; the label's own token is better.
    if let ErrorKind::UndefinedLabel(name) = &e.kind
        && let Some(p) = source.pieces_between(first, last).find(|p| source.text_of(p) == name)
    {
        (first, last) = (p, p);
    }
    let mut message = match &e.kind {
        ErrorKind::Expected { expected, .. } if in_block && first.hole => format!(
            "expected {expected}, found a runtime value: `{{expr}}` can only stand for an immediate operand of an \
             instruction"
        ),
        kind if in_block && first.hole && !matches!(kind, ErrorKind::BadOperand(_)) => format!(
            "{kind} (in a block a runtime value `{{expr}}` can only be an immediate; a jump target, a register or an \
             address part needs a fragment for an emitter: `jit!(e; ...)`)"
        ),
        kind => kind.to_string(),
    };
    if first.after_line_break {
        message.push_str(
            " (this block's tokens come from several places, such as a `macro_rules!` macro, so line breaks do not \
             separate its statements: write `;` between them)",
        );
    }
    spanning(first, last, message)
}

fn spanning(first: &Piece, last: &Piece, message: String) -> syn::Error {
    if std::ptr::eq(first, last) {
        return syn::Error::new(first.span, message);
    }
    // On stable Rust spans cannot be joined; an error from the first token to the last shows as that range.
    let ends: TokenStream = [first.span, last.span]
        .into_iter()
        .map(|s| TokenTree::Ident(Ident::new("x", s)))
        .collect();
    syn::Error::new_spanned(ends, message)
}

pub(crate) fn private_path(krate: &TokenStream) -> TokenStream {
    quote!(#krate::__private)
}

/// The `Code` value for assembled code.
fn emit(krate: &TokenStream, source: &Source, assembly: &Assembly) -> TokenStream {
    let p = private_path(krate);
    let code = &assembly.code;
    let rust_lines = matches!(source.lines, Lines::Written | Lines::Composed);
    let entries = code.entries().iter().map(|e| {
        // The line in the Rust file, so a fault maps to the line the user wrote.
        let line = match source.piece_at(e.text.0).and_then(|p| p.line) {
            Some(line) if rust_lines => u32::try_from(line).unwrap_or(e.line),
            _ => e.line,
        };
        let row = [e.offset, e.len, line, e.text.0, e.text.1].map(Literal::u32_unsuffixed);
        quote!([#(#row),*])
    });
    let labels = code.labels().iter().map(|l| {
        let name = Literal::string(&l.name);
        let offset = Literal::u32_unsuffixed(l.offset);
        quote!(#p::Label { name: #p::Cow::Borrowed(#name), offset: #offset })
    });
    let n_entries = Literal::usize_unsuffixed(code.entries().len());
    let n_labels = Literal::usize_unsuffixed(code.labels().len());
    let bytes = Literal::byte_string(code.bytes());
    let text = Literal::string(code.source());
    let build = quote! {{
        static ENTRIES: [#p::Entry; #n_entries] = #p::entries([#(#entries),*]);
        static LABELS: [#p::Label; #n_labels] = [#(#labels),*];
        #p::Code::from_static(#bytes, &ENTRIES, &LABELS, #text)
    }};
    if assembly.holes.is_empty() {
        return build;
    }
    // Each runtime value typed by its immediate's width, then copied into the code's bytes.
    let widths: std::collections::HashMap<u32, u8> = assembly.holes.iter().map(|h| (h.hole, h.bytes)).collect();
    let (lets, _) = typed_values(&p, &source.holes, |n| widths.get(&n).map(|&w| HoleUse::Imm(w)));
    let code = Ident::new("code", Span::mixed_site());
    let patches = assembly.holes.iter().map(|h| {
        let name = value_name(h.hole as usize);
        let start = h.offset as usize;
        let [start, end] = [start, start + usize::from(h.bytes)].map(Literal::usize_unsuffixed);
        quote!(#code.bytes_mut()[#start..#end].copy_from_slice(&#name.to_le_bytes());)
    });
    quote! {{
        #(#lets)*
        let mut #code = #build;
        #(#patches)*
        #code
    }}
}

/// The `let`s that give each runtime value (`{expr}` number `n`) the type of its use — an immediate's width, a
/// 32-bit displacement, a label, a register — so a wrong type is rustc's error at the expression; and each value
/// as a `u64` argument (a register as its number, a label as its packed index). One generator for blocks and
/// fragments alike; a value of no use is still evaluated.
pub(crate) fn typed_values(
    p: &TokenStream,
    holes: &[proc_macro2::Group],
    use_of: impl Fn(u32) -> Option<HoleUse>,
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let (mut lets, mut args) = (Vec::new(), Vec::new());
    for (n, expr) in holes.iter().enumerate() {
        let name = value_name(n);
        let (ty, arg) = match use_of(n as u32) {
            Some(HoleUse::Imm(w)) => {
                let ty = ["i8", "i16", "i32", "i64"][usize::from(w.trailing_zeros() as u8).min(3)];
                let ty = Ident::new(ty, Span::call_site());
                (quote!(::core::primitive::#ty), quote!(#name as i64 as u64))
            }
            Some(HoleUse::Disp) => (quote!(::core::primitive::i32), quote!(#name as i64 as u64)),
            Some(HoleUse::Label) => (quote!(#p::DynamicLabel), quote!(#name.__arg())),
            Some(HoleUse::Reg(kind)) => {
                let ty = match kind {
                    RegKind::R64 => "R64",
                    RegKind::R32 => "R32",
                    RegKind::R16 => "R16",
                    RegKind::R8 => "R8",
                    RegKind::Xmm => "Xmm",
                };
                let ty = Ident::new(ty, Span::call_site());
                (quote!(#p::#ty), quote!(#name.num() as u64))
            }
            None => {
                lets.push(quote!(let _ = #expr;));
                args.push(quote!(0u64));
                continue;
            }
        };
        lets.push(quote!(let #name: #ty = #expr;));
        args.push(arg);
    }
    (lets, args)
}

/// The hygienic name of runtime value `n` (the user's expressions cannot see it).
fn value_name(n: usize) -> Ident {
    Ident::new(&format!("value{n}"), Span::mixed_site())
}

/// An empty `Code` that still evaluates (and so type-checks) every runtime value.
fn placeholder(krate: &TokenStream, source: &Source) -> TokenStream {
    let p = private_path(krate);
    let holes = &source.holes;
    quote!({ #(let _ = #holes;)* #p::Code::from_static(b"", &[], &[], "") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Nowhere;

    fn expand_str(src: &str) -> syn::Result<String> {
        expand(src.parse().unwrap(), &Nowhere).map(|t| t.to_string())
    }

    fn messages(src: &str) -> Vec<String> {
        match expand(src.parse().unwrap(), &Nowhere) {
            Ok(t) => panic!("expected errors, got {t}"),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn code_is_static_data() {
        let out = expand_str("::k; mov rax, 3; top: ret").unwrap();
        assert!(out.contains(r#"b"H\xC7\xC0\x03\0\0\0\xC3""#), "{out}");
        assert!(out.contains(":: k :: __private :: Code :: from_static"), "{out}");
        assert!(
            out.contains("entries ([[0 , 7 , 1 , 0 , 10] , [7 , 1 , 1 , 17 , 20]])"),
            "{out}"
        );
        assert!(out.contains("Cow :: Borrowed (\"top\") , offset : 7"), "{out}");
        assert!(out.contains("\"mov rax, 3; top: ret\""), "{out}");
        assert!(!out.contains("bytes_mut"), "{out}");
    }

    #[test]
    fn runtime_values_are_typed_by_their_width() {
        let out = expand_str("$crate; mov eax, {n}; mov rax, {big}; mov al, {b}; ret {r}").unwrap();
        for (ty, range) in [
            ("i32", "1 .. 5"),
            ("i64", "7 .. 15"),
            ("i8", "16 .. 17"),
            ("i16", "18 .. 20"),
        ] {
            assert!(out.contains(&format!(":: core :: primitive :: {ty}")), "{ty}: {out}");
            assert!(out.contains(&format!("bytes_mut () [{range}]")), "{range}: {out}");
        }
    }

    #[test]
    fn every_error_is_reported_in_source_order() {
        let m = messages("k; mov rax, 1, 2; mvo rax, 3; add al, 3u8; jmp nowhere");
        assert_eq!(m.len(), 4, "{m:?}");
        assert!(m[0].contains("`mov` has no form"), "{m:?}");
        assert_eq!(m[1], "unknown instruction `mvo`; did you mean `mov`?");
        assert!(m[2].contains("no type suffix"), "{m:?}");
        assert_eq!(m[3], "label `nowhere` is not defined; define it with `nowhere:`");
    }

    #[test]
    fn runtime_values_outside_immediates_say_so() {
        let m = messages("k; mov rax, [rbx + {off}]");
        assert!(m[0].contains("need the emitter: `jit!(e; ...)`"), "{m:?}");
        let m = messages("k; mov {r: r64}, 1");
        assert!(m[0].contains("need the emitter: `jit!(e; ...)`"), "{m:?}");
        let m = messages("k; jmp {target}");
        assert!(
            m[0].contains("a jump target, a register or an address part needs"),
            "{m:?}"
        );
    }

    #[test]
    fn a_first_statement_that_is_not_assembly_names_an_emitter() {
        // `e` is not a mnemonic: a fragment for the emitter `e`. `ret` is: a block.
        let fragment = expand_str("k; e; ret").unwrap();
        assert!(
            fragment.contains("__emitter ()") && fragment.contains("__begin"),
            "{fragment}"
        );
        let block = expand_str("k; ret; ret").unwrap();
        assert!(block.contains("from_static") && !block.contains("__begin"), "{block}");
        let labelled = expand_str("k; top: jmp top").unwrap();
        assert!(labelled.contains("from_static"), "{labelled}");
        // A typo in the first mnemonic is the assembler's error, not an emitter expression.
        assert_eq!(
            messages("k; mvo rax, 3; ret")[0],
            "unknown instruction `mvo`; did you mean `mov`?"
        );
        assert_eq!(
            messages("k; psuh rax; ret")[0],
            "unknown instruction `psuh`; did you mean `push`?"
        );
    }

    #[test]
    fn an_ide_without_positions_gets_a_typed_placeholder_instead_of_errors() {
        struct Ide;
        impl Locate for Ide {
            fn loc(&self, _: Span) -> Option<crate::source::Loc> {
                Some(crate::source::Loc {
                    line: 1,
                    col: 1,
                    end_line: 1,
                    end_col: 1,
                })
            }
            fn file(&self, _: Span) -> Option<String> {
                None
            }
            fn source_file(&self, _: Span) -> Option<std::rc::Rc<crate::source::SourceFile>> {
                None
            }
        }
        // Written on two lines, which the IDE cannot see: no error, an empty `Code`, the value still evaluated.
        let out = expand("k; mov eax, {n} ret".parse().unwrap(), &Ide)
            .unwrap()
            .to_string();
        assert!(
            out.contains("let _ = { n } ;") && out.contains("from_static (b\"\""),
            "{out}"
        );
        // What is wrong whatever the lines are is still reported.
        assert!(expand("k; mov al, 3u8".parse().unwrap(), &Ide).is_err());
        assert!(
            expand("k; mov al, 3".parse().unwrap(), &Ide)
                .unwrap()
                .to_string()
                .contains("b\"\\xB0\\x03\"")
        );
    }

    #[test]
    fn random_token_soup_never_panics() {
        const VOCAB: [&str; 40] = [
            "mov",
            "rax",
            "eax",
            "al",
            "ah",
            "sil",
            "r15",
            "rip",
            "rsp",
            "qword",
            "ptr",
            "byte",
            ".",
            "byte",
            "db",
            "top",
            ":",
            ";",
            ",",
            "+",
            "-",
            "*",
            "=",
            "#",
            "3",
            "0x10",
            "0b2",
            "3u8",
            "1.5",
            "\"s\"",
            "'c'",
            "0xffffffffffffffffff",
            "[",
            "]",
            "(1)",
            "{n}",
            "{}",
            "jmp",
            "ds",
            "é",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut expanded = 0;
        for _ in 0..3000 {
            let len = next() % 14;
            let words: Vec<&str> = (0..len)
                .map(|_| VOCAB[(next() % VOCAB.len() as u64) as usize])
                .collect();
            let text = format!("k; {}", words.join(" "));
            if let Ok(tokens) = text.parse::<TokenStream>() {
                let _ = expand(tokens, &Nowhere);
                expanded += 1;
            }
        }
        assert!(expanded > 1000, "{expanded} inputs were valid token streams");
    }

    #[test]
    fn a_missing_crate_path_is_an_error_not_a_panic() {
        assert!(messages("mov rax, 3")[0].contains("rustyjit::jit!"));
        assert!(expand_str("k;").unwrap().contains("from_static (b\"\""));
    }

    #[test]
    fn several_errors_become_several_compile_errors_in_one_block() {
        let mut e = syn::Error::new(Span::call_site(), "a");
        e.combine(syn::Error::new(Span::call_site(), "b"));
        let out = compile_errors(e).to_string();
        assert_eq!(out.matches("compile_error").count(), 2);
        assert!(out.starts_with('{') && out.contains("} ; :: core"), "{out}");
    }
}
