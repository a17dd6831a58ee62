//! What a vector file's run is shown as: one line per case for the command line, and a full, deterministic text
//! per file for snapshots (listing, outcome, registers and flags) — no addresses, no timings.

use super::convention::reg_value;
use super::file::{Case, Property, REGS, Value, VectorError, VectorFile, signal_name};
use super::run::Outcome;
use crate::Code;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Whether a case did what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every assertion held and nothing went wrong.
    Pass,
    /// What went wrong, one sentence each.
    Fail(Vec<String>),
}

/// How a case's result reads: rax as an integer, or xmm0's low lane as a float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reading {
    /// rax, as a signed number and hex.
    #[default]
    Int,
    /// xmm0's low 64 bits as an f64.
    F64,
    /// xmm0's low 32 bits as an f32.
    F32,
}

impl Reading {
    fn of(value: Option<Value>) -> Reading {
        match value {
            Some(Value::F64(_)) => Reading::F64,
            Some(Value::F32(_)) => Reading::F32,
            _ => Reading::Int,
        }
    }
}

/// One case's (or property's) result.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// 1-based line of the case's table in its file.
    pub line: usize,
    /// What the case asserts, in words (`returns 3 (0x3)`, `faults with SIGFPE`), if it asserts anything.
    pub expected: Option<String>,
    /// Its code, if it assembled.
    pub code: Option<Code>,
    /// A property's reference code, if it assembled (`None` for cases).
    pub reference: Option<Code>,
    /// What running it did.
    pub outcome: Outcome,
    /// Pass or fail.
    pub verdict: Verdict,
    /// Show registers and flags.
    pub state: bool,
    /// How its result reads.
    pub reading: Reading,
}

/// A file's results.
#[derive(Clone, Debug)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Problems with the file itself (a file with problems fails).
    pub errors: Vec<VectorError>,
    /// The cases that could be read, then the properties.
    pub cases: Vec<CaseReport>,
}

/// The flags the report shows, with their bit in RFLAGS.
const FLAGS: [(&str, u32); 7] = [
    ("CF", 0),
    ("PF", 2),
    ("AF", 4),
    ("ZF", 6),
    ("SF", 7),
    ("DF", 10),
    ("OF", 11),
];

/// `48 c7 c0`: [`Hex`](crate::Hex) with a space between two bytes, as every report shows bytes.
pub(crate) fn hex_bytes(bytes: &[u8]) -> String {
    crate::Hex::new(bytes, " ").to_string()
}

/// `3 (0x3)`, `-1 (0xffffffffffffffff)`.
fn value(v: i64) -> String {
    format!("{v} ({:#x})", v as u64)
}

/// A value as a case states or gets it: `3 (0x3)`, `3.75 (0x400e000000000000)`, `1.5f32 (0x3fc00000)`.
fn show_value(v: Value) -> String {
    match v {
        Value::Int(n) => value(n),
        Value::F64(b) => format!("{:?} ({b:#x})", f64::from_bits(b)),
        Value::F32(b) => format!("{:?} as f32 ({b:#x})", f32::from_bits(b)),
    }
}

/// The result a case got, read the way its expectation reads.
fn got(reading: Reading, regs: &[u64; 16], xmm0: u128) -> Value {
    match reading {
        Reading::Int => Value::Int(regs[0] as i64),
        Reading::F64 => Value::F64(xmm0 as u64),
        Reading::F32 => Value::F32(xmm0 as u32),
    }
}

/// The place of a float's bits on a line where the ordering of values follows the ordering of integers; +0 and
/// -0 both at 0.
fn ordered(bits: u64, sign: u64) -> i128 {
    let magnitude = i128::from(bits & !sign);
    if bits & sign != 0 { -magnitude } else { magnitude }
}

