//! The scratch: code written over the last code, each call returning its own value; the `ret` fill after shorter
//! code hiding what longer code left; growth to more pages; the guard page after the view; W^X (read from
//! `/proc/self/maps`); no descriptors or mappings left behind; the same under MDWE.
//!
//! Machine code here is written as bytes, with the assembly next to it (encoded by GNU as 2.40). Machine code runs
//! only on x86-64 Linux, so that is where these tests run.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

mod process;

use jit_core::{Code, Scratch};
use process::{
    check_under_mdwe, enter_mdwe, heap_mprotect, in_child, mapping_count, mappings, open_fds, page_size, permissions,
    return_imm,
};

/// `n` bytes of code: `mov rax, imm32` then nops (`0x90`) up to `n`, without a `ret`: it returns through the
/// fill after it.
fn imm_then_nops(imm: i32, n: usize) -> Code {
    let mut bytes = return_imm(imm).bytes()[..7].to_vec();
    bytes.resize(n, 0x90);
    Code::from_bytes(bytes)
}

#[test]
fn each_load_replaces_the_last_and_returns_its_own_value() {
    let mut scratch = Scratch::new();
    let mut first = None;
    for i in 0..2000 {
        let f = scratch.load(&return_imm(i)).unwrap();
        first.get_or_insert(f.as_ptr() as usize);
        // Same size, same view: the code is where the last code was.
        assert_eq!(f.as_ptr() as usize, first.unwrap());
        assert_eq!((f.len(), f.mapped_len()), (8, page_size()));
        // SAFETY: `mov rax, i; ret`.
        assert_eq!(unsafe { f.call(&[]) }, i64::from(i));
    }
}

#[test]
fn shorter_code_after_longer_code_runs_into_ret_not_into_the_old_code() {
    let mut scratch = Scratch::new();
    // mov rax, 7; then 100 bytes of `mov rax, 9`-and-nops that must not run after the shorter code.
    let long = imm_then_nops(9, 120);
    // SAFETY: `mov rax, 9` then nops, returning through the fill.
    assert_eq!(unsafe { scratch.load(&long).unwrap().call(&[]) }, 9);
    // Only `mov rax, 7` (7 bytes, no ret): if the old bytes were still there, the `nop`s would run into the fill
    // all the same, so check the bytes themselves too.
    let short = Code::from_bytes(return_imm(7).bytes()[..7].to_vec());
    let f = scratch.load(&short).unwrap();
    // SAFETY: `mov rax, 7`, then the fill's `ret`.
    assert_eq!(unsafe { f.call(&[]) }, 7);
    // SAFETY: the view is `mapped_len` readable bytes while `f` lives.
    let view = unsafe { std::slice::from_raw_parts(f.as_ptr(), f.mapped_len()) };
    assert_eq!(&view[..7], short.bytes());
    assert!(view[7..].iter().all(|&b| b == 0xc3), "the old code shows after the new");
}

#[test]
fn code_longer_than_a_page_gets_a_view_of_more_pages_and_smaller_code_its_own_again() {
    let page = page_size();
    let mut scratch = Scratch::new();
    let one = scratch.load(&return_imm(1)).unwrap().as_ptr() as usize;
    let f = scratch.load(&imm_then_nops(2, page + 100)).unwrap();
    assert_eq!(f.mapped_len(), 2 * page);
    // SAFETY: `mov rax, 2`, nops over a page boundary, then the fill.
    assert_eq!(unsafe { f.call(&[]) }, 2);
    // Pages as `Code::load` takes them: the fewest that hold the code (here with one `ret` at the very end).
    let g = scratch.load(&imm_then_nops(3, 3 * page - 1)).unwrap();
    assert_eq!(g.mapped_len(), 3 * page);
    // SAFETY: as above.
    assert_eq!(unsafe { g.call(&[]) }, 3);
    let h = scratch.load(&return_imm(4)).unwrap();
    assert_eq!(h.as_ptr() as usize, one, "back to the one-page view");
    // SAFETY: `mov rax, 4; ret`.
    assert_eq!(unsafe { h.call(&[]) }, 4);
}

