#!/usr/bin/env python3
"""Check the expectations of vector files against GNU as and the real CPU, without rustyjit.

For every `[[case]]` of every vector file this tool
  * assembles the case's `asm` with GNU as (`as --64`, `.intel_syntax noprefix`) as a function of its own,
    compares the object's `.text` with `bytes` (when given) and refuses objects that need relocations;
  * links all cases with a small C driver and an assembly entry shim that sets the machine up as the vector format
    (round 2) says: integer `args` in rdi, rsi, .. and float `args` in xmm0..xmm7 (System V classification, the
    `memory` buffer first in rdi), `regs` (general registers and whole xmm registers), every other general register
    0 except the callee-saved ones (rbx, rbp, r12-r15), which hold this tool's own canary values; MXCSR 0x1f80, x87
    control word 0x037f, DF clear, and three canary words on the stack above the return address. It calls the case
    on a stack of its own and records every general register, every xmm register, the flags, MXCSR, the x87 control
    word, the stack pointer after `ret` and the three caller's-frame words;
  * runs each case twice, in a forked child (a fault kills only the child; the driver goes on in a new one): once
    with the arithmetic flags all clear on entry, the `memory` buffer just before an inaccessible page and the unused
    stack filled with 00, once with CF PF AF ZF SF OF all set, the buffer just after an inaccessible page and the
    stack filled with a5. Both runs must agree, so a case whose result depends on the flags it starts with (the
    harness promises none), on memory outside its buffer or on stack it never wrote is caught;
  * compares the outcome with `returns` (rax, or xmm0 for f64/f32, with `ulps`), `memory_after`, `fault` and
    `breaks`, and checks the calling convention (stack balanced, callee-saved registers, caller's frame, DF, MXCSR
    control bits, x87 control word) unless `preserve = false`.

For every `[[property]]` it assembles `asm` and `reference`, runs both on the edge inputs of the argument types and
on pseudo-random inputs from Python's `random.Random(seed)` (not rustyjit's generator), and reports any input on
which they differ, or on which either side faults, times out or breaks the convention.

Usage: python3 tools/check-vectors.py [-v] [-k] [--runs N|all] [PATH...]      (default: vectors/)
Exit status 1 on any mismatch or bad case. Needs Python 3.11+ (standard library only), GNU as and gcc.
"""

import argparse
import concurrent.futures
import contextlib
import os
import pathlib
import random
import re
import struct
import subprocess
import sys
import tempfile
import tomllib

REGS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
XMMS = [f"xmm{i}" for i in range(16)]
ARG_REGS = [7, 6, 2, 1, 8, 9]          # rdi rsi rdx rcx r8 r9
FLOAT_ARG_REGS = 8                     # xmm0..xmm7
CALLEE_SAVED = [3, 5, 12, 13, 14, 15]  # rbx rbp r12 r13 r14 r15
CASE_KEYS = {"name", "asm", "args", "returns", "ulps", "bytes", "fault", "breaks", "timeout_ms", "regs", "memory",
             "memory_after", "state", "preserve"}
PROPERTY_KEYS = {"name", "asm", "reference", "args", "returns", "runs", "seed", "memory", "timeout_ms", "preserve"}
SIGNALS = {"SIGSEGV": 11, "SIGBUS": 7, "SIGILL": 4, "SIGFPE": 8, "SIGTRAP": 5}
SIGNAMES = {v: k for k, v in SIGNALS.items()} | {9: "SIGKILL", 6: "SIGABRT"}
BREAK_KINDS = ["stack", "rbx", "rbp", "r12", "r13", "r14", "r15", "frame", "df", "mxcsr", "x87"]
# Entry RFLAGS for the two runs: bit 1 (always 1) and IF; then the same with CF PF AF ZF SF OF set. DF is clear in both.
ENTRY_FLAGS = [0x202, 0x202 | 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800]
# The byte the unused part of the case's stack is filled with, per run.
STACK_FILL = [0x00, 0xa5]
DF = 0x400
MXCSR_ENTRY, MXCSR_CONTROL = 0x1f80, 0xffc0   # bits 6..15: DAZ, exception masks, rounding control, FZ
FCW_ENTRY = 0x037f
MASK = (1 << 64) - 1
# This tool's own canaries (independent of whatever values the harness picks): distinct, non-zero, not small, not
# pointer-like, different in every byte position.
CANARY = {3: 0x3b5e_c0de_7a11_0b3b, 5: 0x3b5e_c0de_7a11_0b5b, 12: 0x3b5e_c0de_7a11_0c12,
          13: 0x3b5e_c0de_7a11_0c13, 14: 0x3b5e_c0de_7a11_0c14, 15: 0x3b5e_c0de_7a11_0c15}
FRAME_CANARY = [0xf7a3_e5c0_0000_0f01, 0xf7a3_e5c0_0000_0f02, 0xf7a3_e5c0_0000_0f03]
DEFAULT_SEED = 0xc4ec_3d01   # not the harness's default: the checker draws its own inputs
DEFAULT_RANDOM_RUNS = 300

