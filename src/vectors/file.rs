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

/// A value of a case: an integer (a general register's 64 bits) or a float (an xmm register's low lane).
///
/// ```
/// use rustyjit::vectors::{Value, VectorFile};
/// let text = "[[case]]\nname = \"a\"\nasm = \"ret\"\nargs = [1, 2.5, { f32 = 1.5 }]\nreturns = 2.5\n";
/// let file = VectorFile::parse(std::path::Path::new("t.toml"), text);
/// let case = &file.cases[0];
/// assert_eq!(case.regs[7], 1); // rdi
/// assert_eq!(case.xmm[..2], [u128::from(2.5f64.to_bits()), u128::from(1.5f32.to_bits())]);
/// assert_eq!(case.expect.returns, Some(Value::F64(2.5f64.to_bits())));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// 64 bits, written signed or as the unsigned pattern.
    Int(i64),
    /// An `f64`, as its bits.
    F64(u64),
    /// An `f32`, as its bits.
    F32(u32),
}

impl Value {
    /// True for the float kinds.
    pub fn is_float(self) -> bool {
        !matches!(self, Value::Int(_))
    }

    /// The value as an xmm register's 128 bits (a float in the low lane, the rest zero).
    pub fn xmm_bits(self) -> u128 {
        match self {
            Value::Int(v) => u128::from(v as u64),
            Value::F64(b) => u128::from(b),
            Value::F32(b) => u128::from(b),
        }
    }
}

/// What a TOML value is as an integer: a TOML integer, or a string such as `"0xffffffffffffffff"` or `"-5"`.
fn int_value(v: &toml::Value) -> Result<i64, String> {
    match v {
        toml::Value::Integer(n) => Ok(*n),
        toml::Value::String(s) => parse_int(s).ok_or_else(|| {
            format!("`{s}` is not an integer; write a number, or a string such as \"0xffffffffffffffff\" or \"-5\"")
        }),
        other => Err(format!(
            "expected an integer, found {}; write a number, or a string such as \"0xff\"",
            toml_kind(other)
        )),
    }
}

/// What a TOML value is as a case value: an integer (as [`int_value`]), a TOML float (an f64), or one of the tables
/// `{ f64 = 1.5 }`, `{ f32 = 1.5 }`, `{ f64_bits = "0x..." }`, `{ f32_bits = "0x..." }`.
fn case_value(v: &toml::Value) -> Result<Value, String> {
    match v {
        toml::Value::Float(f) => Ok(Value::F64(f.to_bits())),
        toml::Value::Table(t) => float_table(t),
        toml::Value::Integer(_) | toml::Value::String(_) => int_value(v).map(Value::Int),
        other => Err(format!(
            "expected an integer, a float or a table such as {{ f32 = 1.5 }}, found {}",
            toml_kind(other)
        )),
    }
}

/// `{ f64 = .. }`, `{ f32 = .. }`, `{ f64_bits = .. }` or `{ f32_bits = .. }`: exactly one key.
fn float_table(t: &toml::Table) -> Result<Value, String> {
    const KEYS: &str = "`f64`, `f32`, `f64_bits` or `f32_bits`";
    let mut entries = t.iter();
    let (Some((key, v)), None) = (entries.next(), entries.next()) else {
        return Err(format!("a float table has exactly one key: {KEYS}"));
    };
    let float = |v: &toml::Value| match v {
        toml::Value::Float(f) => Ok(*f),
        toml::Value::Integer(n) if n.unsigned_abs() <= 1 << 53 => Ok(*n as f64),
        other => Err(format!("`{key}` takes a float such as 1.5, found {}", toml_kind(other))),
    };
    let bits = |v: &toml::Value, max: u64| {
        let b = int_value(v)? as u64;
        if b > max {
            return Err(format!("`{key}` = {b:#x} does not fit in {} bits", max.count_ones()));
        }
        Ok(b)
    };
    match key.as_str() {
        "f64" => Ok(Value::F64(float(v)?.to_bits())),
        "f32" => Ok(Value::F32((float(v)? as f32).to_bits())),
        "f64_bits" => Ok(Value::F64(bits(v, u64::MAX)?)),
        "f32_bits" => Ok(Value::F32(bits(v, u64::from(u32::MAX))? as u32)),
        other => Err(format!("unknown key `{other}` in a float table; use {KEYS}")),
    }
}

