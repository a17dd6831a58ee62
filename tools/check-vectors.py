#!/usr/bin/env python3
"""Check the expectations of vector files against GNU as and the real CPU, without rustyjit.

For every case of every vector file this tool
  * assembles the case's `asm` with GNU as (`as --64`, `.intel_syntax noprefix`) as a function of its own,
    compares the object's `.text` with `bytes` (when given) and refuses objects that need relocations;
  * links all cases with a small C driver and an assembly entry shim that sets the registers exactly as the
    rustyjit harness does (every general register 0 except `args`, `regs` and the `memory` buffer in rdi),
    calls the case, and stores every register and the flags;
  * runs each case in a forked child (a fault kills only the child), twice: once with the arithmetic flags all
    clear on entry and the `memory` buffer just before an inaccessible page, once with CF PF AF ZF SF OF all set
    and the buffer just after one. Both runs must agree, so a case whose result depends on the flags it happens
    to start with (the harness promises none) or that reads or writes outside its buffer is caught;
  * compares the outcome with `returns`, `memory_after` and `fault`, and checks the calling convention as the
    harness does (rbx, rbp, r12-r15 restored and the stack balanced, unless `preserve = false`).

Usage: python3 tools/check-vectors.py [-v] [-k] [PATH...]      (default: vectors/)
Exit status 1 on any mismatch or bad case. Needs Python 3.11+, GNU binutils (as, objcopy, objdump) and gcc.
"""

import argparse
import concurrent.futures
import contextlib
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import tomllib

REGS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
ARG_REGS = [7, 6, 2, 1, 8, 9]          # rdi rsi rdx rcx r8 r9
CALLEE_SAVED = [3, 5, 12, 13, 14, 15]  # rbx rbp r12 r13 r14 r15
KEYS = {"name", "asm", "args", "returns", "bytes", "fault", "timeout_ms", "regs", "memory", "memory_after",
        "state", "preserve"}
SIGNALS = {"SIGSEGV": 11, "SIGBUS": 7, "SIGILL": 4, "SIGFPE": 8, "SIGTRAP": 5}
SIGNAMES = {v: k for k, v in SIGNALS.items()} | {9: "SIGKILL", 6: "SIGABRT"}
# Entry RFLAGS for the two runs: bit 1 (always 1) and IF; then the same with CF PF AF ZF SF OF set.
ENTRY_FLAGS = [0x202, 0x202 | 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800]
MASK = (1 << 64) - 1

# The entry shim: saves the driver's callee-saved registers, loads the case's registers and entry flags from the
# context, calls the case through [rsp] (so the case starts with rsp = 8 mod 16, as after any call), stores every
# register and the flags, and restores the driver's stack and flags. Context layout (bytes): regs_in 0, regs_out 128,
# flags_in 256, flags_out 264, target 272, call_rsp 280, ret_rsp 288. Registers in encoder order (rax rcx rdx rbx
# rsp rbp rsi rdi r8 .. r15).
SHIM = r"""
    .intel_syntax noprefix
    .data
    .p2align 3
shim_ctx: .quad 0
    .text
    .globl shim_enter
shim_enter:
    push rbx; push rbp; push r12; push r13; push r14; push r15
    mov qword ptr [rip + shim_ctx], rdi
    mov r11, rdi
    push qword ptr [r11 + 272]
    mov qword ptr [r11 + 280], rsp
    push qword ptr [r11 + 256]
    popfq
    mov rax, qword ptr [r11 + 0];  mov rcx, qword ptr [r11 + 8];  mov rdx, qword ptr [r11 + 16]
    mov rbx, qword ptr [r11 + 24]; mov rbp, qword ptr [r11 + 40]; mov rsi, qword ptr [r11 + 48]
    mov rdi, qword ptr [r11 + 56]; mov r8, qword ptr [r11 + 64];  mov r9, qword ptr [r11 + 72]
    mov r10, qword ptr [r11 + 80]; mov r12, qword ptr [r11 + 96]; mov r13, qword ptr [r11 + 104]
    mov r14, qword ptr [r11 + 112]; mov r15, qword ptr [r11 + 120]; mov r11, qword ptr [r11 + 88]
    call qword ptr [rsp]
    push r11
    mov r11, qword ptr [rip + shim_ctx]
    pushfq
    pop qword ptr [r11 + 264]
    mov qword ptr [r11 + 128], rax; mov qword ptr [r11 + 136], rcx; mov qword ptr [r11 + 144], rdx
    mov qword ptr [r11 + 152], rbx; mov qword ptr [r11 + 168], rbp; mov qword ptr [r11 + 176], rsi
    mov qword ptr [r11 + 184], rdi; mov qword ptr [r11 + 192], r8;  mov qword ptr [r11 + 200], r9
    mov qword ptr [r11 + 208], r10; mov qword ptr [r11 + 224], r12; mov qword ptr [r11 + 232], r13
    mov qword ptr [r11 + 240], r14; mov qword ptr [r11 + 248], r15
    pop qword ptr [r11 + 216]
    mov qword ptr [r11 + 288], rsp
    mov rsp, qword ptr [r11 + 280]
    add rsp, 8
    push 0x202          # clean flags for the driver: DF clear (the ABI), and AC clear (C code may be unaligned)
    popfq
    pop r15; pop r14; pop r13; pop r12; pop rbp; pop rbx
    ret
    .section .note.GNU-stack,"",@progbits
"""