#[test]
fn no_page_is_writable_and_executable_and_the_view_is_read_execute() {
    let mut scratch = Scratch::new();
    let f = scratch.load(&return_imm(5)).unwrap();
    assert_eq!(permissions(f.as_ptr()), "r-xs");
    let after = f.as_ptr().wrapping_add(f.mapped_len());
    assert_eq!(permissions(after), "---p", "the page after the view is a guard");
    assert!(mappings().iter().all(|(_, _, perms)| !perms.starts_with("rwx")));
}

/// In a child: code that jumps past the end of its view lands on the guard page and faults (SIGSEGV), rather
/// than running whatever else is mapped there.
fn jump_past_the_view() -> i32 {
    let mut scratch = Scratch::new();
    // jmp rel32 to the first byte after the one-page view: e9 + (page - 5).
    let mut bytes = vec![0xe9];
    bytes.extend_from_slice(&i32::try_from(page_size() - 5).unwrap().to_le_bytes());
    let f = scratch.load(&Code::from_bytes(bytes)).unwrap();
    // SAFETY: deliberately faults; the child dies of SIGSEGV, which the parent checks.
    unsafe { f.call(&[]) };
    0
}

#[test]
fn jumping_past_the_view_faults_on_the_guard_page() {
    // SAFETY: the child only runs `jump_past_the_view` and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let status = jump_past_the_view();
        // SAFETY: leaves the child at once.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSEGV,
        "status {status:#x}: the jump past the view did not fault"
    );
}

/// In a child (other tests' threads map memory and open files too): 500 scratches made, used and dropped leave
/// no descriptors or mappings behind.
fn drop_child() -> i32 {
    let round = || {
        let mut scratch = Scratch::new();
        // SAFETY: `mov rax, i; ret` and nops, returning through the fill.
        unsafe {
            assert_eq!(scratch.load(&return_imm(1)).unwrap().call(&[]), 1);
            assert_eq!(scratch.load(&imm_then_nops(2, 5000)).unwrap().call(&[]), 2);
        }
    };
    round();
    let (fds_before, maps_before) = (open_fds(), mapping_count());
    for _ in 0..500 {
        round();
    }
    match (open_fds() <= fds_before, mapping_count() <= maps_before + 8) {
        (true, true) => 0,
        (false, _) => 1,
        (_, false) => 2,
    }
}

#[test]
fn dropping_scratches_gives_back_descriptors_and_mappings() {
    match in_child(drop_child) {
        0 => {}
        1 => panic!("descriptors left behind"),
        2 => panic!("mappings left behind"),
        status => panic!("the child failed (status {status})"),
    }
}

/// What the MDWE child found, by its exit status from [`process::MDWE_FINDINGS_FROM`] (3) on.
const MDWE_FINDINGS: &[&str] = &[
    "under MDWE, Scratch::load failed",
    "under MDWE, a function returned the wrong value",
    "under MDWE, the code does not run from a read+execute shared view",
    "posix_memalign failed",
    "under MDWE, heap memory could still be made executable: MDWE is not in force",
];

/// In a child under MDWE: the scratch still loads and runs code, from read+execute views only. Returns 0, a status
/// of [`enter_mdwe`], or 3 plus the index of its finding in [`MDWE_FINDINGS`].
fn mdwe_child() -> i32 {
    if let Err(code) = enter_mdwe() {
        return code;
    }
    match heap_mprotect(&[libc::PROT_READ | libc::PROT_EXEC]) {
        None => return 6,
        Some(refused) if refused[0] == 0 => return 7,
        Some(_) => {}
    }
    let mut scratch = Scratch::new();
    for i in 0..100 {
        let Ok(f) = scratch.load(&return_imm(i)) else {
            return 3;
        };
        // SAFETY: `mov rax, i; ret`.
        if unsafe { f.call(&[]) } != i64::from(i) {
            return 4;
        }
        if permissions(f.as_ptr()) != "r-xs" {
            return 5;
        }
    }
    0
}

#[test]
fn under_mdwe_the_scratch_works_unchanged() {
    check_under_mdwe("the scratch", mdwe_child, MDWE_FINDINGS);
}
