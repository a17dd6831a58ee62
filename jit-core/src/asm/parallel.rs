//! The parallel driver: a long text is cut into pieces of whole lines, which threads assemble one at a time
//! (each thread with a [`Memo`] of its own); the calling thread takes the pieces in the text's order as they are
//! done.

use super::memo::Memo;
use std::ops::Range;
use std::sync::OnceLock;

/// Texts at least this long are split into pieces assembled on threads, one a core.
pub(crate) const PARALLEL_FROM: usize = 256 * 1024;

/// The size of those pieces (cut at line ends): the threads take them one at a time, so a thread that runs slower
/// (on a core the machine gives to something else for a while) takes fewer, and all end at about the same time.
const PIECE: usize = 64 * 1024;

/// How many threads a long text is assembled on: one a core this process may use, at most 16. Asked of the
/// system once (it reads the affinity and the cgroup's quota, up to a tenth of a millisecond).
pub(crate) fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(16)))
}

/// Runs `work` over the whole text and hands what it made of it to `merge`, piece by piece in the text's order, on
/// this thread: in one piece, or for a long text in pieces of whole lines taken by one thread a core (this one and
/// the others started here; a thread that cannot be started leaves its share to the rest). This thread merges the
/// pieces done so far between pieces of its own, so little is left to merge when the last one is done.
pub(crate) fn pieces<T: Send>(src: &str, work: impl Fn(Range<usize>, &mut Memo) -> T + Sync, mut merge: impl FnMut(T)) {
    let threads = if src.len() >= PARALLEL_FROM { threads() } else { 1 };
    // About one statement every 16 bytes.
    let mut memo = Memo::new(src.len() / 16 / threads);
    if threads == 1 {
        return merge(work(0..src.len(), &mut memo));
    }
    let mut pieces = Vec::with_capacity(src.len() / PIECE + 1);
    let mut start = 0;
    while start < src.len() {
        let from = (start + PIECE).min(src.len() - 1);
        let end = src.as_bytes()[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(src.len(), |n| from + n + 1);
        pieces.push(start..end);
        start = end;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    // The next piece no thread has taken, done: its position and what `work` made of it.
    let take = |memo: &mut Memo| {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let range = pieces.get(i)?.clone();
        Some((i, work(range, memo)))
    };
    // Pieces done and not merged yet, and how many are merged.
    let mut done: Vec<Option<T>> = std::iter::repeat_with(|| None).take(pieces.len()).collect();
    let mut merged = 0;
    let mut merge_done = |done: &mut Vec<Option<T>>| {
        while let Some(piece) = done.get_mut(merged).and_then(Option::take) {
            merge(piece);
            merged += 1;
        }
    };
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::channel();
        for _ in 1..threads {
            let sender = sender.clone();
            let take = &take;
            let theirs = move || {
                let mut memo = Memo::new(src.len() / 16 / threads);
                while let Some(piece) = take(&mut memo) {
                    if sender.send(piece).is_err() {
                        return;
                    }
                }
            };
            // A thread that cannot start takes no pieces.
            let _ = std::thread::Builder::new()
                .name("rustyjit-asm".into())
                .spawn_scoped(scope, theirs);
        }
        drop(sender);
        while let Some((i, piece)) = take(&mut memo) {
            done[i] = Some(piece);
            for (i, piece) in receiver.try_iter() {
                done[i] = Some(piece);
            }
            merge_done(&mut done);
        }
        // The others' last pieces; the channel ends when every other thread has. (One that panicked, a bug in
        // this crate, leaves its piece out, and the scope passes the panic on as it ends.)
        for (i, piece) in receiver {
            done[i] = Some(piece);
            merge_done(&mut done);
        }
    });
}

/// The random lines of the differential and fuzz tests, for the tests below.
#[cfg(test)]
#[path = "../../tests/common/mod.rs"]
mod common;

#[cfg(test)]
mod tests {
    //! The memo against the table's path, and pieces on threads against one piece: the same text assembled
    //! either way must give the same code, listing and labels, or the same errors at the same places.

    use super::super::table::Table;
    use super::super::{Assembled, Assembler};
    use super::common::{EDGE_NUMBERS, Rng, memory, random_line};
    use super::{Memo, PARALLEL_FROM};

