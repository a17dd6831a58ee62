//! The `rustyjit` command line: assemble text, run code, print the supported instructions.

use clap::{Parser, Subcommand, ValueEnum};
use rustyjit::{AsmErrors, Code, Hex, vectors};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rustyjit",
    version,
    about = "Write, run and test small pieces of x86-64 machine code"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble a file (or standard input) and print a listing, the bytes as hex, or JSON.
    Asm {
        /// The assembly file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Listing)]
        format: Format,
    },
    /// Assemble, load and call code with up to six integer arguments; print the returned rax.
    Exec {
        /// The assembly text, statements separated by `;` or newlines.
        asm: String,
        /// Integer arguments for rdi, rsi, rdx, rcx, r8, r9 (decimal, 0x hex, negative).
        #[arg(allow_negative_numbers = true, value_parser = parse_int)]
        args: Vec<i64>,
        /// Stop the code after this many milliseconds.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// Run vector files or folders of them (default: vectors/); print each case's outcome, then the totals.
    Run {
        /// Vector files (`*.toml`) or folders of them.
        paths: Vec<PathBuf>,
        /// Worker processes at once; 0 is one per core.
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Run only the cases and properties whose name, or whose file's name, contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Output format: a line per case, or a JSON array of one object per case (the totals then go to
        /// standard error).
        #[arg(long, value_enum, default_value_t = RunFormat::Text)]
        format: RunFormat,
        /// Also write the results as JUnit XML to this file (one test suite per vector file).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Print the supported instruction forms as Markdown (this is docs/instructions.md).
    Forms,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One line per instruction: offset, bytes, source.
    Listing,
    /// The bytes only, as lowercase hex.
    Hex,
    /// An array of {"line", "offset", "bytes", "text"} objects.
    Json,
}

/// How `run` shows its results on standard output.
#[derive(Clone, Copy, ValueEnum)]
enum RunFormat {
    /// One line per case (`PASS FILE: name: outcome` or `FAIL FILE: name: reasons`), then the totals.
    Text,
    /// An array of {"file", "name", "line", "outcome", "expected", "passed", "reasons"} objects.
    Json,
}

/// An integer argument: decimal or `0x` hex, optionally negative; hex may be the unsigned bit pattern.
fn parse_int(s: &str) -> Result<i64, String> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let magnitude = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).map_err(|e| format!("`{s}` is not a hex number: {e}"))?,
        None => digits
            .parse::<u64>()
            .map_err(|e| format!("`{s}` is not a number: {e}"))?,
    };
    if neg {
        0i64.checked_sub_unsigned(magnitude)
            .ok_or_else(|| format!("`{s}` is below the 64-bit range"))
    } else {
        Ok(magnitude as i64)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Asm { file, format } => asm(file, format),
        Command::Exec { asm, args, timeout_ms } => exec(&asm, &args, timeout_ms),
        Command::Run {
            paths,
            jobs,
            filter,
            format,
            junit,
        } => run(paths, &vectors::RunOptions { jobs, filter }, format, junit.as_deref()),
        Command::Forms => {
            print!("{}", rustyjit::asm::table::supported_instructions_markdown());
            ExitCode::SUCCESS
        }
    }
}

/// An input's text: a regular file is mapped (read without a copy, which for a file of megabytes is most of the
/// cost of reading it); standard input and anything else is read.
enum Input {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl Input {
    fn bytes(&self) -> &[u8] {
        match self {
            Input::Mapped(map) => map,
            Input::Read(bytes) => bytes,
        }
    }

    /// The text, or why it is not text.
    fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.bytes())
    }
}

/// "FILE:LINE:COL: error: ..." for the first byte of an input that is not UTF-8.
fn not_utf8(name: &str, input: &Input, e: std::str::Utf8Error) -> String {
    let bytes = input.bytes();
    // The bytes before the error are valid, so they can be counted as text.
    let before = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    format!("{name}:{line}:{col}: error: this byte starts no UTF-8 character; assembly text must be UTF-8")
}