/// Whether a result matches an expected value: integers exactly; floats bit for bit (an expected NaN matching any
/// NaN), or within `ulps` units in the last place.
fn matches(want: Value, got: Value, ulps: Option<u64>) -> bool {
    let within = |a: u64, b: u64, sign: u64| match ulps {
        Some(n) => (ordered(a, sign) - ordered(b, sign)).unsigned_abs() <= u128::from(n),
        None => a == b,
    };
    match (want, got) {
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::F64(a), Value::F64(b)) => {
            let (x, y) = (f64::from_bits(a), f64::from_bits(b));
            if x.is_nan() || y.is_nan() {
                x.is_nan() && y.is_nan()
            } else {
                within(a, b, 1 << 63)
            }
        }
        (Value::F32(a), Value::F32(b)) => {
            let (x, y) = (f32::from_bits(a), f32::from_bits(b));
            if x.is_nan() || y.is_nan() {
                x.is_nan() && y.is_nan()
            } else {
                within(u64::from(a), u64::from(b), 1 << 31)
            }
        }
        _ => false,
    }
}

impl Outcome {
    /// One line saying what happened, with the faulting source line when there is one.
    pub fn describe(&self, code: Option<&Code>) -> String {
        self.describe_as(code, true, Reading::Int)
    }

    /// [`Outcome::describe`] without addresses that change from run to run, for snapshots: a fault outside the
    /// code at an address above the first 64 KiB (a stack or heap address) is shown without it. Low addresses
    /// (null and near) stay.
    pub(crate) fn describe_stable(&self, code: Option<&Code>) -> String {
        self.describe_as(code, false, Reading::Int)
    }

    fn describe_as(&self, code: Option<&Code>, far_addresses: bool, reading: Reading) -> String {
        match self {
            Outcome::Returned { regs, xmm0, .. } => match got(reading, regs, *xmm0) {
                Value::Int(v) => format!("returned {}", value(v)),
                Value::F64(b) => format!("returned {:?} (xmm0 {b:#x})", f64::from_bits(b)),
                Value::F32(b) => format!("returned {:?} as f32 (xmm0 {b:#x})", f32::from_bits(b)),
            },
            Outcome::Faulted {
                signal,
                offset: Some(off),
                ..
            } => {
                let name = signal_name(*signal);
                match code.and_then(|c| c.entry_at(*off).map(|e| c.text(e).to_string())) {
                    Some(text) => format!("{name} at +{off:#x}: {text}"),
                    None => format!("{name} at +{off:#x} (past the end of the code, in the RET fill)"),
                }
            }
            Outcome::Faulted {
                signal,
                offset: None,
                rip,
            } if *rip >= 0x1_0000 && !far_addresses => {
                format!(
                    "{} outside the code (at a stack, heap or mapped address)",
                    signal_name(*signal)
                )
            }
            Outcome::Faulted {
                signal,
                offset: None,
                rip,
            } => {
                format!("{} at {rip:#x} (outside the code)", signal_name(*signal))
            }
            Outcome::TimedOut(t) => format!("timed out after {} ms", t.as_millis()),
            Outcome::BrokeConvention(broken) => {
                let why: Vec<&str> = broken.iter().map(|b| b.message.as_str()).collect();
                format!("broke the calling convention: {}", why.join("; "))
            }
            Outcome::Died(how) => format!("crashed: {how}"),
            Outcome::LoadFailed(why) => format!("could not be loaded: {why}"),
            Outcome::NotRun => "not run".into(),
            Outcome::Held(text) | Outcome::Counterexample(text) => text.clone(),
        }
    }
}

/// Why a case or property without errors that has no outcome fails.
const NO_OUTCOME: &str = "not run: the harness received no outcome for it";

