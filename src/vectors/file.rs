//! Vector files: the TOML schema, checked strictly (unknown keys, wrong types, duplicate names), and the cases
//! ready to run — assembled, with their registers, memory and expectations.
//!
//! Every problem is a [`VectorError`] at `FILE:LINE:COL`; a file with problems still yields its good cases, so a
//! typo in one case does not hide the results of the others.

use crate::{AsmErrors, Code};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Register names a case may set or see, in the encoder's order (rax = 0 ... r15 = 15).
pub const REGS: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
];

/// The System V integer argument registers, by number in [`REGS`].
pub const ARG_REGS: [usize; 6] = [7, 6, 2, 1, 8, 9];

/// The registers a function must preserve (System V), by number in [`REGS`].
pub const CALLEE_SAVED: [usize; 6] = [3, 5, 12, 13, 14, 15];

/// A problem with a vector file, at a position in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong, as a sentence.
    pub message: String,
}

impl fmt::Display for VectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// An integer written as a TOML integer or as a string (`"0xffffffffffffffff"`, `"-5"`, `"0b101"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Int {
    Number(i64),
    Text(String),
}

impl Int {
    /// The value as the 64-bit pattern a register holds.
    fn value(&self) -> Result<i64, String> {
        match self {
            Int::Number(n) => Ok(*n),
            Int::Text(s) => parse_int(s).ok_or_else(|| {
                format!("`{s}` is not an integer; write a number, or a string such as \"0xffffffffffffffff\" or \"-5\"")
            }),
        }
    }
}

/// Decimal, `0x` hex or `0b` binary, optionally negative, up to 64 bits (signed or unsigned).
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim().replace('_', "");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.as_str()),
    };
    let lower = digits.to_ascii_lowercase();
    let magnitude = if let Some(hex) = lower.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = lower.strip_prefix("0b") {
        u64::from_str_radix(bin, 2).ok()?
    } else {
        lower.parse::<u64>().ok()?
    };
    if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        Some(magnitude as i64)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSchema {
    #[serde(default)]
    case: Vec<Spanned<CaseSchema>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSchema {
    name: Spanned<String>,
    asm: Spanned<String>,
    #[serde(default)]
    args: Vec<Spanned<Int>>,
    returns: Option<Spanned<Int>>,
    bytes: Option<Spanned<String>>,
    fault: Option<Spanned<String>>,
    timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    regs: BTreeMap<Spanned<String>, Spanned<Int>>,
    memory: Option<Spanned<String>>,
    memory_after: Option<Spanned<String>>,
    #[serde(default)]
    state: bool,
    #[serde(default = "yes")]
    preserve: bool,
}

fn yes() -> bool {
    true
}

/// The signals a case may expect with `fault = "..."`.
pub const SIGNALS: [(&str, i32); 5] = [
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGBUS", libc::SIGBUS),
    ("SIGILL", libc::SIGILL),
    ("SIGFPE", libc::SIGFPE),
    ("SIGTRAP", libc::SIGTRAP),
];

/// The name of a signal number.
pub fn signal_name(signal: i32) -> String {
    match SIGNALS.iter().find(|(_, n)| *n == signal) {
        Some((name, _)) => (*name).to_string(),
        None if signal == libc::SIGKILL => "SIGKILL".into(),
        None if signal == libc::SIGABRT => "SIGABRT".into(),
        None => format!("signal {signal}"),
    }
}

/// What a case asserts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// `returns`: the value of rax.
    pub returns: Option<i64>,
    /// `bytes`: the encoding.
    pub bytes: Option<Vec<u8>>,
    /// `fault`: the signal.
    pub fault: Option<i32>,
    /// `memory_after`: the buffer after the call.
    pub memory_after: Option<Vec<u8>>,
}

/// One case, ready to run.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique within its file.
    pub name: String,
    /// 1-based line of the case's `[[case]]` table.
    pub line: usize,
    /// The assembled code, or the case's assembly errors (already at file positions).
    pub code: Result<Code, Vec<VectorError>>,
    /// Initial values of the 16 general registers (rsp is ignored), in [`REGS`] order.
    pub regs: [u64; 16],
    /// The buffer whose address goes in rdi, if any.
    pub memory: Option<Vec<u8>>,
    /// What the case asserts.
    pub expect: Expect,
    /// How long the case may run.
    pub timeout: Duration,
    /// Record all registers and flags in the report.
    pub state: bool,
    /// Check rbx, rbp, r12–r15 and the stack after the call.
    pub preserve: bool,
}