/// An xmm register's initial value: a float form (low lane), or a string of up to 128 bits for the whole register.
fn xmm_value(v: &toml::Value) -> Result<u128, String> {
    match v {
        toml::Value::String(s) => parse_u128(s).ok_or_else(|| {
            format!("`{s}` is not a 128-bit pattern; write a float, {{ f32 = 1.5 }}, or hex such as \"0x3ff0000000000000\"")
        }),
        toml::Value::Integer(_) => Err(
            "an xmm register takes a float (1.0), { f32 = 1.5 }, { f64_bits = \"0x..\" } or a string of up to 128 bits (\"0x..\")".into(),
        ),
        _ => case_value(v).map(Value::xmm_bits),
    }
}

/// A non-negative number of up to 128 bits: decimal, `0x` hex or `0b` binary, `_` allowed anywhere (the number
/// syntax of every integer in a vector file; [`parse_int`] adds the sign and the 64-bit range).
fn parse_u128(s: &str) -> Option<u128> {
    let s = s.trim().replace('_', "").to_ascii_lowercase();
    if let Some(hex) = s.strip_prefix("0x") {
        u128::from_str_radix(hex, 16).ok()
    } else if let Some(bin) = s.strip_prefix("0b") {
        u128::from_str_radix(bin, 2).ok()
    } else {
        s.parse().ok()
    }
}

/// "a string", "an array", ... for messages.
fn toml_kind(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// Decimal, `0x` hex or `0b` binary, optionally negative, up to 64 bits (signed or unsigned).
///
/// ```
/// use rustyjit::vectors::parse_int;
/// assert_eq!(parse_int("0xffff_ffff_ffff_ffff"), Some(-1));
/// assert_eq!(parse_int("-0x10"), Some(-16));
/// assert_eq!(parse_int(" 0B101 "), Some(5));
/// assert_eq!(parse_int("-9223372036854775808"), Some(i64::MIN));
/// assert_eq!(parse_int("-9223372036854775809"), None);
/// assert_eq!(parse_int("0x1_0000_0000_0000_0000"), None);
/// assert_eq!(parse_int("--5"), None);
/// ```
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let magnitude = u64::try_from(parse_u128(digits)?).ok()?;
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
    #[serde(default)]
    property: Vec<Spanned<PropertySchema>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSchema {
    name: Spanned<String>,
    asm: Spanned<String>,
    #[serde(default)]
    args: Vec<Spanned<toml::Value>>,
    returns: Option<Spanned<toml::Value>>,
    ulps: Option<Spanned<u64>>,
    bytes: Option<Spanned<String>>,
    fault: Option<Spanned<String>>,
    breaks: Option<Spanned<String>>,
    timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    regs: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    memory: Option<Spanned<String>>,
    memory_after: Option<Spanned<String>>,
    #[serde(default)]
    state: bool,
    preserve: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertySchema {
    name: Spanned<String>,
    asm: Spanned<String>,
    reference: Spanned<String>,
    args: Vec<Spanned<toml::Value>>,
    returns: Option<Spanned<String>>,
    runs: Option<Spanned<u64>>,
    seed: Option<Spanned<toml::Value>>,
    memory: Option<Spanned<String>>,
    timeout_ms: Option<Spanned<u64>>,
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

/// The value a callee-saved general register holds on entry unless the case sets it: distinct for each register,
/// never zero, and unlike any value code computes by accident, so that any change — to zero too — shows.
///
/// ```
/// use rustyjit::vectors::{CALLEE_SAVED, canary};
/// assert!(CALLEE_SAVED.iter().all(|&r| canary(r) != 0));
/// assert_ne!(canary(3), canary(15)); // rbx, r15
/// ```
pub const fn canary(reg: usize) -> u64 {
    0xc0de_5afe_0000_0000 | ((reg as u64) << 8) | reg as u64
}

/// The two words above the slot right over the return address, in the caller's frame: the code must leave them
/// (and that slot) alone.
pub const FRAME_CANARIES: [u64; 2] = [0xc0de_f4a3_0000_0001, 0xc0de_f4a3_0000_0002];

/// MXCSR on entry: the power-on value (all exceptions masked, round to nearest, no DAZ/FZ).
pub const MXCSR_ENTRY: u32 = 0x1f80;
/// MXCSR's control bits (DAZ, the masks, rounding control, FZ); bits 0..5 are status flags the code may change.
pub const MXCSR_CONTROL: u32 = 0xffc0;
/// The x87 control word on entry: the power-on value.
pub const FCW_ENTRY: u16 = 0x037f;

/// One way code can break the System V calling convention.
///
/// ```
/// use rustyjit::vectors::Break;
/// assert_eq!(Break::from_name("R15"), Some(Break::Reg(15)));
/// assert_eq!(Break::Mxcsr.name(), "mxcsr");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Break {
    /// rsp after `ret` is not where the call left it.
    Stack,
    /// A callee-saved general register (number in [`REGS`]) does not hold its entry value.
    Reg(usize),
    /// A word of the caller's frame above the return address changed.
    Frame,
    /// DF is set on return.
    Df,
    /// MXCSR's control bits changed.
    Mxcsr,
    /// The x87 control word changed.
    X87,
}

impl Break {
    /// Every kind, as `breaks = "..."` names them.
    pub const NAMES: [&'static str; 11] = [
        "stack", "rbx", "rbp", "r12", "r13", "r14", "r15", "frame", "df", "mxcsr", "x87",
    ];

    /// The name `breaks = "..."` uses.
    pub fn name(self) -> &'static str {
        match self {
            Break::Stack => "stack",
            Break::Reg(r) => REGS[r],
            Break::Frame => "frame",
            Break::Df => "df",
            Break::Mxcsr => "mxcsr",
            Break::X87 => "x87",
        }
    }

    /// The kind with this name (any case).
    pub fn from_name(name: &str) -> Option<Break> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "stack" => Some(Break::Stack),
            "frame" => Some(Break::Frame),
            "df" => Some(Break::Df),
            "mxcsr" => Some(Break::Mxcsr),
            "x87" => Some(Break::X87),
            _ => CALLEE_SAVED.iter().find(|&&r| REGS[r] == name).map(|&r| Break::Reg(r)),
        }
    }
}

