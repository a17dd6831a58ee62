//! `jit!(e; ...)`: a fragment for a runtime emitter. The tokens become text as for a block (`source`), which
//! `jit-core` lowers to templates at compile time (`asm::lower`); the expansion is those templates as `static`
//! data and one call that appends the fragment to the emitter with its runtime arguments:
//!
//! ```text
//! {
//!     static FRAGMENT: Fragment = Fragment { file: file!(), line: line!(), ops: &[...], ... };
//!     let a0: R64 = acc;          // each `{expr}` typed by its use: a register, an immediate's width,
//!     let a1: DynamicLabel = done; // a 32-bit displacement, a label
//!     (e).__emitter().__fragment(&FRAGMENT, &[a0.num() as u64, a1.__arg()]);
//! }
//! ```

use crate::expand::{Unit, assembled, private_path, typed_values};
use crate::source::{Locate, Source};
use jit_core::asm::Span as TextSpan;
use jit_core::asm::lower::{HoleUse, Instr, JumpForm, LOp, Lowered, Template, lower};
use jit_core::emit::spec::{PatchKind, Stmt, Target};
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;
use std::collections::BTreeMap;

/// Expands a fragment for the emitter `emitter`.
pub(crate) fn expand(
    krate: &TokenStream,
    emitter: TokenStream,
    body: TokenStream,
    locate: &dyn Locate,
) -> syn::Result<TokenStream> {
    let emit = |source: &Source, lowered: Lowered| emit(krate, &emitter, source, &lowered);
    assembled(body, locate, Unit::Fragment, lower, emit)
}