/// A vector file: its cases and its problems.
#[derive(Clone, Debug)]
pub struct VectorFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The cases that could be read, in file order.
    pub cases: Vec<Case>,
    /// Problems with the file: syntax, schema, duplicate names, bad values. (Assembly errors belong to their case.)
    pub errors: Vec<VectorError>,
}

/// Maps byte offsets of a text to 1-based line and column (in characters).
struct Positions<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Positions<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Positions { text, line_starts }
    }

    fn at(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line, col)
    }
}

impl VectorFile {
    /// Reads and checks a vector file. An unreadable file is an `Err`; everything else is in the result.
    pub fn read(path: &Path) -> Result<VectorFile, VectorError> {
        let text = std::fs::read_to_string(path).map_err(|e| VectorError {
            file: path.to_path_buf(),
            line: 1,
            col: 1,
            message: format!("cannot read the file: {e}"),
        })?;
        Ok(VectorFile::parse(path, &text))
    }

    /// Checks the text of a vector file.
    pub fn parse(path: &Path, text: &str) -> VectorFile {
        let pos = Positions::new(text);
        let mut file = VectorFile {
            path: path.to_path_buf(),
            cases: Vec::new(),
            errors: Vec::new(),
        };
        let error_at = |offset: usize, message: String| {
            let (line, col) = pos.at(offset);
            VectorError {
                file: path.to_path_buf(),
                line,
                col,
                message,
            }
        };
        let schema: FileSchema = match toml::from_str(text) {
            Ok(s) => s,
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start);
                file.errors.push(error_at(offset, e.message().trim().to_string()));
                return file;
            }
        };
        let mut names = HashSet::new();
        for case in schema.case {
            let case_at = case.span().start;
            let case = case.into_inner();
            let mut errors = Vec::new();
            let name = case.name.get_ref().clone();
            if name.is_empty() {
                errors.push(error_at(
                    case.name.span().start,
                    "the case name is empty; give every case a name".into(),
                ));
            }
            if !names.insert(name.clone()) {
                errors.push(error_at(
                    case.name.span().start,
                    format!("duplicate case name `{name}`; names must be unique within a file"),
                ));
            }
            let mut regs = [0u64; 16];
            let mut set_by = [None::<&str>; 16];
            let mut args = case.args.iter();
            let mut arg_regs = ARG_REGS.iter();
            let memory = match &case.memory {
                Some(m) => match parse_hex(m.get_ref()) {
                    Ok(bytes) => {
                        arg_regs.next(); // rdi holds the buffer's address
                        set_by[7] = Some("memory");
                        Some(bytes)
                    }
                    Err(why) => {
                        errors.push(error_at(m.span().start, format!("`memory`: {why}")));
                        None
                    }
                },
                None => None,
            };
            for arg in args.by_ref() {
                let Some(&r) = arg_regs.next() else {
                    let room = if memory.is_some() {
                        "five (rdi holds the memory buffer)"
                    } else {
                        "six"
                    };
                    errors.push(error_at(
                        arg.span().start,
                        format!("too many arguments: at most {room} fit in registers"),
                    ));
                    break;
                };
                match arg.get_ref().value() {
                    Ok(v) => regs[r] = v as u64,
                    Err(why) => errors.push(error_at(arg.span().start, why)),
                }
                set_by[r] = Some("args");
            }
            for (reg, value) in &case.regs {
                let lower = reg.get_ref().to_ascii_lowercase();
                let Some(r) = REGS.iter().position(|n| *n == lower) else {
                    errors.push(error_at(
                        reg.span().start,
                        format!("`{}` is not a general register; use rax, rbx, ..., r15", reg.get_ref()),
                    ));
                    continue;
                };
                if r == 4 {
                    errors.push(error_at(
                        reg.span().start,
                        "`rsp` cannot be set: the harness owns the stack".into(),
                    ));
                    continue;
                }
                if let Some(by) = set_by[r] {
                    errors.push(error_at(
                        reg.span().start,
                        format!("`{lower}` is already set by `{by}`"),
                    ));
                    continue;
                }
                match value.get_ref().value() {
                    Ok(v) => regs[r] = v as u64,
                    Err(why) => errors.push(error_at(value.span().start, why)),
                }
            }
            let mut expect = Expect::default();
            if let Some(r) = &case.returns {
                match r.get_ref().value() {
                    Ok(v) => expect.returns = Some(v),
                    Err(why) => errors.push(error_at(r.span().start, why)),
                }
            }
            if let Some(b) = &case.bytes {
                match parse_hex(b.get_ref()) {
                    Ok(bytes) => expect.bytes = Some(bytes),
                    Err(why) => errors.push(error_at(b.span().start, format!("`bytes`: {why}"))),
                }
            }
            if let Some(m) = &case.memory_after {
                match (parse_hex(m.get_ref()), &memory) {
                    (Ok(bytes), Some(_)) => expect.memory_after = Some(bytes),
                    (Ok(_), None) => errors.push(error_at(
                        m.span().start,
                        "`memory_after` needs a `memory` buffer to compare with".into(),
                    )),
                    (Err(why), _) => errors.push(error_at(m.span().start, format!("`memory_after`: {why}"))),
                }
            }
            if let Some(f) = &case.fault {
                let wanted = f.get_ref().to_ascii_uppercase();
                match SIGNALS.iter().find(|(n, _)| *n == wanted || n[3..] == wanted) {
                    Some((_, sig)) => expect.fault = Some(*sig),
                    None => errors.push(error_at(
                        f.span().start,
                        format!(
                            "`{}` is not a fault the harness catches; use SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGTRAP",
                            f.get_ref()
                        ),
                    )),
                }
            }
            if expect.fault.is_some() && expect.returns.is_some() {
                errors.push(error_at(
                    case_at,
                    "a case cannot both return a value and fault; keep one of `returns` and `fault`".into(),
                ));
            }
            let timeout_ms = case.timeout_ms.as_ref().map_or(1000, |t| *t.get_ref());
            if !(1..=600_000).contains(&timeout_ms) {
                let at = case.timeout_ms.as_ref().map_or(case_at, |t| t.span().start);
                errors.push(error_at(at, "`timeout_ms` must be between 1 and 600000".into()));
            }
            let code = assemble_at(&case.asm, text, &pos, path);
            if !errors.is_empty() {
                file.errors.extend(errors);
                continue;
            }
            file.cases.push(Case {
                name,
                line: pos.at(case_at).0,
                code,
                regs,
                memory,
                expect,
                timeout: Duration::from_millis(timeout_ms),
                state: case.state,
                preserve: case.preserve,
            });
        }
        file.errors.sort_by_key(|e| (e.line, e.col));
        file
    }
}

