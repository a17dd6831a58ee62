//! Executable memory: allocation, sealing, loading, calling, dumps, the fallback for systems that forbid executable
//! heap memory (MDWE), and that dropped functions give their memory back.
//!
//! Machine code here is written as bytes, with the assembly next to it (encoded by GNU as 2.40), so these tests
//! depend on nothing but the memory module. Machine code runs only on x86-64 Linux, so that is where they run.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

mod process;

use jit_core::{Code, JitFn, JitMemory, MemError};
use process::{
    check_under_mdwe, enter_mdwe, heap_mprotect, mapping_count, open_fds, page_size, permissions, resident_bytes,
};

/// `mov rax, 42; ret`
const RETURN_42: [u8; 8] = [0x48, 0xc7, 0xc0, 0x2a, 0x00, 0x00, 0x00, 0xc3];
/// `mov rax, 3`, the walk-through's seven bytes (the `ret` comes from the fill).
const MOV_RAX_3: [u8; 7] = [0x48, 0xc7, 0xc0, 0x03, 0x00, 0x00, 0x00];
/// Sixteen `ret`s as a dump line shows them.
const RET_LINE: &str = "c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3  ................";

fn code(bytes: &[u8]) -> Code {
    Code::from_bytes(bytes.to_vec())
}

/// Calls memory that holds a function without arguments returning `rax`.
///
/// # Safety
///
/// `ptr` must be such a function, executable.
unsafe fn call0(ptr: *const u8) -> i64 {
    // SAFETY: forwarded to the caller.
    let f = unsafe { std::mem::transmute::<*const u8, extern "sysv64" fn() -> i64>(ptr) };
    f()
}

#[test]
fn new_gives_whole_aligned_pages_of_ret_read_write_exec() {
    let m = JitMemory::new(2).unwrap();
    assert_eq!(m.page_size(), page_size());
    assert_eq!(m.len(), 2 * page_size());
    assert!(!m.is_empty());
    assert_eq!(m.as_ptr() as usize % page_size(), 0, "page-aligned");
    assert!(m.as_slice().iter().all(|&b| b == 0xc3), "every byte is ret");
    assert_eq!(permissions(m.as_ptr()), "rwxp");
    assert_eq!(permissions(m.as_ptr().wrapping_add(m.len() - 1)), "rwxp");
}

#[test]
fn bytes_written_by_index_run_as_the_walk_through_says() {
    let mut m = JitMemory::new(1).unwrap();
    for (i, &byte) in MOV_RAX_3.iter().enumerate() {
        m[i] = byte;
    }
    assert_eq!(m[7], 0xc3);
    assert_eq!(m.as_slice()[..8], [0x48, 0xc7, 0xc0, 0x03, 0x00, 0x00, 0x00, 0xc3]);
    // SAFETY: the memory holds `mov rax, 3; ret`.
    assert_eq!(unsafe { call0(m.as_ptr()) }, 3);
}

#[test]
#[should_panic(expected = "index out of bounds")]
fn indexing_past_the_end_panics_like_a_slice() {
    let m = JitMemory::new(1).unwrap();
    let _ = m[m.len()];
}

#[test]
fn zero_pages_is_an_error() {
    let err = JitMemory::new(0).unwrap_err();
    assert_eq!(err, MemError::ZeroPages);
    assert_eq!(
        err.to_string(),
        "Cannot allocate executable memory of zero pages; ask for at least one page."
    );
}

#[test]
fn a_size_that_overflows_is_an_error() {
    let err = JitMemory::new(usize::MAX).unwrap_err();
    assert_eq!(err, MemError::TooLarge { pages: usize::MAX });
    assert!(err.to_string().contains(&usize::MAX.to_string()), "{err}");
}

#[test]
fn a_failed_libc_call_is_an_error_naming_the_call_and_errno() {
    // Fits in usize, but no system has that much memory: posix_memalign refuses.
    let err = JitMemory::new(usize::MAX / page_size()).unwrap_err();
    assert_eq!(
        err,
        MemError::Libc {
            call: "posix_memalign",
            errno: libc::ENOMEM
        }
    );
    let text = err.to_string();
    assert!(text.starts_with("The libc call `posix_memalign` failed: "), "{text}");
    assert!(text.contains("(os error 12)"), "{text}");
    assert!(text.ends_with('.'), "{text}");
}