    /// Values and operands the memo must leave to the table's path or encode exactly as it does (with the shared
    /// edge numbers): values past the edges, every base and sign spelling, and operands the memo does not take.
    const ODD: [&str; 28] = [
        "-2147483649",
        "0xffffffff",
        "0xffffffffffffff80",
        "-0x8000000000000000",
        "18446744073709551616",
        "0b101",
        "1_000",
        "- 3",
        "+4",
        "--5",
        "top",
        "{0}",
        "ds:0x10",
        "[rip + top]",
        "[]",
        "[eax]",
        "[rax - rbx]",
        "[rsp*2]",
        "[rax + rbx + rcx]",
        "rip",
        "qword [rax]",
        "qword ptr ptr [rax]",
        "fs:[rax]",
        "1 + 2",
        "é",
        "byte ptr",
        "0x",
        "[rbx + rsp]",
    ];

    /// A random statement: mostly a line of the shared generator (a form of the table with fitting operands),
    /// respaced, sometimes with one operand swapped for something odd; else a label, a jump, data, nothing, or a
    /// wrong line.
    fn statement(rng: &mut Rng) -> String {
        match rng.below(40) {
            0 => return format!("{}:", rng.pick(&["top", "mid", "rax", "l1"])),
            1 => return format!("{} top", rng.pick(&["jmp", "jne", "call"])),
            2 => return format!("{} 1, -2, 0x30", rng.pick(&[".quad", "db", "dd"])),
            3 => return String::new(),
            4 => {
                return rng
                    .pick(&["frob rax", "movv rax, 1", "mov rax, 1, 2, 3", "add", "ret 1 2"])
                    .to_string();
            }
            _ => {}
        }
        let line = random_line(rng);
        let (mnemonic, ops) = line.split_once(' ').unwrap_or((&line, ""));
        let mut ops: Vec<String> = ops.split(", ").filter(|o| !o.is_empty()).map(String::from).collect();
        if rng.chance(15) {
            let at = rng.below(ops.len() + 1);
            let odd = if rng.chance(25) {
                rng.pick(&EDGE_NUMBERS).to_string()
            } else if rng.chance(60) {
                rng.pick(&ODD).to_string()
            } else {
                let size = *rng.pick(&["byte", "qword", "dword"]);
                const PTR: [&str; 3] = [" ", " PTR ", " ptr"];
                let ptr = rng.pick(&PTR);
                memory(rng, Some(size)).replace(" ptr ", ptr)
            };
            if at == ops.len() { ops.push(odd) } else { ops[at] = odd }
        }
        let sep = *rng.pick(&[", ", ",", " , ", ",\t"]);
        format!("{}{mnemonic} {}", rng.pick(&["", "", "    ", "\t"]), ops.join(sep))
    }

    /// A statement that assembles on its own (none of the odd ones, no label, no jump).
    fn valid(rng: &mut Rng) -> String {
        loop {
            let s = statement(rng);
            if !s.contains(':') && !s.contains("top") && !s.contains('{') && super::super::assemble(&s).is_ok() {
                return s;
            }
        }
    }

    /// A random text of `lines` lines, some with two statements, comments, or `\r\n`; with `errors`, some
    /// statements are wrong.
    fn text(rng: &mut Rng, lines: usize, errors: bool) -> String {
        let mut out = String::new();
        let one = |rng: &mut Rng| if errors { statement(rng) } else { valid(rng) };
        for _ in 0..lines {
            out.push_str(&one(rng));
            if rng.chance(5) {
                out.push_str("; ");
                out.push_str(&one(rng));
            }
            if rng.chance(5) {
                const NOTES: [&str; 3] = [" # note", " // é note", "#"];
                out.push_str(NOTES[rng.below(NOTES.len())]);
            }
            out.push_str(if rng.chance(3) { "\r\n" } else { "\n" });
        }
        out
    }

    /// Everything an assembly gives, as text: bytes, listing, labels and hole patches, or the errors with their
    /// places.
    fn outcome(src: &str, memo: bool) -> String {
        let assembler = Assembler {
            memo,
            ..Assembler::default()
        };
        match assembler.run(src) {
            Ok((Assembled { bytes, entries, labels }, holes)) => {
                format!("{bytes:02x?}\n{entries:?}\n{labels:?}\n{holes:?}")
            }
            Err(errors) => errors.0.iter().map(|e| format!("{:?} {}\n", e.span, e)).collect(),
        }
    }

