#!/usr/bin/env bash
# Compile time of `jit!` against `dynasm!` (issue 4): generates crates of 200 functions x 10 instructions (the same
# instructions in each), builds each cold (dependencies included, empty target dir) and again after touching
# src/lib.rs, and prints the median wall time of RUNS runs. Results go in BENCHMARKS.md.
#
#   tools/bench-compile-time.sh [WORKDIR] [RUNS]
#
# Crates (in WORKDIR, default a new temp dir):
#   jit-facade  depends on jit-core + jit-macros through a copy of rustyjit's library facade (what a user of the
#               `jit!` library pays when the package has no CLI dependencies)
#   jit-package depends on the rustyjit package with default-features = false (no CLI, no vector harness)
#   dynasm      depends on dynasm + dynasmrt from crates.io (a dev-only comparison, never a dependency of ours)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/rustyjit-bench.XXXXXX)}
runs=${2:-3}
fns=200
dynasm_version=5.1
unset CARGO_TARGET_DIR
mkdir -p "$work"

# The 10 instructions of function $1 (immediates vary so no two functions are alike).
instructions() {
  local i=$1
  printf '%s\n' "mov rax, rdi" "add rax, $i" "imul rax, rsi, 3" "lea rcx, [rax + rdx*8 + 16]" \
    "sub rcx, $((i + 7))" "xor edx, edx" "cmp rcx, rax" "cmovl rax, rcx" "shl rax, 2" "ret"
}

manifest() { # name, dependency lines
  printf '[package]\nname = "%s"\nversion = "0.1.0"\nedition = "2024"\n\n[workspace]\n\n[dependencies]\n%s\n' "$1" "$2"
}

jit_source() { # crate path of jit!
  local i
  for ((i = 0; i < fns; i++)); do
    printf 'pub fn f%d() -> %s::Code {\n    %s::jit! {\n' "$i" "$1" "$1"
    instructions "$i" | sed 's/^/        /'
    printf '    }\n}\n\n'
  done
}

dynasm_source() {
  local i
  printf 'use dynasmrt::{dynasm, DynasmApi};\n\n'
  for ((i = 0; i < fns; i++)); do
    printf 'pub fn f%d() -> dynasmrt::ExecutableBuffer {\n    let mut ops = dynasmrt::x64::Assembler::new().unwrap();\n' "$i"
    printf '    dynasm!(ops\n        ; .arch x64\n'
    instructions "$i" | sed 's/^/        ; /'
    printf '    );\n    ops.finalize().unwrap()\n}\n\n'
  done
}

rm -rf "$work/jit-facade" "$work/jit-package" "$work/dynasm"
mkdir -p "$work/jit-facade/src" "$work/jit-facade/facade/src" "$work/jit-package/src" "$work/dynasm/src"

# The facade: rustyjit's `jit!` wrapper and `__private` module over jit-core and jit-macros, nothing else (a copy
# of what src/lib.rs has: keep the two alike).
manifest facade "jit-core = { path = \"$root/jit-core\" }
jit-macros = { path = \"$root/jit-macros\" }" >"$work/jit-facade/facade/Cargo.toml"
sed -i '/^\[workspace\]$/d' "$work/jit-facade/facade/Cargo.toml"
cat >"$work/jit-facade/facade/src/lib.rs" <<'EOF'
pub use jit_core::*;
#[macro_export]
macro_rules! jit {
    ($($asm:tt)*) => { $crate::__private::jit_impl! { $crate; $($asm)* } };
}
#[doc(hidden)]
pub mod __private {
    pub use jit_core::{Code, Entry, Label};
    pub use jit_macros::jit_impl;
    pub use std::borrow::Cow;
    pub const fn entries<const N: usize>(rows: [[u32; 5]; N]) -> [Entry; N] {
        let mut out = [Entry { offset: 0, len: 0, line: 0, text: (0, 0) }; N];
        let mut i = 0;
        while i < N {
            let [offset, len, line, start, end] = rows[i];
            out[i] = Entry { offset, len, line, text: (start, end) };
            i += 1;
        }
        out
    }
}
EOF
manifest jit-facade 'facade = { path = "facade" }' >"$work/jit-facade/Cargo.toml"
jit_source facade >"$work/jit-facade/src/lib.rs"

manifest jit-package "rustyjit = { path = \"$root\", default-features = false }" >"$work/jit-package/Cargo.toml"
jit_source rustyjit >"$work/jit-package/src/lib.rs"

manifest dynasm "dynasm = \"$dynasm_version\"
dynasmrt = \"$dynasm_version\"" >"$work/dynasm/Cargo.toml"
dynasm_source >"$work/dynasm/src/lib.rs"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

printf '%-12s %10s %10s %8s\n' crate cold_s touch_s deps
for crate in jit-facade jit-package dynasm; do
  dir="$work/$crate"
  (cd "$dir" && cargo fetch -q) # downloads are not timed
  cold=() touch=()
  for ((r = 0; r < runs; r++)); do
    rm -rf "$dir/target"
    t0=$(now)
    (cd "$dir" && cargo build -q)
    t1=$(now)
    touch "$dir/src/lib.rs"
    (cd "$dir" && cargo build -q)
    t2=$(now)
    cold+=("$(echo "$t1 - $t0" | bc)") touch+=("$(echo "$t2 - $t1" | bc)")
  done
  deps=$(cd "$dir" && cargo tree -e normal,build --prefix none | sort -u | wc -l)
  printf '%-12s %10.2f %10.2f %8s\n' "$crate" "$(printf '%s\n' "${cold[@]}" | median)" \
    "$(printf '%s\n' "${touch[@]}" | median)" "$deps"
done
echo "($fns functions x 10 instructions; median of $runs runs; $(nproc) cores; $(rustc --version); in $work)"
