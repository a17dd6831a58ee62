//! The arena: many functions on shared pages, each called and returning its own value; pages per function; W^X
//! at every step (read from `/proc/self/maps`); lazy sealing; large and empty code; memory given back on drop; the
//! memfd fallback under MDWE.
//!
//! Machine code here is written as bytes, with the assembly next to it (encoded by GNU as 2.40). Machine code runs
//! only on x86-64 Linux, so that is where these tests run.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

mod process;

use jit_core::{Arena, ArenaFn, Code, MemError};
use process::{
    check_under_mdwe, enter_mdwe, heap_mprotect, in_child, mapping_count, mappings, open_fds, page_size, permissions,
    resident_bytes, return_imm,
};
use std::collections::BTreeSet;

/// The pages holding the functions, each once (page-aligned addresses).
fn pages_of(fns: &[ArenaFn<'_>]) -> BTreeSet<usize> {
    let page = page_size();
    fns.iter().map(|f| f.as_ptr() as usize / page * page).collect()
}

/// Checks that each page holding one of `fns` is read+execute when `sealed` and read+write otherwise (so never
/// writable and executable at once); `what` says which step of the test this is.
fn assert_pages(fns: &[ArenaFn<'_>], sealed: bool, what: &str) {
    let maps = mappings();
    for page in pages_of(fns) {
        let (_, _, perms) = maps
            .iter()
            .find(|(start, end, _)| (*start..*end).contains(&page))
            .unwrap_or_else(|| panic!("{what}: page {page:#x} is not mapped"));
        let expected = if sealed { "r-xp" } else { "rw-p" };
        assert_eq!(perms, expected, "{what}: page {page:#x}");
    }
}

/// No mapping of the whole process is writable and executable.
fn assert_no_rwx(what: &str) {
    for (start, end, perms) in mappings() {
        assert!(!perms.starts_with("rwx"), "{what}: {start:#x}-{end:#x} is {perms}");
    }
}

#[test]
fn ten_thousand_functions_each_return_their_own_value_on_one_page_per_hundred() {
    let arena = Arena::new();
    let fns: Vec<ArenaFn<'_>> = (0..10_000)
        .map(|i| arena.load(&return_imm(i * 7 - 5000)).unwrap())
        .collect();
    arena.seal().unwrap();
    for (i, f) in (0..).zip(&fns) {
        assert_eq!(f.len(), 8);
        assert_eq!(f.bytes(), return_imm(i * 7 - 5000).bytes());
        // SAFETY: each function is `mov rax, imm32; ret`.
        assert_eq!(unsafe { f.call(&[]) }, i64::from(i * 7 - 5000), "function {i}");
    }
    assert_eq!(arena.len(), 10_000);
    // 16 bytes a function: 256 to a page of 4 KiB, and chunks grow to 64 KiB, so at most 16 pages are unused.
    let pages = arena.pages();
    assert!(pages <= 10_000 / 100, "{pages} pages for 10,000 functions");
    assert!(pages_of(&fns).len() <= pages);
    let mut addrs: Vec<usize> = fns.iter().map(|f| f.as_ptr() as usize).collect();
    addrs.sort_unstable();
    assert!(addrs.windows(2).all(|w| w[1] - w[0] >= 16), "functions overlap");
    assert!(addrs.iter().all(|a| a % 16 == 0), "every function is 16-byte aligned");
}

#[test]
fn a_hundred_small_functions_fit_on_one_page() {
    let arena = Arena::new();
    for i in 0..100 {
        // 20 bytes of code, 21 with its `ret`: 32 bytes a function.
        let mut bytes = return_imm(i).bytes()[..7].to_vec();
        bytes.extend_from_slice(&[0x90; 13]);
        arena.load(&Code::from_bytes(bytes)).unwrap();
    }
    assert_eq!(arena.pages(), 1);
}

#[test]
fn functions_are_writable_until_sealed_and_read_exec_after_never_both() {
    let arena = Arena::new();
    let first: Vec<_> = (0..3000).map(|i| arena.load(&return_imm(i)).unwrap()).collect();
    assert_pages(&first, false, "loaded, not sealed");
    assert_no_rwx("loaded, not sealed");
    arena.seal().unwrap();
    assert_pages(&first, true, "sealed");
    assert_no_rwx("sealed");
    arena.seal().unwrap();
    assert_pages(&first, true, "sealed twice");

    // Loading more makes the last, partly used page writable again, and leaves the other sealed pages alone.
    let more = arena.load(&return_imm(-1)).unwrap();
    let page = page_size();
    let last = more.as_ptr() as usize / page * page;
    let (on_last, before): (Vec<_>, Vec<_>) = first.iter().partition(|f| f.as_ptr() as usize / page * page == last);
    assert!(!on_last.is_empty(), "the new function shares a page with earlier ones");
    assert_pages(&before, true, "loaded after sealing: earlier pages");
    assert_pages(&on_last, false, "loaded after sealing: the shared page");
    assert_pages(&[more], false, "loaded after sealing: the new function");
    assert_no_rwx("loaded after sealing");

    // A call seals by itself.
    // SAFETY: the function is `mov rax, -1; ret`.
    assert_eq!(unsafe { more.call(&[]) }, -1);
    assert_pages(&first, true, "called after loading more");
    assert_pages(&[more], true, "called after loading more");
    let imm = i32::from_le_bytes(on_last[0].bytes()[3..7].try_into().unwrap());
    // SAFETY: as above, `mov rax, imm32; ret`.
    assert_eq!(unsafe { on_last[0].call(&[]) }, i64::from(imm));
}

#[test]
fn load_call_load_call_reseals_lazily_and_shares_pages() {
    let arena = Arena::new();
    let mut fns = Vec::new();
    for i in 0..500 {
        let f = arena.load(&return_imm(i)).unwrap();
        // SAFETY: the function is `mov rax, imm32; ret`.
        assert_eq!(unsafe { f.call(&[]) }, i64::from(i));
        fns.push(f);
    }
    // Every earlier function still runs: its page was sealed again.
    for (i, f) in (0..).zip(&fns) {
        // SAFETY: as above.
        assert_eq!(unsafe { f.call(&[]) }, i, "function {i}");
    }
    assert_pages(&fns, true, "after the calls");
    // 500 functions of 16 bytes: pages are shared, not one per function.
    assert!(arena.pages() <= 4, "{} pages", arena.pages());
}

#[test]
fn as_fn_seals_first_and_calls_other_signatures() {
    let arena = Arena::new();
    // addsd xmm0, xmm1; ret
    let add = arena
        .load(&Code::from_bytes(vec![0xf2, 0x0f, 0x58, 0xc1, 0xc3]))
        .unwrap();
    // lea eax, [rdi+rsi]; ret
    let lea = arena.load(&Code::from_bytes(vec![0x8d, 0x04, 0x37, 0xc3])).unwrap();
    assert_pages(&[add, lea], false, "before as_fn");
    // SAFETY: the code adds its two f64 arguments.
    let add_f64 = unsafe { add.as_fn::<extern "sysv64" fn(f64, f64) -> f64>() };
    assert_pages(&[add, lea], true, "after as_fn");
    assert_eq!(add_f64(0.5, 0.25), 0.75);
    // SAFETY: the code adds its two 32-bit arguments.
    let add_i32 = unsafe { lea.as_fn::<extern "sysv64" fn(i32, i32) -> i32>() };
    assert_eq!(add_i32(i32::MAX, 1), i32::MIN, "32-bit wrap, not 64-bit");
}

#[test]
fn call_passes_six_arguments_and_zero_for_missing_ones() {
    let arena = Arena::new();
    let movs: [[u8; 3]; 6] = [
        [0x48, 0x89, 0xf8], // mov rax, rdi
        [0x48, 0x89, 0xf0], // mov rax, rsi
        [0x48, 0x89, 0xd0], // mov rax, rdx
        [0x48, 0x89, 0xc8], // mov rax, rcx
        [0x4c, 0x89, 0xc0], // mov rax, r8
        [0x4c, 0x89, 0xc8], // mov rax, r9
    ];
    let fns: Vec<_> = movs
        .iter()
        .map(|m| arena.load(&Code::from_bytes(m.to_vec())).unwrap())
        .collect();
    for (i, f) in (1..).zip(&fns) {
        // SAFETY: the code returns one of its integer arguments; its `ret` comes from the fill after it.
        let (all, none) = unsafe { (f.call(&[11, 22, 33, 44, 55, 66]), f.call(&[])) };
        assert_eq!((all, none), (11 * i, 0), "argument {i}");
    }
}

#[test]
#[should_panic(expected = "ArenaFn::call passes at most 6 arguments, but 7 were given")]
fn call_with_more_than_six_arguments_panics() {
    let arena = Arena::new();
    let f = arena.load(&return_imm(42)).unwrap();
    assert_eq!(ArenaFn::MAX_ARGS, 6);
    // SAFETY: the code ignores its arguments; the call panics before running it anyway.
    unsafe { f.call(&[1, 2, 3, 4, 5, 6, 7]) };
}

#[test]
fn code_without_ret_returns_through_the_ret_after_it() {
    let arena = Arena::new();
    // 15 bytes of `mov rax, imm32` and nops, then 16: code that fills its slot up to the byte before the next.
    for len in [7, 15, 16, 31, 32] {
        let mut bytes = return_imm(len).bytes()[..7].to_vec();
        bytes.resize(len as usize, 0x90);
        let f = arena.load(&Code::from_bytes(bytes)).unwrap();
        let next = arena.load(&return_imm(-1)).unwrap();
        assert!(
            next.as_ptr() as usize > f.as_ptr() as usize + f.len(),
            "a ret after {len} bytes"
        );
        // SAFETY: `mov rax, len`, nops, and the `ret` the arena leaves after every function.
        assert_eq!(unsafe { f.call(&[]) }, i64::from(len));
    }
}

#[test]
fn empty_code_is_just_ret_and_takes_a_slot() {
    let arena = Arena::new();
    let empty = arena.load(&Code::from_bytes(vec![])).unwrap();
    let next = arena.load(&return_imm(7)).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.bytes(), &[] as &[u8]);
    // SAFETY: the arena's memory is readable while it lives.
    assert_eq!(unsafe { *empty.as_ptr() }, 0xc3);
    assert_ne!(empty.as_ptr(), next.as_ptr());
    // SAFETY: `ret` is a function without arguments or result; `next` is `mov rax, 7; ret`.
    unsafe {
        empty.as_fn::<extern "sysv64" fn()>()();
        assert_eq!(next.call(&[]), 7);
    }
}

#[test]
fn a_function_larger_than_a_chunk_gets_its_own_and_small_ones_keep_their_chunk() {
    let arena = Arena::new();
    let small = arena.load(&return_imm(1)).unwrap();
    // 200 KiB of `nop`, then `mov rax, 42; ret`.
    let mut bytes = vec![0x90; 200 << 10];
    bytes.extend_from_slice(return_imm(42).bytes());
    let large = arena.load(&Code::from_bytes(bytes)).unwrap();
    let after = arena.load(&return_imm(2)).unwrap();
    assert_eq!(
        after.as_ptr() as usize - small.as_ptr() as usize,
        16,
        "small functions stay together"
    );
    assert_eq!(arena.pages(), 1 + (200 << 10) / page_size() + 1);
    // SAFETY: the functions return 1, 42 (through the nops) and 2.
    unsafe {
        assert_eq!(large.call(&[]), 42);
        assert_eq!(small.call(&[]), 1);
        assert_eq!(after.call(&[]), 2);
    }
    assert_eq!(permissions(large.as_ptr().wrapping_add(large.len() - 1)), "r-xp");
    assert_no_rwx("large function");
}

#[test]
fn chunks_grow_from_one_page_to_sixteen() {
    let arena = Arena::new();
    let per_page = page_size() / 16;
    let mut pages = Vec::new();
    for i in 0..per_page * 31 {
        arena.load(&return_imm(i as i32)).unwrap();
        pages.push(arena.pages());
    }
    pages.dedup();
    assert_eq!(pages, [1, 3, 7, 15, 31]);
    arena.load(&return_imm(0)).unwrap();
    assert_eq!(arena.pages(), 47, "then 16 pages at a time");
}

#[test]
fn with_capacity_makes_one_chunk_of_that_size() {
    let arena = Arena::with_capacity(40_000 * 16);
    assert_eq!(arena.pages(), 0, "nothing allocated before the first load");
    let fns: Vec<_> = (0..40_000).map(|i| arena.load(&return_imm(i)).unwrap()).collect();
    assert_eq!(arena.pages(), (40_000 * 16_usize).div_ceil(page_size()));
    // SAFETY: each function is `mov rax, imm32; ret`.
    assert_eq!(unsafe { fns[39_999].call(&[]) }, 39_999);
}

#[test]
fn an_arena_too_large_for_the_address_space_is_an_error() {
    let arena = Arena::with_capacity(usize::MAX);
    let err = arena.load(&return_imm(1)).unwrap_err();
    assert!(matches!(err, MemError::TooLarge { .. }), "{err:?}");
    let arena = Arena::with_capacity(usize::MAX / 2);
    let err = arena.load(&return_imm(1)).unwrap_err();
    assert_eq!(
        err,
        MemError::Libc {
            call: "posix_memalign",
            errno: libc::ENOMEM
        }
    );
    assert_eq!((arena.len(), arena.pages()), (0, 0), "nothing loaded");
}

#[test]
fn out_of_memory_mappings_is_explained_with_the_arena_as_the_way_out() {
    let err = MemError::Libc {
        call: "mprotect",
        errno: libc::ENOMEM,
    };
    let text = err.to_string();
    for part in ["vm.max_map_count", "Code::load", "Arena", "(os error 12)"] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert!(
        text.starts_with("The libc call `mprotect` failed: ") && text.ends_with('.'),
        "{text}"
    );
}

#[test]
fn handles_are_copies_and_debug_shows_counts() {
    let arena = Arena::new();
    let f = arena.load(&return_imm(5)).unwrap();
    // This compiles only because `ArenaFn` is `Copy`: `f` is used again after `g` is made from it.
    let g = f;
    // SAFETY: `mov rax, 5; ret`.
    assert_eq!(unsafe { (f.call(&[]), g.call(&[])) }, (5, 5));
    let text = format!("{arena:?}");
    assert!(text.starts_with("Arena { functions: 1, chunks: 1,"), "{text}");
    assert!(format!("{g:?}").starts_with("ArenaFn { ptr: "));
}

/// Creating, filling and dropping 100,000 arenas must give their memory back: resident memory after them may not
/// exceed resident memory after the first 1,000 by more than a little noise. An arena that kept its page would add
/// 99,000 pages (about 390 MiB with 4 KiB pages). Measured in a forked child, which has one thread: resident
/// memory is the whole process's, and the tests running beside this one would grow it too.
#[test]
fn dropping_100_000_arenas_gives_the_memory_back() {
    fn child() -> i32 {
        let codes: Vec<Code> = (0..4).map(return_imm).collect();
        let run = |count: usize| {
            (0..count).all(|_| {
                let arena = Arena::new();
                let fns: Vec<_> = codes.iter().map(|c| arena.load(c).unwrap()).collect();
                // SAFETY: the code is `mov rax, 3; ret`.
                unsafe { fns[3].call(&[]) == 3 }
            })
        };
        if !run(1_000) {
            return 2;
        }
        let before = resident_bytes();
        if !run(99_000) {
            return 2;
        }
        let grown = resident_bytes().saturating_sub(before);
        eprintln!("resident memory grew by {} KiB over 99,000 arenas", grown >> 10);
        i32::from(grown > 2 << 20)
    }
    match in_child(child) {
        0 => {}
        1 => panic!("resident memory grew by more than 2 MiB over 99,000 arenas"),
        2 => panic!("a function returned the wrong value"),
        status => panic!("the child failed (status {status})"),
    }
}

/// What the MDWE child found, by its exit status from [`process::MDWE_FINDINGS_FROM`] (3) on.
const MDWE_FINDINGS: &[&str] = &[
    "posix_memalign failed",
    "under MDWE, mprotect(PROT_READ | PROT_EXEC) of heap memory succeeded: the fallback is not tested",
    "under MDWE, Arena::load failed",
    "under MDWE, Arena::seal failed",
    "under MDWE, a function returned the wrong value",
    "under MDWE, a function's memory is not a read+execute shared (memfd) view",
    "under MDWE, some mapping is writable and executable",
    "under MDWE, a function loaded after a call returned the wrong value",
    "under MDWE, dropping arenas left mappings or file descriptors behind",
];

/// In a forked child: turn on MDWE, prove heap memory cannot become executable, then load, call, load more and
/// drop arenas, which must use the memfd fallback. Returns 0, a status of [`enter_mdwe`], or 3 plus the index of
/// its finding in [`MDWE_FINDINGS`].
fn mdwe_child() -> i32 {
    if let Err(code) = enter_mdwe() {
        return code;
    }
    let Some(refused) = heap_mprotect(&[libc::PROT_READ | libc::PROT_EXEC]) else {
        return 3;
    };
    if refused[0] == 0 {
        return 4;
    }

    let arena = Arena::new();
    let Ok(fns) = (0..3000)
        .map(|i| arena.load(&return_imm(i)))
        .collect::<Result<Vec<_>, _>>()
    else {
        return 5;
    };
    if arena.seal().is_err() {
        return 6;
    }
    // SAFETY: each function is `mov rax, imm32; ret`.
    if !(0..).zip(&fns).all(|(i, f)| unsafe { f.call(&[]) } == i) {
        return 7;
    }
    if permissions(fns[0].as_ptr()) != "r-xs" || permissions(fns[2999].as_ptr()) != "r-xs" {
        return 8;
    }
    if mappings().iter().any(|(_, _, perms)| perms.starts_with("rwx")) {
        return 9;
    }
    // No sealing needed: the code shows in the executable view at once.
    let Ok(more) = arena.load(&return_imm(-3)) else {
        return 5;
    };
    // SAFETY: `mov rax, -3; ret`, and the first function again.
    if unsafe { (more.call(&[]), fns[0].call(&[])) } != (-3, 0) {
        return 10;
    }
    drop(arena);

    let rounds = |count: usize| {
        (0..count).all(|i| {
            let arena = Arena::new();
            // SAFETY: `mov rax, i; ret`.
            arena
                .load(&return_imm(i as i32))
                .is_ok_and(|f| unsafe { f.call(&[]) } == i as i64)
        })
    };
    if !rounds(100) {
        return 11;
    }
    let (fds_before, maps_before) = (open_fds(), mapping_count());
    if !rounds(1000) || open_fds() != fds_before || mapping_count() > maps_before + 16 {
        return 11;
    }
    0
}

#[test]
fn under_mdwe_the_arena_falls_back_to_a_memfd() {
    check_under_mdwe("the arena's memfd fallback", mdwe_child, MDWE_FINDINGS);
}