    #[test]
    fn random_statements_assemble_the_same_with_and_without_the_memo() {
        let mut rng = Rng::new(0xfa57);
        // One memo for all the texts, as a thread keeps one for the pieces it takes.
        let mut memo = Memo::new(4096);
        for round in 0..400 {
            let src = text(&mut rng, 1 + round % 20, round % 2 == 0);
            let with = outcome(&src, true);
            assert_eq!(with, outcome(&src, false), "{src}");
            if round % 2 == 1 {
                assert!(with.starts_with('['), "valid text assembles: {with}");
            }
            // Count the instructions the memo's templates made, so the test shows they were compared.
            Assembler::piece(Table::get(), &src, 0..src.len(), false, true, &mut memo);
        }
        let from_templates = memo.from_templates.get();
        assert!(
            from_templates > 500,
            "the memo's templates made only {from_templates} instructions"
        );
    }

    /// Register names swapped for others the memo cannot tell apart (the same class, neither register 0 nor 1,
    /// the same need of REX) but whose numbers differ in every bit the encoding uses.
    fn renamed(line: &str) -> String {
        const SWAPS: [(&str, &str); 10] = [
            ("rdx", "rdi"),
            ("edx", "edi"),
            ("r9", "r14"),
            ("r10", "r13"),
            ("r9d", "r14d"),
            ("xmm2", "xmm15"),
            ("xmm3", "xmm12"),
            ("dl", "bl"),
            ("r11b", "r12b"),
            ("dx", "bx"),
        ];
        let word = |w: &str| -> String {
            SWAPS
                .iter()
                .find_map(|&(a, b)| (w == a).then_some(b).or((w == b).then_some(a)))
                .unwrap_or(w)
                .to_string()
        };
        let mut out = String::new();
        let mut ident = String::new();
        for c in line.chars().chain(std::iter::once('\n')) {
            if c.is_ascii_alphanumeric() {
                ident.push(c);
            } else {
                out.push_str(&word(&ident));
                ident.clear();
                out.push(c);
            }
        }
        out.pop();
        out
    }

    #[test]
    fn instructions_of_a_remembered_shape_get_the_encoders_bytes() {
        // Each statement, then the same with other registers: the second is encoded from the memo's template
        // of the first, and must come out as the parser and encoder make it (debug builds also check each
        // template's bytes against `select_form` as they are made).
        let mut rng = Rng::new(0x7e3f);
        let mut src = String::new();
        let mut renamed_lines = 0;
        for _ in 0..3000 {
            let line = valid(&mut rng);
            let other = renamed(&line);
            renamed_lines += usize::from(other != line);
            src.push_str(&format!("{line}\n{other}\n"));
        }
        assert!(
            renamed_lines > 500,
            "only {renamed_lines} lines had registers to rename"
        );
        assert_eq!(outcome(&src, true), outcome(&src, false));
    }

    #[test]
    fn a_long_text_in_pieces_on_threads_is_the_same_code() {
        let mut rng = Rng::new(0x7ead);
        let mut src = String::from("start: jmp end\n");
        while src.len() < 3 * PARALLEL_FROM {
            // Instructions, with labels, jumps and data between them in every piece.
            src.push_str(&text(&mut rng, 30, false));
            src.push_str(&format!("mid{}: jne start\ndb 1, 2\n", src.len()));
        }
        src.push_str("end: ret\n");
        let with = outcome(&src, true);
        assert!(with.starts_with('['), "{}", &with[..with.len().min(300)]);
        assert_eq!(with, outcome(&src, false));
        assert!(
            {
                let mut pieces = 0;
                super::pieces(&src, |_, _| (), |()| pieces += 1);
                pieces > 1
            } || std::thread::available_parallelism().map_or(true, |n| n.get() == 1)
        );
        // And with an error on the last line, reported at its line.
        src.push_str("mov rax, bl\n");
        let errors = outcome(&src, true);
        assert_eq!(errors, outcome(&src, false));
        let lines = src.lines().count();
        assert!(
            errors.contains(&format!("line: {lines},")),
            "{}",
            &errors[..errors.len().min(300)]
        );
    }
}
