// A label inside brackets without `rip` (`[table]`): the error says to write `[rip + table]`.
use rustyjit::jit;

fn main() {
    let _ = jit! { table: lea rax, [table] };
}