/// What a case asserts, in words; `None` if it asserts nothing.
fn expected(case: &Case) -> Option<String> {
    let e = &case.expect;
    let mut parts = Vec::new();
    if let Some(v) = e.returns {
        parts.push(format!("returns {}", show_value(v)));
    }
    if let Some(n) = e.ulps {
        parts.push(format!("within {n} ulps"));
    }
    if let Some(sig) = e.fault {
        parts.push(format!("faults with {}", signal_name(sig)));
    }
    if let Some(b) = e.breaks {
        parts.push(format!("breaks the calling convention ({})", b.name()));
    }
    if let Some(m) = &e.memory_after {
        parts.push(format!("memory after {}", hex_bytes(m)));
    }
    if let Some(b) = &e.bytes {
        parts.push(format!("bytes {}", hex_bytes(b)));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

impl CaseReport {
    fn new(case: &Case, outcome: &Outcome) -> CaseReport {
        let code = case.code.as_ref().ok().cloned();
        let reading = Reading::of(case.expect.returns);
        let mut fails = Vec::new();
        match &case.code {
            Err(errors) => fails.extend(errors.iter().map(|e| e.to_string())),
            Ok(code) => {
                if let Some(want) = &case.expect.bytes
                    && want.as_slice() != code.bytes()
                {
                    fails.push(format!(
                        "bytes are {}, expected {}",
                        hex_bytes(code.bytes()),
                        hex_bytes(want)
                    ));
                }
            }
        }
        let describe = |o: &Outcome| o.describe_as(code.as_ref(), true, reading);
        match (outcome, case.expect.fault, case.expect.breaks) {
            // A case with errors is not run (its errors are its failures); any other without an outcome fails.
            (Outcome::NotRun, _, _) if !fails.is_empty() => {}
            (Outcome::NotRun, _, _) => fails.push(NO_OUTCOME.into()),
            (Outcome::Faulted { signal, .. }, Some(want), _) if *signal == want => {}
            (_, Some(want), _) => fails.push(format!("expected {}; got: {}", signal_name(want), describe(outcome))),
            (Outcome::BrokeConvention(broken), None, Some(want)) if broken.iter().any(|b| b.kind == want) => {}
            (_, None, Some(want)) => fails.push(format!(
                "expected a calling-convention break ({}); got: {}",
                want.name(),
                describe(outcome)
            )),
            (Outcome::Returned { regs, xmm0, memory, .. }, None, None) => {
                if let Some(want) = case.expect.returns {
                    let result = got(reading, regs, *xmm0);
                    if !matches(want, result, case.expect.ulps) {
                        let within = case.expect.ulps.map_or(String::new(), |n| format!(" within {n} ulps"));
                        fails.push(format!(
                            "returned {}, expected {}{within}",
                            show_value(result),
                            show_value(want)
                        ));
                    }
                }
                if let (Some(want), Some(got)) = (&case.expect.memory_after, memory)
                    && want != got
                {
                    fails.push(format!(
                        "memory after is {}, expected {}",
                        hex_bytes(got),
                        hex_bytes(want)
                    ));
                }
            }
            (other, None, None) => fails.push(describe(other)),
        }
        CaseReport {
            name: case.name.clone(),
            line: case.line,
            expected: expected(case),
            code,
            reference: None,
            outcome: outcome.clone(),
            verdict: verdict(fails),
            state: case.state,
            reading,
        }
    }

    fn property(p: &Property, outcome: &Outcome) -> CaseReport {
        let mut fails: Vec<String> = [&p.code, &p.reference]
            .into_iter()
            .filter_map(|c| c.as_ref().err())
            .flatten()
            .map(|e| e.to_string())
            .collect();
        match outcome {
            Outcome::Held(_) => {}
            Outcome::NotRun if !fails.is_empty() => {}
            Outcome::NotRun => fails.push(NO_OUTCOME.into()),
            other => fails.push(other.describe(None)),
        }
        let types: Vec<String> = p.args.iter().map(|&t| type_name(t)).collect();
        CaseReport {
            name: p.name.clone(),
            line: p.line,
            expected: Some(format!(
                "asm and reference agree on ({}) -> {}",
                types.join(", "),
                type_name(p.returns)
            )),
            code: p.code.as_ref().ok().cloned(),
            reference: p.reference.as_ref().ok().cloned(),
            outcome: outcome.clone(),
            verdict: verdict(fails),
            state: false,
            reading: Reading::Int,
        }
    }

    /// What running it did, in one line (the same words [`CaseReport::line`] uses).
    pub fn outcome_text(&self) -> String {
        self.outcome.describe_as(self.code.as_ref(), true, self.reading)
    }

    /// True if the case passed.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// One line: `PASS name: outcome` or `FAIL name: reasons`.
    pub fn line(&self) -> String {
        match &self.verdict {
            Verdict::Pass => format!("PASS {}: {}", self.name, self.outcome_text()),
            Verdict::Fail(why) => format!("FAIL {}: {}", self.name, why.join("; ")),
        }
    }
}

fn verdict(fails: Vec<String>) -> Verdict {
    if fails.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(fails)
    }
}

/// `i32`, `u8`, `f64`, `[-100, 100]`.
fn type_name(t: super::file::ArgType) -> String {
    use super::file::ArgType;
    match t {
        ArgType::Int { bits, signed } => format!("{}{bits}", if signed { 'i' } else { 'u' }),
        ArgType::Range(lo, hi) => format!("[{lo}, {hi}]"),
        ArgType::F32 => "f32".into(),
        ArgType::F64 => "f64".into(),
    }
}

/// An xmm register's value for `state`: hex lanes, and the float it reads as when only a low lane is set.
fn xmm_text(v: u128) -> String {
    let (hi, lo) = ((v >> 64) as u64, v as u64);
    let reads = if hi != 0 {
        String::new()
    } else if lo >> 32 == 0 {
        format!("  (f32 {:?})", f32::from_bits(lo as u32))
    } else {
        format!("  (f64 {:?})", f64::from_bits(lo))
    };
    format!("{hi:016x}_{lo:016x}{reads}")
}

impl FileReport {
    /// The report of a run: the outcomes of the file's cases, then of its properties, in file order.
    pub fn new(file: &VectorFile, cases: &[Outcome], properties: &[Outcome]) -> FileReport {
        let mut reports: Vec<CaseReport> = file
            .cases
            .iter()
            .zip(cases)
            .map(|(c, o)| CaseReport::new(c, o))
            .collect();
        reports.extend(
            file.properties
                .iter()
                .zip(properties)
                .map(|(p, o)| CaseReport::property(p, o)),
        );
        FileReport {
            path: file.path.clone(),
            errors: file.errors.clone(),
            cases: reports,
        }
    }

    /// The report of a file that could not be read.
    pub fn unreadable(path: &Path, error: VectorError) -> FileReport {
        FileReport {
            path: path.to_path_buf(),
            errors: vec![error],
            cases: Vec::new(),
        }
    }

    /// True if the file had no problems and every case passed.
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.cases.iter().all(CaseReport::passed)
    }

    /// Number of passed and failed cases.
    pub fn counts(&self) -> (usize, usize) {
        let passed = self.cases.iter().filter(|c| c.passed()).count();
        (passed, self.cases.len() - passed)
    }

    /// The text for a snapshot: deterministic (file name only, no addresses, no timings) and for people.
    pub fn snapshot(&self) -> String {
        let mut out = String::new();
        let name = self
            .path
            .file_name()
            .map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into());
        let (passed, failed) = self.counts();
        let _ = writeln!(
            out,
            "# {name}: {} cases, {passed} passed, {failed} failed",
            self.cases.len()
        );
        for e in &self.errors {
            let _ = writeln!(out, "{name}:{}:{}: error: {}", e.line, e.col, e.message);
        }
        for case in &self.cases {
            let verdict = if case.passed() { "pass" } else { "FAIL" };
            match &case.reference {
                None => {
                    let _ = writeln!(out, "\n## {}: {verdict}", case.name);
                    if let Some(code) = &case.code {
                        out.push_str(&code.listing().to_string());
                    }
                }
                Some(reference) => {
                    let _ = writeln!(out, "\n## {} (property): {verdict}", case.name);
                    if let Some(code) = &case.code {
                        let _ = writeln!(out, "asm:\n{}reference:", code.listing());
                    }
                    out.push_str(&reference.listing().to_string());
                }
            }
            let _ = writeln!(
                out,
                "{}",
                case.outcome.describe_as(case.code.as_ref(), false, case.reading)
            );
            if let Outcome::Returned {
                regs,
                xmm,
                flags,
                memory,
                ..
            } = &case.outcome
            {
                if case.state {
                    state(&mut out, regs, xmm.as_deref(), *flags);
                }
                if let Some(m) = memory {
                    let _ = writeln!(out, "memory after: {}", hex_bytes(m));
                }
            }
            if let Verdict::Fail(why) = &case.verdict {
                // The reasons as the command line gives them, with the outcome in its stable words.
                let (described, stable) = (
                    case.outcome.describe_as(case.code.as_ref(), true, case.reading),
                    case.outcome.describe_as(case.code.as_ref(), false, case.reading),
                );
                for w in why {
                    let w = w.replace(&described, &stable);
                    let _ = writeln!(out, "FAIL: {}", w.replace(&self.path.display().to_string(), &name));
                }
            }
        }
        out
    }
}