#[test]
fn every_error_message_is_a_sentence() {
    let errors = [
        MemError::Libc {
            call: "mprotect",
            errno: libc::EACCES,
        },
        MemError::ZeroPages,
        MemError::TooLarge { pages: 7 },
        MemError::ExecForbidden {
            errno: libc::EACCES,
            fallback: Box::new(MemError::Libc {
                call: "memfd_create",
                errno: libc::EMFILE,
            }),
        },
        MemError::UnsupportedHost,
    ];
    for err in errors {
        let text = err.to_string();
        assert!(text.starts_with(char::is_uppercase) && text.ends_with('.'), "{text}");
    }
    let forbidden = MemError::ExecForbidden {
        errno: libc::EACCES,
        fallback: Box::new(MemError::Libc {
            call: "memfd_create",
            errno: libc::EMFILE,
        }),
    };
    let text = forbidden.to_string();
    for part in [
        "PR_SET_MDWE",
        "execheap",
        "Permission denied (os error 13)",
        "`memfd_create`",
        "os error 24",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}

#[test]
fn seal_leaves_the_same_bytes_read_exec_only() {
    let mut m = JitMemory::new(1).unwrap();
    m.as_mut_slice()[..8].copy_from_slice(&RETURN_42);
    let (at, len) = (m.as_ptr(), m.len());
    let sealed = m.seal().unwrap();
    assert_eq!((sealed.as_ptr(), sealed.len()), (at, len));
    assert!(!sealed.is_empty());
    assert_eq!(
        sealed.as_slice()[..9],
        [0x48, 0xc7, 0xc0, 0x2a, 0x00, 0x00, 0x00, 0xc3, 0xc3]
    );
    assert_eq!(permissions(sealed.as_ptr()), "r-xp");
    // SAFETY: the memory holds `mov rax, 42; ret`.
    assert_eq!(unsafe { call0(sealed.as_ptr()) }, 42);
}

#[test]
fn load_copies_code_onto_fresh_sealed_pages_of_ret() {
    let code = code(&RETURN_42);
    let f = code.load().unwrap();
    assert_eq!(f.code(), &code);
    assert_eq!(f.as_ptr() as usize % page_size(), 0, "page-aligned");
    assert_eq!(permissions(f.as_ptr()), "r-xp");
    // SAFETY: the code is `mov rax, 42; ret`.
    assert_eq!(unsafe { f.call(&[]) }, 42);
    // SAFETY: the code's page is readable while `f` lives.
    let page = unsafe { std::slice::from_raw_parts(f.as_ptr(), page_size()) };
    assert_eq!(page[..8], RETURN_42);
    assert!(page[8..].iter().all(|&b| b == 0xc3));
}

#[test]
fn load_of_code_longer_than_a_page_takes_enough_pages() {
    // One page of `nop`, then `mov rax, 42; ret` on the second page.
    let mut bytes = vec![0x90; page_size()];
    bytes.extend_from_slice(&RETURN_42);
    let f = code(&bytes).load().unwrap();
    assert_eq!(permissions(f.as_ptr().wrapping_add(page_size())), "r-xp");
    // SAFETY: the code slides through the nops into `mov rax, 42; ret`.
    assert_eq!(unsafe { f.call(&[]) }, 42);
}

#[test]
fn load_of_empty_code_is_just_ret() {
    let f = code(&[]).load().unwrap();
    // SAFETY: the code's first byte is readable while `f` lives.
    assert_eq!(unsafe { *f.as_ptr() }, 0xc3);
    // SAFETY: `ret` is a function without arguments or result.
    unsafe { f.as_fn::<extern "sysv64" fn()>()() };
    assert_eq!(f.dump_offsets().to_string(), format!("+0x0000: {RET_LINE}\n"));
}

#[test]
fn call_passes_arguments_in_rdi_rsi_rdx_rcx_r8_r9_and_zero_for_missing_ones() {
    let movs: [[u8; 3]; 6] = [
        [0x48, 0x89, 0xf8], // mov rax, rdi
        [0x48, 0x89, 0xf0], // mov rax, rsi
        [0x48, 0x89, 0xd0], // mov rax, rdx
        [0x48, 0x89, 0xc8], // mov rax, rcx
        [0x4c, 0x89, 0xc0], // mov rax, r8
        [0x4c, 0x89, 0xc8], // mov rax, r9
    ];
    for (i, mov) in movs.iter().enumerate() {
        let f = code(&[mov.as_slice(), &[0xc3]].concat()).load().unwrap();
        // SAFETY: the code returns one of its six integer arguments.
        let (all, none) = unsafe { (f.call(&[11, 22, 33, 44, 55, 66]), f.call(&[])) };
        assert_eq!(all, 11 * (i as i64 + 1), "argument {i}");
        assert_eq!(none, 0, "missing argument {i}");
    }
}

#[test]
#[should_panic(expected = "JitFn::call passes at most 6 arguments, but 7 were given")]
fn call_with_more_than_six_arguments_panics() {
    let f = code(&RETURN_42).load().unwrap();
    assert_eq!(JitFn::MAX_ARGS, 6);
    // SAFETY: the code ignores its arguments; the call panics before running it anyway.
    unsafe { f.call(&[1, 2, 3, 4, 5, 6, 7]) };
}

#[test]
fn as_fn_calls_through_other_signatures() {
    // addsd xmm0, xmm1; ret
    let add = code(&[0xf2, 0x0f, 0x58, 0xc1, 0xc3]).load().unwrap();
    // SAFETY: the code adds its two f64 arguments.
    let add_f64 = unsafe { add.as_fn::<extern "sysv64" fn(f64, f64) -> f64>() };
    assert_eq!(add_f64(0.5, 0.25), 0.75);

    // lea eax, [rdi+rsi]; ret
    let lea = code(&[0x8d, 0x04, 0x37, 0xc3]).load().unwrap();
    // SAFETY: the code adds its two 32-bit arguments.
    let add_i32 = unsafe { lea.as_fn::<extern "sysv64" fn(i32, i32) -> i32>() };
    assert_eq!(add_i32(-50, 8), -42);
    assert_eq!(add_i32(i32::MAX, 1), i32::MIN, "32-bit wrap, not 64-bit");

    // mov rax, [rdi]; ret
    let load = code(&[0x48, 0x8b, 0x07, 0xc3]).load().unwrap();
    let value = 0x1122_3344_5566_7788_u64;
    // SAFETY: the code reads the u64 its argument points at.
    let read = unsafe { load.as_fn::<extern "sysv64" fn(*const u64) -> u64>() };
    assert_eq!(read(&value), value);
}

#[test]
fn jit_fn_dump_offsets_shows_the_code_lines_exactly() {
    // 17 bytes, including every ASCII edge: space, '~', DEL and a high byte.
    let bytes = [
        0x48, 0xc7, 0xc0, 0x03, 0x00, 0x00, 0x00, 0x20, 0x7e, 0x7f, 0x80, 0x41, 0x7a, 0x30, 0x1f, 0x21, 0xc3,
    ];
    let f = code(&bytes).load().unwrap();
    assert_eq!(
        f.dump_offsets().to_string(),
        "+0x0000: 48 c7 c0 03 00 00 00 20 7e 7f 80 41 7a 30 1f 21  H...... ~..Az0.!\n\
         +0x0010: c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3 c3  ................\n"
    );
}

#[test]
fn jit_fn_dump_shows_real_addresses() {
    let f = code(&RETURN_42).load().unwrap();
    assert_eq!(
        f.dump().to_string(),
        format!(
            "{:#x}: 48 c7 c0 2a 00 00 00 c3 c3 c3 c3 c3 c3 c3 c3 c3  H..*............\n",
            f.as_ptr() as usize
        )
    );
}

#[test]
fn memory_dump_offsets_collapses_the_ret_fill_and_shows_the_end() {
    let mut m = JitMemory::new(1).unwrap();
    m.as_mut_slice()[..7].copy_from_slice(&MOV_RAX_3);
    let last = m.len() - 16;
    assert_eq!(
        m.dump_offsets().to_string(),
        format!(
            "+0x0000: 48 c7 c0 03 00 00 00 c3 c3 c3 c3 c3 c3 c3 c3 c3  H...............\n\
             +0x0010: {RET_LINE}\n\
             *\n\
             +0x{last:04x}: {RET_LINE}\n"
        )
    );
}

#[test]
fn memory_dump_offsets_pads_every_offset_to_one_width() {
    let m = JitMemory::new(17).unwrap();
    let text = m.dump_offsets().to_string();
    let last = m.len() - 16;
    assert!(last > 0xffff, "needs more than four hex digits");
    assert_eq!(
        text,
        format!("+0x{:05x}: {RET_LINE}\n*\n+0x{last:05x}: {RET_LINE}\n", 0)
    );
}

#[test]
fn memory_dump_uses_the_address_code_runs_from() {
    let m = JitMemory::new(1).unwrap();
    let text = m.dump().to_string();
    let first = text.lines().next().unwrap();
    assert_eq!(first, format!("{:#x}: {RET_LINE}", m.as_ptr() as usize));
    assert_eq!(text.lines().count(), 3);
}

#[test]
fn memory_types_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<JitMemory>();
    send_sync::<jit_core::SealedMemory>();
    send_sync::<JitFn>();
    let f = code(&RETURN_42).load().unwrap();
    // SAFETY: the code is `mov rax, 42; ret`.
    let got = std::thread::spawn(move || unsafe { f.call(&[]) }).join().unwrap();
    assert_eq!(got, 42);
}

