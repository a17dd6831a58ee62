//! What a vector file's run is shown as: one line per case for the command line, and a full, deterministic text
//! per file for snapshots (listing, outcome, registers and flags) — no addresses, no timings.

use super::file::{REGS, VectorError, VectorFile, signal_name};
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

/// One case's result.
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
    /// What running it did.
    pub outcome: Outcome,
    /// Pass or fail.
    pub verdict: Verdict,
    /// Show registers and flags.
    pub state: bool,
}

/// A file's results.
#[derive(Clone, Debug)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Problems with the file itself (a file with problems fails).
    pub errors: Vec<VectorError>,
    /// The cases that could be read.
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

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// `3 (0x3)`, `-1 (0xffffffffffffffff)`.
fn value(v: i64) -> String {
    format!("{v} ({:#x})", v as u64)
}

impl Outcome {
    /// One line saying what happened, with the faulting source line when there is one.
    pub fn describe(&self, code: Option<&Code>) -> String {
        self.describe_as(code, true)
    }

    /// [`Outcome::describe`] without addresses that change from run to run, for snapshots: a fault outside the
    /// code at an address above the first 64 KiB (a stack or heap address) is shown without it. Low addresses
    /// (null and near) stay.
    fn describe_stable(&self, code: Option<&Code>) -> String {
        self.describe_as(code, false)
    }

    fn describe_as(&self, code: Option<&Code>, far_addresses: bool) -> String {
        match self {
            Outcome::Returned { regs, .. } => format!("returned {}", value(regs[0] as i64)),
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
            Outcome::BrokeConvention(why) => format!("broke the calling convention: {why}"),
            Outcome::Died(how) => format!("crashed: {how}"),
            Outcome::LoadFailed(why) => format!("could not be loaded: {why}"),
            Outcome::NotRun => "not run".into(),
        }
    }
}

/// What a case asserts, in words; `None` if it asserts nothing.
fn expected(case: &super::Case) -> Option<String> {
    let e = &case.expect;
    let mut parts = Vec::new();
    if let Some(v) = e.returns {
        parts.push(format!("returns {}", value(v)));
    }
    if let Some(sig) = e.fault {
        parts.push(format!("faults with {}", signal_name(sig)));
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
    fn new(case: &super::Case, outcome: &Outcome) -> CaseReport {
        let code = case.code.as_ref().ok().cloned();
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
        match (outcome, case.expect.fault) {
            (Outcome::NotRun, _) => {}
            (Outcome::Faulted { signal, .. }, Some(want)) if *signal == want => {}
            (_, Some(want)) => fails.push(format!(
                "expected {}; got: {}",
                signal_name(want),
                outcome.describe(code.as_ref())
            )),
            (Outcome::Returned { regs, memory, .. }, None) => {
                let rax = regs[0] as i64;
                if let Some(want) = case.expect.returns
                    && rax != want
                {
                    fails.push(format!("returned {}, expected {}", value(rax), value(want)));
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
            (other, None) => fails.push(other.describe(code.as_ref())),
        }
        let verdict = if fails.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail(fails)
        };
        CaseReport {
            name: case.name.clone(),
            line: case.line,
            expected: expected(case),
            code,
            outcome: outcome.clone(),
            verdict,
            state: case.state,
        }
    }

    /// What running it did, in one line (the same words [`CaseReport::line`] uses).
    pub fn outcome_text(&self) -> String {
        self.outcome.describe(self.code.as_ref())
    }

    /// True if the case passed.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// One line: `PASS name: outcome` or `FAIL name: reasons`.
    pub fn line(&self) -> String {
        match &self.verdict {
            Verdict::Pass => format!("PASS {}: {}", self.name, self.outcome.describe(self.code.as_ref())),
            Verdict::Fail(why) => format!("FAIL {}: {}", self.name, why.join("; ")),
        }
    }
}

impl FileReport {
    /// The report of a run.
    pub fn new(file: &VectorFile, outcomes: &[Outcome]) -> FileReport {
        let cases = file
            .cases
            .iter()
            .zip(outcomes)
            .map(|(c, o)| CaseReport::new(c, o))
            .collect();
        FileReport {
            path: file.path.clone(),
            errors: file.errors.clone(),
            cases,
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
            let _ = writeln!(out, "\n## {}: {verdict}", case.name);
            if let Some(code) = &case.code {
                out.push_str(&code.listing().to_string());
            }
            let _ = writeln!(out, "{}", case.outcome.describe_stable(case.code.as_ref()));
            if let Outcome::Returned { regs, flags, memory } = &case.outcome {
                if case.state {
                    for row in [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]] {
                        let cells: Vec<String> = row
                            .iter()
                            .map(|&r| {
                                if r == 4 {
                                    format!("{:<3} {:<18}", "rsp", format!("{:+}", regs[4] as i64))
                                } else {
                                    format!("{:<3} {:#018x}", REGS[r], regs[r])
                                }
                            })
                            .collect();
                        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
                    }
                    let shown: Vec<String> = FLAGS
                        .iter()
                        .map(|(n, bit)| format!("{n}={}", (flags >> bit) & 1))
                        .collect();
                    let _ = writeln!(out, "  flags: {}", shown.join(" "));
                }
                if let Some(m) = memory {
                    let _ = writeln!(out, "memory after: {}", hex_bytes(m));
                }
            }
            if let Verdict::Fail(why) = &case.verdict {
                // The reasons as the command line gives them, with the outcome in its stable words.
                let (described, stable) = (
                    case.outcome.describe(case.code.as_ref()),
                    case.outcome.describe_stable(case.code.as_ref()),
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