/// What a case asserts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// `returns`: rax (an integer) or xmm0's low lane (a float).
    pub returns: Option<Value>,
    /// `ulps`: how far a float result may be from `returns`.
    pub ulps: Option<u64>,
    /// `bytes`: the encoding.
    pub bytes: Option<Vec<u8>>,
    /// `fault`: the signal.
    pub fault: Option<i32>,
    /// `breaks`: the calling-convention break the code is expected to commit.
    pub breaks: Option<Break>,
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
    /// Initial values of the 16 general registers (rsp is ignored), in [`REGS`] order; callee-saved registers the
    /// case does not set hold their [`canary`].
    pub regs: [u64; 16],
    /// Initial values of xmm0..xmm15.
    pub xmm: [u128; 16],
    /// The buffer whose address goes in rdi, if any.
    pub memory: Option<Vec<u8>>,
    /// What the case asserts.
    pub expect: Expect,
    /// How long the case may run.
    pub timeout: Duration,
    /// Record all registers and flags in the report.
    pub state: bool,
    /// Check the calling convention after the call.
    pub preserve: bool,
}

impl Case {
    /// A case of `code` with every register at its entry value (zero, or a canary), no assertion, the default
    /// timeout and the convention checked: what `rustyjit exec` runs.
    ///
    /// ```
    /// let code = rustyjit::assemble("mov rax, rdi; ret").unwrap();
    /// let mut case = rustyjit::vectors::Case::new("exec", code);
    /// case.regs[7] = 5; // rdi
    /// assert_eq!(case.regs[3], rustyjit::vectors::canary(3)); // rbx
    /// ```
    pub fn new(name: &str, code: Code) -> Case {
        Case {
            name: name.into(),
            line: 1,
            code: Ok(code),
            regs: entry_regs(),
            xmm: [0; 16],
            memory: None,
            expect: Expect::default(),
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            state: false,
            preserve: true,
        }
    }
}