/// Loading and dropping 100,000 functions must give their memory back: resident memory after them may not exceed
/// resident memory after the first 1,000 by more than a few pages of noise. A `JitFn` that kept its page would add
/// 99,000 pages (about 390 MiB with 4 KiB pages); one that kept just the copy of its code, a few MiB.
#[test]
fn loading_and_dropping_100_000_functions_gives_the_memory_back() {
    let code = code(&RETURN_42);
    let run = |count: usize| {
        for i in 0..count {
            let f = code.load().unwrap();
            if i % 1000 == 0 {
                // SAFETY: the code is `mov rax, 42; ret`.
                assert_eq!(unsafe { f.call(&[]) }, 42);
            }
        }
    };
    run(1_000);
    let before = resident_bytes();
    run(99_000);
    let after = resident_bytes();
    let allowed = 2 << 20;
    assert!(
        after <= before + allowed,
        "resident memory grew by {} KiB over 99,000 loads (allowed: {} KiB)",
        after.saturating_sub(before) >> 10,
        allowed >> 10
    );
}

/// What the MDWE child found, by its exit status from [`process::MDWE_FINDINGS_FROM`] (3) on.
const MDWE_FINDINGS: &[&str] = &[
    "posix_memalign failed",
    "under MDWE, mprotect(PROT_READ | PROT_WRITE | PROT_EXEC) of heap memory succeeded: the fallback is not tested",
    "under MDWE, mprotect(PROT_EXEC) of heap memory failed with an errno other than EACCES",
    "under MDWE, Code::load failed",
    "under MDWE, the loaded code returned the wrong value",
    "under MDWE, the loaded code's memory is not read+execute only",
    "under MDWE, JitMemory::new failed",
    "under MDWE, JitMemory did not use two views (as_ptr == as_mut_ptr)",
    "under MDWE, code written into JitMemory by index returned the wrong value",
    "under MDWE, JitMemory::seal failed or the sealed code returned the wrong value",
    "under MDWE, loading and dropping functions left mappings or file descriptors behind",
    "under MDWE with no file descriptors left, the error was not ExecForbidden with memfd_create's EMFILE",
];