/// `"48 c7 c0"` or `"48c7c0"` to bytes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits; write whole bytes such as \"48 c7 c0\"".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(s, 16).map_err(|_| format!("`{s}` is not a hex byte"))
        })
        .collect()
}

/// Assembles a case's `asm` and moves the errors' positions from the string to the file. Literal and
/// multi-line strings map exactly; a basic string with escapes maps to its first character.
fn assemble_at(asm: &Spanned<String>, text: &str, pos: &Positions<'_>, path: &Path) -> Result<Code, Vec<VectorError>> {
    let source = asm.get_ref();
    let errors: AsmErrors = match crate::assemble(source) {
        Ok(code) => return Ok(code),
        Err(e) => e,
    };
    let span = asm.span();
    let raw = text.get(span.clone()).unwrap_or("");
    let (open, close) = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        (3, 3)
    } else {
        (1, 1)
    };
    let mut content_start = span.start + open;
    let mut content = raw.get(open..raw.len().saturating_sub(close)).unwrap_or("");
    if open == 3 {
        // TOML trims a newline right after the opening delimiter.
        if let Some(rest) = content.strip_prefix("\r\n") {
            content = rest;
            content_start += 2;
        } else if let Some(rest) = content.strip_prefix('\n') {
            content = rest;
            content_start += 1;
        }
    }
    let exact = content == source.as_str();
    Err(errors
        .iter()
        .map(|e| {
            let offset = if exact {
                content_start + e.span.start as usize
            } else {
                span.start
            };
            let (line, col) = pos.at(offset);
            let message = if exact {
                e.kind.to_string()
            } else {
                format!("{} (at line {}, column {} of `asm`)", e.kind, e.span.line, e.span.col)
            };
            VectorError {
                file: path.to_path_buf(),
                line,
                col,
                message,
            }
        })
        .collect())
}