# The entry shim. It saves the driver's callee-saved registers, stack pointer, MXCSR and x87 control word in the
# context (not on the stack, which the case may wreck), sets the case's x87 control word, MXCSR, xmm0-xmm15, switches
# to the case's stack (rsp = call_rsp, 16-aligned, the three frame canaries at [call_rsp], [call_rsp + 8],
# [call_rsp + 16], already written by the driver), loads the entry flags and every general register, and calls the
# case through a memory operand, so the case starts with rsp = 8 mod 16 and the canaries at [rsp + 8] .. [rsp + 24].
# After the return it saves rsp and the flags before touching anything (on a scratch stack of its own), stores every
# register, MXCSR and the x87 control word, and restores the driver's state.
SHIM = r"""
    .intel_syntax noprefix
    .bss
    .p2align 4
shim_ctx: .skip 8
shim_target: .skip 8
shim_ret_rsp: .skip 8
    .p2align 4
shim_scratch: .skip 64
shim_scratch_top:
    .text
    .globl shim_enter
shim_enter:
    mov qword ptr [rip + shim_ctx], rdi
    mov qword ptr [rdi + 352], rbx; mov qword ptr [rdi + 360], rbp; mov qword ptr [rdi + 368], r12
    mov qword ptr [rdi + 376], r13; mov qword ptr [rdi + 384], r14; mov qword ptr [rdi + 392], r15
    mov qword ptr [rdi + 328], rsp
    stmxcsr dword ptr [rdi + 336]
    fnstcw word ptr [rdi + 344]
    mov rax, qword ptr [rdi + 272]
    mov qword ptr [rip + shim_target], rax
    fninit
    fldcw word ptr [rdi + 312]
    ldmxcsr dword ptr [rdi + 296]
    movups xmm0, xmmword ptr [rdi + 448];  movups xmm1, xmmword ptr [rdi + 464]
    movups xmm2, xmmword ptr [rdi + 480];  movups xmm3, xmmword ptr [rdi + 496]
    movups xmm4, xmmword ptr [rdi + 512];  movups xmm5, xmmword ptr [rdi + 528]
    movups xmm6, xmmword ptr [rdi + 544];  movups xmm7, xmmword ptr [rdi + 560]
    movups xmm8, xmmword ptr [rdi + 576];  movups xmm9, xmmword ptr [rdi + 592]
    movups xmm10, xmmword ptr [rdi + 608]; movups xmm11, xmmword ptr [rdi + 624]
    movups xmm12, xmmword ptr [rdi + 640]; movups xmm13, xmmword ptr [rdi + 656]
    movups xmm14, xmmword ptr [rdi + 672]; movups xmm15, xmmword ptr [rdi + 688]
    mov rsp, qword ptr [rdi + 280]
    push qword ptr [rdi + 256]
    popfq
    mov r11, rdi
    mov rax, qword ptr [r11 + 0];  mov rcx, qword ptr [r11 + 8];  mov rdx, qword ptr [r11 + 16]
    mov rbx, qword ptr [r11 + 24]; mov rbp, qword ptr [r11 + 40]; mov rsi, qword ptr [r11 + 48]
    mov rdi, qword ptr [r11 + 56]; mov r8, qword ptr [r11 + 64];  mov r9, qword ptr [r11 + 72]
    mov r10, qword ptr [r11 + 80]; mov r12, qword ptr [r11 + 96]; mov r13, qword ptr [r11 + 104]
    mov r14, qword ptr [r11 + 112]; mov r15, qword ptr [r11 + 120]; mov r11, qword ptr [r11 + 88]
    call qword ptr [rip + shim_target]
    mov qword ptr [rip + shim_ret_rsp], rsp
    lea rsp, [rip + shim_scratch_top]
    pushfq
    push r11
    mov r11, qword ptr [rip + shim_ctx]
    pop qword ptr [r11 + 216]
    pop qword ptr [r11 + 264]
    mov qword ptr [r11 + 128], rax; mov qword ptr [r11 + 136], rcx; mov qword ptr [r11 + 144], rdx
    mov qword ptr [r11 + 152], rbx; mov qword ptr [r11 + 168], rbp; mov qword ptr [r11 + 176], rsi
    mov qword ptr [r11 + 184], rdi; mov qword ptr [r11 + 192], r8;  mov qword ptr [r11 + 200], r9
    mov qword ptr [r11 + 208], r10; mov qword ptr [r11 + 224], r12; mov qword ptr [r11 + 232], r13
    mov qword ptr [r11 + 240], r14; mov qword ptr [r11 + 248], r15
    mov rax, qword ptr [rip + shim_ret_rsp]
    mov qword ptr [r11 + 160], rax; mov qword ptr [r11 + 288], rax
    movups xmmword ptr [r11 + 704], xmm0;  movups xmmword ptr [r11 + 720], xmm1
    movups xmmword ptr [r11 + 736], xmm2;  movups xmmword ptr [r11 + 752], xmm3
    movups xmmword ptr [r11 + 768], xmm4;  movups xmmword ptr [r11 + 784], xmm5
    movups xmmword ptr [r11 + 800], xmm6;  movups xmmword ptr [r11 + 816], xmm7
    movups xmmword ptr [r11 + 832], xmm8;  movups xmmword ptr [r11 + 848], xmm9
    movups xmmword ptr [r11 + 864], xmm10; movups xmmword ptr [r11 + 880], xmm11
    movups xmmword ptr [r11 + 896], xmm12; movups xmmword ptr [r11 + 912], xmm13
    movups xmmword ptr [r11 + 928], xmm14; movups xmmword ptr [r11 + 944], xmm15
    stmxcsr dword ptr [r11 + 304]
    fnstcw word ptr [r11 + 320]
    fninit
    fldcw word ptr [r11 + 344]
    ldmxcsr dword ptr [r11 + 336]
    mov rsp, qword ptr [r11 + 328]
    push 0x202          # clean flags for the driver: DF clear (the ABI), and AC clear (C code may be unaligned)
    popfq
    mov rbx, qword ptr [r11 + 352]; mov rbp, qword ptr [r11 + 360]; mov r12, qword ptr [r11 + 368]
    mov r13, qword ptr [r11 + 376]; mov r14, qword ptr [r11 + 384]; mov r15, qword ptr [r11 + 392]
    ret
    .section .note.GNU-stack,"",@progbits
"""

# The driver reads groups of calls from stdin. A group is a line `B N` and N call lines
#   SEQ FUNC MODE AT_START FILL FLAGS TIMEOUT_MS MXCSR FCW R0..R15 NX [XMMINDEX LO HI]*NX MEMHEX|-     (numbers in hex)
# It runs the calls of a group one after the other in one forked child; when the child dies (a fault, a timeout) it
# reports that call and goes on with the rest of the group in a new child. For each call it prints
#   SEQ ret R0..R15 FLAGS RSPDELTA BUFADDR MXCSR FCW FRAME0..2 XMM0LO XMM0HI .. XMM15HI MEMHEX|-      (MODE 0)
#   SEQ r RAX XMM0LO FLAGS RSPDELTA RBX RBP R12 R13 R14 R15 MXCSR FCW FRAME0..2 BUFADDR MEMHEX|-      (MODE 1)
# or `SEQ sig N` / `SEQ died WHY`. A group of MODE 1 calls (a property) stops at its first death: later calls get no
# line.
DRIVER = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

struct ctx {
    uint64_t regs_in[16], regs_out[16], flags_in, flags_out, target, call_rsp, ret_rsp;
    uint64_t mxcsr_in, mxcsr_out, fcw_in, fcw_out, driver_rsp, driver_mxcsr, driver_fcw, saved[6], spare[6];
    uint64_t xmm_in[32], xmm_out[32];
};
_Static_assert(offsetof(struct ctx, flags_in) == 256, "ctx");
_Static_assert(offsetof(struct ctx, mxcsr_in) == 296, "ctx");
_Static_assert(offsetof(struct ctx, fcw_out) == 320, "ctx");
_Static_assert(offsetof(struct ctx, driver_rsp) == 328, "ctx");
_Static_assert(offsetof(struct ctx, saved) == 352, "ctx");
_Static_assert(offsetof(struct ctx, xmm_in) == 448, "ctx");
_Static_assert(offsetof(struct ctx, xmm_out) == 704, "ctx");

void shim_enter(struct ctx *);
extern void *const func_table[];
extern const int func_count;
extern const uint64_t frame_canary[3];

#define NOUT 56
#define PAGE 4096
#define STACK_SIZE (1 << 20)
#define FILL_SIZE (16 << 10)
static unsigned char *stack_top;

struct call {
    uint64_t seq, func, mode, at_start, fill, flags, timeout_ms, mxcsr, fcw, regs[16], xmm[32];
    unsigned char *mem;
    size_t memlen;
};

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

