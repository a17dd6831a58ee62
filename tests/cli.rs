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
