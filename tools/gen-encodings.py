#!/usr/bin/env python3
"""Generate x86-64 encoding vectors from the real GNU assembler.

Every vector is one line `HEX<TAB>SOURCE`: SOURCE is the assembly text exactly as it was given to
`as --64` (after `.intel_syntax noprefix`, no -O flags), HEX the lowercase hex of the bytes `as` produced.
A SOURCE is either a single instruction, or a small program whose statements are separated by `; `
(labels, jumps, data); HEX is then the bytes of the whole program.

Pipeline:
  1. the generator functions below (one per mnemonic family) produce candidate lines, systematically,
     from the register / address / immediate tables;
  2. all single-instruction candidates go into one .s file; `as` is run with a listing (-aln); every line
     `as` rejects or warns about (stderr `FILE:LINE: Error|Warning: ...`) is dropped and `as` is rerun
     until it is silent;
  3. each line's bytes are sliced out of the raw .text (objcopy) at the addresses the listing gives, checked
     against the bytes printed in the listing, and the instruction boundaries are cross-checked with
     `objdump -d`; `objdump -r` must show no relocations (a misspelt register would silently become a
     symbol);
  4. each multi-statement program is assembled on its own (label resolution and jump relaxation depend on
     the whole program) and must give no message and no relocation, and the same bytes with its labels
     renamed (GNU reads some names, e.g. `far`, as keywords without a word of warning);
  5. lines `as` accepts silently but whose immediate or displacement does not fit the operand width
     (`add al, -129` wraps to 0x7f) are dropped too: rustyjit rejects them (DESIGN.md, "Reference encoder");
  6. a fixed random sample of single-instruction vectors is re-assembled one by one as a self check.

Usage: python3 tools/gen-encodings.py [-o OUT]     (default jit-core/tests/data/gnu-as-2.40.tsv)
A summary (vector counts per family, dropped lines and why) is printed to stderr.
Standard library only; needs `as`, `objdump` and `objcopy` (GNU binutils) on PATH.
"""

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter, OrderedDict, defaultdict
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "jit-core", "tests", "data", "gnu-as-2.40.tsv")
DEFAULT_REFUSED = os.path.join(REPO, "jit-core", "tests", "data", "gnu-as-2.40-refused.tsv")
PREAMBLE = ".intel_syntax noprefix\n"

# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------

R64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
       "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
       "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"]
R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
       "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"]
R8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
      "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"]
R8H = ["ah", "ch", "dh", "bh"]              # legacy high-byte registers: no REX allowed
R8_LEGACY = ["al", "cl", "dl", "bl"]        # the low bytes that can sit next to ah..bh
XMM = ["xmm%d" % i for i in range(16)]

REGS = {8: R8, 16: R16, 32: R32, 64: R64}
SIZE_PTR = {8: "byte ptr", 16: "word ptr", 32: "dword ptr", 64: "qword ptr", 128: "xmmword ptr"}
WIDTHS = (8, 16, 32, 64)
ACC = {8: "al", 16: "ax", 32: "eax", 64: "rax"}

# Condition-code spellings, every alias (same order as DESIGN.md).
CC = ["e", "z", "ne", "nz", "b", "c", "nae", "ae", "nb", "nc", "be", "na", "a", "nbe",
      "l", "nge", "ge", "nl", "le", "ng", "g", "nle", "s", "ns", "o", "no", "p", "pe", "np", "po"]

# Immediate edges: (spelling, value).  Spelling is kept as written in the source.
IMM_EDGES = [
    ("0", 0), ("1", 1), ("-1", -1), ("127", 127), ("128", 128), ("-128", -128), ("-129", -129),
    ("255", 255), ("256", 256), ("32767", 32767), ("32768", 32768), ("-32768", -32768),
    ("-32769", -32769), ("65535", 65535), ("0x7fffffff", 0x7FFFFFFF), ("0x80000000", 0x80000000),
    ("-0x80000000", -0x80000000), ("0xffffffff", 0xFFFFFFFF), ("0x100000000", 0x100000000),
    ("0x7fffffffffffffff", 0x7FFFFFFFFFFFFFFF), ("-0x8000000000000000", -0x8000000000000000),
    ("0xffffffffffffffff", 0xFFFFFFFFFFFFFFFF),
]
# Immediates written as the unsigned bit pattern of a width (objdump prints them this way).
IMM_PATTERNS = {
    8: [("0x80", 0x80), ("0xff", 0xFF), ("0x7f", 0x7F)],
    16: [("0xff80", 0xFF80), ("0xffff", 0xFFFF), ("0x8000", 0x8000), ("0x1234", 0x1234)],
    32: [("0xffffff80", 0xFFFFFF80), ("0x12345678", 0x12345678), ("0xdeadbeef", 0xDEADBEEF)],
    64: [("0xffffffffffffff80", 0xFFFFFFFFFFFFFF80), ("0xffffffff80000000", 0xFFFFFFFF80000000),
         ("0xffffffff7fffffff", 0xFFFFFFFF7FFFFFFF), ("0x12345678", 0x12345678)],
}
# A short list for places where the full list would only repeat itself.
IMM_CORE = [("0", 0), ("1", 1), ("-1", -1), ("127", 127), ("128", 128), ("-128", -128),
            ("-129", -129), ("0x7fffffff", 0x7FFFFFFF), ("0xffffffff", 0xFFFFFFFF)]

SHIFT_COUNTS = [0, 1, 2, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255]
SHIFT_CORE = [0, 2, 31, 63, 255]

DISP_EDGES = [0, 1, -1, 127, 128, -128, -129, 0x7FFFFFFF, -0x80000000, 0x1000]


def imm_fits(value, width, mode="full"):
    """Does an immediate fit the operand as rustyjit reads it (signed, or unsigned bit pattern)?

    full  : -2^(w-1) .. 2^w - 1
    s32x64: a 64-bit operand with a sign-extended imm32 (add/test/imul/push/mov m64, imm), either
            as a signed value or as the 64-bit pattern of one
    u8    : 0 .. 255 (shift and bit counts)
    u16   : 0 .. 0xffff (ret imm16)
    """
    if mode == "u8":
        return 0 <= value <= 0xFF
    if mode == "u16":
        return 0 <= value <= 0xFFFF
    if mode == "s32x64":
        return -(1 << 31) <= value < (1 << 31) or (1 << 64) - (1 << 31) <= value < (1 << 64)
    return -(1 << (width - 1)) <= value < (1 << width)


def disp_fits(value):
    return -(1 << 31) <= value < (1 << 31)


def hexnum(v):
    return "-0x%x" % -v if v < 0 else "0x%x" % v


def addr(base=None, index=None, scale=None, disp=None):
    """`[base + index*scale + disp]` in the usual GNU Intel order; disp in hex, minus for negative."""
    parts = []
    if base:
        parts.append(base)
    if index:
        parts.append("%s*%d" % (index, scale or 1))
    s = " + ".join(parts)
    if disp is not None:
        if not parts:
            s = hexnum(disp)
        elif disp < 0:
            s += " - 0x%x" % -disp
        else:
            s += " + 0x%x" % disp
    return "[%s]" % s


def edge_addresses():
    """The full set of addressing edge cases: (text, in_range)."""
    out = []
    # every base, no displacement (rsp/r12 need a SIB byte, rbp/r13 a zero disp8)
    for b in R64:
        out.append(addr(b))
    # every base with every displacement edge
    for b in R64:
        for d in DISP_EDGES:
            out.append(addr(b, disp=d))
    # every index (not rsp) with every scale
    for i in R64:
        if i == "rsp":
            continue
        for s in (1, 2, 4, 8):
            out.append(addr("rbx", i, s))
    # base + index + disp, rotating through bases, indexes, scales and displacements
    idx_regs = [r for r in R64 if r != "rsp"]
    for k, rot in enumerate((3, 7, 12)):
        for n, b in enumerate(R64):
            i = idx_regs[(n + rot) % len(idx_regs)]
            s = (1, 2, 4, 8)[(n + k) % 4]
            d = DISP_EDGES[(n + 3 * k) % len(DISP_EDGES)]
            out.append(addr(b, i, s, d))
    # index with rbp/r13 as index, and rsp/r12/rbp/r13 as bases with an index
    for b in ("rsp", "r12", "rbp", "r13"):
        for i in ("rbp", "r13", "r12", "rax", "r15"):
            out.append(addr(b, i, 1))
    # no base: [index*scale + disp], [index*scale]
    for i in idx_regs:
        out.append(addr(None, i, 4, 0x10))
    for n, i in enumerate(idx_regs):
        out.append(addr(None, i, (1, 2, 4, 8)[n % 4]))
    out += ["[rcx*8]", "[rcx*2 - 0x1]", "[r9*8 + 0x7fffffff]", "[rbp*1 - 0x80000000]"]
    # rip-relative
    out += ["[rip]", "[rip + 0x10]", "[rip - 0x1]", "[rip + 0x0]", "[rip + 0x7fffffff]",
            "[rip - 0x80000000]", "[rip + 0x1000]"]
    # absolute
    out += ["[0x1000]", "[0x7fffffff]", "[0x0]", "[0x10]", "[-0x1]", "[-0x80000000]"]
    # other orders GNU accepts
    out += ["[0x10 + rax]", "[rax*2 + rbx]", "[0x10 + rax + rcx*4]", "[rcx*4 + rax + 0x10]",
            "[rax + 0x10 + rcx*4]", "[rbx + rax]", "[rax + rsp]", "[r12 + r13]", "[rbp + rbp]",
            "[rax+rcx*8+0x10]", "[rsp+0x8]", "[rbp-0x8]", "[rip+0x10]", "[r13+r12*1-0x80]",
            "[rax + rcx*8 + 16]", "[rax - 8]", "[rax+rcx]"]
    return out