static int parse_call(char *p, struct call *c) {
    memset(c, 0, sizeof *c);
    uint64_t *head[] = {&c->seq, &c->func, &c->mode, &c->at_start, &c->fill, &c->flags, &c->timeout_ms,
                        &c->mxcsr, &c->fcw};
    for (int i = 0; i < 9; i++) *head[i] = strtoull(p, &p, 16);
    for (int i = 0; i < 16; i++) c->regs[i] = strtoull(p, &p, 16);
    long nx = strtol(p, &p, 16);
    for (long i = 0; i < nx; i++) {
        long x = strtol(p, &p, 16);
        uint64_t lo = strtoull(p, &p, 16), hi = strtoull(p, &p, 16);
        if (x < 0 || x > 15) return -1;
        c->xmm[2 * x] = lo;
        c->xmm[2 * x + 1] = hi;
    }
    while (*p == ' ') p++;
    if (*p != '-') {
        size_t n = strcspn(p, " \n") / 2;
        c->mem = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) c->mem[i] = hexval(p[2 * i]) * 16 + hexval(p[2 * i + 1]);
        c->memlen = n;
    }
    return c->func < (uint64_t)func_count ? 0 : -1;
}

static void put(int fd, const void *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) _exit(3);
        p = (const char *)p + w;
        n -= w;
    }
}

static size_t get(int fd, void *p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r <= 0) break;
        got += r;
    }
    return got;
}

/* The child: runs calls[from..n) and writes each call's record and buffer to fd. */
static void run_calls(struct call *cs, int from, int n, int fd) {
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    for (int k = from; k < n; k++) {
        struct call *cl = &cs[k];
        unsigned char *buf = NULL;
        char *m = NULL;
        size_t span = 0;
        if (cl->mem) {
            /* The buffer gets inaccessible pages on both sides, and touches one of them (after it, or before it
               when at_start), so that a read or write outside the buffer faults here instead of quietly
               depending on what the harness's allocator left next to it. */
            span = (cl->memlen + PAGE - 1) / PAGE * PAGE;
            m = mmap(NULL, span + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED || mprotect(m + PAGE, span, PROT_READ | PROT_WRITE) != 0) _exit(4);
            buf = (unsigned char *)(cl->at_start ? m + PAGE : m + PAGE + span - cl->memlen);
            memcpy(buf, cl->mem, cl->memlen);
        }
        /* The case's stack: the top FILL_SIZE bytes filled with this run's pattern, then the frame canaries at
           call_rsp (16-aligned, 64 bytes below the top). */
        memset(stack_top - FILL_SIZE, (int)cl->fill, FILL_SIZE);
        uint64_t *frame = (uint64_t *)(stack_top - 64);
        for (int i = 0; i < 3; i++) frame[i] = frame_canary[i];
        struct ctx c;
        memset(&c, 0, sizeof c);
        memcpy(c.regs_in, cl->regs, sizeof c.regs_in);
        memcpy(c.xmm_in, cl->xmm, sizeof c.xmm_in);
        if (buf) c.regs_in[7] = (uint64_t)(uintptr_t)buf;
        c.flags_in = cl->flags;
        c.target = (uint64_t)(uintptr_t)func_table[cl->func];
        c.call_rsp = (uint64_t)(uintptr_t)frame;
        c.mxcsr_in = cl->mxcsr;
        c.fcw_in = cl->fcw;
        struct itimerval t = {{0, 0}, {cl->timeout_ms / 1000, (cl->timeout_ms % 1000) * 1000}};
        setitimer(ITIMER_REAL, &t, NULL);
        shim_enter(&c);
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        uint64_t out[NOUT];
        memcpy(out, c.regs_out, sizeof c.regs_out);
        out[16] = c.flags_out;
        out[17] = c.ret_rsp - c.call_rsp;
        out[18] = (uint64_t)(uintptr_t)buf; /* where the buffer was, to recognise pointers into it */
        out[19] = c.mxcsr_out & 0xffffffff;
        out[20] = c.fcw_out & 0xffff;
        for (int i = 0; i < 3; i++) out[21 + i] = frame[i];
        memcpy(out + 24, c.xmm_out, sizeof c.xmm_out);
        put(fd, out, sizeof out);
        if (cl->memlen) put(fd, buf, cl->memlen);
        if (m) munmap(m, span + 2 * PAGE);
    }
    _exit(0);
}

static void print_call(struct call *cl, const uint64_t *o, const unsigned char *after) {
    printf("%llx ", (unsigned long long)cl->seq);
    if (cl->mode == 0) {
        printf("ret");
        for (int i = 0; i < NOUT; i++) printf(" %llx", (unsigned long long)o[i]);
    } else {
        static const int pick[] = {0, 24, 16, 17, 3, 5, 12, 13, 14, 15, 19, 20, 21, 22, 23, 18};
        printf("r");
        for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++) printf(" %llx", (unsigned long long)o[pick[i]]);
    }
    printf(" ");
    if (!cl->memlen) printf("-");
    for (size_t i = 0; i < cl->memlen; i++) printf("%02x", after[i]);
    printf("\n");
}

