//! The matcher: which form of the table an instruction's operands fit, and which of several fitting forms to use.
//!
//! It does what GNU as 2.40 does without `-O`: among the forms the operands fit, the shortest encoding wins, the
//! first row among equals. A memory operand without a size takes it from the other operands; where they do not fix
//! it, the row marked as default (`push`, `pop`, `jmp`, `call`: 64 bits) is taken, else it is an error.

use super::table::{Attrs, Form, ModRm, OpKind, Table};
use crate::asm::encoding::encode::{self, Encoded};
use crate::asm::error::{AsmError, ErrorKind, PrefixFault};
use crate::asm::text::reg::RegClass;
use crate::asm::text::syntax::{MAX_OPERANDS, Mem, Operand, Prefix, Span, Spanned};

/// The instructions `lock` may prefix (with a memory destination).
pub const LOCKABLE: [&str; 19] = [
    "add",
    "adc",
    "and",
    "btc",
    "btr",
    "bts",
    "cmpxchg",
    "cmpxchg8b",
    "cmpxchg16b",
    "dec",
    "inc",
    "neg",
    "not",
    "or",
    "sbb",
    "sub",
    "xadd",
    "xchg",
    "xor",
];

/// The string instructions, which a `rep` may prefix (as may `ret` and `nop` without operands).
const STRING: [&str; 20] = [
    "movsb", "movsw", "movsd", "movsq", "stosb", "stosw", "stosd", "stosq", "lodsb", "lodsw", "lodsd", "lodsq",
    "scasb", "scasw", "scasd", "scasq", "cmpsb", "cmpsw", "cmpsd", "cmpsq",
];

/// What an instruction became.
#[derive(Clone, Copy, Debug)]
pub enum Selected<'t, 's> {
    /// Its bytes (with a fixup if it refers to a label or hole), and the form they were made from.
    Encoded(Encoded<'s>, &'t Form),
    /// A jump or call to a label: its length depends on the distance, settled by layout.
    Jump {
        /// The `rel8` form, if the mnemonic has one.
        short: Option<&'t Form>,
        /// The `rel32` form.
        long: &'t Form,
        /// The target.
        label: &'s str,
    },
}

/// The value to encode for the immediate of `form`, whose operand in the immediate position is `op` (0 when that
/// is not an immediate value: none, or a hole filled in later), or the range the value must be in.
///
/// Values may be written signed or as the unsigned bit pattern of the operation's width (`add eax, 0xffffffff`
/// is `add eax, -1`); an immediate narrower than the operation is sign-extended by the CPU, so the value must
/// survive that. Counts (shifts, bit numbers, `ret`) just have to fit their own width. Kept out of line: the
/// matcher's loop over forms stays small.
#[inline(never)]
pub(crate) fn immediate(form: &Form, op: Option<&Operand<'_>>) -> Result<i64, (i128, i128)> {
    let Some(&Operand::Imm(value)) = op else {
        return Ok(0);
    };
    // The table checks that an immediate operand's width is the form's immediate bytes.
    let bits = u16::from(form.imm_bytes) * 8;
    debug_assert_eq!(Some(bits), form.operands[usize::from(form.imm_at)].imm_bits());
    let signed = |b: u16| (-(1i128 << (b - 1)), (1i128 << (b - 1)) - 1);
    let either = |b: u16| (-(1i128 << (b - 1)), (1i128 << b) - 1);
    let count = form.attrs.contains(Attrs::COUNT);
    let width = if count { bits } else { form.operation_bits() };
    let (lo, hi) = either(width);
    if !(lo..=hi).contains(&value) {
        return Err((lo, hi));
    }
    if count {
        return Ok(value as i64);
    }
    // The value as the operation sees it: its low `width` bits, sign-extended.
    let shift = 128 - u32::from(width);
    let seen = (value << shift) >> shift;
    if bits < width {
        let (lo, hi) = signed(bits);
        if !(lo..=hi).contains(&seen) {
            return Err((lo, hi));
        }
    }
    Ok(seen as i64)
}