/// In a forked child: turn on MDWE, prove the direct path (heap memory + `mprotect`) is refused, then load, write,
/// seal and call code through the memfd fallback. Returns 0, a status of [`enter_mdwe`], or 3 plus the index of its
/// finding in [`MDWE_FINDINGS`].
fn mdwe_child() -> i32 {
    if let Err(code) = enter_mdwe() {
        return code;
    }

    // The direct path: heap memory cannot become executable any more.
    let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
    let Some(refused) = heap_mprotect(&[rwx, libc::PROT_READ | libc::PROT_EXEC]) else {
        return 3;
    };
    if refused.contains(&0) {
        return 4;
    }
    if refused != [libc::EACCES, libc::EACCES] {
        return 5;
    }

    // Code::load falls back to a memfd.
    let Ok(f) = code(&RETURN_42).load() else {
        return 6;
    };
    // SAFETY: the code is `mov rax, 42; ret`.
    if unsafe { f.call(&[]) } != 42 {
        return 7;
    }
    if permissions(f.as_ptr()) != "r-xs" {
        return 8;
    }
    drop(f);

    // JitMemory writes through one view and runs from the other.
    let Ok(mut m) = JitMemory::new(1) else {
        return 9;
    };
    if m.as_ptr() == m.as_mut_ptr().cast_const() {
        return 10;
    }
    for (i, &byte) in MOV_RAX_3.iter().enumerate() {
        m[i] = byte;
    }
    // SAFETY: the memory holds `mov rax, 3; ret`.
    if unsafe { call0(m.as_ptr()) } != 3 {
        return 11;
    }
    // SAFETY: the sealed memory holds `mov rax, 3; ret`.
    if !m.seal().is_ok_and(|sealed| unsafe { call0(sealed.as_ptr()) } == 3) {
        return 12;
    }

    // The fallback gives its mappings and descriptors back: 1,000 rounds that kept them would leave 2,000 more
    // mappings (or descriptors); malloc may split its own arena into a few more, hence the small allowance.
    let code = code(&RETURN_42);
    let rounds =
        |count: usize| (0..count).all(|_| code.load().is_ok() && JitMemory::new(1).and_then(JitMemory::seal).is_ok());
    if !rounds(100) {
        return 13;
    }
    let (fds_before, maps_before) = (open_fds(), mapping_count());
    if !rounds(1000) || open_fds() != fds_before || mapping_count() > maps_before + 16 {
        return 13;
    }

    // With no file descriptors left, the fallback fails too, and the error says why and what to do.
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the limits from a valid struct; it only restricts this (child) process.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &none) } != 0 {
        return 14;
    }
    let forbidden = MemError::ExecForbidden {
        errno: libc::EACCES,
        fallback: Box::new(MemError::Libc {
            call: "memfd_create",
            errno: libc::EMFILE,
        }),
    };
    if JitMemory::new(1).err() != Some(forbidden.clone()) || code.load().err() != Some(forbidden) {
        return 14;
    }
    0
}

#[test]
fn under_mdwe_heap_memory_cannot_execute_and_memory_falls_back_to_a_memfd() {
    check_under_mdwe("the memfd fallback", mdwe_child, MDWE_FINDINGS);
}