int main(void) {
    static char line[1 << 20];
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    char *s = mmap(NULL, STACK_SIZE + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED || mprotect(s, PAGE, PROT_NONE) != 0) { perror("stack"); return 2; }
    stack_top = (unsigned char *)s + PAGE + STACK_SIZE;
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] != 'B') { fprintf(stderr, "bad group line\n"); return 2; }
        int n = atoi(line + 1);
        struct call *cs = calloc(n ? n : 1, sizeof *cs);
        for (int k = 0; k < n; k++)
            if (!fgets(line, sizeof line, stdin) || parse_call(line, &cs[k]) != 0) {
                fprintf(stderr, "bad call line\n");
                return 2;
            }
        int start = 0;
        while (start < n) {
            int fds[2];
            if (pipe(fds) != 0) { perror("pipe"); return 2; }
            fflush(stdout);
            pid_t pid = fork();
            if (pid < 0) { perror("fork"); return 2; }
            if (pid == 0) {
                close(fds[0]);
                run_calls(cs, start, n, fds[1]);
            }
            close(fds[1]);
            int k = start;
            for (; k < n; k++) {
                uint64_t out[NOUT];
                unsigned char *after = malloc(cs[k].memlen + 1);
                if (get(fds[0], out, sizeof out) != sizeof out || get(fds[0], after, cs[k].memlen) != cs[k].memlen) {
                    free(after);
                    break;
                }
                print_call(&cs[k], out, after);
                free(after);
            }
            close(fds[0]);
            int status;
            waitpid(pid, &status, 0);
            if (k < n) {
                if (WIFSIGNALED(status)) printf("%llx sig %x\n", (unsigned long long)cs[k].seq, WTERMSIG(status));
                else printf("%llx died exit-%d\n", (unsigned long long)cs[k].seq, WEXITSTATUS(status));
                /* A property (mode 1) stops at its first death: every later input would likely die the same way,
                   and a timeout each time would be slow. */
                k = cs[k].mode == 1 ? n : k + 1;
            }
            start = k;
        }
        for (int k = 0; k < n; k++) free(cs[k].mem);
        free(cs);
    }
    return 0;
}
"""


class Bad(ValueError):
    pass


def parse_int(v):
    """A TOML integer or a string as rustyjit reads it (decimal, 0x, 0b, optional '-', '_' allowed), as 64 bits."""
    return parse_signed(v, allow_u64=True) & MASK


def parse_signed(v, allow_u64=False):
    """The integer as written (a Python int): -2^63 .. 2^64-1 with allow_u64, else an i64."""
    if isinstance(v, bool):
        raise Bad(f"not an integer: {v!r}")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str):
        s = v.strip().replace("_", "")
        neg = s.startswith("-")
        d = (s[1:] if neg else s).lower()
        if re.fullmatch(r"0x[0-9a-f]+", d):
            n = int(d[2:], 16)
        elif re.fullmatch(r"0b[01]+", d):
            n = int(d[2:], 2)
        elif re.fullmatch(r"[0-9]+", d):
            n = int(d)
        else:
            raise Bad(f"not an integer: {v!r}")
        n = -n if neg else n
    else:
        raise Bad(f"not an integer: {v!r}")
    if n > (MASK if allow_u64 else MASK >> 1) or n < -(1 << 63):
        raise Bad(f"out of range: {v!r}")
    return n


def parse_bits(v, width):
    n = parse_signed(v, allow_u64=True)
    if n < 0 or n >> width:
        raise Bad(f"not {width} bits: {v!r}")
    return n


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f32_bits(x):
    """The f64 `x` rounded to f32 (round to nearest even, as a C cast does), as bits."""
    try:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:  # struct refuses finite values that round to infinity
        return 0xff800000 if x < 0 else 0x7f800000


def bits_value(bits, width):
    return struct.unpack("<d", struct.pack("<Q", bits))[0] if width == 64 else \
        struct.unpack("<f", struct.pack("<I", bits))[0]


def is_nan(bits, width):
    exp, frac = (0x7ff << 52, (1 << 52) - 1) if width == 64 else (0xff << 23, (1 << 23) - 1)
    return bits & exp == exp and bits & frac != 0


def ordered(bits, width):
    """The ulps metric: non-negative values are their bits, negative ones minus the bits without the sign."""
    sign = 1 << (width - 1)
    return -(bits & ~sign) if bits & sign else bits


def parse_float(v):
    """A float value of the format: (width, bits)."""
    if isinstance(v, float):
        return 64, f64_bits(v)
    if isinstance(v, dict):
        if len(v) != 1 or next(iter(v)) not in ("f64", "f32", "f64_bits", "f32_bits"):
            raise Bad(f"a float table has exactly one of f64, f32, f64_bits, f32_bits: {v!r}")
        (k, x), = v.items()
        if k in ("f64", "f32"):
            if not isinstance(x, float):
                raise Bad(f"`{k}` takes a TOML float (write 2.0, not 2): {v!r}")
            return (64, f64_bits(x)) if k == "f64" else (32, f32_bits(x))
        width = 64 if k == "f64_bits" else 32
        return width, parse_bits(x, width)
    raise Bad(f"not a float: {v!r}")


def parse_value(v):
    """An integer, f64 or f32 value: ("int", u64) or (width, bits)."""
    if isinstance(v, (float, dict)):
        return parse_float(v)
    return "int", parse_int(v)


def show_value(kind, bits):
    if kind == "int":
        return f"{bits:#x} ({to_signed(bits)})" if bits >> 63 or bits > 9 else str(bits)
    return f"{bits_value(bits, kind)!r} ({bits:#0{kind // 4 + 2}x}{'' if kind == 64 else ' f32'})"


def float_matches(got, want, width, ulps):
    if is_nan(want, width):
        return is_nan(got, width)
    if ulps is None:
        return got == want
    return not is_nan(got, width) and abs(ordered(got, width) - ordered(want, width)) <= ulps


def parse_fault(v):
    if not isinstance(v, str):
        raise Bad(f"not a signal name: {v!r}")
    f = v.upper()
    f = f if f.startswith("SIG") else "SIG" + f
    if f not in SIGNALS:
        raise Bad(f"unknown fault {v!r}")
    return SIGNALS[f]


def check_bool(raw, key, default):
    v = raw.get(key, default)
    if not isinstance(v, bool):
        raise Bad(f"`{key}` is not a boolean")
    return v


def check_timeout(raw):
    v = raw.get("timeout_ms", 1000)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 600000:
        raise Bad("`timeout_ms` is not an integer in 1..=600000")
    return v


def parse_hex(s):
    if not isinstance(s, str):
        raise Bad(f"not a hex string: {s!r}")
    digits = "".join(s.split())
    if len(digits) % 2:
        raise Bad("odd number of hex digits")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise Bad(f"not hex: {s!r}") from None


class Machine:
    """A call's entry state: general registers, xmm registers (128-bit ints) and the buffer."""

    def __init__(self):
        self.gprs = [0] * 16
        for r, v in CANARY.items():
            self.gprs[r] = v
        self.xmm = [0] * 16
        self.memory = None
        self.set_by = {}
        self.fields = None

    def load_args(self, values):
        """System V classification of (kind, bits) values: integers to rdi.. (rsi.. with a buffer), floats to
        xmm0..xmm7, independently."""
        ints = list(ARG_REGS[1:] if self.memory is not None else ARG_REGS)
        if self.memory is not None:
            self.set_by["rdi"] = "memory"
        nx = 0
        for kind, bits in values:
            if kind == "int":
                if not ints:
                    raise Bad("too many integer args (rdi, rsi, rdx, rcx, r8, r9; rdi is the buffer with `memory`)")
                r = ints.pop(0)
                self.gprs[r] = bits
                self.set_by[REGS[r]] = "args"
            else:
                if nx == FLOAT_ARG_REGS:
                    raise Bad("too many float args (xmm0..xmm7)")
                self.xmm[nx] = bits
                self.set_by[f"xmm{nx}"] = "args"
                nx += 1

    def job_fields(self):
        if self.fields is None:
            self.fields = self.make_fields()
        return self.fields

    def make_fields(self):
        gprs = " ".join(f"{r:x}" for r in self.gprs)
        xs = [(i, x) for i, x in enumerate(self.xmm) if x]
        xmm = " ".join(f"{i:x} {x & MASK:x} {x >> 64:x}" for i, x in xs)
        return f"{MXCSR_ENTRY:x} {FCW_ENTRY:x} {gprs} {len(xs):x}" + (f" {xmm}" if xs else "")


