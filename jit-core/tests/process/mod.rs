//! What the memory tests need of the process: the page size, `errno`, the mappings in `/proc/self/maps`, counts of
//! resident memory, descriptors and mappings, and running a check in a forked child, with or without MDWE.

/// `mov rax, imm32` (sign-extended) then `ret`: 8 bytes.
#[allow(
    dead_code,
    reason = "used by the arena and scratch tests, not by every test that uses this module"
)]
pub fn return_imm(imm: i32) -> jit_core::Code {
    let mut bytes = vec![0x48, 0xc7, 0xc0];
    bytes.extend_from_slice(&imm.to_le_bytes());
    bytes.push(0xc3);
    jit_core::Code::from_bytes(bytes)
}

/// The system's page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).expect("sysconf(_SC_PAGESIZE)")
}

/// The `errno` the last libc call left.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The mappings of this process: `(start, end, permissions)`, from `/proc/self/maps`.
pub fn mappings() -> Vec<(usize, usize, String)> {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .map(|line| {
            let mut fields = line.split_whitespace();
            let (range, perms) = (fields.next().unwrap(), fields.next().unwrap());
            let (start, end) = range.split_once('-').unwrap();
            let start = usize::from_str_radix(start, 16).unwrap();
            let end = usize::from_str_radix(end, 16).unwrap();
            (start, end, perms.to_string())
        })
        .collect()
}

/// The number of mappings of this process, from `/proc/self/maps`.
pub fn mapping_count() -> usize {
    mappings().len()
}

/// The number of file descriptors open in this process, from `/proc/self/fd` (0 if it cannot be read); the count
/// includes the descriptor that reads the directory.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(Iterator::count).unwrap_or(0)
}

/// The bytes of memory resident in this process, from `/proc/self/statm`.
#[allow(
    dead_code,
    reason = "used by the arena and mem tests, not by every test that uses this module"
)]
pub fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages in /proc/self/statm");
    pages * page_size()
}

/// The permissions (`r-xp` and the like) of the mapping that holds `addr`.
pub fn permissions(addr: *const u8) -> String {
    let addr = addr as usize;
    let found = mappings()
        .into_iter()
        .find(|(start, end, _)| (*start..*end).contains(&addr));
    found.unwrap_or_else(|| panic!("{addr:#x} is not mapped")).2
}

/// What [`in_child`] returns when the child panicked.
pub const CHILD_PANICKED: i32 = 101;

/// Runs `child` in a forked child and returns its exit status ([`CHILD_PANICKED`] if it panicked); a crash of
/// the child fails the test.
pub fn in_child(child: fn() -> i32) -> i32 {
    // SAFETY: the child runs `child` and leaves with `_exit`, so it never returns into the test harness; it calls
    // malloc, which glibc keeps usable after fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let outcome = std::panic::catch_unwind(child).unwrap_or(CHILD_PANICKED);
        // SAFETY: leaves the child at once, without running the parent's exit handlers.
        unsafe { libc::_exit(outcome) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child and `status` a valid place for its status.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid failed: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status),
        "the child did not exit normally (status {status:#x}): it crashed"
    );
    libc::WEXITSTATUS(status)
}

/// Turns on MDWE (`prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)`) for this process, which cannot turn it off
/// again: run it in a child. `Err(1)` when the kernel does not know MDWE (EINVAL), `Err(2)` on another failure.
pub fn enter_mdwe() -> Result<(), i32> {
    // SAFETY: prctl with integer arguments; MDWE only restricts this process.
    match unsafe { libc::prctl(libc::PR_SET_MDWE, libc::PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) } {
        0 => Ok(()),
        _ if errno() == libc::EINVAL => Err(1),
        _ => Err(2),
    }
}

/// The first exit status a check under MDWE returns for a finding of its own, after 0 (passed) and the two of
/// [`enter_mdwe`].
pub const MDWE_FINDINGS_FROM: i32 = 3;

/// Runs `child`, a check of `what` that starts with [`enter_mdwe`], in a forked child, and passes or fails the
/// test by its exit status: 0 passes; 1, a kernel without MDWE, passes with a note that `what` was not tested
/// under it; 2 (another `prctl` failure) and [`CHILD_PANICKED`] fail with their own messages; and a status `s`
/// from [`MDWE_FINDINGS_FROM`] on fails with `findings[s - MDWE_FINDINGS_FROM]`.
pub fn check_under_mdwe(what: &str, child: fn() -> i32, findings: &[&str]) {
    let status = in_child(child);
    let finding = status
        .checked_sub(MDWE_FINDINGS_FROM)
        .and_then(|s| usize::try_from(s).ok())
        .and_then(|s| findings.get(s));
    match (status, finding) {
        (0, _) => {}
        (1, _) => {
            eprintln!("note: this kernel does not know prctl(PR_SET_MDWE) (EINVAL); {what} was not tested under MDWE")
        }
        (2, _) => panic!("prctl(PR_SET_MDWE) failed with an errno other than EINVAL"),
        (CHILD_PANICKED, _) => panic!("the child checking {what} under MDWE panicked"),
        (_, Some(finding)) => panic!("{finding}"),
        (status, None) => panic!("the child checking {what} under MDWE exited with the unknown status {status}"),
    }
}

/// Asks `mprotect` for each protection of `prots` in turn on a fresh page of heap memory, and returns what each
/// call left in `errno` (0 where it succeeded); `None` if no page could be allocated.
pub fn heap_mprotect(prots: &[libc::c_int]) -> Option<Vec<i32>> {
    let size = page_size();
    let mut page = std::ptr::null_mut();
    // SAFETY: `page` is a valid place for the result; the page size is a valid alignment.
    if unsafe { libc::posix_memalign(&mut page, size, size) } != 0 {
        return None;
    }
    let results = prots
        .iter()
        .map(|&prot| {
            // SAFETY: `page` is a whole page of our own heap memory.
            match unsafe { libc::mprotect(page, size, prot) } {
                0 => 0,
                _ => errno(),
            }
        })
        .collect();
    // SAFETY: the page is ours; read+write again (it may be read+execute now), malloc may have it back, and if
    // it cannot be made read+write it is leaked rather than freed.
    unsafe {
        if libc::mprotect(page, size, libc::PROT_READ | libc::PROT_WRITE) == 0 {
            libc::free(page);
        }
    }
    Some(results)
}