# a handful of interesting addresses, used by every family that has a memory form
MEM_SMALL = ["[rax]", "[rsp]", "[rbp]", "[r12]", "[r13]", "[r8 + 0x10]", "[rbx + rcx*8 + 0x10]",
             "[r15 + r14*2 - 0x80]", "[rsp + r9*4 + 0x1000]", "[rip + 0x10]", "[0x1000]",
             "[rcx*4 + 0x10]"]
# memory with no REX-requiring register, for ah..bh
MEM_LEGACY = ["[rax]", "[rbx + rcx*8 + 0x10]", "[rsp]", "[rip + 0x10]"]


def rot(seq, start, count):
    """count items of seq starting at start, wrapping around: a rotating, deterministic subset."""
    return [seq[(start + k) % len(seq)] for k in range(count)]


def mem(width, a):
    return "%s %s" % (SIZE_PTR[width], a)


def pairs(n, patterns=("diag", "rev", "next", "half")):
    """Systematic register index pairs: every register appears on both sides in every pattern."""
    out = []
    for p in patterns:
        for i in range(n):
            j = {"diag": i, "rev": n - 1 - i, "next": (i + 1) % n, "half": (i + n // 2) % n,
                 "skip": (i + 5) % n}[p]
            out.append((i, j))
    return out


def high_byte_pairs():
    """8-bit pairs involving ah..bh: valid ones with al..bl/ah..bh, then REX-conflicting ones (as
    rejects those; they show up in the drop summary)."""
    legacy = R8_LEGACY + R8H
    ok = [(a, b) for a in legacy for b in legacy if a in R8H or b in R8H]
    bad = [(a, b) for h in R8H for r in R8[4:] for (a, b) in ((h, r), (r, h))]
    return ok, bad


# ----------------------------------------------------------------------------------------------
# Vector collection
# ----------------------------------------------------------------------------------------------

class Vectors:
    def __init__(self):
        self.items = OrderedDict()  # source -> dict(family, program, oor)

    def add(self, family, source, oor=None, program=False):
        """oor: reason text if rustyjit must reject the line (operand out of range), else None."""
        if source in self.items:
            return
        self.items[source] = {"family": family, "program": program, "oor": oor}

    def imm(self, family, source, value, width, mode="full"):
        oor = None if imm_fits(value, width, mode) else "immediate out of range for %s-bit operand (%s)" % (
            width, mode)
        self.add(family, source, oor)


# ---- Tier 1 ------------------------------------------------------------------------------------

def gen_mov(v):
    f = "mov"
    # reg, reg: full cross product for all four widths, plus ah..bh
    for w in WIDTHS:
        for a in REGS[w]:
            for b in REGS[w]:
                v.add(f, "mov %s, %s" % (a, b))
    ok, bad = high_byte_pairs()
    for a, b in ok + bad:
        v.add(f, "mov %s, %s" % (a, b))
    # reg, imm: every register with three core edges, the accumulator and two REX registers with all
    for w in WIDTHS:
        for n, r in enumerate(REGS[w]):
            for s, val in rot(IMM_CORE, 2 * n, 3):
                v.imm(f, "mov %s, %s" % (r, s), val, w)
        for r in (ACC[w], REGS[w][9], REGS[w][15]):
            for s, val in IMM_EDGES + IMM_PATTERNS[w]:
                v.imm(f, "mov %s, %s" % (r, s), val, w)
    for r in R8H:
        for s, val in (("0", 0), ("-1", -1), ("0x7f", 0x7F), ("255", 255)):
            v.imm(f, "mov %s, %s" % (r, s), val, 8)
    # reg, mem and mem, reg: every width and register against a rotating address
    for w in WIDTHS:
        for n, r in enumerate(REGS[w]):
            for k in range(2):
                a = MEM_SMALL[(n + 5 * k) % len(MEM_SMALL)]
                v.add(f, "mov %s, %s" % (r, mem(w, a)))
                v.add(f, "mov %s, %s" % (mem(w, a), r))
    for h in R8H:
        for a in MEM_LEGACY:
            v.add(f, "mov %s, %s" % (h, mem(8, a)))
            v.add(f, "mov %s, %s" % (mem(8, a), h))
    v.add(f, "mov ah, byte ptr [r8]")  # needs REX: rejected
    # mem, imm with every width
    for w in WIDTHS:
        for n, a in enumerate(MEM_SMALL):
            for s, val in rot(IMM_CORE, 2 * n, 2):
                v.imm(f, "mov %s, %s" % (mem(w, a), s), val, w, "s32x64" if w == 64 else "full")
        for s, val in IMM_EDGES + IMM_PATTERNS[w]:
            v.imm(f, "mov %s, %s" % (mem(w, "[rax]"), s), val, w, "s32x64" if w == 64 else "full")


def gen_movabs(v):
    f = "movabs"
    vals = [("0x1122334455667788", 0x1122334455667788), ("0", 0), ("1", 1), ("-1", -1),
            ("0xffffffff", 0xFFFFFFFF), ("0x7fffffffffffffff", 0x7FFFFFFFFFFFFFFF),
            ("-0x8000000000000000", -0x8000000000000000), ("0xffffffffffffffff", 0xFFFFFFFFFFFFFFFF)]
    for n, r in enumerate(R64):
        v.add(f, "movabs %s, 0x1122334455667788" % r)
        s, val = vals[n % len(vals)]
        v.imm(f, "movabs %s, %s" % (r, s), val, 64)
    for s, val in vals:
        v.imm(f, "movabs rax, %s" % s, val, 64)
        v.imm(f, "movabs r15, %s" % s, val, 64)


def gen_movx(v):
    """movzx / movsx (8->16/32/64, 16->32/64) and movsxd (r64, r/m32)."""
    for op in ("movzx", "movsx"):
        for dw, sw in ((16, 8), (32, 8), (64, 8), (32, 16), (64, 16)):
            for i, j in pairs(16, ("rev", "half")):
                v.add(op, "%s %s, %s" % (op, REGS[dw][i], REGS[sw][j]))
            for n, a in enumerate(MEM_SMALL):
                v.add(op, "%s %s, %s" % (op, REGS[dw][(n * 3) % 16], mem(sw, a)))
        for dw in (16, 32, 64):
            for n, h in enumerate(R8H):
                v.add(op, "%s %s, %s" % (op, REGS[dw][n], h))
                v.add(op, "%s %s, %s" % (op, REGS[dw][8 + n], h))  # REX needed: rejected
    op = "movsxd"
    for i, j in pairs(16, ("diag", "rev", "half")):
        v.add(op, "movsxd %s, %s" % (R64[i], R32[j]))
        v.add(op, "movsxd %s, %s" % (R32[j], R32[i]))
    for n, a in enumerate(MEM_SMALL):
        v.add(op, "movsxd %s, %s" % (R64[(n * 3) % 16], mem(32, a)))
        v.add(op, "movsxd %s, %s" % (R32[(n * 5) % 16], mem(32, a)))
    v.add(op, "movsxd ax, cx")  # no 16-bit form: refused


def gen_lea(v, edges):
    f = "lea"
    for a in edges:
        v.add(f, "lea rax, %s" % a)
    for w in (16, 32, 64):
        for n, r in enumerate(REGS[w]):
            v.add(f, "lea %s, %s" % (r, MEM_SMALL[n % len(MEM_SMALL)]))
            v.add(f, "lea %s, %s" % (r, MEM_SMALL[(n + 7) % len(MEM_SMALL)]))
    for a in MEM_SMALL:
        v.add(f, "lea rax, %s" % mem(64, a))  # with an explicit size


def gen_xchg(v):
    f = "xchg"
    for w in WIDTHS:
        acc = ACC[w]
        for r in REGS[w]:  # accumulator forms, both orders (and acc,acc)
            v.add(f, "xchg %s, %s" % (acc, r))
            v.add(f, "xchg %s, %s" % (r, acc))
        for i, j in pairs(16, ("rev", "half", "next")):
            v.add(f, "xchg %s, %s" % (REGS[w][i], REGS[w][j]))
        for n, a in enumerate(MEM_SMALL):
            r = REGS[w][(n * 5) % 16]
            v.add(f, "xchg %s, %s" % (mem(w, a), r))
            v.add(f, "xchg %s, %s" % (r, mem(w, a)))
    for a, b in (("ah", "al"), ("al", "ah"), ("ch", "bh"), ("ah", "ah"), ("dh", "cl")):
        v.add(f, "xchg %s, %s" % (a, b))


def gen_push_pop(v):
    for op in ("push", "pop"):
        for r in R64 + R16:
            v.add(op, "%s %s" % (op, r))
        for a in MEM_SMALL:
            v.add(op, "%s %s" % (op, mem(64, a)))
            v.add(op, "%s %s" % (op, mem(16, a)))
    for s, val in IMM_EDGES + IMM_PATTERNS[64] + [("0x1234", 0x1234), ("-0x81", -0x81)]:
        v.imm("push", "push %s" % s, val, 64, "s32x64")


ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]