class Outcome:
    """What one call did. kind: "ret", "sig" (signal number in .sig) or "died" (.why)."""

    def __init__(self, parts, memory):
        self.kind = {"ret": "ret", "r": "ret"}.get(parts[1], parts[1])
        self.sig = self.why = None
        self.full = parts[1] == "ret"
        if parts[1] == "sig":
            self.sig = int(parts[2], 16)
            return
        if parts[1] == "died":
            self.why = " ".join(parts[2:])
            return
        v = [int(x, 16) for x in parts[2:-1]]
        mem = bytes.fromhex(parts[-1]) if parts[-1] != "-" else (b"" if memory is not None else None)
        self.mem = mem
        if self.full:
            self.regs, self.flags, self.rsp_delta, self.bufaddr = v[:16], v[16], v[17], v[18]
            self.mxcsr, self.fcw, self.frame = v[19], v[20], v[21:24]
            self.xmm = [v[24 + 2 * i] | v[25 + 2 * i] << 64 for i in range(16)]
            self.rax, self.xmm0 = self.regs[0], self.xmm[0]
            self.saved = {r: self.regs[r] for r in CALLEE_SAVED}
        else:
            self.rax, self.xmm0, self.flags, self.rsp_delta = v[0], v[1], v[2], v[3]
            self.saved = dict(zip(CALLEE_SAVED, v[4:10]))
            self.mxcsr, self.fcw, self.frame, self.bufaddr = v[10], v[11], v[12:15], v[15]

    def breaks(self, entry):
        """The calling-convention breaks of a returned call, as (kind, detail), given the entry registers."""
        out = []
        if self.rsp_delta:
            out.append(("stack", f"unbalanced stack: rsp off by {to_signed(self.rsp_delta)} after ret"))
        for r in CALLEE_SAVED:
            if self.saved[r] != entry[r]:
                out.append((REGS[r], f"{REGS[r]} changed from {entry[r]:#x} to {self.saved[r]:#x} (callee-saved)"))
        changed = [f"[rsp + {8 * (i + 1)}]" for i in range(3) if self.frame[i] != FRAME_CANARY[i]]
        if changed:
            out.append(("frame", f"wrote the caller's frame: {', '.join(changed)} at entry"))
        if self.flags & DF:
            out.append(("df", "returned with DF set"))
        if (self.mxcsr ^ MXCSR_ENTRY) & MXCSR_CONTROL:
            out.append(("mxcsr", f"MXCSR control bits changed: {MXCSR_ENTRY:#06x} on entry, {self.mxcsr:#06x} after"))
        if self.fcw != FCW_ENTRY:
            out.append(("x87", f"x87 control word changed: {FCW_ENTRY:#06x} on entry, {self.fcw:#06x} after"))
        return out

    def describe(self, returns=None):
        if self.kind == "sig" and self.sig == 14:
            return "timed out (SIGALRM at timeout_ms)"
        if self.kind == "sig":
            return f"faulted with {SIGNAMES.get(self.sig, self.sig)}"
        if self.kind == "died":
            return f"died ({self.why})"
        if returns in (64, 32):
            return f"returned {show_value(returns, self.xmm0 & ((1 << returns) - 1))} in xmm0"
        return f"returned {show_value('int', self.rax)}"

    def comparable(self):
        """A returned outcome without what may differ between two runs: the flags after the call (the entry flags
        differ on purpose) and the buffer's address (pointers into the buffer become offsets)."""
        if self.kind != "ret":
            return self.kind, self.sig, self.why
        base, end = self.bufaddr, self.bufaddr + len(self.mem or b"")
        regs = tuple(("buffer", v - base) if base and base <= v <= end else v for v in self.regs)
        return regs, self.rsp_delta, self.mxcsr, self.fcw, tuple(self.frame), tuple(self.xmm), self.flags & DF, \
            self.mem


class Item:
    """What cases and properties share: name, file, errors, assembled functions."""

    def __init__(self, path, index, raw, keys, what):
        self.path, self.index, self.raw, self.what = path, index, raw, what
        self.errors = []
        self.name = raw.get("name", f"#{index}")
        unknown = set(raw) - keys
        if unknown:
            self.errors.append(f"unknown keys {sorted(unknown)}")
        for k in ("name", "asm") + (("reference",) if what == "property" else ()):
            if k not in raw:
                self.errors.append(f"missing `{k}`")
            elif not isinstance(raw[k], str):
                self.errors.append(f"`{k}` is not a string")
        self.funcs = []        # (symbol, asm text)
        self.texts = {}        # symbol -> .text bytes
        self.calls = []        # Call objects

    def read(self, raw):
        """Runs the subclass's `parse`, turning a bad value into an error of this item."""
        try:
            self.parse(raw)
        except Bad as e:
            self.errors.append(f"bad value: {e}")
        except (TypeError, AttributeError, KeyError) as e:
            self.errors.append(f"bad value: {e!r}")

    @property
    def label(self):
        return f"{self.path}: {self.name}"


class Call:
    def __init__(self, func, machine, run, timeout_ms, mode):
        self.func, self.machine, self.run, self.timeout_ms, self.mode = func, machine, run, timeout_ms, mode
        self.outcome = None

    def line(self, seq, func_index):
        mem = self.machine.memory.hex() if self.machine.memory is not None else "-"
        return (f"{seq:x} {func_index:x} {self.mode:x} {self.run:x} {STACK_FILL[self.run]:x} {ENTRY_FLAGS[self.run]:x} "
                f"{self.timeout_ms:x} {self.machine.job_fields()} {mem or '-'}\n")