/// The input's name for messages, and the input.
fn read_input(file: Option<PathBuf>) -> Result<(String, Input), String> {
    match file {
        None => read_stdin(),
        Some(p) if p.as_os_str() == "-" => read_stdin(),
        Some(p) => {
            let name = p.display().to_string();
            let error = |e: std::io::Error| format!("{name}: error: {e}");
            let file = std::fs::File::open(&p).map_err(error)?;
            let meta = file.metadata().map_err(error)?;
            if meta.is_file() && meta.len() > 0 {
                // SAFETY: the map is only read, and it lives as long as the text borrowed from it. Another
                // process shortening the file while it is assembled would fault the read (as for any program
                // that maps its input, ripgrep among them); nothing in this program changes the file.
                let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(error)?;
                return Ok((name, Input::Mapped(map)));
            }
            // Not a regular file with bytes in it (a pipe, a device, an empty file): read from the open handle.
            let mut bytes = Vec::new();
            let mut file = file;
            file.read_to_end(&mut bytes).map_err(error)?;
            Ok((name, Input::Read(bytes)))
        }
    }
}

fn read_stdin() -> Result<(String, Input), String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("<stdin>: error: {e}"))?;
    Ok(("<stdin>".into(), Input::Read(bytes)))
}

fn report(name: &str, errors: &AsmErrors) -> ExitCode {
    eprint!("{}", errors.with_file(name));
    ExitCode::FAILURE
}

fn asm(file: Option<PathBuf>, format: Format) -> ExitCode {
    // The instruction table is built on another thread while the input is read and checked (each takes about
    // half a millisecond); the assembler waits for it if it is not ready. If no thread can be started, it is
    // built when first used, as without this.
    let _ = std::thread::Builder::new().spawn(rustyjit::asm::prepare);
    let (name, input) = match read_input(file) {
        Ok(input) => input,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let text = match input.text() {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{}", not_utf8(&name, &input, e));
            return ExitCode::FAILURE;
        }
    };
    // A closed pipe (`| head`) is not an error worth a message, so write errors are ignored.
    let mut stdout = std::io::stdout().lock();
    let render: fn(&Code) -> String = match format {
        Format::Hex => {
            // The bytes alone: no listing, no copy of the source.
            let bytes = match rustyjit::asm::assemble_bytes(text) {
                Ok(bytes) => bytes,
                Err(errors) => return report(&name, &errors),
            };
            // Megabytes of hex without a newline: straight to the file (a duplicate of the descriptor), not
            // through the standard output's line buffer, which would search each piece for a newline. `Hex`
            // writes 64 KiB of text at a time; the whole text is never held.
            let _ = match stdout.as_fd().try_clone_to_owned() {
                Ok(fd) => writeln!(std::fs::File::from(fd), "{}", Hex::new(&bytes, "")),
                Err(_) => writeln!(stdout, "{}", Hex::new(&bytes, "")),
            };
            return ExitCode::SUCCESS;
        }
        Format::Listing => |code| code.listing().to_string(),
        Format::Json => json,
    };
    let code = match rustyjit::assemble(text) {
        Ok(code) => code,
        Err(errors) => return report(&name, &errors),
    };
    let out = render(&code);
    let _ = stdout.write_all(out.as_bytes());
    ExitCode::SUCCESS
}

