//! The `rustyjit` command line, run as a user runs it: the contracts of DESIGN.md for `asm`, `exec` and `forms`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn rustyjit(args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustyjit"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rustyjit");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_ref())
        .expect("write stdin");
    child.wait_with_output().expect("wait for rustyjit")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

const LOOP: &str = "    xor eax, eax\n    mov ecx, 10 # ten\ntop: add rax, rcx\n    dec ecx\n    jnz top\n    ret\n";

#[test]
fn asm_listing_is_one_line_per_instruction_and_label() {
    let out = rustyjit(&["asm"], LOOP);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "   0:  31 c0                   xor eax, eax
   2:  b9 0a 00 00 00          mov ecx, 10
   7:                          top:
   7:  48 01 c8                add rax, rcx
   a:  ff c9                   dec ecx
   c:  75 f9                   jnz top
   e:  c3                      ret
"
    );
}

#[test]
fn asm_hex_and_json() {
    let out = rustyjit(&["asm", "-", "--format", "hex"], LOOP);
    assert_eq!(text(&out.stdout), "31c0b90a0000004801c8ffc975f9c3\n");
    let out = rustyjit(&["asm", "--format", "json"], "mov rax, 3\n\nret");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(
        json,
        serde_json::json!([
            {"line": 1, "offset": 0, "bytes": "48c7c003000000", "text": "mov rax, 3"},
            {"line": 3, "offset": 7, "bytes": "c3", "text": "ret"},
        ])
    );
}