class Case(Item):
    def __init__(self, path, index, raw):
        super().__init__(path, index, raw, CASE_KEYS, "case")
        self.m = Machine()
        self.returns = self.ulps = self.bytes = self.memory_after = self.fault = self.breaks = None
        self.preserve, self.timeout_ms = True, 1000
        self.read(raw)

    def parse(self, raw):
        m = self.m
        if "memory" in raw:
            m.memory = parse_hex(raw["memory"])
        args = raw.get("args", [])
        if not isinstance(args, list):
            raise Bad("`args` is not an array")
        m.load_args([parse_value(a) for a in args])
        regs = raw.get("regs", {})
        if not isinstance(regs, dict):
            raise Bad("`regs` is not a table")
        seen = set()
        for name, v in regs.items():
            n = name.lower()
            if n in seen:
                raise Bad(f"`{name}` given twice")
            seen.add(n)
            if n in m.set_by:
                raise Bad(f"`{name}` is already set by `{m.set_by[n]}`")
            if n in REGS and n != "rsp":
                m.gprs[REGS.index(n)] = parse_int(v)
            elif n in XMMS:
                if isinstance(v, str):
                    s = v.strip().replace("_", "").lower()
                    if not s.startswith("0x") or not re.fullmatch(r"[0-9a-f]+", s[2:]) or int(s[2:], 16) >> 128:
                        raise Bad(f"`{name}`: an xmm register takes a float or a 0x hex string of up to 128 bits")
                    m.xmm[XMMS.index(n)] = int(s[2:], 16)
                else:
                    m.xmm[XMMS.index(n)] = parse_float(v)[1]
            else:
                raise Bad(f"`{name}` cannot be set (rax..r15 except rsp, xmm0..xmm15)")
        if "returns" in raw:
            self.returns = parse_value(raw["returns"])
        if "ulps" in raw:
            u = raw["ulps"]
            if isinstance(u, bool) or not isinstance(u, int) or u < 0:
                raise Bad("`ulps` is not an integer >= 0")
            if self.returns is None or self.returns[0] == "int":
                raise Bad("`ulps` needs a float `returns`")
            self.ulps = u
        self.bytes = parse_hex(raw["bytes"]) if "bytes" in raw else None
        self.memory_after = parse_hex(raw["memory_after"]) if "memory_after" in raw else None
        if self.memory_after is not None and m.memory is None:
            raise Bad("`memory_after` without `memory`")
        if "fault" in raw:
            self.fault = parse_fault(raw["fault"])
        self.timeout_ms = check_timeout(raw)
        check_bool(raw, "state", False)
        self.preserve = check_bool(raw, "preserve", True)
        if "breaks" in raw:
            b = raw["breaks"]
            if not isinstance(b, str) or b.lower() not in BREAK_KINDS:
                raise Bad(f"`breaks` is not one of {', '.join(BREAK_KINDS)}: {b!r}")
            self.breaks = b.lower()
            if self.returns is not None or self.fault is not None or not self.preserve:
                raise Bad("`breaks` cannot go with `returns`, `fault` or `preserve = false`")
        if self.fault is not None and self.returns is not None:
            raise Bad("both `fault` and `returns`")

    def setup(self, symbol):
        self.funcs = [(symbol, self.raw["asm"])]
        self.calls = [Call(symbol, self.m, run, self.timeout_ms, 0) for run in range(len(ENTRY_FLAGS))]

    def asserts(self):
        return any(x is not None for x in (self.returns, self.memory_after, self.fault, self.breaks, self.bytes))

    def judge(self):
        fails = []
        text = self.texts[self.funcs[0][0]]
        if self.bytes is not None and text != self.bytes:
            fails.append(f"bytes: GNU as gives {text.hex(' ')}, the case says {self.bytes.hex(' ')}")
        rkind = self.returns[0] if self.returns else None
        first = self.calls[0].outcome
        for c in self.calls[1:]:
            o = c.outcome
            if o.comparable() != first.comparable():
                fails.append(f"depends on the entry flags, on memory outside its buffer or on stack it never wrote: "
                             f"{first.describe(rkind)} with flags clear, a guard page after the buffer and a 00-filled"
                             f" stack; {o.describe(rkind)} with flags set, one before and an a5-filled stack"
                             + ("" if o.kind != "ret" or o.regs == first.regs and o.xmm == first.xmm
                                else " (registers differ)"))
        if self.fault is not None:
            if first.kind != "sig" or first.sig != self.fault:
                fails.append(f"expected {SIGNAMES[self.fault]}, {first.describe(rkind)}")
            return fails
        if first.kind != "ret":
            fails.append(first.describe(rkind))
            return fails
        if self.returns is not None:
            kind, want = self.returns
            if kind == "int":
                if first.rax != want:
                    fails.append(f"rax is {show_value('int', first.rax)}, expected {show_value('int', want)}")
            else:
                got = first.xmm0 & ((1 << kind) - 1)
                if not float_matches(got, want, kind, self.ulps):
                    tol = f" within {self.ulps} ulps" if self.ulps is not None else ""
                    fails.append(f"xmm0 is {show_value(kind, got)}, expected {show_value(kind, want)}{tol}")
        if self.memory_after is not None and first.mem != self.memory_after:
            fails.append(f"memory after is {first.mem.hex(' ')}, expected {self.memory_after.hex(' ')}")
        broken = first.breaks(self.m.gprs)
        if self.breaks is not None:
            if self.breaks not in [k for k, _ in broken]:
                how = "it kept it" if not broken else "broke it otherwise: " + "; ".join(d for _, d in broken)
                fails.append(f"expected to break the convention ({self.breaks}), but {how}")
        elif self.preserve:
            fails.extend(d for _, d in broken)
        return fails

    def summary(self):
        rkind = self.returns[0] if self.returns else None
        s = self.calls[0].outcome.describe(rkind)
        if self.breaks:
            s += f", breaking the convention ({self.breaks}) as expected"
        return s


# ---- properties ----

INT_TYPES = {f"{s}{w}": (s == "i", w) for s in "iu" for w in (8, 16, 32, 64)}
FLOAT_TYPES = {"f32": 32, "f64": 64}


class ArgType:
    def __init__(self, v):
        if isinstance(v, str) and v in INT_TYPES:
            signed, w = INT_TYPES[v]
            self.kind, self.name = "int", v
            self.lo, self.hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)
        elif isinstance(v, str) and v in FLOAT_TYPES:
            self.kind, self.name, self.width = "float", v, FLOAT_TYPES[v]
        elif isinstance(v, dict) and set(v) == {"range"} and isinstance(v["range"], list) and len(v["range"]) == 2:
            self.kind = "int"
            self.lo, self.hi = (parse_signed(x) for x in v["range"])
            if self.lo > self.hi:
                raise Bad(f"empty range {v['range']!r}")
            self.name = f"range[{self.lo}, {self.hi}]"
        else:
            raise Bad(f"not an argument type (i8..u64, f32, f64 or {{ range = [lo, hi] }}): {v!r}")
        self.edges = self.make_edges()

    def make_edges(self):
        out = []
        if self.kind == "float":
            w = self.width
            if w == 64:
                pos = [0, f64_bits(1.0), f64_bits(0.5), 0x7ff0000000000000, 0x7ff8000000000000, 1,
                       0x000fffffffffffff, 0x0010000000000000, 0x7fefffffffffffff]
            else:
                pos = [0, f32_bits(1.0), f32_bits(0.5), 0x7f800000, 0x7fc00000, 1, 0x007fffff, 0x00800000, 0x7f7fffff]
            for b in pos:
                out += [b, b | 1 << (w - 1)]
            return out
        lo, hi = self.lo, self.hi
        cand = [0, 1, -1, lo, lo + 1, hi, hi - 1]
        for k in range(0, 64):
            p = 1 << k
            cand += [p - 1, p, p + 1, -(p - 1), -p, -(p + 1)]
        seen = set()
        for v in cand:
            if lo <= v <= hi and v not in seen:
                seen.add(v)
                out.append(v)
        return out

    def random(self, rng):
        if self.kind == "float":
            w = self.width
            r = rng.random()
            if r < 0.4:
                return rng.getrandbits(w)
            if r < 0.75:
                x = rng.uniform(-1.0, 1.0) * 2.0 ** rng.randint(-60, 60)
            elif r < 0.9:
                x = rng.randint(-1000, 1000) / rng.choice([1, 2, 3, 4, 10])
            else:
                return rng.choice(self.edges)
            return f64_bits(x) if w == 64 else f32_bits(x)
        lo, hi = self.lo, self.hi
        r = rng.random()
        if r < 0.35:
            v = rng.randint(lo, hi)
        elif r < 0.65:
            v = rng.getrandbits(rng.randint(0, max(lo.bit_length(), hi.bit_length())))
            if rng.random() < 0.5:
                v = -v
        elif r < 0.85:
            v = rng.randint(-300, 300)
        else:
            v = rng.choice(self.edges) + rng.randint(-3, 3)
        return v if lo <= v <= hi else rng.randint(lo, hi)

    def value(self, v):
        """(kind, bits) as the Machine loads it."""
        return ("int", v & MASK) if self.kind == "int" else (self.width, v)

    def show(self, v):
        return str(v) if self.kind == "int" else show_value(self.width, v)