/// The operand kinds `op` can be, as a set of [`OpKind::bit`]s. An immediate is in every immediate kind here;
/// whether its value fits is checked per form by [`immediate`].
pub(crate) fn kinds_of(op: &Operand<'_>) -> u32 {
    use OpKind::*;
    const MEM: u32 = OpKind::set(&[
        M, M8, M16, M32, M64, M128, Rm8, Rm16, Rm32, Rm64, XmmM32, XmmM64, XmmM128,
    ]);
    const IMM: u32 = OpKind::set(&[Imm8, Imm16, Imm32, Imm64]);
    match op {
        Operand::Reg(r) => {
            let (kinds, fixed) = match r.class() {
                RegClass::Byte => (OpKind::set(&[R8, Rm8]), [Al, Cl].get(usize::from(r.num()))),
                RegClass::HighByte => (OpKind::set(&[R8, Rm8]), None),
                RegClass::Word => (OpKind::set(&[R16, Rm16]), [Ax].get(usize::from(r.num()))),
                RegClass::Dword => (OpKind::set(&[R32, Rm32]), [Eax].get(usize::from(r.num()))),
                RegClass::Qword => (OpKind::set(&[R64, Rm64]), [Rax].get(usize::from(r.num()))),
                RegClass::Xmm => (OpKind::set(&[Xmm, XmmM32, XmmM64, XmmM128]), None),
                RegClass::Rip => (0, None),
            };
            kinds | fixed.map_or(0, |k| k.bit())
        }
        Operand::Mem(m) => match m.size.map(|s| s.bits()) {
            None => MEM,
            Some(8) => OpKind::set(&[M, M8, Rm8]),
            Some(16) => OpKind::set(&[M, M16, Rm16]),
            Some(32) => OpKind::set(&[M, M32, Rm32, XmmM32]),
            Some(64) => OpKind::set(&[M, M64, Rm64, XmmM64]),
            Some(_) => OpKind::set(&[M, M128, XmmM128]),
        },
        Operand::Imm(1) => IMM | One.bit(),
        Operand::Imm(3) => IMM | Three.bit(),
        Operand::Imm(_) | Operand::Hole(_) => IMM,
        Operand::Label(_) => OpKind::RELATIVE,
        // Chosen at run time: the emitter's lowering writes a register in before it asks for a form.
        Operand::RegHole(..) => 0,
    }
}

/// [`immediate`] for the operand of `ops` in the immediate position of `form`.
fn imm_of(form: &Form, ops: &[Spanned<Operand<'_>>]) -> Result<i64, (i128, i128)> {
    immediate(form, ops.get(usize::from(form.imm_at)).map(|o| &o.node))
}

/// The forms an instruction fits: a set of positions in its mnemonic's forms (at most 64 forms a mnemonic, which
/// a table test checks). Matching allocates nothing.
struct Candidates<'t> {
    forms: &'t [Form],
    set: u64,
}

impl<'t> Candidates<'t> {
    fn iter(&self) -> impl Iterator<Item = &'t Form> + '_ {
        let mut set = self.set;
        std::iter::from_fn(move || {
            let i = set.trailing_zeros() as usize;
            set &= set.wrapping_sub(1);
            self.forms.get(i)
        })
    }

    fn is_empty(&self) -> bool {
        self.set == 0
    }

    /// Keeps the forms `keep` accepts.
    fn retain(&mut self, mut keep: impl FnMut(&Form) -> bool) {
        let mut set = self.set;
        while set != 0 {
            let i = set.trailing_zeros() as usize;
            set &= set - 1;
            if !self.forms.get(i).is_some_and(&mut keep) {
                self.set &= !(1 << i);
            }
        }
    }
}