fn json(code: &Code) -> String {
    let items: Vec<serde_json::Value> = code
        .entries()
        .iter()
        .map(|e| {
            let start = e.offset as usize;
            let bytes = &code.bytes()[start..start + e.len as usize];
            serde_json::json!({
                "line": e.line,
                "offset": e.offset,
                "bytes": Hex::new(bytes, "").to_string(),
                "text": code.text(e),
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&items).unwrap_or_default();
    out.push('\n');
    out
}

fn exec(text: &str, args: &[i64], timeout_ms: u64) -> ExitCode {
    if args.len() > vectors::ARG_REGS.len() {
        eprintln!(
            "error: at most six integer arguments fit in registers (rdi, rsi, rdx, rcx, r8, r9); got {}",
            args.len()
        );
        return ExitCode::FAILURE;
    }
    let code = match rustyjit::assemble(text) {
        Ok(code) => code,
        Err(errors) => return report("<arg>", &errors),
    };
    // Run it as a vector case: in a worker process, so a fault or a hang is reported instead of killing us.
    let mut case = vectors::Case::new("exec", code.clone());
    for (&r, &a) in vectors::ARG_REGS.iter().zip(args) {
        case.regs[r] = a as u64;
    }
    case.timeout = std::time::Duration::from_millis(timeout_ms);
    let outcome = vectors::run_cases(std::slice::from_ref(&case)).remove(0);
    match outcome {
        vectors::Outcome::Returned { regs, .. } => {
            println!("{}", regs[0] as i64);
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("error: {}", other.describe(Some(&code)));
            ExitCode::FAILURE
        }
    }
}

/// One entry of a run, in the order of the paths given: a vector file's report, or a path that could not be
/// listed.
enum Ran {
    /// A vector file's report (a file that could not be read or parsed has errors in it).
    File(vectors::FileReport),
    /// A path whose folder could not be listed, and why.
    Unlisted(PathBuf, std::io::Error),
}

impl Ran {
    /// The error lines for standard error: `FILE:LINE:COL: error: ...` each.
    fn errors(&self) -> Vec<String> {
        match self {
            Ran::File(report) => report.errors.iter().map(|e| e.to_string()).collect(),
            Ran::Unlisted(path, e) => vec![format!("{}: error: cannot read: {e}", path.display())],
        }
    }

    /// True if the file itself had problems (or could not be listed), whatever its cases did.
    fn is_bad(&self) -> bool {
        match self {
            Ran::File(report) => !report.errors.is_empty(),
            Ran::Unlisted(..) => true,
        }
    }
}

/// One case in `run --format json`; the fields in this order.
#[derive(serde::Serialize)]
struct JsonCase<'a> {
    /// The vector file, as given or as found in a folder given.
    file: String,
    /// The case's name.
    name: &'a str,
    /// 1-based line of the case's table.
    line: usize,
    /// What running it did, in one line.
    outcome: String,
    /// What it asserts, in words; null if nothing.
    expected: Option<&'a str>,
    /// Whether it passed.
    passed: bool,
    /// Why it failed; empty when it passed.
    reasons: &'a [String],
}

/// The reasons a case failed; none if it did not fail.
fn reasons(case: &vectors::CaseReport) -> &[String] {
    match &case.verdict {
        vectors::Verdict::Fail(why) => why,
        _ => &[],
    }
}

/// Expands the paths (folders to their `*.toml` files) and runs every file, the reports in the order given.
fn run_paths(paths: Vec<PathBuf>, options: &vectors::RunOptions) -> Vec<Ran> {
    let listed: Vec<Result<Vec<PathBuf>, (PathBuf, std::io::Error)>> = paths
        .into_iter()
        .map(|path| vectors::vector_files(&path).map_err(|e| (path, e)))
        .collect();
    // Every file in one call, so that the workers run files of different paths at once.
    let files: Vec<PathBuf> = listed.iter().flatten().flatten().cloned().collect();
    let mut reports = vectors::run_files(&files, options).into_iter();
    let mut ran = Vec::new();
    for entry in listed {
        match entry {
            Ok(files) => ran.extend(files.iter().filter_map(|_| reports.next()).map(Ran::File)),
            Err((path, e)) => ran.push(Ran::Unlisted(path, e)),
        }
    }
    ran
}

/// `rustyjit run`: runs the vector files and prints their results in `format` (and as JUnit XML to `junit`);
/// fails if a case failed, a file had problems or could not be read, or the JUnit report could not be written.
fn run(paths: Vec<PathBuf>, options: &vectors::RunOptions, format: RunFormat, junit: Option<&Path>) -> ExitCode {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("vectors")]
    } else {
        paths
    };
    let ran = run_paths(paths, options);
    let (mut passed, mut failed, mut bad_files) = (0, 0, 0);
    for entry in &ran {
        for line in entry.errors() {
            eprintln!("{line}");
        }
        if entry.is_bad() {
            bad_files += 1;
        }
        if let Ran::File(report) = entry {
            let (p, f) = report.counts();
            passed += p;
            failed += f;
        }
    }
    let totals = format!("{passed} passed, {failed} failed");
    // A closed pipe (`| head`) is not an error worth a message, so write errors are ignored.
    let mut out = std::io::stdout().lock();
    match format {
        RunFormat::Text => {
            let _ = out.write_all(text_lines(&ran).as_bytes());
            let _ = writeln!(out, "{totals}");
        }
        RunFormat::Json => {
            let _ = out.write_all(json_cases(&ran).as_bytes());
            let _ = out.flush();
            eprintln!("{totals}");
        }
    }
    let mut ok = failed == 0 && bad_files == 0;
    if let Some(file) = junit {
        let written = junit_report(&ran, options.filter.is_some())
            .to_string()
            .map_err(|e| e.to_string())
            .and_then(|xml| std::fs::write(file, xml).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("{}: error: cannot write the JUnit report: {e}", file.display());
            ok = false;
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `PASS FILE: name: outcome` or `FAIL FILE: name: reasons` per case, the word colored on a terminal.
fn text_lines(ran: &[Ran]) -> String {
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |text: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    for report in ran.iter().filter_map(|r| match r {
        Ran::File(report) => Some(report),
        Ran::Unlisted(..) => None,
    }) {
        for case in &report.cases {
            let line = case.line();
            let (word, rest) = line.split_at(4);
            let word = if case.passed() {
                paint(word, "32")
            } else {
                paint(word, "31;1")
            };
            out.push_str(&format!(
                "{word} {}:{}\n",
                report.path.display(),
                rest.strip_prefix(' ').map_or(rest.to_string(), |r| format!(" {r}"))
            ));
        }
    }
    out
}

/// The cases of every file as one JSON array, files in order and cases in file order.
fn json_cases(ran: &[Ran]) -> String {
    let mut cases = Vec::new();
    for entry in ran {
        if let Ran::File(report) = entry {
            let file = report.path.display().to_string();
            cases.extend(report.cases.iter().map(|case| JsonCase {
                file: file.clone(),
                name: &case.name,
                line: case.line,
                outcome: case.outcome_text(),
                expected: case.expected.as_deref(),
                passed: case.passed(),
                reasons: reasons(case),
            }));
        }
    }
    let mut out = serde_json::to_string_pretty(&cases).unwrap_or_default();
    out.push('\n');
    out
}

/// The results as JUnit XML: a test suite per vector file (named by its path) with a test case per case, a
/// failing case's reasons in its `<failure>`, and each problem with the file itself as a test case with an
/// `<error>`, so that a CI that shows the report shows it too. With a filter, a file none of whose cases
/// matched (and without problems) has no suite.
fn junit_report(ran: &[Ran], filtered: bool) -> quick_junit::Report {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    /// A test case for a problem with the file itself.
    fn error_case(file: &str, line: usize, col: usize, message: &str, full: String) -> TestCase {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(message).set_description(full);
        let mut case = TestCase::new(format!("error at {line}:{col}"), status);
        case.set_classname(file);
        case
    }
    let mut report = Report::new("rustyjit");
    for entry in ran {
        let suite = match entry {
            Ran::Unlisted(path, e) => {
                let file = path.display().to_string();
                let mut suite = TestSuite::new(file.as_str());
                let message = format!("cannot read: {e}");
                let full = format!("{file}: error: {message}");
                suite.add_test_case(error_case(&file, 1, 1, &message, full));
                suite
            }
            Ran::File(file_report) if filtered && file_report.cases.is_empty() && file_report.errors.is_empty() => {
                continue;
            }
            Ran::File(file_report) => {
                let file = file_report.path.display().to_string();
                let mut suite = TestSuite::new(file.as_str());
                for e in &file_report.errors {
                    suite.add_test_case(error_case(&file, e.line, e.col, &e.message, e.to_string()));
                }
                for case in &file_report.cases {
                    let status = if case.passed() {
                        TestCaseStatus::success()
                    } else {
                        let why = reasons(case);
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        status.set_message(why.join("; ")).set_description(why.join("\n"));
                        status
                    };
                    let mut test = TestCase::new(case.name.as_str(), status);
                    test.set_classname(file.as_str());
                    test.extra.insert("file".into(), file.as_str().into());
                    test.extra.insert("line".into(), case.line.to_string().into());
                    test.set_system_out(case.outcome_text());
                    suite.add_test_case(test);
                }
                suite
            }
        };
        report.add_test_suite(suite);
    }
    report
}