# The driver reads one job per line on stdin: `INDEX AT_START FLAGS TIMEOUT_MS R0..R15 MEMHEX|-` (numbers in hex), runs
# case INDEX in a forked child and prints `INDEX ret R0..R15 FLAGS RSPDELTA BUFFER MEMHEX|-`, `INDEX sig N` or
# `INDEX died STATUS`.
DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

struct ctx { uint64_t regs_in[16], regs_out[16], flags_in, flags_out, target, call_rsp, ret_rsp; };
void shim_enter(struct ctx *);
extern void *const case_table[];
extern const int case_count;

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

int main(void) {
    static char line[1 << 20];
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    while (fgets(line, sizeof line, stdin)) {
        char *p = line;
        long idx = strtol(p, &p, 16);
        int at_start = (int)strtol(p, &p, 16);
        uint64_t flags = strtoull(p, &p, 16);
        uint64_t timeout_ms = strtoull(p, &p, 16);
        struct ctx c;
        memset(&c, 0, sizeof c);
        for (int i = 0; i < 16; i++) c.regs_in[i] = strtoull(p, &p, 16);
        while (*p == ' ') p++;
        size_t memlen = 0;
        unsigned char *mem = NULL;
        if (*p != '-') {
            size_t n = strcspn(p, " \n") / 2;
            mem = malloc(n ? n : 1);
            for (size_t i = 0; i < n; i++) mem[i] = hexval(p[2 * i]) * 16 + hexval(p[2 * i + 1]);
            memlen = n;
        }
        if (idx < 0 || idx >= case_count) { printf("%lx died bad-index\n", idx); continue; }
        int fds[2];
        if (pipe(fds) != 0) { perror("pipe"); return 2; }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            struct rlimit nocore = {0, 0};
            setrlimit(RLIMIT_CORE, &nocore);
            struct itimerval t = {{0, 0}, {timeout_ms / 1000, (timeout_ms % 1000) * 1000}};
            setitimer(ITIMER_REAL, &t, NULL);
            if (mem) {
                /* The buffer gets inaccessible pages on both sides, and touches one of them (after it, or before it
                   when at_start), so that a read or write outside the buffer faults here instead of quietly
                   depending on what the harness's allocator left next to it. */
                size_t page = 4096, span = (memlen + page - 1) / page * page;
                char *m = mmap(NULL, span + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (m == MAP_FAILED || mprotect(m + page, span, PROT_READ | PROT_WRITE) != 0) _exit(4);
                unsigned char *b = (unsigned char *)(at_start ? m + page : m + page + span - memlen);
                memcpy(b, mem, memlen);
                mem = b;
                c.regs_in[7] = (uint64_t)(uintptr_t)mem;
            }
            c.flags_in = flags;
            c.target = (uint64_t)(uintptr_t)case_table[idx];
            shim_enter(&c);
            uint64_t out[19];
            memcpy(out, c.regs_out, sizeof c.regs_out);
            out[16] = c.flags_out;
            out[17] = c.ret_rsp - c.call_rsp;
            out[18] = (uint64_t)(uintptr_t)mem; /* where the buffer was, to recognise pointers into it */
            if (write(fds[1], out, sizeof out) != sizeof out) _exit(3);
            if (memlen && write(fds[1], mem, memlen) != (ssize_t)memlen) _exit(3);
            _exit(0);
        }
        close(fds[1]);
        uint64_t out[19];
        size_t got = 0;
        unsigned char *after = malloc(memlen + 1);
        for (;;) {
            ssize_t n;
            if (got < sizeof out) n = read(fds[0], (char *)out + got, sizeof out - got);
            else if (got < sizeof out + memlen) n = read(fds[0], after + (got - sizeof out), sizeof out + memlen - got);
            else break;
            if (n <= 0) break;
            got += n;
        }
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) printf("%lx sig %x\n", idx, WTERMSIG(status));
        else if (WEXITSTATUS(status) != 0 || got != sizeof out + memlen)
            printf("%lx died exit-%d\n", idx, WEXITSTATUS(status));
        else {
            printf("%lx ret", idx);
            for (int i = 0; i < 19; i++) printf(" %llx", (unsigned long long)out[i]);
            printf(" ");
            if (!memlen) printf("-");
            for (size_t i = 0; i < memlen; i++) printf("%02x", after[i]);
            printf("\n");
        }
        free(after);
        free(mem); /* the parent's copy; the child's is its own mapping */
    }
    return 0;
}
"""


def parse_int(v):
    """A TOML integer or a string as rustyjit reads it (decimal, 0x, 0b, optional '-', '_' allowed)."""
    if isinstance(v, bool):
        raise ValueError(f"not an integer: {v!r}")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str):
        s = v.strip().replace("_", "")
        neg = s.startswith("-")
        d = s[1:] if neg else s
        dl = d.lower()
        if dl.startswith("0x"):
            n = int(dl[2:], 16)
        elif dl.startswith("0b"):
            n = int(dl[2:], 2)
        else:
            if not dl.isdigit():
                raise ValueError(f"not an integer: {v!r}")
            n = int(dl)
        if n > MASK:
            raise ValueError(f"more than 64 bits: {v!r}")
        n = -n if neg else n
        if n < -(1 << 63):
            raise ValueError(f"below -2^63: {v!r}")
    else:
        raise ValueError(f"not an integer: {v!r}")
    return n & MASK


def parse_hex(s):
    digits = "".join(s.split())
    if len(digits) % 2:
        raise ValueError("odd number of hex digits")
    return bytes.fromhex(digits)


class Case:
    def __init__(self, path, index, raw):
        self.path, self.index, self.raw = path, index, raw
        self.errors = []
        self.name = raw.get("name", f"#{index}")
        unknown = set(raw) - KEYS
        if unknown:
            self.errors.append(f"unknown keys {sorted(unknown)}")
        if "name" not in raw or "asm" not in raw:
            self.errors.append("missing `name` or `asm`")
        self.asm = raw.get("asm", "")
        self.regs = [0] * 16
        set_by = [None] * 16
        arg_regs = list(ARG_REGS)
        self.memory = None
        try:
            if "memory" in raw:
                self.memory = parse_hex(raw["memory"])
                arg_regs.pop(0)
                set_by[7] = "memory"
            args = raw.get("args", [])
            if len(args) > len(arg_regs):
                self.errors.append("too many args")
            for r, a in zip(arg_regs, args):
                self.regs[r] = parse_int(a)
                set_by[r] = "args"
            for name, v in raw.get("regs", {}).items():
                r = REGS.index(name.lower())
                if r == 4 or set_by[r]:
                    self.errors.append(f"`{name}` cannot be set here")
                self.regs[r] = parse_int(v)
            self.returns = parse_int(raw["returns"]) if "returns" in raw else None
            self.bytes = parse_hex(raw["bytes"]) if "bytes" in raw else None
            self.memory_after = parse_hex(raw["memory_after"]) if "memory_after" in raw else None
            if self.memory_after is not None and self.memory is None:
                self.errors.append("`memory_after` without `memory`")
            self.fault = None
            if "fault" in raw:
                f = raw["fault"].upper()
                f = f if f.startswith("SIG") else "SIG" + f
                if f not in SIGNALS:
                    self.errors.append(f"unknown fault {raw['fault']!r}")
                else:
                    self.fault = SIGNALS[f]
            if self.fault and self.returns is not None:
                self.errors.append("both `fault` and `returns`")
            self.timeout_ms = int(raw.get("timeout_ms", 1000))
            self.preserve = bool(raw.get("preserve", True))
        except (ValueError, KeyError, TypeError) as e:
            self.errors.append(f"bad value: {e}")
        self.symbol = None
        self.outcomes = []

    @property
    def label(self):
        return f"{self.path}: {self.name}"

    def asserts(self):
        return self.returns is not None or self.memory_after is not None or self.fault is not None


def gas_source(case):
    """The case as a GNU as function. GNU as (x86) already reads `;` as a statement separator and `#` as a
    comment, which is what the vector syntax uses, so the text goes in unchanged."""
    return (".intel_syntax noprefix\n.text\n"
            f".globl {case.symbol}\n{case.symbol}:\n{case.asm}\n"
            '.section .note.GNU-stack,"",@progbits\n')


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# NASM spellings that rustyjit accepts but GNU as reads differently: `qword [rdi]` is silently `[rdi + 8]` to GNU as
# (the size keyword without `ptr` is a number), and `db`/`dd` are not directives there.
NASM_ONLY = re.compile(r"(?im)\b(byte|word|dword|qword|xmmword)\s*\[|(^|[;:])\s*d[bwdq]\s")


def assemble(case, work):
    if m := NASM_ONLY.search(case.asm):
        return f"NASM-only spelling `{m.group(0).strip()}`: write `qword ptr [..]` and `.byte/.word/.long/.quad`"
    base = work / case.symbol
    base.with_suffix(".s").write_text(gas_source(case))
    r = run(["as", "--64", "-o", str(base.with_suffix(".o")), str(base.with_suffix(".s"))])
    if r.returncode != 0 or r.stderr.strip():
        return f"GNU as: {r.stderr.strip()}"
    r = run(["objdump", "-r", str(base.with_suffix(".o"))])
    relocs = [l for l in r.stdout.splitlines() if re.match(r"^[0-9a-f]{8,} ", l)]
    if relocs:
        return f"needs relocations (not self-contained): {relocs}"
    r = run(["objcopy", "-O", "binary", "-j", ".text", str(base.with_suffix(".o")), str(base.with_suffix(".bin"))])
    if r.returncode != 0:
        return f"objcopy: {r.stderr.strip()}"
    case.text = base.with_suffix(".bin").read_bytes()
    return None


def describe(outcome):
    kind = outcome[0]
    if kind == "ret":
        return f"returned {outcome[1][0]:#x}"
    if kind == "sig" and outcome[1] == 14:
        return "timed out (SIGALRM at timeout_ms)"
    if kind == "sig":
        return f"faulted with {SIGNAMES.get(outcome[1], outcome[1])}"
    return f"died ({outcome[1]})"


def judge(case):
    """The case's failures, given its outcomes (one per entry-flags setting)."""
    fails = []
    if case.bytes is not None and case.text != case.bytes:
        fails.append(f"bytes: GNU as gives {case.text.hex(' ')}, the case says {case.bytes.hex(' ')}")
    first = case.outcomes[0]
    for o in case.outcomes[1:]:
        if o != first and not (o[0] == "ret" and first[0] == "ret" and comparable(o) == comparable(first)):
            fails.append(f"depends on the entry flags or on memory outside its buffer: {describe(first)} with flags "
                         f"clear and a guard page after the buffer, {describe(o)} with flags set and one before")
    kind = first[0]
    if case.fault is not None:
        if kind != "sig" or first[1] != case.fault:
            fails.append(f"expected {SIGNAMES[case.fault]}, {describe(first)}")
        return fails
    if kind != "ret":
        fails.append(describe(first))
        return fails
    regs, mem = first[1], first[2]
    if case.returns is not None and regs[0] != case.returns:
        got, want = regs[0], case.returns
        fails.append(f"rax is {got:#x} ({to_signed(got)}), expected {want:#x} ({to_signed(want)})")
    if case.memory_after is not None and mem != case.memory_after:
        fails.append(f"memory after is {mem.hex(' ')}, expected {case.memory_after.hex(' ')}")
    if case.preserve:
        if regs[17] != 0:
            fails.append(f"unbalanced stack: rsp off by {to_signed(regs[17])}")
        for r in CALLEE_SAVED:
            if regs[r] != case.regs[r]:
                fails.append(f"{REGS[r]} changed from {case.regs[r]:#x} to {regs[r]:#x} (callee-saved)")
    return fails