/// The general registers on entry before a case sets any: zero, and the callee-saved ones their canaries.
pub fn entry_regs() -> [u64; 16] {
    let mut regs = [0; 16];
    for r in CALLEE_SAVED {
        regs[r] = canary(r);
    }
    regs
}

const DEFAULT_TIMEOUT_MS: u64 = 1000;

/// The type of a property's argument or result.
///
/// ```
/// use rustyjit::vectors::ArgType;
/// assert_eq!(ArgType::from_name("u32"), Some(ArgType::Int { bits: 32, signed: false }));
/// assert!(ArgType::from_name("f64").is_some_and(ArgType::is_float));
/// assert_eq!(ArgType::from_name("i7"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// An integer of `bits` bits, signed or not, passed sign- or zero-extended to 64 bits.
    Int {
        /// 8, 16, 32 or 64.
        bits: u8,
        /// `i..` or `u..`.
        signed: bool,
    },
    /// An integer in `lo..=hi`.
    Range(i64, i64),
    /// An `f32` in the low lane of an xmm register.
    F32,
    /// An `f64` in the low lane of an xmm register.
    F64,
}

impl ArgType {
    /// The type names a property may use.
    pub const NAMES: [&'static str; 10] = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64"];

    /// The type with this name.
    pub fn from_name(name: &str) -> Option<ArgType> {
        Some(match name {
            "f32" => ArgType::F32,
            "f64" => ArgType::F64,
            _ => {
                let (signed, bits) = match name.split_at_checked(1)? {
                    ("i", bits) => (true, bits),
                    ("u", bits) => (false, bits),
                    _ => return None,
                };
                let bits = match bits {
                    "8" => 8,
                    "16" => 16,
                    "32" => 32,
                    "64" => 64,
                    _ => return None,
                };
                ArgType::Int { bits, signed }
            }
        })
    }

    /// True for `f32` and `f64`, which travel in xmm registers.
    pub fn is_float(self) -> bool {
        matches!(self, ArgType::F32 | ArgType::F64)
    }
}

/// A property: two snippets that must return the same on every input.
///
/// ```
/// use rustyjit::vectors::{ArgType, VectorFile};
/// let text = r#"
/// [[property]]
/// name = "double"
/// asm = "lea rax, [rdi + rdi]; ret"
/// reference = "mov rax, rdi; shl rax, 1; ret"
/// args = [{ range = [-100, 100] }]
/// "#;
/// let file = VectorFile::parse(std::path::Path::new("t.toml"), text);
/// assert_eq!(file.properties[0].args, [ArgType::Range(-100, 100)]);
/// assert_eq!(file.properties[0].runs, 1000);
/// ```
#[derive(Clone, Debug)]
pub struct Property {
    /// Unique within its file.
    pub name: String,
    /// 1-based line of its `[[property]]` table.
    pub line: usize,
    /// The code under test.
    pub code: Result<Code, Vec<VectorError>>,
    /// The code it must agree with.
    pub reference: Result<Code, Vec<VectorError>>,
    /// The arguments' types, in order (integers to rdi.., floats to xmm0..).
    pub args: Vec<ArgType>,
    /// What is compared: rax's low bits, or xmm0's low lane.
    pub returns: ArgType,
    /// Random inputs after the edge inputs.
    pub runs: u32,
    /// The random generator's seed.
    pub seed: u64,
    /// The buffer both sides get in rdi (the same contents each time), compared after every call.
    pub memory: Option<Vec<u8>>,
    /// How long each call may run.
    pub timeout: Duration,
    /// Check the calling convention of both sides.
    pub preserve: bool,
}

/// The seed of a property without `seed`.
pub const DEFAULT_SEED: u64 = 0x5eed_2026;

/// A vector file: its cases, its properties and its problems.
#[derive(Clone, Debug)]
pub struct VectorFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The cases that could be read, in file order.
    pub cases: Vec<Case>,
    /// The properties that could be read, in file order.
    pub properties: Vec<Property>,
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

/// Reading one file: its text, positions, path, and the errors found so far.
struct Reader<'a> {
    path: &'a Path,
    text: &'a str,
    pos: Positions<'a>,
    errors: Vec<VectorError>,
}

