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
/// this thread: in one piece, or for a long text (with `parallel`) in pieces of whole lines taken by one thread a
/// core (this one and the others started here; a thread that cannot be started leaves its share to the rest). This
/// thread merges the pieces done so far between pieces of its own, so little is left to merge when the last one is
/// done.
pub(crate) fn pieces<T: Send>(
    src: &str,
    parallel: bool,
    work: impl Fn(Range<usize>, &mut Memo) -> T + Sync,
    mut merge: impl FnMut(T),
) {
    let threads = if parallel && src.len() >= PARALLEL_FROM {
        threads()
    } else {
        1
    };
    let mut memo = Memo::new();
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
                let mut memo = Memo::new();
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

#[cfg(test)]
mod tests {
    use super::{PARALLEL_FROM, pieces};

    #[test]
    fn a_long_text_is_cut_into_pieces_of_whole_lines_merged_in_order() {
        let line = "add rax, rcx\n";
        let src = line.repeat(3 * PARALLEL_FROM / line.len());
        for parallel in [true, false] {
            let mut merged = Vec::new();
            pieces(&src, parallel, |range, _| range, |range| merged.push(range));
            // In order, end to end, each a run of whole lines.
            assert_eq!(merged.first().map(|r| r.start), Some(0));
            assert_eq!(merged.last().map(|r| r.end), Some(src.len()));
            assert!(merged.windows(2).all(|w| w[0].end == w[1].start));
            assert!(merged.iter().all(|r| src[..r.end].ends_with('\n')));
            let many = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
            assert_eq!(merged.len() > 1, parallel && many, "{} pieces", merged.len());
        }
        // A short text is one piece.
        let mut merged = Vec::new();
        pieces(line, true, |range, _| range, |range| merged.push(range));
        assert_eq!(merged, vec![0..line.len()]);
    }
}