fn text_range(span: TextSpan) -> TokenStream {
    let (a, b) = (Literal::u32_unsuffixed(span.start), Literal::u32_unsuffixed(span.end));
    quote!((#a, #b))
}

fn template(p: &TokenStream, t: &Template, holes: &BTreeMap<u32, HoleUse>) -> TokenStream {
    let bytes = Literal::byte_string(&t.bytes);
    let word = Literal::u128_unsuffixed(t.word());
    let patches = t.value_patches().into_iter().filter_map(|patch| {
        let at = Literal::u16_unsuffixed(patch.at);
        let arg = Literal::u32_unsuffixed(patch.arg);
        let kind = match patch.kind {
            PatchKind::Imm(w) => {
                let w = Literal::u8_unsuffixed(w);
                quote!(Imm(#w))
            }
            PatchKind::Disp32 => quote!(Disp32),
            PatchKind::RipLocal => quote!(RipLocal),
            PatchKind::RipArg => quote!(RipArg),
            // Register fields are in `regs`: `value_patches` leaves them out.
            PatchKind::Low3(_) | PatchKind::Bit3(_) | PatchKind::NotBit3(_) | PatchKind::NotLow4(_) => return None,
        };
        Some(quote!(#p::Patch { at: #at, kind: #p::PatchKind::#kind, arg: #arg }))
    });
    let regs = t.reg_bits(holes).into_iter().map(|(arg, bits)| {
        let arg = Literal::u32_unsuffixed(arg);
        let bits = bits.into_iter().map(Literal::u128_unsuffixed);
        quote!(#p::RegBits { arg: #arg, bits: &[#(#bits),*] })
    });
    quote!(#p::Template { bytes: #bytes, word: #word, patches: &[#(#patches),*], regs: &[#(#regs),*] })
}

fn stmts(p: &TokenStream, stmts: &[Stmt]) -> TokenStream {
    let rows = stmts.iter().map(|s| {
        let [offset, len, a, b] = [s.offset, s.len, s.text.0, s.text.1].map(Literal::u32_unsuffixed);
        quote!(#p::Stmt { offset: #offset, len: #len, text: (#a, #b) })
    });
    quote!(&[#(#rows),*])
}

fn instr(p: &TokenStream, i: &Instr, holes: &BTreeMap<u32, HoleUse>) -> TokenStream {
    let regs = i.regs.iter().map(|r| {
        let arg = Literal::u32_unsuffixed(r.arg);
        let kind = r.kind.index();
        let kind = Literal::u8_unsuffixed(kind);
        let classes = r.classes.iter().map(|&c| Literal::u8_unsuffixed(c));
        let stride = Literal::u16_unsuffixed(r.stride);
        quote!(#p::RegUse { arg: #arg, kind: #kind, classes: &[#(#classes),*], stride: #stride })
    });
    let table = i.table.iter().map(|&t| Literal::u16_unsuffixed(t));
    let templates = i.templates.iter().map(|t| template(p, t, holes));
    let errors = i.errors.iter().map(|e| Literal::string(e));
    let text = text_range(i.span);
    quote!(#p::Op::Instr(&#p::Instr {
        regs: &[#(#regs),*],
        table: &[#(#table),*],
        templates: &[#(#templates),*],
        errors: &[#(#errors),*],
        text: #text,
    }))
}

/// How many templates step `i` chooses from at run time, if it is an instruction with runtime registers.
fn op_kind_templates(lowered: &Lowered, i: usize) -> Option<usize> {
    match lowered.ops.get(i)? {
        LOp::Instr(instr) => Some(instr.templates.len()),
        _ => None,
    }
}

fn jump_form(p: &TokenStream, f: &JumpForm) -> TokenStream {
    let bytes = Literal::byte_string(&f.bytes);
    let word = Literal::u64_unsuffixed(f.word());
    let rel = Literal::u8_unsuffixed(f.rel);
    quote!(#p::JumpForm { bytes: #bytes, word: #word, rel: #rel })
}

/// The fragment's `static` and the call that emits it.
fn emit(krate: &TokenStream, emitter: &TokenStream, source: &Source, lowered: &Lowered) -> TokenStream {
    let p = private_path(krate);
    let ops = lowered.ops.iter().map(|op| match op {
        LOp::Bytes {
            template: t, stmts: s, ..
        } => {
            let t = template(&p, t, &lowered.holes);
            let s = stmts(&p, s);
            quote!(#p::Op::Bytes { template: #t, stmts: #s })
        }
        LOp::Instr(i) => instr(&p, i, &lowered.holes),
        LOp::Jump(j) => {
            let short = match &j.short {
                Some(f) => {
                    let f = jump_form(&p, f);
                    quote!(::core::option::Option::Some(#f))
                }
                None => quote!(::core::option::Option::None),
            };
            let long = jump_form(&p, &j.long);
            let target = match j.target {
                Target::Local(k) => {
                    let k = Literal::u32_unsuffixed(k);
                    quote!(#p::Target::Local(#k))
                }
                Target::Arg(h) => {
                    let h = Literal::u32_unsuffixed(h);
                    quote!(#p::Target::Arg(#h))
                }
            };
            let text = text_range(j.span);
            quote!(#p::Op::Jump(&#p::Jump { short: #short, long: #long, target: #target, text: #text }))
        }
        LOp::Bind(k) => {
            let k = Literal::u32_unsuffixed(*k);
            quote!(#p::Op::Bind(#k))
        }
    });
    let text = Literal::string(&source.text);
    let locals = Literal::u32_unsuffixed(lowered.locals.len() as u32);
    let labels = lowered.label_holes().into_iter().map(Literal::u32_unsuffixed);
    // Each runtime value, typed by its use, then as the fragment's argument.
    let (lets, args) = typed_values(&p, &source.holes, |n| lowered.holes.get(&n).copied());
    let fragment = Ident::new("FRAGMENT", Span::mixed_site());
    let ops_name = Ident::new("OPS", Span::mixed_site());
    let (emitter_name, started, values) = (
        Ident::new("emitter", Span::mixed_site()),
        Ident::new("started", Span::mixed_site()),
        Ident::new("values", Span::mixed_site()),
    );
    let count = Literal::usize_unsuffixed(args.len());
    let widths = lowered.widths(args.len()).into_iter().map(Literal::u8_unsuffixed);
    // One call per step, the step a constant: each call is the emitter's code specialised for it. An instruction
    // with runtime registers picks its template at run time; each template gets its own call, with the index a
    // constant, so that patching is specialised for each template too.
    let steps = (0..lowered.ops.len()).map(|i| {
        let templates = op_kind_templates(lowered, i);
        let i = Literal::usize_unsuffixed(i);
        let op = quote!(&#ops_name[#i]);
        match templates {
            None => quote!(#emitter_name.__op(#op, &#values, #started);),
            Some(count) => {
                let arms = (0..count).map(|t| {
                    let t = Literal::usize_unsuffixed(t);
                    quote!(#t => #emitter_name.__put(#op, #t, &#values, #started),)
                });
                quote!(match #emitter_name.__choose(#op, &#values, #started) { #(#arms)* _ => {} })
            }
        }
    });
    quote! {{
        const #ops_name: &[#p::Op] = &[#(#ops),*];
        static #fragment: #p::Fragment = #p::Fragment {
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
            text: #text,
            locals: #locals,
            labels: &[#(#labels),*],
            widths: &[#(#widths),*],
            ops: #ops_name,
        };
        #(#lets)*
        let #values: [u64; #count] = [#(#args),*];
        let #emitter_name = (#emitter).__emitter();
        let #started = #emitter_name.__begin(&#fragment, &#values);
        #(#steps)*
    }}
}