impl Reader<'_> {
    fn error(&mut self, offset: usize, message: String) {
        let (line, col) = self.pos.at(offset);
        self.errors.push(VectorError {
            file: self.path.to_path_buf(),
            line,
            col,
            message,
        });
    }

    /// The value, or an error at the span.
    fn get<T>(&mut self, at: usize, value: Result<T, String>) -> Option<T> {
        value.map_err(|why| self.error(at, why)).ok()
    }

    /// `memory` as bytes.
    fn memory(&mut self, memory: &Option<Spanned<String>>) -> Option<Vec<u8>> {
        self.hex("memory", memory.as_ref()?)
    }

    /// The bytes of the hex string of `key` (`memory`, `bytes`, `memory_after`), or an error at the string.
    fn hex(&mut self, key: &str, hex: &Spanned<String>) -> Option<Vec<u8>> {
        let bytes = parse_hex(hex.get_ref()).map_err(|why| format!("`{key}`: {why}"));
        self.get(hex.span().start, bytes)
    }

    /// `timeout_ms`, checked, as a duration.
    fn timeout(&mut self, timeout_ms: &Option<Spanned<u64>>, table_at: usize) -> Duration {
        let ms = timeout_ms.as_ref().map_or(DEFAULT_TIMEOUT_MS, |t| *t.get_ref());
        if !(1..=600_000).contains(&ms) {
            let at = timeout_ms.as_ref().map_or(table_at, |t| t.span().start);
            self.error(at, "`timeout_ms` must be between 1 and 600000".into());
        }
        Duration::from_millis(ms)
    }

    /// Checks a table's name (not empty, unique in the file), reads the table with `read`, and keeps what it made
    /// only if no error was found (a table with errors is reported, not run).
    fn keep<T>(
        &mut self,
        names: &mut HashSet<String>,
        name: &Spanned<String>,
        out: &mut Vec<T>,
        read: impl FnOnce(&mut Self) -> T,
    ) {
        let before = self.errors.len();
        let n = name.get_ref();
        if n.is_empty() {
            self.error(
                name.span().start,
                "the name is empty; give every case and property a name".into(),
            );
        }
        if !names.insert(n.clone()) {
            self.error(
                name.span().start,
                format!("duplicate name `{n}`; names of cases and properties must be unique within a file"),
            );
        }
        let item = read(self);
        if self.errors.len() == before {
            out.push(item);
        }
    }

    /// Reads a case: its buffer, its registers on entry (`args`, then `regs`), what it expects, its timeout and its
    /// code. Every problem is an error at its place.
    fn case(&mut self, case: CaseSchema, case_at: usize) -> Case {
        let memory = self.memory(&case.memory);
        let mut entry = EntryRegs::new();
        self.place_args(&case.args, memory.is_some(), &mut entry);
        self.set_regs(&case.regs, &mut entry);
        let preserve = case.preserve.as_ref().is_none_or(|p| *p.get_ref());
        let expect = self.expect(&case, memory.is_some(), preserve, case_at);
        let timeout = self.timeout(&case.timeout_ms, case_at);
        Case {
            name: case.name.get_ref().clone(),
            line: self.pos.at(case_at).0,
            code: assemble_at(&case.asm, self.text, &self.pos, self.path),
            regs: entry.regs,
            xmm: entry.xmm,
            memory,
            expect,
            timeout,
            state: case.state,
            preserve,
        }
    }

    /// Puts a case's arguments in registers in call order: the integers in rdi, rsi, rdx, rcx, r8, r9 (from rsi
    /// when the case has a buffer, `memory`, whose address rdi holds), the floats in xmm0..xmm7. An argument that
    /// is no value, or finds no register left, is an error.
    fn place_args(&mut self, args: &[Spanned<toml::Value>], memory: bool, entry: &mut EntryRegs) {
        let mut int_regs = ARG_REGS.iter().skip(usize::from(memory));
        if memory {
            entry.set_by[7] = Some("memory"); // rdi holds the buffer's address
        }
        let mut float_regs = 0..8;
        for arg in args {
            let at = arg.span().start;
            let Some(value) = self.get(at, case_value(arg.get_ref())) else {
                continue;
            };
            if value.is_float() {
                let Some(x) = float_regs.next() else {
                    self.error(at, "too many float arguments: at most eight fit in xmm0..xmm7".into());
                    continue;
                };
                entry.xmm[x] = value.xmm_bits();
                entry.xmm_set_by[x] = Some("args");
            } else {
                let Some(&r) = int_regs.next() else {
                    let room = if memory {
                        "five (rdi holds the memory buffer)"
                    } else {
                        "six"
                    };
                    self.error(
                        at,
                        format!("too many integer arguments: at most {room} fit in registers"),
                    );
                    continue;
                };
                entry.regs[r] = value.xmm_bits() as u64; // an integer's 64 bits
                entry.set_by[r] = Some("args");
            }
        }
    }

    /// Sets the registers of a case's `regs` table: a general register takes an integer, an xmm register a float or
    /// a 128-bit pattern. A name that is no register, rsp, or a register that `args` or `memory` already set is an
    /// error.
    fn set_regs(&mut self, regs: &BTreeMap<Spanned<String>, Spanned<toml::Value>>, entry: &mut EntryRegs) {
        for (reg, value) in regs {
            let lower = reg.get_ref().to_ascii_lowercase();
            let at = reg.span().start;
            match Register::named(&lower) {
                Some(Register::Xmm(x)) => {
                    if let Some(by) = entry.xmm_set_by[x] {
                        self.error(at, format!("`{lower}` is already set by `{by}`"));
                    } else if let Some(bits) = self.get(value.span().start, xmm_value(value.get_ref())) {
                        entry.xmm[x] = bits;
                    }
                }
                Some(Register::General(4)) => {
                    self.error(at, "`rsp` cannot be set: the harness owns the stack".into());
                }
                Some(Register::General(r)) => {
                    if let Some(by) = entry.set_by[r] {
                        self.error(at, format!("`{lower}` is already set by `{by}`"));
                    } else if let Some(v) = self.get(value.span().start, int_value(value.get_ref())) {
                        entry.regs[r] = v as u64;
                    }
                }
                None => self.error(
                    at,
                    format!(
                        "`{}` is not a register a case can set; use rax, rbx, ..., r15 or xmm0..xmm15",
                        reg.get_ref()
                    ),
                ),
            }
        }
    }

    /// What a case asserts, each key checked in turn: `returns`, `ulps`, `bytes`, `memory_after` (with the case's
    /// buffer, `memory`), `fault`, `breaks` (with `preserve`); then that it expects at most one outcome.
    fn expect(&mut self, case: &CaseSchema, memory: bool, preserve: bool, case_at: usize) -> Expect {
        let returns = case
            .returns
            .as_ref()
            .and_then(|r| self.get(r.span().start, case_value(r.get_ref())));
        let ulps = self.ulps(&case.ulps, returns);
        let bytes = case.bytes.as_ref().and_then(|b| self.hex("bytes", b));
        let memory_after = self.memory_after(&case.memory_after, memory);
        let fault = self.fault(&case.fault);
        let breaks = self.breaks(case, preserve, case_at);
        let expect = Expect {
            returns,
            ulps,
            bytes,
            fault,
            breaks,
            memory_after,
        };
        self.one_outcome(&expect, case_at);
        expect
    }

    /// `ulps`: a tolerance, which only a float result (`returns`) can have.
    fn ulps(&mut self, ulps: &Option<Spanned<u64>>, returns: Option<Value>) -> Option<u64> {
        let u = ulps.as_ref()?;
        if !matches!(returns, Some(v) if v.is_float()) {
            self.error(
                u.span().start,
                "`ulps` is a tolerance for a float result; it needs a float `returns` such as 3.75".into(),
            );
        }
        Some(*u.get_ref())
    }

    /// `memory_after`: the bytes the buffer holds after the call, which needs a buffer (`memory`) to compare with.
    fn memory_after(&mut self, memory_after: &Option<Spanned<String>>, memory: bool) -> Option<Vec<u8>> {
        let m = memory_after.as_ref()?;
        let bytes = self.hex("memory_after", m)?;
        if !memory {
            self.error(
                m.span().start,
                "`memory_after` needs a `memory` buffer to compare with".into(),
            );
            return None;
        }
        Some(bytes)
    }

    /// `fault`: the signal a case expects, one of [`SIGNALS`], named with or without `SIG`, in any case.
    fn fault(&mut self, fault: &Option<Spanned<String>>) -> Option<i32> {
        let f = fault.as_ref()?;
        let wanted = f.get_ref().to_ascii_uppercase();
        let signal = SIGNALS
            .iter()
            .find(|(n, _)| *n == wanted || n[3..] == wanted)
            .map(|&(_, signal)| signal)
            .ok_or_else(|| {
                format!(
                    "`{}` is not a fault the harness catches; use SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGTRAP",
                    f.get_ref()
                )
            });
        self.get(f.span().start, signal)
    }

    /// `breaks`: the calling-convention break a case expects, which only a case whose convention is checked
    /// (`preserve`) can expect.
    fn breaks(&mut self, case: &CaseSchema, preserve: bool, case_at: usize) -> Option<Break> {
        let b = case.breaks.as_ref()?;
        let kind = Break::from_name(b.get_ref()).ok_or_else(|| {
            format!(
                "`{}` is not a way to break the calling convention; use one of {}",
                b.get_ref(),
                Break::NAMES.join(", ")
            )
        });
        let kind = self.get(b.span().start, kind);
        if !preserve {
            let at = case.preserve.as_ref().map_or(case_at, |p| p.span().start);
            self.error(
                at,
                "`breaks` needs the convention checked; remove `preserve = false`".into(),
            );
        }
        kind
    }

    /// A case expects at most one outcome: a result (`returns`), a fault or a break.
    fn one_outcome(&mut self, expect: &Expect, case_at: usize) {
        let outcomes = [
            expect.returns.is_some(),
            expect.fault.is_some(),
            expect.breaks.is_some(),
        ];
        if outcomes.iter().filter(|&&x| x).count() > 1 {
            self.error(
                case_at,
                "a case can expect one outcome; keep one of `returns`, `fault` and `breaks`".into(),
            );
        }
    }

    fn property(&mut self, p: PropertySchema, at: usize) -> Property {
        let memory = self.memory(&p.memory);
        let mut args = Vec::new();
        let (mut ints, mut floats) = (usize::from(memory.is_some()), 0);
        for arg in &p.args {
            let Some(ty) = self.get(arg.span().start, arg_type(arg.get_ref())) else {
                continue;
            };
            let (count, room, regs) = if ty.is_float() {
                (&mut floats, 8, "xmm0..xmm7")
            } else {
                (&mut ints, 6, "rdi, rsi, rdx, rcx, r8, r9")
            };
            *count += 1;
            if *count > room {
                self.error(
                    arg.span().start,
                    format!("too many arguments of this kind: at most {room} fit in {regs}"),
                );
                continue;
            }
            args.push(ty);
        }
        let returns = match &p.returns {
            None => ArgType::Int { bits: 64, signed: true },
            Some(r) => {
                let ty = ArgType::from_name(r.get_ref()).ok_or_else(|| {
                    format!(
                        "`{}` is not a type; `returns` is one of {}",
                        r.get_ref(),
                        ArgType::NAMES.join(", ")
                    )
                });
                self.get(r.span().start, ty)
                    .unwrap_or(ArgType::Int { bits: 64, signed: true })
            }
        };
        let runs = p.runs.as_ref().map_or(1000, |r| *r.get_ref());
        if !(1..=1_000_000).contains(&runs) {
            let at = p.runs.as_ref().map_or(at, |r| r.span().start);
            self.error(at, "`runs` must be between 1 and 1000000".into());
        }
        let seed = match &p.seed {
            None => DEFAULT_SEED,
            Some(s) => self.get(s.span().start, int_value(s.get_ref())).unwrap_or(0) as u64,
        };
        let timeout = self.timeout(&p.timeout_ms, at);
        Property {
            name: p.name.get_ref().clone(),
            line: self.pos.at(at).0,
            code: assemble_at(&p.asm, self.text, &self.pos, self.path),
            reference: assemble_at(&p.reference, self.text, &self.pos, self.path),
            args,
            returns,
            runs: runs.min(1_000_000) as u32,
            seed,
            memory,
            timeout,
            preserve: p.preserve,
        }
    }
}