def gen_alu(v):
    """add or adc sbb and sub xor cmp: r/m,r; r,r/m; r/m,imm (imm8 sign-extended, full, accumulator)."""
    ok_h, bad_h = high_byte_pairs()
    for op in ALU:
        f = op
        for w in WIDTHS:
            # reg, reg: full 16x16 for add, systematic pairs for the others
            if op == "add":
                for a in REGS[w]:
                    for b in REGS[w]:
                        v.add(f, "add %s, %s" % (a, b))
            else:
                for i, j in pairs(16, ("diag", "rev") if w >= 32 else ("rev",)):
                    v.add(f, "%s %s, %s" % (op, REGS[w][i], REGS[w][j]))
            # reg, mem and mem, reg (add: every address; others: a rotating half)
            k = ALU.index(op)
            addrs = MEM_SMALL if op == "add" else rot(MEM_SMALL, 3 * k + w // 8, 6)
            for n, a in enumerate(addrs):
                r = REGS[w][(n * 7 + k) % 16]
                v.add(f, "%s %s, %s" % (op, r, mem(w, a)))
                v.add(f, "%s %s, %s" % (op, mem(w, a), r))
            # reg, imm: the accumulator (and rcx-class for add) with every edge, more registers with some
            mode = "s32x64" if w == 64 else "full"
            for r in (ACC[w], REGS[w][1]) if op == "add" else (ACC[w],):
                for s, val in IMM_EDGES + IMM_PATTERNS[w]:
                    v.imm(f, "%s %s, %s" % (op, r, s), val, w, mode)
            for n, r in enumerate((REGS[w][1], REGS[w][4], REGS[w][9], REGS[w][15])):
                for s, val in rot(IMM_CORE, 3 * n, 3 if op != "add" else 9):
                    v.imm(f, "%s %s, %s" % (op, r, s), val, w, mode)
            # mem, imm
            for n, a in enumerate(addrs):
                s, val = IMM_CORE[(n + k) % len(IMM_CORE)]
                v.imm(f, "%s %s, %s" % (op, mem(w, a), s), val, w, mode)
        pairs_h = ok_h + bad_h if op == "add" else ok_h[:6]
        for a, b in pairs_h:
            v.add(f, "%s %s, %s" % (op, a, b))
        v.imm(f, "%s ah, 0x7f" % op, 0x7F, 8)
        v.add(f, "%s %s, bh" % (op, mem(8, "[rbx + rcx*8 + 0x10]")))


def gen_test(v):
    f = "test"
    for w in WIDTHS:
        for i, j in pairs(16, ("diag", "rev") if w >= 32 else ("rev",)):
            v.add(f, "test %s, %s" % (REGS[w][i], REGS[w][j]))
        for n, a in enumerate(rot(MEM_SMALL, w // 8, 6)):
            r = REGS[w][(n * 7) % 16]
            v.add(f, "test %s, %s" % (mem(w, a), r))
            v.add(f, "test %s, %s" % (r, mem(w, a)))  # swapped operands
        mode = "s32x64" if w == 64 else "full"
        for s, val in IMM_EDGES + IMM_PATTERNS[w]:
            v.imm(f, "test %s, %s" % (ACC[w], s), val, w, mode)
        for n, r in enumerate((REGS[w][1], REGS[w][4], REGS[w][9], REGS[w][15])):
            for s, val in rot(IMM_CORE, 3 * n, 3):
                v.imm(f, "test %s, %s" % (r, s), val, w, mode)
        for n, a in enumerate(MEM_SMALL):
            s, val = IMM_CORE[n % len(IMM_CORE)]
            v.imm(f, "test %s, %s" % (mem(w, a), s), val, w, mode)
    for a, b in (("ah", "al"), ("al", "ah"), ("bh", "ch"), ("ah", "ah")):
        v.add(f, "test %s, %s" % (a, b))
    v.imm(f, "test ah, 0x80", 0x80, 8)


def gen_unary(v):
    """inc dec neg not mul div idiv: every register of every width, and memory."""
    for op in ("inc", "dec", "neg", "not", "mul", "div", "idiv"):
        for w in WIDTHS:
            for r in REGS[w]:
                v.add(op, "%s %s" % (op, r))
            for a in rot(MEM_SMALL, w // 8, 6):
                v.add(op, "%s %s" % (op, mem(w, a)))
        for h in R8H:
            v.add(op, "%s %s" % (op, h))


def gen_imul(v):
    f = "imul"
    for w in WIDTHS:  # 1 operand
        for r in REGS[w]:
            v.add(f, "imul %s" % r)
        for a in MEM_SMALL:
            v.add(f, "imul %s" % mem(w, a))
    v.add(f, "imul ah")
    for w in (16, 32, 64):
        mode = "s32x64" if w == 64 else "full"
        R = REGS[w]
        for i, j in pairs(16, ("diag", "rev")):  # 2 operands
            v.add(f, "imul %s, %s" % (R[i], R[j]))
        for n, a in enumerate(MEM_SMALL):
            v.add(f, "imul %s, %s" % (R[(n * 5) % 16], mem(w, a)))
        for i, j in pairs(16, ("diag", "rev")):  # 3 operands
            s, val = IMM_CORE[(i + j) % len(IMM_CORE)]
            v.imm(f, "imul %s, %s, %s" % (R[i], R[j], s), val, w, mode)
        for n, (s, val) in enumerate(IMM_EDGES + IMM_PATTERNS[w]):
            a, b = (R[0], R[3]) if n % 2 == 0 else (R[9], R[9])
            v.imm(f, "imul %s, %s, %s" % (a, b, s), val, w, mode)
        for n, a in enumerate(MEM_SMALL):
            s, val = IMM_CORE[n % len(IMM_CORE)]
            v.imm(f, "imul %s, %s, %s" % (R[(n * 3) % 16], mem(w, a), s), val, w, mode)
        for n, r in enumerate(R):  # 2-operand immediate shorthand (imul r, imm == imul r, r, imm)
            s, val = IMM_CORE[n % len(IMM_CORE)]
            v.imm(f, "imul %s, %s" % (r, s), val, w, mode)
        for s, val in (("5", 5), ("128", 128), ("-1", -1)):
            v.imm(f, "imul %s, %s" % (R[0], s), val, w, mode)


SHIFTS = ["rol", "ror", "rcl", "rcr", "shl", "sal", "shr", "sar"]


def gen_shift(v):
    for op in SHIFTS:
        for w in WIDTHS:
            # every register once, rotating through by-1, by-cl and by-imm8
            for n, r in enumerate(REGS[w]):
                form = n % 3
                if form == 0:
                    v.add(op, "%s %s, 1" % (op, r))
                elif form == 1:
                    v.add(op, "%s %s, cl" % (op, r))
                else:
                    c = SHIFT_CORE[n % len(SHIFT_CORE)]
                    v.imm(op, "%s %s, %d" % (op, r, c), c, 8, "u8")
            # the accumulator and r13 with every form and count
            for r, counts in ((REGS[w][0], SHIFT_COUNTS), (REGS[w][13], SHIFT_CORE)):
                v.add(op, "%s %s, 1" % (op, r))
                v.add(op, "%s %s, cl" % (op, r))
                for c in counts:
                    v.imm(op, "%s %s, %d" % (op, r, c), c, 8, "u8")
            for n, a in enumerate(rot(MEM_SMALL, SHIFTS.index(op) + w // 8, 3)):
                v.add(op, "%s %s, 1" % (op, mem(w, a)))
                v.add(op, "%s %s, cl" % (op, mem(w, a)))
                c = SHIFT_CORE[n % len(SHIFT_CORE)]
                v.imm(op, "%s %s, %d" % (op, mem(w, a), c), c, 8, "u8")
        v.add(op, "%s ah, 1" % op)
        v.add(op, "%s bh, cl" % op)
        v.imm(op, "%s ch, 3" % op, 3, 8, "u8")
        v.imm(op, "%s eax, 0x1f" % op, 0x1F, 8, "u8")


def gen_bt(v):
    for op in ("bt", "bts", "btr", "btc"):
        for w in (16, 32, 64):
            R = REGS[w]
            for i, j in pairs(16, ("diag", "rev")):
                v.add(op, "%s %s, %s" % (op, R[i], R[j]))
            for n, a in enumerate(rot(MEM_SMALL, w // 8, 6)):
                v.add(op, "%s %s, %s" % (op, mem(w, a), R[(n * 5) % 16]))
            for n, r in enumerate(R):
                c = (0, 1, w - 1, 7, 255)[n % 5]
                v.imm(op, "%s %s, %d" % (op, r, c), c, 8, "u8")
            counts = (0, 1, 15, 16, 31, 32, 63, 64, 127, 128, 255) if op == "bt" else (0, w - 1, w, 255)
            for c in counts:
                v.imm(op, "%s %s, %d" % (op, R[0], c), c, 8, "u8")
            for n, a in enumerate(MEM_SMALL[::3]):
                c = (0, w - 1, 255, 8)[n % 4]
                v.imm(op, "%s %s, %d" % (op, mem(w, a), c), c, 8, "u8")


def gen_bitscan(v):
    for op in ("bsf", "bsr", "popcnt", "lzcnt", "tzcnt"):
        for w in (16, 32, 64):
            R = REGS[w]
            for i, j in pairs(16, ("rev", "half") if w >= 32 else ("rev",)):
                v.add(op, "%s %s, %s" % (op, R[i], R[j]))
            for n, a in enumerate(rot(MEM_SMALL, w // 8, 8)):
                v.add(op, "%s %s, %s" % (op, R[(n * 5) % 16], mem(w, a)))


def gen_bswap(v):
    for r in R32 + R64:
        v.add("bswap", "bswap %s" % r)


def gen_cmov(v):
    for n, cc in enumerate(CC):
        op = "cmov" + cc
        for w in (16, 32, 64):
            R = REGS[w]
            v.add("cmovcc", "%s %s, %s" % (op, R[n % 16], R[(n + 7) % 16]))
            v.add("cmovcc", "%s %s, %s" % (op, R[(n + 11) % 16], R[(n * 3) % 16]))
            v.add("cmovcc", "%s %s, %s" % (op, R[(n * 5) % 16], mem(w, MEM_SMALL[n % len(MEM_SMALL)])))
    for i, j in pairs(16, ("diag", "rev", "half")):
        v.add("cmovcc", "cmove %s, %s" % (R64[i], R64[j]))


def gen_setcc(v):
    for n, cc in enumerate(CC):
        op = "set" + cc
        v.add("setcc", "%s %s" % (op, R8[n % 16]))
        v.add("setcc", "%s %s" % (op, R8[(n + 8) % 16]))
        v.add("setcc", "%s %s" % (op, R8H[n % 4]))
        v.add("setcc", "%s %s" % (op, mem(8, MEM_SMALL[n % len(MEM_SMALL)])))
    for r in R8 + R8H:
        v.add("setcc", "sete %s" % r)


def gen_jmp_call_indirect(v):
    for op in ("jmp", "call"):
        for r in R64:
            v.add(op, "%s %s" % (op, r))
        for a in MEM_SMALL + ["[rax + 0x8]", "[r12 + 0x8]", "[rip + 0x0]"]:
            v.add(op, "%s %s" % (op, mem(64, a)))


def gen_misc(v):
    f = "misc"
    for s in ("ret", "int3", "ud2", "leave", "cbw", "cwde", "cdqe", "cwd", "cdq", "cqo",
              "clc", "stc", "cmc", "cld", "std", "nop", "pushfq", "popfq", "pushf", "popf"):
        v.add(f, s)
    for s, val in (("0", 0), ("8", 8), ("0x10", 0x10), ("255", 255), ("256", 256),
                   ("0x7fff", 0x7FFF), ("0x8000", 0x8000), ("0xffff", 0xFFFF), ("0x10000", 0x10000)):
        v.imm(f, "ret %s" % s, val, 16, "u16")
    # nop with an operand (0f 1f /0)
    for r in ("eax", "ecx", "r8d", "r15d", "ax", "r9w", "rax", "rdi", "r12"):
        v.add("nop", "nop %s" % r)
    for w in (16, 32, 64):
        for a in ("[rax]", "[rax + 0x0]", "[rax + rax*1 + 0x0]", "[rsp]", "[r13]", "[rip + 0x10]"):
            v.add("nop", "nop %s" % mem(w, a))


def gen_addressing(v, edges):
    """The full address edge list through a handful of instruction shapes."""
    f = "addressing"
    for n, a in enumerate(edges):
        v.add(f, "mov rax, %s" % mem(64, a))
        v.add(f, "mov dword ptr %s, 0x12345678" % a)
        v.add(f, "add %s, cl" % mem(8, a))
        # a handful of other shapes, each on a rotating quarter of the addresses
        other = ["mov %s, r9" % mem(64, a),                 # REX.R with REX.B/X
                 "add dword ptr %s, 1" % a,                 # imm8 after the displacement
                 "cmp word ptr %s, 0x1234" % a,             # 66 prefix, imm16 after the displacement
                 "movsd xmm9, %s" % mem(64, a)][n % 4]      # mandatory prefix + REX
        v.add(f, other)
    # out of range: rejected by as, or (absolute) taken as a 64-bit moffs -> not rustyjit's [disp32]
    for a, d in (("[rax + 0x80000000]", 0x80000000), ("[rax - 0x80000001]", -0x80000001),
                 ("[0x80000000]", 0x80000000), ("[0xffffffff]", 0xFFFFFFFF),
                 ("[rip + 0x80000000]", 0x80000000)):
        v.add(f, "mov rax, %s" % mem(64, a), None if disp_fits(d) else "displacement out of signed 32-bit range")
    for a in ("[rsp*1]", "[rax + rsp*2]", "[rsp + rsp]"):
        v.add(f, "mov rax, %s" % mem(64, a))  # rsp cannot be an index


def gen_syntax(v):
    """Spellings people paste: upper case, objdump style, binary/decimal numbers, size omitted."""
    f = "syntax"
    for s in ("MOV RAX, 0x3", "MOV RAX, 0X3", "Mov Eax, Ebx", "ADD RAX, QWORD PTR [RBX+RCX*8+0x10]",
              "mov rax, 0b101", "mov eax, 0B11111111", "mov rax, 3", "mov eax, -0x80",
              "mov rax, QWORD PTR [rbp-0x8]", "mov DWORD PTR [rbp-0x14], edi", "lea rax, [rip+0x0]",
              "mov rax, [rbx]", "mov [rbx], rax", "add [rax], cl", "add ecx, [rax + 4]",
              "movzx eax, byte ptr [rdi]", "cvtsi2sd xmm0, rdi", "movsd xmm0, [rip + 0x10]",
              "addsd xmm0, [rsp + 8]", "xorpd xmm1, [rax]", "PXOR XMM0, XMM0", "RET", "NOP",
              "call QWORD PTR [rax+0x8]", "jmp r12", "push 0x0", "imul rax, rdi, 0x64",
              "mov rax, 1234567", "sub rsp, 0x28", "and rsp, -16", "test al, al"):
        v.add(f, s)


def gen_common(v):
    """Lines people write all the time (some fall between the systematic patterns above)."""
    f = "common"
    for s in ("mov rax, rdi", "add rax, rsi", "mov eax, 1", "xor eax, eax", "xor rax, rax",
              "test eax, ebx", "test rdi, rdi", "test rax, qword ptr [rbx + rcx*8 + 0x10]",
              "test qword ptr [rbx + rcx*8 + 0x10], rax", "imul eax, ebx", "imul rax, rsi",
              "imul rax, rdi, 10", "movzx eax, ax", "movzx eax, al", "movzx rax, al", "movsx rax, al",
              "movsxd rax, edi", "movsxd rax, ecx", "lzcnt ax, bx", "lzcnt eax, ebx", "tzcnt rax, rbx",
              "popcnt rax, rdi", "bt eax, 33", "bt ax, 200", "shl rax, 3", "sar rdi, 63", "shr eax, cl",
              "sete al", "setc spl", "setne cl", "cmovl rax, rsi", "cmovz eax, ecx", "inc rax", "dec ecx",
              "neg rax", "not rax", "div rcx", "idiv rsi", "mul rdx", "push rbp", "mov rbp, rsp",
              "pop rbp", "lea rax, [rdi + rsi]", "lea rax, [rdi + rsi*2 + 3]", "lea eax, [rdi - 1]",
              "mov qword ptr [rsp - 8], rdi", "mov rax, qword ptr [rsp + 8]", "call rax",
              "call qword ptr [rax+8]", "jmp qword ptr [rax+rcx*8]", "sub rsp, 8", "add rsp, 8",
              "movq xmm0, xmm1", "movq xmm0, rax", "movq rax, xmm0", "movq xmm0, qword ptr [rdi]",
              "movq qword ptr [rdi], xmm0", "movd xmm0, eax", "movd eax, xmm0", "movsd xmm0, xmm1",
              "movss xmm0, xmm1", "cvtsi2sd xmm0, rdi", "cvtsi2sd xmm0, eax", "cvtsi2ss xmm0, edi",
              "cvttsd2si rax, xmm0", "cvttss2si eax, xmm0", "cvtss2sd xmm0, xmm0", "cvtsd2ss xmm0, xmm0",
              "addsd xmm0, xmm1", "mulsd xmm0, xmm0", "sqrtsd xmm0, xmm0", "ucomisd xmm0, xmm1",
              "comiss xmm0, xmm1", "xorpd xmm0, xmm0", "pxor xmm0, xmm0", "andpd xmm0, xmm1"):
        v.add(f, s)


# ---- Tier 2: SSE2 -----------------------------------------------------------------------------

SSE_ADDRS = ["[rax]", "[rsp]", "[rbp]", "[r12]", "[r13]", "[r13 + 0x8]", "[rsp + 0x10]",
             "[rbp - 0x8]", "[rip + 0x10]", "[rbx + rcx*8 + 0x10]", "[r8 + r9*4 - 0x80]", "[0x1000]"]


def gen_sse(v):
    f = "sse"
    xpairs = pairs(16, ("rev", "half"))
    # (mnemonic, memory width) for xmm, xmm/m
    arith = [(op + "sd", 64) for op in ("add", "sub", "mul", "div", "sqrt", "min", "max")]
    arith += [(op + "ss", 32) for op in ("add", "sub", "mul", "div", "sqrt", "min", "max")]
    arith += [("ucomisd", 64), ("ucomiss", 32), ("comisd", 64), ("comiss", 32),
              ("cvtsd2ss", 64), ("cvtss2sd", 32), ("xorpd", 128), ("andpd", 128), ("pxor", 128)]
    for op, mw in arith:
        for i, j in xpairs:
            v.add(f, "%s %s, %s" % (op, XMM[i], XMM[j]))
        for n, a in enumerate(rot(SSE_ADDRS, arith.index((op, mw)), 6)):
            v.add(f, "%s %s, %s" % (op, XMM[(n * 5) % 16], mem(mw, a)))
    # moves
    for op, mw in (("movsd", 64), ("movss", 32)):
        for i, j in xpairs:
            v.add(f, "%s %s, %s" % (op, XMM[i], XMM[j]))
        for n, a in enumerate(SSE_ADDRS):
            v.add(f, "%s %s, %s" % (op, XMM[(n * 5) % 16], mem(mw, a)))
            v.add(f, "%s %s, %s" % (op, mem(mw, a), XMM[(n * 3 + 1) % 16]))
    for i, j in xpairs:
        v.add(f, "movq %s, %s" % (XMM[i], R64[j]))
        v.add(f, "movq %s, %s" % (R64[i], XMM[j]))
        v.add(f, "movq %s, %s" % (XMM[i], XMM[j]))
        v.add(f, "movd %s, %s" % (XMM[i], R32[j]))
        v.add(f, "movd %s, %s" % (R32[i], XMM[j]))
        v.add(f, "movd %s, %s" % (XMM[i], R64[j]))
        v.add(f, "movd %s, %s" % (R64[i], XMM[j]))
    for n, a in enumerate(SSE_ADDRS):
        v.add(f, "movq %s, %s" % (XMM[(n * 5) % 16], mem(64, a)))
        v.add(f, "movq %s, %s" % (mem(64, a), XMM[(n * 3 + 1) % 16]))
        v.add(f, "movd %s, %s" % (XMM[(n * 5) % 16], mem(32, a)))
        v.add(f, "movd %s, %s" % (mem(32, a), XMM[(n * 3 + 1) % 16]))
        v.add(f, "movd %s, %s" % (XMM[(n * 7) % 16], mem(64, a)))
        v.add(f, "movd %s, %s" % (mem(64, a), XMM[(n * 5 + 2) % 16]))
    # conversions with a general register
    for op in ("cvtsi2sd", "cvtsi2ss"):
        for i, j in pairs(16, ("rev",)):
            v.add(f, "%s %s, %s" % (op, XMM[i], R32[j]))
            v.add(f, "%s %s, %s" % (op, XMM[i], R64[j]))
        for n, a in enumerate(SSE_ADDRS):
            v.add(f, "%s %s, %s" % (op, XMM[(n * 5) % 16], mem(32, a)))
            v.add(f, "%s %s, %s" % (op, XMM[(n * 3 + 1) % 16], mem(64, a)))
    for i, j in xpairs:
        v.add(f, "movups %s, %s" % (XMM[i], XMM[j]))
    for n, a in enumerate(SSE_ADDRS):
        v.add(f, "movups %s, %s" % (XMM[(n * 5) % 16], mem(128, a)))
        v.add(f, "movups %s, %s" % (mem(128, a), XMM[(n * 3 + 1) % 16]))
        v.add(f, "movups %s, %s" % (XMM[(n * 7) % 16], a))
    # control state: MXCSR and the x87 control word, sized and unsized
    for op, mw in (("ldmxcsr", 32), ("stmxcsr", 32), ("fldcw", 16), ("fnstcw", 16)):
        for a in SSE_ADDRS:
            v.add(f, "%s %s" % (op, mem(mw, a)))
            v.add(f, "%s %s" % (op, a))
    for op, mw in (("cvttsd2si", 64), ("cvttss2si", 32), ("cvtsd2si", 64), ("cvtss2si", 32)):
        for i, j in pairs(16, ("rev",)):
            v.add(f, "%s %s, %s" % (op, R32[i], XMM[j]))
            v.add(f, "%s %s, %s" % (op, R64[i], XMM[j]))
        for n, a in enumerate(SSE_ADDRS):
            v.add(f, "%s %s, %s" % (op, R32[(n * 5) % 16], mem(mw, a)))
            v.add(f, "%s %s, %s" % (op, R64[(n * 3 + 1) % 16], mem(mw, a)))


# ---- Issue 15: system, atomics, double shifts, checksums, carry chains, random numbers ----------

def gen_system(v):
    f = "system"
    for s in ("syscall", "cpuid", "rdtsc", "rdtscp", "xgetbv", "lfence", "mfence", "sfence", "pause",
              "hlt", "endbr64", "SYSCALL", "Pause"):
        v.add(f, s)
    # prefetch and clflush take memory of any size, or none written
    for op in ("prefetcht0", "prefetcht1", "prefetcht2", "prefetchnta", "clflush"):
        for n, a in enumerate(MEM_SMALL):
            v.add(f, "%s %s" % (op, a))
            v.add(f, "%s %s" % (op, mem(WIDTHS[n % 4], a)))
        v.add(f, "%s %s" % (op, mem(128, "[rax]")))
        v.add(f, "%s rax" % op)  # a register: refused
    for op in ("rdrand", "rdseed"):
        for w in (16, 32, 64):
            for r in REGS[w]:
                v.add(f, "%s %s" % (op, r))
        v.add(f, "%s al" % op)  # no byte form: refused
        v.add(f, "%s dword ptr [rax]" % op)  # no memory form: refused
    for s in ("syscall rax", "cpuid 0", "lfence [rax]"):
        v.add(f, s)  # operands where there are none: refused
    # int: GNU as writes `int 3` as `CC`
    for spelled, value in (("0", 0), ("1", 1), ("2", 2), ("3", 3), ("4", 4), ("0x3", 3), ("0x80", 0x80),
                           ("127", 127), ("255", 255), ("256", 256), ("-1", -1), ("-128", -128), ("-129", -129)):
        v.imm(f, "int %s" % spelled, value, 8)
    v.add(f, "int eax")  # refused


def gen_atomics(v):
    for op in ("xadd", "cmpxchg"):
        for w in WIDTHS:
            R = REGS[w]
            for i, j in pairs(16, ("diag", "rev", "half")):
                v.add(op, "%s %s, %s" % (op, R[i], R[j]))
            for n, a in enumerate(MEM_SMALL):
                v.add(op, "%s %s, %s" % (op, mem(w, a), R[(n * 5) % 16]))
                v.add(op, "%s %s, %s" % (op, a, R[(n * 3 + 1) % 16]))
        ok, bad = high_byte_pairs()
        for a, b in ok + bad:
            v.add(op, "%s %s, %s" % (op, a, b))
        v.add(op, "%s eax, [rax]" % op)  # memory source: refused
    for op, w in (("cmpxchg8b", 64), ("cmpxchg16b", 128)):
        for a in MEM_SMALL:
            v.add(op, "%s %s" % (op, a))
            v.add(op, "%s %s" % (op, mem(w, a)))
        v.add(op, "%s %s" % (op, mem(32 if w == 64 else 64, "[rax]")))  # wrong size: refused
        v.add(op, "%s rax" % op)  # register: refused
    op = "movbe"
    for w in (16, 32, 64):
        R = REGS[w]
        for n, a in enumerate(MEM_SMALL):
            v.add(op, "movbe %s, %s" % (R[(n * 5) % 16], mem(w, a)))
            v.add(op, "movbe %s, %s" % (mem(w, a), R[(n * 3 + 1) % 16]))
            v.add(op, "movbe %s, %s" % (R[(n * 7 + 2) % 16], a))
        v.add(op, "movbe %s, %s" % (R[0], R[1]))  # register to register: refused
    v.add(op, "movbe al, byte ptr [rax]")  # no byte form: refused


def gen_double_shift(v):
    for op in ("shld", "shrd"):
        for w in (16, 32, 64):
            R = REGS[w]
            for n, (i, j) in enumerate(pairs(16, ("diag", "rev", "half"))):
                c = SHIFT_COUNTS[n % len(SHIFT_COUNTS)]
                v.imm(op, "%s %s, %s, %d" % (op, R[i], R[j], c), c, 8, "u8")
                v.add(op, "%s %s, %s, cl" % (op, R[j], R[i]))
            for n, a in enumerate(MEM_SMALL):
                c = SHIFT_CORE[n % len(SHIFT_CORE)]
                v.imm(op, "%s %s, %s, %d" % (op, mem(w, a), R[(n * 5) % 16], c), c, 8, "u8")
                v.add(op, "%s %s, %s, cl" % (op, mem(w, a), R[(n * 3 + 1) % 16]))
            v.imm(op, "%s %s, %s, 256" % (op, R[0], R[1]), 256, 8, "u8")
            v.imm(op, "%s %s, %s, -1" % (op, R[0], R[1]), -1, 8, "u8")
        v.add(op, "%s al, cl, 1" % op)  # no byte form: refused


def gen_crc_adx(v):
    op = "crc32"
    for dw, sws in ((32, (8, 16, 32)), (64, (8, 64))):
        for sw in sws:
            for i, j in pairs(16, ("rev", "half")):
                v.add(op, "crc32 %s, %s" % (REGS[dw][i], REGS[sw][j]))
            for n, a in enumerate(MEM_SMALL):
                v.add(op, "crc32 %s, %s" % (REGS[dw][(n * 5) % 16], mem(sw, a)))
    for h in R8H:
        v.add(op, "crc32 eax, %s" % h)
        v.add(op, "crc32 r9d, %s" % h)  # REX with ah..bh: refused
        v.add(op, "crc32 rax, %s" % h)  # REX.W with ah..bh: refused
    v.add(op, "crc32 eax, [rax]")  # size not written: refused
    v.add(op, "crc32 rax, ecx")  # no such pair: refused
    for op in ("adcx", "adox"):
        for w in (32, 64):
            R = REGS[w]
            for i, j in pairs(16, ("diag", "rev", "half")):
                v.add(op, "%s %s, %s" % (op, R[i], R[j]))
            for n, a in enumerate(MEM_SMALL):
                v.add(op, "%s %s, %s" % (op, R[(n * 5) % 16], mem(w, a)))
                v.add(op, "%s %s, %s" % (op, R[(n * 3 + 1) % 16], a))
        v.add(op, "%s ax, cx" % op)  # no 16-bit form: refused


def gen_one_operand_shifts(v):
    """A shift or rotate without a count: by one, as `D0`/`D1`."""
    for op in SHIFTS:
        for w in WIDTHS:
            for r in REGS[w]:
                v.add(op, "%s %s" % (op, r))
            for a in rot(MEM_SMALL, SHIFTS.index(op), 4):
                v.add(op, "%s %s" % (op, mem(w, a)))
        v.add(op, "%s ah" % op)
        v.add(op, "%s [rax]" % op)  # size not written: refused


def gen_prefixes(v):
    """`lock` before every instruction that takes it (memory destination), and where it is refused; `rep`,
    `repe`/`repz`, `repne`/`repnz` before the string instructions, `ret` and `nop`, and where refused; each prefix
    alone on its line."""
    f = "lock"
    two = ("add", "adc", "and", "or", "sbb", "sub", "xor", "xadd", "xchg", "cmpxchg", "btc", "btr", "bts")
    for n, op in enumerate(two):
        for w in WIDTHS:
            if w == 8 and op in ("btc", "btr", "bts"):
                continue
            R = REGS[w]
            for k, a in enumerate(rot(MEM_SMALL, n + w // 8, 3)):
                v.add(f, "lock %s %s, %s" % (op, mem(w, a), R[(n * 3 + k * 5) % 16]))
            v.add(f, "lock %s %s, %s" % (op, R[1], R[2]))           # register destination: refused
            v.add(f, "lock %s %s, %s" % (op, R[3], mem(w, "[rax]")))  # memory source: refused but for xchg
    for n, op in enumerate(("add", "adc", "and", "or", "sbb", "sub", "xor")):
        for w in WIDTHS:
            for k, (spelled, value) in enumerate(IMM_CORE[:4]):
                a = MEM_SMALL[(n + k) % len(MEM_SMALL)]
                v.imm(f, "lock %s %s, %s" % (op, mem(w, a), spelled), value, w)
    for op in ("btc", "btr", "bts"):
        for w in (16, 32, 64):
            v.imm(f, "lock %s %s, 5" % (op, mem(w, "[rbx + rcx*8 + 0x10]")), 5, 8, "u8")
    for op in ("inc", "dec", "neg", "not"):
        for w in WIDTHS:
            for a in rot(MEM_SMALL, w // 8, 3):
                v.add(f, "lock %s %s" % (op, mem(w, a)))
        v.add(f, "lock %s eax" % op)  # register: refused
    for a in rot(MEM_SMALL, 2, 4):
        v.add(f, "lock cmpxchg8b %s" % mem(64, a))
        v.add(f, "lock cmpxchg16b %s" % mem(128, a))
    for s_ in ("lock mov [rax], eax", "lock cmp [rax], ecx", "lock test [rax], ecx", "lock bt [rax], ecx",
               "lock shl dword ptr [rax], 1", "lock nop", "lock lock add [rax], eax", "lock rep stosb",
               "LOCK ADD [RAX], EAX", "Lock xadd qword ptr [rdi], rax"):
        v.add(f, s_)
    f = "rep"
    for base in ("movs", "stos", "lods", "scas", "cmps"):
        for suffix in "bwdq":
            op = base + suffix
            v.add(f, op)
            for p in ("rep", "repe", "repz", "repne", "repnz", "REP"):
                v.add(f, "%s %s" % (p, op))
    for p in ("rep", "repe", "repne"):
        for s_ in ("ret", "ret 8", "nop", "nop eax", "add eax, 1", "inc eax", "call rax", "jmp rax",
                   "movsd xmm0, xmm1", "rep movsb", "lock add [rax], eax"):
            v.add(f, "%s %s" % (p, s_))
    # alone on its line, each assembled on its own (objdump reads a prefix as part of the next instruction)
    for s_ in ("lock", "rep", "repe", "repz", "repne", "repnz"):
        v.add(f, s_, program=True)


def gen_bmi(v):
    """BMI1 and BMI2 (VEX-encoded): every register in every position over the rotations, memory in the r/m
    position, rorx counts; and lines as refuses (16-bit or mixed widths, memory where a register must be)."""
    f = "bmi"
    rvm = ("andn", "mulx", "pdep", "pext")      # reg, vvvv, r/m
    rmv = ("bextr", "bzhi", "sarx", "shlx", "shrx")  # reg, r/m, vvvv
    vm = ("blsi", "blsmsk", "blsr")             # vvvv, r/m
    for w in (32, 64):
        R = REGS[w]
        for n, op in enumerate(rvm + rmv):
            for i, j in pairs(16, ("diag", "rev", "half")):
                v.add(f, "%s %s, %s, %s" % (op, R[i], R[j], R[(i + j + n) % 16]))
            for k, a in enumerate(rot(MEM_SMALL, n, 4)):
                third = R[(k * 5 + n) % 16]
                if op in rvm:
                    v.add(f, "%s %s, %s, %s" % (op, R[(k * 3) % 16], third, mem(w, a)))
                else:
                    v.add(f, "%s %s, %s, %s" % (op, R[(k * 3) % 16], mem(w, a), third))
        for n, op in enumerate(vm):
            for i, j in pairs(16, ("diag", "rev", "half")):
                v.add(f, "%s %s, %s" % (op, R[i], R[j]))
            for k, a in enumerate(rot(MEM_SMALL, n, 4)):
                v.add(f, "%s %s, %s" % (op, R[(k * 7) % 16], mem(w, a)))
        for n, (i, j) in enumerate(pairs(16, ("rev", "half"))):
            c = SHIFT_COUNTS[n % len(SHIFT_COUNTS)]
            v.imm(f, "rorx %s, %s, %d" % (R[i], R[j], c), c, 8, "u8")
        for k, a in enumerate(rot(MEM_SMALL, 3, 4)):
            v.imm(f, "rorx %s, %s, 7" % (R[k], mem(w, a)), 7, 8, "u8")
        v.imm(f, "rorx %s, %s, 256" % (R[0], R[1]), 256, 8, "u8")
    for s_ in ("andn ax, cx, dx", "andn eax, ecx, rdx", "andn eax, dword ptr [rax], ecx", "blsi al, cl",
               "bextr eax, ecx, dword ptr [rax]", "mulx rax, rcx, edx", "shlx eax, ecx, 5", "andn eax, ecx"):
        v.add(f, s_)  # refused


def gen_sse_packed(v):
    """SSE and SSE2 packed: every xmm register on both sides over the rotations, memory of 128 bits (written and
    unwritten size), the immediate forms' edges, and conversions with general registers."""
    f = "sse_packed"
    xpairs = pairs(16, ("rev", "half"))
    rm128 = ["movaps", "movapd", "movdqa", "movdqu", "movupd"]
    arith = [n + suf for n in ("add", "mul", "sub", "min", "div", "max", "sqrt", "and", "andn", "or", "xor",
                               "unpckl", "unpckh") for suf in ("ps", "pd")] + ["rcpps", "rsqrtps"]
    ints = ["paddb", "paddw", "paddd", "paddq", "psubb", "psubw", "psubd", "psubq", "paddsb", "paddsw", "paddusb",
            "paddusw", "psubsb", "psubsw", "psubusb", "psubusw", "pand", "pandn", "por", "pcmpeqb", "pcmpeqw",
            "pcmpeqd", "pcmpgtb", "pcmpgtw", "pcmpgtd", "pmullw", "pmulhw", "pmulhuw", "pmuludq", "pmaddwd", "pavgb",
            "pavgw", "pminub", "pmaxub", "pminsw", "pmaxsw", "psadbw", "punpcklbw", "punpcklwd", "punpckldq",
            "punpcklqdq", "punpckhbw", "punpckhwd", "punpckhdq", "punpckhqdq", "packsswb", "packuswb", "packssdw",
            "psllw", "pslld", "psllq", "psrlw", "psrld", "psrlq", "psraw", "psrad",
            "cvtdq2ps", "cvtps2dq", "cvttps2dq", "cvtpd2dq", "cvttpd2dq", "cvtpd2ps"]
    for k, op in enumerate(rm128 + arith + ints):
        for i, j in xpairs[k % 2::2]:
            v.add(f, "%s %s, %s" % (op, XMM[i], XMM[j]))
        for n, a in enumerate(rot(SSE_ADDRS, k, 3)):
            v.add(f, "%s %s, %s" % (op, XMM[(n * 5 + k) % 16], mem(128, a)))
        v.add(f, "%s %s, %s" % (op, XMM[k % 16], SSE_ADDRS[k % len(SSE_ADDRS)]))
        v.add(f, "%s %s, %s" % (op, XMM[0], mem(64, "[rax]")))  # wrong size: refused
    for k, op in enumerate(rm128):
        for n, a in enumerate(rot(SSE_ADDRS, k, 4)):
            v.add(f, "%s %s, %s" % (op, mem(128, a), XMM[(n * 3 + k) % 16]))
    for op in ("movntps", "movntpd", "movntdq"):
        for n, a in enumerate(SSE_ADDRS[:6]):
            v.add(f, "%s %s, %s" % (op, mem(128, a), XMM[(n * 3 + 1) % 16]))
        v.add(f, "%s xmm0, xmm1" % op)  # register destination: refused
    for op in ("cvtdq2pd", "cvtps2pd"):
        for i, j in xpairs[::2]:
            v.add(f, "%s %s, %s" % (op, XMM[i], XMM[j]))
        for n, a in enumerate(SSE_ADDRS[:6]):
            v.add(f, "%s %s, %s" % (op, XMM[(n * 5) % 16], mem(64, a)))
    for op in ("shufps", "shufpd", "cmpps", "cmppd", "pshufd", "pshuflw", "pshufhw"):
        for n, (i, j) in enumerate(xpairs[::3]):
            c = SHIFT_COUNTS[n % len(SHIFT_COUNTS)]
            v.imm(f, "%s %s, %s, %d" % (op, XMM[i], XMM[j], c), c, 8, "u8")
        for n, a in enumerate(SSE_ADDRS[:4]):
            v.imm(f, "%s %s, %s, 7" % (op, XMM[n * 4], mem(128, a)), 7, 8, "u8")
        v.imm(f, "%s xmm0, xmm1, 256" % op, 256, 8, "u8")
    for op in ("psllw", "pslld", "psllq", "psrlw", "psrld", "psrlq", "psraw", "psrad", "pslldq", "psrldq"):
        for n, x in enumerate(XMM):
            c = SHIFT_COUNTS[n % len(SHIFT_COUNTS)]
            v.imm(f, "%s %s, %d" % (op, x, c), c, 8, "u8")
        v.add(f, "%s %s, 3" % (op, mem(128, "[rax]")))  # memory with a count: refused
    for op in ("pmovmskb", "movmskps", "movmskpd"):
        for i, j in xpairs[::2]:
            v.add(f, "%s %s, %s" % (op, R32[i], XMM[j]))
            v.add(f, "%s %s, %s" % (op, R64[j], XMM[i]))
        v.add(f, "%s eax, %s" % (op, mem(128, "[rax]")))  # memory: refused


# ---- Programs: labels, jumps, relaxation, data --------------------------------------------------

def nops(n):
    return ["nop"] * n


def prog(*stmts):
    out = []
    for s in stmts:
        out.extend(s if isinstance(s, list) else [s])
    return "; ".join(out)


def backward(jump, n):
    """`back:` then n nops then `jump back` (the label sits on the first statement)."""
    body = nops(n) + ["%s back" % jump]
    body[0] = "back: " + body[0]
    return prog(body)


def gen_programs(v):
    f = "program"
    P = lambda src: v.add(f, src, program=True)
    jcc_few = ["je", "jne", "jz", "jnz", "jl", "jg", "jb", "jae"]
    # rel8 / rel32 boundaries: forward (fits while the gap <= 127) and backward (fits while gap <= 126)
    for j in ["jmp", "call"] + jcc_few:
        for n in (0, 1, 125, 126, 127, 128, 129):
            P(prog("%s fwd" % j, nops(n), "fwd: ret"))
            P(backward(j, n))
    # every condition-code spelling, just inside and just outside rel8, both directions
    for cc in CC:
        j = "j" + cc
        for n in (127, 128):
            P(prog("%s fwd" % j, nops(n), "fwd: ret"))
        for n in (126, 127):
            P(backward(j, n))
    # trivial jumps
    P("top: jmp top")
    P("jmp next; next: ret")
    P("top: jz top")
    P("call next; next: ret")
    P("jmp a; a: jmp b; b: ret")
    P("a: b: nop; jmp a")
    P("jmp done; nop; done: ret")
    # loops
    P("mov ecx, 10; top: dec ecx; jnz top; ret")
    P("xor eax, eax; mov ecx, 10; top: add eax, ecx; dec ecx; jnz top; ret")
    P("mov rax, rdi; test rdi, rdi; jns done; neg rax; done: ret")
    P("xor eax, eax; test rdi, rdi; jle done; top: add rax, rdi; dec rdi; jg top; done: ret")
    P("push rbp; mov rbp, rsp; sub rsp, 0x10; mov qword ptr [rbp - 0x8], rdi; mov rax, qword ptr [rbp - 0x8]; leave; ret")
    P("mov rax, rdi; cmp rdi, rsi; cmovl rax, rsi; ret")
    P("xor eax, eax; mov ecx, 1; test rdi, rdi; je done; top: mov rdx, rax; add rdx, rcx; mov rax, rcx; mov rcx, rdx; dec rdi; jnz top; done: ret")
    # chains: relaxing one jump pushes another out of rel8 range
    # (j2 stays short while k <= 4; once it grows, j1 no longer reaches l1 either)
    for k in (3, 4, 5, 6):
        P(prog("jmp l1", "jmp l2", nops(123), "l1: nop", nops(k - 1), "l2: ret"))
        P(prog("jz l1", "jnz l2", nops(123), "l1: nop", nops(k - 1), "l2: ret"))
    # a backward jump over a forward jCC: once the jCC grows (m = 126), the backward jump
    # (g = 122: -126 with a short jCC) is pushed out of rel8 range as well
    for g in (122, 124):
        for m in (125, 126):
            P(prog(["l1: nop"] + nops(g - 1), "jz fwd", "jmp l1", nops(m), "fwd: ret"))
    for n in (120, 121, 122, 123):
        # three forward jumps to one label over the same gap
        P(prog("je exit", "jne exit", "jmp exit", nops(n), "exit: ret"))
    # rip-relative labels and data
    P("lea rax, [rip + data]; ret; data: .quad 0x1122334455667788")
    P("mov rax, qword ptr [rip + data]; ret; data: .quad 0x1122334455667788")
    P("data: .quad 0x1122334455667788; lea rax, [rip + data]; ret")
    P("data: .quad 0x1122334455667788; mov rax, qword ptr [rip + data]; ret")
    P("mov eax, dword ptr [rip + data]; ret; data: .long -1")
    P("lea rcx, [rip + tbl]; mov eax, dword ptr [rcx + rdi*4]; ret; tbl: .long 10, 20, 30, 40")
    P("movsd xmm0, qword ptr [rip + c]; ret; c: .quad 0x400921fb54442d18")
    P("movss xmm0, dword ptr [rip + c]; ret; c: .long 0x40490fdb")
    P("addsd xmm0, qword ptr [rip + one]; ret; one: .quad 0x3ff0000000000000")
    P("cmp byte ptr [rip + flag], 0; ret; flag: .byte 1")
    P("mov dword ptr [rip + d], 0x12345678; ret; d: .long 0")
    P("mov qword ptr [rip + d], -1; ret; d: .quad 0")
    P("add word ptr [rip + d], 0x1234; ret; d: .word 0")
    P("lea rax, [rip + here]; here: ret")
    P(prog("lea rax, [rip + target]", nops(200), "target: ret"))
    P(prog("target: nop", nops(199), "lea rax, [rip + target]", "ret"))
    P("jmp over; .byte 1, 2, 3; over: ret")
    # data directives
    for s in (".byte 1, 2", ".byte 0xff, -1, 255, -128, 0", ".word 0x1234", ".word -1, 0xffff",
              ".long -1", ".long 0xffffffff, 0x12345678", ".quad 0x1122334455667788",
              ".quad -1, 0", ".byte 0x90; ret", "ret; tbl: .long 1, 2, 3",
              "nop; msg: .byte 0x68, 0x69, 0; ret"):
        P(s)


# ----------------------------------------------------------------------------------------------
# Running the binutils
# ----------------------------------------------------------------------------------------------

MSG_RE = re.compile(r"^[^:]+:(\d+): (Warning|Error): (.*)$")
LST_FIRST = re.compile(r"^\s*(\d+) ([0-9a-f]+) ([0-9A-F]+)\s*\t")
LST_CONT = re.compile(r"^\s*(\d+)\s+([0-9A-F]+)\s*$")
OBJDUMP_INSN = re.compile(r"^\s*([0-9a-f]+):\t")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def as_version():
    return run(["as", "--version"]).stdout.splitlines()[0].strip()


def normalise_message(msg):
    """Group messages for the summary: replace quoted operands / numbers by placeholders."""
    msg = re.sub(r"`[^']*'", "`…'", msg)
    msg = re.sub(r"'\w+'", "'…'", msg)
    msg = re.sub(r"0x[0-9a-f]+|-?\d+", "N", msg)
    return msg


def text_bytes(obj, work):
    binf = os.path.join(work, "text.bin")
    r = run(["objcopy", "-O", "binary", "--only-section=.text", obj, binf])
    if r.returncode:
        raise RuntimeError("objcopy failed: " + r.stderr)
    with open(binf, "rb") as fh:
        return fh.read()


def relocations(obj):
    out = run(["objdump", "-r", obj]).stdout
    offs = []
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]{8,16}) ", line)
        if m:
            offs.append(int(m.group(1), 16))
    return offs


def other_sections_empty(obj):
    out = run(["objdump", "-h", obj]).stdout
    for line in out.splitlines():
        m = re.match(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s", line)
        if m and m.group(1) != ".text" and int(m.group(2), 16) and not m.group(1).startswith(".note"):
            return False
    return True


def assemble_batch(lines, work, dropped):
    """Assemble single-instruction lines together.  Returns {line: bytes}; fills dropped[line]=reason."""
    src = os.path.join(work, "batch.s")
    lst = os.path.join(work, "batch.lst")
    obj = os.path.join(work, "batch.o")
    pending = list(lines)
    for _attempt in range(10):
        with open(src, "w") as fh:
            fh.write(PREAMBLE + "\n".join(pending) + "\n")
        r = run(["as", "--64", "-aln=" + lst, "-o", obj, src])
        bad = {}
        for m in map(MSG_RE.match, r.stderr.splitlines()):
            if m:
                k = int(m.group(1)) - 2
                if 0 <= k < len(pending) and pending[k] not in bad:
                    bad[pending[k]] = "as %s: %s" % (m.group(2).lower(), m.group(3))
        if r.returncode and not bad:
            raise RuntimeError("as failed without line messages:\n" + r.stderr)
        if bad:
            for line, why in bad.items():
                dropped[line] = why
            pending = [l for l in pending if l not in bad]
            continue
        # listing -> address per source line
        addr_of, lst_bytes, last = {}, {}, None
        with open(lst) as fh:
            for ln in fh:
                m = LST_FIRST.match(ln)
                if m:
                    k = int(m.group(1)) - 2
                    addr_of[k] = int(m.group(2), 16)
                    lst_bytes[k] = m.group(3)
                    last = k
                    continue
                m = LST_CONT.match(ln)
                if m and last is not None and int(m.group(1)) - 2 == last:
                    lst_bytes[last] += m.group(2)
        raw = text_bytes(obj, work)
        missing = [pending[k] for k in range(len(pending)) if k not in addr_of]
        if missing:
            for line in missing:
                dropped[line] = "no bytes in the listing"
            pending = [l for l in pending if l not in missing]
            continue
        starts = [addr_of[k] for k in range(len(pending))]
        if starts != sorted(starts) or starts[0] != 0:
            raise RuntimeError("listing addresses are not increasing")
        result = {}
        for k, line in enumerate(pending):
            end = starts[k + 1] if k + 1 < len(pending) else len(raw)
            b = raw[starts[k]:end]
            if b.hex() != lst_bytes[k].lower():
                raise RuntimeError("listing/objcopy mismatch at %r: %s vs %s" % (line, lst_bytes[k], b.hex()))
            result[line] = b
        relocs = relocations(obj)
        if relocs:
            for off in relocs:
                k = max(i for i, s in enumerate(starts) if s <= off)
                dropped[pending[k]] = "relocation in the object (operand taken as a symbol)"
            pending = [l for l in pending if l not in dropped]
            continue
        cross_check_objdump(obj, starts, pending)
        return result
    raise RuntimeError("as did not become silent after 10 passes")


def cross_check_objdump(obj, starts, pending):
    out = run(["objdump", "-d", "-M", "intel", "-w", "--insn-width=16", obj]).stdout
    dis = set()
    for ln in out.splitlines():
        m = OBJDUMP_INSN.match(ln)
        if m:
            dis.add(int(m.group(1), 16))
    lst = set(starts)
    only_lst = sorted(lst - dis)
    only_dis = sorted(dis - lst)
    if only_lst or only_dis:
        by_addr = dict(zip(starts, pending))
        print("objdump cross check: %d listing starts not decoded as instruction starts, %d extra "
              "objdump starts" % (len(only_lst), len(only_dis)), file=sys.stderr)
        for a in only_lst[:10]:
            print("   %#x %s" % (a, by_addr[a]), file=sys.stderr)
        raise RuntimeError("objdump -d disagrees with the listing on instruction boundaries")
    print("objdump cross check: %d instruction boundaries agree with the listing" % len(dis), file=sys.stderr)


def assemble_one(source, work_root, tag):
    """Assemble one program on its own; return (bytes, None) or (None, reason)."""
    work = os.path.join(work_root, "p%05d" % tag)
    os.makedirs(work, exist_ok=True)
    src, obj = os.path.join(work, "p.s"), os.path.join(work, "p.o")
    with open(src, "w") as fh:
        fh.write(PREAMBLE + source + "\n")
    r = run(["as", "--64", "-o", obj, src])
    msgs = [m for m in map(MSG_RE.match, r.stderr.splitlines()) if m]
    if msgs:
        return None, "as %s: %s" % (msgs[0].group(2).lower(), msgs[0].group(3))
    if r.returncode:
        return None, "as failed: " + r.stderr.strip()
    if relocations(obj):
        return None, "relocation in the object"
    if not other_sections_empty(obj):
        return None, "bytes outside .text"
    b = text_bytes(obj, work)
    why = check_label_names(source, b, work)
    if why:
        return None, why
    return b, None


LABEL_DEF = re.compile(r"(?:^|;\s*)(\w+):")


def check_label_names(source, bytes_, work):
    """Assemble the program again with every label renamed (label0, label1, ...): the bytes must not
    change.  Guards against a label name GNU Intel syntax reads as something else: `[rip + far]`
    takes `far` as a keyword (no error, no relocation, a wrong displacement)."""
    defined = LABEL_DEF.findall(source)
    if not defined:
        return None
    renamed = source
    for n, label in enumerate(defined):
        renamed = re.sub(r"\b%s\b" % re.escape(label), "zzlabel%d" % n, renamed)
    src, obj = os.path.join(work, "r.s"), os.path.join(work, "r.o")
    with open(src, "w") as fh:
        fh.write(PREAMBLE + renamed + "\n")
    r = run(["as", "--64", "-o", obj, src])
    if r.returncode or r.stderr or relocations(obj) or text_bytes(obj, work) != bytes_:
        return "bytes change when the labels are renamed (a label name read as something else?)"
    return None


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------

def generate():
    v = Vectors()
    edges = edge_addresses()
    gen_mov(v)
    gen_movabs(v)
    gen_movx(v)
    gen_lea(v, edges)
    gen_xchg(v)
    gen_push_pop(v)
    gen_alu(v)
    gen_test(v)
    gen_unary(v)
    gen_imul(v)
    gen_shift(v)
    gen_bt(v)
    gen_bitscan(v)
    gen_bswap(v)
    gen_cmov(v)
    gen_setcc(v)
    gen_jmp_call_indirect(v)
    gen_misc(v)
    gen_addressing(v, edges)
    gen_syntax(v)
    gen_common(v)
    gen_sse(v)
    gen_system(v)
    gen_atomics(v)
    gen_double_shift(v)
    gen_crc_adx(v)
    gen_one_operand_shifts(v)
    gen_prefixes(v)
    gen_bmi(v)
    gen_sse_packed(v)
    gen_programs(v)
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default=DEFAULT_OUT, help="output TSV (default: %(default)s)")
    ap.add_argument("--self-check", type=int, default=200,
                    help="re-assemble this many random single-instruction vectors one by one (default 200)")
    ap.add_argument("--refused", default=DEFAULT_REFUSED,
                    help="the single lines as refuses with an error (MESSAGE<TAB>SOURCE), which rustyjit must "
                         "refuse too (default: %(default)s)")
    ap.add_argument("--dropped", metavar="PATH",
                    help="also write every dropped line with its reason (REASON<TAB>SOURCE) to PATH")
    args = ap.parse_args()

    version = as_version()
    v = generate()
    singles = [s for s, m in v.items.items() if not m["program"]]
    programs = [s for s, m in v.items.items() if m["program"]]
    dropped = {}

    with tempfile.TemporaryDirectory(prefix="gen-encodings-") as work:
        encoded = assemble_batch(singles, work, dropped)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
            results = list(pool.map(lambda t: assemble_one(t[1], work, t[0]), enumerate(programs)))
        for s, (b, why) in zip(programs, results):
            if why:
                dropped[s] = why
            else:
                encoded[s] = b

        # operands as accepts silently although they do not fit: rustyjit must reject them
        silent_oor = {}
        for s, m in v.items.items():
            if s in encoded and m["oor"]:
                silent_oor[s] = encoded.pop(s)
                dropped[s] = "as accepted silently, but " + m["oor"]

        # self check: assemble a fixed random sample one by one, compare with the batch bytes
        rng = random.Random(2026)
        kept_singles = [s for s in singles if s in encoded]
        sample = rng.sample(kept_singles, min(args.self_check, len(kept_singles)))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
            again = list(pool.map(lambda t: assemble_one(t[1], work, 100000 + t[0]), enumerate(sample)))
        for s, (b, why) in zip(sample, again):
            if why or b != encoded[s]:
                raise RuntimeError("self check failed for %r: batch %s, alone %s (%s)" %
                                   (s, encoded[s].hex(), b.hex() if b else None, why))
        print("self check: %d vectors re-assembled one by one, identical" % len(sample), file=sys.stderr)

    out_lines = [
        "# x86-64 encoding vectors: the bytes GNU as produces for each SOURCE.",
        "# Generated by `python3 tools/gen-encodings.py` from `%s`." % version,
        "# Input: `.intel_syntax noprefix`, then SOURCE; `as --64`, no -O flags. Do not edit by hand: rerun the tool.",
        "# Format: HEX<TAB>SOURCE. HEX is the lowercase hex of the bytes, no spaces. A SOURCE with `; `",
        "# separators is a whole program (labels, jumps, data); HEX is then the bytes of the whole program.",
        "# Lines as rejects or warns about, and operands that do not fit their width, are not here.",
    ]
    per_family = Counter()
    for s, m in v.items.items():
        if s in encoded:
            out_lines.append("%s\t%s" % (encoded[s].hex(), s))
            per_family[m["family"]] += 1
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(out_lines) + "\n")
    refused = [(why[len("as error: "):], s) for s, why in dropped.items()
               if why.startswith("as error: ") and not v.items[s]["program"]]
    with open(args.refused, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("# Single lines GNU as refuses with an error: rustyjit must refuse each of them too.\n")
        fh.write("# Generated by `python3 tools/gen-encodings.py` from `%s`; do not edit by hand.\n" % version)
        fh.write("# Format: MESSAGE<TAB>SOURCE, MESSAGE being GNU as's own.\n")
        fh.write("".join("%s\t%s\n" % r for r in refused))

    if args.dropped:
        with open(args.dropped, "w", encoding="utf-8", newline="\n") as fh:
            for s, why in dropped.items():
                extra = " (as gave %s)" % silent_oor[s].hex() if s in silent_oor else ""
                fh.write("%s%s\t%s\n" % (why, extra, s))

    # summary
    err = sys.stderr
    total = sum(per_family.values())
    print("\n%d vectors written to %s (%d candidates, %d dropped)" %
          (total, os.path.relpath(args.output), len(v.items), len(dropped)), file=err)
    print("per family:", file=err)
    for fam, n in per_family.items():
        print("  %-12s %5d" % (fam, n), file=err)
    reasons = defaultdict(list)
    for s, why in dropped.items():
        reasons[normalise_message(why)].append((s, why))
    print("dropped, by reason:", file=err)
    for r, items in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        print("  %5d  %s" % (len(items), r), file=err)
        for s, why in items[:3]:
            extra = "  -> as gave %s" % silent_oor[s].hex() if s in silent_oor else ""
            print("           e.g. %s%s" % (s if len(s) < 90 else s[:87] + "...", extra), file=err)


if __name__ == "__main__":
    main()