/// The registers (callee-saved canaries by name, rsp as its distance from balance), the non-zero xmm registers
/// and the flags, for a case with `state = true`.
fn state(out: &mut String, regs: &[u64; 16], xmm: Option<&[u128; 16]>, flags: u64) {
    for row in [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]] {
        let cells: Vec<String> = row
            .iter()
            .map(|&r| {
                let shown = match (r, reg_value(r, regs[r])) {
                    (4, _) => format!("{:+}", regs[4] as i64),
                    (_, v) if v.starts_with("its") => "canary".into(),
                    _ => format!("{:#018x}", regs[r]),
                };
                format!("{:<3} {shown:<18}", REGS[r])
            })
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    for (i, &v) in xmm.into_iter().flatten().enumerate().filter(|&(_, &v)| v != 0) {
        let _ = writeln!(out, "  {:<5} {}", format!("xmm{i}"), xmm_text(v));
    }
    let shown: Vec<String> = FLAGS
        .iter()
        .map(|(n, bit)| format!("{n}={}", (flags >> bit) & 1))
        .collect();
    let _ = writeln!(out, "  flags: {}", shown.join(" "));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::Break;

    #[test]
    fn floats_match_bit_for_bit_or_within_ulps() {
        let f = |x: f64| Value::F64(x.to_bits());
        assert!(matches(f(3.75), f(3.75), None));
        assert!(!matches(f(0.0), f(-0.0), None));
        assert!(matches(f(0.0), f(-0.0), Some(0)));
        assert!(matches(f(f64::NAN), Value::F64(0x7ff8_0000_0000_0001), None));
        assert!(!matches(f(f64::NAN), f(1.0), Some(u64::MAX)));
        let next = f64::from_bits(1.0f64.to_bits() + 2);
        assert!(!matches(f(1.0), f(next), Some(1)) && matches(f(1.0), f(next), Some(2)));
        // Across zero: the smallest subnormals either side are 2 ulps apart.
        assert!(matches(Value::F64(1), Value::F64((1 << 63) | 1), Some(2)));
        assert!(!matches(Value::F64(1), Value::F64((1 << 63) | 1), Some(1)));
        assert!(matches(Value::F32(0x3fc0_0000), Value::F32(0x3fc0_0001), Some(1)));
        assert!(!matches(Value::F32(0x3fc0_0000), Value::F64(0x3fc0_0000), None));
    }

    #[test]
    fn xmm_registers_read_as_floats_where_they_can() {
        assert_eq!(
            xmm_text(u128::from(3.75f64.to_bits())),
            "0000000000000000_400e000000000000  (f64 3.75)"
        );
        assert_eq!(
            xmm_text(u128::from(1.5f32.to_bits())),
            "0000000000000000_000000003fc00000  (f32 1.5)"
        );
        assert_eq!(xmm_text(1 << 64), "0000000000000001_0000000000000000");
    }

    #[test]
    fn break_names_round_trip() {
        for name in Break::NAMES {
            assert_eq!(Break::from_name(name).map(Break::name), Some(name));
        }
        assert_eq!(Break::from_name("RBX"), Some(Break::Reg(3)));
        assert_eq!(Break::from_name("rax"), None);
    }
}