/// A case's registers on entry while its `args` and `regs` are read, and what set each one, so that none is set
/// twice.
struct EntryRegs {
    /// The general registers, in [`REGS`] order, from [`entry_regs`].
    regs: [u64; 16],
    /// xmm0..xmm15, from zero.
    xmm: [u128; 16],
    /// The key that set each general register: `memory` or `args`.
    set_by: [Option<&'static str>; 16],
    /// The key that set each xmm register: `args`.
    xmm_set_by: [Option<&'static str>; 16],
}

impl EntryRegs {
    /// Every register at its entry value, none set yet.
    fn new() -> EntryRegs {
        EntryRegs {
            regs: entry_regs(),
            xmm: [0; 16],
            set_by: [None; 16],
            xmm_set_by: [None; 16],
        }
    }
}

/// A register a case's `regs` table names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    /// A general register, by number in [`REGS`].
    General(usize),
    /// xmm0..xmm15, by number.
    Xmm(usize),
}

impl Register {
    /// The register a lower-case name names: `xmm0`..`xmm15`, or one of [`REGS`] (rsp too).
    fn named(lower: &str) -> Option<Register> {
        let xmm = lower
            .strip_prefix("xmm")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&x| x < 16);
        match xmm {
            Some(x) => Some(Register::Xmm(x)),
            None => REGS.iter().position(|n| *n == lower).map(Register::General),
        }
    }
}