def comparable(outcome):
    """A returned outcome without what may differ between the two runs: the flags after the call (the entry flags
    differ on purpose) and the buffer's address (pointers into the buffer become offsets)."""
    _, vals, mem = outcome
    base, end = vals[18], vals[18] + len(mem or b"")
    regs = tuple(("buffer", v - base) if base and base <= v <= end else v for v in vals[:16])
    return regs, vals[17], mem


def to_signed(v):
    return v - (1 << 64) if v >> 63 else v


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=["vectors"])
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case, not only failures")
    ap.add_argument("-k", "--keep", action="store_true", help="keep the work directory and print its path")
    opts = ap.parse_args()

    files = []
    for p in map(pathlib.Path, opts.paths):
        files.extend(sorted(p.glob("*.toml")) if p.is_dir() else [p])
    cases, bad = [], []
    for f in files:
        try:
            data = tomllib.loads(f.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            bad.append(f"{f}: cannot read: {e}")
            continue
        if set(data) - {"case"}:
            bad.append(f"{f}: unknown top-level keys {sorted(set(data) - {'case'})}")
        names = set()
        for i, raw in enumerate(data.get("case", [])):
            c = Case(f, i, raw)
            if c.name in names:
                c.errors.append("duplicate name")
            names.add(c.name)
            c.symbol = f"case_{len(cases)}"
            cases.append(c)

    if opts.keep:
        work_ctx = contextlib.nullcontext(tempfile.mkdtemp(prefix="check-vectors-"))
    else:
        work_ctx = tempfile.TemporaryDirectory(prefix="check-vectors-")
    with work_ctx as wd:
        work = pathlib.Path(wd)
        good = [c for c in cases if not c.errors]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2) * 2) as pool:
            for c, err in zip(good, pool.map(lambda c: assemble(c, work), good)):
                if err:
                    c.errors.append(err)
        good = [c for c in good if not c.errors]
        (work / "shim.s").write_text(SHIM)
        (work / "driver.c").write_text(DRIVER)
        table = "".join(f"extern char {c.symbol}[];\n" for c in good)
        table += "void *const case_table[] = {" + "".join(f"{c.symbol}, " for c in good) + "0};\n"
        table += f"const int case_count = {len(good)};\n"
        (work / "table.c").write_text(table)
        objs = [str(work / f"{c.symbol}.o") for c in good]
        r = run(["gcc", "-O1", "-no-pie", "-o", str(work / "driver"), str(work / "driver.c"), str(work / "table.c"),
                 str(work / "shim.s"), *objs])
        if r.returncode != 0:
            print(f"building the driver failed:\n{r.stderr}", file=sys.stderr)
            return 2
        jobs = []
        for i, c in enumerate(good):
            for at_start, flags in enumerate(ENTRY_FLAGS):
                mem = c.memory.hex() if c.memory else "-"
                regs = " ".join(f"{r:x}" for r in c.regs)
                jobs.append(f"{i:x} {at_start:x} {flags:x} {c.timeout_ms:x} {regs} {mem}\n")
        r = subprocess.run([str(work / "driver")], input="".join(jobs), capture_output=True, text=True)
        if r.returncode != 0:
            print(f"the driver failed ({r.returncode}):\n{r.stderr}", file=sys.stderr)
            return 2
        for line in r.stdout.splitlines():
            parts = line.split()
            c = good[int(parts[0], 16)]
            if parts[1] == "ret":
                vals = [int(x, 16) for x in parts[2:21]]
                mem = bytes.fromhex(parts[21]) if parts[21] != "-" else (b"" if c.memory is not None else None)
                c.outcomes.append(("ret", tuple(vals), mem))
            elif parts[1] == "sig":
                c.outcomes.append(("sig", int(parts[2], 16), None))
            else:
                c.outcomes.append(("died", " ".join(parts[2:]), None))
        if opts.keep:
            print(f"work directory: {wd}", file=sys.stderr)

    failed, per_file, unasserted = 0, {}, []
    for c in cases:
        fails = list(c.errors)
        if not fails:
            if len(c.outcomes) != len(ENTRY_FLAGS):
                fails.append("no result from the driver")
            else:
                fails = judge(c)
        if not c.asserts() and c.bytes is None:
            unasserted.append(c.label)
        ok_, n_ = per_file.get(c.path, (0, 0))
        per_file[c.path] = (ok_ + (not fails), n_ + 1)
        if fails:
            failed += 1
            print(f"FAIL {c.label}: " + "; ".join(fails))
        elif opts.verbose:
            print(f"ok   {c.label}: {describe(c.outcomes[0])}")
    for b in bad:
        print(f"FAIL {b}")
    for label in unasserted:
        print(f"note {label}: asserts nothing (no returns, memory_after, fault or bytes)")
    print()
    for f, (ok_, n_) in per_file.items():
        print(f"  {str(f):40} {ok_:4} / {n_:<4} ok")
    n_bytes = sum(1 for c in cases if c.bytes is not None)
    print(f"{len(cases) - failed} of {len(cases)} cases agree with GNU as and the CPU "
          f"({n_bytes} with `bytes`; each run twice, with entry flags {' and '.join(hex(f) for f in ENTRY_FLAGS)}); "
          f"{failed} failed" + (f", {len(bad)} bad files" if bad else ""))
    return 1 if failed or bad else 0


if __name__ == "__main__":
    sys.exit(main())