/// How an operand is described in "has no form `...`" messages.
fn describe(op: &Operand<'_>) -> String {
    match op {
        Operand::Reg(r) => match r.class() {
            RegClass::Xmm => "xmm".into(),
            _ => format!("r{}", r.bits()),
        },
        Operand::Mem(m) => match m.size {
            Some(s) => format!("m{}", s.bits()),
            None => "m".into(),
        },
        Operand::Imm(_) | Operand::Hole(_) => "imm".into(),
        Operand::Label(_) => "label".into(),
        Operand::RegHole(_, kind) => kind.name().into(),
    }
}

/// A mnemonic's forms for a jump or call to a label: its `rel8` form, if it has one, and its `rel32` form;
/// `None` for a mnemonic without a `rel32` form.
pub fn jump_forms(forms: &[Form]) -> Option<(Option<&Form>, &Form)> {
    let long = forms.iter().find(|f| f.operands == [OpKind::Rel32])?;
    Some((forms.iter().find(|f| f.operands == [OpKind::Rel8]), long))
}

/// Picks the form for an instruction and encodes it.
///
/// `forms` are the mnemonic's forms (empty for an unknown mnemonic), `mnemonic` is as written, `at` the span of
/// the mnemonic (errors that are about no single operand point there).
pub fn select_form<'t, 's>(
    forms: &'t [Form],
    mnemonic: Spanned<&str>,
    prefix: Option<Spanned<Prefix>>,
    ops: &[Spanned<Operand<'s>>],
) -> Result<Selected<'t, 's>, AsmError> {
    let selected = select_unprefixed(forms, mnemonic, ops)?;
    let Some(prefix) = prefix else {
        return Ok(selected);
    };
    let fault = match selected {
        Selected::Encoded(_, form) => prefix_fault(prefix.node, mnemonic.node, form, ops),
        Selected::Jump { .. } => Some(match prefix.node {
            Prefix::Lock => PrefixFault::NotLockable,
            _ => PrefixFault::NotString,
        }),
    };
    match (fault, selected) {
        (None, Selected::Encoded(_, form)) => {
            let plain: Vec<Operand<'s>> = ops.iter().map(|o| o.node).collect();
            let imm = imm_of(form, ops).unwrap_or(0);
            let e = encode::encode_with(form, &plain, imm, 0, Some(prefix.node), &mut ()).map_err(|kind| AsmError {
                kind,
                span: mnemonic.span,
            })?;
            Ok(Selected::Encoded(e, form))
        }
        (fault, _) => Err(AsmError {
            kind: ErrorKind::BadPrefix {
                prefix: prefix.node.name().to_string(),
                mnemonic: mnemonic.node.to_ascii_lowercase(),
                fault: fault.unwrap_or(PrefixFault::NotString),
            },
            span: prefix.span,
        }),
    }
}

/// Why `prefix` cannot go before this instruction (`form` chosen for `ops`), if it cannot. `lock` wants an
/// instruction of [`LOCKABLE`] whose destination is memory (for `xchg`, either operand); a `rep` a string
/// instruction, `ret`, or `nop` without operands.
fn prefix_fault(prefix: Prefix, mnemonic: &str, form: &Form, ops: &[Spanned<Operand<'_>>]) -> Option<PrefixFault> {
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(mnemonic));
    let memory = |op: Option<&Spanned<Operand<'_>>>| op.is_some_and(|o| matches!(o.node, Operand::Mem(_)));
    match prefix {
        Prefix::Lock if !is(&LOCKABLE) => Some(PrefixFault::NotLockable),
        Prefix::Lock if memory(ops.first()) || (is(&["xchg"]) && ops.iter().any(|o| memory(Some(o)))) => None,
        Prefix::Lock => Some(PrefixFault::NoMemoryDestination),
        _ if (is(&STRING) || is(&["nop"])) && form.operands.is_empty() => None,
        _ if is(&["ret"]) => None,
        _ => Some(PrefixFault::NotString),
    }
}

/// [`select_form`] for an instruction without a prefix.
fn select_unprefixed<'t, 's>(
    forms: &'t [Form],
    mnemonic: Spanned<&str>,
    ops: &[Spanned<Operand<'s>>],
) -> Result<Selected<'t, 's>, AsmError> {
    if forms.is_empty() {
        let suggestion = closest_mnemonic(mnemonic.node);
        let kind = ErrorKind::UnknownMnemonic {
            name: mnemonic.node.to_string(),
            suggestion,
        };
        return Err(AsmError {
            kind,
            span: mnemonic.span,
        });
    }
    if let [
        Spanned {
            node: Operand::Label(label),
            ..
        },
    ] = ops
        && let Some((short, long)) = jump_forms(forms)
    {
        return Ok(Selected::Jump { short, long, label });
    }
    let facts = OperandFacts::of(ops);
    let mut candidates = Candidates {
        forms,
        set: shaped(forms, &facts.kinds),
    };
    let missed_range = keep_values_that_fit(&mut candidates, ops, facts.has_imm);
    if candidates.is_empty() {
        if let Some((min, max, i)) = missed_range
            && let Operand::Imm(value) = ops[i].node
        {
            let kind = ErrorKind::ImmediateRange { value, min, max };
            return Err(AsmError {
                kind,
                span: ops[i].span,
            });
        }
        return Err(no_form(forms, mnemonic, ops, furthest(forms, ops.len(), &facts.kinds)));
    }
    if let Some(i) = facts.sizeless {
        agree_on_size(&mut candidates, i, mnemonic, ops)?;
    }
    // A runtime value takes the widest immediate the instruction has, as GNU as does for a value it cannot see.
    if facts.has_hole {
        let widest = candidates.iter().map(|f| f.imm_bytes).max().unwrap_or(0);
        candidates.retain(|f| f.imm_bytes == widest);
    }
    shortest(&candidates, &facts, mnemonic, ops)
        .unwrap_or_else(|| Err(no_form(forms, mnemonic, ops, furthest(forms, ops.len(), &facts.kinds))))
}

/// What the matcher asks of an instruction's operands, gathered in one pass.
struct OperandFacts<'s> {
    /// Each operand's kinds ([`kinds_of`]), [`OpKind::NO_OPERAND`] past the last.
    kinds: [u32; MAX_OPERANDS],
    /// The operands, for the encoder.
    plain: [Operand<'s>; MAX_OPERANDS],
    count: usize,
    has_imm: bool,
    has_hole: bool,
    /// The first memory operand written without a size.
    sizeless: Option<usize>,
    /// What the length of an encoding owes to the operands rather than the form.
    common: CommonLen,
}

impl<'s> OperandFacts<'s> {
    fn of(ops: &[Spanned<Operand<'s>>]) -> OperandFacts<'s> {
        let mut facts = OperandFacts {
            kinds: [OpKind::NO_OPERAND; MAX_OPERANDS],
            plain: [Operand::Imm(0); MAX_OPERANDS],
            count: ops.len().min(MAX_OPERANDS),
            has_imm: false,
            has_hole: false,
            sizeless: None,
            common: CommonLen { rex: false, mem: 0 },
        };
        for (i, ((k, slot), op)) in facts.kinds.iter_mut().zip(&mut facts.plain).zip(ops).enumerate() {
            *k = kinds_of(&op.node);
            *slot = op.node;
            match &op.node {
                Operand::Imm(_) => facts.has_imm = true,
                Operand::Hole(_) => facts.has_hole = true,
                Operand::Mem(m) => {
                    if m.size.is_none() && facts.sizeless.is_none() {
                        facts.sizeless = Some(i);
                    }
                    facts.common.add_mem(m);
                }
                Operand::Reg(r) => facts.common.rex |= r.high_bit() || r.needs_rex(),
                Operand::Label(_) => {}
                // Written in by the emitter's lowering before it asks; the text assembler refuses them before.
                Operand::RegHole(..) => {}
            }
        }
        facts
    }
}

/// The cheap test, on every form: each position's operand can be the kind the form takes there (or neither has
/// an operand there). A bit test a position; most forms fail at the first operand.
fn shaped(forms: &[Form], kinds: &[u32; MAX_OPERANDS]) -> u64 {
    let mut shaped = 0u64;
    for (at, form) in forms[..forms.len().min(64)].iter().enumerate() {
        const _: () = assert!(MAX_OPERANDS == 3, "the test below takes three positions");
        let k = &form.kind_bits;
        if kinds[0] & k[0] != 0 && kinds[1] & k[1] != 0 && kinds[2] & k[2] != 0 {
            shaped |= 1 << at;
        }
    }
    shaped
}

/// Keeps the candidates the operands' values fit: an immediate in range, and not register 0 in a `+r` form that
/// excludes it (`xchg eax, eax`). Returns the widest range an immediate missed, and its operand.
fn keep_values_that_fit(
    candidates: &mut Candidates<'_>,
    ops: &[Spanned<Operand<'_>>],
    has_imm: bool,
) -> Option<(i128, i128, usize)> {
    let mut range: Option<(i128, i128, usize)> = None;
    candidates.retain(|form| {
        if has_imm && let Err((lo, hi)) = imm_of(form, ops) {
            if range.is_none_or(|(_, h, _)| hi > h) {
                range = Some((lo, hi, usize::from(form.imm_at)));
            }
            return false;
        }
        !(form.attrs.contains(Attrs::NOT_REG0)
            && form
                .roles
                .iter()
                .zip(ops)
                .any(|(r, o)| *r == super::table::Role::OpReg && matches!(o.node, Operand::Reg(reg) if reg.num() == 0)))
    });
    range
}

/// A memory operand `i` written without a size: the candidates must agree on it, or one of them be the default;
/// else the error lists the sizes that would fit.
fn agree_on_size(
    candidates: &mut Candidates<'_>,
    i: usize,
    mnemonic: Spanned<&str>,
    ops: &[Spanned<Operand<'_>>],
) -> Result<(), AsmError> {
    let size_of = |f: &Form| f.operands[i].mem_bits().flatten();
    let first = candidates.iter().next().and_then(size_of);
    if candidates.iter().all(|f| size_of(f) == first) {
        return Ok(());
    }
    let default = candidates
        .iter()
        .find(|f| f.attrs.contains(Attrs::DEFAULT))
        .map(size_of);
    if let Some(default) = default {
        candidates.retain(|f| size_of(f) == default);
        return Ok(());
    }
    let mut sizes: Vec<&'static str> = Vec::new();
    for f in candidates.iter() {
        let keyword = match size_of(f) {
            Some(8) => "byte",
            Some(16) => "word",
            Some(32) => "dword",
            Some(64) => "qword",
            _ => "xmmword",
        };
        if !sizes.contains(&keyword) {
            sizes.push(keyword);
        }
    }
    let kind = ErrorKind::AmbiguousSize {
        mnemonic: mnemonic.node.to_string(),
        sizes,
    };
    Err(AsmError {
        kind,
        span: ops[i].span,
    })
}

/// The shortest encoding among the candidates, the first form among equals; `None` when none can be encoded
/// and no encoder error says why. Lengths are computed without encoding and only the winner is encoded (debug
/// builds encode every candidate and check the computed lengths); when the shortest cannot be encoded (`ah` next
/// to a REX prefix), the shortest that can, else the first error.
fn shortest<'t, 's>(
    candidates: &Candidates<'t>,
    facts: &OperandFacts<'s>,
    mnemonic: Spanned<&str>,
    ops: &[Spanned<Operand<'s>>],
) -> Option<Result<Selected<'t, 's>, AsmError>> {
    let plain = &facts.plain[..facts.count];
    let mut best: Option<(usize, &'t Form)> = None;
    for form in candidates.iter() {
        let len = facts.common.len(form);
        if cfg!(debug_assertions)
            && let Ok(e) = encode::encode(form, plain, imm_of(form, ops).unwrap_or(0), 0)
        {
            debug_assert_eq!(len, e.len(), "computed length of `{}`", form.text);
        }
        if best.is_none_or(|(b, _)| len < b) {
            best = Some((len, form));
        }
    }
    if let Some((_, form)) = best
        && let Ok(e) = encode::encode(form, plain, imm_of(form, ops).unwrap_or(0), 0)
    {
        return Some(Ok(Selected::Encoded(e, form)));
    }
    let mut best: Option<(Encoded<'s>, &'t Form)> = None;
    let mut first_error: Option<ErrorKind> = None;
    for form in candidates.iter() {
        match encode::encode(form, plain, imm_of(form, ops).unwrap_or(0), 0) {
            Ok(e) if best.is_none_or(|(b, _)| e.len() < b.len()) => best = Some((e, form)),
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (best, first_error) {
        (Some((e, form)), _) => Some(Ok(Selected::Encoded(e, form))),
        (None, Some(kind)) => {
            let span = ops
                .iter()
                .find(|o| matches!(o.node, Operand::Reg(r) if r.is_high_byte()))
                .map_or(mnemonic.span, |o| o.span);
            Some(Err(AsmError { kind, span }))
        }
        (None, None) => None,
    }
}

/// What [`select_form`] makes of an instruction, and the form, when that is bytes (no jump, no error); the bytes
/// may have a fixup.
pub(crate) fn plain_bytes<'t, 's>(
    forms: &'t [Form],
    mnemonic: &str,
    ops: &[Operand<'s>],
) -> Option<(Encoded<'s>, &'t Form)> {
    let mnemonic = Spanned {
        node: mnemonic,
        span: Span::default(),
    };
    let mut spanned = [Spanned {
        node: Operand::Imm(0),
        span: Span::default(),
    }; MAX_OPERANDS];
    for (s, op) in spanned.iter_mut().zip(ops) {
        s.node = *op;
    }
    match select_form(forms, mnemonic, None, &spanned[..ops.len().min(MAX_OPERANDS)]) {
        Ok(Selected::Encoded(e, form)) => Some((e, form)),
        _ => None,
    }
}

/// For an error: the operand where the nearest miss among the forms of `count` operands went wrong.
fn furthest(forms: &[Form], count: usize, kinds: &[u32; MAX_OPERANDS]) -> usize {
    forms
        .iter()
        .filter(|f| f.operands.len() == count)
        .filter_map(|f| (0..count).find(|&i| kinds[i] & f.kind_bits[i] == 0))
        .max()
        .unwrap_or(0)
}

/// What the encoded length of an instruction owes to its operands rather than its form: whether a REX prefix
/// is needed even without REX.W, and the bytes a memory operand adds after ModRM (SIB and displacement).
///
/// Neither depends on the form: a register r8..r15 or `spl..dil` needs a REX prefix in any role, and the
/// registers a form fixes (`al`, `cl`, `ax`, `eax`, `rax`) never do.
struct CommonLen {
    rex: bool,
    mem: usize,
}

impl CommonLen {
    /// Takes in a memory operand.
    fn add_mem(&mut self, m: &Mem<'_>) {
        let e = encode::encode_mem(m);
        self.rex |= e.rex_x || e.rex_b;
        self.mem = usize::from(e.sib.is_some())
            + match e.disp {
                encode::Disp::None => 0,
                encode::Disp::Imm8(_) => 1,
                encode::Disp::Imm32(_) => 4,
            };
    }

    /// The length of the instruction encoded with `form`.
    fn len(&self, form: &Form) -> usize {
        let mem = if form.modrm == ModRm::None { 0 } else { self.mem };
        // A VEX form's prefix (in `fixed_len`) holds what REX would.
        let rex = form.vex.is_none() && (form.rex_w || self.rex);
        usize::from(form.fixed_len) + usize::from(rex) + mem
    }
}

/// "`mov` has no form `mov r64, r8`; expected one of: ..." pointing at the operand that went wrong, or at the
/// first operand too many.
fn no_form(forms: &[Form], mnemonic: Spanned<&str>, ops: &[Spanned<Operand<'_>>], furthest: usize) -> AsmError {
    let most = forms.iter().map(|f| f.operands.len()).max().unwrap_or(0);
    let span: Span = if ops.len() > most {
        ops[most].span
    } else if forms.iter().any(|f| f.operands.len() == ops.len()) {
        ops.get(furthest).map_or(mnemonic.span, |o| o.span)
    } else {
        mnemonic.span
    };
    let mut expected: Vec<String> = Vec::new();
    for f in forms {
        if !expected.contains(&f.text) {
            expected.push(f.text.clone());
        }
    }
    let got = ops.iter().map(|o| describe(&o.node)).collect::<Vec<_>>().join(", ");
    let kind = ErrorKind::NoForm {
        mnemonic: mnemonic.node.to_ascii_lowercase(),
        got,
        expected,
    };
    AsmError { kind, span }
}

/// The known mnemonic closest to `name`: one edit away for names of up to four letters, two for longer ones
/// (ties go to the first in alphabetical order).
fn closest_mnemonic(name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    if name.len() < 2 || name.len() > 16 {
        return None;
    }
    let allowed = if name.len() <= 4 { 1 } else { 2 };
    let mut best: Option<(usize, String)> = None;
    for known in Table::get().mnemonics() {
        if known.len().abs_diff(name.len()) > allowed {
            continue;
        }
        let d = edit_distance(&name, &known);
        if d <= allowed && best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, known));
        }
    }
    best.map(|(_, m)| m)
}

/// Levenshtein distance, with a swap of neighbours counting as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_the_instruction_cannot_take_is_refused_at_the_prefix_with_what_would_be_right() {
        let fault = |text: &str| match crate::assemble(text) {
            Err(e) => e.0.iter().map(|e| (e.span.col, e.kind.clone())).collect::<Vec<_>>(),
            Ok(code) => panic!("{text}: accepted as {:02x?}", code.bytes()),
        };
        let bad = |prefix: &str, mnemonic: &str, fault: PrefixFault| ErrorKind::BadPrefix {
            prefix: prefix.into(),
            mnemonic: mnemonic.into(),
            fault,
        };
        use PrefixFault::*;
        let cases = [
            ("nop; lock mov [rax], eax", 6, "lock", "mov", NotLockable),
            ("lock add eax, [rax]", 1, "lock", "add", NoMemoryDestination),
            ("lock inc eax", 1, "lock", "inc", NoMemoryDestination),
            ("repz add eax, 1", 1, "repe", "add", NotString),
            ("repnz jmp top; top:", 1, "repne", "jmp", NotString),
            ("rep movsd xmm0, xmm1", 1, "rep", "movsd", NotString),
            ("lock rep stosb", 6, "lock", "rep", Twice),
        ];
        for (text, col, prefix, mnemonic, why) in cases {
            assert_eq!(fault(text), [(col, bad(prefix, mnemonic, why))], "{text}");
        }
        let message = bad("lock", "mov", PrefixFault::NotLockable).to_string();
        assert!(message.contains("add, adc, and") && message.ends_with("xchg and xor with a memory destination"));
        // Every instruction `lock` may prefix takes it with a memory destination (`xchg` with memory either side).
        for ok in [
            "lock xchg ecx, [rax]",
            "lock xchg [rax], ecx",
            "lock cmpxchg16b [rax]",
            "lock btc qword ptr [rax], 3",
            "LOCK NOT byte ptr [rax]",
        ] {
            assert!(crate::assemble(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(edit_distance("mvo", "mov"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest_mnemonic("MVO").as_deref(), Some("mov"));
        assert_eq!(closest_mnemonic("jnzz").as_deref(), Some("jnz"));
        assert_eq!(closest_mnemonic("addsdd").as_deref(), Some("addsd"));
        assert_eq!(closest_mnemonic("frobnicate"), None);
        assert_eq!(closest_mnemonic("frob"), None);
    }
}