/// A property's argument: a type name, or `{ range = [lo, hi] }`.
fn arg_type(v: &toml::Value) -> Result<ArgType, String> {
    let names = || ArgType::NAMES.join(", ");
    match v {
        toml::Value::String(name) => ArgType::from_name(name).ok_or_else(|| {
            format!(
                "`{name}` is not a type; use one of {}, or {{ range = [lo, hi] }}",
                names()
            )
        }),
        toml::Value::Table(t) => {
            let range = match (t.get("range"), t.len()) {
                (Some(toml::Value::Array(range)), 1) => range,
                _ => return Err("an argument table is `{ range = [lo, hi] }` with two integers".into()),
            };
            let [lo, hi] = range.as_slice() else {
                return Err("a range has two integers: `{ range = [lo, hi] }`".into());
            };
            let (lo, hi) = (int_value(lo)?, int_value(hi)?);
            if lo > hi {
                return Err(format!(
                    "the range [{lo}, {hi}] is empty; write the smaller bound first"
                ));
            }
            Ok(ArgType::Range(lo, hi))
        }
        other => Err(format!(
            "an argument is a type name ({}) or {{ range = [lo, hi] }}, not {}",
            names(),
            toml_kind(other)
        )),
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

    /// Checks the text of a vector file. A case or property with a problem is left out (its problems are in
    /// `errors`); the others are kept.
    pub fn parse(path: &Path, text: &str) -> VectorFile {
        let mut r = Reader {
            path,
            text,
            pos: Positions::new(text),
            errors: Vec::new(),
        };
        let mut file = VectorFile {
            path: path.to_path_buf(),
            cases: Vec::new(),
            properties: Vec::new(),
            errors: Vec::new(),
        };
        let schema: FileSchema = match toml::from_str(text) {
            Ok(s) => s,
            Err(e) => {
                r.error(e.span().map_or(0, |s| s.start), e.message().trim().to_string());
                file.errors = r.errors;
                return file;
            }
        };
        let mut names = HashSet::new();
        for case in schema.case {
            let at = case.span().start;
            let case = case.into_inner();
            let name = case.name.clone();
            r.keep(&mut names, &name, &mut file.cases, |r| r.case(case, at));
        }
        for property in schema.property {
            let at = property.span().start;
            let property = property.into_inner();
            let name = property.name.clone();
            r.keep(&mut names, &name, &mut file.properties, |r| r.property(property, at));
        }
        file.errors = r.errors;
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