#[test]
fn asm_reads_a_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("rustyjit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bad.s");
    std::fs::write(&path, "nop\nmov rax, bl\n  add al, 256\nfrob\n").expect("write");
    let out = rustyjit(&["asm", path.to_str().expect("utf-8 path")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout on errors");
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let p = path.display();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].starts_with(&format!(
        "{p}:2:10: error: `mov` has no form `mov r64, r8`; expected one of:"
    )));
    assert_eq!(
        lines[1],
        format!("{p}:3:11: error: immediate 256 is out of range; it must be between -128 and 255")
    );
    assert_eq!(lines[2], format!("{p}:4:1: error: unknown instruction `frob`"));
    let out = rustyjit(&["asm", dir.join("missing.s").to_str().expect("utf-8 path")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.s: error:"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn asm_of_a_file_in_every_format_is_the_same_code() {
    let dir = std::env::temp_dir().join(format!("rustyjit-cli-hex-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("loop.s");
    std::fs::write(&path, LOOP).expect("write");
    let file = path.to_str().expect("utf-8 path");
    let hex = rustyjit(&["asm", file, "--format", "hex"], "");
    assert_eq!(text(&hex.stdout), "31c0b90a0000004801c8ffc975f9c3\n");
    assert_eq!(rustyjit(&["asm", file], "").stdout, rustyjit(&["asm"], LOOP).stdout);
    // An empty file is empty code.
    std::fs::write(&path, "").expect("write");
    let empty = rustyjit(&["asm", file, "--format", "hex"], "");
    assert!(empty.status.success());
    assert_eq!(text(&empty.stdout), "\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn asm_of_bytes_that_are_not_utf8_names_where() {
    let dir = std::env::temp_dir().join(format!("rustyjit-cli-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("latin1.s");
    let bytes = b"nop\nmov eax, 1 # \xc3\xa9t\xe9\n";
    std::fs::write(&path, bytes).expect("write");
    let message = ":2:16: error: this byte starts no UTF-8 character; assembly text must be UTF-8\n";
    let out = rustyjit(&["asm", path.to_str().expect("utf-8 path"), "--format", "hex"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), format!("{}{message}", path.display()));
    let out = rustyjit(&["asm"], bytes);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(1), format!("<stdin>{message}"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn asm_errors_on_stdin_are_named_stdin() {
    let out = rustyjit(&["asm"], "mov rax, [eax]\nret 1, 2\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("<stdin>:1:11: error: invalid memory operand: 32-bit addresses"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n<stdin>:2:8: error: `ret` has no form `ret imm, imm`"),
        "{stderr}"
    );
}

#[test]
fn exec_calls_with_arguments() {
    let out = rustyjit(&["exec", "mov rax, rdi; add rax, rsi; ret", "2", "40"], "");
    assert_eq!((text(&out.stdout).as_str(), out.status.code()), ("42\n", Some(0)));
    let out = rustyjit(&["exec", "mov rax, rdi; ret", "-5"], "");
    assert_eq!(text(&out.stdout), "-5\n");
    let out = rustyjit(&["exec", "mov rax, rdi; ret", "0xffffffffffffffff"], "");
    assert_eq!(text(&out.stdout), "-1\n");
    let out = rustyjit(&["exec", "mov rax, r9; ret", "1", "2", "3", "4", "5", "6"], "");
    assert_eq!(text(&out.stdout), "6\n");
    let out = rustyjit(&["exec", "ret", "1", "2", "3", "4", "5", "6", "7"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("at most six"));
    let out = rustyjit(&["exec", "mov rax, 3; frob"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "<arg>:1:13: error: unknown instruction `frob`\n");
}

#[test]
fn exec_reports_faults_hangs_and_convention_breaks() {
    let out = rustyjit(&["exec", "xor ecx, ecx\ndiv rcx\nret"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: SIGFPE at +0x2: div rcx\n");
    let out = rustyjit(&["exec", "top: jmp top", "--timeout-ms", "50"], "");
    assert_eq!(text(&out.stderr), "error: timed out after 50 ms\n");
    let out = rustyjit(&["exec", "mov r12, 1; ret"], "");
    assert!(text(&out.stderr).starts_with("error: broke the calling convention: `r12` changed"));
}

#[test]
fn run_prints_every_case_and_the_totals() {
    let dir = std::env::temp_dir().join(format!("rustyjit-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("a.toml"),
        "[[case]]\nname = \"three\"\nasm = \"mov eax, 3; ret\"\nreturns = 3\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("b.toml"),
        "[[case]]\nname = \"x\"\nasm = \"ud2\"\n\n[[case]]\nname = \"y\"\nasm = \"ret\"\n",
    )
    .expect("write");
    std::fs::write(dir.join("c.toml"), "[[case]]\nnme = \"oops\"\n").expect("write");
    std::fs::write(dir.join("notes.txt"), "not a vector file").expect("write");
    let out = rustyjit(&["run", dir.to_str().expect("utf-8")], "");
    assert_eq!(out.status.code(), Some(1));
    let d = dir.display();
    assert_eq!(
        text(&out.stdout),
        format!(
            "PASS {d}/a.toml: three: returned 3 (0x3)\nFAIL {d}/b.toml: x: SIGILL at +0x0: ud2\nPASS {d}/b.toml: y: returned 0 (0x0)\n2 passed, 1 failed\n"
        )
    );
    assert!(
        text(&out.stderr).starts_with(&format!("{d}/c.toml:2:1: error: unknown field `nme`")),
        "{}",
        text(&out.stderr)
    );
    let out = rustyjit(&["run", dir.join("a.toml").to_str().expect("utf-8")], "");
    assert_eq!(
        (out.status.code(), text(&out.stdout).lines().last()),
        (Some(0), Some("1 passed, 0 failed"))
    );
    let out = rustyjit(&["run", dir.join("missing.toml").to_str().expect("utf-8")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.toml:1:1: error: cannot read the file"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forms_prints_the_generated_list() {
    let out = rustyjit(&["forms"], "");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        rustyjit::asm::table::supported_instructions_markdown()
    );
}

/// A folder of vector files for one test, removed when dropped.
struct Vectors(std::path::PathBuf);

impl Vectors {
    /// A new empty folder, unique to the test (`name`) and to this process.
    fn new(name: &str) -> Vectors {
        let dir = std::env::temp_dir().join(format!("rustyjit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Vectors(dir)
    }

    /// Writes a file in the folder; its path as text.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8 path").to_string()
    }

    /// The folder's path as text.
    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for Vectors {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A case that returns 3 and says so.
const THREE: &str = "[[case]]\nname = \"three\"\nasm = \"mov eax, 3; ret\"\nreturns = 3\n";

/// Two failing cases: one faults without expecting to (line 2), one returns the wrong value (line 6).
const TWO_FAILING: &str = "# two that fail\n[[case]]\nname = \"x\"\nasm = \"ud2\"\n\n[[case]]\nname = \"wrong\"\nasm = \"mov eax, 2; ret\"\nreturns = 3\n";

#[test]
fn run_json_is_one_array_of_every_case() {
    let dir = Vectors::new("run-json");
    let a = dir.file("a.toml", THREE);
    let b = dir.file("b.toml", TWO_FAILING);
    let c = dir.file("c.toml", "[[case]]\nnme = \"oops\"\n");
    let out = rustyjit(&["run", dir.path(), "--format", "json"], "");
    assert_eq!(out.status.code(), Some(1));
    // All of standard output is the one array: no closing line, no file errors.
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is pure JSON");
    assert_eq!(
        json,
        serde_json::json!([
            {"file": a, "name": "three", "line": 1, "outcome": "returned 3 (0x3)",
             "expected": "returns 3 (0x3)", "passed": true, "reasons": []},
            {"file": b, "name": "x", "line": 2, "outcome": "SIGILL at +0x0: ud2",
             "expected": null, "passed": false, "reasons": ["SIGILL at +0x0: ud2"]},
            {"file": b, "name": "wrong", "line": 6, "outcome": "returned 2 (0x2)",
             "expected": "returns 3 (0x3)", "passed": false,
             "reasons": ["returned 2 (0x2), expected 3 (0x3)"]},
        ])
    );
    // The keys in the documented order.
    let first = text(&out.stdout);
    let keys: Vec<usize> = [
        "\"file\"",
        "\"name\"",
        "\"line\"",
        "\"outcome\"",
        "\"expected\"",
        "\"passed\"",
        "\"reasons\"",
    ]
    .iter()
    .map(|k| first.find(k).expect("key"))
    .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{first}");
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{c}:2:1: error: unknown field `nme`")),
        "{stderr}"
    );
    assert_eq!(lines.last(), Some(&"1 passed, 2 failed"), "{stderr}");
    assert_eq!(lines.len(), 2, "{stderr}");
    // Nothing failing: exit status 0, and still only JSON on standard output.
    let out = rustyjit(&["run", &a, "--format", "json"], "");
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is pure JSON");
    assert_eq!(json.as_array().map(Vec::len), Some(1));
    assert_eq!(text(&out.stderr), "1 passed, 0 failed\n");
}

#[test]
fn run_filter_keeps_cases_by_name_or_by_file() {
    let dir = Vectors::new("run-filter");
    let alpha = dir.file(
        "alpha.toml",
        "[[case]]\nname = \"sum_small\"\nasm = \"lea eax, [rdi + rsi]; ret\"\nargs = [1, 2]\nreturns = 3\n\n\
         [[case]]\nname = \"crash\"\nasm = \"ud2\"\n",
    );
    let beta = dir.file(
        "beta.toml",
        "[[case]]\nname = \"other\"\nasm = \"mov eax, 7; ret\"\nreturns = 7\n\n\
         [[case]]\nname = \"sum_big\"\nasm = \"lea rax, [rdi + rsi]; ret\"\nargs = [40, 2]\nreturns = 42\n",
    );
    // Unfiltered, the crashing case fails the run.
    let out = rustyjit(&["run", dir.path()], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().last(), Some("3 passed, 1 failed"));
    // By case name: the crash is not run, so the run passes.
    let out = rustyjit(&["run", dir.path(), "--filter", "sum_"], "");
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (
            Some(0),
            format!(
                "PASS {alpha}: sum_small: returned 3 (0x3)\nPASS {beta}: sum_big: returned 42 (0x2a)\n2 passed, 0 failed\n"
            )
        )
    );
    // By file name: every case of that file, whatever its name.
    let out = rustyjit(&["run", dir.path(), "--filter", "beta.t"], "");
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (
            Some(0),
            format!(
                "PASS {beta}: other: returned 7 (0x7)\nPASS {beta}: sum_big: returned 42 (0x2a)\n2 passed, 0 failed\n"
            )
        )
    );
    let out = rustyjit(&["run", dir.path(), "--filter", "alpha", "--format", "json"], "");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is pure JSON");
    let names: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["sum_small", "crash"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(1), "1 passed, 1 failed\n".into())
    );
    // Nothing matches: nothing run, nothing failed.
    let out = rustyjit(&["run", dir.path(), "--filter", "no such case"], "");
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "0 passed, 0 failed\n".into())
    );
}

/// The value of `attr="..."` in the first tag of `xml` that starts with `start`.
fn attr<'a>(xml: &'a str, start: &str, attr: &str) -> Option<&'a str> {
    let tag = &xml[xml.find(start)?..];
    let tag = &tag[..tag.find('>')?];
    let value = &tag[tag.find(&format!(" {attr}=\""))? + attr.len() + 3..];
    Some(&value[..value.find('"')?])
}

#[test]
fn run_junit_has_a_suite_per_file_and_a_case_per_case() {
    let dir = Vectors::new("run-junit");
    let a = dir.file("a.toml", THREE);
    let b = dir.file(
        "b.toml",
        &format!("{TWO_FAILING}\n[[case]]\nname = \"a<b & \\\"c\\\"\"\nasm = \"ret\"\n"),
    );
    let c = dir.file("c.toml", "[[case]]\nnme = \"oops\"\n");
    let missing = dir.0.join("missing.toml");
    let missing = missing.to_str().expect("utf-8 path");
    let xml_path = dir.0.join("report.xml");
    let xml_file = xml_path.to_str().expect("utf-8 path");
    let out = rustyjit(&["run", dir.path(), missing, "--junit", xml_file], "");
    assert_eq!(out.status.code(), Some(1));
    // The usual output is still there.
    assert_eq!(text(&out.stdout).lines().last(), Some("2 passed, 2 failed"));
    let xml = std::fs::read_to_string(&xml_path).expect("the report is written");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<testsuite ").count(), 4, "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 6, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<error ").count(), 2, "{xml}");
    for (suite, tests, failures, errors) in [(&a, "1", "0", "0"), (&b, "3", "2", "0"), (&c, "1", "0", "1")] {
        let start = format!("<testsuite name=\"{suite}\"");
        assert_eq!(attr(&xml, &start, "tests"), Some(tests), "{suite}: {xml}");
        assert_eq!(attr(&xml, &start, "failures"), Some(failures), "{suite}: {xml}");
        assert_eq!(attr(&xml, &start, "errors"), Some(errors), "{suite}: {xml}");
    }
    assert_eq!(attr(&xml, "<testcase name=\"three\"", "classname"), Some(a.as_str()));
    let wrong = &xml[xml.find("<testcase name=\"wrong\"").expect("wrong")..];
    let wrong = &wrong[..wrong.find("</testcase>").expect("end")];
    assert_eq!(attr(wrong, "<testcase", "classname"), Some(b.as_str()));
    assert_eq!(
        attr(wrong, "<failure", "message"),
        Some("returned 2 (0x2), expected 3 (0x3)")
    );
    // Names are escaped, not written raw.
    assert!(xml.contains("<testcase name=\"a&lt;b &amp; &quot;c&quot;\""), "{xml}");
    // The passing case has no failure: the suites' counts above and the number of failures agree.
    let three = &xml[xml.find("<testcase name=\"three\"").expect("three")..];
    assert!(
        three[..three.find("</testcase>").unwrap_or(three.len())]
            .find("<failure")
            .is_none()
    );
    // Problems with files are errors in the report: the schema error and the file that is not there.
    let bad = &xml[xml.find(&format!("<testsuite name=\"{c}\"")).expect("c's suite")..];
    assert!(
        attr(bad, "<error", "message").is_some_and(|m| m.starts_with("unknown field `nme`")),
        "{xml}"
    );
    let gone = &xml[xml
        .find(&format!("<testsuite name=\"{missing}\""))
        .expect("missing's suite")..];
    assert!(
        attr(gone, "<error", "message").is_some_and(|m| m.starts_with("cannot read the file")),
        "{xml}"
    );
    // A report that cannot be written is an error, even when every case passed.
    let out = rustyjit(&["run", &a], "");
    assert_eq!(out.status.code(), Some(0));
    let nowhere = dir.0.join("no-folder").join("report.xml");
    let out = rustyjit(&["run", &a, "--junit", nowhere.to_str().expect("utf-8 path")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("report.xml: error: cannot write the JUnit report"),
        "{}",
        text(&out.stderr)
    );
    assert!(!nowhere.exists());
}

#[test]
fn run_output_is_the_same_for_any_number_of_jobs() {
    let dir = Vectors::new("run-jobs");
    // The first file is slow, so a run that printed files as they finished would print it last.
    let slow = "xor eax, eax\\nmov ecx, 100000000\\nl: dec ecx\\njnz l\\nret";
    let mut expected = String::new();
    for (i, name) in ["f0", "f1", "f2", "f3", "f4"].into_iter().enumerate() {
        let asm = if i == 0 {
            slow.to_string()
        } else {
            format!("mov eax, {i}; ret")
        };
        let path = dir.file(
            &format!("{name}.toml"),
            &format!(
                "[[case]]\nname = \"{name}_a\"\nasm = \"{asm}\"\n\n[[case]]\nname = \"{name}_b\"\nasm = \"ud2\"\n\n\
                 [[case]]\nname = \"{name}_c\"\nasm = \"mov eax, 5; ret\"\nreturns = 5\n"
            ),
        );
        expected.push_str(&format!(
            "PASS {path}: {name}_a: returned {i} ({i:#x})\nFAIL {path}: {name}_b: SIGILL at +0x0: ud2\n\
             PASS {path}: {name}_c: returned 5 (0x5)\n"
        ));
    }
    expected.push_str("10 passed, 5 failed\n");
    let one = rustyjit(&["run", dir.path(), "--jobs", "1"], "");
    assert_eq!(text(&one.stdout), expected);
    for jobs in ["2", "0"] {
        let many = rustyjit(&["run", dir.path(), "--jobs", jobs], "");
        assert_eq!(text(&many.stdout), expected, "--jobs {jobs}");
        assert_eq!(many.status.code(), Some(1));
    }
    let json_one = rustyjit(&["run", dir.path(), "--jobs", "1", "--format", "json"], "");
    let json_two = rustyjit(&["run", dir.path(), "--jobs", "2", "--format", "json"], "");
    assert_eq!(text(&json_one.stdout), text(&json_two.stdout));
    let json: serde_json::Value = serde_json::from_slice(&json_two.stdout).expect("stdout is pure JSON");
    assert_eq!(json.as_array().map(Vec::len), Some(15));
    assert_eq!(json[0]["name"], "f0_a");
    assert_eq!(json[14]["name"], "f4_c");
    let out = rustyjit(&["run", dir.path(), "--jobs", "two"], "");
    assert_eq!(out.status.code(), Some(2), "not a number: a usage error");
}

#[test]
fn run_of_a_path_that_cannot_be_read_fails() {
    let dir = Vectors::new("run-unreadable");
    let a = dir.file("a.toml", THREE);
    let missing = dir.0.join("missing.toml");
    let missing = missing.to_str().expect("utf-8 path");
    for format in ["text", "json"] {
        let out = rustyjit(&["run", &a, missing, "--format", format], "");
        assert_eq!(out.status.code(), Some(1), "{format}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("{missing}:1:1: error: cannot read the file")),
            "{format}: {stderr}"
        );
        // The file that could be read still ran.
        assert!(text(&out.stdout).contains("three"), "{format}");
    }
    let out = rustyjit(&["run", missing, "--format", "json"], "");
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is pure JSON");
    assert_eq!(json, serde_json::json!([]));
}