class Property(Item):
    def __init__(self, path, index, raw, random_cap):
        super().__init__(path, index, raw, PROPERTY_KEYS, "property")
        self.inputs, self.n_edge = [], 0
        self.random_cap = random_cap
        self.read(raw)

    def parse(self, raw):
        if "args" not in raw:
            raise Bad("missing `args`")
        if not isinstance(raw["args"], list):
            raise Bad("`args` is not an array")
        self.types = [ArgType(a) for a in raw["args"]]
        ret = raw.get("returns", "i64")
        if ret in INT_TYPES:
            self.ret = ("int", INT_TYPES[ret][1])
        elif ret in FLOAT_TYPES:
            self.ret = ("float", FLOAT_TYPES[ret])
        else:
            raise Bad(f"`returns` is not a type name: {ret!r}")
        runs = raw.get("runs", 1000)
        if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 1000000:
            raise Bad("`runs` is not an integer in 1..=1000000")
        self.runs = runs
        self.seed = parse_signed(raw["seed"], allow_u64=True) if "seed" in raw else DEFAULT_SEED
        self.memory = parse_hex(raw["memory"]) if "memory" in raw else None
        self.timeout_ms = check_timeout(raw)
        self.preserve = check_bool(raw, "preserve", True)
        # The inputs: the edge inputs, then pseudo-random ones.
        edges = [t.edges for t in self.types]
        if not edges:
            self.inputs = [()]
        else:
            n = max(map(len, edges))
            self.inputs = [tuple(e[i % len(e)] for e in edges) for i in range(n)]
            if len(edges) > 1:   # a second pass pairing each edge with other edges than in the first
                self.inputs += [tuple(e[(len(e) - 1 - i % len(e)) if j % 2 else (i + j * (len(e) // 3)) % len(e)]
                                      for j, e in enumerate(edges)) for i in range(n)]
        self.n_edge = len(self.inputs)
        rng = random.Random(self.seed)
        n_random = self.runs if self.random_cap is None else min(self.runs, self.random_cap)
        if not self.types:
            n_random = 1   # nothing to vary but the entry flags, buffer placement and stack fill: once each way
        self.inputs += [tuple(t.random(rng) for t in self.types) for _ in range(n_random)]
        self.machines = [self.machine(inp) for inp in self.inputs]

    def machine(self, inp):
        m = Machine()
        m.memory = self.memory
        m.load_args([t.value(v) for t, v in zip(self.types, inp)])
        return m

    def setup(self, symbol):
        self.funcs = [(symbol + "_asm", self.raw["asm"]), (symbol + "_ref", self.raw["reference"])]
        # Input i runs the two sides with opposite entry flags, buffer placement and stack fill, so a side that
        # depends on any of them shows as a difference.
        self.calls = []
        for i, m in enumerate(self.machines):
            for side, (sym, _) in enumerate(self.funcs):
                self.calls.append(Call(sym, m, (i + side) % 2, self.timeout_ms, 1))

    def show_input(self, inp):
        return "(" + ", ".join(t.show(v) for t, v in zip(self.types, inp)) + ")"

    def result(self, o):
        kind, w = self.ret
        if kind == "int":
            # A pointer into the buffer is compared as an offset: the two sides get the buffer at different places.
            if w == 64 and o.bufaddr and o.bufaddr <= o.rax <= o.bufaddr + len(o.mem):
                return ("buffer", o.rax - o.bufaddr)
            return o.rax & ((1 << w) - 1)
        return o.xmm0 & ((1 << w) - 1)

    def same(self, a, b):
        kind, w = self.ret
        x, y = self.result(a), self.result(b)
        if kind == "float" and is_nan(x, w) and is_nan(y, w):
            return True
        return x == y

    def show_result(self, o):
        if o is None:
            return "not run"
        if o.kind != "ret":
            return o.describe()
        kind, w = self.ret
        v = self.result(o)
        if isinstance(v, tuple):
            s = f"buffer + {v[1]}"
        else:
            s = show_value(w, v) if kind == "float" else f"{v:#x} ({v - (1 << w) if v >> (w - 1) else v})"
        return s + (f", buffer {o.mem.hex(' ')}" if self.memory is not None else "")

    def judge(self):
        fails, first, bad = [], None, 0
        for i, inp in enumerate(self.inputs):
            a, r = self.calls[2 * i].outcome, self.calls[2 * i + 1].outcome
            if a is None or r is None and a.kind == "ret":   # after a fault or a timeout the driver stops
                break
            why = None
            if r is None or a.kind != "ret" or r.kind != "ret":
                why = "does not return on both sides"
            elif not self.same(a, r) or (self.memory is not None and a.mem != r.mem):
                why = "the sides differ"
            elif self.preserve:
                m = self.machines[i]
                brk = [f"asm: {d}" for _, d in a.breaks(m.gprs)] + [f"reference: {d}" for _, d in r.breaks(m.gprs)]
                if brk:
                    why = "breaks the convention: " + "; ".join(brk)
            if why:
                bad += 1
                if first is None:
                    first = (f"on input {self.show_input(inp)}{' (an edge input)' if i < self.n_edge else ''}: "
                             f"{why}; asm {self.show_result(a)}, reference {self.show_result(r)}")
        if first:
            ran = sum(1 for i in range(len(self.inputs)) if self.calls[2 * i].outcome is not None)
            fails.append(first + (f" ({bad} of {len(self.inputs)} inputs fail)" if ran == len(self.inputs) else
                                  f" (stopped there, after {ran} of {len(self.inputs)} inputs)"))
        return fails

    def summary(self):
        return (f"asm and reference agree on {len(self.inputs)} inputs ({self.n_edge} edge, "
                f"{len(self.inputs) - self.n_edge} random with seed {self.seed:#x})")


def gas_source(symbol, asm):
    """A snippet as a GNU as function. GNU as (x86) already reads `;` as a statement separator and `#` as a
    comment, which is what the vector syntax uses, so the text goes in unchanged."""
    return (".intel_syntax noprefix\n.text\n"
            f".globl {symbol}\n{symbol}:\n{asm}\n"
            '.section .note.GNU-stack,"",@progbits\n')


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# NASM spellings that rustyjit accepts but GNU as reads differently: `qword [rdi]` is silently `[rdi + 8]` to GNU as
# (the size keyword without `ptr` is a number), and `db`/`dd` are not directives there.
NASM_ONLY = re.compile(r"(?im)\b(byte|word|dword|qword|xmmword)\s*\[|(^|[;:])\s*d[bwdq]\s")


def elf_sections(obj):
    """The sections of an ELF64 little-endian relocatable object: {name: (type, content)}."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        raise ValueError("not an ELF64 little-endian object")
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3a)
    heads = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
    names = heads[shstrndx]
    strtab = obj[names[4]:names[4] + names[5]]
    out = {}
    for name, typ, _, _, off, size, *_ in heads:
        n = strtab[name:strtab.index(b"\0", name)].decode()
        out[n] = (typ, obj[off:off + size] if typ != 8 else b"")   # 8: SHT_NOBITS
    return out


def assemble(symbol, asm, work):
    """Assembles one function; returns (error, text). The object is read directly (ELF section headers): its
    `.text` is the code, and any relocation section (SHT_RELA 4, SHT_REL 9) means the code is not self-contained."""
    if m := NASM_ONLY.search(asm):
        return f"NASM-only spelling `{m.group(0).strip()}`: write `qword ptr [..]` and `.byte/.word/.long/.quad`", None
    base = work / symbol
    base.with_suffix(".s").write_text(gas_source(symbol, asm))
    r = run(["as", "--64", "-o", str(base.with_suffix(".o")), str(base.with_suffix(".s"))])
    if r.returncode != 0 or r.stderr.strip():
        return f"GNU as: {r.stderr.strip()}", None
    try:
        sections = elf_sections(base.with_suffix(".o").read_bytes())
    except (ValueError, struct.error) as e:
        return f"cannot read the object: {e}", None
    relocs = [f"{n} ({len(c) // (24 if t == 4 else 16)})" for n, (t, c) in sections.items() if t in (4, 9) and c]
    if relocs:
        return f"needs relocations (not self-contained): {', '.join(relocs)}", None
    return None, sections.get(".text", (1, b""))[1]


def to_signed(v):
    return v - (1 << 64) if v >> 63 else v


def load(files, random_cap):
    items, bad = [], []
    for f in files:
        try:
            data = tomllib.loads(f.read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            bad.append(f"{f}: cannot read: {e}")
            continue
        if set(data) - {"case", "property"}:
            bad.append(f"{f}: unknown top-level keys {sorted(set(data) - {'case', 'property'})}")
        names = set()
        for key, cls in (("case", Case), ("property", Property)):
            tables = data.get(key, [])
            if not isinstance(tables, list):
                bad.append(f"{f}: `{key}` is not an array of tables")
                continue
            for i, raw in enumerate(tables):
                if not isinstance(raw, dict):
                    bad.append(f"{f}: `{key}` #{i} is not a table")
                    continue
                it = Case(f, i, raw) if cls is Case else Property(f, i, raw, random_cap)
                if it.name in names:
                    it.errors.append("duplicate name (cases and properties share one namespace per file)")
                names.add(it.name)
                it.setup(f"v{len(items)}") if not it.errors else None
                items.append(it)
    return items, bad


def run_driver(exe, calls, func_index, jobs):
    """Runs the calls (grouped per item) through `jobs` driver processes; sets each call's outcome."""
    groups = {}
    for seq, c in enumerate(calls):
        groups.setdefault(c.item_id, []).append((seq, c))
    streams = [[] for _ in range(jobs)]
    weights = [0] * jobs
    for g in sorted(groups.values(), key=len, reverse=True):
        k = weights.index(min(weights))
        weights[k] += len(g) + 20
        streams[k].append(f"B {len(g)}\n" + "".join(c.line(seq, func_index[c.func]) for seq, c in g))

    def one(text):
        return subprocess.run([str(exe)], input=text, capture_output=True, text=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, ["".join(s) for s in streams if s]))
    for r in results:
        if r.returncode != 0:
            raise RuntimeError(f"the driver failed ({r.returncode}):\n{r.stderr}")
        for line in r.stdout.splitlines():
            parts = line.split()
            c = calls[int(parts[0], 16)]
            c.outcome = Outcome(parts, c.machine.memory)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=["vectors"])
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case and property, not only failures")
    ap.add_argument("-k", "--keep", action="store_true", help="keep the work directory and print its path")
    ap.add_argument("--runs", default=str(DEFAULT_RANDOM_RUNS), metavar="N|all",
                    help=f"random inputs per property: at most N (default {DEFAULT_RANDOM_RUNS}), or `all` for each "
                         "property's own `runs`")
    opts = ap.parse_args()
    random_cap = None if opts.runs == "all" else int(opts.runs)

    files = []
    for p in map(pathlib.Path, opts.paths):
        files.extend(sorted(p.glob("*.toml")) if p.is_dir() else [p])
    items, bad = load(files, random_cap)

    if opts.keep:
        work_ctx = contextlib.nullcontext(tempfile.mkdtemp(prefix="check-vectors-"))
    else:
        work_ctx = tempfile.TemporaryDirectory(prefix="check-vectors-")
    with work_ctx as wd:
        work = pathlib.Path(wd)
        good = [it for it in items if not it.errors]
        funcs = [(it, sym, asm) for it in good for sym, asm in it.funcs]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2) * 2) as pool:
            for (it, sym, _), (err, text) in zip(funcs, pool.map(lambda f: assemble(f[1], f[2], work), funcs)):
                if err:
                    it.errors.append(err if it.what == "case" else f"{'asm' if sym.endswith('_asm') else 'reference'}:"
                                                                   f" {err}")
                else:
                    it.texts[sym] = text
        good = [it for it in good if not it.errors]
        syms = [sym for it in good for sym, _ in it.funcs]
        func_index = {s: i for i, s in enumerate(syms)}
        (work / "shim.s").write_text(SHIM)
        (work / "driver.c").write_text(DRIVER)
        table = "#include <stdint.h>\n" + "".join(f"extern char {s}[];\n" for s in syms)
        table += "void *const func_table[] = {" + "".join(f"{s}, " for s in syms) + "0};\n"
        table += f"const int func_count = {len(syms)};\n"
        table += "const uint64_t frame_canary[3] = {" + ", ".join(f"{c:#x}ull" for c in FRAME_CANARY) + "};\n"
        (work / "table.c").write_text(table)
        objs = [str(work / f"{s}.o") for s in syms]
        r = run(["gcc", "-O1", "-no-pie", "-o", str(work / "driver"), str(work / "driver.c"), str(work / "table.c"),
                 str(work / "shim.s"), *objs])
        if r.returncode != 0:
            print(f"building the driver failed:\n{r.stderr}", file=sys.stderr)
            return 2
        calls = []
        for n, it in enumerate(good):
            for c in it.calls:
                c.item_id = n
                calls.append(c)
        try:
            run_driver(work / "driver", calls, func_index, max(1, min(4, os.cpu_count() or 1)))
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 2
        if opts.keep:
            print(f"work directory: {wd}", file=sys.stderr)

    failed, per_file, unasserted = 0, {}, []
    for it in items:
        fails = list(it.errors)
        if not fails:
            if it.what == "case" and any(c.outcome is None for c in it.calls) or it.calls[0].outcome is None:
                fails.append("no result from the driver")
            else:
                fails = it.judge()
        if it.what == "case" and not it.errors and not it.asserts():
            unasserted.append(it.label)
        ok_, n_ = per_file.get(it.path, (0, 0))
        per_file[it.path] = (ok_ + (not fails), n_ + 1)
        tag = "" if it.what == "case" else "property "
        if fails:
            failed += 1
            print(f"FAIL {tag}{it.label}: " + "; ".join(fails))
        elif opts.verbose:
            print(f"ok   {tag}{it.label}: {it.summary()}")
    for b in bad:
        print(f"FAIL {b}")
    for label in unasserted:
        print(f"note {label}: asserts nothing (no returns, memory_after, fault, breaks or bytes)")
    print()
    for f, (ok_, n_) in per_file.items():
        print(f"  {str(f):40} {ok_:4} / {n_:<4} ok")
    cases = [it for it in items if it.what == "case"]
    props = [it for it in items if it.what == "property"]
    n_bytes = sum(1 for c in cases if c.bytes is not None)
    n_inputs = sum(len(p.inputs) for p in props)
    print(f"{len(items) - failed} of {len(items)} agree with GNU as and the CPU: {len(cases)} cases ({n_bytes} with "
          f"`bytes`; each run twice, with entry flags {' and '.join(hex(f) for f in ENTRY_FLAGS)}) and {len(props)} "
          f"properties ({n_inputs} inputs); {failed} failed" + (f", {len(bad)} bad files" if bad else ""))
    return 1 if failed or bad else 0


if __name__ == "__main__":
    sys.exit(main())
